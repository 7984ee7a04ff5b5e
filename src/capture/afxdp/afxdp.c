/* SPDX-License-Identifier: Apache-2.0 */
/* AF_XDP live backend (--backend afxdp).
 *
 * setup():  load the XDP program embedded in mbx (afxdp.bpf.c, a bpftool
 *           skeleton), write the memcache ports into its map, and attach it
 *           to --iface as the only XDP program (no libxdp dispatcher), in
 *           --xdp-mode (auto: native, else generic). It is attached through
 *           a BPF link: the kernel detaches it when the link's last file
 *           descriptor closes, so even a recorder killed with SIGKILL leaves
 *           nothing behind. Kernels without XDP links (< 5.9), or
 *           MBX_AFXDP_NETLINK=1, attach through netlink instead; such a
 *           program outlives a crash, and the next recorder finds it, sees
 *           from its owner map that its recorder is gone, and replaces it.
 * open(i):  one UMEM and one AF_XDP socket on queue first_queue + i;
 *           zero-copy when the driver has it, else copy mode.
 * poll():   drains the RX ring in bursts, handing each packet up in place
 *           (no copy) and its frame back to the fill ring; naps 1 ms after
 *           a small batch, waits at most 10 ms in poll() when idle.
 *
 * Timestamps: AF_XDP descriptors carry none, so the XDP program writes
 * bpf_ktime_get_ns() into the packet's metadata when it redirects it; poll()
 * converts it to CLOCK_REALTIME. Precision is that of a software timestamp
 * taken when the driver's NAPI poll runs XDP (like libpcap's), so reading
 * the ring late costs nothing. Where the metadata is missing (a driver
 * without metadata support), the time the burst is read is used: then the
 * packets of a burst share one timestamp, late by their wait in the ring.
 * Timestamps handed up never go backwards within a queue (ring order is
 * the order the kernel saw the packets in).
 *
 * This file and afxdp.bpf.c are the only ones that include libbpf/libxdp
 * headers (linux/bpf.h clashes with pcap.h). See docs/deployment.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "mbx/live.h"
#include "mbx/log.h"

#include "afxdp.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
#include "afxdp.skel.h"
#pragma GCC diagnostic pop

#define FRAME_SIZE	  XSK_UMEM__DEFAULT_FRAME_SIZE
#define MIN_FRAMES	  256u
#define MAX_FRAMES	  (1u << 20)
#define POLL_MS		  10
#define OFFSET_MAX_GAP_NS 2000
#define DELAY_MS	  250
#define NAP_US		  1000
#define CAP_IPC_LOCK_BIT  14

struct afxdp_state {
	struct afxdp_bpf *skel;
	int ifindex;
	char iface[64];
	__u32 mode_flag;  /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	int link_fd;	  /* BPF link, or -1 */
	bool nl_attached; /* attached through netlink instead */
	int prog_fd;
	int stats_fd;
	unsigned ncpus;
	uint64_t *pcpu; /* one per-CPU map value */
	unsigned nrxq;	/* queues of the interface (0 = unknown) */
	unsigned first_queue, nqueues;
	uint64_t no_socket_base; /* NO_SOCKET count when the last socket was bound */
	bool zero_copy;
};

struct mbx_live_queue {
	struct xsk_ring_cons rx;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	uint8_t *area;
	size_t area_len;
	int fd;
	unsigned idx, queue_id;
	uint32_t snaplen;
	uint32_t nframes;
	struct afxdp_state *st;
	uint64_t mono_to_real; /* CLOCK_REALTIME - CLOCK_MONOTONIC, 0 = not known yet */
	uint64_t last_ts;      /* timestamps handed up never go backwards */
	uint64_t pkts, no_meta, ts_clamped;
	uint64_t max_age; /* oldest packet when read: now - its time */
	bool nap;	  /* the last batch was small: let the ring fill */
	uint64_t last_kernel, last_iface;
};

/* The backstop for exits that bypass teardown (exit() on an error path):
 * the program is detached from an atexit handler. */
static struct afxdp_state *g_attached;

static const char *mode_name(__u32 flag)
{
	return flag == XDP_FLAGS_DRV_MODE ? "drv" : flag == XDP_FLAGS_SKB_MODE ? "skb" : "hw";
}

static const char *mode_off_cmd(__u32 flag)
{
	return flag == XDP_FLAGS_DRV_MODE   ? "xdpdrv"
	       : flag == XDP_FLAGS_SKB_MODE ? "xdpgeneric"
					    : "xdpoffload";
}

static MBX_PRINTF(2, 0) int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	/* warnings only (they carry the verifier log); libbpf's info and
	 * debug lines are noise here */
	if (level != LIBBPF_WARN || mbx_log_level < MBX_LOG_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	pr_debug("%s", buf);
	return 0;
}

