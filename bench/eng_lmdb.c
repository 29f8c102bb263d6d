/*
 * eng_lmdb.c - the benchmark port for LMDB.
 *
 * The environment is the engine's directory (data.mdb and lock.mdb), opened
 * with default flags, so every commit is synced, and with a map size far
 * above what the data set needs (the file grows only as pages are written;
 * the map size is address space, not disk).  Entries live in the unnamed
 * database.  Each write sets or clears MDB_NOSYNC on the environment with
 * mdb_env_set_flags() to match its durability (a flag update, no I/O), so
 * the non-durable phase runs with MDB_NOSYNC; sync() calls mdb_env_sync(),
 * as lmdb.h prescribes for MDB_NOSYNC.  A reader is one read-only
 * transaction with one cursor.  Compaction is mdb_env_copy2() with
 * MDB_CP_COMPACT, the same as `mdb_copy -c`.
 */
#include <stdlib.h>

#include <lmdb.h>

#include "bench.h"

struct bench_db {
	MDB_env *env;
	MDB_dbi dbi;
};

struct bench_reader {
	MDB_txn *txn;
	MDB_cursor *cursor;
	MDB_dbi dbi;
};

static void check(int rc, const char *what)
{
	if (rc != MDB_SUCCESS)
		bench_die("lmdb", "%s: %s", what, mdb_strerror(rc));
}

static const char *lmdb_version(void)
{
	return mdb_version(NULL, NULL, NULL);
}

static struct bench_db *lmdb_open(const char *dir)
{
	struct bench_db *db = bench_malloc(sizeof(*db));
	MDB_txn *txn;

	check(mdb_env_create(&db->env), "mdb_env_create");
	/* 64 GiB of address space: no phase can run into MDB_MAP_FULL. */
	check(mdb_env_set_mapsize(db->env, (size_t)64 << 30),
	      "mdb_env_set_mapsize");
	check(mdb_env_open(db->env, dir, 0, 0600), "mdb_env_open");
	check(mdb_txn_begin(db->env, NULL, 0, &txn), "mdb_txn_begin");
	check(mdb_dbi_open(txn, NULL, 0, &db->dbi), "mdb_dbi_open");
	check(mdb_txn_commit(txn), "mdb_txn_commit");
	return db;
}

static void lmdb_close(struct bench_db *db)
{
	mdb_env_close(db->env);
	free(db);
}

static void lmdb_write(struct bench_db *db, uint64_t first, uint64_t count,
                       int durable)
{
	uint8_t key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
	MDB_txn *txn;
	uint64_t i;

	check(mdb_env_set_flags(db->env, MDB_NOSYNC, !durable),
	      "mdb_env_set_flags");
	check(mdb_txn_begin(db->env, NULL, 0, &txn), "mdb_txn_begin");
	for (i = first; i < first + count; i++) {
		MDB_val k = { sizeof(key), key }, v = { sizeof(val), val };

		bench_key(i, key);
		bench_value(i, val);
		check(mdb_put(txn, db->dbi, &k, &v, 0), "mdb_put");
	}
	check(mdb_txn_commit(txn), "mdb_txn_commit");
}

static void lmdb_sync(struct bench_db *db)
{
	check(mdb_env_set_flags(db->env, MDB_NOSYNC, 0), "mdb_env_set_flags");
	check(mdb_env_sync(db->env, 1), "mdb_env_sync");
}

static void lmdb_remove(struct bench_db *db, uint64_t first, uint64_t count)
{
	uint8_t key[BENCH_KEY_LEN];
	MDB_txn *txn;
	uint64_t i;

	check(mdb_txn_begin(db->env, NULL, 0, &txn), "mdb_txn_begin");
	for (i = first; i < first + count; i++) {
		MDB_val k = { sizeof(key), key };
		int rc;

		bench_key(i, key);
		rc = mdb_del(txn, db->dbi, &k, NULL);
		if (rc == MDB_NOTFOUND)
			bench_die("lmdb", "mdb_del: item %llu not found",
			          (unsigned long long)i);
		check(rc, "mdb_del");
	}
	check(mdb_txn_commit(txn), "mdb_txn_commit");
}

static uint64_t lmdb_count(struct bench_db *db)
{
	MDB_txn *txn;
	MDB_stat st;

	check(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
	check(mdb_stat(txn, db->dbi, &st), "mdb_stat");
	mdb_txn_abort(txn);
	return st.ms_entries;
}

static struct bench_reader *lmdb_reader_open(struct bench_db *db)
{
	struct bench_reader *r = bench_malloc(sizeof(*r));

	r->dbi = db->dbi;
	check(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &r->txn),
	      "mdb_txn_begin");
	check(mdb_cursor_open(r->txn, r->dbi, &r->cursor), "mdb_cursor_open");
	return r;
}

static void lmdb_reader_close(struct bench_reader *r)
{
	mdb_cursor_close(r->cursor);
	mdb_txn_abort(r->txn);
	free(r);
}

static int lmdb_get(struct bench_reader *r, const uint8_t *key, size_t klen,
                    const void **val, size_t *vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(r->txn, r->dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 1;
	check(rc, "mdb_get");
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

static unsigned lmdb_scan(struct bench_reader *r, const uint8_t *key,
                          size_t klen, unsigned limit, uint64_t *sum)
{
	MDB_val k = { klen, (void *)key }, v;
	unsigned n = 0;
	int rc;

	rc = mdb_cursor_get(r->cursor, &k, &v, MDB_SET_RANGE);
	while (rc == MDB_SUCCESS) {
		*sum += bench_sum_entry(k.mv_data, k.mv_size, v.mv_data,
		                        v.mv_size);
		if (++n == limit)
			return n;
		rc = mdb_cursor_get(r->cursor, &k, &v, MDB_NEXT);
	}
	if (rc != MDB_NOTFOUND)
		check(rc, "mdb_cursor_get");
	return n;
}

static uint64_t lmdb_compact(struct bench_db *db, const char *dest)
{
	check(mdb_env_copy2(db->env, dest, MDB_CP_COMPACT), "mdb_env_copy2");
	return bench_path_size(dest);
}

const struct bench_engine bench_lmdb = {
	.name = "lmdb",
	.version = lmdb_version,
	.open = lmdb_open,
	.close = lmdb_close,
	.write = lmdb_write,
	.sync = lmdb_sync,
	.remove = lmdb_remove,
	.count = lmdb_count,
	.reader_open = lmdb_reader_open,
	.reader_close = lmdb_reader_close,
	.get = lmdb_get,
	.scan = lmdb_scan,
	.compact = lmdb_compact,
};
