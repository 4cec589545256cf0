/* test_flowhash: dp_flow_hash (batch.h) against a plain reference — FNV-1a over the two ends (address, port)
 * written lower end first, then the protocol — for random IPv4 and IPv6 TCP/UDP packets, with and without IPv4
 * options (FNV-1a, then murmur3's finaliser); the same value for both directions; flows differing only in an
 * even port (what connect() hands out) spread; 0 for ICMP, fragments, IPv6 extension headers and short or
 * foreign packets; flows spread over two workers. Then dp_worker_tun_pick (worker.h): the queue it picks is
 * worker hash % n's (its own for what is not TCP/UDP), a train pending for another queue is written to that
 * queue before the switch, and dp_worker_tun_own goes back. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/dataplane/worker.h"
#include "tests/unit/check.h"

static uint32_t ref_fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* The reference: canonical bytes [lower end][higher end][proto], an end being address then port. */
static uint32_t ref_hash(const uint8_t *sa, const uint8_t *da, size_t alen, const uint8_t *sp, const uint8_t *dp,
			 uint8_t proto)
{
	uint8_t e1[18], e2[18], buf[37];
	uint32_t h;

	memcpy(e1, sa, alen);
	memcpy(e1 + alen, sp, 2);
	memcpy(e2, da, alen);
	memcpy(e2 + alen, dp, 2);
	if (memcmp(e1, e2, alen + 2) > 0) {
		memcpy(buf, e2, alen + 2);
		memcpy(buf + alen + 2, e1, alen + 2);
	} else {
		memcpy(buf, e1, alen + 2);
		memcpy(buf + alen + 2, e2, alen + 2);
	}
	/* the reference mixes address, address, port, port: reorder the canonical ends that way */
	{
		uint8_t out[37];
		memcpy(out, buf, alen);
		memcpy(out + alen, buf + alen + 2, alen);
		memcpy(out + 2 * alen, buf + alen, 2);
		memcpy(out + 2 * alen + 2, buf + 2 * alen + 2, 2);
		out[2 * alen + 4] = proto;
		h = ref_fnv(out, 2 * alen + 5);
	}
	h = (h ^ (h >> 16)) * 0x85ebca6bu; /* murmur3 fmix32 */
	h = (h ^ (h >> 13)) * 0xc2b2ae35u;
	h ^= h >> 16;
	return h ? h : 1;
}

static void rnd(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(random() >> 7);
}

/* An IPv4 packet (ihl words of header) carrying proto with 20 bytes after the header. */
static size_t mk4(uint8_t *p, unsigned ihl, uint8_t proto)
{
	size_t len = ihl * 4 + 20;

	memset(p, 0, len);
	p[0] = (uint8_t)(0x40 | ihl);
	p[9] = proto;
	rnd(p + 12, 8);
	rnd(p + ihl * 4, 4);
	return len;
}

static size_t mk6(uint8_t *p, uint8_t next)
{
	memset(p, 0, 60);
	p[0] = 0x60;
	p[6] = next;
	rnd(p + 8, 32);
	rnd(p + 40, 4);
	return 60;
}

/* The reply direction of p: addresses and ports swapped. */
static void swap_ends(uint8_t *p, size_t alen, size_t saoff, size_t l4)
{
	uint8_t t[16];

	memcpy(t, p + saoff, alen);
	memmove(p + saoff, p + saoff + alen, alen);
	memcpy(p + saoff + alen, t, alen);
	memcpy(t, p + l4, 2);
	memmove(p + l4, p + l4 + 2, 2);
	memcpy(p + l4 + 2, t, 2);
}

