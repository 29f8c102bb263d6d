/*
 * test_concurrency.c: readers in threads and in another process against one
 * writer.
 *
 * Every committed state of the main test holds two invariants:
 *   - table "gen": NGEN keys, every value starts with the same generation
 *     number g and continues with bytes that are a function of (g, key), and
 *     table "bank" holds the key "gen" with the same g;
 *   - table "bank": accounts whose balances sum to TOTAL, while the writer
 *     moves money between them, closes accounts and opens new ones.
 * Reader threads and a reader process (its own kv_env on the same file) scan
 * both tables while the writer commits and grows the file with large values;
 * every scan must see exactly one committed state, and a reader must never
 * see an older generation than one it saw before.
 *
 * Meanwhile kv_check runs in a loop and must stay clean, and kv_env_copy
 * makes compacted copies that must each hold one consistent commit.
 *
 * Then: a second writer gets KV_EBUSY from kv_txn_try_begin (in another
 * thread and in another process) while a write txn is open, and a blocking
 * kv_txn_begin waits for it; readers do not block the writer and the writer
 * does not block readers; a value pointer from kv_get stays valid and keeps
 * its bytes while the writer grows the file by tens of MiB; writers in two
 * processes with two threads each lose no increment of a shared counter;
 * two kv_env handles on one file in one process exclude each other's
 * writers, and closing one keeps the other's reader registered; the server
 * lock (kv_env_lock_exclusive) excludes other processes until close; a
 * KV_RDONLY env reads and refuses writes; more read txns than the reader
 * table holds get KV_EREADERS, and their slots are reused.
 *
 * CCC_LONG=1 runs the writers ten times longer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "kvtest.h"
#include "tmpdir.h"

#define NGEN 256
#define NACCT 100
#define TOTAL ((int64_t)NACCT * 1000)
#define NREADERS 3
#define MiB (1024ull * 1024ull)

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
		               (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Join t, failing the test if it does not end within sec seconds. */
static void join_within(pthread_t t, unsigned sec, const char *what)
{
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += sec;
	rc = pthread_timedjoin_np(t, NULL, &ts);
	if (rc == ETIMEDOUT)
		fail_msg("%s: still blocked after %u s", what, sec);
	assert_int_equal(rc, 0);
}

/* ---- the generation / bank workload --------------------------------- */

static size_t gen_vlen(uint64_t g, unsigned i)
{
	if (i == 0)
		return 5000; /* an overflow value */
	return 8 + (size_t)(kt_mix(g * 1000 + i) % 600);
}

static void gen_fill(unsigned char *buf, uint64_t g, unsigned i)
{
	size_t len = gen_vlen(g, i);

	memcpy(buf, &g, 8);
	kt_fill(buf + 8, len - 8, g * 1024 + i);
}

static void gen_key(char *buf, unsigned i)
{
	snprintf(buf, 16, "g%04u", i);
}

static void acct_key(char *buf, unsigned i)
{
	snprintf(buf, 16, "a%05u", i);
}

struct shared {
	const char *path;
	kv_env *env;
	_Atomic int stop;
	_Atomic uint64_t commits;
	unsigned ncommits;
	uint64_t seed;
	pthread_mutex_t lock;
	char err[1024]; /* first failure, from any thread */
};

static void share_fail(struct shared *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void share_fail(struct shared *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (!s->err[0]) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
	s->stop = 1;
}

/*
 * One consistent scan of both tables in a fresh read txn; returns 0 and
 * the generation seen, or -1 with a message in err.
 */
static int scan_once(kv_env *env, int backward, uint64_t *gen_out,
                     uint64_t *txnid, char *err, size_t errn)
{
	kv_txn *txn;
	kv_table *tg, *tb;
	kv_cursor *c;
	kv_val k, v;
	uint64_t g = 0, seen = 0, bg;
	int64_t sum = 0;
	int rc, res = -1;

	rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);
	if (rc != 0) {
		snprintf(err, errn, "kv_txn_begin rdonly: %s", kt_err(rc));
		return -1;
	}
	*txnid = kv_txn_id(txn);
	if ((rc = kv_table_open(txn, "gen", 0, &tg)) != 0 ||
	    (rc = kv_table_open(txn, "bank", 0, &tb)) != 0) {
		snprintf(err, errn, "kv_table_open: %s", kt_err(rc));
		goto out;
	}
	if ((rc = kv_cursor_open(txn, tg, &c)) != 0) {
		snprintf(err, errn, "kv_cursor_open: %s", kt_err(rc));
		goto out;
	}
	rc = backward ? kv_cursor_last(c, &k, &v) : kv_cursor_first(c, &k, &v);
	for (; rc == 0; rc = backward ? kv_cursor_prev(c, &k, &v)
	                              : kv_cursor_next(c, &k, &v)) {
		unsigned i =
		        backward ? NGEN - 1 - (unsigned)seen : (unsigned)seen;
		char key[16];
		uint64_t vg;

		gen_key(key, i);
		if (seen >= NGEN || k.len != strlen(key) ||
		    memcmp(k.data, key, k.len) != 0) {
			snprintf(err, errn,
			         "txn %" PRIu64 ": key %" PRIu64
			         " of the gen scan is wrong",
			         *txnid, seen);
			goto close;
		}
		if (v.len < 8) {
			snprintf(err, errn, "txn %" PRIu64 ": %s: short value",
			         *txnid, key);
			goto close;
		}
		memcpy(&vg, v.data, 8);
		if (seen == 0)
			g = vg;
		if (vg != g) {
			snprintf(err, errn,
			         "txn %" PRIu64 ": %s holds "
			         "generation %" PRIu64 ", %s holds %" PRIu64
			         " (a scan saw two commits)",
			         *txnid, key, vg,
			         backward ? "the last key" : "g0000", g);
			goto close;
		}
		if (v.len != gen_vlen(g, i) ||
		    kt_vcheck((const unsigned char *)v.data + 8, v.len - 8,
		              g * 1024 + i) >= 0) {
			snprintf(err, errn,
			         "txn %" PRIu64 ": %s: value of "
			         "generation %" PRIu64 " has wrong bytes",
			         *txnid, key, g);
			goto close;
		}
		seen++;
	}
	if (rc != KV_ENOTFOUND || seen != NGEN || kv_table_count(tg) != NGEN) {
		snprintf(err, errn,
		         "txn %" PRIu64 ": gen scan: rc %d, %" PRIu64
		         " keys, count %" PRIu64,
		         *txnid, rc, seen, kv_table_count(tg));
		goto close;
	}
	kv_cursor_close(c);

	/* the bank: balances sum to TOTAL; "gen" matches */
	if ((rc = kv_cursor_open(txn, tb, &c)) != 0) {
		snprintf(err, errn, "kv_cursor_open: %s", kt_err(rc));
		goto out;
	}
	seen = 0;
	bg = UINT64_MAX;
	for (rc = kv_cursor_first(c, &k, &v); rc == 0;
	     rc = kv_cursor_next(c, &k, &v)) {
		int64_t bal;

		seen++;
		if (v.len != 8) {
			snprintf(err, errn,
			         "txn %" PRIu64 ": bank value of "
			         "%zu bytes",
			         *txnid, v.len);
			goto close;
		}
		if (k.len == 3 && memcmp(k.data, "gen", 3) == 0) {
			memcpy(&bg, v.data, 8);
			continue;
		}
		memcpy(&bal, v.data, 8);
		sum += bal;
	}
	if (rc != KV_ENOTFOUND || seen != kv_table_count(tb)) {
		snprintf(err, errn,
		         "txn %" PRIu64 ": bank scan: rc %d, %" PRIu64
		         " keys, count %" PRIu64,
		         *txnid, rc, seen, kv_table_count(tb));
		goto close;
	}
	if (sum != TOTAL) {
		snprintf(err, errn,
		         "txn %" PRIu64 ": balances sum to %" PRId64
		         ", not %" PRId64,
		         *txnid, sum, TOTAL);
		goto close;
	}
	if (bg != g) {
		snprintf(err, errn,
		         "txn %" PRIu64 ": bank says generation %" PRIu64
		         ", gen table %" PRIu64,
		         *txnid, bg, g);
		goto close;
	}
	*gen_out = g;
	res = 0;
close:
	kv_cursor_close(c);
out:
	kv_txn_abort(txn);
	return res;
}

