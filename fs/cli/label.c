/*
 * label: `cccfs label DB set|rm|list ...` -- names that pin versions of
 * records (labels.h), read by the programs that use them through
 * MOUNTPOINT/.labels/NAME/.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "pathmap.h"
#include "store.h"

const char cmd_label_usage[] =
        "usage: cccfs label [DB] set NAME PATH [--version N]\n"
        "       cccfs label [DB] rm NAME [PATH]\n"
        "       cccfs label [DB] list [NAME]\n"
        "\n"
        "A label pins versions of records for the programs that use them,\n"
        "while you go on editing: set puts label NAME on version N of the\n"
        "record at PATH (default: its current version), moving it if it\n"
        "was on another; rm takes it off PATH, or off every record; list\n"
        "shows the labels, or one.  MOUNTPOINT/.labels/NAME/ is a read-only\n"
        "tree of exactly the labelled versions.  A label follows its record\n"
        "through renames, and history never prunes a labelled version.\n"
        "Each change is one commit, shown by cccfs log.  Works while\n"
        "mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs label ~/.local/share/cccfs/ccc.db set production "
        "prompts/review.yaml\n"
        "  cccfs label ~/.local/share/cccfs/ccc.db list production\n";

static int print_label(void *ctx, const struct label *l)
{
	char when[40];

	(void)ctx;
	cli_format_utc(when, sizeof(when), l->time);
	printf("%s\t%s\t%" PRIu64 "\t%s\n", l->name, l->path, l->version, when);
	return 0;
}

static int label_cmd(kv_env *env, const char *db, const char *op,
                     const char *name, const char *path, uint64_t v)
{
	uint64_t n = 0;
	struct stx s;
	int rc;

	if (strcmp(op, "list") == 0) {
		rc = stx_begin(env, false, &s);
		if (rc == 0)
			rc = label_each(&s, name, print_label, NULL);
		stx_abort(&s);
		if (rc != 0)
			cli_fail(db, "labels", rc);
		return rc != 0;
	}
	rc = stx_begin(env, true, &s);
	if (rc == 0 && strcmp(op, "set") == 0)
		rc = label_set(&s, name, path, v, &n);
	else if (rc == 0)
		rc = label_rm(&s, name, path, &n);
	if (rc == 0)
		rc = stx_commit(&s, KV_DURABLE_IMMEDIATE);
	else
		stx_abort(&s);
	if (rc == -ENOENT && strcmp(op, "set") == 0) {
		if (v)
			fprintf(stderr,
			        "cccfs: %s: %s has no version %" PRIu64
			        " (cccfs log DB %s lists them)\n",
			        db, path, v, path);
		else
			fprintf(stderr,
			        "cccfs: %s: no record %s (a deleted one: "
			        "label a version with --version N)\n",
			        db, path);
	} else if (rc == -ENOENT) {
		fprintf(stderr, "cccfs: %s: no label '%s'%s%s\n", db, name,
		        path ? " on " : "", path ? path : "");
	} else if (rc != 0) {
		cli_fail(db, "label", rc);
	} else if (strcmp(op, "set") == 0) {
		printf("%s: %s at version %" PRIu64 "\n", name, path, n);
	} else {
		printf("%s: taken off %" PRIu64 " record%s\n", name, n,
		       n == 1 ? "" : "s");
	}
	return rc != 0;
}

int cmd_label(int argc, char **argv)
{
	const char *pos[4] = { 0 }, *vs = NULL;
	char path[PM_PATH_MAX + 1];
	uint64_t v = 0;
	int npos = 0, rc;
	kv_env *env;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0 && i + 1 < argc && !vs)
			vs = argv[++i];
		else if (*argv[i] == '-' || npos == 4)
			return cli_usage_error("label", cmd_label_usage);
		else
			pos[npos++] = argv[i];
	}
	/* [DB] OP [NAME [PATH]]: an action word first means no DB */
	if (npos >= 1 && npos < 4 &&
	    (strcmp(pos[0], "set") == 0 || strcmp(pos[0], "rm") == 0 ||
	     strcmp(pos[0], "list") == 0)) {
		for (int i = npos; i > 0; i--)
			pos[i] = pos[i - 1];
		pos[0] = NULL;
		npos++;
	}
	if (npos < 2 ||
	    (strcmp(pos[1], "set") == 0    ? npos != 4
	     : strcmp(pos[1], "rm") == 0   ? npos < 3
	     : strcmp(pos[1], "list") == 0 ? npos > 3
	                                   : 1) ||
	    (vs && strcmp(pos[1], "set") != 0))
		return cli_usage_error("label", cmd_label_usage);
	if (vs && cli_parse_version(vs, &v) != 0)
		return 2;
	if (npos >= 3 && pm_check_name(pos[2]) != 0) {
		fprintf(stderr,
		        "cccfs: label name '%s': 1 to 255 bytes, no '/', not "
		        "'.' or '..'\n",
		        pos[2]);
		return 2;
	}
	if (npos == 4 && cli_store_path(pos[3], path, sizeof(path)) != 0)
		return 2;
	pos[0] = cli_db_or_default(pos[0]);
	if (pos[0] == NULL)
		return 2;
	if (cli_open(pos[0],
	             strcmp(pos[1], "list") == 0 ? CLI_OPEN_READ
	                                         : CLI_OPEN_WRITE,
	             &env) != 0)
		return 1;
	rc = label_cmd(env, pos[0], pos[1], pos[2], npos == 4 ? path : NULL, v);
	kv_env_close(env);
	return rc;
}
