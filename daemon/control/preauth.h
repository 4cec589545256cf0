/* preauth: the gateway's pre-authentication slots and who holds them. A control connection is
 * pre-authentication from accept until its TLS handshake has proven a configured key: until then all the
 * gateway knows of it is a source address, and it costs a slot, an fd and a TLS object. A fixed table of
 * PREAUTH_SLOTS slots, no allocation.
 *
 * Each slot is counted against its source — an IPv4 address, an IPv6 /64 (what one host can easily own) —
 * and against its source's group — an IPv4 /24, an IPv6 /48 (what one network or one hosting account easily
 * owns). IPv4 clients of a dual-stack listener (::ffff:a.b.c.d) count as IPv4. The caller refuses a source
 * that already holds its cap of slots (preauth_source_full). When every slot is taken, a newcomer does not
 * wait: preauth_victim names the connection to close for it — the oldest of the busiest source of the busiest
 * group, counting the newcomer as if it were in. So a flood from many sources evicts itself, oldest first,
 * while a connection from a quiet source (one slot in its group) survives as long as any group holds two:
 * an attacker needs more groups than there are slots (256 /24s or /48s) to even reach it, and then must open
 * a slot's worth of connections within its handshake time.
 *
 * The counts live in a fixed pool of nodes chained from PREAUTH_BUCKETS buckets, hashed with a per-process
 * random seed (a source cannot choose addresses that collide); a slot keeps the indices of its two nodes, so
 * choosing a victim reads counts without hashing: one pass over the slots, no allocation. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define PREAUTH_SLOTS 256u      /* pre-authentication connections at once */
#define PREAUTH_PER_SOURCE 8u   /* … from one source (IPv4 address, IPv6 /64) */
#define PREAUTH_BUCKETS 512u    /* count buckets: a power of two */
#define PREAUTH_V4_SOURCE 32u   /* prefix lengths (IPv4 within ::ffff:0:0/96) */
#define PREAUTH_V4_GROUP 24u
#define PREAUTH_V6_SOURCE 64u
#define PREAUTH_V6_GROUP 48u

/* A prefix: the address masked to its length (IPv4 as ::ffff:a.b.c.d). The four lengths differ, so a source
 * key never equals a group key. */
struct preauth_key {
	uint32_t w[4];
	uint32_t plen;
};

/* Slots held by one prefix; a node of the pool (every slot holds two: PREAUTH_SLOTS * 2 nodes suffice). */
struct preauth_count {
	struct preauth_key k;
	uint32_t n;
	int32_t next; /* in its bucket, or in the free list; -1 ends */
};

struct preauth_slot {
	uint64_t seq;      /* admission order: smaller is older */
	void *owner;       /* NULL: free */
	uint16_t src, grp; /* its count nodes */
};

struct preauth {
	uint32_t seed;
	unsigned n; /* slots in use */
	uint64_t seq;
	unsigned n_free;
	uint16_t free[PREAUTH_SLOTS];
	struct preauth_slot slot[PREAUTH_SLOTS];
	int32_t bucket[PREAUTH_BUCKETS];
	int32_t count_free;
	struct preauth_count count[2 * PREAUTH_SLOTS];
};

void preauth_init(struct preauth *pa, uint32_t seed);
/* The source and group prefixes of an address (AF_INET or AF_INET6). */
void preauth_keys(const struct sockaddr_storage *a, struct preauth_key *src, struct preauth_key *grp);
/* Slots held by a prefix (source or group). */
unsigned preauth_held(const struct preauth *pa, const struct preauth_key *k);
/* true if the address's source holds its cap already. */
bool preauth_source_full(const struct preauth *pa, const struct sockaddr_storage *a);
/* With every slot taken: the owner of the slot to free for a newcomer from `a` (see above). NULL if a slot is
 * free. */
void *preauth_victim(const struct preauth *pa, const struct sockaddr_storage *a);
/* Takes a free slot for owner; its index, or -1 if none is free. */
int preauth_add(struct preauth *pa, const struct sockaddr_storage *a, void *owner);
/* Frees slot i (from preauth_add). */
void preauth_del(struct preauth *pa, int i);
