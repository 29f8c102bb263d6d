/*
 * kv_diff_bench.c - what kv_table_diff() costs against a full scan.
 *
 *   kv-diff-bench [--n N] [--changes K] [--runs R] [--dir DIR]
 *
 * One table of N records (the data set of kv_bench.c: 24-byte random keys
 * and 150-byte values from bench.h), loaded in one durable commit and kept
 * by a snapshot; then K of the records, spread evenly over the items, get
 * new values in one more commit.  Two ways to find what changed between
 * the snapshot and the live state are timed, each R times (the median is
 * given), on a warm file:
 *
 *   kv_table_diff   the snapshot's txn against a read txn of the live
 *                   state; subtrees the two share are passed over unread
 *   full scan       a cursor on each side, merged, comparing every value
 *
 * Pages: those kv_table_diff reports reading (struct kv_diff_stat), and
 * for the full scan every page of both trees (each side's count is what a
 * diff against a snapshot without the table reads).  Both must find the K
 * changed records, or the benchmark fails.  Defaults: N = 100,000, K = 10,
 * R = 5.  It needs the engine only, so it is built in every tree (not only
 * when kv-bench's peers are installed).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "bench.h"

#define TABLE "bench"

struct opts {
	uint64_t n, changes;
	unsigned runs;
	const char *dir;
};

static void die(const char *fmt, ...) BENCH_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kv-diff-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void check(int rc, const char *what)
{
	if (rc != 0)
		die("%s: %s (%s)", what, kv_strerror(rc), kv_errmsg());
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the store ---------------------------------------------------------- */

/* Items [0, n) in one durable commit; snapshots "none" (of the state
 * before it) and "before" (of the state after it); then new values for
 * `changes` items spread evenly, in one more commit. */
static void build(kv_env *env, const struct opts *o)
{
	uint8_t key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
	kv_txn *txn;
	kv_table *t;

	check(kv_txn_begin(env, 0, &txn), "kv_txn_begin");
	check(kv_snapshot_create(txn, "none"), "kv_snapshot_create");
	check(kv_table_open(txn, TABLE, KV_TABLE_CREATE, &t), "kv_table_open");
	for (uint64_t i = 0; i < o->n; i++) {
		bench_key(i, key);
		bench_value(i, val);
		check(kv_put(txn, t, (kv_val){ key, sizeof(key) },
		             (kv_val){ val, sizeof(val) }, 0),
		      "kv_put");
	}
	check(kv_txn_commit(txn), "kv_txn_commit (load)");
	check(kv_txn_begin(env, 0, &txn), "kv_txn_begin");
	check(kv_snapshot_create(txn, "before"), "kv_snapshot_create");
	check(kv_txn_commit(txn), "kv_txn_commit (snapshot)");

	check(kv_txn_begin(env, 0, &txn), "kv_txn_begin");
	check(kv_table_open(txn, TABLE, 0, &t), "kv_table_open");
	for (uint64_t c = 0; c < o->changes; c++) {
		uint64_t i = c * (o->n / o->changes);

		bench_key(i, key);
		bench_value(o->n + c, val); /* another item's value */
		check(kv_put(txn, t, (kv_val){ key, sizeof(key) },
		             (kv_val){ val, sizeof(val) }, 0),
		      "kv_put");
	}
	check(kv_txn_commit(txn), "kv_txn_commit (changes)");
}

/* ---- the two ways ------------------------------------------------------- */

static int count_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	uint64_t *n = ctx;

	(void)key;
	(void)va;
	(void)vb;
	(*n)++;
	return 0;
}

static int step(kv_cursor *c, int first, kv_val *k, kv_val *v)
{
	int rc = first ? kv_cursor_first(c, k, v) : kv_cursor_next(c, k, v);

	if (rc != 0 && rc != KV_ENOTFOUND)
		check(rc, "cursor");
	return rc;
}

static int key_cmp(kv_val a, kv_val b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.data, b.data, n);

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* The records that differ, found by reading both tables whole. */
static uint64_t full_scan(kv_txn *a, kv_txn *b)
{
	kv_table *ta, *tb;
	kv_cursor *ca, *cb;
	kv_val ka, va, kb, vb;
	uint64_t n = 0;
	int ra, rb;

	check(kv_table_open(a, TABLE, 0, &ta), "kv_table_open");
	check(kv_table_open(b, TABLE, 0, &tb), "kv_table_open");
	check(kv_cursor_open(a, ta, &ca), "kv_cursor_open");
	check(kv_cursor_open(b, tb, &cb), "kv_cursor_open");
	ra = step(ca, 1, &ka, &va);
	rb = step(cb, 1, &kb, &vb);
	while (ra == 0 || rb == 0) {
		int c = ra != 0 ? 1 : rb != 0 ? -1 : key_cmp(ka, kb);

		if (c == 0 && va.len == vb.len &&
		    memcmp(va.data, vb.data, va.len) == 0) {
			ra = step(ca, 0, &ka, &va);
			rb = step(cb, 0, &kb, &vb);
			continue;
		}
		n++;
		if (c <= 0)
			ra = step(ca, 0, &ka, &va);
		if (c >= 0)
			rb = step(cb, 0, &kb, &vb);
	}
	kv_cursor_close(ca);
	kv_cursor_close(cb);
	return n;
}

