/* SPDX-License-Identifier: Apache-2.0 */
/* Offline capture files (pcap with usec or nsec timestamps, pcapng) through
 * libpcap, with timestamps in ns.
 *
 * We read the first bytes ourselves before handing the stream to libpcap:
 * that gives clear messages for empty files, truncated headers and files
 * that are not captures at all, and lets us accept one common writer bug
 * that libpcap rejects ("unsupported pcap savefile version 512.1024": a
 * little-endian file whose version fields were written big-endian). When we
 * cannot rewind (stdin, a pipe) or had to patch the header, libpcap reads
 * through a stdio cookie stream that replays the bytes we consumed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <pcap/pcap.h>

#include "mbx/log.h"
#include "mbx/source.h"

#define PCAP_MAGIC_US	  0xa1b2c3d4u
#define PCAP_MAGIC_NS	  0xa1b23c4du
#define PCAP_MAGIC_KUZNET 0xa1b2cd34u /* Alexey Kuznetzov's patched libpcap */
#define PCAPNG_MAGIC	  0x0a0d0d0au
#define PCAP_HDR_LEN	  24

#define NAME_MAX_LEN 256

#define IOBUF_SIZE (1u << 20)

struct mbx_pcap_file {
	pcap_t *pcap;
	/* stdio buffers of the file and of the replay stream: 1 MiB reads
	 * instead of 4 KiB ones (129k read() calls -> ~500 on a 529 MB
	 * capture, -15% run time). Freed after pcap_close(). */
	char *iobuf[2];
	int linktype;
	uint32_t snaplen;
	bool failed;
	char name[NAME_MAX_LEN];
	char err[PCAP_ERRBUF_SIZE + NAME_MAX_LEN + 64];
};

/* A read-only stdio stream that yields head[] first, then the rest of fp. */
struct replay_stream {
	FILE *fp;
	bool close_fp;
	uint8_t head[PCAP_HDR_LEN];
	size_t head_len;
	size_t head_pos;
};

static ssize_t replay_read(void *cookie, char *buf, size_t size)
{
	struct replay_stream *rs = cookie;
	size_t n = 0;

	if (rs->head_pos < rs->head_len) {
		size_t avail = rs->head_len - rs->head_pos;
		if (size <= avail) { /* the sniffed head covers the whole read */
			memcpy(buf, rs->head + rs->head_pos, size);
			rs->head_pos += size;
			return (ssize_t)size;
		}
		memcpy(buf, rs->head + rs->head_pos, avail);
		rs->head_pos += avail;
		n = avail;
	}
	size_t got = fread(buf + n, 1, size - n, rs->fp);
	if (got == 0 && n == 0 && ferror(rs->fp))
		return -1;
	return (ssize_t)(n + got);
}

static int replay_close(void *cookie)
{
	struct replay_stream *rs = cookie;
	int rc = 0;

	if (rs->close_fp)
		rc = fclose(rs->fp);
	free(rs);
	return rc;
}

static FILE *replay_open(FILE *fp, bool close_fp, const uint8_t *head, size_t head_len,
			 char *iobuf)
{
	static const cookie_io_functions_t io = {.read = replay_read, .close = replay_close};
	struct replay_stream *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->fp = fp;
	rs->close_fp = close_fp;
	memcpy(rs->head, head, head_len);
	rs->head_len = head_len;
	FILE *s = fopencookie(rs, "r", io);
	if (!s) {
		free(rs);
		return NULL;
	}
	if (iobuf)
		setvbuf(s, iobuf, _IOFBF, IOBUF_SIZE);
	return s;
}

static uint16_t rd16(const uint8_t *p, bool swapped)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return swapped ? __builtin_bswap16(v) : v;
}

static void wr16(uint8_t *p, uint16_t v, bool swapped)
{
	if (swapped)
		v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
}

/* Checks the first bytes of a file. Returns 0, or -1 with a message in err.
 * *patched is set when the header was rewritten (see top of file). */
static int check_header(struct mbx_pcap_file *f, uint8_t *hdr, size_t n, bool *patched)
{
	*patched = false;
	if (n == 0) {
		snprintf(f->err, sizeof(f->err), "%s: empty file (0 bytes), not a capture file",
			 f->name);
		return -1;
	}
	if (n < 4) {
		snprintf(f->err, sizeof(f->err),
			 "%s: truncated file header (%zu bytes), not a capture file", f->name, n);
		return -1;
	}

	uint32_t magic = mbx_rd32le(hdr);
	if (magic == PCAPNG_MAGIC)
		return 0; /* libpcap checks the section header block */

	bool swapped;
	switch (magic) {
	case PCAP_MAGIC_US:
	case PCAP_MAGIC_NS:
	case PCAP_MAGIC_KUZNET:
		swapped = false;
		break;
	default:
		switch (__builtin_bswap32(magic)) {
		case PCAP_MAGIC_US:
		case PCAP_MAGIC_NS:
		case PCAP_MAGIC_KUZNET:
			swapped = true;
			break;
		default:
			snprintf(f->err, sizeof(f->err),
				 "%s: not a pcap or pcapng capture file (unknown magic 0x%08x)",
				 f->name, magic);
			return -1;
		}
	}
	if (n < PCAP_HDR_LEN) {
		snprintf(f->err, sizeof(f->err), "%s: truncated pcap file header (%zu of %d bytes)",
			 f->name, n, PCAP_HDR_LEN);
		return -1;
	}

	uint16_t vmaj = rd16(hdr + 4, swapped), vmin = rd16(hdr + 6, swapped);
	if (vmaj != 2 && __builtin_bswap16(vmaj) == 2 && __builtin_bswap16(vmin) <= 4) {
		wr16(hdr + 4, 2, swapped);
		wr16(hdr + 6, __builtin_bswap16(vmin), swapped);
		*patched = true;
		pr_info("%s: pcap version fields written in the wrong byte order (%u.%u), "
			"reading as 2.%u",
			f->name, vmaj, vmin, __builtin_bswap16(vmin));
	}
	return 0;
}

