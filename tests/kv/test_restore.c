/*
 * test_restore.c: kv_snapshot_restore_tables(), the restore of some tables.
 *
 *   - One of three tables restored: it holds the snapshot's content, the
 *     other two keep their live content, and their handles opened before
 *     the restore stay usable; kv_check is clean, and once the snapshot is
 *     deleted the pages of the restored table's live version become free
 *     (kv_env_stat), as many as it had.
 *   - A table only the snapshot has comes back, one only the live state
 *     has is dropped, a name neither has and a repeated name are no error;
 *     a missing snapshot, a bad name, no names and a read-only txn are.
 *   - An abort, and a writer killed before its commit, leave everything as
 *     it was: contents, page counts, kv_check.
 *   - Rounds of random changes and restores of random subsets from random
 *     snapshots, against a model, with snapshots created and deleted and
 *     txns aborted: the store always holds the model and kv_check stays
 *     clean; once the snapshots are deleted, every page the live state
 *     does not reach is free again.  200 rounds (2,000 with CCC_LONG=1).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "kvtest.h"
#include "tmpdir.h"

#define NT 3
#define NKEYS 600u
#define MAXV (12u * 1024u) /* some values take overflow runs */

static const char *const tnames[NT] = { "a", "b", "c" };

struct mval {
	bool on;
	uint32_t len;
	uint64_t tag;
};

/* The content of the store's tables, as the tests expect it. */
struct mstate {
	bool has[NT];
	struct mval v[NT][NKEYS];
};

struct rt {
	const char *dir;
	char path[4096];
	kv_env *env;
	struct kt_rng rng;
	unsigned char *vbuf;
};

static kv_val key_of(char *buf, unsigned i)
{
	snprintf(buf, 16, "key%05u", i);
	return (kv_val){ buf, 8 };
}

static void rt_open(struct rt *r, const char *tag)
{
	memset(r, 0, sizeof(*r));
	kt_rng_init(&r->rng, kt_seed(tag));
	r->dir = kt_tmpdir(tag);
	tmpdir_path(r->path, sizeof(r->path), r->dir, "db");
	r->vbuf = malloc(MAXV);
	assert_non_null(r->vbuf);
	assert_int_equal(kv_env_open(&r->env, r->path, KV_CREATE, 0600), 0);
}

static void rt_close(struct rt *r)
{
	kt_check_clean(r->env, "at the end");
	kv_env_close(r->env);
	free(r->vbuf);
}

static void put(struct rt *r, kv_txn *txn, kv_table *t, struct mval *m,
                unsigned i, uint32_t len, uint64_t tag)
{
	char kb[16];
	int rc;

	kt_fill(r->vbuf, len, tag);
	rc = kv_put(txn, t, key_of(kb, i), (kv_val){ r->vbuf, len }, 0);
	if (rc != 0)
		fail_msg("kv_put %s: %s", kb, kt_err(rc));
	*m = (struct mval){ true, len, tag };
}

static uint32_t rand_len(struct rt *r)
{
	return kt_chance(&r->rng, 1, 20)
	               ? (uint32_t)kt_range(&r->rng, 3000, MAXV)
	               : (uint32_t)kt_range(&r->rng, 0, 300);
}

/* n random puts and deletes to table k; creates it. */
static void mutate(struct rt *r, kv_txn *txn, struct mstate *s, int k,
                   unsigned n)
{
	kv_table *t;
	char kb[16];

	assert_int_equal(kv_table_open(txn, tnames[k], KV_TABLE_CREATE, &t), 0);
	if (!s->has[k]) {
		s->has[k] = true;
		memset(s->v[k], 0, sizeof(s->v[k]));
	}
	for (unsigned j = 0; j < n; j++) {
		unsigned i = (unsigned)kt_below(&r->rng, NKEYS);

		if (s->v[k][i].on && kt_chance(&r->rng, 1, 3)) {
			assert_int_equal(kv_del(txn, t, key_of(kb, i)), 0);
			s->v[k][i].on = false;
		} else {
			put(r, txn, t, &s->v[k][i], i, rand_len(r),
			    kt_rand(&r->rng));
		}
	}
}

