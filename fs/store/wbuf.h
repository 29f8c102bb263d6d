/*
 * wbuf: a growable byte buffer, the private content of an open file while
 * it is being written.  Caller-owned; init/release like git's strbuf.
 * Used by the daemon's open files (fs/daemon/file.c, entry.c) and by
 * cccfs mv's rewrites; uses libc only.
 */
#ifndef CCCFS_FS_WBUF_H
#define CCCFS_FS_WBUF_H

#include <stddef.h>

struct wbuf {
	char *data;
	size_t len;
	size_t cap;
};

void wbuf_init(struct wbuf *b);
void wbuf_release(struct wbuf *b);
/* Replace the content with a copy of len bytes.  0 or -ENOMEM. */
int wbuf_set(struct wbuf *b, const void *data, size_t len);
/* Write len bytes at off, zero-filling any gap.  0 or -ENOMEM. */
int wbuf_write(struct wbuf *b, size_t off, const void *data, size_t len);
/* Add len bytes at the end.  0 or -ENOMEM. */
int wbuf_append(struct wbuf *b, const void *data, size_t len);
/* Truncate or extend with zeros.  0 or -ENOMEM. */
int wbuf_resize(struct wbuf *b, size_t len);

#endif
