/* SPDX-License-Identifier: Apache-2.0 */
/* Replay worker: one thread, one epoll loop, its own connection pool.
 *
 * Items arrive from the reader's ring in intended-time order. An item is
 * sent when due on the pool connection of its recorded connection (and of
 * its key's target); if that connection cannot take it now (connecting,
 * output full, or the closed-loop pipeline is full) it is parked on its pool
 * slot and sent, in order, as soon as the connection can take it. Replies
 * are parsed by the recorder's own parser and paired by the recorder's own
 * pairing stage, which reports each request's outcome through on_final.
 * No allocation, lock or formatted output per request. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_int.h"
#include "mbx/log.h"

#define RECV_BUF (256 * 1024)
#define Q_CAP 8192
#define INFO_CAP (1u << 18)
#define SPIN_NS (60 * MBX_NSEC_PER_USEC)
#define BACKOFF_MIN (10 * MBX_NSEC_PER_MSEC)
#define BACKOFF_MAX MBX_NSEC_PER_SEC

static __thread uint8_t recv_buf[RECV_BUF];

static inline bool timed(const struct rp_worker *w)
{
	return w->eng->cfg->timing != MBX_TIMING_NONE;
}

/* Connections of a pool slot: one per target, and per protocol family when
 * the profile mixes binary with text/meta (memcached fixes a connection's
 * protocol at its first request, so folded connections must not mix). */
static inline struct rp_conn *conn_at(struct rp_worker *w, uint32_t pool, unsigned proto,
				      uint32_t target)
{
	unsigned fam = (w->eng->nfam > 1 && proto == MBX_PROTO_BINARY) ? 1 : 0;
	return &w->conns[(size_t)pool * w->per_pool + (size_t)fam * w->eng->cfg->ntargets + target];
}

/* ---- pairing glue -------------------------------------------------------- */

static void pair_emit_noop(void *ctx, const struct mbx_event *ev, size_t n)
{
	(void)ctx;
	(void)ev;
	(void)n;
}

static void on_final(void *ctx, uint64_t flow, uint32_t cookie, const struct mbx_event *ev)
{
	struct rp_worker *w = ctx;
	struct rp_req_info *in = &w->info[cookie & (w->info_cap - 1)];
	struct rp_conn *c = &w->conns[in->conn];

	(void)flow;
	if (w->inflight)
		w->inflight--;
	if (ev->outcome == MBX_OUT_NONE) {
		/* no reply: our timeout closed the connection, or it failed */
		if (w->failing_timeout)
			mbx_rstats_timeout(w->stats, ev->op, mbx_ev_proto(ev), 1);
		else
			mbx_rstats_abort(w->stats, ev->op, mbx_ev_proto(ev), 1);
	} else {
		mbx_rstats_done(w->stats, ev->op, mbx_ev_proto(ev), ev->outcome,
				ev->latency_ns == MBX_LAT_NONE ? MBX_RSTATS_LAT_NONE : ev->latency_ns,
				in->rec_outcome);
	}
	if (in->unit_last && in->incarnation == c->incarnation && c->outstanding > 0) {
		c->outstanding--;
		if (c->outstanding <= w->refill_low)
			c->draining = 0; /* at the low mark: refill in one batch */
		c->last_progress = rp_now();
	}
}

static void pair_ctl(struct rp_worker *w, struct rp_conn *c, unsigned kind, unsigned aux)
{
	struct mbx_msg m;
	memset(&m, 0, sizeof(m));
	m.kind = (uint8_t)kind;
	m.flow = c->flow;
	m.ts_ns = rp_now();
	m.aux = (uint16_t)aux;
	m.dir = kind == MBX_MSG_CLOSE ? 1 : 0;
	mbx_pair_input(w->pair, &m);
}

/* ---- connections --------------------------------------------------------- */

/* Timed requests queued on c that will never be written (the connection
 * failed, or the run ended): their send lag is at least until now, and is
 * recorded so (the worst-delayed requests stay in the lag figures, and
 * every request counted as sent has one lag sample). */
static void lagq_settle(struct rp_worker *w, struct rp_conn *c, uint64_t now)
{
	for (; c->lq_head != c->lq_tail; c->lq_head++)
		mbx_rstats_lag(w->stats, c->lagq[c->lq_head % RP_SEGS].due, now);
	c->lq_head = c->lq_tail = 0;
}

