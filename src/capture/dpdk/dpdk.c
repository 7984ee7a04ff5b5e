/* SPDX-License-Identifier: Apache-2.0 */
/* DPDK live backend (--backend dpdk). The only file that includes DPDK
 * headers; it is built into its own static library because libdpdk's
 * pkg-config adds -include rte_config.h -march=corei7 to every file that
 * uses it (docs/architecture.md, docs/deployment.md "## DPDK").
 *
 * - EAL: the arguments after "--" on the mbx command line, with defaults
 *   added when absent (--no-telemetry, --in-memory or --no-shconf, a main
 *   lcore on a CPU the workers do not use, -m for --no-huge, -a for a PCI
 *   --iface, --log-level=notice). The exact line is printed with -v.
 * - Threads: the capture workers are live.c's pthreads, not EAL lcores.
 *   rte_eth_rx_burst works from any thread; each worker registers itself
 *   with rte_thread_register() on its first poll so that its queue's
 *   mempool gets a per-core cache (without an lcore id every mbuf alloc and
 *   free would go to the pool's shared ring). EAL pins the thread calling
 *   rte_eal_init() to the main lcore; we restore the caller's affinity so
 *   that the threads live.c starts afterwards do not inherit it.
 * - One RX queue per worker, one mempool per queue (sized from
 *   --buffer-size), RSS with a symmetric Toeplitz key where the device has
 *   RSS, the timestamp dynfield where the device fills it.
 * - poll() hands each mbuf's data to the worker in place and frees the
 *   burst in bulk; a multi-segment mbuf is linearised into a per-queue
 *   buffer (counted).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "mbx/live.h"
#include "mbx/log.h"

#define DP_RX_DESC	 4096			   /* wanted RX descriptors per queue */
#define DP_TX_DESC	 64			   /* idle TX queues for PMDs that need them */
#define DP_MBUF_CACHE	 256			   /* per-core mempool cache */
#define DP_DATA_ROOM	 RTE_MBUF_DEFAULT_BUF_SIZE /* 2 KiB + headroom */
#define DP_MAX_MBUFS	 (1u << 22)
#define DP_IDLE_SPIN	 128			   /* empty polls before sleeping */
#define DP_IDLE_SLEEP_NS 50000			   /* then sleep this long per empty poll */
#define DP_EOF_IDLE_NS	 (500 * MBX_NSEC_PER_MSEC) /* rx_pcap file: end of input */
#define DP_JUMBO_MTU	 9000
#define DP_MAX_ARGS	 256
#define DP_HIST_NS	 2    /* cost histogram: bucket width (ns per packet) */
#define DP_HIST_N	 1024 /* ... buckets; the last one holds the rest */

enum dp_ts_mode {
	DP_TS_SW,   /* CLOCK_REALTIME once per burst */
	DP_TS_PCAP, /* net_pcap: dynfield holds us since the epoch (file or libpcap) */
	DP_TS_HW,   /* device clock ticks, converted by age against rte_eth_read_clock */
};

static const char *const ts_mode_names[] = {"sw", "pcap", "hw"};

struct dp_state;

struct mbx_live_queue {
	struct dp_state *st;
	uint16_t port;
	uint16_t qid;
	enum dp_ts_mode ts_mode;
	int ts_off;
	uint64_t ts_flag;
	uint64_t hw_ns_per_tick_fp; /* ns per device tick, 32.32 fixed point */
	uint32_t snaplen;
	bool started; /* first poll done (thread registered) */
	bool eof;
	unsigned idle_polls;
	uint64_t tsc_hz;
	uint64_t last_rx_tsc;
	uint64_t drops_k, drops_i;
	/* cost accounting (bench/capture-dpdk-cost): cycles in the PMD
	 * (rx_burst + bulk free) and in mbx (the callbacks: decode,
	 * reassembly, parse, ring) for non-empty bursts */
	uint64_t pkts, bursts, segmented;
	uint64_t cyc_pmd, cyc_mbx;
	uint64_t ns_per_cyc_fp; /* 32.32 */
	/* packets by the per-packet cost of their burst: a burst during which
	 * the thread was preempted lands in the last bucket instead of
	 * inflating a mean (shared or oversubscribed CPUs) */
	uint64_t hist_mbx[DP_HIST_N + 1];
	uint64_t hist_pmd[DP_HIST_N + 1];
	uint64_t cpu_start_ns, cpu_ns;
	uint8_t *bounce; /* linearised multi-segment packets */
	struct rte_mbuf *burst[MBX_LIVE_BURST];
} __rte_cache_aligned;

struct dp_state {
	char *argv[DP_MAX_ARGS]; /* EAL arguments (owned; EAL may keep pointers) */
	int argc;
	bool eal_up;
	bool port_configured;
	uint16_t ntx; /* TX queues: 0, or nq for PMDs that want them paired */
	bool port_started;
	uint16_t port;
	char name[RTE_ETH_NAME_MAX_LEN];
	char driver[64];
	unsigned nq;
	uint16_t nb_rxd;
	unsigned pool_n;
	size_t obj_size;
	struct rte_mempool *pools[MBX_LIVE_MAX_WORKERS];
	struct mbx_live_queue *queues[MBX_LIVE_MAX_WORKERS];
	enum dp_ts_mode ts_mode;
	int ts_off;
	uint64_t ts_flag;
	uint64_t hw_ns_per_tick_fp;
	bool file_replay;    /* net_pcap rx_pcap=: timestamps from files, end at EOF */
	unsigned eof_queues; /* atomic */
	char rss[64];
};

