/* test_nft: the kill switch (inet sluice_ks), the NAT tables (inet sluice_nat_IFACE) and the nftables batch
 * under them, against the real kernel — but only inside a private network namespace made by
 * unshare(CLONE_NEWNET) at the start, never the host's. Needs root: otherwise prints "skipped:
 * needs root" and returns 77. The ruleset is checked independently with the `nft` CLI (fine in
 * tests, never in product code), and the kill switch's behaviour with real sockets: a dropped UDP
 * send fails with EPERM at the output hook, so no peer is needed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/netfilter.h>
#include <libnftnl/rule.h>
#include "kill-switch/killswitch.h"
#include "nat/nat.h"
#include "netcfg/netcfg.h"
#include "netcfg/nft_batch.h"
#include "tests/unit/check.h"

#define SKIP 77
#define TUN "sltest0"
#define EP_PORT 51900
#define MARK 0x51909556u /* sl_ids_for("sl0").mark */

static char out[65536];

/* Runs a shell command in this (private) namespace; its stdout+stderr in `out`, its exit status
 * returned. */
static int run(const char *cmd)
{
	FILE *p;
	size_t n;
	int st;

	char full[1024];

	snprintf(full, sizeof(full), "exec 2>&1; %s", cmd);
	out[0] = '\0';
	p = popen(full, "r");
	if (!p)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void ep4(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, addr, &sin->sin_addr);
}

static void ep6(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	inet_pton(AF_INET6, addr, &sin6->sin6_addr);
}

/* One UDP datagram from a fresh socket (with SO_MARK `mark` unless 0): 0 if it passed the output
 * hook, else -errno (a kill-switch drop shows as -EPERM). */
static int udp_send(int family, const char *addr, uint16_t port, uint32_t mark)
{
	struct sockaddr_storage ss;
	int fd, ret;

	if (family == AF_INET)
		ep4(&ss, addr, port);
	else
		ep6(&ss, addr, port);
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = sendto(fd, "x", 1, 0, (struct sockaddr *)&ss,
		     family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	ret = ret < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* One UDP datagram from local port `sport` (DHCP client ports): 0 if it passed the output hook. */
static int udp_send_from(int family, uint16_t sport, const char *addr, uint16_t port)
{
	struct sockaddr_storage src, dst;
	socklen_t len =
	    family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd, ret, one = 1;

	if (family == AF_INET) {
		ep4(&src, "0.0.0.0", sport);
		ep4(&dst, addr, port);
	} else {
		ep6(&src, "::", sport);
		ep6(&dst, addr, port);
	}
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ret = bind(fd, (struct sockaddr *)&src, len) < 0 ||
		      sendto(fd, "x", 1, 0, (struct sockaddr *)&dst, len) < 0
		  ? -errno
		  : 0;
	close(fd);
	return ret;
}

/* One ICMPv6 message of `type` to addr with hop limit `hops` out of slv0: 0 if it passed the output
 * hook. */
static int icmp6_send(const char *addr, uint8_t type, int hops)
{
	struct sockaddr_storage dst;
	uint8_t msg[24] = {type}; /* type, code 0, checksum (the kernel's), then a target address */
	int fd, ret;

	ep6(&dst, addr, 0);
	((struct sockaddr_in6 *)&dst)->sin6_scope_id = if_nametoindex("slv0");
	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops));
	setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops));
	ret = sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&dst,
		     sizeof(struct sockaddr_in6)) < 0
		  ? -errno
		  : 0;
	close(fd);
	return ret;
}

static int read_ip_forward(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void write_ip_forward(int v)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "w");
	if (f) {
		fprintf(f, "%d\n", v);
		fclose(f);
	}
}

/* The private namespace's underlay: veth v0 198.18.0.2/24 (+ fd00:5::2/64) and a TUN link
 * with 10.66.0.2/24. */
static int make_links(void)
{
	return run("set -e; ip link set lo up;"
		   "ip link add slv0 type veth peer name slv1;"
		   "ip addr add 198.18.0.2/24 dev slv0; ip -6 addr add fd00:5::2/64 dev slv0 nodad;"
		   "ip link set slv0 up; ip link set slv1 up;"
		   "ip tuntap add " TUN " mode tun; ip addr add 10.66.0.2/24 dev " TUN
		   "; ip link set " TUN " up");
}

