/*
 * cccfs kv: a transactional, copy-on-write, mmap-based B+tree in one file.
 *
 * This header is the whole public interface of the engine and its manual.
 *
 *   - One database file of fixed-size pages, growing as needed.  There is no
 *     map size to configure: the file and the mapping grow on demand.
 *   - Named tables (a catalog of name -> tree), created on first use.
 *   - One writer at a time; any number of readers in any thread or process.
 *     Each reader sees the committed state it began with (MVCC).  Readers
 *     never block the writer and the writer never blocks readers.
 *   - Values returned by kv_get() and cursors point straight into the map and
 *     stay valid until the transaction that returned them ends.
 *   - Commits are copy-on-write: a page reachable from the last durable
 *     commit is never overwritten.  A durable commit costs one synced write
 *     of its commit-log record; a checkpoint, now and then, one fdatasync.
 *   - Every page carries a checksum, checked at recovery and by kv_check().
 *   - Named persistent snapshots, readable and restorable.
 *
 * Errors: every function returning int returns 0 on success, a negative errno
 * value (-EIO, -ENOSPC, -ENOMEM, -EINVAL, ...) or one of the negative KV_E*
 * codes below.  kv_strerror() gives static text for any code; kv_errmsg()
 * gives the calling thread's last detailed message (e.g. "page 812: checksum
 * mismatch").
 *
 * Threads: a kv_env may be shared by threads.  A kv_txn and its cursors must
 * be used by one thread at a time.
 */
#ifndef CCCFS_KV_H
#define CCCFS_KV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KV_BUILDING) && defined(__GNUC__)
#define KV_API __attribute__((visibility("default")))
#else
#define KV_API
#endif

#define KV_VERSION_STRING "0.1.0"

typedef struct kv_env kv_env;
typedef struct kv_txn kv_txn;
typedef struct kv_table kv_table;
typedef struct kv_cursor kv_cursor;

/* A byte string.  For inputs, data must stay valid for the call only. */
typedef struct kv_val {
	const void *data;
	size_t len;
} kv_val;

/*
 * Library error codes: a reserved negative band, below every -errno and
 * clear of its neighbours.  Berkeley DB uses -30800 to -30999 and LMDB the
 * hundred codes above it (-30799 to -30700, MDB_KEYEXIST upwards); ours
 * count up from -30599 and end at KV_ERRCODE_LAST, so a program that links
 * both engines (the benchmark does) can tell their codes apart.
 */
enum {
	KV_ENOTFOUND = -30599, /* key, table or snapshot does not exist */
	KV_EEXIST = -30598,    /* key or name exists (KV_NOOVERWRITE) */
	KV_EBUSY = -30597,     /* another writer holds the write lock */
	KV_ECORRUPT =
	        -30596, /* the file failed a checksum or structure check */
	KV_EVERSION = -30595, /* the file has a format version we cannot read */
	KV_ENOTDB = -30594,   /* the file is not a cccfs kv database */
	KV_EFATAL = -30593,   /* an I/O failure left the durable state unknown;
	                          close and reopen the environment */
	KV_EREADONLY = -30592, /* write attempted in a read-only txn or env */
	KV_EKEYSIZE = -30591,  /* key empty or longer than KV_MAX_KEY */
	KV_EVALSIZE = -30590,  /* value longer than KV_MAX_VALUE */
	KV_EREADERS = -30589,  /* the reader table is full */
	KV_ELOCKED = -30588,   /* the database is locked by another user
	                          (kv_env_lock_exclusive) */
	KV_EORDER = -30587,    /* KV_APPEND with a key not above the last */
	KV_EBADNAME = -30586,  /* table or snapshot name empty or too long */
	KV_ENOREADER = -30585, /* cannot register as a reader: the lock file
	                          is not writable and the database file
	                          cannot be locked (kv_env_open) */
	KV_ERRCODE_LAST = KV_ENOREADER,
};

/* The band reserved for KV_E* codes, now and in later versions. */
#define KV_ERRCODE_MIN (-30599)
#define KV_ERRCODE_MAX (-30500)

