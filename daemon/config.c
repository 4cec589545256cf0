/* config: the wg-style INI file of DESIGN §4 into struct sl_config. Two passes: the lines are split into
 * (section, key, value, line) entries first, so that each key can be checked against the Mode wherever in
 * [Interface] it was written; then each entry is parsed by its key's handler, then the whole is checked. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "daemon/config.h"
#include "daemon/dataplane/subnets.h"
#include "daemon/dataplane/wire.h"

#define CONFIG_FILE_MAX (64u << 20) /* 100,000 [Client]s take about 8 MiB */
#define CONFIG_LINE_MAX 1024
#define CONFIG_MAX_SECTIONS 100000

enum sect {
	SECT_NONE,
	SECT_INTERFACE,
	SECT_CLIENT,
	SECT_SERVER,
};

static const char *sect_name[] = {"", "[Interface]", "[Client]", "[Server]"};

/* which modes a key belongs to */
#define M_S 1u
#define M_C 2u
#define M_ANY (M_S | M_C)

struct entry {
	enum sect sect;
	int sect_no; /* index among sections of its kind */
	int line;
	char key[32];
	const char *val; /* into split_lines' copy of the text (100,000 [Client]s make 400,000 entries) */
};

/* where each [Client]'s pieces were written, for messages */
struct client_lines {
	int hdr, name, key, addr, subnets;
};

struct parse {
	const char *path;
	struct sl_config *cfg;
	struct sl_err *e;
	unsigned mode_bit;
	bool load_key; /* read key files (PresharedKeyFile) too */
};

typedef int (*key_fn)(struct parse *p, const struct entry *en);

struct key_def {
	enum sect sect;
	const char *name;
	unsigned modes;
	key_fn fn;
};

/* "PATH:LINE: Key: what is wrong" */
static int __attribute__((format(printf, 3, 4))) bad(struct parse *p, const struct entry *en, const char *fmt, ...)
{
	char what[CONFIG_LINE_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return sl_errf(p->e, -EINVAL, "%s:%d: %s: %s", p->path, en->line, en->key, what);
}

/* Copies a string known to fit (the caller checked its length). */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = 0;
}

static int parse_uint_range(struct parse *p, const struct entry *en, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!isdigit((unsigned char)en->val[0]))
		return bad(p, en, "'%s' is not a number", en->val);
	v = strtoul(en->val, &end, 10);
	if (*end)
		return bad(p, en, "'%s' is not a number", en->val);
	if (errno || v < min || v > max)
		return bad(p, en, "%s is out of range (%u..%u)", en->val, min, max);
	*out = (unsigned)v;
	return 0;
}

static int parse_bool(struct parse *p, const struct entry *en, bool *out)
{
	static const char *yes[] = {"on", "true", "yes", "1"}, *no[] = {"off", "false", "no", "0"};

	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(en->val, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(en->val, no[i])) {
			*out = false;
			return 0;
		}
	}
	return bad(p, en, "'%s' is not on or off", en->val);
}

static uint32_t prefix_mask(unsigned len)
{
	return len ? ~0u << (32 - len) : 0;
}

/* "addr:port" or "[v6]:port"; host copied out (brackets removed). */
static int split_host_port(const char *s, char *host, size_t n, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long v;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= n || !isdigit((unsigned char)colon[1]))
		return -1;
	v = strtoul(colon + 1, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)v;
	return 0;
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]) || !isprint((unsigned char)s[i]))
			return false;
	return true;
}

/* A numeric IPv4 / IPv6 address, or a DNS name (RFC 1123 labels of 1..63 letters, digits and inner hyphens,
 * 253 characters at most, one trailing dot allowed): what can be resolved later, checked now. Inside brackets
 * only an IPv6 address. */
