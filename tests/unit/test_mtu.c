/* test_mtu: the tunnel MTU and what keeps TCP within it (DESIGN §3, §10.7, §10.8).
 *   - derivation: underlay MTU - 84 within the limits; the client's effective MTU;
 *   - the "fragmentation needed" answer to an oversize packet, checked field by field against a plain
 *     RFC 1071 sum written here, and the packets that must get none;
 * and, as root inside a private network namespace (unshare; otherwise those parts print "skipped"):
 *   - the underlay MTU towards an endpoint read from the kernel: link MTU, a route's own MTU, the link's
 *     IPv6 MTU, and — with the client's policy routing in place — the route our fwmark takes, not the
 *     tunnel's;
 *   - the client table `inet sluice_cl_IFACE` and the gateway's "mss" chain: the rulesets as `nft` lists
 *     them, and their effect on real SYNs written into a TUN link and forwarded out of a veth (captured on
 *     its peer), and on the host's own SYN leaving through the TUN: clamped to MTU - 40 (IPv4) / - 60
 *     (IPv6), a smaller MSS left alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "client-table/cltable.h"
#include "daemon/dataplane/icmp.h"
#include "daemon/dataplane/wire.h"
#include "daemon/mtu.h"
#include "nat/nat.h"
#include "netcfg/netcfg.h"
#include "tests/unit/check.h"
#include "tests/unit/refsum.h"

#define TUN "slmtu0"
#define DPORT 8080

static char out[65536];

static int run(const char *cmd)
{
	char full[2048];
	FILE *p;
	size_t n;
	int st;

	snprintf(full, sizeof(full), "exec 2>&1; %s", cmd);
	out[0] = 0;
	p = popen(full, "r");
	if (!p)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}


static void p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- derivation */

static void test_derive(void)
{
	CHECK_EQ_INT(SLUICE_UNDERLAY_OVERHEAD, 84);
	CHECK_EQ_INT(SLUICE_MTU_DEFAULT, 1416);
	CHECK_EQ_INT(mtu_from_underlay(1500), 1416); /* 1416 + 36 + 8 + 40 = 1500: no IPv6 fragment */
	CHECK_EQ_INT(mtu_from_underlay(1280), 1196);
	CHECK_EQ_INT(mtu_from_underlay(9000), 8916);
	CHECK_EQ_INT(mtu_from_underlay(9200), SLUICE_MTU_MAX);
	CHECK_EQ_INT(mtu_from_underlay(660), 576);
	CHECK_EQ_INT(mtu_from_underlay(600), SLUICE_MTU_MIN);
	CHECK_EQ_INT(mtu_from_underlay(0), SLUICE_MTU_MIN);
	CHECK_EQ_INT(mtu_effective(0, 1416), 1416); /* no session yet */
	CHECK_EQ_INT(mtu_effective(1416, 1196), 1196);
	CHECK_EQ_INT(mtu_effective(1196, 1416), 1196);
	CHECK(!strcmp(mtu_source_name(MTU_SRC_ROUTE), "route") && !strcmp(mtu_source_name(MTU_SRC_EGRESS), "egress"));
	CHECK(!strcmp(mtu_source_name(MTU_SRC_CONFIG), "config") &&
	      !strcmp(mtu_source_name(MTU_SRC_DEFAULT), "default"));
}

/* ---- the "fragmentation needed" answer */

/* An IPv4 packet of len bytes, DF set, protocol proto, from 10.66.0.2 to 198.19.0.2. */
static void ip4_packet(uint8_t *p, size_t len, uint8_t proto)
{
	memset(p, 0, len);
	for (size_t i = 20; i < len; i++)
		p[i] = (uint8_t)i;
	p[0] = 0x45;
	p16(p + 2, (uint16_t)len);
	p16(p + 4, 0x1234);
	p[6] = 0x40;
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, "\x0a\x42\x00\x02\xc6\x13\x00\x02", 8);
	p16(p + 10, (uint16_t)~ref_sum(p, 20, 0));
}

