/*
 * dbfile.h: damaging a database file on purpose, for recovery tests.
 */
#ifndef CCCFS_TESTS_DBFILE_H
#define CCCFS_TESTS_DBFILE_H

#include <stdint.h>

/* The commit log run meta slot 0 or 1 of the database at path names:
 * returns 1 and sets *first and *npages, or 0 if the slot is not a meta
 * page or names no log. */
int dbfile_log_run(const char *path, unsigned slot, uint64_t *first,
                   uint64_t *npages);

/* Zero the commit log run that either meta slot of the database at path
 * names (kv/format.h), as if none of its records had reached the disk.
 * Returns the pages zeroed, or -1 on an I/O error. */
long dbfile_wipe_log(const char *path);

#endif
