/*
 * send.c: sending a snapshot as a stream and receiving one (send.h).
 *
 * Send reads the target snapshot (and the base) in read transactions, so
 * it runs beside a mounted writer.  For each store table it writes a full
 * scan, or what kv_table_diff() finds between base and target.
 *
 * Receive checks the header, then decides in its write transaction,
 * before applying anything, whether the stream fits this store:
 *
 *   target id already here, same name   -> read on to check, change nothing
 *   target name taken by another id     -> refuse
 *   incremental, base id not here       -> refuse, naming the base
 *   incremental, live tree != base      -> refuse, or with force restore
 *                                          the base first
 *   full, live tree not empty           -> refuse, or with force drop it
 *
 * then applies each record as it arrives, and seals the target snapshot
 * once the trailer checks out.  Any failure aborts the transaction, so a
 * damaged stream, a crash or a power loss leaves the old state.
 */
#include "send.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pathmap.h"
#include "store.h"

/* Where the store's own id lives: not one of the tables a stream carries,
 * so a received store keeps an id of its own. */
#define META_TABLE "store_meta"
#define META_ID "id"

static int read_id(kv_env *env, uint8_t id[STREAM_ID_LEN])
{
	kv_txn *txn;
	kv_table *t;
	kv_val k = { META_ID, strlen(META_ID) }, v;
	int rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);

	if (rc != 0)
		return rc;
	rc = kv_table_open(txn, META_TABLE, 0, &t);
	if (rc == 0)
		rc = kv_get(txn, t, k, &v);
	if (rc == 0 && v.len != STREAM_ID_LEN)
		rc = KV_ECORRUPT;
	if (rc == 0)
		memcpy(id, v.data, STREAM_ID_LEN);
	kv_txn_abort(txn);
	return rc;
}

int store_id_get(kv_env *env, uint8_t id[STREAM_ID_LEN])
{
	kv_val k = { META_ID, strlen(META_ID) }, v = { id, STREAM_ID_LEN };
	kv_table *t;
	kv_txn *txn;
	int rc = read_id(env, id);

	if (rc != KV_ENOTFOUND)
		return kv_to_errno(rc);
	memset(id, 0, STREAM_ID_LEN);
	if (getrandom(id, STREAM_ID_LEN, 0) != STREAM_ID_LEN)
		return -errno;
	if (kv_txn_begin(env, 0, &txn) != 0)
		return 0; /* a read-only store: no id */
	rc = kv_table_open(txn, META_TABLE, KV_TABLE_CREATE, &t);
	if (rc == 0)
		rc = kv_put(txn, t, k, v, KV_NOOVERWRITE);
	if (rc == 0)
		return kv_to_errno(kv_txn_commit(txn));
	kv_txn_abort(txn);
	return rc == KV_EEXIST ? kv_to_errno(read_id(env, id))
	                       : kv_to_errno(rc);
}

/* ---- send ----------------------------------------------------------------- */

struct sender {
	struct stream_writer *w;
	unsigned table;
};

static int send_diff(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	struct sender *s = ctx;

	(void)va;
	return stream_write_record(s->w, vb.data ? STREAM_PUT : STREAM_DEL,
	                           s->table, key.data, key.len, vb.data,
	                           vb.len);
}

static int send_scan(kv_txn *txn, struct sender *s, const char *name)
{
	kv_table *t;
	kv_cursor *c;
	kv_val k, v;
	int rc = kv_table_open(txn, name, 0, &t);

	if (rc == KV_ENOTFOUND)
		return 0;
	if (rc == 0)
		rc = kv_cursor_open(txn, t, &c);
	if (rc != 0)
		return rc;
	rc = kv_cursor_first(c, &k, &v);
	while (rc == 0) {
		rc = send_diff(s, k, v, v);
		if (rc == 0)
			rc = kv_cursor_next(c, &k, &v);
	}
	kv_cursor_close(c);
	return rc == KV_ENOTFOUND ? 0 : rc;
}

static void header_fill(struct stream_header *h, const uint8_t *store_id,
                        const struct kv_snapshot_info *target,
                        const struct kv_snapshot_info *base)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->store_id, store_id, STREAM_ID_LEN);
	memcpy(h->target_id, target->id, STREAM_ID_LEN);
	h->created_ns = target->created_ns;
	snprintf(h->name, sizeof(h->name), "%s", target->name);
	if (base) {
		memcpy(h->base_id, base->id, STREAM_ID_LEN);
		snprintf(h->base_name, sizeof(h->base_name), "%s", base->name);
	}
	h->ntables = STORE_NTABLES;
	for (int i = 0; i < STORE_NTABLES; i++)
		snprintf(h->tables[i], sizeof(h->tables[i]), "%s",
		         store_table_name(i));
}

