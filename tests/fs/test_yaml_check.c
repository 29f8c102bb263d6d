/*
 * Unit tests for fs/yaml_check.c: what a record may contain, and that
 * every refusal names the right line and column (1-based).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yaml_check.h"

static char msg[YC_MSG_MAX];

static int check(const char *text)
{
	return yaml_check(text, strlen(text), msg, sizeof msg);
}

#define assert_valid(text)                                                   \
	do {                                                                 \
		int rc_ = check(text);                                       \
		if (rc_ != 0)                                                \
			fail_msg("expected valid, got %d: %s", rc_, msg);    \
	} while (0)

#define assert_invalid(text, where, what)                                    \
	do {                                                                 \
		assert_int_equal(check(text), -EINVAL);                      \
		if (strstr(msg, where) == NULL || strstr(msg, what) == NULL) \
			fail_msg("message '%s' lacks '%s' / '%s'", msg,      \
			         where, what);                               \
	} while (0)

static void test_valid(void **state)
{
	(void)state;
	assert_valid("");
	assert_int_equal(yaml_check(NULL, 0, msg, sizeof msg), 0);
	assert_valid("\n\n# only a comment\n");
	assert_valid("name: x\n");
	assert_valid("---\nname: x\n...\n");
	assert_valid("name: x\ndescription: \"a b\"\nstatus: off\n"
	             "agents: [a, b]\nprompts: []\nsteps:\n  - run: x\n"
	             "tags:\n  - t\nother: {a: 1}\n");
	assert_valid("name: 'NO'\nid: 0123\nversion: 1.10\n");
	assert_valid("name: \"\"\n"); /* quoted empty is a string */
	assert_valid("x: &a [1]\ny: *a\n");
	assert_valid("# comment first\nname: x # trailing\n");
}

static void test_top_level(void **state)
{
	(void)state;
	assert_invalid("- a\n- b\n", "line 1, column 1", "mapping");
	assert_invalid("just text\n", "line 1, column 1", "mapping");
	assert_invalid("name: a\n---\nname: b\n", "line 2, column 1",
	               "one YAML document");
	assert_invalid("[a]: 1\n", "line 1, column 1", "keys must be scalars");
}

static void test_syntax(void **state)
{
	(void)state;
	assert_invalid("x: [\n", "line 2", "");
	assert_invalid("name: x\n  bad: indent\n", "line 2", "");
	assert_invalid("a: \"unterminated\n", "line", "");
	assert_int_equal(yaml_check("a: \0b\n", 6, msg, sizeof msg), -EINVAL);
	assert_int_equal(yaml_check("a: \xff\n", 5, msg, sizeof msg), -EINVAL);
	/* msg may be NULL */
	assert_int_equal(yaml_check("[", 1, NULL, 0), -EINVAL);
}

static void test_known_keys(void **state)
{
	(void)state;
	assert_invalid("name: [a]\n", "line 1, column 7", "'name' must be a string");
	assert_invalid("x: 1\ndescription:\n  a: b\n", "line 3, column 3",
	               "'description' must be a string, not a mapping");
	assert_invalid("status:\n", "line 1", "'status' must be a string, not null");
	assert_invalid("status: ~\n", "line 1, column 9", "not null");
	assert_invalid("tags: a\n", "line 1, column 7",
	               "'tags' must be a sequence, not a scalar");
	assert_invalid("steps: {a: 1}\n", "line 1, column 8", "'steps' must be a sequence");
	assert_invalid("agents:\n", "line", "'agents' must be a sequence, not null");
	assert_invalid("prompts: *x\nx: &x [1]\n", "line 1", "");
	/* only the top level has a schema */
	assert_valid("other:\n  name: [1]\n  tags: x\n");
}

static void test_duplicates(void **state)
{
	(void)state;
	assert_invalid("name: a\nother: 1\nname: b\n", "line 3, column 1",
	               "duplicate key 'name'");
	assert_invalid("x: 1\n\"x\": 2\n", "line 2, column 1", "duplicate");
	/* duplicates below the top level are not our business */
	assert_valid("a:\n  b: 1\nc:\n  b: 2\n");
}

static void test_nesting(void **state)
{
	char *deep;
	size_t n = 0;

	(void)state;
	deep = malloc(4 * (YC_MAX_DEPTH + 8) + 16);
	assert_non_null(deep);
	n += (size_t)sprintf(deep, "a: ");
	for (int i = 0; i < YC_MAX_DEPTH + 4; i++)
		deep[n++] = '[';
	for (int i = 0; i < YC_MAX_DEPTH + 4; i++)
		deep[n++] = ']';
	deep[n++] = '\n';
	deep[n] = '\0';
	assert_invalid(deep, "line 1", "nesting deeper than");
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_top_level),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_known_keys),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
