/*
 * Helpers shared by the cmocka suites of the store layer: writing files
 * and folders straight into a store, and listing a folder.  Each asserts
 * success, so a failing step fails the test where it happened.
 */
#ifndef CCCFS_TEST_FSTEST_H
#define CCCFS_TEST_FSTEST_H

#include <stddef.h>

#include <cccfs/kv.h>

#include "store.h"

/* A fresh store in a private folder, with the three kind folders; the
 * teardown closes it and removes the folder.  cmocka state: a fixture. */
struct fixture {
	const char *dir;
	char db[4096];
	kv_env *env;
};
int fstest_setup(void **state, const char *tag);
int fstest_teardown(void **state);

/* One commit each: a regular file (0644) with content, a folder (0755). */
void put_file(kv_env *env, const char *path, const char *content);
void put_dir(kv_env *env, const char *path);

/* The names of a folder's children, each followed by a space. */
struct names {
	char buf[1024];
};
int add_name(void *ctx, const char *name, const struct node *n);
const char *list(kv_env *env, const char *dir, struct names *nm);

#endif
