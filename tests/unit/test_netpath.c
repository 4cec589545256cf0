/* test_netpath: the debounce that turns a burst of rtnetlink events into one look, the path comparison behind
 * "one log line per change of path" (daemon/netpath.h), and — as root, in a network namespace of its own
 * (unshare), never the host's — the network watch itself (daemon/netwatch.h): 100 route changes in one burst
 * are one look, a link's addresses and its disappearance are seen through libnl's caches. */
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/netpath.h"
#include "daemon/netwatch.h"
#include "tests/unit/check.h"

static void test_debounce_burst(void)
{
	struct debounce d;
	uint64_t t = 1000, due = 0;
	unsigned fired = 0;

	debounce_init(&d, 200, 2000);
	CHECK(!debounce_fire(&d, t)); /* nothing pending */
	/* 100 events 10 ms apart (one second): never quiet for 200 ms, so nothing is due until the last + 200 */
	for (unsigned i = 0; i < 100; i++, t += 10) {
		due = debounce_event(&d, t);
		fired += debounce_fire(&d, t);
	}
	CHECK_EQ_INT(fired, 0);
	CHECK_EQ_INT(due, 1000 + 99 * 10 + 200);
	CHECK(!debounce_fire(&d, due - 1));
	CHECK(debounce_fire(&d, due));
	CHECK(!debounce_fire(&d, due + 1000)); /* once per burst */
	/* the next event starts a new burst */
	CHECK_EQ_INT(debounce_event(&d, 5000), 5200);
	CHECK(debounce_fire(&d, 5200));
}

static void test_debounce_stream(void)
{
	struct debounce d;
	uint64_t t = 10000;
	unsigned fired = 0;

	/* events every 100 ms for 5 s never pause for 200 ms: still looked at every 2 s at the latest */
	debounce_init(&d, 200, 2000);
	for (unsigned i = 0; i < 50; i++, t += 100) {
		uint64_t due = debounce_event(&d, t);
		CHECK(due <= d.first_ms + 2000);
		if (debounce_fire(&d, t))
			fired++;
	}
	CHECK_EQ_INT(fired, 2); /* at 12000 and 14100 (the first event after a look starts the next window) */
	/* a max below the quiet period is raised to it */
	debounce_init(&d, 300, 100);
	CHECK_EQ_INT(debounce_event(&d, 100), 400);
}

static struct netpath path4(int oif, const char *src, const char *gw, unsigned mtu)
{
	struct netpath p;

	memset(&p, 0, sizeof(p));
	p.have = true;
	p.r.family = AF_INET;
	p.r.oif = oif;
	p.underlay = mtu;
	if (src) {
		p.r.have_src = true;
		inet_pton(AF_INET, src, p.r.src);
	}
	if (gw) {
		p.r.have_gw = true;
		inet_pton(AF_INET, gw, p.r.gw);
	}
	return p;
}

static void test_path_same(void)
{
	struct netpath a = path4(2, "198.18.0.2", NULL, 1500), b = a, none;
	char buf[160];

	memset(&none, 0, sizeof(none));
	CHECK(netpath_same(&a, &b));
	CHECK(netpath_same(&none, &none));
	CHECK(!netpath_same(&a, &none));
	b = path4(2, "198.18.2.2", NULL, 1500); /* a new address */
	CHECK(!netpath_same(&a, &b));
	b = path4(2, "198.18.0.2", "198.18.0.1", 1500); /* now through a router */
	CHECK(!netpath_same(&a, &b));
	b = path4(3, "198.18.0.2", NULL, 1500); /* another link */
	CHECK(!netpath_same(&a, &b));
	b = path4(2, "198.18.0.2", NULL, 1400); /* narrower */
	CHECK(!netpath_same(&a, &b));
	b = a;
	memset(b.r.gw, 0xaa, sizeof(b.r.gw)); /* bytes of an attribute the route does not have: not compared */
	CHECK(netpath_same(&a, &b));
	b = path4(2, "198.18.0.2", NULL, 1500);
	b.r.family = AF_INET6;
	CHECK(!netpath_same(&a, &b));

	CHECK(!strcmp(netpath_str(&none, "c0", buf, sizeof(buf)), "no route"));
	a = path4(2, "198.18.2.2", "198.18.2.1", 1500);
	CHECK(!strcmp(netpath_str(&a, "c0", buf, sizeof(buf)), "dev c0 src 198.18.2.2 via 198.18.2.1 mtu 1500"));
	CHECK(!strcmp(netpath_str(&a, NULL, buf, sizeof(buf)), "dev #2 src 198.18.2.2 via 198.18.2.1 mtu 1500"));
}