/* Nonzero when rc is one of the KV_E* codes rather than a -errno value. */
static inline int kv_is_kv_error(int rc)
{
	return rc >= KV_ERRCODE_MIN && rc <= KV_ERRCODE_MAX;
}

#define KV_MAX_KEY 1024u                     /* bytes */
#define KV_MAX_VALUE (1024u * 1024u * 1024u) /* 1 GiB */
#define KV_MAX_NAME 255u                     /* table and snapshot names */

/* kv_env_open() flags */
#define KV_CREATE 0x1u /* create the file if missing */
#define KV_RDONLY 0x2u /* open read-only: no write transactions */

/* kv_txn_begin() flags */
#define KV_TXN_RDONLY 0x1u

/* kv_put() flags */
#define KV_NOOVERWRITE 0x1u /* fail with KV_EEXIST if the key exists */
/* key is above every key in the table (bulk load); KV_EORDER otherwise.
   Leaves fill completely. */
#define KV_APPEND 0x2u

/* kv_table_open() flags */
#define KV_TABLE_CREATE 0x1u

enum kv_durability {
	KV_DURABLE_IMMEDIATE = 0, /* survives power loss once commit returns */
	KV_DURABLE_NONE = 1,      /* atomic and crash-consistent; a power loss
	                             may roll back to the last durable commit */
};

/*
 * File operations the engine performs through a replaceable table, so that
 * tests can inject faults.  All return 0 or a negative errno.  pwrite writes
 * all len bytes or fails.  Reads are served by the map and are not routed
 * here.  Pass NULL to kv_env_open_io() for the default POSIX table.
 * pwrite_sync writes like pwrite and returns once those bytes (not
 * necessarily others) are on stable storage; when it is NULL the engine
 * calls pwrite, then sync.
 */
struct kv_io {
	void *ctx;
	int (*pwrite)(void *ctx, int fd, const void *buf, size_t len,
	              uint64_t off);
	int (*sync)(void *ctx, int fd);
	int (*truncate)(void *ctx, int fd, uint64_t size);
	int (*pwrite_sync)(void *ctx, int fd, const void *buf, size_t len,
	                   uint64_t off);
};
KV_API const struct kv_io *kv_io_posix(void);

/* ---- environments ---------------------------------------------------- */

/* The lock file's name: the database's path followed by this. */
#define KV_LOCK_SUFFIX "-lock"

/*
 * Open (or with KV_CREATE create, with the given mode, e.g. 0600) the
 * database at path.  A lock file "path-lock" beside it holds the reader table
 * and the writer lock; it is created with mode 0600, before the database
 * is.  A failed open removes what it created: nothing is left beside a
 * file that is no database, and no database without its lock file (a
 * KV_RDONLY open on read-only media goes without one).  The first opener
 * after a crash repeats the commits the commit log holds beyond the last
 * intact commit, in one checkpoint; a KV_RDONLY opener does so through a
 * read-write open first, and fails with that open's error (the message says
 * how many commits wait) when it cannot write.  An environment belongs to
 * the process that opened it (its locks and reader slots are that
 * process's): a child of fork() opens its own.
 *
 * Readers without the lock file.  A KV_RDONLY open that cannot open the
 * lock file for writing (another user's store whose file is readable by
 * others; read-only media) still reads safely beside a live writer: each
 * read transaction registers with a shared byte lock on the database file
 * itself (a "pin" on the commit it reads), which any process that can read
 * the file can take and every writer honours, and reads the committed
 * state from the meta slots.  Where the database file cannot be locked
 * either, the open fails with KV_ENOREADER (the message names the lock
 * file), unless its file system is mounted read-only: then nobody writes
 * it, and nothing needs pinning.
 * Errors: -errno from open, KV_ENOTDB, KV_EVERSION, KV_ECORRUPT, -ENOSPC
 * (recovery), -ENOMEM, KV_ENOREADER.  An error about the lock file rather
 * than the database has a kv_errmsg() that starts with the lock file's
 * path and ": ".
 */
KV_API int kv_env_open(kv_env **out, const char *path, unsigned flags,
                       int mode);
KV_API int kv_env_open_io(kv_env **out, const char *path, unsigned flags,
                          int mode, const struct kv_io *io);
