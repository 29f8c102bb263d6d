/*
 * dbfile.c: damaging a database file on purpose (see dbfile.h).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "dbfile.h"
#include "format.h"

long dbfile_wipe_log(const char *path)
{
	uint8_t pg[KV_PAGE_SIZE], zero[KV_PAGE_SIZE];
	int fd = open(path, O_RDWR | O_CLOEXEC);
	long wiped = 0;

	if (fd < 0)
		return -1;
	memset(zero, 0, sizeof(zero));
	for (uint64_t slot = 0; slot < 2; slot++) {
		uint64_t first, n;

		if (pread(fd, pg, sizeof(pg), (off_t)(slot * KV_PAGE_SIZE)) !=
		            (ssize_t)sizeof(pg) ||
		    get64(pg + MF_MAGIC) != KV_MAGIC)
			continue;
		first = get64(pg + MF_LOG_PGNO);
		n = get64(pg + MF_LOG_NPAGES);
		for (uint64_t i = 0; first >= 2 && i < n; i++) {
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