static bool valid_host(const char *s, bool bracketed)
{
	unsigned char a[sizeof(struct in6_addr)];
	size_t n = strlen(s), label = 0;

	if (inet_pton(AF_INET6, s, a) == 1)
		return true;
	if (bracketed)
		return false;
	if (inet_pton(AF_INET, s, a) == 1)
		return true;
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* ---- [Interface] */

static int k_mode(struct parse *p, const struct entry *en)
{
	if (!strcasecmp(en->val, "server"))
		p->cfg->mode = SL_MODE_SERVER;
	else if (!strcasecmp(en->val, "client"))
		p->cfg->mode = SL_MODE_CLIENT;
	else
		return bad(p, en, "'%s' is neither server nor client", en->val);
	return 0;
}

/* A key file's path: absolute, or relative to the config file's directory. */
static int key_path(struct parse *p, const struct entry *en, char out[SL_PATH_MAX])
{
	if (en->val[0] == '/' || !strchr(p->path, '/')) {
		copy_str(out, SL_PATH_MAX, en->val);
	} else {
		int dir = (int)(strrchr(p->path, '/') - p->path);
		if (snprintf(out, SL_PATH_MAX, "%.*s/%s", dir, p->path, en->val) >= SL_PATH_MAX)
			return bad(p, en, "path too long");
	}
	return 0;
}

static int k_private_key_file(struct parse *p, const struct entry *en)
{
	return key_path(p, en, p->cfg->private_key_file);
}

/* PresharedKeyFile = of a [Client] or [Server]: 32 bytes, base64, mode 0600 like a private key (sluice
 * genpsk). Read at once (when key files are read at all), so a bad one is reported at its own line. */
static int load_psk(struct parse *p, const struct entry *en, bool *has, uint8_t psk[SL_KEY_LEN])
{
	char path[SL_PATH_MAX];
	struct sl_err ke = {{0}};
	int ret = key_path(p, en, path);

	if (ret)
		return ret;
	*has = true;
	if (!p->load_key)
		return 0;
	ret = key_load_private_file(path, psk, &ke);
	if (ret)
		return sl_errf(p->e, ret, "%s:%d: PresharedKeyFile %s", p->path, en->line, ke.msg);
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port", numeric, into a socket address (Listen, MetricsListen). */
static int parse_listen_addr(struct parse *p, const struct entry *en, struct sockaddr_storage *ss,
			     socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	uint16_t port;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	if (split_host_port(en->val, host, sizeof(host), &port))
		return bad(p, en, "'%s' is not ADDRESS:PORT (port 1..65535)", en->val);
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
	} else {
		return bad(p, en, "'%s' is not an IP address", host);
	}
	return 0;
}

static int k_listen(struct parse *p, const struct entry *en)
{
	return parse_listen_addr(p, en, &p->cfg->listen, &p->cfg->listen_len);
}

static int k_metrics_listen(struct parse *p, const struct entry *en)
{
	return parse_listen_addr(p, en, &p->cfg->metrics_listen, &p->cfg->metrics_listen_len);
}

static int k_registry(struct parse *p, const struct entry *en)
{
	struct sl_err ue = {{0}};

	if (etcd_url_parse(en->val, &p->cfg->registry, &ue))
		return bad(p, en, "%s", ue.msg);
	p->cfg->has_registry = true;
	return 0;
}

static int k_registry_ca(struct parse *p, const struct entry *en)
{
	if (en->val[0] != '/')
		return bad(p, en, "'%s' is not an absolute path", en->val);
	/* read when the registry is reached: an unreadable file is reported there, naming it */
	copy_str(p->cfg->registry_ca_file, sizeof(p->cfg->registry_ca_file), en->val);
	return 0;
}

/* RegistryCertFile / RegistryKeyFile: etcd's --client-cert-auth (checked together in check_server; read
 * whenever etcd is reached, like RegistryCAFile) */
static int k_registry_cert(struct parse *p, const struct entry *en)
{
	if (en->val[0] != '/')
		return bad(p, en, "'%s' is not an absolute path", en->val);
	copy_str(p->cfg->registry_cert_file, sizeof(p->cfg->registry_cert_file), en->val);
	return 0;
}

static int k_registry_key(struct parse *p, const struct entry *en)
{
	if (en->val[0] != '/')
		return bad(p, en, "'%s' is not an absolute path", en->val);
	copy_str(p->cfg->registry_key_file, sizeof(p->cfg->registry_key_file), en->val);
	return 0;
}

/* Address = 10.66.0.1/24[, fd66::1/64]: one prefix of each family, either may be absent (DESIGN 9), not both
 * (check_server). */
static int k_address_gw(struct parse *p, const struct entry *en)
{
	struct sl_prefix list[3];
	char badtok[CONFIG_LINE_MAX];
	unsigned n;
	int ret = prefixlist_parse(en->val, list, 2, &n, badtok, sizeof(badtok));

	if (ret == -E2BIG)
		return bad(p, en, "more than one prefix of each family");
	if (ret)
		return bad(p, en, "'%s' is not an address/prefix (10.66.0.1/24 or fd66::1/64)", badtok);
	memset(&p->cfg->address, 0, sizeof(p->cfg->address));
	memset(&p->cfg->address6, 0, sizeof(p->cfg->address6));
	for (unsigned i = 0; i < n; i++) {
		const struct sl_prefix *x = &list[i];
		if (x->a.family == AF_INET) {
			struct sl_prefix4 *a = &p->cfg->address;
			uint32_t h = ntohl(x->a.v4.s_addr), m = prefix_mask(x->len);
			if (a->len)
				return bad(p, en, "more than one IPv4 prefix");
			if (x->len < 8 || x->len > 30) {
				char t[INET_ADDRSTRLEN];
				return bad(p, en, "'%s/%u' is not an IPv4 address/prefix (prefix 8..30)",
					   inet_ntop(AF_INET, &x->a.v4, t, sizeof(t)), x->len);
			}
			if ((h & ~m) == 0 || (h & ~m) == ~m)
				return bad(p, en, "%s is the network or broadcast address of its prefix", en->val);
			a->addr = x->a.v4;
			a->len = x->len;
		} else {
			struct sl_prefix6 *a = &p->cfg->address6;
			if (a->len)
				return bad(p, en, "more than one IPv6 prefix");
			if (x->len < SL_PREFIX6_MIN || x->len > SL_PREFIX6_MAX)
				return bad(p, en, "the IPv6 prefix must be %d..%d", SL_PREFIX6_MIN, SL_PREFIX6_MAX);
			if (!prefix_host_bits(x))
				return bad(p, en, "the IPv6 address is the prefix itself (its subnet-router anycast)");
			a->addr = x->a.v6;
			a->len = x->len;
		}
	}
	return 0;
}

static int k_mtu(struct parse *p, const struct entry *en)
{
	return parse_uint_range(p, en, SLUICE_MTU_MIN, SLUICE_MTU_MAX, &p->cfg->mtu);
}

static int k_egress(struct parse *p, const struct entry *en)
{
	if (!valid_ifname(en->val))
		return bad(p, en, "'%s' is not an interface name", en->val);
	copy_str(p->cfg->egress, sizeof(p->cfg->egress), en->val);
	return 0;
}

static int k_dns(struct parse *p, const struct entry *en)
{
	struct sl_config *c = p->cfg;
	char badtok[CONFIG_LINE_MAX];
	int ret;

	if (p->mode_bit == M_C && !strcasecmp(en->val, "on")) {
		c->dns_mode = SL_DNS_ON;
		return 0;
	}
	if (p->mode_bit == M_C && !strcasecmp(en->val, "off")) {
		c->dns_mode = SL_DNS_OFF;
		return 0;
	}
	ret = addrlist_parse(en->val, c->dns, SL_MAX_DNS, &c->n_dns, badtok, sizeof(badtok));
	if (ret == -E2BIG)
		return bad(p, en, "more than %d servers", SL_MAX_DNS);
	if (ret)
		return bad(p, en, "'%s' is not an IPv4 or IPv6 address%s", badtok,
			   p->mode_bit == M_C ? " (or on, off)" : "");
	c->dns_mode = SL_DNS_LIST;
	return 0;
}

static int k_domains(struct parse *p, const struct entry *en)
{
	struct sl_config *c = p->cfg;
	char badtok[CONFIG_LINE_MAX];
	size_t text = 0;
	int ret;

	ret = domainlist_parse(en->val, c->domains, SL_MAX_DOMAINS, &c->n_domains, badtok, sizeof(badtok));
	if (ret == -E2BIG)
		return bad(p, en, "more than %d domains", SL_MAX_DOMAINS);
	if (ret)
		return bad(p, en, "'%s' is not a domain name", badtok);
	for (unsigned i = 0; i < c->n_domains; i++)
		text += strlen(c->domains[i]) + 1;
	if (text > SL_DOMAINS_TEXT_MAX)
		return bad(p, en, "longer than %d characters in all", SL_DOMAINS_TEXT_MAX);
	return 0;
}

static int k_state_dir(struct parse *p, const struct entry *en)
{
	if (en->val[0] != '/')
		return bad(p, en, "'%s' is not an absolute path", en->val);
	copy_str(p->cfg->state_dir, sizeof(p->cfg->state_dir), en->val);
	return 0;
}

static int k_name(struct parse *p, const struct entry *en)
{
	if (!valid_ifname(en->val))
		return bad(p, en, "'%s' is not a valid interface name (1..15 characters, no '/', ':' or spaces)",
			   en->val);
	copy_str(p->cfg->ifname, sizeof(p->cfg->ifname), en->val);
	return 0;
}

static int k_killswitch(struct parse *p, const struct entry *en)
{
	return parse_bool(p, en, &p->cfg->killswitch);
}

static int k_killswitch_lan(struct parse *p, const struct entry *en)
{
	return parse_bool(p, en, &p->cfg->killswitch_allow_lan);
}

/* Routes = prefixes of either family and/or the word `pushed` (the gateway's PushRoutes, DESIGN 9); 0.0.0.0/0
 * or ::/0 anywhere is the full tunnel of both (DESIGN 10.2). */
static int k_routes(struct parse *p, const struct entry *en)
{
	static struct sl_prefix list[2 * SL_MAX_ROUTES + 1];
	char badtok[CONFIG_LINE_MAX], rest[CONFIG_LINE_MAX];
	struct sl_config *c = p->cfg;
	size_t at = 0;
	unsigned n = 0;
	bool others = false;
	int ret = 0;

	c->n_routes = c->n_routes6 = 0;
	c->routes_pushed = false;
	/* take the word `pushed` out; every other item (empty ones too) goes to the prefix list parser */
	for (const char *it = en->val;;) {
		const char *end = strchr(it, ','), *a = it, *b;
		if (!end)
			end = it + strlen(it);
		for (b = end; a < b && isspace((unsigned char)*a); a++)
			;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b - a == 6 && !strncasecmp(a, "pushed", 6)) {
			c->routes_pushed = true;
		} else { /* rest holds a subset of val's characters: it fits */
			others = true;
			at += (size_t)snprintf(rest + at, sizeof(rest) - at, "%s%.*s", at ? "," : "", (int)(end - it),
					       it);
		}
		if (!*end)
			break;
		it = end + 1;
	}
	if (others)
		ret = prefixlist_parse(rest, list, 2 * SL_MAX_ROUTES + 1, &n, badtok, sizeof(badtok));
	if (ret == -E2BIG)
		return bad(p, en, "more than %d prefixes of a family", SL_MAX_ROUTES);
	if (ret)
		return bad(p, en, "'%s' is not an IPv4 prefix (a.b.c.d/len), an IPv6 one (v6::/len) nor 'pushed'",
			   badtok);
	for (unsigned i = 0; i < n; i++) {
		char t[INET6_ADDRSTRLEN];
		inet_ntop(list[i].a.family, &list[i].a.v6, t, sizeof(t));
		if (prefix_host_bits(&list[i]))
			return bad(p, en, "'%s/%u' has host bits set", t, list[i].len);
		if ((list[i].a.family == AF_INET ? c->n_routes : c->n_routes6) == SL_MAX_ROUTES)
			return bad(p, en, "more than %d prefixes of a family", SL_MAX_ROUTES);
		if (list[i].a.family == AF_INET)
			c->routes[c->n_routes++] = (struct sl_prefix4){.addr = list[i].a.v4, .len = list[i].len};
		else
			c->routes6[c->n_routes6++] = (struct sl_prefix6){.addr = list[i].a.v6, .len = list[i].len};
	}
	return 0;
}