/* ---- the watch itself, in a namespace of our own */

static unsigned looks;

static void on_settled(struct netwatch *nw, void *arg)
{
	(void)nw;
	(void)arg;
	looks++;
}

static struct loop_timer tick;
static void on_tick(struct loop_timer *t)
{
	loop_timer_set(t, now_ms() + 20); /* bounds every epoll_wait of the loop below */
}

/* Runs the loop for ms milliseconds, or until `looks` reaches until_looks (0: the whole time). */
static void run_loop(struct loop *l, uint64_t ms, unsigned until_looks)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end && !(until_looks && looks >= until_looks))
		if (loop_once(l))
			break;
}

static int sh(const char *cmd)
{
	return system(cmd);
}

static void test_watch(void)
{
	struct sl_err e = {{0}};
	struct netwatch nw;
	struct netwatch_link ln;
	struct loop l;
	FILE *f;
	int ret;

	/* no IPv6 link-local addresses: their duplicate address detection would end in the middle of a burst */
	CHECK_EQ_INT(sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"), 0);
	CHECK_EQ_INT(sh("ip link set lo up && ip link add nw0 type veth peer name nw1 && ip link set nw1 up && ip addr add 198.18.50.1/24 dev nw0 && "
			"ip link set nw0 up"), 0);
	CHECK_EQ_INT(loop_init(&l), 0);
	loop_timer_init(&l, &tick, on_tick);
	loop_timer_set(&tick, now_ms() + 20);
	ret = netwatch_open(&nw, &l, true, on_settled, NULL, &e);
	CHECK_EQ_INT(ret, 0);
	if (ret) {
		fprintf(stderr, "test_netpath: netwatch_open: %s\n", e.msg);
		goto out;
	}
	netwatch_link(&nw, "nw0", &ln);
	CHECK(ln.ifindex > 0);
	CHECK(ln.up);
	CHECK(!strcmp(ln.addrs, "198.18.50.1/24"));
	netwatch_link(&nw, "nosuch0", &ln);
	CHECK_EQ_INT(ln.ifindex, 0);
	run_loop(&l, 600, 0); /* whatever the set-up still reports settles first */
	looks = 0;

	/* 100 route changes in one burst: one look */
	f = fopen("/tmp/test_netpath.batch", "w");
	CHECK(f != NULL);
	if (!f)
		goto out;
	for (int i = 1; i <= 50; i++)
		fprintf(f, "route add 198.18.60.%d/32 dev nw0\n", i);
	for (int i = 1; i <= 50; i++)
		fprintf(f, "route del 198.18.60.%d/32 dev nw0\n", i);
	fclose(f);
	CHECK_EQ_INT(sh("ip -batch /tmp/test_netpath.batch"), 0);
	unlink("/tmp/test_netpath.batch");
	run_loop(&l, 3000, 1);
	CHECK_EQ_INT(looks, 1);
	run_loop(&l, 500, 0); /* more than the quiet period: a second look would come now */
	CHECK_EQ_INT(looks, 1);
	CHECK(nw.events >= 100);

	/* a second address, then the link gone: both seen through the caches */
	CHECK_EQ_INT(sh("ip addr add 198.18.51.1/24 dev nw0"), 0);
	run_loop(&l, 3000, 2);
	CHECK_EQ_INT(looks, 2);
	netwatch_link(&nw, "nw0", &ln);
	CHECK(!strcmp(ln.addrs, "198.18.50.1/24,198.18.51.1/24"));
	CHECK_EQ_INT(sh("ip link del nw0"), 0);
	run_loop(&l, 3000, 3);
	CHECK_EQ_INT(looks, 3);
	netwatch_link(&nw, "nw0", &ln);
	CHECK_EQ_INT(ln.ifindex, 0);
	CHECK(!strcmp(ln.addrs, ""));
out:
	netwatch_close(&nw);
	netwatch_close(&nw); /* twice: harmless */
	loop_timer_remove(&l, &tick);
	loop_close(&l);
}

int main(void)
{
	test_debounce_burst();
	test_debounce_stream();
	test_path_same();
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0)
		test_watch(); /* from here on: this process's own, empty network namespace */
	else
		printf("test_netpath: the network watch part skipped: needs root\n");
	return check_done("test_netpath");
}
