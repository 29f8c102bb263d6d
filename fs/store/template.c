/*
 * template: a prompt's template and declared variables, the save check and
 * rendering.  See template.h for the language and the rules.
 *
 * Parsing walks libyaml's events once: the top-level mapping's template:
 * scalar (its value, style and marks) and variables: sequence of mappings.
 * The tags are then found in the value, and each is placed in the record's
 * text by matching the "{{" pairs of the value with those of the scalar's
 * source: folding, indentation and '' escapes never make or split a pair,
 * so the k-th pair of one is the k-th of the other, for every style (a
 * double-quoted scalar whose escapes spell braces is the exception: its
 * pairs then differ in number, and every tag is placed at the scalar).
 *
 * Rendering and the save check's walk of the includes are one recursive
 * expansion (expand()): the check runs it without output, collecting the
 * variables the included prompts use, so it refuses exactly the include
 * failures a rendering would meet.  The prompts an include names are
 * fetched and parsed once a run (struct entry).
 */
#include "template.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "pathmap.h"

_Static_assert(TPL_PATH_MAX == PM_PATH_MAX + 1, "a store path and its NUL");

#define SHOW_MAX 64                  /* bytes of a name shown in a message */
#define SHOW_SIZE (4 * SHOW_MAX + 4) /* escaped, then "..." and the NUL */

/* ---- messages ------------------------------------------------------------ */

/* s (len bytes) as text safe in a message: control bytes and backslash
 * as \xNN and \\, cut after SHOW_MAX bytes of s (never inside a UTF-8
 * character) with "...". */
