/* etcd_url: parsing of the Registry URL (etcd_url.h). Strict: anything not understood is an error that quotes it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include "daemon/registry/etcd_url.h"

#define ETCD_SCHEME "etcd://"
#define ETCD_TLS_SCHEME "etcds://"

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.';
}

/* One "host:port" or "[v6]:port" of len characters. */
static int parse_endpoint(const char *s, size_t len, char out[ETCD_ENDPOINT_MAX], struct sl_err *e)
{
	char item[ETCD_ENDPOINT_MAX];
	const char *port;
	size_t hlen;
	char *end;
	long pv;

	if (len == 0)
		return sl_errf(e, -EINVAL, "empty HOST:PORT");
	if (len >= sizeof(item))
		return sl_errf(e, -EINVAL, "'%.*s...' is too long for HOST:PORT", 40, s);
	memcpy(item, s, len);
	item[len] = 0;
	if (item[0] == '[') {
		char *rb = strchr(item, ']');
		struct in6_addr a6;
		if (!rb || rb[1] != ':')
			return sl_errf(e, -EINVAL, "'%s' is not [IPv6]:PORT", item);
		*rb = 0;
		if (inet_pton(AF_INET6, item + 1, &a6) != 1)
			return sl_errf(e, -EINVAL, "'%s' is not an IPv6 address", item + 1);
		*rb = ']';
		port = rb + 2;
	} else {
		char *colon = strrchr(item, ':');
		if (!colon)
			return sl_errf(e, -EINVAL, "'%s' has no :PORT", item);
		hlen = (size_t)(colon - item);
		if (hlen == 0 || hlen > 253)
			return sl_errf(e, -EINVAL, "'%s' has no valid host", item);
		for (size_t i = 0; i < hlen; i++)
			if (!host_char(item[i]))
				return sl_errf(e, -EINVAL, "'%s': '%c' is not allowed in a host name", item, item[i]);
		port = colon + 1;
	}
	if (!*port || !isdigit((unsigned char)*port))
		return sl_errf(e, -EINVAL, "'%s' has no port number", item);
	errno = 0;
	pv = strtol(port, &end, 10);
	if (errno || *end || pv < 1 || pv > 65535)
		return sl_errf(e, -EINVAL, "'%s': port must be 1..65535", item);
	memcpy(out, item, len + 1);
	return 0;
}

int etcd_url_parse(const char *s, struct etcd_url *u, struct sl_err *e)
{
	const char *p, *slash;
	size_t plen;

	memset(u, 0, sizeof(*u));
	if (!strncmp(s, ETCD_TLS_SCHEME, strlen(ETCD_TLS_SCHEME))) {
		u->tls = true;
		p = s + strlen(ETCD_TLS_SCHEME);
	} else if (!strncmp(s, ETCD_SCHEME, strlen(ETCD_SCHEME))) {
		p = s + strlen(ETCD_SCHEME);
	} else {
		return sl_errf(e, -EINVAL, "'%s' does not start with etcd:// or etcds://", s);
	}
	slash = strchr(p, '/');
	if (!slash)
		return sl_errf(e, -EINVAL, "'%s' has no /PREFIX after the hosts", s);
	/* the endpoints: a comma-separated list, no spaces (DESIGN 10.1) */
	while (p < slash) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *end = comma ? comma : slash;
		if (u->n_endpoints == ETCD_MAX_ENDPOINTS)
			return sl_errf(e, -EINVAL, "'%s': more than %d endpoints", s, ETCD_MAX_ENDPOINTS);
		if (parse_endpoint(p, (size_t)(end - p), u->endpoint[u->n_endpoints], e))
			return -EINVAL;
		u->n_endpoints++;
		p = comma ? comma + 1 : slash;
		if (comma && p == slash)
			return sl_errf(e, -EINVAL, "'%s': empty HOST:PORT after a comma", s);
	}
	if (!u->n_endpoints)
		return sl_errf(e, -EINVAL, "'%s' names no HOST:PORT", s);
	plen = strlen(slash);
	if (plen < 2)
		return sl_errf(e, -EINVAL, "'%s' has an empty PREFIX", s);
	if (plen >= sizeof(u->prefix))
		return sl_errf(e, -EINVAL, "'%s': PREFIX longer than %d characters", s, ETCD_PREFIX_MAX - 1);
	for (size_t i = 1; i < plen; i++) {
		char c = slash[i];
		if (c == '/' && (slash[i - 1] == '/' || i + 1 == plen))
			return sl_errf(e, -EINVAL, "'%s': PREFIX has an empty segment", s);
		if (c != '/' && !isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
			return sl_errf(e, -EINVAL, "'%s': '%c' is not allowed in PREFIX (A-Z a-z 0-9 . _ - /)", s, c);
	}
	memcpy(u->prefix, slash, plen + 1);
	return 0;
}
