/* stale: what a crashed client or gateway of an interface may have left, removed before a new start. A TUN
 * link vanishes with its process (and its address and routes with it) unless it was made persistent; the policy
 * rules and a client's unreachable IPv6 routes (a link below 1280 bytes) do not. */
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include "netcfg/netcfg.h"

static bool tun_persistent(const char *ifname)
{
	char path[128], buf[32] = "";
	FILE *f;
	unsigned long flags = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	f = fopen(path, "re");
	if (!f)
		return false; /* no such link, or not a TUN: nothing of ours */
	if (fgets(buf, sizeof(buf), f))
		flags = strtoul(buf, NULL, 16);
	fclose(f);
	return flags & IFF_PERSIST;
}

int netcfg_cleanup_stale(struct netcfg *nc, const char *ifname, struct sl_err *e)
{
	struct sl_ids ids;
	int ret;

	sl_ids_for(ifname, &ids);
	ret = rules_del(nc, &ids, e);
	{
		int r = route_flush_unreachable6(nc, ids.table, e); /* a crashed client's, below 1280 bytes */
		if (r && !ret)
			ret = r;
	}

	if (tun_persistent(ifname)) {
		int r = link_delete(nc, ifname, e);
		if (r && r != -ENODEV && !ret)
			ret = r;
	}
	return ret;
}
