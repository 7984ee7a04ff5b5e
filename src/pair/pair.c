/* SPDX-License-Identifier: Apache-2.0 */
/* Request/response pairing. See include/mbx/pair.h for the contract and
 * docs/architecture.md ("Pairing") for the reasoning.
 *
 * Data structures, all allocated at create time:
 * - a FIFO window of slots, one per request, in arrival (= completion time)
 *   order. A slot is PENDING while it waits for its response and is linked
 *   into its connection's pending list; READY once its outcome is known. The
 *   FIFO head leaves (is emitted) as soon as it is READY, so events come out
 *   in request order however long individual responses take;
 * - a connection table: open addressing on the flow hash (linear probing,
 *   backward-shift deletion) over an array of connections, with an LRU list
 *   for eviction when full. */
#include "mbx/pair.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define NIL UINT32_MAX  /* connection index: none */
#define PNIL UINT64_MAX /* FIFO position: none */
#define WINDOW_INIT 4096
#define OUT_BATCH 256
#define MAX_SCAN 512 /* pending requests examined to place one meta/binary response */

enum slot_state { SLOT_FREE = 0, SLOT_PENDING = 1, SLOT_READY = 2 };

struct slot {
	struct mbx_event ev;
	uint64_t req_ts; /* true request time (ev.ts_ns may be clamped) */
	uint64_t next;   /* position of the next pending slot of the connection */
	uint32_t conn;   /* connection index */
	uint32_t opaque;
	uint32_t cookie; /* from the request message (on_final) */
	uint8_t state;
	uint8_t mflags;  /* MBX_MSG_F_* of the request */
	uint8_t matched; /* batch key already answered by a VALUE line */
	uint8_t pad;
};

#define CONN_REQ_FIN 0x1
#define CONN_RSP_FIN 0x2

struct conn {
	uint64_t flow;
	uint64_t rsp_first_ts; /* first byte of the multi-unit response in progress */
	uint64_t head, tail;   /* pending list (FIFO positions) */
	uint64_t cursor;       /* next unanswered slot of the head batch */
	uint32_t id;
	uint32_t npending;
	uint32_t lru_prev, lru_next;
	uint8_t in_multi;      /* VALUE.../STAT... response in progress */
	uint8_t fin;           /* CONN_*_FIN */
	uint8_t used;
	uint8_t rsp_gap;       /* responses were lost: re-anchor on the next one */
	uint8_t pad[4];
};

struct mbx_pair {
	struct mbx_pair_cfg cfg;
	struct mbx_counters *ctr;

	struct slot *slots; /* the window: starts small, doubles up to cap */
	uint32_t mask;
	uint64_t cap;
	uint64_t head, tail; /* FIFO positions (monotonic) */

	struct conn *conns;
	size_t conns_len;
	uint32_t *index; /* conn index + 1, 0 = empty */
	size_t index_len;
	uint32_t index_mask;
	uint32_t free_top;
	uint32_t *free_stack;
	uint32_t nconns;
	uint32_t lru_head, lru_tail; /* most / least recently used */
	uint32_t next_id;

	uint64_t now;       /* newest message time */
	uint64_t last_req;  /* newest request time (event ts are clamped to it) */

	struct mbx_event out[OUT_BATCH];
	uint32_t nout;
	struct mbx_counters dummy;
};

/* Slots are found by FIFO position (monotonic), never by array index, so
 * that the window can grow: a position maps to index pos & mask for any
 * current size. */
static inline struct slot *SL(const struct mbx_pair *p, uint64_t pos)
{
	return &p->slots[pos & p->mask];
}

static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;
	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

void mbx_pair_cfg_defaults(struct mbx_pair_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = 262144;
	cfg->window = 1u << 20;
	cfg->timeout_ns = 10 * MBX_NSEC_PER_SEC;
}

struct mbx_pair *mbx_pair_create(const struct mbx_pair_cfg *cfg)
{
	struct mbx_pair *p;

