/*
 * rendered: templates against the store, and the .rendered view.  See
 * rendered.h.
 *
 * template.c asks for an included prompt by the name the tag gives; a
 * struct source answers from a transaction: the record being saved (not
 * committed yet, so not in the tree), a label's pinned version, or the
 * live tree, trying NAME.yaml before NAME.yml as references do (refs.h).
 */
#include "rendered.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "history.h"
#include "labels.h"
#include "pathmap.h"

#define RENDERDIR_LEN (sizeof(RENDERDIR) - 1)
#define PROMPTS "prompts"
#define PROMPTS_LEN (sizeof(PROMPTS) - 1)

/* A version a label pins. */
struct pin {
	char *path;
	uint64_t version;
};

struct source {
	struct stx *s; /* where records are read; NULL until began */
	kv_env *env;   /* with s NULL: whose read transaction to begin */
	struct stx own;
	bool began;
	/* the record being saved, standing in for its path */
	const char *self;
	const void *self_data;
	size_t self_len;
	/* with a label: the versions it pins */
	struct pin *pins;
	size_t npins;
	int64_t newest; /* the newest mtime of the records read */
};

static void *dup_bytes(const void *data, size_t len)
{
	void *c = malloc(len ? len : 1);

	if (c != NULL && len > 0)
		memcpy(c, data, len);
	return c;
}

static int source_txn(struct source *src)
{
	int rc;

	if (src->s != NULL)
		return 0;
	rc = stx_begin(src->env, false, &src->own);
	if (rc == 0) {
		src->s = &src->own;
		src->began = true;
	}
	return rc;
}

static void source_end(struct source *src)
{
	if (src->began)
		stx_abort(&src->own);
	for (size_t i = 0; i < src->npins; i++)
		free(src->pins[i].path);
	free(src->pins);
}

static const struct pin *pinned(const struct source *src, const char *path)
{
	for (size_t i = 0; i < src->npins; i++)
		if (strcmp(src->pins[i].path, path) == 0)
			return &src->pins[i];
	return NULL;
}

static void saw(struct source *src, int64_t t)
{
	if (t > src->newest)
		src->newest = t;
}

/* The pinned version of path: 0, or -ENOENT when the label pins none. */
static int read_pinned(struct source *src, const char *path, void **data,
                       size_t *len)
{
	const struct pin *p = pinned(src, path);
	struct hist_item it;
	int rc;

	if (p == NULL)
		return -ENOENT;
	rc = hist_get(src->s, path, p->version, &it, data, len);
	if (rc == 0)
		saw(src, it.time);
	return rc;
}

/* The live record at path: 0, or -ENOENT when there is none. */
static int read_live(struct source *src, const char *path, void **data,
                     size_t *len)
{
	struct node n;
	kv_val v;
	int rc;

	if (src->self && strcmp(path, src->self) == 0) {
		*data = dup_bytes(src->self_data, src->self_len);
		*len = src->self_len;
		return *data ? 0 : -ENOMEM;
	}
	rc = store_node_get(src->s, path, &n);
	if (rc != 0)
		return rc;
	if (!S_ISREG(n.mode) || !pm_is_record_name(pm_basename(path)))
		rc = -ENOENT;
	else
		rc = store_content_get(src->s, path, n.mode, &v);
	if (rc == 0) {
		saw(src, n.mtime);
		*data = dup_bytes(v.data, v.len);
		*len = v.len;
		if (*data == NULL)
			rc = -ENOMEM;
	}
	node_release(&n);
	return rc;
}

/* template.c's fetch: the prompt name names, pinned first, then live. */
static int fetch(void *ctx, const char *name, char *path, void **data,
                 size_t *len)
{
	static const char *const ext[] = { ".yaml", ".yml" };
	struct source *src = ctx;
	int rc;

	if (!tpl_valid_include(name))
		return -ENOENT;
	rc = source_txn(src);
	if (rc != 0)
		return rc;
	for (int pass = src->npins ? 0 : 1; pass < 2; pass++) {
		for (int e = 0; e < 2; e++) {
			snprintf(path, TPL_PATH_MAX, PROMPTS "/%s%s", name,
			         ext[e]);
			rc = pass == 0 ? read_pinned(src, path, data, len)
			               : read_live(src, path, data, len);
			if (rc != -ENOENT)
				return rc;
		}
	}
	snprintf(path, TPL_PATH_MAX, PROMPTS "/%s.yaml", name);
	return -ENOENT;
}

