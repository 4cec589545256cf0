/* test_udpio: the data plane's UDP I/O over loopback, with and without the kernel's offloads. A batch of
 * datagrams — a run of equal sizes to one endpoint (one GSO group), a shorter one ending it, then two to a
 * second endpoint — must arrive as exactly those datagrams, in order, intact, each to its own socket; with
 * GRO on, a coalesced train is split back at the segment size. Counters add up; nothing is lost.
 * Then the fallback when the kernel refuses a segmented send: the group goes out one datagram at a time,
 * nothing is lost or counted as a drop. Last, dp_udp_drain: one call takes several full receive batches, in order,
 * stops at its number of rounds with the rest left for the next call, and makes one call on an empty socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/dataplane/udpio.h"
#include "tests/unit/check.h"

#define MAXGOT 256

struct got {
	size_t n;
	size_t len[MAXGOT];
	uint8_t first[MAXGOT], last[MAXGOT];
};

static void on_rx(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t fl)
{
	struct got *g = arg;

	if (g->n < MAXGOT && len) {
		g->len[g->n] = len;
		g->first[g->n] = buf[0];
		g->last[g->n] = buf[len - 1];
		/* every byte of a datagram carries its number: a split at the wrong place shows here */
		for (size_t i = 0; i < len; i++)
			if (buf[i] != buf[0]) {
				g->last[g->n] = 0xff;
				break;
			}
	}
	g->n++;
}

