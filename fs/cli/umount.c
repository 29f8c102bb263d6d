/*
 * umount: `cccfs umount MOUNTPOINT` (or `cccfs unmount`), which runs
 * `fusermount3 -u MOUNTPOINT`; its one argument is never an option.
 */
#include "cli.h"

#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

const char cmd_umount_usage[] =
        "usage: cccfs umount MOUNTPOINT\n"
        "\n"
        "Unmount (fusermount3 -u); every save that returned is kept.\n"
        "`cccfs unmount` is the same command.\n"
        "\n"
        "example:\n"
        "  cccfs umount ~/ccc\n";

int cmd_umount(int argc, char **argv)
{
	pid_t pid;
	int status;

	/* an option would reach fusermount3 as one of its own */
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error("umount", cmd_umount_usage);
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