static MBX_PRINTF(2, 0) int libxdp_log(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return libbpf_log((enum libbpf_print_level)level, fmt, ap);
}

/* ---- attach / detach ---------------------------------------------------- */

static void detach(struct afxdp_state *st)
{
	if (st->link_fd >= 0) {
		/* close() alone detaches once the last reference goes; detach
		 * explicitly too, in case a child inherited the descriptor */
		bpf_link_detach(st->link_fd);
		close(st->link_fd);
		st->link_fd = -1;
	}
	if (st->nl_attached) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = st->prog_fd);
		int r = bpf_xdp_detach(st->ifindex, st->mode_flag, &o);
		if (r < 0 && r != -EEXIST && r != -ENODEV)
			pr_warn("%s: could not detach the mbx XDP program: %s; remove it with 'ip "
				"link set dev %s %s off'",
				st->iface, strerror(-r), st->iface, mode_off_cmd(st->mode_flag));
		st->nl_attached = false;
	}
	if (g_attached == st)
		g_attached = NULL;
}

static void afxdp_atexit(void)
{
	if (g_attached)
		detach(g_attached);
}

/* Start time of a process in clock ticks (field 22 of /proc/PID/stat), 0
 * when there is no such process. */
static uint64_t proc_start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return 0;
	/* p is at the end of field 2; each step moves to the space before the
	 * next field: after the last one, p + 1 is field 22 */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* The owner recorded in an mbx program's owner map; 0 and pid 0 when the
 * program has none. */
static int prog_owner(int prog_fd, struct mbx_xdp_owner *owner)
{
	__u32 ids[16];
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(owner, 0, sizeof(*owner));
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = MBX_ARRAY_SIZE(ids);
	info.map_ids = (__u64)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0)
		return -errno;
	for (__u32 i = 0; i < MBX_MIN(info.nr_map_ids, MBX_ARRAY_SIZE(ids)); i++) {
		struct bpf_map_info mi;
		__u32 ml = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &ml) == 0 &&
		    !strcmp(mi.name, MBX_XDP_OWNER_MAP) && mi.value_size == sizeof(*owner)) {
			__u32 key = 0;
			int r = bpf_map_lookup_elem(fd, &key, owner);
			close(fd);
			return r < 0 ? -errno : 0;
		}
		close(fd);
	}
	return -ENOENT;
}

/* An XDP program already on the interface: a stale mbx program (its
 * recorder died) is removed; anything else is an error naming it. */
static int handle_existing(struct afxdp_state *st, __u32 id, __u32 flag, char *err, size_t errlen)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	struct mbx_xdp_owner owner;
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* gone meanwhile */
		snprintf(
		    err, errlen,
		    "%s: XDP program id %u is attached (%s mode) and cannot be inspected (%s); mbx "
		    "must be the only XDP program: remove it with 'ip link set dev %s %s off'",
		    st->iface, id, mode_name(flag), strerror(errno), st->iface, mode_off_cmd(flag));
		return -EBUSY;
	}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		info.name[0] = 0;
	if (strcmp(info.name, MBX_XDP_PROG_NAME) != 0 || prog_owner(fd, &owner) < 0) {
		snprintf(err, errlen,
			 "%s: another XDP program is attached: '%s' (id %u, %s mode). mbx must be "
			 "the only XDP program on the interface; if it is not needed remove it "
			 "with 'ip link set dev %s %s off' (or 'xdp-loader unload %s --all'), or "
			 "capture on another interface",
			 st->iface, info.name[0] ? info.name : "?", id, mode_name(flag), st->iface,
			 mode_off_cmd(flag), st->iface);
		close(fd);
		return -EBUSY;
	}
	if (owner.pid && (pid_t)owner.pid != getpid() && owner.start_ticks &&
	    proc_start_ticks((pid_t)owner.pid) == owner.start_ticks) {
		snprintf(err, errlen,
			 "%s: another mbx recorder (pid %u) is capturing with AF_XDP on this "
			 "interface; stop it first",
			 st->iface, owner.pid);
		close(fd);
		return -EBUSY;
	}
	/* stale: its recorder is gone. REPLACE semantics: only this program is
	 * removed, not one attached meanwhile. */
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);
	int r = bpf_xdp_detach(st->ifindex, flag, &o);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen,
			 "%s: a stale mbx XDP program (id %u, left by pid %u) is attached and "
			 "could not be removed: %s; remove it with 'ip link set dev %s %s off'",
			 st->iface, id, owner.pid, strerror(-r), st->iface, mode_off_cmd(flag));
		return -EBUSY;
	}
	pr_warn("%s: removed a stale mbx XDP program (id %u) left by a recorder that did not exit "
		"cleanly (pid %u)",
		st->iface, id, owner.pid);
	return 0;
}