static struct dp_state *g_dp; /* EAL is per process: one port per run */

/* ---- helpers -------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (uint64_t)t.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)t.tv_nsec;
}

/* Is option NAME among the user's EAL arguments? Long options match
 * "--name" and "--name=..."; a short option "-x" matches "-x" and "-xVALUE". */
static bool eal_has(const struct mbx_live_cfg *cfg, const char *name)
{
	size_t nl = strlen(name);
	bool is_short = nl == 2 && name[0] == '-' && name[1] != '-';

	for (int i = 0; i < cfg->eal_argc; i++) {
		const char *a = cfg->eal_argv[i];
		if (is_short) {
			if (a[0] == '-' && a[1] == name[1])
				return true;
		} else if (!strncmp(a, name, nl) && (a[nl] == 0 || a[nl] == '=')) {
			return true;
		}
	}
	return false;
}

static int push_arg(struct dp_state *st, const char *a)
{
	if (st->argc >= DP_MAX_ARGS - 1)
		return -E2BIG;
	st->argv[st->argc] = strdup(a);
	if (!st->argv[st->argc])
		return -ENOMEM;
	st->argc++;
	return 0;
}

/* 0000:3b:00.0 or 3b:00.0 */
static bool looks_like_pci(const char *s)
{
	unsigned a, b, c, d;
	char tail;
	return sscanf(s, "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4 ||
	       sscanf(s, "%x:%x.%x%c", &b, &c, &d, &tail) == 3;
}

static uint64_t free_hugepages_bytes(void)
{
	DIR *d = opendir("/sys/kernel/mm/hugepages");
	struct dirent *e;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		unsigned long kb;
		char path[512];
		if (sscanf(e->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/free_hugepages",
			 e->d_name);
		FILE *f = fopen(path, "r");
		unsigned long long n = 0;
		if (f) {
			if (fscanf(f, "%llu", &n) != 1)
				n = 0;
			fclose(f);
		}
		total += n * kb * 1024;
	}
	closedir(d);
	return total;
}

static const char *root_hint(void)
{
	if (geteuid() == 0)
		return "";
	return " (mbx is not running as root: DPDK needs root, or CAP_SYS_ADMIN, CAP_IPC_LOCK and "
	       "CAP_NET_RAW with access to /dev/vfio and /dev/hugepages)";
}

/* ---- EAL ------------------------------------------------------------------ */

/* The main lcore: the first allowed CPU no worker is pinned to (the main
 * thread only prints the status line; EAL pins its interrupt thread away
 * from lcores). */
static int main_lcore_cpu(const struct mbx_live_cfg *cfg)
{
	cpu_set_t set;
	int first = -1;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (first < 0)
			first = c;
		bool used = false;
		for (unsigned i = 0; i < cfg->nqueues; i++)
			if (cfg->lcores[i] == c)
				used = true;
		if (!used)
			return c;
	}
	return first < 0 ? 0 : first;
}

static int build_eal_args(struct dp_state *st, const struct mbx_live_cfg *cfg, uint64_t pool_bytes)
{
	char buf[64];
	int r = push_arg(st, "mbx");

	if (!r && !eal_has(cfg, "--no-telemetry") && !eal_has(cfg, "--telemetry"))
		r = push_arg(st, "--no-telemetry");
	if (!r && !eal_has(cfg, "--in-memory") && !eal_has(cfg, "--no-shconf") &&
	    !eal_has(cfg, "--file-prefix") && !eal_has(cfg, "--proc-type"))
		/* no files in /var/run/dpdk; --in-memory needs hugepages */
		r = push_arg(st, eal_has(cfg, "--no-huge") ? "--no-shconf" : "--in-memory");
	if (!r && !eal_has(cfg, "-l") && !eal_has(cfg, "-c") && !eal_has(cfg, "--lcores")) {
		snprintf(buf, sizeof(buf), "%d", main_lcore_cpu(cfg));
		r = push_arg(st, "-l");
		if (!r)
			r = push_arg(st, buf);
	}
	if (!r && eal_has(cfg, "--no-huge") && !eal_has(cfg, "-m") &&
	    !eal_has(cfg, "--socket-mem")) {
		/* --no-huge reserves -m MB (default 64) up front: the pools plus
		 * what EAL and the drivers use themselves */
		snprintf(buf, sizeof(buf), "%llu",
			 (unsigned long long)((pool_bytes + (1 << 20) - 1) >> 20) + 64);
		r = push_arg(st, "-m");
		if (!r)
			r = push_arg(st, buf);
	}
	if (!r && looks_like_pci(cfg->iface) && !eal_has(cfg, "-a") && !eal_has(cfg, "--allow") &&
	    !eal_has(cfg, "-b") && !eal_has(cfg, "--block") && !eal_has(cfg, "--no-pci")) {
		/* probe only the capture NIC */
		r = push_arg(st, "-a");
		if (!r)
			r = push_arg(st, cfg->iface);
	}
	if (!r && !eal_has(cfg, "--log-level") && mbx_log_level < MBX_LOG_DEBUG)
		r = push_arg(st, "--log-level=notice");
	for (int i = 0; !r && i < cfg->eal_argc; i++)
		r = push_arg(st, cfg->eal_argv[i]);
	st->argv[st->argc] = NULL;
	return r;
}

