/*
 * readers.c: the lock file, "DB-lock", shared by every process that has the
 * database open.
 *
 *   page 0   struct shared: the current committed state under a sequence
 *            lock, the meta slot holding it, and the last durable commit
 *   page 1.. reader slots, one cache line each: owning pid and the txnid the
 *            reader sees (0 when idle)
 *
 * Byte locks on the lock file (open-file-description locks, see os_posix.c):
 *   LOCK_INIT    exclusive while a process sets the file up
 *   LOCK_ALIVE   shared by every open environment; whoever can take it
 *                exclusively is alone and (re)initializes the file
 *   LOCK_WRITER  the write transaction
 *   LOCK_SERVER  kv_env_lock_exclusive()
 *   LOCK_SLOT0+i held while reader slot i is claimed; a slot whose byte is
 *                unlocked belongs to a process that died and is cleared
 *
 * A reader claims a slot once and keeps it pooled in its kv_env.  To begin,
 * it stores the txnid it read in the slot, then reads the state again: if a
 * commit happened in between it retries, so a writer scanning the slots can
 * never miss a reader of a state whose pages it is about to reuse.
 *
 * Readers without the lock file.  The lock file is created 0600: another
 * user allowed to read the database cannot open it, and on read-only media
 * nobody can.  Such a reader (a KV_RDONLY open, private_lock) keeps its
 * slots in private memory, reads the committed state from the meta slots
 * (txn_current_state()), and registers where every reader can: a shared
 * byte lock on the database file itself, a "pin", at PIN_BYTE(txnid) for
 * each txnid its slots hold.  The protocol is the same: store the txnid in
 * the slot and take the pin, then read the state again.  A writer adds the
 * txnids of all pins to those of the slots (pins_collect()), so it reuses
 * no page a pinned state reaches.  Pins lie an even number of bytes apart,
 * so that the kernel never merges two of one reader into one lock, and far
 * past the end of any database file.  Where the file cannot be locked the
 * open fails with KV_ENOREADER, unless the file system is read-only: then
 * nobody writes the store, and nothing needs pinning.
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

#define SH_MAGIC 0x4b434f4c53434343ull
#define SH_VERSION 2u

_Static_assert(sizeof(struct shared) <= 4096, "shared header fits a page");
_Static_assert(sizeof(struct state) <= sizeof(((struct shared *)0)->st),
               "state fits the published words");
_Static_assert(sizeof(struct rslot) == 64, "reader slot is a cache line");

static size_t lock_file_size(void)
{
	return 4096 + (size_t)KV_READER_SLOTS * sizeof(struct rslot);
}

/* ---- pins: readers without the lock file ------------------------------ */

#define PIN_BASE ((off_t)1 << 61)
#define PIN_MAX_TXNID ((uint64_t)1 << 60)
#define PIN_END (PIN_BASE + 2 * (off_t)PIN_MAX_TXNID) /* excluded */
#define PIN_BYTE(t) (PIN_BASE + 2 * (off_t)(t))
/* txnids honoured of one lock that is not a pin (wider than a byte) */
#define PIN_RANGE_MAX 4096u

static int pin_take(kv_env *env, uint64_t txnid)
{
	int rc = txnid < PIN_MAX_TXNID
	                 ? os_lock(env->fd, PIN_BYTE(txnid), false, false)
	                 : -EOVERFLOW;
	char why[128];

	if (rc == 0 || os_fs_readonly(env->fd))
		return 0; /* read-only media: nobody writes it */
	snprintf(why, sizeof(why), "%s",
	         rc == KV_EBUSY ? "another process holds a write lock on it"
	                        : kv_strerror(rc));
	return kv_set_err(KV_ENOREADER,
	                  "%s: cannot register as a reader: %s cannot be "
	                  "written by you, and locking %s failed (%s)",
	                  env->path, env->lockpath, env->path, why);
}

/* Drop the pin of txnid unless another slot of env holds it; under mu. */
static void pin_drop(kv_env *env, uint64_t txnid)
{
	uint32_t i, hw = atomic_load(&env->sh->slots_hw);

	if (txnid == 0 || txnid >= PIN_MAX_TXNID)
		return;
	for (i = 0; i < hw && i < KV_READER_SLOTS; i++)
		if (atomic_load(&env->slots[i].txnid) == txnid)
			return;
	os_unlock(env->fd, PIN_BYTE(txnid));
}

static int add_txnid(uint64_t **v, size_t *cnt, size_t *cap, uint64_t tx)
{
	if (*cnt == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*cnt)++] = tx;
	return 0;
}

/*
 * The txnids of every pin on the database file, added to v.  The kernel
 * names one conflicting lock per query, so the range is split around each
 * lock found until no part of it holds another.  A file system without
 * byte locks has no pins.
 */
