/* client: the client mode of sluiced. Start once (kill switch -> TUN -> UDP -> supervisor), then never exit
 * until SIGTERM/SIGINT: the supervisor (control/supervisor.c) re-authenticates forever, moving through the
 * configured servers in file order when one stops answering, and swaps the session snapshot whole; the TUN
 * and UDP paths (dataplane/cl_path.c) only ever read the current snapshot, which names the server address
 * the data goes to. The TUN link, the UDP socket, routes and the kill switch stay through every swap. */
#pragma once
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/addrcache.h"
#include "daemon/config.h"
#include "daemon/control/proto.h"
#include "daemon/control/resolve.h"
#include "daemon/ctlsock.h"
#include "daemon/metrics_http.h"
#include "daemon/dataplane/batch.h"
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/stream.h"
#include "daemon/dataplane/tunio.h"
#include "daemon/dataplane/udpio.h"
#include "daemon/dataplane/worker.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/mtu.h"
#include "daemon/netwatch.h"
#include "dns/dns.h"
#include "netcfg/forwarding.h"
#include "netcfg/netcfg.h"

#define SL_CL_GRACE_MS 30000u        /* previous snapshot still decrypts this long after a swap */
#define SL_REPLY_TIMEOUT_MS 2000u    /* sent data unanswered this long: probe with a keepalive at once */
#define SL_PROBE_WAIT_MS 2000u       /* a keepalive unanswered this long is lost (DESIGN 10.4) */
#define SL_PROBES_LOST_DOWN 2u       /* lost keepalives in a row that mark the path down */
#define SL_KICK_MIN_MS 1000u         /* demand-driven attempts at most this often */
#define SL_CTL_OP_TIMEOUT_MS 5000u   /* one AUTH or PING exchange, connect included */
#define SL_BACKOFF_MIN_MS 1000u
#define SL_HOST_RETRY_MIN_MS 1000u  /* a failed host configuration is applied again after this, doubling */
#define SL_HOST_RETRY_MAX_MS 30000u /* ... up to this */
#define SL_BACKOFF_MAX_MS 300000u
#define SL_REKEY_FRACTION_PCT 80u    /* re-authenticate at this share of the session lifetime */
#define SL_FAIL_LOG_EVERY_MS 600000u /* a server that stays down is mentioned again this rarely */
#define SL_CL_LAN_TEXT_MAX 512          /* LAN prefixes as text, "NET/LEN,…" */
#define SL_UDP_PROBE_MS 5000u        /* on the TCP fallback: a keepalive over UDP this often, to move back */

/* One authenticated session as the client uses it. Everything but `ks` (the data plane's running key state)
 * is fixed when it is published. */
struct cl_snap {
	struct qsbr_node retire;
	struct proto_snapshot s; /* as the gateway sent it (s.mtu: the gateway's MTU, what it may send us) */
	unsigned mtu;            /* effective: the smaller of s.mtu and ours — what we send at most */
	struct sockaddr_storage ep; /* the server address data goes to, in the UDP socket's family */
	socklen_t ep_len;
	unsigned srv;               /* index of its [Server] */
	uint64_t created_ms, expires_ms;
	struct keystate ks;
};

enum sup_phase {
	SUP_IDLE,
	SUP_RESOLVE, /* an AUTH attempt waits for its server's name */
	SUP_CONNECT,
	SUP_TLS,
	SUP_WRITE,
	SUP_READ,
};

