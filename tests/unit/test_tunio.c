/* test_tunio: cutting a TSO super-packet (IPv4 and IPv6) into segments, coalescing received segments into GSO
 * writes and completing partial checksums, checked against a plain 16-bit RFC 1071 sum written here (not the
 * code under test): lengths, IP ids, sequence numbers, flags, both checksums (the IPv6 pseudo header too), and
 * every payload byte in its place; malformed IPv6 super-packets dropped cleanly. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_net.h>
#include <string.h>
#include "daemon/dataplane/tunio.h"
#include "tests/unit/check.h"
#include "tests/unit/refsum.h"


static uint32_t get_seq(const uint8_t *ip)
{
	return (uint32_t)ip[24] << 24 | (uint32_t)ip[25] << 16 | (uint32_t)ip[26] << 8 | ip[27];
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t pseudo(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	return (uint32_t)ref_sum(ip + 12, 8, 0) + proto + (uint32_t)l4len;
}

#define PAYLOAD 5000
#define MSS 1448

static void test_segment(void)
{
	static uint8_t sp[20 + 32 + PAYLOAD], seg[2048];
	size_t total = sizeof(sp), got = 0;

	memset(sp, 0, 52);
	sp[0] = 0x45;
	sp[2] = (uint8_t)(total >> 8);
	sp[3] = (uint8_t)total;
	sp[4] = 0x12; /* id 0x1234 */
	sp[5] = 0x34;
	sp[6] = 0x40; /* DF */
	sp[8] = 64;
	sp[9] = 6;
	memcpy(sp + 12, "\x0a\x42\x00\x02\x0a\x42\x00\x01", 8);
	sp[20] = 0x9c; /* ports */
	sp[22] = 0x14;
	sp[24] = 0xff; /* seq 0xfffff000: wraps inside the packet */
	sp[25] = 0xff;
	sp[26] = 0xf0;
	sp[32] = 0x80; /* data offset 8 words: 32-byte header with options */
	sp[33] = 0x80 | 0x10 | 0x08 | 0x01; /* CWR ACK PSH FIN */
	for (int i = 52; i < 52 + 12; i++)
		sp[i - 12] = (uint8_t)i; /* option bytes */
	for (size_t i = 0; i < PAYLOAD; i++)
		sp[52 + i] = (uint8_t)(i * 7 + 3);

	for (unsigned k = 0; k < 4; k++) {
		ssize_t n = dp_tso_segment(sp, total, MSS, k, seg, sizeof(seg));
		size_t plen = k < 3 ? MSS : PAYLOAD - 3 * MSS;
		uint32_t seq;

		CHECK_EQ_INT(n, 52 + plen);
		if (n < 0)
			return;
		CHECK_EQ_INT(g16(seg + 2), n);
		CHECK_EQ_INT(g16(seg + 4), 0x1234 + k);
		CHECK_EQ_INT(ref_sum(seg, 20, 0), 0xffff); /* IP header checksum verifies */
		seq = (uint32_t)seg[24] << 24 | (uint32_t)seg[25] << 16 | (uint32_t)seg[26] << 8 | seg[27];
		CHECK_EQ_INT(seq, (uint32_t)(0xfffff000u + k * MSS));
		CHECK_EQ_INT(seg[33] & 0x01, k == 3 ? 0x01 : 0); /* FIN last */
		CHECK_EQ_INT(seg[33] & 0x08, k == 3 ? 0x08 : 0); /* PSH last */
		CHECK_EQ_INT(seg[33] & 0x80, k == 0 ? 0x80 : 0); /* CWR first */
		CHECK_EQ_INT(seg[33] & 0x10, 0x10);
		CHECK(!memcmp(seg + 40, sp + 40, 12)); /* options copied */
		CHECK_EQ_INT(ref_sum(seg + 20, (size_t)n - 20, pseudo(seg, 6, (size_t)n - 20)), 0xffff);
		CHECK(!memcmp(seg + 52, sp + 52 + k * MSS, plen));
		got += (size_t)n - 52; /* what the segment carries, not what we expect */
	}
	CHECK_EQ_INT(got, PAYLOAD);
	CHECK(dp_tso_segment(sp, total, MSS, 4, seg, sizeof(seg)) < 0); /* no fifth segment */
	CHECK(dp_tso_segment(sp, total, MSS, 0, seg, 100) < 0);         /* no room */
	sp[9] = 17;
	CHECK(dp_tso_segment(sp, total, MSS, 0, seg, sizeof(seg)) < 0); /* not TCP */
	sp[9] = 6;
	sp[0] = 0x65;
	CHECK(dp_tso_segment(sp, total, MSS, 0, seg, sizeof(seg)) < 0); /* not IPv4 */
}

