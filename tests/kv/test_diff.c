/*
 * test_diff.c: kv_table_diff() against a model.
 *
 *   - Random states, one round per seed: commits of random puts (new keys,
 *     overwrites, identical re-puts of the same bytes, empty and overflow
 *     values up to 70 KB), deletes, and runs of inserts and deletes in key
 *     order that split and merge pages; then a snapshot, more commits, and
 *     a write txn with changes of its own.  The diff of the table between
 *     the snapshot, the live state and the write txn, each pair both ways
 *     round, must report exactly the keys a merge of the model's two states
 *     finds different, with the values byte for byte.  A table on one side
 *     only, an empty table and an absent one too.  40 rounds (400 with
 *     CCC_LONG=1).
 *   - A state against itself, or two txns of one commit, report nothing
 *     and read no page.  Two leaves that name one overflow run hold the
 *     same value, which is not read; a value rewritten with the same
 *     bytes is compared and not reported.
 *   - Cost: of 100,000 keys, 10 change between a snapshot and the live
 *     state: the diff reads only the changed root-to-leaf paths, under 1%
 *     of the table's pages.  Pages are counted (struct kv_diff_stat), not
 *     timed.
 *   - A non-zero return from the callback stops the walk and is returned;
 *     argument errors.
 *
 * CCC_SEED=n replays a run (the seed of each round is the run's seed plus
 * the round's number).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "kvtest.h"
#include "tmpdir.h"

#define NIDS 3000u /* the key space of a round */
#define VBUF (70u * 1024u)

/* ---- keys and the model --------------------------------------------- */

/* Key id: a letter, a filler of a length drawn from the id, and the id in
 * five digits (so keys are unique).  The filler is the same letter
 * throughout, so keys with long fillers share long prefixes: separators
 * grow long, branch pages hold few, and trees grow three and four levels
 * deep on a few thousand keys. */
struct keyset {
	unsigned char *b[NIDS];
	uint16_t len[NIDS];
	unsigned order[NIDS]; /* ids in key order */
	unsigned pos[NIDS];   /* order[pos[id]] == id */
};

static struct keyset ks;

static int cmp_ids(const void *x, const void *y)
{
	unsigned a = *(const unsigned *)x, b = *(const unsigned *)y;
	size_t n = ks.len[a] < ks.len[b] ? ks.len[a] : ks.len[b];
	int c = memcmp(ks.b[a], ks.b[b], n);

	if (c != 0)
		return c;
	return ks.len[a] < ks.len[b] ? -1 : ks.len[a] > ks.len[b];
}

static void keys_init(void)
{
	if (ks.b[0])
		return;
	for (unsigned id = 0; id < NIDS; id++) {
		uint64_t r = kt_mix(id + 1);
		unsigned c = (unsigned)((r >> 8) % 100);
		size_t fill = c < 50   ? (r >> 16) % 10
		              : c < 85 ? 40 + (r >> 16) % 260
		                       : 400 + (r >> 16) % 600;
		size_t len = 1 + fill + 5;
		unsigned char *k = malloc(len + 8);
		char num[8];

		assert_non_null(k);
		k[0] = (unsigned char)('a' + r % 3);
		memset(k + 1, 'm', fill);
		snprintf(num, sizeof(num), "%05u", id);
		memcpy(k + 1 + fill, num, 5);
		ks.b[id] = k;
		ks.len[id] = (uint16_t)len;
		ks.order[id] = id;
	}
	qsort(ks.order, NIDS, sizeof(ks.order[0]), cmp_ids);
	for (unsigned i = 0; i < NIDS; i++)
		ks.pos[ks.order[i]] = i;
}

static kv_val key_val(unsigned id)
{
	return (kv_val){ ks.b[id], ks.len[id] };
}

struct mval {
	bool on;
	uint32_t len;
	uint64_t tag;
};

/* One table's content; a table absent from a state is all off. */
struct mtab {
	struct mval v[NIDS];
};

