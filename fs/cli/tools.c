/*
 * tools: `cccfs snapshot | backup | export | import`.  See tools.h.
 *
 * All of them are ordinary engine clients: they open the store file in
 * this process (readers never block, and a write waits its turn behind
 * the daemon's), so they work the same whether or not it is mounted.  A
 * mounted daemon notices commits made here and drops its caches (watch.c).
 *
 * export writes a plain tree of the records (folders and .yaml/.yml
 * files, with their modes and times); import loads such a tree -- the one
 * export or `cp -a` of a snapshot folder makes -- in one transaction,
 * after validating every file.
 */
#include "tools.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "clock.h"
#include "defaults.h"
#include "pathmap.h"
#include "progress.h"
#include "snaps.h"
#include "store.h"
#include "yaml_check.h"

/* ---- shared ------------------------------------------------------------ */

static void cli_fail(const char *file, const char *what, int rc)
{
	const char *detail = kv_is_kv_error(rc) ? kv_errmsg()
	                                                      : "";

	fprintf(stderr, "cccfs: %s: %s: %s%s%s\n", file, what,
	        kv_is_kv_error(rc) ? kv_strerror(rc) : strerror(-rc),
	        *detail ? ": " : "", detail);
}

/* Open an existing store (or create one with create). */
static int cli_open(const char *db, bool create, bool rdonly, kv_env **env)
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

static void cli_format_utc(char *buf, size_t n, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void cli_format_size(char *buf, size_t n, uint64_t bytes)
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
static int cli_check_snapshot_name(const char *name)
{
	if (pm_check_name(name) != 0 || strlen(name) > KV_MAX_NAME) {
		fprintf(stderr, "cccfs: '%s' cannot name a snapshot: use 1 to "
		        "%u bytes, no '/', not '.' or '..'\n", name,
		        KV_MAX_NAME);
		return -EINVAL;
	}
	return 0;
}

/* ---- snapshot ---------------------------------------------------------- */

static const char snapshot_usage[] =
	"usage: cccfs snapshot DB create NAME\n"
	"       cccfs snapshot DB list\n"
	"       cccfs snapshot DB delete NAME\n"
	"       cccfs snapshot DB restore NAME\n"
	"\n"
	"Snapshots are read-only point-in-time copies of the whole tree,\n"
	"also reachable as MOUNTPOINT/.snapshots/NAME.  create is O(1);\n"
	"delete frees the space only that snapshot held; restore first\n"
	"saves the current state as snapshot before-restore-<time>, then\n"
	"makes NAME's content the live state in one commit.\n"
	"\n"
	"examples:\n"
	"  cccfs snapshot ~/.local/share/cccfs/ccc.db create before-cleanup\n"
	"  cccfs snapshot ~/.local/share/cccfs/ccc.db list\n"
	"  cccfs snapshot ~/.local/share/cccfs/ccc.db restore before-cleanup\n";

struct list_row {
	struct kv_snapshot_info info;
};

struct list_ctx {
	struct list_row *row;
	size_t n, cap;
};

static int list_collect(void *ctx, const struct kv_snapshot_info *si)
{
	struct list_ctx *lc = ctx;

	if (lc->n == lc->cap) {
		size_t cap = lc->cap ? lc->cap * 2 : 16;
		struct list_row *nr = realloc(lc->row, cap * sizeof *nr);

		if (nr == NULL)
			return -ENOMEM;
		lc->row = nr;
		lc->cap = cap;
	}
	lc->row[lc->n++].info = *si;
	return 0;
}

/* Records (.yaml/.yml files) in a snapshot: its three record tables. */
static int snapshot_records(kv_env *env, const char *name, uint64_t *n)
{
	kv_txn *txn;
	int rc = kv_txn_begin_snapshot(env, name, &txn);

	*n = 0;
	if (rc != 0)
		return rc;
	for (int k = 0; k < PM_NKINDS; k++) {
		kv_table *t;

		if (kv_table_open(txn, pm_kind_name(k), 0, &t) == 0)
			*n += kv_table_count(t);
	}
	kv_txn_abort(txn);
	return 0;
}

static int snapshot_list(kv_env *env, const char *db)
{
	struct list_ctx lc = { 0 };
	kv_txn *txn = NULL;
	int rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);

	if (rc == 0)
		rc = kv_snapshot_list(txn, list_collect, &lc);
	if (rc != 0) {
		if (txn)
			kv_txn_abort(txn);
		cli_fail(db, "cannot list snapshots", rc);
		free(lc.row);
		return 1;
	}
	if (lc.n == 0)
		printf("no snapshots (take one with `cccfs snapshot DB create "
		       "NAME` or `mkdir MOUNTPOINT/.snapshots/NAME`)\n");
	else
		printf("%-32s %-21s %10s %8s %10s\n", "NAME", "CREATED (UTC)",
		       "TXN", "RECORDS", "OWN SPACE");
	for (size_t i = 0; i < lc.n && rc == 0; i++) {
		const struct kv_snapshot_info *si = &lc.row[i].info;
		char when[32], space[32];
		uint64_t pages = 0, records = 0;

		rc = kv_snapshot_space(txn, si->name, &pages);
		if (rc == 0)
			rc = snapshot_records(env, si->name, &records);
		if (rc != 0)
			break;
		cli_format_utc(when, sizeof when, si->created_ns);
		cli_format_size(space, sizeof space, pages * 4096);
		printf("%-32s %-21s %10" PRIu64 " %8" PRIu64 " %10s\n",
		       si->name, when, si->txnid, records, space);
	}
	kv_txn_abort(txn);
	free(lc.row);
	if (rc != 0) {
		cli_fail(db, "cannot read snapshots", rc);
		return 1;
	}
	return 0;
}

