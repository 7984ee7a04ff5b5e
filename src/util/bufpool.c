/* SPDX-License-Identifier: Apache-2.0 */
#include "mbx/bufpool.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

struct mbx_bufpool {
	uint8_t *base;
	size_t map_len;
	size_t bufsize;
	size_t count;
	size_t top;    /* number of free buffers on the stack */
	void **stack;  /* free buffers */
};

struct mbx_bufpool *mbx_bufpool_create(size_t bufsize, size_t count)
{
	struct mbx_bufpool *p;

	if (bufsize == 0 || count == 0 || bufsize > (SIZE_MAX / 2) / count) {
		errno = EINVAL;
		return NULL;
	}
	bufsize = (bufsize + 63) & ~(size_t)63;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->stack = malloc(count * sizeof(void *));
	p->map_len = bufsize * count;
	/* Anonymous mapping: pages are only backed once a buffer is used. */
	p->base = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p->stack || p->base == MAP_FAILED) {
		if (p->base != MAP_FAILED && p->base)
			munmap(p->base, p->map_len);
		free(p->stack);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->bufsize = bufsize;
	p->count = count;
	/* Hand out low addresses first so untouched pages stay untouched. */
	for (size_t i = 0; i < count; i++)
		p->stack[i] = p->base + (count - 1 - i) * bufsize;
	p->top = count;
	return p;
}

void mbx_bufpool_destroy(struct mbx_bufpool *p)
{
	if (!p)
		return;
	munmap(p->base, p->map_len);
	free(p->stack);
	free(p);
}

void *mbx_bufpool_get(struct mbx_bufpool *p)
{
	if (MBX_UNLIKELY(p->top == 0))
		return NULL;
	return p->stack[--p->top];
}

void mbx_bufpool_put(struct mbx_bufpool *p, void *buf)
{
	if (!buf)
		return;
	p->stack[p->top++] = buf;
}

size_t mbx_bufpool_bufsize(const struct mbx_bufpool *p)
{
	return p->bufsize;
}

size_t mbx_bufpool_available(const struct mbx_bufpool *p)
{
	return p->top;
}

size_t mbx_bufpool_capacity(const struct mbx_bufpool *p)
{
	return p->count;
}