struct round {
	uint64_t seed;
	struct kt_rng rng;
	kv_env *env;
	unsigned char *vbuf, *vbuf2;
};

static uint32_t rand_len(struct kt_rng *r)
{
	unsigned c = (unsigned)kt_below(r, 100);

	if (c < 5)
		return 0;
	if (c < 70)
		return (uint32_t)kt_range(r, 1, 120);
	if (c < 92)
		return (uint32_t)kt_range(r, 121, 1500);
	if (c < 98)
		return (uint32_t)kt_range(r, 1501, 9000);
	return (uint32_t)kt_range(r, 20000, VBUF);
}

/* Are two present values the same bytes? */
static bool same_value(struct round *rd, const struct mval *a,
                       const struct mval *b)
{
	if (a->len != b->len)
		return false;
	if (a->tag == b->tag || a->len == 0)
		return true;
	kt_fill(rd->vbuf, a->len, a->tag);
	kt_fill(rd->vbuf2, b->len, b->tag);
	return memcmp(rd->vbuf, rd->vbuf2, a->len) == 0;
}

static void put(struct round *rd, kv_txn *txn, kv_table *t, struct mtab *m,
                unsigned id, uint32_t len, uint64_t tag)
{
	int rc;

	kt_fill(rd->vbuf, len, tag);
	rc = kv_put(txn, t, key_val(id), (kv_val){ rd->vbuf, len }, 0);
	if (rc != 0)
		fail_msg("seed %" PRIu64 ": kv_put of id %u: %s", rd->seed, id,
		         kt_err(rc));
	m->v[id] = (struct mval){ true, len, tag };
}

static void del(struct round *rd, kv_txn *txn, kv_table *t, struct mtab *m,
                unsigned id)
{
	int rc = kv_del(txn, t, key_val(id));

	if (rc != 0)
		fail_msg("seed %" PRIu64 ": kv_del of id %u: %s", rd->seed, id,
		         kt_err(rc));
	m->v[id].on = false;
}

/* A present id near a random one, or NIDS when the table is empty. */
static unsigned pick_present(struct round *rd, const struct mtab *m)
{
	unsigned id = (unsigned)kt_below(&rd->rng, NIDS);

	for (unsigned j = 0; j < NIDS; j++, id = (id + 1) % NIDS)
		if (m->v[id].on)
			return id;
	return NIDS;
}

/* n random changes to table t (model m) in txn. */
static void mutate(struct round *rd, kv_txn *txn, kv_table *t, struct mtab *m,
                   unsigned n)
{
	struct kt_rng *r = &rd->rng;

	for (unsigned i = 0; i < n; i++) {
		unsigned c = (unsigned)kt_below(r, 100), id;

		if (c < 50) { /* put, new key or not */
			id = (unsigned)kt_below(r, NIDS);
			put(rd, txn, t, m, id, rand_len(r), kt_rand(r));
		} else if (c < 62) { /* the same bytes again */
			id = pick_present(rd, m);
			if (id < NIDS)
				put(rd, txn, t, m, id, m->v[id].len,
				    m->v[id].tag);
		} else if (c < 67) { /* same length, other bytes */
			id = pick_present(rd, m);
			if (id < NIDS)
				put(rd, txn, t, m, id, m->v[id].len,
				    kt_rand(r));
		} else if (c < 90) {
			id = pick_present(rd, m);
			if (id < NIDS)
				del(rd, txn, t, m, id);
		} else if (c < 95) { /* a run of inserts in key order */
			unsigned at = (unsigned)kt_below(r, NIDS);
			unsigned len = (unsigned)kt_range(r, 50, 300);

			for (unsigned j = at; j < NIDS && j < at + len; j++)
				put(rd, txn, t, m, ks.order[j],
				    (uint32_t)kt_range(r, 1, 200), kt_rand(r));
		} else { /* a run of deletes in key order: pages merge */
			unsigned at = (unsigned)kt_below(r, NIDS);
			unsigned len = (unsigned)kt_range(r, 50, 400);

			for (unsigned j = at; j < NIDS && j < at + len; j++)
				if (m->v[ks.order[j]].on)
					del(rd, txn, t, m, ks.order[j]);
		}
	}
}

