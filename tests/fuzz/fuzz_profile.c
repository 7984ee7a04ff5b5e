/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the profile reader, and behind it the analysis and the inspect
 * formatter (what `mbx analyze` and `mbx inspect` do with a file from
 * elsewhere).
 *
 * Input:
 *   byte 0  flags: bit 0 fix the checksums. Random mutations almost never
 *           keep a CRC32C valid, so without help the fuzzer would only test
 *           the checksum checks. With this bit the harness recomputes the
 *           header CRC, every block's payload and header CRC it can find by
 *           walking the blocks, and the trailer CRC, so that the fuzzer
 *           reaches the structural checks, the events and the footer.
 *   rest    the file
 *
 * The reader takes a path: the file is written to a memfd and opened as
 * /proc/self/fd/N. Oracles: sanitizers, and the reader's contract
 * (profile.h): an error message on every failure, strings NUL-terminated,
 * blocks of events in non-decreasing time order, -1 sticky, counters
 * bounded and NUL-terminated. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "mbx/analyze.h"
#include "mbx/hash.h"
#include "mbx/profile.h"
#include "profile/format.h"

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Recompute every checksum the structure lets us find. */
static void fix_crcs(uint8_t *b, size_t n)
{
	size_t off;

	if (n < PF_HDR_FIXED || memcmp(b, PF_MAGIC, PF_MAGIC_LEN) != 0)
		return;
	uint32_t hlen = get32(b + PF_H_LEN);
	if (hlen < 4 || hlen > n)
		return;
	put32(b + hlen - 4, mbx_crc32c(0, b, hlen - 4));
	for (off = hlen; off + PF_BLOCK_HDR_LEN <= n;) {
		uint8_t *h = b + off;
		if (memcmp(h, PF_BLOCK_MAGIC, 4) != 0)
			break;
		uint32_t plen = get32(h + PF_B_PAYLOAD_LEN);
		if (plen <= n - off - PF_BLOCK_HDR_LEN)
			put32(h + PF_B_PAYLOAD_CRC, mbx_crc32c(0, h + PF_BLOCK_HDR_LEN, plen));
		put32(h + PF_B_HEADER_CRC, mbx_crc32c(0, h, PF_B_HEADER_CRC));
		if (plen > n - off - PF_BLOCK_HDR_LEN)
			break;
		off += PF_BLOCK_HDR_LEN + plen;
	}
	if (n >= PF_TRAILER_LEN) {
		uint8_t *t = b + n - PF_TRAILER_LEN;
		if (memcmp(t + PF_T_MAGIC, PF_TRAILER_MAGIC, 4) == 0)
			put32(t + PF_T_CRC, mbx_crc32c(0, t, PF_T_CRC));
	}
}

/* ---- a strict JSON checker (RFC 8259): the report must parse anywhere ---- */

struct js {
	const char *p, *end;
	int depth;
};

static void js_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static bool js_lit(struct js *j, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool js_digits(struct js *j)
{
	const char *s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool js_number(struct js *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!js_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!js_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!js_digits(j))
			return false;
	}
	return true;
}

static bool js_string(struct js *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	for (j->p++; j->p < j->end; j->p++) {
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false; /* control characters must be escaped */
		if (c == '\\') {
			if (++j->p >= j->end)
				return false;
			if (*j->p == 'u') {
				for (int k = 0; k < 4; k++) {
					if (++j->p >= j->end || !*j->p ||
					    !strchr("0123456789abcdefABCDEF", *j->p))
						return false;
				}
			} else if (!*j->p || !strchr("\"\\/bfnrt", *j->p)) {
				return false;
			}
		}
	}
	return false;
}

static bool js_value(struct js *j)
{
	bool ok = true;
	js_ws(j);
	if (j->p >= j->end || ++j->depth > 64)
		return false;
	switch (*j->p) {
	case '{':
	case '[': {
		char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';
		j->p++;
		js_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			break;
		}
		for (;;) {
			if (obj) {
				js_ws(j);
				if (!js_string(j))
					return false;
				js_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return false;
			}
			if (!js_value(j))
				return false;
			js_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				break;
			}
			return false;
		}
		break;
	}
	case '"': ok = js_string(j); break;
	case 't': ok = js_lit(j, "true"); break;
	case 'f': ok = js_lit(j, "false"); break;
	case 'n': ok = js_lit(j, "null"); break;
	default: ok = js_number(j); break;
	}
	j->depth--;
	return ok;
}

static bool json_valid(const char *s, size_t n, size_t *at)
{
	struct js j = { s, s + n, 0 };
	bool ok = js_value(&j);
	js_ws(&j);
	*at = (size_t)(j.p - s);
	return ok && j.p == j.end;
}

static bool nul_within(const char *s, size_t n)
{
	return memchr(s, 0, n) != NULL;
}

