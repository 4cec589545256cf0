/* test_reload: SIGHUP reloads and restarts never give two clients one address (issue #14, DESIGN §10.12).
 * The exact sequence of the issue, the journal cases a restart must read, a kept client's changed Address,
 * then a seeded property test: random adds, removals, Address changes, reloads, handshakes and restarts (the
 * journal read back), checking after every step that no two clients hold one address, that a fixed address
 * is its owner's, and that every lease survives a restart. SLUICE_SEED=N replays one seed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daemon/control/pool.h"
#include "daemon/control/reload.h"
#include "daemon/control/session.h"
#include "tests/unit/check.h"

static struct in_addr ip(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a;
}

static struct in_addr host(unsigned n)
{
	return (struct in_addr){htonl(0x0a420000u + n)};
}

static void client(struct sl_client_cfg *c, unsigned k, const char *fixed)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "c%u", k);
	for (int i = 0; i < SL_KEY_LEN; i++)
		c->pubkey[i] = (uint8_t)(k * 37 + i * 11 + 1);
	if (fixed) {
		c->has_addr = true;
		c->addr = ip(fixed);
	}
}

/* A gateway's start: the registry from the client list, then the pool from the journal (gw_setup). */
static int start(struct gw_registry *r, struct pool *p, const char *dir, const struct sl_client_cfg *cl, size_t n)
{
	struct sl_prefix4 pfx = {.addr = ip("10.66.0.1"), .len = 28}; /* .2 - .14 for clients */
	struct sl_err e = {{0}};
	int ret;

	if (registry_init(r))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!registry_add_peer(r, &cl[i]))
			return -ENOMEM;
	ret = pool_init(p, &pfx, dir, "slr0", r, &e);
	if (ret)
		fprintf(stderr, "pool_init: %s\n", e.msg);
	return ret;
}

static void stop(struct gw_registry *r, struct pool *p)
{
	pool_free(p);
	registry_free(r);
}

static struct gw_peer *peer(struct gw_registry *r, const struct sl_client_cfg *c)
{
	return peer_by_key(r, c->pubkey);
}

static int auth(struct gw_registry *r, struct pool *p, const struct sl_client_cfg *c)
{
	struct sl_err e = {{0}};
	struct gw_peer *q = peer(r, c);

	return q ? pool_assign(p, r, q, &e) : -ENOENT;
}

