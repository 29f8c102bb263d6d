/*
 * snaps: the read-only snapshot views, the automatic schedule and
 * restore.  See snaps.h.
 */
#include "snaps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "labels.h"
#include "pathmap.h"
#include "rendered.h"

#define SNAPDIR_LEN (sizeof(SNAPDIR) - 1)

enum sv_level sv_level(const char *path, char *name, const char **rest)
{
	const char *p, *slash;
	size_t len;

	if (hv_is(path, NULL))
		return SV_HIST;
	if (lv_is(path, NULL))
		return SV_LABELS;
	if (rv_is(path, NULL))
		return SV_RENDERED;
	if (strncmp(path, SNAPDIR, SNAPDIR_LEN) != 0)
		return SV_NONE;
	if (path[SNAPDIR_LEN] == '\0')
		return SV_TOP;
	if (path[SNAPDIR_LEN] != '/')
		return SV_NONE;
	p = path + SNAPDIR_LEN + 1;
	slash = strchr(p, '/');
	len = slash ? (size_t)(slash - p) : strlen(p);
	if (len == 0 || len > KV_MAX_NAME)
		return SV_NONE;
	if (name) {
		memcpy(name, p, len);
		name[len] = '\0';
	}
	if (rest)
		*rest = slash ? slash + 1 : "";
	return slash ? SV_INSIDE : SV_SNAP;
}

bool sv_follows_live(const char *path)
{
	return hv_is(path, NULL) || lv_is(path, NULL) || rv_is(path, NULL);
}

int sv_join(char *buf, size_t n, const char *parent, const char *name)
{
	const char *rest = parent;
	size_t pre = 0;
	int rc;

	switch (sv_level(parent, NULL, &rest)) {
	case SV_HIST:
		return hv_join(buf, n, parent, name);
	case SV_LABELS:
		return lv_join(buf, n, parent, name);
	case SV_RENDERED:
		return rv_join(buf, n, parent, name);
	case SV_SNAP: /* ".snapshots/NAME" + "/" */
		pre = strlen(parent) + 1;
		rest = "";
		break;
	case SV_INSIDE: /* ".snapshots/NAME/", which rest follows */
		pre = (size_t)(rest - parent);
		break;
	default:
		break;
	}
	if (pre >= n)
		return -ENAMETOOLONG;
	rc = pm_join(buf + pre, n - pre, rest, name);
	if (rc != 0)
		return rc;
	if (pre) {
		memcpy(buf, parent, pre - 1);
		buf[pre - 1] = '/';
	}
	return 0;
}

/* Read-only: no write bits, for anyone. */
static void seal(struct node *n)
{
	n->mode &= ~(uint32_t)0222;
}

/* Whether an entry at path inside a snapshot is shown: folders and
 * records, not side files or symlinks. */
static bool shown(const char *path, uint32_t mode)
{
	if (S_ISDIR(mode))
		return true;
	return S_ISREG(mode) && pm_depth(path) >= 2 &&
	       pm_is_record_name(pm_basename(path));
}

/* The owner and creation time of the live store (its first kind folder),
 * for the synthesized folders. */
static int live_base(kv_env *env, struct node *n)
{
	struct stx s;
	int rc = stx_begin(env, false, &s);

	if (rc != 0)
		return rc;
	rc = store_node_get(&s, pm_kind_name(0), n);
	stx_abort(&s);
	return rc;
}

static void snap_folder(const struct node *base, int64_t t, uint32_t mode,
                        struct node *n)
{
	node_fresh(n, S_IFDIR | mode, base->uid, base->gid);
	n->atime = n->mtime = n->ctime = n->crtime = t;
}

struct top_ctx {
	const struct node *base;
	int64_t newest;
	int (*fn)(void *ctx, const char *name, const struct node *n);
	void *ctx;
};

static int top_entry(void *ctx, const struct kv_snapshot_info *si)
{
	struct top_ctx *tc = ctx;
	struct node n;

	if (si->created_ns > tc->newest)
		tc->newest = si->created_ns;
	if (tc->fn == NULL)
		return 0;
	snap_folder(tc->base, si->created_ns, 0555, &n);
	n.txnid = si->txnid;
	return tc->fn(tc->ctx, si->name, &n);
}

/* Walk the snapshots (fn may be NULL); *newest gets the latest creation
 * time, or the store's own when there is no snapshot. */
static int top_walk(kv_env *env, const struct node *base,
                    int (*fn)(void *ctx, const char *name,
                              const struct node *n),
                    void *ctx, int64_t *newest)
{
	struct top_ctx tc = { base, base->crtime, fn, ctx };
	kv_txn *txn;
	int rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);

	if (rc != 0)
		return kv_to_errno(rc);
	rc = kv_to_errno(kv_snapshot_list(txn, top_entry, &tc));
	kv_txn_abort(txn);
	if (newest)
		*newest = tc.newest;
	return rc;
}

static int snap_info(kv_env *env, const char *name, struct kv_snapshot_info *si)
{
	kv_txn *txn;
	int rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);

	if (rc != 0)
		return kv_to_errno(rc);
	rc = kv_to_errno(kv_snapshot_get(txn, name, si));
	kv_txn_abort(txn);
	return rc;
}

