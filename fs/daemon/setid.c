/*
 * setid: which set-user-ID and set-group-ID bits a change clears, by the
 * rules the Linux VFS applies on local file systems (ext4, tmpfs):
 *
 *   change                S_ISUID cleared         S_ISGID cleared
 *   --------------------  ----------------------  ---------------------------
 *   write, truncate,      regular file, caller    regular file, caller not
 *   open with O_TRUNC     not privileged          privileged, and group-exec
 *                                                 set or caller not in the
 *                                                 file's group
 *   chown, chgrp,         anything but a folder,  anything but a folder:
 *   chown(f, -1, -1)      whoever the caller      group-exec set, or caller
 *                                                 neither privileged nor in
 *                                                 the file's group (before
 *                                                 the change)
 *
 * "Privileged" is CAP_FSETID there; a FUSE request carries the caller's
 * ids and not its capabilities, so here it is uid 0.  A set-group-ID file
 * without group-exec stays so for the members of its group.
 *
 * Who clears them.  fs_init() does not ask for FUSE_CAP_HANDLE_KILLPRIV,
 * so for chown and truncate(2) the kernel recomputes the mode and sends it
 * with the SETATTR, but by an older rule: S_ISUID, and S_ISGID only with
 * group-exec.  For the rest the kernel sends nothing: writes go through
 * direct I/O, which never asks for the bits to be cleared (the flag it
 * puts on such a WRITE is not passed on by libfuse 3.14), and with
 * FUSE_CAP_ATOMIC_O_TRUNC the truncation of an open is the OPEN itself.
 * So the daemon applies the whole table above: the handle of a write or
 * an O_TRUNC open clears them in the commit of its content (file.c:
 * handle_note_writer), a truncate or chown in its own (entry.c).  Where
 * the kernel did send a mode, clearing again is a no-op.
 */
#define FUSE_USE_VERSION 312
#include <sys/stat.h>

#include "daemon.h"

/* S_ISGID if a change by the caller of req clears it from a node with
 * mode and gid, for both kinds of change in the table. */
static uint32_t drop_sgid(fuse_req_t req, uint32_t mode, uint32_t gid)
{
	if (!(mode & S_ISGID))
		return 0;
	if (mode & S_IXGRP)
		return S_ISGID;
	if (fuse_req_ctx(req)->uid == 0 || caller_in_group(req, gid))
		return 0;
	return S_ISGID;
}

uint32_t setid_kill_write(fuse_req_t req, const struct node *n)
{
	if (!S_ISREG(n->mode) || fuse_req_ctx(req)->uid == 0)
		return 0;
	return (n->mode & S_ISUID) | drop_sgid(req, n->mode, n->gid);
}

uint32_t setid_kill_chown(fuse_req_t req, const struct node *n)
{
	if (S_ISDIR(n->mode))
		return 0;
	return (n->mode & S_ISUID) | drop_sgid(req, n->mode, n->gid);
}
