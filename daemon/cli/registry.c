/* registry: `sluice registry add NAME PUBKEY [ADDRESS] | remove NAME | list`, each with --registry URL — the
 * clients of a fleet's etcd registry (DESIGN §9 "Fleet"; keys as in daemon/registry/fleet_sync.h). Gateways
 * watching the registry apply a change within about a second, without a reload. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "daemon/cli/cli.h"
#include "daemon/registry/fleet_sync.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s registry add NAME PUBKEY [ADDRESS] [--psk-file FILE] --registry URL\n"
		   "       %s registry remove NAME --registry URL\n"
		   "       %s registry list --registry URL\n"
		   "URL is etcd[s]://HOST:PORT[,HOST:PORT...]/PREFIX, as a gateway's Registry =; with etcds:// (TLS),\n"
		   "--ca FILE names the CA bundle that signs etcd's certificate (default: the system's).\n"
		   "add: a client by name and base64 public key, with an optional fixed IPv4 tunnel address (leased at\n"
		   "once; refused if another key holds it). remove: its sessions end on every gateway; its address\n"
		   "stays reserved for its key. --psk-file: the client's pre-shared key (sluice genpsk; mode 0600), stored\n"
		   "in the registry for every gateway (the client's [Server] names the same file as PresharedKeyFile).\n"
		   "list: NAME, PUBLIC KEY, ADDRESS (its lease; (none) before any), PSK (yes / no), tab-separated.\n",
		SL_PROG, SL_PROG, SL_PROG);
}

static int reg_add(struct etcd *c, const char *prefix, char **a, int n, const char *psk_file)
{
	char path[FLEET_KEY_MAX], rec[160], owner[2 * SL_KEY_LEN + 1], *pool_txt = NULL;
	uint8_t key[SL_KEY_LEN], psk[SL_KEY_LEN];
	struct in_addr addr;
	struct etcd_kv *kv;
	struct sl_err e = {{0}};
	size_t nkv;
	int64_t rev;
	bool ok, has_addr = n == 3;
	int ret;

	if (n < 2 || n > 3) {
		usage(stderr);
		return 2;
	}
	if (!fleet_name_ok(a[0])) {
		fprintf(stderr, "%s: registry add: '%s' is not a client name (1..%d of A-Z a-z 0-9 . _ -)\n", SL_PROG,
			a[0], SL_NAME_MAX - 1);
		return 2;
	}
	if (key_from_base64(a[1], key)) {
		fprintf(stderr, "%s: registry add: '%s' is not a base64 public key (44 characters)\n", SL_PROG, a[1]);
		return 2;
	}
	if (has_addr && inet_pton(AF_INET, a[2], &addr) != 1) {
		fprintf(stderr, "%s: registry add: '%s' is not an IPv4 address (the pools are IPv4)\n", SL_PROG, a[2]);
		return 2;
	}
	if (psk_file && key_load_private_file(psk_file, psk, &e)) {
		fprintf(stderr, "%s: registry add: --psk-file %s\n", SL_PROG, e.msg);
		return 2;
	}
	/* the key must not be another name's */
	snprintf(path, sizeof(path), "%s/clients/", prefix);
	if ((ret = etcd_range_prefix(c, path, &kv, &nkv, &rev, &e)))
		goto fail;
	for (size_t i = 0; i < nkv; i++) {
		uint8_t k[SL_KEY_LEN];
		bool h;
		struct in_addr x;
		if (!fleet_client_parse(kv[i].value, k, &h, &x, NULL, NULL) && !memcmp(k, key, SL_KEY_LEN) &&
		    strcmp(kv[i].key + strlen(path), a[0])) {
			fprintf(stderr, "%s: registry add: that key is client '%s''s already\n", SL_PROG,
				kv[i].key + strlen(path));
			etcd_kvs_free(kv, nkv);
			return 1;
		}
	}
	etcd_kvs_free(kv, nkv);
	if (has_addr) {
		struct sl_prefix4 pool;
		char *slash;
		snprintf(path, sizeof(path), "%s/pool", prefix);
		if ((ret = etcd_get(c, path, &pool_txt, &e)))
			goto fail;
		/* before the first gateway records the pool, the gateways check the address when they lease it */
		if (pool_txt && (slash = strchr(pool_txt, '/')) && (*slash = 0, inet_pton(AF_INET, pool_txt, &pool.addr) == 1)) {
			pool.len = (uint8_t)atoi(slash + 1);
			*slash = '/';
			if (!fleet_addr_in_pool(&pool, addr)) {
				fprintf(stderr, "%s: registry add: %s is not a client address of the fleet's pool %s\n",
					SL_PROG, a[2], pool_txt);
				free(pool_txt);
				return 1;
			}
		}
		free(pool_txt);
		ret = fleet_lease_fixed(c, prefix, key, addr, owner, &e);
		if (ret == -EEXIST) {
			fprintf(stderr, "%s: registry add: %s is leased to another key (hex %.16s...)\n", SL_PROG, a[2],
				owner);
			return 1;
		}
		if (ret)
			goto fail;
	}
	snprintf(path, sizeof(path), "%s/clients/%s", prefix, a[0]);
	fleet_client_record(key, has_addr ? &addr : NULL, psk_file ? psk : NULL, rec, sizeof(rec));
	OPENSSL_cleanse(psk, sizeof(psk));
	{
		struct etcd_cmp cmp = {ETCD_CMP_ABSENT, path, NULL};
		struct etcd_op op = {ETCD_OP_PUT, path, rec};
		ret = etcd_txn(c, &cmp, 1, &op, 1, &ok, &e);
		OPENSSL_cleanse(rec, sizeof(rec));
		if (ret)
			goto fail;
	}
	if (!ok) {
		fprintf(stderr, "%s: registry add: client '%s' exists already (remove it first)\n", SL_PROG, a[0]);
		return 1;
	}
	return 0;
