/* SPDX-License-Identifier: Apache-2.0 */
/* `mbx inspect`: one line per event, as aligned text or RFC 4180 CSV.
 * Lines are formatted into a stack buffer by hand (no printf per event):
 * inspect of a large profile is bound by this loop. */
#include <errno.h>

#include "mbx/analyze.h"

#define LINE_MAX_LEN 256

struct line {
	char b[LINE_MAX_LEN];
	size_t n;
};

static void put_ch(struct line *l, char c)
{
	if (l->n < LINE_MAX_LEN)
		l->b[l->n++] = c;
}

static void put_str(struct line *l, const char *s)
{
	while (*s)
		put_ch(l, *s++);
}

/* Left-aligned in width columns (at least one trailing space is the caller's). */
static void put_left(struct line *l, const char *s, size_t width)
{
	size_t start = l->n;
	put_str(l, s);
	while (l->n - start < width)
		put_ch(l, ' ');
}

static size_t fmt_u64(char *tmp, uint64_t v)
{
	char rev[20];
	size_t n = 0;
	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		tmp[i] = rev[n - 1 - i];
	tmp[n] = '\0';
	return n;
}

static void put_u64(struct line *l, uint64_t v)
{
	char tmp[24];
	fmt_u64(tmp, v);
	put_str(l, tmp);
}

/* Right-aligned in width columns. */
static void put_right(struct line *l, const char *s, size_t width)
{
	size_t len = strlen(s);
	for (size_t i = len; i < width; i++)
		put_ch(l, ' ');
	put_str(l, s);
}

static void put_u64_right(struct line *l, uint64_t v, size_t width)
{
	char tmp[24];
	fmt_u64(tmp, v);
	put_right(l, tmp, width);
}

/* v zero-padded to exactly digits digits. */
static void put_u64_zero(struct line *l, uint64_t v, unsigned digits)
{
	char tmp[24];
	for (unsigned i = digits; i-- > 0;) {
		tmp[i] = (char)('0' + v % 10);
		v /= 10;
	}
	tmp[digits] = '\0';
	put_str(l, tmp);
}

static void put_hex64(struct line *l, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	for (int s = 60; s >= 0; s -= 4)
		put_ch(l, hex[(v >> s) & 15]);
}

/* Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's
 * civil_from_days). */
