/* SPDX-License-Identifier: Apache-2.0 */
#include "sketch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

/* ---- exact key table ---- */

/* Large tables are mapped directly and marked for transparent huge pages:
 * the probes are random, and with 4 KiB pages nearly every one also misses
 * the TLB (costly under virtualisation: a two-dimensional page walk). */
#define KEYSET_MMAP_MIN (2u << 20)

static void *table_alloc(size_t bytes)
{
	if (bytes < KEYSET_MMAP_MIN)
		return calloc(1, bytes);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: fine if refused */
	return p;
}

static void table_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < KEYSET_MMAP_MIN)
		free(p);
	else
		munmap(p, bytes);
}

static int keyset_alloc(struct keyset *ks, uint64_t size)
{
	struct key_slot *s = table_alloc(size * sizeof(*s));
	if (!s)
		return -ENOMEM;
	ks->slots = s;
	ks->size = size;
	ks->shift = 64u - (unsigned)__builtin_ctzll(size);
	ks->grow_at = size / 4 * 3;
	return 0;
}

int keyset_init(struct keyset *ks, uint64_t size)
{
	uint64_t s = KEYSET_MIN_SIZE;
	while (s < size)
		s <<= 1;
	memset(ks, 0, sizeof(*ks));
	return keyset_alloc(ks, s);
}

void keyset_free(struct keyset *ks)
{
	table_free(ks->slots, ks->size * sizeof(*ks->slots));
	ks->slots = NULL;
	ks->size = 0;
	ks->n = 0;
}

int keyset_grow(struct keyset *ks)
{
	struct keyset nks = {.n = 0};
	int err = keyset_alloc(&nks, ks->size * 2);
	if (err)
		return err;
	uint64_t mask = nks.size - 1;
	for (uint64_t i = 0; i < ks->size; i++) {
		const struct key_slot *s = &ks->slots[i];
		if (!s->hash)
			continue;
		uint64_t j = keyset_home(&nks, s->hash);
		while (nks.slots[j].hash)
			j = (j + 1) & mask;
		nks.slots[j] = *s;
	}
	nks.n = ks->n;
	table_free(ks->slots, ks->size * sizeof(*ks->slots));
	*ks = nks;
	return 0;
}

/* ---- HyperLogLog: O. Ertl, "New cardinality estimation algorithms for
 * HyperLogLog sketches" (2017), improved raw estimator. ---- */

static double hll_sigma(double x)
{
	if (x == 1.0)
		return INFINITY;
	double y = 1.0, z = x, prev;
	do {
		x *= x;
		prev = z;
		z += x * y;
		y += y;
	} while (z != prev);
	return z;
}

static double hll_tau(double x)
{
	if (x == 0.0 || x == 1.0)
		return 0.0;
	double y = 1.0, z = 1.0 - x, prev;
	do {
		x = sqrt(x);
		prev = z;
		y *= 0.5;
		z -= (1.0 - x) * (1.0 - x) * y;
	} while (z != prev);
	return z / 3.0;
}

double hll_estimate(const struct hll *h)
{
	enum { Q = 64 - HLL_P };
	uint32_t c[Q + 2] = {0};
	const double m = HLL_M;

	for (unsigned i = 0; i < HLL_M; i++)
		c[h->reg[i] <= Q + 1 ? h->reg[i] : Q + 1]++;
	if (c[0] == HLL_M)
		return 0.0;
	double z = m * hll_tau(1.0 - c[Q + 1] / m);
	for (int k = Q; k >= 1; k--)
		z = 0.5 * (z + c[k]);
	z += m * hll_sigma(c[0] / m);
	return (0.5 / log(2.0)) * m * m / z;
}

/* ---- Space-Saving (Stream-Summary) ---- */

static uint32_t ss_home(const struct spacesaving *ss, uint64_t hash)
{
	return (uint32_t)((hash * 0x9e3779b97f4a7c15ULL) >> ss->ishift);
}

int ss_init(struct spacesaving *ss, uint32_t cap)
{
	uint32_t isize = 64;

	memset(ss, 0, sizeof(*ss));
	if (cap == 0 || cap > (1u << 28))
		return -EINVAL;
	while (isize < cap * 4u) /* load <= 1/4: short probes, cheap deletes */
		isize <<= 1;
	ss->e = calloc(cap, sizeof(*ss->e));
	ss->b = calloc(cap, sizeof(*ss->b));
	ss->index = calloc(isize, sizeof(*ss->index));
	if (!ss->e || !ss->b || !ss->index) {
		ss_free(ss);
		return -ENOMEM;
	}
	ss->cap = cap;
	ss->imask = isize - 1;
	ss->ishift = 64u - (unsigned)__builtin_ctz(isize);
	/* n entries need at most n buckets */
	for (uint32_t i = 0; i < cap; i++)
		ss->b[i].next = i + 1 < cap ? i + 1 : SS_NIL;
	ss->bfree = 0;
	ss->bmin = ss->bmax = SS_NIL;
	return 0;
}

void ss_free(struct spacesaving *ss)
{
	free(ss->e);
	free(ss->b);
	free(ss->index);
	memset(ss, 0, sizeof(*ss));
}

/* Index slot holding hash, or the empty slot where it would go. */
static uint32_t ss_find(const struct spacesaving *ss, uint64_t hash, bool *found)
{
	uint32_t i = ss_home(ss, hash);
	for (;;) {
		uint32_t v = ss->index[i];
		if (v == 0) {
			*found = false;
			return i;
		}
		if (ss->e[v - 1].hash == hash) {
			*found = true;
			return i;
		}
		i = (i + 1) & ss->imask;
	}
}

