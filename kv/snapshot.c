/*
 * snapshot.c: named persistent snapshots.
 *
 * A snapshot is one record in the snapshots tree (root in the meta page):
 * the txnid and catalog descriptor of a committed state.  Creating one is
 * O(1): nothing is copied.  Its pages stay because the freelist keeps any
 * freed page that a snapshot can see pending (freelist.c), and deleting it
 * lets exactly the pages only it could see become free.
 *
 * A commit that deletes a snapshot is always durable: the pages only that
 * snapshot held become reusable at once, and the last durable commit -- the
 * state a power loss falls back to -- must no longer name the snapshot.
 *
 * Reading a snapshot registers a reader at the snapshot's txnid, which pins
 * the same pages the snapshot does, so a snapshot being read can be deleted
 * safely.  Restoring walks both trees once (see kv_snapshot_restore).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#include "kv_int.h"

struct snaprec {
	uint64_t txnid;
	int64_t created;
	struct tree catalog;
	uint64_t records;
	uint8_t id[KV_SNAPSHOT_ID_LEN];
};

/*
 * The id of a record written before ids existed (formats 1 and 2): a hash
 * of its txnid and created time, which never change, so the id is the same
 * at every read, and the one a rename then writes out.
 */
static void rec_derive_id(struct snaprec *r)
{
	uint8_t in[16];
	XXH128_hash_t h;

	put64(in, r->txnid);
	put64(in + 8, (uint64_t)r->created);
	h = XXH3_128bits_withSeed(in, sizeof(in), 0x736e6170u /* "snap" */);
	put64(r->id, h.low64);
	put64(r->id + 8, h.high64);
}

/* Load a stored record: false when its length is neither format's. */
static bool rec_load(struct snaprec *r, kv_val v)
{
	const uint8_t *p = v.data;

	if (v.len != SR_SIZE && v.len != SR_SIZE_V2)
		return false;
	r->txnid = get64(p + SR_TXNID);
	r->created = (int64_t)get64(p + SR_CREATED);
	tree_load(&r->catalog, p + SR_CATALOG);
	r->records = get64(p + SR_RECORDS);
	if (v.len == SR_SIZE)
		memcpy(r->id, p + SR_ID, KV_SNAPSHOT_ID_LEN);
	else
		rec_derive_id(r);
	return true;
}

static void rec_store(const struct snaprec *r, uint8_t *p)
{
	memset(p, 0, SR_SIZE);
	put64(p + SR_TXNID, r->txnid);
	put64(p + SR_CREATED, (uint64_t)r->created);
	tree_store(&r->catalog, p + SR_CATALOG);
	put64(p + SR_RECORDS, r->records);
	memcpy(p + SR_ID, r->id, KV_SNAPSHOT_ID_LEN);
}

static void rec_info(const struct snaprec *r, const char *name,
                     struct kv_snapshot_info *info)
{
	memset(info, 0, sizeof(*info));
	strcpy(info->name, name);
	info->txnid = r->txnid;
	info->created_ns = r->created;
	info->records = r->records;
	memcpy(info->id, r->id, KV_SNAPSHOT_ID_LEN);
}

/* A fresh random id.  An all-zero id means "none" in streams, so it is
 * never handed out. */
static int new_id(uint8_t id[KV_SNAPSHOT_ID_LEN])
{
	static const uint8_t zero[KV_SNAPSHOT_ID_LEN];
	size_t got = 0;

	do {
		while (got < KV_SNAPSHOT_ID_LEN) {
			ssize_t n = getrandom(id + got,
			                      KV_SNAPSHOT_ID_LEN - got, 0);
			if (n < 0 && errno != EINTR)
				return kv_set_err(-errno, "no random bytes for "
				                          "a snapshot id");
			if (n > 0)
				got += (size_t)n;
		}
		got = 0;
	} while (memcmp(id, zero, KV_SNAPSHOT_ID_LEN) == 0);
	return 0;
}

