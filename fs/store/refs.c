/*
 * refs: references between records, and their index.  See refs.h.
 */
#include "refs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "bytes.h"
#include "pathmap.h"

/* ---- finding references in a text ------------------------------------ */

/* What a collection is, for the references it may hold. */
enum role {
	R_ROOT,    /* the document's top mapping */
	R_AGENTS,  /* the sequence of agents: */
	R_PROMPTS, /* the sequence of prompts: */
	R_STEPS,   /* the sequence of steps: */
	R_STEP,    /* a mapping in steps: */
	R_OTHER,
};

struct frame {
	enum role role;
	bool map, want_key; /* a mapping, waiting for a key (not a value) */
	int key;            /* the last key read: a role, or R_OTHER */
};

#define MAX_FRAMES 80

/* libyaml counts marks in characters: the byte offset of character
 * index idx, walking on from the last answer (marks only grow). */
struct chars {
	const unsigned char *text;
	size_t len, ci, bi;
};

static size_t byte_of(struct chars *c, size_t idx)
{
	while (c->ci < idx && c->bi < c->len) {
		unsigned char b = c->text[c->bi];

		c->bi += b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
		c->ci++;
	}
	return c->bi < c->len ? c->bi : c->len;
}

/* A node just ended in frame f: a key, then a value, alternate. */
static void node_done(struct frame *f)
{
	if (f->map) {
		if (!f->want_key)
			f->key = R_OTHER;
		f->want_key = !f->want_key;
	}
}

static int key_role(const char *s, size_t n, bool root)
{
	if (root && n == 6 && memcmp(s, "agents", 6) == 0)
		return R_AGENTS;
	if (root && n == 7 && memcmp(s, "prompts", 7) == 0)
		return R_PROMPTS;
	if (root && n == 5 && memcmp(s, "steps", 5) == 0)
		return R_STEPS;
	if (!root && n == 5 && memcmp(s, "agent", 5) == 0)
		return R_AGENTS;
	if (!root && n == 6 && memcmp(s, "prompt", 6) == 0)
		return R_PROMPTS;
	return R_OTHER;
}

int refs_each(const char *text, size_t len,
              int (*fn)(void *ctx, const struct ref *r), void *ctx)
{
	struct frame st[MAX_FRAMES];
	struct chars ch = { (const unsigned char *)text, len, 0, 0 };
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0, docs = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		struct frame *top = depth ? &st[depth - 1] : NULL;

		if (!yaml_parser_parse(&p, &ev))
			break; /* not YAML: no references */
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			done = docs++ > 0; /* the first document only */
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT: {
			bool map = ev.type == YAML_MAPPING_START_EVENT;
			enum role role = R_OTHER;

			if (depth == MAX_FRAMES) {
				done = true;
				break;
			}
			if (top == NULL && map)
				role = R_ROOT;
			else if (top && top->role == R_ROOT && !top->want_key &&
			         !map && top->key != R_OTHER)
				role = (enum role)top->key;
			else if (top && top->role == R_STEPS && map)
				role = R_STEP;
			st[depth].role = role;
			st[depth].map = map;
			st[depth].want_key = true;
			st[depth].key = R_OTHER;
			depth++;
			break;
		}
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			if (depth > 0)
				node_done(&st[depth - 1]);
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;
			size_t n = ev.data.scalar.length;
			int kind = -1;

			if (top == NULL)
				break;
			if (top->map && top->want_key) {
				top->key = key_role(v, n, top->role == R_ROOT);
			} else if (top->role == R_AGENTS ||
			           top->role == R_PROMPTS) {
				kind = top->role;
			} else if (top->role == R_STEP && top->key != R_OTHER) {
				kind = top->key;
			}
			if (kind >= 0 && n > 0) {
				struct ref r;

				r.kind = kind == R_AGENTS ? REF_AGENT
				                          : REF_PROMPT;
				r.name = v;
				r.len = n;
				r.line = ev.start_mark.line + 1;
				r.column = ev.start_mark.column + 1;
				r.start = byte_of(&ch, ev.start_mark.index);
				r.end = byte_of(&ch, ev.end_mark.index);
				rc = fn(ctx, &r);
			}
			if (top->map && top->want_key)
				top->want_key = false;
			else
				node_done(top);
			break;
		}
		case YAML_ALIAS_EVENT:
			if (top)
				node_done(top);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

