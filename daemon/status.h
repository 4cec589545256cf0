/* status: the daemon's state as "key=value" lines for the control socket (read by `sluice show`, `dump`,
 * `metrics`), and the periodic StatsInterval log line. Built from counters the data plane already keeps.
 *
 * Interface keys: interface, mode, public_key, listen | endpoint, address, address6 (IPv6 tunnel address/len,
 * "" without one), mtu (in use), mtu_source (config |
 * egress | route | default: daemon/mtu.h), tun_rx_packets, tun_rx_bytes, tun_tx_packets, tun_tx_bytes,
 * tun_rx_packets6, tun_tx_packets6 (of those packets, the IPv6 ones),
 * udp_rx_datagrams, udp_rx_bytes, udp_tx_datagrams, udp_tx_bytes, drop_<cause> (wire_drop_name),
 * icmp_too_big (oversize packets answered with ICMP "fragmentation needed"), handshakes_ok, handshakes_failed, pings, uptime, and the time packets
 * spend inside the daemon: lat_tun_udp_avg_ns, lat_tun_udp_p95_ns, lat_udp_tun_avg_ns, lat_udp_tun_p95_ns.
 * Client only: session_id, latest_handshake (unix s, 0 never), last_rx_age_ms (-1 never), rx_bytes,
 * rx_packets, tx_bytes, tx_packets, server_public_key, supervisor (up|connecting|backoff), mtu_own (ours:
 * MTU = or derived from the route to the server), mtu_gateway (the session's pushed MTU, 0 without one).
 * Gateway only: clients, nat (on | off); the control port's handshakes_unknown_key and handshakes_bad_cert
 * (of the failed:
 * refused for the key, or for the certificate's shape), conns_preauth (pre-authentication connections open
 * now), conns_refused (closed at once over a cap), conns_refused_source (of those: the source's pre-auth
 * cap), conns_ratelimited (over a source's handshake rate), conns_evicted (closed to make room: pre-auth
 * connections, or a key's oldest past 4 per key), conns_timed_out (closed at the deadline, or no request 1 s
 * after the handshake); then for each client a block starting with
 * "peer=<name>": peer_public_key, peer_endpoint,
 * peer_address, peer_address6 ("" without one), peer_session_id, peer_latest_handshake, peer_last_rx_age_ms,
 * peer_rx_bytes, peer_rx_packets,
 * peer_tx_bytes, peer_tx_packets, peer_drop_<cause>. */
#pragma once
#include <stdint.h>
#include "daemon/common/strbuf.h"
#include "daemon/dataplane/keystate.h"

struct gw;
struct cl;

void status_dump_gateway(struct gw *g, struct strbuf *out);
void status_dump_client(struct cl *c, struct strbuf *out);
/* One summary line if any counter changed since the last call (never a line while idle). */
void status_log_line(const struct dp_stats *st, uint64_t *last_sum);
