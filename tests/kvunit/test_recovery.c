/*
 * Recovery and bad-file tests: a commit whose pages did not all reach the
 * disk (simulated by damaging one of them) rolls back to the previous
 * commit; a damaged newest meta slot does the same; both slots damaged, a
 * truncated file, a foreign file and a newer format are clear errors.
 * Write and sync failures through the kv_io table: ENOSPC leaves the store
 * usable at its previous state; a failed fsync latches KV_EFATAL until the
 * store is reopened.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv_int.h"
#include "dbfile.h"
#include "tmpdir.h"

struct fx {
	const char *dir;
	char path[4096];
	uint64_t txa, txb;
};

static kv_val S(const char *s)
{
	kv_val v = { s, strlen(s) };
	return v;
}

/* Put k = v in table "t" in one transaction; the commit's result, and
 * its txnid in *id (if not NULL). */
static int try_put(kv_env *env, const char *k, const char *v, uint64_t *id)
{
	kv_txn *t;
	kv_table *tb;

	assert_int_equal(kv_txn_begin(env, 0, &t), 0);
	assert_int_equal(kv_table_open(t, "t", KV_TABLE_CREATE, &tb), 0);
	assert_int_equal(kv_put(t, tb, S(k), S(v), 0), 0);
	if (id)
		*id = kv_txn_id(t);
	return kv_txn_commit(t);
}

static uint64_t put_one(kv_env *env, const char *k, const char *v)
{
	uint64_t id;

	assert_int_equal(try_put(env, k, v, &id), 0);
	return id;
}

static int has(kv_env *env, const char *k)
{
	kv_txn *t;
	kv_table *tb;
	kv_val v;
	int rc;

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &t), 0);
	rc = kv_table_open(t, "t", 0, &tb);
	if (rc == 0)
		rc = kv_get(t, tb, S(k), &v);
	kv_txn_abort(t);
	return rc == 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	kv_env *env;

	f->dir = tmpdir_make("recovery");
	tmpdir_path(f->path, sizeof(f->path), f->dir, "db");
	assert_int_equal(kv_env_open(&env, f->path, KV_CREATE, 0600), 0);
	f->txa = put_one(env, "a", "first");
	f->txb = put_one(env, "b", "second");
	kv_env_close(env);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Flip one byte of the first page (other than the metas) whose header
 * says it was written by txnid. */
static void damage_page_of(const char *path, uint64_t txnid, uint16_t type)
{
	int fd = open(path, O_RDWR);
	uint8_t pg[KV_PAGE_SIZE];
	off_t off;

	assert_true(fd >= 0);
	for (off = 2 * KV_PAGE_SIZE;; off += KV_PAGE_SIZE) {
		assert_int_equal(pread(fd, pg, sizeof(pg), off), sizeof(pg));
		if (get64(pg + PH_TXNID) == txnid &&
		    get16(pg + PH_TYPE) == type)
			break;
	}
	pg[KV_PAGE_SIZE - 1] ^= 0x5a;
	assert_int_equal(pwrite(fd, pg, sizeof(pg), off), sizeof(pg));
	close(fd);
}

static void damage_meta(const char *path, uint64_t slot)
{
	int fd = open(path, O_RDWR);
	uint8_t b = 0;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)(slot * KV_PAGE_SIZE + 100)),
	                 1);
	b ^= 0xff;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(slot * KV_PAGE_SIZE + 100)),
	                 1);
	close(fd);
}

static uint64_t slot_of(const char *path, uint64_t txnid)
{
	int fd = open(path, O_RDONLY);
	uint8_t pg[KV_PAGE_SIZE];
	uint64_t s;

	for (s = 0; s < 2; s++) {
		assert_int_equal(
		        pread(fd, pg, sizeof(pg), (off_t)(s * KV_PAGE_SIZE)),
		        sizeof(pg));
		if (get64(pg + MF_TXNID) == txnid)
			break;
	}
	close(fd);
	assert_true(s < 2);
	return s;
}

/*
 * The setup's second commit is logged (kv/log.c): a damaged page or meta
 * of it sends recovery back to the first, and the log brings it back.
 */
static void test_torn_commit_comes_back_from_log(void **state)
{
	struct fx *f = *state;
	kv_env *env;
	struct kv_check_report rep;

	damage_page_of(f->path, f->txb, PT_LEAF);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), 0);
	assert_true(has(env, "a"));
	assert_true(has(env, "b"));
	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	kv_env_close(env);
}

static void test_damaged_meta_comes_back_from_log(void **state)
{
	struct fx *f = *state;
	kv_env *env;

	damage_meta(f->path, slot_of(f->path, f->txb));
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), 0);
	assert_true(has(env, "a"));
	assert_true(has(env, "b"));
	kv_env_close(env);
}

/* Without the log, the page protocol alone: the torn commit is lost. */
static void test_torn_commit_rolls_back(void **state)
{
	struct fx *f = *state;
	kv_env *env;
	struct kv_check_report rep;

	damage_page_of(f->path, f->txb, PT_LEAF);
	assert_true(dbfile_wipe_log(f->path) > 0);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), 0);
	assert_true(has(env, "a"));
	assert_false(has(env, "b"));
	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	/* and the store goes on from there */
	put_one(env, "c", "third");
	assert_true(has(env, "c"));
	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	kv_env_close(env);
}

