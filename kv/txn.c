/*
 * txn.c: transactions and the commit protocol.
 *
 * Commit (one writer, under LOCK_WRITER):
 *   1. write the changed table descriptors into the catalog tree;
 *   2. save the free state as a new freelist chain;
 *   3. seal (checksum) and pwrite every dirty page -- all of them live at
 *      page numbers no reader and no durable commit can see;
 *   4. pwrite the meta page into the slot that does NOT hold the last
 *      durable commit;
 *   5. durable commits: one fdatasync, covering pages and meta together;
 *   6. publish the new state to readers through the lock file.
 *
 * Why one fsync is enough: the meta written in step 4 may reach the disk
 * before the pages of step 3.  At open, recovery (env.c) takes the newest
 * meta slot whose checksum is good and verifies every page reachable from
 * it that is newer than the other slot (parents record their children's
 * txnids, so a stale page is told from the expected one).  If any fails, it
 * falls back to the other slot.  That slot always holds the last durable
 * commit (or the one before the newest durable commit), and its pages are
 * never reused until a later commit is durable (see freelist.c), so it is
 * intact.
 *
 * A non-durable commit skips step 5: it is atomic and visible at once, and
 * after a power loss the store rolls back to the last durable commit.
 *
 * Most durable commits skip step 5 as well and write a record of their
 * changes to the commit log with one synced write instead (log.c); the
 * commits that sync (steps 2 and 5) are the log's checkpoints.  "Durable"
 * below means a checkpoint or a synced state.  Txnids are never used twice
 * (kv_int.h: txn_floor).
 *
 *   slot A: durable D ----- [ writes to B: N1, N2 (non-durable) ... E ]
 *   after E (durable) is synced, E becomes "last durable", writes go to A.
 *
 * If a meta write or fsync fails the durable state is unknown: the
 * environment latches KV_EFATAL and must be reopened.  Any failure before
 * step 4 (ENOSPC while writing pages) leaves the store as it was.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_int.h"

int64_t kv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int txn_write_meta(kv_env *env, const struct state *s, uint64_t slot)
{
	uint8_t *m;
	int rc;

	if (posix_memalign((void **)&m, KV_PAGE_SIZE, KV_PAGE_SIZE))
		return -ENOMEM;
	state_store(s, m);
	put64(m + PH_PGNO, slot);
	page_seal(m, KV_PAGE_SIZE);
	rc = env->io->pwrite(env->io->ctx, env->fd, m, KV_PAGE_SIZE,
	                     slot * KV_PAGE_SIZE);
	free(m);
	return rc;
}

/* ---- transactions ----------------------------------------------------- */

static void txn_free(kv_txn *txn)
{
	catalog_release(txn);
	if (txn->slot)
		reader_slot_put(txn->env, txn->slot);
	if (txn->slot2)
		reader_slot_put(txn->env, txn->slot2);
	if (!txn->rdonly && txn->fl && txn->fl->logging &&
	    !fl_undo(txn->fl, txn->id)) {
		/* the shared free state cannot be put back: reload it */
		txn->env->fl_txnid = 0;
		txn->env->reclaim_valid = false;
	}
	dirty_release(txn);
	txlog_free(txn);
	free(txn->loose);
	free(txn->readers);
	free(txn->snaptx);
	free(txn);
}

static int map_for(kv_env *env, kv_txn *txn)
{
	int rc = 0;

	pthread_mutex_lock(&env->mu);
	if (txn->st.next_pgno * KV_PAGE_SIZE > env->map_size)
		rc = pager_map(env, txn->st.next_pgno * KV_PAGE_SIZE);
	txn->map = env->map;
	txn->map_size = env->map_size;
	pthread_mutex_unlock(&env->mu);
	return rc;
}

void txn_over_state(kv_txn *txn, kv_env *env, uint8_t *map,
                    const struct state *st)
{
	memset(txn, 0, sizeof(*txn));
	txn->env = env;
	txn->rdonly = true;
	txn->st = *st;
	txn->map = map;
	txn->id = st->txnid;
}

/*
 * The state a reader beginning now reads: the one the lock file publishes.
 * A reader without the lock file (readers.c) reads the meta slots instead.
 * While they are as its open found them, no commit has been made since,
 * and the state is the one the open chose (recovery may have fallen back
 * from a newest commit that was incomplete).  Once they changed, a writer
 * has opened the store (recovering it) and committed: the newest intact
 * slot holds the current state, and its txnid is above any the open saw
 * (invariant 5, txn_floor).  A slot being written reads as damaged; the
 * other one may then hold an older commit: read both again.
 */
