/*
 * mount: option parsing, the FUSE session, daemonizing and teardown.
 *
 * Daemonizing happens before the database is opened: the engine's locks
 * and reader slots belong to the process that takes them, so the process
 * that serves must be the one that opens.  The parent waits on a pipe for
 * one status byte, sent once the mount is ready (or after the child has
 * printed why it failed to the shared stderr), and exits with it.
 *
 * Teardown runs in reverse order of setup through the labels at the end
 * of serve(); a write still pending in an open file at unmount is dropped,
 * never half-committed.
 */
#define FUSE_USE_VERSION 312
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "store.h"

static const struct fuse_opt cccfs_opts[] = {
	{ "max_record=%lu", offsetof(struct fs_config, max_record), 0 },
	{ "commit_interval=%lu", offsetof(struct fs_config, commit_interval),
	  0 },
	FUSE_OPT_END
};

int mount_open_db(const char *db, kv_env **env)
{
	int rc = kv_env_open(env, db, KV_CREATE, 0600);

	if (rc != 0) {
		fs_log(LOG_ERR, "%s: cannot open: %s%s%s", db, kv_strerror(rc),
		       *kv_errmsg() ? ": " : "", kv_errmsg());
		return kv_to_errno(rc);
	}
	rc = store_init(*env, getuid(), getgid());
	if (rc != 0) {
		fs_log(LOG_ERR, "%s: cannot initialize: %s", db, strerror(-rc));
		kv_env_close(*env);
		*env = NULL;
	}
	return rc;
}

