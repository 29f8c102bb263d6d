/*
 * mv: `cccfs mv DB OLD NEW` -- rename a record and rewrite every
 * reference to it (refs.h), in one commit: each referring record gets
 * one new version.  A plain mv inside the mount stays a plain rename.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pathmap.h"
#include "refs.h"
#include "store.h"

const char cmd_mv_usage[] =
        "usage: cccfs mv [DB] OLD NEW\n"
        "\n"
        "Rename the record OLD to NEW and rewrite every reference to it\n"
        "(agents:, prompts:, steps' agent: and prompt:) in the records\n"
        "that make one, all in one commit: each of them gets one new\n"
        "version, and the history follows the renamed record.  NEW must\n"
        "not exist; its folder must.  A plain mv in the mount renames\n"
        "only; cccfs check --refs then lists what it left dangling.\n"
        "Works while mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "example:\n"
        "  cccfs mv ~/.local/share/cccfs/ccc.db agents/reviewer.yaml "
        "agents/critic.yaml\n";

static int do_mv(kv_env *env, const char *old, const char *new,
                 struct refs_move *res)
{
	struct stx s;
	int rc = stx_begin(env, true, &s);

	if (rc != 0)
		return rc;
	rc = refs_move(&s, old, new, res);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

int cmd_mv(int argc, char **argv)
{
	char old[PM_PATH_MAX + 1], new[PM_PATH_MAX + 1];
	struct refs_move res;
	kv_env *env;
	int rc;

	const char *db;

	for (int i = 1; i < argc; i++)
		if (*argv[i] == '-')
			return cli_usage_error("mv", cmd_mv_usage);
	if (argc != 3 && argc != 4)
		return cli_usage_error("mv", cmd_mv_usage);
	db = cli_db_or_default(argc == 4 ? argv[1] : NULL);
	if (db == NULL)
		return 2;
	if (cli_store_path(argv[argc - 2], old, sizeof(old)) != 0 ||
	    cli_store_path(argv[argc - 1], new, sizeof(new)) != 0)
		return 2;
	if (!pm_is_record_name(pm_basename(old)) ||
	    !pm_is_record_name(pm_basename(new))) {
		fprintf(stderr,
		        "cccfs: mv renames records (NAME.yaml); "
		        "rename folders and other files in the mount\n");
		return 2;
	}
	if (cli_open(db, CLI_OPEN_WRITE, &env) != 0)
		return 1;
	rc = do_mv(env, old, new, &res);
	kv_env_close(env);
	if (rc == -ENOENT)
		fprintf(stderr, "cccfs: %s: no record %s\n", db, old);
	else if (rc == -EEXIST)
		fprintf(stderr, "cccfs: %s: %s exists\n", db, new);
	else if (rc == -ENOTDIR)
		fprintf(stderr, "cccfs: %s: the folder of %s does not exist\n",
		        db, new);
	else if (rc == -EISDIR)
		fprintf(stderr, "cccfs: %s: %s is not a record\n", db, old);
	else if (rc == -EINVAL)
		fprintf(stderr,
		        "cccfs: %s: %s would no longer be a valid record (%s); "
		        "nothing renamed\n",
		        db, res.bad, res.msg);
	else if (rc != 0)
		cli_fail(db, old, rc);
	if (rc != 0)
		return 1;
	printf("renamed %s -> %s; rewrote %u reference%s in %u record%s\n", old,
	       new, res.refs, res.refs == 1 ? "" : "s", res.records,
	       res.records == 1 ? "" : "s");
	if (res.dangling)
		printf("the references to %s could not follow it (another "
		       "kind, "
		       "or a name no reference can use): cccfs check --refs "
		       "lists them\n",
		       old);
	return 0;
}
