/* test_control: the control plane's pure pieces — AUTH/PING lines, the session registry and its O(1) tables,
 * the address pool and its crash-safe lease file (one lease at a time, or a group in one commit), the handshake rate limit, the pre-authentication slots. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/control/pool.h"
#include "daemon/control/preauth.h"
#include "daemon/control/proto.h"
#include "daemon/control/ratelimit.h"
#include "daemon/control/session.h"
#include "daemon/loop.h"
#include "tests/unit/check.h"

static struct in_addr ip(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a;
}

static void test_requests(void)
{
	enum proto_req r;
	uint32_t id = 0;

	CHECK(proto_parse_request("AUTH\n", 5, &r, &id) == 0 && r == PROTO_AUTH);
	CHECK(proto_parse_request("PING 0a1b2c3d\n", 14, &r, &id) == 0 && r == PROTO_PING && id == 0x0a1b2c3d);
	CHECK(proto_parse_request("PING 00000000\n", 14, &r, &id) == -EINVAL); /* id 0 never exists */
	CHECK(proto_parse_request("PING 0A1B2C3D\n", 14, &r, &id) == -EINVAL); /* lower-case hex only */
	CHECK(proto_parse_request("PING 1234\n", 10, &r, &id) == -EINVAL);
	CHECK(proto_parse_request("DATA 0a1b2c3d\n", 14, &r, &id) == 0 && r == PROTO_DATA && id == 0x0a1b2c3d);
	CHECK(proto_parse_request("DATA 00000000\n", 14, &r, &id) == -EINVAL);
	CHECK(proto_parse_request("DATA\n", 5, &r, &id) == -EINVAL);
	CHECK(proto_parse_request("DATA 0a1b2c3d0\n", 15, &r, &id) == -EINVAL);
	CHECK(proto_parse_request("AUTH extra\n", 11, &r, &id) == -EINVAL);
	CHECK(proto_parse_request("AU\0TH\n", 6, &r, &id) == -EINVAL);
	CHECK(proto_parse_request("", 0, &r, &id) == -EINVAL);
}

