/* SPDX-License-Identifier: Apache-2.0 */
/* Profile writer: buffers one block of events, writes each block (header and
 * payload together) with a single write(), and finishes the file with a
 * footer and trailer. Layout: docs/profile-format.md, src/profile/format.h.
 *
 * The only per-event work is a timestamp comparison and a memcpy; checksums
 * and the write happen once per block. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mbx/hash.h"
#include "mbx/profile.h"
#include "profile/format.h"

struct mbx_profile_writer {
	int fd;
	int err; /* sticky -errno once the file may hold a partial block */
	bool fsync_blocks;
	uint32_t block_events;
	uint32_t nbuf;	      /* events buffered in the current block */
	uint8_t *blk;	      /* block header followed by block_events events */
	struct mbx_event *ev; /* = blk + PF_BLOCK_HDR_LEN */
	uint64_t seq;	      /* sequence number of the next block */
	uint64_t bytes;	      /* bytes in the file */
	uint64_t last_ts;
	uint64_t stats_blocks;
	uint64_t *index; /* offset of every EVENTS block written */
	size_t index_cap;
	uint8_t *aux; /* stats block buffer */
	size_t aux_cap;
	struct mbx_profile_totals totals; /* blocks == number of index entries */
};

/* One write() for the whole buffer; loop only on short writes and EINTR. */
static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static void fill_block_header(uint8_t *h, uint16_t type, uint64_t seq, uint32_t count,
			      uint32_t payload_len, uint64_t first_ts, uint64_t last_ts)
{
	memcpy(h + PF_B_MAGIC, PF_BLOCK_MAGIC, 4);
	pf_put16(h + PF_B_TYPE, type);
	pf_put16(h + PF_B_RESERVED, 0);
	pf_put64(h + PF_B_SEQ, seq);
	pf_put32(h + PF_B_COUNT, count);
	pf_put32(h + PF_B_PAYLOAD_LEN, payload_len);
	pf_put64(h + PF_B_FIRST_TS, first_ts);
	pf_put64(h + PF_B_LAST_TS, last_ts);
	pf_put32(h + PF_B_PAYLOAD_CRC, mbx_crc32c(0, h + PF_BLOCK_HDR_LEN, payload_len));
	pf_put32(h + PF_B_HEADER_CRC, mbx_crc32c(0, h, PF_B_HEADER_CRC));
}

/* Write buf (a block, possibly followed by the trailer) and account for it.
 * Any failure here may leave part of the block in the file, so it is
 * sticky: appending after a partial block would make the file unreadable
 * past it. */
static int emit(struct mbx_profile_writer *w, const uint8_t *buf, size_t len)
{
	int rc = write_all(w->fd, buf, len);

	if (rc == 0 && w->fsync_blocks && fdatasync(w->fd) < 0)
		rc = -errno;
	if (rc) {
		w->err = rc;
		return rc;
	}
	w->seq++;
	w->bytes += len;
	return 0;
}

static int write_events_block(struct mbx_profile_writer *w)
{
	uint32_t n = w->nbuf;
	int rc;

	if (w->totals.blocks == w->index_cap) {
		size_t cap = w->index_cap ? w->index_cap * 2 : 1024;
		uint64_t *p;

		if (w->totals.blocks >= PF_MAX_EVENT_BLOCKS) {
			w->err = -EFBIG;
			return w->err;
		}
		p = realloc(w->index, cap * sizeof(*p));
		if (!p) {
			w->err = -ENOMEM;
			return w->err;
		}
		w->index = p;
		w->index_cap = cap;
	}
	fill_block_header(w->blk, PF_BLOCK_EVENTS, w->seq, n,
			  n * (uint32_t)sizeof(struct mbx_event), w->ev[0].ts_ns,
			  w->ev[n - 1].ts_ns);
	w->index[w->totals.blocks] = w->bytes;
	rc = emit(w, w->blk, PF_BLOCK_HDR_LEN + (size_t)n * sizeof(struct mbx_event));
	if (rc)
		return rc;
	w->totals.blocks++;
	w->nbuf = 0;
	return 0;
}

static void copy_str(uint8_t *dst, const char *src, size_t field)
{
	size_t len = strnlen(src, field);

	memset(dst, 0, field);
	memcpy(dst, src, len);
}

static bool str_ok(const char *s, size_t field)
{
	return memchr(s, 0, field) != NULL;
}

static int check_kv(const struct mbx_counter_kv *kv, size_t n)
{
	if (n > MBX_PROFILE_MAX_COUNTERS || (n > 0 && !kv))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!str_ok(kv[i].name, sizeof(kv[i].name)))
			return -EINVAL;
	return 0;
}

