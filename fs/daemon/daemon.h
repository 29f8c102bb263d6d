/*
 * daemon: what the FUSE handler files of fs/daemon/ share, internal to
 * this folder (fs.h is what mount.c and the background services see).
 *
 * The handlers are split by area, each file in one shape: fs_<op>
 * unpacks its arguments, calls a do_<op> that returns 0 or a negative
 * errno, and replies exactly once.
 *
 *   ops.c      the ops table, the session's init and release, and the
 *              helpers every area uses
 *   handle.c   open-file handles and the content copies they read from
 *   cache.c    which version each handle reads, and the kernel's page
 *              cache: preserving readers, moving writers off cached ones
 *   lookup.c   lookup, forget, getattr, statfs; attributes of replies
 *   file.c     file I/O: open, create, read, write, flush, fsync, release,
 *              and the commit of a writing handle
 *   entry.c    setattr, and the changes to names: create, mkdir, mknod,
 *              symlink, link, readlink, unlink, rmdir, rename
 *   snapdir.c  the .snapshots folder
 *   dir.c      open folders and their listings
 *   xattr.c    extended attributes
 *   setid.c    which set-user-ID and set-group-ID bits a change clears
 *   perm.c     the permission checks of a mount without
 *              default_permissions, and who the caller of a request is
 */
#ifndef CCCFS_FS_DAEMON_H
#define CCCFS_FS_DAEMON_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "fs.h"
#include "inode.h"
#include "store.h"
#include "wbuf.h"

/*
 * How long the kernel may trust names and attributes.  Every change to
 * the live tree is made through this daemon, and the kernel learns it from
 * the operation itself or from an invalidation (content commits, refused
 * saves, commits by other processes: see notify.c), so those are trusted
 * for a minute; folder names too where the kernel can expire them, else
 * for a second (fill_entry).  Negative entries (a name that a restore by
 * another process may bring back) and everything under .snapshots
 * (automatic snapshots come and go on their own) for a second.
 */
#define LIVE_TIMEOUT 60.0
#define SHORT_TIMEOUT 1.0

enum { H_AT_WORK, H_CLOSED, H_EMPTIED }; /* fs_handle.closed */

struct fs_handle {
	pthread_mutex_t lock; /* serializes write/flush/fsync/release */
	atomic_int refs;      /* the open file, plus renames borrowing it */
	bool released;        /* fs_release ran (under lock) */
	struct fs_inode *inode;
	int flags;
	bool writable;
	bool loaded;    /* buf holds the file content */
	bool pending;   /* buf differs from the store: commit at release */
	bool written;   /* written since the last commit: commit at flush */
	bool mtime_set; /* an explicit mtime came after the last write */
	bool too_big;   /* a write passed the size limit: refuse the save */
	/* Nothing but its O_TRUNC pending since the open, which saw
	 * cache.saves at saves_seen: a save by another handle since then
	 * supersedes the truncation (handle_commit) */
	bool trunc_only;
	uint64_t saves_seen;
	/* What its last close left (do_flush): H_CLOSED, nothing pending,
	 * or H_EMPTIED, nothing but its O_TRUNC (`: > f`), which its RELEASE
	 * commits.  Either way the RELEASE, which the kernel sends after
	 * the close returned, is coming (settling() in cache.c).  A write or
	 * truncate sets it back to H_AT_WORK. */
	atomic_int closed;
	/* O_APPEND with nothing but appends since buf was loaded from (or
	 * committed as) the content of txnid base_txnid, base_len bytes: a
	 * commit adds buf's tail to whatever content it finds then */
	bool append_only;
	uint64_t base_txnid;
	size_t base_len;
	/* buf is what this handle's last commit saved, the content of
	 * base_txnid, and cache.gen was saved_gen just after that commit:
	 * the pages its release may hand the kernel (cache_warm) */
	bool saved;
	uint64_t saved_gen;
	int64_t mtime;
	/* The set-id bits that the changes of an unprivileged caller clear
	 * (setid.c), cleared in the next commit of buf; kill_known: worked
	 * out, and no chmod or chown came since.  Read without h->lock by
	 * stat (pending_attrs) and reset by setattr (entry.c). */
	atomic_uint kill;
	atomic_bool kill_known;
	struct wbuf buf;
	/* buf.len while pending, else -1; read without h->lock by stat */
	atomic_llong shown_size;
	pid_t pid; /* opener: the one process that sees the pending size */
	uint64_t version; /* content txnid when opened */
	bool cached;      /* reads through the page cache (cache.cached) */
	bool direct;      /* read-only on direct I/O (cache.direct) */
	/* Guarded by the itab lock: the content this handle opened, copied
	 * here before it was replaced or removed. */
	struct content_copy *copy;
	struct fs_handle *next; /* in inode->handles */
};

