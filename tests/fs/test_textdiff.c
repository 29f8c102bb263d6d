/*
 * Tests for fs/store/textdiff.c: the line counts and the unified diff,
 * held to what GNU `diff -u` prints.  Fixed cases spell the expected
 * output out; random cases write both texts to files, run diff -u on
 * them and compare everything below the two header lines (whose labels
 * differ).  Every diff is also applied back to its first text by a small
 * patcher here, which must give the second text exactly: that holds
 * even where two shortest diffs differ only in which equal line they
 * keep, and for the TD_MAX_D fallback, which GNU does not share.
 *
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "textdiff.h"

/* ---- helpers ------------------------------------------------------------ */

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* td_diff() of a and b: its counts in *st and its output, malloc'd
 * ("" when it printed nothing). */
static char *diff_of(const char *a, size_t alen, const char *b, size_t blen,
                     struct td_stat *st)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(td_diff(a, alen, b, blen, st, f, "a", "b"), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(out);
	return out;
}

static char *diff_str(const char *a, const char *b, struct td_stat *st)
{
	return diff_of(a, strlen(a), b, strlen(b), st);
}

/* The hunks of a unified diff: everything after its two header lines. */
static const char *body_of(const char *diff)
{
	const char *p = diff;

	if (*p == '\0')
		return p;
	assert_true(strncmp(p, "--- ", 4) == 0);
	p = strchr(p, '\n');
	assert_non_null(p);
	assert_true(strncmp(p + 1, "+++ ", 4) == 0);
	p = strchr(p + 1, '\n');
	assert_non_null(p);
	return p + 1;
}

/* Check the unified diff of a and b (no output when the texts are
 * equal) against its expected hunks, and its counts. */
static void check_diff(const char *a, const char *b, const char *hunks,
                       size_t added, size_t removed)
{
	struct td_stat st;
	char *out = diff_str(a, b, &st);
	bool ok = *hunks == '\0' ? *out == '\0'
	                         : strncmp(out, "--- a\n+++ b\n", 12) == 0 &&
	                                   strcmp(out + 12, hunks) == 0;

	if (!ok)
		print_error("got:\n%swanted:\n%s", out, hunks);
	free(out);
	assert_true(ok);
	assert_int_equal(st.added, added);
	assert_int_equal(st.removed, removed);
}

/* What diff -u writes after a line that has no newline. */
static const char no_nl[] = "\\ No newline at end of file\n";
#define NO_NL_LEN (sizeof(no_nl) - 1)

/* One line of a text: its bytes, and whether a '\n' ended it. */
struct tline {
	const char *p;
	size_t len;
	bool nl;
};

static size_t lines_of(const char *s, size_t len, struct tline **out)
{
	size_t n = 0;
	struct tline *v = NULL;

	for (size_t i = 0; i < len;) {
		const char *e = memchr(s + i, '\n', len - i);
		size_t ll = e ? (size_t)(e - (s + i)) : len - i;

		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		v[n].p = s + i;
		v[n].len = ll;
		v[n].nl = e != NULL;
		n++;
		i += ll + (e != NULL);
	}
	*out = v;
	return n;
}

static void emit(struct buf *o, const char *p, size_t len, bool nl)
{
	buf_add(o, p, len);
	if (nl)
		buf_add(o, "\n", 1);
}

static size_t parse_count(const char **p)
{
	char *end;
	unsigned long v = strtoul(*p, &end, 10);

	assert_true(end != *p);
	*p = end;
	return v;
}

/* "-start[,count]" or "+start[,count]" of a hunk header. */
static void parse_range(const char **p, char mark, size_t *start, size_t *count)
{
	assert_int_equal(**p, mark);
	(*p)++;
	*start = parse_count(p);
	*count = 1;
	if (**p == ',') {
		(*p)++;
		*count = parse_count(p);
	}
}

/*
 * Apply the unified diff patch to a and return the result: every context
 * and removed line must be a's line at that place, with its newline or
 * the lack of one, the hunks in order, and their headers must count the
 * lines they hold.
 */
