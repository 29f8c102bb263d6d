/*
 * os_posix.c: the only code that writes, syncs and truncates the database
 * file (through the replaceable struct kv_io), and that takes file locks.
 *
 * Locks are open-file-description locks on single bytes of the lock file:
 * they belong to one kv_env, are released when it closes or its process
 * dies, and work the same between threads and between processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kv_int.h"

/* Write all len bytes at off; flags as for pwritev2 (0: a plain write). */
static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off,
                     int flags)
{
	while (len > 0) {
		struct iovec iov = { (void *)p, len };
		ssize_t n = flags ? pwritev2(fd, &iov, 1, (off_t)off, flags)
		                  : pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int posix_pwrite(void *ctx, int fd, const void *buf, size_t len,
                        uint64_t off)
{
	(void)ctx;
	return write_all(fd, buf, len, off, 0);
}

/*
 * A write that is durable when it returns, without flushing the file's other
 * dirty pages: RWF_DSYNC makes the kernel sync just this range (and the
 * metadata needed to read it back), as O_DSYNC would.  Kernels without it
 * get a write and a full fdatasync.
 */
static int posix_pwrite_sync(void *ctx, int fd, const void *buf, size_t len,
                             uint64_t off)
{
	int rc = -EOPNOTSUPP;

	(void)ctx;
#ifdef RWF_DSYNC
	rc = write_all(fd, buf, len, off, RWF_DSYNC);
#endif
	if (rc != -EOPNOTSUPP && rc != -ENOSYS && rc != -EINVAL)
		return rc;
	rc = write_all(fd, buf, len, off, 0);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	return rc;
}

static int posix_sync(void *ctx, int fd)
{
	(void)ctx;
	if (fdatasync(fd) < 0)
		return -errno;
	return 0;
}

static int posix_truncate(void *ctx, int fd, uint64_t size)
{
	(void)ctx;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	return 0;
}

static const struct kv_io posix_io = {
	.ctx = NULL,
	.pwrite = posix_pwrite,
	.sync = posix_sync,
	.truncate = posix_truncate,
	.pwrite_sync = posix_pwrite_sync,
};

KV_API const struct kv_io *kv_io_posix(void)
{
	return &posix_io;
}

int os_lock(int fd, off_t byte, bool exclusive, bool wait)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	for (;;) {
		if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EACCES)
			return KV_EBUSY;
		return -errno;
	}
}

int os_unlock(int fd, off_t byte)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

int os_lock_held(int fd, off_t byte)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return 1; /* assume alive when unsure */
	return fl.l_type != F_UNLCK;
}

int os_lock_find(int fd, off_t start, off_t len, off_t *at, off_t *n)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	if (fl.l_type == F_UNLCK)
		return 0;
	*at = fl.l_start;
	*n = fl.l_len;
	return 1;
}

bool os_fs_readonly(int fd)
{
	struct statvfs sv;

	return fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0;
}

/*
 * The size by lseek, not fstat: every write transaction asks, and on a
 * file system with fine-grained timestamps on demand (ext4 and others
 * since Linux 6.13) a stat marks the inode's times as seen, so that the
 * next write stamps a new fine-grained mtime.  That dirties the inode,
 * and each synced commit record would then write the inode block as
 * well: a second synchronous write per durable commit.  The engine reads
 * and writes with pread and pwrite only, so the file offset is unused.
 */
int os_file_size(int fd, uint64_t *size)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

int os_fsync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = 0;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Start writing back [off, off + len) without waiting for it: a hint for a
 * long write whose sync comes at the end.  Failures are ignored; the sync
 * that follows reports any error.  Not through struct kv_io: it changes
 * nothing in the file, and what a kv_io wrote is the file's either way.
 */
void os_writeback(int fd, uint64_t off, uint64_t len)
{
#ifdef SYNC_FILE_RANGE_WRITE
	(void)sync_file_range(fd, (off_t)off, (off_t)len,
	                      SYNC_FILE_RANGE_WRITE);
#else
	(void)fd;
	(void)off;
	(void)len;
#endif
}

/*
 * Wait until [off, off + len), handed to os_writeback() before, is written
 * back, and drop it from the page cache: pages of a long write that
 * nothing reads again.  The error of that writeback is returned here, and
 * must not be ignored: the wait takes it from this open file, and the
 * sync that follows would not report it again.
 */
int os_writeback_drop(int fd, uint64_t off, uint64_t len)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (sync_file_range(fd, (off_t)off, (off_t)len,
	                    SYNC_FILE_RANGE_WAIT_BEFORE |
	                            SYNC_FILE_RANGE_WRITE |
	                            SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		return -errno;
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
#else
	(void)fd;
	(void)off;
	(void)len;
#endif
	return 0;
}
