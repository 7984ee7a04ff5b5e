/* SPDX-License-Identifier: Apache-2.0 */
/* Profile reader: streams a profile in constant memory (one block buffer and
 * two counter arrays, sized at open), validating every block as it goes.
 * Never seeks, so it also reads a pipe. Layout: docs/profile-format.md.
 *
 * Every byte of the file is either covered by a CRC32C or compared with the
 * value it must have, so a corrupt file is reported, never read as different
 * events. A file that simply stops (recorder killed, disk full) is not an
 * error: the complete blocks are returned and the state says INCOMPLETE. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mbx/hash.h"
#include "mbx/profile.h"
#include "profile/format.h"

#define SCRATCH_MIN ((size_t)64 * 1024) /* chunk for streaming the footer index */

enum rstatus {
	R_READING = 0,
	R_DONE = 1,
	R_FAILED = -1,
};

struct mbx_profile_reader {
	int fd;
	enum rstatus status;
	int fail_errno;
	enum mbx_profile_state state;
	uint64_t ignored;
	uint64_t pos; /* file offset of the next byte to read */
	unsigned major, minor;
	uint32_t block_events;
	uint64_t seq; /* expected sequence number of the next block */
	uint64_t last_ts;
	uint64_t stats_blocks;
	uint32_t index_crc; /* CRC32C over the offsets of the EVENTS blocks read */
	uint8_t *buf;	    /* event block buffer, also scratch; buf_len bytes */
	size_t buf_len;
	struct mbx_counter_kv *kv, *kv_tmp; /* MBX_PROFILE_MAX_COUNTERS each */
	size_t nkv;
	struct mbx_profile_meta meta;
	struct mbx_profile_totals totals;
	char err[320];
};

/* Read up to len bytes; fewer only at end of file. Returns bytes or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t k = read(fd, p + got, len - got);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

static ssize_t rd(struct mbx_profile_reader *r, void *buf, size_t len)
{
	ssize_t got = read_full(r->fd, buf, len);

	if (got > 0)
		r->pos += (uint64_t)got;
	return got;
}

static int fail(struct mbx_profile_reader *r, int errnum, const char *fmt, ...) MBX_PRINTF(3, 4);
static int fail(struct mbx_profile_reader *r, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->status = R_FAILED;
	r->fail_errno = errnum;
	errno = errnum;
	return -1;
}

/* Corruption in the block that starts at off: name the block and say what is
 * still usable. */
static int bad_block(struct mbx_profile_reader *r, uint64_t off, const char *fmt, ...)
    MBX_PRINTF(3, 4);
static int bad_block(struct mbx_profile_reader *r, uint64_t off, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(r, EBADMSG,
		    "block %" PRIu64 " at offset %" PRIu64 ": %s (the file is damaged here; "
		    "the %" PRIu64 " events before this block are intact)",
		    r->seq, off, what, r->totals.events);
}

static int io_error(struct mbx_profile_reader *r, ssize_t rc)
{
	return fail(r, (int)-rc, "read error at offset %" PRIu64 ": %s", r->pos,
		    strerror((int)-rc));
}

/* The data stops inside the block that starts at off (or right at it). */
static int incomplete(struct mbx_profile_reader *r, uint64_t off)
{
	r->status = R_DONE;
	r->state = MBX_PROFILE_INCOMPLETE;
	r->ignored = r->pos - off;
	return 0;
}

/* Read len bytes into dst (or through the scratch buffer if dst is NULL),
 * folding them into *crc and, if icrc is given, into *icrc too. Returns the
 * bytes read (fewer at end of file) or -errno. */
static ssize_t stream(struct mbx_profile_reader *r, uint8_t *dst, uint64_t len, uint32_t *crc,
		      uint32_t *icrc)
{
	uint64_t done = 0;

	while (done < len) {
		size_t k = dst ? (size_t)(len - done) : (size_t)MBX_MIN(len - done, r->buf_len);
		uint8_t *p = dst ? dst + done : r->buf;
		ssize_t got = rd(r, p, k);

		if (got < 0)
			return got;
		*crc = mbx_crc32c(*crc, p, (size_t)got);
		if (icrc)
			*icrc = mbx_crc32c(*icrc, p, (size_t)got);
		done += (uint64_t)got;
		if ((size_t)got < k)
			break;
	}
	return (ssize_t)done;
}

