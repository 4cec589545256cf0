/* status: control-socket dumps and the periodic stats line. */
#include <arpa/inet.h>
#include <net/if.h>
#include <inttypes.h>
#include <string.h>
#include "daemon/client.h"
#include "daemon/gateway.h"
#include "daemon/sockets.h"
#include "daemon/status.h"

static uint64_t start_ms;

__attribute__((constructor)) static void status_start(void)
{
	start_ms = now_ms();
}

static void dump_key(struct strbuf *o, const char *k, const uint8_t key[SL_KEY_LEN])
{
	char b[SL_KEY_B64_LEN + 1];

	key_to_base64(key, b);
	sb_printf(o, "%s=%s\n", k, b);
}

static void dump_stats(struct strbuf *o, const struct dp_stats *st)
{
	sb_printf(o, "tun_rx_packets=%" PRIu64 "\ntun_rx_bytes=%" PRIu64 "\n", st->tun_rx_packets, st->tun_rx_bytes);
	sb_printf(o, "tun_tx_packets=%" PRIu64 "\ntun_tx_bytes=%" PRIu64 "\n", st->tun_tx_packets, st->tun_tx_bytes);
	sb_printf(o, "tun_rx_packets6=%" PRIu64 "\ntun_tx_packets6=%" PRIu64 "\n", st->tun_rx_packets6,
		  st->tun_tx_packets6);
	sb_printf(o, "udp_rx_datagrams=%" PRIu64 "\nudp_rx_bytes=%" PRIu64 "\n", st->udp_rx_datagrams,
		  st->udp_rx_bytes);
	sb_printf(o, "udp_tx_datagrams=%" PRIu64 "\nudp_tx_bytes=%" PRIu64 "\n", st->udp_tx_datagrams,
		  st->udp_tx_bytes);
	sb_printf(o, "tcp_rx_datagrams=%" PRIu64 "\ntcp_tx_datagrams=%" PRIu64 "\n", st->tcp_rx_datagrams,
		  st->tcp_tx_datagrams);
	for (int i = 0; i < SL_DROP__COUNT; i++)
		sb_printf(o, "drop_%s=%" PRIu64 "\n", wire_drop_name(i), st->drops[i]);
	sb_printf(o, "icmp_too_big=%" PRIu64 "\n", st->icmp_too_big);
	sb_printf(o, "lat_tun_udp_avg_ns=%" PRIu64 "\nlat_tun_udp_p95_ns=%" PRIu64 "\n", st->lat_tun_udp.avg_ns,
		  dp_latency_quantile(&st->lat_tun_udp, 0.95));
	sb_printf(o, "lat_udp_tun_avg_ns=%" PRIu64 "\nlat_udp_tun_p95_ns=%" PRIu64 "\n", st->lat_udp_tun.avg_ns,
		  dp_latency_quantile(&st->lat_udp_tun, 0.95));
}

static int64_t age_ms(uint64_t t, uint64_t now)
{
	return t ? (int64_t)ms_since(t, now) : -1;
}

#define PREFIX4_STR_MAX (INET_ADDRSTRLEN + 3) /* "a.b.c.d/nn" */

/* "10.66.0.1/24" into out (PREFIX4_STR_MAX bytes) */
static void prefix4_str(struct in_addr a, unsigned len, char *out)
{
	char t[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, t, sizeof(t));
	snprintf(out, PREFIX4_STR_MAX, "%s/%u", t, len % 100);
}

