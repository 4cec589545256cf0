/* udpio: the data plane's UDP socket I/O, with the kernel's segmentation offloads when it has them.
 *   send: the sealed datagrams of a batch go out in groups — consecutive datagrams to one endpoint, all of one
 *         size but the last — each group one message with UDP_SEGMENT (GSO): the stack is walked once per
 *         group, not once per datagram; sendmmsg carries all groups in one call.
 *   receive: UDP_GRO lets the kernel hand over a train of datagrams of one flow as one message, split here at
 *         the segment size the kernel reports; recvmmsg fetches several such messages per call.
 * Both are detected at start and logged once; a kernel or route without them (EIO: no checksum offload)
 * falls back to one datagram per message, which is also what every datagram looks like to the receiver. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "daemon/dataplane/batch.h"
#include "daemon/dataplane/keystate.h"

#define DP_GRO_MSGS 8           /* messages per recvmmsg with GRO (each up to 64 KiB: 512 KiB in all) */
#define DP_RX_ROUNDS 8          /* recvmmsg calls per wake-up at most (dp_udp_drain) */
#define DP_GRO_LEN (65536 + 64) /* one coalesced message: at most 64 KiB */
#define DP_GSO_MAX_BYTES 65000  /* payload of one GSO message (UDP's limit is 65507) */
#define DP_GSO_MAX_SEGS 64      /* the kernel's UDP_MAX_SEGMENTS */

union dp_cmsg {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

struct dp_udp {
	int fd;
	bool gso, gro;
	struct mmsghdr gmsgs[DP_BATCH]; /* send groups */
	union dp_cmsg gctl[DP_BATCH];
	struct mmsghdr rmsgs[DP_GRO_MSGS]; /* GRO receive */
	struct iovec riov[DP_GRO_MSGS];
	struct sockaddr_storage raddr[DP_GRO_MSGS];
	union dp_cmsg rctl[DP_GRO_MSGS];
	uint8_t *rbuf; /* DP_GRO_MSGS * DP_GRO_LEN, only with GRO */
};

/* One received datagram (len 0: truncated, count it as a bad header). */
typedef void (*dp_rx_fn)(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
			 socklen_t from_len);

/* Probes and enables what the kernel offers on fd (env SLUICE_NO_OFFLOAD=1 turns both off, for tests and
 * benchmarks). 0 or -ENOMEM. */
int dp_udp_init(struct dp_udp *u, int fd);
void dp_udp_free(struct dp_udp *u);
/* Sends the n sealed datagrams of b (iov[i], addr[i], msgs[i].msg_hdr.msg_namelen); counts them in st. */
void dp_udp_send(struct dp_udp *u, struct dp_batch *b, unsigned n, struct dp_stats *st);
/* Receives what is waiting (one recvmmsg) into b or, with GRO, into u's own buffers; calls fn per datagram.
 * Returns the number of messages received (0 when nothing was waiting). */
int dp_udp_recv(struct dp_udp *u, struct dp_batch *b, dp_rx_fn fn, void *arg);
/* dp_udp_recv until the socket is empty (a call that did not fill its messages: MSG_DONTWAIT gave all there
 * was) or `rounds` calls were made: one wake-up takes what came in while it ran, and the caller flushes its
 * TUN trains once, after all of it. Returns the number of messages received. */
int dp_udp_drain(struct dp_udp *u, struct dp_batch *b, dp_rx_fn fn, void *arg, unsigned rounds);