static void fuse_log_bridge(enum fuse_log_level level, const char *fmt,
                            va_list ap)
{
	char buf[1024];
	size_t n;

	vsnprintf(buf, sizeof buf, fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	fs_log((int)level, "%s", buf);
}

static void tell_parent(int fd, char status)
{
	if (fd >= 0) {
		ssize_t w = write(fd, &status, 1);

		(void)w;
		close(fd);
	}
}

static int detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Serve the mount in this process.  status_fd: where to report readiness
 * (-1 in the foreground). */
static int serve(struct fs *fs, const char *mountpoint, struct fuse_args *args,
                 int status_fd)
{
	struct fuse_loop_config *loop = NULL;
	int rc, ret = 1;

	if (mount_open_db(fs->db_path, &fs->env) != 0)
		goto out;
	rc = kv_env_lock_exclusive(fs->env);
	if (rc != 0) {
		fs_log(LOG_ERR, "%s: %s", fs->db_path,
		       rc == KV_ELOCKED
		               ? "already served by another cccfs daemon"
		               : kv_strerror(rc));
		goto out_env;
	}
	if (fs_ops_init(fs) != 0)
		goto out_env;
	fs->se = fuse_session_new(args, &fs_ops, sizeof fs_ops, fs);
	if (fs->se == NULL)
		goto out_itab;
	if (fuse_set_signal_handlers(fs->se) != 0)
		goto out_session;
	if (fuse_session_mount(fs->se, mountpoint) != 0)
		goto out_signals;
	if (notify_start(fs->se) != 0 || commit_timer_start(fs) != 0)
		goto out_unmount;
	if (status_fd >= 0) {
		if (setsid() < 0)
			fs_log(LOG_WARNING, "setsid: %s", strerror(errno));
		fs_log_to_syslog();
		tell_parent(status_fd, 0);
		status_fd = -1;
		(void)detach_stdio();
	}
	fs_log(LOG_INFO, "serving %s at %s", fs->db_path, mountpoint);
	loop = fuse_loop_cfg_create();
	if (loop == NULL) {
		rc = fuse_session_loop(fs->se);
	} else {
		fuse_loop_cfg_set_max_threads(loop, 16);
		rc = fuse_session_loop_mt(fs->se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	ret = rc < 0 ? 1 : 0;
	fs_log(LOG_INFO, "unmounting %s", mountpoint);
out_unmount:
	notify_stop();
	commit_timer_stop();
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	fuse_session_destroy(fs->se);
out_itab:
	fs_ops_release();
	errtab_release();
out_env:
	kv_env_close(fs->env);
out:
	tell_parent(status_fd, 1);
	return ret;
}

static int build_args(struct fuse_args *args, struct fs_config *cfg,
                      const char *db, const char *opts, int debug)
{
	char fsname[4200];

	if (fuse_opt_add_arg(args, "cccfs") != 0)
		return -ENOMEM;
	if (opts && *opts &&
	    (fuse_opt_add_arg(args, "-o") != 0 ||
	     fuse_opt_add_arg(args, opts) != 0))
		return -ENOMEM;
	if (fuse_opt_parse(args, cfg, cccfs_opts, NULL) != 0)
		return -EINVAL;
	snprintf(fsname, sizeof fsname,
	         "-odefault_permissions,subtype=cccfs,fsname=%s", db);
	/* commas in the path would split the option; keep it simple */
	if (strchr(db, ',') != NULL)
		snprintf(fsname, sizeof fsname,
		         "-odefault_permissions,subtype=cccfs,fsname=cccfs");
	if (fuse_opt_add_arg(args, fsname) != 0)
		return -ENOMEM;
	if (debug && fuse_opt_add_arg(args, "-d") != 0)
		return -ENOMEM;
	return 0;
}

int mount_main(const char *db, const char *mountpoint, const char *opts,
               int foreground, int debug)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fs fs;
	char *dbabs = NULL, *mpabs = NULL;
	int pipefd[2];
	int ret = 1;
	pid_t pid;

	memset(&fs, 0, sizeof fs);
	fs.cfg.max_record = FS_MAX_RECORD_DEFAULT;
	fs.cfg.commit_interval = FS_COMMIT_INTERVAL_DEFAULT;
	fs.cfg.debug = debug;
	fs.cfg.foreground = foreground || debug;
	fs.uid = getuid();
	fs.gid = getgid();
	fs_log_set_debug(debug);
	fuse_set_log_func(fuse_log_bridge);

	/* the daemon changes directory to / when it detaches */
	dbabs = realpath(db, NULL);
	if (dbabs == NULL) {
		/* not there yet: resolve the folder and keep the name */
		char *dir = strdup(db), *slash;
		char *rdir;

		if (dir == NULL)
			goto out;
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		rdir = realpath(slash ? (*dir ? dir : "/") : ".", NULL);
		if (rdir) {
			const char *base = slash ? slash + 1 : db;
			size_t l = strlen(rdir) + strlen(base) + 2;

			dbabs = malloc(l);
			if (dbabs)
				snprintf(dbabs, l, "%s/%s",
				         strcmp(rdir, "/") ? rdir : "", base);
			free(rdir);
		}
		free(dir);
		if (dbabs == NULL) {
			fs_log(LOG_ERR, "%s: %s", db, strerror(errno));
			goto out;
		}
	}
	mpabs = realpath(mountpoint, NULL);
	if (mpabs == NULL) {
		fs_log(LOG_ERR, "%s: %s", mountpoint, strerror(errno));
		goto out;
	}
	fs.db_path = dbabs;
	if (build_args(&args, &fs.cfg, dbabs, opts, debug) != 0) {
		fs_log(LOG_ERR, "bad mount options: %s", opts ? opts : "");
		ret = 2;
		goto out;
	}
	if (fs.cfg.max_record == 0 || fs.cfg.max_record > KV_MAX_VALUE) {
		fs_log(LOG_ERR, "max_record must be 1..%u bytes", KV_MAX_VALUE);
		ret = 2;
		goto out;
	}
	if (fs.cfg.foreground) {
		ret = serve(&fs, mpabs, &args, -1);
		goto out;
	}
	if (pipe(pipefd) != 0) {
		fs_log(LOG_ERR, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		fs_log(LOG_ERR, "fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		goto out;
	}
	if (pid == 0) {
		close(pipefd[0]);
		if (chdir("/") != 0)
			fs_log(LOG_WARNING, "chdir /: %s", strerror(errno));
		ret = serve(&fs, mpabs, &args, pipefd[1]);
		goto out;
	}
	close(pipefd[1]);
	{
		char status = 1;
		ssize_t r;

		do
			r = read(pipefd[0], &status, 1);
		while (r < 0 && errno == EINTR);
		ret = r == 1 && status == 0 ? 0 : 1;
	}
	close(pipefd[0]);
out:
	fuse_opt_free_args(&args);
	free(dbabs);
	free(mpabs);
	return ret;
}