struct reader_result {
	uint64_t scans;
	uint64_t distinct; /* generation changes seen */
};

/* Scan until *stop; generations must never go back. */
static int reader_loop(kv_env *env, _Atomic int *stop, int stopfd,
                       uint64_t seed, struct reader_result *res, char *err,
                       size_t errn)
{
	uint64_t last = 0, lasttxn = 0;
	struct kt_rng rng;

	kt_rng_init(&rng, seed);
	memset(res, 0, sizeof(*res));
	for (;;) {
		uint64_t g, txnid;
		char c;

		if (stop && *stop)
			break;
		if (stopfd >= 0 && read(stopfd, &c, 1) != -1)
			break;
		if (scan_once(env, kt_chance(&rng, 1, 2), &g, &txnid, err,
		              errn) != 0)
			return -1;
		if (g < last || txnid < lasttxn) {
			snprintf(err, errn,
			         "went back in time: generation %" PRIu64
			         " (txn %" PRIu64 ") after %" PRIu64
			         " (txn %" PRIu64 ")",
			         g, txnid, last, lasttxn);
			return -1;
		}
		res->distinct += g != last;
		last = g;
		lasttxn = txnid;
		res->scans++;
	}
	return 0;
}

struct reader_arg {
	struct shared *s;
	int id;
	struct reader_result res;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	char err[512];

	if (reader_loop(a->s->env, &a->s->stop, -1,
	                a->s->seed + (uint64_t)a->id, &a->res, err,
	                sizeof(err)) != 0)
		share_fail(a->s, "reader thread %d: %s", a->id, err);
	return NULL;
}

