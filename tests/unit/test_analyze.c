/* SPDX-License-Identifier: Apache-2.0 */
/* Analysis, JSON writer and inspect formatter. Reported numbers are checked
 * against hand-counted expectations (a small trace covering every op class
 * and outcome) and against naive reference computations (sorting) over a
 * large random trace; every JSON document is parsed back by a strict parser
 * (and by python3's json module when /usr/bin/python3 exists). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include "mbx/analyze.h"
#include "mbx/fmt.h"
#include "mbx/hist.h"
#include "mbx/json.h"

/* ---- a small strict JSON parser (RFC 8259) for checking our output ---- */
enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jt t;
	bool b;
	double num;
	bool is_uint; /* integer literal without sign, fraction or exponent */
	uint64_t u;
	char *s; /* J_STR: decoded, \u00XX as one byte */
	size_t slen;
	struct jv **items;
	char **keys;
	size_t n;
};

struct jp {
	const char *p, *end;
	const char *err;
	int depth;
};

static void jv_free(struct jv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		jv_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	free(v);
}

static void jp_ws(struct jp *p)
{
	while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' || *p->p == '\n' || *p->p == '\r'))
		p->p++;
}

static struct jv *jp_value(struct jp *p);

static int jp_hex4(struct jp *p, unsigned *out)
{
	unsigned v = 0;
	if (p->end - p->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *p->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static char *jp_string(struct jp *p, size_t *len)
{
	size_t cap = 16, n = 0;
	char *s = malloc(cap);
	if (p->p >= p->end || *p->p != '"')
		goto bad;
	p->p++;
	for (;;) {
		if (p->p >= p->end)
			goto bad;
		unsigned char c = (unsigned char)*p->p++;
		unsigned cp;
		if (c == '"')
			break;
		if (c < 0x20)
			goto bad; /* raw control characters are not allowed */
		if (n + 4 >= cap)
			s = realloc(s, cap *= 2);
		if (c != '\\') {
			s[n++] = (char)c;
			continue;
		}
		if (p->p >= p->end)
			goto bad;
		c = (unsigned char)*p->p++;
		switch (c) {
		case '"':
			s[n++] = '"';
			break;
		case '\\':
			s[n++] = '\\';
			break;
		case '/':
			s[n++] = '/';
			break;
		case 'b':
			s[n++] = '\b';
			break;
		case 'f':
			s[n++] = '\f';
			break;
		case 'n':
			s[n++] = '\n';
			break;
		case 'r':
			s[n++] = '\r';
			break;
		case 't':
			s[n++] = '\t';
			break;
		case 'u':
			if (jp_hex4(p, &cp))
				goto bad;
			if (cp < 0x100) {
				s[n++] = (char)cp; /* Latin-1 byte, as the writer means it */
			} else if (cp < 0x800) {
				s[n++] = (char)(0xc0 | cp >> 6);
				s[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				if (cp >= 0xd800 && cp <= 0xdfff)
					goto bad; /* the writer never needs surrogates */
				s[n++] = (char)(0xe0 | cp >> 12);
				s[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
				s[n++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		default:
			goto bad;
		}
	}
	s[n] = '\0';
	*len = n;
	return s;
bad:
	p->err = "bad string";
	free(s);
	return NULL;
}

static struct jv *jp_number(struct jp *p)
{
	const char *start = p->p;
	bool is_uint = true;
	if (p->p < p->end && *p->p == '-') {
		p->p++;
		is_uint = false;
	}
	if (p->p >= p->end || *p->p < '0' || *p->p > '9')
		goto bad;
	if (*p->p == '0') {
		p->p++;
		if (p->p < p->end && *p->p >= '0' && *p->p <= '9')
			goto bad; /* leading zero */
	} else {
		while (p->p < p->end && *p->p >= '0' && *p->p <= '9')
			p->p++;
	}
	if (p->p < p->end && *p->p == '.') {
		is_uint = false;
		p->p++;
		if (p->p >= p->end || *p->p < '0' || *p->p > '9')
			goto bad;
		while (p->p < p->end && *p->p >= '0' && *p->p <= '9')
			p->p++;
	}
	if (p->p < p->end && (*p->p == 'e' || *p->p == 'E')) {
		is_uint = false;
		p->p++;
		if (p->p < p->end && (*p->p == '+' || *p->p == '-'))
			p->p++;
		if (p->p >= p->end || *p->p < '0' || *p->p > '9')
			goto bad;
		while (p->p < p->end && *p->p >= '0' && *p->p <= '9')
			p->p++;
	}
	struct jv *v = calloc(1, sizeof(*v));
	char tmp[64];
	size_t len = (size_t)(p->p - start);
	if (len >= sizeof(tmp)) {
		free(v);
		goto bad;
	}
	memcpy(tmp, start, len);
	tmp[len] = '\0';
	v->t = J_NUM;
	v->num = strtod(tmp, NULL);
	v->is_uint = is_uint;
	if (is_uint) {
		errno = 0;
		v->u = strtoull(tmp, NULL, 10);
		if (errno)
			v->is_uint = false;
	}
	return v;
bad:
	p->err = "bad number";
	return NULL;
}

static bool jp_lit(struct jp *p, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(p->end - p->p) < n || memcmp(p->p, lit, n) != 0)
		return false;
	p->p += n;
	return true;
}

static void jv_push(struct jv *c, struct jv *item, char *key)
{
	c->items = realloc(c->items, (c->n + 1) * sizeof(*c->items));
	c->items[c->n] = item;
	if (c->t == J_OBJ) {
		c->keys = realloc(c->keys, (c->n + 1) * sizeof(*c->keys));
		c->keys[c->n] = key;
	}
	c->n++;
}

static struct jv *jp_container(struct jp *p, bool obj)
{
	struct jv *c = calloc(1, sizeof(*c));
	c->t = obj ? J_OBJ : J_ARR;
	p->p++;
	if (++p->depth > 64)
		goto bad;
	jp_ws(p);
	if (p->p < p->end && *p->p == (obj ? '}' : ']')) {
		p->p++;
		p->depth--;
		return c;
	}
	for (;;) {
		char *key = NULL;
		jp_ws(p);
		if (obj) {
			size_t kl;
			key = jp_string(p, &kl);
			if (!key)
				goto bad;
			if (strlen(key) != kl) {
				free(key);
				goto bad;
			}
			for (size_t i = 0; i < c->n; i++)
				if (strcmp(c->keys[i], key) == 0) {
					p->err = "duplicate key";
					free(key);
					goto bad;
				}
			jp_ws(p);
			if (p->p >= p->end || *p->p != ':') {
				free(key);
				goto bad;
			}
			p->p++;
		}
		struct jv *item = jp_value(p);
		if (!item) {
			free(key);
			goto bad;
		}
		jv_push(c, item, key);
		jp_ws(p);
		if (p->p >= p->end)
			goto bad;
		if (*p->p == ',') {
			p->p++;
			continue;
		}
		if (*p->p == (obj ? '}' : ']')) {
			p->p++;
			break;
		}
		goto bad;
	}
	p->depth--;
	return c;
bad:
	if (!p->err)
		p->err = obj ? "bad object" : "bad array";
	jv_free(c);
	return NULL;
}

static struct jv *jp_value(struct jp *p)
{
	jp_ws(p);
	if (p->p >= p->end) {
		p->err = "unexpected end";
		return NULL;
	}
	char c = *p->p;
	if (c == '{' || c == '[')
		return jp_container(p, c == '{');
	if (c == '"') {
		struct jv *v = calloc(1, sizeof(*v));
		v->t = J_STR;
		v->s = jp_string(p, &v->slen);
		if (!v->s) {
			free(v);
			return NULL;
		}
		return v;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return jp_number(p);
	struct jv *v = calloc(1, sizeof(*v));
	if (jp_lit(p, "null")) {
		v->t = J_NULL;
	} else if (jp_lit(p, "true")) {
		v->t = J_BOOL;
		v->b = true;
	} else if (jp_lit(p, "false")) {
		v->t = J_BOOL;
	} else {
		free(v);
		p->err = "unexpected character";
		return NULL;
	}
	return v;
}

/* Parse a whole document; NULL (with *err) if it is not valid JSON. */
static struct jv *json_parse(const char *s, size_t len, const char **err)
{
	struct jp p = {.p = s, .end = s + len};
	struct jv *v = jp_value(&p);
	if (v) {
		jp_ws(&p);
		if (p.p != p.end) {
			p.err = "trailing characters";
			jv_free(v);
			v = NULL;
		}
	}
	*err = p.err;
	return v;
}

/* Member or element by a dotted path: "ops.3.latency.p50_ns". */
static const struct jv *jget(const struct jv *v, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save)) {
		const struct jv *next = NULL;
		if (v->t == J_OBJ) {
			for (size_t i = 0; i < v->n; i++)
				if (strcmp(v->keys[i], tok) == 0)
					next = v->items[i];
		} else if (v->t == J_ARR) {
			char *e;
			unsigned long i = strtoul(tok, &e, 10);
			if (*e == '\0' && i < v->n)
				next = v->items[i];
		}
		v = next;
	}
	return v;
}

/* ---- helpers ---- */

static uint64_t rng_state = 0x0123456789abcdefULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdULL;
	x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Exact percentile of a sorted array with the histogram's rank rule. */
static uint64_t sorted_pct(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n - 1e-9);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

static struct mbx_event mk(uint64_t ts, uint32_t conn, unsigned proto, unsigned op, uint64_t key,
			   unsigned klen, uint32_t vlen, unsigned outcome, uint32_t lat,
			   unsigned flags)
{
	struct mbx_event e = {
	    .ts_ns = ts,
	    .key_hash = key,
	    .conn_id = conn,
	    .latency_ns = lat,
	    .value_len = vlen,
	    .op = (uint8_t)op,
	    .key_len = (uint8_t)klen,
	    .outcome = (uint8_t)outcome,
	    .flags = (uint8_t)(proto | flags),
	};
	return e;
}

static char *capture_output(int (*fn)(const void *, FILE *), const void *arg, int *ret, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	assert_non_null(f);
	*ret = fn(arg, f);
	fclose(f);
	return buf;
}

static int write_json_pretty(const void *a, FILE *f)
{
	return mbx_analysis_write_json(a, f, true);
}

static int write_json_compact(const void *a, FILE *f)
{
	return mbx_analysis_write_json(a, f, false);
}

static int write_text(const void *a, FILE *f)
{
	return mbx_analysis_write_text(a, f);
}

/* Second opinion on validity from python's json module, when present. */
static void python_validate(const char *doc, size_t len)
{
	if (access("/usr/bin/python3", X_OK) != 0)
		return;
	FILE *p = popen("/usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)' 2>&1", "w");
	if (!p)
		return;
	fwrite(doc, 1, len, p);
	int st = pclose(p);
	if (st != 0)
		fail_msg("python3 json.load rejected the document (status %d)", st);
}

static struct jv *parse_or_fail(const char *doc, size_t len)
{
	const char *err = NULL;
	struct jv *v = json_parse(doc, len, &err);
	if (!v)
		fail_msg("invalid JSON (%s): %.300s", err ? err : "?", doc);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)doc[i] >= 0x80)
			fail_msg("non-ASCII byte in JSON output at %zu", i);
	return v;
}

/* JSON of a finished analysis, checked in both layouts; caller frees. */
static struct jv *analysis_json(const struct mbx_analysis *a)
{
	int ret;
	size_t len, clen;
	char *doc = capture_output(write_json_pretty, a, &ret, &len);
	assert_int_equal(ret, 0);
	python_validate(doc, len);
	struct jv *v = parse_or_fail(doc, len);
	char *cdoc = capture_output(write_json_compact, a, &ret, &clen);
	assert_int_equal(ret, 0);
	assert_true(clen < len);
	jv_free(parse_or_fail(cdoc, clen));
	free(cdoc);
	free(doc);
	return v;
}

static char *analysis_text(const struct mbx_analysis *a)
{
	int ret;
	size_t len;
	char *t = capture_output(write_text, a, &ret, &len);
	assert_int_equal(ret, 0);
	assert_int_equal(strlen(t), len);
	return t;
}

static const struct jv *jreq(const struct jv *root, const char *path)
{
	const struct jv *v = jget(root, path);
	if (!v)
		fail_msg("missing JSON field %s", path);
	return v;
}

static uint64_t ju(const struct jv *root, const char *path)
{
	const struct jv *v = jreq(root, path);
	if (v->t != J_NUM || !v->is_uint)
		fail_msg("JSON field %s is not an unsigned integer", path);
	return v->u;
}

static double jd(const struct jv *root, const char *path)
{
	const struct jv *v = jreq(root, path);
	if (v->t != J_NUM)
		fail_msg("JSON field %s is not a number", path);
	return v->num;
}

static bool jnull(const struct jv *root, const char *path)
{
	return jreq(root, path)->t == J_NULL;
}

static bool jb(const struct jv *root, const char *path)
{
	const struct jv *v = jreq(root, path);
	if (v->t != J_BOOL)
		fail_msg("JSON field %s is not a boolean", path);
	return v->b;
}

static const char *js(const struct jv *root, const char *path)
{
	const struct jv *v = jreq(root, path);
	if (v->t != J_STR)
		fail_msg("JSON field %s is not a string", path);
	return v->s;
}

static size_t jlen(const struct jv *root, const char *path)
{
	const struct jv *v = jreq(root, path);
	if (v->t != J_ARR && v->t != J_OBJ)
		fail_msg("JSON field %s is not a container", path);
	return v->n;
}

/* The "ops" element for op/proto, or NULL. */
static const struct jv *find_op(const struct jv *root, const char *op, const char *proto)
{
	const struct jv *ops = jreq(root, "ops");
	for (size_t i = 0; i < ops->n; i++)
		if (strcmp(js(ops->items[i], "op"), op) == 0 &&
		    strcmp(js(ops->items[i], "proto"), proto) == 0)
			return ops->items[i];
	return NULL;
}

static const struct jv *op_or_fail(const struct jv *root, const char *op, const char *proto)
{
	const struct jv *r = find_op(root, op, proto);
	if (!r)
		fail_msg("no ops row for %s/%s", op, proto);
	return r;
}

/* got is the top of the bucket holding exact: >= exact, within 1%. */
static void assert_within_1pct(uint64_t got, uint64_t exact, const char *what)
{
	if (got < exact || (double)(got - exact) > 0.01 * (double)exact)
		fail_msg("%s: got %llu, exact %llu", what, (unsigned long long)got,
			 (unsigned long long)exact);
}

static void assert_close(double got, double want, double rel, const char *what)
{
	if (fabs(got - want) > rel * fabs(want) + 1e-12)
		fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static struct mbx_analysis *new_analysis(const struct mbx_analysis_opts *o)
{
	struct mbx_analysis *a = mbx_analysis_new(o);
	assert_non_null(a);
	return a;
}

/* ---- JSON writer ---- */

static int json_doc_small(const void *arg, FILE *f)
{
	unsigned flags = *(const unsigned *)arg;
	struct mbx_json j;
	mbx_json_init(&j, f, flags);
	mbx_json_begin_object(&j);
	mbx_json_kv_str(&j, "s", "a\"b\\c\n");
	mbx_json_kv_uint(&j, "u", UINT64_MAX);
	mbx_json_kv_int(&j, "i", INT64_MIN);
	mbx_json_kv_double(&j, "d", 0.1);
	mbx_json_kv_double(&j, "nan", NAN);
	mbx_json_kv_bool(&j, "t", true);
	mbx_json_kv_null(&j, "n");
	mbx_json_key(&j, "a");
	mbx_json_begin_array(&j);
	mbx_json_uint(&j, 1);
	mbx_json_begin_object(&j);
	mbx_json_end_object(&j);
	mbx_json_begin_array(&j);
	mbx_json_end_array(&j);
	mbx_json_bool(&j, false);
	mbx_json_end_array(&j);
	mbx_json_end_object(&j);
	return mbx_json_finish(&j);
}

static void json_writer_layout(void **state)
{
	(void)state;
	int ret;
	size_t len;
	unsigned flags = MBX_JSON_COMPACT;
	char *s = capture_output(json_doc_small, &flags, &ret, &len);
	assert_int_equal(ret, 0);
	assert_string_equal(s, "{\"s\":\"a\\\"b\\\\c\\n\",\"u\":18446744073709551615,"
			       "\"i\":-9223372036854775808,\"d\":0.1,\"nan\":null,\"t\":true,"
			       "\"n\":null,\"a\":[1,{},[],false]}");
	free(s);
	flags = MBX_JSON_PRETTY;
	s = capture_output(json_doc_small, &flags, &ret, &len);
	assert_int_equal(ret, 0);
	assert_string_equal(s, "{\n  \"s\": \"a\\\"b\\\\c\\n\",\n  \"u\": 18446744073709551615,\n"
			       "  \"i\": -9223372036854775808,\n  \"d\": 0.1,\n  \"nan\": null,\n"
			       "  \"t\": true,\n  \"n\": null,\n  \"a\": [\n    1,\n    {},\n"
			       "    [],\n    false\n  ]\n}\n");
	struct jv *v = parse_or_fail(s, len);
	assert_int_equal(ju(v, "u"), UINT64_MAX);
	assert_true(jnull(v, "nan"));
	assert_int_equal(jlen(v, "a"), 4);
	jv_free(v);
	free(s);
}

static int json_doc_bytes(const void *arg, FILE *f)
{
	(void)arg;
	char all[256];
	struct mbx_json j;
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	mbx_json_init(&j, f, MBX_JSON_COMPACT);
	mbx_json_begin_array(&j);
	mbx_json_strn(&j, all, sizeof(all));
	mbx_json_str(&j, "");
	mbx_json_str(&j, NULL);
	mbx_json_end_array(&j);
	return mbx_json_finish(&j);
}

static void json_writer_escapes_every_byte(void **state)
{
	(void)state;
	int ret;
	size_t len;
	char *s = capture_output(json_doc_bytes, NULL, &ret, &len);
	assert_int_equal(ret, 0);
	struct jv *v = parse_or_fail(s, len); /* also: ASCII only, no raw control chars */
	python_validate(s, len);
	assert_int_equal(v->n, 3);
	assert_int_equal(v->items[0]->slen, 256);
	for (int i = 0; i < 256; i++)
		assert_int_equal((unsigned char)v->items[0]->s[i], i);
	assert_int_equal(v->items[1]->slen, 0);
	assert_int_equal(v->items[2]->t, J_NULL);
	assert_non_null(strstr(s, "\\u0000"));
	assert_non_null(strstr(s, "\\u001f"));
	assert_non_null(strstr(s, "\\u007f"));
	assert_non_null(strstr(s, "\\u00e9"));
	assert_non_null(strstr(s, "\\u00ff"));
	jv_free(v);
	free(s);
}

static double test_doubles[2000];

static int json_doc_doubles(const void *arg, FILE *f)
{
	size_t n = *(const size_t *)arg;
	struct mbx_json j;
	mbx_json_init(&j, f, MBX_JSON_COMPACT);
	mbx_json_begin_array(&j);
	for (size_t i = 0; i < n; i++)
		mbx_json_double(&j, test_doubles[i]);
	mbx_json_double(&j, INFINITY);
	mbx_json_double(&j, -INFINITY);
	mbx_json_end_array(&j);
	return mbx_json_finish(&j);
}

static void json_writer_doubles_round_trip(void **state)
{
	(void)state;
	static const double fixed[] = {
	    0.0,       -0.0,	    0.1,     1.0 / 3, 2.0 / 3,	1e300,
	    -2.5e-300, 123456789.0, DBL_MIN, DBL_MAX, 4.9e-324, 0.123456789012345678,
	    100.0,     1e15,	    1e16,    1e17,    12.8};
	size_t n = 0;
	for (; n < MBX_ARRAY_SIZE(fixed); n++)
		test_doubles[n] = fixed[n];
	while (n < MBX_ARRAY_SIZE(test_doubles)) {
		uint64_t bits = rnd();
		double d;
		memcpy(&d, &bits, sizeof(d));
		if (isfinite(d))
			test_doubles[n++] = d;
	}
	int ret;
	size_t len;
	char *s = capture_output(json_doc_doubles, &n, &ret, &len);
	assert_int_equal(ret, 0);
	struct jv *v = parse_or_fail(s, len);
	assert_int_equal(v->n, n + 2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v->items[i]->t, J_NUM);
		if (memcmp(&v->items[i]->num, &test_doubles[i], sizeof(double)) != 0 &&
		    !(test_doubles[i] == 0.0 && v->items[i]->num == 0.0))
			fail_msg("double %.17g read back as %.17g", test_doubles[i],
				 v->items[i]->num);
	}
	assert_int_equal(v->items[n]->t, J_NULL);
	assert_int_equal(v->items[n + 1]->t, J_NULL);
	/* shortest form: no 0.10000000000000001 */
	assert_non_null(strstr(s, ",0.1,"));
	jv_free(v);
	free(s);
}

static void json_writer_misuse(void **state)
{
	(void)state;
	struct mbx_json j;
	FILE *f = fopen("/dev/null", "w");
	assert_non_null(f);

	/* key at top level */
	mbx_json_init(&j, f, 0);
	mbx_json_key(&j, "x");
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* value in an object without a key */
	mbx_json_init(&j, f, 0);
	mbx_json_begin_object(&j);
	mbx_json_uint(&j, 1);
	mbx_json_end_object(&j);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* key inside an array */
	mbx_json_init(&j, f, 0);
	mbx_json_begin_array(&j);
	mbx_json_key(&j, "x");
	mbx_json_end_array(&j);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* mismatched end */
	mbx_json_init(&j, f, 0);
	mbx_json_begin_object(&j);
	mbx_json_end_array(&j);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* key without value */
	mbx_json_init(&j, f, 0);
	mbx_json_begin_object(&j);
	mbx_json_key(&j, "x");
	mbx_json_end_object(&j);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* unclosed */
	mbx_json_init(&j, f, 0);
	mbx_json_begin_array(&j);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* nothing written */
	mbx_json_init(&j, f, 0);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* two top-level values */
	mbx_json_init(&j, f, 0);
	mbx_json_uint(&j, 1);
	mbx_json_uint(&j, 2);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* too deep; exactly the maximum is fine */
	mbx_json_init(&j, f, 0);
	for (int i = 0; i < MBX_JSON_MAX_DEPTH; i++)
		mbx_json_begin_array(&j);
	for (int i = 0; i < MBX_JSON_MAX_DEPTH; i++)
		mbx_json_end_array(&j);
	assert_int_equal(mbx_json_finish(&j), 0);
	mbx_json_init(&j, f, 0);
	for (int i = 0; i < MBX_JSON_MAX_DEPTH + 1; i++)
		mbx_json_begin_array(&j);
	assert_int_equal(mbx_json_finish(&j), -EINVAL);
	/* a scalar document is fine */
	mbx_json_init(&j, f, 0);
	mbx_json_str(&j, "x");
	assert_int_equal(mbx_json_finish(&j), 0);
	fclose(f);

	/* write errors surface as -EIO */
	f = fopen("/dev/full", "w");
	if (f) {
		mbx_json_init(&j, f, 0);
		mbx_json_begin_array(&j);
		for (int i = 0; i < 10000; i++)
			mbx_json_str(&j, "xxxxxxxxxxxxxxxx");
		mbx_json_end_array(&j);
		assert_int_equal(mbx_json_finish(&j), -EIO);
		fclose(f);
	}
}

/* ---- inspect ---- */

static char *inspect_lines(struct mbx_inspect *in, const struct mbx_event *ev, size_t n)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(mbx_inspect_write_header(in, f), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(mbx_inspect_write_event(in, f, &ev[i]), 0);
	fclose(f);
	return buf;
}

static void inspect_text(void **state)
{
	(void)state;
	struct mbx_inspect in;
	struct mbx_event ev[2] = {
	    mk(1700000000123456789ULL, 7, MBX_PROTO_TEXT, MBX_OP_GET, 0x00ab00cd00ef0012ULL, 12,
	       1024, MBX_OUT_HIT, 123456, 0),
	    mk(1700000001623456789ULL, 4294967295u, MBX_PROTO_BINARY, MBX_OP_SASL_LIST_MECHS, 0, 0,
	       0, MBX_OUT_NONE, MBX_LAT_NONE,
	       MBX_EV_F_BATCH_CONT | MBX_EV_F_QUIET | (5u << MBX_EV_F_VARIANT_SHIFT)),
	};
	mbx_inspect_init(&in, MBX_INSPECT_TEXT, false);
	char *s = inspect_lines(&in, ev, 2);
	assert_string_equal(
	    s, "time                               conn proto  op              key_hash         "
	       "klen       vlen outcome            lat_us flags\n"
	       "2023-11-14T22:13:20.123456789Z        7 text   get             00ab00cd00ef0012 "
	       "  12       1024 hit               123.456 -\n"
	       "2023-11-14T22:13:21.623456789Z 4294967295 binary sasl_list_mechs -                "
	       "   0          0 none                    - batch,quiet,v5\n");
	free(s);

	mbx_inspect_init(&in, MBX_INSPECT_TEXT, true);
	s = inspect_lines(&in, ev, 2);
	char *l2 = strchr(s, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	assert_memory_equal(l2, "     0.000000000 ", 17);
	assert_memory_equal(l3, "     1.500000000 ", 17);
	free(s);
}

static void inspect_csv(void **state)
{
	(void)state;
	struct mbx_inspect in;
	struct mbx_event ev[2] = {
	    mk(1700000000123456789ULL, 7, MBX_PROTO_META, MBX_OP_MG, 0x00ab00cd00ef0012ULL, 12,
	       1024, MBX_OUT_MISS, 0, MBX_EV_F_QUIET | (MBX_MG_V << MBX_EV_F_VARIANT_SHIFT)),
	    mk(1700000001623456789ULL, 8, MBX_PROTO_TEXT, MBX_OP_SET, 1, 255, 7, MBX_OUT_NOREPLY,
	       MBX_LAT_NONE, MBX_EV_F_BATCH_CONT | MBX_EV_F_KEY_CLAMPED),
	};
	mbx_inspect_init(&in, MBX_INSPECT_CSV, false);
	char *s = inspect_lines(&in, ev, 2);
	assert_string_equal(
	    s, "ts_ns,conn_id,proto,op,key_hash,key_len,value_len,outcome,latency_ns,"
	       "batch_cont,quiet,variant\r\n"
	       "1700000000123456789,7,meta,mg,00ab00cd00ef0012,12,1024,miss,0,0,1,1\r\n"
	       "1700000001623456789,8,text,set,0000000000000001,255,7,noreply,,1,0,0\r\n");
	free(s);

	/* relative: t0 given by the caller, an earlier event goes negative */
	mbx_inspect_init(&in, MBX_INSPECT_CSV, true);
	in.have_t0 = true;
	in.t0_ns = 1700000001000000000ULL;
	s = inspect_lines(&in, ev, 2);
	assert_non_null(strstr(s, "rel_ns,conn_id,"));
	assert_non_null(strstr(s, "\r\n-876543211,7,"));
	assert_non_null(strstr(s, "\r\n623456789,8,"));
	free(s);
}

static void inspect_dates_match_gmtime(void **state)
{
	(void)state;
	struct mbx_inspect in;
	mbx_inspect_init(&in, MBX_INSPECT_TEXT, false);
	for (int i = 0; i < 20000; i++) {
		/* 1970 .. 9999, plus edges */
		uint64_t sec = i == 0	? 0
			       : i == 1 ? 951782400
			       : i == 2 ? 253402300799ULL
					: rnd() % 253402300800ULL;
		uint64_t ts = sec * 1000000000ULL + rnd() % 1000000000ULL;
		if (ts / 1000000000ULL != sec)
			continue;
		struct mbx_event e = mk(ts, 1, 0, MBX_OP_GET, 1, 1, 0, MBX_OUT_HIT, 0, 0);
		char *buf = NULL;
		size_t len;
		FILE *f = open_memstream(&buf, &len);
		assert_int_equal(mbx_inspect_write_event(&in, f, &e), 0);
		fclose(f);
		time_t t = (time_t)sec;
		struct tm tm;
		char want[64];
		gmtime_r(&t, &tm);
		size_t n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + n, sizeof(want) - n, ".%09lluZ ",
			 (unsigned long long)(ts % 1000000000ULL));
		if (memcmp(buf, want, strlen(want)) != 0)
			fail_msg("ts %llu: got %.31s want %s", (unsigned long long)ts, buf, want);
		free(buf);
	}
}

/* ---- analysis: a hand-counted trace ---- */

#define T0    1700000000000000000ULL
#define MS    1000000ULL
#define NL    MBX_LAT_NONE
#define TX    MBX_PROTO_TEXT
#define BI    MBX_PROTO_BINARY
#define ME    MBX_PROTO_META
#define CONT  MBX_EV_F_BATCH_CONT
#define QUIET MBX_EV_F_QUIET

static const struct mbx_event hand_events[] = {
    /* conn 1, text: single gets and a 3-key multi-get */
    {T0 + 0 * MS, 0xA1, 1, 100000, 100, MBX_OP_GET, 3, MBX_OUT_HIT, TX},
    {T0 + 1 * MS, 0xA2, 1, 50000, 0, MBX_OP_GET, 4, MBX_OUT_MISS, TX},
    {T0 + 2 * MS, 0xA1, 1, 200000, 100, MBX_OP_GET, 3, MBX_OUT_HIT, TX},
    {T0 + 2 * MS, 0xA2, 1, 200000, 0, MBX_OP_GET, 4, MBX_OUT_MISS, TX | CONT},
    {T0 + 2 * MS, 0xA3, 1, 200000, 300, MBX_OP_GET, 5, MBX_OUT_HIT, TX | CONT},
    /* conn 2, text: every other class and outcome */
    {T0 + 3 * MS, 0xA1, 2, 30000, 1000, MBX_OP_SET, 3, MBX_OUT_STORED, TX},
    {T0 + 4 * MS, 0xA2, 2, NL, 2000, MBX_OP_SET, 4, MBX_OUT_NOREPLY, TX | QUIET},
    {T0 + 5 * MS, 0xA3, 2, 20000, 0, MBX_OP_DELETE, 5, MBX_OUT_DELETED, TX},
    {T0 + 6 * MS, 0xA9, 2, 20000, 0, MBX_OP_DELETE, 3, MBX_OUT_NOT_FOUND, TX},
    {T0 + 7 * MS, 0xA4, 2, 10000, 0, MBX_OP_INCR, 3, MBX_OUT_HIT, TX},
    {T0 + 8 * MS, 0xA1, 2, 10000, 0, MBX_OP_TOUCH, 3, MBX_OUT_TOUCHED, TX},
    {T0 + 9 * MS, 0xA1, 2, 10000, 10, MBX_OP_ADD, 3, MBX_OUT_NOT_STORED, TX},
    {T0 + 10 * MS, 0xA1, 2, 10000, 10, MBX_OP_CAS, 3, MBX_OUT_EXISTS, TX},
    {T0 + 11 * MS, 0xA5, 2, NL, 0, MBX_OP_GET, 3, MBX_OUT_NONE, TX},
    {T0 + 12 * MS, 0xA5, 2, 5000, 0, MBX_OP_GET, 3, MBX_OUT_CLIENT_ERROR, TX},
    {T0 + 13 * MS, 0, 2, 1000, 0, MBX_OP_VERSION, 0, MBX_OUT_OK, TX},
    {T0 + 14 * MS, 0xDEAD, 2, 1000, 0, MBX_OP_VERBOSITY, 1, MBX_OUT_OK, TX}, /* not a key */
    /* conn 3, binary */
    {T0 + 1000 * MS, 0xA5, 3, NL, 0, MBX_OP_GETQ, 3, MBX_OUT_MISS, BI | QUIET},
    {T0 + 1001 * MS, 0xA1, 3, 40000, 100, MBX_OP_GETK, 3, MBX_OUT_HIT, BI},
    {T0 + 1002 * MS, 0xA1, 3, 40000, 100, MBX_OP_GET, 3, MBX_OUT_HIT, BI},
    {T0 + 1003 * MS, 0, 3, 2000, 0, MBX_OP_NOOP, 0, MBX_OUT_OK, BI},
    {T0 + 1004 * MS, 0xA6, 3, 3000, 5000000, MBX_OP_SET, 3, MBX_OUT_SERVER_ERROR, BI},
    /* conn 4, meta */
    {T0 + 2000 * MS, 0xA1, 4, 60000, 100, MBX_OP_MG, 3, MBX_OUT_HIT,
     ME | (MBX_MG_V << MBX_EV_F_VARIANT_SHIFT)},
    {T0 + 2001 * MS, 0xA7, 4, NL, 0, MBX_OP_MG, 3, MBX_OUT_MISS, ME | QUIET},
    {T0 + 2002 * MS, 0xA7, 4, 70000, 50, MBX_OP_MS, 3, MBX_OUT_STORED, ME},
    {T0 + 2003 * MS, 0xA8, 4, 80000, 0, MBX_OP_MD, 3, MBX_OUT_NOT_FOUND, ME},
    {T0 + 2004 * MS, 0xA4, 4, 90000, 0, MBX_OP_MA, 3, MBX_OUT_NOT_FOUND, ME},
    {T0 + 2005 * MS, 0, 4, 1000, 0, MBX_OP_MN, 0, MBX_OUT_OK, ME},
    /* conn 1 again: a keyless get (not a key), then a 2-key gets
     * interleaved with conn 2 */
    {T0 + 2006 * MS, 0, 1, 5000, 0, MBX_OP_GET, 0, MBX_OUT_MISS, TX},
    {T0 + 2500 * MS, 0xA1, 1, 100000, 100, MBX_OP_GETS, 3, MBX_OUT_HIT, TX},
    {T0 + 2500 * MS, 0xA2, 2, 1000, 0, MBX_OP_GET, 4, MBX_OUT_MISS, TX},
    {T0 + 2500 * MS, 0xA3, 1, 100000, 300, MBX_OP_GETS, 5, MBX_OUT_HIT, TX | CONT},
};

static void check_lat(const struct jv *l, uint64_t *v, size_t n)
{
	char what[64];
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	assert_int_equal(ju(l, "count"), n);
	if (n == 0) {
		assert_true(jnull(l, "p50_ns"));
		assert_true(jnull(l, "max_ns"));
		return;
	}
	static const double ps[] = {50, 90, 99, 99.9};
	static const char *const names[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns"};
	for (int i = 0; i < 4; i++) {
		snprintf(what, sizeof(what), "latency %s", names[i]);
		assert_within_1pct(ju(l, names[i]), sorted_pct(v, n, ps[i]), what);
	}
	assert_int_equal(ju(l, "min_ns"), v[0]);
	assert_int_equal(ju(l, "max_ns"), v[n - 1]);
	long double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	assert_close(jd(l, "mean_ns"), (double)(sum / n), 1e-9, "mean_ns");
}

static void check_row(const struct jv *root, const char *op, const char *proto, uint64_t count,
		      uint64_t hits, uint64_t misses, uint64_t errors, uint64_t quiet)
{
	const struct jv *r = op_or_fail(root, op, proto);
	assert_int_equal(ju(r, "count"), count);
	assert_int_equal(ju(r, "hits"), hits);
	assert_int_equal(ju(r, "misses"), misses);
	assert_int_equal(ju(r, "errors"), errors);
	assert_int_equal(ju(r, "quiet"), quiet);
	if (hits + misses)
		assert_close(jd(r, "hit_ratio"), (double)hits / (double)(hits + misses), 1e-12,
			     "hit_ratio");
	else
		assert_true(jnull(r, "hit_ratio"));
}

static void finish_hand(struct mbx_analysis *a)
{
	static const struct mbx_counter_kv kv[] = {
	    {"pkts", 1000},
	    {"ring_full", 5},
	    {"gaps", 0},
	    {"future_counter", 7},
	};
	static struct mbx_profile_meta meta = {
	    .created_ns = T0 - 5 * MS,
	    .salt_fingerprint = 0x1122334455667788ULL,
	    .linktype = 1,
	    .snaplen = 65535,
	    .nports = 2,
	    .ports = {11211, 11212},
	    .source = "file:t.pcap",
	    .hostname = "h\xe9",
	    .mbx_version = "0.1.0",
	};
	struct mbx_analysis_source src = {
	    .path = "/tmp/x \"q\"\n.mbx",
	    .meta = &meta,
	    .counters = kv,
	    .ncounters = MBX_ARRAY_SIZE(kv),
	    .state = MBX_PROFILE_INCOMPLETE,
	    .ignored_bytes = 123,
	};
	assert_int_equal(mbx_analysis_finish(a, &src), 0);
}

static void analysis_hand_counted(void **state)
{
	(void)state;
	struct mbx_analysis *a = new_analysis(NULL);
	const size_t n = MBX_ARRAY_SIZE(hand_events);
	assert_int_equal(n, 32);
	/* blocks of odd sizes: the result must not depend on them */
	assert_int_equal(mbx_analysis_add(a, hand_events, 5), 0);
	assert_int_equal(mbx_analysis_add(a, hand_events + 5, 0), 0);
	assert_int_equal(mbx_analysis_add(a, hand_events + 5, 20), 0);
	assert_int_equal(mbx_analysis_add(a, hand_events + 25, n - 25), 0);
	assert_int_equal(mbx_analysis_events(a), 32);
	assert_int_equal(mbx_analysis_write_text(a, stdout), -EINVAL); /* not finished */
	finish_hand(a);
	assert_int_equal(mbx_analysis_finish(a, NULL), -EINVAL);
	assert_int_equal(mbx_analysis_add(a, hand_events, 1), -EINVAL);

	struct jv *v = analysis_json(a);
	assert_string_equal(js(v, "schema"), "mbx.analyze/1");

	/* profile */
	assert_string_equal(js(v, "profile.path"), "/tmp/x \"q\"\n.mbx");
	assert_string_equal(js(v, "profile.state"), "incomplete");
	assert_int_equal(ju(v, "profile.ignored_bytes"), 123);
	assert_true(jnull(v, "profile.error"));
	assert_true(jnull(v, "profile.footer"));
	assert_string_equal(js(v, "profile.hostname"), "h\xe9");
	assert_string_equal(js(v, "profile.salt_fingerprint"), "1122334455667788");
	assert_int_equal(jlen(v, "profile.ports"), 2);
	assert_int_equal(ju(v, "profile.ports.1"), 11212);

	/* summary */
	assert_int_equal(ju(v, "summary.events"), 32);
	assert_int_equal(ju(v, "summary.first_ts_ns"), T0);
	assert_int_equal(ju(v, "summary.last_ts_ns"), T0 + 2500 * MS);
	assert_int_equal(ju(v, "summary.duration_ns"), 2500 * MS);
	assert_close(jd(v, "summary.ops_per_sec"), 12.8, 1e-12, "ops/s");
	assert_int_equal(ju(v, "summary.keyed_ops"), 27);
	assert_int_equal(ju(v, "summary.retrieval_hits"), 8);
	assert_int_equal(ju(v, "summary.retrieval_misses"), 6);
	assert_close(jd(v, "summary.hit_ratio"), 8.0 / 14.0, 1e-12, "hit ratio");
	assert_int_equal(ju(v, "summary.errors"), 2);
	assert_int_equal(ju(v, "summary.unanswered"), 1);
	assert_int_equal(ju(v, "summary.noreply"), 1);
	assert_int_equal(ju(v, "summary.quiet"), 3);
	assert_int_equal(ju(v, "summary.outcomes.hit"), 9);
	assert_int_equal(ju(v, "summary.outcomes.miss"), 6);
	assert_int_equal(ju(v, "summary.outcomes.not_found"), 3);
	assert_int_equal(ju(v, "summary.outcomes.ok"), 4);
	assert_int_equal(ju(v, "summary.outcomes.error"), 0);
	assert_int_equal(jlen(v, "summary.outcomes"), MBX_OUT__COUNT);

	/* ops rows: hand-counted */
	assert_int_equal(jlen(v, "ops"), 20);
	check_row(v, "get", "text", 9, 3, 4, 1, 0);
	check_row(v, "gets", "text", 2, 2, 0, 0, 0);
	check_row(v, "set", "text", 2, 1, 0, 0, 1);
	check_row(v, "delete", "text", 2, 1, 1, 0, 0);
	check_row(v, "incr", "text", 1, 1, 0, 0, 0);
	check_row(v, "touch", "text", 1, 1, 0, 0, 0);
	check_row(v, "add", "text", 1, 0, 1, 0, 0);
	check_row(v, "cas", "text", 1, 0, 1, 0, 0);
	check_row(v, "version", "text", 1, 0, 0, 0, 0);
	check_row(v, "verbosity", "text", 1, 0, 0, 0, 0);
	check_row(v, "getq", "binary", 1, 0, 1, 0, 1);
	check_row(v, "getk", "binary", 1, 1, 0, 0, 0);
	check_row(v, "get", "binary", 1, 1, 0, 0, 0);
	check_row(v, "noop", "binary", 1, 0, 0, 0, 0);
	check_row(v, "set", "binary", 1, 0, 0, 1, 0);
	check_row(v, "mg", "meta", 2, 1, 1, 0, 1);
	check_row(v, "ms", "meta", 1, 1, 0, 0, 0);
	check_row(v, "md", "meta", 1, 0, 1, 0, 0);
	check_row(v, "ma", "meta", 1, 0, 1, 0, 0);
	check_row(v, "mn", "meta", 1, 0, 0, 0, 0);
	const struct jv *get = op_or_fail(v, "get", "text");
	assert_string_equal(js(get, "class"), "retrieval");
	assert_int_equal(ju(get, "outcomes.none"), 1);
	assert_int_equal(ju(get, "outcomes.client_error"), 1);
	assert_int_equal(ju(get, "outcomes.hit"), 3);
	assert_int_equal(ju(get, "value_bytes"), 500);
	uint64_t get_lat[] = {1000, 5000, 5000, 50000, 100000, 200000, 200000, 200000};
	check_lat(jreq(get, "latency"), get_lat, MBX_ARRAY_SIZE(get_lat));
	assert_int_equal(ju(get, "latency.mean_ns"), 95125);
	check_lat(jreq(op_or_fail(v, "getq", "binary"), "latency"), NULL, 0);
	assert_string_equal(js(op_or_fail(v, "cas", "text"), "class"), "storage");
	assert_string_equal(js(op_or_fail(v, "ma", "meta"), "class"), "arith");
	assert_string_equal(js(op_or_fail(v, "noop", "binary"), "class"), "other");

	/* overall latency: every paired event */
	uint64_t all[32];
	size_t nall = 0;
	for (size_t i = 0; i < n; i++)
		if (hand_events[i].latency_ns != NL)
			all[nall++] = hand_events[i].latency_ns;
	assert_int_equal(nall, 28);
	check_lat(jreq(v, "summary.latency"), all, nall);

	/* protocols */
	assert_int_equal(jlen(v, "protocols"), 3);
	assert_string_equal(js(v, "protocols.0.proto"), "text");
	assert_int_equal(ju(v, "protocols.0.events"), 21);
	assert_int_equal(ju(v, "protocols.1.events"), 6); /* meta */
	assert_int_equal(ju(v, "protocols.2.events"), 5); /* binary */
	assert_int_equal(ju(v, "protocols.0.retrieval_hits"), 5);
	assert_int_equal(ju(v, "protocols.0.retrieval_misses"), 4);

	/* sizes */
	assert_int_equal(ju(v, "sizes.key.count"), 27);
	assert_int_equal(ju(v, "sizes.key.min"), 3);
	assert_int_equal(ju(v, "sizes.key.p50"), 3);
	assert_int_equal(ju(v, "sizes.key.p90"), 5);
	assert_int_equal(ju(v, "sizes.key.max"), 5);
	assert_int_equal(jlen(v, "sizes.key.buckets"), 2); /* [2,3]: 20, [4,7]: 7 */
	assert_int_equal(ju(v, "sizes.key.buckets.0.low"), 2);
	assert_int_equal(ju(v, "sizes.key.buckets.0.high"), 3);
	assert_int_equal(ju(v, "sizes.key.buckets.0.count"), 20);
	assert_int_equal(ju(v, "sizes.key.buckets.1.count"), 7);
	assert_int_equal(ju(v, "sizes.value_sent.count"), 6);
	assert_int_equal(ju(v, "sizes.value_sent.p50"), 50);
	assert_int_equal(ju(v, "sizes.value_sent.min"), 10);
	assert_int_equal(ju(v, "sizes.value_sent.max"), 5000000);
	assert_int_equal(ju(v, "sizes.value_returned.count"), 8);
	assert_int_equal(ju(v, "sizes.value_returned.p50"), 100);
	assert_int_equal(ju(v, "sizes.value_returned.max"), 300);

	/* connections */
	assert_int_equal(ju(v, "connections.distinct"), 4);
	assert_false(jb(v, "connections.approximate"));
	assert_int_equal(ju(v, "connections.ops_per_conn.min"), 5);
	assert_int_equal(ju(v, "connections.ops_per_conn.max"), 13);
	assert_int_equal(ju(v, "connections.ops_per_conn.p50"), 6);
	assert_int_equal(jlen(v, "connections.top"), 4);
	static const uint64_t top_conn[][2] = {{2, 13}, {1, 8}, {4, 6}, {3, 5}};
	for (int i = 0; i < 4; i++) {
		char p[64];
		snprintf(p, sizeof(p), "connections.top.%d.conn_id", i);
		assert_int_equal(ju(v, p), top_conn[i][0]);
		snprintf(p, sizeof(p), "connections.top.%d.ops", i);
		assert_int_equal(ju(v, p), top_conn[i][1]);
	}
	assert_close(jd(v, "connections.top.0.share"), 13.0 / 32, 1e-12, "conn share");

	/* keys */
	assert_int_equal(ju(v, "keys.keyed_ops"), 27);
	assert_int_equal(ju(v, "keys.unique"), 9);
	assert_false(jb(v, "keys.approximate"));
	assert_string_equal(js(v, "keys.unique_method"), "exact");
	assert_string_equal(js(v, "keys.top_method"), "exact");
	assert_int_equal(ju(v, "keys.seen_once"), 3);
	assert_int_equal(ju(v, "keys.ops_per_key.max"), 10);
	static const struct {
		const char *hash;
		uint64_t count;
		unsigned len;
	} top[] = {
	    {"00000000000000a1", 10, 3}, {"00000000000000a2", 4, 4}, {"00000000000000a3", 3, 5},
	    {"00000000000000a5", 3, 3},	 {"00000000000000a4", 2, 3}, {"00000000000000a7", 2, 3},
	    {"00000000000000a6", 1, 3},	 {"00000000000000a8", 1, 3}, {"00000000000000a9", 1, 3},
	};
	assert_int_equal(jlen(v, "keys.top"), 9);
	for (int i = 0; i < 9; i++) {
		const struct jv *k = jreq(v, "keys.top")->items[i];
		assert_string_equal(js(k, "key_hash"), top[i].hash);
		assert_int_equal(ju(k, "count"), top[i].count);
		assert_int_equal(ju(k, "key_len"), top[i].len);
		assert_int_equal(ju(k, "error"), 0);
		assert_close(jd(k, "share"), top[i].count / 27.0, 1e-12, "key share");
	}

	/* requests */
	assert_int_equal(ju(v, "requests.requests"), 29);
	assert_int_equal(ju(v, "requests.multi_key_requests"), 2);
	assert_int_equal(ju(v, "requests.multi_key_keys"), 5);
	assert_int_equal(ju(v, "requests.keys_per_multi_key_request.min"), 2);
	assert_int_equal(ju(v, "requests.keys_per_multi_key_request.max"), 3);

	/* time series, 1 s */
	assert_int_equal(ju(v, "time_series.interval_ns"), 1000 * MS);
	assert_int_equal(ju(v, "time_series.start_ns"), T0);
	assert_int_equal(jlen(v, "time_series.points"), 3);
	static const uint64_t pts[3][11] = {
	    /* ops retr store del arith touch other hits misses errors lat_n */
	    {17, 7, 4, 2, 1, 1, 2, 3, 2, 1, 15},
	    {5, 3, 1, 0, 0, 0, 1, 2, 1, 1, 4},
	    {10, 6, 1, 1, 1, 0, 1, 3, 3, 0, 9},
	};
	static const char *const f[] = {"ops",	  "retrieval", "storage",      "delete",
					"arith",  "touch",     "other",	       "hits",
					"misses", "errors",    "latency_count"};
	for (int p = 0; p < 3; p++) {
		const struct jv *pt = jreq(v, "time_series.points")->items[p];
		assert_int_equal(ju(pt, "t_ns"), T0 + (uint64_t)p * 1000 * MS);
		for (int k = 0; k < 11; k++)
			if (ju(pt, f[k]) != pts[p][k])
				fail_msg("point %d %s: %llu != %llu", p, f[k],
					 (unsigned long long)ju(pt, f[k]),
					 (unsigned long long)pts[p][k]);
	}
	/* point 0: p50 is 20 us, p99 200 us (coarse buckets: within 6.25%) */
	assert_close((double)ju(v, "time_series.points.0.p50_ns"), 20000, 0.0625, "ts p50");
	assert_close((double)ju(v, "time_series.points.0.p99_ns"), 200000, 0.0625, "ts p99");

	/* capture */
	assert_int_equal(ju(v, "capture.counters.pkts"), 1000);
	assert_int_equal(ju(v, "capture.counters.future_counter"), 7);
	assert_int_equal(jlen(v, "capture.counters"), 4);
	assert_int_equal(ju(v, "capture.losses.ring_full"), 5);
	assert_int_equal(ju(v, "capture.losses.gaps"), 0);
	assert_int_equal(jlen(v, "capture.losses"), 2);
	assert_true(jb(v, "capture.any_loss"));
	jv_free(v);

	char *t = analysis_text(a);
	static const char *const want[] = {
	    "INCOMPLETE",
	    "123 trailing bytes",
	    "32 in 2.500 s = 12.80 ops/s",
	    "hit ratio 57.14%",
	    "OPERATIONS",
	    "sasl" /* absent */,
	    "verbosity",
	    "mg ",
	    "CONNECTIONS",
	    "unique       9 (exact)",
	    "00000000000000a1",
	    "multi-key 2",
	    "TIME SERIES",
	    "LOSSES",
	    "ring_full",
	    "messages dropped because a worker ring was full",
	    "future_counter",
	    "[2 B, 4 B)",
	    "[4 MiB, 8 MiB)",
	};
	for (size_t i = 0; i < MBX_ARRAY_SIZE(want); i++) {
		bool found = strstr(t, want[i]) != NULL;
		if (found != (strcmp(want[i], "sasl") != 0))
			fail_msg("text report %s \"%s\":\n%s", found ? "has" : "lacks", want[i], t);
	}
	free(t);
	mbx_analysis_destroy(a);
}

static void analysis_empty(void **state)
{
	(void)state;
	struct mbx_analysis *a = new_analysis(NULL);
	assert_int_equal(mbx_analysis_add(a, NULL, 0), 0);
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	assert_int_equal(ju(v, "summary.events"), 0);
	assert_int_equal(ju(v, "summary.duration_ns"), 0);
	assert_true(jnull(v, "summary.ops_per_sec"));
	assert_true(jnull(v, "summary.hit_ratio"));
	assert_true(jnull(v, "summary.latency.p50_ns"));
	assert_int_equal(jlen(v, "ops"), 0);
	assert_int_equal(jlen(v, "protocols"), 0);
	assert_int_equal(ju(v, "keys.unique"), 0);
	assert_int_equal(jlen(v, "keys.top"), 0);
	assert_int_equal(ju(v, "connections.distinct"), 0);
	assert_true(jnull(v, "connections.ops_per_conn.p50"));
	assert_int_equal(jlen(v, "time_series.points"), 0);
	assert_true(jnull(v, "sizes.key.p50"));
	assert_int_equal(jlen(v, "sizes.key.buckets"), 0);
	assert_true(jnull(v, "profile.path"));
	assert_string_equal(js(v, "profile.state"), "complete");
	assert_int_equal(jlen(v, "capture.counters"), 0);
	assert_false(jb(v, "capture.any_loss"));
	jv_free(v);
	char *t = analysis_text(a);
	assert_non_null(strstr(t, "no paired responses"));
	assert_non_null(strstr(t, "events       0"));
	assert_non_null(strstr(t, "no counters in the profile"));
	assert_null(strstr(t, " nan"));
	assert_null(strstr(t, "-nan"));
	assert_null(strstr(t, "(nan"));
	free(t);
	mbx_analysis_destroy(a);
}

/* ---- analysis: a random trace against naive reference computations ---- */

struct vec {
	uint64_t *v;
	size_t n, cap;
};

static void vpush(struct vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = realloc(v->v, v->cap * sizeof(*v->v));
		assert_non_null(v->v);
	}
	v->v[v->n++] = x;
}

struct ref_row {
	uint64_t count, quiet, value_bytes, outcomes[MBX_OUT__COUNT];
	struct vec lat;
};

#define RCONNS	300
#define RPOINTS 64

struct ref {
	struct ref_row rows[3][MBX_OP__COUNT];
	struct vec lat_all, keys, key_len, val_sent, val_ret, batches;
	uint64_t conn_ops[RCONNS + 1];
	uint64_t requests, keyed;
	struct {
		uint64_t ops, cls[6], hits, misses, errors;
		struct vec lat;
	} pt[RPOINTS];
};

struct gen_op {
	unsigned proto, op, weight;
};

static const struct gen_op gen_ops[] = {
    {TX, MBX_OP_GET, 30},   {TX, MBX_OP_GETS, 5}, {TX, MBX_OP_SET, 15},	 {TX, MBX_OP_ADD, 2},
    {TX, MBX_OP_DELETE, 5}, {TX, MBX_OP_INCR, 3}, {TX, MBX_OP_TOUCH, 2}, {TX, MBX_OP_VERSION, 1},
    {ME, MBX_OP_MG, 10},    {ME, MBX_OP_MS, 5},	  {ME, MBX_OP_MD, 2},	 {ME, MBX_OP_MA, 1},
    {ME, MBX_OP_MN, 1},	    {BI, MBX_OP_GETQ, 5}, {BI, MBX_OP_GETK, 5},	 {BI, MBX_OP_SET, 5},
    {BI, MBX_OP_DELETE, 1}, {BI, MBX_OP_NOOP, 1},
};

static unsigned pick_outcome(unsigned cls)
{
	static const uint8_t retr[] = {MBX_OUT_HIT,	    MBX_OUT_HIT,  MBX_OUT_HIT,
				       MBX_OUT_MISS,	    MBX_OUT_MISS, MBX_OUT_NONE,
				       MBX_OUT_SERVER_ERROR};
	static const uint8_t store[] = {MBX_OUT_STORED,	    MBX_OUT_STORED,	 MBX_OUT_STORED,
					MBX_OUT_NOT_STORED, MBX_OUT_EXISTS,	 MBX_OUT_NOT_FOUND,
					MBX_OUT_NOREPLY,    MBX_OUT_CLIENT_ERROR};
	static const uint8_t del[] = {MBX_OUT_DELETED, MBX_OUT_NOT_FOUND, MBX_OUT_NOREPLY};
	static const uint8_t arith[] = {MBX_OUT_HIT, MBX_OUT_NOT_FOUND, MBX_OUT_ERROR};
	static const uint8_t touch[] = {MBX_OUT_TOUCHED, MBX_OUT_NOT_FOUND};
	static const uint8_t other[] = {MBX_OUT_OK, MBX_OUT_OK, MBX_OUT_ERROR, MBX_OUT_NONE};
	switch (cls) {
	case MBX_OPC_RETR:
		return retr[rnd() % sizeof(retr)];
	case MBX_OPC_STORE:
		return store[rnd() % sizeof(store)];
	case MBX_OPC_DEL:
		return del[rnd() % sizeof(del)];
	case MBX_OPC_ARITH:
		return arith[rnd() % sizeof(arith)];
	case MBX_OPC_TOUCH:
		return touch[rnd() % sizeof(touch)];
	default:
		return other[rnd() % sizeof(other)];
	}
}

#define RINTERVAL (100 * MS)

/* n events over ~2 s on RCONNS connections, multi-gets interleaved across
 * connections; fills the reference as it goes. */
static struct mbx_event *gen_trace(size_t n, struct ref *r)
{
	struct mbx_event *ev = calloc(n, sizeof(*ev));
	unsigned pending[RCONNS + 1] = {0}, cur[RCONNS + 1] = {0};
	struct mbx_event last[RCONNS + 1];
	unsigned wsum = 0;
	uint64_t ts = T0 + 777;

	for (size_t i = 0; i < MBX_ARRAY_SIZE(gen_ops); i++)
		wsum += gen_ops[i].weight;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		struct mbx_event *e = &ev[i];
		uint32_t c = 1 + (uint32_t)((rnd() % RCONNS) * (rnd() % RCONNS) / RCONNS);
		unsigned flags = 0, proto, op;
		ts += rnd() % 20000;
		if (pending[c]) {
			/* next key of this connection's multi-get */
			pending[c]--;
			proto = TX;
			op = last[c].op;
			flags = CONT;
			cur[c]++;
		} else {
			unsigned w = (unsigned)(rnd() % wsum);
			size_t k = 0;
			while (w >= gen_ops[k].weight)
				w -= gen_ops[k++].weight;
			proto = gen_ops[k].proto;
			op = gen_ops[k].op;
			if (cur[c] >= 2)
				vpush(&r->batches, cur[c]);
			cur[c] = 1;
			r->requests++;
			if ((op == MBX_OP_GET || op == MBX_OP_GETS) && proto == TX &&
			    rnd() % 8 == 0)
				pending[c] = 1 + (unsigned)(rnd() % 30);
		}
		unsigned cls = mbx_op_class(op);
		unsigned out = pick_outcome(cls);
		uint64_t key = 0;
		unsigned klen = 0;
		if (cls != MBX_OPC_OTHER && rnd() % 100 != 0) {
			uint64_t id = (rnd() % 20000) * (rnd() % 20000) / 20000;
			key = mix(id + 1) | 1;
			klen = 1 + (unsigned)(id % 250);
		} else if (cls == MBX_OPC_OTHER && rnd() % 5 == 0) {
			key = rnd() | 1; /* a key hash on a keyless op: not a key */
			klen = 3;
		}
		uint32_t vlen = 0;
		if (cls == MBX_OPC_STORE || (cls == MBX_OPC_RETR && out == MBX_OUT_HIT))
			vlen = (uint32_t)(rnd() % (1u << (rnd() % 22)));
		uint32_t lat = NL;
		if (out != MBX_OUT_NONE && out != MBX_OUT_NOREPLY && rnd() % 20 != 0) {
			double x = -log(1.0 - (double)(rnd() >> 11) / 9007199254740992.0);
			lat = (uint32_t)(1 + x * (rnd() % 100 == 0 ? 5e6 : 1e5));
		}
		if (out == MBX_OUT_NOREPLY || op == MBX_OP_GETQ)
			flags |= QUIET;
		*e = mk(ts, c, proto, op, key, klen, vlen, out, lat, flags);
		last[c] = *e;

		/* reference */
		struct ref_row *row = &r->rows[proto][op];
		row->count++;
		row->outcomes[out]++;
		row->quiet += (flags & QUIET) != 0;
		row->value_bytes += vlen;
		if (lat != NL) {
			vpush(&row->lat, lat);
			vpush(&r->lat_all, lat);
		}
		if (key && cls != MBX_OPC_OTHER) {
			r->keyed++;
			vpush(&r->keys, key);
			vpush(&r->key_len, klen);
		}
		if (cls == MBX_OPC_STORE)
			vpush(&r->val_sent, vlen);
		if (cls == MBX_OPC_RETR && out == MBX_OUT_HIT)
			vpush(&r->val_ret, vlen);
		r->conn_ops[c]++;
		size_t p = (size_t)((ts - (T0 + 777 + 0)) / RINTERVAL);
		(void)p;
	}
	for (unsigned c = 0; c <= RCONNS; c++)
		if (cur[c] >= 2)
			vpush(&r->batches, cur[c]);
	/* time series relative to the first event */
	for (size_t i = 0; i < n; i++) {
		const struct mbx_event *e = &ev[i];
		size_t p = (size_t)((e->ts_ns - ev[0].ts_ns) / RINTERVAL);
		assert_true(p < RPOINTS);
		unsigned cls = mbx_op_class(e->op);
		r->pt[p].ops++;
		r->pt[p].cls[cls]++;
		if (cls == MBX_OPC_RETR) {
			r->pt[p].hits += e->outcome == MBX_OUT_HIT;
			r->pt[p].misses += e->outcome == MBX_OUT_MISS;
		}
		r->pt[p].errors += mbx_outcome_is_error(e->outcome);
		if (e->latency_ns != NL)
			vpush(&r->pt[p].lat, e->latency_ns);
	}
	return ev;
}

static void ref_free(struct ref *r)
{
	for (int p = 0; p < 3; p++)
		for (int o = 0; o < MBX_OP__COUNT; o++)
			free(r->rows[p][o].lat.v);
	free(r->lat_all.v);
	free(r->keys.v);
	free(r->key_len.v);
	free(r->val_sent.v);
	free(r->val_ret.v);
	free(r->batches.v);
	for (int p = 0; p < RPOINTS; p++)
		free(r->pt[p].lat.v);
}

static void check_dist(const struct jv *d, struct vec *v, const char *what)
{
	char w[96];
	if (v->n)
		qsort(v->v, v->n, sizeof(*v->v), cmp_u64);
	assert_int_equal(ju(d, "count"), v->n);
	if (!v->n)
		return;
	assert_int_equal(ju(d, "min"), v->v[0]);
	assert_int_equal(ju(d, "max"), v->v[v->n - 1]);
	snprintf(w, sizeof(w), "%s p50", what);
	assert_within_1pct(ju(d, "p50"), sorted_pct(v->v, v->n, 50), w);
	snprintf(w, sizeof(w), "%s p90", what);
	assert_within_1pct(ju(d, "p90"), sorted_pct(v->v, v->n, 90), w);
	snprintf(w, sizeof(w), "%s p99", what);
	assert_within_1pct(ju(d, "p99"), sorted_pct(v->v, v->n, 99), w);
	/* buckets: exact counts of the values in each power-of-two range */
	const struct jv *b = jreq(d, "buckets");
	uint64_t total = 0;
	for (size_t i = 0; i < b->n; i++) {
		uint64_t lo = ju(b->items[i], "low"), hi = ju(b->items[i], "high"), c = 0;
		assert_true(lo == 0 ? hi == 0 : hi == 2 * lo - 1);
		for (size_t k = 0; k < v->n; k++)
			c += v->v[k] >= lo && v->v[k] <= hi;
		assert_int_equal(ju(b->items[i], "count"), c);
		assert_true(c > 0);
		total += c;
	}
	assert_int_equal(total, v->n);
}

struct kc {
	uint64_t hash, count;
};

static int cmp_kc(const void *x, const void *y)
{
	const struct kc *a = x, *b = y;
	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Distinct keys and their counts, most frequent first. */
static struct kc *count_keys(struct vec *keys, size_t *nk)
{
	qsort(keys->v, keys->n, sizeof(*keys->v), cmp_u64);
	struct kc *kc = calloc(keys->n + 1, sizeof(*kc));
	size_t k = 0;
	for (size_t i = 0; i < keys->n; i++) {
		if (k && kc[k - 1].hash == keys->v[i])
			kc[k - 1].count++;
		else
			kc[k++] = (struct kc){keys->v[i], 1};
	}
	qsort(kc, k, sizeof(*kc), cmp_kc);
	*nk = k;
	return kc;
}

static void analysis_random_vs_reference(void **state)
{
	(void)state;
	const size_t n = 200000;
	struct ref *r = malloc(sizeof(*r));
	struct mbx_event *ev = gen_trace(n, r);
	struct mbx_analysis_opts o = {.interval_ns = RINTERVAL, .top_keys = 25};
	struct mbx_analysis *a = new_analysis(&o);
	for (size_t i = 0; i < n;) {
		size_t blk = MBX_MIN(n - i, 1 + rnd() % 5000);
		assert_int_equal(mbx_analysis_add(a, ev + i, blk), 0);
		i += blk;
	}
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	char what[96];

	assert_int_equal(ju(v, "summary.events"), n);
	assert_int_equal(ju(v, "summary.first_ts_ns"), ev[0].ts_ns);
	assert_int_equal(ju(v, "summary.last_ts_ns"), ev[n - 1].ts_ns);

	/* every row, and no other */
	size_t rows = 0;
	uint64_t rh = 0, rm = 0;
	for (unsigned p = 0; p < 3; p++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			struct ref_row *rr = &r->rows[p][op];
			if (!rr->count)
				continue;
			rows++;
			const struct jv *row = op_or_fail(v, mbx_op_name(op), mbx_proto_name(p));
			uint64_t hits = 0, misses = 0, errors = 0;
			for (unsigned out = 0; out < MBX_OUT__COUNT; out++) {
				hits += mbx_outcome_is_hit(op, out) ? rr->outcomes[out] : 0;
				misses += mbx_outcome_is_miss(op, out) ? rr->outcomes[out] : 0;
				errors += mbx_outcome_is_error(out) ? rr->outcomes[out] : 0;
				snprintf(what, sizeof(what), "outcomes.%s", mbx_outcome_name(out));
				assert_int_equal(ju(row, what), rr->outcomes[out]);
			}
			if (mbx_op_class(op) == MBX_OPC_RETR) {
				rh += hits;
				rm += misses;
			}
			check_row(v, mbx_op_name(op), mbx_proto_name(p), rr->count, hits, misses,
				  errors, rr->quiet);
			assert_int_equal(ju(row, "value_bytes"), rr->value_bytes);
			check_lat(jreq(row, "latency"), rr->lat.v, rr->lat.n);
		}
	}
	assert_int_equal(jlen(v, "ops"), rows);
	assert_int_equal(ju(v, "summary.retrieval_hits"), rh);
	assert_int_equal(ju(v, "summary.retrieval_misses"), rm);
	check_lat(jreq(v, "summary.latency"), r->lat_all.v, r->lat_all.n);

	/* sizes */
	check_dist(jreq(v, "sizes.key"), &r->key_len, "key size");
	check_dist(jreq(v, "sizes.value_sent"), &r->val_sent, "value sent");
	check_dist(jreq(v, "sizes.value_returned"), &r->val_ret, "value returned");

	/* keys: exact unique count and top list */
	assert_int_equal(ju(v, "keys.keyed_ops"), r->keyed);
	size_t nk;
	struct kc *kc = count_keys(&r->keys, &nk);
	assert_int_equal(ju(v, "keys.unique"), nk);
	assert_false(jb(v, "keys.approximate"));
	uint64_t once = 0;
	for (size_t i = 0; i < nk; i++)
		once += kc[i].count == 1;
	assert_int_equal(ju(v, "keys.seen_once"), once);
	assert_int_equal(jlen(v, "keys.top"), 25);
	for (size_t i = 0; i < 25; i++) {
		const struct jv *k = jreq(v, "keys.top")->items[i];
		char hex[24];
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)kc[i].hash);
		assert_string_equal(js(k, "key_hash"), hex);
		assert_int_equal(ju(k, "count"), kc[i].count);
		assert_close(jd(k, "share"), (double)kc[i].count / (double)r->keyed, 1e-12,
			     "share");
	}
	free(kc);

	/* connections */
	struct vec co = {0};
	struct top_c {
		uint64_t id, ops;
	} best[3] = {{0, 0}};
	for (unsigned c = 0; c <= RCONNS; c++) {
		if (!r->conn_ops[c])
			continue;
		vpush(&co, r->conn_ops[c]);
		for (int i = 0; i < 3; i++) {
			if (r->conn_ops[c] > best[i].ops) {
				memmove(&best[i + 1], &best[i], (size_t)(2 - i) * sizeof(best[0]));
				best[i] = (struct top_c){c, r->conn_ops[c]};
				break;
			}
		}
	}
	assert_int_equal(ju(v, "connections.distinct"), co.n);
	qsort(co.v, co.n, sizeof(*co.v), cmp_u64);
	assert_int_equal(ju(v, "connections.ops_per_conn.min"), co.v[0]);
	assert_int_equal(ju(v, "connections.ops_per_conn.max"), co.v[co.n - 1]);
	assert_within_1pct(ju(v, "connections.ops_per_conn.p50"), sorted_pct(co.v, co.n, 50),
			   "ops/conn p50");
	assert_within_1pct(ju(v, "connections.ops_per_conn.p99"), sorted_pct(co.v, co.n, 99),
			   "ops/conn p99");
	assert_int_equal(jlen(v, "connections.top"), 10);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ju(jreq(v, "connections.top")->items[i], "conn_id"), best[i].id);
		assert_int_equal(ju(jreq(v, "connections.top")->items[i], "ops"), best[i].ops);
	}
	free(co.v);

	/* requests and multi-gets */
	assert_int_equal(ju(v, "requests.requests"), r->requests);
	assert_int_equal(ju(v, "requests.multi_key_requests"), r->batches.n);
	uint64_t bk = 0;
	for (size_t i = 0; i < r->batches.n; i++)
		bk += r->batches.v[i];
	assert_int_equal(ju(v, "requests.multi_key_keys"), bk);
	assert_true(r->batches.n > 1000);
	check_dist(jreq(v, "requests.keys_per_multi_key_request"), &r->batches, "keys/request");

	/* time series */
	assert_int_equal(ju(v, "time_series.interval_ns"), RINTERVAL);
	assert_int_equal(ju(v, "time_series.start_ns"), ev[0].ts_ns);
	size_t np = jlen(v, "time_series.points");
	assert_int_equal(np, (ev[n - 1].ts_ns - ev[0].ts_ns) / RINTERVAL + 1);
	assert_true(np > 10);
	for (size_t p = 0; p < np; p++) {
		const struct jv *pt = jreq(v, "time_series.points")->items[p];
		assert_int_equal(ju(pt, "ops"), r->pt[p].ops);
		assert_int_equal(ju(pt, "retrieval"), r->pt[p].cls[MBX_OPC_RETR]);
		assert_int_equal(ju(pt, "storage"), r->pt[p].cls[MBX_OPC_STORE]);
		assert_int_equal(ju(pt, "delete"), r->pt[p].cls[MBX_OPC_DEL]);
		assert_int_equal(ju(pt, "arith"), r->pt[p].cls[MBX_OPC_ARITH]);
		assert_int_equal(ju(pt, "touch"), r->pt[p].cls[MBX_OPC_TOUCH]);
		assert_int_equal(ju(pt, "other"), r->pt[p].cls[MBX_OPC_OTHER]);
		assert_int_equal(ju(pt, "hits"), r->pt[p].hits);
		assert_int_equal(ju(pt, "misses"), r->pt[p].misses);
		assert_int_equal(ju(pt, "errors"), r->pt[p].errors);
		struct vec *l = &r->pt[p].lat;
		assert_int_equal(ju(pt, "latency_count"), l->n);
		if (!l->n)
			continue;
		qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
		snprintf(what, sizeof(what), "point %zu p50", p);
		assert_close((double)ju(pt, "p50_ns"), (double)sorted_pct(l->v, l->n, 50), 0.0625,
			     what);
		snprintf(what, sizeof(what), "point %zu p99", p);
		assert_close((double)ju(pt, "p99_ns"), (double)sorted_pct(l->v, l->n, 99), 0.0625,
			     what);
	}
	jv_free(v);

	char *t = analysis_text(a);
	assert_non_null(strstr(t, "TIME SERIES ("));
	assert_non_null(strstr(t, "sasl") == NULL ? "ok" : NULL);
	free(t);
	mbx_analysis_destroy(a);
	free(ev);
	ref_free(r);
	free(r);
}