static void test_snapshot_roundtrip(void)
{
	struct proto_snapshot s = {.session_id = 0xdeadbeef, .addr = ip("10.66.0.7"), .plen = 24,
				   .gateway = ip("10.66.0.1"), .mtu = 1420, .keepalive = 10, .lifetime = 7200,
				   .n_dns = 3, .n_domains = 2, .domains = {"corp.example", "lab.example"}};
	s.dns[0] = (struct sl_ipaddr){.family = AF_INET, .v4 = ip("9.9.9.9")};
	s.dns[1] = (struct sl_ipaddr){.family = AF_INET6};
	inet_pton(AF_INET6, "2620:fe::fe", &s.dns[1].v6);
	s.dns[2] = (struct sl_ipaddr){.family = AF_INET, .v4 = ip("1.1.1.1")};
	struct proto_snapshot t;
	char buf[PROTO_LINE_MAX], err[64];
	int len = proto_format_snapshot(buf, sizeof(buf), &s);

	CHECK(len > 0);
	CHECK_STR_CONTAINS(buf, "OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420");
	/* IPv6 servers in their own field: a client that knows only dns= skips them, not the line */
	CHECK_STR_CONTAINS(buf, " dns=9.9.9.9,1.1.1.1 dns6=2620:fe::fe domains=corp.example,lab.example\n");
	CHECK(proto_parse_snapshot(buf, (size_t)len, &t, err, sizeof(err)) == 0);
	CHECK(t.session_id == s.session_id && t.addr.s_addr == s.addr.s_addr && t.plen == 24);
	CHECK(t.gateway.s_addr == s.gateway.s_addr && t.mtu == 1420 && t.keepalive == 10 && t.lifetime == 7200);
	CHECK(t.n_dns == 3 && t.dns[1].family == AF_INET && t.dns[1].v4.s_addr == s.dns[2].v4.s_addr);
	CHECK(t.dns[2].family == AF_INET6 && !memcmp(&t.dns[2].v6, &s.dns[1].v6, 16));
	CHECK(t.n_domains == 2 && !strcmp(t.domains[1], "lab.example"));
	/* an older gateway's line (no dns6, no domains) still parses; unknown fields are skipped */
	const char *old = "OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 "
			  "lifetime=7200 dns=9.9.9.9 future=1\n";
	CHECK(proto_parse_snapshot(old, strlen(old), &t, err, sizeof(err)) == 0);
	CHECK(t.n_dns == 1 && t.n_domains == 0);

	CHECK(proto_parse_snapshot("ERR no address available\n", 25, &t, err, sizeof(err)) == -EACCES);
	CHECK(!strcmp(err, "no address available"));
	const char *bad[] = {
		"OK session=deadbeef\n", /* fields missing */
		"OK session=deadbeef address=10.66.0.7/33 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1\n",
		"OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=99 keepalive=10 lifetime=1\n",
		"OK session=deadbeef address=10.66.0.7/24 gateway=x mtu=1420 keepalive=10 lifetime=1\n",
		("OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		 "dns=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5\n"),
		("OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		 "dns=1.1.1.1,2.2.2.2,3.3.3.3 dns6=::1,::2\n"), /* more than SL_MAX_DNS of both families */
		("OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		 "dns6=1.1.1.1\n"),
		("OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		 "domains=a..b\n"),
		"KO\n",
		"OK session=deadbeef =x address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(proto_parse_snapshot(bad[i], strlen(bad[i]), &t, NULL, 0) == -EINVAL);
	/* unknown fields from a newer gateway are skipped */
	const char *newer = "OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 "
			    "lifetime=60 color=blue\n";
	CHECK(proto_parse_snapshot(newer, strlen(newer), &t, NULL, 0) == 0);
	CHECK(!t.has_v6);

	/* a dual-stack gateway: the client's IPv6 address and the gateway's, both or neither */
	s.has_v6 = true;
	inet_pton(AF_INET6, "fd66::7", &s.addr6);
	inet_pton(AF_INET6, "fd66::1", &s.gateway6);
	s.plen6 = 64;
	len = proto_format_snapshot(buf, sizeof(buf), &s);
	CHECK(len > 0);
	CHECK_STR_CONTAINS(buf, " address6=fd66::7/64 gateway6=fd66::1\n");
	CHECK(proto_parse_snapshot(buf, (size_t)len, &t, err, sizeof(err)) == 0);
	CHECK(t.has_v6 && t.plen6 == 64 && !memcmp(&t.addr6, &s.addr6, 16) && !memcmp(&t.gateway6, &s.gateway6, 16));
	CHECK(t.addr.s_addr == s.addr.s_addr && t.n_dns == 3); /* the rest as before */
	const char *bad6[] = {
		"OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		"address6=fd66::7/64\n", /* without gateway6 */
		"OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		"gateway6=fd66::1\n",
		"OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		"address6=fd66::7/129 gateway6=fd66::1\n",
		"OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		"address6=10.0.0.1/64 gateway6=fd66::1\n",
		"OK session=deadbeef address=10.66.0.7/24 gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 "
		"address6=fd66::7 gateway6=fd66::1\n",
	};
	for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++)
		CHECK(proto_parse_snapshot(bad6[i], strlen(bad6[i]), &t, NULL, 0) == -EINVAL);

	/* an IPv6-only gateway (DESIGN 9: either family may be absent): no address= / gateway= at all */
	s.no_v4 = true;
	len = proto_format_snapshot(buf, sizeof(buf), &s);
	CHECK(len > 0);
	CHECK_STR_CONTAINS(buf, "OK session=deadbeef mtu=1420 keepalive=10 lifetime=7200");
	CHECK(!strstr(buf, " address=") && !strstr(buf, " gateway="));
	CHECK_STR_CONTAINS(buf, " address6=fd66::7/64 gateway6=fd66::1\n");
	CHECK(proto_parse_snapshot(buf, (size_t)len, &t, err, sizeof(err)) == 0);
	CHECK(t.no_v4 && t.has_v6 && t.addr.s_addr == 0 && t.plen == 0 && !memcmp(&t.addr6, &s.addr6, 16));
	/* a session of neither family is never formatted, nor accepted */
	s.has_v6 = false;
	CHECK(proto_format_snapshot(buf, sizeof(buf), &s) == -EINVAL);
	const char *bad_fam[] = {
		"OK session=deadbeef mtu=1420 keepalive=10 lifetime=1\n", /* neither family */
		"OK session=deadbeef address=10.66.0.7/24 mtu=1420 keepalive=10 lifetime=1 address6=fd66::7/64 "
		"gateway6=fd66::1\n", /* address= without gateway= */
		"OK session=deadbeef gateway=10.66.0.1 mtu=1420 keepalive=10 lifetime=1 address6=fd66::7/64 "
		"gateway6=fd66::1\n",
		"OK session=deadbeef address6=fd66::7/64 gateway6=fd66::1 keepalive=10 lifetime=1\n", /* no mtu= */
	};
	for (size_t i = 0; i < sizeof(bad_fam) / sizeof(bad_fam[0]); i++)
		CHECK(proto_parse_snapshot(bad_fam[i], strlen(bad_fam[i]), &t, NULL, 0) == -EINVAL);
}

/* PushRoutes (DESIGN 9): IPv4 prefixes in routes=, IPv6 in routes6=, each family in its order */
static void test_snapshot_routes(void)
{
	struct proto_snapshot s = {.session_id = 1, .addr = ip("10.66.0.7"), .plen = 24, .gateway = ip("10.66.0.1"),
				   .mtu = 1416, .keepalive = 10, .lifetime = 60, .n_routes = 3};
	struct proto_snapshot t;
	char buf[PROTO_LINE_MAX];
	int len;

	CHECK(prefix_parse("10.1.0.0/16", &s.routes[0]) == 0);
	CHECK(prefix_parse("fd10:1::/48", &s.routes[1]) == 0);
	CHECK(prefix_parse("192.168.77.0/24", &s.routes[2]) == 0);
	len = proto_format_snapshot(buf, sizeof(buf), &s);
	CHECK(len > 0);
	CHECK_STR_CONTAINS(buf, " routes=10.1.0.0/16,192.168.77.0/24 routes6=fd10:1::/48\n");
	CHECK(proto_parse_snapshot(buf, (size_t)len, &t, NULL, 0) == 0);
	CHECK(t.n_routes == 3 && t.routes[0].a.family == AF_INET && t.routes[0].len == 16 &&
	      t.routes[0].a.v4.s_addr == ip("10.1.0.0").s_addr && t.routes[1].len == 24 &&
	      t.routes[2].a.family == AF_INET6 && t.routes[2].len == 48 && !memcmp(&t.routes[2].a.v6, &s.routes[1].a.v6, 16));
	const char *bad[] = {
		"OK session=1 address=10.66.0.7/24 gateway=10.66.0.1 mtu=1416 keepalive=10 lifetime=60 routes=10.1.0.0\n",
		"OK session=1 address=10.66.0.7/24 gateway=10.66.0.1 mtu=1416 keepalive=10 lifetime=60 routes=10.1.0.1/16\n",
		"OK session=1 address=10.66.0.7/24 gateway=10.66.0.1 mtu=1416 keepalive=10 lifetime=60 routes=fd00::/8\n",
		"OK session=1 address=10.66.0.7/24 gateway=10.66.0.1 mtu=1416 keepalive=10 lifetime=60 routes6=10.0.0.0/8\n",
		"OK session=1 address=10.66.0.7/24 gateway=10.66.0.1 mtu=1416 keepalive=10 lifetime=60 routes=10.0.0.0/33\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(proto_parse_snapshot(bad[i], strlen(bad[i]), &t, NULL, 0) == -EINVAL);
}

static void make_client(struct sl_client_cfg *c, const char *name, uint8_t seed)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	for (int i = 0; i < SL_KEY_LEN; i++)
		c->pubkey[i] = (uint8_t)(seed * 31 + i);
}

/* The reaper's wheel (issue #19: 100,000 idle sessions cost 3 % of a core in a reaper that looked at every peer
 * every 5 s): a reap looks only at the sessions whose deadline came; each is still reaped on time, whether it
 * expired, went silent, or ended its grace as the previous session; a session heard from waits again. */
static void test_reap_wheel(void)
{
	enum { N = 1000 };
	struct gw_registry r;
	struct gw_peer *p[N];
	struct gw_session *s[N];
	uint8_t k1[32] = {1}, k2[32] = {2};
	uint64_t t0 = now_ms(); /* session_create stamps with this clock */
	unsigned n;

	CHECK(registry_init(&r) == 0);
	for (int i = 0; i < N; i++) {
		struct sl_client_cfg cc;
		char name[32];
		snprintf(name, sizeof(name), "w%d", i);
		make_client(&cc, name, (uint8_t)i);
		cc.pubkey[31] = (uint8_t)(i >> 8);
		cc.pubkey[30] = (uint8_t)i;
		CHECK((p[i] = registry_add_peer(&r, &cc)) != NULL);
		/* lifetimes 1,000 s: silence (180 s) comes first */
		CHECK((s[i] = session_create(&r, p[i], session_new_id(&r), k1, k2, 1000000)) != NULL);
		s[i]->last_seen_ms = t0 + (uint64_t)i * 10; /* deadlines spread over 10 s */
		s[i]->expires_ms = t0 + 1000000;
	}
	/* the first reap looks at every slot (nothing looked at before): each session once, or twice when it is put
	 * back into a slot this same reap still comes to */
	CHECK(registry_reap(&r, t0) == 0);
	CHECK(r.reap_looked >= N && r.reap_looked <= 2 * N);
	/* 5 s and 100 s later: no deadline came, nothing is looked at (the old reaper looked at all 1,000) */
	CHECK(registry_reap(&r, t0 + 5000) == 0);
	CHECK_EQ_INT(r.reap_looked, 0);
	CHECK(registry_reap(&r, t0 + 100000) == 0);
	CHECK_EQ_INT(r.reap_looked, 0);
	/* the first 500 were heard from meanwhile: looked at when their old deadline comes, kept, not reaped */
	for (int i = 0; i < N / 2; i++)
		s[i]->last_seen_ms = t0 + 150000;
	/* up to the silence deadline of the first 500 (t0 + 180 s + 0..4,990 ms): looked at, kept */
	CHECK(registry_reap(&r, t0 + SL_SESSION_IDLE_MS + 4999) == 0);
	CHECK(r.reap_looked >= N / 2 && r.reap_looked <= N);
	for (int i = 0; i < N / 2; i++)
		CHECK(p[i]->cur == s[i]);
	/* by t0 + 180 s + 10 s every one of the other 500 went silent: reaped, each at the reap after its deadline */
	n = registry_reap(&r, t0 + SL_SESSION_IDLE_MS + 10000);
	CHECK_EQ_INT(n, N / 2);
	for (int i = N / 2; i < N; i++)
		CHECK(p[i]->cur == NULL);
	for (int i = 2; i < N / 2; i++) /* peers 0 and 1 are enough from here */
		registry_remove_peer(&r, p[i]);
	/* a re-auth of peer 0: the previous session goes at the first reap after its grace ends (the reaper runs
	 * every tick: a deadline is met within one), not before */
	struct gw_session *prev = s[0];
	uint64_t now = t0 + 200000;
	CHECK((s[0] = session_create(&r, p[0], session_new_id(&r), k1, k2, 1000000)) != NULL);
	p[0]->prev_until_ms = now + SL_SESSION_GRACE_MS;
	s[0]->last_seen_ms = now;
	s[0]->expires_ms = now + 1000000;
	CHECK(registry_reap(&r, now) == 0 && p[0]->prev == prev);
	CHECK(registry_reap(&r, now + SL_SESSION_GRACE_MS - 1) == 0 && p[0]->prev == prev);
	CHECK(registry_reap(&r, now + SL_SESSION_GRACE_MS + SL_WHEEL_TICK_MS) == 1 && p[0]->prev == NULL &&
	      p[0]->cur == s[0]);
	/* expiry: a session heard from all along still ends SL_SESSION_GRACE_MS after it expired */
	CHECK((s[1] = session_create(&r, p[1], session_new_id(&r), k1, k2, 300000)) != NULL);
	uint64_t end = s[1]->expires_ms + SL_SESSION_GRACE_MS;
	s[1]->last_seen_ms = end + 100000;
	CHECK(registry_reap(&r, end - 1) == 1 && p[1]->cur == s[1] && p[1]->prev == NULL); /* its previous one */
	CHECK(registry_reap(&r, end + SL_WHEEL_TICK_MS) == 1 && p[1]->cur == NULL);
	registry_free(&r);
}

/* The pool tests' clients: peers[0] "fixed" at 10.66.0.3, peers[1..5] "dyn1".."dyn5" with no address. */
static void add_fixed_and_five(struct gw_registry *r, struct gw_peer *peers[6])
{
	struct sl_client_cfg cc;

	make_client(&cc, "fixed", 100);
	cc.has_addr = true;
	cc.addr = ip("10.66.0.3");
	peers[0] = registry_add_peer(r, &cc);
	for (int i = 1; i < 6; i++) {
		char name[16];
		snprintf(name, sizeof(name), "dyn%d", i);
		make_client(&cc, name, (uint8_t)i);
		peers[i] = registry_add_peer(r, &cc);
	}
}

static void test_registry(void)
{
	struct gw_registry r;
	struct sl_client_cfg cc;
	uint8_t k1[32] = {1}, k2[32] = {2};
	struct gw_peer *p;
	struct gw_session *s1, *s2, *s3;

	CHECK(registry_init(&r) == 0);
	/* many peers: lookups by key and address stay exact through table growth */
	for (int i = 0; i < 3000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "c%d", i);
		make_client(&cc, name, (uint8_t)i);
		cc.pubkey[31] = (uint8_t)(i >> 8);
		cc.pubkey[30] = (uint8_t)i;
		cc.has_addr = true;
		cc.addr.s_addr = htonl(0x0a420000u + 2 + (uint32_t)i);
		CHECK(registry_add_peer(&r, &cc) != NULL);
	}
	CHECK(r.n_peers == 3000);
	make_client(&cc, "c1234", (uint8_t)1234);
	cc.pubkey[31] = (uint8_t)(1234 >> 8);
	cc.pubkey[30] = (uint8_t)1234;
	p = peer_by_key(&r, cc.pubkey);
	CHECK(p && !strcmp(p->name, "c1234"));
	CHECK(peer_by_addr(&r, htonl(0x0a420000u + 2 + 1234)) == p);
	CHECK(peer_by_addr(&r, htonl(0x0a430000u)) == NULL);

	/* sessions: ids unique, rekey keeps the previous one for the grace period, reap frees it after */
	s1 = session_create(&r, p, session_new_id(&r), k1, k2, 60000);
	CHECK(s1 && p->cur == s1 && session_by_id(&r, s1->id) == s1);
	s1->ep.sa.sa_family = AF_INET;
	s1->ep_len = sizeof(struct sockaddr_in);
	s1->ep_seen_ms = 42;
	s1->c[0].rx_packets = 5;
	s2 = session_create(&r, p, session_new_id(&r), k1, k2, 60000);
	CHECK(s2 && s2->id != s1->id && p->cur == s2 && p->prev == s1);
	CHECK(s2->ep_seen_ms == 42); /* endpoint carried over until the client speaks under the new key */
	CHECK(session_by_id(&r, s1->id) == s1 && session_by_id(&r, s2->id) == s2);
	uint32_t id1 = s1->id;
	s3 = session_create(&r, p, session_new_id(&r), k1, k2, 60000); /* frees s1 */
	CHECK(p->prev == s2 && p->cur == s3 && session_by_id(&r, id1) == NULL); /* oldest freed */
	struct dp_peer_counters pc;
	peer_counters(p, &pc);
	CHECK(pc.rx_packets == 5); /* counters of freed sessions survive */
	CHECK(registry_reap(&r, now_ms()) == 0);
	/* issue #25: a worker stamps last_seen_ms with its own clock, a millisecond ahead of the `now` the reaper
	 * read before its loop: the session was just heard from, not silent for 2^64 ms */
	s3->last_seen_ms = now_ms() + 1;
	CHECK(registry_reap(&r, s3->last_seen_ms - 1) == 0 && p->cur == s3);
	CHECK(ms_since(10, 5) == 0 && ms_since(5, 10) == 5);
	CHECK(registry_reap(&r, p->prev_until_ms) == 1 && p->prev == NULL && p->cur == s3);
	CHECK(registry_reap(&r, s3->last_seen_ms + SL_SESSION_IDLE_MS) == 1 && p->cur == NULL);
	registry_remove_peer(&r, p);
	CHECK(peer_by_key(&r, cc.pubkey) == NULL && r.n_peers == 2999);
	registry_free(&r);
}

static int count_lease(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a)
{
	(*(int *)arg)++;
	return 0;
}

static void test_pool(void)
{
	char dir[] = "/tmp/sluice-pool-XXXXXX", path[256];
	struct sl_prefix4 pfx = {.addr = ip("10.66.0.1"), .len = 29}; /* .0 net .1 gw .2-.6 hosts .7 bcast */
	struct gw_registry r;
	struct pool p;
	struct sl_err e = {{0}};
	struct sl_client_cfg cc;
	struct gw_peer *peers[6];
	int n = 0;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(registry_init(&r) == 0);
	add_fixed_and_five(&r, peers);
	CHECK(pool_init(&p, &pfx, dir, "slt0", &r, &e) == 0);
	CHECK(pool_assign(&p, &r, peers[1], &e) == 0 && peers[1]->addr.s_addr == ip("10.66.0.2").s_addr);
	CHECK(pool_assign(&p, &r, peers[2], &e) == 0 && peers[2]->addr.s_addr == ip("10.66.0.4").s_addr);
	CHECK(pool_assign(&p, &r, peers[3], &e) == 0 && peers[3]->addr.s_addr == ip("10.66.0.5").s_addr);
	CHECK(pool_assign(&p, &r, peers[4], &e) == 0 && peers[4]->addr.s_addr == ip("10.66.0.6").s_addr);
	CHECK(pool_assign(&p, &r, peers[5], &e) == -ENOSPC);
	CHECK_STR_CONTAINS(e.msg, "no free address left for client 'dyn5'");
	pool_free(&p);
	registry_free(&r);

	/* a restart: the same keys get the same addresses from the lease file, even in another order */
	CHECK(registry_init(&r) == 0);
	for (int i = 4; i >= 1; i--) {
		char name[16];
		snprintf(name, sizeof(name), "dyn%d", i);
		make_client(&cc, name, (uint8_t)i);
		peers[i] = registry_add_peer(&r, &cc);
	}
	CHECK(pool_init(&p, &pfx, dir, "slt0", &r, &e) == 0);
	CHECK(peers[1]->addr.s_addr == ip("10.66.0.2").s_addr && peers[4]->addr.s_addr == ip("10.66.0.6").s_addr);
	pool_free(&p);
	registry_free(&r);

	snprintf(path, sizeof(path), "%s/slt0.leases", dir);
	FILE *f = fopen(path, "r");
	char text[4096] = "";
	size_t len = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	CHECK(pool_parse_leases(text, len, path, count_lease, &n, &e) == 0 && n == 4);
	struct stat st;
	snprintf(path, sizeof(path), "%s/slt0.leases.tmp", dir);
	CHECK(stat(path, &st) != 0); /* no temp file left behind */

	/* malformed and conflicting lease files are refused with file:line */
	const char *bad = "# c\nnot-a-key 10.66.0.2\n";
	CHECK(pool_parse_leases(bad, strlen(bad), "x.leases", count_lease, &n, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "x.leases:2: expected");
	snprintf(path, sizeof(path), "%s/slt0.leases", dir);
	f = fopen(path, "a");
	if (f) {
		/* the second lease's key (dyn2, 10.66.0.4) with the first one's address: two clients, one address */
		const char *l1 = strchr(text, '\n') ? strchr(text, '\n') + 1 : "", *l2 = strchr(l1, '\n');
		fprintf(f, "%.44s 10.66.0.2\n", l2 ? l2 + 1 : "");
		fclose(f);
	}
	CHECK(registry_init(&r) == 0);
	CHECK(pool_init(&p, &pfx, dir, "slt0", &r, &e) == -EEXIST);
	CHECK_STR_CONTAINS(e.msg, "duplicate key or address");
	pool_free(&p);
	registry_free(&r);
	unlink(path);
	rmdir(dir);
}

static size_t file_text(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t len = f ? fread(buf, 1, n - 1, f) : 0;

	if (f)
		fclose(f);
	buf[len] = 0;
	return len;
}

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;
	inet_pton(AF_INET6, s, &a);
	return a;
}

static int count_lease6(void *arg, const uint8_t key[SL_KEY_LEN], const struct in6_addr *a)
{
	(*(int *)arg)++;
	return 0;
}

/* The IPv6 pool: its own journal (IFACE.leases6), the lowest free offsets, fixed addresses kept out, the same
 * addresses after a restart in another order, peers found by address; a lease outside the prefix refused. */
static void test_pool6(void)
{
	char dir[] = "/tmp/sluice-pool6-XXXXXX", path[256], text[4096];
	struct sl_prefix6 pfx = {.addr = ip6("fd66::1"), .len = 64};
	struct sl_prefix6 tiny = {.addr = ip6("fd66::1"), .len = 126}; /* ::0 anycast, ::1 gw, ::2-::3 hosts */
	struct gw_registry r;
	struct pool p, p6;
	struct sl_err e = {{0}};
	struct sl_client_cfg cc;
	struct gw_peer *peers[4];
	struct sl_prefix4 pfx4 = {.addr = ip("10.66.0.1"), .len = 24};
	struct in6_addr want;
	int n = 0;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(registry_init(&r) == 0);
	make_client(&cc, "fixed", 100);
	cc.has_addr6 = true;
	cc.addr6 = ip6("fd66::2");
	peers[0] = registry_add_peer(&r, &cc);
	for (int i = 1; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "dyn%d", i);
		make_client(&cc, name, (uint8_t)i);
		peers[i] = registry_add_peer(&r, &cc);
	}
	CHECK(peers[0]->fixed_addr6 && peer_by_addr6(&r, ip6("fd66::2").s6_addr) == peers[0]);
	CHECK(pool_init(&p, &pfx4, dir, "slt6", &r, &e) == 0);
	CHECK(pool_init6(&p6, &pfx, dir, "slt6", &r, &e) == 0);
	for (int i = 1; i < 4; i++)
		CHECK(pool_assign(&p, &r, peers[i], &e) == 0 && pool_assign(&p6, &r, peers[i], &e) == 0);
	want = ip6("fd66::3"); /* ::1 the gateway's, ::2 fixed */
	CHECK(peers[1]->has_addr6 && !memcmp(&peers[1]->addr6, &want, 16));
	want = ip6("fd66::5");
	CHECK(peers[3]->has_addr6 && !memcmp(&peers[3]->addr6, &want, 16));
	CHECK(peers[3]->addr.s_addr == ip("10.66.0.4").s_addr); /* the IPv4 pool on its own */
	CHECK(peer_by_addr6(&r, want.s6_addr) == peers[3] && !peer_by_addr6(&r, ip6("fd67::5").s6_addr));
	CHECK(pool_assign(&p6, &r, peers[3], &e) == 0 && !memcmp(&peers[3]->addr6, &want, 16)); /* idempotent */
	pool_free(&p6);
	pool_free(&p);
	registry_free(&r);

	snprintf(path, sizeof(path), "%s/slt6.leases6", dir);
	size_t len = file_text(path, text, sizeof(text));
	CHECK(pool_parse_leases6(text, len, path, count_lease6, &n, &e) == 0 && n == 3);
	CHECK(strstr(text, " fd66::3\n") && strstr(text, " fd66::5\n"));

	/* a restart, another order: the same addresses from the journal */
	CHECK(registry_init(&r) == 0);
	for (int i = 3; i >= 1; i--) {
		char name[16];
		snprintf(name, sizeof(name), "dyn%d", i);
		make_client(&cc, name, (uint8_t)i);
		peers[i] = registry_add_peer(&r, &cc);
	}
	CHECK(pool_init6(&p6, &pfx, dir, "slt6", &r, &e) == 0);
	want = ip6("fd66::5");
	CHECK(peers[3]->has_addr6 && !memcmp(&peers[3]->addr6, &want, 16) &&
	      peer_by_addr6(&r, want.s6_addr) == peers[3]);
	pool_free(&p6);
	registry_free(&r);

	/* the prefix changed: a lease outside it is refused, not guessed */
	CHECK(registry_init(&r) == 0);
	struct sl_prefix6 other = {.addr = ip6("fd67::1"), .len = 64};
	CHECK(pool_init6(&p6, &other, dir, "slt6", &r, &e) == -ERANGE);
	CHECK_STR_CONTAINS(e.msg, "slt6.leases6:2:");
	registry_free(&r);
	unlink(path);

	/* a full tiny pool: ENOSPC, naming the family */
	CHECK(registry_init(&r) == 0);
	for (int i = 1; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "dyn%d", i);
		make_client(&cc, name, (uint8_t)i);
		peers[i] = registry_add_peer(&r, &cc);
	}
	CHECK(pool_init6(&p6, &tiny, dir, "slt7", &r, &e) == 0);
	CHECK(pool_assign(&p6, &r, peers[1], &e) == 0 && pool_assign(&p6, &r, peers[2], &e) == 0);
	CHECK(pool_assign(&p6, &r, peers[3], &e) == -ENOSPC);
	CHECK_STR_CONTAINS(e.msg, "in the IPv6 pool");
	pool_free(&p6);
	registry_free(&r);
	snprintf(path, sizeof(path), "%s/slt7.leases6", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/slt6.leases", dir);
	unlink(path);
	rmdir(dir);
}

/* The journal after a crash: a torn last line (no newline) was never acknowledged — it is ignored, cut off,
 * and the next lease is appended after the last whole one. A lease whose address became fixed in the config
 * is skipped (that client gets a new address, no duplicate). Thousands of leases load and look up in O(1). */
static void test_pool_journal(void)
{
	char dir[] = "/tmp/sluice-pool-XXXXXX", path[256], text[1 << 16];
	struct sl_prefix4 pfx = {.addr = ip("10.66.0.1"), .len = 20};
	struct gw_registry r;
	struct pool p;
	struct sl_err e = {{0}};
	struct sl_client_cfg cc;
	struct gw_peer *a, *b, *c;
	size_t len;
	int n = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/slt1.leases", dir);
	CHECK(registry_init(&r) == 0);
	make_client(&cc, "a", 1);
	a = registry_add_peer(&r, &cc);
	make_client(&cc, "b", 2);
	b = registry_add_peer(&r, &cc);
	CHECK(pool_init(&p, &pfx, dir, "slt1", &r, &e) == 0);
	CHECK(pool_assign(&p, &r, a, &e) == 0 && a->addr.s_addr == ip("10.66.0.2").s_addr);
	CHECK(pool_assign(&p, &r, b, &e) == 0 && b->addr.s_addr == ip("10.66.0.3").s_addr);
	pool_free(&p);
	registry_free(&r);
	len = file_text(path, text, sizeof(text));
	FILE *f = fopen(path, "a");
	CHECK(f != NULL);
	if (f) {
		fputs("Zm9vYmFy 10.6", f); /* the crash: half a line */
		fclose(f);
	}

	CHECK(registry_init(&r) == 0);
	make_client(&cc, "b", 2);
	cc.has_addr = true;
	cc.addr = ip("10.66.0.2"); /* a's old address is now b's fixed one */
	b = registry_add_peer(&r, &cc);
	make_client(&cc, "a", 1);
	a = registry_add_peer(&r, &cc);
	make_client(&cc, "c", 3);
	c = registry_add_peer(&r, &cc);
	CHECK(pool_init(&p, &pfx, dir, "slt1", &r, &e) == 0);
	CHECK(a->addr.s_addr == 0); /* its lease address is taken by a fixed one: skipped */
	CHECK(b->addr.s_addr == ip("10.66.0.2").s_addr);
	CHECK(file_text(path, text, sizeof(text)) == len); /* the torn line is cut */
	CHECK(pool_assign(&p, &r, c, &e) == 0 && c->addr.s_addr == ip("10.66.0.4").s_addr);
	CHECK(pool_assign(&p, &r, a, &e) == 0 && a->addr.s_addr == ip("10.66.0.5").s_addr);
	pool_free(&p);
	registry_free(&r);
	len = file_text(path, text, sizeof(text));
	CHECK(pool_parse_leases(text, len, path, count_lease, &n, &e) == 0 && n == 4);

	/* b's fixed address leaves the config again: a has two lines now (10.66.0.2, then 10.66.0.5); the later
	 * one is what it has, and the gateway starts */
	CHECK(registry_init(&r) == 0);
	make_client(&cc, "a", 1);
	a = registry_add_peer(&r, &cc);
	make_client(&cc, "b", 2);
	b = registry_add_peer(&r, &cc);
	CHECK(pool_init(&p, &pfx, dir, "slt1", &r, &e) == 0);
	CHECK(a->addr.s_addr == ip("10.66.0.5").s_addr);
	CHECK(b->addr.s_addr == ip("10.66.0.3").s_addr);
	CHECK(pool_assign(&p, &r, b, &e) == 0 && b->addr.s_addr == ip("10.66.0.3").s_addr);
	make_client(&cc, "d", 4);
	c = registry_add_peer(&r, &cc);
	CHECK(pool_assign(&p, &r, c, &e) == 0 && c->addr.s_addr == ip("10.66.0.2").s_addr); /* free again */
	pool_free(&p);
	registry_free(&r);
	CHECK(registry_init(&r) == 0); /* and the file with all of that still loads, each where it was */
	make_client(&cc, "a", 1);
	a = registry_add_peer(&r, &cc);
	make_client(&cc, "d", 4);
	c = registry_add_peer(&r, &cc);
	CHECK(pool_init(&p, &pfx, dir, "slt1", &r, &e) == 0);
	CHECK(a->addr.s_addr == ip("10.66.0.5").s_addr && c->addr.s_addr == ip("10.66.0.2").s_addr);
	pool_free(&p);
	registry_free(&r);

	/* 3000 clients: one appended line each; a restart gives each the same address */
	unlink(path);
	CHECK(registry_init(&r) == 0);
	for (int i = 0; i < 3000; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%d", i);
		make_client(&cc, name, (uint8_t)i);
		cc.pubkey[1] = (uint8_t)(i >> 8);
		CHECK(registry_add_peer(&r, &cc) != NULL);
	}
	CHECK(pool_init(&p, &pfx, dir, "slt1", &r, &e) == 0);
	for (size_t i = 0; i < r.n_peers; i++)
		CHECK(pool_assign(&p, &r, r.peers[i], &e) == 0);
	pool_free(&p);
	for (size_t i = 0; i < r.n_peers; i++)
		peer_set_addr(&r, r.peers[i], (struct in_addr){0});
	CHECK(pool_init(&p, &pfx, dir, "slt1", &r, &e) == 0);
	int same = 0;
	for (size_t i = 0; i < r.n_peers; i++)
		same += r.peers[i]->addr.s_addr == htonl(ntohl(ip("10.66.0.2").s_addr) + (uint32_t)i);
	CHECK(same == 3000);
	pool_free(&p);
	registry_free(&r);
	unlink(path);
	rmdir(dir);
}

/* The group commit (pool_assign_many): the new leases of several clients in one write and one fdatasync,
 * given only once durable; a peer named twice or one that has its address gets nothing new; a group that does
 * not fit or cannot be written gives nobody anything, and the file holds only whole, acknowledged leases. */
static void test_pool_group(void)
{
	char dir[] = "/tmp/sluice-pool-XXXXXX", path[256], text[1 << 17];
	struct sl_prefix4 pfx = {.addr = ip("10.66.0.1"), .len = 29}; /* .0 net .1 gw .2-.6 hosts .7 bcast */
	struct gw_registry r;
	struct pool p;
	struct sl_err e = {{0}};
	struct sl_client_cfg cc;
	struct gw_peer *peers[6], *group[4];
	size_t len;
	int n = 0, fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/slt2.leases", dir);
	CHECK(registry_init(&r) == 0);
	add_fixed_and_five(&r, peers);
	CHECK(pool_init(&p, &pfx, dir, "slt2", &r, &e) == 0);
	len = file_text(path, text, sizeof(text));
	CHECK(pool_needs_lease(&p, peers[1]) && !pool_needs_lease(&p, peers[0]));
	group[0] = peers[1], group[1] = peers[2], group[2] = peers[1], group[3] = peers[0];
	CHECK(pool_assign_many(&p, &r, group, 4, &e) == 0);
	CHECK(peers[1]->addr.s_addr == ip("10.66.0.2").s_addr && peers[2]->addr.s_addr == ip("10.66.0.4").s_addr);
	CHECK(peers[0]->addr.s_addr == ip("10.66.0.3").s_addr);
	CHECK(!pool_needs_lease(&p, peers[1]) && pool_needs_lease(&p, peers[3]));
	CHECK(file_text(path, text, sizeof(text)) > len && text[strlen(text) - 1] == '\n');
	CHECK(pool_parse_leases(text, strlen(text), path, count_lease, &n, &e) == 0 && n == 2); /* dyn1 once */
	CHECK(pool_assign_many(&p, &r, group, 4, &e) == 0); /* all have theirs: nothing written */
	len = file_text(path, text, sizeof(text));
	CHECK(pool_assign_many(&p, &r, group, 0, &e) == 0 && file_text(path, text, sizeof(text)) == len);

	/* three more, two addresses left: nobody gets one, nothing is written, the two are free again */
	group[0] = peers[3], group[1] = peers[4], group[2] = peers[5];
	CHECK(pool_assign_many(&p, &r, group, 3, &e) == -ENOSPC);
	CHECK_STR_CONTAINS(e.msg, "no free address left for client 'dyn5'");
	CHECK(!peers[3]->addr.s_addr && !peers[4]->addr.s_addr && !peers[5]->addr.s_addr);
	CHECK(file_text(path, text, sizeof(text)) == len);
	CHECK(pool_needs_lease(&p, peers[3]) && pool_needs_lease(&p, peers[4]));

	/* the journal cannot be written (a read-only descriptor in its place): nobody gets an address, the file
	 * is as it was, and the two addresses stay taken by nobody (the lines might be on disk after all) until a
	 * restart reads the file — as pool_assign does with one */
	fd = dup(p.fd);
	CHECK(fd >= 0 && dup2(open(path, O_RDONLY | O_CLOEXEC), p.fd) == p.fd);
	CHECK(pool_assign_many(&p, &r, group, 2, &e) < 0);
	CHECK_STR_CONTAINS(e.msg, "state: write");
	CHECK(!peers[3]->addr.s_addr && !peers[4]->addr.s_addr);
	CHECK(dup2(fd, p.fd) == p.fd && close(fd) == 0);
	CHECK(file_text(path, text, sizeof(text)) == len);
	CHECK(pool_assign(&p, &r, peers[3], &e) == -ENOSPC);
	pool_free(&p);
	for (int i = 1; i < 6; i++)
		peer_set_addr(&r, peers[i], (struct in_addr){0});
	CHECK(pool_init(&p, &pfx, dir, "slt2", &r, &e) == 0); /* the restart: the same addresses, .5 .6 free */
	CHECK(peers[1]->addr.s_addr == ip("10.66.0.2").s_addr && peers[2]->addr.s_addr == ip("10.66.0.4").s_addr);
	CHECK(pool_assign_many(&p, &r, group, 2, &e) == 0);
	CHECK(peers[3]->addr.s_addr == ip("10.66.0.5").s_addr && peers[4]->addr.s_addr == ip("10.66.0.6").s_addr);
	pool_free(&p);
	registry_free(&r);
	unlink(path);

	/* 1,000 clients in groups of 256 (SL_CTL_MAX_AUTHED), then a restart: each the same address as alone */
	CHECK(registry_init(&r) == 0);
	pfx.len = 20;
	for (int i = 0; i < 1000; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%d", i);
		make_client(&cc, name, (uint8_t)i);
		cc.pubkey[1] = (uint8_t)(i >> 8);
		CHECK(registry_add_peer(&r, &cc) != NULL);
	}
	CHECK(pool_init(&p, &pfx, dir, "slt2", &r, &e) == 0);
	for (size_t i = 0; i < r.n_peers; i += 256)
		CHECK(pool_assign_many(&p, &r, r.peers + i, r.n_peers - i < 256 ? r.n_peers - i : 256, &e) == 0);
	pool_free(&p);
	for (size_t i = 0; i < r.n_peers; i++)
		peer_set_addr(&r, r.peers[i], (struct in_addr){0});
	CHECK(pool_init(&p, &pfx, dir, "slt2", &r, &e) == 0);
	n = 0;
	for (size_t i = 0; i < r.n_peers; i++)
		n += r.peers[i]->addr.s_addr == htonl(ntohl(ip("10.66.0.2").s_addr) + (uint32_t)i);
	CHECK(n == 1000);
	pool_free(&p);
	registry_free(&r);
	unlink(path);
	rmdir(dir);
}

/* Makes the next appends to the journal at path fail (EFBIG: the process's file size limit is the file's size
 * now) while cutting back to that size still works; restore with *old. */
static void journal_full(const char *path, struct rlimit *old)
{
	struct stat st;

	CHECK(stat(path, &st) == 0 && getrlimit(RLIMIT_FSIZE, old) == 0);
	CHECK(setrlimit(RLIMIT_FSIZE, &(struct rlimit){(rlim_t)st.st_size, old->rlim_max}) == 0);
}

/* A journal write that fails but is cut off again: the lines are provably not on disk, so their addresses
 * are free again (not reserved by nobody until a restart), alone or in a group; a fragment an earlier failed
 * cut left behind is cut before the next append (never glued to a lease), and while it cannot be cut nothing
 * is appended. */
static void test_pool_disk(void)
{
	char dir[] = "/tmp/sluice-pool-XXXXXX", path[256], text[4096];
	struct sl_prefix4 pfx = {.addr = ip("10.66.0.1"), .len = 29}; /* .0 net .1 gw .2-.6 hosts .7 bcast */
	struct gw_registry r;
	struct pool p;
	struct sl_err e = {{0}};
	struct gw_peer *peers[6], *group[2];
	struct rlimit old;
	size_t len;
	int fd, ro;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/slt3.leases", dir);
	CHECK(registry_init(&r) == 0);
	add_fixed_and_five(&r, peers);
	CHECK(pool_init(&p, &pfx, dir, "slt3", &r, &e) == 0);
	signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */

	/* a group of two whose write fails: nobody gets an address, the file is as it was, and the next client
	 * gets the lowest free address (the group's first) */
	len = file_text(path, text, sizeof(text));
	group[0] = peers[1], group[1] = peers[2];
	journal_full(path, &old);
	CHECK(pool_assign_many(&p, &r, group, 2, &e) == -EIO);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK_STR_CONTAINS(e.msg, "state: write");
	CHECK(!peers[1]->addr.s_addr && !peers[2]->addr.s_addr && file_text(path, text, sizeof(text)) == len);
	CHECK(pool_assign(&p, &r, peers[1], &e) == 0 && peers[1]->addr.s_addr == ip("10.66.0.2").s_addr);

	/* one alone: the same */
	len = file_text(path, text, sizeof(text));
	journal_full(path, &old);
	CHECK(pool_assign(&p, &r, peers[2], &e) == -EIO);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK(!peers[2]->addr.s_addr && file_text(path, text, sizeof(text)) == len);
	CHECK(pool_assign(&p, &r, peers[2], &e) == 0 && peers[2]->addr.s_addr == ip("10.66.0.4").s_addr);

	/* a torn fragment (a short write whose cut failed) at the end of the file */
	len = file_text(path, text, sizeof(text));
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0 && write(fd, "abc", 3) == 3 && close(fd) == 0);
	/* while it cannot be cut (a read-only descriptor in the journal's place), nothing is appended and the
	 * address is free again */
	fd = dup(p.fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && ro >= 0 && dup2(ro, p.fd) == p.fd && close(ro) == 0);
	CHECK(pool_assign(&p, &r, peers[3], &e) == -EIO);
	CHECK_STR_CONTAINS(e.msg, "unfinished line");
	CHECK(dup2(fd, p.fd) == p.fd && close(fd) == 0);
	CHECK(!peers[3]->addr.s_addr && file_text(path, text, sizeof(text)) == len + 3);
	/* then it is cut first, and the lease is a line of its own */
	CHECK(pool_assign(&p, &r, peers[3], &e) == 0 && peers[3]->addr.s_addr == ip("10.66.0.5").s_addr);
	file_text(path, text, sizeof(text));
	CHECK(!strstr(text, "abc") && text[strlen(text) - 1] == '\n');
	pool_free(&p);

	/* the restart reads every lease */
	for (int i = 1; i < 6; i++)
		peer_set_addr(&r, peers[i], (struct in_addr){0});
	CHECK(pool_init(&p, &pfx, dir, "slt3", &r, &e) == 0);
	CHECK(peers[1]->addr.s_addr == ip("10.66.0.2").s_addr && peers[2]->addr.s_addr == ip("10.66.0.4").s_addr);
	CHECK(peers[3]->addr.s_addr == ip("10.66.0.5").s_addr && !peers[4]->addr.s_addr);
	pool_free(&p);
	signal(SIGXFSZ, SIG_DFL);
	registry_free(&r);
	unlink(path);
	rmdir(dir);
}

static bool take(struct rate_bucket *tab, uint32_t seed, uint32_t a4, uint64_t t)
{
	struct rate_src s = {{a4, 0}, 4};

	return rate_take(tab, 64, seed, &s, t, 50, 100);
}

/* The control port's per-source handshake budget: a burst, then the rate; sources apart; IPv6 per /64. */
static void test_ratelimit(void)
{
	static struct rate_bucket tab[64];
	struct sockaddr_storage a6 = {0}, b6 = {0};
	uint32_t a = ip("198.18.0.7").s_addr, b = ip("198.18.0.8").s_addr;
	int ok = 0;

	for (int i = 0; i < 150; i++)
		ok += take(tab, 7, a, 1000);
	CHECK(ok == 100); /* the burst, then nothing within the same millisecond */
	CHECK(take(tab, 7, b, 1000)); /* another source has its own bucket */
	CHECK(!take(tab, 7, a, 1019)); /* 19 ms at 50/s: 0.95 of a token */
	CHECK(take(tab, 7, a, 1020));  /* 20 ms: one */
	CHECK(!take(tab, 7, a, 1020));
	ok = 0;
	for (uint64_t t = 2000; t < 12000; t += 5) /* a tight loop for 10 s: 50/s get through */
		ok += take(tab, 7, a, t);
	CHECK(ok >= 495 && ok <= 551);
	CHECK(take(tab, 7, a, 60000)); /* idle long enough: the whole burst again */

	a6.ss_family = b6.ss_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2::1", &((struct sockaddr_in6 *)&a6)->sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &((struct sockaddr_in6 *)&b6)->sin6_addr);
	{
		struct rate_src x = rate_src(&a6), y = rate_src(&b6);
		CHECK(rate_src_eq(&x, &y)); /* one /64, one budget */
	}
	inet_pton(AF_INET6, "2001:db8:1:3::1", &((struct sockaddr_in6 *)&b6)->sin6_addr);
	{
		struct rate_src x = rate_src(&a6), y = rate_src(&b6);
		CHECK(!rate_src_eq(&x, &y));
	}
	/* the whole /64 is kept, not a 32-bit digest of it: two /64s the former digest h32_mix(w0 ^ h32_mix(w1))
	 * made one source (w1 = 0, and w0 ^ h32_mix(1) with w1 = 1) are two */
	{
		uint32_t w0 = htonl(0x20010db8u), w1 = htonl(1);
		struct rate_src x, y;
		memcpy(&((struct sockaddr_in6 *)&a6)->sin6_addr, (uint32_t[4]){w0, 0, 0, htonl(1)}, 16);
		memcpy(&((struct sockaddr_in6 *)&b6)->sin6_addr, (uint32_t[4]){w0 ^ h32_mix(w1), w1, 0, htonl(1)}, 16);
		CHECK(h32_mix(w0 ^ h32_mix(0)) == h32_mix((w0 ^ h32_mix(w1)) ^ h32_mix(w1)));
		x = rate_src(&a6);
		y = rate_src(&b6);
		CHECK(x.fam == 6 && y.fam == 6);
		CHECK(!rate_src_eq(&x, &y));
	}
	/* IPv4 clients of a dual-stack listener (::ffff:a.b.c.d): each its own budget, the same as over IPv4 */
	inet_pton(AF_INET6, "::ffff:198.18.0.2", &((struct sockaddr_in6 *)&a6)->sin6_addr);
	inet_pton(AF_INET6, "::ffff:198.18.0.3", &((struct sockaddr_in6 *)&b6)->sin6_addr);
	{
		struct rate_src x = rate_src(&a6), y = rate_src(&b6);
		CHECK(!rate_src_eq(&x, &y));
	}
	{
		struct sockaddr_storage v4 = {.ss_family = AF_INET};
		struct rate_src x = rate_src(&a6), y;
		inet_pton(AF_INET, "198.18.0.2", &((struct sockaddr_in *)&v4)->sin_addr);
		y = rate_src(&v4);
		CHECK(rate_src_eq(&x, &y));
	}
}

/* A victim's budget cannot be drained from another address, even one that shares its set of buckets: found
 * here by search, which an attacker cannot do without the per-process seed (the sets differ per seed). */
static void test_ratelimit_collide(void)
{
	static struct rate_bucket tab[64];
	const uint32_t seed = 0x5eed1234u;
	uint32_t victim = ip("198.18.0.7").s_addr, col[RATE_WAYS];
	struct rate_src v = {{victim, 0}, 4};
	unsigned n = 0, moved = 0;
	int ok = 0;

	for (uint32_t i = 1; n < RATE_WAYS && i < 1000000; i++) {
		struct rate_src s = {{htonl(0xc6120000u + i), 0}, 4}; /* 198.18.x.y */
		if (s.w[0] != victim && rate_set(64, seed, &s) == rate_set(64, seed, &v))
			col[n++] = s.w[0];
	}
	CHECK_EQ_INT(n, RATE_WAYS);
	/* the seed moves the sets: under another one most of those no longer share the victim's */
	for (unsigned i = 0; i < n; i++) {
		struct rate_src s = {{col[i], 0}, 4};
		moved += rate_set(64, seed + 1, &s) != rate_set(64, seed + 1, &v);
	}
	CHECK(moved > 0);

	/* the victim in use, then a colliding attacker drains its own budget: the victim keeps its own */
	CHECK(take(tab, seed, victim, 1000));
	for (int i = 0; i < 300; i++)
		ok += take(tab, seed, col[0], 1000);
	CHECK_EQ_INT(ok, 100);
	CHECK(!take(tab, seed, col[0], 1000));
	for (int i = 0; i < 99; i++)
		CHECK(take(tab, seed, victim, 1000));
	CHECK(!take(tab, seed, victim, 1000)); /* its own 100, used up by itself */
	/* a source arriving first, drained by a collider arriving after: untouched either way round */
	memset(tab, 0, sizeof(tab));
	for (int i = 0; i < 150; i++)
		(void)take(tab, seed, col[1], 2000);
	CHECK(take(tab, seed, victim, 2000));
	/* every bucket of the set busy with other drained sources: a newcomer is refused, never handed their
	 * (empty) tokens, and gets a bucket of its own once one of them is idle (full again, 2 s at 50/s) */
	memset(tab, 0, sizeof(tab));
	for (unsigned k = 0; k < RATE_WAYS; k++)
		for (int i = 0; i < 100; i++)
			CHECK(take(tab, seed, col[k], 3000));
	CHECK(!take(tab, seed, victim, 3000));
	CHECK(!take(tab, seed, victim, 4000)); /* 1 s: each holds 50, none is idle */
	CHECK(take(tab, seed, victim, 5000));
	for (int i = 0; i < 99; i++)
		CHECK(take(tab, seed, victim, 5000)); /* a whole burst of its own */
	CHECK(!take(tab, seed, victim, 5000));
	CHECK(take(tab, seed, col[1], 5000)); /* and the others keep theirs */
}

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage a = {0};

	if (strchr(s, ':')) {
		a.ss_family = AF_INET6;
		inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)&a)->sin6_addr);
	} else {
		a.ss_family = AF_INET;
		inet_pton(AF_INET, s, &((struct sockaddr_in *)&a)->sin_addr);
	}
	return a;
}

