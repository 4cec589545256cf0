/* registry: `sluice registry add NAME PUBKEY [ADDRESS...] | remove NAME | list | sessions`, each with --registry URL — the
 * clients of a fleet's etcd registry (DESIGN §9 "Fleet"; keys as in daemon/registry/fleet_sync.h). Gateways
 * watching the registry apply a change within about a second, without a reload. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "daemon/cli/cli.h"
#include "daemon/registry/fleet_sessions.h"
#include "daemon/registry/fleet_sync.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s registry add NAME PUBKEY [ADDRESS...] [--psk-file FILE] --registry URL\n"
		   "       %s registry remove NAME --registry URL\n"
		   "       %s registry list --registry URL\n"
		   "       %s registry sessions --registry URL\n"
		   "URL is etcd[s]://HOST:PORT[,HOST:PORT...]/PREFIX, as a gateway's Registry =; with etcds:// (TLS),\n"
		   "--ca FILE names the CA bundle that signs etcd's certificate (default: the system's); --cert FILE and\n"
		   "--key FILE a client certificate and its key (mode 0600) for an etcd with --client-cert-auth.\n"
		   "add: a client by name and base64 public key, with optional fixed tunnel addresses, one IPv4 and/or one\n"
		   "IPv6 (each leased at once; refused if another key holds it). remove: its sessions end on every\n"
		   "gateway; its addresses stay reserved for its key. --psk-file: the client's pre-shared key (sluice genpsk; mode 0600), stored\n"
		   "in the registry for every gateway (the client's [Server] names the same file as PresharedKeyFile).\n"
		   "list: NAME, PUBLIC KEY, ADDRESS (its IPv4 lease; (none) before any), PSK (yes / no), ADDRESS6 (its\n"
		   "IPv6 lease, with a dual-stack pool; (none) otherwise), tab-separated.\n"
		   "sessions: where each client is connected: NAME, GATEWAY (host/interface), ADDRESS, ADDRESS6, SINCE\n"
		   "(UTC), GATEWAY KEY (hex, 16 first digits), tab-separated; one line per live session of every gateway.\n",
		SL_PROG, SL_PROG, SL_PROG, SL_PROG);
}

/* The fleet's pool record ("10.66.0.1/24[, fd66::1/64]") as prefixes; false when there is none yet. */
static bool pool_parse(const char *txt, struct sl_prefix4 *p4, struct sl_prefix6 *p6)
{
	char buf[128], *c6, *slash;

	memset(p4, 0, sizeof(*p4));
	memset(p6, 0, sizeof(*p6));
	snprintf(buf, sizeof(buf), "%s", txt);
	if ((c6 = strstr(buf, ", ")))
		*c6 = 0, c6 += 2;
	if (!(slash = strchr(buf, '/')))
		return false;
	*slash = 0;
	if (inet_pton(AF_INET, buf, &p4->addr) != 1)
		return false;
	p4->len = (uint8_t)atoi(slash + 1);
	if (c6 && (slash = strchr(c6, '/'))) {
		*slash = 0;
		if (inet_pton(AF_INET6, c6, &p6->addr) == 1)
			p6->len = (uint8_t)atoi(slash + 1);
	}
	return true;
}