int txn_current_state(kv_env *env, struct state *s)
{
	struct metas m;
	int rc;

	if (!env->private_lock) {
		shared_read_state(env, s);
		return 0;
	}
	for (int tries = 0; tries < 100000; tries++) {
		int best = -1;

		rc = pager_read_metas(env, &m);
		if (rc != 0)
			return rc;
		if (pager_metas_same(&m, &env->seen)) {
			shared_read_state(env, s);
			return 0;
		}
		for (int i = 0; i < 2; i++)
			if (m.kind[i] == META_OK &&
			    m.s[i].txnid > env->seen_newest &&
			    (best < 0 || m.s[i].txnid > m.s[best].txnid))
				best = i;
		if (best >= 0) {
			*s = m.s[best];
			return 0;
		}
		sched_yield();
	}
	return kv_set_err(KV_ECORRUPT,
	                  "%s: the meta pages changed but hold no commit "
	                  "newer than txn %llu",
	                  env->path, (unsigned long long)env->seen_newest);
}

/* Register a reader of the current state; see readers.c for the protocol. */
int txn_begin_read_state(kv_env *env, kv_txn **out)
{
	kv_txn *txn = calloc(1, sizeof(*txn));
	int rc;

	if (txn == NULL)
		return -ENOMEM;
	txn->env = env;
	txn->rdonly = true;
	rc = reader_slot_get(env, &txn->slot);
	if (rc != 0) {
		free(txn);
		return rc;
	}
	for (;;) {
		struct state again;
		rc = txn_current_state(env, &txn->st);
		if (rc == 0)
			rc = reader_slot_set(env, txn->slot,
			                     txn->st.txnid ? txn->st.txnid : 1);
		if (rc == 0)
			rc = txn_current_state(env, &again);
		if (rc != 0) {
			txn_free(txn);
			return rc;
		}
		if (again.txnid == txn->st.txnid)
			break;
	}
	txn->id = txn->st.txnid;
	rc = map_for(env, txn);
	if (rc != 0) {
		txn_free(txn);
		return rc;
	}
	*out = txn;
	return 0;
}

static int begin_write(kv_env *env, bool try, kv_txn **out)
{
	kv_txn *txn;
	uint64_t size;
	int rc;

	if (env->flags & KV_RDONLY)
		return kv_set_err(KV_EREADONLY, "%s is open read-only",
		                  env->path);
	if (env->fatal)
		return kv_set_err(KV_EFATAL,
		                  "%s: an earlier I/O error left "
		                  "the state unknown; reopen it",
		                  env->path);
	if (try) {
		if (pthread_mutex_trylock(&env->wmu))
			return kv_set_err(KV_EBUSY, "another writer is active");
	} else {
		pthread_mutex_lock(&env->wmu);
	}
	if (!env->private_lock) {
		rc = os_lock(env->lfd, LOCK_WRITER, true, !try);
		if (rc != 0) {
			pthread_mutex_unlock(&env->wmu);
			return rc == KV_EBUSY ? kv_set_err(rc,
			                                   "another process is "
			                                   "writing %s",
			                                   env->path)
			                      : rc;
		}
	}
	txn = calloc(1, sizeof(*txn));
	if (txn == NULL) {
		rc = -ENOMEM;
		goto fail_unlock;
	}
	txn->env = env;
	shared_read_state(env, &txn->st);
	txn->id = txn->st.txnid + 1;
	uint64_t lowest = atomic_load(&env->sh->txn_floor);
	if (txn->id < lowest)
		txn->id = lowest; /* the first commit after an open: kv_int.h */
	txn->durable_txnid = atomic_load(&env->sh->durable_txnid);
	/* another process's commit may have changed the size: lseek
	 * unless this env made the last commit (kv_int.h) */
	if (env->sized_txnid != txn->st.txnid || !env->sized_txnid) {
		rc = os_file_size(env->fd, &size);
		if (rc != 0)
			goto fail;
		env->file_size = size;
	}
	rc = map_for(env, txn);
	if (rc != 0)
		goto fail;
	if (env->fl_txnid != txn->st.txnid || !env->fl_txnid) {
		fl_release(&env->fl);
		env->fl_txnid = 0;
		env->reclaim_valid = false;
		rc = fl_load(env, txn->map, &txn->st, &env->fl);
		if (rc != 0)
			goto fail;
		env->fl_txnid = txn->st.txnid;
	}
	txn->fl = &env->fl;
	rc = snap_load_txids(txn, &txn->st.snaps, &txn->snaptx, &txn->nsnaptx);
	if (rc != 0)
		goto fail;
	rc = fl_reclaim(txn);
	if (rc != 0)
		goto fail;
	fl_log_begin(txn->fl);
	txn->lg.off = !txn->st.log_open || !txn->st.log_npages;
	txn->base_catalog = txn->st.catalog;
	txn->base_txnid = txn->st.txnid;
	txn->base_pgno = txn->st.next_pgno;
	*out = txn;
	return 0;
fail:
	txn->rdonly = true; /* nothing to roll back */
	txn_free(txn);
fail_unlock:
	if (!env->private_lock)
		os_unlock(env->lfd, LOCK_WRITER);
	pthread_mutex_unlock(&env->wmu);
	return rc;
}

