/*
 * test_model.c: the engine against an in-memory reference model.
 *
 * A long random sequence of operations runs against both the engine and a
 * model of what the engine should hold, and every step compares the two:
 * put (keys of 1..1024 bytes, many with shared prefixes; values of 0..20 KiB
 * and now and then 100 KiB..1 MiB, so overflow runs come and go), delete,
 * get, cursor walks (seek, first, last, next, prev, range and prefix scans,
 * a cursor re-finding its place after a change), KV_NOOVERWRITE and
 * KV_APPEND (single puts and bulk bursts), commit with both durabilities
 * (including durable commits that changed nothing), kv_env_sync, abort,
 * table create/drop/list, snapshot create, delete, rename, restore (of all
 * tables or some) and read (a read transaction on a snapshot is compared
 * with the model's copy of that moment), kv_table_diff between the write
 * txn, the last commit, snapshots and long-lived readers (against a merge
 * of the model's tables), long-lived readers of the live state and of a snapshot that
 * must keep seeing their own state (and keep their value pointers valid)
 * while the writer commits, deletes that snapshot and grows the file,
 * compacting copies (kv_env_copy) of the live state and of snapshots, and
 * close/reopen of the environment.  kv_check() must be clean periodically
 * and at the end.
 *
 * The model stores each value as (length, tag): the bytes are a function of
 * both (kt_fill), so copies of the whole state for commits, readers and
 * snapshots cost little.  Tables are reference-counted and copied on write.
 *
 * Operation count: 200,000 by default (100,000 in an AddressSanitizer
 * build), CCC_MODEL_OPS=n (at least 20,000), CCC_LONG=1 for 2,000,000, or
 * the first argument.  CCC_SEED=n replays a
 * run; the seed and the last operations are printed on failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cccfs/kv.h>

#include "kvtest.h"
#include "tmpdir.h"

#define NT 5 /* table names */
#define NS 5 /* snapshot names */
#define NPTR 8
#define TARGET_KEYS 300 /* above it, puts prefer existing keys */
#define MAX_BIG 6       /* values >= 100 KiB per table */
#define BIG_MIN (100u * 1024u)

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_OPS 100000u /* a sanitizer build runs about 3x slower */
#else
#define DEFAULT_OPS 200000u
#endif
#define MIN_OPS 20000u

/* ---- the model ------------------------------------------------------- */

struct mkey {
	unsigned ref;
	uint16_t len;
	unsigned char b[];
};

struct ment {
	struct mkey *k;
	uint32_t vlen;
	uint64_t vtag;
};

struct mtab {
	unsigned ref;
	size_t n, cap;
	size_t nbig;
	struct ment *e;
};

struct mstate {
	struct mtab *t[NT]; /* NULL: table absent */
};

struct msnap {
	int present;
	uint64_t txnid;
	struct mstate st;
};

struct mworld {
	struct mstate live;
	struct msnap s[NS];
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fail_msg("out of memory (%zu bytes)", n);
	return p;
}

static struct mkey *mkey_new(const void *b, size_t len)
{
	struct mkey *k = xmalloc(sizeof(*k) + len);

	k->ref = 1;
	k->len = (uint16_t)len;
	memcpy(k->b, b, len);
	return k;
}

static void mkey_unref(struct mkey *k)
{
	if (--k->ref == 0)
		free(k);
}

static int keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static struct mtab *mtab_new(void)
{
	struct mtab *t = xmalloc(sizeof(*t));

	memset(t, 0, sizeof(*t));
	t->ref = 1;
	return t;
}

static struct mtab *mtab_ref(struct mtab *t)
{
	if (t)
		t->ref++;
	return t;
}

static void mtab_unref(struct mtab *t)
{
	if (t == NULL || --t->ref > 0)
		return;
	for (size_t i = 0; i < t->n; i++)
		mkey_unref(t->e[i].k);
	free(t->e);
	free(t);
}

/* Make *pt private to the caller (copy on write). */
static struct mtab *mtab_mut(struct mtab **pt)
{
	struct mtab *o = *pt, *t;

	if (o->ref == 1)
		return o;
	t = mtab_new();
	t->n = t->cap = o->n;
	t->nbig = o->nbig;
	t->e = xmalloc(sizeof(*t->e) * (o->n ? o->n : 1));
	for (size_t i = 0; i < o->n; i++) {
		t->e[i] = o->e[i];
		t->e[i].k->ref++;
	}
	o->ref--;
	*pt = t;
	return t;
}

/* Index of the first entry >= key. */
static size_t mtab_lower(const struct mtab *t, const void *key, size_t len)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mkey *k = t->e[mid].k;

		if (keycmp(k->b, k->len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static long mtab_find(const struct mtab *t, const void *key, size_t len)
{
	size_t i = mtab_lower(t, key, len);

	if (i < t->n && keycmp(t->e[i].k->b, t->e[i].k->len, key, len) == 0)
		return (long)i;
	return -1;
}

static void mtab_put(struct mtab **pt, const void *key, size_t len,
                     uint32_t vlen, uint64_t vtag)
{
	struct mtab *t = mtab_mut(pt);
	size_t i = mtab_lower(t, key, len);

	if (i < t->n && keycmp(t->e[i].k->b, t->e[i].k->len, key, len) == 0) {
		t->nbig -= t->e[i].vlen >= BIG_MIN;
	} else {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 64;
			t->e = realloc(t->e, sizeof(*t->e) * t->cap);
			if (t->e == NULL)
				fail_msg("out of memory");
		}
		memmove(&t->e[i + 1], &t->e[i], sizeof(*t->e) * (t->n - i));
		t->e[i].k = mkey_new(key, len);
		t->n++;
	}
	t->e[i].vlen = vlen;
	t->e[i].vtag = vtag;
	t->nbig += vlen >= BIG_MIN;
}

static void mtab_del(struct mtab **pt, size_t i)
{
	struct mtab *t = mtab_mut(pt);

	t->nbig -= t->e[i].vlen >= BIG_MIN;
	mkey_unref(t->e[i].k);
	memmove(&t->e[i], &t->e[i + 1], sizeof(*t->e) * (t->n - i - 1));
	t->n--;
}

static void mstate_copy(struct mstate *d, const struct mstate *s)
{
	for (int i = 0; i < NT; i++)
		d->t[i] = mtab_ref(s->t[i]);
}

static void mstate_release(struct mstate *s)
{
	for (int i = 0; i < NT; i++) {
		mtab_unref(s->t[i]);
		s->t[i] = NULL;
	}
}

static uint64_t mstate_records(const struct mstate *s)
{
	uint64_t n = 0;

	for (int i = 0; i < NT; i++)
		n += s->t[i] ? s->t[i]->n : 0;
	return n;
}

static void mworld_copy(struct mworld *d, const struct mworld *s)
{
	mstate_copy(&d->live, &s->live);
	for (int i = 0; i < NS; i++) {
		d->s[i].present = s->s[i].present;
		d->s[i].txnid = s->s[i].txnid;
		mstate_copy(&d->s[i].st, &s->s[i].st);
	}
}

static void mworld_release(struct mworld *w)
{
	mstate_release(&w->live);
	for (int i = 0; i < NS; i++) {
		mstate_release(&w->s[i].st);
		w->s[i].present = 0;
	}
}

/* ---- test state ------------------------------------------------------ */

struct heldptr {
	const void *p;
	uint32_t vlen;
	uint64_t vtag;
	int table; /* write txn: invalidated by a change to this table */
};

struct lreader {
	kv_txn *txn; /* NULL: not open */
	int snap;    /* -1: the live state, else the snapshot's index */
	struct mstate st;
	uint64_t txnid;
	kv_table *h[NT];
	struct heldptr ptr[NPTR];
	int nptr;
	unsigned age;
};

struct mt {
	struct kt_rng rng;
	uint64_t seed;
	uint64_t op, nops;
	const char *dir;
	char path[4096];
	kv_env *env;

	struct mworld com;  /* last committed state */
	uint64_t com_txnid; /* its txn id */
	bool reopened;      /* no commit since the store was opened */

	kv_txn *w; /* the write txn, or NULL */
	struct mworld work;
	kv_table *wh[NT];
	int wdirty;
	struct heldptr wptr[NPTR];
	int nwptr;

	/* long-lived readers: [0] on the live state, [1] on a snapshot */
	struct lreader rd[2];
	unsigned ncopies;
	int forcedurable;

	char log[32][160]; /* the last operations, for failure reports */
	unsigned nlog;

	unsigned char *kbuf;  /* scratch key */
	unsigned char *vbuf;  /* scratch value (1 MiB) */
	unsigned char *vbuf2; /* another, to compare two values */
	char longname[KV_MAX_NAME + 2];
	char longsnap[KV_MAX_NAME + 2];

	/* statistics */
	uint64_t commits, durable, aborts, reopens, checks, bigputs;
	uint64_t diffs, diff_keys, diff_pages, restores;
	size_t largest;
	uint64_t largest_file;
};

static void note(struct mt *m, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void note(struct mt *m, const char *fmt, ...)
{
	va_list ap;
	char *s = m->log[m->nlog++ % 32];
	int w = snprintf(s, 160, "#%llu ", (unsigned long long)m->op);

	va_start(ap, fmt);
	vsnprintf(s + w, (size_t)(160 - w), fmt, ap);
	va_end(ap);
}

static void mfail(struct mt *m, const char *fmt, ...)
        __attribute__((format(printf, 2, 3), noreturn));
static void mfail(struct mt *m, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];
	unsigned first = m->nlog > 32 ? m->nlog - 32 : 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr,
	        "model: FAILED at operation %llu (seed %llu, replay "
	        "with CCC_SEED=%llu)\nlast operations:\n",
	        (unsigned long long)m->op, (unsigned long long)m->seed,
	        (unsigned long long)m->seed);
	for (unsigned i = first; i < m->nlog; i++)
		fprintf(stderr, "  %s\n", m->log[i % 32]);
	fail_msg("seed %llu op %llu: %s", (unsigned long long)m->seed,
	         (unsigned long long)m->op, msg);
	abort(); /* not reached */
}

#define EXPECT_RC(m, rc, want, what)                                           \
	do {                                                                   \
		int rc_ = (rc), want_ = (want);                                \
		if (rc_ != want_)                                              \
			mfail((m), "%s: rc %d, expected %d (%s)", (what), rc_, \
			      want_, kt_err(rc_));                             \
	} while (0)

