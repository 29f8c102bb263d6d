/*
 * receive: `cccfs receive [DB] [-i FILE] [--force]` applies a stream of
 * `cccfs send` in one commit and creates its snapshot under the sender's
 * name and id (fs/store/send.h).  A stream that does not fit the store,
 * or does not check out to its last byte, changes nothing.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "send.h"

const char cmd_receive_usage[] =
        "usage: cccfs receive [DB] [-i FILE] [--force]\n"
        "\n"
        "Apply a stream of `cccfs send`, read from standard input (or\n"
        "FILE), in one commit: the live tree becomes the stream's\n"
        "snapshot, and that snapshot is created under the sender's name\n"
        "and id.  A damaged or cut-short stream, one of an unknown format,\n"
        "an incremental stream whose base snapshot this store lacks, and a\n"
        "live tree changed since that base (for a full stream: a store\n"
        "that is not empty) are refused, changing nothing.  --force\n"
        "replaces such a live tree with the stream's snapshot instead.\n"
        "Receiving a stream twice changes nothing.  Works while mounted:\n"
        "the mount shows the new tree at once.  A stream from a pipe is\n"
        "held whole in an unlinked file beside DB first, so a slow link\n"
        "never holds up the mount's saves.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs receive -i monday.stream\n"
        "  cccfs send tuesday --from monday | ssh laptop cccfs receive\n";

/*
 * A stream that comes through a pipe or a socket (`send | ssh host cccfs
 * receive`) is first copied to an unlinked file beside the store, so the
 * write transaction that applies it never waits on the sender: a slow
 * link would otherwise hold up every commit of a mounted daemon.  Returns
 * the fd to read (fd itself when it is a regular file) or -1, said.
 */
static int spool(int fd, const char *db)
{
	char dir[4096], tmp[4096 + 32];
	const char *slash = strrchr(db, '/');
	static char buf[1 << 16];
	struct stat st;
	ssize_t n;
	int out;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return fd;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s",
		         slash == db ? 1 : (int)(slash - db), db);
	out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0) { /* a file system without O_TMPFILE */
		snprintf(tmp, sizeof(tmp), "%s/.cccfs-receive.XXXXXX", dir);
		out = mkstemp(tmp);
		if (out >= 0)
			(void)unlink(tmp);
	}
	if (out < 0) {
		fprintf(stderr, "cccfs: %s: cannot hold the stream: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(out, buf, (size_t)n) != n) {
			fprintf(stderr, "cccfs: %s the stream: %s\n",
			        n < 0 ? "cannot read" : "cannot hold",
			        n < 0 || errno != 0 ? strerror(errno)
			                            : "short write");
			close(out);
			return -1;
		}
	}
	if (lseek(out, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cccfs: the stream: %s\n", strerror(errno));
		close(out);
		return -1;
	}
	return out;
}

int cmd_receive(int argc, char **argv)
{
	const char *db = NULL, *in = NULL;
	struct stream_reader r;
	struct recv_result *res;
	char shown[CLI_ESCAPED_MAX], hex[33];
	bool force = false;
	kv_env *env;
	int fd = STDIN_FILENO, sfd, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-i") == 0 && i + 1 < argc && !in)
			in = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (*argv[i] == '-' || db != NULL)
			return cli_usage_error("receive", cmd_receive_usage);
		else
			db = argv[i];
	}
	if (in == NULL && isatty(STDIN_FILENO)) {
		fprintf(stderr, "cccfs: receive: standard input is a "
		                "terminal; pipe a stream in, or give -i "
		                "FILE\n");
		return 2;
	}
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	if (in) {
		fd = open(in, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "cccfs: %s: %s\n", in, strerror(errno));
			return 1;
		}
	}
	res = malloc(sizeof(*res));
	sfd = spool(fd, db);
	if (res == NULL || sfd < 0 || cli_open(db, CLI_OPEN_WRITE, &env) != 0) {
		free(res);
		if (sfd >= 0 && sfd != fd)
			close(sfd);
		if (in)
			close(fd);
		return 1;
	}
	stream_reader_init_fd(&r, sfd);
	rc = store_receive(env, &r, force, res);
	stream_reader_release(&r);
	if (sfd != fd)
		close(sfd);
	if (in)
		close(fd);
	cli_escape(shown, sizeof(shown), res->h.name);
	stream_id_hex(res->h.target_id, hex);
	if (rc != 0 && *res->msg) {
		char msg[4 * sizeof(res->msg)];

		fprintf(stderr, "cccfs: %s: nothing received: %s\n", db,
		        cli_escape(msg, sizeof(msg), res->msg));
	} else if (rc != 0) {
		cli_fail(db, "nothing received", rc);
	} else if (res->already) {
		printf("snapshot %s (id %s) is here already; nothing to do\n",
		       shown, hex);
	} else {
		printf("received snapshot %s (id %s): %" PRIu64
		       " changes applied\n",
		       shown, hex, res->records);
	}
	kv_env_close(env);
	free(res);
	return rc != 0 ? 1 : 0;
}
