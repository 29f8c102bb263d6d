/*
 * Unit tests of btree.c: page fill on sorted loads, splits with the largest
 * keys and nodes, merges on deletes down to an empty tree, KV_APPEND order
 * checks, overflow values and cursor re-finding in a changing write txn.
 * Every test ends with the integrity check.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_int.h"
#include "tmpdir.h"

static int setup(void **state)
{
	return tmpenv_setup(state, "btree");
}

static int teardown(void **state)
{
	return tmpenv_teardown(state);
}

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	print_error("check: %s\n", msg);
}

static void check_clean(kv_env *env)
{
	struct kv_check_report rep;
	assert_int_equal(kv_check(env, report, NULL, &rep), 0);
	assert_int_equal(rep.problems, 0);
}

static kv_val kv_str(const char *s)
{
	kv_val v = { s, strlen(s) };
	return v;
}

/* Sorted loads with KV_APPEND fill leaves: pages used stay within 3% of
 * the minimum the entry bytes need. */
static void test_append_fills_pages(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	char k[32], v[100];
	const int n = 50000;

	memset(v, 'v', sizeof(v));
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < n; i++) {
		int l = snprintf(k, sizeof(k), "k%010d", i);
		kv_val key = { k, (size_t)l }, val = { v, sizeof(v) };
		assert_int_equal(kv_put(t, tb, key, val, KV_APPEND), 0);
	}
	uint64_t node = LN_HDR + 11 + 100 + 2;
	uint64_t per = (KV_PAGE_SIZE - PH_SIZE) / node;
	uint64_t min = (n + per - 1) / per;
	assert_true(tb->h.tree.leaf_pages <= min + min * 3 / 100);
	assert_int_equal(kv_table_count(tb), n);
	/* an out-of-order append is refused and changes nothing */
	assert_int_equal(
	        kv_put(t, tb, kv_str("k0000000005"), kv_str("x"), KV_APPEND),
	        KV_EORDER);
	assert_int_equal(kv_table_count(tb), n);
	assert_int_equal(kv_txn_commit(t), 0);
	check_clean(f->env);
}

/* Key i of the append test: "a%06d", and table b's "b%06d". */
static kv_val akey(char *buf, char table, int i)
{
	kv_val k = { buf, (size_t)snprintf(buf, 16, "%c%06d", table, i) };
	return k;
}

/* Value lengths of the append test's keys in table a, 0 for the default. */
static size_t avlen[3000];

/* The value of key i of table: i's low byte, repeated; every 50th one is
 * past the overflow threshold. */
static size_t aval(char *buf, char table, int i)
{
	size_t n = table == 'a' && avlen[i] ? avlen[i]
	           : i % 50 == 49           ? 5000
	                                    : (size_t)(i % 200);
	memset(buf, (char)i, n);
	return n;
}

/* Every key a table holds, in order, must be the ones expected: keys
 * have[0..n) in ascending i, with values aval(i). */
static void expect_run(kv_txn *t, kv_table *tb, char table, const int *have,
                       int n)
{
	char kb[16], vb[5000];
	kv_cursor *cu;
	kv_val k, v;
	int j = 0, rc;

	assert_int_equal(kv_cursor_open(t, tb, &cu), 0);
	for (rc = kv_cursor_first(cu, &k, &v); rc == 0;
	     rc = kv_cursor_next(cu, &k, &v), j++) {
		assert_true(j < n);
		kv_val want = akey(kb, table, have[j]);
		size_t vl = aval(vb, table, have[j]);
		assert_int_equal(k.len, want.len);
		assert_memory_equal(k.data, want.data, k.len);
		assert_int_equal(v.len, vl);
		assert_memory_equal(v.data, vb, vl);
	}
	assert_int_equal(rc, KV_ENOTFOUND);
	assert_int_equal(j, n);
	assert_int_equal(kv_table_count(tb), (uint64_t)n);
	kv_cursor_close(cu);
}

