/*
 * cccfs: the command-line front end.  Subcommands and exit codes:
 *
 *   cccfs mount [-f] [-d] [-o OPTIONS] [DB] MOUNTPOINT
 *   cccfs umount MOUNTPOINT
 *   cccfs init [DB]
 *   cccfs check [-v] [DB]
 *   cccfs stat [DB]
 *   cccfs snapshot [DB] create NAME | list | delete NAME | restore NAME
 *   cccfs backup [DB] DEST [--snapshot NAME]
 *   cccfs export [DB] DIR [--snapshot NAME]
 *   cccfs import [DB] DIR [--skip-invalid]
 *   cccfs render [DB] PATH [-v NAME=VALUE]... [--label L]
 *   cccfs ls [DB] [DIR] [--deleted]
 *   cccfs send [DB] SNAP [--from BASE] [-o FILE]
 *   cccfs receive [DB] [-i FILE] [--force]
 *   cccfs DB MOUNTPOINT [-o OPTIONS]       (mount.fuse3's form of mount)
 *
 * A DB left out is the default store (cli_default_db(), whose comment
 * gives the rule).  A first word that is no command is DB only when
 * cli_names_store() says so; otherwise it is an unknown command, said in
 * one line with the nearest command.
 *
 *   0 success, 1 error, 2 usage, 3 check found problems.
 */
#include <stdio.h>
#include <string.h>

#include <cccfs/kv.h>

#include "cli.h"
#include "defaults.h"

#ifndef CCCFS_VERSION
#define CCCFS_VERSION KV_VERSION_STRING
#endif

static void usage(FILE *f)
{
	fputs("usage: cccfs mount [-f] [-d] [-o OPTIONS] [DB] MOUNTPOINT\n"
	      "       cccfs umount MOUNTPOINT\n"
	      "       cccfs init [DB]\n"
	      "       cccfs check [-v] [--refs] [DB]\n"
	      "       cccfs stat [DB]\n"
	      "       cccfs snapshot [DB] create NAME | list | delete NAME |"
	      " restore NAME\n"
	      "       cccfs log [DB] [PATH] [-n COUNT]\n"
	      "       cccfs restore [DB] PATH --version N | --snapshot NAME\n"
	      "       cccfs diff [DB] FROM [TO] [PATH...] [--patch | --yaml]\n"
	      "       cccfs label [DB] set NAME PATH [--version N] | rm NAME "
	      "[PATH] | list [NAME]\n"
	      "       cccfs refs [DB] PATH\n"
	      "       cccfs mv [DB] OLD NEW   (and rewrite the references)\n"
	      "       cccfs prune [DB] [--keep SPEC]\n"
	      "       cccfs render [DB] PATH [-v NAME=VALUE]... [--label L]\n"
	      "       cccfs ls [DB] [DIR] [--deleted]\n"
	      "       cccfs backup [DB] DEST [--snapshot NAME]\n"
	      "       cccfs export [DB] DIR [--snapshot NAME]\n"
	      "       cccfs import [DB] DIR [--skip-invalid]\n"
	      "       cccfs send [DB] SNAP [--from BASE] [-o FILE]\n"
	      "       cccfs receive [DB] [-i FILE] [--force]\n"
	      "       cccfs DB MOUNTPOINT [-o OPTIONS]   (mount, as mount(8) "
	      "and "
	      "fstab run it)\n"
	      "       cccfs COMMAND --help | cccfs --help | --version\n"
	      "\n"
	      "DB left out: the default store, $XDG_DATA_HOME/cccfs/ccc.db\n"
	      "(~/.local/share/cccfs/ccc.db).  The number of arguments says\n"
	      "whether DB is there; for snapshot, a first word create, list,\n"
	      "delete or restore is the action.  In the last form DB is a\n"
	      "store only if it names an existing file, ends in .db or has a "
	      "/.\n"
	      "\n"
	      "mount options (-o, comma separated):\n"
	      "  max_record=BYTES       largest record (default 16777216)\n"
	      "  commit_interval=MS     closes become durable within MS\n"
	      "                         (default 1000; 0: at every close)\n"
	      "  spin=US                between requests, look for the next\n"
	      "                         one for US microseconds before\n"
	      "                         sleeping (default 50; 0 with one CPU)\n"
	      "  snapdir=hidden|visible list .snapshots, .history, .labels\n"
	      "                         and .rendered in the root\n"
	      "                         (default hidden; always reachable)\n"
	      "  snapshot_every=DURATION  automatic snapshots, if anything\n"
	      "                         changed "
	      "(default " FS_SNAPSHOT_EVERY_DEFAULT "; 0: off)\n"
	      "  keep=SPEC              retention of automatic snapshots\n"
	      "                         (default " FS_KEEP_DEFAULT "; all)\n"
	      "  history_keep=SPEC      versions kept in .history: every one\n"
	      "                         younger than a duration, and at least\n"
	      "                         the newest N of each record (default\n"
	      "                         " FS_HISTORY_KEEP_DEFAULT
	      "; all; off:\n"
	      "                         no history)\n"
	      "  any libfuse option, e.g. allow_other\n"
	      "\n"
	      "exit codes: 0 ok, 1 error, 2 usage, 3 check found problems\n",
	      f);
}

