/*
 * dbfile.c: damaging a database file on purpose (see dbfile.h).  It reads
 * pages with pread and trusts them: the tests call it on stores they made.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "dbfile.h"
#include "format.h"

int dbfile_log_run(const char *path, unsigned slot, uint64_t *first,
                   uint64_t *npages)
{
	uint8_t pg[KV_PAGE_SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return 0;
	ok = pread(fd, pg, sizeof(pg), (off_t)slot * KV_PAGE_SIZE) ==
	             (ssize_t)sizeof(pg) &&
	     get64(pg + MF_MAGIC) == KV_MAGIC;
	close(fd);
	if (!ok)
		return 0;
	*first = get64(pg + MF_LOG_PGNO);
	*npages = get64(pg + MF_LOG_NPAGES);
	return *first >= 2 && *npages > 0;
}

long dbfile_wipe_log(const char *path)
{
	uint8_t zero[KV_PAGE_SIZE];
	int fd = open(path, O_RDWR | O_CLOEXEC);
	long wiped = 0;

	if (fd < 0)
		return -1;
	memset(zero, 0, sizeof(zero));
	for (unsigned slot = 0; slot < 2; slot++) {
		uint64_t first, n;

		if (!dbfile_log_run(path, slot, &first, &n))
			continue;
		for (uint64_t i = 0; i < n; i++) {
			if (pwrite(fd, zero, sizeof(zero),
			           (off_t)((first + i) * KV_PAGE_SIZE)) !=
			    (ssize_t)sizeof(zero)) {
				close(fd);
				return -1;
			}
			wiped++;
		}
	}
	close(fd);
	return wiped;
}

static int read_pg(int fd, uint64_t pg, uint8_t *buf)
{
	return pread(fd, buf, KV_PAGE_SIZE, (off_t)(pg * KV_PAGE_SIZE)) ==
	       (ssize_t)KV_PAGE_SIZE;
}

static const uint8_t *node(const uint8_t *pg, unsigned i)
{
	return pg + get16(pg + PH_SIZE + 2 * i);
}

static int key_cmp(const uint8_t *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : (al > bl) - (al < bl);
}

/* The tree descriptor of table in the newest meta's catalog, into td. */
static int find_table(int fd, const char *table, uint8_t *td)
{
	uint8_t m[2][KV_PAGE_SIZE], pg[KV_PAGE_SIZE];
	size_t tl = strlen(table);
	uint64_t p;
	int newest;

	if (!read_pg(fd, 0, m[0]) || !read_pg(fd, 1, m[1]))
		return 0;
	newest = get64(m[1] + MF_TXNID) > get64(m[0] + MF_TXNID);
	if (get64(m[newest] + MF_MAGIC) != KV_MAGIC)
		return 0;
	p = get64(m[newest] + MF_CATALOG + TD_ROOT);
	for (int depth = 0; p != 0 && depth < 40; depth++) {
		unsigned n, i, child = 0;

		if (!read_pg(fd, p, pg))
			return 0;
		n = get16(pg + PH_NKEYS);
		if (get16(pg + PH_TYPE) == PT_LEAF) {
			for (i = 0; i < n; i++) {
				const uint8_t *nd = node(pg, i);
				size_t kl = get16(nd + LN_KLEN);

				if (key_cmp(nd + LN_HDR, kl, table, tl) == 0) {
					memcpy(td, nd + LN_HDR + kl, TD_SIZE);
					return 1;
				}
			}
			return 0;
		}
		for (i = 1; i < n; i++) {
			const uint8_t *nd = node(pg, i);

			if (key_cmp(nd + BN_HDR, get16(nd + BN_KLEN), table,
			            tl) > 0)
				break;
			child = i;
		}
		p = get64(node(pg, child) + BN_PGNO);
	}
	return 0;
}

int dbfile_table_root(const char *path, const char *table, uint64_t *pgno)
{
	uint8_t td[TD_SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return 0;
	ok = find_table(fd, table, td);
	close(fd);
	if (ok)
		*pgno = get64(td + TD_ROOT);
	return ok && *pgno != 0;
}

static void copy_key(const uint8_t *nd, char *buf, size_t *len)
{
	*len = get16(nd + BN_KLEN);
	if (*len > KV_MAX_KEY)
		*len = KV_MAX_KEY;
	memcpy(buf, nd + BN_HDR, *len);
}

int dbfile_root_child(const char *path, const char *table, unsigned i,
                      struct dbfile_child *out)
{
	uint8_t root[KV_PAGE_SIZE], child[KV_PAGE_SIZE];
	uint64_t rp;
	int fd, ok;
	unsigned n;

	memset(out, 0, sizeof(*out));
	if (!dbfile_table_root(path, table, &rp))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ok = read_pg(fd, rp, root) && get16(root + PH_TYPE) == PT_BRANCH &&
	     i < (n = get16(root + PH_NKEYS));
	if (ok) {
		out->children = n;
		out->pgno = get64(node(root, i) + BN_PGNO);
		ok = read_pg(fd, out->pgno, child);
	}
	close(fd);
	if (!ok)
		return 0;
	out->type = get16(child + PH_TYPE);
	if ((out->has_lo = i > 0))
		copy_key(node(root, i), out->lo, &out->lo_len);
	if ((out->has_hi = i + 1 < n))
		copy_key(node(root, i + 1), out->hi, &out->hi_len);
	return 1;
}

static int rewrite(const char *path, uint64_t pgno, int zero, unsigned off)
{
	uint8_t pg[KV_PAGE_SIZE];
	int fd = open(path, O_RDWR | O_CLOEXEC), rc = -1;

	if (fd < 0)
		return -1;
	if (read_pg(fd, pgno, pg)) {
		if (zero)
			memset(pg, 0, sizeof(pg));
		else
			pg[off % KV_PAGE_SIZE] ^= 0xff;
		if (pwrite(fd, pg, sizeof(pg), (off_t)(pgno * KV_PAGE_SIZE)) ==
		    (ssize_t)sizeof(pg))
			rc = 0;
	}
	close(fd);
	return rc;
}

int dbfile_flip_byte(const char *path, uint64_t pgno, unsigned off)
{
	return rewrite(path, pgno, 0, off);
}

int dbfile_zero_page(const char *path, uint64_t pgno)
{
	return rewrite(path, pgno, 1, 0);
}
