/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the recording pipeline from packets to events: decode, flow table,
 * TCP reassembly, protocol parsing (both directions), merge and pairing,
 * exactly as `mbx record` composes them (capture worker -> merge -> pairing).
 *
 * Input:
 *   byte 0   config: bits 0-2 link type (Ethernet, SLL, SLL2, raw, NULL, LOOP,
 *            IPv4, IPv6); bit 3 tiny bounds (4 flows, 2 carry buffers, 2
 *            out-of-order segments, pairing window 4, 2 connections: every
 *            eviction and overflow path); bit 4 worker straight into pairing
 *            (no merge stage); bit 5 frames fed in runs of 8 through
 *            mbx_cworker_burst (the DPDK/AF_XDP path: prefetch, hashed input)
 *   then frames until the input ends:
 *            u16le caplen (clipped to what is left), u16le time step in us
 *            (0xffff: +30 s, past every timeout), caplen bytes of frame
 * Server port 11211. Oracles: sanitizers, fz_check_msg on every message,
 * fz_check_events on every event (time order, enums). */
#include "fuzz_common.h"

#include "mbx/counters.h"
#include "mbx/decode.h"
#include "mbx/merge.h"
#include "mbx/pair.h"
#include "mbx/record.h"

static const int links[8] = {
	MBX_LINK_ETHERNET, MBX_LINK_SLL, MBX_LINK_SLL2, MBX_LINK_RAW,
	MBX_LINK_NULL,	   MBX_LINK_LOOP, MBX_LINK_IPV4, MBX_LINK_IPV6,
};

struct fz_cap {
	struct mbx_msg_sink next;
	uint64_t last_ev_ts;
	uint64_t events;
	struct mbx_msg slot;  /* the parsers build messages here (sink.slot), */
	struct mbx_msg *slotp; /* as the live workers' staging array */
};

static void check_and_pass(void *ctx, const struct mbx_msg *m)
{
	struct fz_cap *c = ctx;
	struct mbx_msg copy = *m;
	fz_check_msg(&copy);
	/* poison the slot once consumed: a producer that reads its message
	 * after emit() would pass garbage on and trip the checks */
	if (m == &c->slot)
		memset(&c->slot, 0xa5, sizeof(c->slot));
	c->next.emit(c->next.ctx, &copy);
}