fail:
	fprintf(stderr, "%s: %s\n", SL_PROG, e.msg);
	return 1;
}

static int reg_remove(struct etcd *c, const char *prefix, char **a, int n)
{
	char path[FLEET_KEY_MAX], *old = NULL;
	struct sl_err e = {{0}};
	bool ok;
	int ret;

	if (n != 1) {
		usage(stderr);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/clients/%s", prefix, a[0]);
	if ((ret = etcd_get(c, path, &old, &e)))
		goto fail;
	if (!old) {
		fprintf(stderr, "%s: registry remove: no client '%s' in the registry\n", SL_PROG, a[0]);
		return 1;
	}
	{
		/* only the record that was read: a concurrent re-add is not removed by accident */
		struct etcd_cmp cmp = {ETCD_CMP_VALUE_EQ, path, old};
		struct etcd_op op = {ETCD_OP_DELETE, path, NULL};
		ret = etcd_txn(c, &cmp, 1, &op, 1, &ok, &e);
	}
	free(old);
	if (ret)
		goto fail;
	if (!ok) {
		fprintf(stderr, "%s: registry remove: client '%s' changed meanwhile; try again\n", SL_PROG, a[0]);
		return 1;
	}
	return 0;
fail:
	fprintf(stderr, "%s: %s\n", SL_PROG, e.msg);
	return 1;
}

struct lease_ref {
	const char *hex, *addr;
};

static int cmp_lease_ref(const void *a, const void *b)
{
	return strcmp(((const struct lease_ref *)a)->hex, ((const struct lease_ref *)b)->hex);
}

static int reg_list(struct etcd *c, const char *prefix, int n)
{
	char path[FLEET_KEY_MAX], lk[FLEET_KEY_MAX];
	struct etcd_kv *kv;
	struct sl_err e = {{0}};
	size_t nkv, lp, llk, n_leases = 0;
	struct lease_ref *leases; /* PREFIX/leases/key/HEX -> ADDRESS, sorted by HEX */
	int64_t rev;

	if (n != 0) {
		usage(stderr);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/", prefix);
	if (etcd_range_prefix(c, path, &kv, &nkv, &rev, &e)) {
		fprintf(stderr, "%s: %s\n", SL_PROG, e.msg);
		return 1;
	}
	lp = (size_t)snprintf(path, sizeof(path), "%s/clients/", prefix);
	llk = (size_t)snprintf(lk, sizeof(lk), "%s/leases/key/", prefix);
	leases = calloc(nkv + 1, sizeof(*leases));
	if (!leases) {
		etcd_kvs_free(kv, nkv);
		fprintf(stderr, "%s: registry list: out of memory\n", SL_PROG);
		return 1;
	}
	for (size_t j = 0; j < nkv; j++)
		if (!strncmp(kv[j].key, lk, llk))
			leases[n_leases++] = (struct lease_ref){kv[j].key + llk, kv[j].value};
	qsort(leases, n_leases, sizeof(*leases), cmp_lease_ref);
	for (size_t i = 0; i < nkv; i++) {
		uint8_t key[SL_KEY_LEN];
		char b64[SL_KEY_B64_LEN + 1], hex[2 * SL_KEY_LEN + 1];
		const char *lease = "(none)";
		struct lease_ref want = {hex, NULL}, *hit;
		struct in_addr a;
		bool h, has_psk;
		uint8_t psk[SL_KEY_LEN];

		if (strncmp(kv[i].key, path, lp) || fleet_client_parse(kv[i].value, key, &h, &a, &has_psk, psk))
			continue;
		fleet_key_hex(key, hex);
		hit = n_leases ? bsearch(&want, leases, n_leases, sizeof(*leases), cmp_lease_ref) : NULL;
		if (hit)
			lease = hit->addr;
		key_to_base64(key, b64);
		OPENSSL_cleanse(psk, sizeof(psk));
		printf("%s\t%s\t%s\t%s\n", kv[i].key + lp, b64, lease, has_psk ? "yes" : "no");
	}
	free(leases);
	etcd_kvs_free(kv, nkv);
	return 0;
}

int registry_main(int argc, char **argv)
{
	char *args[8];
	const char *url_text = NULL, *ca = NULL, *psk_file = NULL;
	struct etcd_url url;
	struct etcd c;
	struct sl_err e = {{0}};
	int n = 0, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--registry") && i + 1 < argc)
			url_text = argv[++i];
		else if (!strncmp(argv[i], "--registry=", 11))
			url_text = argv[i] + 11;
		else if (!strcmp(argv[i], "--ca") && i + 1 < argc)
			ca = argv[++i];
		else if (!strcmp(argv[i], "--psk-file") && i + 1 < argc)
			psk_file = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "%s: registry: unknown option '%s'\n", SL_PROG, argv[i]);
			usage(stderr);
			return 2;
		} else if (n < 8)
			args[n++] = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!n || !url_text) {
		if (!url_text && n)
			fprintf(stderr, "%s: registry: --registry URL is required\n", SL_PROG);
		usage(stderr);
		return 2;
	}
	if (etcd_url_parse(url_text, &url, &e)) {
		fprintf(stderr, "%s: registry: --registry %s\n", SL_PROG, e.msg);
		return 2;
	}
	if (strcmp(args[0], "add") && strcmp(args[0], "remove") && strcmp(args[0], "list")) {
		fprintf(stderr, "%s: registry: unknown command '%s'\n", SL_PROG, args[0]);
		usage(stderr);
		return 2;
	}
	if (psk_file && strcmp(args[0], "add")) {
		fprintf(stderr, "%s: registry: --psk-file belongs to add\n", SL_PROG);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || etcd_open(&c, &url, ca, &e)) {
		fprintf(stderr, "%s: registry: curl: cannot initialise\n", SL_PROG);
		return 1;
	}
	if (!strcmp(args[0], "add"))
		ret = reg_add(&c, url.prefix, args + 1, n - 1, psk_file);
	else if (!strcmp(args[0], "remove"))
		ret = reg_remove(&c, url.prefix, args + 1, n - 1);
	else
		ret = reg_list(&c, url.prefix, n - 1);
	etcd_close(&c);
	curl_global_cleanup();
	return ret;
}
