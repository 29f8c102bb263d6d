/*
 * Unit tests for fs/store/template.c: parsing a prompt's template and
 * declarations, where each tag is in the record (1-based line and column,
 * for every scalar style), every reason the save check gives with its
 * line and column, and rendering: values, defaults, includes (alone on a
 * line or inline), cycles, depth, and the view's leniency.  Included
 * prompts come from a table (struct prompt) instead of the store.
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

#include "template.h"

/* ---- a store of prompts: name (below prompts/) -> text ------------------ */

struct prompt {
	const char *name, *text;
};

static const struct prompt *table;
static int fetches;

static int fetch(void *ctx, const char *name, char *path, void **data,
                 size_t *len)
{
	(void)ctx;
	fetches++;
	for (const struct prompt *p = table; p && p->name; p++) {
		if (strcmp(p->name, name) != 0)
			continue;
		snprintf(path, TPL_PATH_MAX, "prompts/%s.yaml", name);
		*len = strlen(p->text);
		*data = malloc(*len + 1);
		if (*data == NULL)
			return -ENOMEM;
		memcpy(*data, p->text, *len + 1);
		return 0;
	}
	return -ENOENT;
}

static const struct tpl_source source = { fetch, NULL };

static char msg[TPL_MSG_MAX];

static int check_at(const char *path, const char *text)
{
	return tpl_check(text, strlen(text), path, &source, msg, sizeof(msg));
}

static int check(const char *text)
{
	return check_at("prompts/self.yaml", text);
}

#define assert_ok(text)                                                \
	do {                                                           \
		int rc_ = check(text);                                 \
		if (rc_ != 0)                                          \
			fail_msg("expected ok, got %d: %s", rc_, msg); \
	} while (0)

/* The check refuses text with exactly the message want. */
#define assert_refused(text, want)                                           \
	do {                                                                 \
		int rc_ = check(text);                                       \
		if (rc_ != -EINVAL)                                          \
			fail_msg("expected -EINVAL, got %d (%s)", rc_, msg); \
		if (strcmp(msg, want) != 0)                                  \
			fail_msg("message '%s', want '%s'", msg, want);      \
	} while (0)

/* ---- parsing ------------------------------------------------------------ */

static struct tpl t;

static void parse(const char *text)
{
	char m[TPL_MSG_MAX];
	int rc = tpl_parse(&t, text, strlen(text), m, sizeof(m));

	if (rc != 0)
		fail_msg("tpl_parse: %d: %s", rc, m);
}

static void assert_tag(size_t i, enum tpl_tag_kind kind, const char *name,
                       size_t line, size_t column)
{
	if (i >= t.ntags)
		fail_msg("no tag %zu (%zu tags)", i, t.ntags);
	assert_int_equal(t.tags[i].kind, kind);
	assert_string_equal(t.tags[i].name, name);
	if (t.tags[i].line != line || t.tags[i].column != column)
		fail_msg("tag '%s' at line %zu, column %zu, want %zu, %zu",
		         name, t.tags[i].line, t.tags[i].column, line, column);
}

static void test_parse_literal(void **state)
{
	(void)state;
	parse("name: review\n"
	      "template: |\n"
	      "  Review the {{lang}} code.\n"
	      "\n"
	      "    {{> coding/base}} and {{ who }}\n"
	      "variables:\n"
	      "  - name: lang\n"
	      "    description: the language\n"
	      "    default: rust\n"
	      "  - name: who\n"
	      "    required: false\n");
	assert_true(t.has_template);
	assert_true(t.has_variables);
	assert_string_equal(t.text, "Review the {{lang}} code.\n\n  {{> "
	                            "coding/base}} and {{ who }}\n");
	assert_int_equal(t.ntags, 3);
	assert_tag(0, TPL_VAR, "lang", 3, 14);
	assert_tag(1, TPL_INCLUDE, "coding/base", 5, 5);
	assert_tag(2, TPL_VAR, "who", 5, 27);
	assert_int_equal(t.tags[0].start, 11);
	assert_int_equal(t.tags[0].end, 19);
	assert_int_equal(t.ndecls, 2);
	assert_string_equal(t.decls[0].name, "lang");
	assert_string_equal(t.decls[0].description, "the language");
	assert_string_equal(t.decls[0].def, "rust");
	assert_false(t.decls[0].required); /* implied by the default */
	assert_int_equal(t.decls[0].line, 7);
	assert_int_equal(t.decls[0].column, 11);
	assert_null(t.decls[1].def);
	assert_false(t.decls[1].required);
	assert_true(t.decls[1].required_given);
	assert_string_equal(t.problem, "");
	tpl_release(&t);
}

