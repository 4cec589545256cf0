/* client: client-mode start-up (kill switch -> TUN -> UDP -> supervisor), the snapshot swap with its host
 * configuration (address, routes, policy rules, DNS — applied once, then only what differs between the old
 * and the new snapshot, e.g. after a failover to a gateway with another pool), the keepalive and liveness
 * timers (DESIGN 10.4: a keepalive is a probe the gateway answers at once; two lost in a row mark the path
 * down), and reverse-order teardown. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/client.h"
#include "daemon/privs.h"
#include "daemon/control/tls.h"
#include "daemon/dplink.h"
#include "daemon/sockets.h"
#include "daemon/status.h"
#include "client-table/cltable.h"
#include "kill-switch/killswitch.h"

#define CL_RESOLV_CONF "/etc/resolv.conf"

/* The key of the server the exchange under way talks to (each [Server] pins its own). */
static bool accept_server_key(void *arg, const uint8_t key[SL_KEY_LEN])
{
	struct cl *c = arg;
	return !memcmp(key, c->cfg->servers[c->sup.tls_srv].pubkey, SL_KEY_LEN);
}

socklen_t cl_udp_dest(const struct cl *c, const struct sockaddr_storage *a, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (a->ss_family == AF_INET && c->udp_family == AF_INET6) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = s4->sin_port;
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff; /* ::ffff:a.b.c.d */
		memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		return sizeof(*s6);
	}
	if (a->ss_family != c->udp_family)
		return 0; /* an IPv6 server on a host without IPv6 */
	memcpy(out, a, a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

void cl_snap_free(struct cl_snap *s)
{
	if (!s)
		return;
	keystate_free(&s->ks);
	free(s);
}

static void snap_free_node(struct qsbr_node *n)
{
	cl_snap_free((struct cl_snap *)((char *)n - offsetof(struct cl_snap, retire)));
}

/* A snapshot no worker can reach any more: freed once none can still hold it. */
static void snap_retire(struct cl *c, struct cl_snap *s)
{
	if (s)
		qsbr_retire(&c->q, &s->retire, snap_free_node);
}

/* Our own MTU: MTU =, else the route to the endpoint's (looked up as our datagrams are routed: with the
 * fwmark, never through the tunnel) less 84. Kept as it was when there is no route now (boot, link down). */
static void derive_own_mtu(struct cl *c)
{
	struct sl_err e = {{0}};
	char ifname[IFNAMSIZ], a[64];
	unsigned underlay, mtu;

	if (c->cfg->mtu) {
		c->own_mtu = c->cfg->mtu;
		c->mtu_source = MTU_SRC_CONFIG;
		return;
	}
	if (mtu_underlay_to(&c->nc, &c->ep, c->ids.mark, &underlay, ifname, &e)) {
		if (!c->own_mtu) {
			c->own_mtu = SLUICE_MTU_DEFAULT;
			c->mtu_source = MTU_SRC_DEFAULT;
			log_warn("mtu: %s; using %u until a route appears", e.msg, c->own_mtu);
		}
		return;
	}
	mtu = mtu_from_underlay(underlay);
	if (mtu != c->own_mtu)
		log_info("mtu %u: the route to %s leaves by %s, which carries %u", mtu,
			 sock_addr_str(&c->ep, a, sizeof(a)), ifname, underlay);
	c->own_mtu = mtu;
	c->mtu_source = MTU_SRC_ROUTE;
}

static int routes6_follow_mtu(struct cl *c, struct sl_err *e);

/* IPv6 on on our TUN: a host hardened with net.ipv6.conf.default.disable_ipv6 = 1 hands it to the new link, and
 * the kernel then refuses ::/0 through it; should that fail, the IPv6 routes are unreachable ones (IPv6 still
 * goes nowhere else: DESIGN 10.2). With no IPv6 in the kernel at all (ipv6.disable=1) there is nothing to route
 * and nothing that could leak. */
static void tun_ipv6_on(struct cl *c)
{
	struct sl_err e = {{0}};
	int ret;

	sysctl_tun_ipv6(c->cfg->ifname, &e); /* first: no link-local address once IPv6 is on */
	ret = sysctl_enable_ipv6(c->cfg->ifname, &e);
	c->no_ipv6 = ret == -EAFNOSUPPORT;
	c->tun_v6 = !ret;
	if (c->no_ipv6)
		log_info("ipv6: %s: no IPv6 routes or rules; no IPv6 can leak", e.msg);
	else if (ret)
		log_warn("ipv6: cannot turn IPv6 on on %s: %s; IPv6 is captured by unreachable routes instead",
			 c->cfg->ifname, e.msg);
}

/* The TUN's own sysctls, set once it exists and before it is up: IPv6 on, and secondary addresses promoted (an
 * address swap within one subnet keeps the new one when the old goes: apply_addr4). */
static void tun_sysctls(struct cl *c)
{
	struct sl_err e = {{0}};

	tun_ipv6_on(c);
	if (sysctl_promote_secondaries(c->cfg->ifname, &e))
		log_warn("ipv4: %s; an address swap then re-adds the new address and the routes itself", e.msg);
}

/* The IPv6 routes' link now: the TUN, or 0 for unreachable routes (below IPv6's minimum MTU, or no IPv6 on it). */
static int routes6_link(const struct cl *c)
{
	return c->tun_v6 && c->link_mtu >= SLUICE_MTU_MIN6 ? c->ifindex : 0;
}

/* The TUN link's MTU and the MSS clamping of the client table follow the effective MTU. */
static int apply_mtu(struct cl *c, unsigned mtu, struct sl_err *e)
{
	int ret;

	if (mtu != c->link_mtu) {
		ret = link_set_mtu_up(&c->nc, c->ifindex, mtu, e);
		if (ret)
			return ret;
		/* back above IPv6's minimum: the kernel made the link's IPv6 anew from the defaults (disabled on a
		 * hardened host) */
		if (c->link_mtu && c->link_mtu < SLUICE_MTU_MIN6 && mtu >= SLUICE_MTU_MIN6 && !c->no_ipv6)
			tun_ipv6_on(c);
		c->link_mtu = mtu;
		ret = routes6_follow_mtu(c, e);
		if (ret)
			return ret;
	}
	if (!c->clt_applied || mtu != c->clt_mtu) {
		ret = clt_apply(c->cfg->ifname, mtu, c->cfg->subnets, c->cfg->n_subnets, e); /* a crashed run's too */
		if (ret)
			return ret;
		c->clt_applied = true;
		c->clt_mtu = mtu;
	}
	return 0;
}

/* The IPv6 prefixes of Routes (a full tunnel: ::/0 — DESIGN 10.2: IPv6 is captured also when the gateway
 * offers none, and dropped in the tunnel: no leak). A link under 1280 bytes has no IPv6 (the kernel takes it
 * off, and its routes with it): then they are unreachable routes, so IPv6 still goes nowhere else (10.8).
 * All or none. */
static int routes6_add(struct cl *c, int oif, struct sl_err *e)
{
	static const struct sl_prefix6 all6 = {.len = 0};
	struct sl_config *cfg = c->cfg;
	bool full = config_full_tunnel(cfg);
	const struct sl_prefix6 *r6 = full ? &all6 : cfg->routes6;
	unsigned n6 = full ? 1 : cfg->n_routes6, j;
	int ret = 0;

	for (j = 0; j < n6 && !ret; j++)
		ret = route_add6(&c->nc, oif, &r6[j].addr, r6[j].len, c->ids.table, e);
	if (ret) {
		struct sl_err ignore;
		for (j--; j-- > 0;)
			route_del6(&c->nc, oif, &r6[j].addr, r6[j].len, c->ids.table, &ignore);
		return ret;
	}
	c->routes6_oif = oif;
	return 0;
}

/* The link's MTU crossed 1280 bytes: the IPv6 routes move between the link and unreachable ones (going up,
 * the unreachable ones first: the same prefixes cannot be in the table twice). */
static int routes6_follow_mtu(struct cl *c, struct sl_err *e)
{
	int oif = routes6_link(c);
	int ret;

	if (c->no_ipv6 || !c->rules_applied || oif == c->routes6_oif)
		return 0;
	if (oif) { /* back above: the kernel gave the link IPv6 again */
		ret = route_flush_unreachable6(&c->nc, c->ids.table, e);
		if (ret)
			return ret;
	} /* else below: the kernel removed the link's routes already */
	return routes6_add(c, oif, e);
}

static void routes6_del(struct cl *c)
{
	static const struct sl_prefix6 all6 = {.len = 0};
	bool full = config_full_tunnel(c->cfg);
	const struct sl_prefix6 *r6 = full ? &all6 : c->cfg->routes6;
	unsigned n6 = full ? 1 : c->cfg->n_routes6;
	struct sl_err ignore;

	for (unsigned j = 0; j < n6; j++)
		route_del6(&c->nc, c->routes6_oif, &r6[j].addr, r6[j].len, c->ids.table, &ignore);
}

/* Routes of both families into the client's table: a full tunnel (0.0.0.0/0 or ::/0 anywhere: DESIGN 10.2) is
 * 0.0.0.0/0 and ::/0, a split tunnel its listed prefixes; then the policy rules of both families (IPv4 only in a
 * kernel without IPv6: EAFNOSUPPORT). All or none. */
static int apply_routes(struct cl *c, struct sl_err *e)
{
	static const struct sl_prefix4 all4 = {.len = 0};
	struct sl_config *cfg = c->cfg;
	bool full = config_full_tunnel(cfg);
	const struct sl_prefix4 *r4 = full ? &all4 : cfg->routes;
	unsigned n4 = full ? 1 : cfg->n_routes, i = 0;
	bool six = false;
	int ret = 0;

	for (; i < n4 && !ret; i++)
		ret = route_add4(&c->nc, c->ifindex, r4[i].addr, r4[i].len, c->ids.table, e);
	if (ret)
		i--;
	if (!ret && !c->no_ipv6) {
		ret = routes6_add(c, routes6_link(c), e);
		if (ret == -EAFNOSUPPORT) { /* the sysctl files are there, the stack is not */
			log_info("ipv6: %s: no IPv6 routes or rules; no IPv6 can leak", e->msg);
			c->no_ipv6 = true;
			c->tun_v6 = false;
			ret = 0;
		} else {
			six = !ret;
		}
	}
	if (!ret)
		ret = rules_add(&c->nc, &c->ids, full, e);
	if (ret) {
		struct sl_err ignore;
		while (i-- > 0)
			route_del4(&c->nc, c->ifindex, r4[i].addr, r4[i].len, c->ids.table, &ignore);
		if (six)
			routes6_del(c);
	}
	return ret;
}

/* The snapshot's IPv6 address on the link, or none when the gateway offers none (DESIGN 10.9: the difference
 * only). The new one first, then the old one goes. */
static int apply_addr6(struct cl *c, const struct cl_snap *snap, struct sl_err *e)
{
	const struct proto_snapshot *s = &snap->s;
	struct sl_err ignore;
	int ret;

	if (!c->tun_v6) /* no IPv6 on the link (tun_sysctls said why): the unreachable routes take IPv6 */
		return 0;
	if (c->addr6_applied && s->has_v6 && !memcmp(&c->applied_addr6, &s->addr6, sizeof(s->addr6)) &&
	    c->applied_plen6 == s->plen6)
		return 0;
	if (!c->addr6_applied && !s->has_v6)
		return 0;
	if (s->has_v6) {
		ret = addr_add6(&c->nc, c->ifindex, &s->addr6, s->plen6, e);
		if (ret)
			return ret;
	}
	if (c->addr6_applied)
		addr_del6(&c->nc, c->ifindex, &c->applied_addr6, c->applied_plen6, &ignore);
	c->addr6_applied = s->has_v6;
	c->applied_addr6 = s->addr6;
	c->applied_plen6 = s->plen6;
	return 0;
}

static bool has_prefix(const struct sl_prefix *set, unsigned n, const struct sl_prefix *x)
{
	for (unsigned i = 0; i < n; i++)
		if (set[i].len == x->len && sl_ipaddr_eq(&set[i].a, &x->a))
			return true;
	return false;
}

/* Is this pushed prefix already one of our own Routes (installed by apply_routes)? */
static bool configured_route(const struct sl_config *cfg, const struct sl_prefix *x)
{
	if (config_full_tunnel(cfg)) /* 0.0.0.0/0 and ::/0 cover it already */
		return false;
	for (unsigned i = 0; i < cfg->n_routes; i++)
		if (x->a.family == AF_INET && cfg->routes[i].len == x->len && cfg->routes[i].addr.s_addr == x->a.v4.s_addr)
			return true;
	for (unsigned i = 0; i < cfg->n_routes6; i++)
		if (x->a.family == AF_INET6 && cfg->routes6[i].len == x->len &&
		    !memcmp(&cfg->routes6[i].addr, &x->a.v6, sizeof(x->a.v6)))
			return true;
	return false;
}

static int pushed_route(struct cl *c, const struct sl_prefix *x, bool add, struct sl_err *e)
{
	if (x->a.family == AF_INET)
		return add ? route_add4(&c->nc, c->ifindex, x->a.v4, x->len, c->ids.table, e)
			   : route_del4(&c->nc, c->ifindex, x->a.v4, x->len, c->ids.table, e);
	return add ? route_add6(&c->nc, c->ifindex, &x->a.v6, x->len, c->ids.table, e)
		   : route_del6(&c->nc, c->ifindex, &x->a.v6, x->len, c->ids.table, e);
}

/* Routes = pushed: the difference between the pushed prefixes installed and those of the new snapshot (a
 * SIGHUP on the gateway, a failover to another one): the gone ones removed, the new ones added; the others,
 * and every packet using them, untouched. IPv6 prefixes only while the session carries IPv6 (the snapshot has
 * address6=). */
static int apply_pushed(struct cl *c, const struct proto_snapshot *s, struct sl_err *e)
{
	struct sl_prefix want[SL_MAX_PUSH_ROUTES];
	unsigned n_want = 0, kept = 0;
	int ret;

	for (unsigned i = 0; c->cfg->routes_pushed && i < s->n_routes; i++) {
		const struct sl_prefix *x = &s->routes[i];
		if (x->a.family == AF_INET6 && (!s->has_v6 || !routes6_link(c))) {
			/* no IPv6 inside this session (the gateway offers none, or the link is below IPv6's minimum) */
			if (!c->pushed_v6_logged)
				log_warn("routes: pushed IPv6 prefixes ignored: this tunnel carries no IPv6");
			c->pushed_v6_logged = true;
			continue;
		}
		if (!configured_route(c->cfg, x) && !has_prefix(want, n_want, x))
			want[n_want++] = *x;
	}
	for (unsigned i = 0; i < c->n_pushed; i++) {
		struct sl_err de = {{0}};
		char a[INET6_ADDRSTRLEN];
		if (has_prefix(want, n_want, &c->pushed[i])) {
			c->pushed[kept++] = c->pushed[i];
			continue;
		}
		if (pushed_route(c, &c->pushed[i], false, &de))
			log_warn("routes: %s", de.msg);
		else
			log_info("routes: pushed %s/%u withdrawn", sl_ipaddr_str(&c->pushed[i].a, a, sizeof(a)),
				 c->pushed[i].len);
	}
	c->n_pushed = kept;
	for (unsigned i = 0; i < n_want; i++) {
		char a[INET6_ADDRSTRLEN];
		if (has_prefix(c->pushed, c->n_pushed, &want[i]))
			continue;
		ret = pushed_route(c, &want[i], true, e);
		if (ret)
			return ret; /* the ones installed stay recorded: the next snapshot (or exit) settles them */
		c->pushed[c->n_pushed++] = want[i];
		log_info("routes: pushed %s/%u installed", sl_ipaddr_str(&want[i].a, a, sizeof(a)), want[i].len);
	}
	return 0;
}

/* Table T's IPv4 routes (ours, then the pushed ones) once more after an IPv4 address change: a link that loses
 * its last IPv4 address, even for a moment, has every IPv4 route through it flushed by the kernel, in all
 * tables, and rules_applied would never bring them back. EEXIST: the kernel kept them. */
static int routes4_readd(struct cl *c, struct sl_err *e)
{
	static const struct sl_prefix4 all4 = {.len = 0};
	bool full = config_full_tunnel(c->cfg);
	const struct sl_prefix4 *r4 = full ? &all4 : c->cfg->routes;
	unsigned n4 = full ? 1 : c->cfg->n_routes;
	int ret;

	for (unsigned i = 0; i < n4; i++) {
		ret = route_add4(&c->nc, c->ifindex, r4[i].addr, r4[i].len, c->ids.table, e);
		if (ret && ret != -EEXIST)
			return ret;
	}
	for (unsigned i = 0; i < c->n_pushed; i++) {
		if (c->pushed[i].a.family != AF_INET)
			continue;
		ret = pushed_route(c, &c->pushed[i], true, e);
		if (ret && ret != -EEXIST)
			return ret;
	}
	return 0;
}

/* The snapshot's IPv4 address on the link (a failover to a gateway with another pool, a gateway re-addressing
 * us): the new one first, then the old one goes — removing the link's last IPv4 address would make the kernel
 * flush its routes, the full tunnel's among them, and let traffic out around the tunnel. Within one subnet the
 * new one is a secondary of the old: promote_secondaries (tun_sysctls) keeps it; should that sysctl have
 * failed, the kernel deleted it with the old one, and it is added again (EEXIST: it stayed). Then table T's
 * IPv4 routes again, in case the link was left without IPv4 for that moment. */
static int apply_addr4(struct cl *c, struct in_addr addr, uint8_t plen, struct sl_err *e)
{
	bool swap = c->addr_applied;
	struct sl_err ignore;
	int ret;

	ret = addr_add4(&c->nc, c->ifindex, addr, plen, e);
	if (ret)
		return ret;
	if (swap) {
		addr_del4(&c->nc, c->ifindex, c->applied_addr, c->applied_plen, &ignore);
		ret = addr_add4(&c->nc, c->ifindex, addr, plen, e);
		if (ret && ret != -EEXIST)
			return ret;
	}
	c->addr_applied = true;
	c->applied_addr = addr;
	c->applied_plen = plen;
	return swap && c->rules_applied ? routes4_readd(c, e) : 0;
}

/* Host configuration for a session: done once; again only for what changed (it should not: addresses are
 * stable per client). */
static int apply_host(struct cl *c, const struct cl_snap *snap, struct sl_err *e)
{
	int ret;

	ret = apply_mtu(c, snap->mtu, e);
	if (ret)
		return ret;
	/* an IPv6-only gateway (no_v4): no IPv4 address given; 0.0.0.0/0 still leads into the tunnel, where the
	 * data plane drops it (no_ipv4). One left from a gateway that had IPv4 stays on the link (recorded, so the
	 * next IPv4 gateway's replaces it): deleting the link's last IPv4 address would flush 0.0.0.0/0 from
	 * table T and let IPv4 out around the tunnel. */
	if (!snap->s.no_v4 && (!c->addr_applied || c->applied_addr.s_addr != snap->s.addr.s_addr ||
			       c->applied_plen != snap->s.plen)) {
		ret = apply_addr4(c, snap->s.addr, snap->s.plen, e);
		if (ret)
			return ret;
	}
	ret = apply_addr6(c, snap, e);
	if (ret)
		return ret;
	if (!c->rules_applied) {
		ret = apply_routes(c, e);
		if (ret)
			return ret;
		c->rules_applied = true;
	}
	ret = apply_pushed(c, &snap->s, e);
	if (ret)
		return ret;
	ret = dns_client_update(&c->dns, &c->nc, c->ifindex, &snap->s, e);
	if (ret > 0) {
		char sv[256];
		dns_config_servers_str(&c->dns.cur, sv, sizeof(sv));
		log_info("dns: %s (%s)", sv, dns_backend_name(c->dns.backend));
	}
	return ret < 0 ? ret : 0;
}

const char *cl_underlay_dns(struct cl *c)
{
	char now[RESOLVE_CSV_MAX];

	if (c->dns.backend == DNS_BACKEND_NONE && resolv_conf_servers(CL_RESOLV_CONF, now, sizeof(now)))
		memcpy(c->underlay_dns, now, sizeof(now));
	return c->underlay_dns;
}

size_t cl_known_addrs(const struct cl *c, struct sockaddr_storage *out, size_t max)
{
	size_t n = 0;

	for (unsigned i = 0; i < c->cfg->n_servers; i++)
		for (unsigned j = 0; j < c->srv_addrs[i].n && n < max; j++)
			out[n++] = c->srv_addrs[i].a[j];
	return n;
}

void cl_ks_spec(const struct cl *c, struct ks_spec *ks, struct sockaddr_storage *all)
{
	memset(ks, 0, sizeof(*ks));
	ks->allow_lan = c->cfg->killswitch_allow_lan;
	ks->servers = all;
	ks->subnets = c->cfg->subnets;
	ks->n_subnets = c->cfg->n_subnets;
	snprintf(ks->tun_ifname, sizeof(ks->tun_ifname), "%s", c->cfg->ifname);
	ks->n_servers = cl_known_addrs(c, all, SL_KS_MAX_SERVERS);
}

void cl_servers_changed(struct cl *c)
{
	struct sockaddr_storage all[SL_KS_MAX_SERVERS];
	struct sl_err e = {{0}};
	size_t n = cl_known_addrs(c, all, SL_KS_MAX_SERVERS);
	int ret;

	/* the kill switch's server sets: only while it is on and ours (`sluice killswitch off` may have
	 * removed it; then there is nothing to open) */
	ret = ks_set_servers(c->cfg->ifname, all, n, &e);
	if (ret && ret != -ENOENT)
		log_err("kill switch: server addresses not updated: %s", e.msg[0] ? e.msg : strerror(-ret));
}

void cl_server_proven(struct cl *c, unsigned srv, const struct sockaddr_storage *addr)
{
	struct sl_addrs *fresh = &c->resolved[srv], *cached = &c->cached[srv];
	struct sl_err e = {{0}};
	bool same = fresh->n == cached->n;

	if (!addrs_contain(fresh, addr))
		return; /* a literal, or a cached address while the name answered otherwise: nothing new */
	for (unsigned i = 0; same && i < fresh->n; i++)
		same = addrs_contain(cached, &fresh->a[i]);
	if (same)
		return;
	*cached = *fresh;
	if (addrcache_save(c->cfg, c->cached, &e))
		log_warn("%s (a start without DNS will not know these addresses)", e.msg);
}

/* Sends a keepalive the gateway must answer within SL_PROBE_WAIT_MS (none while one is waiting). */
static void lv_probe(struct cl *c, uint64_t now)
{
	if (!atomic_load(&c->cur) || c->probe_sent_ms)
		return;
	cl_send_keepalive(c, now, false);
	c->probe_sent_ms = now;
	loop_timer_set(&c->lv_timer, now + SL_PROBE_WAIT_MS);
}

void cl_probe_now(struct cl *c)
{
	uint64_t now = now_ms();

	if (!atomic_load(&c->cur))
		return;
	if (c->probe_sent_ms)
		cl_send_keepalive(c, now, false); /* a probe already waits for its answer: this one only carries news */
	else
		lv_probe(c, now);
}

/* A probe's time is up: answered (anything authenticated since) — fine; lost — another at once, and the
 * second lost in a row marks the path down. */
static void on_liveness(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, lv_timer));
	uint64_t sent = c->probe_sent_ms;

	if (!sent)
		return;
	c->probe_sent_ms = 0;
	if (cl_last_rx_ms(c) >= sent) {
		c->probes_lost = 0;
		if (!c->path_up) /* the session's server answers again (an outage ended): re-authenticate now rather
				  * than when the backoff runs out */
			sup_kick(c);
		return;
	}
	if (++c->probes_lost >= SL_PROBES_LOST_DOWN) {
		c->probes_lost = 0;
		if (cl_fallback_start(c)) /* a fresh session that UDP never answered: TCP, not another server */
			return;
		sup_path_down(c, "keepalives unanswered");
		return;
	}
	lv_probe(c, now_ms());
}

