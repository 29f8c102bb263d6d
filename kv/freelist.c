/*
 * freelist.c: which pages can be reused.
 *
 * Two lists, saved with every commit as a chain of freelist pages:
 *   ready    runs nobody can see: sorted by page number, neighbours merged;
 *            allocation takes the lowest fitting run (first fit), which
 *            keeps the file dense
 *   pending  runs freed by a commit but perhaps still visible: each keeps
 *            the txn that wrote it ("born") and the txn that freed it
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
	if (f->ready) /* no offset applied to a null pointer */
		free(f->ready - f->rskip);
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
		if (!nl) {
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

/* Remove pages [pgno, pgno + n) from the ready runs holding them. */
static int ready_remove(struct flstate *f, uint64_t pgno, uint64_t n)
{
	size_t lo = 0, hi = f->nready;

	while (lo < hi) { /* last run starting at or below pgno */
		size_t mid = (lo + hi) / 2;
		if (f->ready[mid].pgno <= pgno)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	struct fl_entry *e = &f->ready[lo - 1];
	if (pgno + n > e->pgno + e->n)
		return -1;
	uint64_t tail_pg = pgno + n, tail_n = e->pgno + e->n - tail_pg;
	e->n = pgno - e->pgno;
	if (e->n == 0) {
		memmove(e, e + 1, (f->nready - lo) * sizeof(*e));
		f->nready--;
	}
	if (tail_n) {
		bool was = f->logging;
		f->logging = false;
		int rc = fl_add_ready(f, tail_pg, tail_n);
		f->logging = was;
		return rc;
	}
	return 0;
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
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

/* Room for need ready runs, using first the room that runs taken from
 * the front left (fl_take). */
static int ready_reserve(struct flstate *f, size_t need)
{
	if (need <= f->cready)
		return 0;
	if (f->rskip) {
		struct fl_entry *base = f->ready - f->rskip;
		memmove(base, f->ready, f->nready * sizeof(*base));
		f->ready = base;
		f->cready += f->rskip;
		f->rskip = 0;
	}
	return reserve(&f->ready, &f->cready, need);
}

static int cmp_run(const void *a, const void *b)
{
	const struct fl_entry *x = a, *y = b;
	return x->pgno < y->pgno ? -1 : x->pgno > y->pgno;
}

/*
 * Add m runs (in any order; they are sorted here) to ready in one pass,
 * merging neighbours.  A reclaim frees hundreds of scattered runs at once, and
 * inserting them one by one would move the array once for each.  The
 * merge goes from the top down, into the reserved room, so that no run is
 * overwritten before it is read; only the runs above the lowest new one
 * move.
 */
int fl_merge_ready(struct flstate *f, struct fl_entry *runs, size_t m)
{
	struct fl_entry *r;
	size_t i = f->nready, j = m, end = f->nready + m, k = end;
	int rc;

	if (!m)
		return 0;
	rc = ready_reserve(f, end);
	if (rc)
		return rc;
	r = f->ready;
	qsort(runs, m, sizeof(*runs), cmp_run);
	/* k >= i + j throughout: r[k - 1] is never a run still to read */
	while (j > 0) {
		struct fl_entry e;
		if (i > 0 && r[i - 1].pgno > runs[j - 1].pgno) {
			e = r[--i];
		} else {
			j--;
			e = (struct fl_entry){ runs[j].pgno, runs[j].n, 0, 0 };
		}
		if (k < end && e.pgno + e.n == r[k].pgno) {
			r[k].pgno = e.pgno;
			r[k].n += e.n;
		} else {
			r[--k] = e;
		}
	}
	/* r[0, i) stayed where they were; join them to r[k, end) */
	if (i > 0 && k < end && r[i - 1].pgno + r[i - 1].n == r[k].pgno) {
		r[i - 1].n += r[k].n;
		k++;
	}
	if (k > i)
		memmove(&r[i], &r[k], (end - k) * sizeof(*r));
	f->nready = i + (end - k);
	return 0;
}

/* Insert a ready run, merging with its neighbours. */
int fl_add_ready(struct flstate *f, uint64_t pgno, uint64_t n)
{
	size_t lo = 0, hi = f->nready;
	int rc;

	log_op(f, pgno, n, true);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->ready[mid].pgno < pgno)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* merge with the run before */
	if (lo > 0 && f->ready[lo - 1].pgno + f->ready[lo - 1].n == pgno) {
		f->ready[lo - 1].n += n;
		if (lo < f->nready &&
		    f->ready[lo - 1].pgno + f->ready[lo - 1].n ==
		            f->ready[lo].pgno) {
			f->ready[lo - 1].n += f->ready[lo].n;
			memmove(&f->ready[lo], &f->ready[lo + 1],
			        (f->nready - lo - 1) * sizeof(*f->ready));
			f->nready--;
		}
		return 0;
	}
	if (lo < f->nready && pgno + n == f->ready[lo].pgno) {
		f->ready[lo].pgno = pgno;
		f->ready[lo].n += n;
		return 0;
	}
	rc = ready_reserve(f, f->nready + 1);
	if (rc)
		return rc;
	memmove(&f->ready[lo + 1], &f->ready[lo],
	        (f->nready - lo) * sizeof(*f->ready));
	f->ready[lo] = (struct fl_entry){ pgno, n, 0, 0 };
	f->nready++;
	return 0;
}

int fl_add_pending(struct flstate *f, uint64_t pgno, uint64_t n,
                   uint64_t born, uint64_t freed)
{
	int rc = reserve(&f->pend, &f->cpend, f->npend + 1);

	if (rc)
		return rc;
	f->pend[f->npend++] = (struct fl_entry){ pgno, n, born, freed };
	return 0;
}

int fl_take(struct flstate *f, uint64_t n, uint64_t *pgno)
{
	size_t i;

	for (i = 0; i < f->nready; i++) {
		struct fl_entry *e = &f->ready[i];
		if (e->n < n)
			continue;
		*pgno = e->pgno;
		log_op(f, e->pgno, n, false);
		e->pgno += n;
		e->n -= n;
		if (e->n) {
			/* still there */
		} else if (i == 0) {
			/* the usual case: the lowest run is used up */
			f->ready++;
			f->rskip++;
			f->cready--;
			f->nready--;
		} else {
			memmove(e, e + 1, (f->nready - i - 1) * sizeof(*e));
			f->nready--;
		}
		return 0;
	}
	return KV_ENOTFOUND;
}

uint64_t fl_ready_pages(const struct flstate *f)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < f->nready; i++)
		n += f->ready[i].n;
	return n;
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

static bool same_u64(const uint64_t *a, size_t na, const uint64_t *b,
                     size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static int remember(uint64_t **dst, size_t *nd, const uint64_t *src, size_t n)
{
	uint64_t *c = NULL;

	if (n) {
		c = malloc(n * sizeof(*c));
		if (!c)
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
	if (rc)
		return rc;
	free(txn->readers);
	txn->readers = rd;
	txn->nreaders = nrd;
	txn->durable_txnid = atomic_load(&env->sh->durable_txnid);

	if (env->rc_valid && env->rc_durable == txn->durable_txnid &&
	    same_u64(env->rc_readers, env->rc_nreaders, rd, nrd) &&
	    same_u64(env->rc_snaps, env->rc_nsnaps, txn->snaptx,
	             txn->nsnaptx) &&
	    env->rc_checked <= f->npend)
		start = env->rc_checked;
	/* room first, so that a failure leaves everything pending */
	size_t m = 0;
	struct fl_entry *runs = NULL;
	if (f->npend > start) {
		runs = malloc((f->npend - start) * sizeof(*runs));
		rc = runs ? ready_reserve(f, f->nready + (f->npend - start))
		          : -ENOMEM;
		if (rc) {
			free(runs);
			env->rc_valid = false;
			return rc;
		}
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
		else
			runs[m++] = e;
	}
	f->npend = keep;
	/* pages found free stay free, commit or not: not logged; the room
	 * is reserved, so this cannot fail */
	(void)fl_merge_ready(f, runs, m);
	free(runs);
	/* runs freed by this very txn were held for that reason alone: they
	 * must be looked at again next time */
	for (i = start; i < keep; i++)
		if ((f->pend[i].freed & ~FL_META) >= txn->id)
			break;
	keep = i;
	env->rc_valid = false;
	if (remember(&env->rc_readers, &env->rc_nreaders, rd, nrd) == 0 &&
	    remember(&env->rc_snaps, &env->rc_nsnaps, txn->snaptx,
	             txn->nsnaptx) == 0) {
		env->rc_durable = txn->durable_txnid;
		env->rc_checked = keep;
		env->rc_valid = true;
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
			const uint8_t *q = p + FP_ENTRIES + (size_t)i * FP_ENTRY;
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
			if (rc)
				return rc;
		}
		pg = get64(p + FP_NEXT);
		tx = get64(p + FP_NEXT_TXN);
	}
	return 0;
}

static int fl_build(kv_env *env, uint8_t *map, const struct state *st,
                    struct flstate *f, const struct flstate *hints,
                    bool exact);

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

int fl_rebuild(kv_env *env, uint8_t *map, const struct state *st,
               struct flstate *f)
{
	struct flstate none;

	memset(&none, 0, sizeof(none));
	memset(f, 0, sizeof(*f));
	return fl_build(env, map, st, f, &none, false);
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
			if (!q)
				return KV_ECORRUPT;
			rc = fl_add_pending(f, p, 1, t, txn->id | FL_META);
			if (rc)
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
			if (!np) {
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
		if (!buf) {
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
		if (rc) {
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
		if (rc)
			return rc;
	}
	txn->nloose = 0;
	while (f->nready) {
		struct fl_entry *last = &f->ready[f->nready - 1];
		if (last->pgno + last->n != txn->st.next_pgno)
			break;
		log_op(f, last->pgno, last->n, false);
		txn->st.next_pgno = last->pgno;
		f->nready--;
	}
	return 0;
}

/* ---- rebuilding ------------------------------------------------------- */

enum { R_NONE, R_LIVE, R_SNAP, R_HINT };

struct rebuild {
	kv_txn *txn;
	uint8_t *mark;
	uint64_t npages;
	uint8_t phase;
	struct flstate *f;
	uint64_t txnid;
	int err;
};

static int rb_visit(void *ctx, uint64_t pg, uint64_t n, uint64_t tx,
                    const uint8_t *p, int depth)
{
	struct rebuild *rb = ctx;
	uint64_t i;

	(void)depth;
	if (!p || pg + n > rb->npages)
		return KV_CORRUPT(pg, "page out of range while rebuilding "
		                  "the freelist");
	if (rb->mark[pg] == R_HINT && rb->phase == R_SNAP) {
		/* pending already, with its exact txnids; look below it */
		for (i = 0; i < n; i++)
			rb->mark[pg + i] = R_SNAP;
		return 0;
	}
	if (rb->mark[pg] != R_NONE)
		return 1; /* shared subtree, already counted */
	for (i = 0; i < n; i++)
		rb->mark[pg + i] = rb->phase;
	if (rb->phase == R_SNAP) {
		/* only snapshots reach it and no saved run says since when:
		 * it waits for every snapshot since it was written */
		int rc = fl_add_pending(rb->f, pg, n, tx, rb->txnid);
		if (rc)
			return rc;
	}
	return 0;
}

static int rb_snapshot(void *ctx, uint64_t txnid, const struct tree *cat)
{
	struct rebuild *rb = ctx;

	(void)txnid;
	return catalog_walk(rb->txn, cat, rb_visit, rb);
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
                    struct flstate *f, const struct flstate *hints,
                    bool exact)
{
	struct rebuild rb;
	kv_txn txn;
	uint64_t pg, tx, seen = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	txn_over_state(&txn, env, map, st);
	memset(&rb, 0, sizeof(rb));
	rb.npages = st->next_pgno;
	rb.mark = calloc(rb.npages ? rb.npages : 1, 1);
	if (!rb.mark)
		return -ENOMEM;
	rb.f = f;
	rb.txnid = st->txnid;
	rb.mark[0] = rb.mark[1] = R_LIVE;
	if (st->log_npages && st->log_pgno >= 2 &&
	    st->log_pgno + st->log_npages <= rb.npages)
		memset(rb.mark + st->log_pgno, R_LIVE, st->log_npages);
	rb.phase = R_LIVE;
	rc = catalog_walk(&txn, &st->catalog, rb_visit, &rb);
	if (rc == 0)
		rc = bt_walk(&txn, &st->snaps, rb_visit, &rb);
	for (pg = st->fl_pgno, tx = st->fl_txnid; rc == 0 && pg;) {
		const uint8_t *p;
		if (pg < 2 || pg >= rb.npages || ++seen > st->fl_npages) {
			rc = KV_CORRUPT(pg, "freelist chain out of range");
			break;
		}
		p = map + pg * KV_PAGE_SIZE;
		rb.mark[pg] = R_LIVE;
		pg = get64(p + FP_NEXT);
		tx = get64(p + FP_NEXT_TXN);
	}
	(void)tx;
	for (size_t h = 0; rc == 0 && h < hints->npend; h++) {
		const struct fl_entry *e = &hints->pend[h];
		bool free_run = true;
		for (uint64_t i = 0; i < e->n; i++)
			if (rb.mark[e->pgno + i] != R_NONE)
				free_run = false;
		/* A stale chain's runs may have been reused since, or made
		 * live again by a restore and freed anew later: only the
		 * chain of st itself is exact. */
		if (!free_run || !exact)
			continue;
		for (uint64_t i = 0; i < e->n; i++)
			rb.mark[e->pgno + i] = R_HINT;
		rc = fl_add_pending(f, e->pgno, e->n, e->born, e->freed);
	}
	if (rc == 0 && st->snaps.count) {
		rb.phase = R_SNAP;
		rb.txn = &txn;
		rc = snap_each(&txn, &st->snaps, rb_snapshot, &rb);
	}
	for (pg = 2; rc == 0 && pg < rb.npages;) {
		const uint8_t *p = map + pg * KV_PAGE_SIZE;
		uint64_t n = 1, born;
		uint16_t type;

		if (rb.mark[pg] != R_NONE) {
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
			if (n == 0 || n > rb.npages - pg)
				n = 1;
			for (uint64_t i = 1; i < n; i++)
				if (rb.mark[pg + i] != R_NONE)
					n = 1;
		}
		if (get64(p + PH_PGNO) == pg &&
		    get64(p + PH_CHECKSUM) ==
		            page_checksum(p, n * KV_PAGE_SIZE) &&
		    (born = get64(p + PH_TXNID)) <= st->txnid) {
			/* a page some commit wrote: older readers may see it */
			rc = fl_add_pending(f, pg, n, born,
			                    st->txnid |
			                    (type == PT_FREELIST ? FL_META : 0));
		} else {
			n = 1;
			rc = fl_add_ready(f, pg, 1);
		}
		pg += n;
	}
	free(rb.mark);
	if (rc)
		fl_release(f);
	return rc;
}