static const char *tname(struct mt *m, int i)
{
	static const char *names[NT - 1] = { "alpha", "beta", "gamma", "t" };

	return i == NT - 1 ? m->longname : names[i];
}

static const char *sname(struct mt *m, int i)
{
	static const char *names[NS - 1] = { "snap-0", "snap-1", "snap-2",
		                             "s" };

	return i == NS - 1 ? m->longsnap : names[i];
}

static const char *hex(const void *p, size_t len)
{
	static char bufs[4][80];
	static unsigned next;
	char *buf = bufs[next++ % 4];
	const unsigned char *b = p;
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < len && o + 3 < 80 - 8; i++)
		o += (size_t)snprintf(buf + o, 80 - o, "%02x", b[i]);
	if (i < len)
		snprintf(buf + o, 80 - o, "..(%zu)", len);
	return buf;
}

/* ---- random keys and values ----------------------------------------- */

static const char
        *const prefixes[] = {
	        "",
	        "",
	        "",
	        "a",
	        "ab",
	        "user/",
	        "user/alice/",
	        "user/bob/",
	        "\xff",
	        "zzz",
	        "\x01\x02",
	        NULL,
	        NULL, /* long prefixes, filled at start */
        };
#define NPREFIX (sizeof(prefixes) / sizeof(prefixes[0]))

static size_t prefix_of(struct mt *m, unsigned i, const unsigned char **p)
{
	static unsigned char l1[300], l2[1000];

	if (l1[0] == 0) {
		memset(l1, 'p', sizeof(l1));
		memset(l2, 'q', sizeof(l2));
		l2[500] = '/';
	}
	(void)m;
	if (i == NPREFIX - 2) {
		*p = l1;
		return sizeof(l1);
	}
	if (i == NPREFIX - 1) {
		*p = l2;
		return sizeof(l2);
	}
	*p = (const unsigned char *)prefixes[i];
	return strlen(prefixes[i]);
}

/* A fresh random key into m->kbuf; returns its length (1..KV_MAX_KEY). */
static size_t rand_key(struct mt *m)
{
	const unsigned char *pre;
	unsigned pi = (unsigned)kt_below(&m->rng, NPREFIX);
	size_t plen = prefix_of(m, pi, &pre);
	uint64_t c = kt_below(&m->rng, 100);
	size_t len;
	int small = kt_chance(&m->rng, 2, 3);

	if (c < 55)
		len = (size_t)kt_range(&m->rng, 1, 16);
	else if (c < 85)
		len = (size_t)kt_range(&m->rng, 17, 128);
	else if (c < 96)
		len = (size_t)kt_range(&m->rng, 129, 600);
	else
		len = (size_t)kt_range(&m->rng, 601, KV_MAX_KEY);
	if (len <= plen)
		len = plen + kt_range(&m->rng, 1, 24);
	if (len > KV_MAX_KEY)
		len = KV_MAX_KEY;
	if (plen > len)
		plen = len - 1;
	memcpy(m->kbuf, pre, plen);
	for (size_t i = plen; i < len; i++)
		m->kbuf[i] = small ? (unsigned char)('a' + kt_below(&m->rng, 4))
		                   : (unsigned char)kt_rand(&m->rng);
	return len;
}

/* A key near an existing one (a neighbour that is probably absent). */
static size_t near_key(struct mt *m, const struct mtab *t)
{
	const struct mkey *k;
	size_t len;

	if (t == NULL || t->n == 0)
		return rand_key(m);
	k = t->e[kt_below(&m->rng, t->n)].k;
	len = k->len;
	memcpy(m->kbuf, k->b, len);
	switch (kt_below(&m->rng, 4)) {
	case 0: /* truncate */
		if (len > 1)
			len = (size_t)kt_range(&m->rng, 1, len - 1);
		break;
	case 1: /* extend */
		if (len < KV_MAX_KEY)
			m->kbuf[len++] = (unsigned char)kt_rand(&m->rng);
		break;
	case 2: /* bump the last byte */
		m->kbuf[len - 1]++;
		break;
	default: /* lower the last byte */
		m->kbuf[len - 1]--;
		break;
	}
	return len;
}

/* Pick a key for an operation: existing (when present) or new. */
static size_t pick_key(struct mt *m, const struct mtab *t, int existing_pct)
{
	if (t && t->n && kt_below(&m->rng, 100) < (uint64_t)existing_pct) {
		const struct mkey *k = t->e[kt_below(&m->rng, t->n)].k;

		memcpy(m->kbuf, k->b, k->len);
		return k->len;
	}
	if (kt_chance(&m->rng, 1, 3))
		return near_key(m, t);
	return rand_key(m);
}

static uint32_t rand_vlen(struct mt *m, const struct mtab *t)
{
	uint64_t c = kt_below(&m->rng, 1000);

	if (c < 3 && (t == NULL || t->nbig < MAX_BIG)) {
		m->bigputs++;
		return (uint32_t)kt_range(&m->rng, BIG_MIN, 1024 * 1024);
	}
	if (c < 30)
		return 0;
	if (c < 600)
		return (uint32_t)kt_range(&m->rng, 1, 64);
	if (c < 850)
		return (uint32_t)kt_range(&m->rng, 65, 2000);
	return (uint32_t)kt_range(&m->rng, 2001, 20 * 1024);
}

/* ---- comparing engine output with the model -------------------------- */

static void check_val(struct mt *m, const kv_val *v, uint32_t vlen,
                      uint64_t vtag, const char *what)
{
	long off;

	if (v->len != vlen)
		mfail(m, "%s: value length %zu, expected %u", what, v->len,
		      vlen);
	if (vlen == 0)
		return;
	if (!v->data)
		mfail(m, "%s: NULL value pointer for %u bytes", what, vlen);
	off = kt_vcheck(v->data, vlen, vtag);
	if (off >= 0)
		mfail(m, "%s: value of %u bytes differs at offset %ld", what,
		      vlen, off);
}

/* The cursor result (rc, k, v) must be entry i of t (or the end). */
static void check_pos(struct mt *m, const struct mtab *t, size_t i, int end,
                      int rc, const kv_val *k, const kv_val *v,
                      const char *what)
{
	const struct ment *e;

	if (end) {
		if (rc != KV_ENOTFOUND)
			mfail(m,
			      "%s: expected the end (KV_ENOTFOUND), got rc "
			      "%d key %s",
			      what, rc, rc == 0 ? hex(k->data, k->len) : "-");
		return;
	}
	e = &t->e[i];
	if (rc != 0)
		mfail(m, "%s: rc %d (%s), expected entry %zu of %zu (key %s)",
		      what, rc, kt_err(rc), i, t->n, hex(e->k->b, e->k->len));
	if (keycmp(k->data, k->len, e->k->b, e->k->len) != 0)
		mfail(m, "%s: key %s, expected %s (entry %zu of %zu)", what,
		      hex(k->data, k->len), hex(e->k->b, e->k->len), i, t->n);
	check_val(m, v, e->vlen, e->vtag, what);
}

static const struct mtab empty_tab;

/* Full forward (and sometimes backward) scan of one table. */
static void full_scan(struct mt *m, kv_txn *txn, kv_table *h,
                      const struct mtab *t, const char *what)
{
	kv_cursor *c;
	kv_val k, v;
	int rc;

	if (t == NULL)
		t = &empty_tab;
	if (kv_table_count(h) != t->n)
		mfail(m, "%s: kv_table_count %llu, model %zu", what,
		      (unsigned long long)kv_table_count(h), t->n);
	EXPECT_RC(m, kv_cursor_open(txn, h, &c), 0, "kv_cursor_open");
	rc = kv_cursor_first(c, &k, &v);
	for (size_t i = 0; i <= t->n; i++) {
		check_pos(m, t, i, i == t->n, rc, &k, &v, what);
		if (i < t->n)
			rc = kv_cursor_next(c, &k, &v);
	}
	if (kt_chance(&m->rng, 1, 4)) {
		rc = kv_cursor_last(c, &k, &v);
		for (size_t i = t->n; i-- > 0;) {
			check_pos(m, t, i, 0, rc, &k, &v, what);
			rc = kv_cursor_prev(c, &k, &v);
		}
		check_pos(m, t, 0, 1, rc, &k, &v, what);
	}
	kv_cursor_close(c);
}

struct list_ctx {
	struct mt *m;
	const struct mstate *st;
	int next; /* index into the sorted name order */
	int order[NT];
	int n;
	const char *what;
};

static int table_list_cb(void *ctx, const char *name, uint64_t count)
{
	struct list_ctx *l = ctx;
	int i;

	if (l->next >= l->n)
		mfail(l->m, "%s: kv_table_list gives extra table \"%.40s\"",
		      l->what, name);
	i = l->order[l->next++];
	if (strcmp(name, tname(l->m, i)) != 0)
		mfail(l->m,
		      "%s: kv_table_list gives \"%.40s\", expected "
		      "\"%.40s\"",
		      l->what, name, tname(l->m, i));
	if (count != l->st->t[i]->n)
		mfail(l->m, "%s: kv_table_list count %llu for %.40s, model %zu",
		      l->what, (unsigned long long)count, name, l->st->t[i]->n);
	return 0;
}

static void check_table_list(struct mt *m, kv_txn *txn, const struct mstate *st,
                             const char *what)
{
	struct list_ctx l = { m, st, 0, { 0 }, 0, what };
	int rc;

	for (int i = 0; i < NT; i++) /* insertion sort by name */
		if (st->t[i]) {
			int j = l.n++;

			while (j > 0 && strcmp(tname(m, l.order[j - 1]),
			                       tname(m, i)) > 0) {
				l.order[j] = l.order[j - 1];
				j--;
			}
			l.order[j] = i;
		}
	rc = kv_table_list(txn, table_list_cb, &l);
	EXPECT_RC(m, rc, 0, "kv_table_list");
	if (l.next != l.n)
		mfail(m, "%s: kv_table_list gave %d tables, model has %d", what,
		      l.next, l.n);
}

