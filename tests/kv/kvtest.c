/*
 * kvtest.c: see kvtest.h.
 */
#include "kvtest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void kt_rng_init(struct kt_rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t kt_rand(struct kt_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

uint64_t kt_below(struct kt_rng *r, uint64_t n)
{
	return n ? kt_rand(r) % n : 0;
}

uint64_t kt_range(struct kt_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + kt_below(r, hi - lo + 1);
}

int kt_chance(struct kt_rng *r, unsigned num, unsigned den)
{
	return kt_below(r, den) < num;
}

uint64_t kt_seed(const char *suite)
{
	const char *e = getenv("CCC_SEED");
	uint64_t seed;

	if (e && *e) {
		seed = strtoull(e, NULL, 0);
	} else {
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		x ^= (uint64_t)getpid() << 32;
		seed = splitmix64(&x);
	}
	fprintf(stderr, "%s: seed %llu (replay with CCC_SEED=%llu)\n", suite,
	        (unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

uint64_t kt_env_u64(const char *name, uint64_t def)
{
	const char *e = getenv(name);

	if (e == NULL || !*e)
		return def;
	return strtoull(e, NULL, 0);
}

int kt_long(void)
{
	const char *e = getenv("CCC_LONG");

	return e && *e && strcmp(e, "0") != 0;
}

/* Word i of value (len, tag). */
static uint64_t vword(uint64_t tag, uint64_t len, uint64_t i)
{
	uint64_t x = tag * 0x9e3779b97f4a7c15ull + len * 0xd1b54a32d192ed03ull +
	             i * 0xa0761d6478bd642full;

	x ^= x >> 32;
	x *= 0xe7037ed1a0b428dbull;
	x ^= x >> 29;
	return x;
}

void kt_fill(void *buf, size_t len, uint64_t tag)
{
	unsigned char *p = buf;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = vword(tag, len, i / 8);

		memcpy(p + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = vword(tag, len, i / 8);

		memcpy(p + i, &w, len - i);
	}
}

long kt_vcheck(const void *p, size_t len, uint64_t tag)
{
	const unsigned char *b = p;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = vword(tag, len, i / 8);

		if (memcmp(b + i, &w, 8) != 0)
			goto bytewise;
	}
	if (i < len) {
		uint64_t w = vword(tag, len, i / 8);

		if (memcmp(b + i, &w, len - i) != 0)
			goto bytewise;
	}
	return -1;
bytewise:
	for (size_t j = i; j < len; j++) {
		uint64_t w = vword(tag, len, j / 8);

		if (b[j] != (unsigned char)(w >> (8 * (j % 8))))
			return (long)j;
	}
	return -1;
}

long kt_vcheck_part(const void *p, size_t len, uint64_t tag, size_t off,
                    size_t n)
{
	const unsigned char *b = p;

	if (off > len)
		off = len;
	if (n > len - off)
		n = len - off;
	for (size_t j = off; j < off + n; j++) {
		uint64_t w = vword(tag, len, j / 8);

		if (b[j] != (unsigned char)(w >> (8 * (j % 8))))
			return (long)j;
	}
	return -1;
}

static const char *made[16];
static int nmade;

const char *kt_tmpdir(const char *tag)
{
	const char *d = tmpdir_make(tag);

	if (nmade < 16)
		made[nmade++] = d;
	return d;
}

int kt_teardown(void **state)
{
	const char *keep = getenv("CCC_KEEP");

	(void)state;
	for (int i = 0; i < nmade; i++) {
		if (keep && *keep && strcmp(keep, "0") != 0)
			fprintf(stderr, "kept %s\n", made[i]);
		else
			tmpdir_remove(made[i]);
	}
	nmade = 0;
	return 0;
}

long long kt_file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	return (long long)st.st_size;
}

struct check_ctx {
	char *buf;
	size_t n, used;
	unsigned lines;
};

static void check_cb(void *ctx, const char *msg)
{
	struct check_ctx *c = ctx;
	int w;

	if (c->buf == NULL || c->lines >= 20 || c->used + 1 >= c->n)
		return;
	w = snprintf(c->buf + c->used, c->n - c->used, "  %s\n", msg);
	if (w > 0)
		c->used += (size_t)w < c->n - c->used ? (size_t)w
		                                      : c->n - c->used - 1;
	c->lines++;
}

int kt_check(kv_env *env, struct kv_check_report *rep, char *msgs, size_t n)
{
	struct check_ctx c = { msgs, n, 0, 0 };

	if (msgs && n)
		msgs[0] = '\0';
	memset(rep, 0, sizeof(*rep));
	return kv_check(env, check_cb, &c, rep);
}

void kt_check_clean(kv_env *env, const char *when)
{
	struct kv_check_report rep;
	char msgs[4096];
	int rc = kt_check(env, &rep, msgs, sizeof(msgs));

	if (rc != 0 || rep.problems != 0)
		fail_msg("kv_check %s: rc %d (%s), %llu problems:\n%s", when,
		         rc, kt_err(rc), (unsigned long long)rep.problems,
		         msgs);
}

const char *kt_err(int rc)
{
	static _Thread_local char buf[700];

	snprintf(buf, sizeof(buf), "%s; last message: \"%s\"", kv_strerror(rc),
	         kv_errmsg());
	return buf;
}

uint64_t kt_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* ---- faults at the file layer --------------------------------------- */

/* One undo record: the header, then len bytes of old content. */
struct undo_rec {
	uint64_t off; /* byte offset, or the old size for a size change */
	uint32_t len; /* bytes of old content that follow; 0: size change */
	uint32_t magic;
};

#define UNDO_MAGIC 0x554e444fu
#define SYNCED_MAGIC 0x53594e43u /* a range a synced write made durable */

static int raw_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool fio_is_db(const struct kt_fio *f, int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == f->dev &&
	       st.st_ino == f->ino;
}

static int fio_log(struct kt_fio *f, uint64_t off, const void *old,
                   uint32_t len)
{
	unsigned char rec[sizeof(struct undo_rec) + KT_DISK_PAGE];
	struct undo_rec r = { off, len, UNDO_MAGIC };

	/* one write per record: a child killed mid-record leaves a short
	 * tail that kt_power_loss() ignores */
	memcpy(rec, &r, sizeof(r));
	if (len)
		memcpy(rec + sizeof(r), old, len);
	if (write(f->logfd, rec, sizeof(r) + len) != (ssize_t)(sizeof(r) + len))
		return -EIO;
	return 0;
}

/* Log the old bytes of [off, end), block by block. */
static int fio_log_range(struct kt_fio *f, int fd, uint64_t off, uint64_t end)
{
	while (off < end) {
		uint64_t stop = (off / KT_DISK_PAGE + 1) * KT_DISK_PAGE;
		unsigned char old[KT_DISK_PAGE];

		if (stop > end)
			stop = end;
		memset(old, 0, sizeof(old));
		if (pread(fd, old, (size_t)(stop - off), (off_t)off) < 0 ||
		    fio_log(f, off, old, (uint32_t)(stop - off)))
			return -EIO;
		off = stop;
	}
	return 0;
}

static int fio_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Count an operation and apply the crash and one-shot failure plans.
 * Returns 0 to go on, or the error the operation fails with; *tearing is
 * set when a crashing write is to be torn rather than dropped.
 */
static int fio_plan(struct kt_fio *f, int kind, uint64_t off, bool *tearing)
{
	*tearing = false;
	if (f->dead)
		return -EIO;
	f->ops++;
	f->nkind[kind]++;
	if (f->crash_at && f->ops >= f->crash_at) {
		f->dead = true;
		f->faults++;
		f->fault_kind = kind;
		f->fault_off = off;
		*tearing = f->tear && kind == KT_OP_WRITE;
		return -EIO;
	}
	if (f->fail_nth && f->fail_kind == kind &&
	    f->nkind[kind] == f->fail_nth) {
		f->fail_nth = 0;
		f->faults++;
		f->fault_kind = kind;
		f->fault_off = off;
		return f->fail_rc ? f->fail_rc : -EIO;
	}
	return 0;
}

/* Write [off, off + len) of buf to the database, logging first. */
static int fio_store(struct kt_fio *f, int fd, const unsigned char *buf,
                     uint64_t off, uint64_t len)
{
	uint64_t size;
	int rc;

	if (len == 0)
		return 0;
	rc = fio_size(fd, &size);
	if (rc != 0)
		return rc;
	if (off + len > size && (rc = fio_log(f, size, NULL, 0)))
		return rc;
	if ((rc = fio_log_range(f, fd, off, off + len)))
		return rc;
	return raw_pwrite(fd, buf, (size_t)len, off);
}

/* A crash in the middle of a write: the blocks before a chosen one
 * reached the disk, that one half, the others nothing. */
static void fio_tear(struct kt_fio *f, int fd, const unsigned char *buf,
                     size_t len, uint64_t off)
{
	uint64_t r = kt_mix(f->tear_seed ^ 0x7465617275ull);
	uint64_t nblocks = (len + KT_DISK_PAGE - 1) / KT_DISK_PAGE;
	uint64_t cut = r % nblocks, at = cut * KT_DISK_PAGE;
	uint64_t blen = len - at < KT_DISK_PAGE ? len - at : KT_DISK_PAGE;
	uint64_t half = blen / 2;

	fio_store(f, fd, buf, off, at);
	if ((r >> 32) & 1)
		fio_store(f, fd, buf + at, off + at, half);
	else
		fio_store(f, fd, buf + at + half, off + at + half, blen - half);
}

static int fio_pwrite(void *ctx, int fd, const void *buf, size_t len,
                      uint64_t off)
{
	struct kt_fio *f = ctx;
	uint64_t keep = len;
	bool tearing;
	int rc;

	if (!fio_is_db(f, fd))
		return raw_pwrite(fd, buf, len, off);
	rc = fio_plan(f, KT_OP_WRITE, off, &tearing);
	if (tearing)
		fio_tear(f, fd, buf, len, off);
	if (rc != 0)
		return rc;
	if (f->full_at && f->full_at != UINT64_MAX && off + len > f->full_at) {
		keep = off < f->full_at ? f->full_at - off : 0;
		f->faults++;
		f->fault_kind = KT_OP_WRITE;
		f->fault_off = off;
	}
	rc = fio_store(f, fd, buf, off, keep);
	if (rc == 0 && keep < len)
		rc = -ENOSPC;
	return rc;
}

/* A synced write: stored and logged like a write, then a marker that
 * keeps kt_power_loss() from putting back what it stored. */
static int fio_pwrite_sync(void *ctx, int fd, const void *buf, size_t len,
                           uint64_t off)
{
	struct kt_fio *f = ctx;
	struct undo_rec r = { off, (uint32_t)len, SYNCED_MAGIC };
	int rc;

	if (!fio_is_db(f, fd)) {
		rc = raw_pwrite(fd, buf, len, off);
		return rc ? rc : fdatasync(fd) < 0 ? -errno : 0;
	}
	rc = fio_pwrite(ctx, fd, buf, len, off);
	if (rc != 0)
		return rc; /* torn or failed: nothing of it is durable */
	if (len > UINT32_MAX ||
	    write(f->logfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return -EIO;
	return 0;
}

static int fio_sync(void *ctx, int fd)
{
	struct kt_fio *f = ctx;
	bool tearing;
	int rc;

	if (!fio_is_db(f, fd))
		return fdatasync(fd) < 0 ? -errno : 0;
	rc = fio_plan(f, KT_OP_SYNC, 0, &tearing);
	if (rc != 0)
		return rc;
	if (ftruncate(f->logfd, 0) < 0)
		return -errno;
	return 0;
}

static int fio_truncate(void *ctx, int fd, uint64_t size)
{
	struct kt_fio *f = ctx;
	uint64_t old;
	bool tearing;
	int rc;

	if (!fio_is_db(f, fd))
		return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	rc = fio_plan(f, KT_OP_TRUNCATE, size, &tearing);
	if (rc != 0)
		return rc;
	if (f->full_truncate && f->full_at && f->full_at != UINT64_MAX &&
	    size > f->full_at) {
		f->faults++;
		f->fault_kind = KT_OP_TRUNCATE;
		f->fault_off = size;
		return -ENOSPC;
	}
	rc = fio_size(fd, &old);
	if (rc != 0)
		return rc;
	/* undone newest first: the size comes back, then the bytes */
	if (size < old && (rc = fio_log_range(f, fd, size, old)))
		return rc;
	if ((rc = fio_log(f, old, NULL, 0)))
		return rc;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	return 0;
}

int kt_fio_init(struct kt_fio *f, const char *path, const char *logpath)
{
	struct stat st;
	int fd;

	memset(f, 0, sizeof(*f));
	f->logfd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	close(fd);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->logfd =
	        open(logpath,
	             O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
	if (f->logfd < 0)
		return -errno;
	f->io.ctx = f;
	f->io.pwrite = fio_pwrite;
	f->io.sync = fio_sync;
	f->io.truncate = fio_truncate;
	f->io.pwrite_sync = fio_pwrite_sync;
	return 0;
}

void kt_fio_release(struct kt_fio *f)
{
	if (f->logfd >= 0)
		close(f->logfd);
	f->logfd = -1;
}

struct undo_entry {
	uint64_t off;
	uint32_t len;
	bool synced; /* a marker: [off, off + len) is durable from here on */
	off_t at;    /* offset of the old bytes in the log */
};

/* Read the complete records of the log; a torn last one is left out. */
static size_t undo_read(int lfd, struct undo_entry **out)
{
	struct undo_entry *e = NULL;
	size_t n = 0, cap = 0;
	struct undo_rec r;
	off_t at = 0, end = lseek(lfd, 0, SEEK_END);

	while (pread(lfd, &r, sizeof(r), at) == (ssize_t)sizeof(r) &&
	       ((r.magic == UNDO_MAGIC && r.len <= KT_DISK_PAGE) ||
	        r.magic == SYNCED_MAGIC) &&
	       at + (off_t)sizeof(r) +
	                       (r.magic == UNDO_MAGIC ? (off_t)r.len : 0) <=
	               end) {
		bool synced = r.magic == SYNCED_MAGIC;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			e = realloc(e, cap * sizeof(*e));
			assert_non_null(e);
		}
		e[n].off = r.off;
		e[n].len = r.len;
		e[n].synced = synced;
		e[n].at = at + (off_t)sizeof(r);
		n++;
		at += (off_t)sizeof(r) + (synced ? 0 : (off_t)r.len);
	}
	*out = e;
	return n;
}

/* In the old bytes of entry i, keep what the file holds wherever a later
 * synced write covered it: those bytes reached the disk. */
static void keep_synced(int dfd, const struct undo_entry *e, size_t n, size_t i,
                        unsigned char *old)
{
	uint64_t lo = e[i].off, hi = e[i].off + e[i].len;

	for (size_t j = i + 1; j < n; j++) {
		uint64_t a, b;

		if (!e[j].synced)
			continue;
		a = e[j].off > lo ? e[j].off : lo;
		b = e[j].off + e[j].len < hi ? e[j].off + e[j].len : hi;
		if (a < b)
			assert_int_equal(pread(dfd, old + (a - lo),
			                       (size_t)(b - a), (off_t)a),
			                 (ssize_t)(b - a));
	}
}

unsigned kt_power_loss(const char *path, const char *logpath,
                       struct kt_rng *rng, enum kt_loss mode, uint64_t head,
                       unsigned *nlogged)
{
	int lfd = open(logpath, O_RDONLY | O_CLOEXEC);
	int dfd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char old[KT_DISK_PAGE];
	struct undo_entry *e;
	size_t n, cut;
	unsigned undone = 0;

	assert_true(lfd >= 0 && dfd >= 0);
	if (mode == KT_LOSE_RANDOM)
		mode = (enum kt_loss)kt_below(rng, KT_LOSE_RANDOM);
	n = undo_read(lfd, &e);
	cut = mode == KT_LOSE_AFTER && n ? (size_t)kt_below(rng, n + 1) : 0;
	for (size_t i = n; i-- > 0;) {
		bool lose = mode == KT_LOSE_ALL     ? true
		            : mode == KT_LOSE_HALF  ? kt_chance(rng, 1, 2)
		            : mode == KT_LOSE_AFTER ? i >= cut
		            : mode == KT_LOSE_HEAD ? e[i].len && e[i].off < head
		                                   : false;

		if (!lose || e[i].synced)
			continue;
		if (e[i].len == 0) {
			assert_int_equal(ftruncate(dfd, (off_t)e[i].off), 0);
		} else {
			assert_int_equal(pread(lfd, old, e[i].len, e[i].at),
			                 (ssize_t)e[i].len);
			keep_synced(dfd, e, n, i, old);
			assert_int_equal(
			        raw_pwrite(dfd, old, e[i].len, e[i].off), 0);
		}
		undone++;
	}
	free(e);
	close(lfd);
	close(dfd);
	assert_int_equal(truncate(logpath, 0), 0);
	if (nlogged)
		*nlogged = (unsigned)n;
	return undone;
}
