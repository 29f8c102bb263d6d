/*
 * dir: open folders and their listings.  A listing is read once per
 * handle (at its first readdir from offset 0) and handed out from memory
 * at offsets unique to that load; the kernel caches listings, except those
 * of .snapshots itself and of the views that follow the live tree (see
 * do_opendir).  The root lists the three kinds, and the views (.history,
 * .labels, .rendered, .snapshots) with -o snapdir=visible.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "labels.h"
#include "pathmap.h"
#include "rendered.h"
#include "snaps.h"
#include "store.h"

struct dir_entry {
	char *name;
	struct node node; /* without xattrs */
};

struct dir_handle {
	struct dir_entry *e;
	size_t n;
	bool snapshot; /* a folder below .snapshots: never changes */
	bool loaded;   /* e and n hold the listing */
	bool at_end;   /* the whole of it was handed out */
	uint32_t gen;  /* this load's number, in the offsets it hands out */
};

/*
 * Listing offsets are (load number << 32 | position).  The kernel fills
 * its cache of a folder from whichever open handle reads at the offset
 * where the cache ends; with offsets unique to each load, a handle can
 * only continue a cache it started itself, never splice an older listing
 * onto a newer one.
 */
static atomic_uint dir_loads;

static off_t dir_off(const struct dir_handle *d, size_t pos)
{
	return (off_t)(((uint64_t)d->gen << 32) | pos);
}

static void dir_clear(struct dir_handle *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	d->e = NULL;
	d->n = 0;
}

static void dir_free(struct dir_handle *d)
{
	dir_clear(d);
	free(d);
}

static int dir_add(void *ctx, const char *name, const struct node *n)
{
	struct dir_handle *d = ctx;

	if ((d->n & (d->n + 1)) == 0 || d->e == NULL) {
		/* grow at 0, 1, 3, 7, ... entries */
		struct dir_entry *ne =
		        realloc(d->e, (d->n + 1) * 2 * sizeof(*ne));

		if (ne == NULL)
			return -ENOMEM;
		d->e = ne;
	}
	d->e[d->n].name = strdup(name);
	if (d->e[d->n].name == NULL)
		return -ENOMEM;
	d->e[d->n].node = *n;
	d->e[d->n].node.xattrs = NULL;
	d->e[d->n].node.xlen = 0;
	d->n++;
	return 0;
}

/* The listing is taken once at opendir, so offsets stay stable. */
static int dir_load(struct fs *fs, fuse_ino_t ino, struct dir_handle *d)
{
	char *path = NULL;
	struct stx s;
	int rc;

	rc = itab_path(ino, &path, NULL);
	if (rc == 0) {
		d->snapshot = in_snapshots(path);
		rc = stx_begin(fs->env, false, &s);
	}
	if (rc == 0) {
		if (*path == '\0') {
			/* the root shows the three kinds (and the views
			 * with -o snapdir=visible) */
			static const char *const views[] = { HISTDIR, LABELDIR,
				                             RENDERDIR,
				                             SNAPDIR };
			struct node n;

			for (int k = 0; k < PM_NKINDS && rc == 0; k++) {
				rc = store_node_get(&s, pm_kind_name(k), &n);
				if (rc == 0) {
					node_release(&n);
					rc = dir_add(d, pm_kind_name(k), &n);
				}
			}
			for (size_t v = 0; v < sizeof(views) / sizeof(*views) &&
			                   rc == 0 && fs->cfg.snapdir_visible;
			     v++) {
				rc = sv_node(fs->env, views[v], &n);
				if (rc == 0) {
					node_release(&n);
					rc = dir_add(d, views[v], &n);
				}
			}
		} else if (in_snapshots(path)) {
			rc = sv_list(fs->env, path, dir_add, d);
		} else {
			rc = store_list(&s, path, dir_add, d);
		}
		stx_abort(&s);
	}
	free(path);
	return rc;
}

/*
 * The listing is read at the first readdir from offset 0, not at opendir:
 * the kernel notes the folder's version when it starts reading a listing
 * into its cache and keeps it only if no change it made through us came
 * after that, so what we send must be no older than that moment.
 * Listings are cached (FOPEN_CACHE_DIR, kept across opens): changes made
 * through the mount reset the kernel's copy, changes by other processes
 * invalidate every inode (watch.c), and only .snapshots itself changes
 * behind the kernel's back (automatic snapshots): it is never cached.
 */