static int check_existing(struct afxdp_state *st, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int r = bpf_xdp_query(st->ifindex, 0, &q);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot query its XDP programs: %s", st->iface,
			 strerror(-r));
		return r;
	}
	if (q.hw_prog_id) {
		snprintf(err, errlen,
			 "%s: an offloaded XDP program (id %u) is attached; mbx must be the only "
			 "XDP program: remove it with 'ip link set dev %s xdpoffload off'",
			 st->iface, q.hw_prog_id, st->iface);
		return -EBUSY;
	}
	if (q.drv_prog_id &&
	    (r = handle_existing(st, q.drv_prog_id, XDP_FLAGS_DRV_MODE, err, errlen)) < 0)
		return r;
	if (q.skb_prog_id &&
	    (r = handle_existing(st, q.skb_prog_id, XDP_FLAGS_SKB_MODE, err, errlen)) < 0)
		return r;
	return 0;
}

static int attach_mode(struct afxdp_state *st, __u32 flag, bool use_link)
{
	if (use_link) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flag);
		int fd = bpf_link_create(st->prog_fd, st->ifindex, BPF_XDP, &lo);
		if (fd >= 0) {
			st->link_fd = fd;
			return 0;
		}
		/* EINVAL: a kernel without XDP links; try netlink */
		if (errno != EINVAL)
			return -errno;
	}
	int r = bpf_xdp_attach(st->ifindex, st->prog_fd, flag | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (r == 0)
		st->nl_attached = true;
	return r;
}

static int attach(struct afxdp_state *st, int want, char *err, size_t errlen)
{
	const char *env = getenv("MBX_AFXDP_NETLINK");
	bool use_link = !(env && env[0] == '1');
	__u32 modes[2];
	unsigned nm = 0;
	int r = -EINVAL;

	if (want == 0 || want == 2)
		modes[nm++] = XDP_FLAGS_DRV_MODE;
	if (want == 0 || want == 1)
		modes[nm++] = XDP_FLAGS_SKB_MODE;
	for (unsigned i = 0; i < nm; i++) {
		r = attach_mode(st, modes[i], use_link);
		if (r == 0) {
			st->mode_flag = modes[i];
			return 0;
		}
		if (r != -EOPNOTSUPP && r != -EINVAL)
			break;
		if (i + 1 < nm)
			pr_warn("%s: no native XDP (%s); using generic (skb) mode, which costs "
				"more CPU per packet",
				st->iface, strerror(-r));
	}
	if (r == -EPERM || r == -EACCES)
		snprintf(
		    err, errlen,
		    "%s: attaching the XDP program: permission denied: needs CAP_NET_ADMIN (run as "
		    "root, or 'setcap cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep mbx')",
		    st->iface);
	else if (r == -EBUSY || r == -EEXIST)
		snprintf(err, errlen,
			 "%s: another XDP program was attached meanwhile; mbx must be the only XDP "
			 "program ('ip link show dev %s' names it)",
			 st->iface, st->iface);
	else if (want == 2 && (r == -EOPNOTSUPP || r == -EINVAL))
		snprintf(err, errlen,
			 "%s: the driver has no native XDP (%s): use --xdp-mode skb or auto",
			 st->iface, strerror(-r));
	else
		snprintf(err, errlen, "%s: cannot attach the XDP program in %s mode: %s", st->iface,
			 want == 1   ? "skb"
			 : want == 2 ? "drv"
				     : "any",
			 strerror(-r));
	return r;
}

/* ---- setup / teardown --------------------------------------------------- */

/* Receive queues of the interface (0 when unknown). */
static unsigned rx_queues(const char *iface)
{
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	struct ifreq ifr;
	unsigned n = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, iface, MBX_MIN(strlen(iface), sizeof(ifr.ifr_name) - 1));
		ifr.ifr_data = (char *)&ch;
		if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
			n = ch.rx_count + ch.combined_count;
		close(fd);
	}
	return n;
}

static bool have_cap_ipc_lock(void)
{
	char line[256];
	bool ok = false;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CapEff:", 7)) {
			unsigned long long caps = strtoull(line + 7, NULL, 16);
			ok = caps >> CAP_IPC_LOCK_BIT & 1;
			break;
		}
	}
	fclose(f);
	return ok;
}

static uint64_t stat_sum(struct afxdp_state *st, __u32 slot)
{
	uint64_t s = 0;
	if (st->stats_fd < 0 || !st->pcpu || bpf_map_lookup_elem(st->stats_fd, &slot, st->pcpu) < 0)
		return 0;
	for (unsigned i = 0; i < st->ncpus; i++)
		s += st->pcpu[i];
	return s;
}

