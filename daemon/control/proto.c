/* proto: encode and strictly parse the control-plane lines. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/control/proto.h"
#include "daemon/control/psk.h"
#include "daemon/dataplane/wire.h"

/* Copies a line into a NUL-terminated buffer without its trailing "\n"; -EINVAL on NUL bytes or overflow. */
static int line_copy(char *dst, size_t n, const char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		len--;
	if (len >= n || memchr(line, 0, len))
		return -EINVAL;
	memcpy(dst, line, len);
	dst[len] = 0;
	return 0;
}

static int parse_hex32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (strlen(s) != 8 || strspn(s, "0123456789abcdef") != 8)
		return -EINVAL;
	v = strtoul(s, &end, 16);
	if (*end || v == 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int proto_parse_request(const char *line, size_t len, enum proto_req *req, uint32_t *session_id)
{
	char buf[PROTO_LINE_MAX];

	if (line_copy(buf, sizeof(buf), line, len))
		return -EINVAL;
	if (!strcmp(buf, "AUTH")) {
		*req = PROTO_AUTH;
		return 0;
	}
	if (!strncmp(buf, "PING ", 5) && !parse_hex32(buf + 5, session_id)) {
		*req = PROTO_PING;
		return 0;
	}
	if (!strncmp(buf, "DATA ", 5) && !parse_hex32(buf + 5, session_id)) {
		*req = PROTO_DATA;
		return 0;
	}
	return -EINVAL;
}

int proto_format_snapshot(char *buf, size_t n, const struct proto_snapshot *s)
{
	char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
	int len;

	if (s->no_v4 && !s->has_v6)
		return -EINVAL; /* a session of neither family carries nothing */
	len = snprintf(buf, n, "OK session=%08x", s->session_id);
	if (!s->no_v4 && len > 0 && (size_t)len < n) {
		inet_ntop(AF_INET, &s->addr, a, sizeof(a));
		inet_ntop(AF_INET, &s->gateway, g, sizeof(g));
		len += snprintf(buf + len, n - (size_t)len, " address=%s/%u gateway=%s", a, s->plen, g);
	}
	if (len > 0 && (size_t)len < n)
		len += snprintf(buf + len, n - (size_t)len, " mtu=%u keepalive=%u lifetime=%u", s->mtu, s->keepalive,
				s->lifetime);
	for (int fam = 0; fam < 2; fam++) {
		const char *field = fam ? " dns6=" : " dns=";
		for (unsigned i = 0; i < s->n_dns && len > 0 && (size_t)len < n; i++) {
			char ip[INET6_ADDRSTRLEN];
			if (s->dns[i].family != (fam ? AF_INET6 : AF_INET))
				continue;
			len += snprintf(buf + len, n - (size_t)len, "%s%s", field, sl_ipaddr_str(&s->dns[i], ip, sizeof(ip)));
			field = ",";
		}
	}
	for (unsigned i = 0; i < s->n_domains && len > 0 && (size_t)len < n; i++)
		len += snprintf(buf + len, n - (size_t)len, "%s%s", i ? "," : " domains=", s->domains[i]);
	if (s->has_v6 && len > 0 && (size_t)len < n) {
		char a6[INET6_ADDRSTRLEN], g6[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &s->addr6, a6, sizeof(a6));
		inet_ntop(AF_INET6, &s->gateway6, g6, sizeof(g6));
		len += snprintf(buf + len, n - (size_t)len, " address6=%s/%u gateway6=%s", a6, s->plen6, g6);
	}
	if (s->has_confirm && len > 0 && (size_t)len < n) {
		char hx[2 * SL_PSK_MAC_LEN + 1];
		psk_mac_hex(s->confirm, hx);
		len += snprintf(buf + len, n - (size_t)len, " confirm=%s", hx);
	}
	for (int fam = 0; fam < 2; fam++) {
		const char *field = fam ? " routes6=" : " routes=";
		for (unsigned i = 0; i < s->n_routes && len > 0 && (size_t)len < n; i++) {
			char ip[INET6_ADDRSTRLEN];
			if (s->routes[i].a.family != (fam ? AF_INET6 : AF_INET))
				continue;
			len += snprintf(buf + len, n - (size_t)len, "%s%s/%u", field,
					sl_ipaddr_str(&s->routes[i].a, ip, sizeof(ip)), s->routes[i].len);
			field = ",";
		}
	}
	if (len > 0 && (size_t)len + 1 < n) {
		buf[len++] = '\n';
		buf[len] = 0;
		return len;
	}
	return -ENOSPC;
}

static int parse_dns(char *v, int family, struct proto_snapshot *s)
{
	char *save = NULL;

	for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct sl_ipaddr *a = &s->dns[s->n_dns];
		if (s->n_dns >= SL_MAX_DNS || inet_pton(family, tok, family == AF_INET ? (void *)&a->v4 : &a->v6) != 1)
			return -EINVAL;
		a->family = (sa_family_t)family;
		s->n_dns++;
	}
	return 0;
}

