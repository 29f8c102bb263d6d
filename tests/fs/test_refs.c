/*
 * The references of a record found in the parse that validates it
 * (ref_set_event() fed by yaml_check_events()) against those refs_each()
 * finds in a parse of its own: the same, in the same order, with the same
 * places, for hand-written records and for generated ones; a set is used
 * only for the very text it was made from, after a whole parse; and the
 * index a save leaves is the same whichever the store used, and however
 * many versions came before (refs.c keeps the references of recent
 * texts).
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

#include "fstest.h"
#include "refs.h"
#include "yaml_check.h"

/* What refs_each() finds, as one line a reference. */
struct found {
	char buf[8192];
	size_t len;
};

static int note(void *ctx, const struct ref *r)
{
	struct found *f = ctx;
	int n = snprintf(f->buf + f->len, sizeof(f->buf) - f->len,
	                 "%d %.*s %zu:%zu %zu-%zu\n", (int)r->kind, (int)r->len,
	                 r->name, r->line, r->column, r->start, r->end);

	assert_true(n > 0 && (size_t)n < sizeof(f->buf) - f->len);
	f->len += (size_t)n;
	return 0;
}

/* Both ways; returns yaml_check's result, and asserts the two agree
 * whenever the text is valid. */
static int compare(const char *text, size_t len)
{
	struct found a = { .len = 0 }, b = { .len = 0 };
	struct ref_set rs;
	int rc;

	a.buf[0] = b.buf[0] = '\0';
	assert_int_equal(refs_each(text, len, note, &a), 0);
	ref_set_init(&rs, text, len);
	rc = yaml_check_events(text, len, NULL, 0, ref_set_event, &rs);
	if (rc == 0) {
		assert_true(ref_set_usable(&rs, text, len));
		for (size_t i = 0; i < rs.n; i++)
			note(&b, &rs.v[i]);
		if (strcmp(a.buf, b.buf) != 0)
			fail_msg("text:\n%.*s\nrefs_each:\n%s\nset:\n%s",
			         (int)len, text, a.buf, b.buf);
	} else {
		assert_int_equal(rc, -EINVAL);
	}
	ref_set_release(&rs);
	return rc;
}