static uint32_t frames_for(uint64_t bytes)
{
	uint64_t n = bytes / FRAME_SIZE;
	uint32_t p = MIN_FRAMES;
	while ((uint64_t)p * 2 <= n && p < MAX_FRAMES)
		p *= 2;
	return p;
}

static void state_free(struct afxdp_state *st)
{
	if (!st)
		return;
	detach(st);
	afxdp_bpf__destroy(st->skel);
	free(st->pcpu);
	free(st);
}

static int afx_setup(struct mbx_live_cfg *cfg, char *err, size_t errlen)
{
	static bool atexit_done;
	struct afxdp_state *st;
	int r;

	if (!cfg->iface[0]) {
		snprintf(err, errlen, "--iface is required for live capture");
		return -EINVAL;
	}
	if (!strcmp(cfg->iface, "any")) {
		snprintf(err, errlen, "AF_XDP captures on one interface, not 'any'");
		return -EINVAL;
	}
	if (cfg->rec.nports == 0) {
		snprintf(err, errlen, "AF_XDP capture needs at least one --port");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->link_fd = -1;
	st->stats_fd = -1;
	st->prog_fd = -1;
	snprintf(st->iface, sizeof(st->iface), "%s", cfg->iface);
	st->ifindex = (int)if_nametoindex(cfg->iface);
	if (!st->ifindex) {
		snprintf(err, errlen, "no interface named '%s' (see 'ip link')", cfg->iface);
		r = -ENODEV;
		goto fail;
	}
	st->first_queue = cfg->first_queue;
	st->nqueues = cfg->nqueues;
	st->nrxq = rx_queues(cfg->iface);
	if (st->nrxq && cfg->first_queue + cfg->nqueues > st->nrxq) {
		snprintf(err, errlen,
			 "%s has %u receive queue%s: --first-queue %u with %u queue%s does not fit "
			 "(see 'ethtool -l %s')",
			 cfg->iface, st->nrxq, st->nrxq > 1 ? "s" : "", cfg->first_queue,
			 cfg->nqueues, cfg->nqueues > 1 ? "s" : "", cfg->iface);
		r = -EINVAL;
		goto fail;
	}
	if (st->nrxq > cfg->nqueues)
		pr_warn("%s has %u receive queues but mbx captures %u (queues %u-%u): memcache "
			"packets the NIC puts on the others are not captured (counted as interface "
			"drops); use --queues %u, or steer the traffic with 'ethtool -L/-N'",
			cfg->iface, st->nrxq, cfg->nqueues, cfg->first_queue,
			cfg->first_queue + cfg->nqueues - 1, st->nrxq);

	uint64_t umem = (uint64_t)frames_for(cfg->buffer_bytes) * FRAME_SIZE * cfg->nqueues;
	struct rlimit rl;
	if (!have_cap_ipc_lock() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && umem > rl.rlim_cur) {
		snprintf(
		    err, errlen,
		    "AF_XDP needs %" PRIu64 " MiB of locked memory (UMEM: --buffer-size per queue "
					    "x %u queues) but RLIMIT_MEMLOCK is %" PRIu64
		    " KiB and CAP_IPC_LOCK is missing: run as root, grant CAP_IPC_LOCK ('setcap "
		    "cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep mbx'), raise the limit "
		    "('ulimit -l', LimitMEMLOCK= in systemd), or lower --buffer-size",
		    umem >> 20, cfg->nqueues, (uint64_t)rl.rlim_cur >> 10);
		r = -ENOBUFS;
		goto fail;
	}

	libbpf_set_print(libbpf_log);
	libxdp_set_print(libxdp_log);
	st->skel = afxdp_bpf__open();
	if (!st->skel) {
		r = -errno;
		snprintf(err, errlen, "cannot open the embedded XDP program: %s", strerror(errno));
		goto fail;
	}
	unsigned nmap = MBX_MAX(st->nrxq, cfg->first_queue + cfg->nqueues);
	bpf_map__set_max_entries(st->skel->maps.xsks_map, MBX_MAX(nmap, 1u));
	r = afxdp_bpf__load(st->skel);
	if (r < 0) {
		if (r == -EPERM || r == -EACCES)
			snprintf(err, errlen,
				 "loading the XDP program: permission denied: needs CAP_BPF and "
				 "CAP_NET_ADMIN (CAP_SYS_ADMIN before Linux 5.8); run as root or "
				 "'setcap cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep mbx'");
		else
			snprintf(
			    err, errlen,
			    "loading the XDP program failed: %s (run with -v for the verifier log)",
			    strerror(-r));
		goto fail;
	}
	st->prog_fd = bpf_program__fd(st->skel->progs.mbx_afxdp);
	st->stats_fd = bpf_map__fd(st->skel->maps.mbx_stats);
	int nc = libbpf_num_possible_cpus();
	st->ncpus = nc > 0 ? (unsigned)nc : 1;
	st->pcpu = calloc(st->ncpus, sizeof(*st->pcpu));

	struct mbx_xdp_ports *ports = calloc(1, sizeof(*ports));
	if (!ports) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < cfg->rec.nports; i++)
		ports->bits[cfg->rec.ports[i] >> 6] |= 1ULL << (cfg->rec.ports[i] & 63);
	__u32 key = 0;
	struct mbx_xdp_owner owner = {.pid = (__u32)getpid(),
				      .start_ticks = proc_start_ticks(getpid())};
	if (bpf_map_update_elem(bpf_map__fd(st->skel->maps.mbx_ports), &key, ports, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(st->skel->maps.mbx_owner), &key, &owner, BPF_ANY) < 0) {
		r = -errno;
		free(ports);
		snprintf(err, errlen, "cannot configure the XDP program: %s", strerror(-r));
		goto fail;
	}
	free(ports);
	/* the program never reads the owner map: bind it, or the kernel would
	 * not keep it with the program (and a stale program would have none) */
	if (bpf_prog_bind_map(st->prog_fd, bpf_map__fd(st->skel->maps.mbx_owner), NULL) < 0)
		pr_debug("cannot bind the owner map to the XDP program: %s", strerror(errno));

	r = check_existing(st, err, errlen);
	if (r < 0)
		goto fail;
	if (!atexit_done) {
		atexit(afxdp_atexit);
		atexit_done = true;
	}
	r = attach(st, cfg->xdp_mode, err, errlen);
	if (r < 0)
		goto fail;
	g_attached = st;
	pr_info("%s: XDP program attached in %s mode (%s)", st->iface, mode_name(st->mode_flag),
		st->link_fd >= 0 ? "BPF link" : "netlink");
	cfg->backend_state = st;
	cfg->linktype = 1; /* Ethernet */
	snprintf(cfg->source, sizeof(cfg->source), "afxdp:%s (%s mode)", cfg->iface,
		 mode_name(st->mode_flag));
	return 0;
fail:
	state_free(st);
	return r < 0 ? r : -EIO;
}

