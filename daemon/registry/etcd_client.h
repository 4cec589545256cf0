/* etcd_client: blocking calls to etcd's v3 JSON gateway over HTTP (libcurl), for the registry thread and the
 * `sluice registry` tool — never the gateway's loop or data plane. Each call tries the URL's endpoints in turn,
 * starting with the one that answered last, each bounded by the client's timeout. */
#pragma once
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/strbuf.h"
#include "daemon/registry/etcd_json.h"
#include "daemon/registry/etcd_url.h"

#define ETCD_TIMEOUT_MS 2000 /* one request to one endpoint */

struct etcd {
	const struct etcd_url *url;
	const char *ca_file; /* etcds://: the CA bundle that signs etcd's certificate; NULL: the system's */
	const char *cert_file, *key_file; /* etcds://: a client certificate and its key (NULL: none) */
	CURL *h;
	unsigned cur; /* endpoint index that answered last */
	long timeout_ms;
};

/* 0, or -ENOMEM. curl_global_init is the caller's (once per process, before any thread). A client certificate
 * is set afterwards (etcd_client_cert). */
int etcd_open(struct etcd *c, const struct etcd_url *url, const char *ca_file, struct sl_err *e);
/* etcd's --client-cert-auth: the PEM certificate and key every TLS connection presents (read by curl at
 * each connection). -EACCES (e->msg) when the key may be read by others than its owner, -errno when missing. */
int etcd_client_cert(struct etcd *c, const char *cert_file, const char *key_file, struct sl_err *e);
/* The transfer options every request and the watch share: scheme, TLS verification, no proxy, no signals. */
void etcd_setopt_common(const struct etcd *c, CURL *h);
/* "http(s)://ENDPOINT" of endpoint k. */
void etcd_base_url(const struct etcd *c, unsigned k, char *out, size_t n);
void etcd_close(struct etcd *c);
/* POST body to path (e.g. "/v3/kv/range"); the answer's body into out (reset first). -EIO when no endpoint
 * answered (e->msg names the last failure). */
int etcd_post(struct etcd *c, const char *path, const char *body, struct strbuf *out, struct sl_err *e);
/* Every key under prefix (the prefix itself included), with the store's revision. */
int etcd_range_prefix(struct etcd *c, const char *prefix, struct etcd_kv **kvs, size_t *n, int64_t *rev,
		      struct sl_err *e);
/* Every key in [key, range_end). */
int etcd_range(struct etcd *c, const char *key, const char *range_end, struct etcd_kv **kvs, size_t *n, int64_t *rev,
	       struct sl_err *e);
/* One key: 0 and *value (malloc'd) or NULL when absent. */
int etcd_get(struct etcd *c, const char *key, char **value, struct sl_err *e);
/* An etcd lease of ttl_s seconds: *id. */
int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *id, struct sl_err *e);
/* One keepalive of lease id: *ttl its remaining time (0: it is gone; its keys with it). */
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct sl_err *e);
/* Ends lease id now: every key attached to it is deleted. */
int etcd_lease_revoke(struct etcd *c, int64_t id, struct sl_err *e);
int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *op, size_t n_op,
	     bool *succeeded, struct sl_err *e);
