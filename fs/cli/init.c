/*
 * init: `cccfs init DB` creates a store, or leaves an existing one as is
 * (cli_open() with CLI_OPEN_INIT: store_open() with KV_CREATE).
 */
#include "cli.h"

#include <cccfs/kv.h>

const char cmd_init_usage[] =
        "usage: cccfs init DB\n"
        "\n"
        "Create an empty store (mode 0600) with its three folders:\n"
        "workflows, agents and prompts.  An existing store is left as is.\n"
        "\n"
        "example:\n"
        "  cccfs init ~/.local/share/cccfs/ccc.db\n";

int cmd_init(int argc, char **argv)
{
	kv_env *env;

	if (argc != 2)
		return cli_usage_error("init", cmd_init_usage);
	if (cli_open(argv[1], CLI_OPEN_INIT, &env) != 0)
		return 1;
	kv_env_close(env);
	return 0;
}
