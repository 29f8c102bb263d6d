/*
 * check: `cccfs check [-v] [DB]`, offline (or live) verification of a
 * database.
 *
 * 1. kv_check(): pages, checksums, key order, accounting.
 * 2. Every record in the three record tables must validate with
 *    yaml_check() and have a regular-file node whose size matches; a
 *    prompt with variables: must pass its template's save check
 *    (rendered_check(), template.h) as the tree now is: one that would be
 *    refused now (an included prompt deleted or changed since) is a
 *    problem.
 * 3. Every node must decode, and every regular file or symlink node must
 *    have its content entry.
 * 4. The records' history (history.h, hist_verify()).
 * Everything runs in one read transaction, so a running daemon may keep
 * committing meanwhile.  On a terminal, steps 2 and 3 show a progress bar
 * on stderr (progress.h); -v lists every node instead.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cccfs/kv.h>

#include "history.h"
#include "pathmap.h"
#include "progress.h"
#include "rendered.h"
#include "store.h"
#include "yaml_check.h"

const char cmd_check_usage[] =
        "usage: cccfs check [-v] [DB]\n"
        "       cccfs check --refs [DB]\n"
        "\n"
        "Verify the store: page checksums, key order, counts and page\n"
        "accounting, then every record re-validated as YAML (a prompt\n"
        "with variables: against its template's rules too, so a prompt\n"
        "that an include's change or deletion left refusable shows up),\n"
        "every file matched with its content, and the records' history\n"
        "(.history) checked.  --refs instead lists every reference (agents:,\n"
        "prompts:, steps' agent: and prompt:) to a record that does not\n"
        "exist, as PATH: line L, column C: agent 'x' does not exist.\n"
        "Works while mounted.  -v lists each\n"
        "entry.  Exit 0 when clean, 3 when problems were found, 1 when the\n"
        "check could not run.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs check\n"
        "  cccfs check -v /backup/ccc-2026-11-02.db\n";

struct check_state {
	struct stx *s;
	uint64_t problems;
	uint64_t records;
	uint64_t nodes;
	int verbose;
	struct progress progress; /* over records and nodes; off with -v */
};

/* Print a line of the report, first erasing the progress bar if it is up
 * (on a terminal, stdout and the bar on stderr share the screen). */