/* A stored name the API can use: 1..KV_MAX_NAME bytes, no NUL inside. */
static bool name_ok(kv_val k)
{
	return k.len > 0 && k.len <= KV_MAX_NAME &&
	       memchr(k.data, '\0', k.len) == NULL;
}

static kv_val name_val(const char *name)
{
	kv_val k = { name, strlen(name) };
	return k;
}

static int rec_get(kv_txn *txn, const struct tree *snaps, const char *name,
                   struct snaprec *r)
{
	struct tree t = *snaps;
	kv_val v;
	int rc = name_check(name);

	if (rc != 0)
		return rc;
	rc = bt_get(txn, &t, name_val(name), &v);
	if (rc == KV_ENOTFOUND)
		return kv_set_err(rc, "no snapshot '%s'", name);
	if (rc != 0)
		return rc;
	if (!rec_load(r, v))
		return kv_set_err(KV_ECORRUPT,
		                  "snapshot record '%s' has the "
		                  "wrong size",
		                  name);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int snap_each(kv_txn *txn, const struct tree *snaps,
              int (*fn)(void *ctx, uint64_t txnid, const struct tree *cat),
              void *ctx)
{
	struct tree t = *snaps;
	struct cur c = { .txn = txn, .tree = &t };
	int rc;

	for (rc = bt_first(&c); rc == 0; rc = bt_next(&c)) {
		struct snaprec r;
		kv_val k, v;
		rc = bt_cur_get(&c, &k, &v);
		if (rc != 0)
			return rc;
		if (!name_ok(k) || !rec_load(&r, v))
			return KV_CORRUPT(c.pg[c.depth - 1], "snapshot record");
		rc = fn(ctx, r.txnid, &r.catalog);
		if (rc != 0)
			return rc;
	}
	return rc == KV_ENOTFOUND ? 0 : rc;
}

struct txids {
	uint64_t *v;
	size_t n, cap;
	uint64_t count; /* the tree's count, which may be damaged */
};

/* The array grows with the records found, not to the count: a damaged
 * count must not make the open allocate what it says. */
static int add_txid(void *ctx, uint64_t txnid, const struct tree *cat)
{
	struct txids *x = ctx;

	(void)cat;
	if (x->n == x->count)
		return KV_CORRUPT(0, "more snapshot records than counted");
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		uint64_t *v;

		if (cap > x->count)
			cap = (size_t)x->count;
		v = realloc(x->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n++] = txnid;
	return 0;
}

int snap_load_txids(kv_txn *txn, const struct tree *snaps, uint64_t **out,
                    size_t *n)
{
	struct txids x = { NULL, 0, 0, snaps->count };
	int rc;

	*out = NULL;
	*n = 0;
	if (!snaps->count)
		return 0;
	rc = snap_each(txn, snaps, add_txid, &x);
	if (rc != 0) {
		free(x.v);
		return rc;
	}
	if (x.n)
		qsort(x.v, x.n, sizeof(*x.v), cmp_u64);
	*out = x.v;
	*n = x.n;
	return 0;
}

static int write_ok(kv_txn *txn)
{
	if (txn->rdonly)
		return kv_set_err(KV_EREADONLY, "snapshots change only in a "
		                                "write transaction");
	if (txn->failed)
		return kv_set_err(txn->failed_rc, "the transaction failed "
		                                  "earlier; abort it");
	if (txn->sealed)
		return kv_set_err(KV_EREADONLY, "the transaction is sealed "
		                                "(kv_snapshot_seal)");
	return 0;
}

static int mark_failed(kv_txn *txn, int rc)
{
	if (rc && rc != KV_ENOTFOUND && rc != KV_EEXIST && rc != KV_EBADNAME) {
		txn->failed = true;
		txn->failed_rc = rc;
	}
	return rc;
}

static int count_records(kv_txn *txn, const struct tree *catalog, uint64_t *n)
{
	struct tree t = *catalog;
	struct cur c = { .txn = txn, .tree = &t };
	int rc;

	*n = 0;
	for (rc = bt_first(&c); rc == 0; rc = bt_next(&c)) {
		kv_val v;
		rc = bt_cur_get(&c, NULL, &v);
		if (rc != 0)
			return rc;
		if (v.len != TD_SIZE)
			return KV_CORRUPT(c.pg[c.depth - 1], "catalog entry");
		*n += get64((const uint8_t *)v.data + TD_COUNT);
	}
	return rc == KV_ENOTFOUND ? 0 : rc;
}

KV_API int kv_snapshot_create(kv_txn *txn, const char *name)
{
	struct snaprec r;
	uint8_t buf[SR_SIZE];
	int rc = write_ok(txn);

	if (rc != 0)
		return rc;
	txlog_off(txn); /* snapshots change with checkpoints only */
	rc = name_check(name);
	if (rc != 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.txnid = txn->base_txnid;
	r.created = kv_now_ns();
	r.catalog = txn->base_catalog;
	rc = count_records(txn, &r.catalog, &r.records);
	if (rc == 0)
		rc = new_id(r.id);
	if (rc != 0)
		return rc;
	rec_store(&r, buf);
	kv_val v = { buf, SR_SIZE };
	rc = bt_put(txn, &txn->st.snaps, name_val(name), v, KV_NOOVERWRITE);
	if (rc == KV_EEXIST)
		return kv_set_err(rc, "snapshot '%s' already exists", name);
	if (rc == 0)
		txn->snaps_changed = true;
	return mark_failed(txn, rc);
}

/*
 * A snapshot of the state txn itself will commit.  The record names the
 * catalog as it stands once every open table's descriptor is flushed, and
 * txn's own id as its txnid: exactly the record kv_snapshot_create() would
 * write in the next transaction, so the freelist's rule (a page born at or
 * before a snapshot's txnid and freed after it is held) covers its pages
 * the same way.  The catalog's pages are still this txn's dirty pages,
 * which a later change would rewrite in place: so the txn is sealed, and
 * every table change after this fails with KV_EREADONLY.
 */
KV_API int kv_snapshot_seal(kv_txn *txn, const char *name,
                            const uint8_t id[KV_SNAPSHOT_ID_LEN],
                            int64_t created_ns)
{
	static const uint8_t zero[KV_SNAPSHOT_ID_LEN];
	struct snaprec r;
	uint8_t buf[SR_SIZE];
	int rc = write_ok(txn);

	if (rc != 0)
		return rc;
	if (id == NULL || memcmp(id, zero, KV_SNAPSHOT_ID_LEN) == 0)
		return kv_set_err(-EINVAL, "a snapshot id may not be zero");
	rc = name_check(name);
	if (rc != 0)
		return rc;
	txlog_off(txn); /* snapshots change with checkpoints only */
	rc = catalog_flush(txn);
	if (rc != 0)
		return mark_failed(txn, rc);
	memset(&r, 0, sizeof(r));
	r.txnid = txn->id;
	r.created = created_ns ? created_ns : kv_now_ns();
	r.catalog = txn->st.catalog;
	memcpy(r.id, id, KV_SNAPSHOT_ID_LEN);
	rc = count_records(txn, &r.catalog, &r.records);
	if (rc != 0)
		return mark_failed(txn, rc);
	rec_store(&r, buf);
	kv_val v = { buf, SR_SIZE };
	rc = bt_put(txn, &txn->st.snaps, name_val(name), v, KV_NOOVERWRITE);
	if (rc == KV_EEXIST)
		return kv_set_err(rc, "snapshot '%s' already exists", name);
	if (rc == 0) {
		txn->snaps_changed = true;
		txn->sealed = true;
		txn->changes++;
	}
	return mark_failed(txn, rc);
}

KV_API int kv_snapshot_delete(kv_txn *txn, const char *name)
{
	int rc = write_ok(txn);

	if (rc != 0)
		return rc;
	txlog_off(txn); /* snapshots change with checkpoints only */
	rc = name_check(name);
	if (rc != 0)
		return rc;
	rc = bt_del(txn, &txn->st.snaps, name_val(name));
	if (rc == KV_ENOTFOUND)
		return kv_set_err(rc, "no snapshot '%s'", name);
	if (rc == 0) {
		txn->snaps_changed = true;
		txn->snap_deleted = true;
	}
	return mark_failed(txn, rc);
}

KV_API int kv_snapshot_rename(kv_txn *txn, const char *from, const char *to)
{
	struct snaprec r;
	uint8_t buf[SR_SIZE];
	int rc = write_ok(txn);

	if (rc != 0)
		return rc;
	txlog_off(txn); /* snapshots change with checkpoints only */
	rc = rec_get(txn, &txn->st.snaps, from, &r);
	if (rc != 0)
		return rc;
	rc = name_check(to);
	if (rc != 0)
		return rc;
	if (strcmp(from, to) == 0)
		return 0;
	rec_store(&r, buf);
	kv_val v = { buf, SR_SIZE };
	rc = bt_put(txn, &txn->st.snaps, name_val(to), v, KV_NOOVERWRITE);
	if (rc == KV_EEXIST)
		return kv_set_err(rc, "snapshot '%s' already exists", to);
	if (rc == 0)
		rc = bt_del(txn, &txn->st.snaps, name_val(from));
	if (rc == 0)
		txn->snaps_changed = true;
	return mark_failed(txn, rc);
}

KV_API int kv_snapshot_get(kv_txn *txn, const char *name,
                           struct kv_snapshot_info *info)
{
	struct snaprec r;
	int rc;

	if (txn->snapshot) {
		/* a snapshot txn knows only the snapshot it reads */
		if (name && strcmp(name, txn->self.name) == 0) {
			*info = txn->self;
			return 0;
		}
		return kv_set_err(KV_ENOTFOUND,
		                  "no snapshot '%s' inside "
		                  "snapshot '%s'",
		                  name ? name : "", txn->self.name);
	}
	rc = rec_get(txn, &txn->st.snaps, name, &r);

	if (rc != 0)
		return rc;
	rec_info(&r, name, info);
	return 0;
}

KV_API int kv_snapshot_same(kv_txn *txn, const char *name)
{
	struct snaprec r;
	int rc;

	if (txn->snapshot)
		return kv_set_err(-EINVAL, "snapshots cannot be compared "
		                           "inside a snapshot transaction");
	rc = rec_get(txn, &txn->st.snaps, name, &r);
	if (rc != 0)
		return rc;
	/* Pages are copied on write and a snapshot keeps its pages from
	 * reuse, so an equal catalog root means every table is unchanged. */
	return r.catalog.root == txn->base_catalog.root &&
	       r.catalog.root_txn == txn->base_catalog.root_txn;
}

static int cmp_info(const void *a, const void *b)
{
	const struct kv_snapshot_info *x = a, *y = b;

	if (x->txnid != y->txnid)
		return x->txnid < y->txnid ? -1 : 1;
	if (x->created_ns != y->created_ns)
		return x->created_ns < y->created_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

KV_API int kv_snapshot_list(kv_txn *txn,
                            int (*fn)(void *ctx,
                                      const struct kv_snapshot_info *s),
                            void *ctx)
{
	struct tree t = txn->st.snaps;
	struct cur c = { .txn = txn, .tree = &t };
	struct kv_snapshot_info *v;
	size_t n = 0, cap, i;
	int rc;

	if (!t.count)
		return 0;
	/* the count comes from the file: grow as records are found rather
	 * than trust it for an allocation */
	cap = t.count < 64 ? (size_t)t.count : 64;
	v = calloc(cap, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (rc = bt_first(&c); rc == 0 && n < t.count; rc = bt_next(&c)) {
		kv_val k, val;
		struct snaprec r;
		rc = bt_cur_get(&c, &k, &val);
		if (rc != 0)
			break;
		if (n == cap) {
			struct kv_snapshot_info *nv =
			        realloc(v, 2 * cap * sizeof(*v));
			if (nv == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap *= 2;
		}
		if (!name_ok(k) || !rec_load(&r, val)) {
			rc = KV_CORRUPT(c.pg[c.depth - 1], "snapshot record");
			break;
		}
		char name[KV_MAX_NAME + 1];
		memcpy(name, k.data, k.len);
		name[k.len] = 0;
		rec_info(&r, name, &v[n]);
		n++;
	}
	if (rc && rc != KV_ENOTFOUND) {
		free(v);
		return rc;
	}
	qsort(v, n, sizeof(*v), cmp_info);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(ctx, &v[i]);
	free(v);
	return rc;
}

/*
 * Open a read txn on a snapshot.  Two reader slots: the first pins the
 * current state while the snapshot record is read, the second is then set
 * to the snapshot's txnid.  If a commit slipped in between, a writer may
 * not have seen the second slot, so start over.
 */
KV_API int kv_txn_begin_snapshot(kv_env *env, const char *name, kv_txn **out)
{
	*out = NULL;
	for (int tries = 0; tries < 1000; tries++) {
		kv_txn *txn;
		struct snaprec r;
		struct state now;
		int rc = txn_begin_read_state(env, &txn);

		if (rc != 0)
			return rc;
		rc = rec_get(txn, &txn->st.snaps, name, &r);
		if (rc != 0) {
			kv_txn_abort(txn);
			return rc;
		}
		rc = reader_slot_get(env, &txn->slot2);
		if (rc != 0) {
			kv_txn_abort(txn);
			return rc;
		}
		rc = reader_slot_set(env, txn->slot2, r.txnid ? r.txnid : 1);
		if (rc == 0)
			rc = txn_current_state(env, &now);
		if (rc != 0) {
			kv_txn_abort(txn);
			return rc;
		}
		if (now.txnid != txn->st.txnid) {
			kv_txn_abort(txn);
			continue;
		}
		/* the snapshot's pins now hold; drop the current-state one */
		reader_slot_put(env, txn->slot);
		txn->slot = txn->slot2;
		txn->slot2 = NULL;
		txn->snapshot = true;
		rec_info(&r, name, &txn->self);
		txn->st.catalog = r.catalog;
		txn->st.snaps.root = 0; /* no snapshots inside a snapshot */
		txn->st.snaps.count = 0;
		txn->id = r.txnid;
		*out = txn;
		return 0;
	}
	return kv_set_err(KV_EBUSY,
	                  "the store changed too often while "
	                  "opening snapshot '%s'",
	                  name);
}

/* ---- space and restore ------------------------------------------------ */

KV_API int kv_snapshot_space(kv_txn *txn, const char *name, uint64_t *pages)
{
	struct snaprec r;
	struct flstate own, *f;
	uint64_t *tx = NULL;
	size_t ntx = 0, i;
	int rc;

	*pages = 0;
	rc = rec_get(txn, &txn->st.snaps, name, &r);
	if (rc != 0)
		return rc;
	if (txn->rdonly) {
		rc = fl_load(txn->env, txn->map, &txn->st, &own);
		if (rc != 0)
			return rc;
		f = &own;
	} else {
		f = txn->fl;
	}
	rc = snap_load_txids(txn, &txn->st.snaps, &tx, &ntx);
	if (rc != 0)
		goto out;
	/* with two snapshots of one commit, neither holds anything alone */
	size_t same = 0;
	for (i = 0; i < ntx; i++)
		same += tx[i] == r.txnid;
	if (same == 1) {
		for (i = 0; i < f->npend; i++) {
			const struct fl_entry *e = &f->pend[i];
			uint64_t freed = e->freed & ~FL_META;
			size_t lo = 0, hi = ntx, k;
			if (e->freed & FL_META)
				continue;
			if (!(e->born <= r.txnid && r.txnid < freed))
				continue;
			/* is r.txnid the only snapshot in [born, freed)? */
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (tx[mid] < e->born)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (k = lo; k < ntx && tx[k] < freed; k++)
				if (tx[k] != r.txnid)
					break;
			if (k == ntx || tx[k] >= freed)
				*pages += e->n;
		}
	}
out:
	free(tx);
	if (txn->rdonly)
		fl_release(&own);
	return rc;
}

enum { RS_KEEP = 1, RS_LIVE };

/* A restore's walk (walk.c): first the snapshot's pages (RS_KEEP), then
 * those of the live tables (RS_LIVE), gathering the runs that the snapshot
 * does not share. */
struct restore {
	struct walk w;
	uint64_t *pg, *n, *tx;
	size_t cnt, cap;
};

static int restore_visit(void *ctx, uint64_t pg, uint64_t n, uint64_t tx,
                         const uint8_t *p, int depth)
{
	struct restore *rs = ctx;
	(void)depth;
	if (p == NULL)
		return KV_CORRUPT(pg, "unreadable page");
	if (rs->w.phase == RS_KEEP)
		return 0;
	if (rs->cnt == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 256;
		uint64_t *a = realloc(rs->pg, nc * 8), *b, *c;
		if (a == NULL)
			return -ENOMEM;
		rs->pg = a;
		b = realloc(rs->n, nc * 8);
		if (b == NULL)
			return -ENOMEM;
		rs->n = b;
		c = realloc(rs->tx, nc * 8);
		if (c == NULL)
			return -ENOMEM;
		rs->tx = c;
		rs->cap = nc;
	}
	rs->pg[rs->cnt] = pg;
	rs->n[rs->cnt] = n;
	rs->tx[rs->cnt] = tx;
	rs->cnt++;
	return 0;
}

/* Is page pg one of the snapshot's? */
static bool restore_keeps(const struct restore *rs, uint64_t pg)
{
	return pg < rs->w.npages && rs->w.mark[pg] == RS_KEEP;
}

/*
 * The end of a restore's walks: free the live runs the snapshot does not
 * share, and take the snapshot's pages that wait in the pending list (held
 * only by snapshots) off it: they are live again.  Taking them off cannot
 * be undone entry by entry, so an abort reloads the free state.
 */
static int restore_settle(kv_txn *txn, struct restore *rs)
{
	struct flstate *f = txn->fl;
	size_t i, k;
	int rc;

	for (i = 0; i < rs->cnt; i++) {
		rc = page_free(txn, rs->pg[i], rs->n[i], rs->tx[i]);
		if (rc != 0)
			return rc;
	}
	f->log_lost = true;              /* an abort reloads the free state */
	txn->env->reclaim_valid = false; /* not an append: look at all again */
	for (i = 0, k = 0; i < f->npend; i++) {
		if (restore_keeps(rs, f->pend[i].pgno) &&
		    !(f->pend[i].freed & FL_META))
			continue;
		f->pend[k++] = f->pend[i];
	}
	f->npend = k;
	return 0;
}

static void restore_release(struct restore *rs)
{
	walk_release(&rs->w);
	free(rs->pg);
	free(rs->n);
	free(rs->tx);
}

/*
 * Restore: the snapshot's catalog becomes the live one.  Every page of the
 * live tables that the snapshot does not share is freed; every page of the
 * snapshot that was waiting in the pending list (held only by snapshots) is
 * live again and leaves the list.  Cost: one walk of each state.
 */
KV_API int kv_snapshot_restore(kv_txn *txn, const char *name)
{
	struct snaprec r;
	struct restore rs;
	int rc = write_ok(txn);

	if (rc != 0)
		return rc;
	txlog_off(txn); /* snapshots change with checkpoints only */
	rc = rec_get(txn, &txn->st.snaps, name, &r);
	if (rc != 0)
		return rc;
	memset(&rs, 0, sizeof(rs));
	rc = catalog_flush(txn);
	if (rc != 0)
		goto out;
	catalog_invalidate(txn, NULL);

	rc = walk_init(&rs.w, txn, true, restore_visit, NULL, &rs);
	if (rc != 0)
		goto out;
	rs.w.phase = RS_KEEP;
	rc = walk_catalog(&rs.w, &r.catalog);
	if (rc != 0)
		goto out;
	rs.w.phase = RS_LIVE;
	rc = walk_catalog(&rs.w, &txn->st.catalog);
	if (rc != 0)
		goto out;
	rc = restore_settle(txn, &rs);
	if (rc != 0)
		goto out;
	txn->st.catalog = r.catalog;
	txn->changes++;
out:
	restore_release(&rs);
	return mark_failed(txn, rc);
}

/* The descriptor of table name in catalog cat, as stored: *found false
 * when cat has no such table. */
static int table_in(kv_txn *txn, const struct tree *cat, const char *name,
                    uint8_t d[TD_SIZE], bool *found)
{
	struct tree t = *cat;
	kv_val v;
	int rc = bt_get(txn, &t, name_val(name), &v);

	*found = rc == 0;
	if (rc == KV_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.len != TD_SIZE)
		return kv_set_err(KV_ECORRUPT,
		                  "catalog entry of table '%s' has the wrong "
		                  "size",
		                  name);
	memcpy(d, v.data, TD_SIZE);
	return 0;
}

/* Walk table name of catalog cat, if it has one, in the restore's phase. */
static int restore_walk_table(struct restore *rs, const struct tree *cat,
                              const char *name)
{
	uint8_t d[TD_SIZE];
	struct tree t;
	bool found;
	int rc = table_in(rs->w.txn, cat, name, d, &found);

	if (rc != 0 || !found)
		return rc;
	tree_load(&t, d);
	return walk_tree(&rs->w, &t);
}

/*
 * Restore some tables: as kv_snapshot_restore(), but the walks cover only
 * the named tables, and instead of the snapshot's catalog taking the live
 * one's place, each named table's entry in the live catalog is replaced by
 * the snapshot's (or deleted).  The live catalog changes by copy-on-write
 * like any other tree, so its own pages need no accounting here.
 *
 * The free-space accounting rests on what a restore of every table rests
 * on, and one more fact: no page is shared by tables of two names (trees
 * are only ever shared with snapshots of themselves), so a page of a named
 * table that the snapshot's named tables do not reach is reached by nothing
 * live after the restore, and a snapshot page the named tables reach is
 * live again.
 */
KV_API int kv_snapshot_restore_tables(kv_txn *txn, const char *name,
                                      const char *const *tables, size_t n)
{
	struct snaprec r;
	struct restore rs;
	size_t i;
	int rc = write_ok(txn);

	if (rc != 0)
		return rc;
	if (tables == NULL && n > 0)
		return kv_set_err(-EINVAL, "no table names");
	rc = rec_get(txn, &txn->st.snaps, name, &r);
	for (i = 0; rc == 0 && i < n; i++)
		rc = name_check(tables[i]);
	if (rc != 0 || n == 0)
		return rc;
	txlog_off(txn); /* snapshots change with checkpoints only */
	memset(&rs, 0, sizeof(rs));
	rc = catalog_flush(txn);
	if (rc != 0)
		goto out;

	rc = walk_init(&rs.w, txn, true, restore_visit, NULL, &rs);
	if (rc != 0)
		goto out;
	rs.w.phase = RS_KEEP;
	for (i = 0; rc == 0 && i < n; i++)
		rc = restore_walk_table(&rs, &r.catalog, tables[i]);
	rs.w.phase = RS_LIVE;
	for (i = 0; rc == 0 && i < n; i++)
		rc = restore_walk_table(&rs, &txn->st.catalog, tables[i]);
	if (rc == 0)
		rc = restore_settle(txn, &rs);
	for (i = 0; rc == 0 && i < n; i++) {
		uint8_t d[TD_SIZE];
		bool found;

		catalog_invalidate(txn, tables[i]);
		rc = table_in(txn, &r.catalog, tables[i], d, &found);
		if (rc != 0)
			break;
		if (found) {
			kv_val v = { d, TD_SIZE };
			rc = bt_put(txn, &txn->st.catalog, name_val(tables[i]),
			            v, 0);
		} else {
			rc = bt_del(txn, &txn->st.catalog, name_val(tables[i]));
			if (rc == KV_ENOTFOUND)
				rc = 0; /* absent on both sides */
		}
	}
	if (rc == 0)
		txn->changes++;
out:
	restore_release(&rs);
	return mark_failed(txn, rc);
}
