// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/* XDP side of the AF_XDP backend: TCP segments to or from a memcache port
 * go to the AF_XDP socket of the receiving queue, stamped with their arrival
 * time; everything else goes on to the kernel untouched.
 *
 * Built with clang -target bpf and embedded in mbx as a bpftool skeleton
 * (afxdp.skel.h); nothing is installed. Parsing: Ethernet, up to two VLAN
 * tags (802.1Q, 802.1ad/QinQ), IPv4 with options (non-first fragments have
 * no TCP header and pass), IPv6 with up to MAX_IPV6_EXT extension headers
 * (hop-by-hop, routing, destination options, fragment, AH). */
#include <stdbool.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "afxdp.h"

#define MAX_VLAN     2
#define MAX_IPV6_EXT 6

/* Queue index -> AF_XDP socket. Sized by user space before loading (the
 * interface's queue count). */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mbx_xdp_ports);
} mbx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MBX_XDP_STAT_MAX + 2 * MBX_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u64);
} mbx_stats SEC(".maps");

/* Written by user space only; read back by the next recorder to tell a
 * stale program (dead owner) from a live one. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mbx_xdp_owner);
} mbx_owner SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

static __always_inline void count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&mbx_stats, &slot);
	if (c)
		*c += 1;
}

/* The TCP header of a frame, or NULL when the frame is not a TCP segment
 * with a visible header. */
static __always_inline struct tcphdr *tcp_header(void *pos, void *end)
{
	struct ethhdr *eth = pos;
	__u16 proto;
	__u8 l4;

	if ((void *)(eth + 1) > end)
		return NULL;
	proto = eth->h_proto;
	pos = eth + 1;
#pragma unroll
	for (int i = 0; i < MAX_VLAN; i++) {
		struct vlan_hdr *v = pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(v + 1) > end)
			return NULL;
		proto = v->proto;
		pos = v + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = pos;

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return NULL;
		if (ip->frag_off & bpf_htons(0x1fff))
			return NULL; /* a later fragment: no TCP header */
		l4 = ip->protocol;
		pos += ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = pos;

		if ((void *)(ip6 + 1) > end)
			return NULL;
		l4 = ip6->nexthdr;
		pos = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			struct ipv6_opt_hdr *h = pos;
			struct ipv6_frag *f = pos;

			if (l4 == IPPROTO_HOPOPTS || l4 == IPPROTO_ROUTING ||
			    l4 == IPPROTO_DSTOPTS) {
				if ((void *)(h + 1) > end)
					return NULL;
				l4 = h->nexthdr;
				pos += (h->hdrlen + 1) * 8;
			} else if (l4 == IPPROTO_AH) {
				if ((void *)(h + 1) > end)
					return NULL;
				l4 = h->nexthdr;
				pos += (h->hdrlen + 2) * 4;
			} else if (l4 == IPPROTO_FRAGMENT) {
				if ((void *)(f + 1) > end)
					return NULL;
				if (f->frag_off & bpf_htons(0xfff8))
					return NULL; /* a later fragment */
				l4 = f->nexthdr;
				pos = f + 1;
			} else {
				break;
			}
		}
	} else {
		return NULL;
	}
	if (l4 != IPPROTO_TCP || pos + sizeof(struct tcphdr) > end)
		return NULL;
	return pos;
}

static __always_inline int port_set(const struct mbx_xdp_ports *p, __u32 port)
{
	return (p->bits[(port >> 6) & 1023] >> (port & 63)) & 1;
}

SEC("xdp")
int mbx_afxdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	const struct mbx_xdp_ports *ports;
	struct mbx_xdp_meta *meta;
	struct tcphdr *tcp;
	__u32 zero = 0, sport, dport, q = ctx->rx_queue_index;
	bool to_server, from_server;
	long ret;

	ports = bpf_map_lookup_elem(&mbx_ports, &zero);
	tcp = tcp_header(data, end);
	if (!ports || !tcp)
		goto pass;
	sport = bpf_ntohs(tcp->source);
	dport = bpf_ntohs(tcp->dest);
	to_server = port_set(ports, dport);
	from_server = port_set(ports, sport);
	if (!to_server && !from_server)
		goto pass;

	/* Which queue sees each side of a handshake: user space compares them
	 * to tell whether RSS keeps a connection's directions together. */
	if (tcp->syn && q < MBX_XDP_MAX_QUEUES) {
		if (to_server && !tcp->ack)
			count(MBX_XDP_STAT_MAX + 2 * q);
		else if (from_server && tcp->ack)
			count(MBX_XDP_STAT_MAX + 2 * q + 1);
	}

	/* Arrival time in front of the packet; without room for it user
	 * space falls back to the time it reads the burst. */
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)) == 0) {
		meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) <= (void *)(long)ctx->data) {
			meta->ts_mono_ns = bpf_ktime_get_ns();
			meta->magic = MBX_XDP_META_MAGIC;
			meta->pad = 0;
		}
	}

	ret = bpf_redirect_map(&xsks_map, q, XDP_PASS);
	count(ret == XDP_REDIRECT ? MBX_XDP_REDIRECTED : MBX_XDP_NO_SOCKET);
	return (int)ret;
pass:
	count(MBX_XDP_PASSED);
	return XDP_PASS;
}

/* GPL-compatible for the kernel (the file is Apache-2.0 OR GPL-2.0) */
char LICENSE[] SEC("license") = "GPL";
