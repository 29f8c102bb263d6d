/*
 * fuzz_db.c: open and check a mutated database file.
 *
 * The input is written to a private temporary file and opened read-only,
 * twice: as it is, and with every page's checksum made right again
 * (kv/format.h), so that mutations get past the checksums to the structure
 * checks behind them.  When the store opens, kv_check() runs, every
 * table and snapshot is read from end to end with cursors, and each table
 * of each snapshot is diffed against the live state (kv_table_diff).
 *
 * Invariants: nothing crashes or reads out of bounds (the sanitizers
 * watch); every call returns 0 or an error code; and when kv_check() finds
 * the store clean, reading every table succeeds and yields the counts the
 * catalog claims, and each diff reports what a merge of two cursors finds.
 *
 * Regression inputs in corpus/fuzz_db/ (the first three ran into a SIGBUS
 * while opening, reading through the map past the end of the file):
 *   regress-node-offset.db     a leaf whose node offset points 64 KiB on:
 *                              the checker compared keys before the node
 *                              bounds were checked (fixed in kv/check.c);
 *   regress-next-pgno-wrap.db  a meta slot whose next_pgno times the page
 *                              size wraps around to the file size, so the
 *                              truncation check passed (fixed in
 *                              pick_meta(), now in kv/env.c);
 *   regress-log-run-wrap.db    a meta slot whose commit log run is longer
 *                              than the file: log_pgno > next_pgno -
 *                              log_npages wrapped around (fixed in
 *                              read_slot(), now in kv/env.c);
 *   regress-log-pgno-unused.db a meta slot with no log run and a log_pgno
 *                              of 2^52 - 1, whose byte offset wraps to
 *                              minus one page: recovery's scan for logged
 *                              commits formed that pointer before it saw
 *                              the run was empty (clang's UBSan; fixed in
 *                              kv/log.c);
 *   regress-snapshot-count-huge.db  a snapshot tree whose count says 2^32 - 1:
 *                              the first write txn (here recovery's)
 *                              allocated an array that large up front
 *                              (fixed in kv/snapshot.c: it grows with the
 *                              records found).
 * The seed log.db has commits to repeat from its log (its newest meta slot
 * is zeroed), and reseal() seals log records too, so that mutations reach
 * the replay of their operations.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include <cccfs/kv.h>

#include "format.h"
#include "fuzz.h"

#define MAX_INPUT (256u * KV_PAGE_SIZE)

static char dir[4096], path[4200], lock[4300];

static void cleanup(void)
{
	unlink(path);
	unlink(lock);
	rmdir(dir);
}

static void setup_path(void)
{
	const char *base = getenv("TMPDIR");

	if (path[0])
		return;
	if (base == NULL || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/cccfs-fuzz-db-XXXXXX", base);
	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	atexit(cleanup);
}

static bool write_file(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok;

	FUZZ_ASSERT(fd >= 0);
	ok = write(fd, data, size) == (ssize_t)size;
	close(fd);
	return ok;
}

/* Is page i in the commit log run that a meta slot of p names? */
static bool in_log_run(const uint8_t *p, size_t npages, size_t i)
{
	for (size_t slot = 0; slot < 2 && slot < npages; slot++) {
		const uint8_t *m = p + slot * KV_PAGE_SIZE;
		uint64_t first = get64(m + MF_LOG_PGNO);
		uint64_t n = get64(m + MF_LOG_NPAGES);

		if (get64(m + MF_MAGIC) == KV_MAGIC && first >= 2 &&
		    i >= first && i - first < n)
			return true;
	}
	return false;
}

/* Recompute the checksums of the records of the log run that meta slot
 * names, so that mutations reach the operations they carry. */
static void reseal_log(uint8_t *p, size_t npages, size_t slot)
{
	const uint8_t *m = p + slot * KV_PAGE_SIZE;
	uint64_t first = get64(m + MF_LOG_PGNO);
	uint64_t n = get64(m + MF_LOG_NPAGES);
	uint64_t off = 0, cap;
	uint8_t *log;

	if (get64(m + MF_MAGIC) != KV_MAGIC || first < 2 || first >= npages ||
	    n > npages - first)
		return;
	log = p + first * KV_PAGE_SIZE;
	cap = n * KV_PAGE_SIZE;
	while (cap - off >= LR_HDR &&
	       get32(log + off + LR_MAGIC) == LOG_MAGIC) {
		uint32_t len = get32(log + off + LR_LEN);
		XXH3_state_t st;

		if (len > cap - off - LR_HDR)
			break;
		XXH3_64bits_reset(&st);
		XXH3_64bits_update(&st, log + off, LR_CHECK);
		XXH3_64bits_update(&st, log + off + LR_HDR, len);
		put64(log + off + LR_CHECK, XXH3_64bits_digest(&st));
		off += ((uint64_t)LR_HDR + len + 7) & ~7ull;
	}
}

/* Recompute the checksum of every page, and of whole overflow runs, and of
 * every record in the commit log. */
