/*
 * freelist.c: which pages can be reused.
 *
 * Two sets:
 *   ready    pages nobody can see, a bitmap (below); allocation takes the
 *            lowest fitting run (first fit), which keeps the file dense
 *   pending  runs freed by a commit but perhaps still visible: each keeps
 *            the txn that wrote it ("born") and the txn that freed it
 * Checkpoints save the pending runs as a chain of freelist pages; ready is
 * what no tree, snapshot, pending run or chain holds, so it is derived.
 *
 * A pending run born in b and freed in f is visible to a state with txnid t
 * when b <= t < f.  It becomes ready when
 *   - no active reader (any process) sees it,
 *   - no persistent snapshot sees it (this is how snapshots hold pages, and
 *     why deleting a snapshot frees exactly the pages only it held), and
 *   - the last durable commit cannot reach it: f <= durable, or b > durable
 *     (then it was never part of a durable state).  After a power loss the
 *     store may fall back to the last durable commit, so its pages must
 *     stay intact until a later commit is durable.
 * Freelist pages themselves (FL_META) are seen by readers of their commit
 * (kv_check walks them) but never by snapshots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

void fl_release(struct flstate *f)
{
	free(f->rbits);
	free(f->pend);
	free(f->log);
	memset(f, 0, sizeof(*f));
}

static void log_op(struct flstate *f, uint64_t pgno, uint64_t n, bool added)
{
	if (!f->logging)
		return;
	if (f->nlog == f->clog) {
		size_t nc = f->clog ? f->clog * 2 : 64;
		struct fl_undo *nl = realloc(f->log, nc * sizeof(*nl));
		if (nl == NULL) {
			f->log_lost = true;
			return;
		}
		f->log = nl;
		f->clog = nc;
	}
	f->log[f->nlog++] = (struct fl_undo){ pgno, n, added };
}

void fl_log_begin(struct flstate *f)
{
	f->nlog = 0;
	f->logging = true;
	f->log_lost = false;
}

void fl_log_end(struct flstate *f)
{
	f->nlog = 0;
	f->logging = false;
}

/* ---- the ready set ---------------------------------------------------- */

/*
 * Ready pages are a bitmap over the file: adding a page is O(1) wherever
 * it lies, neighbours need no merging, and taking the lowest page scans
 * up from rlow, which only takes and adds below it move.  (A sorted array
 * of runs moved half its entries for every run a reclaim added in its
 * middle: 20% of a non-durable commit's time with 20,000 runs.)
 */
#define NO_PAGE UINT64_MAX

/* Bits [lo, hi) of a word; lo < hi <= 64. */
static uint64_t bit_range(unsigned lo, unsigned hi)
{
	uint64_t m = hi == 64 ? ~0ull : (1ull << hi) - 1;
	return m & ~((1ull << lo) - 1);
}

int fl_ready_reserve(struct flstate *f, uint64_t end)
{
	uint64_t need = (end + 63) / 64;
	size_t nc;
	uint64_t *nb;

	if (need <= f->rwords)
		return 0;
	if (need > SIZE_MAX / 2 / sizeof(*nb))
		return -ENOMEM;
	nc = f->rwords ? f->rwords : 64;
	while (nc < need)
		nc *= 2;
	nb = realloc(f->rbits, nc * sizeof(*nb));
	if (nb == NULL)
		return -ENOMEM;
	memset(nb + f->rwords, 0, (nc - f->rwords) * sizeof(*nb));
	f->rbits = nb;
	f->rwords = nc;
	return 0;
}

/* Set or clear [pgno, pgno + n), whose words exist; the bits changed. */
static uint64_t bits_apply(struct flstate *f, uint64_t pgno, uint64_t n,
                           bool on)
{
	uint64_t end = pgno + n, changed = 0;

	while (pgno < end) {
		size_t w = pgno / 64;
		uint64_t base = (uint64_t)w * 64;
		unsigned hi = end - base >= 64 ? 64 : (unsigned)(end - base);
		uint64_t m = bit_range((unsigned)(pgno - base), hi);
		uint64_t old = f->rbits[w];
		uint64_t now = on ? old | m : old & ~m;
		changed += (uint64_t)__builtin_popcountll(old ^ now);
		f->rbits[w] = now;
		pgno = base + hi;
	}
	return changed;
}

