/*
 * pager.c: the map, page access, dirty pages and writing them out, and
 * reading the meta slots.
 *
 * Readers see the file through one read-only shared mapping that is larger
 * than the file (pages past the end are never touched), so the file grows
 * under it without remapping.  When the file outgrows the mapping a larger
 * one replaces it; the old one stays mapped until the environment closes,
 * so pointers that readers hold into it stay valid.
 *
 * A write transaction never writes through the map.  It copies each page it
 * changes into a private buffer under a page number that no reader and no
 * durable commit can see (copy-on-write), and commit writes the buffers with
 * pwrite.  The dirty table maps page numbers to buffers; the buffers are cut
 * from slabs that the writer keeps from one transaction to the next.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "kv_int.h"

#if defined(__SANITIZE_ADDRESS__)
#define KV_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KV_ASAN 1
#endif
#endif
#ifdef KV_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MAP_MIN (64ull << 30) /* address space reserved per environment */

uint64_t page_checksum(const uint8_t *p, size_t len)
{
	return XXH3_64bits(p + 8, len - 8);
}

void page_seal(uint8_t *p, size_t len)
{
	put64(p + PH_CHECKSUM, page_checksum(p, len));
}

/* ---- meta slots ------------------------------------------------------- */

/* Meta slot i into buf (a page), and its state into *s when META_OK. */
static int read_meta(kv_env *env, uint64_t i, uint8_t *buf, struct state *s)
{
	ssize_t n =
	        pread(env->fd, buf, KV_PAGE_SIZE, (off_t)(i * KV_PAGE_SIZE));

	if (n != (ssize_t)KV_PAGE_SIZE)
		return META_ABSENT;
	if (get64(buf + MF_MAGIC) != KV_MAGIC)
		return META_ABSENT;
	if (get64(buf + PH_CHECKSUM) != page_checksum(buf, KV_PAGE_SIZE))
		return get32(buf + MF_VERSION) > KV_FORMAT_VERSION
		               ? META_NEWER_BADSUM
		               : META_BADSUM;
	if (get32(buf + MF_VERSION) > KV_FORMAT_VERSION)
		return META_NEWER;
	if (get32(buf + MF_VERSION) < KV_FORMAT_VERSION_MIN ||
	    get32(buf + MF_PAGESIZE) != KV_PAGE_SIZE ||
	    get16(buf + PH_TYPE) != PT_META || get64(buf + PH_PGNO) != i)
		return META_BADSUM;
	state_load(s, buf);
	if (s->next_pgno < 2)
		return META_BADSUM;
	if (s->log_npages &&
	    (s->log_pgno < 2 || s->log_npages > LOG_MAX_PAGES ||
	     s->log_npages > s->next_pgno ||
	     s->log_pgno > s->next_pgno - s->log_npages ||
	     s->log_tail > s->log_npages * KV_PAGE_SIZE ||
	     s->log_epoch > s->txnid))
		return META_BADSUM;
	return META_OK;
}

/*
 * Both slots with pread, from the file rather than the map: a slot being
 * written may read torn, and then fails its checksum.
 */
int pager_read_metas(kv_env *env, struct metas *m)
{
	uint8_t *buf = malloc(KV_PAGE_SIZE);

	if (buf == NULL)
		return -ENOMEM;
	memset(m, 0, sizeof(*m));
	for (uint64_t i = 0; i < 2; i++) {
		memset(buf, 0, KV_PAGE_SIZE);
		m->kind[i] = read_meta(env, i, buf, &m->s[i]);
		m->sum[i] = get64(buf + PH_CHECKSUM);
	}
	free(buf);
	return 0;
}

bool pager_metas_same(const struct metas *a, const struct metas *b)
{
	return a->kind[0] == b->kind[0] && a->kind[1] == b->kind[1] &&
	       a->sum[0] == b->sum[0] && a->sum[1] == b->sum[1];
}

