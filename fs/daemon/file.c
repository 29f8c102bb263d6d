/*
 * file: file I/O.  open, create, read, write, flush, fsync and release,
 * and the commit of a writing handle's content.
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
 *   open:    a flush that found only an O_TRUNC pending (`: > T`) leaves
 *            its commit to the release, after close() returned: an open
 *            of the file waits for that (settling() in cache.c)
 *   rename:  a file renamed while it has pending writes commits them
 *            first, so they move with it (commit_open_writes)
 *   a rejected commit (invalid YAML, too big) drops pending and written,
 *   so the same content is not rejected and logged twice; so does one of
 *   an O_TRUNC alone pending when another handle saved the file since
 *   the open (trunc_superseded: on ext4 the truncation came first).
 *
 * A handle opened with O_APPEND and changed by appends alone remembers the
 * version it loaded (append_only, base_txnid): when another commit came in
 * between, its commit puts its appends after that commit's content
 * (rebase_appends), so concurrent `>>` from several processes all land.
 *
 * Only the process that opened a handle with pending writes sees their
 * size in stat (pending_attrs); everyone else sees the committed version.
 *
 * A write, truncate or O_TRUNC open by an unprivileged caller clears the
 * file's set-user-ID and set-group-ID bits (setid.c): the handle keeps the
 * bits to clear (kill) and its commit clears them in the same transaction
 * as the content, so no version of the file has the new content and the
 * old bits.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "loop.h"
#include "refs.h"
#include "store.h"
#include "yaml_check.h"

/* ---- commits of file content ------------------------------------------ */

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

/* A write refused as too large refuses the whole save, so that the
 * O_TRUNC before it does not commit an empty file over the old one. */
static int save_too_big(struct fs *fs, struct fs_handle *h, const char *why)
{
	char msg[YC_MSG_MAX];
	char *path = NULL;
	uint32_t type = 0;

	if (itab_path(h->inode->ino, &path, &type) == 0) {
		snprintf(msg, sizeof(msg),
		         "a write went past the "
		         "limit of %lu bytes%s",
		         size_limit(fs, path, type),
		         is_record(path, type) ? " (-o max_record)" : "");
		reject(path, why, msg);
		free(path);
	}
	h->pending = h->written = h->too_big = false;
	content_changed(h->inode);
	return -EFBIG;
}

/*
 * Validate before taking the write lock (parsing 16 MiB takes a while):
 * *pre is the path validated (malloc'd; stays NULL if the file has none),
 * *type its type and *prerc the result, which handle_commit() takes over
 * unless a rename moved the file meanwhile, with the references the same
 * parse found (*rs, for the store's index).  Returns an error other than
 * a refusal, which ends the commit.
 */
static int save_precheck(struct fs *fs, struct fs_handle *h, char **pre,
                         uint32_t *type, int *prerc, char *msg, size_t msglen,
                         struct ref_set *rs)
{
	if (itab_path(h->inode->ino, pre, type) != 0)
		return 0;
	*prerc = validate_refs(fs, *pre, *type, h->buf.data, h->buf.len, msg,
	                       msglen, rs);
	if (*prerc != 0 && *prerc != -EINVAL && *prerc != -EFBIG) {
		free(*pre);
		*pre = NULL;
		return *prerc;
	}
	return 0;
}

/*
 * Begin the write transaction and find the file in it: paths change only
 * inside write transactions, so its path is stable from here.  Returns 0
 * with s open, *path (malloc'd) and *n; 1 if the file was removed while
 * open (its content goes with it: nothing is pending any more); or an
 * error, with no transaction open.
 */
static int save_begin(struct fs *fs, struct fs_handle *h, struct stx *s,
                      char **path, struct node *n)
{
	int rc = wtx_begin(fs, s);

	if (rc != 0)
		return rc;
	if (itab_path(h->inode->ino, path, NULL) != 0)
		rc = -ENOENT;
	else
		rc = store_node_get(s, *path, n);
	if (rc == 0)
		return 0;
	stx_abort(s);
	free(*path);
	*path = NULL;
	if (rc != -ENOENT)
		return rc;
	h->pending = h->written = false;
	return 1;
}