static int do_opendir(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                      struct fuse_file_info *fi)
{
	struct dir_handle *d;
	struct fs_inode *in;
	char *path = NULL;
	uint32_t type = 0;
	int rc = itab_path(ino, &path, &type);

	if (rc != 0)
		return rc;
	if (type != S_IFDIR) {
		free(path);
		return -ENOTDIR;
	}
	rc = perm_path(fs, req, path, perm_open_mask(fi->flags));
	if (rc != 0) {
		free(path);
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		free(path);
		return -ENOMEM;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/* the list of snapshots and every folder of .history change */
	fi->cache_readdir =
	        sv_level(path, NULL, NULL) != SV_TOP && !sv_follows_live(path);
	itab_lock();
	in = itab_get(ino);
	fi->keep_cache = fi->cache_readdir && !(in && in->cache.rdc_reset);
	if (in)
		in->cache.rdc_reset = false;
	itab_unlock();
	free(path);
	return 0;
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = do_opendir(fs_of(req), req, ino, fi);

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_open(req, fi);
}

/*
 * Fill buf (size bytes: *used of them filled) with the listing of d from
 * offset off on; readdirplus (plus) with the attributes of each entry and
 * a lookup of it.  The listing is read here when off is 0 or it was not
 * read yet.
 */
static int do_readdir(fuse_req_t req, fuse_ino_t ino, struct dir_handle *d,
                      off_t off, bool plus, char *buf, size_t size,
                      size_t *used)
{
	char *ppath = NULL;
	struct stx s;
	bool fresh = false, loaded_now = false;
	bool look = plus; /* entries with a lookup */
	int rc;

	rc = itab_path(ino, &ppath, NULL);
	/* a reader who may list but not search it gets names only (perm.c):
	 * else the kernel would hold them looked up */
	if (rc == 0 && plus && perm_search(fs_of(req), req, ppath) != 0)
		look = false;
	if (rc == 0 && (off == 0 || !d->loaded)) {
		loaded_now = true;
		dir_clear(d);
		rc = dir_load(fs_of(req), ino, d);
		d->loaded = rc == 0;
		d->gen = (atomic_fetch_add(&dir_loads, 1) % 0x7fffffffu) + 1;
	}
	if (rc != 0) {
		free(ppath);
		return rc;
	}
	/* The kernel takes these attributes over what it has (sizes
	 * included) unless it invalidated the inode after this request
	 * began, and it keeps the names for a minute; the listing may be
	 * older than a commit that came before this request (a rename, a
	 * save), so names and attributes are read again now, unless the
	 * listing was read for this request.  Snapshots never change. */
	if (look && !d->snapshot && !loaded_now) {
		rc = stx_begin(fs_of(req)->env, false, &s);
		if (rc != 0) {
			free(ppath);
			return rc;
		}
		fresh = true;
	}
	/* positions: 0 start, 1 after ".", 2 after "..", 3+i after entry i */
	size_t i;

	for (i = (uint64_t)off & 0xffffffffu; i < d->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		char path[SV_PATH_MAX + 1];
		uint64_t cino = 0;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct dir_entry *de = &d->e[i - 2];

			name = de->name;
			if (sv_join(path, sizeof(path), ppath, name) != 0)
				continue;
			if (look) {
				struct node now;

				bool renew = fresh && !in_snapshots(path);

				if (renew) {
					int nrc =
					        store_node_get(&s, path, &now);

					if (nrc == -ENOENT)
						continue; /* removed since */
					if (nrc != 0)
						break;
					node_release(&now);
				}
				const struct node *n = renew ? &now : &de->node;

				cino = itab_ref_path(path, n->mode & S_IFMT);
				if (cino == 0)
					break;
				fill_entry(cino, path, n, &e);
			} else {
				cino = itab_peek(path);
				e.attr.st_ino =
				        cino ? itab_st_ino(cino) : 0xffffffffu;
				e.attr.st_mode = de->node.mode;
			}
		}
		if (plus)
			need = fuse_add_direntry_plus(req, buf + *used,
			                              size - *used, name, &e,
			                              dir_off(d, i + 1));
		else
			need = fuse_add_direntry(req, buf + *used, size - *used,
			                         name, &e.attr,
			                         dir_off(d, i + 1));
		if (need > size - *used) {
			if (look && cino)
				itab_forget(cino, 1);
			break;
		}
		*used += need;
	}
	if (fresh)
		stx_abort(&s);
	if (i >= d->n + 2)
		d->at_end = true;
	free(ppath);
	return 0;
}

static void fs_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
                              off_t off, struct fuse_file_info *fi, bool plus)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	size_t used = 0;
	int rc = buf ? do_readdir(req, ino, d, off, plus, buf, size, &used)
	             : -ENOMEM;

	if (rc != 0)
		reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, fi, false);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, fi, true);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	if (d->loaded && !d->at_end) {
		/* left half read: if it was filling the kernel's cache, no
		 * other handle can finish that (see dir_off); the next
		 * opendir has the kernel start over */
		struct fs_inode *in;

		itab_lock();
		in = itab_get(ino);
		if (in)
			in->cache.rdc_reset = true;
		itab_unlock();
	}
	dir_free(d);
	reply_err(req, 0);
}

void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	reply_err(req, kv_to_errno(kv_env_sync(fs_of(req)->env)));
}
