/* rule: the client's policy rules of both families (wg-quick style) at its interface's own priorities
 * (netcfg.h: sl_ids),
 * one rule per DNS server in a full tunnel, the detection of a co-located tunnel whose name hashes alike, and
 * the clean-up of our own stale rules — only ours: every delete names our priority AND our table or mark. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include "netcfg/nl.h"

#define RULES_DEL_MAX 64 /* DNS rules of a full tunnel share a priority */

static struct nlmsghdr *rule_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, int family,
				 uint32_t prio)
{
	struct nlmsghdr *nlh = nl_msg(nc, buf, type, flags);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = (uint8_t)family;
	frh->action = type == RTM_NEWRULE ? FR_ACT_TO_TBL : FR_ACT_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, prio);
	return nlh;
}

/* Each rule's whole identity; a delete built from it matches only this rule (the kernel compares every
 * attribute the request carries), never a co-located tunnel's. */
static struct nlmsghdr *tunnel_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, int family,
				   const struct sl_ids *ids)
{
	/* not fwmark SL_MARK_BASE/SL_MARK_MASK lookup TABLE: the sockets of EVERY sluice daemon of the host skip
	 * our table — another tunnel's datagrams never enter ours */
	struct nlmsghdr *nlh = rule_msg(nc, buf, type, flags, family, ids->prio + SL_RULE_TUNNEL);
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);

	frh->flags = FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_FWMARK, SL_MARK_BASE);
	mnl_attr_put_u32(nlh, FRA_FWMASK, SL_MARK_MASK);
	mnl_attr_put_u32(nlh, FRA_TABLE, ids->table);
	return nlh;
}

/* fwmark MARK lookup main: the daemon's own sockets never enter the tunnel through a DNS rule */
static struct nlmsghdr *marked_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, int family,
				   const struct sl_ids *ids)
{
	struct nlmsghdr *nlh = rule_msg(nc, buf, type, flags, family, ids->prio + SL_RULE_MARKED);

	mnl_attr_put_u32(nlh, FRA_FWMARK, ids->mark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, RT_TABLE_MAIN);
	return nlh;
}

/* not fwmark MARK lookup main suppress_prefixlength 0: the main table's more specific routes (the LAN) still
 * win. The selector only names the rule as ours (our marked packets took the rule before it already). */
static struct nlmsghdr *suppress_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, int family,
				     const struct sl_ids *ids)
{
	struct nlmsghdr *nlh = rule_msg(nc, buf, type, flags, family, ids->prio + SL_RULE_SUPPRESS);
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);

	frh->flags = FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_FWMARK, ids->mark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, RT_TABLE_MAIN);
	if (type == RTM_NEWRULE)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	return nlh;
}

/* to SERVER lookup TABLE (server NULL: any of ours, for the clean-up). A rule's "not" inverts its whole
 * selector, so "to SERVER not fwmark" would send everything that is not a marked packet to SERVER into the
 * tunnel — the daemon's own datagrams to its gateway included. The daemon's packets skip these rules by the one
 * before them (SL_RULE_MARKED). */
static struct nlmsghdr *dns_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, int family,
				const struct sl_ids *ids, const void *server)
{
	struct nlmsghdr *nlh = rule_msg(nc, buf, type, flags, family, ids->prio + SL_RULE_DNS);
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);

	if (server) {
		frh->dst_len = family == AF_INET6 ? 128 : 32;
		mnl_attr_put(nlh, FRA_DST, frh->dst_len / 8u, server);
	}
	mnl_attr_put_u32(nlh, FRA_TABLE, ids->table);
	return nlh;
}

static int rule_talk(struct netcfg *nc, struct nlmsghdr *nlh, const char *what, uint32_t prio, struct sl_err *e)
{
	char ext[256], why[320];
	int ret = nl_talk(nc, nlh, NULL, NULL, ext, sizeof(ext));

	if (ret)
		return sl_errf(e, ret, "%s rule %u: %s: %s",
			       nlh->nlmsg_type == RTM_NEWRULE ? "add" : "delete", prio, what,
			       nl_why(ret, ext, why, sizeof(why)));
	return 0;
}

