/*
 * Unit tests for fs/daemon/loop.c, the request loop, against a fake
 * kernel: a SOCK_SEQPACKET socket pair, one end handed to libfuse as
 * /dev/fd/N, the other written and read here one request (one message)
 * at a time.  The handlers are the test's own: getattr answers at once
 * and notes its thread (note_thread); mkdir (never quick) and lookup
 * (quick, but calls loop_may_wait() first) wait on a gate the test
 * opens, and fsync (quick) calls loop_may_sync() first, after a gate of
 * its own with datasync set; readlink (quick) takes a mutex the test may
 * hold, with loop_lock(); unlink, rmdir and setattr (quick) answer at
 * once.  Every test runs twice: with the leader sleeping as soon as the
 * device is empty, and with it spinning first (loop_serve's spin_us).
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

#define WAIT_MS 5000 /* for a reply that must come */

static unsigned spin_us; /* the group's */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;        /* the gate */
	unsigned waiting; /* handlers at the gate */
	bool pre_open;    /* fsync's gate before its loop_may_sync() */
	unsigned pre_waiting;
	pthread_t thread; /* the first handler's that note_thread() saw */
	unsigned threads; /* distinct threads seen, 1 or 2 (more) */
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* Wait until *open, counted in *waiting meanwhile. */
static void wait_open(const bool *open, unsigned *waiting)
{
	pthread_mutex_lock(&g.lock);
	(*waiting)++;
	pthread_cond_broadcast(&g.cond);
	while (!*open)
		pthread_cond_wait(&g.cond, &g.lock);
	(*waiting)--;
	pthread_mutex_unlock(&g.lock);
}

static void gate_wait(void)
{
	wait_open(&g.open, &g.waiting);
}

static void set_open(bool *gate, bool open)
{
	pthread_mutex_lock(&g.lock);
	*gate = open;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
}

static void gate_set(bool open)
{
	set_open(&g.open, open);
}

/* A counter of g, read under its lock. */
static unsigned g_read(const unsigned *counter)
{
	unsigned n;

	pthread_mutex_lock(&g.lock);
	n = *counter;
	pthread_mutex_unlock(&g.lock);
	return n;
}

static unsigned gate_waiting(void)
{
	return g_read(&g.waiting);
}

/* Forget the threads handlers ran on (note_thread). */
static void threads_reset(void)
{
	pthread_mutex_lock(&g.lock);
	g.threads = 0;
	pthread_mutex_unlock(&g.lock);
}

/* How many threads handlers ran on since the reset: 0, 1 or 2 (more). */
static unsigned threads_seen(void)
{
	return g_read(&g.threads);
}

/* Count the thread a handler runs on among those seen since the reset. */
static void note_thread(void)
{
	pthread_mutex_lock(&g.lock);
	if (g.threads == 0) {
		g.thread = pthread_self();
		g.threads = 1;
	} else if (!pthread_equal(g.thread, pthread_self())) {
		g.threads = 2;
	}
	pthread_mutex_unlock(&g.lock);
}

static void t_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	note_thread();
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = S_IFDIR | 0755;
	st.st_nlink = 2;
	fuse_reply_attr(req, &st, 1.0);
}

static void t_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                    mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	gate_wait();
	fuse_reply_err(req, ENOSPC);
}

static void t_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	loop_may_wait();
	gate_wait();
	fuse_reply_err(req, ENOENT);
}

/* A durable commit: its wait on the disk is the gate.  With datasync set
 * it first waits for the test to queue what it wants queued. */
static void t_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                    struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if (datasync)
		wait_open(&g.pre_open, &g.pre_waiting);
	loop_may_sync();
	gate_wait();
	fuse_reply_err(req, 0);
}

/* Held by the test while readlink must wait for it. */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void t_readlink(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	loop_lock(&held);
	pthread_mutex_unlock(&held);
	fuse_reply_readlink(req, "t");
}

/* The changes an editor's save sends besides writes: answered at once,
 * on whichever thread the loop gives them. */
static void t_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	note_thread();
	fuse_reply_err(req, 0);
}

static void t_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                      int to_set, struct fuse_file_info *fi)
{
	(void)attr;
	(void)to_set;
	(void)fi;
	t_getattr(req, ino, NULL); /* notes the thread */
}

static const struct fuse_lowlevel_ops t_ops = {
	.unlink = t_unlink,
	.rmdir = t_unlink,
	.setattr = t_setattr,
	.getattr = t_getattr,
	.mkdir = t_mkdir,
	.lookup = t_lookup,
	.fsync = t_fsync,
	.readlink = t_readlink,
};

