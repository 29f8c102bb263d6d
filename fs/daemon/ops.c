/*
 * ops: the FUSE low-level handlers.  Each fs_<op> unpacks its arguments,
 * calls a do_<op> that returns 0 or a negative errno, and replies exactly
 * once.  The file tree lives in the store (store.h); inode numbers in the
 * inode table (inode.h).
 *
 * Open files.  Every open gets a struct fs_handle.  A handle opened for
 * writing keeps a private buffer (wbuf) holding the whole new content; it
 * is loaded from the store on the first write or truncate (or starts empty
 * with O_TRUNC), and committed in one kv write transaction on flush, fsync
 * or release.  The state of a writing handle:
 *
 *      open ----(O_TRUNC)----> pending ---(write/ftruncate)---> written
 *        |                        ^                                 |
 *        +---(write/ftruncate)----|--------------> written          |
 *                                 |                                 |
 *   flush:   commits only when written (a flush before any write, as in
 *            `echo x > T`, commits nothing)
 *   fsync:   commits when pending, durably; else syncs earlier commits
 *   release: commits when pending
 *   rename:  a file renamed while it has pending writes commits them
 *            first, so they move with it (commit_open_writes)
 *   a rejected commit (invalid YAML, too big) drops pending and written,
 *   so the same content is not rejected and logged twice.
 *
 * A handle opened with O_APPEND and changed by appends alone remembers the
 * version it loaded (append_only, base_txnid): when another commit came in
 * between, its commit puts its appends after that commit's content
 * (rebase_appends), so concurrent `>>` from several processes all land.
 *
 * Only the process that opened a handle with pending writes sees their
 * size in stat (pending_size); everyone else sees the committed version.
 *
 * Metadata (chmod, chown, utimens, xattrs), create, mkdir, symlink,
 * unlink, rmdir and rename are each one commit.  Paths are resolved inside
 * the write transaction that uses them: paths change only in write
 * transactions, so they are stable there.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "fs.h"
#include "inode.h"
#include "pathmap.h"
#include "snaps.h"
#include "store.h"
#include "wbuf.h"
#include "yaml_check.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uint64_t),
               "inode numbers are 64-bit");

/*
 * Renames and removes change the inode table after their commit, outside
 * the write transaction; moving a writer away from cached readers, and
 * storing a file's pages by its path, must not fall in between.  Taken
 * before the write transaction (fs.h's lock order: it comes first).
 */
pthread_mutex_t tree_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Odd from just before the commit of a rename or removal until the inode
 * table's paths follow it: a path read from the table and a store read
 * in that window may disagree.  Changed by tree_lock holders only, and
 * never while they wait for a handle's lock, so a reader that holds one
 * may wait for it to be even (handle_load).
 */
atomic_uint path_seq;

static bool is_record(const char *path, uint32_t mode)
{
	return S_ISREG(mode) && pm_depth(path) >= 2 &&
	       pm_is_record_name(pm_basename(path));
}

/* Read the node of path in a fresh read transaction. */
int read_node(struct fs *fs, const char *path, struct node *n)
{
	struct stx s;
	int rc;

	if (in_snapshots(path))
		return sv_node(fs->env, path, n);
	rc = stx_begin(fs->env, false, &s);
	if (rc != 0)
		return rc;
	rc = store_node_get(&s, path, n);
	stx_abort(&s);
	return rc;
}

/* Commit a write transaction with the daemon's close durability. */
int commit_close(struct fs *fs, struct stx *s, bool durable)
{
	enum kv_durability d = durable || fs->cfg.commit_interval == 0
	                               ? KV_DURABLE_IMMEDIATE
	                               : KV_DURABLE_NONE;
	int rc = stx_commit(s, d);

	if (rc == 0 && d == KV_DURABLE_NONE)
		commit_timer_note();
	return rc;
}

/* The path of name inside folder parent, into path (SV_PATH_MAX + 1). */
int child_path(fuse_ino_t parent, const char *name, char *path)
{
	char *ppath = NULL;
	int rc = itab_path(parent, &ppath, NULL);

	if (rc == 0)
		rc = sv_join(path, SV_PATH_MAX + 1, ppath, name);
	free(ppath);
	return rc;
}

/*
 * Begin a write transaction and resolve parent/name into path inside it:
 * paths change only in write transactions, so a concurrent rename of a
 * parent cannot slip in between.  On error no transaction is open.
 */
static int begin_at(struct fs *fs, fuse_ino_t parent, const char *name,
                    struct stx *s, char *path)
{
	int rc = stx_begin(fs->env, true, s);

	if (rc == 0) {
		rc = child_path(parent, name, path);
		if (rc != 0)
			stx_abort(s);
	}
	return rc;
}

/* ---- commits of file content ------------------------------------------ */

/* The largest content a file at path may have. */
static unsigned long size_limit(const struct fs *fs, const char *path,
                                uint32_t mode)
{
	return is_record(path, mode) ? fs->cfg.max_record : FS_SIDE_MAX;
}

