/*
 * kv_bench.c - the engine benchmark: cccfs kv against LMDB, SQLite and
 * RocksDB, on the workload of redb's published comparison.
 *
 * The workload.  Entries have 24-byte keys and 150-byte values, both random
 * bytes from a fixed splitmix64 generator indexed by item number (bench.h),
 * so every engine stores exactly the same data in the same order, and the
 * data set is never held in memory.  The phases run in this order on one
 * database, each timed in milliseconds: bulk load of N entries in one
 * durable transaction; 1,000 individual durable writes (one commit each);
 * 100 durable batches of 1,000 writes; 50,000 non-durable writes, one commit
 * each; len(); 1,000,000 random point reads of loaded keys; 500,000 random
 * range reads of 10 entries from a loaded key; the same 1,000,000 point
 * reads split over 2 threads; removal of half the loaded entries in one
 * durable transaction; and compaction, with the size of the database before
 * and after it.  All writes insert new keys.  Every read phase runs inside
 * one read transaction per thread (a snapshot for RocksDB), as redb's does.
 *
 * Fairness.  Each engine is configured as its documentation recommends for
 * durable use and is otherwise left at its defaults: LMDB with default
 * (synced) commits and a map size it cannot outgrow, MDB_NOSYNC only for
 * the non-durable phase; SQLite in WAL mode with synchronous=FULL
 * (synchronous=OFF for the non-durable phase), one WITHOUT ROWID table with
 * a BLOB primary key, prepared statements; RocksDB with default options and
 * sync writes, sync=false for the non-durable phase; cccfs with
 * KV_DURABLE_IMMEDIATE and KV_DURABLE_NONE.  After the non-durable phase
 * every engine is synced, untimed, so no engine carries unsynced work into
 * a later timed phase.  Each engine runs in its own forked child, one after
 * the other, in a fresh directory that is deleted afterwards, so peak RSS
 * (getrusage) is per engine and no engine runs beside another.  RSS counts
 * resident pages of mapped files: the mmap engines (cccfs, LMDB) show the
 * part of the database they touched, while SQLite and RocksDB read through
 * the kernel page cache, which RSS does not count.  Sizes are the bytes of
 * every file in the engine's directory (so SQLite's WAL and RocksDB's logs
 * count); compaction is the engine's own: kv_env_copy(), mdb_env_copy2()
 * with MDB_CP_COMPACT, VACUUM INTO, and RocksDB's CompactRange, and its
 * time is given for information only, as the four do different work.
 *
 * Checks.  Every point read must find its key, and the checksum of the
 * values read must equal the one computed from the generator; every range
 * read must find at least its start key, and all engines must agree on the
 * entries and checksum of the range phase; len() must equal the number of
 * entries written, before and after the removals.  A failed check ends the
 * run with a message naming the engine, and a non-zero exit status.
 *
 * With --runs K the whole sequence runs K times and each cell is the median
 * (peak RSS: the largest); run r starts with the r-th engine, so with as
 * many runs as engines each goes first once.  The table gives, per phase, each engine's time
 * and its ratio to the fastest engine on that row.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define INDIVIDUAL_WRITES 1000u
#define BATCHES 100u
#define BATCH_SIZE 1000u
#define NOSYNC_WRITES 50000u
#define READS 1000000u
#define SCANS 500000u
#define SCAN_LEN 10u
#define READ_THREADS 2u
#define MAX_ENGINES 8
#define MAX_RUNS 99

#define READ_SEED 0x7265616473ull /* "reads" */
#define SCAN_SEED 0x7363616e73ull /* "scans" */

enum phase {
	PH_LOAD,
	PH_INDIVIDUAL,
	PH_BATCH,
	PH_NOSYNC,
	PH_LEN,
	PH_READ,
	PH_RANGE,
	PH_READ_MT,
	PH_REMOVE,
	PH_COMPACT,
	PH_COUNT
};

static const char *const phase_names[PH_COUNT] = {
	"bulk load",
	"individual writes",
	"batch writes",
	"nosync writes",
	"len()",
	"random reads",
	"random range reads",
	"random reads (2 threads)",
	"removals",
	"compaction",
};

