/*
 * diff: `cccfs diff DB FROM [TO] [PATH...]` -- what changed between two
 * trees (a snapshot or the live tree) or two versions of one record.
 *
 * Between trees, the record tables are compared with the engine's
 * two-tree walk (changed keys only), and a record removed at one path and
 * added at another is a rename when its history id (history.h) is the
 * same on both sides.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "history.h"
#include "pathmap.h"
#include "store.h"
#include "textdiff.h"
#include "yamldiff.h"

const char cmd_diff_usage[] =
        "usage: cccfs diff [DB] FROM [TO] [PATH...] [--patch | --yaml]\n"
        "\n"
        "What changed from FROM to TO (default: live).  Each is a snapshot\n"
        "name, live (the tree as it is), or PATH@N, version N of one\n"
        "record (cccfs log DB PATH lists them).  Between trees, one line\n"
        "per changed record, tab-separated, in path order:\n"
        "  +  PATH        created\n"
        "  -  PATH        deleted\n"
        "  M  PATH        modified\n"
        "  R  OLD  NEW    renamed (and maybe modified)\n"
        "PATH... limits the comparison to those records and folders.\n"
        "--patch adds a unified diff of each change, --yaml the changed\n"
        "keys (steps[2].agent: reviewer -> triager).  Exit status 0\n"
        "whether or not there are changes.  Works while mounted.\n"
        "DB is the first operand when it names a file that exists or\n"
        "ends in .db.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs diff ~/.local/share/cccfs/ccc.db before-cleanup\n"
        "  cccfs diff ~/.local/share/cccfs/ccc.db auto-2026-12-01T090000Z "
        "live prompts --patch\n"
        "  cccfs diff ~/.local/share/cccfs/ccc.db prompts/review.yaml@3 "
        "--yaml\n";

enum show { SHOW_NAMES, SHOW_PATCH, SHOW_YAML };

/* One side: a tree (a snapshot or live) or one version of a record. */
struct side {
	const char *spec;
	char path[PM_PATH_MAX + 1]; /* a version: its record */
	uint64_t version;           /* 0: a tree */
	const char *snapshot;       /* a tree: NULL for live */
	struct stx s;
	bool open;
};

static int parse_side(const char *spec, struct side *sd)
{
	const char *at = strrchr(spec, '@');

	memset(sd, 0, sizeof(*sd));
	sd->spec = spec;
	if (at != NULL && at[1] >= '1' && at[1] <= '9' &&
	    strspn(at + 1, "0123456789") == strlen(at + 1) &&
	    (size_t)(at - spec) <= PM_PATH_MAX) {
		char rec[PM_PATH_MAX + 1];

		memcpy(rec, spec, (size_t)(at - spec));
		rec[at - spec] = '\0';
		if (pm_depth(rec) >= 2 && pm_is_record_name(pm_basename(rec))) {
			if (cli_store_path(rec, sd->path, sizeof(sd->path)) !=
			    0)
				return -EINVAL;
			sd->version = strtoull(at + 1, NULL, 10);
			return 0;
		}
	}
	if (strcmp(spec, "live") != 0)
		sd->snapshot = spec;
	return 0;
}

static int open_side(kv_env *env, const char *db, struct side *sd)
{
	int rc = sd->snapshot ? stx_begin_snapshot(env, sd->snapshot, &sd->s)
	                      : stx_begin(env, false, &sd->s);

	if (rc == -ENOENT)
		fprintf(stderr,
		        "cccfs: %s: no snapshot named '%s' (cccfs snapshot DB "
		        "list; 'live' is the tree as it is, PATH@N a "
		        "version)\n",
		        db, sd->snapshot);
	else if (rc != 0)
		cli_fail(db, sd->spec, rc);
	sd->open = rc == 0;
	return rc;
}

/* ---- the content of a record on one side --------------------------------- */

/* A malloc'd copy: a version, or the record at path in the tree.
 * -ENOENT when there is none. */
static int content_of(struct side *sd, const char *path, void **data,
                      size_t *len)
{
	struct hist_item it;
	struct node n;
	kv_val v;
	int rc;

	if (sd->version != 0)
		return hist_get(&sd->s, sd->path, sd->version, &it, data, len);
	rc = store_node_get(&sd->s, path, &n);
	if (rc != 0)
		return rc;
	if (!S_ISREG(n.mode)) {
		node_release(&n);
		return -ENOENT;
	}
	rc = store_content_get(&sd->s, path, n.mode, &v);
	node_release(&n);
	if (rc != 0)
		return rc;
	*data = malloc(v.len ? v.len : 1);
	if (*data == NULL)
		return -ENOMEM;
	memcpy(*data, v.data, v.len);
	*len = v.len;
	return 0;
}

/* ---- changes ------------------------------------------------------------- */

