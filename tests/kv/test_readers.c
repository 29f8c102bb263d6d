/*
 * test_readers.c: readers that cannot write the lock file.
 *
 * Regression: the lock file is created 0600, so another user allowed to
 * read the database could not open it, and could not register as a
 * reader.  Its KV_RDONLY open read a state of its own from the meta
 * slots, and a writer of the owner's reused that state's pages under it:
 * it reported corruption that was not there (keys and entries missing,
 * pages written by a later txn than their parent expects), or its open
 * failed with "logged commits must be recovered, which needs write
 * access", when a page of the newest commit was reused while the open
 * verified it.  Now such a reader pins each txnid it reads with a shared
 * byte lock on the database file, which every writer honours
 * (kv/readers.c).
 *
 * The reader runs in a child process that cannot write the lock file: as
 * uid and gid 65534 when the suite runs as root (the store is made
 * readable by others, the lock file stays 0600), else as the owner with
 * the lock file made read-only.
 *
 *   - test_pinned_read: a read transaction keeps its commit, every entry
 *     intact, while the writer rewrites every entry and checkpoints again
 *     and again; the writer's kv_env_stat counts the reader; the reader's
 *     next transaction sees the newest commit, and kv_check is clean.
 *   - test_beside_live_writer: opens, scans and checks in a loop while a
 *     writer commits as fast as it can (durable commits through the log,
 *     checkpoints, files growing): every open succeeds, every scan sees
 *     one whole commit, never an older one than the scan before, and
 *     every check is clean.
 *
 * Values check themselves: the first 8 bytes hold the generation that
 * wrote the entry, the rest are kt_fill() bytes of (generation, key).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "kvtest.h"
#include "tmpdir.h"

#define NKEYS 2000u
#define OTHER_ID 65534 /* nobody */
#define SKIP_EXIT 77   /* the child cannot reach the store: skip */

/* ---- self-checking entries -------------------------------------------- */

static void key_of(char *buf, unsigned i)
{
	snprintf(buf, 16, "k%05u", i);
}

static size_t len_of(uint64_t gen, unsigned i)
{
	return 16 + kt_mix(gen * NKEYS + i) % 600;
}

static uint64_t tag_of(uint64_t gen, unsigned i)
{
	return gen << 32 | i;
}

static void put_entry(kv_txn *txn, kv_table *t, uint64_t gen, unsigned i)
{
	unsigned char buf[1024];
	size_t len = len_of(gen, i);
	char key[16];

	key_of(key, i);
	memcpy(buf, &gen, 8);
	kt_fill(buf + 8, len - 8, tag_of(gen, i));
	assert_int_equal(kv_put(txn, t, (kv_val){ key, strlen(key) },
	                        (kv_val){ buf, len }, 0),
	                 0);
}

/*
 * One commit of generation gen: the entries i with i % every == gen %
 * every rewritten (all of them with every == 1), and key "gen" of table
 * "g" set to gen.
 */
