/*
 * cccfs: the command-line front end.  Subcommands and exit codes:
 *
 *   cccfs mount [-f] [-d] [-o OPTIONS] DB MOUNTPOINT
 *   cccfs umount MOUNTPOINT
 *   cccfs init DB
 *   cccfs check [-v] DB
 *   cccfs stat DB
 *   cccfs snapshot DB create NAME | list | delete NAME | restore NAME
 *   cccfs backup DB DEST [--snapshot NAME]
 *   cccfs export DB DIR [--snapshot NAME]
 *   cccfs import DB DIR [--skip-invalid]
 *   cccfs DB MOUNTPOINT [-o OPTIONS]       (mount.fuse3's form of mount)
 *
 *   0 success, 1 error, 2 usage, 3 check found problems.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cccfs/kv.h>

#include "check.h"
#include "defaults.h"
#include "mount.h"
#include "store.h"
#include "tools.h"

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
	      "       cccfs snapshot DB create NAME | list | delete NAME |"
	      " restore NAME\n"
	      "       cccfs backup DB DEST [--snapshot NAME]\n"
	      "       cccfs export DB DIR [--snapshot NAME]\n"
	      "       cccfs import DB DIR [--skip-invalid]\n"
	      "       cccfs DB MOUNTPOINT [-o OPTIONS]   (mount, as mount(8) and "
	      "fstab run it)\n"
	      "       cccfs COMMAND --help | cccfs --help | --version\n"
	      "\n"
	      "mount options (-o, comma separated):\n"
	      "  max_record=BYTES       largest record (default 16777216)\n"
	      "  commit_interval=MS     closes become durable within MS\n"
	      "                         (default 1000; 0: at every close)\n"
	      "  snapdir=hidden|visible list .snapshots in the root\n"
	      "                         (default hidden; always reachable)\n"
	      "  snapshot_every=DURATION  automatic snapshots, if anything\n"
	      "                         changed (default " FS_SNAPSHOT_EVERY_DEFAULT
	      "; 0: off)\n"
	      "  keep=SPEC              retention of automatic snapshots\n"
	      "                         (default " FS_KEEP_DEFAULT "; all)\n"
	      "  any libfuse option, e.g. allow_other\n"
	      "\n"
	      "exit codes: 0 ok, 1 error, 2 usage, 3 check found problems\n",
	      f);
}

/* `cccfs COMMAND --help` for the commands defined in this file. */
static const struct {
	const char *name;
	const char *text;
} help[] = {
	{ "mount",
	  "usage: cccfs mount [-f] [-d] [-o OPTIONS] DB MOUNTPOINT\n"
	  "\n"
	  "Mount the store DB (created if missing, mode 0600) at MOUNTPOINT\n"
	  "and return once it is ready; the daemon serves in the background\n"
	  "until `cccfs umount MOUNTPOINT`.  -f stays in the foreground,\n"
	  "-d also logs every request.  Options as listed by `cccfs --help`.\n"
	  "\n"
	  "examples:\n"
	  "  cccfs mount ~/.local/share/cccfs/ccc.db ~/ccc\n"
	  "  cccfs mount -o snapshot_every=15m,keep=48h,14d,8w DB ~/ccc\n"
	  "  mount -t fuse.cccfs DB ~/ccc   (or an /etc/fstab line)\n" },
	{ "umount",
	  "usage: cccfs umount MOUNTPOINT\n"
	  "\n"
	  "Unmount (fusermount3 -u); every save that returned is kept.\n"
	  "\n"
	  "example:\n"
	  "  cccfs umount ~/ccc\n" },
	{ "init",
	  "usage: cccfs init DB\n"
	  "\n"
	  "Create an empty store (mode 0600) with its three folders:\n"
	  "workflows, agents and prompts.  An existing store is left as is.\n"
	  "\n"
	  "example:\n"
	  "  cccfs init ~/.local/share/cccfs/ccc.db\n" },
	{ "check",
	  "usage: cccfs check [-v] DB\n"
	  "\n"
	  "Verify the store: page checksums, key order, counts and page\n"
	  "accounting, then every record re-validated as YAML and every file\n"
	  "matched with its content.  Works while mounted.  -v lists each\n"
	  "entry.  Exit 0 when clean, 3 when problems were found, 1 when the\n"
	  "check could not run.\n"
	  "\n"
	  "example:\n"
	  "  cccfs check ~/.local/share/cccfs/ccc.db\n" },
	{ "stat",
	  "usage: cccfs stat DB\n"
	  "\n"
	  "Show the file size, pages in use and free, tables with their\n"
	  "entry counts, snapshots, and the last commit (time, transaction\n"
	  "id, whether it is durable).  Works while mounted.\n"
	  "\n"
	  "example:\n"
	  "  cccfs stat ~/.local/share/cccfs/ccc.db\n" },
};

/* A usage error for cmd: its usage line(s) and where to read more. */
static int usage_error(const char *cmd)
{
	for (size_t i = 0; i < sizeof help / sizeof help[0]; i++) {
		if (strcmp(help[i].name, cmd) != 0)
			continue;
		fprintf(stderr, "%.*s", (int)strcspn(help[i].text, "\n") + 1,
		        help[i].text);
	}
	fprintf(stderr, "Try 'cccfs %s --help'.\n", cmd);
	return 2;
}