struct change {
	char op; /* + - M R */
	char *path, *to;
};

struct changes {
	struct change *v;
	size_t n, cap;
};

static int change_add(struct changes *cs, char op, const char *path,
                      const char *to)
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
	c->op = op;
	c->path = strdup(path);
	c->to = to ? strdup(to) : NULL;
	if (c->path == NULL || (to && c->to == NULL)) {
		free(c->path);
		free(c->to);
		return -ENOMEM;
	}
	cs->n++;
	return 0;
}

static void changes_free(struct changes *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->v[i].path);
		free(cs->v[i].to);
	}
	free(cs->v);
}

struct filter {
	char **paths;
	int n;
};

static bool wanted(const struct filter *f, const char *path)
{
	if (f->n == 0)
		return true;
	for (int i = 0; i < f->n; i++)
		if (pm_is_within(path, f->paths[i]))
			return true;
	return false;
}

struct collect {
	int kind;
	const struct filter *f;
	struct changes *cs;
};

static int collect_one(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	struct collect *c = ctx;
	char path[PM_PATH_MAX + 1];
	const char *kind = pm_kind_name(c->kind);
	size_t kl = strlen(kind);

	if (kl + 1 + key.len > PM_PATH_MAX)
		return 0;
	memcpy(path, kind, kl);
	path[kl] = '/';
	memcpy(path + kl + 1, key.data, key.len);
	path[kl + 1 + key.len] = '\0';
	if (!pm_is_record_name(pm_basename(path)) || !wanted(c->f, path))
		return 0;
	return change_add(c->cs,
	                  va.data == NULL   ? '+'
	                  : vb.data == NULL ? '-'
	                                    : 'M',
	                  path, NULL);
}

/* The history id of the record at path on one side, 0 if none. */
static uint64_t rid_of(struct stx *s, const char *path)
{
	uint64_t rid;

	return hist_rid(s, path, &rid) == 0 ? rid : 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path,
	              ((const struct change *)b)->path);
}

/* Pair each deletion with the creation of the same record elsewhere. */
static int find_renames(struct side *from, struct side *to, struct changes *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		uint64_t rid;

		if (cs->v[i].op != '-')
			continue;
		rid = rid_of(&from->s, cs->v[i].path);
		if (rid == 0)
			continue;
		for (size_t j = 0; j < cs->n; j++) {
			if (cs->v[j].op != '+' ||
			    rid_of(&to->s, cs->v[j].path) != rid)
				continue;
			cs->v[i].op = 'R';
			cs->v[i].to = cs->v[j].path;
			cs->v[j].path = NULL;
			cs->v[j].op = 0;
			break;
		}
	}
	size_t k = 0;
	for (size_t i = 0; i < cs->n; i++)
		if (cs->v[i].op != 0)
			cs->v[k++] = cs->v[i];
	cs->n = k;
	return 0;
}

/* ---- output -------------------------------------------------------------- */

static int show_change(struct side *from, struct side *to,
                       const struct change *c, enum show show)
{
	const char *a_path = c->path, *b_path = c->to ? c->to : c->path;
	char la[PM_PATH_MAX + 8], lb[PM_PATH_MAX + 8];
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int rc = 0;

	if (c->op == 'R')
		printf("R\t%s\t%s\n", c->path, c->to);
	else
		printf("%c\t%s\n", c->op, c->path);
	if (show == SHOW_NAMES)
		return 0;
	if (c->op != '+')
		rc = content_of(from, a_path, &a, &alen);
	if (rc == 0 && c->op != '-')
		rc = content_of(to, b_path, &b, &blen);
	if (rc == 0 && show == SHOW_PATCH) {
		struct td_stat st;

		snprintf(la, sizeof(la), "a/%s", a_path);
		snprintf(lb, sizeof(lb), "b/%s", b_path);
		rc = td_diff(a ? a : "", alen, b ? b : "", blen, &st, stdout,
		             c->op == '+' ? "/dev/null" : la,
		             c->op == '-' ? "/dev/null" : lb);
	} else if (rc == 0 && (c->op == 'M' || c->op == 'R')) {
		long n = yd_diff(a, alen, b, blen, stdout, "\t");

		if (n == -EINVAL)
			printf("\t(not comparable as YAML)\n");
		else if (n < 0)
			rc = (int)n;
	}
	free(a);
	free(b);
	return rc;
}

/* ---- the two ways ---------------------------------------------------------- */

static int diff_trees(struct side *from, struct side *to,
                      const struct filter *f, enum show show)
{
	struct changes cs = { 0 };
	int rc = 0;

	for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
		struct collect c = { k, f, &cs };

		rc = kv_to_errno(store_table_diff(from->s.txn, to->s.txn,
		                                  pm_kind_name(k), collect_one,
		                                  &c));
	}
	if (rc == 0)
		rc = find_renames(from, to, &cs);
	if (rc == 0)
		qsort(cs.v, cs.n, sizeof(*cs.v), by_path);
	for (size_t i = 0; i < cs.n && rc == 0; i++)
		rc = show_change(from, to, &cs.v[i], show);
	changes_free(&cs);
	return rc;
}

