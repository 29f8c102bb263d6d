/*
 * labels: versions pinned by name, and the .labels view.  See labels.h.
 */
#include "labels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "clock.h"
#include "history.h"
#include "pathmap.h"

#define LABEL_MAGIC 0x314c4843u /* "CHL1" */
#define LABEL_VAL 32u
#define EVENT_VAL 16u
#define LABELDIR_LEN (sizeof(LABELDIR) - 1)

/* NAME "\0" PATH into key (at least 2 * PM_PATH_MAX + 2 bytes). */
static size_t label_key(unsigned char *key, const char *name, const char *path)
{
	size_t nl = strlen(name), pl = path ? strlen(path) : 0;

	memcpy(key, name, nl);
	key[nl] = '\0';
	if (pl)
		memcpy(key + nl + 1, path, pl);
	return nl + 1 + pl;
}

static int event_put(struct stx *s, kv_table *t, const char *name,
                     const char *path, uint64_t v, int64_t now)
{
	unsigned char key[9 + PM_NAME_MAX + 1 + PM_PATH_MAX], val[EVENT_VAL];
	kv_val k = { key, 0 }, vv = { val, sizeof(val) };

	key[0] = '\0';
	put64be(key + 1, kv_txn_id(s->txn));
	k.len = 9 + label_key(key + 9, name, path);
	put64(val, v);
	put64(val + 8, (uint64_t)now);
	return kv_to_errno(kv_put(s->txn, t, k, vv, 0));
}

static int label_put(struct stx *s, kv_table *t, const char *name,
                     const char *path, uint64_t rid, uint64_t v, int64_t now)
{
	unsigned char key[PM_NAME_MAX + 1 + PM_PATH_MAX], val[LABEL_VAL];
	kv_val k = { key, label_key(key, name, path) },
	       vv = { val, sizeof(val) };
	int rc;

	put32(val, LABEL_MAGIC);
	put32(val + 4, 0);
	put64(val + 8, rid);
	put64(val + 16, v);
	put64(val + 24, (uint64_t)now);
	rc = kv_to_errno(kv_put(s->txn, t, k, vv, 0));
	return rc == 0 ? event_put(s, t, name, path, v, now) : rc;
}

int label_set(struct stx *s, const char *name, const char *path, uint64_t v,
              uint64_t *set)
{
	struct hist_item it;
	uint64_t rid, live;
	kv_table *t;
	void *data;
	size_t len;
	int rc = pm_check_name(name);

	if (rc != 0)
		return -EINVAL;
	rc = hist_ensure(s, path, &rid, &live);
	if (rc == 0 && v == 0)
		v = live;
	if (rc == 0 && v == 0)
		rc = -ENOENT; /* deleted: no live version */
	if (rc == 0)
		rc = hist_get(s, path, v, &it, &data, &len);
	if (rc != 0)
		return rc;
	free(data);
	rc = stx_table(s, LABELS_TABLE, &t);
	if (rc == 0)
		rc = label_put(s, t, name, path, rid, v, clock_real_ns());
	if (rc == 0)
		*set = v;
	return rc;
}

struct collect {
	unsigned char (*keys)[PM_NAME_MAX + 1 + PM_PATH_MAX];
	size_t *lens;
	size_t n, cap;
};

static int collect_add(struct collect *c, kv_val key)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		void *k = realloc(c->keys, cap * sizeof(*c->keys));

		if (k == NULL)
			return -ENOMEM;
		c->keys = k;
		k = realloc(c->lens, cap * sizeof(*c->lens));
		if (k == NULL)
			return -ENOMEM;
		c->lens = k;
		c->cap = cap;
	}
	memcpy(c->keys[c->n], key.data, key.len);
	c->lens[c->n++] = key.len;
	return 0;
}

static int collect_one(void *ctx, kv_val key, kv_val val)
{
	(void)val;
	if (key.len > PM_NAME_MAX + 1 + PM_PATH_MAX)
		return -EIO;
	return collect_add(ctx, key);
}

int label_rm(struct stx *s, const char *name, const char *path, uint64_t *n)
{
	unsigned char prefix[PM_NAME_MAX + 1 + PM_PATH_MAX];
	struct collect c = { 0 };
	size_t plen;
	kv_table *t;
	int rc = pm_check_name(name);

	*n = 0;
	if (rc != 0)
		return -EINVAL;
	plen = label_key(prefix, name, path);
	rc = store_scan(s, LABELS_TABLE, prefix, plen, collect_one, &c);
	if (rc == 0)
		rc = stx_table(s, LABELS_TABLE, &t);
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		kv_val k = { c.keys[i], c.lens[i] };
		const char *p = (const char *)c.keys[i] + strlen(name) + 1;
		char pb[PM_PATH_MAX + 1];
		size_t pl = c.lens[i] - strlen(name) - 1;

		/* with a path: that one only, not those below a folder */
		if (path && pl != strlen(path))
			continue;
		memcpy(pb, p, pl);
		pb[pl] = '\0';
		rc = kv_to_errno(kv_del(s->txn, t, k));
		if (rc == 0)
			rc = event_put(s, t, name, pb, 0, clock_real_ns());
		if (rc == 0)
			(*n)++;
	}
	free(c.keys);
	free(c.lens);
	if (rc == 0 && *n == 0)
		rc = -ENOENT;
	return rc;
}

