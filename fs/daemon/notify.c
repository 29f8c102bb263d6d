/*
 * notify: kernel cache invalidation from a dedicated thread.  The
 * fuse_lowlevel_notify_* calls write to the same /dev/fuse channel the
 * handlers reply on, and the kernel may be holding locks while it waits
 * for a handler; calling them from a handler can deadlock (libfuse#341).
 * Handlers only queue an inode number here.
 *
 * Names the kernel holds as absent (the negative entries of fs_lookup)
 * are dropped with every inode when another process changed the store:
 * a record it created (cccfs restore, import) must not stay hidden for
 * the entries' second.  Those entries are remembered for as long as the
 * kernel may keep them, the last MISS_MAX of them.
 *
 * Folder names are expired then, not invalidated: an invalidation would
 * unhash a folder under the processes working in it (their getcwd()
 * fails), where an expired name is only looked up again at its next use,
 * and stays if it is still there.  The kernel can do that since FUSE 7.38
 * (Linux 6.2); libfuse 3.14 has no call for it, so the message is written
 * here.  On an older kernel folder names last a second (fill_entry).
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>

#include "clock.h"
#include "fs.h"
#include "inode.h"
#include "pathmap.h"

#define NOTIFY_QMAX 4096
/* A queued number with this bit: expire the names below that folder */
#define Q_BELOW (1ull << 63)
#define MISS_MAX 1024
#define MISS_KEEP_NS (2 * 1000000000LL) /* twice a negative entry's life */

struct miss {
	uint64_t parent;
	int64_t at; /* clock_mono_ns() */
	char name[PM_NAME_MAX + 1];
};

static struct {
	pthread_mutex_t lock;
	struct miss v[MISS_MAX];
	size_t next;
} misses = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct fuse_session *se;
	uint64_t q[NOTIFY_QMAX];
	size_t head, count;
	bool all; /* invalidate every inode (notify_everything) */
	bool stop, running;
} nq = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* An inode, and the name the kernel may hold for it (parent 0: none),
 * to be expired rather than invalidated if it names a folder. */
struct ino_item {
	uint64_t ino, parent;
	char *name;
	bool expire;
};

static atomic_bool can_expire;

void notify_set_expire(bool can)
{
	atomic_store(&can_expire, can);
}

bool notify_can_expire(void)
{
	return atomic_load(&can_expire);
}

/* The kernel's FUSE_NOTIFY_INVAL_ENTRY with FUSE_EXPIRE_ONLY (its
 * fuse_kernel.h, protocol 7.38). */
#define NOTIFY_INVAL_ENTRY 3
#define EXPIRE_ONLY 1u

static void expire_entry(uint64_t parent, const char *name)
{
	struct {
		uint32_t len;
		int32_t error;
		uint64_t unique;
	} out;
	struct {
		uint64_t parent;
		uint32_t namelen;
		uint32_t flags;
	} arg;
	size_t len = strlen(name);
	struct iovec iov[3] = {
		{ &out, sizeof(out) },
		{ &arg, sizeof(arg) },
		{ (void *)name, len + 1 },
	};

	out.len = (uint32_t)(sizeof(out) + sizeof(arg) + len + 1);
	out.error = NOTIFY_INVAL_ENTRY;
	out.unique = 0;
	arg.parent = parent;
	arg.namelen = (uint32_t)len;
	arg.flags = EXPIRE_ONLY;
	/* -ENOENT: the kernel holds no such name, as good */
	(void)writev(fuse_session_fd(nq.se), iov, 3);
}

struct ino_list {
	struct ino_item *it;
	size_t n, cap;
	bool failed;
};

/* With the table lock held (itab_each). */
static void collect_ino(struct fs_inode *in, void *ctx)
{
	struct ino_list *l = ctx;
	struct ino_item *it;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct ino_item *ni = realloc(l->it, cap * sizeof(*ni));

		if (ni == NULL) {
			l->failed = true;
			return;
		}
		l->it = ni;
		l->cap = cap;
	}
	it = &l->it[l->n++];
	it->ino = in->ino;
	it->parent = 0;
	it->name = NULL;
	it->expire = in->type == S_IFDIR;
	/* a folder's name only where the kernel can expire it (see above) */
	if (in->path && (!it->expire || atomic_load(&can_expire)) &&
	    pm_depth(in->path) >= 2) {
		char *pp = strndup(in->path, pm_parent_len(in->path));
		struct fs_inode *parent = pp ? itab_find_path(pp) : NULL;

		if (parent && (it->name = strdup(pm_basename(in->path))))
			it->parent = parent->ino;
		free(pp);
	}
}

