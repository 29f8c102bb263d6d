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
#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "loop.h"
#include "store.h"

#define COMMIT_INTERVAL_MAX 86400000ul
#define KEY_SHARED 1

static const struct fuse_opt cccfs_opts[] = {
	{ "max_record=%lu", offsetof(struct fs_config, max_record), 0 },
	{ "commit_interval=%lu", offsetof(struct fs_config, commit_interval),
	  0 },
	{ "spin=%lu", offsetof(struct fs_config, spin), 0 },
	{ "snapdir=%s", offsetof(struct fs_config, snapdir_opt), 0 },
	{ "snapshot_every=%s", offsetof(struct fs_config, every_opt), 0 },
	{ "keep=%s", offsetof(struct fs_config, keep_opt), 0 },
	{ "history_keep=%s", offsetof(struct fs_config, hist_keep_opt), 0 },
	/* noted, and left for libfuse (keep_shared) */
	FUSE_OPT_KEY("allow_other", KEY_SHARED),
	FUSE_OPT_KEY("allow_root", KEY_SHARED),
	FUSE_OPT_KEY("default_permissions", KEY_SHARED),
	FUSE_OPT_END
};

/* Options that let other users in, or ask the kernel to check modes:
 * the kernel then checks permissions (perm.c).  Every option is kept. */
static int keep_shared(void *data, const char *arg, int key,
                       struct fuse_args *outargs)
{
	(void)arg;
	(void)outargs;
	if (key == KEY_SHARED)
		((struct fs_config *)data)->kernel_perms = true;
	return 1;
}

int mount_open_db(const char *db, kv_env **env)
{
	enum store_step step;
	int rc = store_open(db, KV_CREATE, env, &step);

	if (rc != 0 && step == STORE_STEP_LOCK) {
		fs_log(LOG_ERR, "%s", kv_errmsg()); /* names the lock file */
		return kv_to_errno(rc);
	}
	if (rc != 0 && step == STORE_STEP_OPEN) {
		fs_log(LOG_ERR, "%s: cannot open: %s%s%s", db, kv_strerror(rc),
		       *kv_errmsg() ? ": " : "", kv_errmsg());
		return kv_to_errno(rc);
	}
	if (rc != 0) {
		fs_log(LOG_ERR, "%s: cannot initialize: %s", db, strerror(-rc));
		return rc;
	}
	{
		struct kv_stat st;

		if (kv_env_stat(*env, &st) != 0)
			memset(&st, 0, sizeof(st));
		if (st.rolled_back_txnid)
			fs_log(LOG_WARNING,
			       "%s: the newest commit (txn %llu) "
			       "was incomplete or damaged; opened at the "
			       "commit before it",
			       db, (unsigned long long)st.rolled_back_txnid);
		if (st.recovered)
			fs_log(LOG_NOTICE,
			       "%s: %llu commits repeated from the "
			       "commit log after a crash",
			       db, (unsigned long long)st.recovered);
	}
	return 0;
}

/* libfuse hands us its own printf-style messages */
static void fuse_log_bridge(enum fuse_log_level level, const char *fmt,
                            va_list ap) __attribute__((format(printf, 2, 0)));

static void fuse_log_bridge(enum fuse_log_level level, const char *fmt,
                            va_list ap)
{
	char buf[1024];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
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
	fs->se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), fs);
	if (fs->se == NULL)
		goto out_itab;
	if (fuse_set_signal_handlers(fs->se) != 0)
		goto out_session;
	if (fuse_session_mount(fs->se, mountpoint) != 0)
		goto out_signals;
	if (notify_start(fs->se) != 0 || commit_timer_start(fs) != 0 ||
	    watch_start(fs) != 0)
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
	rc = loop_serve(fs->se, 16, (unsigned)fs->cfg.spin);
	if (rc < 0)
		fs_log(LOG_ERR, "reading requests: %s", strerror(-rc));
	if (fs->cfg.spin > 0) {
		unsigned long spins, hits;

		loop_stats(&spins, &hits);
		fs_log(LOG_DEBUG,
		       "request loop: %lu spins, %lu found a request", spins,
		       hits);
	}
	ret = rc < 0 ? 1 : 0;
	fs_log(LOG_INFO, "unmounting %s", mountpoint);
out_unmount:
	watch_stop();
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

/* A retention part: digits and one unit letter of units ("7d"), or
 * digits alone when bare (history_keep's count, "50"). */
static bool is_keep_part(const char *s, size_t len, const char *units,
                         bool bare)
{
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i > 0 && i == len)
		return bare;
	return i > 0 && i + 1 == len && strchr(units, s[i]) != NULL;
}

