/* loadgen: many real clients against one gateway (tests and the benchmark only).
 *
 *   loadgen conf --count N [--seed S]
 *       prints the gateway's [Client] sections for N clients (Name = lgI, PublicKey = …); client I's private
 *       key is SHA-256("sluice-loadgen" || S || I), so `conf` and `run` agree without sharing files.
 *   loadgen run --server ADDR:PORT --server-key B64 --count N [--seed S] --source ADDR [--sources K]
 *               [--hold SECONDS] [--interval SECONDS] [--deadline SECONDS] [--assign-log FILE]
 *               [--rate HANDSHAKES_PER_S] [--first I] [--repeat K] [--chain N] [--sessions FILE]
 *               [--stealth] [--gateway-pid PID]
 *
 * `run` speaks the real protocol: per client a TLS 1.3 connection with its own key, AUTH, the snapshot, the
 * exporter keys — from K source addresses (ADDR, ADDR+1, …; the gateway limits connections per source), a few
 * handshakes in flight per source, failed ones retried until the deadline. Then every client sends an ICMP
 * echo from its tunnel address to the gateway's through the tunnel and must get its own reply back (demuxed by
 * session id, checked by address and payload). Then, for --hold seconds, each client sends an echo or a
 * KEEPALIVE (alternately, echoes first) every --interval seconds — the trickle while the gateway's CPU is measured from outside;
 * every client sends exactly hold/interval datagrams (SIGUSR1 ends the hold early: a test that reads the
 * gateway while the trickle flows says when it is done).
 *
 * Prints key=value results (established, establish_ms, distinct_addresses, echo_ok, hold_echo_sent,
 * hold_echo_ok, hold_echo_missing: the names of up to 10 clients whose trickle echo did not come back, …).
 * Exit 0 only if every client authenticated, got a distinct address and its echo back. --sessions writes
 * "NAME SESSION_ID ADDRESS SOURCE" per client once all are established, so a test can name what the gateway
 * should hold for a client it finds missing.
 * --assign-log appends "I ADDRESS" for each answer as it arrives (flushed), for the state-safety test, which
 * also paces the handshakes (--rate) and starts at client I (--first) to aim its kills at new leases.
 * --repeat K authenticates each client K times back to back (the re-authentication loop of the abuse test).
 * --chain N presents each client's key under a chain of N more certificates (Ed25519, each issuing the one
 * below, the leaf issued by the first): the long-chain attack, which a gateway must refuse for any N > 0.
 * --stealth sends the prelude of a `Stealth = on` gateway (control/stealth.h, keyed from --server-key) before
 * each TLS handshake. auth_us_p50 / auth_us_p90 / auth_us_max report the time of one successful exchange, from
 * connect() to the parsed snapshot (the gateway's cost per authentication as a client sees it).
 * establish_cpu_ms is loadgen's own CPU time (all threads) while it established every client; with
 * --gateway-pid P, gateway_establish_cpu_ms is process P's over the same interval (read from
 * /proc/P/task/{*}/schedstat right before the first connect and right after the last answer: the same PID
 * namespace, whatever the network namespace), and both per handshake in µs (…_cpu_us_per_handshake).
 * Targets outside 127.0.0.0/8 and 198.18.0.0/15 are refused. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "daemon/control/proto.h"
#include "daemon/control/stealth.h"
#include "daemon/control/tls.h"
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/tunio.h"
#include "daemon/keys.h"
#include "daemon/loop.h"
#include "tests/tools/certchain.h"
#include "tests/tools/target.h"

#define LG_MAX_CLIENTS 100000
#define LG_MAX_SOURCES 256
#define LG_PER_SOURCE 6 /* in-flight handshakes per source: below the gateway's per-source cap */
#define LG_IN_FLIGHT 192 /* in all: below the gateway's global cap on control connections */
#define LG_HS_TIMEOUT_MS 5000
#define LG_ECHO_MAGIC 0x4c47454fu /* "LGEO" */
#define LG_MAX_CHAIN 1000

struct lg_client {
	uint32_t idx;
	uint32_t session_id;
	struct in_addr addr, gw;
	struct keystate ks;
	bool established, echo_ok;
	uint16_t src;
	uint64_t retry_at_ms; /* after a failure: not before this */
	uint64_t ka_due_ms;   /* while the others still authenticate: its next keepalive */
	unsigned auths;       /* successful authentications (--repeat) */
	uint16_t seq;
	uint32_t hold_sent, hold_ok; /* trickle echoes */
};