/* A temp dir template for tests with thousands of leases (an fdatasync each): on tmpfs when there is one. */
static char *fast_dir(char *buf, size_t n)
{
	snprintf(buf, n, "%s/sluice-reload-XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	return buf;
}

static void rm_dir(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/slr0.leases", dir);
	unlink(path);
	rmdir(dir);
}

/* Issue #14: remove client A holding a lease, add B with A's old address fixed, reload, re-add A, reload, A
 * authenticates — A must not get B's address. */
static void test_issue_sequence(void)
{
	char dir[] = "/tmp/sluice-reload-XXXXXX";
	struct sl_client_cfg cl[2];
	struct gw_registry r;
	struct pool p;
	struct reload_stats st;

	CHECK(mkdtemp(dir) != NULL);
	client(&cl[0], 1, NULL); /* A */
	CHECK(start(&r, &p, dir, cl, 1) == 0);
	CHECK(auth(&r, &p, &cl[0]) == 0 && peer(&r, &cl[0])->addr.s_addr == host(2).s_addr);

	client(&cl[0], 2, "10.66.0.2"); /* B takes A's address; A is gone */
	clients_reload(&r, &p, NULL, cl, 1, &st);
	CHECK(st.removed == 1 && st.added == 1 && st.refused == 0);
	CHECK(peer(&r, &cl[0])->addr.s_addr == host(2).s_addr);

	client(&cl[1], 1, NULL); /* A again */
	clients_reload(&r, &p, NULL, cl, 2, &st);
	CHECK(st.added == 1 && st.removed == 0);
	CHECK(peer(&r, &cl[1])->addr.s_addr == 0); /* its lease was dropped for B's fixed address */
	CHECK(auth(&r, &p, &cl[1]) == 0);
	CHECK(peer(&r, &cl[1])->addr.s_addr == host(3).s_addr);
	CHECK(peer(&r, &cl[0])->addr.s_addr == host(2).s_addr);
	CHECK(peer_by_addr(&r, host(2).s_addr) == peer(&r, &cl[0]));
	CHECK(peer_by_addr(&r, host(3).s_addr) == peer(&r, &cl[1]));
	stop(&r, &p);

	/* a restart reads the same from the journal (A's two lines: the later one counts) */
	CHECK(start(&r, &p, dir, cl, 2) == 0);
	CHECK(peer(&r, &cl[0])->addr.s_addr == host(2).s_addr && peer(&r, &cl[1])->addr.s_addr == host(3).s_addr);
	stop(&r, &p);
	/* and without B: A keeps its later address, .2 is free for a newcomer */
	client(&cl[0], 3, NULL);
	CHECK(start(&r, &p, dir, cl, 2) == 0);
	CHECK(peer(&r, &cl[1])->addr.s_addr == host(3).s_addr);
	CHECK(auth(&r, &p, &cl[0]) == 0 && peer(&r, &cl[0])->addr.s_addr == host(2).s_addr);
	stop(&r, &p);
	rm_dir(dir);
}

/* A restart where a client's latest line is now a fixed address: its earlier lease is not its address any
 * more (another client has been given that one since), so the gateway starts and nobody is doubled. */
static void test_restart_latest_line_fixed(void)
{
	char dir[] = "/tmp/sluice-reload-XXXXXX";
	struct sl_client_cfg cl[3];
	struct gw_registry r;
	struct pool p;

	CHECK(mkdtemp(dir) != NULL);
	client(&cl[0], 1, NULL); /* A */
	CHECK(start(&r, &p, dir, cl, 1) == 0);
	CHECK(auth(&r, &p, &cl[0]) == 0 && peer(&r, &cl[0])->addr.s_addr == host(2).s_addr); /* A .2 */
	stop(&r, &p);
	client(&cl[1], 2, "10.66.0.2"); /* B fixed on A's address */
	CHECK(start(&r, &p, dir, cl, 2) == 0);
	CHECK(auth(&r, &p, &cl[0]) == 0 && peer(&r, &cl[0])->addr.s_addr == host(3).s_addr); /* A .3 */
	stop(&r, &p);
	client(&cl[1], 3, NULL); /* B gone, C new: A keeps .3, C gets the free .2 */
	CHECK(start(&r, &p, dir, cl, 2) == 0);
	CHECK(peer(&r, &cl[0])->addr.s_addr == host(3).s_addr);
	CHECK(auth(&r, &p, &cl[1]) == 0 && peer(&r, &cl[1])->addr.s_addr == host(2).s_addr); /* C .2 */
	stop(&r, &p);
	client(&cl[2], 4, "10.66.0.3"); /* D fixed on A's latest address */
	CHECK(start(&r, &p, dir, cl, 3) == 0);
	CHECK(peer(&r, &cl[1])->addr.s_addr == host(2).s_addr && peer(&r, &cl[2])->addr.s_addr == host(3).s_addr);
	CHECK(peer(&r, &cl[0])->addr.s_addr == 0); /* not back on .2, C's */
	CHECK(auth(&r, &p, &cl[0]) == 0 && peer(&r, &cl[0])->addr.s_addr == host(4).s_addr);
	stop(&r, &p);
	rm_dir(dir);
}

/* A kept client whose Address changes is replaced (sessions end); a fixed address held by another registered
 * client is refused, whatever the order of the file; the dynamic ones take their leases first. */
static void test_readdress(void)
{
	char dir[] = "/tmp/sluice-reload-XXXXXX";
	struct sl_client_cfg cl[3];
	struct gw_registry r;
	struct pool p;
	struct reload_stats st;
	struct gw_peer *old;

	CHECK(mkdtemp(dir) != NULL);
	client(&cl[0], 1, NULL);
	client(&cl[1], 2, "10.66.0.9");
	CHECK(start(&r, &p, dir, cl, 2) == 0);
	CHECK(auth(&r, &p, &cl[0]) == 0 && peer(&r, &cl[0])->addr.s_addr == host(2).s_addr);
	old = peer(&r, &cl[0]);
	CHECK(session_create(&r, old, session_new_id(&r), (uint8_t[32]){1}, (uint8_t[32]){2}, 60000) != NULL);

	client(&cl[0], 1, "10.66.0.5"); /* dynamic -> fixed */
	clients_reload(&r, &p, NULL, cl, 2, &st);
	CHECK(st.readdressed == 1 && st.refused == 0);
	CHECK(peer(&r, &cl[0]) != old && peer(&r, &cl[0])->cur == NULL && peer(&r, &cl[0])->fixed_addr);
	CHECK(peer(&r, &cl[0])->addr.s_addr == host(5).s_addr && peer_by_addr(&r, host(2).s_addr) == NULL);

	client(&cl[0], 1, "10.66.0.9"); /* onto B's address: refused, A stays */
	clients_reload(&r, &p, NULL, cl, 2, &st);
	CHECK(st.refused == 1 && st.readdressed == 0 && peer(&r, &cl[0])->addr.s_addr == host(5).s_addr);

	client(&cl[0], 1, NULL); /* back to dynamic: its lease .2 is still its own */
	clients_reload(&r, &p, NULL, cl, 2, &st);
	CHECK(st.readdressed == 1 && !peer(&r, &cl[0])->fixed_addr);
	CHECK(peer(&r, &cl[0])->addr.s_addr == host(2).s_addr);

	/* a new fixed client listed before a re-added dynamic one that leases that address: refused either way */
	client(&cl[2], 1, NULL);
	clients_reload(&r, &p, NULL, &cl[1], 1, &st); /* A removed (keeps its lease .2) */
	client(&cl[0], 3, "10.66.0.2");
	clients_reload(&r, &p, NULL, cl, 3, &st); /* C fixed .2 first in the file, then B, then A again */
	CHECK(st.added == 1 && st.refused == 1);
	CHECK(peer(&r, &cl[2])->addr.s_addr == host(2).s_addr && peer(&r, &cl[0]) == NULL);
	stop(&r, &p);
	rm_dir(dir);
}

/* Dropping leases keeps the index by key exact: 3000 leases, every third one dropped for a fixed address (in
 * the middle of probe runs, the last lease moved into each hole), then every lookup checked. */
static void test_drop_many(void)
{
	char dir[64];
	struct sl_prefix4 wide = {.addr = ip("10.66.0.1"), .len = 20};
	struct sl_client_cfg c;
	struct gw_registry r;
	struct pool p;
	struct sl_err e = {{0}};
	struct gw_peer owner = {.name = "fixed"};
	int ok = 0, gone = 0;

	CHECK(mkdtemp(fast_dir(dir, sizeof(dir))) != NULL);
	CHECK(registry_init(&r) == 0);
	CHECK(pool_init(&p, &wide, dir, "slr0", &r, &e) == 0);
	for (unsigned i = 0; i < 3000; i++) {
		client(&c, i, NULL);
		memset(c.pubkey, 0, 4);
		c.pubkey[0] = (uint8_t)(i & 7); /* 8 distinct hashes: long probe runs that wrap around */
		c.pubkey[4] = (uint8_t)(i >> 8);
		c.pubkey[5] = (uint8_t)i;
		struct gw_peer *q = registry_add_peer(&r, &c);
		CHECK(q && pool_assign(&p, &r, q, &e) == 0);
	}
	for (size_t i = 0; i < r.n_peers; i += 3) {
		owner.addr = r.peers[i]->addr;
		pool_reserve_fixed(&p, &owner);
	}
	for (size_t i = 0; i < r.n_peers; i++) {
		struct in_addr a;
		bool has = pool_lease_addr(&p, r.peers[i]->pubkey, &a);
		if (i % 3 == 0)
			gone += !has;
		else
			ok += has && a.s_addr == r.peers[i]->addr.s_addr;
	}
	CHECK_EQ_INT(gone, 1000);
	CHECK_EQ_INT(ok, 2000);
	CHECK_EQ_INT(p.n_leases, 2000);
	pool_free(&p);
	registry_free(&r);
	rm_dir(dir);
}

/* ---- the property test ---- */

#define PT_KEYS 12
#define PT_HOSTS 13 /* .2 - .14 */

struct model {
	bool present[PT_KEYS];
	char fixed[PT_KEYS][16]; /* "" dynamic */
};

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((rng_state >> 33) % n);
}