static void test_parse_styles(void **state)
{
	(void)state;
	/* plain, on one line */
	parse("template: Hi {{who}}!\n");
	assert_tag(0, TPL_VAR, "who", 1, 14);
	assert_false(t.has_variables);
	tpl_release(&t);
	/* double-quoted, and a character of two bytes before the tag */
	parse("name: x\ntemplate: \"\xc3\xa9 {{x}}\"\n");
	assert_string_equal(t.text, "\xc3\xa9 {{x}}");
	assert_tag(0, TPL_VAR, "x", 2, 14);
	tpl_release(&t);
	/* single-quoted, with '' */
	parse("template: 'it''s {{x}}'\n");
	assert_tag(0, TPL_VAR, "x", 1, 18);
	tpl_release(&t);
	/* folded: lines are joined, positions stay in the source */
	parse("template: >\n  one {{a}}\n  two {{b}}\n");
	assert_string_equal(t.text, "one {{a}} two {{b}}\n");
	assert_tag(0, TPL_VAR, "a", 2, 7);
	assert_tag(1, TPL_VAR, "b", 3, 7);
	tpl_release(&t);
	/* a comment on the indicator's line is no part of the value */
	parse("template: |  # {{x}}\n  {{y}}\n");
	assert_int_equal(t.ntags, 1);
	assert_tag(0, TPL_VAR, "y", 2, 3);
	tpl_release(&t);
	/* CR LF line breaks, a byte-order mark, an explicit indentation */
	parse("\xef\xbb\xbfname: x\r\ntemplate: |2\r\n   {{a}}\r\n  {{b}}\r\n");
	assert_tag(0, TPL_VAR, "a", 3, 4);
	assert_tag(1, TPL_VAR, "b", 4, 3);
	tpl_release(&t);
	/* plain over two lines */
	parse("template: a {{x}}\n  b {{y}}\n");
	assert_tag(0, TPL_VAR, "x", 1, 13);
	assert_tag(1, TPL_VAR, "y", 2, 5);
	tpl_release(&t);
	/* escapes spelling braces: every tag at the scalar */
	parse("template: \"\\x7b{a}}\"\n");
	assert_string_equal(t.text, "{{a}}");
	assert_tag(0, TPL_VAR, "a", 1, 11);
	tpl_release(&t);
	/* several on a line, runs of braces */
	parse("template: \"{{a}}{{b}} }}{{ c.d-e_f }}\"\n");
	assert_tag(0, TPL_VAR, "a", 1, 12);
	assert_tag(1, TPL_VAR, "b", 1, 17);
	assert_tag(2, TPL_VAR, "c.d-e_f", 1, 25);
	tpl_release(&t);
}