int cl_install(struct cl *c, struct cl_snap *snap)
{
	struct sl_err e = {{0}};
	struct cl_snap *old;
	uint64_t now = now_ms();
	char ip[INET_ADDRSTRLEN + 4], a[64];
	bool moved = c->sup.ever_up && snap->srv != c->sess_srv;
	int ret;

	c->sess_srv = snap->srv;
	c->ep = c->sup.try_ep;
	c->ep_len = c->sup.try_len;
	c->path_up = true;
	c->probe_sent_ms = 0; /* a probe of the previous session proves nothing about this one */
	c->probes_lost = 0;
	/* the stream belongs to the previous session: a new server starts on UDP; a rekey on the same server
	 * moves the new session to TCP at once (the UDP probes bring it back when UDP works) */
	if (cl_stream_drop(c, moved ? "a new server" : NULL) && !moved)
		sup_data(c);
	if (moved) {
		c->failovers++;
		log_warn("failover: now on server %u of %u, %s:%u (%s)", snap->srv + 1, c->cfg->n_servers,
			 c->cfg->servers[snap->srv].host, c->cfg->servers[snap->srv].port,
			 sock_addr_str(&c->ep, a, sizeof(a)));
	}
	derive_own_mtu(c); /* the route to the server may have changed since the last session */
	snap->mtu = mtu_effective(snap->s.mtu, c->own_mtu);
	if (snap->s.has_v6 && snap->mtu < SLUICE_MTU_MIN6)
		snap->mtu = SLUICE_MTU_MIN6; /* DESIGN 10.8: below it the kernel takes IPv6 off the link */
	old = atomic_exchange_explicit(&c->cur, snap, memory_order_acq_rel);
	if (old) {
		SL_WR(c->prev_until_ms, now + SL_CL_GRACE_MS);
		snap_retire(c, atomic_exchange_explicit(&c->prev, old, memory_order_acq_rel));
		loop_timer_set(&c->grace_timer, c->prev_until_ms);
	}
	if (snap->s.no_v4)
		snprintf(ip, sizeof(ip), "(no IPv4)");
	else if (inet_ntop(AF_INET, &snap->s.addr, ip, sizeof(ip)))
		snprintf(ip + strlen(ip), sizeof(ip) - strlen(ip), "/%u", snap->s.plen);
	if (!c->sup.ever_up || !old || moved) {
		char ip6[INET6_ADDRSTRLEN + 8] = "";
		if (snap->s.has_v6) {
			ip6[0] = ' ';
			inet_ntop(AF_INET6, &snap->s.addr6, ip6 + 1, INET6_ADDRSTRLEN);
			snprintf(ip6 + strlen(ip6), sizeof(ip6) - strlen(ip6), "/%u", snap->s.plen6);
		}
		log_info("session %08x up: address %s%s, mtu %u (gateway %u, ours %u)", snap->s.session_id, ip, ip6,
			 snap->mtu, snap->s.mtu, c->own_mtu);
	}
	else
		log_debug("rekeyed: session %08x", snap->s.session_id);
	c->sup.ever_up = true;
	ret = apply_host(c, snap, &e);
	if (ret) {
		/* the session stays; its host configuration is applied again on host_timer until it holds */
		log_err("netcfg: %s", e.msg);
		c->host_retry_ms = SL_HOST_RETRY_MIN_MS;
		c->host_retries = 0;
		loop_timer_set(&c->host_timer, now + c->host_retry_ms);
	} else if (c->host_retry_ms) {
		log_info("host configuration applied (with session %08x; the previous one's had failed)",
			 snap->s.session_id);
		c->host_retry_ms = 0;
		c->host_retries = 0;
		loop_timer_set(&c->host_timer, 0);
	}
	lv_probe(c, now); /* tells the gateway our endpoint at once, and proves the UDP path */
	return ret;
}

