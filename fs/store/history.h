/*
 * history: every saved content of every record, kept in the same commit
 * as the save.  Used by store.c (the hooks below, called as contents
 * change), snaps.c (the .history views), the daemon's schedule (pruning)
 * and the log and restore commands; uses store.h and pathmap.  No FUSE.
 *
 * A record has an id (its rid, given at its first version and never
 * reused) that follows it through renames, and versions 1, 2, 3 ...  The
 * newest version is the live content, kept once in its kind's table as
 * always; the older ones are copies in the history table, one per
 * version.  Two tables:
 *
 *   table          key                      value
 *   -------------  -----------------------  ------------------------------
 *   history_index  path                     the record's slot: rid, the
 *                                           live version's number, time
 *                                           and txn, and whether the
 *                                           record was deleted
 *   history_index  "\0"                     the next rid
 *   history        rid, version             an older version: its time,
 *                  (8 + 8 bytes, big-end.)  txn, size, mode and owner,
 *                                           then the content
 *   history        rid, version, time       a rename after that version
 *                  (8 + 8 + 8 bytes)        (from, to)
 *
 * So one save costs two puts besides its own: the replaced content into
 * history (about its size) and the slot.  A deleted record keeps its
 * slot, marked deleted, under its last path; creating a record there again
 * continues its history, and the deletion is then not kept as a version
 * (so an editor that saves by moving the old file away and writing a new
 * one makes one version, not two); a record moved there instead takes
 * the path, and the deleted one's history moves aside to
 * NAME.deleted-RID.yaml.  Creating an empty record makes no
 * version: its first version is its first content.  A record that
 * predates history (no slot) gets one at its first change, with its
 * content then as version 1.
 */
#ifndef CCCFS_FS_HISTORY_H
#define CCCFS_FS_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cccfs/kv.h>

#include "store.h"

#define HIST_TABLE "history"
#define HIST_INDEX "history_index"

/* Bytes of a version file's name: "NNNNNN-YYYY-MM-DDTHHMMSSZ.yaml", the
 * version with at least 6 digits. */
#define HIST_NAME_MAX 48

/* ---- hooks: called by store.c inside the write transaction ------------ */

/* Whether this process records history (on unless turned off, as a
 * daemon mounted with -o history_keep=off does).  When off, the hooks
 * below do nothing; what history there is stays readable. */
void hist_set_recording(bool on);

/*
 * The record at path changes from old (NULL: there was none) to new.
 * from: the path it was renamed from when a rename brought new, or NULL.
 * Nothing happens when the bytes are the same.
 */
int hist_put(struct stx *s, const char *path, const kv_val *old, kv_val new,
             const char *from);
/* The record at path, whose content was old, is deleted.  to: the path it
 * was renamed to when that is why (a name that has no history), or NULL. */
int hist_remove(struct stx *s, const char *path, kv_val old, const char *to);

/* A record's history moves with it from one path to another whose old
 * history (if any) was detached first.  One per record of a renamed
 * subtree, in two passes for an exchange: detach every source, then attach
 * each at its destination. */
struct hist_slot;
int hist_detach(struct stx *s, const char *path, struct hist_slot **out);
int hist_attach(struct stx *s, const char *path, struct hist_slot *slot,
                const char *from);
void hist_slot_free(struct hist_slot *slot);

/* ---- reading ------------------------------------------------------------ */

enum hist_kind {
	HI_VERSION, /* an older version, content in the history table */
	HI_LIVE,    /* the newest version: the live content */
	HI_DELETED, /* the record was deleted (no content) */
	HI_RENAME,  /* the record moved (from, to) */
};

struct hist_item {
	enum hist_kind kind;
	uint64_t version; /* HI_RENAME: the version it moved after */
	int64_t time;     /* ns since the epoch, the commit's time */
	uint64_t txnid;
	uint64_t size; /* content bytes (versions) */
	uint32_t mode, uid, gid;
	const char *from, *to; /* renames; from also for a version a rename
	                          brought, to for a deletion by rename */
	size_t from_len, to_len;
};

/*
 * Every version and rename of the record at path, oldest first (the live
 * version or the deletion last).  A live record without history yet shows
 * its content as version 1.  -ENOENT if path has no history and no live
 * record.  fn's item is valid during the call; non-zero stops.
 */
int hist_each(struct stx *s, const char *path,
              int (*fn)(void *ctx, const struct hist_item *it), void *ctx);

/* A malloc'd copy of version v of the record at path, and its item (whose
 * from/to are not set).  -ENOENT if there is no such version. */
int hist_get(struct stx *s, const char *path, uint64_t v, struct hist_item *it,
             void **data, size_t *len);

/*
 * The names directly below folder dir ("" for the top) that have history
 * (records, and folders holding records with history), in name order, each
 * once.  Live folders and records are listed by the tree itself.
 */
int hist_children(struct stx *s, const char *dir,
                  int (*fn)(void *ctx, const char *name, size_t len),
                  void *ctx);

/* In a write transaction: the id of the record at path and its live
 * version (0 when it is deleted), giving a record from before history
 * its slot first.  -ENOENT when path has no record and no history. */
int hist_ensure(struct stx *s, const char *path, uint64_t *rid, uint64_t *live);

/* The id of the record at path (live or deleted): 0 and *rid, or
 * -ENOENT when it has no history. */
int hist_rid(struct stx *s, const char *path, uint64_t *rid);

/* Call fn with the path of every record that has history, live or
 * deleted, in path order; non-zero stops. */
int hist_paths(struct stx *s, int (*fn)(void *ctx, const char *path),
               void *ctx);

/* True when path or something below it has history (a folder of the
 * .history view that only deleted records keep). */
int hist_has(struct stx *s, const char *path);

/* The name of a version's file, and its version parsed back (0 and *v,
 * or -EINVAL; the time part is checked by the caller). */
void hist_name(char *buf, size_t n, uint64_t v, int64_t time);
int hist_parse_name(const char *name, uint64_t *v);

/*
 * Check the history tables (cccfs check): every slot and entry decodes,
 * a deleted slot's path holds no record (or an empty one),
 * and no version's number reaches its record's live one.  fn gets each
 * problem as a line; *entries the number checked.  0, or an error that
 * stopped the walk.
 */
int hist_verify(struct stx *s, void (*fn)(void *ctx, const char *msg),
                void *ctx, uint64_t *entries);

/* ---- space and retention ---------------------------------------------- */

struct hist_space {
	uint64_t records;  /* records with history */
	uint64_t versions; /* older versions kept */
	uint64_t bytes;    /* their content */
};
int hist_space(struct stx *s, struct hist_space *sp);

/* Which versions to keep: every version younger than age seconds, and at
 * least the newest min of each record; all: every version. */
struct hist_keep {
	bool off; /* no history recorded ("off") */
	bool all;
	uint64_t age; /* seconds */
	uint64_t min;
};
/* "30d,50": a duration (s, m, h, d, w) and a count, either or both, in any
 * order, with ',' or ':' between; "all"; "off".  0 or -EINVAL. */
int hist_parse_keep(const char *spec, struct hist_keep *k);

/* Delete, in s, the older versions k no longer keeps at time now (ns),
 * at most limit of them (0: no limit).  *pruned: how many. */
int hist_prune(struct stx *s, const struct hist_keep *k, int64_t now,
               uint64_t limit, uint64_t *pruned);

#endif
