/*
 * histview: the .history folder, a read-only view of every record's
 * versions.  Reached through the snapshot views' entry points (snaps.h),
 * so the daemon serves it as it serves .snapshots.
 *
 *   .history                        the three kinds
 *   .history/DIR                    a folder: its live sub-folders and
 *                                   records, and the names that only
 *                                   history keeps (deleted records and
 *                                   the folders that held them)
 *   .history/RECORD                 a folder of the record's versions
 *   .history/RECORD/NNNNNN-...yaml  one version, read-only
 *
 * Each call reads in its own read transaction, like the snapshot views.
 */
#include "snaps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "history.h"
#include "pathmap.h"

#define HISTDIR_LEN (sizeof(HISTDIR) - 1)

bool hv_is(const char *path, const char **rest)
{
	if (strncmp(path, HISTDIR, HISTDIR_LEN) != 0)
		return false;
	if (path[HISTDIR_LEN] == '\0') {
		if (rest)
			*rest = NULL;
		return true;
	}
	if (path[HISTDIR_LEN] != '/' || path[HISTDIR_LEN + 1] == '\0')
		return false;
	if (rest)
		*rest = path + HISTDIR_LEN + 1;
	return true;
}

int hv_join(char *buf, size_t n, const char *parent, const char *name)
{
	size_t pl = strlen(parent), nl = strlen(name);
	int rc = pm_check_name(name);

	if (rc != 0)
		return rc;
	/* below .history: a live path, then a version's name */
	if (pl + 1 + nl + 1 > n ||
	    pl + 1 + nl > HISTDIR_LEN + 1 + PM_PATH_MAX + 1 + HIST_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, parent, pl);
	buf[pl] = '/';
	memcpy(buf + pl + 1, name, nl + 1);
	return 0;
}

static void seal(struct node *n)
{
	n->mode &= ~(uint32_t)0222;
}

static void folder(struct node *n, const struct node *like, int64_t t)
{
	node_fresh(n, S_IFDIR | 0555, like->uid, like->gid);
	n->atime = n->mtime = n->ctime = n->crtime = t;
}

static bool record_name(const char *path)
{
	return pm_depth(path) >= 2 && pm_is_record_name(pm_basename(path));
}

struct last_ctx {
	struct hist_item last;
	bool any;
};

static int keep_last(void *ctx, const struct hist_item *it)
{
	struct last_ctx *lc = ctx;

	if (it->kind != HI_RENAME) {
		lc->last = *it;
		lc->any = true;
	}
	return 0;
}

/* A version's file: 0, or -ENOENT when path is not one. */
static int version_node(struct stx *s, const char *path, struct node *n)
{
	char rec[PM_PATH_MAX + 1], want[HIST_NAME_MAX];
	const char *name = pm_basename(path);
	size_t pl = pm_parent_len(path);
	struct hist_item it;
	uint64_t v;
	void *data;
	size_t len;
	int rc;

	if (pl == 0 || pl > PM_PATH_MAX || hist_parse_name(name, &v) != 0)
		return -ENOENT;
	memcpy(rec, path, pl);
	rec[pl] = '\0';
	if (!record_name(rec))
		return -ENOENT;
	rc = hist_get(s, rec, v, &it, &data, &len);
	if (rc != 0)
		return rc;
	free(data);
	hist_name(want, sizeof(want), v, it.time);
	if (strcmp(want, name) != 0)
		return -ENOENT;
	node_fresh(n, S_IFREG | (it.mode & 07777), it.uid, it.gid);
	n->size = it.size;
	n->atime = n->mtime = n->ctime = n->crtime = it.time;
	n->txnid = it.txnid;
	seal(n);
	return 0;
}

/* What a path below .history is. */
enum hv_kind { HV_FOLDER, HV_RECORD, HV_VERSION };

/* The node of .history/rest in s, and (kind, unless NULL) what it is;
 * base gives the owner of folders that only history keeps. */
static int node_in(struct stx *s, const char *rest, const struct node *base,
                   struct node *n, enum hv_kind *kind)
{
	enum hv_kind k_;
	struct last_ctx lc = { .any = false };
	struct node live;
	int rc;

	if (kind == NULL)
		kind = &k_;
	*kind = HV_FOLDER;
	if (pm_depth(rest) == 1) {
		if (pm_kind_of(rest) < 0)
			return -ENOENT;
		rc = store_node_get(s, rest, n);
		if (rc == 0)
			seal(n);
		return rc;
	}
	rc = store_node_get(s, rest, &live);
	if (rc == 0 && S_ISDIR(live.mode)) {
		*n = live;
		seal(n);
		return 0;
	}
	if (rc == 0)
		node_release(&live);
	else if (rc != -ENOENT)
		return rc;
	if (record_name(rest)) {
		rc = hist_each(s, rest, keep_last, &lc);
		if (rc == 0 && lc.any) {
			struct node like = *base;

			if (lc.last.kind != HI_DELETED) {
				like.uid = lc.last.uid;
				like.gid = lc.last.gid;
			}
			*kind = HV_RECORD;
			folder(n, &like, lc.last.time);
			return 0;
		}
		if (rc != 0 && rc != -ENOENT)
			return rc;
	}
	rc = hist_has(s, rest);
	if (rc > 0) {
		folder(n, base, base->mtime);
		return 0;
	}
	if (rc < 0)
		return rc;
	*kind = HV_VERSION;
	return version_node(s, rest, n);
}