/* What one engine's child sends back to the parent. */
struct result {
	double ms[PH_COUNT];
	uint64_t size_before, size_after; /* bytes */
	uint64_t range_entries, range_sum;
	long maxrss_kib;
};

struct options {
	uint64_t n;
	unsigned runs;
	const char *dir;
	const struct bench_engine *engines[MAX_ENGINES];
	unsigned nengines;
};

static const struct bench_engine *const all_engines[] = {
	&bench_cccfs,
	&bench_lmdb,
	&bench_sqlite,
	&bench_rocksdb,
};

/* ---- helpers ---------------------------------------------------------- */

static int in_child;   /* bench_die() must not clean up from a child */
static char *temp_dir; /* the directory we made and remove at exit */

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "kv-bench: remove %s: %s\n", path,
		        strerror(errno));
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

_Noreturn void bench_die(const char *who, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "kv-bench: %s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* A child may have engine threads running: leave without running
	 * their static destructors under them. */
	if (in_child)
		_exit(1);
	if (temp_dir)
		remove_tree(temp_dir);
	exit(1);
}

void *bench_malloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		bench_die("kv-bench", "out of memory (%zu bytes)", size);
	return p;
}

char *bench_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = bench_malloc(dl + nl + 2);

	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

static uint64_t size_total; /* nftw() passes no context */

static int add_size(const char *path, const struct stat *st, int type,
                    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F)
		size_total += (uint64_t)st->st_size;
	return 0;
}

uint64_t bench_path_size(const char *path)
{
	size_total = 0;
	if (nftw(path, add_size, 16, FTW_PHYS) != 0)
		bench_die("kv-bench", "size of %s: %s", path, strerror(errno));
	return size_total;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0)
		bench_die("kv-bench", "mkdir %s: %s", path, strerror(errno));
}

/* ---- the read phases -------------------------------------------------- */

/* One thread's share of a read phase. */
struct read_job {
	const struct bench_engine *e;
	struct bench_db *db;
	uint64_t seed;
	uint64_t ops;   /* point reads, or range reads */
	uint64_t items; /* keys are drawn from items [0, items) */
	uint64_t sum;
	uint64_t entries; /* range reads: entries visited */
};

static void point_reads(struct read_job *j)
{
	struct bench_reader *r = j->e->reader_open(j->db);
	struct bench_rng rng = { j->seed, 0 };
	uint8_t key[BENCH_KEY_LEN];
	uint64_t i;

	for (i = 0; i < j->ops; i++) {
		uint64_t item = bench_rng_below(&rng, j->items);
		const void *val;
		size_t vlen;

		bench_key(item, key);
		if (j->e->get(r, key, sizeof(key), &val, &vlen) != 0)
			bench_die(j->e->name,
			          "random read %llu: item %llu not found",
			          (unsigned long long)i,
			          (unsigned long long)item);
		j->sum += bench_sum_value(val, vlen);
	}
	j->e->reader_close(r);
}

static void *point_reads_thread(void *arg)
{
	point_reads(arg);
	return NULL;
}

static void range_reads(struct read_job *j)
{
	struct bench_reader *r = j->e->reader_open(j->db);
	struct bench_rng rng = { j->seed, 0 };
	uint8_t key[BENCH_KEY_LEN];
	uint64_t i;

	for (i = 0; i < j->ops; i++) {
		uint64_t item = bench_rng_below(&rng, j->items);
		unsigned n;

		bench_key(item, key);
		n = j->e->scan(r, key, sizeof(key), SCAN_LEN, &j->sum);
		if (n == 0)
			bench_die(j->e->name,
			          "range read %llu: start item %llu not found",
			          (unsigned long long)i,
			          (unsigned long long)item);
		j->entries += n;
	}
	j->e->reader_close(r);
}

/* The checksum that point_reads() must arrive at, from the generator. */
static uint64_t expected_sum(const struct read_job *j)
{
	struct bench_rng rng = { j->seed, 0 };
	uint8_t val[BENCH_VAL_LEN];
	uint64_t i, sum = 0;

	for (i = 0; i < j->ops; i++) {
		bench_value(bench_rng_below(&rng, j->items), val);
		sum += bench_sum_value(val, sizeof(val));
	}
	return sum;
}

