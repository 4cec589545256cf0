/* supervisor: the client's control plane. Authenticates (AUTH), checks the session (PING), re-authenticates
 * before expiry and after EXPIRED, and moves through the configured servers (DESIGN §9, 10.4). When the
 * session's server stops answering — a failed PING or AUTH, or two lost keepalives (client.c) — the path is
 * down: one re-auth to the same server, then every address of the next server in file order, round and
 * round; a server that works is kept (no fail-back). The backoff (1 s doubling to 5 min, with jitter) grows
 * only after a whole round failed, and traffic waiting for a server may start the next round early. A server
 * given by name is resolved at every AUTH attempt to it; when that fails, its last good addresses are used.
 * Each exchange is one non-blocking TLS connection driven by the event loop; a DATA exchange (UDP blocked,
 * control/cl_fallback.c) keeps its connection: it becomes the session's TCP fallback stream. Failing servers are logged
 * once each at warning, then rarely at info; recovery is logged once. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/client.h"
#include "daemon/control/psk.h"
#include "daemon/control/stealth.h"
#include "daemon/control/tls.h"
#include "daemon/sockets.h"

#define SL_RESOLVE_TIMEOUT_MS 4000u /* a name not resolved by then: its last good addresses are tried */

static struct cl *sup_owner(struct supervisor *s)
{
	return (struct cl *)((char *)s - offsetof(struct cl, sup));
}

/* Uniform in [75 %, 100 %] of ms: spreads clients out without ever waiting longer than the schedule says. */
static uint64_t jitter(uint64_t ms)
{
	uint32_t r = 0;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	return ms - (ms / 4) * (r % 1001) / 1000;
}

static void sup_end_exchange(struct cl *c)
{
	struct supervisor *s = &c->sup;

	if (s->ssl) {
		tls_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->pending) {
		cl_snap_free(s->pending);
		s->pending = NULL;
	}
	s->confirming = false;
	if (s->io.fd >= 0) {
		loop_del(&c->loop, &s->io);
		close(s->io.fd);
		s->io.fd = -1;
	}
	s->ph = SUP_IDLE;
	ERR_clear_error();
}

/* When idle: the next thing to do and when. */
static void sup_schedule(struct cl *c)
{
	struct supervisor *s = &c->sup;
	bool have = atomic_load(&c->cur) != NULL;

	if (s->backing_off)
		s->next_ms = s->last_attempt_ms + jitter(s->backoff_ms);
	else if (!have || s->need_auth || s->want_data)
		s->next_ms = now_ms();
	else
		s->next_ms = s->ping_at_ms < s->rekey_at_ms ? s->ping_at_ms : s->rekey_at_ms;
	loop_timer_set(&s->timer, s->next_ms ? s->next_ms : 1);
}

/* "198.18.0.1:51900", or "vpn.example.net:51900 (198.18.0.1:51900)" for a server given by name */
static const char *target_str(struct cl *c, bool with_addr, char *buf, size_t n)
{
	const struct sl_server_cfg *srv = &c->cfg->servers[c->sup.tls_srv];
	struct sockaddr_storage lit;
	socklen_t len;
	char a[64];

	if (config_server_literal(srv, &lit, &len))
		return sock_addr_str(&lit, buf, n);
	if (with_addr)
		snprintf(buf, n, "%s:%u (%s)", srv->host, srv->port, sock_addr_str(&c->sup.try_ep, a, sizeof(a)));
	else
		snprintf(buf, n, "%s:%u", srv->host, srv->port);
	return buf;
}

/* Each server once in a streak of failures (the first round), then one line every SL_FAIL_LOG_EVERY_MS. */
static void sup_log_failure(struct cl *c, const char *op, bool with_addr, const char *what)
{
	struct supervisor *s = &c->sup;
	uint64_t now = now_ms();
	char t[SL_HOST_MAX + 80];

	s->failures++;
	target_str(c, with_addr, t, sizeof(t));
	if (s->failures <= c->cfg->n_servers + 1) {
		log_warn("%s %s: %s%s", op, t, what, c->cfg->n_servers > 1 ? "" : "; retrying with backoff");
		s->last_fail_log_ms = now;
	} else if (now - s->last_fail_log_ms >= SL_FAIL_LOG_EVERY_MS) {
		log_info("no server reachable after %u attempts; latest: %s %s: %s", s->failures, op, t, what);
		s->last_fail_log_ms = now;
	}
}