/* Closes the environment.  Every transaction must have ended. */
KV_API void kv_env_close(kv_env *env);

/*
 * Take an advisory "server" lock: at most one process holds it at a time.
 * The FUSE daemon takes it so that two daemons never serve one database.
 * Readers and other writers are not affected.  KV_ELOCKED if held elsewhere.
 */
KV_API int kv_env_lock_exclusive(kv_env *env);

/* Make every non-durable commit durable: one synced write of the commit
 * log's unsynced records, or one fsync when the log does not hold them. */
KV_API int kv_env_sync(kv_env *env);

/*
 * Sync the whole file (one fsync): the current state becomes the one a
 * power loss falls back to, and the pages that the commits since the last
 * checkpoint freed, which the log kept for recovery, can be reused.
 * Commits do this by themselves when the log fills or the file has grown a
 * quarter since; call it to get the space back at once.
 */
KV_API int kv_env_checkpoint(kv_env *env);

struct kv_stat {
	uint32_t page_size;
	uint64_t file_size;     /* bytes on disk */
	uint64_t pages_total;   /* pages below the high-water mark */
	uint64_t pages_free;    /* reusable now */
	uint64_t pages_pending; /* freed, held by a reader, snapshot or
	                            the last durable commit */
	uint64_t txnid;         /* last committed transaction */
	uint64_t durable_txnid; /* last commit known to be on stable storage */
	int64_t commit_time_ns; /* CLOCK_REALTIME of the last commit */
	uint64_t tables;
	uint64_t snapshots;
	uint64_t readers;           /* live read transactions, all processes
	                            (one for each commit a reader without the
	                            lock file reads, kv_env_open) */
	uint64_t rolled_back_txnid; /* when this env was opened, the newest
	                               commit was incomplete (a crash during
	                               it) or damaged, and recovery used the
	                               one before: its txnid; else 0 */
	uint64_t recovered;         /* commits the commit log repeated when
	                            this env was opened (after a crash) */
	uint64_t log_size;          /* bytes of the commit log (kv/log.c) */
	uint64_t log_used;          /* of them, records since the last
	                            checkpoint */
};
KV_API int kv_env_stat(kv_env *env, struct kv_stat *st);
KV_API const char *kv_env_path(const kv_env *env);

/* ---- transactions ---------------------------------------------------- */

/*
 * Begin a transaction.  A write transaction (flags 0) waits for the write
 * lock; kv_txn_try_begin() returns KV_EBUSY instead.  A read transaction
 * (KV_TXN_RDONLY) never waits.
 * Errors: KV_EREADONLY (write txn on a KV_RDONLY env), KV_EREADERS,
 * KV_EFATAL, -ENOMEM.
 */
KV_API int kv_txn_begin(kv_env *env, unsigned flags, kv_txn **out);
KV_API int kv_txn_try_begin(kv_env *env, unsigned flags, kv_txn **out);
/* A read transaction on a persistent snapshot.  KV_ENOTFOUND if none. */
KV_API int kv_txn_begin_snapshot(kv_env *env, const char *name, kv_txn **out);

/* Durability of this write transaction's commit (default IMMEDIATE). */
KV_API void kv_txn_set_durability(kv_txn *txn, enum kv_durability d);

/*
 * Commit and end the transaction.  The txn is freed whatever the result.
 * For a read transaction this is the same as kv_txn_abort().
 * On failure nothing of the transaction is visible and the store keeps its
 * previous state.  Errors: -EIO, -ENOSPC, -ENOMEM, KV_EFATAL.
 * After -ENOSPC the committed state is synced, and later commits are
 * durable until one needs as much of the file as the failed one: on a
 * full disk the pages each commit frees are then reusable at once.
 */
KV_API int kv_txn_commit(kv_txn *txn);
KV_API void kv_txn_abort(kv_txn *txn);

/* Transaction id this txn reads (read txn) or will commit as (write txn). */
KV_API uint64_t kv_txn_id(const kv_txn *txn);
/* The id of the commit a write txn builds on (a read txn: its id).  A
 * write txn's id is larger, and not always by one: the first commit after
 * the store is opened skips ids (txnids are never reused), so a gap in
 * the ids is no sign of a commit in between. */
