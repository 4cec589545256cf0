/* test_registry: the fleet registry's pure parts (daemon/registry/): the Registry URL, the Registry config key,
 * the JSON bodies sent to etcd's v3 gateway (parsed back with json-c and compared field by field), the answers
 * read from it (texts as etcd 3.4 sends them: error answers, proto3 omissions, bad base64), and the record
 * formats (client record, key hex, pool membership). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/registry/etcd_json.h"
#include "daemon/registry/etcd_url.h"
#include "daemon/registry/fleet_cache.h"
#include "daemon/registry/fleet_sessions.h"
#include "daemon/registry/fleet_sync.h"
#include "tests/unit/check.h"

#define K1 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static void url_ok(void)
{
	struct etcd_url u;
	struct sl_err e = {{0}};

	CHECK(etcd_url_parse("etcd://127.0.0.1:2379/sluice", &u, &e) == 0);
	CHECK_EQ_INT(u.n_endpoints, 1);
	CHECK(!strcmp(u.endpoint[0], "127.0.0.1:2379"));
	CHECK(!strcmp(u.prefix, "/sluice"));
	CHECK(!u.tls);
	CHECK(etcd_url_parse("etcds://etcd.example:2379/sluice", &u, &e) == 0);
	CHECK(u.tls && u.n_endpoints == 1 && !strcmp(u.endpoint[0], "etcd.example:2379"));
	CHECK(etcd_url_parse("etcd://a.example:1,[fd00::1]:2379,198.18.0.53:65535/fleet/eu-1_x.y", &u, &e) == 0);
	CHECK_EQ_INT(u.n_endpoints, 3);
	CHECK(!strcmp(u.endpoint[0], "a.example:1"));
	CHECK(!strcmp(u.endpoint[1], "[fd00::1]:2379"));
	CHECK(!strcmp(u.endpoint[2], "198.18.0.53:65535"));
	CHECK(!strcmp(u.prefix, "/fleet/eu-1_x.y"));
}

static void url_bad(const char *s, const char *why)
{
	struct etcd_url u;
	struct sl_err e = {{0}};

	CHECK(etcd_url_parse(s, &u, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, why);
}

static void url_errors(void)
{
	url_bad("http://h:1/p", "does not start with etcd:// or etcds://");
	url_bad("etcds://h/p", "has no :PORT");
	url_bad("etcd://h:1", "has no /PREFIX");
	url_bad("etcd://h:1/", "empty PREFIX");
	url_bad("etcd://h:1/a//b", "empty segment");
	url_bad("etcd://h:1/a/", "empty segment");
	url_bad("etcd://h:1/a b", "' ' is not allowed in PREFIX");
	url_bad("etcd://h/p", "has no :PORT");
	url_bad("etcd://h:0/p", "port must be 1..65535");
	url_bad("etcd://h:65536/p", "port must be 1..65535");
	url_bad("etcd://h:x/p", "has no port number");
	url_bad("etcd://h:1,/p", "empty HOST:PORT");
	url_bad("etcd://h:1, g:2/p", "' ' is not allowed in a host name");
	url_bad("etcd://[fd00::zz]:1/p", "not an IPv6 address");
	url_bad("etcd://[fd00::1]/p", "not [IPv6]:PORT");
	url_bad("etcd:///p", "names no HOST:PORT");
	url_bad("etcd://a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1/p", "more than 8 endpoints");
}

static void config_key(void)
{
	struct sl_config c;
	struct sl_err e = {{0}};
	const char *good = "[Interface]\nMode = server\nPrivateKeyFile = /x\nListen = 0.0.0.0:51900\n"
			   "Address = 10.66.0.1/24\nRegistry = etcd://198.18.0.53:2379/fleet\n";
	const char *bad = "[Interface]\nMode = server\nPrivateKeyFile = /x\nListen = 0.0.0.0:51900\n"
			  "Address = 10.66.0.1/24\nRegistry = etcd://198.18.0.53/fleet\n";
	const char *tls = "[Interface]\nMode = server\nPrivateKeyFile = /x\nListen = 0.0.0.0:51900\n"
			  "Address = 10.66.0.1/24\nRegistry = etcds://198.18.0.53:2379/fleet\nRegistryCAFile = /etc/ca.pem\n";
	const char *tls_rel = "[Interface]\nMode = server\nPrivateKeyFile = /x\nListen = 0.0.0.0:51900\n"
			      "Address = 10.66.0.1/24\nRegistryCAFile = ca.pem\n";
	const char *client = "[Interface]\nMode = client\nPrivateKeyFile = /x\nRegistry = etcd://h:1/p\n"
			     "[Server]\nEndpoint = 198.18.0.1:51900\nPublicKey = " K1 "\n";

	CHECK(config_parse(good, strlen(good), "/etc/sluice/gw0.conf", false, &c, &e) == 0);
	CHECK(c.has_registry);
	CHECK(!strcmp(c.registry.prefix, "/fleet"));
	config_free(&c);
	CHECK(config_parse(tls, strlen(tls), "g.conf", false, &c, &e) == 0);
	CHECK(c.registry.tls && !strcmp(c.registry_ca_file, "/etc/ca.pem"));
	config_free(&c);
	CHECK(config_parse(tls_rel, strlen(tls_rel), "g.conf", false, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "g.conf:6: RegistryCAFile: 'ca.pem' is not an absolute path");
	CHECK(config_parse(bad, strlen(bad), "/etc/sluice/gw0.conf", false, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "/etc/sluice/gw0.conf:6: Registry: ");
	CHECK_STR_CONTAINS(e.msg, "has no :PORT");
	CHECK(config_parse(client, strlen(client), "/etc/sluice/sl0.conf", false, &c, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "/etc/sluice/sl0.conf:4:");
	/* without the key: no registry */
	CHECK(config_parse(good, strlen(good) - strlen("Registry = etcd://198.18.0.53:2379/fleet\n"), "g.conf", false, &c,
			   &e) == 0);
	CHECK(!c.has_registry);
	config_free(&c);
	/* a client certificate for etcd's --client-cert-auth: both files, absolute, with etcds:// only */
	{
		const char *hdr = "[Interface]\nMode = server\nPrivateKeyFile = /x\nListen = 0.0.0.0:51900\n"
				  "Address = 10.66.0.1/24\n";
		char t[512];

		snprintf(t, sizeof(t), "%sRegistry = etcds://198.18.0.53:2379/fleet\nRegistryCertFile = /etc/gw.pem\n"
			 "RegistryKeyFile = /etc/gw.key\n", hdr);
		CHECK(config_parse(t, strlen(t), "g.conf", false, &c, &e) == 0);
		CHECK(!strcmp(c.registry_cert_file, "/etc/gw.pem") && !strcmp(c.registry_key_file, "/etc/gw.key"));
		config_free(&c);
		snprintf(t, sizeof(t), "%sRegistry = etcds://198.18.0.53:2379/fleet\nRegistryCertFile = /etc/gw.pem\n", hdr);
		CHECK(config_parse(t, strlen(t), "g.conf", false, &c, &e) == -EINVAL);
		CHECK_STR_CONTAINS(e.msg, "g.conf:1: RegistryCertFile and RegistryKeyFile go together");
		snprintf(t, sizeof(t), "%sRegistry = etcd://198.18.0.53:2379/fleet\nRegistryCertFile = /etc/gw.pem\n"
			 "RegistryKeyFile = /etc/gw.key\n", hdr);
		CHECK(config_parse(t, strlen(t), "g.conf", false, &c, &e) == -EINVAL);
		CHECK_STR_CONTAINS(e.msg, "RegistryCertFile needs Registry = etcds://");
		snprintf(t, sizeof(t), "%sRegistry = etcds://198.18.0.53:2379/fleet\nRegistryKeyFile = gw.key\n", hdr);
		CHECK(config_parse(t, strlen(t), "g.conf", false, &c, &e) == -EINVAL);
		CHECK_STR_CONTAINS(e.msg, "g.conf:7: RegistryKeyFile: 'gw.key' is not an absolute path");
	}
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void requests(void)
{
	char end[64], *s;
	json_object *o, *a, *x;

	etcd_prefix_end("/sluice/clients/", end, sizeof(end));
	CHECK(!strcmp(end, "/sluice/clients0"));

	s = etcd_req_range("/a", "/b");
	CHECK(s && !strcmp(s, "{\"key\":\"L2E=\",\"range_end\":\"L2I=\"}"));
	free(s);
	s = etcd_req_range("/sluice/pool", NULL);
	CHECK(s && !strcmp(s, "{\"key\":\"L3NsdWljZS9wb29s\"}"));
	free(s);

	{
		struct etcd_cmp cmp[2] = {{ETCD_CMP_ABSENT, "/k", NULL}, {ETCD_CMP_VALUE_EQ, "/v", "10.66.0.2"}};
		struct etcd_op op[2] = {{ETCD_OP_PUT, "/k", "x", 0}, {ETCD_OP_DELETE, "/old", NULL, 0}};
		s = etcd_req_txn(cmp, 2, op, 2);
	}
	CHECK(s != NULL);
	o = json_tokener_parse(s);
	CHECK(o != NULL);
	CHECK(json_object_object_get_ex(o, "compare", &a) && json_object_array_length(a) == 2);
	x = json_object_array_get_idx(a, 0);
	CHECK(!strcmp(jstr(x, "key"), "L2s=") && !strcmp(jstr(x, "target"), "VERSION") &&
	      !strcmp(jstr(x, "version"), "0") && !strcmp(jstr(x, "result"), "EQUAL"));
	x = json_object_array_get_idx(a, 1);
	CHECK(!strcmp(jstr(x, "target"), "VALUE") && !strcmp(jstr(x, "value"), "MTAuNjYuMC4y"));
	CHECK(json_object_object_get_ex(o, "success", &a) && json_object_array_length(a) == 2);
	CHECK(json_object_object_get_ex(json_object_array_get_idx(a, 0), "request_put", &x));
	CHECK(!strcmp(jstr(x, "key"), "L2s=") && !strcmp(jstr(x, "value"), "eA=="));
	CHECK(json_object_object_get_ex(json_object_array_get_idx(a, 1), "request_delete_range", &x));
	CHECK(!strcmp(jstr(x, "key"), "L29sZA=="));
	CHECK(json_object_object_get_ex(o, "failure", &a) && json_object_array_length(a) == 0);
	json_object_put(o);
	free(s);

	/* a put attached to an etcd lease (a session record): the lease ID as a string */
	{
		struct etcd_op op = {ETCD_OP_PUT, "/k", "x", 6521672114668543237};
		s = etcd_req_txn(NULL, 0, &op, 1);
	}
	o = s ? json_tokener_parse(s) : NULL;
	CHECK(o && json_object_object_get_ex(o, "success", &a) &&
	      json_object_object_get_ex(json_object_array_get_idx(a, 0), "request_put", &x) &&
	      !strcmp(jstr(x, "lease"), "6521672114668543237"));
	json_object_put(o);
	free(s);
	s = etcd_req_lease_grant(6);
	CHECK(s && !strcmp(s, "{\"TTL\":\"6\"}"));
	free(s);
	s = etcd_req_lease_id(6521672114668543237);
	CHECK(s && !strcmp(s, "{\"ID\":\"6521672114668543237\"}"));
	free(s);

	s = etcd_req_watch("/a/", "/a0", 43);
	CHECK(s && !strcmp(s, "{\"create_request\":{\"key\":\"L2Ev\",\"range_end\":\"L2Ew\",\"start_revision\":\"43\"}}"));
	free(s);
}

