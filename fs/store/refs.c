/*
 * refs: references between records, and their index.  See refs.h.
 */
#include "refs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "bytes.h"
#include "clock.h"
#include "pathmap.h"
#include "wbuf.h"
#include "yaml_check.h"

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

/* libyaml counts marks in characters: the byte offset of character
 * index idx, walking on from the last answer (marks only grow). */
static size_t byte_of(struct refs_walk *w, size_t idx)
{
	while (w->ci < idx && w->bi < w->len) {
		unsigned char b = w->text[w->bi];

		w->bi += b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
		w->ci++;
	}
	return w->bi < w->len ? w->bi : w->len;
}

/* A node just ended in frame f: a key, then a value, alternate. */
static void node_done(struct refs_frame *f)
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

void refs_walk_init(struct refs_walk *w, const char *text, size_t len,
                    int (*fn)(void *ctx, const struct ref *r), void *ctx)
{
	w->depth = 0;
	w->docs = 0;
	w->done = false;
	w->text = (const unsigned char *)text;
	w->len = len;
	w->ci = 0;
	w->bi = 0;
	w->fn = fn;
	w->ctx = ctx;
}

static void walk_open(struct refs_walk *w, bool map)
{
	struct refs_frame *top = w->depth ? &w->st[w->depth - 1] : NULL;
	int role = R_OTHER;

	if (top == NULL && map)
		role = R_ROOT;
	else if (top && top->role == R_ROOT && !top->want_key && !map &&
	         top->key != R_OTHER)
		role = top->key;
	else if (top && top->role == R_STEPS && map)
		role = R_STEP;
	w->st[w->depth].role = role;
	w->st[w->depth].map = map;
	w->st[w->depth].want_key = true;
	w->st[w->depth].key = R_OTHER;
	w->depth++;
}

static int walk_scalar(struct refs_walk *w, const yaml_event_t *ev)
{
	struct refs_frame *top = &w->st[w->depth - 1];
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	int kind = -1, rc = 0;

	if (top->map && top->want_key) {
		top->key = key_role(v, n, top->role == R_ROOT);
	} else if (top->role == R_AGENTS || top->role == R_PROMPTS) {
		kind = top->role;
	} else if (top->role == R_STEP && top->key != R_OTHER) {
		kind = top->key;
	}
	if (kind >= 0 && n > 0) {
		struct ref r;

		r.kind = kind == R_AGENTS ? REF_AGENT : REF_PROMPT;
		r.name = v;
		r.len = n;
		r.line = ev->start_mark.line + 1;
		r.column = ev->start_mark.column + 1;
		r.start = byte_of(w, ev->start_mark.index);
		r.end = byte_of(w, ev->end_mark.index);
		rc = w->fn(w->ctx, &r);
	}
	if (top->map && top->want_key)
		top->want_key = false;
	else
		node_done(top);
	return rc;
}

int refs_walk_event(struct refs_walk *w, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		w->done = true;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		w->done = w->docs++ > 0; /* the first document only */
		return 0;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (w->depth == REFS_MAX_FRAMES)
			w->done = true;
		else
			walk_open(w, ev->type == YAML_MAPPING_START_EVENT);
		return 0;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (w->depth > 0)
			w->depth--;
		if (w->depth > 0)
			node_done(&w->st[w->depth - 1]);
		return 0;
	case YAML_SCALAR_EVENT:
		return w->depth > 0 ? walk_scalar(w, ev) : 0;
	case YAML_ALIAS_EVENT:
		if (w->depth > 0)
			node_done(&w->st[w->depth - 1]);
		return 0;
	default:
		return 0;
	}
}