static void test_parse_shapes(void **state)
{
	char m[TPL_MSG_MAX];

	(void)state;
	/* no template: "", no tags */
	parse("name: x\n");
	assert_false(t.has_template);
	assert_string_equal(t.text, "");
	tpl_release(&t);
	/* null variables: counts as present and empty */
	parse("template: x\nvariables:\n");
	assert_true(t.has_variables);
	assert_int_equal(t.ndecls, 0);
	tpl_release(&t);
	/* a null default is no default; quoted, it is "" */
	parse("variables:\n  - {name: a, default: ~}\n"
	      "  - {name: b, default: ''}\n  - {name: c, default: 0123}\n");
	assert_null(t.decls[0].def);
	assert_true(t.decls[0].required);
	assert_string_equal(t.decls[1].def, "");
	assert_string_equal(t.decls[2].def, "0123");
	tpl_release(&t);
	/* the top level no mapping: nothing */
	parse("- template: x\n");
	assert_false(t.has_template);
	tpl_release(&t);
	/* not YAML */
	assert_int_equal(tpl_parse(&t, "a: [\n", 5, m, sizeof(m)), -EINVAL);
	assert_non_null(strstr(m, "line 2"));
	tpl_release(&t);
	assert_true(tpl_valid_name("a"));
	assert_true(tpl_valid_name("_a.b-c9"));
	assert_false(tpl_valid_name(""));
	assert_false(tpl_valid_name("9a"));
	assert_false(tpl_valid_name("a b"));
	assert_false(tpl_valid_name("-a"));
	/* the first of a name repeated */
	parse("variables:\n  - {name: b}\n  - {name: a, default: 1}\n"
	      "  - {name: a, default: 2}\n");
	assert_string_equal(tpl_decl_find(&t, "a")->def, "1");
	assert_non_null(tpl_decl_find(&t, "b"));
	assert_null(tpl_decl_find(&t, "c"));
	tpl_release(&t);
	assert_true(tpl_valid_include("coding/base"));
	assert_true(tpl_valid_include("re view"));
	assert_false(tpl_valid_include(""));
	assert_false(tpl_valid_include("a//b"));
	assert_false(tpl_valid_include("/a"));
	assert_false(tpl_valid_include("a/"));
	assert_false(tpl_valid_include("../a"));
	{
		char name[TPL_PATH_MAX];

		tpl_name_of("prompts/coding/a.yaml", name);
		assert_string_equal(name, "coding/a");
		tpl_name_of("prompts/b.yml", name);
		assert_string_equal(name, "b");
		tpl_name_of("agents/c.yaml", name);
		assert_string_equal(name, "agents/c.yaml");
	}
}

/* ---- the save check ------------------------------------------------------- */

static const struct prompt base_prompts[] = {
	{ "base", "template: |\n  You are careful.\n" },
	{ "uses-tone", "template: Be {{tone}}.\n" },
	{ "deep", "template: '{{> uses-tone}}'\n" },
	{ "broken", "template: '{{> nowhere}}'\n" },
	{ "back", "template: '{{> self}}'\n" },
	{ "self", "template: old\n" },
	{ "loop1", "template: '{{> loop2}}'\n" },
	{ "loop2", "template: '{{> loop1}}'\n" },
	{ NULL, NULL },
};

static int setup_table(void **state)
{
	(void)state;
	table = base_prompts;
	return 0;
}

static void test_check_ok(void **state)
{
	(void)state;
	/* without variables: nothing is checked */
	assert_ok("template: '{{#x}} {{undeclared}} {{> nowhere}} {{'\n");
	assert_ok("name: x\n");
	assert_ok("");
	/* every variable declared and used, includes there */
	assert_ok("template: |\n  {{> base}}\n  In {{lang}}.\n"
	          "variables:\n  - name: lang\n");
	/* a variable used only by an included prompt, declared here */
	assert_ok("template: '{{> deep}}'\nvariables:\n  - name: tone\n"
	          "    default: dry\n");
	/* ... or not declared here: its own business */
	assert_ok("template: '{{> uses-tone}}'\nvariables: []\n");
}

