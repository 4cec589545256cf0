/* client: client-mode start-up (kill switch -> TUN -> UDP -> supervisor), the snapshot swap with its host
 * configuration (address, routes, policy rules, DNS — applied once, rolled back on failure), the keepalive and
 * liveness timers, and reverse-order teardown. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/client.h"
#include "daemon/privs.h"
#include "daemon/control/tls.h"
#include "daemon/dplink.h"
#include "daemon/sockets.h"
#include "daemon/status.h"
#include "kill-switch/killswitch.h"

static bool accept_server_key(void *arg, const uint8_t key[SL_KEY_LEN])
{
	struct cl *c = arg;
	return !memcmp(key, c->cfg->server_pubkey, SL_KEY_LEN);
}

void cl_snap_free(struct cl_snap *s)
{
	if (!s)
		return;
	keystate_free(&s->ks);
	free(s);
}

static int apply_routes(struct cl *c, struct sl_err *e)
{
	struct sl_config *cfg = c->cfg;
	unsigned i;
	int ret = 0;

	for (i = 0; i < cfg->n_routes && !ret; i++)
		ret = route_add4(&c->nc, c->ifindex, cfg->routes[i].addr, cfg->routes[i].len, SL_ROUTE_TABLE, e);
	if (!ret)
		ret = rules_add(&c->nc, config_full_tunnel(cfg), e);
	if (ret) {
		struct sl_err ignore;
		while (i-- > 0)
			route_del4(&c->nc, c->ifindex, cfg->routes[i].addr, cfg->routes[i].len, SL_ROUTE_TABLE,
				   &ignore);
	}
	return ret;
}

/* Host configuration for a session: done once; again only for what changed (it should not: addresses are
 * stable per client). */
static int apply_host(struct cl *c, const struct cl_snap *snap, struct sl_err *e)
{
	int ret;

	if (snap->s.mtu != c->link_mtu) {
		ret = link_set_mtu_up(&c->nc, c->ifindex, snap->s.mtu, e);
		if (ret)
			return ret;
		c->link_mtu = snap->s.mtu;
	}
	if (!c->addr_applied || c->applied_addr.s_addr != snap->s.addr.s_addr ||
	    c->applied_plen != snap->s.plen) {
		struct sl_err ignore;
		if (c->addr_applied)
			addr_del4(&c->nc, c->ifindex, c->applied_addr, c->applied_plen, &ignore);
		c->addr_applied = false;
		ret = addr_add4(&c->nc, c->ifindex, snap->s.addr, snap->s.plen, e);
		if (ret)
			return ret;
		c->addr_applied = true;
		c->applied_addr = snap->s.addr;
		c->applied_plen = snap->s.plen;
	}
	if (!c->rules_applied) {
		ret = apply_routes(c, e);
		if (ret)
			return ret;
		c->rules_applied = true;
	}
	if (!c->dns_applied && snap->s.n_dns) {
		ret = dns_apply(c->cfg->ifname, snap->s.dns, snap->s.n_dns, e);
		if (ret)
			return ret;
		c->dns_applied = true;
	}
	return 0;
}

int cl_install(struct cl *c, struct cl_snap *snap)
{
	struct sl_err e = {{0}};
	struct cl_snap *old;
	uint64_t now = now_ms();
	char ip[INET_ADDRSTRLEN];
	int ret;

	old = atomic_exchange_explicit(&c->cur, snap, memory_order_acq_rel);
	if (old) {
		/* single data-plane thread: no reader can still hold `prev` once we are here */
		cl_snap_free(c->prev);
		c->prev = old;
		c->prev_until_ms = now + SL_CL_GRACE_MS;
		loop_timer_set(&c->grace_timer, c->prev_until_ms);
	}
	inet_ntop(AF_INET, &snap->s.addr, ip, sizeof(ip));
	if (!c->sup.ever_up || !old)
		log_info("session %08x up: address %s/%u, mtu %u", snap->s.session_id, ip, snap->s.plen,
			 snap->s.mtu);
	else
		log_debug("rekeyed: session %08x", snap->s.session_id);
	c->sup.ever_up = true;
	ret = apply_host(c, snap, &e);
	if (ret)
		log_err("netcfg: %s", e.msg);
	cl_send_keepalive(c, now); /* tells the gateway our endpoint at once */
	return ret;
}