int refs_each(const char *text, size_t len,
              int (*fn)(void *ctx, const struct ref *r), void *ctx)
{
	struct refs_walk w;
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = 0;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	refs_walk_init(&w, text, len, fn, ctx);
	while (!w.done && rc == 0) {
		if (!yaml_parser_parse(&p, &ev))
			break; /* not YAML: no references */
		rc = refs_walk_event(&w, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

/* ---- a set kept from one parse -------------------------------------------- */

static int set_add(void *ctx, const struct ref *r)
{
	struct ref_set *rs = ctx;
	char *name;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 8;
		struct ref *v = realloc(rs->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	name = malloc(r->len ? r->len : 1);
	if (name == NULL)
		return -ENOMEM;
	memcpy(name, r->name, r->len);
	rs->v[rs->n] = *r;
	rs->v[rs->n++].name = name;
	return 0;
}

void ref_set_init(struct ref_set *rs, const void *text, size_t len)
{
	memset(rs, 0, sizeof(*rs));
	rs->text = text;
	rs->len = len;
	refs_walk_init(&rs->walk, text, len, set_add, rs);
}

int ref_set_event(void *ctx, const yaml_event_t *ev)
{
	struct ref_set *rs = ctx;

	if (rs->walk.done || rs->failed)
		return 1;
	if (refs_walk_event(&rs->walk, ev) != 0)
		rs->failed = true;
	return rs->walk.done || rs->failed;
}

bool ref_set_usable(const struct ref_set *rs, const void *text, size_t len)
{
	/* a parse that stopped short (the text is no YAML) saw no end */
	return rs != NULL && !rs->failed && rs->walk.done && rs->text == text &&
	       rs->len == len;
}

void ref_set_release(struct ref_set *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free((void *)rs->v[i].name);
	free(rs->v);
	rs->v = NULL;
	rs->n = rs->cap = 0;
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
	bool kept; /* refs_update: the replaced text had it too */
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
	ts->v[ts->n].kept = false;
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

/* ---- the references of recent texts -------------------------------------- */

/*
 * A save replaces the text an earlier save made, whose references are
 * what the index must drop: the last RECENT_MAX texts refs_update() saw
 * (each of at most RECENT_TEXT_MAX bytes) are kept with their references
 * and found again by comparing bytes, so an old text is parsed again only
 * when it came from elsewhere (another process, an earlier mount) or was
 * pushed out.  Round robin; a lock of its own, though the callers are
 * write transactions, one at a time.
 */
#define RECENT_MAX 256
#define RECENT_TEXT_MAX (16u * 1024)

static struct recent {
	void *text; /* a copy; NULL: a free slot */
	size_t len;
	struct ref_set set;
} recent[RECENT_MAX];
static size_t recent_next;
static pthread_mutex_t recent_lock = PTHREAD_MUTEX_INITIALIZER;

/* With the lock held: the slot holding text, or NULL. */
static struct recent *recent_find(const void *text, size_t len)
{
	for (size_t i = 0; i < RECENT_MAX; i++)
		if (recent[i].text && recent[i].len == len &&
		    memcmp(recent[i].text, text, len) == 0)
			return &recent[i];
	return NULL;
}

/* With the lock held: keep text with the references in *set, which is
 * taken over (left empty).  Nothing is kept when a copy fails. */
static void recent_keep(const void *text, size_t len, struct ref_set *set)
{
	struct recent *r = &recent[recent_next];
	void *copy = len <= RECENT_TEXT_MAX ? malloc(len ? len : 1) : NULL;

	if (copy == NULL)
		return;
	memcpy(copy, text, len);
	free(r->text);
	ref_set_release(&r->set);
	r->text = copy;
	r->len = len;
	r->set = *set;
	memset(set, 0, sizeof(*set));
	recent_next = (recent_next + 1) % RECENT_MAX;
}

/* A copy of a set's references, names and all. */
static int set_copy(struct ref_set *to, const struct ref_set *from)
{
	ref_set_init(to, from->text, from->len);
	for (size_t i = 0; i < from->n; i++) {
		int rc = set_add(to, &from->v[i]);

		if (rc != 0) {
			ref_set_release(to);
			return rc;
		}
	}
	return 0;
}

/*
 * The targets of text into ts: from given (the references its validation
 * found, when usable), from a recent text with these bytes, or from a
 * parse; the text is then kept among the recent ones.
 */
static int targets_of(const void *text, size_t len, const struct ref_set *given,
                      struct targets *ts)
{
	struct ref_set rs;
	struct recent *r;
	int rc = 0;

	pthread_mutex_lock(&recent_lock);
	r = recent_find(text, len);
	if (r != NULL) {
		for (size_t i = 0; i < r->set.n && rc == 0; i++)
			rc = add_target(ts, &r->set.v[i]);
		pthread_mutex_unlock(&recent_lock);
		return rc;
	}
	pthread_mutex_unlock(&recent_lock);
	if (ref_set_usable(given, text, len)) {
		rc = set_copy(&rs, given);
	} else {
		ref_set_init(&rs, text, len);
		rc = refs_each(text, len, set_add, &rs);
	}
	for (size_t i = 0; i < rs.n && rc == 0; i++)
		rc = add_target(ts, &rs.v[i]);
	if (rc == 0) {
		pthread_mutex_lock(&recent_lock);
		if (recent_find(text, len) == NULL)
			recent_keep(text, len, &rs);
		pthread_mutex_unlock(&recent_lock);
	}
	ref_set_release(&rs);
	return rc;
}

static bool holds(struct stx *s, kv_table *t, kv_val k, kv_val v)
{
	kv_val got;

	return kv_get(s->txn, t, k, &got) == 0 && got.len == v.len &&
	       memcmp(got.data, v.data, v.len) == 0;
}

int refs_update(struct stx *s, const char *path, const void *old,
                size_t old_len, const void *new, size_t new_len)
{
	struct targets was = { .s = s }, now = { .s = s };
	char key[2 * PM_PATH_MAX + 2];
	kv_table *t;
	int rc = 0;

	if (old)
		rc = targets_of(old, old_len, NULL, &was);
	if (rc == 0 && new)
		rc = targets_of(new, new_len, s->refs_new, &now);
	if (rc == 0 && (was.n || now.n))
		rc = stx_table(s, REFS_TABLE, &t);
	/* gone: in was, not in now; kept: in both, already in the table */
	for (size_t i = 0; i < was.n && rc == 0; i++) {
		bool kept = false;

		for (size_t j = 0; j < now.n && !kept; j++)
			if (strcmp(was.v[i].path, now.v[j].path) == 0 &&
			    was.v[i].count == now.v[j].count)
				kept = now.v[j].kept = true;
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
		/* a reference the text had and the table holds: a put would
		 * copy the table's path for nothing */
		if (now.v[j].kept && holds(s, t, k, v))
			continue;
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

/* ---- renaming with the references ----------------------------------------- */

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
static int rewrite_record(struct stx *s, const char *path, const char *old,
                          const char *new_name, unsigned *n,
                          struct refs_move *res)
{
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
	    yaml_check(rw.out.data, rw.out.len, res->msg, sizeof(res->msg)) !=
	            0) {
		snprintf(res->bad, sizeof(res->bad), "%s", path);
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

int refs_move(struct stx *s, const char *old, const char *new,
              struct refs_move *res)
{
	char oname[PM_PATH_MAX + 1], nname[PM_PATH_MAX + 1],
	        parent[PM_PATH_MAX + 1];
	struct sources ss = { 0 };
	struct subtree t = { 0 };
	struct node n;
	int ok, nk, rc;
	bool rewrite;

	memset(res, 0, sizeof(*res));
	rc = store_node_get(s, old, &n);
	if (rc == 0 && !S_ISREG(n.mode))
		rc = -EISDIR;
	if (rc == 0)
		node_release(&n);
	if (rc == 0 && store_node_get(s, new, &n) == 0) {
		node_release(&n);
		rc = -EEXIST;
	}
	memcpy(parent, new, pm_parent_len(new));
	parent[pm_parent_len(new)] = '\0';
	if (rc == 0 && store_node_get(s, parent, &n) == 0)
		node_release(&n);
	else if (rc == 0)
		rc = -ENOTDIR;
	rewrite = ref_name(old, oname, sizeof(oname), &ok) == 0 &&
	          ref_name(new, nname, sizeof(nname), &nk) == 0 && ok == nk;
	if (rc == 0)
		rc = refs_to(s, old, add_source, &ss);
	res->dangling = !rewrite && ss.n > 0;
	for (size_t i = 0; i < ss.n && rc == 0 && rewrite; i++) {
		unsigned n1;

		rc = rewrite_record(s, ss.v[i], old, nname, &n1, res);
		res->refs += n1;
		res->records += n1 > 0;
	}
	if (rc == 0)
		rc = store_subtree_load(s, old, &t);
	if (rc == 0)
		rc = store_subtree_move(s, old, new, &t, 0);
	if (rc == 0)
		rc = store_touch_parents(s, old, new, clock_real_ns());
	subtree_release(&t);
	for (size_t i = 0; i < ss.n; i++)
		free(ss.v[i]);
	free(ss.v);
	return rc;
}
