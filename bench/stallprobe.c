/* SPDX-License-Identifier: Apache-2.0 */
/* mbx-stallprobe: how long this machine takes its CPUs away from a running
 * thread. One thread per listed CPU, pinned, reads CLOCK_MONOTONIC in a
 * tight loop; a gap between two reads is time the thread did not run
 * (an interrupt, another task, or, on a VM, the host running something else
 * on that vCPU). All CPUs spin at once, as they are all busy during a
 * replay benchmark (client on one, memcached on the other).
 *
 * For each CPU it prints the gaps of at least 20 us by size, the time lost,
 * and what those gaps alone would do to an open-loop sender on that CPU:
 * the fraction of sends, at --rate per second, that fall due inside a gap
 * and are sent more than --late-us after their time. A fraction above 1 %
 * means that a p99 send lag below --late-us cannot be had on that CPU, by
 * any sender. It is a lower bound: a thread in the kernel can also wait for
 * a lock held by another vCPU that the host has stopped, and a spinning
 * probe does not see that.
 *
 *   mbx-stallprobe [--cpus 0,1] [--seconds 3] [--rate 100000] [--late-us 50] [--json]
 *
 * Exit 0 measured, 2 usage or system error. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CPUS 64
#define NB 8
static const uint64_t bounds_ns[NB] = {20000,   50000,   100000,  200000,
				       500000,  1000000, 5000000, 20000000};

struct probe {
	int cpu;
	pthread_t th;
	int err;
	uint64_t gaps[NB], lost_ns[NB];
	uint64_t max_ns;
	double late; /* sends late by more than late_ns, at rate */
	uint64_t loops;
};

static double g_seconds = 3, g_rate = 100000;
static uint64_t g_late_ns = 50000;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *spin(void *arg)
{
	struct probe *p = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	p->err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (p->err)
		return NULL;
	uint64_t start = now_ns(), end = start + (uint64_t)(g_seconds * 1e9), last = start;
	for (;;) {
		uint64_t t = now_ns(), g = t - last;
		last = t;
		p->loops++;
		if (g >= bounds_ns[0]) {
			int b = NB - 1;
			while (g < bounds_ns[b])
				b--;
			p->gaps[b]++;
			p->lost_ns[b] += g;
			if (g > p->max_ns)
				p->max_ns = g;
			if (g > g_late_ns) /* due in the first g - late of the gap */
				p->late += (double)(g - g_late_ns) * g_rate / 1e9;
		}
		if (t >= end)
			break;
	}
	return NULL;
}

static int parse_cpus(const char *s, struct probe *p, int *n)
{
	*n = 0;
	while (*s) {
		char *e;
		long a = strtol(s, &e, 10), b = a;
		if (e == s || a < 0 || a >= CPU_SETSIZE)
			return -1;
		if (*e == '-') {
			s = e + 1;
			b = strtol(s, &e, 10);
			if (e == s || b < a || b >= CPU_SETSIZE)
				return -1;
		}
		for (long c = a; c <= b; c++) {
			if (*n == MAX_CPUS)
				return -1;
			p[(*n)++].cpu = (int)c;
		}
		if (*e == ',')
			e++;
		else if (*e)
			return -1;
		s = e;
	}
	return *n ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mbx-stallprobe [--cpus LIST] [--seconds S] [--rate N] [--late-us U] [--json]\n"
		   "Spin one pinned thread per CPU (default 0,1) for S seconds (default 3) and\n"
		   "report the gaps (>= 20 us) in which it did not run, and the fraction of sends\n"
		   "of an open-loop sender at N/s (default 100000) they would make later than U us\n"
		   "(default 50; gaps under 20 us are not counted, so a U below 20 undercounts).\n");
}

int main(int argc, char **argv)
{
	static struct probe pr[MAX_CPUS];
	int n = 0, json = 0;
	const char *cpus = "0,1";
	static const struct option lo[] = {{"cpus", required_argument, NULL, 'c'},
					   {"seconds", required_argument, NULL, 's'},
					   {"rate", required_argument, NULL, 'r'},
					   {"late-us", required_argument, NULL, 'l'},
					   {"json", no_argument, NULL, 'j'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *e = NULL;
		switch (o) {
		case 'c': cpus = optarg; break;
		case 's': g_seconds = strtod(optarg, &e); break;
		case 'r': g_rate = strtod(optarg, &e); break;
		case 'l': g_late_ns = (uint64_t)(strtod(optarg, &e) * 1000); break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (e && (*e || e == optarg)) {
			fprintf(stderr, "mbx-stallprobe: not a number: %s\n", optarg);
			return 2;
		}
	}
	if (optind != argc || g_seconds <= 0 || g_seconds > 600 || g_rate <= 0) {
		usage(stderr);
		return 2;
	}
	if (parse_cpus(cpus, pr, &n) < 0) {
		fprintf(stderr, "mbx-stallprobe: bad --cpus list: %s\n", cpus);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		int r = pthread_create(&pr[i].th, NULL, spin, &pr[i]);
		if (r) {
			fprintf(stderr, "mbx-stallprobe: pthread_create: %s\n", strerror(r));
			return 2;
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(pr[i].th, NULL);
	for (int i = 0; i < n; i++) {
		if (pr[i].err) {
			fprintf(stderr, "mbx-stallprobe: cannot run on CPU %d: %s\n", pr[i].cpu,
				strerror(pr[i].err));
			return 2;
		}
	}
	double sends = g_rate * g_seconds;
	if (json)
		printf("{\"seconds\": %g, \"rate\": %g, \"late_us\": %g, \"cpus\": [", g_seconds, g_rate,
		       (double)g_late_ns / 1000);
	for (int i = 0; i < n; i++) {
		const struct probe *p = &pr[i];
		uint64_t lost = 0, big = 0;
		for (int b = 0; b < NB; b++) {
			lost += p->lost_ns[b];
			if (bounds_ns[b] >= g_late_ns)
				big += p->gaps[b];
		}
		if (json) {
			printf("%s{\"cpu\": %d, \"gaps\": {", i ? ", " : "", p->cpu);
			for (int b = 0; b < NB; b++)
				printf("%s\"%llu\": %llu", b ? ", " : "",
				       (unsigned long long)(bounds_ns[b] / 1000),
				       (unsigned long long)p->gaps[b]);
			printf("}, \"lost_ms_per_s\": %.3f, \"max_us\": %.1f, "
			       "\"gaps_over_late_per_s\": %.1f, \"late_fraction\": %.6f}",
			       (double)lost / 1e6 / g_seconds, (double)p->max_ns / 1000,
			       (double)big / g_seconds, p->late / sends);
		} else {
			printf("CPU %d: lost %.2f ms/s in gaps >= 20 us, longest %.0f us; gaps by size (us):",
			       p->cpu, (double)lost / 1e6 / g_seconds, (double)p->max_ns / 1000);
			for (int b = 0; b < NB; b++)
				printf(" >=%llu:%llu", (unsigned long long)(bounds_ns[b] / 1000),
				       (unsigned long long)p->gaps[b]);
			printf("\n       an open-loop sender at %.0f/s here would send %.3f%% of requests "
			       "more than %.0f us late from these gaps alone\n",
			       g_rate, 100 * p->late / sends, (double)g_late_ns / 1000);
		}
	}
	if (json)
		printf("]}\n");
	return 0;
}