/* Compare a whole state (tables and their content) through txn. */
static void full_compare(struct mt *m, kv_txn *txn, const struct mstate *st,
                         const char *what)
{
	char w[96];

	check_table_list(m, txn, st, what);
	for (int i = 0; i < NT; i++) {
		kv_table *h;
		int rc = kv_table_open(txn, tname(m, i), 0, &h);

		if (st->t[i] == NULL) {
			snprintf(w, sizeof(w), "%s: open absent table %d", what,
			         i);
			EXPECT_RC(m, rc, KV_ENOTFOUND, w);
			continue;
		}
		snprintf(w, sizeof(w), "%s: open table %d", what, i);
		EXPECT_RC(m, rc, 0, w);
		snprintf(w, sizeof(w), "%s: scan table %d", what, i);
		full_scan(m, txn, h, st->t[i], w);
	}
}

/* A random cursor walk over table t (model mt) through txn. */
static void cursor_walk(struct mt *m, kv_txn *txn, kv_table *h,
                        const struct mtab *t)
{
	kv_cursor *c;
	kv_val k, v, sk;
	size_t i = 0, len;
	int end = 0, rc, kind = (int)kt_below(&m->rng, 6);
	unsigned steps = (unsigned)kt_range(&m->rng, 1, 40);

	if (t == NULL)
		t = &empty_tab;
	EXPECT_RC(m, kv_cursor_open(txn, h, &c), 0, "kv_cursor_open");
	switch (kind) {
	case 0: /* seek + random walk */
	case 1:
		len = pick_key(m, t, 40);
		sk.data = m->kbuf;
		sk.len = len;
		note(m, "cursor seek %s + %u steps", hex(m->kbuf, len), steps);
		i = mtab_lower(t, m->kbuf, len);
		end = i >= t->n;
		rc = kv_cursor_seek(c, sk, &k, &v);
		check_pos(m, t, i, end, rc, &k, &v, "cursor seek");
		break;
	case 2:
		note(m, "cursor first + %u steps", steps);
		end = t->n == 0;
		rc = kv_cursor_first(c, &k, &v);
		check_pos(m, t, 0, end, rc, &k, &v, "cursor first");
		break;
	case 3:
		note(m, "cursor last + %u steps", steps);
		end = t->n == 0;
		i = t->n ? t->n - 1 : 0;
		rc = kv_cursor_last(c, &k, &v);
		check_pos(m, t, i, end, rc, &k, &v, "cursor last");
		break;
	case 4: { /* range [lo, hi) forwards, or (lo, hi] backwards */
		unsigned char lo[KV_MAX_KEY];
		size_t lolen = pick_key(m, t, 50), hilen, a, b;
		int back = kt_chance(&m->rng, 1, 3);

		memcpy(lo, m->kbuf, lolen);
		hilen = pick_key(m, t, 50);
		if (keycmp(lo, lolen, m->kbuf, hilen) > 0) {
			unsigned char tmp[KV_MAX_KEY];
			size_t tl = lolen;

			memcpy(tmp, lo, lolen);
			memcpy(lo, m->kbuf, hilen);
			lolen = hilen;
			memcpy(m->kbuf, tmp, tl);
			hilen = tl;
		}
		a = mtab_lower(t, lo, lolen);
		b = mtab_lower(t, m->kbuf, hilen);
		note(m, "cursor range %s.. (%zu entries)%s", hex(lo, lolen),
		     b - a, back ? " backwards" : "");
		if (!back) {
			sk.data = lo;
			sk.len = lolen;
			rc = kv_cursor_seek(c, sk, &k, &v);
			for (i = a;; i++) {
				if (rc == 0 &&
				    keycmp(k.data, k.len, m->kbuf, hilen) >= 0)
					rc = KV_ENOTFOUND; /* past hi: stop */
				check_pos(m, t, i, i == b, rc, &k, &v,
				          "range scan");
				if (i == b)
					break;
				rc = kv_cursor_next(c, &k, &v);
			}
		} else {
			/* seek hi, step back to the last key < hi */
			sk.data = m->kbuf;
			sk.len = hilen;
			rc = kv_cursor_seek(c, sk, &k, &v);
			if (rc == KV_ENOTFOUND)
				rc = kv_cursor_last(c, &k, &v);
			else if (rc == 0)
				rc = kv_cursor_prev(c, &k, &v);
			for (i = b; i > a; i--) {
				check_pos(m, t, i - 1, 0, rc, &k, &v,
				          "backward range scan");
				rc = kv_cursor_prev(c, &k, &v);
			}
			if (rc == 0 && keycmp(k.data, k.len, lo, lolen) >= 0)
				mfail(m,
				      "backward range scan: key %s is >= lo "
				      "but the model has no more",
				      hex(k.data, k.len));
			if (rc != 0 && !(rc == KV_ENOTFOUND && a == 0))
				mfail(m, "backward range scan: rc %d (%s)", rc,
				      kt_err(rc));
		}
		kv_cursor_close(c);
		return;
	}
	default: { /* prefix scan */
		size_t plen;
		size_t a, b;

		if (t->n && kt_chance(&m->rng, 2, 3)) {
			const struct mkey *key;

			key = t->e[kt_below(&m->rng, t->n)].k;

			plen = (size_t)kt_range(&m->rng, 1, key->len);
			if (plen > 12 && kt_chance(&m->rng, 1, 2))
				plen = (size_t)kt_range(&m->rng, 1, 12);
			memcpy(m->kbuf, key->b, plen);
		} else {
			const unsigned char *pre;

			unsigned pi = (unsigned)kt_below(&m->rng, NPREFIX);

			plen = prefix_of(m, pi, &pre);
			if (plen == 0) {
				pre = (const unsigned char *)"a";
				plen = 1;
			}
			memcpy(m->kbuf, pre, plen);
		}
		a = mtab_lower(t, m->kbuf, plen);
		for (b = a; b < t->n && t->e[b].k->len >= plen &&
		            memcmp(t->e[b].k->b, m->kbuf, plen) == 0;
		     b++)
			;
		note(m, "prefix scan %s (%zu entries)", hex(m->kbuf, plen),
		     b - a);
		sk.data = m->kbuf;
		sk.len = plen;
		rc = kv_cursor_seek(c, sk, &k, &v);
		for (i = a;; i++) {
			if (rc == 0 && (k.len < plen ||
			                memcmp(k.data, m->kbuf, plen) != 0))
				rc = KV_ENOTFOUND;
			check_pos(m, t, i, i == b, rc, &k, &v, "prefix scan");
			if (i == b)
				break;
			rc = kv_cursor_next(c, &k, &v);
		}
		kv_cursor_close(c);
		return;
	}
	}
	/* random walk from position i */
	while (!end && steps--) {
		if (kt_chance(&m->rng, 1, 2)) {
			rc = kv_cursor_next(c, &k, &v);
			i++;
			end = i >= t->n;
			check_pos(m, t, i, end, rc, &k, &v, "cursor next");
		} else {
			end = i == 0;
			if (!end)
				i--;
			rc = kv_cursor_prev(c, &k, &v);
			check_pos(m, t, i, end, rc, &k, &v, "cursor prev");
		}
	}
	kv_cursor_close(c);
}

static void check_ptrs(struct mt *m, struct heldptr *hp, int n,
                       const char *what, int full)
{
	for (int i = 0; i < n; i++) {
		long off;
		size_t len = hp[i].vlen;

		if (len == 0)
			continue;
		if (full || len <= 4096) {
			off = kt_vcheck(hp[i].p, len, hp[i].vtag);
		} else {
			off = kt_vcheck_part(hp[i].p, len, hp[i].vtag, 0, 512);
			if (off < 0)
				off = kt_vcheck_part(hp[i].p, len, hp[i].vtag,
				                     len - 512, 512);
		}
		if (off >= 0)
			mfail(m,
			      "%s: a value pointer returned earlier (%u "
			      "bytes) now differs at offset %ld",
			      what, hp[i].vlen, off);
	}
}

static void hold_ptr(struct mt *m, struct heldptr *hp, int *n, const kv_val *v,
                     uint32_t vlen, uint64_t vtag, int table)
{
	int i = *n < NPTR ? (*n)++ : (int)kt_below(&m->rng, NPTR);

	hp[i].p = v->data;
	hp[i].vlen = vlen;
	hp[i].vtag = vtag;
	hp[i].table = table;
}

/* ---- the environment ---------------------------------------------- */

static void stat_env(struct mt *m, struct kv_stat *st)
{
	EXPECT_RC(m, kv_env_stat(m->env, st), 0, "kv_env_stat");
}

static void env_open(struct mt *m)
{
	struct kv_stat st;
	int rc = kv_env_open(&m->env, m->path, KV_CREATE, 0600);

	EXPECT_RC(m, rc, 0, "kv_env_open");
	stat_env(m, &st);
	if (m->com_txnid && st.txnid != m->com_txnid)
		mfail(m, "reopen: txnid %llu, expected %llu",
		      (unsigned long long)st.txnid,
		      (unsigned long long)m->com_txnid);
	m->com_txnid = st.txnid;
	m->reopened = true;
}

/* ---- snapshots ------------------------------------------------------ */

struct snaplist_ctx {
	struct mt *m;
	const struct mworld *w;
	int seen[NS];
	uint64_t last_txnid;
	const char *what;
};

static int snap_name_index(struct mt *m, const char *name)
{
	for (int i = 0; i < NS; i++)
		if (strcmp(name, sname(m, i)) == 0)
			return i;
	return -1;
}

static void check_info(struct mt *m, const struct msnap *s,
                       const struct kv_snapshot_info *info, const char *what)
{
	if (info->txnid != s->txnid)
		mfail(m, "%s: snapshot %.40s txnid %llu, expected %llu", what,
		      info->name, (unsigned long long)info->txnid,
		      (unsigned long long)s->txnid);
	if (info->records != mstate_records(&s->st))
		mfail(m, "%s: snapshot %.40s records %llu, expected %llu", what,
		      info->name, (unsigned long long)info->records,
		      (unsigned long long)mstate_records(&s->st));
	if (info->created_ns <= 0)
		mfail(m, "%s: snapshot %.40s created_ns %lld", what, info->name,
		      (long long)info->created_ns);
}

