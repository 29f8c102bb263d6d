/*
 * snapdir: the .snapshots folder.  It is answered from snapshot views
 * (snaps.h): nodes and listings through sv_node/sv_list, opens with a
 * private copy of the record (snap_open).  mkdir, rmdir and rename
 * directly inside it take, delete and rename snapshots; every other change
 * below it is EROFS, answered from one place (read_only).
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "daemon.h"
#include "snaps.h"
#include "store.h"

bool in_snapshots(const char *path)
{
	return sv_level(path, NULL, NULL) != SV_NONE;
}

/*
 * Snapshots never change: every change below .snapshots but a snapshot's
 * own mkdir, rmdir and rename is refused here, the one place that answers
 * so.
 */
static int read_only(void)
{
	return -EROFS;
}

int snap_check_write(const char *path)
{
	return in_snapshots(path) ? read_only() : 0;
}

/*
 * mkdir .snapshots/NAME takes a snapshot of the last commit, rmdir deletes
 * one, rename renames one; nothing else below .snapshots can be changed.
 * Each is one durable commit.
 */
static int snap_commit(struct fs *fs, const char *a, const char *b,
                       int (*op)(kv_txn *txn, const char *a, const char *b))
{
	struct stx s;
	int rc = wtx_begin(fs, &s);

	if (rc != 0)
		return rc;
	rc = kv_to_errno(op(s.txn, a, b));
	if (rc != 0) {
		fs_log(LOG_INFO, "snapshot %s: %s", a, kv_errmsg());
		stx_abort(&s);
		return rc;
	}
	return stx_commit(&s, KV_DURABLE_IMMEDIATE);
}

static int op_create(kv_txn *txn, const char *a, const char *b)
{
	(void)b;
	return kv_snapshot_create(txn, a);
}

static int op_delete(kv_txn *txn, const char *a, const char *b)
{
	(void)b;
	return kv_snapshot_delete(txn, a);
}

int snap_make(struct fs *fs, const char *path, uint32_t mode,
              const char *target, struct fuse_entry_param *e)
{
	char name[KV_MAX_NAME + 1];
	struct node n;
	int rc;

	switch (sv_level(path, name, NULL)) {
	case SV_TOP:
		return -EEXIST;
	case SV_SNAP:
		if (S_ISDIR(mode) && target == NULL)
			break;
		/* fall through */
	default:
		return read_only();
	}
	rc = snap_commit(fs, name, NULL, op_create);
	if (rc == 0)
		rc = sv_node(fs->env, path, &n);
	if (rc != 0)
		return rc;
	fs_log(LOG_INFO, "took snapshot %s", name);
	return new_entry(path, S_IFDIR, &n, e);
}

int snap_remove(struct fs *fs, const char *path, bool dir)
{
	char name[KV_MAX_NAME + 1];
	int rc;

	switch (sv_level(path, name, NULL)) {
	case SV_TOP:
		return -EPERM;
	case SV_SNAP:
		if (dir)
			break;
		return -EISDIR;
	default:
		return read_only();
	}
	rc = snap_commit(fs, name, NULL, op_delete);
	if (rc == 0) {
		fs_log(LOG_INFO, "deleted snapshot %s", name);
		itab_lock();
		itab_detach_locked(path);
		itab_unlock();
	}
	return rc;
}

int snap_rename(struct fs *fs, const char *from, const char *to, unsigned flags)
{
	char a[KV_MAX_NAME + 1], b[KV_MAX_NAME + 1];
	int rc;

	if (sv_level(from, a, NULL) != SV_SNAP ||
	    sv_level(to, b, NULL) != SV_SNAP || (flags & RENAME_EXCHANGE))
		return read_only();
	rc = snap_commit(fs, a, b, kv_snapshot_rename);
	if (rc == 0) {
		itab_lock();
		itab_move_locked(from, to);
		itab_unlock();
	}
	return rc;
}

/* Open a file in a snapshot: read-only, its content copied into the
 * handle at once (snapshots never change, and records are small). */
int snap_open(struct fs *fs, fuse_req_t req, fuse_ino_t ino, const char *path,
              struct fuse_file_info *fi)
{
	struct fs_handle *h;
	void *data = NULL;
	size_t len = 0;
	struct content_copy *cc;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return read_only();
	rc = sv_content(fs->env, path, &data, &len);
	if (rc != 0)
		return rc;
	cc = copy_new(data, len);
	free(data);
	if (cc == NULL)
		return -ENOMEM;
	rc = handle_new(req, ino, fi->flags, fi, &h);
	if (rc != 0) {
		copy_put(cc);
		return rc;
	}
	itab_lock();
	h->copy = cc;
	itab_unlock();
	fi->noflush = 1;
	return 0;
}
