/*
 * test_log.c: the commit log (kv/log.c) through the public API.
 *
 * Every case writes through a kt_fio (kvtest.h), so that a power loss can
 * be played exactly: KT_LOSE_ALL puts back every write since the last full
 * sync, except the ranges a synced write (the log's pwrite_sync) stored.
 * What must come back is then exact: every durable commit, and nothing
 * after the last durable one that the log did not make durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "format.h" /* where the log is, to damage one record */
#include "kvtest.h"
#include "tmpdir.h"

struct lx {
	char path[4096];
	char undo[4200];
	struct kt_fio f;
	kv_env *env;
};

static void lx_open(struct lx *x, const char *tag)
{
	const char *dir = kt_tmpdir(tag);

	tmpdir_path(x->path, sizeof(x->path), dir, "db");
	snprintf(x->undo, sizeof(x->undo), "%s-undo", x->path);
	assert_int_equal(kt_fio_init(&x->f, x->path, x->undo), 0);
	assert_int_equal(
	        kv_env_open_io(&x->env, x->path, KV_CREATE, 0600, &x->f.io), 0);
}

/* Close without any sync, and lose what a power loss may lose. */
static void lx_power_loss(struct lx *x)
{
	kv_env_close(x->env);
	x->env = NULL;
	kt_fio_release(&x->f);
	kt_power_loss(x->path, x->undo, NULL, KT_LOSE_ALL, 0, NULL);
}

static void put(kv_env *env, const char *table, unsigned k, size_t vlen,
                int durable)
{
	unsigned char *val = malloc(vlen ? vlen : 1);
	char key[32];
	kv_txn *txn;
	kv_table *t;

	assert_non_null(val);
	snprintf(key, sizeof(key), "key%06u", k);
	kt_fill(val, vlen, k);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, table, KV_TABLE_CREATE, &t), 0);
	assert_int_equal(kv_put(txn, t, (kv_val){ key, strlen(key) },
	                        (kv_val){ val, vlen }, 0),
	                 0);
	kv_txn_set_durability(txn,
	                      durable ? KV_DURABLE_IMMEDIATE : KV_DURABLE_NONE);
	assert_int_equal(kv_txn_commit(txn), 0);
	free(val);
}

/* Does table hold key k with its value of vlen bytes?  Fails on a wrong
 * value. */
static int holds(kv_env *env, const char *table, unsigned k, size_t vlen)
{
	char key[32];
	kv_txn *txn;
	kv_table *t;
	kv_val v;
	int rc;

	snprintf(key, sizeof(key), "key%06u", k);
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	rc = kv_table_open(txn, table, 0, &t);
	if (rc == 0)
		rc = kv_get(txn, t, (kv_val){ key, strlen(key) }, &v);
	if (rc == 0 && (v.len != vlen || kt_vcheck(v.data, vlen, k) >= 0))
		fail_msg("%s/%s holds a wrong value", table, key);
	kv_txn_abort(txn);
	if (rc && rc != KV_ENOTFOUND)
		fail_msg("%s/%s: %s", table, key, kt_err(rc));
	return rc == 0;
}

static kv_env *reopen(const char *path, const char *when)
{
	kv_env *env;
	int rc = kv_env_open(&env, path, 0, 0600);

	if (rc != 0)
		fail_msg("%s: reopen: %s", when, kt_err(rc));
	kt_check_clean(env, when);
	return env;
}

/*
 * Durable commits of a few records are logged: no full sync each, and a
 * power loss that keeps nothing unsynced but the log keeps all of them.
 */
