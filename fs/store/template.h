/*
 * template: a prompt's template and the variables it declares, read from
 * the record's own text.  Pure: libyaml only, no kv or FUSE calls; the
 * prompts an include names come through a callback (struct tpl_source),
 * which rendered.h backs with the store and the unit tests with a table.
 * Used by rendered.c (the save check, cccfs render, the .rendered view).
 *
 * A prompt's top-level `template:` scalar is a small subset of mustache,
 * without logic:
 *
 *   {{name}}      a variable; a name is [A-Za-z_][A-Za-z0-9_.-]*, and
 *                 spaces or tabs may stand inside the braces ({{ name }})
 *   {{> PATH}}    an include: the template of the prompt PATH below
 *                 prompts/ (coding/base: prompts/coding/base.yaml, or .yml
 *                 when only that exists), rendered in its turn
 *
 * Nothing else: sections, inverted sections, comments, unescaped output
 * and delimiter changes ({{#, {{/, {{^, {{!, {{{, {{&, {{=) are not
 * supported, and a value goes in as it is (no escaping).  A tag is on one
 * line.  An include alone on its line (blanks around it) stands for whole
 * lines: each line of the included text is indented as the tag is, and
 * the tag's line break goes when the included text ends in one; so
 *
 *   template: |
 *     {{> coding/base}}
 *     Review the diff.
 *
 * renders base's lines, then "Review the diff.", with no blank line.
 *
 * An optional top-level `variables:` declares the variables:
 *
 *   variables:
 *     - name: lang          the name (required)
 *       description: ...    free text
 *       default: rust       a scalar, taken as written (off is "off")
 *       required: true      true or false; when left out, true without a
 *                           default and false with one
 *
 * Variables and includes.  A variable is looked up in the values given
 * (cccfs render -v), then in the declarations along the include chain,
 * outermost first: the prompt being rendered, then the prompt it
 * includes, and so on down to the prompt whose template uses it.  The
 * first declaration found decides its default and whether it is
 * required; none means no default, and required.  So a prompt may declare
 * a variable that only prompts it includes use, to give it a default of
 * its own or to let -v set it; the declaration then counts as used.  A
 * variable used only inside an included prompt and not declared by the
 * including prompt is not the including prompt's business at all.
 *
 * The save check (tpl_check), only when variables: is present, refuses a
 * prompt whose text
 *   - uses a variable its own variables: does not declare,
 *   - declares one that neither it nor a prompt it includes uses,
 *   - declares one twice, or as required and with a default,
 *   - has an unsupported or invalid tag, or a {{ not closed on its line,
 *   - has a malformed variables: block, or a template: that is not a
 *     scalar,
 *   - or whose rendering would fail on its includes: one that does not
 *     exist (at any depth), a cycle, or nesting deeper than TPL_MAX_DEPTH.
 * Without variables: nothing is checked, so prompts written before
 * templates keep working.
 */
#ifndef CCCFS_FS_TEMPLATE_H
#define CCCFS_FS_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#define TPL_MSG_MAX 256
#define TPL_MAX_DEPTH 16        /* includes nested in one another */
#define TPL_MAX_INCLUDES 10000  /* includes expanded in one rendering */
#define TPL_OUT_MAX (16u << 20) /* bytes of a rendering */

enum tpl_tag_kind { TPL_VAR, TPL_INCLUDE };

struct tpl_tag {
	enum tpl_tag_kind kind;
	char *name;          /* the variable's name, or the include's path */
	size_t start, end;   /* its bytes in the template, "{{" to "}}" */
	size_t line, column; /* 1-based: where its "{{" is in the record */
};

struct tpl_decl {
	char *name;
	char *description;   /* NULL when none */
	char *def;           /* the default, NULL when none (or null) */
	bool required;       /* as declared, or as implied (no default) */
	bool required_given; /* required: was written */
	size_t line, column; /* of the name's value */
};

/* A record's template and declarations, parsed. */
struct tpl {
	bool has_template;  /* template: is a scalar */
	bool has_variables; /* a variables: key (null counts as empty) */
	char *text;         /* the template, NUL-terminated ("" without one) */
	size_t len;
	struct tpl_tag *tags; /* every valid tag, in order */
	size_t ntags;
	struct tpl_decl *decls; /* in order, repeats included */
	size_t ndecls;
	struct tpl_decl **byname; /* decls by name, then order (for
	                             tpl_decl_find()) */
	/* The first problem in the text that tpl_check refuses (a bad tag,
	 * a malformed variables: block), "" when none: "line L, column C:
	 * reason".  Kept whether or not variables: is present. */
	char problem[TPL_MSG_MAX];
	size_t pline, pcol;
};