static void answers(void)
{
	/* as etcd 3.4's gateway answers: 64-bit numbers as strings, empty fields left out */
	const char *range = "{\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"10276657743932975437\","
			    "\"revision\":\"7\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"L3MvY2xpZW50cy9h\","
			    "\"create_revision\":\"3\",\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"eA==\"},"
			    "{\"key\":\"L3MvZQ==\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\"}],"
			    "\"count\":\"2\"}";
	const char *empty = "{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"12\",\"raft_term\":\"2\"}}";
	const char *err = "{\"error\":\"etcdserver: too many operations in txn request\",\"code\":3,"
			  "\"message\":\"etcdserver: too many operations in txn request\"}";
	const char *bad64 = "{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"!!!\"}]}";
	struct etcd_kv *kv;
	struct sl_err e = {{0}};
	size_t n;
	int64_t rev;
	bool ok, created, canceled;
	unsigned ev;

	CHECK(etcd_parse_range(range, strlen(range), &kv, &n, &rev, &e) == 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(rev, 7);
	if (n == 2) {
		CHECK(!strcmp(kv[0].key, "/s/clients/a") && !strcmp(kv[0].value, "x"));
		CHECK_EQ_INT(kv[0].mod_revision, 4);
		CHECK(!strcmp(kv[1].key, "/s/e") && !strcmp(kv[1].value, "")); /* an empty value is left out */
	}
	etcd_kvs_free(kv, n);
	CHECK(etcd_parse_range(empty, strlen(empty), &kv, &n, &rev, &e) == 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(rev, 12);
	etcd_kvs_free(kv, n);
	CHECK(etcd_parse_range(err, strlen(err), &kv, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "etcd says: etcdserver: too many operations");
	CHECK(etcd_parse_range(bad64, strlen(bad64), &kv, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "not valid base64");
	CHECK(etcd_parse_range("{\"kvs\":[]}", 10, &kv, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "no header revision");
	CHECK(etcd_parse_range("{\"header\":", 10, &kv, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "not a JSON object");
	CHECK(etcd_parse_range("[1]", 3, &kv, &n, &rev, &e) == -EINVAL);

	{
		const char *yes = "{\"header\":{\"revision\":\"9\"},\"succeeded\":true,\"responses\":[{}]}";
		const char *no = "{\"header\":{\"revision\":\"9\"},\"responses\":[{}]}";
		CHECK(etcd_parse_txn(yes, strlen(yes), &ok, &rev, &e) == 0 && ok && rev == 9);
		CHECK(etcd_parse_txn(no, strlen(no), &ok, &rev, &e) == 0 && !ok);
		CHECK(etcd_parse_txn(err, strlen(err), &ok, &rev, &e) == -EINVAL);
	}
	{
		const char *cr = "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}";
		const char *evs = "{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":{\"key\":\"L2E=\"}},"
				  "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2I=\"}}]}}";
		const char *cn = "{\"result\":{\"header\":{\"revision\":\"6\"},\"canceled\":true,\"compact_revision\":\"3\"}}";
		CHECK(etcd_parse_watch(cr, strlen(cr), &created, &canceled, &ev, &rev, &e) == 0);
		CHECK(created && !canceled && ev == 0 && rev == 5);
		CHECK(etcd_parse_watch(evs, strlen(evs), &created, &canceled, &ev, &rev, &e) == 0);
		CHECK(!created && !canceled && ev == 2 && rev == 6);
		CHECK(etcd_parse_watch(cn, strlen(cn), &created, &canceled, &ev, &rev, &e) == 0);
		CHECK(canceled);
		CHECK(etcd_parse_watch("{}", 2, &created, &canceled, &ev, &rev, &e) == -EINVAL);
	}
}

static void records(void)
{
	uint8_t key[SL_KEY_LEN], back[SL_KEY_LEN], psk[SL_KEY_LEN], pskv[SL_KEY_LEN];
	char rec[200], hex[2 * SL_KEY_LEN + 1], txt[128];
	struct in_addr a, b;
	struct in6_addr a6, b6;
	bool has, has6, has_psk;
	struct sl_prefix4 pool;
	struct sl_prefix6 pool6;

	CHECK(key_from_base64(K1, key) == 0);
	inet_pton(AF_INET, "10.66.0.7", &a);
	fleet_client_record(key, &a, NULL, NULL, rec, sizeof(rec));
	CHECK(!strcmp(rec, K1 " 10.66.0.7"));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, &has_psk, psk) == 0 && has && b.s_addr == a.s_addr &&
	      !memcmp(back, key, SL_KEY_LEN) && !has_psk);
	fleet_client_record(key, NULL, NULL, NULL, rec, sizeof(rec));
	CHECK(!strcmp(rec, K1));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, NULL, NULL) == 0 && !has);
	CHECK(fleet_client_parse(K1 " 10.66.0", back, &has, &b, &has6, &b6, NULL, NULL) == -EINVAL);
	CHECK(fleet_client_parse("short", back, &has, &b, &has6, &b6, NULL, NULL) == -EINVAL);
	CHECK(fleet_client_parse("", back, &has, &b, &has6, &b6, NULL, NULL) == -EINVAL);
	/* a pre-shared key (registry add --psk-file, DESIGN 10.10): with and without an address, round trip */
	for (size_t i = 0; i < SL_KEY_LEN; i++)
		pskv[i] = (uint8_t)(0xa0 + i);
	fleet_client_record(key, &a, NULL, pskv, rec, sizeof(rec));
	CHECK(!strcmp(rec, K1 " 10.66.0.7 psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8="));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, &has_psk, psk) == 0 && has && b.s_addr == a.s_addr &&
	      has_psk && !memcmp(psk, pskv, SL_KEY_LEN));
	fleet_client_record(key, NULL, NULL, pskv, rec, sizeof(rec));
	CHECK(!strcmp(rec, K1 " psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8="));
	memset(psk, 0, sizeof(psk));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, &has_psk, psk) == 0 && !has && has_psk &&
	      !memcmp(psk, pskv, SL_KEY_LEN));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, NULL, NULL) == 0); /* a caller that does not want it */
	/* broken: short psk, two psks, an address after the psk, two spaces, a trailing space, an unknown word */
	CHECK(fleet_client_parse(K1 " psk=AAAA", back, &has, &b, &has6, &b6, &has_psk, psk) == -EINVAL);
	CHECK(fleet_client_parse(K1 " psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8= psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=",
				 back, &has, &b, &has6, &b6, &has_psk, psk) == -EINVAL);
	CHECK(fleet_client_parse(K1 " psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8= 10.66.0.7", back, &has, &b,
				 &has6, &b6, &has_psk, psk) == -EINVAL);
	CHECK(fleet_client_parse(K1 "  10.66.0.7", back, &has, &b, &has6, &b6, &has_psk, psk) == -EINVAL);
	CHECK(fleet_client_parse(K1 " 10.66.0.7 ", back, &has, &b, &has6, &b6, &has_psk, psk) == -EINVAL);
	CHECK(fleet_client_parse(K1 " 10.66.0.7 10.66.0.8", back, &has, &b, &has6, &b6, &has_psk, psk) == -EINVAL);
	CHECK(fleet_client_parse(K1 " hello", back, &has, &b, &has6, &b6, &has_psk, psk) == -EINVAL);
	/* an IPv6 address (a dual-stack pool): alone, with the IPv4 one, with a psk; round trips */
	inet_pton(AF_INET6, "fd66::7", &a6);
	fleet_client_record(key, &a, &a6, pskv, rec, sizeof(rec));
	CHECK(!strcmp(rec, K1 " 10.66.0.7 fd66::7 psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8="));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, &has_psk, psk) == 0 && has && has6 &&
	      b.s_addr == a.s_addr && !memcmp(&b6, &a6, sizeof(a6)) && has_psk);
	fleet_client_record(key, NULL, &a6, NULL, rec, sizeof(rec));
	CHECK(!strcmp(rec, K1 " fd66::7"));
	CHECK(fleet_client_parse(rec, back, &has, &b, &has6, &b6, &has_psk, psk) == 0 && !has && has6 &&
	      !memcmp(&b6, &a6, sizeof(a6)) && !has_psk);
	CHECK(fleet_client_parse(K1 " fd66::7 10.66.0.7", back, &has, &b, &has6, &b6, NULL, NULL) == 0 && has && has6);
	/* broken: two IPv6 addresses, a bad one, one after the psk */
	CHECK(fleet_client_parse(K1 " fd66::7 fd66::8", back, &has, &b, &has6, &b6, NULL, NULL) == -EINVAL);
	CHECK(fleet_client_parse(K1 " fd66::zz", back, &has, &b, &has6, &b6, NULL, NULL) == -EINVAL);
	CHECK(fleet_client_parse(K1 " psk=oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8= fd66::7", back, &has, &b, &has6,
				 &b6, NULL, NULL) == -EINVAL);

	fleet_key_hex(key, hex);
	CHECK(strlen(hex) == 64 && !strncmp(hex, "d75a980182b10ab7", 16));
	CHECK(fleet_key_unhex(hex, back) == 0 && !memcmp(back, key, SL_KEY_LEN));
	hex[3] = 'G';
	CHECK(fleet_key_unhex(hex, back) == -EINVAL);
	CHECK(fleet_key_unhex("abcd", back) == -EINVAL);

	inet_pton(AF_INET, "10.66.0.1", &pool.addr);
	pool.len = 24;
	fleet_pool_text(&pool, NULL, txt, sizeof(txt));
	CHECK(!strcmp(txt, "10.66.0.1/24"));
	memset(&pool6, 0, sizeof(pool6));
	fleet_pool_text(&pool, &pool6, txt, sizeof(txt)); /* no IPv6 prefix: the record an IPv4 fleet always had */
	CHECK(!strcmp(txt, "10.66.0.1/24"));
	inet_pton(AF_INET6, "fd66::1", &pool6.addr);
	pool6.len = 64;
	fleet_pool_text(&pool, &pool6, txt, sizeof(txt));
	CHECK(!strcmp(txt, "10.66.0.1/24, fd66::1/64"));
	/* IPv6 pool membership: the prefix's first SL_POOL6_MAX addresses, not the gateway's, not the prefix */
	CHECK(fleet_addr6_in_pool(&pool6, &a6));
	inet_pton(AF_INET6, "fd66::ffff", &b6);
	CHECK(fleet_addr6_in_pool(&pool6, &b6));
	inet_pton(AF_INET6, "fd66::1", &b6);
	CHECK(!fleet_addr6_in_pool(&pool6, &b6));
	inet_pton(AF_INET6, "fd66::", &b6);
	CHECK(!fleet_addr6_in_pool(&pool6, &b6));
	inet_pton(AF_INET6, "fd66::1:7", &b6);
	CHECK(!fleet_addr6_in_pool(&pool6, &b6));
	inet_pton(AF_INET6, "fd67::7", &b6);
	CHECK(!fleet_addr6_in_pool(&pool6, &b6));
	pool6.len = 0;
	CHECK(!fleet_addr6_in_pool(&pool6, &a6));
	CHECK(fleet_addr_in_pool(&pool, a));
	inet_pton(AF_INET, "10.66.0.1", &b); /* the gateway's own */
	CHECK(!fleet_addr_in_pool(&pool, b));
	inet_pton(AF_INET, "10.66.0.0", &b);
	CHECK(!fleet_addr_in_pool(&pool, b));
	inet_pton(AF_INET, "10.66.0.255", &b);
	CHECK(!fleet_addr_in_pool(&pool, b));
	inet_pton(AF_INET, "10.66.1.7", &b);
	CHECK(!fleet_addr_in_pool(&pool, b));

	CHECK(fleet_name_ok("laptop-1.eu_x"));
	CHECK(!fleet_name_ok(""));
	CHECK(!fleet_name_ok("a/b"));
	CHECK(!fleet_name_ok("a b"));
	CHECK(!fleet_name_ok("0123456789012345678901234567890123456789012345678901234567890123"));
}