static void conn_reset_output(struct rp_worker *w, struct rp_conn *c)
{
	lagq_settle(w, c, rp_now());
	c->seg_head = c->seg_tail = 0;
	c->seg_off = 0;
	c->arena_head = c->arena_tail = 0;
}

static void conn_fail(struct rp_worker *w, struct rp_conn *c, bool was_timeout)
{
	bool was_up = c->state == RP_UP;

	if (c->fd >= 0) {
		close(c->fd); /* also removes it from epoll */
		c->fd = -1;
	}
	if (was_up) {
		/* every request still pending on this incarnation is unanswered */
		w->failing_timeout = was_timeout;
		pair_ctl(w, c, MBX_MSG_CLOSE, MBX_CLOSE_RST);
		w->failing_timeout = false;
		mbx_parser_fini(&c->parser, &w->pctx);
		mbx_rstats_add(w->stats, MBX_RSTAT_RECONNECTS, 1);
		if (w->up_conns)
			w->up_conns--;
	} else {
		mbx_rstats_add(w->stats, MBX_RSTAT_CONNECT_ERRORS, 1);
	}
	conn_reset_output(w, c);
	c->outstanding = 0;
	c->draining = 0;
	c->want_out = 0;
	c->state = RP_DOWN;
	c->incarnation++;
	uint64_t now = rp_now();
	c->backoff_ns = c->backoff_ns ? MBX_MIN(c->backoff_ns * 2, BACKOFF_MAX) : BACKOFF_MIN;
	c->retry_at = now + c->backoff_ns;
}

/* A connection attempt failed with errno e: remembered for the message. */
static void connect_failed(struct rp_worker *w, struct rp_conn *c, int e)
{
	w->connect_errno = e ? e : ECONNREFUSED;
	w->connect_target = c->target;
	conn_fail(w, c, false);
}

static void conn_start(struct rp_worker *w, struct rp_conn *c)
{
	const struct mbx_target *t = &w->eng->cfg->targets[c->target];
	struct epoll_event ev = { 0 };
	int one = 1;

	c->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		connect_failed(w, c, errno);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 && errno != EINPROGRESS) {
		connect_failed(w, c, errno);
		return;
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
	ev.data.u32 = c->index;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		connect_failed(w, c, errno);
		return;
	}
	c->want_out = 1;
	c->state = RP_CONNECTING;
	c->connected_at = rp_now(); /* connecting since */
}

static void conn_up(struct rp_worker *w, struct rp_conn *c)
{
	c->state = RP_UP;
	c->backoff_ns = 0;
	c->connected_at = rp_now();
	c->flow = ++w->next_flow;
	c->outstanding = 0;
	c->draining = 0;
	mbx_parser_init(&c->parser, c->flow, 1, true);
	pair_ctl(w, c, MBX_MSG_OPEN, 0);
	w->up_conns++;
	w->ever_up = true;
	w->last_up_ns = c->connected_at;
}

static void conn_set_out(struct rp_worker *w, struct rp_conn *c, bool on)
{
	struct epoll_event ev = { 0 };
	if (c->want_out == on)
		return;
	ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
	ev.data.u32 = c->index;
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = on;
}

static void mark_dirty(struct rp_worker *w, struct rp_conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		w->dirty[w->ndirty++] = c->index;
	}
}

/* Write as much queued output as the socket takes. */
static void conn_flush(struct rp_worker *w, struct rp_conn *c)
{
	struct iovec iov[64];

	while (c->state == RP_UP && c->seg_head != c->seg_tail) {
		int n = 0;
		for (uint32_t s = c->seg_head; s != c->seg_tail && n < 64; s++, n++) {
			const struct rp_seg *g = &c->seg[s % RP_SEGS];
			uint32_t off = s == c->seg_head ? c->seg_off : 0;
			iov[n].iov_base = (void *)(uintptr_t)(g->p + off);
			iov[n].iov_len = g->len - off;
		}
		/* timed requests waiting for this write: their send time */
		uint64_t t_write = c->lq_head != c->lq_tail ? rp_now() : 0;
		ssize_t r = writev(c->fd, iov, n);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_set_out(w, c, true);
				return;
			}
			if (errno == EINTR)
				continue;
			conn_fail(w, c, false);
			return;
		}
		mbx_rstats_add(w->stats, MBX_RSTAT_BYTES_OUT, (uint64_t)r);
		size_t left = (size_t)r;
		while (left) {
			struct rp_seg *g = &c->seg[c->seg_head % RP_SEGS];
			size_t rest = g->len - c->seg_off;
			if (left < rest) {
				c->seg_off += (uint32_t)left;
				break;
			}
			left -= rest;
			if (g->arena_end)
				c->arena_head = g->arena_end;
			c->seg_head++;
			c->seg_off = 0;
		}
		/* timed requests whose first byte went out in this write */
		while (c->lq_head != c->lq_tail) {
			const struct rp_lagq *q = &c->lagq[c->lq_head % RP_SEGS];
			if ((int32_t)(q->seg - c->seg_head) > 0 ||
			    (q->seg == c->seg_head && c->seg_off == 0))
				break;
			mbx_rstats_lag(w->stats, q->due, t_write);
			c->lq_head++;
		}
	}
	if (c->seg_head == c->seg_tail) {
		c->arena_head = c->arena_tail = 0;
		if (c->state == RP_UP)
			conn_set_out(w, c, false);
	}
}