static bool names_ok(const struct mbx_counter_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memchr(kv[i].name, 0, sizeof(kv[i].name)))
			return false;
	return true;
}

static void swap_kv(struct mbx_profile_reader *r, size_t n)
{
	struct mbx_counter_kv *t = r->kv;

	r->kv = r->kv_tmp;
	r->kv_tmp = t;
	r->nkv = n;
}

static int read_events(struct mbx_profile_reader *r, const uint8_t *h, uint64_t off, size_t *n)
{
	uint32_t count = pf_get32(h + PF_B_COUNT);
	uint32_t len = pf_get32(h + PF_B_PAYLOAD_LEN);
	uint64_t first = pf_get64(h + PF_B_FIRST_TS);
	uint64_t last = pf_get64(h + PF_B_LAST_TS);
	const struct mbx_event *ev = (const struct mbx_event *)(const void *)r->buf;
	ssize_t got;

	if (count == 0 || count > r->block_events)
		return bad_block(r, off,
				 "claims %" PRIu32 " events, the header allows 1 to %" PRIu32,
				 count, r->block_events);
	if (len != count * (uint32_t)sizeof(struct mbx_event))
		return bad_block(r, off,
				 "payload length %" PRIu32 " does not match %" PRIu32 " events",
				 len, count);
	if (first > last)
		return bad_block(r, off, "first timestamp %" PRIu64 " after last %" PRIu64, first,
				 last);
	if (first < r->last_ts)
		return bad_block(r, off,
				 "time goes backwards: block starts at %" PRIu64
				 " ns, the previous block ended at %" PRIu64,
				 first, r->last_ts);
	got = rd(r, r->buf, len);
	if (got < 0)
		return io_error(r, got);
	if ((size_t)got < len)
		return incomplete(r, off);
	if (mbx_crc32c(0, r->buf, len) != pf_get32(h + PF_B_PAYLOAD_CRC))
		return bad_block(r, off, "checksum mismatch");
	if (ev[0].ts_ns != first || ev[count - 1].ts_ns != last)
		return bad_block(r, off, "event times disagree with the block header");
	for (uint32_t i = 1; i < count; i++)
		if (ev[i].ts_ns < ev[i - 1].ts_ns)
			return bad_block(r, off, "event %" PRIu32 " goes back in time", i);

	r->index_crc = mbx_crc32c(r->index_crc, &off, sizeof(off));
	if (r->totals.events == 0)
		r->totals.first_ts = first;
	r->totals.events += count;
	r->totals.blocks++;
	r->totals.last_ts = last;
	r->last_ts = last;
	r->seq++;
	*n = count;
	return 1;
}

/* Returns 1 when the block was consumed, else what next() returns. */
static int read_stats(struct mbx_profile_reader *r, const uint8_t *h, uint64_t off)
{
	uint32_t count = pf_get32(h + PF_B_COUNT);
	uint32_t len = pf_get32(h + PF_B_PAYLOAD_LEN);
	uint64_t first = pf_get64(h + PF_B_FIRST_TS);
	uint64_t last = pf_get64(h + PF_B_LAST_TS);
	ssize_t got;

	if (count > MBX_PROFILE_MAX_COUNTERS)
		return bad_block(r, off, "stats block claims %" PRIu32 " counters (at most %d)",
				 count, MBX_PROFILE_MAX_COUNTERS);
	if (len != count * PF_KV_LEN)
		return bad_block(r, off,
				 "payload length %" PRIu32 " does not match %" PRIu32 " counters",
				 len, count);
	if (first != r->last_ts || last != r->last_ts)
		return bad_block(r, off,
				 "stats block time %" PRIu64 "/%" PRIu64
				 " is not the last event time %" PRIu64,
				 first, last, r->last_ts);
	got = rd(r, r->kv_tmp, len);
	if (got < 0)
		return io_error(r, got);
	if ((size_t)got < len)
		return incomplete(r, off);
	if (mbx_crc32c(0, r->kv_tmp, len) != pf_get32(h + PF_B_PAYLOAD_CRC))
		return bad_block(r, off, "checksum mismatch");
	if (!names_ok(r->kv_tmp, count))
		return bad_block(r, off, "counter name without terminating NUL");
	swap_kv(r, count);
	r->stats_blocks++;
	r->seq++;
	return 1;
}

