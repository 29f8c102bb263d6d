/*
 * common: what the commands share -- opening a store and saying why it
 * would not open, the messages for errors and usage, the formats of times
 * and sizes, snapshot names, and the options backup, export and import
 * have in common.  See cli.h.
 *
 * The commands are ordinary engine clients: they open the store file in
 * this process (readers never block, and a write waits its turn behind
 * the daemon's), so they work the same whether or not it is mounted.  A
 * mounted daemon notices commits made here and drops its caches (watch.c).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "pathmap.h"
#include "store.h"

void cli_fail(const char *file, const char *what, int rc)
{
	const char *detail = kv_is_kv_error(rc) ? kv_errmsg()
	                                                      : "";

	fprintf(stderr, "cccfs: %s: %s: %s%s%s\n", file, what,
	        kv_is_kv_error(rc) ? kv_strerror(rc) : strerror(-rc),
	        *detail ? ": " : "", detail);
}

/* Open an existing store (or create one with create). */
int cli_open(const char *db, bool create, bool rdonly, kv_env **env)
{
	struct stat st;
	int rc;

	if (!create && stat(db, &st) != 0) {
		fprintf(stderr, "cccfs: %s: %s%s\n", db, strerror(errno),
		        errno == ENOENT ? " (create a store with `cccfs init "
		                          "DB`)" : "");
		return -errno;
	}
	rc = kv_env_open(env, db, (create ? KV_CREATE : 0) |
	                          (rdonly ? KV_RDONLY : 0), 0600);
	if (rc != 0) {
		cli_fail(db, "cannot open the store", rc);
		return rc;
	}
	if (create) {
		rc = store_init(*env, getuid(), getgid());
		if (rc != 0) {
			cli_fail(db, "cannot initialize the store", rc);
			kv_env_close(*env);
			*env = NULL;
		}
	}
	return rc;
}

void cli_format_utc(char *buf, size_t n, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

void cli_format_size(char *buf, size_t n, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, n, "%.1f %s", v, unit[u]);
}

/* A snapshot name is a folder name under .snapshots. */
int cli_check_snapshot_name(const char *name)
{
	if (pm_check_name(name) != 0 || strlen(name) > KV_MAX_NAME) {
		fprintf(stderr, "cccfs: '%s' cannot name a snapshot: use 1 to "
		        "%u bytes, no '/', not '.' or '..'\n", name,
		        KV_MAX_NAME);
		return -EINVAL;
	}
	return 0;
}

/* A usage error for cmd: the first line of its usage and where to read
 * more.  Returns 2, the exit code for it. */
int cli_usage_error(const char *cmd, const char *usage)
{
	fprintf(stderr, "%.*s", (int)strcspn(usage, "\n") + 1, usage);
	fprintf(stderr, "Try 'cccfs %s --help'.\n", cmd);
	return 2;
}

static const struct option snapshot_opt[] = {
	{ "snapshot", required_argument, NULL, 's' },
	{ "skip-invalid", no_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Options shared by backup, export and import; positional arguments
 * land in pos[0..npos-1].  Returns -1 to continue, or an exit code. */
int cli_parse_args(int argc, char **argv, const char *usage,
                   bool allow_snapshot, bool allow_skip, const char **snap,
                   bool *skip, const char **pos, int npos)
{
	int c;

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "h", snapshot_opt, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c == 's' && allow_snapshot) {
			*snap = optarg;
		} else if (c == 'k' && allow_skip) {
			*skip = true;
		} else {
			if (c == 's' || c == 'k')
				fprintf(stderr, "cccfs: %s does not take "
				        "--%s\n", argv[0], c == 's'
				        ? "snapshot" : "skip-invalid");
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != npos) {
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 0; i < npos; i++)
		pos[i] = argv[optind + i];
	if (*snap && cli_check_snapshot_name(*snap) != 0)
		return 2;
	return -1;
}

/*
 * Problems in the open store: kv_check()'s (checksums, structure; reads
 * do not verify checksums, so a copy would carry damage unseen) and
 * missing kind folders (an open that fell back from a damaged newest
 * commit may find an older, emptier state, which is said as well).
 */
uint64_t cli_damage(kv_env *env, const char *db)
{
	struct kv_check_report rep;
	struct kv_stat st;
	struct stx s;
	uint64_t bad;
	int rc;

	if (kv_env_stat(env, &st) == 0 && st.rolled_back_txnid)
		fprintf(stderr, "cccfs: %s: note: the newest commit (txn %"
		        PRIu64 ") was incomplete or damaged; the store opened "
		        "at the commit before it\n", db, st.rolled_back_txnid);
	memset(&rep, 0, sizeof rep);
	rc = kv_check(env, NULL, NULL, &rep);
	bad = rep.problems ? rep.problems : rc != 0;
	if (stx_begin(env, false, &s) == 0) {
		for (int k = 0; k < PM_NKINDS; k++) {
			struct node n;

			if (store_node_get(&s, pm_kind_name(k), &n) != 0)
				bad++;
			else
				node_release(&n);
		}
		stx_abort(&s);
	}
	return bad;
}
