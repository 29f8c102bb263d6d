/*
 * Unit tests of pager.c: the writer's page buffers (slabs, reuse, what a
 * transaction's end keeps), the commit's merged page writes, and the pages
 * a large append load writes before its commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_int.h"
#include "tmpdir.h"

static int setup(void **state)
{
	return tmpenv_setup(state, "pager");
}

static int teardown(void **state)
{
	return tmpenv_teardown(state);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static bool in_slab(const kv_env *env, const uint8_t *p)
{
	for (size_t i = 0; i < env->bufs.nslab; i++) {
		const uint8_t *s = env->bufs.slab[i];
		if (p >= s && p < s + (size_t)BUF_SLAB_PAGES * KV_PAGE_SIZE)
			return true;
	}
	return false;
}

/*
 * A page freed in the txn that made it gives its buffer to the next new
 * page, which starts zeroed whatever the old page held; runs are cut from
 * slabs up to BUF_MAX_RUN pages and allocated apart beyond that; a run that
 * does not fit the rest of a slab starts the next one.
 */
static void test_buffers_reused_and_cleared(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	uint64_t pg[3], big, again, run;
	uint8_t *b[3], *bigbuf, *abuf, *rbuf;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(page_new(t, 1, &pg[i], &b[i]), 0);
		assert_true(in_slab(f->env, b[i]));
		assert_int_equal((uintptr_t)b[i] % KV_PAGE_SIZE, 0);
		assert_true(all_zero(b[i] + PH_SIZE, KV_PAGE_SIZE - PH_SIZE));
		memset(b[i] + PH_SIZE, 0xab, KV_PAGE_SIZE - PH_SIZE);
	}
	assert_int_not_equal(b[0], b[1]);

	/* born here: the buffer goes back, the number to the loose list */
	assert_int_equal(page_free(t, pg[1], 1, t->id), 0);
	assert_false(page_is_dirty(t, pg[1]));
	assert_int_equal(page_new(t, 1, &again, &abuf), 0);
	assert_ptr_equal(abuf, b[1]);
	assert_int_equal(again, pg[1]);
	assert_true(all_zero(abuf + PH_SIZE, KV_PAGE_SIZE - PH_SIZE));
	assert_int_equal(get64(abuf + PH_PGNO), again);
	assert_int_equal(get64(abuf + PH_TXNID), t->id);
	/* the others kept what was written to them */
	assert_int_equal(b[2][KV_PAGE_SIZE - 1], 0xab);

	/* a run longer than BUF_MAX_RUN has a buffer of its own */
	assert_int_equal(page_new(t, BUF_MAX_RUN + 1, &big, &bigbuf), 0);
	assert_false(in_slab(f->env, bigbuf));
	assert_int_equal((uintptr_t)bigbuf % KV_PAGE_SIZE, 0);
	assert_true(all_zero(bigbuf + PH_SIZE,
	                     (BUF_MAX_RUN + 1) * KV_PAGE_SIZE - PH_SIZE));

	/* fill the first slab but for a few pages: a run of BUF_MAX_RUN
	 * starts the second, contiguous and zeroed */
	while (f->env->bufs.used < BUF_SLAB_PAGES - 3) {
		uint64_t p;
		uint8_t *x;
		assert_int_equal(page_new(t, 1, &p, &x), 0);
	}
	assert_int_equal(f->env->bufs.cur, 0);
	assert_int_equal(page_new(t, BUF_MAX_RUN, &run, &rbuf), 0);
	assert_int_equal(f->env->bufs.cur, 1);
	assert_ptr_equal(rbuf, f->env->bufs.slab[1]);
	assert_true(
	        all_zero(rbuf + PH_SIZE, BUF_MAX_RUN * KV_PAGE_SIZE - PH_SIZE));
	assert_int_equal(get64(rbuf + PH_PGNO), run);

	/* the end of the txn frees every buffer; slabs stay for the next */
	kv_txn_abort(t);
	assert_int_equal(f->env->bufs.nslab, 2);
	assert_int_equal(f->env->bufs.cur, 0);
	assert_int_equal(f->env->bufs.used, 0);
	assert_int_equal(f->env->bufs.nfree, 0);
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(page_new(t, 1, &pg[0], &b[0]), 0);
	assert_ptr_equal(b[0], f->env->bufs.slab[0]);
	assert_true(all_zero(b[0] + PH_SIZE, KV_PAGE_SIZE - PH_SIZE));
	kv_txn_abort(t);
}

