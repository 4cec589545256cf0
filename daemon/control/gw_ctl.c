/* gw_ctl: the gateway's control connections — TLS 1.3 accept, one request (AUTH or PING), one answer, close;
 * or DATA: the answer, then the connection leaves TLS and becomes its session's TCP fallback stream
 * (control/gw_stream.c), which counts against none of the limits below.
 * Non-blocking throughout; every connection has a deadline. Until its handshake has proven a configured key a
 * connection holds one of the pre-authentication slots (control/preauth.h): capped per source, and when all
 * are taken the oldest connection of the busiest source of the busiest group makes room for the newcomer, so
 * no number of silent connections from a few sources or one IPv6 /64 keeps a client out. Each source's rate of
 * new connections (each a TLS handshake) is limited by a token bucket, and a peer's certificate is refused
 * for its shape before anything costly (control/tls.h). Past the handshake, one client key holds at most
 * SL_CTL_PER_KEY connections (a newer one closes its oldest) and the request must come within SL_CTL_REQUEST_MS,
 * so no one valid key holds the SL_CTL_MAX_AUTHED slots of all clients. So a slow, silent, hostile or looping peer never
 * blocks the loop, grows memory or eats the CPU without bound.
 *
 * With `Stealth = on` a connection must first send a valid prelude (control/stealth.h) before any TLS state
 * exists; a peer that does not is read and ignored, sent nothing, and closed after a short delay — still in
 * its pre-authentication slot, so every limit above holds. After an AUTH answer (which carries the gateway's
 * key confirmation) the client's confirmation is read (control/psk.h): a PSK mismatch drops the new session (the
 * previous one, if any, is current again), is said in the log and counted.
 *
 * An AUTH that needs a new lease (a client's first ever) waits for it in g->lease_wait, and before the next
 * epoll_wait the leases of all that wait are made durable together (pool_assign_many: one write, one
 * fdatasync) — a group commit: an address is still never handed out before its line is on disk, but a burst
 * of new clients pays one fdatasync per loop turn instead of one each. If the group does not fit the pool,
 * each AUTH goes the way of one alone (pool_assign: its own write and fdatasync, its own error); if the
 * journal cannot be written, every AUTH of the group is refused ("no address available": the client backs
 * off and retries) after one (rate-limited) line, and the failing disk sees no more writes this turn. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/control/proto.h"
#include "daemon/control/psk.h"
#include "daemon/control/tls.h"
#include "daemon/gateway.h"
#include "daemon/sockets.h"

#define LOG_BURST 10
#define LOG_INTERVAL_MS 10000

enum conn_state {
	CONN_PRELUDE, /* Stealth = on: waiting for the prelude, nothing sent */
	CONN_SILENT,  /* Stealth = on: no valid prelude; read and ignored until closed, nothing sent */
	CONN_HANDSHAKE,
	CONN_READ,
	CONN_WRITE,
	CONN_CONFIRM, /* after the AUTH answer: the client's key confirmation */
	CONN_LEASE,   /* an AUTH read, in g->lease_wait until its new lease is durable; no I/O */
};

struct gw_conn {
	struct loop_io io;
	struct gw *g;
	struct gw_conn *prev, *next;
	SSL *ssl;
	enum conn_state state;
	int slot;  /* pre-authentication slot (g->pa); -1 once the handshake is done */
	bool dead; /* closed for another connection (evicted), freed by the next sweep */
	uint32_t data_id; /* DATA answered OK: after the answer the socket becomes this session's stream */
	uint64_t deadline_ms;
	uint64_t abs_deadline_ms; /* past the handshake: the absolute deadline, while deadline_ms is the request's */
	bool keyed;               /* past the handshake: key is the client's (SL_CTL_PER_KEY) */
	uint8_t key[SL_KEY_LEN];
	struct sockaddr_storage peer;
	char rbuf[PROTO_LINE_MAX];
	size_t rlen;
	char wbuf[PROTO_LINE_MAX];
	size_t wlen, woff;
	uint8_t pre[SL_STEALTH_PRELUDE_LEN];
	size_t pre_len;
	bool confirm;      /* an AUTH answered: read the client's confirmation next */
	uint32_t sess_id;  /* that AUTH's session */
	bool psk_used;     /* with the client's PresharedKeyFile */
	uint8_t want_mac[SL_PSK_MAC_LEN]; /* the client's confirmation as it must be */
	struct gw_conn *wait_next; /* in g->lease_wait (state CONN_LEASE) */
	bool lease_tried;          /* its lease's group commit ran: answer now, whatever came of it */
	bool lease_failed;         /* ... and could not write the journal: refused, not tried alone */
};