static int snapshot_change(kv_env *env, const char *db, const char *op,
                           const char *name)
{
	kv_txn *txn;
	int rc = kv_txn_begin(env, 0, &txn);

	if (rc == 0) {
		rc = strcmp(op, "create") == 0 ? kv_snapshot_create(txn, name)
		                               : kv_snapshot_delete(txn, name);
		if (rc == 0)
			rc = kv_txn_commit(txn);
		else
			kv_txn_abort(txn);
	}
	if (rc != 0) {
		char what[KV_MAX_NAME + 64];

		snprintf(what, sizeof what, "cannot %s snapshot '%s'", op,
		         name);
		cli_fail(db, what, rc);
		return 1;
	}
	printf("%s snapshot %s\n", strcmp(op, "create") == 0 ? "took"
	                                                     : "deleted",
	       name);
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	const char *db, *op, *name = NULL;
	char saved[SNAPS_SAVED_MAX];
	kv_env *env;
	int ret, rc;

	/* --help anywhere asks for help, never names a snapshot */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(snapshot_usage, stdout);
			return 0;
		}
	if (argc < 3) {
		fputs(snapshot_usage, stderr);
		return 2;
	}
	db = argv[1];
	op = argv[2];
	if (strcmp(op, "list") == 0 ? argc != 3
	    : (strcmp(op, "create") == 0 || strcmp(op, "delete") == 0 ||
	       strcmp(op, "restore") == 0) ? argc != 4 : 1) {
		fputs(snapshot_usage, stderr);
		return 2;
	}
	if (argc == 4) {
		name = argv[3];
		if (cli_check_snapshot_name(name) != 0)
			return 2;
	}
	if (cli_open(db, false, strcmp(op, "list") == 0, &env) != 0)
		return 1;
	if (strcmp(op, "list") == 0) {
		ret = snapshot_list(env, db);
	} else if (strcmp(op, "restore") == 0) {
		rc = snaps_restore(env, name, (int64_t)time(NULL), saved);
		if (rc != 0) {
			char what[KV_MAX_NAME + 64];

			snprintf(what, sizeof what, "cannot restore snapshot "
			         "'%s'", name);
			cli_fail(db, what, rc);
			ret = 1;
		} else {
			printf("restored snapshot %s; the state it replaced is "
			       "snapshot %s\n", name, saved);
			ret = 0;
		}
	} else {
		ret = snapshot_change(env, db, op, name);
	}
	kv_env_close(env);
	return ret;
}