struct each {
	int (*fn)(void *ctx, const struct label *l);
	void *ctx;
};

static int decode(kv_val key, kv_val val, struct label *l, char *name,
                  char *path)
{
	const unsigned char *v = val.data;
	const char *k = key.data, *z = memchr(k, '\0', key.len);
	size_t nl, pl;

	if (z == NULL || val.len != LABEL_VAL || get32(v) != LABEL_MAGIC)
		return -EIO;
	nl = (size_t)(z - k);
	pl = key.len - nl - 1;
	if (nl == 0 || nl > PM_NAME_MAX || pl == 0 || pl > PM_PATH_MAX)
		return -EIO;
	memcpy(name, k, nl);
	name[nl] = '\0';
	memcpy(path, z + 1, pl);
	path[pl] = '\0';
	l->name = name;
	l->path = path;
	l->rid = get64(v + 8);
	l->version = get64(v + 16);
	l->time = (int64_t)get64(v + 24);
	return 0;
}

static int each_one(void *ctx, kv_val key, kv_val val)
{
	struct each *e = ctx;
	char name[PM_NAME_MAX + 1], path[PM_PATH_MAX + 1];
	struct label l;
	int rc;

	if (key.len > 0 && *(const char *)key.data == '\0')
		return 0; /* an event */
	rc = decode(key, val, &l, name, path);
	return rc != 0 ? rc : e->fn(e->ctx, &l);
}

int label_each(struct stx *s, const char *name,
               int (*fn)(void *ctx, const struct label *l), void *ctx)
{
	unsigned char prefix[PM_NAME_MAX + 1];
	struct each e = { fn, ctx };

	if (name == NULL)
		return store_scan(s, LABELS_TABLE, NULL, 0, each_one, &e);
	if (pm_check_name(name) != 0)
		return -ENOENT;
	return store_scan(s, LABELS_TABLE, prefix,
	                  label_key(prefix, name, NULL), each_one, &e);
}

struct events {
	int (*fn)(void *ctx, uint64_t txnid, const struct label *l);
	void *ctx;
};

static int event_one(void *ctx, kv_val key, kv_val val)
{
	struct events *ev = ctx;
	char name[PM_NAME_MAX + 1], path[PM_PATH_MAX + 1];
	const unsigned char *k = key.data;
	const char *z;
	struct label l;
	size_t nl, pl;

	if (key.len < 11 || val.len != EVENT_VAL)
		return -EIO;
	z = memchr(k + 9, '\0', key.len - 9);
	if (z == NULL)
		return -EIO;
	nl = (size_t)(z - (const char *)(k + 9));
	pl = key.len - 9 - nl - 1;
	if (nl == 0 || nl > PM_NAME_MAX || pl > PM_PATH_MAX)
		return -EIO;
	memcpy(name, k + 9, nl);
	name[nl] = '\0';
	memcpy(path, z + 1, pl);
	path[pl] = '\0';
	memset(&l, 0, sizeof(l));
	l.name = name;
	l.path = path;
	l.version = get64(val.data);
	l.time = (int64_t)get64((const unsigned char *)val.data + 8);
	return ev->fn(ev->ctx, get64be(k + 1), &l);
}

int label_events(struct stx *s,
                 int (*fn)(void *ctx, uint64_t txnid, const struct label *l),
                 void *ctx)
{
	struct events ev = { fn, ctx };

	return store_scan(s, LABELS_TABLE, "", 1, event_one, &ev);
}

/* The labels on one path: their keys and values, copied. */
struct moved {
	const char *from;
	struct collect c;
	struct label *l;
	size_t n, cap;
	char (*names)[PM_NAME_MAX + 1];
};

static int moved_one(void *ctx, const struct label *l)
{
	struct moved *m = ctx;

	if (strcmp(l->path, m->from) != 0)
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		void *p = realloc(m->l, cap * sizeof(*m->l));

		if (p == NULL)
			return -ENOMEM;
		m->l = p;
		p = realloc(m->names, cap * sizeof(*m->names));
		if (p == NULL)
			return -ENOMEM;
		m->names = p;
		m->cap = cap;
	}
	m->l[m->n] = *l;
	strcpy(m->names[m->n], l->name);
	m->l[m->n].name = m->names[m->n];
	m->n++;
	return 0;
}