/*
 * The -o string with the commas inside keep=24h,7d,4w and
 * history_keep=30d,50 turned into ':' (and taken as ',' again by their
 * parsers), so that libfuse's option splitting leaves each spec whole.
 * malloc'd.
 */
static char *join_keep_parts(const char *opts)
{
	char *out = strdup(opts);
	int in = 0; /* 1: in keep=, 2: in history_keep= */

	if (out == NULL)
		return NULL;
	for (char *p = out; *p;) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if ((in == 1 && is_keep_part(p, len, "mhdw", false)) ||
		    (in == 2 && is_keep_part(p, len, "smhdw", true)))
			p[-1] = ':';
		else
			in = strncmp(p, "keep=", 5) == 0            ? 1
			     : strncmp(p, "history_keep=", 13) == 0 ? 2
			                                            : 0;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return out;
}

/* "-o OPTS" of cccfs's own options parsed into cfg, the rest left in
 * args for libfuse.  0, or -1 after libfuse said why into its log. */
static int parse_opts(struct fuse_args *args, struct fs_config *cfg,
                      const char *opts)
{
	if (fuse_opt_add_arg(args, "cccfs") != 0)
		return -1;
	if (opts && *opts) {
		char *joined = join_keep_parts(opts);
		int rc = joined ? fuse_opt_add_arg(args, "-o") : -1;

		if (rc == 0)
			rc = fuse_opt_add_arg(args, joined);
		free(joined);
		if (rc != 0)
			return -1;
	}
	return fuse_opt_parse(args, cfg, cccfs_opts, keep_shared);
}

/* Whether libfuse takes what parse_opts() left in args: a session made
 * and dropped at once (it opens nothing; fuse_session_mount() does). */
static int fuse_takes(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	int rc = 0;

	for (int i = 0; i < args->argc && rc == 0; i++)
		rc = fuse_opt_add_arg(&copy, args->argv[i]);
	if (rc == 0)
		se = fuse_session_new(&copy, &fs_ops, sizeof(fs_ops), NULL);
	if (se != NULL)
		fuse_session_destroy(se);
	fuse_opt_free_args(&copy);
	return se != NULL ? 0 : -1;
}

/* What libfuse says while options are tried: kept, not printed, so that
 * the one line below can say which option it was. */
static char fuse_said[512];

static void fuse_log_keep(enum fuse_log_level level, const char *fmt,
                          va_list ap) __attribute__((format(printf, 2, 0)));

static void fuse_log_keep(enum fuse_log_level level, const char *fmt,
                          va_list ap)
{
	size_t n = strlen(fuse_said);

	(void)level;
	if (n + 1 < sizeof(fuse_said))
		vsnprintf(fuse_said + n, sizeof(fuse_said) - n, fmt, ap);
}

/* Whether libfuse and cccfs take the one option opt (len bytes). */
static bool option_ok(const char *opt, size_t len)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fs_config cfg;
	char *one = strndup(opt, len);
	bool ok;

	memset(&cfg, 0, sizeof(cfg));
	fuse_said[0] = '\0';
	ok = one != NULL && parse_opts(&args, &cfg, one) == 0 &&
	     fuse_takes(&args) == 0;
	free(cfg.snapdir_opt);
	free(cfg.every_opt);
	free(cfg.keep_opt);
	fuse_opt_free_args(&args);
	free(one);
	return ok;
}

/*
 * Say in one line which option of opts neither cccfs nor libfuse takes:
 * each is tried alone (libfuse's own message spans lines and names the
 * whole list).
 */
static void say_bad_option(const char *opts)
{
	char *joined = join_keep_parts(opts ? opts : "");

	for (const char *p = joined; p && *p;) {
		const char *q = p;

		while (*q && *q != ',')
			q += q[0] == '\\' && q[1] ? 2 : 1;
		if (q > p && !option_ok(p, (size_t)(q - p))) {
			fs_log(LOG_ERR,
			       "-o %.*s: %s mount option (cccfs --help "
			       "lists them)",
			       (int)(q - p), p,
			       strstr(fuse_said, "unknown") ? "unknown"
			                                    : "malformed");
			free(joined);
			return;
		}
		p = *q ? q + 1 : q;
	}
	free(joined);
	fs_log(LOG_ERR, "bad mount options: %s", opts ? opts : "");
}

/* Every option parsed and tried before any file is touched: cccfs's own
 * into cfg, libfuse's by a session made and dropped.  0, or -1 once the
 * culprit is named. */