/*
 * A run of KV_APPEND puts goes straight to the leaf the one before it
 * ended in, as long as no tree changed since.  Everything that changes a
 * tree in between must send the next append down the tree again: appends
 * to another table, a plain put, a delete of the last key (which can merge
 * the leaf away).  An append whose value needs overflow pages goes on in
 * the same leaf.  Out of order appends are refused there as well, with
 * nothing changed, and with the error an append without the shortcut
 * gets: KV_EEXIST for the last key under KV_NOOVERWRITE, else KV_EORDER.
 */
static void test_append_runs_interleaved(void **state)
{
	struct tmpenv *f = *state;
	static int ha[3000], hb[3000];
	int na = 0, nb = 0, i;
	char kb[16], vb[5000];
	kv_txn *t;
	kv_table *a, *b;

	memset(avlen, 0, sizeof(avlen));
	kv_cursor *cu;
	kv_val k, v;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &a), 0);
	assert_int_equal(kv_table_open(t, "b", KV_TABLE_CREATE, &b), 0);
	/* a cursor kept across the appends follows them */
	for (i = 0; i < 10; i++, na++) {
		ha[na] = i;
		kv_val val = { vb, aval(vb, 'a', i) };
		assert_int_equal(kv_put(t, a, akey(kb, 'a', i), val, KV_APPEND),
		                 0);
	}
	assert_int_equal(kv_cursor_open(t, a, &cu), 0);
	assert_int_equal(kv_cursor_first(cu, &k, &v), 0);
	for (i = 10; i < 2000; i++) {
		kv_val val = { vb, aval(vb, 'a', i) };
		assert_int_equal(kv_put(t, a, akey(kb, 'a', i), val, KV_APPEND),
		                 0);
		ha[na++] = i;
		if (i % 7 == 0) { /* the other table, in between */
			kv_val bv = { vb, aval(vb, 'b', i) };
			assert_int_equal(
			        kv_put(t, b, akey(kb, 'b', i), bv, KV_APPEND),
			        0);
			hb[nb++] = i;
		}
		if (i % 97 == 0) { /* the last key again, and one below */
			kv_val x = { "x", 1 };
			assert_int_equal(
			        kv_put(t, a, akey(kb, 'a', i), x, KV_APPEND),
			        KV_EORDER);
			assert_int_equal(kv_put(t, a, akey(kb, 'a', i - 1), x,
			                        KV_APPEND),
			                 KV_EORDER);
			assert_int_equal(kv_put(t, a, akey(kb, 'a', i), x,
			                        KV_APPEND | KV_NOOVERWRITE),
			                 KV_EEXIST);
		}
		if (i % 113 == 0) { /* delete the last key, append it again */
			assert_int_equal(kv_del(t, a, akey(kb, 'a', i)), 0);
			assert_int_equal(
			        kv_put(t, a, akey(kb, 'a', i), val, KV_APPEND),
			        0);
		}
		if (i % 31 == 0) { /* a plain put below the end that splits
		                    * the last leaf */
			avlen[i - 1] = KV_MAX_NODE - LN_HDR - 7;
			kv_val pv = { vb, aval(vb, 'a', i - 1) };
			assert_int_equal(
			        kv_put(t, a, akey(kb, 'a', i - 1), pv, 0), 0);
		}
		if (i % 500 == 0) /* many deletes at the right edge */
			for (int j = 0; j < 40; j++) {
				assert_int_equal(
				        kv_del(t, a, akey(kb, 'a', ha[na - 1])),
				        0);
				na--;
			}
	}
	assert_int_equal(kv_cursor_next(cu, &k, &v), 0);
	assert_int_equal(k.len, 7);
	assert_memory_equal(k.data, "a000001", 7);
	kv_cursor_close(cu);
	expect_run(t, a, 'a', ha, na);
	expect_run(t, b, 'b', hb, nb);
	assert_int_equal(kv_txn_commit(t), 0);
	check_clean(f->env);

	/* the same after the commit, and appends in a new txn go on from the
	 * committed right edge */
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &a), 0);
	for (i = 2000; i < 2100; i++, na++) {
		kv_val val = { vb, aval(vb, 'a', i) };
		assert_int_equal(kv_put(t, a, akey(kb, 'a', i), val, KV_APPEND),
		                 0);
		ha[na] = i;
	}
	assert_int_equal(kv_txn_commit(t), 0);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &a), 0);
	assert_int_equal(kv_table_open(t, "b", 0, &b), 0);
	expect_run(t, a, 'a', ha, na);
	expect_run(t, b, 'b', hb, nb);
	kv_txn_abort(t);
	check_clean(f->env);
}