static char *apply(const char *a, size_t alen, const char *patch,
                   size_t *outlen)
{
	struct tline *al;
	size_t an = lines_of(a, alen, &al), ai = 0, bi = 0;
	struct buf o = { 0 };
	const char *p = body_of(patch);

	buf_add(&o, "", 0);
	while (*p) {
		size_t as, ac, bs, bc, ca = 0, cb = 0, first;

		assert_true(strncmp(p, "@@ ", 3) == 0);
		p += 3;
		parse_range(&p, '-', &as, &ac);
		assert_int_equal(*p++, ' ');
		parse_range(&p, '+', &bs, &bc);
		assert_true(strncmp(p, " @@\n", 4) == 0);
		p += 4;
		/* an empty range names the line before it */
		first = ac ? as - 1 : as;
		assert_true(first >= ai);
		assert_true(first <= an);
		for (; ai < first; ai++, bi++)
			emit(&o, al[ai].p, al[ai].len, al[ai].nl);
		assert_int_equal(bc ? bs - 1 : bs, bi);
		while (*p && *p != '@') {
			const char *e = strchr(p, '\n');
			char mark = *p;
			bool nl = true;

			assert_non_null(e);
			if (strncmp(e + 1, no_nl, NO_NL_LEN) == 0)
				nl = false;
			if (mark == ' ' || mark == '-') {
				assert_true(ai < an);
				assert_int_equal(al[ai].len,
				                 (size_t)(e - p - 1));
				assert_memory_equal(al[ai].p, p + 1,
				                    al[ai].len);
				assert_int_equal(al[ai].nl, nl);
				ai++;
				ca++;
			}
			if (mark == ' ' || mark == '+') {
				emit(&o, p + 1, (size_t)(e - p - 1), nl);
				bi++;
				cb++;
			}
			assert_true(mark == ' ' || mark == '-' || mark == '+');
			p = e + 1;
			if (!nl)
				p += NO_NL_LEN;
		}
		assert_int_equal(ca, ac);
		assert_int_equal(cb, bc);
	}
	for (; ai < an; ai++)
		emit(&o, al[ai].p, al[ai].len, al[ai].nl);
	free(al);
	*outlen = o.n;
	return o.p;
}

static void check_applies(const char *a, size_t alen, const char *b,
                          size_t blen, const char *patch)
{
	size_t len;
	char *got = apply(a, alen, patch, &len);

	assert_int_equal(len, blen);
	assert_memory_equal(got, b, blen);
	free(got);
}

/* Lines starting with c in the hunks of a unified diff. */
static size_t count_marks(const char *body, char c)
{
	size_t n = 0;

	for (const char *p = body; *p; p = strchr(p, '\n') + 1)
		n += *p == c;
	return n;
}

/* ---- GNU diff ------------------------------------------------------------- */

/* A directory of its own for the two files diff -u reads (the suite is
 * pure: no store, so not tmpdir.h's helpers either). */
static char gnu_dir[4096], gnu_a[4200], gnu_b[4200];

static int gnu_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	if (base == NULL || *base == '\0')
		base = "/var/tmp";
	snprintf(gnu_dir, sizeof(gnu_dir), "%s/cccfs-textdiff-XXXXXX", base);
	if (mkdtemp(gnu_dir) == NULL)
		return -1;
	snprintf(gnu_a, sizeof(gnu_a), "%s/a", gnu_dir);
	snprintf(gnu_b, sizeof(gnu_b), "%s/b", gnu_dir);
	return 0;
}