static void test_same_as_refs_each(void **state)
{
	static const char *texts[] = {
		"",
		"# only a comment\n",
		"name: w\nagents: [a, b, a]\nprompts:\n  - coding/review\n",
		"name: w\nsteps:\n  - agent: reviewer\n    prompt: x/y\n"
		"  - {agent: 'q', prompt: \"z\"}\n",
		"agents: &A [one, two]\nother: *A\nsteps:\n  - agent: *A\n",
		"name: é ü 漢字\nagents:\n  - ünïcödé\n  - \"quoted name\"\n",
		"{agents: [x], prompts: [p/q], steps: [{agent: y}]}\n",
		"description: |\n  agents: [not, a, key]\nagents: []\n",
		"nested:\n  agents: [deep]\nsteps:\n  - name: s\n"
		"    sub: {agent: no}\n    agent: yes\n",
		"agents: [a]\n---\nagents: [second document]\n",
		"agents: [unclosed\n",
		"agents: [a]\nagents: [duplicate key]\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		compare(texts[i], strlen(texts[i]));
}

/* Records put together from pieces, valid or not, many times over. */
static void test_generated(void **state)
{
	static const char *pieces[] = {
		"name: w\n",
		"agents: [a, b]\n",
		"agents:\n  - c\n",
		"prompts: [p/q]\n",
		"steps:\n",
		"  - agent: s\n",
		"    prompt: t/u\n",
		"  - {agent: v}\n",
		"x: &k [m]\n",
		"y: *k\n",
		"tags: [1, 2]\n",
		"'agents': [q]\n",
		"z: {a: [b, {c: d}]}\n",
		"d: \"\\u00e9\"\n",
		"bad: [\n",
		"- list\n",
		"é: ü\n",
		"\"prompts\": [r]\n",
	};
	const size_t np = sizeof(pieces) / sizeof(pieces[0]);
	uint64_t x = 0x9e3779b97f4a7c15u;
	unsigned valid = 0;
	char text[1024];

	(void)state;
	for (unsigned round = 0; round < 3000; round++) {
		size_t len = 0, n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = 1 + x % 6;
		for (size_t i = 0; i < n; i++) {
			const char *p = pieces[(x >> (8 * i)) % np];

			memcpy(text + len, p, strlen(p));
			len += strlen(p);
		}
		if (compare(text, len) == 0)
			valid++;
	}
	/* both kinds were tried */
	assert_true(valid > 300);
	assert_true(valid < 2900);
}

static void test_usable(void **state)
{
	static const char text[] = "agents: [a]\n";
	char copy[sizeof(text)];
	struct ref_set rs;

	(void)state;
	memcpy(copy, text, sizeof(text));
	ref_set_init(&rs, text, strlen(text));
	/* not parsed yet */
	assert_false(ref_set_usable(&rs, text, strlen(text)));
	assert_int_equal(yaml_check_events(text, strlen(text), NULL, 0,
	                                   ref_set_event, &rs),
	                 0);
	assert_true(ref_set_usable(&rs, text, strlen(text)));
	assert_int_equal(rs.n, 1);
	/* the same bytes elsewhere, or fewer of them, are another text */
	assert_false(ref_set_usable(&rs, copy, strlen(copy)));
	assert_false(ref_set_usable(&rs, text, strlen(text) - 1));
	assert_false(ref_set_usable(NULL, text, strlen(text)));
	ref_set_release(&rs);

	/* a parse that stopped at an error saw no end */
	ref_set_init(&rs, "agents: [a\n", 11);
	assert_int_equal(yaml_check_events("agents: [a\n", 11, NULL, 0,
	                                   ref_set_event, &rs),
	                 -EINVAL);
	assert_false(ref_set_usable(&rs, rs.text, rs.len));
	ref_set_release(&rs);
}

/* The refs table, dumped as "TARGET SOURCE COUNT" lines (the count is
 * stored little-endian, bytes.h). */
static int dump_one(void *ctx, kv_val key, kv_val val)
{
	struct found *f = ctx;
	const char *k = key.data;
	const unsigned char *v = val.data;
	size_t tl = strnlen(k, key.len);
	int n;

	assert_int_equal(val.len, 4);
	n = snprintf(f->buf + f->len, sizeof(f->buf) - f->len, "%.*s %.*s %u\n",
	             (int)tl, k, (int)(key.len - tl - 1), k + tl + 1,
	             (unsigned)v[3] << 24 | (unsigned)v[2] << 16 |
	                     (unsigned)v[1] << 8 | v[0]);
	assert_true(n > 0 && (size_t)n < sizeof(f->buf) - f->len);
	f->len += (size_t)n;
	return 0;
}

/* Save text at path in one commit, handing the store the set made by its
 * validation or not. */
static void save(kv_env *env, const char *path, const char *text, bool with_set)
{
	struct ref_set rs;
	struct stx s;

	ref_set_init(&rs, text, strlen(text));
	assert_int_equal(yaml_check_events(text, strlen(text), NULL, 0,
	                                   ref_set_event, &rs),
	                 0);
	assert_int_equal(stx_begin(env, true, &s), 0);
	s.refs_new = with_set ? &rs : NULL;
	assert_int_equal(
	        store_content_put(&s, path, 0100644, text, strlen(text)), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
	ref_set_release(&rs);
}

/* The index's lines of source, with source written as "SRC". */
static void lines_of(kv_env *env, const char *source, struct found *out)
{
	struct found all = { .len = 0 };
	struct stx s;
	char *line, *save_ptr = NULL;

	all.buf[0] = '\0';
	assert_int_equal(stx_begin(env, false, &s), 0);
	assert_int_equal(store_scan(&s, REFS_TABLE, NULL, 0, dump_one, &all),
	                 0);
	stx_abort(&s);
	out->len = 0;
	out->buf[0] = '\0';
	for (line = strtok_r(all.buf, "\n", &save_ptr); line != NULL;
	     line = strtok_r(NULL, "\n", &save_ptr)) {
		char *at = strstr(line, source);

		if (at == NULL)
			continue;
		out->len += (size_t)snprintf(out->buf + out->len,
		                             sizeof(out->buf) - out->len,
		                             "%.*sSRC%s\n", (int)(at - line),
		                             line, at + strlen(source));
	}
}

static void test_index_same(void **state)
{
	struct tmpenv *te = *state;
	static const char *versions[] = {
		"name: w\nagents: [a, b, a]\nsteps:\n  - prompt: p/q\n",
		"name: w\nagents: [b]\nprompts: [r]\n",
		"name: w\n",
		"name: w\nsteps: [{agent: c}, {agent: c}]\n",
	};
	struct found one, two;

	put_file(te->env, "workflows/one.yaml", "");
	put_file(te->env, "workflows/two.yaml", "");
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		save(te->env, "workflows/one.yaml", versions[i], true);
		save(te->env, "workflows/two.yaml", versions[i], false);
		lines_of(te->env, "workflows/one.yaml", &one);
		lines_of(te->env, "workflows/two.yaml", &two);
		assert_string_equal(one.buf, two.buf);
		if (i == 0)
			assert_string_equal(one.buf,
			                    "agents/a.yaml SRC 2\n"
			                    "agents/b.yaml SRC 1\n"
			                    "prompts/p/q.yaml SRC 1\n");
		if (i == 3)
			assert_string_equal(one.buf, "agents/c.yaml SRC 2\n");
	}
}

/* More versions than the recent texts hold (refs.c keeps 256): whether
 * the old text is found there or parsed again, the index is right. */
static void test_index_many_versions(void **state)
{
	struct tmpenv *te = *state;
	struct found one;

	put_file(te->env, "workflows/one.yaml", "");
	for (unsigned i = 0; i < 300; i++) {
		char text[128], want[256];

		snprintf(text, sizeof(text),
		         "name: v%u\nagents: [a%u, b%u]\nsteps: [{agent: "
		         "a%u}]\n",
		         i, i % 7, i % 3, i % 7);
		snprintf(want, sizeof(want),
		         "agents/a%u.yaml SRC 2\nagents/b%u.yaml SRC 1\n",
		         i % 7, i % 3);
		save(te->env, "workflows/one.yaml", text, i % 2 == 0);
		lines_of(te->env, "workflows/one.yaml", &one);
		assert_string_equal(one.buf, want);
	}
	/* and back to a version long gone from the recent ones */
	save(te->env, "workflows/one.yaml", "name: v0\nagents: [a0, b0]\n",
	     false);
	lines_of(te->env, "workflows/one.yaml", &one);
	assert_string_equal(one.buf,
	                    "agents/a0.yaml SRC 1\nagents/b0.yaml SRC 1\n");
}

/* The store takes a usable set's references as they are: given the set
 * of another text (made to look like this one's), it indexes those. */
static void test_index_takes_set(void **state)
{
	struct tmpenv *te = *state;
	static const char other[] = "agents: [from-the-set]\n";
	static const char text[] = "agents: [from-the-text]\n";
	struct found one;
	struct ref_set rs;
	struct stx s;

	put_file(te->env, "workflows/one.yaml", "");
	ref_set_init(&rs, other, strlen(other));
	assert_int_equal(yaml_check_events(other, strlen(other), NULL, 0,
	                                   ref_set_event, &rs),
	                 0);
	rs.text = text;
	rs.len = strlen(text);
	assert_int_equal(stx_begin(te->env, true, &s), 0);
	s.refs_new = &rs;
	assert_int_equal(store_content_put(&s, "workflows/one.yaml", 0100644,
	                                   text, strlen(text)),
	                 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
	ref_set_release(&rs);
	lines_of(te->env, "workflows/one.yaml", &one);
	assert_string_equal(one.buf, "agents/from-the-set.yaml SRC 1\n");
}

/* Move the file at from onto to (replacing a record there), as a rename
 * through the mount does, in one commit. */
static void move(kv_env *env, const char *from, const char *to,
                 uint32_t dst_mode)
{
	struct subtree t = { 0 };
	struct stx s;

	assert_int_equal(stx_begin(env, true, &s), 0);
	assert_int_equal(store_subtree_load(&s, from, &t), 0);
	assert_int_equal(store_subtree_move(&s, from, to, &t, dst_mode), 0);
	assert_int_equal(stx_commit(&s, KV_DURABLE_NONE), 0);
	subtree_release(&t);
}

/* A save by rename: a side file moved over the record.  The references
 * the two texts share stay, the others come and go; a record renamed
 * takes its references along. */
static void test_index_rename(void **state)
{
	struct tmpenv *te = *state;
	struct found one, tmp, three;

	put_file(te->env, "workflows/one.yaml", "");
	save(te->env, "workflows/one.yaml",
	     "name: w\nagents: [a, b, b]\nsteps: [{prompt: p}]\n", true);
	put_file(te->env, "workflows/one.yaml.tmp",
	         "name: w\nagents: [b, c]\nsteps: [{prompt: p}]\n");
	lines_of(te->env, "workflows/one.yaml.tmp", &tmp);
	assert_string_equal(tmp.buf, ""); /* a side file has none */
	move(te->env, "workflows/one.yaml.tmp", "workflows/one.yaml", 0100644);
	lines_of(te->env, "workflows/one.yaml", &one);
	assert_string_equal(one.buf, "agents/b.yaml SRC 1\n"
	                             "agents/c.yaml SRC 1\n"
	                             "prompts/p.yaml SRC 1\n");
	/* the same text again: nothing changes */
	put_file(te->env, "workflows/one.yaml.tmp",
	         "name: w\nagents: [b, c]\nsteps: [{prompt: p}]\n");
	move(te->env, "workflows/one.yaml.tmp", "workflows/one.yaml", 0100644);
	lines_of(te->env, "workflows/one.yaml", &tmp);
	assert_string_equal(tmp.buf, one.buf);
	/* a record renamed: its references leave with it */
	move(te->env, "workflows/one.yaml", "workflows/three.yaml", 0);
	lines_of(te->env, "workflows/one.yaml", &tmp);
	assert_string_equal(tmp.buf, "");
	lines_of(te->env, "workflows/three.yaml", &three);
	assert_string_equal(three.buf, one.buf);
	/* and a record renamed to a side file's name leaves none behind */
	move(te->env, "workflows/three.yaml", "workflows/three.bak", 0);
	lines_of(te->env, "workflows/three", &three);
	assert_string_equal(three.buf, "");
}

static int setup(void **state)
{
	return fstest_setup(state, "refs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_refs_each),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_usable),
		cmocka_unit_test_setup_teardown(test_index_same, setup,
		                                tmpenv_teardown),
		cmocka_unit_test_setup_teardown(test_index_rename, setup,
		                                tmpenv_teardown),
		cmocka_unit_test_setup_teardown(test_index_takes_set, setup,
		                                tmpenv_teardown),
		cmocka_unit_test_setup_teardown(test_index_many_versions, setup,
		                                tmpenv_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
