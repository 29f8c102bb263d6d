/*
 * send and receive (fs/store/send.h, stream.h) against the real engine:
 * full and incremental streams round-trip table by table, byte for byte;
 * every single-byte change and every truncation of a small stream is
 * refused with nothing changed; a missing base, a changed live tree, a
 * non-empty store for a full stream and a name taken by another snapshot
 * are refused (and --force replaces the live tree); a stream received
 * twice changes nothing; and a crash at every write and sync of a receive,
 * with a power loss, leaves the receiver at its old state or the new one.
 */
#include <errno.h>
#include <inttypes.h>
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

#include <cccfs/kv.h>

#include "fstest.h"
#include "kvtest.h"
#include "send.h"
#include "store.h"
#include "stream.h"
#include "tmpdir.h"

/* ---- stores and streams ------------------------------------------------ */

static kv_env *new_store(const char *dir, const char *name)
{
	char path[4096];
	kv_env *env;

	tmpdir_path(path, sizeof(path), dir, name);
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(store_init(env, 0, 0), 0);
	return env;
}

struct stream {
	unsigned char *b;
	size_t len;
};

static void send_to(kv_env *env, const char *target, const char *base,
                    struct stream *s)
{
	struct send_stat st;
	char msg[200];
	FILE *f = tmpfile();
	long len;

	assert_non_null(f);
	assert_int_equal(
	        store_send(env, target, base, fileno(f), &st, msg, sizeof(msg)),
	        0);
	len = lseek(fileno(f), 0, SEEK_END);
	assert_true(len > 0 && (uint64_t)len == st.bytes);
	s->len = (size_t)len;
	s->b = malloc(s->len);
	assert_non_null(s->b);
	assert_int_equal(pread(fileno(f), s->b, s->len, 0), (ssize_t)s->len);
	fclose(f);
}

static int receive(kv_env *env, const void *b, size_t len, bool force,
                   struct recv_result *res)
{
	struct stream_reader r;
	int rc;

	stream_reader_init_mem(&r, b, len);
	rc = store_receive(env, &r, force, res);
	stream_reader_release(&r);
	return rc;
}

static uint64_t last_txnid(kv_env *env)
{
	kv_txn *txn;
	uint64_t id;

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	id = kv_txn_id(txn);
	kv_txn_abort(txn);
	return id;
}

/* ---- comparing --------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* A txn's store tables, every key and value, as one hash per table. */
static void table_hashes(kv_txn *txn, uint64_t h[STORE_NTABLES])
{
	for (int i = 0; i < STORE_NTABLES; i++) {
		kv_table *t;
		kv_cursor *c;
		kv_val k, v;
		int rc;

		h[i] = 0xcbf29ce484222325ull;
		if (kv_table_open(txn, store_table_name(i), 0, &t) != 0)
			continue;
		assert_int_equal(kv_cursor_open(txn, t, &c), 0);
		for (rc = kv_cursor_first(c, &k, &v); rc == 0;
		     rc = kv_cursor_next(c, &k, &v)) {
			uint64_t l[2] = { k.len, v.len };

			h[i] = fnv(h[i], l, sizeof(l));
			h[i] = fnv(h[i], k.data, k.len);
			h[i] = fnv(h[i], v.data, v.len);
		}
		assert_int_equal(rc, KV_ENOTFOUND);
		kv_cursor_close(c);
	}
}

/* The tables of a snapshot (NULL: the live tree). */
static void hashes_of(kv_env *env, const char *name, uint64_t h[STORE_NTABLES])
{
	kv_txn *txn;

	if (name)
		assert_int_equal(kv_txn_begin_snapshot(env, name, &txn), 0);
	else
		assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	table_hashes(txn, h);
	kv_txn_abort(txn);
}

static void same_tables(kv_env *a, const char *sa, kv_env *b, const char *sb)
{
	uint64_t ha[STORE_NTABLES], hb[STORE_NTABLES];

	hashes_of(a, sa, ha);
	hashes_of(b, sb, hb);
	for (int i = 0; i < STORE_NTABLES; i++)
		if (ha[i] != hb[i])
			fail_msg("table %s differs", store_table_name(i));
}

static void snapshot_info(kv_env *env, const char *name,
                          struct kv_snapshot_info *si)
{
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_snapshot_get(txn, name, si), 0);
	kv_txn_abort(txn);
}

/* The received snapshot is the sender's: tables, id, time; and the
 * receiver's live tree is it too. */
