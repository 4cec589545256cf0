/* mtu: deriving the tunnel MTU from the underlay (daemon/mtu.h). */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include "daemon/dataplane/wire.h"
#include "daemon/mtu.h"

const char *mtu_source_name(enum mtu_source s)
{
	switch (s) {
	case MTU_SRC_CONFIG:
		return "config";
	case MTU_SRC_ROUTE:
		return "route";
	case MTU_SRC_EGRESS:
		return "egress";
	default:
		return "default";
	}
}

unsigned mtu_from_underlay(unsigned underlay)
{
	if (underlay < SLUICE_MTU_MIN + SLUICE_UNDERLAY_OVERHEAD)
		return SLUICE_MTU_MIN; /* a path this narrow fragments: better than no tunnel */
	if (underlay - SLUICE_UNDERLAY_OVERHEAD > SLUICE_MTU_MAX)
		return SLUICE_MTU_MAX;
	return underlay - SLUICE_UNDERLAY_OVERHEAD;
}

unsigned mtu_effective(unsigned pushed, unsigned own)
{
	return pushed && pushed < own ? pushed : own;
}

int mtu_underlay_to(struct netcfg *nc, const struct sockaddr_storage *ep, uint32_t mark, unsigned *underlay,
		    char *ifname, struct sl_err *e)
{
	unsigned route_mtu = 0, link_mtu = 0;
	int oif, ret;

	ret = route_get(nc, ep, mark, &oif, &route_mtu, e);
	if (ret)
		return ret;
	if (ifname && !if_indextoname((unsigned)oif, ifname))
		snprintf(ifname, IFNAMSIZ, "#%d", oif);
	ret = link_get_mtu(nc, oif, ep->ss_family, &link_mtu, e);
	if (ret)
		return ret;
	/* a route's mtu (or a learned path MTU) only ever narrows what the link carries */
	*underlay = route_mtu && route_mtu < link_mtu ? route_mtu : link_mtu;
	return 0;
}

int mtu_underlay_link(struct netcfg *nc, const char *ifname, unsigned *underlay, struct sl_err *e)
{
	int idx = link_index(ifname);

	if (idx < 0)
		return sl_errf(e, idx, "read mtu of %s: no such link", ifname);
	return link_get_mtu(nc, idx, AF_INET, underlay, e);
}