static void test_batch_errors(void)
{
	struct sl_err e = {{0}};
	struct nft_batch *b;
	struct nftnl_rule *r;
	int ret;

	/* an empty batch is a no-op; a failed allocation upstream fails the commit, not the process
	 */
	b = nft_batch_new();
	CHECK_EQ_INT(nft_batch_commit(b, &e), 0);
	nft_batch_add_rule(b, NULL);
	CHECK_EQ_INT(nft_batch_commit(b, &e), -ENOMEM);
	nft_batch_free(b);

	/* an error is mapped back to the object that caused it, and nothing of the batch is applied
	 */
	b = nft_batch_new();
	nft_batch_add_table(b, nft_table_new(NFPROTO_INET, "sluice_t", NULL));
	r = nft_batch_new_rule(b, NFPROTO_INET, "sluice_t", "nochain");
	nft_rule_verdict(b, r, NF_ACCEPT);
	ret = nft_batch_commit(b, &e);
	nft_batch_free(b);
	CHECK_EQ_INT(ret, -ENOENT);
	CHECK_STR_CONTAINS(
	    e.msg,
	    "nftables: add rule to chain nochain of inet sluice_t: No such file or directory");
	CHECK_EQ_INT(nft_table_exists(NFPROTO_INET, "sluice_t", NULL, 0, &e), 0);

	/* deleting a table that is not there: an error in a batch, but not for nft_table_delete */
	b = nft_batch_new();
	nft_batch_del_table(b, nft_table_new(NFPROTO_INET, "sluice_t", NULL));
	CHECK_EQ_INT(nft_batch_commit(b, &e), -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "delete table inet sluice_t");
	nft_batch_free(b);
	CHECK_EQ_INT(nft_table_delete(NFPROTO_INET, "sluice_t", &e), 0);
}

