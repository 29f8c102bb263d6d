/*
 * test_faults.c: the engine under simulated power loss and I/O faults, at
 * the file layer (a kt_fio from kvtest.h in place of the POSIX kv_io).
 *
 * A deterministic workload (made from the seed by make_workload()) of
 * commits, each durable (KV_DURABLE_IMMEDIATE) or not, each putting and
 * deleting keys of table "t" with small and overflow values, some also
 * creating, deleting or restoring a snapshot (all of it, or table "t"
 * alone with kv_snapshot_restore_tables).  Commit i sets the counter
 * key "#" to i, so the counter names the commit a store holds, and the
 * model keeps the whole content of every commit: the table, the snapshots
 * and what each snapshot holds.
 *
 * Crash points: the workload runs until the N-th file operation, where the
 * world stops; then a power loss is played in one of four ways (below), the
 * store is reopened with the plain POSIX kv_io, and it must open, pass
 * kv_check(), and hold exactly one committed state, the last durable one or
 * a later one, with its snapshots.  2,000+ crash points by default,
 * 100,000 with CCC_LONG=1, CCC_FAULT_POINTS=n to choose.
 *
 * A load in key order that writes its pages before its commit meets a
 * power loss at points spread over it (test_crash_during_large_load).
 *
 * I/O errors: EIO on the N-th write, sync or truncate, and a disk that is
 * full from a byte offset on.  The engine promises (kv.h, txn.c): a failure
 * before the meta page is written leaves the store usable at its previous
 * state; a failed meta write or fsync latches KV_EFATAL, and a reopened
 * store holds the previous state (or, after a failed fsync, maybe the new
 * one: its meta page was written, only its durability is unknown).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "format.h" /* the page size and where the meta pages are */
#include "dbfile.h"
#include "kvtest.h"
#include "tmpdir.h"

_Static_assert(KT_DISK_PAGE == KV_PAGE_SIZE, "the disk writes whole pages");

#define META_BYTES (2ull * KV_PAGE_SIZE) /* pages 0 and 1 */

/* ---- the workload and its model -------------------------------------- */

#define NKEYS 48u
#define MAXOPS 6u
#define MAXSNAPS 4u
#define VMAX 14000u /* longest value: an overflow run of four pages */

struct mval {
	bool on;
	uint32_t len;
	uint64_t tag;
};

struct msnap {
	unsigned id;    /* name "s<id>": made by commit id */
	unsigned state; /* the commit it holds: id - 1 */
};

/* The content of the store after one commit. */
struct mstate {
	bool has_table;
	struct mval v[NKEYS];
	unsigned nsnaps;
	struct msnap snaps[MAXSNAPS]; /* in creation order */
};

enum { SNAP_NONE, SNAP_CREATE, SNAP_DELETE, SNAP_RESTORE, SNAP_RESTORE_T };

struct wop {
	bool del;
	unsigned key;
	uint32_t len;
	uint64_t tag;
};

struct wcommit {
	bool durable; /* asked for, or forced by a snapshot delete */
	int snap_op;
	unsigned snap_id;
	unsigned nops;
	struct wop ops[MAXOPS];
};

struct workload {
	unsigned n;          /* commits 1..n */
	struct wcommit *c;   /* [0] unused */
	struct mstate *st;   /* [0]: the empty store */
	unsigned char *vbuf; /* VMAX bytes */
};

static void apply_op(struct mstate *s, struct wop *op, struct kt_rng *r,
                     unsigned i, unsigned j)
{
	op->key = (unsigned)kt_below(r, NKEYS);
	op->del = s->v[op->key].on && kt_chance(r, 1, 3);
	if (op->del) {
		s->v[op->key].on = false;
		return;
	}
	op->len = kt_chance(r, 1, 6) ? (uint32_t)kt_range(r, 4097, VMAX)
	                             : (uint32_t)kt_range(r, 0, 1200);
	op->tag = (uint64_t)i * 64 + j;
	s->v[op->key] = (struct mval){ true, op->len, op->tag };
}

static void plan_snapshot(const struct workload *w, struct mstate *s,
                          struct wcommit *c, struct kt_rng *r, unsigned i)
{
	unsigned pick = s->nsnaps ? (unsigned)kt_below(r, s->nsnaps) : 0;
	unsigned roll = (unsigned)kt_below(r, 12);

	if (roll == 0 && s->nsnaps < MAXSNAPS) {
		c->snap_op = SNAP_CREATE;
		c->snap_id = i;
		s->snaps[s->nsnaps++] = (struct msnap){ i, i - 1 };
	} else if (roll == 1 && s->nsnaps) {
		c->snap_op = SNAP_DELETE;
		c->snap_id = s->snaps[pick].id;
		c->durable = true; /* the engine makes these durable (kv.h) */
		memmove(&s->snaps[pick], &s->snaps[pick + 1],
		        (s->nsnaps - pick - 1) * sizeof(s->snaps[0]));
		s->nsnaps--;
	} else if (roll == 2 && s->nsnaps) {
		const struct mstate *old = &w->st[s->snaps[pick].state];

		/* the whole state, or table t alone: the same content here,
		 * reached by a catalog swap or by a catalog change */
		c->snap_op = kt_chance(r, 1, 2) ? SNAP_RESTORE : SNAP_RESTORE_T;
		c->snap_id = s->snaps[pick].id;
		memcpy(s->v, old->v, sizeof(s->v));
	}
}