/* ---- backup ------------------------------------------------------------ */

static const char backup_usage[] =
	"usage: cccfs backup DB DEST [--snapshot NAME]\n"
	"\n"
	"Write a compacted single-file copy of the live state (or of one\n"
	"snapshot) to DEST, which must not exist.  Consistent as of one\n"
	"commit even while the store is mounted and written.  DEST is a\n"
	"store of its own: mount it, check it, restore from it.  A store\n"
	"that `cccfs check` finds damaged is not copied (export what still\n"
	"reads instead).\n"
	"\n"
	"examples:\n"
	"  cccfs backup ~/.local/share/cccfs/ccc.db /backup/ccc-$(date +%F).db\n"
	"  cccfs backup ~/.local/share/cccfs/ccc.db old.db --snapshot monday\n";

static const struct option snapshot_opt[] = {
	{ "snapshot", required_argument, NULL, 's' },
	{ "skip-invalid", no_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Options shared by backup, export and import; positional arguments
 * land in pos[0..npos-1].  Returns -1 to continue, or an exit code. */
static int cli_parse_args(int argc, char **argv, const char *usage,
                          bool allow_snapshot, bool allow_skip,
                          const char **snap, bool *skip, const char **pos,
                          int npos)
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

static void backup_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	if (p->total == 0 && total != 0)
		p->total = total;
	progress_add(p, done - p->done);
}

/*
 * Problems in the open store: kv_check()'s (checksums, structure; reads
 * do not verify checksums, so a copy would carry damage unseen) and
 * missing kind folders (an open that fell back from a damaged newest
 * commit may find an older, emptier state, which is said as well).
 */
static uint64_t cli_damage(kv_env *env, const char *db)
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

int cmd_backup(int argc, char **argv)
{
	const char *pos[2], *snap = NULL;
	struct progress p;
	struct kv_stat st;
	char size[32];
	kv_env *env;
	struct stat sb;
	uint64_t bad;
	int rc = cli_parse_args(argc, argv, backup_usage, true, false, &snap,
	                        NULL, pos, 2);

	if (rc >= 0)
		return rc;
	if (lstat(pos[1], &sb) == 0) {
		fprintf(stderr, "cccfs: %s already exists; backup writes a new "
		        "file (choose another name or remove it)\n", pos[1]);
		return 1;
	}
	if (cli_open(pos[0], false, true, &env) != 0)
		return 1;
	if ((bad = cli_damage(env, pos[0])) != 0) {
		fprintf(stderr, "cccfs: %s: the store is damaged (%" PRIu64
		        " problems; `cccfs check %s` lists them): a backup "
		        "would carry the damage unseen, so none was made; "
		        "`cccfs export` saves what still reads\n", pos[0], bad,
		        pos[0]);
		kv_env_close(env);
		return 1;
	}
	progress_start(&p, "copying", 0);
	rc = kv_env_copy_progress(env, pos[1], snap, 0600, backup_progress,
	                          &p);
	progress_end(&p);
	kv_env_close(env);
	if (rc != 0) {
		char what[KV_MAX_NAME + 64];

		snprintf(what, sizeof what, "cannot back up%s%s to %s",
		         snap ? " snapshot " : "", snap ? snap : "", pos[1]);
		cli_fail(pos[0], what, rc);
		return 1; /* the copy removed what it made; never someone's */
	}
	/* prove the copy opens before saying it is good */
	rc = kv_env_open(&env, pos[1], KV_RDONLY, 0600);
	if (rc == 0) {
		rc = kv_env_stat(env, &st);
		kv_env_close(env);
	}
	if (rc != 0) {
		cli_fail(pos[1], "the backup does not open", rc);
		return 1;
	}
	cli_format_size(size, sizeof size, st.file_size);
	printf("wrote %s (%s, %" PRIu64 " tables)%s%s\n", pos[1], size,
	       st.tables, snap ? " from snapshot " : "", snap ? snap : "");
	return 0;
}

/* ---- export ------------------------------------------------------------ */

static const char export_usage[] =
	"usage: cccfs export DB DIR [--snapshot NAME]\n"
	"\n"
	"Write every record (of the live state, or of one snapshot) as a plain\n"
	"tree of YAML files: DIR/workflows, DIR/agents, DIR/prompts, with\n"
	"their folders, modes and times.  Side files (editor swap files,\n"
	"notes that are not .yaml/.yml) are left out.  DIR must not exist\n"
	"or be empty.  `cccfs import` loads such a tree back.  From a store\n"
	"`cccfs check` finds damaged, it exports what still reads, warns,\n"
	"and exits 3.\n"
	"\n"
	"examples:\n"
	"  cccfs export ~/.local/share/cccfs/ccc.db ~/ccc-export\n"
	"  cccfs export ~/.local/share/cccfs/ccc.db /tmp/monday --snapshot monday\n";

struct child {
	char *name;
	struct node node;
};

struct children {
	struct child *c;
	size_t n, cap;
};

static int children_add(void *ctx, const char *name, const struct node *n)
{
	struct children *ch = ctx;

	if (ch->n == ch->cap) {
		size_t cap = ch->cap ? ch->cap * 2 : 16;
		struct child *nc = realloc(ch->c, cap * sizeof *nc);

		if (nc == NULL)
			return -ENOMEM;
		ch->c = nc;
		ch->cap = cap;
	}
	ch->c[ch->n].name = strdup(name);
	if (ch->c[ch->n].name == NULL)
		return -ENOMEM;
	ch->c[ch->n].node = *n;
	ch->c[ch->n].node.xattrs = NULL; /* borrowed from the walker */
	ch->c[ch->n].node.xlen = 0;
	ch->n++;
	return 0;
}

static void children_release(struct children *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		free(ch->c[i].name);
	free(ch->c);
}

struct xport {
	struct stx s;
	struct progress p;
	uint64_t records, folders, skipped;
	const char *failed; /* the output path that failed */
};

static void set_times(int dirfd, const char *path, const struct node *n)
{
	struct timespec ts[2];

	ts[0].tv_sec = (time_t)(n->atime / 1000000000);
	ts[0].tv_nsec = (long)(n->atime % 1000000000);
	ts[1].tv_sec = (time_t)(n->mtime / 1000000000);
	ts[1].tv_nsec = (long)(n->mtime % 1000000000);
	if (ts[0].tv_nsec < 0 || ts[1].tv_nsec < 0)
		return; /* before 1970: leave the time of writing */
	(void)utimensat(dirfd, path, ts, AT_SYMLINK_NOFOLLOW);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int export_record(struct xport *x, const char *rel, const char *out,
                         const struct node *n)
{
	kv_val v;
	int fd, rc = store_content_get(&x->s, rel, n->mode, &v);

	if (rc != 0)
		return rc;
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, v.data, v.len);
	if (rc == 0 && fchmod(fd, n->mode & 07777) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		set_times(AT_FDCWD, out, n);
	return rc;
}

/* Export the folder rel of the store into the existing folder out. */
static int export_dir(struct xport *x, const char *rel, const char *out)
{
	struct children ch = { 0 };
	char srel[PM_PATH_MAX + 1];
	int rc = store_list(&x->s, rel, children_add, &ch);

	for (size_t i = 0; i < ch.n && rc == 0; i++) {
		const struct child *c = &ch.c[i];
		size_t olen = strlen(out) + strlen(c->name) + 2;
		char *opath = malloc(olen);

		if (opath == NULL) {
			rc = -ENOMEM;
			break;
		}
		snprintf(opath, olen, "%s/%s", out, c->name);
		rc = pm_join(srel, sizeof srel, rel, c->name);
		if (rc == 0 && S_ISDIR(c->node.mode)) {
			if (mkdir(opath, 0700) != 0)
				rc = -errno;
			if (rc == 0)
				rc = export_dir(x, srel, opath);
			if (rc == 0 && chmod(opath, c->node.mode & 07777) != 0)
				rc = -errno;
			if (rc == 0) {
				set_times(AT_FDCWD, opath, &c->node);
				x->folders++;
			}
		} else if (rc == 0 && S_ISREG(c->node.mode) &&
		           pm_is_record_name(c->name)) {
			rc = export_record(x, srel, opath, &c->node);
			if (rc == 0) {
				x->records++;
				progress_add(&x->p, 1);
			}
		} else if (rc == 0) {
			x->skipped++;
		}
		if (rc != 0 && x->failed == NULL)
			x->failed = strdup(opath);
		free(opath);
	}
	children_release(&ch);
	return rc;
}

/* An empty or missing folder to write into. */
static int prepare_out_dir(const char *dir)
{
	DIR *d;
	struct dirent *de;

	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			closedir(d);
			return -ENOTEMPTY;
		}
	closedir(d);
	return 0;
}

int cmd_export(int argc, char **argv)
{
	const char *pos[2], *snap = NULL;
	struct xport x;
	uint64_t total = 0, bad;
	kv_env *env;
	int rc = cli_parse_args(argc, argv, export_usage, true, false, &snap,
	                        NULL, pos, 2);

	if (rc >= 0)
		return rc;
	if (cli_open(pos[0], false, true, &env) != 0)
		return 1;
	if ((bad = cli_damage(env, pos[0])) != 0)
		fprintf(stderr, "cccfs: %s: warning: the store is damaged (%"
		        PRIu64 " problems; `cccfs check %s` lists them); "
		        "exporting what still reads, which may hold damaged "
		        "bytes\n", pos[0], bad, pos[0]);
	memset(&x, 0, sizeof x);
	rc = snap ? stx_begin_snapshot(env, snap, &x.s)
	          : stx_begin(env, false, &x.s);
	if (rc != 0) {
		cli_fail(pos[0], snap ? "cannot read the snapshot"
		                      : "cannot read the store", rc);
		kv_env_close(env);
		return 1;
	}
	rc = prepare_out_dir(pos[1]);
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: %s%s\n", pos[1], strerror(-rc),
		        rc == -ENOTEMPTY ? " (export writes into a new or "
		                           "empty folder)" : "");
		stx_abort(&x.s);
		kv_env_close(env);
		return 1;
	}
	for (int k = 0; k < PM_NKINDS; k++) {
		kv_table *t;

		if (kv_table_open(x.s.txn, pm_kind_name(k), 0, &t) == 0)
			total += kv_table_count(t);
	}
	progress_start(&x.p, "exporting", total);
	for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
		const char *kind = pm_kind_name(k);
		size_t olen = strlen(pos[1]) + strlen(kind) + 2;
		char *opath = malloc(olen);
		struct node n;

		if (opath == NULL) {
			rc = -ENOMEM;
			break;
		}
		snprintf(opath, olen, "%s/%s", pos[1], kind);
		rc = store_node_get(&x.s, kind, &n);
		if (rc == 0) {
			if (mkdir(opath, 0700) != 0)
				rc = -errno;
			if (rc == 0)
				rc = export_dir(&x, kind, opath);
			if (rc == 0 && chmod(opath, n.mode & 07777) != 0)
				rc = -errno;
			if (rc == 0)
				set_times(AT_FDCWD, opath, &n);
			node_release(&n);
		}
		if (rc != 0 && x.failed == NULL)
			x.failed = strdup(opath);
		free(opath);
	}
	progress_end(&x.p);
	stx_abort(&x.s);
	kv_env_close(env);
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: export failed: %s\n",
		        x.failed ? x.failed : pos[1], strerror(-rc));
		free((char *)x.failed);
		return 1;
	}
	printf("exported %" PRIu64 " records in %" PRIu64 " folders to %s",
	       x.records, x.folders, pos[1]);
	if (x.skipped)
		printf(" (%" PRIu64 " side files left out)", x.skipped);
	printf("%s\n", bad ? ", from a damaged store" : "");
	return bad ? 3 : 0;
}