static void test_csum_complete(void)
{
	uint8_t p[20 + 8 + 33];
	uint32_t ps;

	memset(p, 0, sizeof(p));
	p[0] = 0x45;
	p[3] = sizeof(p);
	p[9] = 17;
	memcpy(p + 12, "\xc6\x12\x00\x02\xc6\x13\x00\x02", 8);
	p[20] = 0x30; /* ports 12345 -> 53 */
	p[21] = 0x39;
	p[23] = 53;
	p[25] = 8 + 33;
	for (int i = 0; i < 33; i++)
		p[28 + i] = (uint8_t)(0xa5 ^ i);
	/* what the kernel leaves with NEEDS_CSUM: the pseudo-header sum, folded, not inverted */
	ps = pseudo(p, 17, 8 + 33);
	ps = (ps & 0xffff) + (ps >> 16);
	p[26] = (uint8_t)(ps >> 8);
	p[27] = (uint8_t)ps;
	CHECK(dp_csum_complete(p, sizeof(p), 20, 6) == 0);
	CHECK_EQ_INT(ref_sum(p + 20, 8 + 33, pseudo(p, 17, 8 + 33)), 0xffff);
	CHECK(dp_csum_complete(p, sizeof(p), 20, 40) < 0); /* field past the end */
	CHECK(dp_csum_complete(p, sizeof(p), 70, 6) < 0);
	/* the fast sum agrees with the reference on odd lengths and offsets */
	for (size_t n = 0; n < sizeof(p) - 1; n++)
		CHECK_EQ_INT(dp_csum_fold(dp_csum_add(0, p + 1, n)), ref_sum(p + 1, n, 0));
}

/* A TCPv4 super-packet of 52 header bytes (timestamps option) and PAYLOAD bytes, DF, ACK PSH, seq 1. */
static void tcp_packet(uint8_t sp[52 + PAYLOAD])
{
	memset(sp, 0, 52);
	sp[0] = 0x45;
	sp[2] = (uint8_t)((52 + PAYLOAD) >> 8);
	sp[3] = (uint8_t)(52 + PAYLOAD);
	sp[6] = 0x40;
	sp[8] = 64;
	sp[9] = 6;
	memcpy(sp + 12, "\x0a\x42\x00\x02\x0a\x42\x00\x01", 8);
	sp[21] = 80;
	sp[23] = 99;
	sp[27] = 1;      /* seq 1 */
	sp[32] = 0x80;   /* 32-byte TCP header: timestamps */
	sp[33] = 0x18;   /* ACK PSH */
	sp[34] = 0x01;   /* window */
	memcpy(sp + 40, "\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02", 12);
	for (size_t i = 0; i < PAYLOAD; i++)
		sp[52 + i] = (uint8_t)(i * 13 + 1);
}

/* A stand-in for the TUN fd: a datagram socket pair (one read, one packet), sv[0] in t->fd, sv[1] the test's
 * end; `next`: non-blocking (an empty one is EAGAIN) with the buffer dp_tun_next cuts in (t->sp), else the
 * buffer dp_tun_put joins in (t->cb). false, with nothing left open, when it cannot be made. */
static void stand_in_close(struct dp_tun *t, const int sv[2])
{
	free(t->sp);
	free(t->cb);
	t->sp = t->cb = NULL;
	close(sv[0]);
	close(sv[1]);
}

static bool stand_in(struct dp_tun *t, int sv[2], bool next)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) {
		CHECK(!"socketpair");
		return false;
	}
	if (next ? fcntl(sv[0], F_SETFL, O_NONBLOCK) || !(t->sp = malloc(DP_TUN_SUPER))
		 : !(t->cb = malloc(DP_VNET_HDR_LEN + 65535))) {
		CHECK(!"stand-in set-up");
		stand_in_close(t, sv);
		return false;
	}
	t->fd = sv[0];
	return true;
}

/* Segments of one super-packet fed back through dp_tun_put come out as ONE GSO write that carries the
 * original headers and payload; a packet of another kind in between splits the train and keeps the order. */
