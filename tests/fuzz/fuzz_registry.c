/* fuzz_registry: what a gateway reads from outside for its fleet registry — etcd's JSON answers (range, txn,
 * watch stream messages, lease answers), the Registry URL, the StateDir cache and a session record (what
 * `sluice registry sessions` reads) — on arbitrary bytes. The first byte picks the
 * parser. No crash or leak, and what is accepted is sane: keys and values are strings, a parsed cache formats
 * back to text that parses to the same list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/registry/etcd_json.h"
#include "daemon/registry/etcd_url.h"
#include "daemon/registry/fleet_cache.h"
#include "daemon/registry/fleet_sessions.h"

#define POOL "10.66.0.1/24"

static void cache_round_trip(const char *t, size_t n)
{
	struct sl_client_cfg *a, *b;
	struct strbuf sb = {0};
	struct sl_err e;
	size_t na, nb;
	int64_t rev, rev2;

	if (fleet_cache_parse(t, n, POOL, &a, &na, &rev, &e))
		return;
	fleet_cache_format(a, na, POOL, rev, &sb);
	if (sb.oom || fleet_cache_parse(sb.s, sb.len, POOL, &b, &nb, &rev2, &e))
		__builtin_trap();
	if (nb != na || rev2 != rev)
		__builtin_trap();
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].name, b[i].name) || memcmp(a[i].pubkey, b[i].pubkey, sizeof(a[i].pubkey)) ||
		    a[i].addr.s_addr != b[i].addr.s_addr || a[i].has_addr6 != b[i].has_addr6 ||
		    (a[i].has_addr6 && memcmp(&a[i].addr6, &b[i].addr6, sizeof(a[i].addr6))) || a[i].has_psk != b[i].has_psk)
			__builtin_trap();
	free(a);
	free(b);
	free(sb.s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_err e;
	char *t;

	if (size < 1 || size > 65536)
		return 0;
	t = malloc(size);
	if (!t)
		return 0;
	memcpy(t, data + 1, size - 1);
	t[size - 1] = 0; /* NUL-terminated for the URL; the others are given the length */
	switch (data[0] % 7) {
	case 0: {
		struct etcd_kv *kv;
		size_t n;
		int64_t rev;
		if (!etcd_parse_range(t, size - 1, &kv, &n, &rev, &e)) {
			for (size_t i = 0; i < n; i++)
				if (!kv[i].key || !kv[i].value)
					__builtin_trap();
			etcd_kvs_free(kv, n);
		}
		break;
	}
	case 1: {
		bool ok;
		int64_t rev;
		etcd_parse_txn(t, size - 1, &ok, &rev, &e);
		break;
	}
	case 2: {
		bool created, canceled;
		unsigned ev;
		int64_t rev;
		struct etcd_watch_msg m;
		etcd_parse_watch(t, size - 1, &created, &canceled, &ev, &rev, &e);
		/* the whole message, events included: every event it returns has its key and value */
		if (!etcd_parse_watch_msg(t, size - 1, &m, &e)) {
			for (size_t i = 0; i < m.n_ev; i++)
				if (!m.ev[i].key || !m.ev[i].value || (m.ev[i].del && m.ev[i].value[0]))
					__builtin_trap();
			etcd_watch_msg_free(&m);
		}
		break;
	}
	case 3: {
		struct etcd_url u;
		if (!etcd_url_parse(t, &u, &e) && (!u.n_endpoints || u.prefix[0] != '/'))
			__builtin_trap();
		break;
	}
	case 4: {
		int64_t id, ttl;
		if (!etcd_parse_lease(t, size - 1, &id, &ttl, &e) && !id)
			__builtin_trap();
		break;
	}
	case 5: {
		/* a session record that parses formats back to the same text's fields */
		struct fleet_session x, y;
		char gw[FLEET_GW_LABEL_MAX], gw2[FLEET_GW_LABEL_MAX], rec[512];
		if (fleet_session_parse(t, &x, gw, sizeof(gw)))
			break;
		fleet_session_record(&x, gw, rec, sizeof(rec));
		if (fleet_session_parse(rec, &y, gw2, sizeof(gw2)) || strcmp(x.name, y.name) || strcmp(gw, gw2) ||
		    x.addr.s_addr != y.addr.s_addr || x.has_addr6 != y.has_addr6 || x.since != y.since)
			__builtin_trap();
		break;
	}
	default:
		cache_round_trip(t, size - 1);
	}
	free(t);
	return 0;
}
