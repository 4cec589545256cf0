/* show, dump, metrics: views of the daemon's status (daemon/status.h) read from /run/sluice/IFACE.sock.
 * `show` has one print path for text and JSON (iproute2 style: each field is printed once, with a JSON key and
 * a text label), so -j cannot drift from the human output. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "daemon/cli/cli.h"
#include "daemon/status_model.h"
#include "daemon/config.h"
#include "daemon/ctlsock.h"
#include "daemon/metrics.h"
#include "daemon/dataplane/wire.h"
#include "kill-switch/killswitch.h"

/* A daemon silent this long (before its answer, or within it) is reported, not waited on. Not 1 s: a gateway
 * with 10,000 clients builds its 5 MB answer in ~50 ms, but on a busy 2-core host that took up to 0.9 s. */
#define QUERY_TIMEOUT_MS 5000
#define MAX_IFACES 256

/* ---- the print path */

struct pr {
	bool json;
	bool color;
	bool need_comma;
};

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void pr_key(struct pr *p, const char *jkey)
{
	if (p->need_comma)
		putchar(',');
	if (jkey) {
		json_str(jkey);
		putchar(':');
	}
	p->need_comma = false;
}

static void pr_label(struct pr *p, const char *label)
{
	printf(p->color ? "  \033[1m%s\033[0m: " : "  %s: ", label);
}

static void pr_open(struct pr *p, const char *jkey, char brace)
{
	if (!p->json)
		return;
	pr_key(p, jkey);
	putchar(brace);
}

static void pr_close(struct pr *p, char brace)
{
	if (!p->json)
		return;
	putchar(brace);
	p->need_comma = true;
}

/* A header line in text ("interface: sl0"), a string field in JSON. */
static void pr_head(struct pr *p, const char *jkey, const char *label, const char *val)
{
	if (p->json) {
		pr_key(p, jkey);
		json_str(val);
		p->need_comma = true;
		return;
	}
	printf(p->color ? "\033[1m%s\033[0m: %s\n" : "%s: %s\n", label, val);
}

/* A string field; label NULL: JSON only. */
static void pr_str(struct pr *p, const char *jkey, const char *label, const char *val)
{
	if (p->json) {
		pr_key(p, jkey);
		json_str(val ? val : "");
		p->need_comma = true;
	} else if (label) {
		pr_label(p, label);
		printf("%s\n", val && *val ? val : "(none)");
	}
}

/* A number: raw in JSON, `text` (already formatted) for humans; label NULL: JSON only. */
static void pr_num(struct pr *p, const char *jkey, const char *label, int64_t raw, const char *text)
{
	if (p->json) {
		pr_key(p, jkey);
		printf("%" PRId64, raw);
		p->need_comma = true;
	} else if (label) {
		pr_label(p, label);
		printf("%s\n", text);
	}
}

static void pr_null_or_bool(struct pr *p, const char *jkey, const char *label, int val)
{
	if (p->json) {
		pr_key(p, jkey);
		printf("%s", val < 0 ? "null" : val ? "true" : "false");
		p->need_comma = true;
	} else if (label) {
		pr_label(p, label);
		printf("%s\n", val < 0 ? "unknown" : val ? "on" : "off");
	}
}

/* ---- human units */

static const char *bytes_h(uint64_t b, char *buf, size_t n)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%" PRIu64 " B", b);
	else
		snprintf(buf, n, "%.2f %s", v, unit[u]);
	return buf;
}

static const char *age_h(int64_t secs, char *buf, size_t n)
{
	static const struct {
		int64_t s;
		const char *name;
	} parts[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
	size_t len = 0;

	if (secs < 0)
		return snprintf(buf, n, "never"), buf;
	if (secs == 0)
		return snprintf(buf, n, "now"), buf;
	buf[0] = 0;
	for (int i = 0; i < 4 && len < n; i++) {
		int64_t q = secs / parts[i].s;
		if (!q)
			continue;
		secs %= parts[i].s;
		len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64 " %s%s", len ? ", " : "", q, parts[i].name,
					q == 1 ? "" : "s");
	}
	if (len < n)
		snprintf(buf + len, n - len, " ago");
	return buf;
}

/* ---- blocks */

