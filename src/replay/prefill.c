/* SPDX-License-Identifier: Apache-2.0 */
/* --prefill: before measuring, store every key whose FIRST access in the
 * recording was a retrieval hit (it was in the cache when the recording
 * began), with the recorded value size, so that the replayed hit ratio
 * approaches the recorded one. Keys first seen as a miss, or first written,
 * are left alone: the replay creates them as the recording did.
 *
 * Memory: one 16-byte slot per distinct key (open addressing), plus 16
 * bytes per key to store. Sending: one blocking connection per target,
 * pipelined "set <key> 0 0 <len> noreply", then "version" to know memcached
 * processed everything; error lines (e.g. object too large) are counted. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_int.h"
#include "mbx/profile.h"

struct pf_key {
	uint64_t hash;
	uint32_t value_len;
	uint8_t key_len;
	uint8_t state; /* 0 empty, 1 seen (not to fill), 2 fill */
};

struct pf_set {
	struct pf_key *t;
	uint64_t cap, n;
};

static struct pf_key *pf_slot(struct pf_set *s, uint64_t h)
{
	uint64_t i = (h * 0x9e3779b97f4a7c15ULL) & (s->cap - 1);
	while (s->t[i].state && s->t[i].hash != h)
		i = (i + 1) & (s->cap - 1);
	return &s->t[i];
}

static int pf_grow(struct pf_set *s)
{
	struct pf_set ns = { .cap = s->cap * 2 };
	ns.t = calloc(ns.cap, sizeof(*ns.t));
	if (!ns.t)
		return -ENOMEM;
	for (uint64_t i = 0; i < s->cap; i++)
		if (s->t[i].state)
			*pf_slot(&ns, s->t[i].hash) = s->t[i];
	ns.n = s->n;
	free(s->t);
	*s = ns;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read replies until "VERSION ...\r\n"; count error lines before it. */
static int drain_until_version(int fd, uint64_t timeout_ns, uint64_t *errors)
{
	char buf[65536];
	size_t len = 0;
	uint64_t deadline = rp_now() + timeout_ns;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = rp_now();
		if (now >= deadline)
			return -ETIMEDOUT;
		int pr = poll(&pfd, 1, (int)((deadline - now) / MBX_NSEC_PER_MSEC) + 1);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr <= 0)
			continue;
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		len += (size_t)r;
		size_t start = 0;
		for (size_t i = 0; i + 1 < len; i++) {
			if (buf[i] != '\r' || buf[i + 1] != '\n')
				continue;
			size_t ll = i - start;
			if (ll >= 7 && memcmp(buf + start, "VERSION", 7) == 0)
				return 0;
			(*errors)++;
			start = i + 2;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == sizeof(buf))
			len = 0; /* an absurd line: drop it */
	}
}