/* Record limits and validation.  0, -EFBIG or -EINVAL (msg filled). */
static int validate(struct fs *fs, const char *path, uint32_t mode,
                    const void *data, size_t len, char *msg, size_t msglen)
{
	if (!is_record(path, mode)) {
		if (len > FS_SIDE_MAX) {
			snprintf(msg, msglen, "file larger than %lu bytes",
			         FS_SIDE_MAX);
			return -EFBIG;
		}
		return 0;
	}
	if (len > fs->cfg.max_record) {
		snprintf(msg, msglen, "record of %zu bytes is over the limit "
		         "of %lu bytes (-o max_record)", len,
		         fs->cfg.max_record);
		return -EFBIG;
	}
	return yaml_check(data, len, msg, msglen);
}

/* Log a refused save and keep its reason for user.cccfs.error. */
static void reject(const char *path, const char *why, const char *msg)
{
	fs_log(LOG_WARNING, "/%s: %s refused: %s", path, why, msg);
	errtab_set(path, msg);
}

/* Make buf the content cur followed by what the handle appended to the
 * base_len bytes it loaded. */
static int rebase_appends(struct fs_handle *h, kv_val cur)
{
	size_t tail = h->buf.len - h->base_len;
	struct wbuf b;
	int rc;

	wbuf_init(&b);
	rc = wbuf_set(&b, cur.data, cur.len);
	if (rc == 0)
		rc = wbuf_write(&b, cur.len, h->buf.data + h->base_len, tail);
	if (rc != 0) {
		wbuf_release(&b);
		return rc;
	}
	wbuf_release(&h->buf);
	h->buf = b;
	h->base_len = cur.len;
	handle_show(h);
	return 0;
}

/*
 * Commit the handle's buffer as the new content of its file, in one write
 * transaction.  Called with h->lock held.  why names the trigger for the
 * log ("close", "fsync", "release").
 */
static int handle_commit(struct fs *fs, struct fs_handle *h, bool durable,
                         const char *why)
{
	struct fs_inode *in = h->inode;
	char msg[YC_MSG_MAX];
	char *path = NULL, *pre = NULL;
	uint32_t type = 0;
	struct stx s;
	struct node n;
	kv_val old;
	bool same, rebased = false;
	int rc, prerc = 0;

	/* A write refused as too large refuses the whole save, so that the
	 * O_TRUNC before it does not commit an empty file over the old one. */
	if (h->too_big) {
		if (itab_path(in->ino, &pre, &type) == 0) {
			snprintf(msg, sizeof msg, "a write went past the "
			         "limit of %lu bytes%s", size_limit(fs, pre, type),
			         is_record(pre, type) ? " (-o max_record)" : "");
			reject(pre, why, msg);
			free(pre);
		}
		h->pending = h->written = h->too_big = false;
		content_changed(in);
		return -EFBIG;
	}
	/* Validate before taking the write lock (parsing 16 MiB takes a
	 * while); again inside only if a rename moved the file meanwhile. */
	if (itab_path(in->ino, &pre, &type) == 0) {
		prerc = validate(fs, pre, type, h->buf.data, h->buf.len, msg,
		                 sizeof msg);
		if (prerc != 0 && prerc != -EINVAL && prerc != -EFBIG) {
			free(pre);
			return prerc;
		}
	}
	rc = stx_begin(fs->env, true, &s);
	if (rc != 0) {
		free(pre);
		return rc;
	}
	/* Paths change only inside write transactions: stable from here. */
	rc = itab_path(in->ino, &path, NULL);
	if (rc != 0) {
		/* removed while open: the content goes with it */
		stx_abort(&s);
		free(pre);
		h->pending = h->written = false;
		return 0;
	}
	rc = store_node_get(&s, path, &n);
	if (rc == -ENOENT) {
		stx_abort(&s);
		free(path);
		free(pre);
		h->pending = h->written = false;
		return 0;
	}
	if (rc != 0) {
		free(pre);
		goto fail;
	}
	if (h->append_only && n.txnid != h->base_txnid) {
		/* another commit came since this handle loaded: its appends
		 * go after that one's content, as O_APPEND writes would */
		rc = store_content_get(&s, path, n.mode, &old);
		if (rc == 0)
			rc = rebase_appends(h, old);
		if (rc != 0) {
			free(pre);
			goto fail_node;
		}
		rebased = true;
	}
	if (pre && strcmp(pre, path) == 0 && (n.mode & S_IFMT) == type &&
	    !rebased)
		rc = prerc;
	else
		rc = validate(fs, path, n.mode, h->buf.data, h->buf.len, msg,
		              sizeof msg);
	free(pre);
	if (rc == -EINVAL || rc == -EFBIG) {
		reject(path, why, msg);
		h->pending = h->written = false;
		if (h->append_only) {
			/* the refused appends go; later ones go on from
			 * the content there is (rebased: that of n.txnid) */
			h->buf.len = h->base_len;
			h->base_txnid = n.txnid;
			handle_show(h);
		}
		content_changed(in);
		node_release(&n);
		goto fail;
	}
	if (rc != 0)
		goto fail_node;
	rc = store_content_get(&s, path, n.mode, &old);
	if (rc != 0)
		goto fail_node;
	same = old.len == h->buf.len &&
	       (old.len == 0 || memcmp(old.data, h->buf.data, old.len) == 0);
	if (!same) {
		preserve_readers(in, n.txnid, old.data, old.len, false, false);
		rc = store_content_put(&s, path, n.mode, h->buf.data,
		                       h->buf.len);
		if (rc != 0) {
			preserve_end(in, rc);
			goto fail_node;
		}
		n.size = h->buf.len;
		n.txnid = kv_txn_id(s.txn);
	}
	n.mtime = h->mtime_set ? h->mtime : clock_real_ns();
	n.ctime = clock_real_ns();
	rc = store_node_put(&s, path, &n);
	node_release(&n);
	if (rc != 0) {
		if (!same)
			preserve_end(in, rc);
		goto fail;
	}
	rc = commit_close(fs, &s, durable);
	if (!same)
		preserve_end(in, rc);
	if (rc != 0) {
		fs_log(LOG_ERR, "/%s: commit failed: %s", path, strerror(-rc));
		free(path);
		return rc;
	}
	if (!same)
		errtab_clear(path);
	h->pending = h->written = false;
	/* buf is now the content of n.txnid: appends go on from there */
	h->append_only = (h->flags & O_APPEND) != 0;
	h->base_txnid = n.txnid;
	h->base_len = h->buf.len;
	content_changed(in);
	fs_log(LOG_DEBUG, "/%s: committed %zu bytes (%s)", path, h->buf.len,
	       why);
	free(path);
	return 0;
fail_node:
	node_release(&n);
fail:
	stx_abort(&s);
	free(path);
	return rc;
}