struct fake {
	int kfd; /* the kernel's end */
	struct fuse_session *se;
	pthread_t loop;
	int rc; /* loop_serve's */
	uint64_t unique;
};

static void *serve(void *arg)
{
	struct fake *f = arg;

	f->rc = loop_serve(f->se, 4, spin_us);
	return NULL;
}

static uint64_t send_req(struct fake *f, uint32_t opcode, uint64_t nodeid,
                         const void *arg, size_t arglen)
{
	char msg[512];
	struct fuse_in_header in;

	assert_true(sizeof(in) + arglen <= sizeof(msg));
	memset(&in, 0, sizeof(in));
	in.len = (uint32_t)(sizeof(in) + arglen);
	in.opcode = opcode;
	in.unique = ++f->unique;
	in.nodeid = nodeid;
	memcpy(msg, &in, sizeof(in));
	if (arglen)
		memcpy(msg + sizeof(in), arg, arglen);
	assert_int_equal(write(f->kfd, msg, in.len), (ssize_t)in.len);
	return in.unique;
}

/* The next reply: its unique, with its error in *error.  Fails the test
 * if none comes within ms. */
static uint64_t next_reply(struct fake *f, int ms, int *error)
{
	struct pollfd p = { .fd = f->kfd, .events = POLLIN };
	struct fuse_out_header out;
	char msg[8192];
	ssize_t n;

	assert_int_equal(poll(&p, 1, ms), 1);
	n = read(f->kfd, msg, sizeof(msg));
	assert_true(n >= (ssize_t)sizeof(out));
	memcpy(&out, msg, sizeof(out));
	assert_int_equal(out.len, (uint32_t)n);
	*error = out.error;
	return out.unique;
}

