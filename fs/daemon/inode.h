/*
 * inode: the in-memory table of inode numbers the kernel knows, mapping
 * ino <-> path, with lookup counts and open counts.  Used by the handlers
 * (daemon.h) and notify.c; uses pathmap and clock.h.  One mutex guards
 * the whole table (itab_lock()).
 *
 * Rules (fuse_lowlevel.h): every successful lookup, create, mkdir, symlink
 * or readdirplus entry adds one to nlookup; forget subtracts.  An inode is
 * freed when nlookup and opens are both zero.  Inode numbers are never
 * reused while mounted, so an ino is stable for a path as long as the
 * kernel holds it.  Renames re-key inodes (and every inode below a renamed
 * folder) so open files follow their path.  An inode whose path is removed
 * or replaced is detached: path NULL, still alive for its open handles.
 */
#ifndef CCCFS_FS_INODE_H
#define CCCFS_FS_INODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct fs_handle;
struct content_copy; /* handle.c: a reference-counted copy of a content */

#define KVERSION_UNKNOWN UINT64_MAX

/*
 * What the version and page-cache policy (cache.c) keeps of an inode,
 * under the itab lock like the rest of it: its writers and the commits
 * replacing its content, what the kernel's caches hold of it, and what
 * the readers of a detached inode keep.
 */
struct cache_state {
	unsigned writers;    /* handles open for writing */
	unsigned committing; /* commits replacing the content in flight
	                           (they keep the inode alive) */
	uint64_t gen;        /* bumped when such a commit ends */
	uint64_t saves;      /* content commits through handles, the same
	                           content again included (file.c) */
	/* The kernel's page cache ("Reads and the page cache" in cache.c) */
	unsigned cached;     /* open handles reading through it */
	unsigned direct;     /* read-only handles on direct I/O: a private
	                           mmap of one fills the page cache with its
	                           version, so none may be cached meanwhile */
	uint64_t kversion;   /* the content version in the page cache: 0
	                           none (never, or none since an
	                           invalidation), KVERSION_UNKNOWN not known */
	uint64_t kuses;      /* opens and releases of handles that may fill
	                           the page cache (cached, or direct with a
	                           private mapping) */
	bool filling;        /* a prefill is storing pages: no other
	                           handle may read through the cache yet */
	bool kstale;         /* the kernel's size may not be the committed
	                           one: no new handle may use the cache */
	uint64_t kseq;       /* bumped by every itab_kdirty_locked() */
	uint64_t kclean_seq; /* kseq an invalidation completed after */
	int64_t hold_until;  /* a writer moved here from cached readers is
	                           on its way (clock_mono_ns(); 0: none);
	                           holds one lookup of its own until then */
	bool rdc_reset;      /* a listing was left half read: the kernel's
	                           cache of it may be stuck half filled */
	bool frozen;         /* detached: attributes of the version its
	                           readers keep, for fstat and the kernel */
	struct stat frozen_st;
	struct content_copy *gone; /* detached by an unlink or a rename
	                           over it: its content, for an open whose
	                           lookup came before (as an unlinked file
	                           opens on ext4); dropped with the inode */
};

struct fs_inode {
	uint64_t ino;
	uint64_t st_ino; /* the number stat shows: ino, or that of the
	                         inode a writer was moved away from
	                         (move_from_readers in cache.c), since a file
	                         rewritten in place keeps its number */
	char *path;      /* NULL once detached */
	uint32_t type;   /* S_IFDIR, S_IFREG, S_IFLNK */
	uint64_t nlookup;
	unsigned opens;
	bool pinned;               /* root and top folders: never freed */
	struct fs_handle *handles; /* open file handles */
	struct cache_state cache;  /* cache.c's */
	struct fs_inode *next_ino, *next_path;
};

int itab_init(void);
/* How to drop fs_inode.cache.gone when an inode is freed. */
void itab_set_gone_put(void (*put)(struct content_copy *));
void itab_release(void);
void itab_lock(void);
void itab_unlock(void);

/* With the lock held: the inode of ino (NULL if unknown), of path. */
struct fs_inode *itab_get(uint64_t ino);
struct fs_inode *itab_find_path(const char *path);

/* Copy of the path of ino (malloc'd) or -ENOENT/-ESTALE. Takes the lock. */
int itab_path(uint64_t ino, char **path, uint32_t *type);

/* Find or create the inode for path and add one lookup (lock taken
 * inside).  Returns the ino or 0 on -ENOMEM. */
uint64_t itab_ref_path(const char *path, uint32_t type);
/* The same with the lock held; returns the inode or NULL on -ENOMEM. */
struct fs_inode *itab_ref_path_locked(const char *path, uint32_t type);
/* Pin an inode for path with a fixed number (root, top folders). */
int itab_pin(uint64_t ino, const char *path, uint32_t type);
/* The ino of path if the kernel knows it, else 0 (lock taken inside). */
uint64_t itab_peek(const char *path);
/* The number stat shows for ino (its st_ino; ino itself if unknown).
 * Takes the lock. */
uint64_t itab_st_ino(uint64_t ino);

/* Drop n lookups (forget); frees the inode when unused. */
void itab_forget(uint64_t ino, uint64_t n);
/* Open count (with the lock held for close_locked). */
void itab_open(struct fs_inode *in);
void itab_close(struct fs_inode *in);

/* Call fn for every inode, with the lock held (fn must not take it). */
void itab_each(void (*fn)(struct fs_inode *in, void *ctx), void *ctx);

/* With the lock held: free the inode if nothing uses it any more. */
void itab_maybe_free_locked(struct fs_inode *in);

/* With the lock held: the kernel may hold a size or pages of in that are
 * not its committed content; see itab_kclean(). */
void itab_kdirty_locked(struct fs_inode *in);
/* What an invalidation of the kernel's cache of ino starts from: kseq
 * and kuses (zeros if ino is unknown).  After the invalidation,
 * itab_kclean() clears kstale if nothing dirtied ino since and no handle
 * writes it; and if no handle that could fill the page cache was open at
 * any time since (none now, kuses unchanged), the kernel holds no page of
 * it: kversion becomes 0, so the next cached open stores its pages with
 * the open instead of leaving them to READs.  Both take the lock. */
struct kmark {
	uint64_t seq, uses;
};
struct kmark itab_kmark(uint64_t ino);
void itab_kclean(uint64_t ino, struct kmark m);

/* With the lock held: drop the hold of in and the lookup it kept (the
 * writer came, or will not).  The caller keeps in alive. */
void itab_hold_drop_locked(struct fs_inode *in);

/* With the lock held: detach the inode at path (unlink, replaced).
 * Returns it, or NULL if nothing held it (freed). */
struct fs_inode *itab_detach_locked(const char *path);
/* With the lock held: move every inode at or below from to below to. */
int itab_move_locked(const char *from, const char *to);
/* With the lock held: swap the inodes at and below a and b. */
int itab_exchange_locked(const char *a, const char *b);

#endif