/* Drop the kernel's attributes and pages of ino; once done, the inode
 * may use the page cache again if nothing changed it meanwhile.  -ENOENT
 * from the kernel means it does not hold the inode: as good.  by: who
 * did, for the debug log (NULL: not logged). */
static void invalidate(uint64_t ino, const char *by)
{
	struct kmark m = itab_kmark(ino);
	char *path = NULL;

	(void)fuse_lowlevel_notify_inval_inode(nq.se, ino, 0, 0);
	itab_kclean(ino, m);
	if (by && fs_log_debugging() && itab_path(ino, &path, NULL) == 0)
		fs_log(LOG_DEBUG, "/%s: the kernel's view invalidated %s", path,
		       by);
	free(path);
}

struct below {
	const char *dir; /* the folder's path */
	size_t len;
	char **names;
	size_t n, cap;
};

/* With the table lock held (itab_each): the names known in b->dir. */
static void collect_below(struct fs_inode *in, void *ctx)
{
	struct below *b = ctx;
	char *name;

	if (in->path == NULL || pm_depth(in->path) < 1 ||
	    pm_parent_len(in->path) != b->len ||
	    memcmp(in->path, b->dir, b->len) != 0 ||
	    (in->type == S_IFDIR && !atomic_load(&can_expire)))
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char **nv = realloc(b->names, cap * sizeof(*nv));

		if (nv == NULL)
			return;
		b->names = nv;
		b->cap = cap;
	}
	name = strdup(pm_basename(in->path));
	if (name != NULL)
		b->names[b->n++] = name;
}

/* The kernel asks again for every name it holds in folder dir, so that
 * the folder's new permissions apply to them (perm.c).  A folder's name
 * only where it can be expired (it lasts a second otherwise). */
static void expire_below(uint64_t dir)
{
	struct below b = { 0 };
	char *path = NULL;

	if (itab_path(dir, &path, NULL) != 0)
		return;
	b.dir = path;
	b.len = strlen(path);
	itab_each(collect_below, &b);
	for (size_t i = 0; i < b.n; i++) {
		if (atomic_load(&can_expire))
			expire_entry(dir, b.names[i]);
		else
			(void)fuse_lowlevel_notify_inval_entry(
			        nq.se, dir, b.names[i], strlen(b.names[i]));
		free(b.names[i]);
	}
	free(b.names);
	free(path);
}

/* Every inode the kernel may cache, root included, and the names it may
 * hold for them (another process may have removed or replaced them).
 * Taken as a list first: the table lock is never held across a
 * notification. */
static void invalidate_all(void)
{
	struct ino_list l = { 0 };

	itab_each(collect_ino, &l);
	for (size_t i = 0; i < l.n; i++) {
		struct ino_item *it = &l.it[i];

		invalidate(it->ino, NULL);
		if (it->name && it->expire)
			expire_entry(it->parent, it->name);
		else if (it->name)
			(void)fuse_lowlevel_notify_inval_entry(
			        nq.se, it->parent, it->name, strlen(it->name));
		free(it->name);
	}
	free(l.it);
}

void notify_note_miss(uint64_t parent, const char *name)
{
	size_t len = strlen(name);
	struct miss *m;

	if (len > PM_NAME_MAX)
		return;
	pthread_mutex_lock(&misses.lock);
	m = &misses.v[misses.next];
	misses.next = (misses.next + 1) % MISS_MAX;
	m->parent = parent;
	m->at = clock_mono_ns();
	memcpy(m->name, name, len + 1);
	pthread_mutex_unlock(&misses.lock);
}

/* Drop the negative entries the kernel may still hold.  Copied out
 * first, as invalidate_all() does. */
