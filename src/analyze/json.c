/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming JSON writer (see mbx/json.h). */
#include "mbx/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

void mbx_json_init(struct mbx_json *j, FILE *f, unsigned flags)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->flags = flags;
}

static bool in_object(const struct mbx_json *j)
{
	return j->depth > 0 && (j->is_obj >> (j->depth - 1) & 1u);
}

static void set_bit(uint32_t *w, unsigned bit, bool v)
{
	if (v)
		*w |= 1u << bit;
	else
		*w &= ~(1u << bit);
}

static void newline_indent(struct mbx_json *j, unsigned depth)
{
	if (!(j->flags & MBX_JSON_PRETTY))
		return;
	putc('\n', j->f);
	for (unsigned i = 0; i < depth; i++)
		fputs("  ", j->f);
}

/* Separator before an element of the current container. */
static void separate(struct mbx_json *j)
{
	unsigned lvl = j->depth - 1;
	if (j->nonempty >> lvl & 1u)
		putc(',', j->f);
	set_bit(&j->nonempty, lvl, true);
	newline_indent(j, j->depth);
}

/* Checks that a value may be written here and writes what precedes it. */
static bool begin_value(struct mbx_json *j)
{
	if (j->err)
		return false;
	if (j->depth == 0) {
		if (j->done) {
			j->err = -EINVAL;
			return false;
		}
		return true;
	}
	if (in_object(j)) {
		if (!j->after_key) {
			j->err = -EINVAL;
			return false;
		}
		j->after_key = false;
		return true;
	}
	separate(j);
	return true;
}

static void end_value(struct mbx_json *j)
{
	if (j->depth == 0)
		j->done = true;
}

static void write_escaped(FILE *f, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0;

	putc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			continue;
		fwrite(p + run, 1, i - run, f);
		run = i + 1;
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		default:
			fputs("\\u00", f);
			putc(hex[c >> 4], f);
			putc(hex[c & 15], f);
			break;
		}
	}
	fwrite(p + run, 1, len - run, f);
	putc('"', f);
}

static void begin_container(struct mbx_json *j, bool obj)
{
	if (!begin_value(j))
		return;
	if (j->depth >= MBX_JSON_MAX_DEPTH) {
		j->err = -EINVAL;
		return;
	}
	putc(obj ? '{' : '[', j->f);
	set_bit(&j->is_obj, j->depth, obj);
	set_bit(&j->nonempty, j->depth, false);
	j->depth++;
}

static void end_container(struct mbx_json *j, bool obj)
{
	if (j->err)
		return;
	if (j->depth == 0 || in_object(j) != obj || j->after_key) {
		j->err = -EINVAL;
		return;
	}
	j->depth--;
	if (j->nonempty >> j->depth & 1u)
		newline_indent(j, j->depth);
	putc(obj ? '}' : ']', j->f);
	end_value(j);
}

void mbx_json_begin_object(struct mbx_json *j)
{
	begin_container(j, true);
}

void mbx_json_end_object(struct mbx_json *j)
{
	end_container(j, true);
}

void mbx_json_begin_array(struct mbx_json *j)
{
	begin_container(j, false);
}

void mbx_json_end_array(struct mbx_json *j)
{
	end_container(j, false);
}

void mbx_json_key(struct mbx_json *j, const char *key)
{
	if (j->err)
		return;
	if (!in_object(j) || j->after_key || key == NULL) {
		j->err = -EINVAL;
		return;
	}
	separate(j);
	write_escaped(j->f, key, strlen(key));
	fputs((j->flags & MBX_JSON_PRETTY) ? ": " : ":", j->f);
	j->after_key = true;
}

void mbx_json_strn(struct mbx_json *j, const char *s, size_t len)
{
	if (!begin_value(j))
		return;
	write_escaped(j->f, s, len);
	end_value(j);
}

void mbx_json_str(struct mbx_json *j, const char *s)
{
	if (s == NULL)
		mbx_json_null(j);
	else
		mbx_json_strn(j, s, strlen(s));
}

void mbx_json_uint(struct mbx_json *j, uint64_t v)
{
	if (!begin_value(j))
		return;
	fprintf(j->f, "%" PRIu64, v);
	end_value(j);
}

void mbx_json_int(struct mbx_json *j, int64_t v)
{
	if (!begin_value(j))
		return;
	fprintf(j->f, "%" PRId64, v);
	end_value(j);
}

void mbx_json_double(struct mbx_json *j, double v)
{
	char buf[40];

	if (!isfinite(v)) {
		mbx_json_null(j);
		return;
	}
	if (!begin_value(j))
		return;
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	/* a locale with a decimal comma must not break the document */
	for (char *p = buf; *p; p++)
		if (*p == ',')
			*p = '.';
	fputs(buf, j->f);
	end_value(j);
}

void mbx_json_bool(struct mbx_json *j, bool v)
{
	if (!begin_value(j))
		return;
	fputs(v ? "true" : "false", j->f);
	end_value(j);
}

void mbx_json_null(struct mbx_json *j)
{
	if (!begin_value(j))
		return;
	fputs("null", j->f);
	end_value(j);
}

void mbx_json_kv_str(struct mbx_json *j, const char *key, const char *s)
{
	mbx_json_key(j, key);
	mbx_json_str(j, s);
}

void mbx_json_kv_uint(struct mbx_json *j, const char *key, uint64_t v)
{
	mbx_json_key(j, key);
	mbx_json_uint(j, v);
}

void mbx_json_kv_int(struct mbx_json *j, const char *key, int64_t v)
{
	mbx_json_key(j, key);
	mbx_json_int(j, v);
}

void mbx_json_kv_double(struct mbx_json *j, const char *key, double v)
{
	mbx_json_key(j, key);
	mbx_json_double(j, v);
}

void mbx_json_kv_bool(struct mbx_json *j, const char *key, bool v)
{
	mbx_json_key(j, key);
	mbx_json_bool(j, v);
}

void mbx_json_kv_null(struct mbx_json *j, const char *key)
{
	mbx_json_key(j, key);
	mbx_json_null(j);
}

int mbx_json_finish(struct mbx_json *j)
{
	if (j->err == 0 && (!j->done || j->depth != 0))
		j->err = -EINVAL;
	if (j->err == 0 && (j->flags & MBX_JSON_PRETTY))
		putc('\n', j->f);
	if (fflush(j->f) != 0 || ferror(j->f))
		if (j->err == 0)
			j->err = -EIO;
	return j->err;
}