static void test_durable_commits_survive(void **state)
{
	struct lx x;
	struct kv_stat st;
	uint64_t syncs;
	kv_env *env;

	(void)state;
	lx_open(&x, "log-durable");
	put(x.env, "t", 0, 100, 1); /* the first commit: a checkpoint */
	syncs = x.f.nkind[KT_OP_SYNC];
	for (unsigned k = 1; k <= 200; k++)
		put(x.env, "t", k, 100 + k, 1);
	if (x.f.nkind[KT_OP_SYNC] != syncs)
		fail_msg("200 small durable commits made %" PRIu64 " full "
		         "syncs; the log should have held them",
		         x.f.nkind[KT_OP_SYNC] - syncs);
	lx_power_loss(&x);

	env = reopen(x.path, "after the power loss");
	for (unsigned k = 0; k <= 200; k++)
		if (!holds(env, "t", k, k ? 100 + k : 100))
			fail_msg("durable commit %u lost", k);
	assert_int_equal(kv_env_stat(env, &st), 0);
	if (st.recovered != 200)
		fail_msg("kv_env_stat: %" PRIu64 " commits recovered from the "
		         "log, 200 expected",
		         st.recovered);
	assert_true(st.log_size >= 64 * KV_PAGE_SIZE);
	assert_int_equal(st.log_used, 0); /* recovery ended in a checkpoint */
	/* the next power loss loses nothing */
	kv_env_close(env);
	env = reopen(x.path, "reopened after recovery");
	assert_true(holds(env, "t", 200, 300));
	kv_env_close(env);
}

/*
 * Non-durable commits are logged too, unsynced: after a power loss the
 * store holds every commit up to the last durable one, and none after it
 * (their log records were never synced).
 */
static void test_nondurable_after_durable(void **state)
{
	struct lx x;
	kv_env *env;

	(void)state;
	lx_open(&x, "log-mixed");
	put(x.env, "t", 0, 50, 1);
	for (unsigned k = 1; k <= 60; k++)
		put(x.env, "t", k, 50, k % 10 == 0);
	put(x.env, "t", 61, 50, 0);
	put(x.env, "t", 62, 50, 0);
	lx_power_loss(&x);

	env = reopen(x.path, "after the power loss");
	for (unsigned k = 0; k <= 60; k++)
		if (!holds(env, "t", k, 50))
			fail_msg("commit %u, before the last durable one, lost",
			         k);
	assert_false(holds(env, "t", 61, 50));
	assert_false(holds(env, "t", 62, 50));
	kv_env_close(env);
}

/*
 * kv_env_sync() after non-durable commits writes their log records with one
 * synced write, no full sync; kv_env_checkpoint() syncs the file.
 */
static void test_sync_through_log(void **state)
{
	struct lx x;
	uint64_t syncs;
	kv_env *env;

	(void)state;
	lx_open(&x, "log-sync");
	put(x.env, "t", 0, 30, 1);
	syncs = x.f.nkind[KT_OP_SYNC];
	for (unsigned k = 1; k <= 40; k++)
		put(x.env, "t", k, 30, 0);
	assert_int_equal(kv_env_sync(x.env), 0);
	assert_int_equal(x.f.nkind[KT_OP_SYNC], syncs);
	put(x.env, "t", 41, 30, 0);
	assert_int_equal(kv_env_checkpoint(x.env), 0);
	assert_int_equal(x.f.nkind[KT_OP_SYNC], syncs + 1);
	put(x.env, "t", 42, 30, 0); /* not durable: lost below */
	lx_power_loss(&x);

	env = reopen(x.path, "after the power loss");
	for (unsigned k = 0; k <= 41; k++)
		if (!holds(env, "t", k, 30))
			fail_msg("commit %u, made durable by a sync, lost", k);
	assert_false(holds(env, "t", 42, 30));
	kv_env_close(env);
}

/*
 * A full log, a record larger than the log, a snapshot and a non-durable
 * commit the log cannot hold all end in checkpoints; every durable commit
 * survives in each case.
 */
