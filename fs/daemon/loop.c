/*
 * loop: the request loop.
 *
 * One thread at a time, the leader, reads requests from the device.  A
 * request whose handler cannot wait long (a lookup, a getattr, a read, an
 * open, a directory listing, the create, write, flush, fsync, release and
 * rename of a save, a removal, a setattr: see kind_of()) is answered by the
 * leader itself, which then reads the next.  Before any other request, and
 * before a quick handler
 * waits after all (loop_may_wait()), the leader hands the device to
 * another thread, an idle one or a new one, up to max_threads, and goes
 * on as a plain worker; when it is done it leads again if nobody does, or
 * waits to.  A wait on the disk alone, a durable commit's flush, the
 * leader takes itself when nothing else goes on (loop_may_sync()).
 *
 * Why not libfuse's multi-threaded loop: there every thread sits in
 * read() on the device, and the kernel wakes the one that has waited
 * longest, so the requests of one process (open, release, open, ...,
 * what `grep -r` sends) each go to another thread, on another CPU, and
 * a release and the next open run side by side.  A single thread serves
 * those faster (doc/benchmarks.md §2), but would leave every request
 * behind one durable commit waiting on the disk, and could deadlock:
 * some handlers wait for a request (a writer's RELEASE) or for a page a
 * READ holds.  Here those go to their own thread, and the leader stays
 * free.
 *
 * Between requests the leader does not go to sleep at once: for spin
 * microseconds it keeps looking whether the next one is there (poll()
 * without waiting), and only then reads, waiting in read() as without a
 * spin.  A process that sends request after request (grep -r: open,
 * release, open, ...) has the next one queued a few microseconds after
 * its answer; a leader asleep by then has to be woken for every request,
 * which on a virtual machine costs more than answering it
 * (doc/benchmarks.md §2).  A spin that finds nothing costs at most spin
 * microseconds of a CPU another thread may want (the disk's, the notify
 * thread), so the leader spins only after requests that read
 * (kind_of()), and learns after which kinds of them spinning pays
 * (receive()): after an open for reading, the release comes at once;
 * after a folder's listing, the caller has work of its own first.  It
 * does not spin while another thread is in a handler (a durable commit, a
 * rename), whose caller sends nothing until it is answered, nor on after
 * it lost its CPU while spinning: a thread that spins is not woken by the
 * next request, and on a busy machine would wait for its turn instead.
 * Between bursts it sleeps.  (A non-blocking device and waits in poll()
 * made a save's fsync and rename 30-50 us slower than waits in read().)
 *
 * Shutdown follows libfuse's loop: the session ends on unmount (the read
 * returns ENODEV) or on a signal (fuse_session_exit() from its handler);
 * the thread that sees it wakes serve's caller, which stops the others.
 * Threads take cancellation only while reading the device.
 */
#define FUSE_USE_VERSION 312
#include "loop.h"

#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"

#define LOOP_THREADS_MAX 64
/* A look at the device that took this long: the thread lost its CPU */
#define PREEMPTED_NS 20000
/* Scores of the spins after each kind of request (receive()) */
#define SPIN_KINDS 64
#define SPIN_SCORE_MAX 4
#define SPIN_SCORE_MIN (-4)
/* After a kind whose spins do not pay, every this many-th wait spins
 * anyway, to see whether they pay again */
#define SPIN_PROBE 8

struct worker {
	pthread_t tid;
	struct fuse_buf buf;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a follower may lead: !leader or stop */
	struct fuse_session *se;
	struct worker w[LOOP_THREADS_MAX];
	unsigned max, nthreads; /* started; never more than max */
	int64_t spin_ns;        /* look for the next request this long */
	atomic_uint busy;       /* threads in a handler, not leading */
	/* per opcode answered last (0: none, or one beyond SPIN_KINDS),
	 * used by the leader only: spin after it while score >= 0; waits
	 * without a spin since the last probe */
	signed char score[SPIN_KINDS];
	unsigned char skipped[SPIN_KINDS];
	atomic_ulong spins, spin_hits; /* for loop_stats() */
	unsigned idle;                 /* waiting on cond */
	bool leader;                   /* some thread reads the device */
	bool stop;
	int error;
	sem_t done; /* posted by a thread that saw the end */
} lp = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static _Thread_local bool leading;