static int eal_start(struct dp_state *st, char *err, size_t errlen)
{
	char *argv[DP_MAX_ARGS];
	cpu_set_t saved;
	bool have_saved;

	if (mbx_log_level >= MBX_LOG_INFO) {
		char line[2048];
		size_t n = 0;
		for (int i = 0; i < st->argc && n < sizeof(line); i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "",
					      st->argv[i]);
		pr_info("dpdk: EAL arguments: %s", line);
	}
	/* DPDK logs to stdout and syslog by default; mbx's stdout is the
	 * summary */
	rte_openlog_stream(stderr);
	/* rte_eal_init pins this thread to the main lcore; the capture and
	 * writer threads are created by it later and would inherit that */
	have_saved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	memcpy(argv, st->argv, sizeof(argv)); /* EAL permutes argv */
	/* EAL prints its usage to stdout on a bad argument: send it to
	 * stderr (no other thread runs yet) */
	fflush(stdout);
	int out = dup(STDOUT_FILENO);
	if (out >= 0)
		dup2(STDERR_FILENO, STDOUT_FILENO);
	int r = rte_eal_init(st->argc, argv);
	int e = rte_errno;
	if (out >= 0) {
		fflush(stdout);
		dup2(out, STDOUT_FILENO);
		close(out);
	}
	if (have_saved)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (r < 0) {
		snprintf(err, errlen, "DPDK EAL initialisation failed: %s%s%s", rte_strerror(e),
			 e == EALREADY ? " (EAL can be initialised once per process)"
			 : e == EINVAL ? " (see EAL's message above about the arguments after '--')"
				       : "",
			 root_hint());
		return -EIO;
	}
	st->eal_up = true;
	return 0;
}

/* ---- port ----------------------------------------------------------------- */

static int find_port(struct dp_state *st, const char *iface, char *err, size_t errlen)
{
	uint16_t pid;
	char alt[RTE_ETH_NAME_MAX_LEN + 8];

	if (rte_eth_dev_get_port_by_name(iface, &pid) == 0)
		goto found;
	if (looks_like_pci(iface) && strchr(iface, ':') == strrchr(iface, ':')) {
		snprintf(alt, sizeof(alt), "0000:%s", iface); /* bus:dev.fn without domain */
		if (rte_eth_dev_get_port_by_name(alt, &pid) == 0)
			goto found;
	}
	if (iface[0] >= '0' && iface[0] <= '9' && strspn(iface, "0123456789") == strlen(iface)) {
		unsigned long v = strtoul(iface, NULL, 10);
		if (v < RTE_MAX_ETHPORTS && rte_eth_dev_is_valid_port((uint16_t)v)) {
			pid = (uint16_t)v;
			goto found;
		}
	}
	for (int i = 0; i < g_dp->argc; i++) {
		/* --vdev=NAME,... or --vdev NAME,... */
		const char *a = g_dp->argv[i];
		if (!strncmp(a, "--vdev=", 7))
			a += 7;
		else if (!strcmp(a, "--vdev") && i + 1 < g_dp->argc)
			a = g_dp->argv[++i];
		else
			continue;
		size_t il = strlen(iface);
		if (!strncmp(a, iface, il) && (a[il] == 0 || a[il] == ',')) {
			snprintf(err, errlen,
				 "DPDK port '%s' was given with --vdev but its driver could not "
				 "create it (see the driver's messages above)%s",
				 iface, root_hint());
			return -ENODEV;
		}
	}
	{
		char list[512];
		size_t n = 0;
		uint16_t p;
		list[0] = 0;
		RTE_ETH_FOREACH_DEV(p)
		{
			char nm[RTE_ETH_NAME_MAX_LEN];
			if (rte_eth_dev_get_name_by_port(p, nm) == 0 && n < sizeof(list))
				n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%u=%s",
						      n ? ", " : "", p, nm);
		}
		if (!list[0])
			snprintf(err, errlen,
				 "no DPDK port '%s': DPDK found no ports at all (create one with "
				 "--vdev=... after '--', or bind a NIC to vfio-pci with "
				 "scripts/dpdk-bind.sh and do not pass --no-pci)%s",
				 iface, root_hint());
		else
			snprintf(err, errlen,
				 "no DPDK port '%s' (ports: %s); --iface takes a port name, a PCI "
				 "address or a port number",
				 iface, list);
	}
	return -ENODEV;
found:
	st->port = pid;
	rte_eth_dev_get_name_by_port(pid, st->name);
	return 0;
}

/* Devices whose queues are fixed by their arguments: every queue receives
 * traffic whether mbx polls it or not. */
static const char *fixed_queue_hint(const char *driver)
{
	if (!strcmp(driver, "net_pcap"))
		return "net_pcap has one queue per rx_pcap= (or rx_iface=) argument";
	if (!strcmp(driver, "net_af_packet"))
		return "net_af_packet has qpairs=N queues";
	if (!strcmp(driver, "net_af_xdp"))
		return "net_af_xdp has queue_count=N queues (on veth: one vdev per queue)";
	return NULL;
}

static bool devargs_has(const struct rte_eth_dev_info *info, const char *key)
{
	const struct rte_devargs *da = info->device ? rte_dev_devargs(info->device) : NULL;
	const char *a = da ? da->args : NULL;
	size_t kl = strlen(key);

	while (a && *a) {
		if (!strncmp(a, key, kl))
			return true;
		a = strchr(a, ',');
		if (a)
			a++;
	}
	return false;
}

