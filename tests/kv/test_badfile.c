/*
 * test_badfile.c: files that are not (or no longer) good databases.
 *
 * Each case must end in a clear error (a KV_E* code, a non-empty
 * kv_strerror() and kv_errmsg()), never in a crash or a silently wrong
 * store: random bytes, a text file (also with KV_CREATE, which must not
 * overwrite it), an empty file, a file shorter than the two meta pages, a
 * truncated database, a future format version, damaged meta slots, a
 * garbage lock file, a lock file that cannot be made (the store must not
 * be created then), and data and overflow pages with flipped bytes, a
 * scrambled header or zeroes (kv_check must report KV_ECORRUPT with a line
 * naming the page, and reading the store, by cursor, kv_get or
 * kv_table_diff, must not crash).  A damaged branch page must also be
 * reported with the keys below it, which the check could not reach.  A
 * failed open leaves no lock file where there was none.
 *
 * Cases that might crash run in a child process, so that a crash is
 * reported as a failure of that case with its signal.  Field offsets come
 * from kv/format.h, the one description of the on-disk format.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include <cccfs/kv.h>

#include "format.h"
#include "dbfile.h"
#include "kvtest.h"
#include "tmpdir.h"

#define NKEYS 3000u
#define NBIG 5u
#define BIGLEN (50u * 1024u)

/* ---- files ---------------------------------------------------------- */

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void read_page(const char *path, uint64_t pg, uint8_t *buf)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(
	        pread(fd, buf, KV_PAGE_SIZE, (off_t)(pg * KV_PAGE_SIZE)),
	        (ssize_t)KV_PAGE_SIZE);
	close(fd);
}

static void write_page(const char *path, uint64_t pg, const uint8_t *buf)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(
	        pwrite(fd, buf, KV_PAGE_SIZE, (off_t)(pg * KV_PAGE_SIZE)),
	        (ssize_t)KV_PAGE_SIZE);
	close(fd);
}

static uint64_t page_sum(const uint8_t *p)
{
	return XXH3_64bits(p + 8, KV_PAGE_SIZE - 8);
}

static void key_of(char *buf, unsigned i)
{
	snprintf(buf, 16, "key%05u", i);
}

static size_t vlen_of(unsigned i)
{
	return i % 1000 == 7 ? BIGLEN : 100 + i % 200;
}

/*
 * A committed store: snapshot "before" of the empty store, table "t" with
 * NKEYS keys (NBIG of them overflow values), loaded in one durable commit,
 * then two small commits to table "u", so that both meta slots are newer
 * than the loaded pages.  Returns the txn id of the load.
 */
static uint64_t make_db(const char *path)
{
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	unsigned char *buf = malloc(BIGLEN);
	uint64_t id;

	assert_non_null(buf);
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, "before"), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	id = kv_txn_id(txn);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	for (unsigned i = 0; i < NKEYS; i++) {
		char key[16];

		key_of(key, i);
		kt_fill(buf, vlen_of(i), i);
		assert_int_equal(kv_put(txn, t, (kv_val){ key, strlen(key) },
		                        (kv_val){ buf, vlen_of(i) }, 0),
		                 0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);
	for (unsigned c = 0; c < 2; c++) {
		assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
		assert_int_equal(kv_table_open(txn, "u", KV_TABLE_CREATE, &t),
		                 0);
		assert_int_equal(kv_put(txn, t, (kv_val){ &c, sizeof(c) },
		                        (kv_val){ "v", 1 }, 0),
		                 0);
		assert_int_equal(kv_txn_commit(txn), 0);
	}
	kt_check_clean(env, "the fresh store");
	kv_env_close(env);
	free(buf);
	return id;
}

/* Pages of type type written by txn id (intact ones). */
static size_t find_pages(const char *path, unsigned type, uint64_t txnid,
                         uint64_t *out, size_t max)
{
	long long size = kt_file_size(path);
	uint8_t pg[KV_PAGE_SIZE];
	size_t n = 0;

	for (uint64_t i = 2; i < (uint64_t)size / KV_PAGE_SIZE && n < max;
	     i++) {
		read_page(path, i, pg);
		if (get16(pg + PH_TYPE) != type || get64(pg + PH_PGNO) != i ||
		    get64(pg + PH_TXNID) != txnid)
			continue;
		if (type != PT_OVERFLOW && get64(pg) != page_sum(pg))
			continue;
		if (type == PT_LEAF) {
			/* a leaf of table t (its keys start with "key"), not
			 * one of the catalog, which later commits replaced */
			unsigned off = get16(pg + PH_SIZE);

			if (get16(pg + PH_NKEYS) == 0 ||
			    off + LN_HDR + 3 > KV_PAGE_SIZE ||
			    get16(pg + off + LN_KLEN) < 3 ||
			    memcmp(pg + off + LN_HDR, "key", 3) != 0)
				continue;
		}
		out[n++] = i;
	}
	return n;
}

