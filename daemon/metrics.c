/* metrics: status models into the Prometheus text format. Families are never split across
 * interfaces: each HELP/TYPE pair is followed by the samples of every interface. A label value is
 * escaped as the format asks. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include "daemon/dataplane/wire.h"
#include "daemon/metrics.h"

struct metric {
	const char *key;  /* status key */
	const char *name; /* metric name */
	const char *type;
	const char *help;
};

static const struct metric iface_metrics[] = {
	{"tun_rx_packets", "sluice_tun_rx_packets_total", "counter", "Packets read from the TUN link."},
	{"tun_rx_bytes", "sluice_tun_rx_bytes_total", "counter", "Bytes read from the TUN link."},
	{"tun_tx_packets", "sluice_tun_tx_packets_total", "counter", "Packets written to the TUN link."},
	{"tun_tx_bytes", "sluice_tun_tx_bytes_total", "counter", "Bytes written to the TUN link."},
	{"tun_rx_packets6", "sluice_tun_rx_ipv6_packets_total", "counter",
	 "Of the packets read from the TUN link, the IPv6 ones."},
	{"tun_tx_packets6", "sluice_tun_tx_ipv6_packets_total", "counter",
	 "Of the packets written to the TUN link, the IPv6 ones."},
	{"udp_rx_datagrams", "sluice_udp_rx_datagrams_total", "counter", "Datagrams received."},
	{"udp_rx_bytes", "sluice_udp_rx_bytes_total", "counter", "Datagram bytes received."},
	{"udp_tx_datagrams", "sluice_udp_tx_datagrams_total", "counter", "Datagrams sent."},
	{"udp_tx_bytes", "sluice_udp_tx_bytes_total", "counter", "Datagram bytes sent."},
	{"tcp_rx_datagrams", "sluice_tcp_rx_datagrams_total", "counter",
	 "Datagrams received over a TCP fallback stream."},
	{"tcp_tx_datagrams", "sluice_tcp_tx_datagrams_total", "counter", "Datagrams sent over a TCP fallback stream."},
	{"tcp_streams", "sluice_tcp_streams", "gauge",
	 "Sessions whose data goes over a TCP fallback stream (gateway)."},
	{"transport_tcp", "sluice_transport_tcp", "gauge",
	 "1 while the data goes over the TCP fallback stream, 0 over UDP (client)."},
	{"transport_switches", "sluice_transport_switches_total", "counter",
	 "Moves of the data between UDP and the TCP fallback stream, either way (client)."},
	{"handshakes_ok", "sluice_handshakes_ok_total", "counter", "Successful authentications."},
	{"handshakes_failed", "sluice_handshakes_failed_total", "counter", "Failed control exchanges."},
	{"pings", "sluice_pings_total", "counter", "Session pings answered."},
	{"handshakes_unknown_key", "sluice_handshakes_unknown_key_total", "counter",
	 "Failed handshakes: one certificate, its key not a configured client's (gateway)."},
	{"handshakes_bad_cert", "sluice_handshakes_bad_cert_total", "counter",
	 "Failed handshakes: the certificate refused for its shape before any key check: more than one, "
	 "a list over the size cap, not Ed25519 (gateway)."},
	{"conns_preauth", "sluice_control_preauth_connections", "gauge",
	 "Control connections open and not yet authenticated (gateway)."},
	{"conns_refused", "sluice_control_refused_total", "counter",
	 "Control connections closed at once: over a cap (the source's, or that on authenticated ones) (gateway)."},
	{"conns_refused_source", "sluice_control_refused_source_total", "counter",
	 "Control connections closed at once: the source (IPv4 address, IPv6 /64) held its pre-authentication "
	 "cap (gateway)."},
	{"conns_ratelimited", "sluice_control_ratelimited_total", "counter",
	 "Control connections closed at once: the source was over its handshake rate (gateway)."},
	{"conns_evicted", "sluice_control_evicted_total", "counter",
	 "Control connections closed to make room for a new one: pre-authentication ones when all slots were "
	 "taken (the oldest of the busiest source), or a client key's oldest past 4 per key (gateway)."},
	{"conns_timed_out", "sluice_control_timed_out_total", "counter",
	 "Control connections closed at their deadline (5 s; 1 s from the handshake to the request) (gateway)."},
	{"psk_mismatch", "sluice_psk_mismatch_total", "counter",
	 "Authentications whose key confirmation failed: the pre-shared keys of the two ends differ."},
	{"psk", "sluice_psk", "gauge", "1 when the current [Server] has a PresharedKeyFile (client)."},
	{"psk_clients", "sluice_psk_clients", "gauge", "Clients with a PresharedKeyFile (gateway)."},
	{"stealth", "sluice_stealth", "gauge", "1 with Stealth = on (gateway: its port; client: the current [Server])."},
	{"stealth_refused", "sluice_stealth_refused_total", "counter",
	 "Stealth = on: control connections closed without a byte sent, for want of a valid prelude (gateway)."},
	{"stealth_stale", "sluice_stealth_stale_total", "counter",
	 "Of the refused: a prelude made with the gateway's key, its timestamp outside the window (gateway)."},
	{"stealth_replayed", "sluice_stealth_replayed_total", "counter",
	 "Of the refused: a prelude made with the gateway's key, its nonce seen before (gateway)."},
	{"repushes", "sluice_repushes_total", "counter",
	 "Session pings answered EXPIRED because a reload changed what that client receives (gateway)."},
	{"failovers", "sluice_failovers_total", "counter",
	 "Sessions moved to another [Server] after the previous one stopped answering (client)."},
	{"path_changes", "sluice_path_changes_total", "counter",
	 "Changes of the network under the tunnel: the client's path to its server (interface, source address, next "
	 "hop, MTU), the gateway's egress link (gone, back, up/down, addresses, MTU)."},
	{"path_checks", "sluice_path_checks_total", "counter",
	 "Looks at the network after a burst of link, address or route events settled (one per burst)."},
	{"icmp_too_big", "sluice_icmp_too_big_total", "counter",
	 "Packets above the tunnel MTU answered with ICMP fragmentation needed."},
	{"registry_connected", "sluice_registry_connected", "gauge",
	 "1 while the etcd registry answers (gateway with Registry =; 0 otherwise)."},
	{"registry_syncs", "sluice_registry_syncs_total", "counter",
	 "Full reads of the etcd registry: start-up, reloads, reconnects, watch events that cannot be applied alone."},
	{"registry_incremental", "sluice_registry_incremental_total", "counter",
	 "Watch events of the etcd registry applied one by one, without reading the whole registry."},
	{"registry_sync_failures", "sluice_registry_sync_failures_total", "counter",
	 "Reads of the etcd registry that failed (etcd unreachable); the gateway kept its clients."},
	{"registry_watch_events", "sluice_registry_watch_events_total", "counter",
	 "Changes of the registry's clients reported by the etcd watch (messages with events, cancels)."},
	{"registry_leases_created", "sluice_registry_leases_created_total", "counter",
	 "Address leases this gateway created in etcd."},
	{"registry_refused", "sluice_registry_refused", "gauge",
	 "Registry clients left out at the last read (bad record, address taken, full pool, duplicate)."},
	{"registry_sessions", "sluice_registry_sessions", "gauge",
	 "This gateway's live sessions as recorded in etcd (PREFIX/sessions/, under its lease)."},
	{"registry_session_writes", "sluice_registry_session_writes_total", "counter",
	 "Session records written to etcd (puts and deletes, batched)."},
	{"registry_session_failures", "sluice_registry_session_failures_total", "counter",
	 "Session writes or lease keepalives that failed (retried every second)."},
	{"mtu", "sluice_mtu", "gauge", "Tunnel MTU in use."},
	{"uptime", "sluice_uptime_seconds", "gauge", "Seconds since the daemon started."},
	{"workers", "sluice_workers", "gauge", "Data worker threads (one TUN queue each)."},
	{"lat_tun_udp_avg_ns", "sluice_latency_tun_to_udp_avg_nanoseconds", "gauge",
	 "Moving average of the time from TUN read to UDP send."},
	{"lat_tun_udp_p95_ns", "sluice_latency_tun_to_udp_p95_nanoseconds", "gauge",
	 "95th percentile of the time from TUN read to UDP send."},
	{"lat_udp_tun_avg_ns", "sluice_latency_udp_to_tun_avg_nanoseconds", "gauge",
	 "Moving average of the time from UDP receive to TUN write."},
	{"lat_udp_tun_p95_ns", "sluice_latency_udp_to_tun_p95_nanoseconds", "gauge",
	 "95th percentile of the time from UDP receive to TUN write."},
};

