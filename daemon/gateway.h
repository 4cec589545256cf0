/* gateway: the server mode of sluiced — the control thread's epoll loop owns the TCP control listener, the
 * client registry, the address pool, the NAT table and the control socket; data workers (dataplane/worker.h)
 * own a TUN queue and a UDP socket each and forward packets. */
#pragma once
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/config.h"
#include "daemon/control/pool.h"
#include "daemon/control/preauth.h"
#include "daemon/control/ratelimit.h"
#include "daemon/control/session.h"
#include "daemon/control/stealth.h"
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
#include "daemon/registry/fleet.h"
#include "nat/nat.h"
#include "netcfg/forwarding.h"
#include "netcfg/netcfg.h"

#define SL_CTL_DEADLINE_MS 5000u      /* a control connection's whole exchange */
/* pre-authentication connections: PREAUTH_SLOTS at once, PREAUTH_PER_SOURCE per source (control/preauth.h) */
#define SL_CTL_MAX_AUTHED 256u        /* connections past the handshake (configured keys), at once */
#define SL_CTL_PER_KEY 4u             /* ... of one client key: a 5th closes that key's oldest */
#define SL_CTL_REQUEST_MS 1000u       /* from the handshake's end to the request line (and the absolute deadline) */
#define SL_CTL_RATE_PER_SOURCE 50u    /* new control connections (TLS handshakes) per second per source … */
#define SL_CTL_RATE_BURST 100u        /* … after a burst of this many: 1,000 clients behind one NAT pinging */
#define SL_CTL_RATE_BUCKETS 4096u     /* sources tracked at once (a fixed table) */
#define SL_CTL_ACCEPT_BURST 64u       /* connections accepted per wake-up of the loop (gw_on_accept) */
#define SL_CTL_ACCEPT_RETRY_MS 100u   /* out of descriptors or memory: the listener rests this long */
#define SL_REAP_INTERVAL_MS 5000u
/* A burst of handshakes that ended (no control connection left open for this long) gives the heap's free pages
 * back at once, not at the next reap; smaller bursts wait for the reap (gateway.c on_trim). */
#define SL_TRIM_QUIET_MS 100u
#define SL_TRIM_BURST 64u
#define SL_PASSIVE_KEEPALIVE_MS 1000u /* answer a client's datagrams with a keepalive when we sent nothing */
#define SL_PASSIVE_DEFER_MS 100u      /* … unless anything reaches it within this long (gw_path.c) */

struct gw_conn;

/* Control-plane counters. */
struct ctl_stats {
	uint64_t handshakes_ok, handshakes_failed, pings;
	uint64_t repushes; /* PINGs answered EXPIRED because a SIGHUP changed the client's snapshot (DESIGN 10.9) */
	uint64_t handshakes_unknown_key; /* of the failed: one certificate, a key not configured */
	uint64_t handshakes_bad_cert;    /* of the failed: refused for its shape (tls.h) */
	uint64_t conns_refused;          /* closed at once, over a cap: the source's, or SL_CTL_MAX_AUTHED */
	uint64_t conns_refused_source;   /* of those: the source held PREAUTH_PER_SOURCE pre-auth slots */
	uint64_t conns_ratelimited;      /* closed at once, over the source's handshake rate */
	uint64_t conns_evicted;          /* closed to make room: pre-auth (all slots taken) or a key's oldest (SL_CTL_PER_KEY) */
	uint64_t conns_timed_out;        /* closed at SL_CTL_DEADLINE_MS, or no request SL_CTL_REQUEST_MS after the handshake */
	uint64_t psk_mismatch;           /* AUTHs whose key confirmation failed (control/psk.h) */
	uint64_t stealth_refused;        /* Stealth = on: connections closed without a byte sent: no valid prelude */
	uint64_t stealth_stale;          /* of those: a good prelude outside the freshness window */
	uint64_t stealth_replayed;       /* of those: a good prelude whose nonce was used before */
};

