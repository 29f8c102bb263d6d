/*
 * txn.c: environments, transactions and the commit protocol.
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
 * before the pages of step 3.  At open, recovery takes the newest meta slot
 * whose checksum is good and verifies every page reachable from it that is
 * newer than the other slot (parents record their children's txnids, so a
 * stale page is told from the expected one).  If any fails, it falls back to
 * the other slot.  That slot always holds the last durable commit (or the
 * one before the newest durable commit), and its pages are never reused
 * until a later commit is durable (see freelist.c), so it is intact.
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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ---- opening ---------------------------------------------------------- */

static int create_file(kv_env *env)
{
	struct state s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.next_pgno = 2;
	s.time_ns = kv_now_ns();
	/* slot 1 holds txn 0, slot 0 txn 1: both valid, both empty, and
	 * each with its (empty) free state current */
	rc = txn_write_meta(env, &s, 1);
	s.txnid = 1;
	s.fl_txnid = 1;
	if (rc == 0)
		rc = txn_write_meta(env, &s, 0);
	if (rc == 0)
		rc = env->io->sync(env->io->ctx, env->fd);
	if (rc == 0)
		rc = os_fsync_dir(env->path);
	if (rc)
		return kv_set_err(rc, "%s: creating the database: %s",
		                  env->path, kv_strerror(rc));
	return 0;
}

/* The store must be a regular file: a directory opens read-only and its
 * size reads as 2^63 - 1.  Clears the O_NONBLOCK of the open. */
static int regular_file(int fd, const char *path)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return kv_set_err(-errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return kv_set_err(-EISDIR, "%s: is a directory, not a "
		                  "database file", path);
	if (!S_ISREG(sb.st_mode))
		return kv_set_err(KV_ENOTDB, "%s: not a regular file", path);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return 0;
}

/* SLOT_NEWER_BADSUM: a newer version whose checksum fails ours, which a
 * newer format may compute otherwise, or a damaged version field. */
enum { SLOT_ABSENT, SLOT_BADSUM, SLOT_NEWER_BADSUM, SLOT_NEWER, SLOT_OK };

static int read_slot(kv_env *env, uint64_t i, uint8_t *buf, struct state *s)
{
	ssize_t n = pread(env->fd, buf, KV_PAGE_SIZE, (off_t)(i * KV_PAGE_SIZE));

	if (n != (ssize_t)KV_PAGE_SIZE)
		return SLOT_ABSENT;
	if (get64(buf + MF_MAGIC) != KV_MAGIC)
		return SLOT_ABSENT;
	if (get64(buf + PH_CHECKSUM) != page_checksum(buf, KV_PAGE_SIZE))
		return get32(buf + MF_VERSION) > KV_FORMAT_VERSION
		       ? SLOT_NEWER_BADSUM : SLOT_BADSUM;
	if (get32(buf + MF_VERSION) > KV_FORMAT_VERSION)
		return SLOT_NEWER;
	if (get32(buf + MF_VERSION) < KV_FORMAT_VERSION_MIN ||
	    get32(buf + MF_PAGESIZE) != KV_PAGE_SIZE ||
	    get16(buf + PH_TYPE) != PT_META || get64(buf + PH_PGNO) != i)
		return SLOT_BADSUM;
	state_load(s, buf);
	if (s->next_pgno < 2)
		return SLOT_BADSUM;
	if (s->log_npages &&
	    (s->log_pgno < 2 || s->log_npages > LOG_MAX_PAGES ||
	     s->log_npages > s->next_pgno ||
	     s->log_pgno > s->next_pgno - s->log_npages ||
	     s->log_tail > s->log_npages * KV_PAGE_SIZE ||
	     s->log_epoch > s->txnid))
		return SLOT_BADSUM;
	return SLOT_OK;
}

/*
 * Recovery: choose the newest meta slot whose commit is whole.  Sets
 * *slot_out to the slot chosen.
 */