static const char *show(char out[SHOW_SIZE], const char *s, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			out[n++] = '\\';
			out[n++] = '\\';
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	if (i < len) {
		/* back to the start of the character cut */
		while (n > 0 && i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) {
			n--;
			i--;
		}
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static void vsay(char *msg, size_t n, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

static void vsay(char *msg, size_t n, const char *fmt, va_list ap)
{
	if (msg != NULL && n > 0)
		vsnprintf(msg, n, fmt, ap);
}

static void say(char *msg, size_t n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void say(char *msg, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(msg, n, fmt, ap);
	va_end(ap);
}

/* A problem at (line, col), 1-based, kept in msg (n bytes) when it comes
 * before the one kept so far (*pl 0: none yet). */
static void note(char *msg, size_t n, size_t *pl, size_t *pc, size_t line,
                 size_t col, const char *fmt, ...)
        __attribute__((format(printf, 7, 8)));

static void note(char *msg, size_t n, size_t *pl, size_t *pc, size_t line,
                 size_t col, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*pl != 0 && (line > *pl || (line == *pl && col >= *pc)))
		return;
	*pl = line;
	*pc = col;
	if (msg == NULL || n == 0)
		return;
	k = snprintf(msg, n, "line %zu, column %zu: ", line, col);
	if (k < 0 || (size_t)k >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + k, n - (size_t)k, fmt, ap);
	va_end(ap);
}

/* ---- names --------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_break(char c)
{
	return c == '\n' || c == '\r';
}

static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || !((s[0] >= 'A' && s[0] <= 'Z') ||
	                  (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

bool tpl_valid_name(const char *name)
{
	return valid_name(name, strlen(name));
}

bool tpl_valid_include(const char *name)
{
	char part[PM_NAME_MAX + 1];
	size_t len = strlen(name);

	if (len == 0 || sizeof("prompts/") - 1 + len + 5 > PM_PATH_MAX)
		return false;
	for (size_t i = 0, s = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		if (i - s == 0 || i - s > PM_NAME_MAX)
			return false;
		memcpy(part, name + s, i - s);
		part[i - s] = '\0';
		if (pm_check_name(part) != 0)
			return false;
		s = i + 1;
	}
	return true;
}

void tpl_name_of(const char *path, char *buf)
{
	static const char pre[] = "prompts/";
	size_t len = strlen(path), pl = sizeof(pre) - 1, cut = 0;

	if (len > pl && strncmp(path, pre, pl) == 0) {
		if (len > pl + 5 && strcmp(path + len - 5, ".yaml") == 0)
			cut = 5;
		else if (len > pl + 4 && strcmp(path + len - 4, ".yml") == 0)
			cut = 4;
	}
	if (cut == 0) {
		snprintf(buf, TPL_PATH_MAX, "%s", path);
		return;
	}
	len -= pl + cut;
	if (len >= TPL_PATH_MAX)
		len = TPL_PATH_MAX - 1;
	memcpy(buf, path + pl, len);
	buf[len] = '\0';
}

/* An array of n items of size bytes with room for one more: twice as
 * large at 0, 1, 3, 7, ... items.  NULL when out of memory (array kept). */
static void *grow(void *array, size_t n, size_t size)
{
	if ((n & (n + 1)) != 0 && array != NULL)
		return array;
	if (n + 1 > SIZE_MAX / 2 / size)
		return NULL;
	return realloc(array, (n + 1) * 2 * size);
}

static char *copy(const void *s, size_t len)
{
	char *c = malloc(len + 1);

	if (c != NULL) {
		if (len > 0)
			memcpy(c, s, len);
		c[len] = '\0';
	}
	return c;
}

/* ---- parsing: the events ------------------------------------------------- */

enum top_key { K_OTHER, K_TEMPLATE, K_VARIABLES };
enum decl_key { D_NAME, D_DESCRIPTION, D_DEFAULT, D_REQUIRED, D_OTHER };

static const char *const decl_keys[] = {
	[D_NAME] = "name",
	[D_DESCRIPTION] = "description",
	[D_DEFAULT] = "default",
	[D_REQUIRED] = "required",
};

struct walker {
	struct tpl *t;
	int depth;   /* open collections: 1 in the root mapping, 2 in
	                variables:, 3 in one of its declarations */
	int skip;    /* collections being passed over, nested */
	bool at_key; /* the next node of the current mapping is a key */
	enum top_key key;
	enum decl_key dkey;
	unsigned seen; /* the keys of the declaration, a bit each */
	bool named;    /* it had a name: key */
	struct tpl_decl cur;
	yaml_mark_t cur_mark;
	bool tpl_seen; /* a template: value was met */
	yaml_mark_t tstart, tend;
	yaml_scalar_style_t tstyle;
};

static void wnote(struct walker *w, yaml_mark_t m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void wnote(struct walker *w, yaml_mark_t m, const char *fmt, ...)
{
	char reason[TPL_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsay(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	note(w->t->problem, sizeof(w->t->problem), &w->t->pline, &w->t->pcol,
	     m.line + 1, m.column + 1, "%s", reason);
}

static bool bytes_are(const yaml_event_t *ev, const char *s)
{
	return ev->data.scalar.length == strlen(s) &&
	       memcmp(ev->data.scalar.value, s, ev->data.scalar.length) == 0;
}

static bool plain_null(const yaml_event_t *ev)
{
	if (ev->type != YAML_SCALAR_EVENT ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return ev->data.scalar.length == 0 || bytes_are(ev, "~") ||
	       bytes_are(ev, "null") || bytes_are(ev, "Null") ||
	       bytes_are(ev, "NULL");
}

static const char *noun(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_ALIAS_EVENT:
		return "an alias";
	default:
		return "a scalar";
	}
}

static void decl_reset(struct walker *w)
{
	free(w->cur.name);
	free(w->cur.description);
	free(w->cur.def);
	memset(&w->cur, 0, sizeof(w->cur));
}

/* The end of a declaration's mapping: keep it if it was named. */
static int decl_end(struct walker *w)
{
	struct tpl *t = w->t;
	struct tpl_decl *d;

	if (!w->named)
		wnote(w, w->cur_mark, "a variable without a name");
	if (w->cur.name == NULL) {
		decl_reset(w);
		return 0;
	}
	if (!w->cur.required_given)
		w->cur.required = w->cur.def == NULL;
	d = grow(t->decls, t->ndecls, sizeof(*d));
	if (d == NULL) {
		decl_reset(w);
		return -ENOMEM;
	}
	t->decls = d;
	t->decls[t->ndecls++] = w->cur;
	memset(&w->cur, 0, sizeof(w->cur));
	return 0;
}

/* A key of a declaration. */
static void decl_key_of(struct walker *w, const yaml_event_t *ev)
{
	char shown[SHOW_SIZE];

	w->at_key = false;
	w->dkey = D_OTHER;
	if (ev->type != YAML_SCALAR_EVENT) {
		wnote(w, ev->start_mark,
		      "a variable's keys are name, description, default and "
		      "required, not %s",
		      noun(ev));
		return;
	}
	for (int k = D_NAME; k < D_OTHER; k++)
		if (bytes_are(ev, decl_keys[k]))
			w->dkey = (enum decl_key)k;
	if (w->dkey == D_OTHER) {
		wnote(w, ev->start_mark,
		      "unknown key '%s' in a variable (name, description, "
		      "default, required)",
		      show(shown, (const char *)ev->data.scalar.value,
		           ev->data.scalar.length));
		return;
	}
	if (w->seen & (1u << w->dkey)) {
		wnote(w, ev->start_mark, "duplicate key '%s' in a variable",
		      decl_keys[w->dkey]);
		w->dkey = D_OTHER;
		return;
	}
	w->seen |= 1u << w->dkey;
	if (w->dkey == D_NAME)
		w->named = true;
}

/* A scalar value of a declaration. */
static int decl_value(struct walker *w, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	char shown[SHOW_SIZE];
	char **to = NULL;

	w->at_key = true;
	switch (w->dkey) {
	case D_NAME:
		if (plain_null(ev) || !valid_name(v, len) ||
		    memchr(v, '\0', len)) {
			wnote(w, ev->start_mark,
			      "'%s' is not a variable name "
			      "([A-Za-z_][A-Za-z0-9_.-]*)",
			      show(shown, v, len));
			return 0;
		}
		w->cur.line = ev->start_mark.line + 1;
		w->cur.column = ev->start_mark.column + 1;
		to = &w->cur.name;
		break;
	case D_DESCRIPTION:
		to = &w->cur.description;
		break;
	case D_DEFAULT:
		if (plain_null(ev))
			return 0; /* no default */
		to = &w->cur.def;
		break;
	case D_REQUIRED:
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (bytes_are(ev, "true") || bytes_are(ev, "True") ||
		     bytes_are(ev, "TRUE"))) {
			w->cur.required = w->cur.required_given = true;
		} else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		           (bytes_are(ev, "false") || bytes_are(ev, "False") ||
		            bytes_are(ev, "FALSE"))) {
			w->cur.required = false;
			w->cur.required_given = true;
		} else {
			wnote(w, ev->start_mark,
			      "'required' must be true or false, not '%s'",
			      show(shown, v, len));
		}
		return 0;
	case D_OTHER:
		return 0;
	}
	free(*to);
	*to = copy(v, len);
	return *to ? 0 : -ENOMEM;
}

/* The value of template: */
static int template_value(struct walker *w, const yaml_event_t *ev)
{
	struct tpl *t = w->t;

	if (ev->type != YAML_SCALAR_EVENT) {
		wnote(w, ev->start_mark, "'template' must be a scalar, not %s",
		      noun(ev));
		return 0;
	}
	free(t->text);
	t->text = copy(ev->data.scalar.value, ev->data.scalar.length);
	if (t->text == NULL)
		return -ENOMEM;
	t->len = ev->data.scalar.length;
	t->has_template = true;
	w->tpl_seen = true;
	w->tstart = ev->start_mark;
	w->tend = ev->end_mark;
	w->tstyle = ev->data.scalar.style;
	return 0;
}

/* A node directly in the root mapping. */
static void top_node(struct walker *w, const yaml_event_t *ev)
{
	if (w->at_key) {
		w->at_key = false;
		w->key = K_OTHER;
		if (ev->type == YAML_SCALAR_EVENT && bytes_are(ev, "template"))
			w->key = K_TEMPLATE;
		else if (ev->type == YAML_SCALAR_EVENT &&
		         bytes_are(ev, "variables"))
			w->key = K_VARIABLES;
		return;
	}
	w->at_key = true;
	if (w->key == K_VARIABLES) {
		w->t->has_variables = true;
		if (ev->type != YAML_SEQUENCE_START_EVENT && !plain_null(ev))
			wnote(w, ev->start_mark,
			      "'variables' must be a sequence of mappings, "
			      "not %s",
			      noun(ev));
	}
}

static int on_start(struct walker *w, const yaml_event_t *ev)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT, value;

	if (w->skip > 0 || (w->depth == 0 && !map)) {
		w->skip++; /* below a node passed over, or a root that is no
		              mapping */
		return 0;
	}
	switch (w->depth) {
	case 0:
		w->depth = 1;
		w->at_key = true;
		return 0;
	case 1:
		value = !w->at_key;
		if (value && w->key == K_TEMPLATE) {
			w->at_key = true;
			w->skip++;
			return template_value(w, ev);
		}
		top_node(w, ev);
		if (value && w->key == K_VARIABLES && !map)
			w->depth = 2;
		else
			w->skip++;
		return 0;
	case 2:
		if (!map) {
			wnote(w, ev->start_mark,
			      "a variable must be a mapping (name, "
			      "description, default, required), not a "
			      "sequence");
			w->skip++;
			return 0;
		}
		w->depth = 3;
		w->at_key = true;
		w->seen = 0;
		w->named = false;
		w->cur_mark = ev->start_mark;
		return 0;
	default:
		if (w->at_key) {
			decl_key_of(w, ev);
		} else {
			if (w->dkey != D_OTHER)
				wnote(w, ev->start_mark,
				      "'%s' must be a scalar, not %s",
				      decl_keys[w->dkey], noun(ev));
			w->at_key = true;
		}
		w->skip++;
		return 0;
	}
}

static int on_end(struct walker *w)
{
	if (w->skip > 0) {
		w->skip--;
		return 0;
	}
	switch (w->depth) {
	case 3:
		w->depth = 2;
		return decl_end(w);
	case 2:
		w->depth = 1;
		w->at_key = true;
		return 0;
	default:
		w->depth = 0;
		return 0;
	}
}

static int on_scalar(struct walker *w, const yaml_event_t *ev)
{
	if (w->skip > 0 || w->depth == 0)
		return 0;
	switch (w->depth) {
	case 1:
		if (!w->at_key && w->key == K_TEMPLATE) {
			w->at_key = true;
			return template_value(w, ev);
		}
		top_node(w, ev);
		return 0;
	case 2:
		wnote(w, ev->start_mark,
		      "a variable must be a mapping (name, description, "
		      "default, required), not %s",
		      noun(ev));
		return 0;
	default:
		if (w->at_key) {
			decl_key_of(w, ev);
			return 0;
		}
		if (ev->type == YAML_ALIAS_EVENT) {
			if (w->dkey != D_OTHER)
				wnote(w, ev->start_mark,
				      "'%s' must be a scalar, not an alias",
				      decl_keys[w->dkey]);
			w->at_key = true;
			return 0;
		}
		return decl_value(w, ev);
	}
}

/* ---- parsing: where the tags are ----------------------------------------- */

/* Byte length of the UTF-8 character led by c (1 for a stray byte). */
static size_t char_len(unsigned char c)
{
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* libyaml's marks count characters, after a byte-order mark: the byte
 * offset of character idx, walking on from where the last call stopped
 * (*ci characters at byte *bi). */
static size_t byte_of(const unsigned char *s, size_t len, size_t idx,
                      size_t *ci, size_t *bi)
{
	if (*bi == 0 && len >= 3 && s[0] == 0xef && s[1] == 0xbb &&
	    s[2] == 0xbf)
		*bi = 3;
	while (*ci < idx && *bi < len) {
		*bi += char_len(s[*bi]);
		(*ci)++;
	}
	return *bi < len ? *bi : len;
}

/* Length of the line break at s[i] (libyaml's: CR LF, CR, LF, NEL, LS,
 * PS), 0 when none. */
static size_t break_len(const unsigned char *s, size_t i, size_t end)
{
	if (s[i] == '\r')
		return i + 1 < end && s[i + 1] == '\n' ? 2 : 1;
	if (s[i] == '\n')
		return 1;
	if (s[i] == 0xc2 && i + 1 < end && s[i + 1] == 0x85)
		return 2;
	if (s[i] == 0xe2 && i + 2 < end && s[i + 1] == 0x80 &&
	    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
		return 3;
	return 0;
}

/* The "{{" pairs of the value, and where each is in the source. */
struct posmap {
	size_t n;
	size_t *off;        /* offsets in the value */
	size_t *line, *col; /* 1-based, in the record; NULL: unknown */
	size_t line0, col0; /* the scalar's start */
};

static size_t count_pairs(const unsigned char *s, size_t from, size_t to,
                          size_t *off)
{
	size_t n = 0;

	for (size_t i = from; i + 1 < to; i++) {
		if (s[i] == '{' && s[i + 1] == '{') {
			if (off)
				off[n] = i;
			n++;
			i++;
		}
	}
	return n;
}

static int posmap_build(struct posmap *pm, const struct tpl *t,
                        const struct walker *w, const unsigned char *src,
                        size_t srclen)
{
	size_t ci = 0, bi = 0, b0, b1, line, col, k = 0;

	memset(pm, 0, sizeof(*pm));
	pm->line0 = w->tstart.line + 1;
	pm->col0 = w->tstart.column + 1;
	pm->n = count_pairs((const unsigned char *)t->text, 0, t->len, NULL);
	if (pm->n == 0)
		return 0;
	pm->off = malloc(pm->n * sizeof(*pm->off));
	pm->line = malloc(pm->n * sizeof(*pm->line));
	pm->col = malloc(pm->n * sizeof(*pm->col));
	if (pm->off == NULL || pm->line == NULL || pm->col == NULL)
		return -ENOMEM;
	count_pairs((const unsigned char *)t->text, 0, t->len, pm->off);
	b0 = byte_of(src, srclen, w->tstart.index, &ci, &bi);
	b1 = byte_of(src, srclen, w->tend.index, &ci, &bi);
	line = w->tstart.line;
	col = w->tstart.column;
	if (w->tstyle == YAML_LITERAL_SCALAR_STYLE ||
	    w->tstyle == YAML_FOLDED_SCALAR_STYLE) {
		/* the indicator's line (and its comment) holds no value */
		while (b0 < b1 && break_len(src, b0, b1) == 0)
			b0++;
		if (b0 < b1) {
			b0 += break_len(src, b0, b1);
			line++;
			col = 0;
		}
	}
	for (size_t i = b0; i < b1;) {
		size_t bl = break_len(src, i, b1);

		if (src[i] == '{' && i + 1 < b1 && src[i + 1] == '{') {
			if (k < pm->n) {
				pm->line[k] = line + 1;
				pm->col[k] = col + 1;
			}
			k++;
			i += 2;
			col += 2;
		} else if (bl > 0) {
			i += bl;
			line++;
			col = 0;
		} else {
			i += char_len(src[i]);
			col++;
		}
	}
	if (k != pm->n) { /* escapes made or hid braces: at the scalar */
		free(pm->line);
		free(pm->col);
		pm->line = pm->col = NULL;
	}
	return 0;
}

static void posmap_where(const struct posmap *pm, size_t off, size_t *line,
                         size_t *col)
{
	size_t lo = 0, hi = pm->n;

	*line = pm->line0;
	*col = pm->col0;
	if (pm->line == NULL)
		return;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->off[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < pm->n && pm->off[lo] == off) {
		*line = pm->line[lo];
		*col = pm->col[lo];
	}
}

static void posmap_release(struct posmap *pm)
{
	free(pm->off);
	free(pm->line);
	free(pm->col);
}

static int add_tag(struct tpl *t, enum tpl_tag_kind kind, const char *name,
                   size_t nlen, size_t start, size_t end, size_t line,
                   size_t col)
{
	struct tpl_tag *g = grow(t->tags, t->ntags, sizeof(*g));

	if (g == NULL)
		return -ENOMEM;
	t->tags = g;
	g = &t->tags[t->ntags];
	g->name = copy(name, nlen);
	if (g->name == NULL)
		return -ENOMEM;
	g->kind = kind;
	g->start = start;
	g->end = end;
	g->line = line;
	g->column = col;
	t->ntags++;
	return 0;
}

/*
 * The next "}}" and the next line break at or after a position, found
 * again only when the one found last lies before it: positions only grow
 * as the scan goes on, so the whole scan stays linear in the text, however
 * many "{{" a line holds.
 */
struct ahead {
	size_t close, brk; /* t->len: none */
	bool any;          /* found once */
};

static void look_ahead(const struct tpl *t, struct ahead *ah, size_t from)
{
	const char *s = t->text;

	if (!ah->any || ah->close < from) {
		for (ah->close = from; ah->close < t->len; ah->close++)
			if (s[ah->close] == '}' && ah->close + 1 < t->len &&
			    s[ah->close + 1] == '}')
				break;
	}
	if (!ah->any || ah->brk < from) {
		for (ah->brk = from; ah->brk < t->len; ah->brk++)
			if (is_break(s[ah->brk]))
				break;
	}
	ah->any = true;
}

/* One tag from "{{" at p: added, or noted as a problem.  *next gets where
 * the scan goes on. */
static int scan_one(struct tpl *t, const struct posmap *pm, struct ahead *ah,
                    size_t p, size_t *next)
{
	const char *s = t->text;
	size_t q = p + 2, e, a, b, line, col;
	char shown[SHOW_SIZE], path[TPL_PATH_MAX];

	posmap_where(pm, p, &line, &col);
	*next = p + 2;
	while (q < t->len && is_blank(s[q]))
		q++;
	if (q < t->len && s[q] != '\0' && strchr("#/^!{&=", s[q])) {
		note(t->problem, sizeof(t->problem), &t->pline, &t->pcol, line,
		     col,
		     "unsupported tag '{{%c' (a template has {{name}} and "
		     "{{> path}} only)",
		     s[q]);
		return 0;
	}
	look_ahead(t, ah, q);
	e = ah->close;
	if (e >= t->len || ah->brk < e) {
		note(t->problem, sizeof(t->problem), &t->pline, &t->pcol, line,
		     col, "'{{' is not closed on its line");
		return 0;
	}
	*next = e + 2;
	for (b = e; b > q && is_blank(s[b - 1]); b--)
		;
	if (q < b && s[q] == '>') {
		for (a = q + 1; a < b && is_blank(s[a]); a++)
			;
		if (b - a < sizeof(path) && !memchr(s + a, '\0', b - a)) {
			memcpy(path, s + a, b - a);
			path[b - a] = '\0';
			if (tpl_valid_include(path))
				return add_tag(t, TPL_INCLUDE, path, b - a, p,
				               e + 2, line, col);
		}
		note(t->problem, sizeof(t->problem), &t->pline, &t->pcol, line,
		     col, "'%s' is not a prompt's path below prompts/",
		     show(shown, s + a, b - a));
		return 0;
	}
	if (valid_name(s + q, b - q))
		return add_tag(t, TPL_VAR, s + q, b - q, p, e + 2, line, col);
	note(t->problem, sizeof(t->problem), &t->pline, &t->pcol, line, col,
	     "'%s' is not a tag: {{name}} takes a variable name "
	     "([A-Za-z_][A-Za-z0-9_.-]*), {{> path}} a prompt",
	     show(shown, s + p, e + 2 - p));
	return 0;
}

static int scan_tags(struct tpl *t, const struct walker *w, const void *src,
                     size_t srclen)
{
	struct ahead ah = { 0 };
	struct posmap pm;
	size_t pos = 0;
	int rc = posmap_build(&pm, t, w, src, srclen);

	while (rc == 0 && pos + 1 < t->len) {
		const char *p = memchr(t->text + pos, '{', t->len - pos - 1);

		if (p == NULL)
			break;
		pos = (size_t)(p - t->text);
		if (t->text[pos + 1] != '{') {
			pos++;
			continue;
		}
		rc = scan_one(t, &pm, &ah, pos, &pos);
	}
	posmap_release(&pm);
	return rc;
}

/* By name, then in order of declaration. */
static int cmp_decl(const void *a, const void *b)
{
	const struct tpl_decl *x = *(const struct tpl_decl *const *)a,
	                      *y = *(const struct tpl_decl *const *)b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x > y) - (x < y);
}

static int index_decls(struct tpl *t)
{
	if (t->ndecls == 0)
		return 0;
	t->byname = malloc(t->ndecls * sizeof(*t->byname));
	if (t->byname == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->ndecls; i++)
		t->byname[i] = &t->decls[i];
	qsort(t->byname, t->ndecls, sizeof(*t->byname), cmp_decl);
	return 0;
}

int tpl_parse(struct tpl *t, const void *data, size_t len, char *msg, size_t n)
{
	struct walker w = { .t = t };
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0, docs = 0;
	bool done = false;

	memset(t, 0, sizeof(*t));
	if (msg && n)
		msg[0] = '\0';
	t->text = copy("", 0);
	if (t->text == NULL)
		return -ENOMEM;
	if (data == NULL)
		data = "";
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, data, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM
			                                       : -EINVAL;
			if (rc == -EINVAL)
				say(msg, n, "line %zu, column %zu: %s",
				    parser.problem_mark.line + 1,
				    parser.problem_mark.column + 1,
				    parser.problem ? parser.problem
				                   : "invalid YAML");
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			done = docs++ > 0; /* the first document only */
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			rc = on_start(&w, &ev);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			rc = on_end(&w);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			rc = on_scalar(&w, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	decl_reset(&w);
	if (rc == 0)
		rc = index_decls(t);
	if (rc == 0 && w.tpl_seen)
		rc = scan_tags(t, &w, data, len);
	return rc;
}

void tpl_release(struct tpl *t)
{
	for (size_t i = 0; i < t->ntags; i++)
		free(t->tags[i].name);
	for (size_t i = 0; i < t->ndecls; i++) {
		free(t->decls[i].name);
		free(t->decls[i].description);
		free(t->decls[i].def);
	}
	free(t->tags);
	free(t->decls);
	free(t->byname);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

const struct tpl_decl *tpl_decl_find(const struct tpl *t, const char *name)
{
	size_t lo = 0, hi = t->ndecls;

	while (lo < hi) { /* the first of the name in byname */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(t->byname[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->ndecls && strcmp(t->byname[lo]->name, name) == 0
	               ? t->byname[lo]
	               : NULL;
}

/* ---- expansion: rendering and the check's walk ---------------------------- */

struct buf {
	char *data;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > TPL_OUT_MAX - b->len)
		return -EFBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int buf_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* A prompt an include named, fetched and parsed once a run. */
struct entry {
	char *name;
	char path[TPL_PATH_MAX];
	int rc;       /* 0, -ENOENT (no such prompt), -EINVAL (not YAML) */
	bool counted; /* its names are in run.seen */
	char why[TPL_MSG_MAX];
	struct tpl t;
};

/* A set of names, borrowed from the parsed prompts of a run: pushed,
 * then sealed (sorted, repeats dropped) before it is searched. */
struct names {
	const char **v;
	size_t n, cap;
};

static int names_push(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		const char **v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = name;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void names_seal(struct names *s)
{
	size_t k = 0;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
	for (size_t i = 0; i < s->n; i++)
		if (k == 0 || strcmp(s->v[k - 1], s->v[i]) != 0)
			s->v[k++] = s->v[i];
	s->n = k;
}

static bool names_has(const struct names *s, const char *name)
{
	return s->n > 0 &&
	       bsearch(&name, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

struct run {
	const struct tpl_source *src;
	enum tpl_mode mode;
	const struct tpl_value *values;
	size_t nvalues;
	/* the include chain: [0] the prompt rendered */
	const struct tpl *chain[TPL_MAX_DEPTH + 1];
	const char *name[TPL_MAX_DEPTH + 1];
	const char *path[TPL_MAX_DEPTH + 1];
	struct entry **cache;
	size_t ncache, capcache;
	struct names seen; /* rendering: names declared anywhere; the
	                      check: names used by included prompts (each
	                      prompt's once: entry.counted) */
	size_t includes;
	const struct tpl_tag *top; /* the tag of chain[0] being expanded */
	char missing[TPL_MSG_MAX]; /* the first variable without a value */
	char *msg;
	size_t n;
};

/* Fail the run at the tag being expanded: "line L, column C: reason". */
static int fail(struct run *r, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct run *r, int rc, const char *fmt, ...)
{
	char reason[TPL_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsay(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (r->top)
		say(r->msg, r->n, "line %zu, column %zu: %s", r->top->line,
		    r->top->column, reason);
	else
		say(r->msg, r->n, "%s", reason);
	return rc;
}

/* "a -> b -> c" of the chain down to level, then last, into out. */
static void chain_text(const struct run *r, int level, const char *last,
                       char *out, size_t n)
{
	char shown[SHOW_SIZE];
	size_t k = 0;

	out[0] = '\0';
	for (int i = 0; i <= level + 1 && k < n; i++) {
		const char *s = i <= level ? r->name[i] : last;
		int w = snprintf(out + k, n - k, "%s%s", i ? " -> " : "",
		                 show(shown, s, strlen(s)));

		if (w < 0)
			break;
		k += (size_t)w;
	}
}

static void entry_free(struct entry *e)
{
	if (e) {
		tpl_release(&e->t);
		free(e->name);
		free(e);
	}
}

/* The prompt name: from the cache, or fetched and parsed now. */
static int lookup(struct run *r, const char *name, struct entry **out)
{
	struct entry *e;
	void *data = NULL;
	size_t len = 0;
	int rc;

	for (size_t i = 0; i < r->ncache; i++)
		if (strcmp(r->cache[i]->name, name) == 0) {
			*out = r->cache[i];
			return 0;
		}
	if (r->ncache == r->capcache) {
		size_t cap = r->capcache ? 2 * r->capcache : 8;
		struct entry **v = realloc(r->cache, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		r->cache = v;
		r->capcache = cap;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->name = copy(name, strlen(name))) == NULL) {
		free(e);
		return -ENOMEM;
	}
	rc = r->src && r->src->fetch
	             ? r->src->fetch(r->src->ctx, name, e->path, &data, &len)
	             : -ENOENT;
	if (rc == 0) {
		rc = tpl_parse(&e->t, data, len, e->why, sizeof(e->why));
		free(data);
	}
	if (rc != 0 && rc != -ENOENT && rc != -EINVAL) {
		entry_free(e);
		return rc;
	}
	e->rc = rc;
	r->cache[r->ncache++] = e;
	*out = e;
	return 0;
}

static int expand(struct run *r, int level, struct buf *out);

/* The names of an included prompt run.seen wants, once a run: the
 * variables its template uses (the check), or those it declares. */
static int count_names(struct run *r, struct entry *e, bool used)
{
	const struct tpl *t = &e->t;
	int rc = 0;

	if (e->counted)
		return 0;
	e->counted = true;
	for (size_t i = 0; used && i < t->ntags && rc == 0; i++)
		if (t->tags[i].kind == TPL_VAR)
			rc = names_push(&r->seen, t->tags[i].name);
	for (size_t i = 0; !used && i < t->ndecls && rc == 0; i++)
		rc = names_push(&r->seen, t->decls[i].name);
	return rc;
}

/* In the view, an include that cannot be rendered stays as written. */
static int keep(bool *kept)
{
	*kept = true;
	return 0;
}

/*
 * The include tag g of the prompt at level: its rendering into sub (NULL
 * in the check's walk).  In the view, one that cannot be rendered sets
 * *kept instead: the tag stays as written.
 */
static int include(struct run *r, int level, const struct tpl_tag *g,
                   struct buf *sub, bool *kept)
{
	char shown[SHOW_SIZE], chain[TPL_MSG_MAX];
	struct entry *e;
	int rc;

	*kept = false;
	if (++r->includes > TPL_MAX_INCLUDES)
		return fail(r, -EFBIG, "more than %d includes",
		            TPL_MAX_INCLUDES);
	if (level + 1 > TPL_MAX_DEPTH) {
		if (r->mode == TPL_VIEW)
			return keep(kept);
		chain_text(r, level, g->name, chain, sizeof(chain));
		return fail(r, -EINVAL, "includes nested deeper than %d: %s",
		            TPL_MAX_DEPTH, chain);
	}
	rc = lookup(r, g->name, &e);
	if (rc != 0)
		return rc;
	if (e->rc != 0 && r->mode == TPL_VIEW)
		return keep(kept);
	if (e->rc == -ENOENT && level == 0)
		return fail(r, -ENOENT, "prompt '%s' does not exist",
		            show(shown, g->name, strlen(g->name)));
	if (e->rc == -ENOENT) {
		char parent[SHOW_SIZE];

		return fail(
		        r, -ENOENT,
		        "prompt '%s' includes '%s', which does not exist",
		        show(parent, r->name[level], strlen(r->name[level])),
		        show(shown, g->name, strlen(g->name)));
	}
	if (e->rc != 0)
		return fail(r, -EINVAL, "prompt '%s' is not valid YAML: %s",
		            show(shown, g->name, strlen(g->name)), e->why);
	for (int k = 0; k <= level; k++) {
		if (strcmp(r->path[k], e->path) != 0)
			continue;
		if (r->mode == TPL_VIEW)
			return keep(kept);
		chain_text(r, level, g->name, chain, sizeof(chain));
		return fail(r, -EINVAL, "include cycle: %s", chain);
	}
	r->chain[level + 1] = &e->t;
	r->name[level + 1] = g->name;
	r->path[level + 1] = e->path;
	rc = count_names(r, e, sub == NULL);
	return rc != 0 ? rc : expand(r, level + 1, sub);
}

/* Note the first variable without a value (a strict rendering fails
 * on it once it is over). */
static void say_missing(struct run *r, int level, const struct tpl_tag *g)
{
	char shown[SHOW_SIZE];

	if (level == 0)
		say(r->missing, sizeof(r->missing),
		    "line %zu, column %zu: variable '%s' has no value (no "
		    "default, and none given)",
		    g->line, g->column, g->name);
	else
		say(r->missing, sizeof(r->missing),
		    "line %zu, column %zu: variable '%s' of prompt '%s' has "
		    "no value (no default, and none given)",
		    r->top->line, r->top->column, g->name,
		    show(shown, r->name[level], strlen(r->name[level])));
}

/* The value of variable g of the prompt at level, into out. */
static int put_var(struct run *r, int level, const struct tpl_tag *g,
                   struct buf *out)
{
	const struct tpl_decl *d = NULL;
	int rc;

	for (size_t i = r->nvalues; i-- > 0;)
		if (strcmp(r->values[i].name, g->name) == 0)
			return buf_str(out, r->values[i].value);
	for (int k = 0; k <= level && d == NULL; k++)
		d = tpl_decl_find(r->chain[k], g->name);
	if (d && d->def)
		return buf_str(out, d->def);
	if (d && !d->required && r->mode == TPL_STRICT)
		return 0;
	if (r->mode == TPL_STRICT && r->missing[0] == '\0')
		say_missing(r, level, g);
	rc = buf_str(out, "{{");
	if (rc == 0)
		rc = buf_str(out, g->name);
	return rc == 0 ? buf_str(out, "}}") : rc;
}

/* Whether include tag g stands alone on its line: *ls gets the line's
 * start, *le its end (its break), *lb where the next line starts. */
static bool alone(const struct tpl *t, const struct tpl_tag *g, size_t *ls,
                  size_t *le, size_t *lb)
{
	const char *s = t->text;
	size_t i;

	for (i = g->start; i > 0 && is_blank(s[i - 1]); i--)
		;
	if (i > 0 && !is_break(s[i - 1]))
		return false;
	*ls = i;
	for (i = g->end; i < t->len && is_blank(s[i]); i++)
		;
	if (i < t->len && !is_break(s[i]))
		return false;
	*le = i;
	if (i < t->len)
		i += s[i] == '\r' && i + 1 < t->len && s[i + 1] == '\n' ? 2 : 1;
	*lb = i;
	return true;
}

/* sub into out, each of its lines but empty ones after indent. */
static int add_indented(struct buf *out, const struct buf *sub,
                        const char *indent, size_t ilen)
{
	int rc = 0;

	for (size_t i = 0; i < sub->len && rc == 0;) {
		const char *nl = memchr(sub->data + i, '\n', sub->len - i);
		size_t end = nl ? (size_t)(nl - sub->data) + 1 : sub->len;

		if (ilen > 0 && !is_break(sub->data[i]))
			rc = buf_add(out, indent, ilen);
		if (rc == 0)
			rc = buf_add(out, sub->data + i, end - i);
		i = end;
	}
	return rc;
}

/* Render the template of chain[level] into out, or (out NULL: the
 * check's walk) follow its includes and note the variables they use. */
static int expand(struct run *r, int level, struct buf *out)
{
	const struct tpl *t = r->chain[level];
	size_t pos = 0;
	int rc = 0;

	for (size_t i = 0; i < t->ntags && rc == 0; i++) {
		const struct tpl_tag *g = &t->tags[i];
		struct buf sub = { 0 };
		size_t ls, le, lb;
		bool kept;

		if (level == 0)
			r->top = g;
		if (g->kind == TPL_VAR) {
			if (out == NULL)
				continue; /* count_names() has it */
			rc = buf_add(out, t->text + pos, g->start - pos);
			if (rc == 0)
				rc = put_var(r, level, g, out);
			pos = g->end;
			continue;
		}
		rc = include(r, level, g, out ? &sub : NULL, &kept);
		if (rc != 0 || out == NULL) {
			free(sub.data);
			continue;
		}
		if (kept) {
			rc = buf_add(out, t->text + pos, g->end - pos);
			pos = g->end;
		} else if (alone(t, g, &ls, &le, &lb)) {
			rc = buf_add(out, t->text + pos, ls - pos);
			if (rc == 0)
				rc = add_indented(out, &sub, t->text + ls,
				                  g->start - ls);
			pos = sub.len == 0 || sub.data[sub.len - 1] == '\n'
			              ? lb
			              : le;
		} else {
			rc = buf_add(out, t->text + pos, g->start - pos);
			if (rc == 0)
				rc = buf_add(out, sub.data, sub.len);
			pos = g->end;
		}
		free(sub.data);
	}
	if (rc == 0 && out)
		rc = buf_add(out, t->text + pos, t->len - pos);
	if (rc == -EFBIG && r->msg && r->msg[0] == '\0')
		say(r->msg, r->n, "the rendering is over %u bytes",
		    TPL_OUT_MAX);
	return rc;
}

static void run_release(struct run *r)
{
	for (size_t i = 0; i < r->ncache; i++)
		entry_free(r->cache[i]);
	free(r->cache);
	free(r->seen.v);
}

static void run_init(struct run *r, const struct tpl *t, const char *path,
                     char *name, const struct tpl_source *src, char *msg,
                     size_t n)
{
	memset(r, 0, sizeof(*r));
	tpl_name_of(path ? path : "", name);
	r->src = src;
	r->chain[0] = t;
	r->name[0] = name;
	r->path[0] = path ? path : "";
	r->msg = msg;
	r->n = n;
}

/* ---- the save check -------------------------------------------------------- */

/* The problems the text itself shows, beyond those parsing noted. */
static void check_text(struct tpl *t)
{
	char *m = t->problem;
	size_t mn = sizeof(t->problem);

	for (size_t i = 0; i < t->ndecls; i++) {
		const struct tpl_decl *d = &t->decls[i],
		                      *first = tpl_decl_find(t, d->name);

		if (first != d)
			note(m, mn, &t->pline, &t->pcol, d->line, d->column,
			     "variable '%s' is declared twice (first at line "
			     "%zu)",
			     d->name, first->line);
		else if (d->required_given && d->required && d->def)
			note(m, mn, &t->pline, &t->pcol, d->line, d->column,
			     "variable '%s' is required and has a default: "
			     "give it one or the other",
			     d->name);
	}
	for (size_t i = 0; i < t->ntags; i++) {
		const struct tpl_tag *g = &t->tags[i];

		if (g->kind == TPL_VAR && !tpl_decl_find(t, g->name))
			note(m, mn, &t->pline, &t->pcol, g->line, g->column,
			     "variable '%s' is not declared", g->name);
	}
}

int tpl_check(const void *data, size_t len, const char *path,
              const struct tpl_source *src, char *msg, size_t n)
{
	char name[TPL_PATH_MAX];
	size_t pl = 0, pc = 0;
	struct tpl t;
	struct run r;
	int rc = tpl_parse(&t, data, len, msg, n);

	if (rc != 0 || !t.has_variables) {
		tpl_release(&t);
		return rc;
	}
	check_text(&t);
	if (t.problem[0] != '\0') {
		say(msg, n, "%s", t.problem);
		tpl_release(&t);
		return -EINVAL;
	}
	run_init(&r, &t, path, name, src, msg, n);
	r.mode = TPL_STRICT;
	for (size_t i = 0; i < t.ntags && rc == 0; i++) /* its own uses */
		if (t.tags[i].kind == TPL_VAR)
			rc = names_push(&r.seen, t.tags[i].name);
	if (rc == 0)
		rc = expand(&r, 0, NULL);
	if (rc == -ENOENT || rc == -EFBIG)
		rc = -EINVAL; /* a refusal like the others */
	names_seal(&r.seen);
	for (size_t i = 0; i < t.ndecls && rc == 0; i++) {
		const struct tpl_decl *d = &t.decls[i];

		if (!names_has(&r.seen, d->name))
			note(msg, n, &pl, &pc, d->line, d->column,
			     "variable '%s' is declared but never used",
			     d->name);
	}
	if (rc == 0 && pl != 0)
		rc = -EINVAL;
	run_release(&r);
	tpl_release(&t);
	return rc;
}

/* ---- rendering -------------------------------------------------------------- */

int tpl_render(const void *data, size_t len, const char *path,
               const struct tpl_source *src, const struct tpl_render_opts *o,
               char **out, size_t *outlen, char *msg, size_t n)
{
	char name[TPL_PATH_MAX], shown[SHOW_SIZE], self[SHOW_SIZE];
	struct buf b = { 0 };
	struct tpl t;
	struct run r;
	int rc = tpl_parse(&t, data, len, msg, n);

	*out = NULL;
	*outlen = 0;
	run_init(&r, &t, path, name, src, msg, n);
	r.mode = o ? o->mode : TPL_STRICT;
	r.values = o ? o->values : NULL;
	r.nvalues = o ? o->nvalues : 0;
	for (size_t i = 0; i < t.ndecls && rc == 0; i++)
		rc = names_push(&r.seen, t.decls[i].name);
	if (rc == 0)
		rc = expand(&r, 0, &b);
	names_seal(&r.seen);
	for (size_t i = 0; i < r.nvalues && rc == 0 && t.has_variables; i++) {
		if (names_has(&r.seen, r.values[i].name))
			continue;
		say(msg, n,
		    "variable '%s' is not declared (by '%s' or a prompt it "
		    "includes)",
		    show(shown, r.values[i].name, strlen(r.values[i].name)),
		    show(self, r.name[0], strlen(r.name[0])));
		rc = -EINVAL;
	}
	if (rc == 0 && r.missing[0] != '\0') {
		say(msg, n, "%s", r.missing);
		rc = -EINVAL;
	}
	if (rc == 0 && b.data == NULL)
		rc = buf_add(&b, "", 0);
	if (rc == 0) {
		*out = b.data;
		*outlen = b.len;
	} else {
		free(b.data);
	}
	run_release(&r);
	tpl_release(&t);
	return rc;
}
