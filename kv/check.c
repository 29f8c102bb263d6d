/*
 * check.c: the integrity check, and the verification that recovery runs
 * at open.
 *
 * kv_check() reads one committed state (as a reader, so it runs beside a
 * writer) and verifies:
 *   - every page reachable from the live tables, the catalog, the snapshots
 *     tree and every snapshot: checksum, its own page number, the txnid its
 *     parent expects, its type, node bounds, key order;
 *   - every table: keys strictly ascending across pages, and the entry and
 *     page counts in its descriptor;
 *   - page accounting: each page below the high-water mark is exactly one
 *     of meta, live, freelist chain, ready or pending; pages that only
 *     snapshots reach are pending; no page is lost.
 *
 * A damaged page of a tree (one that fails any of the page checks) is not
 * followed, so the keys below it go unverified.  Its problem is held until
 * the walk of its tree ends, then reported together with the keys it
 * covers, which the separators of the (intact) pages above it give: the
 * keys of child i of a branch page lie from separator i (included) up to
 * separator i + 1 (excluded), the bounds of the page itself at either
 * end.  A damaged overflow run covers the one entry whose value it holds.
 * Table trees are also reported to the caller's damage hook, with the
 * entries the table's descriptor counts beyond those the walk reached.
 *
 * check_recent() is the recovery check: the same page verification, limited
 * to pages written after a given txn (parents carry their children's
 * txnids, and a page is never newer than its parent, so older subtrees are
 * skipped whole).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

enum mark {
	M_NONE = 0,
	M_META,
	M_LIVE,
	M_SNAP,     /* reached from snapshots only */
	M_SNAPPEND, /* reached from snapshots only, and pending: correct */
	M_FLPAGE,
	M_READY,
	M_PEND,
	M_LOG, /* the commit log's run */
};

/* A damaged page of the tree being walked, and the keys below it. */
struct damaged {
	uint64_t pgno;
	char why[160];
	bool placed;   /* its parent was found: lo and hi hold */
	bool overflow; /* an overflow run: lo is the one key */
	kv_val lo, hi; /* lo <= key < hi; data NULL: unbounded */
};

struct checker {
	struct walk w; /* marks: enum mark; none in recovery mode */
	const struct kv_check_hooks *hooks;
	uint64_t problems;
	/* per-tree tallies */
	uint64_t entries, branch, leaf, overflow;
	int leaf_depth;
	bool recovery; /* several trees share one tally */
	/* the damaged pages of the tree being walked (not in recovery) */
	struct damaged *dmg;
	size_t ndmg, cdmg;
	bool dmg_lost; /* more than could be held: reported at once */
	/* the snapshot whose tables are walked, by name; NULL: the live
	 * state.  snaps[] maps snapshot txnids to names. */
	const char *snapshot;
	struct kv_snapshot_info *snaps;
	size_t nsnaps, csnaps;
};

