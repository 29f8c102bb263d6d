/*
 * refs: `cccfs refs DB PATH` -- what a record refers to and what refers
 * to it -- and the dangling-reference pass of `cccfs check --refs`
 * (refs.h).
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pathmap.h"
#include "refs.h"
#include "store.h"

const char cmd_refs_usage[] =
        "usage: cccfs refs [DB] PATH\n"
        "\n"
        "What the record at PATH refers to (agents:, prompts: and steps'\n"
        "agent: and prompt:), each with its line and column and whether\n"
        "it exists, and which records refer to it.  cccfs check --refs DB\n"
        "lists every reference to a record that does not exist.  Works\n"
        "while mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "example:\n"
        "  cccfs refs ~/.local/share/cccfs/ccc.db agents/reviewer.yaml\n";

static bool is_record_at(struct stx *s, const char *path)
{
	struct node n;
	bool yes;

	if (store_node_get(s, path, &n) != 0)
		return false;
	yes = S_ISREG(n.mode) && pm_is_record_name(pm_basename(path));
	node_release(&n);
	return yes;
}

static bool exists(void *ctx, const char *path)
{
	return is_record_at(ctx, path);
}

/* A reference's name, printable: control bytes escaped, cut at 64. */
static void put_name(FILE *f, const struct ref *r)
{
	for (size_t i = 0; i < r->len && i < 64; i++) {
		unsigned char c = (unsigned char)r->name[i];

		if (c < ' ' || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	if (r->len > 64)
		fputs("...", f);
}

struct out {
	struct stx *s;
	const char *source;
	uint64_t dangling;
	bool all; /* refs: every reference; check: the dangling only */
};

static int out_ref(void *ctx, const struct ref *r)
{
	struct out *o = ctx;
	char target[PM_PATH_MAX + 1];
	bool ok = refs_target(r, target, sizeof(target), exists, o->s) == 0;
	bool there = ok && is_record_at(o->s, target);

	if (!there)
		o->dangling++;
	if (o->all) {
		printf("->\t%s\tline %zu, column %zu%s\n",
		       ok ? target : "(not a name)", r->line, r->column,
		       there ? "" : "\t(does not exist)");
	} else if (!there) {
		printf("%s: line %zu, column %zu: %s '", o->source, r->line,
		       r->column, r->kind == REF_AGENT ? "agent" : "prompt");
		put_name(stdout, r);
		printf("' does not exist\n");
	}
	return 0;
}

static int out_source(void *ctx, const char *source, uint32_t count)
{
	(void)ctx;
	printf("<-\t%s\t%" PRIu32 " reference%s\n", source, count,
	       count == 1 ? "" : "s");
	return 0;
}

int cmd_refs(int argc, char **argv)
{
	char path[PM_PATH_MAX + 1];
	struct out o = { .all = true };
	struct node n;
	struct stx s;
	kv_val v;
	kv_env *env;
	int rc;

	const char *db;

	if (argc < 2 || argc > 3 || *argv[1] == '-' ||
	    (argc == 3 && *argv[2] == '-'))
		return cli_usage_error("refs", cmd_refs_usage);
	db = cli_db_or_default(argc == 3 ? argv[1] : NULL);
	if (db == NULL)
		return 2;
	if (cli_store_path(argv[argc - 1], path, sizeof(path)) != 0)
		return 2;
	if (cli_open(db, CLI_OPEN_READ, &env) != 0)
		return 1;
	rc = stx_begin(env, false, &s);
	o.s = &s;
	o.source = path;
	if (rc == 0) {
		rc = store_node_get(&s, path, &n);
		if (rc == 0) {
			rc = S_ISREG(n.mode)
			             ? store_content_get(&s, path, n.mode, &v)
			             : -EISDIR;
			if (rc == 0)
				rc = refs_each(v.data, v.len, out_ref, &o);
			node_release(&n);
		} else if (rc == -ENOENT) {
			rc = 0; /* no record: what refers to it still counts */
			printf("(no record at %s)\n", path);
		}
	}
	if (rc == 0)
		rc = refs_to(&s, path, out_source, NULL);
	stx_abort(&s);
	kv_env_close(env);
	if (rc != 0) {
		cli_fail(db, path, rc);
		return 1;
	}
	return 0;
}

struct scan {
	struct stx *s;
	int kind;
	uint64_t records, dangling;
	int rc;
};

static int scan_record(void *ctx, kv_val key, kv_val val)
{
	struct scan *sc = ctx;
	char path[PM_PATH_MAX + 1];
	const char *kind = pm_kind_name(sc->kind);
	size_t kl = strlen(kind);
	struct out o = { .s = sc->s, .source = path };

	if (kl + 1 + key.len > PM_PATH_MAX)
		return 0;
	memcpy(path, kind, kl);
	path[kl] = '/';
	memcpy(path + kl + 1, key.data, key.len);
	path[kl + 1 + key.len] = '\0';
	sc->records++;
	sc->rc = refs_each(val.data, val.len, out_ref, &o);
	sc->dangling += o.dangling;
	return sc->rc;
}

int cli_check_refs(struct stx *s, uint64_t *records, uint64_t *dangling)
{
	struct scan sc = { .s = s };
	int rc = 0;

	for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
		sc.kind = k;
		rc = store_scan(s, pm_kind_name(k), NULL, 0, scan_record, &sc);
	}
	*records = sc.records;
	*dangling = sc.dangling;
	return rc;
}