static void test_check_refusals(void **state)
{
	(void)state;
	assert_refused("template: |\n  Hello {{who}}\nvariables: []\n",
	               "line 2, column 9: variable 'who' is not declared");
	assert_refused("template: x\nvariables:\n  - name: a\n",
	               "line 3, column 11: variable 'a' is declared but "
	               "never used");
	assert_refused("template: '{{a}}'\nvariables:\n  - name: a\n"
	               "  - name: a\n",
	               "line 4, column 11: variable 'a' is declared twice "
	               "(first at line 3)");
	assert_refused("template: '{{a}}'\nvariables:\n"
	               "  - {name: a, default: x, required: true}\n",
	               "line 3, column 12: variable 'a' is required and has a "
	               "default: give it one or the other");
	/* the unsupported tags, each where its {{ is */
	static const char *const kinds[] = { "#", "/", "^", "!", "{", "&" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char text[128], want[128];

		snprintf(text, sizeof(text),
		         "variables: []\ntemplate: |\n  ab {{%sx}}\n",
		         kinds[i]);
		snprintf(want, sizeof(want),
		         "line 3, column 6: unsupported tag '{{%s' (a template "
		         "has {{name}} and {{> path}} only)",
		         kinds[i]);
		assert_refused(text, want);
	}
	assert_refused("variables: []\ntemplate: |\n  a\n  b {{ x\n  }}\n",
	               "line 4, column 5: '{{' is not closed on its line");
	assert_refused("variables: []\ntemplate: 'x {{a b}}'\n",
	               "line 2, column 14: '{{a b}}' is not a tag: {{name}} "
	               "takes a variable name ([A-Za-z_][A-Za-z0-9_.-]*), "
	               "{{> path}} a prompt");
	assert_refused("variables: []\ntemplate: '{{> ../x}}'\n",
	               "line 2, column 12: '../x' is not a prompt's path below "
	               "prompts/");
	assert_refused(
	        "variables: []\ntemplate: '{{}}'\n",
	        "line 2, column 12: '{{}}' is not a tag: {{name}} takes a "
	        "variable name ([A-Za-z_][A-Za-z0-9_.-]*), {{> path}} a "
	        "prompt");
	/* the earliest problem wins */
	assert_refused("template: '{{b}} {{#c}}'\nvariables:\n  - name: a\n",
	               "line 1, column 12: variable 'b' is not declared");
}

static void test_check_variables_block(void **state)
{
	(void)state;
	assert_refused("template: x\nvariables: lang\n",
	               "line 2, column 12: 'variables' must be a sequence of "
	               "mappings, not a scalar");
	assert_refused("template: x\nvariables: {a: 1}\n",
	               "line 2, column 12: 'variables' must be a sequence of "
	               "mappings, not a mapping");
	assert_refused("template: x\nvariables:\n  - lang\n",
	               "line 3, column 5: a variable must be a mapping (name, "
	               "description, default, required), not a scalar");
	assert_refused("template: '{{a}}'\nvariables:\n  - name: a\n"
	               "    defualt: x\n",
	               "line 4, column 5: unknown key 'defualt' in a variable "
	               "(name, description, default, required)");
	assert_refused("template: x\nvariables:\n  - description: d\n",
	               "line 3, column 5: a variable without a name");
	assert_refused("template: x\nvariables:\n  - name: 1st\n",
	               "line 3, column 11: '1st' is not a variable name "
	               "([A-Za-z_][A-Za-z0-9_.-]*)");
	assert_refused("template: '{{a}}'\nvariables:\n  - name: a\n"
	               "    required: yes\n",
	               "line 4, column 15: 'required' must be true or false, "
	               "not 'yes'");
	assert_refused("template: '{{a}}'\nvariables:\n  - name: a\n"
	               "    default: [1]\n",
	               "line 4, column 14: 'default' must be a scalar, not a "
	               "sequence");
	assert_refused("template: '{{a}}'\nvariables:\n  - name: a\n"
	               "    name: b\n",
	               "line 4, column 5: duplicate key 'name' in a variable");
	assert_refused("template: [a]\nvariables: []\n",
	               "line 1, column 11: 'template' must be a scalar, not a "
	               "sequence");
	/* variables: without template: declares what nothing uses */
	assert_refused("variables:\n  - name: a\n",
	               "line 2, column 11: variable 'a' is declared but never "
	               "used");
}

static void test_check_includes(void **state)
{
	(void)state;
	assert_refused("variables: []\ntemplate: |\n  x\n  {{> nowhere}}\n",
	               "line 4, column 3: prompt 'nowhere' does not exist");
	assert_refused("variables: []\ntemplate: '{{> broken}}'\n",
	               "line 2, column 12: prompt 'broken' includes 'nowhere', "
	               "which does not exist");
	assert_refused("variables: []\ntemplate: '{{> back}}'\n",
	               "line 2, column 12: include cycle: self -> back -> "
	               "self");
	assert_refused("variables: []\ntemplate: 'a {{> self}}'\n",
	               "line 2, column 14: include cycle: self -> self");
	assert_refused("variables: []\ntemplate: '{{> loop1}}'\n",
	               "line 2, column 12: include cycle: self -> loop1 -> "
	               "loop2 -> loop1");
	/* a variable only an include uses, declared here and unused there */
	assert_refused("template: '{{> base}}'\nvariables:\n  - name: tone\n",
	               "line 3, column 11: variable 'tone' is declared but "
	               "never used");
}

