/*
 * import: `cccfs import [DB] DIR [--skip-invalid]` loads a tree of records
 * -- the one export or `cp -a` of a snapshot folder makes -- in one
 * transaction, after validating every file.
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
#include <unistd.h>

#include <cccfs/kv.h>

#include "clock.h"
#include "defaults.h"
#include "pathmap.h"
#include "progress.h"
#include "store.h"
#include "yaml_check.h"

static const char cmd_import_usage[] =
        "usage: cccfs import [DB] DIR [--skip-invalid]\n"
        "\n"
        "Load a tree of YAML files -- DIR/workflows, DIR/agents, DIR/prompts,\n"
        "as `cccfs export` or `cp -a` of a snapshot folder makes -- into the\n"
        "store in one transaction.  Every file is validated first; each bad\n"
        "one is reported with its path, line and column, and nothing is\n"
        "imported unless all are good (--skip-invalid imports the others).\n"
        "Records already in the store at the same path are replaced; others\n"
        "are kept.  Files and folders keep their modes and times, so a copy\n"
        "of a snapshot folder comes in read-only, as the snapshot shows it\n"
        "(`chmod -R u+w DIR` first for writable records).\n"
        "Files that are not .yaml/.yml records are left out, with a note.\n"
        "DB is created if it does not exist.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs import ~/ccc-export\n"
        "  cccfs import new.db /backup/monday --skip-invalid\n";

struct item {
	char *rel; /* store path: "workflows/a/b.yaml" */
	char *src; /* file system path */
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
		struct item *ni = realloc(im->it, cap * sizeof(*ni));

		if (ni == NULL)
			return -ENOMEM;
		im->it = ni;
		im->cap = cap;
	}
	e = &im->it[im->n];
	memset(e, 0, sizeof(*e));
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
			nn = realloc(names, cap * sizeof(*nn));
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
		qsort(names, n, sizeof(*names), cmp_name);
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
		jr = pm_join(srel, sizeof(srel), rel, names[i]);
		if (lstat(spath, &st) != 0) {
			fprintf(stderr, "cccfs: %s: %s\n", spath,
			        strerror(errno));
			im->bad++;
		} else if (jr != 0) {
			fprintf(stderr,
			        "%s: %s (names up to %u bytes, paths "
			        "up to %u)\n",
			        spath, strerror(-jr), PM_NAME_MAX, PM_PATH_MAX);
			im->bad++;
		} else if (S_ISDIR(st.st_mode)) {
			rc = item_add(im, srel, spath, &st);
			if (rc == 0)
				rc = import_walk(im, srel, spath);
		} else if (S_ISREG(st.st_mode) && pm_is_record_name(names[i])) {
			rc = item_add(im, srel, spath, &st);
		} else {
			fprintf(stderr, "note: %s left out (%s)\n", spath,
			        S_ISREG(st.st_mode)
			                ? "not a .yaml/.yml record"
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

/*
 * Read a whole record file: to its end, whatever size fstat gave (a file
 * in /proc says 0, and a file may change while it is read), and at most
 * max bytes (-EFBIG beyond).  A read that fails is an error, never a
 * shorter record.  *data is malloc'd, *len bytes.
 */
static int read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t got = 0, cap;
	char *buf = NULL;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	/* a byte more than the size, to meet the end in the first read */
	cap = (size_t)st.st_size + 1;
	if (cap < 4096)
		cap = max < 4096 ? max + 1 : 4096;
	for (;;) {
		ssize_t r;

		if (got == cap) {
			size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				rc = -EFBIG;
				break;
			}
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		} else if (buf == NULL && (buf = malloc(cap)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (rc == 0 && got > max)
		rc = -EFBIG;
out:
	close(fd);
	if (rc != 0) {
		free(buf);
		return rc;
	}
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
	rc = yaml_check(*data, *len, msg, sizeof(msg));
	if (rc != 0) {
		progress_clear(p);
		fprintf(stderr, "%s: %s\n", e->src,
		        rc == -EINVAL ? msg : strerror(-rc));
		free(*data);
		*data = NULL;
	}
	return rc;
}

/* Put one folder or record into the store, with its mode and times. */
static int import_put(struct stx *s, const struct item *e, const char *data,
                      size_t len)
{
	uint32_t mode = (uint32_t)(e->st.st_mode & 07777);
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
	int rc = cli_parse_args(argc, argv, cmd_import_usage, false, true,
	                        &snap, &skip, pos, 2);

	if (rc >= 0)
		return rc;
	rc = 0;
	if (stat(pos[1], &st) != 0) {
		fprintf(stderr, "cccfs: %s: %s\n", pos[1], strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cccfs: %s: not a folder\n", pos[1]);
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
			fprintf(stderr,
			        "cccfs: %s holds none of workflows/, "
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
				fprintf(stderr,
				        "note: %s/%s left out (only "
				        "workflows/, agents/ and prompts/ are "
				        "imported)\n",
				        pos[1], de->d_name);
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
		fprintf(stderr,
		        "cccfs: %" PRIu64 " invalid file%s: nothing "
		        "imported (fix them, or use --skip-invalid to import "
		        "the others)\n",
		        im.bad, im.bad == 1 ? "" : "s");
		import_release(&im);
		return 1;
	}
	/* 3. one transaction.  Each file is read (and validated) again
	 * rather than kept from step 2: memory stays one record deep however
	 * large the tree, and a file changed in between is caught. */
	if (cli_open(pos[0], CLI_OPEN_CREATE, &env) != 0) {
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
				fprintf(stderr,
				        "cccfs: %s changed while "
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
