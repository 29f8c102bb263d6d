/*
 * state.c: the codec of tree descriptors and of the committed state.
 *
 * A tree descriptor (struct tree) is what names a B+tree: its root page,
 * the txnid that root carries, and its entry and page counts.  The catalog
 * holds one per table, a snapshot record one for its catalog, and the meta
 * page two (the catalog and the snapshots tree).  struct state is what one
 * commit consists of, the content of a meta slot.  This file converts both
 * between memory and their on-disk form (format.h), and does nothing else:
 * no I/O, no checks; the callers validate what they load.
 */
#include <string.h>

#include "kv_int.h"

void tree_load(struct tree *t, const uint8_t *p)
{
	t->root = get64(p + TD_ROOT);
	t->root_txn = get64(p + TD_ROOT_TXN);
	t->count = get64(p + TD_COUNT);
	t->branch_pages = get64(p + TD_BRANCH);
	t->leaf_pages = get64(p + TD_LEAF);
	t->overflow_pages = get64(p + TD_OVERFLOW);
	t->depth = get32(p + TD_DEPTH);
}

void tree_store(const struct tree *t, uint8_t *p)
{
	memset(p, 0, TD_SIZE);
	put64(p + TD_ROOT, t->root);
	put64(p + TD_ROOT_TXN, t->root_txn);
	put64(p + TD_COUNT, t->count);
	put64(p + TD_BRANCH, t->branch_pages);
	put64(p + TD_LEAF, t->leaf_pages);
	put64(p + TD_OVERFLOW, t->overflow_pages);
	put32(p + TD_DEPTH, t->depth);
}

void state_load(struct state *s, const uint8_t *m)
{
	memset(s, 0, sizeof(*s));
	s->txnid = get64(m + MF_TXNID);
	s->next_pgno = get64(m + MF_NEXTPG);
	tree_load(&s->catalog, m + MF_CATALOG);
	tree_load(&s->snaps, m + MF_SNAPS);
	s->fl_pgno = get64(m + MF_FL_PGNO);
	s->fl_txnid = get64(m + MF_FL_TXNID);
	s->fl_npages = get64(m + MF_FL_NPAGES);
	s->time_ns = (int64_t)get64(m + MF_TIME);
	s->log_pgno = get64(m + MF_LOG_PGNO);
	s->log_npages = get64(m + MF_LOG_NPAGES);
	s->log_epoch = get64(m + MF_LOG_EPOCH);
	s->log_tail = get64(m + MF_LOG_TAIL);
	s->log_open = get64(m + MF_LOG_FLAGS) & LOGF_OPEN;
	/* what the meta names is on disk, or recovery replays the rest */
	s->log_synced = s->log_tail;
	s->log_durable = s->txnid;
	s->log_base_pgno = s->next_pgno;
}

void state_store(const struct state *s, uint8_t *m)
{
	memset(m, 0, KV_PAGE_SIZE);
	put16(m + PH_TYPE, PT_META);
	put64(m + PH_TXNID, s->txnid);
	put64(m + MF_MAGIC, KV_MAGIC);
	put32(m + MF_VERSION, KV_FORMAT_VERSION);
	put32(m + MF_PAGESIZE, KV_PAGE_SIZE);
	put64(m + MF_TXNID, s->txnid);
	put64(m + MF_NEXTPG, s->next_pgno);
	tree_store(&s->catalog, m + MF_CATALOG);
	tree_store(&s->snaps, m + MF_SNAPS);
	put64(m + MF_FL_PGNO, s->fl_pgno);
	put64(m + MF_FL_TXNID, s->fl_txnid);
	put64(m + MF_FL_NPAGES, s->fl_npages);
	put64(m + MF_TIME, (uint64_t)s->time_ns);
	put64(m + MF_LOG_PGNO, s->log_pgno);
	put64(m + MF_LOG_NPAGES, s->log_npages);
	put64(m + MF_LOG_EPOCH, s->log_epoch);
	put64(m + MF_LOG_TAIL, s->log_tail);
	put64(m + MF_LOG_FLAGS, s->log_open ? LOGF_OPEN : 0);
}
