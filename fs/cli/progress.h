/*
 * progress: a one-line progress bar on stderr for long CLI operations
 * (check, and whatever else walks a whole store).  It draws only when
 * stderr is a terminal, at most ten times a second, so piped or logged
 * output never sees it.  Used by check, backup, export and import; uses
 * libc only.
 *
 *	struct progress p;
 *
 *	progress_start(&p, "checking", total);   (total 0: unknown)
 *	for (...) progress_add(&p, 1);
 *	progress_end(&p);
 *
 * Anything else written to the terminal while a bar is up should be
 * preceded by progress_clear(), or it lands at the end of the bar.
 * A zeroed struct progress is silent: every call on it does nothing.
 */
#ifndef CCCFS_FS_PROGRESS_H
#define CCCFS_FS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* The longest line progress_format() writes, without its terminator. */
#define PROGRESS_LINE_MAX 128

struct progress {
	const char *label; /* borrowed; must outlive the progress */
	uint64_t total;    /* 0: unknown */
	uint64_t done;
	uint64_t start_ns; /* CLOCK_MONOTONIC */
	uint64_t drawn_ns; /* when the bar was last drawn */
	int fd;            /* where to draw */
	int active;        /* fd is a terminal: draw */
	int shown;         /* a bar is on the screen now */
};

void progress_start(struct progress *p, const char *label, uint64_t total);
void progress_add(struct progress *p, uint64_t n);
/* Erase the bar (if shown) so that other output starts on a clean line;
 * the next progress_add() may draw it again. */
void progress_clear(struct progress *p);
/* Draw the final state and end the line, if a bar was ever drawn. */
void progress_end(struct progress *p);

/*
 * The bar for done of total items (total 0: unknown) after elapsed_ns, at
 * most min(n - 1, PROGRESS_LINE_MAX) bytes, in buf.  Returns buf.
 *   "checking [#########...........]  450/1000  45%  1.2k/s"
 *   "copying  450  1.2k/s"
 */
char *progress_format(char *buf, size_t n, const char *label, uint64_t done,
                      uint64_t total, uint64_t elapsed_ns);

#endif