/* ---- checking a diff -------------------------------------------------- */

struct expect {
	struct round *rd;
	const struct mtab *a, *b;
	unsigned *ids; /* the ids the diff must report, in key order */
	unsigned n, next;
	const char *what;
	unsigned stop_after; /* return 99 from this call on; 0: never */
};

static void expected(struct expect *e)
{
	e->n = 0;
	for (unsigned i = 0; i < NIDS; i++) {
		unsigned id = ks.order[i];
		const struct mval *a = &e->a->v[id], *b = &e->b->v[id];

		if (!a->on && !b->on)
			continue;
		if (a->on && b->on && same_value(e->rd, a, b))
			continue;
		e->ids[e->n++] = id;
	}
}

static void check_side(struct expect *e, unsigned id, const struct mval *m,
                       kv_val v, const char *side)
{
	if (!m->on) {
		if (v.data != NULL)
			fail_msg("seed %" PRIu64 ", %s: id %u is not in %s, "
			         "but the diff gives a value of %zu bytes",
			         e->rd->seed, e->what, id, side, v.len);
		return;
	}
	if (v.data == NULL)
		fail_msg("seed %" PRIu64 ", %s: id %u is in %s, but the diff "
		         "says it is not",
		         e->rd->seed, e->what, id, side);
	if (v.len != m->len || kt_vcheck(v.data, v.len, m->tag) >= 0)
		fail_msg("seed %" PRIu64 ", %s: id %u: the value in %s is "
		         "wrong (%zu bytes, expected %u)",
		         e->rd->seed, e->what, id, side, v.len, m->len);
}

static int diff_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	struct expect *e = ctx;
	unsigned id;

	if (e->next >= e->n)
		fail_msg("seed %" PRIu64 ", %s: extra difference, key %.*s "
		         "(expected %u)",
		         e->rd->seed, e->what,
		         (int)(key.len < 12 ? key.len : 12),
		         (const char *)key.data, e->n);
	id = e->ids[e->next++];
	if (key.len != ks.len[id] || memcmp(key.data, ks.b[id], key.len) != 0)
		fail_msg("seed %" PRIu64 ", %s: difference %u is key %.*s "
		         "(%zu bytes), expected id %u",
		         e->rd->seed, e->what, e->next - 1,
		         (int)(key.len < 12 ? key.len : 12),
		         (const char *)key.data, key.len, id);
	check_side(e, id, &e->a->v[id], va, "a");
	check_side(e, id, &e->b->v[id], vb, "b");
	if (e->stop_after && e->next >= e->stop_after)
		return 99;
	return 0;
}

/* The diff of table name between a and b must be that of models ma, mb. */
static void check_diff(struct round *rd, kv_txn *a, kv_txn *b, const char *name,
                       const struct mtab *ma, const struct mtab *mb,
                       const char *what, struct kv_diff_stat *st)
{
	static unsigned ids[NIDS];
	struct expect e = { rd, ma, mb, ids, 0, 0, what, 0 };
	int rc;

	expected(&e);
	rc = kv_table_diff(a, b, name, diff_cb, &e, st);
	if (rc != 0)
		fail_msg("seed %" PRIu64 ", %s: kv_table_diff: %s", rd->seed,
		         what, kt_err(rc));
	if (e.next != e.n)
		fail_msg("seed %" PRIu64 ", %s: %u differences reported, the "
		         "model has %u",
		         rd->seed, what, e.next, e.n);
}