KV_API int kv_txn_begin(kv_env *env, unsigned flags, kv_txn **out)
{
	*out = NULL;
	if (flags & KV_TXN_RDONLY)
		return txn_begin_read_state(env, out);
	return begin_write(env, false, out);
}

KV_API int kv_txn_try_begin(kv_env *env, unsigned flags, kv_txn **out)
{
	*out = NULL;
	if (flags & KV_TXN_RDONLY)
		return txn_begin_read_state(env, out);
	return begin_write(env, true, out);
}

KV_API void kv_txn_set_durability(kv_txn *txn, enum kv_durability d)
{
	txn->durability = d;
}

KV_API uint64_t kv_txn_id(const kv_txn *txn)
{
	return txn->id;
}

KV_API uint64_t kv_txn_base_id(const kv_txn *txn)
{
	return txn->rdonly ? txn->id : txn->base_txnid;
}

KV_API int kv_txn_is_readonly(const kv_txn *txn)
{
	return txn->rdonly;
}

KV_API void kv_txn_abort(kv_txn *txn)
{
	bool writer;

	if (txn == NULL)
		return;
	writer = !txn->rdonly;
	kv_env *env = txn->env;
	txn_free(txn);
	if (writer) {
		if (!env->private_lock)
			os_unlock(env->lfd, LOCK_WRITER);
		pthread_mutex_unlock(&env->wmu);
	}
}

static bool txn_changed(const kv_txn *txn)
{
	return txn->dirty.used || txn->changes || txn->snaps_changed ||
	       memcmp(&txn->st.catalog, &txn->base_catalog,
	              sizeof(struct tree)) != 0;
}