static void pr_transfer(struct pr *p, const struct st_block *b, const char *pre)
{
	char k[64], t[128], r[32], s[32];
	uint64_t rx, tx, rp, tp;

	snprintf(k, sizeof(k), "%srx_bytes", pre);
	rx = st_u64(b, k);
	snprintf(k, sizeof(k), "%stx_bytes", pre);
	tx = st_u64(b, k);
	snprintf(k, sizeof(k), "%srx_packets", pre);
	rp = st_u64(b, k);
	snprintf(k, sizeof(k), "%stx_packets", pre);
	tp = st_u64(b, k);
	snprintf(t, sizeof(t), "%s received, %s sent", bytes_h(rx, r, sizeof(r)), bytes_h(tx, s, sizeof(s)));
	pr_num(p, "rx_bytes", "transfer", (int64_t)rx, t);
	pr_num(p, "tx_bytes", NULL, (int64_t)tx, t);
	snprintf(t, sizeof(t), "%" PRIu64 " received, %" PRIu64 " sent", rp, tp);
	pr_num(p, "rx_packets", "packets", (int64_t)rp, t);
	pr_num(p, "tx_packets", NULL, (int64_t)tp, t);
}

static void pr_drops(struct pr *p, const struct st_block *b, const char *pre)
{
	char line[512] = "";
	size_t len = 0;

	pr_open(p, "drops", '{');
	for (int i = 0; i < SL_DROP__COUNT; i++) {
		char k[64];
		snprintf(k, sizeof(k), "%sdrop_%s", pre, wire_drop_name(i));
		uint64_t v = st_u64(b, k);
		pr_num(p, wire_drop_name(i), NULL, (int64_t)v, "");
		if (v && len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s %" PRIu64, len ? ", " : "",
						wire_drop_name(i), v);
	}
	pr_close(p, '}');
	if (!p->json) {
		pr_label(p, "drops");
		printf("%s\n", len ? line : "none");
	}
}

static void pr_handshake(struct pr *p, const struct st_block *b, const char *key, const char *jkey)
{
	char t[128];
	uint64_t hs = st_u64(b, key);
	int64_t age = hs ? (int64_t)time(NULL) - (int64_t)hs : -1;

	pr_num(p, jkey, "latest handshake", (int64_t)hs, age_h(age, t, sizeof(t)));
}

static void pr_last_rx(struct pr *p, const struct st_block *b, const char *key)
{
	char t[128];
	int64_t ms = st_i64(b, key);

	pr_num(p, "last_rx_age_ms", "last received", ms, age_h(ms < 0 ? -1 : ms / 1000, t, sizeof(t)));
}

/* "transport: tcp, 1 switch" — JSON: transport ("udp" | "tcp"), transport_switches */
static void pr_transport(struct pr *p, const struct st_block *b, const char *pre)
{
	char k[64], t[64];
	const char *tr;
	uint64_t sw;

	snprintf(k, sizeof(k), "%stransport", pre);
	tr = st_get(b, k) ? st_get(b, k) : "udp";
	snprintf(k, sizeof(k), "%stransport_switches", pre);
	sw = st_u64(b, k);
	pr_str(p, "transport", NULL, tr);
	pr_num(p, "transport_switches", NULL, (int64_t)sw, "");
	if (p->json)
		return;
	snprintf(t, sizeof(t), "%s, %" PRIu64 " switch%s", tr, sw, sw == 1 ? "" : "es");
	pr_label(p, "transport");
	printf("%s\n", t);
}

/* A comma-separated status value as a list: JSON an array of strings, text "a, b" or "(none)"; absent = none. */
static void pr_list(struct pr *p, const struct st_block *b, const char *key, const char *jkey, const char *label)
{
	const char *v = st_get(b, key);

	v = v ? v : "";
	if (p->json) {
		pr_key(p, jkey);
		putchar('[');
		for (const char *c = v; *c;) {
			size_t n = strcspn(c, ",");
			char item[128];
			snprintf(item, sizeof(item), "%.*s", (int)n, c);
			if (c != v)
				putchar(',');
			json_str(item);
			c += n + (c[n] == ',');
		}
		putchar(']');
		p->need_comma = true;
		return;
	}
	if (!*v)
		return; /* humans see nothing of a feature not in use */
	pr_label(p, label);
	for (const char *c = v; *c; c++)
		if (*c == ',')
			fputs(", ", stdout);
		else
			putchar(*c);
	putchar('\n');
}