static void check_sum(const struct read_job *j, const char *phase)
{
	uint64_t want = expected_sum(j);

	if (j->sum != want)
		bench_die(j->e->name,
		          "%s: values read have checksum %llu, expected %llu",
		          phase, (unsigned long long)j->sum,
		          (unsigned long long)want);
}

static void parallel_point_reads(const struct bench_engine *e,
                                 struct bench_db *db, uint64_t items,
                                 struct read_job jobs[READ_THREADS])
{
	const uint64_t share = READS / READ_THREADS;
	pthread_t tid[READ_THREADS];
	unsigned t;
	int rc;

	for (t = 0; t < READ_THREADS; t++) {
		jobs[t] = (struct read_job){
			.e = e,
			.db = db,
			.seed = READ_SEED + 1 + t,
			.ops = share +
			       (t == 0 ? READS - share * READ_THREADS : 0),
			.items = items,
		};
		rc = pthread_create(&tid[t], NULL, point_reads_thread,
		                    &jobs[t]);
		if (rc != 0)
			bench_die(e->name, "pthread_create: %s", strerror(rc));
	}
	for (t = 0; t < READ_THREADS; t++)
		pthread_join(tid[t], NULL);
}

/* ---- one engine, in its own process ----------------------------------- */

struct timer {
	const char *engine;
	double start;
};

static void phase_begin(struct timer *tm, enum phase ph)
{
	fprintf(stderr, "  %-8s %-26s ", tm->engine, phase_names[ph]);
	tm->start = now_ms();
}

static void phase_end(struct timer *tm, enum phase ph, struct result *res)
{
	res->ms[ph] = now_ms() - tm->start;
	fprintf(stderr, "%10.1f ms\n", res->ms[ph]);
}

static void check_count(const struct bench_engine *e, uint64_t got,
                        uint64_t want, const char *when)
{
	if (got != want)
		bench_die(e->name, "len() %s is %llu, expected %llu", when,
		          (unsigned long long)got, (unsigned long long)want);
}

static void run_writes(const struct bench_engine *e, struct bench_db *db,
                       uint64_t n, struct timer *tm, struct result *res)
{
	uint64_t next = 0, i;

	phase_begin(tm, PH_LOAD);
	e->write(db, next, n, 1);
	next += n;
	phase_end(tm, PH_LOAD, res);

	phase_begin(tm, PH_INDIVIDUAL);
	for (i = 0; i < INDIVIDUAL_WRITES; i++)
		e->write(db, next++, 1, 1);
	phase_end(tm, PH_INDIVIDUAL, res);

	phase_begin(tm, PH_BATCH);
	for (i = 0; i < BATCHES; i++, next += BATCH_SIZE)
		e->write(db, next, BATCH_SIZE, 1);
	phase_end(tm, PH_BATCH, res);

	phase_begin(tm, PH_NOSYNC);
	for (i = 0; i < NOSYNC_WRITES; i++)
		e->write(db, next++, 1, 0);
	phase_end(tm, PH_NOSYNC, res);
	e->sync(db);
}

static void run_reads(const struct bench_engine *e, struct bench_db *db,
                      uint64_t n, struct timer *tm, struct result *res)
{
	struct read_job one = {
		.e = e, .db = db, .seed = READ_SEED, .ops = READS, .items = n
	};
	struct read_job scan = {
		.e = e, .db = db, .seed = SCAN_SEED, .ops = SCANS, .items = n
	};
	struct read_job jobs[READ_THREADS];
	unsigned t;

	phase_begin(tm, PH_READ);
	point_reads(&one);
	phase_end(tm, PH_READ, res);
	check_sum(&one, "random reads");

	phase_begin(tm, PH_RANGE);
	range_reads(&scan);
	phase_end(tm, PH_RANGE, res);
	res->range_entries = scan.entries;
	res->range_sum = scan.sum;

	phase_begin(tm, PH_READ_MT);
	parallel_point_reads(e, db, n, jobs);
	phase_end(tm, PH_READ_MT, res);
	for (t = 0; t < READ_THREADS; t++)
		check_sum(&jobs[t], "random reads (threads)");
}