#define K_QUICK 1u /* may run on the leader */
#define K_READS 2u /* reads: the leader may spin after it (receive()) */

/*
 * What the loop makes of a request by its opcode.  Quick: its handler may
 * run on the leader, taking no lock a commit holds across the disk and
 * waiting on nothing else but briefly (the others call loop_may_wait()
 * before they do).  Reads: the leader may spin after it (the open, read
 * and release of `grep -r`, its listings and lookups).  After a write the
 * caller goes on to the disk or a commit's aftermath (the notify thread's
 * invalidation), which a spinning leader would keep from a CPU: with
 * spins after writes, 1,000 durable saves took 10-15% longer.
 */
static unsigned kind_of(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_LOOKUP:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_GETATTR:
	case FUSE_READLINK:
	case FUSE_STATFS:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_ACCESS:
	case FUSE_OPENDIR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_RELEASEDIR:
	case FUSE_READ:
	/* opens and releases, like the content commits of creates and
	 * saves below: their waits hand over (wtx_begin, commit_close,
	 * loop_lock, move_from_readers, wait_kclean) */
	case FUSE_OPEN:
	case FUSE_RELEASE:
		return K_QUICK | K_READS;
	case FUSE_INTERRUPT:
	case FUSE_CREATE:
	case FUSE_WRITE:
	case FUSE_FLUSH:
	/* its durable commit keeps the device only when nothing else goes
	 * on (loop_may_sync) */
	case FUSE_FSYNC:
	/* a save's last step; a folder's, an exchange's, a snapshot's and
	 * a wait for the tree lock hand over (entry.c: do_rename) */
	case FUSE_RENAME:
	case FUSE_RENAME2:
	/* an editor's save sends them around its write (a backup and a
	 * swap file removed, a mode set back); a snapshot's removal, large
	 * content and a lock taken hand over (entry.c) */
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_SETATTR:
		return K_QUICK;
	default:
		return 0;
	}
}

/* The opcode of the request in b, 0 if it has none. */
static uint32_t opcode_of(const struct fuse_buf *b, size_t len)
{
	const struct fuse_in_header *in = b->mem;

	if ((b->flags & FUSE_BUF_IS_FD) || len < sizeof(*in))
		return 0;
	return in->opcode;
}

static void *work(void *arg);

/* With the lock held: start one more thread, if there may be one. */
static void spawn_locked(void)
{
	struct worker *w;

	if (lp.nthreads >= lp.max || lp.stop)
		return;
	w = &lp.w[lp.nthreads];
	memset(&w->buf, 0, sizeof(w->buf));
	if (pthread_create(&w->tid, NULL, work, w) != 0) {
		fs_log(LOG_WARNING, "could not start a request thread");
		return;
	}
	lp.nthreads++;
}

void loop_may_wait(void)
{
	if (!leading)
		return;
	leading = false;
	atomic_fetch_add_explicit(&lp.busy, 1, memory_order_relaxed);
	pthread_mutex_lock(&lp.lock);
	lp.leader = false;
	if (lp.idle > 0)
		pthread_cond_signal(&lp.cond);
	else
		spawn_locked(); /* failing that, the next thread done leads */
	pthread_mutex_unlock(&lp.lock);
}

void loop_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m) != 0) {
		loop_may_wait();
		pthread_mutex_lock(m);
	}
}

/*
 * The leader's own wait on the disk.  When no other thread is in a
 * handler and no request is waiting, the caller of the request being
 * answered (an fsync's) sends nothing until it is answered, and a
 * handover would only wake another thread to go to sleep in read(), the
 * next request (that caller's close) then waking it on another CPU: with
 * the leader waiting itself, 1,000 rewrites with fsync take a fifth less
 * (doc/benchmarks.md §2).  A request that comes meanwhile waits for the
 * flush, as on a local disk a reader waits for a writer's journal.
 */