static void fill_symmetric_key(uint8_t *key, unsigned len)
{
	/* 0x6d5a repeated: the Toeplitz hash of (src, dst) equals that of
	 * (dst, src) because addresses and ports swap at 16-bit offsets */
	for (unsigned i = 0; i < len; i++)
		key[i] = (i & 1) ? 0x5a : 0x6d;
}

static int configure_port(struct dp_state *st, const struct rte_eth_dev_info *info, char *err,
			  size_t errlen)
{
	struct rte_eth_conf conf;
	uint8_t key[256];
	int r;

	memset(&conf, 0, sizeof(conf));
	if (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	if (st->ts_mode == DP_TS_HW)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	/* a SPAN port sees the frames of the mirrored network, jumbo ones
	 * too; only on physical NICs (a vdev's MTU is its interface's) */
	if ((conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER) && info->device &&
	    !strcmp(rte_bus_name(rte_dev_bus(info->device)), "pci"))
		conf.rxmode.mtu = MBX_MIN(info->max_mtu, (uint16_t)DP_JUMBO_MTU);

	uint64_t hf = info->flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	bool rss = st->nq > 1 && hf;
	if (rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = hf;
		if (info->hash_key_size) { /* uint8_t: fits key[] */
			fill_symmetric_key(key, info->hash_key_size);
			conf.rx_adv_conf.rss_conf.rss_key = key;
			conf.rx_adv_conf.rss_conf.rss_key_len = info->hash_key_size;
		}
	}
	r = rte_eth_dev_configure(st->port, (uint16_t)st->nq, 0, &conf);
	if (r < 0 && rss && conf.rx_adv_conf.rss_conf.rss_key) {
		pr_warn(
		    "dpdk: %s refused the symmetric RSS key (%s); using its default key: the two "
		    "directions of a connection may land on different workers (mbx handles that)",
		    st->name, rte_strerror(-r));
		conf.rx_adv_conf.rss_conf.rss_key = NULL;
		conf.rx_adv_conf.rss_conf.rss_key_len = 0;
		r = rte_eth_dev_configure(st->port, (uint16_t)st->nq, 0, &conf);
	}
	if (r < 0 && conf.rxmode.mtu) {
		conf.rxmode.mtu = 0;
		r = rte_eth_dev_configure(st->port, (uint16_t)st->nq, 0, &conf);
	}
	if (r < 0 && st->ts_mode == DP_TS_HW) {
		conf.rxmode.offloads &= ~RTE_ETH_RX_OFFLOAD_TIMESTAMP;
		st->ts_mode = DP_TS_SW;
		r = rte_eth_dev_configure(st->port, (uint16_t)st->nq, 0, &conf);
	}
	if (r == -EINVAL) {
		/* some PMDs (net_af_xdp) want RX and TX queues in pairs; mbx
		 * never transmits, the TX queues stay idle */
		r = rte_eth_dev_configure(st->port, (uint16_t)st->nq, (uint16_t)st->nq, &conf);
		if (r == 0)
			st->ntx = (uint16_t)st->nq;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot configure %u RX queues: %s%s", st->name, st->nq,
			 rte_strerror(-r), root_hint());
		return r;
	}
	st->port_configured = true;
	if (!rss) {
		snprintf(st->rss, sizeof(st->rss), "%s",
			 st->nq > 1 ? "no RSS (the device distributes)" : "no RSS");
	} else if (!conf.rx_adv_conf.rss_conf.rss_key) {
		snprintf(st->rss, sizeof(st->rss), "RSS default key");
	} else {
		/* some devices accept a key and ignore it: read it back */
		uint8_t got[256] = {0};
		struct rte_eth_rss_conf rc = {.rss_key = got, .rss_key_len = info->hash_key_size};
		int g = rte_eth_dev_rss_hash_conf_get(st->port, &rc);
		if (g == 0 && !memcmp(got, key, info->hash_key_size))
			snprintf(st->rss, sizeof(st->rss), "RSS symmetric");
		else if (g == 0)
			snprintf(st->rss, sizeof(st->rss), "RSS key not applied");
		else
			snprintf(st->rss, sizeof(st->rss), "RSS symmetric (not verified)");
	}
	uint16_t rxd = DP_RX_DESC, txd = 0;
	if (rte_eth_dev_adjust_nb_rx_tx_desc(st->port, &rxd, &txd) == 0)
		st->nb_rxd = rxd;
	else
		st->nb_rxd = DP_RX_DESC;
	return 0;
}

/* Mempool per queue: n = --buffer-size / object size (2 KiB data room +
 * 128 B headroom + 128 B mbuf header + mempool header, 2368 bytes on
 * x86-64), at least enough for the RX ring plus a burst and the caches. */
static unsigned pool_size(const struct mbx_live_cfg *cfg, size_t obj, uint16_t nb_rxd)
{
	uint64_t n = cfg->buffer_bytes / obj;
	uint64_t min = (uint64_t)nb_rxd + 2ULL * MBX_LIVE_BURST + 3ULL * DP_MBUF_CACHE;
	return (unsigned)MBX_MIN(MBX_MAX(n, min), (uint64_t)DP_MAX_MBUFS);
}