static int begin_snap(kv_env *env, const char *name, kv_txn **txn,
                      struct kv_snapshot_info *info, char *msg, size_t n)
{
	int rc = kv_txn_begin_snapshot(env, name, txn);

	if (rc == KV_ENOTFOUND) {
		snprintf(msg, n, "no snapshot named '%s'", name);
		return -ENOENT;
	}
	if (rc == 0)
		rc = kv_snapshot_get(*txn, name, info);
	return kv_to_errno(rc);
}

int store_send(kv_env *env, const char *snap, const char *base, int fd,
               struct send_stat *st, char *msg, size_t msglen)
{
	struct kv_snapshot_info ti, bi;
	struct stream_header h;
	struct stream_writer *w = malloc(sizeof(*w));
	struct sender s = { w, 0 };
	uint8_t store_id[STREAM_ID_LEN];
	kv_txn *tt = NULL, *bt = NULL;
	int rc;

	msg[0] = '\0';
	if (w == NULL)
		return -ENOMEM;
	rc = store_id_get(env, store_id);
	if (rc == 0)
		rc = begin_snap(env, snap, &tt, &ti, msg, msglen);
	if (rc == 0 && base)
		rc = begin_snap(env, base, &bt, &bi, msg, msglen);
	if (rc == 0) {
		header_fill(&h, store_id, &ti, base ? &bi : NULL);
		rc = stream_write_begin(w, fd, &h);
	}
	for (int i = 0; rc == 0 && i < STORE_NTABLES; i++) {
		s.table = (unsigned)i;
		if (bt)
			rc = kv_to_errno(kv_table_diff(bt, tt,
			                               store_table_name(i),
			                               send_diff, &s, NULL));
		else
			rc = kv_to_errno(
			        send_scan(tt, &s, store_table_name(i)));
	}
	if (rc == 0)
		rc = stream_write_end(w);
	if (rc == 0 && st) {
		st->records = w->records;
		st->bytes = w->bytes;
	}
	if (bt)
		kv_txn_abort(bt);
	if (tt)
		kv_txn_abort(tt);
	free(w);
	return rc;
}

/* ---- receive -------------------------------------------------------------- */

struct receiver {
	kv_txn *txn;
	struct recv_result *res;
	int map[STREAM_MAX_TABLES]; /* the stream's table -> the store's */
	kv_table *open[STORE_NTABLES];
	char base[KV_MAX_NAME + 1]; /* the base's name here */
	bool have_target, have_base;
};

