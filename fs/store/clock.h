/*
 * clock: the one place fs/ reads the time.  Used by store, daemon and cli.
 *
 *   clock_real_ns()  wall-clock time, ns since the epoch: what goes into a
 *                    node's times and a commit's record
 *   clock_mono_ns()  a clock that never steps back: for intervals and
 *                    deadlines (progress rates, reader holds)
 */
#ifndef CCCFS_FS_CLOCK_H
#define CCCFS_FS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