static int udp_bound(struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t l = sizeof(*a);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && (bind(fd, (struct sockaddr *)a, sizeof(*a)) || getsockname(fd, (struct sockaddr *)a, &l))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Receives into g until `want` datagrams came or 1 s passes. Returns how many messages carried them. */
static int drain(struct dp_udp *u, struct dp_batch *b, struct got *g, size_t want)
{
	int msgs = 0;

	for (int tries = 0; g->n < want && tries < 100; tries++) {
		struct pollfd p = {.fd = u->fd, .events = POLLIN};
		if (poll(&p, 1, 10) > 0)
			msgs += dp_udp_recv(u, b, on_rx, g);
	}
	return msgs;
}

static void run(bool offload)
{
	static struct dp_batch tx, rx1, rx2;
	struct dp_udp us, ur1, ur2;
	struct dp_stats st = {0};
	struct sockaddr_in a1, a2, as;
	struct got g1 = {0}, g2 = {0};
	const size_t sizes[] = {1200, 1200, 1200, 1200, 1200, 1200, 1200, 700, 1200, 1200};
	const unsigned n = sizeof(sizes) / sizeof(sizes[0]);
	int fs = udp_bound(&as), f1 = udp_bound(&a1), f2 = udp_bound(&a2);

	CHECK(fs >= 0 && f1 >= 0 && f2 >= 0);
	setenv("SLUICE_NO_OFFLOAD", offload ? "0" : "1", 1);
	CHECK(dp_udp_init(&us, fs) == 0 && dp_udp_init(&ur1, f1) == 0 && dp_udp_init(&ur2, f2) == 0);
	if (offload)
		CHECK(us.gso && ur1.gro); /* loopback has both on any kernel this runs on */
	else
		CHECK(!us.gso && !ur1.gro);
	dp_batch_init(&tx);
	dp_batch_init(&rx1);
	dp_batch_init(&rx2);
	for (unsigned i = 0; i < n; i++) {
		const struct sockaddr_in *to = i < 8 ? &a1 : &a2;
		memset(tx.buf[i], (int)(i + 1), sizes[i]);
		tx.iov[i].iov_len = sizes[i];
		memcpy(&tx.addr[i], to, sizeof(*to));
		tx.msgs[i].msg_hdr.msg_namelen = sizeof(*to);
	}
	dp_udp_send(&us, &tx, n, &st);
	CHECK_EQ_INT(st.udp_tx_datagrams, n);
	CHECK_EQ_INT(st.udp_tx_bytes, 1200 * 9 + 700);
	CHECK_EQ_INT(st.drops[SL_DROP_QUEUE_OUT], 0);
	int msgs = drain(&ur1, &rx1, &g1, 8);
	drain(&ur2, &rx2, &g2, 2);
	/* the offloads really worked: one segmented send, received as one coalesced train (not 8 messages) */
	if (offload)
		CHECK(msgs >= 1 && msgs < 8);
	else
		CHECK_EQ_INT(msgs, 8);
	CHECK_EQ_INT(g1.n, 8);
	CHECK_EQ_INT(g2.n, 2);
	for (unsigned i = 0; i < 8 && i < g1.n; i++) {
		CHECK_EQ_INT(g1.len[i], sizes[i]);
		CHECK_EQ_INT(g1.first[i], i + 1);
		CHECK_EQ_INT(g1.last[i], i + 1);
	}
	for (unsigned i = 0; i < 2 && i < g2.n; i++) {
		CHECK_EQ_INT(g2.len[i], 1200);
		CHECK_EQ_INT(g2.first[i], 9 + i);
		CHECK_EQ_INT(g2.last[i], 9 + i);
	}
	/* a datagram larger than any we build is reported truncated (length 0), and the next one is fine */
	{
		static uint8_t big[DP_SLOT_LEN + 100];
		struct got g = {0};
		memset(big, 7, sizeof(big));
		if (!offload) { /* with GRO the receive buffer is 64 KiB: nothing we send truncates */
			CHECK(sendto(fs, big, sizeof(big), 0, (struct sockaddr *)&a1, sizeof(a1)) == (ssize_t)sizeof(big));
			CHECK(sendto(fs, big, 100, 0, (struct sockaddr *)&a1, sizeof(a1)) == 100);
			drain(&ur1, &rx1, &g, 2);
			CHECK_EQ_INT(g.n, 2);
			CHECK_EQ_INT(g.len[0], 0);
			CHECK_EQ_INT(g.len[1], 100);
		}
	}
	dp_udp_free(&us);
	dp_udp_free(&ur1);
	dp_udp_free(&ur2);
	close(fs);
	close(f1);
	close(f2);
}

#define FB_N 8

/* The fallback: the kernel refuses a segmented send (here EINVAL: a socket with UDP checksums off, SO_NO_CHECK,
 * cannot segment; EIO from a route that cannot — IPsec, or a link without checksum offload on kernels before
 * 6.11 — takes the same path and also turns segmentation off). The group must go out one datagram at a time:
 * all of them arrive, in order and intact, none is counted as a drop. */
static void run_gso_fallback(void)
{
	static struct dp_batch tx, rx;
	struct dp_udp us, ur;
	struct dp_stats st = {0};
	struct sockaddr_in as, ar;
	struct got g = {0};
	int fs = udp_bound(&as), fr = udp_bound(&ar), one = 1;

	CHECK(fs >= 0 && fr >= 0);
	CHECK(setsockopt(fs, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)) == 0);
	CHECK(dp_udp_init(&us, fs) == 0 && dp_udp_init(&ur, fr) == 0);
	if (!us.gso) {
		printf("test_udpio: skipped: this kernel has no UDP segmentation to fall back from\n");
	} else {
		/* the premise: this kernel refuses a segmented send on this socket (else nothing below falls back) */
		char probe[2000] = {0}, cbuf[CMSG_SPACE(sizeof(uint16_t))] = {0};
		struct iovec iov = {probe, sizeof(probe)};
		struct msghdr m = {.msg_name = &ar, .msg_namelen = sizeof(ar), .msg_iov = &iov, .msg_iovlen = 1,
				   .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		*(uint16_t *)(void *)CMSG_DATA(cm) = 1000;
		CHECK(sendmsg(fs, &m, 0) < 0 && errno == EINVAL);
		dp_batch_init(&tx);
		dp_batch_init(&rx);
		for (int r = 0; r < 2; r++) { /* twice: the second batch meets the same refusal */
			for (int i = 0; i < FB_N; i++) { /* one group: same endpoint, same size */
				memset(tx.buf[i], 'a' + i, 1000);
				tx.iov[i].iov_len = 1000;
				memcpy(&tx.addr[i], &ar, sizeof(ar));
				tx.msgs[i].msg_hdr.msg_namelen = sizeof(ar);
			}
			dp_udp_send(&us, &tx, FB_N, &st);
		}
		CHECK_EQ_INT(st.udp_tx_datagrams, 2 * FB_N);
		CHECK_EQ_INT(st.udp_tx_bytes, 2 * FB_N * 1000);
		CHECK_EQ_INT(st.drops[SL_DROP_QUEUE_OUT], 0);
		drain(&ur, &rx, &g, 2 * FB_N);
		CHECK_EQ_INT(g.n, 2 * FB_N);
		for (size_t i = 0; i < g.n && i < MAXGOT; i++)
			CHECK(g.len[i] == 1000 && g.first[i] == 'a' + i % FB_N && g.last[i] == g.first[i]);
	}
	dp_udp_free(&us);
	dp_udp_free(&ur);
	close(fs);
	close(fr);
}

/* Sends n datagrams of 100 bytes, the i-th filled with (i % 250) + 1, from fs to a. */
static void send_numbered(int fs, const struct sockaddr_in *a, unsigned from, unsigned n)
{
	uint8_t d[100];

	for (unsigned i = from; i < from + n; i++) {
		memset(d, (int)(i % 250 + 1), sizeof(d));
		CHECK(sendto(fs, d, sizeof(d), 0, (const struct sockaddr *)a, sizeof(*a)) == (ssize_t)sizeof(d));
	}
}

static void run_drain(bool offload)
{
	static struct dp_batch rx;
	struct dp_udp ur;
	struct sockaddr_in as, ar;
	struct got g = {0};
	int fs = udp_bound(&as), fr = udp_bound(&ar);
	int full, got;
	unsigned total;

	CHECK(fs >= 0 && fr >= 0);
	setenv("SLUICE_NO_OFFLOAD", offload ? "0" : "1", 1);
	CHECK(dp_udp_init(&ur, fr) == 0);
	dp_batch_init(&rx);
	/* loopback: plain datagrams are not coalesced, each is one message; a full call takes `full` of them */
	full = ur.gro ? DP_GRO_MSGS : DP_BATCH;
	total = 2 * (unsigned)full + 5;
	CHECK(total <= MAXGOT);
	/* an empty socket: one call, nothing */
	CHECK_EQ_INT(dp_udp_drain(&ur, &rx, on_rx, &g, DP_RX_ROUNDS), 0);
	CHECK_EQ_INT(g.n, 0);
	/* more than two full batches waiting: two rounds take exactly two batches, the next call the rest */
	send_numbered(fs, &ar, 0, total);
	got = dp_udp_drain(&ur, &rx, on_rx, &g, 2);
	CHECK_EQ_INT(got, 2 * full);
	CHECK_EQ_INT(g.n, 2 * (size_t)full);
	got = dp_udp_drain(&ur, &rx, on_rx, &g, DP_RX_ROUNDS);
	CHECK_EQ_INT(got, 5);
	CHECK_EQ_INT(g.n, total);
	/* again, with enough rounds: one call takes all of them */
	send_numbered(fs, &ar, total, total);
	got = dp_udp_drain(&ur, &rx, on_rx, &g, 3);
	CHECK_EQ_INT(got, total);
	CHECK_EQ_INT(g.n, 2 * (size_t)total);
	for (unsigned i = 0; i < g.n && i < MAXGOT; i++)
		CHECK(g.len[i] == 100 && g.first[i] == i % 250 + 1 && g.last[i] == g.first[i]);
	dp_udp_free(&ur);
	close(fs);
	close(fr);
}

int main(void)
{
	run(false);
	run(true);
	run_gso_fallback();
	run_drain(false);
	run_drain(true);
	return check_done("test_udpio");
}