static void on_keepalive(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, ka_timer));
	uint64_t now = now_ms(), ka = (uint64_t)c->cfg->keepalive * 1000u;

	if (atomic_load(&c->cur) && now - c->last_tx_ms >= ka)
		cl_send_keepalive(c, now);
	loop_timer_set(t, (c->last_tx_ms > now - ka ? c->last_tx_ms : now) + ka);
}

/* Data went out and nothing authenticated came back for SL_REPLY_TIMEOUT_MS while traffic still flows: ask
 * the supervisor to check the session now rather than at the next ping. */
static void on_probe(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, probe_timer));
	uint64_t now = now_ms();

	if (!c->unanswered_since_ms || now - c->last_data_tx_ms >= SL_REPLY_TIMEOUT_MS)
		return; /* answered, or no traffic waiting: the next data packet re-arms us */
	if (now - c->unanswered_since_ms < SL_REPLY_TIMEOUT_MS) {
		loop_timer_set(t, c->unanswered_since_ms + SL_REPLY_TIMEOUT_MS);
		return;
	}
	sup_kick(c);
	loop_timer_set(t, now + SL_KICK_MIN_MS);
}

static void on_grace(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, grace_timer));

	if (c->prev && now_ms() >= c->prev_until_ms) {
		cl_snap_free(c->prev);
		c->prev = NULL;
	} else if (c->prev) {
		loop_timer_set(t, c->prev_until_ms);
	}
}

static void on_stats(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, stats_timer));

	status_log_line(&c->st, &c->stats_last_sum);
	loop_timer_set(t, now_ms() + (uint64_t)c->cfg->stats_interval * 1000u);
}

static void dump(void *arg, struct strbuf *out)
{
	status_dump_client(arg, out);
}

static int cl_setup(struct cl *c, struct sl_err *e)
{
	struct sl_config *cfg = c->cfg;
	int fd, ret;

	/* first: refuses to start if a live daemon already runs this interface */
	ret = ctlsock_open(&c->cs, &c->loop, cfg->ifname, dump, c, e);
	if (ret)
		return ret;
	c->cs_open = true;
	ret = config_resolve_endpoint(cfg, &c->ep, &c->ep_len, e);
	if (ret)
		return ret;
	if (cfg->killswitch) {
		struct ks_spec ks = {.fwmark = SL_FWMARK, .allow_lan = cfg->killswitch_allow_lan};
		snprintf(ks.tun_ifname, sizeof(ks.tun_ifname), "%s", cfg->ifname);
		memcpy(&ks.endpoint, &c->ep, c->ep_len);
		ret = ks_apply(&ks, e); /* before the TUN or any route exists; it outlives us on purpose */
		if (ret)
			return ret;
	}
	ret = netcfg_open(&c->nc, e);
	if (ret)
		return ret;
	netcfg_cleanup_stale(&c->nc, cfg->ifname, e);
	dns_restore(cfg->ifname, e); /* a crashed run's resolv.conf */
	c->tls = tls_ctx_new(false, cfg->private_key, accept_server_key, c, e);
	if (!c->tls)
		return -EINVAL;
	c->ifindex = dp_link_open(cfg->ifname, &c->rx, &c->tx, &c->tun_io, &c->t, e);
	if (c->ifindex < 0)
		return c->ifindex;
	ret = link_set_mtu_up(&c->nc, c->ifindex, cfg->mtu, e);
	if (ret)
		return ret;
	c->link_mtu = cfg->mtu;

	/* unconnected: the endpoint may be re-resolved later; SO_MARK lets it bypass our own routes */
	{
		struct sockaddr_storage any = {.ss_family = c->ep.ss_family};
		fd = sock_udp_listen(&any, c->ep_len, e);
		if (fd < 0)
			return fd;
		c->udp_io.fd = fd;
		uint32_t mark = SL_FWMARK;
		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
			return sl_errf(e, -errno, "set fwmark %u on the udp socket: %s", mark, strerror(errno));
		if (dp_udp_init(&c->u, fd))
			return sl_errf(e, -ENOMEM, "udp: out of memory for receive buffers");
	}
	if ((ret = loop_add(&c->loop, &c->tun_io, c->tun_io.fd, EPOLLIN, cl_on_tun)) ||
	    (ret = loop_add(&c->loop, &c->udp_io, c->udp_io.fd, EPOLLIN, cl_on_udp)))
		return sl_errf(e, ret, "epoll: %s", strerror(-ret));
	loop_timer_init(&c->loop, &c->ka_timer, on_keepalive);
	loop_timer_init(&c->loop, &c->probe_timer, on_probe);
	loop_timer_init(&c->loop, &c->grace_timer, on_grace);
	loop_timer_init(&c->loop, &c->stats_timer, on_stats);
	loop_timer_set(&c->ka_timer, now_ms() + (uint64_t)cfg->keepalive * 1000u);
	if (cfg->stats_interval)
		loop_timer_set(&c->stats_timer, now_ms() + (uint64_t)cfg->stats_interval * 1000u);
	sup_init(c);
	return 0;
}