static void report_rss(struct afxdp_state *st)
{
	uint64_t split = 0, syn_total = 0;
	unsigned used = 0;
	for (unsigned q = 0;
	     q < MBX_MIN(MBX_MAX(st->nrxq, st->first_queue + st->nqueues), MBX_XDP_MAX_QUEUES);
	     q++) {
		uint64_t syn = stat_sum(st, MBX_XDP_STAT_MAX + 2 * q);
		uint64_t synack = stat_sum(st, MBX_XDP_STAT_MAX + 2 * q + 1);
		if (syn || synack) {
			used++;
			pr_debug("afxdp queue %u: %" PRIu64 " client SYN, %" PRIu64
				 " server SYN-ACK",
				 q, syn, synack);
		}
		syn_total += syn;
		split += syn > synack ? syn - synack : synack - syn;
	}
	pr_debug("afxdp: %" PRIu64 " handshakes on %u queue%s, at least %" PRIu64
		 " with their directions on different queues",
		 syn_total, used, used == 1 ? "" : "s", split / 2);
	pr_debug("afxdp: XDP redirected %" PRIu64 ", passed %" PRIu64
		 ", memcache packets on queues without a socket %" PRIu64,
		 stat_sum(st, MBX_XDP_REDIRECTED), stat_sum(st, MBX_XDP_PASSED),
		 stat_sum(st, MBX_XDP_NO_SOCKET));
}

static void afx_teardown(struct mbx_live_cfg *cfg)
{
	struct afxdp_state *st = cfg->backend_state;
	if (!st)
		return;
	cfg->backend_state = NULL;
	if (mbx_log_level >= MBX_LOG_DEBUG)
		report_rss(st);
	state_free(st);
}

/* ---- queues ------------------------------------------------------------- */

