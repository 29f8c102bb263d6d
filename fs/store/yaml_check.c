/*
 * yaml_check: record validation on libyaml's event stream.
 *
 * The parser is driven event by event; a small state machine follows the
 * top-level mapping, alternating key and value.  Only the top level has a
 * schema, so below it we just count depth.
 *
 * libyaml's event parser checks neither duplicate keys nor whether an
 * alias has an anchor (every loader refuses `x: *nope`), so two sets of
 * names are kept: the top-level keys, and the anchors defined so far with
 * the kind of node each was put on.  An alias is looked up, never
 * expanded: it must name an anchor defined before it, and at a known key it
 * is judged by that node's kind.  Records may be 16 MiB, so both sets are
 * hash tables and the whole check is linear in the input; comparing each
 * key with all earlier ones took minutes for a few hundred thousand keys.
 */
#include "yaml_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <yaml.h>

enum shape { SHAPE_ANY, SHAPE_STRING, SHAPE_SEQUENCE };

/* What a node is, as far as the schema cares; an alias has its anchor's. */
enum kind { KIND_SCALAR, KIND_NULL, KIND_SEQUENCE, KIND_MAPPING };

static const char *const kind_noun[] = {
	[KIND_SCALAR] = "a scalar",
	[KIND_NULL] = "null",
	[KIND_SEQUENCE] = "a sequence",
	[KIND_MAPPING] = "a mapping",
};

static const struct {
	const char *key;
	enum shape shape;
} known_keys[] = {
	{ "name", SHAPE_STRING },      { "description", SHAPE_STRING },
	{ "status", SHAPE_STRING },    { "agents", SHAPE_SEQUENCE },
	{ "prompts", SHAPE_SEQUENCE }, { "steps", SHAPE_SEQUENCE },
	{ "tags", SHAPE_SEQUENCE },
};

/*
 * A set of names, each with a one-byte value (an anchor's enum kind; 0 for
 * keys).  A name is a length and bytes, never a C string: a quoted key may
 * hold "\0".  Open addressing with linear probing over a power-of-two table
 * kept at most 3/4 full; XXH3 spreads the names.  The names live back to
 * back in one buffer, each entry being
 *
 *     size_t len (unaligned, so memcpy'd) | 1 byte value | len bytes
 *
 * so memory is 16 bytes a slot plus the entries.  Every distinct name takes
 * at least a byte of input, so both are bounded by a small multiple of it.
 */
struct slot {
	uint64_t hash;
	size_t at; /* 1 + offset of the entry in bytes; 0: empty */
};

struct nameset {
	uint64_t seed; /* hash_seed(): keys chosen to collide would
	                           make every probe long */
	struct slot *slots;
	size_t cap;           /* slots: 0 or a power of two */
	size_t count;         /* names held */
	unsigned char *bytes; /* the entries */
	size_t used, size;
};

#define ENTRY_HEAD (sizeof(size_t) + 1)

struct checker {
	char *msg;
	size_t msglen;
	int depth; /* open collections */
	int documents;
	bool expect_key; /* at depth 1: next top-level node is a key */
	enum shape want; /* shape of the pending top-level value */
	const char *cur_key;
	struct nameset keys;    /* top-level keys seen */
	struct nameset anchors; /* anchors defined so far, value: enum kind */
};

