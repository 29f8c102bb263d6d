/*
 * fuzz_pathmap.c: path <-> key mapping (fs/store/pathmap.h) of arbitrary names.
 *
 * Input: one flag byte (bit 0: the entry is a regular file), then names
 * separated by NUL bytes.  The names are checked one by one and the good
 * ones joined into a path, a level at a time; at every level:
 *   - pm_check_name() accepts exactly the names of 1..PM_NAME_MAX bytes
 *     other than "." and ".." without '/';
 *   - pm_join() of an accepted name gives "parent/name" (or "name" at the
 *     root) within PM_PATH_MAX, whose basename, parent length and depth
 *     are the parts it was made of;
 *   - the node key of the path maps back to the same path, and starts with
 *     the child prefix of its parent (children are one key range);
 *   - pm_content_loc() places records under their kind with the path below
 *     the kind folder as key, everything else in the files table under
 *     the whole path.
 * The bytes after the flag are also split as a node key read from a store:
 * a path that comes out must be a NUL-free string of the length returned,
 * and, when its last name has no '/', map back to the same key.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "pathmap.h"

#define MAX_NAMES 12

static bool name_ok(const char *name, size_t len)
{
	return len > 0 && len <= PM_NAME_MAX && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && memchr(name, '/', len) == NULL;
}

static void check_node_key(const char *path, const char *parent)
{
	char key[PM_PATH_MAX + 8], back[PM_PATH_MAX + 8], pre[PM_PATH_MAX + 8];
	int klen = pm_node_key(key, sizeof(key), path);
	int blen, plen;

	FUZZ_ASSERT(klen > 0);
	blen = pm_node_key_to_path(back, sizeof(back), key, (size_t)klen);
	FUZZ_ASSERT(blen == (int)strlen(path));
	FUZZ_ASSERT(strcmp(back, path) == 0);
	plen = pm_child_prefix(pre, sizeof(pre), parent);
	FUZZ_ASSERT(plen > 0 && plen <= klen);
	FUZZ_ASSERT(memcmp(pre, key, (size_t)plen) == 0);
	/* a small buffer is refused, never overrun */
	FUZZ_ASSERT(pm_node_key(key, (size_t)klen, path) == -ENAMETOOLONG);
}

static void check_content(const char *path, bool is_reg)
{
	struct pm_loc loc;
	int kind = pm_kind_of(path);
	int rc = pm_content_loc(path, is_reg, &loc);

	if (kind < 0 || pm_depth(path) < 2) {
		FUZZ_ASSERT(rc == -EINVAL);
		return;
	}
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(loc.key >= path &&
	            loc.key + loc.key_len == path + strlen(path));
	if (loc.record) {
		size_t kl = strlen(pm_kind_name(kind));

		FUZZ_ASSERT(is_reg && pm_is_record_name(pm_basename(path)));
		FUZZ_ASSERT(strcmp(loc.table, pm_kind_name(kind)) == 0);
		FUZZ_ASSERT(loc.key == path + kl + 1 && path[kl] == '/');
	} else {
		FUZZ_ASSERT(!is_reg || !pm_is_record_name(pm_basename(path)));
		FUZZ_ASSERT(strcmp(loc.table, PM_TABLE_FILES) == 0);
		FUZZ_ASSERT(loc.key == path);
	}
}

/* The input as a node key read back from a store. */
static void check_raw_key(const uint8_t *key, size_t len)
{
	char path[PM_PATH_MAX + 8], again[PM_PATH_MAX + 8];
	const uint8_t *sep;
	int n, k;

	if (len > PM_PATH_MAX)
		return;
	n = pm_node_key_to_path(path, sizeof(path), key, len);
	if (n < 0)
		return;
	FUZZ_ASSERT((size_t)n < sizeof(path) && path[n] == '\0');
	FUZZ_ASSERT(strlen(path) == (size_t)n);
	sep = memchr(key, '\0', len);
	FUZZ_ASSERT(sep != NULL);
	if (memchr(sep + 1, '/', len - (size_t)(sep + 1 - key)) != NULL)
		return; /* "a\0b/c" and "a/b\0c" are the same path */
	k = pm_node_key(again, sizeof(again), path);
	FUZZ_ASSERT(k == (int)len && memcmp(again, key, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PM_PATH_MAX + 1] = "", parent[PM_PATH_MAX + 1];
	char name[PM_NAME_MAX + 64];
	bool is_reg;
	size_t at = 1;
	int depth = 0;

	if (size < 1)
		return 0;
	is_reg = data[0] & 1;
	check_raw_key(data + 1, size - 1);
	for (int i = 0; i < MAX_NAMES && at <= size; i++) {
		const uint8_t *end = memchr(data + at, '\0', size - at);
		size_t len = end ? (size_t)(end - (data + at)) : size - at;
		size_t plen = strlen(path);
		int rc;

		if (len >= sizeof(name)) {
			at += len + 1;
			continue;
		}
		memcpy(name, data + at, len);
		name[len] = '\0';
		at += len + 1;
		rc = pm_check_name(name);
		FUZZ_ASSERT((rc == 0) == name_ok(name, len));
		FUZZ_ASSERT(rc == 0 || rc == -EINVAL ||
		            (rc == -ENAMETOOLONG && len > PM_NAME_MAX));

		memcpy(parent, path, plen + 1);
		rc = pm_join(path, sizeof(path), parent, name);
		if (rc != 0) {
			FUZZ_ASSERT(rc == pm_check_name(name) ||
			            rc == -ENAMETOOLONG);
			memcpy(path, parent, plen + 1);
			continue;
		}
		FUZZ_ASSERT(strlen(path) == plen + (plen ? 1 : 0) + len);
		FUZZ_ASSERT(strlen(path) <= PM_PATH_MAX);
		FUZZ_ASSERT(strcmp(pm_basename(path), name) == 0);
		FUZZ_ASSERT(pm_parent_len(path) == plen);
		FUZZ_ASSERT(pm_depth(path) == ++depth);
		FUZZ_ASSERT(pm_is_within(path, parent));
		FUZZ_ASSERT(pm_kind_of(path) == pm_kind_of(parent) ||
		            plen == 0);
		check_node_key(path, parent);
		check_content(path, is_reg);
	}
	return 0;
}
