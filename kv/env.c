/*
 * env.c: the environment's lifecycle: open, the recovery the first opener
 * runs, close, sync, checkpoint and stat.
 *
 * The first process to open a store (the one that initializes the lock
 * file, readers.c) recovers it before it lets others in:
 *   1. pick_meta() takes the newest meta slot whose commit is whole:
 *      check_recent() (check.c) verifies every page written after the
 *      other slot's commit, and when one fails the other slot, which is
 *      intact (txn.c says why), is taken instead;
 *   2. a read-write open syncs the file, so that the slot chosen can be
 *      the fallback of the next commit;
 *   3. the state is published in the lock file, and the next txnid is
 *      moved past any that a power loss may have left on the disk
 *      (kv_int.h: txn_floor);
 *   4. the commits the log holds after that state are repeated, all in
 *      one checkpoint (replay_log below; the log's format is log.c's).
 * Later openers take the state the lock file publishes.  A read-only open
 * of a store with logged commits to repeat first opens it read-write to
 * repeat them.  A reader that cannot write the lock file (readers.c) is
 * always alone in it: it makes the same choice, with the commits of both
 * slots pinned first, since a writer may be at work (pick_meta_pinned).
 *
 * kv_env_sync() makes the current state durable, through the log while it
 * holds every commit since the last checkpoint; kv_env_checkpoint() always
 * syncs the file.  Both take the writer lock and leave the work to
 * txn_sync_locked(), which commits also use.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_int.h"

/* ---- the file and its meta slots -------------------------------------- */

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
	if (rc != 0)
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
		return kv_set_err(-EISDIR,
		                  "%s: is a directory, not a "
		                  "database file",
		                  path);
	if (!S_ISREG(sb.st_mode))
		return kv_set_err(KV_ENOTDB, "%s: not a regular file", path);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return 0;
}

/*
 * Recovery: choose the newest meta slot of m whose commit is whole.  Sets
 * *slot_out to the slot chosen.
 */
