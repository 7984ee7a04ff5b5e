/* SPDX-License-Identifier: Apache-2.0 */
#include "mbx/fmt.h"

#include <inttypes.h>
#include <stdio.h>

const char *mbx_fmt_sig3(char *buf, size_t len, double v, const char *sep, const char *unit)
{
	if (v < 9.995)
		snprintf(buf, len, "%.2f%s%s", v, sep, unit);
	else if (v < 99.95)
		snprintf(buf, len, "%.1f%s%s", v, sep, unit);
	else
		snprintf(buf, len, "%.0f%s%s", v, sep, unit);
	return buf;
}

const char *mbx_fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000) {
		snprintf(buf, len, "%" PRIu64 " ns", ns);
		return buf;
	}
	if (ns < 999500)
		return mbx_fmt_sig3(buf, len, (double)ns / 1e3, " ", "us");
	if (ns < 999500000)
		return mbx_fmt_sig3(buf, len, (double)ns / 1e6, " ", "ms");
	return mbx_fmt_sig3(buf, len, (double)ns / 1e9, " ", "s");
}

const char *mbx_fmt_pct(char *buf, size_t len, uint64_t num, uint64_t den)
{
	if (!den)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f%%", 100.0 * (double)num / (double)den);
	return buf;
}
