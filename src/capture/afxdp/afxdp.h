/* SPDX-License-Identifier: Apache-2.0 */
/* Definitions shared by the XDP program (afxdp.bpf.c) and the AF_XDP
 * backend (afxdp.c). Only fixed-size types: the BPF target and the host
 * must agree on every layout. */
#ifndef MBX_AFXDP_H
#define MBX_AFXDP_H

#include <linux/types.h>

/* The kernel keeps 15 characters of a program name: this one identifies an
 * mbx program left attached by a recorder that died (see afxdp.c). */
#define MBX_XDP_PROG_NAME "mbx_afxdp"
/* The map holding the owner of an attached program (a stale one has a dead
 * owner). */
#define MBX_XDP_OWNER_MAP "mbx_owner"

/* mbx_stats (per-CPU array) slots; then, for each queue q below
 * MBX_XDP_MAX_QUEUES, the client SYNs (MBX_XDP_STAT_MAX + 2q) and server
 * SYN-ACKs (MBX_XDP_STAT_MAX + 2q + 1) seen on it. */
#define MBX_XDP_MAX_QUEUES 64
enum mbx_xdp_stat {
	MBX_XDP_REDIRECTED = 0, /* memcache packets handed to an mbx socket */
	MBX_XDP_NO_SOCKET,	/* memcache packets on a queue without an mbx socket (passed) */
	MBX_XDP_PASSED,		/* everything else (passed to the kernel) */
	MBX_XDP_STAT_MAX,
};

/* mbx_ports value: one bit per TCP port. */
struct mbx_xdp_ports {
	__u64 bits[65536 / 64];
};

/* mbx_owner value: the recorder that attached the program. start_ticks is
 * field 22 of /proc/<pid>/stat, so a reused pid is not taken for the
 * owner. */
struct mbx_xdp_owner {
	__u32 pid;
	__u32 pad;
	__u64 start_ticks;
};

/* Metadata written by the XDP program in front of each redirected packet
 * (bpf_xdp_adjust_meta): the packet's arrival time, taken in the kernel
 * when XDP runs, so a burst read later still has per-packet times. The
 * magic tells user space the metadata is there (it clears it after use). */
#define MBX_XDP_META_MAGIC 0x4d425854u /* "MBXT" */
struct mbx_xdp_meta {
	__u64 ts_mono_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 magic;
	__u32 pad;
};

#endif