static int check_opts(struct fuse_args *args, struct fs_config *cfg,
                      const char *opts)
{
	int rc;

	fuse_said[0] = '\0';
	fuse_set_log_func(fuse_log_keep);
	rc = parse_opts(args, cfg, opts);
	if (rc == 0)
		rc = fuse_takes(args);
	if (rc != 0)
		say_bad_option(opts);
	fuse_set_log_func(fuse_log_bridge);
	return rc;
}

/* The options every mount gets: the mount's name and type, -d, and
 * default_permissions where other users may come in (perm.c). */
static int add_fixed_args(struct fuse_args *args, const char *db, int debug,
                          bool kernel_perms)
{
	char fsname[4200];

	/* commas in the path would split the option; keep it simple */
	snprintf(fsname, sizeof(fsname), "-osubtype=cccfs,fsname=%s",
	         strchr(db, ',') != NULL ? "cccfs" : db);
	if (fuse_opt_add_arg(args, fsname) != 0)
		return -ENOMEM;
	if (kernel_perms &&
	    fuse_opt_add_arg(args, "-odefault_permissions") != 0)
		return -ENOMEM;
	if (debug && fuse_opt_add_arg(args, "-d") != 0)
		return -ENOMEM;
	return 0;
}

/* snapdir=hidden|visible, snapshot_every=DURATION, keep=SPEC,
 * history_keep=SPEC */
static int parse_snapshot_opts(struct fs_config *cfg)
{
	const char *every =
	        cfg->every_opt ? cfg->every_opt : FS_SNAPSHOT_EVERY_DEFAULT;
	const char *keep = cfg->keep_opt ? cfg->keep_opt : FS_KEEP_DEFAULT;

	if (cfg->snapdir_opt == NULL ||
	    strcmp(cfg->snapdir_opt, "hidden") == 0) {
		cfg->snapdir_visible = false;
	} else if (strcmp(cfg->snapdir_opt, "visible") == 0) {
		cfg->snapdir_visible = true;
	} else {
		fs_log(LOG_ERR,
		       "snapdir=%s: use snapdir=hidden or "
		       "snapdir=visible",
		       cfg->snapdir_opt);
		return -EINVAL;
	}
	if (retain_parse_duration(every, &cfg->autosnap.every) != 0) {
		fs_log(LOG_ERR,
		       "snapshot_every=%s: use a duration such as "
		       "30s, 15m, 1h, 1d or 1w (0 or off: no automatic "
		       "snapshots)",
		       every);
		return -EINVAL;
	}
	if (hist_parse_keep(cfg->hist_keep_opt ? cfg->hist_keep_opt
	                                       : FS_HISTORY_KEEP_DEFAULT,
	                    &cfg->hist_keep) != 0) {
		fs_log(LOG_ERR,
		       "history_keep=%s: use a duration and a count, such as "
		       "30d,50 (every version of the last 30 days, and at "
		       "least the newest 50), or all",
		       cfg->hist_keep_opt);
		return -EINVAL;
	}
	hist_set_recording(!cfg->hist_keep.off);
	if (retain_parse_keep(keep, &cfg->autosnap.keep) != 0) {
		fs_log(LOG_ERR,
		       "keep=%s: use counts per unit, such as "
		       "24h,7d,4w (m, h, d, w), or all",
		       keep);
		return -EINVAL;
	}
	return 0;
}

/*
 * -o nonempty: libfuse 3 no longer knows it, so it is taken out of the
 * option string here and honoured by check_mountpoint().  Returns a
 * malloc'd copy of opts without it (NULL opts gives ""), or NULL.
 */
static char *take_nonempty(const char *opts, bool *nonempty)
{
	char *out = strdup(opts ? opts : "");
	char *w = out;

	*nonempty = false;
	if (out == NULL)
		return NULL;
	for (const char *p = opts ? opts : ""; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 8 && strncmp(p, "nonempty", 8) == 0) {
			*nonempty = true;
		} else {
			if (w != out)
				*w++ = ',';
			memmove(w, p, len);
			w += len;
		}
		p += len + (comma != NULL);
	}
	*w = '\0';
	return out;
}

/* Whether path (absolute, resolved) is a mount point: mounting there
 * would stack a second file system over the first. */
static bool is_mount_point(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[4096];
		size_t n = 0;
		const char *p = line;

		/* fields: id parent major:minor root MOUNTPOINT ... */
		for (int i = 0; i < 4 && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p == NULL)
			continue;
		/* the kernel escapes space, tab, newline and backslash as \ooo */
		while (*p && *p != ' ' && n + 1 < sizeof(mp)) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				mp[n++] =
				        (char)((p[1] - '0') * 64 +
				               (p[2] - '0') * 8 + (p[3] - '0'));
				p += 4;
			} else {
				mp[n++] = *p++;
			}
		}
		mp[n] = '\0';
		found = strcmp(mp, path) == 0;
	}
	fclose(f);
	return found;
}

