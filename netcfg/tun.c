/* tun: the TUN link of an interface (IFF_TUN | IFF_NO_PI), non-blocking and close-on-exec. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "netcfg/netcfg.h"

#define TUN_DEV "/dev/net/tun"

int tun_open(const char *ifname, int extra_flags, struct sl_err *e)
{
	struct ifreq ifr;
	int fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return sl_errf(e, -errno, "open %s: %s", TUN_DEV, strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | extra_flags);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		int err = errno;
		close(fd);
		return sl_errf(e, -err, "create TUN link %s: %s%s", ifname, strerror(err),
			       err == EBUSY || err == EINVAL ? " (a link of that name exists and is not ours)" : "");
	}
	return fd;
}