struct supervisor {
	struct loop_io io;
	SSL *ssl;
	bool op_auth;     /* the exchange under way is AUTH (else PING, or DATA) */
	bool op_data;     /* … DATA: the connection becomes the session's TCP fallback stream */
	bool want_data;   /* the data plane should move to TCP: a DATA exchange is due */
	enum sup_phase ph;
	struct loop_timer timer; /* next attempt when idle, deadline when busy */
	uint64_t next_ms;
	uint64_t backoff_ms;
	unsigned failures;    /* failed exchanges since the last success */
	bool backing_off;     /* a whole round of servers failed: waiting backoff_ms */
	/* which server and address the next (or current) AUTH tries: a round starts at the current server (one
	 * re-auth to it), then moves through every address of each server in file order; the backoff grows only
	 * after a whole round failed */
	unsigned srv, addr_i, round_tried;
	unsigned tls_srv;                /* the server whose key the exchange under way must present */
	bool resolve_failing[SL_MAX_SERVERS]; /* its name failed to resolve last time (logged once) */
	struct sockaddr_storage try_ep;  /* the address of the exchange under way */
	socklen_t try_len;
	uint64_t last_attempt_ms;
	uint64_t last_fail_log_ms;
	uint64_t ping_at_ms, rekey_at_ms;
	bool need_auth;
	bool ever_up;
	bool refresh_only; /* SUP_RESOLVE only refreshes the server's addresses: no AUTH follows */
	char rbuf[PROTO_LINE_MAX];
	size_t rlen;
	char wbuf[96]; /* a request, or "CONFIRM <hex64>\n" */
	size_t wlen, woff;
	/* after the AUTH answer: the session waits for the gateway's word on our key confirmation */
	struct cl_snap *pending;
	bool confirming;
	bool gw_confirm_ok; /* the gateway's confirmation matched our keys */
};

