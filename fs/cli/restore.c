/*
 * restore: `cccfs restore DB PATH --version N | --snapshot NAME` brings
 * back one record's content from its history or from a snapshot, as a
 * new commit: the version it replaces stays in the history, so a restore
 * is itself undone by restoring again.  A deleted record is created again
 * (with its folders, if they went too).
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "history.h"
#include "pathmap.h"
#include "store.h"

const char cmd_restore_usage[] =
        "usage: cccfs restore [DB] PATH --version N\n"
        "       cccfs restore [DB] PATH --snapshot NAME\n"
        "\n"
        "Make version N of the record at PATH (see cccfs log DB PATH), or\n"
        "its content in snapshot NAME, the record's content again, in one\n"
        "new commit.  Nothing is lost: the content it replaces becomes a\n"
        "version of its own.  A deleted record comes back, with the\n"
        "folders it was in.  Works while mounted: the mount shows the\n"
        "restored content at once.  To restore a whole snapshot, see\n"
        "cccfs snapshot DB restore NAME.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs restore ~/.local/share/cccfs/ccc.db prompts/review.yaml "
        "--version 3\n"
        "  cccfs restore ~/.local/share/cccfs/ccc.db prompts/review.yaml "
        "--snapshot auto-2026-12-01T090000Z\n";

/* The content to restore, from history or a snapshot (malloc'd). */
static int fetch(kv_env *env, const char *db, const char *path, uint64_t v,
                 const char *snap, void **data, size_t *len, uint32_t *mode)
{
	struct hist_item it;
	struct node n;
	struct stx s;
	kv_val val;
	int rc;

	if (snap == NULL) {
		rc = stx_begin(env, false, &s);
		if (rc == 0)
			rc = hist_get(&s, path, v, &it, data, len);
		stx_abort(&s);
		if (rc == -ENOENT)
			fprintf(stderr,
			        "cccfs: %s: %s has no version %" PRIu64
			        " (cccfs log DB %s lists them)\n",
			        db, path, v, path);
		else if (rc != 0)
			cli_fail(db, path, rc);
		if (rc == 0)
			*mode = it.mode;
		return rc;
	}
	rc = stx_begin_snapshot(env, snap, &s);
	if (rc == -ENOENT) {
		fprintf(stderr, "cccfs: %s: no snapshot named '%s'\n", db,
		        snap);
		return rc;
	}
	if (rc == 0)
		rc = store_node_get(&s, path, &n);
	if (rc == 0 &&
	    (!S_ISREG(n.mode) || !pm_is_record_name(pm_basename(path)))) {
		node_release(&n);
		rc = -EISDIR;
	}
	if (rc == 0) {
		*mode = n.mode;
		node_release(&n);
		rc = store_content_get(&s, path, *mode, &val);
	}
	if (rc == 0) {
		*data = malloc(val.len ? val.len : 1);
		if (*data == NULL)
			rc = -ENOMEM;
		else
			memcpy(*data, val.data, val.len);
		*len = val.len;
	}
	stx_abort(&s);
	if (rc == -ENOENT || rc == -EISDIR)
		fprintf(stderr, "cccfs: %s: snapshot '%s' holds no record %s\n",
		        db, snap, path);
	else if (rc != 0)
		cli_fail(db, path, rc);
	return rc;
}

/* Create the folders above path that are missing (a deleted record's). */
static int make_parents(struct stx *s, const char *path, int64_t now)
{
	char dir[PM_PATH_MAX + 1];
	size_t len = strlen(path);
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i++) {
		struct node n;

		if (path[i] != '/')
			continue;
		memcpy(dir, path, i);
		dir[i] = '\0';
		rc = store_node_get(s, dir, &n);
		if (rc == 0) {
			if (!S_ISDIR(n.mode))
				rc = -ENOTDIR;
			node_release(&n);
			continue;
		}
		if (rc != -ENOENT || pm_depth(dir) < 2)
			break;
		node_fresh(&n, S_IFDIR | 0755, getuid(), getgid());
		n.mtime = n.ctime = n.crtime = n.atime = now;
		rc = store_node_put(s, dir, &n);
		if (rc == 0)
			rc = store_touch_parent(s, dir, now);
	}
	return rc;
}

