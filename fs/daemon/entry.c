/*
 * entry: the changes to names and metadata: setattr (mode, owner, times,
 * truncate by path), create, mkdir, mknod, symlink, link, readlink,
 * unlink, rmdir and rename.
 *
 * Metadata (chmod, chown, utimens, xattrs), create, mkdir, symlink,
 * unlink, rmdir and rename are each one commit.  Paths are resolved inside
 * the write transaction that uses them: paths change only in write
 * transactions, so they are stable there.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "loop.h"
#include "refs.h"
#include "pathmap.h"
#include "snaps.h"
#include "store.h"
#include "yaml_check.h"

/* ---- setattr ----------------------------------------------------------- */

/* The attributes set_meta() changes. */
#define META_ATTRS                                                             \
	(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |          \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | \
	 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)

/*
 * What the kernel checks of a setattr when it checks permissions (perm.c):
 * only the owner changes the mode, gives times or gives the file to one
 * of its groups; setting both times to now (touch) takes owning it or
 * write, any other change of times owning it.  A mode that only clears
 * set-id bits and comes with a truncate or chown is the kernel's own
 * (setid.c), allowed to whoever may make that change.
 */
static int meta_perm(fuse_req_t req, const struct node *n,
                     const struct stat *attr, int to_set)
{
	const int both_now = FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
	const bool touch = (to_set & both_now) == both_now;
	const bool times =
	        to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | both_now);
	const uint32_t setid = S_ISUID | S_ISGID;
	const uint32_t want = (uint32_t)attr->st_mode & 07777;
	const bool kills = (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_UID |
	                              FUSE_SET_ATTR_GID)) &&
	                   ((want ^ n->mode) & 07777 & ~setid) == 0 &&
	                   (want & setid & ~n->mode) == 0;
	const uid_t uid = fuse_req_ctx(req)->uid;

	if (!perm_checked(req) || uid == 0)
		return 0;
	if (((to_set & FUSE_SET_ATTR_MODE) && !kills) || (times && !touch))
		if (perm_owner(req, n) != 0)
			return -EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) && (uint32_t)attr->st_gid != n->gid &&
	    !caller_in_group(req, (uint32_t)attr->st_gid))
		return -EPERM;
	if (touch && perm_owner(req, n) != 0)
		return perm_may(req, n, W_OK);
	return 0;
}

/*
 * Mode, owner and times of a setattr by the caller of req into node n
 * (to_set: which), or -EPERM.  A change of owner clears set-id bits
 * (setid.c), and so does a SETATTR with nothing to set (to_set 0): that
 * is how chown(f, -1, -1) arrives, since the kernel sends a ctime only
 * with writeback caching.  Both change the ctime, as on ext4.
 */
static int apply_meta(fuse_req_t req, struct node *n, const struct stat *attr,
                      int to_set, int64_t now)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const int owner = FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID;
	uint32_t kill = 0;
	int rc;

	if (to_set & owner) {
		/* Only to the caller's own ids, unless root. */
		if (ctx->uid != 0 && (((to_set & FUSE_SET_ATTR_UID) &&
		                       attr->st_uid != ctx->uid) ||
		                      n->uid != ctx->uid))
			return -EPERM;
	}
	rc = meta_perm(req, n, attr, to_set);
	if (rc != 0)
		return rc;
	if ((to_set & owner) || to_set == 0)
		kill = setid_kill_chown(req, n);
	/* clearing them changes the mode: refused, as a chmod would be, to
	 * anyone but the owner (chown(f, -1, -1) by another user) */
	if (kill != 0 && ctx->uid != 0 && n->uid != ctx->uid)
		return -EPERM;
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = (uint32_t)attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = (uint32_t)attr->st_gid;
	n->mode &= ~kill;
	/* a chmod by someone outside the file's group cannot set S_ISGID */
	if ((to_set & FUSE_SET_ATTR_MODE) && (n->mode & S_ISGID) &&
	    perm_checked(req) && ctx->uid != 0 && !caller_in_group(req, n->gid))
		n->mode &= ~(uint32_t)S_ISGID;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->atime = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = node_time_of(attr->st_atim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->mtime = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = node_time_of(attr->st_mtim);
	n->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? node_time_of(attr->st_ctim)
	                                          : now;
	return 0;
}

