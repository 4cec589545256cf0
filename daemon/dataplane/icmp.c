/* icmp: "fragmentation needed" for inner packets above the tunnel MTU (daemon/dataplane/icmp.h). */
#include <string.h>
#include "daemon/dataplane/icmp.h"
#include "daemon/dataplane/worker.h"

#define IP4_HDR 20
#define ICMP_HDR 8
#define IP_DF 0x4000
#define IP_OFFMASK 0x1fff
#define IPPROTO_ICMP_ 1
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMP_TTL 64
#define ICMP_TOS 0xc0 /* precedence "internetwork control", as routers send their errors */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An ICMP message that reports an error: never answered with another (RFC 1122 3.2.2). */
static bool icmp_is_error(uint8_t type)
{
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* A source we may answer: not 0/8, loopback, multicast, class E or broadcast. */
static bool unicast_source(const uint8_t *a)
{
	return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

size_t dp_icmp_too_big(const uint8_t *pkt, size_t len, unsigned mtu, uint32_t src_be, uint8_t *out, size_t room)
{
	size_t ihl, quote, total;
	uint8_t *icmp;

	if (room < DP_ICMP_MAX || len < IP4_HDR || (pkt[0] >> 4) != 4 || mtu > 0xffff)
		return 0;
	ihl = (size_t)(pkt[0] & 0xf) * 4;
	if (ihl < IP4_HDR || ihl > len || !(get16(pkt + 6) & IP_DF) || (get16(pkt + 6) & IP_OFFMASK) ||
	    !unicast_source(pkt + 12))
		return 0;
	if (pkt[9] == IPPROTO_ICMP_ && (len <= ihl || icmp_is_error(pkt[ihl])))
		return 0;
	/* as much of the original as fits (its header and at least 8 bytes: the ports the sender looks up) */
	quote = len < DP_ICMP_MAX - IP4_HDR - ICMP_HDR ? len : DP_ICMP_MAX - IP4_HDR - ICMP_HDR;
	total = IP4_HDR + ICMP_HDR + quote;
	memset(out, 0, IP4_HDR + ICMP_HDR);
	out[0] = 0x45;
	out[1] = ICMP_TOS;
	put16(out + 2, (uint16_t)total);
	out[8] = ICMP_TTL;
	out[9] = IPPROTO_ICMP_;
	memcpy(out + 12, &src_be, 4);
	memcpy(out + 16, pkt + 12, 4); /* to the packet's sender */
	put16(out + 10, (uint16_t)~dp_csum_fold(dp_csum_add(0, out, IP4_HDR)));
	icmp = out + IP4_HDR;
	icmp[0] = ICMP_DEST_UNREACH;
	icmp[1] = ICMP_FRAG_NEEDED;
	put16(icmp + 6, (uint16_t)mtu); /* next-hop MTU */
	memcpy(icmp + ICMP_HDR, pkt, quote);
	put16(icmp + 2, (uint16_t)~dp_csum_fold(dp_csum_add(0, icmp, ICMP_HDR + quote)));
	return total;
}

#define IP6_HDR 40
#define IPPROTO_ICMPV6_ 58
#define ICMP6_PACKET_TOO_BIG 2

/* A source we may answer: not unspecified, loopback or multicast. */
static bool unicast_source6(const uint8_t *a)
{
	static const uint8_t zero[15];

	return a[0] != 0xff && (memcmp(a, zero, 15) || a[15] > 1);
}

/* The packet is an ICMPv6 error, or its header chain cannot be followed far enough to tell (truncated, or
 * more than 8 extension headers): no answer then. Hop-by-hop, routing, destination options and fragment
 * headers are skipped; a non-first fragment carries no upper-layer header and may be answered. */
static bool icmp6_error_or_unsure(const uint8_t *pkt, size_t len)
{
	uint8_t nh = pkt[6];
	size_t off = IP6_HDR;

	for (unsigned i = 0; i < 8; i++) {
		switch (nh) {
		case IPPROTO_ICMPV6_:
			return len <= off || pkt[off] < 128;
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
			if (len < off + 8)
				return true;
			nh = pkt[off];
			off += ((size_t)pkt[off + 1] + 1) * 8;
			break;
		case 44: /* fragment: 8 bytes; a non-first fragment has no upper-layer header */
			if (len < off + 8)
				return true;
			if (get16(pkt + off + 2) & 0xfff8)
				return false;
			nh = pkt[off];
			off += 8;
			break;
		default:
			return false;
		}
	}
	return true;
}

size_t dp_icmp6_too_big(const uint8_t *pkt, size_t len, unsigned mtu, const uint8_t src[16], uint8_t *out,
			size_t room)
{
	uint8_t pseudo[8] = {0};
	size_t quote, total;
	uint8_t *icmp;
	uint32_t sum;

	if (room < DP_ICMP_MAX || len < IP6_HDR || (pkt[0] >> 4) != 6 || !unicast_source6(pkt + 8))
		return 0;
	/* an ICMPv6 error (types 0..127) is never answered with another (RFC 4443 2.4 e), also behind extension
	 * headers */
	if (icmp6_error_or_unsure(pkt, len))
		return 0;
	quote = len < DP_ICMP_MAX - IP6_HDR - ICMP_HDR ? len : DP_ICMP_MAX - IP6_HDR - ICMP_HDR;
	total = IP6_HDR + ICMP_HDR + quote;
	memset(out, 0, IP6_HDR + ICMP_HDR);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)(ICMP_HDR + quote));
	out[6] = IPPROTO_ICMPV6_;
	out[7] = ICMP_TTL;
	memcpy(out + 8, src, 16);
	memcpy(out + 24, pkt + 8, 16); /* to the packet's sender */
	icmp = out + IP6_HDR;
	icmp[0] = ICMP6_PACKET_TOO_BIG;
	put16(icmp + 4, (uint16_t)(mtu >> 16));
	put16(icmp + 6, (uint16_t)mtu);
	memcpy(icmp + ICMP_HDR, pkt, quote);
	/* the checksum covers a pseudo-header: both addresses, the upper-layer length and next header */
	put16(pseudo + 2, (uint16_t)(ICMP_HDR + quote));
	pseudo[7] = IPPROTO_ICMPV6_;
	sum = dp_csum_add(0, out + 8, 32);
	sum = dp_csum_add(sum, pseudo, sizeof(pseudo));
	sum = dp_csum_add(sum, icmp, ICMP_HDR + quote);
	put16(icmp + 2, (uint16_t)~dp_csum_fold(sum));
	return total;
}

