/*
 * log.c: the commit log, which makes a durable commit cost one small
 * synced write.
 *
 * A durable commit through the page protocol alone (txn.c) syncs the whole
 * file: every page it wrote, scattered over the file, then the meta.  Most
 * commits change a few records, so the store keeps a log: a run of pages,
 * named by the meta, that holds the commit's operations (puts, deletes,
 * table creates and drops) as one record.  A logged commit writes its pages
 * and its meta like a non-durable commit, without a sync, then writes its
 * record with pwrite_sync (RWF_DSYNC: the kernel syncs that range only).
 * Once that returns, the commit survives a power loss: recovery starts from
 * an intact commit and repeats the logged ones after it.
 *
 * Checkpoints.  A durable commit that cannot be logged (the log is full,
 * snapshots changed, the record is too large, the disk was short of space)
 * is a checkpoint: the full protocol with its one fdatasync.  It starts a
 * new epoch: the log's records are those with the checkpoint's txnid as
 * their epoch, contiguous from offset 0.  Pages a checkpoint can reach are
 * never reused before the next checkpoint (freelist.c: it is "the last
 * durable commit"), so recovery can always fall back to it.  Closing an
 * environment leaves the log as it is: the next first opener repeats it.
 *
 * Non-durable commits after a checkpoint are logged as well, unsynced, so
 * that the log has no gaps; the next durable record's synced write covers
 * them from the last synced byte.  A non-durable commit that cannot be
 * logged closes the log (the meta's LOGF_OPEN) until the next checkpoint,
 * whose durable commits then use the full protocol.
 *
 * Only a commit whose txnid follows its base's is logged: after an open
 * moved the txnids on (kv_int.h, txn_floor), the first commit is a
 * checkpoint or closes the log, so the records of an epoch are one run of
 * txnids, all from before any power loss that could have cut them.
 *
 * Recovery (env.c, by the first opener): pick_meta() chooses an intact
 * commit R; the records of R's epoch with txnids R+1, R+2, ... are
 * repeated in one commit that is a checkpoint.  A record that fails its
 * checksum, belongs to another epoch or skips a txnid ends the log.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "kv_int.h"

#define LOG_MIN_PAGES 64u

static uint64_t log_cap(const struct state *s)
{
	return s->log_npages * KV_PAGE_SIZE;
}

static size_t rec_size(size_t len)
{
	return (len + 7) & ~(size_t)7;
}

/* ---- capturing a transaction's changes -------------------------------- */

void txlog_free(kv_txn *txn)
{
	free(txn->lg.buf);
	txn->lg.buf = NULL;
	txn->lg.len = txn->lg.cap = 0;
}

void txlog_off(kv_txn *txn)
{
	txlog_free(txn);
	txn->lg.off = true;
}

/* Room for n more bytes of operations, or NULL once the txn is not
 * loggable (too large for the log, or out of memory). */
static uint8_t *txlog_room(kv_txn *txn, size_t n)
{
	size_t need;

	if (txn->lg.off)
		return NULL;
	if (!txn->lg.len)
		txn->lg.len = LR_HDR;
	need = txn->lg.len + n;
	if (rec_size(need) > log_cap(&txn->st)) {
		txlog_off(txn);
		return NULL;
	}
	if (need > txn->lg.cap) {
		size_t nc = txn->lg.cap ? txn->lg.cap : 256;
		uint8_t *nb;
		while (nc < need)
			nc *= 2;
		nb = realloc(txn->lg.buf, nc);
		if (nb == NULL) {
			txlog_off(txn);
			return NULL;
		}
		txn->lg.buf = nb;
		txn->lg.cap = nc;
	}
	return txn->lg.buf + txn->lg.len;
}

static uint8_t *put_name(uint8_t *p, uint8_t op, const char *name, size_t nl)
{
	*p++ = op;
	*p++ = (uint8_t)nl;
	memcpy(p, name, nl);
	return p + nl;
}

void txlog_put(kv_txn *txn, const char *name, kv_val key, kv_val val)
{
	size_t nl = strlen(name);
	uint8_t *p = txlog_room(txn, 2 + nl + 2 + key.len + 4 + val.len);

	if (p == NULL)
		return;
	p = put_name(p, LOP_PUT, name, nl);
	put16(p, (uint16_t)key.len);
	memcpy(p + 2, key.data, key.len);
	p += 2 + key.len;
	put32(p, (uint32_t)val.len);
	if (val.len)
		memcpy(p + 4, val.data, val.len);
	txn->lg.len += 2 + nl + 2 + key.len + 4 + val.len;
}

