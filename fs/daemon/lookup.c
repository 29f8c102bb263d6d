/*
 * lookup: names and attributes (lookup, forget, getattr, statfs), and the
 * fillers of the attributes and entries the other handlers reply with.
 * A file's size is that of its committed content, except to the process
 * writing it (pending_attrs); a detached inode shows the frozen attributes
 * of the version its readers keep.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon.h"
#include "pathmap.h"
#include "labels.h"
#include "rendered.h"
#include "snaps.h"
#include "store.h"

/* ---- attributes -------------------------------------------------------- */

/*
 * How long the kernel may keep a name and its attributes.  Names below
 * .history and .labels, and the sizes below .rendered, change with saves,
 * renames and deletes elsewhere in the tree, which no invalidation
 * reaches: the kernel asks every time.
 */
static double cache_secs(const char *path)
{
	if (path != NULL && sv_follows_live(path))
		return 0.0;
	return path == NULL || in_snapshots(path) ? SHORT_TIMEOUT
	                                          : LIVE_TIMEOUT;
}

void fill_stat(uint64_t ino, const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)ino;
	st->st_mode = (mode_t)n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = (uid_t)n->uid;
	st->st_gid = (gid_t)n->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_atim = node_timespec(n->atime);
	st->st_mtim = node_timespec(n->mtime);
	st->st_ctim = node_timespec(n->ctime);
}

/* The attributes of st as a node without extended attributes: those a
 * detached inode shows (cache.frozen_st), for fill_stat() again. */
void node_of_stat(const struct stat *st, struct node *n)
{
	memset(n, 0, sizeof(*n));
	n->mode = (uint32_t)st->st_mode;
	n->uid = (uint32_t)st->st_uid;
	n->gid = (uint32_t)st->st_gid;
	n->size = (uint64_t)st->st_size;
	n->atime = node_time_of(st->st_atim);
	n->mtime = node_time_of(st->st_mtim);
	n->ctime = node_time_of(st->st_ctim);
}

void fill_entry(uint64_t ino, const char *path, const struct node *n,
                struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = cache_secs(path);
	/* a folder's name is never invalidated (that would unhash it under
	 * the processes working in it): where the kernel cannot expire it
	 * instead (notify.c), it lasts a second */
	e->entry_timeout =
	        S_ISDIR(n->mode) && e->attr_timeout > 0 && !notify_can_expire()
	                ? SHORT_TIMEOUT
	                : e->attr_timeout;
	fill_stat(itab_st_ino(ino), n, &e->attr);
}

/* Give the entry just made at path its inode (one lookup) and fill e
 * from n, which is released. */
int new_entry(const char *path, uint32_t type, struct node *n,
              struct fuse_entry_param *e)
{
	uint64_t ino = itab_ref_path(path, type);

	if (ino != 0)
		fill_entry(ino, path, n, e);
	node_release(n);
	return ino != 0 ? 0 : -ENOMEM;
}

/*
 * The process writing a file sees the size of its pending content, and
 * the set-id bits its writes clear already cleared, as on a local disk
 * where writes show up in stat at once; everyone else sees the committed
 * version, whose content is all they can read.
 */
bool pending_attrs(fuse_req_t req, uint64_t ino, struct node *n)
{
	pid_t pid = fuse_req_ctx(req)->pid;
	struct fs_inode *in;
	bool shown = false;

	itab_lock();
	in = itab_get(ino);
	for (struct fs_handle *h = in ? in->handles : NULL; h; h = h->next) {
		long long sz = atomic_load(&h->shown_size);

		if (sz >= 0 && h->pid == pid) {
			n->size = (uint64_t)sz;
			n->mode &= ~atomic_load(&h->kill);
			shown = true;
		}
	}
	itab_unlock();
	return shown;
}

/* ---- lookup and attributes --------------------------------------------- */

