/* SPDX-License-Identifier: Apache-2.0 */
#include "mbx/log.h"

#include <stdarg.h>
#include <stdio.h>

int mbx_log_level = MBX_LOG_WARN;

void mbx_log(int level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	va_list ap;

	if (level < 0 || level > MBX_LOG_DEBUG)
		level = MBX_LOG_ERR;
	fprintf(stderr, "mbx: %s", prefix[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