/* Both ways round. */
static void check_both(struct round *rd, kv_txn *a, kv_txn *b, const char *name,
                       const struct mtab *ma, const struct mtab *mb,
                       const char *what)
{
	char w[96];

	snprintf(w, sizeof(w), "%s (a, b)", what);
	check_diff(rd, a, b, name, ma, mb, w, NULL);
	snprintf(w, sizeof(w), "%s (b, a)", what);
	check_diff(rd, b, a, name, mb, ma, w, NULL);
}

/* Nothing differs, and nothing is read. */
static void check_same(struct round *rd, kv_txn *a, kv_txn *b, const char *name,
                       const struct mtab *m, const char *what)
{
	struct kv_diff_stat st;

	check_diff(rd, a, b, name, m, m, what, &st);
	if (st.pages_read != 0)
		fail_msg("seed %" PRIu64 ", %s: a table against itself read "
		         "%" PRIu64 " pages",
		         rd->seed, what, st.pages_read);
}

/* ---- rounds ------------------------------------------------------------- */

static kv_table *table(struct round *rd, kv_txn *txn, const char *name)
{
	kv_table *t;
	int rc = kv_table_open(txn, name, KV_TABLE_CREATE, &t);

	if (rc != 0)
		fail_msg("seed %" PRIu64 ": open %s: %s", rd->seed, name,
		         kt_err(rc));
	return t;
}

static void commit(struct round *rd, kv_txn *txn)
{
	int rc;

	kv_txn_set_durability(txn, kt_chance(&rd->rng, 1, 4)
	                                   ? KV_DURABLE_IMMEDIATE
	                                   : KV_DURABLE_NONE);
	rc = kv_txn_commit(txn);
	if (rc != 0)
		fail_msg("seed %" PRIu64 ": commit: %s", rd->seed, kt_err(rc));
}

/* Commits of random changes to table "d" (model d). */
static void commits(struct round *rd, struct mtab *d, unsigned n)
{
	for (unsigned c = 0; c < n; c++) {
		kv_txn *txn;

		assert_int_equal(kv_txn_begin(rd->env, 0, &txn), 0);
		mutate(rd, txn, table(rd, txn, "d"), d,
		       (unsigned)kt_range(&rd->rng, 20, 400));
		commit(rd, txn);
	}
}