/* ---- running a case in a child ------------------------------------ */

/* Run fn(arg) in a child process; it returns an exit code (0: pass). */
static void isolated(const char *what, int (*fn)(const char *arg),
                     const char *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("%s: the process crashed with signal %d (%s)", what,
		         WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: failed (exit %d); see the message above", what,
		         WEXITSTATUS(status));
}

#define CHILD_CHECK(cond, ...)                        \
	do {                                          \
		if (!(cond)) {                        \
			fprintf(stderr, "badfile: "); \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n");        \
			return 1;                     \
		}                                     \
	} while (0)

/* The open must fail with want (or any KV_E* error when want == 0) and a
 * message, and leave no lock file where there was none; returns 0 when it
 * did. */
static int expect_open_error(const char *path, unsigned flags, int want)
{
	char lock[4200];
	kv_env *env = NULL;
	int rc, had_lock;

	snprintf(lock, sizeof(lock), "%s" KV_LOCK_SUFFIX, path);
	had_lock = access(lock, F_OK) == 0;
	rc = kv_env_open(&env, path, flags, 0600);
	CHILD_CHECK(rc != 0, "%s: opened as a database", path);
	if (env)
		kv_env_close(env);
	CHILD_CHECK(!want || rc == want, "%s: rc %d (%s), expected %d (%s)",
	            path, rc, kt_err(rc), want, kv_strerror(want));
	CHILD_CHECK(kv_strerror(rc)[0] != '\0', "empty kv_strerror(%d)", rc);
	CHILD_CHECK(kv_errmsg()[0] != '\0', "%s: rc %d and an empty kv_errmsg",
	            path, rc);
	CHILD_CHECK(had_lock || access(lock, F_OK) != 0,
	            "%s: a failed open left a lock file", lock);
	fprintf(stderr, "  %s: %s\n", strrchr(path, '/') + 1, kt_err(rc));
	return 0;
}

static int case_notdb(const char *path)
{
	return expect_open_error(path, 0, KV_ENOTDB);
}

static int case_notdb_create(const char *path)
{
	return expect_open_error(path, KV_CREATE, KV_ENOTDB);
}

static int case_corrupt(const char *path)
{
	return expect_open_error(path, 0, KV_ECORRUPT);
}

static int case_version(const char *path)
{
	return expect_open_error(path, 0, KV_EVERSION);
}

/* ---- not a database ------------------------------------------------ */

static int not_regular(const char *path, unsigned flags)
{
	char lock[4096];
	kv_env *env = NULL;
	int rc;

	alarm(10); /* a hang is a failure, not a stuck test */
	rc = kv_env_open(&env, path, flags, 0600);
	CHILD_CHECK(rc < 0 && env == NULL, "%s: opened (rc %d)", path, rc);
	CHILD_CHECK(kv_errmsg()[0] != '\0', "%s: no message", path);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	CHILD_CHECK(access(lock, F_OK) != 0, "%s: lock file left", lock);
	return 0;
}

static int case_not_regular(const char *path)
{
	return not_regular(path, KV_RDONLY);
}

static int case_not_regular_rw(const char *path)
{
	return not_regular(path, 0);
}

static void test_not_a_database(void **state)
{
	const char *dir = kt_tmpdir("badfile");
	char path[4096];
	unsigned char *buf = malloc(64 * 1024);
	struct kt_rng rng;
	static const char text[] =
	        "# cccfs settings\nname: example\nagents:\n  - alpha\n";

	(void)state;
	assert_non_null(buf);
	kt_rng_init(&rng, kt_seed("badfile"));

	for (size_t i = 0; i < 64 * 1024; i++)
		buf[i] = (unsigned char)kt_rand(&rng);
	tmpdir_path(path, sizeof(path), dir, "random");
	write_file(path, buf, 64 * 1024);
	isolated("random bytes", case_notdb, path);

	/* a page-sized text file, repeated to 16 KiB */
	for (size_t i = 0; i < 16 * 1024; i++)
		buf[i] = (unsigned char)text[i % (sizeof(text) - 1)];
	tmpdir_path(path, sizeof(path), dir, "text");
	write_file(path, buf, 16 * 1024);
	isolated("text file", case_notdb, path);
	isolated("text file with KV_CREATE", case_notdb_create, path);
	{
		unsigned char *again = malloc(16 * 1024);
		int fd = open(path, O_RDONLY);

		assert_non_null(again);
		assert_true(fd >= 0);
		assert_int_equal(kt_file_size(path), 16 * 1024);
		assert_int_equal(read(fd, again, 16 * 1024), 16 * 1024);
		close(fd);
		if (memcmp(again, buf, 16 * 1024) != 0)
			fail_msg("kv_env_open with KV_CREATE changed a file "
			         "that is not a database");
		free(again);
	}

	tmpdir_path(path, sizeof(path), dir, "short");
	write_file(path, text, sizeof(text) - 1);
	isolated("short text file", case_notdb, path);

	tmpdir_path(path, sizeof(path), dir, "empty");
	write_file(path, "", 0);
	isolated("empty file", case_notdb, path);

	/* a directory is not a database either */
	tmpdir_path(path, sizeof(path), dir, "adir");
	assert_int_equal(mkdir(path, 0700), 0);
	{
		kv_env *env = NULL;
		int rc = kv_env_open(&env, path, 0, 0600);

		assert_true(rc < 0);
		assert_null(env);
		assert_true(kv_strerror(rc)[0] != '\0');
	}

	/* read-only, a directory opens; it must still be refused, not
	 * mapped (its size reads as 2^63 - 1 and the map size overflowed,
	 * hanging the open), and a FIFO must not block the open; no lock
	 * file is left beside either */
	isolated("directory, read-only", case_not_regular, path);
	tmpdir_path(path, sizeof(path), dir, "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	isolated("FIFO, read-only", case_not_regular, path);
	isolated("FIFO, read-write", case_not_regular_rw, path);

	/* a missing file without KV_CREATE */
	tmpdir_path(path, sizeof(path), dir, "missing");
	{
		kv_env *env = NULL;
		int rc = kv_env_open(&env, path, 0, 0600);

		assert_int_equal(rc, -ENOENT);
		assert_true(kv_strerror(rc)[0] != '\0');
		assert_int_equal(kt_file_size(path), -1);
	}
	free(buf);
}

/* ---- truncation and meta damage ----------------------------------- */

static uint64_t meta_next(const char *path, uint64_t slot)
{
	uint8_t pg[KV_PAGE_SIZE];

	read_page(path, slot, pg);
	return get64(pg + MF_NEXTPG);
}

static void test_truncated(void **state)
{
	const char *dir = kt_tmpdir("trunc");
	char path[4096];
	uint64_t n0, n1, lo;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	make_db(path);
	n0 = meta_next(path, 0);
	n1 = meta_next(path, 1);
	lo = n0 < n1 ? n0 : n1;
	assert_true(lo > 100);

	/* the last page of both commits cut off */
	assert_int_equal(truncate(path, (off_t)((lo - 1) * KV_PAGE_SIZE)), 0);
	isolated("database missing its last page", case_corrupt, path);
	/* half of it */
	assert_int_equal(truncate(path, (off_t)(lo / 2 * KV_PAGE_SIZE)), 0);
	isolated("database truncated to half", case_corrupt, path);
	/* mid-page */
	assert_int_equal(truncate(path, (off_t)(lo / 3 * KV_PAGE_SIZE + 100)),
	                 0);
	isolated("database truncated mid-page", case_corrupt, path);
	/* one meta page only */
	assert_int_equal(truncate(path, KV_PAGE_SIZE), 0);
	isolated("database of one page", case_notdb, path);
	assert_int_equal(truncate(path, 0), 0);
	isolated("database truncated to nothing", case_notdb, path);
}

static void patch_version(const char *path, uint64_t slot, uint32_t version)
{
	uint8_t pg[KV_PAGE_SIZE];

	read_page(path, slot, pg);
	assert_int_equal(get64(pg + MF_MAGIC), KV_MAGIC);
	put32(pg + MF_VERSION, version);
	put64(pg + PH_CHECKSUM, page_sum(pg));
	write_page(path, slot, pg);
}

static int case_opens(const char *path)
{
	kv_env *env;
	int rc = kv_env_open(&env, path, 0, 0600);

	CHILD_CHECK(rc == 0, "open: %s", kt_err(rc));
	kv_env_close(env);
	return 0;
}

static void test_future_version(void **state)
{
	const char *dir = kt_tmpdir("version");
	char path[4096];

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	make_db(path);
	patch_version(path, 0, KV_FORMAT_VERSION + 1);
	patch_version(path, 1, KV_FORMAT_VERSION + 1);
	isolated("future format version", case_version, path);
	patch_version(path, 0, 0xffffffffu);
	isolated("format version 0xffffffff", case_version, path);

	/* a version field damaged in one slot, checksum not made right:
	 * damage, so the store opens from the other slot */
	for (uint64_t slot = 0; slot < 2; slot++) {
		uint8_t pg[KV_PAGE_SIZE];

		tmpdir_path(path, sizeof(path), dir, slot ? "dbv1" : "dbv0");
		make_db(path);
		read_page(path, slot, pg);
		put32(pg + MF_VERSION, KV_FORMAT_VERSION + 2);
		write_page(path, slot, pg);
		isolated("a damaged version field", case_opens, path);
	}
}

/*
 * The newest meta slot damaged.  make_db()'s last two commits are logged
 * (kv/log.c), so the older slot holds the checkpoint before them: the
 * store opens there and repeats both from the log.  With the log wiped as
 * well, it opens at the checkpoint itself.
 */
static int case_older_slot(const char *path, bool log_kept)
{
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	kv_val v;
	unsigned one = 1, zero = 0;
	struct kv_check_report rep;
	char msgs[2048];
	int rc = kv_env_open(&env, path, 0, 0600);

	CHILD_CHECK(rc == 0, "open with one damaged meta slot: %s", kt_err(rc));
	CHILD_CHECK(kv_txn_begin(env, KV_TXN_RDONLY, &txn) == 0, "begin");
	CHILD_CHECK(kv_table_open(txn, "t", 0, &t) == 0, "table t");
	CHILD_CHECK(kv_table_count(t) == NKEYS, "table t has %llu records",
	            (unsigned long long)kv_table_count(t));
	rc = kv_table_open(txn, "u", 0, &t);
	if (log_kept) {
		CHILD_CHECK(rc == 0, "table u of the logged commits: %s",
		            kt_err(rc));
		rc = kv_get(txn, t, (kv_val){ &zero, sizeof(zero) }, &v);
		CHILD_CHECK(rc == 0, "the first logged commit's key: %s",
		            kt_err(rc));
		rc = kv_get(txn, t, (kv_val){ &one, sizeof(one) }, &v);
		CHILD_CHECK(rc == 0,
		            "the damaged commit's key, from the log: "
		            "%s",
		            kt_err(rc));
	} else {
		CHILD_CHECK(rc == KV_ENOTFOUND,
		            "table u without the log: "
		            "rc %d",
		            rc);
	}
	kv_txn_abort(txn);
	rc = kt_check(env, &rep, msgs, sizeof(msgs));
	CHILD_CHECK(rc == 0, "kv_check after falling back: %s\n%s", kt_err(rc),
	            msgs);
	kv_env_close(env);
	return 0;
}

static int case_log_replayed(const char *path)
{
	return case_older_slot(path, true);
}

static int case_log_lost(const char *path)
{
	return case_older_slot(path, false);
}

static void copy_file(const char *from, const char *to)
{
	long long size = kt_file_size(from);
	uint8_t *buf = malloc((size_t)size);
	int fd = open(from, O_RDONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, (size_t)size), (ssize_t)size);
	close(fd);
	write_file(to, buf, (size_t)size);
	free(buf);
}

static void test_damaged_meta(void **state)
{
	const char *dir = kt_tmpdir("meta");
	char path[4096], path2[4200];
	uint8_t pg[KV_PAGE_SIZE];
	uint64_t newest;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	snprintf(path2, sizeof(path2), "%s-2", path);
	make_db(path);
	read_page(path, 0, pg);
	newest = get64(pg + MF_TXNID);
	read_page(path, 1, pg);
	newest = get64(pg + MF_TXNID) > newest ? 1 : 0;
	read_page(path, newest, pg);
	assert_true(get64(pg + MF_LOG_TAIL) > 0); /* the last commits logged */

	pg[MF_CATALOG + 3] ^= 0x5a; /* checksum no longer matches */
	write_page(path, newest, pg);
	copy_file(path, path2);
	isolated("newest meta slot damaged", case_log_replayed, path);

	assert_true(dbfile_wipe_log(path2) > 0);
	isolated("newest meta slot and the log damaged", case_log_lost, path2);

	read_page(path2, 1 - newest, pg);
	pg[MF_TXNID] ^= 0x01;
	write_page(path2, 1 - newest, pg);
	isolated("both meta slots damaged", case_corrupt, path2);
}

/* ---- damaged data pages -------------------------------------------- */

static uint64_t bad_pgno;

struct seen_page {
	uint64_t pgno;
	int named;
	unsigned lines;
};

static void named_cb(void *ctx, const char *msg)
{
	struct seen_page *s = ctx;
	char num[32];
	const char *p = msg;

	s->lines++;
	snprintf(num, sizeof(num), "%" PRIu64, s->pgno);
	while ((p = strstr(p, num)) != NULL) {
		int before = p == msg || p[-1] < '0' || p[-1] > '9';
		int after = p[strlen(num)] < '0' || p[strlen(num)] > '9';

		if (before && after)
			s->named = 1;
		p++;
	}
	if (s->lines <= 5)
		fprintf(stderr, "    kv_check: %s\n", msg);
}

static int diff_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	volatile unsigned char sink = 0;
	unsigned *n = ctx;

	for (size_t i = 0; i < key.len; i++)
		sink ^= ((const unsigned char *)key.data)[i];
	if (va.len)
		sink ^= ((const unsigned char *)va.data)[va.len - 1];
	if (vb.len)
		sink ^= ((const unsigned char *)vb.data)[vb.len - 1];
	(void)sink;
	(*n)++;
	return 0;
}

/* Table t against the snapshot without it, both ways round: every page of
 * t is read.  The result is 0 or KV_ECORRUPT with a message. */
static int diff_damaged(kv_env *env, kv_txn *live, unsigned *errors)
{
	kv_txn *snap;
	unsigned n[2] = { 0, 0 };
	int rc[2];

	CHILD_CHECK(kv_txn_begin_snapshot(env, "before", &snap) == 0,
	            "begin snapshot");
	rc[0] = kv_table_diff(snap, live, "t", diff_cb, &n[0], NULL);
	rc[1] = kv_table_diff(live, snap, "t", diff_cb, &n[1], NULL);
	kv_txn_abort(snap);
	for (int i = 0; i < 2; i++) {
		CHILD_CHECK(rc[i] == 0 || (rc[i] == KV_ECORRUPT &&
		                           kv_errmsg()[0] != '\0'),
		            "kv_table_diff: rc %d (%s)", rc[i], kt_err(rc[i]));
		*errors += rc[i] != 0;
	}
	fprintf(stderr,
	        "    diff against the empty snapshot: %u and %u keys, "
	        "rc %d and %d\n",
	        n[0], n[1], rc[0], rc[1]);
	return 0;
}

/*
 * The store opens (the damage is older than both commits), kv_check reports
 * KV_ECORRUPT and names the page, and reading every key, or diffing the
 * table against a snapshot without it, does not crash.
 */
static int case_damaged_page(const char *path)
{
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	kv_cursor *c;
	kv_val k, v;
	struct kv_check_report rep;
	struct seen_page seen = { bad_pgno, 0, 0 };
	unsigned n = 0, errors = 0;
	int rc = kv_env_open(&env, path, 0, 0600);

	if (rc != 0) {
		/* refusing to open is a clear error too, if it says so */
		CHILD_CHECK(rc == KV_ECORRUPT && kv_errmsg()[0],
		            "open: rc %d (%s)", rc, kt_err(rc));
		return 0;
	}
	memset(&rep, 0, sizeof(rep));
	rc = kv_check(env, named_cb, &seen, &rep);
	CHILD_CHECK(rc == KV_ECORRUPT,
	            "kv_check on a damaged page %" PRIu64
	            ": rc %d (%s), %" PRIu64 " problems",
	            bad_pgno, rc, kt_err(rc), rep.problems);
	CHILD_CHECK(rep.problems > 0 && seen.lines > 0,
	            "kv_check: KV_ECORRUPT without problems reported");
	CHILD_CHECK(seen.named, "no kv_check message names page %" PRIu64,
	            bad_pgno);
	CHILD_CHECK(kv_strerror(rc)[0] != '\0', "empty kv_strerror");

	/* read everything: errors are fine, crashes are not */
	CHILD_CHECK(kv_txn_begin(env, KV_TXN_RDONLY, &txn) == 0, "begin");
	rc = kv_table_open(txn, "t", 0, &t);
	if (rc == 0) {
		CHILD_CHECK(kv_cursor_open(txn, t, &c) == 0, "cursor");
		for (rc = kv_cursor_first(c, &k, &v); rc == 0 && n < 100000;
		     rc = kv_cursor_next(c, &k, &v)) {
			volatile unsigned char sink = 0;

			for (size_t i = 0; i < k.len; i++)
				sink ^= ((const unsigned char *)k.data)[i];
			for (size_t i = 0; i < v.len; i += 97)
				sink ^= ((const unsigned char *)v.data)[i];
			(void)sink;
			n++;
		}
		if (rc != KV_ENOTFOUND) {
			errors++;
			CHILD_CHECK(kv_errmsg()[0] != '\0',
			            "cursor error %d without a message", rc);
		}
		kv_cursor_close(c);
		for (unsigned i = 0; i < NKEYS; i++) {
			char key[16];

			key_of(key, i);
			rc = kv_get(txn, t, (kv_val){ key, strlen(key) }, &v);
			if (rc == 0 && v.len)
				(void)*(volatile const unsigned char *)v.data;
			else if (rc != 0)
				errors++;
		}
		if (diff_damaged(env, txn, &errors) != 0)
			return 1;
	}
	kv_txn_abort(txn);
	fprintf(stderr, "    read %u entries by cursor, %u errors\n", n,
	        errors);
	kv_env_close(env);
	return 0;
}

enum damage { FLIP_NODES, SCRAMBLE_HEADER, ZERO_PAGE };

static void damage(const char *path, uint64_t pgno, enum damage how,
                   struct kt_rng *rng)
{
	uint8_t pg[KV_PAGE_SIZE];

	read_page(path, pgno, pg);
	switch (how) {
	case FLIP_NODES: /* bytes in the second half: node and value bytes */
		for (int i = 0; i < 8; i++) {
			size_t at = KV_PAGE_SIZE / 2 +
			            kt_below(rng, KV_PAGE_SIZE / 2);

			pg[at] ^= (uint8_t)(1 + kt_below(rng, 255));
		}
		break;
	case SCRAMBLE_HEADER: /* node count, offsets: all garbage */
		for (unsigned i = PH_TYPE + 2; i < 96; i++)
			pg[i] = (uint8_t)kt_rand(rng);
		break;
	case ZERO_PAGE:
		memset(pg, 0, sizeof(pg));
		break;
	}
	write_page(path, pgno, pg);
}

static void remove_db(const char *path)
{
	char lock[4200];

	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
}

static void damaged_case(const char *what, unsigned type, enum damage how)
{
	const char *dir = kt_tmpdir("damage");
	char path[4096];
	uint64_t pages[4096];
	struct kt_rng rng;
	char title[160];

	kt_rng_init(&rng, kt_seed(what));
	tmpdir_path(path, sizeof(path), dir, "db");
	for (int round = 0; round < 3; round++) {
		uint64_t id = make_db(path);
		size_t n = find_pages(path, type, id, pages, 4096);

		if (n == 0)
			fail_msg("%s: no page of type %u from txn %" PRIu64
			         " found in the store",
			         what, type, id);
		bad_pgno = pages[kt_below(&rng, n)];
		snprintf(title, sizeof(title), "%s (page %" PRIu64 ")", what,
		         bad_pgno);
		fprintf(stderr, "  %s\n", title);
		damage(path, bad_pgno, how, &rng);
		isolated(title, case_damaged_page, path);
		remove_db(path);
	}
}

static void test_leaf_flipped(void **state)
{
	(void)state;
	damaged_case("leaf page with flipped bytes", PT_LEAF, FLIP_NODES);
}

static void test_leaf_scrambled(void **state)
{
	(void)state;
	damaged_case("leaf page with a scrambled header", PT_LEAF,
	             SCRAMBLE_HEADER);
}

static void test_leaf_zeroed(void **state)
{
	(void)state;
	damaged_case("zeroed leaf page", PT_LEAF, ZERO_PAGE);
}

static void test_branch_scrambled(void **state)
{
	(void)state;
	damaged_case("branch page with a scrambled header", PT_BRANCH,
	             SCRAMBLE_HEADER);
}

static void test_branch_flipped(void **state)
{
	(void)state;
	damaged_case("branch page with flipped bytes", PT_BRANCH, FLIP_NODES);
}

static void test_overflow_flipped(void **state)
{
	(void)state;
	damaged_case("overflow page with flipped bytes", PT_OVERFLOW,
	             FLIP_NODES);
}

/* ---- the keys below a damaged page --------------------------------- */

/*
 * Regression: kv_check reported a damaged branch page by its number only
 * and did not go below it, so nothing told which entries it had not
 * verified, and `cccfs check` listed the records below as checked.  Now
 * the line of a damaged page names the keys its parent's separators give
 * it, and kv_txn_check() passes them, with the count of entries left
 * unverified, to a damage hook.
 */

#define DEEP_KEYS 20000u /* three levels: root, branches, leaves */

static void deep_key(char *buf, unsigned i)
{
	snprintf(buf, 16, "key%06u", i);
}

static void make_deep_db(const char *path)
{
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	unsigned char val[100];

	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	for (unsigned i = 0; i < DEEP_KEYS; i++) {
		char key[16];

		deep_key(key, i);
		kt_fill(val, sizeof(val), i);
		assert_int_equal(kv_put(txn, t, (kv_val){ key, strlen(key) },
		                        (kv_val){ val, sizeof(val) }, 0),
		                 0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);
	/* two more commits: both meta slots are newer than the table's
	 * pages, so that the open does not fall back from their damage */
	for (unsigned c = 0; c < 2; c++) {
		assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
		assert_int_equal(kv_table_open(txn, "u", KV_TABLE_CREATE, &t),
		                 0);
		assert_int_equal(kv_put(txn, t, (kv_val){ &c, sizeof(c) },
		                        (kv_val){ "v", 1 }, 0),
		                 0);
		assert_int_equal(kv_txn_commit(txn), 0);
	}
	kt_check_clean(env, "the fresh store");
	kv_env_close(env);
}

struct damage_seen {
	char lines[8192];
	unsigned reports;
	struct kv_check_damage d; /* the last one, its strings copied */
	char table[KV_MAX_NAME + 1], first[KV_MAX_KEY], end[KV_MAX_KEY];
};

static void seen_problem(void *ctx, const char *msg)
{
	struct damage_seen *s = ctx;
	size_t l = strlen(s->lines);

	snprintf(s->lines + l, sizeof(s->lines) - l, "%s\n", msg);
}

static void seen_damage(void *ctx, const struct kv_check_damage *d)
{
	struct damage_seen *s = ctx;

	s->reports++;
	s->d = *d;
	snprintf(s->table, sizeof(s->table), "%s", d->table);
	s->d.table = s->table;
	if (d->first.data) {
		memcpy(s->first, d->first.data, d->first.len);
		s->d.first.data = s->first;
	}
	if (d->end.data) {
		memcpy(s->end, d->end.data, d->end.len);
		s->d.end.data = s->end;
	}
}

static bool same_key(kv_val a, const char *b, size_t bl)
{
	return a.data != NULL && a.len == bl && memcmp(a.data, b, bl) == 0;
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : (al > bl) - (al < bl);
}

/* Entries of the deep store's table with lo <= key < hi. */
static uint64_t keys_between(const struct dbfile_child *c)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < DEEP_KEYS; i++) {
		char key[16];

		deep_key(key, i);
		if (c->has_lo &&
		    bytes_cmp(key, strlen(key), c->lo, c->lo_len) < 0)
			continue;
		if (c->has_hi &&
		    bytes_cmp(key, strlen(key), c->hi, c->hi_len) >= 0)
			continue;
		n++;
	}
	return n;
}

