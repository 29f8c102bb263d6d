/*
 * Unit tests for fs/store/yaml_check.c: what a record may contain, and that
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
	return yaml_check(text, strlen(text), msg, sizeof(msg));
}

#define assert_valid(text)                                                \
	do {                                                              \
		int rc_ = check(text);                                    \
		if (rc_ != 0)                                             \
			fail_msg("expected valid, got %d: %s", rc_, msg); \
	} while (0)

#define assert_invalid(text, where, what)                                      \
	do {                                                                   \
		assert_int_equal(check(text), -EINVAL);                        \
		if (strstr(msg, where) == NULL || strstr(msg, what) == NULL)   \
			fail_msg("message '%s' lacks '%s' / '%s'", msg, where, \
			         what);                                        \
	} while (0)

static void test_valid(void **state)
{
	(void)state;
	assert_valid("");
	assert_int_equal(yaml_check(NULL, 0, msg, sizeof(msg)), 0);
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
	assert_int_equal(yaml_check("a: \0b\n", 6, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(yaml_check("a: \xff\n", 5, msg, sizeof(msg)), -EINVAL);
	/* msg may be NULL */
	assert_int_equal(yaml_check("[", 1, NULL, 0), -EINVAL);
}

static void test_known_keys(void **state)
{
	(void)state;
	assert_invalid("name: [a]\n", "line 1, column 7",
	               "'name' must be a string");
	assert_invalid("x: 1\ndescription:\n  a: b\n", "line 3, column 3",
	               "'description' must be a string, not a mapping");
	assert_invalid("status:\n", "line 1",
	               "'status' must be a string, not null");
	assert_invalid("status: ~\n", "line 1, column 9", "not null");
	assert_invalid("tags: a\n", "line 1, column 7",
	               "'tags' must be a sequence, not a scalar");
	assert_invalid("steps: {a: 1}\n", "line 1, column 8",
	               "'steps' must be a sequence");
	assert_invalid("agents:\n", "line",
	               "'agents' must be a sequence, not null");
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

/*
 * Regression: duplicate keys were found by comparing each key with every
 * earlier one, so 120,000 keys took 30 s to save and 300,000 took 3 min.
 * Now a hash set: these sizes must only be accepted (or refused) correctly;
 * the time is measured by hand, not asserted.
 */
static char *many_keys(size_t n, const char *extra)
{
	size_t cap = n * 24 + strlen(extra) + 1, used = 0;
	char *text = malloc(cap);

	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(text + used, cap - used, "k%zu: %zu\n",
		                         i, i);
	snprintf(text + used, cap - used, "%s", extra);
	return text;
}

static void test_many_keys(void **state)
{
	char *text;

	(void)state;
	text = many_keys(200000, "");
	assert_valid(text);
	free(text);
	text = many_keys(200000, "k123456: again\n");
	assert_invalid(text, "line 200001, column 1",
	               "duplicate key 'k123456'");
	free(text);
}

/* The answer does not depend on the hash seed. */
static void test_any_seed(void **state)
{
	static const uint64_t seeds[] = { 0, 2, 0x9e3779b97f4a7c15ull, ~0ull };
	char *ok = many_keys(5000, ""), *dup = many_keys(5000, "k4321: x\n");

	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		yaml_check_seed(seeds[i]);
		assert_valid(ok);
		assert_invalid(dup, "line 5001, column 1",
		               "duplicate key 'k4321'");
		assert_invalid("a: &x 1\nb: *y\n", "line 2, column 4",
		               "undefined alias '*y'");
	}
	free(ok);
	free(dup);
}

/* Every key is found again across the table's growth, and only it. */
static void test_duplicate_each(void **state)
{
	char extra[32], what[48];

	(void)state;
	for (size_t i = 0; i < 700; i += 7) {
		char *text;

		snprintf(extra, sizeof(extra), "k%zu: again\n", i);
		snprintf(what, sizeof(what), "duplicate key 'k%zu'", i);
		text = many_keys(700, extra);
		assert_invalid(text, "line 701, column 1", what);
		free(text);
	}
	/* Near misses are distinct keys. */
	assert_valid("k1: 1\nk10: 2\n\"k1 \": 3\nK1: 4\n'': 5\n"
	             "\"\\0\": 6\n\"\\0\\0\": 7\n");
	assert_invalid("'': 1\n\"\": 2\n", "line 2, column 1",
	               "duplicate key ''");
}

/*
 * Regression: keys were compared with strlen, so a key holding "\0" was
 * cut there: "a\0" and a were called the same key 'a', a real duplicate
 * "a\0b" was let through, and "name\0" was held to name's schema.  Keys
 * are now (length, bytes), and a key is shown escaped in the message.
 */
static void test_nul_in_keys(void **state)
{
	(void)state;
	assert_valid("\"a\\0\": 1\na: 2\n");
	assert_valid("a: 1\n\"a\\x00\": 2\n");
	assert_invalid("\"a\\0b\": 1\n\"a\\0b\": 2\n", "line 2, column 1",
	               "duplicate key 'a\\0b'");
	assert_invalid("\"a\\0b\": 1\n\"a\\u0000b\": 2\n", "line 2, column 1",
	               "duplicate key 'a\\0b'");
	assert_valid("\"name\\0\": [a]\n\"tags\\0\": x\n");
}

