/* tunio: TUN I/O with TSO4/TSO6 super-packets cut into segments here. */
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include "daemon/dataplane/tunio.h"
#include "daemon/log.h"

bool dp_offload_off(void)
{
	const char *off = getenv("SLUICE_NO_OFFLOAD");
	return off && *off && strcmp(off, "0");
}

int dp_tun_open_flags(void)
{
	return dp_offload_off() ? 0 : IFF_VNET_HDR;
}

int dp_tun_init(struct dp_tun *t, int fd, bool vnet)
{
	int sz = DP_VNET_HDR_LEN, err = 0, err6 = 0;

	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->vnet = vnet;
	if (!vnet)
		return 0;
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) != 0) {
		err = errno;
	} else if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0) {
		t->tso = t->tso6 = true;
	} else {
		/* a kernel that refuses TSO6 may still take TSO4: IPv6 is then handed over as plain packets */
		err6 = errno;
		if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) == 0)
			t->tso = true;
		else
			err = errno;
	}
	if (t->tso) {
		t->sp = malloc(DP_TUN_SUPER);
		t->cb = malloc(DP_VNET_HDR_LEN + 65535);
		if (!t->sp || !t->cb) {
			free(t->sp);
			free(t->cb);
			t->sp = t->cb = NULL;
			t->tso = t->tso6 = false;
			ioctl(fd, TUNSETOFFLOAD, 0);
			return -ENOMEM;
		}
	}
	{
		static int said = -1; /* start-up only (one thread): each queue of the link gets the same */
		int now = t->tso + t->tso6;
		if (said != now) {
			if (t->tso6)
				log_info("tun offloads: TCP segmentation (TSO) on, IPv4 and IPv6");
			else if (t->tso)
				log_info("tun offloads: TCP segmentation (TSO) on, IPv4 only (TSO6 refused: %s)",
					 strerror(err6));
			else
				log_info("tun offloads: TCP segmentation (TSO) off (%s)", strerror(err));
		}
		said = now;
	}
	return 0;
}

void dp_tun_free(struct dp_tun *t)
{
	free(t->sp);
	free(t->cb);
	t->sp = t->cb = NULL;
}

/* Ones'-complement sums do not care about word size or byte order (RFC 1071 2(A), 2(B)): the buffer is added
 * in native byte order as 64-bit loads, each split into two 32-bit halves so that no carry is lost (below 2^33
 * bytes the accumulators stay under 2^63), in two accumulators for instruction-level parallelism; the tail as
 * one 32-bit, one 16-bit load and a last byte. The total is folded to 16 bits and, on a little-endian host,
 * byte-swapped into network order before `sum` is added. About 4x the former byte-wise loop on a 1,460-byte
 * segment (README, Performance); test_tunio checks it against tests/unit/refsum.h for every length up to
 * 1,600, every buffer alignment and several start sums. */
static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v)); /* one unaligned load on x86 and arm64 */
	return v;
}

static void store64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint64_t halves(uint64_t w)
{
	return (w & 0xffffffffu) + (w >> 32);
}