static void pr_peer(struct pr *p, const struct st_block *b)
{
	char sid[16];

	if (!p->json)
		putchar('\n');
	pr_open(p, NULL, '{');
	pr_head(p, "name", "client", st_get(b, "peer"));
	pr_str(p, "public_key", "public key", st_get(b, "peer_public_key"));
	pr_str(p, "endpoint", "endpoint", st_get(b, "peer_endpoint"));
	pr_str(p, "address", "address", st_get(b, "peer_address"));
	pr_str(p, "address6", "address6", st_get(b, "peer_address6"));
	pr_list(p, b, "peer_subnets", "subnets", "subnets");
	snprintf(sid, sizeof(sid), "%s", st_get(b, "peer_session_id") ? st_get(b, "peer_session_id") : "");
	pr_str(p, "session_id", "session", strcmp(sid, "00000000") ? sid : "(none)");
	pr_transport(p, b, "peer_");
	pr_null_or_bool(p, "psk", NULL, st_u64(b, "peer_psk") ? 1 : 0);
	if (!p->json && st_u64(b, "peer_psk")) {
		pr_label(p, "preshared key");
		printf("(hidden)\n");
	}
	pr_handshake(p, b, "peer_latest_handshake", "latest_handshake");
	pr_last_rx(p, b, "peer_last_rx_age_ms");
	pr_transfer(p, b, "peer_");
	pr_drops(p, b, "peer_");
	pr_close(p, '}');
}

/* "dns: 10.66.0.1, 2620:fe::fe (file); search corp.example" — JSON: dns (list), dns_domains (list), dns_backend */
static void pr_dns(struct pr *p, const struct st_block *b)
{
	const char *sv = st_get(b, "dns"), *dm = st_get(b, "dns_domains"), *be = st_get(b, "dns_backend");

	sv = sv ? sv : "";
	dm = dm ? dm : "";
	be = be ? be : "none";
	if (p->json) {
		const char *keys[] = {"dns", "dns_domains"}, *vals[] = {sv, dm};
		for (int k = 0; k < 2; k++) {
			const char *v = vals[k];
			pr_key(p, keys[k]);
			putchar('[');
			while (*v) {
				size_t n = strcspn(v, ",");
				char item[SL_DOMAIN_MAX + 1];
				snprintf(item, sizeof(item), "%.*s", (int)n, v);
				if (v != vals[k])
					putchar(',');
				json_str(item);
				v += n + (v[n] == ',');
			}
			putchar(']');
			p->need_comma = true;
		}
		pr_str(p, "dns_backend", NULL, be);
		return;
	}
	pr_label(p, "dns");
	if (!strcmp(be, "off"))
		printf("off (DNS = off)\n");
	else if (!*sv)
		printf("(none)\n");
	else {
		for (const char *c = sv; *c; c++)
			if (*c == ',')
				fputs(", ", stdout);
			else
				putchar(*c);
		printf(" (%s)", be);
		if (*dm) {
			printf("; search ");
			for (const char *c = dm; *c; c++)
				putchar(*c == ',' ? ' ' : *c);
		}
		putchar('\n');
	}
}

/* "1416 (from the egress link)"; a client: "1196 (ours, from the route to the server; the gateway's 1416)" */
static void pr_mtu(struct pr *p, const struct st_block *b, bool client)
{
	static const struct {
		const char *source, *text;
	} why[] = {{"config", "configured"},
		   {"egress", "from the egress link"},
		   {"route", "from the route to the server"},
		   {"default", "default: no underlay MTU known"}};
	const char *src = st_get(b, "mtu_source") ? st_get(b, "mtu_source") : "", *how = src;
	uint64_t mtu = st_u64(b, "mtu"), own = st_u64(b, "mtu_own"), gw = st_u64(b, "mtu_gateway");
	char t[160];

	for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++)
		if (!strcmp(src, why[i].source))
			how = why[i].text;
	if (!client)
		snprintf(t, sizeof(t), "%" PRIu64 " (%s)", mtu, how);
	else if (gw)
		snprintf(t, sizeof(t), "%" PRIu64 " (ours %" PRIu64 ", %s; the gateway's %" PRIu64 ")", mtu, own, how,
			 gw);
	else
		snprintf(t, sizeof(t), "%" PRIu64 " (%s)", mtu, how);
	pr_num(p, "mtu", "mtu", (int64_t)mtu, t);
	pr_str(p, "mtu_source", NULL, src);
	if (client) {
		pr_num(p, "mtu_own", NULL, (int64_t)own, "");
		pr_num(p, "mtu_gateway", NULL, (int64_t)gw, "");
	}
}

static const char *const iface_counters[] = {
	"tun_rx_packets",   "tun_rx_bytes", "tun_tx_packets",   "tun_tx_bytes",      "udp_rx_datagrams",
	"udp_rx_bytes",     "udp_tx_datagrams", "udp_tx_bytes", "handshakes_ok", "handshakes_failed",
	"pings",            "uptime", "lat_tun_udp_avg_ns", "lat_tun_udp_p95_ns", "lat_udp_tun_avg_ns",
	"lat_udp_tun_p95_ns", "icmp_too_big", "tcp_rx_datagrams", "tcp_tx_datagrams", "tun_rx_packets6",
	"tun_tx_packets6",
};

