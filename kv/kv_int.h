/*
 * kv_int.h: the engine's internal structures, shared by the kv/ modules.
 *
 * Layers, from the top.  A file calls into the layers below its own; the
 * few calls that go sideways or up are named after the table.
 *
 *   copy.c                         compacted copies
 *   env.c                          open, recovery, close, sync, stat
 *   check.c                        the integrity check
 *   txn.c  snapshot.c              transactions, snapshots
 *   walk.c  diff.c                 the pages a state reaches, a table
 *                                  in two states compared
 *   catalog.c  cursor.c            tables and records, cursors
 *   btree.c  log.c                 trees, the commit log
 *   pager.c  freelist.c            pages, space
 *   readers.c                      the lock file
 *   os_posix.c  state.c  err.c     system, descriptors, errors
 *
 * Which file calls which (functions of this header and of kv.h):
 *
 *   copy.c      env txn snapshot catalog cursor pager err
 *   env.c       check txn catalog log pager freelist readers os_posix
 *               state err
 *   check.c     txn snapshot walk btree pager freelist state err
 *   txn.c       snapshot catalog log pager freelist readers os_posix state
 *               err
 *   snapshot.c  txn walk catalog btree log pager freelist readers state
 *               err
 *   walk.c      catalog btree
 *   diff.c      catalog btree pager err
 *   catalog.c   btree log state err
 *   cursor.c    btree err
 *   btree.c     pager err
 *   log.c       pager freelist
 *   pager.c     freelist readers state err
 *   freelist.c  walk snapshot txn pager readers err
 *   readers.c   os_posix err
 *   os_posix.c, state.c, err.c: none
 *
 * Sideways and up, on purpose:
 *   - pager.c <-> freelist.c: allocation takes pages from the free state
 *     (fl_take, fl_reclaim, fl_add_*), and the free state writes its
 *     chain through the pager (pgbuf_get, dirty_add_page, page_get);
 *   - txn.c <-> snapshot.c: a write txn begins by loading the snapshots'
 *     txnids (snap_load_txids); snapshot.c reads through read txns
 *     (txn_begin_read_state, kv_txn_abort) and dates its records with
 *     kv_now_ns();
 *   - freelist.c -> walk.c, snapshot.c, txn.c: fl_load() derives the free
 *     state of a commit from what its trees and snapshots reach (walk_*,
 *     snap_each, over a txn_over_state()): the copy-on-write allocator
 *     needs the trees, as LMDB's, SQLite's and redb's do.
 *
 * The on-disk layout lives in format.h alone.
 */
#ifndef CCCFS_KV_INT_H
#define CCCFS_KV_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cccfs/kv.h"
#include "format.h"

#define KV_MAX_DEPTH 40
#define KV_READER_SLOTS 1024u

/* ---- err.c ------------------------------------------------------------ */

