/*
 * cursor.c: the public cursor.  It wraps a tree cursor (btree.c) and, in
 * write transactions, keeps a copy of its current key: when the tree has
 * changed since the cursor last moved, it finds its place again by key
 * before moving on.  Read transactions never change, so they skip the copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

struct kv_cursor {
	kv_txn *txn;
	kv_table *t;
	struct cur c;
	uint64_t changes;
	uint8_t *key;
	size_t klen, kcap;
	bool valid; /* positioned on a key */
};

KV_API int kv_cursor_open(kv_txn *txn, kv_table *t, kv_cursor **out)
{
	kv_cursor *cu;

	*out = NULL;
	if (t == NULL || t->h.dropped)
		return kv_set_err(-EINVAL, "table handle is not open");
	cu = calloc(1, sizeof(*cu));
	if (cu == NULL)
		return -ENOMEM;
	cu->txn = txn;
	cu->t = t;
	cu->c.txn = txn;
	cu->c.tree = &t->h.tree;
	*out = cu;
	return 0;
}

KV_API void kv_cursor_close(kv_cursor *c)
{
	if (c == NULL)
		return;
	free(c->key);
	free(c);
}

/* Report the current entry, remembering its key in write txns. */
static int emit(kv_cursor *cu, int rc, kv_val *key, kv_val *val)
{
	kv_val k;

	cu->valid = false;
	if (rc != 0)
		return rc;
	rc = bt_cur_get(&cu->c, &k, val);
	if (rc != 0)
		return rc;
	if (key)
		*key = k;
	if (!cu->txn->rdonly) {
		if (k.len > cu->kcap) {
			uint8_t *nk = realloc(cu->key, KV_MAX_KEY);
			if (nk == NULL)
				return -ENOMEM;
			cu->key = nk;
			cu->kcap = KV_MAX_KEY;
		}
		memcpy(cu->key, k.data, k.len);
		cu->klen = k.len;
		cu->changes = cu->txn->changes;
	}
	cu->valid = true;
	return 0;
}

KV_API int kv_cursor_first(kv_cursor *c, kv_val *key, kv_val *val)
{
	return emit(c, bt_first(&c->c), key, val);
}

KV_API int kv_cursor_last(kv_cursor *c, kv_val *key, kv_val *val)
{
	return emit(c, bt_last(&c->c), key, val);
}

KV_API int kv_cursor_seek(kv_cursor *c, kv_val key, kv_val *okey, kv_val *oval)
{
	bool exact;

	if (key.len > KV_MAX_KEY)
		return kv_set_err(KV_EKEYSIZE, "key too long");
	return emit(c, bt_seek(&c->c, key, &exact), okey, oval);
}

/*
 * In a changed write txn, re-find the remembered key.  *at is set when the
 * cursor now sits on exactly that key; otherwise on the next greater one
 * (or nowhere, KV_ENOTFOUND, when none is greater).
 */
static int refind(kv_cursor *cu, bool *at)
{
	kv_val k = { cu->key, cu->klen };

	*at = false;
	if (cu->txn->rdonly || cu->changes == cu->txn->changes)
		return 0;
	*at = false;
	return bt_seek(&cu->c, k, at) == 0 ? (*at ? 0 : 1) : KV_ENOTFOUND;
}

KV_API int kv_cursor_next(kv_cursor *c, kv_val *key, kv_val *val)
{
	bool at;
	int rc;

	if (!c->valid)
		return KV_ENOTFOUND;
	rc = refind(c, &at);
	if (rc == 1)
		return emit(c, 0, key, val); /* already on the next key */
	if (rc != 0)
		return emit(c, rc, key, val);
	return emit(c, bt_next(&c->c), key, val);
}

KV_API int kv_cursor_prev(kv_cursor *c, kv_val *key, kv_val *val)
{
	bool at;
	int rc;

	if (!c->valid)
		return KV_ENOTFOUND;
	rc = refind(c, &at);
	if (rc == KV_ENOTFOUND)
		return emit(c, bt_last(&c->c), key, val);
	if (rc < 0)
		return emit(c, rc, key, val);
	return emit(c, bt_prev(&c->c), key, val);
}