static int dns_add(struct netcfg *nc, const struct sl_ids *ids, int family, const void *server, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], what[96], a[INET6_ADDRSTRLEN];

	snprintf(what, sizeof(what), "to %s lookup %u", inet_ntop(family, server, a, sizeof(a)), ids->table);
	return rule_talk(nc, dns_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, ids, server), what,
			 ids->prio + SL_RULE_DNS, e);
}

static int dns_del(struct netcfg *nc, const struct sl_ids *ids, int family, const void *server, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], what[96], a[INET6_ADDRSTRLEN];
	int ret;

	snprintf(what, sizeof(what), "to %s", inet_ntop(family, server, a, sizeof(a)));
	ret = rule_talk(nc, dns_msg(nc, buf, RTM_DELRULE, 0, family, ids, server), what, ids->prio + SL_RULE_DNS, e);
	return ret == -ENOENT ? 0 : ret;
}

int rule_add_dns4(struct netcfg *nc, const struct sl_ids *ids, struct in_addr server, struct sl_err *e)
{
	return dns_add(nc, ids, AF_INET, &server, e);
}

int rule_del_dns4(struct netcfg *nc, const struct sl_ids *ids, struct in_addr server, struct sl_err *e)
{
	return dns_del(nc, ids, AF_INET, &server, e);
}

int rule_add_dns6(struct netcfg *nc, const struct sl_ids *ids, const struct in6_addr *server, struct sl_err *e)
{
	return dns_add(nc, ids, AF_INET6, server, e);
}

int rule_del_dns6(struct netcfg *nc, const struct sl_ids *ids, const struct in6_addr *server, struct sl_err *e)
{
	return dns_del(nc, ids, AF_INET6, server, e);
}

typedef struct nlmsghdr *(*rule_builder)(struct netcfg *, char *, uint16_t, uint16_t, int, const struct sl_ids *);

static struct nlmsghdr *dns_any_msg(struct netcfg *nc, char *buf, uint16_t type, uint16_t flags, int family,
				    const struct sl_ids *ids)
{
	return dns_msg(nc, buf, type, flags, family, ids, NULL);
}

/* Deletes every rule `build` describes (ours), until there is none. A host without IPv6 has no IPv6 rules. */
static int rules_del_one(struct netcfg *nc, rule_builder build, int family, const struct sl_ids *ids,
			 unsigned which, struct sl_err *e)
{
	for (int i = 0; i < RULES_DEL_MAX; i++) {
		char buf[NL_BUF_SIZE];
		int ret = rule_talk(nc, build(nc, buf, RTM_DELRULE, 0, family, ids), "ours", ids->prio + which, e);
		if (ret == -ENOENT || (ret == -EAFNOSUPPORT && family == AF_INET6))
			return 0;
		if (ret)
			return ret;
	}
	return 0;
}

int rules_del(struct netcfg *nc, const struct sl_ids *ids, struct sl_err *e)
{
	int ret = 0;

	for (int i = 0; i < 2; i++) {
		int family = i ? AF_INET6 : AF_INET;
		int rm = rules_del_one(nc, marked_msg, family, ids, SL_RULE_MARKED, e);
		int r0 = rules_del_one(nc, dns_any_msg, family, ids, SL_RULE_DNS, e);
		int r1 = rules_del_one(nc, suppress_msg, family, ids, SL_RULE_SUPPRESS, e);
		int r2 = rules_del_one(nc, tunnel_msg, family, ids, SL_RULE_TUNNEL, e);
		int r = rm ? rm : r0 ? r0 : r1 ? r1 : r2;
		if (!ret)
			ret = r;
	}
	return ret;
}