static void make_workload(struct workload *w, uint64_t seed, unsigned n)
{
	struct kt_rng r;

	kt_rng_init(&r, seed);
	w->n = n;
	w->c = calloc(n + 1, sizeof(*w->c));
	w->st = calloc(n + 1, sizeof(*w->st));
	w->vbuf = malloc(VMAX);
	assert_true(w->c && w->st && w->vbuf);
	for (unsigned i = 1; i <= n; i++) {
		struct wcommit *c = &w->c[i];
		struct mstate *s = &w->st[i];

		*s = w->st[i - 1];
		c->durable = kt_chance(&r, 1, 3);
		plan_snapshot(w, s, c, &r, i);
		c->nops = 1 + (unsigned)kt_below(&r, MAXOPS);
		for (unsigned j = 0; j < c->nops; j++)
			apply_op(s, &c->ops[j], &r, i, j);
		s->has_table = true;
	}
}

static void free_workload(struct workload *w)
{
	free(w->c);
	free(w->st);
	free(w->vbuf);
}

static kv_val key_of(char *buf, unsigned k)
{
	snprintf(buf, 8, "k%02u", k);
	return (kv_val){ buf, 3 };
}

/* Where a failure message says it happened (the seed, the crash point). */
static char where[256];

/*
 * Commit i of the workload.  Returns the result of kv_txn_begin() or of
 * kv_txn_commit(); anything else failing fails the test.
 */
static int commit_one(kv_env *env, const struct workload *w, unsigned i)
{
	const struct wcommit *c = &w->c[i];
	char name[16], key[8];
	const char *tname = "t";
	kv_txn *txn;
	kv_table *t;
	uint64_t counter = i;
	int rc;

	rc = kv_txn_begin(env, 0, &txn);
	if (rc != 0)
		return rc;
	snprintf(name, sizeof(name), "s%u", c->snap_id);
	rc = c->snap_op == SNAP_CREATE    ? kv_snapshot_create(txn, name)
	     : c->snap_op == SNAP_DELETE  ? kv_snapshot_delete(txn, name)
	     : c->snap_op == SNAP_RESTORE ? kv_snapshot_restore(txn, name)
	     : c->snap_op == SNAP_RESTORE_T
	             ? kv_snapshot_restore_tables(txn, name, &tname, 1)
	             : 0;
	if (rc == 0)
		rc = kv_table_open(txn, "t", KV_TABLE_CREATE, &t);
	for (unsigned j = 0; rc == 0 && j < c->nops; j++) {
		const struct wop *op = &c->ops[j];
		kv_val k = key_of(key, op->key);

		if (op->del) {
			rc = kv_del(txn, t, k);
		} else {
			kt_fill(w->vbuf, op->len, op->tag);
			rc = kv_put(txn, t, k, (kv_val){ w->vbuf, op->len }, 0);
		}
	}
	if (rc == 0)
		rc = kv_put(txn, t, (kv_val){ "#", 1 }, (kv_val){ &counter, 8 },
		            0);
	if (rc != 0)
		fail_msg("%s: commit %u, before the commit: %s", where, i,
		         kt_err(rc));
	kv_txn_set_durability(txn, c->durable ? KV_DURABLE_IMMEDIATE
	                                      : KV_DURABLE_NONE);
	return kv_txn_commit(txn);
}

/* ---- checking a store against the model ------------------------------ */

/* Table "t" as txn sees it must be that of commit k. */
static void expect_table(kv_txn *txn, const struct workload *w, unsigned k,
                         const char *what)
{
	const struct mstate *s = &w->st[k];
	kv_table *t;
	kv_cursor *cu;
	kv_val key, val;
	uint64_t n = 1, counter;
	char kb[8];
	int rc = kv_table_open(txn, "t", 0, &t);

	if (!s->has_table) {
		if (rc != KV_ENOTFOUND)
			fail_msg("%s: %s: state %u has no table, open gave %d",
			         where, what, k, rc);
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s: table t of state %u: %s", where, what, k,
		         kt_err(rc));
	assert_int_equal(kv_cursor_open(txn, t, &cu), 0);
	rc = kv_cursor_first(cu, &key, &val);
	if (rc || key.len != 1 || *(const char *)key.data != '#' ||
	    val.len != 8)
		fail_msg("%s: %s: no counter in state %u (rc %d)", where, what,
		         k, rc);
	memcpy(&counter, val.data, 8);
	if (counter != k)
		fail_msg("%s: %s: counter %" PRIu64 " in state %u", where, what,
		         counter, k);
	for (unsigned j = 0; j < NKEYS; j++) {
		const struct mval *m = &s->v[j];

		if (!m->on)
			continue;
		key_of(kb, j);
		rc = kv_cursor_next(cu, &key, &val);
		if (rc || key.len != 3 || memcmp(key.data, kb, 3) != 0)
			fail_msg("%s: %s: state %u: expected key %s, got "
			         "\"%.*s\" (rc %d)",
			         where, what, k, kb, rc ? 0 : (int)key.len,
			         rc ? "" : (const char *)key.data, rc);
		if (val.len != m->len ||
		    kt_vcheck(val.data, m->len, m->tag) >= 0)
			fail_msg("%s: %s: state %u: wrong value of %s (%zu "
			         "bytes, expected %u)",
			         where, what, k, kb, val.len, m->len);
		n++;
	}
	rc = kv_cursor_next(cu, &key, &val);
	if (rc != KV_ENOTFOUND)
		fail_msg("%s: %s: state %u: extra key \"%.*s\"", where, what, k,
		         rc ? 0 : (int)key.len,
		         rc ? "" : (const char *)key.data);
	kv_cursor_close(cu);
	if (kv_table_count(t) != n)
		fail_msg("%s: %s: state %u: count %" PRIu64
		         ", expected %" PRIu64,
		         where, what, k, kv_table_count(t), n);
}