static void on_events(void *ctx, const struct mbx_event *ev, size_t n)
{
	struct fz_cap *c = ctx;
	fz_check_events(ev, n, &c->last_ev_ts);
	c->events += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mbx_record_cfg cfg; /* 8 KiB port map: not on the stack */
	static struct mbx_counters ctr;
	struct fz_in in = { data, size };
	struct fz_cap fc = { 0 };
	struct mbx_pair_cfg pc;
	struct mbx_merge_cfg mc;
	struct mbx_pair *pair;
	struct mbx_merge *merge = NULL;
	struct mbx_cworker *w;
	struct mbx_msg_sink sink = {0};
	uint64_t now = 1700000000ULL * MBX_NSEC_PER_SEC;
	unsigned nframes = 0;

	uint8_t conf = fz_u8(&in);
	int link = links[conf & 7];
	bool tiny = conf & 0x08;
	bool direct = conf & 0x10;
	bool burst = conf & 0x20; /* packets in runs of 8 (mbx_cworker_burst, as DPDK/AF_XDP) */
	struct mbx_pkt run[8];
	unsigned nrun = 0;

	memset(&cfg, 0, sizeof(cfg));
	mbx_port_set(cfg.port_map, 11211);
	cfg.ports[0] = 11211;
	cfg.nports = 1;
	fz_salt(cfg.salt, 0x11);
	fz_salt(cfg.flow_key, 0x77);
	cfg.max_flows = tiny ? 4 : 256;
	cfg.idle_timeout_ns = 10 * MBX_NSEC_PER_SEC;
	cfg.ooo_max_segs = tiny ? 2 : 32;
	cfg.ooo_max_bytes = tiny ? 64 : 256 * 1024;
	cfg.ooo_total_bytes = tiny ? 128 : 4u << 20;
	cfg.carry_bufs = tiny ? 2 : 64;
	memset(&ctr, 0, sizeof(ctr));

	mbx_pair_cfg_defaults(&pc);
	pc.max_conns = tiny ? 2 : 256;
	pc.window = tiny ? 4 : 4096;
	pc.timeout_ns = 5 * MBX_NSEC_PER_SEC;
	pc.emit = on_events;
	pc.emit_ctx = &fc;
	pc.ctr = &ctr;
	pair = mbx_pair_create(&pc);
	FZ_CHECK(pair, "mbx_pair_create failed");

	mbx_merge_cfg_defaults(&mc);
	mc.capacity = tiny ? 4 : 4096;
	mc.out.emit = mbx_pair_sink_emit;
	mc.out.ctx = pair;
	mc.ctr = &ctr;
	if (!direct) {
		merge = mbx_merge_create(&mc);
		FZ_CHECK(merge, "mbx_merge_create failed");
		fc.next.emit = mbx_merge_sink_emit;
		fc.next.ctx = merge;
	} else {
		fc.next.emit = mbx_pair_sink_emit;
		fc.next.ctx = pair;
	}
	sink.emit = check_and_pass;
	sink.ctx = &fc;
	fc.slotp = &fc.slot;
	if (conf & 0x40) /* half the inputs: messages built in place */
		sink.slot = &fc.slotp;
	w = mbx_cworker_create(&cfg, 0, &sink, &ctr);
	FZ_CHECK(w, "mbx_cworker_create failed");

	while (in.n >= 4) {
		uint32_t caplen = fz_u16(&in);
		uint16_t step = fz_u16(&in);
		struct mbx_pkt pkt;

		caplen = (uint32_t)MBX_MIN(caplen, in.n);
		now += step == 0xffff ? 30 * MBX_NSEC_PER_SEC : step * MBX_NSEC_PER_USEC;
		pkt.data = in.p;
		pkt.caplen = caplen;
		pkt.wirelen = caplen;
		pkt.ts_ns = now;
		in.p += caplen;
		in.n -= caplen;
		if (burst)
			run[nrun++] = pkt;
		else
			mbx_cworker_packet(w, &pkt, link);
		if (++nframes % 8 == 0) {
			if (burst) {
				mbx_cworker_burst(w, run, nrun, link);
				nrun = 0;
			}
			uint64_t wm = mbx_cworker_watermark(w, now);
			mbx_cworker_tick(w, now);
			if (merge) {
				/* as mbx_evsink_advance */
				mbx_merge_release(merge, wm);
				if (wm > mc.hold_ns)
					mbx_pair_advance(pair, wm - mc.hold_ns);
			} else {
				mbx_pair_advance(pair, wm);
			}
		}
	}
	if (nrun)
		mbx_cworker_burst(w, run, nrun, link);
	mbx_cworker_flush(w, now);
	if (merge)
		mbx_merge_flush(merge);
	mbx_pair_finish(pair);
	FZ_CHECK(mbx_pair_pending(pair) == 0, "%u events pending after finish",
		 mbx_pair_pending(pair));
	if (merge)
		FZ_CHECK(mbx_merge_held(merge) == 0, "merge holds messages after flush");
	FZ_CHECK(fc.events == ctr.events, "events emitted %llu, counted %llu",
		 (unsigned long long)fc.events, (unsigned long long)ctr.events);
	FZ_CHECK(ctr.dec_tcp + ctr.dec_bad_link + ctr.dec_truncated + ctr.dec_not_ip +
				 ctr.dec_not_tcp + ctr.dec_fragment + ctr.dec_malformed ==
			 ctr.pkts,
		 "every packet has exactly one decode result");
	if (getenv("MBX_FUZZ_VERBOSE"))
		fprintf(stderr, "%u frames: %llu tcp, %llu requests, %llu responses, %llu events, %llu parse errors\n",
			nframes, (unsigned long long)ctr.dec_tcp, (unsigned long long)ctr.req_msgs,
			(unsigned long long)ctr.rsp_msgs, (unsigned long long)ctr.events,
			(unsigned long long)ctr.parse_errors);
	mbx_cworker_destroy(w);
	mbx_merge_destroy(merge);
	mbx_pair_destroy(pair);
	return 0;
}
