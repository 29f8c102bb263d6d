/*
 * cli: the `cccfs` commands, one file per command as git keeps
 * builtin/<name>.c.  cmd_NAME() takes the command's arguments (argv[0] is
 * the command's name) and returns the process exit code: 0 ok, 1 error,
 * 2 usage, 3 problems found (check, export of a damaged store).
 * cmd_NAME_usage, where a command has one here, is the help that main.c
 * prints for -h or --help anywhere among its arguments.
 *
 * Used by main.c.  Uses kv.h and fs/store only, except mount.c, the one
 * file that calls into the daemon (mount_main()).
 */
#ifndef CCCFS_FS_CLI_H
#define CCCFS_FS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cccfs/kv.h>

/* ---- the commands ------------------------------------------------------ */

/* What every command's help says of a DB left out (cli_default_db()). */
#define CLI_DEFAULT_DB_HELP                                            \
	"Without DB: the default store, $XDG_DATA_HOME/cccfs/ccc.db\n" \
	"(~/.local/share/cccfs/ccc.db when XDG_DATA_HOME is not set).\n"

int cmd_mount(int argc, char **argv);
extern const char cmd_mount_usage[];
/* `cccfs DB MOUNTPOINT [-o OPTIONS]`, as mount(8) runs it: main()'s own
 * argc and argv.  -1 when they are not that form. */
int cmd_mount_fstab(int argc, char **argv);

int cmd_umount(int argc, char **argv);
extern const char cmd_umount_usage[];

int cmd_init(int argc, char **argv);
extern const char cmd_init_usage[];

int cmd_check(int argc, char **argv);
extern const char cmd_check_usage[];

int cmd_stat(int argc, char **argv);
extern const char cmd_stat_usage[];

int cmd_snapshot(int argc, char **argv);
extern const char cmd_snapshot_usage[];

int cmd_log(int argc, char **argv);
extern const char cmd_log_usage[];

int cmd_restore(int argc, char **argv);
extern const char cmd_restore_usage[];

int cmd_diff(int argc, char **argv);
extern const char cmd_diff_usage[];

int cmd_label(int argc, char **argv);
extern const char cmd_label_usage[];

int cmd_refs(int argc, char **argv);
extern const char cmd_refs_usage[];

int cmd_mv(int argc, char **argv);
extern const char cmd_mv_usage[];

int cmd_prune(int argc, char **argv);
extern const char cmd_prune_usage[];
int cmd_render(int argc, char **argv);
extern const char cmd_render_usage[];

int cmd_ls(int argc, char **argv);
extern const char cmd_ls_usage[];

int cmd_send(int argc, char **argv);
extern const char cmd_send_usage[];

int cmd_receive(int argc, char **argv);
extern const char cmd_receive_usage[];

/* These three read -h and --help with their other options, and print
 * their help themselves. */
