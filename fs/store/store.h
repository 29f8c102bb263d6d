/*
 * store: the file tree kept in kv tables.  Used by fs/daemon/, check.c, main.c;
 * uses kv.h and pathmap only.  No FUSE calls.
 *
 * Storage layout (one kv database, five tables for the tree, two for
 * its history, described in history.h, one for labels, labels.h, and one
 * for the references between records, refs.h):
 *
 *   table       key                          value
 *   ----------  ---------------------------  ---------------------------
 *   workflows   path below /workflows        record bytes, exactly as
 *   agents      path below /agents             written (no header), so a
 *   prompts     path below /prompts            record is readable by any
 *                                              kv tool
 *   files       whole path ("agents/a/.x~")  side-file bytes; symlink
 *                                              target for symlinks
 *   nodes       "parent\0name"               node header + xattrs (below)
 *
 * Every entry below the root has a node, including the three top folders
 * (created at init).  The root's node, key "\0" (an empty parent and an
 * empty name, which no entry has), is stored once one of its attributes
 * is set; until then it is that of the first top folder.  A node key puts the folder first and the name after
 * a NUL byte, so the children of one folder are one contiguous key range
 * starting at "folder\0": listing a folder is one kv_cursor_seek() and a
 * scan of exactly its children.  Directories have a node and no content.
 * A regular file whose name ends in .yaml/.yml is a record (content in its
 * kind's table); every other file is a side file (content in "files").
 *
 * Node value, little-endian:
 *
 *   off  size  field
 *   0    4     magic "CFN1"
 *   4    4     st_mode (type and permission bits)
 *   8    4     uid
 *   12   4     gid
 *   16   8     size of the content in bytes
 *   24   8     atime, ns since the epoch (signed)
 *   32   8     mtime
 *   40   8     ctime
 *   48   8     crtime (creation)
 *   56   8     txnid of the commit that last changed the content
 *   64   4     number of xattrs
 *   68   4     reserved, 0
 *   72   ...   xattrs: u16 name length, u32 value length, name, value
 *
 * The content txnid is the content's version: open read handles compare it
 * to decide whether the map still holds the version they opened.
 *
 * Cost notes: renaming a folder rewrites every key below it (keys are
 * paths, as the record tables require), and moves each content once.
 */
#ifndef CCCFS_FS_STORE_H
#define CCCFS_FS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <cccfs/kv.h>

#define NODE_MAGIC 0x314e4643u /* "CFN1" */
#define NODE_HDR 72u
#define STORE_NTABLES 9

struct node {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	int64_t atime;
	int64_t mtime;
	int64_t ctime;
	int64_t crtime;
	uint64_t txnid;
	uint32_t nxattr;
	unsigned char *xattrs; /* owned, serialized xattr list */
	size_t xlen;
};

struct ref_set;

/* A transaction with the tables it has opened. */
struct stx {
	kv_txn *txn;
	kv_table *tables[STORE_NTABLES];
	bool write;
	bool no_history;  /* changes made now keep no history (history.h) */
	bool no_versions; /* history moves with records, but no content is
	                     kept as a version (a delete on a full disk) */
	/* the references of the content about to be stored, from the parse
	 * that validated it (refs.h), or NULL */
	const struct ref_set *refs_new;
};

/* The name of the store's table i, 0 <= i < STORE_NTABLES (NULL past
 * them): the three record tables, files, nodes, then history's two,
 * labels and refs. */
const char *store_table_name(int i);

/* Convert a kv or negative errno code into a negative errno. */
int kv_to_errno(int rc);

int stx_begin(kv_env *env, bool write, struct stx *s);
/* A write transaction if no other writer is at work, else -EBUSY. */
int stx_try_begin(kv_env *env, struct stx *s);
/* One of the store's tables (opened once per transaction; created when
 * missing in a write transaction).  -ENOENT in a read transaction on a
 * store that lacks it. */
int stx_table(struct stx *s, const char *name, kv_table **out);
/* A read transaction on the named snapshot (-ENOENT if none). */
int stx_begin_snapshot(kv_env *env, const char *name, struct stx *s);
/* Commit (write) or end (read); consumes s. */
int stx_commit(struct stx *s, enum kv_durability d);
void stx_abort(struct stx *s);
/* True when txnid was committed by this process (through stx_commit), as
 * far as the last 4096 commits go, with *base the commit it built on: the
 * daemon tells its own commits from those of other processes (restore,
 * import) by following that chain back. */
bool store_own_commit(uint64_t txnid, uint64_t *base);

/* Set the mtime and ctime of path's folder to now: an entry was added to
 * it, removed or renamed.  Nothing for the top folders' parent, the root,
 * whose entries never change. */
int store_touch_parent(struct stx *s, const char *path, int64_t now);
/* Both folders of a rename from -> to (one when they are the same). */
int store_touch_parents(struct stx *s, const char *from, const char *to,
                        int64_t now);
/* Nodes in the tree, the root's counted whether stored or not. */
uint64_t store_node_count(struct stx *s);

/*
 * Call fn for every key whose value differs between table name as
 * transaction a sees it and as b does, in key order: va.data is NULL when
 * the key is only in b, vb.data when it is only in a.  A table missing on
 * one side is empty there.  A non-zero return from fn stops the walk.
 * The cost is the change, not the table (kv_table_diff()).
 */
int store_table_diff(kv_txn *a, kv_txn *b, const char *name,
                     int (*fn)(void *ctx, kv_val key, kv_val va, kv_val vb),
                     void *ctx);