KV_API int kv_txn_commit(kv_txn *txn)
{
	kv_env *env;
	uint64_t slot, rec_off = 0;
	bool logged, ckpt, fresh = false;
	int rc;

	if (txn == NULL)
		return -EINVAL;
	env = txn->env;
	if (txn->rdonly) {
		kv_txn_abort(txn);
		return 0;
	}
	if (txn->failed) {
		rc = kv_set_err(txn->failed_rc ? txn->failed_rc : -EIO,
		                "the transaction had failed; nothing was "
		                "committed");
		kv_txn_abort(txn);
		return rc;
	}
	rc = catalog_flush(txn);
	if (rc != 0)
		goto fail;
	/*
	 * Pages freed by a commit are reusable only once a later commit is
	 * durable.  On a full disk, non-durable commits could never reuse
	 * the pages the ones before them freed (a run of deletes would fail
	 * with ENOSPC one after the other), so a commit that fails with
	 * ENOSPC syncs what is committed, and every commit after it is
	 * durable until one needs as much of the file as the failed one.
	 * Those are checkpoints: logged commits leave the freed pages held.
	 */
	if (txn->snap_deleted || env->short_of_space)
		txn->durability = KV_DURABLE_IMMEDIATE;
	/* bound the txnids a power loss can leave behind (kv_int.h) */
	if (txn->id - atomic_load(&env->sh->durable_txnid) >= KV_MAX_UNSYNCED &&
	    txn_changed(txn)) {
		txn->durability = KV_DURABLE_IMMEDIATE;
		txn->checkpoint = true;
	}
	if (!txn_changed(txn) && !txn->checkpoint) {
		/* Nothing to write; a durable commit still promises that all
		 * that came before it is durable. */
		rc = 0;
		if (txn->durability == KV_DURABLE_IMMEDIATE &&
		    atomic_load(&env->sh->durable_txnid) < txn->st.txnid &&
		    txn->st.log_durable < txn->st.txnid)
			rc = txn_sync_locked(env, false);
		kv_txn_abort(txn);
		return rc;
	}
	/* how this commit reaches the disk: see log.c */
	logged = !txn->checkpoint && !env->short_of_space &&
	         txn->id == txn->base_txnid + 1 && log_fits(txn);
	ckpt = !logged && txn->durability == KV_DURABLE_IMMEDIATE;
	if (ckpt)
		rc = log_prepare(txn, &fresh);
	if (rc == 0)
		rc = fl_settle(txn);
	if (rc == 0 && ckpt)
		rc = fl_save(txn); /* others leave it stale */
	if (rc != 0)
		goto fail;
	txn->st.txnid = txn->id;
	txn->st.time_ns = kv_now_ns();
	if (ckpt) {
		txn->st.log_epoch = txn->id;
		txn->st.log_tail = txn->st.log_synced = 0;
		txn->st.log_open = txn->st.log_npages != 0;
		txn->st.log_durable = txn->id;
		txn->st.log_base_pgno = txn->st.next_pgno;
	} else if (logged) {
		rec_off = txn->st.log_tail;
		txn->st.log_tail += log_record_size(txn);
	} else {
		/* a commit the log does not hold: no later one may be
		 * logged until the next checkpoint */
		txn->st.log_open = 0;
	}
	rc = pager_write_dirty(txn, ckpt);
	if (rc == 0 && fresh)
		rc = log_zero(txn);
	if (rc == -ENOSPC) {
		/* make what is committed durable now, so that the pages the
		 * commits before this one freed can be reused at once */
		env->short_of_space = txn->st.next_pgno;
		if (atomic_load(&env->sh->durable_txnid) < txn->base_txnid)
			(void)txn_sync_locked(env, true);
	}
	if (rc != 0)
		goto fail;

	slot = atomic_load(&env->sh->durable_slot) ? 0 : 1;
	rc = txn_write_meta(env, &txn->st, slot);
	if (rc != 0) {
		env->fatal = true;
		kv_set_err(rc, "%s: writing the commit record: %s", env->path,
		           kv_strerror(rc));
		goto fail;
	}
	if (ckpt) {
		rc = env->io->sync(env->io->ctx, env->fd);
		if (rc != 0) {
			env->fatal = true;
			kv_set_err(rc, "%s: fsync failed: %s", env->path,
			           kv_strerror(rc));
			goto fail;
		}
	} else if (logged) {
		bool durable = txn->durability == KV_DURABLE_IMMEDIATE;
		rc = log_append(txn, rec_off, durable);
		if (rc != 0) {
			env->fatal = true;
			kv_set_err(rc, "%s: writing the commit log: %s",
			           env->path, kv_strerror(rc));
			goto fail;
		}
		if (durable) {
			txn->st.log_synced = txn->st.log_tail;
			txn->st.log_durable = txn->id;
		}
	}
	shared_publish(env, &txn->st, slot);
	if (ckpt) {
		atomic_store(&env->sh->durable_slot, slot);
		atomic_store(&env->sh->durable_txnid, txn->id);
	}
	if (env->short_of_space && txn->st.next_pgno >= env->short_of_space)
		env->short_of_space = 0;
	/* the free state changed in place is the committed one */
	env->fl_txnid = txn->id;
	env->sized_txnid = txn->id;
	fl_log_end(txn->fl);
	kv_txn_abort(txn);
	return 0;
fail:
	kv_txn_abort(txn);
	return rc;
}

/*
 * Make the current state durable; the writer lock is held.  While the log
 * holds every commit since the last checkpoint, syncing its unsynced
 * records is enough; full (or a closed log) syncs the file, which also
 * lets the pages of the last checkpoint be reused.
 */
int txn_sync_locked(kv_env *env, bool full)
{
	struct state cur;
	int rc;

	shared_read_state(env, &cur);
	if (!full && cur.log_open && cur.log_npages) {
		rc = log_sync(env, &cur);
		if (rc != 0) {
			env->fatal = true;
			return kv_set_err(rc, "%s: writing the commit log: %s",
			                  env->path, kv_strerror(rc));
		}
		shared_publish(env, &cur, atomic_load(&env->sh->cur_slot));
		return 0;
	}
	rc = env->io->sync(env->io->ctx, env->fd);
	if (rc != 0) {
		env->fatal = true;
		return kv_set_err(rc, "%s: fsync failed: %s", env->path,
		                  kv_strerror(rc));
	}
	atomic_store(&env->sh->durable_slot, atomic_load(&env->sh->cur_slot));
	atomic_store(&env->sh->durable_txnid, cur.txnid);
	return 0;
}