/* owners for the slots: any distinct pointers */
static char owners[100000];

static void test_preauth_keys(void)
{
	struct preauth_key s1, g1, s2, g2;
	struct sockaddr_storage a, b;

	a = sa("198.18.7.9"), b = sa("::ffff:198.18.7.9");
	preauth_keys(&a, &s1, &g1);
	preauth_keys(&b, &s2, &g2);
	CHECK(!memcmp(&s1, &s2, sizeof(s1)) && !memcmp(&g1, &g2, sizeof(g1))); /* mapped IPv4 is IPv4 */
	CHECK(s1.plen == 32 && g1.plen == 24 && memcmp(&s1, &g1, sizeof(s1)));
	b = sa("198.18.7.200");
	preauth_keys(&b, &s2, &g2);
	CHECK(memcmp(&s1, &s2, sizeof(s1)) && !memcmp(&g1, &g2, sizeof(g1))); /* one /24, two sources */
	a = sa("2001:db8:1:2::1"), b = sa("2001:db8:1:2:ffff:1:2:3");
	preauth_keys(&a, &s1, &g1);
	preauth_keys(&b, &s2, &g2);
	CHECK(!memcmp(&s1, &s2, sizeof(s1)) && s1.plen == 64 && g1.plen == 48); /* one /64, one source */
	b = sa("2001:db8:1:3::1");
	preauth_keys(&b, &s2, &g2);
	CHECK(memcmp(&s1, &s2, sizeof(s1)) && !memcmp(&g1, &g2, sizeof(g1))); /* another /64 of the /48 */
	b = sa("2001:db8:2:2::1");
	preauth_keys(&b, &s2, &g2);
	CHECK(memcmp(&g1, &g2, sizeof(g1)));
}