/* One commit of generation g: every gen key, some money moved. */
static int write_generation(kv_env *env, uint64_t g, struct kt_rng *rng,
                            unsigned char *buf, uint8_t *open_acct,
                            unsigned *nballast)
{
	kv_txn *txn;
	kv_table *tg, *tb, *tx;
	char key[16];
	int rc;

	rc = kv_txn_begin(env, 0, &txn);
	if (rc != 0)
		return rc;
	if ((rc = kv_table_open(txn, "gen", KV_TABLE_CREATE, &tg)) ||
	    (rc = kv_table_open(txn, "bank", KV_TABLE_CREATE, &tb)) ||
	    (rc = kv_table_open(txn, "ballast", KV_TABLE_CREATE, &tx)))
		goto fail;
	for (unsigned j = 0; j < NGEN; j++) {
		/* a different order in every commit */
		unsigned i = (unsigned)((j * 97 + g) % NGEN);

		gen_key(key, i);
		gen_fill(buf, g, i);
		rc = kv_put(txn, tg, (kv_val){ key, strlen(key) },
		            (kv_val){ buf, gen_vlen(g, i) }, 0);
		if (rc != 0)
			goto fail;
	}
	rc = kv_put(txn, tb, (kv_val){ "gen", 3 }, (kv_val){ &g, 8 }, 0);
	if (g == 1) { /* open the accounts */
		for (unsigned i = 0; rc == 0 && i < NACCT; i++) {
			int64_t bal = 1000;

			acct_key(key, i);
			open_acct[i] = 1;
			rc = kv_put(txn, tb, (kv_val){ key, strlen(key) },
			            (kv_val){ &bal, 8 }, 0);
		}
	}
	for (unsigned t = 0; rc == 0 && g > 1 && t < 8; t++) {
		unsigned a = (unsigned)kt_below(rng, 4 * NACCT);
		unsigned b = (unsigned)kt_below(rng, 4 * NACCT);
		char kb[16];
		int64_t ba, bb, amt;
		kv_val va, vb;

		if (a == b || !open_acct[a])
			continue;
		acct_key(key, a);
		acct_key(kb, b);
		if ((rc = kv_get(txn, tb, (kv_val){ key, strlen(key) }, &va)))
			break;
		memcpy(&ba, va.data, 8);
		bb = 0;
		if (open_acct[b]) {
			rc = kv_get(txn, tb, (kv_val){ kb, strlen(kb) }, &vb);
			if (rc != 0)
				break;
			memcpy(&bb, vb.data, 8);
		}
		if (kt_chance(rng, 1, 10)) { /* close a: all to b */
			amt = ba;
			rc = kv_del(txn, tb, (kv_val){ key, strlen(key) });
			open_acct[a] = 0;
		} else {
			amt = (int64_t)kt_below(rng, 500) - 100;
			ba -= amt;
			rc = kv_put(txn, tb, (kv_val){ key, strlen(key) },
			            (kv_val){ &ba, 8 }, 0);
		}
		bb += amt;
		open_acct[b] = 1;
		if (rc == 0)
			rc = kv_put(txn, tb, (kv_val){ kb, strlen(kb) },
			            (kv_val){ &bb, 8 }, 0);
	}
	/* now and then a large value, so the file grows under the readers */
	if (rc == 0 && g % 16 == 0) {
		unsigned i = (*nballast)++;
		size_t len = (size_t)(1 + i % 3) * MiB / 2;
		unsigned char *big = malloc(len);

		if (big == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		kt_fill(big, len, i);
		snprintf(key, sizeof(key), "b%06u", i);
		rc = kv_put(txn, tx, (kv_val){ key, strlen(key) },
		            (kv_val){ big, len }, 0);
		free(big);
		if (rc == 0 && i >= 24) {
			snprintf(key, sizeof(key), "b%06u", i - 24);
			rc = kv_del(txn, tx, (kv_val){ key, strlen(key) });
		}
	}
	if (rc != 0)
		goto fail;
	kv_txn_set_durability(txn, g % 20 == 0 ? KV_DURABLE_IMMEDIATE
	                                       : KV_DURABLE_NONE);
	return kv_txn_commit(txn);
fail:
	kv_txn_abort(txn);
	return rc;
}

static void *writer_thread(void *p)
{
	struct shared *s = p;
	struct kt_rng rng;
	unsigned char *buf = malloc(8192);
	uint8_t open_acct[4 * NACCT] = { 0 };
	unsigned nballast = 0;

	kt_rng_init(&rng, s->seed ^ 0x77);
	/* generation 1 is written by the setup with the same function */
	for (unsigned i = 0; i < NACCT; i++)
		open_acct[i] = 1;
	for (uint64_t g = 2; g <= s->ncommits + 1 && !s->stop; g++) {
		int rc = write_generation(s->env, g, &rng, buf, open_acct,
		                          &nballast);

		if (rc != 0) {
			share_fail(s,
			           "writer: commit of generation %" PRIu64
			           ": rc %d (%s)",
			           g, rc, kt_err(rc));
			break;
		}
		s->commits++;
	}
	free(buf);
	s->stop = 1;
	return NULL;
}

/* The reader process: waits for a byte on go, then scans until a byte
 * arrives on stopfd; reports its result on resfd. */
static void reader_process(const char *path, int go, int stopfd, int resfd,
                           uint64_t seed)
{
	struct reader_result res;
	char err[512], c;
	kv_env *env;
	int rc;

	if (read(go, &c, 1) != 1)
		_exit(5);
	rc = kv_env_open(&env, path, 0, 0600);
	if (rc != 0) {
		fprintf(stderr, "reader process: kv_env_open: %s\n",
		        kt_err(rc));
		_exit(1);
	}
	fcntl(stopfd, F_SETFL, O_NONBLOCK);
	if (reader_loop(env, NULL, stopfd, seed, &res, err, sizeof(err))) {
		fprintf(stderr, "reader process: %s\n", err);
		_exit(1);
	}
	kv_env_close(env);
	if (write(resfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(6);
	_exit(0);
}

static void setup_store(const char *path, uint64_t seed)
{
	kv_env *env;
	struct kt_rng rng;
	unsigned char buf[8192];
	uint8_t open_acct[4 * NACCT] = { 0 };
	unsigned nballast = 0;

	kt_rng_init(&rng, seed);
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(
	        write_generation(env, 1, &rng, buf, open_acct, &nballast), 0);
	kv_env_close(env);
}

/* kv_check runs while the writer commits: it must stay clean. */
static void *checker_thread(void *p)
{
	struct reader_arg *a = p;

	while (!a->s->stop) {
		struct kv_check_report rep;
		char msgs[2048];
		int rc = kt_check(a->s->env, &rep, msgs, sizeof(msgs));

		if (rc || rep.problems) {
			share_fail(a->s,
			           "kv_check during commits: rc %d (%s), "
			           "%" PRIu64 " problems:\n%s",
			           rc, kt_err(rc), rep.problems, msgs);
			break;
		}
		a->res.scans++;
		sleep_ms(20);
	}
	return NULL;
}

/* kv_env_copy runs while the writer commits: each copy holds one
 * consistent commit and passes kv_check. */
static void *copier_thread(void *p)
{
	struct reader_arg *a = p;
	char dest[4200], lock[4300];
	unsigned i = 0;

	while (!a->s->stop) {
		kv_env *c;
		uint64_t g, txnid;
		char err[512];
		struct kv_check_report rep;
		int rc;

		snprintf(dest, sizeof(dest), "%s-copy%u", a->s->path, i++);
		snprintf(lock, sizeof(lock), "%s-lock", dest);
		rc = kv_env_copy(a->s->env, dest, NULL, 0600);
		if (rc != 0) {
			share_fail(a->s, "kv_env_copy during commits: %s",
			           kt_err(rc));
			break;
		}
		rc = kv_env_open(&c, dest, 0, 0600);
		if (rc != 0) {
			share_fail(a->s, "open a copy: %s", kt_err(rc));
			break;
		}
		if (scan_once(c, 0, &g, &txnid, err, sizeof(err))) {
			share_fail(a->s, "a copy made during commits: %s", err);
			kv_env_close(c);
			break;
		}
		rc = kt_check(c, &rep, NULL, 0);
		kv_env_close(c);
		if (rc != 0) {
			share_fail(a->s, "kv_check of a copy: %s", kt_err(rc));
			break;
		}
		unlink(dest);
		unlink(lock);
		a->res.scans++;
		a->res.distinct = g;
		sleep_ms(50);
	}
	return NULL;
}

static void test_scans_see_one_state(void **state)
{
	struct shared s;
	struct reader_arg ra[NREADERS], ca = { 0 }, ka = { 0 };
	pthread_t rt[NREADERS], wt, ct, kt;
	const char *dir = kt_tmpdir("conc");
	char path[4096];
	int go[2], stp[2], res[2], status;
	struct reader_result pres;
	pid_t pid;
	double t0;

	(void)state;
	alarm(500);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	s.seed = kt_seed("concurrency");
	s.ncommits = kt_long() ? 8000 : 800;
	tmpdir_path(path, sizeof(path), dir, "db");
	s.path = path;
	setup_store(path, s.seed);

	/* fork the reader process before this one opens the store or starts
	 * threads: it opens its own environment */
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(stp), 0);
	assert_int_equal(pipe(res), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(stp[1]);
		close(res[0]);
		reader_process(path, go[0], stp[0], res[1], s.seed + 100);
	}
	close(go[0]);
	close(stp[0]);
	close(res[1]);

	assert_int_equal(kv_env_open(&s.env, path, 0, 0600), 0);
	t0 = now_s();
	for (int i = 0; i < NREADERS; i++) {
		ra[i].s = &s;
		ra[i].id = i;
		assert_int_equal(
		        pthread_create(&rt[i], NULL, reader_thread, &ra[i]), 0);
	}
	ca.s = ka.s = &s;
	assert_int_equal(pthread_create(&ct, NULL, copier_thread, &ca), 0);
	assert_int_equal(pthread_create(&kt, NULL, checker_thread, &ka), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	sleep_ms(50); /* let the other process open and start scanning */
	assert_int_equal(pthread_create(&wt, NULL, writer_thread, &s), 0);
	join_within(wt, 400, "writer thread");
	for (int i = 0; i < NREADERS; i++)
		join_within(rt[i], 60, "reader thread");
	join_within(ct, 60, "copier thread");
	join_within(kt, 60, "checker thread");
	assert_int_equal(write(stp[1], "s", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("reader process failed (status 0x%x, seed %" PRIu64
		         "); its message is above",
		         (unsigned)status, s.seed);
	assert_int_equal(read(res[0], &pres, sizeof(pres)),
	                 (ssize_t)sizeof(pres));
	close(go[1]);
	close(stp[1]);
	close(res[0]);
	if (s.err[0])
		fail_msg("seed %" PRIu64 ": %s", s.seed, s.err);
	fprintf(stderr,
	        "concurrency: %" PRIu64 " commits in %.2f s; thread "
	        "scans %" PRIu64 "/%" PRIu64 "/%" PRIu64
	        ", process scans %" PRIu64 " (%" PRIu64
	        " generations seen), %" PRIu64 " copies, %" PRIu64 " checks\n",
	        (uint64_t)s.commits, now_s() - t0, ra[0].res.scans,
	        ra[1].res.scans, ra[2].res.scans, pres.scans, pres.distinct,
	        ca.res.scans, ka.res.scans);
	assert_int_equal(s.commits, s.ncommits);
	if (ca.res.scans < 1 || ka.res.scans < 1)
		fail_msg("no copy or no check ran during the commits");
	/* the readers really ran concurrently with the writer */
	for (int i = 0; i < NREADERS; i++)
		if (ra[i].res.distinct < 2)
			fail_msg("reader thread %d saw only %" PRIu64
			         " generations",
			         i, ra[i].res.distinct);
	if (pres.distinct < 2)
		fail_msg("the reader process saw only %" PRIu64 " generations",
		         pres.distinct);
	kt_check_clean(s.env, "after the concurrent run");
	kv_env_close(s.env);
	pthread_mutex_destroy(&s.lock);
	alarm(0);
}

/* ---- the writer lock ------------------------------------------------ */

struct try_arg {
	kv_env *env;
	int rc;
	int blocking;
	_Atomic int acquired;
	uint64_t txnid;
	int saw_value;
};

static void *try_thread(void *p)
{
	struct try_arg *a = p;
	kv_txn *txn = NULL;

	if (a->blocking)
		a->rc = kv_txn_begin(a->env, 0, &txn);
	else
		a->rc = kv_txn_try_begin(a->env, 0, &txn);
	if (a->rc == 0) {
		kv_table *t;
		kv_val v;

		a->acquired = 1;
		a->txnid = kv_txn_id(txn);
		a->saw_value = kv_table_open(txn, "t", 0, &t) == 0 &&
		               kv_get(txn, t, (kv_val){ "w1", 2 }, &v) == 0;
		kv_txn_abort(txn);
	}
	return NULL;
}

static void run_try(kv_env *env, int blocking, struct try_arg *a, pthread_t *t)
{
	memset(a, 0, sizeof(*a));
	a->env = env;
	a->blocking = blocking;
	assert_int_equal(pthread_create(t, NULL, try_thread, a), 0);
}

static void test_second_writer_busy(void **state)
{
	const char *dir = kt_tmpdir("busy");
	char path[4096];
	kv_env *env;
	kv_txn *w;
	kv_table *t;
	struct try_arg a;
	pthread_t th;
	pid_t pid;
	int status, rc;

	(void)state;
	alarm(120);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);

	/* another process first: fork while nothing is open in threads */
	assert_int_equal(kv_txn_begin(env, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "w1", 2 }, (kv_val){ "x", 1 }, 0), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kv_env *e2;
		kv_txn *t2;
		int code = 0;

		rc = kv_env_open(&e2, path, 0, 0600);
		if (rc != 0) {
			fprintf(stderr, "child: kv_env_open: %s\n", kt_err(rc));
			_exit(1);
		}
		rc = kv_txn_try_begin(e2, 0, &t2);
		if (rc != KV_EBUSY) {
			fprintf(stderr,
			        "child: kv_txn_try_begin while the "
			        "parent writes: rc %d (%s), expected "
			        "KV_EBUSY\n",
			        rc, kt_err(rc));
			if (rc == 0)
				kv_txn_abort(t2);
			code = 2;
		} else if (kv_strerror(rc)[0] == '\0') {
			code = 3;
		}
		/* reading is fine meanwhile */
		if (code == 0 && kv_txn_begin(e2, KV_TXN_RDONLY, &t2) == 0)
			kv_txn_abort(t2);
		else if (code == 0)
			code = 4;
		kv_env_close(e2);
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("writer lock across processes: child status 0x%x",
		         (unsigned)status);

	/* another thread: try_begin is busy */
	run_try(env, 0, &a, &th);
	join_within(th, 10, "kv_txn_try_begin");
	if (a.rc != KV_EBUSY)
		fail_msg("kv_txn_try_begin in another thread while a write txn "
		         "is open: rc %d (%s), expected KV_EBUSY",
		         a.rc, kt_err(a.rc));
	assert_true(kv_strerror(a.rc)[0] != '\0');

	/* a blocking begin waits until the first writer commits */
	run_try(env, 1, &a, &th);
	sleep_ms(200);
	if (a.acquired)
		fail_msg("kv_txn_begin got the write lock while another write "
		         "txn was open");
	{
		uint64_t id = kv_txn_id(w);

		assert_int_equal(kv_txn_commit(w), 0);
		join_within(th, 10, "blocked kv_txn_begin after the commit");
		assert_int_equal(a.rc, 0);
		assert_true(a.saw_value);
		assert_int_equal(a.txnid, id + 1);
	}

	/* with no writer, try_begin succeeds */
	run_try(env, 0, &a, &th);
	join_within(th, 10, "kv_txn_try_begin");
	assert_int_equal(a.rc, 0);
	kt_check_clean(env, "after the writer lock test");
	kv_env_close(env);
	alarm(0);
}

/* ---- readers and writer do not block each other ---------------------- */

struct commit_arg {
	kv_env *env;
	const char *val;
	int rc;
	_Atomic int done;
};

static void *commit_thread(void *p)
{
	struct commit_arg *a = p;
	kv_txn *txn;
	kv_table *t;

	a->rc = kv_txn_begin(a->env, 0, &txn);
	if (a->rc)
		return NULL;
	a->rc = kv_table_open(txn, "t", KV_TABLE_CREATE, &t);
	if (a->rc == 0)
		a->rc = kv_put(txn, t, (kv_val){ "k", 1 },
		               (kv_val){ a->val, strlen(a->val) }, 0);
	if (a->rc) {
		kv_txn_abort(txn);
		return NULL;
	}
	a->rc = kv_txn_commit(txn); /* durable */
	a->done = 1;
	return NULL;
}

struct read_arg {
	kv_env *env;
	char got[32];
	int rc;
};

static void *read_thread(void *p)
{
	struct read_arg *a = p;
	kv_txn *txn;
	kv_table *t;
	kv_val v;

	a->rc = kv_txn_begin(a->env, KV_TXN_RDONLY, &txn);
	if (a->rc)
		return NULL;
	a->rc = kv_table_open(txn, "t", 0, &t);
	if (a->rc == 0)
		a->rc = kv_get(txn, t, (kv_val){ "k", 1 }, &v);
	if (a->rc == 0)
		snprintf(a->got, sizeof(a->got), "%.*s", (int)v.len,
		         (const char *)v.data);
	kv_txn_abort(txn);
	return NULL;
}

static void assert_committed_value(kv_env *env, const char *want)
{
	struct read_arg ra = { env, "", 0 };

	read_thread(&ra);
	assert_int_equal(ra.rc, 0);
	assert_string_equal(ra.got, want);
}

static void test_no_blocking(void **state)
{
	const char *dir = kt_tmpdir("noblock");
	char path[4096];
	kv_env *env;
	kv_txn *r, *w;
	kv_table *t;
	kv_val v;
	pthread_t th;
	struct commit_arg ca;
	struct read_arg ra;
	int tochild[2], toparent[2], status;
	pid_t pid;
	char c;

	(void)state;
	alarm(120);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	ca = (struct commit_arg){ env, "v1", 0, 0 };
	commit_thread(&ca);
	assert_int_equal(ca.rc, 0);

	/* 1. a read txn stays open in this thread; a writer commits */
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "k", 1 }, &v), 0);
	ca = (struct commit_arg){ env, "v2", 0, 0 };
	assert_int_equal(pthread_create(&th, NULL, commit_thread, &ca), 0);
	join_within(th, 10, "a writer while a read txn is open");
	assert_int_equal(ca.rc, 0);
	assert_int_equal(v.len, 2);
	assert_memory_equal(v.data, "v1", 2); /* the old pointer */
	assert_int_equal(kv_get(r, t, (kv_val){ "k", 1 }, &v), 0);
	assert_memory_equal(v.data, "v1", 2); /* its own state */
	assert_committed_value(env, "v2");    /* a new reader sees it */
	kv_txn_abort(r);

	/* 2. a reader in another process holds its txn; a writer commits */
	assert_int_equal(pipe(tochild), 0);
	assert_int_equal(pipe(toparent), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kv_env *e2;
		kv_txn *r2;
		kv_table *t2;
		kv_val v2;
		int code = 0;

		if (kv_env_open(&e2, path, 0, 0600) ||
		    kv_txn_begin(e2, KV_TXN_RDONLY, &r2) ||
		    kv_table_open(r2, "t", 0, &t2) ||
		    kv_get(r2, t2, (kv_val){ "k", 1 }, &v2))
			_exit(1);
		if (write(toparent[1], "r", 1) != 1 ||
		    read(tochild[0], &c, 1) != 1)
			_exit(2);
		if (v2.len != 2 || memcmp(v2.data, "v2", 2) != 0)
			code = 3;
		if (kv_get(r2, t2, (kv_val){ "k", 1 }, &v2) || v2.len != 2 ||
		    memcmp(v2.data, "v2", 2) != 0)
			code = 4;
		kv_txn_abort(r2);
		kv_env_close(e2);
		_exit(code);
	}
	assert_int_equal(read(toparent[0], &c, 1), 1);
	ca = (struct commit_arg){ env, "v3", 0, 0 };
	assert_int_equal(pthread_create(&th, NULL, commit_thread, &ca), 0);
	join_within(th, 10, "a writer while another process reads");
	assert_int_equal(ca.rc, 0);
	assert_int_equal(write(tochild[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("reader process: status 0x%x (3/4: it saw the later "
		         "commit)",
		         (unsigned)status);
	close(tochild[0]);
	close(tochild[1]);
	close(toparent[0]);
	close(toparent[1]);

	/* 3. an open, uncommitted write txn does not block readers */
	assert_int_equal(kv_txn_begin(env, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", 0, &t), 0);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "k", 1 }, (kv_val){ "v4", 2 }, 0), 0);
	memset(&ra, 0, sizeof(ra));
	ra.env = env;
	assert_int_equal(pthread_create(&th, NULL, read_thread, &ra), 0);
	join_within(th, 10, "a reader while a write txn is open");
	assert_int_equal(ra.rc, 0);
	assert_string_equal(ra.got, "v3"); /* not the uncommitted v4 */
	assert_int_equal(kv_txn_commit(w), 0);
	assert_committed_value(env, "v4");
	kt_check_clean(env, "after the blocking test");
	kv_env_close(env);
	alarm(0);
}

/* ---- growth while a reader holds pointers --------------------------- */

static void test_growth_keeps_pointers(void **state)
{
	const char *dir = kt_tmpdir("grow");
	char path[4096];
	kv_env *env;
	kv_txn *r, *w;
	kv_table *t;
	kv_val small, big, v;
	struct kv_stat st0, st1;
	unsigned char *buf = malloc(MiB);
	const size_t smalllen = 3000, biglen = 300 * 1024;

	(void)state;
	assert_non_null(buf);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(env, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", KV_TABLE_CREATE, &t), 0);
	kt_fill(buf, smalllen, 1);
	assert_int_equal(kv_put(w, t, (kv_val){ "anchor", 6 },
	                        (kv_val){ buf, smalllen }, 0),
	                 0);
	kt_fill(buf, biglen, 2);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "big", 3 }, (kv_val){ buf, biglen }, 0),
	        0);
	assert_int_equal(kv_txn_commit(w), 0);
	assert_int_equal(kv_env_stat(env, &st0), 0);

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "anchor", 6 }, &small), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "big", 3 }, &big), 0);

	/* grow the file by 48 MiB in 8 commits, rewriting both keys */
	for (unsigned c = 0; c < 8; c++) {
		kv_table *tw;

		assert_int_equal(kv_txn_begin(env, 0, &w), 0);
		assert_int_equal(kv_table_open(w, "t", 0, &tw), 0);
		for (unsigned i = 0; i < 6; i++) {
			char key[16];

			snprintf(key, sizeof(key), "fill%02u", c * 6 + i);
			kt_fill(buf, MiB, 100 + c * 6 + i);
			assert_int_equal(kv_put(w, tw,
			                        (kv_val){ key, strlen(key) },
			                        (kv_val){ buf, MiB }, 0),
			                 0);
		}
		kt_fill(buf, smalllen, 10 + c);
		assert_int_equal(kv_put(w, tw, (kv_val){ "anchor", 6 },
		                        (kv_val){ buf, smalllen }, 0),
		                 0);
		kt_fill(buf, biglen, 20 + c);
		assert_int_equal(kv_put(w, tw, (kv_val){ "big", 3 },
		                        (kv_val){ buf, biglen }, 0),
		                 0);
		kv_txn_set_durability(w, KV_DURABLE_NONE);
		assert_int_equal(kv_txn_commit(w), 0);
		/* the old pointers keep their bytes after every growth step */
		assert_int_equal(kt_vcheck(small.data, smalllen, 1), -1);
		assert_int_equal(kt_vcheck(big.data, biglen, 2), -1);
	}
	assert_int_equal(kv_env_stat(env, &st1), 0);
	if (st1.file_size < st0.file_size + 40 * MiB)
		fail_msg("the file grew from %" PRIu64 " to %" PRIu64
		         " bytes only; the test needs tens of MiB of growth",
		         st0.file_size, st1.file_size);
	assert_int_equal(small.len, smalllen);
	assert_int_equal(kt_vcheck(small.data, smalllen, 1), -1);
	assert_int_equal(big.len, biglen);
	assert_int_equal(kt_vcheck(big.data, biglen, 2), -1);
	/* and the reader still reads its own state, through the new map */
	assert_int_equal(kv_get(r, t, (kv_val){ "big", 3 }, &v), 0);
	assert_int_equal(kt_vcheck(v.data, biglen, 2), -1);
	assert_int_equal(kv_get(r, t, (kv_val){ "fill00", 6 }, &v),
	                 KV_ENOTFOUND);
	kv_txn_abort(r);

	/* a fresh reader sees the last commit */
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "big", 3 }, &v), 0);
	assert_int_equal(kt_vcheck(v.data, biglen, 27), -1);
	assert_int_equal(kv_get(r, t, (kv_val){ "fill47", 6 }, &v), 0);
	assert_int_equal(kt_vcheck(v.data, MiB, 147), -1);
	kv_txn_abort(r);
	kt_check_clean(env, "after growth");
	kv_env_close(env);
	free(buf);
}

