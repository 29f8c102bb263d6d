/*
 * cache: which version of a file each handle reads, and when the kernel's
 * page cache may serve it.
 *
 * Reads and the page cache.  The kernel's page cache and i_size are
 * shared by every open of an inode, while each of our handles reads its
 * own version; a writer's open(O_TRUNC) and writes move that i_size while
 * its content is still pending, and a reader in the page cache whose read
 * raced with them would be cut at the writer's partial size.  So a
 * read-only handle reads through the page cache (cached mode: a warm
 * `cat` costs one OPEN, no READ) only while the kernel's view of the
 * inode is exactly one committed version, and otherwise uses direct I/O,
 * each read answered by us from the handle's version (handle_pick_version):
 *
 *   - no handle has the inode open for writing, and no change since the
 *     kernel's cache of it was last invalidated (fs_inode.cache.kstale:
 *     set when a writer opens or content is committed, cleared once an
 *     invalidation is done with no writer left: by the last writer's
 *     release itself, or by the notify thread);
 *   - every cached handle open on the inode reads the same version
 *     (fs_inode.cache.kversion), kept without re-reading when it is the last
 *     one cached (FOPEN_KEEP_CACHE).
 *
 * After a save the kernel gets the pages at once: the release of the last
 * writer stores the buffer it saved (cache_warm), so that the next open
 * finds them (kversion) and carries nothing.
 *
 * A writer never shares an inode with cached readers: an open for writing
 * (or a truncate by path) of an inode with cached handles detaches that
 * inode with its readers, who keep a copy of their version and frozen
 * attributes, gives the path a fresh inode, and fails with ESTALE; the
 * kernel answers ESTALE by looking the path up again and retries on the
 * fresh inode (move_from_readers).  Files in snapshots never change and
 * always use the page cache.
 *
 * Readers keep their version.  A read-only handle records the content
 * version (the node's txnid) at open, and reads straight from the map in a
 * short read transaction while that version is still current.  Before a
 * commit replaces or removes content, the writer copies the old bytes into
 * every read handle still on that version (preserve_readers); those
 * handles then read their private copy.  No read transaction is held
 * between requests.  An open picks its version only while no such commit
 * is in flight on the inode (handle_pick_version), so none can miss it.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"
#include "loop.h"
#include "store.h"

/* The content of in changed (or a save was refused): the kernel's cached
 * attributes (size, times) are invalidated.  While a writer has it open,
 * at once and only those: the kernel's pages of it serve no open meanwhile
 * (every open but a cached one drops them, and none is cached while it is
 * stale), and the last writer's release invalidates them (cache_warm),
 * with no thread to wake for every commit. */
void content_changed(struct fs_inode *in)
{
	bool writing;

	if (in == NULL)
		return;
	itab_lock();
	itab_kdirty_locked(in);
	writing = in->cache.writers > 0;
	itab_unlock();
	if (writing)
		notify_attrs_now(in->ino);
	else
		notify_inode(in->ino);
}

/* How long a fresh inode waits for the writer moved to it, keeping
 * cached readers off it (see move_from_readers). */
#define HOLD_NS (30 * 1000000000ll)

/* The largest file whose first cached open stores its pages (prefill). */
#define FILL_MAX (128u * 1024)

/* With the lock held: the attributes a detached inode keeps showing. */
static void freeze(struct fs_inode *in, const struct node *n)
{
	fill_stat(in->st_ino, n, &in->cache.frozen_st);
	in->cache.frozen_st.st_nlink = 0;
	in->cache.frozen = true;
}

/* ---- preserving readers ------------------------------------------------ */

/*
 * Give every handle of inode in that still reads version old_version a
 * copy of the old content (one, shared), before a commit replaces or
 * removes it.  detach: the path goes away, so writing handles get the copy
 * too (they load from it instead of the store).  keep: the inode keeps it
 * as well (fs_inode.cache.gone), for opens of it once it is detached.
 * Marks the inode as committing until preserve_done() (preserve_end()
 * after a commit), which the caller calls after its commit or abort;
 * opens wait for that mark to clear before they pick their version (see
 * handle_pick_version), so no reader can miss its copy.
 */