/* Counts against a brute-force model through many admissions and releases (the chains stay intact). */
static void test_preauth_counts(void)
{
	static struct preauth pa;
	static int slot_of[PREAUTH_SLOTS];
	static struct sockaddr_storage addr[PREAUTH_SLOTS];
	int live = 0;
	uint32_t rnd = 12345;

	preauth_init(&pa, 7);
	for (int step = 0; step < 20000; step++) {
		rnd = rnd * 1103515245u + 12345u;
		if (live < (int)PREAUTH_SLOTS && (live == 0 || (rnd >> 16) % 3)) {
			char a[64];
			if ((rnd >> 8) & 1)
				snprintf(a, sizeof(a), "198.%u.%u.%u", 18 + (rnd >> 20) % 2, (rnd >> 12) % 4, (rnd >> 4) % 6);
			else
				snprintf(a, sizeof(a), "2001:db8:%x:%x::%x", (rnd >> 20) % 3, (rnd >> 12) % 3, (rnd >> 4) % 5);
			addr[live] = sa(a);
			slot_of[live] = preauth_add(&pa, &addr[live], &owners[step]);
			CHECK(slot_of[live] >= 0);
			live++;
		} else {
			int k = (int)((rnd >> 16) % (unsigned)live);
			preauth_del(&pa, slot_of[k]);
			slot_of[k] = slot_of[live - 1];
			addr[k] = addr[live - 1];
			live--;
		}
		if (step % 97)
			continue;
		for (int k = 0; k < live; k++) {
			struct preauth_key s, g, s2, g2;
			unsigned ns = 0, ng = 0;
			preauth_keys(&addr[k], &s, &g);
			for (int j = 0; j < live; j++) {
				preauth_keys(&addr[j], &s2, &g2);
				ns += !memcmp(&s, &s2, sizeof(s));
				ng += !memcmp(&g, &g2, sizeof(g));
			}
			CHECK_EQ_INT(preauth_held(&pa, &s), ns);
			CHECK_EQ_INT(preauth_held(&pa, &g), ng);
		}
		CHECK_EQ_INT(pa.n, live);
	}
	while (live)
		preauth_del(&pa, slot_of[--live]);
	CHECK(pa.n == 0 && pa.n_free == PREAUTH_SLOTS);
	for (unsigned b = 0; b < PREAUTH_BUCKETS; b++)
		CHECK(pa.bucket[b] == -1);
}

