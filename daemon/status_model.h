/* status_model: the daemon's "key=value" status (daemon/status.h) parsed into an interface and its peers, for
 * the views of `sluice show`, `dump` and `metrics`, and for the daemon's own /metrics endpoint (metrics.h).
 * Values stay strings; numbers are read on demand. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct st_kv {
	char *key;
	char *val;
};

struct st_block {
	struct st_kv *kv;
	size_t n, cap;
};

struct st_iface {
	struct st_block main;
	struct st_block *peers; /* gateway: one block per client, starting with "peer" */
	size_t n_peers, cap_peers;
};

/* Parses text (modified in place; must stay alive as long as the model). 0 or -ENOMEM/-EINVAL. */
int st_parse(char *text, struct st_iface *out);
void st_free(struct st_iface *st);
/* Value of key in a block, or NULL. */
const char *st_get(const struct st_block *b, const char *key);
/* Numeric value (0 when missing or not a number). */
uint64_t st_u64(const struct st_block *b, const char *key);
int64_t st_i64(const struct st_block *b, const char *key);
