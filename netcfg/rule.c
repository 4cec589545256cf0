/* rule: the client's two IPv4 policy rules (wg-quick style), one rule per DNS server in a full tunnel, and the
 * clean-up of stale ones. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include "netcfg/nl.h"

#define RULES_DEL_MAX 16 /* more leftovers than this at one priority would not be ours */

static struct nlmsghdr *rule_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, uint32_t prio)
{
	struct nlmsghdr *nlh = nl_msg(nc, buf, type, flags);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = AF_INET;
	frh->action = type == RTM_NEWRULE ? FR_ACT_TO_TBL : FR_ACT_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, prio);
	return nlh;
}

/* not fwmark SL_FWMARK lookup SL_ROUTE_TABLE */
static int rule_add_tunnel(struct netcfg *nc, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320];
	struct nlmsghdr *nlh = rule_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, SL_RULE_PRIO_TUNNEL);
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	int ret;

	frh->flags = FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_FWMARK, SL_FWMARK);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, SL_ROUTE_TABLE);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "add rule %u: not fwmark %u lookup %u: %s", SL_RULE_PRIO_TUNNEL, SL_FWMARK,
			       SL_ROUTE_TABLE, nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

/* lookup main suppress_prefixlength 0: the main table's more specific routes (the LAN) still win */
static int rule_add_suppress(struct netcfg *nc, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320];
	struct nlmsghdr *nlh = rule_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, SL_RULE_PRIO_SUPPRESS);
	int ret;

	mnl_attr_put_u32(nlh, FRA_TABLE, RT_TABLE_MAIN);
	mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "add rule %u: lookup main suppress_prefixlength 0: %s",
			       SL_RULE_PRIO_SUPPRESS, nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

/* to SERVER lookup SL_ROUTE_TABLE. A rule's "not" inverts its whole selector, so "to SERVER not fwmark" would
 * send everything that is not a marked packet to SERVER into the tunnel — the daemon's own datagrams to its
 * gateway included. The daemon's packets skip these rules by the one before them (SL_RULE_PRIO_MARKED). */
static struct nlmsghdr *dns_rule_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags,
				     struct in_addr server)
{
	struct nlmsghdr *nlh = rule_msg(nc, buf, type, flags, SL_RULE_PRIO_DNS);
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);

	frh->dst_len = 32;
	mnl_attr_put(nlh, FRA_DST, sizeof(server), &server);
	if (type == RTM_NEWRULE)
		mnl_attr_put_u32(nlh, FRA_TABLE, SL_ROUTE_TABLE);
	return nlh;
}

/* fwmark SL_FWMARK lookup main: the daemon's own sockets never enter the tunnel through a DNS rule */
static int rule_add_marked(struct netcfg *nc, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320];
	struct nlmsghdr *nlh = rule_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, SL_RULE_PRIO_MARKED);
	int ret;

	mnl_attr_put_u32(nlh, FRA_FWMARK, SL_FWMARK);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, RT_TABLE_MAIN);
	ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "add rule %u: fwmark %u lookup main: %s", SL_RULE_PRIO_MARKED, SL_FWMARK,
			       nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

int rule_add_dns4(struct netcfg *nc, struct in_addr server, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], a[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = dns_rule_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, server);
	int ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));

	if (ret)
		return sl_errf(e, ret, "add rule %u: to %s lookup %u: %s", SL_RULE_PRIO_DNS,
			       inet_ntop(AF_INET, &server, a, sizeof(a)), SL_ROUTE_TABLE,
			       nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

int rule_del_dns4(struct netcfg *nc, struct in_addr server, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320], a[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = dns_rule_msg(nc, buf, RTM_DELRULE, 0, server);
	int ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));

	if (ret && ret != -ENOENT)
		return sl_errf(e, ret, "delete rule %u: to %s: %s", SL_RULE_PRIO_DNS,
			       inet_ntop(AF_INET, &server, a, sizeof(a)), nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

static int rules_del_prio(struct netcfg *nc, uint32_t prio, struct sl_err *e)
{
	for (int i = 0; i < RULES_DEL_MAX; i++) {
		char buf[NL_BUF_SIZE], ext[256], why[320];
		struct nlmsghdr *nlh = rule_msg(nc, buf, RTM_DELRULE, 0, prio);
		int ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));
		if (ret == -ENOENT)
			return 0;
		if (ret)
			return sl_errf(e, ret, "delete rule %u: %s", prio, nl_why(ret, ext, why, sizeof(why)));
	}
	return 0;
}

int rules_del(struct netcfg *nc, struct sl_err *e)
{
	int rm = rules_del_prio(nc, SL_RULE_PRIO_MARKED, e);
	int r0 = rules_del_prio(nc, SL_RULE_PRIO_DNS, e);
	int r1 = rules_del_prio(nc, SL_RULE_PRIO_SUPPRESS, e);
	int r2 = rules_del_prio(nc, SL_RULE_PRIO_TUNNEL, e);
	return rm ? rm : r0 ? r0 : r1 ? r1 : r2;
}

int rules_add(struct netcfg *nc, bool full_tunnel, struct sl_err *e)
{
	struct sl_err ignore;
	int ret = rule_add_tunnel(nc, e);

	if (ret || !full_tunnel)
		return ret;
	ret = rule_add_marked(nc, e);
	if (!ret)
		ret = rule_add_suppress(nc, e);
	if (ret) { /* all or none */
		rules_del_prio(nc, SL_RULE_PRIO_MARKED, &ignore);
		rules_del_prio(nc, SL_RULE_PRIO_TUNNEL, &ignore);
	}
	return ret;
}
