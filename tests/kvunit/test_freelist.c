/*
 * Unit tests of freelist.c: ready runs merge with neighbours and are taken
 * first-fit from the lowest page; visibility of a pending run to readers
 * and snapshots; and, through the public API, that pages freed while a
 * reader or a snapshot can see them are reused only after it ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv_int.h"
#include "tmpdir.h"

/* The ready runs of f, in order, into v (at most cap); their count. */
static size_t ready_runs(const struct flstate *f, struct fl_entry *v,
                         size_t cap)
{
	uint64_t pg = 0, n;
	size_t k = 0;

	while (fl_ready_next(f, &pg, &n)) {
		if (k < cap)
			v[k] = (struct fl_entry){ pg, n, 0, 0 };
		k++;
		pg += n;
	}
	return k;
}

static void test_ready_merge_and_take(void **state)
{
	struct flstate f;
	struct fl_entry v[8];
	uint64_t pg;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(fl_add_ready(&f, 10, 2), 0); /* 10-11 */
	assert_int_equal(fl_add_ready(&f, 14, 1), 0); /* 14 */
	assert_int_equal(fl_add_ready(&f, 12, 2), 0); /* joins both */
	assert_int_equal(ready_runs(&f, v, 8), 1);
	assert_int_equal(v[0].pgno, 10);
	assert_int_equal(v[0].n, 5);
	assert_int_equal(fl_add_ready(&f, 3, 1), 0);
	assert_int_equal(fl_add_ready(&f, 30, 4), 0);
	/* a run across a word boundary of the bitmap */
	assert_int_equal(fl_add_ready(&f, 126, 5), 0); /* 126-130 */
	assert_int_equal(fl_ready_pages(&f), 15);
	assert_int_equal(ready_runs(&f, v, 8), 4);
	assert_int_equal(v[3].pgno, 126);
	assert_int_equal(v[3].n, 5);
	/* lowest run first */
	assert_int_equal(fl_take(&f, 1, &pg), 0);
	assert_int_equal(pg, 3);
	/* first fit for a run of 4 is 10..13 */
	assert_int_equal(fl_take(&f, 4, &pg), 0);
	assert_int_equal(pg, 10);
	assert_int_equal(fl_take(&f, 4, &pg), 0);
	assert_int_equal(pg, 30);
	assert_int_equal(fl_take(&f, 5, &pg), 0);
	assert_int_equal(pg, 126);
	assert_int_equal(fl_take(&f, 2, &pg), KV_ENOTFOUND);
	assert_int_equal(fl_take(&f, 1, &pg), 0);
	assert_int_equal(pg, 14);
	assert_int_equal(fl_ready_pages(&f), 0);
	assert_int_equal(ready_runs(&f, v, 8), 0);
	assert_int_equal(fl_take(&f, 1, &pg), KV_ENOTFOUND);
	fl_release(&f);
}

/* A txn's changes to the ready set are undone on abort: adds removed,
 * takes given back, and what a reclaim merged (not logged) kept. */
static void test_ready_undo(void **state)
{
	struct flstate f;
	struct fl_entry v[8], found = { 200, 3, 1, 2 };
	uint64_t pg;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(fl_add_ready(&f, 5, 2), 0);  /* 5-6 */
	assert_int_equal(fl_add_ready(&f, 70, 1), 0); /* 70 */
	fl_log_begin(&f);
	assert_int_equal(fl_take(&f, 1, &pg), 0);
	assert_int_equal(pg, 5);
	assert_int_equal(fl_add_ready(&f, 64, 6), 0); /* 64-69 joins 70 */
	assert_int_equal(fl_merge_ready(&f, &found, 1), 0);
	assert_int_equal(fl_take(&f, 7, &pg), 0);
	assert_int_equal(pg, 64);
	assert_true(fl_undo(&f, 99));
	assert_int_equal(ready_runs(&f, v, 8), 3);
	assert_int_equal(v[0].pgno, 5);
	assert_int_equal(v[0].n, 2);
	assert_int_equal(v[1].pgno, 70);
	assert_int_equal(v[1].n, 1);
	assert_int_equal(v[2].pgno, 200);
	assert_int_equal(v[2].n, 3);
	assert_int_equal(fl_ready_pages(&f), 6);
	fl_release(&f);
}

