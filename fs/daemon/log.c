/*
 * log: one place for messages.  Foreground daemons and the CLI write to
 * stderr; a backgrounded daemon writes to syslog.  libfuse's own messages
 * are routed here too (see mount.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "fs.h"

static int use_syslog;
static int debug_on;

void fs_log_to_syslog(void)
{
	openlog("cccfs", LOG_PID, LOG_DAEMON);
	use_syslog = 1;
}

void fs_log_set_debug(int on)
{
	debug_on = on;
}

bool fs_log_debugging(void)
{
	return debug_on != 0;
}

void fs_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level >= LOG_DEBUG && !debug_on)
		return;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(level, fmt, ap);
	} else {
		fputs("cccfs: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