/* The current snapshot's host configuration failed: apply it again (apply_host only adds what is missing),
 * 1 s doubling to 30 s, until it holds or a new snapshot replaces it. Failures are logged for the first few
 * attempts, then every 20th (about every 10 min at 30 s). */
static void on_host_retry(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, host_timer));
	struct cl_snap *snap = atomic_load(&c->cur);
	struct sl_err e = {{0}};
	int ret;

	if (!snap || !c->host_retry_ms)
		return;
	ret = apply_host(c, snap, &e);
	/* apply_host sets the session's MTU; the underlay's may have dropped since (cl_mtu_check lowered the
	 * link): never leave the link above it */
	cl_mtu_check(c);
	if (!ret) {
		log_info("host configuration of session %08x applied on retry %u", snap->s.session_id,
			 c->host_retries + 1);
		c->host_retry_ms = 0;
		c->host_retries = 0;
		return;
	}
	c->host_retries++;
	c->host_retry_ms = c->host_retry_ms * 2 > SL_HOST_RETRY_MAX_MS ? SL_HOST_RETRY_MAX_MS : c->host_retry_ms * 2;
	if (c->host_retries <= 3 || c->host_retries % 20 == 0)
		log_err("netcfg: host configuration of session %08x failed again (retry %u): %s; retrying in %u s",
			snap->s.session_id, c->host_retries, e.msg, c->host_retry_ms / 1000u);
	loop_timer_set(t, now_ms() + c->host_retry_ms);
}