static const struct metric peer_metrics[] = {
	{"peer_rx_bytes", "sluice_peer_rx_bytes_total", "counter", "Inner bytes received from a client."},
	{"peer_tx_bytes", "sluice_peer_tx_bytes_total", "counter", "Inner bytes sent to a client."},
	{"peer_rx_packets", "sluice_peer_rx_packets_total", "counter", "Inner packets received from a client."},
	{"peer_tx_packets", "sluice_peer_tx_packets_total", "counter", "Inner packets sent to a client."},
	{"peer_transport_tcp", "sluice_peer_transport_tcp", "gauge",
	 "1 while a client's data goes over a TCP fallback stream, 0 over UDP."},
	{"peer_transport_switches", "sluice_peer_transport_switches_total", "counter",
	 "Moves of a client's data between UDP and a TCP fallback stream, either way."},
	{"peer_latest_handshake", "sluice_peer_latest_handshake_seconds", "gauge",
	 "Unix time of the client's latest authentication (0: never)."},
	{"peer_psk", "sluice_peer_psk", "gauge", "1 when the client's [Client] has a PresharedKeyFile."},
};

static void label_value(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			sb_printf(out, "\\%c", *s);
		else if (*s == '\n')
			sb_printf(out, "\\n");
		else
			sb_printf(out, "%c", *s);
	}
}

