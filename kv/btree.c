/*
 * btree.c: copy-on-write B+tree search, insert, delete, split and merge.
 *
 * Pages are slotted (see format.h): a header, an array of 16-bit node
 * offsets in key order, and node bytes packed against the end of the page.
 * Every change copies the path from the root to the leaf into the write
 * transaction (page_touch), so the committed tree is never modified.
 *
 * Splits divide a page's bytes evenly, except when appending at the right
 * edge (KV_APPEND, or any insert past the last key), where the new node
 * alone goes right and the left page stays full; sorted loads therefore
 * fill pages completely.  Leaf splits push up the shortest prefix of the
 * right page's first key that still separates the halves.  A page that
 * falls below a quarter full is merged with a sibling when both fit in
 * one page.  Values too big for a leaf node live in overflow runs:
 * contiguous pages, so a value is one contiguous range of the map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

#define PAGE_ROOM (KV_PAGE_SIZE - PH_SIZE) /* bytes for offsets and nodes */
/* nodes a page can hold, +1 */
#define MAX_NODES (PAGE_ROOM / (LN_HDR + 1 + 2) + 2)

int key_cmp(kv_val a, kv_val b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.data, b.data, n) : 0;

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/*
 * Readers trust checksummed pages for speed but never leave a page, even a
 * damaged one whose checksum was made to match: the node count is clamped
 * to what the slot array can hold, and a node offset past the end of the
 * page gives the header area instead (whose garbage the bounds checks in
 * node_key and leaf_value, and page_get for children, then reject).
 */
#define MAX_SLOTS ((KV_PAGE_SIZE - PH_SIZE) / 2)

uint16_t page_nkeys(const uint8_t *page)
{
	uint16_t n = get16(page + PH_NKEYS);

	return n <= MAX_SLOTS ? n : (uint16_t)MAX_SLOTS;
}

const uint8_t *node_at(const uint8_t *page, int i)
{
	size_t off = get16(page + PH_SIZE + 2 * (size_t)i);
	size_t hdr = get16(page + PH_TYPE) == PT_LEAF ? LN_HDR : BN_HDR;

	return page + (off + hdr <= KV_PAGE_SIZE ? off : PH_SIZE);
}

static bool is_leaf(const uint8_t *page)
{
	return get16(page + PH_TYPE) == PT_LEAF;
}

static size_t leaf_node_size(const uint8_t *n)
{
	size_t k = get16(n + LN_KLEN);
	return LN_HDR + k +
	       ((n[LN_FLAGS] & LN_BIG) ? LN_BIGREF : get32(n + LN_VLEN));
}

static size_t branch_node_size(const uint8_t *n)
{
	return BN_HDR + get16(n + BN_KLEN);
}

static size_t node_size(const uint8_t *page, const uint8_t *n)
{
	return is_leaf(page) ? leaf_node_size(n) : branch_node_size(n);
}

/* Check a page's slot array and node bounds before using it. */
int page_check_nodes(const uint8_t *p, uint64_t pgno)
{
	uint16_t type = get16(p + PH_TYPE), n = get16(p + PH_NKEYS), i;

	if (type != PT_LEAF && type != PT_BRANCH)
		return KV_CORRUPT(pgno, "not a tree page");
	if ((size_t)PH_SIZE + 2u * n > KV_PAGE_SIZE)
		return KV_CORRUPT(pgno, "node count");
	for (i = 0; i < n; i++) {
		size_t off = get16(p + PH_SIZE + 2 * i);
		size_t hdr = type == PT_LEAF ? LN_HDR : BN_HDR;
		if (off < PH_SIZE + 2u * n || off + hdr > KV_PAGE_SIZE)
			return KV_CORRUPT(pgno, "node offset");
		if (off + node_size(p, p + off) > KV_PAGE_SIZE)
			return KV_CORRUPT(pgno, "node length");
	}
	return 0;
}

/* The key of a node outside any page (split buffers): trusted bytes. */
static kv_val node_key_raw(bool leaf, const uint8_t *n)
{
	kv_val k;

	k.len = get16(n + (leaf ? LN_KLEN : BN_KLEN));
	k.data = n + (leaf ? LN_HDR : BN_HDR);
	return k;
}

/*
 * A node's key.  Reads never leave the page even when the page is damaged:
 * lengths are clamped to the page end (the checker and recovery report
 * such pages; pages are fully validated before a writer changes them).
 */
static kv_val node_key(const uint8_t *page, const uint8_t *n)
{
	size_t off = (size_t)(n - page), hdr, room;
	kv_val k;

	hdr = is_leaf(page) ? LN_HDR : BN_HDR;
	if (off + hdr > KV_PAGE_SIZE) {
		k.len = 0;
		k.data = page;
		return k;
	}
	room = KV_PAGE_SIZE - off - hdr;
	k.len = get16(n + (hdr == LN_HDR ? LN_KLEN : BN_KLEN));
	k.data = n + hdr;
	if (k.len > room)
		k.len = room;
	return k;
}

int leaf_key(const uint8_t *page, int i, kv_val *key)
{
	*key = node_key(page, node_at(page, i));
	return 0;
}