static void afx_close(struct mbx_live_queue *q)
{
	if (!q)
		return;
	if (q->xsk) {
		struct xdp_statistics s;
		socklen_t sl = sizeof(s);
		if (getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &s, &sl) == 0) {
			if (s.rx_invalid_descs)
				pr_warn(
				    "afxdp queue %u: %llu invalid fill descriptors (a bug in mbx)",
				    q->queue_id, (unsigned long long)s.rx_invalid_descs);
			pr_debug("afxdp queue %u: XDP_STATISTICS rx_dropped %llu rx_ring_full %llu "
				 "rx_fill_ring_empty_descs %llu",
				 q->queue_id, (unsigned long long)s.rx_dropped,
				 (unsigned long long)s.rx_ring_full,
				 (unsigned long long)s.rx_fill_ring_empty_descs);
		}
		pr_debug("afxdp queue %u: %" PRIu64 " packets, %" PRIu64
			 " without XDP timestamp, %" PRIu64
			 " timestamps raised to keep ring order, oldest packet read %.1f ms after "
			 "arrival",
			 q->queue_id, q->pkts, q->no_meta, q->ts_clamped, (double)q->max_age / 1e6);
		xsk_socket__delete(q->xsk);
	}
	if (q->umem)
		xsk_umem__delete(q->umem);
	if (q->area)
		munmap(q->area, q->area_len);
	free(q);
}

static struct mbx_live_queue *afx_open(struct mbx_live_cfg *cfg, unsigned i, char *err,
				       size_t errlen)
{
	struct afxdp_state *st = cfg->backend_state;
	struct mbx_live_queue *q = calloc(1, sizeof(*q));
	int r;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->st = st;
	q->idx = i;
	q->queue_id = cfg->first_queue + i;
	q->snaplen = cfg->snaplen ? cfg->snaplen : UINT32_MAX;
	q->nframes = frames_for(cfg->buffer_bytes);
	q->area_len = (size_t)q->nframes * FRAME_SIZE;
	q->area =
	    mmap(NULL, q->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q->area == MAP_FAILED) {
		q->area = NULL;
		snprintf(err, errlen, "cannot allocate a %zu MiB UMEM: %s", q->area_len >> 20,
			 strerror(errno));
		goto fail;
	}
	struct xsk_umem_config ucfg = {
	    .fill_size = q->nframes, /* every frame fits: refilling never waits */
	    .comp_size = 64,	     /* no transmit */
	    .frame_size = FRAME_SIZE,
	    .frame_headroom = 0,
	    .flags = 0,
	};
	r = xsk_umem__create(&q->umem, q->area, q->area_len, &q->fill, &q->comp, &ucfg);
	if (r) {
		q->umem = NULL;
		if (r == -ENOBUFS || r == -ENOMEM || r == -EPERM)
			snprintf(err, errlen,
				 "%s queue %u: cannot register a %zu MiB UMEM (%s): locked memory "
				 "is limited by RLIMIT_MEMLOCK without CAP_IPC_LOCK; run as root, "
				 "grant CAP_IPC_LOCK, raise 'ulimit -l', or lower --buffer-size",
				 cfg->iface, q->queue_id, q->area_len >> 20, strerror(-r));
		else
			snprintf(err, errlen, "%s queue %u: cannot create the UMEM: %s", cfg->iface,
				 q->queue_id, strerror(-r));
		goto fail;
	}
	/* every frame goes to the kernel before the socket is bound and
	 * registered with the program: the first packets find frames */
	__u32 idx = 0;
	if (xsk_ring_prod__reserve(&q->fill, q->nframes, &idx) != q->nframes) {
		snprintf(err, errlen, "%s queue %u: cannot fill the fill ring", cfg->iface,
			 q->queue_id);
		goto fail;
	}
	for (uint32_t k = 0; k < q->nframes; k++)
		*xsk_ring_prod__fill_addr(&q->fill, idx + k) = (uint64_t)k * FRAME_SIZE;
	xsk_ring_prod__submit(&q->fill, q->nframes);

	struct xsk_socket_config xcfg = {
	    .rx_size = q->nframes,
	    .tx_size = 0,
	    .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	    .xdp_flags = 0,
	    /* no copy/zero-copy flag: the kernel takes zero-copy when the
	     * driver has it and falls back to copy */
	    .bind_flags = XDP_USE_NEED_WAKEUP | (cfg->zero_copy_required ? XDP_ZEROCOPY : 0),
	};
	r = xsk_socket__create(&q->xsk, cfg->iface, q->queue_id, q->umem, &q->rx, NULL, &xcfg);
	if (r) {
		q->xsk = NULL;
		if (cfg->zero_copy_required &&
		    (r == -EOPNOTSUPP || r == -EINVAL || r == -EPROTONOSUPPORT))
			snprintf(err, errlen,
				 "%s queue %u: zero-copy AF_XDP is not available (%s; it needs a "
				 "driver with zero-copy support in drv mode): drop --zero-copy to "
				 "capture in copy mode",
				 cfg->iface, q->queue_id, strerror(-r));
		else if (r == -EPERM || r == -EACCES)
			snprintf(err, errlen,
				 "%s queue %u: AF_XDP socket: permission denied: needs CAP_NET_RAW "
				 "(run as root, or 'setcap "
				 "cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep mbx')",
				 cfg->iface, q->queue_id);
		else if (r == -EBUSY)
			snprintf(err, errlen,
				 "%s queue %u: already has an AF_XDP socket (another capture on "
				 "this queue?)",
				 cfg->iface, q->queue_id);
		else
			snprintf(err, errlen, "%s queue %u: cannot create the AF_XDP socket: %s",
				 cfg->iface, q->queue_id, strerror(-r));
		goto fail;
	}
	q->fd = xsk_socket__fd(q->xsk);
	r = xsk_socket__update_xskmap(q->xsk, bpf_map__fd(st->skel->maps.xsks_map));
	if (r) {
		snprintf(err, errlen,
			 "%s queue %u: cannot register the socket with the XDP program: %s",
			 cfg->iface, q->queue_id, strerror(-r));
		goto fail;
	}

	struct xdp_options opt;
	socklen_t ol = sizeof(opt);
	bool zc = getsockopt(q->fd, SOL_XDP, XDP_OPTIONS, &opt, &ol) == 0 &&
		  (opt.flags & XDP_OPTIONS_ZEROCOPY);
	if (i == 0) {
		st->zero_copy = zc;
		snprintf(cfg->source, sizeof(cfg->source), "afxdp:%s (%s mode, %s)", cfg->iface,
			 mode_name(st->mode_flag), zc ? "zero-copy" : "copy");
		pr_info("%s: AF_XDP in %s mode (%s XDP), %u frames of %u bytes per queue",
			cfg->iface, zc ? "zero-copy" : "copy", mode_name(st->mode_flag), q->nframes,
			FRAME_SIZE);
	}
	if (i + 1 == cfg->nqueues)
		st->no_socket_base = stat_sum(st, MBX_XDP_NO_SOCKET);
	return q;
fail:
	afx_close(q);
	return NULL;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (uint64_t)t.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)t.tv_nsec;
}