int label_moved(struct stx *s, const char *from, const char *to)
{
	unsigned char key[PM_NAME_MAX + 1 + PM_PATH_MAX];
	struct moved m = { .from = from };
	kv_table *t;
	int rc = stx_table(s, LABELS_TABLE, &t);

	/* labels are few: a walk of them all costs less than an index */
	if (rc == 0 && kv_table_count(t) > 0)
		rc = label_each(s, NULL, moved_one, &m);
	for (size_t i = 0; i < m.n && rc == 0; i++) {
		kv_val k = { key, label_key(key, m.l[i].name, from) };
		unsigned char val[LABEL_VAL];
		kv_val vv = { val, sizeof(val) };

		rc = kv_to_errno(kv_del(s->txn, t, k));
		put32(val, LABEL_MAGIC);
		put32(val + 4, 0);
		put64(val + 8, m.l[i].rid);
		put64(val + 16, m.l[i].version);
		put64(val + 24, (uint64_t)m.l[i].time);
		k.len = label_key(key, m.l[i].name, to);
		if (rc == 0)
			rc = kv_to_errno(kv_put(s->txn, t, k, vv, 0));
	}
	free(m.l);
	free(m.names);
	return rc;
}

/* ---- the .labels view ---------------------------------------------------- */

bool lv_is(const char *path, const char **rest)
{
	if (strncmp(path, LABELDIR, LABELDIR_LEN) != 0)
		return false;
	if (path[LABELDIR_LEN] == '\0') {
		if (rest)
			*rest = NULL;
		return true;
	}
	if (path[LABELDIR_LEN] != '/' || path[LABELDIR_LEN + 1] == '\0')
		return false;
	if (rest)
		*rest = path + LABELDIR_LEN + 1;
	return true;
}

int lv_join(char *buf, size_t n, const char *parent, const char *name)
{
	size_t pl = strlen(parent), nl = strlen(name);
	int rc = pm_check_name(name);

	if (rc != 0)
		return rc;
	if (pl + 1 + nl + 1 > n ||
	    pl + 1 + nl > LABELDIR_LEN + 1 + PM_NAME_MAX + 1 + PM_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, parent, pl);
	buf[pl] = '/';
	memcpy(buf + pl + 1, name, nl + 1);
	return 0;
}

/* What .labels/rest is: the label's name, and the path below it ("" for
 * the label's own folder). */
static int split(const char *rest, char *name, const char **below)
{
	const char *slash = strchr(rest, '/');
	size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);

	if (nl == 0 || nl > PM_NAME_MAX)
		return -ENOENT;
	memcpy(name, rest, nl);
	name[nl] = '\0';
	*below = slash ? slash + 1 : "";
	return 0;
}

/* Walks the labels of one name for a path below it. */
struct find {
	const char *below;
	size_t blen;
	bool folder;      /* some label lies below it */
	bool file;        /* a label is it */
	struct label hit; /* that label (path copied) */
	char path[PM_PATH_MAX + 1];
	/* listing: the names directly below */
	char **names;
	size_t n, cap;
	bool list;
};

static int find_one(void *ctx, const struct label *l)
{
	struct find *f = ctx;
	const char *rest;

	if (f->blen == 0) {
		rest = l->path;
	} else if (strncmp(l->path, f->below, f->blen) == 0 &&
	           l->path[f->blen] == '\0') {
		f->file = true;
		f->hit = *l;
		strcpy(f->path, l->path);
		f->hit.path = f->path;
		return 0;
	} else if (strncmp(l->path, f->below, f->blen) == 0 &&
	           l->path[f->blen] == '/') {
		rest = l->path + f->blen + 1;
	} else {
		return 0;
	}
	f->folder = true;
	if (f->list) {
		const char *slash = strchr(rest, '/');
		size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
		char *name;

		if (f->n > 0 && strlen(f->names[f->n - 1]) == nl &&
		    strncmp(f->names[f->n - 1], rest, nl) == 0)
			return 0; /* paths come sorted: a repeat follows */
		if (f->n == f->cap) {
			size_t cap = f->cap ? 2 * f->cap : 16;
			char **v = realloc(f->names, cap * sizeof(*v));

			if (v == NULL)
				return -ENOMEM;
			f->names = v;
			f->cap = cap;
		}
		name = strndup(rest, nl);
		if (name == NULL)
			return -ENOMEM;
		f->names[f->n++] = name;
	}
	return 0;
}