/* An IPv6 packet of len bytes from fd66::2 to fd00:19::2, next header nh. */
static void ip6_packet(uint8_t *p, size_t len, uint8_t nh)
{
	memset(p, 0xab, len);
	memset(p, 0, 40);
	p[0] = 0x60;
	p16(p + 4, (uint16_t)(len - 40));
	p[6] = nh;
	p[7] = 64;
	inet_pton(AF_INET6, "fd66::2", p + 8);
	inet_pton(AF_INET6, "fd00:19::2", p + 24);
}

/* ICMPv6 "packet too big" (RFC 4443 3.2): to the sender, the MTU in 32 bits, the checksum over the
 * pseudo-header right, as much of the packet as fits in DP_ICMP_MAX; never to an ICMPv6 error or a multicast,
 * unspecified or loopback source. */
static void test_icmp6(void)
{
	static uint8_t pkt[1500], ans[DP_ICMP_MAX + 64];
	uint8_t gw6[16], pseudo[40] = {0};
	size_t n;

	inet_pton(AF_INET6, "fd66::1", gw6);
	ip6_packet(pkt, sizeof(pkt), 6);
	n = dp_icmp6_too_big(pkt, sizeof(pkt), 1416, gw6, ans, sizeof(ans));
	CHECK_EQ_INT(n, DP_ICMP_MAX);
	CHECK_EQ_INT(ans[0] >> 4, 6);
	CHECK_EQ_INT(g16(ans + 4), n - 40); /* payload length */
	CHECK_EQ_INT(ans[6], 58);
	CHECK(!memcmp(ans + 8, gw6, 16));      /* from the tunnel's side */
	CHECK(!memcmp(ans + 24, pkt + 8, 16)); /* to the packet's sender */
	CHECK_EQ_INT(ans[40], 2);              /* packet too big */
	CHECK_EQ_INT(ans[41], 0);
	CHECK_EQ_INT(g16(ans + 44), 0);
	CHECK_EQ_INT(g16(ans + 46), 1416); /* the MTU, 32 bits */
	CHECK(!memcmp(ans + 48, pkt, n - 48));
	/* the checksum: pseudo-header (source, destination, length, next header) and the message sum to 0xffff */
	memcpy(pseudo, ans + 8, 32);
	p16(pseudo + 34, (uint16_t)(n - 40));
	pseudo[39] = 58;
	CHECK_EQ_INT(ref_sum(ans + 40, n - 40, ref_sum(pseudo, sizeof(pseudo), 0)), 0xffff);

	ip6_packet(pkt, 100, 17); /* short: quoted whole */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 100, 80, gw6, ans, sizeof(ans)), 148);
	CHECK(!memcmp(ans + 48, pkt, 100));
	ip6_packet(pkt, 1500, 58); /* an echo request is answered, an ICMPv6 error never */
	pkt[40] = 128;
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), DP_ICMP_MAX);
	for (unsigned t = 0; t < 128; t += 1) {
		pkt[40] = (uint8_t)t;
		if (dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)))
			CHECK(!"an ICMPv6 error was answered");
	}
	/* ... also behind extension headers: hop-by-hop (8 bytes) then destination options (16) then ICMPv6 */
	ip6_packet(pkt, 1500, 0);
	pkt[40] = 60, pkt[41] = 0;  /* hop-by-hop: next destination options, 8 bytes */
	pkt[48] = 58, pkt[49] = 1;  /* destination options: next ICMPv6, 16 bytes */
	pkt[64] = 1;                /* destination unreachable: an error */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	pkt[64] = 128;              /* echo request: answered */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), DP_ICMP_MAX);
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 60, 40, gw6, ans, sizeof(ans)), 0); /* chain cut short: unsure, silent */
	ip6_packet(pkt, 1500, 44);  /* a first fragment of an ICMPv6 error: silent */
	pkt[40] = 58, pkt[42] = 0, pkt[43] = 1, pkt[48] = 3;
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	pkt[42] = 0x05, pkt[43] = 0xa9; /* a later fragment (offset 181 x 8): no upper header, answered */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), DP_ICMP_MAX);
	ip6_packet(pkt, 1500, 0); /* more than 8 extension headers: unsure, silent */
	for (unsigned i = 0; i < 9; i++)
		pkt[40 + 8 * i] = 0, pkt[41 + 8 * i] = 0;
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	ip6_packet(pkt, 1500, 43); /* routing header then TCP: answered */
	pkt[40] = 6, pkt[41] = 0;
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), DP_ICMP_MAX);
	ip6_packet(pkt, 1500, 6);
	pkt[8] = 0xff; /* multicast source */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	memset(pkt + 8, 0, 16); /* unspecified */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	pkt[23] = 1; /* loopback */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	ip6_packet(pkt, 1500, 6);
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, DP_ICMP_MAX - 1), 0); /* no room */
	pkt[0] = 0x45; /* not IPv6 */
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 1500, 1416, gw6, ans, sizeof(ans)), 0);
	CHECK_EQ_INT(dp_icmp6_too_big(pkt, 39, 20, gw6, ans, sizeof(ans)), 0);
}

