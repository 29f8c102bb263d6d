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
	free(f->ready);
	free(f->pend);
	memset(f, 0, sizeof(*f));
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

int fl_copy(struct flstate *dst, const struct flstate *src)
{
	memset(dst, 0, sizeof(*dst));
	if (reserve(&dst->ready, &dst->cready, src->nready + 1) ||
	    reserve(&dst->pend, &dst->cpend, src->npend + 1)) {
		fl_release(dst);
		return -ENOMEM;
	}
	if (src->nready)
		memcpy(dst->ready, src->ready, src->nready * sizeof(*src->ready));
	if (src->npend)
		memcpy(dst->pend, src->pend, src->npend * sizeof(*src->pend));
	dst->nready = src->nready;
	dst->npend = src->npend;
	return 0;
}

/* Insert a ready run, merging with its neighbours. */
int fl_add_ready(struct flstate *f, uint64_t pgno, uint64_t n)
{
	size_t lo = 0, hi = f->nready;
	int rc;

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
	rc = reserve(&f->ready, &f->cready, f->nready + 1);
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
		e->pgno += n;
		e->n -= n;
		if (!e->n) {
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

int fl_reclaim(kv_txn *txn)
{
	struct flstate *f = &txn->fl;
	uint64_t *rd = NULL;
	size_t nrd = 0, i, keep = 0;
	int rc;

	rc = readers_collect(txn->env, &rd, &nrd);
	if (rc)
		return rc;
	free(txn->readers);
	txn->readers = rd;
	txn->nreaders = nrd;
	txn->durable_txnid = atomic_load(&txn->env->sh->durable_txnid);

	for (i = 0; i < f->npend; i++) {
		struct fl_entry e = f->pend[i];
		uint64_t freed = e.freed & ~FL_META;
		bool meta = (e.freed & FL_META) != 0;
		bool held = freed >= txn->id ||
		            fl_visible(rd, nrd, e.born, freed) ||
		            (!meta && fl_visible(txn->snaptx, txn->nsnaptx,
		                                 e.born, freed)) ||
		            (freed > txn->durable_txnid &&
		             e.born <= txn->durable_txnid);
		if (held) {
			f->pend[keep++] = e;
			continue;
		}
		rc = fl_add_ready(f, e.pgno, e.n);
		if (rc) {
			/* keep the rest pending; nothing is lost */
			memmove(&f->pend[keep], &f->pend[i],
			        (f->npend - i) * sizeof(*f->pend));
			f->npend = keep + (f->npend - i);
			return rc;
		}
	}
	f->npend = keep;
	return 0;
}

/* ---- persistence ------------------------------------------------------ */

int fl_load(kv_env *env, const struct state *st, struct flstate *f)
{
	uint64_t pg = st->fl_pgno, tx = st->fl_txnid, seen = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	while (pg) {
		const uint8_t *p;
		uint32_t n, i;

		if (pg < 2 || pg >= st->next_pgno || ++seen > st->fl_npages) {
			rc = KV_CORRUPT(pg, "freelist chain out of range");
			goto fail;
		}
		p = env->map + pg * KV_PAGE_SIZE;
		if (get16(p + PH_TYPE) != PT_FREELIST ||
		    get64(p + PH_TXNID) != tx || get64(p + PH_PGNO) != pg) {
			rc = KV_CORRUPT(pg, "not the expected freelist page");
			goto fail;
		}
		n = get32(p + PH_EXTRA);
		if (n > FP_PER_PAGE) {
			rc = KV_CORRUPT(pg, "freelist entry count");
			goto fail;
		}
		for (i = 0; i < n; i++) {
			const uint8_t *q = p + FP_ENTRIES + (size_t)i * FP_ENTRY;
			uint64_t epg = get64(q), en = get64(q + 8);
			uint64_t born = get64(q + 16), freed = get64(q + 24);
			if (epg < 2 || en == 0 || en > st->next_pgno ||
			    epg > st->next_pgno - en) {
				rc = KV_CORRUPT(pg, "freelist entry out of range");
				goto fail;
			}
			rc = freed ? fl_add_pending(f, epg, en, born, freed)
			           : fl_add_ready(f, epg, en);
			if (rc)
				goto fail;
		}
		pg = get64(p + FP_NEXT);
		tx = get64(p + FP_NEXT_TXN);
	}
	return 0;
fail:
	fl_release(f);
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
	struct flstate *f = &txn->fl;
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
	/* Give back loose pages: they are free now. */
	for (i = 0; i < txn->nloose; i++) {
		rc = fl_add_ready(f, txn->loose[i], 1);
		if (rc)
			return rc;
	}
	txn->nloose = 0;

	/* Trim ready pages at the end of the file. */
	while (f->nready) {
		struct fl_entry *last = &f->ready[f->nready - 1];
		if (last->pgno + last->n != txn->st.next_pgno)
			break;
		txn->st.next_pgno = last->pgno;
		f->nready--;
	}

	for (;;) {
		uint64_t need = pages_for(f->nready + f->npend);
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

	/* Fill the pages: ready entries first, then pending. */
	e = 0;
	for (i = 0; i < npg; i++) {
		uint8_t *buf;
		uint32_t n = 0;
		uint64_t dummy;

		if (posix_memalign((void **)&buf, KV_PAGE_SIZE, KV_PAGE_SIZE)) {
			rc = -ENOMEM;
			goto fail;
		}
		memset(buf, 0, KV_PAGE_SIZE);
		(void)dummy;
		put64(buf + PH_PGNO, pg[i]);
		put64(buf + PH_TXNID, txn->id);
		put16(buf + PH_TYPE, PT_FREELIST);
		while (n < FP_PER_PAGE && e < f->nready + f->npend) {
			const struct fl_entry *x = e < f->nready
			        ? &f->ready[e] : &f->pend[e - f->nready];
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
			free(buf);
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