static int snap_list_cb(void *ctx, const struct kv_snapshot_info *info)
{
	struct snaplist_ctx *l = ctx;
	int i = snap_name_index(l->m, info->name);

	if (i < 0 || !l->w->s[i].present || l->seen[i])
		mfail(l->m, "%s: kv_snapshot_list gives unexpected \"%.40s\"",
		      l->what, info->name);
	l->seen[i] = 1;
	if (info->txnid < l->last_txnid)
		mfail(l->m, "%s: kv_snapshot_list not in txnid order", l->what);
	l->last_txnid = info->txnid;
	check_info(l->m, &l->w->s[i], info, l->what);
	return 0;
}

static void check_snap_list(struct mt *m, kv_txn *txn, const struct mworld *w,
                            const char *what)
{
	struct snaplist_ctx l;

	memset(&l, 0, sizeof(l));
	l.m = m;
	l.w = w;
	l.what = what;
	EXPECT_RC(m, kv_snapshot_list(txn, snap_list_cb, &l), 0,
	          "kv_snapshot_list");
	for (int i = 0; i < NS; i++)
		if (w->s[i].present && !l.seen[i])
			mfail(m, "%s: kv_snapshot_list misses %.40s", what,
			      sname(m, i));
}

/* Read a committed snapshot through kv_txn_begin_snapshot. */
static void snap_read(struct mt *m, int full)
{
	int i = (int)kt_below(&m->rng, NS);
	const struct msnap *s = &m->com.s[i];
	kv_txn *txn;
	int rc = kv_txn_begin_snapshot(m->env, sname(m, i), &txn);

	note(m, "read snapshot %d%s", i, full ? " (full)" : "");
	if (!s->present) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_txn_begin_snapshot absent");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_txn_begin_snapshot");
	if (!kv_txn_is_readonly(txn))
		mfail(m, "snapshot txn is not read-only");
	if (full) {
		full_compare(m, txn, &s->st, "snapshot");
	} else {
		int t = (int)kt_below(&m->rng, NT);
		kv_table *h;

		check_table_list(m, txn, &s->st, "snapshot");
		rc = kv_table_open(txn, tname(m, t), 0, &h);
		if (s->st.t[t]) {
			EXPECT_RC(m, rc, 0, "snapshot table open");
			if (kv_table_count(h) != s->st.t[t]->n)
				mfail(m, "snapshot count %llu, expected %zu",
				      (unsigned long long)kv_table_count(h),
				      s->st.t[t]->n);
			cursor_walk(m, txn, h, s->st.t[t]);
			EXPECT_RC(m,
			          kv_put(txn, h, (kv_val){ "x", 1 },
			                 (kv_val){ "y", 1 }, 0),
			          KV_EREADONLY, "put in a snapshot txn");
		} else {
			EXPECT_RC(m, rc, KV_ENOTFOUND,
			          "snapshot open absent table");
		}
	}
	kv_txn_abort(txn);
}

/* ---- the write transaction ---------------------------------------- */

static void wbegin(struct mt *m, int try)
{
	int rc = try ? kv_txn_try_begin(m->env, 0, &m->w)
	             : kv_txn_begin(m->env, 0, &m->w);

	note(m, "begin write%s", try ? " (try)" : "");
	EXPECT_RC(m, rc, 0,
	          try ? "kv_txn_try_begin with no writer" : "kv_txn_begin");
	if (kv_txn_is_readonly(m->w))
		mfail(m, "write txn reports read-only");
	/* ids follow on, except that an open moves them past any a lost
	 * commit may have used (kv/kv_int.h, txn_floor) */
	if (m->reopened ? kv_txn_id(m->w) <= m->com_txnid
	                : kv_txn_id(m->w) != m->com_txnid + 1)
		mfail(m, "write txn id %llu, last commit %llu",
		      (unsigned long long)kv_txn_id(m->w),
		      (unsigned long long)m->com_txnid);
	mworld_copy(&m->work, &m->com);
	memset(m->wh, 0, sizeof(m->wh));
	m->wdirty = 0;
	m->nwptr = 0;
}

static void wend_common(struct mt *m)
{
	m->w = NULL;
	m->nwptr = 0;
	memset(m->wh, 0, sizeof(m->wh));
}

static void wcommit(struct mt *m)
{
	int durable = m->forcedurable || kt_chance(&m->rng, 1, 8);
	uint64_t id = kv_txn_id(m->w);
	struct kv_stat st;
	int rc;

	note(m, "commit %s (txn %llu)", durable ? "durable" : "non-durable",
	     (unsigned long long)id);
	kv_txn_set_durability(m->w,
	                      durable ? KV_DURABLE_IMMEDIATE : KV_DURABLE_NONE);
	rc = kv_txn_commit(m->w);
	wend_common(m);
	EXPECT_RC(m, rc, 0, "kv_txn_commit");
	mworld_release(&m->com);
	m->com = m->work;
	memset(&m->work, 0, sizeof(m->work));
	stat_env(m, &st);
	if (st.txnid != id && !(st.txnid == m->com_txnid && !m->wdirty))
		mfail(m, "after commit of txn %llu stat txnid is %llu",
		      (unsigned long long)id, (unsigned long long)st.txnid);
	if (st.txnid != m->com_txnid)
		m->reopened = false;
	m->com_txnid = st.txnid;
	if (durable && st.durable_txnid != st.txnid)
		mfail(m, "durable commit: durable_txnid %llu, txnid %llu",
		      (unsigned long long)st.durable_txnid,
		      (unsigned long long)st.txnid);
	if (st.durable_txnid > st.txnid)
		mfail(m, "durable_txnid %llu above txnid %llu",
		      (unsigned long long)st.durable_txnid,
		      (unsigned long long)st.txnid);
	m->commits++;
	m->durable += (uint64_t)durable;
}

static void wabort(struct mt *m)
{
	note(m, "abort");
	kv_txn_abort(m->w);
	wend_common(m);
	mworld_release(&m->work);
	m->aborts++;
}

/* Table handle i in the write txn; creates the table when create. */
static kv_table *wtable(struct mt *m, int i, int create)
{
	int rc;

	if (m->wh[i])
		return m->wh[i];
	rc = kv_table_open(m->w, tname(m, i), create ? KV_TABLE_CREATE : 0,
	                   &m->wh[i]);
	if (m->work.live.t[i] == NULL && !create) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_table_open absent");
		m->wh[i] = NULL;
		return NULL;
	}
	EXPECT_RC(m, rc, 0, "kv_table_open");
	if (strcmp(kv_table_name(m->wh[i]), tname(m, i)) != 0)
		mfail(m, "kv_table_name gives \"%.40s\"",
		      kv_table_name(m->wh[i]));
	if (m->work.live.t[i] == NULL) {
		m->work.live.t[i] = mtab_new();
		m->wdirty = 1;
	}
	return m->wh[i];
}

/* A change to table i ends the validity of value pointers from it. */
static void changed(struct mt *m, int i)
{
	int k = 0;

	for (int j = 0; j < m->nwptr; j++)
		if (m->wptr[j].table != i)
			m->wptr[k++] = m->wptr[j];
	m->nwptr = k;
	m->wdirty = 1;
}

static int pick_table(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NT);

	for (int j = 0; j < NT && m->work.live.t[i] == NULL; j++)
		i = (i + 1) % NT;
	return i;
}

static void check_count(struct mt *m, kv_table *h, int i, const char *what)
{
	if (kv_table_count(h) != m->work.live.t[i]->n)
		mfail(m, "%s: kv_table_count %llu, model %zu", what,
		      (unsigned long long)kv_table_count(h),
		      m->work.live.t[i]->n);
}

static void w_put(struct mt *m, unsigned flags)
{
	int i = pick_table(m);
	kv_table *h = wtable(m, i, 1);
	struct mtab *t = m->work.live.t[i];
	size_t klen;
	uint32_t vlen;
	uint64_t vtag = kt_rand(&m->rng);
	long at;
	int rc, want = 0;
	kv_val k, v;

	if (flags & KV_APPEND) {
		if (t->n && kt_chance(&m->rng, 4, 5)) {
			const struct mkey *last = t->e[t->n - 1].k;

			memcpy(m->kbuf, last->b, last->len);
			klen = last->len;
			if (klen < KV_MAX_KEY && kt_chance(&m->rng, 1, 2))
				m->kbuf[klen++] =
				        (unsigned char)kt_rand(&m->rng);
			else if (m->kbuf[klen - 1] < 0xff)
				m->kbuf[klen - 1]++;
			else if (klen < KV_MAX_KEY)
				m->kbuf[klen++] = 0;
		} else {
			klen = pick_key(m, t, 30);
		}
	} else {
		klen = pick_key(m, t, t->n > TARGET_KEYS ? 70 : 35);
	}
	vlen = rand_vlen(m, t);
	at = mtab_find(t, m->kbuf, klen);
	if ((flags & KV_NOOVERWRITE) && at >= 0)
		want = KV_EEXIST;
	if ((flags & KV_APPEND) && t->n &&
	    keycmp(m->kbuf, klen, t->e[t->n - 1].k->b, t->e[t->n - 1].k->len) <=
	            0)
		want = KV_EORDER;
	kt_fill(m->vbuf, vlen, vtag);
	note(m, "put%s t%d key %s (%zu) value %u%s",
	     flags & KV_APPEND        ? "/append"
	     : flags & KV_NOOVERWRITE ? "/nooverwrite"
	                              : "",
	     i, hex(m->kbuf, klen), klen, vlen, at >= 0 ? " (replace)" : "");
	k.data = m->kbuf;
	k.len = klen;
	v.data = m->vbuf;
	v.len = vlen;
	rc = kv_put(m->w, h, k, v, flags);
	EXPECT_RC(m, rc, want, "kv_put");
	if (rc == 0) {
		changed(m, i);
		mtab_put(&m->work.live.t[i], m->kbuf, klen, vlen, vtag);
		if (m->work.live.t[i]->n > m->largest)
			m->largest = m->work.live.t[i]->n;
	}
	check_count(m, h, i, "after put");
	if (kt_chance(&m->rng, 1, 4)) { /* read it back */
		rc = kv_get(m->w, h, k, &v);
		at = mtab_find(m->work.live.t[i], m->kbuf, klen);
		if (at < 0) {
			EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_get after put");
			return;
		}
		EXPECT_RC(m, rc, 0, "kv_get after put");
		check_val(m, &v, m->work.live.t[i]->e[at].vlen,
		          m->work.live.t[i]->e[at].vtag, "get after put");
	}
}