static void test_checkpoints(void **state)
{
	struct lx x;
	uint64_t syncs;
	kv_env *env;
	kv_txn *txn;
	unsigned k = 0;

	(void)state;
	lx_open(&x, "log-checkpoints");
	put(x.env, "t", k++, 10, 1);

	/* fill the log: 2,000 records of 1 KiB are more than it holds */
	syncs = x.f.nkind[KT_OP_SYNC];
	for (; k <= 2000; k++)
		put(x.env, "t", k, 1000, 1);
	assert_true(x.f.nkind[KT_OP_SYNC] > syncs);

	/* larger than any log */
	syncs = x.f.nkind[KT_OP_SYNC];
	put(x.env, "big", 1, 8u << 20, 1);
	assert_true(x.f.nkind[KT_OP_SYNC] > syncs);

	/* a snapshot is never logged */
	put(x.env, "t", k++, 10, 1);
	assert_int_equal(kv_txn_begin(x.env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, "s1"), 0);
	syncs = x.f.nkind[KT_OP_SYNC];
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_true(x.f.nkind[KT_OP_SYNC] > syncs);

	/* a non-durable commit too large for the log closes it: the next
	 * durable commit is a checkpoint, and makes both durable */
	put(x.env, "big", 2, 8u << 20, 0);
	syncs = x.f.nkind[KT_OP_SYNC];
	put(x.env, "t", k++, 10, 1);
	assert_true(x.f.nkind[KT_OP_SYNC] > syncs);
	/* logged again after that checkpoint */
	syncs = x.f.nkind[KT_OP_SYNC];
	put(x.env, "t", k++, 10, 1);
	assert_int_equal(x.f.nkind[KT_OP_SYNC], syncs);
	lx_power_loss(&x);

	env = reopen(x.path, "after the power loss");
	for (unsigned i = 0; i < k; i++)
		if (!holds(env, "t", i, i == 0 || i > 2000 ? 10 : 1000))
			fail_msg("durable commit of key %u lost", i);
	assert_true(holds(env, "big", 1, 8u << 20));
	assert_true(holds(env, "big", 2, 8u << 20));
	assert_int_equal(kv_txn_begin_snapshot(env, "s1", &txn), 0);
	kv_txn_abort(txn);
	kv_env_close(env);
}

