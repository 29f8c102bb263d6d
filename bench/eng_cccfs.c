/*
 * eng_cccfs.c - the benchmark port for our own engine, through the public
 * header only (include/cccfs/kv.h), as any user would drive it.
 *
 * The database is one file, "data.kv", in the engine's directory, with its
 * lock file beside it.  All entries live in one table, "bench".  Every
 * write is one write transaction that opens the table, puts, and commits
 * with KV_DURABLE_IMMEDIATE or KV_DURABLE_NONE.  A reader is one read
 * transaction with one cursor that every range read re-seeks.  Compaction is
 * kv_env_copy() of the live state to a new file.
 */
#include <stdlib.h>

#include <cccfs/kv.h>

#include "bench.h"

#define TABLE "bench"

struct bench_db {
	kv_env *env;
};

struct bench_reader {
	kv_txn *txn;
	kv_table *table;
	kv_cursor *cursor;
};

static void check(int rc, const char *what)
{
	if (rc != 0)
		bench_die("cccfs", "%s: %s (%s)", what, kv_strerror(rc),
		          kv_errmsg());
}

static const char *cccfs_version(void)
{
	return KV_VERSION_STRING;
}

static struct bench_db *cccfs_open(const char *dir)
{
	struct bench_db *db = bench_malloc(sizeof(*db));
	char *path = bench_join(dir, "data.kv");

	check(kv_env_open(&db->env, path, KV_CREATE, 0600), "kv_env_open");
	free(path);
	return db;
}

static void cccfs_close(struct bench_db *db)
{
	kv_env_close(db->env);
	free(db);
}

static kv_txn *begin_write(struct bench_db *db, kv_table **table)
{
	kv_txn *txn;

	check(kv_txn_begin(db->env, 0, &txn), "kv_txn_begin");
	check(kv_table_open(txn, TABLE, KV_TABLE_CREATE, table),
	      "kv_table_open");
	return txn;
}

static void cccfs_write(struct bench_db *db, uint64_t first, uint64_t count,
                        int durable)
{
	uint8_t key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
	kv_table *table;
	kv_txn *txn = begin_write(db, &table);
	uint64_t i;

	kv_txn_set_durability(txn,
	                      durable ? KV_DURABLE_IMMEDIATE : KV_DURABLE_NONE);
	for (i = first; i < first + count; i++) {
		kv_val k = { key, sizeof(key) }, v = { val, sizeof(val) };

		bench_key(i, key);
		bench_value(i, val);
		check(kv_put(txn, table, k, v, 0), "kv_put");
	}
	check(kv_txn_commit(txn), "kv_txn_commit");
}

static void cccfs_sync(struct bench_db *db)
{
	check(kv_env_sync(db->env), "kv_env_sync");
}

static void cccfs_remove(struct bench_db *db, uint64_t first, uint64_t count)
{
	uint8_t key[BENCH_KEY_LEN];
	kv_table *table;
	kv_txn *txn = begin_write(db, &table);
	uint64_t i;

	for (i = first; i < first + count; i++) {
		kv_val k = { key, sizeof(key) };
		int rc;

		bench_key(i, key);
		rc = kv_del(txn, table, k);
		if (rc == KV_ENOTFOUND)
			bench_die("cccfs", "kv_del: item %llu not found",
			          (unsigned long long)i);
		check(rc, "kv_del");
	}
	check(kv_txn_commit(txn), "kv_txn_commit");
}

static uint64_t cccfs_count(struct bench_db *db)
{
	kv_txn *txn;
	kv_table *table;
	uint64_t n;

	check(kv_txn_begin(db->env, KV_TXN_RDONLY, &txn), "kv_txn_begin");
	check(kv_table_open(txn, TABLE, 0, &table), "kv_table_open");
	n = kv_table_count(table);
	kv_txn_abort(txn);
	return n;
}

static struct bench_reader *cccfs_reader_open(struct bench_db *db)
{
	struct bench_reader *r = bench_malloc(sizeof(*r));

	check(kv_txn_begin(db->env, KV_TXN_RDONLY, &r->txn), "kv_txn_begin");
	check(kv_table_open(r->txn, TABLE, 0, &r->table), "kv_table_open");
	check(kv_cursor_open(r->txn, r->table, &r->cursor), "kv_cursor_open");
	return r;
}

static void cccfs_reader_close(struct bench_reader *r)
{
	kv_cursor_close(r->cursor);
	kv_txn_abort(r->txn);
	free(r);
}

static int cccfs_get(struct bench_reader *r, const uint8_t *key, size_t klen,
                     const void **val, size_t *vlen)
{
	kv_val k = { key, klen }, v;
	int rc = kv_get(r->txn, r->table, k, &v);

	if (rc == KV_ENOTFOUND)
		return 1;
	check(rc, "kv_get");
	*val = v.data;
	*vlen = v.len;
	return 0;
}

static unsigned cccfs_scan(struct bench_reader *r, const uint8_t *key,
                           size_t klen, unsigned limit, uint64_t *sum)
{
	kv_val k = { key, klen }, ok, ov;
	unsigned n = 0;
	int rc;

	rc = kv_cursor_seek(r->cursor, k, &ok, &ov);
	while (rc == 0) {
		*sum += bench_sum_entry(ok.data, ok.len, ov.data, ov.len);
		if (++n == limit)
			return n;
		rc = kv_cursor_next(r->cursor, &ok, &ov);
	}
	if (rc != KV_ENOTFOUND)
		check(rc, "kv_cursor_seek/next");
	return n;
}

static uint64_t cccfs_compact(struct bench_db *db, const char *dest)
{
	char *path = bench_join(dest, "data.kv");
	uint64_t size;

	check(kv_env_copy(db->env, path, NULL, 0600), "kv_env_copy");
	size = bench_path_size(path);
	free(path);
	return size;
}

const struct bench_engine bench_cccfs = {
	.name = "cccfs",
	.version = cccfs_version,
	.open = cccfs_open,
	.close = cccfs_close,
	.write = cccfs_write,
	.sync = cccfs_sync,
	.remove = cccfs_remove,
	.count = cccfs_count,
	.reader_open = cccfs_reader_open,
	.reader_close = cccfs_reader_close,
	.get = cccfs_get,
	.scan = cccfs_scan,
	.compact = cccfs_compact,
};