void cl_mtu_check(struct cl *c)
{
	struct cl_snap *s = atomic_load(&c->cur);
	struct sl_err e = {{0}};
	unsigned mtu;

	derive_own_mtu(c);
	if (!s)
		return;
	mtu = mtu_effective(s->mtu, c->own_mtu); /* never above what the session was installed with */
	if (mtu != c->link_mtu && apply_mtu(c, mtu, &e))
		log_err("netcfg: %s", e.msg);
}

static void on_keepalive(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, ka_timer));
	uint64_t now = now_ms(), ka = (uint64_t)c->cfg->keepalive * 1000u;

	uint64_t last = SL_RD(c->last_tx_ms);

	if (ms_since(last, now) >= ka) /* a worker's stamp may be ahead of `now` */
		lv_probe(c, now);
	last = SL_RD(c->last_tx_ms);
	loop_timer_set(t, (last > now - ka ? last : now) + ka);
}

/* Data went out and nothing authenticated came back for SL_REPLY_TIMEOUT_MS while traffic still flows: probe
 * the server with a keepalive at once rather than at the next ping; while no server answers, the waiting
 * traffic asks the supervisor for the next attempt (at most every SL_KICK_MIN_MS). */
static void on_probe(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, probe_timer));
	uint64_t now = now_ms(), since = SL_RD(c->unanswered_since_ms);

	if (!since || ms_since(SL_RD(c->last_data_tx_ms), now) >= SL_REPLY_TIMEOUT_MS) {
		/* answered, or no traffic waiting: the next data packet wakes us again */
		atomic_store_explicit(&c->probe_armed, false, memory_order_release);
		return;
	}
	if (ms_since(since, now) < SL_REPLY_TIMEOUT_MS) { /* workers stamp both: possibly ahead of `now` */
		loop_timer_set(t, since + SL_REPLY_TIMEOUT_MS);
		return;
	}
	if (c->path_up)
		lv_probe(c, now);
	else
		sup_kick(c);
	loop_timer_set(t, now + SL_KICK_MIN_MS);
}