static void sample_iface(struct strbuf *out, const struct st_iface *st, const char *name,
			 const char *extra, uint64_t v)
{
	sb_printf(out, "%s{interface=\"", name);
	label_value(out, st_get(&st->main, "interface"));
	sb_printf(out, "\"%s} %" PRIu64 "\n", extra, v);
}

/* Every family once (HELP, TYPE), with the samples of every interface under it. */
static void metrics_ifaces(struct strbuf *out, const struct st_iface *sts, size_t n)
{
	sb_printf(out, "# HELP sluice_up 1 when the daemon answered.\n# TYPE sluice_up gauge\n");
	for (size_t i = 0; i < n; i++)
		sample_iface(out, &sts[i], "sluice_up", "", 1);
	for (size_t m = 0; m < sizeof(iface_metrics) / sizeof(iface_metrics[0]); m++) {
		const struct metric *me = &iface_metrics[m];
		sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", me->name, me->help, me->name,
			  me->type);
		for (size_t i = 0; i < n; i++)
			sample_iface(out, &sts[i], me->name, "", st_u64(&sts[i].main, me->key));
	}
	sb_printf(out, "# HELP sluice_drops_total Packets and datagrams dropped, by cause.\n"
		       "# TYPE sluice_drops_total counter\n");
	for (size_t i = 0; i < n; i++) {
		for (int d = 0; d < SL_DROP__COUNT; d++) {
			char k[64], extra[64];
			snprintf(k, sizeof(k), "drop_%s", wire_drop_name(d));
			snprintf(extra, sizeof(extra), ",cause=\"%s\"", wire_drop_name(d));
			sample_iface(out, &sts[i], "sluice_drops_total", extra,
				     st_u64(&sts[i].main, k));
		}
	}
}

static void metrics_peers(struct strbuf *out, const struct st_iface *st, const struct metric *m)
{
	for (size_t j = 0; j < st->n_peers; j++) {
		sb_printf(out, "%s{interface=\"", m->name);
		label_value(out, st_get(&st->main, "interface"));
		sb_printf(out, "\",peer=\"");
		label_value(out, st_get(&st->peers[j], "peer"));
		sb_printf(out, "\"} %" PRIu64 "\n", st_u64(&st->peers[j], m->key));
	}
}

void metrics_text(const struct st_iface *sts, size_t n, struct strbuf *out)
{
	if (!n)
		return;
	metrics_ifaces(out, sts, n);
	for (size_t f = 0; f < sizeof(peer_metrics) / sizeof(peer_metrics[0]); f++) {
		bool any = false;
		for (size_t i = 0; i < n; i++)
			any |= sts[i].n_peers > 0;
		if (!any)
			continue;
		sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", peer_metrics[f].name,
			  peer_metrics[f].help, peer_metrics[f].name, peer_metrics[f].type);
		for (size_t i = 0; i < n; i++)
			metrics_peers(out, &sts[i], &peer_metrics[f]);
	}
}