/*
 * Regression: with node keys clamped to their page, the separator of a
 * leaf split was computed from nodes gathered outside the page, and every
 * key of the left half became unreachable by search (cursors still walked
 * them).  200 sequential keys, each looked up inside and after the txn.
 */
static void test_lookup_after_first_split(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	char k[16];
	static const char zeros[80];
	kv_val v;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "x", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		kv_val key = { k, 8 }, val = { zeros, sizeof(zeros) };
		assert_int_equal(kv_put(t, tb, key, val, 0), 0);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		kv_val key = { k, 8 };
		assert_int_equal(kv_get(t, tb, key, &v), 0);
	}
	assert_int_equal(kv_txn_commit(t), 0);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "x", 0, &tb), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		kv_val key = { k, 8 };
		assert_int_equal(kv_get(t, tb, key, &v), 0);
		assert_int_equal(v.len, sizeof(zeros));
	}
	kv_txn_abort(t);
	check_clean(f->env);
}

/* 1 KiB keys with values on both sides of the overflow threshold. */
static void test_big_keys_and_overflow(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	static char key[KV_MAX_KEY];
	char *val = malloc(70000);
	kv_val got;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "big", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < 400; i++) {
		memset(key, 'a' + i % 26, sizeof(key));
		snprintf(key + 900, 20, "%08d", i * 7 % 400);
		size_t vl = (size_t)(i * 173) % 70000;
		memset(val, (char)i, vl);
		kv_val k = { key, sizeof(key) }, v = { val, vl };
		assert_int_equal(kv_put(t, tb, k, v, 0), 0);
	}
	kv_val toolong = { key, KV_MAX_KEY + 1 };
	assert_int_equal(kv_put(t, tb, toolong, kv_str("x"), 0), KV_EKEYSIZE);
	kv_val empty = { key, 0 };
	assert_int_equal(kv_put(t, tb, empty, kv_str("x"), 0), KV_EKEYSIZE);
	assert_int_equal(kv_txn_commit(t), 0);
	check_clean(f->env);

	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "big", 0, &tb), 0);
	assert_int_equal(kv_table_count(tb), 400);
	for (int i = 0; i < 400; i++) {
		memset(key, 'a' + i % 26, sizeof(key));
		snprintf(key + 900, 20, "%08d", i * 7 % 400);
		kv_val k = { key, sizeof(key) };
		size_t vl = (size_t)(i * 173) % 70000;
		assert_int_equal(kv_get(t, tb, k, &got), 0);
		assert_int_equal(got.len, vl);
		for (size_t j = 0; j < vl; j += 997)
			assert_int_equal(((const char *)got.data)[j], (char)i);
	}
	kv_txn_abort(t);
	free(val);
}

/* Deleting every key in a scrambled order merges pages down to nothing,
 * and every page returns to the freelist. */
