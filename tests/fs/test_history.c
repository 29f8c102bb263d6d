/*
 * Tests for fs/store/history.c and fs/store/histview.c against the real
 * engine.  Every change goes through the store API in its own write
 * transaction, in the order the daemon uses (fs/daemon/entry.c
 * make_entry, do_move, do_exchange and the unlink path; fs/daemon/file.c
 * save_put), so the hooks in store.c run as they do under a mount.
 *
 * A record's history is written as a short string to compare:
 *
 *   v2       an older version (v2<FROM: one a rename brought)
 *   L3       the live version (L3<FROM likewise)
 *   D3>TO    the deletion (>TO: by a rename to TO)
 *   R2:A>B   a rename from A to B after version 2
 *
 * and each test ends by checking that every version hist_space() counts
 * is one hist_each() shows, and that hist_get() returns each of them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "fstest.h"
#include "history.h"
#include "pathmap.h"
#include "snaps.h"
#include "store.h"
#include "tmpdir.h"

#define SEC 1000000000LL

/* 2026-11-02T00:00:00Z, a Monday */
#define MONDAY 1793577600LL

static int setup(void **state)
{
	hist_set_recording(true); /* whatever a failed test left */
	return fstest_setup(state, "history");
}

static int teardown(void **state)
{
	hist_set_recording(true);
	return tmpenv_teardown(state);
}

static kv_env *env_of(void **state)
{
	return ((struct tmpenv *)*state)->env;
}

/* ---- changes, as the daemon makes them ------------------------------------ */

