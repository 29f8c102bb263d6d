/*
 * store: nodes, contents and subtrees over kv tables.  The layout is in
 * store.h.  Every function takes an open struct stx; the caller decides
 * where a transaction begins and commits, so that one file save, rename or
 * unlink is exactly one kv commit.
 */
#include "store.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "history.h"
#include "labels.h"
#include "refs.h"
#include "clock.h"
#include "pathmap.h"

static const char *const table_names[STORE_NTABLES] = {
	"workflows", "agents",   "prompts",    PM_TABLE_FILES, PM_TABLE_NODES,
	HIST_TABLE,  HIST_INDEX, LABELS_TABLE, REFS_TABLE,
};

_Static_assert(PM_NKINDS == 3, "three record tables");

const char *store_table_name(int i)
{
	return i >= 0 && i < STORE_NTABLES ? table_names[i] : NULL;
}

int kv_to_errno(int rc)
{
	if (rc >= 0)
		return rc;
	if (!kv_is_kv_error(rc))
		return rc;
	switch (rc) {
	case KV_ENOTFOUND:
		return -ENOENT;
	case KV_EEXIST:
		return -EEXIST;
	case KV_EBUSY:
	case KV_ELOCKED:
		return -EBUSY;
	case KV_EREADONLY:
		return -EROFS;
	case KV_ENOREADER:
		return -EACCES;
	case KV_EKEYSIZE:
		return -ENAMETOOLONG;
	case KV_EVALSIZE:
		return -EFBIG;
	case KV_EREADERS:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* ---- transactions ---------------------------------------------------- */

int stx_begin(kv_env *env, bool write, struct stx *s)
{
	memset(s, 0, sizeof(*s));
	s->write = write;
	return kv_to_errno(
	        kv_txn_begin(env, write ? 0 : KV_TXN_RDONLY, &s->txn));
}

int stx_try_begin(kv_env *env, struct stx *s)
{
	memset(s, 0, sizeof(*s));
	s->write = true;
	return kv_to_errno(kv_txn_try_begin(env, 0, &s->txn));
}

int stx_begin_snapshot(kv_env *env, const char *name, struct stx *s)
{
	memset(s, 0, sizeof(*s));
	return kv_to_errno(kv_txn_begin_snapshot(env, name, &s->txn));
}

/*
 * The ids of this process's recent commits, one slot per id modulo the
 * ring size.  An id is noted before its commit and cleared if the commit
 * fails (the write lock is held meanwhile, so no other process can commit
 * under that id until then).
 */
#define OWN_RING 4096u
static _Atomic uint64_t own_ring[OWN_RING];
static _Atomic uint64_t own_base[OWN_RING];

bool store_own_commit(uint64_t txnid, uint64_t *base)
{
	size_t i = txnid % OWN_RING;

	*base = atomic_load(&own_base[i]);
	return txnid != 0 && atomic_load(&own_ring[i]) == txnid;
}

int stx_commit(struct stx *s, enum kv_durability d)
{
	uint64_t id = 0;
	int rc;

	if (s->write) {
		kv_txn_set_durability(s->txn, d);
		id = kv_txn_id(s->txn);
		atomic_store(&own_base[id % OWN_RING], kv_txn_base_id(s->txn));
		atomic_store(&own_ring[id % OWN_RING], id);
	}
	rc = kv_txn_commit(s->txn);
	s->txn = NULL;
	if (rc != 0 && id != 0)
		atomic_store(&own_ring[id % OWN_RING], 0);
	return kv_to_errno(rc);
}

void stx_abort(struct stx *s)
{
	if (s->txn)
		kv_txn_abort(s->txn);
	s->txn = NULL;
}

int stx_table(struct stx *s, const char *name, kv_table **out)
{
	for (int i = 0; i < STORE_NTABLES; i++) {
		if (strcmp(table_names[i], name) != 0)
			continue;
		if (s->tables[i] == NULL) {
			int rc = kv_table_open(s->txn, name,
			                       s->write ? KV_TABLE_CREATE : 0,
			                       &s->tables[i]);
			if (rc != 0)
				return kv_to_errno(rc);
		}
		*out = s->tables[i];
		return 0;
	}
	return -EINVAL;
}

/* ---- nodes ------------------------------------------------------------ */

void node_release(struct node *n)
{
	free(n->xattrs);
	n->xattrs = NULL;
	n->xlen = 0;
	n->nxattr = 0;
}

int64_t node_time_of(struct timespec ts)
{
	const int64_t max_sec = INT64_MAX / 1000000000 - 1;
	int64_t sec = (int64_t)ts.tv_sec;

	/* tv_nsec is 0..999999999 (the kernel checks utimensat's) */
	if (sec > max_sec)
		return INT64_MAX;
	if (sec < -max_sec)
		return INT64_MIN;
	return sec * 1000000000 + ts.tv_nsec;
}

struct timespec node_timespec(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000;
	}
	return ts;
}

void node_fresh(struct node *n, uint32_t mode, uint32_t uid, uint32_t gid)
{
	int64_t t = clock_real_ns();

	memset(n, 0, sizeof(*n));
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	n->atime = n->mtime = n->ctime = n->crtime = t;
}

int node_decode(const void *data, size_t len, struct node *n)
{
	const unsigned char *p = data;

	memset(n, 0, sizeof(*n));
	if (len < NODE_HDR || get32(p) != NODE_MAGIC)
		return -EIO;
	n->mode = get32(p + 4);
	n->uid = get32(p + 8);
	n->gid = get32(p + 12);
	n->size = get64(p + 16);
	n->atime = (int64_t)get64(p + 24);
	n->mtime = (int64_t)get64(p + 32);
	n->ctime = (int64_t)get64(p + 40);
	n->crtime = (int64_t)get64(p + 48);
	n->txnid = get64(p + 56);
	n->nxattr = get32(p + 64);
	n->xlen = len - NODE_HDR;
	if (n->xlen) {
		n->xattrs = malloc(n->xlen);
		if (n->xattrs == NULL)
			return -ENOMEM;
		memcpy(n->xattrs, p + NODE_HDR, n->xlen);
	}
	return 0;
}

size_t node_encoded_len(const struct node *n)
{
	return NODE_HDR + n->xlen;
}

void node_encode(const struct node *n, unsigned char *buf)
{
	put32(buf, NODE_MAGIC);
	put32(buf + 4, n->mode);
	put32(buf + 8, n->uid);
	put32(buf + 12, n->gid);
	put64(buf + 16, n->size);
	put64(buf + 24, (uint64_t)n->atime);
	put64(buf + 32, (uint64_t)n->mtime);
	put64(buf + 40, (uint64_t)n->ctime);
	put64(buf + 48, (uint64_t)n->crtime);
	put64(buf + 56, n->txnid);
	put32(buf + 64, n->nxattr);
	put32(buf + 68, 0);
	if (n->xlen)
		memcpy(buf + NODE_HDR, n->xattrs, n->xlen);
}

/* ---- xattrs ----------------------------------------------------------- */

/* Walk the xattr list; returns the offset of the entry named name or
 * -ENODATA, and its total size in *entry_len. */
static long xattr_find(const struct node *n, const char *name,
                       size_t *entry_len, const unsigned char **val,
                       size_t *vlen)
{
	size_t off = 0, nl = strlen(name);

	for (uint32_t i = 0; i < n->nxattr && off + 6 <= n->xlen; i++) {
		const unsigned char *p = n->xattrs + off;
		size_t klen = (size_t)p[0] | (size_t)p[1] << 8;
		size_t l = get32(p + 2);

		if (off + 6 + klen + l > n->xlen)
			break;
		if (klen == nl && memcmp(p + 6, name, nl) == 0) {
			*entry_len = 6 + klen + l;
			*val = p + 6 + klen;
			*vlen = l;
			return (long)off;
		}
		off += 6 + klen + l;
	}
	return -ENODATA;
}

int node_xattr_get(const struct node *n, const char *name, const void **val,
                   size_t *len)
{
	size_t el;
	const unsigned char *v;
	long off = xattr_find(n, name, &el, &v, len);

	if (off < 0)
		return (int)off;
	*val = v;
	return 0;
}

int node_xattr_remove(struct node *n, const char *name)
{
	size_t el, vl;
	const unsigned char *v;
	long off = xattr_find(n, name, &el, &v, &vl);

	if (off < 0)
		return (int)off;
	memmove(n->xattrs + off, n->xattrs + off + el,
	        n->xlen - (size_t)off - el);
	n->xlen -= el;
	n->nxattr--;
	return 0;
}

int node_xattr_set(struct node *n, const char *name, const void *val,
                   size_t len, int flags)
{
	size_t el, vl, nl = strlen(name);
	const unsigned char *v;
	long off = xattr_find(n, name, &el, &v, &vl);
	unsigned char *nb;

	if (off >= 0 && (flags & XATTR_CREATE))
		return -EEXIST;
	if (off < 0 && (flags & XATTR_REPLACE))
		return -ENODATA;
	if (nl > 255 || len > 65536)
		return -ERANGE;
	if (off >= 0)
		node_xattr_remove(n, name);
	nb = realloc(n->xattrs, n->xlen + 6 + nl + len);
	if (nb == NULL)
		return -ENOMEM;
	n->xattrs = nb;
	nb += n->xlen;
	nb[0] = (unsigned char)nl;
	nb[1] = (unsigned char)(nl >> 8);
	put32(nb + 2, (uint32_t)len);
	memcpy(nb + 6, name, nl);
	if (len)
		memcpy(nb + 6 + nl, val, len);
	n->xlen += 6 + nl + len;
	n->nxattr++;
	return 0;
}

int node_xattr_each(const struct node *n,
                    int (*fn)(void *ctx, const char *name, size_t len),
                    void *ctx)
{
	size_t off = 0;
	char name[256];

	for (uint32_t i = 0; i < n->nxattr && off + 6 <= n->xlen; i++) {
		const unsigned char *p = n->xattrs + off;
		size_t klen = (size_t)p[0] | (size_t)p[1] << 8;
		size_t l = get32(p + 2);
		int rc;

		if (off + 6 + klen + l > n->xlen || klen > 255)
			return -EIO;
		memcpy(name, p + 6, klen);
		name[klen] = '\0';
		rc = fn(ctx, name, klen);
		if (rc != 0)
			return rc;
		off += 6 + klen + l;
	}
	return 0;
}

/* ---- node and content access ----------------------------------------- */

static int node_key(const char *path, char *buf, size_t n, kv_val *key)
{
	int len = pm_node_key(buf, n, path);

	if (len < 0)
		return len;
	key->data = buf;
	key->len = (size_t)len;
	return 0;
}

/* The root's owner and times until they are set: the owner and the
 * creation time of the store's first kind folder (made at init). */
static void root_owner_times(struct stx *s, struct node *n)
{
	struct node k;

	n->uid = n->gid = 0;
	n->atime = n->mtime = n->ctime = n->crtime = 0;
	for (int i = 0; i < PM_NKINDS; i++) {
		if (store_node_get(s, pm_kind_name(i), &k) != 0)
			continue;
		n->uid = k.uid;
		n->gid = k.gid;
		n->atime = n->mtime = n->ctime = n->crtime = k.crtime;
		node_release(&k);
		return;
	}
}

int store_node_get(struct stx *s, const char *path, struct node *n)
{
	char kb[PM_PATH_MAX + 2];
	kv_val key, val;
	kv_table *t = NULL;
	int rc;

	rc = node_key(path, kb, sizeof(kb), &key);
	if (rc == 0)
		rc = stx_table(s, PM_TABLE_NODES, &t);
	if (rc == 0)
		rc = kv_to_errno(kv_get(s->txn, t, key, &val));
	if (rc == -ENOENT && *path == '\0') {
		node_fresh(n, S_IFDIR | 0755, 0, 0);
		root_owner_times(s, n);
		return 0;
	}
	if (rc != 0)
		return rc;
	rc = node_decode(val.data, val.len, n);
	if (rc == 0 && *path == '\0') {
		/* the root is a folder, whatever; one stored by an older
		 * version (an xattr set on the root) has root's ids and
		 * times of 0 */
		n->mode = S_IFDIR | (n->mode & 07777);
		if (n->mtime == 0 && n->ctime == 0 && n->crtime == 0)
			root_owner_times(s, n);
	}
	return rc;
}

int store_touch_parent(struct stx *s, const char *path, int64_t now)
{
	char parent[PM_PATH_MAX + 1];
	size_t pl = pm_parent_len(path);
	struct node n;
	int rc;

	if (pl == 0)
		return 0;
	if (pl > PM_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	rc = store_node_get(s, parent, &n);
	if (rc != 0)
		return rc;
	n.mtime = n.ctime = now;
	rc = store_node_put(s, parent, &n);
	node_release(&n);
	return rc;
}

int store_touch_parents(struct stx *s, const char *from, const char *to,
                        int64_t now)
{
	size_t fl = pm_parent_len(from);
	int rc = store_touch_parent(s, from, now);

	if (rc == 0 && (fl != pm_parent_len(to) || memcmp(from, to, fl) != 0))
		rc = store_touch_parent(s, to, now);
	return rc;
}

uint64_t store_node_count(struct stx *s)
{
	char kb[2];
	kv_val key, val;
	kv_table *t = NULL;
	uint64_t n;

	if (stx_table(s, PM_TABLE_NODES, &t) != 0)
		return 1;
	n = kv_table_count(t);
	if (node_key("", kb, sizeof(kb), &key) != 0 ||
	    kv_get(s->txn, t, key, &val) != 0)
		n++; /* the root, not stored */
	return n;
}

int store_node_put(struct stx *s, const char *path, const struct node *n)
{
	char kb[PM_PATH_MAX + 2];
	kv_val key, val;
	kv_table *t = NULL;
	unsigned char small[512];
	unsigned char *buf = small;
	size_t len = node_encoded_len(n);
	int rc;

	rc = node_key(path, kb, sizeof(kb), &key);
	if (rc == 0)
		rc = stx_table(s, PM_TABLE_NODES, &t);
	if (rc != 0)
		return rc;
	if (len > sizeof(small)) {
		buf = malloc(len);
		if (buf == NULL)
			return -ENOMEM;
	}
	node_encode(n, buf);
	val.data = buf;
	val.len = len;
	rc = kv_to_errno(kv_put(s->txn, t, key, val, 0));
	if (buf != small)
		free(buf);
	return rc;
}

static bool has_content(uint32_t mode)
{
	return S_ISREG(mode) || S_ISLNK(mode);
}

/* The table and key of the content of a file at path; -EINVAL when path
 * is not below a kind folder. */
static int content_at(struct stx *s, const char *path, uint32_t mode,
                      kv_table **t, kv_val *key)
{
	struct pm_loc loc;
	int rc = pm_content_loc(path, S_ISREG(mode), &loc);

	if (rc == 0)
		rc = stx_table(s, loc.table, t);
	key->data = loc.key;
	key->len = loc.key_len;
	return rc;
}

int store_content_get(struct stx *s, const char *path, uint32_t mode,
                      kv_val *val)
{
	kv_table *t = NULL;
	kv_val key;
	int rc;

	val->data = "";
	val->len = 0;
	rc = content_at(s, path, mode, &t, &key);
	if (rc != 0 || !has_content(mode))
		return rc;
	rc = kv_to_errno(kv_get(s->txn, t, key, val));
	if (rc == -ENOENT) {
		val->data = "";
		val->len = 0;
		rc = 0;
	}
	return rc;
}

/* A regular file whose content is a record, and so has history. */
static bool is_record(const char *path, uint32_t mode)
{
	return S_ISREG(mode) && pm_depth(path) >= 2 &&
	       pm_is_record_name(pm_basename(path));
}

int store_content_put(struct stx *s, const char *path, uint32_t mode,
                      const void *data, size_t len)
{
	kv_table *t = NULL;
	kv_val key, val, old = { NULL, 0 };
	int rc = content_at(s, path, mode, &t, &key);

	if (rc != 0)
		return rc;
	val.data = len ? data : "";
	val.len = len;
	if (!s->no_history && is_record(path, mode)) {
		/* old stays valid: history and references write other
		 * tables */
		rc = kv_to_errno(kv_get(s->txn, t, key, &old));
		if (rc == 0)
			rc = hist_put(s, path, &old, val, NULL);
		else if (rc == -ENOENT)
			rc = hist_put(s, path, NULL, val, NULL);
		if (rc == 0)
			rc = refs_update(s, path, old.data, old.len, val.data,
			                 val.len);
		if (rc != 0)
			return rc;
	}
	return kv_to_errno(kv_put(s->txn, t, key, val, 0));
}

static int content_del(struct stx *s, const char *path, uint32_t mode)
{
	kv_table *t = NULL;
	kv_val key;
	int rc;

	if (!has_content(mode))
		return 0;
	rc = content_at(s, path, mode, &t, &key);
	if (rc == -EINVAL)
		return 0; /* not below a kind folder: no content */
	if (rc != 0)
		return rc;
	rc = kv_to_errno(kv_del(s->txn, t, key));
	return rc == -ENOENT ? 0 : rc;
}

int store_remove(struct stx *s, const char *path, uint32_t mode)
{
	char kb[PM_PATH_MAX + 2];
	kv_val key;
	kv_table *t = NULL;
	int rc = 0;

	if (!s->no_history && is_record(path, mode)) {
		kv_val old;

		rc = store_content_get(s, path, mode, &old);
		if (rc == 0)
			rc = hist_remove(s, path, old, NULL);
		if (rc == 0)
			rc = refs_update(s, path, old.data, old.len, NULL, 0);
	}
	if (rc == 0)
		rc = content_del(s, path, mode);
	if (rc == 0)
		rc = node_key(path, kb, sizeof(kb), &key);
	if (rc == 0)
		rc = stx_table(s, PM_TABLE_NODES, &t);
	if (rc == 0)
		rc = kv_to_errno(kv_del(s->txn, t, key));
	return rc;
}

/* ---- listing ----------------------------------------------------------- */

int store_scan(struct stx *s, const char *table, const void *prefix,
               size_t plen, int (*fn)(void *ctx, kv_val key, kv_val val),
               void *ctx)
{
	kv_table *t = NULL;
	kv_cursor *c;
	kv_val seek = { prefix, plen }, k, v;
	int rc = stx_table(s, table, &t);

	if (rc != 0)
		return rc == -ENOENT ? 0 : rc;
	rc = kv_to_errno(kv_cursor_open(s->txn, t, &c));
	if (rc != 0)
		return rc;
	rc = plen ? kv_cursor_seek(c, seek, &k, &v)
	          : kv_cursor_first(c, &k, &v);
	while (rc == 0) {
		if (k.len < plen ||
		    (plen > 0 && memcmp(k.data, prefix, plen) != 0))
			break;
		rc = fn(ctx, k, v);
		if (rc != 0)
			break;
		rc = kv_cursor_next(c, &k, &v);
	}
	kv_cursor_close(c);
	if (rc == KV_ENOTFOUND)
		rc = 0;
	return kv_to_errno(rc);
}

/* The node keys that start with prefix (plen bytes). */
static int scan_prefix(struct stx *s, const char *prefix, size_t plen,
                       int (*fn)(void *ctx, kv_val key, kv_val val), void *ctx)
{
	return store_scan(s, PM_TABLE_NODES, prefix, plen, fn, ctx);
}

static int stop_at_first(void *ctx, kv_val key, kv_val val)
{
	(void)key;
	(void)val;
	*(int *)ctx = 1;
	return 1;
}

int store_has_children(struct stx *s, const char *dir)
{
	char pb[PM_PATH_MAX + 2];
	int found = 0;
	int plen = pm_child_prefix(pb, sizeof(pb), dir);
	int rc;

	if (plen < 0)
		return plen;
	rc = scan_prefix(s, pb, (size_t)plen, stop_at_first, &found);
	if (rc < 0)
		return rc;
	return found;
}

struct list_ctx {
	size_t plen;
	int (*fn)(void *ctx, const char *name, const struct node *n);
	void *ctx;
};

static int list_one(void *ctx, kv_val key, kv_val val)
{
	struct list_ctx *lc = ctx;
	char name[PM_NAME_MAX + 1];
	size_t nl = key.len - lc->plen;
	struct node n;
	int rc;

	if (nl == 0 || nl > PM_NAME_MAX)
		return 0; /* not a child entry: skip */
	memcpy(name, (const char *)key.data + lc->plen, nl);
	name[nl] = '\0';
	rc = node_decode(val.data, val.len, &n);
	if (rc != 0)
		return rc;
	rc = lc->fn(lc->ctx, name, &n);
	node_release(&n);
	return rc;
}

int store_list(struct stx *s, const char *dir,
               int (*fn)(void *ctx, const char *name, const struct node *n),
               void *ctx)
{
	char pb[PM_PATH_MAX + 2];
	int plen = pm_child_prefix(pb, sizeof(pb), dir);
	struct list_ctx lc;

	if (plen < 0)
		return plen;
	lc.plen = (size_t)plen;
	lc.fn = fn;
	lc.ctx = ctx;
	return scan_prefix(s, pb, (size_t)plen, list_one, &lc);
}

/* ---- subtrees ---------------------------------------------------------- */

void subtree_release(struct subtree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].rel);
		node_release(&t->e[i].node);
		free(t->e[i].data);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static int subtree_add(struct stx *s, struct subtree *t, const char *root,
                       const char *path)
{
	struct subtree_entry *e;
	size_t rl = strlen(root);
	kv_val v;
	int rc;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct subtree_entry *ne = realloc(t->e, cap * sizeof(*ne));

		if (ne == NULL)
			return -ENOMEM;
		t->e = ne;
		t->cap = cap;
	}
	e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	e->rel = strdup(path[rl] == '/' ? path + rl + 1 : path + rl);
	if (e->rel == NULL)
		return -ENOMEM;
	t->n++;
	rc = store_node_get(s, path, &e->node);
	if (rc != 0)
		return rc;
	if (!has_content(e->node.mode))
		return 0;
	rc = store_content_get(s, path, e->node.mode, &v);
	if (rc != 0)
		return rc;
	e->len = v.len;
	e->data = malloc(v.len ? v.len : 1);
	if (e->data == NULL)
		return -ENOMEM;
	if (v.len)
		memcpy(e->data, v.data, v.len);
	return 0;
}