static bool bits_all_set(const struct flstate *f, uint64_t pgno, uint64_t n)
{
	uint64_t end = pgno + n;

	if (n == 0 || end < pgno || (end - 1) / 64 >= f->rwords)
		return false;
	while (pgno < end) {
		size_t w = pgno / 64;
		uint64_t base = (uint64_t)w * 64;
		unsigned hi = end - base >= 64 ? 64 : (unsigned)(end - base);
		uint64_t m = bit_range((unsigned)(pgno - base), hi);
		if ((f->rbits[w] & m) != m)
			return false;
		pgno = base + hi;
	}
	return true;
}

static bool bit_is_set(const struct flstate *f, uint64_t pgno)
{
	return pgno / 64 < f->rwords &&
	       (f->rbits[pgno / 64] >> (pgno % 64) & 1);
}

/* The lowest ready page at or after pgno, or NO_PAGE. */
static uint64_t next_set(const struct flstate *f, uint64_t pgno)
{
	size_t w = pgno / 64;
	uint64_t x;

	if (w >= f->rwords)
		return NO_PAGE;
	x = f->rbits[w] & (~0ull << (pgno % 64));
	while (!x) {
		if (++w == f->rwords)
			return NO_PAGE;
		x = f->rbits[w];
	}
	return (uint64_t)w * 64 + (unsigned)__builtin_ctzll(x);
}

/* The lowest page at or after pgno that is not ready. */
static uint64_t next_clear(const struct flstate *f, uint64_t pgno)
{
	size_t w = pgno / 64;
	uint64_t x;

	if (w >= f->rwords)
		return pgno;
	x = ~f->rbits[w] & (~0ull << (pgno % 64));
	while (!x) {
		if (++w == f->rwords)
			return (uint64_t)w * 64;
		x = ~f->rbits[w];
	}
	return (uint64_t)w * 64 + (unsigned)__builtin_ctzll(x);
}

/* The first page of the ready run that ends with page last (ready). */
static uint64_t run_start(const struct flstate *f, uint64_t last)
{
	size_t w = last / 64;
	unsigned b = (unsigned)(last % 64);
	uint64_t x = ~f->rbits[w] & (b == 63 ? ~0ull : (1ull << (b + 1)) - 1);

	while (!x) {
		if (w == 0)
			return 0;
		x = ~f->rbits[--w];
	}
	return (uint64_t)w * 64 + (63 - (unsigned)__builtin_clzll(x)) + 1;
}

static void ready_set(struct flstate *f, uint64_t pgno, uint64_t n)
{
	f->rcount += bits_apply(f, pgno, n, true);
	if (pgno / 64 < f->rlow)
		f->rlow = pgno / 64;
}

static void ready_clear(struct flstate *f, uint64_t pgno, uint64_t n)
{
	f->rcount -= bits_apply(f, pgno, n, false);
}

/* Remove pages [pgno, pgno + n), all ready, from the ready set. */
static int ready_remove(struct flstate *f, uint64_t pgno, uint64_t n)
{
	if (!bits_all_set(f, pgno, n))
		return -1;
	ready_clear(f, pgno, n);
	return 0;
}

bool fl_ready_next(const struct flstate *f, uint64_t *pgno, uint64_t *n)
{
	uint64_t p = next_set(f, *pgno);

	if (p == NO_PAGE)
		return false;
	*pgno = p;
	*n = next_clear(f, p) - p;
	return true;
}

bool fl_undo(struct flstate *f, uint64_t txnid)
{
	size_t i, k;
	bool ok = !f->log_lost;

	f->logging = false;
	for (i = f->nlog; ok && i-- > 0;) {
		struct fl_undo *u = &f->log[i];
		if (u->added)
			ok = ready_remove(f, u->pgno, u->n) == 0;
		else
			ok = fl_add_ready(f, u->pgno, u->n) == 0;
	}
	for (i = 0, k = 0; i < f->npend; i++)
		if ((f->pend[i].freed & ~FL_META) != txnid)
			f->pend[k++] = f->pend[i];
	f->npend = k;
	f->nlog = 0;
	return ok;
}