/* A transaction that needed many slabs leaves BUF_KEEP_SLABS of them. */
static void test_big_txn_keeps_few_slabs(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	char k[32], v[600];

	memset(v, 'v', sizeof(v));
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &tb), 0);
	/* about 6 entries a leaf: 20,000 entries need ~3,300 pages */
	for (int i = 0; i < 20000; i++) {
		int l = snprintf(k, sizeof(k), "k%08d", (i * 7919) % 20000);
		kv_val key = { k, (size_t)l }, val = { v, sizeof(v) };
		assert_int_equal(kv_put(t, tb, key, val, 0), 0);
	}
	assert_true(f->env->bufs.nslab > BUF_KEEP_SLABS);
	assert_int_equal(kv_txn_commit(t), 0);
	assert_int_equal(f->env->bufs.nslab, BUF_KEEP_SLABS);

	/* everything reads back after the buffers were reused */
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	for (int i = 0; i < 20000; i += 2) {
		int l = snprintf(k, sizeof(k), "k%08d", i);
		kv_val key = { k, (size_t)l };
		assert_int_equal(kv_del(t, tb, key), 0);
	}
	assert_int_equal(kv_txn_commit(t), 0);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	assert_int_equal(kv_table_count(tb), 10000);
	for (int i = 1; i < 20000; i += 2) {
		int l = snprintf(k, sizeof(k), "k%08d", i);
		kv_val key = { k, (size_t)l }, out;
		assert_int_equal(kv_get(t, tb, key, &out), 0);
		assert_int_equal(out.len, sizeof(v));
		assert_memory_equal(out.data, v, sizeof(v));
	}
	kv_txn_abort(t);
	struct kv_check_report rep;
	assert_int_equal(kv_check(f->env, NULL, NULL, &rep), 0);
	assert_int_equal(rep.problems, 0);
}

/* Reopen the store through io, which must outlive the environment. */
static void reopen_io(struct tmpenv *f, const struct kv_io *io)
{
	kv_env_close(f->env);
	f->env = NULL;
	assert_int_equal(kv_env_open_io(&f->env, f->path, 0, 0600, io), 0);
}

/* Reopen the store with the POSIX kv_io; a read txn on table "a". */
static kv_txn *reopen_read(struct tmpenv *f, kv_table **tb)
{
	kv_txn *t;

	kv_env_close(f->env);
	f->env = NULL;
	assert_int_equal(kv_env_open(&f->env, f->path, 0, 0600), 0);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, tb), 0);
	return t;
}

/* ---- merged writes ---------------------------------------------------- */

struct wlog {
	size_t n;
	size_t len[8192];
	uint64_t off[8192];
	bool pages[8192]; /* every 4 KiB of it is a page stamped with its
	                     own number (not a meta page, not the log) */
};

static int wl_pwrite(void *ctx, int fd, const void *buf, size_t len,
                     uint64_t off)
{
	struct wlog *w = ctx;
	if (w->n < 8192) {
		const uint8_t *b = buf;
		bool pages = off >= 2 * KV_PAGE_SIZE &&
		             off % KV_PAGE_SIZE == 0 && len % KV_PAGE_SIZE == 0;
		for (size_t j = 0; pages && j < len / KV_PAGE_SIZE; j++)
			pages = get64(b + j * KV_PAGE_SIZE + PH_PGNO) ==
			        off / KV_PAGE_SIZE + j;
		w->len[w->n] = len;
		w->off[w->n] = off;
		w->pages[w->n] = pages;
	}
	w->n++;
	return kv_io_posix()->pwrite(NULL, fd, buf, len, off);
}

static int wl_sync(void *ctx, int fd)
{
	(void)ctx;
	return kv_io_posix()->sync(NULL, fd);
}

static int wl_truncate(void *ctx, int fd, uint64_t size)
{
	(void)ctx;
	return kv_io_posix()->truncate(NULL, fd, size);
}

/*
 * A commit of sorted appends dirties neighbouring pages: they reach the
 * file in writes of several pages, none over WRITE_MAX_PAGES, each page in
 * exactly one, and the store reads back and checks clean after a reopen.
 */
