/*
 * History under crashes and power loss: a record's versions (and the
 * reference index) are written in the transaction of the change they
 * record, so after a crash at any write or sync of a sequence of saves,
 * renames, deletes, a prune and a cccfs mv that rewrites references,
 * and any power loss the simulated disk allows, the store shows exactly
 * the tree and the history of the last commit that reached the disk: the
 * state after the operations that returned success, or after one more
 * (one whose commit was durable when a later step failed) -- never a
 * content without its version, or a version without its content.
 *
 * The disk is tests/kv's kt_fio (kvtest.h): every write and sync of the
 * database is counted, and a run stops the world at one of them.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "history.h"
#include "kvtest.h"
#include "refs.h"
#include "store.h"
#include "tmpdir.h"

/* The paths the sequence touches, which the digest describes. */
static const char *const paths[] = {
	"prompts/a.yaml",   "prompts/a2.yaml",  "prompts/.a2.tmp",
	"agents/b.yaml",    "prompts/d/c.yaml", "prompts/e/c.yaml",
	"workflows/w.yaml", "agents/k.yaml",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

/* ---- the operations, as the daemon makes them ------------------------- */

static int save(kv_env *env, const char *path, const char *content, size_t len)
{
	struct stx s;
	struct node n;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = store_node_get(&s, path, &n);
	if (rc == -ENOENT) {
		node_fresh(&n, S_IFREG | 0644, 0, 0);
		rc = 0;
	}
	if (rc == 0)
		rc = store_content_put(&s, path, n.mode, content, len);
	n.size = len;
	n.txnid = kv_txn_id(s.txn);
	if (rc == 0)
		rc = store_node_put(&s, path, &n);
	node_release(&n);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

static int mkdir_at(kv_env *env, const char *path)
{
	struct stx s;
	struct node n;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	node_fresh(&n, S_IFDIR | 0755, 0, 0);
	rc = store_node_put(&s, path, &n);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

static int move(kv_env *env, const char *from, const char *to)
{
	struct subtree t = { 0 };
	struct node dst;
	uint32_t dst_mode = 0;
	struct stx s;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = store_node_get(&s, to, &dst);
	if (rc == 0) {
		dst_mode = dst.mode;
		node_release(&dst);
	}
	rc = store_subtree_load(&s, from, &t);
	if (rc == 0)
		rc = store_subtree_move(&s, from, to, &t, dst_mode);
	subtree_release(&t);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

static int removal(kv_env *env, const char *path)
{
	struct stx s;
	struct node n;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = store_node_get(&s, path, &n);
	if (rc == 0) {
		node_release(&n);
		rc = store_remove(&s, path, n.mode);
	}
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

/* cccfs mv: the rename and every rewritten reference, one commit */
static int mv_refs(kv_env *env, const char *from, const char *to)
{
	struct refs_move res;
	struct stx s;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = refs_move(&s, from, to, &res);
	if (rc == 0 && res.refs != 2)
		rc = -EPROTO; /* the two references of w.yaml */
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

static int prune(kv_env *env)
{
	struct hist_keep k = { .min = 2 };
	uint64_t n;
	struct stx s;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = hist_prune(&s, &k, INT64_MAX / 2, 0, &n);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

/* A content of len bytes (a YAML comment block) made from tag. */
static char *text(size_t len, unsigned tag)
{
	char *p = malloc(len + 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = i % 64 == 63 ? '\n' : (char)('a' + (i * 7 + tag) % 26);
	p[0] = '#';
	for (size_t i = 64; i < len; i += 64)
		p[i] = '#';
	p[len] = '\0';
	return p;
}

#define NOPS 14

/* Operation i of the sequence (0-based), each one commit but the base's
 * (operations 0-2, run without faults). */
static int step(kv_env *env, int i)
{
	static char *big;
	int rc;

	if (big == NULL)
		big = text(20000, 3); /* beyond a page: overflow pages */
	switch (i) {
	case 0:
		return save(env, "prompts/a.yaml", "name: a1\n", 9);
	case 1:
		return save(env, "agents/b.yaml", "name: b1\n", 9);
	case 2:
		rc = mkdir_at(env, "prompts/d");
		return rc != 0 ? rc
		               : save(env, "prompts/d/c.yaml", "c: 1\n", 5);
	case 3:
		return save(env, "prompts/a.yaml", "name: a2\n", 9);
	case 4:
		return save(env, "prompts/a.yaml", big, strlen(big));
	case 5:
		return move(env, "prompts/a.yaml", "prompts/a2.yaml");
	case 6:
		return save(env, "prompts/.a2.tmp", "name: a4\n", 9);
	case 7:
		return move(env, "prompts/.a2.tmp", "prompts/a2.yaml");
	case 8:
		return removal(env, "agents/b.yaml");
	case 9:
		return save(env, "agents/b.yaml", "name: b2\n", 9);
	case 10:
		return move(env, "prompts/d", "prompts/e");
	case 11:
		return prune(env);
	case 12:
		return save(env, "workflows/w.yaml",
		            "agents: [b]\nsteps:\n  - agent: b\n", 32);
	case 13:
		return mv_refs(env, "agents/b.yaml", "agents/k.yaml");
	}
	return -EINVAL;
}
#define BASE_OPS 3 /* steps 0-2 run without faults */

/* ---- the observable state ---------------------------------------------- */

struct digest {
	char *s;
	size_t len, cap;
};

static void dput(struct digest *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(d->s ? d->s + d->len : NULL,
		              d->s ? d->cap - d->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (d->s && d->len + (size_t)n < d->cap)
			break;
		d->cap = (d->cap + (size_t)n + 1) * 2;
		d->s = realloc(d->s, d->cap);
		assert_non_null(d->s);
	}
	d->len += (size_t)n;
}

static uint64_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

struct each {
	struct stx *s;
	const char *path;
	struct digest *d;
};

static int item(void *ctx, const struct hist_item *it)
{
	struct each *e = ctx;
	struct hist_item got;
	void *data;
	size_t len;

	dput(e->d, " %d:%" PRIu64, (int)it->kind, it->version);
	if (it->kind == HI_VERSION || it->kind == HI_LIVE) {
		assert_int_equal(
		        hist_get(e->s, e->path, it->version, &got, &data, &len),
		        0);
		assert_int_equal(len, it->size);
		dput(e->d, "=%016" PRIx64, fnv(data, len));
		free(data);
	}
	return 0;
}

static int ref_source(void *ctx, const char *source, uint32_t count)
{
	dput(ctx, " <-%s:%u", source, (unsigned)count);
	return 0;
}

/* Every path's live content, history and references to it, as one
 * string. */
static char *digest(kv_env *env)
{
	struct digest d = { 0 };
	struct stx s;

	assert_int_equal(stx_begin(env, false, &s), 0);
	for (size_t i = 0; i < NPATHS; i++) {
		struct each e = { &s, paths[i], &d };
		struct node n;
		kv_val v;
		int rc;

		dput(&d, "%s:", paths[i]);
		if (store_node_get(&s, paths[i], &n) == 0) {
			assert_int_equal(
			        store_content_get(&s, paths[i], n.mode, &v), 0);
			dput(&d, " live=%016" PRIx64, fnv(v.data, v.len));
			node_release(&n);
		}
		rc = hist_each(&s, paths[i], item, &e);
		assert_true(rc == 0 || rc == -ENOENT);
		assert_int_equal(refs_to(&s, paths[i], ref_source, &d), 0);
		dput(&d, "\n");
	}
	stx_abort(&s);
	return d.s;
}

/* ---- the test ----------------------------------------------------------- */

struct files {
	char path[4096], lock[4200], log[4200];
};

static void fresh(const struct files *fs)
{
	unlink(fs->path);
	unlink(fs->lock);
	unlink(fs->log);
}

static kv_env *open_faulty(const struct files *fs, struct kt_fio *f)
{
	kv_env *env;

	assert_int_equal(kt_fio_init(f, fs->path, fs->log), 0);
	assert_int_equal(
	        kv_env_open_io(&env, fs->path, KV_CREATE, 0600, &f->io), 0);
	assert_int_equal(store_init(env, 0, 0), 0);
	for (int i = 0; i < BASE_OPS; i++)
		assert_int_equal(step(env, i), 0);
	return env;
}

static void crash_anywhere(void **state)
{
	const char *dir = kt_tmpdir("hist-faults");
	char *want[NOPS + 1];
	uint64_t base_ops, end_ops;
	struct files fs;
	struct kt_fio f;
	struct kt_rng r;
	unsigned outcomes[2] = { 0, 0 };
	kv_env *env;

	(void)state;
	tmpdir_path(fs.path, sizeof(fs.path), dir, "db");
	snprintf(fs.lock, sizeof(fs.lock), "%s-lock", fs.path);
	snprintf(fs.log, sizeof(fs.log), "%s-undo", fs.path);

	/* without faults: the state after each operation */
	fresh(&fs);
	env = open_faulty(&fs, &f);
	base_ops = f.ops;
	want[BASE_OPS] = digest(env);
	for (int i = BASE_OPS; i < NOPS; i++) {
		assert_int_equal(step(env, i), 0);
		want[i + 1] = digest(env);
		if (i > BASE_OPS)
			assert_string_not_equal(want[i + 1], want[i]);
	}
	end_ops = f.ops;
	kv_env_close(env);
	kt_fio_release(&f);
	/* the folder move kept c's history, mv rewrote w's references */
	assert_non_null(strstr(want[NOPS], "prompts/e/c.yaml: live="));
	assert_non_null(strstr(want[NOPS], "agents/k.yaml: live="));
	assert_true(end_ops - base_ops > 20);

	for (uint64_t at = base_ops + 1; at <= end_ops; at++) {
		for (int v = 0; v < 2; v++) {
			int done = BASE_OPS, rc = 0;
			char *got;

			fresh(&fs);
			env = open_faulty(&fs, &f);
			assert_int_equal(f.ops, base_ops);
			f.crash_at = at;
			f.tear = v == 1;
			f.tear_seed = kt_mix(at);
			while (done < NOPS && (rc = step(env, done)) == 0)
				done++;
			assert_true(f.dead);
			kv_env_close(env);
			kt_fio_release(&f);
			kt_rng_init(&r, kt_mix(at * 2 + (uint64_t)v));
			kt_power_loss(fs.path, fs.log, &r,
			              v == 0 ? KT_LOSE_RANDOM : KT_LOSE_ALL, 0,
			              NULL);
			assert_int_equal(kv_env_open(&env, fs.path, 0, 0600),
			                 0);
			kt_check_clean(env, "after the crash");
			got = digest(env);
			if (strcmp(got, want[done]) == 0) {
				outcomes[0]++;
			} else if (done < NOPS &&
			           strcmp(got, want[done + 1]) == 0) {
				outcomes[1]++;
			} else {
				fprintf(stderr,
				        "crash at op %" PRIu64 " (%s), %d "
				        "operations done: got\n%swant\n%s",
				        at,
				        v ? "torn, all lost" : "random loss",
				        done, got, want[done]);
				fail();
			}
			free(got);
			kv_env_close(env);
		}
	}
	/* both outcomes happen: crashes before a commit reached the disk,
	 * and at its sync after it did */
	printf("%" PRIu64 " crash points, twice each: %u at the last success, "
	       "%u one commit later\n",
	       end_ops - base_ops, outcomes[0], outcomes[1]);
	assert_true(outcomes[0] > 0);
	assert_true(outcomes[1] > 0);
	for (int i = BASE_OPS; i <= NOPS; i++)
		free(want[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(crash_anywhere, kt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