int refs_target(const struct ref *r, char *buf, size_t n,
                bool (*exists)(void *ctx, const char *path), void *ctx)
{
	const char *kind = r->kind == REF_AGENT ? "agents" : "prompts";
	size_t kl = strlen(kind);
	char name[PM_NAME_MAX + 1];

	if (r->len == 0 || kl + 1 + r->len + 5 > PM_PATH_MAX ||
	    kl + 1 + r->len + 6 > n || memchr(r->name, '\0', r->len))
		return -EINVAL;
	/* agents are named, prompts may sit in folders */
	if (r->kind == REF_AGENT && memchr(r->name, '/', r->len))
		return -EINVAL;
	for (size_t i = 0, s = 0; i <= r->len; i++) {
		if (i < r->len && r->name[i] != '/')
			continue;
		if (i - s == 0 || i - s > PM_NAME_MAX)
			return -EINVAL;
		memcpy(name, r->name + s, i - s);
		name[i - s] = '\0';
		if (pm_check_name(name) != 0)
			return -EINVAL;
		s = i + 1;
	}
	memcpy(buf, kind, kl);
	buf[kl] = '/';
	memcpy(buf + kl + 1, r->name, r->len);
	memcpy(buf + kl + 1 + r->len, ".yaml", 6);
	if (exists && !exists(ctx, buf)) {
		memcpy(buf + kl + 1 + r->len, ".yml", 5);
		if (!exists(ctx, buf))
			memcpy(buf + kl + 1 + r->len, ".yaml", 6);
	}
	return 0;
}

/* ---- the index --------------------------------------------------------- */

/* The targets of one text: sorted, each with its count. */
struct target {
	char path[PM_PATH_MAX + 1];
	uint32_t count;
};

struct targets {
	struct stx *s;
	struct target *v;
	size_t n, cap;
};

static bool node_exists(void *ctx, const char *path)
{
	struct node n;

	if (store_node_get(ctx, path, &n) != 0)
		return false;
	node_release(&n);
	return true;
}

static int add_target(void *ctx, const struct ref *r)
{
	struct targets *ts = ctx;
	char path[PM_PATH_MAX + 1];

	if (refs_target(r, path, sizeof(path), node_exists, ts->s) != 0)
		return 0; /* a name that can name nothing: not indexed */
	for (size_t i = 0; i < ts->n; i++) {
		if (strcmp(ts->v[i].path, path) == 0) {
			ts->v[i].count++;
			return 0;
		}
	}
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? 2 * ts->cap : 8;
		struct target *v = realloc(ts->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		ts->v = v;
		ts->cap = cap;
	}
	strcpy(ts->v[ts->n].path, path);
	ts->v[ts->n++].count = 1;
	return 0;
}

static int key_of(char *key, const char *target, const char *source)
{
	size_t tl = strlen(target), sl = strlen(source);

	memcpy(key, target, tl);
	key[tl] = '\0';
	memcpy(key + tl + 1, source, sl);
	return (int)(tl + 1 + sl);
}

