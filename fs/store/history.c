/*
 * history: versions of records, kept by the commit that replaces them.
 * The tables and the rules are in history.h.
 *
 * Value layouts, little-endian:
 *
 *   slot (history_index, key path)      version (history, key rid+v)
 *   off size field                      off size field
 *   0   4    magic "CHS1"               0   4    magic "CHV1"
 *   4   4    flags (SLOT_DELETED)       4   4    0
 *   8   8    rid                        8   8    time (ns)
 *   16  8    live version (or the       16  8    txnid
 *            deletion's number)         24  8    content bytes
 *   24  8    its time (ns)              32  4    mode
 *   32  8    its txnid                  36  4    uid
 *   40  2    note length                40  4    gid
 *   42  ...  note: renamed from (live)  44  2    note length
 *            or to (deleted)            46  ...  note (renamed from), then
 *                                                the content
 *
 *   rename (history, key rid+v+time)
 *   0   4    magic "CHR1"
 *   4   4    0
 *   8   8    time (ns)
 *   16  8    txnid
 *   24  2    from length
 *   26  2    to length
 *   28  ...  from, then to
 */
#include "history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bytes.h"
#include "clock.h"
#include "labels.h"
#include "pathmap.h"
#include "retain.h"

#define SLOT_MAGIC 0x31534843u /* "CHS1" */
#define VER_MAGIC 0x31564843u  /* "CHV1" */
#define REN_MAGIC 0x31524843u  /* "CHR1" */
#define SLOT_HDR 42u
#define VER_HDR 46u
#define REN_HDR 28u
#define SLOT_DELETED 1u

/* The key under which history_index keeps the next rid: no path is
 * empty, and none starts with a NUL. */
static const kv_val next_rid_key = { "\0", 1 };

struct hist_slot {
	uint32_t flags;
	uint64_t rid;
	uint64_t version;
	int64_t time;
	uint64_t txnid;
	size_t note_len;
	char note[PM_PATH_MAX + 1];
};

static _Atomic bool recording = true;

void hist_set_recording(bool on)
{
	recording = on;
}

void hist_slot_free(struct hist_slot *slot)
{
	free(slot);
}

static int tables(struct stx *s, kv_table **hist, kv_table **index)
{
	int rc = 0;

	if (hist)
		rc = stx_table(s, HIST_TABLE, hist);
	if (rc == 0 && index)
		rc = stx_table(s, HIST_INDEX, index);
	return rc;
}

static kv_val path_key(const char *path)
{
	kv_val k = { path, strlen(path) };

	return k;
}

static size_t note_copy(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n > PM_PATH_MAX)
		n = PM_PATH_MAX;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return n;
}

/* ---- slots ------------------------------------------------------------- */

static int slot_decode(kv_val v, struct hist_slot *sl)
{
	const unsigned char *p = v.data;

	if (v.len < SLOT_HDR || get32(p) != SLOT_MAGIC)
		return -EIO;
	sl->flags = get32(p + 4);
	sl->rid = get64(p + 8);
	sl->version = get64(p + 16);
	sl->time = (int64_t)get64(p + 24);
	sl->txnid = get64(p + 32);
	sl->note_len = get16(p + 40);
	if (sl->note_len > PM_PATH_MAX || v.len != SLOT_HDR + sl->note_len)
		return -EIO;
	memcpy(sl->note, p + SLOT_HDR, sl->note_len);
	sl->note[sl->note_len] = '\0';
	return 0;
}

/* The slot of path: 0, -ENOENT, or an error. */
static int slot_get(struct stx *s, const char *path, struct hist_slot *sl)
{
	kv_table *t;
	kv_val v;
	int rc = tables(s, NULL, &t);

	if (rc == 0)
		rc = kv_to_errno(kv_get(s->txn, t, path_key(path), &v));
	if (rc == 0)
		rc = slot_decode(v, sl);
	return rc;
}

static int slot_put(struct stx *s, const char *path, const struct hist_slot *sl)
{
	unsigned char buf[SLOT_HDR + PM_PATH_MAX];
	kv_table *t;
	kv_val v = { buf, SLOT_HDR + sl->note_len };
	int rc = tables(s, NULL, &t);

	if (rc != 0)
		return rc;
	put32(buf, SLOT_MAGIC);
	put32(buf + 4, sl->flags);
	put64(buf + 8, sl->rid);
	put64(buf + 16, sl->version);
	put64(buf + 24, (uint64_t)sl->time);
	put64(buf + 32, sl->txnid);
	put16(buf + 40, (uint16_t)sl->note_len);
	memcpy(buf + SLOT_HDR, sl->note, sl->note_len);
	return kv_to_errno(kv_put(s->txn, t, path_key(path), v, 0));
}

