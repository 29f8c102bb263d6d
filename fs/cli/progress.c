/*
 * progress: the bar behind progress.h.  progress_format() is pure and
 * builds the line; the rest decides when to draw it.  The first draw
 * waits until the operation has run for PROGRESS_PERIOD_NS, so quick runs
 * print nothing at all, and later draws come at most once per period.
 * Each draw rewrites the line in place: carriage return, the line, then
 * "erase to end of line" so a shorter line leaves no tail behind.
 */
#include "progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define PROGRESS_PERIOD_NS 100000000ull /* 100 ms: ten draws a second */
#define BAR_WIDTH 20

/* "", "  950/s", "  1.2k/s" or "  3.4M/s": done per second of elapsed. */
static void format_rate(char *buf, size_t n, uint64_t done, uint64_t elapsed_ns)
{
	double rate;

	if (elapsed_ns == 0) {
		buf[0] = '\0';
		return;
	}
	rate = (double)done * 1e9 / (double)elapsed_ns;
	if (rate < 1000.0)
		snprintf(buf, n, "  %.0f/s", rate);
	else if (rate < 1e6)
		snprintf(buf, n, "  %.1fk/s", rate / 1e3);
	else
		snprintf(buf, n, "  %.1fM/s", rate / 1e6);
}

char *progress_format(char *buf, size_t n, const char *label, uint64_t done,
                      uint64_t total, uint64_t elapsed_ns)
{
	char rate[32];
	char bar[BAR_WIDTH + 1];
	unsigned pct, fill;

	if (n == 0)
		return buf;
	if (n > PROGRESS_LINE_MAX + 1)
		n = PROGRESS_LINE_MAX + 1;
	format_rate(rate, sizeof(rate), done, elapsed_ns);
	if (total == 0) {
		snprintf(buf, n, "%.32s  %llu%s", label,
		         (unsigned long long)done, rate);
		return buf;
	}
	if (done >= total) {
		pct = 100;
		fill = BAR_WIDTH;
	} else {
		/* doubles round a nearly finished huge total up; not done
		 * is never shown as 100% or a full bar */
		pct = (unsigned)((double)done * 100.0 / (double)total);
		fill = (unsigned)((double)done * BAR_WIDTH / (double)total);
		if (pct > 99)
			pct = 99;
		if (fill > BAR_WIDTH - 1)
			fill = BAR_WIDTH - 1;
	}
	memset(bar, '#', fill);
	memset(bar + fill, '.', BAR_WIDTH - fill);
	bar[BAR_WIDTH] = '\0';
	snprintf(buf, n, "%.32s [%s]  %llu/%llu  %u%%%s", label, bar,
	         (unsigned long long)done, (unsigned long long)total, pct,
	         rate);
	return buf;
}

/* Best effort: a progress bar that cannot be written is not an error. */
static void put(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, s, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

static void draw(struct progress *p, uint64_t now, const char *end)
{
	char line[PROGRESS_LINE_MAX + 16];
	size_t len;

	line[0] = '\r';
	progress_format(line + 1, PROGRESS_LINE_MAX + 1, p->label, p->done,
	                p->total, now - p->start_ns);
	len = strlen(line);
	snprintf(line + len, sizeof(line) - len, "\033[K%s", end);
	put(p->fd, line, strlen(line));
	p->drawn_ns = now;
	p->shown = 1;
}

void progress_start(struct progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total;
	p->fd = STDERR_FILENO;
	p->active = isatty(p->fd);
	p->start_ns = (uint64_t)clock_mono_ns();
}

void progress_add(struct progress *p, uint64_t n)
{
	uint64_t now, since;

	p->done += n;
	if (!p->active)
		return;
	now = (uint64_t)clock_mono_ns();
	since = p->drawn_ns ? p->drawn_ns : p->start_ns;
	if (now - since >= PROGRESS_PERIOD_NS)
		draw(p, now, "");
}

void progress_clear(struct progress *p)
{
	if (p->active && p->shown) {
		put(p->fd, "\r\033[K", 4);
		p->shown = 0;
	}
}

void progress_end(struct progress *p)
{
	if (p->active && p->drawn_ns)
		draw(p, (uint64_t)clock_mono_ns(), "\n");
	p->active = 0;
	p->shown = 0;
}
