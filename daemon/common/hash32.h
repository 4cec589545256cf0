/* hash32: an intrusive chained hash table keyed by a 32-bit value (session id, IPv4 address). O(1) lookups;
 * grows by doubling when the load passes 1. Nodes are embedded in their owners; the table owns only the
 * bucket array. */
#pragma once
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct h32_node {
	struct h32_node *next;
	uint32_t key;
};

struct h32 {
	struct h32_node **b;
	uint32_t mask; /* buckets - 1 */
	uint32_t n;
};

static inline uint32_t h32_mix(uint32_t x)
{
	/* a 32-bit finaliser (murmur3 fmix32): spreads sequential addresses and ids */
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return x;
}

static inline int h32_init(struct h32 *h, uint32_t buckets_pow2)
{
	h->b = calloc(buckets_pow2, sizeof(*h->b));
	h->mask = buckets_pow2 - 1;
	h->n = 0;
	return h->b ? 0 : -ENOMEM;
}

static inline void h32_free(struct h32 *h)
{
	free(h->b);
	h->b = NULL;
	h->n = 0;
}

static inline struct h32_node *h32_get(const struct h32 *h, uint32_t key)
{
	for (struct h32_node *n = h->b[h32_mix(key) & h->mask]; n; n = n->next)
		if (n->key == key)
			return n;
	return NULL;
}

static inline void h32_grow(struct h32 *h)
{
	uint32_t nb = (h->mask + 1) * 2;
	struct h32_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* keep the longer chains; still correct */
	for (uint32_t i = 0; i <= h->mask; i++) {
		struct h32_node *n = h->b[i], *next;
		for (; n; n = next) {
			next = n->next;
			uint32_t j = h32_mix(n->key) & (nb - 1);
			n->next = b[j];
			b[j] = n;
		}
	}
	free(h->b);
	h->b = b;
	h->mask = nb - 1;
}

/* Inserts node with key (the caller checked that the key is not present). */
static inline void h32_put(struct h32 *h, struct h32_node *node, uint32_t key)
{
	if (h->n + 1 > h->mask + 1)
		h32_grow(h);
	uint32_t i = h32_mix(key) & h->mask;
	node->key = key;
	node->next = h->b[i];
	h->b[i] = node;
	h->n++;
}

static inline void h32_del(struct h32 *h, struct h32_node *node)
{
	for (struct h32_node **pp = &h->b[h32_mix(node->key) & h->mask]; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			node->next = NULL;
			h->n--;
			return;
		}
	}
}

#define h32_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