/* A worker sent data with no reply timer armed. */
static void on_probe_wake(struct loop_io *io, uint32_t events)
{
	struct cl *c = (struct cl *)((char *)io - offsetof(struct cl, probe_io));
	eventfd_t v;
	uint64_t since;

	(void)events;
	if (eventfd_read(io->fd, &v))
		return;
	since = SL_RD(c->unanswered_since_ms);
	if (!c->probe_timer.due_ms)
		loop_timer_set(&c->probe_timer, (since ? since : now_ms()) + SL_REPLY_TIMEOUT_MS);
}

static void on_grace(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, grace_timer));
	struct cl_snap *prev = atomic_load(&c->prev);

	if (prev && now_ms() >= c->prev_until_ms) {
		atomic_store(&c->prev, NULL);
		snap_retire(c, prev);
	} else if (prev) {
		loop_timer_set(t, c->prev_until_ms);
	}
}

static void on_stats(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, stats_timer));

	struct dp_stats st;

	dp_stats_sum(c->w, c->n_w + 1, &st);
	status_log_line(&st, &c->stats_last_sum);
	loop_timer_set(t, now_ms() + (uint64_t)c->cfg->stats_interval * 1000u);
}

static void dump(void *arg, struct strbuf *out)
{
	status_dump_client(arg, out);
}

