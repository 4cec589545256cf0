/* gateway: server-mode start-up (apply, verify, roll back), the loop, and reverse-order teardown. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "daemon/control/reload.h"
#include "daemon/control/tls.h"
#include "daemon/dplink.h"
#include "daemon/gateway.h"
#include "daemon/mtu.h"
#include "daemon/privs.h"
#include "daemon/sockets.h"
#include "daemon/status.h"

static bool accept_client_key(void *arg, const uint8_t key[SL_KEY_LEN])
{
	struct gw *g = arg;
	return peer_by_key(&g->reg, key) != NULL;
}

/* A TLS handshake allocates some 20 KB and frees it all; thousands of clients arriving at once leave the heap
 * holed with free pages that glibc keeps (it only returns the top): they go back to the kernel here, on the
 * control thread (a walk of the heap), when at least `min` handshakes ended since *at, this caller's last look. */
static void heap_trim(struct gw *g, uint64_t *at, uint64_t min)
{
	uint64_t n = g->cst.handshakes_ok + g->cst.handshakes_failed;

	if (n - *at >= min) {
		*at = n;
		malloc_trim(0);
	}
}

static void on_reap(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, reap_timer));

	registry_reap(&g->reg, now_ms());
	gw_streams_sweep(g, false); /* streams whose session the reaper took */
	qsbr_reclaim(&g->reg.q);
	/* any handshake since the last reap: a long burst is trimmed every SL_REAP_INTERVAL_MS, and the reap after
	 * a burst's end once more, with what qsbr_reclaim freed since */
	heap_trim(g, &g->trim_reap, 1);
	loop_timer_set(t, now_ms() + SL_REAP_INTERVAL_MS);
}

/* SL_TRIM_QUIET_MS after the last control connection closed (unless another one closed since, which re-arms it;
 * one still open is no matter: at least SL_TRIM_BURST handshakes must have ended): a burst's end, trimmed at
 * once rather than up to SL_REAP_INTERVAL_MS later. */
static void on_trim(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, trim_timer));

	heap_trim(g, &g->trim_burst, SL_TRIM_BURST);
}

static void on_stats(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, stats_timer));

	struct dp_stats st;

	dp_stats_sum(g->w, g->n_w + 1, &st);
	status_log_line(&st, &g->stats_last_sum);
	loop_timer_set(t, now_ms() + (uint64_t)g->cfg->stats_interval * 1000u);
}

static int sync_subnet_routes(struct gw *g, bool at_start, struct sl_err *e);

/* The registry thread has a new merged client list (registry/fleet.h): applied like a reload, so kept clients
 * keep their sessions and removed ones lose them at once. */
static void on_fleet(struct loop_io *io, uint32_t events)
{
	struct gw *g = (struct gw *)((char *)io - offsetof(struct gw, fleet_io));
	struct sl_err e = {{0}};
	struct sl_client_cfg *list;
	struct reload_stats st;
	size_t n;

	if (!fleet_take(&g->fleet, &list, &n))
		return;
	clients_reload(&g->reg, &g->pool, g->pool6_ready ? &g->pool6 : NULL, list, n, &st);
	if (registry_publish_subnets(&g->reg)) /* the file clients' Subnets come this way with a Registry */
		log_err("registry: out of memory: the clients' Subnets stay as they were");
	sync_subnet_routes(g, false, &e);
	if (st.added || st.removed || st.readdressed || st.refused)
		log_info("registry: %zu clients: %u added, %u removed, %u readdressed, %u refused", g->reg.n_peers,
			 st.added, st.removed, st.readdressed, st.refused);
	free(list);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Registry = : which clients have a live session here, for the registry (fleet_sessions.h). A cheap
 * fingerprint first; only a changed set is copied and handed over, and the registry thread writes it. */
static void on_fleet_timer(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, fleet_timer));
	uint64_t print = 1, n = 0;
	struct fleet_session *s;

	for (size_t i = 0; i < g->reg.n_peers; i++) {
		const struct gw_peer *p = g->reg.peers[i];
		uint64_t k, a6 = 0;
		if (!p->cur)
			continue;
		memcpy(&k, p->pubkey, sizeof(k));
		if (p->has_addr6)
			memcpy(&a6, &p->addr6.s6_addr[8], sizeof(a6));
		print += mix64(k ^ mix64(((uint64_t)p->addr.s_addr << 1 | p->has_addr6) ^ mix64(a6)));
		n++;
	}
	print = mix64(print ^ n);
	loop_timer_set(t, now_ms() + FLEET_SESSION_SCAN_MS);
	if (print == g->fleet_sess_print)
		return;
	s = calloc(n + 1, sizeof(*s));
	if (!s)
		return; /* tried again at the next tick */
	n = 0;
	for (size_t i = 0; i < g->reg.n_peers; i++) {
		const struct gw_peer *p = g->reg.peers[i];
		if (!p->cur)
			continue;
		memcpy(s[n].key, p->pubkey, SL_KEY_LEN);
		snprintf(s[n].name, sizeof(s[n].name), "%s", p->name);
		s[n].addr = p->addr;
		s[n].has_addr6 = p->has_addr6;
		s[n].addr6 = p->addr6;
		n++;
	}
	fleet_offer_sessions(&g->fleet, s, n);
	g->fleet_sess_print = print;
}

