/*
 * send_bench: an incremental send/receive stream against a full one.
 *
 * A store of N records (default 100,000) under prompts/, snapshot "base";
 * C of them rewritten (default 10), snapshot "next".  Then, R times each
 * (default 5; the medians are printed): the full stream of "next", the
 * incremental one from "base", written to a file; and the receive of each
 * into a fresh store (the incremental one into a store that received
 * "base" first).  Sizes in bytes, times in milliseconds.
 *
 *   send-bench [--n N] [--changes C] [--runs R] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "send.h"
#include "store.h"

#define DIE(...)                                             \
	do {                                                 \
		fprintf(stderr, "send-bench: " __VA_ARGS__); \
		exit(1);                                     \
	} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

/* Records i in [from, to) with content version v, one commit. */
static void fill(kv_env *env, unsigned from, unsigned to, unsigned step,
                 unsigned v)
{
	struct stx s;
	char path[64], body[128];

	if (stx_begin(env, true, &s) != 0)
		DIE("begin\n");
	for (unsigned i = from; i < to; i += step) {
		struct node n;
		int len = snprintf(body, sizeof(body),
		                   "name: r%u\nversion: %u\nbody: some text\n",
		                   i, v);

		snprintf(path, sizeof(path), "prompts/r%06u.yaml", i);
		node_fresh(&n, S_IFREG | 0644, 0, 0);
		n.size = (uint64_t)len;
		if (store_content_put(&s, path, n.mode, body, (size_t)len) ||
		    store_node_put(&s, path, &n))
			DIE("put %s\n", path);
		node_release(&n);
	}
	if (stx_commit(&s, KV_DURABLE_IMMEDIATE) != 0)
		DIE("commit\n");
}

static void snap(kv_env *env, const char *name)
{
	kv_txn *txn;

	if (kv_txn_begin(env, 0, &txn) || kv_snapshot_create(txn, name) ||
	    kv_txn_commit(txn))
		DIE("snapshot %s\n", name);
}

static kv_env *fresh(const char *path)
{
	char lock[4200];
	kv_env *env;

	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
	if (store_open(path, KV_CREATE, &env, NULL) != 0)
		DIE("open %s\n", path);
	return env;
}

static double send_to(kv_env *env, const char *base, const char *file,
                      uint64_t *bytes)
{
	struct send_stat st;
	char msg[200];
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	double t0 = now_ms();

	if (fd < 0 || store_send(env, "next", base, fd, &st, msg, sizeof(msg)))
		DIE("send %s\n", msg);
	close(fd);
	*bytes = st.bytes;
	return now_ms() - t0;
}

static double receive_from(kv_env *env, const char *file)
{
	struct recv_result *res = malloc(sizeof(*res));
	struct stream_reader r;
	int fd = open(file, O_RDONLY);
	double t0 = now_ms(), t;

	if (fd < 0 || res == NULL)
		DIE("open %s\n", file);
	stream_reader_init_fd(&r, fd);
	if (store_receive(env, &r, false, res) != 0)
		DIE("receive %s: %s\n", file, res->msg);
	t = now_ms() - t0;
	stream_reader_release(&r);
	close(fd);
	free(res);
	return t;
}

int main(int argc, char **argv)
{
	unsigned n = 100000, changes = 10;
	int runs = 5;
	const char *dir = "/var/tmp";
	char a[4096], b[4096], full[4096], inc[4096], base[4096];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--n") == 0)
			n = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--changes") == 0)
			changes = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--runs") == 0)
			runs = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
	}
	if (runs < 1 || runs > 99 || changes == 0 || changes > n)
		DIE("bad arguments\n");
	snprintf(a, sizeof(a), "%s/send-bench-a.db", dir);
	snprintf(b, sizeof(b), "%s/send-bench-b.db", dir);
	snprintf(full, sizeof(full), "%s/send-bench-full.stream", dir);
	snprintf(inc, sizeof(inc), "%s/send-bench-inc.stream", dir);
	snprintf(base, sizeof(base), "%s/send-bench-base.stream", dir);

	kv_env *env = fresh(a);
	for (unsigned i = 0; i < n; i += 10000)
		fill(env, i, i + 10000 < n ? i + 10000 : n, 1, 1);
	snap(env, "base");
	fill(env, 0, n, n / changes, 2);
	snap(env, "next");
	{ /* the base stream, for the incremental receives */
		struct send_stat st;
		char msg[200];
		int fd = open(base, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 ||
		    store_send(env, "base", NULL, fd, &st, msg, sizeof(msg)))
			DIE("send base\n");
		close(fd);
	}

	double ts_full[99], ts_inc[99], tr_full[99], tr_inc[99];
	uint64_t bytes_full = 0, bytes_inc = 0;
	for (int r = 0; r < runs; r++) {
		ts_full[r] = send_to(env, NULL, full, &bytes_full);
		ts_inc[r] = send_to(env, "base", inc, &bytes_inc);
		kv_env *e = fresh(b);
		tr_full[r] = receive_from(e, full);
		kv_env_close(e);
		e = fresh(b);
		(void)receive_from(e, base);
		tr_inc[r] = receive_from(e, inc);
		kv_env_close(e);
	}
	kv_env_close(env);
	printf("%u records, %u changed, medians of %d runs\n", n, changes,
	       runs);
	printf("%-12s %12s %10s %12s\n", "stream", "bytes", "send ms",
	       "receive ms");
	printf("%-12s %12" PRIu64 " %10.1f %12.1f\n", "full", bytes_full,
	       median(ts_full, runs), median(tr_full, runs));
	printf("%-12s %12" PRIu64 " %10.1f %12.1f\n", "incremental", bytes_inc,
	       median(ts_inc, runs), median(tr_inc, runs));
	if (bytes_inc * 20 > bytes_full)
		DIE("the incremental stream is not small\n");
	unlink(a);
	unlink(b);
	unlink(full);
	unlink(inc);
	unlink(base);
	return 0;
}