static void test_neighbours_merged(void **state)
{
	struct tmpenv *f = *state;
	struct wlog *w = calloc(1, sizeof(*w));
	struct kv_io io = { w, wl_pwrite, wl_sync, wl_truncate, NULL };
	kv_txn *t;
	kv_table *tb;
	char k[32], v[200];
	const int n = 20000;
	size_t pages = 0, multi = 0, writes = 0;

	assert_non_null(w);
	reopen_io(f, &io);
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < n; i++) {
		int l = snprintf(k, sizeof(k), "k%08d", i);
		memset(v, 'a' + i % 26, sizeof(v));
		kv_val key = { k, (size_t)l }, val = { v, sizeof(v) };
		assert_int_equal(kv_put(t, tb, key, val, KV_APPEND), 0);
	}
	/* the tree's dirty pages; commit adds the catalog's and free list's */
	size_t dirty = t->dirty.used, nd = 0;
	uint64_t *dp = malloc(dirty * sizeof(*dp));
	assert_non_null(dp);
	for (size_t i = 0; i < t->dirty.cap; i++)
		if (t->dirty.tab[i].pgno)
			dp[nd++] = t->dirty.tab[i].pgno;
	assert_int_equal(nd, dirty);
	w->n = 0;
	kv_txn_set_durability(t, KV_DURABLE_IMMEDIATE);
	assert_int_equal(kv_txn_commit(t), 0);
	assert_true(w->n < 8192);
	for (size_t i = 0; i < w->n; i++) {
		size_t np = w->len[i] / KV_PAGE_SIZE;
		if (!w->pages[i])
			continue; /* a meta page, or the log's */
		assert_true(np <= WRITE_MAX_PAGES);
		for (size_t j = 0; j < i; j++) /* no page written twice */
			assert_true(!w->pages[j] ||
			            w->off[j] + w->len[j] <= w->off[i] ||
			            w->off[i] + w->len[i] <= w->off[j]);
		if (np > 1)
			multi++;
		pages += np;
		writes++;
	}
	for (size_t d = 0; d < nd; d++) { /* every tree page was written */
		bool found = false;
		for (size_t i = 0; i < w->n && !found; i++)
			found = w->pages[i] &&
			        dp[d] * KV_PAGE_SIZE >= w->off[i] &&
			        dp[d] * KV_PAGE_SIZE < w->off[i] + w->len[i];
		assert_true(found);
	}
	free(dp);
	assert_true(pages >= dirty); /* with the catalog's and free list's */
	assert_true(multi > 0);
	assert_true(writes < dirty / 8); /* ~1,270 pages in ~80 writes */

	free(w);
	t = reopen_read(f, &tb);
	assert_int_equal(kv_table_count(tb), n);
	for (int i = 0; i < n; i += 97) {
		int l = snprintf(k, sizeof(k), "k%08d", i);
		kv_val key = { k, (size_t)l }, out;
		memset(v, 'a' + i % 26, sizeof(v));
		assert_int_equal(kv_get(t, tb, key, &out), 0);
		assert_memory_equal(out.data, v, sizeof(v));
	}
	kv_txn_abort(t);
	struct kv_check_report rep;
	assert_int_equal(kv_check(f->env, NULL, NULL, &rep), 0);
	assert_int_equal(rep.problems, 0);
}

/* ---- writing early ---------------------------------------------------- */

#define BIGV 1500 /* two entries a leaf */

static void big_value(char *v, int i, int rev)
{
	memset(v, 'a' + (i + rev) % 26, BIGV);
	snprintf(v, BIGV, "%d/%d", i, rev);
}

static kv_val big_key(char *k, int i)
{
	kv_val key = { k, (size_t)snprintf(k, 32, "k%08d", i) };
	return key;
}

/* Append n entries in t (revision 0), returning the most dirty pages seen. */
static size_t append_big(kv_txn *t, kv_table *tb, int from, int n)
{
	char k[32], v[BIGV];
	size_t most = 0;

	for (int i = from; i < from + n; i++) {
		big_value(v, i, 0);
		kv_val key = big_key(k, i), val = { v, BIGV };
		assert_int_equal(kv_put(t, tb, key, val, KV_APPEND), 0);
		if (t->dirty.used > most)
			most = t->dirty.used;
	}
	return most;
}

