/* supervisor: the client's control plane. Authenticates (AUTH), checks the session (PING), re-authenticates
 * before expiry and after EXPIRED, and on failure backs off from 1 s doubling to 5 min with jitter — forever.
 * Each exchange is one non-blocking TLS connection driven by the event loop. A failing server is logged once
 * at warning, then rarely at info; recovery is logged once. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/client.h"
#include "daemon/control/tls.h"
#include "daemon/sockets.h"

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

	if (s->failures)
		s->next_ms = s->last_attempt_ms + jitter(s->backoff_ms);
	else if (!have || s->need_auth)
		s->next_ms = now_ms();
	else
		s->next_ms = s->ping_at_ms < s->rekey_at_ms ? s->ping_at_ms : s->rekey_at_ms;
	loop_timer_set(&s->timer, s->next_ms ? s->next_ms : 1);
}

static void sup_failed(struct cl *c, const char *what)
{
	struct supervisor *s = &c->sup;
	uint64_t now = now_ms();
	char a[64];

	sup_end_exchange(c);
	c->handshakes_failed++; /* any failed exchange, AUTH or PING */
	s->failures++;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : SL_BACKOFF_MIN_MS;
	if (s->backoff_ms > SL_BACKOFF_MAX_MS)
		s->backoff_ms = SL_BACKOFF_MAX_MS;
	sock_addr_str(&c->ep, a, sizeof(a));
	if (s->failures == 1) {
		log_warn("%s %s: %s; retrying with backoff", s->op_auth ? "auth with" : "ping to", a, what);
		s->last_fail_log_ms = now;
	} else if (now - s->last_fail_log_ms >= SL_FAIL_LOG_EVERY_MS) {
		log_info("server %s still failing after %u attempts: %s", a, s->failures, what);
		s->last_fail_log_ms = now;
	}
	sup_schedule(c);
}

static void sup_succeeded(struct cl *c)
{
	struct supervisor *s = &c->sup;
	char a[64];

	if (s->failures)
		log_info("server %s reachable again after %u failed attempts", sock_addr_str(&c->ep, a, sizeof(a)),
			 s->failures);
	s->failures = 0;
	s->backoff_ms = 0;
	s->ping_at_ms = now_ms() + jitter((uint64_t)c->cfg->ping_interval * 1000u);
	sup_end_exchange(c);
	sup_schedule(c);
}

static void sup_got_auth(struct cl *c)
{
	struct supervisor *s = &c->sup;
	struct cl_snap *snap = calloc(1, sizeof(*snap));
	uint8_t c2s[32], s2c[32];
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
	if (tls_export_keys(s->ssl, snap->s.session_id, c2s, s2c) || keystate_init(&snap->ks, c2s, s2c, c->n_w + 1)) {
		OPENSSL_cleanse(c2s, sizeof(c2s));
		OPENSSL_cleanse(s2c, sizeof(s2c));
		free(snap);
		sup_failed(c, "key derivation failed");
		return;
	}
	OPENSSL_cleanse(c2s, sizeof(c2s));
	OPENSSL_cleanse(s2c, sizeof(s2c));
	snap->created_ms = now_ms();
	snap->expires_ms = snap->created_ms + (uint64_t)snap->s.lifetime * 1000u;
	s->need_auth = false;
	s->rekey_at_ms = snap->created_ms + (uint64_t)snap->s.lifetime * 10u * SL_REKEY_FRACTION_PCT;
	c->handshakes_ok++;
	c->last_handshake_wall = wall_s();
	if (cl_install(c, snap)) {
		/* the session is fine, the host refused our routes: keep it, log, retry applying later */
		log_err("session %08x up but host configuration failed; will retry", snap->s.session_id);
	}
	sup_succeeded(c);
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

static void sup_drive(struct cl *c)
{
	struct supervisor *s = &c->sup;

	for (;;) {
		int r = 0, err;

		switch (s->ph) {
		case SUP_IDLE:
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
					if (s->op_auth)
						sup_got_auth(c);
					else
						sup_got_ping(c);
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
			char buf[256], a[64];
			enum tls_verdict v = tls_peer(s->ssl, key, &bad);
			if (v == TLS_PEER_UNKNOWN_KEY) {
				snprintf(buf, sizeof(buf), "server key mismatch for %s",
					 sock_addr_str(&c->ep, a, sizeof(a)));
				sup_failed(c, buf);
			} else if (v == TLS_PEER_BAD_CERT) {
				snprintf(buf, sizeof(buf), "server certificate refused: %s", bad);
				sup_failed(c, buf);
			} else {
				char why[300];
				snprintf(why, sizeof(why), "TLS handshake: %s", tls_error_string(buf, sizeof(buf)));
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

static void sup_start(struct cl *c)
{
	struct supervisor *s = &c->sup;
	struct cl_snap *cur = atomic_load(&c->cur);
	struct sl_err e = {{0}};
	uint64_t now = now_ms();
	int fd;

	s->op_auth = !cur || s->need_auth || now >= s->rekey_at_ms;
	s->last_attempt_ms = now;
	s->rlen = s->woff = 0;
	if (s->op_auth)
		s->wlen = (size_t)snprintf(s->wbuf, sizeof(s->wbuf), "AUTH\n");
	else
		s->wlen = (size_t)snprintf(s->wbuf, sizeof(s->wbuf), "PING %08x\n", cur->s.session_id);
	fd = sock_tcp_connect(&c->ep, c->ep_len, SL_FWMARK, &e);
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
	loop_timer_set(&s->timer, now + SL_CTL_OP_TIMEOUT_MS);
}

static void sup_on_timer(struct loop_timer *t)
{
	struct supervisor *s = (struct supervisor *)((char *)t - offsetof(struct supervisor, timer));
	struct cl *c = sup_owner(s);

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

	if (s->ph != SUP_IDLE || now - s->last_attempt_ms < SL_KICK_MIN_MS)
		return;
	sup_start(c);
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
	sup_end_exchange(c);
	loop_timer_remove(&c->loop, &c->sup.timer);
}