static int setup_queues(struct dp_state *st, const struct mbx_live_cfg *cfg, char *err,
			size_t errlen)
{
	int sock = rte_eth_dev_socket_id(st->port);
	if (sock < 0)
		sock = SOCKET_ID_ANY;
	st->pool_n = MBX_MAX(st->pool_n, pool_size(cfg, st->obj_size, st->nb_rxd));
	if ((uint64_t)st->pool_n * st->obj_size > cfg->buffer_bytes)
		pr_warn("dpdk: --buffer-size %llu KiB is below the minimum for %u RX descriptors; "
			"using %u mbufs (%llu KiB) per queue",
			(unsigned long long)(cfg->buffer_bytes >> 10), st->nb_rxd, st->pool_n,
			(unsigned long long)(((uint64_t)st->pool_n * st->obj_size) >> 10));
	for (unsigned i = 0; i < st->nq; i++) {
		char nm[RTE_MEMPOOL_NAMESIZE];
		snprintf(nm, sizeof(nm), "mbx_rx%u", i);
		st->pools[i] =
		    rte_pktmbuf_pool_create(nm, st->pool_n, DP_MBUF_CACHE, 0, DP_DATA_ROOM, sock);
		if (!st->pools[i]) {
			int e = rte_errno;
			snprintf(err, errlen,
				 "cannot allocate %u mbufs (%llu MiB) for queue %u: %s; lower "
				 "--buffer-size, or reserve more hugepages "
				 "(scripts/dpdk-hugepages.sh), or with --no-huge raise -m",
				 st->pool_n,
				 (unsigned long long)(((uint64_t)st->pool_n * st->obj_size) >> 20),
				 i, rte_strerror(e));
			return -ENOMEM;
		}
		int r = rte_eth_rx_queue_setup(st->port, (uint16_t)i, st->nb_rxd, (unsigned)sock,
					       NULL, st->pools[i]);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot set up RX queue %u (%u descriptors): %s",
				 st->name, i, st->nb_rxd, rte_strerror(-r));
			return r;
		}
		if (i < st->ntx) {
			r = rte_eth_tx_queue_setup(st->port, (uint16_t)i, DP_TX_DESC, (unsigned)sock, NULL);
			if (r < 0) {
				snprintf(err, errlen, "%s: cannot set up (idle) TX queue %u: %s", st->name,
					 i, rte_strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

/* Ticks of the device clock per ns, measured against CLOCK_MONOTONIC. */
static int calibrate_hw_clock(struct dp_state *st)
{
	uint64_t c0, c1;
	if (rte_eth_read_clock(st->port, &c0) != 0)
		return -ENOTSUP;
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	struct timespec d = {0, 50L * 1000 * 1000};
	nanosleep(&d, NULL);
	if (rte_eth_read_clock(st->port, &c1) != 0)
		return -ENOTSUP;
	uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
	if (c1 <= c0 || t1 <= t0)
		return -EINVAL;
	st->hw_ns_per_tick_fp = (uint64_t)(((unsigned __int128)(t1 - t0) << 32) / (c1 - c0));
	return st->hw_ns_per_tick_fp ? 0 : -EINVAL;
}

static void dp_free(struct dp_state *st)
{
	if (!st)
		return;
	if (st->port_started)
		rte_eth_dev_stop(st->port);
	if (st->port_configured)
		rte_eth_dev_close(st->port);
	for (unsigned i = 0; i < MBX_LIVE_MAX_WORKERS; i++)
		rte_mempool_free(st->pools[i]);
	if (st->eal_up)
		rte_eal_cleanup();
	for (int i = 0; i < st->argc; i++)
		free(st->argv[i]);
	free(st);
	if (g_dp == st)
		g_dp = NULL;
}

static int dp_setup(struct mbx_live_cfg *cfg, char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	struct dp_state *st;
	int r;

	if (!cfg->iface[0]) {
		snprintf(err, errlen,
			 "--iface is required: a DPDK port name (net_pcap0, 0000:3b:00.0) or "
			 "number");
		return -EINVAL;
	}
	if (cfg->first_queue) {
		snprintf(err, errlen,
			 "--first-queue is for AF_XDP: mbx owns the whole DPDK port and "
			 "polls its queues 0..N-1");
		return -EINVAL;
	}
	if (g_dp) {
		snprintf(err, errlen, "the DPDK backend is already in use in this process");
		return -EBUSY;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g_dp = st;
	st->nq = cfg->nqueues;
	st->obj_size = rte_mempool_calc_obj_size(sizeof(struct rte_mbuf) + DP_DATA_ROOM, 0, NULL);
	st->pool_n = pool_size(cfg, st->obj_size, DP_RX_DESC);
	bool no_huge = eal_has(cfg, "--no-huge");
	/* without hugepages an mbuf may not cross a 4 KiB page: one per page */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t pool_bytes = (uint64_t)cfg->nqueues * st->pool_n *
			      (no_huge ? RTE_ALIGN_CEIL(st->obj_size, page) : st->obj_size);
	if (!no_huge && free_hugepages_bytes() == 0) {
		snprintf(
		    err, errlen,
		    "no free hugepages: reserve some (scripts/dpdk-hugepages.sh --reserve 1G, or "
		    "echo 512 > /proc/sys/vm/nr_hugepages), or pass --no-huge after '--' (testing "
		    "only)");
		r = -ENOMEM;
		goto fail;
	}
	r = build_eal_args(st, cfg, pool_bytes);
	if (r < 0) {
		snprintf(err, errlen, "too many EAL arguments");
		goto fail;
	}
	r = eal_start(st, err, errlen);
	if (r < 0)
		goto fail;
	r = find_port(st, cfg->iface, err, errlen);
	if (r < 0)
		goto fail;
	r = rte_eth_dev_info_get(st->port, &info);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read device info: %s", st->name,
			 rte_strerror(-r));
		goto fail;
	}
	snprintf(st->driver, sizeof(st->driver), "%s", info.driver_name ? info.driver_name : "?");
	const char *hint = fixed_queue_hint(st->driver);
	if (st->nq > info.max_rx_queues || (hint && st->nq != info.max_rx_queues)) {
		snprintf(
		    err, errlen,
		    "%s (%s) has %u RX queue%s but mbx runs %u worker%s (--queues/--lcores)%s%s",
		    st->name, st->driver, info.max_rx_queues, info.max_rx_queues == 1 ? "" : "s",
		    st->nq, st->nq == 1 ? "" : "s", hint ? ": " : "", hint ? hint : "");
		r = -EINVAL;
		goto fail;
	}

	/* Timestamps. net_pcap always fills the Rx timestamp dynfield (us
	 * since the epoch, from the file or libpcap) without advertising the
	 * offload; other devices fill it with device clock ticks when
	 * RTE_ETH_RX_OFFLOAD_TIMESTAMP is on. */
	st->ts_mode = DP_TS_SW;
	if (!strcmp(st->driver, "net_pcap")) {
		st->ts_mode = DP_TS_PCAP;
		st->file_replay =
		    devargs_has(&info, "rx_pcap=") && !devargs_has(&info, "infinite_rx=1");
	} else if ((info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) &&
		   !getenv("MBX_DPDK_SW_TIMESTAMPS")) {
		st->ts_mode = DP_TS_HW;
	}
	r = configure_port(st, &info, err, errlen);
	if (r < 0)
		goto fail;
	if (st->ts_mode != DP_TS_SW &&
	    rte_mbuf_dyn_rx_timestamp_register(&st->ts_off, &st->ts_flag) != 0) {
		pr_warn("dpdk: no Rx timestamp field (%s): timestamps taken per burst",
			rte_strerror(rte_errno));
		st->ts_mode = DP_TS_SW;
	}
	r = setup_queues(st, cfg, err, errlen);
	if (r < 0)
		goto fail;
	r = rte_eth_dev_start(st->port);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot start the port: %s%s", st->name, rte_strerror(-r),
			 root_hint());
		goto fail;
	}
	st->port_started = true;
	r = rte_eth_promiscuous_enable(st->port);
	if (r < 0 && r != -ENOTSUP)
		pr_warn("dpdk: %s: cannot enable promiscuous mode: %s", st->name, rte_strerror(-r));
	if (st->ts_mode == DP_TS_HW && calibrate_hw_clock(st) < 0) {
		pr_warn(
		    "dpdk: %s: the device clock cannot be read (rte_eth_read_clock): timestamps "
		    "taken per burst",
		    st->name);
		st->ts_mode = DP_TS_SW;
	}
	rte_eth_stats_reset(st->port);
	cfg->linktype = 1; /* Ethernet */
	/* replaying files: a full ring waits for the writer, as the offline
	 * recorder would, instead of dropping what nothing forces us to drop */
	cfg->source_waits = st->file_replay;
	cfg->backend_state = st;
	snprintf(cfg->source, sizeof(cfg->source), "dpdk:%s (%s, %u queue%s, %s, timestamps %s)",
		 st->name, st->driver, st->nq, st->nq == 1 ? "" : "s", st->rss,
		 st->file_replay ? "from the capture file" : ts_mode_names[st->ts_mode]);
	pr_info("dpdk: %s: %u mbufs of %zu bytes per queue (%llu MiB), %u RX descriptors, %s",
		cfg->source, st->pool_n, st->obj_size,
		(unsigned long long)(((uint64_t)st->pool_n * st->obj_size) >> 20), st->nb_rxd,
		st->file_replay ? "ends at the end of the rx_pcap files; a full worker ring waits "
				  "for the writer" :
				  "until stopped");
	return 0;
fail:
	dp_free(st);
	return r < 0 ? r : -EIO;
}