static void dump(void *arg, struct strbuf *out)
{
	struct gw *g = arg;
	status_dump_gateway(g, out);
}

static int subnet_route(struct gw *g, const struct sl_prefix *x, bool add, struct sl_err *e)
{
	if (x->a.family == AF_INET)
		return add ? route_add4(&g->nc, g->ifindex, x->a.v4, x->len, RT_TABLE_MAIN, e)
			   : route_del4(&g->nc, g->ifindex, x->a.v4, x->len, RT_TABLE_MAIN, e);
	return add ? route_add6(&g->nc, g->ifindex, &x->a.v6, x->len, RT_TABLE_MAIN, e)
		   : route_del6(&g->nc, g->ifindex, &x->a.v6, x->len, RT_TABLE_MAIN, e);
}

static bool routed_has(const struct sl_prefix *set, unsigned n, const struct sl_prefix *x)
{
	for (unsigned i = 0; i < n; i++)
		if (set[i].len == x->len && sl_ipaddr_eq(&set[i].a, &x->a))
			return true;
	return false;
}

/* Every client's Subnets routed into the TUN (main table; they go with the link at exit): the difference
 * to what is installed — the gone ones removed, the new ones added. At start the first failure is returned
 * (and the caller's teardown takes the link with what was added); on a reload each failure is logged and
 * the rest still applied. IPv6 prefixes need the link to carry IPv6: config.c refuses them without an IPv6
 * Address. */
static int sync_subnet_routes(struct gw *g, bool at_start, struct sl_err *e)
{
	struct sl_prefix want[SL_MAX_SUBNETS_TOTAL];
	unsigned n_want = 0, kept = 0;
	int ret = 0;

	for (size_t i = 0; i < g->reg.n_peers; i++)
		for (unsigned j = 0; j < g->reg.peers[i]->n_subnets && n_want < SL_MAX_SUBNETS_TOTAL; j++)
			want[n_want++] = g->reg.peers[i]->subnets[j];
	for (unsigned i = 0; i < g->n_routed; i++) {
		struct sl_err de = {{0}};
		if (routed_has(want, n_want, &g->routed[i]))
			g->routed[kept++] = g->routed[i];
		else if (subnet_route(g, &g->routed[i], false, &de))
			log_err("reload: subnets: %s", de.msg);
	}
	g->n_routed = kept;
	for (unsigned i = 0; i < n_want; i++) {
		struct sl_err ae = {{0}};
		int r;
		if (routed_has(g->routed, g->n_routed, &want[i]))
			continue;
		r = subnet_route(g, &want[i], true, &ae);
		if (r && at_start)
			return sl_errf(e, r, "subnets: %s", ae.msg);
		if (r) {
			log_err("reload: subnets: %s", ae.msg);
			ret = r;
			continue;
		}
		g->routed[g->n_routed++] = want[i];
	}
	return ret;
}

