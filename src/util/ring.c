/* SPDX-License-Identifier: Apache-2.0 */
#include "mbx/ring.h"

#include <errno.h>
#include <stdlib.h>

struct mbx_ring *mbx_ring_create(uint32_t capacity, uint32_t esize)
{
	struct mbx_ring *r;
	uint64_t cap = 2;

	if (capacity == 0 || capacity > (1u << 30) || esize == 0 || esize > 4096) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < capacity)
		cap <<= 1;
	if (posix_memalign((void **)&r, MBX_CACHE_LINE, sizeof(*r)) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->mask = cap - 1;
	r->esize = esize;
	if (posix_memalign((void **)&r->data, MBX_CACHE_LINE, cap * esize) != 0) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

void mbx_ring_destroy(struct mbx_ring *r)
{
	if (!r)
		return;
	free(r->data);
	free(r);
}
