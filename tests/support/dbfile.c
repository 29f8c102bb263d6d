/*
 * dbfile.c: damaging a database file on purpose (see dbfile.h).
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
