/*
 * Helpers shared by the store-layer suites; see fstest.h.
 */
#include "fstest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tmpdir.h"

int fstest_setup(void **state, const char *tag)
{
	struct tmpenv *f;

	tmpenv_setup(state, tag);
	f = *state;
	assert_int_equal(store_init(f->env, 0, 0), 0);
	return 0;
}

void put_file(kv_env *env, const char *path, const char *content)
{
	struct stx s;
	struct node n;

	assert_int_equal(stx_begin(env, true, &s), 0);
	node_fresh(&n, S_IFREG | 0644, 0, 0);
	n.size = strlen(content);
	n.txnid = kv_txn_id(s.txn);
	assert_int_equal(store_content_put(&s, path, n.mode, content, n.size),
	                 0);
	assert_int_equal(store_node_put(&s, path, &n), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
}

void put_dir(kv_env *env, const char *path)
{
	struct stx s;
	struct node n;

	assert_int_equal(stx_begin(env, true, &s), 0);
	node_fresh(&n, S_IFDIR | 0755, 0, 0);
	assert_int_equal(store_node_put(&s, path, &n), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_IMMEDIATE), 0);
}

int add_name(void *ctx, const char *name, const struct node *n)
{
	struct names *nm = ctx;

	(void)n;
	if (strlen(nm->buf) + strlen(name) + 2 > sizeof(nm->buf))
		return -1;
	strcat(nm->buf, name);
	strcat(nm->buf, " ");
	return 0;
}

const char *list(kv_env *env, const char *dir, struct names *nm)
{
	struct stx s;

	nm->buf[0] = '\0';
	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(store_list(&s, dir, add_name, nm), 0);
	stx_abort(&s);
	return nm->buf;
}

void take_snapshot(kv_env *env, const char *name)
{
	kv_txn *txn;

	assert_int_equal(kv_txn_begin(env, 0, &txn), 0);
	assert_int_equal(kv_snapshot_create(txn, name), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
}
