/* udpio: batched UDP send and receive with GSO/GRO when the kernel has them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/dataplane/tunio.h"
#include "daemon/dataplane/udpio.h"
#include "daemon/log.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int dp_udp_init(struct dp_udp *u, int fd)
{
	int one = 1, v = 0, gso_err = 0, gro_err = 0;
	socklen_t l = sizeof(v);

	memset(u, 0, sizeof(*u));
	u->fd = fd;
	if (dp_offload_off())
		return 0;
	u->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &l) == 0;
	if (!u->gso)
		gso_err = errno;
	if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one))) {
		gro_err = errno;
	} else {
		u->rbuf = malloc((size_t)DP_GRO_MSGS * DP_GRO_LEN);
		if (!u->rbuf) {
			setsockopt(fd, SOL_UDP, UDP_GRO, &v, sizeof(v));
			return -ENOMEM;
		}
		u->gro = true;
		for (int i = 0; i < DP_GRO_MSGS; i++) {
			u->riov[i].iov_base = u->rbuf + (size_t)i * DP_GRO_LEN;
			u->riov[i].iov_len = DP_GRO_LEN;
			u->rmsgs[i].msg_hdr.msg_iov = &u->riov[i];
			u->rmsgs[i].msg_hdr.msg_iovlen = 1;
			u->rmsgs[i].msg_hdr.msg_name = &u->raddr[i];
		}
	}
	{
		static int said = -1; /* start-up only (one thread): each socket of a worker set gets the same */
		int now = u->gso * 2 + u->gro;
		if (said != now)
			log_info("udp offloads: segmentation (GSO) %s%s%s, receive coalescing (GRO) %s%s%s",
				 u->gso ? "on" : "off (", u->gso ? "" : strerror(gso_err), u->gso ? "" : ")",
				 u->gro ? "on" : "off (", u->gro ? "" : strerror(gro_err), u->gro ? "" : ")");
		said = now;
	}
	return 0;
}

void dp_udp_free(struct dp_udp *u)
{
	free(u->rbuf);
	u->rbuf = NULL;
}

/* Plain sendmmsg of msgs[0..n): what the kernel does not take is a queue_out drop. */
static void send_plain(int fd, struct mmsghdr *msgs, unsigned n, struct dp_stats *st)
{
	unsigned done = 0;

	while (done < n) {
		int r = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				/* the socket buffer is full: the rest would meet the same, one failed call each */
				SL_ADD(st->drops[SL_DROP_QUEUE_OUT], n - done);
				return;
			}
			/* an error for this datagram alone (an ICMP error for its endpoint): skip it */
			SL_ADD(st->drops[SL_DROP_QUEUE_OUT], 1);
			done++;
			continue;
		}
		for (int i = 0; i < r; i++) {
			SL_ADD(st->udp_tx_datagrams, 1);
			SL_ADD(st->udp_tx_bytes, msgs[done + i].msg_len);
		}
		done += (unsigned)r;
	}
}

static bool same_dest(const struct dp_batch *b, unsigned i, unsigned j)
{
	return b->msgs[i].msg_hdr.msg_namelen == b->msgs[j].msg_hdr.msg_namelen &&
	       !memcmp(&b->addr[i], &b->addr[j], b->msgs[i].msg_hdr.msg_namelen);
}