/* More points than max_points: the interval doubles until they fit, and
 * every point still counts exactly its events. */
static void analysis_time_series_coarsens(void **state)
{
	(void)state;
	struct mbx_analysis_opts o = {.interval_ns = 1000 * MS, .max_points = 10, .text_rows = 4};
	struct mbx_analysis *a = new_analysis(&o);
	struct mbx_event ev[351];
	for (int i = 0; i < 351; i++) /* one event per 100 ms over 35 s: get hit, get miss, set */
		ev[i] = mk(T0 + (uint64_t)i * 100 * MS, 1, TX, i % 3 == 2 ? MBX_OP_SET : MBX_OP_GET,
			   5, 1, 0,
			   i % 3 == 0	? MBX_OUT_HIT
			   : i % 3 == 1 ? MBX_OUT_MISS
					: MBX_OUT_STORED,
			   i % 3 == 1 ? NL : (uint32_t)(1000 + i), 0);
	assert_int_equal(mbx_analysis_add(a, ev, 351), 0);
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	assert_int_equal(ju(v, "time_series.interval_ns"), 4000 * MS);
	assert_int_equal(jlen(v, "time_series.points"), 9);
	for (int p = 0; p < 9; p++) {
		const struct jv *pt = jreq(v, "time_series.points")->items[p];
		assert_int_equal(ju(pt, "t_ns"), T0 + (uint64_t)p * 4000 * MS);
		uint64_t cnt[3] = {0}, lat = 0;
		for (int i = p * 40; i < MBX_MIN(p * 40 + 40, 351); i++) {
			cnt[i % 3]++;
			lat += i % 3 != 1;
		}
		assert_int_equal(ju(pt, "ops"), p < 8 ? 40 : 31);
		assert_int_equal(ju(pt, "hits"), cnt[0]);
		assert_int_equal(ju(pt, "misses"), cnt[1]);
		assert_int_equal(ju(pt, "storage"), cnt[2]);
		assert_int_equal(ju(pt, "retrieval"), cnt[0] + cnt[1]);
		assert_int_equal(ju(pt, "latency_count"), lat);
		/* latencies 1000 + i: p99 of the point is near its largest */
		assert_close((double)ju(pt, "p99_ns"), 1000.0 + MBX_MIN(p * 40 + 39, 350), 0.0625,
			     "p99 after coarsening");
	}
	jv_free(v);
	char *t = analysis_text(a);
	assert_non_null(strstr(t, "9 points of 4.00 s, shown 3 per row"));
	assert_non_null(strstr(t, "+24.000 s"));
	assert_null(strstr(t, "+36.000 s"));
	free(t);
	mbx_analysis_destroy(a);
}