static void test_hash(void)
{
	uint8_t p[128];
	unsigned bucket[2] = {0, 0};
	int bad = 0;

	srandom(19);
	for (int i = 0; i < 2000; i++) {
		uint8_t proto = i & 1 ? 6 : 17;
		unsigned ihl = i % 7 == 0 ? 6 : 5; /* some with IP options: the ports are behind them */
		size_t len = mk4(p, ihl, proto);
		uint32_t h = dp_flow_hash(p, len);
		if (h != ref_hash(p + 12, p + 16, 4, p + ihl * 4, p + ihl * 4 + 2, proto))
			bad++;
		bucket[h % 2]++;
		swap_ends(p, 4, 12, ihl * 4);
		if (dp_flow_hash(p, len) != h)
			bad++;
		len = mk6(p, proto);
		h = dp_flow_hash(p, len);
		if (h != ref_hash(p + 8, p + 24, 16, p + 40, p + 42, proto))
			bad++;
		swap_ends(p, 16, 8, 40);
		if (dp_flow_hash(p, len) != h)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	/* 2000 random flows over two workers: neither gets much more than half */
	CHECK(bucket[0] > 850 && bucket[1] > 850);

	/* flows that differ only in an even client port (connect() picks ports of one parity): both workers */
	{
		unsigned even[2] = {0, 0};
		mk4(p, 5, 6);
		for (unsigned port = 40000; port < 40064; port += 2) {
			p[20] = (uint8_t)(port >> 8);
			p[21] = (uint8_t)port;
			even[dp_flow_hash(p, 40) % 2]++;
		}
		CHECK(even[0] >= 8 && even[1] >= 8);
	}

	/* equal addresses: the ports decide the order, still symmetric */
	mk4(p, 5, 6);
	memcpy(p + 16, p + 12, 4);
	{
		uint32_t h = dp_flow_hash(p, 40);
		CHECK_EQ_INT(h, ref_hash(p + 12, p + 16, 4, p + 20, p + 22, 6));
		swap_ends(p, 4, 12, 20);
		CHECK_EQ_INT(dp_flow_hash(p, 40), h);
	}
	/* a different port is a different flow (for these values: checked against the reference) */
	mk4(p, 5, 6);
	{
		uint32_t h = dp_flow_hash(p, 40);
		p[21] ^= 1;
		CHECK(dp_flow_hash(p, 40) == ref_hash(p + 12, p + 16, 4, p + 20, p + 22, 6) && dp_flow_hash(p, 40) != h);
	}

	/* 0: not TCP/UDP, fragments, IPv6 extension headers, short, not IP */
	mk4(p, 5, 1);
	CHECK_EQ_INT(dp_flow_hash(p, 40), 0); /* ICMP */
	mk4(p, 5, 6);
	p[6] = 0x20;
	CHECK_EQ_INT(dp_flow_hash(p, 40), 0); /* first fragment (MF) */
	p[6] = 0;
	p[7] = 0x10;
	CHECK_EQ_INT(dp_flow_hash(p, 40), 0); /* a later fragment */
	p[7] = 0;
	p[6] = 0x40; /* DF alone is no fragment */
	CHECK(dp_flow_hash(p, 40) != 0);
	CHECK_EQ_INT(dp_flow_hash(p, 23), 0); /* ports cut off */
	CHECK_EQ_INT(dp_flow_hash(p, 10), 0);
	mk6(p, 0);
	CHECK_EQ_INT(dp_flow_hash(p, 60), 0); /* hop-by-hop options first */
	mk6(p, 58);
	CHECK_EQ_INT(dp_flow_hash(p, 60), 0); /* ICMPv6 */
	mk6(p, 6);
	CHECK_EQ_INT(dp_flow_hash(p, 43), 0);
	CHECK(dp_flow_hash(p, 44) != 0);
	p[0] = 0x50;
	CHECK_EQ_INT(dp_flow_hash(p, 60), 0);
	CHECK_EQ_INT(dp_flow_hash(p, 0), 0);
}

/* A TCP/UDP packet whose flow hashes to worker `want` of 2. */
static size_t flow_for(uint8_t *p, unsigned want)
{
	size_t len;

	do
		len = mk4(p, 5, 6);
	while (dp_flow_hash(p, len) % 2 != want);
	return len;
}

static void test_pick(void)
{
	struct dp_worker w[2];
	int q0[2], q1[2];
	uint8_t p[128], got[256];
	size_t len;

	memset(w, 0, sizeof(w));
	CHECK(pipe(q0) == 0 && pipe(q1) == 0);
	fcntl(q0[0], F_SETFL, O_NONBLOCK);
	fcntl(q1[0], F_SETFL, O_NONBLOCK);
	w[0].tun_io.fd = w[0].t.fd = q0[1];
	w[1].tun_io.fd = w[1].t.fd = q1[1];
	w[0].t.vnet = true;
	w[0].t.cb = malloc(DP_VNET_HDR_LEN + 65535);
	CHECK(w[0].t.cb != NULL);
	if (!w[0].t.cb)
		return;

	/* one worker: never a switch */
	len = flow_for(p, 1);
	CHECK_EQ_INT(dp_worker_tun_pick(&w[0], w, 1, p, len), 0);
	CHECK_EQ_INT(w[0].t.fd, q0[1]);
	/* a flow of worker 0's: stays; one of worker 1's: its queue */
	len = flow_for(p, 0);
	CHECK_EQ_INT(dp_worker_tun_pick(&w[0], w, 2, p, len), 0);
	CHECK_EQ_INT(w[0].t.fd, q0[1]);
	/* a train pending for queue 0 (one 60-byte packet) is written there before the switch, not to queue 1 */
	memset(w[0].t.cb + DP_VNET_HDR_LEN, 0xab, 60);
	w[0].t.cb_len = 60;
	w[0].t.cb_segs = 1;
	len = flow_for(p, 1);
	CHECK_EQ_INT(dp_worker_tun_pick(&w[0], w, 2, p, len), 0);
	CHECK_EQ_INT(w[0].t.fd, q1[1]);
	CHECK_EQ_INT(w[0].t.cb_len, 0);
	CHECK_EQ_INT(read(q0[0], got, sizeof(got)), DP_VNET_HDR_LEN + 60);
	CHECK(got[DP_VNET_HDR_LEN] == 0xab && got[DP_VNET_HDR_LEN + 59] == 0xab);
	CHECK(read(q1[0], got, sizeof(got)) < 0);
	/* the same queue again: nothing written */
	CHECK_EQ_INT(dp_worker_tun_pick(&w[0], w, 2, p, len), 0);
	CHECK(read(q0[0], got, sizeof(got)) < 0 && read(q1[0], got, sizeof(got)) < 0);
	/* not TCP/UDP (ping): the receiving worker's own queue */
	mk4(p, 5, 1);
	CHECK_EQ_INT(dp_worker_tun_pick(&w[0], w, 2, p, 40), 0);
	CHECK_EQ_INT(w[0].t.fd, q0[1]);
	/* back on its own queue after a batch */
	len = flow_for(p, 1);
	dp_worker_tun_pick(&w[0], w, 2, p, len);
	CHECK_EQ_INT(w[0].t.fd, q1[1]);
	dp_worker_tun_own(&w[0]);
	CHECK_EQ_INT(w[0].t.fd, q0[1]);
	free(w[0].t.cb);
	close(q0[0]);
	close(q0[1]);
	close(q1[0]);
	close(q1[1]);
}

int main(void)
{
	test_hash();
	test_pick();
	return check_done("test_flowhash");
}
