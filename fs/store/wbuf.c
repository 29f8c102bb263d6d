/*
 * wbuf: growable buffer for pending file content (see wbuf.h).  Grows by
 * doubling so that a stream of appends costs amortized O(1) per byte.
 */
#include "wbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void wbuf_init(struct wbuf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void wbuf_release(struct wbuf *b)
{
	free(b->data);
	wbuf_init(b);
}

static int reserve(struct wbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *d;

	if (need <= b->cap)
		return 0;
	while (cap < need) {
		if (cap > (size_t)-1 / 2)
			return -ENOMEM;
		cap *= 2;
	}
	d = realloc(b->data, cap);
	if (d == NULL)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int wbuf_set(struct wbuf *b, const void *data, size_t len)
{
	int rc = reserve(b, len);

	if (rc != 0)
		return rc;
	if (len)
		memcpy(b->data, data, len);
	b->len = len;
	return 0;
}

int wbuf_resize(struct wbuf *b, size_t len)
{
	int rc = reserve(b, len);

	if (rc != 0)
		return rc;
	if (len > b->len)
		memset(b->data + b->len, 0, len - b->len);
	b->len = len;
	return 0;
}

int wbuf_write(struct wbuf *b, size_t off, const void *data, size_t len)
{
	int rc;

	if (off + len < off)
		return -EFBIG;
	rc = reserve(b, off + len);
	if (rc != 0)
		return rc;
	if (off > b->len)
		memset(b->data + b->len, 0, off - b->len);
	memcpy(b->data + off, data, len);
	if (off + len > b->len)
		b->len = off + len;
	return 0;
}

int wbuf_append(struct wbuf *b, const void *data, size_t len)
{
	return len ? wbuf_write(b, b->len, data, len) : 0;
}