/* A list of network prefixes of either family, host bits clear (Subnets, PushRoutes). */
static int parse_networks(struct parse *p, const struct entry *en, struct sl_prefix *out, unsigned max,
			  unsigned *n)
{
	char badtok[CONFIG_LINE_MAX];
	int ret = prefixlist_parse(en->val, out, max, n, badtok, sizeof(badtok));

	if (ret == -E2BIG)
		return bad(p, en, "more than %u prefixes", max);
	if (ret)
		return bad(p, en, "'%s' is not an IPv4 or IPv6 prefix (address/len)", badtok);
	for (unsigned i = 0; i < *n; i++) {
		char a[INET6_ADDRSTRLEN];
		if (prefix_host_bits(&out[i])) {
			sl_ipaddr_str(&out[i].a, a, sizeof(a));
			return bad(p, en, "'%s/%u' has host bits set", a, out[i].len);
		}
		if (out[i].len == 0)
			return bad(p, en, "a default route (/0) is not a network here");
		for (unsigned j = 0; j < i; j++)
			if (out[j].len == out[i].len && sl_ipaddr_eq(&out[j].a, &out[i].a)) {
				sl_ipaddr_str(&out[i].a, a, sizeof(a));
				return bad(p, en, "'%s/%u' is listed twice", a, out[i].len);
			}
	}
	return 0;
}

static int k_push_routes(struct parse *p, const struct entry *en)
{
	struct sl_config *c = p->cfg;
	size_t text = 0;
	int ret = parse_networks(p, en, c->push_routes, SL_MAX_PUSH_ROUTES, &c->n_push_routes);

	for (unsigned i = 0; !ret && i < c->n_push_routes; i++) {
		char a[INET6_ADDRSTRLEN];
		text += strlen(sl_ipaddr_str(&c->push_routes[i].a, a, sizeof(a))) + 5; /* "/len," */
	}
	if (text > SL_PUSH_ROUTES_TEXT_MAX)
		return bad(p, en, "longer than %d characters in all", SL_PUSH_ROUTES_TEXT_MAX);
	return ret;
}

static int k_client_to_client(struct parse *p, const struct entry *en)
{
	return parse_bool(p, en, &p->cfg->client_to_client);
}

/* NAT = on (default): masquerade both pools out of Egress; off: routed, the pools' own addresses leave */
static int k_nat(struct parse *p, const struct entry *en)
{
	bool on = true;
	int ret = parse_bool(p, en, &on);

	p->cfg->nat_off = !on;
	return ret;
}

static int k_subnets_client_lan(struct parse *p, const struct entry *en)
{
	p->cfg->subnets_line = en->line;
	return parse_networks(p, en, p->cfg->subnets, SL_MAX_SUBNETS, &p->cfg->n_subnets);
}

static int k_keepalive(struct parse *p, const struct entry *en)
{
	return parse_uint_range(p, en, 1, 3600, &p->cfg->keepalive);
}

static int k_ping_interval(struct parse *p, const struct entry *en)
{
	return parse_uint_range(p, en, 5, 3600, &p->cfg->ping_interval);
}

static int k_session_lifetime(struct parse *p, const struct entry *en)
{
	return parse_uint_range(p, en, 60, 604800, &p->cfg->session_lifetime);
}

static int k_stats_interval(struct parse *p, const struct entry *en)
{
	return parse_uint_range(p, en, 0, 86400, &p->cfg->stats_interval);
}

static int k_user(struct parse *p, const struct entry *en)
{
	if (!en->val[0] || strlen(en->val) >= sizeof(p->cfg->user) || strpbrk(en->val, " \t:/"))
		return bad(p, en, "'%s' is not a user name", en->val);
	copy_str(p->cfg->user, sizeof(p->cfg->user), en->val);
	p->cfg->user_line = en->line;
	return 0;
}

/* ---- [Client] (gateway) */

static struct sl_client_cfg *cur_client(struct parse *p, const struct entry *en)
{
	return &p->cfg->clients[en->sect_no];
}

static int k_client_name(struct parse *p, const struct entry *en)
{
	if (strlen(en->val) >= SL_NAME_MAX || strchr(en->val, '=') || strpbrk(en->val, "\t\"\\"))
		return bad(p, en, "'%s' is not a usable name (< 64 characters, no '=', tab, quote or backslash)",
			   en->val);
	copy_str(cur_client(p, en)->name, SL_NAME_MAX, en->val);
	return 0;
}

static int k_client_pubkey(struct parse *p, const struct entry *en)
{
	if (key_from_base64(en->val, cur_client(p, en)->pubkey))
		return bad(p, en, "'%s' is not a base64 public key (44 characters)", en->val);
	return 0;
}

/* [Client] Address = one fixed address of each family (either optional). */
static int k_client_address(struct parse *p, const struct entry *en)
{
	struct sl_client_cfg *cl = cur_client(p, en);
	char badtok[CONFIG_LINE_MAX];
	struct sl_ipaddr a[3];
	unsigned n;
	int ret = addrlist_parse(en->val, a, 2, &n, badtok, sizeof(badtok));

	if (ret == -E2BIG)
		return bad(p, en, "more than one address of each family");
	if (ret)
		return bad(p, en, "'%s' is not an IPv4 or IPv6 address", badtok);
	cl->has_addr = cl->has_addr6 = false;
	for (unsigned i = 0; i < n; i++) {
		if (a[i].family == AF_INET) {
			if (cl->has_addr)
				return bad(p, en, "more than one IPv4 address");
			cl->has_addr = true;
			cl->addr = a[i].v4;
		} else {
			if (cl->has_addr6)
				return bad(p, en, "more than one IPv6 address");
			cl->has_addr6 = true;
			cl->addr6 = a[i].v6;
		}
	}
	return 0;
}

