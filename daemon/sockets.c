/* sockets: creation and options of the underlay sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "daemon/sockets.h"

#define TCP_BACKLOG 512

uint16_t sock_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

const char *sock_addr_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, n, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, n, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, n, "(none)");
	}
	return buf;
}

static int sock_new(int family, int type, const char *what, const struct sockaddr_storage *ss,
		    struct sl_err *e)
{
	char a[64];
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return sl_errf(e, -errno, "%s socket for %s: %s", what, sock_addr_str(ss, a, sizeof(a)),
			       strerror(errno));
	return fd;
}

static int sock_fail(int fd, struct sl_err *e, const char *what, const struct sockaddr_storage *ss)
{
	char a[64];
	int err = errno;

	close(fd);
	return sl_errf(e, -err, "%s %s: %s", what, sock_addr_str(ss, a, sizeof(a)), strerror(err));
}

static void sock_bufs(int fd)
{
	int sz = SL_UDP_BUF_BYTES;

	/* best effort: the kernel caps these at rmem_max/wmem_max unless we are privileged (FORCE) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int udp_bind(const struct sockaddr_storage *ss, socklen_t len, bool reuseport, struct sl_err *e)
{
	int fd = sock_new(ss->ss_family, SOCK_DGRAM, "udp", ss, e), off = 0, on = 1;

	if (fd < 0)
		return fd;
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)))
		return sock_fail(fd, e, "SO_REUSEPORT on udp", ss);
	sock_bufs(fd);
	if (bind(fd, (const struct sockaddr *)ss, len))
		return sock_fail(fd, e, "bind udp", ss);
	return fd;
}

int sock_udp_listen(const struct sockaddr_storage *ss, socklen_t len, struct sl_err *e)
{
	return udp_bind(ss, len, false, e);
}

int sock_udp_listen_group(const struct sockaddr_storage *ss, socklen_t len, int *fds, unsigned n,
			  struct sl_err *e)
{
	int fd;

	for (unsigned i = 0; i < n; i++)
		fds[i] = -1;
	if (n == 1) {
		fds[0] = udp_bind(ss, len, false, e);
		return fds[0] < 0 ? fds[0] : 0;
	}
	/* a plain bind first: the port must be free, not shared with whoever else set SO_REUSEPORT on it */
	fd = udp_bind(ss, len, false, e);
	if (fd < 0)
		return fd;
	close(fd);
	for (unsigned i = 0; i < n; i++) {
		fds[i] = udp_bind(ss, len, true, e);
		if (fds[i] < 0)
			return fds[i]; /* the caller closes those made */
	}
	return 0;
}

int sock_tcp_listen(const struct sockaddr_storage *ss, socklen_t len, struct sl_err *e)
{
	int fd = sock_new(ss->ss_family, SOCK_STREAM, "tcp", ss, e), on = 1, off = 0;

	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (bind(fd, (const struct sockaddr *)ss, len))
		return sock_fail(fd, e, "bind tcp", ss);
	if (listen(fd, TCP_BACKLOG))
		return sock_fail(fd, e, "listen tcp", ss);
	return fd;
}

static int sock_mark(int fd, uint32_t fwmark, struct sl_err *e, const struct sockaddr_storage *ss)
{
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		return sock_fail(fd, e, "set fwmark on socket for", ss);
	return fd;
}

int sock_udp_connect(const struct sockaddr_storage *ss, socklen_t len, uint32_t fwmark, struct sl_err *e)
{
	int fd = sock_new(ss->ss_family, SOCK_DGRAM, "udp", ss, e);

	if (fd < 0 || (fd = sock_mark(fd, fwmark, e, ss)) < 0)
		return fd;
	sock_bufs(fd);
	if (connect(fd, (const struct sockaddr *)ss, len))
		return sock_fail(fd, e, "connect udp", ss);
	return fd;
}

int sock_tcp_connect(const struct sockaddr_storage *ss, socklen_t len, uint32_t fwmark, struct sl_err *e)
{
	int fd = sock_new(ss->ss_family, SOCK_STREAM, "tcp", ss, e), on = 1;

	if (fd < 0 || (fd = sock_mark(fd, fwmark, e, ss)) < 0)
		return fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS)
		return sock_fail(fd, e, "connect tcp", ss);
	return fd;
}