struct names {
	unsigned n;
	char name[MAXSNAPS + 4][16];
};

static int snap_cb(void *ctx, const struct kv_snapshot_info *si)
{
	struct names *nm = ctx;

	if (nm->n < MAXSNAPS + 4)
		snprintf(nm->name[nm->n], 16, "%.15s", si->name);
	nm->n++;
	return 0;
}

static int table_cb(void *ctx, const char *name, uint64_t count)
{
	unsigned *n = ctx;

	(void)name;
	(void)count;
	(*n)++;
	return 0;
}

/* The store must hold exactly commit k: its table and its snapshots. */
static void expect_state(kv_env *env, const struct workload *w, unsigned k,
                         const char *what)
{
	const struct mstate *s = &w->st[k];
	struct names nm = { 0 };
	unsigned ntables = 0;
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	expect_table(txn, w, k, what);
	assert_int_equal(kv_table_list(txn, table_cb, &ntables), 0);
	if (ntables != (s->has_table ? 1u : 0u))
		fail_msg("%s: %s: state %u: %u tables", where, what, k,
		         ntables);
	assert_int_equal(kv_snapshot_list(txn, snap_cb, &nm), 0);
	kv_txn_abort(txn);
	if (nm.n != s->nsnaps)
		fail_msg("%s: %s: state %u: %u snapshots, expected %u", where,
		         what, k, nm.n, s->nsnaps);
	for (unsigned j = 0; j < s->nsnaps; j++) {
		char name[16];
		int rc;

		snprintf(name, sizeof(name), "s%u", s->snaps[j].id);
		if (strcmp(nm.name[j], name) != 0)
			fail_msg("%s: %s: state %u: snapshot %s where %s was "
			         "expected",
			         where, what, k, nm.name[j], name);
		rc = kv_txn_begin_snapshot(env, name, &txn);
		if (rc != 0)
			fail_msg("%s: %s: snapshot %s: %s", where, what, name,
			         kt_err(rc));
		expect_table(txn, w, s->snaps[j].state, name);
		kv_txn_abort(txn);
	}
}

/* The commit a store holds, by its counter. */
static unsigned read_counter(kv_env *env)
{
	kv_txn *txn;
	kv_table *t;
	kv_val v;
	uint64_t n = 0;
	int rc;

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	rc = kv_table_open(txn, "t", 0, &t);
	if (rc == 0)
		rc = kv_get(txn, t, (kv_val){ "#", 1 }, &v);
	if (rc == 0 && v.len == 8)
		memcpy(&n, v.data, 8);
	else if (rc != KV_ENOTFOUND)
		fail_msg("%s: reading the counter: rc %d (%s)", where, rc,
		         kt_err(rc));
	kv_txn_abort(txn);
	return (unsigned)n;
}

/*
 * Reopen the store with the POSIX kv_io and check it: it opens, kv_check()
 * is clean, and it holds a commit in [lo, hi] exactly.  Returns that commit.
 */
static unsigned reopen_check(const char *path, const struct workload *w,
                             unsigned lo, unsigned hi)
{
	kv_env *env;
	unsigned k;
	int rc = kv_env_open(&env, path, 0, 0600);

	if (rc != 0)
		fail_msg("%s: reopen: %s", where, kt_err(rc));
	kt_check_clean(env, where);
	k = read_counter(env);
	if (k < lo || k > hi)
		fail_msg("%s: the store holds commit %u, expected %u..%u",
		         where, k, lo, hi);
	expect_state(env, w, k, "after reopening");
	kv_env_close(env);
	return k;
}

/* ---- one run ---------------------------------------------------------- */

struct files {
	char path[4096];
	char lock[4200];
	char log[4200];
	unsigned char *tmpl; /* a freshly created, empty database */
	size_t tmpl_len;
};

static void files_init(struct files *fs, const char *dir)
{
	kv_env *env;
	int fd;

	tmpdir_path(fs->path, sizeof(fs->path), dir, "db");
	snprintf(fs->lock, sizeof(fs->lock), "%s-lock", fs->path);
	snprintf(fs->log, sizeof(fs->log), "%s-undo", fs->path);
	assert_int_equal(kv_env_open(&env, fs->path, KV_CREATE, 0600), 0);
	kv_env_close(env);
	fs->tmpl_len = (size_t)kt_file_size(fs->path);
	fs->tmpl = malloc(fs->tmpl_len);
	fd = open(fs->path, O_RDONLY);
	assert_true(fs->tmpl && fd >= 0);
	assert_int_equal(read(fd, fs->tmpl, fs->tmpl_len),
	                 (ssize_t)fs->tmpl_len);
	close(fd);
}

/* A fresh, empty store (copied from the template: no fsync needed). */
static void files_fresh(const struct files *fs)
{
	int fd = open(fs->path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, fs->tmpl, fs->tmpl_len),
	                 (ssize_t)fs->tmpl_len);
	close(fd);
	unlink(fs->lock);
}