static int reg_add(struct etcd *c, const char *prefix, char **a, int n, const char *psk_file)
{
	char path[FLEET_KEY_MAX], rec[256], owner[2 * SL_KEY_LEN + 1], *pool_txt = NULL;
	uint8_t key[SL_KEY_LEN], psk[SL_KEY_LEN];
	struct in_addr addr;
	struct in6_addr addr6;
	struct etcd_kv *kv;
	struct sl_err e = {{0}};
	size_t nkv;
	int64_t rev;
	bool ok, has_addr = false, has_addr6 = false;
	int ret;

	if (n < 2 || n > 4) {
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
	for (int i = 2; i < n; i++) {
		if (!has_addr && inet_pton(AF_INET, a[i], &addr) == 1) {
			has_addr = true;
		} else if (!has_addr6 && inet_pton(AF_INET6, a[i], &addr6) == 1) {
			has_addr6 = true;
		} else {
			fprintf(stderr, "%s: registry add: '%s' is not an IPv4 or IPv6 address, or a second one of "
					"its family (one of each at most)\n", SL_PROG, a[i]);
			return 2;
		}
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
		bool h, h6;
		struct in_addr x;
		struct in6_addr x6;
		if (!fleet_client_parse(kv[i].value, k, &h, &x, &h6, &x6, NULL, NULL) && !memcmp(k, key, SL_KEY_LEN) &&
		    strcmp(kv[i].key + strlen(path), a[0])) {
			fprintf(stderr, "%s: registry add: that key is client '%s''s already\n", SL_PROG,
				kv[i].key + strlen(path));
			etcd_kvs_free(kv, nkv);
			return 1;
		}
	}
	etcd_kvs_free(kv, nkv);
	if (has_addr || has_addr6) {
		struct sl_prefix4 pool;
		struct sl_prefix6 pool6;
		char t[INET6_ADDRSTRLEN];

		snprintf(path, sizeof(path), "%s/pool", prefix);
		if ((ret = etcd_get(c, path, &pool_txt, &e)))
			goto fail;
		/* before the first gateway records the pool, the gateways check the addresses when they lease them */
		if (pool_txt && pool_parse(pool_txt, &pool, &pool6)) {
			const char *bad = NULL;
			if (has_addr && !fleet_addr_in_pool(&pool, addr))
				bad = inet_ntop(AF_INET, &addr, t, sizeof(t));
			else if (has_addr6 && !fleet_addr6_in_pool(&pool6, &addr6))
				bad = inet_ntop(AF_INET6, &addr6, t, sizeof(t));
			if (bad) {
				fprintf(stderr, "%s: registry add: %s is not a client address of the fleet's pool %s\n",
					SL_PROG, bad, pool_txt);
				free(pool_txt);
				return 1;
			}
		}
		free(pool_txt);
		for (int f = 0; f < 2; f++) {
			int af = f ? AF_INET6 : AF_INET;
			const void *x = f ? (const void *)&addr6 : (const void *)&addr;
			if (!(f ? has_addr6 : has_addr))
				continue;
			ret = fleet_lease_fixed(c, prefix, key, af, x, owner, &e);
			if (ret == -EEXIST) {
				fprintf(stderr, "%s: registry add: %s is leased to another key (hex %.16s...)\n", SL_PROG,
					inet_ntop(af, x, t, sizeof(t)), owner);
				return 1;
			}
			if (ret)
				goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s/clients/%s", prefix, a[0]);
	fleet_client_record(key, has_addr ? &addr : NULL, has_addr6 ? &addr6 : NULL, psk_file ? psk : NULL, rec,
			    sizeof(rec));
	OPENSSL_cleanse(psk, sizeof(psk));
	{
		struct etcd_cmp cmp = {ETCD_CMP_ABSENT, path, NULL};
		struct etcd_op op = {ETCD_OP_PUT, path, rec, 0};
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
		struct etcd_op op = {ETCD_OP_DELETE, path, NULL, 0};
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

/* PREFIX/DIR/key/HEX -> ADDRESS of one family, sorted by HEX */
static struct lease_ref *leases_of(const struct etcd_kv *kv, size_t nkv, const char *prefix, const char *dir,
				   size_t *n)
{
	char lk[FLEET_KEY_MAX];
	size_t llk = (size_t)snprintf(lk, sizeof(lk), "%s/%s/key/", prefix, dir);
	struct lease_ref *l = calloc(nkv + 1, sizeof(*l));

	*n = 0;
	if (!l)
		return NULL;
	for (size_t j = 0; j < nkv; j++)
		if (!strncmp(kv[j].key, lk, llk))
			l[(*n)++] = (struct lease_ref){kv[j].key + llk, kv[j].value};
	qsort(l, *n, sizeof(*l), cmp_lease_ref);
	return l;
}

static const char *lease_text(const struct lease_ref *l, size_t n, const char *hex)
{
	struct lease_ref want = {hex, NULL}, *hit = n ? bsearch(&want, l, n, sizeof(*l), cmp_lease_ref) : NULL;
	return hit ? hit->addr : "(none)";
}

static int reg_list(struct etcd *c, const char *prefix, int n)
{
	char path[FLEET_KEY_MAX];
	struct etcd_kv *kv;
	struct sl_err e = {{0}};
	size_t nkv, lp, n4 = 0, n6 = 0;
	struct lease_ref *l4, *l6;
	int64_t rev;

	if (n != 0) {
		usage(stderr);
		return 2;
	}
	{
		char end[FLEET_KEY_MAX];
		snprintf(path, sizeof(path), "%s/", prefix);
		snprintf(end, sizeof(end), "%s/sessions/", prefix); /* the live sessions: not needed here */
		if (etcd_range(c, path, end, &kv, &nkv, &rev, &e)) {
			fprintf(stderr, "%s: %s\n", SL_PROG, e.msg);
			return 1;
		}
	}
	lp = (size_t)snprintf(path, sizeof(path), "%s/clients/", prefix);
	l4 = leases_of(kv, nkv, prefix, "leases", &n4);
	l6 = leases_of(kv, nkv, prefix, "leases6", &n6);
	if (!l4 || !l6) {
		free(l4);
		free(l6);
		etcd_kvs_free(kv, nkv);
		fprintf(stderr, "%s: registry list: out of memory\n", SL_PROG);
		return 1;
	}
	for (size_t i = 0; i < nkv; i++) {
		uint8_t key[SL_KEY_LEN];
		char b64[SL_KEY_B64_LEN + 1], hex[2 * SL_KEY_LEN + 1];
		struct in_addr a;
		struct in6_addr a6;
		bool h, h6, has_psk;
		uint8_t psk[SL_KEY_LEN];

		if (strncmp(kv[i].key, path, lp) ||
		    fleet_client_parse(kv[i].value, key, &h, &a, &h6, &a6, &has_psk, psk))
			continue;
		fleet_key_hex(key, hex);
		key_to_base64(key, b64);
		OPENSSL_cleanse(psk, sizeof(psk));
		printf("%s\t%s\t%s\t%s\t%s\n", kv[i].key + lp, b64, lease_text(l4, n4, hex), has_psk ? "yes" : "no",
		       lease_text(l6, n6, hex));
	}
	free(l4);
	free(l6);
	etcd_kvs_free(kv, nkv);
	return 0;
}

static int reg_sessions(struct etcd *c, const char *prefix, int n)
{
	char path[FLEET_KEY_MAX];
	struct etcd_kv *kv;
	struct sl_err e = {{0}};
	size_t nkv, lp;
	int64_t rev;

	if (n != 0) {
		usage(stderr);
		return 2;
	}
	lp = (size_t)snprintf(path, sizeof(path), "%s/sessions/", prefix);
	if (etcd_range_prefix(c, path, &kv, &nkv, &rev, &e)) {
		fprintf(stderr, "%s: %s\n", SL_PROG, e.msg);
		return 1;
	}
	for (size_t i = 0; i < nkv; i++) {
		struct fleet_session x;
		char gw[FLEET_GW_LABEL_MAX], a[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN] = "(none)", when[32];
		time_t t;
		struct tm tm;

		if (strncmp(kv[i].key, path, lp) || fleet_session_parse(kv[i].value, &x, gw, sizeof(gw)))
			continue; /* not a session record: not ours to show */
		if (x.has_addr6)
			inet_ntop(AF_INET6, &x.addr6, a6, sizeof(a6));
		t = (time_t)x.since;
		if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
			snprintf(when, sizeof(when), "?");
		printf("%s\t%s\t%s\t%s\t%s\t%.16s\n", x.name, gw, inet_ntop(AF_INET, &x.addr, a, sizeof(a)), a6, when,
		       kv[i].key + lp);
	}
	etcd_kvs_free(kv, nkv);
	return 0;
}

int registry_main(int argc, char **argv)
{
	char *args[8];
	const char *url_text = NULL, *ca = NULL, *psk_file = NULL, *cert = NULL, *key = NULL;
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
		else if (!strcmp(argv[i], "--cert") && i + 1 < argc)
			cert = argv[++i];
		else if (!strcmp(argv[i], "--key") && i + 1 < argc)
			key = argv[++i];
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
	if (strcmp(args[0], "add") && strcmp(args[0], "remove") && strcmp(args[0], "list") &&
	    strcmp(args[0], "sessions")) {
		fprintf(stderr, "%s: registry: unknown command '%s'\n", SL_PROG, args[0]);
		usage(stderr);
		return 2;
	}
	if (psk_file && strcmp(args[0], "add")) {
		fprintf(stderr, "%s: registry: --psk-file belongs to add\n", SL_PROG);
		return 2;
	}
	if (!cert != !key || (cert && !url.tls)) {
		fprintf(stderr, "%s: registry: --cert and --key go together, with an etcds:// URL\n", SL_PROG);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || etcd_open(&c, &url, ca, &e)) {
		fprintf(stderr, "%s: registry: curl: cannot initialise\n", SL_PROG);
		return 1;
	}
	if (etcd_client_cert(&c, cert, key, &e)) {
		fprintf(stderr, "%s: registry: %s\n", SL_PROG, e.msg);
		etcd_close(&c);
		curl_global_cleanup();
		return 2;
	}
	if (!strcmp(args[0], "add"))
		ret = reg_add(&c, url.prefix, args + 1, n - 1, psk_file);
	else if (!strcmp(args[0], "remove"))
		ret = reg_remove(&c, url.prefix, args + 1, n - 1);
	else if (!strcmp(args[0], "sessions"))
		ret = reg_sessions(&c, url.prefix, n - 1);
	else
		ret = reg_list(&c, url.prefix, n - 1);
	etcd_close(&c);
	curl_global_cleanup();
	return ret;
}