static void lease_unwait(struct gw_conn *c);
static void conn_drive(struct gw_conn *c);

/* Closes c and releases all it holds but its own memory. */
static void conn_close(struct gw_conn *c)
{
	struct gw *g = c->g;

	if (c->state == CONN_LEASE)
		lease_unwait(c);
	loop_del(&g->loop, &c->io);
	if (c->io.fd >= 0)
		close(c->io.fd);
	tls_free(c->ssl);
	c->ssl = NULL;
	preauth_del(&g->pa, c->slot);
	c->slot = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (!--g->n_conns) /* a burst of handshakes may have ended: gateway.c on_trim */
		loop_timer_set(&g->trim_timer, now_ms() + SL_TRIM_QUIET_MS);
}

/* From c's own event or a timer. */
static void conn_free(struct gw_conn *c)
{
	conn_close(c);
	free(c);
}

/* From another connection's event: an event of c may still wait in the loop's current batch, so its memory
 * is kept (marked dead, its event ignored) until the next sweep, which runs before the next epoll_wait. */
static void conn_bury(struct gw_conn *c)
{
	struct gw *g = c->g;

	conn_close(c);
	c->dead = true;
	c->prev = NULL;
	c->next = g->buried;
	g->buried = c;
	loop_timer_set(&g->conn_timer, now_ms());
}

/* One rate-limited line for things a remote peer can cause at will. */
static void conn_log(struct gw_conn *c, const char *fmt, const char *what)
{
	char a[64];
	uint32_t suppressed = 0;

	if (!log_limit_ok(&c->g->ll_auth, now_ms(), LOG_BURST, LOG_INTERVAL_MS, &suppressed))
		return;
	sock_addr_str(&c->peer, a, sizeof(a));
	if (suppressed)
		log_warn("auth: %s from %s: %s (%u similar messages suppressed)", fmt, a, what, suppressed);
	else
		log_warn("auth: %s from %s: %s", fmt, a, what);
}

static void conn_fail_handshake(struct gw_conn *c)
{
	uint8_t key[SL_KEY_LEN];
	const char *why;
	char buf[256];

	c->g->cst.handshakes_failed++;
	switch (tls_peer(c->ssl, key, &why)) {
	case TLS_PEER_UNKNOWN_KEY: {
		char kb[SL_KEY_B64_LEN + 1];
		c->g->cst.handshakes_unknown_key++;
		key_to_base64(key, kb);
		ERR_clear_error();
		conn_log(c, "handshake refused", "unknown client key");
		log_debug("auth: unknown client key %s", kb);
		break;
	}
	case TLS_PEER_BAD_CERT:
		c->g->cst.handshakes_bad_cert++;
		ERR_clear_error();
		conn_log(c, "handshake refused", why);
		break;
	default:
		conn_log(c, "handshake failed", tls_error_string(buf, sizeof(buf)));
	}
	conn_free(c);
}