static void test_damaged_meta_falls_back(void **state)
{
	struct fx *f = *state;
	kv_env *env;

	damage_meta(f->path, slot_of(f->path, f->txb));
	assert_true(dbfile_wipe_log(f->path) > 0);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), 0);
	assert_true(has(env, "a"));
	assert_false(has(env, "b"));
	kv_env_close(env);
}

static void test_both_metas_damaged(void **state)
{
	struct fx *f = *state;
	kv_env *env = NULL;

	damage_meta(f->path, 0);
	damage_meta(f->path, 1);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), KV_ECORRUPT);
	assert_null(env);
	assert_non_null(strstr(kv_errmsg(), "meta"));
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	kv_env *env = NULL;

	assert_int_equal(truncate(f->path, 3 * KV_PAGE_SIZE), 0);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), KV_ECORRUPT);
	assert_non_null(strstr(kv_errmsg(), "truncated"));
	assert_int_equal(truncate(f->path, 100), 0);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), KV_ENOTDB);
	assert_null(env);
}

static void test_foreign_and_newer(void **state)
{
	struct fx *f = *state;
	kv_env *env = NULL;
	char p2[4200];
	uint8_t b[4];
	int fd;

	/* a text file */
	tmpdir_path(p2, sizeof(p2), f->dir, "notes.txt");
	FILE *fp = fopen(p2, "w");
	for (int i = 0; i < 1000; i++)
		fprintf(fp, "name: line %d\n", i);
	fclose(fp);
	assert_int_equal(kv_env_open(&env, p2, 0, 0), KV_ENOTDB);
	assert_non_null(strstr(kv_errmsg(), "not a cccfs database"));
	/* a newer format version in both slots */
	fd = open(f->path, O_RDWR);
	put32(b, KV_FORMAT_VERSION + 1);
	assert_int_equal(pwrite(fd, b, 4, MF_VERSION), 4);
	assert_int_equal(pwrite(fd, b, 4, KV_PAGE_SIZE + MF_VERSION), 4);
	close(fd);
	assert_int_equal(kv_env_open(&env, f->path, 0, 0), KV_EVERSION);
	assert_non_null(strstr(kv_errmsg(), "newer"));
}

/* ---- I/O faults -------------------------------------------------------- */

struct faults {
	int fail_write; /* errno to return from pwrite, 0: none */
	int fail_sync;
};

static int f_pwrite(void *ctx, int fd, const void *buf, size_t len,
                    uint64_t off)
{
	struct faults *fa = ctx;
	if (fa->fail_write)
		return -fa->fail_write;
	return kv_io_posix()->pwrite(NULL, fd, buf, len, off);
}

static int f_sync(void *ctx, int fd)
{
	struct faults *fa = ctx;
	if (fa->fail_sync)
		return -fa->fail_sync;
	return kv_io_posix()->sync(NULL, fd);
}

static int f_truncate(void *ctx, int fd, uint64_t size)
{
	(void)ctx;
	return kv_io_posix()->truncate(NULL, fd, size);
}

static void test_enospc_keeps_store(void **state)
{
	struct fx *f = *state;
	struct faults fa = { 0, 0 };
	struct kv_io io = { &fa, f_pwrite, f_sync, f_truncate, NULL };
	kv_env *env;

	assert_int_equal(kv_env_open_io(&env, f->path, 0, 0, &io), 0);
	fa.fail_write = ENOSPC;
	assert_int_equal(try_put(env, "x", "lost", NULL), -ENOSPC);
	assert_false(has(env, "x"));
	assert_true(has(env, "b"));
	fa.fail_write = 0;
	put_one(env, "y", "kept");
	assert_true(has(env, "y"));
	struct kv_check_report rep;
	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	kv_env_close(env);
}

static void test_fsync_failure_latches(void **state)
{
	struct fx *f = *state;
	struct faults fa = { 0, 0 };
	struct kv_io io = { &fa, f_pwrite, f_sync, f_truncate, NULL };
	kv_env *env;
	kv_txn *t;

	assert_int_equal(kv_env_open_io(&env, f->path, 0, 0, &io), 0);
	fa.fail_sync = EIO;
	assert_int_equal(try_put(env, "x", "unsure", NULL), -EIO);
	assert_int_equal(kv_txn_begin(env, 0, &t), KV_EFATAL);
	assert_non_null(strstr(kv_errmsg(), "reopen"));
	/* readers still work */
	assert_true(has(env, "a"));
	kv_env_close(env);
	fa.fail_sync = 0;
	assert_int_equal(kv_env_open_io(&env, f->path, 0, 0, &io), 0);
	put_one(env, "z", "after");
	assert_true(has(env, "z"));
	struct kv_check_report rep;
	assert_int_equal(kv_check(env, NULL, NULL, &rep), 0);
	kv_env_close(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		        test_torn_commit_comes_back_from_log, setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_damaged_meta_comes_back_from_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_commit_rolls_back,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_meta_falls_back,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_metas_damaged, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_foreign_and_newer, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_enospc_keeps_store, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_fsync_failure_latches,
		                                setup, teardown),
	};
	return cmocka_run_group_tests_name("kvunit-recovery", tests, NULL,
	                                   NULL);
}
