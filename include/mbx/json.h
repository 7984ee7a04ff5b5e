/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal streaming JSON writer to a FILE*. The writer tracks nesting and
 * commas itself and never allocates: declare a struct mbx_json on the stack,
 * call the value functions in document order, then mbx_json_finish().
 *
 *	struct mbx_json j;
 *	mbx_json_init(&j, f, MBX_JSON_PRETTY);
 *	mbx_json_begin_object(&j);
 *	mbx_json_kv_str(&j, "schema", "mbx.analyze/1");
 *	mbx_json_key(&j, "ops");
 *	mbx_json_begin_array(&j);
 *	mbx_json_uint(&j, 42);
 *	mbx_json_end_array(&j);
 *	mbx_json_end_object(&j);
 *	int err = mbx_json_finish(&j);
 *
 * Misuse (a value where a key is needed, a key in an array, unbalanced end,
 * nesting deeper than MBX_JSON_MAX_DEPTH) is sticky: the writer stops writing
 * and mbx_json_finish() returns -EINVAL. Strings are written byte by byte:
 * '"', '\\' and control characters are escaped, and bytes >= 0x7f are written
 * as \u00XX (the text is taken as Latin-1), so the output is always ASCII. */
#ifndef MBX_JSON_H
#define MBX_JSON_H

#include <stdio.h>

#include "mbx/common.h"

#define MBX_JSON_MAX_DEPTH 32

enum mbx_json_flags {
	MBX_JSON_COMPACT = 0,
	MBX_JSON_PRETTY = 1, /* newline and two-space indent per level */
};

struct mbx_json {
	FILE *f;
	unsigned flags;
	unsigned depth;
	int err;	   /* 0, -EINVAL (misuse) or -EIO (write failed) */
	bool after_key;	   /* a key was written, its value is due */
	bool done;	   /* the top-level value is complete */
	uint32_t is_obj;   /* bit d: level d+1 is an object */
	uint32_t nonempty; /* bit d: level d+1 has at least one member */
};

void mbx_json_init(struct mbx_json *j, FILE *f, unsigned flags);

void mbx_json_begin_object(struct mbx_json *j);
void mbx_json_end_object(struct mbx_json *j);
void mbx_json_begin_array(struct mbx_json *j);
void mbx_json_end_array(struct mbx_json *j);

/* Member name inside an object; the next call must write its value. */
void mbx_json_key(struct mbx_json *j, const char *key);

void mbx_json_str(struct mbx_json *j, const char *s); /* NULL writes null */
void mbx_json_strn(struct mbx_json *j, const char *s, size_t len);
void mbx_json_uint(struct mbx_json *j, uint64_t v);
void mbx_json_int(struct mbx_json *j, int64_t v);
/* Shortest "%.*g" form that reads back as the same double; NaN and
 * infinities (not representable in JSON) are written as null. */
void mbx_json_double(struct mbx_json *j, double v);
void mbx_json_bool(struct mbx_json *j, bool v);
void mbx_json_null(struct mbx_json *j);

/* key + value shorthands */
void mbx_json_kv_str(struct mbx_json *j, const char *key, const char *s);
void mbx_json_kv_uint(struct mbx_json *j, const char *key, uint64_t v);
void mbx_json_kv_int(struct mbx_json *j, const char *key, int64_t v);
void mbx_json_kv_double(struct mbx_json *j, const char *key, double v);
void mbx_json_kv_bool(struct mbx_json *j, const char *key, bool v);
void mbx_json_kv_null(struct mbx_json *j, const char *key);

/* Check that exactly one complete value was written, write a final newline
 * (pretty mode) and flush. Returns 0, -EINVAL on misuse or an incomplete
 * document, or -EIO if a write failed. */
int mbx_json_finish(struct mbx_json *j);

#endif
