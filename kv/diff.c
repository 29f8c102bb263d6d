/*
 * diff.c: the differences between one table as two transactions see it.
 *
 * Copy-on-write makes a page number a name for its content: a page is never
 * changed in place, and it is not reused while any transaction that can
 * reach it lives (readers and snapshots pin what they see; a write
 * transaction's new pages are fresh ones no other transaction reaches).  So
 * when the two trees lead to the same page (its number, and the txnid the
 * parent expects of it), the whole subtree below it is the same on both
 * sides, and the walk passes over it without reading it.  A table that
 * changed in ten places out of a million costs ten root-to-leaf paths on
 * each side.
 *
 * The two trees need not have the same shape: splits and merges move the
 * separators, and a tree may have grown a level.  So each side is read as
 * an ordered stream (struct side): a stack of pages whose head is either
 * the next entry or the next subtree not read yet, a branch child known by
 * its page number and a lower bound of its keys (its separator, or for
 * node 0 the bound its parent had).  The walk merges the two streams:
 *
 *   both heads the same page      pass over it on both sides
 *   two entries                   the lower key is on one side only; equal
 *                                 keys compare their values
 *   an entry below the other      on that side only: the other side's
 *     side's bound                remaining keys are all at or above its
 *                                 bound
 *   otherwise                     read (descend) the head whose bound is
 *                                 lower; at equal bounds the taller
 *                                 subtree, or both when equally tall
 *
 * The invariant: every entry consumed so far, on either side, is below every
 * entry still ahead on both sides.  An entry is consumed only below the
 * other side's bound or together with its equal, and a shared subtree is
 * the same run of entries at the head of both streams, so passing over it
 * keeps the two in step; hence an entry consumed alone is truly absent from
 * the other side, and nothing is reported twice or missed.  Descending
 * consumes nothing; it only replaces a bound by the exact keys below it.
 * Rule four is also what brings the sides back in step after a change: the
 * lower or taller head is opened until both heads are subtrees of one
 * height at one bound, which is where unchanged pages meet again.
 *
 * Bytes from the file are checked, not trusted: every page read passes
 * page_check_nodes(), its kind must match the height the tree descriptor
 * gives it, and each stream's keys must rise and stay at or above their
 * page's bound; anything else is KV_ECORRUPT.
 */
#include <errno.h>
#include <string.h>

#include "kv_int.h"

/* One side of the walk: a table's tree read as an ordered stream. */
struct side {
	kv_txn *txn;
	struct tree t;
	bool started; /* the root was read or passed over */
	int depth;    /* pages on the stack */
	uint64_t pg[KV_MAX_DEPTH];
	const uint8_t *pp[KV_MAX_DEPTH];
	int idx[KV_MAX_DEPTH];
	int n[KV_MAX_DEPTH];
	kv_val lo[KV_MAX_DEPTH]; /* every key below page l is >= lo[l] */
	kv_val last;             /* the last key consumed */
	bool any;                /* a key was consumed */
};

enum head_kind { H_END, H_TREE, H_ENTRY };

/* What a side offers next. */
struct head {
	enum head_kind kind;
	kv_val lo;         /* H_TREE: a lower bound of its keys; H_ENTRY:
	                      the key (the empty key is minus infinity) */
	uint64_t pgno;     /* H_TREE: its page */
	uint64_t txnid;    /* H_TREE: the txnid its parent expects */
	uint32_t height;   /* H_TREE: 1 for a leaf page */
	const uint8_t *pp; /* H_ENTRY: the leaf and the node's index */
	int i;
};

struct diff {
	int (*fn)(void *ctx, kv_val key, kv_val va, kv_val vb);
	void *ctx;
	struct kv_diff_stat st;
};

static void head_of(const struct side *s, struct head *h)
{
	int l = s->depth - 1;

	memset(h, 0, sizeof(*h));
	if (s->depth == 0) {
		if (s->started || s->t.root == 0) {
			h->kind = H_END;
			return;
		}
		h->kind = H_TREE;
		h->pgno = s->t.root;
		h->txnid = s->t.root_txn;
		h->height = s->t.depth;
		return;
	}
	if (s->t.depth - (uint32_t)l == 1) {
		h->kind = H_ENTRY;
		h->pp = s->pp[l];
		h->i = s->idx[l];
		leaf_key(h->pp, h->i, &h->lo);
		return;
	}
	h->kind = H_TREE;
	h->pgno = branch_child(s->pp[l], s->idx[l], &h->txnid);
	h->lo = s->idx[l] == 0 ? s->lo[l] : branch_key(s->pp[l], s->idx[l]);
	h->height = s->t.depth - (uint32_t)l - 1;
}