/* The worker's rate for both families: DP_ICMP_BURST per DP_ICMP_WINDOW_MS. */
static bool within_rate(struct dp_worker *w, uint64_t now_ms)
{
	if (now_ms - w->icmp_window_ms >= DP_ICMP_WINDOW_MS) {
		w->icmp_window_ms = now_ms;
		w->icmp_in_window = 0;
	}
	return w->icmp_in_window < DP_ICMP_BURST;
}

static void answer(struct dp_worker *w, const uint8_t *out, size_t n)
{
	if (!n || dp_tun_write(&w->t, (uint8_t *)out, n))
		return;
	w->icmp_in_window++;
	SL_ADD(w->st.icmp_too_big, 1);
}

void dp_answer_too_big(struct dp_worker *w, const uint8_t *pkt, size_t len, unsigned mtu, uint32_t src_be,
		       uint64_t now_ms)
{
	uint8_t *out = w->icmp_buf + DP_VNET_HDR_LEN; /* room for the vnet header in front, as every write */

	if (within_rate(w, now_ms))
		answer(w, out, dp_icmp_too_big(pkt, len, mtu, src_be, out, sizeof(w->icmp_buf) - DP_VNET_HDR_LEN));
}

void dp_answer_too_big6(struct dp_worker *w, const uint8_t *pkt, size_t len, unsigned mtu, const uint8_t src[16],
			uint64_t now_ms)
{
	uint8_t *out = w->icmp_buf + DP_VNET_HDR_LEN;

	if (within_rate(w, now_ms))
		answer(w, out, dp_icmp6_too_big(pkt, len, mtu, src, out, sizeof(w->icmp_buf) - DP_VNET_HDR_LEN));
}