/* In one commit: the content at path, creating the record if need be.
 * *same: it already was. */
static int put(kv_env *env, const char *path, const void *data, size_t len,
               uint32_t mode, bool *same)
{
	int64_t now = clock_real_ns();
	struct node n;
	struct stx s;
	kv_val cur;
	int rc = stx_begin(env, true, &s);

	*same = false;
	if (rc != 0)
		return rc;
	rc = store_node_get(&s, path, &n);
	if (rc == 0 && !S_ISREG(n.mode)) {
		rc = S_ISDIR(n.mode) ? -EISDIR : -EINVAL;
	} else if (rc == 0) {
		rc = store_content_get(&s, path, n.mode, &cur);
		*same = rc == 0 && cur.len == len &&
		        (len == 0 || memcmp(cur.data, data, len) == 0);
	} else if (rc == -ENOENT) {
		rc = make_parents(&s, path, now);
		node_fresh(&n, S_IFREG | (mode & 07777), getuid(), getgid());
		n.crtime = now;
		if (rc == 0)
			rc = store_touch_parent(&s, path, now);
	}
	if (rc == 0 && !*same) {
		rc = store_content_put(&s, path, n.mode, data, len);
		n.size = len;
		n.mtime = n.ctime = now;
		n.txnid = kv_txn_id(s.txn);
		if (rc == 0)
			rc = store_node_put(&s, path, &n);
	}
	if (rc == 0 || rc == -EISDIR || rc == -EINVAL)
		node_release(&n);
	if (rc != 0 || *same) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

static int last_version(void *ctx, const struct hist_item *it)
{
	if (it->kind != HI_RENAME)
		*(uint64_t *)ctx = it->version;
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	const char *db = NULL, *arg = NULL, *snap = NULL, *vs = NULL;
	char path[PM_PATH_MAX + 1];
	uint64_t v = 0, now_v = 0;
	void *data = NULL;
	size_t len = 0;
	uint32_t mode = 0;
	kv_env *env;
	struct stx s;
	bool same;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0 && i + 1 < argc && !vs)
			vs = argv[++i];
		else if (strcmp(argv[i], "--snapshot") == 0 && i + 1 < argc &&
		         !snap)
			snap = argv[++i];
		else if (*argv[i] == '-')
			return cli_usage_error("restore", cmd_restore_usage);
		else if (db == NULL)
			db = argv[i];
		else if (arg == NULL)
			arg = argv[i];
		else
			return cli_usage_error("restore", cmd_restore_usage);
	}
	if (db != NULL && arg == NULL) { /* DB left out */
		arg = db;
		db = NULL;
	}
	if (arg == NULL || (vs == NULL) == (snap == NULL))
		return cli_usage_error("restore", cmd_restore_usage);
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	if (vs != NULL && cli_parse_version(vs, &v) != 0)
		return 2;
	if (cli_store_path(arg, path, sizeof(path)) != 0)
		return 2;
	if (!pm_is_record_name(pm_basename(path))) {
		fprintf(stderr,
		        "cccfs: %s: not a record (records end in .yaml or "
		        ".yml)\n",
		        path);
		return 2;
	}
	if (cli_open(db, CLI_OPEN_WRITE, &env) != 0)
		return 1;
	rc = fetch(env, db, path, v, snap, &data, &len, &mode);
	if (rc == 0) {
		rc = put(env, path, data, len, mode, &same);
		if (rc != 0)
			cli_fail(db, path, rc);
	}
	free(data);
	if (rc == 0 && stx_begin(env, false, &s) == 0) {
		(void)hist_each(&s, path, last_version, &now_v);
		stx_abort(&s);
	}
	kv_env_close(env);
	if (rc != 0)
		return 1;
	if (same)
		printf("%s already holds that content (version %" PRIu64
		       "); nothing to do\n",
		       path, now_v);
	else if (snap)
		printf("restored %s from snapshot %s as version %" PRIu64 "\n",
		       path, snap, now_v);
	else
		printf("restored %s from version %" PRIu64
		       " as version %" PRIu64 "\n",
		       path, v, now_v);
	return 0;
}