static void fail_at(struct checker *c, yaml_mark_t mark, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void fail_at(struct checker *c, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->msg == NULL || c->msglen == 0)
		return;
	n = snprintf(c->msg, c->msglen, "line %zu, column %zu: ", mark.line + 1,
	             mark.column + 1);
	if (n < 0 || (size_t)n >= c->msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->msg + n, c->msglen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Length of the well-formed UTF-8 sequence of 2 to 4 bytes at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

#define SHOWN_MAX 64               /* bytes of a name shown in a message */
#define SHOWN_SIZE (SHOWN_MAX + 4) /* ... then "..." and the NUL */

/*
 * The printable form of the character at s (n > 0 bytes left) into piece;
 * returns its length and sets *step to the bytes it stands for.  Control
 * characters (C0, DEL and C1, U+0080..U+009F) and backslash become YAML
 * double-quoted escapes: \0 \t \n \r \\ and \xNN.  Other UTF-8 is kept.
 * libyaml hands over valid UTF-8 only, but a byte that does not start a
 * well-formed sequence is escaped rather than trusted.
 */
static size_t show_char(char piece[8], const unsigned char *s, size_t n,
                        size_t *step)
{
	size_t u = utf8_len(s, n);

	*step = 1;
	switch (s[0]) {
	case '\\':
		return (size_t)snprintf(piece, 8, "\\\\");
	case '\0':
		return (size_t)snprintf(piece, 8, "\\0");
	case '\t':
		return (size_t)snprintf(piece, 8, "\\t");
	case '\n':
		return (size_t)snprintf(piece, 8, "\\n");
	case '\r':
		return (size_t)snprintf(piece, 8, "\\r");
	}
	if (s[0] >= 0x20 && s[0] < 0x7f) {
		piece[0] = (char)s[0];
		return 1;
	}
	if (u == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
		*step = 2; /* U+0080 + (s[1] - 0x80) */
		return (size_t)snprintf(piece, 8, "\\x%02x", s[1]);
	}
	if (u > 0) {
		memcpy(piece, s, u);
		*step = u;
		return u;
	}
	return (size_t)snprintf(piece, 8, "\\x%02x", s[0]);
}

/*
 * Write name (len bytes, maybe holding NULs) into out as text safe for a
 * message that ends up on a terminal or in syslog.  After SHOWN_MAX bytes
 * the text ends in "..."; an escape or a character is never cut.
 */
static void show_name(char out[SHOWN_SIZE], const void *name, size_t len)
{
	const unsigned char *s = name;
	size_t n = 0, step;

	for (size_t i = 0; i < len; i += step) {
		char piece[8];
		size_t plen = show_char(piece, s + i, len - i, &step);

		if (n + plen > SHOWN_MAX) {
			memcpy(out + n, "...", 4);
			return;
		}
		memcpy(out + n, piece, plen);
		n += plen;
	}
	out[n] = '\0';
}

/* Whether the len bytes at a are the C string b. */
static bool bytes_are(const void *a, size_t len, const char *b)
{
	return strlen(b) == len && memcmp(a, b, len) == 0;
}

static enum shape shape_of_key(const void *key, size_t len, const char **canon)
{
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		if (bytes_are(key, len, known_keys[i].key)) {
			*canon = known_keys[i].key;
			return known_keys[i].shape;
		}
	*canon = NULL;
	return SHAPE_ANY;
}

static bool is_plain_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return len == 0 || bytes_are(v, len, "~") ||
	       bytes_are(v, len, "null") || bytes_are(v, len, "Null") ||
	       bytes_are(v, len, "NULL");
}

static void nameset_release(struct nameset *s)
{
	free(s->slots);
	free(s->bytes);
	memset(s, 0, sizeof(*s));
}

static bool entry_is(const struct nameset *s, size_t off, const void *name,
                     size_t len)
{
	size_t elen;

	memcpy(&elen, s->bytes + off, sizeof(elen));
	return elen == len &&
	       memcmp(s->bytes + off + ENTRY_HEAD, name, len) == 0;
}

/* The slot holding name, or the empty one where it would go.  cap > 0. */
static struct slot *nameset_slot(const struct nameset *s, uint64_t hash,
                                 const void *name, size_t len)
{
	size_t mask = s->cap - 1;

	/* Ends: the table is never full. */
	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		struct slot *sl = &s->slots[i];

		if (sl->at == 0 ||
		    (sl->hash == hash && entry_is(s, sl->at - 1, name, len)))
			return sl;
	}
}