static char pt_msg[512], pt_where[128];

static bool __attribute__((format(printf, 1, 2))) violated(const char *fmt, ...)
{
	va_list ap;

	if (!pt_msg[0]) {
		va_start(ap, fmt);
		vsnprintf(pt_msg, sizeof(pt_msg), fmt, ap);
		va_end(ap);
	}
	return false;
}

/* The configured clients, in a random order (the result must not depend on it). */
static size_t config(const struct model *m, struct sl_client_cfg *cl)
{
	size_t n = 0;

	for (unsigned k = 0; k < PT_KEYS; k++)
		if (m->present[k])
			client(&cl[n++], k, m->fixed[k][0] ? m->fixed[k] : NULL);
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd((unsigned)i);
		struct sl_client_cfg t = cl[i - 1];
		cl[i - 1] = cl[j];
		cl[j] = t;
	}
	return n;
}

static bool fixed_taken(const struct model *m, unsigned self, const char *a)
{
	for (unsigned k = 0; k < PT_KEYS; k++)
		if (k != self && m->present[k] && !strcmp(m->fixed[k], a))
			return true;
	return false;
}

static void pick_address(struct model *m, unsigned k)
{
	char a[16];

	m->fixed[k][0] = 0;
	if (rnd(5) < 2) {
		snprintf(a, sizeof(a), "10.66.0.%u", 2 + rnd(PT_HOSTS));
		if (!fixed_taken(m, k, a)) /* config_load refuses duplicate fixed addresses */
			snprintf(m->fixed[k], sizeof(m->fixed[k]), "%s", a);
	}
}