static int k_client_psk(struct parse *p, const struct entry *en)
{
	struct sl_client_cfg *cl = cur_client(p, en);

	return load_psk(p, en, &cl->has_psk, cl->psk);
}

static int k_client_subnets(struct parse *p, const struct entry *en)
{
	struct sl_client_cfg *cl = cur_client(p, en);

	cl->subnets_line = en->line;
	return parse_networks(p, en, cl->subnets, SL_MAX_SUBNETS, &cl->n_subnets);
}

/* ---- [Server] (client; may repeat: tried in file order) */

static struct sl_server_cfg *cur_server(struct parse *p, const struct entry *en)
{
	return &p->cfg->servers[en->sect_no];
}

static int k_endpoint(struct parse *p, const struct entry *en)
{
	struct sl_server_cfg *srv = cur_server(p, en);

	if (split_host_port(en->val, srv->host, sizeof(srv->host), &srv->port))
		return bad(p, en, "'%s' is not HOST:PORT (port 1..65535)", en->val);
	if (en->val[0] == '[' && !valid_host(srv->host, true))
		return bad(p, en, "'%s' is not an IPv6 address", srv->host);
	if (!valid_host(srv->host, false))
		return bad(p, en, "'%s' is neither an IP address nor a host name", srv->host);
	srv->endpoint_line = en->line;
	return 0;
}

static int k_server_pubkey(struct parse *p, const struct entry *en)
{
	if (key_from_base64(en->val, cur_server(p, en)->pubkey))
		return bad(p, en, "'%s' is not a base64 public key (44 characters)", en->val);
	return 0;
}

static int k_server_psk(struct parse *p, const struct entry *en)
{
	struct sl_server_cfg *srv = cur_server(p, en);

	return load_psk(p, en, &srv->has_psk, srv->psk);
}

static int k_server_stealth(struct parse *p, const struct entry *en)
{
	return parse_bool(p, en, &cur_server(p, en)->stealth);
}

static int k_stealth(struct parse *p, const struct entry *en)
{
	return parse_bool(p, en, &p->cfg->stealth);
}

static const struct key_def keys[] = {
	{SECT_INTERFACE, "Mode", M_ANY, k_mode},
	{SECT_INTERFACE, "PrivateKeyFile", M_ANY, k_private_key_file},
	{SECT_INTERFACE, "Listen", M_S, k_listen},
	{SECT_INTERFACE, "Address", M_S, k_address_gw},
	{SECT_INTERFACE, "MTU", M_ANY, k_mtu},
	{SECT_INTERFACE, "Egress", M_S, k_egress},
	{SECT_INTERFACE, "DNS", M_ANY, k_dns},
	{SECT_INTERFACE, "Domains", M_S, k_domains},
	{SECT_INTERFACE, "StateDir", M_ANY, k_state_dir},
	{SECT_INTERFACE, "Name", M_ANY, k_name},
	{SECT_INTERFACE, "KillSwitch", M_C, k_killswitch},
	{SECT_INTERFACE, "KillSwitchAllowLAN", M_C, k_killswitch_lan},
	{SECT_INTERFACE, "Routes", M_C, k_routes},
	{SECT_INTERFACE, "Keepalive", M_C, k_keepalive},
	{SECT_INTERFACE, "PingInterval", M_C, k_ping_interval},
	{SECT_INTERFACE, "SessionLifetime", M_S, k_session_lifetime},
	{SECT_INTERFACE, "StatsInterval", M_ANY, k_stats_interval},
	{SECT_INTERFACE, "User", M_S, k_user},
	{SECT_INTERFACE, "MetricsListen", M_ANY, k_metrics_listen},
	{SECT_INTERFACE, "Stealth", M_S, k_stealth},
	{SECT_INTERFACE, "Registry", M_S, k_registry},
	{SECT_INTERFACE, "RegistryCAFile", M_S, k_registry_ca},
	{SECT_INTERFACE, "RegistryCertFile", M_S, k_registry_cert},
	{SECT_INTERFACE, "RegistryKeyFile", M_S, k_registry_key},
	{SECT_CLIENT, "Name", M_S, k_client_name},
	{SECT_CLIENT, "PublicKey", M_S, k_client_pubkey},
	{SECT_CLIENT, "Address", M_S, k_client_address},
	{SECT_CLIENT, "PresharedKeyFile", M_S, k_client_psk},
	{SECT_INTERFACE, "PushRoutes", M_S, k_push_routes},
	{SECT_INTERFACE, "ClientToClient", M_S, k_client_to_client},
	{SECT_INTERFACE, "NAT", M_S, k_nat},
	{SECT_INTERFACE, "Subnets", M_C, k_subnets_client_lan},
	{SECT_CLIENT, "Subnets", M_S, k_client_subnets},
	{SECT_SERVER, "Endpoint", M_C, k_endpoint},
	{SECT_SERVER, "PublicKey", M_C, k_server_pubkey},
	{SECT_SERVER, "PresharedKeyFile", M_C, k_server_psk},
	{SECT_SERVER, "Stealth", M_C, k_server_stealth},
};

static const struct key_def *key_find(enum sect s, const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sect == s && !strcasecmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = 0;
	return s;
}