/* The NAT table's spec from the configuration (routed mode, client-to-client, PushRoutes). */
static void nat_spec_from(struct nat_spec *ns, const struct sl_config *cfg)
{
	ns->routed = cfg->nat_off;
	ns->client_to_client = cfg->client_to_client;
	ns->n_inbound = cfg->n_push_routes;
	memcpy(ns->inbound, cfg->push_routes, sizeof(ns->inbound));
}

/* What a client receives beyond its own address (DESIGN 10.9): DNS, Domains, PushRoutes. */
static bool pushed_changed(const struct sl_config *a, const struct sl_config *b)
{
	if (a->n_dns != b->n_dns || a->n_domains != b->n_domains ||
	    !prefixes_equal(a->push_routes, a->n_push_routes, b->push_routes, b->n_push_routes))
		return true;
	for (unsigned i = 0; i < a->n_dns; i++)
		if (!sl_ipaddr_eq(&a->dns[i], &b->dns[i]))
			return true;
	for (unsigned i = 0; i < a->n_domains; i++)
		if (strcmp(a->domains[i], b->domains[i]))
			return true;
	return false;
}

/* SIGHUP's [Interface] part: DNS, Domains, PushRoutes and ClientToClient take effect (the NAT table is
 * re-applied in one transaction when its part changed; on failure the old one stays, whole), and every
 * client is told at its next PING when what it receives changed. NAT = on/off and the rest of [Interface]
 * need a restart. */
static void reload_interface(struct gw *g, const struct sl_config *nc)
{
	struct sl_config *cfg = g->cfg;
	struct nat_spec ns = g->nat_spec;
	struct sl_err e = {{0}};

	if (nc->nat_off != cfg->nat_off)
		log_warn("reload: NAT = %s takes effect at the next start", nc->nat_off ? "off" : "on");
	nat_spec_from(&ns, nc);
	ns.routed = cfg->nat_off;
	if (ns.client_to_client != g->nat_spec.client_to_client ||
	    !prefixes_equal(ns.inbound, ns.n_inbound, g->nat_spec.inbound, g->nat_spec.n_inbound)) {
		if (nat_apply(&ns, &g->nat, &e)) {
			log_err("reload: nat: %s (keeping PushRoutes and ClientToClient as they were)", e.msg);
			g->nat.applied = true; /* the failed batch changed nothing: the old table is still there */
			return;
		}
		g->nat_spec = ns;
	}
	if (nc->client_to_client != cfg->client_to_client)
		log_info("reload: ClientToClient = %s", nc->client_to_client ? "on" : "off");
	SL_WR(cfg->client_to_client, nc->client_to_client);
	if (pushed_changed(cfg, nc)) {
		cfg->n_dns = nc->n_dns;
		memcpy(cfg->dns, nc->dns, sizeof(cfg->dns));
		cfg->n_domains = nc->n_domains;
		memcpy(cfg->domains, nc->domains, sizeof(cfg->domains));
		cfg->n_push_routes = nc->n_push_routes;
		memcpy(cfg->push_routes, nc->push_routes, sizeof(cfg->push_routes));
		for (size_t i = 0; i < g->reg.n_peers; i++)
			g->reg.peers[i]->repush = true;
		log_info("reload: DNS, Domains or PushRoutes changed: clients re-authenticate at their next ping");
	}
}

/* SIGHUP: re-read the client list (control/reload.h) and what [Interface] pushes. Clients that remain keep
 * their sessions; removed ones lose them; those whose snapshot changed re-authenticate at their next PING. */