/* A native-order accumulator folded to 16 bits in network order, plus `sum`, folded again. */
static uint32_t fold_native(uint64_t a, uint32_t sum)
{
	a = halves(a);
	while (a >> 16)
		a = (a & 0xffff) + (a >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	a = (a >> 8 | a << 8) & 0xffff; /* the sum of byte-swapped words is the byte-swapped sum */
#endif
	a += sum;
	while (a >> 16)
		a = (a & 0xffff) + (a >> 16);
	return (uint32_t)a;
}

uint32_t dp_csum_add(uint32_t sum, const uint8_t *buf, size_t len)
{
	uint64_t a = 0, b = 0;
	size_t i = 0;

	for (; i + 32 <= len; i += 32) {
		a += halves(load64(buf + i)) + halves(load64(buf + i + 8));
		b += halves(load64(buf + i + 16)) + halves(load64(buf + i + 24));
	}
	for (; i + 8 <= len; i += 8)
		a += halves(load64(buf + i));
	if (i + 4 <= len) {
		uint32_t w;
		memcpy(&w, buf + i, sizeof(w));
		b += w;
		i += 4;
	}
	if (i + 2 <= len) {
		uint16_t w;
		memcpy(&w, buf + i, sizeof(w));
		b += w;
		i += 2;
	}
	if (i < len) /* the last byte is the high half of a big-endian word padded with zero */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		b += buf[i];
#else
		b += (uint32_t)buf[i] << 8;
#endif
	/* a + b < 2^63 for any buffer below 2^33 bytes: no carry out */
	return fold_native(a + b, sum);
}

uint32_t dp_csum_copy(uint8_t *dst, const uint8_t *src, size_t len, uint32_t sum)
{
	uint64_t a = 0, b = 0;
	size_t i = 0;

	/* the sum of dp_csum_add, over words that pass through registers on their way to dst */
	for (; i + 32 <= len; i += 32) {
		uint64_t w0 = load64(src + i), w1 = load64(src + i + 8), w2 = load64(src + i + 16),
			 w3 = load64(src + i + 24);
		store64(dst + i, w0);
		store64(dst + i + 8, w1);
		store64(dst + i + 16, w2);
		store64(dst + i + 24, w3);
		a += halves(w0) + halves(w1);
		b += halves(w2) + halves(w3);
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = load64(src + i);
		store64(dst + i, w);
		a += halves(w);
	}
	memcpy(dst + i, src + i, len - i);
	/* i is a multiple of 8: the tail's words line up with the whole buffer's */
	return fold_native(a + b, dp_csum_add(sum, dst + i, len - i));
}

uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int dp_csum_complete(uint8_t *pkt, size_t len, size_t start, size_t offset)
{
	uint16_t c;

	if (start >= len || offset + 2 > len - start)
		return -1;
	/* the field holds the pseudo-header sum: summing the whole range with it in place gives the checksum */
	c = (uint16_t)~dp_csum_fold(dp_csum_add(0, pkt + start, len - start));
	/* 0 means "no checksum" to UDP over IPv4 and is invalid in IPv6 for every transport (RFC 8200 8.1); 0xffff
	 * is the same ones'-complement value to every receiver, so IPv6 gets it whatever the next header (an
	 * extension header may stand between) */
	if (c == 0 && len > 9 && ((pkt[0] >> 4) == 6 || pkt[9] == 17))
		c = 0xffff;
	put16(pkt + start + offset, c);
	return 0;
}

/* IP + TCP header length of a super-packet of the family given, 0 when it is not one we can cut: IPv4 with
 * any options, IPv6 only with TCP right after its fixed 40-byte header (no extension headers) and a payload
 * length that matches. */
static size_t tcp_hdr_len(const uint8_t *p, size_t len, bool v6)
{
	size_t ihl, thl;

	if (v6) {
		if (len < DP_IP6_HDR_LEN + 20 || (p[0] >> 4) != 6 || p[6] != IPPROTO_TCP ||
		    get16(p + 4) != len - DP_IP6_HDR_LEN)
			return 0;
		ihl = DP_IP6_HDR_LEN;
	} else {
		if (len < 40 || (p[0] >> 4) != 4 || p[9] != IPPROTO_TCP)
			return 0;
		ihl = (size_t)(p[0] & 0xf) * 4;
		if (ihl < 20 || ihl + 20 > len)
			return 0;
	}
	thl = (size_t)(p[ihl + 12] >> 4) * 4;
	return thl >= 20 && ihl + thl <= len ? ihl + thl : 0;
}

ssize_t dp_tso_segment(const uint8_t *sp, size_t len, size_t mss, unsigned seg, uint8_t *dst, size_t room)
{
	size_t ihl, hdr, payload, off, plen, tcp_len;
	uint32_t seq, sum, psum;
	uint8_t *ip, *tcp;
	unsigned nseg;
	bool v6 = len && (sp[0] >> 4) == 6;

	hdr = tcp_hdr_len(sp, len, v6);
	if (!hdr || !mss)
		return -1;
	ihl = v6 ? DP_IP6_HDR_LEN : (size_t)(sp[0] & 0xf) * 4;
	payload = len - hdr;
	nseg = payload ? (unsigned)((payload + mss - 1) / mss) : 1;
	off = (size_t)seg * mss;
	if (seg >= nseg)
		return -1;
	plen = payload - off < mss ? payload - off : mss;
	if (hdr + plen > room)
		return -1;
	memcpy(dst, sp, hdr);
	/* the payload's share of the TCP checksum is summed while it is copied (thl is even: the sums add) */
	psum = dp_csum_copy(dst + hdr, sp + hdr + off, plen, 0);
	ip = dst;
	tcp = dst + ihl;
	tcp_len = hdr - ihl + plen;
	if (v6) {
		put16(ip + 4, (uint16_t)tcp_len); /* payload length: no IP checksum, no id */
		sum = dp_csum_add(0, ip + 8, 32); /* pseudo header: addresses, TCP length, next header */
	} else {
		put16(ip + 2, (uint16_t)(hdr + plen));
		put16(ip + 4, (uint16_t)(get16(sp + 4) + seg)); /* IP id: one per segment, as the kernel's GSO does */
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~dp_csum_fold(dp_csum_add(0, ip, ihl)));
		sum = dp_csum_add(0, ip + 12, 8); /* pseudo header: addresses, protocol, TCP length */
	}
	sum += IPPROTO_TCP + (uint32_t)tcp_len;
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	seq += (uint32_t)off;
	tcp[4] = (uint8_t)(seq >> 24);
	tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8);
	tcp[7] = (uint8_t)seq;
	if (seg + 1 < nseg)
		tcp[13] &= (uint8_t)~(0x01 | 0x08); /* FIN and PSH only on the last segment */
	if (seg > 0)
		tcp[13] &= (uint8_t)~0x80; /* CWR only on the first */
	put16(tcp + 16, 0);
	sum = dp_csum_add(sum, tcp, hdr - ihl) + psum;
	put16(tcp + 16, (uint16_t)~dp_csum_fold(sum));
	return (ssize_t)(hdr + plen);
}