/* make_entry(): a new empty file, folder or symlink in one commit. */
static void make(kv_env *env, const char *path, uint32_t mode,
                 const char *target)
{
	struct stx s;
	struct node n;

	assert_int_equal(stx_begin(env, true, &s), 0);
	assert_int_equal(store_node_get(&s, path, &n), -ENOENT);
	node_fresh(&n, mode, 0, 0);
	n.txnid = kv_txn_id(s.txn);
	if (target) {
		n.size = strlen(target);
		assert_int_equal(
		        store_content_put(&s, path, mode, target, n.size), 0);
	} else if (S_ISREG(mode)) {
		assert_int_equal(store_content_put(&s, path, mode, "", 0), 0);
	}
	assert_int_equal(store_node_put(&s, path, &n), 0);
	assert_int_equal(store_touch_parent(&s, path, n.ctime), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
}

static void mk(kv_env *env, const char *path)
{
	make(env, path, S_IFREG | 0644, NULL);
}

/* The content put of save_put(), without its check for the same bytes:
 * the hooks must skip an identical save themselves. */
static void save_in(struct stx *s, const char *path, const char *content)
{
	struct node n;
	size_t len = strlen(content);

	assert_int_equal(store_node_get(s, path, &n), 0);
	assert_int_equal(store_content_put(s, path, n.mode, content, len), 0);
	n.size = len;
	n.txnid = kv_txn_id(s->txn);
	n.mtime = n.ctime = clock_real_ns();
	assert_int_equal(store_node_put(s, path, &n), 0);
	node_release(&n);
}

/* One save of an existing file. */
static void save(kv_env *env, const char *path, const char *content)
{
	struct stx s;

	assert_int_equal(stx_begin(env, true, &s), 0);
	save_in(&s, path, content);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
}

/* Create (when missing) and save, as an editor writing a new file. */
static void write_file(kv_env *env, const char *path, const char *content)
{
	struct stx s;
	struct node n;
	int rc;

	assert_int_equal(stx_begin(env, false, &s), 0);
	rc = store_node_get(&s, path, &n);
	stx_abort(&s);
	if (rc == 0)
		node_release(&n);
	else
		mk(env, path);
	save(env, path, content);
}

/* A record written in one commit with a given mtime, as an import (or a
 * store from before history) leaves it. */
static void put_at(kv_env *env, const char *path, const char *content,
                   int64_t mtime)
{
	struct stx s;
	struct node n;

	assert_int_equal(stx_begin(env, true, &s), 0);
	node_fresh(&n, S_IFREG | 0640, 7, 8);
	n.size = strlen(content);
	n.txnid = kv_txn_id(s.txn);
	n.mtime = mtime;
	assert_int_equal(store_content_put(&s, path, n.mode, content, n.size),
	                 0);
	assert_int_equal(store_node_put(&s, path, &n), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
}

/* The unlink path: store_remove() of a file or an empty folder. */
static void rm(kv_env *env, const char *path)
{
	struct stx s;
	struct node n;

	assert_int_equal(stx_begin(env, true, &s), 0);
	assert_int_equal(store_node_get(&s, path, &n), 0);
	node_release(&n);
	assert_int_equal(store_remove(&s, path, n.mode), 0);
	assert_int_equal(store_touch_parent(&s, path, clock_real_ns()), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
}

/* do_move() in s: replace or take a free path.  The code of
 * store_subtree_move(). */
static int mv_in(struct stx *s, const char *from, const char *to)
{
	struct subtree t = { 0 };
	struct node src, dst;
	int rc;

	assert_int_equal(store_node_get(s, from, &src), 0);
	node_release(&src);
	rc = store_node_get(s, to, &dst);
	assert_true(rc == 0 || rc == -ENOENT);
	if (rc == 0)
		node_release(&dst);
	assert_int_equal(store_subtree_load(s, from, &t), 0);
	rc = store_subtree_move(s, from, to, &t, rc == 0 ? dst.mode : 0);
	subtree_release(&t);
	if (rc == 0)
		rc = store_touch_parents(s, from, to, clock_real_ns());
	return rc;
}

/* A rename in a commit of its own (none if it fails): its code. */
static int mv_rc(kv_env *env, const char *from, const char *to)
{
	struct stx s;
	int rc;

	assert_int_equal(stx_begin(env, true, &s), 0);
	rc = mv_in(&s, from, to);
	if (rc == 0)
		assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
	else
		stx_abort(&s);
	return rc;
}

static void mv(kv_env *env, const char *from, const char *to)
{
	assert_int_equal(mv_rc(env, from, to), 0);
}

/* do_exchange(): RENAME_EXCHANGE of two existing entries. */
static void xchg(kv_env *env, const char *a, const char *b)
{
	struct subtree ta = { 0 }, tb = { 0 };
	struct stx s;

	assert_int_equal(stx_begin(env, true, &s), 0);
	assert_int_equal(store_subtree_load(&s, a, &ta), 0);
	assert_int_equal(store_subtree_load(&s, b, &tb), 0);
	assert_int_equal(store_subtree_exchange(&s, a, b, &ta, &tb), 0);
	subtree_release(&ta);
	subtree_release(&tb);
	assert_int_equal(store_touch_parents(&s, a, b, clock_real_ns()), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
}

/* ---- reading history ------------------------------------------------------ */

struct item {
	enum hist_kind kind;
	uint64_t version, txnid, size;
	int64_t time;
	uint32_t mode, uid, gid;
	char from[PM_PATH_MAX + 1], to[PM_PATH_MAX + 1];
};

struct items {
	struct item v[32];
	size_t n;
};

static int keep_item(void *ctx, const struct hist_item *it)
{
	struct items *is = ctx;
	struct item *d;

	assert_true(is->n < sizeof(is->v) / sizeof(is->v[0]));
	d = &is->v[is->n++];
	d->kind = it->kind;
	d->version = it->version;
	d->txnid = it->txnid;
	d->size = it->size;
	d->time = it->time;
	d->mode = it->mode;
	d->uid = it->uid;
	d->gid = it->gid;
	assert_true(it->from_len <= PM_PATH_MAX && it->to_len <= PM_PATH_MAX);
	memcpy(d->from, it->from_len ? it->from : "", it->from_len);
	d->from[it->from_len] = '\0';
	memcpy(d->to, it->to_len ? it->to : "", it->to_len);
	d->to[it->to_len] = '\0';
	return 0;
}

/* hist_each() of path in a read transaction: its return code. */
static int items_in(struct stx *s, const char *path, struct items *is)
{
	is->n = 0;
	return hist_each(s, path, keep_item, is);
}

static int items_of(kv_env *env, const char *path, struct items *is)
{
	struct stx s;
	int rc;

	assert_int_equal(stx_begin(env, false, &s), 0);
	rc = items_in(&s, path, is);
	stx_abort(&s);
	return rc;
}

static char hs_buf[4096];

static const char *str_of(int rc, const struct items *is)
{
	size_t off = 0;

	hs_buf[0] = '\0';
	if (rc != 0) {
		snprintf(hs_buf, sizeof(hs_buf), "%s",
		         rc == -ENOENT ? "ENOENT" : "error");
		return hs_buf;
	}
	for (size_t i = 0; i < is->n; i++) {
		const struct item *it = &is->v[i];
		unsigned long long v = it->version;
		const char *sep = i ? " " : "";

		switch (it->kind) {
		case HI_VERSION:
		case HI_LIVE:
			off += (size_t)snprintf(
			        hs_buf + off, sizeof(hs_buf) - off,
			        "%s%c%llu%s%s", sep,
			        it->kind == HI_LIVE ? 'L' : 'v', v,
			        *it->from ? "<" : "", it->from);
			break;
		case HI_DELETED:
			off += (size_t)snprintf(hs_buf + off,
			                        sizeof(hs_buf) - off,
			                        "%sD%llu%s%s", sep, v,
			                        *it->to ? ">" : "", it->to);
			break;
		case HI_RENAME:
			off += (size_t)snprintf(
			        hs_buf + off, sizeof(hs_buf) - off,
			        "%sR%llu:%s>%s", sep, v, it->from, it->to);
			break;
		}
		assert_true(off < sizeof(hs_buf));
	}
	return hs_buf;
}

/* The history of path as a string (see the top of the file). */
static const char *hs(kv_env *env, const char *path)
{
	struct items is;
	int rc = items_of(env, path, &is);

	return str_of(rc, &is);
}

/* Version v of path holds content (NULL: there is no version v). */
static void check_version(kv_env *env, const char *path, uint64_t v,
                          const char *content)
{
	struct hist_item it;
	struct stx s;
	void *data;
	size_t len;
	int rc;

	assert_int_equal(stx_begin(env, false, &s), 0);
	rc = hist_get(&s, path, v, &it, &data, &len);
	stx_abort(&s);
	if (content == NULL) {
		assert_int_equal(rc, -ENOENT);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(it.version, v);
	assert_int_equal(len, strlen(content));
	assert_int_equal(it.size, len);
	assert_memory_equal(data, content, len);
	free(data);
}

/* Versions 1.. of path hold contents[] (NULL: none), and no more. */
static void check_versions(kv_env *env, const char *path,
                           const char *const *contents, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_version(env, path, i + 1, contents[i]);
	check_version(env, path, n + 1, NULL);
	check_version(env, path, 0, NULL);
}

#define CHECK_VERSIONS(env, path, ...)                                     \
	do {                                                               \
		const char *const c_[] = { __VA_ARGS__ };                  \
		check_versions(env, path, c_, sizeof(c_) / sizeof(c_[0])); \
	} while (0)

static struct hist_space space_of(kv_env *env)
{
	struct hist_space sp;
	struct stx s;

	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(hist_space(&s, &sp), 0);
	stx_abort(&s);
	return sp;
}

struct paths {
	char *v[256];
	size_t n;
};

static int keep_path(void *ctx, const char *path)
{
	struct paths *ps = ctx;

	assert_true(ps->n < sizeof(ps->v) / sizeof(ps->v[0]));
	ps->v[ps->n] = strdup(path);
	assert_non_null(ps->v[ps->n]);
	ps->n++;
	return 0;
}

/*
 * What every test ends with: each path hist_paths() gives (in path
 * order) has a history that hist_each() reads, its versions numbered up
 * and ended by the live version or the deletion, each older version
 * readable with hist_get() at its size; and hist_space() counts exactly
 * those: no version kept that no path leads to.
 */
/* 1 when path holds a record (a node), 0 when not. */
static int has_record(struct stx *s, const char *path)
{
	struct node n;

	if (store_node_get(s, path, &n) != 0)
		return 0;
	node_release(&n);
	return 1;
}

static void check_consistent(kv_env *env)
{
	struct hist_space sp, seen = { 0 };
	struct paths ps = { .n = 0 };
	struct items is;
	struct stx s;

	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(hist_paths(&s, keep_path, &ps), 0);
	assert_int_equal(hist_space(&s, &sp), 0);
	for (size_t i = 0; i < ps.n; i++) {
		uint64_t last = 0;
		enum hist_kind end = HI_RENAME;

		if (i > 0)
			assert_true(strcmp(ps.v[i - 1], ps.v[i]) < 0);
		if (items_in(&s, ps.v[i], &is) != 0) {
			print_error("%s: hist_each fails\n", ps.v[i]);
			fail();
		}
		for (size_t j = 0; j < is.n; j++) {
			const struct item *it = &is.v[j];
			struct hist_item gi;
			void *data;
			size_t len;

			if (it->kind == HI_RENAME)
				continue;
			assert_true(it->version > last);
			last = it->version;
			end = it->kind;
			if (it->kind != HI_VERSION)
				continue;
			assert_int_equal(hist_get(&s, ps.v[i], it->version, &gi,
			                          &data, &len),
			                 0);
			assert_int_equal(len, it->size);
			free(data);
			seen.versions++;
			seen.bytes += it->size;
		}
		/* a record removed while this process did not record
		 * ends with its last older version */
		assert_true(
		        end == HI_LIVE || end == HI_DELETED ||
		        (end == HI_VERSION && has_record(&s, ps.v[i]) == 0));
	}
	stx_abort(&s);
	for (size_t i = 0; i < ps.n; i++)
		free(ps.v[i]);
	assert_int_equal(sp.records, ps.n);
	assert_int_equal(sp.versions, seen.versions);
	assert_int_equal(sp.bytes, seen.bytes);
}

static int has(kv_env *env, const char *path)
{
	struct stx s;
	int rc;

	assert_int_equal(stx_begin(env, false, &s), 0);
	rc = hist_has(&s, path);
	stx_abort(&s);
	return rc;
}

/* ---- saves ---------------------------------------------------------------- */

static void test_saves(void **state)
{
	kv_env *env = env_of(state);
	struct hist_space sp;
	struct items is;

	mk(env, "workflows/a.yaml");
	/* an empty create: no version, no history */
	assert_string_equal(hs(env, "workflows/a.yaml"), "ENOENT");
	assert_int_equal(space_of(env).records, 0);
	save(env, "workflows/a.yaml", "one\n");
	assert_string_equal(hs(env, "workflows/a.yaml"), "L1");
	/* the same bytes again: nothing */
	save(env, "workflows/a.yaml", "one\n");
	assert_string_equal(hs(env, "workflows/a.yaml"), "L1");
	save(env, "workflows/a.yaml", "two, longer\n");
	assert_string_equal(hs(env, "workflows/a.yaml"), "v1 L2");
	save(env, "workflows/a.yaml", "three\n");
	save(env, "workflows/a.yaml", "three\n");
	assert_string_equal(hs(env, "workflows/a.yaml"), "v1 v2 L3");
	CHECK_VERSIONS(env, "workflows/a.yaml", "one\n", "two, longer\n",
	               "three\n");

	/* times and commits go up; each version has its node's mode */
	assert_int_equal(items_of(env, "workflows/a.yaml", &is), 0);
	for (size_t i = 1; i < is.n; i++) {
		assert_true(is.v[i].time >= is.v[i - 1].time);
		assert_true(is.v[i].txnid > is.v[i - 1].txnid);
	}
	for (size_t i = 0; i < is.n; i++)
		assert_int_equal(is.v[i].mode & 07777, 0644);
	assert_int_equal(is.v[2].size, strlen("three\n"));

	sp = space_of(env);
	assert_int_equal(sp.records, 1);
	assert_int_equal(sp.versions, 2);
	assert_int_equal(sp.bytes, strlen("one\n") + strlen("two, longer\n"));

	/* .yml is a record too; a first save in the create's commit */
	put_file(env, "agents/b.yml", "b1");
	save(env, "agents/b.yml", "b2");
	assert_string_equal(hs(env, "agents/b.yml"), "v1 L2");

	/* side files and symlinks keep nothing */
	write_file(env, "workflows/notes.txt", "n1");
	save(env, "workflows/notes.txt", "n2");
	write_file(env, "workflows/.a.yaml.swp", "s1");
	save(env, "workflows/.a.yaml.swp", "s2");
	make(env, "workflows/link.yaml", S_IFLNK | 0777, "a.yaml");
	sp = space_of(env);
	assert_int_equal(sp.records, 2);
	assert_int_equal(sp.versions, 3);
	assert_int_equal(has(env, "workflows/notes.txt"), 0);
	assert_int_equal(has(env, "workflows/.a.yaml.swp"), 0);
	assert_int_equal(has(env, "workflows/link.yaml"), 0);
	assert_string_equal(hs(env, "workflows/link.yaml"), "ENOENT");
	check_version(env, "workflows/link.yaml", 1, NULL);
	check_consistent(env);
	/*
	 * hist_each(): "-ENOENT if path has no history and no live record";
	 * a side file is no record.
	 */
	assert_string_equal(hs(env, "workflows/notes.txt"), "ENOENT");
	assert_string_equal(hs(env, "workflows/.a.yaml.swp"), "ENOENT");
	check_version(env, "workflows/notes.txt", 1, NULL);
	check_consistent(env);
}

/* ---- records from before history ------------------------------------------ */

static void test_pre_history(void **state)
{
	kv_env *env = env_of(state);
	const int64_t t0 = (MONDAY - 86400) * SEC + 123;
	struct items is;

	hist_set_recording(false);
	put_at(env, "workflows/old.yaml", "old\n", t0);
	put_at(env, "workflows/gone.yaml", "gone\n", t0);
	put_at(env, "workflows/moved.yaml", "moved\n", t0);
	put_at(env, "workflows/away.yaml", "away\n", t0);
	hist_set_recording(true);
	assert_int_equal(space_of(env).records, 0);

	/* shown as version 1 with its node's time until it changes */
	assert_int_equal(items_of(env, "workflows/gone.yaml", &is), 0);
	assert_int_equal(is.n, 1);
	assert_int_equal(is.v[0].kind, HI_LIVE);
	assert_int_equal(is.v[0].version, 1);
	assert_int_equal(is.v[0].time, t0);
	assert_int_equal(is.v[0].uid, 7);
	CHECK_VERSIONS(env, "workflows/gone.yaml", "gone\n");

	/* its first change keeps the old content as version 1 */
	save(env, "workflows/old.yaml", "new\n");
	assert_string_equal(hs(env, "workflows/old.yaml"), "v1 L2");
	CHECK_VERSIONS(env, "workflows/old.yaml", "old\n", "new\n");
	assert_int_equal(items_of(env, "workflows/old.yaml", &is), 0);
	assert_int_equal(is.v[0].time, t0);
	assert_int_equal(is.v[0].mode & 07777, 0640);
	assert_int_equal(is.v[0].uid, 7);
	assert_int_equal(is.v[0].gid, 8);

	/* deleted: its content is version 1, the deletion 2 */
	rm(env, "workflows/gone.yaml");
	assert_string_equal(hs(env, "workflows/gone.yaml"), "v1 D2");
	CHECK_VERSIONS(env, "workflows/gone.yaml", "gone\n", NULL);

	/* moved to a free path: nothing to carry, shown there as before */
	mv(env, "workflows/moved.yaml", "workflows/moved2.yaml");
	assert_string_equal(hs(env, "workflows/moved.yaml"), "ENOENT");
	assert_string_equal(hs(env, "workflows/moved2.yaml"), "L1");
	CHECK_VERSIONS(env, "workflows/moved2.yaml", "moved\n");

	/* moved to a side file's name: a deletion */
	mv(env, "workflows/away.yaml", "workflows/away.yaml~");
	assert_string_equal(hs(env, "workflows/away.yaml"),
	                    "v1 D2>workflows/away.yaml~");
	CHECK_VERSIONS(env, "workflows/away.yaml", "away\n", NULL);
	check_consistent(env);

	/*
	 * Version 1 of a record from before history is the content it had
	 * since its last change (t0), as for old.yaml above, so the name of
	 * its file in .history does not change when the record is deleted.
	 */
	assert_int_equal(items_of(env, "workflows/gone.yaml", &is), 0);
	assert_int_equal(is.v[0].time, t0);
	assert_int_equal(items_of(env, "workflows/away.yaml", &is), 0);
	assert_int_equal(is.v[0].time, t0);
}

/* ---- deletion ---------------------------------------------------------------- */

static void test_delete_and_create_again(void **state)
{
	kv_env *env = env_of(state);
	struct items is;

	write_file(env, "prompts/d.yaml", "one\n");
	save(env, "prompts/d.yaml", "two\n");
	rm(env, "prompts/d.yaml");
	assert_string_equal(hs(env, "prompts/d.yaml"), "v1 v2 D3");
	assert_int_equal(items_of(env, "prompts/d.yaml", &is), 0);
	assert_int_equal(is.v[is.n - 1].kind, HI_DELETED);
	assert_true(is.v[2].time >= is.v[1].time);
	CHECK_VERSIONS(env, "prompts/d.yaml", "one\n", "two\n", NULL);
	assert_int_equal(has(env, "prompts/d.yaml"), 1);

	/* created again (empty, then written): the history goes on, and
	 * the new content takes the deletion's number */
	mk(env, "prompts/d.yaml");
	assert_string_equal(hs(env, "prompts/d.yaml"), "v1 v2 D3");
	save(env, "prompts/d.yaml", "three\n");
	assert_string_equal(hs(env, "prompts/d.yaml"), "v1 v2 L3");
	save(env, "prompts/d.yaml", "four\n");
	assert_string_equal(hs(env, "prompts/d.yaml"), "v1 v2 v3 L4");
	CHECK_VERSIONS(env, "prompts/d.yaml", "one\n", "two\n", "three\n",
	               "four\n");

	/* the same, created with its content in one commit */
	rm(env, "prompts/d.yaml");
	put_file(env, "prompts/d.yaml", "five\n");
	assert_string_equal(hs(env, "prompts/d.yaml"), "v1 v2 v3 v4 L5");
	CHECK_VERSIONS(env, "prompts/d.yaml", "one\n", "two\n", "three\n",
	               "four\n", "five\n");

	/* an empty record that never had content leaves nothing */
	mk(env, "prompts/e.yaml");
	rm(env, "prompts/e.yaml");
	assert_string_equal(hs(env, "prompts/e.yaml"), "ENOENT");
	assert_int_equal(has(env, "prompts/e.yaml"), 0);

	/* emptied, then deleted: the empty content is a version */
	write_file(env, "prompts/f.yaml", "full\n");
	save(env, "prompts/f.yaml", "");
	assert_string_equal(hs(env, "prompts/f.yaml"), "v1 L2");
	rm(env, "prompts/f.yaml");
	assert_string_equal(hs(env, "prompts/f.yaml"), "v1 v2 D3");
	CHECK_VERSIONS(env, "prompts/f.yaml", "full\n", "", NULL);
	check_consistent(env);
}

/* ---- renames -------------------------------------------------------------- */

static void test_rename_free_path(void **state)
{
	kv_env *env = env_of(state);
	struct items is;

	write_file(env, "workflows/a.yaml", "1\n");
	save(env, "workflows/a.yaml", "2\n");
	mv(env, "workflows/a.yaml", "workflows/b.yaml");
	assert_string_equal(hs(env, "workflows/a.yaml"), "ENOENT");
	assert_int_equal(has(env, "workflows/a.yaml"), 0);
	assert_string_equal(hs(env, "workflows/b.yaml"),
	                    "v1 L2 R2:workflows/a.yaml>workflows/b.yaml");
	assert_int_equal(items_of(env, "workflows/b.yaml", &is), 0);
	assert_true(is.v[2].time >= is.v[1].time);
	CHECK_VERSIONS(env, "workflows/b.yaml", "1\n", "2\n");

	/* the rename stays after the version it followed */
	save(env, "workflows/b.yaml", "3\n");
	assert_string_equal(hs(env, "workflows/b.yaml"),
	                    "v1 v2 R2:workflows/a.yaml>workflows/b.yaml L3");
	/* into another folder, and another kind */
	put_dir(env, "workflows/sub");
	mv(env, "workflows/b.yaml", "workflows/sub/c.yaml");
	mv(env, "workflows/sub/c.yaml", "agents/c.yaml");
	assert_string_equal(hs(env, "agents/c.yaml"),
	                    "v1 v2 R2:workflows/a.yaml>workflows/b.yaml L3 "
	                    "R3:workflows/b.yaml>workflows/sub/c.yaml "
	                    "R3:workflows/sub/c.yaml>agents/c.yaml");
	CHECK_VERSIONS(env, "agents/c.yaml", "1\n", "2\n", "3\n");
	assert_string_equal(hs(env, "workflows/sub/c.yaml"), "ENOENT");
	/* and on from there */
	save(env, "agents/c.yaml", "4\n");
	assert_string_equal(hs(env, "agents/c.yaml"),
	                    "v1 v2 R2:workflows/a.yaml>workflows/b.yaml v3 "
	                    "R3:workflows/b.yaml>workflows/sub/c.yaml "
	                    "R3:workflows/sub/c.yaml>agents/c.yaml L4");
	check_consistent(env);
}

static void test_rename_side_file_onto_record(void **state)
{
	kv_env *env = env_of(state);

	/* sed -i: the new content in a side file renamed over the record */
	write_file(env, "workflows/r.yaml", "one\n");
	write_file(env, "workflows/sedXYZ", "two\n");
	mv(env, "workflows/sedXYZ", "workflows/r.yaml");
	assert_string_equal(hs(env, "workflows/r.yaml"), "v1 L2");
	assert_string_equal(hs(env, "workflows/sedXYZ"), "ENOENT");
	CHECK_VERSIONS(env, "workflows/r.yaml", "one\n", "two\n");
	/* the same bytes: no version */
	write_file(env, "workflows/sedXYZ", "two\n");
	mv(env, "workflows/sedXYZ", "workflows/r.yaml");
	assert_string_equal(hs(env, "workflows/r.yaml"), "v1 L2");

	/* onto a record from before history */
	hist_set_recording(false);
	put_file(env, "workflows/p.yaml", "before\n");
	hist_set_recording(true);
	write_file(env, "workflows/.p.tmp", "after\n");
	mv(env, "workflows/.p.tmp", "workflows/p.yaml");
	assert_string_equal(hs(env, "workflows/p.yaml"), "v1 L2");
	CHECK_VERSIONS(env, "workflows/p.yaml", "before\n", "after\n");

	/* onto a free record name: a new record */
	write_file(env, "workflows/.n.tmp", "new\n");
	mv(env, "workflows/.n.tmp", "workflows/n.yaml");
	assert_string_equal(hs(env, "workflows/n.yaml"), "L1");

	/* onto a deleted record's path: its history goes on */
	rm(env, "workflows/n.yaml");
	write_file(env, "workflows/.n.tmp", "again\n");
	mv(env, "workflows/.n.tmp", "workflows/n.yaml");
	assert_string_equal(hs(env, "workflows/n.yaml"), "v1 L2");
	CHECK_VERSIONS(env, "workflows/n.yaml", "new\n", "again\n");
	check_consistent(env);
}

static void test_rename_record_onto_record(void **state)
{
	kv_env *env = env_of(state);

	write_file(env, "workflows/s.yaml", "s1\n");
	save(env, "workflows/s.yaml", "s2\n");
	write_file(env, "workflows/t.yaml", "t1\n");
	mv(env, "workflows/s.yaml", "workflows/t.yaml");
	assert_string_equal(hs(env, "workflows/t.yaml"),
	                    "v1 L2<workflows/s.yaml");
	CHECK_VERSIONS(env, "workflows/t.yaml", "t1\n", "s2\n");
	assert_string_equal(hs(env, "workflows/s.yaml"),
	                    "v1 v2 D3>workflows/t.yaml");
	CHECK_VERSIONS(env, "workflows/s.yaml", "s1\n", "s2\n", NULL);
	/* the next save keeps where that version came from */
	save(env, "workflows/t.yaml", "t3\n");
	assert_string_equal(hs(env, "workflows/t.yaml"),
	                    "v1 v2<workflows/s.yaml L3");

	/* an editor's save: the record moved to a backup name (a
	 * deletion), then written anew: one version, not two */
	mv(env, "workflows/t.yaml", "workflows/t.yaml~");
	assert_string_equal(hs(env, "workflows/t.yaml"),
	                    "v1 v2<workflows/s.yaml v3 "
	                    "D4>workflows/t.yaml~");
	write_file(env, "workflows/t.yaml", "t4\n");
	assert_string_equal(hs(env, "workflows/t.yaml"),
	                    "v1 v2<workflows/s.yaml v3 L4");
	assert_int_equal(has(env, "workflows/t.yaml~"), 0);
	CHECK_VERSIONS(env, "workflows/t.yaml", "t1\n", "s2\n", "t3\n", "t4\n");
	check_consistent(env);
}

static void test_rename_folder(void **state)
{
	kv_env *env = env_of(state);
	struct names nm;

	put_dir(env, "workflows/f");
	put_dir(env, "workflows/f/g");
	write_file(env, "workflows/f/a.yaml", "a1\n");
	save(env, "workflows/f/a.yaml", "a2\n");
	write_file(env, "workflows/f/g/b.yaml", "b1\n");
	write_file(env, "workflows/f/gone.yaml", "gone\n");
	rm(env, "workflows/f/gone.yaml");
	write_file(env, "workflows/f/side.txt", "side\n");
	mk(env, "workflows/f/empty.yaml");
	mv(env, "workflows/f", "workflows/h");
	assert_string_equal(list(env, "workflows/h", &nm),
	                    "a.yaml empty.yaml g side.txt ");
	assert_string_equal(hs(env, "workflows/h/a.yaml"),
	                    "v1 L2 R2:workflows/f/a.yaml>workflows/h/a.yaml");
	assert_string_equal(hs(env, "workflows/h/g/b.yaml"),
	                    "L1 R1:workflows/f/g/b.yaml>workflows/h/g/b.yaml");
	CHECK_VERSIONS(env, "workflows/h/a.yaml", "a1\n", "a2\n");
	assert_string_equal(hs(env, "workflows/f/a.yaml"), "ENOENT");
	assert_string_equal(hs(env, "workflows/f/g/b.yaml"), "ENOENT");
	assert_string_equal(hs(env, "workflows/h/empty.yaml"), "ENOENT");
	/* a deleted record stays where it was */
	assert_string_equal(hs(env, "workflows/f/gone.yaml"), "v1 D2");
	assert_string_equal(hs(env, "workflows/h/gone.yaml"), "ENOENT");
	assert_int_equal(has(env, "workflows/f"), 1);
	assert_int_equal(has(env, "workflows/f/g"), 0);
	assert_int_equal(has(env, "workflows/h/g"), 1);

	/* to another kind */
	mv(env, "workflows/h", "prompts/h");
	assert_string_equal(hs(env, "prompts/h/a.yaml"),
	                    "v1 L2 R2:workflows/f/a.yaml>workflows/h/a.yaml "
	                    "R2:workflows/h/a.yaml>prompts/h/a.yaml");
	CHECK_VERSIONS(env, "prompts/h/a.yaml", "a1\n", "a2\n");
	check_consistent(env);
}

static void test_exchange(void **state)
{
	kv_env *env = env_of(state);

	write_file(env, "workflows/p.yaml", "p1\n");
	save(env, "workflows/p.yaml", "p2\n");
	write_file(env, "workflows/q.yaml", "q1\n");
	xchg(env, "workflows/p.yaml", "workflows/q.yaml");
	assert_string_equal(hs(env, "workflows/p.yaml"),
	                    "L1 R1:workflows/q.yaml>workflows/p.yaml");
	assert_string_equal(hs(env, "workflows/q.yaml"),
	                    "v1 L2 R2:workflows/p.yaml>workflows/q.yaml");
	CHECK_VERSIONS(env, "workflows/p.yaml", "q1\n");
	CHECK_VERSIONS(env, "workflows/q.yaml", "p1\n", "p2\n");

	/* two folders: each record's history goes with it */
	put_dir(env, "agents/e1");
	put_dir(env, "agents/e2");
	write_file(env, "agents/e1/x.yaml", "e1x1\n");
	save(env, "agents/e1/x.yaml", "e1x2\n");
	write_file(env, "agents/e2/x.yaml", "e2x1\n");
	write_file(env, "agents/e2/y.yaml", "e2y1\n");
	xchg(env, "agents/e1", "agents/e2");
	CHECK_VERSIONS(env, "agents/e2/x.yaml", "e1x1\n", "e1x2\n");
	CHECK_VERSIONS(env, "agents/e1/x.yaml", "e2x1\n");
	CHECK_VERSIONS(env, "agents/e1/y.yaml", "e2y1\n");
	assert_string_equal(hs(env, "agents/e1/y.yaml"),
	                    "L1 R1:agents/e2/y.yaml>agents/e1/y.yaml");
	assert_string_equal(hs(env, "agents/e2/y.yaml"), "ENOENT");

	/* a record and a side file: the record's history ends in a
	 * deletion and goes on with the content that arrives */
	write_file(env, "workflows/r.yaml", "r1\n");
	save(env, "workflows/r.yaml", "r2\n");
	write_file(env, "workflows/z.txt", "zz\n");
	xchg(env, "workflows/r.yaml", "workflows/z.txt");
	assert_string_equal(hs(env, "workflows/r.yaml"), "v1 v2 L3");
	CHECK_VERSIONS(env, "workflows/r.yaml", "r1\n", "r2\n", "zz\n");
	assert_int_equal(has(env, "workflows/z.txt"), 0);
	check_consistent(env);
}

/*
 * A record renamed (or exchanged) onto a path whose history is that of
 * a deleted record.  The moved record's history takes the path; the
 * deleted record's history moves aside to NAME.deleted-RID.yaml beside
 * it, where every version stays reachable (check_consistent).
 */
static void test_rename_onto_deleted_history(void **state)
{
	kv_env *env = env_of(state);
	struct hist_space before;

	write_file(env, "workflows/o.yaml", "o1\n");
	save(env, "workflows/o.yaml", "o2\n");
	rm(env, "workflows/o.yaml");
	write_file(env, "workflows/n.yaml", "n1\n");
	check_consistent(env);
	before = space_of(env);
	mv(env, "workflows/n.yaml", "workflows/o.yaml");
	CHECK_VERSIONS(env, "workflows/o.yaml", "n1\n");
	assert_int_equal(space_of(env).versions, before.versions);
	CHECK_VERSIONS(env, "workflows/o.deleted-1.yaml", "o1\n", "o2\n");
	assert_string_equal(hs(env, "workflows/o.deleted-1.yaml"),
	                    "v1 v2 D3 R3:workflows/o.yaml>"
	                    "workflows/o.deleted-1.yaml");
	/* and again: the name after it is taken */
	rm(env, "workflows/o.yaml");
	write_file(env, "workflows/o.deleted-1.yaml", "x\n");
	rm(env, "workflows/o.deleted-1.yaml");
	write_file(env, "workflows/p.yaml", "p1\n");
	mv(env, "workflows/p.yaml", "workflows/o.yaml");
	CHECK_VERSIONS(env, "workflows/o.deleted-2.yaml", "n1\n");
	check_consistent(env);
}

static void test_exchange_onto_deleted_history(void **state)
{
	kv_env *env = env_of(state);

	/* e.yaml: deleted, then created again empty (its slot still says
	 * deleted: an empty create is no version) */
	write_file(env, "workflows/e.yaml", "e1\n");
	rm(env, "workflows/e.yaml");
	mk(env, "workflows/e.yaml");
	write_file(env, "workflows/w.yaml", "w1\n");
	save(env, "workflows/w.yaml", "w2\n");
	check_consistent(env);
	xchg(env, "workflows/e.yaml", "workflows/w.yaml");
	CHECK_VERSIONS(env, "workflows/e.yaml", "w1\n", "w2\n");
	CHECK_VERSIONS(env, "workflows/e.deleted-1.yaml", "e1\n");
	check_consistent(env);
}

/* ---- transactions ----------------------------------------------------------- */

static void test_abort_leaves_no_trace(void **state)
{
	kv_env *env = env_of(state);
	struct hist_space sp;
	struct stx s;

	write_file(env, "workflows/a.yaml", "a1\n");
	write_file(env, "workflows/b.yaml", "b1\n");
	hist_set_recording(false);
	put_file(env, "workflows/old.yaml", "old\n");
	hist_set_recording(true);
	sp = space_of(env);

	/* saves, a first change, a new record, a deletion and a rename,
	 * all in one transaction, aborted */
	assert_int_equal(stx_begin(env, true, &s), 0);
	save_in(&s, "workflows/a.yaml", "a2\n");
	save_in(&s, "workflows/a.yaml", "a3\n");
	save_in(&s, "workflows/old.yaml", "new\n");
	{
		struct node n;

		node_fresh(&n, S_IFREG | 0644, 0, 0);
		assert_int_equal(store_content_put(&s, "workflows/c.yaml",
		                                   n.mode, "c1\n", 3),
		                 0);
		assert_int_equal(store_node_put(&s, "workflows/c.yaml", &n), 0);
	}
	assert_int_equal(store_remove(&s, "workflows/b.yaml", S_IFREG | 0644),
	                 0);
	assert_int_equal(mv_in(&s, "workflows/a.yaml", "workflows/d.yaml"), 0);
	{
		struct items is;

		/* seen inside the transaction */
		assert_int_equal(items_in(&s, "workflows/d.yaml", &is), 0);
		assert_string_equal(
		        str_of(0, &is),
		        "v1 v2 L3 R3:workflows/a.yaml>workflows/d.yaml");
	}
	stx_abort(&s);

	assert_string_equal(hs(env, "workflows/a.yaml"), "L1");
	assert_string_equal(hs(env, "workflows/b.yaml"), "L1");
	assert_string_equal(hs(env, "workflows/old.yaml"), "L1");
	assert_string_equal(hs(env, "workflows/c.yaml"), "ENOENT");
	assert_string_equal(hs(env, "workflows/d.yaml"), "ENOENT");
	CHECK_VERSIONS(env, "workflows/a.yaml", "a1\n");
	CHECK_VERSIONS(env, "workflows/old.yaml", "old\n");
	assert_int_equal(space_of(env).records, sp.records);
	assert_int_equal(space_of(env).versions, sp.versions);
	/* and c.yaml starts afresh */
	write_file(env, "workflows/c.yaml", "c1\n");
	assert_string_equal(hs(env, "workflows/c.yaml"), "L1");
	check_consistent(env);
}

/*
 * With recording off the hooks do nothing, and "what history there is
 * stays readable" (history.h): a record deleted or renamed meanwhile
 * keeps its slot, live, at a path where nothing lives, and shows its
 * older versions.
 */
static void test_recording_off(void **state)
{
	kv_env *env = env_of(state);
	struct items is;

	write_file(env, "workflows/a.yaml", "a1\n");
	save(env, "workflows/a.yaml", "a2\n");
	write_file(env, "workflows/b.yaml", "b1\n");
	save(env, "workflows/b.yaml", "b2\n");
	hist_set_recording(false);
	save(env, "workflows/a.yaml", "a3\n");
	/* no version: the live content is what changed */
	assert_string_equal(hs(env, "workflows/a.yaml"), "v1 L2");
	CHECK_VERSIONS(env, "workflows/a.yaml", "a1\n", "a3\n");
	rm(env, "workflows/a.yaml");
	mv(env, "workflows/b.yaml", "workflows/c.yaml");
	hist_set_recording(true);

	assert_int_equal(items_of(env, "workflows/a.yaml", &is), 0);
	assert_int_equal(is.v[0].kind, HI_VERSION);
	check_version(env, "workflows/a.yaml", 1, "a1\n");
	assert_int_equal(items_of(env, "workflows/b.yaml", &is), 0);
	check_version(env, "workflows/b.yaml", 1, "b1\n");
	check_consistent(env);
}

/* ---- sizes ------------------------------------------------------------------ */

/* Versions far larger than a page, and long paths (999 bytes, then the
 * longest): a rename's note and item carry the whole of both. */
static void test_long_paths_and_big_versions(void **state)
{
	kv_env *env = env_of(state);
	char dir[PM_PATH_MAX + 1], a[PM_PATH_MAX + 1], b[PM_PATH_MAX + 1],
	        c[PM_PATH_MAX + 1];
	char view[PM_PATH_MAX + 64], name[HIST_NAME_MAX];
	size_t big = 300000;
	char *c1 = malloc(big + 1), *c2 = malloc(big + 1);
	struct hist_item it;
	struct items is;
	struct stx s;
	void *data;
	size_t len;

	assert_non_null(c1);
	assert_non_null(c2);
	for (size_t i = 0; i < big; i++) {
		c1[i] = (char)('a' + i % 26);
		c2[i] = (char)('A' + i % 23);
	}
	c1[big] = c2[big] = '\0';

	/* "workflows" and four folders of 200 bytes: 813 bytes, and with
	 * a name of 185 999 */
	strcpy(dir, "workflows");
	for (int d = 0; d < 4; d++) {
		size_t l = strlen(dir);

		dir[l] = '/';
		memset(dir + l + 1, 'p' + d, 200);
		dir[l + 201] = '\0';
		put_dir(env, dir);
	}
	assert_int_equal(strlen(dir), 813);
	snprintf(a, sizeof(a), "%s/%0180d.yaml", dir, 1);
	snprintf(b, sizeof(b), "%s/%0180d.yaml", dir, 2);
	snprintf(c, sizeof(c), "%s/%0180d.yaml", dir, 3);
	assert_int_equal(strlen(a), PM_PATH_MAX - 1);

	write_file(env, a, c1);
	save(env, a, c2);
	write_file(env, b, "small\n");
	mv(env, a, b);
	save(env, b, c1);
	CHECK_VERSIONS(env, a, c1, c2, NULL);
	CHECK_VERSIONS(env, b, "small\n", c2, c1);
	assert_int_equal(items_of(env, b, &is), 0);
	assert_int_equal(is.n, 3);
	assert_string_equal(is.v[1].from, a);
	assert_int_equal(is.v[1].size, big);
	assert_int_equal(items_of(env, a, &is), 0);
	assert_string_equal(is.v[2].to, b);
	/* and to a free path of that length */
	mv(env, b, c);
	assert_int_equal(items_of(env, c, &is), 0);
	assert_int_equal(is.n, 4);
	assert_int_equal(is.v[3].kind, HI_RENAME);
	assert_string_equal(is.v[3].from, b);
	assert_string_equal(is.v[3].to, c);
	CHECK_VERSIONS(env, c, "small\n", c2, c1);

	/* the view, its paths longer than PM_PATH_MAX */
	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(hist_get(&s, c, 2, &it, &data, &len), 0);
	stx_abort(&s);
	free(data);
	hist_name(name, sizeof(name), 2, it.time);
	snprintf(view, sizeof(view), ".history/%s/%s", c, name);
	assert_true(strlen(view) > PM_PATH_MAX);
	assert_int_equal(hv_content(env, view, &data, &len), 0);
	assert_int_equal(len, big);
	assert_memory_equal(data, c2, big);
	free(data);
	{
		struct names nm;

		snprintf(view, sizeof(view), ".history/%s", dir);
		nm.buf[0] = '\0';
		assert_int_equal(hv_list(env, view, add_name, &nm), 0);
		assert_int_equal(strlen(nm.buf), 2 * (185 + 1));
	}
	check_consistent(env);
	free(c1);
	free(c2);

	/*
	 * A record at a path of PM_PATH_MAX bytes, which pm_join() allows,
	 * renamed: its history goes with it.
	 */
	snprintf(a, sizeof(a), "%s/%0181d.yaml", dir, 4);
	snprintf(b, sizeof(b), "%s/%0181d.yaml", dir, 5);
	assert_int_equal(strlen(a), PM_PATH_MAX);
	write_file(env, a, "one\n");
	save(env, a, "two\n");
	assert_int_equal(mv_rc(env, a, b), 0);
	assert_int_equal(items_of(env, b, &is), 0);
	assert_int_equal(is.n, 3);
	assert_string_equal(is.v[2].from, a);
	assert_string_equal(is.v[2].to, b);
	check_consistent(env);
}

/* ---- listing ---------------------------------------------------------------- */

struct name_list {
	char buf[2048];
};

static int add_child(void *ctx, const char *name, size_t len)
{
	struct name_list *nl = ctx;
	size_t l = strlen(nl->buf);

	assert_true(l + len + 2 <= sizeof(nl->buf));
	memcpy(nl->buf + l, name, len);
	nl->buf[l + len] = ' ';
	nl->buf[l + len + 1] = '\0';
	return 0;
}

static const char *children(kv_env *env, const char *dir, struct name_list *nl)
{
	struct stx s;

	nl->buf[0] = '\0';
	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(hist_children(&s, dir, add_child, nl), 0);
	stx_abort(&s);
	return nl->buf;
}

static int add_path(void *ctx, const char *path)
{
	return add_child(ctx, path, strlen(path));
}

static void test_children(void **state)
{
	static const char first_paths[] =
	        "prompts/p.yaml workflows/d/a-b.yaml workflows/d/a.yaml "
	        "workflows/d/a.yaml/y.yaml workflows/d/a/x.yaml "
	        "workflows/d/b.yaml workflows/d/gone/z.yaml "
	        "workflows/m-x.yaml workflows/m.yaml workflows/m/r00.yaml ";
	kv_env *env = env_of(state);
	struct name_list nl;
	struct stx s;

	put_dir(env, "workflows/d");
	/* a record a.yaml, deleted, and then a folder of that name */
	write_file(env, "workflows/d/a.yaml", "a\n");
	rm(env, "workflows/d/a.yaml");
	put_dir(env, "workflows/d/a.yaml");
	write_file(env, "workflows/d/a.yaml/y.yaml", "y\n");
	put_dir(env, "workflows/d/a");
	write_file(env, "workflows/d/a/x.yaml", "x\n");
	write_file(env, "workflows/d/a-b.yaml", "ab\n");
	write_file(env, "workflows/d/b.yaml", "b\n");
	/* a folder only history keeps */
	put_dir(env, "workflows/d/gone");
	write_file(env, "workflows/d/gone/z.yaml", "z\n");
	rm(env, "workflows/d/gone/z.yaml");
	rm(env, "workflows/d/gone");
	/* no history: an empty record, a side file */
	mk(env, "workflows/d/e.yaml");
	write_file(env, "workflows/d/side.txt", "s\n");
	/* many records below one name, and names just past its folder's
	 * keys ("m0" sorts right after "m/") */
	put_dir(env, "workflows/m");
	for (int i = 0; i < 40; i++) {
		char path[64];

		snprintf(path, sizeof(path), "workflows/m/r%02d.yaml", i);
		write_file(env, path, "r\n");
	}
	write_file(env, "workflows/m0.yaml", "m0\n");
	write_file(env, "workflows/m-x.yaml", "mx\n");
	write_file(env, "workflows/m.yaml", "m\n");
	write_file(env, "prompts/p.yaml", "p\n");

	assert_string_equal(children(env, "workflows/d", &nl),
	                    "a a-b.yaml a.yaml b.yaml gone ");
	assert_string_equal(children(env, "workflows", &nl),
	                    "d m m-x.yaml m.yaml m0.yaml ");
	assert_string_equal(children(env, "", &nl), "prompts workflows ");
	assert_string_equal(children(env, "workflows/d/a", &nl), "x.yaml ");
	assert_string_equal(children(env, "workflows/d/a.yaml", &nl),
	                    "y.yaml ");
	assert_string_equal(children(env, "workflows/d/gone", &nl), "z.yaml ");
	assert_string_equal(children(env, "workflows/d/nothing", &nl), "");
	assert_string_equal(children(env, "agents", &nl), "");
	children(env, "workflows/m", &nl);
	assert_int_equal(strlen(nl.buf), 40 * strlen("r00.yaml "));
	assert_true(strncmp(nl.buf, "r00.yaml r01.yaml ", 18) == 0);

	assert_int_equal(has(env, "workflows"), 1);
	assert_int_equal(has(env, "workflows/d"), 1);
	assert_int_equal(has(env, "workflows/d/gone"), 1);
	assert_int_equal(has(env, "workflows/d/gone/z.yaml"), 1);
	assert_int_equal(has(env, "workflows/d/a.yaml"), 1);
	assert_int_equal(has(env, "workflows/d/a"), 1);
	assert_int_equal(has(env, "workflows/d/e.yaml"), 0);
	assert_int_equal(has(env, "workflows/d/side.txt"), 0);
	assert_int_equal(has(env, "workflows/d/nothing"), 0);
	assert_int_equal(has(env, "workflows/d/a-"), 0);
	assert_int_equal(has(env, "workflows/d/a.y"), 0);
	assert_int_equal(has(env, "agents"), 0);

	/* every path, in order, each once */
	nl.buf[0] = '\0';
	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(hist_paths(&s, add_path, &nl), 0);
	stx_abort(&s);
	assert_true(strncmp(nl.buf, first_paths, strlen(first_paths)) == 0);
	assert_non_null(
	        strstr(nl.buf, "workflows/m/r39.yaml workflows/m0.yaml "));
	assert_int_equal(strlen(nl.buf),
	                 strlen(first_paths) +
	                         39 * strlen("workflows/m/r00.yaml ") +
	                         strlen("workflows/m0.yaml "));
	check_consistent(env);
}

/* ---- names ---------------------------------------------------------------- */

static const char *name_of(uint64_t v, int64_t t)
{
	static char buf[HIST_NAME_MAX];

	hist_name(buf, sizeof(buf), v, t);
	assert_true(strlen(buf) < sizeof(buf) - 1);
	return buf;
}

static void test_names(void **state)
{
	static const char *const bad[] = {
		"",
		"-2026-11-02T000000Z.yaml",
		"12345-2026-11-02T000000Z.yaml",
		"000000-2026-11-02T000000Z.yaml",
		"0000000-2026-11-02T000000Z.yaml",
		"00001x-2026-11-02T000000Z.yaml",
		"abcdef-2026-11-02T000000Z.yaml",
		"000001",
		"000001_2026-11-02T000000Z.yaml",
		" 000001-2026-11-02T000000Z.yaml",
		"+00001-2026-11-02T000000Z.yaml",
		"18446744073709551616-2026-11-02T000000Z.yaml",
		"99999999999999999999-2026-11-02T000000Z.yaml",
		"123456789012345678901-2026-11-02T000000Z.yaml",
	};
	static const uint64_t vs[] = { 1,
		                       9,
		                       10,
		                       999999,
		                       1000000,
		                       1234567,
		                       UINT64_C(1000000000000000000) };
	uint64_t v;

	(void)state;
	assert_string_equal(name_of(1, 0), "000001-1970-01-01T000000Z.yaml");
	assert_string_equal(
	        name_of(42,
	                (MONDAY + 12 * 3600 + 34 * 60 + 5) * SEC + 999999999),
	        "000042-2026-11-02T123405Z.yaml");
	assert_string_equal(name_of(123456, MONDAY * SEC),
	                    "123456-2026-11-02T000000Z.yaml");
	assert_string_equal(name_of(1234567, MONDAY * SEC),
	                    "1234567-2026-11-02T000000Z.yaml");
	/* before 1970: the second that holds the time, rounding down */
	assert_string_equal(name_of(1, -1), "000001-1969-12-31T235959Z.yaml");
	assert_string_equal(name_of(1, -SEC), "000001-1969-12-31T235959Z.yaml");
	assert_string_equal(name_of(1, -SEC - 1),
	                    "000001-1969-12-31T235958Z.yaml");
	assert_string_equal(name_of(1, -86400 * SEC * 365),
	                    "000001-1969-01-01T000000Z.yaml");
	assert_string_equal(name_of(7, INT64_MIN),
	                    "000007-1677-09-21T001243Z.yaml");
	assert_string_equal(name_of(7, INT64_MAX),
	                    "000007-2262-04-11T234716Z.yaml");
	/* the longest fits */
	assert_string_equal(name_of(UINT64_MAX, INT64_MIN),
	                    "18446744073709551615-1677-09-21T001243Z.yaml");

	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		v = 0;
		assert_int_equal(
		        hist_parse_name(name_of(vs[i], MONDAY * SEC), &v), 0);
		assert_int_equal(v, vs[i]);
	}
	/* the time part is the caller's to check */
	assert_int_equal(hist_parse_name("000003-whatever", &v), 0);
	assert_int_equal(v, 3);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 77;
		if (hist_parse_name(bad[i], &v) != -EINVAL) {
			print_error("accepted \"%s\"\n", bad[i]);
			fail();
		}
		assert_int_equal(v, 77);
	}
	/* The largest version's name parses back. */
	assert_int_equal(hist_parse_name(name_of(UINT64_MAX, 0), &v), 0);
	assert_int_equal(v, UINT64_MAX);
}

/* ---- retention ---------------------------------------------------------------- */

static void test_parse_keep(void **state)
{
	static const char *const bad[] = {
		"",
		",",
		"30x",
		"5,6",
		"-1",
		"30d,",
		",30d",
		"30d,,50",
		"30d,7d",
		"d",
		"30 d",
		"all,5",
		"99999999999999999999",
		"5.5",
		"0x10",
		" 5",
		"5 ",
		"+5",
		"30d,50,",
	};
	struct hist_keep k;
	int accepted = 0;

	(void)state;
	assert_int_equal(hist_parse_keep("30d,50", &k), 0);
	assert_false(k.off);
	assert_false(k.all);
	assert_int_equal(k.age, 30 * 86400);
	assert_int_equal(k.min, 50);
	assert_int_equal(hist_parse_keep("50,30d", &k), 0);
	assert_int_equal(k.age, 30 * 86400);
	assert_int_equal(k.min, 50);
	assert_int_equal(hist_parse_keep("7d", &k), 0);
	assert_int_equal(k.age, 7 * 86400);
	assert_int_equal(k.min, 0);
	assert_int_equal(hist_parse_keep("10", &k), 0);
	assert_int_equal(k.age, 0);
	assert_int_equal(k.min, 10);
	assert_int_equal(hist_parse_keep("90s,1", &k), 0);
	assert_int_equal(k.age, 90);
	assert_int_equal(k.min, 1);
	assert_int_equal(hist_parse_keep("2w", &k), 0);
	assert_int_equal(k.age, 14 * 86400);
	assert_int_equal(hist_parse_keep("all", &k), 0);
	assert_true(k.all);
	assert_false(k.off);
	assert_int_equal(hist_parse_keep("off", &k), 0);
	assert_true(k.off);

	/* empty parts ("30d,", ",30d", "30d,,50") are refused too */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = hist_parse_keep(bad[i], &k);

		if (rc != -EINVAL) {
			print_error("hist_parse_keep(\"%s\") = %d, not "
			            "-EINVAL\n",
			            bad[i], rc);
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

/* The times of the non-rename items of path, in order. */
static size_t times_of(kv_env *env, const char *path, int64_t *t)
{
	struct items is;
	size_t n = 0;

	assert_int_equal(items_of(env, path, &is), 0);
	for (size_t i = 0; i < is.n; i++)
		if (is.v[i].kind != HI_RENAME)
			t[n++] = is.v[i].time;
	return n;
}

/* A pause, so that each commit's time differs from the one before. */
static void tick(void)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL);
}

/*
 * Three records, their versions made one after another: p (v1..v4, L5),
 * q (v1 v2 L3) and x, deleted (v1 v2 D3).  tp, tq: their versions'
 * times.
 */
static void prune_setup(kv_env *env, int64_t *tp, int64_t *tq)
{
	static const char *const pv[] = { "p1\n", "p2\n", "p3\n", "p4\n",
		                          "p5\n" };

	for (int i = 0; i < 5; i++) {
		write_file(env, "workflows/p.yaml", pv[i]);
		tick();
	}
	write_file(env, "workflows/q.yaml", "q1\n");
	tick();
	save(env, "workflows/q.yaml", "q2\n");
	tick();
	save(env, "workflows/q.yaml", "q3\n");
	tick();
	write_file(env, "workflows/x.yaml", "x1\n");
	tick();
	save(env, "workflows/x.yaml", "x2\n");
	tick();
	rm(env, "workflows/x.yaml");
	assert_int_equal(times_of(env, "workflows/p.yaml", tp), 5);
	assert_int_equal(times_of(env, "workflows/q.yaml", tq), 3);
	for (int i = 1; i < 5; i++)
		assert_true(tp[i] > tp[i - 1]);
	assert_true(tq[0] > tp[4]);
	assert_true(tq[2] > tq[1] && tq[1] > tq[0]);
	assert_int_equal(space_of(env).versions, 8);
}

/* hist_prune() in a transaction of its own; the histories after it
 * (p, q, x) written into out, then committed or not. */
static uint64_t prune(kv_env *env, const char *spec, int64_t now,
                      uint64_t limit, bool commit, char *out, size_t n)
{
	struct hist_keep k;
	struct items is;
	uint64_t pruned = 99;
	struct stx s;
	int rc;

	assert_int_equal(hist_parse_keep(spec, &k), 0);
	assert_int_equal(stx_begin(env, true, &s), 0);
	assert_int_equal(hist_prune(&s, &k, now, limit, &pruned), 0);
	out[0] = '\0';
	rc = items_in(&s, "workflows/p.yaml", &is);
	snprintf(out, n, "%s | ", str_of(rc, &is));
	rc = items_in(&s, "workflows/q.yaml", &is);
	snprintf(out + strlen(out), n - strlen(out), "%s | ", str_of(rc, &is));
	rc = items_in(&s, "workflows/x.yaml", &is);
	snprintf(out + strlen(out), n - strlen(out), "%s", str_of(rc, &is));
	if (commit)
		assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
	else
		stx_abort(&s);
	return pruned;
}

static void test_prune(void **state)
{
	kv_env *env = env_of(state);
	int64_t tp[5], tq[3], late;
	char h[512];
	struct hist_space sp;

	prune_setup(env, tp, tq);
	late = tq[2] + 1000 * SEC;

	/* all: nothing */
	assert_int_equal(prune(env, "all", late, 0, false, h, sizeof(h)), 0);
	assert_string_equal(h, "v1 v2 v3 v4 L5 | v1 v2 L3 | v1 v2 D3");

	/* a count: the live version is the newest of them */
	assert_int_equal(prune(env, "3", late, 0, false, h, sizeof(h)), 2);
	assert_string_equal(h, "v3 v4 L5 | v1 v2 L3 | v1 v2 D3");
	assert_int_equal(prune(env, "2", late, 0, false, h, sizeof(h)), 5);
	assert_string_equal(h, "v4 L5 | v2 L3 | v2 D3");
	/* 1: the live version alone (and of a deleted record, the deletion
	 * counts as the newest, as the live version does) */
	assert_int_equal(prune(env, "1", late, 0, false, h, sizeof(h)), 8);
	assert_string_equal(h, "L5 | L3 | D3");
	assert_int_equal(prune(env, "5", late, 0, false, h, sizeof(h)), 0);

	/* an age: exactly that old is no longer younger than it */
	assert_int_equal(
	        prune(env, "100s", tp[2] + 100 * SEC, 0, false, h, sizeof(h)),
	        3);
	assert_string_equal(h, "v4 L5 | v1 v2 L3 | v1 v2 D3");
	assert_int_equal(prune(env, "100s", tp[2] + 100 * SEC - 1, 0, false, h,
	                       sizeof(h)),
	                 2);
	assert_string_equal(h, "v3 v4 L5 | v1 v2 L3 | v1 v2 D3");
	assert_int_equal(prune(env, "100s", tp[0] + 100 * SEC - 1, 0, false, h,
	                       sizeof(h)),
	                 0);
	/* both: a version either keeps is kept */
	assert_int_equal(
	        prune(env, "100s,2", tp[1] + 100 * SEC, 0, false, h, sizeof(h)),
	        2);
	assert_string_equal(h, "v3 v4 L5 | v1 v2 L3 | v1 v2 D3");
	assert_int_equal(
	        prune(env, "2,100s", tq[1] + 100 * SEC, 0, false, h, sizeof(h)),
	        4);
	assert_string_equal(h, "v4 L5 | v2 L3 | v1 v2 D3");
	assert_int_equal(prune(env, "100s,2", late, 0, false, h, sizeof(h)), 5);

	/* a limit: the first ones in key order, the rest next time */
	sp = space_of(env);
	assert_int_equal(prune(env, "1", late, 3, true, h, sizeof(h)), 3);
	assert_string_equal(h, "v4 L5 | v1 v2 L3 | v1 v2 D3");
	assert_int_equal(space_of(env).versions, sp.versions - 3);
	assert_int_equal(space_of(env).bytes, sp.bytes - 9);
	assert_int_equal(prune(env, "1", late, 3, true, h, sizeof(h)), 3);
	assert_string_equal(h, "L5 | L3 | v1 v2 D3");
	assert_int_equal(prune(env, "1", late, 0, true, h, sizeof(h)), 2);
	assert_string_equal(h, "L5 | L3 | D3");
	sp = space_of(env);
	assert_int_equal(sp.records, 3);
	assert_int_equal(sp.versions, 0);
	assert_int_equal(sp.bytes, 0);
	assert_int_equal(prune(env, "1", late, 0, true, h, sizeof(h)), 0);
	/* the rest keep their numbers and go on */
	CHECK_VERSIONS(env, "workflows/p.yaml", NULL, NULL, NULL, NULL, "p5\n");
	save(env, "workflows/p.yaml", "p6\n");
	assert_string_equal(hs(env, "workflows/p.yaml"), "v5 L6");
	check_consistent(env);
}

/*
 * An age past 292 years: "1000000d" reads as every version of the
 * last 2739 years, so nothing is old enough to prune (its nanoseconds
 * overflowed int64 once).
 */
static void test_prune_huge_age(void **state)
{
	kv_env *env = env_of(state);
	int64_t tp[5], tq[3];
	char h[512];

	prune_setup(env, tp, tq);
	assert_int_equal(prune(env, "1000000d", tq[2] + 1000 * SEC, 0, false, h,
	                       sizeof(h)),
	                 0);
	assert_string_equal(h, "v1 v2 v3 v4 L5 | v1 v2 L3 | v1 v2 D3");
}

/* ---- the .history view ------------------------------------------------------ */

struct entries {
	char name[16][HIST_NAME_MAX + 8];
	struct node n[16];
	size_t count;
};

static int add_entry(void *ctx, const char *name, const struct node *n)
{
	struct entries *es = ctx;

	assert_true(es->count < 16);
	assert_true(strlen(name) < sizeof(es->name[0]));
	strcpy(es->name[es->count], name);
	es->n[es->count] = *n;
	es->n[es->count].xattrs = NULL; /* the lister owns them */
	es->n[es->count].xlen = 0;
	es->count++;
	return 0;
}

static const char *hv_names(kv_env *env, const char *path, struct names *nm)
{
	nm->buf[0] = '\0';
	assert_int_equal(hv_list(env, path, add_name, nm), 0);
	return nm->buf;
}

static void check_sealed(const struct node *n)
{
	assert_int_equal(n->mode & 0222, 0);
}

/*
 * The version files of rec: named as hist_name() names its items,
 * read-only, with each version's time and size, and each one's content
 * the bytes of that version (contents[i] for version i + 1).
 */
static void check_view_versions(kv_env *env, const char *rec,
                                const char *const *contents, size_t n)
{
	char path[PM_PATH_MAX + 64], want[HIST_NAME_MAX];
	struct entries es = { .count = 0 };
	struct items is;
	size_t k = 0;

	assert_int_equal(items_of(env, rec, &is), 0);
	snprintf(path, sizeof(path), ".history/%s", rec);
	assert_int_equal(hv_list(env, path, add_entry, &es), 0);
	assert_int_equal(es.count, n);
	for (size_t i = 0; i < is.n; i++) {
		const struct item *it = &is.v[i];
		struct node vn;
		void *data;
		size_t len;

		uint32_t mode = S_IFREG | (it->mode & 07777 & ~0222u);

		if (it->kind != HI_VERSION && it->kind != HI_LIVE)
			continue;
		assert_true(k < n);
		hist_name(want, sizeof(want), it->version, it->time);
		assert_string_equal(es.name[k], want);
		assert_int_equal(it->version, k + 1);
		assert_int_equal(es.n[k].mode, mode);
		assert_int_equal(es.n[k].size, strlen(contents[k]));
		assert_int_equal(es.n[k].mtime, it->time);
		snprintf(path, sizeof(path), ".history/%s/%s", rec, want);
		assert_int_equal(hv_node(env, path, &vn), 0);
		assert_int_equal(vn.mode, mode);
		assert_int_equal(vn.size, strlen(contents[k]));
		assert_int_equal(vn.mtime, it->time);
		node_release(&vn);
		assert_int_equal(hv_content(env, path, &data, &len), 0);
		assert_int_equal(len, strlen(contents[k]));
		assert_memory_equal(data, contents[k], len);
		free(data);
		k++;
	}
	assert_int_equal(k, n);
}

#define CHECK_VIEW(env, rec, ...)                                              \
	do {                                                                   \
		const char *const c_[] = { __VA_ARGS__ };                      \
		check_view_versions(env, rec, c_, sizeof(c_) / sizeof(c_[0])); \
	} while (0)

/* A version's path with its name's time part changed by one second. */
static void wrong_time(char *path, size_t n, const char *rec, uint64_t v,
                       int64_t t)
{
	char name[HIST_NAME_MAX];

	hist_name(name, sizeof(name), v, t + SEC);
	snprintf(path, n, ".history/%s/%s", rec, name);
}

static void test_view(void **state)
{
	kv_env *env = env_of(state);
	const int64_t t0 = (MONDAY - 3 * 86400) * SEC;
	char path[PM_PATH_MAX + 64], name[HIST_NAME_MAX];
	struct names nm;
	struct items is;
	struct node n;
	const char *rest;
	void *data;
	size_t len;

	put_dir(env, "workflows/v");
	write_file(env, "workflows/v/live.yaml", "live 1\n");
	save(env, "workflows/v/live.yaml", "live 2\n");
	save(env, "workflows/v/live.yaml", "live 3, longer\n");
	write_file(env, "workflows/v/gone.yaml", "gone 1\n");
	save(env, "workflows/v/gone.yaml", "gone 2\n");
	rm(env, "workflows/v/gone.yaml");
	hist_set_recording(false);
	put_at(env, "workflows/v/old.yaml", "old\n", t0);
	hist_set_recording(true);
	mk(env, "workflows/v/empty.yaml");
	write_file(env, "workflows/v/notes.txt", "notes\n");
	make(env, "workflows/v/link.yaml", S_IFLNK | 0777, "live.yaml");
	put_dir(env, "workflows/v/sub");
	write_file(env, "workflows/v/sub/deep.yaml", "deep\n");
	rm(env, "workflows/v/sub/deep.yaml");
	rm(env, "workflows/v/sub");
	put_dir(env, "workflows/v/folder");

	assert_true(hv_is(".history", &rest));
	assert_null(rest);
	assert_true(hv_is(".history/workflows", &rest));
	assert_string_equal(rest, "workflows");
	assert_false(hv_is(".historyx", &rest));
	assert_false(hv_is(".history/", &rest));
	assert_false(hv_is("workflows/.history", &rest));

	/* the top and the kinds */
	assert_int_equal(hv_node(env, ".history", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0555);
	node_release(&n);
	assert_string_equal(hv_names(env, ".history", &nm),
	                    "workflows agents prompts ");
	assert_int_equal(hv_node(env, ".history/agents", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0555);
	node_release(&n);
	assert_int_equal(hv_node(env, ".history/other", &n), -ENOENT);
	assert_string_equal(hv_names(env, ".history/workflows", &nm), "v ");

	/* a folder: live folders and records with content, and what only
	 * history keeps; no side files, symlinks or empty records */
	assert_string_equal(hv_names(env, ".history/workflows/v", &nm),
	                    "folder gone.yaml live.yaml old.yaml sub ");
	assert_int_equal(hv_node(env, ".history/workflows/v/sub", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0555);
	node_release(&n);
	assert_string_equal(hv_names(env, ".history/workflows/v/sub", &nm),
	                    "deep.yaml ");
	assert_int_equal(hv_node(env, ".history/workflows/v/folder", &n), 0);
	check_sealed(&n);
	assert_true(S_ISDIR(n.mode));
	node_release(&n);
	assert_string_equal(hv_names(env, ".history/workflows/v/folder", &nm),
	                    "");
	assert_int_equal(hv_node(env, ".history/workflows/v/empty.yaml", &n),
	                 -ENOENT);
	assert_int_equal(hv_node(env, ".history/workflows/v/notes.txt", &n),
	                 -ENOENT);
	assert_int_equal(hv_node(env, ".history/workflows/v/link.yaml", &n),
	                 -ENOENT);
	assert_int_equal(hv_node(env, ".history/workflows/v/none.yaml", &n),
	                 -ENOENT);
	assert_int_equal(
	        hv_list(env, ".history/workflows/v/empty.yaml", add_name, &nm),
	        -ENOENT);

	/* a record: a read-only folder of its versions */
	assert_int_equal(hv_node(env, ".history/workflows/v/live.yaml", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0555);
	node_release(&n);
	CHECK_VIEW(env, "workflows/v/live.yaml", "live 1\n", "live 2\n",
	           "live 3, longer\n");
	CHECK_VIEW(env, "workflows/v/gone.yaml", "gone 1\n", "gone 2\n");
	CHECK_VIEW(env, "workflows/v/sub/deep.yaml", "deep\n");
	CHECK_VIEW(env, "workflows/v/old.yaml", "old\n");
	assert_string_equal(hv_names(env, ".history/workflows/v/old.yaml", &nm),
	                    "000001-2026-10-30T000000Z.yaml ");
	assert_int_equal(hv_node(env, ".history/workflows/v/gone.yaml", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0555);
	node_release(&n);

	/* the deletion is no file */
	assert_int_equal(items_of(env, "workflows/v/gone.yaml", &is), 0);
	assert_int_equal(is.v[2].kind, HI_DELETED);
	hist_name(name, sizeof(name), 3, is.v[2].time);
	snprintf(path, sizeof(path), ".history/workflows/v/gone.yaml/%s", name);
	assert_int_equal(hv_node(env, path, &n), -ENOENT);
	assert_int_equal(hv_content(env, path, &data, &len), -ENOENT);

	/* a version's name with another time, or another number */
	assert_int_equal(items_of(env, "workflows/v/live.yaml", &is), 0);
	for (size_t i = 0; i < 3; i++) {
		wrong_time(path, sizeof(path), "workflows/v/live.yaml", i + 1,
		           is.v[i].time);
		assert_int_equal(hv_node(env, path, &n), -ENOENT);
		data = NULL;
		assert_int_equal(hv_content(env, path, &data, &len), -ENOENT);
		assert_null(data);
	}
	hist_name(name, sizeof(name), 4, is.v[2].time);
	snprintf(path, sizeof(path), ".history/workflows/v/live.yaml/%s", name);
	assert_int_equal(hv_node(env, path, &n), -ENOENT);
	assert_int_equal(hv_content(env, path, &data, &len), -ENOENT);
	snprintf(path, sizeof(path), ".history/workflows/v/live.yaml/x.yaml");
	assert_int_equal(hv_node(env, path, &n), -ENOENT);

	/* folders are not files, versions not folders */
	assert_int_equal(
	        hv_content(env, ".history/workflows/v/live.yaml", &data, &len),
	        -EISDIR);
	assert_int_equal(hv_content(env, ".history", &data, &len), -EISDIR);
	hist_name(name, sizeof(name), 1, is.v[0].time);
	snprintf(path, sizeof(path), ".history/workflows/v/live.yaml/%s", name);
	assert_int_equal(hv_list(env, path, add_name, &nm), -ENOTDIR);

	/* the same through the snapshot views' entry points */
	assert_int_equal(sv_level(path, NULL, NULL), SV_HIST);
	assert_int_equal(sv_node(env, path, &n), 0);
	assert_int_equal(n.mode, S_IFREG | 0444);
	node_release(&n);
	assert_int_equal(sv_content(env, path, &data, &len), 0);
	assert_memory_equal(data, "live 1\n", len);
	free(data);
	check_consistent(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_saves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pre_history, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_create_again,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_free_path, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
		        test_rename_side_file_onto_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_record_onto_record,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_folder, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_exchange, setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_rename_onto_deleted_history, setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_exchange_onto_deleted_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_no_trace,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_recording_off, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
		        test_long_paths_and_big_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_children, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_keep),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_huge_age, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