static int gnu_teardown(void **state)
{
	(void)state;
	unlink(gnu_a);
	unlink(gnu_b);
	return rmdir(gnu_dir);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* What `diff -u` (and options opt) prints for a and b, malloc'd. */
static char *gnu_diff(const char *opt, const char *a, size_t alen,
                      const char *b, size_t blen)
{
	char cmd[8500], chunk[4096];
	struct buf o = { 0 };
	FILE *f;
	size_t n;
	int st;

	write_file(gnu_a, a, alen);
	write_file(gnu_b, b, blen);
	snprintf(cmd, sizeof(cmd), "diff -u %s '%s' '%s'", opt, gnu_a, gnu_b);
	f = popen(cmd, "r");
	assert_non_null(f);
	buf_add(&o, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&o, chunk, n);
	st = pclose(f);
	/* 0: the same, 1: different; 2 would be trouble */
	assert_true(st == 0 || st == 256);
	return o.p;
}

/*
 * body with each hunk that starts where the one before it ends joined to
 * it (join), as diff -u prints them, and every header with its counts
 * written out: a copy, to tell the known hunk-joining bug
 * (test_hunk_merging) from any other difference.
 */
static void put_head(struct buf *o, const struct buf *cur, size_t as, size_t ac,
                     size_t bs, size_t bc)
{
	char head[128];

	snprintf(head, sizeof(head), "@@ -%zu,%zu +%zu,%zu @@\n", as, ac, bs,
	         bc);
	buf_str(o, head);
	buf_add(o, cur->p, cur->n);
}

static char *normalize(const char *body, bool join)
{
	struct buf o = { 0 }, cur = { 0 };
	size_t as = 0, ac = 0, bs = 0, bc = 0;
	bool open = false;

	buf_add(&o, "", 0);
	buf_add(&cur, "", 0);
	for (const char *p = body; *p;) {
		const char *e = strchr(p, '\n') + 1;
		const char *q = p + 3;
		size_t s1, c1, s2, c2;

		if (*p != '@') {
			buf_add(&cur, p, (size_t)(e - p));
			p = e;
			continue;
		}
		parse_range(&q, '-', &s1, &c1);
		q++;
		parse_range(&q, '+', &s2, &c2);
		if (join && open && c1 && ac && s1 == as + ac) {
			ac += c1;
			bc += c2;
		} else {
			if (open)
				put_head(&o, &cur, as, ac, bs, bc);
			cur.n = 0;
			as = s1;
			ac = c1;
			bs = s2;
			bc = c2;
			open = true;
		}
		p = e;
	}
	if (open)
		put_head(&o, &cur, as, ac, bs, bc);
	free(cur.p);
	return o.p;
}

/* How the random cases went: the first differing case of each kind is
 * printed, all are counted, and the test asserts at its end. */
struct tally {
	unsigned cases, misaligned, unjoined;
};

static bool same_norm(const char *x, const char *y, bool join)
{
	char *nx = normalize(x, join), *ny = normalize(y, join);
	bool same = strcmp(nx, ny) == 0;

	free(nx);
	free(ny);
	return same;
}

static void show(unsigned n, const char *kind, const char *what, unsigned i,
                 const char *ours, const char *gnu)
{
	if (n == 1)
		print_message("%s case %u %s\nours:\n%sdiff -u:\n%s", what, i,
		              kind, ours, gnu);
}

/* diff -u prints a run of changed lines as its removed lines, then its
 * added ones. */
static void check_order(const char *body)
{
	char prev = ' ';

	for (const char *p = body; *p; p = strchr(p, '\n') + 1) {
		if (*p == '\\')
			continue;
		assert_false(prev == '+' && *p == '-');
		prev = *p;
	}
}

/*
 * td_diff() of a and b against diff -u (with options opt).  The counts
 * must be diff -u's, the diff must apply, and print removed lines before
 * added ones; then the output is compared, and a difference counted as
 * misaligned (other lines kept or changed) or, failing that, unjoined
 * (two hunks that diff -u prints as one).
 */
static void check_like_gnu(const char *opt, const char *a, size_t alen,
                           const char *b, size_t blen, const char *what,
                           unsigned i, struct tally *t)
{
	struct td_stat st;
	char *ours = diff_of(a, alen, b, blen, &st);
	char *gnu = gnu_diff(opt, a, alen, b, blen);
	const char *ob = body_of(ours), *gb = body_of(gnu);

	t->cases++;
	assert_int_equal(st.added, count_marks(gb, '+'));
	assert_int_equal(st.removed, count_marks(gb, '-'));
	check_applies(a, alen, b, blen, ours);
	check_order(ob);
	if (!same_norm(ob, gb, true))
		show(++t->misaligned, "keeps other lines", what, i, ob, gb);
	else if (strcmp(ob, gb) != 0)
		show(++t->unjoined, "splits a hunk", what, i, ob, gb);
	free(ours);
	free(gnu);
}

/* aligned: the texts leave one shortest diff, which must be diff -u's. */
static void check_tally(const struct tally *t, bool aligned)
{
	print_message("%u cases: %u misaligned, %u unjoined\n", t->cases,
	              t->misaligned, t->unjoined);
	if (aligned)
		assert_int_equal(t->misaligned, 0);
	assert_int_equal(t->unjoined, 0);
}

/* ---- fixed cases ---------------------------------------------------------- */

static void test_equal(void **state)
{
	(void)state;
	check_diff("", "", "", 0, 0);
	check_diff("a\nb\n", "a\nb\n", "", 0, 0);
	check_diff("no newline", "no newline", "", 0, 0);
}

static void test_empty_sides(void **state)
{
	(void)state;
	check_diff("", "a\nb\n", "@@ -0,0 +1,2 @@\n+a\n+b\n", 2, 0);
	check_diff("a\nb\n", "", "@@ -1,2 +0,0 @@\n-a\n-b\n", 0, 2);
	check_diff("", "x\n", "@@ -0,0 +1 @@\n+x\n", 1, 0);
	check_diff("x\n", "", "@@ -1 +0,0 @@\n-x\n", 0, 1);
	check_diff("", "x",
	           "@@ -0,0 +1 @@\n+x\n"
	           "\\ No newline at end of file\n",
	           1, 0);
}

static void test_final_newline(void **state)
{
	(void)state;
	/* only the newline differs: the last line is changed */
	check_diff("a\nb", "a\nb\n",
	           "@@ -1,2 +1,2 @@\n a\n-b\n"
	           "\\ No newline at end of file\n+b\n",
	           1, 1);
	check_diff("a\nb\n", "a\nb",
	           "@@ -1,2 +1,2 @@\n a\n-b\n+b\n"
	           "\\ No newline at end of file\n",
	           1, 1);
	/* neither ends in one, and the last lines differ */
	check_diff("a\nb", "a\nc",
	           "@@ -1,2 +1,2 @@\n a\n-b\n"
	           "\\ No newline at end of file\n+c\n"
	           "\\ No newline at end of file\n",
	           1, 1);
	/* the same unterminated last line is context */
	check_diff("a\nb\nz", "a\nc\nz",
	           "@@ -1,3 +1,3 @@\n a\n-b\n+c\n z\n"
	           "\\ No newline at end of file\n",
	           1, 1);
}

static void test_change_places(void **state)
{
	static const char ten[] = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";

	(void)state;
	check_diff(ten, "X\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
	           "@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n", 1, 1);
	check_diff(ten, "1\n2\n3\n4\nX\n6\n7\n8\n9\n10\n",
	           "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n", 1, 1);
	check_diff(ten, "1\n2\n3\n4\n5\n6\n7\n8\n9\nX\n",
	           "@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+X\n", 1, 1);
	/* an insertion at the start, a removal at the end */
	check_diff(ten, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
	           "@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n", 1, 0);
	check_diff(ten, "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
	           "@@ -7,4 +7,3 @@\n 7\n 8\n 9\n-10\n", 0, 1);
}

/* Lines "01".."20", with line x and line y replaced by "X" and "Y". */
static void two_changes(char *buf, size_t n, int x, int y)
{
	size_t off = 0;

	for (int i = 1; i <= 20; i++) {
		if (i == x)
			off += (size_t)snprintf(buf + off, n - off, "X\n");
		else if (i == y)
			off += (size_t)snprintf(buf + off, n - off, "Y\n");
		else
			off += (size_t)snprintf(buf + off, n - off, "%02d\n",
			                        i);
	}
}

static void test_hunk_merging(void **state)
{
	char a[128], b[128];

	(void)state;
	two_changes(a, sizeof(a), 0, 0);
	/* 5 equal lines between two changes: one hunk */
	two_changes(b, sizeof(b), 3, 9);
	check_diff(a, b,
	           "@@ -1,12 +1,12 @@\n 01\n 02\n-03\n+X\n 04\n 05\n 06\n"
	           " 07\n 08\n-09\n+Y\n 10\n 11\n 12\n",
	           2, 2);
	/* 7 apart: two hunks */
	two_changes(b, sizeof(b), 3, 11);
	check_diff(a, b,
	           "@@ -1,6 +1,6 @@\n 01\n 02\n-03\n+X\n 04\n 05\n 06\n"
	           "@@ -8,7 +8,7 @@\n 08\n 09\n 10\n-11\n+Y\n 12\n 13\n 14\n",
	           2, 2);
	/* 6 apart: diff -u prints one hunk, the 3 + 3 lines of context
	 * meeting */
	two_changes(b, sizeof(b), 3, 10);
	check_diff(a, b,
	           "@@ -1,13 +1,13 @@\n 01\n 02\n-03\n+X\n 04\n 05\n 06\n"
	           " 07\n 08\n 09\n-10\n+Y\n 11\n 12\n 13\n",
	           2, 2);
}

static void test_counts_without_output(void **state)
{
	struct td_stat st = { 99, 99 };

	(void)state;
	assert_int_equal(td_diff("a\nb\nc\n", 6, "a\nc\nd\ne\n", 8, &st, NULL,
	                         NULL, NULL),
	                 0);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.removed, 1);
}