static void dp_teardown(struct mbx_live_cfg *cfg)
{
	struct dp_state *st = cfg->backend_state;
	if (!st)
		st = g_dp;
	cfg->backend_state = NULL;
	dp_free(st);
}

/* ---- queues --------------------------------------------------------------- */

static struct mbx_live_queue *dp_open(struct mbx_live_cfg *cfg, unsigned i, char *err,
				      size_t errlen)
{
	struct dp_state *st = cfg->backend_state;
	struct mbx_live_queue *q;

	if (!st || i >= st->nq) {
		snprintf(err, errlen, "dpdk: queue %u was not set up", i);
		return NULL;
	}
	q = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(sizeof(*q), RTE_CACHE_LINE_SIZE));
	if (!q) {
		snprintf(err, errlen, "dpdk: out of memory for queue %u", i);
		return NULL;
	}
	memset(q, 0, sizeof(*q));
	q->bounce = malloc(cfg->snaplen);
	if (!q->bounce) {
		free(q);
		snprintf(err, errlen, "dpdk: out of memory for queue %u", i);
		return NULL;
	}
	q->st = st;
	q->port = st->port;
	q->qid = (uint16_t)i;
	q->ts_mode = st->ts_mode;
	q->ts_off = st->ts_off;
	q->ts_flag = st->ts_flag;
	q->hw_ns_per_tick_fp = st->hw_ns_per_tick_fp;
	q->snaplen = cfg->snaplen;
	q->tsc_hz = rte_get_tsc_hz();
	q->ns_per_cyc_fp = (MBX_NSEC_PER_SEC << 32) / (q->tsc_hz ? q->tsc_hz : 1);
	st->queues[i] = q;
	return q;
}