/* The session's server is not answering: the next round starts with one re-auth to it. */
static void sup_mark_down(struct cl *c)
{
	struct supervisor *s = &c->sup;

	c->path_up = false;
	s->need_auth = true;
	s->want_data = false;
	cl_stream_drop(c, NULL); /* the re-authenticated session starts on UDP again */
	s->srv = c->sess_srv;
	s->addr_i = 0;
	s->round_tried = 0;
}

/* Every address of this server failed: the next server; after a whole round, back off. */
static void sup_next_server(struct cl *c)
{
	struct supervisor *s = &c->sup;

	s->addr_i = 0;
	s->srv = (s->srv + 1) % c->cfg->n_servers;
	if (++s->round_tried >= c->cfg->n_servers) {
		s->round_tried = 0;
		s->backing_off = true;
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : SL_BACKOFF_MIN_MS;
		if (s->backoff_ms > SL_BACKOFF_MAX_MS)
			s->backoff_ms = SL_BACKOFF_MAX_MS;
	}
	sup_schedule(c);
}

static void sup_failed(struct cl *c, const char *what)
{
	struct supervisor *s = &c->sup;
	bool auth = s->op_auth;

	sup_end_exchange(c);
	c->handshakes_failed++; /* any failed exchange, AUTH or PING */
	sup_log_failure(c, auth ? "auth with" : s->op_data ? "TCP data connection to" : "ping to", true, what);
	if (!auth || c->path_up) {
		/* a PING, a rekey or the answer to EXPIRED failed: the path is down */
		sup_mark_down(c);
		sup_schedule(c);
		return;
	}
	if (++s->addr_i < c->srv_addrs[s->srv].n)
		sup_schedule(c); /* the server's next address, at once */
	else
		sup_next_server(c);
}

static void sup_succeeded(struct cl *c)
{
	struct supervisor *s = &c->sup;
	char t[SL_HOST_MAX + 80];

	if (s->failures)
		log_info("server %s reachable again after %u failed attempts", target_str(c, true, t, sizeof(t)),
			 s->failures);
	s->failures = 0;
	s->backoff_ms = 0;
	s->backing_off = false;
	s->round_tried = 0;
	s->ping_at_ms = now_ms() + jitter((uint64_t)c->cfg->ping_interval * 1000u);
	sup_end_exchange(c);
	sup_schedule(c);
}

/* The session is confirmed (or the gateway predates key confirmation): installed. */
static void sup_install(struct cl *c, struct cl_snap *snap)
{
	struct supervisor *s = &c->sup;

	snap->created_ms = now_ms();
	snap->expires_ms = snap->created_ms + (uint64_t)snap->s.lifetime * 1000u;
	s->need_auth = false;
	s->rekey_at_ms = snap->created_ms + (uint64_t)snap->s.lifetime * 10u * SL_REKEY_FRACTION_PCT;
	c->handshakes_ok++;
	c->last_handshake_wall = wall_s();
	if (cl_install(c, snap)) {
		/* the session is fine, the host refused our configuration: keep it; cl_install armed the retry */
		log_err("session %08x up but host configuration failed; retrying in %u s", snap->s.session_id,
			c->host_retry_ms / 1000u);
	}
	cl_server_proven(c, s->tls_srv, &s->try_ep);
	sup_succeeded(c);
}

/* The gateway's answer to our CONFIRM: "OK" or "ERR …"; with its own confirmation checked before. */
static void sup_got_confirm(struct cl *c)
{
	struct supervisor *s = &c->sup;
	struct cl_snap *snap = s->pending;
	bool ok = s->rlen >= 3 && !memcmp(s->rbuf, "OK\n", 3);
	char why[PROTO_LINE_MAX + 64];

	s->pending = NULL;
	s->confirming = false;
	if (!s->gw_confirm_ok || (!ok && s->rlen >= 4 && !memcmp(s->rbuf, "ERR pre-shared key mismatch", 27))) {
		const struct sl_server_cfg *srv = &c->cfg->servers[s->tls_srv];
		cl_snap_free(snap);
		c->psk_mismatch++;
		sup_failed(c, srv->has_psk ? "pre-shared key mismatch: the data keys differ (this [Server]'s "
					     "PresharedKeyFile is not its [Client]'s on the gateway, or the gateway has none)"
					   : "pre-shared key mismatch: the data keys differ (the gateway's [Client] has a "
					     "PresharedKeyFile, this [Server] none)");
		return;
	}
	if (!ok) {
		size_t n = s->rlen && s->rbuf[s->rlen - 1] == '\n' ? s->rlen - 1 : s->rlen;
		cl_snap_free(snap);
		snprintf(why, sizeof(why), "key confirmation refused: %.*s", (int)n, s->rbuf);
		sup_failed(c, why);
		return;
	}
	sup_install(c, snap);
}