KV_API uint64_t kv_txn_base_id(const kv_txn *txn);
KV_API int kv_txn_is_readonly(const kv_txn *txn);

/* ---- tables ---------------------------------------------------------- */

/*
 * Open a table by name for the life of txn.  With KV_TABLE_CREATE (write txn
 * only) a missing table is created.  Names are 1..KV_MAX_NAME bytes.
 * Errors: KV_ENOTFOUND, KV_EBADNAME, KV_EREADONLY.
 */
KV_API int kv_table_open(kv_txn *txn, const char *name, unsigned flags,
                         kv_table **out);
/* Entry count in O(1). */
KV_API uint64_t kv_table_count(const kv_table *t);
KV_API const char *kv_table_name(const kv_table *t);
/* Drop a table and free its pages.  Handles to it become invalid. */
KV_API int kv_table_drop(kv_txn *txn, const char *name);
/* Call fn for each table in name order; a non-zero return stops and is
 * returned. */
KV_API int kv_table_list(kv_txn *txn,
                         int (*fn)(void *ctx, const char *name, uint64_t count),
                         void *ctx);

/* What kv_table_diff() read, and what it could leave unread. */
struct kv_diff_stat {
	uint64_t pages_read;       /* branch and leaf pages of the table, both
	                              sides, plus every page of each overflow
	                              value compared or passed to fn */
	uint64_t subtrees_skipped; /* subtrees the two sides share, passed
	                              over unread */
};

/*
 * Call fn for every key whose value differs between table name as txn a
 * sees it and as txn b sees it, in key order: va.data is NULL when the key
 * is only in b, vb.data NULL when it is only in a (an empty value has a
 * non-NULL data).  a and b belong to one environment: say, a read txn on a
 * snapshot (kv_txn_begin_snapshot()) and a read or write txn on the live
 * state; they may be the same txn.  A table one side lacks counts as empty
 * there.  Values equal byte for byte are not reported, wherever they are
 * stored.
 *
 * Cost: subtrees whose page is the same on both sides are passed over
 * without being read (copy-on-write shares them), so it is proportional
 * to what changed, not to the table: a few root-to-leaf paths per changed
 * key.  stat (may be NULL) gets what was read, even when the walk stops
 * early; looking the table up in each catalog is not counted.
 *
 * key, va and vb point into the map (or a write txn's own pages) and stay
 * valid as long as a value from kv_get() would.  fn must not change either
 * txn's tables.  A non-zero return from fn stops the walk and is returned.
 * Errors: KV_EBADNAME, -EINVAL (a NULL argument, or txns of two
 * environments), KV_ECORRUPT, or the error that failed a write txn.
 */
KV_API int kv_table_diff(kv_txn *a, kv_txn *b, const char *name,
                         int (*fn)(void *ctx, kv_val key, kv_val va, kv_val vb),
                         void *ctx, struct kv_diff_stat *stat);

/* ---- records --------------------------------------------------------- */

/*
 * Look up key.  *val points into the map (or the txn's own dirty pages) and
 * stays valid until the transaction ends or, in a write transaction, until
 * the next change to the same table.  Errors: KV_ENOTFOUND, KV_EKEYSIZE,
 * KV_ECORRUPT.
 */
KV_API int kv_get(kv_txn *txn, kv_table *t, kv_val key, kv_val *val);
/* Insert or replace.  Errors: KV_EEXIST (KV_NOOVERWRITE), KV_EORDER
 * (KV_APPEND), KV_EKEYSIZE, KV_EVALSIZE, KV_EREADONLY, -ENOMEM, -ENOSPC. */
KV_API int kv_put(kv_txn *txn, kv_table *t, kv_val key, kv_val val,
                  unsigned flags);
/* Delete key.  KV_ENOTFOUND if it is absent. */
KV_API int kv_del(kv_txn *txn, kv_table *t, kv_val key);

/* ---- cursors --------------------------------------------------------- */

/*
 * A cursor walks a table in key order.  Positioning calls fill key and val
 * (either may be NULL) and return KV_ENOTFOUND past either end.  In a write
 * transaction a cursor stays usable across changes: it re-finds its place
 * by key.  The cursor must be closed before its transaction ends.
 */