/* Every key of every table k (all, or only k == only) as txn sees it. */
static void expect_tables(kv_txn *txn, const struct mstate *s, int only,
                          const char *what)
{
	for (int k = 0; k < NT; k++) {
		kv_table *t;
		kv_cursor *c;
		kv_val key, val;
		char kb[16];
		uint64_t n = 0;
		int rc;

		if (only >= 0 && k != only)
			continue;
		rc = kv_table_open(txn, tnames[k], 0, &t);
		if (!s->has[k]) {
			if (rc != KV_ENOTFOUND)
				fail_msg("%s: table %s should be absent (rc "
				         "%d)",
				         what, tnames[k], rc);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: table %s: %s", what, tnames[k],
			         kt_err(rc));
		assert_int_equal(kv_cursor_open(txn, t, &c), 0);
		rc = kv_cursor_first(c, &key, &val);
		for (unsigned i = 0; i < NKEYS; i++) {
			const struct mval *m = &s->v[k][i];

			if (!m->on)
				continue;
			key_of(kb, i);
			if (rc != 0 || key.len != 8 ||
			    memcmp(key.data, kb, 8) != 0)
				fail_msg("%s: table %s: expected %s, got "
				         "\"%.*s\" (rc %d)",
				         what, tnames[k], kb,
				         rc ? 0 : (int)key.len,
				         rc ? "" : (const char *)key.data, rc);
			if (val.len != m->len ||
			    kt_vcheck(val.data, val.len, m->tag) >= 0)
				fail_msg("%s: table %s: wrong value of %s",
				         what, tnames[k], kb);
			n++;
			rc = kv_cursor_next(c, &key, &val);
		}
		if (rc != KV_ENOTFOUND)
			fail_msg("%s: table %s: an extra key (rc %d)", what,
			         tnames[k], rc);
		kv_cursor_close(c);
		if (kv_table_count(t) != n)
			fail_msg("%s: table %s: count %" PRIu64
			         ", expected %" PRIu64,
			         what, tnames[k], kv_table_count(t), n);
	}
}

static void expect_store(struct rt *r, const struct mstate *s, const char *what)
{
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(r->env, KV_TXN_RDONLY, &txn), 0);
	expect_tables(txn, s, -1, what);
	kv_txn_abort(txn);
}

static void snap(struct rt *r, const char *name, int create)
{
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(r->env, 0, &txn), 0);
	assert_int_equal(create ? kv_snapshot_create(txn, name)
	                        : kv_snapshot_delete(txn, name),
	                 0);
	assert_int_equal(kv_txn_commit(txn), 0);
}

/* A durable commit of one put to table "a": the pages earlier commits
 * freed leave the durable history and become free. */
static void settle(struct rt *r, struct mstate *s)
{
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(r->env, 0, &txn), 0);
	mutate(r, txn, s, 0, 1);
	assert_int_equal(kv_txn_commit(txn), 0);
}

/* The three tables, each loaded, then snapshot "S" of that state. */
static void three_tables(struct rt *r, struct mstate *s)
{
	kv_txn *txn;

	memset(s, 0, sizeof(*s));
	assert_int_equal(kv_txn_begin(r->env, 0, &txn), 0);
	for (int k = 0; k < NT; k++)
		mutate(r, txn, s, k, NKEYS);
	assert_int_equal(kv_txn_commit(txn), 0);
	snap(r, "S", 1);
}

static uint64_t snap_space(struct rt *r, const char *name)
{
	kv_txn *txn;
	uint64_t pages;

	assert_int_equal(kv_txn_begin(r->env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_snapshot_space(txn, name, &pages), 0);
	kv_txn_abort(txn);
	return pages;
}

static int ignore_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	(void)ctx;
	(void)key;
	(void)va;
	(void)vb;
	return 0;
}

/* Pages of table b in snapshot "S" or live: a diff against snapshot
 * "none", which has no tables, reads each of them once. */