int rendered_check(kv_env *env, struct stx *s, const char *path,
                   const void *data, size_t len, char *msg, size_t n)
{
	struct source src = { .s = s,
		              .env = env,
		              .self = path,
		              .self_data = data,
		              .self_len = len };
	struct tpl_source ts = { fetch, &src };
	int rc = tpl_check(data, len, path, &ts, msg, n);

	source_end(&src);
	return rc;
}

/* ---- rendering ------------------------------------------------------------ */

static int add_pin(void *ctx, const struct label *l)
{
	struct source *src = ctx;
	struct pin *p = realloc(src->pins, (src->npins + 1) * sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	src->pins = p;
	p = &src->pins[src->npins];
	p->path = strdup(l->path);
	if (p->path == NULL)
		return -ENOMEM;
	p->version = l->version;
	src->npins++;
	return 0;
}

/* The text of the prompt to render, as src reads it. */
static int top_text(struct source *src, const char *path, const char *label,
                    void **data, size_t *len, char *msg, size_t n)
{
	int rc;

	if (label == NULL) {
		rc = read_live(src, path, data, len);
		if (rc == -ENOENT)
			snprintf(msg, n, "no such prompt");
		return rc;
	}
	rc = label_each(src->s, label, add_pin, src);
	if (rc == 0 && src->npins == 0)
		rc = -ENOENT;
	if (rc == -ENOENT) {
		snprintf(msg, n, "no label '%s' (cccfs label list shows them)",
		         label);
		return rc;
	}
	if (rc == 0)
		rc = read_pinned(src, path, data, len);
	if (rc == -ENOENT)
		snprintf(msg, n, "label '%s' does not pin it", label);
	return rc;
}

int rendered_render(struct stx *s, const char *path, const char *label,
                    const struct tpl_render_opts *o, struct rendered *r,
                    char *msg, size_t n)
{
	struct source src = { .s = s };
	struct tpl_source ts = { fetch, &src };
	void *data = NULL;
	size_t len = 0;
	struct tpl t;
	int rc;

	memset(r, 0, sizeof(*r));
	if (msg && n)
		msg[0] = '\0';
	rc = top_text(&src, path, label, &data, &len, msg, n);
	if (rc == 0) {
		rc = tpl_parse(&t, data, len, msg, n);
		r->has_template = t.has_template;
		tpl_release(&t);
	}
	if (rc == 0)
		rc = tpl_render(data, len, path, &ts, o, &r->text, &r->len, msg,
		                n);
	r->mtime = src.newest;
	free(data);
	source_end(&src);
	return rc;
}

/* ---- the .rendered view ------------------------------------------------- */

bool rv_is(const char *path, const char **rest)
{
	if (strncmp(path, RENDERDIR, RENDERDIR_LEN) != 0)
		return false;
	if (path[RENDERDIR_LEN] == '\0') {
		if (rest)
			*rest = NULL;
		return true;
	}
	if (path[RENDERDIR_LEN] != '/' || path[RENDERDIR_LEN + 1] == '\0')
		return false;
	if (rest)
		*rest = path + RENDERDIR_LEN + 1;
	return true;
}

int rv_join(char *buf, size_t n, const char *parent, const char *name)
{
	size_t pl = strlen(parent), nl = strlen(name);
	int rc = pm_check_name(name);

	if (rc != 0)
		return rc;
	/* below .rendered: a path below prompts/ */
	if (pl + 1 + nl + 1 > n ||
	    pl + 1 + nl - RENDERDIR_LEN + PROMPTS_LEN > PM_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, parent, pl);
	buf[pl] = '/';
	memcpy(buf + pl + 1, name, nl + 1);
	return 0;
}

/* The live path of .rendered/rest (rest NULL: the folder itself). */
static int live_path(const char *rest, char *buf)
{
	int k = snprintf(buf, PM_PATH_MAX + 1, PROMPTS "%s%s", rest ? "/" : "",
	                 rest ? rest : "");

	return k < 0 || (size_t)k > PM_PATH_MAX ? -ENAMETOOLONG : 0;
}

static void seal(struct node *n)
{
	n->mode &= ~(uint32_t)0222;
}

/* A record's rendering for the view.  A text that is not YAML (which no
 * save lets in) renders as nothing. */
static int view_render(struct stx *s, const char *path, struct rendered *r)
{
	struct tpl_render_opts o = { TPL_VIEW, NULL, 0 };
	char msg[TPL_MSG_MAX];
	int rc = rendered_render(s, path, NULL, &o, r, msg, sizeof(msg));

	if (rc == -EINVAL) {
		r->text = strdup("");
		r->len = 0;
		rc = r->text ? 0 : -ENOMEM;
	}
	return rc;
}

/* The node of the live entry at path, as the view shows it: a folder,
 * or a record with its rendering's size and time; -ENOENT for the rest. */
static int view_node(struct stx *s, const char *path, struct node *n)
{
	struct rendered r;
	int rc = store_node_get(s, path, n);

	if (rc != 0)
		return rc;
	if (S_ISDIR(n->mode)) {
		seal(n);
		return 0;
	}
	if (!S_ISREG(n->mode) || pm_depth(path) < 2 ||
	    !pm_is_record_name(pm_basename(path)))
		rc = -ENOENT;
	else
		rc = view_render(s, path, &r);
	if (rc != 0) {
		node_release(n);
		return rc;
	}
	n->size = r.len;
	if (r.mtime > n->mtime)
		n->mtime = n->ctime = r.mtime;
	free(r.text);
	seal(n);
	return 0;
}

int rv_node(kv_env *env, const char *path, struct node *n)
{
	char live[PM_PATH_MAX + 1];
	const char *rest;
	struct stx s;
	int rc;

	if (!rv_is(path, &rest))
		return -ENOENT;
	rc = live_path(rest, live);
	if (rc == 0)
		rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	rc = view_node(&s, live, n);
	stx_abort(&s);
	return rc;
}

/* A folder's entries, copied out of the walk before any is rendered. */
struct entries {
	char **name;
	struct node *node;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, const struct node *n)
{
	struct entries *es = ctx;

	if (!S_ISDIR(n->mode) && !(S_ISREG(n->mode) && pm_is_record_name(name)))
		return 0;
	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 32;
		void *p = realloc(es->name, cap * sizeof(*es->name));

		if (p == NULL)
			return -ENOMEM;
		es->name = p;
		p = realloc(es->node, cap * sizeof(*es->node));
		if (p == NULL)
			return -ENOMEM;
		es->node = p;
		es->cap = cap;
	}
	es->name[es->n] = strdup(name);
	if (es->name[es->n] == NULL)
		return -ENOMEM;
	es->node[es->n] = *n;
	es->node[es->n].xattrs = NULL;
	es->node[es->n].xlen = 0;
	es->n++;
	return 0;
}