static const char *const control_counters[] = {
	"handshakes_unknown_key", "handshakes_bad_cert", "conns_preauth",   "conns_refused",
	"conns_refused_source",   "conns_ratelimited",   "conns_evicted",   "conns_timed_out",
	"repushes",               "tcp_streams",
};

/* Pre-shared keys and the stealth control port (issue #23): whether they are in use, and what they refused.
 * "preshared key: (hidden)" (client) or "preshared keys: 2 of 3 clients" (gateway); "stealth: on (4 refused:
 * 1 stale, 1 replayed)". JSON: psk (client) or psk_clients (gateway), stealth, psk_mismatch, and on a gateway
 * stealth_refused, stealth_stale, stealth_replayed. */
static void pr_psk_stealth(struct pr *p, const struct st_block *b, bool client)
{
	bool stealth = st_u64(b, "stealth") != 0;

	if (client) {
		pr_null_or_bool(p, "psk", NULL, st_u64(b, "psk") ? 1 : 0);
		if (!p->json) {
			pr_label(p, "preshared key");
			printf("%s\n", st_u64(b, "psk") ? "(hidden)" : "none");
		}
	} else {
		pr_num(p, "psk_clients", NULL, (int64_t)st_u64(b, "psk_clients"), "");
		if (!p->json) {
			pr_label(p, "preshared keys");
			printf("%" PRIu64 " of %" PRIu64 " clients\n", st_u64(b, "psk_clients"), st_u64(b, "clients"));
		}
	}
	pr_null_or_bool(p, "stealth", NULL, stealth);
	pr_num(p, "psk_mismatch", NULL, (int64_t)st_u64(b, "psk_mismatch"), "");
	if (!client) {
		pr_num(p, "stealth_refused", NULL, (int64_t)st_u64(b, "stealth_refused"), "");
		pr_num(p, "stealth_stale", NULL, (int64_t)st_u64(b, "stealth_stale"), "");
		pr_num(p, "stealth_replayed", NULL, (int64_t)st_u64(b, "stealth_replayed"), "");
	}
	if (p->json)
		return;
	pr_label(p, "stealth");
	if (!client && stealth)
		printf("on (%" PRIu64 " refused: %" PRIu64 " stale, %" PRIu64 " replayed)\n", st_u64(b, "stealth_refused"),
		       st_u64(b, "stealth_stale"), st_u64(b, "stealth_replayed"));
	else
		printf("%s\n", stealth ? "on" : "off");
	if (st_u64(b, "psk_mismatch")) {
		pr_label(p, "psk mismatch");
		printf("%" PRIu64 " authentications failed their key confirmation\n", st_u64(b, "psk_mismatch"));
	}
}

/* The gateway's control port: what it holds and what it refused, and why (a line only once there is any). */
static void pr_control(struct pr *p, const struct st_block *b)
{
	uint64_t v[sizeof(control_counters) / sizeof(control_counters[0])], any = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		v[i] = st_u64(b, control_counters[i]);
		any |= i >= 2 ? v[i] : 0; /* the handshake ones are on the handshakes line */
		pr_num(p, control_counters[i], NULL, (int64_t)v[i], "");
	}
	if (p->json || !any)
		return;
	pr_label(p, "control");
	printf("%" PRIu64 " pre-auth open; refused %" PRIu64 " over the caps (%" PRIu64 " at the source's), %" PRIu64
	       " over the rate; %" PRIu64 " evicted, %" PRIu64 " timed out; %" PRIu64 " re-pushed\n",
	       v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
}

/* The network under the tunnel (issue #24): the client's path to its server, the gateway's egress link, and how
 * often it changed: "network: dev c0 src 198.18.0.2 via 198.18.0.1 mtu 1500; 1 path change (4 checks)". */
static void pr_network(struct pr *p, const struct st_block *b, bool client)
{
	const char *what = st_get(b, client ? "path" : "egress");
	uint64_t changes = st_u64(b, "path_changes"), checks = st_u64(b, "path_checks");

	pr_str(p, client ? "path" : "egress", NULL, what);
	pr_num(p, "path_changes", NULL, (int64_t)changes, "");
	pr_num(p, "path_checks", NULL, (int64_t)checks, "");
	if (p->json)
		return;
	pr_label(p, "network");
	printf("%s%s; %" PRIu64 " %s change%s (%" PRIu64 " check%s)\n", client ? "" : "egress ",
	       what && *what ? what : "(none)", changes, client ? "path" : "egress", changes == 1 ? "" : "s", checks,
	       checks == 1 ? "" : "s");
}