static void report(struct check_state *cs, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void report(struct check_state *cs, const char *fmt, ...)
{
	va_list ap;

	progress_clear(&cs->progress);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static void kv_problem(void *ctx, const char *msg)
{
	struct check_state *cs = ctx;

	cs->problems++;
	report(cs, "kv: %s\n", msg);
}

static int walk_table(struct check_state *cs, const char *table,
                      int (*fn)(struct check_state *cs, kv_val k, kv_val v,
                                const char *table))
{
	kv_table *t;
	kv_cursor *c;
	kv_val k, v;
	int rc = kv_table_open(cs->s->txn, table, 0, &t);

	if (rc == KV_ENOTFOUND) {
		report(cs, "%s: table missing\n", table);
		cs->problems++;
		return 0;
	}
	if (rc != 0)
		return rc;
	rc = kv_cursor_open(cs->s->txn, t, &c);
	if (rc != 0)
		return rc;
	for (rc = kv_cursor_first(c, &k, &v); rc == 0;
	     rc = kv_cursor_next(c, &k, &v)) {
		progress_add(&cs->progress, 1);
		rc = fn(cs, k, v, table);
		if (rc != 0)
			break;
	}
	kv_cursor_close(c);
	return rc == KV_ENOTFOUND ? 0 : rc;
}

static int check_record(struct check_state *cs, kv_val k, kv_val v,
                        const char *table)
{
	char path[PM_PATH_MAX + 64];
	char msg[YC_MSG_MAX];
	struct node n;
	int rc;

	cs->records++;
	snprintf(path, sizeof(path), "%s/%.*s", table, (int)k.len,
	         (const char *)k.data);
	if (yaml_check(v.data, v.len, msg, sizeof(msg)) != 0) {
		report(cs, "/%s: invalid record: %s\n", path, msg);
		cs->problems++;
	} else if (strcmp(table, pm_kind_name(PM_PROMPTS)) == 0) {
		rc = rendered_check(NULL, cs->s, path, v.data, v.len, msg,
		                    sizeof(msg));
		if (rc == -EINVAL) {
			report(cs, "/%s: would be refused now: %s\n", path,
			       msg);
			cs->problems++;
		} else if (rc != 0) {
			return rc;
		}
	}
	rc = store_node_get(cs->s, path, &n);
	if (rc != 0) {
		report(cs, "/%s: record without a node\n", path);
		cs->problems++;
		return 0;
	}
	if (!S_ISREG(n.mode) || n.size != v.len) {
		report(cs,
		       "/%s: node says mode %o size %" PRIu64
		       ", record has %zu bytes\n",
		       path, (unsigned)n.mode, n.size, v.len);
		cs->problems++;
	}
	node_release(&n);
	return 0;
}

static int check_node(struct check_state *cs, kv_val k, kv_val v,
                      const char *table)
{
	char path[PM_PATH_MAX + 2];
	struct node n;
	kv_val content;
	int rc;

	(void)table;
	cs->nodes++;
	rc = pm_node_key_to_path(path, sizeof(path), k.data, k.len);
	if (rc < 0) {
		report(cs, "nodes: malformed key of %zu bytes\n", k.len);
		cs->problems++;
		return 0;
	}
	if (node_decode(v.data, v.len, &n) != 0) {
		report(cs, "/%s: node does not decode\n", path);
		cs->problems++;
		return 0;
	}
	if ((S_ISREG(n.mode) || S_ISLNK(n.mode)) && pm_depth(path) >= 2) {
		struct pm_loc loc;
		kv_table *t;
		kv_val key;

		pm_content_loc(path, S_ISREG(n.mode), &loc);
		key.data = loc.key;
		key.len = loc.key_len;
		if (kv_table_open(cs->s->txn, loc.table, 0, &t) != 0 ||
		    kv_get(cs->s->txn, t, key, &content) != 0) {
			report(cs, "/%s: content missing\n", path);
			cs->problems++;
		} else if (content.len != n.size) {
			report(cs,
			       "/%s: size %" PRIu64 " but %zu bytes stored\n",
			       path, n.size, content.len);
			cs->problems++;
		}
	} else if (*path == '\0' && !S_ISDIR(n.mode)) {
		report(cs, "/: the root's node is not a folder\n");
		cs->problems++;
	} else if (!S_ISDIR(n.mode) && !S_ISREG(n.mode) && !S_ISLNK(n.mode)) {
		report(cs, "/%s: unknown node type %o\n", path,
		       (unsigned)n.mode);
		cs->problems++;
	}
	if (cs->verbose)
		report(cs, "ok /%s\n", path);
	node_release(&n);
	return 0;
}

static void history_problem(void *ctx, const char *msg)
{
	struct check_state *cs = ctx;

	report(cs, "%s\n", msg);
	cs->problems++;
}

/* How many entries the walks below visit: the records and the nodes. */
static uint64_t count_entries(struct stx *s)
{
	uint64_t n = 0;
	kv_table *t;

	for (int k = 0; k < PM_NKINDS; k++)
		if (kv_table_open(s->txn, pm_kind_name(k), 0, &t) == 0)
			n += kv_table_count(t);
	if (kv_table_open(s->txn, PM_TABLE_NODES, 0, &t) == 0)
		n += kv_table_count(t);
	return n;
}

static int check_store(const char *db, int verbose)
{
	struct check_state cs = { .verbose = verbose };
	struct kv_check_report rep;
	kv_env *env;
	struct stx s;
	int rc;

	if (cli_open(db, CLI_OPEN_CHECK, &env) != 0)
		return 1;
	memset(&rep, 0, sizeof(rep));
	rc = kv_check(env, kv_problem, &cs, &rep);
	if (rc != 0 && rc != KV_ECORRUPT) {
		cli_fail(db, "check failed", rc);
		kv_env_close(env);
		return 1;
	}
	if (rc == KV_ECORRUPT && cs.problems == 0)
		cs.problems = rep.problems ? rep.problems : 1;
	rc = stx_begin(env, false, &s);
	if (rc == 0) {
		cs.s = &s;
		if (!verbose)
			progress_start(&cs.progress, "checking",
			               count_entries(&s));
		for (int k = 0; k < PM_NKINDS && rc == 0; k++)
			rc = walk_table(&cs, pm_kind_name(k), check_record);
		if (rc == 0)
			rc = walk_table(&cs, PM_TABLE_NODES, check_node);
		progress_end(&cs.progress);
		if (rc == 0) {
			uint64_t n;

			rc = hist_verify(&s, history_problem, &cs, &n);
		}
		stx_abort(&s);
	}
	kv_env_close(env);
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: %s\n", db, kv_strerror(rc));
		return 1;
	}
	printf("%s: %" PRIu64 " pages, %" PRIu64 " entries, %" PRIu64
	       " nodes, %" PRIu64 " records, %" PRIu64 " problems\n",
	       db, rep.pages_total, rep.entries, cs.nodes, cs.records,
	       cs.problems);
	return cs.problems ? 3 : 0;
}

/* --refs: the references between records only. */
static int check_refs(const char *db)
{
	uint64_t records = 0, dangling = 0;
	kv_env *env;
	struct stx s;
	int rc;

	if (cli_open(db, CLI_OPEN_READ, &env) != 0)
		return 1;
	rc = stx_begin(env, false, &s);
	if (rc == 0) {
		rc = cli_check_refs(&s, &records, &dangling);
		stx_abort(&s);
	}
	kv_env_close(env);
	if (rc != 0) {
		cli_fail(db, "references", rc);
		return 1;
	}
	printf("%s: %" PRIu64 " records, %" PRIu64
	       " references to records that do not exist\n",
	       db, records, dangling);
	return dangling ? 3 : 0;
}

int cmd_check(int argc, char **argv)
{
	const char *db = NULL;
	int verbose = 0, refs = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0 && !verbose)
			verbose = 1;
		else if (strcmp(argv[i], "--refs") == 0 && !refs)
			refs = 1;
		else if (argv[i][0] == '-' || db != NULL)
			return cli_usage_error("check", cmd_check_usage);
		else
			db = argv[i];
	}
	if (refs && verbose)
		return cli_usage_error("check", cmd_check_usage);
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	return refs ? check_refs(db) : check_store(db, verbose);
}