/* ---- writers in several processes and threads ----------------------- */

#define WPROCS 2
#define WTHREADS 2

struct incr_arg {
	kv_env *env;
	unsigned n;
	unsigned id;
	char err[256];
};

/* n increments of the counter, each logging "log/<value>" = id. */
static void *incr_thread(void *p)
{
	struct incr_arg *a = p;

	for (unsigned i = 0; i < a->n; i++) {
		kv_txn *txn;
		kv_table *t;
		kv_val v;
		uint64_t n = 0;
		char key[32];
		int rc = kv_txn_begin(a->env, 0, &txn);

		if (rc != 0) {
			snprintf(a->err, sizeof(a->err), "begin: %s",
			         kt_err(rc));
			return NULL;
		}
		rc = kv_table_open(txn, "ctr", KV_TABLE_CREATE, &t);
		if (rc == 0) {
			rc = kv_get(txn, t, (kv_val){ "n", 1 }, &v);
			if (rc == 0 && v.len == 8)
				memcpy(&n, v.data, 8);
			else if (rc == KV_ENOTFOUND)
				rc = 0;
		}
		n++;
		snprintf(key, sizeof(key), "log/%08" PRIu64, n);
		if (rc == 0)
			rc = kv_put(txn, t, (kv_val){ "n", 1 },
			            (kv_val){ &n, 8 }, 0);
		if (rc == 0)
			rc = kv_put(txn, t, (kv_val){ key, strlen(key) },
			            (kv_val){ &a->id, sizeof(a->id) },
			            KV_NOOVERWRITE);
		if (rc != 0) {
			snprintf(a->err, sizeof(a->err),
			         "increment to %" PRIu64 ": %s", n, kt_err(rc));
			kv_txn_abort(txn);
			return NULL;
		}
		kv_txn_set_durability(txn, i % 4 == 0 ? KV_DURABLE_IMMEDIATE
		                                      : KV_DURABLE_NONE);
		rc = kv_txn_commit(txn);
		if (rc != 0) {
			snprintf(a->err, sizeof(a->err), "commit: %s",
			         kt_err(rc));
			return NULL;
		}
	}
	return NULL;
}

