/*
 * log: `cccfs log DB [PATH]` -- one record's versions, newest first, or
 * the store's recent commits with what each changed (history.h).
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "labels.h"
#include "pathmap.h"
#include "store.h"
#include "textdiff.h"

const char cmd_log_usage[] =
        "usage: cccfs log [DB] [PATH] [-n COUNT]\n"
        "\n"
        "With PATH (as in the mount: prompts/review.yaml), the record's\n"
        "versions, newest first: version, commit time (UTC), size, lines\n"
        "added and removed against the version before, and the renames\n"
        "and the deletion in between.  A deleted record's history is\n"
        "still there.  Without PATH, the store's recent commits (COUNT,\n"
        "default 20): time, transaction id, and a line per record that\n"
        "changed: + created, M modified, - deleted, R renamed, and\n"
        "L NAME PATH@N for a label set (cccfs label).\n"
        "The versions are the files of MOUNTPOINT/.history/PATH/.  Works\n"
        "while mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs log ~/.local/share/cccfs/ccc.db prompts/review.yaml\n"
        "  cccfs log ~/.local/share/cccfs/ccc.db -n 5\n";

/* ---- one record ---------------------------------------------------------- */

struct entry {
	struct hist_item it;
	char *from, *to; /* copies of the item's notes */
	struct td_stat lines;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s ? s : "", n);
		d[n] = '\0';
	}
	return d;
}

static int keep_item(void *ctx, const struct hist_item *it)
{
	struct entries *es = ctx;
	struct entry *e;

	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 16;
		struct entry *v = realloc(es->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		es->v = v;
		es->cap = cap;
	}
	e = &es->v[es->n];
	memset(e, 0, sizeof(*e));
	e->it = *it;
	e->from = dup_n(it->from, it->from_len);
	e->to = dup_n(it->to, it->to_len);
	if (e->from == NULL || e->to == NULL) {
		free(e->from);
		free(e->to);
		return -ENOMEM;
	}
	es->n++;
	return 0;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->v[i].from);
		free(es->v[i].to);
	}
	free(es->v);
}

/* Lines added and removed by each version against the one before. */
static int count_lines(struct stx *s, const char *path, struct entries *es)
{
	void *prev = NULL, *cur;
	size_t plen = 0, clen;
	int rc = 0;

	for (size_t i = 0; i < es->n && rc == 0; i++) {
		struct entry *e = &es->v[i];
		struct hist_item it;

		if (e->it.kind != HI_VERSION && e->it.kind != HI_LIVE)
			continue;
		rc = hist_get(s, path, e->it.version, &it, &cur, &clen);
		if (rc != 0)
			break;
		rc = td_diff(prev ? prev : "", plen, cur, clen, &e->lines, NULL,
		             NULL, NULL);
		free(prev);
		prev = cur;
		plen = clen;
	}
	free(prev);
	return rc;
}

static void print_entry(const struct entry *e)
{
	char when[40], size[32];

	cli_format_utc(when, sizeof(when), e->it.time);
	switch (e->it.kind) {
	case HI_RENAME:
		printf("%8s  %s  renamed %s -> %s\n", "", when, e->from, e->to);
		return;
	case HI_DELETED:
		printf("%8" PRIu64 "  %s  deleted%s%s\n", e->it.version, when,
		       *e->to ? ", renamed to " : "", e->to);
		return;
	default:
		break;
	}
	cli_format_size(size, sizeof(size), e->it.size);
	printf("%8" PRIu64 "  %s  %10s  +%zu -%zu%s%s%s\n", e->it.version, when,
	       size, e->lines.added, e->lines.removed,
	       e->it.kind == HI_LIVE ? "  (live)" : "",
	       *e->from ? "  from " : "", e->from);
}

static int log_record(kv_env *env, const char *db, const char *path)
{
	struct entries es = { 0 };
	struct stx s;
	int rc = stx_begin(env, false, &s);

	if (rc == 0)
		rc = hist_each(&s, path, keep_item, &es);
	if (rc == 0)
		rc = count_lines(&s, path, &es);
	stx_abort(&s);
	if (rc == -ENOENT) {
		fprintf(stderr,
		        "cccfs: %s: no record %s, and no history of "
		        "one\n",
		        db, path);
		entries_free(&es);
		return 1;
	}
	if (rc != 0) {
		cli_fail(db, path, rc);
		entries_free(&es);
		return 1;
	}
	printf("%8s  %-20s  %10s  %s\n", "version", "time (UTC)", "size",
	       "lines");
	for (size_t i = es.n; i-- > 0;)
		print_entry(&es.v[i]);
	entries_free(&es);
	return 0;
}

/* ---- the whole store ------------------------------------------------------ */

struct change {
	int64_t time;
	uint64_t txnid;
	char op; /* + M - R */
	char *path, *other;
};

struct changes {
	struct change *v;
	size_t n, cap;
	struct stx *s;
};

