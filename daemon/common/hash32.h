/* hash32: an intrusive chained hash table keyed by a 32-bit value (session id, IPv4 address). O(1) lookups;
 * grows by doubling when the load passes 1. Nodes are embedded in their owners; the table owns only the
 * bucket arrays.
 *
 * One writer (the control thread), any number of readers on other threads (the data workers) without a lock:
 *   - every link a reader follows is published with a release store and read with an acquire load, so a node
 *     is fully built before any reader can reach it;
 *   - a removed node stays readable (its links kept) until its owner is freed — the owner's job, after a
 *     grace period (dataplane/qsbr.h);
 *   - a node has two links, one per table generation: a grow chains the nodes into the new bucket array
 *     through the other link and publishes it, so a reader still on the old array walks intact old chains.
 *     Old arrays are kept until h32_free (together never larger than the current one); a link is reused two
 *     grows later only once every reader has passed a quiescent point since (else the grow waits for a later
 *     insert);
 *   - a reader racing an insert or removal may miss: every change bumps a sequence count, and a lookup that
 *     missed while the count moved looks again. A hit is always a real node with that key. */
#pragma once
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "daemon/dataplane/qsbr.h"

struct h32_node {
	struct h32_node *next[2]; /* by table generation */
	uint32_t key;
};

struct h32_tab {
	struct h32_tab *older; /* kept for readers still on it; freed with the table */
	uint32_t mask;         /* buckets - 1 */
	unsigned gen;          /* which link of the nodes chains this array */
	struct h32_node *b[];
};

struct h32 {
	struct h32_tab *t;
	uint32_t n;
	uint32_t seq;        /* odd while an insert or removal is under way */
	struct qsbr *q;      /* the readers (NULL: the writer is the only reader) */
	uint64_t grow_epoch; /* epoch of the last grow: its link generation is reused after it */
};

#define H32_MAX_RETRIES 100000u
#if defined(__x86_64__) || defined(__i386__)
#define H32_RELAX() __builtin_ia32_pause()
#else
#define H32_RELAX() __asm__ __volatile__("" ::: "memory")
#endif
#define H32_LOAD(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define H32_PUBLISH(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

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

static inline struct h32_tab *h32_tab_new(uint32_t buckets_pow2, unsigned gen)
{
	struct h32_tab *t = calloc(1, sizeof(*t) + buckets_pow2 * sizeof(t->b[0]));

	if (t) {
		t->mask = buckets_pow2 - 1;
		t->gen = gen;
	}
	return t;
}

/* q: the readers' reclamation domain (NULL if only the writer reads). */
static inline int h32_init(struct h32 *h, uint32_t buckets_pow2, struct qsbr *q)
{
	h->t = h32_tab_new(buckets_pow2, 0);
	h->n = 0;
	h->seq = 0;
	h->q = q;
	h->grow_epoch = 0;
	return h->t ? 0 : -ENOMEM;
}

static inline void h32_free(struct h32 *h)
{
	for (struct h32_tab *t = h->t, *o; t; t = o) {
		o = t->older;
		free(t);
	}
	h->t = NULL;
	h->n = 0;
}

/* Iteration over the bucket of `key` (for callers that compare more than the key):
 *   for (n = h32_first(h, key, &g); n; n = h32_next(n, g)) */
static inline struct h32_node *h32_first(const struct h32 *h, uint32_t key, unsigned *gen)
{
	const struct h32_tab *t = H32_LOAD(h->t);

	*gen = t->gen;
	return H32_LOAD(t->b[h32_mix(key) & t->mask]);
}

static inline struct h32_node *h32_next(const struct h32_node *n, unsigned gen)
{
	return H32_LOAD(n->next[gen]);
}

static inline struct h32_node *h32_get(const struct h32 *h, uint32_t key)
{
	/* a miss is final only if no change overlapped it; changes are a few stores long, so the bound only
	 * matters if the writer stalls inside one: then the lookup misses (the caller counts a drop) */
	for (unsigned tries = 0;; tries++) {
		uint32_t seq = H32_LOAD(h->seq);
		unsigned g;

		for (struct h32_node *n = h32_first(h, key, &g); n; n = h32_next(n, g))
			if (n->key == key)
				return n;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((!(seq & 1) && __atomic_load_n(&h->seq, __ATOMIC_RELAXED) == seq) || tries == H32_MAX_RETRIES)
			return NULL;
		H32_RELAX();
	}
}

/* Writer side: brackets every insert and removal. */
static inline void h32_write_begin(struct h32 *h)
{
	__atomic_store_n(&h->seq, h->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void h32_write_end(struct h32 *h)
{
	__atomic_store_n(&h->seq, h->seq + 1, __ATOMIC_RELEASE);
}

/* Chains every node into a twice larger array through the other link, then publishes it. Skipped (longer
 * chains, still correct) without memory or while a reader may still walk the array that link belonged to. */
static inline void h32_grow(struct h32 *h)
{
	struct h32_tab *old = h->t, *t;
	unsigned g = !old->gen;

	if (h->q && h->grow_epoch && !qsbr_passed(h->q, h->grow_epoch))
		return;
	t = h32_tab_new((old->mask + 1) * 2, g);
	if (!t)
		return;
	for (uint32_t i = 0; i <= old->mask; i++) {
		for (struct h32_node *n = old->b[i]; n; n = n->next[old->gen]) {
			uint32_t j = h32_mix(n->key) & t->mask;
			H32_PUBLISH(n->next[g], t->b[j]);
			t->b[j] = n;
		}
	}
	t->older = old;
	H32_PUBLISH(h->t, t);
	if (h->q)
		h->grow_epoch = qsbr_advance(h->q); /* readers on `old`: those whose last quiescent point came before this */
}

/* Inserts node with key (the caller checked that the key is not present). */
static inline void h32_put(struct h32 *h, struct h32_node *node, uint32_t key)
{
	struct h32_tab *t;
	uint32_t i;

	if (h->n + 1 > h->t->mask + 1)
		h32_grow(h);
	t = h->t;
	i = h32_mix(key) & t->mask;
	h32_write_begin(h);
	node->key = key;
	H32_PUBLISH(node->next[t->gen], t->b[i]);
	H32_PUBLISH(t->b[i], node);
	h->n++;
	h32_write_end(h);
}

/* Unlinks node; it keeps its links, so a reader standing on it goes on (free it after a grace period). */
static inline void h32_del(struct h32 *h, struct h32_node *node)
{
	struct h32_tab *t = h->t;
	unsigned g = t->gen;

	for (struct h32_node **pp = &t->b[h32_mix(node->key) & t->mask]; *pp; pp = &(*pp)->next[g]) {
		if (*pp == node) {
			h32_write_begin(h);
			H32_PUBLISH(*pp, node->next[g]);
			h->n--;
			h32_write_end(h);
			return;
		}
	}
}

#define h32_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