static int incr_process(const char *path, unsigned n, unsigned id)
{
	struct incr_arg a[WTHREADS];
	pthread_t t[WTHREADS];
	kv_env *env;
	int rc = kv_env_open(&env, path, 0, 0600), code = 0;

	if (rc != 0) {
		fprintf(stderr, "writer process: open: %s\n", kt_err(rc));
		return 1;
	}
	for (unsigned i = 0; i < WTHREADS; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].env = env;
		a[i].n = n;
		a[i].id = id * 16 + i;
		if (pthread_create(&t[i], NULL, incr_thread, &a[i]))
			return 2;
	}
	for (unsigned i = 0; i < WTHREADS; i++) {
		pthread_join(t[i], NULL);
		if (a[i].err[0]) {
			fprintf(stderr, "writer process %u thread %u: %s\n", id,
			        i, a[i].err);
			code = 3;
		}
	}
	kv_env_close(env);
	return code;
}

/*
 * Two processes with two writer threads each increment one counter: every
 * writer must see the commit before it, wherever it was made, so no
 * increment is lost and no log key is written twice (KV_NOOVERWRITE).
 */
static void test_writers_in_processes(void **state)
{
	const char *dir = kt_tmpdir("writers");
	char path[4096];
	unsigned n = kt_long() ? 2000 : 250;
	pid_t pids[WPROCS];
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	kv_val v, k;
	uint64_t total = 0, logs = 0;
	kv_cursor *c;
	int rc;

	(void)state;
	alarm(300);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	kv_env_close(env);
	fflush(NULL);
	for (unsigned p = 0; p < WPROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0)
			_exit(incr_process(path, n, p));
	}
	for (unsigned p = 0; p < WPROCS; p++) {
		int status;

		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("writer process %u: status 0x%x (message "
			         "above)",
			         p, (unsigned)status);
	}
	assert_int_equal(kv_env_open(&env, path, 0, 0600), 0);
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_table_open(txn, "ctr", 0, &t), 0);
	assert_int_equal(kv_get(txn, t, (kv_val){ "n", 1 }, &v), 0);
	assert_int_equal(v.len, 8);
	memcpy(&total, v.data, 8);
	assert_int_equal(kv_cursor_open(txn, t, &c), 0);
	for (rc = kv_cursor_seek(c, (kv_val){ "log/", 4 }, &k, NULL); rc == 0;
	     rc = kv_cursor_next(c, &k, NULL)) {
		if (k.len < 4 || memcmp(k.data, "log/", 4) != 0)
			break;
		logs++;
	}
	assert_int_equal(rc, 0); /* stopped at "n" */
	kv_cursor_close(c);
	kv_txn_abort(txn);
	if (total != (uint64_t)WPROCS * WTHREADS * n || logs != total)
		fail_msg("%u writers made %u increments each: the counter is "
		         "%" PRIu64 " with %" PRIu64 " log keys",
		         WPROCS * WTHREADS, n, total, logs);
	kt_check_clean(env, "after writers in two processes");
	kv_env_close(env);
	alarm(0);
}

