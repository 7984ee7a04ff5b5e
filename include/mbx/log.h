/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging to stderr. The level check happens before any argument is
 * evaluated. Never used on a per-packet or per-request path. */
#ifndef MBX_LOG_H
#define MBX_LOG_H

#include "mbx/common.h"

enum mbx_log_level {
	MBX_LOG_ERR = 0,
	MBX_LOG_WARN = 1,
	MBX_LOG_INFO = 2,
	MBX_LOG_DEBUG = 3,
};

extern int mbx_log_level;

void mbx_log(int level, const char *fmt, ...) MBX_PRINTF(2, 3);

#define pr_err(...)                                                                                \
	do {                                                                                       \
		if (mbx_log_level >= MBX_LOG_ERR)                                                  \
			mbx_log(MBX_LOG_ERR, __VA_ARGS__);                                         \
	} while (0)
#define pr_warn(...)                                                                               \
	do {                                                                                       \
		if (mbx_log_level >= MBX_LOG_WARN)                                                 \
			mbx_log(MBX_LOG_WARN, __VA_ARGS__);                                        \
	} while (0)
#define pr_info(...)                                                                               \
	do {                                                                                       \
		if (mbx_log_level >= MBX_LOG_INFO)                                                 \
			mbx_log(MBX_LOG_INFO, __VA_ARGS__);                                        \
	} while (0)
#define pr_debug(...)                                                                              \
	do {                                                                                       \
		if (mbx_log_level >= MBX_LOG_DEBUG)                                                \
			mbx_log(MBX_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