void preserve_readers(struct fs_inode *in, uint64_t old_version,
                      const void *data, size_t len, bool detach, bool keep)
{
	struct content_copy *cc = NULL;

	if (in == NULL)
		return;
	itab_lock();
	in->cache.committing++;
	itab_kdirty_locked(in);
	for (struct fs_handle *h = in->handles; h; h = h->next) {
		if (h->copy || h->version != old_version)
			continue;
		if (h->writable && !detach)
			continue;
		/* on ENOMEM the reader sees the new version */
		h->copy = copy_share(&cc, data, len);
	}
	if (keep) { /* for opens of the detached inode; NULL: ESTALE */
		copy_put(in->cache.gone);
		in->cache.gone = copy_share(&cc, data, len);
	}
	itab_unlock();
}

void preserve_done(struct fs_inode *in)
{
	if (in == NULL)
		return;
	itab_lock();
	in->cache.committing--;
	in->cache.gen++;
	itab_maybe_free_locked(in);
	itab_unlock();
}

/* After a commit that preserve_readers() prepared: if it failed, the
 * kernel's view must still be settled (it was marked stale). */
void preserve_end(struct fs_inode *in, int rc)
{
	if (in != NULL && rc != 0)
		notify_inode(in->ino);
	preserve_done(in);
}

/* With a write txn open: preserve the readers of whatever is at path.
 * Returns the inode to pass to preserve_end() (or NULL). */
struct fs_inode *preserve_path(struct stx *s, const char *path, bool detach)
{
	struct fs_inode *in;
	struct node n;
	kv_val v = { "", 0 };

	if (store_node_get(s, path, &n) != 0)
		return NULL;
	itab_lock();
	in = itab_find_path(path);
	if (in)
		/* keeps it alive until preserve_readers */
		in->cache.committing++;
	itab_unlock();
	if (in) {
		if (S_ISREG(n.mode) || S_ISLNK(n.mode))
			(void)store_content_get(s, path, n.mode, &v);
		preserve_readers(in, n.txnid, v.data, v.len, detach,
		                 detach && S_ISREG(n.mode));
		itab_lock();
		if (detach)
			freeze(in, &n);
		in->cache.committing--;
		itab_unlock();
	}
	node_release(&n);
	return in;
}

/* ---- versions and the page cache --------------------------------------- */

/*
 * A writer is about to open inode in, which has handles reading through
 * the page cache: give them their version for good (a private copy, and
 * attributes that stay), detach in from its path, and make a fresh inode
 * for the path, held for the writer for HOLD_NS.  Returns -ESTALE, on
 * which the kernel looks the path up again and retries on the fresh inode.
 * Runs in a write transaction, so no commit can come between.
 */
int move_from_readers(struct fs *fs, struct fs_inode *in)
{
	struct fs_inode *moved, *fresh = NULL;
	char *path = NULL;
	struct stx s;
	int rc;

	loop_may_wait(); /* a rename may hold the tree lock across a sync */
	pthread_mutex_lock(&tree_lock);
	rc = wtx_begin(fs, &s);
	if (rc != 0) {
		pthread_mutex_unlock(&tree_lock);
		return rc;
	}
	itab_lock();
	if (in->path && (path = strdup(in->path)) == NULL)
		rc = -ENOMEM;
	itab_unlock();
	/* the same copies and frozen attributes a removal gives */
	moved = rc == 0 && path ? preserve_path(&s, path, true) : NULL;
	if (moved) {
		itab_lock();
		itab_detach_locked(path);
		fresh = itab_ref_path_locked(path, moved->type);
		if (fresh) {
			fresh->cache.hold_until = clock_mono_ns() + HOLD_NS;
			/* to its users, still the file they had open
			 * (vim refuses to write when the number changes) */
			fresh->st_ino = moved->st_ino;
		}
		itab_unlock();
		preserve_done(moved);
		fs_log(LOG_DEBUG,
		       "/%s: writer moved to inode %llu, away from "
		       "cached readers",
		       path, fresh ? (unsigned long long)fresh->ino : 0ull);
	}
	stx_abort(&s);
	pthread_mutex_unlock(&tree_lock);
	free(path);
	return rc == 0 ? -ESTALE : rc;
}

