/*
 * tools: the command-line subcommands that work on a store file whether
 * or not it is mounted -- snapshot, backup, export, import.  Used by
 * main.c; uses kv.h, store, snaps, yaml_check and progress.  No FUSE.
 *
 * Each takes its subcommand's arguments (argv[0] is the subcommand) and
 * returns a process exit code: 0 ok, 1 error, 2 usage.
 */
#ifndef CCCFS_FS_TOOLS_H
#define CCCFS_FS_TOOLS_H

int cmd_snapshot(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

#endif