static void test_icmp(void)
{
	static uint8_t pkt[1500], ans[DP_ICMP_MAX + 64];
	uint32_t gw;
	size_t n;

	inet_pton(AF_INET, "10.66.0.1", &gw);
	ip4_packet(pkt, sizeof(pkt), 17);
	n = dp_icmp_too_big(pkt, sizeof(pkt), 1416, gw, ans, sizeof(ans));
	CHECK_EQ_INT(n, DP_ICMP_MAX); /* the header and as much of the packet as fits in 576 bytes */
	CHECK_EQ_INT(ans[0], 0x45);
	CHECK_EQ_INT(g16(ans + 2), n);
	CHECK_EQ_INT(ans[9], 1);
	CHECK(ans[8] > 1);
	CHECK_EQ_INT(ref_sum(ans, 20, 0), 0xffff); /* IP header checksum */
	CHECK(!memcmp(ans + 12, &gw, 4));        /* from the tunnel's side */
	CHECK(!memcmp(ans + 16, pkt + 12, 4));   /* to the packet's sender */
	CHECK_EQ_INT(ans[20], 3);                /* destination unreachable */
	CHECK_EQ_INT(ans[21], 4);                /* fragmentation needed and DF set */
	CHECK_EQ_INT(g16(ans + 24), 0);          /* unused */
	CHECK_EQ_INT(g16(ans + 26), 1416);       /* next-hop MTU (RFC 1191) */
	CHECK_EQ_INT(ref_sum(ans + 20, n - 20, 0), 0xffff);
	CHECK(!memcmp(ans + 28, pkt, n - 28)); /* the original, from its header on */

	/* short packet: quoted whole */
	ip4_packet(pkt, 700, 6);
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 700, 600, gw, ans, sizeof(ans)), DP_ICMP_MAX);
	ip4_packet(pkt, 100, 6);
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 100, 80, gw, ans, sizeof(ans)), 128);
	CHECK(!memcmp(ans + 28, pkt, 100));

	/* an echo request is answered; an ICMP error never is */
	ip4_packet(pkt, 1500, 1);
	pkt[20] = 8;
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, sizeof(ans)), DP_ICMP_MAX);
	for (uint8_t t = 3; t <= 12; t++) {
		pkt[20] = t;
		if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12)
			CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, sizeof(ans)), 0);
	}

	/* no answer: without DF (a router would fragment; we never do), a later fragment, a source that is
	 * not one host, not IPv4, no room */
	ip4_packet(pkt, 1500, 17);
	pkt[6] = 0;
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, sizeof(ans)), 0);
	ip4_packet(pkt, 1500, 17);
	p16(pkt + 6, 0x4000 | 185);
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, sizeof(ans)), 0);
	static const char *const bad_src[] = {"0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255"};
	for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
		ip4_packet(pkt, 1500, 17);
		inet_pton(AF_INET, bad_src[i], pkt + 12);
		CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, sizeof(ans)), 0);
	}
	ip4_packet(pkt, 1500, 17);
	pkt[0] = 0x60;
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, sizeof(ans)), 0);
	pkt[0] = 0x4f; /* header longer than the packet */
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 40, 20, gw, ans, sizeof(ans)), 0);
	ip4_packet(pkt, 1500, 17);
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 1500, 1416, gw, ans, DP_ICMP_MAX - 1), 0);
	CHECK_EQ_INT(dp_icmp_too_big(pkt, 19, 1416, gw, ans, sizeof(ans)), 0);
}

