/* lists: comma-separated addresses of either family and domain names (DESIGN 10.1). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/lists.h"

/* Calls fn on each trimmed item; an empty list, an empty item or whitespace inside one is -EINVAL. */
static int each_item(const char *val, int (*fn)(const char *item, void *arg), void *arg, char *bad, size_t badlen)
{
	const char *p = val;

	for (;;) {
		const char *end = strchr(p, ','), *a = p, *b;
		char item[SL_DOMAIN_MAX + 2];
		int ret;

		if (!end)
			end = p + strlen(p);
		b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b == a || (size_t)(b - a) >= sizeof(item)) {
			snprintf(bad, badlen, "%.*s", (int)(end - p), p);
			return -EINVAL;
		}
		memcpy(item, a, (size_t)(b - a));
		item[b - a] = 0;
		for (const char *c = item; *c; c++)
			if (isspace((unsigned char)*c)) {
				snprintf(bad, badlen, "%s", item);
				return -EINVAL;
			}
		ret = fn(item, arg);
		if (ret) {
			snprintf(bad, badlen, "%s", item);
			return ret;
		}
		if (!*end)
			return 0;
		p = end + 1;
	}
}

struct addr_acc {
	struct sl_ipaddr *out;
	unsigned max, n;
};

static int add_addr(const char *item, void *arg)
{
	struct addr_acc *acc = arg;
	struct sl_ipaddr a = {0};

	if (inet_pton(AF_INET, item, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, item, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	if (acc->n == acc->max)
		return -E2BIG;
	acc->out[acc->n++] = a;
	return 0;
}

int addrlist_parse(const char *val, struct sl_ipaddr *out, unsigned max, unsigned *n, char *bad, size_t badlen)
{
	struct addr_acc acc = {.out = out, .max = max};
	int ret = each_item(val, add_addr, &acc, bad, badlen);

	*n = ret ? 0 : acc.n;
	return ret;
}

int prefix_parse(const char *s, struct sl_prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 5], *slash, *end;
	unsigned long len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash || !isdigit((unsigned char)slash[1]))
		return -EINVAL;
	*slash = 0;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, &out->a.v4) == 1)
		out->a.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &out->a.v6) == 1)
		out->a.family = AF_INET6;
	else
		return -EINVAL;
	len = strtoul(slash + 1, &end, 10);
	if (*end || len > (out->a.family == AF_INET ? 32u : 128u))
		return -EINVAL;
	out->len = (uint8_t)len;
	return 0;
}

bool prefix_host_bits(const struct sl_prefix *p)
{
	const uint8_t *b = p->a.family == AF_INET ? (const uint8_t *)&p->a.v4 : p->a.v6.s6_addr;
	unsigned bits = p->a.family == AF_INET ? 32 : 128;

	for (unsigned i = p->len; i < bits; i++)
		if (b[i / 8] & (0x80u >> (i % 8)))
			return true;
	return false;
}

struct prefix_acc {
	struct sl_prefix *out;
	unsigned max, n;
};

static int add_prefix(const char *item, void *arg)
{
	struct prefix_acc *acc = arg;
	struct sl_prefix p;

	if (prefix_parse(item, &p))
		return -EINVAL;
	if (acc->n == acc->max)
		return -E2BIG;
	acc->out[acc->n++] = p;
	return 0;
}

int prefixlist_parse(const char *val, struct sl_prefix *out, unsigned max, unsigned *n, char *bad, size_t badlen)
{
	struct prefix_acc acc = {.out = out, .max = max};
	int ret = each_item(val, add_prefix, &acc, bad, badlen);

	*n = ret ? 0 : acc.n;
	return ret;
}

bool domain_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > SL_DOMAIN_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (const char *c = s; *c; c++) {
		if (*c == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

struct dom_acc {
	char (*out)[SL_DOMAIN_MAX + 1];
	unsigned max, n;
};

static int add_domain(const char *item, void *arg)
{
	struct dom_acc *acc = arg;

	if (!domain_valid(item))
		return -EINVAL;
	if (acc->n == acc->max)
		return -E2BIG;
	snprintf(acc->out[acc->n++], SL_DOMAIN_MAX + 1, "%s", item);
	return 0;
}

int domainlist_parse(const char *val, char (*out)[SL_DOMAIN_MAX + 1], unsigned max, unsigned *n, char *bad,
		     size_t badlen)
{
	struct dom_acc acc = {.out = out, .max = max};
	int ret = each_item(val, add_domain, &acc, bad, badlen);

	*n = ret ? 0 : acc.n;
	return ret;
}

const char *sl_ipaddr_str(const struct sl_ipaddr *a, char *buf, size_t n)
{
	if (!inet_ntop(a->family, a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6, buf,
		       (socklen_t)n))
		snprintf(buf, n, "?");
	return buf;
}

bool sl_ipaddr_eq(const struct sl_ipaddr *a, const struct sl_ipaddr *b)
{
	if (a->family != b->family)
		return false;
	return a->family == AF_INET ? a->v4.s_addr == b->v4.s_addr : !memcmp(&a->v6, &b->v6, sizeof(a->v6));
}

const char *prefixlist_str(const struct sl_prefix *p, unsigned n, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < n && at < len; i++) {
		char a[INET6_ADDRSTRLEN];
		int w = snprintf(buf + at, len - at, "%s%s/%u", i ? "," : "", sl_ipaddr_str(&p[i].a, a, sizeof(a)),
				 p[i].len);
		if (w < 0 || (size_t)w >= len - at) {
			buf[at] = 0; /* whole items only */
			break;
		}
		at += (size_t)w;
	}
	return buf;
}
