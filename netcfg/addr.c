/* addr: IPv4 and IPv6 addresses of a link. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include "netcfg/nl.h"

static int addr_msg(struct netcfg *nc, uint16_t type, uint16_t flags, int ifindex, int family, const void *addr,
		    uint8_t plen, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], a[INET6_ADDRSTRLEN], name[IFNAMSIZ];
	size_t alen = family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
	struct nlmsghdr *nlh = nl_msg(nc, buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	int ret;

	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, alen, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, addr);
	if (family == AF_INET6 && type == RTM_NEWADDR) /* a tunnel has no neighbours to probe */
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret) {
		inet_ntop(family, addr, a, sizeof(a));
		if (!if_indextoname((unsigned)ifindex, name))
			snprintf(name, sizeof(name), "#%d", ifindex);
		return sl_errf(e, ret, "%s address %s/%u %s %s: %s", type == RTM_NEWADDR ? "add" : "delete", a,
			       plen, type == RTM_NEWADDR ? "to" : "from", name, nl_why(ret, ext, why, sizeof(why)));
	}
	return 0;
}

int addr_add4(struct netcfg *nc, int ifindex, struct in_addr addr, uint8_t plen, struct sl_err *e)
{
	return addr_msg(nc, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, AF_INET, &addr, plen, e);
}

int addr_del4(struct netcfg *nc, int ifindex, struct in_addr addr, uint8_t plen, struct sl_err *e)
{
	return addr_msg(nc, RTM_DELADDR, 0, ifindex, AF_INET, &addr, plen, e);
}

int addr_add6(struct netcfg *nc, int ifindex, const struct in6_addr *addr, uint8_t plen, struct sl_err *e)
{
	return addr_msg(nc, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, AF_INET6, addr, plen, e);
}

int addr_del6(struct netcfg *nc, int ifindex, const struct in6_addr *addr, uint8_t plen, struct sl_err *e)
{
	return addr_msg(nc, RTM_DELADDR, 0, ifindex, AF_INET6, addr, plen, e);
}