/* Load the current content into a writing handle's buffer.  h->lock held. */
static int handle_load(struct fs *fs, struct fs_handle *h)
{
	char *path = NULL;
	struct stx s;
	struct node n;
	kv_val v;
	int rc;

	if (h->loaded)
		return 0;
	itab_lock();
	if (h->copy) {
		rc = wbuf_set(&h->buf, h->copy->data, h->copy->len);
		itab_unlock();
		if (rc == 0)
			h->loaded = true;
		return rc;
	}
	itab_unlock();
	/* A rename commits before it moves the inode's path, so the path
	 * read here could belong to the other side of one (path_seq). */
	for (;;) {
		unsigned seq;

		while ((seq = atomic_load(&path_seq)) & 1u)
			sched_yield();
		rc = stx_begin(fs->env, false, &s);
		if (rc != 0)
			return rc;
		rc = itab_path(h->inode->ino, &path, NULL);
		if (rc == 0)
			rc = store_node_get(&s, path, &n);
		if (rc == 0) {
			rc = store_content_get(&s, path, n.mode, &v);
			if (rc == 0)
				rc = wbuf_set(&h->buf, v.data, v.len);
			if (rc == 0 && (h->flags & O_APPEND)) {
				h->append_only = true;
				h->base_txnid = n.txnid;
				h->base_len = v.len;
			}
			node_release(&n);
		}
		stx_abort(&s);
		free(path);
		path = NULL;
		if (rc != -ENOENT || atomic_load(&path_seq) == seq)
			break;
	}
	if (rc == -ENOENT) { /* removed: write into an empty file */
		h->buf.len = 0;
		rc = 0;
	}
	if (rc == 0)
		h->loaded = true;
	return rc;
}

/* ---- setattr ----------------------------------------------------------- */

/* Truncate by path (no handle): a commit of its own. */
static int truncate_path(struct fs *fs, struct fs_inode *in, fuse_ino_t ino,
                         off_t size)
{
	char msg[YC_MSG_MAX];
	struct fs_inode *preserved = NULL;
	char *path = NULL;
	struct wbuf b;
	struct stx s;
	struct node n;
	kv_val old;
	int rc;

	wbuf_init(&b);
	rc = stx_begin(fs->env, true, &s);
	if (rc != 0)
		return rc;
	if (in) {
		itab_lock();
		if (in->cached > 0) {
			itab_unlock();
			stx_abort(&s);
			return move_from_readers(fs, in);
		}
		/* no cached open until this truncate is settled */
		itab_hold_drop_locked(in);
		in->committing++;
		itab_unlock();
	}
	rc = itab_path(ino, &path, NULL);
	if (rc == 0)
		rc = store_node_get(&s, path, &n);
	if (rc != 0)
		goto fail;
	if (!S_ISREG(n.mode)) {
		rc = S_ISDIR(n.mode) ? -EISDIR : -EINVAL;
		goto fail_node;
	}
	rc = store_content_get(&s, path, n.mode, &old);
	if (rc == 0)
		rc = wbuf_set(&b, old.data, old.len);
	if (rc == 0)
		rc = wbuf_resize(&b, (size_t)size);
	if (rc != 0)
		goto fail_node;
	rc = validate(fs, path, n.mode, b.data, b.len, msg, sizeof msg);
	if (rc == -EINVAL || rc == -EFBIG) {
		reject(path, "truncate", msg);
		goto fail_node;
	}
	if (rc == 0 && b.len != old.len) {
		preserve_readers(in, n.txnid, old.data, old.len, false, false);
		preserved = in;
		rc = store_content_put(&s, path, n.mode, b.data, b.len);
		n.txnid = kv_txn_id(s.txn);
		n.size = b.len;
	}
	n.mtime = n.ctime = clock_real_ns();
	if (rc == 0)
		rc = store_node_put(&s, path, &n);
	if (rc != 0)
		goto fail_node;
	node_release(&n);
	wbuf_release(&b);
	rc = commit_close(fs, &s, false);
	preserve_end(preserved, rc);
	if (rc == 0)
		content_changed(in);
	preserve_done(in);
	free(path);
	return rc;
fail_node:
	node_release(&n);
fail:
	stx_abort(&s);
	preserve_end(preserved, rc);
	preserve_done(in);
	wbuf_release(&b);
	free(path);
	return rc;
}