static bool no_reply(struct fake *f, int ms)
{
	struct pollfd p = { .fd = f->kfd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

static uint64_t getattr(struct fake *f)
{
	struct fuse_getattr_in ga;

	memset(&ga, 0, sizeof(ga));
	return send_req(f, FUSE_GETATTR, FUSE_ROOT_ID, &ga, sizeof(ga));
}

/* n getattrs, each sent once the one before is answered (without error),
 * gap_ms apart. */
static void getattrs(struct fake *f, int n, int gap_ms)
{
	int error;

	for (int i = 0; i < n; i++) {
		uint64_t ga = getattr(f);

		assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
		assert_int_equal(error, 0);
		if (gap_ms > 0)
			usleep((useconds_t)gap_ms * 1000);
	}
}

static uint64_t send_mkdir(struct fake *f)
{
	struct {
		struct fuse_mkdir_in in;
		char name[2];
	} mk;

	memset(&mk, 0, sizeof(mk));
	mk.in.mode = 0755;
	mk.name[0] = 'd';
	return send_req(f, FUSE_MKDIR, FUSE_ROOT_ID, &mk, sizeof(mk));
}

static uint64_t send_fsync(struct fake *f, bool datasync)
{
	struct fuse_fsync_in fs;

	memset(&fs, 0, sizeof(fs));
	fs.fsync_flags = datasync ? 1 : 0;
	return send_req(f, FUSE_FSYNC, 2, &fs, sizeof(fs));
}

static void wait_at_gate(unsigned n)
{
	for (int i = 0; i < WAIT_MS && gate_waiting() < n; i++)
		usleep(1000);
	assert_int_equal(gate_waiting(), n);
}

static int setup(void **state)
{
	static struct fake f;
	char *argv[] = { "test-fs-loop", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_init_in init;
	char dev[32];
	int sv[2], error;

	memset(&f, 0, sizeof(f));
	gate_set(false);
	set_open(&g.pre_open, false);
	g.threads = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	f.kfd = sv[0];
	f.se = fuse_session_new(&args, &t_ops, sizeof(t_ops), NULL);
	fuse_opt_free_args(&args);
	if (f.se == NULL)
		return -1;
	snprintf(dev, sizeof(dev), "/dev/fd/%d", sv[1]);
	if (fuse_session_mount(f.se, dev) != 0)
		return -1;
	if (pthread_create(&f.loop, NULL, serve, &f) != 0)
		return -1;
	memset(&init, 0, sizeof(init));
	init.major = FUSE_KERNEL_VERSION;
	init.minor = 31;
	init.max_readahead = 65536;
	send_req(&f, FUSE_INIT, 0, &init, sizeof(init));
	if (next_reply(&f, WAIT_MS, &error) != f.unique || error != 0)
		return -1;
	*state = &f;
	return 0;
}

/* The kernel's end shuts down: the loop reads a short message, ends with
 * -EIO and stops all its threads. */
static int teardown(void **state)
{
	struct fake *f = *state;

	gate_set(true);
	set_open(&g.pre_open, true);
	/* EOF for the loop's reads, whatever is left unread; replies
	 * still go through until the join */
	shutdown(f->kfd, SHUT_WR);
	pthread_join(f->loop, NULL);
	close(f->kfd);
	fuse_session_unmount(f->se);
	fuse_session_destroy(f->se);
	return f->rc == -EIO ? 0 : -1;
}

/* With requests a and b waiting at the gate, a getattr is answered; then,
 * the gate open, a and b are, with the errors ea and eb. */
static void answered_meanwhile(struct fake *f, uint64_t a, int ea, uint64_t b,
                               int eb)
{
	bool a_seen = false, b_seen = false;
	uint64_t ga = getattr(f);
	int error;

	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
	assert_int_equal(error, 0);
	gate_set(true);
	for (int i = 0; i < 2; i++) {
		uint64_t u = next_reply(f, WAIT_MS, &error);

		assert_true(u == a || u == b);
		assert_int_equal(error, u == a ? ea : eb);
		a_seen |= u == a;
		b_seen |= u == b;
	}
	assert_true(a_seen && b_seen);
}

/* A request whose handler waits (mkdir: not quick) goes to its own
 * thread: the getattr sent after it is answered first. */
static void test_slow_request_does_not_block(void **state)
{
	struct fake *f = *state;
	uint64_t mk, ga;
	int error;
	mk = send_mkdir(f);
	wait_at_gate(1);
	ga = getattr(f);
	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
	assert_int_equal(error, 0);
	assert_true(no_reply(f, 50)); /* mkdir still waits */
	gate_set(true);
	assert_int_equal(next_reply(f, WAIT_MS, &error), mk);
	assert_int_equal(error, -ENOSPC);
}

/* A quick request whose handler is about to wait says so first
 * (loop_may_wait): the requests behind it are answered meanwhile, two
 * of them waiting at once. */
static void test_quick_handler_hands_over(void **state)
{
	struct fake *f = *state;
	uint64_t l1, l2;

	l1 = send_req(f, FUSE_LOOKUP, FUSE_ROOT_ID, "a", 2);
	wait_at_gate(1);
	l2 = send_req(f, FUSE_LOOKUP, FUSE_ROOT_ID, "b", 2);
	wait_at_gate(2);
	answered_meanwhile(f, l1, -ENOENT, l2, -ENOENT);
}

/* A durable commit with nothing else going on waits on the leader
 * (loop_may_sync): a request sent during its flush is answered after it,
 * by the same thread as the one before. */
static void test_lone_sync_keeps_the_device(void **state)
{
	struct fake *f = *state;
	uint64_t fs, ga;
	int error;

	threads_reset();
	getattrs(f, 1, 0);
	fs = send_fsync(f, false);
	wait_at_gate(1);
	ga = getattr(f);
	assert_true(no_reply(f, 100)); /* behind the flush */
	gate_set(true);
	assert_int_equal(next_reply(f, WAIT_MS, &error), fs);
	assert_int_equal(error, 0);
	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
	assert_int_equal(error, 0);
	assert_int_equal(threads_seen(), 1);
}

/* A request already waiting when a durable commit comes to its flush:
 * the leader hands over first, and it is answered meanwhile. */
static void test_sync_hands_over_to_a_waiting_request(void **state)
{
	struct fake *f = *state;
	uint64_t fs, ga;
	int error;

	fs = send_fsync(f, true);
	for (int i = 0; i < WAIT_MS && g_read(&g.pre_waiting) < 1; i++)
		usleep(1000);
	assert_int_equal(g_read(&g.pre_waiting), 1);
	ga = getattr(f); /* queued: the leader is in the fsync */
	set_open(&g.pre_open, true);
	wait_at_gate(1);
	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
	assert_int_equal(error, 0);
	gate_set(true);
	assert_int_equal(next_reply(f, WAIT_MS, &error), fs);
	assert_int_equal(error, 0);
}

/* Beside a handler on another thread (a mkdir at the gate) a durable
 * commit hands over too: its flush may be what that handler waits for,
 * and the requests behind them are answered meanwhile. */
static void test_sync_hands_over_beside_a_handler(void **state)
{
	struct fake *f = *state;
	uint64_t mk, fs;

	mk = send_mkdir(f);
	wait_at_gate(1);
	fs = send_fsync(f, false);
	wait_at_gate(2);
	answered_meanwhile(f, mk, -ENOSPC, fs, 0);
}

/* A quick handler waiting for a mutex another thread holds (loop_lock)
 * hands over first: the getattr sent after it is answered meanwhile.
 * Free, the mutex is taken on the leader, as the getattrs after show. */
static void test_lock_taken_hands_over(void **state)
{
	struct fake *f = *state;
	uint64_t rl, ga;
	int error;

	pthread_mutex_lock(&held);
	rl = send_req(f, FUSE_READLINK, 2, NULL, 0);
	ga = getattr(f);
	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
	assert_int_equal(error, 0);
	assert_true(no_reply(f, 50)); /* readlink still waits */
	pthread_mutex_unlock(&held);
	assert_int_equal(next_reply(f, WAIT_MS, &error), rl);
	assert_int_equal(error, 0);
	threads_reset();
	for (int i = 0; i < 20; i++) {
		rl = send_req(f, FUSE_READLINK, 2, NULL, 0);
		assert_int_equal(next_reply(f, WAIT_MS, &error), rl);
		getattrs(f, 1, 0);
	}
	assert_int_equal(threads_seen(), 1);
}

/* One caller's quick requests, one after the other, are all answered by
 * the same thread, even after others were started. */
static void test_quick_requests_stay_on_one_thread(void **state)
{
	struct fake *f = *state;

	test_slow_request_does_not_block(state); /* start a second thread */
	threads_reset();
	getattrs(f, 200, 0);
	assert_int_equal(threads_seen(), 1);
}

/* Removals and setattrs are quick too: between getattrs, after a second
 * thread was started, all are answered by one thread.  (A request that is
 * not quick goes to another thread, and the one that read it leads no
 * more.) */
static void test_entry_changes_stay_on_one_thread(void **state)
{
	struct fake *f = *state;
	struct fuse_setattr_in sa;
	int error;

	test_slow_request_does_not_block(state); /* start a second thread */
	threads_reset();
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = S_IFREG | 0644;
	for (int i = 0; i < 20; i++) {
		uint64_t u[3];

		u[0] = send_req(f, FUSE_UNLINK, FUSE_ROOT_ID, "f", 2);
		u[1] = send_req(f, FUSE_RMDIR, FUSE_ROOT_ID, "d", 2);
		u[2] = send_req(f, FUSE_SETATTR, 2, &sa, sizeof(sa));
		for (int j = 0; j < 3; j++) {
			assert_int_equal(next_reply(f, WAIT_MS, &error), u[j]);
			assert_int_equal(error, 0);
		}
		getattrs(f, 1, 0);
	}
	assert_int_equal(threads_seen(), 1);
}

/* With every thread (4) waiting in a handler nobody reads: the next
 * request waits, and is answered once a thread is free again, which
 * then leads. */
static void test_all_threads_busy(void **state)
{
	struct fake *f = *state;
	uint64_t mk[4], ga;
	bool seen[4] = { false };
	bool ga_seen = false;
	int error;
	for (unsigned i = 0; i < 4; i++) {
		mk[i] = send_mkdir(f);
		wait_at_gate(i + 1);
	}
	ga = getattr(f);
	assert_true(no_reply(f, 100));
	gate_set(true);
	for (int i = 0; i < 5; i++) {
		uint64_t u = next_reply(f, WAIT_MS, &error);

		if (u == ga) {
			ga_seen = true;
			continue;
		}
		for (unsigned j = 0; j < 4; j++)
			if (u == mk[j])
				seen[j] = true;
	}
	assert_true(ga_seen);
	for (unsigned j = 0; j < 4; j++)
		assert_true(seen[j]);
	ga = getattr(f); /* and the loop goes on */
	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
}

/* fuse_session_exit (what the signal handler calls) ends the loop when
 * the next request wakes it, with 0. */
static void test_exit_ends_loop(void **state)
{
	struct fake *f = *state;

	fuse_session_exit(f->se);
	{
		struct fuse_forget_in fg = { .nlookup = 1 };

		/* wakes the leader; never answered, whichever thread sees
		 * the end first (the restarted loop may read it) */
		send_req(f, FUSE_FORGET, 2, &fg, sizeof(fg));
	}
	pthread_join(f->loop, NULL);
	assert_int_equal(f->rc, 0);
	/* teardown joins again: start a loop that ends at the shutdown */
	fuse_session_reset(f->se);
	assert_int_equal(pthread_create(&f->loop, NULL, serve, f), 0);
}

/* fuse_session_exit with no request to wake the leader (a SIGTERM to an
 * idle mount): serve's caller notices within a second and cancels the
 * threads where they wait, the leader in its read or poll. */
static void test_exit_while_idle(void **state)
{
	struct fake *f = *state;
	int error;
	uint64_t ga = getattr(f);

	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
	usleep(20 * 1000); /* past any spin */
	fuse_session_exit(f->se);
	pthread_join(f->loop, NULL);
	assert_int_equal(f->rc, 0);
	fuse_session_reset(f->se);
	assert_int_equal(pthread_create(&f->loop, NULL, serve, f), 0);
	ga = getattr(f); /* a loop started again serves */
	assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
}

static double cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Between requests the leader looks for the next one at most spin_us,
 * then sleeps: an idle loop takes (nearly) no CPU, and a request that
 * comes after the spin is answered, by the same thread. */
static void test_idle_loop_sleeps(void **state)
{
	struct fake *f = *state;
	double before, used;
	int error;

	threads_reset();
	for (int i = 0; i < 3; i++) {
		uint64_t ga = getattr(f);

		assert_int_equal(next_reply(f, WAIT_MS, &error), ga);
		assert_int_equal(error, 0);
		before = cpu_ms();
		usleep(300 * 1000);
		used = cpu_ms() - before;
		/* a loop that never slept would take one CPU the while */
		assert_true(used < 100.0);
	}
	assert_int_equal(threads_seen(), 1);
}

/* No spin while a handler runs on another thread: with a mkdir waiting
 * at the gate, the getattrs sent meanwhile, back to back (which a spin
 * would catch), are answered without one. */
static void test_no_spin_beside_a_handler(void **state)
{
	struct fake *f = *state;
	unsigned long spins0, spins, hits;
	uint64_t mk;
	int error;

	mk = send_mkdir(f);
	wait_at_gate(1);
	loop_stats(&spins0, &hits);
	getattrs(f, 20, 0);
	loop_stats(&spins, &hits);
	assert_int_equal(spins, spins0);
	gate_set(true);
	assert_int_equal(next_reply(f, WAIT_MS, &error), mk);
}

/* A spin finds the request its caller sends right after the answer. */
static void test_spin_finds_the_next_request(void **state)
{
	struct fake *f = *state;
	unsigned long spins, hits;
	getattrs(f, 20, 0);
	loop_stats(&spins, &hits);
	assert_true(hits >= 1);
	assert_true(spins >= hits);
}

/* Spins that find nothing stop: of ten getattrs 30 ms apart (the spin is
 * 10 ms), the first is followed by a spin, whose miss keeps the leader
 * from spinning after a getattr but for a probe every SPIN_PROBE (8)
 * waits.  The count may also hold the spin after the setup's last answer,
 * which the leader may begin after spins0 is read: 3 at most, where
 * spinning after every answer would make 10. */
static void test_spin_stops_after_misses(void **state)
{
	struct fake *f = *state;
	unsigned long spins0, spins, hits;

	loop_stats(&spins0, &hits);
	getattrs(f, 10, 30);
	loop_stats(&spins, &hits);
	assert_true(spins - spins0 <= 3);
}

static int setup_long_spin(void **state)
{
	spin_us = 10000;
	return setup(state);
}

static int sleep_at_once(void **state)
{
	(void)state;
	spin_us = 0;
	return 0;
}

static int spin_first(void **state)
{
	(void)state;
	spin_us = 50;
	return 0;
}

int main(void)
{
	const struct CMUnitTest long_spin[] = {
		cmocka_unit_test_setup_teardown(test_no_spin_beside_a_handler,
		                                setup_long_spin, teardown),
		cmocka_unit_test_setup_teardown(
		        test_spin_finds_the_next_request, setup_long_spin,
		        teardown),
		cmocka_unit_test_setup_teardown(test_spin_stops_after_misses,
		                                setup_long_spin, teardown),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		        test_slow_request_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quick_handler_hands_over,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_lone_sync_keeps_the_device,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_sync_hands_over_to_a_waiting_request, setup,
		        teardown),
		cmocka_unit_test_setup_teardown(
		        test_sync_hands_over_beside_a_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_taken_hands_over,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_quick_requests_stay_on_one_thread, setup,
		        teardown),
		cmocka_unit_test_setup_teardown(
		        test_entry_changes_stay_on_one_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_threads_busy, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_exit_ends_loop, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_exit_while_idle, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_idle_loop_sleeps, setup,
		                                teardown),
	};
	int failed;

	failed = cmocka_run_group_tests_name("sleep at once", tests,
	                                     sleep_at_once, NULL);
	failed += cmocka_run_group_tests_name("spin first", tests, spin_first,
	                                      NULL);
	failed +=
	        cmocka_run_group_tests_name("long spin", long_spin, NULL, NULL);
	return failed;
}
