/* fuzz_proto: the control-plane lines a peer sends us — requests (gateway side) and AUTH answers (client
 * side, with or without the IPv6 fields) — and the lease files (IPv4 and IPv6) the gateway reads at start. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "daemon/control/pool.h"
#include "daemon/control/proto.h"

static int lease_cb(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a)
{
	return a.s_addr == 0 ? -EEXIST : 0;
}

static int lease6_cb(void *arg, const uint8_t key[SL_KEY_LEN], const struct in6_addr *a)
{
	return a->s6_addr[0] == 0 ? -EEXIST : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_snapshot s;
	enum proto_req r;
	uint32_t id;
	char err[64];
	struct sl_err e;

	proto_parse_request((const char *)data, size, &r, &id);
	if (proto_parse_snapshot((const char *)data, size, &s, err, sizeof(err)) == 0) {
		char buf[PROTO_LINE_MAX];
		struct proto_snapshot t;
		int len = proto_format_snapshot(buf, sizeof(buf), &s);
		/* what we accept, we can say again, and it means the same */
		if (len < 0 || proto_parse_snapshot(buf, (size_t)len, &t, NULL, 0) || t.session_id != s.session_id ||
		    t.addr.s_addr != s.addr.s_addr || t.no_v4 != s.no_v4 || t.n_dns != s.n_dns || t.has_confirm != s.has_confirm ||
		    (s.has_confirm && memcmp(t.confirm, s.confirm, sizeof(s.confirm))) || t.has_v6 != s.has_v6 ||
		    (s.has_v6 && (memcmp(&t.addr6, &s.addr6, 16) || t.plen6 != s.plen6)))
			__builtin_trap();
	}
	{
		uint8_t mac[32], back[32];
		char buf[128];
		if (proto_parse_confirm((const char *)data, size, mac) == 0) {
			int len = proto_format_confirm(buf, sizeof(buf), mac);
			if (len < 0 || proto_parse_confirm(buf, (size_t)len, back) || memcmp(mac, back, sizeof(mac)))
				__builtin_trap();
		}
	}
	pool_parse_leases((const char *)data, size, "fuzz.leases", lease_cb, NULL, &e);
	pool_parse_leases6((const char *)data, size, "fuzz.leases6", lease6_cb, NULL, &e);
	return 0;
}