int sv_node(kv_env *env, const char *path, struct node *n)
{
	char name[KV_MAX_NAME + 1];
	const char *rest = "";
	struct kv_snapshot_info si;
	struct node base;
	struct stx s;
	int64_t newest = 0;
	int rc;

	switch (sv_level(path, name, &rest)) {
	case SV_NONE:
		return -ENOENT;
	case SV_HIST:
		return hv_node(env, path, n);
	case SV_LABELS:
		return lv_node(env, path, n);
	case SV_RENDERED:
		return rv_node(env, path, n);
	case SV_TOP:
		rc = live_base(env, &base);
		if (rc == 0)
			rc = top_walk(env, &base, NULL, NULL, &newest);
		if (rc == 0)
			snap_folder(&base, newest, 0755, n);
		if (rc == 0)
			n->ctime = n->mtime;
		node_release(&base);
		return rc;
	case SV_SNAP:
		rc = live_base(env, &base);
		if (rc == 0)
			rc = snap_info(env, name, &si);
		if (rc == 0) {
			snap_folder(&base, si.created_ns, 0555, n);
			n->txnid = si.txnid;
		}
		node_release(&base);
		return rc;
	case SV_INSIDE:
		break;
	}
	if (pm_depth(rest) == 1 && pm_kind_of(rest) < 0)
		return -ENOENT;
	rc = stx_begin_snapshot(env, name, &s);
	if (rc != 0)
		return rc;
	rc = store_node_get(&s, rest, n);
	stx_abort(&s);
	if (rc == 0 && !shown(rest, n->mode)) {
		node_release(n);
		rc = -ENOENT;
	}
	if (rc == 0)
		seal(n);
	return rc;
}

struct inside_ctx {
	const char *dir;
	int (*fn)(void *ctx, const char *name, const struct node *n);
	void *ctx;
};

static int inside_entry(void *ctx, const char *name, const struct node *n)
{
	struct inside_ctx *ic = ctx;
	char path[PM_PATH_MAX + 1];
	struct node sealed = *n;

	if (pm_join(path, sizeof(path), ic->dir, name) != 0 ||
	    !shown(path, n->mode))
		return 0;
	seal(&sealed);
	return ic->fn(ic->ctx, name, &sealed);
}

int sv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx)
{
	char name[KV_MAX_NAME + 1];
	const char *rest = "";
	struct inside_ctx ic;
	struct node base, n;
	struct stx s;
	int rc;

	switch (sv_level(path, name, &rest)) {
	case SV_NONE:
		return -ENOENT;
	case SV_HIST:
		return hv_list(env, path, fn, ctx);
	case SV_LABELS:
		return lv_list(env, path, fn, ctx);
	case SV_RENDERED:
		return rv_list(env, path, fn, ctx);
	case SV_TOP:
		rc = live_base(env, &base);
		if (rc == 0)
			rc = top_walk(env, &base, fn, ctx, NULL);
		node_release(&base);
		return rc;
	case SV_SNAP:
		rc = stx_begin_snapshot(env, name, &s);
		for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
			if (store_node_get(&s, pm_kind_name(k), &n) != 0)
				continue;
			seal(&n);
			rc = fn(ctx, pm_kind_name(k), &n);
			node_release(&n);
		}
		stx_abort(&s);
		return rc;
	case SV_INSIDE:
		break;
	}
	rc = stx_begin_snapshot(env, name, &s);
	if (rc != 0)
		return rc;
	rc = store_node_get(&s, rest, &n);
	if (rc == 0) {
		if (!S_ISDIR(n.mode) || !shown(rest, n.mode))
			rc = S_ISDIR(n.mode) ? -ENOENT : -ENOTDIR;
		node_release(&n);
	}
	ic.dir = rest;
	ic.fn = fn;
	ic.ctx = ctx;
	if (rc == 0)
		rc = store_list(&s, rest, inside_entry, &ic);
	stx_abort(&s);
	return rc;
}

int sv_content(kv_env *env, const char *path, void **data, size_t *len)
{
	char name[KV_MAX_NAME + 1];
	const char *rest = "";
	struct stx s;
	struct node n;
	kv_val v;
	int rc;

	switch (sv_level(path, name, &rest)) {
	case SV_HIST:
		return hv_content(env, path, data, len);
	case SV_LABELS:
		return lv_content(env, path, data, len);
	case SV_RENDERED:
		return rv_content(env, path, data, len);
	case SV_INSIDE:
		break;
	default:
		return -EISDIR;
	}
	rc = stx_begin_snapshot(env, name, &s);
	if (rc != 0)
		return rc;
	rc = store_node_get(&s, rest, &n);
	if (rc == 0) {
		if (S_ISDIR(n.mode))
			rc = -EISDIR;
		else if (!shown(rest, n.mode))
			rc = -ENOENT;
		else
			rc = store_content_get(&s, rest, n.mode, &v);
		node_release(&n);
	}
	if (rc == 0) {
		*data = malloc(v.len ? v.len : 1);
		if (*data == NULL)
			rc = -ENOMEM;
		else
			memcpy(*data, v.data, v.len);
		*len = v.len;
	}
	stx_abort(&s);
	return rc;
}

