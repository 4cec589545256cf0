/* nft_batch: one nftables transaction over netlink (libmnl + libnftnl): begin … objects … end, ONE
 * send, every ACK drained and mapped back by sequence number. It fully applies or not at all.
 * Shared by kill-switch/, nat/ and client-table/, together with the small object/expression
 * builders they all need. */
#pragma once
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nft_batch;

/* Starts a batch; NULL on -ENOMEM. */
struct nft_batch *nft_batch_new(void);
void nft_batch_free(struct nft_batch *b);
/* Queue objects (the batch takes ownership of the libnftnl object). Messages name the object from
 * its attributes ("add rule to chain output of inet sluice_ks"). A NULL object (a failed allocation
 * upstream) is accepted: the commit then fails with -ENOMEM. */
void nft_batch_add_table(struct nft_batch *b, struct nftnl_table *t);
/* The table must exist (see nft_table_exists), or the whole batch fails with -ENOENT. */
void nft_batch_del_table(struct nft_batch *b, struct nftnl_table *t);
void nft_batch_add_chain(struct nft_batch *b, struct nftnl_chain *c);
void nft_batch_add_rule(struct nft_batch *b, struct nftnl_rule *r);
/* Sends the batch and waits for every ACK.
 * 0, or -errno with e->msg = "nftables: <what>: <strerror>". */
int nft_batch_commit(struct nft_batch *b, struct sl_err *e);

/* 1 if table `name` of `family` (NFPROTO_*) exists, 0 if not, -errno on failure (e.g. -EPERM,
 * -EPROTONOSUPPORT when nf_tables is missing). If it exists and userdata/udlen are given, copies
 * the table's user data (NUL-terminated, truncated) there: the comment when it is one
 * (nft_table_new), else the raw bytes. */
int nft_table_exists(uint16_t family, const char *name, char *userdata, size_t udlen,
		     struct sl_err *e);

/* ---- added: replace / delete helpers ---- */

/* Queues the atomic replace of table `t`: add an empty table of the same family/name, delete it,
 * add `t` — so it works whether or not the table exists, and the old ruleset stays until the new
 * one is complete (the caller then queues t's chains and rules into the same batch). Takes
 * ownership of t. */
void nft_batch_replace_table(struct nft_batch *b, struct nftnl_table *t);
/* Deletes table family/name in a transaction of its own; 0 also when it did not exist. */
int nft_table_delete(uint16_t family, const char *name, struct sl_err *e);

/* ---- sets (named, updated in place: the kill switch's server addresses) ----
 * A set object names its table and set; the batch takes ownership. nft_set_new: key_type is nft's type id
 * (a concatenation: (TYPE_A << 6) | TYPE_B, e.g. ipv4_addr . inet_service = (7 << 6) | 13), key_len its
 * length in bytes (each part padded to 4), id a number unique in the batch that rules added in the same batch
 * use to refer to it. */
struct nftnl_set *nft_set_new(uint16_t family, const char *table, const char *name, uint32_t key_type,
			      uint32_t key_len, uint32_t id);
/* Appends one element (key of the set's key_len) to a set object; 0 or -ENOMEM. */
int nft_set_add_elem(struct nftnl_set *s, const void *key, uint32_t len);
void nft_batch_add_set(struct nft_batch *b, struct nftnl_set *s);
/* Adds the elements attached to s (an existing element is no error). */
void nft_batch_add_elems(struct nft_batch *b, struct nftnl_set *s);
/* Removes every element of the set s names (s carries no elements). */
void nft_batch_flush_set(struct nft_batch *b, struct nftnl_set *s);
/* Calls cb for each element's key; the number of elements, -ENOENT when the table or set does not exist,
 * or -errno with e->msg. */
int nft_set_list_elems(uint16_t family, const char *table, const char *set,
		       void (*cb)(const void *key, uint32_t len, void *arg), void *arg, struct sl_err *e);

/* ---- added: object builders (NULL on -ENOMEM) ---- */

/* A table; `comment` (may be NULL) is stored as its user data, as `nft` stores a table comment. */
struct nftnl_table *nft_table_new(uint16_t family, const char *name, const char *comment);
/* A base chain: type "filter"/"nat", hook NF_INET_*, priority, policy NF_ACCEPT/NF_DROP. */
struct nftnl_chain *nft_base_chain_new(uint16_t family, const char *table, const char *name,
				       const char *type, uint32_t hook, int32_t prio,
				       uint32_t policy);

/* ---- added: rule building ----
 * nft_batch_new_rule queues a new, empty rule (owned by the batch) appended to chain `chain` and
 * returns it; the nft_rule_* helpers append one match or statement each. An allocation failure is
 * remembered by the batch (later helpers do nothing, the commit fails with -ENOMEM), so builders
 * need no checks between steps. Integers of meta/ct keys are host order; addresses and ports are
 * network order, as on the wire. */