/* Mode, owner and times: one metadata commit. */
static int set_meta(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                    const struct stat *attr, int to_set, struct node *out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int64_t now = clock_real_ns();
	char *path = NULL;
	struct stx s;
	int rc;

	rc = stx_begin(fs->env, true, &s);
	if (rc != 0)
		return rc;
	rc = itab_path(ino, &path, NULL);
	if (rc == 0)
		rc = store_node_get(&s, path, out);
	if (rc != 0) {
		stx_abort(&s);
		free(path);
		return rc;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		/* Only to the caller's own ids, unless root. */
		if (ctx->uid != 0 &&
		    (((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != ctx->uid) ||
		     out->uid != ctx->uid)) {
			stx_abort(&s);
			node_release(out);
			free(path);
			return -EPERM;
		}
		if (to_set & FUSE_SET_ATTR_UID)
			out->uid = (uint32_t)attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			out->gid = (uint32_t)attr->st_gid;
		if (ctx->uid != 0)
			out->mode &= ~(uint32_t)(S_ISUID | S_ISGID);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		out->mode = (out->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		out->atime = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		out->atime = node_time_of(attr->st_atim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		out->mtime = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		out->mtime = node_time_of(attr->st_mtim);
	out->ctime = (to_set & FUSE_SET_ATTR_CTIME)
	             ? node_time_of(attr->st_ctim) : now;
	rc = store_node_put(&s, path, out);
	free(path);
	if (rc != 0) {
		stx_abort(&s);
		node_release(out);
		return rc;
	}
	rc = commit_close(fs, &s, false);
	if (rc != 0)
		node_release(out);
	return rc;
}

static void note_mtime(struct fs_inode *in, int64_t mtime)
{
	/* handles still writing keep this mtime when they commit */
	itab_lock();
	for (struct fs_handle *h = in->handles; h; h = h->next)
		if (h->writable) {
			h->mtime_set = true;
			h->mtime = mtime;
		}
	itab_unlock();
}

static int do_setattr(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                      struct stat *attr, int to_set,
                      struct fuse_file_info *fi, struct stat *st)
{
	const int meta = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
	                 FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
	                 FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	struct fs_handle *h = NULL;
	struct fs_inode *in;
	char *path = NULL;
	uint32_t type = 0;
	struct node n;
	int rc;

	rc = itab_path(ino, &path, &type);
	if (rc != 0)
		return rc;
	if (in_snapshots(path)) {
		free(path);
		return -EROFS;
	}
	if (fi && type == S_IFREG)
		h = handle_of(fi); /* for folders fi is a dir_handle */
	itab_lock();
	in = itab_get(ino);
	itab_unlock();
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			rc = -EINVAL;
			goto out;
		}
		if ((uint64_t)attr->st_size > size_limit(fs, path, type)) {
			rc = -EFBIG;
			goto out;
		}
		if (h && h->writable) {
			pthread_mutex_lock(&h->lock);
			rc = attr->st_size == 0 ? 0 : handle_load(fs, h);
			if (rc == 0 && attr->st_size == 0)
				h->loaded = true;
			if (rc == 0)
				rc = wbuf_resize(&h->buf, (size_t)attr->st_size);
			if (rc == 0) {
				h->pending = h->written = true;
				h->mtime_set = false;
				h->append_only = false;
			}
			atomic_store(&h->closed, false);
			handle_show(h);
			pthread_mutex_unlock(&h->lock);
		} else {
			rc = truncate_path(fs, in, ino, attr->st_size);
		}
		if (rc != 0)
			goto out;
	}
	if (to_set & meta) {
		rc = set_meta(fs, req, ino, attr, to_set, &n);
		if (rc != 0)
			goto out;
		if ((to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) &&
		    in)
			note_mtime(in, n.mtime);
	} else {
		rc = read_node(fs, path, &n);
		if (rc != 0)
			goto out;
	}
	if (S_ISREG(n.mode))
		pending_size(req, ino, &n);
	fill_stat(itab_st_ino(ino), &n, st);
	node_release(&n);
out:
	free(path);
	return rc;
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	int rc = do_setattr(fs_of(req), req, ino, attr, to_set, fi, &st);

	/* setattr is refused below .snapshots: always the live tree */
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, LIVE_TIMEOUT);
}

/* ---- creating entries --------------------------------------------------- */

/*
 * Create a node (and empty content or a symlink target) at parent/name in
 * one commit; fill e.  -EEXIST if the name is taken.
 */
static int make_entry(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
                      const char *name, uint32_t mode, const char *target,
                      struct fuse_entry_param *e)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char path[SV_PATH_MAX + 1];
	struct stx s;
	struct node n;
	int rc;

	rc = begin_at(fs, parent, name, &s, path);
	if (rc != 0)
		return rc;
	if (in_snapshots(path)) {
		stx_abort(&s);
		return snap_make(fs, path, mode, target, e);
	}
	if (pm_depth(path) < 2) {
		fs_log(LOG_INFO, "/%s: only workflows, agents and prompts may "
		       "exist at the top level", path);
		rc = -EPERM;
		goto fail;
	}
	rc = store_node_get(&s, path, &n);
	if (rc == 0) {
		node_release(&n);
		rc = -EEXIST;
		goto fail;
	}
	if (rc != -ENOENT)
		goto fail;
	rc = 0;
	node_fresh(&n, mode, ctx->uid, ctx->gid);
	n.txnid = kv_txn_id(s.txn);
	if (target) {
		n.size = strlen(target);
		rc = store_content_put(&s, path, mode, target, n.size);
	} else if (S_ISREG(mode)) {
		rc = store_content_put(&s, path, mode, "", 0);
	}
	if (rc == 0)
		rc = store_node_put(&s, path, &n);
	if (rc == 0)
		rc = store_touch_parent(&s, path, n.ctime);
	if (rc != 0) {
		node_release(&n);
		goto fail;
	}
	rc = commit_close(fs, &s, false);
	if (rc != 0) {
		node_release(&n);
		return rc;
	}
	return new_entry(path, mode & S_IFMT, &n, e);
fail:
	stx_abort(&s);
	return rc;
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
	struct fuse_entry_param e;
	int rc = make_entry(fs_of(req), req, parent, name,
	                    S_IFDIR | (mode & 07777), NULL, &e);

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
	struct fuse_entry_param e;
	int rc;

	(void)rdev;
	if (!S_ISREG(mode)) {
		reply_err(req, -EPERM);
		return;
	}
	rc = make_entry(fs_of(req), req, parent, name, S_IFREG | (mode & 07777),
	                NULL, &e);
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name)
{
	struct fuse_entry_param e;
	int rc = make_entry(fs_of(req), req, parent, name, S_IFLNK | 0777, link,
	                    &e);

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                    const char *newname)
{
	(void)ino;
	(void)newparent;
	fs_log(LOG_DEBUG, "link %s: hard links are not supported", newname);
	reply_err(req, -EPERM);
}