static void one_round(struct round *rd, struct mtab *m)
{
	/* m[0] d in the snapshot, m[1] d live, m[2] d in the write txn,
	 * m[3] e in the snapshot, m[4] e live, m[5] all off */
	struct mtab *snap = &m[0], *live = &m[1], *wr = &m[2];
	struct mtab *esnap = &m[3], *elive = &m[4], *none = &m[5];
	bool e_before = kt_chance(&rd->rng, 1, 2);
	kv_txn *txn, *s, *r, *r2, *w;

	memset(m, 0, 6 * sizeof(*m));
	commits(rd, live, (unsigned)kt_range(&rd->rng, 1, 3));
	assert_int_equal(kv_txn_begin(rd->env, 0, &txn), 0);
	if (e_before) /* e: only in the snapshot */
		mutate(rd, txn, table(rd, txn, "e"), elive, 100);
	else /* f: an empty table on both sides */
		table(rd, txn, "f");
	commit(rd, txn);
	assert_int_equal(kv_txn_begin(rd->env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, "s"), 0);
	commit(rd, txn);
	*snap = *live;
	*esnap = *elive;

	/* no commit at all now and then: the two states are the same */
	commits(rd, live, (unsigned)kt_below(&rd->rng, 4));
	assert_int_equal(kv_txn_begin(rd->env, 0, &txn), 0);
	if (e_before) {
		assert_int_equal(kv_table_drop(txn, "e"), 0);
		memset(elive, 0, sizeof(*elive));
	} else { /* e: only live */
		mutate(rd, txn, table(rd, txn, "e"), elive, 100);
	}
	commit(rd, txn);

	assert_int_equal(kv_txn_begin_snapshot(rd->env, "s", &s), 0);
	assert_int_equal(kv_txn_begin(rd->env, KV_TXN_RDONLY, &r), 0);
	assert_int_equal(kv_txn_begin(rd->env, KV_TXN_RDONLY, &r2), 0);
	assert_int_equal(kv_txn_begin(rd->env, 0, &w), 0);
	*wr = *live;
	if (kt_chance(&rd->rng, 3, 4))
		mutate(rd, w, table(rd, w, "d"), wr,
		       (unsigned)kt_range(&rd->rng, 1, 200));

	check_both(rd, s, r, "d", snap, live, "snapshot and live");
	check_both(rd, s, w, "d", snap, wr, "snapshot and write txn");
	check_both(rd, r, w, "d", live, wr, "live and write txn");
	check_both(rd, s, r, "e", esnap, elive, "table on one side");
	check_both(rd, s, w, "f", none, none, "an empty or absent table");
	check_both(rd, r, w, "nowhere", none, none, "an absent table");
	check_same(rd, r, r, "d", live, "a read txn and itself");
	check_same(rd, r, r2, "d", live, "two read txns of one commit");
	check_same(rd, w, w, "d", wr, "a write txn and itself");
	check_same(rd, s, s, "e", esnap, "a snapshot and itself");

	kv_txn_abort(w);
	kv_txn_abort(r2);
	kv_txn_abort(r);
	kv_txn_abort(s);

	/* start the next round from an empty store */
	assert_int_equal(kv_txn_begin(rd->env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_delete(txn, "s"), 0);
	assert_int_equal(kv_table_drop(txn, "d"), 0);
	if (!e_before) {
		assert_int_equal(kv_table_drop(txn, "e"), 0);
		assert_int_equal(kv_table_drop(txn, "f"), 0);
	}
	commit(rd, txn);
}

static void test_diff_model(void **state)
{
	const char *dir = kt_tmpdir("diff-model");
	uint64_t seed = kt_seed("diff");
	unsigned rounds = kt_long() ? 400 : 40;
	struct round rd;
	struct mtab *m = malloc(6 * sizeof(*m));
	char path[4096];

	(void)state;
	assert_non_null(m);
	keys_init();
	memset(&rd, 0, sizeof(rd));
	rd.vbuf = malloc(VBUF);
	rd.vbuf2 = malloc(VBUF);
	assert_true(rd.vbuf && rd.vbuf2);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&rd.env, path, KV_CREATE, 0600), 0);
	for (unsigned i = 0; i < rounds; i++) {
		rd.seed = seed + i;
		kt_rng_init(&rd.rng, rd.seed);
		one_round(&rd, m);
		if (i % 10 == 9)
			kt_check_clean(rd.env, "after a round");
	}
	fprintf(stderr, "diff: %u rounds against the model\n", rounds);
	kt_check_clean(rd.env, "at the end");
	kv_env_close(rd.env);
	free(rd.vbuf);
	free(rd.vbuf2);
	free(m);
}

/* ---- cost ----------------------------------------------------------------- */

#define COST_KEYS 100000u
#define COST_CHANGES 10u
#define COST_VLEN 256u

static kv_val cost_key(char *buf, unsigned i)
{
	snprintf(buf, 16, "k%08u", i);
	return (kv_val){ buf, 9 };
}

struct counter {
	unsigned n;
};

static int count_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	struct counter *c = ctx;

	(void)key;
	(void)va;
	(void)vb;
	c->n++;
	return 0;
}

/*
 * 100,000 keys loaded in key order (full leaves), a snapshot, then 8
 * overwrites, a delete and an insert at random places.  The diff must
 * report the 10 keys and read a root-to-leaf path or so per change and
 * side: under 1% of the table's pages.  The table's pages are counted by a
 * diff against a snapshot without the table, which reads each page once.
 */