static void sup_got_auth(struct cl *c)
{
	struct supervisor *s = &c->sup;
	const struct sl_server_cfg *srv = &c->cfg->servers[s->tls_srv];
	struct cl_snap *snap = calloc(1, sizeof(*snap));
	uint8_t c2s[32], s2c[32], want[SL_PSK_MAC_LEN], mine[SL_PSK_MAC_LEN];
	char err[128] = "", why[160];
	int ret;

	if (!snap) {
		sup_failed(c, "out of memory");
		return;
	}
	ret = proto_parse_snapshot(s->rbuf, s->rlen, &snap->s, err, sizeof(err));
	if (ret) {
		free(snap);
		snprintf(why, sizeof(why), "%s%s", ret == -EACCES ? "refused: " : "malformed answer",
			 ret == -EACCES ? err : "");
		sup_failed(c, why);
		return;
	}
	snap->srv = s->tls_srv;
	snap->ep_len = cl_udp_dest(c, &s->try_ep, &snap->ep);
	/* every AUTH (first, rekey, re-auth, failover) mixes in the [Server]'s PSK as it is now */
	if (tls_export_keys(s->ssl, snap->s.session_id, c2s, s2c) ||
	    psk_mix(c2s, s2c, srv->has_psk ? srv->psk : NULL, snap->s.session_id) ||
	    psk_confirm_mac(c2s, s2c, snap->s.session_id, true, want) ||
	    psk_confirm_mac(c2s, s2c, snap->s.session_id, false, mine) || keystate_init(&snap->ks, c2s, s2c)) {
		OPENSSL_cleanse(c2s, sizeof(c2s));
		OPENSSL_cleanse(s2c, sizeof(s2c));
		free(snap);
		sup_failed(c, "key derivation failed");
		return;
	}
	OPENSSL_cleanse(c2s, sizeof(c2s));
	OPENSSL_cleanse(s2c, sizeof(s2c));
	if (!snap->s.has_confirm && !srv->has_psk) {
		sup_install(c, snap); /* a gateway from before key confirmation, and no PSK to prove */
		return;
	}
	/* both ends prove their keys (DESIGN 10.10): ours goes out even when the gateway's did not match, so
	 * the gateway, too, says "mismatch" */
	s->gw_confirm_ok = snap->s.has_confirm && psk_mac_equal(want, snap->s.confirm);
	ret = proto_format_confirm(s->wbuf, sizeof(s->wbuf), mine);
	if (ret < 0) {
		cl_snap_free(snap);
		sup_failed(c, "out of buffer space");
		return;
	}
	s->pending = snap;
	s->confirming = true;
	s->wlen = (size_t)ret;
	s->woff = 0;
	s->rlen = 0;
	s->ph = SUP_WRITE;
}

static void sup_got_ping(struct cl *c)
{
	struct supervisor *s = &c->sup;

	c->pings++;
	if (s->rlen >= 3 && !memcmp(s->rbuf, "OK\n", 3)) {
		sup_succeeded(c);
		cl_mtu_check(c);
		return;
	}
	if (s->rlen >= 8 && !memcmp(s->rbuf, "EXPIRED\n", 8)) {
		log_info("session expired on the server; re-authenticating");
		s->need_auth = true;
		sup_succeeded(c); /* the server answered: no backoff */
		return;
	}
	sup_failed(c, "malformed ping answer");
}