static void test_coalesce(void)
{
	static uint8_t sp[52 + PAYLOAD], segs[4][16 + 2048], msg[DP_VNET_HDR_LEN + 70000];
	struct virtio_net_hdr vh;
	struct dp_tun t = {.vnet = true, .tso = true};
	ssize_t len[4], m;
	int sv[2];

	if (!stand_in(&t, sv, false))
		return;
	tcp_packet(sp);
	for (unsigned k = 0; k < 4; k++)
		len[k] = dp_tso_segment(sp, sizeof(sp), MSS, k, segs[k] + 16, 2048);

	for (unsigned k = 0; k < 4; k++)
		CHECK_EQ_INT(dp_tun_put(&t, segs[k] + 16, (size_t)len[k]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	m = recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT);
	CHECK_EQ_INT(m, DP_VNET_HDR_LEN + (ssize_t)sizeof(sp));
	CHECK(recv(sv[1], msg + 1000, 10, MSG_DONTWAIT) < 0); /* one write only */
	memcpy(&vh, msg, sizeof(vh));
	CHECK_EQ_INT(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK_EQ_INT(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ_INT(vh.gso_size, MSS);
	CHECK_EQ_INT(vh.hdr_len, 52);
	CHECK_EQ_INT(vh.csum_start, 20);
	CHECK_EQ_INT(vh.csum_offset, 16);
	uint8_t *q = msg + DP_VNET_HDR_LEN;
	CHECK_EQ_INT(g16(q + 2), sizeof(sp));
	CHECK_EQ_INT(ref_sum(q, 20, 0), 0xffff);
	CHECK_EQ_INT(q[27], 1);                                                     /* first sequence number */
	CHECK_EQ_INT(q[33], 0x18);                                                  /* PSH from the last */
	CHECK_EQ_INT(g16(q + 36), ref_sum(q + 12, 8, 6u + sizeof(sp) - 20));       /* pseudo-header sum */
	CHECK(!memcmp(q + 40, sp + 40, 12));
	CHECK(!memcmp(q + 52, sp + 52, PAYLOAD));

	/* a UDP packet between segments 1 and 2: train(0,1), the UDP packet, train(2,3), in that order */
	uint8_t udp[16 + 28] = {0};
	uint8_t *u = udp + 16;
	u[0] = 0x45;
	u[3] = 28;
	u[9] = 17;
	for (unsigned k = 0; k < 4; k++) {
		CHECK_EQ_INT(dp_tun_put(&t, segs[k] + 16, (size_t)len[k]), 0);
		if (k == 1)
			CHECK_EQ_INT(dp_tun_put(&t, u, 28), 0);
	}
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	m = recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT);
	CHECK_EQ_INT(m, DP_VNET_HDR_LEN + 52 + 2 * MSS);
	m = recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT);
	CHECK_EQ_INT(m, DP_VNET_HDR_LEN + 28);
	CHECK_EQ_INT(msg[DP_VNET_HDR_LEN + 9], 17);
	m = recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT);
	CHECK_EQ_INT(m, DP_VNET_HDR_LEN + 52 + (PAYLOAD - 2 * MSS));
	CHECK_EQ_INT(get_seq(msg + DP_VNET_HDR_LEN), 1 + 2 * MSS);
	/* out of order: segment 2 before 1 never joins */
	CHECK_EQ_INT(dp_tun_put(&t, segs[0] + 16, (size_t)len[0]), 0);
	CHECK_EQ_INT(dp_tun_put(&t, segs[2] + 16, (size_t)len[2]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + 52 + MSS);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + 52 + MSS);
	stand_in_close(&t, sv);
}

/* dp_tun_next on a stand-in for the TUN fd (a datagram socket: one read, one packet): a super-packet with its
 * virtio header comes out as the same segments dp_tso_segment cuts, though it is read across the caller's
 * slot and the segmentation buffer; then EAGAIN; a plain packet gets its partial checksum completed; an
 * offload we did not ask for is a bad packet; a read error is reported as one (-3), not as "empty". */
