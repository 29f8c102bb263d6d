/*
 * labels: names that pin versions of records (history.h) for the programs
 * that use them, while the records keep changing.  A label NAME maps
 * records to versions: "production" may hold prompts/review.yaml at
 * version 7 and agents/reviewer.yaml at version 3.  Used by the label
 * command, the .labels view (snaps.h entry points) and history's pruning
 * (labelled versions are never pruned) and renames (a label follows its
 * record).  Uses store.h and history.h.  No FUSE.
 *
 *   table   key                        value
 *   ------  -------------------------  ----------------------------------
 *   labels  NAME "\0" PATH             rid, version, time it was set
 *   labels  "\0" txnid NAME "\0" PATH  the change (version, 0: removed)
 *                                      and its time, for cccfs log
 *
 * Names are like file names: 1 to 255 bytes, no '/', not "." or "..".
 */
#ifndef CCCFS_FS_LABELS_H
#define CCCFS_FS_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cccfs/kv.h>

#include "store.h"

#define LABELS_TABLE "labels"

struct label {
	const char *name, *path;
	uint64_t rid, version;
	int64_t time; /* when it was set, ns */
};

/*
 * Label version v (0: the live version) of the record at path NAME, in s.
 * *set gets the version.  -ENOENT when the record has no such version
 * (or, for 0, is deleted), -EINVAL for a bad name.
 */
int label_set(struct stx *s, const char *name, const char *path, uint64_t v,
              uint64_t *set);
/* Take label name off path, or off every record (path NULL).  *n gets
 * how many; -ENOENT when none. */
int label_rm(struct stx *s, const char *name, const char *path, uint64_t *n);
/* Every label (name NULL) or those of one name, by name then path. */
int label_each(struct stx *s, const char *name,
               int (*fn)(void *ctx, const struct label *l), void *ctx);
/* The label changes of the store, oldest first, for cccfs log: version
 * 0 is a removal. */
int label_events(struct stx *s,
                 int (*fn)(void *ctx, uint64_t txnid, const struct label *l),
                 void *ctx);
/* The record at from is now at to: its labels follow it. */
int label_moved(struct stx *s, const char *from, const char *to);

/* ---- the .labels view ---------------------------------------------------- */

#define LABELDIR ".labels"

/* True for .labels and the paths below it; *rest (unless NULL) gets the
 * part below it, NULL for .labels itself. */
bool lv_is(const char *path, const char **rest);
int lv_join(char *buf, size_t n, const char *parent, const char *name);
int lv_node(kv_env *env, const char *path, struct node *n);
int lv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx);
int lv_content(kv_env *env, const char *path, void **data, size_t *len);

#endif