/* DATA answered: OK — the connection, TLS done with, carries the data from now on. */
static void sup_got_data(struct cl *c)
{
	struct supervisor *s = &c->sup;
	int fd;

	if (s->rlen >= 8 && !memcmp(s->rbuf, "EXPIRED\n", 8)) {
		log_info("session expired on the server; re-authenticating");
		s->need_auth = true;
		sup_succeeded(c);
		return;
	}
	if (s->rlen >= 4 && !memcmp(s->rbuf, "ERR ", 4)) {
		/* e.g. "ERR session not confirmed": the session is not one the gateway will carry over TCP */
		char why[PROTO_LINE_MAX + 32];
		size_t n = s->rbuf[s->rlen - 1] == '\n' ? s->rlen - 1 : s->rlen;
		snprintf(why, sizeof(why), "refused: %.*s", (int)n, s->rbuf);
		sup_failed(c, why);
		return;
	}
	if (s->rlen != 3 || memcmp(s->rbuf, "OK\n", 3)) {
		/* anything after "OK\n" in the same read would be a datagram we have consumed: refuse */
		sup_failed(c, "malformed DATA answer");
		return;
	}
	fd = s->io.fd;
	loop_del(&c->loop, &s->io);
	s->io.fd = -1;
	tls_free(s->ssl); /* sends nothing, closes nothing: the socket is the stream's */
	s->ssl = NULL;
	sup_succeeded(c);
	cl_stream_attach(c, fd);
}

static void sup_drive(struct cl *c)
{
	struct supervisor *s = &c->sup;

	for (;;) {
		int r = 0, err;

		switch (s->ph) {
		case SUP_IDLE:
		case SUP_RESOLVE:
			return;
		case SUP_CONNECT: {
			int soerr = 0;
			socklen_t l = sizeof(soerr);
			getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
			if (soerr) {
				char why[128];
				snprintf(why, sizeof(why), "connect: %s", strerror(soerr));
				sup_failed(c, why);
				return;
			}
			if (c->cfg->servers[s->tls_srv].stealth) {
				/* Stealth = on: the prelude goes first, in one segment (a fresh socket's buffer) */
				uint8_t pre[SL_STEALTH_PRELUDE_LEN], key[32];
				ssize_t n;
				stealth_key(c->cfg->servers[s->tls_srv].pubkey, key);
				if (stealth_prelude_make(key, (int64_t)wall_s(), pre)) {
					sup_failed(c, "stealth prelude: no random bytes");
					return;
				}
				n = send(s->io.fd, pre, sizeof(pre), MSG_NOSIGNAL);
				if (n != (ssize_t)sizeof(pre)) {
					char why[128];
					snprintf(why, sizeof(why), "stealth prelude: %s",
						 n < 0 ? strerror(errno) : "short send");
					sup_failed(c, why);
					return;
				}
			}
			s->ssl = tls_new(c->tls, s->io.fd);
			if (!s->ssl) {
				sup_failed(c, "out of memory");
				return;
			}
			s->ph = SUP_TLS;
			continue;
		}
		case SUP_TLS:
			r = SSL_connect(s->ssl);
			if (r == 1) {
				s->ph = SUP_WRITE;
				continue;
			}
			break;
		case SUP_WRITE:
			if (s->woff == s->wlen) {
				s->ph = SUP_READ;
				continue;
			}
			r = SSL_write(s->ssl, s->wbuf + s->woff, (int)(s->wlen - s->woff));
			if (r > 0) {
				s->woff += (size_t)r;
				continue;
			}
			break;
		case SUP_READ:
			r = SSL_read(s->ssl, s->rbuf + s->rlen, (int)(sizeof(s->rbuf) - s->rlen));
			if (r > 0) {
				s->rlen += (size_t)r;
				if (memchr(s->rbuf, '\n', s->rlen)) {
					if (s->confirming)
						sup_got_confirm(c);
					else if (s->op_auth)
						sup_got_auth(c);
					else if (s->op_data)
						sup_got_data(c);
					else
						sup_got_ping(c);
					if (s->ph == SUP_WRITE)
						continue; /* our key confirmation */
					return;
				}
				if (s->rlen == sizeof(s->rbuf)) {
					sup_failed(c, "answer too long");
					return;
				}
				continue;
			}
			break;
		}
		err = SSL_get_error(s->ssl, r);
		if (err == SSL_ERROR_WANT_READ) {
			loop_mod(&c->loop, &s->io, EPOLLIN);
			return;
		}
		if (err == SSL_ERROR_WANT_WRITE) {
			loop_mod(&c->loop, &s->io, EPOLLOUT);
			return;
		}
		if (s->ph == SUP_TLS) {
			uint8_t key[SL_KEY_LEN];
			const char *bad;
			char buf[256];
			enum tls_verdict v = tls_peer(s->ssl, key, &bad);
			if (v == TLS_PEER_UNKNOWN_KEY) {
				sup_failed(c, "server key mismatch (not the PublicKey of its [Server])");
			} else if (v == TLS_PEER_BAD_CERT) {
				snprintf(buf, sizeof(buf), "server certificate refused: %s", bad);
				sup_failed(c, buf);
			} else {
				char why[400];
				bool stealth = c->cfg->servers[s->tls_srv].stealth;
				/* nothing came back at all: the likeliest cause is a Stealth setting the two ends
				 * do not share (a stealth gateway is silent without the prelude; a plain one takes
				 * the prelude for a broken ClientHello) */
				bool nothing = SSL_get_state(s->ssl) == TLS_ST_CW_CLNT_HELLO;
				snprintf(why, sizeof(why), "TLS handshake: %s%s", tls_error_string(buf, sizeof(buf)),
					 !nothing ? ""
					 : stealth ? " (this [Server] has Stealth = on: does the gateway?)"
						   : " (no answer: does the gateway run Stealth = on? then so must this [Server])");
				sup_failed(c, why);
			}
			return;
		}
		sup_failed(c, "connection closed by the server");
		return;
	}
}