static int memfd = -1;
static FILE *devnull;
static uint8_t *buf;
static size_t buf_cap;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[256];
	struct mbx_profile_reader *r;

	if (memfd < 0) {
		memfd = memfd_create("mbx-fuzz-profile", MFD_CLOEXEC);
		devnull = fopen("/dev/null", "w");
		FZ_CHECK(memfd >= 0 && devnull, "memfd_create or /dev/null failed");
	}
	if (size == 0)
		return 0;
	if (size > buf_cap) {
		free(buf);
		buf_cap = size;
		buf = malloc(buf_cap);
		FZ_CHECK(buf, "out of memory");
	}
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1)
		fix_crcs(buf, size - 1);
	FZ_CHECK(ftruncate(memfd, 0) == 0, "ftruncate failed");
	FZ_CHECK(pwrite(memfd, buf, size - 1, 0) == (ssize_t)(size - 1), "pwrite failed");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);

	err[0] = 0;
	errno = 0;
	r = mbx_profile_reader_open(path, err, sizeof(err));
	if (!r) {
		FZ_CHECK(errno != 0, "reader_open failed without errno");
		FZ_CHECK(err[0] != 0 && nul_within(err, sizeof(err)), "reader_open failed silently");
		return 0;
	}

	const struct mbx_profile_meta *meta = mbx_profile_reader_meta(r);
	FZ_CHECK(nul_within(meta->source, sizeof(meta->source)) &&
			 nul_within(meta->hostname, sizeof(meta->hostname)) &&
			 nul_within(meta->mbx_version, sizeof(meta->mbx_version)),
		 "meta string without NUL");
	FZ_CHECK(meta->nports <= MBX_PROFILE_MAX_PORTS, "nports %u", meta->nports);

	struct mbx_analysis_opts ao = {
		.top_keys = 5,
		.max_points = 64,
		.text_rows = 8,
		.key_cap = 512,	 /* approximate modes too */
		.conn_cap = 512, /* a hostile conn id must not cost memory */
		.topk_capacity = 16,
	};
	struct mbx_analysis *a = mbx_analysis_new(&ao);
	FZ_CHECK(a, "mbx_analysis_new failed");
	struct mbx_inspect ins[2];
	mbx_inspect_init(&ins[0], MBX_INSPECT_TEXT, true);
	mbx_inspect_init(&ins[1], MBX_INSPECT_CSV, false);
	mbx_inspect_write_header(&ins[0], devnull);
	mbx_inspect_write_header(&ins[1], devnull);

	const struct mbx_event *ev;
	size_t n;
	int rc;
	uint64_t last_ts = 0, total = 0, shown = 0;
	while ((rc = mbx_profile_reader_next(r, &ev, &n)) == 1) {
		FZ_CHECK(n > 0 && n <= MBX_PROFILE_MAX_BLOCK_EVENTS, "block of %zu events", n);
		for (size_t i = 0; i < n; i++) {
			FZ_CHECK(ev[i].ts_ns >= last_ts, "events out of time order");
			last_ts = ev[i].ts_ns;
			if (shown < 256) {
				mbx_inspect_write_event(&ins[shown & 1], devnull, &ev[i]);
				shown++;
			}
		}
		mbx_analysis_add(a, ev, n);
		total += n;
	}
	const char *rerr = NULL;
	if (rc < 0) {
		rerr = mbx_profile_reader_error(r);
		FZ_CHECK(rerr && rerr[0], "reader_next failed without a message");
		FZ_CHECK(mbx_profile_reader_next(r, &ev, &n) == -1, "reader error not sticky");
	}
	const struct mbx_profile_totals *tot = mbx_profile_reader_totals(r);
	FZ_CHECK(tot->events == total, "reader totals %llu events, read %llu",
		 (unsigned long long)tot->events, (unsigned long long)total);

	struct mbx_analysis_source src = { .path = "fuzz.mbx", .meta = meta, .error = rerr };
	if (rc == 0) {
		uint64_t ignored = 0;
		size_t nc = 0;
		src.state = mbx_profile_reader_state(r, &ignored);
		src.ignored_bytes = ignored;
		const struct mbx_counter_kv *kv = mbx_profile_reader_counters(r, &nc);
		FZ_CHECK(nc <= MBX_PROFILE_MAX_COUNTERS, "%zu counters", nc);
		for (size_t i = 0; i < nc; i++)
			FZ_CHECK(nul_within(kv[i].name, sizeof(kv[i].name)), "counter name without NUL");
		src.counters = kv;
		src.ncounters = nc;
		if (src.state == MBX_PROFILE_OK)
			src.totals = tot;
	}
	FZ_CHECK(mbx_analysis_finish(a, &src) == 0, "analysis_finish failed");
	mbx_analysis_write_text(a, devnull);
	fflush(devnull);
	char *json = NULL;
	size_t jlen = 0, at = 0;
	FILE *jf = open_memstream(&json, &jlen);
	FZ_CHECK(jf, "open_memstream failed");
	FZ_CHECK(mbx_analysis_write_json(a, jf, total & 1) == 0, "write_json failed");
	fclose(jf);
	FZ_CHECK(json_valid(json, jlen, &at), "invalid JSON report at byte %zu: %.60s", at,
		 json + MBX_MIN(at, jlen));
	free(json);
	mbx_analysis_destroy(a);
	mbx_profile_reader_close(r);
	return 0;
}
