/*
 * test_space.c: free space is reused.
 *
 *   - Overwriting the same 1,000 keys 100,000 times (1,000 non-durable
 *     commits of 100 puts, then durable ones) keeps the file within 2x its
 *     size after warm-up (plus 1 MiB).
 *   - A long-lived read txn holds the pages it can see; once it ends, they
 *     are reused and the file stops growing.
 *   - Creating and deleting a snapshot in a loop with overwrites does not
 *     grow the file without bound.
 *   - kv_snapshot_space() reports the pages only that snapshot holds, and
 *     deleting it frees that many pages (kv_env_stat free + pending).
 *   - Between checkpoints the file grows in steps beyond its last page; a
 *     checkpoint cuts it back to that page (the file was left a step
 *     larger before), unless a reader of an older commit is still open,
 *     which may read every page below that commit's last.
 *
 * CCC_LONG=1 makes the overwrite loop ten times longer.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "kvtest.h"
#include "tmpdir.h"

#define NKEYS 1000u
#define MiB (1024ull * 1024ull)

struct space {
	const char *dir;
	char path[4096];
	kv_env *env;
	struct kt_rng rng;
	uint64_t round;
};

static size_t val_len(uint64_t tag)
{
	return 50 + (size_t)(kt_mix(tag) % 350);
}

static void put_key(kv_txn *txn, kv_table *t, unsigned i, uint64_t tag)
{
	char key[16];
	unsigned char buf[512];
	size_t len = val_len(tag);
	int rc;

	snprintf(key, sizeof(key), "k%04u", i);
	kt_fill(buf, len, tag);
	rc = kv_put(txn, t, (kv_val){ key, strlen(key) }, (kv_val){ buf, len },
	            0);
	if (rc != 0)
		fail_msg("kv_put %s: %s", key, kt_err(rc));
}

/* One commit of nput puts (random keys, or all keys in order when
 * nput == NKEYS). */