static void seal_file(struct node *n, const struct hist_item *it)
{
	node_fresh(n, S_IFREG | (it->mode & 0444), it->uid, it->gid);
	n->size = it->size;
	n->atime = n->mtime = n->ctime = n->crtime = it->time;
	n->txnid = it->txnid;
}

static void folder(struct node *n, const struct node *base)
{
	node_fresh(n, S_IFDIR | 0555, base->uid, base->gid);
	n->atime = n->mtime = n->ctime = n->crtime = base->crtime;
}

/* The node of .labels/rest in s. */
static int node_in(struct stx *s, const char *rest, const struct node *base,
                   struct node *n)
{
	char name[PM_NAME_MAX + 1];
	struct find f = { 0 };
	int rc = split(rest, name, &f.below);

	if (rc != 0)
		return rc;
	f.blen = strlen(f.below);
	rc = label_each(s, name, find_one, &f);
	if (rc != 0)
		return rc;
	if (f.file) {
		struct hist_item it;
		void *data;
		size_t len;

		rc = hist_get(s, f.hit.path, f.hit.version, &it, &data, &len);
		if (rc != 0)
			return rc;
		free(data);
		seal_file(n, &it);
		return 0;
	}
	if (!f.folder)
		return -ENOENT;
	folder(n, base);
	return 0;
}

static int top_one(void *ctx, const struct label *l)
{
	struct find *f = ctx;

	if (f->n > 0 && strcmp(f->names[f->n - 1], l->name) == 0)
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		char **v = realloc(f->names, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		f->names = v;
		f->cap = cap;
	}
	f->names[f->n] = strdup(l->name);
	return f->names[f->n++] ? 0 : -ENOMEM;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int base_of(struct stx *s, struct node *base)
{
	return store_node_get(s, pm_kind_name(0), base);
}

int lv_node(kv_env *env, const char *path, struct node *n)
{
	const char *rest;
	struct node base;
	struct stx s;
	int rc;

	if (!lv_is(path, &rest))
		return -ENOENT;
	rc = stx_begin(env, false, &s);
	if (rc == 0)
		rc = base_of(&s, &base);
	if (rc == 0) {
		if (rest == NULL)
			folder(n, &base);
		else
			rc = node_in(&s, rest, &base, n);
		node_release(&base);
	}
	stx_abort(&s);
	return rc;
}

int lv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx)
{
	char label[PM_NAME_MAX + 1], child[PM_NAME_MAX + 2 + PM_PATH_MAX];
	const char *rest;
	struct find f = { .list = true };
	struct node base, n;
	struct stx s;
	int rc;

	if (!lv_is(path, &rest))
		return -ENOENT;
	rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc;
	rc = base_of(&s, &base);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	if (rest == NULL) {
		rc = label_each(&s, NULL, top_one, &f);
	} else {
		rc = split(rest, label, &f.below);
		f.blen = strlen(f.below);
		if (rc == 0)
			rc = label_each(&s, label, find_one, &f);
		if (rc == 0 && !f.folder)
			rc = f.file ? -ENOTDIR : -ENOENT;
	}
	/* a name's paths are not always next to each other ("a.yaml",
	 * "a.yaml.b.yaml", "a.yaml/c.yaml"): sort, and skip repeats below */
	if (rc == 0 && f.n > 1)
		qsort(f.names, f.n, sizeof(*f.names), cmp_names);
	for (size_t i = 0; i < f.n && rc == 0; i++) {
		if (i > 0 && strcmp(f.names[i], f.names[i - 1]) == 0)
			continue;
		if (rest == NULL) {
			folder(&n, &base);
		} else {
			snprintf(child, sizeof(child), "%s/%s", rest,
			         f.names[i]);
			rc = node_in(&s, child, &base, &n);
			if (rc != 0)
				break;
		}
		rc = fn(ctx, f.names[i], &n);
		node_release(&n);
	}
	for (size_t i = 0; i < f.n; i++)
		free(f.names[i]);
	free(f.names);
	node_release(&base);
	stx_abort(&s);
	return rc;
}

int lv_content(kv_env *env, const char *path, void **data, size_t *len)
{
	char name[PM_NAME_MAX + 1];
	const char *rest;
	struct hist_item it;
	struct find f = { 0 };
	struct stx s;
	int rc;

	if (!lv_is(path, &rest) || rest == NULL)
		return -EISDIR;
	rc = split(rest, name, &f.below);
	if (rc != 0)
		return rc;
	f.blen = strlen(f.below);
	rc = stx_begin(env, false, &s);
	if (rc == 0)
		rc = label_each(&s, name, find_one, &f);
	if (rc == 0 && !f.file)
		rc = f.folder ? -EISDIR : -ENOENT;
	if (rc == 0)
		rc = hist_get(&s, f.hit.path, f.hit.version, &it, data, len);
	stx_abort(&s);
	return rc;
}