static int do_readlink(struct fs *fs, fuse_ino_t ino, char **out)
{
	char *path = NULL;
	struct stx s;
	struct node n = { 0 };
	kv_val v;
	int rc = itab_path(ino, &path, NULL);

	if (rc != 0)
		return rc;
	rc = stx_begin(fs->env, false, &s);
	if (rc == 0) {
		rc = store_node_get(&s, path, &n);
		if (rc == 0 && !S_ISLNK(n.mode))
			rc = -EINVAL;
		if (rc == 0)
			rc = store_content_get(&s, path, n.mode, &v);
		if (rc == 0) {
			*out = strndup(v.data, v.len);
			if (*out == NULL)
				rc = -ENOMEM;
		}
		node_release(&n);
		stx_abort(&s);
	}
	free(path);
	return rc;
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target = NULL;
	int rc = do_readlink(fs_of(req), ino, &target);

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

/* ---- removing entries --------------------------------------------------- */

static int do_remove(struct fs *fs, fuse_ino_t parent, const char *name,
                     bool dir)
{
	struct fs_inode *preserved = NULL;
	char path[SV_PATH_MAX + 1];
	struct stx s;
	struct node n;
	int rc;

	rc = begin_at(fs, parent, name, &s, path);
	if (rc != 0)
		return rc;
	if (in_snapshots(path)) {
		stx_abort(&s);
		return snap_remove(fs, path, dir);
	}
	if (pm_depth(path) < 2) {
		rc = -EPERM;
		goto fail;
	}
	rc = store_node_get(&s, path, &n);
	if (rc != 0)
		goto fail;
	node_release(&n);
	if (dir && !S_ISDIR(n.mode))
		rc = -ENOTDIR;
	else if (!dir && S_ISDIR(n.mode))
		rc = -EISDIR;
	else if (dir)
		rc = store_has_children(&s, path) > 0 ? -ENOTEMPTY : 0;
	if (rc != 0)
		goto fail;
	if (!dir)
		preserved = preserve_path(&s, path, true);
	rc = store_remove(&s, path, n.mode);
	if (rc == 0)
		rc = store_touch_parent(&s, path, clock_real_ns());
	if (rc != 0)
		goto fail;
	atomic_fetch_add(&path_seq, 1);
	rc = commit_close(fs, &s, false);
	if (rc == 0) {
		itab_lock();
		itab_detach_locked(path);
		itab_unlock();
	}
	atomic_fetch_add(&path_seq, 1);
	preserve_end(preserved, rc);
	return rc;
fail:
	stx_abort(&s);
	preserve_end(preserved, rc);
	return rc;
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	pthread_mutex_lock(&tree_lock);
	rc = do_remove(fs_of(req), parent, name, false);
	pthread_mutex_unlock(&tree_lock);
	reply_err(req, rc);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	pthread_mutex_lock(&tree_lock);
	rc = do_remove(fs_of(req), parent, name, true);
	pthread_mutex_unlock(&tree_lock);
	reply_err(req, rc);
}

/* ---- rename ------------------------------------------------------------- */

/*
 * A regular file arriving at a record name must be a valid record.  This
 * is where the editors' and rsync's save-by-rename is refused.
 */
static int check_arrival(struct fs *fs, const char *to,
                         const struct subtree *t)
{
	const struct subtree_entry *e = &t->e[0];
	char msg[YC_MSG_MAX];
	int rc;

	if (!is_record(to, e->node.mode))
		return 0;
	rc = validate(fs, to, e->node.mode, e->data, e->len, msg, sizeof msg);
	if (rc == -EINVAL || rc == -EFBIG)
		reject(to, "rename", msg);
	return rc;
}

static bool same_content(const struct subtree *a, const void *data,
                         size_t len)
{
	return a->n == 1 && a->e[0].len == len &&
	       (len == 0 || memcmp(a->e[0].data, data, len) == 0);
}

static int rename_paths(fuse_ino_t parent, const char *name,
                        fuse_ino_t newparent, const char *newname,
                        char *from, char *to)
{
	char *p = NULL;
	int rc = itab_path(parent, &p, NULL);

	if (rc != 0)
		return rc;
	rc = sv_join(from, SV_PATH_MAX + 1, p, name);
	free(p);
	if (rc != 0)
		return rc;
	rc = itab_path(newparent, &p, NULL);
	if (rc != 0)
		return rc;
	rc = sv_join(to, SV_PATH_MAX + 1, p, newname);
	free(p);
	if (rc != 0)
		return rc;
	if (pm_depth(from) < 2 || pm_depth(to) < 2)
		return -EPERM;
	return 0;
}

/*
 * Writes still pending in files open at path are part of the file on a
 * local disk, so they move with a rename: commit them first (as the file
 * is now, e.g. a side file), and the rename then moves and, at a record
 * name, validates them in its own single commit.
 */
static void commit_open_writes(struct fs *fs, const char *path)
{
	struct fs_handle *hs[8];
	struct fs_inode *in;
	int n = 0;

	itab_lock();
	in = itab_find_path(path);
	for (struct fs_handle *h = in ? in->handles : NULL; h && n < 8;
	     h = h->next)
		if (h->writable && atomic_load(&h->shown_size) >= 0) {
			atomic_fetch_add(&h->refs, 1);
			hs[n++] = h;
		}
	itab_unlock();
	for (int i = 0; i < n; i++) {
		struct fs_handle *h = hs[i];

		pthread_mutex_lock(&h->lock);
		if (!h->released && h->pending)
			(void)handle_commit(fs, h, false, "rename");
		if (!h->released)
			handle_show(h);
		pthread_mutex_unlock(&h->lock);
		handle_put(h);
	}
}

static int do_exchange(struct fs *fs, struct stx *s, const char *from,
                       const char *to)
{
	struct subtree a = { 0 }, b = { 0 };
	int rc = store_subtree_load(s, from, &a);

	if (rc == 0)
		rc = store_subtree_load(s, to, &b);
	if (rc == 0)
		rc = check_arrival(fs, to, &a);
	if (rc == 0)
		rc = check_arrival(fs, from, &b);
	if (rc == 0)
		rc = store_subtree_delete(s, from, &a);
	if (rc == 0)
		rc = store_subtree_delete(s, to, &b);
	if (rc == 0)
		rc = store_subtree_write(s, to, &a);
	if (rc == 0)
		rc = store_subtree_write(s, from, &b);
	subtree_release(&a);
	subtree_release(&b);
	return rc;
}

/* Plain rename (replace or RENAME_NOREPLACE).  *replaced: the target
 * existed and its inode must be detached. */
static int do_move(struct fs *fs, struct stx *s, const char *from,
                   const char *to, unsigned flags, bool *replaced,
                   bool *clear_err, struct fs_inode **preserved)
{
	struct subtree t = { 0 };
	struct node src, dst;
	kv_val dv = { "", 0 };
	bool dst_exists, changed = true;
	int rc;

	rc = store_node_get(s, from, &src);
	if (rc != 0)
		return rc;
	node_release(&src);
	rc = store_node_get(s, to, &dst);
	if (rc != 0 && rc != -ENOENT)
		return rc;
	dst_exists = rc == 0;
	if (dst_exists) {
		node_release(&dst);
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (S_ISDIR(src.mode) && !S_ISDIR(dst.mode))
			return -ENOTDIR;
		if (!S_ISDIR(src.mode) && S_ISDIR(dst.mode))
			return -EISDIR;
		if (S_ISDIR(dst.mode)) {
			rc = store_has_children(s, to);
			if (rc != 0)
				return rc > 0 ? -ENOTEMPTY : rc;
		}
	}
	if (S_ISDIR(src.mode) && pm_is_within(to, from))
		return -EINVAL;
	rc = store_subtree_load(s, from, &t);
	if (rc == 0)
		rc = check_arrival(fs, to, &t);
	if (rc == 0 && dst_exists) {
		if (S_ISREG(dst.mode) &&
		    store_content_get(s, to, dst.mode, &dv) == 0)
			changed = !same_content(&t, dv.data, dv.len);
		*preserved = preserve_path(s, to, true);
		rc = store_remove(s, to, dst.mode);
	}
	if (rc == 0)
		rc = store_subtree_delete(s, from, &t);
	if (rc == 0)
		rc = store_subtree_write(s, to, &t);
	*replaced = dst_exists;
	*clear_err = changed && is_record(to, src.mode);
	subtree_release(&t);
	return rc;
}

static int do_rename(struct fs *fs, fuse_ino_t parent, const char *name,
                     fuse_ino_t newparent, const char *newname,
                     unsigned flags)
{
	char from[SV_PATH_MAX + 1], to[SV_PATH_MAX + 1];
	bool replaced = false, clear_err = false;
	struct fs_inode *preserved = NULL;
	struct stx s;
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	rc = rename_paths(parent, name, newparent, newname, from, to);
	if (rc == 0 && (in_snapshots(from) || in_snapshots(to)))
		return snap_rename(fs, from, to, flags);
	if (rc == 0) {
		commit_open_writes(fs, from);
		if (flags & RENAME_EXCHANGE)
			commit_open_writes(fs, to);
	}
	rc = stx_begin(fs->env, true, &s);
	if (rc != 0)
		return rc;
	rc = rename_paths(parent, name, newparent, newname, from, to);
	if (rc != 0 || strcmp(from, to) == 0) {
		stx_abort(&s);
		return rc;
	}
	if (flags & RENAME_EXCHANGE)
		rc = do_exchange(fs, &s, from, to);
	else
		rc = do_move(fs, &s, from, to, flags, &replaced, &clear_err,
		             &preserved);
	if (rc == 0)
		rc = store_touch_parents(&s, from, to, clock_real_ns());
	if (rc != 0) {
		stx_abort(&s);
		preserve_end(preserved, rc);
		return rc;
	}
	atomic_fetch_add(&path_seq, 1);
	rc = commit_close(fs, &s, false);
	if (rc != 0) {
		atomic_fetch_add(&path_seq, 1);
		preserve_end(preserved, rc);
		return rc;
	}
	itab_lock();
	if (flags & RENAME_EXCHANGE) {
		itab_exchange_locked(from, to);
	} else {
		struct fs_inode *old = replaced ? itab_detach_locked(to) : NULL;

		itab_move_locked(from, to);
		if (old)
			notify_inode(old->ino);
	}
	itab_unlock();
	atomic_fetch_add(&path_seq, 1);
	preserve_done(preserved);
	if (clear_err)
		errtab_clear(to);
	fs_log(LOG_DEBUG, "rename /%s -> /%s", from, to);
	return 0;
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
	int rc;

	pthread_mutex_lock(&tree_lock);
	rc = do_rename(fs_of(req), parent, name, newparent, newname, flags);
	pthread_mutex_unlock(&tree_lock);
	reply_err(req, rc);
}

/* ---- open, read, write, flush, release ---------------------------------- */

/*
 * Open an inode detached since the kernel looked it up: a read-only open
 * reads the content it had, as a file unlinked or renamed over opens on
 * ext4 through a lookup made before.  Anything else is ESTALE: the kernel
 * looks the path up again, once.
 */
static int open_gone(fuse_req_t req, fuse_ino_t ino,
                     struct fuse_file_info *fi)
{
	struct fs_handle *h;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -ESTALE;
	rc = handle_new_at(req, ino, fi->flags, fi, true, &h);
	if (rc != 0)
		return rc;
	fi->direct_io = 1;
	fi->noflush = 1;
	return 0;
}

static int do_open(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                   struct fuse_file_info *fi)
{
	struct fs_handle *h;
	uint32_t mode = 0;
	char *path = NULL;
	bool snapshot, fill;
	int rc = itab_path(ino, &path, NULL);

	if (rc == -ENOENT)
		return open_gone(req, ino, fi);
	if (rc != 0)
		return rc;
	snapshot = in_snapshots(path);
	if (snapshot)
		rc = snap_open(fs, req, ino, path, fi);
	free(path);
	if (snapshot)
		return rc;
	rc = handle_new(req, ino, fi->flags, fi, &h);
	if (rc != 0)
		return rc;
	rc = handle_pick_version(fs, h, fi, &mode, &fill);
	if (rc == -EXDEV)
		rc = move_from_readers(fs, h->inode);
	if (rc == 0 && S_ISDIR(mode))
		rc = -EISDIR;
	if (rc != 0) {
		if (fill)
			fill_done(h->inode);
		handle_unlink(h);
		if (rc == -ESTALE) /* detached meanwhile */
			rc = open_gone(req, ino, fi);
	} else if (fill) {
		prefill(fs, h);
	}
	return rc;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = do_open(fs_of(req), req, ino, fi);

	if (rc != 0)
		reply_err(req, rc);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		handle_unlink(handle_of(fi)); /* the open was interrupted */
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int rc = make_entry(fs, req, parent, name, S_IFREG | (mode & 07777),
	                    NULL, &e);

	if (rc == -EEXIST && !(fi->flags & O_EXCL))
		rc = do_lookup(fs, req, parent, name, &e);
	if (rc == 0) {
		struct fs_handle *h;
		uint32_t m;

		rc = handle_new(req, e.ino, fi->flags, fi, &h);
		if (rc == 0) {
			bool fill;

			rc = handle_pick_version(fs, h, fi, &m, &fill);
			/* an O_RDONLY|O_CREAT open of an existing file: its
			 * reads come as READs */
			if (fill)
				fill_done(h->inode);
			if (rc == -EXDEV)
				rc = move_from_readers(fs, h->inode);
			if (rc != 0)
				handle_unlink(h);
		}
		if (rc != 0)
			itab_forget(e.ino, 1);
	}
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_create(req, &e, fi);
}

/* Reply to a read from bytes [data, data+len) of the content. */
static void reply_slice(fuse_req_t req, const char *data, size_t len,
                        size_t size, off_t off)
{
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, data + off,
		               len - (size_t)off < size ? len - (size_t)off : size);
}