static const char *const registry_counters[] = {
	"registry_syncs", "registry_incremental", "registry_sync_failures", "registry_watch_events", "registry_leases_created",
	"registry_refused", "registry_revision", "registry_sessions", "registry_session_writes",
	"registry_session_failures",
};

/* A gateway with Registry =: the etcd registry it follows and how that goes (nothing without one). */
static void pr_registry(struct pr *p, const struct st_block *b)
{
	char t[640];

	if (!st_get(b, "registry"))
		return;
	snprintf(t, sizeof(t), "%s (%s, revision %" PRIu64 "): %" PRIu64 " reads, %" PRIu64 " failed, %" PRIu64
		 " events applied, %" PRIu64 " changes, %" PRIu64 " leases created, %" PRIu64 " refused; %" PRIu64
		 " sessions recorded (%" PRIu64 " writes, %" PRIu64 " failed)",
		 st_get(b, "registry"), st_get(b, "registry_state") ? st_get(b, "registry_state") : "?",
		 st_u64(b, "registry_revision"), st_u64(b, "registry_syncs"), st_u64(b, "registry_sync_failures"),
		 st_u64(b, "registry_incremental"),
		 st_u64(b, "registry_watch_events"), st_u64(b, "registry_leases_created"),
		 st_u64(b, "registry_refused"), st_u64(b, "registry_sessions"), st_u64(b, "registry_session_writes"),
		 st_u64(b, "registry_session_failures"));
	pr_str(p, "registry", NULL, st_get(b, "registry"));
	pr_str(p, "registry_state", NULL, st_get(b, "registry_state"));
	for (size_t i = 0; i < sizeof(registry_counters) / sizeof(registry_counters[0]); i++)
		pr_num(p, registry_counters[i], NULL, (int64_t)st_u64(b, registry_counters[i]), "");
	if (!p->json) {
		pr_label(p, "registry");
		printf("%s\n", t);
	}
}