/* ---- two environments on one file in one process -------------------- */

/*
 * Two kv_env handles on one file in one process behave like two processes:
 * the second writer is busy while the first writes, and closing one handle
 * does not drop the other's locks or reader registration (POSIX record
 * locks of a process all go when any of its descriptors of the file is
 * closed).  A reader in env A keeps its pages after env B closed, while
 * another process rewrites everything many times.
 */
static void test_two_envs_one_process(void **state)
{
	const char *dir = kt_tmpdir("twoenv");
	char path[4096];
	kv_env *a, *b;
	kv_txn *wa, *wb, *r;
	kv_table *t;
	kv_val small, big;
	unsigned char *buf = malloc(MiB);
	const size_t biglen = 300 * 1024;
	pid_t pid;
	int status, rc;

	(void)state;
	alarm(120);
	assert_non_null(buf);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&a, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_env_open(&b, path, 0, 0600), 0);

	assert_int_equal(kv_txn_begin(a, 0, &wa), 0);
	rc = kv_txn_try_begin(b, 0, &wb);
	if (rc != KV_EBUSY) {
		if (rc == 0)
			kv_txn_abort(wb);
		kv_txn_abort(wa);
		fail_msg("a second env in the same process got rc %d (%s) from "
		         "kv_txn_try_begin while the first env writes",
		         rc, kt_err(rc));
	}
	assert_int_equal(kv_table_open(wa, "t", KV_TABLE_CREATE, &t), 0);
	kt_fill(buf, 3000, 1);
	assert_int_equal(
	        kv_put(wa, t, (kv_val){ "small", 5 }, (kv_val){ buf, 3000 }, 0),
	        0);
	kt_fill(buf, biglen, 2);
	assert_int_equal(
	        kv_put(wa, t, (kv_val){ "big", 3 }, (kv_val){ buf, biglen }, 0),
	        0);
	assert_int_equal(kv_txn_commit(wa), 0);

	/* B writes; A sees it */
	assert_int_equal(kv_txn_begin(b, 0, &wb), 0);
	assert_int_equal(kv_table_open(wb, "t", 0, &t), 0);
	assert_int_equal(
	        kv_put(wb, t, (kv_val){ "fromb", 5 }, (kv_val){ "b", 1 }, 0),
	        0);
	assert_int_equal(kv_txn_commit(wb), 0);
	assert_int_equal(kv_txn_begin(a, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "fromb", 5 }, &small), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "small", 5 }, &small), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "big", 3 }, &big), 0);

	/* close B while A's reader is open; another process rewrites */
	kv_env_close(b);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kv_env *c;
		kv_txn *w;
		kv_table *ct;

		if (kv_env_open(&c, path, 0, 0600))
			_exit(1);
		for (unsigned i = 0; i < 40; i++) {
			if (kv_txn_begin(c, 0, &w) ||
			    kv_table_open(w, "t", 0, &ct))
				_exit(2);
			kt_fill(buf, 3000, 100 + i);
			if (kv_put(w, ct, (kv_val){ "small", 5 },
			           (kv_val){ buf, 3000 }, 0))
				_exit(3);
			kt_fill(buf, biglen, 200 + i);
			if (kv_put(w, ct, (kv_val){ "big", 3 },
			           (kv_val){ buf, biglen }, 0))
				_exit(3);
			if (kv_txn_commit(w))
				_exit(4);
		}
		kv_env_close(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("writer process: status 0x%x", (unsigned)status);
	if (kt_vcheck(small.data, 3000, 1) >= 0 ||
	    kt_vcheck(big.data, biglen, 2) >= 0)
		fail_msg("env A's reader lost its pages after env B was "
		         "closed: another process reused them");
	assert_int_equal(kv_get(r, t, (kv_val){ "big", 3 }, &big), 0);
	assert_int_equal(kt_vcheck(big.data, biglen, 2), -1);
	kv_txn_abort(r);
	kt_check_clean(a, "after two envs");
	kv_env_close(a);
	free(buf);
	alarm(0);
}

