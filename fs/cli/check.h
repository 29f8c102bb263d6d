/*
 * check: `cccfs check DB` and `cccfs stat DB`.  Used by main.c; uses the
 * public kv.h, store, yaml_check and progress only.
 */
#ifndef CCCFS_FS_CHECK_H
#define CCCFS_FS_CHECK_H

/* Exit codes: 0 clean, 1 could not run, 3 problems found. */
int check_store(const char *db, int verbose);
int stat_store(const char *db);

#endif
