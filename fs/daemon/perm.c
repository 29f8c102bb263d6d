/*
 * perm: the permission checks the daemon makes itself, and who the
 * caller of a request is.
 *
 * A mount that lets no other user in (no allow_other, no allow_root) is
 * mounted without default_permissions (mount.c): every caller is then
 * the mount's owner, or root, and the kernel checks no mode bits.  It
 * would need a folder's mode back after every change to it (a GETATTR
 * after each create, rename or removal) only to check it.  The daemon
 * applies the modes itself instead, as the VFS does on a local disk:
 *
 *   request                       needs
 *   ----------------------------  ---------------------------------------
 *   lookup                        search (x) on the folder
 *   open, opendir                 read and/or write by the open's mode
 *                                 (both for mode 3), write with O_TRUNC,
 *                                 x only for an exec
 *   create, mkdir, mknod, symlink write and search on the folder
 *   unlink, rmdir, rename         write and search on the folders; in a
 *                                 sticky folder, owning it or the entry;
 *                                 moving a folder to another: write on it
 *   truncate by path              write
 *   chmod, any change of times    owning it (EPERM)
 *   but both times to now (touch) owning it, or write
 *   user.* of a sticky folder     owning it (EPERM), and write
 *   chgrp                         owning it and being in the new group
 *   user.* attributes             read to get them, write to change them
 *   access(2), chdir              what they ask (the ACCESS request)
 *
 * uid 0 passes all of them but x on a file, which needs one x bit set.
 * A request carries ids, not capabilities, so that is all root can be.
 * The checks read the store's current modes, where the kernel would have
 * used the attributes it holds.
 *
 * What the kernel holds it does not ask about again: a name it looked up
 * in a folder stays usable until its entry expires, even after the
 * folder lost its x bit.  A change of a folder's mode or owner therefore
 * expires the names the kernel holds in it, just after (notify_below),
 * and a listing of a folder its reader may not search hands out names
 * only (dir.c), never names looked up.
 *
 * With other users let in, the kernel checks (default_permissions), and
 * none of this runs: it also sees what this daemon cannot, the names it
 * holds and the capabilities of each caller.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "pathmap.h"
#include "snaps.h"

/* Is the caller of req in group gid, as its own group or a supplementary
 * one?  No when its groups cannot be read (it has exited, or lives in
 * another pid namespace): the bit is then cleared, the safe way. */
bool caller_in_group(fuse_req_t req, uint32_t gid)
{
	gid_t some[32], *list = some;
	int n, size = (int)(sizeof(some) / sizeof(some[0]));
	bool in = false;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, size, list);
	if (n > size) {
		list = malloc((size_t)n * sizeof(*list));
		if (list == NULL)
			return false;
		size = n;
		n = fuse_req_getgroups(req, size, list);
	}
	for (int i = 0; i < n && i < size && !in; i++)
		in = list[i] == gid;
	if (list != some)
		free(list);
	return in;
}

bool perm_checked(fuse_req_t req)
{
	return !fs_of(req)->cfg.kernel_perms;
}

int perm_may(fuse_req_t req, const struct node *n, int mask)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	uint32_t want = (uint32_t)mask & (R_OK | W_OK | X_OK), bits;

	if (want == 0 || !perm_checked(req))
		return 0;
	if (uid == 0)
		return (want & X_OK) && !S_ISDIR(n->mode) && !(n->mode & 0111)
		               ? -EACCES
		               : 0;
	if (uid == n->uid)
		bits = n->mode >> 6;
	else if (caller_in_group(req, n->gid))
		bits = n->mode >> 3;
	else
		bits = n->mode;
	return (bits & want) == want ? 0 : -EACCES;
}

int perm_owner(fuse_req_t req, const struct node *n)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	if (!perm_checked(req) || uid == 0 || uid == n->uid)
		return 0;
	return -EPERM;
}

/* The kernel's FMODE_EXEC, which it passes on in the flags of the open
 * an execve makes. */
#define OPEN_FOR_EXEC 040

int perm_open_mask(int flags)
{
	int acc = flags & O_ACCMODE, mask = 0;

	if (flags & OPEN_FOR_EXEC)
		mask = X_OK;
	else if (acc != O_WRONLY) /* O_RDONLY, O_RDWR, and 3 (both) */
		mask = R_OK;
	if (acc != O_RDONLY || (flags & O_TRUNC))
		mask |= W_OK;
	return mask;
}

/* Whether root passes a check of mask whatever the node: all but x. */
static bool root_passes(fuse_req_t req, int mask)
{
	return fuse_req_ctx(req)->uid == 0 && !(mask & X_OK);
}

int perm_path(struct fs *fs, fuse_req_t req, const char *path, int mask)
{
	struct node n;
	int rc;

	if (!perm_checked(req) || root_passes(req, mask))
		return 0;
	rc = read_node(fs, path, &n);
	if (rc != 0)
		return rc;
	rc = perm_may(req, &n, mask);
	node_release(&n);
	return rc;
}

/* The folder of path into folder (SV_PATH_MAX + 1 bytes). */
static void folder_of(const char *path, char *folder)
{
	size_t len = pm_parent_len(path);

	memcpy(folder, path, len);
	folder[len] = '\0';
}

int perm_search(struct fs *fs, fuse_req_t req, const char *folder)
{
	/* root may search any folder */
	if (!perm_checked(req) || fuse_req_ctx(req)->uid == 0)
		return 0;
	return perm_path(fs, req, folder, X_OK);
}

int perm_parent(struct fs *fs, fuse_req_t req, const char *path)
{
	char folder[SV_PATH_MAX + 1];

	if (!perm_checked(req) || fuse_req_ctx(req)->uid == 0)
		return 0;
	folder_of(path, folder);
	return perm_search(fs, req, folder);
}

int perm_ino(struct fs *fs, fuse_req_t req, fuse_ino_t ino, int mask)
{
	char *path = NULL;
	struct stat st;
	struct node n;
	int rc;

	if (!perm_checked(req) || root_passes(req, mask))
		return 0;
	rc = itab_path(ino, &path, NULL);
	if (rc == 0) {
		rc = perm_path(fs, req, path, mask);
		free(path);
		return rc;
	}
	if (rc != -ENOENT || frozen_attrs(ino, &st) != 0)
		return rc;
	node_of_stat(&st, &n); /* detached: the version its readers keep */
	return perm_may(req, &n, mask);
}

int perm_entry_change(fuse_req_t req, struct stx *s, const char *path,
                      const struct node *victim)
{
	char folder[SV_PATH_MAX + 1];
	uid_t uid = fuse_req_ctx(req)->uid;
	struct node d;
	int rc;

	if (!perm_checked(req) || uid == 0)
		return 0;
	folder_of(path, folder);
	rc = store_node_get(s, folder, &d);
	if (rc != 0)
		return rc;
	rc = perm_may(req, &d, W_OK | X_OK);
	if (rc == 0 && victim != NULL && (d.mode & S_ISVTX) && uid != d.uid &&
	    uid != victim->uid)
		rc = -EPERM;
	node_release(&d);
	return rc;
}

void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	reply_err(req, perm_ino(fs_of(req), req, ino, mask));
}