/* TUN2: a second TUN link (another sluice interface's), routed 10.68.0.0/24, group default at first. */
#define TUN2 "sltest1"
static void test_link_group(void)
{
	struct netcfg nc;
	struct sl_err e = {{0}};
	int idx, ret;

	CHECK_EQ_INT(run("set -e; ip tuntap add " TUN2 " mode tun; ip addr add 10.68.0.2/24 dev " TUN2
			 "; ip link set " TUN2 " up; ip -d link show " TUN2),
		     0);
	CHECK_STR_CONTAINS(out, "group default");
	CHECK_EQ_INT(udp_send(AF_INET, "10.68.0.9", 9, 0), -EPERM); /* not a sluice link: dropped */
	CHECK_EQ_INT(netcfg_open(&nc, &e), 0);
	idx = link_index(TUN2);
	CHECK(idx > 0);
	ret = link_set_mtu_up(&nc, idx, 1400, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		fprintf(stderr, "link_set_mtu_up: %s\n", e.msg);
	netcfg_close(&nc);
	CHECK_EQ_INT(run("ip -d link show " TUN2), 0);
	CHECK_STR_CONTAINS(out, "mtu 1400 ");
	CHECK_STR_CONTAINS(out, "group 20880 "); /* SL_LINK_GROUP, applied */
	CHECK_EQ_INT(SL_LINK_GROUP, 20880);
	CHECK_EQ_INT(udp_send(AF_INET, "10.68.0.9", 9, 0), 0);	  /* a sluice link: any process, inside it */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.7", 9, 0), -EPERM); /* the underlay stays locked down */
	/* the group alone opens it: back to the default group, dropped again */
	CHECK_EQ_INT(run("ip link set " TUN2 " group default"), 0);
	CHECK_EQ_INT(udp_send(AF_INET, "10.68.0.9", 9, 0), -EPERM);
	CHECK_EQ_INT(run("ip link del " TUN2), 0);
}

static void test_killswitch(void)
{
	struct sockaddr_storage srv[3];
	struct ks_spec spec = {.tun_ifname = TUN, .servers = srv, .n_servers = 1};
	struct sl_err e = {{0}};
	char info[256] = "junk";
	int ret;

	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 0);
	CHECK_EQ_INT(ks_remove(&e), 0);
	/* before: nothing blocks */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", 9, 0), 0);

	/* a stale table (left by hand or by an older version) is replaced whole */
	CHECK_EQ_INT(run("nft add table inet sluice_ks && nft add chain inet sluice_ks junk"), 0);
	ep4(&srv[0], "198.18.0.1", EP_PORT);
	ret = ks_apply(&spec, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		fprintf(stderr, "ks_apply: %s\n", e.msg);
	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 1);
	CHECK(!strcmp(info, "iface=" TUN " servers=198.18.0.1:51900"));

	CHECK_EQ_INT(run("nft list table inet sluice_ks"), 0);
	CHECK_STR_CONTAINS(out, "comment \"iface=" TUN "\"");
	CHECK_STR_CONTAINS(out, "set servers4 {");
	CHECK_STR_CONTAINS(out, "type ipv4_addr . inet_service");
	CHECK_STR_CONTAINS(out, "type ipv6_addr . inet_service");
	CHECK_STR_CONTAINS(out, "elements = { 198.18.0.1 . 51900 }");
	CHECK_STR_CONTAINS(out, "type filter hook input priority filter; policy drop;");
	CHECK_STR_CONTAINS(out, "type filter hook output priority filter; policy drop;");
	CHECK_STR_CONTAINS(out, "type filter hook forward priority filter; policy drop;");
	CHECK_STR_CONTAINS(out, "oifname \"lo\" accept");
	CHECK_STR_CONTAINS(out, "oifname \"" TUN "\" accept");
	CHECK_STR_CONTAINS(out, "iifname \"lo\" accept");
	CHECK_STR_CONTAINS(out, "iifname \"" TUN "\" accept");
	CHECK_STR_CONTAINS(out, "oifgroup 20880 accept"); /* SL_LINK_GROUP 0x5190: every sluice TUN link */
	CHECK_STR_CONTAINS(out, "iifgroup 20880 accept");
	CHECK_STR_CONTAINS(out, "meta mark 0x51900000/16 ip daddr . tcp dport @servers4 accept");
	CHECK_STR_CONTAINS(out, "meta mark 0x51900000/16 ip daddr . udp dport @servers4 accept");
	CHECK_STR_CONTAINS(out, "meta mark 0x51900000/16 ip6 daddr . udp dport @servers6 accept");
	CHECK_STR_CONTAINS(out, "ip saddr . tcp sport @servers4 ct state established,related accept");
	CHECK_STR_CONTAINS(out, "ip saddr . udp sport @servers4 ct state established,related accept");
	CHECK_STR_CONTAINS(out, "meta mark 0x51900000/16 udp dport 53 accept");
	CHECK_STR_CONTAINS(out, "meta mark 0x51900000/16 tcp dport 53 accept");
	CHECK_STR_CONTAINS(out, "udp sport 53 ct state established accept");
	CHECK_STR_CONTAINS(out, "ct state related ct protocol udp ct original proto-dst"); /* nft cannot name it */
	CHECK_EQ_INT(count(out, "dport 53 drop"), 0); /* no LAN exceptions unless asked */
	CHECK_EQ_INT(count(out, "junk"), 0);

	/* behaviour: only the daemon (mark) to a server's port, its DNS lookups, the tunnel and loopback */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", EP_PORT, 0), -EPERM);    /* another process */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", EP_PORT, MARK), 0); /* the daemon */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", EP_PORT + 1, MARK),
		     -EPERM);							   /* other port */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.7", EP_PORT, MARK), -EPERM); /* other host */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", 53, 0), -EPERM); /* DNS outside the tunnel */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.53", 53, MARK), 0); /* the daemon resolving */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.53", 53, 0x51901234), 0);  /* a co-located sluice daemon */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.53", 53, 0x51910000), -EPERM); /* a mark outside the range */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.53", 53, 0xcabc), -EPERM);     /* the old fixed mark */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.53", 5353, MARK), -EPERM);   /* not DNS */
	CHECK_EQ_INT(udp_send(AF_INET, "10.66.0.1", 53, 0), 0);	      /* DNS through the tunnel */
	CHECK_EQ_INT(udp_send(AF_INET, "127.0.0.1", 9, 0), 0);	      /* loopback */
	CHECK_EQ_INT(udp_send(AF_INET6, "fd00:5::1", EP_PORT, MARK),
		     -EPERM); /* IPv6 outside */

	/* always open on the underlay: IPv6 neighbour/router discovery (on-link: hop limit 255
	 * only) and the DHCP / DHCPv6 client — without them an IPv6 underlay or a lease renewal
	 * dies behind the lockdown */
	CHECK_STR_CONTAINS(out, "icmpv6 type 133-136 ip6 hoplimit 255 accept");
	CHECK_STR_CONTAINS(out, "meta nfproto ipv4 udp sport 68 udp dport 67 accept");
	CHECK_STR_CONTAINS(out, "meta nfproto ipv4 udp sport 67 udp dport 68 accept");
	CHECK_STR_CONTAINS(out, "meta nfproto ipv6 udp sport 546 udp dport 547 accept");
	CHECK_STR_CONTAINS(out, "meta nfproto ipv6 udp sport 547 udp dport 546 accept");
	CHECK_EQ_INT(icmp6_send("ff02::1:ff00:1", 135, 255), 0);     /* neighbour solicitation */
	CHECK_EQ_INT(icmp6_send("fd00:5::1", 136, 255), 0);	     /* neighbour advertisement */
	CHECK_EQ_INT(icmp6_send("ff02::2", 133, 255), 0);	     /* router solicitation */
	CHECK_EQ_INT(icmp6_send("ff02::1:ff00:1", 135, 64), -EPERM); /* routed: not ND */
	CHECK_EQ_INT(icmp6_send("fd00:5::1", 128, 255), -EPERM);     /* echo request */
	CHECK_EQ_INT(icmp6_send("fd00:5::1", 137, 255), -EPERM);     /* redirect: not in 133-136 */
	CHECK_EQ_INT(udp_send_from(AF_INET, 68, "198.18.0.1", 67), 0);
	CHECK_EQ_INT(udp_send_from(AF_INET6, 546, "fd00:5::1", 547), 0);
	CHECK_EQ_INT(udp_send_from(AF_INET, 69, "198.18.0.1", 67), -EPERM);
	CHECK_EQ_INT(udp_send_from(AF_INET6, 546, "fd00:5::1", 548), -EPERM);

	/* a co-located tunnel's TUN link (DESIGN 10.6): locked down until link_set_mtu_up gives it SL_LINK_GROUP,
	 * as the daemons do when they bring their link up; then it passes — by its group, never by its name */
	test_link_group();

	/* the daemon replaces the servers (a name resolved to new addresses): one transaction, only them */
	ep4(&srv[0], "198.18.0.9", 4242);
	ep6(&srv[1], "fd00:5::1", EP_PORT);
	ret = ks_set_servers(TUN, srv, 2, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		fprintf(stderr, "ks_set_servers: %s\n", e.msg);
	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 1);
	CHECK(!strcmp(info, "iface=" TUN " servers=198.18.0.9:4242,[fd00:5::1]:51900"));
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", EP_PORT, MARK), -EPERM);
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.9", 4242, MARK), 0);
	CHECK_EQ_INT(udp_send(AF_INET6, "fd00:5::1", EP_PORT, MARK), 0);
	CHECK_EQ_INT(udp_send(AF_INET6, "fd00:5::1", EP_PORT, 0), -EPERM);
	CHECK_EQ_INT(ks_set_servers("other0", srv, 2, &e), -EBUSY); /* not ours */
	CHECK_EQ_INT(ks_set_servers(TUN, srv, 0, &e), 0);            /* none known */
	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 1);
	CHECK(!strcmp(info, "iface=" TUN " servers=none"));
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.9", 4242, MARK), -EPERM);

	/* replace with other servers (a v4-mapped one too): still one table, the old ones gone */
	ep4(&srv[0], "198.18.0.9", 4242);
	ep6(&srv[1], "::ffff:198.18.0.3", EP_PORT);
	ep6(&srv[2], "fd00:5::1", EP_PORT);
	spec.n_servers = 3;
	CHECK_EQ_INT(ks_apply(&spec, &e), 0);
	CHECK_EQ_INT(run("nft list tables"), 0);
	CHECK_EQ_INT(count(out, "table inet sluice_ks"), 1);
	CHECK_EQ_INT(run("nft list table inet sluice_ks"), 0);
	CHECK_STR_CONTAINS(out, "198.18.0.9 . 4242");
	CHECK_STR_CONTAINS(out, "198.18.0.3 . 51900");
	CHECK_STR_CONTAINS(out, "fd00:5::1 . 51900");
	CHECK_EQ_INT(count(out, "198.18.0.1 "), 0);
	CHECK_EQ_INT(count(out, "policy drop"), 3);
	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 1);
	CHECK_STR_CONTAINS(info, "198.18.0.9:4242");
	CHECK_STR_CONTAINS(info, "198.18.0.3:51900");
	CHECK_STR_CONTAINS(info, "[fd00:5::1]:51900");
	CHECK_EQ_INT(ks_status(info, 10, &e), 1); /* truncated, still a string */
	CHECK(!strcmp(info, "iface=slt"));
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.3", EP_PORT, MARK), 0);
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.9", 4242, MARK), 0);
	CHECK_EQ_INT(udp_send(AF_INET6, "fd00:5::1", EP_PORT, MARK), 0);

	/* KillSwitchAllowLAN: the underlay's prefix and DHCP, but still no DNS outside the tunnel — except
	 * the daemon's own marked lookups
	 */
	ep4(&srv[0], "198.18.0.1", EP_PORT);
	spec.n_servers = 1;
	spec.allow_lan = true;
	CHECK_EQ_INT(ks_apply(&spec, &e), 0);
	CHECK_EQ_INT(run("nft list table inet sluice_ks"), 0);
	CHECK_STR_CONTAINS(out, "ip daddr 198.18.0.0/24 accept");
	CHECK_STR_CONTAINS(out, "ip saddr 198.18.0.0/24 accept");
	CHECK_STR_CONTAINS(out, "udp dport 53 drop");
	CHECK_STR_CONTAINS(out, "udp sport 68 udp dport 67 accept");
	CHECK_EQ_INT(count(out, "10.66.0.0/24"), 0); /* the tunnel's own prefix is not "LAN" */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.7", 9, 0), 0);
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", 53, 0), -EPERM);
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", 53, MARK), 0);
	CHECK_EQ_INT(udp_send(AF_INET6, "fd00:5::1", 9, 0), -EPERM);

	/* bad specs are refused before touching the kernel */
	srv[0].ss_family = AF_UNIX;
	CHECK_EQ_INT(ks_apply(&spec, &e), -EAFNOSUPPORT);
	spec.n_servers = 0; /* no server known yet (a name, nothing cached): locked down, the daemon adds it */
	CHECK_EQ_INT(ks_apply(&spec, &e), 0);
	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 1);
	CHECK(!strcmp(info, "iface=" TUN " servers=none"));

	CHECK_EQ_INT(ks_remove(&e), 0);
	CHECK_EQ_INT(ks_status(info, sizeof(info), &e), 0);
	CHECK(run("nft list table inet sluice_ks") != 0);
	CHECK_EQ_INT(ks_remove(&e), 0);
	CHECK_EQ_INT(ks_set_servers(TUN, srv, 0, &e), -ENOENT); /* off: nothing to update */
	CHECK_EQ_INT(udp_send(AF_INET, "198.18.0.1", 53, 0), 0);
}