static uint64_t table_pages(struct rt *r, const char *snapshot)
{
	struct kv_diff_stat st;
	kv_txn *none, *txn;

	assert_int_equal(kv_txn_begin_snapshot(r->env, "none", &none), 0);
	if (snapshot)
		assert_int_equal(kv_txn_begin_snapshot(r->env, snapshot, &txn),
		                 0);
	else
		assert_int_equal(kv_txn_begin(r->env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_table_diff(none, txn, "b", ignore_cb, NULL, &st),
	                 0);
	kv_txn_abort(txn);
	kv_txn_abort(none);
	return st.pages_read;
}

/* Pages the live state reaches. */
static int64_t live_pages(const struct kv_stat *st)
{
	return (int64_t)(st->pages_total - st->pages_free - st->pages_pending);
}

/*
 * Restore b alone, after b was rewritten whole and a and c changed.  The
 * accounting: the live state gives up b's live pages and takes the
 * snapshot's, which leave the pending list, so the pages only the snapshot
 * holds drop by as many.
 */
static void test_restore_one_of_three(void **state)
{
	struct rt r;
	struct mstate snapshot, live, want;
	struct kv_stat before, after;
	const char *b = "b";
	uint64_t snap_b, live_b, sp_before, sp_after;
	int64_t moved;
	kv_table *ta, *tc;
	kv_txn *txn;
	char kb[16];
	kv_val v;

	(void)state;
	rt_open(&r, "restore-one");
	snap(&r, "none", 1);
	three_tables(&r, &snapshot);
	live = snapshot;
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	mutate(&r, txn, &live, 0, 200);
	mutate(&r, txn, &live, 2, 200);
	for (unsigned i = 0; i < NKEYS; i++) {
		kv_table *t;

		assert_int_equal(kv_table_open(txn, "b", 0, &t), 0);
		put(&r, txn, t, &live.v[1][i], i, rand_len(&r),
		    kt_rand(&r.rng));
	}
	assert_int_equal(kv_txn_commit(txn), 0);
	settle(&r, &live);
	settle(&r, &live);
	snap_b = table_pages(&r, "S");
	live_b = table_pages(&r, NULL);
	sp_before = snap_space(&r, "S");
	assert_int_equal(kv_env_stat(r.env, &before), 0);

	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "a", 0, &ta), 0);
	assert_int_equal(kv_table_open(txn, "c", 0, &tc), 0);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", &b, 1), 0);
	want = live;
	memcpy(want.v[1], snapshot.v[1], sizeof(want.v[1]));
	expect_tables(txn, &want, -1, "in the restoring txn");
	/* the handles of the other tables stay open */
	put(&r, txn, ta, &want.v[0][7], 7, 10, 1234);
	put(&r, txn, tc, &want.v[2][8], 8, MAXV, 5678);
	assert_int_equal(kv_get(txn, ta, key_of(kb, 7), &v), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	expect_store(&r, &want, "after the restore of b");
	kt_check_clean(r.env, "after the restore of b");

	settle(&r, &want);
	settle(&r, &want);
	assert_int_equal(kv_env_stat(r.env, &after), 0);
	sp_after = snap_space(&r, "S");
	moved = live_pages(&after) - live_pages(&before);
	fprintf(stderr,
	        "restore: b has %" PRIu64 " pages in the snapshot, %" PRIu64
	        " live; the live state grew by %" PRId64
	        " pages; the snapshot alone held %" PRIu64 ", now %" PRIu64
	        "\n",
	        snap_b, live_b, moved, sp_before, sp_after);
	/* a few pages of slack: the catalog, the freelist's own chain, and
	 * the two puts through the old handles */
	if (moved < (int64_t)snap_b - (int64_t)live_b - 8 ||
	    moved > (int64_t)snap_b - (int64_t)live_b + 8)
		fail_msg("restoring b: the live state grew by %" PRId64
		         " pages, expected about %" PRId64,
		         moved, (int64_t)snap_b - (int64_t)live_b);
	if (sp_before - sp_after + 4 < snap_b ||
	    sp_before - sp_after > snap_b + 4)
		fail_msg("restoring b: the snapshot alone held %" PRIu64
		         " pages, then %" PRIu64 "; b had %" PRIu64,
		         sp_before, sp_after, snap_b);

	snap(&r, "S", 0);
	settle(&r, &want);
	kt_check_clean(r.env, "after the snapshot's delete");
	expect_store(&r, &want, "at the end");
	rt_close(&r);
}

static void test_restore_absent_and_errors(void **state)
{
	struct rt r;
	struct mstate snapshot, live;
	const char *names[] = { "b", "c", "b", "nowhere" };
	const char *bad[] = { "a", "" };
	kv_txn *txn;
	struct kv_stat before, after;

	(void)state;
	rt_open(&r, "restore-absent");
	/* the snapshot has a and b; live has a and c */
	memset(&snapshot, 0, sizeof(snapshot));
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	mutate(&r, txn, &snapshot, 0, 300);
	mutate(&r, txn, &snapshot, 1, 300);
	assert_int_equal(kv_txn_commit(txn), 0);
	snap(&r, "S", 1);
	live = snapshot;
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	assert_int_equal(kv_table_drop(txn, "b"), 0);
	live.has[1] = false;
	mutate(&r, txn, &live, 2, 300);
	mutate(&r, txn, &live, 0, 50);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_env_stat(r.env, &before), 0);

	/* errors change nothing */
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_restore_tables(txn, "T", names, 1),
	                 KV_ENOTFOUND);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", bad, 2),
	                 KV_EBADNAME);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", NULL, 1),
	                 -EINVAL);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", NULL, 0), 0);
	expect_tables(txn, &live, -1, "after failed restores");
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_env_stat(r.env, &after), 0);
	assert_int_equal(after.txnid, before.txnid); /* nothing to commit */
	assert_int_equal(kv_txn_begin(r.env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", names, 1),
	                 KV_EREADONLY);
	kv_txn_abort(txn);

	/* b comes back, c goes, a stays; repeats and unknown names are fine */
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", names, 4), 0);
	live.has[1] = true;
	memcpy(live.v[1], snapshot.v[1], sizeof(live.v[1]));
	live.has[2] = false;
	assert_int_equal(kv_txn_commit(txn), 0);
	expect_store(&r, &live, "after the restore of b and c");
	kt_check_clean(r.env, "after the restore of b and c");
	rt_close(&r);
}

