/*
 * Unit tests of pager.c: the writer's page buffers (slabs, reuse, what a
 * transaction's end keeps) and the commit's merged page writes.
 */
#include <errno.h>
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
	assert_true(all_zero(rbuf + PH_SIZE,
	                     BUF_MAX_RUN * KV_PAGE_SIZE - PH_SIZE));
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
	kv_env_close(f->env);
	f->env = NULL;
	assert_int_equal(kv_env_open_io(&f->env, f->path, 0, 0600, &io), 0);
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

	kv_env_close(f->env);
	f->env = NULL;
	free(w);
	assert_int_equal(kv_env_open(&f->env, f->path, 0, 0600), 0);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_table_open(t, "a", 0, &tb), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_buffers_reused_and_cleared,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_txn_keeps_few_slabs,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_neighbours_merged, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