/* The ready set against a byte map of free pages: runs maximal and in
 * order, exactly the free pages, a count that agrees, and fl_take giving
 * the lowest first fit.  Mixes single inserts, batches of scattered runs
 * as a reclaim makes them, and takes, mostly of single pages. */
#define MODEL_PAGES 3000u

static void ready_matches(const struct flstate *f, const uint8_t *free_pg)
{
	uint64_t pg = 0, at = 0, n, count = 0;
	bool first = true;

	while (fl_ready_next(f, &at, &n)) {
		assert_true(n > 0);
		/* maximal: the page before a run is not free */
		assert_true(first || pg < at);
		for (; pg < at; pg++)
			assert_int_equal(free_pg[pg], 0);
		for (; pg < at + n; pg++)
			assert_int_equal(free_pg[pg], 1);
		count += n;
		at += n;
		first = false;
	}
	for (; pg < MODEL_PAGES; pg++)
		assert_int_equal(free_pg[pg], 0);
	assert_int_equal(fl_ready_pages(f), count);
}

static uint64_t lowest_fit(const uint8_t *free_pg, uint64_t n)
{
	uint64_t pg = 0, run = 0;

	/* the lowest maximal run of at least n free pages */
	for (pg = 0; pg < MODEL_PAGES; pg++) {
		if (free_pg[pg]) {
			run++;
			continue;
		}
		if (run >= n)
			return pg - run;
		run = 0;
	}
	return run >= n ? pg - run : UINT64_MAX;
}

static void test_ready_model(void **state)
{
	static uint8_t free_pg[MODEL_PAGES];
	struct fl_entry runs[64];
	struct flstate f;
	uint64_t seed = 42, pg;
	int round, multi = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	memset(free_pg, 0, sizeof(free_pg));
	for (round = 0; round < 20000; round++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned op = (unsigned)(seed >> 33) % 8;
		uint64_t r = seed >> 40;
		if (op < 3) { /* a batch of scattered runs */
			size_t m = 0, want = 1 + r % 64;
			while (m < want) {
				seed = seed * 6364136223846793005ull + 1;
				uint64_t p = (seed >> 33) % MODEL_PAGES;
				uint64_t n = 1 + (seed >> 20) % 3, k;
				for (k = 0; k < n && p + k < MODEL_PAGES &&
				            !free_pg[p + k];
				     k++)
					;
				if (k == 0)
					break; /* the page is free: stop here */
				memset(&free_pg[p], 1, k);
				runs[m++] = (struct fl_entry){ p, k, 7, 9 };
			}
			assert_int_equal(fl_merge_ready(&f, runs, m), 0);
		} else if (op < 4) { /* one run */
			uint64_t p = r % MODEL_PAGES;
			if (!free_pg[p]) {
				free_pg[p] = 1;
				assert_int_equal(fl_add_ready(&f, p, 1), 0);
			}
		} else { /* take: mostly single pages, as trees do */
			uint64_t n = op == 7 ? 1 + r % 4 : 1;
			uint64_t expect = lowest_fit(free_pg, n);
			int rc = fl_take(&f, n, &pg);
			if (expect == UINT64_MAX) {
				assert_int_equal(rc, KV_ENOTFOUND);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(pg, expect);
				memset(&free_pg[pg], 0, n);
				multi += n > 1;
			}
		}
		ready_matches(&f, free_pg);
	}
	assert_true(multi > 100); /* first fit was exercised */
	fl_release(&f);
}

static void test_visibility(void **state)
{
	uint64_t tx[] = { 5, 9, 20 };

	(void)state;
	/* born 6, freed 9: seen by states 6..8: none of 5, 9, 20 */
	assert_false(fl_visible(tx, 3, 6, 9));
	/* born 6, freed 10: state 9 sees it */
	assert_true(fl_visible(tx, 3, 6, 10));
	/* born 5, freed 6: state 5 sees it */
	assert_true(fl_visible(tx, 3, 5, 6));
	assert_false(fl_visible(tx, 3, 21, 30));
	assert_false(fl_visible(NULL, 0, 1, 100));
}