/* A block type from a newer minor version: checked and skipped. */
static int skip_block(struct mbx_profile_reader *r, const uint8_t *h, uint64_t off)
{
	uint32_t len = pf_get32(h + PF_B_PAYLOAD_LEN);
	uint32_t crc = 0;
	ssize_t got = stream(r, NULL, len, &crc, NULL);

	if (got < 0)
		return io_error(r, got);
	if ((size_t)got < len)
		return incomplete(r, off);
	if (crc != pf_get32(h + PF_B_PAYLOAD_CRC))
		return bad_block(r, off, "checksum mismatch");
	r->seq++;
	return 1;
}

static int mismatch(struct mbx_profile_reader *r, uint64_t off, const char *what, uint64_t footer,
		    uint64_t seen)
{
	return fail(r, EBADMSG,
		    "footer at offset %" PRIu64 " says %s is %" PRIu64
		    " but the blocks give %" PRIu64
		    ": the file was modified after it was written; its events may be incomplete",
		    off, what, footer, seen);
}

static int read_footer(struct mbx_profile_reader *r, const uint8_t *h, uint64_t off)
{
	uint32_t nb = pf_get32(h + PF_B_COUNT);
	uint32_t len = pf_get32(h + PF_B_PAYLOAD_LEN);
	uint8_t fx[PF_FOOTER_FIXED], t[PF_TRAILER_LEN], exp[PF_TRAILER_LEN], extra;
	uint32_t crc = 0, icrc = 0;
	uint64_t nc = 0, rest;
	bool sane;
	ssize_t got;

	if (nb != r->totals.blocks)
		return mismatch(r, off, "the number of EVENTS blocks", nb, r->totals.blocks);
	if (pf_get64(h + PF_B_FIRST_TS) != r->totals.first_ts)
		return mismatch(r, off, "the first time", pf_get64(h + PF_B_FIRST_TS),
				r->totals.first_ts);
	if (pf_get64(h + PF_B_LAST_TS) != r->totals.last_ts)
		return mismatch(r, off, "the last time", pf_get64(h + PF_B_LAST_TS),
				r->totals.last_ts);
	if (len < PF_FOOTER_FIXED)
		return bad_block(r, off, "footer payload of %" PRIu32 " bytes is too short", len);

	got = stream(r, fx, PF_FOOTER_FIXED, &crc, NULL);
	if (got < 0)
		return io_error(r, got);
	if (got < PF_FOOTER_FIXED)
		return incomplete(r, off);
	/* Sizes come from a payload whose CRC is not known yet: if they do not
	 * fit, read on to tell corruption from inconsistency. */
	nc = pf_get64(fx + PF_F_NCOUNTERS);
	sane = nc <= MBX_PROFILE_MAX_COUNTERS && pf_get64(fx + PF_F_EVENT_BLOCKS) == nb &&
	       PF_FOOTER_FIXED + nc * PF_KV_LEN + (uint64_t)nb * 8 <= len;
	rest = len - PF_FOOTER_FIXED;
	if (sane) {
		got = stream(r, (uint8_t *)r->kv_tmp, nc * PF_KV_LEN, &crc, NULL);
		if (got < 0)
			return io_error(r, got);
		if ((uint64_t)got < nc * PF_KV_LEN)
			return incomplete(r, off);
		got = stream(r, NULL, (uint64_t)nb * 8, &crc, &icrc);
		if (got < 0)
			return io_error(r, got);
		if ((uint64_t)got < (uint64_t)nb * 8)
			return incomplete(r, off);
		rest -= nc * PF_KV_LEN + (uint64_t)nb * 8;
	}
	got = stream(r, NULL, rest, &crc, NULL);
	if (got < 0)
		return io_error(r, got);
	if ((uint64_t)got < rest)
		return incomplete(r, off);
	if (crc != pf_get32(h + PF_B_PAYLOAD_CRC))
		return bad_block(r, off, "footer checksum mismatch");
	if (!sane)
		return bad_block(r, off, "footer sizes are inconsistent (%" PRIu64 " counters)",
				 nc);
	if (pf_get64(fx + PF_F_EVENTS) != r->totals.events)
		return mismatch(r, off, "the number of events", pf_get64(fx + PF_F_EVENTS),
				r->totals.events);
	if (pf_get64(fx + PF_F_STATS_BLOCKS) != r->stats_blocks)
		return mismatch(r, off, "the number of stats blocks",
				pf_get64(fx + PF_F_STATS_BLOCKS), r->stats_blocks);
	if (pf_get64(fx + PF_F_FIRST_TS) != r->totals.first_ts)
		return mismatch(r, off, "the first time", pf_get64(fx + PF_F_FIRST_TS),
				r->totals.first_ts);
	if (pf_get64(fx + PF_F_LAST_TS) != r->totals.last_ts)
		return mismatch(r, off, "the last time", pf_get64(fx + PF_F_LAST_TS),
				r->totals.last_ts);
	if (icrc != r->index_crc)
		return fail(r, EBADMSG,
			    "footer at offset %" PRIu64
			    ": the block index does not match the blocks of the file",
			    off);
	if (!names_ok(r->kv_tmp, (size_t)nc))
		return bad_block(r, off, "counter name without terminating NUL");
	/* The final counters; a writer that closed without any leaves the
	 * last stats block's in place. */
	if (nc > 0)
		swap_kv(r, (size_t)nc);
	r->seq++;

	/* The trailer is fully determined by the footer: compare every byte. */
	pf_put64(exp + PF_T_FOOTER_OFF, off);
	pf_put64(exp + PF_T_FOOTER_LEN, PF_BLOCK_HDR_LEN + (uint64_t)len);
	memcpy(exp + PF_T_MAGIC, PF_TRAILER_MAGIC, 4);
	pf_put32(exp + PF_T_CRC, mbx_crc32c(0, exp, PF_T_CRC));
	off = r->pos;
	got = rd(r, t, sizeof(t));
	if (got < 0)
		return io_error(r, got);
	if (memcmp(t, exp, (size_t)got) != 0)
		return fail(r, EBADMSG,
			    "trailer at offset %" PRIu64
			    " does not match the footer: the end of the file is damaged "
			    "(all %" PRIu64 " events were read)",
			    off, r->totals.events);
	if ((size_t)got < sizeof(t))
		return incomplete(r, off);
	got = rd(r, &extra, 1);
	if (got < 0)
		return io_error(r, got);
	if (got > 0)
		return fail(r, EBADMSG,
			    "unexpected data after the end of the profile at offset %" PRIu64
			    ": the file was appended to or is damaged (all %" PRIu64
			    " events were read)",
			    r->pos - 1, r->totals.events);
	r->status = R_DONE;
	r->state = MBX_PROFILE_OK;
	r->ignored = 0;
	return 0;
}