/* Over the key cap: HyperLogLog and Space-Saving take over. Keys are small
 * integers here, so the sketches must not rely on the hash being random. */
static void analysis_key_cap_goes_approximate(void **state)
{
	(void)state;
	struct mbx_analysis_opts o = {.key_cap = 100, .top_keys = 5, .topk_capacity = 64};
	struct mbx_analysis *a = new_analysis(&o);
	const size_t n = 50000;
	struct mbx_event *ev = calloc(n, sizeof(*ev));
	uint64_t truth[5000 + 1] = {0};
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rnd() % 100, key;
		if (r < 10)
			key = 1;
		else if (r < 17)
			key = 2;
		else if (r < 22)
			key = 3;
		else if (r < 25)
			key = 4;
		else
			key = 5 + rnd() % 4996; /* 5 .. 5000 */
		truth[key]++;
		ev[i] = mk(T0 + i * 1000, 1 + (uint32_t)(i % 7), TX, MBX_OP_GET, key, 4, 0,
			   MBX_OUT_HIT, 100, 0);
	}
	assert_int_equal(mbx_analysis_add(a, ev, n), 0);
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	size_t distinct = 0;
	for (int k = 1; k <= 5000; k++)
		distinct += truth[k] != 0;
	assert_true(jb(v, "keys.approximate"));
	assert_string_equal(js(v, "keys.unique_method"), "hyperloglog");
	assert_string_equal(js(v, "keys.top_method"), "space_saving");
	assert_true(jnull(v, "keys.seen_once"));
	uint64_t est = ju(v, "keys.unique");
	assert_close((double)est, (double)distinct, 0.025, "unique estimate");
	assert_int_equal(ju(v, "keys.keyed_ops"), n);
	assert_int_equal(jlen(v, "keys.top"), 5);
	uint64_t floor = ju(v, "keys.unlisted_max_count");
	for (int i = 0; i < 5; i++) {
		const struct jv *k = jreq(v, "keys.top")->items[i];
		uint64_t c = ju(k, "count"), err = ju(k, "error");
		char hex[24];
		if (i < 4) { /* the heavy hitters, in order */
			snprintf(hex, sizeof(hex), "%016x", i + 1);
			assert_string_equal(js(k, "key_hash"), hex);
		}
		uint64_t id = strtoull(js(k, "key_hash"), NULL, 16);
		assert_true(id >= 1 && id <= 5000);
		/* Space-Saving guarantee: count - error <= true <= count */
		if (!(c - err <= truth[id] && truth[id] <= c))
			fail_msg("key %llu: true %llu outside [%llu, %llu]", (unsigned long long)id,
				 (unsigned long long)truth[id], (unsigned long long)(c - err),
				 (unsigned long long)c);
	}
	/* unlisted keys occurred at most floor times */
	for (int k = 5; k <= 5000; k++)
		assert_true(truth[k] <= floor || truth[k] <= ju(v, "keys.top.4.count"));
	jv_free(v);
	char *t = analysis_text(a);
	assert_non_null(strstr(t, "(approximate: more than 100 keys"));
	assert_non_null(strstr(t, "Space-Saving"));
	free(t);
	mbx_analysis_destroy(a);
	free(ev);
}