static void reload(struct gw *g)
{
	struct sl_config nc;
	struct sl_err e = {{0}};
	struct reload_stats st;

	if (config_load(g->cfg->path, &nc, &e)) {
		log_err("reload: %s (keeping the running configuration)", e.msg);
		return;
	}
	if (nc.mode != SL_MODE_SERVER) {
		log_err("reload: %s is no longer a server configuration; ignored", g->cfg->path);
		config_free(&nc);
		return;
	}
	if (g->cfg->has_registry) {
		/* the registry thread merges the new file clients with the registry's and hands the list back */
		if (fleet_set_file_clients(&g->fleet, nc.clients, nc.n_clients))
			log_err("reload: out of memory");
		else
			log_info("reload: %zu file clients; merging with the registry", nc.n_clients);
		config_free(&nc);
		return;
	}
	clients_reload(&g->reg, &g->pool, g->pool6_ready ? &g->pool6 : NULL, nc.clients, nc.n_clients, &st);
	if (registry_publish_subnets(&g->reg))
		log_err("reload: out of memory: the clients' Subnets stay as they were");
	sync_subnet_routes(g, false, &e);
	reload_interface(g, &nc);
	log_info("reload: %zu clients configured: %u added, %u removed, %u readdressed, %u refused", g->reg.n_peers,
		 st.added, st.removed, st.readdressed, st.refused);
	config_free(&nc);
}

/* MTU = unset: the egress link's MTU - 84, written into the running configuration (everything that pushes or
 * checks the MTU reads it there). An unreadable egress falls back to the default, with a warning. */
static void gw_derive_mtu(struct gw *g, const char *egress)
{
	struct sl_err e = {{0}};
	unsigned underlay;

	if (g->cfg->mtu) {
		g->mtu_source = MTU_SRC_CONFIG;
		return;
	}
	if (mtu_underlay_link(&g->nc, egress, &underlay, &e)) {
		g->cfg->mtu = SLUICE_MTU_DEFAULT;
		g->mtu_source = MTU_SRC_DEFAULT;
		log_warn("mtu: %s; using %u", e.msg, g->cfg->mtu);
		return;
	}
	g->cfg->mtu = mtu_from_underlay(underlay);
	g->mtu_source = MTU_SRC_EGRESS;
	log_info("mtu %u: egress %s carries %u", g->cfg->mtu, egress, underlay);
	if (g->cfg->address6.len && g->cfg->mtu < SLUICE_MTU_MIN6) {
		log_warn("mtu: %u is below IPv6's minimum; using %u (the underlay fragments the larger datagrams)",
			 g->cfg->mtu, SLUICE_MTU_MIN6);
		g->cfg->mtu = SLUICE_MTU_MIN6;
	}
}

