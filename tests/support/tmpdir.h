/*
 * Test helpers shared by every cmocka suite: private temporary directories
 * that are removed at the end, and path building.
 */
#ifndef CCCFS_TEST_TMPDIR_H
#define CCCFS_TEST_TMPDIR_H

#include <stddef.h>

#include <cccfs/kv.h>

/* Create a fresh directory under $TMPDIR (or /var/tmp); returns its path
 * (static storage owned by the helper) or aborts the test. */
const char *tmpdir_make(const char *tag);
/* Remove the directory made by tmpdir_make() and everything in it. */
void tmpdir_remove(const char *dir);
/* Join dir and name into buf (size n); returns buf. */
char *tmpdir_path(char *buf, size_t n, const char *dir, const char *name);

/* A fresh, empty database in a directory of its own, as a cmocka fixture
 * (*state gets a struct tmpenv); the teardown closes the env if still open
 * and removes the directory. */
struct tmpenv {
	const char *dir;
	char path[4096];
	kv_env *env;
};
int tmpenv_setup(void **state, const char *tag);
int tmpenv_teardown(void **state);

#endif