static void sup_event(struct loop_io *io, uint32_t events)
{
	struct supervisor *s = (struct supervisor *)io;
	sup_drive(sup_owner(s));
}

/* A TCP connection to try_ep for the exchange in wbuf. */
static void sup_connect(struct cl *c)
{
	struct supervisor *s = &c->sup;
	struct sl_err e = {{0}};
	int fd;

	fd = sock_tcp_connect(&s->try_ep, s->try_len, c->ids.mark, &e);
	if (fd < 0) {
		sup_failed(c, e.msg);
		return;
	}
	if (loop_add(&c->loop, &s->io, fd, EPOLLOUT, sup_event)) {
		close(fd);
		sup_failed(c, "epoll failed");
		return;
	}
	s->ph = SUP_CONNECT;
	loop_timer_set(&s->timer, now_ms() + SL_CTL_OP_TIMEOUT_MS);
}

/* AUTH to the current address of the current server. */
static void sup_connect_auth(struct cl *c)
{
	struct supervisor *s = &c->sup;
	const struct sl_addrs *a = &c->srv_addrs[s->srv];

	struct sockaddr_storage tmp;

	s->ph = SUP_IDLE;
	while (s->addr_i < a->n && !cl_udp_dest(c, &a->a[s->addr_i], &tmp))
		s->addr_i++; /* an IPv6 address on a host without IPv6 */
	if (s->addr_i >= a->n) { /* a name that neither resolves nor is in the cache */
		sup_log_failure(c, "auth with", false, "no address known for it");
		sup_next_server(c);
		return;
	}
	s->try_ep = a->a[s->addr_i];
	s->try_len = s->try_ep.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	sup_connect(c);
}

static bool addrs_equal(const struct sl_addrs *x, const struct sl_addrs *y)
{
	if (x->n != y->n)
		return false;
	for (unsigned i = 0; i < x->n; i++)
		if (memcmp(&x->a[i], &y->a[i], sizeof(x->a[i])))
			return false;
	return true;
}

/* A lookup is over: the AUTH it was for goes on; a background refresh (sup_network_changed) only ends. */
static void sup_resolve_done(struct cl *c)
{
	struct supervisor *s = &c->sup;

	if (!s->refresh_only) {
		sup_connect_auth(c);
		return;
	}
	s->refresh_only = false;
	s->ph = SUP_IDLE;
	sup_schedule(c);
}

/* The answer for the current server's name: its addresses are tried first, then its last good (cached) ones
 * not among them — a resolver that lies or fails costs a few attempts, never the server. A failure keeps the
 * last good ones (a name that does not resolve is a transient failure, never a reason to give up). */