int rv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx)
{
	char live[PM_PATH_MAX + 1], child[PM_PATH_MAX + 1];
	struct entries es = { 0 };
	const char *rest;
	struct node n;
	struct stx s;
	int rc;

	if (!rv_is(path, &rest))
		return -ENOENT;
	rc = live_path(rest, live);
	if (rc == 0)
		rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	rc = view_node(&s, live, &n);
	if (rc == 0) {
		if (!S_ISDIR(n.mode))
			rc = -ENOTDIR;
		node_release(&n);
	}
	if (rc == 0)
		rc = store_list(&s, live, collect, &es);
	for (size_t i = 0; i < es.n && rc == 0; i++) {
		struct node shown = es.node[i];
		struct rendered r;

		if (S_ISDIR(shown.mode)) {
			seal(&shown);
			rc = fn(ctx, es.name[i], &shown);
			continue;
		}
		if (pm_join(child, sizeof(child), live, es.name[i]) != 0)
			continue;
		rc = view_render(&s, child, &r);
		if (rc != 0)
			break;
		shown.size = r.len;
		if (r.mtime > shown.mtime)
			shown.mtime = shown.ctime = r.mtime;
		free(r.text);
		seal(&shown);
		rc = fn(ctx, es.name[i], &shown);
	}
	for (size_t i = 0; i < es.n; i++)
		free(es.name[i]);
	free(es.name);
	free(es.node);
	stx_abort(&s);
	return rc;
}

int rv_content(kv_env *env, const char *path, void **data, size_t *len)
{
	char live[PM_PATH_MAX + 1];
	const char *rest;
	struct rendered r;
	struct node n;
	struct stx s;
	int rc;

	if (!rv_is(path, &rest) || rest == NULL)
		return -EISDIR;
	rc = live_path(rest, live);
	if (rc == 0)
		rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	rc = store_node_get(&s, live, &n);
	if (rc == 0) {
		if (S_ISDIR(n.mode))
			rc = -EISDIR;
		else if (!S_ISREG(n.mode) ||
		         !pm_is_record_name(pm_basename(live)))
			rc = -ENOENT;
		node_release(&n);
	}
	if (rc == 0)
		rc = view_render(&s, live, &r);
	stx_abort(&s);
	if (rc == 0) {
		*data = r.text;
		*len = r.len;
	}
	return rc;
}
