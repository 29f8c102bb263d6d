/*
 * defaults: the defaults a store is served and filled with, for the code
 * outside the daemon that must agree with it: the commands (import holds
 * records to the daemon's default size limit) and `cccfs --help`, which
 * lists the mount options' defaults.  Macros only.
 */
#ifndef CCCFS_FS_DEFAULTS_H
#define CCCFS_FS_DEFAULTS_H

#define FS_MAX_RECORD_DEFAULT (16ul * 1024 * 1024)
#define FS_SNAPSHOT_EVERY_DEFAULT "1h"
#define FS_KEEP_DEFAULT "24h,7d,4w"
#define FS_HISTORY_KEEP_DEFAULT "30d,50"

#endif
