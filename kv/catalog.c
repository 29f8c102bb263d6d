/*
 * catalog.c: named tables and the record operations on them.
 *
 * The catalog is a B+tree of its own (root in the meta page) mapping a
 * table name to its tree descriptor (format.h).  A transaction opens a
 * table once; the handle carries the descriptor, changes update it in
 * memory, and commit writes the changed descriptors back (catalog_flush).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

int name_check(const char *name)
{
	size_t n;

	if (name == NULL)
		return kv_set_err(KV_EBADNAME, "name is missing");
	n = strlen(name);
	if (n == 0 || n > KV_MAX_NAME)
		return kv_set_err(KV_EBADNAME, "name must be 1 to %u bytes",
		                  KV_MAX_NAME);
	return 0;
}

static kv_val name_val(const char *name)
{
	kv_val k = { name, strlen(name) };
	return k;
}

static struct tblh *find_open(kv_txn *txn, const char *name)
{
	struct tblh *h;

	for (h = txn->tables; h; h = h->next)
		if (!h->dropped && strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

KV_API int kv_table_open(kv_txn *txn, const char *name, unsigned flags,
                         kv_table **out)
{
	struct tblh *h;
	struct tree t;
	kv_val v;
	int rc;

	*out = NULL;
	rc = name_check(name);
	if (rc != 0)
		return rc;
	h = find_open(txn, name);
	if (h) {
		*out = (kv_table *)h;
		return 0;
	}
	memset(&t, 0, sizeof(t));
	rc = bt_get(txn, &txn->st.catalog, name_val(name), &v);
	if (rc == 0) {
		if (v.len != TD_SIZE)
			return kv_set_err(KV_ECORRUPT,
			                  "catalog entry of table "
			                  "'%s' has the wrong size",
			                  name);
		tree_load(&t, v.data);
	} else if (rc == KV_ENOTFOUND) {
		if (!(flags & KV_TABLE_CREATE))
			return kv_set_err(rc, "no table '%s'", name);
		if (txn->rdonly || txn->sealed)
			return kv_set_err(KV_EREADONLY,
			                  "cannot create table "
			                  "'%s' in a read-only or sealed "
			                  "transaction",
			                  name);
	} else {
		return rc;
	}
	h = calloc(1, sizeof(kv_table));
	if (h == NULL)
		return -ENOMEM;
	h->name = strdup(name);
	if (h->name == NULL) {
		free(h);
		return -ENOMEM;
	}
	h->tree = t;
	h->dirty = rc == KV_ENOTFOUND;
	if (h->dirty)
		txlog_table(txn, LOP_CREATE, name);
	h->next = txn->tables;
	txn->tables = h;
	*out = (kv_table *)h;
	return 0;
}

KV_API uint64_t kv_table_count(const kv_table *t)
{
	return t->h.tree.count;
}

KV_API const char *kv_table_name(const kv_table *t)
{
	return t->h.name;
}

int catalog_flush(kv_txn *txn)
{
	struct tblh *h;
	uint8_t d[TD_SIZE];
	int rc;

	for (h = txn->tables; h; h = h->next) {
		if (!h->dirty || h->dropped)
			continue;
		tree_store(&h->tree, d);
		kv_val v = { d, TD_SIZE };
		rc = bt_put(txn, &txn->st.catalog, name_val(h->name), v, 0);
		if (rc != 0)
			return rc;
		h->dirty = false;
	}
	return 0;
}

void catalog_release(kv_txn *txn)
{
	struct tblh *h, *next;

	for (h = txn->tables; h; h = next) {
		next = h->next;
		free(h->name);
		free(h);
	}
	txn->tables = NULL;
}

/* Forget the descriptor of the open handle of table name, or of every
 * open handle when name is NULL (after a restore): mark them dropped. */
void catalog_invalidate(kv_txn *txn, const char *name)
{
	struct tblh *h;

	for (h = txn->tables; h; h = h->next)
		if (name == NULL || strcmp(h->name, name) == 0)
			h->dropped = true;
}

int catalog_tree(kv_txn *txn, const char *name, struct tree *out)
{
	struct tblh *h = find_open(txn, name);
	kv_val v;
	int rc;

	if (h) {
		/* an open handle holds the changes not yet in the catalog */
		*out = h->tree;
		return 0;
	}
	rc = bt_get(txn, &txn->st.catalog, name_val(name), &v);
	if (rc != 0)
		return rc;
	if (v.len != TD_SIZE)
		return kv_set_err(KV_ECORRUPT,
		                  "catalog entry of table '%s' has the wrong "
		                  "size",
		                  name);
	tree_load(out, v.data);
	return 0;
}

static int write_check(kv_txn *txn, kv_table *t)
{
	if (txn->rdonly)
		return kv_set_err(KV_EREADONLY, "write in a read-only "
		                                "transaction");
	if (txn->failed)
		return kv_set_err(txn->failed_rc, "the transaction failed "
		                                  "earlier; abort it");
	if (txn->sealed)
		return kv_set_err(KV_EREADONLY, "the transaction is sealed "
		                                "(kv_snapshot_seal)");
	if (t == NULL || t->h.dropped)
		return kv_set_err(-EINVAL, "table handle is not open");
	return 0;
}