/* Read the latest committed content, straight from the map. */
static int read_store(struct fs *fs, fuse_req_t req, struct fs_handle *h,
                      size_t size, off_t off, bool any_version)
{
	struct stx s;
	kv_val v;
	int rc = stx_begin(fs->env, false, &s);

	if (rc != 0)
		return rc;
	rc = handle_content(&s, h, any_version, &v);
	if (rc == 0)
		reply_slice(req, v.data, v.len, size, off);
	stx_abort(&s);
	return rc;
}

static int do_read(struct fs *fs, fuse_req_t req, struct fs_handle *h,
                   size_t size, off_t off)
{
	struct content_copy *cc;
	int rc;

	if (h->writable) {
		pthread_mutex_lock(&h->lock);
		if (h->loaded) {
			reply_slice(req, h->buf.data, h->buf.len, size, off);
			pthread_mutex_unlock(&h->lock);
			return 0;
		}
		pthread_mutex_unlock(&h->lock);
	}
	/* A private copy, once set, is the handle's version for good. */
	cc = copy_get(h);
	if (cc) {
		reply_slice(req, cc->data, cc->len, size, off);
		copy_put(cc);
		return 0;
	}
	rc = read_store(fs, req, h, size, off, h->writable);
	if (rc == -EAGAIN || rc == -ENOENT) {
		/* changed or removed after we looked: the writer has given
		 * us our copy before committing */
		cc = copy_get(h);
		if (cc) {
			reply_slice(req, cc->data, cc->len, size, off);
			copy_put(cc);
			return 0;
		}
		rc = read_store(fs, req, h, size, off, true);
	}
	return rc;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	rc = do_read(fs_of(req), req, handle_of(fi), size, off);
	if (rc != 0)
		reply_err(req, rc);
}

