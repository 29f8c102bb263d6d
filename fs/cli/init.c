/*
 * init: `cccfs init DB` creates a store, or leaves an existing one as is
 * (store_open() with KV_CREATE).
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cccfs/kv.h>

#include "store.h"

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
	enum store_step failed;
	struct kv_stat st;
	kv_env *env;
	int rc;

	if (argc != 2)
		return cli_usage_error("init", cmd_init_usage);
	rc = store_open(argv[1], KV_CREATE, &env, &failed);
	if (rc != 0 && failed == STORE_STEP_OPEN) {
		fprintf(stderr, "cccfs: %s: cannot open: %s%s%s\n", argv[1],
		        kv_strerror(rc), *kv_errmsg() ? ": " : "", kv_errmsg());
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: cannot initialize: %s\n", argv[1],
		        strerror(-rc));
		return 1;
	}
	if (kv_env_stat(env, &st) != 0)
		memset(&st, 0, sizeof st);
	if (st.rolled_back_txnid)
		fprintf(stderr, "cccfs: %s: the newest commit (txn %" PRIu64
		        ") was incomplete or damaged; opened at the commit "
		        "before it\n", argv[1], st.rolled_back_txnid);
	if (st.recovered)
		fprintf(stderr, "cccfs: %s: %" PRIu64 " commits repeated from "
		        "the commit log after a crash\n", argv[1],
		        st.recovered);
	kv_env_close(env);
	return 0;
}