/* ---- import ------------------------------------------------------------ */

static const char import_usage[] =
	"usage: cccfs import DB DIR [--skip-invalid]\n"
	"\n"
	"Load a tree of YAML files -- DIR/workflows, DIR/agents, DIR/prompts,\n"
	"as `cccfs export` or `cp -a` of a snapshot folder makes -- into the\n"
	"store in one transaction.  Every file is validated first; each bad\n"
	"one is reported with its path, line and column, and nothing is\n"
	"imported unless all are good (--skip-invalid imports the others).\n"
	"Records already in the store at the same path are replaced; others\n"
	"are kept.  Imported files and folders are writable by their owner.\n"
	"Files that are not .yaml/.yml records are left out, with a note.\n"
	"DB is created if it does not exist.\n"
	"\n"
	"examples:\n"
	"  cccfs import ~/.local/share/cccfs/ccc.db ~/ccc-export\n"
	"  cccfs import new.db /backup/monday --skip-invalid\n";

struct item {
	char *rel;   /* store path: "workflows/a/b.yaml" */
	char *src;   /* file system path */
	struct stat st;
	bool dir;
	bool bad;
};

struct import {
	struct item *it;
	size_t n, cap;
	uint64_t bad, skipped;
	int err;
};

static int item_add(struct import *im, const char *rel, const char *src,
                    const struct stat *st)
{
	struct item *e;

	if (im->n == im->cap) {
		size_t cap = im->cap ? im->cap * 2 : 64;
		struct item *ni = realloc(im->it, cap * sizeof *ni);

		if (ni == NULL)
			return -ENOMEM;
		im->it = ni;
		im->cap = cap;
	}
	e = &im->it[im->n];
	memset(e, 0, sizeof *e);
	e->rel = strdup(rel);
	e->src = strdup(src);
	if (e->rel == NULL || e->src == NULL) {
		free(e->rel);
		free(e->src);
		return -ENOMEM;
	}
	e->st = *st;
	e->dir = S_ISDIR(st->st_mode);
	im->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect the folder src (store path rel) and everything below it, parents
 * before children, names in byte order.  Problems are reported and
 * counted; only errors that stop the walk are returned. */
static int import_walk(struct import *im, const char *rel, const char *src)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(src);
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "cccfs: %s: %s\n", src, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 32;
			nn = realloc(names, cap * sizeof *nn);
			if (nn == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_name);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char srel[PM_PATH_MAX + 1];
		size_t slen = strlen(src) + strlen(names[i]) + 2;
		char *spath = malloc(slen);
		struct stat st;
		int jr;

		if (spath == NULL) {
			rc = -ENOMEM;
			break;
		}
		snprintf(spath, slen, "%s/%s", src, names[i]);
		jr = pm_join(srel, sizeof srel, rel, names[i]);
		if (lstat(spath, &st) != 0) {
			fprintf(stderr, "cccfs: %s: %s\n", spath,
			        strerror(errno));
			im->bad++;
		} else if (jr != 0) {
			fprintf(stderr, "%s: %s (names up to %u bytes, paths "
			        "up to %u)\n", spath, strerror(-jr),
			        PM_NAME_MAX, PM_PATH_MAX);
			im->bad++;
		} else if (S_ISDIR(st.st_mode)) {
			rc = item_add(im, srel, spath, &st);
			if (rc == 0)
				rc = import_walk(im, srel, spath);
		} else if (S_ISREG(st.st_mode) &&
		           pm_is_record_name(names[i])) {
			rc = item_add(im, srel, spath, &st);
		} else {
			fprintf(stderr, "note: %s left out (%s)\n", spath,
			        S_ISREG(st.st_mode) ? "not a .yaml/.yml record"
			        : "not a regular file or folder");
			im->skipped++;
		}
		free(spath);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Read a whole record file (at most max bytes). */
static int read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t got = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max) {
		int rc = (uint64_t)st.st_size > max ? -EFBIG : -errno;

		close(fd);
		return rc;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*data = buf;
	*len = got;
	return 0;
}