KV_API int kv_cursor_open(kv_txn *txn, kv_table *t, kv_cursor **out);
KV_API void kv_cursor_close(kv_cursor *c);
KV_API int kv_cursor_first(kv_cursor *c, kv_val *key, kv_val *val);
KV_API int kv_cursor_last(kv_cursor *c, kv_val *key, kv_val *val);
KV_API int kv_cursor_next(kv_cursor *c, kv_val *key, kv_val *val);
KV_API int kv_cursor_prev(kv_cursor *c, kv_val *key, kv_val *val);
/* Position at the first key >= key. */
KV_API int kv_cursor_seek(kv_cursor *c, kv_val key, kv_val *okey, kv_val *oval);

/* ---- snapshots ------------------------------------------------------- */

#define KV_SNAPSHOT_ID_LEN 16

struct kv_snapshot_info {
	char name[KV_MAX_NAME + 1];
	uint64_t txnid;     /* the commit the snapshot preserves */
	int64_t created_ns; /* CLOCK_REALTIME at creation */
	uint64_t records;   /* entries in all its tables */
	/* Random at creation and never zero; kept by rename, and given to a
	 * copy made elsewhere with kv_snapshot_seal().  A snapshot made
	 * before ids existed (format 2) has one derived from its txnid and
	 * creation time: stable, and written out by its next rename. */
	uint8_t id[KV_SNAPSHOT_ID_LEN];
};

/*
 * Create a named snapshot of the last committed state (the state txn began
 * from, without txn's own changes), in O(1).  It becomes permanent when txn
 * commits.  Errors: KV_EEXIST, KV_EBADNAME.
 */
KV_API int kv_snapshot_create(kv_txn *txn, const char *name);
/*
 * Create snapshot name of the state txn will commit, its own changes
 * included, with the given id (not all zero) and creation time (0: now):
 * for a snapshot received from another store.  Its txnid is txn's own
 * id.  It is txn's last change: after it the txn is sealed, and every
 * change (tables or snapshots) fails with KV_EREADONLY; commit or abort
 * it.  Nothing of it stays when txn aborts.
 * Errors: KV_EEXIST, KV_EBADNAME, KV_EREADONLY, -EINVAL (a zero id),
 * -ENOMEM, -ENOSPC.
 */
KV_API int kv_snapshot_seal(kv_txn *txn, const char *name,
                            const uint8_t id[KV_SNAPSHOT_ID_LEN],
                            int64_t created_ns);
/* Delete; its pages are freed once nothing else holds them.  The commit
 * of a transaction that deletes a snapshot is always durable
 * (KV_DURABLE_IMMEDIATE), so that a power loss can never bring back a
 * snapshot whose pages were already reused. */
KV_API int kv_snapshot_delete(kv_txn *txn, const char *name);
KV_API int kv_snapshot_rename(kv_txn *txn, const char *from, const char *to);
/*
 * Make the snapshot's tables the live state of txn: tables absent from the
 * snapshot are dropped, the others replaced.  The snapshot itself remains.
 * Every open table handle of txn becomes invalid.
 */
KV_API int kv_snapshot_restore(kv_txn *txn, const char *name);
/*
 * Restore only the n tables named in tables[] from the snapshot: each
 * becomes the snapshot's table of that name, or is dropped when the
 * snapshot has none; every other table is left as it is, and so are its
 * open handles (those of the named tables become invalid).  A name may
 * repeat, and a name neither side has is no error.  The cost is one walk
 * of the named tables, in the snapshot and live.
 * Errors: KV_ENOTFOUND (no such snapshot), KV_EBADNAME, KV_EREADONLY,
 * -EINVAL (tables NULL with n > 0), -ENOMEM, KV_ECORRUPT.
 */
KV_API int kv_snapshot_restore_tables(kv_txn *txn, const char *name,
                                      const char *const *tables, size_t n);
/* In a transaction opened with kv_txn_begin_snapshot() only that snapshot
 * is known (kv_snapshot_list() lists nothing there). */
KV_API int kv_snapshot_get(kv_txn *txn, const char *name,
                           struct kv_snapshot_info *info);