/* ---- the server lock ------------------------------------------------ */

static int lock_child(const char *path, int want)
{
	kv_env *env;
	kv_txn *w;
	kv_table *t;
	int rc = kv_env_open(&env, path, 0, 0600);

	if (rc != 0)
		return 1;
	rc = kv_env_lock_exclusive(env);
	if (rc != want) {
		fprintf(stderr,
		        "kv_env_lock_exclusive: rc %d (%s), "
		        "expected %d\n",
		        rc, kt_err(rc), want);
		return 2;
	}
	/* writers are not affected by the server lock */
	if (kv_txn_begin(env, 0, &w) ||
	    kv_table_open(w, "t", KV_TABLE_CREATE, &t) ||
	    kv_put(w, t, (kv_val){ "x", 1 }, (kv_val){ "y", 1 }, 0) ||
	    kv_txn_commit(w))
		return 3;
	kv_env_close(env);
	return 0;
}

static void run_lock_child(const char *path, int want)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(lock_child(path, want));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("server lock child (expecting rc %d): status 0x%x",
		         want, (unsigned)status);
}

static void test_server_lock(void **state)
{
	const char *dir = kt_tmpdir("srvlock");
	char path[4096];
	kv_env *env;

	(void)state;
	alarm(60);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_env_lock_exclusive(env), 0);
	run_lock_child(path, KV_ELOCKED);
	assert_true(kv_strerror(KV_ELOCKED)[0] != '\0');
	kv_env_close(env);
	run_lock_child(path, 0); /* released by close */
	alarm(0);
}