void dp_udp_send(struct dp_udp *u, struct dp_batch *b, unsigned n, struct dp_stats *st)
{
	unsigned k = 0, done = 0;
	unsigned first[DP_BATCH], count[DP_BATCH];

	if (!u->gso || n < 2) {
		send_plain(u->fd, b->msgs, n, st);
		return;
	}
	/* groups: one endpoint, one segment size; only a group's last datagram may be shorter */
	for (unsigned i = 0; i < n;) {
		size_t seg = b->iov[i].iov_len, total = seg;
		unsigned j = i + 1;
		struct msghdr *m = &u->gmsgs[k].msg_hdr;

		while (j < n && j - i < DP_GSO_MAX_SEGS && b->iov[j - 1].iov_len == seg && b->iov[j].iov_len <= seg &&
		       total + b->iov[j].iov_len <= DP_GSO_MAX_BYTES && same_dest(b, i, j))
			total += b->iov[j++].iov_len;
		memset(m, 0, sizeof(*m));
		m->msg_name = &b->addr[i];
		m->msg_namelen = b->msgs[i].msg_hdr.msg_namelen;
		m->msg_iov = &b->iov[i];
		m->msg_iovlen = j - i;
		if (j - i > 1) {
			struct cmsghdr *cm;
			m->msg_control = u->gctl[k].buf;
			m->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			cm = CMSG_FIRSTHDR(m);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)(void *)CMSG_DATA(cm) = (uint16_t)seg;
		}
		first[k] = i;
		count[k++] = j - i;
		i = j;
	}
	while (done < k) {
		int r = sendmmsg(u->fd, u->gmsgs + done, k - done, MSG_DONTWAIT);
		if (r > 0) {
			for (int g = 0; g < r; g++) {
				SL_ADD(st->udp_tx_datagrams, count[done + g]);
				SL_ADD(st->udp_tx_bytes, u->gmsgs[done + g].msg_len);
			}
			done += (unsigned)r;
			continue;
		}
		int err = r < 0 ? errno : 0; /* kept: the log line below may change errno */
		if (err == EINTR)
			continue;
		if (err == EIO && count[done] > 1) {
			/* the route cannot segment (no checksum offload): never again, and this group one by one */
			u->gso = false;
			log_warn("udp offloads: the kernel refused a segmented send (EIO): segmentation off");
		}
		if ((err == EIO || err == EINVAL || err == EMSGSIZE) && count[done] > 1) {
			send_plain(u->fd, b->msgs + first[done], count[done], st);
		} else if (err == EAGAIN || err == EWOULDBLOCK) {
			/* the socket buffer is full: the rest of the batch would meet the same */
			for (; done < k; done++)
				SL_ADD(st->drops[SL_DROP_QUEUE_OUT], count[done]);
			return;
		} else {
			SL_ADD(st->drops[SL_DROP_QUEUE_OUT], count[done]);
		}
		done++;
	}
}

int dp_udp_recv(struct dp_udp *u, struct dp_batch *b, dp_rx_fn fn, void *arg)
{
	int n;

	if (!u->gro) {
		for (int i = 0; i < DP_BATCH; i++) {
			b->iov[i].iov_len = DP_SLOT_LEN;
			b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addr[i]);
		}
		n = recvmmsg(u->fd, b->msgs, DP_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			bool trunc = b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC; /* larger than any datagram we build */
			fn(arg, b->buf[i], trunc ? 0 : b->msgs[i].msg_len, &b->addr[i], b->msgs[i].msg_hdr.msg_namelen);
		}
		return n > 0 ? n : 0;
	}
	for (int i = 0; i < DP_GRO_MSGS; i++) {
		struct msghdr *m = &u->rmsgs[i].msg_hdr;
		m->msg_namelen = sizeof(u->raddr[i]);
		m->msg_control = u->rctl[i].buf;
		m->msg_controllen = sizeof(u->rctl[i].buf);
		m->msg_flags = 0;
	}
	n = recvmmsg(u->fd, u->rmsgs, DP_GRO_MSGS, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &u->rmsgs[i].msg_hdr;
		uint8_t *p = u->riov[i].iov_base;
		size_t len = u->rmsgs[i].msg_len, seg = len;

		for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm))
			if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
				int s;
				memcpy(&s, CMSG_DATA(cm), sizeof(s));
				if (s > 0)
					seg = (size_t)s;
			}
		if (m->msg_flags & MSG_TRUNC) {
			fn(arg, p, 0, &u->raddr[i], m->msg_namelen);
			continue;
		}
		for (size_t off = 0; off < len; off += seg)
			fn(arg, p + off, len - off < seg ? len - off : seg, &u->raddr[i], m->msg_namelen);
	}
	return n > 0 ? n : 0;
}

int dp_udp_drain(struct dp_udp *u, struct dp_batch *b, dp_rx_fn fn, void *arg, unsigned rounds)
{
	const int full = u->gro ? DP_GRO_MSGS : DP_BATCH;
	int got = 0;

	for (unsigned r = 0; r < rounds; r++) {
		int n = dp_udp_recv(u, b, fn, arg);
		got += n;
		if (n < full)
			break;
	}
	return got;
}
