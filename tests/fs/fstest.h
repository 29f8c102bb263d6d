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
#include "tmpdir.h"

/* A fresh store (a struct tmpenv, tmpdir.h) with the three kind folders;
 * tmpenv_teardown() closes and removes it. */
int fstest_setup(void **state, const char *tag);

/* One commit each: a regular file (0644) with content, a folder (0755). */
void put_file(kv_env *env, const char *path, const char *content);
void put_dir(kv_env *env, const char *path);

/* A snapshot of the last commit, in a commit of its own. */
void take_snapshot(kv_env *env, const char *name);

/* The names of a folder's children, each followed by a space. */
struct names {
	char buf[1024];
};
int add_name(void *ctx, const char *name, const struct node *n);
const char *list(kv_env *env, const char *dir, struct names *nm);

#endif