/* Append entries from..from+n of table "a" in one committed txn. */
static void load_commit(kv_env *env, int from, int n)
{
	kv_txn *t;
	kv_table *tb;

	assert_int_equal(kv_txn_begin(env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &tb), 0);
	append_big(t, tb, from, n);
	assert_int_equal(kv_txn_commit(t), 0);
}

static void check_clean(kv_env *env)
{
	struct kv_check_report rep;

	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	assert_int_equal(rep.problems, 0);
}

/*
 * An append load far past SPILL_MIN pages, in a txn that writes early (a
 * copy's), holds no more than about SPILL_MIN of them in memory: the full pages its splits leave behind are
 * written before the commit, in runs of neighbours, as stamped pages, from
 * a few slabs; after the commit and a reopen everything reads back.
 */
static void test_append_writes_early(void **state)
{
	struct tmpenv *f = *state;
	struct wlog *w = calloc(1, sizeof(*w));
	struct kv_io io = { w, wl_pwrite, wl_sync, wl_truncate, NULL };
	const int n = 24000; /* ~12,000 leaves, 3x SPILL_MIN */
	char k[32], v[BIGV];
	kv_txn *t;
	kv_table *tb;
	size_t most, multi = 0, early;

	assert_non_null(w);
	reopen_io(f, &io);
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	t->write_early = true; /* as kv_env_copy does */
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &tb), 0);
	w->n = 0;
	most = append_big(t, tb, 0, n);
	assert_int_equal(pager_spill_wait(t), 0); /* the writer's, all */
	early = w->n;
	assert_true(most < SPILL_MIN + 64);
	assert_true(f->env->bufs.nslab <=
	            (SPILL_MIN + 64) / BUF_SLAB_PAGES + 2);
	/* ~8,000 pages went out early, each write a run of stamped pages */
	assert_true(early > 8000 / WRITE_MAX_PAGES && early < 8192);
	for (size_t i = 0; i < early; i++) {
		assert_true(w->pages[i]);
		assert_true(w->len[i] <= WRITE_MAX_PAGES * KV_PAGE_SIZE);
		if (w->len[i] > KV_PAGE_SIZE)
			multi++;
	}
	assert_true(multi > early / 2);
	assert_int_equal(kv_txn_commit(t), 0);

	free(w);
	t = reopen_read(f, &tb);
	assert_int_equal(kv_table_count(tb), n);
	for (int i = 0; i < n; i += 7) {
		kv_val out;
		big_value(v, i, 0);
		assert_int_equal(kv_get(t, tb, big_key(k, i), &out), 0);
		assert_int_equal(out.len, BIGV);
		assert_memory_equal(out.data, v, BIGV);
	}
	kv_txn_abort(t);
	check_clean(f->env);
}

/*
 * Pages written early can still change in the same txn: overwrites and
 * deletes among the first entries copy them like committed pages, deletes
 * among the last ones drop pages still waiting to be written; the result
 * is exactly the expected table and the page accounting is clean.  (The
 * emptied last leaves are freed while waiting: without forgetting them,
 * the next early write fails as an internal error.)
 */
static void test_written_early_then_changed(void **state)
{
	struct tmpenv *f = *state;
	const int n = 16000;
	char k[32], v[BIGV];
	kv_txn *t;
	kv_table *tb;
	kv_cursor *cu;
	kv_val key, val;
	int i, seen = 0, rc;

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	t->write_early = true; /* as kv_env_copy does */
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &tb), 0);
	append_big(t, tb, 0, n);
	for (i = 0; i < 3000; i += 7) { /* overwrite: revision 1 */
		big_value(v, i, 1);
		val.data = v;
		val.len = BIGV;
		assert_int_equal(kv_put(t, tb, big_key(k, i), val, 0), 0);
	}
	for (i = 0; i < 2000; i += 10)
		assert_int_equal(kv_del(t, tb, big_key(k, i)), 0);
	for (i = n - 40; i < n; i++) /* two of three: leaves empty out */
		if ((i - (n - 40)) % 3 != 0)
			assert_int_equal(kv_del(t, tb, big_key(k, i)), 0);
	append_big(t, tb, n, 2000); /* and appending goes on */
	assert_int_equal(kv_txn_commit(t), 0);

	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	assert_int_equal(kv_cursor_open(t, tb, &cu), 0);
	i = 0;
	for (rc = kv_cursor_first(cu, &key, &val); rc == 0;
	     rc = kv_cursor_next(cu, &key, &val)) {
		while ((i < 2000 && i % 10 == 0) ||
		       (i >= n - 40 && i < n && (i - (n - 40)) % 3 != 0))
			i++;
		big_key(k, i);
		assert_int_equal(key.len, strlen(k));
		assert_memory_equal(key.data, k, key.len);
		big_value(v, i, i < 3000 && i % 7 == 0 ? 1 : 0);
		assert_int_equal(val.len, BIGV);
		assert_memory_equal(val.data, v, BIGV);
		seen++;
		i++;
	}
	assert_int_equal(rc, KV_ENOTFOUND);
	assert_int_equal(i, n + 2000);
	assert_int_equal((uint64_t)seen, kv_table_count(tb));
	kv_cursor_close(cu);
	kv_txn_abort(t);
	check_clean(f->env);
}