static void w_del(struct mt *m)
{
	int i = pick_table(m);
	kv_table *h = wtable(m, i, 1);
	struct mtab *t = m->work.live.t[i];
	size_t klen = pick_key(m, t, t->n > TARGET_KEYS ? 95 : 75);
	long at = mtab_find(t, m->kbuf, klen);
	kv_val k = { m->kbuf, klen }, v;
	int rc;

	note(m, "del t%d key %s (%zu)%s", i, hex(m->kbuf, klen), klen,
	     at >= 0 ? "" : " (absent)");
	rc = kv_del(m->w, h, k);
	EXPECT_RC(m, rc, at >= 0 ? 0 : KV_ENOTFOUND, "kv_del");
	if (at >= 0) {
		changed(m, i);
		mtab_del(&m->work.live.t[i], (size_t)at);
	}
	check_count(m, h, i, "after del");
	if (kt_chance(&m->rng, 1, 4))
		EXPECT_RC(m, kv_get(m->w, h, k, &v), KV_ENOTFOUND,
		          "kv_get after del");
}

static void do_get(struct mt *m, kv_txn *txn, kv_table *h, const struct mtab *t,
                   struct heldptr *hp, int *nhp, int table)
{
	size_t klen = pick_key(m, t, 70);
	long at = t ? mtab_find(t, m->kbuf, klen) : -1;
	kv_val k = { m->kbuf, klen }, v;
	int rc = kv_get(txn, h, k, &v);

	note(m, "get t%d key %s (%zu)%s", table, hex(m->kbuf, klen), klen,
	     at >= 0 ? "" : " (absent)");
	if (at < 0) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_get absent");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_get");
	check_val(m, &v, t->e[at].vlen, t->e[at].vtag, "kv_get");
	if (hp && t->e[at].vlen)
		hold_ptr(m, hp, nhp, &v, t->e[at].vlen, t->e[at].vtag, table);
}

static void w_get(struct mt *m)
{
	int i = pick_table(m);
	kv_table *h = wtable(m, i, 1);

	do_get(m, m->w, h, m->work.live.t[i], m->wptr, &m->nwptr, i);
}

static void w_cursor(struct mt *m)
{
	int i = pick_table(m);
	kv_table *h = wtable(m, i, 1);

	cursor_walk(m, m->w, h, m->work.live.t[i]);
}

/*
 * A cursor in a write txn stays usable across changes to other keys: it
 * re-finds its place by key, so next/prev go to the neighbours of its key
 * in the changed table.
 */
static void w_cursor_change(struct mt *m)
{
	int i = pick_table(m);
	kv_table *h = wtable(m, i, 1);
	struct mtab *t = m->work.live.t[i];
	kv_cursor *c;
	kv_val k, v, kk, vv;
	unsigned char pos[KV_MAX_KEY];
	size_t plen, klen, at;
	long other;
	int rc, del, fwd = kt_chance(&m->rng, 1, 2);
	uint64_t vtag = kt_rand(&m->rng);
	uint32_t vlen;

	if (t->n < 2)
		return;
	at = (size_t)kt_below(&m->rng, t->n);
	plen = t->e[at].k->len;
	memcpy(pos, t->e[at].k->b, plen);
	EXPECT_RC(m, kv_cursor_open(m->w, h, &c), 0, "kv_cursor_open");
	rc = kv_cursor_seek(c, (kv_val){ pos, plen }, &k, &v);
	check_pos(m, t, at, 0, rc, &k, &v, "seek before change");
	/* change another key: delete a neighbour or insert a new key */
	del = kt_chance(&m->rng, 1, 2);
	if (del) {
		size_t j = (size_t)kt_below(&m->rng, t->n - 1);

		if (j >= at)
			j++;
		klen = t->e[j].k->len;
		memcpy(m->kbuf, t->e[j].k->b, klen);
		note(m, "cursor at %s, del %s, then %s", hex(pos, plen),
		     hex(m->kbuf, klen), fwd ? "next" : "prev");
		EXPECT_RC(m, kv_del(m->w, h, (kv_val){ m->kbuf, klen }), 0,
		          "kv_del under a cursor");
		changed(m, i);
		mtab_del(&m->work.live.t[i], j);
	} else {
		klen = near_key(m, t);
		other = mtab_find(t, m->kbuf, klen);
		if (other >= 0 || keycmp(m->kbuf, klen, pos, plen) == 0) {
			kv_cursor_close(c);
			return;
		}
		vlen = (uint32_t)kt_range(&m->rng, 0, 3000);
		kt_fill(m->vbuf, vlen, vtag);
		note(m, "cursor at %s, put %s, then %s", hex(pos, plen),
		     hex(m->kbuf, klen), fwd ? "next" : "prev");
		EXPECT_RC(m,
		          kv_put(m->w, h, (kv_val){ m->kbuf, klen },
		                 (kv_val){ m->vbuf, vlen }, 0),
		          0, "kv_put under a cursor");
		changed(m, i);
		mtab_put(&m->work.live.t[i], m->kbuf, klen, vlen, vtag);
	}
	t = m->work.live.t[i];
	at = mtab_lower(t, pos, plen);
	if (fwd) {
		rc = kv_cursor_next(c, &kk, &vv);
		check_pos(m, t, at + 1, at + 1 >= t->n, rc, &kk, &vv,
		          "next after a change");
	} else {
		rc = kv_cursor_prev(c, &kk, &vv);
		check_pos(m, t, at ? at - 1 : 0, at == 0, rc, &kk, &vv,
		          "prev after a change");
	}
	kv_cursor_close(c);
}

static void w_table_create(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NT);

	note(m, "table open/create %d%s", i, m->work.live.t[i] ? "" : " (new)");
	m->wh[i] = NULL;
	wtable(m, i, 1);
	check_count(m, m->wh[i], i, "table create");
}

static void w_table_drop(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NT);
	int rc;

	note(m, "table drop %d%s", i, m->work.live.t[i] ? "" : " (absent)");
	rc = kv_table_drop(m->w, tname(m, i));
	if (m->work.live.t[i] == NULL) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_table_drop absent");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_table_drop");
	changed(m, i);
	mtab_unref(m->work.live.t[i]);
	m->work.live.t[i] = NULL;
	m->wh[i] = NULL;
	wtable(m, i, 0); /* must be gone */
}

static void w_snap_create(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NS);
	int rc = kv_snapshot_create(m->w, sname(m, i));
	struct kv_snapshot_info info;

	note(m, "snapshot create %d%s", i,
	     m->work.s[i].present ? " (exists)" : "");
	if (m->work.s[i].present) {
		EXPECT_RC(m, rc, KV_EEXIST, "kv_snapshot_create existing");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_snapshot_create");
	m->wdirty = 1;
	m->work.s[i].present = 1;
	m->work.s[i].txnid = m->com_txnid;
	mstate_copy(&m->work.s[i].st, &m->com.live);
	EXPECT_RC(m, kv_snapshot_get(m->w, sname(m, i), &info), 0,
	          "kv_snapshot_get after create");
	if (strcmp(info.name, sname(m, i)) != 0)
		mfail(m, "kv_snapshot_get name \"%.40s\"", info.name);
	check_info(m, &m->work.s[i], &info, "snapshot create");
}

static void w_snap_delete(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NS);
	int rc = kv_snapshot_delete(m->w, sname(m, i));
	struct kv_snapshot_info info;

	note(m, "snapshot delete %d%s", i,
	     m->work.s[i].present ? "" : " (absent)");
	if (!m->work.s[i].present) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_snapshot_delete absent");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_snapshot_delete");
	m->wdirty = 1;
	m->work.s[i].present = 0;
	mstate_release(&m->work.s[i].st);
	EXPECT_RC(m, kv_snapshot_get(m->w, sname(m, i), &info), KV_ENOTFOUND,
	          "kv_snapshot_get after delete");
}

static void w_snap_rename(struct mt *m)
{
	int a = (int)kt_below(&m->rng, NS), b = (int)kt_below(&m->rng, NS);
	int rc;

	if (a == b)
		return;
	note(m, "snapshot rename %d -> %d", a, b);
	rc = kv_snapshot_rename(m->w, sname(m, a), sname(m, b));
	if (!m->work.s[a].present) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_snapshot_rename absent");
		return;
	}
	if (m->work.s[b].present) {
		EXPECT_RC(m, rc, KV_EEXIST, "kv_snapshot_rename onto existing");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_snapshot_rename");
	m->wdirty = 1;
	m->work.s[b] = m->work.s[a];
	memset(&m->work.s[a], 0, sizeof(m->work.s[a]));
}

static void w_snap_restore(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NS);
	int rc = kv_snapshot_restore(m->w, sname(m, i));

	note(m, "snapshot restore %d%s", i,
	     m->work.s[i].present ? "" : " (absent)");
	if (!m->work.s[i].present) {
		EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_snapshot_restore absent");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_snapshot_restore");
	m->wdirty = 1;
	m->nwptr = 0;
	memset(m->wh, 0, sizeof(m->wh));
	mstate_release(&m->work.live);
	mstate_copy(&m->work.live, &m->work.s[i].st);
	if (kt_chance(&m->rng, 1, 3))
		full_compare(m, m->w, &m->work.live, "after restore");
}

/* Restore a random subset of the tables (maybe with a repeat) from a
 * random snapshot; the others, their handles and their value pointers
 * stay as they are. */