static void dump_peer(struct strbuf *o, const struct gw_peer *p, uint64_t now)
{
	struct dp_peer_counters pc;
	const struct gw_session *s = p->cur;
	char ip[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "", ep[64] = "(none)", kb[SL_KEY_B64_LEN + 1];
	struct sockaddr_storage a;

	/* one printf and plain appends per client: 10,000 clients are answered in a fraction of a second, which
	 * the CLI waits for */
	peer_counters(p, &pc);
	if (p->addr.s_addr)
		inet_ntop(AF_INET, &p->addr, ip, sizeof(ip));
	if (p->has_addr6)
		inet_ntop(AF_INET6, &p->addr6, ip6, sizeof(ip6));
	if (s && SL_RD(s->ep_seen_ms) && session_ep_read(s, &a))
		sock_addr_str(&a, ep, sizeof(ep));
	key_to_base64(p->pubkey, kb);
	sb_printf(o,
		  "peer=%s\npeer_public_key=%s\npeer_endpoint=%s\npeer_address=%s\npeer_address6=%s\n"
		  "peer_session_id=%08x\npeer_latest_handshake=%" PRIu64 "\npeer_last_rx_age_ms=%" PRId64 "\n",
		  p->name, kb, ep, ip, ip6, s ? s->id : 0, p->last_handshake_wall, age_ms(pc.last_rx_ms, now));
	sb_printf(o, "peer_transport=%s\npeer_transport_tcp=%d\n", s && session_stream(s) ? "tcp" : "udp",
		  s && session_stream(s) ? 1 : 0);
	sb_kv_u64(o, "peer_", "transport_switches", p->transport_switches);
	sb_kv_u64(o, "peer_", "psk", p->has_psk);
	if (p->n_subnets) { /* absent: none (10,000 clients without Subnets answer no faster with empty lines) */
		char sn[SL_PREFIXLIST_TEXT_MAX];
		sb_printf(o, "peer_subnets=%s\n", prefixlist_str(p->subnets, p->n_subnets, sn, sizeof(sn)));
	}
	sb_kv_u64(o, "peer_", "rx_bytes", pc.rx_bytes);
	sb_kv_u64(o, "peer_", "rx_packets", pc.rx_packets);
	sb_kv_u64(o, "peer_", "tx_bytes", pc.tx_bytes);
	sb_kv_u64(o, "peer_", "tx_packets", pc.tx_packets);
	for (int i = 0; i < SL_DROP__COUNT; i++)
		sb_kv_u64(o, "peer_drop_", wire_drop_name(i), pc.drops[i]);
}

void status_dump_gateway(struct gw *g, struct strbuf *o)
{
	char a[64], ip[PREFIX4_STR_MAX] = "", ip6[INET6_ADDRSTRLEN + 4] = "";
	uint64_t now = now_ms();
	struct dp_stats st;

	dp_stats_sum(g->w, g->n_w + 1, &st);
	if (g->cfg->address.len) /* else none: an IPv6-only gateway, shown as an empty address= */
		prefix4_str(g->cfg->address.addr, g->cfg->address.len, ip);
	if (g->cfg->address6.len)
		inet_ntop(AF_INET6, &g->cfg->address6.addr, ip6, INET6_ADDRSTRLEN);
	sb_printf(o, "interface=%s\nmode=server\n", g->cfg->ifname);
	dump_key(o, "public_key", g->cfg->public_key);
	sb_printf(o, "listen=%s\naddress=%s\nmtu=%u\nmtu_source=%s\n", sock_addr_str(&g->cfg->listen, a, sizeof(a)), ip,
		  g->cfg->mtu, mtu_source_name(g->mtu_source));
	if (g->cfg->address6.len)
		sb_printf(o, "address6=%s/%u\n", ip6, g->cfg->address6.len);
	else
		sb_printf(o, "address6=\n");
	sb_printf(o, "uptime=%" PRIu64 "\nclients=%zu\n", (now - start_ms) / 1000, g->reg.n_peers);
	sb_printf(o, "workers=%u\n", g->n_w);
	dump_stats(o, &st);
	sb_printf(o, "handshakes_ok=%" PRIu64 "\nhandshakes_failed=%" PRIu64 "\npings=%" PRIu64 "\n",
		  g->cst.handshakes_ok, g->cst.handshakes_failed, g->cst.pings);
	sb_printf(o, "handshakes_unknown_key=%" PRIu64 "\nhandshakes_bad_cert=%" PRIu64 "\n",
		  g->cst.handshakes_unknown_key, g->cst.handshakes_bad_cert);
	sb_printf(o, "conns_preauth=%u\ntcp_streams=%u\n", g->pa.n, g->n_streams);
	sb_printf(o, "conns_refused=%" PRIu64 "\nconns_refused_source=%" PRIu64 "\nconns_ratelimited=%" PRIu64 "\n",
		  g->cst.conns_refused, g->cst.conns_refused_source, g->cst.conns_ratelimited);
	sb_printf(o, "conns_evicted=%" PRIu64 "\nconns_timed_out=%" PRIu64 "\n", g->cst.conns_evicted,
		  g->cst.conns_timed_out);
	sb_printf(o, "egress=%s\npath_changes=%" PRIu64 "\npath_checks=%" PRIu64 "\n", g->egress, g->path_changes,
		  g->nw.checks);
	{
		size_t n_psk = 0;
		for (size_t i = 0; i < g->reg.n_peers; i++)
			n_psk += g->reg.peers[i]->has_psk;
		sb_printf(o, "psk_clients=%zu\npsk_mismatch=%" PRIu64 "\nstealth=%d\n", n_psk, g->cst.psk_mismatch,
			  g->cfg->stealth);
	}
	sb_printf(o, "stealth_refused=%" PRIu64 "\nstealth_stale=%" PRIu64 "\nstealth_replayed=%" PRIu64 "\n",
		  g->cst.stealth_refused, g->cst.stealth_stale, g->cst.stealth_replayed);
	if (g->cfg->has_registry) {
		const struct etcd_url *u = &g->cfg->registry;
		struct fleet_status fs;

		fleet_status(&g->fleet, &fs);
		sb_printf(o, "registry=etcd://");
		for (unsigned i = 0; i < u->n_endpoints; i++)
			sb_printf(o, "%s%s", i ? "," : "", u->endpoint[i]);
		sb_printf(o, "%s\nregistry_state=%s\nregistry_connected=%d\n", u->prefix,
			  fs.connected ? "connected" : "unreachable", fs.connected);
		sb_printf(o, "registry_syncs=%" PRIu64 "\nregistry_sync_failures=%" PRIu64 "\nregistry_watch_events=%" PRIu64
			  "\nregistry_leases_created=%" PRIu64 "\nregistry_refused=%" PRIu64 "\nregistry_revision=%" PRId64
			  "\n", fs.syncs, fs.sync_failures, fs.watch_events, fs.leases_created, fs.refused, fs.revision);
		sb_printf(o, "registry_incremental=%" PRIu64 "\n", fs.incremental);
		sb_printf(o, "registry_sessions=%zu\nregistry_session_writes=%" PRIu64 "\nregistry_session_failures=%" PRIu64
			  "\n", fs.sessions, fs.session_writes, fs.session_failures);
	}
	{
		char pr[SL_PREFIXLIST_TEXT_MAX];
		sb_printf(o, "push_routes=%s\nclient_to_client=%s\nnat=%s\nrepushes=%" PRIu64 "\n",
			  prefixlist_str(g->cfg->push_routes, g->cfg->n_push_routes, pr, sizeof(pr)),
			  g->cfg->client_to_client ? "on" : "off", g->cfg->nat_off ? "off" : "on", g->cst.repushes);
	}
	for (size_t i = 0; i < g->reg.n_peers; i++)
		dump_peer(o, g->reg.peers[i], now);
}

static const char *sup_state(const struct cl *c)
{
	if (c->sup.backing_off)
		return "backoff";
	if (atomic_load(&c->cur) && c->path_up)
		return "up";
	return "connecting";
}

void status_dump_client(struct cl *c, struct strbuf *o)
{
	struct cl_snap *s = atomic_load(&c->cur);
	char a[64], ip[PREFIX4_STR_MAX] = "";
	uint64_t now = now_ms();
	struct dp_stats st;
	struct dp_peer_counters pc;
	unsigned srv;

	dp_stats_sum(c->w, c->n_w + 1, &st);
	dp_peer_sum(c->w, c->n_w + 1, &pc);
	if (s && !s->s.no_v4) /* else none: a session of an IPv6-only gateway, an empty address= */
		prefix4_str(s->s.addr, s->s.plen, ip);
	sb_printf(o, "interface=%s\nmode=client\n", c->cfg->ifname);
	dump_key(o, "public_key", c->cfg->public_key);
	/* the server of the session, or (none yet) the one being tried */
	srv = s ? c->sess_srv : c->sup.srv;
	dump_key(o, "server_public_key", c->cfg->servers[srv].pubkey);
	sb_printf(o, "endpoint=%s\nsupervisor=%s\n",
		  s ? sock_addr_str(&c->ep, a, sizeof(a)) : c->sup.try_len ? sock_addr_str(&c->sup.try_ep, a, sizeof(a)) : "(none)",
		  sup_state(c));
	sb_printf(o, "server=%s%s%s:%u\nserver_index=%u\nservers=%u\nfailovers=%" PRIu64 "\n",
		  strchr(c->cfg->servers[srv].host, ':') ? "[" : "", c->cfg->servers[srv].host,
		  strchr(c->cfg->servers[srv].host, ':') ? "]" : "", c->cfg->servers[srv].port, srv + 1,
		  c->cfg->n_servers, c->failovers);
	sb_printf(o, "transport=%s\ntransport_tcp=%d\ntransport_switches=%" PRIu64 "\n", cl_on_tcp(c) ? "tcp" : "udp",
		  cl_on_tcp(c) ? 1 : 0, c->transport_switches);
	sb_printf(o, "session_id=%08x\naddress=%s\nmtu=%u\n", s ? s->s.session_id : 0, ip, c->link_mtu);
	if (s && s->s.has_v6) {
		char ip6[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &s->s.addr6, ip6, sizeof(ip6));
		sb_printf(o, "address6=%s/%u\n", ip6, s->s.plen6);
	} else {
		sb_printf(o, "address6=\n");
	}
	sb_printf(o, "mtu_source=%s\nmtu_own=%u\nmtu_gateway=%u\n", mtu_source_name(c->mtu_source), c->own_mtu,
		  s ? s->s.mtu : 0);
	sb_printf(o, "uptime=%" PRIu64 "\nlatest_handshake=%" PRIu64 "\nlast_rx_age_ms=%" PRId64 "\n",
		  (now - start_ms) / 1000, c->last_handshake_wall, age_ms(pc.last_rx_ms, now));
	sb_printf(o, "rx_bytes=%" PRIu64 "\nrx_packets=%" PRIu64 "\ntx_bytes=%" PRIu64 "\ntx_packets=%" PRIu64 "\n",
		  pc.rx_bytes, pc.rx_packets, pc.tx_bytes, pc.tx_packets);
	{
		char sv[256], dm[SL_DOMAINS_TEXT_MAX + 8];
		dns_config_servers_str(&c->dns.cur, sv, sizeof(sv));
		dns_config_domains_str(&c->dns.cur, dm, sizeof(dm));
		sb_printf(o, "dns=%s\ndns_domains=%s\ndns_backend=%s\n", sv, dm,
			  c->cfg->dns_mode == SL_DNS_OFF ? "off" : dns_backend_name(c->dns.backend));
	}
	{
		char ifn[IFNAMSIZ] = "", path[160];
		if (c->path.have)
			if_indextoname((unsigned)c->path.r.oif, ifn);
		netpath_str(&c->path, ifn, path, sizeof(path));
		sb_printf(o, "path=%s\npath_changes=%" PRIu64 "\npath_checks=%" PRIu64 "\n", c->nw_open ? path : "",
			  c->path_changes, c->nw.checks);
		char pr[SL_PREFIXLIST_TEXT_MAX], sn[SL_PREFIXLIST_TEXT_MAX];
		sb_printf(o, "pushed_routes=%s\nsubnets=%s\n", prefixlist_str(c->pushed, c->n_pushed, pr, sizeof(pr)),
			  prefixlist_str(c->cfg->subnets, c->cfg->n_subnets, sn, sizeof(sn)));
	}
	sb_printf(o, "workers=%u\n", c->n_w);
	dump_stats(o, &st);
	sb_printf(o, "handshakes_ok=%" PRIu64 "\nhandshakes_failed=%" PRIu64 "\npings=%" PRIu64 "\n",
		  c->handshakes_ok, c->handshakes_failed, c->pings);
	/* of the server shown above: its PresharedKeyFile and Stealth */
	sb_printf(o, "psk=%d\nstealth=%d\npsk_mismatch=%" PRIu64 "\n", c->cfg->servers[srv].has_psk,
		  c->cfg->servers[srv].stealth, c->psk_mismatch);
}

void status_log_line(const struct dp_stats *st, uint64_t *last_sum)
{
	uint64_t drops = 0, sum;

	for (int i = 0; i < SL_DROP__COUNT; i++)
		drops += st->drops[i];
	/* user traffic and drops only: keepalives alone are idle, and an idle daemon logs nothing */
	sum = st->tun_rx_packets + st->tun_tx_packets + drops;
	if (sum == *last_sum)
		return;
	*last_sum = sum;
	log_info("stats: tun rx %" PRIu64 " pkts/%" PRIu64 " B, tx %" PRIu64 " pkts/%" PRIu64 " B; udp rx %" PRIu64
		 ", tx %" PRIu64 "; drops %" PRIu64,
		 st->tun_rx_packets, st->tun_rx_bytes, st->tun_tx_packets, st->tun_tx_bytes, st->udp_rx_datagrams,
		 st->udp_tx_datagrams, drops);
}