/* Double the table (64 slots at first), placing each slot by its hash. */
static int nameset_grow(struct nameset *s)
{
	/* No overflow: s->cap * sizeof(struct slot) bytes were allocated. */
	size_t cap = s->cap ? s->cap * 2 : 64, mask = cap - 1;
	struct slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (s->slots[i].at == 0)
			continue;
		for (j = (size_t)s->slots[i].hash & mask; slots[j].at != 0;
		     j = (j + 1) & mask)
			;
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* Append an entry for name to s->bytes; *off is where it starts. */
static int nameset_append(struct nameset *s, const void *name, size_t len,
                          unsigned char value, size_t *off)
{
	size_t need;

	if (len > SIZE_MAX - ENTRY_HEAD - s->used)
		return -ENOMEM;
	need = s->used + ENTRY_HEAD + len;
	if (need > s->size) {
		size_t size = s->size ? s->size : 4096;
		unsigned char *b;

		while (size < need)
			size = size > SIZE_MAX / 2 ? need : size * 2;
		b = realloc(s->bytes, size);
		if (b == NULL)
			return -ENOMEM;
		s->bytes = b;
		s->size = size;
	}
	*off = s->used;
	memcpy(s->bytes + *off, &len, sizeof(len));
	s->bytes[*off + sizeof(len)] = value;
	if (len > 0)
		memcpy(s->bytes + *off + ENTRY_HEAD, name, len);
	s->used = need;
	return 0;
}

/*
 * Add name with value, or give it the new value if it is there already.
 * Returns 0 when added, 1 when it was there, or -ENOMEM (s unchanged but
 * perhaps grown).
 */
static int nameset_put(struct nameset *s, const void *name, size_t len,
                       unsigned char value)
{
	uint64_t hash = XXH3_64bits_withSeed(name, len, s->seed);
	struct slot *sl;
	size_t off;
	int rc;

	if (s->count + 1 > s->cap - s->cap / 4) {
		rc = nameset_grow(s);
		if (rc != 0)
			return rc;
	}
	sl = nameset_slot(s, hash, name, len);
	if (sl->at != 0) {
		s->bytes[sl->at - 1 + sizeof(size_t)] = value;
		return 1;
	}
	rc = nameset_append(s, name, len, value, &off);
	if (rc != 0)
		return rc;
	sl->hash = hash;
	sl->at = off + 1;
	s->count++;
	return 0;
}

/* The value of name, or -1 if s does not hold it. */
static int nameset_get(const struct nameset *s, const void *name, size_t len)
{
	const struct slot *sl;

	if (s->cap == 0)
		return -1;
	sl = nameset_slot(s, XXH3_64bits_withSeed(name, len, s->seed), name,
	                  len);
	return sl->at ? s->bytes[sl->at - 1 + sizeof(size_t)] : -1;
}

/* Remember a top-level key; -EINVAL if it was seen before. */
static int add_key(struct checker *c, const yaml_event_t *ev)
{
	const void *key = ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	char shown[SHOWN_SIZE];
	int rc = nameset_put(&c->keys, key, len, 0);

	if (rc <= 0)
		return rc;
	show_name(shown, key, len);
	fail_at(c, ev->start_mark, "duplicate key '%s'", shown);
	return -EINVAL;
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

/* The kind of the node a scalar or collection start event begins. */
static enum kind kind_of(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SEQUENCE_START_EVENT:
		return KIND_SEQUENCE;
	case YAML_MAPPING_START_EVENT:
		return KIND_MAPPING;
	default:
		return is_plain_null(ev) ? KIND_NULL : KIND_SCALAR;
	}
}

/*
 * Define the event's anchor, if it has one, as the node it begins.  A
 * collection's anchor is defined at its start, before its children: YAML
 * lets an alias inside refer to it (`a: &r [*r]`), as loaders accept.  A
 * redefinition replaces the earlier kind, as later aliases mean the new
 * node.
 */
static int define_anchor(struct checker *c, const yaml_event_t *ev)
{
	const yaml_char_t *anchor;
	int rc;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		break;
	default:
		return 0;
	}
	if (anchor == NULL)
		return 0;
	/* Anchors come from the text with no escapes: no NUL inside. */
	rc = nameset_put(&c->anchors, anchor, strlen((const char *)anchor),
	                 (unsigned char)kind_of(ev));
	return rc < 0 ? rc : 0;
}

/* The kind of the node an alias event refers to; -EINVAL if none. */
static int alias_kind(struct checker *c, const yaml_event_t *ev,
                      enum kind *kind)
{
	const char *anchor = (const char *)ev->data.alias.anchor;
	int v = nameset_get(&c->anchors, anchor, strlen(anchor));
	char shown[SHOWN_SIZE];

	if (v >= 0) {
		*kind = (enum kind)v;
		return 0;
	}
	show_name(shown, anchor, strlen(anchor));
	fail_at(c, ev->start_mark, "undefined alias '*%s'", shown);
	return -EINVAL;
}

/* Refuse the pending top-level value, of the given kind, as not `want`. */
static int wrong_shape(struct checker *c, const yaml_event_t *ev,
                       enum kind kind, const char *want)
{
	char shown[SHOWN_SIZE];

