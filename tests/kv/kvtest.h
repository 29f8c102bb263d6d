/*
 * kvtest.h: helpers shared by the kv whole-system suites (model, crash,
 * concurrency, space, bad files).  They use the public kv.h only.
 *
 *   - a small seeded PRNG (splitmix64 seeding xoshiro256**), the seed taken
 *     from CCC_SEED when set;
 *   - self-verifying values: the bytes of a value are a pure function of
 *     (length, tag), so a model stores two integers instead of the bytes;
 *   - integrity check and environment-variable helpers.
 *
 * Compiled into each suite's executable (see meson.build).
 */
#ifndef CCCFS_TESTS_KVTEST_H
#define CCCFS_TESTS_KVTEST_H

#include <stddef.h>
#include <stdint.h>

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

#endif
