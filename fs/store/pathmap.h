/*
 * pathmap: where a path of the mount lives in the store, and which names are
 * allowed.  Pure string code: no FUSE, no kv calls, so it is unit-tested and
 * fuzzable on its own.  Used by fs/daemon/, fs/store/store.c and
 * fs/cli/check.c.
 *
 * Paths inside cccfs are written without the leading slash: "" is the root,
 * "workflows" a top folder, "workflows/a/b.yaml" an entry.  The storage
 * layout these paths map to is described in fs/store/store.h.
 *
 * The root holds only the three kind folders; every other name there is
 * refused (EPERM) or absent (ENOENT).  A read-only snapshot folder can be
 * added at the root later without touching the mapping below the kinds:
 * pm_kind_of() already answers -1 for any other top-level name.
 */
#ifndef CCCFS_FS_PATHMAP_H
#define CCCFS_FS_PATHMAP_H

#include <stdbool.h>
#include <stddef.h>

#define PM_NAME_MAX 255u /* bytes in one name, as NAME_MAX */
/* bytes in a whole path (fits a kv key, with room for the node-key
   separator) */
#define PM_PATH_MAX 1000u

/* The three kinds of record, one top folder and one table each. */
enum pm_kind {
	PM_WORKFLOWS = 0,
	PM_AGENTS = 1,
	PM_PROMPTS = 2,
	PM_NKINDS = 3,
};

/* Folder and table name of a kind ("workflows", ...). */
const char *pm_kind_name(int kind);

/*
 * Check one name for use as a directory entry.
 * Returns 0, -ENAMETOOLONG (over PM_NAME_MAX bytes), or -EINVAL (empty,
 * ".", "..", or containing '/' which the kernel never sends).  Any other
 * byte sequence, UTF-8 included, is allowed.
 */
int pm_check_name(const char *name);

/* True for names ending in ".yaml" or ".yml" with at least one byte before
 * the suffix: the content of such a regular file is a record. */
bool pm_is_record_name(const char *name);

/*
 * Join parent and name into buf (size n) as "parent/name" (or "name" when
 * parent is the root "").  -ENAMETOOLONG when the result would exceed
 * PM_PATH_MAX or n.  The name is checked with pm_check_name().
 */
int pm_join(char *buf, size_t n, const char *parent, const char *name);

/* Length of the parent part of path ("a/b/c" -> 3, "a" -> 0) and pointer
 * to the last name. */
size_t pm_parent_len(const char *path);
const char *pm_basename(const char *path);

/* Depth: 0 for the root, 1 for a top folder, 2 or more below. */
int pm_depth(const char *path);

/* The kind of the top folder the path is in (or is), -1 for the root and
 * for anything that is not below one of the three kinds. */
int pm_kind_of(const char *path);

/* True when path equals prefix or lies below it (prefix "a/b" matches
 * "a/b" and "a/b/c", not "a/bc"). */
bool pm_is_within(const char *path, const char *prefix);

/*
 * Where the content of a regular file at path (depth >= 2) is stored.
 * Records: table = kind name, key = path below the kind folder.
 * Side files and symlinks: table PM_TABLE_FILES, key = the whole path.
 */
#define PM_TABLE_FILES "files"
#define PM_TABLE_NODES "nodes"
struct pm_loc {
	const char *table;
	const char *key; /* points into the path */
	size_t key_len;
	bool record;
};
/* is_reg: the entry is a regular file (symlinks are never records).
 * Returns 0 or -EINVAL when path is not below a kind folder. */
int pm_content_loc(const char *path, bool is_reg, struct pm_loc *loc);

/*
 * Node key of a path: "parent\0name", so that the children of one folder
 * are one contiguous key range starting at "parent\0".  Writes into buf
 * (size n) and returns the length, or -ENAMETOOLONG.
 */
int pm_node_key(char *buf, size_t n, const char *path);
/* The prefix of every child's node key: "dir\0".  Returns the length. */
int pm_child_prefix(char *buf, size_t n, const char *dir);
/* Split a node key back into a path; returns the length or -EINVAL. */
int pm_node_key_to_path(char *buf, size_t n, const void *key, size_t klen);

#endif
