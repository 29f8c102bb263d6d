/*
 * textdiff: Myers' diff over lines.  See textdiff.h.
 */
#include "textdiff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT 3

struct line {
	const char *p;
	size_t len; /* without the '\n' */
	bool nl;    /* ended by '\n' (only the last line may not be) */
};

enum op_kind { OP_EQ, OP_DEL, OP_INS };

struct op {
	enum op_kind kind;
	size_t a, b; /* the line in a (EQ, DEL) and in b (EQ, INS) */
};

struct lines {
	struct line *v;
	size_t n;
};

static int split(const char *s, size_t len, struct lines *l)
{
	size_t n = 0, cap = 0;

	l->v = NULL;
	l->n = 0;
	for (size_t i = 0; i < len;) {
		const char *e = memchr(s + i, '\n', len - i);
		size_t ll = e ? (size_t)(e - (s + i)) : len - i;

		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			struct line *v = realloc(l->v, nc * sizeof(*v));

			if (v == NULL) {
				free(l->v);
				l->v = NULL;
				return -ENOMEM;
			}
			l->v = v;
			cap = nc;
		}
		l->v[n].p = s + i;
		l->v[n].len = ll;
		l->v[n].nl = e != NULL;
		n++;
		i += ll + (e != NULL);
	}
	l->n = n;
	return 0;
}

static bool same(const struct line *x, const struct line *y)
{
	return x->len == y->len && x->nl == y->nl &&
	       memcmp(x->p, y->p, x->len) == 0;
}

struct script {
	struct op *v;
	size_t n, cap;
};

static int push(struct script *s, enum op_kind k, size_t a, size_t b)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 64;
		struct op *v = realloc(s->v, nc * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = nc;
	}
	s->v[s->n].kind = k;
	s->v[s->n].a = a;
	s->v[s->n].b = b;
	s->n++;
	return 0;
}

/*
 * The shortest edit script from a[0..n) to b[0..m), appended to out in
 * order, lines numbered from base_a and base_b.  1 when it needs more
 * than TD_MAX_D edits (out unchanged), 0, or -ENOMEM.  trace[d] keeps
 * the furthest x on each diagonal k in [-d, d] after step d, which the
 * walk back from (n, m) needs.
 */