/* An O_APPEND handle changed by appends alone: if another commit came
 * since it loaded, its appends go after that one's content, as O_APPEND
 * writes would (*rebased). */
static int save_rebase(struct fs_handle *h, struct stx *s, const char *path,
                       const struct node *n, bool *rebased)
{
	kv_val cur;
	int rc;

	if (!h->append_only || n->txnid == h->base_txnid)
		return 0;
	rc = store_content_get(s, path, n->mode, &cur);
	if (rc == 0)
		rc = rebase_appends(h, cur);
	if (rc == 0)
		*rebased = true;
	return rc;
}

/*
 * A handle with nothing but its O_TRUNC pending, whose file was saved
 * since its open (a new version, or the same content saved again through
 * another handle): on a local file system the truncation came at the open
 * and that save after it, which stays.  So it commits nothing.
 */
static bool trunc_superseded(struct fs_handle *h, const struct node *n)
{
	bool saved;

	if (!h->trunc_only)
		return false;
	itab_lock();
	saved = h->inode->cache.saves != h->saves_seen;
	itab_unlock();
	return saved || n->txnid != h->version;
}

/* The content was refused (msg): log it and drop what was pending, so the
 * same content is not refused and logged twice.  An O_APPEND handle drops
 * the refused appends; later ones go on from the content there is (that
 * of txnid, which it was rebased on, if it was). */
static void save_refused(struct fs_handle *h, const char *path, const char *why,
                         const char *msg, uint64_t txnid)
{
	reject(path, why, msg);
	h->pending = h->written = false;
	if (h->append_only) {
		h->buf.len = h->base_len;
		h->base_txnid = txnid;
		handle_show(h);
	}
	content_changed(h->inode);
}

/*
 * In write transaction s: the buffer as the content at path if it differs
 * (*same false: the readers of the old content were given a copy, to end
 * with preserve_end()), and the node's new times.  Releases n, whose
 * txnid and size stay.
 */
static int save_put(struct fs_handle *h, struct stx *s, const char *path,
                    struct node *n, bool *same)
{
	struct fs_inode *in = h->inode;
	kv_val old;
	int rc = store_content_get(s, path, n->mode, &old);

	if (rc != 0) {
		node_release(n);
		return rc;
	}
	if (old.len > QUICK_SAVE_MAX)
		loop_may_wait(); /* copied for readers and history */
	*same = old.len == h->buf.len &&
	        (old.len == 0 || memcmp(old.data, h->buf.data, old.len) == 0);
	if (!*same) {
		preserve_readers(in, n->txnid, old.data, old.len, false, false);
		rc = store_content_put(s, path, n->mode, h->buf.data,
		                       h->buf.len);
		if (rc != 0) {
			preserve_end(in, rc);
			node_release(n);
			return rc;
		}
		n->size = h->buf.len;
		n->txnid = kv_txn_id(s->txn);
	}
	n->mode &= ~atomic_load(&h->kill);
	n->mtime = h->mtime_set ? h->mtime : clock_real_ns();
	n->ctime = clock_real_ns();
	rc = store_node_put(s, path, n);
	node_release(n);
	if (rc != 0 && !*same)
		preserve_end(in, rc);
	return rc;
}

/* Commit s, end what save_put() began, and settle the handle: its buffer
 * is now the content of txnid, and appends go on from there. */