/*
 * A private copy of a version, shared between its handle and the reads
 * replying from it: a read may still be handing the bytes to the kernel
 * when the release of its handle runs.
 */
struct content_copy {
	atomic_int ref;
	size_t len;
	char data[];
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct fs_handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* ---- replies ------------------------------------------------------- */

static inline void reply_err(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? -rc : rc);
}

/* ---- ops.c: paths and transactions --------------------------------- */

/* Renames and removes, and what must not fall between their commit and
 * their change of the inode table (moving a writer off cached readers,
 * storing a file's pages by its path).  Taken before the write
 * transaction. */
extern pthread_mutex_t tree_lock;
/* Odd while a rename or removal has committed but the inode table does
 * not follow it yet (see handle_load). */
extern atomic_uint path_seq;
/* Read the node of path in a fresh read transaction. */
int read_node(struct fs *fs, const char *path, struct node *n);
/* Commit a write transaction with the daemon's close durability. */
/* A write transaction on fs's store (stx_begin's, minding the loop). */
int wtx_begin(struct fs *fs, struct stx *s);
int commit_close(struct fs *fs, struct stx *s, bool durable);
/* The path of name inside folder parent, into path (SV_PATH_MAX + 1). */
int child_path(fuse_ino_t parent, const char *name, char *path);
/* Begin a write transaction and resolve parent/name into path inside it;
 * on error no transaction is open. */
int begin_at(struct fs *fs, fuse_ino_t parent, const char *name, struct stx *s,
             char *path);

/* ---- ops.c: what a save may hold ----------------------------------- */

/* Is a file of mode at path a record (validated as YAML)? */
bool is_record(const char *path, uint32_t mode);
/* The largest content a file at path may have. */
unsigned long size_limit(const struct fs *fs, const char *path, uint32_t mode);
/* Record limits and validation.  0, -EFBIG or -EINVAL (msg filled). */
int validate(struct fs *fs, const char *path, uint32_t mode, const void *data,
             size_t len, char *msg, size_t msglen);
/* The same, keeping in rs (ref_set_init()ed here) the references the
 * validating parse finds: a record's, when its text is valid. */
struct ref_set;
int validate_refs(struct fs *fs, const char *path, uint32_t mode,
                  const void *data, size_t len, char *msg, size_t msglen,
                  struct ref_set *rs);
/* Log a refused save and keep its reason for user.cccfs.error. */
void reject(const char *path, const char *why, const char *msg);

/* ---- handle.c ------------------------------------------------------ */

/* A copy of len bytes at data (one reference), or NULL on ENOMEM. */
struct content_copy *copy_new(const void *data, size_t len);
/* *cc with a reference taken for the caller, made first if NULL (and
 * NULL again on ENOMEM): one copy for every holder. */
struct content_copy *copy_share(struct content_copy **cc, const void *data,
                                size_t len);
/* Drop a reference (cc may be NULL). */
void copy_put(struct content_copy *cc);
/* The handle's copy with a reference taken, or NULL.  Takes itab lock. */
struct content_copy *copy_get(struct fs_handle *h);

/* Drop a reference to h; the last one frees it. */
void handle_put(struct fs_handle *h);
/* Keep shown_size in step with the handle state (h->lock held). */
void handle_show(struct fs_handle *h);
/* Create a handle for ino and link it to the inode; its version is picked
 * by handle_pick_version(). */
int handle_new(fuse_req_t req, fuse_ino_t ino, int flags,
               struct fuse_file_info *fi, struct fs_handle **out);
/* With gone, only a detached inode with a copy of its content: the
 * handle reads that copy. */
int handle_new_at(fuse_req_t req, fuse_ino_t ino, int flags,
                  struct fuse_file_info *fi, bool gone, struct fs_handle **out);
/* Detach a handle from its inode and drop it, at release.  When the last
 * writer of a file goes, returns its inode number: its pages may be
 * handed to the kernel now (cache_warm), and *stale says whether the
 * kernel's view of it must be invalidated first; else 0. */
