/*
 * export: `cccfs export [DB] DIR [--snapshot NAME]` writes a plain tree of
 * the records (folders and .yaml/.yml files, with their modes and times),
 * the tree `cccfs import` loads back.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "progress.h"
#include "store.h"

static const char cmd_export_usage[] =
        "usage: cccfs export [DB] DIR [--snapshot NAME]\n"
        "\n"
        "Write every record (of the live state, or of one snapshot) as a "
        "plain\n"
        "tree of YAML files: DIR/workflows, DIR/agents, DIR/prompts, with\n"
        "their folders, modes and times.  Side files (editor swap files,\n"
        "notes that are not .yaml/.yml) are left out.  DIR must not exist\n"
        "or be empty.  `cccfs import` loads such a tree back.  From a store\n"
        "`cccfs check` finds damaged, it exports what still reads, warns,\n"
        "and exits 3.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs export ~/ccc-export\n"
        "  cccfs export /tmp/monday --snapshot monday\n"
        "  cccfs export /backup/ccc-2026-11-02.db /tmp/old\n";

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
		struct child *nc = realloc(ch->c, cap * sizeof(*nc));

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

/* The node's access and modification times on the exported path, to the
 * nanosecond, before 1970 as well. */
static void set_times(int dirfd, const char *path, const struct node *n)
{
	struct timespec ts[2];

	ts[0] = node_timespec(n->atime);
	ts[1] = node_timespec(n->mtime);
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
		rc = pm_join(srel, sizeof(srel), rel, c->name);
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
	int rc = cli_parse_args(argc, argv, cmd_export_usage, true, false,
	                        &snap, NULL, pos, 2);

	if (rc >= 0)
		return rc;
	if (cli_open(pos[0], CLI_OPEN_READ, &env) != 0)
		return 1;
	if ((bad = cli_damage(env, pos[0])) != 0)
		fprintf(stderr,
		        "cccfs: %s: warning: the store is damaged (%" PRIu64
		        " problems; `cccfs check %s` lists them); "
		        "exporting what still reads, which may hold damaged "
		        "bytes\n",
		        pos[0], bad, pos[0]);
	memset(&x, 0, sizeof(x));
	rc = snap ? stx_begin_snapshot(env, snap, &x.s)
	          : stx_begin(env, false, &x.s);
	if (rc == -ENOENT && snap)
		cli_no_snapshot(pos[0], snap);
	else if (rc != 0)
		cli_fail(pos[0],
		         snap ? "cannot read the snapshot"
		              : "cannot read the store",
		         rc);
	if (rc != 0) {
		kv_env_close(env);
		return 1;
	}
	rc = prepare_out_dir(pos[1]);
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: %s%s\n", pos[1], strerror(-rc),
		        rc == -ENOTEMPTY ? " (export writes into a new or "
		                           "empty folder)"
		                         : "");
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