/* ---- random cases ----------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/*
 * Edits of a text of distinct lines, as a record changes: lines
 * replaced, removed and added here and there, and now and then the
 * final newline dropped on either side.  Distinct lines leave one
 * shortest diff, so the output must be diff -u's to the byte.
 */
static void test_random_edits(void **state)
{
	struct tally t = { 0 };
	unsigned fresh = 0;

	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		struct buf a = { 0 }, b = { 0 };
		unsigned n = rnd(60);
		uint32_t rate = 3 + rnd(20);
		char line[64];

		buf_add(&a, "", 0);
		buf_add(&b, "", 0);
		for (unsigned j = 0; j < n; j++) {
			uint32_t r = rnd(100);

			snprintf(line, sizeof(line), "key%u: value %u\n", j,
			         j * 7);
			if (r < rate) { /* removed */
				buf_str(&a, line);
			} else if (r < 2 * rate) { /* added */
				buf_str(&b, line);
			} else if (r < 3 * rate) { /* replaced */
				buf_str(&a, line);
				snprintf(line, sizeof(line), "new%u: %u\n",
				         fresh, fresh);
				fresh++;
				buf_str(&b, line);
			} else {
				buf_str(&a, line);
				buf_str(&b, line);
			}
		}
		if (a.n && rnd(5) == 0)
			a.p[--a.n] = '\0';
		if (b.n && rnd(5) == 0)
			b.p[--b.n] = '\0';
		check_like_gnu("", a.p, a.n, b.p, b.n, "edit", i, &t);
		free(a.p);
		free(b.p);
	}
	check_tally(&t, true);
}

