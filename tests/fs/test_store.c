/*
 * Tests for fs/store/store.c and fs/cli/check.c against the real engine: the node
 * layout (children of a folder are one key range, and only they), node
 * encoding with xattrs, subtree moves as used by rename, the root's node,
 * and the exit codes of `cccfs check` on a clean and on a damaged store,
 * its report of the records below a damaged page, and its message when
 * it cannot run.
 */
#include <errno.h>
#include <setjmp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "dbfile.h"
#include "fstest.h"
#include "pathmap.h"
#include "store.h"
#include "tmpdir.h"

static int setup(void **state)
{
	return fstest_setup(state, "store");
}

static int teardown(void **state)
{
	return tmpenv_teardown(state);
}

static void test_init_and_listing(void **state)
{
	struct tmpenv *f = *state;
	struct names nm;

	assert_string_equal(list(f->env, "", &nm), "agents prompts workflows ");
	put_dir(f->env, "agents/a");
	put_dir(f->env, "agents/a-b");
	put_file(f->env, "agents/a/x.yaml", "name: x\n");
	put_file(f->env, "agents/a/y.txt", "y");
	put_dir(f->env, "agents/a/sub");
	put_file(f->env, "agents/a/sub/deep.yaml", "name: d\n");
	put_file(f->env, "agents/a-b/z.yaml", "name: z\n");
	/* only direct children, not grandchildren or a sibling's */
	assert_string_equal(list(f->env, "agents/a", &nm), "sub x.yaml y.txt ");
	assert_string_equal(list(f->env, "agents", &nm), "a a-b ");
	assert_string_equal(list(f->env, "agents/a/sub", &nm), "deep.yaml ");
	assert_string_equal(list(f->env, "workflows", &nm), "");
}