static int setup(void **state)
{
	return tmpenv_setup(state, "freelist");
}

static int teardown(void **state)
{
	return tmpenv_teardown(state);
}

static void rewrite(kv_env *env, int round)
{
	kv_txn *t;
	kv_table *tb;
	char k[16], v[200];

	memset(v, 'a' + round % 26, sizeof(v));
	assert_int_equal(kv_txn_begin(env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "t", KV_TABLE_CREATE, &tb), 0);
	for (int i = 0; i < 300; i++) {
		int l = snprintf(k, sizeof(k), "%05d", i);
		kv_val key = { k, (size_t)l }, val = { v, sizeof(v) };
		assert_int_equal(kv_put(t, tb, key, val, 0), 0);
	}
	assert_int_equal(kv_txn_commit(t), 0);
}

static uint64_t high_water(kv_env *env)
{
	struct kv_stat st;
	assert_int_equal(kv_env_stat(env, &st), 0);
	return st.pages_total;
}

/* A reader holds the pages of its state; after it ends they are reused. */
static void test_reader_holds_pages(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *r;
	kv_table *tb;
	kv_val got;

	rewrite(f->env, 0);
	rewrite(f->env, 1);
	rewrite(f->env, 2);
	uint64_t steady = high_water(f->env);
	for (int i = 3; i < 40; i++)
		rewrite(f->env, i);
	assert_true(high_water(f->env) <= steady + 2);

	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_table_open(r, "t", 0, &tb), 0);
	kv_val key = { "00007", 5 };
	assert_int_equal(kv_get(r, tb, key, &got), 0);
	char first = ((const char *)got.data)[0];
	for (int i = 40; i < 60; i++)
		rewrite(f->env, i);
	/* the reader's bytes are intact: its pages were not reused */
	for (size_t j = 0; j < got.len; j++)
		assert_int_equal(((const char *)got.data)[j], first);
	uint64_t grown = high_water(f->env);
	assert_true(grown > steady + 2);
	kv_txn_abort(r);
	for (int i = 60; i < 120; i++)
		rewrite(f->env, i);
	assert_true(high_water(f->env) <= grown + 2);
	struct kv_check_report rep;
	assert_int_equal(kv_check(f->env, NULL, NULL, &rep), 0);
}

/* A snapshot holds exactly its pages; deleting it frees them. */
static void test_snapshot_space(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *t;
	uint64_t held = 0;
	struct kv_stat a, b;

	rewrite(f->env, 0);
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_snapshot_create(t, "s"), 0);
	assert_int_equal(kv_snapshot_create(t, "s"), KV_EEXIST);
	assert_int_equal(kv_txn_commit(t), 0);
	for (int i = 1; i < 10; i++)
		rewrite(f->env, i);
	assert_int_equal(kv_txn_begin(f->env, KV_TXN_RDONLY, &t), 0);
	assert_int_equal(kv_snapshot_space(t, "s", &held), 0);
	kv_txn_abort(t);
	/* all 300 records were rewritten: the snapshot holds its whole tree */
	assert_true(held >= 15);
	assert_int_equal(kv_env_stat(f->env, &a), 0);
	assert_int_equal(kv_txn_begin(f->env, 0, &t), 0);
	assert_int_equal(kv_snapshot_delete(t, "s"), 0);
	assert_int_equal(kv_snapshot_delete(t, "s"), KV_ENOTFOUND);
	assert_int_equal(kv_txn_commit(t), 0);
	rewrite(f->env, 11); /* a commit that reclaims */
	assert_int_equal(kv_env_stat(f->env, &b), 0);
	assert_true(b.pages_pending + held <= a.pages_pending + 8);
	struct kv_check_report rep;
	assert_int_equal(kv_check(f->env, NULL, NULL, &rep), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_merge_and_take),
		cmocka_unit_test(test_ready_undo),
		cmocka_unit_test(test_ready_model),
		cmocka_unit_test(test_visibility),
		cmocka_unit_test_setup_teardown(test_reader_holds_pages, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_space, setup,
		                                teardown),
	};
	return cmocka_run_group_tests_name("kvunit-freelist", tests, NULL,
	                                   NULL);
}