static int gw_setup(struct gw *g, struct sl_err *e)
{
	struct sl_config *cfg = g->cfg;
	struct nat_spec ns = {0};
	struct sl_err de;
	int fd, ret;

	/* first: refuses to start if a live daemon already runs this interface */
	ret = ctlsock_open(&g->cs, &g->loop, cfg->ifname, dump, g, e);
	if (ret)
		return ret;
	g->cs_open = true;
	if (cfg->metrics_listen_len &&
	    (ret = metrics_http_open(&g->metrics, &g->loop, &cfg->metrics_listen, cfg->metrics_listen_len, dump, g, e)))
		return ret;
	ret = netcfg_open(&g->nc, e);
	if (ret)
		return ret;
	netcfg_cleanup_stale(&g->nc, cfg->ifname, e); /* best effort: a crashed run's leftovers */
	/* and its NAT table now, not only when nat_apply replaces it: a start that fails before then (a journal it
	 * cannot read, a missing egress) leaves no masquerade behind (the interface is ours: ctlsock_open above) */
	nat_table_name(cfg->ifname, g->nat.table);
	if (nat_remove(&g->nat, &de))
		log_warn("nat: a crashed run's table %s: %s", g->nat.table, de.msg);
	ret = registry_init_workers(&g->reg, g->n_w);
	if (ret)
		return sl_errf(e, ret, "out of memory");
	if (cfg->has_registry) {
		/* every client with its lease from etcd: the merged list takes the file's place */
		struct sl_client_cfg *list;
		size_t n;

		ret = fleet_init(&g->fleet, cfg, &list, &n, e);
		if (ret)
			return ret;
		free(cfg->clients);
		cfg->clients = list;
		cfg->n_clients = n;
		if ((ret = loop_add(&g->loop, &g->fleet_io, g->fleet.notify_fd, EPOLLIN, on_fleet)))
			return sl_errf(e, ret, "epoll: %s", strerror(-ret));
	}
	for (size_t i = 0; i < cfg->n_clients; i++)
		if (!registry_add_peer(&g->reg, &cfg->clients[i]))
			return sl_errf(e, -ENOMEM, "out of memory");
	/* the peers hold all the gateway uses of each [Client] from here on (a reload reads the file anew): the
	 * parsed list (536 bytes a client, with its pre-shared key) is not kept; n_clients stays for the log */
	if (cfg->clients)
		OPENSSL_cleanse(cfg->clients, cfg->n_clients * sizeof(*cfg->clients));
	free(cfg->clients);
	cfg->clients = NULL;
	if (cfg->address.len) { /* an IPv6-only gateway has no IPv4 pool (DESIGN 9): its clients get none */
		ret = pool_init(&g->pool, &cfg->address, cfg->state_dir, cfg->ifname, &g->reg, e);
		if (ret)
			return ret;
		g->pool_ready = true;
	}
	if (cfg->address6.len) {
		ret = pool_init6(&g->pool6, &cfg->address6, cfg->state_dir, cfg->ifname, &g->reg, e);
		if (ret)
			return ret;
		g->pool6_ready = true;
	}
	g->tls = tls_ctx_new(true, cfg->private_key, accept_client_key, g, e);
	if (!g->tls)
		return -EINVAL;
	snprintf(ns.tun_ifname, sizeof(ns.tun_ifname), "%s", cfg->ifname);
	if (cfg->egress[0]) {
		snprintf(ns.egress_ifname, sizeof(ns.egress_ifname), "%s", cfg->egress);
	} else {
		struct sl_err re = {{0}};
		ret = route_default_ifname(&g->nc, ns.egress_ifname, &re);
		if (ret)
			return sl_errf(e, ret, "no Egress configured and no default route to find one (%s)",
				       re.msg);
	}
	snprintf(g->egress, sizeof(g->egress), "%s", ns.egress_ifname);
	gw_derive_mtu(g, ns.egress_ifname);
	g->ifindex = dp_link_open(cfg->ifname, g->w, g->n_w, cfg->address6.len != 0, e);
	if (g->ifindex < 0)
		return g->ifindex;
	ret = cfg->address.len ? addr_add4(&g->nc, g->ifindex, cfg->address.addr, cfg->address.len, e) : 0;
	if (!ret && cfg->address6.len)
		ret = addr_add6(&g->nc, g->ifindex, &cfg->address6.addr, cfg->address6.len, e);
	if (!ret)
		ret = link_set_mtu_up(&g->nc, g->ifindex, cfg->mtu, e);
	if (ret)
		return ret;

	ns.mtu = cfg->mtu;
	if (cfg->address.len) /* 0: none (IPv6 only) */
		ns.pool.s_addr = cfg->address.addr.s_addr & htonl(~0u << (32 - cfg->address.len));
	ns.pool_len = cfg->address.len;
	ns.pool6 = cfg->address6.addr;
	ns.pool6_len = cfg->address6.len;
	nat_spec_from(&ns, cfg);
	ret = nat_apply(&ns, &g->nat, e);
	if (ret)
		return ret;
	g->nat_spec = ns;
	/* the clients' Subnets: routed into the TUN, and known to the data plane before it runs */
	if (registry_publish_subnets(&g->reg))
		return sl_errf(e, -ENOMEM, "out of memory");
	ret = sync_subnet_routes(g, true, e);
	if (ret)
		return ret;
	/* after the table, so a failed start never forwards without it; shared with every sluice interface of
	 * this namespace, restored when the last one stops (also after a crash of this one: it is in the list) */
	{
		struct sl_err fe = {{0}};
		ret = forwarding_ns_here(&g->fwd, &fe);
		if (!ret)
			ret = forwarding_hold(&g->fwd, cfg->ifname, getpid(), cfg->address.len != 0, &fe);
		if (ret < 0)
			return sl_errf(e, ret, "forwarding: %s", fe.msg);
		g->fwd_pid = getpid();
		if (cfg->address6.len && (ret = forwarding_raise6(&g->fwd, cfg->ifname, ns.egress_ifname, &fe)) < 0)
			return sl_errf(e, ret, "forwarding: IPv6: %s", fe.msg);
	}

	{
		int fds[SL_MAX_WORKERS];
		ret = sock_udp_listen_group(&cfg->listen, cfg->listen_len, fds, g->n_w, e);
		for (unsigned i = 0; i < g->n_w; i++) {
			g->w[i].udp_io.fd = fds[i];
			if (ret && fds[i] < 0)
				break;
		}
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < g->n_w; i++)
		if (dp_udp_init(&g->w[i].u, g->w[i].udp_io.fd))
			return sl_errf(e, -ENOMEM, "udp: out of memory for receive buffers");
	g->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->stopfd < 0)
		return sl_errf(e, -errno, "eventfd: %s", strerror(errno));
	fd = sock_tcp_listen(&cfg->listen, cfg->listen_len, e);
	if (fd < 0)
		return fd;
	g->tcp_io.fd = fd;

	if ((ret = gw_conns_init(g)))
		return sl_errf(e, ret, "control: out of memory");
	if ((ret = gw_streams_init(g)))
		return sl_errf(e, ret, "eventfd: %s", strerror(-ret));
	if ((ret = loop_add(&g->loop, &g->tcp_io, g->tcp_io.fd, EPOLLIN, gw_on_accept)))
		return sl_errf(e, ret, "epoll: %s", strerror(-ret));
	loop_timer_init(&g->loop, &g->reap_timer, on_reap);
	loop_timer_init(&g->loop, &g->conn_timer, gw_conns_sweep);
	loop_timer_init(&g->loop, &g->accept_timer, gw_accept_resume);
	loop_timer_init(&g->loop, &g->stats_timer, on_stats);
	loop_timer_init(&g->loop, &g->trim_timer, on_trim);
	loop_timer_set(&g->reap_timer, now_ms() + SL_REAP_INTERVAL_MS);
	if (cfg->stats_interval)
		loop_timer_set(&g->stats_timer, now_ms() + (uint64_t)cfg->stats_interval * 1000u);
	if (cfg->has_registry) {
		loop_timer_init(&g->loop, &g->fleet_timer, on_fleet_timer);
		loop_timer_set(&g->fleet_timer, now_ms() + FLEET_SESSION_SCAN_MS);
	}
	return gw_net_open(g, e);
}