struct lg_hs { /* one control connection in flight */
	int fd;
	SSL *ssl;
	struct lg_client *c;
	int phase; /* 0 connect, 1 tls, 2 write, 3 read */
	size_t woff, rlen;
	char rbuf[PROTO_LINE_MAX];
	uint64_t deadline_ms;
	uint64_t t0_us; /* connect() */
	unsigned slot; /* in live[] */
};

static struct {
	uint32_t count, seed, n_src;
	struct sockaddr_in server;
	uint8_t server_key[SL_KEY_LEN];
	struct in_addr src0;
	unsigned hold_s, interval_s, deadline_s, rate, first, repeat, chain;
	long gw_pid; /* --gateway-pid: whose CPU time to report for the establish phase (0: none) */
	bool stealth;
	FILE *assign_log;
	const char *sessions;
} opt = {.seed = 1, .n_src = 1, .interval_s = 5, .deadline_s = 120};

static struct lg_client *clients;
static uint32_t *by_id; /* open addressing: client index + 1 by session id; 0 empty */
static uint32_t by_id_mask;
static int udp_fd[LG_MAX_SOURCES];
static int ep;
static SSL_CTX *tls; /* one for all clients: each connection presents its own client's identity */
/* each client's key and certificate, made before the clock starts (not with --chain, whose leaf is made per
 * handshake under the chain): a handshake then costs loadgen what it costs any client, the TLS exchange */
static struct tls_identity *ids;

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s\n", what);
	exit(2);
}

static void client_key(uint32_t idx, uint8_t priv[SL_KEY_LEN])
{
	unsigned char in[14 + 8];
	unsigned int len = 0;

	memcpy(in, "sluice-loadgen", 14);
	memcpy(in + 14, &opt.seed, 4);
	memcpy(in + 18, &idx, 4);
	if (!EVP_Digest(in, sizeof(in), priv, &len, EVP_sha256(), NULL) || len != SL_KEY_LEN)
		die("sha256 failed");
}

static bool accept_server(void *arg, const uint8_t key[SL_KEY_LEN])
{
	return !memcmp(key, opt.server_key, SL_KEY_LEN);
}

/* ---- --chain: certificate chains, built once; the leaf per handshake */

static X509 *chain_cert[LG_MAX_CHAIN];
static EVP_PKEY *chain_key[LG_MAX_CHAIN];