int kv_set_err(int rc, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
int kv_corrupt_at(uint64_t pgno, const char *file, int line, const char *what);
/* Report corruption of page pgno; evaluates to KV_ECORRUPT. */
#define KV_CORRUPT(pgno, what) kv_corrupt_at((pgno), __FILE__, __LINE__, (what))

/* ---- os_posix.c ------------------------------------------------------- */

int os_lock(int fd, off_t byte, bool exclusive, bool wait);
int os_unlock(int fd, off_t byte);
/* 1 if another open file description holds a lock on byte, 0 if not. */
int os_lock_held(int fd, off_t byte);
/* A lock of another open file description on bytes [start, start + len)
 * (len 0: to the end of any file): 1 with its range in *at and *n (0: to
 * the end), 0 when there is none, or -errno. */
int os_lock_find(int fd, off_t start, off_t len, off_t *at, off_t *n);
/* Whether fd's file system is mounted read-only. */
bool os_fs_readonly(int fd);
int os_file_size(int fd, uint64_t *size);
int os_fsync_dir(const char *path);
void os_writeback(int fd, uint64_t off, uint64_t len);
int os_writeback_drop(int fd, uint64_t off, uint64_t len);

/* ---- state.c: tree descriptors and committed state -------------------- */

struct tree {
	uint64_t root;
	uint64_t root_txn;
	uint64_t count;
	uint64_t branch_pages;
	uint64_t leaf_pages;
	uint64_t overflow_pages;
	uint32_t depth;
};

void tree_load(struct tree *t, const uint8_t *p);
void tree_store(const struct tree *t, uint8_t *p);

/* What one commit consists of: the content of a meta slot. */
struct state {
	uint64_t txnid;
	uint64_t next_pgno;
	struct tree catalog;
	struct tree snaps;
	uint64_t fl_pgno;
	uint64_t fl_txnid;
	uint64_t fl_npages;
	int64_t time_ns;
	/* the commit log (format.h, log.c) */
	uint64_t log_pgno;
	uint64_t log_npages;
	uint64_t log_epoch;
	uint64_t log_tail;
	uint64_t log_open;
	/* not stored in the meta: shared with the writers of other
	 * processes through the lock file */
	uint64_t log_synced;    /* bytes of the log known to be on disk */
	uint64_t log_durable;   /* last commit made durable by the log */
	uint64_t log_base_pgno; /* next_pgno at the last checkpoint */
};
_Static_assert(sizeof(struct state) <= 32 * 8, "state fits shared.st");

void state_load(struct state *s, const uint8_t *meta);
void state_store(const struct state *s, uint8_t *meta);

/* Both meta slots as read from the file (pager_read_metas). */
struct metas {
	int kind[2];       /* META_* (pager.c) */
	struct state s[2]; /* of the META_OK ones */
	uint64_t sum[2];   /* checksum fields as read: a rewrite changes them */
};

/* ---- readers.c: the lock file ----------------------------------------- */

/*
 * Shared between processes through the lock file's map.  The current state
 * is published under a sequence lock (even = stable).
 */
struct shared {
	uint64_t magic;
	uint32_t version;
	uint32_t nslots;
	_Atomic uint64_t seq;
	_Atomic uint64_t st[32];   /* struct state, as 64-bit words */
	_Atomic uint64_t cur_slot; /* meta slot of the current state */
	_Atomic uint64_t durable_txnid;
	_Atomic uint64_t durable_slot;
	_Atomic uint32_t slots_hw;  /* slots ever claimed: scan this many */
	_Atomic uint64_t txn_floor; /* lowest txnid the next commit may use */
};

/*
 * Txnids are never reused, not even those of commits a power loss took
 * back: pages such a commit wrote may still be on the disk, and recovery
 * tells a page from a stale one by the txnid its parent expects.  Every
 * commit at least KV_MAX_UNSYNCED txnids after the last synced one syncs
 * (txn.c), so no txnid on the disk reaches the last synced one plus that;
 * the first opener moves the next txnid past it (txn_floor).
 */
#define KV_MAX_UNSYNCED (1ull << 20)
#define KV_TXN_GAP (KV_MAX_UNSYNCED + 1)

struct rslot {
	_Atomic uint32_t pid;
	uint32_t pad;
	_Atomic uint64_t txnid; /* 0: idle */
	uint8_t pad2[48];
};

#define LOCK_INIT 0
#define LOCK_ALIVE 1
#define LOCK_WRITER 2
#define LOCK_SERVER 3
#define LOCK_SLOT0 4096

/* Open the lock file (created if missing) and take LOCK_INIT; 1 when this
 * opener is alone and keeps LOCK_INIT to set the file up (readers_setup())
 * and the state, 0 when it joined others, or the error.  A lock file
 * removed while this opener waited for LOCK_INIT (readers_discard()) is
 * opened again. */
int readers_open(kv_env *env);
/* The opener alone sets the lock file up: its size, map and header.  Not
 * before the store file has opened, so that a store that will not open
 * leaves the lock file as it was. */
int readers_setup(kv_env *env);
void readers_close(kv_env *env);
/* The initializing opener has published the state: let others in. */
int readers_init_done(kv_env *env);
/* The initializing opener failed: remove the lock file if its open
 * created it, before it lets the others waiting for LOCK_INIT in. */
void readers_discard(kv_env *env);
void shared_read_state(kv_env *env, struct state *s);
void shared_publish(kv_env *env, const struct state *s, uint64_t slot);
/* Claim a reader slot for this process (pooled); release it. */
int reader_slot_get(kv_env *env, struct rslot **out);
void reader_slot_put(kv_env *env, struct rslot *slot);
/* Set the txnid a slot reads (0: idle); a reader without the lock file
 * also pins it on the database file (readers.c).  0 or KV_ENOREADER. */
int reader_slot_set(kv_env *env, struct rslot *slot, uint64_t txnid);
/* Sorted txnids of every active reader (all processes, pinned ones too),
 * clearing slots whose process died.  *out is malloc'd. */
int readers_collect(kv_env *env, uint64_t **out, size_t *n);
uint64_t readers_count(kv_env *env);

/* ---- the environment -------------------------------------------------- */

struct oldmap {
	struct oldmap *next;
	void *base;
	size_t size;
};

struct fl_entry {
	uint64_t pgno;
	uint64_t n;
	uint64_t born;
	uint64_t freed; /* 0: ready; else freeing txn, maybe | FL_META */
};

struct fl_undo {
	uint64_t pgno, n;
	bool added; /* added to ready (undo: remove) or taken (give back) */
};

struct flstate {
	/* ready pages: bit p % 64 of rbits[p / 64] is set when page p is */
	uint64_t *rbits;
	size_t rwords;         /* words allocated */
	size_t rlow;           /* every word below rlow is zero */
	uint64_t rcount;       /* ready pages */
	struct fl_entry *pend; /* in order of freeing */
	size_t npend, cpend;
	/* changes to ready made by the open write txn, undone on abort */
	struct fl_undo *log;
	size_t nlog, clog;
	bool logging;
	bool log_lost; /* a change that cannot be undone happened */
};

/*
 * Page buffers of the write transaction (pager.c).  Single pages and short
 * runs are cut from slabs of BUF_SLAB_PAGES pages; at the end of each write
 * transaction every buffer is free again, and up to BUF_KEEP_SLABS slabs
 * stay for the next one, which then writes into memory that is already
 * mapped and warm instead of faulting in fresh zeroed pages one at a time.
 */
#define BUF_SLAB_PAGES 512u /* 2 MiB */
#define BUF_MAX_RUN 64u     /* longer runs get an allocation of their own */
#define BUF_KEEP_SLABS 4u
#define WRITE_MAX_PAGES 16u /* longest merged page write (pager.c) */
#define SPILL_MIN 4096u     /* dirty pages before pages are written early */

struct early_writer; /* pager.c */

struct pgbufs {
	uint8_t **slab;
	size_t nslab, cslab;
	size_t cur;     /* slab being cut */
	size_t used;    /* pages cut from it */
	uint8_t **free; /* single pages given back, reused first */
	size_t nfree, cfree;
};

struct kv_env {
	char *path;
	char *lockpath;
	int fd;
	int lfd;
	unsigned flags;
	uint64_t rolled_back;    /* txnid of a newest commit found incomplete at
	                         open (recovery used the one before), or 0 */
	uint64_t recovered;      /* commits the log repeated at open */
	uint64_t short_of_space; /* next_pgno a commit wanted when it failed
	                            with ENOSPC; 0 while the disk has room */
	const struct kv_io *io;
	struct kv_io io_store;

	pthread_mutex_t mu;  /* map, slot pool, caches */
	pthread_mutex_t wmu; /* the writer, within this process */
	uint8_t *map;
	size_t map_size;
	struct oldmap *oldmaps;
	uint64_t file_size;
	uint64_t sized_txnid; /* file_size is right while this is the
	                         current txnid: this env's last commit */
	uint32_t pid;         /* getpid() at open, for the reader slots */

	struct shared *sh; /* lock file map (or private memory) */
	size_t sh_size;
	struct rslot *slots;
	bool private_lock; /* the lock file is not ours to write: pins */
	bool lock_created; /* this open created the lock file */
	struct rslot **pool;
	size_t npool, cpool;

	struct pgbufs bufs; /* the writer's page buffers */
	uint8_t *stage;     /* the writer's buffer for merged writes */
	/* writer caches, valid while their stamps match the state */
	struct flstate fl; /* changed in place by the write txn */
	uint64_t fl_txnid; /* state txnid the free state belongs to */
	/* conditions of the last reclaim: when they hold again, only the
	 * pending runs added since (reclaim_checked on) need a look */
	bool reclaim_valid;
	uint64_t reclaim_durable;
	uint64_t *reclaim_readers, *reclaim_snaps;
	size_t reclaim_nreaders, reclaim_nsnaps, reclaim_checked;

	bool fatal;
	bool server_locked;
	/* a reader without the lock file (private_lock): the meta slots as
	 * its open found them, and the newest txnid of an intact one
	 * (txn_current_state) */
	struct metas seen;
	uint64_t seen_newest;
};

/* ---- pager.c ---------------------------------------------------------- */

struct dpage {
	uint64_t pgno;
	uint64_t n; /* pages (overflow runs) */
	uint8_t *buf;
};

#define DIRTY_CACHE 256u
struct dirty {
	struct dpage *tab; /* open addressing by pgno */
	size_t cap, used;
	/* direct-mapped cache of recent lookups: searches revisit the same
	 * root and branch pages on every change */
	uint64_t cpg[DIRTY_CACHE];
	uint8_t *cbuf[DIRTY_CACHE];
};

struct tblh; /* catalog.c */

struct kv_txn {
	kv_env *env;
	bool rdonly;
	bool snapshot;
	enum kv_durability durability;
	struct state st; /* base, then the state being built */
	uint64_t id;     /* read: st.txnid; write: st.txnid + 1 */
	uint8_t *map;    /* the map this txn reads from */
	size_t map_size;
	struct rslot *slot;
	struct rslot *slot2;

	/* write txns */
	struct dirty dirty;
	struct flstate *fl; /* the environment's, changed in place */
	uint64_t *loose;    /* single pages born and freed in this txn */
	size_t nloose, cloose;
	uint64_t *readers; /* for reclaim decisions */
	size_t nreaders;
	uint64_t *snaptx; /* base-state snapshots, sorted */
	size_t nsnaptx;
	uint64_t durable_txnid;
	bool reclaimed;
	uint64_t changes; /* bumped on every tree change (cursor refind) */
	struct {          /* the leaf the last KV_APPEND put ended in */
		const struct tree *t;
		uint64_t root, changes;
		uint8_t *leaf; /* dirty; valid while changes is txn's */
	} append;
	bool snaps_changed;
	bool snap_deleted; /* forces a durable commit, see snapshot.c */
	bool sealed;       /* kv_snapshot_seal: no table may change now */
	bool failed;
	int failed_rc;
	struct tree base_catalog; /* catalog at begin */
	uint64_t base_txnid;
	uint64_t base_pgno; /* next_pgno of the commit it builds on */

	struct tblh *tables; /* opened tables */
	struct txlog {       /* this txn's changes, for the commit log */
		uint8_t *buf;
		size_t len, cap;
		bool off; /* not loggable: the commit is a checkpoint */
	} lg;
	bool write_early; /* a private build (copy.c): see pager_spill */
	uint64_t spill[WRITE_MAX_PAGES]; /* final pages to write early */
	unsigned nspill;
	struct early_writer *ew; /* writes the pages (pager_spill) */
	bool checkpoint;         /* commit even when nothing changed */
	bool no_log_run; /* a checkpoint that adds no log run (copies) */
	struct kv_snapshot_info self; /* snapshot txns: the snapshot read */
};

/* Page access: a pointer to page pgno for reading, or NULL with
 * KV_ECORRUPT set when pgno is outside the committed file. */
const uint8_t *page_get(kv_txn *txn, uint64_t pgno);
/* page_get without reporting a number out of range (NULL): for hints */
const uint8_t *page_peek(kv_txn *txn, uint64_t pgno);
/* Make page pgno writable in this txn (copy-on-write).  On success *out is
 * the writable copy and *newpg its (maybe new) number. */
int page_touch(kv_txn *txn, uint64_t pgno, uint64_t *newpg, uint8_t **out);
/* Page numbers for a run of n pages, not added to the dirty set. */
int page_alloc(kv_txn *txn, uint64_t n, uint64_t *pgno);
/* A fresh writable run of n pages. */
int page_new(kv_txn *txn, uint64_t n, uint64_t *pgno, uint8_t **out);
/* Free a page or run that the tree no longer references. */
int page_free(kv_txn *txn, uint64_t pgno, uint64_t n, uint64_t born);
bool page_is_dirty(const kv_txn *txn, uint64_t pgno);
/* Add a caller-built page (freelist) to the dirty set. */
int dirty_add_page(kv_txn *txn, uint64_t pgno, uint8_t *buf);
int pager_map(kv_env *env, uint64_t need);
/* Free the dirty set of a txn that is ending; for a write txn every page
 * buffer is then free. */
void dirty_release(kv_txn *txn);
/* A buffer for a run of n pages, or NULL; give it back with pgbuf_put. */
uint8_t *pgbuf_get(kv_env *env, uint64_t n);
void pgbuf_put(kv_env *env, uint8_t *buf, uint64_t n);
/* Unmap the writer's buffers (close). */
void pgbuf_release(kv_env *env);
/* Checksum every dirty page and write them out; ckpt: the commit is a
 * checkpoint, and the file is cut to the pages it needs. */
int pager_write_dirty(kv_txn *txn, bool ckpt);
/* Page pgno, dirty, will not change again in this txn (the full page an
 * append split leaves behind): in a write_early txn past SPILL_MIN dirty
 * pages it is written out early and its buffer reused; it reads from the
 * map after. */
int pager_spill(kv_txn *txn, uint64_t pgno);
/* Wait until the pages pager_spill() queued are written: 0, or the error
 * of the first write that failed. */
int pager_spill_wait(kv_txn *txn);
/* Tests: write early pages in the txn's own thread, as where no thread can
 * be made. */
extern bool pager_no_thread;
uint64_t page_checksum(const uint8_t *p, size_t len);
void page_seal(uint8_t *p, size_t len);
/* What a meta slot holds.  META_NEWER_BADSUM: a newer version whose
 * checksum fails ours, which a newer format may compute otherwise, or a
 * damaged version field. */
enum { META_ABSENT, META_BADSUM, META_NEWER_BADSUM, META_NEWER, META_OK };
/* Read both meta slots from the file: 0 or -ENOMEM.  Slots read the same
 * twice when their kinds and checksum fields are equal. */
int pager_read_metas(kv_env *env, struct metas *m);
bool pager_metas_same(const struct metas *a, const struct metas *b);

/* ---- freelist.c ------------------------------------------------------- */

void fl_release(struct flstate *f);
int fl_load(kv_env *env, uint8_t *map, const struct state *st,
            struct flstate *f);
int fl_add_ready(struct flstate *f, uint64_t pgno, uint64_t n);
/* Room for ready pages below end, so that adding them cannot fail. */
int fl_ready_reserve(struct flstate *f, uint64_t end);
/* Add m ready runs at once (reclaim). */
int fl_merge_ready(struct flstate *f, const struct fl_entry *runs, size_t m);
/* The first maximal run of ready pages at or after *pgno: true with the
 * run in *pgno and *n, false when there is none. */
bool fl_ready_next(const struct flstate *f, uint64_t *pgno, uint64_t *n);
int fl_add_pending(struct flstate *f, uint64_t pgno, uint64_t n, uint64_t born,
                   uint64_t freed);
/* Start logging ready-list changes (txn begin); forget them (commit);
 * undo them and drop pending runs freed by txnid (abort).  fl_undo
 * returns false when the state cannot be restored and must be reloaded. */
void fl_log_begin(struct flstate *f);
void fl_log_end(struct flstate *f);
bool fl_undo(struct flstate *f, uint64_t txnid);
/* Move pending runs nothing can see any more to ready. */
int fl_reclaim(kv_txn *txn);
/* Take n contiguous ready pages; 0 found, KV_ENOTFOUND none. */
int fl_take(struct flstate *f, uint64_t n, uint64_t *pgno);
/* Write the free state as a new chain; updates txn->st.fl_*. */
int fl_save(kv_txn *txn);
/* Return pages born and freed in this txn and trim free pages at the end
 * of the file; every commit does this. */
int fl_settle(kv_txn *txn);
uint64_t fl_ready_pages(const struct flstate *f);
uint64_t fl_pending_pages(const struct flstate *f);
bool fl_visible(const uint64_t *tx, size_t n, uint64_t born, uint64_t freed);

/* ---- btree.c ---------------------------------------------------------- */

struct cur {
	kv_txn *txn;
	struct tree *tree;
	int depth; /* levels on the stack; 0 = not positioned */
	uint64_t pg[KV_MAX_DEPTH];
	const uint8_t *pp[KV_MAX_DEPTH];
	int idx[KV_MAX_DEPTH];
};

/* Node access.  Reads stay inside the page whatever its bytes; a page
 * page_check_nodes() accepted has every node, overflow reference included,
 * inside it. */
const uint8_t *node_at(const uint8_t *page, int i);
uint16_t page_nkeys(const uint8_t *page);
int page_check_nodes(const uint8_t *page, uint64_t pgno);
int leaf_key(const uint8_t *page, int i, kv_val *key);
int leaf_value(kv_txn *txn, const uint8_t *page, int i, kv_val *val);
/* Leaf node i's value is in an overflow run: true with the run's first
 * page, the txnid that wrote it and the value's length; false for an
 * inline value. */
struct bigref {
	uint64_t pgno, txnid;
	uint32_t len;
};
bool leaf_overflow(const uint8_t *page, int i, struct bigref *ref);
/* Branch node i: its child and the child's txnid; its separator key (node
 * 0: empty, minus infinity). */
uint64_t branch_child(const uint8_t *page, int i, uint64_t *txn);
kv_val branch_key(const uint8_t *page, int i);

int bt_get(kv_txn *txn, struct tree *t, kv_val key, kv_val *val);
int bt_put(kv_txn *txn, struct tree *t, kv_val key, kv_val val, unsigned flags);
int bt_del(kv_txn *txn, struct tree *t, kv_val key);
/* Free every page of the tree. */
int bt_drop(kv_txn *txn, struct tree *t);
/* Position at the first key >= key (exact set if equal). */
int bt_seek(struct cur *c, kv_val key, bool *exact);
int bt_first(struct cur *c);
int bt_last(struct cur *c);
int bt_next(struct cur *c);
int bt_prev(struct cur *c);
int bt_cur_get(struct cur *c, kv_val *key, kv_val *val);
int key_cmp(kv_val a, kv_val b);
typedef int (*bt_walk_fn)(void *ctx, uint64_t pgno, uint64_t npages,
                          uint64_t expect_txn, const uint8_t *page, int depth);
int bt_walk(kv_txn *txn, const struct tree *t, bt_walk_fn fn, void *ctx);
/* 0 when page pgno's slot array and nodes lie inside it, else KV_ECORRUPT
 * (the check bt_walk() makes before it goes below a page). */
int bt_page_check(const uint8_t *p, uint64_t pgno);

/* ---- log.c: the commit log ------------------------------------------- */

#define LOG_MAX_PAGES 1024u
void txlog_free(kv_txn *txn);
/* The txn cannot be logged: its commit, if durable, is a checkpoint. */
void txlog_off(kv_txn *txn);
void txlog_put(kv_txn *txn, const char *name, kv_val key, kv_val val);
void txlog_del(kv_txn *txn, const char *name, kv_val key);
void txlog_table(kv_txn *txn, int op, const char *name);
bool log_fits(const kv_txn *txn);
uint64_t log_record_size(const kv_txn *txn);
int log_prepare(kv_txn *txn, bool *fresh);
int log_zero(kv_txn *txn);
int log_append(kv_txn *txn, uint64_t off, bool durable);
int log_sync(kv_env *env, struct state *st);
uint64_t log_pending(kv_env *env, const struct state *st);
/* One record of the log: the commit it repeats and its operations. */
struct log_rec {
	uint64_t txnid;
	const uint8_t *ops;
	uint32_t len;
};
/* The next record recovery repeats after st: at *off, of st's epoch, with
 * txnid *next; advances both.  False at the end of the log. */
bool log_next_pending(const uint8_t *map, const struct state *st, uint64_t *off,
                      uint64_t *next, struct log_rec *r);

/* ---- catalog.c -------------------------------------------------------- */

struct tblh {
	struct tblh *next;
	char *name;
	struct tree tree;
	bool dirty;
	bool dropped;
};

struct kv_table {
	struct tblh h;
};

int catalog_flush(kv_txn *txn);
void catalog_release(kv_txn *txn);
/* Mark the open handle of table name dropped; every handle when NULL. */
void catalog_invalidate(kv_txn *txn, const char *name);
/* The descriptor of table name as txn sees it, with the changes of its open
 * handle.  KV_ENOTFOUND when there is no such table, KV_ECORRUPT. */
int catalog_tree(kv_txn *txn, const char *name, struct tree *out);
/* Walk a catalog tree and every table tree it names. */
int catalog_walk(kv_txn *txn, const struct tree *catalog, bt_walk_fn fn,
                 void *ctx);
int name_check(const char *name);

/* ---- walk.c: the pages a state reaches -------------------------------- */

/* A page run reached again, with the mark it has: 1 to leave it, 0 to walk
 * below it once more, or an error to stop. */
typedef int (*walk_again_fn)(void *ctx, uint64_t pgno, uint64_t npages,
                             uint8_t mark);

struct walk {
	kv_txn *txn;
	uint8_t *mark; /* a byte per page below npages: 0 not reached,
	                         else the phase that reached it; NULL: none */
	uint64_t npages;
	uint8_t phase;       /* the mark runs reached now take; not 0 */
	uint64_t min_txn;    /* only pages written after it; 0: all */
	bt_walk_fn visit;    /* runs reached first, and unreadable ones */
	walk_again_fn again; /* runs reached again; NULL: leave them */
	void *ctx;           /* of visit and again */
};

/* Start a walk of txn's state, with a page map when marks (its only
 * error: -ENOMEM). */
int walk_init(struct walk *w, kv_txn *txn, bool marks, bt_walk_fn visit,
              walk_again_fn again, void *ctx);
void walk_release(struct walk *w);
/* Walk one tree; a catalog and every table tree it names. */
int walk_tree(struct walk *w, const struct tree *t);
int walk_catalog(struct walk *w, const struct tree *catalog);

/* ---- txn.c ------------------------------------------------------------ */

/* A read transaction on the stack over state st in map, registered as no
 * reader: for recovery and rebuilds at open, before readers exist. */
void txn_over_state(kv_txn *txn, kv_env *env, uint8_t *map,
                    const struct state *st);
int txn_begin_read_state(kv_env *env, kv_txn **out);
/* The committed state a reader beginning now reads: the lock file's, or
 * for a reader without it, the meta slots' (txn.c). */
int txn_current_state(kv_env *env, struct state *s);
int64_t kv_now_ns(void);
/* Seal state s into a meta page and write it to meta slot slot. */
int txn_write_meta(kv_env *env, const struct state *s, uint64_t slot);
/* Make the current state durable; the writer lock is held.  full syncs the
 * file even while the log would do. */
int txn_sync_locked(kv_env *env, bool full);

/* ---- snapshot.c ------------------------------------------------------- */

int snap_load_txids(kv_txn *txn, const struct tree *snaps, uint64_t **out,
                    size_t *n);
/* Call fn with the txnid and catalog of each record of the snapshots tree
 * snaps, in name order; a non-zero return stops the walk and is returned.
 * A malformed record is KV_ECORRUPT. */
int snap_each(kv_txn *txn, const struct tree *snaps,
              int (*fn)(void *ctx, uint64_t txnid, const struct tree *cat),
              void *ctx);

/* ---- check.c ---------------------------------------------------------- */

/* Verify every page written after min_txn reachable from st (recovery). */
int check_recent(kv_env *env, uint8_t *map, const struct state *st,
                 uint64_t min_txn);

#endif