/* A chain of n prompts, c1 including c2 ... */
static struct prompt chain_prompts[40];
static char chain_names[40][8], chain_texts[40][64];

static void make_chain(int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(chain_names[i], sizeof(chain_names[i]), "c%d", i + 1);
		if (i + 1 < n)
			snprintf(chain_texts[i], sizeof(chain_texts[i]),
			         "template: '%d{{> c%d}}'\n", i + 1, i + 2);
		else
			snprintf(chain_texts[i], sizeof(chain_texts[i]),
			         "template: end\n");
		chain_prompts[i].name = chain_names[i];
		chain_prompts[i].text = chain_texts[i];
	}
	chain_prompts[n].name = NULL;
	table = chain_prompts;
}

static void test_check_depth(void **state)
{
	(void)state;
	make_chain(TPL_MAX_DEPTH);
	assert_ok("variables: []\ntemplate: '{{> c1}}'\n");
	make_chain(TPL_MAX_DEPTH + 1);
	assert_int_equal(check("variables: []\ntemplate: '{{> c1}}'\n"),
	                 -EINVAL);
	assert_non_null(strstr(msg, "line 2, column 12: includes nested "
	                            "deeper than 16: self -> c1 -> c2"));
	table = base_prompts;
}

/* ---- rendering ------------------------------------------------------------ */

static char *out;
static size_t outlen;

static int render_mode(const char *text, enum tpl_mode mode,
                       const struct tpl_value *v, size_t nv)
{
	struct tpl_render_opts o = { mode, v, nv };

	free(out);
	out = NULL;
	return tpl_render(text, strlen(text), "prompts/self.yaml", &source, &o,
	                  &out, &outlen, msg, sizeof(msg));
}

#define assert_renders(text, v, nv, want)                       \
	do {                                                    \
		int rc_ = render_mode(text, TPL_STRICT, v, nv); \
		if (rc_ != 0)                                   \
			fail_msg("render: %d: %s", rc_, msg);   \
		assert_string_equal(out, want);                 \
		assert_int_equal(outlen, strlen(want));         \
	} while (0)

#define assert_views(text, want)                                \
	do {                                                    \
		int rc_ = render_mode(text, TPL_VIEW, NULL, 0); \
		if (rc_ != 0)                                   \
			fail_msg("view: %d: %s", rc_, msg);     \
		assert_string_equal(out, want);                 \
	} while (0)

#define assert_render_fails(text, v, nv, code, want)                    \
	do {                                                            \
		int rc_ = render_mode(text, TPL_STRICT, v, nv);         \
		assert_int_equal(rc_, code);                            \
		if (strcmp(msg, want) != 0)                             \
			fail_msg("message '%s', want '%s'", msg, want); \
	} while (0)

static const struct prompt render_prompts[] = {
	{ "base", "template: |\n  You are careful.\n  Be brief.\n" },
	{ "oneline", "template: one line" },
	{ "empty", "name: e\n" },
	{ "tone", "template: 'Be {{tone}}.'\nvariables:\n"
	          "  - {name: tone, default: calm}\n" },
	{ "needs", "template: 'Use {{tool}}.'\nvariables:\n"
	           "  - name: tool\n" },
	{ "a", "template: 'A{{> b}}'\n" },
	{ "b", "template: 'B{{> a}}'\n" },
	{ "missing", "template: 'M{{> nowhere}}'\n" },
	{ NULL, NULL },
};

static int setup_render(void **state)
{
	(void)state;
	table = render_prompts;
	return 0;
}

static int teardown_render(void **state)
{
	(void)state;
	free(out);
	out = NULL;
	return 0;
}