static void same_snapshot(kv_env *a, kv_env *b, const char *name)
{
	struct kv_snapshot_info ia, ib;

	same_tables(a, name, b, name);
	same_tables(a, name, b, NULL);
	snapshot_info(a, name, &ia);
	snapshot_info(b, name, &ib);
	assert_memory_equal(ia.id, ib.id, KV_SNAPSHOT_ID_LEN);
	assert_int_equal(ia.created_ns, ib.created_ns);
	assert_int_equal(ia.records, ib.records);
}

/* ---- the sender's history ---------------------------------------------- */

/* s1: a few records, a folder, a side file; s2 and s3: changes of each
 * kind, including a value over a page (overflow). */
static void sender_steps(kv_env *a, int upto)
{
	static char big[9000];

	memset(big, 'x', sizeof(big) - 1);
	big[0] = '#';
	if (upto >= 1) {
		put_file(a, "prompts/a.yaml", "name: a\n");
		put_dir(a, "prompts/d");
		put_file(a, "prompts/d/b.yaml", "name: b\n");
		put_file(a, "agents/x.yaml", "name: x\n");
		put_file(a, "prompts/notes.txt", "side file\n");
		take_snapshot(a, "s1");
	}
	if (upto >= 2) {
		put_file(a, "prompts/a.yaml", "name: a2\n");
		put_file(a, "workflows/w.yaml", big);
		put_file(a, "prompts/notes.txt", "side file, again\n");
		take_snapshot(a, "s2");
	}
	if (upto >= 3) {
		struct stx s;

		assert_int_equal(stx_begin(a, true, &s), 0);
		assert_int_equal(
		        store_remove(&s, "agents/x.yaml", S_IFREG | 0644), 0);
		assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
		put_file(a, "prompts/d/c.yaml", "name: c\n");
		take_snapshot(a, "s3");
	}
}

/* ---- the tests ----------------------------------------------------------- */

static void round_trip(void **state)
{
	const char *dir = kt_tmpdir("send-trip");
	kv_env *a = new_store(dir, "a.db"), *b = new_store(dir, "b.db");
	struct stream full, i12, i23;
	struct recv_result res;

	(void)state;
	sender_steps(a, 3);
	send_to(a, "s1", NULL, &full);
	send_to(a, "s2", "s1", &i12);
	send_to(a, "s3", "s2", &i23);

	assert_int_equal(receive(b, full.b, full.len, false, &res), 0);
	assert_false(res.already);
	same_snapshot(a, b, "s1");
	assert_int_equal(receive(b, i12.b, i12.len, false, &res), 0);
	same_snapshot(a, b, "s2");
	assert_int_equal(receive(b, i23.b, i23.len, false, &res), 0);
	same_snapshot(a, b, "s3");
	same_tables(a, "s1", b, "s1"); /* the older ones stay whole */
	kt_check_clean(b, "after three receives");

	/* the same stream again: nothing changes */
	uint64_t before = last_txnid(b);
	assert_int_equal(receive(b, i23.b, i23.len, false, &res), 0);
	assert_true(res.already);
	assert_int_equal(receive(b, full.b, full.len, false, &res), 0);
	assert_true(res.already);
	assert_int_equal(last_txnid(b), before);

	/* an incremental stream is about the change, not the store */
	printf("full %zu bytes, incremental %zu and %zu\n", full.len, i12.len,
	       i23.len);
	free(full.b);
	free(i12.b);
	free(i23.b);
	kv_env_close(a);
	kv_env_close(b);
}

/* Refused, and the receiver's commit and tables are as they were. */
static void refused(kv_env *b, const unsigned char *p, size_t len,
                    uint64_t txnid, const uint64_t h[STORE_NTABLES],
                    const char *what, size_t at)
{
	struct recv_result res;
	uint64_t now[STORE_NTABLES];
	int rc = receive(b, p, len, false, &res);

	if (rc == 0)
		fail_msg("%s at byte %zu was received", what, at);
	assert_true(res.msg[0] != '\0');
	assert_int_equal(last_txnid(b), txnid);
	hashes_of(b, NULL, now);
	assert_memory_equal(now, h, sizeof(now));
}