uint64_t handle_release(struct fs_handle *h, bool *stale);
/* The same after a failure before the reply to open: what is still to be
 * invalidated goes to the notify thread. */
void handle_unlink(struct fs_handle *h);
/* In read transaction s: the content of h's file, if it is still the
 * version h opened (any_version: whatever is there now); -EAGAIN if a
 * newer one replaced it. */
int handle_content(struct stx *s, struct fs_handle *h, bool any_version,
                   kv_val *v);

/* ---- cache.c ------------------------------------------------------- */

/* The content of in changed (or a save was refused): the kernel's cached
 * attributes (size, times) are invalidated. */
void content_changed(struct fs_inode *in);
/* Before a commit replaces or removes the content of in (version
 * old_version, len bytes at data): give its readers a copy.  Marks in as
 * committing until preserve_done() or preserve_end(). */
void preserve_readers(struct fs_inode *in, uint64_t old_version,
                      const void *data, size_t len, bool detach, bool keep);
void preserve_done(struct fs_inode *in);
/* After the commit preserve_readers() prepared, whose result is rc. */
void preserve_end(struct fs_inode *in, int rc);
/* With a write txn open: preserve the readers of whatever is at path.
 * Returns the inode to pass to preserve_end() (or NULL). */
struct fs_inode *preserve_path(struct stx *s, const char *path, bool detach);
/* Detach in, which has cached readers, from its path for a writer:
 * -ESTALE (the kernel looks the path up again), or another error. */
int move_from_readers(struct fs *fs, struct fs_inode *in);
/* Settle the version a new handle reads and how the kernel may cache it;
 * -EXDEV: a writer must first be moved off cached readers; *fill: call
 * prefill() (or fill_done() if the open fails). */
int handle_pick_version(struct fs *fs, struct fs_handle *h,
                        struct fuse_file_info *fi, uint32_t *mode, bool *fill);
void fill_done(struct fs_inode *in);
/* Store the pages of the first cached open of an inode with its open. */
void prefill(struct fs *fs, struct fs_handle *h);
/* Invalidate the kernel's view of ino: at once from the caller's handler
 * if no handle has it open, else from the notify thread; true if at once. */
bool cache_invalidate(uint64_t ino);
/* From the release of ino's last writer: invalidate the kernel's view of
 * it if stale, then hand it saved, the content of version it committed
 * (NULL: none), if nothing is in the way. */
void cache_warm(struct fs *fs, uint64_t ino, const struct wbuf *saved,
                uint64_t version, uint64_t saved_gen, bool stale);

/* ---- lookup.c ------------------------------------------------------ */

/* The attributes of node n, shown as inode number ino. */
void fill_stat(uint64_t ino, const struct node *n, struct stat *st);
/* st's attributes as a node, without extended attributes. */
void node_of_stat(const struct stat *st, struct node *n);
/* The attributes of ino, detached: those of the version its readers
 * keep (cache.frozen_st); -ENOENT when ino is not a detached inode. */
int frozen_attrs(fuse_ino_t ino, struct stat *st);
/* The same to the caller of req, with the size of its writes pending if
 * it has them (pending_attrs). */
int detached_attrs(fuse_req_t req, fuse_ino_t ino, struct stat *st);
/* The entry of ino at path, with node n's attributes. */
void fill_entry(uint64_t ino, const char *path, const struct node *n,
                struct fuse_entry_param *e);
/* Give the entry just made at path its inode (one lookup) and fill e
 * from n, which is released. */
int new_entry(const char *path, uint32_t type, struct node *n,
              struct fuse_entry_param *e);
/* If the process of req has ino open with writes pending: their size into
 * n->size and the set-id bits they clear out of n->mode, and true. */
bool pending_attrs(fuse_req_t req, uint64_t ino, struct node *n);
int do_lookup(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
              const char *name, struct fuse_entry_param *e);
void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_forget_multi(fuse_req_t req, size_t count,
                     struct fuse_forget_data *forgets);
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_statfs(fuse_req_t req, fuse_ino_t ino);

/* ---- file.c -------------------------------------------------------- */

/* Larger content is validated, copied or loaded off the request loop's
 * reading thread. */
#define QUICK_SAVE_MAX (64u * 1024)

/* Commit the handle's buffer as the new content of its file (h->lock
 * held); why names the trigger for the log. */
int handle_commit(struct fs *fs, struct fs_handle *h, bool durable,
                  const char *why);