void loop_may_sync(void)
{
	struct pollfd pfd;

	if (!leading)
		return;
	if (atomic_load_explicit(&lp.busy, memory_order_relaxed) == 0) {
		pfd.fd = fuse_session_fd(lp.se);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 0)
			return;
	}
	loop_may_wait();
}

/* The session ended (or reading failed: error): stop every thread. */
static void end(int error)
{
	pthread_mutex_lock(&lp.lock);
	if (error != 0 && lp.error == 0)
		lp.error = error;
	lp.stop = true;
	pthread_cond_broadcast(&lp.cond);
	pthread_mutex_unlock(&lp.lock);
	sem_post(&lp.done);
}

/* clock_mono_ns(), kept out of line like the pollfd below: receive() may
 * be cancelled in its read or poll(), and a frame that never returns
 * leaves the redzones around its locals (clock_mono_ns()'s timespec, were
 * it inlined) poisoned for whatever uses that stack next (ASan). */
__attribute__((noinline)) static int64_t now_ns(void)
{
	return clock_mono_ns();
}

/* A spin after a request of kind op found the next request (hit), or
 * not.  A miss counts twice a hit: spin after a kind only while two in
 * three of the spins after it pay. */
static void spin_learn(unsigned op, bool hit)
{
	signed char *sc = &lp.score[op];

	if (hit && *sc < SPIN_SCORE_MAX)
		(*sc)++;
	else if (!hit)
		*sc = (signed char)(*sc - 2 < SPIN_SCORE_MIN ? SPIN_SCORE_MIN
		                                             : *sc - 2);
}

/* Read the next request into w's buffer (fuse_session_receive_buf()).
 * With a spin, after a request of kind op, first look whether the next
 * one is there (poll() without waiting) for up to lp.spin_ns, unless a
 * handler runs on another thread (its caller sends nothing until it is
 * answered, and it may want the CPU), the thread lost its CPU meanwhile,
 * or spins after op have mostly missed (then every SPIN_PROBE-th wait
 * spins still); then read, waiting if need be, as without a spin.
 * Whether a spin found the next request is learnt for op.  A wait without
 * a spin teaches nothing: it ends only once the thread is awake again,
 * which is the very delay a spin saves. */
static int receive(struct worker *w, unsigned op)
{
	static _Thread_local struct pollfd pfd; /* not on the stack */
	bool learn = lp.spin_ns > 0 && (kind_of(op) & K_READS) &&
	             atomic_load_explicit(&lp.busy, memory_order_relaxed) == 0;
	int64_t since = 0, last;
	int res;

	if (learn && lp.score[op] < 0 && ++lp.skipped[op] < SPIN_PROBE)
		learn = false;
	if (learn) {
		lp.skipped[op] = 0;
		since = last = now_ns();
		pfd.fd = fuse_session_fd(lp.se);
		pfd.events = POLLIN;
		atomic_fetch_add_explicit(&lp.spins, 1, memory_order_relaxed);
		for (;;) {
			int64_t t;

			pfd.revents = 0;
			if (poll(&pfd, 1, 0) != 0) {
				/* a request, or an error the read tells */
				atomic_fetch_add_explicit(&lp.spin_hits, 1,
				                          memory_order_relaxed);
				break;
			}
			t = now_ns();
			if (t - last >= PREEMPTED_NS) {
				/* the CPU is wanted: spins do not pay */
				spin_learn(op, false);
				learn = false;
				break;
			}
			if (t - since >= lp.spin_ns)
				break;
			last = t;
		}
	}
	res = fuse_session_receive_buf(lp.se, &w->buf);
	if (learn && res > 0)
		spin_learn(op, now_ns() - since < lp.spin_ns);
	return res;
}

