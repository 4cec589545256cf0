/* netwatch: rtnetlink notifications through libnl-3's cache manager (daemon/netwatch.h). */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include "daemon/log.h"
#include "daemon/netwatch.h"

static int nl_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* Every change of any cache: only the debounce moves (the owner looks once the burst is over). */
static void on_change(struct nl_cache *cache, struct nl_object *obj, int action, void *arg)
{
	struct netwatch *nw = arg;

	(void)cache;
	(void)obj;
	(void)action;
	nw->events++;
	loop_timer_set(&nw->timer, debounce_event(&nw->db, now_ms()));
}

static void on_readable(struct loop_io *io, uint32_t events)
{
	struct netwatch *nw = (struct netwatch *)((char *)io - offsetof(struct netwatch, io));
	int ret;

	(void)events;
	ret = nl_cache_mngr_data_ready(nw->mngr);
	if (ret < 0) {
		/* most likely the socket's buffer overflowed (a storm of changes): what we hold may be stale, so
		 * refill and look again */
		nw->overflowed = true;
		nw->events++;
		loop_timer_set(&nw->timer, debounce_event(&nw->db, now_ms()));
	}
}

static void refill(struct netwatch *nw)
{
	struct nl_cache *caches[] = {nw->links, nw->addrs, nw->routes};

	for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
		if (caches[i])
			nl_cache_refill(nw->sync, caches[i]);
	nw->overflowed = false;
}

static void on_timer(struct loop_timer *t)
{
	struct netwatch *nw = (struct netwatch *)((char *)t - offsetof(struct netwatch, timer));

	if (!debounce_fire(&nw->db, now_ms())) {
		if (nw->db.due_ms)
			loop_timer_set(t, nw->db.due_ms);
		return;
	}
	if (nw->overflowed)
		refill(nw);
	nw->checks++;
	log_debug("network: %" PRIu64 " events, looking (%" PRIu64 " looks)", nw->events - nw->events_seen, nw->checks);
	nw->events_seen = nw->events;
	nw->settled(nw, nw->arg);
}

int netwatch_open(struct netwatch *nw, struct loop *loop, bool routes, netwatch_fn settled, void *arg,
		  struct sl_err *e)
{
	int ret, fd, rcvbuf = NETWATCH_RCVBUF;

	memset(nw, 0, sizeof(*nw));
	nw->io.fd = -1;
	nw->loop = loop;
	nw->settled = settled;
	nw->arg = arg;
	debounce_init(&nw->db, NETPATH_QUIET_MS, NETPATH_MAX_MS);
	loop_timer_init(loop, &nw->timer, on_timer);
	nw->sync = nl_socket_alloc();
	if (!nw->sync)
		return sl_errf(e, -ENOMEM, "network watch: out of memory");
	ret = nl_connect(nw->sync, NETLINK_ROUTE);
	if (ret < 0)
		return sl_errf(e, nl_errno(ret), "network watch: rtnetlink socket: %s", nl_geterror(ret));
	nw->events_sk = nl_socket_alloc();
	if (!nw->events_sk)
		return sl_errf(e, -ENOMEM, "network watch: out of memory");
	ret = nl_cache_mngr_alloc(nw->events_sk, NETLINK_ROUTE, 0, &nw->mngr);
	if (ret < 0)
		return sl_errf(e, nl_errno(ret), "network watch: cache manager: %s", nl_geterror(ret));
	/* libnl's default receive buffer (32 KiB) holds some 40 notifications: a burst of route changes would
	 * overflow it and cost a refill of every cache. Room for a few thousand (forced past rmem_max while we
	 * still hold CAP_NET_ADMIN; else as much as rmem_max allows) */
	fd = nl_socket_get_fd(nw->events_sk);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		nl_socket_set_buffer_size(nw->events_sk, rcvbuf, 0);
	ret = nl_cache_mngr_add(nw->mngr, "route/link", on_change, nw, &nw->links);
	if (ret >= 0)
		ret = nl_cache_mngr_add(nw->mngr, "route/addr", on_change, nw, &nw->addrs);
	if (ret >= 0 && routes)
		ret = nl_cache_mngr_add(nw->mngr, "route/route", on_change, nw, &nw->routes);
	if (ret < 0)
		return sl_errf(e, nl_errno(ret), "network watch: follow links, addresses%s: %s",
			       routes ? " and routes" : "", nl_geterror(ret));
	fd = nl_cache_mngr_get_fd(nw->mngr);
	ret = loop_add(loop, &nw->io, fd, EPOLLIN, on_readable);
	if (ret)
		return sl_errf(e, ret, "network watch: epoll: %s", strerror(-ret));
	return 0;
}

void netwatch_close(struct netwatch *nw)
{
	if (nw->loop) {
		if (nw->io.fd >= 0)
			loop_del(nw->loop, &nw->io);
		loop_timer_remove(nw->loop, &nw->timer);
	}
	nw->io.fd = -1;
	if (nw->mngr)
		nl_cache_mngr_free(nw->mngr); /* frees the caches it holds */
	if (nw->events_sk)
		nl_socket_free(nw->events_sk); /* ours, not the manager's: it was handed in */
	if (nw->sync)
		nl_socket_free(nw->sync);
	nw->events_sk = NULL;
	nw->mngr = NULL;
	nw->sync = NULL;
	nw->links = nw->addrs = nw->routes = NULL;
	nw->loop = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define NETWATCH_LINK_ADDRS 32

void netwatch_link(struct netwatch *nw, const char *ifname, struct netwatch_link *out)
{
	char text[NETWATCH_LINK_ADDRS][INET6_ADDRSTRLEN + 8], *sorted[NETWATCH_LINK_ADDRS];
	struct rtnl_link *l;
	size_t n = 0, len = 0;

	memset(out, 0, sizeof(*out));
	if (!nw->links || !(l = rtnl_link_get_by_name(nw->links, ifname)))
		return;
	out->ifindex = rtnl_link_get_ifindex(l);
	out->up = rtnl_link_get_flags(l) & IFF_UP;
	out->running = rtnl_link_get_flags(l) & IFF_RUNNING;
	out->mtu = rtnl_link_get_mtu(l);
	rtnl_link_put(l);
	for (struct nl_object *o = nl_cache_get_first(nw->addrs); o && n < NETWATCH_LINK_ADDRS;
	     o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		/* link-local addresses come and go with the link (IPv6): nothing NAT or a log reader cares about */
		if (rtnl_addr_get_ifindex(a) != out->ifindex || !local || rtnl_addr_get_scope(a) == RT_SCOPE_LINK)
			continue;
		nl_addr2str(local, text[n], sizeof(text[n]));
		sorted[n] = text[n];
		n++;
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp_str); /* the cache's order is the order of arrival */
	for (size_t i = 0; i < n && len < sizeof(out->addrs); i++)
		len += (size_t)snprintf(out->addrs + len, sizeof(out->addrs) - len, "%s%s", i ? "," : "", sorted[i]);
}