static void sup_resolved(struct cl *c, const struct sl_addrs *got, const char *err)
{
	struct supervisor *s = &c->sup;
	unsigned i = s->srv;
	const struct sl_server_cfg *srv = &c->cfg->servers[i];
	struct sl_addrs fresh = {.n = 0}, use;
	struct sockaddr_storage tmp;

	for (unsigned k = 0; got && k < got->n && fresh.n < SL_MAX_SERVER_ADDRS; k++)
		if (cl_udp_dest(c, &got->a[k], &tmp) && !addrs_contain(&fresh, &got->a[k])) /* only what we can reach */
			fresh.a[fresh.n++] = got->a[k];
	if (!err && !fresh.n)
		err = "no usable address";
	if (err) {
		if (!s->resolve_failing[i])
			log_warn("resolve %s: %s; %s", srv->host, err,
				 s->refresh_only ? "the session goes on with the address it has"
				 : c->srv_addrs[i].n ? "trying its last good addresses" : "no address known for it yet");
		s->resolve_failing[i] = true;
		sup_resolve_done(c);
		return;
	}
	if (s->resolve_failing[i])
		log_info("resolve %s: answering again", srv->host);
	s->resolve_failing[i] = false;
	c->resolved[i] = fresh;
	use = fresh;
	for (unsigned k = 0; k < c->cached[i].n && use.n < SL_MAX_SERVER_ADDRS; k++)
		if (!addrs_contain(&use, &c->cached[i].a[k]))
			use.a[use.n++] = c->cached[i].a[k];
	if (!addrs_equal(&c->srv_addrs[i], &use)) {
		char a[64];
		log_info("server %s:%u resolves to %s%s", srv->host, srv->port, sock_addr_str(&fresh.a[0], a, sizeof(a)),
			 fresh.n > 1 ? " and more" : "");
		c->srv_addrs[i] = use;
		cl_servers_changed(c); /* before connecting: the kill switch must let us through */
	}
	sup_resolve_done(c);
}

static void sup_on_resolved(void *arg, const struct sl_addrs *addrs, const char *err)
{
	struct cl *c = arg;

	if (c->sup.ph == SUP_RESOLVE)
		sup_resolved(c, addrs, err);
}

/* Looks up the current server's name (marked, through the underlay's resolvers); sup_resolved follows. */
static void sup_resolve(struct cl *c)
{
	const struct sl_server_cfg *srv = &c->cfg->servers[c->sup.srv];
	int ret = resolver_start(&c->res, srv->host, srv->port, cl_underlay_dns(c), sup_on_resolved, c);

	if (ret)
		sup_resolved(c, NULL, ret == -EINVAL ? "the resolvers of /etc/resolv.conf are not usable"
						     : strerror(-ret));
}

static void sup_start(struct cl *c)
{
	struct supervisor *s = &c->sup;
	struct cl_snap *cur = atomic_load(&c->cur);
	struct sockaddr_storage lit;
	socklen_t len;
	uint64_t now = now_ms();

	s->op_auth = !cur || s->need_auth || now >= s->rekey_at_ms;
	s->op_data = !s->op_auth && s->want_data && c->path_up && !cl_on_tcp(c);
	s->want_data = false;
	s->last_attempt_ms = now;
	s->backing_off = false;
	s->rlen = s->woff = 0;
	if (!s->op_auth) {
		s->wlen = (size_t)snprintf(s->wbuf, sizeof(s->wbuf), "%s %08x\n", s->op_data ? "DATA" : "PING",
					   cur->s.session_id);
		s->tls_srv = c->sess_srv;
		s->try_ep = c->ep;
		s->try_len = c->ep_len;
		sup_connect(c);
		return;
	}
	s->wlen = (size_t)snprintf(s->wbuf, sizeof(s->wbuf), "AUTH\n");
	s->tls_srv = s->srv;
	if (s->addr_i == 0 && !config_server_literal(&c->cfg->servers[s->srv], &lit, &len)) {
		s->ph = SUP_RESOLVE; /* names are resolved at every attempt, never only once */
		loop_timer_set(&s->timer, now + SL_RESOLVE_TIMEOUT_MS);
		sup_resolve(c);
		return;
	}
	sup_connect_auth(c);
}

static void sup_on_timer(struct loop_timer *t)
{
	struct supervisor *s = (struct supervisor *)((char *)t - offsetof(struct supervisor, timer));
	struct cl *c = sup_owner(s);

	if (s->ph == SUP_RESOLVE) {
		resolver_cancel(&c->res);
		sup_resolved(c, NULL, "timed out");
		return;
	}
	if (s->ph != SUP_IDLE) {
		sup_failed(c, "timed out");
		return;
	}
	sup_start(c);
}