struct collect_ctx {
	char **paths;
	size_t n, cap;
};

static int collect_key(void *ctx, kv_val key, kv_val val)
{
	struct collect_ctx *cc = ctx;
	char path[PM_PATH_MAX + 2];
	int rc = pm_node_key_to_path(path, sizeof(path), key.data, key.len);

	(void)val;
	if (rc < 0)
		return 0;
	if (cc->n == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 16;
		char **np = realloc(cc->paths, cap * sizeof(*np));

		if (np == NULL)
			return -ENOMEM;
		cc->paths = np;
		cc->cap = cap;
	}
	cc->paths[cc->n] = strdup(path);
	if (cc->paths[cc->n] == NULL)
		return -ENOMEM;
	cc->n++;
	return 0;
}

int store_subtree_load(struct stx *s, const char *path, struct subtree *t)
{
	struct collect_ctx cc = { 0 };
	char pb[PM_PATH_MAX + 2];
	size_t pl = strlen(path);
	int rc;

	rc = subtree_add(s, t, path, path);
	if (rc != 0 || !S_ISDIR(t->e[0].node.mode))
		return rc;
	/* Descendants: direct children ("path\0...") and deeper entries,
	 * whose node keys start with "path/". */
	if (pl + 1 >= sizeof(pb))
		return -ENAMETOOLONG;
	memcpy(pb, path, pl);
	pb[pl] = '\0';
	rc = scan_prefix(s, pb, pl + 1, collect_key, &cc);
	pb[pl] = '/';
	if (rc == 0)
		rc = scan_prefix(s, pb, pl + 1, collect_key, &cc);
	for (size_t i = 0; i < cc.n; i++) {
		if (rc == 0)
			rc = subtree_add(s, t, path, cc.paths[i]);
		free(cc.paths[i]);
	}
	free(cc.paths);
	return rc;
}

