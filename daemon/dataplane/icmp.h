/* icmp: an inner packet above the tunnel MTU is answered the way a router answers it (DESIGN §10.8): with
 * ICMP "fragmentation needed" (type 3 code 4, the MTU in the next-hop MTU field, RFC 1191) written back into
 * the TUN, to the packet's sender — which then learns the path MTU at once instead of timing out.
 *
 *   TUN read -> larger than the MTU -> drop (oversize) -> DF set, first fragment, not itself an ICMP error,
 *   a unicast sender, within the worker's rate -> the answer built in the worker's own buffer -> TUN write
 *
 * Only on that rare branch, never in the common case; no allocation, no log, no lock. Not a packet of
 * ours to count as traffic: it has its own counter (icmp_too_big). An IPv6 packet is answered alike with
 * ICMPv6 "packet too big" (type 2, the MTU in its MTU field, RFC 4443 3.2; IPv6 has no DF: every packet
 * qualifies), counted under the same name. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define DP_ICMP_MAX 576        /* RFC 1812 4.3.2.3: an ICMP error is at most 576 bytes */
#define DP_ICMP_BURST 10       /* answers per worker … */
#define DP_ICMP_WINDOW_MS 100u /* … per this window: 100 a second, like the kernel's icmp_ratelimit */

struct dp_worker;

/* Builds the answer to the IPv4 packet pkt[0..len) that the tunnel (MTU mtu) cannot carry, from src_be (the
 * tunnel's side: an address the receiving host does not own) to the packet's source, in out (room bytes).
 * Its length, or 0 when no answer is due (not IPv4, no DF, a later fragment, an ICMP error, no unicast
 * sender, room < DP_ICMP_MAX). */
size_t dp_icmp_too_big(const uint8_t *pkt, size_t len, unsigned mtu, uint32_t src_be, uint8_t *out, size_t room);

/* The same for an IPv6 packet: "packet too big" from src (16 bytes) to its source; 0 when not IPv6, its
 * source is unspecified, loopback or multicast, it is an ICMPv6 error, or room < DP_ICMP_MAX (the answer
 * quotes as much as fits in DP_ICMP_MAX bytes, less than IPv6's 1280 and so always deliverable). */
size_t dp_icmp6_too_big(const uint8_t *pkt, size_t len, unsigned mtu, const uint8_t src[16], uint8_t *out,
			size_t room);

/* The data path's call: the answer, if due and within the worker's rate, through the worker's TUN queue. */
void dp_answer_too_big(struct dp_worker *w, const uint8_t *pkt, size_t len, unsigned mtu, uint32_t src_be,
		       uint64_t now_ms);
void dp_answer_too_big6(struct dp_worker *w, const uint8_t *pkt, size_t len, unsigned mtu, const uint8_t src[16],
			uint64_t now_ms);
