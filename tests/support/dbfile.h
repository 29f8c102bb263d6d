/*
 * dbfile.h: damaging a database file on purpose, for recovery tests.
 */
#ifndef CCCFS_TESTS_DBFILE_H
#define CCCFS_TESTS_DBFILE_H

#include <stdint.h>

/* Zero the commit log run that either meta slot of the database at path
 * names (kv/format.h), as if none of its records had reached the disk.
 * Returns the pages zeroed, or -1 on an I/O error. */
long dbfile_wipe_log(const char *path);

#endif