	if (!cfg || !cfg->emit || cfg->max_conns == 0 || cfg->window < 2 ||
	    cfg->max_conns > (1u << 28) || cfg->window > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->ctr = cfg->ctr ? cfg->ctr : &p->dummy;
	if (p->cfg.timeout_ns == 0)
		p->cfg.timeout_ns = UINT64_MAX;

	uint32_t win = pow2_at_least(cfg->window);
	uint32_t init = MBX_MIN(win, WINDOW_INIT);
	p->cap = win;
	p->mask = init - 1;
	p->slots = calloc(init, sizeof(struct slot));

	p->conns_len = (size_t)cfg->max_conns * sizeof(struct conn);
	p->conns = map_zeroed(p->conns_len);
	uint32_t ilen = pow2_at_least(cfg->max_conns * 2);
	p->index_mask = ilen - 1;
	p->index_len = (size_t)ilen * sizeof(uint32_t);
	p->index = map_zeroed(p->index_len);
	p->free_stack = malloc((size_t)cfg->max_conns * sizeof(uint32_t));
	if (!p->slots || !p->conns || !p->index || !p->free_stack) {
		mbx_pair_destroy(p);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->max_conns; i++)
		p->free_stack[i] = cfg->max_conns - 1 - i;
	p->free_top = cfg->max_conns;
	p->lru_head = p->lru_tail = NIL;
	p->next_id = 1;
	return p;
}

void mbx_pair_destroy(struct mbx_pair *p)
{
	if (!p)
		return;
	free(p->slots);
	if (p->conns)
		munmap(p->conns, p->conns_len);
	if (p->index)
		munmap(p->index, p->index_len);
	free(p->free_stack);
	free(p);
}

uint32_t mbx_pair_pending(const struct mbx_pair *p)
{
	return (uint32_t)(p->tail - p->head);
}

/* ---- output ------------------------------------------------------------ */

static void out_flush(struct mbx_pair *p)
{
	if (p->nout) {
		p->cfg.emit(p->cfg.emit_ctx, p->out, p->nout);
		p->nout = 0;
	}
}

/* Emit READY slots from the FIFO head. */
static void drain(struct mbx_pair *p)
{
	while (p->head != p->tail) {
		struct slot *s = SL(p, p->head);
		if (s->state != SLOT_READY)
			break;
		p->out[p->nout++] = s->ev;
		s->state = SLOT_FREE;
		p->head++;
		MBX_CTR_INC(p->ctr, events);
		if (p->nout == OUT_BATCH)
			out_flush(p);
	}
}

/* ---- outcomes ---------------------------------------------------------- */

static bool code_is_error(unsigned code)
{
	return code == MBX_RSP_ERROR || code == MBX_RSP_CLIENT_ERROR || code == MBX_RSP_SERVER_ERROR;
}

static int error_outcome(unsigned code)
{
	switch (code) {
	case MBX_RSP_ERROR: return MBX_OUT_ERROR;
	case MBX_RSP_CLIENT_ERROR: return MBX_OUT_CLIENT_ERROR;
	case MBX_RSP_SERVER_ERROR: return MBX_OUT_SERVER_ERROR;
	default: return -1;
	}
}

/* Outcome of op answered by code, or -1 if code cannot answer op. */
static int map_outcome(unsigned op, unsigned code)
{
	int e = error_outcome(code);
	if (e >= 0)
		return e;

	switch (mbx_op_class(op)) {
	case MBX_OPC_RETR:
		switch (code) {
		case MBX_RSP_VALUE:
		case MBX_RSP_VA:
		case MBX_RSP_HD:
		case MBX_RSP_BIN_OK: return MBX_OUT_HIT;
		case MBX_RSP_EN:
		case MBX_RSP_END:
		case MBX_RSP_NOT_FOUND: return MBX_OUT_MISS;
		default: return -1;
		}
	case MBX_OPC_STORE:
		switch (code) {
		case MBX_RSP_STORED:
		case MBX_RSP_HD:
		case MBX_RSP_BIN_OK: return MBX_OUT_STORED;
		case MBX_RSP_NOT_STORED:
		case MBX_RSP_NS: return MBX_OUT_NOT_STORED;
		case MBX_RSP_EXISTS:
		case MBX_RSP_EX: return MBX_OUT_EXISTS;
		case MBX_RSP_NOT_FOUND:
		case MBX_RSP_NF: return MBX_OUT_NOT_FOUND;
		default: return -1;
		}
	case MBX_OPC_DEL:
		switch (code) {
		case MBX_RSP_DELETED:
		case MBX_RSP_HD:
		case MBX_RSP_BIN_OK: return MBX_OUT_DELETED;
		case MBX_RSP_NOT_FOUND:
		case MBX_RSP_NF: return MBX_OUT_NOT_FOUND;
		case MBX_RSP_EXISTS:
		case MBX_RSP_EX: return MBX_OUT_EXISTS;
		default: return -1;
		}
	case MBX_OPC_ARITH:
		switch (code) {
		case MBX_RSP_NUMBER:
		case MBX_RSP_HD:
		case MBX_RSP_VA:
		case MBX_RSP_BIN_OK: return MBX_OUT_HIT;
		case MBX_RSP_NOT_FOUND:
		case MBX_RSP_NF: return MBX_OUT_NOT_FOUND;
		case MBX_RSP_NS:
		case MBX_RSP_NOT_STORED: return MBX_OUT_NOT_STORED;
		case MBX_RSP_EX:
		case MBX_RSP_EXISTS: return MBX_OUT_EXISTS;
		default: return -1;
		}
	case MBX_OPC_TOUCH:
		switch (code) {
		case MBX_RSP_TOUCHED:
		case MBX_RSP_HD:
		case MBX_RSP_BIN_OK: return MBX_OUT_TOUCHED;
		case MBX_RSP_NOT_FOUND:
		case MBX_RSP_NF: return MBX_OUT_NOT_FOUND;
		default: return -1;
		}
	default:
		break;
	}
	switch (op) {
	case MBX_OP_MN: return code == MBX_RSP_MN ? MBX_OUT_OK : -1;
	case MBX_OP_ME:
		return code == MBX_RSP_ME ? MBX_OUT_OK : code == MBX_RSP_EN ? MBX_OUT_MISS : -1;
	case MBX_OP_NOOP:
	case MBX_OP_QUIT:
	case MBX_OP_QUITQ:
	case MBX_OP_FLUSHQ: return code == MBX_RSP_BIN_OK ? MBX_OUT_OK : -1;
	case MBX_OP_VERSION:
		return code == MBX_RSP_VERSION || code == MBX_RSP_BIN_OK ? MBX_OUT_OK : -1;
	case MBX_OP_FLUSH_ALL:
	case MBX_OP_VERBOSITY:
		return code == MBX_RSP_OK || code == MBX_RSP_BIN_OK ? MBX_OUT_OK : -1;
	case MBX_OP_STATS: return code == MBX_RSP_END || code == MBX_RSP_BIN_OK ? MBX_OUT_OK : -1;
	case MBX_OP_SASL_LIST_MECHS:
	case MBX_OP_SASL_AUTH:
	case MBX_OP_SASL_STEP:
		return code == MBX_RSP_BIN_OK || code == MBX_RSP_BIN_AUTH ? MBX_OUT_OK : -1;
	case MBX_OP_UNKNOWN:
		/* An unknown command gets some one-line reply (usually ERROR). */
		switch (code) {
		case MBX_RSP_VALUE:
		case MBX_RSP_VA:
		case MBX_RSP_STAT: return -1;
		default: return MBX_OUT_OK;
		}
	default: return -1;
	}
}

/* The outcome a quiet request's silence implies (memcached 1.6 suppresses
 * exactly: mg EN; ms/md/ma HD; binary quiet ops their success, GETQ/GATQ
 * their miss). */
static unsigned quiet_implied(unsigned op)
{
	switch (op) {
	case MBX_OP_MG:
	case MBX_OP_GETQ:
	case MBX_OP_GETKQ:
	case MBX_OP_GATQ:
	case MBX_OP_GATKQ: return MBX_OUT_MISS;
	case MBX_OP_MS:
	case MBX_OP_SETQ:
	case MBX_OP_ADDQ:
	case MBX_OP_REPLACEQ:
	case MBX_OP_APPENDQ:
	case MBX_OP_PREPENDQ:
	case MBX_OP_CASQ: return MBX_OUT_STORED;
	case MBX_OP_MD:
	case MBX_OP_DELETEQ: return MBX_OUT_DELETED;
	case MBX_OP_MA:
	case MBX_OP_INCRQ:
	case MBX_OP_DECRQ: return MBX_OUT_HIT;
	case MBX_OP_FLUSHQ:
	case MBX_OP_QUITQ: return MBX_OUT_OK;
	default: return MBX_OUT_NOREPLY;
	}
}

/* Would the server have stayed silent for this (quiet) op with this code? */
static bool quiet_suppresses(unsigned op, unsigned code)
{
	switch (op) {
	case MBX_OP_MG: return code == MBX_RSP_EN;
	case MBX_OP_MS:
	case MBX_OP_MD:
	case MBX_OP_MA: return code == MBX_RSP_HD;
	case MBX_OP_GETQ:
	case MBX_OP_GETKQ:
	case MBX_OP_GATQ:
	case MBX_OP_GATKQ: return code == MBX_RSP_NOT_FOUND;
	default: return code == MBX_RSP_BIN_OK;
	}
}

static bool is_text_retrieval(unsigned op)
{
	return op == MBX_OP_GET || op == MBX_OP_GETS || op == MBX_OP_GAT || op == MBX_OP_GATS;
}

/* Binary responses echo the request opcode; CAS is SET with a cas value. */
static unsigned bin_wire_op(unsigned op)
{
	return op == MBX_OP_CAS ? MBX_OP_SET : op == MBX_OP_CASQ ? MBX_OP_SETQ : op;
}

/* ---- slots ------------------------------------------------------------- */

static void set_latency(struct mbx_pair *p, struct slot *s, uint64_t rsp_ts)
{
	uint64_t lat = rsp_ts > s->req_ts ? rsp_ts - s->req_ts : 0;
	if (lat > MBX_LAT_MAX) {
		lat = MBX_LAT_MAX;
		MBX_CTR_INC(p->ctr, lat_saturated);
	}
	s->ev.latency_ns = (uint32_t)lat;
}

static void finalize(struct mbx_pair *p, struct slot *s, unsigned outcome, uint64_t rsp_ts)
{
	s->ev.outcome = (uint8_t)outcome;
	if (rsp_ts)
		set_latency(p, s, rsp_ts);
	s->state = SLOT_READY;
	if (p->cfg.on_final)
		p->cfg.on_final(p->cfg.emit_ctx, p->conns[s->conn].flow, s->cookie, &s->ev);
}

static struct slot *conn_head(struct mbx_pair *p, struct conn *c)
{
	return c->head == PNIL ? NULL : SL(p, c->head);
}

static void pop_head(struct conn *c, struct slot *s)
{
	c->head = s->next;
	if (c->head == PNIL)
		c->tail = PNIL;
	c->npending--;
}

/* Is slot i part of the batch that starts at the connection head? */
static bool in_head_batch(struct mbx_pair *p, struct conn *c, uint64_t i)
{
	return i != PNIL && (i == c->head || (SL(p, i)->mflags & MBX_MSG_F_BATCH_CONT));
}

/* Finalise the request unit at the head (one request, or all keys of a
 * multi-key get): keys already answered keep their outcome, the others get
 * `outcome`. rsp_ts 0 = no response (latency stays unknown). */
static void complete_head_unit(struct mbx_pair *p, struct conn *c, unsigned outcome,
			       uint64_t rsp_ts)
{
	uint64_t i = c->head;
	while (in_head_batch(p, c, i)) {
		struct slot *s = SL(p, i);
		uint64_t next = s->next;
		if (s->matched) {
			/* answered by a VALUE line of a reply cut short */
			finalize(p, s, s->ev.outcome, rsp_ts ? rsp_ts : c->rsp_first_ts);
		} else {
			if (outcome == MBX_OUT_NONE)
				MBX_CTR_INC(p->ctr, req_unanswered);
			finalize(p, s, outcome, rsp_ts);
		}
		pop_head(c, s);
		i = next;
		if (i != PNIL && !(SL(p, i)->mflags & MBX_MSG_F_BATCH_CONT))
			break;
	}
	c->in_multi = 0;
	c->cursor = c->head;
}

/* Every pending request of c is finalised: no response will come. */
static void fail_all(struct mbx_pair *p, struct conn *c, bool server_closed)
{
	while (c->head != PNIL) {
		struct slot *s = conn_head(p, c);
		unsigned op = s->ev.op;
		unsigned out = MBX_OUT_NONE;
		if (server_closed && (op == MBX_OP_QUIT || op == MBX_OP_QUITQ))
			out = MBX_OUT_OK; /* quit is answered by the close itself */
		else if (s->ev.flags & MBX_EV_F_QUIET)
			out = quiet_implied(op);
		complete_head_unit(p, c, out, 0);
	}
	c->in_multi = 0;
}

/* ---- connections ------------------------------------------------------- */

static uint32_t index_slot(const struct mbx_pair *p, uint64_t flow)
{
	uint64_t h = flow * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h >> 32) & p->index_mask;
}