typedef void (*afx_burst_fn)(void *arg, const struct mbx_pkt *pkts, unsigned n);

/* One burst of up to max packets from the RX ring, handed to fnb at once
 * (mbx_cworker_burst); their frames go back to the fill ring after it, so
 * they stay valid during the call. */
static unsigned rx_burst(struct mbx_live_queue *q, afx_burst_fn fnb, void *arg, unsigned max)
{
	struct mbx_pkt pk[MBX_LIVE_BURST];
	__u32 rx_idx = 0, fill_idx = 0;
	unsigned n;

	if (max > MBX_LIVE_BURST)
		max = MBX_LIVE_BURST;

	/* peek re-reads the producer index only when its cached view is
	 * empty: refresh it when that view is short, so that a short burst
	 * means an empty ring */
	if (q->rx.cached_prod - q->rx.cached_cons < max)
		q->rx.cached_prod = __atomic_load_n(q->rx.producer, __ATOMIC_ACQUIRE);
	n = xsk_ring_cons__peek(&q->rx, max, &rx_idx);
	if (!n)
		return 0;
	uint64_t m1 = clock_ns(CLOCK_MONOTONIC);
	uint64_t now = clock_ns(CLOCK_REALTIME);
	uint64_t m2 = clock_ns(CLOCK_MONOTONIC);
	/* A sample is only as good as the gap between its readings: a
	 * thread preempted between them would shift a whole burst (seen: 70 us,
	 * enough to reorder the requests of one connection). Keep the offset
	 * of the last tight sample; NTP slews it slowly. */
	if (m2 - m1 < OFFSET_MAX_GAP_NS || !q->mono_to_real)
		q->mono_to_real = now - (m1 + (m2 - m1) / 2);
	/* every frame fits in the fill ring (sized to the UMEM), so room for
	 * the frames just received is always there */
	unsigned nf = xsk_ring_prod__reserve(&q->fill, n, &fill_idx);
	for (unsigned k = 0; k < n; k++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, rx_idx + k);
		uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
		uint8_t *data = xsk_umem__get_data(q->area, addr);
		struct mbx_xdp_meta *m = (struct mbx_xdp_meta *)(void *)(data - sizeof(*m));
		struct mbx_pkt *pp = &pk[k];
		*pp = (struct mbx_pkt){
		    .data = data,
		    .caplen = MBX_MIN(d->len, q->snaplen),
		    .wirelen = d->len,
		    .ts_ns = now,
		};
		/* the metadata area lies in the frame's headroom */
		if (MBX_LIKELY(addr % FRAME_SIZE >= sizeof(*m) && m->magic == MBX_XDP_META_MAGIC)) {
			pp->ts_ns = m->ts_mono_ns + q->mono_to_real;
			m->magic = 0; /* the next packet in this frame brings its own */
		} else {
			q->no_meta++;
		}
		/* ring order is the order the kernel handled the packets in; a
		 * time that says otherwise (CPUs stamping one queue, a late
		 * fallback stamp) would reorder a connection's messages */
		if (MBX_UNLIKELY(pp->ts_ns < q->last_ts)) {
			pp->ts_ns = q->last_ts;
			q->ts_clamped++;
		}
		q->last_ts = pp->ts_ns;
		if (MBX_UNLIKELY(k == 0 && now > pp->ts_ns && now - pp->ts_ns > q->max_age))
			q->max_age = now - pp->ts_ns;
		if (MBX_LIKELY(k < nf))
			*xsk_ring_prod__fill_addr(&q->fill, fill_idx + k) =
			    d->addr & ~(uint64_t)(FRAME_SIZE - 1);
	}
	fnb(arg, pk, n);
	xsk_ring_cons__release(&q->rx, n);
	if (nf) {
		xsk_ring_prod__submit(&q->fill, nf);
		if (xsk_ring_prod__needs_wakeup(&q->fill))
			recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
	q->pkts += n;
	return n;
}

