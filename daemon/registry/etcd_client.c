/* etcd_client: libcurl POSTs to the JSON gateway (etcd_client.h). */
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/registry/etcd_client.h"

#define ETCD_ANSWER_MAX (64u << 20) /* a range of every client of a large fleet stays far below */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct strbuf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > ETCD_ANSWER_MAX || sb_reserve(b, b->len + n + 1))
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = 0;
	return n;
}

void etcd_setopt_common(const struct etcd *c, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for name look-ups */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->url->tls ? "https" : "http");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* the registry is never reached through a proxy */
	if (c->url->tls) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		if (c->ca_file && c->ca_file[0])
			curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		if (c->cert_file && c->cert_file[0] && c->key_file && c->key_file[0]) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
			curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
			curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		}
	}
}

void etcd_base_url(const struct etcd *c, unsigned k, char *out, size_t n)
{
	snprintf(out, n, "%s://%s", c->url->tls ? "https" : "http", c->url->endpoint[k]);
}

int etcd_open(struct etcd *c, const struct etcd_url *url, const char *ca_file, struct sl_err *e)
{
	memset(c, 0, sizeof(*c));
	c->url = url;
	c->ca_file = ca_file;
	c->timeout_ms = ETCD_TIMEOUT_MS;
	c->h = curl_easy_init();
	if (!c->h)
		return sl_errf(e, -ENOMEM, "registry: curl: out of memory");
	return 0;
}

int etcd_client_cert(struct etcd *c, const char *cert_file, const char *key_file, struct sl_err *e)
{
	struct stat st;

	if (!cert_file || !cert_file[0])
		return 0;
	if (stat(cert_file, &st))
		return sl_errf(e, -errno, "registry: client certificate %s: %s", cert_file, strerror(errno));
	if (stat(key_file, &st))
		return sl_errf(e, -errno, "registry: client key %s: %s", key_file, strerror(errno));
	if (st.st_mode & 077)
		return sl_errf(e, -EACCES, "registry: client key %s may be read by others (mode %03o): chmod 600 it",
			       key_file, (unsigned)(st.st_mode & 0777));
	c->cert_file = cert_file;
	c->key_file = key_file;
	return 0;
}

void etcd_close(struct etcd *c)
{
	if (c->h)
		curl_easy_cleanup(c->h);
	c->h = NULL;
}

int etcd_post(struct etcd *c, const char *path, const char *body, struct strbuf *out, struct sl_err *e)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	int ret = -EIO;

	if (!hdr)
		return sl_errf(e, -ENOMEM, "registry: out of memory");
	for (unsigned i = 0; i < c->url->n_endpoints; i++) {
		unsigned k = (c->cur + i) % c->url->n_endpoints;
		char url[ETCD_ENDPOINT_MAX + 64], base[ETCD_ENDPOINT_MAX + 16];
		CURLcode cc;
		long code = 0;

		out->len = 0;
		if (out->s)
			out->s[0] = 0;
		etcd_base_url(c, k, base, sizeof(base));
		snprintf(url, sizeof(url), "%s%s", base, path);
		curl_easy_reset(c->h);
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, out);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
		etcd_setopt_common(c, c->h);
		cc = curl_easy_perform(c->h);
		if (cc != CURLE_OK) {
			sl_errf(e, -EIO, "registry: etcd at %s: %s", c->url->endpoint[k], curl_easy_strerror(cc));
			continue;
		}
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200) {
			/* etcd's error answers are JSON too: let the parser quote them */
			if (code >= 400 && code < 500 && out->len) {
				c->cur = k;
				ret = 0;
				break;
			}
			sl_errf(e, -EIO, "registry: etcd at %s: HTTP %ld", c->url->endpoint[k], code);
			continue;
		}
		if (out->oom) {
			sl_errf(e, -ENOMEM, "registry: out of memory for etcd's answer");
			ret = -ENOMEM;
			break;
		}
		c->cur = k;
		ret = 0;
		break;
	}
	curl_slist_free_all(hdr);
	if (!ret && !out->s && sb_reserve(out, 1) == 0) /* an empty answer is still a string */
		out->s[0] = 0;
	return ret;
}

int etcd_range_prefix(struct etcd *c, const char *prefix, struct etcd_kv **kvs, size_t *n, int64_t *rev,
		      struct sl_err *e)
{
	char end[512];

	etcd_prefix_end(prefix, end, sizeof(end));
	return etcd_range(c, prefix, end, kvs, n, rev, e);
}

/* One request: body (malloc'd by an etcd_req_* builder, NULL when it ran out of memory) is posted to path and
 * freed; the answer is in *out (the caller frees out->s, also on failure). */
static int call(struct etcd *c, const char *path, char *body, struct strbuf *out, struct sl_err *e)
{
	int ret;

	if (!body)
		return sl_errf(e, -ENOMEM, "registry: out of memory");
	ret = etcd_post(c, path, body, out, e);
	free(body);
	return ret;
}

int etcd_range(struct etcd *c, const char *key, const char *range_end, struct etcd_kv **kvs, size_t *n, int64_t *rev,
	       struct sl_err *e)
{
	struct strbuf out = {0};
	int ret = call(c, "/v3/kv/range", etcd_req_range(key, range_end), &out, e);

	if (!ret)
		ret = etcd_parse_range(out.s, out.len, kvs, n, rev, e);
	free(out.s);
	return ret;
}

int etcd_get(struct etcd *c, const char *key, char **value, struct sl_err *e)
{
	struct etcd_kv *kvs;
	size_t n;
	int64_t rev;
	int ret;

	*value = NULL;
	ret = etcd_range(c, key, NULL, &kvs, &n, &rev, e);
	if (ret)
		return ret;
	if (n) {
		*value = kvs[0].value;
		kvs[0].value = NULL;
	}
	etcd_kvs_free(kvs, n);
	return 0;
}

int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *op, size_t n_op,
	     bool *succeeded, struct sl_err *e)
{
	struct strbuf out = {0};
	int64_t rev;
	int ret = call(c, "/v3/kv/txn", etcd_req_txn(cmp, n_cmp, op, n_op), &out, e);

	if (!ret)
		ret = etcd_parse_txn(out.s, out.len, succeeded, &rev, e);
	free(out.s);
	return ret;
}

int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *id, struct sl_err *e)
{
	struct strbuf out = {0};
	int64_t ttl;
	int ret = call(c, "/v3/lease/grant", etcd_req_lease_grant(ttl_s), &out, e);

	if (!ret)
		ret = etcd_parse_lease(out.s, out.len, id, &ttl, e);
	free(out.s);
	return ret;
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct sl_err *e)
{
	struct strbuf out = {0};
	int64_t got;
	/* one request message: the gateway answers once and ends the stream */
	int ret = call(c, "/v3/lease/keepalive", etcd_req_lease_id(id), &out, e);

	if (!ret)
		ret = etcd_parse_lease(out.s, out.len, &got, ttl, e);
	free(out.s);
	return ret;
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct sl_err *e)
{
	struct strbuf out = {0};
	int ret = call(c, "/v3/lease/revoke", etcd_req_lease_id(id), &out, e);

	free(out.s);
	return ret;
}