/* ---- a read-only environment --------------------------------------- */

/*
 * A KV_RDONLY env reads what another env commits and refuses to write:
 * write txns, table creation and snapshot changes give KV_EREADONLY.
 */
static void test_readonly_env(void **state)
{
	const char *dir = kt_tmpdir("rdonly");
	char path[4096];
	kv_env *rw, *ro;
	kv_txn *w, *r;
	kv_table *t;
	kv_val v;
	int rc;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	rc = kv_env_open(&ro, path, KV_RDONLY, 0600);
	assert_true(rc < 0); /* no file yet, and no KV_CREATE */
	assert_int_equal(kv_env_open(&rw, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(rw, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "k", 1 }, (kv_val){ "1", 1 }, 0), 0);
	assert_int_equal(kv_txn_commit(w), 0);

	assert_int_equal(kv_env_open(&ro, path, KV_RDONLY, 0600), 0);
	rc = kv_txn_begin(ro, 0, &w);
	if (rc != KV_EREADONLY) {
		if (rc == 0)
			kv_txn_abort(w);
		fail_msg("write txn in a KV_RDONLY env: rc %d (%s)", rc,
		         kt_err(rc));
	}
	assert_int_equal(kv_txn_try_begin(ro, 0, &w), KV_EREADONLY);
	assert_int_equal(kv_txn_begin(ro, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "new", KV_TABLE_CREATE, &t),
	                 KV_EREADONLY);
	assert_int_equal(kv_snapshot_create(r, "s"), KV_EREADONLY);
	assert_int_equal(kv_table_drop(r, "t"), KV_EREADONLY);
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "k", 1 }, &v), 0);
	assert_memory_equal(v.data, "1", 1);
	kv_txn_abort(r);

	/* it sees the other env's later commits */
	assert_int_equal(kv_txn_begin(rw, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", 0, &t), 0);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "k", 1 }, (kv_val){ "2", 1 }, 0), 0);
	assert_int_equal(kv_txn_commit(w), 0);
	assert_int_equal(kv_txn_begin(ro, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	assert_int_equal(kv_get(r, t, (kv_val){ "k", 1 }, &v), 0);
	assert_memory_equal(v.data, "2", 1);
	kv_txn_abort(r);
	kt_check_clean(ro, "through the read-only env");
	kv_env_close(ro);
	kv_env_close(rw);
}

/* ---- many readers ------------------------------------------------------ */

/*
 * More read txns than the reader table holds: the ones past its end get
 * KV_EREADERS with a message (never a crash or a hang), every one that
 * began reads correctly, and once they end the slots are free again.
 */
static void test_many_readers(void **state)
{
	const char *dir = kt_tmpdir("readers");
	char path[4096];
	enum { N = 1500 };
	kv_txn **r = calloc(N, sizeof(*r));
	kv_env *env;
	kv_txn *w;
	kv_table *t;
	kv_val v;
	struct kv_stat st;
	unsigned ok = 0, full = 0;

	(void)state;
	alarm(120);
	assert_non_null(r);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(env, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "k", 1 }, (kv_val){ "v", 1 }, 0), 0);
	assert_int_equal(kv_txn_commit(w), 0);
	for (unsigned i = 0; i < N; i++) {
		int rc = kv_txn_begin(env, KV_TXN_RDONLY, &r[i]);

		if (rc == KV_EREADERS) {
			assert_true(kv_errmsg()[0] != '\0');
			r[i] = NULL;
			full++;
			continue;
		}
		if (rc != 0)
			fail_msg("read txn %u: rc %d (%s)", i, rc, kt_err(rc));
		ok++;
		assert_int_equal(kv_table_open(r[i], "t", 0, &t), 0);
		assert_int_equal(kv_get(r[i], t, (kv_val){ "k", 1 }, &v), 0);
	}
	assert_int_equal(kv_env_stat(env, &st), 0);
	if (st.readers != ok)
		fail_msg("%u read txns open, kv_env_stat says %" PRIu64, ok,
		         st.readers);
	/* the writer is not blocked by a full reader table */
	assert_int_equal(kv_txn_begin(env, 0, &w), 0);
	assert_int_equal(kv_table_open(w, "t", 0, &t), 0);
	assert_int_equal(
	        kv_put(w, t, (kv_val){ "k", 1 }, (kv_val){ "w", 1 }, 0), 0);
	assert_int_equal(kv_txn_commit(w), 0);
	for (unsigned i = 0; i < N; i++)
		if (r[i])
			kv_txn_abort(r[i]);
	assert_int_equal(kv_env_stat(env, &st), 0);
	assert_int_equal(st.readers, 0);
	fprintf(stderr, "readers: %u began, %u got KV_EREADERS\n", ok, full);
	/* begin and end many more: slots are reused, not leaked */
	for (unsigned i = 0; i < 5000; i++) {
		kv_txn *x;

		assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &x), 0);
		kv_txn_abort(x);
	}
	assert_int_equal(kv_env_stat(env, &st), 0);
	assert_int_equal(st.readers, 0);
	kt_check_clean(env, "after many readers");
	kv_env_close(env);
	free(r);
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_scans_see_one_state),  T(test_second_writer_busy),
		T(test_no_blocking),          T(test_growth_keeps_pointers),
		T(test_writers_in_processes), T(test_two_envs_one_process),
		T(test_server_lock),          T(test_readonly_env),
		T(test_many_readers),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
