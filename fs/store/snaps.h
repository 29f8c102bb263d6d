/*
 * snaps: snapshots of the file tree, above the engine's named snapshots.
 * Used by the daemon's snapdir.c (the .snapshots folder) and watch.c (the
 * schedule), and by the snapshot command (fs/cli/snapshot.c);
 * uses store.h, pathmap and retain.  No FUSE.
 *
 * The .snapshots folder.  Paths below it are read-only views:
 *
 *   .snapshots                 one folder per snapshot (SV_TOP)
 *   .snapshots/NAME            the snapshot's root: the three kinds (SV_SNAP)
 *   .snapshots/NAME/REST       entry REST of the snapshot (SV_INSIDE)
 *   .history...                every record's versions (SV_HIST, below)
 *   .labels...                 the versions labels pin (SV_LABELS)
 *   .rendered...               the prompts, rendered (SV_RENDERED)
 *
 * A view shows folders and records only (side files and symlinks are left
 * out), with the sizes, names, owners and times they had, and the write
 * bits cleared.  A snapshot folder's times are its creation time.  Each
 * call reads in its own snapshot transaction: nothing is held between
 * calls, and reading never blocks the writer.
 */
#ifndef CCCFS_FS_SNAPS_H
#define CCCFS_FS_SNAPS_H

#include <stdbool.h>
#include <stdint.h>

#include <cccfs/kv.h>

#include "pathmap.h"
#include "retain.h"
#include "store.h"

#define SNAPDIR ".snapshots"

#define HISTDIR ".history"

/* SV_HIST: at or below .history (histview.c), SV_LABELS: at or below
 * .labels (labels.c), SV_RENDERED: at or below .rendered (rendered.c),
 * which the same entry points serve. */
enum sv_level {
	SV_NONE,
	SV_TOP,
	SV_SNAP,
	SV_INSIDE,
	SV_HIST,
	SV_LABELS,
	SV_RENDERED,
};

/* True for .history, .labels, .rendered and what is below them: views
 * whose names and contents come and go with changes to the live tree (no
 * invalidation reaches them, so nothing of them may be cached). */
bool sv_follows_live(const char *path);

/* The longest path the mount shows: a live path (PM_PATH_MAX) inside
 * ".snapshots/NAME/", which is longer than one inside ".history/" with a
 * version's name after it. */
#define SV_PATH_MAX (PM_PATH_MAX + sizeof(SNAPDIR) + KV_MAX_NAME + 1)

/*
 * Join parent and name into buf (size n), as pm_join() does, except that
 * the PM_PATH_MAX limit applies to the part below a snapshot's folder: a
 * snapshot shows every record of the live tree whatever its name.
 */
int sv_join(char *buf, size_t n, const char *parent, const char *name);

/* Where path is in the snapshot area.  For SV_SNAP and SV_INSIDE, name
 * (KV_MAX_NAME + 1 bytes) gets the snapshot and *rest the path inside it
 * ("" for SV_SNAP). */
enum sv_level sv_level(const char *path, char *name, const char **rest);

/* The node of a path in the snapshot area (-ENOENT if absent). */
int sv_node(kv_env *env, const char *path, struct node *n);
/* List a folder of the snapshot area, as store_list() does. */
int sv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx);
/* A malloc'd copy of a record's content in a snapshot. */
int sv_content(kv_env *env, const char *path, void **data, size_t *len);

/* ---- the .history view (histview.c) ----------------------------------- */

/* True for .history and the paths below it; *rest (unless rest is NULL)
 * gets the part below it, NULL for .history itself. */
bool hv_is(const char *path, const char **rest);
int hv_join(char *buf, size_t n, const char *parent, const char *name);
int hv_node(kv_env *env, const char *path, struct node *n);
int hv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx);
int hv_content(kv_env *env, const char *path, void **data, size_t *len);

/* ---- automatic snapshots ----------------------------------------------- */

struct autosnap_cfg {
	uint64_t every;        /* seconds between snapshots, 0: off */
	struct keep_spec keep; /* retention of automatic snapshots */
};

struct autosnap_result {
	bool made; /* a snapshot was taken */
	char name[RETAIN_NAME_MAX];
	unsigned deleted; /* automatic snapshots trimmed */
	int64_t next;     /* when the next one is due (seconds) */
};

/*
 * One round of the schedule at time now (seconds since the epoch): take
 * "auto-<now>" if the newest automatic snapshot is at least cfg->every
 * old and the store changed since it, then delete the automatic
 * snapshots the retention spec no longer keeps.  One commit, if any.
 */
int autosnap_tick(kv_env *env, int64_t now, const struct autosnap_cfg *cfg,
                  struct autosnap_result *res);

/*
 * Make snapshot name's tree the live tree (store_restore(): the history
 * is kept, and every record the restore changes gets a new version), in
 * one commit that also takes a snapshot "before-restore-<now>" of the
 * state it replaces (its name in saved, SNAPS_SAVED_MAX bytes), never
 * deleted automatically.
 */
#define SNAPS_SAVED_MAX 64
int snaps_restore(kv_env *env, const char *name, int64_t now, char *saved);

#endif