void sup_kick(struct cl *c)
{
	struct supervisor *s = &c->sup;
	uint64_t now = now_ms();

	if (c->path_up || s->ph != SUP_IDLE || now - s->last_attempt_ms < SL_KICK_MIN_MS)
		return;
	sup_start(c);
}

void sup_path_down(struct cl *c, const char *why)
{
	struct supervisor *s = &c->sup;
	char t[SL_HOST_MAX + 80];

	if (!c->path_up)
		return;
	s->tls_srv = c->sess_srv;
	s->try_ep = c->ep;
	log_warn("server %s stopped answering (%s); re-authenticating", target_str(c, true, t, sizeof(t)), why);
	sup_mark_down(c);
	if (s->ph == SUP_IDLE)
		sup_schedule(c);
	/* else: the exchange under way ends first, then the need for AUTH is seen */
}

void sup_data(struct cl *c)
{
	struct supervisor *s = &c->sup;

	s->want_data = true;
	if (s->ph == SUP_IDLE)
		sup_start(c);
	/* else: when the exchange under way ends, sup_schedule sees it due */
}

void sup_network_changed(struct cl *c)
{
	struct supervisor *s = &c->sup;
	struct sockaddr_storage lit;
	socklen_t len;

	if (!atomic_load(&c->cur) || !c->path_up) {
		sup_kick(c); /* waiting for a server: the new network may reach one */
		return;
	}
	/* a session: its server's name may resolve otherwise from here (another network's resolvers and views);
	 * looked up without disturbing the session, and only between exchanges */
	if (s->ph != SUP_IDLE || s->srv != c->sess_srv ||
	    config_server_literal(&c->cfg->servers[c->sess_srv], &lit, &len))
		return;
	s->refresh_only = true;
	s->ph = SUP_RESOLVE;
	loop_timer_set(&s->timer, now_ms() + SL_RESOLVE_TIMEOUT_MS);
	sup_resolve(c);
}

void sup_rekey(struct cl *c)
{
	struct supervisor *s = &c->sup;

	s->need_auth = true;
	if (s->ph == SUP_IDLE)
		sup_start(c);
}

void sup_init(struct cl *c)
{
	struct supervisor *s = &c->sup;

	memset(s, 0, sizeof(*s));
	s->io.fd = -1;
	s->rekey_at_ms = UINT64_MAX;
	loop_timer_init(&c->loop, &s->timer, sup_on_timer);
	loop_timer_set(&s->timer, now_ms());
}

void sup_close(struct cl *c)
{
	if (c->sup.ph == SUP_RESOLVE)
		resolver_cancel(&c->res);
	sup_end_exchange(c);
	loop_timer_remove(&c->loop, &c->sup.timer);
}

void sup_reload_psk(struct cl *c)
{
	struct sl_config *nc = calloc(1, sizeof(*nc));
	struct sl_err e = {{0}};
	unsigned changed = 0;

	if (!nc) {
		log_err("reload: out of memory");
		return;
	}
	if (config_load(c->cfg->path, nc, &e)) {
		log_err("reload: %s (keeping the running pre-shared keys)", e.msg);
		free(nc);
		return;
	}
	if (nc->mode != SL_MODE_CLIENT || nc->n_servers != c->cfg->n_servers) {
		log_err("reload: %s: a client reloads only its servers' PresharedKeyFile; the [Server] sections "
			"changed: restart to apply (keeping the running pre-shared keys)", c->cfg->path);
		goto out;
	}
	for (unsigned i = 0; i < nc->n_servers; i++) {
		struct sl_server_cfg *cur = &c->cfg->servers[i];
		const struct sl_server_cfg *nw = &nc->servers[i];
		if (cur->has_psk == nw->has_psk && !memcmp(cur->psk, nw->psk, SL_KEY_LEN))
			continue;
		cur->has_psk = nw->has_psk;
		memcpy(cur->psk, nw->psk, SL_KEY_LEN);
		changed++;
	}
	log_info("reload: pre-shared keys of %u server%s changed; the next authentication uses them", changed,
		 changed == 1 ? "" : "s");
out:
	config_free(nc);
	free(nc);
}