/* With the lock held: may a new read-only handle of version use the page
 * cache? */
static bool may_cache(struct fs_inode *in, uint64_t version)
{
	if (in->cache.writers > 0 || in->cache.kstale || in->path == NULL ||
	    in->cache.filling || in->cache.direct > 0)
		return false;
	if (in->cache.hold_until != 0) {
		if (clock_mono_ns() < in->cache.hold_until)
			return false;
		itab_hold_drop_locked(in); /* the writer never came */
	}
	return in->cache.cached == 0 || in->cache.kversion == version;
}

/*
 * An open that comes just after a writer closed finds the writer's
 * RELEASE not yet here: the kernel sends it after close returns.
 *   - If that close left an O_TRUNC alone pending (`: > f`, H_EMPTIED),
 *     the RELEASE commits the emptied file: every open waits for it, so
 *     that it finds the file as the closer left it, and a write after it
 *     is not overwritten by that commit.  When the close was of a dup
 *     (the shell's `cmd > f`), the wait ends at cmd's first write, or
 *     after KCLEAN_WAIT_NS, and the open gets the last commit.
 *   - A read-only open also waits for the RELEASE of a writer with
 *     nothing pending, and for the kernel's view of the inode to be
 *     invalidated or handed the saved pages (notify.c, cache_warm);
 *     after those it may read through the page cache, where it can be
 *     mapped MAP_SHARED (a direct I/O open cannot: ENODEV), rather than
 *     open on direct I/O.
 * Never for a writer still at work.  With the itab lock held.
 */
#define KCLEAN_WAIT_NS 100000000ll
static bool settling(struct fs_inode *in, const struct fs_handle *self)
{
	bool at_work = false;

	if (in->path == NULL)
		return false;
	for (struct fs_handle *h = in->handles; h; h = h->next) {
		if (h == self || !h->writable)
			continue;
		switch (atomic_load(&h->closed)) {
		case H_EMPTIED:
			return true;
		case H_AT_WORK:
			at_work = true;
			break;
		}
	}
	if (at_work || self->writable)
		return false;
	return in->cache.kstale || in->cache.writers > 0 || in->cache.filling;
}

static void wait_kclean(struct fs_inode *in, const struct fs_handle *self)
{
	int64_t until = clock_mono_ns() + KCLEAN_WAIT_NS;
	struct timespec nap = { 0, 200000 };
	bool wait;

	for (;;) {
		itab_lock();
		wait = settling(in, self);
		itab_unlock();
		if (!wait || clock_mono_ns() > until)
			return;
		loop_may_wait(); /* the RELEASE may be the next request */
		nanosleep(&nap, NULL);
	}
}

/*
 * Settle which content version a new handle reads, and how the kernel
 * may cache it.  The version must be read while no commit replacing this
 * file's content is in flight, and must still be current once the handle
 * can be seen by such commits: then any later commit finds the handle on
 * the old version and gives it a copy (preserve_readers).  Retries when a
 * commit got in between.  Returns 0 or -ENOENT if the file went away.
 */
int handle_pick_version(struct fs *fs, struct fs_handle *h,
                        struct fuse_file_info *fi, uint32_t *mode, bool *fill)
{
	struct fs_inode *in = h->inode;
	char *path = NULL;
	bool detached;
	struct node n;
	uint64_t gen;
	int rc;