struct cl {
	struct sl_config *cfg;
	struct loop loop;
	struct netcfg nc;
	struct sl_ids ids; /* sl_ids_for(cfg->ifname): never a constant */
	int ifindex;
	unsigned link_mtu;             /* the TUN link's MTU: the effective MTU of the current session */
	unsigned own_mtu;              /* MTU =, else derived from the route to the endpoint (daemon/mtu.h) */
	enum mtu_source mtu_source;
	bool clt_applied;              /* inet sluice_cl_IFACE (MSS clamping) is ours to remove */
	struct forwarding_ns fwd;      /* [Interface] Subnets: net.ipv4.ip_forward, held while fwd_pid != 0 */
	pid_t fwd_pid;
	unsigned clt_mtu;              /* … clamping for this MTU */
	SSL_CTX *tls;
	/* per [Server], in file order: the addresses to try — a literal Endpoint's own; for a name what it
	 * resolved to last, then its cached last good addresses not among them */
	struct sl_addrs srv_addrs[SL_MAX_SERVERS];
	struct sl_addrs resolved[SL_MAX_SERVERS]; /* a name's latest answer */
	struct sl_addrs cached[SL_MAX_SERVERS];   /* a name's last good addresses (StateDir/IFACE.servers) */
	struct resolver res;                       /* server names, marked, through the underlay's resolvers */
	bool res_open;
	char underlay_dns[RESOLVE_CSV_MAX];        /* those resolvers, recorded before we applied our DNS */
	unsigned sess_srv;                         /* the server of the current session */
	struct sockaddr_storage ep;                /* its address (the session's), as configured or resolved */
	socklen_t ep_len;
	int udp_family;                            /* AF_INET6 (dual-stack) or AF_INET (no IPv6 on the host) */
	bool path_up;                              /* the session's server answers */
	uint64_t probe_sent_ms;                    /* the keepalive awaiting an answer (0: none) */
	unsigned probes_lost;                      /* keepalives in a row that got none */
	struct loop_timer lv_timer;
	_Atomic(struct cl_snap *) cur;
	_Atomic(struct cl_snap *) prev;
	uint64_t prev_until_ms;
	struct qsbr q; /* snapshots replaced, waiting for the workers to let go */
	/* n_w data workers — each reads its TUN queue and sends; worker 0 also receives (one socket: the
	 * gateway sends from one address:port) — then the control thread's slot (keepalives, counters only) */
	struct dp_worker *w;
	unsigned n_w;
	int udp_fd, stopfd;
	/* a worker sent data while no reply was pending: it wakes the control thread once (probe_fd) to arm
	 * the reply timeout; the timer re-arms itself while traffic goes unanswered */
	struct loop_io probe_io;
	atomic_bool probe_armed;
	bool addr_applied, rules_applied;
	struct sl_prefix pushed[SL_MAX_PUSH_ROUTES]; /* Routes = pushed: the gateway's PushRoutes we installed */
	unsigned n_pushed;
	bool pushed_v6_logged; /* IPv6 pushed routes skipped (no IPv6 in this tunnel): said once */
	struct dns_client dns; /* servers, domains, backend, their routes (dns/) */
	struct in_addr applied_addr;
	int routes6_oif;             /* the IPv6 routes' link: the TUN, or 0 (unreachable routes: MTU < 1280) */
	bool tun_v6;                 /* IPv6 is on on the TUN (its disable_ipv6 = 0): else unreachable IPv6 routes */
	bool no_ipv6;                /* this kernel has no IPv6 (ipv6.disable=1): no IPv6 route, rule or address */
	bool addr6_applied;          /* the snapshot's IPv6 address is on the link */
	struct in6_addr applied_addr6;
	uint8_t applied_plen6;
	uint8_t applied_plen;
	uint64_t last_tx_ms, last_data_tx_ms, unanswered_since_ms;
	struct loop_timer ka_timer, probe_timer, grace_timer, stats_timer;
	/* the current snapshot's host configuration failed (apply_host): applied again on this timer with a
	 * backoff until it succeeds; a new snapshot restarts it (cl_install) */
	struct loop_timer host_timer;
	uint32_t host_retry_ms; /* the next wait; 0: nothing to retry */
	unsigned host_retries;  /* attempts that failed again for the current snapshot */
	struct supervisor sup;
	uint64_t last_handshake_wall;
	uint64_t handshakes_ok, handshakes_failed, pings, failovers;
	uint64_t psk_mismatch; /* AUTHs whose key confirmation failed (control/psk.h) */
	uint64_t stats_last_sum;
	struct ctlsock cs;
	bool cs_open;
	struct metrics_http metrics; /* MetricsListen: GET /metrics */
	/* TCP fallback (control/cl_fallback.c): while `stream` is set, every datagram goes over it; worker 0
	 * reads it. UDP is probed now and then, and the stream is dropped as soon as UDP answers. */
	_Atomic(struct dp_stream *) stream;
	struct loop_io stream_io;      /* eventfd: worker 0 saw the stream end */
	struct loop_timer udp_probe_timer;
	uint64_t udp_rx_ms;            /* worker 0: latest authenticated datagram that came over UDP */
	uint64_t udp_probe_ms;         /* the latest keepalive sent over UDP while on TCP */
	uint64_t transport_switches;   /* UDP -> TCP and back */
	/* the network under us (daemon/cl_net.c): links, addresses and routes followed through rtnetlink */
	struct netwatch nw;
	bool nw_open;
	struct netpath path;               /* the path to path_ep as last looked at */
	struct sockaddr_storage path_ep;   /* … the server address it leads to */
	uint64_t path_changes;             /* times that path changed (status path_changes) */
	char ks_lan[SL_CL_LAN_TEXT_MAX];      /* the kill switch's LAN prefixes as last applied (KillSwitchAllowLAN) */
};

int cl_run(struct sl_config *cfg, void (*ready)(void));

struct ks_spec;
/* The kill switch as this client applies it (all: SL_KS_MAX_SERVERS addresses, the spec points there). */
void cl_ks_spec(const struct cl *c, struct ks_spec *ks, struct sockaddr_storage *all);
/* A keepalive now, outside the schedule (the gateway learns a new endpoint at once); with no session, nothing. */
void cl_probe_now(struct cl *c);

/* The network watch (daemon/cl_net.c): on a change of the path to the server (interface, source address, next
 * hop, MTU) a keepalive at once, the MTU derived again, the server's name resolved again; on any change of the
 * host's networks the kill switch's LAN allowance follows. One log line per change of path. */
int cl_net_open(struct cl *c, struct sl_err *e);
void cl_net_close(struct cl *c);