static int choose_meta(kv_env *env, const struct metas *m, struct state *out,
                       uint64_t *slot_out)
{
	const int *k = m->kind;
	const struct state *s = m->s;
	int first, rc;
	uint64_t size;

	/* the size after the slots: a writer grows the file before a
	 * commit's meta names the new pages */
	rc = os_file_size(env->fd, &size);
	if (rc != 0)
		return rc;
	if (size < 2 * KV_PAGE_SIZE)
		return kv_set_err(KV_ENOTDB,
		                  "%s: file too small to be a "
		                  "database (%llu bytes)",
		                  env->path, (unsigned long long)size);
	/* A newer version with our checksum is newer.  One whose checksum
	 * fails may be a newer format or a damaged field: newer only when
	 * the other slot does not open either. */
	if (k[0] == META_NEWER || k[1] == META_NEWER ||
	    (k[0] == META_NEWER_BADSUM && k[1] != META_OK) ||
	    (k[1] == META_NEWER_BADSUM && k[0] != META_OK))
		return kv_set_err(KV_EVERSION,
		                  "%s: written by a newer format "
		                  "version; upgrade cccfs to open it",
		                  env->path);
	if (k[0] == META_ABSENT && k[1] == META_ABSENT)
		return kv_set_err(KV_ENOTDB, "%s: not a cccfs database",
		                  env->path);
	first = -1;
	if (k[0] == META_OK && k[1] == META_OK)
		first = s[0].txnid >= s[1].txnid ? 0 : 1;
	else if (k[0] == META_OK)
		first = 0;
	else if (k[1] == META_OK)
		first = 1;
	if (first < 0)
		return kv_set_err(KV_ECORRUPT,
		                  "%s: both meta pages are "
		                  "damaged",
		                  env->path);

	int order[2] = { first, 1 - first };
	for (int j = 0; j < 2; j++) {
		int i = order[j];
		uint64_t min;
		if (k[i] != META_OK)
			continue;
		/* in pages: a damaged slot's next_pgno * KV_PAGE_SIZE can
		 * wrap around and pass for a small file */
		if (s[i].next_pgno > size / KV_PAGE_SIZE) {
			kv_set_err(KV_ECORRUPT,
			           "%s: file is truncated: commit "
			           "%llu needs %llu pages, the file has %llu "
			           "bytes",
			           env->path, (unsigned long long)s[i].txnid,
			           (unsigned long long)s[i].next_pgno,
			           (unsigned long long)size);
			rc = KV_ECORRUPT;
			continue;
		}
		/* the file may have grown since the open mapped it */
		rc = pager_map(env, s[i].next_pgno * KV_PAGE_SIZE);
		if (rc != 0)
			return rc;
		/* pages newer than the other slot must all be whole */
		min = (k[1 - i] == META_OK && s[1 - i].txnid < s[i].txnid)
		              ? s[1 - i].txnid
		              : 0;
		rc = check_recent(env, env->map, &s[i], min);
		if (rc == 0) {
			*out = s[i];
			*slot_out = (uint64_t)i;
			if (i != first && k[first] == META_OK)
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

static int pick_meta(kv_env *env, struct state *out, uint64_t *slot_out)
{
	struct metas m;
	int rc = pager_read_metas(env, &m);

	return rc != 0 ? rc : choose_meta(env, &m, out, slot_out);
}

/*
 * pick_meta() for a reader without the lock file (readers.c: pins).  The
 * store may be live: a writer may rewrite a slot, and reuse the pages of
 * its commit, while recovery verifies them.  So the commits of both slots
 * are pinned first, and the pick stands only when the slots read the same
 * after the pins are in place: from then on no writer reuses a page that
 * either commit reaches.  Logged commits after the state picked are a
 * crash's, which recovery must repeat (*pending), only while the slots
 * stay as they were; once they changed, a live writer committed them, and
 * the state picked is an older commit, intact and pinned.  The slots as
 * read are kept for txn_current_state().
 */
static int pick_meta_pinned(kv_env *env, struct state *out, uint64_t *slot,
                            uint64_t *pending)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct rslot *pin[2] = { NULL, NULL };
		struct metas a, b;
		bool done = false;
		int rc = pager_read_metas(env, &a);

		for (int i = 0; i < 2 && rc == 0; i++) {
			if (a.kind[i] != META_OK)
				continue;
			rc = reader_slot_get(env, &pin[i]);
			if (rc == 0)
				rc = reader_slot_set(env, pin[i],
				                     a.s[i].txnid ? a.s[i].txnid
				                                  : 1);
		}
		if (rc == 0)
			rc = pager_read_metas(env, &b);
		if (rc == 0 && pager_metas_same(&a, &b)) {
			done = true;
			rc = choose_meta(env, &a, out, slot);
			*pending = rc == 0 ? log_pending(env, out) : 0;
			if (*pending && pager_read_metas(env, &b) == 0 &&
			    !pager_metas_same(&a, &b))
				*pending = 0;
			env->seen = a;
			env->seen_newest = 0;
			for (int i = 0; i < 2; i++)
				if (a.kind[i] == META_OK &&
				    a.s[i].txnid > env->seen_newest)
					env->seen_newest = a.s[i].txnid;
		}
		for (int i = 0; i < 2; i++)
			if (pin[i])
				reader_slot_put(env, pin[i]);
		if (rc != 0 || done)
			return rc;
		sched_yield();
	}
	return kv_set_err(KV_EBUSY,
	                  "%s: its commits came too fast to pick one to "
	                  "read; try again",
	                  env->path);
}

/* ---- replaying the commit log ----------------------------------------- */

static int bad_record(uint64_t txnid, const char *what)
{
	return kv_set_err(KV_ECORRUPT, "commit log: record of txn %llu: %s",
	                  (unsigned long long)txnid, what);
}

/* Apply one record's operations in txn. */
static int replay_ops(kv_txn *txn, const struct log_rec *r)
{
	const uint8_t *p = r->ops, *end = r->ops + r->len;
	char name[KV_MAX_NAME + 1];
	kv_table *t;
	int rc = 0;

	while (rc == 0 && p < end) {
		uint8_t op = *p++;
		size_t nl;
		kv_val k = { NULL, 0 }, v = { NULL, 0 };

		if (end - p < 1 || (nl = *p++) == 0 || (size_t)(end - p) < nl)
			return bad_record(r->txnid, "table name cut short");
		memcpy(name, p, nl);
		name[nl] = 0;
		p += nl;
		if (op == LOP_PUT || op == LOP_DEL) {
			if (end - p < 2 || (size_t)(end - p - 2) < get16(p))
				return bad_record(r->txnid, "key cut short");
			k.len = get16(p);
			k.data = p + 2;
			p += 2 + k.len;
		}
		if (op == LOP_PUT) {
			if (end - p < 4 || (size_t)(end - p - 4) < get32(p))
				return bad_record(r->txnid, "value cut short");
			v.len = get32(p);
			v.data = p + 4;
			p += 4 + v.len;
		}
		switch (op) {
		case LOP_PUT:
			rc = kv_table_open(txn, name, KV_TABLE_CREATE, &t);
			if (rc == 0)
				rc = kv_put(txn, t, k, v, 0);
			break;
		case LOP_DEL:
			rc = kv_table_open(txn, name, 0, &t);
			if (rc == 0)
				rc = kv_del(txn, t, k);
			break;
		case LOP_CREATE:
			rc = kv_table_open(txn, name, KV_TABLE_CREATE, &t);
			break;
		case LOP_DROP:
			rc = kv_table_drop(txn, name);
			break;
		default:
			return bad_record(r->txnid, "unknown operation");
		}
		if (rc == KV_ENOTFOUND)
			return bad_record(r->txnid,
			                  "deletes what is not there");
	}
	return rc;
}

/*
 * Repeat the logged commits after the current state, all in one commit
 * that is a checkpoint: a crash while recovering leaves the store as it
 * was, log included, and the next opener starts again.  Called by the
 * first opener before others are let in; *n is the commits repeated.
 */
static int replay_log(kv_env *env, uint64_t *n)
{
	struct state st;
	uint64_t off, next;
	struct log_rec r;
	kv_txn *txn;
	int rc;

	*n = 0;
	shared_read_state(env, &st);
	rc = kv_txn_begin(env, 0, &txn);
	if (rc != 0)
		return rc;
	txlog_off(txn);
	off = st.log_tail;
	next = st.txnid + 1;
	while (log_next_pending(env->map, &st, &off, &next, &r)) {
		rc = replay_ops(txn, &r);
		if (rc != 0) {
			kv_txn_abort(txn);
			return rc;
		}
		(*n)++;
	}
	txn->checkpoint = true;
	txn->durability = KV_DURABLE_IMMEDIATE;
	return kv_txn_commit(txn);
}

/* ---- opening and closing ---------------------------------------------- */

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
	free(env->reclaim_readers);
	free(env->reclaim_snaps);
	pthread_mutex_destroy(&env->mu);
	pthread_mutex_destroy(&env->wmu);
	free(env->path);
	free(env->lockpath);
	free(env);
}

