/* sockets: the daemon's underlay sockets (non-blocking, close-on-exec): the UDP data socket and the TCP control
 * socket, bound to Listen (server) or marked with the fwmark (client) so policy routing and the kill switch let
 * them out. Returns fds or -errno with e->msg. */
#pragma once
#include <stdint.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"

#define SL_UDP_BUF_BYTES (4 << 20)

int sock_udp_listen(const struct sockaddr_storage *ss, socklen_t len, struct sl_err *e);
/* n sockets on one address (SO_REUSEPORT when n > 1, after checking that the port is free): the kernel keeps
 * each remote address:port on one of them. fds[] gets them (-1 where not made). 0 or -errno. */
int sock_udp_listen_group(const struct sockaddr_storage *ss, socklen_t len, int *fds, unsigned n,
			  struct sl_err *e);
int sock_tcp_listen(const struct sockaddr_storage *ss, socklen_t len, struct sl_err *e);
/* Client UDP socket connected to the endpoint, carrying `fwmark`. */
int sock_udp_connect(const struct sockaddr_storage *ss, socklen_t len, uint32_t fwmark, struct sl_err *e);
/* Client TCP socket with a non-blocking connect under way (EINPROGRESS is success). */
int sock_tcp_connect(const struct sockaddr_storage *ss, socklen_t len, uint32_t fwmark, struct sl_err *e);
/* Port of an IPv4/IPv6 address, host order. */
uint16_t sock_port(const struct sockaddr_storage *ss);
/* "198.18.0.1:51900" or "[2001:db8::1]:51900". */
const char *sock_addr_str(const struct sockaddr_storage *ss, char *buf, size_t n);