/*
 * Truncate by path (no handle), with the mode, owner and times that came
 * with it: one commit, which also clears the set-id bits an unprivileged
 * caller's truncate clears (setid.c).  *out: the node committed.
 */
static int truncate_path(struct fs *fs, fuse_req_t req, struct fs_inode *in,
                         fuse_ino_t ino, const struct stat *attr, int to_set,
                         struct node *out)
{
	char msg[YC_MSG_MAX];
	struct fs_inode *preserved = NULL;
	size_t size = (size_t)attr->st_size;
	int64_t now = clock_real_ns();
	char *path = NULL;
	struct wbuf b;
	struct stx s;
	struct node n;
	uint32_t kill;
	kv_val old;
	int rc;

	wbuf_init(&b);
	rc = wtx_begin(fs, &s);
	if (rc != 0)
		return rc;
	if (in) {
		itab_lock();
		if (in->cache.cached > 0) {
			itab_unlock();
			stx_abort(&s);
			return move_from_readers(fs, in);
		}
		/* no cached open until this truncate is settled */
		itab_hold_drop_locked(in);
		in->cache.committing++;
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
	rc = perm_may(req, &n, W_OK);
	if (rc != 0)
		goto fail_node;
	kill = setid_kill_write(req, &n);
	rc = store_content_get(&s, path, n.mode, &old);
	if (rc == 0 && (old.len > QUICK_SAVE_MAX || size > QUICK_SAVE_MAX))
		loop_may_wait(); /* copied, validated, kept for readers */
	if (rc == 0)
		rc = wbuf_set(&b, old.data, old.len);
	if (rc == 0)
		rc = wbuf_resize(&b, size);
	if (rc != 0)
		goto fail_node;
	rc = validate(fs, path, n.mode, b.data, b.len, msg, sizeof(msg));
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
	n.mtime = n.ctime = now;
	/* SIZE too: a mode clearing set-id bits is then the kernel's */
	if (rc == 0 && (to_set & META_ATTRS))
		rc = apply_meta(req, &n, attr,
		                (to_set & META_ATTRS) | FUSE_SET_ATTR_SIZE,
		                now);
	n.mode &= ~kill;
	if (rc == 0)
		rc = store_node_put(&s, path, &n);
	if (rc != 0)
		goto fail_node;
	wbuf_release(&b);
	rc = commit_close(fs, &s, false);
	preserve_end(preserved, rc);
	if (rc == 0)
		content_changed(in);
	preserve_done(in);
	free(path);
	if (rc == 0)
		*out = n;
	else
		node_release(&n);
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

/* Mode, owner and times (or chown(f, -1, -1): to_set 0): one metadata
 * commit.  *out: the node committed. */
static int set_meta(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                    const struct stat *attr, int to_set, struct node *out)
{
	char *path = NULL;
	struct stx s;
	int rc;

	rc = wtx_begin(fs, &s);
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
	rc = apply_meta(req, out, attr, to_set, clock_real_ns());
	if (rc == 0)
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

/*
 * Handles still writing in: an explicit mtime stays when they commit, and
 * after a change of mode or owner the set-id bits their writes clear are
 * worked out again at the next one (the bits may be new, or the caller
 * no longer in the file's group).
 */
static void note_handles(struct fs_inode *in, int to_set, int64_t mtime)
{
	const bool times =
	        to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
	const bool perms = to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
	                             FUSE_SET_ATTR_GID);

	if (in == NULL || (!times && !perms))
		return;
	itab_lock();
	for (struct fs_handle *h = in->handles; h; h = h->next) {
		if (!h->writable)
			continue;
		if (times) {
			h->mtime_set = true;
			h->mtime = mtime;
		}
		if (perms) {
			atomic_store(&h->kill, 0u);
			atomic_store(&h->kill_known, false);
		}
	}
	itab_unlock();
}

/* Truncate through a writing handle: the new size is pending in its
 * buffer, committed with it. */
static int truncate_handle(struct fs *fs, fuse_req_t req, struct fs_handle *h,
                           off_t size)
{
	int rc;

	loop_lock(&h->lock);
	if ((uint64_t)size > QUICK_SAVE_MAX)
		loop_may_wait(); /* a large buffer loaded or cleared */
	rc = size == 0 ? 0 : handle_load(fs, h);
	if (rc == 0 && size == 0)
		h->loaded = true;
	if (rc == 0)
		rc = wbuf_resize(&h->buf, (size_t)size);
	if (rc == 0) {
		h->pending = h->written = true;
		h->trunc_only = false;
		h->mtime_set = false;
		h->append_only = false;
		handle_note_writer(fs, req, h);
	}
	atomic_store(&h->closed, H_AT_WORK);
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/*
 * ftruncate of a file removed or renamed over since its open: it succeeds,
 * as on ext4, where the inode lives on unlinked.  It changes the handle's
 * content, which no commit keeps (handle_commit finds no path), and the
 * times the inode shows; its writer sees the new size.  Other changes of a
 * detached inode come without the open file (fchmod, futimens), like those
 * of a path the kernel has not looked up again since its file went, and
 * fail with ENOENT: where it was a path, the change belongs to the file
 * there now.
 */
static int setattr_detached(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                            const struct stat *attr, int to_set,
                            struct fuse_file_info *fi, struct stat *st)
{
	int64_t now = clock_real_ns();
	struct fs_handle *h;
	struct fs_inode *in;
	struct node n;
	int rc = frozen_attrs(ino, st);

	if (rc != 0 || fi == NULL || !(to_set & FUSE_SET_ATTR_SIZE))
		return -ENOENT;
	node_of_stat(st, &n);
	/* for a folder fi is a dir_handle */
	h = S_ISREG(n.mode) ? handle_of(fi) : NULL;
	if (h == NULL || !h->writable || attr->st_size < 0)
		return -EINVAL;
	if ((uint64_t)attr->st_size > FS_SIDE_MAX)
		return -EFBIG;
	rc = truncate_handle(fs, req, h, attr->st_size);
	if (rc != 0)
		return rc;
	n.mtime = n.ctime = now;
	if (to_set & META_ATTRS) {
		rc = apply_meta(req, &n, attr, to_set, now);
		if (rc != 0)
			return rc;
	}
	in = h->inode; /* alive while h is open */
	itab_lock();
	/* the size shown to others stays their version's */
	n.size = (uint64_t)in->cache.frozen_st.st_size;
	fill_stat(in->cache.frozen_st.st_ino, &n, &in->cache.frozen_st);
	in->cache.frozen_st.st_nlink = 0;
	itab_unlock();
	return detached_attrs(req, ino, st);
}

static int do_setattr(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                      struct stat *attr, int to_set, struct fuse_file_info *fi,
                      struct stat *st)
{
	/* nothing to set is chown(f, -1, -1): see apply_meta() */
	bool meta = (to_set & META_ATTRS) != 0 || to_set == 0;
	bool have = false;
	struct fs_handle *h = NULL;
	struct fs_inode *in;
	char *path = NULL;
	uint32_t type = 0;
	struct node n;
	int rc;

	rc = itab_path(ino, &path, &type);
	if (rc == -ENOENT)
		return setattr_detached(fs, req, ino, attr, to_set, fi, st);
	if (rc != 0)
		return rc;
	rc = snap_check_write(path);
	if (rc != 0) {
		free(path);
		return rc;
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
			rc = truncate_handle(fs, req, h, attr->st_size);
		} else {
			rc = truncate_path(fs, req, in, ino, attr, to_set, &n);
			have = rc == 0;
			meta = false;
		}
		if (rc != 0)
			goto out;
	}
	if (meta) {
		rc = set_meta(fs, req, ino, attr, to_set, &n);
		have = rc == 0;
		if (rc != 0)
			goto out;
	}
	if (have) {
		note_handles(in, to_set, n.mtime);
		if (S_ISDIR(n.mode) && perm_checked(req) &&
		    (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		               FUSE_SET_ATTR_GID)))
			notify_below(ino);
	} else {
		rc = read_node(fs, path, &n);
		if (rc != 0)
			goto out;
	}
	if (S_ISREG(n.mode))
		pending_attrs(req, ino, &n);
	fill_stat(itab_st_ino(ino), &n, st);
	node_release(&n);
out:
	free(path);
	return rc;
}

/*
 * On the request loop's reading thread (loop.c: kind_of), like a removal:
 * a handle's lock taken, the engine's lock, readers moved off the inode
 * and large content hand over first.
 */
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                struct fuse_file_info *fi)
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
int make_entry(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
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
		fs_log(LOG_INFO,
		       "/%s: only workflows, agents and prompts may "
		       "exist at the top level",
		       path);
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
	rc = perm_entry_change(req, &s, path, NULL);
	if (rc != 0)
		goto fail;
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

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	int rc = make_entry(fs_of(req), req, parent, name,
	                    S_IFDIR | (mode & 07777), NULL, &e);

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

/* Only regular files: the store holds no devices, fifos or sockets. */
static int do_mknod(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
                    const char *name, mode_t mode, struct fuse_entry_param *e)
{
	if (!S_ISREG(mode))
		return -EPERM;
	return make_entry(fs, req, parent, name, S_IFREG | (mode & 07777), NULL,
	                  e);
}

void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
              dev_t rdev)
{
	struct fuse_entry_param e;
	int rc;

	(void)rdev;
	rc = do_mknod(fs_of(req), req, parent, name, mode, &e);
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
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

void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
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

void fs_readlink(fuse_req_t req, fuse_ino_t ino)
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

static int remove_once(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
                       const char *name, bool dir, bool no_versions, char *path)
{
	struct fs_inode *preserved = NULL;
	struct stx s;
	struct node n;
	int rc;

	rc = begin_at(fs, parent, name, &s, path);
	if (rc != 0)
		return rc;
	s.no_versions = no_versions;
	if (in_snapshots(path)) {
		stx_abort(&s);
		loop_may_wait(); /* a snapshot's commit */
		return snap_remove(fs, path, dir);
	}
	if (pm_depth(path) < 2) {
		rc = -EPERM;
		goto fail;
	}
	rc = store_node_get(&s, path, &n);
	if (rc != 0)
		goto fail;
	rc = perm_entry_change(req, &s, path, &n);
	node_release(&n);
	if (rc != 0)
		goto fail;
	if (dir && !S_ISDIR(n.mode))
		rc = -ENOTDIR;
	else if (!dir && S_ISDIR(n.mode))
		rc = -EISDIR;
	else if (dir)
		rc = store_has_children(&s, path) > 0 ? -ENOTEMPTY : 0;
	if (rc != 0)
		goto fail;
	if (!dir) {
		if (n.size > QUICK_SAVE_MAX)
			loop_may_wait(); /* copied for its readers and history */
		preserved = preserve_path(&s, path, true);
	}
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

/*
 * Remove one entry.  Deleting is how a full disk is given room back, so
 * it must work there: a record's deletion keeps its last content as a
 * version (history.h), which takes space; when that commit fails with
 * ENOSPC, the record is deleted without keeping that last content (its
 * older versions stay), and the log says so.
 */
static int do_remove(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
                     const char *name, bool dir)
{
	char path[SV_PATH_MAX + 1];
	int rc = remove_once(fs, req, parent, name, dir, false, path);

	if (rc == -ENOSPC && !dir) {
		rc = remove_once(fs, req, parent, name, dir, true, path);
		if (rc == 0)
			fs_log(LOG_WARNING,
			       "/%s: deleted on a full disk without keeping "
			       "its last content in .history",
			       path);
	}
	return rc;
}

/*
 * Removals run on the request loop's reading thread (loop.c: kind_of):
 * they hand over before whatever may wait (the tree lock held by a rename
 * or another removal, the engine's lock, a snapshot, large content).
 */
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	loop_lock(&tree_lock);
	rc = do_remove(fs_of(req), req, parent, name, false);
	pthread_mutex_unlock(&tree_lock);
	reply_err(req, rc);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	loop_lock(&tree_lock);
	rc = do_remove(fs_of(req), req, parent, name, true);
	pthread_mutex_unlock(&tree_lock);
	reply_err(req, rc);
}

/* ---- rename ------------------------------------------------------------- */

/*
 * A regular file arriving at a record name must be a valid record.  This
 * is where the editors' and rsync's save-by-rename is refused.
 */
static int check_arrival(struct fs *fs, const char *to, const struct subtree *t,
                         struct ref_set *rs)
{
	const struct subtree_entry *e = &t->e[0];
	char msg[YC_MSG_MAX];
	int rc;

	if (!is_record(to, e->node.mode))
		return 0;
	if (rs != NULL)
		ref_set_release(rs);
	rc = validate_refs(fs, to, e->node.mode, e->data, e->len, msg,
	                   sizeof(msg), rs);
	if (rc == -EINVAL || rc == -EFBIG)
		reject(to, "rename", msg);
	return rc;
}

static bool same_content(const struct subtree *a, const void *data, size_t len)
{
	return a->n == 1 && a->e[0].len == len &&
	       (len == 0 || memcmp(a->e[0].data, data, len) == 0);
}

static int rename_paths(fuse_ino_t parent, const char *name,
                        fuse_ino_t newparent, const char *newname, char *from,
                        char *to)
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

		loop_lock(&h->lock);
		if (!h->released && h->pending)
			(void)handle_commit(fs, h, false, "rename");
		if (!h->released)
			handle_show(h);
		pthread_mutex_unlock(&h->lock);
		handle_put(h);
	}
}