/* How far a run got. */
struct progress {
	unsigned last_ok;      /* last commit that returned 0 */
	unsigned last_durable; /* last durable one (0: the empty store) */
	unsigned inflight;     /* the commit a crash interrupted (0: none) */
	bool opened;           /* no commit since the store was opened */
};

static void progress_ok(struct progress *p, const struct workload *w,
                        unsigned i)
{
	p->last_ok = i;
	/* the first commit after an open is a checkpoint: durable whatever
	 * it asked for (kv/kv_int.h, txn_floor) */
	if (w->c[i].durable || p->opened)
		p->last_durable = i;
	p->opened = false;
}

/* Run commits from..n through f until the world stops or all are done. */
static void run_until_crash(kv_env *env, const struct workload *w,
                            struct kt_fio *f, unsigned from, struct progress *p)
{
	for (unsigned i = from; i <= w->n; i++) {
		int rc = commit_one(env, w, i);

		if (rc == 0) {
			progress_ok(p, w, i);
			continue;
		}
		if (!f->dead)
			fail_msg("%s: commit %u failed without a fault: %s",
			         where, i, kt_err(rc));
		p->inflight = i;
		return;
	}
}

/* ---- crash points ----------------------------------------------------- */

enum variant {
	V_DROP,    /* every write since the last sync is lost */
	V_TEAR,    /* the crashing write is torn, everything before kept */
	V_REORDER, /* a random subset of the unsynced writes is kept */
	V_PREFIX,  /* the unsynced writes up to a random point are kept */
	V_COUNT,
};

static const char *const variant_name[V_COUNT] = { "drop", "tear", "reorder",
	                                           "prefix" };

struct sweep {
	uint64_t points;
	uint64_t undone, logged;
	uint64_t rolled_back;          /* commits that returned and were lost */
	uint64_t outcomes[V_COUNT][3]; /* state: last durable, between, last */
};

/*
 * Is byte off of the database in the commit log (kv/log.c) that a meta
 * slot names?  A commit writes its log record after its meta page, so a
 * fault there comes after the meta, like a failed sync.
 */
static bool in_log(const char *path, uint64_t off)
{
	for (unsigned slot = 0; slot < 2; slot++) {
		uint64_t first, n;

		if (dbfile_log_run(path, slot, &first, &n) &&
		    off >= first * KV_PAGE_SIZE &&
		    off - first * KV_PAGE_SIZE < n * KV_PAGE_SIZE)
			return true;
	}
	return false;
}

/* One crash point: returns false when the workload ends before op n. */
static bool crash_one(const struct files *fs, const struct workload *w,
                      uint64_t seed, uint64_t n, enum variant v,
                      struct sweep *sw)
{
	static const enum kt_loss loss[V_COUNT] = { KT_LOSE_ALL, KT_LOSE_NONE,
		                                    KT_LOSE_HALF,
		                                    KT_LOSE_AFTER };
	struct progress p = { 0, 0, 0, true };
	struct kt_fio f;
	struct kt_rng r;
	kv_env *env;
	unsigned lo, hi, nlog, k;
	int rc;

	snprintf(where, sizeof(where),
	         "seed %" PRIu64 ", crash at op %" PRIu64 " (%s)", seed, n,
	         variant_name[v]);
	files_fresh(fs);
	assert_int_equal(kt_fio_init(&f, fs->path, fs->log), 0);
	f.crash_at = n;
	f.tear = v == V_TEAR;
	f.tear_seed = kt_mix(seed ^ (n << 8));
	rc = kv_env_open_io(&env, fs->path, 0, 0600, &f.io);
	if (rc == 0) {
		run_until_crash(env, w, &f, 1, &p);
		kv_env_close(env);
	} else if (!f.dead) {
		fail_msg("%s: open: %s", where, kt_err(rc));
	}
	kt_fio_release(&f);
	if (!f.dead)
		return false;

	kt_rng_init(&r, kt_mix(seed + n * 4 + (uint64_t)v));
	sw->undone += kt_power_loss(fs->path, fs->log, &r, loss[v], 0, &nlog);
	sw->logged += nlog;
	sw->points++;

	/* which commits the store may come back with */
	lo = p.last_durable;
	hi = p.inflight ? p.inflight : p.last_ok;
	if (v == V_DROP) {
		hi = lo; /* the disk is as the last sync left it */
	} else if (v == V_TEAR) {
		/* every write before the crash reached the disk */
		bool meta =
		        f.fault_kind == KT_OP_WRITE && f.fault_off < META_BYTES;

		bool logw = f.fault_kind == KT_OP_WRITE &&
		            in_log(fs->path, f.fault_off);

		/* a torn meta page is either commit, or invalid */
		if (f.fault_kind == KT_OP_SYNC || (logw && p.inflight))
			lo = hi; /* the commit's meta page is on disk */
		else if (!meta)
			lo = hi = p.last_ok;
	}
	k = reopen_check(fs->path, w, lo, hi);
	sw->rolled_back += p.last_ok > k ? p.last_ok - k : 0;
	sw->outcomes[v][k == p.last_durable ? 0 : k < p.last_ok ? 1 : 2]++;
	return true;
}

