/*
 * fs: the state shared by the FUSE daemon's modules, and the small
 * services they use: logging (log.c), kernel cache invalidation from a
 * separate thread (notify.c), the commit-interval timer (commit.c) and the
 * table of rejected saves behind user.cccfs.error (errtab.c).
 *
 * Lock order, outermost first (never take one while holding a later one):
 *   tree_lock (renames and removals, daemon.h)  ->  handle lock (per open
 *   file)  ->  kv write transaction  ->  itab lock
 *   errtab, notify queue and timer locks are leaves.
 */
#ifndef CCCFS_FS_FS_H
#define CCCFS_FS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cccfs/kv.h>

#include "defaults.h"
#include "history.h"
#include "snaps.h"

/* side files live in memory while written */
#define FS_SIDE_MAX (256ul * 1024 * 1024)
#define FS_COMMIT_INTERVAL_DEFAULT 1000ul
/* -o spin=: microseconds the request loop looks for the next request
 * before it sleeps (loop.c); 0 on a machine with one CPU */
#define FS_SPIN_DEFAULT 50ul
#define FS_SPIN_MAX 10000ul

/* Fixed inode numbers: FUSE's root is 1; the top folders follow. */
#define FS_INO_ROOT 1u
#define FS_INO_KIND0 2u

struct fuse_session;

struct fs_config {
	unsigned long max_record;      /* bytes, -o max_record= */
	unsigned long commit_interval; /* ms, -o commit_interval= */
	unsigned long spin;            /* us, -o spin= */
	int foreground;
	int debug;
	/* allow_other, allow_root or default_permissions: the kernel checks
	 * permissions, else the daemon does (perm.c) */
	bool kernel_perms;
	/* -o snapdir=, snapshot_every=, keep= as given (fuse_opt strings) */
	char *snapdir_opt, *every_opt, *keep_opt, *hist_keep_opt;
	bool snapdir_visible;         /* list .snapshots in the root */
	struct autosnap_cfg autosnap; /* parsed snapshot_every and keep */
	struct hist_keep hist_keep;   /* parsed history_keep */
};

struct fs {
	kv_env *env;
	struct fs_config cfg;
	struct fuse_session *se;
	const char *db_path;
	uid_t uid;
	gid_t gid;
};

/* ---- log.c --------------------------------------------------------- */
/* Levels are syslog's (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
void fs_log(int level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Send messages to syslog from now on (after daemonizing). */
void fs_log_to_syslog(void);
void fs_log_set_debug(int on);
/* Whether LOG_DEBUG messages are written (-d): spares building them. */
bool fs_log_debugging(void);

/* ---- notify.c ------------------------------------------------------ */
int notify_start(struct fuse_session *se);
/* Queue an invalidation of the kernel's data and attribute cache. */
void notify_inode(uint64_t ino);
/* Invalidate the kernel's attributes of ino at once; safe in a handler. */
void notify_attrs_now(uint64_t ino);
/* Invalidate the kernel's data and attributes of ino at once: only in a
 * handler, and only for an inode no handle has open (no READ of it can
 * hold a page the kernel would wait for). */
void notify_inode_now(uint64_t ino);
/* Queue the expiry of the names the kernel holds in folder ino. */
void notify_below(uint64_t ino);
/* Queue an invalidation of every inode the kernel knows, and of the
 * names it was told are absent in the last seconds. */
void notify_everything(void);
/* fs_lookup answered that parent has no entry name. */
void notify_note_miss(uint64_t parent, const char *name);
void notify_stop(void);
/* Set at init when the kernel can expire a name without unhashing it
 * (FUSE 7.38): folder names are then trusted as long as file names. */
void notify_set_expire(bool can);
bool notify_can_expire(void);

/* ---- commit.c ------------------------------------------------------ */
int commit_timer_start(struct fs *fs);
/* A non-durable commit happened: make it durable within the interval. */
void commit_timer_note(void);
/* Stop the timer and make every commit durable. */
void commit_timer_stop(void);
/* With lock held: wait on cond for ms milliseconds, or until *stop is set
 * (and cond signalled).  The background threads' tick. */
void fs_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned long ms,
                const bool *stop);

/* ---- watch.c ------------------------------------------------------- */
/* The background thread: automatic snapshots on schedule, and cache
 * invalidation after commits made by other processes (restore, import). */
int watch_start(struct fs *fs);
void watch_stop(void);

/* ---- errtab.c ------------------------------------------------------ */
void errtab_set(const char *path, const char *msg);
void errtab_clear(const char *path);
/* Copy of the message for path (malloc'd) or NULL. */
char *errtab_get(const char *path);
void errtab_release(void);

/* ---- ops.c (the handlers: daemon.h) -------------------------------- */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops fs_ops;
/* Pin the root and the top folders in the inode table. */
int fs_ops_init(struct fs *fs);
/* After the session ended: drop what files were still open (their pending
 * writes are not committed: nothing half-done) and the inode table. */
void fs_ops_release(void);

#endif
