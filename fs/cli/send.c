/*
 * send: `cccfs send [DB] SNAP [--from BASE] [-o FILE]` writes snapshot
 * SNAP as a stream (fs/store/send.h): the whole snapshot, or with --from
 * only what changed since BASE.  The stream goes to standard output, never
 * a terminal, or to FILE, removed again when the send fails.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "send.h"

const char cmd_send_usage[] =
        "usage: cccfs send [DB] SNAP [--from BASE] [-o FILE]\n"
        "\n"
        "Write snapshot SNAP as a checksummed stream to standard output\n"
        "(or to FILE), for `cccfs receive` to apply to another store.\n"
        "Without --from the stream holds the whole snapshot; with it,\n"
        "only what changed since snapshot BASE, which the receiving store\n"
        "must have (received earlier, by id).  Streams carry the records,\n"
        "side files, folders, history, labels and references.  A stream\n"
        "is never written to a terminal.  Works while "
        "mounted.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs send monday -o monday.stream\n"
        "  cccfs send tuesday --from monday | ssh laptop cccfs receive\n";

int cmd_send(int argc, char **argv)
{
	const char *db = NULL, *snap = NULL, *base = NULL, *out = NULL;
	struct send_stat st = { 0 };
	char msg[400];
	kv_env *env;
	int fd = STDOUT_FILENO, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc && !base)
			base = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !out)
			out = argv[++i];
		else if (*argv[i] == '-' && argv[i][1] != '\0')
			return cli_usage_error("send", cmd_send_usage);
		else if (db == NULL)
			db = argv[i];
		else if (snap == NULL)
			snap = argv[i];
		else
			return cli_usage_error("send", cmd_send_usage);
	}
	if (db != NULL && snap == NULL) { /* DB left out */
		snap = db;
		db = NULL;
	}
	if (snap == NULL)
		return cli_usage_error("send", cmd_send_usage);
	if (cli_check_snapshot_name(snap) != 0 ||
	    (base && cli_check_snapshot_name(base) != 0))
		return 2;
	if (out == NULL && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "cccfs: send: the stream is binary; not "
		                "writing it to a terminal (pipe it, or give "
		                "-o FILE)\n");
		return 2;
	}
	db = cli_db_or_default(db);
	if (db == NULL)
		return 2;
	if (cli_open(db, CLI_OPEN_WRITE, &env) != 0)
		return 1;
	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "cccfs: %s: %s\n", out,
			        strerror(errno));
			kv_env_close(env);
			return 1;
		}
	}
	rc = store_send(env, snap, base, fd, &st, msg, sizeof(msg));
	if (rc == 0 && out && fsync(fd) != 0)
		rc = -errno;
	if (out && close(fd) != 0 && rc == 0)
		rc = -errno;
	kv_env_close(env);
	if (rc != 0) {
		if (out)
			(void)unlink(out);
		if (*msg) {
			char shown[CLI_ESCAPED_MAX];

			fprintf(stderr, "cccfs: %s: %s\n", db,
			        cli_escape(shown, sizeof(shown), msg));
		} else {
			cli_fail(db, "cannot send", rc);
		}
		return 1;
	}
	fprintf(stderr,
	        "sent snapshot %s%s%s: %" PRIu64 " changes, %" PRIu64
	        " bytes\n",
	        snap, base ? " from " : " (full)", base ? base : "", st.records,
	        st.bytes);
	return 0;
}