static void conn_read(struct rp_worker *w, struct rp_conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, recv_buf, sizeof(recv_buf), 0);
		if (r > 0) {
			uint64_t now = rp_now();
			mbx_rstats_add(w->stats, MBX_RSTAT_BYTES_IN, (uint64_t)r);
			mbx_parser_data(&c->parser, &w->pctx, recv_buf, (size_t)r, now);
			if (c->outstanding)
				c->last_progress = now;
			if ((size_t)r < sizeof(recv_buf))
				return;
			continue;
		}
		if (r == 0) {
			conn_fail(w, c, false); /* the server closed */
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		conn_fail(w, c, false);
		return;
	}
}

/* ---- sending ------------------------------------------------------------- */

static inline uint32_t segs_free(const struct rp_conn *c)
{
	return RP_SEGS - (c->seg_tail - c->seg_head);
}

static inline uint32_t arena_free(const struct rp_conn *c)
{
	return RP_ARENA - c->arena_tail;
}

/* Room for a request with a header of hdr bytes and a value of vlen bytes? */
static bool conn_room(const struct rp_worker *w, const struct rp_conn *c, size_t hdr, uint32_t vlen)
{
	uint32_t vsegs = vlen ? 1 + (uint32_t)(vlen / mbx_valbuf_size(w->eng->vb)) : 0;
	if (c->state != RP_UP)
		return false;
	/* a request's info lives in a ring of info_cap entries until its
	 * outcome is final: never have more in flight than it holds */
	if (w->inflight + MBX_BATCH_MAX >= w->info_cap)
		return false;
	if (!timed(w) && (c->draining || c->outstanding >= w->eng->cfg->pipeline))
		return false;
	return segs_free(c) >= vsegs + 2 && arena_free(c) >= hdr + 2;
}

static void queue_bytes(struct rp_conn *c, const void *p, size_t n)
{
	uint8_t *dst = c->arena + c->arena_tail;
	memcpy(dst, p, n);
	c->arena_tail += (uint32_t)n;
	struct rp_seg *g = &c->seg[c->seg_tail++ % RP_SEGS];
	g->p = dst;
	g->len = (uint32_t)n;
	g->arena_end = c->arena_tail;
}

static void queue_value(struct rp_conn *c, const uint8_t *v, uint32_t avail, uint32_t len)
{
	while (len) {
		uint32_t n = MBX_MIN(len, avail);
		struct rp_seg *g = &c->seg[c->seg_tail++ % RP_SEGS];
		g->p = v;
		g->len = n;
		g->arena_end = 0;
		len -= n;
	}
}

/* The items forming one request: the head, plus following batch keys
 * (BATCH_CONT) of the same pool slot, available in this queue. */
static uint32_t request_len(const struct rp_item *q, uint32_t head, uint32_t tail, uint32_t mask,
			    uint32_t max)
{
	uint32_t n = 1;
	const struct rp_item *h = &q[head & mask];
	while (head + n != tail && n < max) {
		const struct rp_item *it = &q[(head + n) & mask];
		if (!(it->ev.flags & MBX_EV_F_BATCH_CONT) || it->pool != h->pool)
			break;
		n++;
	}
	return n;
}

enum send_res { SENT, NOROOM, SKIPPED };

/* Encode and queue the request made of items[0..n) (all of one pool slot).
 * Returns NOROOM without side effects if a connection cannot take it. */
