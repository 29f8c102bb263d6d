/*
 * mv: `cccfs mv DB OLD NEW` -- rename a record and rewrite every
 * reference to it (refs.h), in one commit: each referring record gets
 * one new version.  A plain mv inside the mount stays a plain rename.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "pathmap.h"
#include "refs.h"
#include "store.h"
#include "wbuf.h"
#include "yaml_check.h"

const char cmd_mv_usage[] =
        "usage: cccfs mv [DB] OLD NEW\n"
        "\n"
        "Rename the record OLD to NEW and rewrite every reference to it\n"
        "(agents:, prompts:, steps' agent: and prompt:) in the records\n"
        "that make one, all in one commit: each of them gets one new\n"
        "version, and the history follows the renamed record.  NEW must\n"
        "not exist; its folder must.  A plain mv in the mount renames\n"
        "only; cccfs check --refs then lists what it left dangling.\n"
        "Works while mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "example:\n"
        "  cccfs mv ~/.local/share/cccfs/ccc.db agents/reviewer.yaml "
        "agents/critic.yaml\n";

/* The name references use for the record at path (agents/x.yaml: x;
 * prompts/a/b.yaml: a/b), into buf; -EINVAL when none can (an agent in a
 * sub-folder, a workflow). */
static int ref_name(const char *path, char *buf, size_t n, int *kind)
{
	const char *dot = strrchr(path, '.');
	const char *below = strchr(path, '/');
	size_t len;

	*kind = pm_kind_of(path);
	if (below == NULL || dot == NULL || *kind == PM_WORKFLOWS)
		return -EINVAL;
	below++;
	len = (size_t)(dot - below);
	if (len == 0 || len >= n ||
	    (*kind == PM_AGENTS && memchr(below, '/', len) != NULL))
		return -EINVAL;
	memcpy(buf, below, len);
	buf[len] = '\0';
	return 0;
}

/* name as a YAML scalar in the quoting style of the one it replaces. */
static int put_scalar(struct wbuf *b, const char *name, char style)
{
	bool plain = style != '"' && style != '\'' && *name != '\0' &&
	             strchr("-?:,[]{}#&*!|>'\"%@`", *name) == NULL;
	int rc = 0;

	for (const char *p = name; *p && plain; p++)
		plain = strchr(" \t:#,[]{}\"'", *p) == NULL &&
		        (unsigned char)*p >= ' ';
	if (plain)
		return wbuf_append(b, name, strlen(name));
	if (style == '\'') {
		rc = wbuf_append(b, "'", 1);
		for (const char *p = name; *p && rc == 0; p++)
			rc = *p == '\'' ? wbuf_append(b, "''", 2)
			                : wbuf_append(b, p, 1);
		return rc == 0 ? wbuf_append(b, "'", 1) : rc;
	}
	rc = wbuf_append(b, "\"", 1);
	for (const char *p = name; *p && rc == 0; p++) {
		if (*p == '"' || *p == '\\')
			rc = wbuf_append(b, "\\", 1);
		if (rc == 0)
			rc = wbuf_append(b, p, 1);
	}
	return rc == 0 ? wbuf_append(b, "\"", 1) : rc;
}

struct rewrite {
	struct stx *s;
	const char *old_path, *new_name, *text;
	struct wbuf out;
	size_t done; /* bytes of text copied to out */
	unsigned count;
	int rc;
};

static bool exists(void *ctx, const char *path)
{
	struct node n;

	if (store_node_get(ctx, path, &n) != 0)
		return false;
	node_release(&n);
	return true;
}

static int rewrite_ref(void *ctx, const struct ref *r)
{
	struct rewrite *rw = ctx;
	char target[PM_PATH_MAX + 1];
	int rc;

	if (refs_target(r, target, sizeof(target), exists, rw->s) != 0 ||
	    strcmp(target, rw->old_path) != 0 || r->start < rw->done)
		return 0;
	rc = wbuf_append(&rw->out, rw->text + rw->done, r->start - rw->done);
	if (rc == 0)
		rc = put_scalar(&rw->out, rw->new_name, rw->text[r->start]);
	rw->done = r->end;
	rw->count++;
	return rc;
}

struct sources {
	char **v;
	size_t n, cap;
};

static int add_source(void *ctx, const char *source, uint32_t count)
{
	struct sources *ss = ctx;

	(void)count;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? 2 * ss->cap : 8;
		char **v = realloc(ss->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		ss->v = v;
		ss->cap = cap;
	}
	ss->v[ss->n] = strdup(source);
	return ss->v[ss->n++] ? 0 : -ENOMEM;
}

/* Rewrite the references to old in the record at path as new_name; *n
 * gets how many.  A result that is no valid record is refused. */