/* Names are NUL-padded so that the bytes on disk do not depend on whatever
 * followed the NUL in the caller's buffer. */
static void put_kv(uint8_t *p, const struct mbx_counter_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++, p += PF_KV_LEN) {
		copy_str(p, kv[i].name, MBX_COUNTER_NAME_MAX);
		pf_put64(p + MBX_COUNTER_NAME_MAX, kv[i].value);
	}
}

static int write_header(struct mbx_profile_writer *w, const struct mbx_profile_meta *m)
{
	uint8_t h[PF_HDR_LEN_V1];
	int rc;

	memset(h, 0, sizeof(h));
	memcpy(h + PF_H_MAGIC, PF_MAGIC, PF_MAGIC_LEN);
	pf_put16(h + PF_H_MAJOR, MBX_PROFILE_VERSION_MAJOR);
	pf_put16(h + PF_H_MINOR, MBX_PROFILE_VERSION_MINOR);
	pf_put32(h + PF_H_LEN, PF_HDR_LEN_V1);
	pf_put32(h + PF_H_EVENT_SIZE, sizeof(struct mbx_event));
	pf_put32(h + PF_H_BLOCK_EVENTS, w->block_events);
	if (m) {
		pf_put64(h + PF_H_CREATED_NS, m->created_ns);
		pf_put64(h + PF_H_SALT_FP, m->salt_fingerprint);
		pf_put32(h + PF_H_LINKTYPE, m->linktype);
		pf_put32(h + PF_H_SNAPLEN, m->snaplen);
		pf_put32(h + PF_H_NPORTS, m->nports);
		for (size_t i = 0; i < m->nports; i++)
			pf_put16(h + PF_H_PORTS + 2 * i, m->ports[i]);
		copy_str(h + PF_H_SOURCE, m->source, sizeof(m->source));
		copy_str(h + PF_H_HOSTNAME, m->hostname, sizeof(m->hostname));
		copy_str(h + PF_H_VERSION, m->mbx_version, sizeof(m->mbx_version));
	}
	pf_put32(h + PF_H_CRC, mbx_crc32c(0, h, PF_H_CRC));
	rc = write_all(w->fd, h, sizeof(h));
	if (rc == 0 && w->fsync_blocks && fdatasync(w->fd) < 0)
		rc = -errno;
	if (rc == 0)
		w->bytes = sizeof(h);
	return rc;
}

/* Power-loss safety for a new file also needs its directory entry on disk. */
static int sync_parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd, rc = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return -ENAMETOOLONG;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* some filesystems cannot sync a directory: nothing more to do there */
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

struct mbx_profile_writer *mbx_profile_writer_open(const char *path,
						   const struct mbx_profile_meta *meta,
						   const struct mbx_profile_writer_opts *opts)
{
	struct mbx_profile_writer *w;
	uint32_t be =
	    opts && opts->block_events ? opts->block_events : MBX_PROFILE_DEFAULT_BLOCK_EVENTS;
	int rc;

	if (!path || be > MBX_PROFILE_MAX_BLOCK_EVENTS) {
		errno = EINVAL;
		return NULL;
	}
	if (meta &&
	    (meta->nports > MBX_PROFILE_MAX_PORTS || !str_ok(meta->source, sizeof(meta->source)) ||
	     !str_ok(meta->hostname, sizeof(meta->hostname)) ||
	     !str_ok(meta->mbx_version, sizeof(meta->mbx_version)))) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = -1;
	w->block_events = be;
	w->fsync_blocks = opts && opts->fsync_blocks;
	w->blk = malloc(PF_BLOCK_HDR_LEN + (size_t)be * sizeof(struct mbx_event));
	if (!w->blk) {
		rc = -ENOMEM;
		goto fail;
	}
	w->ev = (struct mbx_event *)(void *)(w->blk + PF_BLOCK_HDR_LEN);
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = write_header(w, meta);
	if (rc == 0 && w->fsync_blocks)
		rc = sync_parent_dir(path);
	if (rc)
		goto fail;
	return w;

fail:
	if (w->fd >= 0)
		close(w->fd);
	free(w->blk);
	free(w);
	errno = -rc;
	return NULL;
}