static void test_delete_all_merges(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	char k[32];
	const int n = 30000;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "d", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < n; i++) {
		int l = snprintf(k, sizeof(k), "key-%d",
		                 (int)((long)i * 7919 % n));
		kv_val key = { k, (size_t)l };
		assert_int_equal(kv_put(t, tb, key, kv_str("value"), 0), 0);
	}
	assert_int_equal(kv_txn_commit(t), 0);

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "d", 0, &tb), 0);
	uint64_t leaves = tb->h.tree.leaf_pages;
	for (int i = 0; i < n; i++) {
		int l = snprintf(k, sizeof(k), "key-%d",
		                 (int)((long)i * 104729 % n));
		kv_val key = { k, (size_t)l };
		assert_int_equal(kv_del(t, tb, key), 0);
		if (i == n * 9 / 10)
			assert_true(tb->h.tree.leaf_pages < leaves / 3);
	}
	assert_int_equal(kv_table_count(tb), 0);
	assert_int_equal(tb->h.tree.root, 0);
	assert_int_equal(tb->h.tree.leaf_pages, 0);
	assert_int_equal(tb->h.tree.branch_pages, 0);
	kv_val key = kv_str("key-1");
	assert_int_equal(kv_del(t, tb, key), KV_ENOTFOUND);
	assert_int_equal(kv_txn_commit(t), 0);
	check_clean(f->env);
}

/* A cursor in a write txn keeps its place by key across changes. */
static void test_cursor_refind(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	kv_cursor *c;
	kv_val k, v;
	char buf[32];

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "c", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < 2000; i += 2) {
		int l = snprintf(buf, sizeof(buf), "%05d", i);
		kv_val key = { buf, (size_t)l };
		assert_int_equal(kv_put(t, tb, key, kv_str("v"), 0), 0);
	}
	assert_int_equal(kv_cursor_open(t, tb, &c), 0);
	/* walk, deleting each key as we pass it and adding an odd one */
	int seen = 0;
	int rc = kv_cursor_first(c, &k, &v);
	while (rc == 0) {
		char cur[32];
		memcpy(cur, k.data, k.len);
		cur[k.len] = 0;
		int num = atoi(cur);
		assert_int_equal(num % 2, 0);
		assert_int_equal(num, seen * 2);
		kv_val key = { cur, k.len };
		assert_int_equal(kv_del(t, tb, key), 0);
		int l = snprintf(buf, sizeof(buf), "%05d", num + 1);
		kv_val odd = { buf, (size_t)l };
		assert_int_equal(kv_put(t, tb, odd, kv_str("o"), 0), 0);
		rc = kv_cursor_next(c, &k, &v);
		if (rc == 0) {
			/* the odd key just added sorts right after: skip it */
			assert_int_equal(v.len, 1);
			assert_memory_equal(v.data, "o", 1);
			rc = kv_cursor_next(c, &k, &v);
		}
		seen++;
	}
	assert_int_equal(rc, KV_ENOTFOUND);
	assert_int_equal(seen, 1000);
	/* backwards over the odd keys */
	int back = 0;
	for (rc = kv_cursor_last(c, &k, &v); rc == 0;
	     rc = kv_cursor_prev(c, &k, &v))
		back++;
	assert_int_equal(back, 1000);
	/* seek lands on the first key >= the target */
	kv_val target = kv_str("00100");
	assert_int_equal(kv_cursor_seek(c, target, &k, &v), 0);
	assert_int_equal(k.len, 5);
	assert_memory_equal(k.data, "00101", 5);
	kv_val past = kv_str("99999");
	assert_int_equal(kv_cursor_seek(c, past, &k, &v), KV_ENOTFOUND);
	kv_cursor_close(c);
	assert_int_equal(kv_txn_commit(t), 0);
	check_clean(f->env);
}