/*
 * Texts of few different lines ("a", "b", "c", ""), where many shortest
 * diffs exist.  The counts must be the shortest (diff -u --minimal's;
 * plain diff -u gives up on the shortest now and then), the diff must
 * apply and print removed lines first.  Which of the equal lines it
 * keeps may differ from diff's choice (about 4 cases in 10 do): both
 * are shortest diffs, so those are only counted.
 */
static void test_random_small_alphabet(void **state)
{
	static const char *const words[] = { "a\n", "b\n", "c\n", "\n" };
	struct tally t = { 0 };

	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		struct buf a = { 0 }, b = { 0 };
		unsigned na = rnd(16), nb = rnd(16);

		buf_add(&a, "", 0);
		buf_add(&b, "", 0);
		for (unsigned j = 0; j < na; j++)
			buf_str(&a, words[rnd(4)]);
		for (unsigned j = 0; j < nb; j++)
			buf_str(&b, words[rnd(4)]);
		if (a.n && rnd(4) == 0)
			a.p[--a.n] = '\0';
		if (b.n && rnd(4) == 0)
			b.p[--b.n] = '\0';
		check_like_gnu("--minimal", a.p, a.n, b.p, b.n, "alphabet", i,
		               &t);
		free(a.p);
		free(b.p);
	}
	check_tally(&t, false);
}

/* ---- the TD_MAX_D fallback ---------------------------------------------- */

static void numbered(struct buf *b, const char *tag, unsigned from, unsigned to)
{
	char line[64];

	for (unsigned i = from; i < to; i++) {
		snprintf(line, sizeof(line), "%s line %u\n", tag, i);
		buf_str(b, line);
	}
}

/* Two texts of 5000 distinct lines each, none shared: far past
 * TD_MAX_D, so every line out and every line in, still a diff that
 * turns a into b (and here the same as diff -u's). */