static int add_change(struct changes *cs, const struct hist_item *it, char op,
                      const char *path, const char *other, size_t olen)
{
	struct change *c;

	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? 2 * cs->cap : 64;
		struct change *v = realloc(cs->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		cs->v = v;
		cs->cap = cap;
	}
	c = &cs->v[cs->n];
	c->time = it->time;
	c->txnid = it->txnid;
	c->op = op;
	c->path = dup_n(path, strlen(path));
	c->other = dup_n(other, olen);
	if (c->path == NULL || c->other == NULL) {
		free(c->path);
		free(c->other);
		return -ENOMEM;
	}
	cs->n++;
	return 0;
}

/* The changes of one record: its items newest first, following its
 * renames back to the path each version was made at. */
static int record_changes(void *ctx, const char *path)
{
	struct changes *cs = ctx;
	struct entries es = { 0 };
	char cur[PM_PATH_MAX + 1];
	int rc = hist_each(cs->s, path, keep_item, &es);

	snprintf(cur, sizeof(cur), "%s", path);
	for (size_t i = es.n; i-- > 0 && rc == 0;) {
		const struct entry *e = &es.v[i];

		switch (e->it.kind) {
		case HI_RENAME:
			rc = add_change(cs, &e->it, 'R', e->from, e->to,
			                strlen(e->to));
			snprintf(cur, sizeof(cur), "%s", e->from);
			break;
		case HI_DELETED:
			rc = add_change(cs, &e->it, '-', cur, "", 0);
			break;
		default:
			rc = add_change(cs, &e->it,
			                e->it.version == 1 ? '+' : 'M', cur, "",
			                0);
			break;
		}
	}
	entries_free(&es);
	return rc;
}

/* A label's change: "L  NAME  PATH@V", or PATH and "-" for a removal. */
static int label_change(void *ctx, uint64_t txnid, const struct label *l)
{
	struct changes *cs = ctx;
	struct hist_item it;
	char at[PM_PATH_MAX + 32];

	memset(&it, 0, sizeof(it));
	it.time = l->time;
	it.txnid = txnid;
	if (l->version)
		snprintf(at, sizeof(at), "%s@%" PRIu64, l->path, l->version);
	else
		snprintf(at, sizeof(at), "%s (removed)", l->path);
	return add_change(cs, &it, 'L', l->name, at, strlen(at));
}

static int newest_first(const void *a, const void *b)
{
	const struct change *x = a, *y = b;

	if (x->txnid != y->txnid)
		return x->txnid < y->txnid ? 1 : -1;
	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	return strcmp(x->path, y->path);
}

static int log_store(kv_env *env, const char *db, unsigned long count)
{
	struct changes cs = { 0 };
	struct stx s;
	unsigned long shown = 0;
	int rc = stx_begin(env, false, &s);

	cs.s = &s;
	if (rc == 0)
		rc = hist_paths(&s, record_changes, &cs);
	if (rc == 0)
		rc = label_events(&s, label_change, &cs);
	stx_abort(&s);
	if (rc != 0) {
		cli_fail(db, "history", rc);
	} else {
		qsort(cs.v, cs.n, sizeof(*cs.v), newest_first);
		for (size_t i = 0; i < cs.n; i++) {
			const struct change *c = &cs.v[i];

			if (i == 0 || c->txnid != cs.v[i - 1].txnid) {
				char when[40];

				if (shown++ == count)
					break;
				cli_format_utc(when, sizeof(when), c->time);
				printf("%s%s  txn %" PRIu64 "\n", i ? "\n" : "",
				       when, c->txnid);
			}
			if (c->op == 'R' || c->op == 'L')
				printf("%c\t%s\t%s\n", c->op, c->path,
				       c->other);
			else
				printf("%c\t%s\n", c->op, c->path);
		}
		if (cs.n == 0)
			printf("no history yet: every save of a record from "
			       "now on is kept\n");
	}
	for (size_t i = 0; i < cs.n; i++) {
		free(cs.v[i].path);
		free(cs.v[i].other);
	}
	free(cs.v);
	return rc != 0;
}

int cmd_log(int argc, char **argv)
{
	const char *db = NULL, *path = NULL;
	char norm[PM_PATH_MAX + 1];
	unsigned long count = 20;
	kv_env *env;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			char *end;

			errno = 0;
			count = strtoul(argv[++i], &end, 10);
			if (*argv[i] == '\0' || *end != '\0' || errno != 0 ||
			    *argv[i] == '-')
				return cli_usage_error("log", cmd_log_usage);
		} else if (*argv[i] == '-') {
			return cli_usage_error("log", cmd_log_usage);
		} else if (db == NULL) {
			db = argv[i];
		} else if (path == NULL) {
			path = argv[i];
		} else {
			return cli_usage_error("log", cmd_log_usage);
		}
	}
	/* one operand: a path in the store (below a kind folder), or DB */
	if (db != NULL && path == NULL &&
	    pm_kind_of(db + strspn(db, "/")) >= 0 &&
	    pm_depth(db + strspn(db, "/")) >= 2) {
		path = db;
		db = NULL;
	}
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	if (path != NULL && cli_store_path(path, norm, sizeof(norm)) != 0)
		return 2;
	if (cli_open(db, CLI_OPEN_READ, &env) != 0)
		return 1;
	rc = path ? log_record(env, db, norm) : log_store(env, db, count);
	kv_env_close(env);
	return rc;
}
