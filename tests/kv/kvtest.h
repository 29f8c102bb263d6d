/*
 * kvtest.h: helpers shared by the kv whole-system suites (model, crash,
 * concurrency, space, bad files).  They use the public kv.h only.
 *
 *   - a small seeded PRNG (splitmix64 seeding xoshiro256**), the seed taken
 *     from CCC_SEED when set;
 *   - self-verifying values: the bytes of a value are a pure function of
 *     (length, tag), so a model stores two integers instead of the bytes;
 *   - integrity check and environment-variable helpers;
 *   - a fault-injecting struct kv_io with an undo log, and power losses
 *     played from that log.
 *
 * Compiled into each suite's executable (see meson.build).
 */
#ifndef CCCFS_TESTS_KVTEST_H
#define CCCFS_TESTS_KVTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cccfs/kv.h>

struct kt_rng {
	uint64_t s[4];
};

void kt_rng_init(struct kt_rng *r, uint64_t seed);
uint64_t kt_rand(struct kt_rng *r);
/* A 64-bit finalizer (murmur3's): spreads x over all bits. */
uint64_t kt_mix(uint64_t x);
/* Uniform in [0, n); n > 0. */
uint64_t kt_below(struct kt_rng *r, uint64_t n);
/* Uniform in [lo, hi]. */
uint64_t kt_range(struct kt_rng *r, uint64_t lo, uint64_t hi);
/* 1 with probability num/den. */
int kt_chance(struct kt_rng *r, unsigned num, unsigned den);

/* The seed for this run: CCC_SEED if set, else one from the clock and pid.
 * Printed to stderr with the suite's name so a failing run can be replayed. */
uint64_t kt_seed(const char *suite);

/* Integer environment variable, or def when unset or empty. */
uint64_t kt_env_u64(const char *name, uint64_t def);
/* 1 when CCC_LONG is set to something other than "" or "0". */
int kt_long(void);

/* Fill buf with the len bytes of value (len, tag). */
void kt_fill(void *buf, size_t len, uint64_t tag);
/* Offset of the first byte of p that differs from value (len, tag), or
 * -1 when all len bytes match. */
long kt_vcheck(const void *p, size_t len, uint64_t tag);

/* Like kt_vcheck() for bytes [off, off + n) of a value of len bytes that
 * starts at p. */
long kt_vcheck_part(const void *p, size_t len, uint64_t tag, size_t off,
                    size_t n);

/*
 * A private temporary directory (tests/support/tmpdir.h), remembered so that
 * kt_teardown() removes it even when the test failed half-way.  With
 * CCC_KEEP=1 the directories are kept and their paths printed.
 */
const char *kt_tmpdir(const char *tag);
/* cmocka teardown: remove every directory made by kt_tmpdir(). */
int kt_teardown(void **state);

/* Size of the file at path in bytes; -1 if it cannot be stat'ed. */
long long kt_file_size(const char *path);

/*
 * Run kv_check(); returns its result and fills rep.  Up to the first 20
 * problem lines are collected into msgs (may be NULL, size n).
 */
int kt_check(kv_env *env, struct kv_check_report *rep, char *msgs, size_t n);
/* kv_check() must be clean: fails the current cmocka test otherwise. */
void kt_check_clean(kv_env *env, const char *when);

/* Names for errors in failure messages: kv_strerror(rc) and kv_errmsg(). */
const char *kt_err(int rc);

/* ---- faults at the file layer --------------------------------------- */

/*
 * The simulated disk writes whole KT_DISK_PAGE blocks atomically, except
 * where a fault tears one.  It is the engine's page size (test_crash.c and
 * test_faults.c check that with _Static_assert).
 */
#define KT_DISK_PAGE 4096u

enum kt_op {
	KT_OP_WRITE = 1,
	KT_OP_SYNC = 2,
	KT_OP_TRUNCATE = 3,
};