static void reseal(uint8_t *p, size_t size)
{
	size_t npages = size / KV_PAGE_SIZE;

	for (size_t i = 0; i < npages; i++) {
		uint8_t *pg = p + i * KV_PAGE_SIZE;
		size_t len = KV_PAGE_SIZE;

		if (i >= 2 && in_log_run(p, npages, i))
			continue;
		if (get16(pg + PH_TYPE) == PT_OVERFLOW) {
			uint32_t run = get32(pg + PH_EXTRA);

			if (run >= 1 && run <= npages - i)
				len = (size_t)run * KV_PAGE_SIZE;
		}
		put64(pg + PH_CHECKSUM, XXH3_64bits(pg + 8, len - 8));
	}
	for (size_t slot = 0; slot < 2 && slot < npages; slot++)
		reseal_log(p, npages, slot);
}

/* Read every entry of table name; returns 0 or the first error. */
static int read_table(kv_txn *txn, const char *name)
{
	kv_table *t;
	kv_cursor *cu;
	kv_val k, v;
	uint64_t n = 0;
	int rc = kv_table_open(txn, name, 0, &t);

	if (rc != 0)
		return rc;
	rc = kv_cursor_open(txn, t, &cu);
	if (rc != 0)
		return rc;
	for (rc = kv_cursor_first(cu, &k, &v); rc == 0;
	     rc = kv_cursor_next(cu, &k, &v)) {
		volatile uint8_t sink = 0;

		if (k.len)
			sink ^= ((const uint8_t *)k.data)[k.len - 1];
		if (v.len)
			sink ^= ((const uint8_t *)v.data)[v.len - 1];
		(void)sink;
		n++;
	}
	kv_cursor_close(cu);
	if (rc != KV_ENOTFOUND)
		return rc;
	if (n != kv_table_count(t))
		return KV_ECORRUPT;
	rc = kv_cursor_open(txn, t, &cu);
	if (rc != 0)
		return rc;
	for (rc = kv_cursor_last(cu, &k, &v); rc == 0 && n > 0;
	     rc = kv_cursor_prev(cu, &k, &v))
		n--;
	kv_cursor_close(cu);
	return rc == KV_ENOTFOUND && n == 0 ? 0 : rc ? rc : KV_ECORRUPT;
}

struct walk {
	kv_txn *txn;
	int rc;
	char snaps[8][KV_MAX_NAME + 1];
	unsigned nsnaps;
};

static int table_cb(void *ctx, const char *name, uint64_t count)
{
	struct walk *w = ctx;
	int rc = read_table(w->txn, name);

	(void)count;
	if (rc && !w->rc)
		w->rc = rc;
	return 0;
}

static int snap_cb(void *ctx, const struct kv_snapshot_info *si)
{
	struct walk *w = ctx;

	if (w->nsnaps < 8)
		memcpy(w->snaps[w->nsnaps++], si->name, sizeof(si->name));
	return 0;
}

/* Every table of txn, read; the error of the first that fails. */
static int read_all(kv_txn *txn, struct walk *w)
{
	int rc;

	w->txn = txn;
	w->rc = 0;
	rc = kv_table_list(txn, table_cb, w);
	return rc ? rc : w->rc;
}

/* ---- diffs ------------------------------------------------------------ */

struct names {
	char name[8][KV_MAX_NAME + 1];
	unsigned n;
};

static int name_cb(void *ctx, const char *name, uint64_t count)
{
	struct names *nm = ctx;

	(void)count;
	if (nm->n < 8)
		memcpy(nm->name[nm->n++], name, strlen(name) + 1);
	return 0;
}

/* What a diff reported: how many keys, and a hash of them and of which
 * side each was on. */
struct tally {
	uint64_t n, hash;
};

static void tally_add(struct tally *t, kv_val key, int sides)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < key.len; i++)
		h = (h ^ ((const uint8_t *)key.data)[i]) * 1099511628211ull;
	t->n++;
	t->hash += h * 3 + (uint64_t)sides;
}

static int diff_cb(void *ctx, kv_val key, kv_val va, kv_val vb)
{
	volatile uint8_t sink = 0;

	if (va.len)
		sink ^= ((const uint8_t *)va.data)[va.len - 1];
	if (vb.len)
		sink ^= ((const uint8_t *)vb.data)[vb.len - 1];
	(void)sink;
	tally_add(ctx, key, (va.data != NULL) | (vb.data != NULL) << 1);
	return 0;
}

/* A cursor on table name, or NULL when txn has no such table. */
static int cursor_on(kv_txn *txn, const char *name, kv_cursor **c)
{
	kv_table *t;
	int rc = kv_table_open(txn, name, 0, &t);

	*c = NULL;
	if (rc == KV_ENOTFOUND)
		return 0;
	return rc ? rc : kv_cursor_open(txn, t, c);
}

static int step(kv_cursor *c, bool first, kv_val *k, kv_val *v)
{
	if (c == NULL)
		return KV_ENOTFOUND;
	return first ? kv_cursor_first(c, k, v) : kv_cursor_next(c, k, v);
}

