/*
 * cccfs: the command-line front end.  Subcommands and exit codes:
 *
 *   cccfs mount [-f] [-d] [-o OPTIONS] DB MOUNTPOINT
 *   cccfs umount MOUNTPOINT
 *   cccfs init DB
 *   cccfs check [-v] DB
 *   cccfs stat DB
 *
 *   0 success, 1 error, 2 usage, 3 check found problems.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "check.h"
#include "fs.h"
#include "mount.h"

#ifndef CCCFS_VERSION
#define CCCFS_VERSION KV_VERSION_STRING
#endif

static void usage(FILE *f)
{
	fputs("usage: cccfs mount [-f] [-d] [-o OPTIONS] DB MOUNTPOINT\n"
	      "       cccfs umount MOUNTPOINT\n"
	      "       cccfs init DB\n"
	      "       cccfs check [-v] DB\n"
	      "       cccfs stat DB\n"
	      "       cccfs --help | --version\n"
	      "\n"
	      "mount options (-o, comma separated):\n"
	      "  max_record=BYTES       largest record (default 16777216)\n"
	      "  commit_interval=MS     closes become durable within MS\n"
	      "                         (default 1000; 0: at every close)\n"
	      "  any libfuse option, e.g. allow_other\n"
	      "\n"
	      "exit codes: 0 ok, 1 error, 2 usage, 3 check found problems\n",
	      f);
}

static int cmd_mount(int argc, char **argv)
{
	const char *opts = NULL;
	int foreground = 0, debug = 0, c;

	optind = 1;
	while ((c = getopt(argc, argv, "+fdo:h")) != -1) {
		switch (c) {
		case 'f':
			foreground = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'o':
			opts = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	return mount_main(argv[optind], argv[optind + 1], opts, foreground,
	                  debug);
}

static int cmd_umount(int argc, char **argv)
{
	pid_t pid;
	int status;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("cccfs: fork");
		return 1;
	}
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", argv[1],
		       (char *)NULL);
		perror("cccfs: fusermount3");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int cmd_init(int argc, char **argv)
{
	kv_env *env;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	if (mount_open_db(argv[1], &env) != 0)
		return 1;
	kv_env_close(env);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	int verbose = 0;

	if (argc == 3 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	return check_main(argv[1], verbose);
}

int main(int argc, char **argv)
{
	const char *cmd;

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
	if (strcmp(cmd, "mount") == 0)
		return cmd_mount(argc - 1, argv + 1);
	if (strcmp(cmd, "umount") == 0 || strcmp(cmd, "unmount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "stat") == 0) {
		if (argc != 3) {
			usage(stderr);
			return 2;
		}
		return stat_main(argv[2]);
	}
	fprintf(stderr, "cccfs: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