/* What must hold at every moment. */
static bool invariants(const struct gw_registry *r, const struct pool *p)
{
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct gw_peer *a = r->peers[i];
		struct in_addr l;
		if (!a->addr.s_addr) {
			if (a->fixed_addr)
				return violated("fixed client '%s' without its address", a->name);
			continue;
		}
		if (peer_by_addr(r, a->addr.s_addr) != a)
			return violated("'%s': the address table does not point at it", a->name);
		for (size_t j = 0; j < i; j++)
			if (r->peers[j]->addr.s_addr == a->addr.s_addr)
				return violated("'%s' and '%s' both hold %s", a->name, r->peers[j]->name,
						inet_ntoa(a->addr));
		if (!a->fixed_addr && (!pool_lease_addr(p, a->pubkey, &l) || l.s_addr != a->addr.s_addr))
			return violated("dynamic '%s' holds %s, which is not its lease", a->name, inet_ntoa(a->addr));
		for (size_t j = 0; j < p->n_leases; j++)
			if (p->leases[j].addr.s_addr == a->addr.s_addr &&
			    memcmp(p->leases[j].key, a->pubkey, SL_KEY_LEN))
				return violated("another key's lease sits on '%s''s %s", a->name, inet_ntoa(a->addr));
	}
	for (size_t i = 0; i < p->n_leases; i++) {
		uint32_t off = ntohl(p->leases[i].addr.s_addr) - p->net;
		if (off >= p->size || !p->used[off])
			return violated("lease %zu on an address the pool thinks free", i);
		for (size_t j = 0; j < i; j++)
			if (p->leases[j].addr.s_addr == p->leases[i].addr.s_addr)
				return violated("two leases on %s", inet_ntoa(p->leases[i].addr));
	}
	return true;
}

/* After a reload or a start: the registry is the configuration, but for refusals that name their reason. */
static bool applied(const struct model *m, const struct gw_registry *r, bool restarted)
{
	size_t n = 0;

	for (unsigned k = 0; k < PT_KEYS; k++) {
		struct sl_client_cfg c;
		const struct gw_peer *q;
		if (!m->present[k])
			continue;
		client(&c, k, m->fixed[k][0] ? m->fixed[k] : NULL);
		q = peer_by_key(r, c.pubkey);
		n += q != NULL;
		if (c.has_addr && !(q && q->fixed_addr && q->addr.s_addr == c.addr.s_addr)) {
			const struct gw_peer *h = peer_by_addr(r, c.addr.s_addr);
			if (restarted || !h || h == q)
				return violated("'%s' is not on its fixed address %s", c.name, m->fixed[k]);
		}
		if (!c.has_addr && (!q || q->fixed_addr))
			return violated("dynamic '%s' missing or still fixed", c.name);
	}
	if (n != r->n_peers)
		return violated("%zu clients registered, %zu of them configured", r->n_peers, n);
	return true;
}

/* Every lease (the registry's dynamic addresses included) is there after a restart, but where a fixed
 * address of the configuration took it. */
static bool survived(const struct model *m, const struct pool_lease *before, size_t n, const struct pool *p)
{
	for (size_t i = 0; i < n; i++) {
		struct in_addr l;
		char a[INET_ADDRSTRLEN];
		bool fixed = false;
		inet_ntop(AF_INET, &before[i].addr, a, sizeof(a));
		for (unsigned k = 0; k < PT_KEYS; k++)
			fixed |= m->present[k] && !strcmp(m->fixed[k], a);
		if (!fixed && (!pool_lease_addr(p, before[i].key, &l) || l.s_addr != before[i].addr.s_addr))
			return violated("the lease on %s did not survive the restart", a);
	}
	return true;
}