/* Print cmd's help; 0 if this file has none for it. */
static int print_help(const char *cmd)
{
	for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
		if (strcmp(help[i].name, cmd) == 0) {
			fputs(help[i].text, stdout);
			return 1;
		}
	return 0;
}

/* -h or --help anywhere in the arguments of cmd: print its help. */
static int wants_help(const char *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return print_help(cmd);
	return 0;
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
			print_help("mount");
			return 0;
		default:
			return usage_error("mount");
		}
	}
	if (argc - optind != 2)
		return usage_error("mount");
	return mount_main(argv[optind], argv[optind + 1], opts, foreground,
	                  debug);
}

static int cmd_umount(int argc, char **argv)
{
	pid_t pid;
	int status;

	if (argc != 2)
		return usage_error("umount");
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
	enum store_step failed;
	struct kv_stat st;
	kv_env *env;
	int rc;

	if (argc != 2)
		return usage_error("init");
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

static int cmd_check(int argc, char **argv)
{
	int verbose = 0;

	if (argc == 3 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc != 2 || argv[1][0] == '-')
		return usage_error("check");
	return check_store(argv[1], verbose);
}

static int cmd_mount_fstab(int argc, char **argv);

int main(int argc, char **argv)
{
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
	if (wants_help(cmd, argc - 1, argv + 1))
		return 0;
	if (strcmp(cmd, "mount") == 0)
		return cmd_mount(argc - 1, argv + 1);
	if (strcmp(cmd, "umount") == 0 || strcmp(cmd, "unmount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "stat") == 0)
		return argc == 3 ? stat_store(argv[2]) : usage_error("stat");
	if (strcmp(cmd, "snapshot") == 0)
		return cmd_snapshot(argc - 1, argv + 1);
	if (strcmp(cmd, "backup") == 0)
		return cmd_backup(argc - 1, argv + 1);
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	rc = cmd_mount_fstab(argc, argv);
	if (rc >= 0)
		return rc;
	fprintf(stderr, "cccfs: unknown command '%s'\nTry 'cccfs --help'.\n",
	        cmd);
	return 2;
}

/* Options that mean something to mount(8) or an fstab line only. */
static int fstab_only(const char *o, size_t len)
{
	static const char *const words[] = {
		"defaults", "auto", "noauto", "nofail", "_netdev",
		"user", "users", "nouser",
	};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == len && memcmp(o, words[i], len) == 0)
			return 1;
	return (len >= 2 && memcmp(o, "x-", 2) == 0) ||
	       (len >= 8 && memcmp(o, "comment=", 8) == 0);
}

/* Append the comma-separated options in list to *acc, less the fstab-only
 * ones.  0 or -ENOMEM. */
static int opts_append(char **acc, const char *list)
{
	size_t have = *acc ? strlen(*acc) : 0;
	char *out = realloc(*acc, have + strlen(list) + 2);
	const char *p = list;

	if (out == NULL)
		return -ENOMEM;
	*acc = out;
	out[have] = '\0';
	while (*p) {
		const char *q = p;
		size_t len;

		while (*q && *q != ',')
			q += q[0] == '\\' && q[1] ? 2 : 1;
		len = (size_t)(q - p);
		if (len > 0 && !fstab_only(p, len)) {
			if (have)
				out[have++] = ',';
			memcpy(out + have, p, len);
			have += len;
			out[have] = '\0';
		}
		p = *q ? q + 1 : q;
	}
	return 0;
}

/*
 * The form mount(8) uses.  `mount -t fuse.cccfs DB DIR -o OPTS`, or an
 * fstab line of type fuse.cccfs, runs mount.fuse3, which runs
 * `cccfs DB DIR -o OPTS`: the program named by the type, found on PATH.
 * So a first argument that is no subcommand, followed by exactly two
 * paths of which the second is a directory, means
 * `cccfs mount [-o OPTS] DB DIR`.  -o may come before or after the paths
 * and more than once; fstab-only words (noauto, nofail, _netdev, user,
 * x-systemd.*, ...) are dropped in case they come through.  Returns -1
 * when argv is not this form.
 */
static int cmd_mount_fstab(int argc, char **argv)
{
	const char *path[2];
	char *opts = NULL;
	int npath = 0, foreground = 0, debug = 0, rc = -1;
	struct stat st;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-f") == 0) {
			foreground = 1;
		} else if (strcmp(a, "-d") == 0) {
			debug = 1;
		} else if (strncmp(a, "-o", 2) == 0) {
			a = a[2] ? a + 2 : i + 1 < argc ? argv[++i] : NULL;
			if (a == NULL)
				goto out;
			if (opts_append(&opts, a) != 0) {
				fputs("cccfs: out of memory\n", stderr);
				rc = 1;
				goto out;
			}
		} else if (a[0] == '-' || npath == 2) {
			goto out;
		} else {
			path[npath++] = a;
		}
	}
	if (npath == 2 && stat(path[1], &st) == 0 && S_ISDIR(st.st_mode))
		rc = mount_main(path[0], path[1], opts, foreground, debug);
out:
	free(opts);
	return rc;
}
