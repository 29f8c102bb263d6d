/*
 * eng_rocksdb.c - the benchmark port for RocksDB, through its C API
 * (rocksdb/c.h).
 *
 * The database is the engine's directory, opened with default options plus
 * create_if_missing.  A transaction is a WriteBatch applied with one
 * rocksdb_write(): atomic, as a commit is.  Durable writes use
 * WriteOptions.sync = true (the WAL is fsync'ed before the write returns);
 * the non-durable phase uses sync = false, RocksDB's default, which still
 * writes the WAL but does not sync it.  sync() is FlushWAL(sync = true).
 * A reader reads from one snapshot, the counterpart of a read transaction,
 * with one iterator that every range read re-seeks; point reads use
 * rocksdb_get_pinned(), which avoids copying the value.  len() iterates the
 * whole database: RocksDB keeps only an estimate of its key count.
 * Compaction is CompactRange over the whole key space, after which the size
 * is that of the directory (SST files, WAL, manifest and logs).
 */
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "bench.h"

#ifndef BENCH_ROCKSDB_VERSION
#define BENCH_ROCKSDB_VERSION "?"
#endif

struct bench_db {
	char *dir;
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wsync, *wnosync;
};

struct bench_reader {
	rocksdb_t *db;
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ropts;
	rocksdb_iterator_t *it;
	rocksdb_pinnableslice_t *last; /* the value get() returned last */
};

static void check(char *err, const char *what)
{
	if (err)
		bench_die("rocksdb", "%s: %s", what, err);
}

static const char *rocks_version(void)
{
	return BENCH_ROCKSDB_VERSION;
}

static struct bench_db *rocks_open(const char *dir)
{
	struct bench_db *db = bench_malloc(sizeof(*db));
	char *err = NULL;

	db->dir = strdup(dir);
	if (db->dir == NULL)
		bench_die("rocksdb", "out of memory");
	db->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(db->opts, 1);
	db->db = rocksdb_open(db->opts, dir, &err);
	check(err, "rocksdb_open");
	db->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(db->wsync, 1);
	db->wnosync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(db->wnosync, 0);
	return db;
}

static void rocks_close(struct bench_db *db)
{
	rocksdb_close(db->db);
	rocksdb_writeoptions_destroy(db->wsync);
	rocksdb_writeoptions_destroy(db->wnosync);
	rocksdb_options_destroy(db->opts);
	free(db->dir);
	free(db);
}

static void rocks_write(struct bench_db *db, uint64_t first, uint64_t count,
                        int durable)
{
	uint8_t key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
	rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
	char *err = NULL;
	uint64_t i;

	for (i = first; i < first + count; i++) {
		bench_key(i, key);
		bench_value(i, val);
		rocksdb_writebatch_put(batch, (const char *)key, sizeof(key),
		                       (const char *)val, sizeof(val));
	}
	rocksdb_write(db->db, durable ? db->wsync : db->wnosync, batch, &err);
	check(err, "rocksdb_write");
	rocksdb_writebatch_destroy(batch);
}

static void rocks_sync(struct bench_db *db)
{
	char *err = NULL;

	rocksdb_flush_wal(db->db, 1, &err);
	check(err, "rocksdb_flush_wal");
}

/* RocksDB's delete does not say whether the key existed; the driver checks
 * the count afterwards instead. */
static void rocks_remove(struct bench_db *db, uint64_t first, uint64_t count)
{
	uint8_t key[BENCH_KEY_LEN];
	rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
	char *err = NULL;
	uint64_t i;

	for (i = first; i < first + count; i++) {
		bench_key(i, key);
		rocksdb_writebatch_delete(batch, (const char *)key,
		                          sizeof(key));
	}
	rocksdb_write(db->db, db->wsync, batch, &err);
	check(err, "rocksdb_write");
	rocksdb_writebatch_destroy(batch);
}

static uint64_t rocks_count(struct bench_db *db)
{
	rocksdb_readoptions_t *ropts = rocksdb_readoptions_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator(db->db, ropts);
	char *err = NULL;
	uint64_t n = 0;

	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it))
		n++;
	rocksdb_iter_get_error(it, &err);
	check(err, "rocksdb iterator");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ropts);
	return n;
}

static struct bench_reader *rocks_reader_open(struct bench_db *db)
{
	struct bench_reader *r = bench_malloc(sizeof(*r));

	r->db = db->db;
	r->snap = rocksdb_create_snapshot(db->db);
	r->ropts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(r->ropts, r->snap);
	r->it = rocksdb_create_iterator(db->db, r->ropts);
	r->last = NULL;
	return r;
}

static void rocks_reader_close(struct bench_reader *r)
{
	if (r->last)
		rocksdb_pinnableslice_destroy(r->last);
	rocksdb_iter_destroy(r->it);
	rocksdb_readoptions_destroy(r->ropts);
	rocksdb_release_snapshot(r->db, r->snap);
	free(r);
}

static int rocks_get(struct bench_reader *r, const uint8_t *key, size_t klen,
                     const void **val, size_t *vlen)
{
	char *err = NULL;

	if (r->last)
		rocksdb_pinnableslice_destroy(r->last);
	r->last = rocksdb_get_pinned(r->db, r->ropts, (const char *)key, klen,
	                             &err);
	check(err, "rocksdb_get_pinned");
	if (r->last == NULL)
		return 1;
	*val = rocksdb_pinnableslice_value(r->last, vlen);
	return 0;
}

static unsigned rocks_scan(struct bench_reader *r, const uint8_t *key,
                           size_t klen, unsigned limit, uint64_t *sum)
{
	char *err = NULL;
	unsigned n = 0;

	rocksdb_iter_seek(r->it, (const char *)key, klen);
	while (n < limit && rocksdb_iter_valid(r->it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(r->it, &kl);
		const char *v = rocksdb_iter_value(r->it, &vl);

		*sum += bench_sum_entry(k, kl, v, vl);
		if (++n < limit)
			rocksdb_iter_next(r->it);
	}
	rocksdb_iter_get_error(r->it, &err);
	check(err, "rocksdb iterator");
	return n;
}

static uint64_t rocks_compact(struct bench_db *db, const char *dest)
{
	(void)dest;
	rocksdb_compact_range(db->db, NULL, 0, NULL, 0);
	return bench_path_size(db->dir);
}

const struct bench_engine bench_rocksdb = {
	.name = "rocksdb",
	.version = rocks_version,
	.open = rocks_open,
	.close = rocks_close,
	.write = rocks_write,
	.sync = rocks_sync,
	.remove = rocks_remove,
	.count = rocks_count,
	.reader_open = rocks_reader_open,
	.reader_close = rocks_reader_close,
	.get = rocks_get,
	.scan = rocks_scan,
	.compact = rocks_compact,
};