static void damage(void **state)
{
	const char *dir = kt_tmpdir("send-damage");
	kv_env *a = new_store(dir, "a.db"), *b = new_store(dir, "b.db");
	uint64_t h[STORE_NTABLES], txnid;
	struct stream s;
	unsigned char *p;

	(void)state;
	put_file(a, "prompts/a.yaml", "name: a\n");
	take_snapshot(a, "s1");
	send_to(a, "s1", NULL, &s);
	p = malloc(s.len);
	assert_non_null(p);
	txnid = last_txnid(b);
	hashes_of(b, NULL, h);
	for (size_t i = 0; i < s.len; i++) {
		static const unsigned char flips[] = { 0x01, 0x80, 0xff };

		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(p, s.b, s.len);
			p[i] ^= flips[f];
			refused(b, p, s.len, txnid, h, "a changed byte", i);
		}
	}
	for (size_t len = 0; len < s.len; len++)
		refused(b, s.b, len, txnid, h, "a truncation", len);
	/* a byte too many */
	p = realloc(p, s.len + 1);
	assert_non_null(p);
	memcpy(p, s.b, s.len);
	p[s.len] = 0;
	refused(b, p, s.len + 1, txnid, h, "an extra byte", s.len);
	printf("%zu-byte stream: %zu changed bytes and %zu truncations "
	       "refused\n",
	       s.len, 3 * s.len, s.len);
	free(p);
	free(s.b);
	kv_env_close(a);
	kv_env_close(b);
}

static void unknown_version(void **state)
{
	const char *dir = kt_tmpdir("send-version");
	kv_env *a = new_store(dir, "a.db"), *b = new_store(dir, "b.db");
	struct recv_result res;
	struct stream s;

	(void)state;
	take_snapshot(a, "s1");
	send_to(a, "s1", NULL, &s);
	s.b[8] = 2; /* format version 2: unknown, whatever the checksum */
	assert_int_equal(receive(b, s.b, s.len, false, &res), -EPROTONOSUPPORT);
	assert_non_null(strstr(res.msg, "version 2"));
	free(s.b);
	kv_env_close(a);
	kv_env_close(b);
}

static void refusals(void **state)
{
	const char *dir = kt_tmpdir("send-refuse");
	kv_env *a = new_store(dir, "a.db"), *b = new_store(dir, "b.db");
	kv_env *c = new_store(dir, "c.db");
	struct stream full, i12, full2;
	struct recv_result res;
	uint64_t txnid;

	(void)state;
	sender_steps(a, 2);
	send_to(a, "s1", NULL, &full);
	send_to(a, "s2", "s1", &i12);
	send_to(a, "s2", NULL, &full2);

	/* the base is not here: refused, naming it */
	txnid = last_txnid(b);
	assert_int_equal(receive(b, i12.b, i12.len, false, &res), -ENOENT);
	assert_non_null(strstr(res.msg, "'s1'"));
	assert_int_equal(last_txnid(b), txnid);

	/* the live tree changed since the base: refused, then forced */
	assert_int_equal(receive(b, full.b, full.len, false, &res), 0);
	put_file(b, "prompts/local.yaml", "name: local\n");
	txnid = last_txnid(b);
	assert_int_equal(receive(b, i12.b, i12.len, false, &res), -ESTALE);
	assert_non_null(strstr(res.msg, "--force"));
	assert_int_equal(last_txnid(b), txnid);
	assert_int_equal(receive(b, i12.b, i12.len, true, &res), 0);
	same_snapshot(a, b, "s2");
	kt_check_clean(b, "after a forced receive");

	/* a full stream into a store with records: refused, then forced */
	put_file(c, "prompts/mine.yaml", "name: mine\n");
	txnid = last_txnid(c);
	assert_int_equal(receive(c, full2.b, full2.len, false, &res), -ESTALE);
	assert_int_equal(last_txnid(c), txnid);
	assert_int_equal(receive(c, full2.b, full2.len, true, &res), 0);
	same_snapshot(a, c, "s2");

	/* the target's name taken by another snapshot */
	kv_env_close(c);
	c = new_store(dir, "d.db");
	take_snapshot(c, "s1");
	txnid = last_txnid(c);
	assert_int_equal(receive(c, full.b, full.len, false, &res), -EEXIST);
	assert_int_equal(last_txnid(c), txnid);

	free(full.b);
	free(i12.b);
	free(full2.b);
	kv_env_close(a);
	kv_env_close(b);
	kv_env_close(c);
}

/* ---- power loss during a receive ------------------------------------- */

