/* link: index lookup, MTU + up, MTU read, delete. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/ipv6.h>
#include <netinet/in.h>
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
	mnl_attr_put_u32(nlh, IFLA_GROUP, SL_LINK_GROUP); /* what the kill switch accepts (netcfg.h) */
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "set mtu %u, group and up on %s: %s", mtu, link_name(ifindex, name),
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

struct link_mtu {
	uint32_t mtu, mtu6; /* IFLA_MTU; the link's IPv6 MTU (a router advertisement may have lowered it) */
};

static int inet6_cb(const struct nlattr *attr, void *data)
{
	struct link_mtu *m = data;
	const int32_t *conf;

	if (mnl_attr_get_type(attr) != IFLA_INET6_CONF ||
	    mnl_attr_get_payload_len(attr) < (DEVCONF_MTU6 + 1) * sizeof(int32_t))
		return MNL_CB_OK;
	conf = mnl_attr_get_payload(attr);
	if (conf[DEVCONF_MTU6] > 0)
		m->mtu6 = (uint32_t)conf[DEVCONF_MTU6];
	return MNL_CB_OK;
}

static int af_spec_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == AF_INET6)
		mnl_attr_parse_nested(attr, inet6_cb, data);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_mtu *m = data;
	const struct nlattr *attr;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(attr) == IFLA_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			m->mtu = mnl_attr_get_u32(attr);
		else if (mnl_attr_get_type(attr) == IFLA_AF_SPEC)
			mnl_attr_parse_nested(attr, af_spec_cb, m);
	}
	return MNL_CB_OK;
}

int link_get_mtu(struct netcfg *nc, int ifindex, int family, unsigned *mtu, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], name[IFNAMSIZ];
	struct nlmsghdr *nlh = nl_msg(nc, buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct link_mtu m = {0};
	int ret;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ret = nl_talk(nc, nlh, link_cb, &m, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "read mtu of %s: %s", link_name(ifindex, name), nl_why(ret, ext, why, sizeof(why)));
	if (!m.mtu)
		return sl_errf(e, -EPROTO, "read mtu of %s: no IFLA_MTU in the answer", link_name(ifindex, name));
	*mtu = family == AF_INET6 && m.mtu6 && m.mtu6 < m.mtu ? m.mtu6 : m.mtu;
	return 0;
}