/* Overwriting values in place (same and different sizes) keeps counts. */
static void test_overwrite_sizes(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	char k[16];
	static char v[9000];
	kv_val got;

	memset(v, 'z', sizeof(v));
	for (int round = 0; round < 6; round++) {
		assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
		assert_int_equal(kv_table_open(t, "o", KV_TABLE_CREATE, &tb),
		                 0);
		for (int i = 0; i < 500; i++) {
			int l = snprintf(k, sizeof(k), "%04d", i);
			size_t vl = (size_t)((i * 37 + round * 1500) % 9000);
			kv_val key = { k, (size_t)l }, val = { v, vl };
			assert_int_equal(kv_put(t, tb, key, val, 0), 0);
		}
		assert_int_equal(kv_table_count(tb), 500);
		kv_val key = kv_str("0001");
		assert_int_equal(
		        kv_put(t, tb, key, kv_str("n"), KV_NOOVERWRITE),
		        KV_EEXIST);
		assert_int_equal(kv_txn_commit(t), 0);
	}
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "o", 0, &tb), 0);
	kv_val key = kv_str("0007");
	assert_int_equal(kv_get(t, tb, key, &got), 0);
	assert_int_equal(got.len, (7 * 37 + 5 * 1500) % 9000);
	kv_txn_abort(t);
	check_clean(f->env);
}

/*
 * A scan asks for the next leaf ahead of reaching it (descend_edge).  A
 * damaged pointer to that leaf must not be reported by a step that
 * succeeds: the step onto the leaf before it leaves no error message, and
 * the step onto the damaged one fails and names it.  (The scan runs in a
 * thread of its own, whose error message starts empty.)
 */
struct scan_res {
	kv_env *env;
	int first, last;
	char msg_first[512], msg_last[512];
};

static void *scan_damaged(void *arg)
{
	struct scan_res *r = arg;
	kv_txn *t;
	kv_table *a;
	kv_cursor *cu;
	kv_val k, v;

	if (kv_txn_begin(r->env, KV_TXN_RDONLY, &t) != 0 ||
	    kv_table_open(t, "a", 0, &a) != 0 || kv_cursor_open(t, a, &cu) != 0)
		return NULL;
	r->first = kv_cursor_first(cu, &k, &v);
	snprintf(r->msg_first, sizeof(r->msg_first), "%s", kv_errmsg());
	do
		r->last = kv_cursor_next(cu, &k, &v);
	while (r->last == 0);
	snprintf(r->msg_last, sizeof(r->msg_last), "%s", kv_errmsg());
	kv_cursor_close(cu);
	kv_txn_abort(t);
	return NULL;
}

static void test_scan_damaged_next_leaf(void **state)
{
	struct tmpenv *f = *state;
	struct scan_res r = { .first = -1, .last = -1 };
	uint8_t pg[KV_PAGE_SIZE], *n1;
	struct tree tr;
	pthread_t th;
	char kb[16];
	kv_txn *t;
	kv_table *a;
	int fd;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &a), 0);
	for (int i = 0; i < 2000; i++) {
		kv_val k = { kb, (size_t)snprintf(kb, sizeof(kb), "k%06d", i) };
		assert_int_equal(kv_put(t, a, k, k, KV_APPEND), 0);
	}
	assert_int_equal(kv_txn_commit(t), 0);
	/* commits of another table after it, so that the open's recovery,
	 * which checks the pages newer than the older meta slot, passes
	 * table a by: the damage is met by the scan */
	for (int j = 0; j < 3; j++) {
		kv_val k = { kb, (size_t)snprintf(kb, sizeof(kb), "x%d", j) };
		assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
		assert_int_equal(kv_table_open(t, "b", KV_TABLE_CREATE, &a), 0);
		assert_int_equal(kv_put(t, a, k, k, 0), 0);
		assert_int_equal(kv_txn_commit(t), 0);
		assert_int_equal(kv_env_checkpoint(f->env), 0);
	}
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(catalog_tree(t, "a", &tr), 0);
	kv_txn_abort(t);
	assert_int_equal(tr.depth, 2);
	kv_env_close(f->env);
	f->env = NULL;

	/* the root's second child points past the end of the file */
	fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, pg, KV_PAGE_SIZE, tr.root * KV_PAGE_SIZE),
	                 KV_PAGE_SIZE);
	assert_int_equal(get16(pg + PH_TYPE), PT_BRANCH);
	n1 = pg + get16(pg + PH_SIZE + 2);
	put64(n1 + BN_PGNO, 999999);
	page_seal(pg, KV_PAGE_SIZE);
	assert_int_equal(pwrite(fd, pg, KV_PAGE_SIZE, tr.root * KV_PAGE_SIZE),
	                 KV_PAGE_SIZE);
	close(fd);

	assert_int_equal(kv_env_open(&f->env, f->path, 0, 0600), 0);
	r.env = f->env;
	assert_int_equal(pthread_create(&th, NULL, scan_damaged, &r), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.first, 0);
	assert_string_equal(r.msg_first, "");
	assert_int_equal(r.last, KV_ECORRUPT);
	assert_non_null(strstr(r.msg_last, "999999"));
}