struct nftnl_rule *nft_batch_new_rule(struct nft_batch *b, uint16_t family, const char *table,
				      const char *chain);
/* meta KEY == data (NFT_META_MARK, NFT_META_IIFGROUP / OIFGROUP: 4 bytes, NFT_META_NFPROTO / L4PROTO: 1 byte). */
void nft_rule_meta_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, const void *data,
		       uint32_t len);
/* iifname / oifname (key NFT_META_IIFNAME / NFT_META_OIFNAME) == ifname. */
/* meta KEY & mask == data (e.g. NFT_META_MARK in a range: "meta mark and 0xffff0000 == 0x51900000"). */
void nft_rule_meta_masked_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, const void *mask,
			      const void *data, uint32_t len);
void nft_rule_ifname(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, const char *ifname);
/* payload at base (NFT_PAYLOAD_*_HEADER) + offset, `len` bytes: the first `prefix_bits` bits equal
 * data's (prefix_bits == len * 8: an exact match). */
void nft_rule_payload_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t base, uint32_t offset,
			  const void *data, uint32_t len, uint32_t prefix_bits);
/* meta nfproto ipv4|ipv6 and ip saddr|daddr / ip6 saddr|daddr ADDR/prefix_bits (family AF_INET or AF_INET6;
 * addr an in_addr or in6_addr). */
void nft_rule_addr_prefix(struct nft_batch *b, struct nftnl_rule *r, int family, bool source, const void *addr,
			  uint32_t prefix_bits);
/* payload at base + offset, `len` bytes (at most 16), within [from, to] (big-endian values, as on
 * the wire): e.g. icmpv6 type 133-136. */
void nft_rule_payload_range(struct nft_batch *b, struct nftnl_rule *r, uint32_t base,
			    uint32_t offset, const void *from, const void *to, uint32_t len);
/* payload at base + offset, `len` bytes: (payload & mask) != 0 — one of the mask's bits is set
 * (e.g. tcp flags & syn). */
void nft_rule_payload_any_bit(struct nft_batch *b, struct nftnl_rule *r, uint32_t base,
			      uint32_t offset, const void *mask, uint32_t len);
/* tcp option KIND: its field at `offset` (from the option's start), `len` bytes, set to `data`
 * (network order). The kernel rewrites the checksum; for maxseg (kind 2, offset 2, len 2) it only
 * ever lowers the value — a larger one would let the peer send segments the path cannot carry. A
 * packet without the option is left alone. */
void nft_rule_tcpopt_set(struct nft_batch *b, struct nftnl_rule *r, uint8_t kind, uint32_t offset,
			 const void *data, uint32_t len);
/* TCP MSS that fits a link MTU: less an IPv4 (20) or IPv6 (40) header and a TCP header (20). */
#define NFT_MSS4(mtu) ((mtu)-40u)
#define NFT_MSS6(mtu) ((mtu)-60u)
/* meta l4proto tcp, tcp flags & syn: a SYN or SYN-ACK — then tcp option maxseg size set `mss` (only
 * ever lowered, see nft_rule_tcpopt_set). */
void nft_rule_tcp_mss_clamp(struct nft_batch *b, struct nftnl_rule *r, uint16_t mss);
/* ct state & mask != 0 (mask of NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | …). */
void nft_rule_ct_state(struct nft_batch *b, struct nftnl_rule *r, uint32_t mask);
/* ct DIR KEY == data (e.g. ct original ip daddr: NFT_CT_DST_IP, IP_CT_DIR_ORIGINAL). */
void nft_rule_ct_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, uint8_t dir,
		     const void *data, uint32_t len);
/* Verdict NF_ACCEPT / NF_DROP. */
void nft_rule_verdict(struct nft_batch *b, struct nftnl_rule *r, int verdict);
/* masquerade */
void nft_rule_masq(struct nft_batch *b, struct nftnl_rule *r);
/* Loads into register dreg (NFT_REG32_00…, for a concatenation) without comparing: payload at
 * base + offset, len bytes; or ct DIR KEY. */
void nft_rule_load_payload(struct nft_batch *b, struct nftnl_rule *r, uint32_t base, uint32_t offset,
			   uint32_t len, uint32_t dreg);
void nft_rule_load_ct(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, uint8_t dir, uint32_t dreg);
/* The value from register sreg on is in set `set` (set_id: its id when added in the same batch). */
void nft_rule_lookup(struct nft_batch *b, struct nftnl_rule *r, uint32_t sreg, const char *set, uint32_t set_id);

/* "ip", "ip6", "inet", … for messages. */
const char *nft_family_name(uint16_t family);
