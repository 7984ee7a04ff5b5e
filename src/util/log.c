/* SPDX-License-Identifier: Apache-2.0 */
#include "mbx/log.h"

#include <stdarg.h>
#include <stdio.h>

int mbx_log_level = MBX_LOG_WARN;

/* One line, one write: capture workers, the writer and the main thread log
 * at the same time, and stderr is unbuffered (a line printed piecewise
 * came out interleaved with another thread's). Longer lines are cut, ending
 * in "...". */
void mbx_log(int level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char line[4096];
	va_list ap;

	if (level < 0 || level > MBX_LOG_DEBUG)
		level = MBX_LOG_ERR;
	int n = snprintf(line, sizeof(line), "mbx: %s", prefix[level]);
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2) { /* cut: say so */
		len = sizeof(line) - 2;
		line[len - 3] = line[len - 2] = line[len - 1] = '.';
	}
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}