/*
 * Refuse a mount point that is not a folder, already has a file system
 * mounted on it, or holds files (they would be hidden under the mount)
 * unless -o nonempty.  Returns 0, or 1 after logging why.
 */
static int check_mountpoint(const char *mp, bool nonempty)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	bool empty = true;

	if (stat(mp, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fs_log(LOG_ERR, "%s: mount point is not a folder", mp);
		return 1;
	}
	if (is_mount_point(mp)) {
		fs_log(LOG_ERR, "%s: already mounted (unmount it first)", mp);
		return 1;
	}
	d = opendir(mp);
	if (d == NULL) {
		fs_log(LOG_ERR, "%s: cannot read the mount point: %s", mp,
		       strerror(errno));
		return 1;
	}
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 ||
		        strcmp(e->d_name, "..") == 0;
	closedir(d);
	if (!empty && !nonempty) {
		fs_log(LOG_ERR,
		       "%s: mount point is not empty (its files "
		       "would be hidden; -o nonempty mounts anyway)",
		       mp);
		return 1;
	}
	return 0;
}

int mount_main(const char *db, const char *mountpoint, const char *opts,
               int foreground, int debug, bool make_folder)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fs fs;
	char *dbabs = NULL, *mpabs = NULL, *fuse_opts = NULL;
	bool nonempty;
	int pipefd[2];
	int ret = 1;
	pid_t pid;

	memset(&fs, 0, sizeof(fs));
	fs.cfg.max_record = FS_MAX_RECORD_DEFAULT;
	fs.cfg.commit_interval = FS_COMMIT_INTERVAL_DEFAULT;
	/* with one CPU a spin only keeps the caller from running */
	fs.cfg.spin = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? FS_SPIN_DEFAULT : 0;
	fs.cfg.debug = debug;
	fs.cfg.foreground = foreground || debug;
	fs.uid = getuid();
	fs.gid = getgid();
	fs_log_set_debug(debug);
	fuse_set_log_func(fuse_log_bridge);

	/* every option first: a bad one touches no file */
	fuse_opts = take_nonempty(opts, &nonempty);
	if (fuse_opts == NULL)
		goto out;
	if (check_opts(&args, &fs.cfg, fuse_opts) != 0) {
		ret = 2;
		goto out;
	}
	if (fs.cfg.max_record == 0 || fs.cfg.max_record > KV_MAX_VALUE) {
		fs_log(LOG_ERR, "max_record must be 1..%u bytes", KV_MAX_VALUE);
		ret = 2;
		goto out;
	}
	/* %lu takes "-1" as ULONG_MAX: never durable until the unmount */
	if (fs.cfg.commit_interval > COMMIT_INTERVAL_MAX) {
		fs_log(LOG_ERR, "commit_interval must be 0..%lu ms (a day)",
		       COMMIT_INTERVAL_MAX);
		ret = 2;
		goto out;
	}
	if (fs.cfg.spin > FS_SPIN_MAX) {
		fs_log(LOG_ERR, "spin must be 0..%lu microseconds",
		       FS_SPIN_MAX);
		ret = 2;
		goto out;
	}
	if (parse_snapshot_opts(&fs.cfg) != 0) {
		ret = 2;
		goto out;
	}
	/* then the mount point, and only then anything is made */
	mpabs = realpath(mountpoint, NULL);
	if (mpabs == NULL) {
		if (errno == ENOTCONN)
			fs_log(LOG_ERR,
			       "%s: a mount whose daemon is gone; "
			       "unmount it with fusermount3 -u",
			       mountpoint);
		else
			fs_log(LOG_ERR, "%s: %s", mountpoint, strerror(errno));
		goto out;
	}
	if (check_mountpoint(mpabs, nonempty) != 0)
		goto out;
	if (make_folder) {
		int rc = store_make_folder(db);

		if (rc != 0) {
			fs_log(LOG_ERR, "%s: cannot make its folder: %s", db,
			       strerror(-rc));
			goto out;
		}
	}
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
			fs_log(LOG_ERR, "%s: cannot use its folder: %s", db,
			       strerror(errno));
			goto out;
		}
	}
	fs.db_path = dbabs;
	if (add_fixed_args(&args, dbabs, debug, fs.cfg.kernel_perms) != 0)
		goto out;
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
	free(fs.cfg.snapdir_opt);
	free(fs.cfg.every_opt);
	free(fs.cfg.keep_opt);
	free(fs.cfg.hist_keep_opt);
	fuse_opt_free_args(&args);
	free(fuse_opts);
	free(dbabs);
	free(mpabs);
	return ret;
}