/* First poll, in the worker thread. */
static void dp_thread_start(struct mbx_live_queue *q)
{
	q->started = true;
	if (rte_thread_register() != 0)
		pr_warn("dpdk: worker %u: rte_thread_register: %s: its mbuf pool works without a "
			"per-core cache (slower)",
			q->qid, rte_strerror(rte_errno));
	q->cpu_start_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	q->last_rx_tsc = rte_rdtsc();
}

static void dp_idle(struct mbx_live_queue *q, uint64_t tsc)
{
	struct dp_state *st = q->st;

	if (st->file_replay && !q->eof &&
	    tsc - q->last_rx_tsc > q->tsc_hz / 1000 * (DP_EOF_IDLE_NS / MBX_NSEC_PER_MSEC)) {
		/* a capture file never pauses: this queue's file has ended */
		q->eof = true;
		if (__atomic_add_fetch(&st->eof_queues, 1, __ATOMIC_ACQ_REL) == st->nq) {
			pr_info("dpdk: end of the rx_pcap capture files: stopping");
			mbx_live_request_stop();
		}
	}
	if (++q->idle_polls > DP_IDLE_SPIN) {
		/* bounded: live.c checks for a stop request between polls */
		struct timespec d = {0, DP_IDLE_SLEEP_NS};
		nanosleep(&d, NULL);
	}
}

static inline uint64_t pkt_ts(const struct mbx_live_queue *q, const struct rte_mbuf *m,
			      uint64_t burst_ns, uint64_t burst_clk)
{
	if (q->ts_mode == DP_TS_SW || !(m->ol_flags & q->ts_flag))
		return burst_ns;
	uint64_t v = *RTE_MBUF_DYNFIELD(m, q->ts_off, const rte_mbuf_timestamp_t *);
	if (q->ts_mode == DP_TS_PCAP)
		return v * 1000;
	/* device ticks: the packet's age against the clock read for this
	 * burst, so that the device clock's drift never accumulates */
	if (v >= burst_clk)
		return burst_ns;
	uint64_t age = burst_clk - v;
	if (age > (1ULL << 31))
		age = 1ULL << 31;
	uint64_t age_ns = (uint64_t)(((unsigned __int128)age * q->hw_ns_per_tick_fp) >> 32);
	return age_ns < burst_ns ? burst_ns - age_ns : burst_ns;
}

static inline void hist_add(uint64_t *h, const struct mbx_live_queue *q, uint64_t cyc, unsigned n)
{
	uint64_t ns = (uint64_t)(((unsigned __int128)cyc * q->ns_per_cyc_fp) >> 32) / n;
	h[MBX_MIN(ns / DP_HIST_NS, (uint64_t)DP_HIST_N)] += n;
}

/* Median, and mean over the bursts below the last bucket; *out = the
 * fraction of packets in bursts above it. */
static void hist_stats(const uint64_t *h, double *median, double *mean, double *out)
{
	uint64_t tot = 0, in = 0, acc = 0;
	double sum = 0;
	for (unsigned i = 0; i <= DP_HIST_N; i++)
		tot += h[i];
	*median = *mean = *out = 0;
	if (!tot)
		return;
	for (unsigned i = 0; i <= DP_HIST_N; i++) {
		if (acc < (tot + 1) / 2 && acc + h[i] >= (tot + 1) / 2)
			*median = (i + 0.5) * DP_HIST_NS;
		acc += h[i];
		if (i < DP_HIST_N) {
			in += h[i];
			sum += (double)h[i] * (i + 0.5) * DP_HIST_NS;
		}
	}
	*mean = in ? sum / (double)in : 0;
	*out = (double)(tot - in) / (double)tot;
}

typedef void (*dp_burst_fn)(void *arg, const struct mbx_pkt *pkts, unsigned n);

/* Hand the packets collected in pk[0..*np) over as one run. */
static inline void dp_deliver(dp_burst_fn fnb, void *arg, struct mbx_pkt *pk, unsigned *np)
{
	if (*np)
		fnb(arg, pk, *np);
	*np = 0;
}

