/* SPDX-License-Identifier: Apache-2.0 */
/* mbx-blast: send a capture's frames out of an interface as fast as the
 * kernel takes them, or at a fixed rate: tcpreplay's job for
 * bench/capture-live, without its syscall per packet (sendmmsg in batches
 * on an AF_PACKET socket). The frames go through the device's queue
 * selection as tcpreplay's do: on a multi-queue device (veth with 2 queues)
 * each connection direction keeps one queue (a flow hash), as RSS keeps it
 * on a NIC. (PACKET_QDISC_BYPASS is not used: the kernel then picks the
 * queue from the sending CPU, and a direction moves between queues whenever
 * the scheduler moves the sender, which no NIC does.)
 * Frames are sent as captured, in
 * order, each once; a frame the kernel refuses (ENOBUFS) is retried, never
 * skipped, so the receiver sees exactly the capture.
 *
 *   mbx-blast --iface IF [--pps N] [--batch N] CAPTURE.pcap
 *
 * Prints tcpreplay's two summary lines ("Actual: N packets (B bytes) sent
 * in S seconds" and "Rated: ... pps"), which bench/capture-live parses. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr, "usage: mbx-blast --iface IF [--pps N] [--batch 1-%d] CAPTURE.pcap\n",
		MAX_BATCH);
	return 2;
}

int main(int argc, char **argv)
{
	const char *iface = NULL, *path = NULL;
	unsigned long pps = 0, batch = 64;
	char err[PCAP_ERRBUF_SIZE];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iface") && i + 1 < argc)
			iface = argv[++i];
		else if (!strcmp(argv[i], "--pps") && i + 1 < argc)
			pps = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtoul(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			return usage();
	}
	if (!iface || !path || batch < 1 || batch > MAX_BATCH)
		return usage();

	pcap_t *pc = pcap_open_offline(path, err);
	if (!pc) {
		fprintf(stderr, "mbx-blast: %s\n", err);
		return 2;
	}
	if (pcap_datalink(pc) != DLT_EN10MB) {
		fprintf(stderr, "mbx-blast: %s: not an Ethernet capture\n", path);
		return 2;
	}
	size_t n = 0, cap = 1 << 16, dlen = 0, dcap = 1 << 24;
	struct iovec *iov = malloc(cap * sizeof(*iov));
	size_t *off = malloc(cap * sizeof(*off));
	uint8_t *data = malloc(dcap);
	struct pcap_pkthdr *h;
	const u_char *d;
	int r;
	if (!iov || !off || !data)
		return 2;
	while ((r = pcap_next_ex(pc, &h, &d)) == 1) {
		if (h->caplen != h->len) {
			fprintf(stderr, "mbx-blast: frame %zu was cut by the capture's snap length\n",
				n + 1);
			return 2;
		}
		if (n == cap) {
			cap *= 2;
			iov = realloc(iov, cap * sizeof(*iov));
			off = realloc(off, cap * sizeof(*off));
			if (!iov || !off)
				return 2;
		}
		while (dlen + h->caplen > dcap) {
			dcap *= 2;
			if (!(data = realloc(data, dcap)))
				return 2;
		}
		memcpy(data + dlen, d, h->caplen);
		off[n] = dlen;
		iov[n].iov_len = h->caplen;
		dlen += h->caplen;
		n++;
	}
	pcap_close(pc);
	if (r != PCAP_ERROR_BREAK || n == 0) {
		fprintf(stderr, "mbx-blast: %s: no frames read\n", path);
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		iov[i].iov_base = data + off[i];
	free(off);

	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only */
	if (fd < 0) {
		fprintf(stderr, "mbx-blast: AF_PACKET socket: %s (needs CAP_NET_RAW)\n",
			strerror(errno));
		return 2;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(iface) };
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "mbx-blast: %s: %s\n", iface, strerror(errno ? errno : ENODEV));
		return 2;
	}
	int sndbuf = 4 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	static struct mmsghdr mm[MAX_BATCH];
	uint64_t bytes = 0, retries = 0, t0 = now_ns();
	size_t i = 0;
	while (i < n) {
		size_t k = n - i < batch ? n - i : batch;
		if (pps) { /* open loop: batch i is due at t0 + i / pps */
			uint64_t due = t0 + (uint64_t)((double)i * 1e9 / (double)pps);
			uint64_t t;
			while ((t = now_ns()) < due) {
				if (due - t > 200000) {
					struct timespec ts = { 0, (long)(due - t - 100000) };
					nanosleep(&ts, NULL);
				}
			}
		}
		for (size_t j = 0; j < k; j++) {
			memset(&mm[j], 0, sizeof(mm[j]));
			mm[j].msg_hdr.msg_iov = &iov[i + j];
			mm[j].msg_hdr.msg_iovlen = 1;
		}
		int s = sendmmsg(fd, mm, (unsigned)k, 0);
		if (s < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
				retries++;
				sched_yield();
				continue;
			}
			fprintf(stderr, "mbx-blast: sendmmsg: %s\n", strerror(errno));
			return 1;
		}
		for (int j = 0; j < s; j++)
			bytes += iov[i + (size_t)j].iov_len;
		i += (size_t)s;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("Actual: %zu packets (%llu bytes) sent in %.2f seconds\n", n,
	       (unsigned long long)bytes, secs);
	printf("Rated: %.1f Bps, %.2f Mbps, %.2f pps\n", (double)bytes / secs,
	       (double)bytes * 8 / secs / 1e6, (double)n / secs);
	printf("Retried: %llu batches the kernel refused (ENOBUFS)\n", (unsigned long long)retries);
	close(fd);
	free(iov);
	free(data);
	return 0;
}
