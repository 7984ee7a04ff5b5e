/* SPDX-License-Identifier: Apache-2.0 */
/* libpcap live backend: TPACKET_V3 (immediate mode OFF: with it libpcap
 * silently falls back to TPACKET_V2), a short timeout, a kernel buffer of
 * --buffer-size, a BPF filter for the memcache ports, nanosecond kernel
 * timestamps, kernel drop counters from pcap_stats. Several queues share
 * the interface's traffic with PACKET_FANOUT (hash mode: the two directions
 * of a connection may land on different queues; mbx does not need them
 * together). Works on the memcached host itself. Only this file and
 * pcap_file.c include pcap.h. */
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mbx/live.h"

#define PCAP_TIMEOUT_MS 10

struct mbx_live_queue {
	pcap_t *pcap;
	int fd;
	void (*fn)(void *arg, const struct mbx_pkt *p);
	void *arg;
	uint64_t drops_k, drops_if; /* accumulated: pcap_stats counts since activation */
};

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct mbx_live_queue *q = (struct mbx_live_queue *)(void *)user;
	struct mbx_pkt p = {
		.data = data,
		.caplen = h->caplen,
		.wirelen = h->len,
		/* nanosecond precision was requested: tv_usec holds ns */
		.ts_ns = (uint64_t)h->ts.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)h->ts.tv_usec,
	};
	q->fn(q->arg, &p);
}

static int pl_poll(struct mbx_live_queue *q, void (*fn)(void *arg, const struct mbx_pkt *p),
		   void *arg, unsigned max)
{
	q->fn = fn;
	q->arg = arg;
	/* Non-blocking: with TPACKET_V3 a blocking dispatch polls without a
	 * timeout until the kernel retires a block, which an idle interface
	 * never does; wait here instead, bounded. */
	int n = pcap_dispatch(q->pcap, (int)max, on_packet, (u_char *)(void *)q);
	if (n == PCAP_ERROR)
		return -EIO;
	if (n == PCAP_ERROR_BREAK)
		return 0;
	if (n == 0) {
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		poll(&pfd, 1, PCAP_TIMEOUT_MS);
	}
	return n;
}

static void pl_drops(struct mbx_live_queue *q, uint64_t *kernel, uint64_t *iface)
{
	struct pcap_stat st;
	if (pcap_stats(q->pcap, &st) == 0) {
		q->drops_k = st.ps_drop;
		q->drops_if = st.ps_ifdrop;
	}
	*kernel = q->drops_k;
	*iface = q->drops_if;
}

static uint64_t pl_delay(struct mbx_live_queue *q)
{
	(void)q;
	/* a TPACKET_V3 block is handed over when full or after the timeout */
	return (PCAP_TIMEOUT_MS + 40) * MBX_NSEC_PER_MSEC;
}

static int port_filter(const struct mbx_live_cfg *cfg, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "tcp and (");
	for (unsigned i = 0; i < cfg->rec.nports && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%sport %u", i ? " or " : "", cfg->rec.ports[i]);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, ")");
	if (cfg->bpf_extra && n < len)
		n += (size_t)snprintf(buf + n, len - n, " and (%s)", cfg->bpf_extra);
	/* VLAN-tagged traffic too */
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, " or (vlan and tcp)");
	return n < len ? 0 : -ENAMETOOLONG;
}

static int pl_setup(struct mbx_live_cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->iface[0]) {
		snprintf(err, errlen, "--iface is required for live capture");
		return -EINVAL;
	}
	if (if_nametoindex(cfg->iface) == 0 && strcmp(cfg->iface, "any") != 0) {
		snprintf(err, errlen, "no interface named '%s' (see 'ip link')", cfg->iface);
		return -ENODEV;
	}
	snprintf(cfg->source, sizeof(cfg->source), "pcap:%s%s", cfg->iface,
		 cfg->nqueues > 1 ? " (fanout)" : "");
	return 0;
}