static int save_end(struct fs *fs, struct fs_handle *h, struct stx *s,
                    const char *path, bool durable, bool same, uint64_t txnid,
                    const char *why)
{
	int rc = commit_close(fs, s, durable);

	if (rc == 0) {
		/* before preserve_end(): an open that picks the new version
		 * counts this save among those before it */
		itab_lock();
		h->inode->cache.saves++;
		itab_unlock();
	}
	if (!same)
		preserve_end(h->inode, rc);
	if (rc != 0) {
		fs_log(LOG_ERR, "/%s: commit failed: %s", path, strerror(-rc));
		return rc;
	}
	if (!same)
		errtab_clear(path);
	h->pending = h->written = h->trunc_only = false;
	h->append_only = (h->flags & O_APPEND) != 0;
	h->base_txnid = txnid;
	h->base_len = h->buf.len;
	itab_lock();
	h->saved = true;
	h->saved_gen = h->inode->cache.gen;
	itab_unlock();
	content_changed(h->inode);
	fs_log(LOG_DEBUG, "/%s: committed %zu bytes (%s)", path, h->buf.len,
	       why);
	return 0;
}

/*
 * Commit the handle's buffer as the new content of its file, in one write
 * transaction.  Called with h->lock held.  why names the trigger for the
 * log ("close", "fsync", "release").  The steps: validate before the
 * transaction (save_precheck), find the file in it (save_begin), put
 * appends after a newer commit (save_rebase), validate again only if the
 * file moved or was rebased, put the content and node (save_put), commit
 * (save_end).
 */
int handle_commit(struct fs *fs, struct fs_handle *h, bool durable,
                  const char *why)
{
	char msg[YC_MSG_MAX];
	char *path = NULL, *pre = NULL;
	uint32_t type = 0;
	struct ref_set rs;
	struct stx s;
	struct node n;
	bool same, rebased = false;
	int rc, prerc = 0;

	h->saved = false;
	if (h->too_big)
		return save_too_big(fs, h, why);
	if (h->buf.len > QUICK_SAVE_MAX)
		loop_may_wait(); /* its validation takes a while */
	ref_set_init(&rs, NULL, 0);
	rc = save_precheck(fs, h, &pre, &type, &prerc, msg, sizeof(msg), &rs);
	if (rc == 0)
		rc = save_begin(fs, h, &s, &path, &n);
	if (rc != 0) {
		free(pre);
		ref_set_release(&rs);
		return rc > 0 ? 0 : rc;
	}
	if (trunc_superseded(h, &n)) {
		fs_log(LOG_DEBUG,
		       "/%s: saved since its O_TRUNC open: kept (%s)", path,
		       why);
		h->pending = h->trunc_only = false;
		/* the kernel emptied its view of the file at the open, and
		 * its opener saw the size pending: both must go */
		content_changed(h->inode);
		free(pre);
		goto fail_node; /* rc is 0: nothing to commit */
	}
	rc = save_rebase(h, &s, path, &n, &rebased);
	if (rebased && h->buf.len > QUICK_SAVE_MAX)
		loop_may_wait(); /* validated again below */
	if (rc != 0) {
		free(pre);
		goto fail_node;
	}
	if (pre && strcmp(pre, path) == 0 && (n.mode & S_IFMT) == type &&
	    !rebased) {
		rc = prerc;
	} else {
		ref_set_release(&rs);
		rc = validate_refs(fs, path, n.mode, h->buf.data, h->buf.len,
		                   msg, sizeof(msg), &rs);
	}
	free(pre);
	if (rc == -EINVAL || rc == -EFBIG) {
		save_refused(h, path, why, msg, n.txnid);
		node_release(&n);
		goto fail;
	}
	if (rc != 0)
		goto fail_node;
	s.refs_new = &rs; /* no second parse for the index */
	rc = save_put(h, &s, path, &n, &same);
	s.refs_new = NULL;
	if (rc != 0)
		goto fail;
	rc = save_end(fs, h, &s, path, durable, same, n.txnid, why);
	free(path);
	ref_set_release(&rs);
	return rc;
fail_node:
	node_release(&n);
fail:
	stx_abort(&s);
	free(path);
	ref_set_release(&rs);
	return rc;
}