/*
 * Damage child `which` of the table's root (a branch page) in a fresh deep
 * store, how (flip: a byte flipped, its checksum broken; zero: the page
 * zeroed), then check: the line names the page and its keys, the hook
 * gets them, and the count of entries below it.
 */
static void damaged_branch_case(const char *what, unsigned which, bool zero)
{
	const char *dir = kt_tmpdir("keys");
	char path[4096], want[512], page[64];
	struct dbfile_child c;
	struct damage_seen seen;
	struct kv_check_hooks hooks = { seen_problem, seen_damage, &seen };
	struct kv_check_report rep;
	kv_env *env;
	kv_txn *txn;
	int rc;

	tmpdir_path(path, sizeof(path), dir, "db");
	make_deep_db(path);
	assert_true(dbfile_root_child(path, "t", which, &c));
	assert_int_equal(c.type, PT_BRANCH);
	assert_true(c.children > which);
	if (zero)
		assert_int_equal(dbfile_zero_page(path, c.pgno), 0);
	else
		assert_int_equal(dbfile_flip_byte(path, c.pgno, 3000), 0);
	fprintf(stderr, "  %s: page %" PRIu64 ", keys %.*s..%.*s\n", what,
	        c.pgno, (int)c.lo_len, c.lo, (int)c.hi_len, c.hi);

	assert_int_equal(kv_env_open(&env, path, KV_RDONLY, 0), 0);
	memset(&seen, 0, sizeof(seen));
	rc = kv_check(env, seen_problem, &seen, &rep);
	if (rc != KV_ECORRUPT)
		fail_msg("%s: kv_check rc %d (%s)", what, rc, kt_err(rc));
	snprintf(page, sizeof(page), "page %" PRIu64 ": ", c.pgno);
	if (c.has_lo && c.has_hi)
		snprintf(want, sizeof(want),
		         "the keys of table 't' from \"%.*s\", below \"%.*s\" "
		         "are not verified",
		         (int)c.lo_len, c.lo, (int)c.hi_len, c.hi);
	else if (c.has_lo)
		snprintf(want, sizeof(want),
		         "the keys of table 't' from \"%.*s\" on are not "
		         "verified",
		         (int)c.lo_len, c.lo);
	else
		snprintf(want, sizeof(want),
		         "the keys of table 't' below \"%.*s\" are not "
		         "verified",
		         (int)c.hi_len, c.hi);
	if (strstr(seen.lines, page) == NULL ||
	    strstr(seen.lines, want) == NULL)
		fail_msg("%s: no line names page %" PRIu64 " and says '%s'; "
		         "kv_check said:\n%s",
		         what, c.pgno, want, seen.lines);

	/* the same through the hook, in a read txn */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_txn_check(txn, &hooks, &rep), KV_ECORRUPT);
	kv_txn_abort(txn);
	assert_int_equal(seen.reports, 1);
	assert_string_equal(seen.d.table, "t");
	assert_null(seen.d.snapshot);
	assert_int_equal(seen.d.pgno, c.pgno);
	if (c.has_lo)
		assert_true(same_key(seen.d.first, c.lo, c.lo_len));
	else
		assert_null(seen.d.first.data);
	if (c.has_hi)
		assert_true(same_key(seen.d.end, c.hi, c.hi_len));
	else
		assert_null(seen.d.end.data);
	assert_int_equal(seen.d.unverified, keys_between(&c));
	assert_true(seen.d.unverified > 0);
	kv_env_close(env);
	remove_db(path);
}