static int new_rid(struct stx *s, uint64_t *rid)
{
	unsigned char buf[8];
	kv_table *t;
	kv_val v;
	int rc = tables(s, NULL, &t);

	if (rc != 0)
		return rc;
	rc = kv_to_errno(kv_get(s->txn, t, next_rid_key, &v));
	if (rc == -ENOENT) {
		*rid = 1;
	} else if (rc != 0) {
		return rc;
	} else if (v.len != 8) {
		return -EIO;
	} else {
		*rid = get64(v.data);
	}
	put64(buf, *rid + 1);
	v.data = buf;
	v.len = sizeof(buf);
	return kv_to_errno(kv_put(s->txn, t, next_rid_key, v, 0));
}

/* ---- versions ----------------------------------------------------------- */

static void ver_key(unsigned char *k, uint64_t rid, uint64_t v)
{
	put64be(k, rid);
	put64be(k + 8, v);
}

/* Keep the content old as version sl->version of sl's record, with the
 * slot's time and note and the mode and owner of the node at path. */
static int ver_put(struct stx *s, const char *path, const struct hist_slot *sl,
                   kv_val old)
{
	unsigned char key[16], *buf;
	size_t len = VER_HDR + sl->note_len + old.len;
	struct node n;
	kv_table *t;
	kv_val k = { key, sizeof(key) }, v;
	int rc = tables(s, &t, NULL);

	if (rc != 0)
		return rc;
	rc = store_node_get(s, path, &n);
	if (rc == -ENOENT) {
		node_fresh(&n, S_IFREG | 0644, 0, 0);
		rc = 0;
	}
	if (rc != 0)
		return rc;
	buf = malloc(len);
	if (buf == NULL) {
		node_release(&n);
		return -ENOMEM;
	}
	put32(buf, VER_MAGIC);
	put32(buf + 4, 0);
	put64(buf + 8, (uint64_t)sl->time);
	put64(buf + 16, sl->txnid);
	put64(buf + 24, old.len);
	put32(buf + 32, n.mode);
	put32(buf + 36, n.uid);
	put32(buf + 40, n.gid);
	put16(buf + 44, (uint16_t)sl->note_len);
	memcpy(buf + VER_HDR, sl->note, sl->note_len);
	if (old.len)
		memcpy(buf + VER_HDR + sl->note_len, old.data, old.len);
	node_release(&n);
	ver_key(key, sl->rid, sl->version);
	v.data = buf;
	v.len = len;
	rc = kv_to_errno(kv_put(s->txn, t, k, v, 0));
	free(buf);
	return rc;
}

static int ver_decode(kv_val v, struct hist_item *it, const void **data)
{
	const unsigned char *p = v.data;
	size_t note;

	if (v.len < VER_HDR || get32(p) != VER_MAGIC)
		return -EIO;
	it->kind = HI_VERSION;
	it->time = (int64_t)get64(p + 8);
	it->txnid = get64(p + 16);
	it->size = get64(p + 24);
	it->mode = get32(p + 32);
	it->uid = get32(p + 36);
	it->gid = get32(p + 40);
	note = get16(p + 44);
	if (v.len != VER_HDR + note + it->size)
		return -EIO;
	it->from = (const char *)p + VER_HDR;
	it->from_len = note;
	it->to = NULL;
	it->to_len = 0;
	if (data)
		*data = p + VER_HDR + note;
	return 0;
}

static int ren_put(struct stx *s, uint64_t rid, uint64_t v, const char *from,
                   const char *to, int64_t now)
{
	unsigned char key[24], buf[REN_HDR + 2 * PM_PATH_MAX];
	size_t fl = strlen(from), tl = strlen(to);
	kv_val k = { key, sizeof(key) }, val = { buf, REN_HDR + fl + tl };
	kv_table *t;
	int rc = tables(s, &t, NULL);

	if (rc != 0)
		return rc;
	if (fl > PM_PATH_MAX || tl > PM_PATH_MAX)
		return -ENAMETOOLONG;
	ver_key(key, rid, v);
	put64be(key + 16, (uint64_t)now);
	put32(buf, REN_MAGIC);
	put32(buf + 4, 0);
	put64(buf + 8, (uint64_t)now);
	put64(buf + 16, kv_txn_id(s->txn));
	put16(buf + 24, (uint16_t)fl);
	put16(buf + 26, (uint16_t)tl);
	memcpy(buf + REN_HDR, from, fl);
	memcpy(buf + REN_HDR + fl, to, tl);
	return kv_to_errno(kv_put(s->txn, t, k, val, 0));
}

static int ren_decode(kv_val v, struct hist_item *it)
{
	const unsigned char *p = v.data;

	if (v.len < REN_HDR || get32(p) != REN_MAGIC)
		return -EIO;
	memset(it, 0, sizeof(*it));
	it->kind = HI_RENAME;
	it->time = (int64_t)get64(p + 8);
	it->txnid = get64(p + 16);
	it->from_len = get16(p + 24);
	it->to_len = get16(p + 26);
	if (v.len != REN_HDR + it->from_len + it->to_len)
		return -EIO;
	it->from = (const char *)p + REN_HDR;
	it->to = it->from + it->from_len;
	return 0;
}

/* ---- hooks ---------------------------------------------------------------- */

