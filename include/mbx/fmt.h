/* SPDX-License-Identifier: Apache-2.0 */
/* Human-readable numbers for the text reports (analyze, replay). Each writes
 * into buf (len bytes, always terminated) and returns buf. Not for hot paths. */
#ifndef MBX_FMT_H
#define MBX_FMT_H

#include <stddef.h>
#include <stdint.h>

/* v with three significant digits, then sep and unit: "4.10 us", "41.0 us",
 * "410 us" (sep " "), or "1.25M" (sep ""). v >= 0. */
const char *mbx_fmt_sig3(char *buf, size_t len, double v, const char *sep, const char *unit);

/* A duration: "850 ns", "4.10 us", "41.0 ms", "2.50 s" (us/ms/s from
 * 999.5 of the smaller unit up). */
const char *mbx_fmt_ns(char *buf, size_t len, uint64_t ns);

/* 100 * num / den with two decimals and "%", or "-" when den is 0. */
const char *mbx_fmt_pct(char *buf, size_t len, uint64_t num, uint64_t den);

#endif