static void pr_iface(struct pr *p, const struct st_iface *st)
{
	const struct st_block *b = &st->main;
	bool client = st_get(b, "mode") && !strcmp(st_get(b, "mode"), "client");
	char t[128];

	pr_open(p, NULL, '{');
	pr_head(p, "interface", "interface", st_get(b, "interface"));
	pr_str(p, "mode", "mode", st_get(b, "mode"));
	pr_str(p, "public_key", "public key", st_get(b, "public_key"));
	if (client) {
		char ks[256] = "";
		struct sl_err e;
		int on = ks_status(ks, sizeof(ks), &e);
		pr_str(p, "server_public_key", "server public key", st_get(b, "server_public_key"));
		pr_str(p, "endpoint", "endpoint", st_get(b, "endpoint"));
		/* the configured Endpoint of the session's server (the one being tried before any session) */
		snprintf(t, sizeof(t), "%s (%" PRIu64 " of %" PRIu64 "), %" PRIu64 " failover%s",
			 st_get(b, "server") ? st_get(b, "server") : "(none)", st_u64(b, "server_index"),
			 st_u64(b, "servers"), st_u64(b, "failovers"), st_u64(b, "failovers") == 1 ? "" : "s");
		pr_str(p, "server", NULL, st_get(b, "server"));
		if (!p->json) {
			pr_label(p, "server");
			printf("%s\n", t);
		}
		pr_num(p, "server_index", NULL, (int64_t)st_u64(b, "server_index"), "");
		pr_num(p, "servers", NULL, (int64_t)st_u64(b, "servers"), "");
		pr_num(p, "failovers", NULL, (int64_t)st_u64(b, "failovers"), "");
		pr_str(p, "state", "state", st_get(b, "supervisor"));
		pr_str(p, "session_id", "session", st_get(b, "session_id"));
		pr_transport(p, b, "");
		pr_str(p, "address", "address", st_get(b, "address"));
		pr_str(p, "address6", "address6", st_get(b, "address6"));
		pr_handshake(p, b, "latest_handshake", "latest_handshake");
		pr_last_rx(p, b, "last_rx_age_ms");
		pr_transfer(p, b, "");
		pr_null_or_bool(p, "killswitch", "kill switch", on < 0 ? -1 : on);
		pr_dns(p, b);
		pr_list(p, b, "pushed_routes", "pushed_routes", "pushed routes");
		pr_list(p, b, "subnets", "subnets", "subnets");
	} else {
		pr_str(p, "listen", "listening", st_get(b, "listen"));
		pr_str(p, "address", "address", st_get(b, "address"));
		pr_str(p, "address6", "address6", st_get(b, "address6"));
		snprintf(t, sizeof(t), "%" PRIu64, st_u64(b, "clients"));
		pr_num(p, "clients", "clients", (int64_t)st_u64(b, "clients"), t);
		pr_list(p, b, "push_routes", "push_routes", "push routes");
		pr_str(p, "client_to_client", "client to client", st_get(b, "client_to_client"));
		pr_str(p, "nat", "nat", st_get(b, "nat"));
		pr_control(p, b);
		pr_registry(p, b);
	}
	pr_psk_stealth(p, b, client);
	pr_mtu(p, b, client);
	pr_network(p, b, client);
	snprintf(t, sizeof(t), "%" PRIu64, st_u64(b, "workers"));
	pr_num(p, "workers", "data workers", (int64_t)st_u64(b, "workers"), t);
	if (st_u64(b, "handshakes_unknown_key") || st_u64(b, "handshakes_bad_cert"))
		snprintf(t, sizeof(t),
			 "%" PRIu64 " ok, %" PRIu64 " failed (%" PRIu64 " unknown key, %" PRIu64 " bad certificate); %" PRIu64
			 " pings",
			 st_u64(b, "handshakes_ok"), st_u64(b, "handshakes_failed"), st_u64(b, "handshakes_unknown_key"),
			 st_u64(b, "handshakes_bad_cert"), st_u64(b, "pings"));
	else
		snprintf(t, sizeof(t), "%" PRIu64 " ok, %" PRIu64 " failed; %" PRIu64 " pings",
			 st_u64(b, "handshakes_ok"), st_u64(b, "handshakes_failed"), st_u64(b, "pings"));
	if (!p->json) {
		pr_label(p, "handshakes");
		printf("%s\n", t);
		pr_label(p, "latency");
		printf("tun->udp %.1f us avg, %.1f us p95; udp->tun %.1f us avg, %.1f us p95\n",
		       (double)st_u64(b, "lat_tun_udp_avg_ns") / 1e3, (double)st_u64(b, "lat_tun_udp_p95_ns") / 1e3,
		       (double)st_u64(b, "lat_udp_tun_avg_ns") / 1e3, (double)st_u64(b, "lat_udp_tun_p95_ns") / 1e3);
	}
	for (size_t i = 0; i < sizeof(iface_counters) / sizeof(iface_counters[0]); i++)
		pr_num(p, iface_counters[i], NULL, (int64_t)st_u64(b, iface_counters[i]), "");
	pr_drops(p, b, "");
	if (!p->json && st_u64(b, "icmp_too_big")) {
		pr_label(p, "too big");
		printf("%" PRIu64 " answered with ICMP fragmentation needed\n", st_u64(b, "icmp_too_big"));
	}
	if (!client) {
		pr_open(p, "peers", '[');
		for (size_t i = 0; i < st->n_peers; i++)
			pr_peer(p, &st->peers[i]);
		pr_close(p, ']');
	}
	pr_close(p, '}');
}

/* ---- queries */

/* Reads and parses one interface's status into *st (text in *out, which st points into). 0, or -1 after saying
 * why on stderr: a status is shown whole or not at all (issue #25). `all`: one of every interface in
 * SL_RUN_DIR, where a socket nobody answers on is a stale file of a dead daemon: 1, without a word. */