static void test_branch_keys_reported(void **state)
{
	(void)state;
	damaged_branch_case("branch page with a flipped byte", 1, false);
	damaged_branch_case("zeroed branch page", 2, true);
	damaged_branch_case("first branch page", 0, false);
}

/* The root damaged: nothing of the table is verified. */
static void test_root_keys_reported(void **state)
{
	const char *dir = kt_tmpdir("root");
	char path[4096], page[64];
	struct damage_seen seen;
	struct kv_check_hooks hooks = { seen_problem, seen_damage, &seen };
	struct kv_check_report rep;
	uint64_t root;
	kv_env *env;
	kv_txn *txn;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	make_deep_db(path);
	assert_true(dbfile_table_root(path, "t", &root));
	assert_int_equal(dbfile_flip_byte(path, root, 2000), 0);
	assert_int_equal(kv_env_open(&env, path, KV_RDONLY, 0), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_txn_check(txn, &hooks, &rep), KV_ECORRUPT);
	kv_txn_abort(txn);
	snprintf(page, sizeof(page), "page %" PRIu64 ": ", root);
	if (strstr(seen.lines, page) == NULL ||
	    strstr(seen.lines, "no key of table 't' is verified") == NULL)
		fail_msg("the root's line does not say so:\n%s", seen.lines);
	assert_int_equal(seen.reports, 1);
	assert_null(seen.d.first.data);
	assert_null(seen.d.end.data);
	assert_int_equal(seen.d.unverified, DEEP_KEYS);
	kv_env_close(env);
}