static void test_render_values(void **state)
{
	static const char text[] =
	        "template: 'Review {{lang}} for {{ who }}{{opt}}.'\n"
	        "variables:\n"
	        "  - {name: lang, default: rust}\n"
	        "  - {name: who}\n"
	        "  - {name: opt, required: false}\n";
	struct tpl_value v[] = { { "who", "Ann" },
		                 { "lang", "go" },
		                 { "who", "Bob" } };

	(void)state;
	assert_renders(text, v, 1, "Review rust for Ann.");
	assert_renders(text, v, 3, "Review go for Bob."); /* last wins */
	assert_render_fails(text, NULL, 0, -EINVAL,
	                    "line 1, column 32: variable 'who' has no value "
	                    "(no default, and none given)");
	struct tpl_value bad[] = { { "who", "x" }, { "nope", "y" } };

	assert_render_fails(text, bad, 2, -EINVAL,
	                    "variable 'nope' is not declared (by 'self' or a "
	                    "prompt it includes)");
	/* the view: defaults, and {{name}} for the rest */
	assert_views(text, "Review rust for {{who}}{{opt}}.");
	/* without variables: any value goes, none declared */
	struct tpl_value any[] = { { "x", "X" }, { "nope", "y" } };

	assert_renders("template: '{{x}}'\n", any, 2, "X");
	assert_render_fails("template: '{{x}}'\n", NULL, 0, -EINVAL,
	                    "line 1, column 12: variable 'x' has no value (no "
	                    "default, and none given)");
	/* a value goes in as it is: no escaping, no tags read in it */
	struct tpl_value raw[] = { { "x", "<&> {{y}}\n" } };

	assert_renders("template: '[{{x}}]'\n", raw, 1, "[<&> {{y}}\n]");
	/* unsupported tags are text where nothing is checked */
	assert_renders("template: '{{#s}}{{/s}} {{'\n", NULL, 0,
	               "{{#s}}{{/s}} {{");
	assert_renders("name: x\n", NULL, 0, "");
}

static void test_render_includes(void **state)
{
	(void)state;
	/* alone on its line: whole lines, indented as the tag */
	assert_renders("template: |\n  {{> base}}\n  Review.\n", NULL, 0,
	               "You are careful.\nBe brief.\nReview.\n");
	assert_renders("template: |\n  Start:\n    {{> base}}\n  End.\n", NULL,
	               0, "Start:\n  You are careful.\n  Be brief.\nEnd.\n");
	/* inline: the text as it is */
	assert_renders("template: '[{{> oneline}}]'\n", NULL, 0, "[one line]");
	/* alone, without a final line break: the tag's line break stays */
	assert_renders("template: |\n  {{> oneline}}\n  next\n", NULL, 0,
	               "one line\nnext\n");
	/* an included prompt without template: drops its line */
	assert_renders("template: |\n  a\n  {{> empty}}\n  b\n", NULL, 0,
	               "a\nb\n");
	/* the included prompt's default, and the outer declaration first */
	assert_renders("template: '{{> tone}}'\n", NULL, 0, "Be calm.");
	assert_renders("template: '{{> tone}}'\nvariables:\n"
	               "  - {name: tone, default: dry}\n",
	               NULL, 0, "Be dry.");
	struct tpl_value v[] = { { "tone", "bold" }, { "tool", "gdb" } };

	assert_renders("template: '{{> tone}} {{> needs}}'\nvariables: []\n", v,
	               2, "Be bold. Use gdb.");
	assert_render_fails("template: 'x {{> needs}}'\n", NULL, 0, -EINVAL,
	                    "line 1, column 14: variable 'tool' of prompt "
	                    "'needs' has no value (no default, and none "
	                    "given)");
	assert_render_fails("template: 'x {{> a}}'\n", NULL, 0, -EINVAL,
	                    "line 1, column 14: include cycle: self -> a -> b "
	                    "-> a");
	assert_render_fails("template: '{{> missing}}'\n", NULL, 0, -ENOENT,
	                    "line 1, column 12: prompt 'missing' includes "
	                    "'nowhere', which does not exist");
	assert_render_fails("template: '{{> gone}}'\n", NULL, 0, -ENOENT,
	                    "line 1, column 12: prompt 'gone' does not exist");
	/* the view keeps what it cannot render as written */
	assert_views("template: '{{> gone}}|{{> a}}|{{> tone}}'\n",
	             "{{> gone}}|AB{{> a}}|Be calm.");
}