static int answer_auth(struct gw_conn *c, struct gw_peer *p)
{
	struct gw *g = c->g;
	struct sl_config *cfg = g->cfg;
	struct proto_snapshot snap = {0};
	uint8_t c2s[32], s2c[32];
	struct sl_err e = {{0}};
	struct gw_session *s;
	uint32_t id;
	int len;

	if (pool_assign(&g->pool, &g->reg, p, &e) || (g->pool6_ready && pool_assign(&g->pool6, &g->reg, p, &e))) {
		log_err("auth: client '%s': %s", p->name, e.msg);
		return snprintf(c->wbuf, sizeof(c->wbuf), "ERR no address available\n");
	}
	id = session_new_id(&g->reg);
	if (!id || tls_export_keys(c->ssl, id, c2s, s2c) || psk_mix(c2s, s2c, p->has_psk ? p->psk : NULL, id) ||
	    psk_confirm_mac(c2s, s2c, id, true, snap.confirm) || psk_confirm_mac(c2s, s2c, id, false, c->want_mac)) {
		OPENSSL_cleanse(c2s, sizeof(c2s));
		OPENSSL_cleanse(s2c, sizeof(s2c));
		return snprintf(c->wbuf, sizeof(c->wbuf), "ERR key derivation failed\n");
	}
	s = session_create(&g->reg, p, id, s2c, c2s, (uint64_t)cfg->session_lifetime * 1000u);
	OPENSSL_cleanse(c2s, sizeof(c2s));
	OPENSSL_cleanse(s2c, sizeof(s2c));
	if (!s)
		return snprintf(c->wbuf, sizeof(c->wbuf), "ERR out of memory\n");
	snap.has_confirm = true;
	c->confirm = true;
	c->sess_id = id;
	c->psk_used = p->has_psk;
	snap.session_id = id;
	snap.no_v4 = !cfg->address.len; /* an IPv6-only gateway (DESIGN 9) */
	snap.addr = p->addr;
	snap.plen = cfg->address.len;
	snap.gateway = cfg->address.addr;
	if (cfg->address6.len && p->has_addr6) {
		snap.has_v6 = true;
		snap.addr6 = p->addr6;
		snap.plen6 = cfg->address6.len;
		snap.gateway6 = cfg->address6.addr;
	}
	snap.mtu = cfg->mtu;
	snap.keepalive = SL_KEEPALIVE_DEFAULT;
	snap.lifetime = cfg->session_lifetime;
	snap.n_dns = cfg->n_dns;
	memcpy(snap.dns, cfg->dns, sizeof(snap.dns));
	snap.n_domains = cfg->n_domains;
	memcpy(snap.domains, cfg->domains, sizeof(snap.domains));
	snap.n_routes = cfg->n_push_routes;
	memcpy(snap.routes, cfg->push_routes, sizeof(snap.routes));
	len = proto_format_snapshot(c->wbuf, sizeof(c->wbuf), &snap);
	p->repush = false; /* this snapshot is the current one */
	p->last_handshake_wall = wall_s();
	p->handshakes++;
	g->cst.handshakes_ok++;
	/* a client's first: once per client; after a refused confirmation (no previous session) a client can
	 * repeat it at will (50 AUTHs/s per source), so through the limiter of remote-caused lines */
	uint32_t suppressed = 0;
	if (p->handshakes == 1 ||
	    (!p->prev && log_limit_ok(&g->ll_auth, now_ms(), LOG_BURST, LOG_INTERVAL_MS, &suppressed))) {
		char a[64], ip[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "", more[48] = "";
		if (!snap.no_v4)
			inet_ntop(AF_INET, &p->addr, ip, sizeof(ip));
		if (snap.has_v6)
			inet_ntop(AF_INET6, &p->addr6, ip6, sizeof(ip6));
		if (suppressed)
			snprintf(more, sizeof(more), " (%u similar messages suppressed)", suppressed);
		log_info("client '%s' authenticated from %s: session %08x, address %s%s%s%s", p->name,
			 sock_addr_str(&c->peer, a, sizeof(a)), id, ip, ip[0] && ip6[0] ? ", " : "", ip6, more);
	}
	return len;
}

static int answer_ping(struct gw_conn *c, struct gw_peer *p, uint32_t id)
{
	struct gw_session *s = session_by_id(&c->g->reg, id);
	uint64_t now = now_ms();

	c->g->cst.pings++;
	if (!s || s->peer != p || now >= s->expires_ms)
		return snprintf(c->wbuf, sizeof(c->wbuf), "EXPIRED\n");
	if (p->repush && s == p->cur) {
		/* a SIGHUP changed what it would receive: re-authentication fetches the new snapshot; its
		 * current session keeps carrying until then (DESIGN 10.9) */
		c->g->cst.repushes++;
		SL_WR(s->last_seen_ms, now);
		return snprintf(c->wbuf, sizeof(c->wbuf), "EXPIRED\n");
	}
	SL_WR(s->last_seen_ms, now);
	return snprintf(c->wbuf, sizeof(c->wbuf), "OK\n");
}

/* The client's "CONFIRM <mac>" after an AUTH answer: the same data keys on both ends, or a PSK mismatch. */
static void conn_confirm(struct gw_conn *c)
{
	struct gw *g = c->g;
	uint8_t key[SL_KEY_LEN], mac[SL_PSK_MAC_LEN];
	struct gw_peer *p = NULL;
	struct gw_session *s;
	int len;

	if (tls_peer(c->ssl, key, NULL) == TLS_PEER_ACCEPTED)
		p = peer_by_key(&g->reg, key);
	if (!proto_parse_confirm(c->rbuf, c->rlen, mac) && psk_mac_equal(mac, c->want_mac)) {
		if ((s = session_by_id(&g->reg, c->sess_id)) && p && s->peer == p)
			s->confirmed = true; /* from now on it may become a TCP fallback stream (answer_data) */
		len = snprintf(c->wbuf, sizeof(c->wbuf), "OK\n");
	} else {
		char a[64];
		g->cst.psk_mismatch++;
		if ((s = session_by_id(&g->reg, c->sess_id)) && p && s->peer == p)
			session_reject(&g->reg, s);
		char what[SL_NAME_MAX + 160];
		/* a configured client with the wrong PSK: rare, and worth a line each time (rate-limited anyway) */
		snprintf(what, sizeof(what), "client '%s': pre-shared key mismatch (%s); new session refused", p ? p->name : "?",
			 c->psk_used ? "its PresharedKeyFile differs from its [Client]'s, or it has none"
				     : "it uses a PresharedKeyFile, its [Client] has none");
		conn_log(c, "key confirmation failed", what);
		log_debug("auth: client '%s' at %s: session %08x ended by the failed confirmation", p ? p->name : "?",
			  sock_addr_str(&c->peer, a, sizeof(a)), c->sess_id);
		len = snprintf(c->wbuf, sizeof(c->wbuf), "ERR pre-shared key mismatch\n");
	}
	c->confirm = false;
	c->wlen = len > 0 ? (size_t)len : 0;
	c->woff = 0;
	c->state = CONN_WRITE;
}

/* DATA: the session must be the peer's own, live and confirmed: every AUTH answer of this gateway carries its
 * key confirmation, and a client that can ask DATA always answers it (CONFIRM), so a session whose
 * confirmation has not (yet) checked out — pending, or a client that closed without it — is refused, as a
 * mismatch would be. The answer is the last TLS record on this connection. */
static int answer_data(struct gw_conn *c, struct gw_peer *p, uint32_t id)
{
	struct gw_session *s = session_by_id(&c->g->reg, id);
	uint64_t now = now_ms();

	if (!s || s->peer != p || now >= s->expires_ms)
		return snprintf(c->wbuf, sizeof(c->wbuf), "EXPIRED\n");
	if (!s->confirmed) {
		conn_log(c, "TCP data connection refused", "its session's key confirmation never checked out");
		return snprintf(c->wbuf, sizeof(c->wbuf), "ERR session not confirmed\n");
	}
	SL_WR(s->last_seen_ms, now);
	c->data_id = id;
	return snprintf(c->wbuf, sizeof(c->wbuf), "OK\n");
}

/* The DATA answer is out: the TCP connection, without TLS from here on, becomes the session's stream. */
static void conn_to_stream(struct gw_conn *c)
{
	struct gw *g = c->g;
	struct gw_session *s = session_by_id(&g->reg, c->data_id);
	int fd = c->io.fd, ret;

	loop_del(&g->loop, &c->io);
	c->io.fd = -1;
	tls_free(c->ssl); /* sends nothing, closes nothing: the socket is the stream's */
	c->ssl = NULL;
	conn_free(c);
	if (!s) { /* reaped meanwhile (it was live a moment ago) */
		close(fd);
		return;
	}
	ret = gw_stream_attach(g, fd, s);
	if (ret)
		log_err("client '%s': TCP data connection: %s", s->peer->name, strerror(-ret));
}

static void conn_answer(struct gw_conn *c)
{
	uint8_t key[SL_KEY_LEN];
	struct gw_peer *p = NULL;
	enum proto_req req;
	uint32_t id = 0;
	int len;

	if (tls_peer(c->ssl, key, NULL) == TLS_PEER_ACCEPTED)
		p = peer_by_key(&c->g->reg, key);
	if (!p) { /* removed by a reload (or the fleet registry) during the handshake or while its lease waited */
		if (c->lease_tried)
			conn_log(c, "auth refused", "client removed while its lease waited");
		len = snprintf(c->wbuf, sizeof(c->wbuf), "ERR unknown client\n");
	} else if (proto_parse_request(c->rbuf, c->rlen, &req, &id))
		len = snprintf(c->wbuf, sizeof(c->wbuf), "ERR bad request\n");
	else if (req == PROTO_AUTH && !c->lease_tried &&
		 (pool_needs_lease(&c->g->pool, p) || (c->g->pool6_ready && pool_needs_lease(&c->g->pool6, p)))) {
		c->state = CONN_LEASE; /* answered by lease_commit, before the next epoll_wait */
		c->wait_next = c->g->lease_wait;
		c->g->lease_wait = c;
		loop_timer_set(&c->g->lease_timer, now_ms());
		return;
	} else if (req == PROTO_AUTH && c->lease_failed)
		len = snprintf(c->wbuf, sizeof(c->wbuf), "ERR no address available\n"); /* lease_commit said why */
	else if (req == PROTO_AUTH)
		len = answer_auth(c, p);
	else if (req == PROTO_DATA)
		len = answer_data(c, p, id);
	else
		len = answer_ping(c, p, id);
	c->wlen = len > 0 ? (size_t)len : 0;
	c->woff = 0;
	c->state = CONN_WRITE;
}

static void lease_unwait(struct gw_conn *c)
{
	for (struct gw_conn **pp = &c->g->lease_wait; *pp; pp = &(*pp)->wait_next)
		if (*pp == c) {
			*pp = c->wait_next;
			break;
		}
	c->wait_next = NULL;
}

/* The group commit of the waiting AUTHs' new leases, then their answers. A connection closed meanwhile (its
 * deadline, a reload's sweep) has left the list; a peer a reload removed meanwhile is asked about again
 * by conn_answer, which refuses it. */
static void lease_commit(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, lease_timer));
	struct gw_peer *peers[SL_CTL_MAX_AUTHED];
	struct gw_conn *c, *nx, *list;
	bool failed;
	size_t n = 0;

	while (g->lease_wait) {
		/* a group: at most SL_CTL_MAX_AUTHED (no more connections are past their handshake at once) */
		list = g->lease_wait;
		g->lease_wait = NULL;
		n = 0;
		for (c = list; c; c = c->wait_next) {
			uint8_t key[SL_KEY_LEN];
			struct gw_peer *p = tls_peer(c->ssl, key, NULL) == TLS_PEER_ACCEPTED ? peer_by_key(&g->reg, key)
											 : NULL;
			if (p && n < SL_CTL_MAX_AUTHED)
				peers[n++] = p;
		}
		{
			struct sl_err e = {{0}};
			uint32_t suppressed = 0;
			char more[48] = "";
			int ret = pool_assign_many(&g->pool, &g->reg, peers, n, &e);
			if (!ret && g->pool6_ready)
				ret = pool_assign_many(&g->pool6, &g->reg, peers, n, &e);
			failed = ret && ret != -ENOSPC && ret != -ENOMEM; /* the journal: refuse, no write per client */
			if (ret && !failed) /* the group does not fit: that is per client, so each alone */
				log_warn("auth: the leases of %zu new clients at once: %s; each is tried alone", n, e.msg);
			else if (failed && log_limit_ok(&g->ll_auth, now_ms(), LOG_BURST, LOG_INTERVAL_MS, &suppressed)) {
				if (suppressed)
					snprintf(more, sizeof(more), " (%u similar messages suppressed)", suppressed);
				log_err("auth: the leases of %zu new clients: %s; they are refused (no address available) "
					"and retry%s", n, e.msg, more);
			}
		}
		for (c = list; c; c = nx) {
			nx = c->wait_next;
			c->wait_next = NULL;
			c->state = CONN_READ;
			c->lease_tried = true;
			c->lease_failed = failed;
			conn_answer(c);
			conn_drive(c); /* may free c */
		}
	}
}

