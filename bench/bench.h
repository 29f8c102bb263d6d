/*
 * bench.h - the port between the benchmark driver (kv_bench.c) and the
 * engines it measures (eng_cccfs.c, eng_lmdb.c, eng_sqlite.c,
 * eng_rocksdb.c).
 *
 * Used by every file in bench/; uses only the C library.  The driver owns
 * the workload: it decides which items are written, read and removed, and
 * times each phase.  An engine turns those requests into its own calls, in
 * the way its documentation recommends, and nothing else: it never chooses
 * data and never times anything.
 *
 * Items are numbered.  Item i has a 24-byte key and a 150-byte value that
 * are pure functions of i (bench_key(), bench_value()), so every engine gets
 * the same bytes without the driver holding the data set in memory, and a
 * reader can check what it got back.
 *
 * Errors: an engine that fails calls bench_die(), which prints the message
 * and exits the engine's child process with status 1; the parent reports the
 * failure.  A benchmark cannot carry on after a failed call, so there is no
 * unwinding here.
 */
#ifndef CCCFS_BENCH_H
#define CCCFS_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BENCH_KEY_LEN 24u
#define BENCH_VAL_LEN 150u

/* ---- the data set ----------------------------------------------------- */

#define BENCH_GOLDEN 0x9e3779b97f4a7c15ull
#define BENCH_KEY_SEED 0x6b65792d73656564ull /* "key-seed" */
#define BENCH_VAL_SEED 0x76616c2d73656564ull /* "val-seed" */

/* The n-th output (n >= 1) of the splitmix64 generator started at seed. */
static inline uint64_t bench_splitmix(uint64_t seed, uint64_t n)
{
	uint64_t z = seed + n * BENCH_GOLDEN;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A stream of random item numbers in [0, limit), for the read phases. */
struct bench_rng {
	uint64_t seed;
	uint64_t n;
};

static inline uint64_t bench_rng_below(struct bench_rng *r, uint64_t limit)
{
	/* The modulo bias is below 2^-40 for any limit we use. */
	return bench_splitmix(r->seed, ++r->n) % limit;
}

static inline void bench_fill(uint64_t seed, uint64_t item, uint8_t *out,
                              size_t len)
{
	uint64_t base = item * 32; /* 32 words per item: room for 150 bytes */
	size_t off;

	for (off = 0; off < len; off += 8) {
		uint64_t w = bench_splitmix(seed, ++base);
		size_t n = len - off < 8 ? len - off : 8;

		memcpy(out + off, &w, n);
	}
}

static inline void bench_key(uint64_t item, uint8_t out[BENCH_KEY_LEN])
{
	bench_fill(BENCH_KEY_SEED, item, out, BENCH_KEY_LEN);
}

static inline void bench_value(uint64_t item, uint8_t out[BENCH_VAL_LEN])
{
	bench_fill(BENCH_VAL_SEED, item, out, BENCH_VAL_LEN);
}

static inline uint64_t bench_load64(const void *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/*
 * What a reader folds into its checksum for one value: its length and its
 * first and last eight bytes, so the bytes are really fetched (at both ends
 * of the value, which spans three cache lines) without the checksum costing
 * more than the lookup.
 */
static inline uint64_t bench_sum_value(const void *val, size_t len)
{
	const uint8_t *v = val;

	if (len < 8)
		return len;
	return len + bench_load64(v) + bench_load64(v + len - 8);
}

/* The same for one entry of a range read: the key is part of the answer. */
static inline uint64_t bench_sum_entry(const void *key, size_t klen,
                                       const void *val, size_t vlen)
{
	return bench_sum_value(key, klen) * 31 + bench_sum_value(val, vlen);
}

/* ---- the engine port -------------------------------------------------- */

struct bench_db;     /* an open database, engine-defined */
struct bench_reader; /* one thread's read view, engine-defined */

struct bench_engine {
	const char *name; /* as given to --engines */
	const char *(*version)(void);

	/* Open (creating) a database in the empty directory dir. */
	struct bench_db *(*open)(const char *dir);
	void (*close)(struct bench_db *db);

	/*
	 * Put items [first, first + count) in one transaction and commit it,
	 * durably (fsync'ed before returning) or not.
	 */
	void (*write)(struct bench_db *db, uint64_t first, uint64_t count,
	              int durable);
	/* Make every earlier commit durable.  Not timed. */
	void (*sync)(struct bench_db *db);
	/* Delete items [first, first + count) in one durable transaction. */
	void (*remove)(struct bench_db *db, uint64_t first, uint64_t count);
	/* The exact number of entries. */
	uint64_t (*count)(struct bench_db *db);

	/*
	 * A read view for the calling thread, used by that thread only.
	 * get() returns 0 and the value, which stays valid until the next call
	 * on the reader, or 1 when the key is absent.  scan() visits up to
	 * limit entries from the first key >= key, adds bench_sum_entry() of
	 * each to *sum, and returns how many it visited.
	 */
	struct bench_reader *(*reader_open)(struct bench_db *db);
	void (*reader_close)(struct bench_reader *r);
	int (*get)(struct bench_reader *r, const uint8_t *key, size_t klen,
	           const void **val, size_t *vlen);
	unsigned (*scan)(struct bench_reader *r, const uint8_t *key,
	                 size_t klen, unsigned limit, uint64_t *sum);

	/*
	 * Compact the database as the engine's documentation recommends,
	 * into the empty directory dest when the engine compacts by copying,
	 * and return the bytes the compacted database occupies.
	 */
	uint64_t (*compact)(struct bench_db *db, const char *dest);
};

extern const struct bench_engine bench_cccfs;
extern const struct bench_engine bench_lmdb;
extern const struct bench_engine bench_sqlite;
extern const struct bench_engine bench_rocksdb;

/* ---- helpers shared by the engines (kv_bench.c) ----------------------- */

#if defined(__GNUC__)
#define BENCH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BENCH_PRINTF(f, a)
#endif

/* Print "kv-bench: <who>: <message>" and exit the process with status 1. */
_Noreturn void bench_die(const char *who, const char *fmt, ...)
        BENCH_PRINTF(2, 3);
void *bench_malloc(size_t size);
/* Bytes in the file at path, or in every file below the directory path. */
uint64_t bench_path_size(const char *path);
/* "dir/name" in a new buffer. */
char *bench_join(const char *dir, const char *name);

#endif /* CCCFS_BENCH_H */