/* HyperLogLog over a million distinct keys stays within 3%. */
static void analysis_hll_large(void **state)
{
	(void)state;
	struct mbx_analysis_opts o = {.key_cap = 1000};
	struct mbx_analysis *a = new_analysis(&o);
	const size_t blk = 4096, n = 1000000;
	struct mbx_event *ev = calloc(blk, sizeof(*ev));
	for (size_t i = 0; i < n; i += blk) {
		size_t m = MBX_MIN(blk, n - i);
		for (size_t k = 0; k < m; k++)
			ev[k] = mk(T0 + i + k, 1, TX, MBX_OP_SET, i + k + 1, 8, 10, MBX_OUT_STORED,
				   NL, 0);
		assert_int_equal(mbx_analysis_add(a, ev, m), 0);
	}
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	assert_close((double)ju(v, "keys.unique"), 1e6, 0.025, "HLL 1e6"); /* 3 sigma */
	jv_free(v);
	mbx_analysis_destroy(a);
	free(ev);
}

/* Connection ids above conn_cap are counted, not tracked one by one. */
static void analysis_conn_cap(void **state)
{
	(void)state;
	struct mbx_analysis_opts o = {.conn_cap = 10, .top_conns = 3};
	struct mbx_analysis *a = new_analysis(&o);
	struct mbx_event ev[150];
	for (int i = 0; i < 150; i++) /* conns 1..50, three events each, interleaved */
		ev[i] = mk(T0 + (uint64_t)i, 1 + (uint32_t)(i % 50), TX, MBX_OP_GET, 7, 1, 0,
			   MBX_OUT_MISS, 10, 0);
	ev[149].ts_ns = T0 + 149; /* conn 50 */
	assert_int_equal(mbx_analysis_add(a, ev, 150), 0);
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	assert_true(jb(v, "connections.approximate"));
	assert_int_equal(ju(v, "connections.distinct"), 50);
	assert_int_equal(ju(v, "connections.max_conn_id"), 50);
	assert_int_equal(ju(v, "connections.untracked_events"), 40 * 3);
	assert_int_equal(ju(v, "connections.ops_per_conn.count"), 10);
	assert_int_equal(jlen(v, "connections.top"), 3);
	assert_int_equal(ju(v, "connections.top.0.conn_id"), 1); /* ties: lower id first */
	assert_int_equal(ju(v, "requests.requests"), 150);
	jv_free(v);
	mbx_analysis_destroy(a);
}