struct gw {
	struct sl_config *cfg;
	struct loop loop;
	struct netcfg nc;
	int ifindex;
	enum mtu_source mtu_source; /* of cfg->mtu: configured, from the egress link, or the default */
	struct loop_io tcp_io;
	SSL_CTX *tls;
	struct gw_registry reg;
	struct pool pool;
	bool pool_ready;
	struct pool pool6; /* with an IPv6 prefix in Address (DESIGN 9) */
	bool pool6_ready;
	struct nat_state nat;
	struct nat_spec nat_spec; /* as applied: a reload that changes PushRoutes or ClientToClient re-applies it */
	struct sl_prefix routed[SL_MAX_SUBNETS_TOTAL]; /* clients' Subnets routed into the TUN (main table) */
	unsigned n_routed;
	struct forwarding_ns fwd; /* net.ipv4.ip_forward, held while fwd_pid != 0 */
	pid_t fwd_pid;            /* the daemon's pid in the forwarding record */
	bool fwd_by_janitor;      /* User =: the root janitor lets go of it once the daemon is gone */
	struct ctlsock cs;
	bool cs_open;
	struct metrics_http metrics; /* MetricsListen: GET /metrics */
	struct fleet fleet;          /* Registry =: the etcd registry's thread (cfg->has_registry) */
	struct loop_io fleet_io;     /* its notify_fd: a new client list is ready */
	struct loop_timer fleet_timer; /* FLEET_SESSION_SCAN_MS: live sessions -> the registry thread */
	uint64_t fleet_sess_print;     /* fingerprint of the set last handed over (0: none yet) */
	struct ctl_stats cst;
	struct dp_worker *w; /* n_w data workers, then the control thread's slot (counters only) */
	unsigned n_w;
	int stopfd;
	struct gw_conn *conns; /* control connections, doubly linked */
	struct gw_conn *buried; /* closed for another connection, freed by the next sweep (gw_ctl.c) */
	struct gw_conn *lease_wait; /* AUTHs waiting for their new lease's group commit (gw_ctl.c) */
	struct loop_timer lease_timer; /* due at once when one waits: the commit, before the next epoll_wait */
	unsigned n_conns;
	struct dp_stream *streams; /* TCP fallback streams (not control connections: no cap, no deadline) */
	unsigned n_streams;
	struct loop_io stream_io;  /* eventfd: a worker saw a stream end */
	struct preauth pa;     /* which of them are pre-authentication, and from where */
	struct loop_timer reap_timer, conn_timer, stats_timer;
	struct loop_timer accept_timer; /* armed while the listener rests out of the epoll set (gw_ctl.c) */
	bool accept_starved;            /* accept4 failed for want of descriptors or memory, none accepted since */
	struct loop_timer trim_timer; /* armed when the last control connection closes (gw_ctl.c conn_close) */
	struct log_limit ll_auth, ll_io, ll_limit;
	struct rate_bucket src_rate[SL_CTL_RATE_BUCKETS];
	uint32_t src_rate_seed; /* random per process: its sets cannot be predicted (control/ratelimit.h) */
	struct stealth_cache *stealth; /* Stealth = on: the nonces of accepted preludes (NULL: off) */
	uint8_t stealth_key[32];
	uint64_t stats_last_sum;
	uint64_t trim_reap, trim_burst; /* handshakes at on_reap's, on_trim's last malloc_trim (gateway.c) */
	/* the egress link followed through rtnetlink (daemon/gw_net.c) */
	char egress[IFNAMSIZ];
	struct netwatch nw;
	bool nw_open;
	struct netwatch_link egress_link; /* as last looked at */
	uint64_t path_changes;            /* changes of it: gone, back, up/down, addresses, MTU */
};

/* The egress watch (daemon/gw_net.c): the egress link going away, coming back, going down or up, changing its
 * addresses or MTU is logged once per change (masquerade takes its source address from the link at the time,
 * and the NAT table names the link, so neither needs a change; clients stay connected throughout). */
int gw_net_open(struct gw *g, struct sl_err *e);
void gw_net_close(struct gw *g);

/* Runs the gateway until SIGTERM/SIGINT. Returns the process exit status (0 clean, 1 runtime failure at
 * start-up). `ready` is called once everything is up (daemonising, sd_notify). */
int gw_run(struct sl_config *cfg, void (*ready)(void));

/* Data plane (dataplane/gw_path.c). */
void gw_on_tun(struct loop_io *io, uint32_t events);
void gw_on_udp(struct loop_io *io, uint32_t events);
/* The passive keepalives due by `now` (a worker's on_due, gw_path.c). */
void gw_on_due(struct dp_worker *w, uint64_t now);
/* Sends a KEEPALIVE under session s from worker w (rare: outside the batch path): on the stream `via`, or
 * (NULL) to its UDP endpoint. */
void gw_send_keepalive(struct dp_worker *w, struct gw_session *s, uint64_t now, struct dp_stream *via);
/* A TCP fallback stream's events, in the worker that reads it. */
void gw_on_stream(struct loop_io *io, uint32_t events);

/* Control plane (control/gw_ctl.c). */
/* 0 or -ENOMEM. */
int gw_conns_init(struct gw *g);
void gw_on_accept(struct loop_io *io, uint32_t events);
void gw_accept_resume(struct loop_timer *t);
void gw_conns_sweep(struct loop_timer *t);
void gw_conns_close_all(struct gw *g);

/* TCP fallback streams (control/gw_stream.c). */
int gw_streams_init(struct gw *g);
/* A control connection proved session s and asked for DATA: its socket (TLS done with) carries the session's
 * datagrams from now on, read by one worker. Takes fd (closed on failure). 0 or -errno. */
int gw_stream_attach(struct gw *g, int fd, struct gw_session *s);
/* Reaps streams that ended, lost their session or were replaced (all: every stream, workers stopped). */
void gw_streams_sweep(struct gw *g, bool all);