int refs_update(struct stx *s, const char *path, const void *old,
                size_t old_len, const void *new, size_t new_len)
{
	struct targets was = { .s = s }, now = { .s = s };
	char key[2 * PM_PATH_MAX + 2];
	kv_table *t;
	int rc = 0;

	if (old)
		rc = refs_each(old, old_len, add_target, &was);
	if (rc == 0 && new)
		rc = refs_each(new, new_len, add_target, &now);
	if (rc == 0 && (was.n || now.n))
		rc = stx_table(s, REFS_TABLE, &t);
	/* gone: in was, not in now */
	for (size_t i = 0; i < was.n && rc == 0; i++) {
		bool kept = false;

		for (size_t j = 0; j < now.n && !kept; j++)
			kept = strcmp(was.v[i].path, now.v[j].path) == 0 &&
			       was.v[i].count == now.v[j].count;
		if (!kept) {
			kv_val k = { key,
				     (size_t)key_of(key, was.v[i].path, path) };

			rc = kv_to_errno(kv_del(s->txn, t, k));
			if (rc == -ENOENT)
				rc = 0;
		}
	}
	for (size_t j = 0; j < now.n && rc == 0; j++) {
		unsigned char val[4];
		kv_val k = { key, (size_t)key_of(key, now.v[j].path, path) },
		       v = { val, sizeof(val) };

		put32(val, now.v[j].count);
		rc = kv_to_errno(kv_put(s->txn, t, k, v, 0));
	}
	free(was.v);
	free(now.v);
	return rc;
}

struct to {
	size_t tl;
	int (*fn)(void *ctx, const char *source, uint32_t count);
	void *ctx;
};

static int to_one(void *ctx, kv_val key, kv_val val)
{
	struct to *t = ctx;
	char source[PM_PATH_MAX + 1];
	size_t sl = key.len - t->tl;

	if (sl == 0 || sl > PM_PATH_MAX || val.len != 4)
		return -EIO;
	memcpy(source, (const char *)key.data + t->tl, sl);
	source[sl] = '\0';
	return t->fn(t->ctx, source, get32(val.data));
}

int refs_to(struct stx *s, const char *target,
            int (*fn)(void *ctx, const char *source, uint32_t count), void *ctx)
{
	char prefix[PM_PATH_MAX + 1];
	size_t tl = strlen(target);
	struct to t = { tl + 1, fn, ctx };

	if (tl > PM_PATH_MAX - 1)
		return -ENAMETOOLONG;
	memcpy(prefix, target, tl);
	prefix[tl] = '\0';
	return store_scan(s, REFS_TABLE, prefix, tl + 1, to_one, &t);
}

/* ---- dangling references ----------------------------------------------- */

struct dangling {
	struct stx *s;
	char *msg; /* n bytes, at least 4 */
	size_t n, used;
	uint64_t count;
	bool cut;
};

static bool record_exists(void *ctx, const char *path)
{
	struct node n;
	bool yes;

	if (store_node_get(ctx, path, &n) != 0)
		return false;
	yes = S_ISREG(n.mode) && pm_is_record_name(pm_basename(path));
	node_release(&n);
	return yes;
}

static void append(struct dangling *d, const char *s, size_t len)
{
	for (size_t i = 0; i < len && !d->cut; i++) {
		unsigned char c = (unsigned char)s[i];

		if (d->used + 4 >= d->n) { /* room for "..." and the NUL */
			memcpy(d->msg + d->used, "...", 3);
			d->used += 3;
			d->cut = true;
			break;
		}
		d->msg[d->used++] = c < ' ' || c == 0x7f ? '?' : (char)c;
	}
	d->msg[d->used] = '\0';
}

static int note_dangling(void *ctx, const struct ref *r)
{
	struct dangling *d = ctx;
	char target[PM_PATH_MAX + 1], head[96];
	int hl;

	if (refs_target(r, target, sizeof(target), record_exists, d->s) == 0 &&
	    record_exists(d->s, target))
		return 0;
	hl = snprintf(head, sizeof(head), "%sline %zu, column %zu: %s '",
	              d->count ? "; " : "", r->line, r->column,
	              r->kind == REF_AGENT ? "agent" : "prompt");
	d->count++;
	append(d, head, (size_t)hl);
	append(d, r->name, r->len > 64 ? 64 : r->len);
	append(d, "' does not exist", 16);
	return 0;
}

int refs_dangling(struct stx *s, const char *text, size_t len, char *msg,
                  size_t n, uint64_t *count)
{
	struct dangling d = { s, msg, n, 0, 0, false };
	int rc;

	if (n < 4)
		return -EINVAL;
	msg[0] = '\0';
	rc = refs_each(text, len, note_dangling, &d);
	*count = d.count;
	return rc;
}
