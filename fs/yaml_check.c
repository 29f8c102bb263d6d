/*
 * yaml_check: record validation on libyaml's event stream.
 *
 * The parser is driven event by event; a small state machine follows the
 * top-level mapping, alternating key and value.  Only the top level has a
 * schema, so below it we just count depth.  Top-level keys are remembered
 * (as raw scalar text) to reject duplicates, which libyaml does not do.
 */
#include "yaml_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum shape { SHAPE_ANY, SHAPE_STRING, SHAPE_SEQUENCE };

static const struct {
	const char *key;
	enum shape shape;
} known_keys[] = {
	{ "name", SHAPE_STRING },     { "description", SHAPE_STRING },
	{ "status", SHAPE_STRING },   { "agents", SHAPE_SEQUENCE },
	{ "prompts", SHAPE_SEQUENCE }, { "steps", SHAPE_SEQUENCE },
	{ "tags", SHAPE_SEQUENCE },
};

struct checker {
	char *msg;
	size_t msglen;
	int depth;          /* open collections */
	int documents;
	bool expect_key;    /* at depth 1: next top-level node is a key */
	enum shape want;    /* shape of the pending top-level value */
	const char *cur_key;
	char **keys;        /* top-level keys seen */
	size_t nkeys, capkeys;
};

static void fail_at(struct checker *c, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_at(struct checker *c, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->msg == NULL || c->msglen == 0)
		return;
	n = snprintf(c->msg, c->msglen, "line %zu, column %zu: ",
	             mark.line + 1, mark.column + 1);
	if (n < 0 || (size_t)n >= c->msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->msg + n, c->msglen - (size_t)n, fmt, ap);
	va_end(ap);
}

static enum shape shape_of_key(const char *key, const char **canon)
{
	for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
		if (strcmp(key, known_keys[i].key) == 0) {
			*canon = known_keys[i].key;
			return known_keys[i].shape;
		}
	*canon = NULL;
	return SHAPE_ANY;
}

static bool is_plain_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	       strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	       strcmp(v, "NULL") == 0;
}

/* Remember a top-level key; -EINVAL if it was seen before. */
static int add_key(struct checker *c, const yaml_event_t *ev)
{
	const char *key = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	char *copy;

	for (size_t i = 0; i < c->nkeys; i++)
		if (strlen(c->keys[i]) == len && memcmp(c->keys[i], key, len) == 0) {
			fail_at(c, ev->start_mark, "duplicate key '%.*s'",
			        (int)(len > 64 ? 64 : len), key);
			return -EINVAL;
		}
	if (c->nkeys == c->capkeys) {
		size_t cap = c->capkeys ? c->capkeys * 2 : 16;
		char **k = realloc(c->keys, cap * sizeof *k);

		if (k == NULL)
			return -ENOMEM;
		c->keys = k;
		c->capkeys = cap;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, key, len);
	copy[len] = '\0';
	c->keys[c->nkeys++] = copy;
	return 0;
}

static const char *event_noun(yaml_event_type_t t)
{
	switch (t) {
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

/* A node starts at depth 1 (directly in the top mapping). */
static int top_level_node(struct checker *c, const yaml_event_t *ev)
{
	if (c->expect_key) {
		if (ev->type != YAML_SCALAR_EVENT) {
			fail_at(c, ev->start_mark,
			        "top-level keys must be scalars, not %s",
			        event_noun(ev->type));
			return -EINVAL;
		}
		int rc = add_key(c, ev);
		if (rc != 0)
			return rc;
		c->want = shape_of_key(c->keys[c->nkeys - 1], &c->cur_key);
		c->expect_key = false;
		return 0;
	}
	c->expect_key = true;
	switch (c->want) {
	case SHAPE_STRING:
		if (ev->type != YAML_SCALAR_EVENT) {
			fail_at(c, ev->start_mark, "'%s' must be a string, not %s",
			        c->cur_key, event_noun(ev->type));
			return -EINVAL;
		}
		if (is_plain_null(ev)) {
			fail_at(c, ev->start_mark,
			        "'%s' must be a string, not null", c->cur_key);
			return -EINVAL;
		}
		break;
	case SHAPE_SEQUENCE:
		if (ev->type != YAML_SEQUENCE_START_EVENT) {
			fail_at(c, ev->start_mark,
			        "'%s' must be a sequence, not %s", c->cur_key,
			        ev->type == YAML_SCALAR_EVENT && is_plain_null(ev)
			                ? "null"
			                : event_noun(ev->type));
			return -EINVAL;
		}
		break;
	case SHAPE_ANY:
		break;
	}
	return 0;
}

static int on_event(struct checker *c, const yaml_event_t *ev)
{
	int rc;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++c->documents > 1) {
			fail_at(c, ev->start_mark,
			        "a record holds one YAML document, not several");
			return -EINVAL;
		}
		return 0;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (c->depth == 0 && ev->type != YAML_MAPPING_START_EVENT) {
			fail_at(c, ev->start_mark,
			        "the top level must be a mapping, not a sequence");
			return -EINVAL;
		}
		if (c->depth == 1) {
			rc = top_level_node(c, ev);
			if (rc != 0)
				return rc;
		}
		if (++c->depth > YC_MAX_DEPTH) {
			fail_at(c, ev->start_mark, "nesting deeper than %d levels",
			        YC_MAX_DEPTH);
			return -EINVAL;
		}
		if (c->depth == 1)
			c->expect_key = true;
		return 0;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		c->depth--;
		return 0;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
		if (c->depth == 0) {
			/* A document that is a bare scalar; an empty document
			 * shows up as an empty plain scalar. */
			if (ev->type == YAML_SCALAR_EVENT && is_plain_null(ev) &&
			    ev->data.scalar.length == 0)
				return 0;
			fail_at(c, ev->start_mark,
			        "the top level must be a mapping, not %s",
			        event_noun(ev->type));
			return -EINVAL;
		}
		if (c->depth == 1)
			return top_level_node(c, ev);
		return 0;
	default:
		return 0;
	}
}

static void parser_message(struct checker *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";

	if (p->error == YAML_MEMORY_ERROR)
		return;
	if (p->context)
		fail_at(c, p->problem_mark, "%s %s", problem, p->context);
	else
		fail_at(c, p->problem_mark, "%s", problem);
}

int yaml_check(const void *data, size_t len, char *msg, size_t msglen)
{
	struct checker c = { .msg = msg, .msglen = msglen };
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0;
	bool done = false;

	if (msg && msglen)
		msg[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser,
	                             data ? data : (const void *)"", len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM
			                                        : -EINVAL;
			parser_message(&c, &parser);
			break;
		}
		rc = on_event(&c, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (rc != 0)
			break;
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < c.nkeys; i++)
		free(c.keys[i]);
	free(c.keys);
	return rc;
}