int do_lookup(struct fs *fs, fuse_req_t req, fuse_ino_t parent,
              const char *name, struct fuse_entry_param *e)
{
	char path[SV_PATH_MAX + 1];
	struct node n;
	uint64_t ino;
	int rc = pm_check_name(name);

	if (rc != 0)
		return rc == -EINVAL ? -ENOENT : rc;
	rc = child_path(parent, name, path);
	if (rc != 0)
		return rc;
	if (pm_depth(path) == 1 && pm_kind_of(path) < 0 &&
	    strcmp(path, SNAPDIR) != 0 && strcmp(path, HISTDIR) != 0 &&
	    strcmp(path, LABELDIR) != 0 && strcmp(path, RENDERDIR) != 0)
		return -ENOENT;
	rc = perm_parent(fs, req, path);
	if (rc == 0)
		rc = read_node(fs, path, &n);
	if (rc != 0)
		return rc;
	ino = itab_ref_path(path, n.mode & S_IFMT);
	if (ino == 0) {
		node_release(&n);
		return -ENOMEM;
	}
	if (S_ISREG(n.mode))
		pending_attrs(req, ino, &n);
	fill_entry(ino, path, &n, e);
	node_release(&n);
	return 0;
}

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = do_lookup(fs_of(req), req, parent, name, &e);

	if (rc == -ENOENT) {
		char path[SV_PATH_MAX + 1];

		/* negative entry: only this daemon changes the tree, and the
		 * kernel drops it when it creates the name through us; not
		 * so below .history (cache_secs) */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = SHORT_TIMEOUT;
		if (child_path(parent, name, path) == 0 &&
		    sv_follows_live(path))
			e.entry_timeout = 0;
		else
			notify_note_miss(parent, name);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	itab_forget(ino, nlookup);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count,
                     struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		itab_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

int frozen_attrs(fuse_ino_t ino, struct stat *st)
{
	struct fs_inode *in;
	int rc = -ENOENT;

	itab_lock();
	in = itab_get(ino);
	if (in && in->path == NULL && in->cache.frozen) {
		*st = in->cache.frozen_st;
		rc = 0;
	}
	itab_unlock();
	return rc;
}

int detached_attrs(fuse_req_t req, fuse_ino_t ino, struct stat *st)
{
	struct node n;
	int rc = frozen_attrs(ino, st);

	if (rc == 0 && S_ISREG(st->st_mode)) {
		node_of_stat(st, &n);
		if (pending_attrs(req, ino, &n)) {
			fill_stat(st->st_ino, &n, st);
			st->st_nlink = 0;
		}
	}
	return rc;
}

static int do_getattr(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                      struct fuse_file_info *fi, struct stat *st, double *secs)
{
	char *path = NULL;
	struct node n;
	int rc = itab_path(ino, &path, NULL);

	(void)fi;
	*secs = SHORT_TIMEOUT;
	if (rc == -ENOENT)
		return detached_attrs(req, ino, st);
	if (rc != 0)
		return rc;
	*secs = cache_secs(path);
	rc = read_node(fs, path, &n);
	free(path);
	if (rc != 0)
		return rc;
	/* the kernel keeps one size for everyone: a pending one briefly */
	if (S_ISREG(n.mode) && pending_attrs(req, ino, &n))
		*secs = SHORT_TIMEOUT;
	fill_stat(itab_st_ino(ino), &n, st);
	node_release(&n);
	return 0;
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	double secs;
	int rc = do_getattr(fs_of(req), req, ino, fi, &st, &secs);

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, secs);
}

/* ---- statfs -------------------------------------------------------------- */

static int do_statfs(struct fs *fs, struct statvfs *st)
{
	struct kv_stat ks;
	struct statvfs host;
	char *dir = strdup(fs->db_path);
	char *slash;
	uint64_t nodes = 0;
	struct stx s;
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&host, 0, sizeof(host));
	rc = kv_to_errno(kv_env_stat(fs->env, &ks));
	if (rc != 0 || dir == NULL) {
		free(dir);
		return rc ? rc : -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (statvfs(slash ? dir : ".", &host) != 0)
		memset(&host, 0, sizeof(host));
	free(dir);
	if (stx_begin(fs->env, false, &s) == 0) {
		nodes = store_node_count(&s);
		stx_abort(&s);
	}
	/* The store may grow into the host's free space: blocks are the
	 * file's pages plus what the host has free; free blocks are the
	 * reusable pages plus the host's free space. */
	st->f_bsize = ks.page_size;
	st->f_frsize = ks.page_size;
	{
		uint64_t host_free = host.f_frsize ? (uint64_t)host.f_bavail *
		                                             host.f_frsize /
		                                             ks.page_size
		                                   : 0;

		st->f_blocks = (fsblkcnt_t)(ks.pages_total + host_free);
		st->f_bfree = (fsblkcnt_t)(ks.pages_free + host_free);
		st->f_bavail = st->f_bfree;
	}
	st->f_files = (fsfilcnt_t)(nodes + (uint64_t)host.f_favail);
	st->f_ffree = (fsfilcnt_t)host.f_favail;
	st->f_favail = st->f_ffree;
	st->f_namemax = PM_NAME_MAX;
	return 0;
}

void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int rc;

	(void)ino;
	rc = do_statfs(fs_of(req), &st);
	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_statfs(req, &st);
}
