/* sysctl: the few /proc/sys knobs sluice touches (per network namespace); forwarding.c keeps the shared
 * forwarding ones. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "netcfg/netcfg.h"

int sysctl_read_int(const char *path, int *val, struct sl_err *e)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return sl_errf(e, -errno, "read %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || sscanf(buf, "%d", val) != 1)
		return sl_errf(e, -EIO, "read %s: unexpected content", path);
	return 0;
}

int sysctl_write_int(const char *path, int val, struct sl_err *e)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), len;

	if (fd < 0)
		return sl_errf(e, -errno, "write %s: %s", path, strerror(errno));
	len = snprintf(buf, sizeof(buf), "%d\n", val);
	errno = 0; /* a short write sets none */
	if (write(fd, buf, (size_t)len) != len) {
		int err = errno ? errno : EIO;
		close(fd);
		return sl_errf(e, -err, "write %d to %s: %s", val, path, strerror(err));
	}
	close(fd);
	return 0;
}

int sysctl_disable_ipv6(const char *ifname, struct sl_err *e)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	if (access(path, F_OK))
		return 0; /* no IPv6 in this kernel: nothing to disable */
	return sysctl_write_int(path, 1, e);
}

int sysctl_tun_ipv6(const char *ifname, struct sl_err *e)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/addr_gen_mode", ifname);
	if (access(path, F_OK))
		return 0; /* no IPv6 in this kernel */
	return sysctl_write_int(path, 1, e); /* IN6_ADDR_GEN_MODE_NONE */
}

int sysctl_enable_ipv6(const char *ifname, struct sl_err *e)
{
	char path[128];

	if (access("/proc/sys/net/ipv6", F_OK))
		return sl_errf(e, -EAFNOSUPPORT, "this kernel has no IPv6 (ipv6.disable=1?)");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	return sysctl_write_int(path, 0, e);
}

int sysctl_promote_secondaries(const char *ifname, struct sl_err *e)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/promote_secondaries", ifname);
	return sysctl_write_int(path, 1, e);
}