static int fail_txn(kv_txn *txn, int rc)
{
	/* A change that stopped half-way leaves the txn's trees unknown. */
	if (rc && rc != KV_ENOTFOUND && rc != KV_EEXIST && rc != KV_EORDER) {
		txn->failed = true;
		txn->failed_rc = rc;
	}
	return rc;
}

KV_API int kv_table_drop(kv_txn *txn, const char *name)
{
	kv_table *t;
	int rc = kv_table_open(txn, name, 0, &t);

	if (rc != 0)
		return rc;
	rc = write_check(txn, t);
	if (rc != 0)
		return rc;
	txlog_table(txn, LOP_DROP, name);
	rc = bt_drop(txn, &t->h.tree);
	if (rc == 0)
		rc = bt_del(txn, &txn->st.catalog, name_val(name));
	if (rc == KV_ENOTFOUND)
		rc = 0; /* created in this txn, never flushed */
	t->h.dropped = true;
	return fail_txn(txn, rc);
}

KV_API int kv_table_list(kv_txn *txn,
                         int (*fn)(void *ctx, const char *name, uint64_t count),
                         void *ctx)
{
	struct cur c = { .txn = txn, .tree = &txn->st.catalog };
	char name[KV_MAX_NAME + 1];
	int rc;

	if (!txn->rdonly) {
		rc = catalog_flush(txn);
		if (rc != 0)
			return fail_txn(txn, rc);
	}
	for (rc = bt_first(&c); rc == 0; rc = bt_next(&c)) {
		kv_val k, v;
		struct tree t;
		rc = bt_cur_get(&c, &k, &v);
		if (rc != 0)
			return rc;
		if (k.len > KV_MAX_NAME || v.len != TD_SIZE)
			return KV_CORRUPT(c.pg[c.depth - 1], "catalog entry");
		memcpy(name, k.data, k.len);
		name[k.len] = 0;
		tree_load(&t, v.data);
		rc = fn(ctx, name, t.count);
		if (rc != 0)
			return rc;
	}
	return rc == KV_ENOTFOUND ? 0 : rc;
}

static int key_check(kv_val key)
{
	if (key.len == 0 || key.len > KV_MAX_KEY)
		return kv_set_err(KV_EKEYSIZE,
		                  "key length %zu is outside "
		                  "1..%u",
		                  key.len, KV_MAX_KEY);
	return 0;
}

KV_API int kv_get(kv_txn *txn, kv_table *t, kv_val key, kv_val *val)
{
	int rc = key_check(key);

	if (rc != 0)
		return rc;
	if (t == NULL || t->h.dropped)
		return kv_set_err(-EINVAL, "table handle is not open");
	return bt_get(txn, &t->h.tree, key, val);
}

KV_API int kv_put(kv_txn *txn, kv_table *t, kv_val key, kv_val val,
                  unsigned flags)
{
	int rc = write_check(txn, t);

	if (rc != 0)
		return rc;
	rc = key_check(key);
	if (rc != 0)
		return rc;
	if (val.len > KV_MAX_VALUE)
		return kv_set_err(KV_EVALSIZE,
		                  "value of %zu bytes is over "
		                  "the limit of %u",
		                  val.len, KV_MAX_VALUE);
	t->h.dirty = true;
	rc = bt_put(txn, &t->h.tree, key, val, flags);
	if (rc == 0)
		txlog_put(txn, t->h.name, key, val);
	return fail_txn(txn, rc);
}

KV_API int kv_del(kv_txn *txn, kv_table *t, kv_val key)
{
	int rc = write_check(txn, t);

	if (rc != 0)
		return rc;
	rc = key_check(key);
	if (rc != 0)
		return rc;
	t->h.dirty = true;
	rc = bt_del(txn, &t->h.tree, key);
	if (rc == 0)
		txlog_del(txn, t->h.name, key);
	return fail_txn(txn, rc);
}

/* Walk a catalog and every table in it, calling fn for each page. */
int catalog_walk(kv_txn *txn, const struct tree *catalog, bt_walk_fn fn,
                 void *ctx)
{
	struct tree t = *catalog;
	struct cur c = { .txn = txn, .tree = &t };
	int rc = bt_walk(txn, &t, fn, ctx);

	if (rc != 0)
		return rc;
	for (rc = bt_first(&c); rc == 0; rc = bt_next(&c)) {
		kv_val v;
		struct tree tt;
		rc = bt_cur_get(&c, NULL, &v);
		if (rc != 0)
			return rc;
		if (v.len != TD_SIZE)
			return KV_CORRUPT(c.pg[c.depth - 1], "catalog entry");
		tree_load(&tt, v.data);
		rc = bt_walk(txn, &tt, fn, ctx);
		if (rc != 0)
			return rc;
	}
	return rc == KV_ENOTFOUND ? 0 : rc;
}