/* Table creates, drops, deletes and overwrites replay to the same state. */
static void test_replays_every_operation(void **state)
{
	struct lx x;
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	uint64_t n = 0;

	(void)state;
	lx_open(&x, "log-ops");
	put(x.env, "keep", 0, 10, 1);
	put(x.env, "gone", 0, 10, 1);
	for (unsigned k = 1; k <= 30; k++)
		put(x.env, "keep", k, 20, 1);
	assert_int_equal(kv_txn_begin(x.env, 0, &txn), 0);
	assert_int_equal(kv_table_drop(txn, "gone"), 0);
	assert_int_equal(kv_table_open(txn, "empty", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(kv_table_open(txn, "keep", 0, &t), 0);
	for (unsigned k = 1; k <= 10; k++) {
		char key[32];
		snprintf(key, sizeof(key), "key%06u", k);
		assert_int_equal(kv_del(txn, t, (kv_val){ key, strlen(key) }),
		                 0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);
	put(x.env, "keep", 5, 77, 1); /* back, with another value */
	lx_power_loss(&x);

	env = reopen(x.path, "after the power loss");
	for (unsigned k = 0; k <= 30; k++) {
		int want = k == 0 || k == 5 || k > 10;
		if (holds(env, "keep", k,
		          k == 0   ? 10
		          : k == 5 ? 77
		                   : 20) != want)
			fail_msg("keep/key%06u: %s after replay", k,
			         want ? "missing" : "present");
	}
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_table_open(txn, "gone", 0, &t), KV_ENOTFOUND);
	assert_int_equal(kv_table_open(txn, "empty", 0, &t), 0);
	n = kv_table_count(t);
	assert_int_equal(n, 0);
	assert_int_equal(kv_table_open(txn, "keep", 0, &t), 0);
	assert_int_equal(kv_table_count(t), 22);
	kv_txn_abort(txn);
	kv_env_close(env);
}

/* The file offset of the log and of its first record's operations. */
static uint64_t log_start(const char *path)
{
	uint8_t pg[KV_PAGE_SIZE];
	uint64_t best = 0, txn = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	for (uint64_t s = 0; s < 2; s++) {
		assert_int_equal(
		        pread(fd, pg, sizeof(pg), (off_t)(s * KV_PAGE_SIZE)),
		        (ssize_t)sizeof(pg));
		if (get64(pg + MF_TXNID) >= txn) {
			txn = get64(pg + MF_TXNID);
			best = get64(pg + MF_LOG_PGNO) * KV_PAGE_SIZE;
		}
	}
	close(fd);
	assert_true(best >= 2 * KV_PAGE_SIZE);
	return best;
}

/*
 * A damaged record ends the log: recovery repeats the commits before it,
 * and the store is whole.  (Records are only damaged by the disk; the
 * commits after it are lost, as after any damaged write.)
 */
static void test_damaged_record_ends_log(void **state)
{
	struct lx x;
	kv_env *env;
	uint64_t off;
	unsigned char b;
	uint32_t len;
	int fd;

	(void)state;
	lx_open(&x, "log-damaged");
	put(x.env, "t", 0, 10, 1);
	for (unsigned k = 1; k <= 20; k++)
		put(x.env, "t", k, 40, 1);
	lx_power_loss(&x);

	/* flip a byte inside the fifth record */
	off = log_start(x.path);
	fd = open(x.path, O_RDWR);
	assert_true(fd >= 0);
	for (unsigned r = 0; r < 4; r++) {
		assert_int_equal(pread(fd, &len, 4, (off_t)(off + LR_LEN)), 4);
		off += (LR_HDR + len + 7) & ~7u;
	}
	assert_int_equal(pread(fd, &b, 1, (off_t)(off + LR_HDR + 3)), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(off + LR_HDR + 3)), 1);
	close(fd);

	env = reopen(x.path, "with a damaged record");
	for (unsigned k = 0; k <= 4; k++)
		assert_true(holds(env, "t", k, k ? 40 : 10));
	for (unsigned k = 5; k <= 20; k++)
		assert_false(holds(env, "t", k, 40));
	put(env, "t", 5, 40, 1);
	kt_check_clean(env, "after a new commit");
	kv_env_close(env);
}

/*
 * Two environments on one store (as two processes would be: the daemon and
 * a command-line import) take turns writing: each appends to the log after
 * the other's records, and a durable commit of one makes the other's
 * earlier non-durable commits durable too.
 */
static void test_two_writers_share_the_log(void **state)
{
	struct lx x;
	static struct kt_fio g;
	kv_env *other, *env;
	uint64_t syncs;

	(void)state;
	lx_open(&x, "log-two");
	put(x.env, "t", 0, 20, 1);
	/* the second kt_fio appends to the same undo log */
	assert_int_equal(kt_fio_init(&g, x.path, "/dev/null"), 0);
	close(g.logfd);
	g.logfd = open(x.undo, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(g.logfd >= 0);
	assert_int_equal(kv_env_open_io(&other, x.path, 0, 0600, &g.io), 0);
	syncs = x.f.nkind[KT_OP_SYNC] + g.nkind[KT_OP_SYNC];
	for (unsigned k = 1; k <= 30; k++)
		put(k % 2 ? other : x.env, "t", k, 20, k % 3 == 0);
	put(other, "t", 31, 20, 0);
	put(x.env, "t", 32, 20, 1); /* makes 31 durable as well */
	put(other, "t", 33, 20, 0); /* lost */
	if (x.f.nkind[KT_OP_SYNC] + g.nkind[KT_OP_SYNC] != syncs)
		fail_msg("two writers taking turns made full syncs");
	kv_env_close(other);
	kt_fio_release(&g);
	lx_power_loss(&x);

	env = reopen(x.path, "after the power loss");
	for (unsigned k = 0; k <= 32; k++)
		if (!holds(env, "t", k, 20))
			fail_msg("commit %u lost", k);
	assert_false(holds(env, "t", 33, 20));
	kv_env_close(env);
}

/* A read-only open of a store whose last commits are only in its log
 * recovers them first, and sees them. */
static void test_readonly_open_recovers(void **state)
{
	struct lx x;
	kv_env *env;

	(void)state;
	lx_open(&x, "log-rdonly");
	put(x.env, "t", 0, 10, 1);
	for (unsigned k = 1; k <= 10; k++)
		put(x.env, "t", k, 10, 1);
	lx_power_loss(&x);
	assert_int_equal(kv_env_open(&env, x.path, KV_RDONLY, 0600), 0);
	for (unsigned k = 0; k <= 10; k++)
		assert_true(holds(env, "t", k, 10));
	kt_check_clean(env, "read-only, after recovery");
	kv_env_close(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_durable_commits_survive),
		T(test_nondurable_after_durable),
		T(test_sync_through_log),
		T(test_checkpoints),
		T(test_replays_every_operation),
		T(test_damaged_record_ends_log),
		T(test_two_writers_share_the_log),
		T(test_readonly_open_recovers),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