static void test_next(void)
{
	static uint8_t sp[52 + PAYLOAD], msg[DP_VNET_HDR_LEN + sizeof(sp)], dst[1600], ref[2048];
	struct virtio_net_hdr vh = {0};
	struct dp_tun t = {.vnet = true, .tso = true};
	int sv[2];
	ssize_t n;
	unsigned k = 0;

	if (!stand_in(&t, sv, true))
		return;
	tcp_packet(sp);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_size = MSS;
	vh.hdr_len = 52;
	vh.csum_start = 20;
	vh.csum_offset = 16;
	memcpy(msg, &vh, sizeof(vh));
	memcpy(msg + DP_VNET_HDR_LEN, sp, sizeof(sp));
	CHECK(send(sv[1], msg, sizeof(msg), 0) == (ssize_t)sizeof(msg));
	while ((n = dp_tun_next(&t, dst, sizeof(dst))) > 0) {
		ssize_t r = dp_tso_segment(sp, sizeof(sp), MSS, k, ref, sizeof(ref));
		CHECK_EQ_INT(n, r);
		CHECK(r > 0 && !memcmp(dst, ref, (size_t)r));
		k++;
	}
	CHECK_EQ_INT(k, 4);
	CHECK_EQ_INT(n, -1); /* nothing more: EAGAIN */

	/* a plain UDP packet whose checksum the kernel left to us */
	uint8_t *p = msg + DP_VNET_HDR_LEN;
	memset(msg, 0, 100);
	vh = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 6};
	memcpy(msg, &vh, sizeof(vh));
	p[0] = 0x45;
	p[3] = 40;
	p[9] = 17;
	memcpy(p + 12, "\xc6\x12\x00\x02\xc6\x13\x00\x02", 8);
	p[21] = 7;
	p[23] = 9;
	p[25] = 20;
	memset(p + 28, 0x5a, 12);
	uint32_t ps = pseudo(p, 17, 20);
	ps = (ps & 0xffff) + (ps >> 16);
	p[26] = (uint8_t)(ps >> 8);
	p[27] = (uint8_t)ps;
	CHECK(send(sv[1], msg, DP_VNET_HDR_LEN + 40, 0) == DP_VNET_HDR_LEN + 40);
	CHECK_EQ_INT(dp_tun_next(&t, dst, sizeof(dst)), 40);
	CHECK_EQ_INT(ref_sum(dst + 20, 20, pseudo(dst, 17, 20)), 0xffff);

	vh = (struct virtio_net_hdr){.gso_type = VIRTIO_NET_HDR_GSO_UDP, .gso_size = 100};
	memcpy(msg, &vh, sizeof(vh));
	CHECK(send(sv[1], msg, DP_VNET_HDR_LEN + 40, 0) == DP_VNET_HDR_LEN + 40);
	CHECK_EQ_INT(dp_tun_next(&t, dst, sizeof(dst)), -2); /* not asked for: dropped as bad */

	t.fd = -1; /* the link gone: the read fails (EBADF here, EBADFD from a detached TUN) */
	CHECK_EQ_INT(dp_tun_next(&t, dst, sizeof(dst)), -3);
	stand_in_close(&t, sv);
}

/* The wide checksum (64-bit loads, two accumulators, native byte order, one byte swap) against the plain
 * 16-bit reference: every length up to 1,600 bytes at every buffer alignment 0..7 and with start sums that
 * need 0, 1 and several folds; random bytes (a fixed seed), then the carry-heavy extremes (all 0xff, all
 * zero, alternating) up to the 65,535 bytes of the largest packet. */
static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

#define N_STARTS 6
static const uint32_t starts[N_STARTS] = {0, 1, 0xfffe, 0xffff, 0x1fffe, 0xabcd12};

/* Does dp_csum_add agree with the reference for buf[0..n) from every start sum? Prints the first
 * miss. */
static bool sum_agrees(const uint8_t *buf, size_t n, const char *what)
{
	for (size_t k = 0; k < N_STARTS; k++) {
		uint32_t got = dp_csum_add(starts[k], buf, n), want = ref_sum(buf, n, starts[k]);
		if (got != want) {
			fprintf(stderr, "  csum %s, length %zu, start %#x: %#x, want %#x\n", what,
				n, (unsigned)starts[k], (unsigned)got, (unsigned)want);
			return false;
		}
	}
	return true;
}

static void test_csum_wide(void)
{
	static const size_t big[] = {1, 2, 3, 7, 8, 9, 31, 32, 33, 1500, 65534, 65535};
	static uint8_t buf[65535 + 8], src[1700], dst[1700 + 8];
	unsigned long bad = 0, copy_bad = 0;
	uint32_t rnd = 0x5eed1234;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)xorshift(&rnd);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 1600; n++)
			bad += !sum_agrees(buf + off, n, "random bytes");
	for (int pat = 0; pat < 3; pat++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pat == 0 ? 0xff : pat == 1 ? 0 : (i & 1) ? 0xff : 0x00;
		for (size_t off = 0; off < 2; off++)
			for (size_t j = 0; j < sizeof(big) / sizeof(big[0]); j++)
				bad += !sum_agrees(buf + off, big[j], "pattern");
	}
	CHECK_EQ_INT(bad, 0);

	/* the fused copy: the same sum, and every byte in its place (none outside), for every
	 * length up to 1,600 and every alignment */
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)xorshift(&rnd);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 1600; n++) {
			uint32_t start = starts[n % N_STARTS];
			memset(dst, 0x5a, sizeof(dst));
			if (dp_csum_copy(dst + off, src + off, n, start) !=
				ref_sum(src + off, n, start) ||
			    memcmp(dst + off, src + off, n) || dst[off + n] != 0x5a ||
			    (off && dst[off - 1] != 0x5a))
				copy_bad++;
		}
	CHECK_EQ_INT(copy_bad, 0);
	CHECK_EQ_INT(dp_csum_add(0, buf, 0), 0);
}