static int pick_meta(kv_env *env, struct state *out, uint64_t *slot_out)
{
	uint8_t *buf;
	struct state s[2];
	int k[2], first, rc;
	uint64_t size;

	rc = os_file_size(env->fd, &size);
	if (rc)
		return rc;
	if (size < 2 * KV_PAGE_SIZE)
		return kv_set_err(KV_ENOTDB, "%s: file too small to be a "
		                  "database (%llu bytes)", env->path,
		                  (unsigned long long)size);
	buf = malloc(KV_PAGE_SIZE);
	if (!buf)
		return -ENOMEM;
	k[0] = read_slot(env, 0, buf, &s[0]);
	k[1] = read_slot(env, 1, buf, &s[1]);
	free(buf);
	/* A newer version with our checksum is newer.  One whose checksum
	 * fails may be a newer format or a damaged field: newer only when
	 * the other slot does not open either. */
	if (k[0] == SLOT_NEWER || k[1] == SLOT_NEWER ||
	    (k[0] == SLOT_NEWER_BADSUM && k[1] != SLOT_OK) ||
	    (k[1] == SLOT_NEWER_BADSUM && k[0] != SLOT_OK))
		return kv_set_err(KV_EVERSION, "%s: written by a newer format "
		                  "version; upgrade cccfs to open it", env->path);
	if (k[0] == SLOT_ABSENT && k[1] == SLOT_ABSENT)
		return kv_set_err(KV_ENOTDB, "%s: not a cccfs database",
		                  env->path);
	first = -1;
	if (k[0] == SLOT_OK && k[1] == SLOT_OK)
		first = s[0].txnid >= s[1].txnid ? 0 : 1;
	else if (k[0] == SLOT_OK)
		first = 0;
	else if (k[1] == SLOT_OK)
		first = 1;
	if (first < 0)
		return kv_set_err(KV_ECORRUPT, "%s: both meta pages are "
		                  "damaged", env->path);

	int order[2] = { first, 1 - first };
	for (int j = 0; j < 2; j++) {
		int i = order[j];
		uint64_t min;
		if (k[i] != SLOT_OK)
			continue;
		/* in pages: a damaged slot's next_pgno * KV_PAGE_SIZE can
		 * wrap around and pass for a small file */
		if (s[i].next_pgno > size / KV_PAGE_SIZE) {
			kv_set_err(KV_ECORRUPT, "%s: file is truncated: commit "
			           "%llu needs %llu pages, the file has %llu "
			           "bytes", env->path,
			           (unsigned long long)s[i].txnid,
			           (unsigned long long)s[i].next_pgno,
			           (unsigned long long)size);
			rc = KV_ECORRUPT;
			continue;
		}
		/* pages newer than the other slot must all be whole */
		min = (k[1 - i] == SLOT_OK && s[1 - i].txnid < s[i].txnid)
		              ? s[1 - i].txnid : 0;
		rc = check_recent(env, env->map, &s[i], min);
		if (rc == 0) {
			*out = s[i];
			*slot_out = (uint64_t)i;
			if (i != first && k[first] == SLOT_OK)
				env->rolled_back = s[first].txnid;
			return 0;
		}
	}
	if (rc == 0)
		rc = KV_ECORRUPT;
	if (rc == KV_ECORRUPT) {
		char why[400];
		snprintf(why, sizeof(why), "%s", kv_errmsg());
		return kv_set_err(rc, "%s: no intact commit found (%s)",
		                  env->path, why);
	}
	return rc;
}

static void env_free(kv_env *env)
{
	struct oldmap *o, *next;

	if (env->sh)
		readers_close(env);
	if (env->lfd >= 0)
		close(env->lfd);
	if (env->map)
		munmap(env->map, env->map_size);
	for (o = env->oldmaps; o; o = next) {
		next = o->next;
		munmap(o->base, o->size);
		free(o);
	}
	if (env->fd >= 0)
		close(env->fd);
	fl_release(&env->fl);
	pgbuf_release(env);
	free(env->snaptx);
	free(env->rc_readers);
	free(env->rc_snaps);
	pthread_mutex_destroy(&env->mu);
	pthread_mutex_destroy(&env->wmu);
	free(env->path);
	free(env->lockpath);
	free(env);
}

