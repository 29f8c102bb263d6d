/*
 * ls: `cccfs ls [DB] [DIR] [--deleted]` -- the folders and files directly
 * in a folder of the store, as full paths (folders end in '/'), read
 * without a mount.  The bash completion reads it to complete the PATH of
 * log, restore, label, refs, mv and render.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "history.h"
#include "pathmap.h"
#include "store.h"

const char cmd_ls_usage[] =
        "usage: cccfs ls [DB] [DIR] [--deleted]\n"
        "\n"
        "The folders and files directly in DIR (a folder of the store,\n"
        "as in the mount: prompts/coding; without DIR, the top), one\n"
        "full path a line, in name order, each folder ending in '/'.\n"
        "Control characters in names are shown as C escapes (\\x1b, \\n)\n"
        "and a backslash as \\\\.  --deleted then adds, in name order,\n"
        "the deleted records whose history is kept (cccfs log, cccfs\n"
        "restore) and the folders that hold only such records.  Works\n"
        "while mounted.\n"
        "A single operand is DIR when it starts with workflows, agents\n"
        "or prompts.\n" CLI_DEFAULT_DB_HELP "\n"
        "example:\n"
        "  cccfs ls ~/.local/share/cccfs/ccc.db prompts\n";

struct ls {
	struct stx *s;
	const char *dir;
	bool deleted;
};

static void put_path(const struct ls *l, const char *name, size_t len,
                     bool folder)
{
	char path[PM_PATH_MAX + 2];
	char shown[4 * (PM_PATH_MAX + 2) + 1];
	size_t dl = strlen(l->dir);

	if (dl + 1 + len + 1 > sizeof(path))
		return; /* no name below a path that long */
	memcpy(path, l->dir, dl);
	if (dl > 0)
		path[dl++] = '/';
	memcpy(path + dl, name, len);
	path[dl + len] = '\0';
	if (folder)
		strcat(path, "/");
	printf("%s\n", cli_escape(shown, sizeof(shown), path));
}

static int ls_live(void *ctx, const char *name, const struct node *n)
{
	struct ls *l = ctx;

	put_path(l, name, strlen(name), S_ISDIR(n->mode));
	return 0;
}

/* A name with history that the tree does not hold (deleted). */
static int ls_gone(void *ctx, const char *name, size_t len)
{
	struct ls *l = ctx;
	char path[PM_PATH_MAX + 2];
	size_t dl = strlen(l->dir);
	struct node n;
	int rc;

	if (dl + 1 + len + 1 > sizeof(path))
		return 0;
	memcpy(path, l->dir, dl);
	if (dl > 0)
		path[dl++] = '/';
	memcpy(path + dl, name, len);
	path[dl + len] = '\0';
	rc = store_node_get(l->s, path, &n);
	if (rc == 0) {
		node_release(&n);
		return 0; /* listed with the live ones */
	}
	if (rc != -ENOENT)
		return rc;
	memcpy(path, name, len);
	path[len] = '\0';
	put_path(l, name, len, !pm_is_record_name(path));
	return 0;
}

int cmd_ls(int argc, char **argv)
{
	const char *db = NULL, *dir = NULL;
	char norm[PM_PATH_MAX + 1] = "";
	struct ls l = { 0 };
	struct node n;
	struct stx s = { 0 };
	kv_env *env;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--deleted") == 0)
			l.deleted = true;
		else if (*argv[i] == '-')
			return cli_usage_error("ls", cmd_ls_usage);
		else if (db == NULL)
			db = argv[i];
		else if (dir == NULL)
			dir = argv[i];
		else
			return cli_usage_error("ls", cmd_ls_usage);
	}
	/* one operand: a folder of the store, or DB */
	if (db != NULL && dir == NULL &&
	    pm_kind_of(db + strspn(db, "/")) >= 0) {
		dir = db;
		db = NULL;
	}
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	if (dir != NULL && cli_store_path_prefix(dir, norm, sizeof(norm)) != 0)
		return 2;
	if (cli_open(db, CLI_OPEN_READ, &env) != 0)
		return 1;
	rc = stx_begin(env, false, &s);
	l.s = &s;
	l.dir = norm;
	if (rc == 0 && norm[0] != '\0') {
		rc = store_node_get(&s, norm, &n);
		if (rc == 0) {
			if (!S_ISDIR(n.mode))
				rc = -ENOTDIR;
			node_release(&n);
		} else if (rc == -ENOENT && l.deleted) {
			rc = hist_has(&s, norm) > 0 ? 0 : -ENOENT;
		}
	}
	if (rc == 0)
		rc = store_list(&s, norm, ls_live, &l);
	if (rc == 0 && l.deleted)
		rc = hist_children(&s, norm, ls_gone, &l);
	stx_abort(&s);
	kv_env_close(env);
	if (rc != 0) {
		cli_fail(db, dir != NULL ? dir : "/", rc);
		return 1;
	}
	return 0;
}
