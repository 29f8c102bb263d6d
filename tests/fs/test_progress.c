/*
 * Unit tests for fs/cli/progress.c: the line progress_format() builds (bar,
 * counts, percentage, rate units, truncation), silence when stderr is not
 * a terminal, and a real draw on a pseudo-terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "progress.h"

#define SEC 1000000000ull

static void test_format_known_total(void **state)
{
	char buf[PROGRESS_LINE_MAX + 1];

	(void)state;
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "checking", 450, 1000, SEC),
	        "checking [#########...........]  450/1000  45%  450/s");
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "checking", 0, 1000, SEC),
	        "checking [....................]  0/1000  0%  0/s");
	/* more done than announced: capped at a full bar and 100% */
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "x", 12, 10, 2 * SEC),
	        "x [####################]  12/10  100%  6/s");
	/* 999 of 1000 is not yet 100% */
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "x", 999, 1000, 0),
	        "x [###################.]  999/1000  99%");
}

static void test_format_unknown_total(void **state)
{
	char buf[PROGRESS_LINE_MAX + 1];

	(void)state;
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "copying", 1200, 0, SEC),
	        "copying  1200  1.2k/s");
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "copying", 7, 0, 0),
	        "copying  7");
}

static void test_format_rate_units(void **state)
{
	char buf[PROGRESS_LINE_MAX + 1];

	(void)state;
	assert_string_equal(progress_format(buf, sizeof(buf), "r", 999, 0, SEC),
	                    "r  999  999/s");
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "r", 3400000, 0, SEC),
	        "r  3400000  3.4M/s");
	/* 500 in half a second */
	assert_string_equal(
	        progress_format(buf, sizeof(buf), "r", 500, 0, SEC / 2),
	        "r  500  1.0k/s");
}

static void test_format_truncates(void **state)
{
	char buf[PROGRESS_LINE_MAX + 1];
	char small[10];
	const char *label = "a-label-much-longer-than-thirty-two-characters";
	uint64_t big = UINT64_MAX;

	(void)state;
	assert_string_equal(
	        progress_format(small, sizeof(small), "checking", 1, 2, 0),
	        "checking ");
	progress_format(buf, sizeof(buf), label, 1, 2, 0);
	assert_int_equal(strncmp(buf, label, 32), 0);
	assert_int_equal(buf[32], ' ');
	/* the widest line still fits PROGRESS_LINE_MAX */
	progress_format(buf, sizeof(buf), label, big - 1, big, 1);
	assert_true(strlen(buf) <= PROGRESS_LINE_MAX);
	assert_non_null(strstr(buf, "/18446744073709551615  99%"));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run start/add/end with stderr pointing at fd; restores stderr. */
static void run_with_stderr(int fd, const char *label)
{
	struct progress p;
	int saved = dup(STDERR_FILENO);

	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	progress_start(&p, label, 3);
	progress_add(&p, 1);
	sleep_ms(150); /* past the first-draw delay */
	progress_add(&p, 1);
	progress_add(&p, 1);
	progress_clear(&p);
	progress_end(&p);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
}

static void test_silent_when_not_a_tty(void **state)
{
	char path[] = "/tmp/cccfs-progress.XXXXXX";
	struct progress zero;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	run_with_stderr(fd, "quiet");
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	close(fd);

	/* a zeroed progress never draws, wherever stderr goes */
	memset(&zero, 0, sizeof(zero));
	progress_add(&zero, 5);
	progress_clear(&zero);
	progress_end(&zero);
}

static void test_draws_on_a_tty(void **state)
{
	char out[4096];
	size_t len = 0;
	struct pollfd pfd;
	int master, slave;

	(void)state;
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
		if (master >= 0)
			close(master);
		skip(); /* no pseudo-terminals here */
	}
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	run_with_stderr(slave, "drawing");
	close(slave);
	pfd.fd = master;
	pfd.events = POLLIN;
	while (len < sizeof(out) - 1 && poll(&pfd, 1, 200) > 0) {
		ssize_t r = read(master, out + len, sizeof(out) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(master);
	out[len] = '\0';
	/* a mid-run bar, the erase from progress_clear, the final bar */
	assert_non_null(strstr(out, "\rdrawing [#############.......]"
	                            "  2/3  66%"));
	assert_non_null(strstr(out, "\r\033[K\rdrawing [####################]"
	                            "  3/3  100%"));
	assert_non_null(strstr(out, "/s\033[K\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_known_total),
		cmocka_unit_test(test_format_unknown_total),
		cmocka_unit_test(test_format_rate_units),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_silent_when_not_a_tty),
		cmocka_unit_test(test_draws_on_a_tty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