/* Fills every slot from `n_src` sources (a /24 each) round robin, as the gateway would: a source at its cap is
 * refused, a full table evicts. Returns the number evicted; *refused counts refusals. */
static unsigned flood(struct preauth *pa, unsigned n_src, unsigned arrivals, unsigned *refused, void *keep,
		      bool *kept)
{
	unsigned evicted = 0;

	for (unsigned i = 0; i < arrivals; i++) {
		char a[32];
		struct sockaddr_storage s;
		void *v;
		snprintf(a, sizeof(a), "198.19.%u.1", i % n_src);
		s = sa(a);
		if (preauth_source_full(pa, &s)) {
			(*refused)++;
			continue;
		}
		if ((v = preauth_victim(pa, &s))) {
			if (v == keep)
				*kept = false;
			for (int k = 0; k < (int)PREAUTH_SLOTS; k++)
				if (pa->slot[k].owner == v)
					preauth_del(pa, k);
			evicted++;
		}
		CHECK(preauth_add(pa, &s, &owners[1000 + i % 90000]) >= 0);
	}
	return evicted;
}

static void test_preauth_eviction(void)
{
	static struct preauth pa;
	struct sockaddr_storage me = sa("::ffff:198.18.0.2"), s;
	unsigned refused = 0;
	bool kept = true;
	void *v;

	preauth_init(&pa, 99);
	/* one source: its cap, then refusals; the table never fills */
	CHECK(flood(&pa, 1, 100, &refused, NULL, &kept) == 0 && refused == 100 - PREAUTH_PER_SOURCE);
	CHECK(pa.n == PREAUTH_PER_SOURCE);
	/* one IPv6 /64 of many addresses is one source */
	for (unsigned i = 0; i < 64; i++) {
		char a[64];
		snprintf(a, sizeof(a), "2001:db8:66::%x", i + 1);
		s = sa(a);
		if (!preauth_source_full(&pa, &s))
			CHECK(preauth_add(&pa, &s, &owners[500 + i]) >= 0);
	}
	CHECK(pa.n == 2 * PREAUTH_PER_SOURCE);

	/* 64 sources in 64 /24s: the table fills, then each arrival evicts; the counts never pass the caps */
	preauth_init(&pa, 99);
	refused = 0;
	CHECK(flood(&pa, 64, 5000, &refused, NULL, &kept) > 0);
	CHECK(pa.n == PREAUTH_SLOTS);
	/* a quiet client arrives: the victim is the busiest source's oldest, never a slot of its own group */
	v = preauth_victim(&pa, &me);
	CHECK(v != NULL);
	for (int k = 0; k < (int)PREAUTH_SLOTS; k++)
		if (pa.slot[k].owner == v)
			preauth_del(&pa, k);
	CHECK(preauth_add(&pa, &me, &owners[0]) >= 0);
	/* … and survives any number of arrivals from the 64 */
	CHECK(flood(&pa, 64, 20000, &refused, &owners[0], &kept) > 0);
	CHECK(kept);

	/* busiest source within the busiest group: one host with 8 of a /24's 16 goes first */
	preauth_init(&pa, 5);
	for (unsigned i = 0; i < 8; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.19.9.%u", 10 + i);
		s = sa(a);
		CHECK(preauth_add(&pa, &s, &owners[10 + i]) >= 0); /* the oldest: 8 hosts, one each */
	}
	s = sa("198.19.9.200");
	for (unsigned i = 0; i < 8; i++)
		CHECK(preauth_add(&pa, &s, &owners[20 + i]) >= 0);
	for (unsigned i = 16; i < PREAUTH_SLOTS; i++) { /* the rest: 240 other /24s, one each */
		char a[32];
		snprintf(a, sizeof(a), "198.%u.%u.1", 20 + i / 200, i % 200);
		s = sa(a);
		CHECK(preauth_add(&pa, &s, &owners[100 + i]) >= 0);
	}
	CHECK(preauth_victim(&pa, &me) == &owners[20]);

	/* more groups than slots, one connection each: only then is the quiet client reachable, and it goes as
	 * the oldest of equals — after PREAUTH_SLOTS - 1 newer arrivals */
	preauth_init(&pa, 6);
	CHECK(preauth_add(&pa, &me, &owners[0]) >= 0);
	for (unsigned i = 1; i < PREAUTH_SLOTS + 300; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.%u.%u.1", 20 + i / 250, i % 250);
		s = sa(a);
		v = preauth_victim(&pa, &s);
		if (v == &owners[0]) {
			CHECK_EQ_INT(i, PREAUTH_SLOTS);
			break;
		}
		if (v)
			for (int k = 0; k < (int)PREAUTH_SLOTS; k++)
				if (pa.slot[k].owner == v)
					preauth_del(&pa, k);
		CHECK(preauth_add(&pa, &s, &owners[100 + i]) >= 0);
	}
}

int main(void)
{
	test_requests();
	test_snapshot_roundtrip();
	test_snapshot_routes();
	test_registry();
	test_reap_wheel();
	test_pool();
	test_pool_journal();
	test_pool_group();
	test_pool_disk();
	test_pool6();
	test_ratelimit();
	test_ratelimit_collide();
	test_preauth_keys();
	test_preauth_counts();
	test_preauth_eviction();
	return check_done("test_control");
}