/* The next segment of the pending super-packet (-2: it could not be cut; the rest is dropped). */
static ssize_t next_segment(struct dp_tun *t, uint8_t *dst, size_t room)
{
	ssize_t n = dp_tso_segment(t->sp, t->sp_len, t->mss, t->seg, dst, room);

	t->seg++;
	if (n < 0 || (size_t)t->seg * t->mss >= t->sp_len - t->hdr_len)
		t->sp_len = 0;
	return n < 0 ? -2 : n;
}

ssize_t dp_tun_next(struct dp_tun *t, uint8_t *dst, size_t room)
{
	struct virtio_net_hdr vh;
	struct iovec iov[3];
	int cnt = 2;
	ssize_t n;
	size_t len;

	if (t->sp_len)
		return next_segment(t, dst, room);
	if (!t->vnet) {
		n = read(t->fd, dst, room);
		return n >= 0 ? n : errno == EAGAIN || errno == EINTR ? -1 : -3;
	}
	iov[0] = (struct iovec){.iov_base = &vh, .iov_len = sizeof(vh)};
	iov[1] = (struct iovec){.iov_base = dst, .iov_len = room};
	if (t->tso && room < DP_TUN_SUPER) {
		/* a super-packet runs on from dst into sp, behind where its start is copied to */
		iov[2] = (struct iovec){.iov_base = t->sp + room, .iov_len = DP_TUN_SUPER - room};
		cnt = 3;
	}
	n = readv(t->fd, iov, cnt);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -1 : -3;
	if ((size_t)n < sizeof(vh))
		return -2;
	len = (size_t)n - sizeof(vh);
	switch (vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (len > room)
			return -2; /* larger than any packet the MTU allows */
		if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    dp_csum_complete(dst, len, le16toh(vh.csum_start), le16toh(vh.csum_offset)))
			return -2;
		return (ssize_t)len;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6: {
		bool v6 = (vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV6;
		if (!(v6 ? t->tso6 : t->tso) || !vh.gso_size)
			return -2;
		memcpy(t->sp, dst, len < room ? len : room);
		t->hdr_len = tcp_hdr_len(t->sp, len, v6);
		if (!t->hdr_len || t->hdr_len == len)
			return -2;
		t->sp_len = len;
		t->mss = le16toh(vh.gso_size);
		t->seg = 0;
		return next_segment(t, dst, room);
	}
	default:
		return -2; /* an offload we did not ask for */
	}
}

