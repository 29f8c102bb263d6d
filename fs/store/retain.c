/*
 * retain: durations, retention specs and automatic snapshot names.
 * See retain.h.
 */
#include "retain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char unit_chars[RU_NUNITS] = { 'm', 'h', 'd', 'w' };
static const int64_t unit_secs[RU_NUNITS] = { 60, 3600, 86400, 604800 };

/* A count followed by an optional unit; end is where parsing stopped. */
static int parse_count(const char *s, unsigned long long *v, const char **end)
{
	char *e;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &e, 10);
	if (errno != 0 || *v > (1ull << 40))
		return -EINVAL;
	*end = e;
	return 0;
}

int retain_parse_duration(const char *s, uint64_t *seconds)
{
	unsigned long long v;
	const char *e;
	uint64_t mul = 1;

	if (strcmp(s, "off") == 0) {
		*seconds = 0;
		return 0;
	}
	if (parse_count(s, &v, &e) != 0)
		return -EINVAL;
	if (*e != '\0') {
		if (e[1] != '\0')
			return -EINVAL;
		if (*e == 's')
			mul = 1;
		else {
			const char *u = memchr(unit_chars, *e, RU_NUNITS);

			if (u == NULL)
				return -EINVAL;
			mul = (uint64_t)unit_secs[u - unit_chars];
		}
	}
	*seconds = (uint64_t)v * mul;
	return 0;
}

int retain_parse_keep(const char *s, struct keep_spec *k)
{
	memset(k, 0, sizeof(*k));
	if (*s == '\0')
		return -EINVAL;
	if (strcmp(s, "all") == 0) {
		k->all = true;
		return 0;
	}
	while (*s) {
		unsigned long long v;
		const char *e, *u;

		if (parse_count(s, &v, &e) != 0 || *e == '\0' || v > 1000000)
			return -EINVAL;
		u = memchr(unit_chars, *e, RU_NUNITS);
		if (u == NULL)
			return -EINVAL;
		k->n[u - unit_chars] = (unsigned)v;
		s = e + 1;
		if ((*s == ',' || *s == ':' || *s == '+') && s[1] != '\0')
			s++;
		else if (*s != '\0')
			return -EINVAL;
	}
	return 0;
}

void retain_auto_name(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(buf, n, RETAIN_PREFIX "%04d-%02d-%02dT%02d%02d%02dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
}

int retain_parse_auto_name(const char *name, int64_t *t)
{
	const char *p = name + strlen(RETAIN_PREFIX);
	struct tm tm;
	int y, mo, d, h, mi, s, used = 0;
	char check[RETAIN_NAME_MAX];

	if (strncmp(name, RETAIN_PREFIX, strlen(RETAIN_PREFIX)) != 0 ||
	    strlen(p) != 18)
		return -EINVAL;
	if (sscanf(p, "%4d-%2d-%2dT%2d%2d%2dZ%n", &y, &mo, &d, &h, &mi, &s,
	           &used) != 6 ||
	    used != 18)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*t = (int64_t)timegm(&tm);
	/* only the canonical spelling: no "2026-13-40" normalized away */
	retain_auto_name(check, sizeof(check), *t);
	return strcmp(check, name) == 0 ? 0 : -EINVAL;
}

/* The bucket of time t for a unit: minutes, hours, UTC days, weeks from
 * Monday (the epoch was a Thursday). */
static int64_t bucket_of(int64_t t, int u)
{
	int64_t q;

	if (u == RU_WEEK)
		t += 3 * 86400;
	q = t / unit_secs[u];
	if (t < 0 && t % unit_secs[u] != 0)
		q--;
	return q;
}

void retain_select(const int64_t *t, size_t n, const struct keep_spec *k,
                   bool *keep)
{
	size_t *order;

	for (size_t i = 0; i < n; i++)
		keep[i] = k->all;
	if (n == 0 || k->all)
		return;
	order = malloc(n * sizeof(*order));
	if (order == NULL) {
		/* keeping everything is always safe */
		for (size_t i = 0; i < n; i++)
			keep[i] = true;
		return;
	}
	/* newest first (insertion sort: tens of snapshots) */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j > 0 && t[order[j - 1]] < t[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	keep[order[0]] = true;
	for (int u = 0; u < RU_NUNITS; u++) {
		unsigned kept = 0;
		int64_t last = 0;

		for (size_t i = 0; i < n && kept < k->n[u]; i++) {
			int64_t b = bucket_of(t[order[i]], u);

			if (kept > 0 && b == last)
				continue;
			keep[order[i]] = true;
			last = b;
			kept++;
		}
	}
	free(order);
}