static void slot_now(struct stx *s, struct hist_slot *sl, const char *note)
{
	sl->time = clock_real_ns();
	sl->txnid = kv_txn_id(s->txn);
	sl->note_len = note_copy(sl->note, note);
}

/* A record from before history: a slot whose live version 1 is what it
 * holds, dated by its node (its last change). */
static int adopt(struct stx *s, const char *path, struct hist_slot *sl)
{
	struct node n;
	int rc = store_node_get(s, path, &n);

	if (rc != 0)
		return rc;
	memset(sl, 0, sizeof(*sl));
	sl->time = n.mtime;
	sl->txnid = n.txnid;
	sl->version = 1;
	node_release(&n);
	return new_rid(s, &sl->rid);
}

int hist_put(struct stx *s, const char *path, const kv_val *old, kv_val new,
             const char *from)
{
	struct hist_slot sl;
	int rc;

	if (!recording || s->no_versions)
		return 0;
	if (old && old->len == new.len &&
	    (new.len == 0 || memcmp(old->data, new.data, new.len) == 0))
		return 0;
	rc = slot_get(s, path, &sl);
	if (rc == -ENOENT) {
		memset(&sl, 0, sizeof(sl));
		if (old == NULL || old->len == 0) {
			/* a new record: its first content is version 1 */
			if (new.len == 0)
				return 0;
			sl.version = 1;
			rc = new_rid(s, &sl.rid);
		} else {
			rc = adopt(s, path, &sl);
			if (rc == 0)
				rc = ver_put(s, path, &sl, *old);
			sl.version = 2;
		}
	} else if (rc == 0 && (sl.flags & SLOT_DELETED)) {
		/* created again: the deletion gives way to the content */
		if (new.len == 0)
			return 0;
		sl.flags &= ~SLOT_DELETED;
	} else if (rc == 0) {
		kv_val none = { "", 0 };

		rc = ver_put(s, path, &sl, old ? *old : none);
		sl.version++;
	}
	if (rc != 0)
		return rc;
	slot_now(s, &sl, from);
	return slot_put(s, path, &sl);
}

int hist_remove(struct stx *s, const char *path, kv_val old, const char *to)
{
	struct hist_slot sl;
	int rc;

	if (!recording || s->no_versions)
		return 0;
	rc = slot_get(s, path, &sl);
	if (rc == -ENOENT) {
		if (old.len == 0)
			return 0; /* an empty record that never had content */
		/* a record from before history: what it held is kept as
		 * version 1, below */
		rc = adopt(s, path, &sl);
	}
	if (rc != 0)
		return rc;
	if (sl.flags & SLOT_DELETED)
		return 0;
	rc = ver_put(s, path, &sl, old);
	if (rc != 0)
		return rc;
	sl.version++;
	sl.flags |= SLOT_DELETED;
	slot_now(s, &sl, to);
	return slot_put(s, path, &sl);
}

int hist_detach(struct stx *s, const char *path, struct hist_slot **out)
{
	struct hist_slot *sl = malloc(sizeof(*sl));
	kv_table *t;
	int rc;

	*out = NULL;
	if (!recording) {
		free(sl);
		return 0;
	}
	if (sl == NULL)
		return -ENOMEM;
	rc = slot_get(s, path, sl);
	if (rc == 0 && (sl->flags & SLOT_DELETED))
		rc = -ENOENT; /* a deleted record stays where it was */
	if (rc == 0)
		rc = tables(s, NULL, &t);
	if (rc == 0)
		rc = kv_to_errno(kv_del(s->txn, t, path_key(path)));
	if (rc != 0) {
		free(sl);
		return rc == -ENOENT ? 0 : rc;
	}
	*out = sl;
	return 0;
}

/*
 * A deleted record's history at path, which a record moving there
 * displaces, moves aside to "NAME.deleted-RID.yaml" in the same folder
 * (".yml" for a .yml record; "-2", "-3" ... after RID if that is taken),
 * where .history and log still show it and restore can bring it back.
 * Nothing when path has no deleted history, or no such name fits.
 */
static int set_aside(struct stx *s, const char *path)
{
	char aside[PM_PATH_MAX + 1];
	struct hist_slot old, other;
	const char *dot = strrchr(path, '.');
	size_t base = dot ? (size_t)(dot - path) : strlen(path);
	kv_table *t;
	int rc = slot_get(s, path, &old);

	if (rc == -ENOENT || (rc == 0 && !(old.flags & SLOT_DELETED)))
		return 0;
	for (int i = 1; rc == 0; i++) {
		int n = i == 1 ? snprintf(aside, sizeof(aside),
		                          "%.*s.deleted-%" PRIu64 "%s",
		                          (int)base, path, old.rid,
		                          dot ? dot : "")
		               : snprintf(aside, sizeof(aside),
		                          "%.*s.deleted-%" PRIu64 "-%d%s",
		                          (int)base, path, old.rid, i,
		                          dot ? dot : "");

		if (n < 0 || (size_t)n >= sizeof(aside) ||
		    pm_check_name(pm_basename(aside)) != 0)
			return 0; /* no room: it stays where it was, unnamed */
		rc = slot_get(s, aside, &other);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
	}
	if (rc == 0)
		rc = ren_put(s, old.rid, old.version, path, aside,
		             clock_real_ns());
	if (rc == 0)
		rc = slot_put(s, aside, &old);
	if (rc == 0)
		rc = label_moved(s, path, aside);
	if (rc == 0)
		rc = tables(s, NULL, &t);
	if (rc == 0)
		rc = kv_to_errno(kv_del(s->txn, t, path_key(path)));
	return rc;
}