/* Stealth = on: no valid prelude. Nothing is ever sent; the connection is read and ignored (so closing it
 * sends no reset for unread data) and closed after a short, random delay, in its pre-authentication slot. */
static void conn_silence(struct gw_conn *c, enum stealth_verdict v)
{
	struct gw *g = c->g;
	uint32_t r = 0;
	uint64_t until;

	g->cst.stealth_refused++;
	if (v == STEALTH_STALE)
		g->cst.stealth_stale++;
	else if (v == STEALTH_REPLAY)
		g->cst.stealth_replayed++;
	if (v != STEALTH_BAD) /* someone with the gateway's public key: worth a (rate-limited) line */
		conn_log(c, "stealth prelude refused", v == STEALTH_STALE ? "outside the freshness window (clock?)"
									 : "replayed");
	RAND_bytes((unsigned char *)&r, sizeof(r));
	until = now_ms() + SL_STEALTH_LINGER_MIN_MS + r % SL_STEALTH_LINGER_SPAN_MS;
	if (until < c->deadline_ms)
		c->deadline_ms = until;
	if (!g->conn_timer.due_ms || c->deadline_ms < g->conn_timer.due_ms)
		loop_timer_set(&g->conn_timer, c->deadline_ms);
	c->state = CONN_SILENT;
}

