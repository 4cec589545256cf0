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