static void commit_gen(kv_env *env, uint64_t gen, unsigned every)
{
	kv_txn *txn;
	kv_table *t;

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "p", KV_TABLE_CREATE, &t), 0);
	for (unsigned i = 0; i < NKEYS; i++)
		if (i % every == gen % every)
			put_entry(txn, t, gen, i);
	assert_int_equal(kv_table_open(txn, "g", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(kv_put(txn, t, (kv_val){ "gen", 3 },
	                        (kv_val){ &gen, sizeof(gen) }, 0),
	                 0);
	assert_int_equal(kv_txn_commit(txn), 0);
}

#define CHILD_CHECK(cond, ...)                        \
	do {                                          \
		if (!(cond)) {                        \
			fprintf(stderr, "reader: ");  \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n");        \
			return 1;                     \
		}                                     \
	} while (0)

/*
 * Scan one read transaction: NKEYS entries, each whole and of no later
 * generation than the commit's (with exact, all of the commit's own).
 * *gen_out: the commit's generation.
 */
static int scan(kv_txn *txn, bool exact, uint64_t *gen_out)
{
	kv_table *t;
	kv_cursor *c;
	kv_val k, v;
	uint64_t gen;
	unsigned n = 0;
	int rc;

	rc = kv_table_open(txn, "g", 0, &t);
	CHILD_CHECK(rc == 0, "table g: %s", kt_err(rc));
	rc = kv_get(txn, t, (kv_val){ "gen", 3 }, &v);
	CHILD_CHECK(rc == 0 && v.len == 8, "key gen: %s", kt_err(rc));
	memcpy(&gen, v.data, 8);
	rc = kv_table_open(txn, "p", 0, &t);
	CHILD_CHECK(rc == 0, "table p: %s", kt_err(rc));
	CHILD_CHECK(kv_cursor_open(txn, t, &c) == 0, "cursor");
	for (rc = kv_cursor_first(c, &k, &v); rc == 0;
	     rc = kv_cursor_next(c, &k, &v), n++) {
		char want[16];
		uint64_t g;

		key_of(want, n);
		CHILD_CHECK(n < NKEYS && k.len == strlen(want) &&
		                    memcmp(k.data, want, k.len) == 0,
		            "txn %" PRIu64 ": entry %u is not %s",
		            kv_txn_id(txn), n, want);
		CHILD_CHECK(v.len >= 16, "%s: %zu bytes", want, v.len);
		memcpy(&g, v.data, 8);
		CHILD_CHECK(g <= gen && (!exact || g == gen) &&
		                    v.len == len_of(g, n) &&
		                    kt_vcheck((const uint8_t *)v.data + 8,
		                              v.len - 8, tag_of(g, n)) < 0,
		            "txn %" PRIu64 " (generation %" PRIu64
		            "): %s damaged (generation %" PRIu64 ", %zu bytes)",
		            kv_txn_id(txn), gen, want, g, v.len);
	}
	kv_cursor_close(c);
	CHILD_CHECK(rc == KV_ENOTFOUND, "txn %" PRIu64 ": scan: %s",
	            kv_txn_id(txn), kt_err(rc));
	CHILD_CHECK(n == NKEYS, "txn %" PRIu64 ": %u entries", kv_txn_id(txn),
	            n);
	*gen_out = gen;
	return 0;
}

static int check_clean(kv_env *env)
{
	char msgs[2048] = "";
	struct kv_check_report rep;
	int rc = kt_check(env, &rep, msgs, sizeof(msgs));

	CHILD_CHECK(rc == 0, "kv_check: %s, %" PRIu64 " problems:\n%s",
	            kt_err(rc), rep.problems, msgs);
	return 0;
}

/* ---- a reader without the lock file ----------------------------------- */

static bool as_root(void)
{
	return geteuid() == 0;
}

/* Before the fork: let the other user read the store (root), or take the
 * write permission of the lock file away (its owner). */
static void share_store(const char *dir, const char *path)
{
	char lock[4200];

	snprintf(lock, sizeof(lock), "%s-lock", path);
	if (as_root()) {
		assert_int_equal(chmod(dir, 0755), 0);
		assert_int_equal(chmod(path, 0644), 0);
	} else {
		assert_int_equal(chmod(lock, 0400), 0);
	}
}

/* In the child: become the reader without the lock file.  0, SKIP_EXIT
 * when the other user cannot reach the store, else 1. */
static int become_other(const char *path)
{
	char lock[4200];
	int fd;

	if (as_root()) {
		CHILD_CHECK(setgroups(0, NULL) == 0 && setgid(OTHER_ID) == 0 &&
		                    setuid(OTHER_ID) == 0,
		            "cannot become uid %d: %s", OTHER_ID,
		            strerror(errno));
	}
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "reader: %s: %s; skipped\n", path,
		        strerror(errno));
		return SKIP_EXIT;
	}
	close(fd);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	fd = open(lock, O_RDWR);
	CHILD_CHECK(fd < 0 && errno == EACCES,
	            "%s: still writable by the reader", lock);
	return 0;
}

/* Fork a reader running fn(path, arg); its pid. */
static pid_t start_reader(int (*fn)(const char *path, int arg),
                          const char *path, int arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = become_other(path);

		alarm(200); /* a reader left waiting ends */
		_exit(rc != 0 ? rc : fn(path, arg));
	}
	return pid;
}

/* Wait for the reader: passes, skips the test, or fails it. */
static void end_reader(pid_t pid, const char *what)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("%s: the reader died of signal %d", what,
		         WTERMSIG(status));
	if (WEXITSTATUS(status) == SKIP_EXIT)
		skip();
	if (WEXITSTATUS(status) != 0)
		fail_msg("%s: the reader failed (exit %d); see above", what,
		         WEXITSTATUS(status));
}

/* ---- one read transaction while everything is rewritten ---------------- */

static int fd_to_parent = -1, fd_from_parent = -1;

static int pinned_reader(const char *path, int arg)
{
	kv_env *env;
	kv_txn *old, *now;
	uint64_t gen, newest;
	char c = 'r';
	int rc;

	(void)arg;
	rc = kv_env_open(&env, path, KV_RDONLY, 0);
	CHILD_CHECK(rc == 0, "open: %s", kt_err(rc));
	rc = kv_txn_begin(env, KV_TXN_RDONLY, &old);
	CHILD_CHECK(rc == 0, "begin: %s", kt_err(rc));
	if (scan(old, true, &gen) != 0)
		return 1;
	CHILD_CHECK(gen == 1, "generation %" PRIu64 " at first", gen);
	CHILD_CHECK(write(fd_to_parent, &c, 1) == 1, "pipe");
	CHILD_CHECK(read(fd_from_parent, &c, 1) == 1, "pipe");
	/* the writer rewrote everything, many times over: this txn still
	 * reads generation 1, whole */
	if (scan(old, true, &gen) != 0)
		return 1;
	CHILD_CHECK(gen == 1, "generation %" PRIu64 " later", gen);
	kv_txn_abort(old);
	rc = kv_txn_begin(env, KV_TXN_RDONLY, &now);
	CHILD_CHECK(rc == 0, "begin: %s", kt_err(rc));
	if (scan(now, true, &newest) != 0)
		return 1;
	kv_txn_abort(now);
	CHILD_CHECK(newest > 1, "the newest commits are not seen");
	if (check_clean(env) != 0)
		return 1;
	kv_env_close(env);
	return 0;
}

