/* batch: buffer slots for recvmmsg/sendmmsg and the inner-header reads (source, destination; IPv4 and IPv6)
 * the data plane needs. */
#include <string.h>
#include "daemon/dataplane/batch.h"

#define IPV4_MIN_HDR 20
#define IPV4_SRC_OFF 12
#define IPV4_DST_OFF 16
#define IPV6_HDR 40
#define IPV6_SRC_OFF 8
#define IPV6_DST_OFF 24

void dp_batch_init(struct dp_batch *b)
{
	memset(b->msgs, 0, sizeof(b->msgs));
	for (int i = 0; i < DP_BATCH; i++) {
		b->iov[i].iov_base = b->buf[i];
		b->iov[i].iov_len = DP_SLOT_LEN;
		b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
		b->msgs[i].msg_hdr.msg_iovlen = 1;
		b->msgs[i].msg_hdr.msg_name = &b->addr[i];
		b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addr[i]);
	}
}

static int ipv4_ok(const uint8_t *pkt, size_t len)
{
	return len >= IPV4_MIN_HDR && (pkt[0] >> 4) == 4 && (size_t)(pkt[0] & 0xf) * 4 >= IPV4_MIN_HDR;
}

int dp_ipv4_src(const uint8_t *pkt, size_t len, uint32_t *src_be)
{
	if (!ipv4_ok(pkt, len))
		return -1;
	memcpy(src_be, pkt + IPV4_SRC_OFF, 4);
	return 0;
}

int dp_ipv4_dst(const uint8_t *pkt, size_t len, uint32_t *dst_be)
{
	if (!ipv4_ok(pkt, len))
		return -1;
	memcpy(dst_be, pkt + IPV4_DST_OFF, 4);
	return 0;
}

const uint8_t *dp_ipv6_src(const uint8_t *pkt, size_t len)
{
	return len >= IPV6_HDR && (pkt[0] >> 4) == 6 ? pkt + IPV6_SRC_OFF : NULL;
}

const uint8_t *dp_ipv6_dst(const uint8_t *pkt, size_t len)
{
	return len >= IPV6_HDR && (pkt[0] >> 4) == 6 ? pkt + IPV6_DST_OFF : NULL;
}

static uint32_t mix(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u; /* FNV-1a */
	return h;
}

/* The two ends (address then port, alen + 2 bytes each) in a fixed order, then the protocol; never 0. */
static uint32_t ends_hash(const uint8_t *a, const uint8_t *b, size_t alen, const uint8_t *pa, const uint8_t *pb,
			  uint8_t proto)
{
	int c = memcmp(a, b, alen);
	uint32_t h = 2166136261u;

	if (c == 0)
		c = memcmp(pa, pb, 2);
	if (c > 0) {
		const uint8_t *t = a;
		a = b;
		b = t;
		t = pa;
		pa = pb;
		pb = t;
	}
	h = mix(h, a, alen);
	h = mix(h, b, alen);
	h = mix(h, pa, 2);
	h = mix(h, pb, 2);
	h = mix(h, &proto, 1);
	/* FNV-1a's low bits are the XOR of its input's low bits (its prime is odd), and hash % workers reads
	 * them: connect() hands out ephemeral ports of one parity, so every flow would land on one worker.
	 * murmur3's finaliser spreads every input bit over all of them. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h ? h : 1;
}

uint32_t dp_flow_hash(const uint8_t *pkt, size_t len)
{
	if (ipv4_ok(pkt, len)) {
		size_t ihl = (size_t)(pkt[0] & 0xf) * 4;
		uint8_t proto = pkt[9];
		if ((proto != 6 && proto != 17) || (pkt[6] & 0x3f) || pkt[7] || len < ihl + 4)
			return 0; /* not TCP/UDP, or a fragment (only the first would have ports) */
		return ends_hash(pkt + IPV4_SRC_OFF, pkt + IPV4_DST_OFF, 4, pkt + ihl, pkt + ihl + 2, proto);
	}
	if (len >= IPV6_HDR + 4 && (pkt[0] >> 4) == 6 && (pkt[6] == 6 || pkt[6] == 17))
		return ends_hash(pkt + IPV6_SRC_OFF, pkt + IPV6_DST_OFF, 16, pkt + IPV6_HDR, pkt + IPV6_HDR + 2, pkt[6]);
	return 0;
}