/* CONN_PRELUDE and CONN_SILENT: reads what the peer sent without TLS. Returns true when the connection must
 * wait (or is gone), false when the prelude was good and the TLS handshake may start. */
static bool conn_prelude(struct gw_conn *c)
{
	for (unsigned reads = 0;; reads++) {
		uint8_t junk[512];
		ssize_t n;

		if (reads == 64)
			return true; /* a fast talker waits for the next turn (level-triggered): others go first */

		if (c->state == CONN_SILENT)
			n = recv(c->io.fd, junk, sizeof(junk), 0);
		else
			n = recv(c->io.fd, c->pre + c->pre_len, sizeof(c->pre) - c->pre_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		if (n <= 0) { /* the peer closed (or reset) first */
			if (c->state == CONN_PRELUDE)
				conn_silence(c, STEALTH_BAD); /* counted once, as refused */
			conn_free(c);
			return true;
		}
		if (c->state == CONN_SILENT)
			continue;
		c->pre_len += (size_t)n;
		if (c->pre_len < sizeof(c->pre))
			continue;
		{
			enum stealth_verdict v =
				stealth_prelude_check(c->g->stealth, c->g->stealth_key, (int64_t)wall_s(), c->pre);
			if (v != STEALTH_OK) {
				conn_silence(c, v);
				continue;
			}
		}
		c->state = CONN_HANDSHAKE; /* the ClientHello follows: TLS state once it has arrived */
		return false;
	}
}

/* c's handshake proved a configured key. One key holds at most SL_CTL_PER_KEY connections past the handshake:
 * a newer one closes the key's oldest (a client that reconnects is never locked out by its own stale ones, and
 * one key cannot fill the SL_CTL_MAX_AUTHED slots of all); and the request must come within
 * SL_CTL_REQUEST_MS (a client sends it right after the handshake), besides the absolute deadline. An O(n)
 * walk: n is at most PREAUTH_SLOTS + SL_CTL_MAX_AUTHED. */
static void conn_keyed(struct gw_conn *c)
{
	struct gw *g = c->g;
	struct gw_conn *o, *oldest = NULL;
	unsigned n = 0;
	uint64_t until;

	if (tls_peer(c->ssl, c->key, NULL) == TLS_PEER_ACCEPTED) {
		for (o = g->conns; o; o = o->next) /* newest first: the last match is the oldest */
			if (o != c && o->keyed && !memcmp(o->key, c->key, SL_KEY_LEN)) {
				n++;
				oldest = o;
			}
		c->keyed = true;
		if (n >= SL_CTL_PER_KEY && oldest) {
			char what[80];
			g->cst.conns_evicted++;
			snprintf(what, sizeof(what), "its client key's oldest of %u, for a newer one", SL_CTL_PER_KEY);
			conn_log(oldest, "control connection closed", what);
			conn_bury(oldest);
		}
	}
	c->abs_deadline_ms = c->deadline_ms;
	until = now_ms() + SL_CTL_REQUEST_MS;
	if (until < c->deadline_ms)
		c->deadline_ms = until;
	if (!g->conn_timer.due_ms || c->deadline_ms < g->conn_timer.due_ms)
		loop_timer_set(&g->conn_timer, c->deadline_ms);
}

/* Advances the connection as far as it can go without blocking. */
static void conn_drive(struct gw_conn *c)
{
	for (;;) {
		int r = 0, err;

		switch (c->state) {
		case CONN_PRELUDE:
		case CONN_SILENT:
			if (conn_prelude(c))
				return;
			continue;
		case CONN_HANDSHAKE:
			if (!c->ssl) {
				/* no TLS state (some 40 KiB with its buffers) until the peer has sent something: a
				 * silent connection costs its slot, its fd and this struct */
				char b;
				ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK);
				if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					return;
				if (n <= 0 || !(c->ssl = tls_new(c->g->tls, c->io.fd)))
					goto close; /* closed before a byte: nothing to count */
			}
			r = SSL_accept(c->ssl);
			if (r == 1) {
				/* a configured key: the connection leaves its pre-authentication slot */
				conn_keyed(c);
				if (c->g->n_conns - c->g->pa.n >= SL_CTL_MAX_AUTHED) {
					c->g->cst.conns_refused++;
					goto close;
				}
				preauth_del(&c->g->pa, c->slot);
				c->slot = -1;
				c->state = CONN_READ;
				continue;
			}
			break;
		case CONN_READ:
			r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(sizeof(c->rbuf) - c->rlen));
			if (r > 0) {
				c->rlen += (size_t)r;
				if (memchr(c->rbuf, '\n', c->rlen)) {
					c->deadline_ms = c->abs_deadline_ms; /* the request came in time */
					conn_answer(c);
				}
				else if (c->rlen == sizeof(c->rbuf))
					goto close;
				continue;
			}
			break;
		case CONN_WRITE:
			if (c->woff == c->wlen && c->confirm) {
				c->state = CONN_CONFIRM;
				c->rlen = 0;
				continue;
			}
			if (c->woff == c->wlen && c->data_id) {
				conn_to_stream(c);
				return;
			}
			if (c->woff == c->wlen) {
				SSL_shutdown(c->ssl); /* best effort close_notify; we do not wait for the peer's */
				goto close;
			}
			r = SSL_write(c->ssl, c->wbuf + c->woff, (int)(c->wlen - c->woff));
			if (r > 0) {
				c->woff += (size_t)r;
				continue;
			}
			break;
		case CONN_LEASE:
			return; /* lease_commit answers it (level-triggered input waits until then) */
		case CONN_CONFIRM:
			r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(sizeof(c->rbuf) - c->rlen));
			if (r > 0) {
				c->rlen += (size_t)r;
				if (memchr(c->rbuf, '\n', c->rlen))
					conn_confirm(c);
				else if (c->rlen == sizeof(c->rbuf))
					goto close;
				continue;
			}
			break; /* a client that closes without confirming (an older one) keeps its session */
		}
		err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_WANT_READ) {
			loop_mod(&c->g->loop, &c->io, EPOLLIN);
			return;
		}
		if (err == SSL_ERROR_WANT_WRITE) {
			loop_mod(&c->g->loop, &c->io, EPOLLOUT);
			return;
		}
		if (c->state == CONN_HANDSHAKE) {
			conn_fail_handshake(c);
			return;
		}
		goto close;
	}