/* ---- IPv6 ---- */

static uint32_t pseudo6(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	return (uint32_t)ref_sum(ip + 8, 32, 0) + proto + (uint32_t)l4len;
}

#define H6 (40 + 32) /* IPv6 and a TCP header with timestamps */

/* A TCPv6 super-packet of H6 header bytes and PAYLOAD bytes: traffic class 0xb8, flow label 0x12345, hop
 * limit 64, seq 0xfffff000 (wraps inside the packet), CWR ACK PSH FIN, the given last byte of the source. */
static void tcp6_packet(uint8_t sp[H6 + PAYLOAD], uint8_t src_last)
{
	memset(sp, 0, H6);
	sp[0] = 0x6b; /* version 6, traffic class 0xb8 */
	sp[1] = 0x81;
	sp[2] = 0x23;
	sp[3] = 0x45;
	sp[4] = (uint8_t)((32 + PAYLOAD) >> 8);
	sp[5] = (uint8_t)(32 + PAYLOAD);
	sp[6] = 6;
	sp[7] = 64;
	memcpy(sp + 8, "\xfd\x66\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
	sp[23] = src_last;
	memcpy(sp + 24, "\xfd\x00\0\x19\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
	sp[40] = 0x9c; /* ports 40000 -> 5201 */
	sp[41] = 0x40;
	sp[42] = 0x14;
	sp[43] = 0x51;
	memcpy(sp + 44, "\xff\xff\xf0\x00", 4);
	memcpy(sp + 48, "\x00\x00\x10\x01", 4); /* ack */
	sp[52] = 0x80;                          /* 32-byte TCP header */
	sp[53] = 0x80 | 0x10 | 0x08 | 0x01;     /* CWR ACK PSH FIN */
	sp[54] = 0x02;                          /* window */
	memcpy(sp + 60, "\x01\x01\x08\x0a\x00\x00\x00\x07\x00\x00\x00\x09", 12);
	for (size_t i = 0; i < PAYLOAD; i++)
		sp[H6 + i] = (uint8_t)(i * 11 + 5);
}

static uint32_t seq6(const uint8_t *ip)
{
	return (uint32_t)ip[44] << 24 | (uint32_t)ip[45] << 16 | (uint32_t)ip[46] << 8 | ip[47];
}

/* Each segment of a TCPv6 super-packet: the fixed header kept but for the payload length, the sequence
 * number advanced, FIN/PSH on the last and CWR on the first only, the options copied, the TCP checksum right
 * over the IPv6 pseudo header (RFC 8200 8.1), every payload byte in its place; malformed ones refused. */
static void test_segment6(void)
{
	static uint8_t sp[H6 + PAYLOAD], seg[2048];
	size_t got = 0;

	tcp6_packet(sp, 2);
	for (unsigned k = 0; k < 4; k++) {
		ssize_t n = dp_tso_segment(sp, sizeof(sp), MSS, k, seg, sizeof(seg));
		size_t plen = k < 3 ? MSS : PAYLOAD - 3 * MSS;

		CHECK_EQ_INT(n, H6 + plen);
		if (n < 0)
			return;
		CHECK_EQ_INT(g16(seg + 4), (size_t)n - 40);  /* payload length */
		CHECK(!memcmp(seg, sp, 4));                   /* version, traffic class, flow label */
		CHECK(!memcmp(seg + 6, sp + 6, 34));          /* next header, hop limit, addresses */
		CHECK(!memcmp(seg + 40, sp + 40, 4));         /* ports */
		CHECK_EQ_INT(seq6(seg), (uint32_t)(0xfffff000u + k * MSS));
		CHECK(!memcmp(seg + 48, sp + 48, 5));         /* ack, data offset */
		CHECK_EQ_INT(seg[53] & 0x01, k == 3 ? 0x01 : 0); /* FIN last */
		CHECK_EQ_INT(seg[53] & 0x08, k == 3 ? 0x08 : 0); /* PSH last */
		CHECK_EQ_INT(seg[53] & 0x80, k == 0 ? 0x80 : 0); /* CWR first */
		CHECK_EQ_INT(seg[53] & 0x10, 0x10);
		CHECK(!memcmp(seg + 54, sp + 54, 2));         /* window */
		CHECK(!memcmp(seg + 60, sp + 60, 12));        /* options */
		CHECK_EQ_INT(ref_sum(seg + 40, (size_t)n - 40, pseudo6(seg, 6, (size_t)n - 40)), 0xffff);
		CHECK(!memcmp(seg + H6, sp + H6 + k * MSS, plen));
		got += (size_t)n - H6;
	}
	CHECK_EQ_INT(got, PAYLOAD);
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 4, seg, sizeof(seg)) < 0); /* no fifth segment */
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 0, seg, 100) < 0);         /* no room */
	CHECK(dp_tso_segment(sp, sizeof(sp), 0, 0, seg, sizeof(seg)) < 0);   /* no MSS */
	CHECK(dp_tso_segment(sp, 59, MSS, 0, seg, sizeof(seg)) < 0);         /* shorter than both headers */
	sp[6] = 0; /* a hop-by-hop options header before TCP: not cut */
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 0, seg, sizeof(seg)) < 0);
	sp[6] = 17;
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 0, seg, sizeof(seg)) < 0); /* not TCP */
	sp[6] = 6;
	sp[5]++; /* payload length does not match what was read */
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 0, seg, sizeof(seg)) < 0);
	sp[5]--;
	sp[52] = 0x40; /* TCP data offset below 20 bytes */
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 0, seg, sizeof(seg)) < 0);
	sp[52] = 0xf0; /* 60-byte TCP header: still inside the packet, cut */
	CHECK(dp_tso_segment(sp, sizeof(sp), MSS, 0, seg, sizeof(seg)) == 40 + 60 + MSS);
}

