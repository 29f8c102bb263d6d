/*
 * snapshot: `cccfs snapshot [DB] create | list | delete | restore`.
 * create and delete are one kv call each; restore is snaps_restore();
 * list adds to what kv knows each snapshot's records and own space.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cccfs/kv.h>

#include "pathmap.h"
#include "snaps.h"
#include "stream.h"

const char cmd_snapshot_usage[] =
        "usage: cccfs snapshot [DB] create NAME\n"
        "       cccfs snapshot [DB] list\n"
        "       cccfs snapshot [DB] delete NAME\n"
        "       cccfs snapshot [DB] restore NAME\n"
        "\n"
        "Snapshots are read-only point-in-time copies of the whole tree,\n"
        "also reachable as MOUNTPOINT/.snapshots/NAME.  create is O(1);\n"
        "delete frees the space only that snapshot held; restore first\n"
        "saves the current state as snapshot before-restore-<time>, then\n"
        "makes NAME's content the live state in one commit.  Control\n"
        "characters in names are shown as C escapes (\\x1b, "
        "\\n).\n" CLI_DEFAULT_DB_HELP
        "A first word create, list, delete or restore is the action, not\n"
        "DB: a store of such a name is ./list.\n"
        "\n"
        "examples:\n"
        "  cccfs snapshot create before-cleanup\n"
        "  cccfs snapshot list\n"
        "  cccfs snapshot restore before-cleanup\n"
        "  cccfs snapshot /backup/ccc.db list\n";

struct list_row {
	struct kv_snapshot_info info;
};

struct list_ctx {
	struct list_row *row;
	size_t n, cap;
};

static int list_collect(void *ctx, const struct kv_snapshot_info *si)
{
	struct list_ctx *lc = ctx;

	if (lc->n == lc->cap) {
		size_t cap = lc->cap ? lc->cap * 2 : 16;
		struct list_row *nr = realloc(lc->row, cap * sizeof(*nr));

		if (nr == NULL)
			return -ENOMEM;
		lc->row = nr;
		lc->cap = cap;
	}
	lc->row[lc->n++].info = *si;
	return 0;
}

/* Records (.yaml/.yml files) in a snapshot: its three record tables. */
static int snapshot_records(kv_env *env, const char *name, uint64_t *n)
{
	kv_txn *txn;
	int rc = kv_txn_begin_snapshot(env, name, &txn);

	*n = 0;
	if (rc != 0)
		return rc;
	for (int k = 0; k < PM_NKINDS; k++) {
		kv_table *t;

		if (kv_table_open(txn, pm_kind_name(k), 0, &t) == 0)
			*n += kv_table_count(t);
	}
	kv_txn_abort(txn);
	return 0;
}

static int snapshot_list(kv_env *env, const char *db)
{
	struct list_ctx lc = { 0 };
	kv_txn *txn = NULL;
	int rc = kv_txn_begin(env, KV_TXN_RDONLY, &txn);

	if (rc == 0)
		rc = kv_snapshot_list(txn, list_collect, &lc);
	if (rc != 0) {
		if (txn)
			kv_txn_abort(txn);
		cli_fail(db, "cannot list snapshots", rc);
		free(lc.row);
		return 1;
	}
	if (lc.n == 0)
		printf("no snapshots (take one with `cccfs snapshot DB create "
		       "NAME` or `mkdir MOUNTPOINT/.snapshots/NAME`)\n");
	else
		printf("%-32s %-21s %10s %8s %10s  %s\n", "NAME",
		       "CREATED (UTC)", "TXN", "RECORDS", "OWN SPACE", "ID");
	for (size_t i = 0; i < lc.n && rc == 0; i++) {
		const struct kv_snapshot_info *si = &lc.row[i].info;
		char when[32], space[32], name[CLI_ESCAPED_MAX], id[33];
		uint64_t pages = 0, records = 0;

		rc = kv_snapshot_space(txn, si->name, &pages);
		if (rc == 0)
			rc = snapshot_records(env, si->name, &records);
		if (rc != 0)
			break;
		cli_format_utc(when, sizeof(when), si->created_ns);
		cli_format_size(space, sizeof(space), pages * 4096);
		/* a name is bytes: it must not drive the terminal */
		stream_id_hex(si->id, id);
		printf("%-32s %-21s %10" PRIu64 " %8" PRIu64 " %10s  %s\n",
		       cli_escape(name, sizeof(name), si->name), when,
		       si->txnid, records, space, id);
	}
	kv_txn_abort(txn);
	free(lc.row);
	if (rc != 0) {
		cli_fail(db, "cannot read snapshots", rc);
		return 1;
	}
	return 0;
}