static int do_write(struct fs *fs, struct fs_handle *h, const char *buf,
                    size_t size, off_t off)
{
	unsigned long limit = FS_SIDE_MAX;
	char *path = NULL;
	uint32_t type = 0;
	int rc;

	if (!h->writable)
		return -EBADF;
	if (itab_path(h->inode->ino, &path, &type) == 0) {
		limit = size_limit(fs, path, type);
		free(path);
	}
	pthread_mutex_lock(&h->lock);
	rc = handle_load(fs, h);
	if (rc == 0 && (h->flags & O_APPEND))
		off = (off_t)h->buf.len;
	if (rc == 0 && (off < 0 || (uint64_t)off + size > limit)) {
		rc = -EFBIG;
		h->too_big = true;
	}
	if (rc == 0)
		rc = wbuf_write(&h->buf, (size_t)off, buf, size);
	if (rc == 0) {
		h->pending = h->written = true;
		h->mtime_set = false;
	}
	atomic_store(&h->closed, false); /* a dup'ed fd still writes */
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	rc = do_write(fs_of(req), handle_of(fi), buf, size, off);
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_write(req, size);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino,
                     struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	int rc = 0;

	(void)ino;
	pthread_mutex_lock(&h->lock);
	if (h->written)
		rc = handle_commit(fs_of(req), h, false, "close");
	atomic_store(&h->closed, !h->pending);
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	reply_err(req, rc);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	int rc;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&h->lock);
	if (h->pending)
		rc = handle_commit(fs, h, true, "fsync");
	else
		rc = kv_to_errno(kv_env_sync(fs->env));
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	reply_err(req, rc);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);

	(void)ino;
	pthread_mutex_lock(&h->lock);
	if (h->pending)
		(void)handle_commit(fs_of(req), h, false, "release");
	atomic_store(&h->shown_size, -1LL);
	h->released = true;
	pthread_mutex_unlock(&h->lock);
	handle_unlink(h);
	reply_err(req, 0);
}