static struct sl_client_cfg cl(const char *name, const char *addr)
{
	struct sl_client_cfg c;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "%s", name);
	key_from_base64(K1, c.pubkey);
	c.pubkey[0] = (uint8_t)name[0]; /* one key per first letter */
	if (addr) {
		c.has_addr = true;
		inet_pton(AF_INET, addr, &c.addr);
	}
	return c;
}

static void cache(void)
{
	struct sl_client_cfg list[2] = {cl("alice", "10.66.0.2"), cl("bob", "10.66.0.3")}, *back, *m;
	struct strbuf b = {0};
	struct sl_err e = {{0}};
	size_t n, nm;
	int64_t rev;
	unsigned left;

	/* bob's pre-shared key (registry add --psk-file) survives the cache */
	list[1].has_psk = true;
	memset(list[1].psk, 0x5a, SL_KEY_LEN);
	fleet_cache_format(list, 2, "10.66.0.1/24", 42, &b);
	CHECK_STR_CONTAINS(b.s, "# sluice registry cache: 10.66.0.1/24 42\nalice ");
	CHECK_STR_CONTAINS(b.s, " psk=WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n");
	CHECK(fleet_cache_parse(b.s, b.len, "10.66.0.1/24", &back, &n, &rev, &e) == 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(rev, 42);
	if (n == 2)
		CHECK(!strcmp(back[1].name, "bob") && back[1].has_addr && back[1].addr.s_addr == list[1].addr.s_addr &&
		      !memcmp(back[1].pubkey, list[1].pubkey, SL_KEY_LEN) && back[1].has_psk &&
		      !memcmp(back[1].psk, list[1].psk, SL_KEY_LEN) && !back[0].has_psk);
	free(back);
	/* another pool's cache is never used */
	CHECK(fleet_cache_parse(b.s, b.len, "10.67.0.1/24", &back, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "not a registry cache of pool 10.67.0.1/24");
	/* a damaged line (here: its psk= is no base64 any more) */
	b.s[b.len - 3] = '!';
	CHECK(fleet_cache_parse(b.s, b.len, "10.66.0.1/24", &back, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "line 3:");
	free(b.s);

	/* merge: a file client confirmed by key (cached address, new name), one whose fixed address differs and one
	 * unknown to the cache are left out; a cached client under a file name with another key is dropped */
	{
		struct sl_client_cfg file[3] = {cl("anna", NULL), cl("bob", "10.66.0.9"), cl("carl", NULL)};
		file[0].pubkey[0] = 'a'; /* alice's key */
		CHECK(fleet_cache_merge(list, 2, file, 3, &m, &nm, &left) == 0);
		CHECK_EQ_INT(left, 2);
		CHECK_EQ_INT(nm, 1);
		if (nm == 1)
			CHECK(!strcmp(m[0].name, "anna") && m[0].addr.s_addr == list[0].addr.s_addr && m[0].has_addr);
		free(m);
		file[1].addr = list[1].addr; /* now it matches the cache */
		CHECK(fleet_cache_merge(list, 2, file, 2, &m, &nm, &left) == 0);
		CHECK_EQ_INT(left, 0);
		CHECK_EQ_INT(nm, 2);
		free(m);
		CHECK(fleet_cache_merge(list, 2, NULL, 0, &m, &nm, &left) == 0);
		CHECK_EQ_INT(nm, 2);
		free(m);
	}
}

/* A dual-stack pool's cache: the IPv6 lease after the IPv4 one, before psk=; a file client's fixed IPv6 address
 * must be the cached one. */
static void cache6(void)
{
	struct sl_client_cfg list[2] = {cl("alice", "10.66.0.2"), cl("bob", "10.66.0.3")}, *back, *m;
	const char *pool = "10.66.0.1/24, fd66::1/64";
	struct strbuf b = {0};
	struct sl_err e = {{0}};
	size_t n, nm;
	int64_t rev;
	unsigned left;

	list[0].has_addr6 = list[1].has_addr6 = true;
	inet_pton(AF_INET6, "fd66::2", &list[0].addr6);
	inet_pton(AF_INET6, "fd66::3", &list[1].addr6);
	list[1].has_psk = true;
	memset(list[1].psk, 0x5a, SL_KEY_LEN);
	fleet_cache_format(list, 2, pool, 7, &b);
	CHECK_STR_CONTAINS(b.s, "# sluice registry cache: 10.66.0.1/24, fd66::1/64 7\nalice ");
	CHECK_STR_CONTAINS(b.s, " 10.66.0.2 fd66::2\n");
	CHECK_STR_CONTAINS(b.s, " 10.66.0.3 fd66::3 psk=WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n");
	CHECK(fleet_cache_parse(b.s, b.len, pool, &back, &n, &rev, &e) == 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(rev, 7);
	if (n == 2)
		CHECK(back[0].has_addr6 && !memcmp(&back[0].addr6, &list[0].addr6, sizeof(back[0].addr6)) &&
		      !back[0].has_psk && back[1].has_addr6 && !memcmp(&back[1].addr6, &list[1].addr6, 16) &&
		      back[1].has_psk && !memcmp(back[1].psk, list[1].psk, SL_KEY_LEN));
	free(back);
	/* the IPv4-only pool of the same prefix is another pool */
	CHECK(fleet_cache_parse(b.s, b.len, "10.66.0.1/24", &back, &n, &rev, &e) == -EINVAL);
	free(b.s);
	b = (struct strbuf){0};
	sb_printf(&b, "# sluice registry cache: %s 7\nalice %s 10.66.0.2 fd66::2 fd66::3\n", pool, K1);
	CHECK(fleet_cache_parse(b.s, b.len, pool, &back, &n, &rev, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "line 2:");
	free(b.s);
	{
		struct sl_client_cfg file[2] = {cl("anna", NULL), cl("bob", NULL)};
		file[0].pubkey[0] = 'a'; /* alice's key: gets her cached IPv6 lease */
		file[1].has_addr6 = true; /* bob with another fixed IPv6 address: left out */
		inet_pton(AF_INET6, "fd66::9", &file[1].addr6);
		CHECK(fleet_cache_merge(list, 2, file, 2, &m, &nm, &left) == 0);
		CHECK_EQ_INT(left, 1);
		CHECK_EQ_INT(nm, 1);
		if (nm == 1)
			CHECK(!strcmp(m[0].name, "anna") && m[0].has_addr6 &&
			      !memcmp(&m[0].addr6, &list[0].addr6, sizeof(m[0].addr6)));
		free(m);
	}
}

/* etcd 3.4's lease answers (texts as it sent them in a test run) and the session record (fleet_sessions.h) */
static void sessions(void)
{
	const char *grant = "{\"header\":{\"cluster_id\":\"7222109305586615858\",\"member_id\":\"17767816877210000001\","
			    "\"revision\":\"1\",\"raft_term\":\"2\"},\"ID\":\"6521672114668543237\",\"TTL\":\"6\"}";
	const char *alive = "{\"result\":{\"header\":{\"cluster_id\":\"7222109305586615858\",\"revision\":\"1\"},"
			    "\"ID\":\"6521672114668543237\",\"TTL\":\"6\"}}";
	const char *gone = "{\"result\":{\"header\":{\"cluster_id\":\"7222109305586615858\",\"revision\":\"1\"},"
			   "\"ID\":\"123\"}}";
	const char *err = "{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: requested "
			  "lease not found\",\"code\":5}";
	struct sl_err e = {{0}};
	struct fleet_session x, y;
	char rec[320], gw[FLEET_GW_LABEL_MAX];
	int64_t id, ttl;

	CHECK(etcd_parse_lease(grant, strlen(grant), &id, &ttl, &e) == 0 && id == 6521672114668543237 && ttl == 6);
	CHECK(etcd_parse_lease(alive, strlen(alive), &id, &ttl, &e) == 0 && id == 6521672114668543237 && ttl == 6);
	CHECK(etcd_parse_lease(gone, strlen(gone), &id, &ttl, &e) == 0 && id == 123 && ttl == 0); /* expired */
	CHECK(etcd_parse_lease(err, strlen(err), &id, &ttl, &e) == -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "lease not found"); /* what fleet_sessions_tick looks for */

	memset(&x, 0, sizeof(x));
	snprintf(x.name, sizeof(x.name), "laptop");
	inet_pton(AF_INET, "10.66.0.2", &x.addr);
	x.since = 1764770000;
	fleet_session_record(&x, "gw1/sluice0", rec, sizeof(rec));
	CHECK(!strcmp(rec, "name=laptop gateway=gw1/sluice0 address=10.66.0.2 since=1764770000"));
	CHECK(fleet_session_parse(rec, &y, gw, sizeof(gw)) == 0 && !strcmp(y.name, "laptop") && !strcmp(gw, "gw1/sluice0") &&
	      y.addr.s_addr == x.addr.s_addr && !y.has_addr6 && y.since == x.since);
	x.has_addr6 = true;
	inet_pton(AF_INET6, "fd66::2", &x.addr6);
	fleet_session_record(&x, "gw1/sluice0", rec, sizeof(rec));
	CHECK(!strcmp(rec, "name=laptop gateway=gw1/sluice0 address=10.66.0.2 address6=fd66::2 since=1764770000"));
	CHECK(fleet_session_parse(rec, &y, gw, sizeof(gw)) == 0 && y.has_addr6 && !memcmp(&y.addr6, &x.addr6, 16));
	/* broken: a field missing, repeated, unknown, a bad address or time */
	CHECK(fleet_session_parse("name=a gateway=g address=10.66.0.2", &y, gw, sizeof(gw)) == -EINVAL);
	CHECK(fleet_session_parse("name=a name=b gateway=g address=10.66.0.2 since=1", &y, gw, sizeof(gw)) == -EINVAL);
	CHECK(fleet_session_parse("name=a gateway=g address=10.66.0.2 since=1 x=y", &y, gw, sizeof(gw)) == -EINVAL);
	CHECK(fleet_session_parse("name=a gateway=g address=10.66.0 since=1", &y, gw, sizeof(gw)) == -EINVAL);
	CHECK(fleet_session_parse("name=a gateway=g address=10.66.0.2 since=1s", &y, gw, sizeof(gw)) == -EINVAL);
	CHECK(fleet_session_parse("name=a gateway=g address=10.66.0.2 address6=fd66::zz since=1", &y, gw, sizeof(gw)) ==
	      -EINVAL);
	CHECK(fleet_session_parse("", &y, gw, sizeof(gw)) == -EINVAL);
}

/* A watch message with its events, and what each event does to a merged list (incremental apply). */
static void events(void)
{
	struct sl_client_cfg file[1] = {cl("filec", "10.66.0.9")}, c;
	struct sl_client_cfg *list = calloc(3, sizeof(*list));
	struct etcd_watch_msg m;
	struct sl_err e = {{0}};
	char rec[200];
	size_t n = 0;

	/* the parser: a put (type left out) and a delete, with the values decoded; a compaction's cancel */
	{
		/* "/p/clients/dave" = L3AvY2xpZW50cy9kYXZl, "x y" = eCB5 */
		const char *evs = "{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{\"kv\":{\"key\":"
				  "\"L3AvY2xpZW50cy9kYXZl\",\"value\":\"eCB5\",\"mod_revision\":\"7\"}},{\"type\":"
				  "\"DELETE\",\"kv\":{\"key\":\"L3AvY2xpZW50cy9kYXZl\",\"mod_revision\":\"7\"}}]}}";
		const char *cn = "{\"result\":{\"header\":{\"revision\":\"9\"},\"canceled\":true,"
				 "\"compact_revision\":\"8\"}}";
		const char *bad = "{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{\"kv\":{}}]}}";
		const char *bad64 = "{\"result\":{\"events\":[{\"kv\":{\"key\":\"@@@\"}}]}}";
		CHECK(etcd_parse_watch_msg(evs, strlen(evs), &m, &e) == 0);
		CHECK(m.rev == 7 && !m.canceled && m.n_ev == 2 && !m.ev[0].del && m.ev[1].del);
		CHECK(!strcmp(m.ev[0].key, "/p/clients/dave") && !strcmp(m.ev[0].value, "x y") && m.ev[0].mod_revision == 7);
		CHECK(!strcmp(m.ev[1].value, ""));
		etcd_watch_msg_free(&m);
		CHECK(etcd_parse_watch_msg(cn, strlen(cn), &m, &e) == 0 && m.canceled && m.compact_revision == 8 && !m.n_ev);
		etcd_watch_msg_free(&m);
		CHECK(etcd_parse_watch_msg(bad, strlen(bad), &m, &e) == -EINVAL && !m.ev);
		CHECK_STR_CONTAINS(e.msg, "without a key");
		CHECK(etcd_parse_watch_msg(bad64, strlen(bad64), &m, &e) == -EINVAL && !m.ev);
		CHECK(etcd_parse_watch_msg("{}", 2, &m, &e) == -EINVAL);
	}
	CHECK(list != NULL);
	list[n++] = file[0];
	list[n++] = cl("alice", "10.66.0.2");
	/* a put of a new name: parsed (fixed address kept for the lease step), then put */
	{
		struct sl_client_cfg b = cl("bob", NULL);
		struct in_addr a;
		inet_pton(AF_INET, "10.66.0.3", &a);
		fleet_client_record(b.pubkey, &a, NULL, NULL, rec, sizeof(rec));
	}
	CHECK(fleet_event_prepare("/p", false, "/p/clients/bob", rec, file, 1, list, n, 0, &c) == FLEET_EV_PUT);
	CHECK(!strcmp(c.name, "bob") && c.has_addr && c.pubkey[0] == 'b' && c.line == 0);
	CHECK(fleet_list_put(&list, &n, &c) == 0 && n == 3 && !strcmp(list[2].name, "bob"));
	/* the same name again (a new address): replaced in place */
	c.addr.s_addr = htonl(0x0a420004);
	CHECK(fleet_list_put(&list, &n, &c) == 0 && n == 3 && list[2].addr.s_addr == htonl(0x0a420004));
	/* a bad record, a bad name, a key outside clients/: only a full read can say */
	CHECK(fleet_event_prepare("/p", false, "/p/clients/carol", "notakey", file, 1, list, n, 0, &c) == -EINVAL);
	CHECK(fleet_event_prepare("/p", false, "/p/clients/a b", rec, file, 1, list, n, 0, &c) == -EINVAL);
	CHECK(fleet_event_prepare("/p", false, "/p/pool", rec, file, 1, list, n, 0, &c) == -EINVAL);
	/* bob's key under another name: the full read picks one */
	CHECK(fleet_event_prepare("/p", false, "/p/clients/bob2", rec, file, 1, list, n, 0, &c) == -EINVAL);
	/* the file's name: nothing changes; the file's key under a registry name: that entry goes */
	CHECK(fleet_event_prepare("/p", false, "/p/clients/filec", rec, file, 1, list, n, 0, &c) == FLEET_EV_SKIP);
	CHECK(fleet_event_prepare("/p", true, "/p/clients/filec", "", file, 1, list, n, 0, &c) == FLEET_EV_SKIP);
	fleet_client_record(file[0].pubkey, NULL, NULL, NULL, rec, sizeof(rec));
	CHECK(fleet_event_prepare("/p", false, "/p/clients/bob", rec, file, 1, list, n, 0, &c) == FLEET_EV_DELETE);
	CHECK(!strcmp(c.name, "bob"));
	/* a delete: that entry goes, the others stay */
	CHECK(fleet_event_prepare("/p", true, "/p/clients/alice", "", file, 1, list, n, 0, &c) == FLEET_EV_DELETE);
	CHECK(fleet_list_del(list, &n, c.name) && n == 2 && !strcmp(list[0].name, "filec") && !strcmp(list[1].name, "bob"));
	CHECK(!fleet_list_del(list, &n, "alice") && n == 2);
	/* with clients left out, a delete or a key change might let one in: a full read */
	CHECK(fleet_event_prepare("/p", true, "/p/clients/bob", "", file, 1, list, n, 1, &c) == -EINVAL);
	fleet_client_record(cl("zed", NULL).pubkey, NULL, NULL, NULL, rec, sizeof(rec));
	CHECK(fleet_event_prepare("/p", false, "/p/clients/bob", rec, file, 1, list, n, 1, &c) == -EINVAL);
	CHECK(fleet_event_prepare("/p", false, "/p/clients/zed", rec, file, 1, list, n, 1, &c) == FLEET_EV_PUT);
	free(list);
}

int main(void)
{
	url_ok();
	url_errors();
	config_key();
	requests();
	answers();
	records();
	cache();
	cache6();
	sessions();
	events();
	return check_done("test_registry");
}