static void w_snap_restore_tables(struct mt *m)
{
	int i = (int)kt_below(&m->rng, NS), idx[NT + 1];
	const char *names[NT + 1];
	size_t n = 0;
	int rc;

	for (int t = 0; t < NT; t++)
		if (kt_chance(&m->rng, 1, 2)) {
			idx[n] = t;
			names[n++] = tname(m, t);
		}
	if (n && kt_chance(&m->rng, 1, 4)) {
		idx[n] = idx[0];
		names[n++] = names[0];
	}
	note(m, "snapshot restore %d, %zu tables%s", i, n,
	     m->work.s[i].present ? "" : " (absent)");
	rc = kv_snapshot_restore_tables(m->w, sname(m, i), names, n);
	if (!m->work.s[i].present) {
		EXPECT_RC(m, rc, KV_ENOTFOUND,
		          "kv_snapshot_restore_tables absent");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_snapshot_restore_tables");
	m->restores++;
	for (size_t j = 0; j < n; j++) {
		int t = idx[j];

		changed(m, t);
		m->wh[t] = NULL;
		mtab_unref(m->work.live.t[t]);
		m->work.live.t[t] = mtab_ref(m->work.s[i].st.t[t]);
	}
	for (int t = 0; t < NT; t++) /* handles of the others still work */
		if (m->wh[t])
			check_count(m, m->wh[t], t, "after a table restore");
	if (kt_chance(&m->rng, 1, 3))
		full_compare(m, m->w, &m->work.live, "after a table restore");
}

/* kv_table_diff against a merge of two model tables. */
struct mdiff {
	struct mt *m;
	const struct mtab *a, *b;
	size_t ia, ib;
	const char *what;
	uint64_t n;
};

static bool ment_same(struct mt *m, const struct ment *x, const struct ment *y)
{
	if (x->vlen != y->vlen)
		return false;
	if (x->vtag == y->vtag || x->vlen == 0)
		return true;
	kt_fill(m->vbuf, x->vlen, x->vtag);
	kt_fill(m->vbuf2, y->vlen, y->vtag);
	return memcmp(m->vbuf, m->vbuf2, x->vlen) == 0;
}

/* The next key at which the two model tables differ: 0 at the end, else 1
 * with its entries (NULL where absent). */
static int mdiff_next(struct mdiff *d, const struct ment **ea,
                      const struct ment **eb)
{
	for (;;) {
		const struct ment *x = d->ia < d->a->n ? &d->a->e[d->ia] : NULL;
		const struct ment *y = d->ib < d->b->n ? &d->b->e[d->ib] : NULL;
		int c;

		if (x == NULL && y == NULL)
			return 0;
		c = x == NULL ? 1
		    : y == NULL
		            ? -1
		            : keycmp(x->k->b, x->k->len, y->k->b, y->k->len);
		*ea = c <= 0 ? x : NULL;
		*eb = c >= 0 ? y : NULL;
		d->ia += c <= 0;
		d->ib += c >= 0;
		if (c != 0 || !ment_same(d->m, x, y))
			return 1;
	}
}

static void mdiff_side(struct mdiff *d, kv_val v, const struct ment *e,
                       const char *side)
{
	char w[128];

	if (e == NULL) {
		if (v.data != NULL)
			mfail(d->m,
			      "%s: the diff gives a value in %s, where "
			      "the model has no key",
			      d->what, side);
		return;
	}
	if (v.data == NULL)
		mfail(d->m, "%s: the diff says the key is not in %s", d->what,
		      side);
	snprintf(w, sizeof(w), "%s: value in %s", d->what, side);
	check_val(d->m, &v, e->vlen, e->vtag, w);
}

static int mdiff_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	struct mdiff *d = ctx;
	const struct ment *ea, *eb, *e;

	if (!mdiff_next(d, &ea, &eb))
		mfail(d->m, "%s: the diff reports key %s, the model no more",
		      d->what, hex(key.data, key.len));
	e = ea ? ea : eb;
	if (keycmp(key.data, key.len, e->k->b, e->k->len) != 0)
		mfail(d->m, "%s: the diff reports key %s, the model %s",
		      d->what, hex(key.data, key.len), hex(e->k->b, e->k->len));
	mdiff_side(d, va, ea, "a");
	mdiff_side(d, vb, eb, "b");
	d->n++;
	return 0;
}

/* Diff table t between txns a and b, whose models are ma and mb. */
static void check_diff(struct mt *m, kv_txn *a, kv_txn *b, int t,
                       const struct mtab *ma, const struct mtab *mb,
                       const char *what)
{
	struct mdiff d = {
		m, ma ? ma : &empty_tab, mb ? mb : &empty_tab, 0, 0, what, 0
	};
	const struct ment *ea, *eb;
	struct kv_diff_stat st;
	int rc;

	note(m, "diff t%d: %s", t, what);
	rc = kv_table_diff(a, b, tname(m, t), mdiff_cb, &d, &st);
	EXPECT_RC(m, rc, 0, "kv_table_diff");
	if (mdiff_next(&d, &ea, &eb))
		mfail(m, "%s: the diff misses key %s", what,
		      ea ? hex(ea->k->b, ea->k->len)
		         : hex(eb->k->b, eb->k->len));
	/* the model shares a table between states exactly where the engine
	 * shares its tree */
	if (ma == mb && st.pages_read != 0)
		mfail(m,
		      "%s: a table the two states share, diffed, read "
		      "%llu pages",
		      what, (unsigned long long)st.pages_read);
	m->diffs++;
	m->diff_keys += d.n;
	m->diff_pages += st.pages_read;
}

/* Diff a random table between a random other state (a snapshot, a
 * long-lived reader, the last commit) and the write txn, either way
 * round; without a write txn, between a snapshot and the last commit. */
static void diff_step(struct mt *m)
{
	int t = (int)kt_below(&m->rng, NT), k = (int)kt_below(&m->rng, NS);
	unsigned src = (unsigned)kt_below(&m->rng, 4);
	const struct mstate *ms = NULL, *mw;
	kv_txn *other = NULL, *w = m->w, *own = NULL;
	const char *what;
	int rc;

	if (src == 1 && m->rd[0].txn) {
		other = m->rd[0].txn;
		ms = &m->rd[0].st;
		what = "a long-lived reader";
	} else if (src == 2 && m->rd[1].txn) {
		other = m->rd[1].txn;
		ms = &m->rd[1].st;
		what = "a long-lived snapshot reader";
	} else if (src == 3 || !m->com.s[k].present) {
		rc = kv_txn_begin(m->env, KV_TXN_RDONLY, &own);
		EXPECT_RC(m, rc, 0, "kv_txn_begin for a diff");
		ms = &m->com.live;
		what = "the last commit";
	} else {
		rc = kv_txn_begin_snapshot(m->env, sname(m, k), &own);
		EXPECT_RC(m, rc, 0, "kv_txn_begin_snapshot for a diff");
		ms = &m->com.s[k].st;
		what = "a snapshot";
	}
	if (other == NULL)
		other = own;
	mw = w ? &m->work.live : &m->com.live;
	if (w == NULL) {
		rc = kv_txn_begin(m->env, KV_TXN_RDONLY, &w);
		EXPECT_RC(m, rc, 0, "kv_txn_begin for a diff");
	}
	if (kt_chance(&m->rng, 1, 2))
		check_diff(m, other, w, t, ms->t[t], mw->t[t], what);
	else
		check_diff(m, w, other, t, mw->t[t], ms->t[t], what);
	if (w != m->w)
		kv_txn_abort(w);
	if (own)
		kv_txn_abort(own);
}

static void w_misc_errors(struct mt *m)
{
	int i = pick_table(m);
	kv_table *h = wtable(m, i, 1), *h2;
	kv_val v;
	char name[KV_MAX_NAME + 2];

	note(m, "error cases");
	memset(m->kbuf, 'k', KV_MAX_KEY + 1);
	EXPECT_RC(
	        m,
	        kv_put(m->w, h, (kv_val){ m->kbuf, 0 }, (kv_val){ "v", 1 }, 0),
	        KV_EKEYSIZE, "kv_put empty key");
	EXPECT_RC(m,
	          kv_put(m->w, h, (kv_val){ m->kbuf, KV_MAX_KEY + 1 },
	                 (kv_val){ "v", 1 }, 0),
	          KV_EKEYSIZE, "kv_put key of KV_MAX_KEY+1");
	EXPECT_RC(m, kv_get(m->w, h, (kv_val){ m->kbuf, KV_MAX_KEY + 1 }, &v),
	          KV_EKEYSIZE, "kv_get key of KV_MAX_KEY+1");
	EXPECT_RC(m, kv_del(m->w, h, (kv_val){ m->kbuf, 0 }), KV_EKEYSIZE,
	          "kv_del empty key");
	EXPECT_RC(m, kv_table_open(m->w, "", KV_TABLE_CREATE, &h2), KV_EBADNAME,
	          "kv_table_open empty name");
	memset(name, 'n', KV_MAX_NAME + 1);
	name[KV_MAX_NAME + 1] = '\0';
	EXPECT_RC(m, kv_table_open(m->w, name, KV_TABLE_CREATE, &h2),
	          KV_EBADNAME, "kv_table_open name of KV_MAX_NAME+1");
	EXPECT_RC(m, kv_snapshot_create(m->w, name), KV_EBADNAME,
	          "kv_snapshot_create long name");
	EXPECT_RC(m, kv_snapshot_create(m->w, ""), KV_EBADNAME,
	          "kv_snapshot_create empty name");
	if (kv_strerror(KV_EKEYSIZE)[0] == '\0')
		mfail(m, "kv_strerror(KV_EKEYSIZE) is empty");
	check_count(m, h, i, "after error cases");
}

/* ---- the long-lived reader -------------------------------------------- */

static void r_begin(struct mt *m, struct lreader *r, int snap)
{
	int rc;

	if (snap < 0) {
		note(m, "reader begin");
		rc = kv_txn_begin(m->env, KV_TXN_RDONLY, &r->txn);
		EXPECT_RC(m, rc, 0, "kv_txn_begin rdonly");
		if (kv_txn_id(r->txn) != m->com_txnid)
			mfail(m, "read txn id %llu, last commit %llu",
			      (unsigned long long)kv_txn_id(r->txn),
			      (unsigned long long)m->com_txnid);
		r->txnid = m->com_txnid;
		mstate_copy(&r->st, &m->com.live);
	} else {
		note(m, "snapshot reader begin (snapshot %d)", snap);
		rc = kv_txn_begin_snapshot(m->env, sname(m, snap), &r->txn);
		EXPECT_RC(m, rc, 0, "kv_txn_begin_snapshot");
		r->txnid = kv_txn_id(r->txn);
		if (r->txnid != m->com.s[snap].txnid)
			mfail(m, "snapshot txn id %llu, the snapshot's %llu",
			      (unsigned long long)r->txnid,
			      (unsigned long long)m->com.s[snap].txnid);
		mstate_copy(&r->st, &m->com.s[snap].st);
	}
	if (!kv_txn_is_readonly(r->txn))
		mfail(m, "read txn is not read-only");
	r->snap = snap;
	memset(r->h, 0, sizeof(r->h));
	r->nptr = 0;
	r->age = 0;
}