/* RENAME_EXCHANGE: both entries change (their ctime is now). */
static int do_exchange(struct fs *fs, struct stx *s, const char *from,
                       const char *to, int64_t now)
{
	struct subtree a = { 0 }, b = { 0 };
	int rc = store_subtree_load(s, from, &a);

	if (rc == 0)
		rc = store_subtree_load(s, to, &b);
	if (rc == 0) {
		a.e[0].node.ctime = now;
		b.e[0].node.ctime = now;
	}
	if (rc == 0)
		rc = check_arrival(fs, to, &a, NULL);
	if (rc == 0)
		rc = check_arrival(fs, from, &b, NULL);
	if (rc == 0)
		rc = store_subtree_exchange(s, from, to, &a, &b);
	subtree_release(&a);
	subtree_release(&b);
	return rc;
}

/* Plain rename (replace or RENAME_NOREPLACE); the entry moved changes
 * (its ctime is now).  *replaced: the target existed and its inode must
 * be detached. */
static int do_move(struct fs *fs, struct stx *s, const char *from,
                   const char *to, unsigned flags, int64_t now, bool *replaced,
                   bool *clear_err, struct fs_inode **preserved)
{
	struct subtree t = { 0 };
	struct ref_set rs;
	struct node src, dst;
	kv_val dv = { "", 0 };
	bool dst_exists, changed = true;
	int rc;

	rc = store_node_get(s, from, &src);
	if (rc != 0)
		return rc;
	node_release(&src);
	if (S_ISDIR(src.mode))
		loop_may_wait(); /* its whole subtree moves */
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
	ref_set_init(&rs, NULL, 0);
	rc = store_subtree_load(s, from, &t);
	if (rc == 0) {
		t.e[0].node.ctime = now;
		if (t.e[0].len > QUICK_SAVE_MAX)
			loop_may_wait(); /* its validation takes a while */
		rc = check_arrival(fs, to, &t, &rs);
	}
	if (rc == 0 && dst_exists) {
		if (S_ISREG(dst.mode) &&
		    store_content_get(s, to, dst.mode, &dv) == 0)
			changed = !same_content(&t, dv.data, dv.len);
		if (dv.len > QUICK_SAVE_MAX)
			loop_may_wait(); /* copied for its readers */
		*preserved = preserve_path(s, to, true);
	}
	if (rc == 0) {
		s->refs_new = &rs; /* the arrival's, from its validation */
		rc = store_subtree_move(s, from, to, &t,
		                        dst_exists ? dst.mode : 0);
		s->refs_new = NULL;
	}
	*replaced = dst_exists;
	*clear_err = changed && is_record(to, src.mode);
	subtree_release(&t);
	ref_set_release(&rs);
	return rc;
}