static int pins_collect(kv_env *env, uint64_t **v, size_t *cnt, size_t *cap)
{
	off_t *todo = NULL, at, n;
	size_t ntodo = 0, ctodo = 0;
	int rc = 0;

#define PUSH(lo, hi)                                                 \
	do {                                                         \
		if (ntodo + 2 > ctodo) {                             \
			size_t nc = ctodo ? ctodo * 2 : 16;          \
			off_t *nt = realloc(todo, nc * sizeof(*nt)); \
			if (nt == NULL) {                            \
				rc = -ENOMEM;                        \
				goto out;                            \
			}                                            \
			todo = nt;                                   \
			ctodo = nc;                                  \
		}                                                    \
		todo[ntodo++] = (lo);                                \
		todo[ntodo++] = (hi);                                \
	} while (0)

	PUSH(PIN_BASE, PIN_END - 1);
	while (ntodo > 0) {
		off_t hi = todo[--ntodo], lo = todo[--ntodo], first, last, b;
		unsigned taken = 0;

		if (os_lock_find(env->fd, lo, hi - lo + 1, &at, &n) <= 0)
			continue;
		first = at > lo ? at : lo;
		last = n == 0 || at + n - 1 > hi ? hi : at + n - 1;
		for (b = first + ((first - PIN_BASE) & 1);
		     b <= last && taken < PIN_RANGE_MAX; b += 2, taken++) {
			rc = add_txnid(v, cnt, cap,
			               (uint64_t)(b - PIN_BASE) / 2);
			if (rc != 0)
				goto out;
		}
		if (first > lo)
			PUSH(lo, first - 1);
		if (last < hi)
			PUSH(last + 1, hi);
	}
#undef PUSH
out:
	free(todo);
	return rc;
}

int reader_slot_set(kv_env *env, struct rslot *slot, uint64_t txnid)
{
	uint64_t old;
	int rc = 0;

	if (!env->private_lock) {
		atomic_store(&slot->txnid, txnid);
		return 0;
	}
	pthread_mutex_lock(&env->mu);
	old = atomic_load(&slot->txnid);
	if (old != txnid) {
		rc = txnid ? pin_take(env, txnid) : 0;
		if (rc == 0) {
			atomic_store(&slot->txnid, txnid);
			pin_drop(env, old);
		}
	}
	pthread_mutex_unlock(&env->mu);
	return rc;
}