static enum send_res send_request(struct rp_worker *w, const struct rp_item *items, uint32_t n,
				  uint64_t now)
{
	if (MBX_UNLIKELY(n == 0))
		return SKIPPED;
	const struct mbx_replay_cfg *cfg = w->eng->cfg;
	const struct mbx_event *ev0 = &items[0].ev;
	unsigned rec_proto = mbx_ev_proto(ev0);
	unsigned proto = cfg->protocol >= 0 ? (unsigned)cfg->protocol : rec_proto;
	uint8_t variant = (uint8_t)mbx_ev_variant(ev0);
	uint8_t quiet = (ev0->flags & MBX_EV_F_QUIET) ? 1 : 0;
	unsigned op = mbx_rreq_translate(ev0->op, rec_proto, proto, &variant, &quiet);
	uint32_t pool = items[0].pool;
	uint32_t ntg = cfg->ntargets;

	if (op == MBX_OP_NONE || mbx_rreq_skipped_op(op)) {
		mbx_rstats_skip(w->stats, ev0->op, rec_proto, n);
		return SKIPPED;
	}
	bool keyed = ev0->key_len > 0 || ev0->key_hash != 0;
	/* text multi-key gets stay one line per target; meta/binary send one
	 * request per key */
	bool multi = proto == MBX_PROTO_TEXT && n > 1;

	/* targets of each key: keyed requests by consistent hash, keyless ones
	 * (version, stats, noop...) follow the connection's last target */
	uint32_t tg[MBX_BATCH_MAX];
	for (uint32_t i = 0; i < n; i++) {
		tg[i] = 0;
		if (ntg > 1)
			tg[i] = keyed ? rp_jump_hash(items[i].ev.key_hash, ntg) : w->last_target[pool];
	}

	/* every connection involved must have room; check before any effect */
	for (uint32_t i = 0; i < n; i++) {
		struct rp_conn *c = conn_at(w, pool, proto, tg[i]);
		if (!c->wanted) {
			c->wanted = 1; /* first use: housekeeping connects it */
			c->retry_at = 0;
		}
		size_t hdr = multi ? (size_t)n * (MBX_KEY_MAX + 1) + 64 : MBX_KEY_MAX + 128;
		if (!conn_room(w, c, hdr, items[i].ev.value_len))
			return NOROOM;
	}
	if (keyed && ntg > 1)
		w->last_target[pool] = (uint16_t)tg[n - 1];

	/* one wire request per (target) for text batches, per key otherwise */
	uint32_t done_mask[MBX_BATCH_MAX] = { 0 };
	for (uint32_t i = 0; i < n; i++) {
		if (done_mask[i])
			continue;
		struct mbx_rreq rq;
		uint32_t members[MBX_BATCH_MAX], nm = 0;
		memset(&rq, 0, sizeof(rq));
		rq.op = (uint8_t)op;
		rq.proto = (uint8_t)proto;
		rq.variant = variant;
		rq.quiet = quiet;
		for (uint32_t j = i; j < n; j++) {
			if (done_mask[j] || tg[j] != tg[i] || (!multi && j != i))
				continue;
			members[nm++] = j;
			done_mask[j] = 1;
		}
		struct rp_conn *c = conn_at(w, pool, proto, tg[i]);
		rq.nkeys = keyed ? nm : 0;
		for (uint32_t k = 0; keyed && k < nm; k++) {
			const struct mbx_event *e = &items[members[k]].ev;
			size_t kl = mbx_keygen_key(&w->eng->kg, e->key_hash, e->key_len, w->keybuf[k]);
			rq.keys[k] = w->keybuf[k];
			rq.key_lens[k] = (uint8_t)kl;
		}
		rq.value_len = items[i].ev.value_len;
		rq.value_hash = items[i].ev.key_hash;
		bool opaque = proto == MBX_PROTO_BINARY || (proto == MBX_PROTO_META && quiet);
		if (opaque)
			rq.opaque = ++w->opaque;
		struct mbx_rreq_wire wire;
		if (mbx_rreq_encode(&rq, w->eng->vb, w->scratch, sizeof(w->scratch), &wire) < 0) {
			mbx_rstats_skip(w->stats, op, proto, nm);
			continue;
		}
		if (timed(w) && items[i].t_due) {
			/* at most one per segment: lagq has RP_SEGS entries */
			struct rp_lagq *q = &c->lagq[c->lq_tail++ % RP_SEGS];
			q->due = items[i].t_due;
			q->seg = c->seg_tail;
		}
		queue_bytes(c, wire.hdr, wire.hdr_len);
		if (wire.value_len)
			queue_value(c, wire.value, wire.value_avail, wire.value_len);
		if (wire.tail_len)
			queue_bytes(c, wire.tail, wire.tail_len);
		mark_dirty(w, c);

		/* tell pairing what was sent, one message per key */
		bool expects = !quiet;
		struct mbx_msg msgs[MBX_BATCH_MAX];
		uint32_t nk = mbx_rreq_msgs(&rq, w->salt, msgs);
		for (uint32_t k = 0; k < nk; k++) {
			const struct rp_item *it = &items[members[k < nm ? k : 0]];
			struct mbx_msg *mp = &msgs[k];
			mp->flow = c->flow;
			mp->ts_ns = timed(w) && it->t_due ? it->t_due : now;
			uint32_t ck = w->cookie++;
			struct rp_req_info *in = &w->info[ck & (w->info_cap - 1)];
			in->rec_op = it->ev.op;
			in->rec_proto = (uint8_t)mbx_ev_proto(&it->ev);
			in->rec_outcome = it->ev.outcome;
			in->unit_last = expects && k == nk - 1;
			in->conn = c->index;
			in->incarnation = c->incarnation;
			in->t_sent = now;
			mp->cookie = ck;
			w->inflight++;
			mbx_pair_input(w->pair, mp);
		}
		mbx_rstats_sent_count(w->stats, op, proto, nk,
				timed(w) && items[i].t_due ? items[i].t_due : MBX_RSTATS_UNTIMED, now);
		if (expects) {
			if (c->outstanding == 0)
				c->last_progress = now;
			c->outstanding++;
			/* --refill-at: a full connection waits for the low
			 * mark, then gets a batch of requests in one write */
			if (c->outstanding >= w->eng->cfg->pipeline &&
			    w->refill_low + 1 < w->eng->cfg->pipeline)
				c->draining = 1;
		}
	}
	return SENT;
}

