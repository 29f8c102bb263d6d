/*
 * handle: open files.  Every open gets a struct fs_handle (daemon.h),
 * linked to its inode until release and freed when its last reference
 * goes (a rename borrows the handles of the file it moves to commit their
 * pending writes).  A handle reads its version from the store while that
 * is current, and from a content copy once a commit replaced or removed
 * it (cache.c: preserve_readers): the copies are here too.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "store.h"

/* ---- content copies -------------------------------------------------- */

struct content_copy *copy_new(const void *data, size_t len)
{
	struct content_copy *cc = malloc(sizeof(*cc) + (len ? len : 1));

	if (cc == NULL)
		return NULL;
	atomic_init(&cc->ref, 1);
	cc->len = len;
	if (len)
		memcpy(cc->data, data, len);
	return cc;
}

/* *cc with a reference taken for the caller, made first if NULL (and
 * NULL again on ENOMEM): one copy for every holder. */
struct content_copy *copy_share(struct content_copy **cc, const void *data,
                                size_t len)
{
	if (*cc)
		atomic_fetch_add(&(*cc)->ref, 1);
	else
		*cc = copy_new(data, len);
	return *cc;
}

void copy_put(struct content_copy *cc)
{
	if (cc && atomic_fetch_sub(&cc->ref, 1) == 1)
		free(cc);
}

struct content_copy *copy_get(struct fs_handle *h)
{
	struct content_copy *cc;

	itab_lock();
	cc = h->copy;
	if (cc)
		atomic_fetch_add(&cc->ref, 1);
	itab_unlock();
	return cc;
}

/* ---- handles --------------------------------------------------------- */

#define VERSION_UNKNOWN UINT64_MAX

static void handle_free(struct fs_handle *h)
{
	wbuf_release(&h->buf);
	copy_put(h->copy);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void handle_put(struct fs_handle *h)
{
	if (atomic_fetch_sub(&h->refs, 1) == 1)
		handle_free(h);
}

/* Keep shown_size in step with the handle state (h->lock held). */
void handle_show(struct fs_handle *h)
{
	atomic_store(&h->shown_size, h->pending ? (long long)h->buf.len : -1LL);
}

/* Create a handle for ino and link it to the inode; its version is picked
 * by handle_pick_version(). */
int handle_new(fuse_req_t req, fuse_ino_t ino, int flags,
               struct fuse_file_info *fi, struct fs_handle **out)
{
	return handle_new_at(req, ino, flags, fi, false, out);
}

/* With gone, only a detached inode with a copy of its content: the
 * handle reads that copy. */
int handle_new_at(fuse_req_t req, fuse_ino_t ino, int flags,
                  struct fuse_file_info *fi, bool gone, struct fs_handle **out)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	struct fs_inode *in;

	if (h == NULL)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	atomic_init(&h->refs, 1);
	wbuf_init(&h->buf);
	h->flags = flags;
	h->pid = fuse_req_ctx(req)->pid;
	h->writable = (flags & O_ACCMODE) != O_RDONLY;
	h->version = VERSION_UNKNOWN;
	if (h->writable && (flags & O_TRUNC)) {
		/* The truncation is pending like any write: it commits at
		 * release (or with the writes that follow), never alone at a
		 * flush. */
		h->loaded = true;
		h->pending = true;
		h->trunc_only = true;
	}
	handle_show(h);
	itab_lock();
	in = itab_get(ino);
	if (in == NULL || (in->path == NULL) != gone ||
	    (gone && in->cache.gone == NULL)) {
		/* detached: the kernel looks the path up again */
		itab_unlock();
		handle_free(h);
		return -ESTALE;
	}
	if (gone) {
		atomic_fetch_add(&in->cache.gone->ref, 1);
		h->copy = in->cache.gone;
	}
	h->inode = in;
	h->next = in->handles;
	in->handles = h;
	itab_open(in);
	if (h->writable) {
		in->cache.writers++;
		itab_kdirty_locked(in);
	}
	itab_unlock();
	fi->fh = (uint64_t)(uintptr_t)h;
	*out = h;
	return 0;
}

uint64_t handle_release(struct fs_handle *h, bool *stale)
{
	struct fs_inode *in = h->inode;
	uint64_t last = 0;

	*stale = false;
	itab_lock();
	for (struct fs_handle **pp = &in->handles; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	if (h->writable && in->cache.writers > 0 && --in->cache.writers == 0) {
		/* the page cache may serve it again: at once if the kernel's
		 * view was invalidated after the last change, else once it
		 * is; and the kernel gets the pages of what was saved */
		*stale = in->cache.kclean_seq != in->cache.kseq;
		if (!*stale)
			in->cache.kstale = false;
		last = in->ino;
	}
	if (h->cached && in->cache.cached > 0)
		in->cache.cached--;
	if (h->direct && in->cache.direct > 0)
		in->cache.direct--;
	if (h->cached || h->direct)
		in->cache.kuses++;
	itab_close(in);
	itab_unlock();
	handle_put(h);
	return last;
}

void handle_unlink(struct fs_handle *h)
{
	bool stale;
	uint64_t ino = handle_release(h, &stale);

	if (stale)
		notify_inode(ino);
}

/* In read transaction s: the content of h's file, if it is still the
 * version h opened (any_version: whatever is there now); -EAGAIN if a
 * newer one replaced it. */
int handle_content(struct stx *s, struct fs_handle *h, bool any_version,
                   kv_val *v)
{
	char *path = NULL;
	struct node n;
	int rc = itab_path(h->inode->ino, &path, NULL);

	if (rc == 0)
		rc = store_node_get(s, path, &n);
	if (rc == 0) {
		if (any_version || n.txnid == h->version)
			rc = store_content_get(s, path, n.mode, v);
		else
			rc = -EAGAIN;
		node_release(&n);
	}
	free(path);
	return rc;
}