close:
	ERR_clear_error();
	conn_free(c);
}

static void conn_event(struct loop_io *io, uint32_t events)
{
	struct gw_conn *c = (struct gw_conn *)io;

	if (!c->dead)
		conn_drive(c);
}

/* A source over its handshake rate: counted, and logged at most LOG_BURST times per LOG_INTERVAL_MS. */
static void limited(struct gw *g, const struct sockaddr_storage *peer)
{
	uint32_t suppressed = 0;
	char a[64];

	g->cst.conns_ratelimited++;
	if (!log_limit_ok(&g->ll_limit, now_ms(), LOG_BURST, LOG_INTERVAL_MS, &suppressed))
		return;
	sock_addr_str(peer, a, sizeof(a));
	log_warn("auth: %s is over %u handshakes/s: connection closed (%u similar messages suppressed)", a,
		 SL_CTL_RATE_PER_SOURCE, suppressed);
}

/* All pre-authentication slots are taken: closes the connection preauth_victim names for a newcomer from peer. */
static void evict_for(struct gw *g, const struct sockaddr_storage *peer)
{
	struct gw_conn *v = preauth_victim(&g->pa, peer);
	uint32_t suppressed = 0;
	char a[64], b[64];

	if (!v)
		return;
	g->cst.conns_evicted++;
	if (log_limit_ok(&g->ll_limit, now_ms(), LOG_BURST, LOG_INTERVAL_MS, &suppressed))
		log_warn("auth: all %u pre-authentication slots taken: closed the oldest of the busiest source, %s, "
			 "for %s (%u similar messages suppressed)",
			 PREAUTH_SLOTS, sock_addr_str(&v->peer, a, sizeof(a)), sock_addr_str(peer, b, sizeof(b)),
			 suppressed);
	conn_bury(v);
}