/* Page counts and contents must be those of before. */
static void expect_unchanged(struct rt *r, const struct mstate *s,
                             const struct kv_stat *before, const char *what)
{
	struct kv_stat now;

	assert_int_equal(kv_env_stat(r->env, &now), 0);
	if (now.txnid != before->txnid ||
	    now.pages_total != before->pages_total ||
	    now.pages_free != before->pages_free ||
	    now.pages_pending != before->pages_pending)
		fail_msg("%s: txnid %" PRIu64 " pages %" PRIu64 " free %" PRIu64
		         " pending %" PRIu64 "; before: %" PRIu64 ", %" PRIu64
		         ", %" PRIu64 ", %" PRIu64,
		         what, now.txnid, now.pages_total, now.pages_free,
		         now.pages_pending, before->txnid, before->pages_total,
		         before->pages_free, before->pages_pending);
	expect_store(r, s, what);
	kt_check_clean(r->env, what);
}

/* A writer that restores b and c, then is killed before it commits. */
static int killed_writer(const char *path)
{
	const char *names[] = { "b", "c" };
	kv_env *env;
	kv_txn *txn;

	if (kv_env_open(&env, path, 0, 0600) != 0 ||
	    kv_txn_begin(env, 0, &txn) != 0 ||
	    kv_snapshot_restore_tables(txn, "S", names, 2) != 0)
		return 1;
	raise(SIGKILL);
	return 1;
}