struct mbx_pcap_file *mbx_pcap_file_open(const char *path, char *err, size_t errlen)
{
	struct mbx_pcap_file *f = calloc(1, sizeof(*f));
	FILE *fp = NULL, *s = NULL;
	bool is_stdin = path && strcmp(path, "-") == 0;
	int saved;

	if (!f) {
		saved = ENOMEM;
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		goto fail_nomsg;
	}
	if (!path || !*path) {
		saved = EINVAL;
		snprintf(f->err, sizeof(f->err), "no capture file given");
		goto fail;
	}
	snprintf(f->name, sizeof(f->name), "%s", is_stdin ? "<stdin>" : path);

	if (is_stdin) {
		fp = stdin;
	} else {
		fp = fopen(path, "rb");
		if (!fp) {
			saved = errno;
			snprintf(f->err, sizeof(f->err), "%s: cannot open: %s", f->name,
				 strerror(saved));
			goto fail;
		}
		/* before any I/O on fp, as setvbuf requires */
		f->iobuf[0] = malloc(IOBUF_SIZE);
		if (f->iobuf[0])
			setvbuf(fp, f->iobuf[0], _IOFBF, IOBUF_SIZE);
	}

	uint8_t hdr[PCAP_HDR_LEN];
	size_t n = fread(hdr, 1, sizeof(hdr), fp);
	if (n < sizeof(hdr) && ferror(fp)) {
		saved = errno ? errno : EIO;
		snprintf(f->err, sizeof(f->err), "%s: cannot read: %s", f->name, strerror(saved));
		goto fail;
	}
	bool patched;
	if (check_header(f, hdr, n, &patched) < 0) {
		saved = EINVAL;
		goto fail;
	}

	/* Rewind when we can; otherwise (stdin, pipe, patched header) replay
	 * the consumed bytes through a cookie stream. stdin always goes
	 * through the cookie so that pcap_close() does not close it. */
	if (!is_stdin && !patched && fseek(fp, 0, SEEK_SET) == 0) {
		s = fp;
	} else {
		f->iobuf[1] = malloc(IOBUF_SIZE);
		s = replay_open(fp, !is_stdin, hdr, n, f->iobuf[1]);
		if (!s) {
			saved = errno ? errno : ENOMEM;
			snprintf(f->err, sizeof(f->err), "%s: %s", f->name, strerror(saved));
			goto fail;
		}
	}
	fp = NULL; /* owned by s now */

	char perr[PCAP_ERRBUF_SIZE] = "";
	f->pcap = pcap_fopen_offline_with_tstamp_precision(s, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!f->pcap) {
		saved = EINVAL;
		snprintf(f->err, sizeof(f->err), "%s: %s", f->name, perr);
		goto fail;
	}
	s = NULL; /* owned by pcap now */
	f->linktype = pcap_datalink(f->pcap);
	int snap = pcap_snapshot(f->pcap);
	f->snaplen = snap > 0 ? (uint32_t)snap : 0;
	return f;

fail:
	if (err && errlen)
		snprintf(err, errlen, "%s", f->err);
	if (s)
		fclose(s);
	else if (fp && fp != stdin)
		fclose(fp);
	free(f->iobuf[0]);
	free(f->iobuf[1]);
	free(f);
fail_nomsg:
	errno = saved;
	return NULL;
}

void mbx_pcap_file_close(struct mbx_pcap_file *f)
{
	if (!f)
		return;
	if (f->pcap)
		pcap_close(f->pcap);
	free(f->iobuf[0]);
	free(f->iobuf[1]);
	free(f);
}

int mbx_pcap_file_linktype(const struct mbx_pcap_file *f)
{
	return f->linktype;
}

uint32_t mbx_pcap_file_snaplen(const struct mbx_pcap_file *f)
{
	return f->snaplen;
}

int mbx_pcap_file_next(struct mbx_pcap_file *f, struct mbx_pkt *pkt)
{
	struct pcap_pkthdr *h;
	const u_char *data;

	if (MBX_UNLIKELY(f->failed))
		return -1;
	int rc = pcap_next_ex(f->pcap, &h, &data);
	if (MBX_LIKELY(rc == 1)) {
		/* Opened with nanosecond precision: tv_usec holds ns. pcap
		 * seconds are unsigned 32-bit but libpcap reads them signed:
		 * a negative value is a time after 2038. */
		uint64_t sec =
		    h->ts.tv_sec >= 0 ? (uint64_t)h->ts.tv_sec : (uint64_t)(uint32_t)h->ts.tv_sec;
		uint64_t ns = h->ts.tv_usec > 0 ? (uint64_t)h->ts.tv_usec : 0;
		pkt->data = data;
		pkt->caplen = h->caplen;
		pkt->wirelen = h->len < h->caplen ? h->caplen : h->len;
		pkt->ts_ns = sec * MBX_NSEC_PER_SEC + ns;
		return 1;
	}
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	f->failed = true;
	snprintf(f->err, sizeof(f->err), "%s: %s", f->name,
		 rc == PCAP_ERROR ? pcap_geterr(f->pcap) : "unexpected read result");
	return -1;
}

const char *mbx_pcap_file_error(const struct mbx_pcap_file *f)
{
	return f->err;
}