/* Pop the pages whose nodes are all done, stepping past their parents'
 * nodes in turn. */
static void settle(struct side *s)
{
	while (s->depth > 0 && s->idx[s->depth - 1] >= s->n[s->depth - 1]) {
		s->depth--;
		if (s->depth > 0)
			s->idx[s->depth - 1]++;
	}
}

/* Step past the head. */
static void advance(struct side *s)
{
	if (s->depth == 0) {
		s->started = true;
		return;
	}
	s->idx[s->depth - 1]++;
	settle(s);
}

/* Read the page of subtree head h onto the stack. */
static int descend(struct diff *d, struct side *s, const struct head *h)
{
	int l = s->depth;
	const uint8_t *p;
	uint16_t type;
	int rc;

	if (l >= KV_MAX_DEPTH || h->height == 0)
		return KV_CORRUPT(h->pgno, "tree deeper than its descriptor");
	p = page_get(s->txn, h->pgno);
	if (p == NULL)
		return KV_ECORRUPT;
	d->st.pages_read++;
	rc = page_check_nodes(p, h->pgno);
	if (rc != 0)
		return rc;
	type = get16(p + PH_TYPE);
	if ((h->height == 1) != (type == PT_LEAF))
		return KV_CORRUPT(h->pgno, "page height differs from the "
		                           "tree's depth");
	if (type == PT_BRANCH && page_nkeys(p) == 0)
		return KV_CORRUPT(h->pgno, "empty branch page");
	s->pg[l] = h->pgno;
	s->pp[l] = p;
	s->idx[l] = 0;
	s->n[l] = page_nkeys(p);
	s->lo[l] = h->lo;
	s->started = true;
	s->depth++;
	settle(s); /* an empty leaf offers nothing */
	return 0;
}

/* Consume entry head h: check the stream's order and step past it. */
static int consume(struct side *s, const struct head *h)
{
	int l = s->depth - 1;

	if ((s->any && key_cmp(s->last, h->lo) >= 0) ||
	    key_cmp(h->lo, s->lo[l]) < 0)
		return KV_CORRUPT(s->pg[l], "keys out of order");
	s->last = h->lo;
	s->any = true;
	advance(s);
	return 0;
}

/* The value of entry head h, counting the overflow pages it reads. */
static int value_of(struct diff *d, struct side *s, const struct head *h,
                    kv_val *v)
{
	struct bigref ref;
	int rc = leaf_value(s->txn, h->pp, h->i, v);

	if (rc == 0 && leaf_overflow(h->pp, h->i, &ref))
		d->st.pages_read +=
		        (v->len + PH_SIZE + KV_PAGE_SIZE - 1) / KV_PAGE_SIZE;
	return rc;
}

/* An entry on one side only: report it and consume it. */
static int one_side(struct diff *d, struct side *s, const struct head *h,
                    bool is_a)
{
	kv_val v, none = { NULL, 0 }, key = h->lo;
	int rc = value_of(d, s, h, &v);

	if (rc == 0)
		rc = consume(s, h);
	if (rc == 0)
		rc = is_a ? d->fn(d->ctx, key, v, none)
		          : d->fn(d->ctx, key, none, v);
	return rc;
}

/* Entries with equal keys: report them when their values differ.  Two
 * references to one overflow run are the same value, unread. */
static int both_sides(struct diff *d, struct side *a, const struct head *ha,
                      struct side *b, const struct head *hb)
{
	struct bigref ra, rb;
	kv_val va = { NULL, 0 }, vb = { NULL, 0 }, key = ha->lo;
	bool big_a = leaf_overflow(ha->pp, ha->i, &ra);
	bool big_b = leaf_overflow(hb->pp, hb->i, &rb);
	bool same;
	int rc;

