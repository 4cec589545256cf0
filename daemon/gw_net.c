/* gw_net: the gateway follows its egress link (issue #24) through the network watch (daemon/netwatch.h),
 * once per burst of rtnetlink events. Nothing of the NAT table needs to change with it: masquerade takes the
 * source address from the link when a connection starts (the kernel drops the old address's mappings when it
 * goes), and the table names the link, not its index, so a link that is deleted and made again is matched as
 * soon as it exists. What changes is logged once, clearly: a missing egress stops the clients' traffic to the
 * outside (the tunnel itself and the sessions stay up), and its return resumes it. */
#include <string.h>
#include "daemon/gateway.h"

static const char *or_none(const char *s)
{
	return s[0] ? s : "none";
}

static void on_settled(struct netwatch *nw, void *arg)
{
	struct gw *g = arg;
	struct netwatch_link now, *was = &g->egress_link;
	bool up_now, up_was;

	netwatch_link(nw, g->egress, &now);
	up_now = now.up && now.running;
	up_was = was->up && was->running;
	if (now.ifindex == was->ifindex && up_now == up_was && now.mtu == was->mtu && !strcmp(now.addrs, was->addrs))
		return;
	g->path_changes++;
	if (!now.ifindex) {
		log_warn("egress %s: the link is gone; the clients' traffic to the outside stops until it returns "
			 "(sessions stay up)", g->egress);
	} else if (!was->ifindex) {
		log_info("egress %s: the link is back (index %d, %s, addresses %s); NAT and forwarding resume", g->egress,
			 now.ifindex, up_now ? "up" : "down", or_none(now.addrs));
	} else {
		if (up_now != up_was)
			log_info("egress %s: link %s", g->egress, up_now ? "up" : now.up ? "down (no carrier)" : "down");
		if (strcmp(now.addrs, was->addrs))
			log_info("egress %s: addresses now %s (were %s); masquerade follows by itself", g->egress,
				 or_none(now.addrs), or_none(was->addrs));
		if (now.mtu != was->mtu)
			log_info("egress %s: mtu %u (was %u); the tunnel MTU stays %u", g->egress, now.mtu, was->mtu,
				 g->cfg->mtu);
	}
	*was = now;
}

int gw_net_open(struct gw *g, struct sl_err *e)
{
	int ret = netwatch_open(&g->nw, &g->loop, false, on_settled, g, e);

	if (ret)
		return ret;
	g->nw_open = true;
	netwatch_link(&g->nw, g->egress, &g->egress_link);
	if (!g->egress_link.ifindex)
		log_warn("egress %s: no such link yet; the clients' traffic to the outside waits for it", g->egress);
	return 0;
}

void gw_net_close(struct gw *g)
{
	if (g->nw_open)
		netwatch_close(&g->nw);
	g->nw_open = false;
}