static void run_engine(const struct bench_engine *e, const char *dir,
                       const char *dest, uint64_t n, struct result *res)
{
	const uint64_t written =
	        n + INDIVIDUAL_WRITES + BATCHES * BATCH_SIZE + NOSYNC_WRITES;
	struct timer tm = { .engine = e->name };
	struct bench_db *db = e->open(dir);
	struct rusage ru;
	uint64_t count;

	run_writes(e, db, n, &tm, res);

	phase_begin(&tm, PH_LEN);
	count = e->count(db);
	phase_end(&tm, PH_LEN, res);
	check_count(e, count, written, "after the writes");

	run_reads(e, db, n, &tm, res);

	phase_begin(&tm, PH_REMOVE);
	e->remove(db, 0, n / 2);
	phase_end(&tm, PH_REMOVE, res);
	check_count(e, e->count(db), written - n / 2, "after the removals");

	res->size_before = bench_path_size(dir);
	phase_begin(&tm, PH_COMPACT);
	res->size_after = e->compact(db, dest);
	phase_end(&tm, PH_COMPACT, res);
	e->close(db);

	getrusage(RUSAGE_SELF, &ru);
	res->maxrss_kib = ru.ru_maxrss;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bench_die("kv-bench", "write to parent: %s",
			          strerror(errno));
		p += w;
		len -= (size_t)w;
	}
}

static size_t read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Run engine e in a forked child in base/<name>-<run> and collect its
 * result; any failure in the child ends the benchmark. */