static int diff_versions(struct side *from, struct side *to, enum show show)
{
	const char *path = from->version ? from->path : to->path;
	struct change c = { 'M', (char *)path, NULL };
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int rc = content_of(from, path, &a, &alen);

	if (rc == 0)
		rc = content_of(to, path, &b, &blen);
	if (rc == 0 && (alen != blen || memcmp(a, b, alen) != 0))
		rc = show_change(from, to, &c, show);
	free(a);
	free(b);
	return rc;
}

/* A word names the store when it is a file or ends in .db: FROM and TO
 * (snapshot names, live, PATH@N) are neither. */
static bool is_store_file(const char *word)
{
	size_t n = strlen(word);
	struct stat st;

	return (n > 3 && strcmp(word + n - 3, ".db") == 0) ||
	       (stat(word, &st) == 0 && S_ISREG(st.st_mode));
}

int cmd_diff(int argc, char **argv)
{
	const char *pos[3] = { 0 };
	char **paths = calloc((size_t)argc, sizeof(*paths));
	struct filter f = { paths, 0 };
	struct side from, to;
	enum show show = SHOW_NAMES;
	int npos = 0, rc = 0, code = 0;
	kv_env *env = NULL;

	if (paths == NULL)
		return 1;
	/* DB left out: the first operand names no store file (one that
	 * exists, or a name ending in .db) */
	for (int i = 1; i < argc; i++) {
		if (*argv[i] == '-')
			continue;
		if (!is_store_file(argv[i]))
			npos = 1; /* pos[0] stays NULL: the default */
		break;
	}
	for (int i = 1; i < argc && code == 0; i++) {
		if (strcmp(argv[i], "--patch") == 0 && show == SHOW_NAMES) {
			show = SHOW_PATCH;
		} else if (strcmp(argv[i], "--yaml") == 0 &&
		           show == SHOW_NAMES) {
			show = SHOW_YAML;
		} else if (*argv[i] == '-') {
			code = cli_usage_error("diff", cmd_diff_usage);
		} else if (npos < 3 &&
		           (npos < 2 ||
		            pm_kind_of(argv[i] + strspn(argv[i], "/")) < 0 ||
		            strchr(argv[i], '@') != NULL)) {
			pos[npos++] = argv[i];
		} else {
			char *p = malloc(PM_PATH_MAX + 1);

			if (p == NULL ||
			    cli_store_path_prefix(argv[i], p,
			                          PM_PATH_MAX + 1) != 0) {
				free(p);
				code = 2;
				break;
			}
			paths[f.n++] = p;
		}
	}
	if (code == 0 && npos < 2)
		code = cli_usage_error("diff", cmd_diff_usage);
	if (code == 0 && (pos[0] = cli_db_or_default(pos[0])) == NULL)
		code = 2;
	if (code == 0 && (parse_side(pos[1], &from) != 0 ||
	                  parse_side(pos[2] ? pos[2] : "live", &to) != 0))
		code = 2;
	if (code == 0 && from.version && to.version &&
	    strcmp(from.path, to.path) != 0) {
		fprintf(stderr,
		        "cccfs: diff: two versions of one record only "
		        "(%s and %s)\n",
		        from.path, to.path);
		code = 2;
	}
	if (code == 0 && (from.version || to.version) && f.n > 0) {
		fprintf(stderr, "cccfs: diff: no PATH after a version\n");
		code = 2;
	}
	if (code == 0 && cli_open(pos[0], CLI_OPEN_READ, &env) != 0)
		code = 1;
	if (code == 0 && (open_side(env, pos[0], &from) != 0 ||
	                  open_side(env, pos[0], &to) != 0))
		code = 1;
	if (code == 0) {
		if (from.version || to.version)
			rc = diff_versions(&from, &to, show);
		else
			rc = diff_trees(&from, &to, &f, show);
		if (rc == -ENOENT && (from.version || to.version)) {
			fprintf(stderr,
			        "cccfs: %s: no such version (cccfs log DB %s "
			        "lists them)\n",
			        pos[0], from.version ? from.path : to.path);
			code = 1;
		} else if (rc != 0) {
			cli_fail(pos[0], "diff", rc);
			code = 1;
		}
	}
	if (from.open)
		stx_abort(&from.s);
	if (to.open)
		stx_abort(&to.s);
	if (env)
		kv_env_close(env);
	for (int i = 0; i < f.n; i++)
		free(paths[i]);
	free(paths);
	return code;
}