/*
 * What a rename needs when the daemon checks permissions (perm.c): to
 * change both folders' entries, and to write a folder that it moves to
 * another folder (its ".." changes), both ways for an exchange.
 */
static int rename_perm(fuse_req_t req, struct stx *s, const char *from,
                       const char *to, bool exchange)
{
	size_t fl = pm_parent_len(from);
	bool elsewhere = fl != pm_parent_len(to) || memcmp(from, to, fl) != 0;
	struct node src, dst;
	bool have_dst;
	int rc;

	/* root passes all of it: read nothing (saves rename every time) */
	if (!perm_checked(req) || fuse_req_ctx(req)->uid == 0)
		return 0;
	rc = store_node_get(s, from, &src);
	if (rc != 0)
		return rc;
	rc = store_node_get(s, to, &dst);
	have_dst = rc == 0;
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0)
		rc = perm_entry_change(req, s, from, &src);
	if (rc == 0)
		rc = perm_entry_change(req, s, to, have_dst ? &dst : NULL);
	if (rc == 0 && elsewhere && S_ISDIR(src.mode))
		rc = perm_may(req, &src, W_OK);
	if (rc == 0 && elsewhere && exchange && have_dst && S_ISDIR(dst.mode))
		rc = perm_may(req, &dst, W_OK);
	node_release(&src);
	if (have_dst)
		node_release(&dst);
	return rc;
}

