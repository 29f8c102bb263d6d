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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "pathmap.h"
#include "store.h"

/* The default store's path into buf, quietly; false when there is none. */
static bool default_db(char *buf, size_t n)
{
	const char *data = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int len = -1;

	if (data != NULL && *data != '\0')
		len = snprintf(buf, n, "%s/cccfs/ccc.db", data);
	else if (home != NULL && *home != '\0')
		len = snprintf(buf, n, "%s/.local/share/cccfs/ccc.db", home);
	return len >= 0 && (size_t)len < n;
}

const char *cli_default_db(void)
{
	static char path[4096];

	if (default_db(path, sizeof(path)))
		return path;
	fputs("cccfs: no default store: neither XDG_DATA_HOME nor HOME is "
	      "set; name the store (DB)\n",
	      stderr);
	return NULL;
}

const char *cli_db_or_default(const char *db)
{
	return db != NULL ? db : cli_default_db();
}

bool cli_is_default_db(const char *db)
{
	char path[4096];

	return default_db(path, sizeof(path)) && strcmp(db, path) == 0;
}

void cli_fail(const char *file, const char *what, int rc)
{
	char detail[1024] = "";

	/* kv's detail may quote a snapshot's name as it is */
	if (kv_is_kv_error(rc))
		cli_escape(detail, sizeof(detail), kv_errmsg());
	fprintf(stderr, "cccfs: %s: %s: %s%s%s\n", file, what,
	        kv_is_kv_error(rc) ? kv_strerror(rc) : strerror(-rc),
	        *detail ? ": " : "", detail);
}

/* The length of the UTF-8 sequence at s that is no control character
 * (C1 is U+0080..U+009F), or 0. */
static size_t utf8_printable(const unsigned char *s)
{
	size_t len;
	uint32_t c;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	c = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* overlong, surrogate, beyond U+10FFFF, C1 */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff || c < 0xa0)
		return 0;
	return len;
}

const char *cli_escape(char *buf, size_t n, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p && o + 5 <= n) {
		size_t len = utf8_printable(p);

		if (len > 0) {
			if (o + len + 1 > n)
				break;
			memcpy(buf + o, p, len);
			o += len;
			p += len;
		} else if (*p == '\\') {
			buf[o++] = '\\';
			buf[o++] = '\\';
			p++;
		} else if (*p >= 0x20 && *p < 0x7f) {
			buf[o++] = (char)*p++;
		} else if (*p >= '\a' && *p <= '\r') {
			buf[o++] = '\\';
			buf[o++] = "abtnvfr"[*p++ - '\a'];
		} else {
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", *p++);
		}
	}
	if (n > 0)
		buf[o] = '\0';
	return buf;
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
	[CLI_OPEN_CHECK] = { KV_RDONLY, true, NULL, DETAIL_ANY, NULL,
	                     NOTES_CHECK },
	[CLI_OPEN_STAT] = { KV_RDONLY, true, NULL, DETAIL_NONE, NULL,
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
		int err = errno;

		fprintf(stderr, "cccfs: %s: %s%s\n", db, strerror(err),
		        err != ENOENT ? ""
		        : cli_is_default_db(db)
		                ? " (the default store; create "
		                  "it with `cccfs init`)"
		                : " (create a store with `cccfs "
		                  "init DB`)");
		return -err;
	}
	if ((m->flags & KV_CREATE) && cli_is_default_db(db)) {
		rc = store_make_folder(db);
		if (rc != 0) {
			fprintf(stderr,
			        "cccfs: %s: cannot make the default store's "
			        "folder: %s\n",
			        db, strerror(-rc));
			return rc;
		}
	}
	rc = store_open(db, m->flags, env, &failed);
	if (rc != 0 && failed == STORE_STEP_LOCK)
		fprintf(stderr, "cccfs: %s\n", kv_errmsg()); /* names it */
	else if (rc != 0 && failed == STORE_STEP_OPEN)
		say_cannot_open(db, m, rc);
	else if (rc != 0)
		cli_fail(db, m->cannot_init, rc);
	else
		say_recovery(*env, db, m->notes);
	return rc;
}

bool cli_names_store(const char *word)
{
	size_t n = strlen(word);
	struct stat st;

	return strchr(word, '/') != NULL ||
	       (n > 3 && strcmp(word + n - 3, ".db") == 0) ||
	       (stat(word, &st) == 0 && S_ISREG(st.st_mode));
}

/* The edit distance of a and b, a transposition counting as one (the
 * optimal string alignment distance), for words of up to 31 bytes. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[32][32];

	if (la > 31 || lb > 31)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* Close: one edit for words of up to 4 bytes, two for longer ones. */
const char *cli_nearest(const char *word, const char *const *names, size_t n)
{
	size_t most = strlen(word) <= 4 ? 1 : 2, best = SIZE_MAX;
	const char *nearest = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, names[i]);

		if (d <= most && d < best) {
			best = d;
			nearest = names[i];
		}
	}
	return nearest;
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

void cli_no_snapshot(const char *db, const char *name)
{
	char shown[CLI_ESCAPED_MAX];

	fprintf(stderr,
	        "cccfs: %s: no snapshot named '%s' (`cccfs snapshot %s%slist` "
	        "lists them)\n",
	        db, cli_escape(shown, sizeof(shown), name),
	        cli_is_default_db(db) ? "" : db,
	        cli_is_default_db(db) ? "" : " ");
}

/* A snapshot name is a folder name under .snapshots. */
int cli_check_snapshot_name(const char *name)
{
	if (pm_check_name(name) != 0 || strlen(name) > KV_MAX_NAME) {
		char shown[CLI_ESCAPED_MAX];

		fprintf(stderr,
		        "cccfs: '%s' cannot name a snapshot: use 1 to "
		        "%u bytes, no '/', not '.' or '..'\n",
		        cli_escape(shown, sizeof(shown), name), KV_MAX_NAME);
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
	int c, given, skip_db;

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
	given = argc - optind;
	if (given != npos && given != npos - 1) {
		fputs(usage, stderr);
		return 2;
	}
	skip_db = npos - given; /* 1: DB left out */
	if (skip_db == 1 && (pos[0] = cli_default_db()) == NULL)
		return 2;
	for (int i = skip_db; i < npos; i++)
		pos[i] = argv[optind + i - skip_db];
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

int cli_parse_version(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (*s < '1' || *s > '9' || *end != '\0' || errno != 0) {
		fprintf(stderr,
		        "cccfs: --version %s: a version number, 1 or "
		        "more\n",
		        s);
		return -EINVAL;
	}
	return 0;
}