/* Pass 1: lines into entries. */
static int split_lines(const char *text, size_t len, const char *path, struct entry **out, size_t *n_out,
		       char **buf_out, int sect_lines[][2], int *n_clients, struct client_lines **cl_out,
		       int srv_hdr[SL_MAX_SERVERS], int *n_servers, struct sl_err *e)
{
	struct client_lines *cl = NULL;
	struct entry *en = NULL;
	char *buf = malloc(len + 1); /* the lines, cut in place; the entries' values point into it */
	size_t n = 0, cap = 0, pos = 0, cl_cap = 0;
	enum sect sect = SECT_NONE;
	int lineno = 0, n_if = 0, ret = 0;

	*n_clients = 0;
	*n_servers = 0;
	if (!buf)
		return sl_errf(e, -ENOMEM, "%s: out of memory", path);
	memcpy(buf, text, len);
	buf[len] = 0;
	while (pos < len) {
		char *line = buf + pos, *s, *eq;
		size_t end = pos;

		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		if (end - pos >= CONFIG_LINE_MAX) {
			ret = sl_errf(e, -EINVAL, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		if (memchr(text + pos, 0, end - pos)) {
			ret = sl_errf(e, -EINVAL, "%s:%d: NUL byte in line", path, lineno);
			goto fail;
		}
		line[end - pos] = 0;
		pos = end + 1;
		line[strcspn(line, "#")] = 0;
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			if (s[strlen(s) - 1] != ']') {
				ret = sl_errf(e, -EINVAL, "%s:%d: bad section header '%s'", path, lineno, s);
				goto fail;
			}
			if (!strcasecmp(s, "[Interface]")) {
				sect = SECT_INTERFACE;
				if (n_if++) {
					ret = sl_errf(e, -EINVAL, "%s:%d: second [Interface] section (first on line %d)",
						      path, lineno, sect_lines[SECT_INTERFACE][0]);
					goto fail;
				}
				sect_lines[SECT_INTERFACE][0] = lineno;
			} else if (!strcasecmp(s, "[Client]")) {
				struct client_lines *ncl;
				sect = SECT_CLIENT;
				if (++*n_clients > CONFIG_MAX_SECTIONS) {
					ret = sl_errf(e, -EINVAL, "%s:%d: too many [Client] sections", path, lineno);
					goto fail;
				}
				if ((size_t)*n_clients > cl_cap) {
					size_t nc = cl_cap ? cl_cap * 2 : 16;
					ncl = realloc(cl, nc * sizeof(*cl));
					if (!ncl) {
						ret = sl_errf(e, -ENOMEM, "%s: out of memory", path);
						goto fail;
					}
					cl = ncl;
					cl_cap = nc;
				}
				memset(&cl[*n_clients - 1], 0, sizeof(*cl));
				cl[*n_clients - 1].hdr = lineno;
			} else if (!strcasecmp(s, "[Server]")) {
				sect = SECT_SERVER;
				if (*n_servers == SL_MAX_SERVERS) {
					ret = sl_errf(e, -EINVAL, "%s:%d: too many [Server] sections (at most %d)", path,
						      lineno, SL_MAX_SERVERS);
					goto fail;
				}
				srv_hdr[(*n_servers)++] = lineno;
				if (!sect_lines[SECT_SERVER][0])
					sect_lines[SECT_SERVER][0] = lineno;
			} else {
				ret = sl_errf(e, -EINVAL, "%s:%d: unknown section '%s'", path, lineno, s);
				goto fail;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			ret = sl_errf(e, -EINVAL, "%s:%d: expected 'Key = Value', got '%s'", path, lineno, s);
			goto fail;
		}
		if (sect == SECT_NONE) {
			ret = sl_errf(e, -EINVAL, "%s:%d: key outside of any section", path, lineno);
			goto fail;
		}
		*eq = 0;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct entry *ne = realloc(en, nc * sizeof(*ne));
			if (!ne) {
				ret = sl_errf(e, -ENOMEM, "%s: out of memory", path);
				goto fail;
			}
			en = ne;
			cap = nc;
		}
		memset(&en[n], 0, sizeof(en[n]));
		en[n].sect = sect;
		en[n].sect_no = sect == SECT_CLIENT ? *n_clients - 1 : sect == SECT_SERVER ? *n_servers - 1 : 0;
		en[n].line = lineno;
		if (strlen(trim(s)) >= sizeof(en[n].key)) {
			ret = sl_errf(e, -EINVAL, "%s:%d: unknown key '%.40s…'", path, lineno, trim(s));
			goto fail;
		}
		copy_str(en[n].key, sizeof(en[n].key), trim(s));
		en[n].val = trim(eq + 1);
		if (!en[n].key[0]) {
			ret = sl_errf(e, -EINVAL, "%s:%d: empty key", path, lineno);
			goto fail;
		}
		if (!en[n].val[0]) {
			ret = sl_errf(e, -EINVAL, "%s:%d: %s: empty value", path, lineno, en[n].key);
			goto fail;
		}
		for (size_t i = n; i-- > 0;) {
			if (en[i].sect == sect && en[i].sect_no == en[n].sect_no &&
			    !strcasecmp(en[i].key, en[n].key)) {
				ret = sl_errf(e, -EINVAL, "%s:%d: duplicate key '%s' (first on line %d)", path,
					      lineno, en[n].key, en[i].line);
				goto fail;
			}
			if (en[i].sect != sect || en[i].sect_no != en[n].sect_no)
				break; /* entries of one section are contiguous */
		}
		n++;
	}
	*out = en;
	*n_out = n;
	*cl_out = cl;
	*buf_out = buf;
	return 0;
fail:
	free(en);
	free(cl);
	free(buf);
	return ret;
}

static void defaults(struct sl_config *c, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;

	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", path);
	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 5 && !strcmp(base + len - 5, ".conf"))
		len -= 5;
	if (len < IFNAMSIZ)
		snprintf(c->ifname, sizeof(c->ifname), "%.*s", (int)len, base);
	c->session_lifetime = SL_SESSION_LIFETIME_DEFAULT;
	c->keepalive = SL_KEEPALIVE_DEFAULT;
	c->ping_interval = SL_PING_INTERVAL_DEFAULT;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", SL_STATE_DIR_DEFAULT);
}

/* Does the gateway's tunnel carry IPv6 (an IPv6 Address, DESIGN 9)? Without it an IPv6 client Subnet could be
 * neither routed nor accepted, so it is refused rather than ignored. */
static bool gw_carries_ipv6(const struct sl_config *c)
{
	return c->address6.len != 0;
}

/* Duplicate detection among [Client]s (check_server): one open-addressing hash table per unique field, each
 * mapping a value to the first client that has it, so that a file of 100,000 clients is checked in O(n) and not
 * O(n^2). Client i is looked up among clients 0..i-1 and then added, which gives exactly the messages of a
 * pairwise scan: the earliest earlier client that clashes, its Name first, then PublicKey, Address (IPv4 or
 * IPv6), Subnets. */
struct dup_tab {
	uint32_t *slot; /* 1 + client index (for subnets: 1 + client * SL_MAX_SUBNETS + subnet); 0 = empty */
	size_t mask;
};

struct dup_tabs {
	const struct sl_config *c;
	struct dup_tab name, key, addr, addr6, subnet;
};

static uint64_t dup_hash(const void *data, size_t len, uint64_t h)
{
	const unsigned char *b = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
	return h ^ (h >> 29);
}

static int dup_tab_init(struct dup_tab *t, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	t->slot = calloc(cap, sizeof(*t->slot));
	t->mask = cap - 1;
	return t->slot ? 0 : -ENOMEM;
}

static int dup_tabs_init(struct dup_tabs *dt, size_t n_clients)
{
	size_t n_subnets = n_clients * SL_MAX_SUBNETS;
	if (n_subnets > SL_MAX_SUBNETS_TOTAL + SL_MAX_SUBNETS)
		n_subnets = SL_MAX_SUBNETS_TOTAL + SL_MAX_SUBNETS; /* check_server stops past the total */
	if (dup_tab_init(&dt->name, n_clients) || dup_tab_init(&dt->key, n_clients) ||
	    dup_tab_init(&dt->addr, n_clients) || dup_tab_init(&dt->addr6, n_clients) ||
	    dup_tab_init(&dt->subnet, n_subnets))
		return -ENOMEM;
	return 0;
}

static void dup_tabs_free(struct dup_tabs *dt)
{
	free(dt->name.slot);
	free(dt->key.slot);
	free(dt->addr.slot);
	free(dt->addr6.slot);
	free(dt->subnet.slot);
}

enum dup_kind { DUP_NAME, DUP_KEY, DUP_ADDR, DUP_ADDR6, DUP_SUBNET };

