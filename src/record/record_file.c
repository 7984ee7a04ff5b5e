/* SPDX-License-Identifier: Apache-2.0 */
/* Offline recording: capture file -> one worker -> pairing -> profile. The
 * same stages as live capture, without threads or rings. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "mbx/decode.h"
#include "mbx/log.h"
#include "mbx/record.h"
#include "mbx_config.h"

int mbx_record_cfg_defaults(struct mbx_record_cfg *cfg)
{
	int r;

	memset(cfg, 0, sizeof(*cfg));
	mbx_port_set(cfg->port_map, 11211);
	cfg->ports[0] = 11211;
	cfg->nports = 1;
	cfg->max_flows = 65536;
	cfg->idle_timeout_ns = 300 * MBX_NSEC_PER_SEC;
	cfg->carry_bufs = 16384;
	cfg->max_conns = 262144;
	cfg->pair_window = 1u << 20;
	cfg->pair_timeout_ns = 10 * MBX_NSEC_PER_SEC;
	cfg->merge_capacity = 1u << 20;
	cfg->merge_hold_ns = 5 * MBX_NSEC_PER_MSEC;
	cfg->rsp_skew_ns = MBX_NSEC_PER_MSEC;
	cfg->block_events = MBX_PROFILE_DEFAULT_BLOCK_EVENTS;
	r = mbx_salt_random(cfg->salt);
	if (r < 0)
		return r;
	return mbx_salt_random(cfg->flow_key);
}

int mbx_record_cfg_add_port(struct mbx_record_cfg *cfg, uint16_t port, bool *first)
{
	if (port == 0)
		return -EINVAL;
	if (*first) {
		memset(cfg->port_map, 0, sizeof(cfg->port_map));
		cfg->nports = 0;
		*first = false;
	}
	if (mbx_port_test(cfg->port_map, port))
		return 0;
	if (cfg->nports >= MBX_PROFILE_MAX_PORTS)
		return -EINVAL;
	mbx_port_set(cfg->port_map, port);
	cfg->ports[cfg->nports++] = port;
	return 0;
}

void mbx_record_meta(const struct mbx_record_cfg *cfg, const char *source, int linktype,
		     uint32_t snaplen, struct mbx_profile_meta *meta)
{
	struct timespec now;

	memset(meta, 0, sizeof(*meta));
	clock_gettime(CLOCK_REALTIME, &now);
	meta->created_ns = (uint64_t)now.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)now.tv_nsec;
	meta->salt_fingerprint = mbx_salt_fingerprint(cfg->salt);
	meta->linktype = linktype < 0 ? 0 : (uint32_t)linktype;
	meta->snaplen = snaplen;
	meta->nports = cfg->nports;
	memcpy(meta->ports, cfg->ports, sizeof(meta->ports));
	snprintf(meta->source, sizeof(meta->source), "%s", source);
	if (gethostname(meta->hostname, sizeof(meta->hostname) - 1) != 0)
		meta->hostname[0] = 0;
	snprintf(meta->mbx_version, sizeof(meta->mbx_version), "%s", MBX_VERSION);
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int mbx_record_file(const struct mbx_record_cfg *cfg, const char *input, const char *output,
		    struct mbx_record_result *res, char *err, size_t errlen)
{
	struct mbx_pcap_file *pf;
	struct mbx_profile_meta meta;
	struct mbx_evsink *es;
	struct mbx_cworker *w;
	struct mbx_pkt pkt;
	char source[300];
	uint64_t now = 0;
	unsigned since_tick = 0;
	int r, ret = 0;
	double t0 = mono_s();

	memset(res, 0, sizeof(*res));
	pf = mbx_pcap_file_open(input, err, errlen);
	if (!pf)
		return -EINVAL;
	res->linktype = mbx_pcap_file_linktype(pf);
	if (!mbx_decode_link_supported(res->linktype)) {
		snprintf(err, errlen,
			 "%s: unsupported link type %d (mbx reads Ethernet, Linux cooked SLL/SLL2, raw IP and BSD loopback captures)",
			 input, res->linktype);
		mbx_pcap_file_close(pf);
		return -EPROTONOSUPPORT;
	}
	snprintf(source, sizeof(source), "file:%s", input);
	mbx_record_meta(cfg, source, res->linktype, mbx_pcap_file_snaplen(pf), &meta);

	es = mbx_evsink_create(cfg, output, &meta, &res->ctr, err, errlen);
	if (!es) {
		mbx_pcap_file_close(pf);
		return -EIO;
	}
	struct mbx_msg_sink sink = mbx_evsink_msg_sink(es);
	w = mbx_cworker_create(cfg, 0, &sink, &res->ctr);
	if (!w) {
		snprintf(err, errlen, "cannot allocate the capture worker (%u flows, %u carry buffers): %s",
			 cfg->max_flows, cfg->carry_bufs, strerror(errno));
		mbx_evsink_abort(es);
		mbx_pcap_file_close(pf);
		return -ENOMEM;
	}

	while ((r = mbx_pcap_file_next(pf, &pkt)) == 1) {
		if (pkt.ts_ns > now)
			now = pkt.ts_ns;
		mbx_cworker_packet(w, &pkt, res->linktype);
		if (++since_tick == 4096) {
			since_tick = 0;
			mbx_cworker_tick(w, now);
			mbx_evsink_advance(es, mbx_cworker_watermark(w, now));
			if (mbx_evsink_error(es))
				break;
		}
	}
	if (r < 0) {
		MBX_CTR_INC(&res->ctr, src_errors);
		/* the reader's message already names the file */
		snprintf(err, errlen, "%s (kept the %llu packets read before it)",
			 mbx_pcap_file_error(pf), (unsigned long long)res->ctr.pkts);
		ret = -EIO;
	}
	mbx_cworker_flush(w, now);
	mbx_cworker_destroy(w);
	r = mbx_evsink_error(es);
	int cr = mbx_evsink_close(es, &res->ctr, &res->totals);
	if (r == 0)
		r = cr;
	if (r < 0) {
		snprintf(err, errlen, "writing %s: %s", output, strerror(-r));
		ret = r;
	}
	mbx_pcap_file_close(pf);
	res->wall_s = mono_s() - t0;
	return ret;
}