/* ---- parking -------------------------------------------------------------- */

/* Park slot: the first connection of the pool slot holds its parked items
 * (items of one recorded connection stay in order). */
static inline struct rp_conn *park_conn(struct rp_worker *w, uint32_t pool)
{
	return &w->conns[(size_t)pool * w->per_pool];
}

/* Has a connection this pool slot uses failed (down after an error)? Its
 * parked items will not be sent in time: they fail rather than wait. */
static bool pool_failed(const struct rp_worker *w, uint32_t pool)
{
	for (uint32_t k = 0; k < w->per_pool; k++) {
		const struct rp_conn *c = &w->conns[pool * w->per_pool + k];
		if (c->wanted && c->state == RP_DOWN && c->backoff_ns)
			return true;
	}
	return false;
}

static inline uint32_t park_count(const struct rp_conn *p)
{
	return p->park_tail - p->park_head;
}

/* Send parked items of this pool slot while the connections take them. */
static void unpark(struct rp_worker *w, uint32_t pool, uint64_t now)
{
	struct rp_conn *p = park_conn(w, pool);
	struct rp_item batch[MBX_BATCH_MAX];

	while (park_count(p)) {
		uint32_t n = request_len(p->park, p->park_head, p->park_tail, RP_PARK - 1, MBX_BATCH_MAX);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = p->park[(p->park_head + i) & (RP_PARK - 1)];
		enum send_res r = send_request(w, batch, n, now);
		if (r == NOROOM)
			return;
		p->park_head += n;
	}
}

/* Parked items that will not be sent. They were due: while their connection
 * is down they fail (counted as aborted, and so in the error rate); when the
 * run was stopped (count = false) they are simply not part of it. */
static void drop_parked(struct rp_worker *w, struct rp_conn *c, bool count)
{
	while (park_count(c)) {
		const struct rp_item *it = &c->park[c->park_head++ & (RP_PARK - 1)];
		if (count) {
			mbx_rstats_abort(w->stats, it->ev.op, mbx_ev_proto(&it->ev), 1);
			w->unsent_failed++;
		}
	}
}

/* ---- the loop -------------------------------------------------------------- */

static uint32_t q_count(const struct rp_worker *w)
{
	return w->q_tail - w->q_head;
}

static void pull_ring(struct rp_worker *w)
{
	uint32_t space = w->q_cap - q_count(w);
	while (space) {
		uint32_t idx = w->q_tail & (w->q_cap - 1);
		uint32_t contiguous = MBX_MIN(space, w->q_cap - idx);
		uint32_t got = mbx_ring_dequeue_burst(w->ring, &w->q[idx], contiguous);
		if (!got)
			break;
		w->q_tail += got;
		space -= got;
	}
}