static struct conn *conn_find(struct mbx_pair *p, uint64_t flow)
{
	for (uint32_t i = index_slot(p, flow);; i = (i + 1) & p->index_mask) {
		uint32_t v = p->index[i];
		if (v == 0)
			return NULL;
		if (p->conns[v - 1].flow == flow)
			return &p->conns[v - 1];
	}
}

static void lru_unlink(struct mbx_pair *p, struct conn *c)
{
	if (c->lru_prev != NIL)
		p->conns[c->lru_prev].lru_next = c->lru_next;
	else
		p->lru_head = c->lru_next;
	if (c->lru_next != NIL)
		p->conns[c->lru_next].lru_prev = c->lru_prev;
	else
		p->lru_tail = c->lru_prev;
}

static void lru_push_front(struct mbx_pair *p, struct conn *c)
{
	uint32_t ci = (uint32_t)(c - p->conns);
	c->lru_prev = NIL;
	c->lru_next = p->lru_head;
	if (p->lru_head != NIL)
		p->conns[p->lru_head].lru_prev = ci;
	p->lru_head = ci;
	if (p->lru_tail == NIL)
		p->lru_tail = ci;
}

static void conn_touch(struct mbx_pair *p, struct conn *c)
{
	if (p->lru_head == (uint32_t)(c - p->conns))
		return;
	lru_unlink(p, c);
	lru_push_front(p, c);
}