static void cl_teardown(struct cl *c)
{
	struct sl_err e = {{0}};

	sup_close(c);
	if (c->cs_open)
		ctlsock_close(&c->cs);
	if (c->dns_applied && dns_restore(c->cfg->ifname, &e))
		log_err("dns: %s", e.msg);
	if (c->rules_applied && rules_del(&c->nc, &e))
		log_err("netcfg: %s", e.msg);
	if (c->udp_io.fd > 0)
		close(c->udp_io.fd);
	if (c->tun_io.fd > 0)
		close(c->tun_io.fd); /* the link, its address and its routes go with it */
	cl_snap_free(atomic_exchange(&c->cur, NULL));
	cl_snap_free(c->prev);
	dp_udp_free(&c->u);
	dp_tun_free(&c->t);
	free(c->tx);
	free(c->rx);
	tls_ctx_free(c->tls);
	netcfg_close(&c->nc);
	loop_close(&c->loop);
}

int cl_run(struct sl_config *cfg, void (*ready)(void))
{
	struct cl *c = calloc(1, sizeof(*c));
	struct sl_err e = {{0}};
	char a[64];
	int ret;

	if (!c) {
		log_err("out of memory");
		return 1;
	}
	c->cfg = cfg;
	c->tun_io.fd = c->udp_io.fd = -1;
	ret = loop_init(&c->loop);
	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		free(c);
		return 1;
	}
	ret = cl_setup(c, &e);
	if (ret) {
		log_err("%s", e.msg[0] ? e.msg : strerror(-ret));
		cl_teardown(c);
		free(c);
		return 1;
	}
	if (privs_drop(false, false, 0, 0, &e))
		log_warn("least privilege: %s (continuing with the capabilities we have)", e.msg);
	log_info("client %s up: server %s%s", cfg->ifname, sock_addr_str(&c->ep, a, sizeof(a)),
		 cfg->killswitch ? ", kill switch on" : "");
	if (ready)
		ready();
	while (!c->loop.got_term) {
		ret = loop_once(&c->loop);
		if (ret) {
			log_err("event loop: %s", strerror(-ret));
			break;
		}
		c->loop.got_hup = false; /* nothing to reload on a client */
		if (c->loop.got_usr1) {
			c->loop.got_usr1 = false;
			log_info("SIGUSR1: re-authenticating now");
			sup_rekey(c);
		}
	}
	log_info("client %s: shutting down", cfg->ifname);
	cl_teardown(c);
	free(c);
	return ret ? 1 : 0;
}
