/* test_resolve: server names through c-ares in the event loop (daemon/control/resolve.c), against a tiny DNS
 * responder on loopback run by the same loop: the answer arrives through the loop (never inside
 * resolver_start) with the port applied and A + AAAA merged; a resolver that is down fails fast; a cancelled
 * lookup never calls back; resolv.conf parsing picks the nameservers. No network outside loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/control/resolve.h"
#include "tests/unit/check.h"

/* ---- a DNS responder: vpn.test has A 192.0.2.77 and AAAA 2001:db8::77; other names NXDOMAIN */

struct responder {
	struct loop_io io;
	unsigned queries;
	bool silent; /* receive, never answer */
};

static void respond(struct loop_io *io, uint32_t events)
{
	struct responder *rs = (struct responder *)io;
	uint8_t q[512], a[600];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(io->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	size_t qend = 12, len;
	uint16_t type;
	bool known;

	(void)events;
	if (n < 17)
		return;
	rs->queries++;
	if (rs->silent)
		return;
	while (qend < (size_t)n && q[qend])
		qend += q[qend] + 1u;
	qend++; /* the root label */
	if (qend + 4 > (size_t)n)
		return;
	type = (uint16_t)(q[qend] << 8 | q[qend + 1]);
	qend += 4;
	known = !memcmp(q + 12, "\x03vpn\x04test\x00", 10);
	memcpy(a, q, qend);
	a[2] = 0x81;                  /* response, recursion desired */
	a[3] = known ? 0x80 : 0x83;   /* recursion available; NXDOMAIN for unknown names */
	a[6] = 0;
	a[7] = known && (type == 1 || type == 28); /* one answer */
	a[8] = a[9] = a[10] = a[11] = 0;
	len = qend;
	if (a[7]) {
		static const uint8_t v4[4] = {192, 0, 2, 77};
		uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
		v6[15] = 0x77;
		uint8_t rr[12] = {0xc0, 0x0c, 0, (uint8_t)type, 0, 1, 0, 0, 0, 60, 0, type == 1 ? 4 : 16};
		memcpy(a + len, rr, sizeof(rr));
		len += sizeof(rr);
		memcpy(a + len, type == 1 ? v4 : v6, type == 1 ? 4 : 16);
		len += type == 1 ? 4 : 16;
	}
	sendto(io->fd, a, len, 0, (struct sockaddr *)&from, fl);
}

static int responder_open(struct loop *l, struct responder *rs, uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	memset(rs, 0, sizeof(*rs));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || getsockname(fd, (struct sockaddr *)&sin, &sl))
		return -1;
	*port = ntohs(sin.sin_port);
	return loop_add(l, &rs->io, fd, EPOLLIN, respond);
}

/* ---- the lookups */

struct answer {
	int calls;
	struct sl_addrs addrs;
	char err[128];
};

static void on_answer(void *arg, const struct sl_addrs *addrs, const char *err)
{
	struct answer *a = arg;

	a->calls++;
	a->addrs.n = 0;
	a->err[0] = 0;
	if (addrs)
		a->addrs = *addrs;
	if (err)
		snprintf(a->err, sizeof(a->err), "%s", err);
}

static void noop_timer(struct loop_timer *t)
{
	(void)t;
}

/* Runs the loop until the answer came or ms passed. */
static void run_until(struct loop *l, struct answer *a, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	struct loop_timer guard = {0};

	loop_timer_init(l, &guard, noop_timer);
	while (!a->calls && now_ms() < end) {
		loop_timer_set(&guard, now_ms() + 20); /* bounds epoll_wait: an answer is delivered by a timer */
		loop_once(l);
	}
	loop_timer_remove(l, &guard);
}

static bool has(const struct sl_addrs *s, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = {0};

	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
	return addrs_contain(s, &ss);
}