/* ---- in the private namespace */

static int addr_of(const char *s, struct sockaddr_storage *ss, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

/* The underlay MTU towards addr for a packet with fwmark `mark`, or -errno. */
static int underlay(struct netcfg *nc, const char *addr, uint32_t mark, char *ifname)
{
	struct sockaddr_storage ss;
	struct sl_err e = {{0}};
	unsigned mtu = 0;
	int ret;

	addr_of(addr, &ss, 51900);
	ret = mtu_underlay_to(nc, &ss, mark, &mtu, ifname, &e);
	return ret ? ret : (int)mtu;
}

static void test_route_mtu(void)
{
	struct netcfg nc;
	struct sl_err e = {{0}};
	char ifn[IFNAMSIZ] = "";
	unsigned mtu = 0;

	CHECK_EQ_INT(netcfg_open(&nc, &e), 0);
	CHECK_EQ_INT(underlay(&nc, "198.18.0.1", 0, ifn), 1500);
	CHECK(!strcmp(ifn, "slv0"));
	CHECK_EQ_INT(underlay(&nc, "fd00:5::1", 0, ifn), 1500);
	CHECK_EQ_INT(underlay(&nc, "198.51.100.1", 0, ifn), -ENETUNREACH); /* no route at all */
	CHECK_EQ_INT(mtu_underlay_link(&nc, "slv0", &mtu, &e), 0);
	CHECK_EQ_INT(mtu, 1500);
	CHECK(mtu_underlay_link(&nc, "nosuchlink0", &mtu, &e) < 0);

	/* a 1280-byte hop on the link itself: the tunnel gets 1196 */
	CHECK_EQ_INT(run("ip link set slv0 mtu 1280 && ip link set slv1 mtu 1280"), 0);
	CHECK_EQ_INT(underlay(&nc, "198.18.0.1", 0, ifn), 1280);
	CHECK_EQ_INT(underlay(&nc, "fd00:5::1", 0, ifn), 1280);
	CHECK_EQ_INT(mtu_from_underlay((unsigned)underlay(&nc, "fd00:5::1", 0, ifn)), 1196);
	CHECK_EQ_INT(run("ip link set slv0 mtu 1500 && ip link set slv1 mtu 1500"), 0);

	/* a route's own MTU narrows the link's; the link's IPv6 MTU (a router advertisement sets it) counts
	 * for IPv6 only */
	CHECK_EQ_INT(run("ip route add 203.0.113.0/24 via 198.18.0.1 mtu 1400"), 0);
	CHECK_EQ_INT(underlay(&nc, "203.0.113.5", 0, ifn), 1400);
	CHECK_EQ_INT(run("sysctl -qw net.ipv6.conf.slv0.mtu=1300"), 0);
	CHECK_EQ_INT(underlay(&nc, "fd00:5::1", 0, ifn), 1300);
	CHECK_EQ_INT(underlay(&nc, "198.18.0.1", 0, ifn), 1500);
	CHECK_EQ_INT(run("sysctl -qw net.ipv6.conf.slv0.mtu=1500"), 0);

	/* the client's full tunnel (policy routing): unmarked traffic to the endpoint would take the tunnel;
	 * the daemon's own datagrams carry the mark, and that is the route to measure */
	CHECK_EQ_INT(run("ip tuntap add slmtu9 mode tun && ip link set slmtu9 mtu 9000 up && "
			 "ip route add default dev slmtu9 table 1368429910 && "
			 "ip rule add not fwmark 0x51900000/0xffff0000 lookup 1368429910 prio 23403"),
		     0);
	CHECK_EQ_INT(underlay(&nc, "198.18.0.1", 0, ifn), 9000);
	CHECK(!strcmp(ifn, "slmtu9"));
	CHECK_EQ_INT(underlay(&nc, "198.18.0.1", 0x51909556 /* sl0's */, ifn), 1500);
	CHECK(!strcmp(ifn, "slv0"));
	CHECK_EQ_INT(run("ip rule del prio 23403 && ip link del slmtu9 && ip route del 203.0.113.0/24"), 0);
	netcfg_close(&nc);
}

/* A TCP SYN with an MSS option: IPv4 (10.66.0.7 -> 198.18.0.9) or IPv6 (fd66::7 -> fd00:5::9), to DPORT.
 * Returns its length. */
static size_t make_syn(uint8_t *p, bool v6, uint16_t mss)
{
	size_t ip = v6 ? 40 : 20, tcp = 24;
	uint8_t *t = p + ip;
	uint32_t sum;

	memset(p, 0, ip + tcp);
	if (v6) {
		p[0] = 0x60;
		p16(p + 4, (uint16_t)tcp);
		p[6] = 6;
		p[7] = 64;
		inet_pton(AF_INET6, "fd66::7", p + 8);
		inet_pton(AF_INET6, "fd00:5::9", p + 24);
		sum = ref_sum(p + 8, 32, 0) + 6u + (uint32_t)tcp;
	} else {
		p[0] = 0x45;
		p16(p + 2, (uint16_t)(ip + tcp));
		p[6] = 0x40;
		p[8] = 64;
		p[9] = 6;
		inet_pton(AF_INET, "10.66.0.7", p + 12);
		inet_pton(AF_INET, "198.18.0.9", p + 16);
		p16(p + 10, (uint16_t)~ref_sum(p, 20, 0));
		sum = ref_sum(p + 12, 8, 0) + 6u + (uint32_t)tcp;
	}
	p16(t, 40000);
	p16(t + 2, DPORT);
	t[7] = 1;           /* seq 1 */
	t[12] = 6 << 4;     /* data offset: 24 bytes */
	t[13] = 0x02;       /* SYN */
	p16(t + 14, 64240); /* window */
	t[20] = 2;          /* option MSS, length 4 */
	t[21] = 4;
	p16(t + 22, mss);
	p16(t + 16, (uint16_t)~ref_sum(t, tcp, sum));
	return ip + tcp;
}

/* The MSS option of a TCP SYN to DPORT in packet p (IPv4 or IPv6, no extension headers); -1 if it is not. */
static int syn_mss(const uint8_t *p, size_t len)
{
	size_t ip = (p[0] >> 4) == 6 ? 40 : (size_t)(p[0] & 0xf) * 4, thl;
	uint8_t proto = (p[0] >> 4) == 6 ? p[6] : p[9];
	const uint8_t *t = p + ip;

	if (len < ip + 20 || proto != 6 || g16(t + 2) != DPORT || !(t[13] & 0x02))
		return -1;
	thl = (size_t)(t[12] >> 4) * 4;
	for (size_t i = 20; i + 1 < thl && ip + i + 1 < len;) {
		if (t[i] == 0)
			break;
		if (t[i] == 1) {
			i++;
			continue;
		}
		if (t[i] == 2 && t[i + 1] == 4 && ip + i + 4 <= len)
			return g16(t + i + 2);
		i += t[i + 1] ? t[i + 1] : 1;
	}
	return -1;
}

/* Reads packets from fd (a TUN fd, or a packet socket) until a SYN to DPORT shows up: its MSS, or -1. */
static int next_syn_mss(int fd)
{
	uint8_t buf[2048];

	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		ssize_t n;
		int mss;

		if (poll(&pf, 1, 2000) != 1)
			return -1;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			n = read(fd, buf, sizeof(buf)); /* a TUN fd is no socket */
		if (n <= 0)
			return -1;
		mss = syn_mss(buf, (size_t)n);
		if (mss >= 0)
			return mss;
	}
}