/* The diff the slow way: two cursors merged. */
static int merge_diff(kv_txn *a, kv_txn *b, const char *name, struct tally *t)
{
	kv_cursor *ca, *cb;
	kv_val ka, va, kb, vb;
	int ra, rb, rc = cursor_on(a, name, &ca);

	if (rc == 0)
		rc = cursor_on(b, name, &cb);
	if (rc != 0) {
		kv_cursor_close(ca);
		return rc;
	}
	ra = step(ca, true, &ka, &va);
	rb = step(cb, true, &kb, &vb);
	while (ra == 0 || rb == 0) {
		int c;

		if (ra == 0 && rb == 0) {
			size_t n = ka.len < kb.len ? ka.len : kb.len;

			c = memcmp(ka.data, kb.data, n);
			if (c == 0)
				c = ka.len < kb.len ? -1 : ka.len > kb.len;
		} else {
			c = ra == 0 ? -1 : 1;
		}
		if (c < 0) {
			tally_add(t, ka, 1);
			ra = step(ca, false, &ka, &va);
		} else if (c > 0) {
			tally_add(t, kb, 2);
			rb = step(cb, false, &kb, &vb);
		} else {
			if (va.len != vb.len ||
			    (va.len && memcmp(va.data, vb.data, va.len) != 0))
				tally_add(t, ka, 3);
			ra = step(ca, false, &ka, &va);
			rb = step(cb, false, &kb, &vb);
		}
	}
	kv_cursor_close(ca);
	kv_cursor_close(cb);
	if (ra != KV_ENOTFOUND)
		return ra;
	return rb != KV_ENOTFOUND ? rb : 0;
}

/* Each table of snapshot snap and of the live state, diffed between the
 * two both ways round; on a clean store, as the merge of cursors finds. */
static void diff_snapshot(kv_env *env, const char *snap, int check)
{
	struct names nm = { .n = 0 };
	kv_txn *s, *l;
	int rc;

	if (kv_txn_begin_snapshot(env, snap, &s) != 0)
		return;
	if (kv_txn_begin(env, KV_TXN_RDONLY, &l) != 0) {
		kv_txn_abort(s);
		return;
	}
	rc = kv_table_list(s, name_cb, &nm);
	if (rc == 0)
		rc = kv_table_list(l, name_cb, &nm);
	FUZZ_ASSERT(check != 0 || rc == 0);
	for (unsigned i = 0; i < nm.n; i++) {
		struct tally d1 = { 0, 0 }, d2 = { 0, 0 }, slow = { 0, 0 };
		int r1 = kv_table_diff(s, l, nm.name[i], diff_cb, &d1, NULL);
		int r2 = kv_table_diff(l, s, nm.name[i], diff_cb, &d2, NULL);

		FUZZ_ASSERT(r1 <= 0 && r2 <= 0);
		if (check != 0)
			continue;
		FUZZ_ASSERT(r1 == 0 && r2 == 0);
		FUZZ_ASSERT(merge_diff(s, l, nm.name[i], &slow) == 0);
		FUZZ_ASSERT(d1.n == slow.n && d1.hash == slow.hash);
		FUZZ_ASSERT(d2.n == slow.n);
	}
	kv_txn_abort(l);
	kv_txn_abort(s);
}

static void open_and_check(void)
{
	struct kv_check_report rep;
	struct walk w;
	kv_env *env;
	kv_txn *txn;
	int rc, check;

	if (kv_env_open(&env, path, KV_RDONLY, 0600) != 0)
		return;
	check = kv_check(env, NULL, NULL, &rep);
	FUZZ_ASSERT(check == 0 || check < 0);
	FUZZ_ASSERT(check != 0 || rep.problems == 0);
	memset(&w, 0, sizeof(w));
	if (kv_txn_begin(env, KV_TXN_RDONLY, &txn) == 0) {
		rc = read_all(txn, &w);
		FUZZ_ASSERT(check != 0 || rc == 0);
		rc = kv_snapshot_list(txn, snap_cb, &w);
		FUZZ_ASSERT(check != 0 || rc == 0);
		kv_txn_abort(txn);
	}
	for (unsigned i = 0; i < w.nsnaps; i++) {
		rc = kv_txn_begin_snapshot(env, w.snaps[i], &txn);
		FUZZ_ASSERT(check != 0 || rc == 0);
		if (rc != 0)
			continue;
		rc = read_all(txn, &w);
		FUZZ_ASSERT(check != 0 || rc == 0);
		kv_txn_abort(txn);
		diff_snapshot(env, w.snaps[i], check);
	}
	kv_env_close(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size > MAX_INPUT)
		return 0;
	setup_path();
	if (write_file(data, size))
		open_and_check();
	copy = malloc(size ? size : 1);
	FUZZ_ASSERT(copy != NULL);
	memcpy(copy, data, size);
	reseal(copy, size);
	if (write_file(copy, size))
		open_and_check();
	free(copy);
	return 0;
}