static void conn_remove(struct mbx_pair *p, struct conn *c)
{
	uint32_t ci = (uint32_t)(c - p->conns);
	uint32_t i = index_slot(p, c->flow);

	fail_all(p, c, false);
	while (p->index[i] != ci + 1)
		i = (i + 1) & p->index_mask;
	/* backward-shift deletion keeps probe sequences intact */
	for (;;) {
		uint32_t j = i;
		p->index[i] = 0;
		for (;;) {
			j = (j + 1) & p->index_mask;
			uint32_t v = p->index[j];
			if (v == 0)
				goto done;
			uint32_t home = index_slot(p, p->conns[v - 1].flow);
			/* can v move to i? only if its home is not in (i, j] cyclically */
			if (((j - home) & p->index_mask) >= ((j - i) & p->index_mask))
				break;
		}
		p->index[i] = p->index[j];
		i = j;
	}
done:
	lru_unlink(p, c);
	c->used = 0;
	p->free_stack[p->free_top++] = ci;
	p->nconns--;
}

static struct conn *conn_create(struct mbx_pair *p, uint64_t flow)
{
	if (p->free_top == 0) {
		/* full: evict the least recently used connection */
		MBX_CTR_INC(p->ctr, conn_table_full);
		conn_remove(p, &p->conns[p->lru_tail]);
	}
	uint32_t ci = p->free_stack[--p->free_top];
	struct conn *c = &p->conns[ci];
	memset(c, 0, sizeof(*c));
	c->flow = flow;
	c->id = p->next_id++;
	c->head = c->tail = c->cursor = PNIL;
	c->used = 1;
	uint32_t i = index_slot(p, flow);
	while (p->index[i] != 0)
		i = (i + 1) & p->index_mask;
	p->index[i] = ci + 1;
	lru_push_front(p, c);
	p->nconns++;
	MBX_CTR_INC(p->ctr, conns);
	return c;
}

/* ---- window ------------------------------------------------------------ */