/* In creation (txn id) order. */
KV_API int kv_snapshot_list(kv_txn *txn,
                            int (*fn)(void *ctx,
                                      const struct kv_snapshot_info *s),
                            void *ctx);
/* 1 when the snapshot holds exactly the tables of the state txn began
 * from (nothing changed since it was taken), 0 when they differ.  O(1). */
KV_API int kv_snapshot_same(kv_txn *txn, const char *name);
/* Pages that deleting this snapshot would free (held by it alone). */
KV_API int kv_snapshot_space(kv_txn *txn, const char *name, uint64_t *pages);

/* ---- integrity and copies -------------------------------------------- */

struct kv_check_report {
	uint64_t pages_total;
	uint64_t pages_reachable; /* live tree, snapshots, freelist */
	uint64_t pages_free;
	uint64_t pages_pending;
	uint64_t entries;
	uint64_t problems;
};

/*
 * Walk every table and snapshot, verify page checksums, key order, counts
 * and page accounting (every page reachable or free, never both, none lost).
 * Each problem is passed to fn (may be NULL) as one line naming the page.
 * A damaged page of a tree is not followed: its line also names the keys
 * below it, which therefore went unverified ("page 812: checksum mismatch;
 * the keys of table 'prompts' from "a/x", below "b" are not verified").
 * Returns 0 when clean, KV_ECORRUPT when problems were found, or another
 * error if the check could not run.  Works while a writer is active.
 */
KV_API int kv_check(kv_env *env, void (*fn)(void *ctx, const char *msg),
                    void *ctx, struct kv_check_report *rep);

/*
 * A damaged page of a table's tree, as kv_txn_check() reports it: the keys
 * k of the table below it, which it could not verify, are those with
 * first <= k < end, where a bound whose data is NULL is open (the root
 * page covers every key).  When end equals first, the page is the
 * overflow run holding the value of the one key first.  unverified is the
 * number of entries the table's descriptor counts beyond those the check
 * reached, under all the table's damaged pages together (the same in each
 * report of one table); 0 for a snapshot's table, which shares pages and
 * so is never tallied whole.  Every pointer is valid during the call only.
 */
struct kv_check_damage {
	const char *table;
	const char *snapshot; /* the snapshot holding the table; NULL: live */
	uint64_t pgno;
	kv_val first;
	kv_val end;
	uint64_t unverified;
};

/* Where kv_txn_check() reports; any member may be NULL. */
struct kv_check_hooks {
	void (*problem)(void *ctx, const char *msg); /* as kv_check()'s fn */
	void (*damage)(void *ctx, const struct kv_check_damage *d);
	void *ctx;
};

/*
 * kv_check() of the state that txn, a read transaction on the live state
 * (not on a snapshot), reads: so that a caller can go on reading that same
 * state knowing which keys were verified.  Each damaged page of a table is
 * passed to hooks->damage after its line went to hooks->problem.  Errors
 * as kv_check(), and -EINVAL for a write or snapshot transaction.
 */
KV_API int kv_txn_check(kv_txn *txn, const struct kv_check_hooks *hooks,
                        struct kv_check_report *rep);

/*
 * Write a compacted copy of the live state (snapshot == NULL) or of one
 * snapshot to a new file dest (which must not exist), consistent as of one
 * commit, while the writer and readers go on.  The copy holds no snapshots
 * when a snapshot is copied; a copy of the live state keeps the snapshots'
 * metadata out too: it is the live tables only.  The copy is durable when
 * this returns and its file ends at its last page.  It holds about 16 MiB
 * of its tree pages in memory at a time, whatever its size (values longer
 * than a page stay in memory until its commit).
 */
KV_API int kv_env_copy(kv_env *env, const char *dest, const char *snapshot,
                       int mode);
/* The same, calling progress (if not NULL) with the entries copied so far
 * and the total, every 1,024 entries and once at the end. */
KV_API int kv_env_copy_progress(
        kv_env *env, const char *dest, const char *snapshot, int mode,
        void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx);

/* ---- errors ---------------------------------------------------------- */

KV_API const char *kv_strerror(int rc);
/* The calling thread's last detailed message ("" if none). */
KV_API const char *kv_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif /* CCCFS_KV_H */
