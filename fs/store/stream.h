/*
 * stream: the byte format of `cccfs send` and `cccfs receive`, written and
 * read; no kv calls, so the reader can be fuzzed on its own.  Used by
 * send.c; uses libc and xxhash only.
 *
 * A stream is a header, records and a trailer; all integers little-endian,
 * every checksum XXH3-64 (doc/design.md 6.10 has the same tables):
 *
 * Header
 *   off  size  field
 *   0    8     magic "CCCFSSND"
 *   8    4     format version (STREAM_VERSION)
 *   12   4     flags, 0
 *   16   16    source store id
 *   32   16    base snapshot id (all zero: a full stream)
 *   48   16    target snapshot id (never zero)
 *   64   8     target's creation time, ns since the epoch
 *   72   1     tables named below (1..STREAM_MAX_TABLES)
 *   73   1     length of the target's name (1..255)
 *   74   1     length of the base's name (0 for a full stream)
 *   75   ...   the target's name, the base's name (as the sender calls
 *              it, for messages), then each table: u8 length (1..255),
 *              name
 *   ...  8     checksum of every header byte before it
 *
 * Record (a change of one key of one table)
 *   0    1     type: STREAM_PUT or STREAM_DEL
 *   1    1     table: index into the header's tables
 *   2    2     key length (1..STREAM_MAX_KEY)
 *   4    4     value length (STREAM_DEL: 0; at most STREAM_MAX_VALUE)
 *   8    ...   key, value
 *   ...  8     checksum of the record's bytes before it
 *
 * Trailer
 *   0    1     STREAM_END
 *   1    7     zero
 *   8    8     records in the stream
 *   16   8     checksum of every byte of the stream before it
 *
 * Nothing may follow the trailer.  The reader trusts no length or count:
 * every length is bounded before anything is read, a buffer grows with
 * the bytes that actually arrive, and a record counts only once its
 * checksum matches.
 */
#ifndef CCCFS_FS_STREAM_H
#define CCCFS_FS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t inside the structs */
#include <xxhash.h>

#define STREAM_MAGIC "CCCFSSND"
#define STREAM_VERSION 1u
#define STREAM_ID_LEN 16
#define STREAM_MAX_TABLES 32
#define STREAM_MAX_NAME 255
#define STREAM_MAX_KEY 1024u                     /* KV_MAX_KEY */
#define STREAM_MAX_VALUE (1024u * 1024u * 1024u) /* KV_MAX_VALUE */

enum stream_type { STREAM_PUT = 1, STREAM_DEL = 2, STREAM_END = 0xff };

struct stream_header {
	uint32_t version;
	uint8_t store_id[STREAM_ID_LEN];
	uint8_t base_id[STREAM_ID_LEN]; /* zero: a full stream */
	uint8_t target_id[STREAM_ID_LEN];
	int64_t created_ns;
	char name[STREAM_MAX_NAME + 1];
	char base_name[STREAM_MAX_NAME + 1]; /* "" for a full stream */
	unsigned ntables;
	char tables[STREAM_MAX_TABLES][STREAM_MAX_NAME + 1];
};

/* Whether id is all zero (no snapshot). */
bool stream_id_zero(const uint8_t id[STREAM_ID_LEN]);
/* 32 lower-case hex digits and a NUL into out. */
void stream_id_hex(const uint8_t id[STREAM_ID_LEN], char out[33]);

/* ---- writing -------------------------------------------------------------- */

struct stream_writer {
	int fd;
	XXH3_state_t sum;
	uint64_t records;
	uint64_t bytes; /* written so far */
	unsigned char buf[65536];
	size_t used;
};

/* Start a stream to fd with header h. 0 or -errno (of write). */
int stream_write_begin(struct stream_writer *w, int fd,
                       const struct stream_header *h);
/* One record; val is ignored for STREAM_DEL.  0 or -errno. */
int stream_write_record(struct stream_writer *w, enum stream_type type,
                        unsigned table, const void *key, size_t klen,
                        const void *val, size_t vlen);
/* The trailer, and everything buffered out.  0 or -errno. */
int stream_write_end(struct stream_writer *w);

/* ---- reading -------------------------------------------------------------- */

struct stream_record {
	enum stream_type type;
	unsigned table;
	const void *key, *val; /* valid until the next read */
	size_t klen, vlen;
};

struct stream_reader {
	int fd; /* or -1: read from mem */
	const unsigned char *mem;
	size_t mem_len, mem_off;
	XXH3_state_t sum;
	unsigned ntables;
	uint64_t records;
	uint64_t bytes; /* read so far */
	unsigned char *buf;
	size_t cap;
	bool ended;
	char msg[160]; /* why the last call failed */
};

/* A reader of fd, or of the len bytes at mem.  Release it when done. */
void stream_reader_init_fd(struct stream_reader *r, int fd);
void stream_reader_init_mem(struct stream_reader *r, const void *mem,
                            size_t len);
void stream_reader_release(struct stream_reader *r);

/*
 * Read and check the header.  Errors, with r->msg saying what:
 * -EBADMSG (not a stream, damaged or cut short), -EPROTONOSUPPORT (a
 * format version this reader does not know), -errno of read.
 */
int stream_read_header(struct stream_reader *r, struct stream_header *h);
/*
 * The next record: 1 with *rec filled, 0 at the trailer once it and the
 * stream's end check out, or an error as stream_read_header()'s.
 */
int stream_read_record(struct stream_reader *r, struct stream_record *rec);

#endif