static int reserve(struct fl_entry **v, size_t *cap, size_t need)
{
	struct fl_entry *nv;
	size_t nc;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 32;
	while (nc < need)
		nc *= 2;
	nv = realloc(*v, nc * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

/* Add runs found free by a reclaim: not logged, as they stay free whether
 * the txn commits or not. */
int fl_merge_ready(struct flstate *f, const struct fl_entry *runs, size_t m)
{
	uint64_t end = 0;
	size_t i;
	int rc;

	for (i = 0; i < m; i++)
		if (runs[i].pgno + runs[i].n > end)
			end = runs[i].pgno + runs[i].n;
	rc = fl_ready_reserve(f, end);
	if (rc != 0)
		return rc;
	for (i = 0; i < m; i++)
		ready_set(f, runs[i].pgno, runs[i].n);
	return 0;
}

int fl_add_ready(struct flstate *f, uint64_t pgno, uint64_t n)
{
	int rc = fl_ready_reserve(f, pgno + n);

	if (rc != 0)
		return rc;
	log_op(f, pgno, n, true);
	ready_set(f, pgno, n);
	return 0;
}

int fl_add_pending(struct flstate *f, uint64_t pgno, uint64_t n, uint64_t born,
                   uint64_t freed)
{
	int rc = reserve(&f->pend, &f->cpend, f->npend + 1);

	if (rc != 0)
		return rc;
	f->pend[f->npend++] = (struct fl_entry){ pgno, n, born, freed };
	return 0;
}

/* The lowest run of n ready pages (first fit); single pages, the usual
 * case, come from the first non-zero word. */
int fl_take(struct flstate *f, uint64_t n, uint64_t *pgno)
{
	uint64_t p;

	while (f->rlow < f->rwords && f->rbits[f->rlow] == 0)
		f->rlow++;
	p = next_set(f, (uint64_t)f->rlow * 64);
	while (n > 1 && p != NO_PAGE) {
		uint64_t q = next_clear(f, p);
		if (q - p >= n)
			break;
		p = next_set(f, q);
	}
	if (p == NO_PAGE)
		return KV_ENOTFOUND;
	log_op(f, p, n, false);
	ready_clear(f, p, n);
	*pgno = p;
	return 0;
}

uint64_t fl_ready_pages(const struct flstate *f)
{
	return f->rcount;
}

uint64_t fl_pending_pages(const struct flstate *f)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < f->npend; i++)
		n += f->pend[i].n;
	return n;
}

