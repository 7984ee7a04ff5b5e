/* SPDX-License-Identifier: Apache-2.0 */
/* The profile file: a header, blocks of fixed-size events (each with a
 * CRC32C), optional stats blocks, and a footer with totals and a block index.
 * Format specified in docs/profile-format.md.
 *
 * Crash safety: the writer only ever appends whole blocks with one write()
 * each; a recorder killed at any moment leaves a file whose complete blocks
 * all read back. Readers stream in constant memory (one block buffer) and
 * report truncation, corruption and unknown versions with a message. */
#ifndef MBX_PROFILE_H
#define MBX_PROFILE_H

#include "mbx/common.h"
#include "mbx/counters.h"
#include "mbx/event.h"

#define MBX_PROFILE_VERSION_MAJOR 1
#define MBX_PROFILE_VERSION_MINOR 0
#define MBX_PROFILE_DEFAULT_BLOCK_EVENTS 4096
#define MBX_PROFILE_MAX_BLOCK_EVENTS 65536
#define MBX_PROFILE_MAX_PORTS 16
#define MBX_PROFILE_MAX_COUNTERS 1024 /* per stats block / footer */

/* Capture metadata stored in the header. Strings are NUL-terminated. */
struct mbx_profile_meta {
	uint64_t created_ns;        /* wall clock when the recording began */
	uint64_t salt_fingerprint;  /* mbx_salt_fingerprint(salt); never the salt */
	uint32_t linktype;          /* of the source, 0 if mixed/unknown */
	uint32_t snaplen;
	uint16_t nports;
	uint16_t ports[MBX_PROFILE_MAX_PORTS];
	char source[256];           /* e.g. "file:capture.pcap", "afxdp:eth1 queues 0-3" */
	char hostname[64];
	char mbx_version[32];
};

/* Totals stored in the footer (also derivable from the blocks). */
struct mbx_profile_totals {
	uint64_t events;
	uint64_t blocks;    /* EVENTS blocks (stats blocks not counted) */
	uint64_t first_ts;  /* 0 if no events */
	uint64_t last_ts;
};

struct mbx_profile_writer_opts {
	uint32_t block_events;  /* events per block; 0 = default */
	bool fsync_blocks;      /* fdatasync after each block (slow; power-loss safety) */
};

struct mbx_profile_writer;

/* Create path (truncating, mode 0644 & ~umask) and write the header. meta
 * may be NULL (all zero); its strings must be NUL-terminated within their
 * fields and nports <= MBX_PROFILE_MAX_PORTS, block_events <=
 * MBX_PROFILE_MAX_BLOCK_EVENTS (EINVAL otherwise). NULL + errno on failure.
 *
 * After an I/O error (ENOSPC, EIO, ...) the writer is failed: every later call
 * returns the same error, and the file keeps its complete blocks (it reads as
 * incomplete). */
struct mbx_profile_writer *mbx_profile_writer_open(const char *path,
						   const struct mbx_profile_meta *meta,
						   const struct mbx_profile_writer_opts *opts);
/* Append events (any count); full blocks are written as they fill. Timestamps
 * must be non-decreasing over the whole file: otherwise -EINVAL and none of
 * the n events is appended. Returns 0 or -errno (I/O, -EFBIG when the block
 * index is full, -ENOMEM). */
int mbx_profile_writer_append(struct mbx_profile_writer *w, const struct mbx_event *ev, size_t n);
/* Write the current partial block now (periodic flush in live capture). */
int mbx_profile_writer_flush(struct mbx_profile_writer *w);
/* Write a stats block carrying counter values, so that a killed recorder
 * still leaves its last known counters in the file. Buffered events are
 * written first. n <= MBX_PROFILE_MAX_COUNTERS and every name NUL-terminated
 * within its 32 bytes (EINVAL otherwise). */
int mbx_profile_writer_stats(struct mbx_profile_writer *w, const struct mbx_counter_kv *kv,
			     size_t n);
/* Flush, write the footer (counters + block index), close. Frees w even on
 * error. Returns 0 or -errno. */
int mbx_profile_writer_close(struct mbx_profile_writer *w, const struct mbx_counter_kv *kv,
			     size_t n);
/* Bytes written to the file so far, buffered events not included (for --rotate). */
uint64_t mbx_profile_writer_bytes(const struct mbx_profile_writer *w);
/* Totals of the events appended so far (buffered ones included); blocks
 * counts EVENTS blocks already written. */
const struct mbx_profile_totals *mbx_profile_writer_totals(const struct mbx_profile_writer *w);

enum mbx_profile_state {
	MBX_PROFILE_OK = 0,        /* footer read and consistent */
	MBX_PROFILE_INCOMPLETE,    /* no footer: writer did not finish; complete blocks read */
};

struct mbx_profile_reader;

/* Open and validate the header. On failure returns NULL, sets errno, and
 * writes a human-readable reason into err (e.g. "not an mbx profile",
 * "unsupported profile version 3.0 (this mbx reads 1.x)", "truncated header"). */
struct mbx_profile_reader *mbx_profile_reader_open(const char *path, char *err, size_t errlen);
void mbx_profile_reader_close(struct mbx_profile_reader *r); /* NULL ok */

const struct mbx_profile_meta *mbx_profile_reader_meta(const struct mbx_profile_reader *r);
/* Format version of the file (minor may be newer than MBX_PROFILE_VERSION_MINOR). */
void mbx_profile_reader_version(const struct mbx_profile_reader *r, unsigned *major,
				unsigned *minor);

/* Next block of events. Returns 1 and sets *ev, *n (valid until the next
 * call), 0 at the end of the events, or -1 on corruption (CRC mismatch, bad
 * block header, out-of-order sequence or time, footer totals that disagree
 * with the blocks, data after the end) or a read error, with errno set
 * (EBADMSG for corruption): the message is in mbx_profile_reader_error().
 * Stats blocks are consumed silently. After -1 every call returns -1. */
int mbx_profile_reader_next(struct mbx_profile_reader *r, const struct mbx_event **ev, size_t *n);

/* After next() returned 0: whether the file was complete, and for an
 * incomplete file how many trailing bytes were ignored. */
enum mbx_profile_state mbx_profile_reader_state(const struct mbx_profile_reader *r,
						uint64_t *ignored_bytes);
const char *mbx_profile_reader_error(const struct mbx_profile_reader *r);

/* Counters from the footer, or for an incomplete file from the last stats
 * block (NULL/0 if none). Valid after next() returned 0. */
const struct mbx_counter_kv *mbx_profile_reader_counters(const struct mbx_profile_reader *r,
							 size_t *n);
/* Totals seen while reading (events, blocks, first/last ts). */
const struct mbx_profile_totals *mbx_profile_reader_totals(const struct mbx_profile_reader *r);

#endif
