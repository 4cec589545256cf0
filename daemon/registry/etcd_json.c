/* etcd_json: bodies and answers of etcd's v3 JSON gateway, with json-c (see etcd_json.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "daemon/registry/etcd_json.h"

#define ETCD_VALUE_MAX 4096 /* a registry value (a client record, a lease) is a short line of text */

void etcd_prefix_end(const char *prefix, char *out, size_t n)
{
	size_t len = strlen(prefix);

	snprintf(out, n, "%s", prefix);
	/* every sluice prefix is printable ASCII: bumping the last byte never carries */
	if (len && len < n)
		out[len - 1]++;
}

static json_object *b64_string(const char *s)
{
	size_t len = strlen(s);
	char *buf = malloc(4 * ((len + 2) / 3) + 1);
	json_object *o;

	if (!buf)
		return NULL;
	EVP_EncodeBlock((unsigned char *)buf, (const unsigned char *)s, (int)len);
	o = json_object_new_string(buf);
	free(buf);
	return o;
}

/* base64 text -> NUL-terminated bytes (malloc'd). NULL when malformed or too long. */
static char *b64_decode(const char *s)
{
	size_t len = strlen(s), pad = 0;
	unsigned char *out;
	int n;

	if (len % 4 || len / 4 * 3 > ETCD_VALUE_MAX)
		return NULL;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	n = len ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) : 0;
	if (n < 0) {
		free(out);
		return NULL;
	}
	if (len && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	n -= (int)pad; /* EVP_DecodeBlock counts the padding as zero bytes */
	if (memchr(out, 0, (size_t)n)) { /* registry text never holds a NUL */
		free(out);
		return NULL;
	}
	out[n] = 0;
	return (char *)out;
}

static int add_b64(json_object *o, const char *name, const char *s)
{
	json_object *v = b64_string(s);
	if (!v)
		return -ENOMEM;
	json_object_object_add(o, name, v);
	return 0;
}