/* ---- automatic snapshots ----------------------------------------------- */

struct auto_list {
	char (*name)[RETAIN_NAME_MAX];
	int64_t *t;
	size_t n, cap;
};

static int auto_push(struct auto_list *al, const char *name, int64_t t)
{
	if (al->n == al->cap) {
		size_t cap = al->cap ? al->cap * 2 : 16;
		void *nn = realloc(al->name, cap * sizeof(*al->name));

		if (nn == NULL)
			return -ENOMEM;
		al->name = nn;
		nn = realloc(al->t, cap * sizeof(*al->t));
		if (nn == NULL)
			return -ENOMEM;
		al->t = nn;
		al->cap = cap;
	}
	size_t len = strlen(name);

	if (len >= RETAIN_NAME_MAX)
		return -EINVAL; /* automatic names are shorter */
	memcpy(al->name[al->n], name, len + 1);
	al->t[al->n++] = t;
	return 0;
}

static int auto_add(void *ctx, const struct kv_snapshot_info *si)
{
	int64_t t;

	if (retain_parse_auto_name(si->name, &t) != 0)
		return 0; /* made by hand: never deleted automatically */
	return auto_push(ctx, si->name, t);
}

int autosnap_tick(kv_env *env, int64_t now, const struct autosnap_cfg *cfg,
                  struct autosnap_result *res)
{
	struct auto_list al = { 0 };
	bool *keep = NULL, dirty = false;
	size_t newest = 0;
	struct stx s;
	int rc;

	memset(res, 0, sizeof(*res));
	res->next = cfg->every ? now + (int64_t)cfg->every : 0;
	rc = stx_begin(env, true, &s);
	if (rc != 0)
		return rc;
	rc = kv_to_errno(kv_snapshot_list(s.txn, auto_add, &al));
	for (size_t i = 1; i < al.n; i++)
		if (al.t[i] > al.t[newest])
			newest = i;
	if (rc == 0 && cfg->every != 0 &&
	    (al.n == 0 || now - al.t[newest] >= (int64_t)cfg->every)) {
		int same = al.n ? kv_snapshot_same(s.txn, al.name[newest]) : 0;

		if (same < 0)
			rc = kv_to_errno(same);
		else if (!same && (al.n == 0 || now > al.t[newest])) {
			retain_auto_name(res->name, sizeof(res->name), now);
			rc = kv_to_errno(kv_snapshot_create(s.txn, res->name));
			if (rc == -EEXIST)
				rc = 0; /* the clock went back: skip a round */
			else if (rc == 0) {
				res->made = dirty = true;
				rc = auto_push(&al, res->name, now);
			}
		}
	} else if (rc == 0 && cfg->every != 0) {
		res->next = al.t[newest] + (int64_t)cfg->every;
	}
	if (rc == 0 && al.n > 0) {
		keep = calloc(al.n, sizeof(*keep));
		if (keep == NULL)
			rc = -ENOMEM;
	}
	if (rc == 0 && keep) {
		retain_select(al.t, al.n, &cfg->keep, keep);
		for (size_t i = 0; i < al.n && rc == 0; i++) {
			if (keep[i])
				continue;
			rc = kv_to_errno(kv_snapshot_delete(s.txn, al.name[i]));
			if (rc == 0) {
				res->deleted++;
				dirty = true;
			}
		}
	}
	if (rc == 0 && dirty)
		rc = stx_commit(&s, KV_DURABLE_IMMEDIATE);
	else
		stx_abort(&s);
	if (rc != 0) {
		res->made = false;
		res->deleted = 0;
	}
	free(keep);
	free(al.name);
	free(al.t);
	return rc;
}

int snaps_restore(kv_env *env, const char *name, int64_t now, char *saved)
{
	char stamp[RETAIN_NAME_MAX];
	struct kv_snapshot_info si;
	struct stx s;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = kv_to_errno(kv_snapshot_get(s.txn, name, &si));
	retain_auto_name(stamp, sizeof(stamp), now);
	for (int i = 1; rc == 0; i++) {
		/* "before-restore-<time>", "-2", ... if taken this second */
		if (i == 1)
			snprintf(saved, SNAPS_SAVED_MAX, "before-restore-%s",
			         stamp + strlen(RETAIN_PREFIX));
		else
			snprintf(saved, SNAPS_SAVED_MAX, "before-restore-%s-%d",
			         stamp + strlen(RETAIN_PREFIX), i);
		rc = kv_to_errno(kv_snapshot_get(s.txn, saved, &si));
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
	}
	if (rc == 0)
		rc = kv_to_errno(kv_snapshot_create(s.txn, saved));
	if (rc == 0) {
		struct stx from;

		rc = stx_begin_snapshot(env, name, &from);
		if (rc == 0) {
			rc = store_restore(&s, &from);
			stx_abort(&from);
		}
	}
	if (rc == 0)
		return stx_commit(&s, KV_DURABLE_IMMEDIATE);
	stx_abort(&s);
	return rc;
}
