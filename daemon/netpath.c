/* netpath: the path to a server and the event debounce (daemon/netpath.h). */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include "daemon/netpath.h"

void debounce_init(struct debounce *d, unsigned quiet_ms, unsigned max_ms)
{
	memset(d, 0, sizeof(*d));
	d->quiet_ms = quiet_ms;
	d->max_ms = max_ms < quiet_ms ? quiet_ms : max_ms;
}

uint64_t debounce_event(struct debounce *d, uint64_t now)
{
	uint64_t due;

	if (!d->first_ms)
		d->first_ms = now ? now : 1;
	due = now + d->quiet_ms;
	if (due > d->first_ms + d->max_ms)
		due = d->first_ms + d->max_ms; /* a stream that never pauses is looked at all the same */
	d->due_ms = due;
	return due;
}

bool debounce_fire(struct debounce *d, uint64_t now)
{
	if (!d->first_ms || now < d->due_ms)
		return false;
	d->first_ms = 0;
	d->due_ms = 0;
	return true;
}

bool netpath_same(const struct netpath *a, const struct netpath *b)
{
	size_t alen;

	if (a->have != b->have)
		return false;
	if (!a->have)
		return true;
	if (a->r.family != b->r.family || a->r.oif != b->r.oif || a->underlay != b->underlay ||
	    a->r.have_src != b->r.have_src || a->r.have_gw != b->r.have_gw)
		return false;
	alen = a->r.family == AF_INET ? 4 : 16;
	if (a->r.have_src && memcmp(a->r.src, b->r.src, alen))
		return false;
	return !a->r.have_gw || !memcmp(a->r.gw, b->r.gw, alen);
}

const char *netpath_str(const struct netpath *p, const char *ifname, char *buf, size_t n)
{
	char src[INET6_ADDRSTRLEN] = "", gw[INET6_ADDRSTRLEN] = "", dev[IFNAMSIZ + 8];

	if (!p->have) {
		snprintf(buf, n, "no route");
		return buf;
	}
	if (p->r.have_src)
		inet_ntop(p->r.family, p->r.src, src, sizeof(src));
	if (p->r.have_gw)
		inet_ntop(p->r.family, p->r.gw, gw, sizeof(gw));
	if (ifname && *ifname)
		snprintf(dev, sizeof(dev), "%s", ifname);
	else
		snprintf(dev, sizeof(dev), "#%d", p->r.oif);
	snprintf(buf, n, "dev %s%s%s%s%s mtu %u", dev, src[0] ? " src " : "", src, gw[0] ? " via " : "", gw,
		 p->underlay);
	return buf;
}
