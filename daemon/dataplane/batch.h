/* batch: preallocated datagram buffers for one direction of one worker, sized for recvmmsg/sendmmsg.
 * Layout of each slot: [SLUICE_HDR_LEN header][inner packet ≤ SLUICE_MTU_MAX][SLUICE_TAG_LEN tag], so a TUN
 * read lands where it gets sealed and nothing is copied. */
#pragma once
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "daemon/dataplane/wire.h"

#define DP_BATCH 64
#define DP_SLOT_LEN (SLUICE_DGRAM_MAX + 64) /* room for a datagram larger than we ever build: detects it */

struct dp_batch {
	struct mmsghdr msgs[DP_BATCH];
	struct iovec iov[DP_BATCH];
	struct sockaddr_storage addr[DP_BATCH];
	uint8_t buf[DP_BATCH][DP_SLOT_LEN];
};

/* Points every message at its slot and address (once, at start). */
void dp_batch_init(struct dp_batch *b);

/* Inner IPv4 packet helpers (no allocation). Return 0 or -1 when the packet is not a well-formed IPv4 header
 * within len. */
int dp_ipv4_src(const uint8_t *pkt, size_t len, uint32_t *src_be);
int dp_ipv4_dst(const uint8_t *pkt, size_t len, uint32_t *dst_be);
/* Inner IPv6: a pointer to the 16-byte source / destination address, or NULL when the packet is not an IPv6
 * header within len (the fixed 40 bytes: extension headers are not looked at). */
const uint8_t *dp_ipv6_src(const uint8_t *pkt, size_t len);
const uint8_t *dp_ipv6_dst(const uint8_t *pkt, size_t len);

/* The version nibble of an inner packet (DESIGN 3: it tells the family), 0 for an empty one. */
static inline unsigned dp_ip_version(const uint8_t *pkt, size_t len)
{
	return len ? pkt[0] >> 4 : 0;
}
