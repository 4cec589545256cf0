/* dplink: batches and the TUN link's queues for either mode. */
#include <errno.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include "daemon/dplink.h"
#include "netcfg/netcfg.h"

int dp_link_open(const char *ifname, struct dp_worker *w, unsigned n, bool ipv6, struct sl_err *e)
{
	int flags = dp_tun_open_flags(), ifindex;

	if (n > 1)
		flags |= IFF_MULTI_QUEUE;
	for (unsigned i = 0; i < n; i++) {
		int fd;

		w[i].rx = calloc(1, sizeof(*w[i].rx));
		w[i].tx = calloc(1, sizeof(*w[i].tx));
		if (!w[i].rx || !w[i].tx)
			return sl_errf(e, -ENOMEM, "out of memory for the packet batches");
		dp_batch_init(w[i].rx);
		dp_batch_init(w[i].tx);
		fd = tun_open(ifname, flags, e); /* the first creates the link, the others attach queues */
		if (fd < 0)
			return fd;
		w[i].tun_io.fd = fd;
		if (dp_tun_init(&w[i].t, fd, (flags & ~IFF_MULTI_QUEUE) != 0))
			return sl_errf(e, -ENOMEM, "tun: out of memory for the segmentation buffer");
	}
	ifindex = link_index(ifname);
	if (ifindex < 0)
		return sl_errf(e, ifindex, "%s: no such link after creating it", ifname);
	if (ipv6)
		sysctl_tun_ipv6(ifname, e); /* best effort: no link-local address, so no chatter of the kernel's own */
	else
		sysctl_disable_ipv6(ifname, e); /* best effort: IPv4 only; keeps the kernel's IPv6 chatter off it */
	return ifindex;
}
