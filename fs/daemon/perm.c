/*
 * perm: who the caller of a request is, for the checks the daemon makes
 * itself.
 */
#define FUSE_USE_VERSION 312
#include <stdlib.h>

#include "daemon.h"

/* Is the caller of req in group gid, as its own group or a supplementary
 * one?  No when its groups cannot be read (it has exited, or lives in
 * another pid namespace): the bit is then cleared, the safe way. */
bool caller_in_group(fuse_req_t req, uint32_t gid)
{
	gid_t some[32], *list = some;
	int n, size = (int)(sizeof(some) / sizeof(some[0]));
	bool in = false;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, size, list);
	if (n > size) {
		list = malloc((size_t)n * sizeof(*list));
		if (list == NULL)
			return false;
		size = n;
		n = fuse_req_getgroups(req, size, list);
	}
	for (int i = 0; i < n && i < size && !in; i++)
		in = list[i] == gid;
	if (list != some)
		free(list);
	return in;
}
