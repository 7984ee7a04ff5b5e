/* SPDX-License-Identifier: Apache-2.0 */
/* Replay values: one buffer of ASCII digits, filled once from a fixed seed.
 *
 * A value of len bytes is the slice at an offset derived from the value
 * hash; the same (hash, len) gives the same bytes on every run. Digits make
 * short values numbers, so a replayed incr/decr on a key replay stored
 * succeeds as it did on the recorded server (memcached parses up to 20
 * digits). Values longer than the buffer are the whole buffer repeated. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mbx/replay_proto.h"
#include "replay/rp_mix.h"

#define RP_VALBUF_MIN  4096u
#define RP_VALBUF_MAX  (1u << 30)
#define RP_VALBUF_SEED 0x6d62782076616c73ULL /* "mbx vals" */

struct mbx_valbuf {
	uint8_t *buf;
	size_t size;
};

struct mbx_valbuf *mbx_valbuf_create(size_t size)
{
	struct mbx_valbuf *vb;
	uint64_t s = RP_VALBUF_SEED;

	if (size < RP_VALBUF_MIN || size > RP_VALBUF_MAX) {
		errno = EINVAL;
		return NULL;
	}
	vb = calloc(1, sizeof(*vb));
	if (!vb)
		return NULL;
	vb->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vb->buf == MAP_FAILED) {
		int err = errno;
		free(vb);
		errno = err;
		return NULL;
	}
	vb->size = size;
	for (size_t i = 0; i < size; i += 8) {
		uint64_t w = mbx_rp_splitmix64(&s);
		for (size_t j = 0; j < 8 && i + j < size; j++, w >>= 8)
			vb->buf[i + j] = (uint8_t)('0' + (((w & 0xff) * 10) >> 8));
	}
	return vb;
}

void mbx_valbuf_destroy(struct mbx_valbuf *vb)
{
	if (!vb)
		return;
	munmap(vb->buf, vb->size);
	free(vb);
}

const uint8_t *mbx_valbuf_get(const struct mbx_valbuf *vb, uint64_t hash, uint32_t len,
			      uint32_t *avail)
{
	if (MBX_UNLIKELY(len > vb->size)) {
		*avail = (uint32_t)vb->size;
		return vb->buf;
	}
	/* Offset uniform in [0, size - len], without a division. */
	uint64_t span = vb->size - len + 1;
	uint64_t off = (uint64_t)(((unsigned __int128)mbx_rp_mix64(hash) * span) >> 64);
	*avail = len;
	return vb->buf + off;
}

size_t mbx_valbuf_size(const struct mbx_valbuf *vb)
{
	return vb->size;
}