/* Dispatch due items. Returns the due time of the next item (0 = none), or
 * DISPATCH_BLOCKED when the head item cannot be sent or parked. */
#define DISPATCH_BLOCKED UINT64_MAX
static uint64_t dispatch(struct rp_worker *w, uint64_t now)
{
	struct rp_item batch[MBX_BATCH_MAX];
	uint32_t mask = w->q_cap - 1;

	while (q_count(w)) {
		const struct rp_item *h = &w->q[w->q_head & mask];
		if (timed(w) && h->t_due > now)
			return h->t_due;
		uint32_t n = request_len(w->q, w->q_head, w->q_tail, mask, MBX_BATCH_MAX);
		if (n == q_count(w) && n < MBX_BATCH_MAX && q_count(w) < w->q_cap) {
			/* the reader enqueues a batch at once, but our queue may
			 * have cut it: take what follows before sending */
			pull_ring(w);
			h = &w->q[w->q_head & mask];
		}
		n = request_len(w->q, w->q_head, w->q_tail, mask, MBX_BATCH_MAX);
		struct rp_conn *p = park_conn(w, h->pool);
		if (park_count(p) == 0) {
			for (uint32_t i = 0; i < n; i++)
				batch[i] = w->q[(w->q_head + i) & mask];
			enum send_res r = send_request(w, batch, n, now);
			if (r != NOROOM) {
				w->q_head += n;
				continue;
			}
		}
		/* cannot send now: park (keeps this recorded connection's order) */
		if (park_count(p) + n > RP_PARK) {
			/* parking full: the connection is slow or down. Only a
			 * reply, a writable socket or housekeeping (reconnect,
			 * failing a down connection's items) can make room: wait
			 * for I/O rather than poll */
			return DISPATCH_BLOCKED;
		}
		for (uint32_t i = 0; i < n; i++)
			p->park[(p->park_tail + i) & (RP_PARK - 1)] = w->q[(w->q_head + i) & mask];
		p->park_tail += n;
		w->q_head += n;
	}
	return 0;
}

static void flush_dirty(struct rp_worker *w)
{
	uint32_t n = w->ndirty;
	w->ndirty = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct rp_conn *c = &w->conns[w->dirty[i]];
		c->dirty = 0;
		conn_flush(w, c);
	}
}

static bool all_idle(const struct rp_worker *w)
{
	for (uint32_t i = 0; i < w->nconns; i++) {
		const struct rp_conn *c = &w->conns[i];
		if (c->outstanding || c->seg_head != c->seg_tail || park_count(c))
			return false;
	}
	return true;
}

static void housekeeping(struct rp_worker *w, uint64_t now, bool stopping)
{
	const struct mbx_replay_cfg *cfg = w->eng->cfg;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct rp_conn *c = &w->conns[i];
		if (c->state == RP_DOWN && c->wanted && now >= c->retry_at && !stopping)
			conn_start(w, c);
		else if (c->state == RP_UP && c->outstanding && now - c->last_progress > cfg->timeout_ns) {
			conn_fail(w, c, true); /* its pending requests count as timeouts */
		} else if (c->state == RP_CONNECTING && now - c->connected_at > cfg->timeout_ns) {
			connect_failed(w, c, ETIMEDOUT); /* connect timed out */
		}
		if (park_count(c) && !stopping && pool_failed(w, c->index / w->per_pool))
			drop_parked(w, c, true); /* waiting for a connection that is down: they fail */
		else if (park_count(c))
			unpark(w, c->index / w->per_pool, now);
	}
	if (w->up_conns)
		w->last_up_ns = now;
	mbx_pair_advance(w->pair, now);
	/* replies that matched no request, seen by parser and pairing */
	uint64_t perr = w->pctr.rsp_orphan + w->pctr.parse_errors;
	if (perr > w->proto_errs_seen) {
		mbx_rstats_add(w->stats, MBX_RSTAT_PROTOCOL_ERRORS, perr - w->proto_errs_seen);
		w->proto_errs_seen = perr;
	}
}