static int do_rename(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
                     const char *name, fuse_ino_t newparent,
                     const char *newname, unsigned flags)
{
	char from[SV_PATH_MAX + 1], to[SV_PATH_MAX + 1];
	bool replaced = false, clear_err = false;
	struct fs_inode *preserved = NULL;
	uint64_t gone = 0;
	struct stx s;
	int64_t now;
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	rc = rename_paths(parent, name, newparent, newname, from, to);
	if (rc == 0 && (in_snapshots(from) || in_snapshots(to))) {
		loop_may_wait(); /* a snapshot's commit */
		return snap_rename(fs, from, to, flags);
	}
	if (flags & RENAME_EXCHANGE)
		loop_may_wait(); /* two subtrees move */
	if (rc == 0) {
		commit_open_writes(fs, from);
		if (flags & RENAME_EXCHANGE)
			commit_open_writes(fs, to);
	}
	rc = wtx_begin(fs, &s);
	if (rc != 0)
		return rc;
	rc = rename_paths(parent, name, newparent, newname, from, to);
	if (rc != 0 || strcmp(from, to) == 0) {
		stx_abort(&s);
		return rc;
	}
	now = clock_real_ns();
	rc = rename_perm(req, &s, from, to, flags & RENAME_EXCHANGE);
	if (rc == 0 && (flags & RENAME_EXCHANGE))
		rc = do_exchange(fs, &s, from, to, now);
	else if (rc == 0)
		rc = do_move(fs, &s, from, to, flags, now, &replaced,
		             &clear_err, &preserved);
	if (rc == 0)
		rc = store_touch_parents(&s, from, to, now);
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
		gone = old ? old->ino : 0;
	}
	itab_unlock();
	atomic_fetch_add(&path_seq, 1);
	preserve_done(preserved);
	/* after the unlock and the commit's end (cache_invalidate()) */
	if (gone)
		(void)cache_invalidate(gone);
	if (clear_err)
		errtab_clear(to);
	fs_log(LOG_DEBUG, "rename /%s -> /%s", from, to);
	return 0;
}

/*
 * A rename runs on the request loop's reading thread, as the last step of
 * a save (loop.c: kind_of): it hands over before whatever may wait (the
 * tree lock held by a removal or another rename, a handle's lock, the
 * engine's, a folder's subtree, large content, a snapshot).
 */
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
               fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	int rc;

	loop_lock(&tree_lock);
	rc = do_rename(fs_of(req), req, parent, name, newparent, newname,
	               flags);
	pthread_mutex_unlock(&tree_lock);
	reply_err(req, rc);
}