static void chain_build(void)
{
	char subj[32], issuer[32];

	for (unsigned k = 0; k < opt.chain; k++)
		if (!(chain_key[k] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
			die("ed25519 keygen failed");
	for (unsigned k = 0; k < opt.chain; k++) { /* the last one is self-signed: the "root" */
		unsigned up = k + 1 < opt.chain ? k + 1 : k;
		snprintf(subj, sizeof(subj), "sluice-chain-%u", k);
		snprintf(issuer, sizeof(issuer), "sluice-chain-%u", up);
		if (!(chain_cert[k] = cert_issue(chain_key[k], subj, issuer, chain_key[up], 0)))
			die("cannot build a certificate chain");
	}
}

/* Gives one connection the key priv under a certificate issued by the chain, and the chain. */
static void chain_apply(SSL *ssl, const uint8_t priv[SL_KEY_LEN])
{
	EVP_PKEY *pk = key_evp_private(priv);
	X509 *leaf;

	if (!pk)
		die("key failed");
	leaf = cert_issue(pk, "sluice", "sluice-chain-0", chain_key[0], 0);
	if (!leaf || SSL_use_certificate(ssl, leaf) != 1 || SSL_use_PrivateKey(ssl, pk) != 1)
		die("cannot use the chained certificate");
	for (unsigned k = 0; k < opt.chain; k++)
		if (SSL_add1_chain_cert(ssl, chain_cert[k]) != 1)
			die("cannot add a chain certificate");
	X509_free(leaf);
	EVP_PKEY_free(pk);
}

static void chain_free(void)
{
	for (unsigned k = 0; k < opt.chain; k++) {
		X509_free(chain_cert[k]);
		EVP_PKEY_free(chain_key[k]);
	}
}

static struct lg_client *client_by_id(uint32_t id)
{
	for (uint32_t i = (id * 2654435761u) & by_id_mask;; i = (i + 1) & by_id_mask) {
		if (!by_id[i])
			return NULL;
		if (clients[by_id[i] - 1].session_id == id)
			return &clients[by_id[i] - 1];
	}
}

static void index_client(struct lg_client *c)
{
	uint32_t i = (c->session_id * 2654435761u) & by_id_mask;

	while (by_id[i] && clients[by_id[i] - 1].session_id != c->session_id)
		i = (i + 1) & by_id_mask;
	by_id[i] = c->idx + 1;
}

/* An ICMP echo request from the client's tunnel address to the gateway's, payload = magic, index. Returns the
 * inner length, written at buf (which has room for it). */
static size_t build_echo(struct lg_client *c, uint8_t *buf)
{
	uint8_t *ip = buf, *icmp = buf + 20;
	uint32_t magic = htonl(LG_ECHO_MAGIC), idx = htonl(c->idx);
	size_t len = 20 + 8 + 8;
	uint16_t v;

	memset(buf, 0, len);
	ip[0] = 0x45;
	v = htons((uint16_t)len);
	memcpy(ip + 2, &v, 2);
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	memcpy(ip + 12, &c->addr, 4);
	memcpy(ip + 16, &c->gw, 4);
	v = htons((uint16_t)~dp_csum_fold(dp_csum_add(0, ip, 20)));
	memcpy(ip + 10, &v, 2);
	icmp[0] = 8;
	v = htons((uint16_t)(c->idx & 0xffff));
	memcpy(icmp + 4, &v, 2);
	v = htons(++c->seq);
	memcpy(icmp + 6, &v, 2);
	memcpy(icmp + 8, &magic, 4);
	memcpy(icmp + 12, &idx, 4);
	v = htons((uint16_t)~dp_csum_fold(dp_csum_add(0, icmp, 16)));
	memcpy(icmp + 2, &v, 2);
	return len;
}

static uint64_t sent_dgrams, send_errors;

static void send_one(struct lg_client *c, bool echo)
{
	uint8_t d[128];
	size_t inner = echo ? build_echo(c, d + SLUICE_HDR_LEN) : 0;
	int n = dgram_seal(keystate_tx(&c->ks), d, inner, echo ? SL_TYPE_DATA : SL_TYPE_KEEPALIVE, c->session_id,
			   keystate_next(&c->ks));

	if (n < 0)
		die("seal failed");
	if (sendto(udp_fd[c->src], d, (size_t)n, 0, (struct sockaddr *)&opt.server, sizeof(opt.server)) == n)
		sent_dgrams++;
	else
		send_errors++;
}

static uint64_t echo_replies, bad_replies;

/* Reads every waiting datagram of every source socket; an echo reply for client I marks it. */
static void drain_udp(void)
{
	uint8_t d[2048];

	for (uint32_t s = 0; s < opt.n_src; s++) {
		for (;;) {
			ssize_t n = recv(udp_fd[s], d, sizeof(d), MSG_DONTWAIT);
			struct sl_hdr h;
			struct lg_client *c;
			int inner;

			if (n < 0)
				break;
			if (wire_hdr_decode(d, (size_t)n, &h) || !(c = client_by_id(h.session_id)) ||
			    !replay_check(&c->ks.replay, h.counter)) {
				bad_replies++;
				continue;
			}
			inner = dgram_open(keystate_rx(&c->ks), d, (size_t)n, &h);
			if (inner < 0) {
				bad_replies++;
				continue;
			}
			replay_update(&c->ks.replay, h.counter);
			if (h.type != SL_TYPE_DATA)
				continue;
			const uint8_t *ip = d + SLUICE_HDR_LEN, *icmp = ip + 20;
			uint32_t magic, idx;
			if (inner < 36 || ip[9] != 1 || memcmp(ip + 16, &c->addr, 4) || icmp[0] != 0) {
				bad_replies++;
				continue;
			}
			memcpy(&magic, icmp + 8, 4);
			memcpy(&idx, icmp + 12, 4);
			if (ntohl(magic) != LG_ECHO_MAGIC || ntohl(idx) != c->idx) {
				bad_replies++;
				continue;
			}
			c->echo_ok = true;
			c->hold_ok++; /* counted only during the hold (reset when it starts) */
			echo_replies++;
		}
	}
}

/* ---- establishing: non-blocking TLS exchanges, a few per source in flight ---- */

static unsigned in_flight[LG_MAX_SOURCES];
static struct lg_hs *live[LG_IN_FLIGHT];
static unsigned n_live;
static uint64_t hs_failures, hs_refused;

static void hs_free(struct lg_hs *h)
{
	in_flight[h->c->src]--;
	if (h->ssl)
		tls_free(h->ssl);
	if (h->fd >= 0)
		close(h->fd); /* also leaves the epoll set */
	free(h);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int hs_start(struct lg_client *c)
{
	struct lg_hs *h = calloc(1, sizeof(*h));
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLOUT};

	if (!h)
		die("out of memory");
	h->c = c;
	in_flight[c->src]++;
	src.sin_addr.s_addr = htonl(ntohl(opt.src0.s_addr) + c->src);
	h->t0_us = now_us();
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || bind(h->fd, (struct sockaddr *)&src, sizeof(src)) ||
	    (connect(h->fd, (struct sockaddr *)&opt.server, sizeof(opt.server)) && errno != EINPROGRESS)) {
		fprintf(stderr, "loadgen: connect from %s: %s\n", inet_ntoa(src.sin_addr), strerror(errno));
		hs_free(h);
		return -1;
	}
	h->deadline_ms = now_ms() + LG_HS_TIMEOUT_MS;
	h->slot = n_live;
	live[n_live++] = h;
	ev.data.ptr = h;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, h->fd, &ev))
		die("epoll_ctl failed");
	return 0;
}