/* Whether the file at path holds a run of 16 bytes 0xab. */
static bool file_has_stale_run(const char *path)
{
	FILE *fp = fopen(path, "rb");
	int c, run = 0;
	bool found = false;

	assert_non_null(fp);
	while (!found && (c = getc(fp)) != EOF) {
		run = c == 0xab ? run + 1 : 0;
		found = run >= 16;
	}
	fclose(fp);
	return found;
}

/* No byte a recycled page buffer held reaches the file.  Buffers filled
 * with 0xab and freed in the txn serve the leaves, branches and roots of
 * random and appended puts and the run of an overflow value; whether
 * page_new or the builders clear them, none of those bytes is written. */
static void test_no_stale_bytes(void **state)
{
	struct tmpenv *f = *state;
	enum { NBUF = 1500, N = 3000 };
	static uint64_t pg[NBUF];
	kv_txn *t;
	kv_table *ta, *tb;
	char k[32], v[100], big[3 * KV_PAGE_SIZE];

	memset(v, 'v', sizeof(v));
	memset(big, 'w', sizeof(big));
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	for (int i = 0; i < NBUF; i++) {
		uint8_t *b;

		assert_int_equal(page_new(t, 1, &pg[i], &b), 0);
		memset(b, 0xab, KV_PAGE_SIZE);
	}
	for (int i = 0; i < NBUF; i++)
		assert_int_equal(page_free(t, pg[i], 1, t->id), 0);
	assert_int_equal(kv_table_open(t, "random", KV_TABLE_CREATE, &ta), 0);
	assert_int_equal(kv_table_open(t, "append", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < N; i++) {
		int l = snprintf(k, sizeof(k), "k%010d", (i * 7919) % N);
		kv_val key = { k, (size_t)l }, val = { v, sizeof(v) };

		assert_int_equal(kv_put(t, ta, key, val, 0), 0);
		l = snprintf(k, sizeof(k), "k%010d", i);
		key.len = (size_t)l;
		assert_int_equal(kv_put(t, tb, key, val, KV_APPEND), 0);
	}
	{
		kv_val key = kv_str("big"), val = { big, sizeof(big) - 100 };

		assert_int_equal(kv_put(t, ta, key, val, 0), 0);
	}
	assert_true(ta->h.tree.depth >= 2 && tb->h.tree.depth >= 2);
	assert_true(ta->h.tree.overflow_pages >= 3);
	assert_int_equal(kv_txn_commit(t), 0);
	assert_false(file_has_stale_run(f->path));
	check_clean(f->env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_fills_pages, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_append_runs_interleaved,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_after_first_split,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_keys_and_overflow,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_all_merges, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_cursor_refind, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_scan_damaged_next_leaf,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite_sizes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_no_stale_bytes, setup,
		                                teardown),
	};
	return cmocka_run_group_tests_name("kvunit-btree", tests, NULL, NULL);
}