/* The file operations of the whole workload, when nothing fails. */
static uint64_t count_ops(const struct files *fs, const struct workload *w)
{
	struct progress p = { 0, 0, 0, true };
	struct kt_fio f;
	kv_env *env;
	uint64_t ops;

	files_fresh(fs);
	assert_int_equal(kt_fio_init(&f, fs->path, fs->log), 0);
	assert_int_equal(kv_env_open_io(&env, fs->path, 0, 0600, &f.io), 0);
	run_until_crash(env, w, &f, 1, &p);
	assert_int_equal(p.last_ok, w->n);
	expect_state(env, w, w->n, "the whole workload");
	kv_env_close(env);
	kt_fio_release(&f);
	ops = f.ops;
	return ops;
}

/* commits merge neighbouring pages into one write (pager.c): 120 commits
 * make about 2,700 crash points, one workload's worth */
#define SWEEP_COMMITS 120u

static void test_crash_points(void **state)
{
	uint64_t seed = kt_seed("faults");
	uint64_t target =
	        kt_env_u64("CCC_FAULT_POINTS", kt_long() ? 100000 : 2000);
	struct files fs;
	struct sweep sw;

	(void)state;
	memset(&sw, 0, sizeof(sw));
	files_init(&fs, kt_tmpdir("faults"));
	/* whole workloads, each with every crash point of its run */
	for (uint64_t round = 0; sw.points < target; round++) {
		struct workload w;
		uint64_t ops;

		make_workload(&w, seed + round, SWEEP_COMMITS);
		ops = count_ops(&fs, &w);
		for (uint64_t n = 1; n <= ops; n++)
			for (int v = 0; v < V_COUNT; v++)
				assert_true(crash_one(&fs, &w, seed + round, n,
				                      (enum variant)v, &sw));
		/* one past the end: the workload finishes */
		assert_false(
		        crash_one(&fs, &w, seed + round, ops + 1, V_DROP, &sw));
		free_workload(&w);
	}
	fprintf(stderr,
	        "faults: %" PRIu64 " crash points, %" PRIu64 " of %" PRIu64
	        " logged changes lost, %" PRIu64 " returned commits "
	        "rolled back\n",
	        sw.points, sw.undone, sw.logged, sw.rolled_back);
	for (int v = 0; v < V_COUNT; v++)
		fprintf(stderr,
		        "faults:   %-7s came back at the last durable "
		        "commit %" PRIu64 " times, between %" PRIu64 ", at the "
		        "last commit or the one in flight %" PRIu64 "\n",
		        variant_name[v], sw.outcomes[v][0], sw.outcomes[v][1],
		        sw.outcomes[v][2]);
	/* the simulation must have lost something, or it tested nothing */
	assert_true(sw.undone > 0 && sw.rolled_back > 0);
	free(fs.tmpl);
}

/* ---- I/O errors -------------------------------------------------------- */

struct faultstats {
	uint64_t runs, faults, fatal, usable;
};

/* Start f on a fresh store with the fault plan of plan. */
static void fio_start(struct kt_fio *f, const struct files *fs,
                      const struct kt_fio *plan)
{
	files_fresh(fs);
	assert_int_equal(kt_fio_init(f, fs->path, fs->log), 0);
	f->fail_kind = plan->fail_kind;
	f->fail_nth = plan->fail_nth;
	f->fail_rc = plan->fail_rc;
	f->full_at = plan->full_at;
	f->full_truncate = plan->full_truncate;
}

/* Open the store through f; the sync made at opening may fail by the plan,
 * and then opening again must work. */
static kv_env *open_fio(const struct files *fs, struct kt_fio *f,
                        struct faultstats *fst)
{
	uint64_t before = f->faults;
	kv_env *env;
	int rc = kv_env_open_io(&env, fs->path, 0, 0600, &f->io);

	if (rc && f->faults > before) {
		if (rc != -EIO)
			fail_msg("%s: open failing its sync: %s", where,
			         kt_err(rc));
		fst->faults++;
		rc = kv_env_open_io(&env, fs->path, 0, 0600, &f->io);
	}
	if (rc != 0)
		fail_msg("%s: open: %s", where, kt_err(rc));
	return env;
}

/*
 * Run the whole workload through a kt_fio with the fault plan of plan (one
 * operation fails, or the disk is full).  A failed commit must leave the
 * store usable at the previous commit (when the meta page was not reached)
 * or latch KV_EFATAL (a failed meta write or fsync); then the store is
 * reopened and checked.  Either way the workload goes on from the commit
 * the store holds, to the end.  A full disk gets its space back after the
 * first failure and a retry, and the next commit must then succeed in the
 * same environment.  With lose_on_fatal, a failed fsync also lost every
 * unsynced write.
 */
static void run_with_fault(const struct files *fs, const struct workload *w,
                           const struct kt_fio *plan, bool lose_on_fatal,
                           struct faultstats *fst)
{
	struct progress p = { 0, 0, 0, true };
	struct kt_fio f;
	kv_env *env;
	unsigned i = 1;
	int rc;