static void test_pinned_read(void **state)
{
	const char *dir = kt_tmpdir("pinned");
	char path[4096], c;
	int up[2], down[2];
	struct kv_stat st;
	kv_env *env;
	pid_t pid;
	uint64_t gen, readers;

	(void)state;
	alarm(120);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	commit_gen(env, 1, 1);
	assert_int_equal(kv_env_checkpoint(env), 0);
	share_store(dir, path);
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	fd_to_parent = up[1];
	fd_from_parent = down[0];
	pid = start_reader(pinned_reader, path, 0);
	if (read(up[0], &c, 1) != 1) {
		end_reader(pid, "pinned read"); /* skipped, or says why */
		fail_msg("the reader ended early");
	}
	/* the reader waits for the pipe: the writer's failures are told
	 * once it has been let go */
	readers = kv_env_stat(env, &st) == 0 ? st.readers : 0;
	/* every entry rewritten, each time durable and the file synced:
	 * without the reader's pin its pages would be reused at once */
	for (gen = 2; gen < 40; gen++) {
		commit_gen(env, gen, 1);
		assert_int_equal(kv_env_checkpoint(env), 0);
	}
	assert_int_equal(write(down[1], "g", 1), 1);
	end_reader(pid, "pinned read");
	if (readers < 1)
		fail_msg("kv_env_stat counted %" PRIu64 " readers", readers);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	/* the reader is gone: its pages are reused again */
	commit_gen(env, gen, 1);
	assert_int_equal(kv_env_checkpoint(env), 0);
	assert_int_equal(kv_env_stat(env, &st), 0);
	assert_int_equal(st.readers, 0);
	kt_check_clean(env, "after the reader");
	kv_env_close(env);
	alarm(0);
}

/* ---- beside a live writer ---------------------------------------------- */

static int live_reader(const char *path, int seconds)
{
	time_t end = time(NULL) + seconds;
	uint64_t last = 0, scans = 0, opens = 0;

	while (time(NULL) < end) {
		kv_env *env;
		int rc = kv_env_open(&env, path, KV_RDONLY, 0);

		CHILD_CHECK(rc == 0, "open %" PRIu64 ": %s", opens, kt_err(rc));
		opens++;
		for (int i = 0; i < 5; i++) {
			kv_txn *txn;
			uint64_t gen;

			rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);
			CHILD_CHECK(rc == 0, "begin: %s", kt_err(rc));
			if (scan(txn, false, &gen) != 0)
				return 1;
			kv_txn_abort(txn);
			CHILD_CHECK(gen >= last,
			            "generation %" PRIu64 " after %" PRIu64,
			            gen, last);
			last = gen;
			scans++;
		}
		if (check_clean(env) != 0)
			return 1;
		kv_env_close(env);
	}
	fprintf(stderr,
	        "reader: %" PRIu64 " opens, %" PRIu64
	        " scans, up to generation %" PRIu64 "\n",
	        opens, scans, last);
	return 0;
}

static void test_beside_live_writer(void **state)
{
	const char *dir = kt_tmpdir("live");
	int seconds = kt_long() ? 30 : 3;
	char path[4096];
	kv_env *env;
	uint64_t gen;
	pid_t pid;
	int status;

	(void)state;
	alarm(300);
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	commit_gen(env, 1, 1);
	share_store(dir, path);
	pid = start_reader(live_reader, path, seconds);
	/* durable commits of an eighth of the entries each, through the
	 * log, a checkpoint each time the log fills; every tenth commit a
	 * checkpoint of its own */
	for (gen = 2; waitpid(pid, &status, WNOHANG) == 0; gen++) {
		commit_gen(env, gen, 8);
		if (gen % 10 == 0)
			assert_int_equal(kv_env_checkpoint(env), 0);
	}
	fprintf(stderr, "writer: %" PRIu64 " commits\n", gen - 2);
	if (WIFSIGNALED(status))
		fail_msg("the reader died of signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) == SKIP_EXIT)
		skip();
	if (WEXITSTATUS(status) != 0)
		fail_msg("the reader failed (exit %d); see above",
		         WEXITSTATUS(status));
	kt_check_clean(env, "after the live reader");
	kv_env_close(env);
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pinned_read, kt_teardown),
		cmocka_unit_test_teardown(test_beside_live_writer, kt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
