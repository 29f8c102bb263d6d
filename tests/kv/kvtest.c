/*
 * kvtest.c: see kvtest.h.
 */
#include "kvtest.h"

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

	if (!e || !*e)
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

	if (!c->buf || c->lines >= 20 || c->used + 1 >= c->n)
		return;
	w = snprintf(c->buf + c->used, c->n - c->used, "  %s\n", msg);
	if (w > 0)
		c->used += (size_t)w < c->n - c->used ? (size_t)w
		                                      : c->n - c->used - 1;
	c->lines++;
}

int kt_check(kv_env *env, struct kv_check_report *rep, char *msgs, size_t n)
{
	struct check_ctx c = {msgs, n, 0, 0};

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
