/*
 * dbfile.h: damaging a database file on purpose, for recovery and check
 * tests.  Page layout from kv/format.h.
 */
#ifndef CCCFS_TESTS_DBFILE_H
#define CCCFS_TESTS_DBFILE_H

#include <stddef.h>
#include <stdint.h>

#include <cccfs/kv.h>

/* The commit log run meta slot 0 or 1 of the database at path names:
 * returns 1 and sets *first and *npages, or 0 if the slot is not a meta
 * page or names no log. */
int dbfile_log_run(const char *path, unsigned slot, uint64_t *first,
                   uint64_t *npages);

/* Zero the commit log run that either meta slot of the database at path
 * names (kv/format.h), as if none of its records had reached the disk.
 * Returns the pages zeroed, or -1 on an I/O error. */
long dbfile_wipe_log(const char *path);

/* A child of the root page of table's tree, in the newest meta slot of
 * the database at path: child i of the root (which must be a branch page),
 * its page type (format.h: PT_BRANCH, PT_LEAF) and the keys its parent
 * gives it, lo <= key < hi, each copied into a buffer of KV_MAX_KEY bytes
 * with its length (0 and an empty key for an open bound: child 0 has no
 * lower bound, the last child no upper one).  Returns 1, or 0 when there
 * is no such table or child or the file cannot be read. */
struct dbfile_child {
	uint64_t pgno;
	unsigned type;
	unsigned children; /* of the root */
	char lo[KV_MAX_KEY], hi[KV_MAX_KEY];
	size_t lo_len, hi_len;
	int has_lo, has_hi;
};
int dbfile_root_child(const char *path, const char *table, unsigned i,
                      struct dbfile_child *out);

/* The root page of table's tree in the newest meta slot: 1 and *pgno, or
 * 0. */
int dbfile_table_root(const char *path, const char *table, uint64_t *pgno);

/* Flip the bits of byte off of page pgno (its checksum then fails); zero
 * the whole page.  0, or -1 on an I/O error. */
int dbfile_flip_byte(const char *path, uint64_t pgno, unsigned off);
int dbfile_zero_page(const char *path, uint64_t pgno);

#endif