static uint32_t *auth_us; /* per successful exchange, for the percentiles */
static size_t n_auth_us, cap_auth_us;

static void hs_done(struct lg_hs *h)
{
	struct lg_client *c = h->c;
	struct proto_snapshot snap;
	uint8_t c2s[32], s2c[32];
	char err[128] = "";
	int ret = proto_parse_snapshot(h->rbuf, h->rlen, &snap, err, sizeof(err));

	if (ret) {
		if (ret == -EACCES)
			hs_refused++;
		hs_failures++;
		return;
	}
	if (tls_export_keys(h->ssl, snap.session_id, c2s, s2c) || keystate_init(&c->ks, c2s, s2c))
		die("key derivation failed");
	if (n_auth_us == cap_auth_us) {
		cap_auth_us = cap_auth_us ? 2 * cap_auth_us : 1024;
		if (!(auth_us = realloc(auth_us, cap_auth_us * sizeof(*auth_us))))
			die("out of memory");
	}
	auth_us[n_auth_us++] = (uint32_t)(now_us() - h->t0_us);
	c->session_id = snap.session_id;
	c->addr = snap.addr;
	c->gw = snap.gateway;
	c->established = true;
	if (c->auths + 1 >= opt.repeat) /* only the last session of a --repeat loop carries data */
		index_client(c);
	if (opt.assign_log) {
		fprintf(opt.assign_log, "%u %s\n", c->idx, inet_ntoa(c->addr));
		fflush(opt.assign_log);
	}
}

/* Drives one exchange as far as it goes; returns true when it is over (done or failed). */
static bool hs_drive(struct lg_hs *h)
{
	static const char req[] = "AUTH\n";

	for (;;) {
		int r = 0, err, soerr = 0;
		socklen_t l = sizeof(soerr);
		struct epoll_event ev = {.data.ptr = h};

		switch (h->phase) {
		case 0: {
			uint8_t priv[SL_KEY_LEN];
			getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
			if (soerr)
				return hs_failures++, true;
			if (opt.stealth) {
				uint8_t pre[SL_STEALTH_PRELUDE_LEN], key[32];
				stealth_key(opt.server_key, key);
				if (stealth_prelude_make(key, (int64_t)time(NULL), pre) ||
				    send(h->fd, pre, sizeof(pre), MSG_NOSIGNAL) != (ssize_t)sizeof(pre))
					return hs_failures++, true;
			}
			if (!(h->ssl = tls_new(tls, h->fd)))
				die("out of memory");
			if (opt.chain) {
				client_key(h->c->idx, priv);
				chain_apply(h->ssl, priv);
				OPENSSL_cleanse(priv, sizeof(priv));
			} else if (tls_identity_use(h->ssl, &ids[h->c->idx])) {
				die("cannot give a connection its client's key");
			}
			h->phase = 1;
			continue;
		}
		case 1:
			r = SSL_connect(h->ssl);
			if (r == 1) {
				h->phase = 2;
				continue;
			}
			break;
		case 2:
			if (h->woff == sizeof(req) - 1) {
				h->phase = 3;
				continue;
			}
			r = SSL_write(h->ssl, req + h->woff, (int)(sizeof(req) - 1 - h->woff));
			if (r > 0) {
				h->woff += (size_t)r;
				continue;
			}
			break;
		case 3:
			r = SSL_read(h->ssl, h->rbuf + h->rlen, (int)(sizeof(h->rbuf) - 1 - h->rlen));
			if (r > 0) {
				h->rlen += (size_t)r;
				if (memchr(h->rbuf, '\n', h->rlen)) {
					hs_done(h);
					return true;
				}
				if (h->rlen == sizeof(h->rbuf) - 1)
					return hs_failures++, true;
				continue;
			}
			break;
		}
		err = SSL_get_error(h->ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			return hs_failures++, true;
		}
		ev.events = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		epoll_ctl(ep, EPOLL_CTL_MOD, h->fd, &ev);
		return false;
	}
}