static int snapshot_change(kv_env *env, const char *db, const char *op,
                           const char *name)
{
	char shown[CLI_ESCAPED_MAX];
	kv_txn *txn;
	int rc = kv_txn_begin(env, 0, &txn);

	cli_escape(shown, sizeof(shown), name);
	if (rc == 0) {
		rc = strcmp(op, "create") == 0 ? kv_snapshot_create(txn, name)
		                               : kv_snapshot_delete(txn, name);
		if (rc == 0)
			rc = kv_txn_commit(txn);
		else
			kv_txn_abort(txn);
	}
	if (rc == KV_ENOTFOUND) {
		cli_no_snapshot(db, name);
		return 1;
	}
	if (rc != 0) {
		char what[CLI_ESCAPED_MAX + 64];

		snprintf(what, sizeof(what), "cannot %s snapshot '%s'", op,
		         shown);
		cli_fail(db, what, rc);
		return 1;
	}
	printf("%s snapshot %s\n",
	       strcmp(op, "create") == 0 ? "took" : "deleted", shown);
	return 0;
}

static bool is_action(const char *word)
{
	return strcmp(word, "create") == 0 || strcmp(word, "list") == 0 ||
	       strcmp(word, "delete") == 0 || strcmp(word, "restore") == 0;
}

int cmd_snapshot(int argc, char **argv)
{
	const char *db, *op, *name = NULL;
	char saved[SNAPS_SAVED_MAX], shown[CLI_ESCAPED_MAX];
	kv_env *env;
	int at, ret, rc;

	/* the action's place: DB is left out when the first word is one */
	at = argc >= 2 && is_action(argv[1]) ? 1 : 2;
	op = at < argc ? argv[at] : "";
	if (!is_action(op) || argc != at + (strcmp(op, "list") == 0 ? 1 : 2)) {
		fputs(cmd_snapshot_usage, stderr);
		return 2;
	}
	if (strcmp(op, "list") != 0) {
		name = argv[at + 1];
		if (cli_check_snapshot_name(name) != 0)
			return 2;
	}
	db = cli_db_or_default(at == 2 ? argv[1] : NULL);
	if (db == NULL)
		return 2;
	if (cli_open(db,
	             strcmp(op, "list") == 0 ? CLI_OPEN_READ : CLI_OPEN_WRITE,
	             &env) != 0)
		return 1;
	if (strcmp(op, "list") == 0) {
		ret = snapshot_list(env, db);
	} else if (strcmp(op, "restore") == 0) {
		rc = snaps_restore(env, name, (int64_t)time(NULL), saved);
		cli_escape(shown, sizeof(shown), name);
		if (rc == -ENOENT) { /* the one lookup that can miss */
			cli_no_snapshot(db, name);
			ret = 1;
		} else if (rc != 0) {
			char what[CLI_ESCAPED_MAX + 64];

			snprintf(what, sizeof(what),
			         "cannot restore snapshot "
			         "'%s'",
			         shown);
			cli_fail(db, what, rc);
			ret = 1;
		} else {
			printf("restored snapshot %s; the state it replaced is "
			       "snapshot %s\n",
			       shown, saved);
			ret = 0;
		}
	} else {
		ret = snapshot_change(env, db, op, name);
	}
	kv_env_close(env);
	return ret;
}