static void test_restore_abort_and_kill(void **state)
{
	struct rt r;
	struct mstate snapshot, live;
	struct kv_stat before;
	const char *names[] = { "c", "a" };
	kv_txn *txn;
	int status;
	pid_t pid;

	(void)state;
	rt_open(&r, "restore-abort");
	three_tables(&r, &snapshot);
	live = snapshot;
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	for (int k = 0; k < NT; k++)
		mutate(&r, txn, &live, k, 300);
	assert_int_equal(kv_txn_commit(txn), 0);
	settle(&r, &live);
	assert_int_equal(kv_env_stat(r.env, &before), 0);

	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", names, 2), 0);
	kv_txn_abort(txn);
	expect_unchanged(&r, &live, &before, "after an aborted restore");

	/* the same with changes before and after the restore in one txn */
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	{
		struct mstate scratch = live;

		mutate(&r, txn, &scratch, 0, 100);
		assert_int_equal(kv_snapshot_restore_tables(txn, "S", names, 2),
		                 0);
		memcpy(scratch.v[2], snapshot.v[2], sizeof(scratch.v[2]));
		mutate(&r, txn, &scratch, 2, 100);
	}
	kv_txn_abort(txn);
	expect_unchanged(&r, &live, &before,
	                 "after an aborted restore "
	                 "with changes");

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(killed_writer(r.path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("the writer did not get as far as its restore");
	expect_unchanged(&r, &live, &before, "after a killed restore");

	/* and the restore still works */
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_restore_tables(txn, "S", names, 2), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	memcpy(live.v[0], snapshot.v[0], sizeof(live.v[0]));
	memcpy(live.v[2], snapshot.v[2], sizeof(live.v[2]));
	expect_store(&r, &live, "after the restore");
	rt_close(&r);
}

/* ---- random rounds against a model ------------------------------------- */

#define NSNAPS 3

static void test_restore_rounds(void **state)
{
	struct rt r;
	/* [0, NSNAPS): the snapshots; then the live state, and both again
	 * as the write txn changes them */
	struct mstate *m = calloc(2 * (NSNAPS + 1), sizeof(*m));
	struct mstate *snaps = m, *live = m + NSNAPS;
	struct mstate *wsnaps = m + NSNAPS + 1, *work = wsnaps + NSNAPS;
	bool has_snap[NSNAPS] = { false }, whas[NSNAPS];
	unsigned rounds = kt_long() ? 2000 : 200, restores = 0;
	uint64_t max_pages = 0;
	struct kv_check_report rep;
	struct kv_stat st;
	kv_txn *txn;

	(void)state;
	assert_non_null(m);
	rt_open(&r, "restore-rounds");
	for (unsigned round = 0; round < rounds; round++) {
		unsigned i = (unsigned)kt_below(&r.rng, NSNAPS);
		char name[8];

		memcpy(wsnaps, snaps, (NSNAPS + 1) * sizeof(*m));
		memcpy(whas, has_snap, sizeof(whas));
		snprintf(name, sizeof(name), "s%u", i);
		assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
		if (kt_chance(&r.rng, 1, 4)) {
			if (whas[i])
				assert_int_equal(kv_snapshot_delete(txn, name),
				                 0);
			assert_int_equal(kv_snapshot_create(txn, name), 0);
			wsnaps[i] = *live; /* the state txn began from */
			whas[i] = true;
		}
		for (int k = 0; k < NT; k++)
			if (kt_chance(&r.rng, 2, 3))
				mutate(&r, txn, work, k,
				       (unsigned)kt_range(&r.rng, 1, 60));
		if (kt_chance(&r.rng, 1, 20) && work->has[1]) {
			assert_int_equal(kv_table_drop(txn, "b"), 0);
			work->has[1] = false;
		}
		i = (unsigned)kt_below(&r.rng, NSNAPS);
		snprintf(name, sizeof(name), "s%u", i);
		if (whas[i] && kt_chance(&r.rng, 1, 2)) {
			const char *names[NT];
			size_t n = 0;

			for (int k = 0; k < NT; k++)
				if (kt_chance(&r.rng, 1, 2))
					names[n++] = tnames[k];
			assert_int_equal(
			        kv_snapshot_restore_tables(txn, name, names, n),
			        0);
			for (size_t j = 0; j < n; j++) {
				int k = names[j][0] - 'a';

				work->has[k] = wsnaps[i].has[k];
				memcpy(work->v[k], wsnaps[i].v[k],
				       sizeof(work->v[k]));
			}
			restores++;
			if (kt_chance(&r.rng, 1, 3)) /* changes after it */
				mutate(&r, txn, work, (int)kt_below(&r.rng, NT),
				       20);
		}
		if (kt_chance(&r.rng, 1, 10)) {
			kv_txn_abort(txn);
			expect_store(&r, live, "after an abort");
			continue;
		}
		kv_txn_set_durability(txn, kt_chance(&r.rng, 1, 3)
		                                   ? KV_DURABLE_IMMEDIATE
		                                   : KV_DURABLE_NONE);
		assert_int_equal(kv_txn_commit(txn), 0);
		memcpy(snaps, wsnaps, (NSNAPS + 1) * sizeof(*m));
		memcpy(has_snap, whas, sizeof(whas));
		if (round % 25 == 24) {
			expect_store(&r, live, "after a round");
			kt_check_clean(r.env, "after a round");
		}
		assert_int_equal(kv_env_stat(r.env, &st), 0);
		if (st.pages_total > max_pages)
			max_pages = st.pages_total;
	}
	expect_store(&r, live, "at the end");

	/* with the snapshots gone, every page the live state does not reach
	 * is free again: nothing was lost on the way */
	assert_int_equal(kv_txn_begin(r.env, 0, &txn), 0);
	for (unsigned i = 0; i < NSNAPS; i++) {
		char name[8];

		snprintf(name, sizeof(name), "s%u", i);
		if (has_snap[i])
			assert_int_equal(kv_snapshot_delete(txn, name), 0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);
	settle(&r, live);
	settle(&r, live);
	assert_int_equal(kv_env_stat(r.env, &st), 0);
	assert_int_equal(kt_check(r.env, &rep, NULL, 0), 0);
	fprintf(stderr,
	        "restore: %u rounds, %u restores; at most %" PRIu64
	        " pages; without the snapshots %" PRIu64 " live, %" PRIu64
	        " free, %" PRIu64 " pending\n",
	        rounds, restores, max_pages, rep.pages_reachable, st.pages_free,
	        st.pages_pending);
	/* kv_check counts every page but the two meta pages */
	if (st.pages_pending > 16 ||
	    st.pages_total - st.pages_free - st.pages_pending !=
	            rep.pages_reachable + 2)
		fail_msg("without snapshots: %" PRIu64 " pages, %" PRIu64
		         " free, %" PRIu64 " pending, %" PRIu64 " reachable",
		         st.pages_total, st.pages_free, st.pages_pending,
		         rep.pages_reachable);
	rt_close(&r);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_restore_one_of_three),
		T(test_restore_absent_and_errors),
		T(test_restore_abort_and_kill),
		T(test_restore_rounds),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