/* Lead: read and answer requests until one goes to another thread (0)
 * or the session ends (-1). */
static int lead(struct worker *w)
{
	unsigned op = 0; /* of the request answered last */

	while (leading) {
		uint32_t opcode;
		int res;

		if (fuse_session_exited(lp.se)) {
			end(0);
			return -1;
		}
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = receive(w, op);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			if (res < 0)
				fuse_session_exit(lp.se);
			end(res);
			return -1;
		}
		opcode = opcode_of(&w->buf, (size_t)res);
		op = opcode < SPIN_KINDS ? opcode : 0;
		if (!(kind_of(opcode) & K_QUICK))
			loop_may_wait();
		fuse_session_process_buf(lp.se, &w->buf);
	}
	return 0;
}

static void *work(void *arg)
{
	struct worker *w = arg;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		if (fuse_session_exited(lp.se)) { /* a signal came meanwhile */
			end(0);
			break;
		}
		pthread_mutex_lock(&lp.lock);
		while (lp.leader && !lp.stop) {
			lp.idle++;
			pthread_cond_wait(&lp.cond, &lp.lock);
			lp.idle--;
		}
		if (lp.stop) {
			pthread_mutex_unlock(&lp.lock);
			break;
		}
		lp.leader = true;
		pthread_mutex_unlock(&lp.lock);
		leading = true;
		if (lead(w) != 0)
			break;
		atomic_fetch_sub_explicit(&lp.busy, 1, memory_order_relaxed);
	}
	leading = false;
	return NULL;
}

void loop_stats(unsigned long *spins, unsigned long *hits)
{
	*spins = atomic_load_explicit(&lp.spins, memory_order_relaxed);
	*hits = atomic_load_explicit(&lp.spin_hits, memory_order_relaxed);
}

int loop_serve(struct fuse_session *se, unsigned max_threads, unsigned spin_us)
{
	unsigned n;

	if (sem_init(&lp.done, 0, 0) != 0)
		return -errno;
	lp.se = se;
	lp.spin_ns = (int64_t)spin_us * 1000;
	lp.max = max_threads < 1                  ? 1
	         : max_threads > LOOP_THREADS_MAX ? LOOP_THREADS_MAX
	                                          : max_threads;
	pthread_mutex_lock(&lp.lock);
	lp.nthreads = lp.idle = 0;
	lp.leader = lp.stop = false;
	lp.error = 0;
	atomic_store(&lp.busy, 0);
	memset(lp.score, 0, sizeof(lp.score));
	memset(lp.skipped, 0, sizeof(lp.skipped));
	atomic_store(&lp.spins, 0);
	atomic_store(&lp.spin_hits, 0);
	spawn_locked();
	n = lp.nthreads;
	pthread_mutex_unlock(&lp.lock);
	if (n == 0) {
		sem_destroy(&lp.done);
		return -EAGAIN;
	}
	/* A signal may land here (sem_wait returns EINTR) or on a worker,
	 * which notices at its next request or read. */
	for (;;) {
		struct timespec until;
		bool stop;

		pthread_mutex_lock(&lp.lock);
		stop = lp.stop;
		pthread_mutex_unlock(&lp.lock);
		if (stop || fuse_session_exited(se))
			break;
		/* a signal between the check and the wait leaves the flag
		 * set and nobody to post: look again within a second */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		(void)sem_timedwait(&lp.done, &until);
	}
	end(0);
	pthread_mutex_lock(&lp.lock);
	n = lp.nthreads; /* no more start once stop is set */
	pthread_mutex_unlock(&lp.lock);
	for (unsigned i = 0; i < n; i++)
		pthread_cancel(lp.w[i].tid); /* takes only while reading */
	for (unsigned i = 0; i < n; i++) {
		pthread_join(lp.w[i].tid, NULL);
		free(lp.w[i].buf.mem);
	}
	sem_destroy(&lp.done);
	fuse_session_reset(se);
	return lp.error;
}