/* ---- the lock file ------------------------------------------------- */

/*
 * A lock file that cannot be made: its name is a folder, or one byte too
 * long for the file system while the store's own name fits.  The open
 * with KV_CREATE must fail with a message that names the lock file, and
 * must not create the store (it once created the store first, then failed
 * on the lock file and left an empty store behind).
 */
static void no_lock_no_store(const char *path, const char *lock, int want)
{
	kv_env *env = NULL;
	int rc = kv_env_open(&env, path, KV_CREATE, 0600);

	assert_int_equal(rc, want);
	assert_null(env);
	if (strncmp(kv_errmsg(), lock, strlen(lock)) != 0 ||
	    strncmp(kv_errmsg() + strlen(lock), ": ", 2) != 0)
		fail_msg("the message does not start with the lock file's "
		         "name: %s",
		         kv_errmsg());
	assert_int_equal(kt_file_size(path), -1);
}

static void test_lock_file_not_made(void **state)
{
	const char *dir = kt_tmpdir("nolock");
	char path[4096], lock[4200], name[NAME_MAX + 1];
	size_t n = NAME_MAX - strlen(KV_LOCK_SUFFIX) + 1;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "dir.db");
	snprintf(lock, sizeof(lock), "%s" KV_LOCK_SUFFIX, path);
	assert_int_equal(mkdir(lock, 0700), 0);
	no_lock_no_store(path, lock, -EISDIR);

	memset(name, 'n', n);
	name[n] = '\0';
	tmpdir_path(path, sizeof(path), dir, name);
	snprintf(lock, sizeof(lock), "%s" KV_LOCK_SUFFIX, path);
	no_lock_no_store(path, lock, -ENAMETOOLONG);
}

