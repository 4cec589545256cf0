/* etcd_url: the gateway's `Registry = etcd[s]://HOST:PORT[,HOST:PORT...]/PREFIX` (DESIGN §9 "Fleet") as plain data.
 * HOST is a DNS name, an IPv4 address or a bracketed IPv6 address; PORT is required; PREFIX is one or more
 * path segments of [A-Za-z0-9._-] (every key of the registry lives under "/PREFIX/"). */
#pragma once
#include <stdbool.h>
#include "daemon/common/errmsg.h"

#define ETCD_MAX_ENDPOINTS 8
#define ETCD_ENDPOINT_MAX 272 /* "[" + host (253) + "]:" + port + NUL */
#define ETCD_PREFIX_MAX 128

struct etcd_url {
	bool tls; /* etcds://: HTTPS, the server's certificate checked (RegistryCAFile, else the system's CAs) */
	char endpoint[ETCD_MAX_ENDPOINTS][ETCD_ENDPOINT_MAX]; /* "host:port" / "[v6]:port", in the given order */
	unsigned n_endpoints;
	char prefix[ETCD_PREFIX_MAX]; /* "/PREFIX", no trailing slash */
};

/* Parses `s` into u (zeroed first). 0, or -EINVAL with e->msg saying what is wrong (without file:line). */
int etcd_url_parse(const char *s, struct etcd_url *u, struct sl_err *e);