static int env_open(kv_env **out, const char *path, unsigned flags, int mode,
                    const struct kv_io *io, uint64_t *pending)
{
	kv_env *env;
	uint64_t size;
	int rc, oflags;

	*out = NULL;
	if (!path || !*path)
		return kv_set_err(-EINVAL, "empty database path");
	env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	env->fd = env->lfd = -1;
	env->flags = flags;
	pthread_mutex_init(&env->mu, NULL);
	pthread_mutex_init(&env->wmu, NULL);
	env->io_store = io ? *io : *kv_io_posix();
	env->io = &env->io_store;
	env->path = strdup(path);
	env->lockpath = malloc(strlen(path) + 6);
	if (!env->path || !env->lockpath) {
		rc = -ENOMEM;
		goto fail;
	}
	strcpy(env->lockpath, path);
	strcat(env->lockpath, "-lock");

	oflags = (flags & KV_RDONLY) ? O_RDONLY : O_RDWR;
	if ((flags & KV_CREATE) && !(flags & KV_RDONLY))
		oflags |= O_CREAT;
	/* O_NONBLOCK: a FIFO given as the store must not hang the open */
	env->fd = open(path, oflags | O_CLOEXEC | O_NONBLOCK,
	               mode ? mode : 0600);
	if (env->fd < 0) {
		rc = kv_set_err(-errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	rc = regular_file(env->fd, path);
	if (rc)
		goto fail;
	rc = readers_open(env);
	if (rc < 0)
		goto fail;
	bool alone = rc == 1;

	rc = os_file_size(env->fd, &size);
	if (rc)
		goto fail_init;
	if (size == 0 && alone && !(flags & KV_RDONLY) && (flags & KV_CREATE)) {
		rc = create_file(env);
		if (rc)
			goto fail_init;
		size = 2 * KV_PAGE_SIZE;
	}
	env->file_size = size;
	rc = pager_map(env, size ? size : KV_PAGE_SIZE);
	if (rc)
		goto fail_init;
	if (alone) {
		struct state st;
		uint64_t slot;
		rc = pick_meta(env, &st, &slot);
		if (rc)
			goto fail_init;
		/* Whatever reached the file is now made durable, so the slot
		 * chosen can serve as the fallback of the next commit. */
		if (!(flags & KV_RDONLY) && !env->private_lock) {
			rc = env->io->sync(env->io->ctx, env->fd);
			if (rc)
				goto fail_init;
		}
		shared_publish(env, &st, slot);
		atomic_store(&env->sh->durable_txnid, st.txnid);
		atomic_store(&env->sh->durable_slot, slot);
		/* commits lost after st may have left pages on the disk */
		atomic_store(&env->sh->txn_floor, st.txnid + KV_TXN_GAP);
		/* commits in the log after that one: repeat them (log.c) */
		*pending = log_pending(env, &st);
		if (*pending && ((flags & KV_RDONLY) || env->private_lock)) {
			rc = kv_set_err(KV_EREADONLY, "%s: %llu logged commits "
			                "must be recovered, which needs write "
			                "access", path,
			                (unsigned long long)*pending);
			goto fail_init;
		}
		if (*pending) {
			rc = log_recover(env, &env->recovered);
			if (rc)
				goto fail_init;
		}
		*pending = 0;
		rc = readers_init_done(env);
		if (rc)
			goto fail;
	}
	*out = env;
	return 0;
fail_init:
	if (alone && env->sh && !env->private_lock) {
		/* leave the lock file for the next opener to initialize */
		os_unlock(env->lfd, LOCK_INIT);
	}
fail:
	env_free(env);
	return rc;
}

KV_API int kv_env_open_io(kv_env **out, const char *path, unsigned flags,
                          int mode, const struct kv_io *io)
{
	uint64_t pending = 0;
	int rc = env_open(out, path, flags, mode, io, &pending);

	if (rc == KV_EREADONLY && pending && (flags & KV_RDONLY)) {
		/* A read-only open of a store whose last commits are only in
		 * the log: recover them with a read-write open first. */
		kv_env *rw;
		char why[512];
		snprintf(why, sizeof(why), "%s", kv_errmsg());
		rc = env_open(&rw, path, flags & ~(KV_RDONLY | KV_CREATE), 0,
		              io, &pending);
		if (rc)
			return kv_set_err(rc, "%s (%s)", why, kv_errmsg());
		uint64_t recovered = rw->recovered, rolled = rw->rolled_back;
		kv_env_close(rw);
		rc = env_open(out, path, flags, mode, io, &pending);
		if (rc == 0) {
			(*out)->recovered = recovered;
			(*out)->rolled_back = rolled;
		}
	}
	return rc;
}

KV_API int kv_env_open(kv_env **out, const char *path, unsigned flags,
                       int mode)
{
	return kv_env_open_io(out, path, flags, mode, NULL);
}

KV_API void kv_env_close(kv_env *env)
{
	if (env)
		env_free(env);
}

KV_API const char *kv_env_path(const kv_env *env)
{
	return env->path;
}

KV_API int kv_env_lock_exclusive(kv_env *env)
{
	int rc;

	if (env->private_lock || env->server_locked)
		return 0;
	rc = os_lock(env->lfd, LOCK_SERVER, true, false);
	if (rc == KV_EBUSY)
		return kv_set_err(KV_ELOCKED, "%s is already in use by another "
		                  "process", env->path);
	if (rc == 0)
		env->server_locked = true;
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
		txn->env->rc_valid = false;
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

/* Register a reader of the current state; see readers.c for the protocol. */
int txn_begin_read_state(kv_env *env, kv_txn **out)
{
	kv_txn *txn = calloc(1, sizeof(*txn));
	int rc;

	if (!txn)
		return -ENOMEM;
	txn->env = env;
	txn->rdonly = true;
	rc = reader_slot_get(env, &txn->slot);
	if (rc) {
		free(txn);
		return rc;
	}
	for (;;) {
		struct state again;
		shared_read_state(env, &txn->st);
		atomic_store(&txn->slot->txnid, txn->st.txnid ? txn->st.txnid
		                                              : 1);
		shared_read_state(env, &again);
		if (again.txnid == txn->st.txnid)
			break;
	}
	txn->id = txn->st.txnid;
	rc = map_for(env, txn);
	if (rc) {
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
		return kv_set_err(KV_EFATAL, "%s: an earlier I/O error left "
		                  "the state unknown; reopen it", env->path);
	if (try) {
		if (pthread_mutex_trylock(&env->wmu))
			return kv_set_err(KV_EBUSY, "another writer is active");
	} else {
		pthread_mutex_lock(&env->wmu);
	}
	if (!env->private_lock) {
		rc = os_lock(env->lfd, LOCK_WRITER, true, !try);
		if (rc) {
			pthread_mutex_unlock(&env->wmu);
			return rc == KV_EBUSY
			               ? kv_set_err(rc, "another process is "
			                            "writing %s", env->path)
			               : rc;
		}
	}
	txn = calloc(1, sizeof(*txn));
	if (!txn) {
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
	rc = os_file_size(env->fd, &size);
	if (rc)
		goto fail;
	env->file_size = size;
	rc = map_for(env, txn);
	if (rc)
		goto fail;
	if (env->fl_txnid != txn->st.txnid || !env->fl_txnid) {
		fl_release(&env->fl);
		env->fl_txnid = 0;
		env->rc_valid = false;
		rc = fl_load(env, txn->map, &txn->st, &env->fl);
		if (rc)
			goto fail;
		env->fl_txnid = txn->st.txnid;
	}
	txn->fl = &env->fl;
	rc = snap_load_txids(txn, &txn->st.snaps, &txn->snaptx,
	                     &txn->nsnaptx);
	if (rc)
		goto fail;
	rc = fl_reclaim(txn);
	if (rc)
		goto fail;
	fl_log_begin(txn->fl);
	txn->lg.off = !txn->st.log_open || !txn->st.log_npages;
	txn->base_catalog = txn->st.catalog;
	txn->base_txnid = txn->st.txnid;
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

	if (!txn)
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

	if (!txn)
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
	if (rc)
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
	if (rc)
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
	rc = pager_write_dirty(txn);
	if (rc == 0 && fresh)
		rc = log_zero(txn);
	if (rc == -ENOSPC) {
		/* make what is committed durable now, so that the pages the
		 * commits before this one freed can be reused at once */
		env->short_of_space = txn->st.next_pgno;
		if (atomic_load(&env->sh->durable_txnid) < txn->base_txnid)
			(void)txn_sync_locked(env, true);
	}
	if (rc)
		goto fail;

	slot = atomic_load(&env->sh->durable_slot) ? 0 : 1;
	rc = txn_write_meta(env, &txn->st, slot);
	if (rc) {
		env->fatal = true;
		kv_set_err(rc, "%s: writing the commit record: %s", env->path,
		           kv_strerror(rc));
		goto fail;
	}
	if (ckpt) {
		rc = env->io->sync(env->io->ctx, env->fd);
		if (rc) {
			env->fatal = true;
			kv_set_err(rc, "%s: fsync failed: %s", env->path,
			           kv_strerror(rc));
			goto fail;
		}
	} else if (logged) {
		bool durable = txn->durability == KV_DURABLE_IMMEDIATE;
		rc = log_append(txn, rec_off, durable);
		if (rc) {
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
		if (rc) {
			env->fatal = true;
			return kv_set_err(rc, "%s: writing the commit log: %s",
			                  env->path, kv_strerror(rc));
		}
		shared_publish(env, &cur, atomic_load(&env->sh->cur_slot));
		return 0;
	}
	rc = env->io->sync(env->io->ctx, env->fd);
	if (rc) {
		env->fatal = true;
		return kv_set_err(rc, "%s: fsync failed: %s", env->path,
		                  kv_strerror(rc));
	}
	atomic_store(&env->sh->durable_slot, atomic_load(&env->sh->cur_slot));
	atomic_store(&env->sh->durable_txnid, cur.txnid);
	return 0;
}

static int env_sync(kv_env *env, bool full)
{
	int rc;

	if (env->flags & KV_RDONLY)
		return 0;
	if (env->fatal)
		return kv_set_err(KV_EFATAL, "%s: an earlier I/O error left "
		                  "the state unknown; reopen it", env->path);
	pthread_mutex_lock(&env->wmu);
	if (!env->private_lock) {
		rc = os_lock(env->lfd, LOCK_WRITER, true, true);
		if (rc) {
			pthread_mutex_unlock(&env->wmu);
			return rc;
		}
	}
	rc = txn_sync_locked(env, full);
	if (!env->private_lock)
		os_unlock(env->lfd, LOCK_WRITER);
	pthread_mutex_unlock(&env->wmu);
	return rc;
}

KV_API int kv_env_sync(kv_env *env)
{
	return env_sync(env, false);
}

KV_API int kv_env_checkpoint(kv_env *env)
{
	return env_sync(env, true);
}

static void stat_fill(kv_env *env, struct kv_stat *st, const struct state *s)
{
	uint64_t size = 0;

	os_file_size(env->fd, &size);
	st->page_size = KV_PAGE_SIZE;
	st->file_size = size;
	st->pages_total = s->next_pgno;
	st->txnid = s->txnid;
	st->durable_txnid = atomic_load(&env->sh->durable_txnid);
	if (s->log_durable > st->durable_txnid)
		st->durable_txnid = s->log_durable;
	st->commit_time_ns = s->time_ns;
	st->tables = s->catalog.count;
	st->snapshots = s->snaps.count;
	st->rolled_back_txnid = env->rolled_back;
	st->recovered = env->recovered;
	st->log_size = s->log_npages * KV_PAGE_SIZE;
	st->log_used = s->log_tail;
	st->readers = readers_count(env);
}

KV_API int kv_env_stat(kv_env *env, struct kv_stat *st)
{
	kv_txn *txn;
	struct flstate f;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = txn_begin_read_state(env, &txn);
	if (rc == KV_EREADERS) {
		/* No slot to pin the freelist with: report the rest, and the
		 * free counts only when this process holds them for the
		 * current state. */
		struct state s;
		shared_read_state(env, &s);
		stat_fill(env, st, &s);
		if (pthread_mutex_trylock(&env->wmu) == 0) {
			if (env->fl_txnid == s.txnid) {
				st->pages_free = fl_ready_pages(&env->fl);
				st->pages_pending = fl_pending_pages(&env->fl);
			}
			pthread_mutex_unlock(&env->wmu);
		}
		return 0;
	}
	if (rc)
		return rc;
	stat_fill(env, st, &txn->st);
	/* the writer's own free state, when it is this state's, is cheap */
	if (pthread_mutex_trylock(&env->wmu) == 0) {
		bool mine = env->fl_txnid == txn->st.txnid;
		if (mine) {
			st->pages_free = fl_ready_pages(&env->fl);
			st->pages_pending = fl_pending_pages(&env->fl);
		}
		pthread_mutex_unlock(&env->wmu);
		if (mine) {
			kv_txn_abort(txn);
			st->readers = readers_count(env);
			return 0;
		}
	}
	rc = fl_load(env, txn->map, &txn->st, &f);
	if (rc) {
		kv_txn_abort(txn);
		return rc;
	}
	st->pages_free = fl_ready_pages(&f);
	st->pages_pending = fl_pending_pages(&f);
	fl_release(&f);
	kv_txn_abort(txn);
	st->readers = readers_count(env);
	return 0;
}
