/*
 * fuzz_stream.c: the reader of send/receive streams (fs/store/stream.h) on
 * arbitrary bytes.
 *
 * Input: the stream itself.  The header and then records are read until
 * the reader stops; it must stop with 0 (the trailer checked out) or a
 * negative code and a message, never crash, and never hand out a record
 * outside the bounds stream.h sets.  A stream read to its end must be the
 * stream the writer makes of what was read: written again from the
 * header and records, the bytes are the input's.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "stream.h"

#define MAX_KEEP (1u << 20) /* records kept for the rewrite */
/* a kept record: type, table, klen, vlen, then key and value */
#define KEPT_HDR (2 + 2 * sizeof(size_t))

struct kept {
	unsigned char *b;
	size_t len, cap;
};

static void keep(struct kept *k, const struct stream_record *rec)
{
	size_t need = k->len + KEPT_HDR + rec->klen + rec->vlen;

	FUZZ_ASSERT(need <= 4 * (size_t)MAX_KEEP); /* input <= MAX_KEEP */
	if (need > k->cap) {
		k->cap = need * 2;
		k->b = realloc(k->b, k->cap);
		FUZZ_ASSERT(k->b != NULL);
	}
	unsigned char *p = k->b + k->len;
	p[0] = (unsigned char)rec->type;
	p[1] = (unsigned char)rec->table;
	memcpy(p + 2, &rec->klen, sizeof(size_t));
	memcpy(p + 2 + sizeof(size_t), &rec->vlen, sizeof(size_t));
	p += KEPT_HDR;
	memcpy(p, rec->key, rec->klen);
	memcpy(p + rec->klen, rec->val, rec->vlen);
	k->len += KEPT_HDR + rec->klen + rec->vlen;
}

/* Write header and kept records again; compare with the input. */
static void rewrite(const struct stream_header *h, const struct kept *k,
                    const uint8_t *data, size_t size)
{
	static struct stream_writer w;
	FILE *f = tmpfile();
	size_t off = 0;

	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(stream_write_begin(&w, fileno(f), h) == 0);
	while (off < k->len) {
		const unsigned char *p = k->b + off;
		size_t klen, vlen;

		memcpy(&klen, p + 2, sizeof(size_t));
		memcpy(&vlen, p + 2 + sizeof(size_t), sizeof(size_t));
		p += KEPT_HDR;
		FUZZ_ASSERT(stream_write_record(&w, k->b[off], k->b[off + 1], p,
		                                klen, p + klen, vlen) == 0);
		off += KEPT_HDR + klen + vlen;
	}
	FUZZ_ASSERT(stream_write_end(&w) == 0);
	FUZZ_ASSERT((size_t)lseek(fileno(f), 0, SEEK_END) == size);
	unsigned char *back = malloc(size);
	FUZZ_ASSERT(back != NULL);
	FUZZ_ASSERT(pread(fileno(f), back, size, 0) == (ssize_t)size);
	FUZZ_ASSERT(memcmp(back, data, size) == 0);
	free(back);
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct stream_header h;
	struct stream_reader r;
	struct stream_record rec;
	struct kept k = { 0 };
	bool whole = size <= MAX_KEEP;
	int rc;

	stream_reader_init_mem(&r, data, size);
	rc = stream_read_header(&r, &h);
	if (rc == 0) {
		FUZZ_ASSERT(h.version == STREAM_VERSION);
		FUZZ_ASSERT(h.ntables >= 1 && h.ntables <= STREAM_MAX_TABLES);
		FUZZ_ASSERT(!stream_id_zero(h.target_id));
		FUZZ_ASSERT(strlen(h.name) >= 1);
		while ((rc = stream_read_record(&r, &rec)) == 1) {
			FUZZ_ASSERT(rec.type == STREAM_PUT ||
			            rec.type == STREAM_DEL);
			FUZZ_ASSERT(rec.table < h.ntables);
			FUZZ_ASSERT(rec.klen >= 1 &&
			            rec.klen <= STREAM_MAX_KEY);
			FUZZ_ASSERT(rec.type == STREAM_PUT || rec.vlen == 0);
			FUZZ_ASSERT(r.bytes <= size);
			if (whole)
				keep(&k, &rec);
		}
	}
	FUZZ_ASSERT(rc <= 0);
	if (rc < 0)
		FUZZ_ASSERT(r.msg[0] != '\0');
	else if (whole)
		rewrite(&h, &k, data, size);
	free(k.b);
	stream_reader_release(&r);
	return 0;
}
