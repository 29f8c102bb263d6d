/*
 * loop: the request loop.  One thread reads the kernel's requests and
 * answers at once, itself, those that only read the store (a lookup, an
 * attribute, a listing, a read-only open, read and release): no other
 * thread wakes for them.  On the 2-core VMs cccfs is measured on, a
 * wake-up of another thread costs more than most of these requests take:
 * a warm open+read+close of a file took 34-88 us (median 54) with
 * libfuse's multi-threaded loop, which hands every request to the next
 * of its idle threads, and 30-40 us (median 34) with one thread.
 *
 * The requests that may wait -- a commit (close, fsync, rename, create,
 * setattr...), the disk's flush, the store's write lock held by another
 * process -- go to a pool of POOL_MAX workers, so that a save in flight
 * never holds up a read.  What the reader does inline never waits on
 * anything only it could provide: the releases of writers, the commits
 * and the invalidations a read-only open may wait for (cache.c) come from
 * the workers and the notify thread, and the one notification it sends
 * itself (a prefill) is for an inode no handle can be reading through
 * the page cache.
 *
 * An offloaded request is a copy of the reader's buffer (the next receive
 * reuses it); writes stay inline, so a copy is of a request's header and
 * small arguments only.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"

#define POOL_MAX 8

struct job {
	struct job *next;
	struct fuse_buf buf;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop;
	struct fuse_session *se;
	pthread_t thread[POOL_MAX];
	unsigned nthreads;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER,
	   .cond = PTHREAD_COND_INITIALIZER };

/* Whether the reader may answer the request in buf itself: it reads the
 * store only (or, for a write, fills a handle's buffer). */
static bool answers_inline(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const void *arg = (const char *)buf->mem + sizeof(*in);
	size_t alen = buf->size - sizeof(*in);

	if (buf->size < sizeof(*in))
		return true; /* libfuse answers what it cannot parse */
	switch (in->opcode) {
	case FUSE_LOOKUP:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_GETATTR:
	case FUSE_READLINK:
	case FUSE_READ:
	case FUSE_WRITE:
	case FUSE_STATFS:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_OPENDIR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_RELEASEDIR:
	case FUSE_ACCESS:
	case FUSE_INTERRUPT:
	case FUSE_INIT:
	case FUSE_DESTROY:
		return true;
	case FUSE_OPEN: {
		const struct fuse_open_in *o = arg;

		return alen >= sizeof(*o) &&
		       (o->flags & O_ACCMODE) == O_RDONLY &&
		       !(o->flags & O_TRUNC);
	}
	case FUSE_RELEASE: {
		const struct fuse_release_in *r = arg;

		/* a writer's release may commit what it wrote */
		return alen >= sizeof(*r) && (r->flags & O_ACCMODE) == O_RDONLY;
	}
	default:
		return false;
	}
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct job *j;

		while (pool.head == NULL && !pool.stop)
			pthread_cond_wait(&pool.cond, &pool.lock);
		j = pool.head;
		if (j == NULL)
			break; /* stopped, and nothing left */
		pool.head = j->next;
		if (pool.head == NULL)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.lock);
		fuse_session_process_buf(pool.se, &j->buf);
		free(j->buf.mem);
		free(j);
		pthread_mutex_lock(&pool.lock);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* Hand a copy of buf to the pool; on ENOMEM, answer it here instead. */
static void offload(struct fuse_session *se, const struct fuse_buf *buf)
{
	struct job *j = malloc(sizeof(*j));
	void *mem = j ? malloc(buf->size) : NULL;

	if (mem == NULL) {
		free(j);
		fuse_session_process_buf(se, buf);
		return;
	}
	memcpy(mem, buf->mem, buf->size);
	j->buf = *buf;
	j->buf.mem = mem;
	j->next = NULL;
	pthread_mutex_lock(&pool.lock);
	if (pool.tail)
		pool.tail->next = j;
	else
		pool.head = j;
	pool.tail = j;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

static int pool_start(struct fuse_session *se)
{
	pool.se = se;
	pool.stop = false;
	pool.nthreads = 0;
	for (unsigned i = 0; i < POOL_MAX; i++) {
		int rc = pthread_create(&pool.thread[i], NULL, worker, NULL);

		if (rc != 0) {
			if (i == 0)
				return -rc;
			fs_log(LOG_WARNING,
			       "request pool: %u of %u threads: %s", i,
			       POOL_MAX, strerror(rc));
			break;
		}
		pool.nthreads++;
	}
	return 0;
}

/* The workers answer what is queued, then end. */
static void pool_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stop = true;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < pool.nthreads; i++)
		pthread_join(pool.thread[i], NULL);
	pool.nthreads = 0;
}

int fs_loop(struct fuse_session *se)
{
	struct fuse_buf buf = { .mem = NULL };
	int rc = pool_start(se);

	if (rc != 0) {
		fs_log(LOG_ERR, "request pool: %s", strerror(-rc));
		return rc;
	}
	while (!fuse_session_exited(se)) {
		rc = fuse_session_receive_buf(se, &buf);
		if (rc == -EINTR)
			continue;
		if (rc <= 0)
			break;
		if (buf.flags & FUSE_BUF_IS_FD) /* spliced: never asked for */
			fuse_session_process_buf(se, &buf);
		else if (answers_inline(&buf))
			fuse_session_process_buf(se, &buf);
		else
			offload(se, &buf);
	}
	pool_stop();
	free(buf.mem);
	fuse_session_reset(se);
	return rc > 0 ? 0 : rc;
}