/* Backward-shift deletion (linear probing without tombstones). */
static void ss_index_delete(struct spacesaving *ss, uint32_t i)
{
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & ss->imask;
		uint32_t v = ss->index[j];
		if (v == 0)
			break;
		uint32_t k = ss_home(ss, ss->e[v - 1].hash);
		/* the entry at j may stay if its home lies cyclically in (i, j] */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		ss->index[i] = v;
		ss->e[v - 1].slot = i;
		i = j;
	}
	ss->index[i] = 0;
}

/* New bucket with count, linked after bucket `after` (SS_NIL: at the front). */
static uint32_t ss_bucket_new(struct spacesaving *ss, uint64_t count, uint32_t after)
{
	uint32_t id = ss->bfree;
	struct ss_bucket *b = &ss->b[id];
	ss->bfree = b->next;
	b->count = count;
	b->head = SS_NIL;
	b->prev = after;
	b->next = after == SS_NIL ? ss->bmin : ss->b[after].next;
	if (b->next != SS_NIL)
		ss->b[b->next].prev = id;
	else
		ss->bmax = id;
	if (after != SS_NIL)
		ss->b[after].next = id;
	else
		ss->bmin = id;
	return id;
}

static void ss_bucket_release(struct spacesaving *ss, uint32_t id)
{
	struct ss_bucket *b = &ss->b[id];
	if (b->prev != SS_NIL)
		ss->b[b->prev].next = b->next;
	else
		ss->bmin = b->next;
	if (b->next != SS_NIL)
		ss->b[b->next].prev = b->prev;
	else
		ss->bmax = b->prev;
	b->next = ss->bfree;
	ss->bfree = id;
}

static void ss_attach(struct spacesaving *ss, uint32_t ei, uint32_t bi)
{
	struct ss_entry *e = &ss->e[ei];
	struct ss_bucket *b = &ss->b[bi];
	e->bucket = bi;
	e->prev = SS_NIL;
	e->next = b->head;
	if (b->head != SS_NIL)
		ss->e[b->head].prev = ei;
	b->head = ei;
}

/* Unlink an entry from its bucket; true if the bucket became empty. */
static bool ss_detach(struct spacesaving *ss, uint32_t ei)
{
	struct ss_entry *e = &ss->e[ei];
	struct ss_bucket *b = &ss->b[e->bucket];
	if (e->prev != SS_NIL)
		ss->e[e->prev].next = e->next;
	else
		b->head = e->next;
	if (e->next != SS_NIL)
		ss->e[e->next].prev = e->prev;
	return b->head == SS_NIL;
}

static void ss_increment(struct spacesaving *ss, uint32_t ei)
{
	uint32_t bi = ss->e[ei].bucket;
	struct ss_bucket *b = &ss->b[bi];
	uint64_t c = b->count + 1;
	uint32_t ni = b->next;

	if (ni != SS_NIL && ss->b[ni].count == c) {
		if (ss_detach(ss, ei))
			ss_bucket_release(ss, bi);
		ss_attach(ss, ei, ni);
	} else if (b->head == ei && ss->e[ei].next == SS_NIL) {
		b->count = c; /* alone in its bucket: the bucket moves up */
	} else {
		ss_detach(ss, ei);
		ss_attach(ss, ei, ss_bucket_new(ss, c, bi));
	}
}

void ss_seed(struct spacesaving *ss, uint64_t hash, unsigned key_len, uint64_t count)
{
	bool found;
	uint32_t slot = ss_find(ss, hash, &found);
	if (found || ss->n >= ss->cap)
		return;
	uint32_t ei = ss->n++;
	ss->e[ei] = (struct ss_entry){.hash = hash, .slot = slot, .key_len = (uint8_t)key_len};
	ss->index[slot] = ei + 1;
	uint32_t bi = ss->bmax;
	if (bi == SS_NIL || ss->b[bi].count != count)
		bi = ss_bucket_new(ss, count, bi); /* counts come in order: append */
	ss_attach(ss, ei, bi);
}

void ss_add(struct spacesaving *ss, uint64_t hash, unsigned key_len)
{
	bool found;
	uint32_t slot = ss_find(ss, hash, &found);

	if (found) {
		ss_increment(ss, ss->index[slot] - 1);
		return;
	}
	if (ss->n < ss->cap) {
		uint32_t ei = ss->n++;
		ss->e[ei] =
		    (struct ss_entry){.hash = hash, .slot = slot, .key_len = (uint8_t)key_len};
		ss->index[slot] = ei + 1;
		uint32_t bi = ss->bmin;
		if (bi == SS_NIL || ss->b[bi].count != 1)
			bi = ss_bucket_new(ss, 1, SS_NIL);
		ss_attach(ss, ei, bi);
		return;
	}
	/* replace a key with the minimum count m: the newcomer gets m + 1,
	 * overestimated by at most m */
	uint32_t ei = ss->b[ss->bmin].head;
	struct ss_entry *e = &ss->e[ei];
	ss_index_delete(ss, e->slot);
	slot = ss_find(ss, hash, &found);
	e->hash = hash;
	e->err = ss->b[ss->bmin].count;
	e->key_len = (uint8_t)key_len;
	e->slot = slot;
	ss->index[slot] = ei + 1;
	ss_increment(ss, ei);
}