	fio_start(&f, fs, plan);
	env = open_fio(fs, &f, fst);
	while (i <= w->n) {
		uint64_t before = f.faults;
		bool full = f.full_at && f.full_at != UINT64_MAX;
		bool meta, logw, fatal;
		kv_txn *txn;

		rc = commit_one(env, w, i);
		if (rc == 0) {
			progress_ok(&p, w, i++);
			continue;
		}
		if (f.faults == before)
			fail_msg("%s: commit %u failed without a fault: %s",
			         where, i, kt_err(rc));
		fst->faults++;
		if (rc != (full ? -ENOSPC : -EIO))
			fail_msg("%s: commit %u returned %s", where, i,
			         kt_err(rc));
		meta = f.fault_kind == KT_OP_WRITE && f.fault_off < META_BYTES;
		logw = f.fault_kind == KT_OP_WRITE &&
		       in_log(fs->path, f.fault_off);
		fatal = meta || logw || f.fault_kind == KT_OP_SYNC;
		if (!fatal) {
			/* the store is usable, at the previous commit */
			fst->usable++;
			expect_state(env, w, p.last_ok, "after the failure");
			kt_check_clean(env, where);
			if (full) {
				/* still full: fails again, or fits now */
				rc = commit_one(env, w, i);
				if (rc == 0)
					progress_ok(&p, w, i++);
				else if (rc != -ENOSPC)
					fail_msg("%s: commit %u again: %s",
					         where, i, kt_err(rc));
				f.full_at = UINT64_MAX; /* space is back */
				if (rc != 0) {
					expect_state(env, w, p.last_ok,
					             "after failing twice");
					rc = commit_one(env, w, i);
					if (rc != 0)
						fail_msg("%s: commit %u with "
						         "space back: %s",
						         where, i, kt_err(rc));
					progress_ok(&p, w, i++);
				}
			}
			continue; /* goes on in the same environment */
		}
		fst->fatal++;
		rc = kv_txn_begin(env, 0, &txn);
		if (rc != KV_EFATAL)
			fail_msg("%s: after a failed %s, begin gave %d", where,
			         meta   ? "meta write"
			         : logw ? "log write"
			                : "fsync",
			         rc);
		assert_int_equal(kv_env_sync(env), KV_EFATAL);
		kv_env_close(env);
		if (lose_on_fatal)
			kt_power_loss(fs->path, fs->log, NULL, KT_LOSE_ALL, 0,
			              NULL);
		p.last_ok = reopen_check(
		        fs->path, w, lose_on_fatal ? p.last_durable : p.last_ok,
		        lose_on_fatal ? p.last_durable
		        : meta        ? p.last_ok
		                      : i);
		p.last_durable = p.last_ok; /* opening syncs */
		i = p.last_ok + 1;
		env = open_fio(fs, &f, fst);
		p.opened = true;
	}
	expect_state(env, w, w->n, "the end of the workload");
	kv_env_close(env);
	kt_fio_release(&f);
	reopen_check(fs->path, w, w->n, w->n);
	fst->runs++;
}

#define FAULT_COMMITS 60u

/* The operations of each kind the whole workload makes, and its file size. */
static void count_kinds(const struct files *fs, const struct workload *w,
                        uint64_t nkind[4], uint64_t *size)
{
	struct progress p = { 0, 0, 0, true };
	struct kt_fio f;
	kv_env *env;

	files_fresh(fs);
	assert_int_equal(kt_fio_init(&f, fs->path, fs->log), 0);
	assert_int_equal(kv_env_open_io(&env, fs->path, 0, 0600, &f.io), 0);
	run_until_crash(env, w, &f, 1, &p);
	assert_int_equal(p.last_ok, w->n);
	kv_env_close(env);
	kt_fio_release(&f);
	memcpy(nkind, f.nkind, sizeof(f.nkind));
	*size = (uint64_t)kt_file_size(fs->path);
}

/* EIO on the n-th write, sync or truncate, for every n the workload has;
 * a failed fsync both with the page cache kept and with it lost. */
static void test_eio(void **state)
{
	uint64_t seed = kt_seed("faults-eio");
	static const int kinds[] = { KT_OP_WRITE, KT_OP_SYNC, KT_OP_TRUNCATE };
	static const char *const kname[] = { "", "write", "sync", "truncate" };
	struct faultstats fst = { 0, 0, 0, 0 };
	struct workload w;
	struct files fs;
	uint64_t nkind[4], size;

	(void)state;
	files_init(&fs, kt_tmpdir("faults-eio"));
	make_workload(&w, seed, FAULT_COMMITS);
	count_kinds(&fs, &w, nkind, &size);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (uint64_t n = 1; n <= nkind[kinds[k]]; n++) {
			for (int lose = 0; lose <= (kinds[k] == KT_OP_SYNC);
			     lose++) {
				struct kt_fio plan;

				snprintf(where, sizeof(where),
				         "seed %" PRIu64 ", EIO on %s %" PRIu64
				         "%s",
				         seed, kname[kinds[k]], n,
				         lose ? ", unsynced writes lost" : "");
				memset(&plan, 0, sizeof(plan));
				plan.fail_kind = kinds[k];
				plan.fail_nth = n;
				plan.fail_rc = -EIO;
				run_with_fault(&fs, &w, &plan, lose, &fst);
			}
		}
	}
	fprintf(stderr,
	        "faults: %" PRIu64 " runs with EIO (of %" PRIu64
	        " writes, %" PRIu64 " syncs, %" PRIu64 " truncates), %" PRIu64
	        " faults injected: %" PRIu64 " left the store usable, %" PRIu64
	        " latched KV_EFATAL\n",
	        fst.runs, nkind[KT_OP_WRITE], nkind[KT_OP_SYNC],
	        nkind[KT_OP_TRUNCATE], fst.faults, fst.usable, fst.fatal);
	assert_true(fst.usable > 0 && fst.fatal > 0);
	free_workload(&w);
	free(fs.tmpl);
}

