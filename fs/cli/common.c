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
	const char *detail = kv_is_kv_error(rc) ? kv_errmsg() : "";

	fprintf(stderr, "cccfs: %s: %s: %s%s%s\n", file, what,
	        kv_is_kv_error(rc) ? kv_strerror(rc) : strerror(-rc),
	        *detail ? ": " : "", detail);
}

/* Which of kv_errmsg()'s detail follows the error a failed open prints. */
enum detail {
	DETAIL_KV,  /* for kv's own errors (KV_E*), not for -errno ones */
	DETAIL_ANY, /* whenever there is one */
	DETAIL_NONE,
};

/* Which notes an open that recovered prints (say_recovery()). */
enum notes {
	NOTES_NONE,
	NOTES_INIT,  /* on stderr, as "cccfs: DB: ..." */
	NOTES_CHECK, /* on stdout, as "note: ...", part of the report */
	NOTES_COPY,  /* on stderr, the fall back only (cli_damage()) */
};

/*
 * How each command opens its store, and its words when that fails.  The
 * words differ between commands by history only; they are kept here side
 * by side, so that making them one is a change to this table alone.
 */
static const struct open_mode {
	int flags;               /* store_open()'s: KV_RDONLY, KV_CREATE */
	bool must_exist;         /* a missing file is said with a hint at
	                            `cccfs init` before any open */
	const char *cannot_open; /* "cccfs: DB: WHAT: error"; NULL for
	                            "cccfs: DB: error" */
	enum detail detail;
	const char *cannot_init; /* with KV_CREATE: "cccfs: DB: WHAT: error" */
	enum notes notes;
} open_modes[] = {
	[CLI_OPEN_READ] = { KV_RDONLY, true, "cannot open the store", DETAIL_KV,
	                    NULL, NOTES_NONE },
	[CLI_OPEN_WRITE] = { 0, true, "cannot open the store", DETAIL_KV, NULL,
	                     NOTES_NONE },
	[CLI_OPEN_CREATE] = { KV_CREATE, false, "cannot open the store",
	                      DETAIL_KV, "cannot initialize the store",
	                      NOTES_NONE },
	[CLI_OPEN_INIT] = { KV_CREATE, false, "cannot open", DETAIL_ANY,
	                    "cannot initialize", NOTES_INIT },
	[CLI_OPEN_CHECK] = { KV_RDONLY, false, NULL, DETAIL_ANY, NULL,
	                     NOTES_CHECK },
	[CLI_OPEN_STAT] = { KV_RDONLY, false, NULL, DETAIL_NONE, NULL,
	                    NOTES_NONE },
};

/* What the open of db said about its own recovery: a newest commit it
 * fell back from, commits it repeated from the commit log. */
static void say_recovery(kv_env *env, const char *db, enum notes notes)
{
	struct kv_stat st;

	if (notes == NOTES_NONE)
		return;
	if (kv_env_stat(env, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (notes == NOTES_CHECK) {
		if (st.rolled_back_txnid)
			printf("note: the newest commit (txn %" PRIu64 ") was "
			       "incomplete or damaged; the store opened at the "
			       "commit before it\n",
			       st.rolled_back_txnid);
		if (st.recovered)
			printf("note: %" PRIu64 " commits were repeated from "
			       "the commit log after a crash\n",
			       st.recovered);
	} else if (notes == NOTES_INIT) {
		if (st.rolled_back_txnid)
			fprintf(stderr,
			        "cccfs: %s: the newest commit (txn %" PRIu64
			        ") was incomplete or damaged; opened at "
			        "the commit before it\n",
			        db, st.rolled_back_txnid);
		if (st.recovered)
			fprintf(stderr,
			        "cccfs: %s: %" PRIu64 " commits "
			        "repeated from the commit log after a crash\n",
			        db, st.recovered);
	} else if (st.rolled_back_txnid) {
		fprintf(stderr,
		        "cccfs: %s: note: the newest commit (txn %" PRIu64
		        ") was incomplete or damaged; the store opened "
		        "at the commit before it\n",
		        db, st.rolled_back_txnid);
	}
}

static void say_cannot_open(const char *db, const struct open_mode *m, int rc)
{
	const char *what = m->cannot_open ? m->cannot_open : "";
	const char *detail =
	        m->detail == DETAIL_ANY ||
	                        (m->detail == DETAIL_KV && kv_is_kv_error(rc))
	                ? kv_errmsg()
	                : "";

	fprintf(stderr, "cccfs: %s: %s%s%s%s%s\n", db, what, *what ? ": " : "",
	        kv_strerror(rc), *detail ? ": " : "", detail);
	if (rc == KV_ENOREADER)
		fprintf(stderr,
		        "cccfs: %s: ask its owner for access, or to copy the "
		        "store with `cccfs backup`\n",
		        db);
}

int cli_open(const char *db, enum cli_open_how how, kv_env **env)
{
	const struct open_mode *m = &open_modes[how];
	enum store_step failed;
	struct stat st;
	int rc;

	if (m->must_exist && stat(db, &st) != 0) {
		fprintf(stderr, "cccfs: %s: %s%s\n", db, strerror(errno),
		        errno == ENOENT ? " (create a store with `cccfs init "
		                          "DB`)"
		                        : "");
		return -errno;
	}
	rc = store_open(db, m->flags, env, &failed);
	if (rc != 0 && failed == STORE_STEP_OPEN)
		say_cannot_open(db, m, rc);
	else if (rc != 0)
		cli_fail(db, m->cannot_init, rc);
	else
		say_recovery(*env, db, m->notes);
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
		fprintf(stderr,
		        "cccfs: '%s' cannot name a snapshot: use 1 to "
		        "%u bytes, no '/', not '.' or '..'\n",
		        name, KV_MAX_NAME);
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
				fprintf(stderr,
				        "cccfs: %s does not take "
				        "--%s\n",
				        argv[0],
				        c == 's' ? "snapshot" : "skip-invalid");
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
	struct stx s;
	uint64_t bad;
	int rc;

	say_recovery(env, db, NOTES_COPY);
	memset(&rep, 0, sizeof(rep));
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

static int store_path(const char *arg, char *out, size_t n, int min_depth)
{
	size_t len = 0;
	const char *p = arg;

	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == 0 || (l == 1 && *p == '.')) {
			/* "//" and "./" say nothing */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			fprintf(stderr,
			        "cccfs: %s: a path in the store, without '..', "
			        "such as prompts/review.yaml\n",
			        arg);
			return -EINVAL;
		} else {
			if (len + (len > 0) + l + 1 > n ||
			    len + (len > 0) + l > PM_PATH_MAX) {
				fprintf(stderr, "cccfs: %s: %s\n", arg,
				        strerror(ENAMETOOLONG));
				return -ENAMETOOLONG;
			}
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, l);
			len += l;
		}
		p += l + (e != NULL);
	}
	out[len] = '\0';
	if (pm_depth(out) < min_depth || pm_kind_of(out) < 0) {
		fprintf(stderr,
		        "cccfs: %s: not a %s (one below workflows/, agents/ "
		        "or prompts/, such as prompts/review.yaml)\n",
		        arg,
		        min_depth > 1 ? "record path" : "path in the store");
		return -EINVAL;
	}
	return 0;
}

int cli_store_path(const char *arg, char *out, size_t n)
{
	return store_path(arg, out, n, 2);
}

int cli_store_path_prefix(const char *arg, char *out, size_t n)
{
	return store_path(arg, out, n, 1);
}