static void problem(struct checker *ck, uint64_t pgno, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void problem(struct checker *ck, uint64_t pgno, const char *fmt, ...)
{
	char msg[400];
	int n;
	va_list ap;

	ck->problems++;
	n = snprintf(msg, sizeof(msg), "page %llu: ", (unsigned long long)pgno);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (ck->problems == 1)
		kv_set_err(KV_ECORRUPT, "%s", msg);
	if (ck->hooks && ck->hooks->problem && ck->problems <= 1000)
		ck->hooks->problem(ck->hooks->ctx, msg);
}

/*
 * A page of a tree that fails its checks and is not walked below.  In
 * recovery it is a problem at once; in kv_check() it waits for the end of
 * its tree's walk (tree_done()), which adds the keys it covers.
 */
static void damaged(struct checker *ck, uint64_t pgno, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void damaged(struct checker *ck, uint64_t pgno, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!ck->recovery && ck->ndmg == ck->cdmg && !ck->dmg_lost) {
		size_t nc = ck->cdmg ? ck->cdmg * 2 : 16;
		struct damaged *nd = realloc(ck->dmg, nc * sizeof(*nd));
		if (nd == NULL) {
			ck->dmg_lost = true;
		} else {
			ck->dmg = nd;
			ck->cdmg = nc;
		}
	}
	if (ck->recovery || ck->ndmg == ck->cdmg) {
		problem(ck, pgno, "%s", why);
		return;
	}
	memset(&ck->dmg[ck->ndmg], 0, sizeof(ck->dmg[0]));
	ck->dmg[ck->ndmg].pgno = pgno;
	memcpy(ck->dmg[ck->ndmg].why, why, sizeof(why));
	ck->ndmg++;
}

enum { KEYS_OK, KEYS_UNORDERED, KEYS_OUTSIDE };

/*
 * Whether the keys of tree page p ascend.  visit() runs before walk_page()
 * checks the node bounds of the page (page_check_nodes() in btree.c), so
 * every slot and key is checked to lie inside the page before it is read:
 * a node offset or key length from a damaged page (even one with a valid
 * checksum) must not lead the read past the page, or past the end of the
 * file into a SIGBUS.
 */
static int keys_ordered(const uint8_t *p)
{
	int n = page_nkeys(p), i;
	bool leaf = get16(p + PH_TYPE) == PT_LEAF;
	size_t hdr = leaf ? LN_HDR : BN_HDR;
	kv_val a = { NULL, 0 }, b;

	if ((size_t)PH_SIZE + 2u * (size_t)n > KV_PAGE_SIZE)
		return KEYS_OUTSIDE;
	for (i = leaf ? 0 : 1; i < n; i++) {
		size_t off = get16(p + PH_SIZE + 2 * i);

		if (off + hdr > KV_PAGE_SIZE)
			return KEYS_OUTSIDE;
		b.len = get16(p + off + (leaf ? LN_KLEN : BN_KLEN));
		b.data = p + off + hdr;
		if (off + hdr + b.len > KV_PAGE_SIZE)
			return KEYS_OUTSIDE;
		if (i > (leaf ? 0 : 1) && key_cmp(a, b) >= 0)
			return KEYS_UNORDERED;
		a = b;
	}
	return KEYS_OK;
}

/* A page run the walk reached again (walk.c): snapshots share pages with
 * the live state and with each other, and nothing else does. */
static int again(void *ctx, uint64_t pg, uint64_t n, uint8_t m)
{
	struct checker *ck = ctx;

	(void)n;
	if (m == M_LIVE && ck->w.phase == M_SNAP)
		return 1; /* shared with the live state */
	if (m == M_SNAP && ck->w.phase == M_SNAP)
		return 1; /* shared between snapshots */
	problem(ck, pg, "reachable twice");
	return 1;
}

/* A page run the walk reached for the first time, or could not read. */
static int visit(void *ctx, uint64_t pg, uint64_t n, uint64_t tx,
                 const uint8_t *p, int depth)
{
	struct checker *ck = ctx;
	uint16_t type;
	int order;

	if (p == NULL || pg < 2 || pg + n > ck->w.npages) {
		damaged(ck, pg,
		        "referenced page is out of range or unreadable");
		return 1;
	}
	if (get64(p + PH_CHECKSUM) != page_checksum(p, n * KV_PAGE_SIZE)) {
		damaged(ck, pg, "checksum mismatch");
		return 1;
	}
	if (get64(p + PH_PGNO) != pg) {
		damaged(ck, pg, "holds page %llu (misdirected write)",
		        (unsigned long long)get64(p + PH_PGNO));
		return 1;
	}
	if (get64(p + PH_TXNID) != tx) {
		damaged(ck, pg, "written by txn %llu, its parent expects %llu",
		        (unsigned long long)get64(p + PH_TXNID),
		        (unsigned long long)tx);
		return 1;
	}
	type = get16(p + PH_TYPE);
	if (type == PT_OVERFLOW) {
		ck->overflow += n;
		return 1;
	}
	if (type != PT_LEAF && type != PT_BRANCH) {
		damaged(ck, pg, "unexpected page type %u in a tree", type);
		return 1;
	}
	/* the walk checks the node bounds too, but stops the whole tree
	 * there: a page that fails them is one damaged page */
	order = keys_ordered(p);
	if (order == KEYS_OUTSIDE || bt_page_check(p, pg) != 0) {
		damaged(ck, pg, "node outside the page");
		return 1;
	}
	if (order == KEYS_UNORDERED)
		problem(ck, pg, "keys out of order");
	if (type == PT_LEAF) {
		ck->leaf++;
		ck->entries += page_nkeys(p);
		if (ck->leaf_depth < 0 || ck->recovery)
			ck->leaf_depth = depth;
		else if (ck->leaf_depth != depth)
			problem(ck, pg, "leaf at depth %d, others at %d", depth,
			        ck->leaf_depth);
	} else {
		ck->branch++;
		if (page_nkeys(p) == 0)
			problem(ck, pg, "empty branch page");
	}
	return 0;
}

static void tally_reset(struct checker *ck)
{
	ck->entries = ck->branch = ck->leaf = ck->overflow = 0;
	ck->leaf_depth = -1;
}

/* ---- the keys below a damaged page ----------------------------------- */

/* Page pg of the walked state if it reads as an intact tree page written
 * by txn tx: checksum, number, txnid, type and node bounds. */
static const uint8_t *intact(struct checker *ck, uint64_t pg, uint64_t tx)
{
	const uint8_t *p;
	uint16_t type;

	if (pg < 2 || pg >= ck->w.npages)
		return NULL;
	p = ck->w.txn->map + pg * KV_PAGE_SIZE;
	type = get16(p + PH_TYPE);
	if ((type != PT_BRANCH && type != PT_LEAF) ||
	    get64(p + PH_PGNO) != pg || get64(p + PH_TXNID) != tx ||
	    get64(p + PH_CHECKSUM) != page_checksum(p, KV_PAGE_SIZE) ||
	    keys_ordered(p) == KEYS_OUTSIDE)
		return NULL;
	return p;
}

/* The separator of node i >= 1 of an intact branch page. */
static kv_val separator(const uint8_t *p, int i)
{
	const uint8_t *nd = node_at(p, i);

	return (kv_val){ nd + BN_HDR, get16(nd + BN_KLEN) };
}

/*
 * Find the node that leads to d's page below page pg (written by tx),
 * whose keys lie in [lo, hi), going down intact pages only, and set d's
 * keys from it: a child's keys lie between its separator and the next.
 * Leaf pages are searched (for the overflow runs their nodes name) only
 * when leaves is set: every leaf would be read.
 */
static bool place(struct checker *ck, struct damaged *d, uint64_t pg,
                  uint64_t tx, kv_val lo, kv_val hi, int depth, bool leaves)
{
	const uint8_t *p;
	int i, n;

	if (depth > KV_MAX_DEPTH || pg < 2 || pg >= ck->w.npages)
		return false;
	if (!leaves &&
	    get16(ck->w.txn->map + pg * KV_PAGE_SIZE + PH_TYPE) == PT_LEAF)
		return false;
	p = intact(ck, pg, tx);
	if (p == NULL)
		return false;
	n = page_nkeys(p);
	for (i = 0; i < n; i++) {
		const uint8_t *nd = node_at(p, i);
		kv_val clo = i > 0 ? separator(p, i) : lo;
		kv_val chi = i + 1 < n ? separator(p, i + 1) : hi;
		size_t kl;

		if (get16(p + PH_TYPE) == PT_LEAF) {
			kl = get16(nd + LN_KLEN);
			if (!(nd[LN_FLAGS] & LN_BIG) ||
			    (size_t)(nd - p) + LN_HDR + kl + LN_BIGREF >
			            KV_PAGE_SIZE ||
			    get64(nd + LN_HDR + kl) != d->pgno)
				continue;
			d->lo = d->hi = (kv_val){ nd + LN_HDR, kl };
			d->overflow = true;
			return true;
		}
		if (get64(nd + BN_PGNO) == d->pgno) {
			d->lo = clo;
			d->hi = chi;
			return true;
		}
		if (place(ck, d, get64(nd + BN_PGNO), get64(nd + BN_TXNID), clo,
		          chi, depth + 1, leaves))
			return true;
	}
	return false;
}

/* A key as text for a message: quoted, bytes outside printable ASCII as
 * \xNN, cut after 64 bytes. */
static void key_text(char *buf, size_t n, kv_val k)
{
	const uint8_t *b = k.data;
	size_t i, o = 0;

	buf[o++] = '"';
	for (i = 0; i < k.len && i < 64 && o + 8 < n; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
			buf[o++] = (char)b[i];
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", b[i]);
	}
	if (i < k.len && o + 4 < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

/* "the keys of table 't' from "a", below "b" are not verified" and the
 * like: what d's page held of the tree called label. */
static void damage_text(char *buf, size_t n, const struct damaged *d,
                        const char *label)
{
	char lo[300], hi[300];

	if (d->lo.data)
		key_text(lo, sizeof(lo), d->lo);
	if (d->hi.data)
		key_text(hi, sizeof(hi), d->hi);
	if (!d->placed)
		snprintf(buf, n, "the keys below it in %s are not verified",
		         label);
	else if (d->overflow)
		snprintf(buf, n, "the value of key %s in %s is not verified",
		         lo, label);
	else if (d->lo.data && d->hi.data)
		snprintf(buf, n,
		         "the keys of %s from %s, below %s are not verified",
		         label, lo, hi);
	else if (d->lo.data)
		snprintf(buf, n, "the keys of %s from %s on are not verified",
		         label, lo);
	else if (d->hi.data)
		snprintf(buf, n, "the keys of %s below %s are not verified",
		         label, hi);
	else
		snprintf(buf, n, "no key of %s is verified", label);
}

/*
 * The walk of tree t, called label in messages, is over: report its
 * damaged pages with the keys each covers, and for a table (table not
 * NULL) pass them to the damage hook.
 */
static void tree_done(struct checker *ck, const struct tree *t,
                      const char *label, const char *table)
{
	kv_val none = { NULL, 0 };
	uint64_t runs = 0, unverified = 0;
	char what[800];
	size_t i;

	for (i = 0; i < ck->ndmg; i++) {
		struct damaged *d = &ck->dmg[i];

		d->placed =
		        d->pgno == t->root ||
		        place(ck, d, t->root, t->root_txn, none, none, 0,
		              false) ||
		        place(ck, d, t->root, t->root_txn, none, none, 0, true);
		runs += d->overflow;
		damage_text(what, sizeof(what), d, label);
		problem(ck, d->pgno, "%s; %s", d->why, what);
	}
	/* a snapshot's walk skips pages it shares, so its tallies are
	 * partial: the entries under its damaged pages are not known */
	if (ck->snapshot == NULL && t->count > ck->entries)
		unverified = t->count - ck->entries;
	if (ck->snapshot == NULL)
		unverified += runs;
	for (i = 0; table && ck->hooks && ck->hooks->damage && i < ck->ndmg;
	     i++) {
		const struct damaged *d = &ck->dmg[i];
		struct kv_check_damage x = {
			.table = table,
			.snapshot = ck->snapshot,
			.pgno = d->pgno,
			.first = d->lo,
			.end = d->hi,
			.unverified = unverified,
		};

		if (!d->placed)
			continue;
		ck->hooks->damage(ck->hooks->ctx, &x);
	}
	ck->ndmg = 0;
}

/* Walk tree t; label names it in messages, table is the name of the
 * table it is (NULL for the catalog or the snapshots tree). */
static int check_tree(struct checker *ck, const struct tree *t,
                      const char *label, const char *table)
{
	int rc = walk_tree(&ck->w, t);

	if (rc == KV_ECORRUPT) {
		problem(ck, 0, "%s: tree walk stopped: %s", label, kv_errmsg());
		rc = 0;
	}
	tree_done(ck, t, label, table);
	return rc;
}

/* Keys strictly ascending across the whole table; *n gets the number of
 * entries the scan found. */
static int check_order(struct checker *ck, const struct tree *t,
                       const char *name, uint64_t *n)
{
	struct tree tt = *t;
	struct cur c = { .txn = ck->w.txn, .tree = &tt };
	uint8_t prev[KV_MAX_KEY];
	size_t plen = 0;
	bool first = true;
	int rc;

	for (rc = bt_first(&c); rc == 0; rc = bt_next(&c)) {
		kv_val k, v;
		rc = bt_cur_get(&c, &k, &v);
		if (rc != 0)
			break;
		kv_val p = { prev, plen };
		if (!first && key_cmp(p, k) >= 0)
			problem(ck, c.pg[c.depth - 1],
			        "table '%s': key out "
			        "of order across pages",
			        name);
		if (k.len > KV_MAX_KEY) {
			problem(ck, c.pg[c.depth - 1], "key too long");
			break;
		}
		memcpy(prev, k.data, k.len);
		plen = k.len;
		first = false;
		(*n)++;
	}
	if (rc && rc != KV_ENOTFOUND) {
		problem(ck, 0, "table '%s': scan failed: %s", name,
		        kv_errmsg());
	}
	return 0;
}

/* Walk a catalog and its tables, checking each table's descriptor. */
static int check_catalog(struct checker *ck, const struct tree *cat,
                         bool verify_counts)
{
	struct tree t = *cat;
	struct cur c = { .txn = ck->w.txn, .tree = &t };
	char label[KV_MAX_NAME * 2 + 64], of[KV_MAX_NAME + 32] = "";
	int rc;

	if (ck->snapshot)
		snprintf(of, sizeof(of), " of snapshot '%s'", ck->snapshot);
	snprintf(label, sizeof(label), "the catalog%s", of);
	tally_reset(ck);
	rc = check_tree(ck, &t, label, NULL);
	if (rc != 0)
		return rc;
	if (ck->problems)
		return 0; /* do not trust a damaged catalog any further */
	for (rc = bt_first(&c); rc == 0; rc = bt_next(&c)) {
		kv_val k, v;
		struct tree tt;
		char name[KV_MAX_NAME + 1];
		rc = bt_cur_get(&c, &k, &v);
		if (rc != 0)
			return rc;
		/* a name the API could not open: empty, too long, or with a
		 * NUL inside */
		if (v.len != TD_SIZE || k.len == 0 || k.len > KV_MAX_NAME ||
		    memchr(k.data, '\0', k.len) != NULL) {
			problem(ck, c.pg[c.depth - 1], "bad catalog entry");
			continue;
		}
		memcpy(name, k.data, k.len);
		name[k.len] = 0;
		tree_load(&tt, v.data);
		tally_reset(ck);
		uint64_t before = ck->problems;
		snprintf(label, sizeof(label), "table '%s'%s", name, of);
		rc = check_tree(ck, &tt, label, name);
		if (rc != 0)
			return rc;
		if (ck->problems != before)
			continue;
		/* A snapshot's walk skips the pages it shares with trees
		 * already walked, so its page tallies are partial: only the
		 * live tables' are compared.  Entries are counted by a scan
		 * of the whole table, for snapshots too. */
		if (verify_counts && (ck->leaf != tt.leaf_pages ||
		                      ck->branch != tt.branch_pages ||
		                      ck->overflow != tt.overflow_pages))
			problem(ck, tt.root,
			        "table '%s' page counts differ "
			        "from its descriptor",
			        name);
		if (verify_counts && tt.root &&
		    (uint32_t)(ck->leaf_depth + 1) != tt.depth)
			problem(ck, tt.root,
			        "table '%s' depth differs from "
			        "its descriptor",
			        name);
		uint64_t scanned = 0;
		check_order(ck, &tt, name, &scanned);
		if (scanned != tt.count)
			problem(ck, tt.root,
			        "table '%s' holds %llu entries, "
			        "its descriptor says %llu",
			        name, (unsigned long long)scanned,
			        (unsigned long long)tt.count);
	}
	return rc == KV_ENOTFOUND ? 0 : rc;
}

static int add_snapshot(void *ctx, const struct kv_snapshot_info *s)
{
	struct checker *ck = ctx;

	if (ck->nsnaps == ck->csnaps) {
		size_t nc = ck->csnaps ? ck->csnaps * 2 : 16;
		struct kv_snapshot_info *nv =
		        realloc(ck->snaps, nc * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		ck->snaps = nv;
		ck->csnaps = nc;
	}
	ck->snaps[ck->nsnaps++] = *s;
	return 0;
}

static int check_one_snapshot(void *ctx, uint64_t txnid, const struct tree *cat)
{
	struct checker *ck = ctx;
	char name[KV_MAX_NAME + 32];
	size_t i;
	int rc;

	/* several snapshots of one commit share every page: the first
	 * names them */
	snprintf(name, sizeof(name), "txn %llu", (unsigned long long)txnid);
	for (i = 0; i < ck->nsnaps; i++) {
		if (ck->snaps[i].txnid == txnid) {
			snprintf(name, sizeof(name), "%s", ck->snaps[i].name);
			break;
		}
	}
	ck->snapshot = name;
	rc = check_catalog(ck, cat, false);
	ck->snapshot = NULL;
	return rc;
}

static int check_snapshots(struct checker *ck)
{
	int rc = kv_snapshot_list(ck->w.txn, add_snapshot, ck);

	if (rc == 0)
		rc = snap_each(ck->w.txn, &ck->w.txn->st.snaps,
		               check_one_snapshot, ck);
	if (rc == KV_ECORRUPT) {
		problem(ck, 0, "snapshots: %s", kv_errmsg());
		rc = 0;
	}
	return rc;
}

/* Recovery: the pages of snapshots newer than the fallback commit. */
static int recent_snapshot(void *ctx, uint64_t txnid, const struct tree *cat)
{
	struct checker *ck = ctx;
	int rc;

	if (txnid <= ck->w.min_txn)
		return 0;
	rc = walk_catalog(&ck->w, cat);
	if (rc == KV_ECORRUPT) {
		problem(ck, 0, "snapshot walk: %s", kv_errmsg());
		rc = 0;
	}
	return rc ? rc : (ck->problems ? 1 : 0);
}

static void check_chain(struct checker *ck)
{
	const struct state *st = &ck->w.txn->st;
	uint64_t pg = st->fl_pgno, tx = st->fl_txnid, seen = 0;

	while (pg) {
		const uint8_t *p;
		if (ck->w.min_txn && tx <= ck->w.min_txn)
			return;
		if (pg < 2 || pg >= ck->w.npages || ++seen > st->fl_npages) {
			problem(ck, pg, "freelist chain out of range");
			return;
		}
		p = ck->w.txn->map + pg * KV_PAGE_SIZE;
		if (get64(p + PH_CHECKSUM) != page_checksum(p, KV_PAGE_SIZE) ||
		    get16(p + PH_TYPE) != PT_FREELIST ||
		    get64(p + PH_TXNID) != tx || get64(p + PH_PGNO) != pg) {
			problem(ck, pg, "freelist page damaged");
			return;
		}
		if (ck->w.mark) {
			if (ck->w.mark[pg] != M_NONE)
				problem(ck, pg, "freelist page is also in use");
			ck->w.mark[pg] = M_FLPAGE;
			/* a run saved as pending must not be in use by its own
			 * commit's trees (later commits may have reused it) */
			for (uint32_t i = 0;
			     st->fl_txnid == st->txnid &&
			     i < get32(p + PH_EXTRA) && i < FP_PER_PAGE;
			     i++) {
				const uint8_t *q =
				        p + FP_ENTRIES + (size_t)i * FP_ENTRY;
				uint64_t e = get64(q), n = get64(q + 8), j;
				for (j = e; j < e + n && j < ck->w.npages; j++)
					if (ck->w.mark[j] == M_LIVE)
						problem(ck, j,
						        "saved as pending "
						        "reuse but in use");
			}
		}
		pg = get64(p + FP_NEXT);
		tx = get64(p + FP_NEXT_TXN);
	}
}

static void check_free(struct checker *ck, struct kv_check_report *rep)
{
	struct flstate f;
	size_t i;
	uint64_t j, pg, n;

	if (fl_load(ck->w.txn->env, ck->w.txn->map, &ck->w.txn->st, &f)) {
		problem(ck, ck->w.txn->st.fl_pgno, "freelist unreadable: %s",
		        kv_errmsg());
		return;
	}
	for (pg = 0; fl_ready_next(&f, &pg, &n); pg += n) {
		for (j = pg; j < pg + n; j++) {
			if (j >= ck->w.npages) {
				problem(ck, j,
				        "listed as free but past the "
				        "end of the file");
				break;
			}
			if (ck->w.mark[j] != M_NONE)
				problem(ck, j,
				        "listed as free but in use "
				        "(mark %u)",
				        ck->w.mark[j]);
			ck->w.mark[j] = M_READY;
		}
		rep->pages_free += n;
	}
	for (i = 0; i < f.npend; i++) {
		for (j = f.pend[i].pgno; j < f.pend[i].pgno + f.pend[i].n;
		     j++) {
			if (ck->w.mark[j] == M_SNAP) {
				ck->w.mark[j] = M_SNAPPEND;
				continue;
			}
			if (ck->w.mark[j] != M_NONE)
				problem(ck, j,
				        "pending reuse but in use "
				        "(mark %u)",
				        ck->w.mark[j]);
			ck->w.mark[j] = M_PEND;
		}
		rep->pages_pending += f.pend[i].n;
	}
	fl_release(&f);
}

KV_API int kv_txn_check(kv_txn *txn, const struct kv_check_hooks *hooks,
                        struct kv_check_report *rep)
{
	struct kv_check_report dummy;
	struct checker ck;
	uint64_t i, entries = 0;
	int rc;

	if (rep == NULL)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if (!txn->rdonly || txn->snapshot)
		return kv_set_err(-EINVAL, "kv_txn_check: a read transaction "
		                           "on the live state only");
	memset(&ck, 0, sizeof(ck));
	ck.hooks = hooks;
	rc = walk_init(&ck.w, txn, true, visit, again, &ck);
	if (rc != 0)
		return rc;
	ck.w.mark[0] = ck.w.mark[1] = M_META;
	if (txn->st.log_npages) {
		const struct state *s = &txn->st;
		if (s->log_pgno < 2 || s->log_pgno > ck.w.npages ||
		    s->log_npages > ck.w.npages - s->log_pgno)
			problem(&ck, s->log_pgno, "commit log out of range");
		else
			memset(ck.w.mark + s->log_pgno, M_LOG, s->log_npages);
	}
	ck.w.phase = M_LIVE;
	rc = check_catalog(&ck, &txn->st.catalog, true);
	/* entries of the live tables, counted from their descriptors */
	if (rc == 0) {
		struct tree t = txn->st.catalog;
		struct cur c = { .txn = txn, .tree = &t };
		int r2;
		for (r2 = bt_first(&c); r2 == 0; r2 = bt_next(&c)) {
			kv_val v;
			if (bt_cur_get(&c, NULL, &v) || v.len != TD_SIZE)
				break;
			entries += get64((const uint8_t *)v.data + TD_COUNT);
		}
	}
	if (rc == 0) {
		tally_reset(&ck);
		rc = check_tree(&ck, &txn->st.snaps, "the snapshots tree",
		                NULL);
	}
	if (rc == 0 && ck.problems == 0) {
		ck.w.phase = M_SNAP;
		rc = check_snapshots(&ck);
	}
	if (rc == 0) {
		check_chain(&ck);
		if (ck.problems == 0)
			check_free(&ck, rep);
	}
	if (rc == 0 && ck.problems == 0) {
		for (i = 2; i < ck.w.npages; i++) {
			if (ck.w.mark[i] == M_NONE)
				problem(&ck, i,
				        "lost: neither reachable nor "
				        "free");
			else if (ck.w.mark[i] == M_SNAP)
				problem(&ck, i,
				        "held only by snapshots but "
				        "not waiting in the freelist");
		}
	}
	for (i = 0; i < ck.w.npages; i++)
		if (ck.w.mark[i] == M_LIVE || ck.w.mark[i] == M_SNAP ||
		    ck.w.mark[i] == M_SNAPPEND || ck.w.mark[i] == M_FLPAGE ||
		    ck.w.mark[i] == M_LOG)
			rep->pages_reachable++;
	rep->pages_total = ck.w.npages;
	rep->entries = entries;
	rep->problems = ck.problems;
	walk_release(&ck.w);
	free(ck.dmg);
	free(ck.snaps);
	if (rc != 0)
		return rc;
	return ck.problems ? KV_ECORRUPT : 0;
}

KV_API int kv_check(kv_env *env, void (*fn)(void *ctx, const char *msg),
                    void *ctx, struct kv_check_report *rep)
{
	struct kv_check_hooks hooks = { .problem = fn, .ctx = ctx };
	kv_txn *txn;
	int rc;

	if (rep)
		memset(rep, 0, sizeof(*rep));
	rc = txn_begin_read_state(env, &txn);
	if (rc != 0)
		return rc;
	rc = kv_txn_check(txn, &hooks, rep);
	kv_txn_abort(txn);
	return rc;
}

int check_recent(kv_env *env, uint8_t *map, const struct state *st,
                 uint64_t min_txn)
{
	kv_txn txn;
	struct checker ck;
	int rc;

	txn_over_state(&txn, env, map, st);
	memset(&ck, 0, sizeof(ck));
	(void)walk_init(&ck.w, &txn, false, visit, NULL, &ck);
	ck.w.min_txn = min_txn;
	ck.recovery = true;
	tally_reset(&ck);
	rc = check_tree(&ck, &st->catalog, "the catalog", NULL);
	if (rc == 0 && ck.problems == 0) {
		struct tree t = st->catalog;
		struct cur c = { .txn = &txn, .tree = &t };
		for (rc = bt_first(&c); rc == 0 && !ck.problems;
		     rc = bt_next(&c)) {
			kv_val v;
			struct tree tt;
			rc = bt_cur_get(&c, NULL, &v);
			if (rc != 0)
				break;
			if (v.len != TD_SIZE) {
				problem(&ck, c.pg[c.depth - 1],
				        "catalog entry");
				break;
			}
			tree_load(&tt, v.data);
			rc = check_tree(&ck, &tt, "a table", NULL);
			if (rc != 0)
				break;
		}
		if (rc == KV_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0 && ck.problems == 0)
		rc = check_tree(&ck, &st->snaps, "the snapshots tree", NULL);
	if (rc == 0 && ck.problems == 0) {
		/* snapshots of recent commits reach recent pages too */
		rc = snap_each(&txn, &st->snaps, recent_snapshot, &ck);
		if (rc == KV_ECORRUPT) {
			problem(&ck, 0, "snapshots: %s", kv_errmsg());
			rc = 0;
		}
		if (rc == 1)
			rc = 0;
	}
	if (rc == 0 && ck.problems == 0)
		check_chain(&ck);
	if (rc != 0)
		return rc;
	return ck.problems ? KV_ECORRUPT : 0;
}