	*fill = false;
	wait_kclean(in, h);
	for (;;) {
		itab_lock();
		/* A writer also waits out a store after a save (cache_warm,
		 * filling with no cached handle): its O_TRUNC must empty the
		 * kernel's cache after the store, not before it. */
		while (in->cache.committing ||
		       (h->writable && in->cache.filling &&
		        !in->cache.cached)) {
			itab_unlock();
			loop_may_wait();
			sched_yield();
			itab_lock();
		}
		gen = in->cache.gen;
		detached = in->path == NULL;
		path = detached ? NULL : strdup(in->path);
		itab_unlock();
		if (detached)
			return -ESTALE; /* the kernel looks the path up again */
		if (path == NULL)
			return -ENOMEM;
		rc = read_node(fs, path, &n);
		free(path);
		if (rc != 0)
			return rc;
		node_release(&n);
		*mode = n.mode;
		itab_lock();
		if (in->cache.committing == 0 && in->cache.gen == gen)
			break;
		itab_unlock();
	}
	h->version = n.txnid;
	h->saves_seen = in->cache.saves;
	if (h->writable) {
		itab_hold_drop_locked(in);
		if (in->cache.cached > 0) {
			itab_unlock();
			return -EXDEV; /* the caller moves it: move_from_readers */
		}
	}
	if (!h->writable && S_ISREG(n.mode) && may_cache(in, n.txnid)) {
		/* the first cached open of an inode hands the kernel its
		 * pages with the open (prefill): no READ */
		*fill = in->cache.kversion == 0 && n.size > 0 &&
		        n.size <= FILL_MAX;
		in->cache.filling = *fill;
		fi->keep_cache = in->cache.kversion == n.txnid || *fill;
		in->cache.kversion = n.txnid;
		in->cache.cached++;
		in->cache.kuses++;
		h->cached = true;
	} else {
		fi->direct_io = 1;
		if (!h->writable && S_ISREG(n.mode)) {
			/* its private mappings may fill the page cache */
			in->cache.direct++;
			in->cache.kuses++;
			h->direct = true;
			in->cache.kversion = KVERSION_UNKNOWN;
		}
	}
	/* A read-only handle has nothing to commit at close: no FLUSH
	 * round trip on every close (kernels before 5.17 send it anyway) */
	fi->noflush = !h->writable;
	itab_unlock();
	return 0;
}

/*
 * Store the content of a cached handle's version in the kernel's page
 * cache before the reply to its open: the reads that follow need no READ
 * (and no GETATTR after it: a READ makes the kernel drop its atime).
 * Only for the first cached open of an inode, whose page cache is empty:
 * the stored range ends at the end of the file, so the kernel zeroes the
 * rest of the last page.  A failure only means the reads come as READs.
 * Until it is done no other open reads through the cache (in->cache.filling):
 * the kernel holds a page locked during a READ, and a store waiting on it
 * in every handler thread, or in the one reading requests (loop.c), would
 * leave none to answer the READ.
 */
void fill_done(struct fs_inode *in)
{
	itab_lock();
	in->cache.filling = false;
	itab_unlock();
}

/* Store len bytes of data as the content of ino in the kernel's page
 * cache; when, for the debug log, says on what occasion. */
static int kernel_store(struct fs *fs, uint64_t ino, const void *data,
                        size_t len, const char *when)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	char *path = NULL;
	int rc;

	bv.buf[0].mem = (void *)data;
	bv.buf[0].size = len;
	rc = fuse_lowlevel_notify_store(fs->se, ino, 0, &bv, 0);
	if (rc == 0 && fs_log_debugging() && itab_path(ino, &path, NULL) == 0)
		fs_log(LOG_DEBUG, "/%s: pages handed to the kernel %s", path,
		       when);
	free(path);
	return rc;
}

void prefill(struct fs *fs, struct fs_handle *h)
{
	struct stx s;
	kv_val v;

	/* the path must hold its content; a rename holds the lock across
	 * its commit */
	loop_lock(&tree_lock);
	if (stx_begin(fs->env, false, &s) == 0) {
		if (handle_content(&s, h, false, &v) == 0)
			(void)kernel_store(fs, h->inode->ino, v.data, v.len,
			                   "with an open");
		stx_abort(&s);
	}
	pthread_mutex_unlock(&tree_lock);
	fill_done(h->inode);
}