/* No raw control byte from a key reaches the message. */
static void assert_printable(const char *m)
{
	const unsigned char *s = (const unsigned char *)m;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			fail_msg("control byte 0x%02x in '%s'", s[i], m);
		if (s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] < 0xa0)
			fail_msg("C1 control in '%s'", m);
	}
}

static void test_key_shown_safely(void **state)
{
	char *text;
	size_t line;

	(void)state;
	assert_invalid(
	        "\"\\e[2J\\t\\r\\n\\x7f\": 1\n\"\\e[2J\\t\\r\\n\\x7f\": 2\n",
	        "line 2, column 1", "duplicate key '\\x1b[2J\\t\\r\\n\\x7f'");
	assert_printable(msg);
	/* C1 controls (U+009B is CSI), backslash; other UTF-8 kept */
	assert_invalid("\"\\x9b\\x85\\\\ é\": 1\n\"\\x9b\\x85\\\\ é\": 2\n",
	               "line 2", "duplicate key '\\x9b\\x85\\\\ é'");
	assert_printable(msg);
	/* a long key is cut, not in the middle of an escape or a character */
	text = malloc(1024);
	assert_non_null(text);
	strcpy(text, "\"");
	for (int i = 0; i < 40; i++)
		strcat(text, "é\\0");
	strcat(text, "\": 1\n");
	line = strlen(text);
	memcpy(text + line, text, line); /* the same key twice */
	text[2 * line] = '\0';
	assert_invalid(text, "line 2", "duplicate key 'é\\0é\\0");
	assert_printable(msg);
	assert_non_null(strstr(msg, "\\0...'"));
	assert_true(strlen(strstr(msg, "'")) <= 64 + 5);
	free(text);
}

/*
 * Regression: an alias with no anchor before it (`x: *nope`) was accepted,
 * though every loader refuses the record.  Anchors defined so far are now
 * a set, looked up and never expanded.
 */
static void test_undefined_alias(void **state)
{
	(void)state;
	assert_invalid("x: *nope\n", "line 1, column 4",
	               "undefined alias '*nope'");
	assert_invalid("a:\n  b: [1, *q]\n", "line 2, column 10",
	               "undefined alias '*q'");
	assert_invalid("x: *a\ny: &a 1\n", "line 1, column 4",
	               "undefined alias '*a'");
	assert_invalid("x: &a 1\n*b : 2\n", "line 2, column 1",
	               "undefined alias '*b'");
	assert_invalid("x: &ab 1\ny: *a\n", "line 2", "undefined alias '*a'");
	/* anchors on keys, on nested nodes, redefined, referred to inside */
	assert_valid("&k a: 1\nb: *k\n");
	assert_valid("x:\n  - &s [1]\n  - {k: &m {}}\ny: [*s, *m]\n");
	assert_valid("x: &a 1\ny: &a [2]\nz: *a\n");
	assert_valid("x: &r [*r]\n");
}

/* Aliases are not expanded: a billion laughs is its text's size. */
static void test_alias_bomb(void **state)
{
	char text[2048];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	                      "a0: &a0 [lol, lol, lol, lol, lol]\n");
	for (int i = 1; i < 30; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "a%d: &a%d [",
		                      i, i);
		for (int j = 0; j < 9; j++)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			                      "*a%d, ", i - 1);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "*a%d]\n",
		                      i - 1);
	}
	assert_true(n < sizeof(text));
	assert_valid(text);
}

/*
 * An alias at a known key is judged by the node its anchor was defined on
 * (the latest definition); it used to be refused as "an alias" always.
 */
static void test_alias_shapes(void **state)
{
	(void)state;
	assert_valid("l: &l [a]\ntags: *l\n");
	assert_valid("s: &s text\nname: *s\n");
	assert_valid("x:\n  - &t [a, b]\nsteps: *t\nagents: *t\n");
	assert_valid("x: &a 1\ny: &a [2]\ntags: *a\n");
	assert_invalid("m: &m {a: 1}\ntags: *m\n", "line 2, column 7",
	               "'tags' must be a sequence, not a mapping (alias '*m')");
	assert_invalid("n: &n ~\nname: *n\n", "line 2, column 7",
	               "'name' must be a string, not null (alias '*n')");
	assert_invalid(
	        "l: &l [a]\nstatus: *l\n", "line 2",
	        "'status' must be a string, not a sequence (alias '*l')");
	assert_invalid("x: &a [1]\ny: &a 2\ntags: *a\n", "line 3, column 7",
	               "'tags' must be a sequence, not a scalar (alias '*a')");
	assert_invalid("tags: &t x\n", "line 1, column 7",
	               "'tags' must be a sequence, not a scalar");
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
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_any_seed),
		cmocka_unit_test(test_duplicate_each),
		cmocka_unit_test(test_nul_in_keys),
		cmocka_unit_test(test_key_shown_safely),
		cmocka_unit_test(test_undefined_alias),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_alias_shapes),
		cmocka_unit_test(test_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