static int case_garbage_lock(const char *path)
{
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	kv_val v;
	char key[16];
	int rc = kv_env_open(&env, path, 0, 0600);

	if (rc != 0) {
		CHILD_CHECK(rc < 0 && kv_strerror(rc)[0] && kv_errmsg()[0],
		            "open with a garbage lock file: rc %d without a "
		            "message",
		            rc);
		fprintf(stderr, "  garbage lock file: %s\n", kt_err(rc));
		return 0;
	}
	/* if it opens, the data must be intact */
	CHILD_CHECK(kv_txn_begin(env, KV_TXN_RDONLY, &txn) == 0, "begin");
	CHILD_CHECK(kv_table_open(txn, "t", 0, &t) == 0, "table t");
	key_of(key, 123);
	rc = kv_get(txn, t, (kv_val){ key, strlen(key) }, &v);
	CHILD_CHECK(rc == 0 && v.len == vlen_of(123) &&
	                    kt_vcheck(v.data, v.len, 123) < 0,
	            "key 123 after a garbage lock file: rc %d", rc);
	kv_txn_abort(txn);
	kv_env_close(env);
	return 0;
}

static void test_garbage_lock_file(void **state)
{
	const char *dir = kt_tmpdir("lockfile");
	char path[4096], lock[4200];
	unsigned char buf[8192];
	struct kt_rng rng;

	(void)state;
	kt_rng_init(&rng, kt_seed("lockfile"));
	tmpdir_path(path, sizeof(path), dir, "db");
	make_db(path);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)kt_rand(&rng);
	write_file(lock, buf, sizeof(buf));
	isolated("garbage lock file", case_garbage_lock, path);
	write_file(lock, buf, 7);
	isolated("short lock file", case_garbage_lock, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_not_a_database),       T(test_truncated),
		T(test_future_version),       T(test_damaged_meta),
		T(test_leaf_flipped),         T(test_leaf_scrambled),
		T(test_leaf_zeroed),          T(test_branch_flipped),
		T(test_branch_scrambled),     T(test_overflow_flipped),
		T(test_garbage_lock_file),    T(test_lock_file_not_made),
		T(test_branch_keys_reported), T(test_root_keys_reported),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