int cmd_backup(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

/* ---- shared by the commands (common.c) --------------------------------- */

/*
 * The default store, for a command whose DB is left out:
 * $XDG_DATA_HOME/cccfs/ccc.db, or ~/.local/share/cccfs/ccc.db when
 * XDG_DATA_HOME is unset or empty (scripts/run's store).  NULL, after
 * saying why, when HOME is not set either.
 *
 * Whether DB is there is told by the number of arguments (`mount MNT` or
 * `mount DB MNT`, `backup DEST` or `backup DB DEST`); for snapshot, a
 * first argument that is one of its actions is the action.  Only in
 * `cccfs DB MOUNTPOINT`, where DB is never left out, does a word have to
 * be told from a command: cli_names_store().
 */
const char *cli_default_db(void);
/* db, or the default store when db is NULL (NULL when that has none). */
const char *cli_db_or_default(const char *db);
/* Whether db is the default store, whose folder a command that creates
 * the store makes when missing. */
bool cli_is_default_db(const char *db);

/* "cccfs: FILE: WHAT: the error", with kv's detail for a kv error. */
void cli_fail(const char *file, const char *what, int rc);
/* How a command opens its store: read only or not, created if missing
 * or not, and in which words it says why an open failed (common.c). */
enum cli_open_how {
	CLI_OPEN_READ,   /* an existing store, read only */
	CLI_OPEN_WRITE,  /* an existing store */
	CLI_OPEN_CREATE, /* created and initialized if missing (import) */
	CLI_OPEN_INIT,   /* the same, for init: notes a recovery on stderr */
	CLI_OPEN_CHECK,  /* read only, for check: notes a recovery on stdout */
	CLI_OPEN_STAT,   /* read only, for stat */
};
/* Open the store db (store_open()) and say on stderr why not, or what its
 * recovery did where how asks for it.  0 or the error. */
int cli_open(const char *db, enum cli_open_how how, kv_env **env);
/* Print the first line of usage and "Try 'cccfs CMD --help'." on stderr;
 * returns 2. */
int cli_usage_error(const char *cmd, const char *usage);

/* Whether word, where a command could stand, names a store: it names an
 * existing file, ends in ".db" or holds a '/'.  A command has none of
 * these, so a mistyped one is never taken for a store. */
bool cli_names_store(const char *word);
/* The command nearest to a mistyped word, or NULL when none is close. */
const char *cli_nearest(const char *word, const char *const *names, size_t n);

/* "2026-11-02 12:34:05Z" of a time in ns since the epoch, UTC. */
void cli_format_utc(char *buf, size_t n, int64_t ns);
/* "512 B", "16.0 KiB", "1.5 GiB". */
void cli_format_size(char *buf, size_t n, uint64_t bytes);
/* "cccfs: DB: no snapshot named 'NAME'", and how to list those there are. */
void cli_no_snapshot(const char *db, const char *name);
/* 0 if name can name a snapshot, else says why and returns -EINVAL. */
int cli_check_snapshot_name(const char *name);
/* Room for cli_escape() of a snapshot name (4 bytes out per byte in). */
#define CLI_ESCAPED_MAX (4 * KV_MAX_NAME + 1)
/* s as it may be printed to a terminal: control characters (C0, DEL and
 * C1, raw or UTF-8 encoded) and bytes that are not UTF-8 as C escapes
 * (\n, \t, \x1b: two hex digits), a backslash as \\; into buf, cut to
 * n bytes.  Returns buf. */
const char *cli_escape(char *buf, size_t n, const char *s);

/* Options shared by backup, export and import; positional arguments
 * land in pos[0..npos-1], pos[0] being DB, the default store when the
 * arguments are one fewer.  Returns -1 to continue, or an exit code. */
int cli_parse_args(int argc, char **argv, const char *usage,
                   bool allow_snapshot, bool allow_skip, const char **snap,
                   bool *skip, const char **pos, int npos);
/* A path as the store names it (prompts/x.yaml) from one as a user may
 * type it (/prompts/x.yaml, prompts//x.yaml/), into out (n bytes).  Says
 * why not on stderr: a path with "..", too long, or not below a kind
 * folder.  0 or -EINVAL / -ENAMETOOLONG. */
int cli_store_path(const char *arg, char *out, size_t n);
/* The N of --version N: 1 or more; says why not on stderr (-EINVAL). */
int cli_parse_version(const char *s, uint64_t *v);
/* The same for a folder or record (prompts, prompts/coding/x.yaml). */
int cli_store_path_prefix(const char *arg, char *out, size_t n);
/* check --refs: print every reference to a record that does not exist,
 * as "PATH: line L, column C: agent 'x' does not exist" (refs.c). */
struct stx;
int cli_check_refs(struct stx *s, uint64_t *records, uint64_t *dangling);
/* How many problems the open store db shows (0: none); see common.c. */
uint64_t cli_damage(kv_env *env, const char *db);

#endif