int mbx_profile_reader_next(struct mbx_profile_reader *r, const struct mbx_event **ev, size_t *n)
{
	uint8_t h[PF_BLOCK_HDR_LEN];

	for (;;) {
		uint64_t off = r->pos;
		ssize_t got;
		int rc;

		if (r->status == R_FAILED) {
			errno = r->fail_errno;
			return -1;
		}
		if (r->status == R_DONE)
			return 0;
		got = rd(r, h, sizeof(h));
		if (got < 0)
			return io_error(r, got);
		if ((size_t)got < sizeof(h))
			return incomplete(r, off);
		if (memcmp(h + PF_B_MAGIC, PF_BLOCK_MAGIC, 4) != 0)
			return bad_block(r, off, "no block header here (bad magic)");
		if (mbx_crc32c(0, h, PF_B_HEADER_CRC) != pf_get32(h + PF_B_HEADER_CRC))
			return bad_block(r, off, "block header checksum mismatch");
		if (pf_get64(h + PF_B_SEQ) != r->seq)
			return bad_block(r, off,
					 "sequence number %" PRIu64 " where %" PRIu64
					 " was expected (blocks missing or repeated)",
					 pf_get64(h + PF_B_SEQ), r->seq);
		switch (pf_get16(h + PF_B_TYPE)) {
		case PF_BLOCK_EVENTS:
			rc = read_events(r, h, off, n);
			if (rc == 1)
				*ev = (const struct mbx_event *)(const void *)r->buf;
			return rc;
		case PF_BLOCK_STATS:
			rc = read_stats(r, h, off);
			break;
		case PF_BLOCK_FOOTER:
			return read_footer(r, h, off);
		default:
			rc = skip_block(r, h, off);
			break;
		}
		if (rc != 1)
			return rc;
	}
}