/* A SYN with `mss` written into the TUN link (as the tunnel delivers it), forwarded out of slv0: the MSS
 * captured on slv1. */
static int forwarded_mss(int tun, int cap, bool v6, uint16_t mss)
{
	uint8_t syn[64];
	size_t n = make_syn(syn, v6, mss);

	if (write(tun, syn, n) != (ssize_t)n)
		return -2;
	return next_syn_mss(cap);
}

/* The host's own SYN to 10.66.0.9 through the TUN (with TCP_MAXSEG `maxseg` if not 0): its MSS as read from
 * the TUN. */
static int local_mss(int tun, int maxseg)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), mss;

	addr_of("10.66.0.9", &ss, DPORT);
	if (maxseg)
		setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &maxseg, sizeof(maxseg));
	connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	mss = next_syn_mss(tun);
	close(fd);
	return mss;
}

static void test_clamp(void)
{
	struct sl_err e = {{0}};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct nat_spec ns = {.tun_ifname = TUN, .egress_ifname = "slv0", .pool_len = 24, .mtu = 1300};
	struct nat_state st = {0};
	int tun, cap, ret;

	tun = tun_open(TUN, 0, &e);
	CHECK(tun >= 0);
	if (tun < 0) {
		fprintf(stderr, "tun_open: %s\n", e.msg);
		return;
	}
	CHECK_EQ_INT(run("set -e; ip addr add 10.66.0.1/24 dev " TUN "; ip -6 addr add fd66::1/64 dev " TUN " nodad;"
			 "ip link set " TUN " up;"
			 "ip neigh add 198.18.0.9 lladdr 02:00:00:00:00:09 dev slv0;"
			 "ip -6 neigh add fd00:5::9 lladdr 02:00:00:00:00:09 dev slv0;"
			 "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"),
		     0);
	cap = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	sll.sll_ifindex = (int)if_nametoindex("slv1");
	CHECK(cap >= 0 && bind(cap, (struct sockaddr *)&sll, sizeof(sll)) == 0);

	/* premise: without a table the SYNs go through untouched */
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 1460), 1460);
	CHECK_EQ_INT(forwarded_mss(tun, cap, true, 1440), 1440);
	CHECK_EQ_INT(local_mss(tun, 0), 1460);

	/* the client table, for tunnel MTU 1200 */
	CHECK_EQ_INT(run("nft add table inet sluice_cl_" TUN " && nft add chain inet sluice_cl_" TUN " junk"), 0);
	ret = clt_apply(TUN, 1200, NULL, 0, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		fprintf(stderr, "clt_apply: %s\n", e.msg);
	CHECK_EQ_INT(run("nft list table inet sluice_cl_" TUN), 0);
	CHECK_STR_CONTAINS(out, "type filter hook prerouting priority mangle; policy accept;");
	CHECK_STR_CONTAINS(out, "type filter hook postrouting priority mangle; policy accept;");
	CHECK_STR_CONTAINS(out, "iifname \"" TUN "\" meta nfproto ipv4 tcp flags syn tcp option maxseg size "
				"set 1160");
	CHECK_STR_CONTAINS(out, "iifname \"" TUN "\" meta nfproto ipv6 tcp flags syn tcp option maxseg size "
				"set 1140");
	CHECK_STR_CONTAINS(out, "oifname \"" TUN "\" meta nfproto ipv4 tcp flags syn tcp option maxseg size "
				"set 1160");
	CHECK_STR_CONTAINS(out, "oifname \"" TUN "\" meta nfproto ipv6 tcp flags syn tcp option maxseg size "
				"set 1140");
	CHECK(!strstr(out, "junk") && !strstr(out, "drop")); /* a stale table replaced whole; it never filters */
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 1460), 1160);
	CHECK_EQ_INT(forwarded_mss(tun, cap, true, 1440), 1140);
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 536), 536); /* only ever lowered */
	CHECK_EQ_INT(local_mss(tun, 0), 1160);
	CHECK_EQ_INT(local_mss(tun, 700), 700);

	/* a new MTU replaces the table: still one, the new MSS */
	CHECK_EQ_INT(clt_apply(TUN, 1300, NULL, 0, &e), 0);
	CHECK_EQ_INT(run("nft list tables"), 0);
	CHECK_STR_CONTAINS(out, "table inet sluice_cl_" TUN);
	CHECK_EQ_INT(run("nft list table inet sluice_cl_" TUN " | grep -c 'maxseg size set 1260'"), 0);
	CHECK_STR_CONTAINS(out, "2");
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 1460), 1260);
	CHECK_EQ_INT(clt_apply(TUN, 100, NULL, 0, &e), -EINVAL); /* refused before the kernel */
	CHECK_EQ_INT(clt_remove(TUN, &e), 0);
	CHECK(run("nft list table inet sluice_cl_" TUN) != 0);
	CHECK_EQ_INT(clt_remove(TUN, &e), 0);
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 1460), 1460);

	/* the gateway: the NAT table's "mss" chain (hook forward), for MTU 1300 */
	inet_pton(AF_INET, "10.66.0.1", &ns.pool);
	ret = nat_apply(&ns, &st, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		fprintf(stderr, "nat_apply: %s\n", e.msg);
	CHECK_EQ_INT(run("nft list chain inet sluice_nat_" TUN " mss"), 0);
	CHECK_STR_CONTAINS(out, "type filter hook forward priority mangle; policy accept;");
	CHECK_STR_CONTAINS(out, "iifname \"" TUN "\" meta nfproto ipv4 tcp flags syn tcp option maxseg size set 1260");
	CHECK_STR_CONTAINS(out, "oifname \"" TUN "\" meta nfproto ipv4 tcp flags syn tcp option maxseg size set 1260");
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 1460), 1260);
	CHECK_EQ_INT(forwarded_mss(tun, cap, false, 1200), 1200);
	CHECK_EQ_INT(nat_remove(&st, &e), 0);
	ns.mtu = 0; /* no MTU: no chain */
	CHECK_EQ_INT(nat_apply(&ns, &st, &e), 0);
	CHECK(run("nft list chain inet sluice_nat_" TUN " mss") != 0);
	CHECK_EQ_INT(nat_remove(&st, &e), 0);
	close(cap);
	close(tun);
}

int main(void)
{
	test_derive();
	test_icmp();
	test_icmp6();
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("test_mtu: kernel parts skipped: needs root\n");
		return check_done("test_mtu");
	}
	/* from here on everything happens in this process's own, empty network namespace */
	if (run("nft --version") != 0) {
		fprintf(stderr, "test_mtu: the nft CLI is needed to check the rulesets (apt-get install nftables)\n");
		return 1;
	}
	CHECK_EQ_INT(run("set -e; ip link set lo up; ip link add slv0 type veth peer name slv1;"
			 "ip addr add 198.18.0.2/24 dev slv0; ip -6 addr add fd00:5::2/64 dev slv0 nodad;"
			 "ip link set slv0 up; ip link set slv1 up"),
		     0);
	if (check_fail) {
		fprintf(stderr, "test_mtu: could not set up links: %s\n", out);
		return check_done("test_mtu");
	}
	test_route_mtu();
	test_clamp();
	return check_done("test_mtu");
}
