/* etcd_json: the request bodies and response parsing of etcd's v3 JSON gateway (POST /v3/kv/range,
 * /v3/kv/txn, /v3/watch): keys and values travel base64-encoded, 64-bit numbers as strings. Pure functions
 * (no I/O), so the unit tests check them against etcd's own answers. Built bodies are malloc'd strings. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"

#define ETCD_TXN_MAX 8 /* compares or operations of one transaction (etcd's default limit is 128) */

struct etcd_kv {
	char *key, *value; /* decoded, NUL-terminated (values are text in sluice's registry) */
	int64_t mod_revision;
};

enum etcd_cmp_kind {
	ETCD_CMP_ABSENT,   /* the key does not exist (version == 0) */
	ETCD_CMP_VALUE_EQ, /* the key holds exactly `value` */
};

struct etcd_cmp {
	enum etcd_cmp_kind kind;
	const char *key, *value;
};

enum etcd_op_kind {
	ETCD_OP_PUT,
	ETCD_OP_DELETE,
};

struct etcd_op {
	enum etcd_op_kind kind;
	const char *key, *value;
	int64_t lease; /* a put: the etcd lease the key is attached to (0: none) */
};

/* The first key after every key that starts with `prefix` (etcd's range_end for a prefix), into out. */
void etcd_prefix_end(const char *prefix, char *out, size_t n);

/* {"key":..,"range_end":..}: one key (range_end NULL) or [key, range_end). NULL when out of memory. */
char *etcd_req_range(const char *key, const char *range_end);
/* {"compare":[..],"success":[..],"failure":[]}: the operations happen only if every compare holds. */
char *etcd_req_txn(const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *op, size_t n_op);
/* {"create_request":{"key":..,"range_end":..,"start_revision":..}} */
char *etcd_req_watch(const char *key, const char *range_end, int64_t start_revision);

/* {"TTL":..} (POST /v3/lease/grant) and {"ID":..} (/v3/lease/keepalive, /v3/lease/revoke) */
char *etcd_req_lease_grant(int64_t ttl_s);
char *etcd_req_lease_id(int64_t id);
/* A grant's or a keepalive's answer (the latter wrapped in {"result":..}): *id and *ttl (0: the lease is gone). */
int etcd_parse_lease(const char *body, size_t len, int64_t *id, int64_t *ttl, struct sl_err *e);

/* A range answer: *kvs (malloc'd, free with etcd_kvs_free) and *n, *rev = the store's revision.
 * -EINVAL (e->msg) for an error answer or anything malformed. */
int etcd_parse_range(const char *body, size_t len, struct etcd_kv **kvs, size_t *n, int64_t *rev, struct sl_err *e);
void etcd_kvs_free(struct etcd_kv *kvs, size_t n);
/* A txn answer: *succeeded (whether the compares held), *rev. */
int etcd_parse_txn(const char *body, size_t len, bool *succeeded, int64_t *rev, struct sl_err *e);
/* One message of a watch stream: *created (the watch started), *canceled (etcd ended it, e.g. compacted),
 * *n_events (keys changed), *rev. */
int etcd_parse_watch(const char *body, size_t len, bool *created, bool *canceled, unsigned *n_events, int64_t *rev,
		     struct sl_err *e);

/* One event of a watch message: a put (key, value) or a delete (key; value ""), decoded. */
struct etcd_event {
	bool del;
	char *key, *value;
	int64_t mod_revision;
};

/* One whole watch message, its events included (the registry thread applies them one by one). */
struct etcd_watch_msg {
	bool created, canceled;
	int64_t rev;              /* the header's revision */
	int64_t compact_revision; /* > 0: etcd compacted past the watch's start; it is canceled */
	struct etcd_event *ev;    /* malloc'd, n_ev entries (free with etcd_watch_msg_free) */
	size_t n_ev;
};

/* -EINVAL (e->msg) for an error answer, a message without a result, or an event that is not valid (no key,
 * a key or value not base64 text). *m is zeroed first and freed on failure. */
int etcd_parse_watch_msg(const char *body, size_t len, struct etcd_watch_msg *m, struct sl_err *e);
void etcd_watch_msg_free(struct etcd_watch_msg *m);
