/*
 * notify: kernel cache invalidation from a dedicated thread.  The
 * fuse_lowlevel_notify_* calls write to the same /dev/fuse channel the
 * handlers reply on, and the kernel may be holding locks while it waits
 * for a handler; calling them from a handler can deadlock (libfuse#341).
 * Handlers only queue an inode number here.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdlib.h>

#include "fs.h"
#include "inode.h"

#define NOTIFY_QMAX 4096

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct fuse_session *se;
	uint64_t q[NOTIFY_QMAX];
	size_t head, count;
	bool all; /* invalidate every inode (notify_everything) */
	bool stop, running;
} nq = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .cond = PTHREAD_COND_INITIALIZER };

struct ino_list {
	uint64_t *ino;
	size_t n, cap;
	bool failed;
};

static void collect_ino(struct fs_inode *in, void *ctx)
{
	struct ino_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		uint64_t *ni = realloc(l->ino, cap * sizeof *ni);

		if (ni == NULL) {
			l->failed = true;
			return;
		}
		l->ino = ni;
		l->cap = cap;
	}
	l->ino[l->n++] = in->ino;
}

/* Drop the kernel's attributes and pages of ino; once done, the inode
 * may use the page cache again if nothing changed it meanwhile.  -ENOENT
 * from the kernel means it does not hold the inode: as good. */
static void invalidate(uint64_t ino)
{
	uint64_t seq = itab_kseq(ino);

	(void)fuse_lowlevel_notify_inval_inode(nq.se, ino, 0, 0);
	itab_kclean(ino, seq);
}

/* Every inode the kernel may cache, root included.  Taken as a list
 * first: the table lock is never held across a notification. */
static void invalidate_all(void)
{
	struct ino_list l = { 0 };

	itab_each(collect_ino, &l);
	for (size_t i = 0; i < l.n; i++)
		invalidate(l.ino[i]);
	free(l.ino);
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
			pthread_mutex_lock(&nq.lock);
			continue;
		}
		ino = nq.q[nq.head];
		nq.head = (nq.head + 1) % NOTIFY_QMAX;
		nq.count--;
		pthread_mutex_unlock(&nq.lock);
		invalidate(ino);
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

void notify_inode(uint64_t ino)
{
	pthread_mutex_lock(&nq.lock);
	if (nq.running && !nq.stop) {
		bool queued = false;

		for (size_t i = 0; i < nq.count; i++)
			if (nq.q[(nq.head + i) % NOTIFY_QMAX] == ino)
				queued = true;
		if (!queued && nq.count < NOTIFY_QMAX) {
			nq.q[(nq.head + nq.count) % NOTIFY_QMAX] = ino;
			nq.count++;
			pthread_cond_signal(&nq.cond);
		}
	}
	pthread_mutex_unlock(&nq.lock);
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