static void fork_engine(const struct bench_engine *e, const char *base,
                        unsigned run, uint64_t n, struct result *res)
{
	char name[64];
	char *dir, *dest;
	int fds[2], status;
	size_t got;
	pid_t pid;

	snprintf(name, sizeof(name), "%s-%u", e->name, run);
	dir = bench_join(base, name);
	snprintf(name, sizeof(name), "%s-%u.compact", e->name, run);
	dest = bench_join(base, name);
	make_dir(dir);
	make_dir(dest);

	if (pipe(fds) != 0)
		bench_die("kv-bench", "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("kv-bench", "fork: %s", strerror(errno));
	if (pid == 0) {
		in_child = 1;
		close(fds[0]);
		memset(res, 0, sizeof(*res));
		run_engine(e, dir, dest, n, res);
		write_all(fds[1], res, sizeof(*res));
		_exit(0);
	}
	close(fds[1]);
	got = read_all(fds[0], res, sizeof(*res));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_die("kv-bench", "waitpid: %s", strerror(errno));
	remove_tree(dir);
	remove_tree(dest);
	free(dir);
	free(dest);

	if (WIFSIGNALED(status))
		bench_die(e->name, "killed by signal %d (%s) in run %u",
		          WTERMSIG(status), strsignal(WTERMSIG(status)), run);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    got != sizeof(*res))
		bench_die(e->name, "failed in run %u (exit status %d)", run,
		          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- the report ------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define ROW_COUNT (PH_COUNT + 3)

static const char *row_name(unsigned row)
{
	static const char *const extra[] = {
		"size before compaction (MiB)",
		"size after compaction (MiB)",
		"peak RSS (MiB)",
	};

	return row < PH_COUNT ? phase_names[row] : extra[row - PH_COUNT];
}

/* One cell per engine and row: the median over runs (RSS: the maximum). */
static void summarize(const struct options *o, struct result res[][MAX_ENGINES],
                      double cell[ROW_COUNT][MAX_ENGINES])
{
	double v[MAX_RUNS];
	unsigned e, r, row;

	for (e = 0; e < o->nengines; e++) {
		double rss = 0;

		for (row = 0; row < PH_COUNT + 2; row++) {
			for (r = 0; r < o->runs; r++) {
				const struct result *x = &res[r][e];

				v[r] = row < PH_COUNT ? x->ms[row]
				       : row == PH_COUNT
				               ? (double)x->size_before
				               : (double)x->size_after;
			}
			cell[row][e] = median(v, o->runs);
			if (row >= PH_COUNT)
				cell[row][e] /= 1024.0 * 1024.0;
		}
		for (r = 0; r < o->runs; r++)
			if ((double)res[r][e].maxrss_kib > rss)
				rss = (double)res[r][e].maxrss_kib;
		cell[PH_COUNT + 2][e] = rss / 1024.0;
	}
}

static void format_cell(char *buf, size_t size, double x, double best,
                        int is_ms)
{
	char num[32], ratio[16] = "";

	if (!is_ms || x >= 100)
		snprintf(num, sizeof(num), is_ms ? "%.0f" : "%.1f", x);
	else if (x >= 10)
		snprintf(num, sizeof(num), "%.1f", x);
	else
		snprintf(num, sizeof(num), "%.2f", x);
	if (best > 0)
		snprintf(ratio, sizeof(ratio), " (%.2fx)", x / best);
	snprintf(buf, size, "%s%s", num, ratio);
}

static void print_table(const struct options *o,
                        double cell[ROW_COUNT][MAX_ENGINES])
{
	unsigned e, row;
	char buf[64];

	printf("\n%-30s", "phase (ms; x = vs fastest)");
	for (e = 0; e < o->nengines; e++)
		printf(" %18s", o->engines[e]->name);
	printf("\n");
	for (row = 0; row < ROW_COUNT; row++) {
		double best = cell[row][0];

		for (e = 1; e < o->nengines; e++)
			if (cell[row][e] < best)
				best = cell[row][e];
		printf("%-30s", row_name(row));
		for (e = 0; e < o->nengines; e++) {
			format_cell(buf, sizeof(buf), cell[row][e], best,
			            row < PH_COUNT);
			printf(" %18s", buf);
		}
		printf("\n");
	}
}

/* Every engine must have seen the same entries in the range phase. */
static void check_ranges(const struct options *o,
                         struct result res[][MAX_ENGINES])
{
	const struct result *ref = &res[0][0];
	unsigned e, r;

	for (r = 0; r < o->runs; r++)
		for (e = 0; e < o->nengines; e++) {
			const struct result *x = &res[r][e];

			if (x->range_entries == ref->range_entries &&
			    x->range_sum == ref->range_sum)
				continue;
			bench_die(o->engines[e]->name,
			          "range reads in run %u visited %llu entries "
			          "(checksum %llu), but %s visited %llu "
			          "(checksum %llu)",
			          r + 1, (unsigned long long)x->range_entries,
			          (unsigned long long)x->range_sum,
			          o->engines[0]->name,
			          (unsigned long long)ref->range_entries,
			          (unsigned long long)ref->range_sum);
		}
}

static void print_header(int argc, char **argv, const struct options *o,
                         const char *base)
{
	char line[256], cpu[256] = "unknown";
	struct utsname un;
	FILE *f;
	int i;
	unsigned e;

	printf("command:");
	for (i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\nN = %llu entries (24-byte keys, 150-byte values); "
	       "runs = %u (median per phase); dir = %s\n",
	       (unsigned long long)o->n, o->runs, base);
	printf("phases: bulk load N in 1 txn; %u individual durable writes; "
	       "%u durable batches of %u;\n  %u non-durable writes; len(); "
	       "%u random reads; %u range reads of %u;\n  %u random reads on "
	       "%u threads; removal of N/2 in 1 txn; compaction\n",
	       INDIVIDUAL_WRITES, BATCHES, BATCH_SIZE, NOSYNC_WRITES, READS,
	       SCANS, SCAN_LEN, READS, READ_THREADS);
	printf("engines:");
	for (e = 0; e < o->nengines; e++)
		printf(" %s %s%s", o->engines[e]->name,
		       o->engines[e]->version(),
		       e + 1 < o->nengines ? "," : "\n");
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');

			snprintf(cpu, sizeof(cpu), "%s", p ? p + 2 : line);
			cpu[strcspn(cpu, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
	if (uname(&un) == 0)
		printf("host: %s %s, %ld CPUs, %s\n", un.sysname, un.release,
		       sysconf(_SC_NPROCESSORS_ONLN), cpu);
	/* Other work on the machine skews every number: say how busy it was. */
	f = fopen("/proc/loadavg", "r");
	if (f && fgets(line, sizeof(line), f))
		printf("load average at start: %s", line);
	if (f)
		fclose(f);
	fflush(stdout);
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: kv-bench [--n N] [--engines LIST] [--dir DIR] "
	        "[--runs K]\n"
	        "  --n N          entries in the bulk load (default 1000000)\n"
	        "  --engines LIST comma-separated, from cccfs,lmdb,sqlite,"
	        "rocksdb\n"
	        "                 (default all four)\n"
	        "  --dir DIR      work in DIR (default: a new directory under\n"
	        "                 /var/tmp, removed at the end)\n"
	        "  --runs K       repeat K times, report medians "
	        "(default 1)\n");
}

static uint64_t parse_count(const char *opt, const char *s, uint64_t min,
                            uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		bench_die("kv-bench",
		          "%s: expected a number from %llu to %llu, got \"%s\"",
		          opt, (unsigned long long)min, (unsigned long long)max,
		          s);
	return v;
}

static void parse_engines(struct options *o, char *list)
{
	char *save = NULL, *name;
	unsigned i;

	o->nengines = 0;
	for (name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		const struct bench_engine *found = NULL;

		for (i = 0; i < sizeof(all_engines) / sizeof(*all_engines); i++)
			if (strcmp(all_engines[i]->name, name) == 0)
				found = all_engines[i];
		if (found == NULL)
			bench_die("kv-bench",
			          "unknown engine \"%s\" (known: "
			          "cccfs, lmdb, sqlite, rocksdb)",
			          name);
		if (o->nengines == MAX_ENGINES)
			bench_die("kv-bench", "too many engines");
		o->engines[o->nengines++] = found;
	}
	if (o->nengines == 0)
		bench_die("kv-bench", "--engines: no engine named");
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "n", required_argument, NULL, 'n' },
		{ "engines", required_argument, NULL, 'e' },
		{ "dir", required_argument, NULL, 'd' },
		{ "runs", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned i;
	int c;

	*o = (struct options){ .n = 1000000, .runs = 1 };
	for (i = 0; i < sizeof(all_engines) / sizeof(*all_engines); i++)
		o->engines[o->nengines++] = all_engines[i];
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			/* At least 2, so that the removals remove something. */
			o->n = parse_count("--n", optarg, 2, 1ull << 32);
			break;
		case 'e':
			parse_engines(o, optarg);
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'r':
			o->runs = (unsigned)parse_count("--runs", optarg, 1,
			                                MAX_RUNS);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	static struct result res[MAX_RUNS][MAX_ENGINES];
	double cell[ROW_COUNT][MAX_ENGINES];
	struct options o;
	const char *base;
	unsigned r, e;

	/* The argument vector is printed as given, so copy it first:
	 * parse_engines() cuts its argument up. */
	char **args = bench_malloc(sizeof(*args) * (size_t)(argc + 1));

	for (r = 0; r < (unsigned)argc; r++) {
		args[r] = strdup(argv[r]);
		if (args[r] == NULL)
			bench_die("kv-bench", "out of memory");
	}
	args[argc] = NULL;
	parse_options(argc, args, &o);

	if (o.dir) {
		base = o.dir;
		if (mkdir(base, 0700) != 0 && errno != EEXIST)
			bench_die("kv-bench", "mkdir %s: %s", base,
			          strerror(errno));
	} else {
		char tmpl[] = "/var/tmp/kv-bench.XXXXXX";

		if (!mkdtemp(tmpl))
			bench_die("kv-bench", "mkdtemp %s: %s", tmpl,
			          strerror(errno));
		temp_dir = strdup(tmpl);
		if (temp_dir == NULL)
			bench_die("kv-bench", "out of memory");
		base = temp_dir;
	}
	print_header(argc, argv, &o, base);

	/* run r starts with engine r (mod the count): the first engine of a
	 * run follows the benchmark's start or another run's deletions, and
	 * no engine should always be the one that does */
	for (r = 0; r < o.runs; r++)
		for (unsigned k = 0; k < o.nengines; k++) {
			e = (r + k) % o.nengines;
			fprintf(stderr, "run %u/%u: %s\n", r + 1, o.runs,
			        o.engines[e]->name);
			sync(); /* the last engine's files are gone for good */
			fork_engine(o.engines[e], base, r + 1, o.n, &res[r][e]);
		}
	check_ranges(&o, res);
	summarize(&o, res, cell);
	print_table(&o, cell);

	if (temp_dir) {
		remove_tree(temp_dir);
		free(temp_dir);
	}
	for (r = 0; r < (unsigned)argc; r++)
		free(args[r]);
	free(args);
	return 0;
}