static void test_diff_cost(void **state)
{
	const char *dir = kt_tmpdir("diff-cost");
	char path[4096], kb[16];
	unsigned char val[COST_VLEN];
	struct kt_rng rng;
	struct kv_diff_stat st, all;
	struct counter cnt = { 0 };
	kv_env *env;
	kv_txn *txn, *s;
	kv_table *t;

	(void)state;
	kt_rng_init(&rng, kt_seed("diff-cost"));
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	for (unsigned i = 0; i < COST_KEYS; i++) {
		kt_fill(val, sizeof(val), i);
		assert_int_equal(kv_put(txn, t, cost_key(kb, 2 * i),
		                        (kv_val){ val, sizeof(val) },
		                        KV_APPEND),
		                 0);
	}
	/* of the state before this txn: no table t */
	assert_int_equal(kv_snapshot_create(txn, "empty"), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, "before"), 0);
	assert_int_equal(kv_txn_commit(txn), 0);

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", 0, &t), 0);
	for (unsigned c = 0; c < COST_CHANGES; c++) {
		/* distinct keys: ten changes, ten differences */
		unsigned i =
		        (unsigned)kt_below(&rng, COST_KEYS / COST_CHANGES) *
		                COST_CHANGES +
		        c;

		kt_fill(val, sizeof(val), kt_rand(&rng));
		if (c == 0)
			assert_int_equal(kv_del(txn, t, cost_key(kb, 2 * i)),
			                 0);
		else
			assert_int_equal(
			        kv_put(txn, t, cost_key(kb, 2 * i + (c == 1)),
			               (kv_val){ val, sizeof(val) }, 0),
			        0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_txn_begin_snapshot(env, "empty", &s), 0);
	assert_int_equal(kv_table_diff(s, txn, "t", count_cb, &cnt, &all), 0);
	assert_int_equal(cnt.n, COST_KEYS);
	kv_txn_abort(s);

	cnt.n = 0;
	assert_int_equal(kv_txn_begin_snapshot(env, "before", &s), 0);
	assert_int_equal(kv_table_diff(s, txn, "t", count_cb, &cnt, &st), 0);
	assert_int_equal(cnt.n, COST_CHANGES);
	fprintf(stderr,
	        "diff: %u of %u keys changed: %" PRIu64 " pages read, %" PRIu64
	        " subtrees passed over; the table has %" PRIu64 " pages\n",
	        COST_CHANGES, COST_KEYS, st.pages_read, st.subtrees_skipped,
	        all.pages_read);
	if (st.pages_read * 100 >= all.pages_read)
		fail_msg("the diff of %u changes read %" PRIu64 " pages, the "
		         "table has %" PRIu64,
		         COST_CHANGES, st.pages_read, all.pages_read);
	assert_true(st.subtrees_skipped > 0);
	kv_txn_abort(s);
	kv_txn_abort(txn);
	kt_check_clean(env, "at the end");
	kv_env_close(env);
}

/*
 * A leaf holding a 60 KB overflow value and small ones: when a small value
 * changes, the two leaves differ but still name the same overflow run, and
 * the diff must take the big value as equal without reading a page of it.
 * Rewritten with the same bytes, the run is a new one, and the diff
 * compares its bytes (every page, both sides) and reports nothing.
 */
static void test_diff_shared_overflow(void **state)
{
	const char *dir = kt_tmpdir("diff-overflow");
	static unsigned char big[60000];
	char path[4096];
	struct kv_diff_stat st;
	struct counter cnt = { 0 };
	kv_env *env;
	kv_txn *txn, *s;
	kv_table *t;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	kt_fill(big, sizeof(big), 7);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(kv_put(txn, t, (kv_val){ "big", 3 },
	                        (kv_val){ big, sizeof(big) }, 0),
	                 0);
	assert_int_equal(
	        kv_put(txn, t, (kv_val){ "small", 5 }, (kv_val){ "1", 1 }, 0),
	        0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, "s"), 0);
	assert_int_equal(kv_txn_commit(txn), 0);

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", 0, &t), 0);
	assert_int_equal(
	        kv_put(txn, t, (kv_val){ "small", 5 }, (kv_val){ "2", 1 }, 0),
	        0);
	assert_int_equal(kv_txn_begin_snapshot(env, "s", &s), 0);
	assert_int_equal(kv_table_diff(s, txn, "t", count_cb, &cnt, &st), 0);
	assert_int_equal(cnt.n, 1);
	assert_int_equal(st.pages_read, 2); /* the two leaves */

	cnt.n = 0;
	assert_int_equal(kv_put(txn, t, (kv_val){ "big", 3 },
	                        (kv_val){ big, sizeof(big) }, 0),
	                 0);
	assert_int_equal(kv_table_diff(s, txn, "t", count_cb, &cnt, &st), 0);
	assert_int_equal(cnt.n, 1); /* small alone */
	assert_int_equal(st.pages_read, 2 + 2 * 15);
	kv_txn_abort(s);
	kv_txn_abort(txn);
	kv_env_close(env);
}