static int read_status(const char *ifname, struct strbuf *out, struct st_iface *st, bool all)
{
	int ret = ctlsock_query(ifname, "get", QUERY_TIMEOUT_MS, out);
	size_t clients;

	if (ret == -ENOENT && all)
		return 1;
	if (ret == -ENOENT)
		fprintf(stderr, "%s: no sluice interface '%s' (no daemon answers on %s/%s.sock)\n", SL_PROG, ifname,
			SL_RUN_DIR, ifname);
	else if (ret == -ETIMEDOUT)
		fprintf(stderr, "%s: the daemon of '%s' did not answer within %d ms\n", SL_PROG, ifname,
			QUERY_TIMEOUT_MS);
	else if (ret == -ENODATA)
		fprintf(stderr, "%s: the daemon of '%s' closed the connection without answering (too many status "
				"requests at once?)\n", SL_PROG, ifname);
	else if (ret == -EBADMSG)
		fprintf(stderr, "%s: the daemon of '%s' sent an incomplete status (%zu bytes without a valid end line: "
				"cut short, or a daemon older than this sluice, to be restarted): not shown\n",
			SL_PROG, ifname, out->len);
	else if (ret)
		fprintf(stderr, "%s: %s: %s\n", SL_PROG, ifname, strerror(-ret));
	if (ret)
		return -1;
	if (!strncmp(out->s, "error=", 6)) {
		fprintf(stderr, "%s: the daemon of '%s' answered: %s", SL_PROG, ifname, out->s + 6);
		return -1;
	}
	if (st_parse(out->s, st)) {
		fprintf(stderr, "%s: %s: malformed status from the daemon\n", SL_PROG, ifname);
		return -1;
	}
	/* a gateway's answer says how many clients it lists: every one of them must be there */
	clients = (size_t)st_u64(&st->main, "clients");
	if (st_get(&st->main, "clients") && clients != st->n_peers) {
		fprintf(stderr, "%s: %s: the daemon's status lists %zu of its %zu clients: not shown\n", SL_PROG,
			ifname, st->n_peers, clients);
		st_free(st);
		return -1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Interfaces with a socket in /run/sluice, sorted. */
static size_t list_ifaces(char **names, size_t max)
{
	DIR *d = opendir(SL_RUN_DIR);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		size_t len = strlen(de->d_name);
		if (len > 5 && len - 5 < IFNAMSIZ && !strcmp(de->d_name + len - 5, ".sock"))
			names[n++] = strndup(de->d_name, len - 5);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	return n;
}

typedef void (*view_fn)(struct pr *p, const struct st_iface *st, bool first);

/* Runs `view` over one named interface or all of them. Returns the exit status. */
static int for_ifaces(const char *one, struct pr *p, view_fn view)
{
	char *names[MAX_IFACES];
	size_t n = 0;
	int status = 0;
	bool first = true;

	if (one)
		names[n++] = strdup(one);
	else
		n = list_ifaces(names, MAX_IFACES);
	if (!one && p->json)
		putchar('[');
	for (size_t i = 0; i < n; i++) {
		struct strbuf out = {0};
		struct st_iface st;
		int r = read_status(names[i], &out, &st, !one);
		if (r) {
			if (r < 0)
				status = 1;
			sb_free(&out);
			continue;
		}
		view(p, &st, first);
		first = false;
		st_free(&st);
		sb_free(&out);
	}
	if (!one && p->json)
		putchar(']');
	if (p->json)
		putchar('\n');
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return status;
}

static void view_show(struct pr *p, const struct st_iface *st, bool first)
{
	if (!p->json && !first)
		putchar('\n');
	p->need_comma = !first && p->json;
	pr_iface(p, st);
}

static void view_raw(struct pr *p, const struct st_iface *st, bool first)
{
	const struct st_block *b = &st->main;
	for (size_t i = 0; i < b->n; i++)
		printf("%s=%s\n", b->kv[i].key, b->kv[i].val);
	for (size_t j = 0; j < st->n_peers; j++)
		for (size_t i = 0; i < st->peers[j].n; i++)
			printf("%s=%s\n", st->peers[j].kv[i].key, st->peers[j].kv[i].val);
}

static void usage_show(FILE *f)
{
	fprintf(f, "Usage: %s show [-j | -r] [IFACE]\n"
		   "  -j  JSON (stable field names, raw numbers)\n"
		   "  -r  the daemon's raw key=value status\n"
		   "Without IFACE: every interface with a control socket in %s.\n",
		SL_PROG, SL_RUN_DIR);
}

int show_main(int argc, char **argv)
{
	struct pr p = {0};
	bool raw = false;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "jrh")) != -1) {
		switch (opt) {
		case 'j':
			p.json = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'h':
			usage_show(stdout);
			return 0;
		default:
			usage_show(stderr);
			return 2;
		}
	}
	if (argc - optind > 1 || (raw && p.json)) {
		usage_show(stderr);
		return 2;
	}
	p.color = !p.json && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	return for_ifaces(optind < argc ? argv[optind] : NULL, &p, raw ? view_raw : view_show);
}

/* ---- dump: one tab-separated line per session
 * server: interface name public_key endpoint address session_id latest_handshake rx_bytes tx_bytes rx_packets
 *         tx_packets drops_total subnets transport transport_switches address6
 * client: interface "server" server_public_key endpoint address session_id latest_handshake rx_bytes tx_bytes
 *         rx_packets tx_packets drops_total pushed_routes transport transport_switches address6
 * New columns only ever go at the end. */

static uint64_t drops_total(const struct st_block *b, const char *pre)
{
	uint64_t sum = 0;

	for (int i = 0; i < SL_DROP__COUNT; i++) {
		char k[64];
		snprintf(k, sizeof(k), "%sdrop_%s", pre, wire_drop_name(i));
		sum += st_u64(b, k);
	}
	return sum;
}

static const char *or_none(const char *s)
{
	return s && *s ? s : "(none)";
}

static const char *or_udp(const char *s)
{
	return s && *s ? s : "udp";
}

