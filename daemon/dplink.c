/* dplink: batches and the TUN link for either mode. */
#include <errno.h>
#include <stdlib.h>
#include "daemon/dplink.h"
#include "netcfg/netcfg.h"

int dp_link_open(const char *ifname, struct dp_batch **rx, struct dp_batch **tx, struct loop_io *tun_io,
		 struct dp_tun *t, struct sl_err *e)
{
	int flags = dp_tun_open_flags(), fd, ifindex;

	*rx = calloc(1, sizeof(**rx));
	*tx = calloc(1, sizeof(**tx));
	if (!*rx || !*tx)
		return sl_errf(e, -ENOMEM, "out of memory for the packet batches");
	dp_batch_init(*rx);
	dp_batch_init(*tx);
	fd = tun_open(ifname, flags, e);
	if (fd < 0)
		return fd;
	tun_io->fd = fd;
	if (dp_tun_init(t, fd, flags != 0))
		return sl_errf(e, -ENOMEM, "tun: out of memory for the segmentation buffer");
	ifindex = link_index(ifname);
	if (ifindex < 0)
		return sl_errf(e, ifindex, "%s: no such link after creating it", ifname);
	sysctl_disable_ipv6(ifname, e); /* best effort: an IPv4 tunnel; keeps the kernel's IPv6 chatter off it */
	return ifindex;
}
