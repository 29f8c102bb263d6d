/*
 * format.h: the on-disk layout of a cccfs kv database, in one place.
 *
 * Used by every kv module that reads or writes page bytes; nothing else in
 * the tree touches raw page bytes.  All integers are little-endian and read
 * and written through the get/put helpers below.
 *
 * The file is an array of KV_PAGE_SIZE pages.  Pages 0 and 1 are the two
 * meta slots; every other page belongs to exactly one of: a B+tree (branch,
 * leaf or the first page of an overflow run), the freelist chain, or the free
 * space (ready or pending reuse).
 *
 * Page header (every page, 32 bytes)
 *   off size field
 *     0    8 checksum   XXH3-64 of bytes [8, end of page or run)
 *     8    8 pgno       the page's own number (catches misdirected writes)
 *    16    8 txnid      the transaction that wrote the page ("born")
 *    24    2 type       PT_META, PT_BRANCH, PT_LEAF, PT_OVERFLOW, PT_FREELIST
 *    26    2 nkeys      nodes in a branch or leaf
 *    28    4 extra      leaf/branch: offset of the lowest node byte ("upper");
 *                       overflow: pages in the run; freelist: entries
 *
 * Branch and leaf pages (slotted)
 *   32 + 2*i: u16 offset of node i; node bytes are packed at the page's end.
 *   Branch node: u64 child pgno, u64 child txnid, u16 klen, key bytes.  The
 *     key of node 0 is empty and means "minus infinity"; node i >= 1 holds a
 *     separator: every key under child i is >= it, every key under child
 *     i-1 is < it.  A parent stores its child's txnid so that recovery and
 *     the checker can tell a stale page from the one the parent expects.
 *   Leaf node: u16 klen, u8 flags, u8 reserved, u32 vlen, key bytes, then
 *     either the value (inline) or, with LN_BIG, an overflow reference:
 *     u64 pgno, u64 txnid of a run holding the value contiguously from
 *     offset 32 of its first page.
 *
 * Meta page (pages 0 and 1)
 *    32    8 magic      KV_MAGIC
 *    40    4 version    KV_FORMAT_VERSION
 *    44    4 page size
 *    48    8 txnid      of the commit this slot describes
 *    56    8 next_pgno  high-water mark: pages >= it are unused
 *    64   56 catalog    tree descriptor (below): table name -> descriptor
 *   120   56 snapshots  tree descriptor: snapshot name -> snapshot record
 *   176    8 freelist head pgno (0: none)
 *   184    8 freelist head txnid
 *   192    8 freelist pages in the chain
 *   200    8 commit time (ns since the epoch, CLOCK_REALTIME)
 *   208    8 log pgno   first page of the commit log's run (0: none)
 *   216    8 log pages  pages in that run
 *   224    8 log epoch  txnid of the checkpoint the log's records follow
 *   232    8 log tail   bytes of records written since that checkpoint
 *   240    8 log flags  LOGF_OPEN: commits after the tail are logged
 *   (format version 1 has no log fields; they read as zero)
 *
 * Tree descriptor (56 bytes; a table's catalog value)
 *     0    8 root pgno (0: empty tree)
 *     8    8 root txnid
 *    16    8 entries
 *    24    8 branch pages
 *    32    8 leaf pages
 *    40    8 overflow pages
 *    48    4 depth (0: empty, 1: a single leaf)
 *    52    4 reserved
 *
 * Snapshot record (value in the snapshots tree, 96 bytes)
 *     0    8 txnid      the commit it preserves
 *     8    8 created    ns since the epoch
 *    16   56 catalog    the catalog tree descriptor of that commit
 *    72    8 records    entries in all its tables
 *    80   16 id         random at creation, kept by rename (format 3)
 *   Formats 1 and 2 store the first 80 bytes only; such a record's id is
 *   derived from its txnid and created time (snapshot.c), and a rename
 *   writes it out in full.
 *
 * Commit log (a run of pages named by the meta; no page headers)
 *   A sequence of records from the run's first byte, each 8-byte aligned:
 *     0    4 magic      LOG_MAGIC
 *     4    4 length     of the operations that follow the header
 *     8    8 epoch      the meta's log epoch when it was written
 *    16    8 txnid      the commit it repeats
 *    24    8 checksum   XXH3-64 of bytes [0, 24) and the operations
 *   then operations, each a u8 code and its fields:
 *     LOP_PUT    u8 name length, name, u16 key length, key,
 *                u32 value length, value
 *     LOP_DEL    u8 name length, name, u16 key length, key
 *     LOP_CREATE u8 name length, name (an empty table was created)
 *     LOP_DROP   u8 name length, name
 *   Records of an epoch are contiguous from offset 0; the first that does
 *   not verify ends the log.  See log.c.
 *
 * Freelist page
 *    32    8 next pgno (0 ends the chain)
 *    40    8 next txnid
 *    48 32*n entries: u64 pgno, u64 npages, u64 born, u64 freed|flags
 *           freed == 0: the run is ready for reuse;
 *           otherwise the run was freed by txn "freed" (low 62 bits) and
 *           was born in txn "born"; FL_META marks freelist pages, which no
 *           snapshot can reach.
 *
 * Commit protocol: see txn.c.  Recovery and the checker: see check.c.
 */