/* accept4 failed for want of a file descriptor (the process's or the system's) or of kernel memory. The
 * connection stays in the listener's backlog, so the level-triggered listener would wake the loop again at once
 * and pin a core: it leaves the epoll set and comes back SL_CTL_ACCEPT_RETRY_MS later (gw_accept_resume), when
 * deadlines and closes may have given descriptors back. */
static void accept_pause(struct gw *g, int err)
{
	uint32_t suppressed = 0;
	struct rlimit rl = {0};
	char lim[48] = "", more[48] = "";

	loop_del(&g->loop, &g->tcp_io);
	loop_timer_set(&g->accept_timer, now_ms() + SL_CTL_ACCEPT_RETRY_MS);
	if (g->accept_starved) /* said when it began: not again every retry */
		return;
	g->accept_starved = true;
	if (!log_limit_ok(&g->ll_limit, now_ms(), LOG_BURST, LOG_INTERVAL_MS, &suppressed))
		return;
	if (err == EMFILE && !getrlimit(RLIMIT_NOFILE, &rl))
		snprintf(lim, sizeof(lim), " (open files limit %llu)", (unsigned long long)rl.rlim_cur);
	if (suppressed)
		snprintf(more, sizeof(more), " (%u similar messages suppressed)", suppressed);
	log_warn("control: accept: %s%s: new connections wait in the backlog, tried again every %u ms%s", strerror(err),
		 lim, SL_CTL_ACCEPT_RETRY_MS, more);
}

void gw_accept_resume(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, accept_timer));
	int ret = loop_add(&g->loop, &g->tcp_io, g->tcp_io.fd, EPOLLIN, gw_on_accept);

	if (ret) { /* the epoll set itself is out of memory: try again later rather than never accept again */
		log_err("control: epoll: listener: %s: next try in %u ms", strerror(-ret), SL_CTL_ACCEPT_RETRY_MS);
		loop_timer_set(t, now_ms() + SL_CTL_ACCEPT_RETRY_MS);
	}
}