int dp_tun_write(struct dp_tun *t, uint8_t *pkt, size_t len)
{
	uint8_t *p = pkt;

	if (t->vnet) {
		p -= DP_VNET_HDR_LEN;
		memset(p, 0, DP_VNET_HDR_LEN); /* no offload: the packet is complete and checksummed */
		len += DP_VNET_HDR_LEN;
	}
	return write(t->fd, p, len) == (ssize_t)len ? 0 : -1;
}

/* ---- receive side: coalescing TCP segments into GSO writes ---- */

#define TCP_ACK 0x10
#define TCP_PSH 0x08

/* Header length (IP + TCP) of a TCP segment we may coalesce, else 0: IPv4 without options, not a fragment;
 * IPv6 with TCP right after the fixed header (no extension headers), only when the link has TSO6; the length
 * field matching; only ACK and maybe PSH set; some payload. */
static size_t coalescable(const struct dp_tun *t, const uint8_t *p, size_t len)
{
	size_t ihl, thl;

	if (len < 40)
		return 0;
	if (p[0] == 0x45) {
		if (p[9] != IPPROTO_TCP || get16(p + 2) != len || (get16(p + 6) & 0x3fff))
			return 0;
		ihl = 20;
	} else if ((p[0] >> 4) == 6) {
		if (!t->tso6 || len < DP_IP6_HDR_LEN + 20 || p[6] != IPPROTO_TCP ||
		    get16(p + 4) != len - DP_IP6_HDR_LEN)
			return 0;
		ihl = DP_IP6_HDR_LEN;
	} else {
		return 0;
	}
	thl = (size_t)(p[ihl + 12] >> 4) * 4;
	if (thl < 20 || ihl + thl >= len || (p[ihl + 13] & (uint8_t)~(TCP_ACK | TCP_PSH)) ||
	    !(p[ihl + 13] & TCP_ACK))
		return 0;
	return ihl + thl;
}