#ifndef CCCFS_KV_FORMAT_H
#define CCCFS_KV_FORMAT_H

#include <stdint.h>
#include <string.h>

#define KV_PAGE_SIZE 4096u
#define KV_MAGIC 0x3156534643434343ull /* "CCCCFSV1" little-endian */
#define KV_FORMAT_VERSION 3u
#define KV_FORMAT_VERSION_MIN 1u /* versions still read */

enum page_type {
	PT_META = 1,
	PT_BRANCH = 2,
	PT_LEAF = 3,
	PT_OVERFLOW = 4,
	PT_FREELIST = 5,
};

/* page header */
#define PH_CHECKSUM 0
#define PH_PGNO 8
#define PH_TXNID 16
#define PH_TYPE 24
#define PH_NKEYS 26
#define PH_EXTRA 28
#define PH_SIZE 32

/* meta fields */
#define MF_MAGIC 32
#define MF_VERSION 40
#define MF_PAGESIZE 44
#define MF_TXNID 48
#define MF_NEXTPG 56
#define MF_CATALOG 64
#define MF_SNAPS 120
#define MF_FL_PGNO 176
#define MF_FL_TXNID 184
#define MF_FL_NPAGES 192
#define MF_TIME 200
#define MF_LOG_PGNO 208
#define MF_LOG_NPAGES 216
#define MF_LOG_EPOCH 224
#define MF_LOG_TAIL 232
#define MF_LOG_FLAGS 240
#define MF_END 248
#define LOGF_OPEN 0x1u

/* commit log records */
#define LOG_MAGIC 0x474f4c43u /* "CLOG" */
#define LR_MAGIC 0
#define LR_LEN 4
#define LR_EPOCH 8
#define LR_TXNID 16
#define LR_CHECK 24
#define LR_HDR 32
enum log_op { LOP_PUT = 1, LOP_DEL = 2, LOP_CREATE = 3, LOP_DROP = 4 };

/* tree descriptor */
#define TD_ROOT 0
#define TD_ROOT_TXN 8
#define TD_COUNT 16
#define TD_BRANCH 24
#define TD_LEAF 32
#define TD_OVERFLOW 40
#define TD_DEPTH 48
#define TD_SIZE 56

/* snapshot record */
#define SR_TXNID 0
#define SR_CREATED 8
#define SR_CATALOG 16
#define SR_RECORDS 72
#define SR_ID 80
#define SR_SIZE 96
#define SR_SIZE_V2 80 /* formats 1 and 2: no id */

/* leaf node */
#define LN_KLEN 0
#define LN_FLAGS 2
#define LN_VLEN 4
#define LN_HDR 8
#define LN_BIG 0x1u
#define LN_BIGREF 16 /* bytes of an overflow reference */

/* branch node */
#define BN_PGNO 0
#define BN_TXNID 8
#define BN_KLEN 16
#define BN_HDR 18

/* freelist page */
#define FP_NEXT 32
#define FP_NEXT_TXN 40
#define FP_ENTRIES 48
#define FP_ENTRY 32
#define FP_PER_PAGE ((KV_PAGE_SIZE - FP_ENTRIES) / FP_ENTRY)
#define FL_META (1ull << 63)

/* Largest node that may live inside a leaf: two must fit in one page. */
#define KV_MAX_NODE ((KV_PAGE_SIZE - PH_SIZE) / 2 - 2)

_Static_assert(MF_END <= KV_PAGE_SIZE, "meta fits a page");
_Static_assert(SR_CATALOG + TD_SIZE == SR_RECORDS, "snapshot record layout");
_Static_assert(SR_ID == SR_SIZE_V2 && SR_ID + 16 == SR_SIZE,
               "snapshot id after the version 2 record");
_Static_assert(BN_HDR + 1024 + 2 < KV_MAX_NODE, "keys of 1 KiB fit a branch");
_Static_assert(LN_HDR + 1024 + LN_BIGREF + 2 < KV_MAX_NODE,
               "keys of 1 KiB fit a leaf with an overflow value");

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v; /* little-endian hosts only; see the check in txn.c */
}
static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cccfs kv stores little-endian integers natively; port get/put first"
#endif

#endif