static void live_del(struct lg_hs *h)
{
	live[h->slot] = live[--n_live];
	live[h->slot]->slot = h->slot;
}

/* Clients already established keep their sessions alive, as real clients do, while the others authenticate
 * (10,000 handshakes can take longer than the gateway's idle limit): a keepalive every --interval, in the
 * order they were established (a ring, so each call costs only what is due). */
static uint32_t *ka_ring, ka_head, ka_len;

static void keepalives_due(uint64_t now)
{
	bool sent = false;

	while (ka_len && clients[ka_ring[ka_head]].ka_due_ms <= now) {
		struct lg_client *c = &clients[ka_ring[ka_head]];
		ka_head = (ka_head + 1) % opt.count;
		ka_len--;
		send_one(c, false);
		sent = true;
		c->ka_due_ms = now + opt.interval_s * 1000ull;
		ka_ring[(ka_head + ka_len++) % opt.count] = c->idx;
	}
	if (sent)
		drain_udp(); /* their answers */
}

/* CPU time of this process, all threads, in ns. */
static uint64_t own_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of process pid, all threads, in ns (the first field of each thread's schedstat); -1 when it cannot
 * be read (the process is gone). */
static int64_t pid_cpu_ns(long pid)
{
	char path[64];
	struct dirent *d;
	int64_t total = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if (!(dir = opendir(path)))
		return -1;
	while ((d = readdir(dir))) {
		unsigned long long ns;
		FILE *f;
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/schedstat", pid, d->d_name);
		if (!(f = fopen(path, "r")))
			continue; /* a thread that just ended */
		if (fscanf(f, "%llu", &ns) == 1)
			total += (int64_t)ns;
		fclose(f);
	}
	closedir(dir);
	return total;
}

/* Authenticates every client; returns how many are established when all are, or the deadline passes. A
 * failed client is retried after 250 ms (a restarting or refusing gateway is not hammered). */
static uint32_t establish_all(uint64_t deadline_ms)
{
	uint32_t done = 0, *queue = malloc(sizeof(*queue) * opt.count), qhead = 0, qlen = opt.count;

	if (!queue)
		die("out of memory");
	uint64_t t0 = now_ms(), started = 0;

	for (uint32_t i = 0; i < opt.count; i++)
		queue[i] = (opt.first + i) % opt.count;
	while (done < opt.count && now_ms() < deadline_ms) {
		struct epoll_event evs[64];
		uint64_t now = now_ms();
		uint32_t tries = qlen;
		int n;

		/* start what the per-source budgets and retry times allow; the rest goes round again */
		while (tries-- && qlen) {
			struct lg_client *c = &clients[queue[qhead]];
			qhead = (qhead + 1) % opt.count;
			qlen--;
			if (opt.rate && started >= (now - t0) * opt.rate / 1000 + 1) {
				queue[(qhead + qlen) % opt.count] = c->idx;
				qlen++;
				break; /* --rate: no more starts for now */
			}
			if (n_live >= LG_IN_FLIGHT || in_flight[c->src] >= LG_PER_SOURCE || c->retry_at_ms > now ||
			    hs_start(c)) {
				queue[(qhead + qlen) % opt.count] = c->idx;
				qlen++;
				continue;
			}
			started++;
		}
		n = epoll_wait(ep, evs, 64, 20);
		for (int k = 0; k < n; k++) {
			struct lg_hs *h = evs[k].data.ptr;
			if (!hs_drive(h))
				continue;
			if (h->c->established && ++h->c->auths < opt.repeat) {
				/* --repeat: authenticate again at once (a client re-authenticating in a tight loop) */
				h->c->established = false;
				keystate_free(&h->c->ks);
				queue[(qhead + qlen) % opt.count] = h->c->idx;
				qlen++;
			} else if (h->c->established) {
				done++;
				h->c->ka_due_ms = now_ms() + opt.interval_s * 1000ull;
				ka_ring[(ka_head + ka_len++) % opt.count] = h->c->idx;
			} else {
				h->c->retry_at_ms = now_ms() + 250;
				queue[(qhead + qlen) % opt.count] = h->c->idx;
				qlen++;
			}
			live_del(h);
			hs_free(h);
		}
		now = now_ms();
		keepalives_due(now);
		for (unsigned k = 0; k < n_live; k++) { /* at most LG_PER_SOURCE per source */
			struct lg_hs *h = live[k];
			if (h->deadline_ms > now)
				continue;
			hs_failures++;
			h->c->retry_at_ms = now + 250;
			queue[(qhead + qlen) % opt.count] = h->c->idx;
			qlen++;
			live_del(h);
			hs_free(h);
			k--;
		}
	}
	while (n_live) {
		struct lg_hs *h = live[0];
		live_del(h);
		hs_free(h);
	}
	free(queue);
	return done;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen conf --count N [--seed S]\n"
			"       loadgen run --server ADDR:PORT --server-key B64 --count N [--seed S] --source ADDR\n"
			"                   [--sources K] [--hold S] [--interval S] [--deadline S] [--assign-log FILE]\n"
			"                   [--rate R] [--first I] [--repeat K] [--chain N] [--sessions FILE] [--stealth]\n"
			"                   [--gateway-pid PID]\n");
	exit(2);
}