static void test_node_roundtrip(void **state)
{
	struct tmpenv *f = *state;
	struct stx s;
	struct node n, m;
	const void *v;
	size_t len;

	(void)f;
	node_fresh(&n, S_IFREG | 0600, 12, 34);
	n.size = 99;
	n.txnid = 7;
	n.mtime = -5; /* before the epoch */
	assert_int_equal(node_xattr_set(&n, "user.a", "1", 1, 0), 0);
	assert_int_equal(node_xattr_set(&n, "user.b", "", 0, 0), 0);
	assert_int_equal(node_xattr_set(&n, "user.a", "2", 1, XATTR_CREATE),
	                 -EEXIST);
	assert_int_equal(node_xattr_set(&n, "user.c", "2", 1, XATTR_REPLACE),
	                 -ENODATA);
	assert_int_equal(node_xattr_set(&n, "user.a", "22", 2, XATTR_REPLACE),
	                 0);
	assert_int_equal(stx_begin(f->env, true, &s), 0);
	assert_int_equal(store_node_put(&s, "prompts/n.bin", &n), 0);
	assert_int_equal(store_node_get(&s, "prompts/n.bin", &m), 0);
	assert_int_equal(m.mode, S_IFREG | 0600);
	assert_int_equal(m.uid, 12);
	assert_int_equal(m.gid, 34);
	assert_int_equal(m.size, 99);
	assert_int_equal(m.txnid, 7);
	assert_true(m.mtime == -5);
	assert_int_equal(m.nxattr, 2);
	assert_int_equal(node_xattr_get(&m, "user.a", &v, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(v, "22", 2);
	assert_int_equal(node_xattr_remove(&m, "user.a"), 0);
	assert_int_equal(node_xattr_get(&m, "user.a", &v, &len), -ENODATA);
	assert_int_equal(node_xattr_get(&m, "user.b", &v, &len), 0);
	assert_int_equal(len, 0);
	stx_abort(&s);
	node_release(&n);
	node_release(&m);
	assert_int_equal(node_decode("short", 5, &m), -EIO);
}

static void test_subtree_move(void **state)
{
	struct tmpenv *f = *state;
	struct subtree t = { 0 };
	struct names nm;
	struct stx s;
	kv_val v;
	struct node n;

	put_dir(f->env, "workflows/d");
	put_file(f->env, "workflows/d/r.yaml", "name: r\n");
	put_file(f->env, "workflows/d/side~", "old");
	put_dir(f->env, "workflows/d/e");
	put_file(f->env, "workflows/d/e/s.yml", "name: s\n");
	put_file(f->env, "workflows/dd.yaml", "name: dd\n");

	/* move the folder across kinds, as rename does */
	assert_int_equal(stx_begin(f->env, true, &s), 0);
	assert_int_equal(store_subtree_load(&s, "workflows/d", &t), 0);
	assert_int_equal(t.n, 5);
	assert_int_equal(store_subtree_delete(&s, "workflows/d", &t), 0);
	assert_int_equal(store_subtree_write(&s, "prompts/moved", &t), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
	subtree_release(&t);

	assert_string_equal(list(f->env, "workflows", &nm), "dd.yaml ");
	assert_string_equal(list(f->env, "prompts/moved", &nm),
	                    "e r.yaml side~ ");
	assert_int_equal(stx_begin(f->env, false, &s), 0);
	assert_int_equal(store_node_get(&s, "prompts/moved/e/s.yml", &n), 0);
	assert_int_equal(
	        store_content_get(&s, "prompts/moved/e/s.yml", n.mode, &v), 0);
	assert_int_equal(v.len, 8);
	assert_memory_equal(v.data, "name: s\n", 8);
	node_release(&n);
	/* the record moved from the workflows table to prompts */
	{
		kv_table *tb;
		kv_val key = { "d/r.yaml", 8 }, val;

		assert_int_equal(kv_table_open(s.txn, "workflows", 0, &tb), 0);
		assert_int_equal(kv_get(s.txn, tb, key, &val), KV_ENOTFOUND);
		assert_int_equal(kv_table_open(s.txn, "prompts", 0, &tb), 0);
		key.data = "moved/r.yaml";
		key.len = 12;
		assert_int_equal(kv_get(s.txn, tb, key, &val), 0);
	}
	assert_int_equal(store_has_children(&s, "prompts/moved/e"), 1);
	assert_int_equal(store_node_get(&s, "workflows/d", &n), -ENOENT);
	stx_abort(&s);
}

/* Close the store, run `cccfs check` on it with its report sent to
 * /dev/null, reopen it; the check's exit code. */
static int check_closed(struct tmpenv *f)
{
	char *argv[] = { "check", f->path, NULL };
	int saved, rc;

	kv_env_close(f->env);
	f->env = NULL;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(freopen("/dev/null", "w", stdout) != NULL);
	rc = cmd_check(2, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_int_equal(kv_env_open(&f->env, f->path, 0, 0600), 0);
	return rc;
}

static void test_check_exit_codes(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *txn;
	kv_table *tb;
	kv_val key = { "bad.yaml", 8 }, val = { "name: [\n", 8 };

	put_file(f->env, "agents/good.yaml", "name: good\n");
	assert_int_equal(check_closed(f), 0);

	/* a record stored behind the file system's back: invalid YAML and
	 * no node */
	assert_int_equal(kv_txn_begin(f->env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "agents", 0, &tb), 0);
	assert_int_equal(kv_put(txn, tb, key, val, 0), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(check_closed(f), 3);
	{
		char *missing[] = { "check", "/nonexistent/dir/x.db", NULL };

		assert_int_equal(cmd_check(2, missing), 1);
	}
}

/* check reads the history tables: a record removed without a version
 * kept (a delete on a full disk) is fine, a record marked deleted that
 * has content and an entry that does not decode are problems. */
static void test_check_history(void **state)
{
	struct tmpenv *f = *state;
	kv_txn *txn;
	kv_table *tb;
	kv_val key2 = { "\0\0\0\0\0\0\0\1"
		        "\0\0\0\0\0\0\0\7",
		        16 },
	       junk = { "junk", 4 };

	put_file(f->env, "agents/a.yaml", "name: one\n");
	put_file(f->env, "agents/a.yaml", "name: two\n");
	put_file(f->env, "agents/b.yaml", "name: b\n");
	assert_int_equal(check_closed(f), 0);

	/* the record deleted, then written back with kv calls, behind the
	 * history's back: its slot says deleted while it has content */
	{
		struct stx s;

		assert_int_equal(stx_begin(f->env, true, &s), 0);
		assert_int_equal(store_remove(&s, "agents/a.yaml", S_IFREG), 0);
		assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
	}
	assert_int_equal(check_closed(f), 0);
	{
		struct stx s;
		struct node n;

		assert_int_equal(stx_begin(f->env, true, &s), 0);
		s.no_history = true;
		node_fresh(&n, S_IFREG | 0644, 0, 0);
		n.size = 11;
		assert_int_equal(store_content_put(&s, "agents/a.yaml", n.mode,
		                                   "name: back\n", 11),
		                 0);
		assert_int_equal(store_node_put(&s, "agents/a.yaml", &n), 0);
		assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
	}
	assert_int_equal(check_closed(f), 3);
	{
		struct stx s;

		assert_int_equal(stx_begin(f->env, true, &s), 0);
		assert_int_equal(store_remove(&s, "agents/a.yaml", S_IFREG), 0);
		assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
	}
	assert_int_equal(check_closed(f), 0);

	/* an entry that does not decode */
	assert_int_equal(kv_txn_begin(f->env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "history", 0, &tb), 0);
	assert_int_equal(kv_put(txn, tb, key2, junk, 0), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(check_closed(f), 3);
}

/*
 * A check that cannot run: every reader slot is taken by f->env's read
 * transactions, so kv_check() fails with KV_EREADERS.  The message once
 * ran the error and kv's detail together ("check failed: too many
 * concurrent readers all 1024 reader slots are in use").
 */
static void test_check_error_message(void **state)
{
	struct tmpenv *f = *state;
	char *argv[] = { "check", f->path, NULL };
	char errpath[4200], got[1024], want[5200];
	kv_txn **txn = calloc(4096, sizeof(*txn));
	size_t n = 0, slots;
	FILE *err;
	int saved, rc;

	assert_non_null(txn);
	while (n < 4096 && kv_txn_begin(f->env, KV_TXN_RDONLY, &txn[n]) == 0)
		n++;
	assert_true(n > 0 && n < 4096);
	slots = n;
	tmpdir_path(errpath, sizeof(errpath), f->dir, "check.err");
	fflush(stdout);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(freopen(errpath, "w", stderr) != NULL);
	rc = cmd_check(2, argv);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	while (n > 0)
		kv_txn_abort(txn[--n]);
	free(txn);
	assert_int_equal(rc, 1);
	err = fopen(errpath, "r");
	assert_non_null(err);
	assert_non_null(fgets(got, sizeof(got), err));
	fclose(err);
	snprintf(want, sizeof(want),
	         "cccfs: %s: check failed: %s: all %u reader slots are in "
	         "use\n",
	         f->path, kv_strerror(KV_EREADERS), (unsigned)slots);
	assert_string_equal(got, want);
}

static void root_put(kv_env *env, const struct node *n)
{
	struct stx s;

	assert_int_equal(stx_begin(env, true, &s), 0);
	assert_int_equal(store_node_put(&s, "", n), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
}

/* The root's node, the first kind folder's (kind may be NULL) and the
 * node count. */
static uint64_t root_get(kv_env *env, struct node *n, struct node *kind)
{
	struct stx s;
	uint64_t count;

	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(store_node_get(&s, "", n), 0);
	if (kind)
		assert_int_equal(store_node_get(&s, pm_kind_name(0), kind), 0);
	count = store_node_count(&s);
	stx_abort(&s);
	return count;
}

/* The root's node: that of the first kind folder until one is stored,
 * then stored like any folder's, never listed, always a folder, and
 * counted once either way. */
static void test_root_node(void **state)
{
	struct tmpenv *f = *state;
	struct names nm;
	struct node n, k;
	const void *xv;
	size_t xl;

	assert_int_equal(root_get(f->env, &n, &k), 4);
	assert_int_equal(n.mode, S_IFDIR | 0755);
	assert_true(k.crtime > 0);
	assert_true(n.mtime == k.crtime && n.crtime == k.crtime);
	node_release(&n);
	node_release(&k);

	node_fresh(&n, S_IFDIR | 0700, 7, 8);
	n.mtime = 1234567890123456789;
	root_put(f->env, &n);
	assert_int_equal(root_get(f->env, &n, NULL), 4);
	assert_int_equal(n.mode, S_IFDIR | 0700);
	assert_int_equal(n.uid, 7);
	assert_int_equal(n.gid, 8);
	assert_true(n.mtime == 1234567890123456789);
	node_release(&n);
	assert_string_equal(list(f->env, "", &nm), "agents prompts workflows ");
	assert_int_equal(check_closed(f), 0);

	/* a root node that says it is a file: shown as a folder, and the
	 * checker reports it */
	node_fresh(&n, S_IFREG | 0644, 0, 0);
	root_put(f->env, &n);
	root_get(f->env, &n, NULL);
	assert_int_equal(n.mode, S_IFDIR | 0644);
	node_release(&n);
	assert_int_equal(check_closed(f), 3);

	/* one stored by an older version for an xattr on the root: ids and
	 * times 0, which the first kind folder's replace */
	node_fresh(&n, S_IFDIR | 0755, 0, 0);
	n.atime = n.mtime = n.ctime = n.crtime = 0;
	assert_int_equal(node_xattr_set(&n, "user.k", "v", 1, 0), 0);
	root_put(f->env, &n);
	node_release(&n);
	root_get(f->env, &n, &k);
	assert_true(n.mtime == k.crtime && n.crtime == k.crtime);
	assert_int_equal(n.mode, S_IFDIR | 0755);
	assert_int_equal(node_xattr_get(&n, "user.k", &xv, &xl), 0);
	assert_true(xl == 1 && memcmp(xv, "v", 1) == 0);
	node_release(&n);
	node_release(&k);
}

/* ---- records below a damaged page ------------------------------------ */

/*
 * Regression: `cccfs check` on a store with a damaged branch page of a
 * record table reported the page, then read the records below it through
 * the damaged page and listed them as checked (with -v, "ok" for each);
 * a zeroed page ended the check with exit 1 instead of a report.  Now
 * the records below it are counted as not checked, with their keys, none
 * is listed as ok, and the exit code is 3.
 */

#define MANY 5000u

static void record_name(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "r%05u.yaml", i);
}

/* MANY records in prompts/, in one commit, then two more commits so that
 * both meta slots are newer than the records' pages. */
static void put_many(kv_env *env)
{
	char path[64], body[400], name[32];
	struct stx s;

	assert_int_equal(stx_begin(env, true, &s), 0);
	for (unsigned i = 0; i < MANY; i++) {
		struct node n;

		record_name(name, sizeof(name), i);
		snprintf(path, sizeof(path), "prompts/%s", name);
		snprintf(body, sizeof(body), "name: r%u\nbody: %0300u\n", i, i);
		node_fresh(&n, S_IFREG | 0644, 0, 0);
		n.size = strlen(body);
		n.txnid = kv_txn_id(s.txn);
		assert_int_equal(
		        store_content_put(&s, path, n.mode, body, n.size), 0);
		assert_int_equal(store_node_put(&s, path, &n), 0);
	}
	assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
	put_file(env, "agents/a.yaml", "name: a\n");
	put_file(env, "agents/b.yaml", "name: b\n");
}

/* Run `cccfs check -v` on the closed store, its report into out (n
 * bytes); the exit code. */
static int check_report(struct tmpenv *f, char *out, size_t n)
{
	char *argv[] = { "check", "-v", f->path, NULL };
	char file[4200];
	FILE *fp;
	size_t got;
	int saved, rc;

	if (f->env) {
		kv_env_close(f->env);
		f->env = NULL;
	}
	tmpdir_path(file, sizeof(file), f->dir, "report");
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(freopen(file, "w", stdout) != NULL);
	rc = cmd_check(3, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	fp = fopen(file, "r");
	assert_non_null(fp);
	got = fread(out, 1, n - 1, fp);
	out[got] = '\0';
	fclose(fp);
	return rc;
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : (al > bl) - (al < bl);
}

static bool below(const struct dbfile_child *c, const char *key)
{
	size_t kl = strlen(key);

	return (!c->has_lo || bytes_cmp(key, kl, c->lo, c->lo_len) >= 0) &&
	       (!c->has_hi || bytes_cmp(key, kl, c->hi, c->hi_len) < 0);
}

static void damaged_records_case(struct tmpenv *f, bool zero)
{
	static char out[4 << 20];
	struct dbfile_child c;
	char want[3000], line[200], name[32];
	unsigned under = 0;

	put_many(f->env);
	kv_env_close(f->env);
	f->env = NULL;
	assert_true(dbfile_root_child(f->path, "prompts", 1, &c));
	assert_int_equal(c.type, 2 /* a branch page */);
	assert_true(c.has_lo && c.has_hi);
	if (zero)
		assert_int_equal(dbfile_zero_page(f->path, c.pgno), 0);
	else
		assert_int_equal(dbfile_flip_byte(f->path, c.pgno, 3000), 0);
	for (unsigned i = 0; i < MANY; i++) {
		record_name(name, sizeof(name), i);
		under += below(&c, name);
	}
	assert_true(under > 0 && under < MANY);

	assert_int_equal(check_report(f, out, sizeof(out)), 3);
	snprintf(want, sizeof(want),
	         "%u records under a damaged page in table prompts could not "
	         "be checked (keys from \"%.*s\", below \"%.*s\")",
	         under, (int)c.lo_len, c.lo, (int)c.hi_len, c.hi);
	if (strstr(out, want) == NULL)
		fail_msg("the report does not say '%s':\n%.3000s", want, out);
	snprintf(line, sizeof(line), "page %" PRIu64 ": ", c.pgno);
	assert_non_null(strstr(out, line));
	/* none of them is listed as checked, and none is reported missing */
	for (unsigned i = 0; i < MANY; i++) {
		record_name(name, sizeof(name), i);
		snprintf(line, sizeof(line), "ok /prompts/%s\n", name);
		if (below(&c, name) && strstr(out, line) != NULL)
			fail_msg("%s is below the damaged page but listed "
			         "as checked",
			         name);
		snprintf(line, sizeof(line), "/prompts/%s: content missing",
		         name);
		if (strstr(out, line) != NULL)
			fail_msg("%s reported missing", name);
	}
	assert_true(kv_env_open(&f->env, f->path, 0, 0600) == 0);
}

static void test_check_damaged_branch(void **state)
{
	damaged_records_case(*state, false);
}

static void test_check_zeroed_branch(void **state)
{
	damaged_records_case(*state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_and_listing, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_node_roundtrip, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_subtree_move, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_check_exit_codes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_check_history, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_check_error_message, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_root_node, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_check_damaged_branch,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_zeroed_branch, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