void *rp_worker_main(void *arg)
{
	struct rp_worker *w = arg;
	struct rp_engine *e = w->eng;
	const struct mbx_replay_cfg *cfg = e->cfg;
	struct epoll_event evs[256];
	uint64_t next_house = 0;
	uint64_t stop_since = 0;
	/* closed loop only (at most 10 ms: the CLI's bound) */
	struct timespec batch_wait = { 0, cfg->timing == MBX_TIMING_NONE ?
					      (long)MBX_MIN(cfg->batch_wait_ns, 999999999ULL) : 0 };

	if (cfg->lcores[w->id] >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cfg->lcores[w->id], &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			pr_warn("worker %u: cannot pin to CPU %d", w->id, cfg->lcores[w->id]);
	}
	/* wake up when asked: the default timer slack (50 us) would make
	 * every timed send up to 50 us late */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	w->last_up_ns = rp_now();
	for (;;) {
		uint64_t now = rp_now();
		int stop = __atomic_load_n(&e->stop, __ATOMIC_ACQUIRE);
		mbx_rstats_poll(w->stats);
		if (stop == 2)
			break;
		if (stop && !stop_since)
			stop_since = now;
		if (!stop)
			pull_ring(w);
		uint64_t next_due = stop ? 0 : dispatch(w, now);
		flush_dirty(w);
		if (now >= next_house) {
			housekeeping(w, now, stop != 0);
			next_house = now + MBX_NSEC_PER_MSEC;
		}
		/* finished? */
		bool input_done = stop || (mbx_ring_done(w->ring) && q_count(w) == 0);
		if (input_done && all_idle(w))
			break;
		if (stop && now - stop_since > cfg->timeout_ns)
			break; /* stopped: do not wait longer than a timeout for replies */
		if (w->up_conns == 0 && w->connect_errno &&
		    now - w->last_up_ns > MBX_MAX(5 * MBX_NSEC_PER_SEC, 3 * cfg->timeout_ns)) {
			w->error = -ENOTCONN;
			break;
		}
		/* wait: until the next item is due, for I/O, or housekeeping */
		int64_t wait_ns = (int64_t)MBX_NSEC_PER_MSEC;
		if (next_due && next_due != DISPATCH_BLOCKED) /* blocked: until I/O */
			wait_ns = next_due > now ? MBX_MIN(wait_ns, (int64_t)(next_due - now)) :
						   0; /* due now: poll */
		if (q_count(w) == 0 && !input_done && wait_ns > 100000)
			wait_ns = 100000; /* ring empty: look again soon */
		struct timespec to = { 0, 0 };
		if (wait_ns > (int64_t)SPIN_NS)
			to.tv_nsec = wait_ns - (int64_t)SPIN_NS / 2;
		/* --batch-wait: nothing can be sent until replies come; let
		 * them gather, then read them in one round (one wake-up and
		 * one read per connection for many replies, instead of one
		 * per reply or two as the server produces them) */
		if (next_due == DISPATCH_BLOCKED && batch_wait.tv_nsec && !stop)
			clock_nanosleep(CLOCK_MONOTONIC, 0, &batch_wait, NULL);
		int nev = epoll_pwait2(w->epfd, evs, 256, &to, NULL);
		if (nev < 0 && errno != EINTR) {
			w->error = -errno;
			break;
		}
		for (int i = 0; i < nev; i++) {
			struct rp_conn *c = &w->conns[evs[i].data.u32];
			uint32_t ev = evs[i].events;
			if (c->state == RP_CONNECTING) {
				int err = 0;
				socklen_t len = sizeof(err);
				if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
					continue;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || (ev & (EPOLLERR | EPOLLHUP))) {
					connect_failed(w, c, err);
					continue;
				}
				conn_up(w, c);
				unpark(w, c->index / w->per_pool, rp_now());
				conn_flush(w, c);
				continue;
			}
			if (c->state != RP_UP)
				continue;
			if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				conn_read(w, c);
			if (c->state == RP_UP && (ev & EPOLLOUT))
				conn_flush(w, c);
			if (c->state == RP_UP && park_count(park_conn(w, c->index / w->per_pool)))
				unpark(w, c->index / w->per_pool, rp_now());
			/* timed: a send that fell due while replies were being
			 * read goes now, not after the whole round (a busy
			 * server answers in bursts; reading one took the next
			 * sends' time) */
			if (timed(w) && next_due && next_due != DISPATCH_BLOCKED && !stop) {
				uint64_t t = rp_now();
				if (t >= next_due) {
					next_due = dispatch(w, t);
					flush_dirty(w);
				}
			}
		}
		flush_dirty(w);
	}
	/* Items not sent: after a stop (signal, --duration) they are not part
	 * of the run and are not counted (the local queue holds up to Q_CAP
	 * items read ahead, mostly not yet due). After giving up on the
	 * targets, those already due failed like the ones dropped while their
	 * connection was down. */
	bool count_unsent = w->error != 0;
	uint64_t now_end = rp_now();
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct rp_conn *c = &w->conns[i];
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		lagq_settle(w, c, now_end);
		drop_parked(w, c, count_unsent);
	}
	/* requests still pending are unanswered (aborted); quiet ones without
	 * a later reply get their implied outcome */
	mbx_pair_finish(w->pair);
	while (q_count(w)) {
		const struct rp_item *it = &w->q[w->q_head++ & (w->q_cap - 1)];
		if (count_unsent && (!timed(w) || it->t_due <= now_end)) {
			mbx_rstats_abort(w->stats, it->ev.op, mbx_ev_proto(&it->ev), 1);
			w->unsent_failed++;
		}
	}
	uint64_t perr = w->pctr.rsp_orphan + w->pctr.parse_errors;
	if (perr > w->proto_errs_seen)
		mbx_rstats_add(w->stats, MBX_RSTAT_PROTOCOL_ERRORS, perr - w->proto_errs_seen);
	mbx_rstats_poll(w->stats);
	__atomic_store_n(&w->finished, true, __ATOMIC_RELEASE);
	return NULL;
}