/* ---- session ------------------------------------------------------------ */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* O_TRUNC arrives with open, so it can stay pending in the
	 * handle instead of becoming a separate truncate commit. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* size or mtime changes seen on getattr drop stale pages */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* no writeback cache: every write reaches the handle's buffer
	 * before the close that must commit it */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~(unsigned)FUSE_CAP_POSIX_ACL;
}

int fs_ops_init(struct fs *fs)
{
	int rc = itab_init();

	(void)fs;
	itab_set_gone_put(copy_put);
	if (rc == 0)
		rc = itab_pin(FS_INO_ROOT, "", S_IFDIR);
	for (int k = 0; k < PM_NKINDS && rc == 0; k++)
		rc = itab_pin(FS_INO_KIND0 + (unsigned)k, pm_kind_name(k),
		              S_IFDIR);
	return rc;
}

static void drop_handles(struct fs_inode *in, void *ctx)
{
	unsigned *dropped = ctx;

	while (in->handles) {
		struct fs_handle *h = in->handles;

		in->handles = h->next;
		if (h->pending)
			(*dropped)++;
		handle_put(h);
	}
}

void fs_ops_release(void)
{
	unsigned dropped = 0;

	itab_each(drop_handles, &dropped);
	if (dropped)
		fs_log(LOG_WARNING, "unmounted with %u files open for writing; "
		       "their unsaved writes were dropped", dropped);
	itab_release();
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
};