static void invalidate_misses(void)
{
	struct miss *copy = malloc(sizeof(misses.v));
	int64_t now = clock_mono_ns();
	size_t n = 0;

	if (copy == NULL)
		return;
	pthread_mutex_lock(&misses.lock);
	for (size_t i = 0; i < MISS_MAX; i++)
		if (misses.v[i].parent != 0 &&
		    now - misses.v[i].at < MISS_KEEP_NS)
			copy[n++] = misses.v[i];
	pthread_mutex_unlock(&misses.lock);
	for (size_t i = 0; i < n; i++)
		(void)fuse_lowlevel_notify_inval_entry(nq.se, copy[i].parent,
		                                       copy[i].name,
		                                       strlen(copy[i].name));
	free(copy);
}

static void *notify_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&nq.lock);
	for (;;) {
		uint64_t ino;

		while (nq.count == 0 && !nq.all && !nq.stop)
			pthread_cond_wait(&nq.cond, &nq.lock);
		if (nq.stop)
			break;
		if (nq.all) {
			nq.all = false;
			pthread_mutex_unlock(&nq.lock);
			invalidate_all();
			invalidate_misses();
			pthread_mutex_lock(&nq.lock);
			continue;
		}
		ino = nq.q[nq.head];
		nq.head = (nq.head + 1) % NOTIFY_QMAX;
		nq.count--;
		pthread_mutex_unlock(&nq.lock);
		if (ino & Q_BELOW)
			expire_below(ino & ~Q_BELOW);
		else
			invalidate(ino, "by the notify thread");
		pthread_mutex_lock(&nq.lock);
	}
	pthread_mutex_unlock(&nq.lock);
	return NULL;
}

int notify_start(struct fuse_session *se)
{
	int rc;

	nq.se = se;
	nq.stop = false;
	rc = pthread_create(&nq.thread, NULL, notify_main, NULL);
	if (rc != 0)
		return -rc;
	nq.running = true;
	return 0;
}

static void enqueue(uint64_t ino)
{
	bool wake = false;

	pthread_mutex_lock(&nq.lock);
	if (nq.running && !nq.stop) {
		bool queued = false;

		for (size_t i = 0; i < nq.count; i++)
			if (nq.q[(nq.head + i) % NOTIFY_QMAX] == ino)
				queued = true;
		if (!queued && nq.count < NOTIFY_QMAX) {
			nq.q[(nq.head + nq.count) % NOTIFY_QMAX] = ino;
			nq.count++;
			wake = true;
		} else if (!queued) {
			/* full: never drop one (the kernel trusts its copy for
			 * a minute); invalidate everything instead */
			nq.all = true;
			wake = true;
		}
	}
	pthread_mutex_unlock(&nq.lock);
	/* signalled after the unlock, so that the thread it wakes does not
	 * wait for the lock at once */
	if (wake)
		pthread_cond_signal(&nq.cond);
}

void notify_inode(uint64_t ino)
{
	enqueue(ino);
}

/*
 * From a handler: the kernel touches no page of ino for an invalidation
 * of its attributes alone (a negative offset), so nothing it waits for
 * can need a handler.
 */
void notify_attrs_now(uint64_t ino)
{
	(void)fuse_lowlevel_notify_inval_inode(nq.se, ino, -1, 0);
}

void notify_inode_now(uint64_t ino)
{
	invalidate(ino, "at once");
}

void notify_below(uint64_t ino)
{
	enqueue(ino | Q_BELOW);
}

static void mark_dirty(struct fs_inode *in, void *ctx)
{
	(void)ctx;
	itab_kdirty_locked(in);
}

void notify_everything(void)
{
	/* no handle opens on the page cache until its inode is invalidated */
	itab_each(mark_dirty, NULL);
	pthread_mutex_lock(&nq.lock);
	if (nq.running && !nq.stop) {
		nq.all = true;
		pthread_cond_signal(&nq.cond);
	}
	pthread_mutex_unlock(&nq.lock);
}

void notify_stop(void)
{
	if (!nq.running)
		return;
	pthread_mutex_lock(&nq.lock);
	nq.stop = true;
	pthread_cond_signal(&nq.cond);
	pthread_mutex_unlock(&nq.lock);
	pthread_join(nq.thread, NULL);
	nq.running = false;
}