static void test_nat(void)
{
	struct nat_spec spec = {.tun_ifname = TUN, .egress_ifname = "slv0", .pool_len = 24};
	struct nat_state st = {0};
	struct sl_err e = {{0}};
	int ret;

	inet_pton(AF_INET, "10.66.0.1", &spec.pool);
	write_ip_forward(0);
	CHECK_EQ_INT(read_ip_forward(), 0);
	/* a stale table of a crashed server, with a chain the new ruleset does not have */
	CHECK_EQ_INT(run("nft add table inet sluice_nat_" TUN " && nft add chain inet sluice_nat_" TUN " junk"), 0);

	ret = nat_apply(&spec, &st, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		fprintf(stderr, "nat_apply: %s\n", e.msg);
	CHECK(st.applied);
	CHECK_EQ_INT(read_ip_forward(), 0); /* not the table's: netcfg/forwarding.h, shared by interfaces */
	CHECK_EQ_INT(nft_table_exists(NFPROTO_INET, "sluice_nat_" TUN, NULL, 0, &e), 1);
	CHECK_EQ_INT(run("nft list table inet sluice_nat_" TUN), 0);
	CHECK_STR_CONTAINS(out, "type nat hook postrouting priority srcnat; policy accept;");
	/* nft shows "ip saddr" (not a raw "@nh,96,24") only when the rule matches nfproto ipv4 first */
	CHECK_STR_CONTAINS(out, "ip saddr 10.66.0.0/24 oifname \"slv0\" masquerade");
	CHECK_EQ_INT(count(out, "@nh"), 0);
	CHECK_STR_CONTAINS(out, "type filter hook forward priority filter; policy accept;");
	CHECK_STR_CONTAINS(out, "iifname \"" TUN "\" oifname \"slv0\" accept");
	CHECK_STR_CONTAINS(out, "iifname \"slv0\" oifname \"" TUN
				"\" ct state established,related accept");
	CHECK_STR_CONTAINS(out, "oifname \"" TUN "\" drop");
	CHECK_STR_CONTAINS(out, "iifname \"" TUN "\" drop");
	/* the inward drop comes after the accept of replies, or replies would be dropped too */
	CHECK(strstr(out, "oifname \"" TUN "\" drop") > strstr(out, "established,related accept"));
	CHECK_EQ_INT(count(out, "junk"), 0);

	/* a second gateway interface in the same namespace: its own table; either goes alone */
	{
		struct nat_spec s2 = spec;
		struct nat_state st2 = {0};
		snprintf(s2.tun_ifname, sizeof(s2.tun_ifname), "sltest1");
		inet_pton(AF_INET, "10.67.0.1", &s2.pool);
		CHECK_EQ_INT(nat_apply(&s2, &st2, &e), 0);
		CHECK_EQ_INT(run("nft list table inet sluice_nat_sltest1"), 0);
		CHECK_STR_CONTAINS(out, "ip saddr 10.67.0.0/24 oifname \"slv0\" masquerade");
		CHECK_EQ_INT(count(out, TUN), 0);
		CHECK_EQ_INT(nat_remove(&st2, &e), 0);
		CHECK_EQ_INT(nft_table_exists(NFPROTO_INET, "sluice_nat_sltest1", NULL, 0, &e), 0);
		CHECK_EQ_INT(nft_table_exists(NFPROTO_INET, "sluice_nat_" TUN, NULL, 0, &e), 1);
	}

	CHECK_EQ_INT(count(out, "ip6 saddr"), 0); /* no IPv6 pool: no NAT66 */

	/* a dual-stack gateway (DESIGN 9): NAT66 of the IPv6 pool and the IPv6 MSS clamp, MTU - 60 */
	{
		struct nat_spec s6 = spec;
		s6.mtu = 1416;
		s6.pool6_len = 64;
		inet_pton(AF_INET6, "fd66::1", &s6.pool6);
		CHECK_EQ_INT(nat_apply(&s6, &st, &e), 0);
		CHECK_EQ_INT(run("nft list table inet sluice_nat_" TUN), 0);
		CHECK_STR_CONTAINS(out, "ip saddr 10.66.0.0/24 oifname \"slv0\" masquerade");
		CHECK_STR_CONTAINS(out, "ip6 saddr fd66::/64 oifname \"slv0\" masquerade");
		CHECK_STR_CONTAINS(out, "tcp option maxseg size set 1376");
		CHECK_STR_CONTAINS(out, "tcp option maxseg size set 1356");
		/* NAT = off: routed, no masquerade of either family; the inward drop stays */
		s6.routed = true;
		CHECK_EQ_INT(nat_apply(&s6, &st, &e), 0);
		CHECK_EQ_INT(run("nft list table inet sluice_nat_" TUN), 0);
		CHECK_EQ_INT(count(out, "masquerade"), 0);
		CHECK_STR_CONTAINS(out, "oifname \"" TUN "\" drop");
	}

	CHECK_EQ_INT(nat_remove(&st, &e), 0);
	CHECK_EQ_INT(nft_table_exists(NFPROTO_INET, "sluice_nat_" TUN, NULL, 0, &e), 0);
	CHECK_EQ_INT(read_ip_forward(), 0);
	CHECK(!st.applied);

	/* forwarding on: left on at removal */
	write_ip_forward(1);
	CHECK_EQ_INT(nat_apply(&spec, &st, &e), 0);
	CHECK_EQ_INT(nat_remove(&st, &e), 0);
	CHECK_EQ_INT(read_ip_forward(), 1);

	/* a refused spec changes nothing */
	write_ip_forward(0);
	spec.pool_len = 0;
	CHECK(nat_apply(&spec, &st, &e) < 0);
	CHECK_EQ_INT(read_ip_forward(), 0);
	CHECK_EQ_INT(nft_table_exists(NFPROTO_INET, "sluice_nat_" TUN, NULL, 0, &e), 0);
}

int main(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("test_nft: skipped: needs root\n");
		return SKIP;
	}
	/* from here on everything happens in this process's own, empty network namespace */
	if (run("nft --version") != 0) {
		fprintf(stderr, "test_nft: the nft CLI is needed to check the ruleset (apt-get "
				"install nftables)\n");
		return 1;
	}
	CHECK_EQ_INT(make_links(), 0);
	if (check_fail) {
		fprintf(stderr, "test_nft: could not set up links: %s\n", out);
		return check_done("test_nft");
	}
	test_batch_errors();
	test_killswitch();
	test_nat();
	return check_done("test_nft");
}
