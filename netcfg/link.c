/* link: index lookup, MTU + up, delete. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include "netcfg/nl.h"

int link_index(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	return idx ? (int)idx : -ENODEV;
}

static const char *link_name(int ifindex, char *buf)
{
	if (!if_indextoname((unsigned)ifindex, buf))
		snprintf(buf, IFNAMSIZ, "#%d", ifindex);
	return buf;
}

int link_set_mtu_up(struct netcfg *nc, int ifindex, unsigned mtu, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], name[IFNAMSIZ];
	struct nlmsghdr *nlh = nl_msg(nc, buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	int ret;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "set mtu %u and up on %s: %s", mtu, link_name(ifindex, name),
			       nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

int link_delete(struct netcfg *nc, const char *ifname, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320];
	struct nlmsghdr *nlh = nl_msg(nc, buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	int ret;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret == -ENODEV)
		return ret;
	if (ret)
		return sl_errf(e, ret, "delete link %s: %s", ifname, nl_why(ret, ext, why, sizeof(why)));
	return 0;
}