	if (ev->type != YAML_ALIAS_EVENT) {
		fail_at(c, ev->start_mark, "'%s' must be %s, not %s",
		        c->cur_key, want, kind_noun[kind]);
		return -EINVAL;
	}
	show_name(shown, ev->data.alias.anchor,
	          strlen((const char *)ev->data.alias.anchor));
	fail_at(c, ev->start_mark, "'%s' must be %s, not %s (alias '*%s')",
	        c->cur_key, want, kind_noun[kind], shown);
	return -EINVAL;
}

/* A node of the given kind starts at depth 1 (directly in the top mapping). */
static int top_level_node(struct checker *c, const yaml_event_t *ev,
                          enum kind kind)
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
		c->want = shape_of_key(ev->data.scalar.value,
		                       ev->data.scalar.length, &c->cur_key);
		c->expect_key = false;
		return 0;
	}
	c->expect_key = true;
	switch (c->want) {
	case SHAPE_STRING:
		if (kind != KIND_SCALAR)
			return wrong_shape(c, ev, kind, "a string");
		break;
	case SHAPE_SEQUENCE:
		if (kind != KIND_SEQUENCE)
			return wrong_shape(c, ev, kind, "a sequence");
		break;
	case SHAPE_ANY:
		break;
	}
	return 0;
}

static int on_event(struct checker *c, const yaml_event_t *ev)
{
	enum kind kind;
	int rc;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++c->documents > 1) {
			fail_at(c, ev->start_mark,
			        "a record holds one YAML document, not "
			        "several");
			return -EINVAL;
		}
		return 0;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (c->depth == 0 && ev->type != YAML_MAPPING_START_EVENT) {
			fail_at(c, ev->start_mark,
			        "the top level must be a mapping, not a "
			        "sequence");
			return -EINVAL;
		}
		rc = define_anchor(c, ev);
		if (rc != 0)
			return rc;
		if (c->depth == 1) {
			rc = top_level_node(c, ev, kind_of(ev));
			if (rc != 0)
				return rc;
		}
		if (++c->depth > YC_MAX_DEPTH) {
			fail_at(c, ev->start_mark,
			        "nesting deeper than %d levels", YC_MAX_DEPTH);
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
			if (ev->type == YAML_SCALAR_EVENT &&
			    is_plain_null(ev) && ev->data.scalar.length == 0)
				return 0;
			fail_at(c, ev->start_mark,
			        "the top level must be a mapping, not %s",
			        event_noun(ev->type));
			return -EINVAL;
		}
		if (ev->type == YAML_ALIAS_EVENT) {
			rc = alias_kind(c, ev, &kind);
		} else {
			rc = define_anchor(c, ev);
			kind = kind_of(ev);
		}
		if (rc != 0)
			return rc;
		if (c->depth == 1)
			return top_level_node(c, ev, kind);
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

/* One random seed a process, drawn on first use (or yaml_check_seed's). */
static _Atomic uint64_t seed;

void yaml_check_seed(uint64_t v)
{
	atomic_store_explicit(&seed, v | 1, memory_order_relaxed);
}

static uint64_t hash_seed(void)
{
	uint64_t v = atomic_load_explicit(&seed, memory_order_relaxed);

	if (v == 0) {
		if (getrandom(&v, sizeof(v), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(v))
			v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^
			    (uint64_t)getpid();
		v |= 1;
		atomic_store_explicit(&seed, v, memory_order_relaxed);
	}
	return v;
}

int yaml_check(const void *data, size_t len, char *msg, size_t msglen)
{
	return yaml_check_events(data, len, msg, msglen, NULL, NULL);
}

int yaml_check_events(const void *data, size_t len, char *msg, size_t msglen,
                      int (*also)(void *ctx, const yaml_event_t *ev), void *ctx)
{
	struct checker c = { .msg = msg, .msglen = msglen };
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0;
	bool done = false;

	if (msg && msglen)
		msg[0] = '\0';
	c.keys.seed = c.anchors.seed = hash_seed();
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, data ? data : (const void *)"",
	                             len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM
			                                       : -EINVAL;
			parser_message(&c, &parser);
			break;
		}
		rc = on_event(&c, &ev);
		if (also != NULL && also(ctx, &ev) != 0)
			also = NULL; /* it has seen what it wanted */
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (rc != 0)
			break;
	}
	yaml_parser_delete(&parser);
	nameset_release(&c.keys);
	nameset_release(&c.anchors);
	return rc;
}