static unsigned long num(const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		usage();
	return v;
}

static volatile sig_atomic_t end_hold;

static void on_usr1(int sig)
{
	end_hold = 1;
}

static void src_str(const struct lg_client *c, char *buf, size_t n)
{
	struct in_addr a = {.s_addr = htonl(ntohl(opt.src0.s_addr) + c->src)};
	inet_ntop(AF_INET, &a, buf, (socklen_t)n);
}

static void write_sessions(void)
{
	FILE *f = fopen(opt.sessions, "w");

	if (!f)
		die("cannot write --sessions");
	for (uint32_t i = 0; i < opt.count; i++) {
		char src[INET_ADDRSTRLEN];
		src_str(&clients[i], src, sizeof(src));
		fprintf(f, "lg%u %08x %s %s\n", i, clients[i].session_id, inet_ntoa(clients[i].addr), src);
	}
	if (fclose(f))
		die("cannot write --sessions");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Every client's key and certificate, before the clock starts. */
static void identities_make(void)
{
	uint64_t t0 = now_ms();

	if (opt.chain)
		return;
	if (!(ids = calloc(opt.count, sizeof(*ids))))
		die("out of memory");
	for (uint32_t i = 0; i < opt.count; i++) {
		uint8_t priv[SL_KEY_LEN];
		int r;
		client_key(i, priv);
		r = tls_identity_make(&ids[i], priv);
		OPENSSL_cleanse(priv, sizeof(priv));
		if (r)
			die("cannot make a client's certificate");
	}
	printf("identities_ms=%" PRIu64 "\n", now_ms() - t0);
	fflush(stdout); /* establishing starts now: whoever watches (a profiler) can tell */
}

static void identities_free(void)
{
	for (uint32_t i = 0; ids && i < opt.count; i++)
		tls_identity_free(&ids[i]);
	free(ids);
	ids = NULL;
}

static int run(void)
{
	uint64_t t0, deadline;
	uint32_t established, distinct = 0, echo_ok = 0, *addrs;
	uint64_t hold_sent = 0, hold_replies;
	unsigned missing_named = 0;

	clients = calloc(opt.count, sizeof(*clients));
	for (by_id_mask = 1; by_id_mask < opt.count * 2; by_id_mask <<= 1)
		;
	by_id = calloc(by_id_mask, sizeof(*by_id));
	by_id_mask--;
	ka_ring = calloc(opt.count, sizeof(*ka_ring));
	if (!clients || !by_id || !ka_ring)
		die("out of memory");
	ep = epoll_create1(EPOLL_CLOEXEC);
	chain_build();
	{
		uint8_t priv[SL_KEY_LEN];
		struct sl_err e = {{0}};
		client_key(0, priv); /* the context's own key is never presented: each connection gets its client's */
		tls = tls_ctx_new(false, priv, accept_server, NULL, &e);
		OPENSSL_cleanse(priv, sizeof(priv));
		if (!tls) {
			fprintf(stderr, "loadgen: tls: %s\n", e.msg);
			die("cannot make a TLS context");
		}
	}
	for (uint32_t s = 0; s < opt.n_src; s++) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		int buf = 8 << 20;
		src.sin_addr.s_addr = htonl(ntohl(opt.src0.s_addr) + s);
		udp_fd[s] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (udp_fd[s] < 0 || bind(udp_fd[s], (struct sockaddr *)&src, sizeof(src))) {
			fprintf(stderr, "loadgen: bind udp %s: %s\n", inet_ntoa(src.sin_addr), strerror(errno));
			return 2;
		}
		setsockopt(udp_fd[s], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	}
	for (uint32_t i = 0; i < opt.count; i++) {
		clients[i].idx = i;
		clients[i].src = (uint16_t)(i % opt.n_src);
	}
	identities_make();
	t0 = now_ms(); /* establish_ms and --deadline count from here */
	deadline = t0 + opt.deadline_s * 1000ull;
	{
		int64_t gw0 = opt.gw_pid ? pid_cpu_ns(opt.gw_pid) : -1, gw1;
		uint64_t own0 = own_cpu_ns(), own;

		established = establish_all(deadline);
		gw1 = opt.gw_pid ? pid_cpu_ns(opt.gw_pid) : -1;
		own = own_cpu_ns() - own0;
		printf("established=%u\nestablish_ms=%" PRIu64 "\nhandshake_failures=%" PRIu64 "\nrefused=%" PRIu64
		       "\n", established, now_ms() - t0, hs_failures, hs_refused);
		printf("establish_cpu_ms=%" PRIu64 "\n", own / 1000000u);
		if (established)
			printf("establish_cpu_us_per_handshake=%" PRIu64 "\n", own / 1000u / established);
		if (gw0 >= 0 && gw1 >= gw0) {
			printf("gateway_establish_cpu_ms=%" PRId64 "\n", (gw1 - gw0) / 1000000);
			if (established)
				printf("gateway_establish_cpu_us_per_handshake=%" PRId64 "\n",
				       (gw1 - gw0) / 1000 / established);
		}
	}
	if (n_auth_us) {
		qsort(auth_us, n_auth_us, sizeof(*auth_us), cmp_u32);
		printf("auth_us_p50=%u\nauth_us_p90=%u\nauth_us_max=%u\n", auth_us[n_auth_us / 2],
		       auth_us[n_auth_us * 9 / 10], auth_us[n_auth_us - 1]);
	}
	free(auth_us);
	auth_us = NULL;
	fflush(stdout);
	if (established < opt.count) {
		chain_free();
		identities_free();
		return 1;
	}
	if (opt.sessions)
		write_sessions();

	addrs = malloc(sizeof(*addrs) * opt.count);
	if (!addrs)
		die("out of memory");
	for (uint32_t i = 0; i < opt.count; i++)
		addrs[i] = ntohl(clients[i].addr.s_addr);
	qsort(addrs, opt.count, sizeof(*addrs), cmp_u32);
	for (uint32_t i = 0; i < opt.count; i++)
		distinct += !i || addrs[i] != addrs[i - 1];
	free(addrs);

	/* every client's own echo back: up to five rounds for those still missing (UDP may drop under a burst) */
	for (int round = 0; round < 5; round++) {
		uint64_t until;
		uint32_t missing = 0;
		for (uint32_t i = 0; i < opt.count; i++) {
			if (clients[i].echo_ok)
				continue;
			send_one(&clients[i], true);
			if (++missing % 256 == 0)
				drain_udp(); /* keep our receive queues short */
		}
		if (!missing)
			break;
		until = now_ms() + 1000;
		while (now_ms() < until) {
			struct timespec ts = {0, 10 * 1000000};
			drain_udp();
			nanosleep(&ts, NULL); /* a bounded wait for replies; the gateway is under test, not us */
		}
	}
	for (uint32_t i = 0; i < opt.count; i++)
		echo_ok += clients[i].echo_ok;
	printf("distinct_addresses=%u\necho_ok=%u\n", distinct, echo_ok);
	fflush(stdout);

	/* the hold: keepalives and a trickle of echoes, spread evenly over each interval */
	hold_replies = echo_replies;
	for (uint32_t i = 0; i < opt.count; i++)
		clients[i].hold_ok = 0;
	if (opt.hold_s) {
		uint64_t start = now_ms(), per = opt.interval_s * 1000ull;
		/* every client fires hold/interval times: client i at (tick*count + i) * per / count */
		uint64_t tick = 0, ticks = opt.hold_s * 1000ull * opt.count / per;
		while (tick < ticks && !end_hold) {
			uint64_t t = now_ms() - start;
			uint64_t due = t * opt.count / per;
			while (tick < due && tick < ticks) {
				struct lg_client *c = &clients[tick % opt.count];
				bool echo = (tick / opt.count) % 2 == 0; /* echoes first: a short hold has some */
				send_one(c, echo);
				hold_sent += echo;
				c->hold_sent += echo;
				tick++;
			}
			drain_udp();
			struct timespec ts = {0, 5 * 1000000};
			nanosleep(&ts, NULL);
		}
		for (int i = 0; i < 50; i++) { /* replies still in flight */
			struct timespec ts = {0, 10 * 1000000};
			drain_udp();
			nanosleep(&ts, NULL);
		}
	}
	printf("hold_echo_sent=%" PRIu64 "\nhold_echo_ok=%" PRIu64 "\nsent=%" PRIu64 "\nsend_errors=%" PRIu64
	       "\nbad_replies=%" PRIu64 "\nhold_echo_missing=",
	       hold_sent, echo_replies - hold_replies, sent_dgrams, send_errors, bad_replies);
	for (uint32_t i = 0; i < opt.count && missing_named < 10; i++) {
		char src[INET_ADDRSTRLEN];
		if (clients[i].hold_ok >= clients[i].hold_sent)
			continue;
		src_str(&clients[i], src, sizeof(src));
		printf("%slg%u(session %08x from %s)", missing_named++ ? "," : "", i, clients[i].session_id, src);
	}
	printf("\n");
	for (uint32_t i = 0; i < opt.count; i++)
		keystate_free(&clients[i].ks);
	keystate_thread_release();
	tls_ctx_free(tls);
	identities_free();
	free(ka_ring);
	free(clients);
	free(by_id);
	chain_free();
	return distinct == opt.count && echo_ok == opt.count ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"count", 1, 0, 'n'},	 {"seed", 1, 0, 's'},	  {"server", 1, 0, 'S'},
		{"server-key", 1, 0, 'k'}, {"source", 1, 0, 'a'},	  {"sources", 1, 0, 'K'},
		{"hold", 1, 0, 'h'},	 {"interval", 1, 0, 'i'}, {"deadline", 1, 0, 'd'},
		{"assign-log", 1, 0, 'l'}, {"rate", 1, 0, 'r'},	  {"first", 1, 0, 'f'},
		{"repeat", 1, 0, 'R'},	 {"chain", 1, 0, 'C'},	  {"sessions", 1, 0, 'o'},
		{"stealth", 0, 0, 'T'},	 {"gateway-pid", 1, 0, 'P'},
		{0, 0, 0, 0},
	};
	const char *cmd = argc > 1 ? argv[1] : "";
	bool have_server = false, have_key = false, have_src = false;
	struct sockaddr_storage ss = {0};
	int c;

	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n': opt.count = (uint32_t)num(optarg, 1, LG_MAX_CLIENTS); break;
		case 's': opt.seed = (uint32_t)num(optarg, 0, UINT32_MAX); break;
		case 'S':
			if (parse_target(optarg, &opt.server) || !target_allowed(opt.server.sin_addr))
				die("--server must be ADDR:PORT in 127.0.0.0/8 or 198.18.0.0/15");
			memcpy(&ss, &opt.server, sizeof(opt.server));
			if (!target_here(&ss, "/run/netns"))
				die("--server beyond loopback only from a namespace a test made (ip netns exec; /run/netns)");
			have_server = true;
			break;
		case 'k':
			if (key_from_base64(optarg, opt.server_key))
				die("--server-key is not a base64 public key");
			have_key = true;
			break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &opt.src0) != 1)
				die("--source must be an IPv4 address");
			have_src = true;
			break;
		case 'K': opt.n_src = (uint32_t)num(optarg, 1, LG_MAX_SOURCES); break;
		case 'h': opt.hold_s = (unsigned)num(optarg, 0, 600); break;
		case 'i': opt.interval_s = (unsigned)num(optarg, 1, 600); break;
		case 'd': opt.deadline_s = (unsigned)num(optarg, 1, 3600); break;
		case 'r': opt.rate = (unsigned)num(optarg, 1, 1000000); break;
		case 'R': opt.repeat = (unsigned)num(optarg, 1, 1000000); break;
		case 'C': opt.chain = (unsigned)num(optarg, 0, LG_MAX_CHAIN); break;
		case 'f': opt.first = (unsigned)num(optarg, 0, LG_MAX_CLIENTS); break;
		case 'o': opt.sessions = optarg; break;
		case 'T': opt.stealth = true; break;
		case 'P': opt.gw_pid = (long)num(optarg, 1, 4194304); break;
		case 'l':
			if (!(opt.assign_log = fopen(optarg, "a")))
				die("cannot open --assign-log");
			break;
		default: usage();
		}
	}
	if (!opt.count)
		usage();
	opt.first %= opt.count;
	if (!strcmp(cmd, "conf")) {
		for (uint32_t i = 0; i < opt.count; i++) {
			uint8_t priv[SL_KEY_LEN], pub[SL_KEY_LEN];
			char b64[SL_KEY_B64_LEN + 1];
			client_key(i, priv);
			if (key_public(priv, pub))
				die("key derivation failed");
			key_to_base64(pub, b64);
			printf("\n[Client]\nName = lg%u\nPublicKey = %s\n", i, b64);
		}
		return 0;
	}
	if (strcmp(cmd, "run") || !have_server || !have_key || !have_src)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, on_usr1);
	return run();
}
