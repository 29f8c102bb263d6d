/*
 * pathmap: mapping between paths of the mount and the keys of the store,
 * and the name rules.  See pathmap.h; the layout itself is in store.h.
 */
#include "pathmap.h"

#include <errno.h>
#include <string.h>

static const char *const kind_names[PM_NKINDS] = {
	"workflows",
	"agents",
	"prompts",
};

const char *pm_kind_name(int kind)
{
	if (kind < 0 || kind >= PM_NKINDS)
		return NULL;
	return kind_names[kind];
}

int pm_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -EINVAL;
	if (len > PM_NAME_MAX)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (memchr(name, '/', len) != NULL)
		return -EINVAL;
	return 0;
}

static bool has_suffix(const char *s, size_t len, const char *suf)
{
	size_t sl = strlen(suf);

	return len > sl && memcmp(s + len - sl, suf, sl) == 0;
}

bool pm_is_record_name(const char *name)
{
	size_t len = strlen(name);

	return has_suffix(name, len, ".yaml") || has_suffix(name, len, ".yml");
}

int pm_join(char *buf, size_t n, const char *parent, const char *name)
{
	size_t pl = strlen(parent);
	size_t nl = strlen(name);
	size_t total;
	int rc = pm_check_name(name);

	if (rc != 0)
		return rc;
	total = pl + (pl ? 1 : 0) + nl;
	if (total > PM_PATH_MAX || total + 1 > n)
		return -ENAMETOOLONG;
	memcpy(buf, parent, pl);
	if (pl)
		buf[pl++] = '/';
	memcpy(buf + pl, name, nl + 1);
	return 0;
}

size_t pm_parent_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) : 0;
}

const char *pm_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int pm_depth(const char *path)
{
	int depth;

	if (*path == '\0')
		return 0;
	depth = 1;
	for (; *path; path++)
		if (*path == '/')
			depth++;
	return depth;
}

int pm_kind_of(const char *path)
{
	size_t top = strcspn(path, "/");

	for (int k = 0; k < PM_NKINDS; k++)
		if (strlen(kind_names[k]) == top &&
		    memcmp(path, kind_names[k], top) == 0)
			return k;
	return -1;
}

bool pm_is_within(const char *path, const char *prefix)
{
	size_t pl = strlen(prefix);

	if (pl == 0)
		return true;
	return strncmp(path, prefix, pl) == 0 &&
	       (path[pl] == '\0' || path[pl] == '/');
}

int pm_content_loc(const char *path, bool is_reg, struct pm_loc *loc)
{
	int kind = pm_kind_of(path);
	size_t klen;

	if (kind < 0 || pm_depth(path) < 2)
		return -EINVAL;
	loc->record = is_reg && pm_is_record_name(pm_basename(path));
	if (loc->record) {
		klen = strlen(kind_names[kind]) + 1;
		loc->table = kind_names[kind];
		loc->key = path + klen;
		loc->key_len = strlen(path) - klen;
	} else {
		loc->table = PM_TABLE_FILES;
		loc->key = path;
		loc->key_len = strlen(path);
	}
	return 0;
}

int pm_node_key(char *buf, size_t n, const char *path)
{
	size_t len = strlen(path);
	size_t pl = pm_parent_len(path);

	if (len + 1 > n)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	if (pl > 0)
		buf[pl] = '\0';
	else {
		/* children of the root: empty parent, "\0name" */
		if (len + 2 > n)
			return -ENAMETOOLONG;
		memmove(buf + 1, buf, len + 1);
		buf[0] = '\0';
		len++;
	}
	return (int)len;
}

int pm_child_prefix(char *buf, size_t n, const char *dir)
{
	size_t len = strlen(dir);

	if (len + 1 > n)
		return -ENAMETOOLONG;
	memcpy(buf, dir, len);
	buf[len] = '\0';
	return (int)len + 1;
}

int pm_node_key_to_path(char *buf, size_t n, const void *key, size_t klen)
{
	const char *k = key;
	const char *sep = memchr(k, '\0', klen);

	if (sep == NULL || klen + 1 > n)
		return -EINVAL;
	if (sep == k) { /* root child: one name, no further NUL */
		if (memchr(k + 1, '\0', klen - 1) != NULL)
			return -EINVAL;
		memcpy(buf, k + 1, klen - 1);
		buf[klen - 1] = '\0';
		return (int)klen - 1;
	}
	memcpy(buf, k, klen);
	buf[sep - k] = '/';
	buf[klen] = '\0';
	if (memchr(buf, '\0', klen) != NULL)
		return -EINVAL;
	return (int)klen;
}