/* An aborted load that wrote pages early leaves the store as it was, its
 * pages free again, and the next load commits.  (Only copies write early,
 * and a failed copy's file is removed; the mechanism is tested alone.) */
static void test_written_early_then_aborted(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	kv_table *tb;
	struct kv_stat st;

	load_commit(f->env, 0, 100);

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	t->write_early = true; /* as kv_env_copy does */
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	append_big(t, tb, 100, 12000);
	kv_txn_abort(t);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	assert_int_equal(kv_table_count(tb), 100);
	kv_txn_abort(t);
	check_clean(f->env);
	assert_int_equal(kv_env_stat(f->env, &st), 0);
	assert_true(st.pages_total < 200); /* nothing of it is committed */

	load_commit(f->env, 100, 12000);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	assert_int_equal(kv_table_count(tb), 12100);
	kv_txn_abort(t);
	check_clean(f->env);
}

/*
 * An ordinary txn never writes early, whatever its size: a value read from
 * one table stays valid while appends go on in another (kv.h: until the
 * next change to the same table), and nothing is written before the
 * commit.
 */
static void test_ordinary_txn_holds_its_pages(void **state)
{
	struct tmpenv *f = *state;
	struct wlog *w = calloc(1, sizeof(*w));
	struct kv_io io = { w, wl_pwrite, wl_sync, wl_truncate, NULL };
	char k[32], v[BIGV], keep[BIGV];
	kv_txn *t;
	kv_table *a, *b;
	kv_val out;
	size_t most;

	assert_non_null(w);
	reopen_io(f, &io);
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "a", KV_TABLE_CREATE, &a), 0);
	assert_int_equal(kv_table_open(t, "b", KV_TABLE_CREATE, &b), 0);
	w->n = 0;
	most = append_big(t, a, 0, 12000);
	assert_true(most > SPILL_MIN);
	assert_int_equal(kv_get(t, a, big_key(k, 11997), &out), 0);
	memcpy(keep, out.data, BIGV);
	for (int i = 0; i < 200; i++) {
		memset(v, 'Z', BIGV);
		kv_val val = { v, BIGV };
		assert_int_equal(kv_put(t, b, big_key(k, i), val, KV_APPEND),
		                 0);
	}
	assert_memory_equal(out.data, keep, BIGV);
	assert_int_equal(w->n, 0);
	assert_int_equal(t->dirty.used >= most, true);
	assert_int_equal(kv_txn_commit(t), 0);
	assert_true(w->n > 0);
	free(w);
	check_clean(f->env);
}

/* ---- a disk that fills up during the load ----------------------------- */

struct failio {
	long left; /* writes before they fail; < 0: never */
	long writes;
};

static int fi_pwrite(void *ctx, int fd, const void *buf, size_t len,
                     uint64_t off)
{
	struct failio *x = ctx;
	x->writes++;
	if (x->left == 0)
		return -ENOSPC;
	if (x->left > 0)
		x->left--;
	return kv_io_posix()->pwrite(NULL, fd, buf, len, off);
}

/* An early write that fails fails a put soon after it (the early writer
 * has at most EW_RUNS runs in flight), with the reason, and stops the
 * writes; the txn cannot commit, and the store is as it was. */