int pager_map(kv_env *env, uint64_t need)
{
	size_t size;
	void *m;

	if (env->map && need <= env->map_size)
		return 0;
	if (need > ((uint64_t)1 << 46)) /* 64 TiB: no doubling overflows */
		return kv_set_err(KV_ENOTDB,
		                  "%s: %llu bytes is too large to "
		                  "map",
		                  env->path, (unsigned long long)need);
	size = MAP_MIN;
	while (size < need * 2)
		size *= 2;
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, env->fd, 0);
	if (m == MAP_FAILED)
		return kv_set_err(-errno, "mmap of %zu bytes failed", size);
	if (env->map) {
		struct oldmap *o = malloc(sizeof(*o));
		if (o == NULL) {
			munmap(m, size);
			return -ENOMEM;
		}
		o->base = env->map;
		o->size = env->map_size;
		o->next = env->oldmaps;
		env->oldmaps = o;
	}
	env->map = m;
	env->map_size = size;
	return 0;
}

/* ---- page buffers ----------------------------------------------------- */

#define SLAB_BYTES ((size_t)BUF_SLAB_PAGES * KV_PAGE_SIZE)

static void slab_unmap(uint8_t *slab)
{
	UNPOISON(slab, SLAB_BYTES); /* the range may be mapped again */
	munmap(slab, SLAB_BYTES);
}

static int slab_add(struct pgbufs *b)
{
	void *m;

	if (b->nslab == b->cslab) {
		size_t nc = b->cslab ? b->cslab * 2 : 8;
		uint8_t **ns = realloc(b->slab, nc * sizeof(*ns));
		if (ns == NULL)
			return -ENOMEM;
		b->slab = ns;
		b->cslab = nc;
	}
	/* populated at once: one call maps all 512 pages, where faulting
	 * them in one by one took 8% longer for a bulk load, 15% for a
	 * transaction of 500,000 deletes */
	m = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	POISON(m, SLAB_BYTES);
	b->slab[b->nslab++] = m;
	return 0;
}

/* Buffers come as the last user left them: new_run() clears them. */
uint8_t *pgbuf_get(kv_env *env, uint64_t n)
{
	struct pgbufs *b = &env->bufs;
	uint8_t *p;

	if (n > BUF_MAX_RUN) {
		if (posix_memalign((void **)&p, KV_PAGE_SIZE, n * KV_PAGE_SIZE))
			return NULL;
		return p;
	}
	if (n == 1 && b->nfree) {
		p = b->free[--b->nfree];
		UNPOISON(p, KV_PAGE_SIZE);
		return p;
	}
	if (b->cur < b->nslab && b->used + n > BUF_SLAB_PAGES) {
		b->cur++;
		b->used = 0;
	}
	if (b->cur == b->nslab && slab_add(b))
		return NULL;
	p = b->slab[b->cur] + b->used * KV_PAGE_SIZE;
	b->used += n;
	UNPOISON(p, n * KV_PAGE_SIZE);
	return p;
}

/* A short run given back stays cut until the transaction ends. */
void pgbuf_put(kv_env *env, uint8_t *buf, uint64_t n)
{
	struct pgbufs *b = &env->bufs;

	if (buf == NULL)
		return;
	if (n > BUF_MAX_RUN) {
		free(buf);
		return;
	}
	POISON(buf, n * KV_PAGE_SIZE);
	if (n != 1)
		return;
	if (b->nfree == b->cfree) {
		size_t nc = b->cfree ? b->cfree * 2 : 64;
		uint8_t **nf = realloc(b->free, nc * sizeof(*nf));
		if (nf == NULL)
			return; /* it comes back when the txn ends */
		b->free = nf;
		b->cfree = nc;
	}
	b->free[b->nfree++] = buf;
}

/* Every buffer is free: keep the first slabs for the next transaction. */
static void pgbuf_reset(kv_env *env)
{
	struct pgbufs *b = &env->bufs;
	size_t i;

	while (b->nslab > BUF_KEEP_SLABS)
		slab_unmap(b->slab[--b->nslab]);
	for (i = 0; i < b->nslab; i++)
		POISON(b->slab[i], SLAB_BYTES);
	b->cur = 0;
	b->used = 0;
	b->nfree = 0;
}