/* The live tables and the snapshots (name and id), as one string. */
static char *digest(kv_env *env)
{
	uint64_t h[STORE_NTABLES];
	char *s = malloc(4096);
	size_t n = 0;
	kv_txn *txn;
	struct kv_snapshot_info si;

	assert_non_null(s);
	hashes_of(env, NULL, h);
	for (int i = 0; i < STORE_NTABLES; i++)
		n += (size_t)snprintf(s + n, 4096 - n, "%016" PRIx64 " ", h[i]);
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	if (kv_snapshot_get(txn, "s2", &si) == 0) {
		char hex[33];

		stream_id_hex(si.id, hex);
		snprintf(s + n, 4096 - n, "s2=%s", hex);
	}
	kv_txn_abort(txn);
	return s;
}

static void power_loss(void **state)
{
	const char *dir = kt_tmpdir("send-power");
	kv_env *a = new_store(dir, "a.db"), *b;
	char path[4096], lock[4200], log[4200], *old, *new;
	uint64_t base_ops, end_ops;
	unsigned outcomes[2] = { 0, 0 };
	struct recv_result res;
	struct stream s;
	struct kt_fio f;
	struct kt_rng r;

	(void)state;
	sender_steps(a, 2);
	send_to(a, "s2", NULL, &s);
	tmpdir_path(path, sizeof(path), dir, "b.db");
	snprintf(lock, sizeof(lock), "%s-lock", path);
	snprintf(log, sizeof(log), "%s-undo", path);

	/* without faults: the operations a receive makes */
	assert_int_equal(kt_fio_init(&f, path, log), 0);
	assert_int_equal(kv_env_open_io(&b, path, KV_CREATE, 0600, &f.io), 0);
	assert_int_equal(store_init(b, 0, 0), 0);
	put_file(b, "prompts/old.yaml", "name: old\n");
	assert_int_equal(kv_env_sync(b), 0); /* the old state is durable */
	old = digest(b);
	base_ops = f.ops;
	assert_int_equal(receive(b, s.b, s.len, true, &res), 0);
	end_ops = f.ops;
	new = digest(b);
	assert_string_not_equal(old, new);
	kv_env_close(b);
	kt_fio_release(&f);
	assert_true(end_ops > base_ops);
	/* a receive that returned is durable */
	kt_power_loss(path, log, NULL, KT_LOSE_ALL, 0, NULL);
	assert_int_equal(kv_env_open(&b, path, 0, 0600), 0);
	kt_check_clean(b, "after a power loss");
	char *after = digest(b);
	assert_string_equal(after, new);
	free(after);
	kv_env_close(b);

	for (uint64_t at = base_ops + 1; at <= end_ops; at++) {
		for (int v = 0; v < 2; v++) {
			char *got;

			unlink(path);
			unlink(lock);
			unlink(log);
			assert_int_equal(kt_fio_init(&f, path, log), 0);
			assert_int_equal(kv_env_open_io(&b, path, KV_CREATE,
			                                0600, &f.io),
			                 0);
			assert_int_equal(store_init(b, 0, 0), 0);
			put_file(b, "prompts/old.yaml", "name: old\n");
			assert_int_equal(kv_env_sync(b), 0);
			assert_int_equal(f.ops, base_ops);
			/* node times are the clock's: this run's own */
			free(old);
			old = digest(b);
			f.crash_at = at;
			f.tear = v == 1;
			f.tear_seed = kt_mix(at);
			(void)receive(b, s.b, s.len, true, &res);
			assert_true(f.dead);
			kv_env_close(b);
			kt_fio_release(&f);
			kt_rng_init(&r, kt_mix(at * 2 + (uint64_t)v));
			kt_power_loss(path, log, &r,
			              v == 0 ? KT_LOSE_RANDOM : KT_LOSE_ALL, 0,
			              NULL);
			assert_int_equal(kv_env_open(&b, path, 0, 0600), 0);
			kt_check_clean(b, "after the crash");
			got = digest(b);
			if (strcmp(got, old) == 0)
				outcomes[0]++;
			else if (strcmp(got, new) == 0)
				outcomes[1]++;
			else
				fail_msg("crash at op %" PRIu64
				         ": got %s, want "
				         "%s or %s",
				         at, got, old, new);
			free(got);
			kv_env_close(b);
		}
	}
	printf("%" PRIu64 " crash points, twice each: %u old, %u new\n",
	       end_ops - base_ops, outcomes[0], outcomes[1]);
	assert_true(outcomes[0] > 0);
	free(old);
	free(new);
	free(s.b);
	kv_env_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(round_trip, kt_teardown),
		cmocka_unit_test_teardown(damage, kt_teardown),
		cmocka_unit_test_teardown(unknown_version, kt_teardown),
		cmocka_unit_test_teardown(refusals, kt_teardown),
		cmocka_unit_test_teardown(power_loss, kt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