static int sub_path(char *buf, size_t n, const char *root, const char *rel)
{
	size_t rl = strlen(root), l = strlen(rel);
	size_t len = rl + (l ? 1 + l : 0); /* no '/' before an empty rel */

	if (len + 1 > n || len > PM_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, root, rl);
	if (l) {
		buf[rl] = '/';
		memcpy(buf + rl + 1, rel, l + 1);
	} else {
		buf[rl] = '\0';
	}
	return 0;
}

int store_subtree_delete(struct stx *s, const char *path,
                         const struct subtree *t)
{
	char p[PM_PATH_MAX + 2];

	for (size_t i = t->n; i-- > 0;) {
		int rc = sub_path(p, sizeof(p), path, t->e[i].rel);

		if (rc == 0)
			rc = store_remove(s, p, t->e[i].node.mode);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int store_subtree_write(struct stx *s, const char *path,
                        const struct subtree *t)
{
	char p[PM_PATH_MAX + 2];

	for (size_t i = 0; i < t->n; i++) {
		const struct subtree_entry *e = &t->e[i];
		int rc = sub_path(p, sizeof(p), path, e->rel);

		if (rc == 0)
			rc = store_node_put(s, p, &e->node);
		if (rc == 0 && has_content(e->node.mode))
			rc = store_content_put(s, p, e->node.mode, e->data,
			                       e->len);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * The history of the records of a moved subtree (history.h), in two
 * passes over every moved entry, while the entries are still in place:
 * the first ends what leaves (a record that becomes a side file, or one
 * moved onto a record, which keeps its own history) and detaches each
 * record's history; the second attaches them at their new paths and
 * gives a record whose content arrives from a side file its new version.
 * replaced: the content of the record the move replaces (the subtree's
 * root only), or NULL.
 */
static int carry_history(struct stx *s, const char *from, const char *to,
                         const struct subtree *t, const kv_val *replaced,
                         struct hist_slot **slots, int pass)
{
	char f[PM_PATH_MAX + 2], g[PM_PATH_MAX + 2];

	for (size_t i = 0; i < t->n; i++) {
		const struct subtree_entry *e = &t->e[i];
		const kv_val *rep = *e->rel == '\0' ? replaced : NULL;
		kv_val c = { e->len ? e->data : "", e->len };
		bool rf, rg;
		int rc = sub_path(f, sizeof(f), from, e->rel);

		if (rc == 0)
			rc = sub_path(g, sizeof(g), to, e->rel);
		if (rc != 0)
			return rc;
		rf = is_record(f, e->node.mode);
		rg = is_record(g, e->node.mode);
		if (pass == 1 && rf && rg && rep) {
			rc = hist_put(s, g, rep, c, f);
			if (rc == 0)
				rc = hist_remove(s, f, c, g);
		} else if (pass == 1 && rf && rg) {
			rc = hist_detach(s, f, &slots[i]);
		} else if (pass == 1 && rf) {
			rc = hist_remove(s, f, c, g);
		} else if (pass == 2 && rf && rg && !rep) {
			rc = hist_attach(s, g, slots[i], f);
		} else if (pass == 2 && !rf && rg) {
			rc = hist_put(s, g, rep, c, NULL);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * The references the records of a moved subtree make (refs.h) come from
 * their new paths: in pass 1 every source's go, in pass 2 every
 * destination's come, so that an exchange's two sides never undo each
 * other.  The record the move replaces (replaced: the move is then of one
 * file, the root entry) goes in pass 2, in the one update of its path, so
 * that the references it and the arriving text share stay as they are (a
 * save by rename mostly keeps them all).
 */
static int carry_refs(struct stx *s, const char *from, const char *to,
                      const struct subtree *t, const kv_val *replaced, int pass)
{
	char f[PM_PATH_MAX + 2], g[PM_PATH_MAX + 2];
	int rc = 0;

	for (size_t i = 0; i < t->n && rc == 0; i++) {
		const struct subtree_entry *e = &t->e[i];
		const kv_val *old = e->rel[0] ? NULL : replaced;
		bool arrives;

		rc = sub_path(f, sizeof(f), from, e->rel);
		if (rc == 0)
			rc = sub_path(g, sizeof(g), to, e->rel);
		if (rc != 0)
			break;
		if (pass == 1 && is_record(f, e->node.mode))
			rc = refs_update(s, f, e->data, e->len, NULL, 0);
		arrives = is_record(g, e->node.mode);
		if (pass == 2 && (old || arrives))
			rc = refs_update(s, g, old ? old->data : NULL,
			                 old ? old->len : 0,
			                 arrives ? e->data : NULL,
			                 arrives ? e->len : 0);
	}
	return rc;
}

static void slots_free(struct hist_slot **slots, size_t n)
{
	for (size_t i = 0; slots && i < n; i++)
		hist_slot_free(slots[i]);
	free(slots);
}

int store_subtree_move(struct stx *s, const char *from, const char *to,
                       const struct subtree *t, uint32_t dst_mode)
{
	struct hist_slot **slots = calloc(t->n ? t->n : 1, sizeof(*slots));
	kv_val rep;
	bool replaced = false;
	int rc = slots ? 0 : -ENOMEM;

	if (rc == 0 && dst_mode != 0 && is_record(to, dst_mode)) {
		rc = store_content_get(s, to, dst_mode, &rep);
		replaced = true;
	}
	if (rc == 0 && !s->no_history)
		rc = carry_history(s, from, to, t, replaced ? &rep : NULL,
		                   slots, 1);
	if (rc == 0 && !s->no_history)
		rc = carry_history(s, from, to, t, replaced ? &rep : NULL,
		                   slots, 2);
	for (int pass = 1; pass <= 2 && rc == 0 && !s->no_history; pass++)
		rc = carry_refs(s, from, to, t, replaced ? &rep : NULL, pass);
	/* rep pointed into the record table, which changes now */
	s->no_history = true;
	if (rc == 0 && dst_mode != 0)
		rc = store_remove(s, to, dst_mode);
	if (rc == 0)
		rc = store_subtree_delete(s, from, t);
	if (rc == 0)
		rc = store_subtree_write(s, to, t);
	s->no_history = false;
	slots_free(slots, t->n);
	return rc;
}

int store_subtree_exchange(struct stx *s, const char *a, const char *b,
                           const struct subtree *ta, const struct subtree *tb)
{
	struct hist_slot **sa = calloc(ta->n ? ta->n : 1, sizeof(*sa));
	struct hist_slot **sb = calloc(tb->n ? tb->n : 1, sizeof(*sb));
	int rc = sa && sb ? 0 : -ENOMEM;

	for (int pass = 1; pass <= 2 && rc == 0 && !s->no_history; pass++) {
		rc = carry_history(s, a, b, ta, NULL, sa, pass);
		if (rc == 0)
			rc = carry_history(s, b, a, tb, NULL, sb, pass);
	}
	for (int pass = 1; pass <= 2 && rc == 0 && !s->no_history; pass++) {
		rc = carry_refs(s, a, b, ta, NULL, pass);
		if (rc == 0)
			rc = carry_refs(s, b, a, tb, NULL, pass);
	}
	s->no_history = true;
	if (rc == 0)
		rc = store_subtree_delete(s, a, ta);
	if (rc == 0)
		rc = store_subtree_delete(s, b, tb);
	if (rc == 0)
		rc = store_subtree_write(s, b, ta);
	if (rc == 0)
		rc = store_subtree_write(s, a, tb);
	s->no_history = false;
	slots_free(sa, ta->n);
	slots_free(sb, tb->n);
	return rc;
}

/* ---- comparing and restoring trees ---------------------------------------- */

int store_table_diff(kv_txn *a, kv_txn *b, const char *name,
                     int (*fn)(void *ctx, kv_val key, kv_val va, kv_val vb),
                     void *ctx)
{
	/* the engine's walk: subtrees both sides share are never read */
	return kv_to_errno(kv_table_diff(a, b, name, fn, ctx, NULL));
}

/* One entry that a restore changes: the snapshot's value (val NULL: the
 * entry goes), copied out of the snapshot's map. */
struct restore_change {
	int table;
	void *key, *val;
	size_t klen, vlen;
	bool live; /* the live tree has the entry */
};

struct restore_list {
	int table;
	struct restore_change *v;
	size_t n, cap;
};

static int restore_note(void *ctx, kv_val key, kv_val live, kv_val snap)
{
	struct restore_list *rl = ctx;
	struct restore_change *c;

	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? 2 * rl->cap : 64;
		struct restore_change *v = realloc(rl->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		rl->v = v;
		rl->cap = cap;
	}
	c = &rl->v[rl->n];
	c->table = rl->table;
	c->live = live.data != NULL;
	c->klen = key.len;
	c->vlen = snap.len;
	c->key = malloc(key.len);
	c->val = snap.data ? malloc(snap.len ? snap.len : 1) : NULL;
	if (c->key == NULL || (snap.data && c->val == NULL)) {
		free(c->key);
		free(c->val);
		return -ENOMEM;
	}
	memcpy(c->key, key.data, key.len);
	if (snap.data)
		memcpy(c->val, snap.data, snap.len);
	rl->n++;
	return 0;
}

/* The versions a restore makes: before any table changes, so that the
 * replaced contents and their nodes are still in place. */
static int restore_history(struct stx *s, const struct restore_change *c)
{
	char path[PM_PATH_MAX + 1];
	const char *kind = table_names[c->table];
	size_t kl = strlen(kind);
	kv_table *t;
	kv_val key = { c->key, c->klen }, old, new = { c->val, c->vlen };
	int rc;

	if (c->table >= PM_NKINDS || kl + 1 + c->klen > PM_PATH_MAX)
		return 0;
	memcpy(path, kind, kl);
	path[kl] = '/';
	memcpy(path + kl + 1, c->key, c->klen);
	path[kl + 1 + c->klen] = '\0';
	if (!pm_is_record_name(pm_basename(path)))
		return 0;
	rc = stx_table(s, kind, &t);
	if (rc == 0 && c->live)
		rc = kv_to_errno(kv_get(s->txn, t, key, &old));
	if (rc != 0)
		return rc;
	if (c->val == NULL) {
		rc = hist_remove(s, path, old, NULL);
		return rc != 0 ? rc
		               : refs_update(s, path, old.data, old.len, NULL,
		                             0);
	}
	rc = hist_put(s, path, c->live ? &old : NULL, new, NULL);
	if (rc == 0)
		rc = refs_update(s, path, c->live ? old.data : NULL,
		                 c->live ? old.len : 0, new.data, new.len);
	return rc;
}

int store_restore(struct stx *s, struct stx *from)
{
	struct restore_list rl = { 0 };
	int rc = 0;

	/* every table of the tree, not the history's */
	for (int i = 0; i < PM_NKINDS + 2 && rc == 0; i++) {
		rl.table = i;
		rc = store_table_diff(s->txn, from->txn, table_names[i],
		                      restore_note, &rl);
	}
	for (size_t i = 0; i < rl.n && rc == 0 && !s->no_history; i++)
		rc = restore_history(s, &rl.v[i]);
	for (size_t i = 0; i < rl.n && rc == 0; i++) {
		const struct restore_change *c = &rl.v[i];
		kv_val key = { c->key, c->klen }, val = { c->val, c->vlen };
		kv_table *t;

		rc = stx_table(s, table_names[c->table], &t);
		if (rc == 0 && c->val)
			rc = kv_to_errno(kv_put(s->txn, t, key, val, 0));
		else if (rc == 0)
			rc = kv_to_errno(kv_del(s->txn, t, key));
	}
	for (size_t i = 0; i < rl.n; i++) {
		free(rl.v[i].key);
		free(rl.v[i].val);
	}
	free(rl.v);
	return rc;
}

/* ---- init -------------------------------------------------------------- */

int store_init(kv_env *env, uint32_t uid, uint32_t gid)
{
	struct stx s;
	kv_table *t = NULL;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	for (int i = 0; i < STORE_NTABLES && rc == 0; i++)
		rc = stx_table(&s, table_names[i], &t);
	for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
		struct node n;

		rc = store_node_get(&s, pm_kind_name(k), &n);
		if (rc == 0) {
			node_release(&n);
			continue;
		}
		if (rc != -ENOENT)
			break;
		node_fresh(&n, S_IFDIR | 0755, uid, gid);
		rc = store_node_put(&s, pm_kind_name(k), &n);
	}
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

int store_make_folder(const char *db)
{
	char *dir = strdup(db), *slash;
	int rc = 0;

	if (dir == NULL)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir) {
		free(dir);
		return 0; /* the current folder, or / */
	}
	*slash = '\0';
	/* each missing parent, then the folder itself */
	for (char *p = dir + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		bool last = *p == '\0';

		*p = '\0';
		if (mkdir(dir, last ? 0700 : 0777) != 0 && errno != EEXIST)
			rc = -errno;
		if (last)
			break;
		*p = '/';
	}
	free(dir);
	return rc;
}

int store_open(const char *db, int flags, kv_env **env, enum store_step *failed)
{
	enum store_step step = STORE_STEP_OPEN;
	int rc = kv_env_open(env, db, flags, 0600);
	size_t len = strlen(db);

	/* kv's message on the lock file starts "DB-lock: " (kv.h) */
	if (rc != 0 && strncmp(kv_errmsg(), db, len) == 0 &&
	    strncmp(kv_errmsg() + len, KV_LOCK_SUFFIX ": ",
	            strlen(KV_LOCK_SUFFIX ": ")) == 0)
		step = STORE_STEP_LOCK;
	if (rc == 0 && (flags & KV_CREATE)) {
		step = STORE_STEP_INIT;
		rc = store_init(*env, getuid(), getgid());
		if (rc != 0)
			kv_env_close(*env);
	}
	if (rc != 0) {
		*env = NULL;
		if (failed)
			*failed = step;
	}
	return rc;
}