/* Load the current content into a writing handle's buffer (h->lock
 * held). */
int handle_load(struct fs *fs, struct fs_handle *h);
/* The caller of req changes the content through h (write, truncate,
 * O_TRUNC): the set-id bits that clears go with h's next commit. */
void handle_note_writer(struct fs *fs, fuse_req_t req, struct fs_handle *h);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
             struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
              off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
              struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* ---- entry.c ------------------------------------------------------- */

/* Create a node (and empty content or a symlink target) at parent/name in
 * one commit; fill e.  -EEXIST if the name is taken. */
int make_entry(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
               const char *name, uint32_t mode, const char *target,
               struct fuse_entry_param *e);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                struct fuse_file_info *fi);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
              dev_t rdev);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                const char *name);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
             const char *newname);
void fs_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
               fuse_ino_t newparent, const char *newname, unsigned int flags);

/* ---- snapdir.c ----------------------------------------------------- */

/* Is path .snapshots or below it? */
bool in_snapshots(const char *path);
/* 0, or -EROFS if path is below .snapshots: for the changes that mean
 * nothing there (setattr, xattrs).  The others go to snap_make,
 * snap_remove, snap_rename and snap_open, which refuse all but their
 * own. */
int snap_check_write(const char *path);
/* Create at path below .snapshots (parent/name of create, mkdir, mknod,
 * symlink with target): mkdir of a snapshot takes it; fill e. */
int snap_make(struct fs *fs, const char *path, uint32_t mode,
              const char *target, struct fuse_entry_param *e);
/* Remove path below .snapshots (rmdir if dir): rmdir of a snapshot
 * deletes it. */
int snap_remove(struct fs *fs, const char *path, bool dir);
/* Rename from to to, either below .snapshots: only a snapshot's name. */
int snap_rename(struct fs *fs, const char *from, const char *to,
                unsigned flags);
/* Open ino at path below .snapshots: read-only, from a private copy. */
int snap_open(struct fs *fs, fuse_req_t req, fuse_ino_t ino, const char *path,
              struct fuse_file_info *fi);

/* ---- perm.c ------------------------------------------------------- */

/* Is the caller of req in group gid, as its own group or a supplementary
 * one?  No when its groups cannot be read. */
bool caller_in_group(fuse_req_t req, uint32_t gid);
/* Does the daemon check permissions (no default_permissions)?  Each check
 * below passes at once when it does not. */
bool perm_checked(fuse_req_t req);
/* 0 if the caller of req may do mask (R_OK | W_OK | X_OK) to node n, else
 * -EACCES. */
int perm_may(fuse_req_t req, const struct node *n, int mask);
/* 0 if the caller owns n or is root, else -EPERM. */
int perm_owner(fuse_req_t req, const struct node *n);
/* What an open with flags needs, as perm_may()'s mask. */
int perm_open_mask(int flags);
/* perm_may() on the node at path, and at inode ino (a detached one by
 * the attributes its readers keep), each read afresh. */
int perm_path(struct fs *fs, fuse_req_t req, const char *path, int mask);
int perm_ino(struct fs *fs, fuse_req_t req, fuse_ino_t ino, int mask);
/* May the caller search the folder at folder, or the folder of path?
 * Root may search any, without a read. */
int perm_search(struct fs *fs, fuse_req_t req, const char *folder);
int perm_parent(struct fs *fs, fuse_req_t req, const char *path);
/* May the caller add, remove or replace the entry at path: write and
 * search on its folder, read in s, and if the folder is sticky, owning
 * it or victim (the entry removed or replaced; NULL: none).  0, -EACCES
 * or -EPERM. */
int perm_entry_change(fuse_req_t req, struct stx *s, const char *path,
                      const struct node *victim);
void fs_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* ---- setid.c ------------------------------------------------------ */

/* The set-id bits of node n that a write, truncate or O_TRUNC open by the
 * caller of req clears. */
uint32_t setid_kill_write(fuse_req_t req, const struct node *n);
/* Those that a chown or chgrp by the caller of req clears (n as it is
 * before the change); chown(f, -1, -1) too. */
uint32_t setid_kill_chown(fuse_req_t req, const struct node *n);

/* ---- dir.c --------------------------------------------------------- */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi);

/* ---- xattr.c ------------------------------------------------------- */
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                 const char *value, size_t size, int flags);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
