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

struct checker {
	struct walk w; /* marks: enum mark; none in recovery mode */
	void (*fn)(void *ctx, const char *msg);
	void *ctx;
	uint64_t problems;
	/* per-tree tallies */
	uint64_t entries, branch, leaf, overflow;
	int leaf_depth;
	bool recovery; /* several trees share one tally */
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
	if (ck->fn && ck->problems <= 1000)
		ck->fn(ck->ctx, msg);
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

	if (p == NULL || pg < 2 || pg + n > ck->w.npages) {
		problem(ck, pg,
		        "referenced page is out of range or unreadable");
		return 1;
	}
	if (get64(p + PH_CHECKSUM) != page_checksum(p, n * KV_PAGE_SIZE)) {
		problem(ck, pg, "checksum mismatch");
		return 1;
	}
	if (get64(p + PH_PGNO) != pg) {
		problem(ck, pg, "holds page %llu (misdirected write)",
		        (unsigned long long)get64(p + PH_PGNO));
		return 1;
	}
	if (get64(p + PH_TXNID) != tx) {
		problem(ck, pg, "written by txn %llu, its parent expects %llu",
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
		problem(ck, pg, "unexpected page type %u in a tree", type);
		return 1;
	}
	switch (keys_ordered(p)) {
	case KEYS_OUTSIDE:
		problem(ck, pg, "node outside the page");
		return 1;
	case KEYS_UNORDERED:
		problem(ck, pg, "keys out of order");
		break;
	}
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

static int check_tree(struct checker *ck, const struct tree *t)
{
	int rc = walk_tree(&ck->w, t);

	if (rc == KV_ECORRUPT) {
		problem(ck, 0, "tree walk stopped: %s", kv_errmsg());
		return 0;
	}
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
	int rc;

	tally_reset(ck);
	rc = check_tree(ck, &t);
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
		rc = check_tree(ck, &tt);
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

static int check_one_snapshot(void *ctx, uint64_t txnid, const struct tree *cat)
{
	(void)txnid;
	return check_catalog(ctx, cat, false);
}

static int check_snapshots(struct checker *ck)
{
	int rc = snap_each(ck->w.txn, &ck->w.txn->st.snaps, check_one_snapshot,
	                   ck);

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

KV_API int kv_check(kv_env *env, void (*fn)(void *ctx, const char *msg),
                    void *ctx, struct kv_check_report *rep)
{
	struct kv_check_report dummy;
	struct checker ck;
	kv_txn *txn;
	uint64_t i, entries = 0;
	int rc;

	if (rep == NULL)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	rc = txn_begin_read_state(env, &txn);
	if (rc != 0)
		return rc;
	memset(&ck, 0, sizeof(ck));
	ck.fn = fn;
	ck.ctx = ctx;
	rc = walk_init(&ck.w, txn, true, visit, again, &ck);
	if (rc != 0) {
		kv_txn_abort(txn);
		return rc;
	}
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
		rc = check_tree(&ck, &txn->st.snaps);
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
	kv_txn_abort(txn);
	if (rc != 0)
		return rc;
	return ck.problems ? KV_ECORRUPT : 0;
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
	rc = check_tree(&ck, &st->catalog);
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
			rc = check_tree(&ck, &tt);
			if (rc != 0)
				break;
		}
		if (rc == KV_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0 && ck.problems == 0)
		rc = check_tree(&ck, &st->snaps);
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
