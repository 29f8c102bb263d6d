/*
 * prune: `cccfs prune [DB] [--keep SPEC]` -- delete the older versions a
 * retention spec no longer keeps, now, in one commit (history.h).  What a
 * mounted daemon does in the background with -o history_keep, for a disk
 * that is full now: deleting records keeps their content as versions,
 * so only pruning gives that space back.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "defaults.h"
#include "history.h"
#include "store.h"

const char cmd_prune_usage[] =
        "usage: cccfs prune [DB] [--keep SPEC]\n"
        "\n"
        "Delete, now and in one commit, the older versions of records\n"
        "(.history) that SPEC no longer keeps: every version younger than\n"
        "a duration, and at least the newest N of each record, as\n"
        "DURATION,N (default " FS_HISTORY_KEEP_DEFAULT
        ", the mount's default).  Versions a\n"
        "label pins are kept.  A mounted daemon prunes by -o history_keep\n"
        "in the background; this is for a disk that is full now: deleting\n"
        "records keeps their content as versions, and only pruning gives\n"
        "that space back.  --keep 1 keeps no older version at all.  Works\n"
        "while mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "example:\n"
        "  cccfs prune --keep 7d,10\n";

int cmd_prune(int argc, char **argv)
{
	const char *db = NULL, *spec = FS_HISTORY_KEEP_DEFAULT;
	struct hist_space before, after;
	struct hist_keep k;
	uint64_t pruned = 0;
	kv_env *env;
	struct stx s;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
			spec = argv[++i];
		else if (*argv[i] == '-' || db != NULL)
			return cli_usage_error("prune", cmd_prune_usage);
		else
			db = argv[i];
	}
	if (hist_parse_keep(spec, &k) != 0 || k.off) {
		fprintf(stderr,
		        "cccfs: --keep %s: a duration and a count, such as "
		        "30d,50 (or all)\n",
		        spec);
		return 2;
	}
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	if (cli_open(db, CLI_OPEN_WRITE, &env) != 0)
		return 1;
	rc = stx_begin(env, true, &s);
	if (rc == 0)
		rc = hist_space(&s, &before);
	if (rc == 0)
		rc = hist_prune(&s, &k, clock_real_ns(), 0, &pruned);
	if (rc == 0)
		rc = hist_space(&s, &after);
	if (rc == 0 && pruned > 0)
		rc = stx_commit(&s, KV_DURABLE_IMMEDIATE);
	else
		stx_abort(&s);
	/* the pages the commit freed are reusable once it is the state a
	 * power loss falls back to: at once, for a full disk */
	if (rc == 0 && pruned > 0)
		rc = kv_to_errno(kv_env_checkpoint(env));
	kv_env_close(env);
	if (rc != 0) {
		cli_fail(db, "prune", rc);
		return 1;
	}
	{
		char freed[32], left[32];

		cli_format_size(freed, sizeof(freed),
		                before.bytes - after.bytes);
		cli_format_size(left, sizeof(left), after.bytes);
		printf("pruned %" PRIu64 " version%s (%s); %" PRIu64
		       " older versions left (%s)\n",
		       pruned, pruned == 1 ? "" : "s", freed, after.versions,
		       left);
	}
	return 0;
}