/*
 * The disk is full from byte offset b on, for b on every page boundary the
 * workload's file reaches and in the middle of some pages, with file growth
 * failing too (as fallocate would) or not (a sparse ftruncate).
 */
static void test_enospc(void **state)
{
	uint64_t seed = kt_seed("faults-enospc");
	struct faultstats fst = { 0, 0, 0, 0 };
	struct workload w;
	struct files fs;
	uint64_t nkind[4], size, high = 0;

	(void)state;
	files_init(&fs, kt_tmpdir("faults-enospc"));
	make_workload(&w, seed, FAULT_COMMITS);
	count_kinds(&fs, &w, nkind, &size);
	/* the highest page written: the file itself grows in 1 MiB steps */
	{
		kv_env *env;
		struct kv_stat st;

		assert_int_equal(kv_env_open(&env, fs.path, 0, 0600), 0);
		assert_int_equal(kv_env_stat(env, &st), 0);
		high = st.pages_total * KV_PAGE_SIZE;
		kv_env_close(env);
	}
	for (uint64_t b = META_BYTES; b <= high + KV_PAGE_SIZE;
	     b += KV_PAGE_SIZE) {
		for (int k = 0; k < 3; k++) {
			struct kt_fio plan;

			memset(&plan, 0, sizeof(plan));
			plan.full_at = b + (k == 2 ? KV_PAGE_SIZE / 2 + 8 : 0);
			plan.full_truncate = k == 1;
			snprintf(where, sizeof(where),
			         "seed %" PRIu64 ", disk "
			         "full at byte %" PRIu64 "%s",
			         seed, plan.full_at,
			         plan.full_truncate ? " (growth fails too)"
			                            : "");
			run_with_fault(&fs, &w, &plan, false, &fst);
		}
	}
	fprintf(stderr,
	        "faults: %" PRIu64 " runs with a full disk (file of %" PRIu64
	        " bytes, %" PRIu64 " in use), %" PRIu64 " commits "
	        "failed with ENOSPC\n",
	        fst.runs, size, high, fst.faults);
	assert_true(fst.faults > 0 && fst.fatal == 0);
	free_workload(&w);
	free(fs.tmpl);
}

/*
 * A full disk, then a run of non-durable deletes of data that was durable.
 * The pages a commit frees from the last durable state are reusable only
 * after a later durable commit: without the engine syncing at the ENOSPC
 * and making the commits after it durable, every delete after the first
 * would fail with ENOSPC too, and the disk could not be emptied.
 */
static int put_or_del(kv_env *env, unsigned i, const kv_val *v,
                      enum kv_durability d)
{
	char key[32];
	kv_txn *txn;
	kv_table *t;

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	kv_txn_set_durability(txn, d);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	snprintf(key, sizeof(key), "k%05u", i);
	kv_val k = { key, strlen(key) };
	if (v)
		assert_int_equal(kv_put(txn, t, k, *v, 0), 0);
	else
		assert_int_equal(kv_del(txn, t, k), 0);
	return kv_txn_commit(txn);
}

