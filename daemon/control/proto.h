/* proto: the control-plane messages inside TLS. One request per connection, one line each way:
 *
 *   client: "AUTH\n"                     server: "OK session=<hex8> [address=<ip>/<len> gateway=<ip>] mtu=<n>
 *                                                  keepalive=<s> lifetime=<s>[ dns=<ip>[,<ip>…]]
 *                                                  [ dns6=<ip6>[,<ip6>…]][ domains=<name>[,<name>…]]
 *                                                  [ address6=<ip6>/<len> gateway6=<ip6>]
 *                                                  [ routes=<ip>/<len>[,…]][ routes6=<ip6>/<len>[,…]]\n"
 *   client: "PING <hex8>\n"              server: "OK\n" | "EXPIRED\n"
 *   client: "DATA <hex8>\n"              server: "OK\n" | "EXPIRED\n"; after "OK\n" the connection leaves
 *                                        TLS and carries the session's framed datagrams both ways (the TCP
 *                                        fallback transport, dataplane/stream.h) until either side closes it
 *   any error                            server: "ERR <reason>\n"
 *
 * A dual-stack gateway (DESIGN 9) adds the client's IPv6 address with the prefix length of the gateway's IPv6
 * prefix, and its own IPv6 address; both or neither. Older clients skip the fields (IPv4 only, as before).
 * An IPv6-only gateway (no IPv4 prefix in its Address) leaves out address= and gateway= (again both or
 * neither); a snapshot carries at least one family. Clients from before IPv6-only gateways refuse such a line
 * (address= was required), which is right: they would configure no address at all.
 * IPv6 servers travel in their own field, so a client that only knows `dns=` (IPv4) skips them rather than
 * refusing the line; pushed servers of both families keep their order within each family.
 * The AUTH answer also carries " confirm=<hex64>", the gateway's key confirmation (control/psk.h); the client
 * answers it with "CONFIRM <hex64>\n" (its own) and the server ends with "OK\n" or "ERR <reason>\n".
 * refusing the line; pushed servers of both families keep their order within each family. The gateway's
 * PushRoutes travel the same way: IPv4 prefixes in routes=, IPv6 ones in routes6= (DESIGN 9).
 * The data keys are not in the message: both sides derive them with the TLS exporter (tls_export_keys). */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/config.h"

#define PROTO_LINE_MAX 1024

enum proto_req {
	PROTO_AUTH = 1,
	PROTO_PING = 2,
	PROTO_DATA = 3, /* the data plane over this connection (TCP fallback) */
};

struct proto_snapshot {
	uint32_t session_id;
	bool no_v4; /* no address= / gateway=: an IPv6-only gateway's (has_v6 then) */
	struct in_addr addr;
	uint8_t plen;
	struct in_addr gateway;
	bool has_v6; /* address6 / gateway6 given */
	struct in6_addr addr6;
	uint8_t plen6;
	struct in6_addr gateway6;
	unsigned mtu;
	unsigned keepalive;
	unsigned lifetime;
	struct sl_ipaddr dns[SL_MAX_DNS];
	unsigned n_dns;
	char domains[SL_MAX_DOMAINS][SL_DOMAIN_MAX + 1];
	unsigned n_domains;
	bool has_confirm;    /* confirm= present */
	uint8_t confirm[32]; /* the gateway's key confirmation MAC */
	struct sl_prefix routes[SL_MAX_PUSH_ROUTES]; /* PushRoutes, either family */
	unsigned n_routes;
};

/* Parses one request line (with or without the "\n"). 0 or -EINVAL. *session_id set for PING and DATA. */
int proto_parse_request(const char *line, size_t len, enum proto_req *req, uint32_t *session_id);
/* Formats the AUTH answer; returns its length or -ENOSPC. */
int proto_format_snapshot(char *buf, size_t n, const struct proto_snapshot *s);
/* Parses an AUTH answer; 0, -EINVAL, or -EACCES for "ERR …" (reason copied to err if given). */
/* "CONFIRM <hex64>\n" (the client's key confirmation): formats it (length or -ENOSPC), parses it (0 or
 * -EINVAL). */
int proto_format_confirm(char *buf, size_t n, const uint8_t mac[32]);
int proto_parse_confirm(const char *line, size_t len, uint8_t mac[32]);
int proto_parse_snapshot(const char *line, size_t len, struct proto_snapshot *s, char *err, size_t errlen);