void pgbuf_release(kv_env *env)
{
	struct pgbufs *b = &env->bufs;

	while (b->nslab)
		slab_unmap(b->slab[--b->nslab]);
	free(b->slab);
	free(b->free);
	memset(b, 0, sizeof(*b));
	free(env->stage);
	env->stage = NULL;
}

/* ---- dirty table ------------------------------------------------------ */

static size_t dhash(uint64_t pgno, size_t cap)
{
	return (size_t)((pgno * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static struct dpage *dirty_find(const struct dirty *d, uint64_t pgno)
{
	size_t i;

	if (!d->used)
		return NULL;
	for (i = dhash(pgno, d->cap);; i = (i + 1) & (d->cap - 1)) {
		if (d->tab[i].pgno == pgno)
			return &d->tab[i];
		if (d->tab[i].pgno == 0)
			return NULL;
	}
}

static int dirty_grow(struct dirty *d)
{
	size_t nc = d->cap ? d->cap * 2 : 256, i;
	struct dpage *nt = calloc(nc, sizeof(*nt));

	if (nt == NULL)
		return -ENOMEM;
	for (i = 0; i < d->cap; i++) {
		struct dpage *o = &d->tab[i];
		size_t j;
		if (!o->pgno)
			continue;
		for (j = dhash(o->pgno, nc); nt[j].pgno; j = (j + 1) & (nc - 1))
			;
		nt[j] = *o;
	}
	free(d->tab);
	d->tab = nt;
	d->cap = nc;
	return 0;
}

static int dirty_add(struct dirty *d, uint64_t pgno, uint64_t n, uint8_t *buf)
{
	size_t i;
	int rc;

	if ((d->used + 1) * 4 >= d->cap * 3 && (rc = dirty_grow(d)))
		return rc;
	for (i = dhash(pgno, d->cap); d->tab[i].pgno;
	     i = (i + 1) & (d->cap - 1))
		;
	d->tab[i].pgno = pgno;
	d->tab[i].n = n;
	d->tab[i].buf = buf;
	d->used++;
	return 0;
}

/* Remove by backward-shift deletion, keeping probe chains intact. */
static void dirty_remove(kv_txn *txn, struct dpage *e)
{
	struct dirty *d = &txn->dirty;
	size_t i = (size_t)(e - d->tab), j = i;

	if (d->cpg[e->pgno & (DIRTY_CACHE - 1)] == e->pgno)
		d->cpg[e->pgno & (DIRTY_CACHE - 1)] = 0;
	pgbuf_put(txn->env, e->buf, e->n);
	for (;;) {
		j = (j + 1) & (d->cap - 1);
		if (!d->tab[j].pgno)
			break;
		size_t h = dhash(d->tab[j].pgno, d->cap);
		/* can entry j move to hole i? */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && (h <= i && h > j))) {
			d->tab[i] = d->tab[j];
			i = j;
		}
	}
	d->tab[i].pgno = 0;
	d->tab[i].buf = NULL;
	d->tab[i].n = 0;
	d->used--;
}

int dirty_add_page(kv_txn *txn, uint64_t pgno, uint8_t *buf)
{
	return dirty_add(&txn->dirty, pgno, 1, buf);
}

/* The buffer of dirty page pgno, or NULL; through the lookup cache. */
static uint8_t *dirty_buf(struct dirty *d, uint64_t pgno)
{
	size_t c = pgno & (DIRTY_CACHE - 1);
	struct dpage *e;

	if (d->cpg[c] == pgno && pgno)
		return d->cbuf[c];
	e = dirty_find(d, pgno);
	if (e == NULL)
		return NULL;
	d->cpg[c] = pgno;
	d->cbuf[c] = e->buf;
	return e->buf;
}

static void ew_end(kv_txn *txn);

void dirty_release(kv_txn *txn)
{
	struct dirty *d = &txn->dirty;
	size_t i;

	ew_end(txn);
	for (i = 0; i < d->cap; i++)
		if (d->tab[i].n > BUF_MAX_RUN)
			free(d->tab[i].buf);
	free(d->tab);
	memset(d, 0, sizeof(*d));
	if (!txn->rdonly)
		pgbuf_reset(txn->env);
}

bool page_is_dirty(const kv_txn *txn, uint64_t pgno)
{
	return !txn->rdonly && dirty_find(&txn->dirty, pgno) != NULL;
}

const uint8_t *page_peek(kv_txn *txn, uint64_t pgno)
{
	if (!txn->rdonly && txn->dirty.used) {
		uint8_t *b = dirty_buf(&txn->dirty, pgno);
		if (b)
			return b;
	}
	if (pgno < 2 || pgno >= txn->st.next_pgno)
		return NULL;
	/* it may be a page written early, still in flight or never written */
	if (txn->ew && pager_spill_wait(txn) != 0)
		return NULL;
	return txn->map + pgno * KV_PAGE_SIZE;
}

const uint8_t *page_get(kv_txn *txn, uint64_t pgno)
{
	const uint8_t *p = page_peek(txn, pgno);

	if (p == NULL)
		KV_CORRUPT(pgno, "page number out of range");
	return p;
}

/* ---- allocation ------------------------------------------------------- */

int page_alloc(kv_txn *txn, uint64_t n, uint64_t *pgno)
{
	int rc;

	if (n == 1 && txn->nloose) {
		*pgno = txn->loose[--txn->nloose];
		return 0;
	}
	rc = fl_take(txn->fl, n, pgno);
	if (rc == KV_ENOTFOUND && !txn->reclaimed) {
		/* Readers may have finished since the txn began. */
		rc = fl_reclaim(txn);
		if (rc != 0)
			return rc;
		txn->reclaimed = true;
		rc = fl_take(txn->fl, n, pgno);
	}
	if (rc == KV_ENOTFOUND) {
		*pgno = txn->st.next_pgno;
		txn->st.next_pgno += n;
		rc = 0;
	}
	return rc;
}

/* A run of n pages born in this txn; clear: zero all of it, else only the
 * header (the caller fills the rest). */
static int new_run(kv_txn *txn, uint64_t n, bool clear, uint64_t *pgno,
                   uint8_t **out)
{
	uint8_t *buf;
	int rc;

	buf = pgbuf_get(txn->env, n);
	if (buf == NULL)
		return -ENOMEM;
	rc = page_alloc(txn, n, pgno);
	if (rc == 0)
		rc = dirty_add(&txn->dirty, *pgno, n, buf);
	if (rc != 0) {
		pgbuf_put(txn->env, buf, n);
		return rc;
	}
	/* recycled buffers hold old pages: no stale byte may reach the file */
	memset(buf, 0, clear ? n * KV_PAGE_SIZE : PH_SIZE);
	put64(buf + PH_PGNO, *pgno);
	put64(buf + PH_TXNID, txn->id);
	*out = buf;
	return 0;
}

int page_new(kv_txn *txn, uint64_t n, uint64_t *pgno, uint8_t **out)
{
	return new_run(txn, n, true, pgno, out);
}

int page_free(kv_txn *txn, uint64_t pgno, uint64_t n, uint64_t born)
{
	struct dpage *e = dirty_find(&txn->dirty, pgno);

	if (e) {
		/* born in this txn: nobody else has seen it, reuse it now;
		 * pages waiting to be written early stay dirty instead */
		txn->nspill = 0;
		dirty_remove(txn, e);
		if (n == 1) {
			if (txn->nloose == txn->cloose) {
				size_t nc = txn->cloose ? txn->cloose * 2 : 64;
				uint64_t *nl =
				        realloc(txn->loose, nc * sizeof(*nl));
				if (nl == NULL)
					return -ENOMEM;
				txn->loose = nl;
				txn->cloose = nc;
			}
			txn->loose[txn->nloose++] = pgno;
			return 0;
		}
		return fl_add_ready(txn->fl, pgno, n);
	}
	return fl_add_pending(txn->fl, pgno, n, born, txn->id);
}

int page_touch(kv_txn *txn, uint64_t pgno, uint64_t *newpg, uint8_t **out)
{
	struct dpage *e = dirty_find(&txn->dirty, pgno);
	const uint8_t *src;
	uint8_t *buf;
	int rc;

	if (e) {
		*newpg = pgno;
		*out = e->buf;
		return 0;
	}
	src = page_get(txn, pgno);
	if (src == NULL)
		return KV_ECORRUPT;
	rc = new_run(txn, 1, false, newpg, &buf);
	if (rc != 0)
		return rc;
	memcpy(buf + PH_TYPE, src + PH_TYPE, KV_PAGE_SIZE - PH_TYPE);
	rc = page_free(txn, pgno, 1, get64(src + PH_TXNID));
	if (rc != 0)
		return rc;
	*out = buf;
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

#define STAGE_BYTES ((size_t)WRITE_MAX_PAGES * KV_PAGE_SIZE)

static int cmp_dpage(const void *a, const void *b)
{
	const struct dpage *x = *(struct dpage *const *)a;
	const struct dpage *y = *(struct dpage *const *)b;
	return x->pgno < y->pgno ? -1 : x->pgno > y->pgno;
}

/*
 * Page order.  Most commits change a few pages: sorting them by insertion,
 * on the stack, spares qsort's setup and a malloc (both showed in profiles
 * of one-put commits).
 */
#define FEW_PAGES 16

static void sort_dpages(struct dpage **v, size_t n)
{
	if (n > FEW_PAGES) {
		qsort(v, n, sizeof(*v), cmp_dpage);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct dpage *e = v[i];
		size_t j = i;
		for (; j > 0 && v[j - 1]->pgno > e->pgno; j--)
			v[j] = v[j - 1];
		v[j] = e;
	}
}

/*
 * Set the file's size for the pages of txn, so that the map covers what is
 * written.  Between checkpoints the file grows in steps of an eighth of its
 * size (at least 1 MiB), so that few logged commits change the size: a
 * synced record write after a size change writes the inode too.
 *
 * A checkpoint, whose fdatasync covers the size as well, sets it to the
 * pages it needs, cutting off the tail a step left beyond them.  Never
 * below the pages of
 *   - the last durable commit, which the other meta slot names: if this
 *     checkpoint's meta does not survive a power loss, recovery falls back
 *     to that commit, and refuses one that names pages past the end of the
 *     file;
 *   - the commit this one builds on, nor of any older commit a reader
 *     still reads (then the file is not cut at all): a reader that counts
 *     the free space of its commit (kv_env_stat, kv_check) reads every page
 *     below that commit's last, and a page past the end of the file is a
 *     SIGBUS.
 * Readers that begin while the txn runs read the commit it builds on.
 */
static int size_file(kv_txn *txn, bool ckpt)
{
	kv_env *env = txn->env;
	uint64_t need = txn->st.next_pgno * KV_PAGE_SIZE, step, size;
	int rc;

	if (ckpt && (!txn->nreaders || txn->readers[0] >= txn->base_txnid)) {
		uint64_t slot = atomic_load(&env->sh->durable_slot);
		uint64_t keep =
		        get64(txn->map + slot * KV_PAGE_SIZE + MF_NEXTPG);
		/* read back from the file: never a reason to grow it */
		if (keep < txn->base_pgno ||
		    keep > env->file_size / KV_PAGE_SIZE)
			keep = txn->base_pgno;
		size = keep * KV_PAGE_SIZE > need ? keep * KV_PAGE_SIZE : need;
	} else {
		if (need <= env->file_size)
			return 0;
		step = env->file_size / 8;
		if (step < (1u << 20))
			step = 1u << 20;
		size = (need + step - 1) / step * step;
	}
	if (size == env->file_size)
		return 0;
	rc = env->io->truncate(env->io->ctx, env->fd, size);
	if (rc != 0)
		return kv_set_err(
		        rc, "setting the size of %s to %llu bytes: %s",
		        env->path, (unsigned long long)size, kv_strerror(rc));
	env->file_size = size;
	return 0;
}

/*
 * Seal and write every dirty page, in page order, merging neighbours into
 * writes of up to WRITE_MAX_PAGES (64 KiB) through env->stage.  The size is
 * a compromise.  A write of many pages makes the kernel cache them as one
 * large folio (Linux 6.16 and later on ext4), and every later 4 KiB write
 * into such a folio walks all of its blocks: 20,000 random page writes took
 * 2.0 us each in a file written a page at a time, 3 to 4 us in one written
 * 256 KiB at a time, 12 us in one written 1 MiB at a time.  But with one
 * write per page the commit of a bulk load (65,000 new pages) took 0.47 to
 * 0.51 s, against 0.29 to 0.34 s in 64 KiB writes, and the durable batches
 * of random writes that followed were no faster (medians of 3, 1.37 s
 * against 1.31 s; 1.44 s after 256 KiB writes).
 */
int pager_write_dirty(kv_txn *txn, bool ckpt)
{
	kv_env *env = txn->env;
	struct dpage *few[FEW_PAGES], **v;
	size_t i, n = 0, slen = 0;
	uint64_t soff = 0;
	int rc = 0;

	txn->nspill = 0; /* still dirty: written below */
	rc = pager_spill_wait(txn);
	if (rc != 0)
		return kv_set_err(rc, "writing pages of %s: %s", env->path,
		                  kv_strerror(rc));
	if (!txn->dirty.used)
		return ckpt ? size_file(txn, true) : 0;
	v = txn->dirty.used <= FEW_PAGES ? few
	                                 : malloc(txn->dirty.used * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < txn->dirty.cap; i++)
		if (txn->dirty.tab[i].pgno)
			v[n++] = &txn->dirty.tab[i];
	sort_dpages(v, n);
	if (!env->stage)
		env->stage = malloc(STAGE_BYTES); /* NULL: write page by page */
	rc = size_file(txn, ckpt);
	if (rc != 0)
		goto out;

	for (i = 0; i < n && rc == 0; i++) {
		struct dpage *e = v[i];
		size_t len = e->n * KV_PAGE_SIZE;
		uint64_t off = e->pgno * KV_PAGE_SIZE;

		page_seal(e->buf, len);
		if (slen && (off != soff + slen || slen + len > STAGE_BYTES)) {
			rc = env->io->pwrite(env->io->ctx, env->fd, env->stage,
			                     slen, soff);
			slen = 0;
			if (rc != 0)
				break;
		}
		/* a page with no neighbour goes straight from its buffer */
		if (len >= STAGE_BYTES || !env->stage ||
		    (!slen &&
		     (i + 1 == n || v[i + 1]->pgno != e->pgno + e->n))) {
			rc = env->io->pwrite(env->io->ctx, env->fd, e->buf, len,
			                     off);
			continue;
		}
		if (!slen)
			soff = off;
		memcpy(env->stage + slen, e->buf, len);
		slen += len;
	}
	if (rc == 0 && slen)
		rc = env->io->pwrite(env->io->ctx, env->fd, env->stage, slen,
		                     soff);
	if (rc != 0)
		kv_set_err(rc, "writing pages of %s: %s", env->path,
		           kv_strerror(rc));
out:
	if (v != few)
		free(v);
	return rc;
}

/*
 * Writing early.  A compacting copy (copy.c) builds its whole file in one
 * transaction and would otherwise hold every page in memory until its
 * commit.  The pages an append split leaves behind are final, so once the
 * dirty set passes SPILL_MIN they are written as they are left, in runs of
 * neighbours, and their buffers serve the pages that come next.  Writing a
 * page of the txn early is safe for the file: its number was free, so no
 * reader and no recovery looks at it before the commit names it, and a
 * later change copies it like a committed page.
 *
 * Only for a txn marked write_early, one whose pages nobody else points
 * into: the copy's, which reads from another txn.  Elsewhere the reuse of
 * the buffers would break promises of kv.h (a value read in a write txn
 * stays valid until the next change to the same table; kv_table_list walks
 * the catalog while its callback writes), and a load that aborts would
 * leave checksummed pages stamped with a txnid the next txn takes again.
 * The copy's file is removed when the copy fails.  Early writes also stop
 * once the file would outgrow the map the txn reads through.
 *
 * The writes are a thread's, the early writer's, so that the copy builds
 * on one CPU while the kernel copies the pages into its cache on another,
 * as LMDB's copy writes from a second thread.  The txn seals each run and
 * copies it into one of EW_RUNS buffers; it waits only when all are in
 * flight.  The first write that fails stops the writer, and the txn's next
 * early write or its commit fails with it; a read of a page of the txn
 * from the map, which could be one still in flight, first waits for the
 * writer to finish what it has (page_peek).  Where no thread can be made,
 * the txn writes its runs itself.
 *
 * Every WRITEBACK_BYTES written early are handed to the kernel's writeback
 * at once (os_writeback), so that the disk writes them while the copy
 * builds the next ones.  Left to the commit's fdatasync, all of them would
 * be written after the build, and the copy would take the build's time
 * plus the disk's instead of the longer of the two.  The range handed over
 * before is then waited for, written by now, and dropped from the page
 * cache (os_writeback_drop): a copy holds at most two ranges of its early
 * pages there, so that a backup does not push the store's own pages out,
 * and the pages of the next range come from those just let go.  Pages the
 * cache must grow to hold can cost far more: on a virtual machine whose
 * host backs the guest's free memory lazily, 600 MiB written to a new file
 * took 1.45 s with as much cached beside it, 0.15 s right after as much
 * was let go.
 */
#define WRITEBACK_BYTES (8u << 20)
#define EW_RUNS 16u /* runs in flight, STAGE_BYTES each */

struct early_writer {
	kv_env *env;
	uint8_t *bufs; /* EW_RUNS runs of STAGE_BYTES */
	uint64_t off[EW_RUNS];
	size_t len[EW_RUNS];
	/* Guarded by mu: the runs queued (count of them from head) and the
	 * first error. */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	unsigned head, count;
	int err;
	bool stop, threaded;
	pthread_t th;
	/* the writer's own: written since the last os_writeback, and the
	 * range handed to it then (byte offsets; hi 0: none) */
	uint64_t wb_lo, wb_hi, prev_lo, prev_hi;
};

/* Write one run and keep writeback going (see above). */
static int ew_write(struct early_writer *w, const uint8_t *buf, size_t len,
                    uint64_t off)
{
	kv_env *env = w->env;
	int rc = env->io->pwrite(env->io->ctx, env->fd, buf, len, off);

	if (rc != 0)
		return rc;
	if (w->wb_hi == 0 || off < w->wb_lo)
		w->wb_lo = off;
	if (off + len > w->wb_hi)
		w->wb_hi = off + len;
	if (w->wb_hi - w->wb_lo < WRITEBACK_BYTES)
		return 0;
	if (w->prev_hi) {
		rc = os_writeback_drop(env->fd, w->prev_lo,
		                       w->prev_hi - w->prev_lo);
		if (rc != 0)
			return rc;
	}
	os_writeback(env->fd, w->wb_lo, w->wb_hi - w->wb_lo);
	w->prev_lo = w->wb_lo;
	w->prev_hi = w->wb_hi;
	w->wb_lo = w->wb_hi = 0;
	return 0;
}

static void *ew_main(void *arg)
{
	struct early_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->count == 0 && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (w->count == 0)
			break;
		unsigned i = w->head;
		int rc = w->err;
		pthread_mutex_unlock(&w->mu);
		if (rc == 0) /* after a failure the rest is dropped */
			rc = ew_write(w, w->bufs + (size_t)i * STAGE_BYTES,
			              w->len[i], w->off[i]);
		pthread_mutex_lock(&w->mu);
		if (rc != 0 && w->err == 0)
			w->err = rc;
		w->head = (i + 1) % EW_RUNS;
		w->count--;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

bool pager_no_thread;

/* The txn's early writer, with its thread if one can be made. */
static int ew_start(kv_txn *txn)
{
	struct early_writer *w = calloc(1, sizeof(*w));
	sigset_t all, old;

	if (w == NULL ||
	    (w->bufs = malloc((size_t)EW_RUNS * STAGE_BYTES)) == NULL) {
		free(w);
		return -ENOMEM;
	}
	w->env = txn->env;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	/* the caller's signals stay the caller's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	w->threaded = !pager_no_thread &&
	              pthread_create(&w->th, NULL, ew_main, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	txn->ew = w;
	return 0;
}

int pager_spill_wait(kv_txn *txn)
{
	struct early_writer *w = txn->ew;
	int rc;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (w->count)
		pthread_cond_wait(&w->done, &w->mu);
	rc = w->err;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* Stop the txn's early writer; what it has not written is dropped. */
static void ew_end(kv_txn *txn)
{
	struct early_writer *w = txn->ew;

	if (w == NULL)
		return;
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		if (w->err == 0)
			w->err = -ECANCELED;
		w->stop = true;
		pthread_cond_signal(&w->work);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
	}
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w->bufs);
	free(w);
	txn->ew = NULL;
}

/* A buffer for the next run: wait while all are in flight.  NULL with *rc
 * set when the writer failed. */
static uint8_t *ew_buffer(struct early_writer *w, int *rc)
{
	unsigned slot;

	pthread_mutex_lock(&w->mu);
	while (w->count == EW_RUNS && w->err == 0)
		pthread_cond_wait(&w->done, &w->mu);
	*rc = w->err;
	slot = (w->head + w->count) % EW_RUNS;
	pthread_mutex_unlock(&w->mu);
	return *rc ? NULL : w->bufs + (size_t)slot * STAGE_BYTES;
}

/* Hand the run in the buffer ew_buffer() gave to the writer. */
static void ew_queue(struct early_writer *w, size_t len, uint64_t off)
{
	pthread_mutex_lock(&w->mu);
	unsigned slot = (w->head + w->count) % EW_RUNS;
	w->off[slot] = off;
	w->len[slot] = len;
	w->count++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

static int spill_flush(kv_txn *txn)
{
	struct early_writer *w;
	uint8_t *run;
	size_t len = 0;
	unsigned i;
	int rc;

	if (!txn->nspill)
		return 0;
	if (txn->ew == NULL && (rc = ew_start(txn)) != 0)
		return rc;
	w = txn->ew;
	rc = size_file(txn, false);
	if (rc != 0)
		return rc;
	run = w->threaded ? ew_buffer(w, &rc) : w->bufs;
	if (rc != 0)
		return kv_set_err(rc, "writing pages of %s: %s", txn->env->path,
		                  kv_strerror(rc));
	for (i = 0; i < txn->nspill; i++) {
		struct dpage *e = dirty_find(&txn->dirty, txn->spill[i]);
		/* queued pages are neighbours, still dirty and single */
		if (e == NULL || e->n != 1)
			return KV_CORRUPT(
			        txn->spill[i],
			        "page to write early "
			        "is not a dirty page (internal error)");
		page_seal(e->buf, KV_PAGE_SIZE);
		memcpy(run + len, e->buf, KV_PAGE_SIZE);
		len += KV_PAGE_SIZE;
	}
	if (w->threaded)
		ew_queue(w, len, txn->spill[0] * KV_PAGE_SIZE);
	else if ((rc = ew_write(w, run, len, txn->spill[0] * KV_PAGE_SIZE)))
		w->err = rc; /* as the thread keeps it: see page_peek */
	if (rc != 0)
		return kv_set_err(rc, "writing pages of %s: %s", txn->env->path,
		                  kv_strerror(rc));
	for (i = 0; i < txn->nspill; i++)
		dirty_remove(txn, dirty_find(&txn->dirty, txn->spill[i]));
	txn->nspill = 0;
	return 0;
}

int pager_spill(kv_txn *txn, uint64_t pgno)
{
	int rc;

	if (!txn->write_early || txn->dirty.used < SPILL_MIN ||
	    txn->st.next_pgno > txn->map_size / KV_PAGE_SIZE)
		return 0;
	if (txn->nspill && (txn->nspill == WRITE_MAX_PAGES ||
	                    txn->spill[txn->nspill - 1] + 1 != pgno)) {
		rc = spill_flush(txn);
		if (rc != 0)
			return rc;
	}
	txn->spill[txn->nspill++] = pgno;
	return 0;
}