static void r_end(struct mt *m, struct lreader *r)
{
	note(m, "%s end (txn %llu)", r->snap < 0 ? "reader" : "snapshot reader",
	     (unsigned long long)r->txnid);
	check_ptrs(m, r->ptr, r->nptr, "reader at its end", 1);
	if (kt_chance(&m->rng, 1, 2))
		kv_txn_abort(r->txn);
	else
		EXPECT_RC(m, kv_txn_commit(r->txn), 0, "commit of a read txn");
	r->txn = NULL;
	mstate_release(&r->st);
}

static void r_op(struct mt *m, struct lreader *r)
{
	int i = (int)kt_below(&m->rng, NT);
	kv_table *h;
	int rc;

	r->age++;
	check_ptrs(m, r->ptr, r->nptr, "reader", 0);
	if (kv_txn_id(r->txn) != r->txnid)
		mfail(m, "reader txn id changed");
	if (r->h[i] == NULL) {
		rc = kv_table_open(r->txn, tname(m, i), 0, &r->h[i]);
		if (r->st.t[i] == NULL) {
			EXPECT_RC(m, rc, KV_ENOTFOUND,
			          "reader open absent table");
			r->h[i] = NULL;
			return;
		}
		EXPECT_RC(m, rc, 0, "reader kv_table_open");
	}
	h = r->h[i];
	switch (kt_below(&m->rng, 4)) {
	case 0:
		rc = kv_put(r->txn, h, (kv_val){ "x", 1 }, (kv_val){ "y", 1 },
		            0);
		EXPECT_RC(m, rc, KV_EREADONLY, "kv_put in a read txn");
		EXPECT_RC(m, kv_del(r->txn, h, (kv_val){ "x", 1 }),
		          KV_EREADONLY, "kv_del in a read txn");
		/* fall through */
	case 1:
		cursor_walk(m, r->txn, h, r->st.t[i]);
		break;
	default:
		do_get(m, r->txn, h, r->st.t[i], r->ptr, &r->nptr, i);
		break;
	}
}

static int nreaders(const struct mt *m)
{
	return (m->rd[0].txn != NULL) + (m->rd[1].txn != NULL);
}

/* A short read txn on the last commit, sometimes a full comparison. */
static void read_check(struct mt *m, int full)
{
	kv_txn *txn;
	struct kv_stat st;
	int rc = kv_txn_begin(m->env, KV_TXN_RDONLY, &txn);

	note(m, "read check%s", full ? " (full)" : "");
	EXPECT_RC(m, rc, 0, "kv_txn_begin rdonly");
	if (full) {
		full_compare(m, txn, &m->com.live, "full compare");
		check_snap_list(m, txn, &m->com, "full compare");
	} else {
		int i = (int)kt_below(&m->rng, NT);
		kv_table *h;

		rc = kv_table_open(txn, tname(m, i), 0, &h);
		if (m->com.live.t[i]) {
			EXPECT_RC(m, rc, 0, "kv_table_open");
			cursor_walk(m, txn, h, m->com.live.t[i]);
		} else {
			EXPECT_RC(m, rc, KV_ENOTFOUND, "kv_table_open absent");
		}
	}
	stat_env(m, &st);
	if (st.readers < 1 + (uint64_t)nreaders(m))
		mfail(m, "kv_env_stat readers %llu with %d read txns open",
		      (unsigned long long)st.readers, 1 + nreaders(m));
	kv_txn_abort(txn);
	{
		int nt = 0, ns = 0;

		for (int i = 0; i < NT; i++)
			nt += m->com.live.t[i] != NULL;
		for (int i = 0; i < NS; i++)
			ns += m->com.s[i].present;
		if (st.tables != (uint64_t)nt || st.snapshots != (uint64_t)ns)
			mfail(m,
			      "kv_env_stat: %llu tables, %llu snapshots; "
			      "model %d, %d",
			      (unsigned long long)st.tables,
			      (unsigned long long)st.snapshots, nt, ns);
	}
}

/* Add the bytes of table t to *sum unless it was counted already. */
static void count_table(const struct mtab *t, const struct mtab **seen,
                        size_t *nseen, uint64_t *sum)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < *nseen; i++)
		if (seen[i] == t)
			return;
	seen[(*nseen)++] = t;
	for (size_t i = 0; i < t->n; i++)
		*sum += t->e[i].k->len + t->e[i].vlen + 64;
}

/*
 * Bytes of data anything can still see: the live tables, the snapshots and
 * the long-lived readers, each distinct model table once.  A table that
 * differs from another by a few keys is counted twice although the engine
 * shares most of its pages, so this overestimates.
 */
static uint64_t visible_bytes(const struct mt *m)
{
	const struct mtab *seen[NT * (NS + 4)];
	size_t nseen = 0;
	uint64_t sum = 0;

	for (int i = 0; i < NT; i++) {
		count_table(m->com.live.t[i], seen, &nseen, &sum);
		for (int j = 0; j < NS; j++)
			if (m->com.s[j].present)
				count_table(m->com.s[j].st.t[i], seen, &nseen,
				            &sum);
		for (int j = 0; j < 2; j++)
			if (m->rd[j].txn)
				count_table(m->rd[j].st.t[i], seen, &nseen,
				            &sum);
	}
	return sum;
}

/* Free space is reused: the file stays within a generous multiple of what
 * can still be seen (kv.h: only readers and snapshots hold space). */
static void check_size(struct mt *m)
{
	uint64_t data = visible_bytes(m);
	long long size = kt_file_size(m->path);

	if (size > (long long)(8 * data + 192ull * 1024 * 1024))
		mfail(m,
		      "the file is %lld bytes for %llu bytes of data that "
		      "the live state, snapshots and readers can see",
		      size, (unsigned long long)data);
	if ((uint64_t)size > m->largest_file)
		m->largest_file = (uint64_t)size;
}

static void do_check(struct mt *m)
{
	struct kv_check_report rep;
	char msgs[4096];
	int rc;

	note(m, "kv_check");
	rc = kt_check(m->env, &rep, msgs, sizeof(msgs));
	if (rc != 0 || rep.problems)
		mfail(m, "kv_check: rc %d (%s), %llu problems:\n%s", rc,
		      kt_err(rc), (unsigned long long)rep.problems, msgs);
	if (rep.pages_reachable + rep.pages_free > rep.pages_total + 2 ||
	    rep.pages_total == 0)
		mfail(m, "kv_check report: total %llu reachable %llu free %llu",
		      (unsigned long long)rep.pages_total,
		      (unsigned long long)rep.pages_reachable,
		      (unsigned long long)rep.pages_free);
	check_size(m);
	m->checks++;
}

static void reopen(struct mt *m)
{
	note(m, "close and reopen");
	for (int i = 0; i < 2; i++)
		if (m->rd[i].txn)
			r_end(m, &m->rd[i]);
	kv_env_close(m->env);
	m->env = NULL;
	env_open(m);
	read_check(m, 1);
	for (int i = 0; i < NS; i++)
		if (m->com.s[i].present && kt_chance(&m->rng, 1, 2)) {
			kv_txn *txn;

			EXPECT_RC(m,
			          kv_txn_begin_snapshot(m->env, sname(m, i),
			                                &txn),
			          0, "kv_txn_begin_snapshot after reopen");
			full_compare(m, txn, &m->com.s[i].st,
			             "snapshot after reopen");
			kv_txn_abort(txn);
		}
	check_size(m);
	m->reopens++;
}

/* A compacted copy of the live state or of a snapshot must hold exactly
 * that state, no snapshots, and pass kv_check. */
static void env_copy(struct mt *m)
{
	int snap = kt_chance(&m->rng, 1, 3) ? (int)kt_below(&m->rng, NS) : -1;
	char dest[4200], lock[4300], name[32];
	kv_env *copy;
	kv_txn *txn;
	struct mworld none;
	int rc;

	snprintf(name, sizeof(name), "copy%u", m->ncopies++);
	tmpdir_path(dest, sizeof(dest), m->dir, name);
	note(m, "copy %s to %s", snap < 0 ? "the live state" : sname(m, snap),
	     name);
	rc = kv_env_copy(m->env, dest, snap < 0 ? NULL : sname(m, snap), 0600);
	if (snap >= 0 && !m->com.s[snap].present) {
		EXPECT_RC(m, rc, KV_ENOTFOUND,
		          "kv_env_copy of an absent "
		          "snapshot");
		return;
	}
	EXPECT_RC(m, rc, 0, "kv_env_copy");
	rc = kv_env_copy(m->env, dest, NULL, 0600);
	if (rc != -EEXIST && rc != KV_EEXIST)
		mfail(m, "kv_env_copy onto an existing file: rc %d (%s)", rc,
		      kt_err(rc));
	EXPECT_RC(m, kv_env_open(&copy, dest, 0, 0600), 0, "open the copy");
	EXPECT_RC(m, kv_txn_begin(copy, KV_TXN_RDONLY, &txn), 0,
	          "begin on the copy");
	full_compare(m, txn, snap < 0 ? &m->com.live : &m->com.s[snap].st,
	             "the copy");
	memset(&none, 0, sizeof(none));
	check_snap_list(m, txn, &none, "the copy");
	kv_txn_abort(txn);
	{
		struct kv_check_report rep;
		char msgs[2048];

		rc = kt_check(copy, &rep, msgs, sizeof(msgs));
		if (rc || rep.problems)
			mfail(m, "kv_check of the copy: %s\n%s", kt_err(rc),
			      msgs);
	}
	kv_env_close(copy);
	snprintf(lock, sizeof(lock), "%s-lock", dest);
	unlink(dest);
	unlink(lock);
}

static void env_sync(struct mt *m)
{
	struct kv_stat st;

	note(m, "kv_env_sync");
	EXPECT_RC(m, kv_env_sync(m->env), 0, "kv_env_sync");
	stat_env(m, &st);
	if (st.durable_txnid != st.txnid)
		mfail(m, "after kv_env_sync: durable_txnid %llu, txnid %llu",
		      (unsigned long long)st.durable_txnid,
		      (unsigned long long)st.txnid);
}

