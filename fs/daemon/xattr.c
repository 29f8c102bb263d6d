/*
 * xattr: extended attributes.  Only the user.* namespace exists: those
 * attributes are stored with the node and changed in one commit each.
 * user.cccfs.* (txn, created, updated, error, warning) are computed,
 * read-only,
 * read by name and never listed.  Nothing below .snapshots changes.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "pathmap.h"
#include "refs.h"
#include "store.h"

#define XA_PREFIX "user.cccfs."

static bool is_acl(const char *name)
{
	return strncmp(name, "system.posix_acl_", 17) == 0;
}

static void format_time(char *buf, size_t n, int64_t ns)
{
	struct timespec ts = node_timespec(ns);
	struct tm tm;

	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* user.cccfs.warning: the references of a record to records that do not
 * exist, from its content and the tree now (a save is never refused for
 * them: records are often created in any order). */
static int warning(struct fs *fs, const char *path, const struct node *n,
                   char **out)
{
	char msg[1024];
	uint64_t count = 0;
	struct stx s;
	kv_val v;
	int rc;

	if (!S_ISREG(n->mode) || pm_depth(path) < 2 ||
	    !pm_is_record_name(pm_basename(path)) || in_snapshots(path))
		return -ENODATA;
	rc = stx_begin(fs->env, false, &s);
	if (rc != 0)
		return rc;
	rc = store_content_get(&s, path, n->mode, &v);
	if (rc == 0)
		rc = refs_dangling(&s, v.data, v.len, msg, sizeof(msg), &count);
	stx_abort(&s);
	if (rc != 0)
		return rc;
	if (count == 0)
		return -ENODATA;
	*out = strdup(msg);
	return *out ? 0 : -ENOMEM;
}