/*
 * Make the tree of from (a snapshot's transaction) the tree of s: the
 * records, side files and nodes that differ are copied or removed, and
 * every record that changes gets its new version (history.h), so the
 * history is kept, not rolled back.  Cost: the entries that differ.
 */
int store_restore(struct stx *s, struct stx *from);

/* Create the tables and the three top folders when missing. */
int store_init(kv_env *env, uint32_t uid, uint32_t gid);

/* The call of store_open() that failed: kv_env_open() on the store file,
 * kv_env_open() on its lock file (kv_errmsg() says what, naming the lock
 * file), or store_init(). */
enum store_step { STORE_STEP_OPEN, STORE_STEP_LOCK, STORE_STEP_INIT };

/*
 * Open the store file db; close it with kv_env_close().  flags are
 * kv_env_open()'s (KV_RDONLY, KV_CREATE; a file created has mode 0600).
 * With KV_CREATE the store is initialized as well (store_init(), owned by
 * the calling user), so that a new file is a store at once.  Returns 0, or
 * the failing call's code with *env NULL and *failed (unless NULL) saying
 * which call it was.
 */
int store_open(const char *db, int flags, kv_env **env,
               enum store_step *failed);

/* Make the folder that is to hold the store file db, and its missing
 * parents: the folder itself with mode 0700 (it holds the store alone),
 * the parents as the umask says.  0 or -errno. */
int store_make_folder(const char *db);

void node_release(struct node *n);
int node_decode(const void *data, size_t len, struct node *n);
/* Encoded length, and encode into buf of at least that size. */
size_t node_encoded_len(const struct node *n);
void node_encode(const struct node *n, unsigned char *buf);
/* A fresh node with the given mode, owner and times set to now. */
void node_fresh(struct node *n, uint32_t mode, uint32_t uid, uint32_t gid);
/* A node time (ns since the epoch in 64 bits: 1677-09-21 to 2262-04-11)
 * of ts, clamped to that range as the kernel clamps times a file system
 * cannot hold. */
int64_t node_time_of(struct timespec ts);
/* The timespec of a node time: whole seconds rounded down, so that a time
 * before 1970 has 0..999999999 ns like any other (-0.5 s is -1 s and
 * 500000000 ns), as utimensat() and stat() have it. */
struct timespec node_timespec(int64_t ns);

/* xattrs kept in the node.  get: -ENODATA if absent; *val points into the
 * node.  set: flags XATTR_CREATE/XATTR_REPLACE.  remove: -ENODATA. */
int node_xattr_get(const struct node *n, const char *name, const void **val,
                   size_t *len);
int node_xattr_set(struct node *n, const char *name, const void *val,
                   size_t len, int flags);
int node_xattr_remove(struct node *n, const char *name);
/* Call fn for each name; stops at a non-zero return. */
int node_xattr_each(const struct node *n,
                    int (*fn)(void *ctx, const char *name, size_t len),
                    void *ctx);

/* The node of path (root "" is synthesized).  -ENOENT if absent. */
int store_node_get(struct stx *s, const char *path, struct node *n);
int store_node_put(struct stx *s, const char *path, const struct node *n);

/* Content of a regular file or symlink; *val points into the map until the
 * transaction ends or its table changes.  Empty if no content entry. */
int store_content_get(struct stx *s, const char *path, uint32_t mode,
                      kv_val *val);
int store_content_put(struct stx *s, const char *path, uint32_t mode,
                      const void *data, size_t len);

/* Remove one entry (node and content).  Folders must be empty. */
int store_remove(struct stx *s, const char *path, uint32_t mode);

/* Walk the keys of table that start with prefix (plen bytes; 0: every
 * key) in order; fn gets each key and value, and a non-zero return stops
 * the walk and is returned.  A missing table is empty. */
int store_scan(struct stx *s, const char *table, const void *prefix,
               size_t plen, int (*fn)(void *ctx, kv_val key, kv_val val),
               void *ctx);

/* True (1) when the folder has at least one child, 0 if not. */
int store_has_children(struct stx *s, const char *dir);

/* Walk the children of dir in name order.  fn gets the name and decoded
 * node (owned by the walker).  A non-zero return stops the walk. */
int store_list(struct stx *s, const char *dir,
               int (*fn)(void *ctx, const char *name, const struct node *n),
               void *ctx);

/*
 * A subtree taken out of the store: every entry at and below a path, with
 * nodes and contents copied to the heap.  Used for rename and exchange.
 */
struct subtree_entry {
	char *rel; /* path relative to the subtree root ("" for the root) */
	struct node node;
	void *data;
	size_t len;
};
struct subtree {
	struct subtree_entry *e;
	size_t n, cap;
};
/* Copy the subtree at path into t (t zeroed by the caller). */
int store_subtree_load(struct stx *s, const char *path, struct subtree *t);
/* Delete every entry of a loaded subtree from the store. */
int store_subtree_delete(struct stx *s, const char *path,
                         const struct subtree *t);
/* Write a loaded subtree under a new root path. */
int store_subtree_write(struct stx *s, const char *path,
                        const struct subtree *t);
/*
 * Move a loaded subtree from `from` to `to`, replacing the entry there
 * (dst_mode its mode, 0 when there is none), and carry its records'
 * history: a record keeps its history on a free path; moved onto a
 * record, it becomes that record's new version and its own history ends
 * with a deletion.
 */
int store_subtree_move(struct stx *s, const char *from, const char *to,
                       const struct subtree *t, uint32_t dst_mode);
/* Swap two loaded subtrees, each record's history going with it. */
int store_subtree_exchange(struct stx *s, const char *a, const char *b,
                           const struct subtree *ta, const struct subtree *tb);
void subtree_release(struct subtree *t);

#endif