static int open_fail(struct mbx_profile_reader *r, char *err, size_t errlen, int errnum,
		     const char *fmt, ...) MBX_PRINTF(5, 6);
static int open_fail(struct mbx_profile_reader *r, char *err, size_t errlen, int errnum,
		     const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	mbx_profile_reader_close(r);
	errno = errnum;
	return -1;
}

static bool field_str(char *dst, const uint8_t *src, size_t len)
{
	memcpy(dst, src, len);
	return memchr(dst, 0, len) != NULL;
}

static int parse_header(struct mbx_profile_reader *r, const uint8_t *h, char *err, size_t errlen)
{
	struct mbx_profile_meta *m = &r->meta;
	uint32_t esz = pf_get32(h + PF_H_EVENT_SIZE);

	if (esz != sizeof(struct mbx_event))
		return open_fail(
		    r, err, errlen, ENOTSUP,
		    "event size %" PRIu32 " is not supported (this mbx reads 32-byte events)", esz);
	r->block_events = pf_get32(h + PF_H_BLOCK_EVENTS);
	if (r->block_events == 0 || r->block_events > MBX_PROFILE_MAX_BLOCK_EVENTS)
		return open_fail(r, err, errlen, EBADMSG,
				 "corrupt header: block size %" PRIu32 " events (must be 1 to %d)",
				 r->block_events, MBX_PROFILE_MAX_BLOCK_EVENTS);
	m->created_ns = pf_get64(h + PF_H_CREATED_NS);
	m->salt_fingerprint = pf_get64(h + PF_H_SALT_FP);
	m->linktype = pf_get32(h + PF_H_LINKTYPE);
	m->snaplen = pf_get32(h + PF_H_SNAPLEN);
	if (pf_get32(h + PF_H_NPORTS) > MBX_PROFILE_MAX_PORTS)
		return open_fail(r, err, errlen, EBADMSG, "corrupt header: %" PRIu32 " ports",
				 pf_get32(h + PF_H_NPORTS));
	m->nports = (uint16_t)pf_get32(h + PF_H_NPORTS);
	for (size_t i = 0; i < MBX_PROFILE_MAX_PORTS; i++)
		m->ports[i] = pf_get16(h + PF_H_PORTS + 2 * i);
	if (!field_str(m->source, h + PF_H_SOURCE, sizeof(m->source)) ||
	    !field_str(m->hostname, h + PF_H_HOSTNAME, sizeof(m->hostname)) ||
	    !field_str(m->mbx_version, h + PF_H_VERSION, sizeof(m->mbx_version)))
		return open_fail(r, err, errlen, EBADMSG,
				 "corrupt header: unterminated text field");
	return 0;
}