static void test_write_early_fails(void **state)
{
	struct tmpenv *f = *state;
	struct failio x = { -1, 0 };
	struct kv_io io = { &x, fi_pwrite, wl_sync, wl_truncate, NULL };
	char k[32], v[BIGV];
	kv_txn *t;
	kv_table *tb;
	int i, rc = 0;

	reopen_io(f, &io);
	load_commit(f->env, 0, 100);

	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	t->write_early = true; /* as kv_env_copy does */
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	x.writes = 0;
	x.left = 3;
	for (i = 100; i < 20000 && rc == 0; i++) {
		big_value(v, i, 0);
		kv_val val = { v, BIGV };
		rc = kv_put(t, tb, big_key(k, i), val, KV_APPEND);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_non_null(strstr(kv_errmsg(), "writing pages"));
	assert_int_equal(x.writes, 4);
	assert_true(i > 2 * (int)SPILL_MIN && i < 20000);
	assert_int_not_equal(kv_txn_commit(t), 0);
	x.left = -1;

	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	assert_int_equal(kv_table_count(tb), 100);
	kv_txn_abort(t);
	check_clean(f->env);
	load_commit(f->env, 100, 9000);
	check_clean(f->env);
}

/* How many pages of the file at path are in the page cache. */
static size_t resident_pages(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	size_t n = 0, pages;
	unsigned char *vec;
	void *m;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	pages = (size_t)sb.st_size / KV_PAGE_SIZE;
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	vec = malloc(pages);
	assert_non_null(vec);
	assert_int_equal(mincore(m, (size_t)sb.st_size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(m, (size_t)sb.st_size);
	close(fd);
	return n;
}

/* A compacted copy of a large table is built with early writes and ends
 * at its last page: the file is exactly its pages, and it checks clean.
 * The pages it wrote early do not stay in the page cache. */
static void test_copy_ends_at_last_page(void **state)
{
	struct tmpenv *f = *state;
	char dest[4200];
	kv_txn *t;
	kv_table *tb;
	kv_env *c;
	struct kv_stat st;
	struct statfs fs;
	size_t cached;

	load_commit(f->env, 0, 20000);
	snprintf(dest, sizeof(dest), "%s.copy", f->path);
	assert_int_equal(kv_env_copy(f->env, dest, NULL, 0600), 0);

	cached = resident_pages(dest);
	assert_int_equal(kv_env_open(&c, dest, KV_RDONLY, 0600), 0);
	assert_int_equal(kv_env_stat(c, &st), 0);
	assert_int_equal(st.file_size, st.pages_total * KV_PAGE_SIZE);
	/* the early pages but the last two runs of 8 MiB (2,048 pages) were
	 * let go from the page cache; tmpfs has only its cache */
	fprintf(stderr, "copy: %zu of %llu pages in the page cache\n", cached,
	        (unsigned long long)st.pages_total);
	assert_int_equal(statfs(dest, &fs), 0);
	if (fs.f_type == TMPFS_MAGIC)
		fprintf(stderr, "copy: on tmpfs, the page cache not checked\n");
	else
		assert_true(cached + 2048 <= st.pages_total);
	assert_true(st.pages_total > 10000 && st.pages_total < 10200);
	check_clean(c);
	assert_int_equal(kv_txn_begin(c, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
	assert_int_equal(kv_table_count(tb), 20000);
	kv_txn_abort(t);
	kv_env_close(c);
	unlink(dest);
	snprintf(dest + strlen(dest), 6, "-lock");
	unlink(dest);
}

/* Test t where no thread can be made: the txn writes its early runs
 * itself, with the same results. */
static void without_thread(void (*t)(void **), void **state)
{
	pager_no_thread = true;
	t(state);
	pager_no_thread = false;
}

static void test_append_writes_early_nothread(void **state)
{
	without_thread(test_append_writes_early, state);
}

static void test_written_early_then_changed_nothread(void **state)
{
	without_thread(test_written_early_then_changed, state);
}

static void test_write_early_fails_nothread(void **state)
{
	without_thread(test_write_early_fails, state);
}

static void test_copy_ends_at_last_page_nothread(void **state)
{
	without_thread(test_copy_ends_at_last_page, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_buffers_reused_and_cleared,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_txn_keeps_few_slabs,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_neighbours_merged, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_append_writes_early, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_written_early_then_changed,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_written_early_then_aborted,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_early_fails, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
		        test_ordinary_txn_holds_its_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_ends_at_last_page,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_append_writes_early_nothread, setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_written_early_then_changed_nothread, setup,
		        teardown),
		cmocka_unit_test_setup_teardown(test_write_early_fails_nothread,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_copy_ends_at_last_page_nothread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
