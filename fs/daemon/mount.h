/*
 * mount: the daemon behind `cccfs mount`.  Used by main.c; uses ops.c and
 * the services in fs.h.
 */
#ifndef CCCFS_FS_MOUNT_H
#define CCCFS_FS_MOUNT_H

#include <stdbool.h>

/*
 * Mount DB at mountpoint and serve until unmounted.  opts is the -o
 * string (may be NULL): cccfs's own max_record= and commit_interval=,
 * the rest passed to libfuse.  Returns a process exit code: 0, 1, or 2
 * for an option that neither cccfs nor libfuse takes, found before any
 * file is touched.  make_folder: make DB's folder (0700) when missing,
 * as for the default store, once the options are good.
 * Unless foreground, returns in the parent once the mount is ready (or
 * failed), while the child serves.
 */
int mount_main(const char *db, const char *mountpoint, const char *opts,
               int foreground, int debug, bool make_folder);

/* Open (creating with mode 0600) and initialize a database: 0 or -errno. */
struct kv_env;
int mount_open_db(const char *db, struct kv_env **env);

#endif