int leaf_value(kv_txn *txn, const uint8_t *page, int i, kv_val *val)
{
	const uint8_t *n = node_at(page, i);
	size_t k = get16(n + LN_KLEN);
	uint32_t vlen = get32(n + LN_VLEN);

	size_t off = (size_t)(n - page);

	if (off + LN_HDR + k > KV_PAGE_SIZE)
		return KV_CORRUPT(get64(page + PH_PGNO),
		                  "leaf node out of page");
	if (n[LN_FLAGS] & LN_BIG) {
		if (off + LN_HDR + k + LN_BIGREF > KV_PAGE_SIZE)
			return KV_CORRUPT(get64(page + PH_PGNO),
			                  "leaf node out of page");
		uint64_t pg = get64(n + LN_HDR + k);
		const uint8_t *o = page_get(txn, pg);
		uint64_t np;
		if (o == NULL)
			return KV_ECORRUPT;
		np = get32(o + PH_EXTRA);
		if (get16(o + PH_TYPE) != PT_OVERFLOW || np == 0 ||
		    (uint64_t)vlen + PH_SIZE > np * KV_PAGE_SIZE ||
		    (!page_is_dirty(txn, pg) && pg + np > txn->st.next_pgno))
			return KV_CORRUPT(pg, "bad overflow page");
		val->data = o + PH_SIZE;
		val->len = vlen;
		return 0;
	}
	if (vlen > KV_PAGE_SIZE - off - LN_HDR - k)
		return KV_CORRUPT(get64(page + PH_PGNO),
		                  "leaf value out of page");
	val->data = n + LN_HDR + k;
	val->len = vlen;
	return 0;
}

bool leaf_overflow(const uint8_t *page, int i, struct bigref *ref)
{
	const uint8_t *n = node_at(page, i);
	size_t k = get16(n + LN_KLEN);

	if (!(n[LN_FLAGS] & LN_BIG))
		return false;
	ref->pgno = get64(n + LN_HDR + k);
	ref->txnid = get64(n + LN_HDR + k + 8);
	ref->len = get32(n + LN_VLEN);
	return true;
}

uint64_t branch_child(const uint8_t *page, int i, uint64_t *txn)
{
	const uint8_t *n = node_at(page, i);
	if (txn)
		*txn = get64(n + BN_TXNID);
	return get64(n + BN_PGNO);
}

kv_val branch_key(const uint8_t *page, int i)
{
	return node_key(page, node_at(page, i));
}

static void branch_set_child(uint8_t *page, int i, uint64_t pg, uint64_t tx)
{
	uint8_t *n = (uint8_t *)node_at(page, i);
	put64(n + BN_PGNO, pg);
	put64(n + BN_TXNID, tx);
}

/* Leaf: first index with key >= k.  */
static int leaf_search(const uint8_t *p, kv_val k, bool *exact)
{
	int lo = 0, hi = page_nkeys(p);

	*exact = false;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		int c = key_cmp(node_key(p, node_at(p, mid)), k);
		if (c < 0) {
			lo = mid + 1;
		} else {
			if (c == 0)
				*exact = true;
			hi = mid;
		}
	}
	if (*exact && lo < page_nkeys(p))
		*exact = key_cmp(node_key(p, node_at(p, lo)), k) == 0;
	return lo;
}

