/*
 * check: `cccfs check [-v] [DB]`, offline (or live) verification of a
 * database.
 *
 * 1. kv_txn_check(): pages, checksums, key order, accounting.
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
 *
 * Reads do not verify checksums, so what lies below a page step 1 found
 * damaged is not what the other steps may vouch for: step 1 names the
 * keys below each such page, steps 2 and 3 pass over them (and over
 * lookups that land there), and the report says how many entries of each
 * table went unchecked, and which keys.  None of them is counted as
 * checked.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A damaged page of a table (struct kv_check_damage, copied): its keys
 * are first <= k < end, an absent bound open; single: the one key first. */
struct damage {
	char *table;
	char *snapshot; /* NULL: a live table */
	uint8_t *first, *end;
	size_t first_len, end_len;
	bool has_first, has_end, single;
	uint64_t unverified; /* the table's, under all its damaged pages */
};

struct check_state {
	struct stx *s;
	uint64_t problems;
	uint64_t records;
	uint64_t nodes;
	uint64_t unverified;
	int verbose;
	struct progress progress; /* over records and nodes; off with -v */
	struct damage *dmg;
	size_t ndmg, cdmg;
	bool dmg_lost; /* out of memory for them: every entry is suspect */
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

/* ---- what lies below damaged pages ----------------------------------- */

static uint8_t *dup_key(kv_val k)
{
	uint8_t *b = malloc(k.len ? k.len : 1);

	if (b != NULL && k.len)
		memcpy(b, k.data, k.len);
	return b;
}

/* kv_txn_check()'s damage hook. */
static void note_damage(void *ctx, const struct kv_check_damage *d)
{
	struct check_state *cs = ctx;
	struct damage *x;

	if (cs->ndmg == cs->cdmg) {
		size_t nc = cs->cdmg ? 2 * cs->cdmg : 8;
		struct damage *nv = realloc(cs->dmg, nc * sizeof(*nv));

		if (nv == NULL) {
			cs->dmg_lost = true;
			return;
		}
		cs->dmg = nv;
		cs->cdmg = nc;
	}
	x = &cs->dmg[cs->ndmg];
	memset(x, 0, sizeof(*x));
	x->table = strdup(d->table);
	x->snapshot = d->snapshot ? strdup(d->snapshot) : NULL;
	x->has_first = d->first.data != NULL;
	x->has_end = d->end.data != NULL;
	x->single = x->has_first && x->has_end && d->first.len == d->end.len &&
	            memcmp(d->first.data, d->end.data, d->first.len) == 0;
	x->first = x->has_first ? dup_key(d->first) : NULL;
	x->end = x->has_end ? dup_key(d->end) : NULL;
	x->first_len = d->first.len;
	x->end_len = d->end.len;
	x->unverified = d->unverified;
	if (x->table == NULL || (d->snapshot && x->snapshot == NULL) ||
	    (x->has_first && x->first == NULL) ||
	    (x->has_end && x->end == NULL)) {
		free(x->table);
		free(x->snapshot);
		free(x->first);
		free(x->end);
		cs->dmg_lost = true;
		return;
	}
	cs->ndmg++;
}

static void damage_release(struct check_state *cs)
{
	for (size_t i = 0; i < cs->ndmg; i++) {
		free(cs->dmg[i].table);
		free(cs->dmg[i].snapshot);
		free(cs->dmg[i].first);
		free(cs->dmg[i].end);
	}
	free(cs->dmg);
	cs->dmg = NULL;
	cs->ndmg = cs->cdmg = 0;
}

static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Whether key lies at or above d's lower bound / below its upper one. */
static bool above_first(const struct damage *d, kv_val key)
{
	return !d->has_first ||
	       bytes_cmp(key.data, key.len, d->first, d->first_len) >= 0;
}

static bool below_end(const struct damage *d, kv_val key)
{
	if (d->single)
		return bytes_cmp(key.data, key.len, d->first, d->first_len) ==
		       0;
	return !d->has_end ||
	       bytes_cmp(key.data, key.len, d->end, d->end_len) < 0;
}

/* The damaged page of live table that key lies below, or NULL. */
static const struct damage *damage_of(const struct check_state *cs,
                                      const char *table, kv_val key)
{
	for (size_t i = 0; i < cs->ndmg; i++) {
		const struct damage *d = &cs->dmg[i];

		if (d->snapshot == NULL && strcmp(d->table, table) == 0 &&
		    above_first(d, key) && below_end(d, key))
			return d;
	}
	return NULL;
}

static bool table_damaged(const struct check_state *cs, const char *table)
{
	for (size_t i = 0; i < cs->ndmg; i++)
		if (cs->dmg[i].snapshot == NULL &&
		    strcmp(cs->dmg[i].table, table) == 0)
			return true;
	return false;
}

/* The first damaged range of live table that ends above bound (NULL: any),
 * which a cursor stepping on from bound meets first. */
static const struct damage *damage_after(const struct check_state *cs,
                                         const char *table, const kv_val *bound)
{
	const struct damage *best = NULL;

	for (size_t i = 0; i < cs->ndmg; i++) {
		const struct damage *d = &cs->dmg[i];

		if (d->snapshot != NULL || strcmp(d->table, table) != 0 ||
		    d->single)
			continue;
		if (bound && d->has_end &&
		    bytes_cmp(d->end, d->end_len, bound->data, bound->len) <= 0)
			continue;
		if (best == NULL || !d->has_first ||
		    (best->has_first &&
		     bytes_cmp(d->first, d->first_len, best->first,
		               best->first_len) < 0))
			best = d;
	}
	return best;
}

/* ---- walking a table -------------------------------------------------- */

/* The largest key met so far, or sought past a damaged page (then a key
 * equal to it comes next in order), which only grows. */
struct bound {
	uint8_t key[KV_MAX_KEY];
	size_t len;
	bool set;
	bool sought;
};

static void bound_raise(struct bound *b, kv_val k, bool sought)
{
	if (k.len > sizeof(b->key))
		return;
	b->sought = false;
	if (b->set && bytes_cmp(k.data, k.len, b->key, b->len) <= 0)
		return;
	memcpy(b->key, k.data, k.len);
	b->len = k.len;
	b->set = true;
	b->sought = sought;
}

/* Whether key k comes out of order after the bound. */
static bool behind(const struct bound *b, kv_val k)
{
	int c;

	if (!b->set)
		return false;
	c = bytes_cmp(k.data, k.len, b->key, b->len);
	return c < 0 || (c == 0 && !b->sought);
}

/* "not checked /prompts/a.yaml", with -v. */
static void say_not_checked(struct check_state *cs, const char *table, kv_val k)
{
	char path[PM_PATH_MAX + 2];

	if (!cs->verbose)
		return;
	if (strcmp(table, PM_TABLE_NODES) == 0) {
		if (pm_node_key_to_path(path, sizeof(path), k.data, k.len) < 0)
			snprintf(path, sizeof(path),
			         "(a node key of %zu bytes)", k.len);
		report(cs, "not checked /%s\n", path);
	} else {
		report(cs, "not checked /%s/%.*s\n", table, (int)k.len,
		       (const char *)k.data);
	}
}

/* A cursor step failed with rc: go on past the damaged page the step ran
 * into (the first beyond the bound), or say where the walk stopped. */
static int step_over(struct check_state *cs, const char *table, kv_cursor *c,
                     struct bound *b, int rc, kv_val *k, kv_val *v)
{
	kv_val at = { b->key, b->len };
	const struct damage *d;