static void test_lookups(void)
{
	struct loop l;
	struct resolver r;
	struct responder rs;
	struct answer a = {0};
	struct sl_err e = {{0}};
	char csv[64], down[64];
	uint16_t port = 0;
	int fd;

	CHECK(loop_init(&l) == 0);
	CHECK(responder_open(&l, &rs, &port) == 0);
	snprintf(csv, sizeof(csv), "127.0.0.1:%u", port);
	CHECK(resolver_init(&r, &l, 0, &e) == 0);

	/* A and AAAA, the port applied; the answer comes from the loop, not from resolver_start */
	CHECK(resolver_start(&r, "vpn.test", 51900, csv, on_answer, &a) == 0);
	CHECK(a.calls == 0);
	CHECK(resolver_start(&r, "vpn.test", 51900, csv, on_answer, &a) == -EBUSY);
	run_until(&l, &a, 5000);
	CHECK(a.calls == 1 && !a.err[0]);
	CHECK(a.addrs.n == 2 && has(&a.addrs, "192.0.2.77", 51900) && has(&a.addrs, "2001:db8::77", 51900));
	CHECK(rs.queries >= 2);

	/* an unknown name: an error, no addresses */
	a.calls = 0;
	CHECK(resolver_start(&r, "nope.test", 1, csv, on_answer, &a) == 0);
	run_until(&l, &a, 5000);
	CHECK(a.calls == 1 && a.err[0] && a.addrs.n == 0);

	/* a resolver that is down (nothing listens: port unreachable) fails fast, not after the timeouts */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	{
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t sl = sizeof(sin);
		bind(fd, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(fd, (struct sockaddr *)&sin, &sl);
		snprintf(down, sizeof(down), "127.0.0.1:%u", ntohs(sin.sin_port));
	}
	close(fd); /* the port is free again: nothing answers there */
	a.calls = 0;
	uint64_t t0 = now_ms();
	CHECK(resolver_start(&r, "vpn.test", 51900, down, on_answer, &a) == 0);
	run_until(&l, &a, 8000);
	CHECK(a.calls == 1 && a.err[0] && now_ms() - t0 < RESOLVE_TRY_TIMEOUT_MS);

	/* cancelled: never called back, and the resolver is free again */
	rs.silent = true;
	a.calls = 0;
	CHECK(resolver_start(&r, "vpn.test", 51900, csv, on_answer, &a) == 0);
	{
		struct loop_timer t = {0};
		loop_timer_init(&l, &t, noop_timer);
		loop_timer_set(&t, now_ms() + 200);
		while (t.due_ms)
			loop_once(&l);
		loop_timer_remove(&l, &t);
	}
	resolver_cancel(&r);
	run_until(&l, &a, 300);
	CHECK(a.calls == 0);
	rs.silent = false;
	CHECK(resolver_start(&r, "vpn.test", 4242, csv, on_answer, &a) == 0);
	run_until(&l, &a, 5000);
	CHECK(a.calls == 1 && has(&a.addrs, "192.0.2.77", 4242));

	/* servers c-ares cannot use are refused before anything is sent */
	CHECK(resolver_start(&r, "vpn.test", 1, "not an address", on_answer, &a) == -EINVAL);

	resolver_close(&r);
	loop_del(&l, &rs.io);
	close(rs.io.fd);
	loop_close(&l);
}

static void test_resolv_conf(void)
{
	char path[] = "/tmp/sluice-resolv-XXXXXX", csv[RESOLVE_CSV_MAX];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("# generated\nsearch example.net\nnameserver 198.18.0.53\n  nameserver\t2001:db8::53  \n"
	      "nameserver fe80::1%eth0\nnameserver not-an-address\noptions rotate\nnameserver 9.9.9.9 # x\n",
	      f);
	fclose(f);
	CHECK(resolv_conf_servers(path, csv, sizeof(csv)) == 3);
	CHECK(!strcmp(csv, "198.18.0.53,[2001:db8::53]:53,9.9.9.9"));
	CHECK(resolv_conf_servers("/nonexistent/resolv.conf", csv, sizeof(csv)) == 0 && csv[0] == 0);
	unlink(path);
}

int main(void)
{
	test_lookups();
	test_resolv_conf();
	return check_done("test_resolve");
}