/* Read and validate one record; prints why not (erasing the progress bar
 * first).  *data is malloc'd. */
static int import_load(const struct item *e, struct progress *p, char **data,
                       size_t *len)
{
	char msg[YC_MSG_MAX];
	int rc = read_file(e->src, FS_MAX_RECORD_DEFAULT, data, len);

	if (rc != 0)
		progress_clear(p);
	if (rc == -EFBIG) {
		fprintf(stderr, "%s: larger than the %lu byte record limit\n",
		        e->src, FS_MAX_RECORD_DEFAULT);
		return rc;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", e->src, strerror(-rc));
		return rc;
	}
	rc = yaml_check(*data, *len, msg, sizeof msg);
	if (rc != 0) {
		progress_clear(p);
		fprintf(stderr, "%s: %s\n", e->src,
		        rc == -EINVAL ? msg : strerror(-rc));
		free(*data);
		*data = NULL;
	}
	return rc;
}

/* Put one folder or record into the store. */
static int import_put(struct stx *s, const struct item *e, const char *data,
                      size_t len)
{
	uint32_t mode = (uint32_t)(e->st.st_mode & 07777) |
	                (e->dir ? 0700u : 0600u);
	struct node n;
	int rc = store_node_get(s, e->rel, &n);

	if (rc == 0 && S_ISDIR(n.mode) != e->dir) {
		fprintf(stderr, "%s: the store has a %s at /%s\n", e->src,
		        S_ISDIR(n.mode) ? "folder" : "file", e->rel);
		node_release(&n);
		return -EEXIST;
	}
	if (rc == -ENOENT) {
		node_fresh(&n, (e->dir ? S_IFDIR : S_IFREG) | mode, getuid(),
		           getgid());
		rc = 0;
	}
	if (rc != 0)
		return rc;
	n.mode = (n.mode & S_IFMT) | mode;
	n.atime = node_time_of(e->st.st_atim);
	n.mtime = node_time_of(e->st.st_mtim);
	n.ctime = clock_real_ns();
	if (!e->dir) {
		n.size = len;
		n.txnid = kv_txn_id(s->txn);
		rc = store_content_put(s, e->rel, n.mode, data, len);
	}
	if (rc == 0)
		rc = store_node_put(s, e->rel, &n);
	node_release(&n);
	return rc;
}