static void test_enospc_then_reuse(void **state)
{
	char path[4200], logpath[4300];
	static char big[20000];
	kv_val v = { big, sizeof(big) };
	struct kt_fio fio;
	kv_env *env;
	struct kv_stat st;
	struct kv_check_report rep;
	unsigned n = 0;
	int rc = 0;

	(void)state;
	tmpdir_path(path, sizeof(path), kt_tmpdir("faults-reuse"), "db");
	snprintf(logpath, sizeof(logpath), "%s.undo", path);
	assert_int_equal(kt_fio_init(&fio, path, logpath), 0);
	assert_int_equal(kv_env_open_io(&env, path, KV_CREATE, 0600, &fio.io),
	                 0);
	memset(big, 'v', sizeof(big));
	assert_int_equal(kv_env_stat(env, &st), 0);
	fio.full_at = st.file_size + 128 * KV_PAGE_SIZE;
	for (; rc == 0; n += rc == 0) {
		assert_true(n < 1000);
		rc = put_or_del(env, n, &v, KV_DURABLE_IMMEDIATE);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(n > 8);
	/* the disk stays full: every change must live on freed pages */
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(put_or_del(env, i, NULL, KV_DURABLE_NONE), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(put_or_del(env, i, &v, KV_DURABLE_NONE), 0);
	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	kv_env_close(env);
	kt_fio_release(&fio);
}

/* ---- a power loss during a large load --------------------------------- */

/*
 * A load in key order of ~4,000 pages in one durable txn, its commit
 * writing them in merged runs.  A power loss at points spread over the
 * load and its commit, in each of the four ways: the store comes back
 * holding the base state or, once the commit has reached its sync, the
 * whole load (always when the commit returned), never part of it, and
 * kv_check() is clean.  (Copies write such pages before their commit,
 * kv/pager.c; kvunit-pager tests that path.)
 */
#define LOAD_ENTRIES 8000u /* two 1,500-byte entries a leaf: ~4,000 pages */
#define LOAD_POINTS 6u

static int load_run(kv_env *env, bool *committed)
{
	char key[32];
	static char val[1500];
	kv_txn *txn;
	kv_table *t;
	int rc;

	*committed = false;
	rc = kv_txn_begin(env, 0, &txn);
	if (rc != 0)
		return rc;
	rc = kv_table_open(txn, "t", KV_TABLE_CREATE, &t);
	for (unsigned i = 0; rc == 0 && i < LOAD_ENTRIES; i++) {
		snprintf(key, sizeof(key), "L%06u", i);
		kt_fill(val, sizeof(val), i);
		kv_val k = { key, strlen(key) }, v = { val, sizeof(val) };
		rc = kv_put(txn, t, k, v, KV_APPEND);
	}
	if (rc != 0) {
		kv_txn_abort(txn);
		return rc;
	}
	kv_txn_set_durability(txn, KV_DURABLE_IMMEDIATE);
	rc = kv_txn_commit(txn);
	*committed = rc == 0;
	return rc;
}

static int load_base(kv_env *env)
{
	kv_txn *txn;
	kv_table *t;
	kv_val k = { "A", 1 }, v = { "base", 4 };

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	kv_txn_set_durability(txn, KV_DURABLE_IMMEDIATE);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(kv_put(txn, t, k, v, 0), 0);
	return kv_txn_commit(txn);
}

/* After the power loss: 0 for the base state, 1 for the whole load. */
static int load_check(const char *path, bool committed)
{
	char key[32];
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	kv_val v;
	uint64_t n;
	int rc = kv_env_open(&env, path, 0, 0600);

	if (rc != 0)
		fail_msg("%s: reopen: %s", where, kt_err(rc));
	kt_check_clean(env, where);
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", 0, &t), 0);
	n = kv_table_count(t);
	if (n != 1 && n != 1 + LOAD_ENTRIES)
		fail_msg("%s: %" PRIu64 " entries: part of the load", where, n);
	if (committed && n == 1)
		fail_msg("%s: the load's commit returned, but it is lost",
		         where);
	for (unsigned i = 0; n > 1 && i < LOAD_ENTRIES; i += 101) {
		snprintf(key, sizeof(key), "L%06u", i);
		kv_val k = { key, strlen(key) };
		assert_int_equal(kv_get(txn, t, k, &v), 0);
		assert_int_equal(v.len, 1500);
		assert_int_equal(kt_vcheck(v.data, v.len, i), -1);
	}
	kv_txn_abort(txn);
	kv_env_close(env);
	return n > 1;
}

static void test_crash_during_large_load(void **state)
{
	static const enum kt_loss loss[V_COUNT] = { KT_LOSE_ALL, KT_LOSE_NONE,
		                                    KT_LOSE_HALF,
		                                    KT_LOSE_AFTER };
	struct files fs;
	struct kt_fio f;
	struct kt_rng r;
	kv_env *env;
	uint64_t base_ops, load_ops;
	unsigned outcomes[2] = { 0, 0 }; /* base state, whole load */
	bool committed;

	(void)state;
	files_init(&fs, kt_tmpdir("faults-load"));
	/* a run without faults: how many operations the load takes */
	files_fresh(&fs);
	assert_int_equal(kt_fio_init(&f, fs.path, fs.log), 0);
	assert_int_equal(kv_env_open_io(&env, fs.path, 0, 0600, &f.io), 0);
	assert_int_equal(load_base(env), 0);
	base_ops = f.ops;
	assert_int_equal(load_run(env, &committed), 0);
	load_ops = f.ops - base_ops;
	kv_env_close(env);
	kt_fio_release(&f);
	/* the load's pages go out in hundreds of merged writes */
	assert_true(f.nkind[KT_OP_WRITE] > 200);

	/* points spread over the load, then its commit's last two
	 * operations: the meta page and the sync */
	for (unsigned j = 1; j <= LOAD_POINTS + 2; j++) {
		for (int v = 0; v < V_COUNT; v++) {
			uint64_t at =
			        j <= LOAD_POINTS
			                ? base_ops + load_ops * j /
			                                     (LOAD_POINTS + 1)
			                : base_ops + load_ops -
			                          (LOAD_POINTS + 2 - j);
			snprintf(where, sizeof(where),
			         "large load, crash at "
			         "op %" PRIu64 " of %" PRIu64 " (%s)",
			         at, base_ops + load_ops, variant_name[v]);
			files_fresh(&fs);
			assert_int_equal(kt_fio_init(&f, fs.path, fs.log), 0);
			f.crash_at = at;
			f.tear = v == V_TEAR;
			f.tear_seed = kt_mix(at);
			assert_int_equal(
			        kv_env_open_io(&env, fs.path, 0, 0600, &f.io),
			        0);
			assert_int_equal(load_base(env), 0);
			assert_int_not_equal(load_run(env, &committed), 0);
			assert_true(f.dead);
			kv_env_close(env);
			kt_fio_release(&f);
			kt_rng_init(&r, kt_mix(at * 4 + (uint64_t)v));
			kt_power_loss(fs.path, fs.log, &r, loss[v], 0, NULL);
			outcomes[load_check(fs.path, committed)]++;
		}
	}
	/* inside the load: the base state; at the sync, when the disk
	 * kept the writes, the whole load */
	assert_true(outcomes[0] >= V_COUNT * LOAD_POINTS);
	assert_true(outcomes[1] > 0);
	free(fs.tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_crash_points),
		T(test_eio),
		T(test_enospc),
		T(test_enospc_then_reuse),
		T(test_crash_during_large_load),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