/* Pages of the table in txn: a diff against snapshot "none" reads each
 * once. */
static uint64_t table_pages(kv_env *env, kv_txn *txn)
{
	struct kv_diff_stat st;
	uint64_t n = 0;
	kv_txn *none;

	check(kv_txn_begin_snapshot(env, "none", &none), "snapshot none");
	check(kv_table_diff(none, txn, TABLE, count_cb, &n, &st),
	      "kv_table_diff");
	kv_txn_abort(none);
	return st.pages_read;
}

/* ---- options and main --------------------------------------------------- */

static uint64_t parse_count(const char *opt, const char *s, uint64_t min)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min)
		die("%s: expected a number of at least %llu, got \"%s\"", opt,
		    (unsigned long long)min, s);
	return v;
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "n", required_argument, NULL, 'n' },
		{ "changes", required_argument, NULL, 'c' },
		{ "runs", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .n = 100000, .changes = 10, .runs = 5 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->n = parse_count("--n", optarg, 1);
			break;
		case 'c':
			o->changes = parse_count("--changes", optarg, 1);
			break;
		case 'r':
			o->runs = (unsigned)parse_count("--runs", optarg, 1);
			if (o->runs > 99)
				die("--runs: at most 99");
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'h':
			printf("usage: kv-diff-bench [--n N] [--changes K] "
			       "[--runs R] [--dir DIR]\n");
			exit(0);
		default:
			exit(2);
		}
	}
	if (optind < argc || o->changes > o->n)
		die("usage: kv-diff-bench [--n N] [--changes K <= N] "
		    "[--runs R] [--dir DIR]");
}

int main(int argc, char **argv)
{
	char tmpl[] = "/var/tmp/kv-diff-bench.XXXXXX", path[4200], lock[4300];
	double t_diff[99], t_scan[99];
	struct kv_diff_stat st = { 0, 0 };
	uint64_t pages_a, pages_b, found = 0;
	struct opts o;
	kv_env *env;
	kv_txn *snap, *live;
	const char *dir;

	parse_options(argc, argv, &o);
	dir = o.dir;
	if (dir == NULL) {
		dir = mkdtemp(tmpl);
		if (dir == NULL)
			die("mkdtemp: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/diff.kv", dir);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
	check(kv_env_open(&env, path, KV_CREATE, 0600), "kv_env_open");
	build(env, &o);

	check(kv_txn_begin_snapshot(env, "before", &snap), "snapshot before");
	check(kv_txn_begin(env, KV_TXN_RDONLY, &live), "kv_txn_begin");
	pages_a = table_pages(env, snap);
	pages_b = table_pages(env, live);
	(void)full_scan(snap, live); /* warm both trees */
	for (unsigned r = 0; r < o.runs; r++) {
		uint64_t n = 0;
		double t0 = now_ms();

		check(kv_table_diff(snap, live, TABLE, count_cb, &n, &st),
		      "kv_table_diff");
		t_diff[r] = now_ms() - t0;
		if (n != o.changes)
			die("kv_table_diff found %llu changes, expected %llu",
			    (unsigned long long)n,
			    (unsigned long long)o.changes);
		t0 = now_ms();
		found = full_scan(snap, live);
		t_scan[r] = now_ms() - t0;
		if (found != o.changes)
			die("the full scan found %llu changes, expected %llu",
			    (unsigned long long)found,
			    (unsigned long long)o.changes);
	}
	kv_txn_abort(live);
	kv_txn_abort(snap);
	kv_env_close(env);
	unlink(path);
	unlink(lock);
	if (o.dir == NULL)
		rmdir(dir);

	printf("kv-diff-bench: %llu records (%u-byte keys, %u-byte values), "
	       "%llu changed between a snapshot and the live state;\n"
	       "median of %u runs, warm file\n\n",
	       (unsigned long long)o.n, BENCH_KEY_LEN, BENCH_VAL_LEN,
	       (unsigned long long)o.changes, o.runs);
	printf("%-24s %12s %12s %16s\n", "", "time (ms)", "pages read",
	       "subtrees skipped");
	printf("%-24s %12.3f %12llu %16llu\n", "kv_table_diff",
	       median(t_diff, o.runs), (unsigned long long)st.pages_read,
	       (unsigned long long)st.subtrees_skipped);
	printf("%-24s %12.3f %12llu %16s\n", "full scan of both",
	       median(t_scan, o.runs), (unsigned long long)(pages_a + pages_b),
	       "-");
	return 0;
}
