/*
 * inode: ino <-> path table with lookup counts (see inode.h for the rules).
 * Two chained hash tables share the nodes: one by ino, one by path.  Both
 * grow by doubling.  Renames of folders visit every inode (O(inodes in
 * memory)), which stays small next to the store work such a rename does.
 */
#include "clock.h"
#include "inode.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pathmap.h"

static struct {
	pthread_mutex_t lock;
	struct fs_inode **by_ino;
	struct fs_inode **by_path;
	size_t nbuckets; /* power of two, same for both */
	size_t count;
	uint64_t next_ino;
} itab = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t hash_ino(uint64_t ino)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdull;
	ino ^= ino >> 33;
	return (size_t)ino;
}

static size_t hash_path(const char *p)
{
	uint64_t h = 1469598103934665603ull;

	for (; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

int itab_init(void)
{
	itab.nbuckets = 1024;
	itab.by_ino = calloc(itab.nbuckets, sizeof(*itab.by_ino));
	itab.by_path = calloc(itab.nbuckets, sizeof(*itab.by_path));
	itab.next_ino = 16; /* below: root and reserved fixed numbers */
	itab.count = 0;
	if (itab.by_ino == NULL || itab.by_path == NULL) {
		itab_release();
		return -ENOMEM;
	}
	return 0;
}

static void (*gone_put)(struct content_copy *);

void itab_set_gone_put(void (*put)(struct content_copy *))
{
	gone_put = put;
}

static void inode_free(struct fs_inode *in)
{
	if (in->cache.gone && gone_put)
		gone_put(in->cache.gone);
	free(in->path);
	free(in);
}

void itab_release(void)
{
	if (itab.by_ino) {
		for (size_t i = 0; i < itab.nbuckets; i++) {
			struct fs_inode *in = itab.by_ino[i], *next;

			for (; in; in = next) {
				next = in->next_ino;
				inode_free(in);
			}
		}
	}
	free(itab.by_ino);
	free(itab.by_path);
	itab.by_ino = itab.by_path = NULL;
	itab.count = 0;
}

void itab_lock(void)
{
	pthread_mutex_lock(&itab.lock);
}

void itab_unlock(void)
{
	pthread_mutex_unlock(&itab.lock);
}

struct fs_inode *itab_get(uint64_t ino)
{
	struct fs_inode *in = itab.by_ino[hash_ino(ino) & (itab.nbuckets - 1)];

	while (in && in->ino != ino)
		in = in->next_ino;
	return in;
}

struct fs_inode *itab_find_path(const char *path)
{
	struct fs_inode *in =
	        itab.by_path[hash_path(path) & (itab.nbuckets - 1)];

	while (in && strcmp(in->path, path) != 0)
		in = in->next_path;
	return in;
}

static void path_link(struct fs_inode *in)
{
	size_t b = hash_path(in->path) & (itab.nbuckets - 1);

	in->next_path = itab.by_path[b];
	itab.by_path[b] = in;
}

static void path_unlink(struct fs_inode *in)
{
	struct fs_inode **pp =
	        &itab.by_path[hash_path(in->path) & (itab.nbuckets - 1)];

	while (*pp && *pp != in)
		pp = &(*pp)->next_path;
	if (*pp)
		*pp = in->next_path;
	in->next_path = NULL;
}

static void ino_link(struct fs_inode *in)
{
	size_t b = hash_ino(in->ino) & (itab.nbuckets - 1);

	in->next_ino = itab.by_ino[b];
	itab.by_ino[b] = in;
}

static void ino_unlink(struct fs_inode *in)
{
	struct fs_inode **pp =
	        &itab.by_ino[hash_ino(in->ino) & (itab.nbuckets - 1)];

	while (*pp && *pp != in)
		pp = &(*pp)->next_ino;
	if (*pp)
		*pp = in->next_ino;
}

/* Double both tables when they get crowded; failure just keeps chains
 * longer. */
static void maybe_grow(void)
{
	size_t nb = itab.nbuckets * 2;
	struct fs_inode **bi, **bp;

	if (itab.count < itab.nbuckets)
		return;
	bi = calloc(nb, sizeof(*bi));
	bp = calloc(nb, sizeof(*bp));
	if (bi == NULL || bp == NULL) {
		free(bi);
		free(bp);
		return;
	}
	for (size_t i = 0; i < itab.nbuckets; i++) {
		struct fs_inode *in = itab.by_ino[i], *next;

		for (; in; in = next) {
			size_t b = hash_ino(in->ino) & (nb - 1);

			next = in->next_ino;
			in->next_ino = bi[b];
			bi[b] = in;
			if (in->path) {
				b = hash_path(in->path) & (nb - 1);
				in->next_path = bp[b];
				bp[b] = in;
			}
		}
	}
	free(itab.by_ino);
	free(itab.by_path);
	itab.by_ino = bi;
	itab.by_path = bp;
	itab.nbuckets = nb;
}

static struct fs_inode *inode_new(uint64_t ino, const char *path, uint32_t type)
{
	struct fs_inode *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return NULL;
	in->path = strdup(path);
	if (in->path == NULL) {
		free(in);
		return NULL;
	}
	in->ino = in->st_ino = ino;
	in->type = type;
	maybe_grow();
	ino_link(in);
	path_link(in);
	itab.count++;
	return in;
}

int itab_pin(uint64_t ino, const char *path, uint32_t type)
{
	struct fs_inode *in;

	itab_lock();
	in = inode_new(ino, path, type);
	if (in)
		in->pinned = true;
	itab_unlock();
	return in ? 0 : -ENOMEM;
}

int itab_path(uint64_t ino, char **path, uint32_t *type)
{
	struct fs_inode *in;
	int rc = 0;

	itab_lock();
	in = itab_get(ino);
	if (in == NULL)
		rc = -ESTALE;
	else if (in->path == NULL)
		rc = -ENOENT;
	else if ((*path = strdup(in->path)) == NULL)
		rc = -ENOMEM;
	else if (type)
		*type = in->type;
	itab_unlock();
	return rc;
}

struct fs_inode *itab_ref_path_locked(const char *path, uint32_t type)
{
	struct fs_inode *in = itab_find_path(path);

	if (in && in->type != type) {
		/* The path now holds another kind of entry: the old inode
		 * belongs to a removed file. */
		path_unlink(in);
		free(in->path);
		in->path = NULL;
		in = NULL;
	}
	if (in == NULL)
		in = inode_new(itab.next_ino++, path, type);
	if (in)
		in->nlookup++;
	return in;
}

uint64_t itab_ref_path(const char *path, uint32_t type)
{
	struct fs_inode *in;
	uint64_t ino;

	itab_lock();
	in = itab_ref_path_locked(path, type);
	ino = in ? in->ino : 0;
	itab_unlock();
	return ino;
}

void itab_kdirty_locked(struct fs_inode *in)
{
	in->cache.kseq++;
	in->cache.kstale = true;
}

struct kmark itab_kmark(uint64_t ino)
{
	struct kmark m = { 0, 0 };
	struct fs_inode *in;

	itab_lock();
	in = itab_get(ino);
	if (in) {
		m.seq = in->cache.kseq;
		m.uses = in->cache.kuses;
	}
	itab_unlock();
	return m;
}

void itab_kclean(uint64_t ino, struct kmark m)
{
	struct fs_inode *in;

	itab_lock();
	in = itab_get(ino);
	if (in && in->cache.kseq == m.seq) {
		in->cache.kclean_seq = m.seq;
		if (in->cache.writers == 0)
			in->cache.kstale = false;
	}
	if (in && in->cache.kuses == m.uses && in->cache.cached == 0 &&
	    in->cache.direct == 0 && !in->cache.filling)
		in->cache.kversion = 0;
	itab_unlock();
}

uint64_t itab_peek(const char *path)
{
	struct fs_inode *in;
	uint64_t ino;

	itab_lock();
	in = itab_find_path(path);
	ino = in ? in->ino : 0;
	itab_unlock();
	return ino;
}

uint64_t itab_st_ino(uint64_t ino)
{
	struct fs_inode *in;
	uint64_t st_ino;

	itab_lock();
	in = itab_get(ino);
	st_ino = in ? in->st_ino : ino;
	itab_unlock();
	return st_ino;
}

static void maybe_free(struct fs_inode *in)
{
	if (in->pinned || in->nlookup > 0 || in->opens > 0 ||
	    in->cache.committing)
		return;
	ino_unlink(in);
	if (in->path)
		path_unlink(in);
	itab.count--;
	inode_free(in);
}

void itab_hold_drop_locked(struct fs_inode *in)
{
	if (in->cache.hold_until != 0) {
		in->cache.hold_until = 0;
		if (in->nlookup > 0)
			in->nlookup--;
	}
}

void itab_forget(uint64_t ino, uint64_t n)
{
	struct fs_inode *in;

	itab_lock();
	in = itab_get(ino);
	if (in) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		/* only the hold left, and its writer is not coming */
		if (in->cache.hold_until != 0 && in->nlookup <= 1 &&
		    clock_mono_ns() >= in->cache.hold_until)
			itab_hold_drop_locked(in);
		maybe_free(in);
	}
	itab_unlock();
}

void itab_each(void (*fn)(struct fs_inode *in, void *ctx), void *ctx)
{
	itab_lock();
	for (size_t i = 0; itab.by_ino && i < itab.nbuckets; i++)
		for (struct fs_inode *in = itab.by_ino[i]; in;
		     in = in->next_ino)
			fn(in, ctx);
	itab_unlock();
}

void itab_maybe_free_locked(struct fs_inode *in)
{
	maybe_free(in);
}

void itab_open(struct fs_inode *in)
{
	in->opens++;
}

void itab_close(struct fs_inode *in)
{
	if (in->opens > 0)
		in->opens--;
	maybe_free(in);
}

struct fs_inode *itab_detach_locked(const char *path)
{
	struct fs_inode *in = itab_find_path(path);

	if (in == NULL)
		return NULL;
	path_unlink(in);
	free(in->path);
	in->path = NULL;
	itab_hold_drop_locked(in); /* no writer can reach it any more */
	if (!in->pinned && in->nlookup == 0 && in->opens == 0 &&
	    !in->cache.committing) {
		maybe_free(in); /* only the hold kept it */
		return NULL;
	}
	return in;
}

/* Replace the leading from (a prefix of in->path) with to. */
static int rekey(struct fs_inode *in, size_t from_len, const char *to)
{
	size_t tl = strlen(to), rest = strlen(in->path + from_len);
	char *np = malloc(tl + rest + 1);

	if (np == NULL)
		return -ENOMEM;
	memcpy(np, to, tl);
	memcpy(np + tl, in->path + from_len, rest + 1);
	free(in->path);
	in->path = np;
	return 0;
}

/*
 * Collect the inodes at or below prefix, unlinked from the path table.
 * Nothing is below a file, so a file's own inode, found by its path, is
 * the whole answer; only folders need the walk over every inode.  Saves
 * rename files, and a walk per rename made each one cost O(inodes) under
 * the lock every request takes.
 */
static int collect_within(const char *prefix, struct fs_inode ***out, size_t *n)
{
	struct fs_inode *self = itab_find_path(prefix);
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (self != NULL && self->type != S_IFDIR) {
		*out = malloc(sizeof(**out));
		if (*out == NULL)
			return -ENOMEM;
		(*out)[0] = self;
		*n = 1;
		path_unlink(self);
		return 0;
	}
	for (size_t i = 0; i < itab.nbuckets; i++) {
		for (struct fs_inode *in = itab.by_ino[i]; in;
		     in = in->next_ino) {
			if (in->path == NULL || !pm_is_within(in->path, prefix))
				continue;
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct fs_inode **v =
				        realloc(*out, nc * sizeof(*v));

				if (v == NULL) {
					free(*out);
					*out = NULL;
					return -ENOMEM;
				}
				*out = v;
				cap = nc;
			}
			(*out)[(*n)++] = in;
		}
	}
	for (size_t i = 0; i < *n; i++)
		path_unlink((*out)[i]);
	return 0;
}

static void rekey_all(struct fs_inode **v, size_t n, size_t from_len,
                      const char *to)
{
	for (size_t i = 0; i < n; i++) {
		if (rekey(v[i], from_len, to) != 0) {
			/* out of memory: the inode loses its path */
			free(v[i]->path);
			v[i]->path = NULL;
			continue;
		}
		path_link(v[i]);
	}
}

int itab_move_locked(const char *from, const char *to)
{
	struct fs_inode **v;
	size_t n;
	int rc = collect_within(from, &v, &n);

	if (rc != 0)
		return rc;
	rekey_all(v, n, strlen(from), to);
	free(v);
	return 0;
}

int itab_exchange_locked(const char *a, const char *b)
{
	struct fs_inode **va, **vb;
	size_t na, nb;
	int rc = collect_within(a, &va, &na);

	if (rc != 0)
		return rc;
	rc = collect_within(b, &vb, &nb);
	if (rc != 0) {
		rekey_all(va, na, strlen(a), a);
		free(va);
		return rc;
	}
	rekey_all(va, na, strlen(a), b);
	rekey_all(vb, nb, strlen(b), a);
	free(va);
	free(vb);
	return 0;
}