static bool property_run(unsigned long long seed, unsigned steps, const char *dir)
{
	struct sl_client_cfg cl[PT_KEYS];
	struct model m;
	struct gw_registry r;
	struct pool p;
	struct reload_stats st;
	size_t n;

	memset(&m, 0, sizeof(m));
	memset(cl, 0, sizeof(cl));
	rng_state = seed;
	if (start(&r, &p, dir, cl, 0))
		return violated("first start failed");
	for (unsigned step = 0; step < steps; step++) {
		unsigned k = rnd(PT_KEYS), op = rnd(100);
		bool ok = true;
		if (op < 20) { /* the file: a client added */
			if (!m.present[k]) {
				m.present[k] = true;
				pick_address(&m, k);
			}
		} else if (op < 32) { /* the file: a client removed */
			m.present[k] = false;
		} else if (op < 44) { /* the file: a client's Address changed (or added, or removed) */
			if (m.present[k])
				pick_address(&m, k);
		} else if (op < 64) { /* SIGHUP */
			n = config(&m, cl);
			clients_reload(&r, &p, NULL, cl, n, &st);
			ok = applied(&m, &r, false);
		} else if (op < 92) { /* a client authenticates */
			struct gw_peer *q;
			struct in_addr had;
			client(&cl[0], k, NULL);
			q = peer_by_key(&r, cl[0].pubkey);
			if (q) {
				had = q->addr;
				int ret = auth(&r, &p, &cl[0]);
				if (ret && ret != -ENOSPC)
					ok = violated("handshake of '%s': %s", q->name, strerror(-ret));
				else if (had.s_addr && q->addr.s_addr != had.s_addr)
					ok = violated("'%s' moved on a handshake", q->name);
				else if (!ret && !q->addr.s_addr)
					ok = violated("'%s' authenticated without an address", q->name);
			}
		} else { /* stop (or crash: the journal is durable either way) and start */
			size_t nl = p.n_leases;
			struct pool_lease *before = malloc((nl + 1) * sizeof(*before));
			if (!before)
				return violated("out of memory");
			if (nl)
				memcpy(before, p.leases, nl * sizeof(*before));
			stop(&r, &p);
			n = config(&m, cl);
			if (start(&r, &p, dir, cl, n)) {
				free(before);
				violated("the gateway did not start");
				snprintf(pt_where, sizeof(pt_where), "seed %llu step %u", seed, step);
				return false;
			}
			ok = survived(&m, before, nl, &p) && applied(&m, &r, true);
			free(before);
		}
		if (!ok || !invariants(&r, &p)) {
			snprintf(pt_where, sizeof(pt_where), "seed %llu step %u (op %u, key %u)", seed, step, op, k);
			stop(&r, &p);
			return false;
		}
	}
	stop(&r, &p);
	return true;
}

struct pt_report {
	unsigned long long seed;
	char where[sizeof(pt_where)], msg[sizeof(pt_msg)];
};

/* Seeds 1-300, 400 steps each, in a child whose log lines go nowhere (thousands of them): it reports each seed
 * before running it, so a crash (a sanitizer's abort) still names the seed. SLUICE_SEED=N runs one seed here,
 * with its log. */
static void test_property(void)
{
	const char *env = getenv("SLUICE_SEED");
	char dir[64];
	struct pt_report rep = {0};
	int fds[2], status = 0;
	pid_t pid;

	CHECK(mkdtemp(fast_dir(dir, sizeof(dir))) != NULL);
	if (env) {
		bool ok = property_run(strtoull(env, NULL, 10), 400, dir);
		if (!ok)
			fprintf(stderr, "property: %s: %s\n", pt_where, pt_msg);
		CHECK(ok);
		rm_dir(dir);
		return;
	}
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		close(fds[0]);
		for (rep.seed = 1; rep.seed <= 300; rep.seed++) {
			if (write(fds[1], &rep, sizeof(rep)) != sizeof(rep))
				_exit(3);
			if (!property_run(rep.seed, 400, dir)) {
				snprintf(rep.where, sizeof(rep.where), "%s", pt_where);
				snprintf(rep.msg, sizeof(rep.msg), "%s", pt_msg);
				_exit(write(fds[1], &rep, sizeof(rep)) == sizeof(rep) ? 1 : 3);
			}
			rm_dir(dir);
			mkdir(dir, 0700);
		}
		_exit(0);
	}
	close(fds[1]);
	while (read(fds[0], &rep, sizeof(rep)) == sizeof(rep))
		;
	close(fds[0]);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "property: %s at seed %llu: %s: %s (SLUICE_SEED=%llu replays it with its log)\n",
			WIFEXITED(status) ? "failed" : "crashed", rep.seed, rep.where, rep.msg, rep.seed);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rm_dir(dir);
}