struct rule_walk {
	const struct sl_ids *ids;
	uint32_t prio, table; /* the first rule that is in our way */
	bool conflict;
};

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, FRA_MAX) < 0)
		return MNL_CB_OK;
	if ((type == FRA_PRIORITY || type == FRA_TABLE || type == FRA_FWMARK) &&
	    mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

/* In our way: a rule at one of our priorities that uses neither our table nor our mark (another owner), or
 * any rule elsewhere that uses our table (another interface whose name hashes like ours). */
static int rule_walk_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_walk *w = data;
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[FRA_MAX + 1] = {0};
	uint32_t prio, table, mark;
	bool at_ours, uses_ours;

	if (w->conflict || (frh->family != AF_INET && frh->family != AF_INET6))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*frh), rule_attr_cb, tb);
	prio = tb[FRA_PRIORITY] ? mnl_attr_get_u32(tb[FRA_PRIORITY]) : 0;
	table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
	mark = tb[FRA_FWMARK] ? mnl_attr_get_u32(tb[FRA_FWMARK]) : 0;
	at_ours = prio >= w->ids->prio && prio < w->ids->prio + SL_RULE_PRIO_PER_IFACE;
	uses_ours = table == w->ids->table || mark == w->ids->mark;
	if ((at_ours && !uses_ours) || (!at_ours && table == w->ids->table)) {
		w->conflict = true;
		w->prio = prio;
		w->table = table;
	}
	return MNL_CB_OK;
}

int rules_check_free(struct netcfg *nc, const struct sl_ids *ids, struct sl_err *e)
{
	char buf[NL_BUF_SIZE], ext[256], why[320];
	struct nlmsghdr *nlh = nl_msg(nc, buf, RTM_GETRULE, NLM_F_DUMP);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	struct rule_walk w = {.ids = ids};
	int ret;

	frh->family = AF_UNSPEC; /* both families */
	ret = nl_talk(nc, nlh, rule_walk_cb, &w, ext, sizeof(ext));
	if (ret)
		return sl_errf(e, ret, "list rules: %s", nl_why(ret, ext, why, sizeof(why)));
	if (w.conflict)
		return sl_errf(e, -EADDRINUSE,
			       "rule %u lookup %u is in the way of this interface's (priorities %u-%u, table %u): "
			       "another tunnel whose interface name hashes alike? rename one",
			       w.prio, w.table, ids->prio, ids->prio + SL_RULE_PRIO_PER_IFACE - 1, ids->table);
	return 0;
}

static int rules_add_family(struct netcfg *nc, const struct sl_ids *ids, int family, bool full_tunnel,
			    struct sl_err *e)
{
	char buf[NL_BUF_SIZE], what[96];
	const char *v = family == AF_INET6 ? "-6 " : "";
	int ret;

	snprintf(what, sizeof(what), "%snot fwmark 0x%x/0x%x lookup %u", v, SL_MARK_BASE, SL_MARK_MASK, ids->table);
	ret = rule_talk(nc, tunnel_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, ids), what,
			ids->prio + SL_RULE_TUNNEL, e);
	if (ret || !full_tunnel)
		return ret;
	snprintf(what, sizeof(what), "%sfwmark 0x%x lookup main", v, ids->mark);
	ret = rule_talk(nc, marked_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, ids), what,
			ids->prio + SL_RULE_MARKED, e);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "%snot fwmark 0x%x lookup main suppress_prefixlength 0", v, ids->mark);
	return rule_talk(nc, suppress_msg(nc, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, ids), what,
			 ids->prio + SL_RULE_SUPPRESS, e);
}

int rules_add(struct netcfg *nc, const struct sl_ids *ids, bool full_tunnel, struct sl_err *e)
{
	struct sl_err ignore;
	int ret = rules_check_free(nc, ids, e);

	if (ret)
		return ret;
	/* both families: a full tunnel captures IPv6 too, also when the gateway offers none (DESIGN 9, 10.2) */
	ret = rules_add_family(nc, ids, AF_INET, full_tunnel, e);
	if (!ret) {
		ret = rules_add_family(nc, ids, AF_INET6, full_tunnel, e);
		if (ret == -EAFNOSUPPORT) /* a kernel without IPv6 (ipv6.disable=1): none exists, none can leak */
			return 0;
	}
	if (ret) /* all or none */
		rules_del(nc, ids, &ignore);
	return ret;
}
