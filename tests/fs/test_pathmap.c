/*
 * Unit tests for fs/store/pathmap.c: name rules, record detection, joins,
 * node keys (the "parent\0name" range-scan layout) and content locations.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pathmap.h"

static void test_names(void **state)
{
	char longname[PM_NAME_MAX + 2];
	/* 85 three-byte characters = 255 bytes */
	char utf8[256];

	(void)state;
	assert_int_equal(pm_check_name("a.yaml"), 0);
	assert_int_equal(pm_check_name(""), -EINVAL);
	assert_int_equal(pm_check_name("."), -EINVAL);
	assert_int_equal(pm_check_name(".."), -EINVAL);
	assert_int_equal(pm_check_name("a/b"), -EINVAL);
	assert_int_equal(pm_check_name("..."), 0);
	memset(longname, 'x', PM_NAME_MAX);
	longname[PM_NAME_MAX] = '\0';
	assert_int_equal(pm_check_name(longname), 0);
	longname[PM_NAME_MAX] = 'y';
	longname[PM_NAME_MAX + 1] = '\0';
	assert_int_equal(pm_check_name(longname), -ENAMETOOLONG);
	for (int i = 0; i < 85; i++)
		memcpy(utf8 + 3 * i, "\xe2\x82\xac", 3); /* euro sign */
	utf8[255] = '\0';
	assert_int_equal(pm_check_name(utf8), 0);
}

static void test_record_names(void **state)
{
	(void)state;
	assert_true(pm_is_record_name("a.yaml"));
	assert_true(pm_is_record_name("a.yml"));
	assert_true(pm_is_record_name(".a.yaml"));
	assert_false(pm_is_record_name(".yaml"));
	assert_false(pm_is_record_name("a.yaml~"));
	assert_false(pm_is_record_name(".a.yaml.swp"));
	assert_false(pm_is_record_name("4913"));
	assert_false(pm_is_record_name("#a.yaml#"));
	assert_false(pm_is_record_name("a.YAML"));
	assert_false(pm_is_record_name("a.yaml.tmp"));
}

static void test_join_split(void **state)
{
	char buf[PM_PATH_MAX + 1];
	char big[PM_PATH_MAX + 10];

	(void)state;
	assert_int_equal(pm_join(buf, sizeof(buf), "", "workflows"), 0);
	assert_string_equal(buf, "workflows");
	assert_int_equal(pm_join(buf, sizeof(buf), "workflows/a", "b.yaml"), 0);
	assert_string_equal(buf, "workflows/a/b.yaml");
	assert_int_equal(pm_join(buf, sizeof(buf), "x", "a/b"), -EINVAL);
	memset(big, 'd', 900);
	big[900] = '\0';
	memset(buf, 'n', 200);
	buf[200] = '\0';
	{
		char name[201], out[PM_PATH_MAX + 1];

		memcpy(name, buf, 201);
		assert_int_equal(pm_join(out, sizeof(out), big, name),
		                 -ENAMETOOLONG);
		assert_int_equal(pm_join(out, 5, "ab", "cd"), -ENAMETOOLONG);
	}
	assert_int_equal(pm_parent_len("a/b/c"), 3);
	assert_int_equal(pm_parent_len("a"), 0);
	assert_string_equal(pm_basename("a/b/c.yaml"), "c.yaml");
	assert_string_equal(pm_basename("top"), "top");
	assert_int_equal(pm_depth(""), 0);
	assert_int_equal(pm_depth("agents"), 1);
	assert_int_equal(pm_depth("agents/x/y"), 3);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(pm_kind_of("workflows/a.yaml"), PM_WORKFLOWS);
	assert_int_equal(pm_kind_of("agents"), PM_AGENTS);
	assert_int_equal(pm_kind_of("prompts/x/y"), PM_PROMPTS);
	assert_int_equal(pm_kind_of("agentsx/y"), -1);
	assert_int_equal(pm_kind_of(""), -1);
	assert_int_equal(pm_kind_of(".snapshots"), -1);
	assert_string_equal(pm_kind_name(PM_PROMPTS), "prompts");
	assert_null(pm_kind_name(3));
	assert_true(pm_is_within("a/b", "a/b"));
	assert_true(pm_is_within("a/b/c", "a/b"));
	assert_false(pm_is_within("a/bc", "a/b"));
	assert_false(pm_is_within("a", "a/b"));
	assert_true(pm_is_within("anything", ""));
}

static void test_content_loc(void **state)
{
	struct pm_loc loc;

	(void)state;
	assert_int_equal(pm_content_loc("workflows/sub/x.yaml", true, &loc), 0);
	assert_true(loc.record);
	assert_string_equal(loc.table, "workflows");
	assert_int_equal(loc.key_len, strlen("sub/x.yaml"));
	assert_memory_equal(loc.key, "sub/x.yaml", loc.key_len);

	assert_int_equal(pm_content_loc("agents/x.yaml~", true, &loc), 0);
	assert_false(loc.record);
	assert_string_equal(loc.table, PM_TABLE_FILES);
	assert_memory_equal(loc.key, "agents/x.yaml~", loc.key_len);

	/* a symlink with a record name is still not a record */
	assert_int_equal(pm_content_loc("agents/l.yaml", false, &loc), 0);
	assert_false(loc.record);
	assert_string_equal(loc.table, PM_TABLE_FILES);

	assert_int_equal(pm_content_loc("agents", true, &loc), -EINVAL);
	assert_int_equal(pm_content_loc("other/x.yaml", true, &loc), -EINVAL);
}

static void test_node_keys(void **state)
{
	char key[PM_PATH_MAX + 2], back[PM_PATH_MAX + 2], pre[64];
	int len, plen;

	(void)state;
	len = pm_node_key(key, sizeof(key), "workflows/a/b.yaml");
	assert_int_equal(len, (int)strlen("workflows/a/b.yaml"));
	assert_memory_equal(key, "workflows/a\0b.yaml", (size_t)len);
	assert_int_equal(
	        pm_node_key_to_path(back, sizeof(back), key, (size_t)len), len);
	assert_string_equal(back, "workflows/a/b.yaml");

	len = pm_node_key(key, sizeof(key), "agents");
	assert_int_equal(len, 7);
	assert_memory_equal(key, "\0agents", 7);
	assert_int_equal(pm_node_key_to_path(back, sizeof(back), key, 7), 6);
	assert_string_equal(back, "agents");

	/* children of a folder share the prefix "folder\0"; grandchildren
	 * do not */
	plen = pm_child_prefix(pre, sizeof(pre), "workflows/a");
	assert_int_equal(plen, 12);
	len = pm_node_key(key, sizeof(key), "workflows/a/x");
	assert_memory_equal(key, pre, (size_t)plen);
	len = pm_node_key(key, sizeof(key), "workflows/a/sub/x");
	assert_true(memcmp(key, pre, (size_t)plen) != 0);
	(void)len;

	assert_int_equal(pm_node_key_to_path(back, sizeof(back), "abc", 3),
	                 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_record_names),
		cmocka_unit_test(test_join_split),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_content_loc),
		cmocka_unit_test(test_node_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