/* Open the store file: created when flags ask for it, and *created then
 * says whether this open did.  Must be a regular file. */
static int store_file_open(kv_env *env, unsigned flags, int mode, bool *created)
{
	int oflags = (flags & KV_RDONLY) ? O_RDONLY : O_RDWR;

	/* O_NONBLOCK: a FIFO given as the store must not hang the open */
	oflags |= O_CLOEXEC | O_NONBLOCK;
	*created = false;
	if ((flags & KV_CREATE) && !(flags & KV_RDONLY)) {
		env->fd = open(env->path, oflags | O_CREAT | O_EXCL,
		               mode ? mode : 0600);
		*created = env->fd >= 0;
		/* there already, or a symlink to where it is to be */
		if (env->fd < 0 && errno == EEXIST)
			env->fd = open(env->path, oflags | O_CREAT,
			               mode ? mode : 0600);
	} else {
		env->fd = open(env->path, oflags);
	}
	if (env->fd < 0)
		return kv_set_err(-errno, "%s: %s", env->path, strerror(errno));
	return regular_file(env->fd, env->path);
}

/*
 * The lock file is opened before the store file, so that the first opener
 * (alone, holding LOCK_INIT) is the only one that can create the store.
 * When its open fails it removes what it created, the store file and the
 * lock file, before it lets anyone else in; whoever waited for LOCK_INIT
 * then finds the lock file gone and starts again (readers_open()).  So a
 * failed open leaves nothing behind next to a file that is no store, and
 * a store is never created without its lock file.
 */