static struct mbx_live_queue *pl_open(struct mbx_live_cfg *cfg, unsigned i, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	char filt[1024];
	struct bpf_program prog;
	struct mbx_live_queue *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->pcap = pcap_create(cfg->iface, perr);
	if (!q->pcap) {
		snprintf(err, errlen, "%s: %s", cfg->iface, perr);
		goto fail;
	}
	pcap_set_snaplen(q->pcap, (int)cfg->snaplen);
	pcap_set_promisc(q->pcap, 1);
	pcap_set_timeout(q->pcap, PCAP_TIMEOUT_MS);
	pcap_set_immediate_mode(q->pcap, 0);
	pcap_set_buffer_size(q->pcap, (int)MBX_MIN(cfg->buffer_bytes, (uint64_t)INT32_MAX));
	pcap_set_tstamp_precision(q->pcap, PCAP_TSTAMP_PRECISION_NANO);
	int r = pcap_activate(q->pcap);
	if (r < 0) {
		if (r == PCAP_ERROR_PERM_DENIED)
			snprintf(err, errlen,
				 "%s: permission denied: live capture needs CAP_NET_RAW (run as root, or "
				 "'setcap cap_net_raw,cap_net_admin+ep mbx')",
				 cfg->iface);
		else if (r == PCAP_ERROR_NO_SUCH_DEVICE)
			snprintf(err, errlen, "%s: no such interface", cfg->iface);
		else
			snprintf(err, errlen, "%s: %s", cfg->iface, pcap_geterr(q->pcap));
		goto fail;
	}
	if (pcap_setnonblock(q->pcap, 1, perr) < 0) {
		snprintf(err, errlen, "%s: %s", cfg->iface, perr);
		goto fail;
	}
	q->fd = pcap_get_selectable_fd(q->pcap);
	if (q->fd < 0) {
		snprintf(err, errlen, "%s: no selectable descriptor", cfg->iface);
		goto fail;
	}
	if (pcap_get_tstamp_precision(q->pcap) != PCAP_TSTAMP_PRECISION_NANO) {
		snprintf(err, errlen, "%s: nanosecond timestamps not available", cfg->iface);
		goto fail;
	}
	if (port_filter(cfg, filt, sizeof(filt)) < 0 ||
	    pcap_compile(q->pcap, &prog, filt, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "filter '%s': %s", filt, pcap_geterr(q->pcap));
		goto fail;
	}
	r = pcap_setfilter(q->pcap, &prog);
	pcap_freecode(&prog);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot set the filter: %s", cfg->iface, pcap_geterr(q->pcap));
		goto fail;
	}
	if (cfg->nqueues > 1) {
		/* one fanout group per capture run, keyed by the process id */
		int fd = pcap_fileno(q->pcap);
		int arg = (int)((getpid() & 0xffff) | (PACKET_FANOUT_HASH << 16));
		if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) {
			snprintf(err, errlen, "%s: PACKET_FANOUT: %s", cfg->iface, strerror(errno));
			goto fail;
		}
	}
	int lt = pcap_datalink(q->pcap);
	if (i == 0)
		cfg->linktype = lt;
	else if (lt != cfg->linktype) {
		snprintf(err, errlen, "%s: queues report different link types", cfg->iface);
		goto fail;
	}
	return q;
fail:
	if (q->pcap)
		pcap_close(q->pcap);
	free(q);
	return NULL;
}

static void pl_close(struct mbx_live_queue *q)
{
	if (!q)
		return;
	pcap_close(q->pcap);
	free(q);
}

const struct mbx_live_backend mbx_backend_pcap = {
	.name = "pcap",
	.setup = pl_setup,
	.open = pl_open,
	.poll = pl_poll,
	.drops = pl_drops,
	.delay_ns = pl_delay,
	.close = pl_close,
	.linktype = 1, /* default; the real one is set in cfg->linktype at open */
};
