/*
 * backup: `cccfs backup [DB] DEST [--snapshot NAME]`, a compacted copy of
 * one commit through kv_env_copy_progress(), made only from a store that
 * shows no damage, and opened once written before it is called good.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cccfs/kv.h>

#include "progress.h"
#include "store.h"

static const char cmd_backup_usage[] =
        "usage: cccfs backup [DB] DEST [--snapshot NAME]\n"
        "\n"
        "Write a compacted single-file copy of the live state (or of one\n"
        "snapshot) to DEST, which must not exist.  Consistent as of one\n"
        "commit even while the store is mounted and written.  DEST is a\n"
        "store of its own: mount it, check it, restore from it.  A store\n"
        "that `cccfs check` finds damaged is not copied (export what still\n"
        "reads instead).\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs backup /backup/ccc-$(date +%F).db\n"
        "  cccfs backup old.db --snapshot monday\n"
        "  cccfs backup /srv/ccc/team.db /backup/team.db\n";

static void backup_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	if (p->total == 0 && total != 0)
		p->total = total;
	progress_add(p, done - p->done);
}

int cmd_backup(int argc, char **argv)
{
	const char *pos[2], *snap = NULL;
	char shown[CLI_ESCAPED_MAX] = "";
	struct progress p;
	struct kv_stat st;
	char size[32];
	kv_env *env;
	struct stat sb;
	uint64_t bad;
	int rc = cli_parse_args(argc, argv, cmd_backup_usage, true, false,
	                        &snap, NULL, pos, 2);

	if (rc >= 0)
		return rc;
	if (snap)
		cli_escape(shown, sizeof(shown), snap);
	if (lstat(pos[1], &sb) == 0) {
		fprintf(stderr,
		        "cccfs: %s already exists; backup writes a new "
		        "file (choose another name or remove it)\n",
		        pos[1]);
		return 1;
	}
	if (cli_open(pos[0], CLI_OPEN_READ, &env) != 0)
		return 1;
	if ((bad = cli_damage(env, pos[0])) != 0) {
		fprintf(stderr,
		        "cccfs: %s: the store is damaged (%" PRIu64
		        " problems; `cccfs check %s` lists them): a backup "
		        "would carry the damage unseen, so none was made; "
		        "`cccfs export` saves what still reads\n",
		        pos[0], bad, pos[0]);
		kv_env_close(env);
		return 1;
	}
	progress_start(&p, "copying", 0);
	rc = kv_env_copy_progress(env, pos[1], snap, 0600, backup_progress, &p);
	progress_end(&p);
	kv_env_close(env);
	if (rc == KV_ENOTFOUND && snap) {
		cli_no_snapshot(pos[0], snap);
		return 1;
	}
	if (rc != 0) {
		char what[CLI_ESCAPED_MAX + 4200];

		snprintf(what, sizeof(what), "cannot back up%s%s to %s",
		         snap ? " snapshot " : "", shown, pos[1]);
		cli_fail(pos[0], what, rc);
		return 1; /* the copy removed what it made; never someone's */
	}
	/* prove the copy opens before saying it is good */
	rc = store_open(pos[1], KV_RDONLY, &env, NULL);
	if (rc == 0) {
		rc = kv_env_stat(env, &st);
		kv_env_close(env);
	}
	if (rc != 0) {
		cli_fail(pos[1], "the backup does not open", rc);
		return 1;
	}
	cli_format_size(size, sizeof(size), st.file_size);
	printf("wrote %s (%s, %" PRIu64 " tables)%s%s\n", pos[1], size,
	       st.tables, snap ? " from snapshot " : "", shown);
	return 0;
}