static bool has6(const struct gw_peer *q, const char *want)
{
	struct in6_addr a;
	inet_pton(AF_INET6, want, &a);
	return q && q->has_addr6 && !memcmp(&q->addr6, &a, 16);
}

/* The IPv6 pool through reloads (DESIGN 9, 10.12): a dynamic client keeps its IPv6 lease; a fixed IPv6 address
 * added on a reload readdresses it; one another client holds is refused; a restart reads leases6 back. */
static void test_reload6(void)
{
	char dir[] = "/tmp/sluice-reload6-XXXXXX", path[256];
	struct sl_prefix4 pfx = {.addr = ip("10.66.0.1"), .len = 28};
	struct sl_prefix6 pfx6 = {.len = 64};
	struct sl_client_cfg cl[2];
	struct gw_registry r;
	struct pool p, p6;
	struct reload_stats st;
	struct sl_err e = {{0}};

	inet_pton(AF_INET6, "fd66::1", &pfx6.addr);
	CHECK(mkdtemp(dir) != NULL);
	client(&cl[0], 1, NULL);
	client(&cl[1], 2, NULL);
	CHECK(registry_init(&r) == 0);
	CHECK(registry_add_peer(&r, &cl[0]) && registry_add_peer(&r, &cl[1]));
	CHECK(pool_init(&p, &pfx, dir, "slr6", &r, &e) == 0 && pool_init6(&p6, &pfx6, dir, "slr6", &r, &e) == 0);
	CHECK(pool_assign(&p6, &r, peer(&r, &cl[0]), &e) == 0 && pool_assign(&p6, &r, peer(&r, &cl[1]), &e) == 0);
	CHECK(has6(peer(&r, &cl[0]), "fd66::2") && has6(peer(&r, &cl[1]), "fd66::3"));

	/* A fixed at fd66::9: readdressed; B asks for A's new address: refused, keeps its own */
	cl[0].has_addr6 = true;
	inet_pton(AF_INET6, "fd66::9", &cl[0].addr6);
	clients_reload(&r, &p, &p6, cl, 2, &st);
	CHECK(st.readdressed == 1 && st.refused == 0 && has6(peer(&r, &cl[0]), "fd66::9"));
	CHECK(peer_by_addr6(&r, cl[0].addr6.s6_addr) == peer(&r, &cl[0]));
	cl[1].has_addr6 = true;
	cl[1].addr6 = cl[0].addr6;
	clients_reload(&r, &p, &p6, cl, 2, &st);
	CHECK(st.refused == 1 && has6(peer(&r, &cl[1]), "fd66::3"));
	cl[1].has_addr6 = false;
	clients_reload(&r, &p, &p6, cl, 2, &st);
	CHECK(st.refused == 0 && has6(peer(&r, &cl[1]), "fd66::3")); /* unchanged: its lease */
	pool_free(&p6);
	pool_free(&p);
	registry_free(&r);

	/* a restart: B's lease from leases6, A's fixed address not given to anyone else */
	CHECK(registry_init(&r) == 0);
	CHECK(registry_add_peer(&r, &cl[0]) && registry_add_peer(&r, &cl[1]));
	CHECK(pool_init(&p, &pfx, dir, "slr6", &r, &e) == 0 && pool_init6(&p6, &pfx6, dir, "slr6", &r, &e) == 0);
	CHECK(has6(peer(&r, &cl[0]), "fd66::9") && has6(peer(&r, &cl[1]), "fd66::3"));
	pool_free(&p6);
	pool_free(&p);
	registry_free(&r);
	snprintf(path, sizeof(path), "%s/slr6.leases", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/slr6.leases6", dir);
	unlink(path);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	test_issue_sequence();
	test_reload6();
	test_restart_latest_line_fixed();
	test_readdress();
	test_drop_many();
	test_property();
	return check_done("test_reload");
}