static bool dup_eq(const struct sl_config *c, enum dup_kind k, uint32_t v, size_t i, unsigned a)
{
	const struct sl_client_cfg *cl = &c->clients[i], *o;
	if (k == DUP_SUBNET) {
		const struct sl_prefix *x = &c->clients[v / SL_MAX_SUBNETS].subnets[v % SL_MAX_SUBNETS];
		return x->len == cl->subnets[a].len && sl_ipaddr_eq(&x->a, &cl->subnets[a].a);
	}
	o = &c->clients[v];
	switch (k) {
	case DUP_NAME:
		return !strcmp(o->name, cl->name);
	case DUP_KEY:
		return !memcmp(o->pubkey, cl->pubkey, SL_KEY_LEN);
	case DUP_ADDR6:
		return !memcmp(&o->addr6, &cl->addr6, sizeof(cl->addr6));
	default:
		return o->addr.s_addr == cl->addr.s_addr;
	}
}

static uint64_t dup_key_hash(const struct sl_config *c, enum dup_kind k, size_t i, unsigned a)
{
	const struct sl_client_cfg *cl = &c->clients[i];
	const struct sl_prefix *x = &cl->subnets[a];
	switch (k) {
	case DUP_NAME:
		return dup_hash(cl->name, strlen(cl->name), 0xcbf29ce484222325ull);
	case DUP_KEY:
		return dup_hash(cl->pubkey, SL_KEY_LEN, 0xcbf29ce484222325ull);
	case DUP_ADDR:
		return dup_hash(&cl->addr, sizeof(cl->addr), 0xcbf29ce484222325ull);
	case DUP_ADDR6:
		return dup_hash(&cl->addr6, sizeof(cl->addr6), 0xcbf29ce484222325ull);
	default:
		return dup_hash(&x->len, 1, x->a.family == AF_INET ? dup_hash(&x->a.v4, 4, 0xcbf29ce484222325ull)
								   : dup_hash(&x->a.v6, 16, 0x84222325cbf29ce4ull));
	}
}

/* The slot of client i's value (its subnet a): the earlier holder's, or the empty one to take. */
static uint32_t *dup_slot(struct dup_tab *t, const struct sl_config *c, enum dup_kind k, size_t i, unsigned a)
{
	size_t s = (size_t)dup_key_hash(c, k, i, a) & t->mask;
	while (t->slot[s] && !dup_eq(c, k, t->slot[s] - 1, i, a))
		s = (s + 1) & t->mask;
	return &t->slot[s];
}

static int dup_check(struct parse *p, struct dup_tabs *dt, size_t i, const struct client_lines *cl_lines)
{
	const struct sl_config *c = p->cfg;
	const struct sl_client_cfg *cl = &c->clients[i];
	const struct client_lines *l = &cl_lines[i];
	uint32_t *sn = dup_slot(&dt->name, c, DUP_NAME, i, 0), *sk = dup_slot(&dt->key, c, DUP_KEY, i, 0);
	uint32_t *sa = cl->has_addr ? dup_slot(&dt->addr, c, DUP_ADDR, i, 0) : NULL, *ss[SL_MAX_SUBNETS];
	uint32_t *sa6 = cl->has_addr6 ? dup_slot(&dt->addr6, c, DUP_ADDR6, i, 0) : NULL;
	size_t first = SIZE_MAX; /* the earliest earlier client that clashes */
	char str[INET6_ADDRSTRLEN];

	if (*sn)
		first = *sn - 1;
	if (*sk && *sk - 1 < first)
		first = *sk - 1;
	if (sa && *sa && *sa - 1 < first)
		first = *sa - 1;
	if (sa6 && *sa6 && *sa6 - 1 < first)
		first = *sa6 - 1;
	for (unsigned a = 0; a < cl->n_subnets && a < SL_MAX_SUBNETS; a++) {
		ss[a] = dup_slot(&dt->subnet, c, DUP_SUBNET, i, a);
		if (*ss[a] && (*ss[a] - 1) / SL_MAX_SUBNETS < first)
			first = (*ss[a] - 1) / SL_MAX_SUBNETS;
	}
	if (first != SIZE_MAX) {
		const struct sl_client_cfg *o = &c->clients[first];
		const struct client_lines *ol = &cl_lines[first];
		if (*sn && *sn - 1 == first)
			return sl_errf(p->e, -EINVAL, "%s:%d: Name: duplicate of client '%s' (line %d)", p->path,
				       l->name, o->name, ol->name);
		if (*sk && *sk - 1 == first)
			return sl_errf(p->e, -EINVAL, "%s:%d: PublicKey: duplicate of client '%s' (line %d)",
				       p->path, l->key, o->name, ol->key);
		if ((sa && *sa && *sa - 1 == first) || (sa6 && *sa6 && *sa6 - 1 == first))
			return sl_errf(p->e, -EINVAL, "%s:%d: Address: duplicate of client '%s' (line %d)",
				       p->path, l->addr, o->name, ol->addr);
		for (unsigned a = 0; a < cl->n_subnets; a++)
			if (*ss[a] && (*ss[a] - 1) / SL_MAX_SUBNETS == first)
				return sl_errf(p->e, -EINVAL, "%s:%d: Subnets: %s/%u is already client '%s''s (line %d)",
					       p->path, l->subnets, sl_ipaddr_str(&cl->subnets[a].a, str, sizeof(str)),
					       cl->subnets[a].len, o->name, ol->subnets);
	}
	*sn = (uint32_t)i + 1;
	*sk = (uint32_t)i + 1;
	if (sa)
		*sa = (uint32_t)i + 1;
	if (sa6)
		*sa6 = (uint32_t)i + 1;
	for (unsigned a = 0; a < cl->n_subnets; a++) {
		uint32_t *s = dup_slot(&dt->subnet, c, DUP_SUBNET, i, a); /* again: an earlier subnet of its own */
		if (!*s)                                                  /* may have taken ss[a] */
			*s = (uint32_t)(i * SL_MAX_SUBNETS + a) + 1;
	}
	return 0;
}

