/* fuzz_inner: libFuzzer harness for the inner-packet parsing of the data plane, both families (issue #16):
 * the version nibble (dp_ip_version), the IPv4 and IPv6 source / destination reads the gateway's lookups and
 * anti-spoofing use (dp_ipv4_src/dst, dp_ipv6_src/dst), and the ICMP "fragmentation needed" / ICMPv6 "packet
 * too big" answers built from a packet above the MTU (dp_icmp_too_big, dp_icmp6_too_big), which read its header
 * and quote it.
 *
 * Input: byte 0 picks the MTU (576 + 32 * byte), the rest is the inner packet as read from the TUN. Checked:
 * every address read lies inside the packet; an answer is at most DP_ICMP_MAX bytes, goes to the packet's
 * source from the tunnel's address, has consistent length fields, a checksum that verifies, and quotes the
 * packet's first bytes; no answer to an ICMP(v6) error. Seeds: tests/fuzz/corpus/inner/ (IPv4, IPv6, IPv6 with
 * hop-by-hop / routing / fragment extension headers, ICMPv6 errors and echoes, truncated headers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/dataplane/batch.h"
#include "daemon/dataplane/icmp.h"
#include "daemon/dataplane/tunio.h"

#define TUNNEL_V4 0x0a420001u /* 10.66.0.1, the gateway's tunnel address in the tests */
static const uint8_t tunnel_v6[16] = {0xfd, 0x66, [15] = 1};
static uint8_t out[DP_ICMP_MAX + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void in_packet(const uint8_t *p, size_t n, const uint8_t *pkt, size_t len)
{
	if (p && (p < pkt || p + n > pkt + len))
		abort();
}

static void check_v4(const uint8_t *pkt, size_t len, unsigned mtu)
{
	uint32_t src = TUNNEL_V4, a = 0;
	size_t n = dp_icmp_too_big(pkt, len, mtu, src, out, sizeof(out));

	if (dp_ipv4_src(pkt, len, &a) == 0 && (len < 20 || memcmp(&a, pkt + 12, 4)))
		abort();
	if (dp_ipv4_dst(pkt, len, &a) == 0 && (len < 20 || memcmp(&a, pkt + 16, 4)))
		abort();
	if (!n)
		return;
	if (n > DP_ICMP_MAX || n < 28 + 20 || len < 20 || (pkt[0] >> 4) != 4)
		abort();
	if (out[0] != 0x45 || get16(out + 2) != n || out[9] != 1 || memcmp(out + 12, &src, 4) ||
	    memcmp(out + 16, pkt + 12, 4) || out[20] != 3 || out[21] != 4 || get16(out + 26) != mtu)
		abort();
	if (dp_csum_fold(dp_csum_add(0, out, 20)) != 0xffff || dp_csum_fold(dp_csum_add(0, out + 20, n - 20)) != 0xffff)
		abort(); /* both checksums verify */
	if (memcmp(out + 28, pkt, n - 28))
		abort(); /* the quote is the packet's start */
	if (pkt[9] == 1 && len > (size_t)(pkt[0] & 0xf) * 4) {
		uint8_t t = pkt[(pkt[0] & 0xf) * 4];
		if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12)
			abort(); /* an ICMP error is never answered */
	}
}

static void check_v6(const uint8_t *pkt, size_t len, unsigned mtu)
{
	const uint8_t *s = dp_ipv6_src(pkt, len), *d = dp_ipv6_dst(pkt, len);
	uint8_t pseudo[8] = {0};
	uint32_t sum;
	size_t n;

	in_packet(s, 16, pkt, len);
	in_packet(d, 16, pkt, len);
	if ((s != NULL) != (len >= 40 && (pkt[0] >> 4) == 6) || (s != NULL) != (d != NULL))
		abort();
	n = dp_icmp6_too_big(pkt, len, mtu, tunnel_v6, out, sizeof(out));
	if (!n)
		return;
	if (!s || n > DP_ICMP_MAX || n < 48 + 40)
		abort();
	if ((out[0] >> 4) != 6 || get16(out + 4) != n - 40 || out[6] != 58 || memcmp(out + 8, tunnel_v6, 16) ||
	    memcmp(out + 24, s, 16) || out[40] != 2 || out[41] != 0 || get16(out + 46) != (mtu & 0xffff))
		abort();
	pseudo[2] = (uint8_t)((n - 40) >> 8);
	pseudo[3] = (uint8_t)(n - 40);
	pseudo[7] = 58;
	sum = dp_csum_add(0, out + 8, 32);
	sum = dp_csum_add(sum, pseudo, sizeof(pseudo));
	sum = dp_csum_add(sum, out + 40, n - 40);
	if (dp_csum_fold(sum) != 0xffff)
		abort(); /* the ICMPv6 checksum over the pseudo-header verifies */
	if (memcmp(out + 48, pkt, n - 48))
		abort();
	if (pkt[6] == 58 && len > 40 && pkt[40] < 128)
		abort(); /* an ICMPv6 error right after the fixed header is never answered */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mtu, v;

	if (size < 1)
		return 0;
	mtu = 576u + 32u * data[0];
	data++;
	size--;
	v = dp_ip_version(data, size);
	if (v != (size ? (unsigned)(data[0] >> 4) : 0u))
		abort();
	/* both readers on every input: each must refuse the other family's packets and short ones by itself */
	check_v4(data, size, mtu);
	check_v6(data, size, mtu);
	return 0;
}
