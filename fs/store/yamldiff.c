/*
 * yamldiff: a structural diff of two YAML documents.  See yamldiff.h.
 */
#include "yamldiff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A key path grows as the walk goes down and is cut back on the way up. */
struct path {
	char *s;
	size_t len, cap;
};

struct walk {
	yaml_document_t *a, *b;
	FILE *out;
	const char *prefix;
	struct path p;
	long changes;
	bool nomem;
};

static bool path_add(struct walk *w, const char *s, size_t n)
{
	if (w->p.len + n + 1 > w->p.cap) {
		size_t cap = (w->p.len + n + 1) * 2;
		char *ns = realloc(w->p.s, cap);

		if (ns == NULL) {
			w->nomem = true;
			return false;
		}
		w->p.s = ns;
		w->p.cap = cap;
	}
	memcpy(w->p.s + w->p.len, s, n);
	w->p.len += n;
	w->p.s[w->p.len] = '\0';
	return true;
}

/* A key as a path element: bare when it is a plain word, else quoted. */
static bool path_key(struct walk *w, const yaml_node_t *k)
{
	const char *s = "?";
	size_t n = 1;
	bool bare = true;

	if (k != NULL && k->type == YAML_SCALAR_NODE) {
		s = (const char *)k->data.scalar.value;
		n = k->data.scalar.length;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == '.' || c == '[' || c == ']' || c == '"' ||
		    c == '\\' || c == 0x7f)
			bare = false;
	}
	if (n == 0)
		bare = false;
	if (w->p.len > 0 && !path_add(w, ".", 1))
		return false;
	if (bare)
		return path_add(w, s, n);
	if (!path_add(w, "\"", 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		char esc[8];
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			if (!path_add(w, esc, 2))
				return false;
		} else if (c < ' ' || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			if (!path_add(w, esc, 4))
				return false;
		} else if (!path_add(w, (const char *)&c, 1)) {
			return false;
		}
	}
	return path_add(w, "\"", 1);
}

/* A value on one line: a scalar with its control bytes escaped, or
 * {...} / [...] for a collection. */
static void put_value(FILE *out, const yaml_node_t *n)
{
	if (n == NULL) {
		fputs("null", out);
		return;
	}
	if (n->type == YAML_MAPPING_NODE) {
		fputs(n->data.mapping.pairs.top == n->data.mapping.pairs.start
		              ? "{}"
		              : "{...}",
		      out);
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		fputs(n->data.sequence.items.top == n->data.sequence.items.start
		              ? "[]"
		              : "[...]",
		      out);
		return;
	}
	for (size_t i = 0; i < n->data.scalar.length; i++) {
		unsigned char c = n->data.scalar.value[i];

		if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < ' ' || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static void emit(struct walk *w, char mark, const yaml_node_t *old,
                 const yaml_node_t *new)
{
	const char *path = w->p.len ? w->p.s : "(document)";

	w->changes++;
	if (mark == '+' || mark == '-') {
		fprintf(w->out, "%s%c %s: ", w->prefix, mark, path);
		put_value(w->out, mark == '+' ? new : old);
	} else {
		fprintf(w->out, "%s%s: ", w->prefix, path);
		put_value(w->out, old);
		fputs(" -> ", w->out);
		put_value(w->out, new);
	}
	fputc('\n', w->out);
}

static bool same_scalar(const yaml_node_t *x, const yaml_node_t *y)
{
	return x->data.scalar.length == y->data.scalar.length &&
	       memcmp(x->data.scalar.value, y->data.scalar.value,
	              x->data.scalar.length) == 0;
}

static bool same_key(const yaml_node_t *x, const yaml_node_t *y)
{
	if (x == NULL || y == NULL || x->type != YAML_SCALAR_NODE ||
	    y->type != YAML_SCALAR_NODE)
		return false;
	return same_scalar(x, y);
}

static void compare(struct walk *w, yaml_node_t *x, yaml_node_t *y, int depth);

/* The value in mapping m (of document d) under a key equal to k. */
static yaml_node_t *lookup(yaml_document_t *d, yaml_node_t *m,
                           const yaml_node_t *k)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++)
		if (same_key(yaml_document_get_node(d, p->key), k))
			return yaml_document_get_node(d, p->value);
	return NULL;
}

static bool has_key(yaml_document_t *d, yaml_node_t *m, const yaml_node_t *k)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++)
		if (same_key(yaml_document_get_node(d, p->key), k))
			return true;
	return false;
}

static void compare_maps(struct walk *w, yaml_node_t *x, yaml_node_t *y,
                         int depth)
{
	size_t mark = w->p.len;

	for (yaml_node_pair_t *p = x->data.mapping.pairs.start;
	     p < x->data.mapping.pairs.top && !w->nomem; p++) {
		yaml_node_t *k = yaml_document_get_node(w->a, p->key);
		yaml_node_t *v = yaml_document_get_node(w->a, p->value);

		if (!path_key(w, k))
			break;
		if (!has_key(w->b, y, k))
			emit(w, '-', v, NULL);
		else
			compare(w, v, lookup(w->b, y, k), depth + 1);
		w->p.len = mark;
		w->p.s[mark] = '\0';
	}
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start;
	     p < y->data.mapping.pairs.top && !w->nomem; p++) {
		yaml_node_t *k = yaml_document_get_node(w->b, p->key);

		if (has_key(w->a, x, k))
			continue;
		if (!path_key(w, k))
			break;
		emit(w, '+', NULL, yaml_document_get_node(w->b, p->value));
		w->p.len = mark;
		w->p.s[mark] = '\0';
	}
}