void shared_read_state(kv_env *env, struct state *s)
{
	struct shared *sh = env->sh;
	uint64_t words[sizeof(struct state) / 8 + 1];
	uint64_t s1, s2;
	size_t i, n = (sizeof(struct state) + 7) / 8;

	for (;;) {
		s1 = atomic_load_explicit(&sh->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		for (i = 0; i < n; i++)
			words[i] = atomic_load_explicit(&sh->st[i],
			                                memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&sh->seq, memory_order_relaxed);
		if (s1 == s2)
			break;
	}
	memcpy(s, words, sizeof(*s));
}

void shared_publish(kv_env *env, const struct state *s, uint64_t slot)
{
	struct shared *sh = env->sh;
	uint64_t words[sizeof(struct state) / 8 + 1];
	size_t i, n = (sizeof(struct state) + 7) / 8;
	uint64_t seq = atomic_load_explicit(&sh->seq, memory_order_relaxed);

	memset(words, 0, sizeof(words));
	memcpy(words, s, sizeof(*s));
	atomic_store_explicit(&sh->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < n; i++)
		atomic_store_explicit(&sh->st[i], words[i],
		                      memory_order_relaxed);
	atomic_store_explicit(&sh->cur_slot, slot, memory_order_relaxed);
	atomic_store_explicit(&sh->seq, seq + 2, memory_order_release);
}

/* Open the lock file, creating it when missing (env->lock_created says
 * whether this call did); 0 or -errno, with *creating telling which of
 * the two opens failed.  Never through a symlink: a planted link must not
 * make us create or overwrite a file elsewhere. */
static int lock_file_open(kv_env *env, bool *creating)
{
	for (int i = 0; i < 100; i++) {
		*creating = true;
		env->lfd =
		        open(env->lockpath,
		             O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		             0600);
		env->lock_created = env->lfd >= 0;
		if (env->lfd >= 0 || errno != EEXIST)
			break;
		*creating = false;
		env->lfd = open(env->lockpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (env->lfd >= 0 || errno != ENOENT)
			break;
		/* removed between the two opens: create it after all */
	}
	return env->lfd >= 0 ? 0 : -errno;
}

/*
 * The error of a lock file that would not open (-errno err).  A folder
 * that is missing or cannot be searched, or a name too long for the store
 * itself, is the store's problem and named as such; anything else is the
 * lock file's, and the message names the lock file.
 */
static int lock_file_error(kv_env *env, int err, bool creating)
{
	struct stat sb;

	if (stat(env->path, &sb) != 0 && (errno != ENOENT || err == -ENOENT))
		return kv_set_err(-errno, "%s: %s", env->path, strerror(errno));
	return kv_set_err(err, "%s: cannot %s the lock file: %s", env->lockpath,
	                  creating ? "create" : "open", strerror(-err));
}

/* Whether the lock file open as env->lfd has been removed: by a first
 * opener that failed (readers_discard()) while this one waited. */
static bool lock_file_removed(kv_env *env)
{
	struct stat sb;

	return fstat(env->lfd, &sb) == 0 && sb.st_nlink == 0;
}

/* Map the lock file as env->sh. */
static int lock_file_map(kv_env *env, size_t size)
{
	env->sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, env->lfd,
	               0);
	if (env->sh == MAP_FAILED) {
		env->sh = NULL;
		return -errno;
	}
	env->sh_size = size;
	env->slots = (struct rslot *)((uint8_t *)env->sh + 4096);
	return 0;
}

int readers_open(kv_env *env)
{
	size_t size = lock_file_size();
	bool creating;
	int rc, tries = 0;

	env->pid = (uint32_t)getpid();
again:
	rc = lock_file_open(env, &creating);
	if (rc != 0 && (env->flags & KV_RDONLY)) {
		/* Not ours to write, or read-only media: a reader with pins
		 * (see the top), its slots in private memory. */
		env->private_lock = true;
		env->sh = calloc(1, size);
		if (!env->sh)
			return -ENOMEM;
		env->sh_size = size;
		env->slots = (struct rslot *)((uint8_t *)env->sh + 4096);
		env->sh->nslots = KV_READER_SLOTS;
		return 1; /* caller initializes the state */
	}
	if (rc != 0)
		return lock_file_error(env, rc, creating);
	rc = os_lock(env->lfd, LOCK_INIT, true, true);
	if (rc != 0)
		return kv_set_err(rc, "%s: %s", env->lockpath, kv_strerror(rc));
	if (lock_file_removed(env)) {
		close(env->lfd); /* drops LOCK_INIT */
		env->lfd = -1;
		if (++tries < 100)
			goto again;
		return kv_set_err(-EAGAIN,
		                  "%s: the lock file was removed again and "
		                  "again while it was opened",
		                  env->lockpath);
	}
	rc = os_lock(env->lfd, LOCK_ALIVE, true, false);
	if (rc == 0)
		return 1; /* alone: readers_setup() once the store opened */
	if (rc != KV_EBUSY)
		goto out;
	rc = lock_file_map(env, size);
	if (rc != 0)
		goto out;
	if (env->sh->magic != SH_MAGIC || env->sh->version != SH_VERSION) {
		rc = kv_set_err(KV_EVERSION,
		                "%s: lock file of another version "
		                "is in use",
		                env->lockpath);
		goto out;
	}
	rc = os_lock(env->lfd, LOCK_ALIVE, false, true);
out:
	if (rc < 0 && !kv_is_kv_error(rc))
		kv_set_err(rc, "%s: %s", env->lockpath, strerror(-rc));
	os_unlock(env->lfd, LOCK_INIT);
	return rc;
}

int readers_setup(kv_env *env)
{
	size_t size = lock_file_size();
	uint64_t cur = 0;
	int rc;

	if (env->private_lock)
		return 0;
	rc = os_file_size(env->lfd, &cur);
	if (rc == 0 && cur != size &&
	    (rc = env->io->truncate(env->io->ctx, env->lfd, 0)) == 0)
		rc = env->io->truncate(env->io->ctx, env->lfd, size);
	if (rc == 0)
		rc = lock_file_map(env, size);
	if (rc != 0)
		return kv_set_err(rc, "%s: %s", env->lockpath, kv_strerror(rc));
	memset(env->sh, 0, size);
	env->sh->magic = SH_MAGIC;
	env->sh->version = SH_VERSION;
	env->sh->nslots = KV_READER_SLOTS;
	return 0;
}

void readers_discard(kv_env *env)
{
	if (env->private_lock)
		return;
	if (env->lock_created)
		(void)unlink(env->lockpath);
	os_unlock(env->lfd, LOCK_INIT);
}

int readers_init_done(kv_env *env)
{
	int rc;

	if (env->private_lock)
		return 0;
	rc = os_lock(env->lfd, LOCK_ALIVE, false, true); /* downgrade */
	os_unlock(env->lfd, LOCK_INIT);
	return rc;
}

void readers_close(kv_env *env)
{
	size_t i;

	for (i = 0; i < env->npool; i++) {
		struct rslot *s = env->pool[i];
		atomic_store(&s->txnid, 0);
		atomic_store(&s->pid, 0);
		if (!env->private_lock)
			os_unlock(env->lfd,
			          LOCK_SLOT0 + (off_t)(s - env->slots));
	}
	free(env->pool);
	env->pool = NULL;
	env->npool = 0;
	if (env->sh) {
		if (env->private_lock)
			free(env->sh);
		else
			munmap(env->sh, env->sh_size);
	}
	env->sh = NULL;
	if (env->lfd >= 0)
		close(env->lfd); /* drops every lock of this env */
	env->lfd = -1;
}

static int slot_claim(kv_env *env, struct rslot **out)
{
	uint32_t pid = env->pid;
	uint32_t i;

	for (i = 0; i < env->sh->nslots && i < KV_READER_SLOTS; i++) {
		struct rslot *s = &env->slots[i];
		uint32_t zero = 0;

		if (atomic_load_explicit(&s->pid, memory_order_relaxed))
			continue;
		if (!atomic_compare_exchange_strong(&s->pid, &zero, pid))
			continue;
		if (!env->private_lock &&
		    os_lock(env->lfd, LOCK_SLOT0 + (off_t)i, true, false)) {
			/* a process still holds it: its pid write is racing */
			atomic_store(&s->pid, 0);
			continue;
		}
		atomic_store(&s->txnid, 0);
		uint32_t hw = atomic_load(&env->sh->slots_hw);
		while (hw < i + 1 && !atomic_compare_exchange_weak(
		                             &env->sh->slots_hw, &hw, i + 1))
			;
		*out = s;
		return 0;
	}
	return kv_set_err(KV_EREADERS, "all %u reader slots are in use",
	                  KV_READER_SLOTS);
}

int reader_slot_get(kv_env *env, struct rslot **out)
{
	int rc = 0;

	pthread_mutex_lock(&env->mu);
	if (env->npool > 0) {
		*out = env->pool[--env->npool];
	} else {
		rc = slot_claim(env, out);
		if (rc == 0 && env->cpool == 0) {
			env->pool = calloc(16, sizeof(*env->pool));
			env->cpool = env->pool ? 16 : 0;
		}
	}
	pthread_mutex_unlock(&env->mu);
	return rc;
}

void reader_slot_put(kv_env *env, struct rslot *slot)
{
	uint64_t old;

	pthread_mutex_lock(&env->mu);
	old = atomic_exchange(&slot->txnid, 0);
	if (env->private_lock)
		pin_drop(env, old);
	if (env->npool == env->cpool) {
		size_t nc = env->cpool ? env->cpool * 2 : 16;
		struct rslot **np = realloc(env->pool, nc * sizeof(*np));
		if (np == NULL) {
			/* keep the slot claimed but idle; it is freed at close */
			pthread_mutex_unlock(&env->mu);
			return;
		}
		env->pool = np;
		env->cpool = nc;
	}
	env->pool[env->npool++] = slot;
	pthread_mutex_unlock(&env->mu);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int readers_collect(kv_env *env, uint64_t **out, size_t *n)
{
	uint32_t me = env->pid;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	uint32_t i, hw = atomic_load(&env->sh->slots_hw);

	for (i = 0; i < hw && i < KV_READER_SLOTS; i++) {
		struct rslot *s = &env->slots[i];
		uint32_t pid = atomic_load(&s->pid);
		uint64_t tx;

		if (!pid)
			continue;
		tx = atomic_load(&s->txnid);
		if (!tx)
			continue;
		if (pid != me && !env->private_lock &&
		    !os_lock_held(env->lfd, LOCK_SLOT0 + (off_t)i)) {
			/* its process died while reading */
			atomic_store(&s->txnid, 0);
			atomic_store(&s->pid, 0);
			continue;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = tx;
	}
	if (!env->private_lock) {
		int rc = pins_collect(env, &v, &cnt, &cap);
		if (rc != 0) {
			free(v);
			return rc;
		}
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

uint64_t readers_count(kv_env *env)
{
	uint64_t n = 0, *v = NULL;
	size_t cnt = 0, cap = 0;
	uint32_t i;

	for (i = 0; i < KV_READER_SLOTS; i++)
		if (atomic_load(&env->slots[i].pid) &&
		    atomic_load(&env->slots[i].txnid))
			n++;
	/* pinned readers, once for each commit each reads */
	if (!env->private_lock && pins_collect(env, &v, &cnt, &cap) == 0)
		n += cnt;
	free(v);
	return n;
}