void txlog_del(kv_txn *txn, const char *name, kv_val key)
{
	size_t nl = strlen(name);
	uint8_t *p = txlog_room(txn, 2 + nl + 2 + key.len);

	if (p == NULL)
		return;
	p = put_name(p, LOP_DEL, name, nl);
	put16(p, (uint16_t)key.len);
	memcpy(p + 2, key.data, key.len);
	txn->lg.len += 2 + nl + 2 + key.len;
}

void txlog_table(kv_txn *txn, int op, const char *name)
{
	size_t nl = strlen(name);
	uint8_t *p = txlog_room(txn, 2 + nl);

	if (p == NULL)
		return;
	put_name(p, (uint8_t)op, name, nl);
	txn->lg.len += 2 + nl;
}

/* ---- committing ------------------------------------------------------- */

/*
 * Can this commit be a log record at the current tail?  Not when the file
 * has grown by a quarter since the last checkpoint: pages the commits since
 * have freed stay unused until a checkpoint (freelist.c), and that one
 * lets the file reuse them.
 */
bool log_fits(const kv_txn *txn)
{
	const struct state *s = &txn->st;
	uint64_t grown = s->next_pgno > s->log_base_pgno
	                         ? s->next_pgno - s->log_base_pgno
	                         : 0;

	if (grown > LOG_MIN_PAGES && grown > s->log_base_pgno / 4)
		return false;
	return !txn->lg.off && txn->lg.len > LR_HDR && s->log_open &&
	       s->log_npages && s->log_tail <= log_cap(s) &&
	       rec_size(txn->lg.len) <= log_cap(s) - s->log_tail;
}

uint64_t log_record_size(const kv_txn *txn)
{
	return rec_size(txn->lg.len);
}

/*
 * At a checkpoint: make sure the store has a log run of a size that suits
 * the file (an eighth of it, within bounds), allocating a new run when
 * there is none or the old one has become small; the old run waits in the
 * freelist until this checkpoint is durable.  *fresh tells the caller to
 * zero the new run once the file has grown to hold it.
 */
int log_prepare(kv_txn *txn, bool *fresh)
{
	struct state *s = &txn->st;
	uint64_t want = s->next_pgno / 8, pgno;
	int rc;

	*fresh = false;
	if (txn->env->short_of_space || txn->no_log_run)
		return 0;
	if (want < LOG_MIN_PAGES)
		want = LOG_MIN_PAGES;
	if (want > LOG_MAX_PAGES)
		want = LOG_MAX_PAGES;
	if (s->log_npages && s->log_npages * 2 > want)
		return 0;
	rc = page_alloc(txn, want, &pgno);
	if (rc != 0)
		return rc;
	if (s->log_npages) {
		rc = fl_add_pending(txn->fl, s->log_pgno, s->log_npages,
		                    s->txnid, txn->id | FL_META);
		if (rc != 0)
			return rc;
	}
	s->log_pgno = pgno;
	s->log_npages = want;
	*fresh = true;
	return 0;
}

/* Zero a new log run, so that its blocks are allocated before the first
 * synced record write (which then changes no file metadata). */
int log_zero(kv_txn *txn)
{
	kv_env *env = txn->env;
	size_t chunk = 64 * KV_PAGE_SIZE;
	uint64_t off = txn->st.log_pgno * KV_PAGE_SIZE;
	uint64_t end = off + log_cap(&txn->st);
	uint8_t *z = calloc(1, chunk);
	int rc = 0;

	if (z == NULL)
		return -ENOMEM;
	while (rc == 0 && off < end) {
		size_t n = end - off < chunk ? (size_t)(end - off) : chunk;
		rc = env->io->pwrite(env->io->ctx, env->fd, z, n, off);
		off += n;
	}
	free(z);
	return rc;
}

static uint64_t rec_check(const uint8_t *rec, uint32_t len)
{
	/* header fields before the checksum, then the operations; the
	 * state lives on the stack, no allocation */
	XXH3_state_t st;

	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, rec, LR_CHECK);
	XXH3_64bits_update(&st, rec + LR_HDR, len);
	return XXH3_64bits_digest(&st);
}

/* Write [off, off + len) of the file durably: pwrite_sync, or a write and
 * a sync of the file where the kv_io has none. */
static int write_durable(kv_env *env, const void *p, size_t len, uint64_t off)
{
	int rc;

	if (env->io->pwrite_sync)
		return env->io->pwrite_sync(env->io->ctx, env->fd, p, len, off);
	rc = env->io->pwrite(env->io->ctx, env->fd, p, len, off);
	return rc ? rc : env->io->sync(env->io->ctx, env->fd);
}