static int check_server_in(struct parse *p, int if_line, const struct client_lines *cl_lines, struct dup_tabs *dt)
{
	struct sl_config *c = p->cfg;
	uint32_t net = ntohl(c->address.addr.s_addr) & prefix_mask(c->address.len), m = prefix_mask(c->address.len);
	unsigned total_subnets = 0;
	char sa[INET6_ADDRSTRLEN];
	int ret;

	if (!c->listen_len)
		return sl_errf(p->e, -EINVAL, "%s:%d: [Interface] of a server needs Listen", p->path, if_line);
	if (!c->address.len && !c->address6.len)
		return sl_errf(p->e, -EINVAL, "%s:%d: [Interface] of a server needs Address (an IPv4 or IPv6 prefix, "
			       "or one of each)", p->path, if_line);
	/* the registry's leases and pool record are IPv4 ones (fleet.h): an IPv6-only fleet is not built yet */
	if (c->has_registry && !c->address.len)
		return sl_errf(p->e, -EINVAL, "%s:%d: Registry needs an IPv4 prefix in Address (an IPv6-only gateway "
			       "serves the clients of its file only)", p->path, if_line);
	if (c->address6.len && c->mtu && c->mtu < SLUICE_MTU_MIN6)
		return sl_errf(p->e, -EINVAL, "%s:%d: MTU %u is below %u, IPv6's minimum (Address has an IPv6 prefix)",
			       p->path, if_line, c->mtu, SLUICE_MTU_MIN6);
	if (!c->registry_cert_file[0] != !c->registry_key_file[0])
		return sl_errf(p->e, -EINVAL, "%s:%d: RegistryCertFile and RegistryKeyFile go together (etcd's client "
			       "certificate and its key)", p->path, if_line);
	if (c->registry_cert_file[0] && !(c->has_registry && c->registry.tls))
		return sl_errf(p->e, -EINVAL, "%s:%d: RegistryCertFile needs Registry = etcds://... (TLS)", p->path,
			       if_line);
	if (dup_tabs_init(dt, c->n_clients))
		return sl_errf(p->e, -ENOMEM, "%s: out of memory", p->path);
	for (size_t i = 0; i < c->n_clients; i++) {
		struct sl_client_cfg *cl = &c->clients[i];
		const struct client_lines *l = &cl_lines[i];
		int line = l->hdr;
		cl->line = line;
		if (!cl->name[0])
			return sl_errf(p->e, -EINVAL, "%s:%d: [Client] needs Name", p->path, line);
		if (!memcmp(cl->pubkey, (uint8_t[SL_KEY_LEN]){0}, SL_KEY_LEN))
			return sl_errf(p->e, -EINVAL, "%s:%d: [Client] '%s' needs PublicKey", p->path, line,
				       cl->name);
		if (cl->has_addr && !c->address.len)
			return sl_errf(p->e, -EINVAL,
				       "%s:%d: [Client] '%s': IPv4 Address %s but [Interface] Address has no IPv4 prefix",
				       p->path, l->addr, cl->name, inet_ntoa(cl->addr));
		if (cl->has_addr) {
			uint32_t h = ntohl(cl->addr.s_addr);
			if ((h & m) != net || (h & ~m) == 0 || (h & ~m) == ~m)
				return sl_errf(p->e, -EINVAL,
					       "%s:%d: [Client] '%s': Address %s is not a host address of the pool "
					       "(Address = .../%u of [Interface])",
					       p->path, l->addr, cl->name, inet_ntoa(cl->addr), c->address.len);
			if (cl->addr.s_addr == c->address.addr.s_addr)
				return sl_errf(p->e, -EINVAL, "%s:%d: [Client] '%s': Address is the gateway's own",
					       p->path, l->addr, cl->name);
		}
		if (cl->has_addr6) {
			char t[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, &cl->addr6, t, sizeof(t));
			if (!c->address6.len)
				return sl_errf(p->e, -EINVAL,
					       "%s:%d: [Client] '%s': IPv6 Address %s but [Interface] Address has no "
					       "IPv6 prefix", p->path, l->addr, cl->name, t);
			if (!pool6_offset(&c->address6, &cl->addr6, NULL))
				return sl_errf(p->e, -EINVAL,
					       "%s:%d: [Client] '%s': Address %s is not one of the IPv6 pool's "
					       "(the first %u host addresses of [Interface] Address's prefix /%u)",
					       p->path, l->addr, cl->name, t, SL_POOL6_MAX, c->address6.len);
			if (!memcmp(&cl->addr6, &c->address6.addr, sizeof(cl->addr6)))
				return sl_errf(p->e, -EINVAL, "%s:%d: [Client] '%s': Address %s is the gateway's own",
					       p->path, l->addr, cl->name, t);
		}
		if ((ret = dup_check(p, dt, i, cl_lines)))
			return ret;
		for (unsigned a = 0; a < cl->n_subnets; a++)
			if ((cl->subnets[a].a.family == AF_INET6 && !gw_carries_ipv6(c)) ||
			    (cl->subnets[a].a.family == AF_INET && !c->address.len))
				return sl_errf(p->e, -EINVAL,
					       "%s:%d: Subnets: %s/%u is %s, and [Interface] Address has no %s prefix",
					       p->path, l->subnets, sl_ipaddr_str(&cl->subnets[a].a, sa, sizeof(sa)),
					       cl->subnets[a].len, cl->subnets[a].a.family == AF_INET6 ? "IPv6" : "IPv4",
					       cl->subnets[a].a.family == AF_INET6 ? "IPv6" : "IPv4");
		total_subnets += cl->n_subnets;
		if (total_subnets > SL_MAX_SUBNETS_TOTAL)
			return sl_errf(p->e, -EINVAL, "%s:%d: Subnets: more than %d in all clients together",
				       p->path, l->subnets, SL_MAX_SUBNETS_TOTAL);
	}
	return 0;
}

static int check_server(struct parse *p, int if_line, const struct client_lines *cl_lines)
{
	struct dup_tabs dt = {0};
	int ret = check_server_in(p, if_line, cl_lines, &dt);

	dup_tabs_free(&dt);
	return ret;
}

static int check_client(struct parse *p, int if_line, const int srv_hdr[SL_MAX_SERVERS], int n_servers)
{
	struct sl_config *c = p->cfg;

	if (!n_servers)
		return sl_errf(p->e, -EINVAL, "%s:%d: a client needs a [Server] section", p->path, if_line);
	c->n_servers = (unsigned)n_servers;
	for (unsigned i = 0; i < c->n_servers; i++) {
		struct sl_server_cfg *srv = &c->servers[i];
		srv->line = srv_hdr[i];
		if (!srv->port)
			return sl_errf(p->e, -EINVAL, "%s:%d: [Server] needs Endpoint", p->path, srv->line);
		if (!memcmp(srv->pubkey, (uint8_t[SL_KEY_LEN]){0}, SL_KEY_LEN))
			return sl_errf(p->e, -EINVAL, "%s:%d: [Server] needs PublicKey", p->path, srv->line);
		for (unsigned j = 0; j < i; j++)
			if (c->servers[j].port == srv->port && !strcasecmp(c->servers[j].host, srv->host))
				return sl_errf(p->e, -EINVAL,
					       "%s:%d: Endpoint: duplicate of the [Server] on line %d", p->path,
					       srv->endpoint_line, c->servers[j].line);
	}
	if (!c->n_routes && !c->n_routes6 && !c->routes_pushed) {
		c->n_routes = 1; /* full tunnel, both families (::/0 is implied: DESIGN 10.2) */
		c->routes[0].addr.s_addr = 0;
		c->routes[0].len = 0;
	}
	return 0;
}

int config_parse(const char *text, size_t len, const char *path, bool load_key, struct sl_config *cfg,
		 struct sl_err *e)
{
	struct parse p = {.path = path, .cfg = cfg, .e = e, .load_key = load_key};
	int sect_lines[4][2] = {{0}}, n_clients = 0, srv_hdr[SL_MAX_SERVERS] = {0}, n_servers = 0, ret;
	struct client_lines *cl_lines = NULL;
	struct entry *en = NULL;
	char *buf = NULL;
	size_t n = 0;