int rp_prefill(struct rp_engine *e, const char *profile, FILE *out, char *err, size_t errlen)
{
	const struct mbx_replay_cfg *cfg = e->cfg;
	struct pf_set set = { .cap = 1 << 16 };
	struct mbx_profile_reader *r;
	const struct mbx_event *ev;
	size_t n;
	int rc, ret = -1;
	uint64_t nfill = 0, errors = 0, bytes = 0;
	int fds[MBX_REPLAY_MAX_TARGETS];
	uint8_t *obuf = NULL;
	size_t olen = 0;
	const size_t ocap = 1 << 20;

	for (unsigned t = 0; t < MBX_REPLAY_MAX_TARGETS; t++)
		fds[t] = -1;
	set.t = calloc(set.cap, sizeof(*set.t));
	r = mbx_profile_reader_open(profile, err, errlen);
	if (!set.t || !r)
		goto out;
	while ((rc = mbx_profile_reader_next(r, &ev, &n)) == 1) {
		for (size_t i = 0; i < n; i++) {
			const struct mbx_event *x = &ev[i];
			if (!x->key_hash || mbx_op_class(x->op) == MBX_OPC_OTHER)
				continue;
			if (set.n * 2 >= set.cap && pf_grow(&set) < 0) {
				snprintf(err, errlen, "prefill: out of memory at %llu distinct keys",
					 (unsigned long long)set.n);
				goto out;
			}
			struct pf_key *k = pf_slot(&set, x->key_hash);
			if (k->state)
				continue;
			k->hash = x->key_hash;
			k->key_len = x->key_len;
			k->value_len = x->value_len;
			bool hit_first = mbx_op_class(x->op) == MBX_OPC_RETR && x->outcome == MBX_OUT_HIT;
			k->state = hit_first ? 2 : 1;
			set.n++;
			nfill += hit_first;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", profile, mbx_profile_reader_error(r));
		goto out;
	}
	obuf = malloc(ocap);
	if (!obuf)
		goto out;
	for (unsigned t = 0; t < cfg->ntargets; t++) {
		const struct mbx_target *tg = &cfg->targets[t];
		int one = 1;
		fds[t] = socket(tg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[t] < 0 || connect(fds[t], (const struct sockaddr *)&tg->addr, tg->addrlen) < 0) {
			snprintf(err, errlen, "prefill: cannot connect to %s: %s", tg->name, strerror(errno));
			goto out;
		}
		setsockopt(fds[t], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	/* one target at a time keeps the code simple; memcached is fast */
	for (unsigned t = 0; t < cfg->ntargets; t++) {
		for (uint64_t i = 0; i < set.cap; i++) {
			const struct pf_key *k = &set.t[i];
			if (k->state != 2 || (cfg->ntargets > 1 && rp_jump_hash(k->hash, cfg->ntargets) != t))
				continue;
			char key[MBX_KEY_MAX + 1];
			size_t kl = mbx_keygen_key(&e->kg, k->hash, k->key_len, key);
			uint32_t avail;
			const uint8_t *v = mbx_valbuf_get(e->vb, k->hash, k->value_len, &avail);
			char hdr[MBX_KEY_MAX + 64];
			int hl = snprintf(hdr, sizeof(hdr), "set %.*s 0 0 %u noreply\r\n", (int)kl, key,
					  k->value_len);
			if (olen + (size_t)hl + 2 + MBX_MIN(k->value_len, (uint32_t)ocap) > ocap) {
				if (write_all(fds[t], obuf, olen) < 0)
					goto io_err;
				olen = 0;
			}
			memcpy(obuf + olen, hdr, (size_t)hl);
			olen += (size_t)hl;
			uint32_t left = k->value_len;
			while (left) {
				uint32_t m = MBX_MIN(left, avail);
				if (olen + m > ocap) {
					if (write_all(fds[t], obuf, olen) < 0)
						goto io_err;
					olen = 0;
				}
				if (m > ocap) {
					if (write_all(fds[t], v, m) < 0)
						goto io_err;
				} else {
					memcpy(obuf + olen, v, m);
					olen += m;
				}
				left -= m;
			}
			memcpy(obuf + olen, "\r\n", 2);
			olen += 2;
			bytes += k->value_len;
		}
		memcpy(obuf + olen, "version\r\n", 9);
		olen += 9;
		if (write_all(fds[t], obuf, olen) < 0)
			goto io_err;
		olen = 0;
		int dr = drain_until_version(fds[t], 30 * MBX_NSEC_PER_SEC, &errors);
		if (dr < 0) {
			snprintf(err, errlen, "prefill: %s did not confirm: %s", cfg->targets[t].name,
				 strerror(-dr));
			goto out;
		}
	}
	fprintf(out, "prefill: stored %llu keys (%llu value bytes) that the recording saw hit first, of %llu distinct keys; %llu errors\n",
		(unsigned long long)nfill, (unsigned long long)bytes, (unsigned long long)set.n,
		(unsigned long long)errors);
	ret = 0;
	goto out;
io_err:
	snprintf(err, errlen, "prefill: write failed: %s", strerror(errno));
out:
	for (unsigned t = 0; t < MBX_REPLAY_MAX_TARGETS; t++)
		if (fds[t] >= 0)
			close(fds[t]);
	free(obuf);
	free(set.t);
	mbx_profile_reader_close(r);
	return ret;
}
