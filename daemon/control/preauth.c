/* preauth: pre-authentication slots, counted per source and per group of sources (see preauth.h). */
#include <netinet/in.h>
#include <string.h>
#include "daemon/common/hash32.h"
#include "daemon/control/preauth.h"

/* k := the first plen bits of the address w (network order, word by word), and plen. */
static void key_mask(struct preauth_key *k, const uint32_t w[4], uint32_t bits, uint32_t plen)
{
	for (int i = 0; i < 4; i++) {
		uint32_t b = bits > 32 ? 32 : bits;
		k->w[i] = b ? w[i] & htonl(b == 32 ? ~0u : ~(~0u >> b)) : 0;
		bits -= b;
	}
	k->plen = plen;
}

void preauth_keys(const struct sockaddr_storage *a, struct preauth_key *src, struct preauth_key *grp)
{
	uint32_t w[4] = {0, 0, htonl(0xffff), 0};

	if (a->ss_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
		memcpy(w, in6, sizeof(w));
		if (!IN6_IS_ADDR_V4MAPPED(in6)) {
			key_mask(src, w, PREAUTH_V6_SOURCE, PREAUTH_V6_SOURCE);
			key_mask(grp, w, PREAUTH_V6_GROUP, PREAUTH_V6_GROUP);
			return;
		}
	} else {
		w[3] = ((const struct sockaddr_in *)a)->sin_addr.s_addr;
	}
	/* IPv4, native or mapped: ::ffff:a.b.c.d */
	key_mask(src, w, 96 + PREAUTH_V4_SOURCE, PREAUTH_V4_SOURCE);
	key_mask(grp, w, 96 + PREAUTH_V4_GROUP, PREAUTH_V4_GROUP);
}

static bool key_eq(const struct preauth_key *a, const struct preauth_key *b)
{
	return a->plen == b->plen && a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] &&
	       a->w[3] == b->w[3];
}

static uint32_t key_bucket(const struct preauth *pa, const struct preauth_key *k)
{
	uint32_t h = h32_mix(pa->seed ^ k->plen);

	for (int i = 0; i < 4; i++)
		h = h32_mix(h ^ k->w[i] ^ pa->seed);
	return h & (PREAUTH_BUCKETS - 1);
}

/* The node of k, or -1. */
static int32_t count_find(const struct preauth *pa, const struct preauth_key *k)
{
	for (int32_t i = pa->bucket[key_bucket(pa, k)]; i >= 0; i = pa->count[i].next)
		if (key_eq(&pa->count[i].k, k))
			return i;
	return -1;
}

/* Counts one more slot for k; returns its node. The pool never runs out: two nodes per slot at most. */
static uint16_t count_inc(struct preauth *pa, const struct preauth_key *k)
{
	int32_t i = count_find(pa, k);

	if (i < 0) {
		uint32_t b = key_bucket(pa, k);
		i = pa->count_free;
		pa->count_free = pa->count[i].next;
		pa->count[i].k = *k;
		pa->count[i].n = 0;
		pa->count[i].next = pa->bucket[b];
		pa->bucket[b] = i;
	}
	pa->count[i].n++;
	return (uint16_t)i;
}

static void count_dec(struct preauth *pa, uint16_t node)
{
	struct preauth_count *c = &pa->count[node];
	int32_t *pp;

	if (--c->n)
		return;
	for (pp = &pa->bucket[key_bucket(pa, &c->k)]; *pp != node; pp = &pa->count[*pp].next)
		;
	*pp = c->next;
	c->next = pa->count_free;
	pa->count_free = node;
}

void preauth_init(struct preauth *pa, uint32_t seed)
{
	memset(pa, 0, sizeof(*pa));
	pa->seed = seed;
	pa->n_free = PREAUTH_SLOTS;
	for (unsigned i = 0; i < PREAUTH_SLOTS; i++)
		pa->free[i] = (uint16_t)(PREAUTH_SLOTS - 1 - i);
	for (unsigned b = 0; b < PREAUTH_BUCKETS; b++)
		pa->bucket[b] = -1;
	for (unsigned i = 0; i < 2 * PREAUTH_SLOTS; i++)
		pa->count[i].next = i + 1 < 2 * PREAUTH_SLOTS ? (int32_t)i + 1 : -1;
	pa->count_free = 0;
}

unsigned preauth_held(const struct preauth *pa, const struct preauth_key *k)
{
	int32_t i = count_find(pa, k);

	return i < 0 ? 0 : pa->count[i].n;
}

bool preauth_source_full(const struct preauth *pa, const struct sockaddr_storage *a)
{
	struct preauth_key src, grp;

	preauth_keys(a, &src, &grp);
	return preauth_held(pa, &src) >= PREAUTH_PER_SOURCE;
}

void *preauth_victim(const struct preauth *pa, const struct sockaddr_storage *a)
{
	struct preauth_key src, grp;
	const struct preauth_slot *best = NULL;
	unsigned best_g = 0, best_s = 0;
	int32_t ns, ng;

	if (pa->n < PREAUTH_SLOTS)
		return NULL;
	preauth_keys(a, &src, &grp);
	ns = count_find(pa, &src);
	ng = count_find(pa, &grp);
	/* one pass over the slots, only when all are taken: busiest group, then busiest source in it, then
	 * oldest; the newcomer counted in its own group and source */
	for (unsigned i = 0; i < PREAUTH_SLOTS; i++) {
		const struct preauth_slot *s = &pa->slot[i];
		unsigned g = pa->count[s->grp].n + (s->grp == ng);
		unsigned n = pa->count[s->src].n + (s->src == ns);

		if (!best || g > best_g || (g == best_g && (n > best_s || (n == best_s && s->seq < best->seq)))) {
			best = s;
			best_g = g;
			best_s = n;
		}
	}
	return best ? best->owner : NULL;
}

int preauth_add(struct preauth *pa, const struct sockaddr_storage *a, void *owner)
{
	struct preauth_key src, grp;
	struct preauth_slot *s;
	int i;

	if (!pa->n_free)
		return -1;
	i = pa->free[--pa->n_free];
	s = &pa->slot[i];
	preauth_keys(a, &src, &grp);
	s->src = count_inc(pa, &src);
	s->grp = count_inc(pa, &grp);
	s->seq = ++pa->seq;
	s->owner = owner;
	pa->n++;
	return i;
}

void preauth_del(struct preauth *pa, int i)
{
	struct preauth_slot *s;

	if (i < 0 || (unsigned)i >= PREAUTH_SLOTS || !(s = &pa->slot[i])->owner)
		return;
	count_dec(pa, s->src);
	count_dec(pa, s->grp);
	s->owner = NULL;
	pa->free[pa->n_free++] = (uint16_t)i;
	pa->n--;
}