	if (rc != KV_ECORRUPT)
		return rc;
	d = damage_after(cs, table, b->set ? &at : NULL);
	if (d == NULL) {
		report(cs, "%s: entries after \"%.*s\" could not be read: %s\n",
		       table, (int)(b->len < 200 ? b->len : 200),
		       (const char *)b->key, kv_errmsg());
		cs->problems++;
		return KV_ENOTFOUND;
	}
	if (!d->has_end)
		return KV_ENOTFOUND; /* the damage reaches the last key */
	bound_raise(b, (kv_val){ d->end, d->end_len }, true);
	return kv_cursor_seek(c, (kv_val){ d->end, d->end_len }, k, v);
}

static int walk_table(struct check_state *cs, const char *table,
                      int (*fn)(struct check_state *cs, kv_val k, kv_val v,
                                const char *table))
{
	struct bound b = { .set = false, .sought = false };
	bool damaged = table_damaged(cs, table);
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
	rc = kv_cursor_first(c, &k, &v);
	for (;;) {
		while (rc != 0 && rc != KV_ENOTFOUND)
			rc = step_over(cs, table, c, &b, rc, &k, &v);
		if (rc != 0)
			break;
		progress_add(&cs->progress, 1);
		/* below a damaged page, or out of order behind one: what a
		 * damaged page says, not a checked entry */
		if (damage_of(cs, table, k) != NULL ||
		    (damaged && behind(&b, k))) {
			say_not_checked(cs, table, k);
		} else {
			rc = fn(cs, k, v, table);
			if (rc != 0)
				break;
		}
		bound_raise(&b, k, false);
		rc = kv_cursor_next(c, &k, &v);
	}
	kv_cursor_close(c);
	return rc == KV_ENOTFOUND ? 0 : rc;
}

/* Whether the node of path lies below a damaged page (then its absence
 * or its size says nothing). */
static bool node_unverifiable(const struct check_state *cs, const char *path)
{
	char kb[PM_PATH_MAX + 2];
	int n = pm_node_key(kb, sizeof(kb), path);

	return n > 0 &&
	       damage_of(cs, PM_TABLE_NODES, (kv_val){ kb, (size_t)n }) != NULL;
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
	if (node_unverifiable(cs, path))
		return 0;
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
		if (damage_of(cs, loc.table, key) != NULL) {
			/* its content lies below a damaged page */
			if (cs->verbose)
				report(cs, "not checked /%s (content)\n", path);
			node_release(&n);
			return 0;
		}
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

static bool is_record_table(const char *table)
{
	for (int k = 0; k < PM_NKINDS; k++)
		if (strcmp(table, pm_kind_name(k)) == 0)
			return true;
	return false;
}

/* A key of table as text: a node key as its path, other bytes outside
 * printable ASCII as \xNN, at most 200 bytes of it. */
static void key_text(char *buf, size_t n, const char *table, const uint8_t *k,
                     size_t len)
{
	char path[PM_PATH_MAX + 2];
	size_t i, o = 0;

	if (strcmp(table, PM_TABLE_NODES) == 0 &&
	    pm_node_key_to_path(path, sizeof(path), k, len) >= 0) {
		snprintf(buf, n, "\"%.200s\"", path);
		return;
	}
	buf[o++] = '"';
	for (i = 0; i < len && i < 200 && o + 8 < n; i++) {
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\')
			buf[o++] = (char)k[i];
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", k[i]);
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

/* "keys from "a", below "b"" and the like: d's range. */
static void range_text(char *buf, size_t n, const struct damage *d)
{
	char f[1000], e[1000];

	if (d->has_first)
		key_text(f, sizeof(f), d->table, d->first, d->first_len);
	if (d->has_end)
		key_text(e, sizeof(e), d->table, d->end, d->end_len);
	if (d->single)
		snprintf(buf, n, "key %s", f);
	else if (d->has_first && d->has_end)
		snprintf(buf, n, "keys from %s, below %s", f, e);
	else if (d->has_first)
		snprintf(buf, n, "keys from %s on", f);
	else if (d->has_end)
		snprintf(buf, n, "keys below %s", e);
	else
		snprintf(buf, n, "every key");
}

/*
 * One line per table with damaged pages: how many of its entries went
 * unchecked (the count the engine gives from the table's descriptor), in
 * which key ranges.
 */
static void report_unchecked(struct check_state *cs)
{
	for (size_t i = 0; i < cs->ndmg; i++) {
		const struct damage *d = &cs->dmg[i];
		char ranges[2048] = "", one[2100];
		const char *noun = "entries";
		size_t pages = 0, j, len = 0;
		bool first_of_table = true;

		for (j = 0; j < i && first_of_table; j++)
			if (strcmp(cs->dmg[j].table, d->table) == 0 &&
			    (cs->dmg[j].snapshot == NULL) ==
			            (d->snapshot == NULL) &&
			    (d->snapshot == NULL ||
			     strcmp(cs->dmg[j].snapshot, d->snapshot) == 0))
				first_of_table = false;
		if (!first_of_table)
			continue;
		for (j = i; j < cs->ndmg; j++) {
			const struct damage *e = &cs->dmg[j];

			if (strcmp(e->table, d->table) != 0 ||
			    (e->snapshot == NULL) != (d->snapshot == NULL) ||
			    (d->snapshot &&
			     strcmp(e->snapshot, d->snapshot) != 0))
				continue;
			range_text(one, sizeof(one), e);
			if (len + strlen(one) + 3 < sizeof(ranges))
				len += (size_t)snprintf(
				        ranges + len, sizeof(ranges) - len,
				        "%s%s", pages ? "; " : "", one);
			pages++;
		}
		if (is_record_table(d->table))
			noun = d->unverified == 1 ? "record" : "records";
		else if (strcmp(d->table, PM_TABLE_NODES) == 0)
			noun = d->unverified == 1 ? "node" : "nodes";
		else if (d->unverified == 1)
			noun = "entry";
		if (d->snapshot)
			report(cs,
			       "entries under %s in table %s of snapshot %s "
			       "could not be checked (%s)\n",
			       pages == 1 ? "a damaged page" : "damaged pages",
			       d->table, d->snapshot, ranges);
		else if (pages == 1)
			report(cs,
			       "%" PRIu64 " %s under a damaged page in table "
			       "%s could not be checked (%s)\n",
			       d->unverified, noun, d->table, ranges);
		else
			report(cs,
			       "%" PRIu64 " %s under %zu damaged pages in "
			       "table %s could not be checked (%s)\n",
			       d->unverified, noun, pages, d->table, ranges);
		if (d->snapshot == NULL)
			cs->unverified += d->unverified;
		cs->problems++;
	}
}

static int check_store(const char *db, int verbose)
{
	struct check_state cs = { .verbose = verbose };
	struct kv_check_hooks hooks = { .problem = kv_problem,
		                        .damage = note_damage,
		                        .ctx = &cs };
	struct kv_check_report rep;
	kv_env *env;
	struct stx s;
	uint64_t n;
	int rc;

	if (cli_open(db, CLI_OPEN_CHECK, &env) != 0)
		return 1;
	/* kv's own code and detail for the message (stx_begin() maps
	 * them to an errno) */
	memset(&s, 0, sizeof(s));
	rc = kv_txn_begin(env, KV_TXN_RDONLY, &s.txn);
	if (rc != 0) {
		cli_fail(db, "check failed", rc);
		kv_env_close(env);
		return 1;
	}
	cs.s = &s;
	memset(&rep, 0, sizeof(rep));
	rc = kv_txn_check(s.txn, &hooks, &rep);
	if (rc != 0 && rc != KV_ECORRUPT) {
		cli_fail(db, "check failed", rc);
		stx_abort(&s);
		damage_release(&cs);
		kv_env_close(env);
		return 1;
	}
	if (rc == KV_ECORRUPT && cs.problems == 0)
		cs.problems = rep.problems ? rep.problems : 1;
	if (cs.dmg_lost) {
		report(&cs, "out of memory for the damaged pages' keys: the "
		            "records were not checked\n");
		cs.problems++;
	}
	rc = 0;
	if (!verbose)
		progress_start(&cs.progress, "checking", count_entries(&s));
	for (int k = 0; k < PM_NKINDS && rc == 0 && !cs.dmg_lost; k++)
		rc = walk_table(&cs, pm_kind_name(k), check_record);
	if (rc == 0 && !cs.dmg_lost)
		rc = walk_table(&cs, PM_TABLE_NODES, check_node);
	progress_end(&cs.progress);
	if (rc == 0)
		rc = hist_verify(&s, history_problem, &cs, &n);
	if (rc == -EIO && cs.ndmg > 0) {
		/* stopped on a damaged page, which is reported already */
		report(&cs, "history: not checked past a damaged page\n");
		cs.problems++;
		rc = 0;
	}
	report_unchecked(&cs);
	stx_abort(&s);
	damage_release(&cs);
	kv_env_close(env);
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: %s\n", db, kv_strerror(rc));
		return 1;
	}
	printf("%s: %" PRIu64 " pages, %" PRIu64 " entries, %" PRIu64
	       " nodes, %" PRIu64 " records, ",
	       db, rep.pages_total, rep.entries, cs.nodes, cs.records);
	if (cs.unverified)
		printf("%" PRIu64 " entries not checked, ", cs.unverified);
	printf("%" PRIu64 " problems\n", cs.problems);
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
