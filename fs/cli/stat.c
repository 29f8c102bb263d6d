/*
 * stat: `cccfs stat [DB]` prints what kv_env_stat() and kv_table_list() say
 * about a store: file, pages, commits, tables, snapshots, readers.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cccfs/kv.h>

#include "history.h"
#include "store.h"

const char cmd_stat_usage[] =
        "usage: cccfs stat [DB]\n"
        "\n"
        "Show the file size, pages in use and free, tables with their\n"
        "entry counts, snapshots, the last commit (time, transaction\n"
        "id, whether it is durable) and the space the records' older\n"
        "versions hold (.history).  Works while "
        "mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs stat\n"
        "  cccfs stat /backup/ccc-2026-11-02.db\n";

static int print_table(void *ctx, const char *name, uint64_t count)
{
	(void)ctx;
	printf("table %-12s %" PRIu64 " entries\n", name, count);
	return 0;
}

static int stat_store(const char *db)
{
	struct kv_stat st;
	kv_env *env;
	kv_txn *txn;
	int rc;

	if (cli_open(db, CLI_OPEN_STAT, &env) != 0)
		return 1;
	rc = kv_env_stat(env, &st);
	if (rc == 0) {
		char when[40] = "never";

		if (st.commit_time_ns > 0)
			cli_format_utc(when, sizeof(when), st.commit_time_ns);
		printf("file            %s\n", kv_env_path(env));
		printf("page size       %" PRIu32 "\n", st.page_size);
		printf("file size       %" PRIu64 " bytes\n", st.file_size);
		printf("pages           %" PRIu64 " total: %" PRIu64
		       " in use, %" PRIu64 " free, %" PRIu64
		       " pending (freed, still held by a reader, a snapshot "
		       "or the last durable commit)\n",
		       st.pages_total,
		       st.pages_total - st.pages_free - st.pages_pending,
		       st.pages_free, st.pages_pending);
		printf("last txn        %" PRIu64 " (durable %" PRIu64 ")\n",
		       st.txnid, st.durable_txnid);
		printf("commit log      %" PRIu64 " KiB, %" PRIu64 " KiB of "
		       "records since the last checkpoint\n",
		       st.log_size / 1024, (st.log_used + 1023) / 1024);
		printf("last commit     %s\n", when);
		printf("tables          %" PRIu64 "\n", st.tables);
		printf("snapshots       %" PRIu64 "%s\n", st.snapshots,
		       st.snapshots ? " (cccfs snapshot [DB] list)" : "");
		printf("readers         %" PRIu64 "\n", st.readers);
		rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);
	}
	if (rc == 0) {
		rc = kv_table_list(txn, print_table, NULL);
		kv_txn_abort(txn);
	}
	if (rc == 0) {
		struct hist_space sp;
		struct stx s;
		char size[32];

		rc = stx_begin(env, false, &s);
		if (rc == 0)
			rc = hist_space(&s, &sp);
		stx_abort(&s);
		if (rc == 0) {
			cli_format_size(size, sizeof(size), sp.bytes);
			printf("history         %" PRIu64 " records, %" PRIu64
			       " older versions holding %s\n",
			       sp.records, sp.versions, size);
		} else {
			fprintf(stderr, "cccfs: %s: history: %s\n", db,
			        strerror(-rc));
			kv_env_close(env);
			return 1;
		}
	}
	kv_env_close(env);
	if (rc != 0) {
		fprintf(stderr, "cccfs: %s: %s\n", db, kv_strerror(rc));
		return 1;
	}
	return 0;
}

int cmd_stat(int argc, char **argv)
{
	const char *db;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return cli_usage_error("stat", cmd_stat_usage);
	db = cli_db_or_default(argc == 2 ? argv[1] : NULL);
	return db != NULL ? stat_store(db) : 2;
}
