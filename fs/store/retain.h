/*
 * retain: the arithmetic of automatic snapshots -- durations, retention
 * specs, the names automatic snapshots get, and which of them to keep.
 * Pure code: no FUSE, no kv calls, no clock of its own (every function
 * takes "now"), so schedules are tested by stepping a number.
 *
 * Automatic snapshots are named "auto-YYYY-MM-DDTHHMMSSZ" (UTC, no colons,
 * so the names sort by time and are valid file names everywhere).  Only
 * snapshots with such a name are ever deleted automatically.
 *
 * Retention ("24h,7d,4w"): for each unit, walk the automatic snapshots
 * newest first and keep the newest one of each hour (day, week) until that
 * many hours (days, weeks) are covered; keep the union over the units, and
 * always the newest snapshot.  Days and weeks are UTC; weeks start on
 * Monday.  Units: m (minutes), h, d, w.  "all" keeps everything.
 */
#ifndef CCCFS_FS_RETAIN_H
#define CCCFS_FS_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RETAIN_PREFIX "auto-"
#define RETAIN_NAME_MAX 32 /* "auto-2026-11-25T120000Z" and its NUL */

enum retain_unit { RU_MINUTE, RU_HOUR, RU_DAY, RU_WEEK, RU_NUNITS };

struct keep_spec {
	bool all;              /* keep every automatic snapshot */
	unsigned n[RU_NUNITS]; /* how many minutes/hours/days/weeks */
};

/*
 * "90s", "15m", "1h", "1d", "2w" or a plain number of seconds; "0" or
 * "off" is 0 (disabled).  Returns 0 or -EINVAL.
 */
int retain_parse_duration(const char *s, uint64_t *seconds);

/* "24h,7d,4w" (or with ':' or '+' between the parts), "all".  Returns 0
 * or -EINVAL (unknown unit, no count). */
int retain_parse_keep(const char *s, struct keep_spec *k);

/* The automatic snapshot name for time t (seconds since the epoch). */
void retain_auto_name(char *buf, size_t n, int64_t t);
/* Parse an automatic name back: 0 and *t, or -EINVAL for other names. */
int retain_parse_auto_name(const char *name, int64_t *t);

/*
 * Which of n automatic snapshots (times t[], any order) to keep: sets
 * keep[i].  The newest is always kept.
 */
void retain_select(const int64_t *t, size_t n, const struct keep_spec *k,
                   bool *keep);

#endif