/* Finalise the oldest pending request as unanswered (window or timeout). */
static void force_head(struct mbx_pair *p)
{
	struct slot *s = SL(p, p->head);
	struct conn *c = &p->conns[s->conn];
	/* The FIFO head is the oldest request of all, hence its connection's
	 * oldest pending one: the connection head. */
	while (s->state == SLOT_PENDING && c->head != PNIL) {
		struct slot *h = conn_head(p, c);
		if (h->ev.flags & MBX_EV_F_QUIET)
			complete_head_unit(p, c, quiet_implied(h->ev.op), 0);
		else
			complete_head_unit(p, c, MBX_OUT_NONE, 0);
	}
}

static void expire(struct mbx_pair *p)
{
	while (p->head != p->tail) {
		struct slot *s = SL(p, p->head);
		if (s->state == SLOT_READY) {
			drain(p);
			continue;
		}
		if (p->now - s->ev.ts_ns <= p->cfg.timeout_ns)
			break;
		MBX_CTR_INC(p->ctr, pair_timeouts);
		force_head(p);
	}
}

/* Double the window (up to cfg.window): live slots move to their index in
 * the larger array; positions, and so every link, stay valid. */
static bool window_grow(struct mbx_pair *p)
{
	uint64_t n = (uint64_t)p->mask + 1;
	if (n >= p->cap)
		return false;
	struct slot *ns = malloc((size_t)n * 2 * sizeof(*ns));
	if (!ns)
		return false;
	for (uint64_t pos = p->head; pos != p->tail; pos++)
		ns[pos & (2 * n - 1)] = p->slots[pos & p->mask];
	free(p->slots);
	p->slots = ns;
	p->mask = (uint32_t)(2 * n - 1);
	return true;
}

static struct slot *slot_alloc(struct mbx_pair *p, uint64_t *pos)
{
	if (p->tail - p->head > p->mask) {
		drain(p);
		if (p->tail - p->head > p->mask && !window_grow(p)) {
			MBX_CTR_INC(p->ctr, pair_overflow);
			force_head(p);
			drain(p);
		}
	}
	*pos = p->tail++;
	return SL(p, *pos);
}

/* ---- messages ---------------------------------------------------------- */

static void on_req(struct mbx_pair *p, const struct mbx_msg *m)
{
	struct conn *c = conn_find(p, m->flow);
	uint64_t ts = m->ts_ns;
	uint64_t idx;

	if (!c)
		c = conn_create(p, m->flow);
	else
		conn_touch(p, c);
	if (ts < p->last_req) {
		MBX_CTR_INC(p->ctr, time_backwards);
		ts = p->last_req;
	}
	p->last_req = ts;

	struct slot *s = slot_alloc(p, &idx);
	memset(s, 0, sizeof(*s));
	s->ev.ts_ns = ts;
	s->req_ts = m->ts_ns;
	s->ev.key_hash = m->key_hash;
	s->ev.conn_id = c->id;
	s->ev.latency_ns = MBX_LAT_NONE;
	s->ev.op = m->op;
	s->ev.outcome = MBX_OUT_NONE;
	if (mbx_op_class(m->op) == MBX_OPC_STORE)
		s->ev.value_len = m->value_len;
	uint8_t fl = (uint8_t)(m->proto & MBX_EV_F_PROTO_MASK);
	if (m->key_len > 254 || (m->flags & MBX_MSG_F_KEY_CLAMP)) {
		s->ev.key_len = MBX_KEY_LEN_CLAMP;
		fl |= MBX_EV_F_KEY_CLAMPED;
	} else {
		s->ev.key_len = (uint8_t)m->key_len;
	}
	if (m->flags & MBX_MSG_F_BATCH_CONT)
		fl |= MBX_EV_F_BATCH_CONT;
	if (m->flags & MBX_MSG_F_QUIET)
		fl |= MBX_EV_F_QUIET;
	fl |= (uint8_t)((m->variant << MBX_EV_F_VARIANT_SHIFT) & MBX_EV_F_VARIANT_MASK);
	s->ev.flags = fl;
	s->opaque = m->opaque;
	s->cookie = m->cookie;
	s->mflags = m->flags;
	s->conn = (uint32_t)(c - p->conns);
	s->next = PNIL;

	if (m->proto == MBX_PROTO_TEXT && (m->flags & MBX_MSG_F_QUIET)) {
		/* text noreply: memcached sends nothing, whatever happened */
		finalize(p, s, MBX_OUT_NOREPLY, 0);
	} else {
		s->state = SLOT_PENDING;
		if (c->tail == PNIL) {
			c->head = c->tail = idx;
			c->cursor = idx;
		} else {
			SL(p, c->tail)->next = idx;
			c->tail = idx;
		}
		c->npending++;
	}
	drain(p);
}

static void orphan(struct mbx_pair *p)
{
	MBX_CTR_INC(p->ctr, rsp_orphan);
}

#define MAX_UNIT_SKIP 16 /* pending text requests a reply may pass over */

