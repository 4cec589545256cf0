/* nft_batch: one nftables transaction over netlink (libmnl + libnftnl): begin … objects … end, ONE send, every
 * ACK drained and mapped back by sequence number. It fully applies or not at all. Shared by kill-switch/ and
 * nat/. */
#pragma once
#include <stdint.h>
#include "daemon/common/errmsg.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nft_batch;

/* Starts a batch; NULL on -ENOMEM. */
struct nft_batch *nft_batch_new(void);
void nft_batch_free(struct nft_batch *b);
/* Queue objects (the batch takes ownership of the libnftnl object). `what` names the object for messages. */
void nft_batch_add_table(struct nft_batch *b, struct nftnl_table *t);
void nft_batch_del_table(struct nft_batch *b, struct nftnl_table *t); /* table must exist: see nft_table_exists */
void nft_batch_add_chain(struct nft_batch *b, struct nftnl_chain *c);
void nft_batch_add_rule(struct nft_batch *b, struct nftnl_rule *r);
/* Sends the batch and waits for every ACK. 0, or -errno with e->msg = "nftables: <what>: <strerror>". */
int nft_batch_commit(struct nft_batch *b, struct sl_err *e);

/* 1 if table `name` of `family` (NFPROTO_*) exists, 0 if not, -errno on failure (e.g. -EPERM,
 * -EPROTONOSUPPORT when nf_tables is missing). If it exists and userdata/udlen are given, copies the table's
 * user data (NUL-terminated, truncated) there. */
int nft_table_exists(uint16_t family, const char *name, char *userdata, size_t udlen, struct sl_err *e);