/* Out-of-range bytes in events (a corrupt or newer profile) are counted
 * under "invalid", never used as indexes. */
static void analysis_invalid_fields(void **state)
{
	(void)state;
	struct mbx_analysis *a = new_analysis(NULL);
	struct mbx_event ev[3] = {
	    mk(T0, 1, 3, 200, 9, 1, 0, 250, 10, 0),
	    mk(T0 + 1, 1, TX, MBX_OP_GET, 9, 1, 0, 99, 10, 0),
	    mk(T0 - 5, 1, TX, MBX_OP_GET, 9, 1, 0, MBX_OUT_HIT, 10, 0), /* backwards */
	};
	assert_int_equal(mbx_analysis_add(a, ev, 3), 0);
	assert_int_equal(mbx_analysis_finish(a, NULL), 0);
	struct jv *v = analysis_json(a);
	const struct jv *r = op_or_fail(v, "invalid", "invalid");
	assert_int_equal(ju(r, "count"), 1);
	assert_int_equal(ju(r, "outcomes.invalid"), 1);
	assert_int_equal(ju(v, "summary.outcomes.invalid"), 2);
	assert_int_equal(ju(v, "summary.time_backwards"), 1);
	assert_int_equal(ju(v, "summary.first_ts_ns"), T0 - 5);
	assert_int_equal(ju(v, "time_series.before_start"), 1);
	assert_int_equal(ju(v, "keys.keyed_ops"), 2); /* the invalid op is class other */
	jv_free(v);
	free(analysis_text(a));
	mbx_analysis_destroy(a);
}

