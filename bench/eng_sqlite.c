/*
 * eng_sqlite.c - the benchmark port for SQLite.
 *
 * One database file, "data.sqlite", in write-ahead-log mode (the mode the
 * SQLite documentation recommends for concurrent readers and a writer) and
 * with synchronous=FULL, under which a WAL commit is durable once it
 * returns; the non-durable phase runs with synchronous=OFF instead.  The
 * table is the closest SQLite has to a key-value tree:
 *
 *	CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID
 *
 * so each entry lives once, in the primary-key B-tree.  Every statement is
 * prepared once and reused.  Each connection is used by one thread, so
 * connections are opened with SQLITE_OPEN_NOMUTEX (SQLite's "multi-thread"
 * mode); a reader opens its own connection and holds one read transaction.
 * Other settings (page size, cache size, no mmap) are SQLite's defaults.
 * len() is SELECT count(*), a full scan: SQLite keeps no row count.
 * sync() is a checkpoint, which syncs the WAL (SQLite has no bare fsync).
 * Compaction is VACUUM INTO a new file.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bench.h"

struct bench_db {
	char *dir;
	sqlite3 *conn;
	sqlite3_stmt *begin, *commit, *put, *del, *count;
	int synchronous_full; /* the setting conn has now */
};

struct bench_reader {
	sqlite3 *conn;
	sqlite3_stmt *get, *scan;
};