/* Can text reply m answer the request unit starting at slot position u? */
static bool text_fits(struct mbx_pair *p, uint64_t u, const struct mbx_msg *m)
{
	const struct slot *h = SL(p, u);
	unsigned op = h->ev.op;
	switch (m->code) {
	case MBX_RSP_VALUE:
		if (!is_text_retrieval(op))
			return false;
		for (uint64_t i = u; i != PNIL; i = SL(p, i)->next) {
			const struct slot *s = SL(p, i);
			if (i != u && !(s->mflags & MBX_MSG_F_BATCH_CONT))
				break;
			if (!s->matched && s->ev.key_hash == m->key_hash)
				return true;
		}
		return false;
	case MBX_RSP_STAT: return op == MBX_OP_STATS || op == MBX_OP_UNKNOWN;
	case MBX_RSP_END: return is_text_retrieval(op) || op == MBX_OP_STATS || op == MBX_OP_UNKNOWN;
	default: return map_outcome(op, m->code) >= 0;
	}
}

/* The reply does not fit the oldest request: if it fits one of the next few,
 * the requests before that one lost their replies (a capture that began
 * mid-connection, a reply the parser could not resynchronise to, a loss).
 * Settle them as unanswered and return true; false if nothing fits. */
static bool text_skip_to_fit(struct mbx_pair *p, struct conn *c, const struct mbx_msg *m)
{
	uint64_t u = c->head;
	unsigned units = 0;
	if (c->in_multi)
		return false; /* in the middle of a reply: do not jump */
	for (uint64_t i = SL(p, u)->next; i != PNIL && units < MAX_UNIT_SKIP; i = SL(p, i)->next) {
		const struct slot *s = SL(p, i);
		if (s->mflags & MBX_MSG_F_BATCH_CONT)
			continue;
		units++;
		if ((s->ev.flags & MBX_EV_F_PROTO_MASK) != MBX_PROTO_TEXT)
			return false;
		if (!text_fits(p, i, m))
			continue;
		while (c->head != i) {
			MBX_CTR_INC(p->ctr, pair_mismatch);
			complete_head_unit(p, c, MBX_OUT_NONE, 0);
		}
		return true;
	}
	return false;
}

static void text_rsp(struct mbx_pair *p, struct conn *c, const struct mbx_msg *m)
{
	struct slot *h = conn_head(p, c);
	unsigned op = h->ev.op;

	if (m->proto != MBX_PROTO_TEXT) {
		MBX_CTR_INC(p->ctr, pair_mismatch);
		orphan(p);
		return;
	}
	switch (m->code) {
	case MBX_RSP_VALUE:
		if (!is_text_retrieval(op))
			break;
		if (!c->in_multi)
			c->cursor = c->head;
		for (uint64_t i = c->cursor; in_head_batch(p, c, i); i = SL(p, i)->next) {
			struct slot *s = SL(p, i);
			if (s->matched || s->ev.key_hash != m->key_hash)
				continue;
			if (!c->in_multi) {
				c->in_multi = 1;
				c->rsp_first_ts = m->ts_ns;
			}
			/* memcached answers in key order: keys passed over missed */
			for (uint64_t j = c->cursor; j != i; j = SL(p, j)->next) {
				if (!SL(p, j)->matched) {
					SL(p, j)->matched = 1;
					SL(p, j)->ev.outcome = MBX_OUT_MISS;
				}
			}
			s->matched = 1;
			s->ev.outcome = MBX_OUT_HIT;
			s->ev.value_len = m->value_len;
			c->cursor = s->next;
			return;
		}
		break; /* no key of the batch: not this request's reply */
	case MBX_RSP_STAT:
		if (op != MBX_OP_STATS && op != MBX_OP_UNKNOWN)
			break;
		if (!c->in_multi) {
			c->in_multi = 1;
			c->rsp_first_ts = m->ts_ns;
		}
		return;
	case MBX_RSP_END:
		if (is_text_retrieval(op) || op == MBX_OP_STATS || op == MBX_OP_UNKNOWN) {
			uint64_t t = c->in_multi ? c->rsp_first_ts : m->ts_ns;
			complete_head_unit(p, c, is_text_retrieval(op) ? MBX_OUT_MISS : MBX_OUT_OK, t);
			return;
		}
		break;
	default: {
		int out = map_outcome(op, m->code);
		if (out < 0)
			break;
		uint64_t t = c->in_multi ? c->rsp_first_ts : m->ts_ns;
		complete_head_unit(p, c, (unsigned)out, t);
		return;
	}
	}
	/* The reply cannot answer the oldest request. If it answers one of the
	 * next ones, the older ones lost their replies; otherwise a request was
	 * lost (gap) or the capture began mid-pipeline: keep the requests, drop
	 * the reply. */
	if (text_skip_to_fit(p, c, m)) {
		text_rsp(p, c, m);
		return;
	}
	MBX_CTR_INC(p->ctr, pair_mismatch);
	orphan(p);
}