/*
 * Write this commit's record at byte off of the log.  A durable record is
 * written with pwrite_sync together with the unsynced records before it
 * (from the log's last synced byte), so that every commit it follows is
 * durable too.
 */
int log_append(kv_txn *txn, uint64_t off, bool durable)
{
	kv_env *env = txn->env;
	const struct state *s = &txn->st;
	uint8_t *rec = txn->lg.buf;
	size_t len = txn->lg.len, size = rec_size(len);
	uint64_t base = s->log_pgno * KV_PAGE_SIZE;
	uint8_t *w = rec;
	uint64_t woff = base + off;
	size_t wlen = size;
	int rc;

	if (size > txn->lg.cap) {
		uint8_t *nb = realloc(rec, size);
		if (nb == NULL)
			return -ENOMEM;
		txn->lg.buf = rec = w = nb;
		txn->lg.cap = size;
	}
	memset(rec + len, 0, size - len);
	put32(rec + LR_MAGIC, LOG_MAGIC);
	put32(rec + LR_LEN, (uint32_t)(len - LR_HDR));
	put64(rec + LR_EPOCH, s->log_epoch);
	put64(rec + LR_TXNID, txn->id);
	put64(rec + LR_CHECK, rec_check(rec, (uint32_t)(len - LR_HDR)));
	if (durable && s->log_synced < off) {
		/* the unsynced records before this one, from the map */
		wlen = (size_t)(off - s->log_synced) + size;
		woff = base + s->log_synced;
		w = malloc(wlen);
		if (w == NULL)
			return -ENOMEM;
		memcpy(w, txn->map + woff, (size_t)(off - s->log_synced));
		memcpy(w + (off - s->log_synced), rec, size);
	}
	rc = durable ? write_durable(env, w, wlen, woff)
	             : env->io->pwrite(env->io->ctx, env->fd, w, wlen, woff);
	if (w != rec)
		free(w);
	return rc;
}

/* Make the unsynced records of st's log durable (kv_env_sync while the
 * log holds every commit since the checkpoint); updates st. */
int log_sync(kv_env *env, struct state *st)
{
	uint64_t off = st->log_pgno * KV_PAGE_SIZE + st->log_synced;
	int rc = 0;

	if (st->log_tail > st->log_synced)
		rc = write_durable(env, env->map + off,
		                   (size_t)(st->log_tail - st->log_synced),
		                   off);
	if (rc == 0) {
		st->log_synced = st->log_tail;
		st->log_durable = st->txnid;
	}
	return rc;
}

/* ---- recovery --------------------------------------------------------- */

/* The record at *off of st's epoch, advancing *off; false at the end. */
static bool rec_next(const uint8_t *map, const struct state *st, uint64_t *off,
                     struct log_rec *r)
{
	uint64_t cap = log_cap(st);
	const uint8_t *p;
	uint32_t len;

	/* without a log run, log_pgno is unchecked (txn.c): no pointer to it */
	if (*off > cap || cap - *off < LR_HDR)
		return false;
	p = map + st->log_pgno * KV_PAGE_SIZE + *off;
	len = get32(p + LR_LEN);
	if (get32(p + LR_MAGIC) != LOG_MAGIC ||
	    get64(p + LR_EPOCH) != st->log_epoch ||
	    (uint64_t)len > cap - *off - LR_HDR ||
	    get64(p + LR_CHECK) != rec_check(p, len))
		return false;
	r->txnid = get64(p + LR_TXNID);
	r->ops = p + LR_HDR;
	r->len = len;
	*off += rec_size((size_t)LR_HDR + len);
	return true;
}

/*
 * The next record recovery repeats after st: at *off, of st's epoch, with
 * txnid *next.  Scans start at st's tail: the records before it are of st
 * and the commits before it.
 */
bool log_next_pending(const uint8_t *map, const struct state *st, uint64_t *off,
                      uint64_t *next, struct log_rec *r)
{
	if (!rec_next(map, st, off, r) || r->txnid != *next)
		return false;
	(*next)++;
	return true;
}

/* Logged commits after st that recovery would repeat. */
uint64_t log_pending(kv_env *env, const struct state *st)
{
	uint64_t off = st->log_tail, next = st->txnid + 1, n = 0;
	struct log_rec r;

	while (log_next_pending(env->map, st, &off, &next, &r))
		n++;
	return n;
}