static void check(sqlite3 *conn, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		bench_die("sqlite", "%s: %s", what,
		          conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
}

static void exec(sqlite3 *conn, const char *sql)
{
	check(conn, sqlite3_exec(conn, sql, NULL, NULL, NULL), sql);
}

static sqlite3_stmt *prepare(sqlite3 *conn, const char *sql)
{
	sqlite3_stmt *st;

	check(conn, sqlite3_prepare_v2(conn, sql, -1, &st, NULL), sql);
	return st;
}

/* Run a statement that returns no rows, and reset it. */
static void step_done(sqlite3 *conn, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		check(conn, rc == SQLITE_ROW ? SQLITE_MISUSE : rc,
		      sqlite3_sql(st));
	sqlite3_reset(st);
}

static sqlite3 *sqlite_connect(const char *dir)
{
	char *path = bench_join(dir, "data.sqlite");
	sqlite3 *conn;
	int rc;

	rc = sqlite3_open_v2(path, &conn,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK)
		bench_die("sqlite", "open %s: %s", path, sqlite3_errstr(rc));
	free(path);
	check(conn, sqlite3_busy_timeout(conn, 10000), "sqlite3_busy_timeout");
	return conn;
}

static const char *sqlite_version(void)
{
	return sqlite3_libversion();
}

static struct bench_db *sqlite_open(const char *dir)
{
	struct bench_db *db = bench_malloc(sizeof(*db));

	db->dir = strdup(dir);
	if (db->dir == NULL)
		bench_die("sqlite", "out of memory");
	db->conn = sqlite_connect(dir);
	exec(db->conn, "PRAGMA journal_mode=WAL");
	exec(db->conn, "PRAGMA synchronous=FULL");
	db->synchronous_full = 1;
	exec(db->conn, "CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) "
	               "WITHOUT ROWID");
	db->begin = prepare(db->conn, "BEGIN IMMEDIATE");
	db->commit = prepare(db->conn, "COMMIT");
	db->put =
	        prepare(db->conn, "INSERT OR REPLACE INTO kv VALUES (?1, ?2)");
	db->del = prepare(db->conn, "DELETE FROM kv WHERE k = ?1");
	db->count = prepare(db->conn, "SELECT count(*) FROM kv");
	return db;
}

static void sqlite_close(struct bench_db *db)
{
	sqlite3_finalize(db->begin);
	sqlite3_finalize(db->commit);
	sqlite3_finalize(db->put);
	sqlite3_finalize(db->del);
	sqlite3_finalize(db->count);
	check(db->conn, sqlite3_close(db->conn), "sqlite3_close");
	free(db->dir);
	free(db);
}

static void set_synchronous(struct bench_db *db, int full)
{
	if (db->synchronous_full == full)
		return;
	exec(db->conn,
	     full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
	db->synchronous_full = full;
}

static void sqlite_write(struct bench_db *db, uint64_t first, uint64_t count,
                         int durable)
{
	uint8_t key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
	uint64_t i;

	set_synchronous(db, durable);
	step_done(db->conn, db->begin);
	for (i = first; i < first + count; i++) {
		bench_key(i, key);
		bench_value(i, val);
		sqlite3_bind_blob(db->put, 1, key, sizeof(key), SQLITE_STATIC);
		sqlite3_bind_blob(db->put, 2, val, sizeof(val), SQLITE_STATIC);
		step_done(db->conn, db->put);
	}
	step_done(db->conn, db->commit);
}

static void sqlite_sync(struct bench_db *db)
{
	set_synchronous(db, 1);
	check(db->conn,
	      sqlite3_wal_checkpoint_v2(db->conn, NULL,
	                                SQLITE_CHECKPOINT_PASSIVE, NULL, NULL),
	      "sqlite3_wal_checkpoint_v2");
}

static void sqlite_remove(struct bench_db *db, uint64_t first, uint64_t count)
{
	uint8_t key[BENCH_KEY_LEN];
	uint64_t i;

	set_synchronous(db, 1);
	step_done(db->conn, db->begin);
	for (i = first; i < first + count; i++) {
		bench_key(i, key);
		sqlite3_bind_blob(db->del, 1, key, sizeof(key), SQLITE_STATIC);
		step_done(db->conn, db->del);
		if (sqlite3_changes(db->conn) != 1)
			bench_die("sqlite", "delete: item %llu not found",
			          (unsigned long long)i);
	}
	step_done(db->conn, db->commit);
}

static uint64_t sqlite_count(struct bench_db *db)
{
	int rc = sqlite3_step(db->count);
	uint64_t n;

	if (rc != SQLITE_ROW)
		check(db->conn, rc == SQLITE_DONE ? SQLITE_MISUSE : rc,
		      "SELECT count(*)");
	n = (uint64_t)sqlite3_column_int64(db->count, 0);
	sqlite3_reset(db->count);
	return n;
}

static struct bench_reader *sqlite_reader_open(struct bench_db *db)
{
	struct bench_reader *r = bench_malloc(sizeof(*r));

	r->conn = sqlite_connect(db->dir);
	r->get = prepare(r->conn, "SELECT v FROM kv WHERE k = ?1");
	r->scan = prepare(r->conn, "SELECT k, v FROM kv WHERE k >= ?1 "
	                           "ORDER BY k LIMIT ?2");
	exec(r->conn, "BEGIN");
	return r;
}

static void sqlite_reader_close(struct bench_reader *r)
{
	sqlite3_finalize(r->get);
	sqlite3_finalize(r->scan);
	exec(r->conn, "COMMIT");
	check(r->conn, sqlite3_close(r->conn), "sqlite3_close");
	free(r);
}

static int sqlite_get(struct bench_reader *r, const uint8_t *key, size_t klen,
                      const void **val, size_t *vlen)
{
	int rc;

	sqlite3_reset(r->get);
	sqlite3_bind_blob(r->get, 1, key, (int)klen, SQLITE_STATIC);
	rc = sqlite3_step(r->get);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		check(r->conn, rc, "SELECT v");
	*val = sqlite3_column_blob(r->get, 0);
	*vlen = (size_t)sqlite3_column_bytes(r->get, 0);
	return 0;
}

static unsigned sqlite_scan(struct bench_reader *r, const uint8_t *key,
                            size_t klen, unsigned limit, uint64_t *sum)
{
	unsigned n = 0;
	int rc;

	sqlite3_bind_blob(r->scan, 1, key, (int)klen, SQLITE_STATIC);
	sqlite3_bind_int(r->scan, 2, (int)limit);
	while ((rc = sqlite3_step(r->scan)) == SQLITE_ROW) {
		const void *k = sqlite3_column_blob(r->scan, 0);
		size_t kl = (size_t)sqlite3_column_bytes(r->scan, 0);
		const void *v = sqlite3_column_blob(r->scan, 1);
		size_t vl = (size_t)sqlite3_column_bytes(r->scan, 1);

		*sum += bench_sum_entry(k, kl, v, vl);
		n++;
	}
	check(r->conn, rc, "SELECT k, v");
	sqlite3_reset(r->scan);
	return n;
}

static uint64_t sqlite_compact(struct bench_db *db, const char *dest)
{
	char *path = bench_join(dest, "data.sqlite");
	char *sql = sqlite3_mprintf("VACUUM INTO %Q", path);
	uint64_t size;

	if (sql == NULL)
		bench_die("sqlite", "out of memory");
	exec(db->conn, sql);
	sqlite3_free(sql);
	size = bench_path_size(path);
	free(path);
	return size;
}

const struct bench_engine bench_sqlite = {
	.name = "sqlite",
	.version = sqlite_version,
	.open = sqlite_open,
	.close = sqlite_close,
	.write = sqlite_write,
	.sync = sqlite_sync,
	.remove = sqlite_remove,
	.count = sqlite_count,
	.reader_open = sqlite_reader_open,
	.reader_close = sqlite_reader_close,
	.get = sqlite_get,
	.scan = sqlite_scan,
	.compact = sqlite_compact,
};