static int cl_setup(struct cl *c, struct sl_err *e)
{
	struct sl_config *cfg = c->cfg;
	int fd, ret;

	/* first: refuses to start if a live daemon already runs this interface */
	ret = ctlsock_open(&c->cs, &c->loop, cfg->ifname, dump, c, e);
	if (ret)
		return ret;
	c->cs_open = true;
	/* what is known without DNS: literal endpoints, and the names' last good addresses */
	if (addrcache_load(cfg, c->cached, e))
		log_warn("%s (names are resolved afresh)", e->msg);
	for (unsigned i = 0; i < cfg->n_servers; i++) {
		socklen_t len;
		if (config_server_literal(&cfg->servers[i], &c->srv_addrs[i].a[0], &len))
			c->srv_addrs[i].n = 1;
		else
			c->srv_addrs[i] = c->cached[i];
	}
	if (cfg->metrics_listen_len &&
	    (ret = metrics_http_open(&c->metrics, &c->loop, &cfg->metrics_listen, cfg->metrics_listen_len, dump, c, e)))
		return ret;
	ret = netcfg_open(&c->nc, e);
	if (ret)
		return ret;
	netcfg_cleanup_stale(&c->nc, cfg->ifname, e);
	ret = rules_check_free(&c->nc, &c->ids, e); /* another tunnel whose name hashes like ours: refuse now */
	if (ret)
		return ret;
	/* after the checks that refuse a start (a refused start must not leave the host locked down with no
	 * daemon), before the TUN or any route exists; it outlives us on purpose */
	if (cfg->killswitch) {
		struct sockaddr_storage all[SL_KS_MAX_SERVERS];
		struct ks_spec ks;
		cl_ks_spec(c, &ks, all);
		ret = ks_check_owner(cfg->ifname, e); /* never take another client's kill switch over */
		if (!ret)
			ret = ks_apply(&ks, e);
		if (ret)
			return ret;
	}
	{ /* a crashed run's DNS */
		const char *what;
		c->dns.cfg = cfg;
		if (dns_restore(cfg->state_dir, cfg->ifname, &what, e))
			log_warn("%s", e->msg);
		else if (what)
			log_info("dns: restored what a previous run left (%s)", what);
	}
	/* the underlay's resolvers, before we apply our own DNS: server names are looked up there */
	resolv_conf_servers(CL_RESOLV_CONF, c->underlay_dns, sizeof(c->underlay_dns));
	ret = resolver_init(&c->res, &c->loop, c->ids.mark, e);
	if (ret)
		return ret;
	c->res_open = true;
	/* the MTU of the route to the first server we know an address of, until a session names its own */
	for (unsigned i = 0; i < cfg->n_servers && !c->ep_len; i++) {
		if (c->srv_addrs[i].n) {
			c->ep = c->srv_addrs[i].a[0];
			c->ep_len = c->ep.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		}
	}
	derive_own_mtu(c);
	c->tls = tls_ctx_new(false, cfg->private_key, accept_server_key, c, e);
	if (!c->tls)
		return -EINVAL;
	c->ifindex = dp_link_open(cfg->ifname, c->w, c->n_w, true, e);
	if (c->ifindex < 0)
		return c->ifindex;
	tun_sysctls(c);
	ret = apply_mtu(c, c->own_mtu, e);
	if (ret)
		return ret;
	/* [Interface] Subnets: this host forwards its LAN <-> the tunnel (the client table, above, keeps it to
	 * exactly that); net.ipv4.ip_forward (and IPv6 forwarding with an IPv6 Subnet; accept_ra = 2 on the
	 * underlay's default-route link where it was 1, DESIGN 10.13) in the namespace's shared record, restored
	 * by the last holder */
	if (cfg->n_subnets) {
		struct sl_err fe = {{0}};
		bool six = false;
		ret = forwarding_ns_here(&c->fwd, &fe);
		if (!ret)
			ret = forwarding_raise(&c->fwd, cfg->ifname, getpid(), &fe);
		if (ret < 0)
			return sl_errf(e, ret, "forwarding: %s", fe.msg);
		c->fwd_pid = getpid();
		for (unsigned i = 0; i < cfg->n_subnets; i++)
			six |= cfg->subnets[i].a.family == AF_INET6;
		if (six) {
			char egress[IFNAMSIZ] = "";
			struct sl_err ignore;
			route_default_ifname(&c->nc, egress, &ignore); /* none: accept_ra stays as it is */
			ret = forwarding_raise6(&c->fwd, cfg->ifname, egress, &fe);
			if (ret < 0)
				return sl_errf(e, ret, "forwarding: IPv6: %s", fe.msg);
		}
	}

	/* unconnected: one socket for every server (a failover keeps it), dual-stack where the host has IPv6;
	 * SO_MARK lets it bypass our own routes and through the kill switch */
	{
		struct sockaddr_storage any = {.ss_family = AF_INET6};
		fd = sock_udp_listen(&any, sizeof(struct sockaddr_in6), e);
		c->udp_family = AF_INET6;
		if (fd == -EAFNOSUPPORT) {
			any.ss_family = AF_INET;
			fd = sock_udp_listen(&any, sizeof(struct sockaddr_in), e);
			c->udp_family = AF_INET;
		}
		if (fd < 0)
			return fd;
		c->udp_fd = fd;
		uint32_t mark = c->ids.mark;
		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
			return sl_errf(e, -errno, "set fwmark %u on the udp socket: %s", mark, strerror(errno));
		for (unsigned i = 0; i < c->n_w; i++)
			if (dp_udp_init(&c->w[i].u, fd))
				return sl_errf(e, -ENOMEM, "udp: out of memory for receive buffers");
		c->w[0].udp_io.fd = fd; /* worker 0 receives; every worker sends on it */
	}
	c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stopfd < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return sl_errf(e, -errno, "eventfd: %s", strerror(errno));
	}
	c->probe_io.fd = fd;
	if ((ret = loop_add(&c->loop, &c->probe_io, fd, EPOLLIN, on_probe_wake)))
		return sl_errf(e, ret, "epoll: %s", strerror(-ret));
	if ((ret = cl_fallback_init(c)))
		return sl_errf(e, ret, "eventfd: %s", strerror(-ret));
	loop_timer_init(&c->loop, &c->ka_timer, on_keepalive);
	loop_timer_init(&c->loop, &c->probe_timer, on_probe);
	loop_timer_init(&c->loop, &c->grace_timer, on_grace);
	loop_timer_init(&c->loop, &c->stats_timer, on_stats);
	loop_timer_init(&c->loop, &c->lv_timer, on_liveness);
	loop_timer_init(&c->loop, &c->host_timer, on_host_retry);
	loop_timer_set(&c->ka_timer, now_ms() + (uint64_t)cfg->keepalive * 1000u);
	if (cfg->stats_interval)
		loop_timer_set(&c->stats_timer, now_ms() + (uint64_t)cfg->stats_interval * 1000u);
	sup_init(c);
	/* last: its first look takes the path as it is now, the TUN link and our routes included */
	return cl_net_open(c, e);
}