/* Reverse order of gw_setup; safe on a partly set-up gateway. */
static void gw_teardown(struct gw *g)
{
	struct sl_err e = {{0}};

	dp_workers_stop(g->w, g->n_w, g->stopfd);
	gw_net_close(g);
	gw_conns_close_all(g);
	gw_streams_sweep(g, true);
	metrics_http_close(&g->metrics);
	if (g->cs_open)
		ctlsock_close(&g->cs);
	if (g->tcp_io.fd > 0)
		close(g->tcp_io.fd);
	if (g->nat.applied && nat_remove(&g->nat, &e))
		log_err("nat: %s", e.msg);
	if (g->fwd_pid && !g->fwd_by_janitor && forwarding_release(&g->fwd, g->cfg->ifname, g->fwd_pid, &e) < 0)
		log_err("forwarding: %s", e.msg);
	for (unsigned i = 0; i < g->n_w; i++)
		dp_worker_free(&g->w[i], true); /* the last TUN queue closed takes the link, address, routes */
	if (g->stopfd >= 0)
		close(g->stopfd);
	fleet_close(&g->fleet); /* the thread first: it may still hand over a list */
	tls_ctx_free(g->tls);
	if (g->pool6_ready)
		pool_free(&g->pool6);
	if (g->pool_ready)
		pool_free(&g->pool);
	registry_free(&g->reg);
	netcfg_close(&g->nc);
	loop_close(&g->loop);
	free(g->w);
}