static void test_render_limits(void **state)
{
	static struct prompt fan[20];
	static char names[20][8], texts[20][64];

	(void)state;
	make_chain(TPL_MAX_DEPTH);
	assert_renders("template: '{{> c1}}'\n", NULL, 0,
	               "123456789101112131415end");
	make_chain(TPL_MAX_DEPTH + 1);
	assert_int_equal(
	        render_mode("template: '{{> c1}}'\n", TPL_STRICT, NULL, 0),
	        -EINVAL);
	assert_non_null(strstr(msg, "includes nested deeper than 16"));
	assert_views("template: '{{> c1}}'\n",
	             "12345678910111213141516{{> c17}}");
	/* each prompt includes the next twice: 2^15 includes */
	for (int i = 0; i < 16; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		if (i < 15)
			snprintf(texts[i], sizeof(texts[i]),
			         "template: '{{> f%d}}{{> f%d}}'\n", i + 1,
			         i + 1);
		else
			snprintf(texts[i], sizeof(texts[i]), "template: x\n");
		fan[i].name = names[i];
		fan[i].text = texts[i];
	}
	fan[16].name = NULL;
	table = fan;
	fetches = 0;
	assert_int_equal(
	        render_mode("template: '{{> f0}}'\n", TPL_STRICT, NULL, 0),
	        -EFBIG);
	assert_string_equal(msg, "line 1, column 12: more than 10000 includes");
	assert_int_equal(fetches, 16); /* each prompt fetched once */
	assert_int_equal(check("variables: []\ntemplate: '{{> f0}}'\n"),
	                 -EINVAL);
	table = render_prompts;
}

/* Texts made to be slow: a line of 300,000 unclosed "{{", and 20,000
 * variables declared and used; the check is linear (a quadratic one
 * would take minutes here). */
static void test_check_large(void **state)
{
	static const char head[] = "variables: []\ntemplate: '";
	size_t n = 300000, len = sizeof(head) - 1 + 3 * n + 3, k;
	char *text = malloc(len + 1);

	(void)state;
	assert_non_null(text);
	memcpy(text, head, sizeof(head) - 1);
	k = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++, k += 3)
		memcpy(text + k, "{{a", 3);
	memcpy(text + k, "'\n", 3);
	text[len - 1] = '\0';
	assert_int_equal(check(text), -EINVAL);
	assert_string_equal(
	        msg, "line 2, column 12: '{{' is not closed on its line");
	free(text);

	n = 20000;
	text = malloc(n * 40 + 64);
	assert_non_null(text);
	k = (size_t)sprintf(text, "template: |\n");
	for (size_t i = 0; i < n; i++)
		k += (size_t)sprintf(text + k, "  {{v%zu}}\n", i);
	k += (size_t)sprintf(text + k, "variables:\n");
	for (size_t i = n; i-- > 0;)
		k += (size_t)sprintf(text + k, "  - name: v%zu\n", i);
	assert_ok(text);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_literal),
		cmocka_unit_test(test_parse_styles),
		cmocka_unit_test(test_parse_shapes),
		cmocka_unit_test_setup(test_check_ok, setup_table),
		cmocka_unit_test_setup(test_check_refusals, setup_table),
		cmocka_unit_test_setup(test_check_variables_block, setup_table),
		cmocka_unit_test_setup(test_check_includes, setup_table),
		cmocka_unit_test_setup(test_check_depth, setup_table),
		cmocka_unit_test_setup(test_check_large, setup_table),
		cmocka_unit_test_setup_teardown(test_render_values,
		                                setup_render, teardown_render),
		cmocka_unit_test_setup_teardown(test_render_includes,
		                                setup_render, teardown_render),
		cmocka_unit_test_setup_teardown(test_render_limits,
		                                setup_render, teardown_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