static void import_release(struct import *im)
{
	for (size_t i = 0; i < im->n; i++) {
		free(im->it[i].rel);
		free(im->it[i].src);
	}
	free(im->it);
}

int cmd_import(int argc, char **argv)
{
	const char *pos[2], *snap = NULL;
	struct import im = { 0 };
	struct progress p;
	bool skip = false;
	uint64_t records = 0, folders = 0, kinds = 0;
	struct stx s;
	kv_env *env;
	struct stat st;
	int rc = cli_parse_args(argc, argv, import_usage, false, true, &snap,
	                        &skip, pos, 2);

	if (rc >= 0)
		return rc;
	rc = 0;
	if (stat(pos[1], &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cccfs: %s: %s\n", pos[1],
		        errno && !S_ISDIR(st.st_mode) ? strerror(errno)
		                                      : "not a folder");
		return 1;
	}
	/* 1. walk: the three kind folders, nothing else at the top */
	for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
		size_t l = strlen(pos[1]) + strlen(pm_kind_name(k)) + 2;
		char *src = malloc(l);

		if (src == NULL) {
			rc = -ENOMEM;
			break;
		}
		snprintf(src, l, "%s/%s", pos[1], pm_kind_name(k));
		if (lstat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
			kinds++;
			rc = item_add(&im, pm_kind_name(k), src, &st);
			if (rc == 0)
				rc = import_walk(&im, pm_kind_name(k), src);
		}
		free(src);
	}
	if (rc != 0 || kinds == 0) {
		if (rc != 0)
			fprintf(stderr, "cccfs: %s: cannot read the tree: %s\n",
			        pos[1], strerror(-rc));
		else
			fprintf(stderr, "cccfs: %s holds none of workflows/, "
			        "agents/, prompts/: nothing to import\n",
			        pos[1]);
		import_release(&im);
		return 1;
	}
	{
		DIR *d = opendir(pos[1]);
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' &&
			    pm_kind_of(de->d_name) < 0) {
				fprintf(stderr, "note: %s/%s left out (only "
				        "workflows/, agents/ and prompts/ are "
				        "imported)\n", pos[1], de->d_name);
				im.skipped++;
			}
		if (d)
			closedir(d);
	}
	/* 2. validate every record before touching the store */
	progress_start(&p, "validating", im.n);
	for (size_t i = 0; i < im.n; i++) {
		char *data = NULL;
		size_t len = 0;

		progress_add(&p, 1);
		if (im.it[i].dir)
			continue;
		if (import_load(&im.it[i], &p, &data, &len) != 0) {
			im.it[i].bad = true;
			im.bad++;
		}
		free(data);
	}
	progress_end(&p);
	if (im.bad && !skip) {
		fprintf(stderr, "cccfs: %" PRIu64 " invalid file%s: nothing "
		        "imported (fix them, or use --skip-invalid to import "
		        "the others)\n", im.bad, im.bad == 1 ? "" : "s");
		import_release(&im);
		return 1;
	}
	/* 3. one transaction.  Each file is read (and validated) again
	 * rather than kept from step 2: memory stays one record deep however
	 * large the tree, and a file changed in between is caught. */
	if (cli_open(pos[0], true, false, &env) != 0) {
		import_release(&im);
		return 1;
	}
	rc = stx_begin(env, true, &s);
	progress_start(&p, "importing", im.n);
	for (size_t i = 0; i < im.n && rc == 0; i++) {
		const struct item *e = &im.it[i];
		char *data = NULL;
		size_t len = 0;

		progress_add(&p, 1);
		if (e->bad)
			continue;
		if (!e->dir) {
			rc = import_load(e, &p, &data, &len);
			if (rc != 0) {
				progress_clear(&p);
				fprintf(stderr, "cccfs: %s changed while "
				        "importing: nothing imported\n",
				        e->src);
				break;
			}
		}
		rc = import_put(&s, e, data, len);
		free(data);
		if (rc == 0 && e->dir)
			folders++;
		else if (rc == 0)
			records++;
	}
	progress_end(&p);
	if (rc == 0)
		rc = stx_commit(&s, KV_DURABLE_IMMEDIATE);
	else if (s.txn)
		stx_abort(&s);
	kv_env_close(env);
	import_release(&im);
	if (rc != 0) {
		cli_fail(pos[0], "import failed; the store is unchanged", rc);
		return 1;
	}
	printf("imported %" PRIu64 " records and %" PRIu64 " folders into %s",
	       records, folders, pos[0]);
	if (im.bad)
		printf(" (%" PRIu64 " invalid file%s skipped)", im.bad,
		       im.bad == 1 ? "" : "s");
	printf("\n");
	return 0;
}