/*
 * The commands.  usage: what -h or --help anywhere among the command's
 * arguments prints instead of running it (so that `cccfs snapshot DB
 * create --help` never names a snapshot); NULL for backup, export and
 * import, which read --help with their other options and print their
 * help themselves.  unmount is umount under the name fusermount3's
 * users may type.
 */
static const struct cmd_struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "mount", cmd_mount, cmd_mount_usage },
	{ "umount", cmd_umount, cmd_umount_usage },
	{ "unmount", cmd_umount, cmd_umount_usage },
	{ "init", cmd_init, cmd_init_usage },
	{ "check", cmd_check, cmd_check_usage },
	{ "stat", cmd_stat, cmd_stat_usage },
	{ "snapshot", cmd_snapshot, cmd_snapshot_usage },
	{ "log", cmd_log, cmd_log_usage },
	{ "restore", cmd_restore, cmd_restore_usage },
	{ "diff", cmd_diff, cmd_diff_usage },
	{ "label", cmd_label, cmd_label_usage },
	{ "refs", cmd_refs, cmd_refs_usage },
	{ "mv", cmd_mv, cmd_mv_usage },
	{ "prune", cmd_prune, cmd_prune_usage },
	{ "render", cmd_render, cmd_render_usage },
	{ "ls", cmd_ls, cmd_ls_usage },
	{ "send", cmd_send, cmd_send_usage },
	{ "receive", cmd_receive, cmd_receive_usage },
	{ "backup", cmd_backup, NULL },
	{ "export", cmd_export, NULL },
	{ "import", cmd_import, NULL },
};

static const struct cmd_struct *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* -h or --help anywhere in the arguments of a command. */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/*
 * A first word that is no command and did not make the fstab form
 * (cmd_mount_fstab()): one line, with the nearest command when one is
 * close.  A word that names a store only lacked the rest of that form.
 */
static int not_a_command(const char *word)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *near;

	if (word[0] != '-' && cli_names_store(word)) {
		fputs("usage: cccfs DB MOUNTPOINT [-o OPTIONS]   (mount, as "
		      "mount(8) runs it)\nTry 'cccfs --help'.\n",
		      stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		names[i] = commands[i].name;
	near = cli_nearest(word, names, sizeof(names) / sizeof(names[0]));
	fprintf(stderr, "cccfs: unknown %s '%s'%s%s%s; see 'cccfs --help'\n",
	        word[0] == '-' ? "option" : "command", word,
	        near ? " (did you mean '" : "", near ? near : "",
	        near ? "'?)" : "");
	return 2;
}

int main(int argc, char **argv)
{
	const struct cmd_struct *c;
	const char *cmd;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("cccfs %s\n", CCCFS_VERSION);
		return 0;
	}
	c = find_command(cmd);
	if (c != NULL && c->usage != NULL && wants_help(argc - 1, argv + 1)) {
		fputs(c->usage, stdout);
		return 0;
	}
	if (c != NULL)
		return c->fn(argc - 1, argv + 1);
	rc = cmd_mount_fstab(argc, argv);
	if (rc >= 0)
		return rc;
	return not_a_command(cmd);
}