static int rewrite_record(struct stx *s, const char *db, const char *path,
                          const char *old, const char *new_name, unsigned *n)
{
	char msg[YC_MSG_MAX];
	struct rewrite rw = { .s = s, .old_path = old, .new_name = new_name };
	struct node node;
	char *text = NULL;
	kv_val v;
	int rc = store_node_get(s, path, &node);

	*n = 0;
	if (rc != 0)
		return rc == -ENOENT ? 0 : rc; /* a dangling index entry */
	rc = store_content_get(s, path, node.mode, &v);
	if (rc == 0 && (text = malloc(v.len + 1)) == NULL)
		rc = -ENOMEM;
	if (rc == 0) {
		memcpy(text, v.data, v.len);
		rw.text = text;
		wbuf_init(&rw.out);
		rc = refs_each(text, v.len, rewrite_ref, &rw);
		if (rc == 0)
			rc = wbuf_append(&rw.out, text + rw.done,
			                 v.len - rw.done);
	}
	if (rc == 0 && rw.count > 0 &&
	    yaml_check(rw.out.data, rw.out.len, msg, sizeof(msg)) != 0) {
		fprintf(stderr,
		        "cccfs: %s: %s would no longer be a valid record (%s); "
		        "nothing renamed\n",
		        db, path, msg);
		rc = -EINVAL;
	}
	if (rc == 0 && rw.count > 0) {
		rc = store_content_put(s, path, node.mode, rw.out.data,
		                       rw.out.len);
		node.size = rw.out.len;
		node.mtime = node.ctime = clock_real_ns();
		node.txnid = kv_txn_id(s->txn);
		if (rc == 0)
			rc = store_node_put(s, path, &node);
	}
	if (text)
		wbuf_release(&rw.out);
	free(text);
	node_release(&node);
	*n = rw.count;
	return rc;
}

static int do_mv(kv_env *env, const char *db, const char *old, const char *new,
                 unsigned *refs, unsigned *records, bool *dangling)
{
	char oname[PM_PATH_MAX + 1], nname[PM_PATH_MAX + 1],
	        parent[PM_PATH_MAX + 1];
	struct sources ss = { 0 };
	struct subtree t = { 0 };
	struct node n;
	struct stx s;
	int ok, nk, rc = stx_begin(env, true, &s);
	bool rewrite;

	*refs = *records = 0;
	*dangling = false;
	if (rc != 0)
		return rc;
	rc = store_node_get(&s, old, &n);
	if (rc == 0 && !S_ISREG(n.mode))
		rc = -EISDIR;
	if (rc == 0)
		node_release(&n);
	if (rc == 0 && store_node_get(&s, new, &n) == 0) {
		node_release(&n);
		rc = -EEXIST;
	}
	memcpy(parent, new, pm_parent_len(new));
	parent[pm_parent_len(new)] = '\0';
	if (rc == 0 && store_node_get(&s, parent, &n) == 0)
		node_release(&n);
	else if (rc == 0)
		rc = -ENOTDIR;
	rewrite = ref_name(old, oname, sizeof(oname), &ok) == 0 &&
	          ref_name(new, nname, sizeof(nname), &nk) == 0 && ok == nk;
	if (rc == 0)
		rc = refs_to(&s, old, add_source, &ss);
	*dangling = !rewrite && ss.n > 0;
	for (size_t i = 0; i < ss.n && rc == 0 && rewrite; i++) {
		unsigned n1;

		rc = rewrite_record(&s, db, ss.v[i], old, nname, &n1);
		*refs += n1;
		*records += n1 > 0;
	}
	if (rc == 0)
		rc = store_subtree_load(&s, old, &t);
	if (rc == 0)
		rc = store_subtree_move(&s, old, new, &t, 0);
	if (rc == 0)
		rc = store_touch_parents(&s, old, new, clock_real_ns());
	subtree_release(&t);
	for (size_t i = 0; i < ss.n; i++)
		free(ss.v[i]);
	free(ss.v);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

int cmd_mv(int argc, char **argv)
{
	char old[PM_PATH_MAX + 1], new[PM_PATH_MAX + 1];
	unsigned refs, records;
	bool dangling = false;
	kv_env *env;
	int rc;

	const char *db;

	for (int i = 1; i < argc; i++)
		if (*argv[i] == '-')
			return cli_usage_error("mv", cmd_mv_usage);
	if (argc != 3 && argc != 4)
		return cli_usage_error("mv", cmd_mv_usage);
	db = cli_db_or_default(argc == 4 ? argv[1] : NULL);
	if (db == NULL)
		return 2;
	if (cli_store_path(argv[argc - 2], old, sizeof(old)) != 0 ||
	    cli_store_path(argv[argc - 1], new, sizeof(new)) != 0)
		return 2;
	if (!pm_is_record_name(pm_basename(old)) ||
	    !pm_is_record_name(pm_basename(new))) {
		fprintf(stderr,
		        "cccfs: mv renames records (NAME.yaml); "
		        "rename folders and other files in the mount\n");
		return 2;
	}
	if (cli_open(db, CLI_OPEN_WRITE, &env) != 0)
		return 1;
	rc = do_mv(env, db, old, new, &refs, &records, &dangling);
	kv_env_close(env);
	if (rc == -ENOENT)
		fprintf(stderr, "cccfs: %s: no record %s\n", db, old);
	else if (rc == -EEXIST)
		fprintf(stderr, "cccfs: %s: %s exists\n", db, new);
	else if (rc == -ENOTDIR)
		fprintf(stderr, "cccfs: %s: the folder of %s does not exist\n",
		        db, new);
	else if (rc == -EISDIR)
		fprintf(stderr, "cccfs: %s: %s is not a record\n", db, old);
	else if (rc != 0 && rc != -EINVAL)
		cli_fail(db, old, rc);
	if (rc != 0)
		return 1;
	printf("renamed %s -> %s; rewrote %u reference%s in %u record%s\n", old,
	       new, refs, refs == 1 ? "" : "s", records,
	       records == 1 ? "" : "s");
	if (dangling)
		printf("the references to %s could not follow it (another "
		       "kind, "
		       "or a name no reference can use): cccfs check --refs "
		       "lists them\n",
		       old);
	return 0;
}
