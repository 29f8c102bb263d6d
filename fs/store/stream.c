/*
 * stream.c: writing and reading the send/receive byte format (stream.h).
 *
 * The writer buffers its output and keeps one running checksum of every
 * byte for the trailer.  The reader checks each part as it arrives: the
 * header's checksum before any field is believed, each record's before it
 * is handed on, and the trailer's count and whole-stream checksum before
 * it reports the end.  Its only allocation grows with bytes read, never
 * with a length field, so a damaged length costs a short read, not memory.
 */
#include "stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"

#define HDR_FIXED 75 /* header bytes before the target's name */
#define REC_HDR 8
#define TRAILER 24
#define SUM_LEN 8

bool stream_id_zero(const uint8_t id[STREAM_ID_LEN])
{
	for (int i = 0; i < STREAM_ID_LEN; i++)
		if (id[i] != 0)
			return false;
	return true;
}

void stream_id_hex(const uint8_t id[STREAM_ID_LEN], char out[33])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < STREAM_ID_LEN; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[32] = '\0';
}

/* ---- writing -------------------------------------------------------------- */

static int flush_out(struct stream_writer *w)
{
	size_t off = 0;

	while (off < w->used) {
		ssize_t n = write(w->fd, w->buf + off, w->used - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	w->used = 0;
	return 0;
}

/* Append bytes to the stream, counting them in its checksum. */
static int put_bytes(struct stream_writer *w, const void *p, size_t len)
{
	const unsigned char *b = p;

	XXH3_64bits_update(&w->sum, p, len);
	w->bytes += len;
	while (len > 0) {
		size_t n = sizeof(w->buf) - w->used;
		int rc;

		if (n > len)
			n = len;
		memcpy(w->buf + w->used, b, n);
		w->used += n;
		b += n;
		len -= n;
		if (w->used == sizeof(w->buf) && (rc = flush_out(w)) != 0)
			return rc;
	}
	return 0;
}

static int put_sum(struct stream_writer *w, uint64_t sum)
{
	unsigned char b[SUM_LEN];

	put64(b, sum);
	return put_bytes(w, b, SUM_LEN);
}

int stream_write_begin(struct stream_writer *w, int fd,
                       const struct stream_header *h)
{
	unsigned char hdr[HDR_FIXED +
	                  (STREAM_MAX_TABLES + 2) * (1 + STREAM_MAX_NAME)];
	size_t nlen = strlen(h->name), blen = strlen(h->base_name);
	size_t len = HDR_FIXED;

	/* not the whole struct: its buffer need not be cleared */
	memset(w, 0, offsetof(struct stream_writer, buf));
	w->used = 0;
	w->fd = fd;
	XXH3_64bits_reset(&w->sum);
	if (nlen == 0 || nlen > STREAM_MAX_NAME || blen > STREAM_MAX_NAME ||
	    h->ntables == 0 || h->ntables > STREAM_MAX_TABLES ||
	    (blen == 0) != stream_id_zero(h->base_id))
		return -EINVAL;
	memset(hdr, 0, HDR_FIXED);
	memcpy(hdr, STREAM_MAGIC, 8);
	put32(hdr + 8, STREAM_VERSION);
	memcpy(hdr + 16, h->store_id, STREAM_ID_LEN);
	memcpy(hdr + 32, h->base_id, STREAM_ID_LEN);
	memcpy(hdr + 48, h->target_id, STREAM_ID_LEN);
	put64(hdr + 64, (uint64_t)h->created_ns);
	hdr[72] = (unsigned char)h->ntables;
	hdr[73] = (unsigned char)nlen;
	hdr[74] = (unsigned char)blen;
	memcpy(hdr + len, h->name, nlen);
	len += nlen;
	memcpy(hdr + len, h->base_name, blen);
	len += blen;
	for (unsigned i = 0; i < h->ntables; i++) {
		size_t tl = strlen(h->tables[i]);

		if (tl == 0 || tl > STREAM_MAX_NAME)
			return -EINVAL;
		hdr[len++] = (unsigned char)tl;
		memcpy(hdr + len, h->tables[i], tl);
		len += tl;
	}
	w->records = 0;
	int rc = put_bytes(w, hdr, len);
	return rc != 0 ? rc : put_sum(w, XXH3_64bits(hdr, len));
}

int stream_write_record(struct stream_writer *w, enum stream_type type,
                        unsigned table, const void *key, size_t klen,
                        const void *val, size_t vlen)
{
	unsigned char h[REC_HDR];
	XXH3_state_t st;
	int rc;

	if (type == STREAM_DEL)
		vlen = 0;
	if ((type != STREAM_PUT && type != STREAM_DEL) || table > 255 ||
	    klen == 0 || klen > STREAM_MAX_KEY || vlen > STREAM_MAX_VALUE)
		return -EINVAL;
	h[0] = (unsigned char)type;
	h[1] = (unsigned char)table;
	put16(h + 2, (uint16_t)klen);
	put32(h + 4, (uint32_t)vlen);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, h, REC_HDR);
	XXH3_64bits_update(&st, key, klen);
	if (vlen)
		XXH3_64bits_update(&st, val, vlen);
	rc = put_bytes(w, h, REC_HDR);
	if (rc == 0)
		rc = put_bytes(w, key, klen);
	if (rc == 0 && vlen)
		rc = put_bytes(w, val, vlen);
	if (rc == 0)
		rc = put_sum(w, XXH3_64bits_digest(&st));
	if (rc == 0)
		w->records++;
	return rc;
}

int stream_write_end(struct stream_writer *w)
{
	unsigned char t[TRAILER - SUM_LEN];
	int rc;

	memset(t, 0, sizeof(t));
	t[0] = STREAM_END;
	put64(t + 8, w->records);
	rc = put_bytes(w, t, sizeof(t));
	if (rc == 0)
		rc = put_sum(w, XXH3_64bits_digest(&w->sum));
	return rc != 0 ? rc : flush_out(w);
}

/* ---- reading -------------------------------------------------------------- */

static int fail(struct stream_reader *r, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct stream_reader *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return rc;
}

void stream_reader_init_fd(struct stream_reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	XXH3_64bits_reset(&r->sum);
}

void stream_reader_init_mem(struct stream_reader *r, const void *mem,
                            size_t len)
{
	stream_reader_init_fd(r, -1);
	r->mem = mem;
	r->mem_len = len;
}

void stream_reader_release(struct stream_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* Up to len bytes into p: the count read (short only at the end). */
static ssize_t raw_read(struct stream_reader *r, void *p, size_t len)
{
	size_t got = 0;

	if (r->fd < 0) {
		size_t left = r->mem_len - r->mem_off;

		got = len < left ? len : left;
		memcpy(p, r->mem + r->mem_off, got);
		r->mem_off += got;
		return (ssize_t)got;
	}
	while (got < len) {
		ssize_t n = read(r->fd, (char *)p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Exactly len bytes into r->buf from offset off, growing it as bytes
 * arrive (never to a length merely announced).  what names the part for
 * the message of a stream cut short. */
static int read_into(struct stream_reader *r, size_t off, size_t len,
                     const char *what)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done, need;
		ssize_t n;

		if (want > 1u << 20)
			want = 1u << 20;
		need = off + done + want;
		if (need > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			unsigned char *b;

			while (cap < need)
				cap *= 2;
			b = realloc(r->buf, cap);
			if (b == NULL)
				return fail(r, -ENOMEM, "out of memory");
			r->buf = b;
			r->cap = cap;
		}
		n = raw_read(r, r->buf + off + done, want);
		if (n < 0)
			return fail(r, (int)n, "cannot read the stream: %s",
			            strerror((int)-n));
		if (n == 0)
			return fail(r, -EBADMSG,
			            "the stream is cut short (in %s, at byte "
			            "%llu)",
			            what,
			            (unsigned long long)(r->bytes + done));
		done += (size_t)n;
	}
	XXH3_64bits_update(&r->sum, r->buf + off, len);
	r->bytes += len;
	return 0;
}

/* The checksum that follows bytes [from, from + len) of r->buf. */
static int check_sum(struct stream_reader *r, size_t from, size_t len,
                     const char *what)
{
	uint64_t want;
	int rc;

	want = XXH3_64bits(r->buf + from, len);
	rc = read_into(r, from + len, SUM_LEN, what);
	if (rc != 0)
		return rc;
	if (get64(r->buf + from + len) != want)
		return fail(r, -EBADMSG, "the stream is damaged (%s checksum)",
		            what);
	return 0;
}

/* A name of the header at *off: u8 length, bytes.  The name's length
 * byte of the target is at a fixed place, so len is passed for it. */
static int header_name(struct stream_reader *r, size_t *off, size_t len,
                       char *out)
{
	int rc;

	if (len == 0)
		return fail(r, -EBADMSG, "the stream is damaged (empty name)");
	rc = read_into(r, *off, len, "the header");
	if (rc != 0)
		return rc;
	if (memchr(r->buf + *off, '\0', len) != NULL)
		return fail(r, -EBADMSG, "the stream is damaged (NUL in name)");
	memcpy(out, r->buf + *off, len);
	out[len] = '\0';
	*off += len;
	return 0;
}

int stream_read_header(struct stream_reader *r, struct stream_header *h)
{
	size_t off = HDR_FIXED;
	int rc = read_into(r, 0, HDR_FIXED, "the header");

	memset(h, 0, sizeof(*h));
	if (rc != 0 && r->bytes == 0 && rc == -EBADMSG)
		return fail(r, rc,
		            "the stream is empty or cut short before "
		            "its header");
	if (rc != 0)
		return rc;
	if (memcmp(r->buf, STREAM_MAGIC, 8) != 0)
		return fail(r, -EBADMSG, "not a cccfs send stream");
	h->version = get32(r->buf + 8);
	if (h->version != STREAM_VERSION)
		return fail(r, -EPROTONOSUPPORT,
		            "stream format version %u; this cccfs reads "
		            "version %u",
		            h->version, STREAM_VERSION);
	if (get32(r->buf + 12) != 0)
		return fail(r, -EBADMSG, "the stream is damaged (flags)");
	memcpy(h->store_id, r->buf + 16, STREAM_ID_LEN);
	memcpy(h->base_id, r->buf + 32, STREAM_ID_LEN);
	memcpy(h->target_id, r->buf + 48, STREAM_ID_LEN);
	h->created_ns = (int64_t)get64(r->buf + 64);
	h->ntables = r->buf[72];
	if (h->ntables == 0 || h->ntables > STREAM_MAX_TABLES)
		return fail(r, -EBADMSG, "the stream is damaged (%u tables)",
		            h->ntables);
	size_t blen = r->buf[74];
	rc = header_name(r, &off, r->buf[73], h->name);
	if (rc == 0 && blen != 0)
		rc = header_name(r, &off, blen, h->base_name);
	if (rc == 0 && (blen == 0) != stream_id_zero(h->base_id))
		rc = fail(r, -EBADMSG, "the stream is damaged (base)");
	for (unsigned i = 0; rc == 0 && i < h->ntables; i++) {
		rc = read_into(r, off, 1, "the header");
		if (rc == 0) {
			off++;
			rc = header_name(r, &off, r->buf[off - 1],
			                 h->tables[i]);
		}
	}
	if (rc == 0)
		rc = check_sum(r, 0, off, "the header");
	if (rc == 0 && stream_id_zero(h->target_id))
		rc = fail(r, -EBADMSG, "the stream is damaged (no target id)");
	if (rc == 0)
		r->ntables = h->ntables;
	return rc;
}

/* The trailer, whose first byte is at r->buf[0], and the end after it. */
static int read_trailer(struct stream_reader *r)
{
	uint64_t want;
	unsigned char extra;
	int rc = read_into(r, 1, TRAILER - SUM_LEN - 1, "the trailer");

	if (rc != 0)
		return rc;
	for (int i = 1; i < 8; i++)
		if (r->buf[i] != 0)
			return fail(r, -EBADMSG,
			            "the stream is damaged (trailer)");
	if (get64(r->buf + 8) != r->records)
		return fail(r, -EBADMSG,
		            "the stream is damaged (its trailer counts %llu "
		            "records, %llu arrived)",
		            (unsigned long long)get64(r->buf + 8),
		            (unsigned long long)r->records);
	want = XXH3_64bits_digest(&r->sum);
	rc = read_into(r, TRAILER - SUM_LEN, SUM_LEN, "the trailer");
	if (rc != 0)
		return rc;
	if (get64(r->buf + TRAILER - SUM_LEN) != want)
		return fail(r, -EBADMSG,
		            "the stream is damaged (whole-stream checksum)");
	ssize_t n = raw_read(r, &extra, 1);
	if (n < 0)
		return fail(r, (int)n, "cannot read the stream: %s",
		            strerror((int)-n));
	if (n > 0)
		return fail(r, -EBADMSG, "bytes follow the stream's trailer");
	r->ended = true;
	return 0;
}

int stream_read_record(struct stream_reader *r, struct stream_record *rec)
{
	size_t klen, vlen;
	int rc;

	if (r->ended || r->ntables == 0)
		return fail(r, -EINVAL, "no stream to read");
	rc = read_into(r, 0, 1, "a record");
	if (rc != 0)
		return rc;
	if (r->buf[0] == STREAM_END)
		return read_trailer(r);
	rc = read_into(r, 1, REC_HDR - 1, "a record");
	if (rc != 0)
		return rc;
	rec->type = r->buf[0];
	rec->table = r->buf[1];
	klen = get16(r->buf + 2);
	vlen = get32(r->buf + 4);
	if ((rec->type != STREAM_PUT && rec->type != STREAM_DEL) ||
	    rec->table >= r->ntables || klen == 0 || klen > STREAM_MAX_KEY ||
	    vlen > STREAM_MAX_VALUE || (rec->type == STREAM_DEL && vlen))
		return fail(r, -EBADMSG,
		            "the stream is damaged (record %llu, at byte "
		            "%llu)",
		            (unsigned long long)r->records + 1,
		            (unsigned long long)r->bytes - REC_HDR);
	rc = read_into(r, REC_HDR, klen + vlen, "a record");
	if (rc == 0)
		rc = check_sum(r, 0, REC_HDR + klen + vlen, "a record's");
	if (rc != 0)
		return rc;
	rec->key = r->buf + REC_HDR;
	rec->klen = klen;
	rec->val = r->buf + REC_HDR + klen;
	rec->vlen = vlen;
	r->records++;
	return 1;
}
