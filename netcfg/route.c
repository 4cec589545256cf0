/* route: IPv4 and IPv6 unicast routes through a link in a table; the default route's interface; the route the kernel
 * picks to a destination (either family) and its MTU. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include "netcfg/nl.h"

static int route_msg(struct netcfg *nc, uint16_t type, uint16_t flags, int ifindex, int family, const void *dst,
		     uint8_t plen, uint32_t table, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], a[INET6_ADDRSTRLEN], name[IFNAMSIZ];
	size_t alen = family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
	struct nlmsghdr *nlh = nl_msg(nc, buf, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	int ret;

	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = plen;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (plen)
		mnl_attr_put(nlh, RTA_DST, alen, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret) {
		inet_ntop(family, dst, a, sizeof(a));
		if (!if_indextoname((unsigned)ifindex, name))
			snprintf(name, sizeof(name), "#%d", ifindex);
		return sl_errf(e, ret, "%s route %s/%u dev %s table %u: %s", type == RTM_NEWROUTE ? "add" : "delete",
			       a, plen, name, table, nl_why(ret, ext, why, sizeof(why)));
	}
	return 0;
}

int route_add4(struct netcfg *nc, int ifindex, struct in_addr dst, uint8_t plen, uint32_t table,
	       struct sl_err *e)
{
	return route_msg(nc, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, AF_INET, &dst, plen, table, e);
}

int route_del4(struct netcfg *nc, int ifindex, struct in_addr dst, uint8_t plen, uint32_t table,
	       struct sl_err *e)
{
	return route_msg(nc, RTM_DELROUTE, 0, ifindex, AF_INET, &dst, plen, table, e);
}

int route_add6(struct netcfg *nc, int ifindex, const struct in6_addr *dst, uint8_t plen, uint32_t table,
	       struct sl_err *e)
{
	return route_msg(nc, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, AF_INET6, dst, plen, table, e);
}

int route_del6(struct netcfg *nc, int ifindex, const struct in6_addr *dst, uint8_t plen, uint32_t table,
	       struct sl_err *e)
{
	return route_msg(nc, RTM_DELROUTE, 0, ifindex, AF_INET6, dst, plen, table, e);
}

struct route_walk {
	uint32_t table;      /* routes of this table */
	bool default_only;   /* only 0.0.0.0/0 */
	uint32_t oif;        /* found: first match's interface */
	uint32_t metric;
	bool found;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
		return MNL_CB_OK; /* unknown attributes are skipped */
	if ((type == RTA_TABLE || type == RTA_OIF || type == RTA_PRIORITY) &&
	    mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_walk *w = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	uint32_t table, metric;

	if (rtm->rtm_family != AF_INET || rtm->rtm_type != RTN_UNICAST)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, tb);
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != w->table || (w->default_only && rtm->rtm_dst_len != 0))
		return MNL_CB_OK;
	metric = tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
	if (tb[RTA_OIF] && (!w->found || metric < w->metric)) {
		w->oif = mnl_attr_get_u32(tb[RTA_OIF]);
		w->metric = metric;
		w->found = true;
	}
	return MNL_CB_OK;
}

int route_default_ifname(struct netcfg *nc, char *ifname, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320];
	struct nlmsghdr *nlh = nl_msg(nc, buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct route_walk w = {.table = RT_TABLE_MAIN, .default_only = true};
	int ret;

	rtm->rtm_family = AF_INET;
	ret = nl_talk(nc, nlh, route_cb, &w, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "list routes: %s", nl_why(ret, ext, why, sizeof(why)));
	if (!w.found || !if_indextoname(w.oif, ifname))
		return sl_errf(e, -ENOENT, "no IPv4 default route in the main table");
	return 0;
}

struct route_get {
	struct route_path *p;
};

static int metrics_cb(const struct nlattr *attr, void *data)
{
	struct route_get *g = data;

	if (mnl_attr_get_type(attr) == RTAX_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
		g->p->mtu = mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

/* An address attribute of the reply's family into out (16 bytes); false when it has another length. */
static bool route_addr(const struct nlattr *a, int family, uint8_t *out)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (!a || mnl_attr_get_payload_len(a) != len)
		return false;
	memcpy(out, mnl_attr_get_payload(a), len);
	return true;
}

static int route_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_get *g = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {0};

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, tb);
	if (tb[RTA_OIF])
		g->p->oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	if (tb[RTA_METRICS])
		mnl_attr_parse_nested(tb[RTA_METRICS], metrics_cb, g);
	g->p->have_src = route_addr(tb[RTA_PREFSRC], g->p->family, g->p->src);
	g->p->have_gw = route_addr(tb[RTA_GATEWAY], g->p->family, g->p->gw);
	return MNL_CB_OK;
}

int route_get_path(struct netcfg *nc, const struct sockaddr_storage *dst, uint32_t mark, struct route_path *p,
		   struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], a[INET6_ADDRSTRLEN] = "?";
	struct nlmsghdr *nlh = nl_msg(nc, buf, RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct route_get g = {.p = p};
	const void *addr;
	int ret;

	memset(p, 0, sizeof(*p));
	if (dst->ss_family == AF_INET) {
		addr = &((const struct sockaddr_in *)dst)->sin_addr;
		mnl_attr_put(nlh, RTA_DST, 4, addr);
		rtm->rtm_dst_len = 32;
	} else if (dst->ss_family == AF_INET6) {
		addr = &((const struct sockaddr_in6 *)dst)->sin6_addr;
		mnl_attr_put(nlh, RTA_DST, 16, addr);
		rtm->rtm_dst_len = 128;
	} else {
		return sl_errf(e, -EAFNOSUPPORT, "route lookup: not an IPv4 or IPv6 address");
	}
	p->family = dst->ss_family;
	rtm->rtm_family = (unsigned char)dst->ss_family;
	inet_ntop(dst->ss_family, addr, a, sizeof(a));
	if (mark)
		mnl_attr_put_u32(nlh, RTA_MARK, mark);
	ret = nl_talk(nc, nlh, route_get_cb, &g, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "route to %s: %s", a, nl_why(ret, ext, why, sizeof(why)));
	if (!p->oif)
		return sl_errf(e, -ENETUNREACH, "route to %s: no outgoing interface", a);
	return 0;
}

int route_get(struct netcfg *nc, const struct sockaddr_storage *dst, uint32_t mark, int *oif, unsigned *mtu,
	      struct sl_err *e)
{
	struct route_path p;
	int ret = route_get_path(nc, dst, mark, &p, e);

	if (ret)
		return ret;
	*oif = p.oif;
	*mtu = p.mtu;
	return 0;
}
