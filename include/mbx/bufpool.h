/* SPDX-License-Identifier: Apache-2.0 */
/* A fixed pool of equal-size buffers, allocated once (one mmap, pages touched
 * on first use), handed out and returned in O(1) from a free stack.
 * Single-threaded: one pool per worker. get() returns NULL when empty; the
 * caller counts that. */
#ifndef MBX_BUFPOOL_H
#define MBX_BUFPOOL_H

#include "mbx/common.h"

struct mbx_bufpool;

/* Returns NULL and sets errno (EINVAL if bufsize or count is 0, ENOMEM). */
struct mbx_bufpool *mbx_bufpool_create(size_t bufsize, size_t count);
void mbx_bufpool_destroy(struct mbx_bufpool *p); /* NULL ok */

void *mbx_bufpool_get(struct mbx_bufpool *p); /* NULL when exhausted */
void mbx_bufpool_put(struct mbx_bufpool *p, void *buf); /* buf from this pool, or NULL */

size_t mbx_bufpool_bufsize(const struct mbx_bufpool *p);
size_t mbx_bufpool_available(const struct mbx_bufpool *p);
size_t mbx_bufpool_capacity(const struct mbx_bufpool *p);

#endif