/* Is there a t in the sorted tx[] with born <= t < freed? */
bool fl_visible(const uint64_t *tx, size_t n, uint64_t born, uint64_t freed)
{
	size_t lo = 0, hi = n;

	while (lo < hi) { /* first t >= born */
		size_t mid = (lo + hi) / 2;
		if (tx[mid] < born)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && tx[lo] < freed;
}

static bool same_u64(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static int remember(uint64_t **dst, size_t *nd, const uint64_t *src, size_t n)
{
	uint64_t *c = NULL;

	if (n) {
		c = malloc(n * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		memcpy(c, src, n * sizeof(*c));
	}
	free(*dst);
	*dst = c;
	*nd = n;
	return 0;
}

/*
 * Move pending runs that nothing can see any more to ready.  When the
 * readers, snapshots and durable commit are those of the last reclaim, the
 * runs looked at then are still held, and only those added since are
 * examined.
 */
int fl_reclaim(kv_txn *txn)
{
	kv_env *env = txn->env;
	struct flstate *f = txn->fl;
	uint64_t *rd = NULL;
	size_t nrd = 0, i, keep, start = 0;
	int rc;

	rc = readers_collect(env, &rd, &nrd);
	if (rc != 0)
		return rc;
	free(txn->readers);
	txn->readers = rd;
	txn->nreaders = nrd;
	txn->durable_txnid = atomic_load(&env->sh->durable_txnid);

	if (env->reclaim_valid && env->reclaim_durable == txn->durable_txnid &&
	    same_u64(env->reclaim_readers, env->reclaim_nreaders, rd, nrd) &&
	    same_u64(env->reclaim_snaps, env->reclaim_nsnaps, txn->snaptx,
	             txn->nsnaptx) &&
	    env->reclaim_checked <= f->npend)
		start = env->reclaim_checked;
	/* room first, so that a failure leaves everything pending */
	uint64_t end = 0;
	for (i = start; i < f->npend; i++)
		if (f->pend[i].pgno + f->pend[i].n > end)
			end = f->pend[i].pgno + f->pend[i].n;
	rc = fl_ready_reserve(f, end);
	if (rc != 0) {
		env->reclaim_valid = false;
		return rc;
	}
	keep = start;
	for (i = start; i < f->npend; i++) {
		struct fl_entry e = f->pend[i];
		uint64_t freed = e.freed & ~FL_META;
		bool meta = (e.freed & FL_META) != 0;
		bool held = freed >= txn->id ||
		            fl_visible(rd, nrd, e.born, freed) ||
		            (!meta && fl_visible(txn->snaptx, txn->nsnaptx,
		                                 e.born, freed)) ||
		            (freed > txn->durable_txnid &&
		             e.born <= txn->durable_txnid);
		if (held)
			f->pend[keep++] = e;
		else /* reserved above, so this cannot fail */
			(void)fl_merge_ready(f, &e, 1);
	}
	f->npend = keep;
	/* runs freed by this very txn were held for that reason alone: they
	 * must be looked at again next time */
	for (i = start; i < keep; i++)
		if ((f->pend[i].freed & ~FL_META) >= txn->id)
			break;
	keep = i;
	env->reclaim_valid = false;
	if (remember(&env->reclaim_readers, &env->reclaim_nreaders, rd, nrd) ==
	            0 &&
	    remember(&env->reclaim_snaps, &env->reclaim_nsnaps, txn->snaptx,
	             txn->nsnaptx) == 0) {
		env->reclaim_durable = txn->durable_txnid;
		env->reclaim_checked = keep;
		env->reclaim_valid = true;
	}
	return 0;
}

/* ---- persistence ------------------------------------------------------ */

/* Read the pending runs saved in st's chain into hints. */
static int chain_read(uint8_t *map, const struct state *st,
                      struct flstate *hints)
{
	uint64_t pg = st->fl_pgno, tx = st->fl_txnid, seen = 0;
	int rc;

	memset(hints, 0, sizeof(*hints));
	while (pg) {
		const uint8_t *p;
		uint32_t n, i;

		if (pg < 2 || pg >= st->next_pgno || ++seen > st->fl_npages)
			return KV_CORRUPT(pg, "freelist chain out of range");
		p = map + pg * KV_PAGE_SIZE;
		if (get16(p + PH_TYPE) != PT_FREELIST ||
		    get64(p + PH_TXNID) != tx || get64(p + PH_PGNO) != pg)
			return KV_CORRUPT(pg, "not the expected freelist page");
		n = get32(p + PH_EXTRA);
		if (n > FP_PER_PAGE)
			return KV_CORRUPT(pg, "freelist entry count");
		for (i = 0; i < n; i++) {
			const uint8_t *q =
			        p + FP_ENTRIES + (size_t)i * FP_ENTRY;
			uint64_t epg = get64(q), en = get64(q + 8);
			uint64_t born = get64(q + 16), freed = get64(q + 24);
			if (epg < 2 || en == 0 || freed == 0)
				return KV_CORRUPT(pg, "freelist entry out of "
				                      "range");
			if (en > st->next_pgno || epg > st->next_pgno - en) {
				/* a stale chain may name pages the file has
				 * given back since; its own commit's may not */
				if (st->fl_txnid == st->txnid)
					return KV_CORRUPT(pg, "freelist entry "
					                      "out of range");
				continue;
			}
			rc = fl_add_pending(hints, epg, en, born, freed);
			if (rc != 0)
				return rc;
		}
		pg = get64(p + FP_NEXT);
		tx = get64(p + FP_NEXT_TXN);
	}
	return 0;
}

static int fl_build(kv_env *env, uint8_t *map, const struct state *st,
                    struct flstate *f, const struct flstate *hints, bool exact);

int fl_load(kv_env *env, uint8_t *map, const struct state *st,
            struct flstate *f)
{
	struct flstate hints;
	int rc = chain_read(map, st, &hints);

	memset(f, 0, sizeof(*f));
	if (rc == 0)
		rc = fl_build(env, map, st, f, &hints,
		              st->fl_txnid == st->txnid);
	fl_release(&hints);
	return rc;
}

static uint64_t pages_for(size_t entries)
{
	return (entries + FP_PER_PAGE - 1) / FP_PER_PAGE;
}

/*
 * Write the free state of txn as a new chain.  The old chain is freed first
 * (pending, FL_META).  Allocating the chain's own pages shrinks the ready
 * list, which may shrink the chain: allocate until the pages suffice.
 */
int fl_save(kv_txn *txn)
{
	struct flstate *f = txn->fl;
	uint64_t *pg = NULL;
	size_t npg = 0, cap = 0, i, e;
	int rc;

	if (txn->st.fl_pgno) {
		/* the old chain: one free unit per page, all born together */
		uint64_t p = txn->st.fl_pgno, t = txn->st.fl_txnid;
		while (p) {
			const uint8_t *q = page_get(txn, p);
			if (q == NULL)
				return KV_ECORRUPT;
			rc = fl_add_pending(f, p, 1, t, txn->id | FL_META);
			if (rc != 0)
				return rc;
			p = get64(q + FP_NEXT);
			t = get64(q + FP_NEXT_TXN);
		}
	}
	for (;;) {
		uint64_t need = pages_for(f->npend);
		uint64_t p;
		if (npg >= need)
			break;
		if (npg == cap) {
			size_t nc = cap ? cap * 2 : 8;
			uint64_t *np = realloc(pg, nc * sizeof(*np));
			if (np == NULL) {
				free(pg);
				return -ENOMEM;
			}
			pg = np;
			cap = nc;
		}
		if (fl_take(f, 1, &p) != 0)
			p = txn->st.next_pgno++;
		pg[npg++] = p;
	}

	/* Fill the pages with the pending runs; ready pages are not saved:
	 * they are what no tree, no snapshot and no pending run holds. */
	e = 0;
	for (i = 0; i < npg; i++) {
		uint8_t *buf;
		uint32_t n = 0;
		uint64_t dummy;

		buf = pgbuf_get(txn->env, 1);
		if (buf == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		memset(buf, 0, KV_PAGE_SIZE);
		(void)dummy;
		put64(buf + PH_PGNO, pg[i]);
		put64(buf + PH_TXNID, txn->id);
		put16(buf + PH_TYPE, PT_FREELIST);
		while (n < FP_PER_PAGE && e < f->npend) {
			const struct fl_entry *x = &f->pend[e];
			uint8_t *q = buf + FP_ENTRIES + (size_t)n * FP_ENTRY;
			put64(q, x->pgno);
			put64(q + 8, x->n);
			put64(q + 16, x->born);
			put64(q + 24, x->freed);
			n++;
			e++;
		}
		put32(buf + PH_EXTRA, n);
		if (i + 1 < npg) {
			put64(buf + FP_NEXT, pg[i + 1]);
			put64(buf + FP_NEXT_TXN, txn->id);
		}
		rc = dirty_add_page(txn, pg[i], buf);
		if (rc != 0) {
			pgbuf_put(txn->env, buf, 1);
			goto fail;
		}
	}
	txn->st.fl_pgno = npg ? pg[0] : 0;
	txn->st.fl_txnid = npg ? txn->id : 0;
	txn->st.fl_npages = npg;
	free(pg);
	return 0;
fail:
	free(pg);
	return rc;
}

int fl_settle(kv_txn *txn)
{
	struct flstate *f = txn->fl;
	size_t i;
	int rc;

	for (i = 0; i < txn->nloose; i++) {
		rc = fl_add_ready(f, txn->loose[i], 1);
		if (rc != 0)
			return rc;
	}
	txn->nloose = 0;
	/* ready pages at the end of the file: the file gives them back */
	if (txn->st.next_pgno && bit_is_set(f, txn->st.next_pgno - 1)) {
		uint64_t first = run_start(f, txn->st.next_pgno - 1);
		log_op(f, first, txn->st.next_pgno - first, false);
		ready_clear(f, first, txn->st.next_pgno - first);
		txn->st.next_pgno = first;
	}
	return 0;
}

/* ---- rebuilding ------------------------------------------------------- */

enum { R_NONE, R_LIVE, R_SNAP, R_HINT };

struct rebuild {
	struct walk w; /* marks: R_* */
	struct flstate *f;
	uint64_t txnid;
};

/* A page run the walk (walk.c) reached for the first time. */
static int rb_visit(void *ctx, uint64_t pg, uint64_t n, uint64_t tx,
                    const uint8_t *p, int depth)
{
	struct rebuild *rb = ctx;

	(void)depth;
	if (p == NULL || pg + n > rb->w.npages)
		return KV_CORRUPT(pg, "page out of range while rebuilding "
		                      "the freelist");
	if (rb->w.phase == R_SNAP) {
		/* only snapshots reach it and no saved run says since when:
		 * it waits for every snapshot since it was written */
		int rc = fl_add_pending(rb->f, pg, n, tx, rb->txnid);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* A page run the walk reached again. */
static int rb_again(void *ctx, uint64_t pg, uint64_t n, uint8_t m)
{
	struct rebuild *rb = ctx;

	(void)pg;
	(void)n;
	/* pending already, with its exact txnids; look below it */
	if (m == R_HINT && rb->w.phase == R_SNAP)
		return 0;
	return 1; /* shared subtree, already counted */
}

static int rb_snapshot(void *ctx, uint64_t txnid, const struct tree *cat)
{
	struct rebuild *rb = ctx;

	(void)txnid;
	return walk_catalog(&rb->w, cat);
}

/*
 * Derive the free state of st.  In use: pages of the live tables, the
 * catalog, the snapshots tree, st's freelist chain and its commit log.  Pending: the runs
 * saved in the chain (hints) that nothing live reaches, and pages only
 * snapshots reach.  Ready: the rest -- when the chain is st's own (exact).
 * After non-durable commits the chain is older than st (not exact): runs
 * freed since are unknown, so a page no state reaches is pending under
 * the txnid its header names (readers of older states may still see it),
 * or ready when it holds no page a commit wrote.
 */
static int fl_build(kv_env *env, uint8_t *map, const struct state *st,
                    struct flstate *f, const struct flstate *hints, bool exact)
{
	struct rebuild rb;
	kv_txn txn;
	uint64_t pg, tx, seen = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	txn_over_state(&txn, env, map, st);
	memset(&rb, 0, sizeof(rb));
	rc = walk_init(&rb.w, &txn, true, rb_visit, rb_again, &rb);
	if (rc != 0)
		return rc;
	rb.f = f;
	rb.txnid = st->txnid;
	rb.w.mark[0] = rb.w.mark[1] = R_LIVE;
	if (st->log_npages && st->log_pgno >= 2 &&
	    st->log_pgno + st->log_npages <= rb.w.npages)
		memset(rb.w.mark + st->log_pgno, R_LIVE, st->log_npages);
	rb.w.phase = R_LIVE;
	rc = walk_catalog(&rb.w, &st->catalog);
	if (rc == 0)
		rc = walk_tree(&rb.w, &st->snaps);
	for (pg = st->fl_pgno, tx = st->fl_txnid; rc == 0 && pg;) {
		const uint8_t *p;
		if (pg < 2 || pg >= rb.w.npages || ++seen > st->fl_npages) {
			rc = KV_CORRUPT(pg, "freelist chain out of range");
			break;
		}
		p = map + pg * KV_PAGE_SIZE;
		rb.w.mark[pg] = R_LIVE;
		pg = get64(p + FP_NEXT);
		tx = get64(p + FP_NEXT_TXN);
	}
	(void)tx;
	for (size_t h = 0; rc == 0 && h < hints->npend; h++) {
		const struct fl_entry *e = &hints->pend[h];
		bool free_run = true;
		for (uint64_t i = 0; i < e->n; i++)
			if (rb.w.mark[e->pgno + i] != R_NONE)
				free_run = false;
		/* A stale chain's runs may have been reused since, or made
		 * live again by a restore and freed anew later: only the
		 * chain of st itself is exact. */
		if (!free_run || !exact)
			continue;
		for (uint64_t i = 0; i < e->n; i++)
			rb.w.mark[e->pgno + i] = R_HINT;
		rc = fl_add_pending(f, e->pgno, e->n, e->born, e->freed);
	}
	if (rc == 0 && st->snaps.count) {
		rb.w.phase = R_SNAP;
		rc = snap_each(&txn, &st->snaps, rb_snapshot, &rb);
	}
	for (pg = 2; rc == 0 && pg < rb.w.npages;) {
		const uint8_t *p = map + pg * KV_PAGE_SIZE;
		uint64_t n = 1, born;
		uint16_t type;

		if (rb.w.mark[pg] != R_NONE) {
			pg++;
			continue;
		}
		if (exact) {
			rc = fl_add_ready(f, pg, 1);
			pg++;
			continue;
		}
		type = get16(p + PH_TYPE);
		if (type == PT_OVERFLOW) {
			n = get32(p + PH_EXTRA);
			if (n == 0 || n > rb.w.npages - pg)
				n = 1;
			for (uint64_t i = 1; i < n; i++)
				if (rb.w.mark[pg + i] != R_NONE)
					n = 1;
		}
		if (get64(p + PH_PGNO) == pg &&
		    get64(p + PH_CHECKSUM) ==
		            page_checksum(p, n * KV_PAGE_SIZE) &&
		    (born = get64(p + PH_TXNID)) <= st->txnid) {
			/* a page some commit wrote: older readers may see it */
			rc = fl_add_pending(
			        f, pg, n, born,
			        st->txnid |
			                (type == PT_FREELIST ? FL_META : 0));
		} else {
			n = 1;
			rc = fl_add_ready(f, pg, 1);
		}
		pg += n;
	}
	walk_release(&rb.w);
	if (rc != 0)
		fl_release(f);
	return rc;
}
