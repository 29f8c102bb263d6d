/*
 * walk.c: the pages a state reaches.
 *
 * Three parts of the engine need to know which pages a committed state
 * reaches from its trees: the integrity check (check.c), the rebuild of a
 * free state from the trees (freelist.c) and the restore of a snapshot
 * (snapshot.c).  They all walk trees the same way, through this file.
 *
 * A walk keeps a map of the file, a byte per page: 0 for a page not
 * reached yet, else the mark of the phase that reached it.  The caller
 * walks trees in phases (say, the live tables, then every snapshot), and
 * may mark pages the trees do not hold itself (meta pages, the freelist
 * chain, the commit log).  For each page run a tree leads to:
 *   - a run not marked yet takes the phase's mark, and goes to visit(),
 *     which returns 0 to walk below it, 1 not to, or an error to stop;
 *   - a run marked already goes to again() with its mark, which returns
 *     1 to leave it (shared subtrees are walked once), 0 to walk below it
 *     once more (it takes this phase's mark, and visit() is not called),
 *     or an error.  Without again(), such runs are left;
 *   - a run that cannot be read (its page is NULL, or it lies on a meta
 *     page or past npages) goes to visit() unmarked, which decides what
 *     that means.
 * A walk without a map (recovery) sends every run to visit().  With
 * min_txn set, only pages written after that txn are walked: a page is
 * never newer than its parent, so older subtrees are skipped whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

int walk_init(struct walk *w, kv_txn *txn, bool marks, bt_walk_fn visit,
              walk_again_fn again, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->txn = txn;
	w->npages = txn->st.next_pgno;
	w->visit = visit;
	w->again = again;
	w->ctx = ctx;
	if (marks) {
		w->mark = calloc(w->npages ? w->npages : 1, 1);
		if (w->mark == NULL)
			return -ENOMEM;
	}
	return 0;
}

void walk_release(struct walk *w)
{
	free(w->mark);
	w->mark = NULL;
}

/* The bt_walk_fn of every walk: the rules above, then the caller's. */
static int reach(void *ctx, uint64_t pg, uint64_t n, uint64_t tx,
                 const uint8_t *p, int depth)
{
	struct walk *w = ctx;
	int rc;

	if (w->min_txn && tx <= w->min_txn)
		return 1;
	if (w->mark && p && pg >= 2 && pg + n <= w->npages) {
		if (w->mark[pg] != 0) {
			rc = w->again ? w->again(w->ctx, pg, n, w->mark[pg])
			              : 1;
			if (rc == 0)
				memset(w->mark + pg, w->phase, n);
			return rc;
		}
		memset(w->mark + pg, w->phase, n);
	}
	return w->visit(w->ctx, pg, n, tx, p, depth);
}

int walk_tree(struct walk *w, const struct tree *t)
{
	return bt_walk(w->txn, t, reach, w);
}

int walk_catalog(struct walk *w, const struct tree *catalog)
{
	return catalog_walk(w->txn, catalog, reach, w);
}