int mbx_profile_writer_append(struct mbx_profile_writer *w, const struct mbx_event *ev, size_t n)
{
	uint64_t ts = w->last_ts;

	if (MBX_UNLIKELY(w->err))
		return w->err;
	if (n == 0)
		return 0;
	/* Validate the whole batch first so that EINVAL appends nothing. */
	for (size_t i = 0; i < n; i++) {
		if (MBX_UNLIKELY(ev[i].ts_ns < ts))
			return -EINVAL;
		ts = ev[i].ts_ns;
	}
	if (w->totals.events == 0)
		w->totals.first_ts = ev[0].ts_ns;
	w->totals.events += n;
	w->totals.last_ts = ts;
	w->last_ts = ts;

	while (n > 0) {
		size_t k = MBX_MIN((size_t)(w->block_events - w->nbuf), n);

		memcpy(w->ev + w->nbuf, ev, k * sizeof(*ev));
		w->nbuf += (uint32_t)k;
		ev += k;
		n -= k;
		if (w->nbuf == w->block_events) {
			int rc = write_events_block(w);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int mbx_profile_writer_flush(struct mbx_profile_writer *w)
{
	if (w->err)
		return w->err;
	return w->nbuf ? write_events_block(w) : 0;
}

int mbx_profile_writer_stats(struct mbx_profile_writer *w, const struct mbx_counter_kv *kv,
			     size_t n)
{
	size_t len = PF_BLOCK_HDR_LEN + n * PF_KV_LEN;
	int rc;

	rc = check_kv(kv, n);
	if (rc)
		return rc;
	rc = mbx_profile_writer_flush(w);
	if (rc)
		return rc;
	if (len > w->aux_cap) {
		uint8_t *p = realloc(w->aux, len);
		if (!p)
			return -ENOMEM;
		w->aux = p;
		w->aux_cap = len;
	}
	put_kv(w->aux + PF_BLOCK_HDR_LEN, kv, n);
	/* A stats block is a point in time: the last event time written. */
	fill_block_header(w->aux, PF_BLOCK_STATS, w->seq, (uint32_t)n, (uint32_t)(n * PF_KV_LEN),
			  w->last_ts, w->last_ts);
	rc = emit(w, w->aux, len);
	if (rc == 0)
		w->stats_blocks++;
	return rc;
}

/* Footer block and trailer, in one buffer and one write(). */
static int write_footer(struct mbx_profile_writer *w, const struct mbx_counter_kv *kv, size_t n)
{
	uint64_t nb = w->totals.blocks;
	size_t payload = PF_FOOTER_FIXED + n * PF_KV_LEN + nb * 8;
	size_t len = PF_BLOCK_HDR_LEN + payload + PF_TRAILER_LEN;
	uint64_t off = w->bytes;
	uint8_t *buf, *p, *t;
	int rc;

	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	p = buf + PF_BLOCK_HDR_LEN;
	pf_put64(p + PF_F_EVENTS, w->totals.events);
	pf_put64(p + PF_F_EVENT_BLOCKS, nb);
	pf_put64(p + PF_F_STATS_BLOCKS, w->stats_blocks);
	pf_put64(p + PF_F_FIRST_TS, w->totals.first_ts);
	pf_put64(p + PF_F_LAST_TS, w->totals.last_ts);
	pf_put64(p + PF_F_NCOUNTERS, n);
	put_kv(p + PF_FOOTER_FIXED, kv, n);
	if (nb > 0)
		memcpy(p + PF_FOOTER_FIXED + n * PF_KV_LEN, w->index, nb * 8);
	fill_block_header(buf, PF_BLOCK_FOOTER, w->seq, (uint32_t)nb, (uint32_t)payload,
			  w->totals.first_ts, w->totals.last_ts);

	t = buf + PF_BLOCK_HDR_LEN + payload;
	pf_put64(t + PF_T_FOOTER_OFF, off);
	pf_put64(t + PF_T_FOOTER_LEN, PF_BLOCK_HDR_LEN + payload);
	memcpy(t + PF_T_MAGIC, PF_TRAILER_MAGIC, 4);
	pf_put32(t + PF_T_CRC, mbx_crc32c(0, t, PF_T_CRC));

	rc = emit(w, buf, len);
	free(buf);
	return rc;
}

int mbx_profile_writer_close(struct mbx_profile_writer *w, const struct mbx_counter_kv *kv,
			     size_t n)
{
	int rc;

	if (!w)
		return 0;
	rc = w->err;
	if (rc == 0)
		rc = check_kv(kv, n);
	if (rc == 0)
		rc = mbx_profile_writer_flush(w);
	if (rc == 0)
		rc = write_footer(w, kv, n);
	if (close(w->fd) < 0 && rc == 0)
		rc = -errno;
	free(w->index);
	free(w->aux);
	free(w->blk);
	free(w);
	return rc;
}

uint64_t mbx_profile_writer_bytes(const struct mbx_profile_writer *w)
{
	return w->bytes;
}

const struct mbx_profile_totals *mbx_profile_writer_totals(const struct mbx_profile_writer *w)
{
	return &w->totals;
}