static int dp_poll_burst(struct mbx_live_queue *q, dp_burst_fn fnb, void *arg, unsigned max)
{
	struct mbx_pkt pk[MBX_LIVE_BURST];
	unsigned np = 0;
	uint64_t burst_clk = 0;

	if (unlikely(!q->started))
		dp_thread_start(q);
	if (max > MBX_LIVE_BURST)
		max = MBX_LIVE_BURST;
	uint64_t t0 = rte_rdtsc();
	uint16_t n = rte_eth_rx_burst(q->port, q->qid, q->burst, (uint16_t)max);
	if (n == 0) {
		dp_idle(q, t0);
		return 0;
	}
	uint64_t t1 = rte_rdtsc();
	q->idle_polls = 0;
	q->last_rx_tsc = t1;
	/* a replayed file stamps every packet: no clock read per burst */
	uint64_t burst_ns = q->st->file_replay ? 0 : clock_ns(CLOCK_REALTIME);
	if (q->ts_mode == DP_TS_HW && rte_eth_read_clock(q->port, &burst_clk) != 0)
		burst_clk = 0; /* every packet gets the burst time (see pkt_ts) */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = q->burst[i];
		struct mbx_pkt *p = &pk[np];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(q->burst[i + 1], void *));
		p->wirelen = m->pkt_len;
		p->caplen = MBX_MIN(m->pkt_len, q->snaplen);
		if (likely(m->nb_segs == 1)) {
			p->data = rte_pktmbuf_mtod(m, const uint8_t *);
			p->caplen = MBX_MIN(p->caplen, (uint32_t)m->data_len);
		} else {
			/* a chained mbuf is linearised into the one bounce
			 * buffer: hand over what precedes it first, then it
			 * alone (below), so that no two packets share the buffer */
			struct mbx_pkt chained = *p;
			dp_deliver(fnb, arg, pk, &np);
			p = &pk[0];
			*p = chained;
			p->data = rte_pktmbuf_read(m, 0, p->caplen, q->bounce);
			q->segmented++;
			if (unlikely(!p->data))
				continue; /* pkt_len larger than the chain: malformed mbuf */
		}
		p->ts_ns = pkt_ts(q, m, burst_ns, burst_clk);
		if (unlikely(!p->ts_ns)) /* no timestamp where one was expected */
			p->ts_ns = burst_ns = clock_ns(CLOCK_REALTIME);
		np++;
		if (unlikely(m->nb_segs != 1))
			dp_deliver(fnb, arg, pk, &np);
	}
	dp_deliver(fnb, arg, pk, &np);
	uint64_t t2 = rte_rdtsc();
	rte_pktmbuf_free_bulk(q->burst, n);
	uint64_t t3 = rte_rdtsc();
	q->cyc_pmd += (t1 - t0) + (t3 - t2);
	q->cyc_mbx += t2 - t1;
	hist_add(q->hist_mbx, q, t2 - t1, n);
	hist_add(q->hist_pmd, q, (t1 - t0) + (t3 - t2), n);
	q->pkts += n;
	q->bursts++;
	return n;
}

static void dp_drops(struct mbx_live_queue *q, uint64_t *kernel, uint64_t *iface)
{
	struct rte_eth_stats s;

	/* the port's counters (imissed, rx_nombuf, ierrors) are port-wide:
	 * reported once, by queue 0, so that the sum over workers is right */
	if (q->qid == 0 && rte_eth_stats_get(q->port, &s) == 0) {
		q->drops_k = s.imissed + s.rx_nombuf;
		q->drops_i = s.ierrors;
	}
	*kernel = q->drops_k;
	*iface = q->drops_i;
	if (q->started) /* the last call is made by the worker after its loop */
		q->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - q->cpu_start_ns;
}

static uint64_t dp_delay(struct mbx_live_queue *q)
{
	if (q->st->file_replay)
		return UINT64_MAX; /* file time: unrelated to the wall clock */
	/* sw: stamped when polled; pcap (libpcap live) and hw: buffered in
	 * the kernel or the NIC ring first */
	return q->ts_mode == DP_TS_SW ? 10 * MBX_NSEC_PER_MSEC : 50 * MBX_NSEC_PER_MSEC;
}

static void dp_close(struct mbx_live_queue *q)
{
	if (!q)
		return;
	if (q->pkts) {
		double hz = (double)q->tsc_hz, pk = (double)q->pkts;
		double m50, mmean, mout, p50, pmean, pout;
		hist_stats(q->hist_mbx, &m50, &mmean, &mout);
		hist_stats(q->hist_pmd, &p50, &pmean, &pout);
		pr_info(
		    "dpdk: queue %u: %llu packets in %llu bursts; per packet: mbx %.1f ns "
		    "(decode, reassembly, parse, ring), PMD %.1f ns (rx_burst + free); thread CPU "
		    "%.3f s; %llu multi-segment packets linearised",
		    q->qid, (unsigned long long)q->pkts, (unsigned long long)q->bursts,
		    (double)q->cyc_mbx / hz * 1e9 / pk, (double)q->cyc_pmd / hz * 1e9 / pk,
		    (double)q->cpu_ns / 1e9, (unsigned long long)q->segmented);
		pr_info(
		    "dpdk: queue %u: per-burst cost per packet, without bursts over %u ns/packet "
		    "(preempted): mbx median %.1f ns mean %.1f ns (%.2f%% of packets over); PMD "
		    "median %.1f ns mean %.1f ns (%.2f%% over)",
		    q->qid, DP_HIST_N * DP_HIST_NS, m50, mmean, 100 * mout, p50, pmean, 100 * pout);
	}
	if (q->st && q->qid < MBX_LIVE_MAX_WORKERS && q->st->queues[q->qid] == q)
		q->st->queues[q->qid] = NULL;
	free(q->bounce);
	free(q);
}

const struct mbx_live_backend mbx_backend_dpdk = {
    .name = "dpdk",
    .setup = dp_setup,
    .open = dp_open,
    .poll_burst = dp_poll_burst,
    .drops = dp_drops,
    .delay_ns = dp_delay,
    .close = dp_close,
    .teardown = dp_teardown,
    .linktype = 1,
};