	if (big_a && big_b && ra.pgno == rb.pgno && ra.txnid == rb.txnid &&
	    ra.len == rb.len) {
		same = true;
	} else {
		rc = value_of(d, a, ha, &va);
		if (rc == 0)
			rc = value_of(d, b, hb, &vb);
		if (rc != 0)
			return rc;
		same = va.len == vb.len &&
		       (va.len == 0 || memcmp(va.data, vb.data, va.len) == 0);
	}
	rc = consume(a, ha);
	if (rc == 0)
		rc = consume(b, hb);
	if (rc == 0 && !same)
		rc = d->fn(d->ctx, key, va, vb);
	return rc;
}

/* One step of the merge (the table at the top of this file). */
static int step(struct diff *d, struct side *a, struct side *b, bool *done)
{
	struct head ha, hb;
	int c;

	head_of(a, &ha);
	head_of(b, &hb);
	*done = ha.kind == H_END && hb.kind == H_END;
	if (*done)
		return 0;
	if (ha.kind == H_TREE && hb.kind == H_TREE && ha.pgno == hb.pgno &&
	    ha.txnid == hb.txnid) {
		d->st.subtrees_skipped++;
		advance(a);
		advance(b);
		return 0;
	}
	if (ha.kind == H_END || hb.kind == H_END) {
		struct side *s = ha.kind == H_END ? b : a;
		const struct head *h = ha.kind == H_END ? &hb : &ha;

		if (h->kind == H_TREE)
			return descend(d, s, h);
		return one_side(d, s, h, s == a);
	}
	c = key_cmp(ha.lo, hb.lo);
	if (ha.kind == H_ENTRY && hb.kind == H_ENTRY) {
		if (c == 0)
			return both_sides(d, a, &ha, b, &hb);
		return c < 0 ? one_side(d, a, &ha, true)
		             : one_side(d, b, &hb, false);
	}
	if (c < 0)
		return ha.kind == H_ENTRY ? one_side(d, a, &ha, true)
		                          : descend(d, a, &ha);
	if (c > 0)
		return hb.kind == H_ENTRY ? one_side(d, b, &hb, false)
		                          : descend(d, b, &hb);
	/* equal bounds, at least one subtree */
	if (ha.kind == H_ENTRY || (hb.kind == H_TREE && hb.height > ha.height))
		return descend(d, b, &hb);
	if (hb.kind == H_ENTRY || ha.height > hb.height)
		return descend(d, a, &ha);
	c = descend(d, a, &ha);
	return c != 0 ? c : descend(d, b, &hb);
}

/* The side of txn: table name as txn sees it, empty when txn has none. */
static int side_init(struct side *s, kv_txn *txn, const char *name)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->txn = txn;
	if (txn->failed)
		return kv_set_err(txn->failed_rc, "the transaction failed "
		                                  "earlier; abort it");
	rc = catalog_tree(txn, name, &s->t);
	if (rc == KV_ENOTFOUND) {
		memset(&s->t, 0, sizeof(s->t));
		return 0;
	}
	if (rc != 0)
		return rc;
	if (s->t.root != 0 && (s->t.depth == 0 || s->t.depth > KV_MAX_DEPTH))
		return KV_CORRUPT(s->t.root, "table depth out of range");
	return 0;
}

KV_API int kv_table_diff(kv_txn *a, kv_txn *b, const char *name,
                         int (*fn)(void *ctx, kv_val key, kv_val va, kv_val vb),
                         void *ctx, struct kv_diff_stat *stat)
{
	struct side sa, sb;
	struct diff d = { fn, ctx, { 0, 0 } };
	bool done = false;
	int rc;

	if (stat)
		memset(stat, 0, sizeof(*stat));
	if (a == NULL || b == NULL || fn == NULL)
		return kv_set_err(-EINVAL, "kv_table_diff: missing argument");
	if (a->env != b->env)
		return kv_set_err(-EINVAL, "kv_table_diff: the transactions "
		                           "belong to different environments");
	rc = name_check(name);
	if (rc == 0)
		rc = side_init(&sa, a, name);
	if (rc == 0)
		rc = side_init(&sb, b, name);
	while (rc == 0 && !done)
		rc = step(&d, &sa, &sb, &done);
	if (stat)
		*stat = d.st;
	return rc;
}