static void test_fallback_disjoint(void **state)
{
	struct tally t = { 0 };
	struct buf a = { 0 }, b = { 0 };
	struct td_stat st;
	char *out;

	(void)state;
	numbered(&a, "old", 0, 5000);
	numbered(&b, "new", 0, 5000);
	out = diff_of(a.p, a.n, b.p, b.n, &st);
	assert_int_equal(st.removed, 5000);
	assert_int_equal(st.added, 5000);
	assert_true(strncmp(body_of(out), "@@ -1,5000 +1,5000 @@\n", 22) == 0);
	check_applies(a.p, a.n, b.p, b.n, out);
	free(out);
	check_like_gnu("", a.p, a.n, b.p, b.n, "disjoint", 0, &t);
	check_tally(&t, true);
	free(a.p);
	free(b.p);
}

/* A shared head and tail around a middle that differs in every other
 * line, 3000 of them: the head and tail stay context, the middle (past
 * TD_MAX_D) goes out and in whole, and the diff still applies. */
static void test_fallback_middle(void **state)
{
	struct buf a = { 0 }, b = { 0 };
	struct td_stat st;
	char *out;

	(void)state;
	numbered(&a, "head", 0, 10);
	numbered(&b, "head", 0, 10);
	for (unsigned i = 0; i < 6000; i++) {
		char line[64];

		snprintf(line, sizeof(line), "mid %u\n", i);
		buf_str(&a, line);
		if (i % 2)
			snprintf(line, sizeof(line), "changed %u\n", i);
		buf_str(&b, line);
	}
	numbered(&a, "tail", 0, 10);
	numbered(&b, "tail", 0, 10);
	out = diff_of(a.p, a.n, b.p, b.n, &st);
	/* the middle from its first to its last difference */
	assert_int_equal(st.removed, 5999);
	assert_int_equal(st.added, 5999);
	assert_true(strncmp(body_of(out), "@@ -9,6005 +9,6005 @@\n", 22) == 0);
	check_applies(a.p, a.n, b.p, b.n, out);
	free(out);
	free(a.p);
	free(b.p);
}

/*
 * Changes 2 lines apart in the middle, k of them: the shortest diff has
 * D = 2k (each old line out, its new one in, the lines between kept).
 * At D = TD_MAX_D it is still found; one change more and the middle goes
 * out and in whole, the kept lines with it.
 */
static void alternating(struct buf *a, struct buf *b, unsigned k)
{
	char line[64];

	numbered(a, "same", 0, 100);
	numbered(b, "same", 0, 100);
	for (unsigned i = 0; i < k; i++) {
		snprintf(line, sizeof(line), "old %u\n", i);
		buf_str(a, line);
		snprintf(line, sizeof(line), "new %u\n", i);
		buf_str(b, line);
		snprintf(line, sizeof(line), "kept %u\n", i);
		buf_str(a, line);
		buf_str(b, line);
	}
}

static void test_fallback_boundary(void **state)
{
	struct buf a = { 0 }, b = { 0 };
	struct td_stat st;
	char *out;

	(void)state;
	alternating(&a, &b, TD_MAX_D / 2);
	out = diff_of(a.p, a.n, b.p, b.n, &st);
	assert_int_equal(st.removed, TD_MAX_D / 2);
	assert_int_equal(st.added, TD_MAX_D / 2);
	check_applies(a.p, a.n, b.p, b.n, out);
	free(out);
	free(a.p);
	free(b.p);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	alternating(&a, &b, TD_MAX_D / 2 + 1);
	out = diff_of(a.p, a.n, b.p, b.n, &st);
	/* from the first old line to the last, the last kept line shared */
	assert_int_equal(st.removed, TD_MAX_D + 1);
	assert_int_equal(st.added, TD_MAX_D + 1);
	check_applies(a.p, a.n, b.p, b.n, out);
	free(out);
	free(a.p);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_empty_sides),
		cmocka_unit_test(test_final_newline),
		cmocka_unit_test(test_change_places),
		cmocka_unit_test(test_hunk_merging),
		cmocka_unit_test(test_counts_without_output),
		cmocka_unit_test(test_random_edits),
		cmocka_unit_test(test_random_small_alphabet),
		cmocka_unit_test(test_fallback_disjoint),
		cmocka_unit_test(test_fallback_middle),
		cmocka_unit_test(test_fallback_boundary),
	};

	return cmocka_run_group_tests(tests, gnu_setup, gnu_teardown);
}