/* A durable commit of a txn that changed nothing still makes the state it
 * read durable: once it returns, that state survives a power loss. */
static void empty_commit(struct mt *m)
{
	wbegin(m, 0);
	if (kt_chance(&m->rng, 1, 2))
		w_get(m);
	m->wdirty = 0;
	note(m, "empty durable commit");
	kv_txn_set_durability(m->w, KV_DURABLE_IMMEDIATE);
	m->forcedurable = 1;
	wcommit(m);
	m->forcedurable = 0;
}

/* Many KV_APPEND puts in a row, the bulk-load path. */
static void w_append_burst(struct mt *m)
{
	int i = pick_table(m);
	unsigned n = (unsigned)kt_range(&m->rng, 20, 300);

	(void)wtable(m, i, 1);
	note(m, "append burst of %u into t%d", n, i);
	for (unsigned j = 0; j < n; j++) {
		struct mtab *t = m->work.live.t[i];
		size_t klen;
		uint32_t vlen = (uint32_t)kt_range(&m->rng, 0, 300);
		uint64_t vtag = kt_rand(&m->rng);

		int rc;

		if (t->n) {
			const struct mkey *last = t->e[t->n - 1].k;

			/* the next key: bump the last byte below 0xff and cut
			 * what follows, or extend an all-0xff key */
			klen = last->len;
			memcpy(m->kbuf, last->b, klen);
			while (klen > 0 && m->kbuf[klen - 1] == 0xff)
				klen--;
			if (klen == 0) {
				klen = last->len;
				if (klen >= KV_MAX_KEY)
					return;
				m->kbuf[klen++] = 1;
			} else {
				m->kbuf[klen - 1]++;
			}
		} else {
			klen = 1;
			m->kbuf[0] = 'A';
		}
		kt_fill(m->vbuf, vlen, vtag);
		rc = kv_put(m->w, m->wh[i], (kv_val){ m->kbuf, klen },
		            (kv_val){ m->vbuf, vlen }, KV_APPEND);
		if (rc != 0)
			mfail(m,
			      "kv_put KV_APPEND of key %s (%zu) after %s "
			      "(%u), entry %u of the burst: rc %d (%s)",
			      hex(m->kbuf, klen), klen,
			      t->n ? hex(t->e[t->n - 1].k->b,
			                 t->e[t->n - 1].k->len)
			           : "-",
			      t->n ? t->e[t->n - 1].k->len : 0, j, rc,
			      kt_err(rc));
		changed(m, i);
		mtab_put(&m->work.live.t[i], m->kbuf, klen, vlen, vtag);
	}
	check_count(m, m->wh[i], i, "after an append burst");
}

/* ---- the driver ------------------------------------------------------ */

static void write_step(struct mt *m)
{
	uint64_t c = kt_below(&m->rng, 1000);

	if (m->nwptr)
		check_ptrs(m, m->wptr, m->nwptr, "write txn", 0);
	if (c < 330)
		w_put(m, 0);
	else if (c < 345)
		w_put(m, KV_NOOVERWRITE);
	else if (c < 360)
		w_put(m, KV_APPEND);
	else if (c < 500)
		w_del(m);
	else if (c < 640)
		w_get(m);
	else if (c < 730)
		w_cursor(m);
	else if (c < 745)
		w_cursor_change(m);
	else if (c < 755)
		w_table_create(m);
	else if (c < 758) {
		if (kt_chance(&m->rng, 1, 6)) /* rare: tables should grow */
			w_table_drop(m);
		else
			w_put(m, 0);
	} else if (c < 766)
		w_snap_create(m);
	else if (c < 773)
		w_snap_delete(m);
	else if (c < 775)
		w_snap_rename(m);
	else if (c < 777)
		w_snap_restore(m);
	else if (c < 779)
		w_snap_restore_tables(m);
	else if (c < 782) {
		note(m, "snapshot list (write txn)");
		check_snap_list(m, m->w, &m->work, "write txn");
	} else if (c < 787) {
		note(m, "table list (write txn)");
		check_table_list(m, m->w, &m->work.live, "write txn");
	} else if (c < 795)
		snap_read(m, 0);
	else if (c < 797)
		w_misc_errors(m);
	else if (c < 820 && m->rd[0].txn)
		r_op(m, &m->rd[0]);
	else if (c < 830 && m->rd[1].txn)
		r_op(m, &m->rd[1]);
	else if (c < 832)
		w_append_burst(m);
	else if (c < 860)
		wcommit(m);
	else if (c < 863)
		wabort(m);
	else if (c < 871)
		diff_step(m);
	else
		w_put(m, 0);
}

static void idle_step(struct mt *m)
{
	uint64_t c = kt_below(&m->rng, 1000);

	if (c < 8)
		reopen(m);
	else if (c < 12)
		do_check(m);
	else if (c < 30)
		read_check(m, 0);
	else if (c < 40 && m->rd[0].txn && m->rd[0].age > 20)
		r_end(m, &m->rd[0]);
	else if (c < 45 && m->rd[1].txn && m->rd[1].age > 20)
		r_end(m, &m->rd[1]);
	else if (c < 60 && m->rd[0].txn == NULL)
		r_begin(m, &m->rd[0], -1);
	else if (c < 65 && m->rd[1].txn == NULL) {
		int i = (int)kt_below(&m->rng, NS);

		if (m->com.s[i].present)
			r_begin(m, &m->rd[1], i);
	} else if (c < 68)
		env_copy(m);
	else if (c < 72)
		env_sync(m);
	else if (c < 75)
		empty_commit(m);
	else if (c < 78)
		snap_read(m, kt_chance(&m->rng, 1, 8));
	else if (c < 85)
		wbegin(m, 1);
	else if (c < 88)
		diff_step(m);
	else
		wbegin(m, 0);
}

static void model_run(uint64_t seed, uint64_t nops)
{
	struct mt *m = calloc(1, sizeof(*m));
	int compare_due = 0, check_due = 0;

	assert_non_null(m);
	m->seed = seed;
	m->nops = nops;
	kt_rng_init(&m->rng, seed);
	m->kbuf = xmalloc(KV_MAX_KEY + 16);
	m->vbuf = xmalloc(1024 * 1024 + 16);
	m->vbuf2 = xmalloc(1024 * 1024 + 16);
	memset(m->longname, 'T', KV_MAX_NAME);
	memset(m->longsnap, 'S', KV_MAX_NAME);
	m->dir = kt_tmpdir("model");
	tmpdir_path(m->path, sizeof(m->path), m->dir, "db");
	env_open(m);

	for (m->op = 0; m->op < nops; m->op++) {
		if (m->op % 2000 == 1999)
			compare_due = 1;
		if (m->op % 20000 == 19999)
			check_due = 1;
		if (m->w) {
			write_step(m);
			continue;
		}
		if (compare_due) {
			read_check(m, 1);
			compare_due = 0;
		} else if (check_due) {
			do_check(m);
			check_due = 0;
		} else {
			idle_step(m);
		}
	}
	if (m->w)
		wcommit(m);
	for (int i = 0; i < 2; i++)
		if (m->rd[i].txn)
			r_end(m, &m->rd[i]);
	read_check(m, 1);
	do_check(m);
	reopen(m);
	do_check(m);
	fprintf(stderr,
	        "model: %llu operations, %llu commits (%llu durable), "
	        "%llu aborts, %llu reopens, %llu checks, %llu big values, "
	        "largest table %zu entries, file %lld bytes (at most %llu); "
	        "%llu table restores; %llu diffs reported %llu keys, read "
	        "%llu pages\n",
	        (unsigned long long)nops, (unsigned long long)m->commits,
	        (unsigned long long)m->durable, (unsigned long long)m->aborts,
	        (unsigned long long)m->reopens, (unsigned long long)m->checks,
	        (unsigned long long)m->bigputs, m->largest,
	        kt_file_size(m->path), (unsigned long long)m->largest_file,
	        (unsigned long long)m->restores, (unsigned long long)m->diffs,
	        (unsigned long long)m->diff_keys,
	        (unsigned long long)m->diff_pages);
	kv_env_close(m->env);
	mworld_release(&m->com);
	free(m->kbuf);
	free(m->vbuf);
	free(m->vbuf2);
	free(m);
}

static uint64_t arg_ops;

static void test_model_random(void **state)
{
	uint64_t nops = kt_env_u64("CCC_MODEL_OPS", DEFAULT_OPS);

	(void)state;
	if (nops < MIN_OPS)
		nops = MIN_OPS;
	if (kt_long())
		nops = 2000000;
	if (arg_ops)
		nops = arg_ops;
	model_run(kt_seed("model"), nops);
}

/*
 * Regression: a durable commit of a write txn that changed nothing returned
 * 0 without an fsync (kv_txn_commit skips unchanged txns), so the
 * non-durable commits before it stayed non-durable although the caller was
 * told the state it read survives a power loss.  kv_env_stat showed it:
 * durable_txnid stayed below txnid.
 */
static void test_empty_durable_commit(void **state)
{
	const char *dir = kt_tmpdir("model-empty");
	char path[4096];
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	struct kv_stat st;

	(void)state;
	tmpdir_path(path, sizeof(path), dir, "db");
	assert_int_equal(kv_env_open(&env, path, KV_CREATE, 0600), 0);
	/* the first commit after an open is always durable */
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_table_open(txn, "t", KV_TABLE_CREATE, &t), 0);
	assert_int_equal(
	        kv_put(txn, t, (kv_val){ "k", 1 }, (kv_val){ "v", 1 }, 0), 0);
	kv_txn_set_durability(txn, KV_DURABLE_NONE);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_env_stat(env, &st), 0);
	assert_true(st.durable_txnid < st.txnid);

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	kv_txn_set_durability(txn, KV_DURABLE_IMMEDIATE);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(kv_env_stat(env, &st), 0);
	if (st.durable_txnid != st.txnid)
		fail_msg("a durable commit returned, but durable_txnid is %llu "
		         "and txnid %llu: the state it read is not durable",
		         (unsigned long long)st.durable_txnid,
		         (unsigned long long)st.txnid);
	kv_env_close(env);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, kt_teardown)
		T(test_empty_durable_commit),
		T(test_model_random),
#undef T
	};

	if (argc > 1)
		arg_ops = strtoull(argv[1], NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