static int env_open(kv_env **out, const char *path, unsigned flags, int mode,
                    const struct kv_io *io, uint64_t *pending)
{
	kv_env *env;
	uint64_t size;
	bool alone = false, created = false;
	int rc;

	*out = NULL;
	kv_set_err(0, "%s", ""); /* no detail from an earlier call */
	if (path == NULL || !*path)
		return kv_set_err(-EINVAL, "empty database path");
	env = calloc(1, sizeof(*env));
	if (env == NULL)
		return -ENOMEM;
	env->fd = env->lfd = -1;
	env->flags = flags;
	pthread_mutex_init(&env->mu, NULL);
	pthread_mutex_init(&env->wmu, NULL);
	env->io_store = io ? *io : *kv_io_posix();
	env->io = &env->io_store;
	env->path = strdup(path);
	env->lockpath = malloc(strlen(path) + sizeof(KV_LOCK_SUFFIX));
	if (!env->path || !env->lockpath) {
		rc = -ENOMEM;
		goto fail;
	}
	strcpy(env->lockpath, path);
	strcat(env->lockpath, KV_LOCK_SUFFIX);

	rc = readers_open(env);
	if (rc < 0)
		goto fail;
	alone = rc == 1;
	rc = store_file_open(env, flags, mode, &created);
	if (rc == 0 && alone)
		rc = readers_setup(env);
	if (rc != 0)
		goto fail_init;
	rc = os_file_size(env->fd, &size);
	if (rc != 0)
		goto fail_init;
	if (size == 0 && alone && !(flags & KV_RDONLY) && (flags & KV_CREATE)) {
		rc = create_file(env);
		if (rc != 0)
			goto fail_init;
		size = 2 * KV_PAGE_SIZE;
	}
	env->file_size = size;
	rc = pager_map(env, size ? size : KV_PAGE_SIZE);
	if (rc != 0)
		goto fail_init;
	if (alone) {
		struct state st;
		uint64_t slot;
		if (env->private_lock)
			rc = pick_meta_pinned(env, &st, &slot, pending);
		else
			rc = pick_meta(env, &st, &slot);
		if (rc != 0)
			goto fail_init;
		/* Whatever reached the file is now made durable, so the slot
		 * chosen can serve as the fallback of the next commit. */
		if (!(flags & KV_RDONLY) && !env->private_lock) {
			rc = env->io->sync(env->io->ctx, env->fd);
			if (rc != 0)
				goto fail_init;
		}
		shared_publish(env, &st, slot);
		atomic_store(&env->sh->durable_txnid, st.txnid);
		atomic_store(&env->sh->durable_slot, slot);
		/* commits lost after st may have left pages on the disk */
		atomic_store(&env->sh->txn_floor, st.txnid + KV_TXN_GAP);
		/* commits in the log after that one: repeat them (log.c) */
		if (!env->private_lock)
			*pending = log_pending(env, &st);
		if (*pending && ((flags & KV_RDONLY) || env->private_lock)) {
			rc = kv_set_err(KV_EREADONLY,
			                "%s: %llu logged commits "
			                "must be recovered, which needs write "
			                "access",
			                path, (unsigned long long)*pending);
			goto fail_init;
		}
		if (*pending) {
			rc = replay_log(env, &env->recovered);
			if (rc != 0)
				goto fail_init;
		}
		*pending = 0;
		rc = readers_init_done(env);
		if (rc != 0)
			goto fail;
	}
	*out = env;
	return 0;
fail_init:
	if (alone) {
		/* nobody else has seen the store file this open created: the
		 * others wait for LOCK_INIT before they open it */
		if (created)
			(void)unlink(path);
		/* and the lock file is left for the next opener to set up,
		 * unless this open created it */
		readers_discard(env);
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
		if (rc != 0)
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

KV_API int kv_env_open(kv_env **out, const char *path, unsigned flags, int mode)
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
		return kv_set_err(KV_ELOCKED,
		                  "%s is already in use by another "
		                  "process",
		                  env->path);
	if (rc == 0)
		env->server_locked = true;
	return rc;
}

/* ---- sync and stat ---------------------------------------------------- */

static int env_sync(kv_env *env, bool full)
{
	int rc;

	if (env->flags & KV_RDONLY)
		return 0;
	if (env->fatal)
		return kv_set_err(KV_EFATAL,
		                  "%s: an earlier I/O error left "
		                  "the state unknown; reopen it",
		                  env->path);
	pthread_mutex_lock(&env->wmu);
	if (!env->private_lock) {
		rc = os_lock(env->lfd, LOCK_WRITER, true, true);
		if (rc != 0) {
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
	if (rc != 0)
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
	if (rc != 0) {
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