static int refuse(struct recv_result *res, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int refuse(struct recv_result *res, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	return rc;
}

/* Each table the stream names must be one of the store's. */
static int map_tables(struct receiver *rv)
{
	const struct stream_header *h = &rv->res->h;

	for (unsigned i = 0; i < h->ntables; i++) {
		int k = 0;

		while (k < STORE_NTABLES &&
		       strcmp(h->tables[i], store_table_name(k)) != 0)
			k++;
		if (k == STORE_NTABLES)
			return refuse(rv->res, -EPROTONOSUPPORT,
			              "the stream carries a table this cccfs "
			              "does not know ('%s')",
			              h->tables[i]);
		rv->map[i] = k;
	}
	return 0;
}

/* Find the target and the base among this store's snapshots, by id. */
static int find_snap(void *ctx, const struct kv_snapshot_info *si)
{
	struct receiver *rv = ctx;
	const struct stream_header *h = &rv->res->h;

	if (memcmp(si->id, h->target_id, STREAM_ID_LEN) == 0) {
		if (strcmp(si->name, h->name) != 0)
			return refuse(rv->res, -EEXIST,
			              "snapshot '%s' was received here before, "
			              "as '%s'",
			              h->name, si->name);
		rv->have_target = true;
	} else if (strcmp(si->name, h->name) == 0) {
		return refuse(rv->res, -EEXIST,
		              "a different snapshot named '%s' is here "
		              "already (delete or rename it first)",
		              h->name);
	}
	if (!stream_id_zero(h->base_id) &&
	    memcmp(si->id, h->base_id, STREAM_ID_LEN) == 0) {
		snprintf(rv->base, sizeof(rv->base), "%s", si->name);
		rv->have_base = true;
	}
	return 0;
}

/* Whether the live tree holds nothing but what store_init() makes: no
 * entry in any table but the top folders' nodes (and the root's). */
static int live_empty(kv_txn *txn, bool *empty)
{
	*empty = true;
	for (int i = 0; i < STORE_NTABLES && *empty; i++) {
		kv_table *t;
		int rc = kv_table_open(txn, store_table_name(i), 0, &t);

		if (rc == KV_ENOTFOUND)
			continue;
		if (rc != 0)
			return rc;
		*empty = kv_table_count(t) <=
		         (strcmp(store_table_name(i), PM_TABLE_NODES) == 0
		                  ? PM_NKINDS + 1
		                  : 0);
	}
	return 0;
}

/* Make the live tree the one the stream's changes apply to. */
static int prepare_live(struct receiver *rv, bool force)
{
	const struct stream_header *h = &rv->res->h;
	char hex[33];
	bool empty;
	int rc;

	if (!stream_id_zero(h->base_id)) {
		stream_id_hex(h->base_id, hex);
		if (!rv->have_base)
			return refuse(rv->res, -ENOENT,
			              "the stream is incremental from snapshot "
			              "'%s' (id %s), which this store does not "
			              "have; send a full stream or one from a "
			              "snapshot both have",
			              h->base_name, hex);
		rc = kv_snapshot_same(rv->txn, rv->base);
		if (rc < 0)
			return kv_to_errno(rc);
		if (rc == 1)
			return 0;
		if (!force)
			return refuse(rv->res, -ESTALE,
			              "the live tree changed since snapshot "
			              "'%s'; receive with --force to replace "
			              "those changes with '%s'",
			              rv->base, h->name);
		return kv_to_errno(kv_snapshot_restore(rv->txn, rv->base));
	}
	rc = live_empty(rv->txn, &empty);
	if (rc != 0)
		return kv_to_errno(rc);
	if (!empty && !force)
		return refuse(rv->res, -ESTALE,
		              "a full stream goes into an empty store, and "
		              "this one holds records; receive with --force "
		              "to replace its live tree with '%s'",
		              h->name);
	for (int i = 0; i < STORE_NTABLES; i++) {
		rc = kv_table_drop(rv->txn, store_table_name(i));
		if (rc != 0 && rc != KV_ENOTFOUND)
			return kv_to_errno(rc);
	}
	return 0;
}

static int apply(struct receiver *rv, const struct stream_record *rec)
{
	int k = rv->map[rec->table];
	kv_val key = { rec->key, rec->klen }, val = { rec->val, rec->vlen };
	int rc = 0;

	if (rv->open[k] == NULL)
		rc = kv_table_open(rv->txn, store_table_name(k),
		                   KV_TABLE_CREATE, &rv->open[k]);
	if (rc == 0 && rec->type == STREAM_PUT)
		rc = kv_put(rv->txn, rv->open[k], key, val, 0);
	else if (rc == 0)
		rc = kv_del(rv->txn, rv->open[k], key);
	return rc == KV_ENOTFOUND ? 0 : kv_to_errno(rc);
}

/* Every record, applied (apply) or only checked; then the trailer. */
static int read_records(struct receiver *rv, struct stream_reader *r,
                        bool apply_them)
{
	struct stream_record rec;
	int rc;

	while ((rc = stream_read_record(r, &rec)) == 1) {
		if (!apply_them)
			continue;
		rc = apply(rv, &rec);
		if (rc != 0)
			return refuse(rv->res, rc, "cannot apply record %llu",
			              (unsigned long long)r->records);
	}
	if (rc != 0)
		return refuse(rv->res, rc, "%s", r->msg);
	rv->res->records = r->records;
	return 0;
}

/* The store's tables all exist, as a store's do (store_init()). */
static int tables_all(struct receiver *rv)
{
	for (int i = 0; i < STORE_NTABLES; i++) {
		kv_table *t;
		int rc = kv_table_open(rv->txn, store_table_name(i),
		                       KV_TABLE_CREATE, &t);
		if (rc != 0)
			return kv_to_errno(rc);
	}
	return 0;
}

int store_receive(kv_env *env, struct stream_reader *r, bool force,
                  struct recv_result *res)
{
	struct receiver rv = { .res = res };
	int rc;

	memset(res, 0, sizeof(*res));
	rc = stream_read_header(r, &res->h);
	if (rc != 0)
		return refuse(res, rc, "%s", r->msg);
	rc = map_tables(&rv);
	if (rc != 0)
		return rc;
	rc = kv_to_errno(kv_txn_begin(env, 0, &rv.txn));
	if (rc != 0)
		return rc;
	rc = kv_snapshot_list(rv.txn, find_snap, &rv);
	if (rc == 0 && rv.have_target) {
		res->already = true;
		rc = read_records(&rv, r, false);
		kv_txn_abort(rv.txn);
		return rc;
	}
	if (rc == 0)
		rc = prepare_live(&rv, force);
	if (rc == 0)
		rc = read_records(&rv, r, true);
	if (rc == 0)
		rc = tables_all(&rv);
	if (rc == 0)
		rc = kv_to_errno(kv_snapshot_seal(rv.txn, res->h.name,
		                                  res->h.target_id,
		                                  res->h.created_ns));
	if (rc != 0) {
		kv_txn_abort(rv.txn);
		return kv_to_errno(rc);
	}
	kv_txn_set_durability(rv.txn, KV_DURABLE_IMMEDIATE);
	return kv_to_errno(kv_txn_commit(rv.txn));
}