/* Can response m answer pending request s (meta or binary)? */
static bool can_answer(const struct slot *s, const struct mbx_msg *m)
{
	unsigned op = s->ev.op;
	unsigned sp = s->ev.flags & MBX_EV_F_PROTO_MASK;
	bool quiet = s->ev.flags & MBX_EV_F_QUIET;

	if (sp == MBX_PROTO_TEXT) {
		/* text requests are answered in order, by text_rsp(), never
		 * matched past the head here: a text slot may be the middle of
		 * a multi-key get that only completes as a whole */
		return false;
	}
	if (sp == MBX_PROTO_BINARY) {
		if (m->proto != MBX_PROTO_BINARY)
			return false;
		if (m->op != bin_wire_op(op))
			return false;
		if (s->opaque != m->opaque)
			return false;
	} else { /* meta */
		if (m->proto != MBX_PROTO_META) {
			/* text-style error lines answer any meta request, but only
			 * the oldest one can be meant */
			return m->proto == MBX_PROTO_TEXT && code_is_error(m->code);
		}
		bool so = s->mflags & MBX_MSG_F_OPAQUE, mo = m->flags & MBX_MSG_F_OPAQUE;
		if (so != mo || (so && s->opaque != m->opaque))
			return false;
	}
	if ((m->flags & MBX_MSG_F_KEY) && s->ev.key_hash && s->ev.key_hash != m->key_hash)
		return false;
	if (map_outcome(op, m->code) < 0)
		return false;
	if (quiet && !code_is_error(m->code) && quiet_suppresses(op, m->code))
		return false;
	return true;
}

static void matched_rsp(struct mbx_pair *p, struct conn *c, const struct mbx_msg *m)
{
	struct slot *h = conn_head(p, c);

	if (m->code == MBX_RSP_STAT) {
		/* binary stats: intermediate packets, terminated by an empty one */
		if (h->ev.op == MBX_OP_STATS && m->proto == MBX_PROTO_BINARY) {
			if (!c->in_multi) {
				c->in_multi = 1;
				c->rsp_first_ts = m->ts_ns;
			}
		} else {
			orphan(p);
		}
		return;
	}

	/* Find the first pending request this response can answer. Only quiet
	 * requests may be passed over (their silence is their answer); a
	 * non-quiet one passed over lost its response (counted). */
	uint64_t found = PNIL;
	uint32_t n = 0;
	for (uint64_t i = c->head; i != PNIL && n < MAX_SCAN; i = SL(p, i)->next, n++) {
		const struct slot *s = SL(p, i);
		if (can_answer(s, m)) {
			found = i;
			break;
		}
		if (!(s->ev.flags & MBX_EV_F_QUIET)) {
			/* With an opaque or key we can tell it was not this one;
			 * without, stop: the reply does not fit the oldest request. */
			bool tellable = (m->flags & (MBX_MSG_F_OPAQUE | MBX_MSG_F_KEY)) != 0;
			if (!tellable)
				break;
		}
	}
	if (found == PNIL) {
		MBX_CTR_INC(p->ctr, pair_mismatch);
		orphan(p);
		return;
	}
	while (c->head != found) {
		struct slot *s = conn_head(p, c);
		if (MBX_UNLIKELY(!s)) { /* cannot happen: found was a unit head */
			MBX_CTR_INC(p->ctr, pair_mismatch);
			orphan(p);
			return;
		}
		if (s->ev.flags & MBX_EV_F_QUIET) {
			complete_head_unit(p, c, quiet_implied(s->ev.op), 0);
		} else {
			MBX_CTR_INC(p->ctr, pair_mismatch);
			complete_head_unit(p, c, MBX_OUT_NONE, 0);
		}
	}
	struct slot *s = conn_head(p, c);
	int out = map_outcome(s->ev.op, m->code);
	if (out == MBX_OUT_HIT && mbx_op_class(s->ev.op) == MBX_OPC_RETR)
		s->ev.value_len = m->value_len;
	uint64_t t = c->in_multi ? c->rsp_first_ts : m->ts_ns;
	complete_head_unit(p, c, (unsigned)out, t);
}

static void reanchor(struct mbx_pair *p, struct conn *c, const struct mbx_msg *m);

/* A text reply while the oldest pending requests are quiet meta ones (text
 * and meta share a connection): if only quiet requests come before the first
 * text request, their silence was their answer, and the reply is the text
 * request's. Returns the protocol of the head afterwards. */
static unsigned quiet_before_text(struct mbx_pair *p, struct conn *c)
{
	uint64_t i = c->head;
	uint32_t n = 0;
	for (; i != PNIL && n < MAX_SCAN; i = SL(p, i)->next, n++) {
		const struct slot *s = SL(p, i);
		if ((s->ev.flags & MBX_EV_F_PROTO_MASK) == MBX_PROTO_TEXT)
			break;
		if (!(s->ev.flags & MBX_EV_F_QUIET))
			return SL(p, c->head)->ev.flags & MBX_EV_F_PROTO_MASK;
	}
	if (i == PNIL || n == MAX_SCAN)
		return SL(p, c->head)->ev.flags & MBX_EV_F_PROTO_MASK;
	while (c->head != i) {
		struct slot *h = conn_head(p, c);
		complete_head_unit(p, c, quiet_implied(h->ev.op), 0);
	}
	return MBX_PROTO_TEXT;
}

static void on_rsp(struct mbx_pair *p, const struct mbx_msg *m)
{
	struct conn *c = conn_find(p, m->flow);

	if (!c || c->head == PNIL) {
		orphan(p);
		return;
	}
	conn_touch(p, c);
	if (MBX_UNLIKELY(c->rsp_gap))
		reanchor(p, c, m);
	unsigned hp = SL(p, c->head)->ev.flags & MBX_EV_F_PROTO_MASK;
	if (hp != MBX_PROTO_TEXT && m->proto == MBX_PROTO_TEXT && !code_is_error(m->code))
		hp = quiet_before_text(p, c);
	if (hp == MBX_PROTO_TEXT)
		text_rsp(p, c, m);
	else
		matched_rsp(p, c, m);
	drain(p);
}

