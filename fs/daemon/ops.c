/*
 * ops: the FUSE low-level ops table, the session's init and release, and
 * the helpers the handler files share (daemon.h lists the files).  The
 * file tree lives in the store (store.h); inode numbers in the inode
 * table (inode.h).
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>

#include "daemon.h"
#include "loop.h"
#include "fs.h"
#include "inode.h"
#include "pathmap.h"
#include "refs.h"
#include "rendered.h"
#include "snaps.h"
#include "store.h"
#include "yaml_check.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uint64_t),
               "inode numbers are 64-bit");

/* ---- paths and transactions -------------------------------------------- */

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
/*
 * Begin a write transaction.  Another writer may hold the engine's lock
 * across a sync (a durable commit, the commit timer): the request loop
 * goes on without this thread meanwhile (loop.c).
 */
int wtx_begin(struct fs *fs, struct stx *s)
{
	int rc = stx_try_begin(fs->env, s);

	if (rc != -EBUSY)
		return rc;
	loop_may_wait();
	return stx_begin(fs->env, true, s);
}

int commit_close(struct fs *fs, struct stx *s, bool durable)
{
	enum kv_durability d = durable || fs->cfg.commit_interval == 0
	                               ? KV_DURABLE_IMMEDIATE
	                               : KV_DURABLE_NONE;
	int rc;

	if (d == KV_DURABLE_IMMEDIATE)
		loop_may_sync(); /* on the disk */
	rc = stx_commit(s, d);

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
int begin_at(struct fs *fs, fuse_ino_t parent, const char *name, struct stx *s,
             char *path)
{
	int rc = wtx_begin(fs, s);

	if (rc == 0) {
		rc = child_path(parent, name, path);
		if (rc != 0)
			stx_abort(s);
	}
	return rc;
}

/* ---- what a save may hold ---------------------------------------------- */

bool is_record(const char *path, uint32_t mode)
{
	return S_ISREG(mode) && pm_depth(path) >= 2 &&
	       pm_is_record_name(pm_basename(path));
}

/* The largest content a file at path may have. */
unsigned long size_limit(const struct fs *fs, const char *path, uint32_t mode)
{
	return is_record(path, mode) ? fs->cfg.max_record : FS_SIDE_MAX;
}

/*
 * Record limits and validation.  0, -EFBIG or -EINVAL (msg filled), or an
 * error reading the store.  A prompt is held to its template's rules too
 * (template.h; only when it declares variables:), the prompts it includes
 * read as of the last commit, with data standing in for path itself.
 */
int validate(struct fs *fs, const char *path, uint32_t mode, const void *data,
             size_t len, char *msg, size_t msglen)
{
	return validate_refs(fs, path, mode, data, len, msg, msglen, NULL);
}

int validate_refs(struct fs *fs, const char *path, uint32_t mode,
                  const void *data, size_t len, char *msg, size_t msglen,
                  struct ref_set *rs)
{
	int rc;

	if (rs != NULL)
		ref_set_init(rs, data, len);
	if (!is_record(path, mode)) {
		if (len > FS_SIDE_MAX) {
			snprintf(msg, msglen, "file larger than %lu bytes",
			         FS_SIDE_MAX);
			return -EFBIG;
		}
		return 0;
	}
	if (len > fs->cfg.max_record) {
		snprintf(msg, msglen,
		         "record of %zu bytes is over the limit "
		         "of %lu bytes (-o max_record)",
		         len, fs->cfg.max_record);
		return -EFBIG;
	}
	rc = rs ? yaml_check_events(data, len, msg, msglen, ref_set_event, rs)
	        : yaml_check(data, len, msg, msglen);
	if (rc == 0 && pm_kind_of(path) == PM_PROMPTS)
		rc = rendered_check(fs->env, NULL, path, data, len, msg,
		                    msglen);
	return rc;
}

/* Log a refused save and keep its reason for user.cccfs.error. */
void reject(const char *path, const char *why, const char *msg)
{
	fs_log(LOG_WARNING, "/%s: %s refused: %s", path, why, msg);
	errtab_set(path, msg);
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
	/* No automatic invalidation: the kernel would drop a file's pages
	 * whenever the attributes it fetches show another mtime than it
	 * had, and after every save they do, which would throw away the
	 * pages handed to it after the save (cache_warm).  Every change
	 * invalidates the kernel's copy explicitly (notify.c, cache.c), and
	 * no open uses the page cache until that is done. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/* no writeback cache: every write reaches the handle's buffer
	 * before the close that must commit it */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~(unsigned)FUSE_CAP_POSIX_ACL;
	/* The kernel clears set-id bits on chown and truncate(2) with a
	 * mode of its own (setid.c has the rest): with HANDLE_KILLPRIV it
	 * would leave those to us too.  libfuse 3.14 asks for it by default
	 * but never tells the kernel; a later one would. */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	notify_set_expire(conn->proto_major > 7 ||
	                  (conn->proto_major == 7 && conn->proto_minor >= 38));
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
		fs_log(LOG_WARNING,
		       "unmounted with %u files open for writing; "
		       "their unsaved writes were dropped",
		       dropped);
	itab_release();
}

/* ---- the ops table ----------------------------------------------------- */

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
	.access = fs_access,
};