/* dp_tun_next with GSO_TCPV6 on a stand-in fd: the segments dp_tso_segment cuts; without TSO6 granted, an
 * extension header, a mismatched family, or headers without payload: a clean -2, and the next read is fine. */
static void test_next6(void)
{
	static uint8_t sp[H6 + PAYLOAD], msg[DP_VNET_HDR_LEN + sizeof(sp)], dst[1600], ref[2048];
	struct virtio_net_hdr vh = {0};
	struct dp_tun t = {.vnet = true, .tso = true, .tso6 = true};
	int sv[2];
	ssize_t n;
	unsigned k = 0;

	if (!stand_in(&t, sv, true))
		return;
	tcp6_packet(sp, 2);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_size = MSS;
	vh.hdr_len = H6;
	vh.csum_start = 40;
	vh.csum_offset = 16;
	memcpy(msg, &vh, sizeof(vh));
	memcpy(msg + DP_VNET_HDR_LEN, sp, sizeof(sp));
	CHECK(send(sv[1], msg, sizeof(msg), 0) == (ssize_t)sizeof(msg));
	while ((n = dp_tun_next(&t, dst, sizeof(dst))) > 0) {
		ssize_t r = dp_tso_segment(sp, sizeof(sp), MSS, k, ref, sizeof(ref));
		CHECK_EQ_INT(n, r);
		CHECK(r > 0 && !memcmp(dst, ref, (size_t)r));
		k++;
	}
	CHECK_EQ_INT(k, 4);
	CHECK_EQ_INT(n, -1);

	/* each malformed one is dropped whole (-2) and leaves nothing pending: the plain packet after it
	 * comes out next */
	static const char *const what[] = {"TSO6 not granted", "extension header", "GSO_TCPV4 on IPv6",
					   "headers only", "short payload length", "IPv4 as GSO_TCPV6"};
	for (unsigned c = 0; c < sizeof(what) / sizeof(what[0]); c++) {
		size_t len = sizeof(sp);
		tcp6_packet(sp, 2);
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
		t.tso6 = c != 0;
		if (c == 1)
			sp[6] = 0;
		if (c == 2)
			vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		if (c == 3) {
			len = H6;
			sp[4] = 0;
			sp[5] = 32;
		}
		if (c == 4)
			sp[4] = 0;
		if (c == 5)
			tcp_packet(sp);
		memcpy(msg, &vh, sizeof(vh));
		memcpy(msg + DP_VNET_HDR_LEN, sp, len);
		CHECK(send(sv[1], msg, DP_VNET_HDR_LEN + len, 0) == (ssize_t)(DP_VNET_HDR_LEN + len));
		memset(msg, 0, DP_VNET_HDR_LEN);
		memcpy(msg + DP_VNET_HDR_LEN, "\x60\0\0\0\0\0\x3b\x40", 8); /* IPv6, no next header */
		memset(msg + DP_VNET_HDR_LEN + 8, 1, 32);
		CHECK(send(sv[1], msg, DP_VNET_HDR_LEN + 40, 0) == DP_VNET_HDR_LEN + 40);
		n = dp_tun_next(&t, dst, sizeof(dst));
		if (n != -2)
			fprintf(stderr, "  %s: %zd, want -2\n", what[c], n);
		CHECK_EQ_INT(n, -2);
		CHECK_EQ_INT(dp_tun_next(&t, dst, sizeof(dst)), 40);
		CHECK_EQ_INT(dp_tun_next(&t, dst, sizeof(dst)), -1);
	}
	stand_in_close(&t, sv);
}