int rp_worker_init(struct rp_engine *e, struct rp_worker *w, unsigned id, uint32_t npool)
{
	const struct mbx_replay_cfg *cfg = e->cfg;
	struct mbx_pair_cfg pc;

	memset(w, 0, sizeof(*w));
	w->eng = e;
	w->id = id;
	w->epfd = -1;
	w->npool = npool;
	w->per_pool = cfg->ntargets * (e->nfam > 1 ? 2 : 1);
	w->refill_low = MBX_MIN(cfg->refill_at, cfg->pipeline - 1); /* pipeline >= 1 */
	w->nconns = npool * w->per_pool;
	if (mbx_salt_random(w->salt) < 0)
		return -EIO;
	w->ring = mbx_ring_create(cfg->ring_size, sizeof(struct rp_item));
	w->stats = mbx_rstats_create();
	w->carry = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, w->nconns * 2 + 16);
	w->conns = calloc(w->nconns, sizeof(*w->conns));
	w->dirty = calloc(w->nconns, sizeof(*w->dirty));
	w->q_cap = Q_CAP;
	w->q = calloc(w->q_cap, sizeof(*w->q));
	w->info_cap = INFO_CAP;
	w->info = calloc(w->info_cap, sizeof(*w->info));
	w->last_target = calloc(npool, sizeof(*w->last_target));
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!w->ring || !w->stats || !w->carry || !w->conns || !w->dirty || !w->q || !w->info ||
	    !w->last_target || w->epfd < 0)
		return -ENOMEM;
	w->pctx.salt = w->salt;
	w->pctx.pool = w->carry;
	w->pctx.ctr = &w->pctr;
	w->pctx.worker = (uint8_t)id;

	mbx_pair_cfg_defaults(&pc);
	pc.max_conns = w->nconns * 2 + 16;
	pc.window = INFO_CAP;
	pc.timeout_ns = 2 * cfg->timeout_ns;
	pc.emit = pair_emit_noop;
	pc.emit_ctx = w;
	pc.on_final = on_final;
	pc.ctr = &w->pctr;
	w->pair = mbx_pair_create(&pc);
	if (!w->pair)
		return -ENOMEM;
	w->pctx.sink.emit = mbx_pair_sink_emit;
	w->pctx.sink.ctx = w->pair;

	for (uint32_t i = 0; i < w->nconns; i++) {
		struct rp_conn *c = &w->conns[i];
		c->fd = -1;
		c->index = i;
		c->target = (uint16_t)(i % cfg->ntargets);
		c->state = RP_DOWN;
		c->wanted = e->nfam <= 1; /* one family: connect everything at start */
		c->arena = malloc(RP_ARENA);
		if (!c->arena)
			return -ENOMEM;
	}
	return 0;
}

void rp_worker_fini(struct rp_worker *w)
{
	if (w->conns) {
		for (uint32_t i = 0; i < w->nconns; i++) {
			if (w->conns[i].fd >= 0)
				close(w->conns[i].fd);
			free(w->conns[i].arena);
		}
	}
	free(w->conns);
	free(w->dirty);
	free(w->q);
	free(w->info);
	free(w->last_target);
	if (w->epfd >= 0)
		close(w->epfd);
	mbx_pair_destroy(w->pair);
	mbx_bufpool_destroy(w->carry);
	mbx_ring_destroy(w->ring);
	mbx_rstats_destroy(w->stats);
}