/* Load the current content into a writing handle's buffer.  h->lock held. */
int handle_load(struct fs *fs, struct fs_handle *h)
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

		while ((seq = atomic_load(&path_seq)) & 1u) {
			loop_may_wait(); /* a rename is committing */
			sched_yield();
		}
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

/*
 * The caller of req changes the content through h: the set-id bits that
 * clears (setid.c) go with h's next commit.  Worked out from the node as
 * it is at the first such change, and again after a chmod or chown
 * (kill_known); a privileged caller clears nothing.
 */
void handle_note_writer(struct fs *fs, fuse_req_t req, struct fs_handle *h)
{
	char *path = NULL;
	struct node n;

	if (fuse_req_ctx(req)->uid == 0 || atomic_load(&h->kill_known))
		return;
	if (itab_path(h->inode->ino, &path, NULL) == 0 &&
	    read_node(fs, path, &n) == 0) {
		atomic_fetch_or(&h->kill, setid_kill_write(req, &n));
		node_release(&n);
	}
	free(path);
	atomic_store(&h->kill_known, true);
}

/* ---- open, read, write, flush, release ---------------------------------- */

/*
 * Open an inode detached since the kernel looked it up: a read-only open
 * reads the content it had, as a file unlinked or renamed over opens on
 * ext4 through a lookup made before.  Anything else is ESTALE: the kernel
 * looks the path up again, once.
 */
static int open_gone(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	int need = perm_open_mask(fi->flags);
	bool snapshot, fill;
	int rc = itab_path(ino, &path, NULL);

	if (rc == -ENOENT) {
		rc = perm_ino(fs, req, ino, need);
		/* -ENOENT: nothing kept to check against; open_gone() says */
		return rc != 0 && rc != -ENOENT ? rc : open_gone(req, ino, fi);
	}
	if (rc != 0)
		return rc;
	snapshot = in_snapshots(path);
	/* a snapshot's write is refused as read-only, whatever its mode */
	rc = perm_path(fs, req, path, snapshot ? need & ~W_OK : need);
	if (rc == 0 && snapshot)
		rc = snap_open(fs, req, ino, path, fi);
	free(path);
	if (rc != 0 || snapshot)
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
		handle_unlink(h);  /* h is gone: open_gone() makes its own */
		if (rc == -ESTALE) /* detached meanwhile */
			rc = open_gone(req, ino, fi);
		return rc;
	}
	if (fill)
		prefill(fs, h);
	if (h->writable && (fi->flags & O_TRUNC))
		handle_note_writer(fs, req, h);
	return 0;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = do_open(fs_of(req), req, ino, fi);

	if (rc != 0)
		reply_err(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		handle_unlink(handle_of(fi)); /* the kernel never got it */
}

static int do_create(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
                     const char *name, mode_t mode, struct fuse_file_info *fi,
                     struct fuse_entry_param *e)
{
	int rc = make_entry(fs, req, parent, name, S_IFREG | (mode & 07777),
	                    NULL, e);
	bool existed = rc == -EEXIST;

	if (existed && !(fi->flags & O_EXCL)) {
		rc = do_lookup(fs, req, parent, name, e);
		if (rc == 0) {
			struct node n;

			node_of_stat(&e->attr, &n);
			rc = perm_may(req, &n, perm_open_mask(fi->flags));
			if (rc != 0)
				itab_forget(e->ino, 1);
		}
	}
	if (rc == 0) {
		struct fs_handle *h;
		uint32_t m;

		rc = handle_new(req, e->ino, fi->flags, fi, &h);
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
			else if (existed && h->writable &&
			         (fi->flags & O_TRUNC))
				handle_note_writer(fs, req, h);
		}
		if (rc != 0)
			itab_forget(e->ino, 1);
	}
	return rc;
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int rc = do_create(fs_of(req), req, parent, name, mode, fi, &e);

	if (rc != 0) {
		reply_err(req, rc);
	} else if (fuse_reply_create(req, &e, fi) != 0) {
		/* The kernel never got the reply (the request was interrupted
		 * or the connection aborted): nothing will release the handle
		 * or forget the lookup it carried. */
		handle_unlink(handle_of(fi));
		itab_forget(e.ino, 1);
	}
}