static void overwrite(struct space *s, unsigned nput, int durable)
{
	kv_txn *txn;
	kv_table *t;

	assert_int_equal(kv_txn_begin(s->env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	s->round++;
	for (unsigned j = 0; j < nput; j++) {
		unsigned i =
		        nput == NKEYS ? j : (unsigned)kt_below(&s->rng, NKEYS);

		put_key(txn, t, i, s->round * NKEYS + i);
	}
	kv_txn_set_durability(txn,
	                      durable ? KV_DURABLE_IMMEDIATE : KV_DURABLE_NONE);
	assert_int_equal(kv_txn_commit(txn), 0);
}

static void space_open(struct space *s, const char *tag)
{
	memset(s, 0, sizeof(*s));
	kt_rng_init(&s->rng, kt_seed(tag));
	s->dir = kt_tmpdir(tag);
	tmpdir_path(s->path, sizeof(s->path), s->dir, "db");
	assert_int_equal(kv_env_open(&s->env, s->path, KV_CREATE, 0600), 0);
	overwrite(s, NKEYS, 1); /* load every key */
}

static void space_close(struct space *s)
{
	kt_check_clean(s->env, "at the end");
	kv_env_close(s->env);
}

static void stat_of(struct space *s, struct kv_stat *st)
{
	assert_int_equal(kv_env_stat(s->env, st), 0);
	if (st->pages_free + st->pages_pending > st->pages_total)
		fail_msg("kv_env_stat: %" PRIu64 " free + %" PRIu64
		         " pending > %" PRIu64 " pages",
		         st->pages_free, st->pages_pending, st->pages_total);
}

static void test_overwrite_steady_state(void **state)
{
	struct space s;
	struct kv_stat warm, st;
	unsigned commits = kt_long() ? 10000 : 1000;
	uint64_t max_file = 0, max_pages = 0;

	(void)state;
	space_open(&s, "space-overwrite");
	for (unsigned c = 0; c < 100; c++) /* warm-up: 10,000 puts */
		overwrite(&s, 100, 0);
	stat_of(&s, &warm);
	for (unsigned c = 100; c < commits; c++) {
		overwrite(&s, 100, 0);
		stat_of(&s, &st);
		if (st.file_size > max_file)
			max_file = st.file_size;
		if (st.pages_total > max_pages)
			max_pages = st.pages_total;
		if (st.file_size > 2 * warm.file_size + MiB)
			fail_msg("non-durable overwrites: after commit %u the "
			         "file is %" PRIu64 " bytes (%" PRIu64
			         " pages, %" PRIu64 " free, %" PRIu64
			         " pending); after warm-up it was %" PRIu64,
			         c, st.file_size, st.pages_total, st.pages_free,
			         st.pages_pending, warm.file_size);
	}
	fprintf(stderr,
	        "space: warm-up %" PRIu64 " bytes (%" PRIu64
	        " pages); after %u commits at most %" PRIu64 " bytes (%" PRIu64
	        " pages)\n",
	        warm.file_size, warm.pages_total, commits, max_file, max_pages);
	assert_true(max_pages <= 2 * warm.pages_total + 256);

	/* the same with durable commits */
	for (unsigned c = 0; c < 200; c++) {
		overwrite(&s, 100, 1);
		stat_of(&s, &st);
		if (st.file_size > 2 * warm.file_size + MiB)
			fail_msg("durable overwrites: after commit %u the file "
			         "is %" PRIu64
			         " bytes; after warm-up it was %" PRIu64,
			         c, st.file_size, warm.file_size);
	}
	/* and across a reopen */
	kv_env_close(s.env);
	assert_int_equal(kv_env_open(&s.env, s.path, 0, 0600), 0);
	for (unsigned c = 0; c < 100; c++)
		overwrite(&s, 100, 0);
	stat_of(&s, &st);
	if (st.file_size > 2 * warm.file_size + MiB)
		fail_msg("after reopen the file grew to %" PRIu64 " bytes",
		         st.file_size);
	space_close(&s);
}

/* Largest pages_total over n commits of all keys. */
static uint64_t churn_max_pages(struct space *s, unsigned n)
{
	struct kv_stat st;
	uint64_t max = 0;

	for (unsigned c = 0; c < n; c++) {
		overwrite(s, NKEYS, c % 10 == 9);
		stat_of(s, &st);
		if (st.pages_total > max)
			max = st.pages_total;
	}
	return max;
}

static void test_reader_holds_space(void **state)
{
	struct space s;
	struct kv_stat st0, held, end;
	kv_txn *r;
	kv_table *t;
	kv_val v;
	uint64_t rround, steady, after;

	(void)state;
	space_open(&s, "space-reader");
	churn_max_pages(&s, 20); /* warm-up */
	steady = churn_max_pages(&s, 40);
	overwrite(&s, NKEYS, 1);
	stat_of(&s, &st0);

	assert_int_equal(kv_txn_begin(s.env, KV_TXN_RDONLY, &r), 0);
	rround = s.round;
	for (unsigned c = 0; c < 40; c++)
		overwrite(&s, NKEYS, c % 10 == 9);
	stat_of(&s, &held);
	/* the reader's tree cannot be reused: at least its leaves (about
	 * 1000 * 225 bytes) are pending, and the file grew */
	if (held.pages_pending < st0.pages_pending + 40)
		fail_msg("with a reader open: %" PRIu64
		         " pending pages, %" PRIu64 " before",
		         held.pages_pending, st0.pages_pending);
	if (held.pages_total <= steady)
		fail_msg("with a reader open the store did not grow (%" PRIu64
		         " pages, %" PRIu64 " in the steady state)",
		         held.pages_total, steady);
	if (held.readers < 1)
		fail_msg("kv_env_stat readers %" PRIu64 " with a read txn open",
		         held.readers);
	/* the reader still sees its own values */
	assert_int_equal(kv_table_open(r, "t", 0, &t), 0);
	for (unsigned i = 0; i < NKEYS; i += 37) {
		char key[16];
		uint64_t tag = rround * NKEYS + i;

		snprintf(key, sizeof(key), "k%04u", i);
		assert_int_equal(kv_get(r, t, (kv_val){ key, strlen(key) }, &v),
		                 0);
		assert_int_equal(v.len, val_len(tag));
		assert_int_equal(kt_vcheck(v.data, v.len, tag), -1);
	}
	kv_txn_abort(r);

	/* durable commits go to the commit log, which keeps the pages of the
	 * last checkpoint until the next one (kv/log.c); kv_env_checkpoint()
	 * ends that, so only the pages the commit after it freed are still
	 * pending */
	overwrite(&s, NKEYS, 1);
	assert_int_equal(kv_env_checkpoint(s.env), 0);
	overwrite(&s, NKEYS, 1);
	stat_of(&s, &end);
	if (end.pages_pending * 2 > held.pages_pending + 64)
		fail_msg("after the reader ended: %" PRIu64 " pages still "
		         "pending (%" PRIu64 " while it was open)",
		         end.pages_pending, held.pages_pending);
	/* back to the steady state: the space the reader held is reused */
	after = churn_max_pages(&s, 40);
	fprintf(stderr,
	        "space: steady state %" PRIu64 " pages, %" PRIu64
	        " with a reader (%" PRIu64 " pending), %" PRIu64 " after it "
	        "ended, at most %" PRIu64 " in the next 40 commits\n",
	        steady, held.pages_total, held.pages_pending, end.pages_total,
	        after);
	if (after > held.pages_total || after > steady + steady / 10 + 32)
		fail_msg("once the reader ended, space was not reused: up "
		         "to %" PRIu64 " pages, %" PRIu64 " in the steady "
		         "state before",
		         after, steady);
	space_close(&s);
}

static void snap_op(struct space *s, int create, const char *name)
{
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(s->env, 0, &txn), 0);
	if (create)
		assert_int_equal(kv_snapshot_create(txn, name), 0);
	else
		assert_int_equal(kv_snapshot_delete(txn, name), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
}

static void test_snapshot_churn(void **state)
{
	struct space s;
	struct kv_stat warm, st;

	(void)state;
	space_open(&s, "space-snap");
	for (unsigned i = 0; i < 300; i++) {
		snap_op(&s, 1, "s");
		overwrite(&s, NKEYS, 0);
		overwrite(&s, 100, i % 4 == 0);
		snap_op(&s, 0, "s");
		if (i == 30)
			stat_of(&s, &warm);
		if (i > 30) {
			stat_of(&s, &st);
			if (st.file_size > 2 * warm.file_size + MiB)
				fail_msg(
				        "snapshot churn: iteration %u: %" PRIu64
				        " bytes, %" PRIu64 " after "
				        "warm-up",
				        i, st.file_size, warm.file_size);
		}
	}
	stat_of(&s, &st);
	fprintf(stderr,
	        "space: snapshot churn: %" PRIu64 " bytes after "
	        "warm-up, %" PRIu64 " at the end\n",
	        warm.file_size, st.file_size);
	assert_int_equal(st.snapshots, 0);
	space_close(&s);
}

static uint64_t snap_space(struct space *s, const char *name)
{
	kv_txn *txn;
	uint64_t pages = UINT64_MAX;
	int rc;

	assert_int_equal(kv_txn_begin(s->env, KV_TXN_RDONLY, &txn), 0);
	rc = kv_snapshot_space(txn, name, &pages);
	if (rc != 0)
		fail_msg("kv_snapshot_space %s: %s", name, kt_err(rc));
	kv_txn_abort(txn);
	return pages;
}

static void test_snapshot_space(void **state)
{
	struct space s;
	struct kv_stat a, b;
	kv_txn *txn;
	uint64_t sp, spb, spc;
	int64_t gained;

	(void)state;
	space_open(&s, "space-snapsize");
	overwrite(&s, NKEYS, 1);

	/* a snapshot of the live state holds nothing alone */
	snap_op(&s, 1, "A");
	sp = snap_space(&s, "A");
	if (sp > 2)
		fail_msg("a snapshot equal to the live state holds %" PRIu64
		         " pages alone",
		         sp);
	assert_int_equal(kv_txn_begin(s.env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_snapshot_space(txn, "nope", &sp), KV_ENOTFOUND);
	kv_txn_abort(txn);

	/* after every key changed, it holds the whole old tree: the values
	 * alone take about 1000 * 225 bytes, 55 pages */
	overwrite(&s, NKEYS, 1);
	overwrite(&s, NKEYS, 1);
	overwrite(&s, 1, 1); /* the older trees leave the durable history */
	overwrite(&s, 1, 1);
	sp = snap_space(&s, "A");
	if (sp < 50)
		fail_msg("kv_snapshot_space reports %" PRIu64 " pages for a "
		         "snapshot of a tree that was rewritten since",
		         sp);
	stat_of(&s, &a);
	if (sp > a.pages_total)
		fail_msg("kv_snapshot_space %" PRIu64 " > %" PRIu64 " pages",
		         sp, a.pages_total);
	/* pages held by a snapshot count as pending (kv.h, struct kv_stat) */
	if (a.pages_pending < sp)
		fail_msg("%" PRIu64 " pages pending, but the snapshot alone "
		         "holds %" PRIu64,
		         a.pages_pending, sp);
	snap_op(&s, 0, "A");
	overwrite(&s, 1, 1); /* the delete leaves the durable history */
	overwrite(&s, 1, 1);
	stat_of(&s, &b);
	/* pages that became free, counting any cut off the file's end */
	gained = (int64_t)b.pages_free - (int64_t)a.pages_free +
	         ((int64_t)a.pages_total - (int64_t)b.pages_total);
	fprintf(stderr,
	        "space: snapshot held %" PRIu64 " pages; deleting it "
	        "freed %" PRId64 " (free %" PRIu64 "->%" PRIu64
	        ", pending %" PRIu64 "->%" PRIu64 ")\n",
	        sp, gained, a.pages_free, b.pages_free, a.pages_pending,
	        b.pages_pending);
	if (gained < (int64_t)sp - 16 || gained > (int64_t)sp + 16)
		fail_msg("kv_snapshot_space said %" PRIu64 " pages; deleting "
		         "the snapshot freed %" PRId64,
		         sp, gained);

	/* two snapshots of one commit share their pages: neither holds them
	 * alone until the other is deleted */
	assert_int_equal(kv_txn_begin(s.env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, "B"), 0);
	assert_int_equal(kv_snapshot_create(txn, "C"), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	overwrite(&s, NKEYS, 1);
	spb = snap_space(&s, "B");
	spc = snap_space(&s, "C");
	if (spb > 2 || spc > 2)
		fail_msg("two snapshots of one commit: space %" PRIu64
		         " and %" PRIu64 ", expected ~0 (shared pages)",
		         spb, spc);
	snap_op(&s, 0, "B");
	spc = snap_space(&s, "C");
	if (spc < 50)
		fail_msg("after deleting its twin, snapshot C holds %" PRIu64
		         " pages alone",
		         spc);
	snap_op(&s, 0, "C");
	space_close(&s);
}

/* One commit of n new keys with 1,000-byte values, from key number first. */
static void add_keys(struct space *s, unsigned first, unsigned n, int durable)
{
	unsigned char buf[1000];
	kv_txn *txn;
	kv_table *t;

	assert_int_equal(kv_txn_begin(s->env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	for (unsigned i = first; i < first + n; i++) {
		char key[16];
		snprintf(key, sizeof(key), "g%08u", i);
		kt_fill(buf, sizeof(buf), i);
		assert_int_equal(kv_put(txn, t, (kv_val){ key, strlen(key) },
		                        (kv_val){ buf, sizeof(buf) }, 0),
		                 0);
	}
	kv_txn_set_durability(txn,
	                      durable ? KV_DURABLE_IMMEDIATE : KV_DURABLE_NONE);
	assert_int_equal(kv_txn_commit(txn), 0);
}

/* Grow the file with non-durable commits, then make a checkpoint (a
 * record of 2 MB does not fit the log); the file's size and its pages'
 * after each. */
static void grow_then_checkpoint(struct space *s, unsigned *next,
                                 struct kv_stat *grown, struct kv_stat *ckpt)
{
	for (unsigned c = 0; c < 40; c++, *next += 100)
		add_keys(s, *next, 100, 0);
	stat_of(s, grown);
	add_keys(s, *next, 2000, 1);
	*next += 2000;
	stat_of(s, ckpt);
}

static void test_checkpoint_cuts_file(void **state)
{
	struct space s;
	struct kv_stat grown, st;
	unsigned next = 0;
	kv_txn *old;

	(void)state;
	space_open(&s, "space-cut");
	grow_then_checkpoint(&s, &next, &grown, &st);
	/* the premise: the growth steps left a tail */
	assert_true(grown.file_size > grown.pages_total * grown.page_size);
	if (st.file_size != st.pages_total * st.page_size)
		fail_msg("after a checkpoint the file is %" PRIu64
		         " bytes, its pages %" PRIu64 " bytes",
		         st.file_size, st.pages_total * st.page_size);

	/* a reader of an older commit: the tail stays */
	assert_int_equal(kv_txn_begin(s.env, KV_TXN_RDONLY, &old), 0);
	grow_then_checkpoint(&s, &next, &grown, &st);
	assert_true(grown.file_size > grown.pages_total * grown.page_size);
	if (st.file_size < grown.file_size)
		fail_msg("a checkpoint cut the file to %" PRIu64
		         " bytes while a reader of an older commit was open",
		         st.file_size);
	kv_txn_abort(old);

	grow_then_checkpoint(&s, &next, &grown, &st);
	assert_int_equal(st.file_size, st.pages_total * st.page_size);
	space_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_overwrite_steady_state), T(test_reader_holds_space),
		T(test_snapshot_churn),         T(test_snapshot_space),
		T(test_checkpoint_cuts_file),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
