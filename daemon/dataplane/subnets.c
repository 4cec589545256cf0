/* subnets: longest-prefix lookup of the gateway's client networks (dataplane/subnets.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/dataplane/subnets.h"

bool prefix_contains(const struct sl_prefix *p, int family, const void *addr)
{
	const uint8_t *a = addr, *b;
	unsigned full, rest;

	if (p->a.family != family)
		return false;
	b = family == AF_INET ? (const uint8_t *)&p->a.v4 : p->a.v6.s6_addr;
	full = p->len / 8u;
	rest = p->len % 8u;
	if (memcmp(a, b, full))
		return false;
	return !rest || !((a[full] ^ b[full]) & (uint8_t)(0xff00u >> rest));
}

void *sn_lookup(const struct sn_table *t, int family, const void *addr)
{
	if (!t)
		return NULL;
	for (unsigned i = 0; i < t->n; i++)
		if (prefix_contains(&t->e[i].p, family, addr))
			return t->e[i].owner;
	return NULL;
}

static int longest_first(const void *a, const void *b)
{
	const struct sn_entry *x = a, *y = b;

	return (int)y->p.len - (int)x->p.len;
}

struct sn_table *sn_build(const struct sn_entry *e, unsigned n, int *err)
{
	struct sn_table *t;

	*err = 0;
	if (!n)
		return NULL;
	t = calloc(1, sizeof(*t) + n * sizeof(t->e[0]));
	if (!t) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(t->e, e, n * sizeof(t->e[0]));
	t->n = n;
	qsort(t->e, n, sizeof(t->e[0]), longest_first);
	return t;
}

void sn_free(struct sn_table *t)
{
	free(t);
}
