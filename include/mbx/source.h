/* SPDX-License-Identifier: Apache-2.0 */
/* Packet sources. A source yields packets (pointer, lengths, ns timestamp);
 * nothing downstream knows which source it was. Only src/capture/pcap_*.c
 * include pcap.h (the struct bpf_insn clash with libbpf, see docs). */
#ifndef MBX_SOURCE_H
#define MBX_SOURCE_H

#include "mbx/common.h"

struct mbx_pkt {
	const uint8_t *data;
	uint32_t caplen;  /* bytes at data */
	uint32_t wirelen; /* original length on the wire */
	uint64_t ts_ns;   /* ns since the Unix epoch */
};

/* Offline capture file (pcap or pcapng, through libpcap, ns precision). */
struct mbx_pcap_file;

/* Open a capture file ("-" for stdin). NULL on failure with a reason in err
 * (missing file, not a capture file, truncated header, ...). */
struct mbx_pcap_file *mbx_pcap_file_open(const char *path, char *err, size_t errlen);
void mbx_pcap_file_close(struct mbx_pcap_file *f); /* NULL ok */

int mbx_pcap_file_linktype(const struct mbx_pcap_file *f);
uint32_t mbx_pcap_file_snaplen(const struct mbx_pcap_file *f);

/* Next packet: 1 and *pkt filled (data valid until the next call), 0 at end
 * of file, -1 on a read error (a truncated or corrupt record) with the
 * reason available from mbx_pcap_file_error(). */
int mbx_pcap_file_next(struct mbx_pcap_file *f, struct mbx_pkt *pkt);
const char *mbx_pcap_file_error(const struct mbx_pcap_file *f);

#endif