/*
 * kt_fio: a struct kv_io over the database file that logs what each change
 * replaces and injects faults.  Operations on any other file (the lock file)
 * pass through untouched and are not counted.
 *
 * The undo log: before a write, the old bytes of every block it covers
 * (and the old size, when it extends the file) go to a log file beside the
 * database; before a truncate, the old size (and the bytes a shrink cuts
 * off).  A successful sync empties the log: what it covered is on stable
 * storage.  A synced write (pwrite_sync) is logged like a write, followed
 * by a marker of its range: a power loss never puts back bytes of that
 * range that the synced write stored.  kt_power_loss() plays a power
 * failure by putting back some of the logged changes.  The log is a file so that a parent can play the
 * power loss of a child it killed.  No real fdatasync is made: the page
 * cache survives everything these tests do, and the log alone decides what
 * a power loss keeps.
 *
 * The fault plan, set before or between operations (zero: no fault):
 *   crash_at  the world stops at this operation (1-based, all kinds on the
 *             database): it and every later one fail with -EIO and change
 *             nothing, and dead is set.  With tear, a write at crash_at is
 *             applied up to a block chosen by tear_seed, that block half
 *             (first or second half, by tear_seed too), the rest not at all.
 *   fail_kind, fail_nth, fail_rc
 *             the fail_nth-th operation of kind fail_kind (counting from
 *             kt_fio_init) fails with fail_rc and changes nothing; once.
 *   full_at   the disk is full from this byte offset on: a write stores the
 *             bytes below it, then fails with -ENOSPC; with full_truncate,
 *             growing the file past it fails with -ENOSPC as well (ftruncate
 *             of a sparse file does not, fallocate does).  UINT64_MAX or 0:
 *             no limit.
 */
struct kt_fio {
	struct kv_io io; /* pass &f->io to kv_env_open_io() */

	uint64_t crash_at;
	bool tear;
	uint64_t tear_seed;
	int fail_kind;
	uint64_t fail_nth;
	int fail_rc;
	uint64_t full_at;
	bool full_truncate;

	uint64_t ops;      /* operations on the database so far */
	uint64_t nkind[4]; /* of them, by enum kt_op */
	uint64_t faults;   /* operations that failed by the plan */
	bool dead;         /* crash_at was reached */
	int fault_kind;    /* kind and offset (writes: first byte; truncate:
	                        new size) of the last faulted operation */
	uint64_t fault_off;

	int logfd;
	dev_t dev;
	ino_t ino;
};

/*
 * Start a kt_fio for the database at path (created empty when missing),
 * with its undo log at logpath (created or emptied).  Returns 0 or -errno.
 */
int kt_fio_init(struct kt_fio *f, const char *path, const char *logpath);
/* Close the undo log; the kt_fio must no longer be in use. */
void kt_fio_release(struct kt_fio *f);

/* Which logged changes a power loss puts back (newest first). */
enum kt_loss {
	KT_LOSE_NONE,   /* everything written reached the disk */
	KT_LOSE_ALL,    /* nothing since the last sync did */
	KT_LOSE_HALF,   /* each change independently with probability 1/2:
	                   the disk reordered the unsynced writes */
	KT_LOSE_AFTER,  /* every change after a random point: in order */
	KT_LOSE_HEAD,   /* only the writes to bytes below head */
	KT_LOSE_RANDOM, /* one of the above, chosen with rng */
};

/*
 * Play a power loss on the database at path (no environment may have it
 * open) from the undo log at logpath, then empty the log.  rng may be NULL
 * for KT_LOSE_NONE, KT_LOSE_ALL and KT_LOSE_HEAD.  Returns the number of
 * changes put back; *nlogged (may be NULL) gets the number logged.
 */
unsigned kt_power_loss(const char *path, const char *logpath,
                       struct kt_rng *rng, enum kt_loss mode, uint64_t head,
                       unsigned *nlogged);

#endif