int hist_attach(struct stx *s, const char *path, struct hist_slot *sl,
                const char *from)
{
	int rc;

	if (sl == NULL)
		return 0;
	rc = set_aside(s, path);
	if (rc == 0)
		rc = label_moved(s, from, path);
	if (rc == 0)
		rc = ren_put(s, sl->rid, sl->version, from, path,
		             clock_real_ns());
	if (rc == 0)
		rc = slot_put(s, path, sl);
	return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* The live record at path, shown as version 1 when it has no history yet
 * (a record from before history).  -ENOENT if there is none or it is
 * empty. */
static int live_item(struct stx *s, const char *path, struct hist_item *it)
{
	struct node n;
	int rc = store_node_get(s, path, &n);

	if (rc != 0)
		return rc;
	memset(it, 0, sizeof(*it));
	it->kind = HI_LIVE;
	it->time = n.mtime;
	it->txnid = n.txnid;
	it->size = n.size;
	it->mode = n.mode;
	it->uid = n.uid;
	it->gid = n.gid;
	node_release(&n);
	if (!S_ISREG(it->mode) || pm_depth(path) < 2 ||
	    !pm_is_record_name(pm_basename(path)))
		return -ENOENT;
	return 0;
}

/* The item of a slot: the live version (mode, owner and size from the
 * node) or the deletion.  -ENOENT for a live slot whose record is gone:
 * one removed while this process did not record (hist_set_recording),
 * whose older versions stay readable. */
static int slot_item(struct stx *s, const char *path,
                     const struct hist_slot *sl, struct hist_item *it)
{
	int rc = 0;

	memset(it, 0, sizeof(*it));
	if (sl->flags & SLOT_DELETED) {
		it->kind = HI_DELETED;
		it->to = sl->note;
		it->to_len = sl->note_len;
	} else {
		rc = live_item(s, path, it);
		it->from = sl->note;
		it->from_len = sl->note_len;
	}
	it->version = sl->version;
	it->time = sl->time;
	it->txnid = sl->txnid;
	return rc;
}

/* The versions and renames of record rid, in key order. */
static int scan_rid(struct stx *s, uint64_t rid,
                    int (*fn)(void *ctx, kv_val key, kv_val val), void *ctx)
{
	unsigned char start[8];

	put64be(start, rid);
	return store_scan(s, HIST_TABLE, start, sizeof(start), fn, ctx);
}

/* A rename keyed (rid, v, time) happened after version v was made: the
 * renames of the live version v come after the slot's item, the others
 * in key order.  late: which renames this pass gives. */
struct each_ctx {
	int (*fn)(void *ctx, const struct hist_item *it);
	void *ctx;
	uint64_t live;
	bool late;
};

static int each_one(void *ctx, kv_val key, kv_val val)
{
	struct each_ctx *ec = ctx;
	struct hist_item it;
	int rc;

	uint64_t v;

	if (key.len != 16 && key.len != 24)
		return -EIO;
	v = get64be((const unsigned char *)key.data + 8);
	if ((key.len == 24 && v >= ec->live) != ec->late)
		return 0;
	rc = key.len == 16 ? ver_decode(val, &it, NULL) : ren_decode(val, &it);
	if (rc != 0)
		return rc;
	it.version = v;
	return ec->fn(ec->ctx, &it);
}

int hist_each(struct stx *s, const char *path,
              int (*fn)(void *ctx, const struct hist_item *it), void *ctx)
{
	struct each_ctx ec = { fn, ctx, 0, false };
	struct hist_slot sl;
	struct hist_item it;
	int rc = slot_get(s, path, &sl);

	if (rc == -ENOENT) {
		rc = live_item(s, path, &it);
		if (rc == 0 && it.size == 0)
			rc = -ENOENT;
		if (rc != 0)
			return rc;
		it.version = 1;
		return fn(ctx, &it);
	}
	ec.live = sl.version;
	if (rc == 0)
		rc = scan_rid(s, sl.rid, each_one, &ec);
	if (rc == 0) {
		rc = slot_item(s, path, &sl, &it);
		if (rc == 0)
			rc = fn(ctx, &it);
		else if (rc == -ENOENT)
			rc = 0;
	}
	ec.late = true;
	if (rc == 0)
		rc = scan_rid(s, sl.rid, each_one, &ec);
	return rc;
}

int hist_get(struct stx *s, const char *path, uint64_t v, struct hist_item *it,
             void **data, size_t *len)
{
	unsigned char key[16];
	struct hist_slot sl;
	kv_table *t;
	kv_val k = { key, sizeof(key) }, val;
	const void *src;
	int rc = slot_get(s, path, &sl);
	bool live;

	*data = NULL;
	*len = 0;
	if (rc == -ENOENT) {
		/* no history yet: version 1 is the live content */
		if (v != 1)
			return -ENOENT;
		sl.flags = 0;
		sl.version = 1;
		rc = live_item(s, path, it);
		if (rc == 0 && it->size == 0)
			return -ENOENT;
		live = true;
	} else if (rc != 0) {
		return rc;
	} else {
		live = v == sl.version && !(sl.flags & SLOT_DELETED);
		if (live)
			rc = slot_item(s, path, &sl, it);
	}
	if (rc != 0)
		return rc;
	if (live) {
		rc = store_content_get(s, path, it->mode, &val);
		src = val.data;
		it->size = val.len;
	} else {
		rc = tables(s, &t, NULL);
		ver_key(key, sl.rid, v);
		if (rc == 0)
			rc = kv_to_errno(kv_get(s->txn, t, k, &val));
		if (rc == 0)
			rc = ver_decode(val, it, &src);
	}
	if (rc != 0)
		return rc;
	it->version = v;
	*data = malloc(it->size ? it->size : 1);
	if (*data == NULL)
		return -ENOMEM;
	memcpy(*data, src, it->size);
	*len = it->size;
	return 0;
}

/*
 * The names below dir that have history: the slots are keyed by path, so
 * they are the keys starting with "dir/", and each name is the part up to
 * the next '/'.  At a key below a name's folder ("dir/name/..."), the scan
 * seeks to "dir/name0" ('/' + 1): every key between is below that folder,
 * so a folder of many records costs one seek, not one step per record.
 * The keys of one name are not contiguous ("dir/a", "dir/a-b", "dir/a/x"
 * sort in that order), so the names are gathered, sorted and made unique.
 */
struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *nm, const char *name, size_t len)
{
	char *copy;

	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? 2 * nm->cap : 32;
		char **v = realloc(nm->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		nm->v = v;
		nm->cap = cap;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = '\0';
	nm->v[nm->n++] = copy;
	return 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_gather(struct stx *s, const char *dir, struct names *nm)
{
	char seek[PM_PATH_MAX + 2];
	size_t dl = strlen(dir), plen = dl ? dl + 1 : 0;
	kv_table *t;
	kv_cursor *c;
	kv_val k, v, sk = { seek, 0 };
	int rc = tables(s, NULL, &t);

	if (rc != 0)
		return rc == -ENOENT ? 0 : rc;
	if (plen + 1 > PM_PATH_MAX)
		return 0;
	memcpy(seek, dir, dl);
	if (dl) {
		seek[dl] = '/';
		sk.len = plen;
	} else {
		seek[0] = '\x01'; /* past the next-rid key */
		sk.len = 1;
	}
	rc = kv_to_errno(kv_cursor_open(s->txn, t, &c));
	if (rc != 0)
		return rc;
	rc = kv_cursor_seek(c, sk, &k, &v);
	while (rc == 0) {
		const char *key = k.data, *name, *end;
		size_t nl;

		if (k.len <= plen || memcmp(key, seek, plen) != 0)
			break;
		name = key + plen;
		end = memchr(name, '/', k.len - plen);
		nl = end ? (size_t)(end - name) : k.len - plen;
		if (nl == 0 || nl > PM_NAME_MAX) {
			rc = -EIO;
			break;
		}
		rc = names_add(nm, name, nl);
		if (rc != 0)
			break;
		if (end == NULL) {
			rc = kv_cursor_next(c, &k, &v);
			continue;
		}
		memcpy(seek + plen, name, nl);
		seek[plen + nl] = '/' + 1;
		sk.len = plen + nl + 1;
		rc = kv_cursor_seek(c, sk, &k, &v);
	}
	kv_cursor_close(c);
	if (rc == KV_ENOTFOUND)
		rc = 0;
	return kv_to_errno(rc);
}

int hist_children(struct stx *s, const char *dir,
                  int (*fn)(void *ctx, const char *name, size_t len), void *ctx)
{
	struct names nm = { 0 };
	int rc = names_gather(s, dir, &nm);

	if (rc == 0 && nm.n > 1)
		qsort(nm.v, nm.n, sizeof(*nm.v), names_cmp);
	for (size_t i = 0; i < nm.n && rc == 0; i++) {
		if (i > 0 && strcmp(nm.v[i], nm.v[i - 1]) == 0)
			continue;
		rc = fn(ctx, nm.v[i], strlen(nm.v[i]));
	}
	for (size_t i = 0; i < nm.n; i++)
		free(nm.v[i]);
	free(nm.v);
	return rc;
}

int hist_ensure(struct stx *s, const char *path, uint64_t *rid, uint64_t *live)
{
	struct hist_item it;
	struct hist_slot sl;
	int rc = slot_get(s, path, &sl);

	if (rc == -ENOENT) {
		/* a record from before history, if it has content */
		rc = live_item(s, path, &it);
		if (rc == 0 && it.size == 0)
			rc = -ENOENT;
		if (rc == 0)
			rc = adopt(s, path, &sl);
		if (rc == 0)
			rc = slot_put(s, path, &sl);
	}
	if (rc != 0)
		return rc;
	*rid = sl.rid;
	*live = (sl.flags & SLOT_DELETED) ? 0 : sl.version;
	return 0;
}

int hist_rid(struct stx *s, const char *path, uint64_t *rid)
{
	struct hist_slot sl;
	int rc = slot_get(s, path, &sl);

	if (rc == 0)
		*rid = sl.rid;
	return rc;
}

int hist_paths(struct stx *s, int (*fn)(void *ctx, const char *path), void *ctx)
{
	char path[PM_PATH_MAX + 1];
	kv_table *t;
	kv_cursor *c;
	kv_val k, v, first = { "\x01", 1 };
	int rc = tables(s, NULL, &t);

	if (rc != 0)
		return rc == -ENOENT ? 0 : rc;
	rc = kv_to_errno(kv_cursor_open(s->txn, t, &c));
	if (rc != 0)
		return rc;
	rc = kv_cursor_seek(c, first, &k, &v);
	while (rc == 0) {
		if (k.len == 0 || k.len > PM_PATH_MAX) {
			rc = -EIO;
			break;
		}
		memcpy(path, k.data, k.len);
		path[k.len] = '\0';
		rc = fn(ctx, path);
		if (rc != 0)
			break;
		rc = kv_cursor_next(c, &k, &v);
	}
	kv_cursor_close(c);
	if (rc == KV_ENOTFOUND)
		rc = 0;
	return kv_to_errno(rc);
}

static int found_one(void *ctx, const char *name, size_t len)
{
	(void)name;
	(void)len;
	*(int *)ctx = 1;
	return 1;
}

int hist_has(struct stx *s, const char *path)
{
	struct hist_slot sl;
	int found = 0;
	int rc = slot_get(s, path, &sl);

	if (rc == 0)
		return 1;
	if (rc != -ENOENT)
		return rc;
	rc = hist_children(s, path, found_one, &found);
	return rc < 0 ? rc : found;
}

/* ---- names ---------------------------------------------------------------- */

void hist_name(char *buf, size_t n, uint64_t v, int64_t time)
{
	time_t t = (time_t)(time / 1000000000);
	struct tm tm;

	if (time < 0 && time % 1000000000 != 0)
		t--;
	gmtime_r(&t, &tm);
	snprintf(buf, n, "%06" PRIu64 "-%04d-%02d-%02dT%02d%02d%02dZ.yaml", v,
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
}

int hist_parse_name(const char *name, uint64_t *v)
{
	uint64_t x = 0;
	int digits = 0;

	for (; *name >= '0' && *name <= '9'; name++, digits++) {
		uint64_t d = (uint64_t)(*name - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	if (digits < 6 || *name != '-' || x == 0)
		return -EINVAL;
	*v = x;
	return 0;
}

/* ---- space and retention ---------------------------------------------- */

static int space_one(void *ctx, kv_val key, kv_val val)
{
	struct hist_space *sp = ctx;
	struct hist_item it;

	if (key.len != 16)
		return 0;
	if (ver_decode(val, &it, NULL) != 0)
		return -EIO;
	sp->versions++;
	sp->bytes += it.size;
	return 0;
}

static int scan_all(struct stx *s, const char *table,
                    int (*fn)(void *ctx, kv_val key, kv_val val), void *ctx)
{
	return store_scan(s, table, NULL, 0, fn, ctx);
}

static int count_slot(void *ctx, kv_val key, kv_val val)
{
	(void)val;
	if (key.len > 0 && *(const char *)key.data != '\0')
		(*(uint64_t *)ctx)++;
	return 0;
}

int hist_space(struct stx *s, struct hist_space *sp)
{
	int rc;

	memset(sp, 0, sizeof(*sp));
	rc = scan_all(s, HIST_INDEX, count_slot, &sp->records);
	if (rc == 0)
		rc = scan_all(s, HIST_TABLE, space_one, sp);
	return rc;
}

int hist_parse_keep(const char *spec, struct hist_keep *k)
{
	char buf[64], *save = NULL, *part;
	bool age = false, min = false;

	memset(k, 0, sizeof(*k));
	if (strcmp(spec, "all") == 0) {
		k->all = true;
		return 0;
	}
	if (strcmp(spec, "off") == 0) {
		k->off = k->all = true; /* nothing recorded, nothing pruned */
		return 0;
	}
	if (strlen(spec) >= sizeof(buf) || *spec == '\0')
		return -EINVAL;
	strcpy(buf, spec);
	/* ',' between the parts, or ':' as in keep= (what a mount's -o
	 * list becomes) */
	for (char *p = buf; *p; p++)
		if (*p == ':')
			*p = ',';
	if (*buf == ',' || buf[strlen(buf) - 1] == ',' ||
	    strstr(buf, ",,") != NULL)
		return -EINVAL; /* strtok_r would skip empty parts */
	for (part = strtok_r(buf, ",", &save); part;
	     part = strtok_r(NULL, ",", &save)) {
		size_t l = strlen(part);
		char *end;

		if (l == 0)
			return -EINVAL;
		if (part[l - 1] >= '0' && part[l - 1] <= '9') {
			unsigned long long n;

			if (min || *part < '0' || *part > '9')
				return -EINVAL;
			errno = 0;
			n = strtoull(part, &end, 10);
			if (*end != '\0' || errno != 0)
				return -EINVAL;
			k->min = n;
			min = true;
		} else {
			if (age || retain_parse_duration(part, &k->age) != 0)
				return -EINVAL;
			age = true;
		}
	}
	return age || min ? 0 : -EINVAL;
}

/*
 * Pruning walks the history table in key order, one record (rid) at a
 * time: its versions come oldest first, so the count of versions newer
 * than each is known only at the record's end.  The keys of the record's
 * versions are gathered, then those beyond both limits deleted.
 */
struct prune_ctx {
	const struct hist_keep *k;
	int64_t now;
	uint64_t rid;
	unsigned char (*keys)[16];
	int64_t *times;
	size_t n, cap;
};

static int prune_note(struct prune_ctx *pc, kv_val key, int64_t time)
{
	if (pc->n == pc->cap) {
		size_t cap = pc->cap ? 2 * pc->cap : 64;
		void *k = realloc(pc->keys, cap * sizeof(*pc->keys));

		if (k == NULL)
			return -ENOMEM;
		pc->keys = k;
		k = realloc(pc->times, cap * sizeof(*pc->times));
		if (k == NULL)
			return -ENOMEM;
		pc->times = k;
		pc->cap = cap;
	}
	memcpy(pc->keys[pc->n], key.data, 16);
	pc->times[pc->n++] = time;
	return 0;
}

/* The versions labels pin (labels.h), sorted: pruning keeps them. */
struct pins {
	struct rid_version {
		uint64_t rid, version;
	} * v;
	size_t n, cap;
};

static int pin_one(void *ctx, const struct label *l)
{
	struct pins *p = ctx;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct rid_version *v = realloc(p->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n].rid = l->rid;
	p->v[p->n++].version = l->version;
	return 0;
}

static int by_rid_version(const void *a, const void *b)
{
	const struct rid_version *x = a, *y = b;

	if (x->rid != y->rid)
		return x->rid < y->rid ? -1 : 1;
	return x->version < y->version ? -1 : x->version > y->version;
}

static bool pinned(const struct pins *p, uint64_t rid, uint64_t version)
{
	struct rid_version want = { rid, version };

	return p->n > 0 && bsearch(&want, p->v, p->n, sizeof(*p->v),
	                           by_rid_version) != NULL;
}

int hist_prune(struct stx *s, const struct hist_keep *k, int64_t now,
               uint64_t limit, uint64_t *pruned)
{
	struct prune_ctx pc = { .k = k, .now = now };
	struct pins pins = { 0 };
	unsigned char(*del)[16] = NULL;
	size_t ndel = 0, cap = 0;
	kv_table *t;
	kv_cursor *c;
	kv_val key, val;
	int rc;

	*pruned = 0;
	if (k->all)
		return 0;
	rc = tables(s, &t, NULL);
	if (rc != 0)
		return rc == -ENOENT ? 0 : rc;
	rc = label_each(s, NULL, pin_one, &pins);
	if (rc == 0 && pins.n > 1)
		qsort(pins.v, pins.n, sizeof(*pins.v), by_rid_version);
	if (rc == 0)
		rc = kv_to_errno(kv_cursor_open(s->txn, t, &c));
	if (rc != 0) {
		free(pins.v);
		return rc;
	}
	rc = kv_cursor_first(c, &key, &val);
	for (;;) {
		bool end = rc != 0 || (key.len >= 8 && pc.n > 0 &&
		                       get64be(key.data) != pc.rid);

		if (end && pc.n > 0) {
			/* the record's versions, oldest first: keep the
			 * newest min and those younger than age */
			for (size_t i = 0; i < pc.n; i++) {
				size_t newer = pc.n - 1 - i;
				int64_t age_ns = now - pc.times[i];

				/* the live version counts as the newest; an age
				 * past int64's nanoseconds keeps everything */
				if (newer + 1 < k->min ||
				    k->age >=
				            (uint64_t)INT64_MAX / 1000000000 ||
				    age_ns < (int64_t)k->age * 1000000000 ||
				    pinned(&pins, pc.rid,
				           get64be(pc.keys[i] + 8)))
					continue;
				if (limit && ndel + *pruned >= limit)
					break;
				if (ndel == cap) {
					size_t nc = cap ? 2 * cap : 64;
					void *d =
					        realloc(del, nc * sizeof(*del));

					if (d == NULL) {
						rc = -ENOMEM;
						goto out;
					}
					del = d;
					cap = nc;
				}
				memcpy(del[ndel++], pc.keys[i], 16);
			}
			pc.n = 0;
		}
		if (rc != 0)
			break;
		if (key.len == 16) {
			struct hist_item it;

			if (ver_decode(val, &it, NULL) != 0) {
				rc = -EIO;
				goto out;
			}
			pc.rid = get64be(key.data);
			rc = prune_note(&pc, key, it.time);
			if (rc != 0)
				goto out;
		}
		rc = kv_cursor_next(c, &key, &val);
	}
	if (rc == KV_ENOTFOUND)
		rc = 0;
	rc = kv_to_errno(rc);
out:
	kv_cursor_close(c);
	for (size_t i = 0; i < ndel && rc == 0; i++) {
		kv_val dk = { del[i], 16 };

		rc = kv_to_errno(kv_del(s->txn, t, dk));
		if (rc == 0)
			(*pruned)++;
	}
	free(del);
	free(pc.keys);
	free(pc.times);
	free(pins.v);
	return rc;
}

/* ---- verification --------------------------------------------------------- */

struct rid_live {
	uint64_t rid, version;
};

struct verify {
	struct stx *s;
	void (*fn)(void *ctx, const char *msg);
	void *ctx;
	uint64_t entries;
	struct rid_live *rids; /* from the slots, sorted by rid */
	size_t n, cap;
};

static void problem(struct verify *vf, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void problem(struct verify *vf, const char *fmt, ...)
{
	char msg[PM_PATH_MAX + 200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vf->fn(vf->ctx, msg);
}

static int verify_slot(void *ctx, kv_val key, kv_val val)
{
	struct verify *vf = ctx;
	char path[PM_PATH_MAX + 1];
	struct hist_slot sl;
	struct node n;
	int rc;

	vf->entries++;
	if (key.len == 1 && *(const char *)key.data == '\0')
		return 0; /* the next rid */
	if (key.len == 0 || key.len > PM_PATH_MAX) {
		problem(vf, "history: a slot with a key of %zu bytes", key.len);
		return 0;
	}
	memcpy(path, key.data, key.len);
	path[key.len] = '\0';
	if (slot_decode(val, &sl) != 0 || sl.version == 0 || sl.rid == 0) {
		problem(vf, "history: /%s: damaged slot", path);
		return 0;
	}
	rc = store_node_get(vf->s, path, &n);
	if (rc == 0) {
		/* a deleted record may be there again, empty: its first
		 * content continues the history */
		if ((sl.flags & SLOT_DELETED) && n.size > 0)
			problem(vf,
			        "history: /%s: marked deleted, but the "
			        "record exists",
			        path);
		else if (!S_ISREG(n.mode))
			problem(vf, "history: /%s: not a file", path);
		node_release(&n);
	} else if (rc != 0 && rc != -ENOENT) {
		return rc;
	}
	if (vf->n == vf->cap) {
		size_t cap = vf->cap ? 2 * vf->cap : 64;
		struct rid_live *v = realloc(vf->rids, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		vf->rids = v;
		vf->cap = cap;
	}
	vf->rids[vf->n].rid = sl.rid;
	vf->rids[vf->n++].version = sl.version;
	return 0;
}

static int by_rid(const void *a, const void *b)
{
	const struct rid_live *x = a, *y = b;

	return x->rid < y->rid ? -1 : x->rid > y->rid;
}

static int verify_entry(void *ctx, kv_val key, kv_val val)
{
	struct verify *vf = ctx;
	struct rid_live want, *found;
	struct hist_item it;
	uint64_t rid, v;

	vf->entries++;
	if (key.len != 16 && key.len != 24) {
		problem(vf, "history: an entry with a key of %zu bytes",
		        key.len);
		return 0;
	}
	rid = get64be(key.data);
	v = get64be((const unsigned char *)key.data + 8);
	if ((key.len == 16 ? ver_decode(val, &it, NULL)
	                   : ren_decode(val, &it)) != 0) {
		problem(vf,
		        "history: damaged entry (record %" PRIu64
		        ", version %" PRIu64 ")",
		        rid, v);
		return 0;
	}
	want.rid = rid;
	found = bsearch(&want, vf->rids, vf->n, sizeof(*vf->rids), by_rid);
	if (found != NULL && key.len == 16 && v >= found->version)
		problem(vf,
		        "history: version %" PRIu64 " of record %" PRIu64
		        " is not older than its live one",
		        v, rid);
	return 0;
}

int hist_verify(struct stx *s, void (*fn)(void *ctx, const char *msg),
                void *ctx, uint64_t *entries)
{
	struct verify vf = { .s = s, .fn = fn, .ctx = ctx };
	int rc = scan_all(s, HIST_INDEX, verify_slot, &vf);

	if (rc == 0 && vf.n > 1)
		qsort(vf.rids, vf.n, sizeof(*vf.rids), by_rid);
	if (rc == 0)
		rc = scan_all(s, HIST_TABLE, verify_entry, &vf);
	free(vf.rids);
	*entries = vf.entries;
	return rc;
}