static int parse_domains(char *v, struct proto_snapshot *s)
{
	char *save = NULL;

	for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (s->n_domains >= SL_MAX_DOMAINS || !domain_valid(tok))
			return -EINVAL;
		snprintf(s->domains[s->n_domains++], SL_DOMAIN_MAX + 1, "%s", tok);
	}
	return 0;
}

static int parse_routes(char *v, int family, struct proto_snapshot *s)
{
	char *save = NULL;

	for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct sl_prefix *r = &s->routes[s->n_routes];
		if (s->n_routes >= SL_MAX_PUSH_ROUTES || prefix_parse(tok, r) || r->a.family != family ||
		    prefix_host_bits(r))
			return -EINVAL;
		s->n_routes++;
	}
	return 0;
}

static int parse_field(const char *k, char *v, struct proto_snapshot *s, unsigned *seen)
{
	if (!strcmp(k, "session")) {
		*seen |= 1;
		return parse_hex32(v, &s->session_id);
	}
	if (!strcmp(k, "address")) {
		char *slash = strchr(v, '/');
		unsigned plen;
		*seen |= 2;
		if (!slash)
			return -EINVAL;
		*slash = 0;
		if (inet_pton(AF_INET, v, &s->addr) != 1 || parse_uint(slash + 1, 1, 32, &plen))
			return -EINVAL;
		s->plen = (uint8_t)plen;
		return 0;
	}
	if (!strcmp(k, "gateway")) {
		*seen |= 4;
		return inet_pton(AF_INET, v, &s->gateway) == 1 ? 0 : -EINVAL;
	}
	if (!strcmp(k, "mtu")) {
		*seen |= 8;
		return parse_uint(v, SLUICE_MTU_MIN, SLUICE_MTU_MAX, &s->mtu);
	}
	if (!strcmp(k, "keepalive")) {
		*seen |= 16;
		return parse_uint(v, 1, 3600, &s->keepalive);
	}
	if (!strcmp(k, "lifetime")) {
		*seen |= 32;
		return parse_uint(v, 1, 604800 * 4, &s->lifetime);
	}
	if (!strcmp(k, "dns"))
		return parse_dns(v, AF_INET, s);
	if (!strcmp(k, "dns6"))
		return parse_dns(v, AF_INET6, s);
	if (!strcmp(k, "domains"))
		return parse_domains(v, s);
	if (!strcmp(k, "address6")) {
		char *slash = strchr(v, '/');
		unsigned plen;
		*seen |= 64;
		if (!slash)
			return -EINVAL;
		*slash = 0;
		if (inet_pton(AF_INET6, v, &s->addr6) != 1 || parse_uint(slash + 1, 1, 128, &plen))
			return -EINVAL;
		s->plen6 = (uint8_t)plen;
		return 0;
	}
	if (!strcmp(k, "gateway6")) {
		*seen |= 128;
		return inet_pton(AF_INET6, v, &s->gateway6) == 1 ? 0 : -EINVAL;
	}
	if (!strcmp(k, "confirm")) {
		s->has_confirm = true;
		return psk_mac_from_hex(v, strlen(v), s->confirm);
	}
	if (!strcmp(k, "routes"))
		return parse_routes(v, AF_INET, s);
	if (!strcmp(k, "routes6"))
		return parse_routes(v, AF_INET6, s);
	return 0; /* unknown fields are skipped: newer servers may add some */
}

int proto_format_confirm(char *buf, size_t n, const uint8_t mac[32])
{
	char hx[2 * SL_PSK_MAC_LEN + 1];
	int len;

	psk_mac_hex(mac, hx);
	len = snprintf(buf, n, "CONFIRM %s\n", hx);
	return len > 0 && (size_t)len < n ? len : -ENOSPC;
}

int proto_parse_confirm(const char *line, size_t len, uint8_t mac[32])
{
	char buf[PROTO_LINE_MAX];

	if (line_copy(buf, sizeof(buf), line, len) || strncmp(buf, "CONFIRM ", 8))
		return -EINVAL;
	return psk_mac_from_hex(buf + 8, strlen(buf + 8), mac);
}

int proto_parse_snapshot(const char *line, size_t len, struct proto_snapshot *s, char *err, size_t errlen)
{
	char buf[PROTO_LINE_MAX], *save = NULL;
	unsigned seen = 0;

	memset(s, 0, sizeof(*s));
	if (line_copy(buf, sizeof(buf), line, len))
		return -EINVAL;
	if (!strncmp(buf, "ERR ", 4)) {
		if (err)
			snprintf(err, errlen, "%s", buf + 4);
		return -EACCES;
	}
	if (strncmp(buf, "OK ", 3))
		return -EINVAL;
	for (char *tok = strtok_r(buf + 3, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok)
			return -EINVAL;
		*eq = 0;
		if (parse_field(tok, eq + 1, s, &seen))
			return -EINVAL;
	}
	/* session, mtu, keepalive, lifetime always; of each family both fields or neither, one family at least */
	if ((seen & 57) != 57 || ((seen & 2) != 0) != ((seen & 4) != 0) || ((seen & 64) != 0) != ((seen & 128) != 0) ||
	    !(seen & (2 | 64)))
		return -EINVAL;
	s->no_v4 = !(seen & 2);
	s->has_v6 = (seen & 64) != 0;
	return 0;
}