static int afx_poll_burst(struct mbx_live_queue *q, afx_burst_fn fnb, void *arg, unsigned max)
{
	unsigned n, total = 0;

	if (max > MBX_LIVE_BURST) /* rx_burst's limit: "n == max" must mean a full burst */
		max = MBX_LIVE_BURST;

	/* Packets carry the time XDP saw them, so reading them later costs
	 * no precision: after a small batch, let the ring fill for NAP_US
	 * instead of waking up for every few packets (a poll() wakeup costs
	 * more than parsing a packet; seen: 4 us of CPU per packet at 125k
	 * packets/s without the nap). A batch of a quarter of the ring or
	 * more means the rate is high: no nap then, so the ring cannot fill. */
	if (q->nap) {
		struct timespec ts = {0, NAP_US * 1000L};
		nanosleep(&ts, NULL);
	}
	/* Drain what the ring holds (at most one ring's worth), not just one
	 * burst. The worker, after a burst, promises the merge that nothing
	 * it sends later is older than the wall clock minus delay_ns(); a
	 * worker that was descheduled comes back to a backlog far older than
	 * that (seen: 285 ms on 2 busy CPUs) and would break the promise
	 * after its first burst. Once the ring is empty, anything still to
	 * come was stamped just now. See docs/deployment.md. */
	do {
		n = rx_burst(q, fnb, arg, max);
		total += n;
	} while (n == max && total < q->nframes);
	q->nap = total && total < q->nframes / 4;
	if (total)
		return (int)total;
	/* idle: sleep until a packet arrives, at most POLL_MS so that a stop
	 * request is seen; poll() also kicks the driver when the fill ring
	 * needs a wakeup */
	struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
	if (poll(&pfd, 1, POLL_MS) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static void afx_drops(struct mbx_live_queue *q, uint64_t *kernel, uint64_t *iface)
{
	struct xdp_statistics s;
	socklen_t sl = sizeof(s);
	if (getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &s, &sl) == 0) {
		/* copy mode: a packet lost for want of a fill frame counts in
		 * rx_dropped and rx_fill_ring_empty_descs both; in zero-copy the
		 * driver only counts the latter */
		q->last_kernel = s.rx_dropped + s.rx_ring_full +
				 (q->st->zero_copy ? s.rx_fill_ring_empty_descs : 0);
	}
	if (q->idx == 0) {
		/* memcache packets on queues nobody captures */
		uint64_t ns = stat_sum(q->st, MBX_XDP_NO_SOCKET);
		if (ns >= q->st->no_socket_base)
			q->last_iface = ns - q->st->no_socket_base;
	}
	*kernel = q->last_kernel;
	*iface = q->last_iface;
}

static uint64_t afx_delay(struct mbx_live_queue *q)
{
	(void)q;
	/* Packets carry their XDP arrival time and poll() drains the ring,
	 * so a packet is late only by the time the worker takes to come back
	 * after the ring was found empty: live.c reads the clock after
	 * poll(), so a worker descheduled in between (seen: 100-285 ms on 2
	 * busy CPUs) would otherwise promise too much. */
	return DELAY_MS * MBX_NSEC_PER_MSEC;
}

const struct mbx_live_backend mbx_backend_afxdp = {
    .name = "afxdp",
    .setup = afx_setup,
    .open = afx_open,
    .poll_burst = afx_poll_burst,
    .drops = afx_drops,
    .delay_ns = afx_delay,
    .close = afx_close,
    .teardown = afx_teardown,
    .linktype = 1,
};