/* In the root janitor of a `User =` gateway, once the daemon is gone: its hold on forwarding (the daemon may
 * write neither /run/sluice nor, without root, be sure of /proc/sys), also after a kill -9. The pid keeps it
 * from letting go of a newer run of the same interface that started meanwhile. */
static void janitor_at_exit(void *arg)
{
	struct gw *g = arg;
	struct sl_err e = {{0}};

	if (g->fwd_pid && forwarding_release(&g->fwd, g->cfg->ifname, g->fwd_pid, &e) < 0)
		log_err("janitor: forwarding: %s", e.msg);
}

int gw_run(struct sl_config *cfg, void (*ready)(void))
{
	struct gw *g = calloc(1, sizeof(*g));
	struct sl_err e = {{0}};
	char a[64];
	int ret;

	if (!g) {
		log_err("out of memory");
		return 1;
	}
	g->cfg = cfg;
	g->tcp_io.fd = g->stopfd = g->stream_io.fd = -1;
	if (cfg->has_registry && curl_global_init(CURL_GLOBAL_DEFAULT)) { /* once, before any thread */
		log_err("registry: curl: cannot initialise");
		free(g);
		return 1;
	}
	g->n_w = dp_workers_wanted();
	if (!g->n_w)
		g->n_w = 1; /* not reached: main() refuses a bad SLUICE_WORKERS */
	g->w = dp_workers_new(g->n_w, g, &g->reg.q, gw_on_tun, gw_on_udp);
	if (!g->w) {
		log_err("out of memory");
		free(g);
		return 1;
	}
	ret = loop_init(&g->loop);
	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		free(g->w);
		free(g);
		return 1;
	}
	ret = gw_setup(g, &e);
	if (ret) {
		log_err("%s", e.msg[0] ? e.msg : strerror(-ret));
		gw_teardown(g);
		free(g);
		return 1;
	}
	if (cfg->user[0]) {
		ret = privs_janitor(g->cs.path, janitor_at_exit, g, &e);
		if (!ret) {
			g->fwd_by_janitor = true; /* the user may not write the record: root's janitor lets go */
			ret = privs_drop(sock_port(&cfg->listen) < 1024, true, cfg->uid, cfg->gid, &e);
		}
		if (ret) {
			log_err("User = %s: %s", cfg->user, e.msg); /* asked for and not possible: do not run as root */
			gw_teardown(g);
			free(g);
			return 1;
		}
	}
	if (!cfg->user[0] && privs_drop(sock_port(&cfg->listen) < 1024, false, 0, 0, &e))
		log_warn("least privilege: %s (continuing with the capabilities we have)", e.msg);
	if (dp_workers_start(g->w, g->n_w, g->stopfd, &e) || (cfg->has_registry && fleet_start(&g->fleet, &e))) {
		log_err("%s", e.msg);
		gw_teardown(g);
		free(g);
		return 1;
	}
	log_info("gateway %s up: listening on %s, %zu clients configured, %u data worker%s", cfg->ifname,
		 sock_addr_str(&cfg->listen, a, sizeof(a)), cfg->n_clients, g->n_w, g->n_w == 1 ? "" : "s");
	if (ready)
		ready();
	while (!g->loop.got_term) {
		ret = loop_once(&g->loop);
		if (ret) {
			log_err("event loop: %s", strerror(-ret));
			break;
		}
		if (g->loop.got_hup) {
			g->loop.got_hup = false;
			reload(g);
		}
		qsbr_reclaim(&g->reg.q);
	}
	log_info("gateway %s: shutting down", cfg->ifname);
	gw_teardown(g);
	free(g);
	if (cfg->has_registry)
		curl_global_cleanup();
	return ret || dp_workers_faulted() ? 1 : 0;
}