/* ---- the callback's stop, and errors --------------------------------------- */

static void test_diff_stop_and_errors(void **state)
{
	const char *dir = kt_tmpdir("diff-errors");
	char path[4096], path2[4096], name[KV_MAX_NAME + 2];
	struct round rd;
	struct mtab *m = calloc(2, sizeof(*m));
	struct expect e;
	static unsigned ids[NIDS];
	struct kv_diff_stat st;
	kv_env *env2;
	kv_txn *a, *b, *c;

	(void)state;
	assert_non_null(m);
	keys_init();
	memset(&rd, 0, sizeof(rd));
	rd.seed = kt_seed("diff-errors");
	kt_rng_init(&rd.rng, rd.seed);
	rd.vbuf = malloc(VBUF);
	rd.vbuf2 = malloc(VBUF);
	assert_true(rd.vbuf && rd.vbuf2);
	tmpdir_path(path, sizeof(path), dir, "db");
	tmpdir_path(path2, sizeof(path2), dir, "db2");
	assert_int_equal(kv_env_open(&rd.env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_env_open(&env2, path2, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(rd.env, KV_TXN_RDONLY, &a), 0);
	assert_int_equal(kv_txn_begin(rd.env, 0, &b), 0);
	for (unsigned i = 0; i < 500; i++)
		put(&rd, b, table(&rd, b, "d"), &m[1], ks.order[i],
		    (uint32_t)kt_range(&rd.rng, 0, 3000), i);

	/* a non-zero return stops the walk at once and is returned */
	e = (struct expect){ &rd, &m[0], &m[1], ids, 0, 0, "stop", 3 };
	expected(&e);
	assert_int_equal(kv_table_diff(a, b, "d", diff_cb, &e, &st), 99);
	assert_int_equal(e.next, 3);
	assert_true(st.pages_read > 0);

	assert_int_equal(kv_txn_begin(env2, KV_TXN_RDONLY, &c), 0);
	assert_int_equal(kv_table_diff(a, c, "d", count_cb, NULL, NULL),
	                 -EINVAL);
	kv_txn_abort(c);
	assert_int_equal(kv_table_diff(a, b, "d", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(kv_table_diff(a, NULL, "d", count_cb, NULL, NULL),
	                 -EINVAL);
	assert_int_equal(kv_table_diff(a, b, "", count_cb, NULL, NULL),
	                 KV_EBADNAME);
	assert_int_equal(kv_table_diff(a, b, NULL, count_cb, NULL, NULL),
	                 KV_EBADNAME);
	memset(name, 'n', KV_MAX_NAME + 1);
	name[KV_MAX_NAME + 1] = '\0';
	assert_int_equal(kv_table_diff(a, b, name, count_cb, NULL, NULL),
	                 KV_EBADNAME);
	kv_txn_abort(b);
	kv_txn_abort(a);
	kv_env_close(env2);
	kv_env_close(rd.env);
	free(rd.vbuf);
	free(rd.vbuf2);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_diff_model),
		T(test_diff_cost),
		T(test_diff_shared_overflow),
		T(test_diff_stop_and_errors),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