static void view_dump(struct pr *p, const struct st_iface *st, bool first)
{
	const struct st_block *b = &st->main;
	const char *ifn = st_get(b, "interface");

	if (st_get(b, "mode") && !strcmp(st_get(b, "mode"), "client")) {
		printf("%s\tserver\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
		       "\t%" PRIu64 "\t%s\t%s\t%" PRIu64 "\t%s\n",
		       ifn, or_none(st_get(b, "server_public_key")), or_none(st_get(b, "endpoint")),
		       or_none(st_get(b, "address")), or_none(st_get(b, "session_id")), st_u64(b, "latest_handshake"),
		       st_u64(b, "rx_bytes"), st_u64(b, "tx_bytes"), st_u64(b, "rx_packets"), st_u64(b, "tx_packets"),
		       drops_total(b, ""), or_none(st_get(b, "pushed_routes")), or_udp(st_get(b, "transport")),
		       st_u64(b, "transport_switches"), or_none(st_get(b, "address6")));
		return;
	}
	for (size_t i = 0; i < st->n_peers; i++) {
		const struct st_block *q = &st->peers[i];
		printf("%s\t%s\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
		       "\t%" PRIu64 "\t%s\t%s\t%" PRIu64 "\t%s\n",
		       ifn, or_none(st_get(q, "peer")), or_none(st_get(q, "peer_public_key")),
		       or_none(st_get(q, "peer_endpoint")), or_none(st_get(q, "peer_address")),
		       or_none(st_get(q, "peer_session_id")), st_u64(q, "peer_latest_handshake"),
		       st_u64(q, "peer_rx_bytes"), st_u64(q, "peer_tx_bytes"), st_u64(q, "peer_rx_packets"),
		       st_u64(q, "peer_tx_packets"), drops_total(q, "peer_"), or_none(st_get(q, "peer_subnets")),
		       or_udp(st_get(q, "peer_transport")), st_u64(q, "peer_transport_switches"),
		       or_none(st_get(q, "peer_address6")));
	}
}

int dump_main(int argc, char **argv)
{
	struct pr p = {0};

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: %s dump [IFACE]\n"
		       "One tab-separated line per session, 16 columns:\n"
		       "  gateway: interface, client name, public key, endpoint, address, session id,\n"
		       "           latest handshake (unix s, 0 never), rx bytes, tx bytes, rx packets, tx packets,\n"
		       "           drops, the client's Subnets (comma-separated, or (none)), transport (udp | tcp),\n"
		       "           transport switches\n"
		       "  client:  interface, \"server\", server public key, endpoint, address, session id, then the same\n"
		       "           up to drops, then the pushed routes installed (or (none)), transport, transport switches\n"
		       "  both:    then the IPv6 tunnel address, (none) without one\n",
		       SL_PROG);
		return 0;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "Usage: %s dump [IFACE]\n", SL_PROG);
		return 2;
	}
	return for_ifaces(argc == 2 ? argv[1] : NULL, &p, view_dump);
}

/* ---- metrics: Prometheus text exposition format (daemon/metrics.c, shared with the daemon's /metrics) */

int metrics_main(int argc, char **argv)
{
	char *names[MAX_IFACES];
	struct st_iface sts[MAX_IFACES];
	struct strbuf outs[MAX_IFACES];
	size_t n = 0, ok = 0;
	int status = 0;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: %s metrics [IFACE]\nCounters in the Prometheus text exposition format.\n", SL_PROG);
		return 0;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "Usage: %s metrics [IFACE]\n", SL_PROG);
		return 2;
	}
	if (argc == 2)
		names[n++] = strdup(argv[1]);
	else
		n = list_ifaces(names, MAX_IFACES);
	/* metric families must not be split across interfaces: gather all first, then print family by family */
	for (size_t i = 0; i < n; i++) {
		int r;
		memset(&outs[ok], 0, sizeof(outs[ok]));
		r = read_status(names[i], &outs[ok], &sts[ok], argc != 2);
		if (r) {
			sb_free(&outs[ok]);
			if (r < 0)
				status = 1;
			continue;
		}
		ok++;
	}
	if (ok) {
		struct strbuf text = {0};
		metrics_text(sts, ok, &text);
		if (text.oom) { /* whole or not at all, like the status it is made from */
			fprintf(stderr, "%s: metrics: out of memory\n", SL_PROG);
			status = 1;
		} else if (text.s) {
			fwrite(text.s, 1, text.len, stdout);
		}
		sb_free(&text);
	}
	for (size_t i = 0; i < ok; i++) {
		st_free(&sts[i]);
		sb_free(&outs[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return status;
}