/* Data plane (dataplane/cl_path.c). */
void cl_on_tun(struct loop_io *io, uint32_t events);
void cl_on_udp(struct loop_io *io, uint32_t events);
void cl_on_stream(struct loop_io *io, uint32_t events);
/* From the control thread (its own cipher-context cache and counters): over the TCP fallback stream when there
 * is one, else (or with udp) over UDP. */
void cl_send_keepalive(struct cl *c, uint64_t now, bool udp);
/* Monotonic ms of the latest authenticated datagram from the server (0: none yet). */
uint64_t cl_last_rx_ms(const struct cl *c);

/* Supervisor (control/supervisor.c). */
void sup_init(struct cl *c);
void sup_close(struct cl *c);
/* Traffic waits while no server answers: start the next attempt now (bypasses the backoff, at most every
 * SL_KICK_MIN_MS). */
void sup_kick(struct cl *c);
/* The session's server stopped answering (keepalives lost): re-authenticate, the same server first. */
void sup_path_down(struct cl *c, const char *why);
/* The data plane should move to TCP (UDP does not get through): a DATA exchange with the session's server. */
void sup_data(struct cl *c);
/* The path to the server changed, or the network did while no server answers (cl_net.c): with no session the
 * next attempt starts now (names are resolved at every attempt); with one, its server's name is looked up again
 * in the background when the supervisor is idle. */
void sup_network_changed(struct cl *c);
/* SIGUSR1: re-authenticate now (a new session and keys; the old one keeps decrypting for the grace period). */
void sup_rekey(struct cl *c);
/* Installs a new snapshot (supervisor -> client.c): swap, apply address/routes/DNS on first use. */
int cl_install(struct cl *c, struct cl_snap *snap);
/* The resolvers to ask for server names: the host's own (re-read while our DNS is not applied, so a new
 * network's resolvers are followed), else those recorded before it was. */
const char *cl_underlay_dns(struct cl *c);
/* Every known address of every server (for the kill switch's sets); how many were written. */
size_t cl_known_addrs(const struct cl *c, struct sockaddr_storage *out, size_t max);
/* A server's addresses changed (a name resolved to new ones): the kill switch's sets follow. */
void cl_servers_changed(struct cl *c);
/* An address of server srv authenticated: when it is one its name resolved to, that answer becomes the
 * server's last good addresses (StateDir cache). */
void cl_server_proven(struct cl *c, unsigned srv, const struct sockaddr_storage *addr);
/* A server address as the UDP socket sends to it (IPv4 mapped into IPv6 on a dual-stack socket); 0 when the
 * socket cannot reach that family. */
socklen_t cl_udp_dest(const struct cl *c, const struct sockaddr_storage *a, struct sockaddr_storage *out);
/* After each good PING: the route to the server may have narrowed (a path MTU the kernel learned from an
 * underlay router's ICMP) or widened again; the TUN link and the MSS clamp follow, within the session's MTU. */
void cl_mtu_check(struct cl *c);
/* SIGHUP: re-reads the config's PresharedKeyFile of every [Server] (same servers, same order required); the
 * next AUTH uses them. */
void sup_reload_psk(struct cl *c);
void cl_snap_free(struct cl_snap *s);

/* TCP fallback (control/cl_fallback.c). */
int cl_fallback_init(struct cl *c);
/* The workers are stopped: the stream closed, nothing left. */
void cl_fallback_close(struct cl *c);
/* Two keepalives lost in a row: true if that means UDP is blocked rather than the server gone — the session
 * is fresh, its AUTH went through, and nothing ever came back over UDP — and the move to TCP has begun. */
bool cl_fallback_start(struct cl *c);
/* The supervisor's DATA exchange succeeded: fd (TLS done with) carries the data from now on. */
void cl_stream_attach(struct cl *c, int fd);
/* Back to UDP: the stream (if any) is closed. Returns true if there was one. */
bool cl_stream_drop(struct cl *c, const char *why);
static inline bool cl_on_tcp(struct cl *c)
{
	return atomic_load_explicit(&c->stream, memory_order_acquire) != NULL;
}