/* Reply to a read from bytes [data, data+len) of the content. */
static void reply_slice(fuse_req_t req, const char *data, size_t len,
                        size_t size, off_t off)
{
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, data + off,
		               len - (size_t)off < size ? len - (size_t)off
		                                        : size);
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

/* Unlike the other do_<op>s, replies itself when it succeeds: the bytes
 * are valid only inside the read transaction, or while the copy is
 * held.  An error is returned unreplied. */
static int do_read(struct fs *fs, fuse_req_t req, struct fs_handle *h,
                   size_t size, off_t off)
{
	struct content_copy *cc;
	int rc;

	if (h->writable) {
		loop_lock(&h->lock);
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

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
             struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	rc = do_read(fs_of(req), req, handle_of(fi), size, off);
	if (rc != 0)
		reply_err(req, rc);
}

static int do_write(struct fs *fs, fuse_req_t req, struct fs_handle *h,
                    const char *buf, size_t size, off_t off)
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
	loop_lock(&h->lock);
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
		h->trunc_only = false;
		h->mtime_set = false;
		handle_note_writer(fs, req, h);
	}
	atomic_store(&h->closed, H_AT_WORK); /* a dup'ed fd still writes */
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
              off_t off, struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	rc = do_write(fs_of(req), req, handle_of(fi), buf, size, off);
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_write(req, size);
}

/* A close: commit what was written since the last commit. */
static int do_flush(struct fs *fs, struct fs_handle *h)
{
	int rc = 0;

	loop_lock(&h->lock);
	if (h->written)
		rc = handle_commit(fs, h, false, "close");
	atomic_store(&h->closed, h->pending ? H_EMPTIED : H_CLOSED);
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	reply_err(req, do_flush(fs_of(req), handle_of(fi)));
}

/* Commit what is pending, durably; or make earlier commits durable. */
static int do_fsync(struct fs *fs, struct fs_handle *h)
{
	int rc;

	loop_lock(&h->lock);
	if (h->pending) {
		rc = handle_commit(fs, h, true, "fsync");
	} else {
		loop_may_wait(); /* the timer's sync may hold the lock */
		rc = kv_to_errno(kv_env_sync(fs->env));
	}
	handle_show(h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
              struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	reply_err(req, do_fsync(fs_of(req), handle_of(fi)));
}

/* The last close of an open file: commit what is still pending (a
 * failure was logged; nobody is left to hear of it) and drop the handle.
 * Returns the inode whose kernel view is to be settled now, its last
 * writer gone (handle_release), with a reference on h kept for that, and
 * whether h's saved buffer may be handed to the kernel; else 0. */
static uint64_t do_release(struct fs *fs, struct fs_handle *h, bool *stale,
                           bool *saved)
{
	uint64_t ino;

	loop_lock(&h->lock);
	if (h->pending)
		(void)handle_commit(fs, h, false, "release");
	atomic_store(&h->shown_size, -1LL);
	h->released = true;
	*saved = h->saved && !h->pending;
	pthread_mutex_unlock(&h->lock);
	atomic_fetch_add(&h->refs, 1);
	ino = handle_release(h, stale);
	if (ino == 0 || (!*saved && !*stale)) {
		handle_put(h);
		return 0;
	}
	return ino;
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	bool stale, saved;
	uint64_t last = do_release(fs, h, &stale, &saved);

	(void)ino;
	reply_err(req, 0);
	/* after the reply, which the kernel waits for (the caller's close
	 * returned before): the buffer released is the content saved */
	if (last) {
		cache_warm(fs, last, saved ? &h->buf : NULL, h->base_txnid,
		           h->saved_gen, stale);
		handle_put(h);
	}
}