static void cl_teardown(struct cl *c)
{
	struct sl_err e = {{0}};

	dp_workers_stop(c->w, c->n_w, c->stopfd);
	cl_net_close(c);
	sup_close(c);
	cl_fallback_close(c);
	if (c->res_open)
		resolver_close(&c->res);
	metrics_http_close(&c->metrics);
	if (c->cs_open)
		ctlsock_close(&c->cs);
	if (dns_client_revert(&c->dns, &e))
		log_err("%s", e.msg);
	if (c->rules_applied && rules_del(&c->nc, &c->ids, &e))
		log_err("netcfg: %s", e.msg);
	if (c->rules_applied && !c->routes6_oif && !c->no_ipv6 && route_flush_unreachable6(&c->nc, c->ids.table, &e))
		log_err("netcfg: %s", e.msg); /* not the link's: they would outlive it */
	for (unsigned i = 0; i < c->n_w; i++)
		dp_worker_free(&c->w[i], false); /* the last TUN queue takes the link, its address and routes */
	if (c->clt_applied && clt_remove(c->cfg->ifname, &e))
		log_err("client table: %s", e.msg);
	if (c->fwd_pid && forwarding_release(&c->fwd, c->cfg->ifname, c->fwd_pid, &e) < 0)
		log_err("forwarding: %s", e.msg);
	if (c->udp_fd >= 0)
		close(c->udp_fd);
	if (c->stopfd >= 0)
		close(c->stopfd);
	if (c->probe_io.fd >= 0)
		close(c->probe_io.fd);
	qsbr_drain(&c->q); /* the workers are stopped */
	cl_snap_free(atomic_exchange(&c->cur, NULL));
	cl_snap_free(atomic_exchange(&c->prev, NULL));
	tls_ctx_free(c->tls);
	netcfg_close(&c->nc);
	loop_close(&c->loop);
	free(c->w);
}

