/*
 * Temporary directories for tests.  Each test gets its own directory so
 * suites can run in parallel; tmpdir_remove() deletes it recursively.
 */
#include "tmpdir.h"

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char dirbuf[16][PATH_MAX];
static int dirnext;

const char *tmpdir_make(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *d = dirbuf[dirnext++ % 16];

	if (base == NULL || !*base)
		base = "/var/tmp";
	snprintf(d, PATH_MAX, "%s/cccfs-%s-XXXXXX", base, tag);
	if (!mkdtemp(d))
		fail_msg("mkdtemp %s failed", d);
	return d;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tmpdir_remove(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tmpdir_path(char *buf, size_t n, const char *dir, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
	return buf;
}

int tmpenv_setup(void **state, const char *tag)
{
	struct tmpenv *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tmpdir_make(tag);
	tmpdir_path(f->path, sizeof(f->path), f->dir, "t.db");
	assert_int_equal(kv_env_open(&f->env, f->path, KV_CREATE, 0600), 0);
	*state = f;
	return 0;
}

int tmpenv_teardown(void **state)
{
	struct tmpenv *f = *state;

	if (f->env)
		kv_env_close(f->env);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}