static void civil_from_days(uint64_t days, uint64_t *y, unsigned *m, unsigned *d)
{
	uint64_t z = days + 719468;
	uint64_t era = z / 146097;
	uint64_t doe = z - era * 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* 2024-05-01T12:00:00.123456789Z (30 characters for years 0000-9999) */
static void put_iso8601(struct line *l, uint64_t ts_ns)
{
	uint64_t sec = ts_ns / MBX_NSEC_PER_SEC, y;
	unsigned m, d, sod = (unsigned)(sec % 86400);

	civil_from_days(sec / 86400, &y, &m, &d);
	put_u64_zero(l, y, y > 9999 ? 5 : 4);
	put_ch(l, '-');
	put_u64_zero(l, m, 2);
	put_ch(l, '-');
	put_u64_zero(l, d, 2);
	put_ch(l, 'T');
	put_u64_zero(l, sod / 3600, 2);
	put_ch(l, ':');
	put_u64_zero(l, sod / 60 % 60, 2);
	put_ch(l, ':');
	put_u64_zero(l, sod % 60, 2);
	put_ch(l, '.');
	put_u64_zero(l, ts_ns % MBX_NSEC_PER_SEC, 9);
	put_ch(l, 'Z');
}

/* Signed seconds with 9 decimals, right-aligned in width. */
static void put_rel_seconds(struct line *l, uint64_t ts, uint64_t t0, size_t width)
{
	struct line t = {.n = 0};
	uint64_t d = ts >= t0 ? ts - t0 : t0 - ts;

	if (ts < t0)
		put_ch(&t, '-');
	put_u64(&t, d / MBX_NSEC_PER_SEC);
	put_ch(&t, '.');
	put_u64_zero(&t, d % MBX_NSEC_PER_SEC, 9);
	put_ch(&t, '\0');
	put_right(l, t.b, width);
}

void mbx_inspect_init(struct mbx_inspect *in, enum mbx_inspect_format format, bool relative)
{
	memset(in, 0, sizeof(*in));
	in->format = format;
	in->relative = relative;
}

/* Text column widths; the header and the lines share them. */
#define W_TIME_ABS 30
#define W_TIME_REL 16
#define W_CONN	   8
#define W_PROTO	   6
#define W_OP	   15
#define W_HASH	   16
#define W_KLEN	   4
#define W_VLEN	   10
#define W_OUT	   12
#define W_LAT	   12

static int flush_line(struct line *l, FILE *f)
{
	fwrite(l->b, 1, l->n, f);
	return ferror(f) ? -EIO : 0;
}

int mbx_inspect_write_header(const struct mbx_inspect *in, FILE *f)
{
	struct line l = {.n = 0};

	if (in->format == MBX_INSPECT_CSV) {
		put_str(&l, in->relative ? "rel_ns" : "ts_ns");
		put_str(&l, ",conn_id,proto,op,key_hash,key_len,value_len,outcome,latency_ns,"
			    "batch_cont,quiet,variant\r\n");
		return flush_line(&l, f);
	}
	if (in->relative)
		put_right(&l, "time_s", W_TIME_REL);
	else
		put_left(&l, "time", W_TIME_ABS);
	put_ch(&l, ' ');
	put_right(&l, "conn", W_CONN);
	put_ch(&l, ' ');
	put_left(&l, "proto", W_PROTO);
	put_ch(&l, ' ');
	put_left(&l, "op", W_OP);
	put_ch(&l, ' ');
	put_left(&l, "key_hash", W_HASH);
	put_ch(&l, ' ');
	put_right(&l, "klen", W_KLEN);
	put_ch(&l, ' ');
	put_right(&l, "vlen", W_VLEN);
	put_ch(&l, ' ');
	put_left(&l, "outcome", W_OUT);
	put_ch(&l, ' ');
	put_right(&l, "lat_us", W_LAT);
	put_str(&l, " flags\n");
	return flush_line(&l, f);
}

static void put_flags(struct line *l, const struct mbx_event *ev)
{
	size_t start = l->n;
	unsigned var = mbx_ev_variant(ev);

	if (ev->flags & MBX_EV_F_BATCH_CONT)
		put_str(l, "batch,");
	if (ev->flags & MBX_EV_F_QUIET)
		put_str(l, "quiet,");
	if (ev->flags & MBX_EV_F_KEY_CLAMPED)
		put_str(l, "kclamp,");
	if (var) {
		put_str(l, "v");
		put_u64(l, var);
		put_ch(l, ',');
	}
	if (l->n == start)
		put_ch(l, '-');
	else
		l->n--; /* trailing comma */
}

static void write_text(struct mbx_inspect *in, struct line *l, const struct mbx_event *ev)
{
	if (in->relative)
		put_rel_seconds(l, ev->ts_ns, in->t0_ns, W_TIME_REL);
	else
		put_iso8601(l, ev->ts_ns);
	put_ch(l, ' ');
	put_u64_right(l, ev->conn_id, W_CONN);
	put_ch(l, ' ');
	put_left(l, mbx_proto_name(mbx_ev_proto(ev)), W_PROTO);
	put_ch(l, ' ');
	put_left(l, mbx_op_name(ev->op), W_OP);
	put_ch(l, ' ');
	if (ev->key_hash)
		put_hex64(l, ev->key_hash);
	else
		put_left(l, "-", W_HASH);
	put_ch(l, ' ');
	put_u64_right(l, ev->key_len, W_KLEN);
	put_ch(l, ' ');
	put_u64_right(l, ev->value_len, W_VLEN);
	put_ch(l, ' ');
	put_left(l, mbx_outcome_name(ev->outcome), W_OUT);
	put_ch(l, ' ');
	if (ev->latency_ns == MBX_LAT_NONE) {
		put_right(l, "-", W_LAT);
	} else {
		struct line t = {.n = 0};
		put_u64(&t, ev->latency_ns / 1000);
		put_ch(&t, '.');
		put_u64_zero(&t, ev->latency_ns % 1000, 3);
		put_ch(&t, '\0');
		put_right(l, t.b, W_LAT);
	}
	put_ch(l, ' ');
	put_flags(l, ev);
	put_ch(l, '\n');
}

static void write_csv(struct mbx_inspect *in, struct line *l, const struct mbx_event *ev)
{
	/* Names are fixed identifiers (no comma, quote or newline): no quoting needed. */
	if (in->relative) {
		if (ev->ts_ns < in->t0_ns) {
			put_ch(l, '-');
			put_u64(l, in->t0_ns - ev->ts_ns);
		} else {
			put_u64(l, ev->ts_ns - in->t0_ns);
		}
	} else {
		put_u64(l, ev->ts_ns);
	}
	put_ch(l, ',');
	put_u64(l, ev->conn_id);
	put_ch(l, ',');
	put_str(l, mbx_proto_name(mbx_ev_proto(ev)));
	put_ch(l, ',');
	put_str(l, mbx_op_name(ev->op));
	put_ch(l, ',');
	put_hex64(l, ev->key_hash);
	put_ch(l, ',');
	put_u64(l, ev->key_len);
	put_ch(l, ',');
	put_u64(l, ev->value_len);
	put_ch(l, ',');
	put_str(l, mbx_outcome_name(ev->outcome));
	put_ch(l, ',');
	if (ev->latency_ns != MBX_LAT_NONE)
		put_u64(l, ev->latency_ns);
	put_ch(l, ',');
	put_ch(l, (ev->flags & MBX_EV_F_BATCH_CONT) ? '1' : '0');
	put_ch(l, ',');
	put_ch(l, (ev->flags & MBX_EV_F_QUIET) ? '1' : '0');
	put_ch(l, ',');
	put_u64(l, mbx_ev_variant(ev));
	put_str(l, "\r\n");
}

int mbx_inspect_write_event(struct mbx_inspect *in, FILE *f, const struct mbx_event *ev)
{
	struct line l = {.n = 0};

	if (!in->have_t0) {
		in->t0_ns = ev->ts_ns;
		in->have_t0 = true;
	}
	if (in->format == MBX_INSPECT_CSV)
		write_csv(in, &l, ev);
	else
		write_text(in, &l, ev);
	return flush_line(&l, f);
}