/*
 * Parse a record's text into t (which tpl_release() frees, whatever the
 * result).  0; -EINVAL when the text is not YAML (msg, size n, may be
 * NULL, then says why, as "line L, column C: ..."); -ENOMEM.  A text
 * whose top level is no mapping has neither template nor variables.
 */
int tpl_parse(struct tpl *t, const void *data, size_t len, char *msg, size_t n);
void tpl_release(struct tpl *t);

/* The first declaration of name in t, or NULL. */
const struct tpl_decl *tpl_decl_find(const struct tpl *t, const char *name);

/*
 * Where included prompts come from.  fetch: the record an include names
 * (name: its path below prompts/, as written, e.g. "coding/base"): its
 * path in the store (prompts/coding/base.yaml) into path, of
 * TPL_PATH_MAX bytes, and a malloc'd copy of its text into *data and
 * *len.  Returns 0, -ENOENT when there is no such prompt, or another
 * error, which ends the walk and is returned.  A NULL source has no
 * prompts.
 */
#define TPL_PATH_MAX 1001
struct tpl_source {
	int (*fetch)(void *ctx, const char *name, char *path, void **data,
	             size_t *len);
	void *ctx;
};

/* The name an include gives the prompt at path ("prompts/coding/a.yaml"
 * is "coding/a"), into buf (TPL_PATH_MAX bytes); path itself when it is
 * not a record below prompts/. */
void tpl_name_of(const char *path, char *buf);

/* Whether name is a variable name: [A-Za-z_][A-Za-z0-9_.-]*. */
bool tpl_valid_name(const char *name);

/* Whether name can name a prompt: not empty, no empty, "." or ".."
 * component, no NUL, at most PM_PATH_MAX bytes with prompts/ and .yaml. */
bool tpl_valid_include(const char *name);

/*
 * The save check (see the top of this file) of the record text at data,
 * to be saved at path (its includes reaching path make a cycle).  0 when
 * it may be saved (always, without variables:); -EINVAL with msg ("line
 * L, column C: variable 'x' is not declared"; size n, at most
 * TPL_MSG_MAX is useful); -ENOMEM; or the error of src's fetch.  The
 * problems in the text itself are reported first, the earliest; then
 * those of the includes, in the order of the tags; then declarations
 * used nowhere.
 */
int tpl_check(const void *data, size_t len, const char *path,
              const struct tpl_source *src, char *msg, size_t n);

/* ---- rendering ----------------------------------------------------------- */

struct tpl_value {
	const char *name, *value;
};

enum tpl_mode {
	/* cccfs render: a variable without a value is an error when it is
	 * required and empty when not; so is a value given for a name no
	 * prompt of the rendering declares, when the prompt has variables:;
	 * and every failed include. */
	TPL_STRICT,
	/* the .rendered view: never fails on the text; a variable without a
	 * default stays {{name}}, an include that cannot be rendered (does
	 * not exist, a cycle, too deep) stays as written. */
	TPL_VIEW,
};

struct tpl_render_opts {
	enum tpl_mode mode;
	const struct tpl_value *values; /* the last of a name wins */
	size_t nvalues;
};

/*
 * Render the template of the record text at data (the prompt at path,
 * for cycles and messages) with its includes from src, into *out
 * (malloc'd, NUL-terminated, *outlen bytes before the NUL).  0;
 * -EINVAL with msg (a value missing, a name not declared, an include
 * cycle or nesting too deep, a text that is not YAML); -ENOENT with msg
 * (an include of a prompt that does not exist); -EFBIG (more than
 * TPL_OUT_MAX bytes or TPL_MAX_INCLUDES includes); -ENOMEM; or src's
 * error.  A text without template: renders as "".
 */
int tpl_render(const void *data, size_t len, const char *path,
               const struct tpl_source *src, const struct tpl_render_opts *o,
               char **out, size_t *outlen, char *msg, size_t n);

#endif
