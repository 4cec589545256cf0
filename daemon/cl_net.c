/* cl_net: the client follows the network under it (issue #24). The network watch (daemon/netwatch.h) hands
 * over once per burst of rtnetlink events; then:
 *   - the path to the server (daemon/netpath.h: interface, source address, next hop, MTU — the kernel's own
 *     answer for our marked datagrams) is looked up; when it changed: one log line, a keepalive at once (the
 *     gateway learns our new endpoint from it instead of at the next keepalive, up to Keepalive seconds
 *     later), the MTU derived again (unless MTU = is set) and the server's name resolved again;
 *   - with KillSwitchAllowLAN, the LAN prefixes of the host are compared with those the kill switch opens and
 *     the table re-applied in one batch when they differ (a LAN that went away closes, a new one opens).
 * The TUN link's own changes and our routes in our own table come through too: they leave the path (looked
 * up with our mark) as it was, so they cost one lookup and no log line. */
#include <errno.h>
#include <string.h>
#include "daemon/client.h"
#include "daemon/sockets.h"
#include "kill-switch/killswitch.h"

static bool same_ep(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return !memcmp(a, b, sizeof(struct sockaddr_in));
	return a->ss_family != AF_INET6 || !memcmp(a, b, sizeof(struct sockaddr_in6));
}

static void path_lookup(struct cl *c, struct netpath *p)
{
	struct sl_err e = {{0}};
	unsigned link_mtu = 0;

	memset(p, 0, sizeof(*p));
	if (route_get_path(&c->nc, &c->ep, c->ids.mark, &p->r, &e))
		return; /* no route: a change of path like any other */
	p->have = true;
	if (link_get_mtu(&c->nc, p->r.oif, c->ep.ss_family, &link_mtu, &e))
		link_mtu = 0;
	p->underlay = p->r.mtu && (p->r.mtu < link_mtu || !link_mtu) ? p->r.mtu : link_mtu;
}

/* KillSwitchAllowLAN: the LAN allowance follows the host's networks (only while the table is on and ours). */
static void lan_refresh(struct cl *c, bool first)
{
	struct sockaddr_storage all[SL_KS_MAX_SERVERS];
	char now[SL_CL_LAN_TEXT_MAX];
	struct sl_err e = {{0}};
	struct ks_spec ks;
	int ret;

	if (!c->cfg->killswitch_allow_lan)
		return;
	if (ks_lan_describe(c->cfg->ifname, now, sizeof(now), &e)) {
		log_warn("%s (the kill switch's LAN allowance stays as it was)", e.msg);
		return;
	}
	if (first || !strcmp(now, c->ks_lan)) {
		memcpy(c->ks_lan, now, sizeof(now)); /* at start: what ks_apply just opened */
		return;
	}
	cl_ks_spec(c, &ks, all);
	ret = ks_reapply(&ks, &e);
	if (ret == -ENOENT)
		return; /* off (`sluice killswitch off`): nothing to follow */
	if (ret) {
		log_err("kill switch: LAN allowance not updated to %s: %s", now[0] ? now : "(none)",
			e.msg[0] ? e.msg : strerror(-ret));
		return;
	}
	log_info("kill switch: LAN allowance now %s (was %s)", now[0] ? now : "(none)",
		 c->ks_lan[0] ? c->ks_lan : "(none)");
	memcpy(c->ks_lan, now, sizeof(now));
}

static void on_settled(struct netwatch *nw, void *arg)
{
	struct cl *c = arg;
	struct netpath p;
	char a[64], was[160], is[160], ifn[IFNAMSIZ] = "";

	(void)nw;
	if (!c->ep_len) { /* no server address known yet (a name, no cache): an attempt may now resolve it */
		sup_network_changed(c);
		lan_refresh(c, false);
		return;
	}
	path_lookup(c, &p);
	if (!same_ep(&c->path_ep, &c->ep)) { /* another server since: its path is the new reference */
		c->path = p;
		c->path_ep = c->ep;
	} else if (!netpath_same(&p, &c->path)) {
		netpath_str(&c->path, NULL, was, sizeof(was));
		if (p.have)
			if_indextoname((unsigned)p.r.oif, ifn);
		netpath_str(&p, ifn, is, sizeof(is));
		c->path = p;
		c->path_changes++;
		log_info("network: path to %s now %s (was %s)", sock_addr_str(&c->ep, a, sizeof(a)), is, was);
		if (p.have) { /* no route: nothing can go out; the route's return is the next change */
			cl_probe_now(c);
			cl_mtu_check(c);
			sup_network_changed(c);
		}
	}
	lan_refresh(c, false);
}

int cl_net_open(struct cl *c, struct sl_err *e)
{
	int ret = netwatch_open(&c->nw, &c->loop, true, on_settled, c, e);

	if (ret)
		return ret;
	c->nw_open = true;
	if (c->ep_len) {
		path_lookup(c, &c->path);
		c->path_ep = c->ep;
	}
	lan_refresh(c, true);
	return 0;
}

void cl_net_close(struct cl *c)
{
	if (c->nw_open)
		netwatch_close(&c->nw);
	c->nw_open = false;
}