	defaults(cfg, path);
	ret = split_lines(text, len, path, &en, &n, &buf, sect_lines, &n_clients, &cl_lines, srv_hdr, &n_servers, e);
	if (ret)
		return ret;
	if (!sect_lines[SECT_INTERFACE][0]) {
		ret = sl_errf(e, -EINVAL, "%s:0: no [Interface] section", path);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (en[i].sect == SECT_INTERFACE && !strcasecmp(en[i].key, "Mode") && (ret = k_mode(&p, &en[i])))
			goto out;
	if (!cfg->mode) {
		ret = sl_errf(e, -EINVAL, "%s:%d: [Interface] needs Mode = server or client", path,
			      sect_lines[SECT_INTERFACE][0]);
		goto out;
	}
	p.mode_bit = cfg->mode == SL_MODE_SERVER ? M_S : M_C;
	if (n_clients) {
		cfg->clients = calloc((size_t)n_clients, sizeof(*cfg->clients));
		if (!cfg->clients) {
			ret = sl_errf(e, -ENOMEM, "%s: out of memory", path);
			goto out;
		}
		cfg->n_clients = (size_t)n_clients;
	}
	if (cfg->mode == SL_MODE_CLIENT && n_clients) {
		ret = sl_errf(e, -EINVAL, "%s: [Client] sections belong in a server's configuration (Mode = client)",
			      path);
		goto out;
	}
	if (cfg->mode == SL_MODE_SERVER && sect_lines[SECT_SERVER][0]) {
		ret = sl_errf(e, -EINVAL, "%s:%d: [Server] belongs in a client's configuration (Mode = server)", path,
			      sect_lines[SECT_SERVER][0]);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct key_def *k = key_find(en[i].sect, en[i].key);
		if (!k) {
			ret = sl_errf(e, -EINVAL, "%s:%d: unknown key '%s' in %s", path, en[i].line, en[i].key,
				      sect_name[en[i].sect]);
			goto out;
		}
		if (!(k->modes & p.mode_bit)) {
			ret = sl_errf(e, -EINVAL, "%s:%d: %s is not a key of a %s", path, en[i].line, k->name,
				      cfg->mode == SL_MODE_SERVER ? "server (Mode = server)" : "client (Mode = client)");
			goto out;
		}
		if (en[i].sect == SECT_CLIENT) {
			struct client_lines *l = &cl_lines[en[i].sect_no];
			if (k->fn == k_client_name)
				l->name = en[i].line;
			else if (k->fn == k_client_pubkey)
				l->key = en[i].line;
			else if (k->fn == k_client_subnets)
				l->subnets = en[i].line;
			else if (k->fn == k_client_address)
				l->addr = en[i].line;
		}
		if (k->fn != k_mode && (ret = k->fn(&p, &en[i])))
			goto out;
	}
	if (!cfg->private_key_file[0]) {
		ret = sl_errf(e, -EINVAL, "%s:%d: [Interface] needs PrivateKeyFile", path, sect_lines[SECT_INTERFACE][0]);
		goto out;
	}
	if (!cfg->ifname[0]) {
		ret = sl_errf(e, -EINVAL, "%s:%d: the file name gives no usable interface name; set Name =", path,
			      sect_lines[SECT_INTERFACE][0]);
		goto out;
	}
	ret = cfg->mode == SL_MODE_SERVER ? check_server(&p, sect_lines[SECT_INTERFACE][0], cl_lines)
					  : check_client(&p, sect_lines[SECT_INTERFACE][0], srv_hdr, n_servers);
	if (ret)
		goto out;
	if (load_key) {
		struct sl_err ke = {{0}};
		int line = 0;
		for (size_t i = 0; i < n; i++)
			if (en[i].sect == SECT_INTERFACE && !strcasecmp(en[i].key, "PrivateKeyFile"))
				line = en[i].line;
		ret = key_load_private_file(cfg->private_key_file, cfg->private_key, &ke);
		if (ret) {
			sl_errf(e, ret, "%s:%d: PrivateKeyFile %s", path, line, ke.msg);
			goto out;
		}
		ret = key_public(cfg->private_key, cfg->public_key);
		if (ret) {
			sl_errf(e, ret, "%s:%d: PrivateKeyFile %s: not a valid Ed25519 key", path, line,
				cfg->private_key_file);
			goto out;
		}
	}
out:
	free(en);
	free(buf);
	free(cl_lines);
	if (ret)
		config_free(cfg);
	return ret;
}

int config_load(const char *path, struct sl_config *cfg, struct sl_err *e)
{
	struct stat st;
	char *text;
	ssize_t got = 0;
	int fd, ret;

	memset(cfg, 0, sizeof(*cfg));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sl_errf(e, -errno, "%s: cannot read: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return sl_errf(e, -EINVAL, "%s: not a regular file", path);
	}
	if (st.st_size > (off_t)CONFIG_FILE_MAX) {
		close(fd);
		return sl_errf(e, -EFBIG, "%s: %lld bytes, more than the %u MiB a configuration file may have", path,
			       (long long)st.st_size, CONFIG_FILE_MAX >> 20);
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return sl_errf(e, -ENOMEM, "%s: out of memory", path);
	}
	while (got < st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)(st.st_size - got));
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	ret = config_parse(text, (size_t)got, path, true, cfg, e);
	free(text);
	if (!ret && cfg->user[0]) {
		struct passwd pw, *res = NULL;
		char buf[4096];
		int err = getpwnam_r(cfg->user, &pw, buf, sizeof(buf), &res);
		if (err || !res) {
			sl_errf(e, -EINVAL, "%s:%d: User '%s': %s", path, cfg->user_line, cfg->user,
				err ? strerror(err) : "no such user");
			config_free(cfg);
			return -EINVAL;
		}
		cfg->uid = pw.pw_uid;
		cfg->gid = pw.pw_gid;
	}
	return ret;
}

void config_free(struct sl_config *cfg)
{
	if (cfg->clients)
		OPENSSL_cleanse(cfg->clients, cfg->n_clients * sizeof(*cfg->clients)); /* their PSKs */
	for (unsigned i = 0; i < SL_MAX_SERVERS; i++)
		OPENSSL_cleanse(cfg->servers[i].psk, sizeof(cfg->servers[i].psk));
	free(cfg->clients);
	cfg->clients = NULL;
	cfg->n_clients = 0;
	OPENSSL_cleanse(cfg->private_key, sizeof(cfg->private_key));
}

bool config_full_tunnel(const struct sl_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_routes; i++)
		if (!cfg->routes[i].len)
			return true;
	for (unsigned i = 0; i < cfg->n_routes6; i++)
		if (!cfg->routes6[i].len)
			return true;
	return false;
}

bool pool6_offset(const struct sl_prefix6 *pfx, const struct in6_addr *a, uint32_t *off)
{
	uint32_t low = 0;

	/* the pool's addresses are the prefix with only their last 16 bits (at most) set: bits of the prefix
	 * match it, bits after it and before the last 16 are 0 */
	for (unsigned b = 0; b < 128; b++) {
		unsigned bit = (a->s6_addr[b / 8] >> (7 - b % 8)) & 1;
		unsigned pbit = (pfx->addr.s6_addr[b / 8] >> (7 - b % 8)) & 1;
		if (b < pfx->len) {
			if (bit != pbit)
				return false;
		} else if (b < 112) {
			if (bit)
				return false;
		} else { /* past the prefix, in the last 16 bits: the offset */
			low |= (uint32_t)bit << (127 - b);
		}
	}
	if (!low)
		return false; /* the prefix itself: its subnet-router anycast address */
	if (off)
		*off = low;
	return true;
}

bool config_server_literal(const struct sl_server_cfg *srv, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, srv->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(srv->port);
		*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, srv->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(srv->port);
		*len = sizeof(*s6);
		return true;
	}
	return false;
}

void config_default_path(const char *ifname, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.conf", SL_CONFIG_DIR, ifname);
}