struct mbx_profile_reader *mbx_profile_reader_open(const char *path, char *err, size_t errlen)
{
	struct mbx_profile_reader *r;
	uint8_t fixed[PF_HDR_FIXED], *h = NULL;
	uint32_t hlen;
	ssize_t got;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r) {
		open_fail(NULL, err, errlen, ENOMEM, "out of memory");
		return NULL;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = errno;
		open_fail(r, err, errlen, rc, "cannot open: %s", strerror(rc));
		return NULL;
	}
	(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	got = rd(r, fixed, sizeof(fixed));
	if (got < 0) {
		open_fail(r, err, errlen, (int)-got, "read error: %s", strerror((int)-got));
		return NULL;
	}
	if (memcmp(fixed, PF_MAGIC, (size_t)MBX_MIN(got, PF_MAGIC_LEN)) != 0) {
		open_fail(r, err, errlen, EINVAL, "not an mbx profile (no MBXPROF magic)");
		return NULL;
	}
	if (got == 0) {
		open_fail(r, err, errlen, EBADMSG,
			  "empty file: not an mbx profile (the recorder may have stopped "
			  "before writing anything)");
		return NULL;
	}
	if ((size_t)got < sizeof(fixed)) {
		open_fail(r, err, errlen, EBADMSG,
			  "truncated header (%zd bytes): the recorder stopped before writing it, "
			  "or the file was cut",
			  got);
		return NULL;
	}
	r->major = pf_get16(fixed + PF_H_MAJOR);
	r->minor = pf_get16(fixed + PF_H_MINOR);
	/* Before the CRC: another major version may lay its header out
	 * differently, CRC included. */
	if (r->major != MBX_PROFILE_VERSION_MAJOR) {
		open_fail(r, err, errlen, ENOTSUP,
			  "unsupported profile version %u.%u (this mbx reads %d.x): use the mbx "
			  "release that wrote it",
			  r->major, r->minor, MBX_PROFILE_VERSION_MAJOR);
		return NULL;
	}
	hlen = pf_get32(fixed + PF_H_LEN);
	if (hlen < PF_HDR_LEN_V1 || hlen > PF_HDR_LEN_MAX) {
		open_fail(r, err, errlen, EBADMSG,
			  "corrupt header: length %" PRIu32 " (must be %d to %d)", hlen,
			  PF_HDR_LEN_V1, PF_HDR_LEN_MAX);
		return NULL;
	}
	h = malloc(hlen);
	if (!h) {
		open_fail(r, err, errlen, ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(h, fixed, sizeof(fixed));
	got = rd(r, h + sizeof(fixed), hlen - sizeof(fixed));
	if (got < 0) {
		open_fail(r, err, errlen, (int)-got, "read error: %s", strerror((int)-got));
		goto fail;
	}
	if ((size_t)got < hlen - sizeof(fixed)) {
		open_fail(r, err, errlen, EBADMSG,
			  "truncated header (%" PRIu64 " of %" PRIu32
			  " bytes): the recorder stopped before writing it, or the file was cut",
			  r->pos, hlen);
		goto fail;
	}
	if (mbx_crc32c(0, h, hlen - 4) != pf_get32(h + hlen - 4)) {
		open_fail(r, err, errlen, EBADMSG, "header checksum mismatch: the file is damaged");
		goto fail;
	}
	if (parse_header(r, h, err, errlen) < 0)
		goto fail;
	free(h);
	h = NULL;

	r->buf_len = MBX_MAX((size_t)r->block_events * sizeof(struct mbx_event), SCRATCH_MIN);
	r->buf = malloc(r->buf_len);
	r->kv = calloc(MBX_PROFILE_MAX_COUNTERS, sizeof(*r->kv));
	r->kv_tmp = calloc(MBX_PROFILE_MAX_COUNTERS, sizeof(*r->kv_tmp));
	if (!r->buf || !r->kv || !r->kv_tmp) {
		open_fail(r, err, errlen, ENOMEM, "out of memory");
		return NULL;
	}
	r->state = MBX_PROFILE_INCOMPLETE;
	return r;

fail:
	/* open_fail has freed r */
	free(h);
	return NULL;
}

void mbx_profile_reader_close(struct mbx_profile_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->kv);
	free(r->kv_tmp);
	free(r);
}

const struct mbx_profile_meta *mbx_profile_reader_meta(const struct mbx_profile_reader *r)
{
	return &r->meta;
}

void mbx_profile_reader_version(const struct mbx_profile_reader *r, unsigned *major,
				unsigned *minor)
{
	if (major)
		*major = r->major;
	if (minor)
		*minor = r->minor;
}

enum mbx_profile_state mbx_profile_reader_state(const struct mbx_profile_reader *r,
						uint64_t *ignored_bytes)
{
	if (ignored_bytes)
		*ignored_bytes = r->ignored;
	return r->state;
}

const char *mbx_profile_reader_error(const struct mbx_profile_reader *r)
{
	return r->err;
}

const struct mbx_counter_kv *mbx_profile_reader_counters(const struct mbx_profile_reader *r,
							 size_t *n)
{
	if (n)
		*n = r->nkv;
	return r->nkv ? r->kv : NULL;
}

const struct mbx_profile_totals *mbx_profile_reader_totals(const struct mbx_profile_reader *r)
{
	return &r->totals;
}