/* Branch: the last index i with key_i <= k (node 0 is minus infinity). */
static int branch_search(const uint8_t *p, kv_val k)
{
	int lo = 1, hi = page_nkeys(p);

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (key_cmp(node_key(p, node_at(p, mid)), k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* Read a tree page, checking its header (cheap: on every search). */
static int load_page(kv_txn *txn, uint64_t pgno, const uint8_t **out)
{
	const uint8_t *p = page_get(txn, pgno);
	uint16_t type;

	if (p == NULL)
		return KV_ECORRUPT;
	type = get16(p + PH_TYPE);
	if ((type != PT_LEAF && type != PT_BRANCH) ||
	    (size_t)PH_SIZE + 2u * get16(p + PH_NKEYS) > KV_PAGE_SIZE)
		return KV_CORRUPT(pgno, "not a tree page");
	*out = p;
	return 0;
}

/* Put page pg at level l of the cursor path, *out its contents. */
static int path_load(struct cur *c, int l, uint64_t pg, const uint8_t **out)
{
	int rc;

	if (l >= KV_MAX_DEPTH)
		return KV_CORRUPT(pg, "tree too deep");
	rc = load_page(c->txn, pg, out);
	if (rc != 0)
		return rc;
	c->pg[l] = pg;
	c->pp[l] = *out;
	return 0;
}

/* Descend to the leaf for key, filling the cursor path. */
static int descend(struct cur *c, kv_val key, bool *exact)
{
	uint64_t pg = c->tree->root;
	int l = 0, rc;

	*exact = false;
	c->depth = 0;
	if (!pg)
		return KV_ENOTFOUND;
	for (;;) {
		const uint8_t *p = NULL;
		rc = path_load(c, l, pg, &p);
		if (rc != 0)
			return rc;
		if (is_leaf(p)) {
			c->idx[l] = leaf_search(p, key, exact);
			c->depth = l + 1;
			return 0;
		}
		if (page_nkeys(p) == 0)
			return KV_CORRUPT(pg, "empty branch page");
		c->idx[l] = branch_search(p, key);
		pg = branch_child(p, c->idx[l], NULL);
		l++;
	}
}

/*
 * The descent of an append (KV_APPEND): down the right edge, with one key
 * comparison instead of a binary search per level.  Only when key is above
 * the last key of the last leaf, which is at or above every separator on
 * the edge, so the result is the one descend() gives; 1 when it is not (an
 * empty last leaf, or a key out of order), for descend() to settle.
 */
static int descend_append(struct cur *c, kv_val key)
{
	uint64_t pg = c->tree->root;
	int l, rc, n;

	for (l = 0;; l++) {
		const uint8_t *p = NULL;
		rc = path_load(c, l, pg, &p);
		if (rc != 0)
			return rc;
		n = page_nkeys(p);
		c->idx[l] = n > 0 ? n - 1 : 0;
		if (is_leaf(p))
			break;
		if (n == 0)
			return KV_CORRUPT(pg, "empty branch page");
		pg = branch_child(p, n - 1, NULL);
	}
	c->depth = l + 1;
	if (n == 0 ||
	    key_cmp(node_key(c->pp[l], node_at(c->pp[l], n - 1)), key) >= 0)
		return 1;
	c->idx[l] = n;
	return 0;
}

int bt_get(kv_txn *txn, struct tree *t, kv_val key, kv_val *val)
{
	struct cur c = { .txn = txn, .tree = t };
	bool exact;
	int rc = descend(&c, key, &exact);

	if (rc != 0)
		return rc;
	if (!exact)
		return KV_ENOTFOUND;
	return leaf_value(txn, c.pp[c.depth - 1], c.idx[c.depth - 1], val);
}

/* ---- page building ---------------------------------------------------- */

struct nodev {
	const uint8_t *p;
	size_t len;
};

static size_t page_used(const uint8_t *p)
{
	return (size_t)(KV_PAGE_SIZE - get32(p + PH_EXTRA)) +
	       2u * page_nkeys(p);
}

static void page_build(uint8_t *p, uint16_t type, const struct nodev *v, int n)
{
	size_t upper = KV_PAGE_SIZE;
	int i;

	put16(p + PH_TYPE, type);
	put16(p + PH_NKEYS, (uint16_t)n);
	for (i = 0; i < n; i++) {
		upper -= v[i].len;
		memcpy(p + upper, v[i].p, v[i].len);
		put16(p + PH_SIZE + 2 * i, (uint16_t)upper);
	}
	put32(p + PH_EXTRA, (uint32_t)upper);
	/* clear the gap so pages are deterministic */
	memset(p + PH_SIZE + 2 * n, 0, upper - (PH_SIZE + 2u * n));
}

/* Insert one node into a page if it fits; 1 if it did not. */
static int node_insert(uint8_t *p, int i, const uint8_t *node, size_t len)
{
	uint16_t n = page_nkeys(p);
	uint32_t upper = get32(p + PH_EXTRA);
	size_t lower = PH_SIZE + 2u * n;

	if (lower + 2 + len > upper)
		return 1;
	upper -= (uint32_t)len;
	memcpy(p + upper, node, len);
	memmove(p + PH_SIZE + 2 * (i + 1), p + PH_SIZE + 2 * i,
	        2u * (n - (uint16_t)i));
	put16(p + PH_SIZE + 2 * i, (uint16_t)upper);
	put16(p + PH_NKEYS, (uint16_t)(n + 1));
	put32(p + PH_EXTRA, upper);
	return 0;
}

/* Remove node i and compact the node area. */
static void node_remove(uint8_t *p, int i)
{
	uint16_t n = page_nkeys(p);
	uint32_t upper = get32(p + PH_EXTRA);
	uint16_t off = get16(p + PH_SIZE + 2 * i);
	size_t len = node_size(p, p + off);
	int j;

	memmove(p + upper + len, p + upper, off - upper);
	for (j = 0; j < n; j++) {
		uint16_t o = get16(p + PH_SIZE + 2 * j);
		if (o < off)
			put16(p + PH_SIZE + 2 * j, (uint16_t)(o + len));
	}
	memmove(p + PH_SIZE + 2 * i, p + PH_SIZE + 2 * (i + 1),
	        2u * (n - (uint16_t)i - 1));
	put16(p + PH_NKEYS, (uint16_t)(n - 1));
	put32(p + PH_EXTRA, (uint32_t)(upper + len));
	memset(p + upper, 0, len);
}

static size_t make_branch_node(uint8_t *buf, uint64_t pg, uint64_t tx,
                               kv_val key)
{
	put64(buf + BN_PGNO, pg);
	put64(buf + BN_TXNID, tx);
	put16(buf + BN_KLEN, (uint16_t)key.len);
	if (key.len)
		memcpy(buf + BN_HDR, key.data, key.len);
	return BN_HDR + key.len;
}

/* ---- touching the path ------------------------------------------------ */

/* Make every page on the cursor path writable (copy-on-write). */
static int touch_path(struct cur *c)
{
	int l, rc;

	for (l = 0; l < c->depth; l++) {
		uint64_t np;
		uint8_t *w;
		/* a committed page is validated in full before it is changed */
		if (!page_is_dirty(c->txn, c->pg[l]) &&
		    (rc = page_check_nodes(c->pp[l], c->pg[l])) != 0)
			return rc;
		rc = page_touch(c->txn, c->pg[l], &np, &w);
		if (rc != 0)
			return rc;
		if (np != c->pg[l]) {
			if (l == 0) {
				c->tree->root = np;
				c->tree->root_txn = c->txn->id;
			} else {
				branch_set_child((uint8_t *)c->pp[l - 1],
				                 c->idx[l - 1], np, c->txn->id);
			}
		}
		c->pg[l] = np;
		c->pp[l] = w;
	}
	c->txn->changes++;
	return 0;
}

static uint8_t *wpage(struct cur *c, int l)
{
	return (uint8_t *)c->pp[l];
}

/* ---- split ------------------------------------------------------------ */

static int insert_at(struct cur *c, int l, int i, const uint8_t *node,
                     size_t len, bool append);

/* Shortest prefix of r that is still greater than l. */
static kv_val separator(kv_val l, kv_val r)
{
	const uint8_t *a = l.data, *b = r.data;
	size_t j = 0;

	while (j < l.len && j < r.len && a[j] == b[j])
		j++;
	kv_val s = { r.data, j + 1 <= r.len ? j + 1 : r.len };
	return s;
}

/*
 * After a split of the page at level l: enter the new right page rpg, with
 * separator sep, in the parent, or grow a new root above the two.
 */
static int add_right(struct cur *c, int l, uint64_t rpg, kv_val sep,
                     bool append)
{
	kv_txn *txn = c->txn;
	uint8_t bn[BN_HDR + KV_MAX_KEY];
	size_t bl = make_branch_node(bn, rpg, txn->id, sep);
	uint64_t root;
	uint8_t *rt;
	uint8_t b0[BN_HDR];
	kv_val none = { NULL, 0 };
	struct nodev rv[2];
	int rc;

	if (l > 0)
		return insert_at(c, l - 1, c->idx[l - 1] + 1, bn, bl, append);
	rc = page_new(txn, 1, &root, &rt);
	if (rc != 0)
		return rc;
	rv[0].len = make_branch_node(b0, c->pg[0], txn->id, none);
	rv[0].p = b0;
	rv[1].p = bn;
	rv[1].len = bl;
	page_build(rt, PT_BRANCH, rv, 2);
	c->tree->root = root;
	c->tree->root_txn = txn->id;
	c->tree->depth++;
	c->tree->branch_pages++;
	return 0;
}

/*
 * The split of an append at the right edge: the full page stays as it is
 * and the new node starts the right page.  A leaf's separator is the
 * shortest prefix of the new key above the page's last key; a branch
 * node's key moves up and its child becomes the right page's node 0.
 */
static int split_append(struct cur *c, int l, const uint8_t *node, size_t len)
{
	kv_txn *txn = c->txn;
	const uint8_t *p = c->pp[l];
	bool leaf = is_leaf(p);
	uint8_t sepbuf[KV_MAX_KEY], r0[BN_HDR], *rp;
	struct nodev v;
	uint64_t rpg;
	kv_val sep, none = { NULL, 0 };
	int rc;

	if (leaf)
		sep = separator(node_key(p, node_at(p, page_nkeys(p) - 1)),
		                node_key_raw(true, node));
	else
		sep = node_key_raw(false, node);
	memcpy(sepbuf, sep.data, sep.len);
	sep.data = sepbuf;
	rc = page_new(txn, 1, &rpg, &rp);
	if (rc != 0)
		return rc;
	if (leaf) {
		v.p = node;
		v.len = len;
		page_build(rp, PT_LEAF, &v, 1);
		c->tree->leaf_pages++;
	} else {
		v.len = make_branch_node(r0, get64(node + BN_PGNO),
		                         get64(node + BN_TXNID), none);
		v.p = r0;
		page_build(rp, PT_BRANCH, &v, 1);
		c->tree->branch_pages++;
	}
	rc = add_right(c, l, rpg, sep, true);
	return rc ? rc : pager_spill(txn, c->pg[l]);
}

static int split(struct cur *c, int l, int i, const uint8_t *node, size_t len,
                 bool append)
{
	kv_txn *txn = c->txn;
	uint8_t *p = wpage(c, l);
	bool leaf = is_leaf(p);
	int n = page_nkeys(p), total = n + 1, s, k;
	struct nodev v[MAX_NODES];
	uint8_t *tmp, *rp, sepbuf[BN_HDR + KV_MAX_KEY], r0[BN_HDR];
	size_t sum = 0, acc = 0;
	uint64_t rpg;
	kv_val sep;
	int rc;

	if (append && i == n && n > 0)
		return split_append(c, l, node, len);
	tmp = malloc(KV_PAGE_SIZE + len);
	if (tmp == NULL)
		return -ENOMEM;
	/* gather the nodes, with the new one, into tmp */
	{
		size_t off = 0;
		for (k = 0; k < total; k++) {
			const uint8_t *src;
			size_t sz;
			if (k == i) {
				src = node;
				sz = len;
			} else {
				src = node_at(p, k < i ? k : k - 1);
				sz = node_size(p, src);
			}
			memcpy(tmp + off, src, sz);
			v[k].p = tmp + off;
			v[k].len = sz;
			off += sz;
			sum += sz + 2;
		}
	}
	if (append && i == n) {
		s = n;
	} else {
		for (s = 0; s < total; s++) {
			acc += v[s].len + 2;
			if (acc >= sum / 2)
				break;
		}
		/* s nodes left when acc < half, else include node s */
		s = s + 1;
		if (acc > PAGE_ROOM)
			s--;
		if (s >= total)
			s = total - 1;
		if (s < 1)
			s = 1;
	}

	rc = page_new(txn, 1, &rpg, &rp);
	if (rc != 0)
		goto out;
	if (leaf) {
		sep = separator(node_key_raw(true, v[s - 1].p),
		                node_key_raw(true, v[s].p));
		memcpy(sepbuf, sep.data, sep.len);
		sep.data = sepbuf;
		page_build(rp, PT_LEAF, v + s, total - s);
		page_build(p, PT_LEAF, v, s);
		c->tree->leaf_pages++;
	} else {
		/* node s moves up; its child becomes the right page's node 0 */
		kv_val k0 = node_key_raw(false, v[s].p);
		memcpy(sepbuf, k0.data, k0.len);
		sep.data = sepbuf;
		sep.len = k0.len;
		kv_val none = { NULL, 0 };
		v[s].len = make_branch_node(r0, get64(v[s].p + BN_PGNO),
		                            get64(v[s].p + BN_TXNID), none);
		v[s].p = r0;
		page_build(rp, PT_BRANCH, v + s, total - s);
		page_build(p, PT_BRANCH, v, s);
		c->tree->branch_pages++;
	}
	if (page_used(p) > PAGE_ROOM || page_used(rp) > PAGE_ROOM) {
		rc = KV_CORRUPT(c->pg[l], "split overflow (internal error)");
		goto out;
	}
	rc = add_right(c, l, rpg, sep, append);
out:
	free(tmp);
	return rc;
}

static int insert_at(struct cur *c, int l, int i, const uint8_t *node,
                     size_t len, bool append)
{
	if (node_insert(wpage(c, l), i, node, len) == 0)
		return 0;
	return split(c, l, i, node, len, append);
}

/* ---- put -------------------------------------------------------------- */

static int free_value(kv_txn *txn, struct tree *t, const uint8_t *n)
{
	if (n[LN_FLAGS] & LN_BIG) {
		size_t k = get16(n + LN_KLEN);
		uint64_t pg = get64(n + LN_HDR + k);
		uint64_t tx = get64(n + LN_HDR + k + 8);
		const uint8_t *o = page_get(txn, pg);
		uint64_t np;
		if (o == NULL)
			return KV_ECORRUPT;
		np = get32(o + PH_EXTRA);
		if (get16(o + PH_TYPE) != PT_OVERFLOW || np == 0)
			return KV_CORRUPT(pg, "bad overflow page");
		t->overflow_pages -= np;
		return page_free(txn, pg, np, tx);
	}
	return 0;
}

/* Build the leaf node for key/val into buf (which holds KV_MAX_NODE). */
static int make_leaf_node(kv_txn *txn, struct tree *t, kv_val key, kv_val val,
                          uint8_t *buf, size_t *len)
{
	put16(buf + LN_KLEN, (uint16_t)key.len);
	buf[LN_FLAGS] = 0;
	buf[LN_FLAGS + 1] = 0;
	put32(buf + LN_VLEN, (uint32_t)val.len);
	memcpy(buf + LN_HDR, key.data, key.len);
	if (LN_HDR + key.len + val.len <= KV_MAX_NODE) {
		if (val.len)
			memcpy(buf + LN_HDR + key.len, val.data, val.len);
		*len = LN_HDR + key.len + val.len;
		return 0;
	}
	uint64_t np = (val.len + PH_SIZE + KV_PAGE_SIZE - 1) / KV_PAGE_SIZE;
	uint64_t pg;
	uint8_t *o;
	int rc = page_new(txn, np, &pg, &o);
	if (rc != 0)
		return rc;
	put16(o + PH_TYPE, PT_OVERFLOW);
	put32(o + PH_EXTRA, (uint32_t)np);
	memcpy(o + PH_SIZE, val.data, val.len);
	memset(o + PH_SIZE + val.len, 0, np * KV_PAGE_SIZE - PH_SIZE - val.len);
	t->overflow_pages += np;
	buf[LN_FLAGS] = LN_BIG;
	put64(buf + LN_HDR + key.len, pg);
	put64(buf + LN_HDR + key.len + 8, txn->id);
	*len = LN_HDR + key.len + LN_BIGREF;
	return 0;
}

static bool rightmost(const struct cur *c)
{
	int l;

	for (l = 0; l + 1 < c->depth; l++)
		if (c->idx[l] != page_nkeys(c->pp[l]) - 1)
			return false;
	return true;
}

/*
 * A run of KV_APPEND puts (a copy, a load in key order) mostly lands in the
 * leaf the put before it ended in.  While no tree of the txn has changed
 * since, that leaf is still the dirty right edge (as a cursor's path stays
 * valid, cursor.c), so the put needs neither a descent nor a touch of the
 * path: only the order check and the insert.  1 when the node does not fit
 * there (bt_put splits) or the key is out of order (bt_put says why).
 */
static int put_append_leaf(kv_txn *txn, struct tree *t, kv_val key, kv_val val)
{
	uint8_t *p = txn->append.leaf, node[KV_MAX_NODE];
	int n = page_nkeys(p), rc;
	size_t len = LN_HDR + key.len +
	             (LN_HDR + key.len + val.len <= KV_MAX_NODE ? val.len
	                                                        : LN_BIGREF);

	/* a key not above the last: bt_put's own checks give its error
	 * (KV_EEXIST before KV_EORDER) */
	if (n == 0 || PH_SIZE + 2u * n + 2 + len > get32(p + PH_EXTRA) ||
	    key_cmp(node_key(p, node_at(p, n - 1)), key) >= 0)
		return 1;
	rc = make_leaf_node(txn, t, key, val, node, &len);
	if (rc != 0)
		return rc;
	if (node_insert(p, n, node, len) != 0)
		return KV_CORRUPT(txn->append.root,
		                  "append overflow (internal error)");
	t->count++;
	txn->append.changes = ++txn->changes;
	return 0;
}

int bt_put(kv_txn *txn, struct tree *t, kv_val key, kv_val val, unsigned flags)
{
	struct cur c = { .txn = txn, .tree = t };
	uint8_t node[KV_MAX_NODE];
	size_t len;
	bool exact = false, append;
	int rc, leaf;

	if ((flags & KV_APPEND) && txn->append.t == t &&
	    txn->append.changes == txn->changes &&
	    txn->append.root == t->root) {
		rc = put_append_leaf(txn, t, key, val);
		if (rc != 1)
			return rc;
	}
	if (t->root) {
		rc = (flags & KV_APPEND) ? descend_append(&c, key) : 1;
		if (rc == 1)
			rc = descend(&c, key, &exact);
		if (rc != 0)
			return rc;
	}
	if (exact && (flags & KV_NOOVERWRITE))
		return KV_EEXIST;
	append = t->root && !exact &&
	         c.idx[c.depth - 1] == page_nkeys(c.pp[c.depth - 1]) &&
	         rightmost(&c);
	if ((flags & KV_APPEND) && t->root && !append)
		return kv_set_err(KV_EORDER, "KV_APPEND: key is not above the "
		                             "last key");
	if (!t->root) {
		uint64_t pg;
		uint8_t *p;
		rc = page_new(txn, 1, &pg, &p);
		if (rc != 0)
			return rc;
		page_build(p, PT_LEAF, NULL, 0);
		t->root = pg;
		t->root_txn = txn->id;
		t->depth = 1;
		t->leaf_pages = 1;
		c.depth = 1;
		c.pg[0] = pg;
		c.pp[0] = p;
		c.idx[0] = 0;
		txn->changes++;
	} else {
		rc = touch_path(&c);
		if (rc != 0)
			return rc;
	}
	leaf = c.depth - 1;
	if (exact) {
		uint8_t *p = wpage(&c, leaf);
		rc = free_value(txn, t, node_at(p, c.idx[leaf]));
		if (rc != 0)
			return rc;
		node_remove(p, c.idx[leaf]);
	}
	rc = make_leaf_node(txn, t, key, val, node, &len);
	if (rc != 0)
		return rc;
	if (node_insert(wpage(&c, leaf), c.idx[leaf], node, len) == 0) {
		if (flags & KV_APPEND) {
			txn->append.t = t;
			txn->append.root = t->root;
			txn->append.changes = txn->changes;
			txn->append.leaf = wpage(&c, leaf);
		}
	} else {
		rc = split(&c, leaf, c.idx[leaf], node, len, append);
		if (rc != 0)
			return rc;
	}
	if (!exact)
		t->count++;
	return 0;
}

/* ---- delete ----------------------------------------------------------- */

static void drop_child(struct cur *c, int l, int i)
{
	uint8_t *p = wpage(c, l);

	node_remove(p, i);
	if (i == 0 && page_nkeys(p) > 0) {
		/* the new first node's key becomes minus infinity */
		const uint8_t *n0 = node_at(p, 0);
		uint8_t b[BN_HDR];
		kv_val none = { NULL, 0 };
		size_t bl = make_branch_node(b, get64(n0 + BN_PGNO),
		                             get64(n0 + BN_TXNID), none);
		node_remove(p, 0);
		node_insert(p, 0, b, bl);
	}
}

static int rebalance(struct cur *c, int l)
{
	kv_txn *txn = c->txn;
	struct tree *t = c->tree;
	uint8_t *p = wpage(c, l);
	int n = page_nkeys(p), rc;
	bool leaf = is_leaf(p);

	if (l == 0) {
		if (leaf && n == 0) {
			rc = page_free(txn, c->pg[0], 1, txn->id);
			t->root = 0;
			t->root_txn = 0;
			t->depth = 0;
			t->leaf_pages = 0;
			return rc;
		}
		if (!leaf && n == 1) {
			uint64_t tx, child = branch_child(p, 0, &tx);
			rc = page_free(txn, c->pg[0], 1, txn->id);
			t->root = child;
			t->root_txn = tx;
			t->depth--;
			t->branch_pages--;
			return rc;
		}
		return 0;
	}
	if (n > 0 && page_used(p) >= PAGE_ROOM / 4)
		return 0;

	uint8_t *parent = wpage(c, l - 1);
	int pi = c->idx[l - 1];
	int pn = page_nkeys(parent);

	if (n == 0) {
		drop_child(c, l - 1, pi);
		rc = page_free(txn, c->pg[l], 1, txn->id);
		if (rc != 0)
			return rc;
		if (leaf)
			t->leaf_pages--;
		else
			t->branch_pages--;
		return rebalance(c, l - 1);
	}
	if (pn < 2)
		return 0;

	/* merge with a sibling when both fit in one page */
	int si = pi > 0 ? pi - 1 : pi + 1;
	uint64_t spg = branch_child(parent, si, NULL), nspg;
	uint8_t *sp;
	const uint8_t *chk;

	chk = page_get(txn, spg);
	if (chk == NULL)
		return KV_ECORRUPT;
	if ((rc = page_check_nodes(chk, spg)) != 0)
		return rc;
	if (get16(chk + PH_TYPE) != get16(p + PH_TYPE))
		return KV_CORRUPT(spg, "sibling of another kind");
	if (page_used(chk) + page_used(p) + (leaf ? 0 : BN_HDR + KV_MAX_KEY) >
	    PAGE_ROOM)
		return 0;
	rc = page_touch(txn, spg, &nspg, &sp);
	if (rc != 0)
		return rc;
	if (nspg != spg)
		branch_set_child(parent, si, nspg, txn->id);

	uint8_t *lp = pi > 0 ? sp : p, *rp = pi > 0 ? p : sp;
	uint64_t rpg = pi > 0 ? c->pg[l] : nspg;
	int ri = pi > 0 ? pi : pi + 1;
	int ln = page_nkeys(lp), rn = page_nkeys(rp), k;
	struct nodev v[MAX_NODES];
	uint8_t *tmp = malloc(2 * KV_PAGE_SIZE + BN_HDR + KV_MAX_KEY);
	size_t off = 0;

	if (tmp == NULL)
		return -ENOMEM;
	for (k = 0; k < ln + rn; k++) {
		const uint8_t *src =
		        k < ln ? node_at(lp, k) : node_at(rp, k - ln);
		size_t sz = node_size(lp, src);
		if (!leaf && k == ln) {
			/* right's node 0 takes the parent's separator key */
			kv_val sep = node_key(parent, node_at(parent, ri));
			sz = make_branch_node(tmp + off, get64(src + BN_PGNO),
			                      get64(src + BN_TXNID), sep);
		} else {
			memcpy(tmp + off, src, sz);
		}
		v[k].p = tmp + off;
		v[k].len = sz;
		off += sz;
	}
	if (off + 2u * (size_t)(ln + rn) > PAGE_ROOM) {
		free(tmp);
		return 0; /* does not fit after all; leave it */
	}
	page_build(lp, leaf ? PT_LEAF : PT_BRANCH, v, ln + rn);
	free(tmp);
	drop_child(c, l - 1, ri);
	rc = page_free(txn, rpg, 1, txn->id);
	if (rc != 0)
		return rc;
	if (leaf)
		t->leaf_pages--;
	else
		t->branch_pages--;
	return rebalance(c, l - 1);
}

int bt_del(kv_txn *txn, struct tree *t, kv_val key)
{
	struct cur c = { .txn = txn, .tree = t };
	bool exact;
	int rc = descend(&c, key, &exact), leaf;

	if (rc != 0)
		return rc;
	if (!exact)
		return KV_ENOTFOUND;
	rc = touch_path(&c);
	if (rc != 0)
		return rc;
	leaf = c.depth - 1;
	rc = free_value(txn, t, node_at(c.pp[leaf], c.idx[leaf]));
	if (rc != 0)
		return rc;
	node_remove(wpage(&c, leaf), c.idx[leaf]);
	t->count--;
	return rebalance(&c, leaf);
}

/* ---- drop ------------------------------------------------------------- */

static int drop_page(kv_txn *txn, struct tree *t, uint64_t pg, uint64_t tx,
                     int depth)
{
	const uint8_t *p = NULL;
	int rc, i, n;

	if (depth > KV_MAX_DEPTH)
		return KV_CORRUPT(pg, "tree too deep");
	rc = load_page(txn, pg, &p);
	if (rc == 0)
		rc = page_check_nodes(p, pg);
	if (rc != 0)
		return rc;
	n = page_nkeys(p);
	for (i = 0; i < n; i++) {
		const uint8_t *nd = node_at(p, i);
		if (is_leaf(p)) {
			rc = free_value(txn, t, nd);
		} else {
			uint64_t ctx, child = branch_child(p, i, &ctx);
			rc = drop_page(txn, t, child, ctx, depth + 1);
		}
		if (rc != 0)
			return rc;
	}
	return page_free(txn, pg, 1, tx);
}

int bt_drop(kv_txn *txn, struct tree *t)
{
	int rc = 0;

	if (t->root)
		rc = drop_page(txn, t, t->root, t->root_txn, 0);
	if (rc == 0) {
		memset(t, 0, sizeof(*t));
		txn->changes++;
	}
	return rc;
}

/* ---- cursor moves ----------------------------------------------------- */

/* From level l (positioned), descend to the leftmost/rightmost leaf. */
static int descend_edge(struct cur *c, int l, bool right)
{
	for (;;) {
		const uint8_t *p = c->pp[l];
		int rc, n = page_nkeys(p);
		if (is_leaf(p)) {
			c->depth = l + 1;
			return 0;
		}
		if (n == 0)
			return KV_CORRUPT(c->pg[l], "empty branch page");
		if (l + 1 >= KV_MAX_DEPTH)
			return KV_CORRUPT(c->pg[l], "tree too deep");
		uint64_t child = branch_child(p, c->idx[l], NULL);
		rc = load_page(c->txn, child, &c->pp[l + 1]);
		if (rc != 0)
			return rc;
		c->pg[l + 1] = child;
		/* A walk to the right (a scan, a copy) reads the next leaf
		 * after this one: ask for its header now, so that the
		 * memory and TLB misses of reaching it overlap this leaf's
		 * reads. */
		if (!right && c->idx[l] + 1 < n) {
			/* a bad number is reported when the walk gets there */
			const uint8_t *np = page_peek(
			        c->txn, branch_child(p, c->idx[l] + 1, NULL));
			if (np)
				__builtin_prefetch(np + PH_TYPE);
		}
		l++;
		c->idx[l] = right ? page_nkeys(c->pp[l]) - 1 : 0;
		if (is_leaf(c->pp[l]) && right)
			c->idx[l] = page_nkeys(c->pp[l]) - 1;
	}
}

static int edge(struct cur *c, bool right)
{
	int rc;

	c->depth = 0;
	if (!c->tree->root)
		return KV_ENOTFOUND;
	rc = load_page(c->txn, c->tree->root, &c->pp[0]);
	if (rc != 0)
		return rc;
	c->pg[0] = c->tree->root;
	c->idx[0] = right ? page_nkeys(c->pp[0]) - 1 : 0;
	rc = descend_edge(c, 0, right);
	if (rc != 0)
		return rc;
	if (page_nkeys(c->pp[c->depth - 1]) == 0) {
		c->depth = 0;
		return KV_ENOTFOUND;
	}
	return 0;
}

int bt_first(struct cur *c)
{
	return edge(c, false);
}

int bt_last(struct cur *c)
{
	return edge(c, true);
}

int bt_next(struct cur *c)
{
	int l, rc;

	if (!c->depth)
		return KV_ENOTFOUND;
	l = c->depth - 1;
	if (c->idx[l] + 1 < page_nkeys(c->pp[l])) {
		c->idx[l]++;
		return 0;
	}
	/* climb to the first level with a right neighbour */
	for (l = c->depth - 2; l >= 0; l--)
		if (c->idx[l] + 1 < page_nkeys(c->pp[l]))
			break;
	if (l < 0) {
		c->idx[c->depth - 1] = page_nkeys(c->pp[c->depth - 1]);
		return KV_ENOTFOUND;
	}
	c->idx[l]++;
	rc = descend_edge(c, l, false);
	if (rc != 0)
		return rc;
	c->idx[c->depth - 1] = 0;
	if (page_nkeys(c->pp[c->depth - 1]) == 0)
		return KV_CORRUPT(c->pg[c->depth - 1], "empty leaf page");
	return 0;
}

int bt_prev(struct cur *c)
{
	int l, rc;

	if (!c->depth)
		return KV_ENOTFOUND;
	l = c->depth - 1;
	if (c->idx[l] > 0) {
		c->idx[l]--;
		return 0;
	}
	for (l = c->depth - 2; l >= 0; l--)
		if (c->idx[l] > 0)
			break;
	if (l < 0)
		return KV_ENOTFOUND;
	c->idx[l]--;
	rc = descend_edge(c, l, true);
	if (rc != 0)
		return rc;
	if (page_nkeys(c->pp[c->depth - 1]) == 0)
		return KV_CORRUPT(c->pg[c->depth - 1], "empty leaf page");
	c->idx[c->depth - 1] = page_nkeys(c->pp[c->depth - 1]) - 1;
	return 0;
}

int bt_seek(struct cur *c, kv_val key, bool *exact)
{
	int rc = descend(c, key, exact);

	if (rc != 0)
		return rc;
	if (c->idx[c->depth - 1] >= page_nkeys(c->pp[c->depth - 1])) {
		/* past this leaf: the answer is the next leaf's first key */
		if (page_nkeys(c->pp[c->depth - 1]) == 0) {
			c->depth = 0;
			return KV_ENOTFOUND;
		}
		c->idx[c->depth - 1] = page_nkeys(c->pp[c->depth - 1]) - 1;
		return bt_next(c);
	}
	return 0;
}

int bt_cur_get(struct cur *c, kv_val *key, kv_val *val)
{
	const uint8_t *p;
	int i;

	if (!c->depth)
		return KV_ENOTFOUND;
	p = c->pp[c->depth - 1];
	i = c->idx[c->depth - 1];
	if (i < 0 || i >= page_nkeys(p))
		return KV_ENOTFOUND;
	if (key)
		leaf_key(p, i, key);
	if (val)
		return leaf_value(c->txn, p, i, val);
	return 0;
}

/* ---- walking ---------------------------------------------------------- */

/*
 * Visit every page of the tree, parents before children.  fn gets the page
 * number, its length in pages, the txnid the parent expects and the page
 * (NULL when it could not be read); it returns 0 to go on, 1 to skip the
 * page's children, or an error to stop.  Branch and leaf pages have their
 * node bounds checked before they are descended.
 */
static int walk_page(kv_txn *txn, uint64_t pg, uint64_t tx, int depth,
                     bt_walk_fn fn, void *ctx)
{
	const uint8_t *p = page_get(txn, pg);
	int rc, i, n;

	if (depth > KV_MAX_DEPTH)
		return KV_CORRUPT(pg, "tree too deep");
	rc = fn(ctx, pg, 1, tx, p, depth);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (p == NULL)
		return KV_ECORRUPT;
	rc = page_check_nodes(p, pg);
	if (rc != 0)
		return rc;
	n = page_nkeys(p);
	for (i = 0; i < n; i++) {
		const uint8_t *nd = node_at(p, i);
		if (is_leaf(p)) {
			size_t k = get16(nd + LN_KLEN);
			uint64_t opg, otx, np = 0;
			const uint8_t *o;
			if (!(nd[LN_FLAGS] & LN_BIG))
				continue;
			opg = get64(nd + LN_HDR + k);
			otx = get64(nd + LN_HDR + k + 8);
			o = page_get(txn, opg);
			if (o && get16(o + PH_TYPE) == PT_OVERFLOW)
				np = get32(o + PH_EXTRA);
			if (o && (np == 0 || opg + np > txn->st.next_pgno))
				o = NULL;
			rc = fn(ctx, opg, o ? np : 1, otx, o, depth + 1);
		} else {
			uint64_t ctx2, child = branch_child(p, i, &ctx2);
			rc = walk_page(txn, child, ctx2, depth + 1, fn, ctx);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int bt_walk(kv_txn *txn, const struct tree *t, bt_walk_fn fn, void *ctx)
{
	if (!t->root)
		return 0;
	return walk_page(txn, t->root, t->root_txn, 0, fn, ctx);
}

/* For the checker: whether page pgno's slot array and nodes lie inside it,
 * which bt_walk() checks too, but by stopping the walk. */
int bt_page_check(const uint8_t *p, uint64_t pgno)
{
	return page_check_nodes(p, pgno);
}