static int myers(const struct line *a, size_t n, const struct line *b, size_t m,
                 size_t base_a, size_t base_b, struct script *out)
{
	long max = (long)(n + m), dmax = max < TD_MAX_D ? max : TD_MAX_D;
	long **trace = calloc((size_t)dmax + 1, sizeof(*trace));
	long *v = calloc((size_t)(2 * max + 3), sizeof(*v)), d, found = -1;
	struct script rev = { 0 };
	int rc = 0;

	if (trace == NULL || v == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	v += max + 1; /* v[k] for k in [-max-1, max+1] */
	for (d = 0; d <= dmax && found < 0; d++) {
		for (long k = -d; k <= d; k += 2) {
			long x = k == -d || (k != d && v[k - 1] < v[k + 1])
			                 ? v[k + 1]
			                 : v[k - 1] + 1;
			long y = x - k;

			while (x < (long)n && y < (long)m &&
			       same(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[k] = x;
			if (x >= (long)n && y >= (long)m)
				found = d;
		}
		trace[d] = malloc((size_t)(2 * d + 1) * sizeof(long));
		if (trace[d] == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(trace[d], v - d, (size_t)(2 * d + 1) * sizeof(long));
	}
	if (found < 0) {
		rc = 1;
		goto out;
	}
	/* walk back, collecting the script in reverse */
	long x = (long)n, y = (long)m;

	for (d = found; d >= 0 && rc == 0; d--) {
		long k = x - y, pk, px, py;

		if (d == 0) {
			pk = 0;
			px = py = 0;
		} else {
			const long *pv = trace[d - 1] + (d - 1);

			pk = k == -d || (k != d && pv[k - 1] < pv[k + 1])
			             ? k + 1
			             : k - 1;
			px = pv[pk];
			py = px - pk;
		}
		while (rc == 0 && x > px && y > py) {
			x--;
			y--;
			rc = push(&rev, OP_EQ, base_a + (size_t)x,
			          base_b + (size_t)y);
		}
		if (rc == 0 && d > 0) {
			if (pk == k + 1)
				rc = push(&rev, OP_INS, 0, base_b + (size_t)py);
			else
				rc = push(&rev, OP_DEL, base_a + (size_t)px, 0);
		}
		x = px;
		y = py;
	}
	for (size_t i = rev.n; i-- > 0 && rc == 0;)
		rc = push(out, rev.v[i].kind, rev.v[i].a, rev.v[i].b);
out:
	if (trace)
		for (d = 0; d <= dmax; d++)
			free(trace[d]);
	free(trace);
	if (v)
		free(v - (max + 1));
	free(rev.v);
	return rc;
}

static int script_of(const struct lines *a, const struct lines *b,
                     struct script *s)
{
	size_t head = 0, tail = 0, n, m;
	int rc = 0;

	while (head < a->n && head < b->n && same(&a->v[head], &b->v[head]))
		head++;
	while (tail < a->n - head && tail < b->n - head &&
	       same(&a->v[a->n - 1 - tail], &b->v[b->n - 1 - tail]))
		tail++;
	n = a->n - head - tail;
	m = b->n - head - tail;
	for (size_t i = 0; i < head && rc == 0; i++)
		rc = push(s, OP_EQ, i, i);
	if (rc == 0 && (n || m))
		rc = myers(a->v + head, n, b->v + head, m, head, head, s);
	if (rc == 1) { /* too different: the middle out, then in */
		rc = 0;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = push(s, OP_DEL, head + i, 0);
		for (size_t i = 0; i < m && rc == 0; i++)
			rc = push(s, OP_INS, 0, head + i);
	}
	for (size_t i = 0; i < tail && rc == 0; i++)
		rc = push(s, OP_EQ, a->n - tail + i, b->n - tail + i);
	return rc;
}

static void print_line(FILE *out, char mark, const struct line *l)
{
	fputc(mark, out);
	fwrite(l->p, 1, l->len, out);
	fputc('\n', out);
	if (!l->nl)
		fputs("\\ No newline at end of file\n", out);
}

/* "-start,count" as diff -u writes it: the line before an empty range,
 * and no count when it is 1. */
static void print_range(FILE *out, char mark, size_t start, size_t count)
{
	if (count == 1)
		fprintf(out, "%c%zu", mark, start + 1);
	else
		fprintf(out, "%c%zu,%zu", mark, count ? start + 1 : start,
		        count);
}

static void print_hunks(FILE *out, const struct script *s,
                        const struct lines *a, const struct lines *b)
{
	size_t i = 0, pa = 0, pb = 0; /* lines of a and b before op i */

	while (i < s->n) {
		size_t c = i, last, end, start, ha, hb, ca = 0, cb = 0;

		while (c < s->n && s->v[c].kind == OP_EQ)
			c++;
		if (c == s->n)
			break;
		/* changes up to 2 * CONTEXT equal lines apart share a hunk,
		 * as in diff -u: their contexts meet */
		last = c;
		for (size_t j = c; j < s->n && j - last <= 2 * CONTEXT + 1; j++)
			if (s->v[j].kind != OP_EQ)
				last = j;
		start = c - i > CONTEXT ? c - CONTEXT : i;
		end = last + 1 + CONTEXT < s->n ? last + 1 + CONTEXT : s->n;
		/* lines before the hunk */
		for (size_t j = i; j < start; j++) {
			pa++;
			pb++;
		}
		ha = pa;
		hb = pb;
		for (size_t j = start; j < end; j++) {
			ca += s->v[j].kind != OP_INS;
			cb += s->v[j].kind != OP_DEL;
		}
		fputs("@@ ", out);
		print_range(out, '-', ha, ca);
		fputc(' ', out);
		print_range(out, '+', hb, cb);
		fputs(" @@\n", out);
		for (size_t j = start; j < end; j++) {
			const struct op *o = &s->v[j];

			if (o->kind == OP_EQ)
				print_line(out, ' ', &a->v[o->a]);
			else if (o->kind == OP_DEL)
				print_line(out, '-', &a->v[o->a]);
			else
				print_line(out, '+', &b->v[o->b]);
		}
		pa += ca;
		pb += cb;
		i = end;
	}
}

int td_diff(const char *a, size_t alen, const char *b, size_t blen,
            struct td_stat *st, FILE *out, const char *label_a,
            const char *label_b)
{
	struct lines la, lb = { 0 };
	struct script s = { 0 };
	int rc = split(a, alen, &la);

	st->added = st->removed = 0;
	if (rc == 0)
		rc = split(b, blen, &lb);
	if (rc == 0)
		rc = script_of(&la, &lb, &s);
	for (size_t i = 0; rc == 0 && i < s.n; i++) {
		st->added += s.v[i].kind == OP_INS;
		st->removed += s.v[i].kind == OP_DEL;
	}
	if (rc == 0 && out && (st->added || st->removed)) {
		fprintf(out, "--- %s\n+++ %s\n", label_a, label_b);
		print_hunks(out, &s, &la, &lb);
	}
	free(la.v);
	free(lb.v);
	free(s.v);
	return rc;
}