/* The value of a read-only user.cccfs.* attribute, malloc'd. */
static int cccfs_xattr(struct fs *fs, const char *path, const struct node *n,
                       const char *name, char **out)
{
	char buf[64];
	const char *key = name + strlen(XA_PREFIX);

	if (strcmp(key, "error") == 0) {
		*out = errtab_get(path);
		return *out ? 0 : -ENODATA;
	}
	if (strcmp(key, "warning") == 0)
		return warning(fs, path, n, out);
	if (strcmp(key, "txn") == 0)
		snprintf(buf, sizeof(buf), "%" PRIu64, n->txnid);
	else if (strcmp(key, "created") == 0)
		format_time(buf, sizeof(buf), n->crtime);
	else if (strcmp(key, "updated") == 0)
		format_time(buf, sizeof(buf), n->mtime);
	else
		return -ENODATA;
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

static void reply_xattr_value(fuse_req_t req, const void *val, size_t len,
                              size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

/* A value getxattr replies with: in the node read for it, or computed
 * (user.cccfs.*). */
struct xattr_value {
	struct node n;
	char *computed;
	const void *data;
	size_t len;
};

static void xattr_value_release(struct xattr_value *xv)
{
	node_release(&xv->n);
	free(xv->computed);
}

static int do_getxattr(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                       const char *name, struct xattr_value *xv)
{
	char *path = NULL;
	int rc;

	memset(xv, 0, sizeof(*xv));
	/*
	 * Only user.* attributes exist here, as setxattr says.  Not ENODATA
	 * for the other namespaces: ls -l asks for security.selinux on every
	 * file and stops asking on a file system that answers EOPNOTSUPP,
	 * where ENODATA cost one round trip a file (10,000 in ls -lR of the
	 * benchmark's tree, half of its time).
	 */
	if (is_acl(name) || strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	rc = itab_path(ino, &path, NULL);
	if (rc == 0)
		rc = read_node(fs, path, &xv->n);
	if (rc != 0) {
		memset(&xv->n, 0, sizeof(xv->n)); /* nothing read to release */
		free(path);
		return rc;
	}
	rc = perm_may(req, &xv->n, R_OK);
	if (rc != 0) {
		free(path);
		return rc;
	}
	if (strncmp(name, XA_PREFIX, strlen(XA_PREFIX)) == 0) {
		rc = cccfs_xattr(fs, path, &xv->n, name, &xv->computed);
		if (rc == 0) {
			xv->data = xv->computed;
			xv->len = strlen(xv->computed);
		}
	} else {
		rc = node_xattr_get(&xv->n, name, &xv->data, &xv->len);
	}
	free(path);
	return rc;
}

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct xattr_value xv;
	int rc = do_getxattr(fs_of(req), req, ino, name, &xv);

	if (rc != 0)
		reply_err(req, rc);
	else
		reply_xattr_value(req, xv.data, xv.len, size);
	xattr_value_release(&xv);
}

struct xlist {
	char *buf;
	size_t len, cap;
};

static int xlist_add(void *ctx, const char *name, size_t len)
{
	struct xlist *l = ctx;

	if (l->len + len + 1 > l->cap) {
		size_t cap = (l->cap + len + 1) * 2;
		char *nb = realloc(l->buf, cap);

		if (nb == NULL)
			return -ENOMEM;
		l->buf = nb;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, name, len + 1);
	l->len += len + 1;
	return 0;
}

static int do_listxattr(struct fs *fs, fuse_ino_t ino, struct xlist *l)
{
	char *path = NULL;
	struct node n;
	int rc = itab_path(ino, &path, NULL);

	if (rc == 0)
		rc = read_node(fs, path, &n);
	free(path);
	if (rc != 0)
		return rc;
	/* Only the stored attributes: the user.cccfs.* ones are computed,
	 * read by name, and not listed, so cp -a, rsync -X and tar
	 * --xattrs neither fetch them for every file nor copy them. */
	rc = node_xattr_each(&n, xlist_add, l);
	node_release(&n);
	return rc;
}

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct xlist l = { 0 };
	int rc = do_listxattr(fs_of(req), ino, &l);

	if (rc != 0)
		reply_err(req, rc);
	else
		reply_xattr_value(req, l.buf ? l.buf : "", l.len, size);
	free(l.buf);
}

static int change_xattr(struct fs *fs, fuse_req_t req, fuse_ino_t ino,
                        const char *name, const char *value, size_t size,
                        int flags, bool remove)
{
	char *path = NULL;
	struct stx s;
	struct node n;
	int rc;

	rc = itab_path(ino, &path, NULL);
	if (rc == 0)
		rc = snap_check_write(path);
	free(path);
	path = NULL;
	if (rc != 0)
		return rc;
	if (is_acl(name) || strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	if (strncmp(name, XA_PREFIX, strlen(XA_PREFIX)) == 0)
		return -EPERM;
	rc = wtx_begin(fs, &s);
	if (rc != 0)
		return rc;
	rc = itab_path(ino, &path, NULL);
	if (rc == 0)
		rc = store_node_get(&s, path, &n);
	if (rc == 0) {
		rc = perm_may(req, &n, W_OK);
		/* a sticky folder's, only its owner's (as the VFS says) */
		if (rc == 0 && S_ISDIR(n.mode) && (n.mode & S_ISVTX))
			rc = perm_owner(req, &n);
		if (rc == 0)
			rc = remove ? node_xattr_remove(&n, name)
			            : node_xattr_set(&n, name, value, size,
			                             flags);
		n.ctime = clock_real_ns();
		if (rc == 0)
			rc = store_node_put(&s, path, &n);
		node_release(&n);
	}
	free(path);
	if (rc != 0) {
		stx_abort(&s);
		return rc;
	}
	return commit_close(fs, &s, false);
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                 const char *value, size_t size, int flags)
{
	reply_err(req, change_xattr(fs_of(req), req, ino, name, value, size,
	                            flags, false));
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_err(req,
	          change_xattr(fs_of(req), req, ino, name, NULL, 0, 0, true));
}