/* json_object_to_json_string's text belongs to the object: copy it out, then drop the object */
static char *finish(json_object *o, int ret)
{
	char *s = NULL;

	if (!ret)
		s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

char *etcd_req_range(const char *key, const char *range_end)
{
	json_object *o = json_object_new_object();
	int ret;

	if (!o)
		return NULL;
	ret = add_b64(o, "key", key);
	if (!ret && range_end)
		ret = add_b64(o, "range_end", range_end);
	return finish(o, ret);
}

static json_object *cmp_json(const struct etcd_cmp *c)
{
	json_object *o = json_object_new_object();

	if (!o || add_b64(o, "key", c->key))
		goto fail;
	json_object_object_add(o, "result", json_object_new_string("EQUAL"));
	if (c->kind == ETCD_CMP_ABSENT) {
		json_object_object_add(o, "target", json_object_new_string("VERSION"));
		json_object_object_add(o, "version", json_object_new_string("0"));
	} else {
		json_object_object_add(o, "target", json_object_new_string("VALUE"));
		if (add_b64(o, "value", c->value))
			goto fail;
	}
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static json_object *op_json(const struct etcd_op *op)
{
	json_object *o = json_object_new_object(), *req = json_object_new_object();

	if (!o || !req || add_b64(req, "key", op->key))
		goto fail;
	if (op->kind == ETCD_OP_PUT) {
		if (add_b64(req, "value", op->value))
			goto fail;
		if (op->lease) {
			char id[24];
			snprintf(id, sizeof(id), "%" PRId64, op->lease);
			json_object_object_add(req, "lease", json_object_new_string(id));
		}
		json_object_object_add(o, "request_put", req);
	} else {
		json_object_object_add(o, "request_delete_range", req);
	}
	return o;
fail:
	json_object_put(req);
	json_object_put(o);
	return NULL;
}

char *etcd_req_txn(const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *op, size_t n_op)
{
	json_object *o = json_object_new_object(), *ca = json_object_new_array(), *sa = json_object_new_array();
	int ret = 0;

	if (!o || !ca || !sa) {
		json_object_put(ca);
		json_object_put(sa);
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "compare", ca);
	json_object_object_add(o, "success", sa);
	json_object_object_add(o, "failure", json_object_new_array());
	for (size_t i = 0; i < n_cmp && !ret; i++) {
		json_object *c = cmp_json(&cmp[i]);
		ret = c ? json_object_array_add(ca, c) : -ENOMEM;
	}
	for (size_t i = 0; i < n_op && !ret; i++) {
		json_object *s = op_json(&op[i]);
		ret = s ? json_object_array_add(sa, s) : -ENOMEM;
	}
	return finish(o, ret);
}

char *etcd_req_watch(const char *key, const char *range_end, int64_t start_revision)
{
	json_object *o = json_object_new_object(), *cr = json_object_new_object();
	char rev[24];
	int ret;

	if (!o || !cr) {
		json_object_put(cr);
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "create_request", cr);
	ret = add_b64(cr, "key", key);
	if (!ret && range_end)
		ret = add_b64(cr, "range_end", range_end);
	snprintf(rev, sizeof(rev), "%" PRId64, start_revision);
	json_object_object_add(cr, "start_revision", json_object_new_string(rev));
	return finish(o, ret);
}

static char *req_int(const char *name, int64_t v)
{
	json_object *o = json_object_new_object();
	char s[24];

	if (!o)
		return NULL;
	snprintf(s, sizeof(s), "%" PRId64, v);
	json_object_object_add(o, name, json_object_new_string(s));
	return finish(o, 0);
}

char *etcd_req_lease_grant(int64_t ttl_s)
{
	return req_int("TTL", ttl_s);
}

char *etcd_req_lease_id(int64_t id)
{
	return req_int("ID", id);
}

/* Parses the body; an etcd error answer ({"error":..,"code":..}) becomes e->msg. */
static json_object *parse_answer(const char *body, size_t len, const char *what, struct sl_err *e)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o, *err;

	if (!tok) {
		sl_errf(e, -ENOMEM, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
		sl_errf(e, -EINVAL, "%s: etcd's answer is not a JSON object (%.60s)", what, body);
		json_object_put(o);
		json_tokener_free(tok);
		return NULL;
	}
	json_tokener_free(tok);
	if (json_object_object_get_ex(o, "error", &err) || json_object_object_get_ex(o, "message", &err)) {
		sl_errf(e, -EINVAL, "%s: etcd says: %s", what, json_object_get_string(err));
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int64_t header_revision(json_object *o)
{
	json_object *h, *r;

	if (json_object_object_get_ex(o, "header", &h) && json_object_object_get_ex(h, "revision", &r))
		return json_object_get_int64(r);
	return -1;
}

void etcd_kvs_free(struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

int etcd_parse_range(const char *body, size_t len, struct etcd_kv **kvs, size_t *n, int64_t *rev, struct sl_err *e)
{
	json_object *o = parse_answer(body, len, "range", e), *arr;
	struct etcd_kv *out = NULL;
	size_t cnt = 0;

	*kvs = NULL;
	*n = 0;
	if (!o)
		return -EINVAL;
	*rev = header_revision(o);
	if (*rev < 0) {
		json_object_put(o);
		return sl_errf(e, -EINVAL, "range: etcd's answer has no header revision");
	}
	if (json_object_object_get_ex(o, "kvs", &arr)) {
		size_t total;
		if (!json_object_is_type(arr, json_type_array)) {
			json_object_put(o);
			return sl_errf(e, -EINVAL, "range: kvs is not an array");
		}
		total = json_object_array_length(arr);
		out = calloc(total ? total : 1, sizeof(*out));
		if (!out) {
			json_object_put(o);
			return sl_errf(e, -ENOMEM, "range: out of memory for %zu keys", total);
		}
		for (; cnt < total; cnt++) {
			json_object *kv = json_object_array_get_idx(arr, cnt), *k, *v, *mr;
			if (!json_object_object_get_ex(kv, "key", &k)) {
				etcd_kvs_free(out, cnt);
				json_object_put(o);
				return sl_errf(e, -EINVAL, "range: a key-value without a key");
			}
			out[cnt].key = b64_decode(json_object_get_string(k));
			/* an empty value is omitted from the JSON */
			out[cnt].value = b64_decode(json_object_object_get_ex(kv, "value", &v) ? json_object_get_string(v)
											       : "");
			if (json_object_object_get_ex(kv, "mod_revision", &mr))
				out[cnt].mod_revision = json_object_get_int64(mr);
			if (!out[cnt].key || !out[cnt].value) {
				etcd_kvs_free(out, cnt + 1);
				json_object_put(o);
				return sl_errf(e, -EINVAL, "range: a key or value is not valid base64 text");
			}
		}
	}
	json_object_put(o);
	*kvs = out;
	*n = cnt;
	return 0;
}

int etcd_parse_txn(const char *body, size_t len, bool *succeeded, int64_t *rev, struct sl_err *e)
{
	json_object *o = parse_answer(body, len, "txn", e), *s;

	if (!o)
		return -EINVAL;
	*rev = header_revision(o);
	/* proto3 JSON leaves false out */
	*succeeded = json_object_object_get_ex(o, "succeeded", &s) && json_object_get_boolean(s);
	json_object_put(o);
	if (*rev < 0)
		return sl_errf(e, -EINVAL, "txn: etcd's answer has no header revision");
	return 0;
}

int etcd_parse_watch(const char *body, size_t len, bool *created, bool *canceled, unsigned *n_events, int64_t *rev,
		     struct sl_err *e)
{
	json_object *o = parse_answer(body, len, "watch", e), *r, *v;

	*created = *canceled = false;
	*n_events = 0;
	*rev = -1;
	if (!o)
		return -EINVAL;
	/* the gateway wraps each stream message in {"result": ...} */
	if (!json_object_object_get_ex(o, "result", &r)) {
		json_object_put(o);
		return sl_errf(e, -EINVAL, "watch: a stream message without a result");
	}
	*rev = header_revision(r);
	*created = json_object_object_get_ex(r, "created", &v) && json_object_get_boolean(v);
	*canceled = json_object_object_get_ex(r, "canceled", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(r, "events", &v) && json_object_is_type(v, json_type_array))
		*n_events = (unsigned)json_object_array_length(v);
	json_object_put(o);
	return 0;
}

void etcd_watch_msg_free(struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->n_ev; i++) {
		free(m->ev[i].key);
		free(m->ev[i].value);
	}
	free(m->ev);
	memset(m, 0, sizeof(*m));
}

int etcd_parse_watch_msg(const char *body, size_t len, struct etcd_watch_msg *m, struct sl_err *e)
{
	json_object *o = parse_answer(body, len, "watch", e), *r, *v, *arr;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	m->rev = -1;
	if (!o)
		return -EINVAL;
	if (!json_object_object_get_ex(o, "result", &r)) {
		json_object_put(o);
		return sl_errf(e, -EINVAL, "watch: a stream message without a result");
	}
	m->rev = header_revision(r);
	m->created = json_object_object_get_ex(r, "created", &v) && json_object_get_boolean(v);
	m->canceled = json_object_object_get_ex(r, "canceled", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(r, "compact_revision", &v))
		m->compact_revision = json_object_get_int64(v);
	if (json_object_object_get_ex(r, "events", &arr)) {
		size_t total;

		if (!json_object_is_type(arr, json_type_array)) {
			json_object_put(o);
			return sl_errf(e, -EINVAL, "watch: events is not an array");
		}
		total = json_object_array_length(arr);
		m->ev = calloc(total ? total : 1, sizeof(*m->ev));
		if (!m->ev) {
			json_object_put(o);
			return sl_errf(e, -ENOMEM, "watch: out of memory for %zu events", total);
		}
		for (; m->n_ev < total && !ret; m->n_ev++) {
			json_object *ev = json_object_array_get_idx(arr, m->n_ev), *kv, *k, *t, *mr;
			struct etcd_event *x = &m->ev[m->n_ev];

			/* proto3 JSON leaves the default type (PUT) out */
			x->del = json_object_object_get_ex(ev, "type", &t) && !strcmp(json_object_get_string(t), "DELETE");
			if (!json_object_object_get_ex(ev, "kv", &kv) || !json_object_object_get_ex(kv, "key", &k)) {
				ret = sl_errf(e, -EINVAL, "watch: an event without a key");
				continue;
			}
			x->key = b64_decode(json_object_get_string(k));
			x->value = b64_decode(!x->del && json_object_object_get_ex(kv, "value", &v) ? json_object_get_string(v)
												   : "");
			if (json_object_object_get_ex(kv, "mod_revision", &mr))
				x->mod_revision = json_object_get_int64(mr);
			if (!x->key || !x->value)
				ret = sl_errf(e, -EINVAL, "watch: an event's key or value is not valid base64 text");
		}
	}
	json_object_put(o);
	if (ret)
		etcd_watch_msg_free(m);
	return ret;
}

int etcd_parse_lease(const char *body, size_t len, int64_t *id, int64_t *ttl, struct sl_err *e)
{
	json_object *o = parse_answer(body, len, "lease", e), *r, *v;

	*id = *ttl = 0;
	if (!o)
		return -EINVAL;
	if (!json_object_object_get_ex(o, "result", &r))
		r = o; /* a grant answers unwrapped, a keepalive in {"result": ...} */
	if (json_object_object_get_ex(r, "ID", &v))
		*id = json_object_get_int64(v);
	/* proto3 JSON leaves a zero TTL out: the lease expired or never was */
	if (json_object_object_get_ex(r, "TTL", &v))
		*ttl = json_object_get_int64(v);
	json_object_put(o);
	if (!*id)
		return sl_errf(e, -EINVAL, "lease: etcd's answer has no lease ID");
	return 0;
}
