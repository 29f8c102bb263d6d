/*
 * watch: the daemon's background thread.  Three jobs, on a short tick:
 *
 * History retention.  Versions that -o history_keep no longer keeps are
 * deleted soon after mounting and every ten minutes (run_prune).
 *
 * Automatic snapshots.  With -o snapshot_every=D the thread runs
 * autosnap_tick() (snaps.c) whenever the next snapshot is due, and at
 * least once a minute, so the schedule survives clock jumps and snapshots
 * other processes take.
 *
 * Commits by other processes.  `cccfs snapshot restore` and `cccfs
 * import` write the store while it is mounted.  Every commit of this
 * process goes through stx_commit(), which notes its id; a committed id
 * that is not ours means someone else changed the tree, and the kernel's
 * cached attributes and pages of every inode are dropped at once, so the
 * mounted tree shows the new state without waiting for cache timeouts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fs.h"

#define WATCH_TICK_MS 200
#define AUTOSNAP_RECHECK_S 60
/* History is pruned soon after mounting, then every ten minutes, in
 * commits of at most HIST_PRUNE_BATCH versions (back to back while there
 * are more), so that no commit holds the writers up for long. */
#define HIST_PRUNE_FIRST_S 5
#define HIST_PRUNE_EVERY_S 600
#define HIST_PRUNE_BATCH 10000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct fs *fs;
	bool stop, running;
	uint64_t seen;      /* last committed id looked at */
	int64_t next_snap;  /* seconds; 0: no automatic snapshots */
	int64_t next_prune; /* seconds */
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int last_txnid(uint64_t *id)
{
	kv_txn *txn;
	int rc = kv_txn_begin(w.fs->env, KV_TXN_RDONLY, &txn);

	if (rc != 0)
		return rc;
	*id = kv_txn_id(txn);
	kv_txn_abort(txn);
	return 0;
}

static void check_foreign(void)
{
	uint64_t id;
	bool foreign;

	if (last_txnid(&id) != 0 || id <= w.seen)
		return;
	/* Ours if every commit back to the one seen is ours, each built on
	 * the one before.  Ids are not consecutive (the first commit after
	 * an open skips many: kv_txn_base_id), so the chain is followed
	 * rather than the ids in between. */
	uint64_t i = id, base, n = 0;
	foreign = false;
	while (i > w.seen && !foreign) {
		foreign =
		        ++n > 4096 || !store_own_commit(i, &base) || base >= i;
		i = base;
	}
	foreign = foreign || i != w.seen;
	w.seen = id;
	if (foreign) {
		fs_log(LOG_INFO,
		       "the store was changed by another process "
		       "(commit %llu); dropping cached attributes and pages",
		       (unsigned long long)id);
		notify_everything();
	}
}

static void run_autosnap(int64_t now)
{
	struct autosnap_result res;
	int rc = autosnap_tick(w.fs->env, now, &w.fs->cfg.autosnap, &res);

	if (rc != 0) {
		fs_log(LOG_ERR,
		       "automatic snapshot failed: %s; retrying in "
		       "%d s",
		       strerror(-rc), AUTOSNAP_RECHECK_S);
		w.next_snap = now + AUTOSNAP_RECHECK_S;
		return;
	}
	if (res.made)
		fs_log(LOG_INFO, "took snapshot %s", res.name);
	if (res.deleted)
		fs_log(LOG_INFO,
		       "retention (keep=%s) deleted %u automatic "
		       "snapshot%s",
		       w.fs->cfg.keep_opt ? w.fs->cfg.keep_opt
		                          : FS_KEEP_DEFAULT,
		       res.deleted, res.deleted == 1 ? "" : "s");
	w.next_snap = res.next;
	if (w.next_snap > now + AUTOSNAP_RECHECK_S)
		w.next_snap = now + AUTOSNAP_RECHECK_S;
}

static void run_prune(int64_t now)
{
	uint64_t pruned = 0;
	struct stx s;
	int rc = stx_begin(w.fs->env, true, &s);

	if (rc == 0)
		rc = hist_prune(&s, &w.fs->cfg.hist_keep, now * 1000000000,
		                HIST_PRUNE_BATCH, &pruned);
	if (rc == 0 && pruned > 0)
		rc = stx_commit(&s, KV_DURABLE_IMMEDIATE);
	else
		stx_abort(&s);
	w.next_prune = now + HIST_PRUNE_EVERY_S;
	if (rc != 0) {
		fs_log(LOG_ERR, "pruning history failed: %s; retrying in %d s",
		       strerror(-rc), AUTOSNAP_RECHECK_S);
		w.next_prune = now + AUTOSNAP_RECHECK_S;
		return;
	}
	if (pruned == 0)
		return;
	fs_log(LOG_INFO,
	       "history retention (history_keep=%s) deleted %llu old "
	       "version%s",
	       w.fs->cfg.hist_keep_opt ? w.fs->cfg.hist_keep_opt
	                               : FS_HISTORY_KEEP_DEFAULT,
	       (unsigned long long)pruned, pruned == 1 ? "" : "s");
	if (pruned == HIST_PRUNE_BATCH)
		w.next_prune = now; /* more to do: go on at the next tick */
}

static void *watch_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&w.lock);
	while (!w.stop) {
		fs_wait_ms(&w.cond, &w.lock, WATCH_TICK_MS, &w.stop);
		if (w.stop)
			break;
		pthread_mutex_unlock(&w.lock);
		check_foreign();
		if (w.next_snap != 0 && time(NULL) >= w.next_snap)
			run_autosnap((int64_t)time(NULL));
		if (!w.fs->cfg.hist_keep.all && time(NULL) >= w.next_prune)
			run_prune((int64_t)time(NULL));
		pthread_mutex_lock(&w.lock);
	}
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

int watch_start(struct fs *fs)
{
	int rc;

	w.fs = fs;
	w.stop = false;
	w.seen = 0;
	if (last_txnid(&w.seen) != 0)
		w.seen = 0;
	/* the first round soon after mounting catches up on the schedule */
	w.next_snap = fs->cfg.autosnap.every ? (int64_t)time(NULL) + 1 : 0;
	w.next_prune = (int64_t)time(NULL) + HIST_PRUNE_FIRST_S;
	rc = pthread_create(&w.thread, NULL, watch_main, NULL);
	if (rc != 0)
		return -rc;
	w.running = true;
	return 0;
}

void watch_stop(void)
{
	if (!w.running)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = true;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	w.running = false;
}