/* Segments of a TCPv6 super-packet through dp_tun_put: one GSO_TCPV6 write with the original headers and
 * payload and the partial checksum over the IPv6 pseudo header; a gap, another flow (source, flow label) and
 * a PSH each end a train; order kept; without TSO6 nothing is joined. */
static void test_coalesce6(void)
{
	static uint8_t sp[H6 + PAYLOAD], other[H6 + PAYLOAD], segs[4][16 + 2048], oseg[16 + 2048],
		msg[DP_VNET_HDR_LEN + 70000];
	struct virtio_net_hdr vh;
	struct dp_tun t = {.vnet = true, .tso = true, .tso6 = true};
	ssize_t len[4], olen, m;
	int sv[2];
	uint8_t *q = msg + DP_VNET_HDR_LEN;

	if (!stand_in(&t, sv, false))
		return;
	tcp6_packet(sp, 2);
	sp[53] = 0x18; /* ACK PSH: coalescable (the PSH ends up on the last segment only) */
	for (unsigned k = 0; k < 4; k++)
		len[k] = dp_tso_segment(sp, sizeof(sp), MSS, k, segs[k] + 16, 2048);

	/* (a) all four: one write */
	for (unsigned k = 0; k < 4; k++)
		CHECK_EQ_INT(dp_tun_put(&t, segs[k] + 16, (size_t)len[k]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	m = recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT);
	CHECK_EQ_INT(m, DP_VNET_HDR_LEN + (ssize_t)sizeof(sp));
	CHECK(recv(sv[1], msg + 1000, 10, MSG_DONTWAIT) < 0);
	memcpy(&vh, msg, sizeof(vh));
	CHECK_EQ_INT(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
	CHECK_EQ_INT(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ_INT(vh.gso_size, MSS);
	CHECK_EQ_INT(vh.hdr_len, H6);
	CHECK_EQ_INT(vh.csum_start, 40);
	CHECK_EQ_INT(vh.csum_offset, 16);
	CHECK_EQ_INT(g16(q + 4), sizeof(sp) - 40);
	CHECK(!memcmp(q, sp, 4) && !memcmp(q + 6, sp + 6, 34));
	CHECK_EQ_INT(seq6(q), 0xfffff000u);
	CHECK_EQ_INT(q[53], 0x18);
	CHECK_EQ_INT(g16(q + 56), ref_sum(q + 8, 32, 6u + sizeof(sp) - 40)); /* pseudo-header sum */
	CHECK(!memcmp(q + 60, sp + 60, 12));
	CHECK(!memcmp(q + H6, sp + H6, PAYLOAD));
	/* completing that partial sum (what the kernel does with NEEDS_CSUM) gives a valid checksum */
	CHECK(dp_csum_complete(q, sizeof(sp), 40, 16) == 0);
	CHECK_EQ_INT(ref_sum(q + 40, sizeof(sp) - 40, pseudo6(q, 6, sizeof(sp) - 40)), 0xffff);

	/* (b) a gap: 0 then 2 never join; 2 and 3 do */
	CHECK_EQ_INT(dp_tun_put(&t, segs[0] + 16, (size_t)len[0]), 0);
	CHECK_EQ_INT(dp_tun_put(&t, segs[2] + 16, (size_t)len[2]), 0);
	CHECK_EQ_INT(dp_tun_put(&t, segs[3] + 16, (size_t)len[3]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + MSS);
	CHECK_EQ_INT(msg[1], 0); /* a single segment goes as it came: no GSO */
	CHECK_EQ_INT(seq6(q), 0xfffff000u);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + (PAYLOAD - 2 * MSS));
	CHECK_EQ_INT(msg[1], VIRTIO_NET_HDR_GSO_TCPV6);
	CHECK_EQ_INT(seq6(q), 0xfffff000u + 2 * MSS);

	/* (c) another flow in between (another source address): 0 | other | 1 2 3 — order kept */
	tcp6_packet(other, 3);
	other[53] = 0x18;
	olen = dp_tso_segment(other, sizeof(other), MSS, 1, oseg + 16, 2048);
	CHECK_EQ_INT(dp_tun_put(&t, segs[0] + 16, (size_t)len[0]), 0);
	CHECK_EQ_INT(dp_tun_put(&t, oseg + 16, (size_t)olen), 0);
	for (unsigned k = 1; k < 4; k++)
		CHECK_EQ_INT(dp_tun_put(&t, segs[k] + 16, (size_t)len[k]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + MSS);
	CHECK_EQ_INT(q[23], 2);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + MSS);
	CHECK_EQ_INT(q[23], 3);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + (PAYLOAD - MSS));
	CHECK_EQ_INT(seq6(q), 0xfffff000u + MSS);

	/* the same flow but another flow label: not joined either */
	segs[1][16 + 3] ^= 1;
	CHECK_EQ_INT(dp_tun_put(&t, segs[0] + 16, (size_t)len[0]), 0);
	CHECK_EQ_INT(dp_tun_put(&t, segs[1] + 16, (size_t)len[1]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + MSS);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + MSS);
	segs[1][16 + 3] ^= 1;

	/* (d) a PSH on segment 1 ends its train: (0 1) with PSH, then (2 3) */
	segs[1][16 + 53] |= 0x08;
	for (unsigned k = 0; k < 4; k++)
		CHECK_EQ_INT(dp_tun_put(&t, segs[k] + 16, (size_t)len[k]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + 2 * MSS);
	CHECK_EQ_INT(q[53], 0x18);
	CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + H6 + (PAYLOAD - 2 * MSS));
	CHECK_EQ_INT(seq6(q), 0xfffff000u + 2 * MSS);
	segs[1][16 + 53] &= (uint8_t)~0x08;

	/* (e) without TSO6 granted, IPv6 segments are written one by one, unchanged */
	t.tso6 = false;
	for (unsigned k = 0; k < 2; k++)
		CHECK_EQ_INT(dp_tun_put(&t, segs[k] + 16, (size_t)len[k]), 0);
	CHECK_EQ_INT(dp_tun_flush(&t), 0);
	for (unsigned k = 0; k < 2; k++) {
		CHECK_EQ_INT(recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT), DP_VNET_HDR_LEN + len[k]);
		CHECK(!memcmp(q, segs[k] + 16, (size_t)len[k]));
	}
	CHECK(recv(sv[1], msg, 10, MSG_DONTWAIT) < 0);
	stand_in_close(&t, sv);
}

/* NEEDS_CSUM completion for UDP and TCP over IPv6, checked over the IPv6 pseudo header; a sum that comes out
 * 0 is written 0xffff (0 is "no checksum", invalid in IPv6), also behind an extension header. */
static void test_csum_complete6(void)
{
	uint8_t p[40 + 20 + 37];
	const size_t l4 = sizeof(p) - 40;

	for (int proto = 0; proto < 2; proto++) {
		uint8_t nh = proto ? 6 : 17;
		size_t off = proto ? 16 : 6;
		uint32_t ps;

		memset(p, 0, sizeof(p));
		p[0] = 0x60;
		p[5] = (uint8_t)l4;
		p[6] = nh;
		p[7] = 64;
		memcpy(p + 8, "\xfd\x66\0\0\0\0\0\0\0\0\0\0\0\0\0\x02\xfd\x00\0\x19\0\0\0\0\0\0\0\0\0\0\0\x02", 32);
		p[41] = 53;
		p[43] = 99;
		if (!proto)
			p[45] = (uint8_t)l4; /* UDP length */
		else
			p[52] = 0x50; /* TCP data offset */
		for (size_t i = 0; i < 37; i++)
			p[60 + i] = (uint8_t)(0x3c ^ (i * 5));
		ps = pseudo6(p, nh, l4);
		ps = (ps & 0xffff) + (ps >> 16);
		put_be16(p + 40 + off, (uint16_t)ps);
		CHECK(dp_csum_complete(p, sizeof(p), 40, off) == 0);
		CHECK_EQ_INT(ref_sum(p + 40, l4, pseudo6(p, nh, l4)), 0xffff);
		CHECK(g16(p + 40 + off) != 0);

		/* make the checksum come out 0: two payload bytes that bring the sum to 0xffff */
		p[58] = p[59] = 0;
		put_be16(p + 40 + off, (uint16_t)ps);
		put_be16(p + 58, (uint16_t)~ref_sum(p + 40, l4, 0));
		p[6] = proto ? 6 : 0; /* for UDP: behind a (pretend) hop-by-hop header, next header 0 */
		CHECK(dp_csum_complete(p, sizeof(p), 40, off) == 0);
		CHECK_EQ_INT(g16(p + 40 + off), 0xffff);
		p[6] = nh;
		CHECK_EQ_INT(ref_sum(p + 40, l4, pseudo6(p, nh, l4)), 0xffff);
	}
}

int main(void)
{
	test_next();
	test_segment();
	test_csum_complete();
	test_csum_wide();
	test_coalesce();
	test_segment6();
	test_next6();
	test_coalesce6();
	test_csum_complete6();
	return check_done("test_tunio");
}
