/*
 * init: `cccfs init [DB]` creates a store, or leaves an existing one as
 * is (cli_open() with CLI_OPEN_INIT: store_open() with KV_CREATE).
 */
#include "cli.h"

#include <cccfs/kv.h>

const char cmd_init_usage[] =
        "usage: cccfs init [DB]\n"
        "\n"
        "Create an empty store (mode 0600) with its three folders:\n"
        "workflows, agents and prompts.  An existing store is left as "
        "is.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs init\n"
        "  cccfs init /srv/ccc/team.db\n";

int cmd_init(int argc, char **argv)
{
	const char *db;
	kv_env *env;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return cli_usage_error("init", cmd_init_usage);
	db = cli_db_or_default(argc == 2 ? argv[1] : NULL);
	if (db == NULL)
		return 2;
	if (cli_open(db, CLI_OPEN_INIT, &env) != 0)
		return 1;
	kv_env_close(env);
	return 0;
}
