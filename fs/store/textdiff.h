/*
 * textdiff: a line diff of two texts, for `cccfs log` (lines added and
 * removed) and `cccfs diff --patch` (a unified diff, as diff -u prints
 * it).  Pure code: no FUSE, no kv calls.
 *
 * The edit script is Myers' shortest one after the common head and tail
 * are cut off.  Past TD_MAX_D differences (texts that share little) the
 * middle is reported as removed and added whole: still a correct diff,
 * only not the shortest, in bounded time and memory.
 */
#ifndef CCCFS_FS_TEXTDIFF_H
#define CCCFS_FS_TEXTDIFF_H

#include <stddef.h>
#include <stdio.h>

#define TD_MAX_D 2000

struct td_stat {
	size_t added, removed;
};

/*
 * Compare a (alen bytes) with b line by line into *st.  With out, also
 * print a unified diff with 3 lines of context under the headers
 * "--- label_a" and "+++ label_b" (nothing when the texts are equal).
 * 0 or -ENOMEM.
 */
int td_diff(const char *a, size_t alen, const char *b, size_t blen,
            struct td_stat *st, FILE *out, const char *label_a,
            const char *label_b);

#endif
