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