/* Where a coalescable packet's TCP header starts. */
static size_t tcp_at(const uint8_t *p)
{
	return (p[0] >> 4) == 6 ? DP_IP6_HDR_LEN : 20;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Does segment p (header hdr) continue the pending train? The IP fields that must agree are those the
 * kernel's GRO compares: IPv4 TOS, DF and TTL; IPv6 version, traffic class and flow label (the first word)
 * and hop limit; then the addresses, and the TCP header but for sequence number, flags and checksum. */
static bool continues(const struct dp_tun *t, const uint8_t *p, size_t len, size_t hdr)
{
	const uint8_t *q = t->cb + DP_VNET_HDR_LEN, *qt, *pt;
	size_t ihl = tcp_at(p);

	if (!t->cb_len || !t->cb_open || hdr != t->cb_hdr || q[0] != p[0] || len - hdr > t->cb_mss ||
	    t->cb_len + (len - hdr) > 65535 || t->cb_segs >= 64)
		return false;
	if (ihl == DP_IP6_HDR_LEN ? memcmp(q, p, 4) || q[7] != p[7] || memcmp(q + 8, p + 8, 32)
				  : q[1] != p[1] || (q[6] & 0x40) != (p[6] & 0x40) || q[8] != p[8] ||
					    memcmp(q + 12, p + 12, 8))
		return false;
	qt = q + ihl;
	pt = p + ihl;
	return get32(pt + 4) == t->cb_seq && !memcmp(qt, pt, 4) && /* ports */
	       !memcmp(qt + 8, pt + 8, 5) &&                        /* ack, data offset */
	       !memcmp(qt + 14, pt + 14, 2) &&                      /* window */
	       !memcmp(qt + 20, pt + 20, hdr - ihl - 20);           /* options */
}

unsigned dp_tun_flush(struct dp_tun *t)
{
	struct virtio_net_hdr vh = {0};
	uint8_t *q = t->cb + DP_VNET_HDR_LEN;
	unsigned segs = t->cb_segs;
	size_t len = t->cb_len;

	if (!len)
		return 0;
	t->cb_len = 0;
	t->cb_segs = 0;
	if (segs > 1) {
		size_t ihl = tcp_at(q);
		uint32_t sum;
		if (ihl == DP_IP6_HDR_LEN) {
			put16(q + 4, (uint16_t)(len - ihl));
			sum = dp_csum_add(0, q + 8, 32);
		} else {
			put16(q + 2, (uint16_t)len);
			put16(q + 10, 0);
			put16(q + 10, (uint16_t)~dp_csum_fold(dp_csum_add(0, q, 20)));
			sum = dp_csum_add(0, q + 12, 8);
		}
		/* partial checksum, as the kernel's own GSO packets carry: the pseudo header over the whole length */
		sum += IPPROTO_TCP + (uint32_t)(len - ihl);
		put16(q + ihl + 16, dp_csum_fold(sum));
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.gso_type = ihl == DP_IP6_HDR_LEN ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr_len = htole16((uint16_t)t->cb_hdr);
		vh.gso_size = htole16((uint16_t)t->cb_mss);
		vh.csum_start = htole16((uint16_t)ihl);
		vh.csum_offset = htole16(16);
	}
	memcpy(t->cb, &vh, sizeof(vh));
	return write(t->fd, t->cb, DP_VNET_HDR_LEN + len) == (ssize_t)(DP_VNET_HDR_LEN + len) ? 0 : segs;
}

unsigned dp_tun_put(struct dp_tun *t, uint8_t *pkt, size_t len)
{
	unsigned lost = 0;
	size_t hdr;
	uint8_t *tcp;

	if (!t->cb)
		return dp_tun_write(t, pkt, len) ? 1 : 0;
	hdr = coalescable(t, pkt, len);
	tcp = hdr ? pkt + tcp_at(pkt) : NULL; /* read only when hdr says there is one */
	if (hdr && continues(t, pkt, len, hdr)) {
		uint8_t *q = t->cb + DP_VNET_HDR_LEN;
		memcpy(q + t->cb_len, pkt + hdr, len - hdr);
		t->cb_len += len - hdr;
		t->cb_seq += (uint32_t)(len - hdr);
		t->cb_segs++;
		if (tcp[13] & TCP_PSH) {
			q[tcp - pkt + 13] |= TCP_PSH;
			t->cb_open = false;
		}
		if (len - hdr < t->cb_mss)
			t->cb_open = false;
		return 0;
	}
	lost = dp_tun_flush(t);
	if (!hdr)
		return lost + (dp_tun_write(t, pkt, len) ? 1 : 0);
	/* the first of a possible train: kept until the next packet shows whether it continues */
	memcpy(t->cb + DP_VNET_HDR_LEN, pkt, len);
	t->cb_len = len;
	t->cb_hdr = hdr;
	t->cb_mss = len - hdr;
	t->cb_segs = 1;
	t->cb_seq = get32(tcp + 4) + (uint32_t)(len - hdr);
	t->cb_open = !(tcp[13] & TCP_PSH);
	return lost;
}
