/*
 * mount: `cccfs mount [-f] [-d] [-o OPTIONS] [DB] MOUNTPOINT`, and the form
 * mount(8) and fstab use, `cccfs DB MOUNTPOINT -o OPTIONS`: the arguments
 * only.  The one file of cli that calls into the daemon (mount_main() in
 * fs/daemon/mount.h), which opens the store and serves it.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount.h"

const char cmd_mount_usage[] =
        "usage: cccfs mount [-f] [-d] [-o OPTIONS] [DB] MOUNTPOINT\n"
        "\n"
        "Mount the store DB (created if missing, mode 0600) at MOUNTPOINT\n"
        "and return once it is ready; the daemon serves in the background\n"
        "until `cccfs umount MOUNTPOINT`.  -f stays in the foreground,\n"
        "-d also logs every request.  Options as listed by `cccfs --help`,\n"
        "before or after the paths; -o may be given more than "
        "once.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs mount ~/ccc\n"
        "  cccfs mount -o snapshot_every=15m,keep=48h,14d,8w ~/ccc\n"
        "  cccfs mount /srv/ccc/team.db ~/team\n"
        "  mount -t fuse.cccfs DB ~/ccc   (or an /etc/fstab line)\n";

/* Options that mean something to mount(8) or an fstab line only. */
static int fstab_only(const char *o, size_t len)
{
	static const char *const words[] = {
		"defaults", "auto", "noauto", "nofail",
		"_netdev",  "user", "users",  "nouser",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == len && memcmp(o, words[i], len) == 0)
			return 1;
	return (len >= 2 && memcmp(o, "x-", 2) == 0) ||
	       (len >= 8 && memcmp(o, "comment=", 8) == 0);
}

/* Append the comma-separated options in list to *acc (-o given more than
 * once), less the fstab-only ones if drop_fstab.  0 or -ENOMEM. */
static int opts_append(char **acc, const char *list, bool drop_fstab)
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
		if (len > 0 && !(drop_fstab && fstab_only(p, len))) {
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

int cmd_mount(int argc, char **argv)
{
	const char *db;
	char *opts = NULL;
	int foreground = 0, debug = 0, c, rc;

	/* options may follow the paths, as in the fstab form below */
	optind = 0;
	while ((c = getopt(argc, argv, "fdo:h")) != -1) {
		switch (c) {
		case 'f':
			foreground = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'o':
			if (opts_append(&opts, optarg, false) != 0) {
				fputs("cccfs: out of memory\n", stderr);
				free(opts);
				return 1;
			}
			break;
		case 'h':
			free(opts);
			fputs(cmd_mount_usage, stdout);
			return 0;
		default:
			free(opts);
			return cli_usage_error("mount", cmd_mount_usage);
		}
	}
	if (argc - optind != 1 && argc - optind != 2) {
		free(opts);
		return cli_usage_error("mount", cmd_mount_usage);
	}
	db = argc - optind == 2 ? argv[optind] : cli_default_db();
	rc = db == NULL ? 2
	                : mount_main(db, argv[argc - 1], opts, foreground,
	                             debug, cli_is_default_db(db));
	free(opts);
	return rc;
}

/*
 * The form mount(8) uses.  `mount -t fuse.cccfs DB DIR -o OPTS`, or an
 * fstab line of type fuse.cccfs, runs mount.fuse3, which runs
 * `cccfs DB DIR -o OPTS`: the program named by the type, found on PATH.
 * So a first argument that is no subcommand, followed by exactly two
 * paths of which the first names a store (cli_names_store(): never a
 * mistyped command) and the second is a directory, means
 * `cccfs mount [-o OPTS] DB DIR`.  -o may come before or after the paths
 * and more than once; fstab-only words (noauto, nofail, _netdev, user,
 * x-systemd.*, ...) are dropped in case they come through.  Returns -1
 * when argv is not this form.
 */
int cmd_mount_fstab(int argc, char **argv)
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
			if (opts_append(&opts, a, true) != 0) {
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
	if (npath == 2 && cli_names_store(path[0]) && stat(path[1], &st) == 0 &&
	    S_ISDIR(st.st_mode))
		rc = mount_main(path[0], path[1], opts, foreground, debug,
		                cli_is_default_db(path[0]));
out:
	free(opts);
	return rc;
}