/* The shared report formatters (src/util/fmt.c), against hand-written
 * expectations: three significant digits, unit boundaries at 999.5. */
static void fmt_helpers(void **state)
{
	char b[32];
	(void)state;
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 0), "0 ns");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 999), "999 ns");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 1000), "1.00 us");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 41000), "41.0 us");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 999499), "999 us");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 999500), "1.00 ms");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 2500000000ULL), "2.50 s");
	assert_string_equal(mbx_fmt_ns(b, sizeof(b), 7200000000000ULL), "7200 s");
	assert_string_equal(mbx_fmt_sig3(b, sizeof(b), 1.25, "", "M"), "1.25M");
	assert_string_equal(mbx_fmt_sig3(b, sizeof(b), 98.2, " ", "KiB"), "98.2 KiB");
	assert_string_equal(mbx_fmt_sig3(b, sizeof(b), 9.996, "", "k"), "10.0k");
	assert_string_equal(mbx_fmt_pct(b, sizeof(b), 1, 3), "33.33%");
	assert_string_equal(mbx_fmt_pct(b, sizeof(b), 5, 0), "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(json_writer_layout),
	    cmocka_unit_test(json_writer_escapes_every_byte),
	    cmocka_unit_test(json_writer_doubles_round_trip),
	    cmocka_unit_test(json_writer_misuse),
	    cmocka_unit_test(inspect_text),
	    cmocka_unit_test(inspect_csv),
	    cmocka_unit_test(inspect_dates_match_gmtime),
	    cmocka_unit_test(analysis_hand_counted),
	    cmocka_unit_test(analysis_empty),
	    cmocka_unit_test(analysis_random_vs_reference),
	    cmocka_unit_test(analysis_time_series_coarsens),
	    cmocka_unit_test(analysis_key_cap_goes_approximate),
	    cmocka_unit_test(analysis_hll_large),
	    cmocka_unit_test(analysis_conn_cap),
	    cmocka_unit_test(analysis_invalid_fields),
	    cmocka_unit_test(fmt_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
