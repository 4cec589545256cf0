/* test_subnets: the gateway's client-network table (dataplane/subnets.h) — prefix containment of both
 * families at every kind of length, longest-prefix match whatever the insertion order, and the empty table. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include "daemon/control/session.h"
#include "daemon/dataplane/subnets.h"
#include "tests/unit/check.h"

static struct sl_prefix pfx(const char *s)
{
	struct sl_prefix p;
	CHECK(prefix_parse(s, &p) == 0);
	return p;
}

static bool in4(const char *prefix, const char *addr)
{
	struct sl_prefix p = pfx(prefix);
	struct in_addr a;
	inet_pton(AF_INET, addr, &a);
	return prefix_contains(&p, AF_INET, &a);
}

static bool in6(const char *prefix, const char *addr)
{
	struct sl_prefix p = pfx(prefix);
	struct in6_addr a;
	inet_pton(AF_INET6, addr, &a);
	return prefix_contains(&p, AF_INET6, &a);
}

static void test_contains(void)
{
	CHECK(in4("192.168.50.0/24", "192.168.50.0") && in4("192.168.50.0/24", "192.168.50.255"));
	CHECK(!in4("192.168.50.0/24", "192.168.51.1") && !in4("192.168.50.0/24", "192.168.49.255"));
	CHECK(in4("10.0.0.0/9", "10.127.255.255") && !in4("10.0.0.0/9", "10.128.0.0")); /* partial byte */
	CHECK(in4("10.1.2.3/32", "10.1.2.3") && !in4("10.1.2.3/32", "10.1.2.2"));
	CHECK(in4("0.0.0.0/0", "203.0.113.9"));
	CHECK(in6("fd50::/64", "fd50::1") && in6("fd50::/64", "fd50::ffff:ffff:ffff:ffff"));
	CHECK(!in6("fd50::/64", "fd50:0:0:1::1"));
	CHECK(in6("fd50:8000::/17", "fd50:ffff::1") && !in6("fd50:8000::/17", "fd50:7fff::1"));
	/* a family never matches the other's prefix, whatever its bytes */
	struct sl_prefix p = pfx("10.0.0.0/8");
	struct in6_addr a6;
	inet_pton(AF_INET6, "a00::1", &a6);
	CHECK(!prefix_contains(&p, AF_INET6, &a6));
}

static void test_lookup(void)
{
	int owner[4], err;
	struct sn_entry e[] = {
		{pfx("10.0.0.0/8"), &owner[0]},
		{pfx("10.1.0.0/16"), &owner[1]},
		{pfx("fd50::/64"), &owner[2]},
		{pfx("10.1.2.0/24"), &owner[3]},
	};
	struct sn_table *t = sn_build(e, 4, &err);
	struct in_addr a;
	struct in6_addr a6;

	CHECK(t && err == 0 && t->n == 4);
	inet_pton(AF_INET, "10.1.2.9", &a);
	CHECK(sn_lookup(t, AF_INET, &a) == &owner[3]); /* the longest prefix, though added last */
	inet_pton(AF_INET, "10.1.3.9", &a);
	CHECK(sn_lookup(t, AF_INET, &a) == &owner[1]);
	inet_pton(AF_INET, "10.200.0.1", &a);
	CHECK(sn_lookup(t, AF_INET, &a) == &owner[0]);
	inet_pton(AF_INET, "11.0.0.1", &a);
	CHECK(sn_lookup(t, AF_INET, &a) == NULL);
	inet_pton(AF_INET6, "fd50::7", &a6);
	CHECK(sn_lookup(t, AF_INET6, &a6) == &owner[2]);
	inet_pton(AF_INET6, "fd51::7", &a6);
	CHECK(sn_lookup(t, AF_INET6, &a6) == NULL);
	sn_free(t);

	/* no subnets: no table, and a lookup in none finds nothing */
	CHECK(sn_build(e, 0, &err) == NULL && err == 0);
	CHECK(sn_lookup(NULL, AF_INET, &a) == NULL);
}

static struct in_addr ip4(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a;
}

/* The registry's table, as the data plane's source check and TUN lookup use it: published from every
 * peer's Subnets, a removed peer's entries gone at once (before the peer itself can be freed). */
static void test_registry(void)
{
	struct gw_registry r;
	struct sl_client_cfg a = {.name = "branch", .n_subnets = 2}, b = {.name = "office2", .n_subnets = 1};
	struct gw_peer *pa, *pb;
	struct in_addr x;

	a.pubkey[0] = 1;
	b.pubkey[0] = 2;
	a.subnets[0] = pfx("10.50.0.0/24");
	a.subnets[1] = pfx("10.50.7.0/28");
	b.subnets[0] = pfx("10.50.0.0/16");
	CHECK(registry_init(&r) == 0);
	pa = registry_add_peer(&r, &a);
	pb = registry_add_peer(&r, &b);
	CHECK(pa && pb && pa->n_subnets == 2);
	x = ip4("10.50.0.9");
	CHECK(peer_by_subnet(&r, AF_INET, &x) == NULL); /* not published yet */
	CHECK(registry_publish_subnets(&r) == 0);
	CHECK(peer_by_subnet(&r, AF_INET, &x) == pa);
	x = ip4("10.50.7.3");
	CHECK(peer_by_subnet(&r, AF_INET, &x) == pa);
	x = ip4("10.50.9.1");
	CHECK(peer_by_subnet(&r, AF_INET, &x) == pb);
	registry_remove_peer(&r, pa);
	x = ip4("10.50.0.9");
	CHECK(peer_by_subnet(&r, AF_INET, &x) == pb); /* the shorter prefix of the other client now */
	registry_remove_peer(&r, pb);
	CHECK(peer_by_subnet(&r, AF_INET, &x) == NULL && registry_subnets(&r) == NULL);
	registry_free(&r);
}

int main(void)
{
	test_contains();
	test_lookup();
	test_registry();
	return check_done("test_subnets");
}