/* At most SL_CTL_ACCEPT_BURST connections per wake-up, each with its TLS work started inline: a backlog that
 * refills as fast as it drains waits for the next turn (level-triggered), after timers and other connections. */
void gw_on_accept(struct loop_io *io, uint32_t events)
{
	struct gw *g = (struct gw *)((char *)io - offsetof(struct gw, tcp_io));

	for (unsigned n = 0; n < SL_CTL_ACCEPT_BURST; n++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct rate_src src;
		struct gw_conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(g, errno);
			return; /* EAGAIN: drained; ECONNABORTED and the like: the next wake-up tries again */
		}
		g->accept_starved = false;
		/* cheapest first: the source's cap and rate cost a lookup each; only then may it evict */
		if (preauth_source_full(&g->pa, &peer)) {
			g->cst.conns_refused++;
			g->cst.conns_refused_source++;
			close(fd);
			continue;
		}
		src = rate_src(&peer);
		if (!rate_take(g->src_rate, SL_CTL_RATE_BUCKETS, g->src_rate_seed, &src, now_ms(),
			       SL_CTL_RATE_PER_SOURCE, SL_CTL_RATE_BURST)) {
			limited(g, &peer);
			close(fd);
			continue;
		}
		if (g->pa.n >= PREAUTH_SLOTS)
			evict_for(g, &peer);
		c = calloc(1, sizeof(*c));
		if (!c || (c->slot = preauth_add(&g->pa, &peer, c)) < 0) { /* a slot was free or made free */
			free(c);
			close(fd);
			continue;
		}
		c->g = g;
		c->peer = peer;
		c->state = g->stealth ? CONN_PRELUDE : CONN_HANDSHAKE;
		c->deadline_ms = now_ms() + SL_CTL_DEADLINE_MS;
		c->next = g->conns;
		if (g->conns)
			g->conns->prev = c;
		g->conns = c;
		g->n_conns++;
		if (loop_add(&g->loop, &c->io, fd, EPOLLIN, conn_event)) {
			c->io.fd = fd;
			conn_free(c);
			continue;
		}
		if (!g->conn_timer.due_ms)
			loop_timer_set(&g->conn_timer, c->deadline_ms);
		conn_drive(c);
	}
}

void gw_conns_sweep(struct loop_timer *t)
{
	struct gw *g = (struct gw *)((char *)t - offsetof(struct gw, conn_timer));
	uint64_t now = now_ms(), next = 0;
	struct gw_conn *c, *nx;

	for (c = g->buried; c; c = nx) {
		nx = c->next;
		free(c);
	}
	g->buried = NULL;
	c = g->conns;

	for (; c; c = nx) {
		nx = c->next;
		if (now >= c->deadline_ms) {
			if (c->state == CONN_SILENT) { /* its delay is over: counted in stealth_refused */
				conn_free(c);
				continue;
			}
			g->cst.conns_timed_out++;
			if (c->state == CONN_PRELUDE)
				g->cst.stealth_refused++; /* nothing (or not enough) came: refused, without a byte */
			if (c->state == CONN_HANDSHAKE) {
				g->cst.handshakes_failed++;
				conn_log(c, "handshake failed", "timed out");
			}
			conn_free(c);
		} else if (!next || c->deadline_ms < next) {
			next = c->deadline_ms;
		}
	}
	loop_timer_set(&g->conn_timer, next);
}

int gw_conns_init(struct gw *g)
{
	uint32_t seed = 0;

	RAND_bytes((unsigned char *)&seed, sizeof(seed)); /* unguessable: addresses cannot be chosen to collide */
	preauth_init(&g->pa, seed);
	RAND_bytes((unsigned char *)&g->src_rate_seed, sizeof(g->src_rate_seed)); /* the same for the buckets */
	loop_timer_init(&g->loop, &g->lease_timer, lease_commit);
	if (g->cfg->stealth) {
		g->stealth = calloc(1, sizeof(*g->stealth));
		if (!g->stealth)
			return -ENOMEM;
		stealth_key(g->cfg->public_key, g->stealth_key);
	}
	return 0;
}

void gw_conns_close_all(struct gw *g)
{
	while (g->conns)
		conn_free(g->conns);
	while (g->buried) {
		struct gw_conn *c = g->buried;
		g->buried = c->next;
		free(c);
	}
	free(g->stealth);
	g->stealth = NULL;
}