int cl_run(struct sl_config *cfg, void (*ready)(void))
{
	struct cl *c = calloc(1, sizeof(*c));
	struct sl_err e = {{0}};
	char a[64];
	int ret;

	if (!c) {
		log_err("out of memory");
		return 1;
	}
	c->cfg = cfg;
	sl_ids_for(cfg->ifname, &c->ids); /* mark, table, rule priorities: this interface's */
	c->udp_fd = c->stopfd = c->probe_io.fd = c->stream_io.fd = -1;
	c->n_w = dp_workers_wanted();
	if (!c->n_w)
		c->n_w = 1; /* not reached: main() refuses a bad SLUICE_WORKERS */
	qsbr_init(&c->q, c->n_w);
	c->w = dp_workers_new(c->n_w, c, &c->q, cl_on_tun, cl_on_udp);
	if (!c->w) {
		log_err("out of memory");
		free(c);
		return 1;
	}
	ret = loop_init(&c->loop);
	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		free(c->w);
		free(c);
		return 1;
	}
	ret = cl_setup(c, &e);
	if (ret) {
		log_err("%s", e.msg[0] ? e.msg : strerror(-ret));
		cl_teardown(c);
		free(c);
		return 1;
	}
	if (privs_drop(false, false, 0, 0, &e))
		log_warn("least privilege: %s (continuing with the capabilities we have)", e.msg);
	if (dp_workers_start(c->w, c->n_w, c->stopfd, &e)) {
		log_err("%s", e.msg);
		cl_teardown(c);
		free(c);
		return 1;
	}
	a[0] = 0;
	if (cfg->n_servers > 1)
		snprintf(a, sizeof(a), " (first of %u)", cfg->n_servers);
	log_info("client %s up: server %s:%u%s%s, %u data worker%s", cfg->ifname, cfg->servers[0].host,
		 cfg->servers[0].port, a, cfg->killswitch ? ", kill switch on" : "", c->n_w, c->n_w == 1 ? "" : "s");
	if (ready)
		ready();
	while (!c->loop.got_term) {
		ret = loop_once(&c->loop);
		if (ret) {
			log_err("event loop: %s", strerror(-ret));
			break;
		}
		if (c->loop.got_hup) {
			c->loop.got_hup = false;
			sup_reload_psk(c); /* the only thing a client reloads: its servers' pre-shared keys */
		}
		qsbr_reclaim(&c->q);
		if (c->loop.got_usr1) {
			c->loop.got_usr1 = false;
			log_info("SIGUSR1: re-authenticating now");
			sup_rekey(c);
		}
	}
	log_info("client %s: shutting down", cfg->ifname);
	cl_teardown(c);
	free(c);
	return ret || dp_workers_faulted() ? 1 : 0;
}