static int live_base(struct stx *s, struct node *n)
{
	return store_node_get(s, pm_kind_name(0), n);
}

int hv_node(kv_env *env, const char *path, struct node *n)
{
	const char *rest;
	struct node base;
	struct stx s;
	int rc;

	if (!hv_is(path, &rest))
		return -ENOENT;
	rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc;
	rc = live_base(&s, &base);
	if (rc == 0 && rest == NULL) {
		folder(n, &base, base.crtime);
		n->mode = S_IFDIR | 0555;
	} else if (rc == 0) {
		rc = node_in(&s, rest, &base, n, NULL);
	}
	if (rc == 0)
		node_release(&base);
	stx_abort(&s);
	return rc;
}

/* ---- listing ------------------------------------------------------------ */

struct name_set {
	char **v;
	size_t n, cap;
};

static int set_add(struct name_set *ns, const char *name, size_t len)
{
	char *c;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 32;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	c = malloc(len + 1);
	if (c == NULL)
		return -ENOMEM;
	memcpy(c, name, len);
	c[len] = '\0';
	ns->v[ns->n++] = c;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_live(void *ctx, const char *name, const struct node *n)
{
	if (S_ISDIR(n->mode) ||
	    (S_ISREG(n->mode) && pm_is_record_name(name) && n->size > 0))
		return set_add(ctx, name, strlen(name));
	return 0;
}

static int add_hist(void *ctx, const char *name, size_t len)
{
	return set_add(ctx, name, len);
}

/* A folder: the union of its live entries and history's names. */
static int list_folder(struct stx *s, const char *dir, const struct node *base,
                       int (*fn)(void *ctx, const char *name,
                                 const struct node *n),
                       void *ctx)
{
	char path[PM_PATH_MAX + 1];
	struct name_set ns = { 0 };
	int rc = store_list(s, dir, add_live, &ns);

	if (rc == 0)
		rc = hist_children(s, dir, add_hist, &ns);
	if (rc == 0 && ns.n > 1)
		qsort(ns.v, ns.n, sizeof(*ns.v), cmp_names);
	for (size_t i = 0; i < ns.n && rc == 0; i++) {
		struct node n;

		if (i > 0 && strcmp(ns.v[i], ns.v[i - 1]) == 0)
			continue;
		if (pm_join(path, sizeof(path), dir, ns.v[i]) != 0)
			continue;
		rc = node_in(s, path, base, &n, NULL);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc == 0) {
			rc = fn(ctx, ns.v[i], &n);
			node_release(&n);
		}
	}
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return rc;
}

struct versions_ctx {
	int (*fn)(void *ctx, const char *name, const struct node *n);
	void *ctx;
};

static int list_version(void *ctx, const struct hist_item *it)
{
	struct versions_ctx *vc = ctx;
	char name[HIST_NAME_MAX];
	struct node n;

	if (it->kind != HI_VERSION && it->kind != HI_LIVE)
		return 0;
	hist_name(name, sizeof(name), it->version, it->time);
	node_fresh(&n, S_IFREG | (it->mode & 07777), it->uid, it->gid);
	n.size = it->size;
	n.atime = n.mtime = n.ctime = n.crtime = it->time;
	n.txnid = it->txnid;
	seal(&n);
	return vc->fn(vc->ctx, name, &n);
}

int hv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx)
{
	const char *rest;
	struct node base, n;
	struct stx s;
	int rc;

	if (!hv_is(path, &rest))
		return -ENOENT;
	rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc;
	rc = live_base(&s, &base);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	if (rest == NULL) {
		for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
			if (store_node_get(&s, pm_kind_name(k), &n) != 0)
				continue;
			seal(&n);
			rc = fn(ctx, pm_kind_name(k), &n);
			node_release(&n);
		}
	} else {
		enum hv_kind kind;

		rc = node_in(&s, rest, &base, &n, &kind);
		if (rc == 0) {
			node_release(&n);
			if (kind == HV_FOLDER) {
				rc = list_folder(&s, rest, &base, fn, ctx);
			} else if (kind == HV_RECORD) {
				struct versions_ctx vc = { fn, ctx };

				rc = hist_each(&s, rest, list_version, &vc);
			} else {
				rc = -ENOTDIR;
			}
		}
	}
	node_release(&base);
	stx_abort(&s);
	return rc;
}

int hv_content(kv_env *env, const char *path, void **data, size_t *len)
{
	char rec[PM_PATH_MAX + 1], want[HIST_NAME_MAX];
	const char *rest, *name;
	struct hist_item it;
	struct stx s;
	size_t pl;
	uint64_t v;
	int rc;

	if (!hv_is(path, &rest) || rest == NULL)
		return -EISDIR;
	name = pm_basename(rest);
	pl = pm_parent_len(rest);
	if (pl == 0 || pl > PM_PATH_MAX || hist_parse_name(name, &v) != 0)
		return -EISDIR;
	memcpy(rec, rest, pl);
	rec[pl] = '\0';
	rc = stx_begin(env, false, &s);
	if (rc != 0)
		return rc;
	rc = hist_get(&s, rec, v, &it, data, len);
	stx_abort(&s);
	if (rc != 0)
		return rc;
	hist_name(want, sizeof(want), v, it.time);
	if (strcmp(want, name) != 0) {
		free(*data);
		*data = NULL;
		return -ENOENT;
	}
	return 0;
}