static void compare_seqs(struct walk *w, yaml_node_t *x, yaml_node_t *y,
                         int depth)
{
	size_t nx = (size_t)(x->data.sequence.items.top -
	                     x->data.sequence.items.start);
	size_t ny = (size_t)(y->data.sequence.items.top -
	                     y->data.sequence.items.start);
	size_t mark = w->p.len;

	for (size_t i = 0; i < (nx > ny ? nx : ny) && !w->nomem; i++) {
		char idx[32];
		int n = snprintf(idx, sizeof(idx), "[%zu]", i);

		if (!path_add(w, idx, (size_t)n))
			break;
		if (i >= ny)
			emit(w, '-',
			     yaml_document_get_node(
			             w->a, x->data.sequence.items.start[i]),
			     NULL);
		else if (i >= nx)
			emit(w, '+', NULL,
			     yaml_document_get_node(
			             w->b, y->data.sequence.items.start[i]));
		else
			compare(w,
			        yaml_document_get_node(
			                w->a, x->data.sequence.items.start[i]),
			        yaml_document_get_node(
			                w->b, y->data.sequence.items.start[i]),
			        depth + 1);
		w->p.len = mark;
		w->p.s[mark] = '\0';
	}
}

/* Whether two subtrees are equal, to decide on a change below the depth
 * limit (then shown as one change of the whole node). */
static bool equal(yaml_document_t *da, yaml_node_t *x, yaml_document_t *db,
                  yaml_node_t *y, int depth)
{
	if (x == NULL || y == NULL)
		return x == y;
	if (x->type != y->type || depth > YD_MAX_DEPTH)
		return false;
	if (x->type == YAML_SCALAR_NODE)
		return same_scalar(x, y);
	if (x->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *i = x->data.sequence.items.start;
		yaml_node_item_t *j = y->data.sequence.items.start;

		if (x->data.sequence.items.top - i !=
		    y->data.sequence.items.top - j)
			return false;
		for (; i < x->data.sequence.items.top; i++, j++)
			if (!equal(da, yaml_document_get_node(da, *i), db,
			           yaml_document_get_node(db, *j), depth + 1))
				return false;
		return true;
	}
	if (x->data.mapping.pairs.top - x->data.mapping.pairs.start !=
	    y->data.mapping.pairs.top - y->data.mapping.pairs.start)
		return false;
	for (yaml_node_pair_t *p = x->data.mapping.pairs.start;
	     p < x->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(da, p->key);

		if (!has_key(db, y, k) ||
		    !equal(da, yaml_document_get_node(da, p->value), db,
		           lookup(db, y, k), depth + 1))
			return false;
	}
	return true;
}

static void compare(struct walk *w, yaml_node_t *x, yaml_node_t *y, int depth)
{
	if (x == NULL || y == NULL || x->type != y->type ||
	    depth >= YD_MAX_DEPTH) {
		if (!equal(w->a, x, w->b, y, depth))
			emit(w, 'M', x, y);
		return;
	}
	switch (x->type) {
	case YAML_SCALAR_NODE:
		if (!same_scalar(x, y))
			emit(w, 'M', x, y);
		break;
	case YAML_MAPPING_NODE:
		compare_maps(w, x, y, depth);
		break;
	case YAML_SEQUENCE_NODE:
		compare_seqs(w, x, y, depth);
		break;
	default:
		break;
	}
}

/* Load text as one document; an empty text (no document at all) gives a
 * document without a root, which compares as an empty mapping. */
static int load(const char *text, size_t len, yaml_document_t *d)
{
	yaml_parser_t p;
	int ok;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	ok = yaml_parser_load(&p, d);
	yaml_parser_delete(&p);
	return ok ? 0 : -EINVAL;
}

long yd_diff(const char *a, size_t alen, const char *b, size_t blen, FILE *out,
             const char *prefix)
{
	yaml_document_t da, db;
	yaml_node_t empty_a, empty_b, *ra, *rb;
	struct walk w = { 0 };
	int rc = load(a, alen, &da);

	if (rc != 0)
		return rc;
	rc = load(b, blen, &db);
	if (rc != 0) {
		yaml_document_delete(&da);
		return rc;
	}
	memset(&empty_a, 0, sizeof(empty_a));
	empty_a.type = YAML_MAPPING_NODE;
	empty_b = empty_a;
	ra = yaml_document_get_root_node(&da);
	rb = yaml_document_get_root_node(&db);
	w.a = &da;
	w.b = &db;
	w.out = out;
	w.prefix = prefix;
	compare(&w, ra ? ra : &empty_a, rb ? rb : &empty_b, 0);
	free(w.p.s);
	yaml_document_delete(&da);
	yaml_document_delete(&db);
	return w.nomem ? -ENOMEM : w.changes;
}
