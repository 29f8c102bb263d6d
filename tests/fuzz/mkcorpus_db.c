/*
 * mkcorpus_db.c: write the seed databases of the fuzz_db target.
 *
 *   fuzz-mkcorpus-db DIR
 *
 * Each seed is a real database made through kv.h, cut to the pages in use
 * (the engine grows files in 1 MiB steps; the rest is unused), so that
 * seeds stay a few pages long: an empty store; one table of small values;
 * a table with an overflow value and a deleted key; two tables, a
 * snapshot and freed pages on the freelist; and the last of these with
 * three more commits in its commit log (a table created, filled, keys
 * deleted, the table dropped) and its newest meta slot zeroed, so that
 * opening it repeats them from the log.  The first four in the corpus are
 * still those of format version 1 (no commit log), which the engine reads.  Rerun it when the format
 * changes and commit the files in tests/fuzz/corpus/fuzz_db/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cccfs/kv.h>

static void die(const char *what, int rc)
{
	fprintf(stderr, "mkcorpus-db: %s: %s (%s)\n", what, kv_strerror(rc),
	        kv_errmsg());
	exit(1);
}

static void put(kv_txn *txn, kv_table *t, const char *k, size_t vlen, int fill)
{
	char *v = malloc(vlen ? vlen : 1);
	int rc;

	if (v == NULL)
		die("malloc", -12);
	memset(v, fill, vlen);
	rc = kv_put(txn, t, (kv_val){ k, strlen(k) }, (kv_val){ v, vlen }, 0);
	free(v);
	if (rc != 0)
		die("kv_put", rc);
}

static void commit(kv_txn *txn)
{
	int rc = kv_txn_commit(txn);

	if (rc != 0)
		die("kv_txn_commit", rc);
}

static kv_txn *begin(kv_env *env, const char *table, kv_table **t)
{
	kv_txn *txn;
	int rc = kv_txn_begin(env, 0, &txn);

	if (rc != 0)
		die("kv_txn_begin", rc);
	if (table && (rc = kv_table_open(txn, table, KV_TABLE_CREATE, t)))
		die("kv_table_open", rc);
	return txn;
}

/* Seed number `which`: see the head of the file. */
static void fill(kv_env *env, int which)
{
	char key[32];
	kv_table *t;
	kv_txn *txn;
	int rc;

	if (which >= 1) {
		txn = begin(env, "records", &t);
		for (int i = 0; i < 12; i++) {
			snprintf(key, sizeof(key), "key-%02d", i);
			put(txn, t, key, 10 + 7 * (size_t)i, 'a' + i);
		}
		commit(txn);
	}
	if (which >= 2) {
		txn = begin(env, "records", &t);
		put(txn, t, "big", 5000, 'B');
		rc = kv_del(txn, t, (kv_val){ "key-03", 6 });
		if (rc != 0)
			die("kv_del", rc);
		commit(txn);
	}
	if (which >= 3) {
		txn = begin(env, "files", &t);
		if ((rc = kv_snapshot_create(txn, "before")))
			die("kv_snapshot_create", rc);
		for (int i = 0; i < 40; i++) {
			snprintf(key, sizeof(key), "workflows/f%02d.yaml", i);
			put(txn, t, key, 60, 'f');
		}
		commit(txn);
		txn = begin(env, "records", &t);
		put(txn, t, "big", 300, 'b'); /* frees the overflow run */
		commit(txn);
	}
	if (which >= 4) {
		txn = begin(env, "extra", &t);
		for (int i = 0; i < 5; i++) {
			snprintf(key, sizeof(key), "x%d", i);
			put(txn, t, key, 20, 'x');
		}
		commit(txn);
		txn = begin(env, "records", &t);
		if ((rc = kv_del(txn, t, (kv_val){ "key-05", 6 })))
			die("kv_del", rc);
		put(txn, t, "key-20", 30, 'z');
		commit(txn);
		txn = begin(env, NULL, NULL);
		if ((rc = kv_table_drop(txn, "extra")))
			die("kv_table_drop", rc);
		commit(txn);
	}
}

/* Zero the meta slot of the newest commit: opening falls back to the
 * other and repeats the rest from the commit log. */
static void drop_newest_meta(const char *path)
{
	unsigned char m[2][4096], zero[4096] = { 0 };
	FILE *f = fopen(path, "r+b");
	unsigned long long t[2];
	int newest;

	if (f == NULL || fread(m, 4096, 2, f) != 2)
		die("reading the meta slots", -5);
	memcpy(&t[0], m[0] + 48, 8); /* kv/format.h: MF_TXNID */
	memcpy(&t[1], m[1] + 48, 8);
	newest = t[1] > t[0];
	if (fseek(f, (long)newest * 4096, SEEK_SET) ||
	    fwrite(zero, 4096, 1, f) != 1 || fclose(f))
		die("zeroing the newest meta slot", -5);
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "empty", "small", "overflow",
		                             "snapshot", "log" };

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < 5; i++) {
		char path[4096], lock[4200];
		struct kv_stat st;
		kv_env *env;
		int rc;

		snprintf(path, sizeof(path), "%s/%s.db", argv[1], names[i]);
		snprintf(lock, sizeof(lock), "%s-lock", path);
		unlink(path);
		rc = kv_env_open(&env, path, KV_CREATE, 0644);
		if (rc != 0)
			die(path, rc);
		fill(env, i);
		if ((rc = kv_env_stat(env, &st)))
			die("kv_env_stat", rc);
		kv_env_close(env);
		if (truncate(path, (off_t)(st.pages_total * st.page_size)))
			die("truncate", -1);
		if (i == 4)
			drop_newest_meta(path);
		unlink(lock);
		printf("%s: %llu pages\n", path,
		       (unsigned long long)st.pages_total);
	}
	return 0;
}