/*
 * Invalidate the kernel's view of ino (its pages and attributes): at once,
 * from the caller's handler, while no handle has it open: then no READ of
 * it holds a page the invalidation would wait for, and opens wait for it
 * (settling), as they do for a store.  Otherwise the notify thread does
 * it.  A detached inode's content never changes again, and every open of
 * it drops the kernel's pages (it is never cached): only its attributes
 * are invalidated, at once.  Returns whether it was done at once.
 */
bool cache_invalidate(uint64_t ino)
{
	struct fs_inode *in;
	bool now, detached;

	itab_lock();
	in = itab_get(ino);
	if (in == NULL) { /* the kernel forgot it */
		itab_unlock();
		return true;
	}
	detached = in->path == NULL;
	now = in->handles == NULL && !in->cache.writers && !in->cache.filling &&
	      !in->cache.committing;
	itab_unlock();
	if (detached)
		notify_attrs_now(ino);
	else if (now)
		notify_inode_now(ino);
	else
		notify_inode(ino);
	return now || detached;
}

/*
 * Settle the kernel's view of a file whose last writer just released it,
 * after the reply: invalidate it if stale (cache_invalidate), then hand the
 * kernel the pages of the buffer that writer saved (saved: the content of
 * version, committed while cache.gen became saved_gen; NULL if it saved
 * nothing).  The written content is what the next reader wants, and a
 * store here is one the next open no longer makes while its caller waits
 * (doc/benchmarks.md §2).  A store waits only for the locks of the file's
 * own pages, which a READ of it would hold; no handle can be reading it
 * (none is open, and filling keeps new opens off the page cache), so a
 * handler may make it.
 *
 * Only while the inode is settled: no handle, no writer, no commit since
 * the save or in flight, the kernel's view invalidated since the last
 * change and holding no version (kversion 0).  in->cache.filling keeps
 * other opens off the page cache meanwhile (they wait for it: settling(),
 * and a writer's handle_pick_version()).  If anything changed the file
 * while the pages were stored, what the kernel holds may be older than
 * the store: it is invalidated again.  (An open of another version would
 * drop them anyway: its kversion differs.)  Files larger than FILL_MAX
 * are left to READs.
 *
 * The kernel's size is not always the content's here (a refused save
 * leaves the writer's): the store marks its last page as read only when
 * it ends at the kernel's size, so a larger stale size sends that page to
 * a READ, whose short answer sets the size; a smaller one grows to the
 * content's end.
 */
void cache_warm(struct fs *fs, uint64_t ino, const struct wbuf *saved,
                uint64_t version, uint64_t saved_gen, bool stale)
{
	struct fs_inode *in;
	uint64_t kseq;
	bool moved;
	int rc;

	if (stale && !cache_invalidate(ino))
		return;
	if (saved == NULL || saved->len == 0 || saved->len > FILL_MAX)
		return;
	itab_lock();
	in = itab_get(ino);
	if (in == NULL || in->path == NULL || in->type != S_IFREG ||
	    in->handles != NULL || in->cache.writers || in->cache.cached ||
	    in->cache.direct || in->cache.filling || in->cache.kstale ||
	    in->cache.kversion != 0 || in->cache.committing ||
	    in->cache.hold_until != 0 || in->cache.gen != saved_gen) {
		itab_unlock();
		return;
	}
	in->cache.filling = true;
	itab_open(in); /* keeps it alive until the end */
	kseq = in->cache.kseq;
	itab_unlock();

	rc = kernel_store(fs, ino, saved->data, saved->len, "after the save");

	itab_lock();
	in->cache.filling = false;
	moved = in->cache.gen != saved_gen || in->cache.kseq != kseq ||
	        in->cache.committing;
	if (moved)
		itab_kdirty_locked(in); /* invalidated again, below */
	else if (rc == 0 && in->path != NULL && in->cache.kversion == 0 &&
	         !in->cache.kstale) /* (a direct open meanwhile: unknown) */
		in->cache.kversion = version;
	itab_close(in);
	itab_unlock();
	if (moved)
		notify_inode(ino);
}