static void on_open(struct mbx_pair *p, const struct mbx_msg *m)
{
	struct conn *c = conn_find(p, m->flow);
	if (c)
		conn_remove(p, c); /* the 5-tuple is reused by a new connection */
	conn_create(p, m->flow);
	drain(p);
}

static void on_close(struct mbx_pair *p, const struct mbx_msg *m)
{
	struct conn *c = conn_find(p, m->flow);
	if (!c)
		return;
	switch (m->aux) {
	case MBX_CLOSE_RST:
		fail_all(p, c, true);
		conn_remove(p, c);
		break;
	case MBX_CLOSE_FIN:
		if (m->dir == 1) {
			/* the server closed: nothing more will be answered */
			fail_all(p, c, true);
			c->fin |= CONN_RSP_FIN;
		} else {
			c->fin |= CONN_REQ_FIN;
		}
		if ((c->fin & (CONN_REQ_FIN | CONN_RSP_FIN)) == (CONN_REQ_FIN | CONN_RSP_FIN))
			conn_remove(p, c);
		break;
	default:
		/* idle, evicted or end of capture on one direction: the
		 * connection may still be alive; timeouts and finish() settle
		 * its pending requests. */
		break;
	}
	drain(p);
}

static void on_gap(struct mbx_pair *p, const struct mbx_msg *m)
{
	struct conn *c = conn_find(p, m->flow);
	if (!c)
		return;
	if (m->dir == 1) {
		/* Responses were lost, how many is unknown. The next response
		 * re-anchors the pairing (see reanchor()). A reply cut short by
		 * the hole ends here. */
		c->rsp_gap = 1;
		if (c->in_multi && c->head != PNIL)
			complete_head_unit(p, c, MBX_OUT_NONE, 0);
		c->in_multi = 0;
	}
	/* Requests lost (dir 0): their replies find either no pending request
	 * (an orphan) or an incompatible one (a mismatch, dropped). */
	drain(p);
}

/* First response after responses were lost: it answers the NEWEST pending
 * request that was complete before it started and that it can answer (for a
 * client that waits for each reply, exactly the right one; for a pipelining
 * client, pairs up to the pipeline depth may be lost). Older pending
 * requests lost their replies in the hole. */
static void reanchor(struct mbx_pair *p, struct conn *c, const struct mbx_msg *m)
{
	uint64_t pick = PNIL;

	c->rsp_gap = 0;
	for (uint64_t i = c->head; i != PNIL; i = SL(p, i)->next) {
		const struct slot *s = SL(p, i);
		if (s->req_ts > m->ts_ns)
			break;
		if (s->mflags & MBX_MSG_F_BATCH_CONT)
			continue; /* only batch heads start a request unit */
		unsigned sp = s->ev.flags & MBX_EV_F_PROTO_MASK;
		bool ok;
		if (sp == MBX_PROTO_TEXT) {
			ok = m->proto == MBX_PROTO_TEXT &&
			     (map_outcome(s->ev.op, m->code) >= 0 ||
			      (is_text_retrieval(s->ev.op) && m->code == MBX_RSP_VALUE) ||
			      (s->ev.op == MBX_OP_STATS && m->code == MBX_RSP_STAT));
		} else {
			ok = can_answer(s, m);
		}
		if (ok)
			pick = i;
	}
	if (pick == PNIL)
		return; /* nothing fits: normal pairing will drop the reply */
	while (c->head != pick) {
		struct slot *s = conn_head(p, c);
		complete_head_unit(p, c,
				   (s->ev.flags & MBX_EV_F_QUIET) ? quiet_implied(s->ev.op) : MBX_OUT_NONE,
				   0);
	}
}

void mbx_pair_input(struct mbx_pair *p, const struct mbx_msg *m)
{
	if (m->ts_ns > p->now) {
		p->now = m->ts_ns;
		/* cheap check of the FIFO head only */
		if (p->head != p->tail) {
			const struct slot *s = SL(p, p->head);
			if (s->state == SLOT_PENDING && p->now - s->ev.ts_ns > p->cfg.timeout_ns)
				expire(p);
		}
	}
	switch (m->kind) {
	case MBX_MSG_REQ: on_req(p, m); break;
	case MBX_MSG_RSP: on_rsp(p, m); break;
	case MBX_MSG_OPEN: on_open(p, m); break;
	case MBX_MSG_CLOSE: on_close(p, m); break;
	case MBX_MSG_GAP: on_gap(p, m); break;
	default: break;
	}
}

void mbx_pair_sink_emit(void *pair, const struct mbx_msg *m)
{
	mbx_pair_input(pair, m);
}

void mbx_pair_advance(struct mbx_pair *p, uint64_t now)
{
	if (now > p->now)
		p->now = now;
	expire(p);
	drain(p);
	out_flush(p);
}

void mbx_pair_finish(struct mbx_pair *p)
{
	while (p->head != p->tail) {
		drain(p);
		if (p->head == p->tail)
			break;
		force_head(p);
	}
	out_flush(p);
}
