/* config: the wg-style INI file of DESIGN §4, parsed into one plain struct.
 * Keys and section names are case-insensitive, `#` starts a comment, values are trimmed. Every error is
 * reported as "FILE:LINE: what is wrong" (line 0 when the problem is the whole file, e.g. a missing key). */
#pragma once
#include <sys/types.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"
#include "daemon/keys.h"
#include "daemon/lists.h"
#include "daemon/registry/etcd_url.h"

#define SL_MAX_DNS 4         /* servers of both families together */
#define SL_MAX_DOMAINS 6
#define SL_DOMAINS_TEXT_MAX 256 /* the domains joined by commas: the snapshot line must stay short */
#define SL_MAX_ROUTES 64
#define SL_MAX_SUBNETS 16     /* Subnets = of one [Client], and of a client's [Interface] */
#define SL_MAX_PUSH_ROUTES 16 /* PushRoutes = (both families together) */
#define SL_PUSH_ROUTES_TEXT_MAX 320 /* the pushed prefixes in text: the snapshot line must stay short */
#define SL_NAME_MAX 64
#define SL_MAX_SERVERS 16 /* [Server] sections of a client */
#define SL_HOST_MAX 254   /* a DNS name (253) + NUL */
#define SL_MAX_SERVER_ADDRS 8 /* addresses of one server name that are kept and tried */
#define SL_PATH_MAX 4096

#define SL_KEEPALIVE_DEFAULT 10          /* s, client */
#define SL_PING_INTERVAL_DEFAULT 20      /* s, client */
#define SL_SESSION_LIFETIME_DEFAULT 7200 /* s, server */
#define SL_STATE_DIR_DEFAULT "/var/lib/sluice"
#define SL_CONFIG_DIR "/etc/sluice"
#define SL_RUN_DIR "/run/sluice"

/* client DNS = (DESIGN 10.3) */
enum sl_dns_mode {
	SL_DNS_ON = 0, /* default: apply the servers and domains the gateway pushes */
	SL_DNS_OFF,    /* leave the host's DNS alone */
	SL_DNS_LIST,   /* the addresses in dns[] instead of the pushed ones (pushed domains still apply) */
};

enum sl_mode {
	SL_MODE_SERVER = 1,
	SL_MODE_CLIENT = 2,
};

struct sl_prefix4 {
	struct in_addr addr;
	uint8_t len;
};

/* The gateway's IPv6 prefix (DESIGN 9): its remainder is the IPv6 client pool — at most the first SL_POOL6_MAX
 * addresses of the prefix, so a fixed IPv6 client address must be one of those. len 0: no IPv6. */
struct sl_prefix6 {
	struct in6_addr addr;
	uint8_t len;
};
#define SL_POOL6_MAX 65536u
#define SL_PREFIX6_MIN 48  /* Address = .../48 .. /120 */
#define SL_PREFIX6_MAX 120

struct sl_client_cfg {
	char name[SL_NAME_MAX];
	uint8_t pubkey[SL_KEY_LEN];
	bool has_addr;
	struct in_addr addr; /* fixed tunnel address (Address =) */
	bool has_addr6;
	struct in6_addr addr6; /* fixed IPv6 tunnel address (Address = may list one of each family) */
	int line;            /* line of its [Client] header, for messages */
	bool has_psk;        /* PresharedKeyFile = (control/psk.h) */
	uint8_t psk[SL_KEY_LEN]; /* read from it by config_load (zero when the file is not read) */
	struct sl_prefix subnets[SL_MAX_SUBNETS]; /* Subnets =: networks behind it, either family (DESIGN 9) */
	unsigned n_subnets;
	int subnets_line;
};

/* One [Server] of a client, in file order (the order failover tries them). */
struct sl_server_cfg {
	char host[SL_HOST_MAX]; /* Endpoint host: a DNS name or a literal address (brackets removed) */
	uint16_t port;
	uint8_t pubkey[SL_KEY_LEN];
	int line;          /* line of its [Server] header, for messages */
	int endpoint_line; /* line of its Endpoint */
	bool has_psk;      /* PresharedKeyFile = (control/psk.h) */
	uint8_t psk[SL_KEY_LEN];
	bool stealth;      /* Stealth = on: send the prelude before TLS (control/stealth.h) */
};

struct sl_config {
	char path[SL_PATH_MAX];
	char ifname[IFNAMSIZ]; /* Name =, default: file name without ".conf" */
	enum sl_mode mode;
	char private_key_file[SL_PATH_MAX];
	uint8_t private_key[SL_KEY_LEN];
	uint8_t public_key[SL_KEY_LEN];
	unsigned mtu;           /* MTU =; 0 (default): derived from the underlay (daemon/mtu.h). A gateway
				 * writes the MTU it derived here at start, for everything that reads it */
	struct sl_ipaddr dns[SL_MAX_DNS]; /* DNS = (server: pushed; client: with SL_DNS_LIST) */
	unsigned n_dns;
	enum sl_dns_mode dns_mode;        /* client */
	char domains[SL_MAX_DOMAINS][SL_DOMAIN_MAX + 1]; /* Domains = (server: pushed search domains) */
	unsigned n_domains;
	unsigned stats_interval; /* StatsInterval =, s, 0 = off */
	struct sockaddr_storage metrics_listen; /* MetricsListen = (Prometheus /metrics over HTTP) */
	socklen_t metrics_listen_len;           /* 0: no endpoint */

	/* server */
	struct sockaddr_storage listen; /* Listen = (IPv4 or [IPv6]:port) */
	socklen_t listen_len;
	struct sl_prefix4 address;      /* Address = gateway tunnel address / pool prefix */
	struct sl_prefix6 address6;     /* Address = ..., fd66::1/64: the same for IPv6 (len 0: none) */
	char egress[IFNAMSIZ];          /* Egress =, "" = interface of the default route */
	char state_dir[SL_PATH_MAX];    /* StateDir = (both modes: leases; the client's server address cache) */
	unsigned session_lifetime;      /* SessionLifetime =, s */
	bool stealth;                   /* Stealth = on: silent to peers without a prelude (control/stealth.h) */
	char user[64];                  /* User =, "" = stay root (with only CAP_NET_ADMIN) */
	int user_line;                  /* its line, for the "no such user" error of config_load */
	uid_t uid;                      /* User's, resolved by config_load */
	gid_t gid;
	bool has_registry;              /* Registry = etcd://... (DESIGN §9 "Fleet") */
	struct etcd_url registry;
	char registry_ca_file[SL_PATH_MAX]; /* RegistryCAFile = (etcds://), "" = the system's CAs */
	char registry_cert_file[SL_PATH_MAX]; /* RegistryCertFile = (etcds://): a client certificate for etcd */
	char registry_key_file[SL_PATH_MAX];  /* RegistryKeyFile =: its private key ("" both: none) */
	struct sl_prefix push_routes[SL_MAX_PUSH_ROUTES]; /* PushRoutes =: prefixes pushed in the snapshot */
	unsigned n_push_routes;
	bool client_to_client;          /* ClientToClient = on|off (default off: dropped and counted) */
	bool nat_off;                   /* NAT = off: routed mode, no masquerade of either family (DESIGN 9);
					 * default NAT = on */
	struct sl_client_cfg *clients;  /* [Client] sections, owned */
	size_t n_clients;

	/* client */
	bool killswitch;                /* KillSwitch = on|off (default off) */
	bool killswitch_allow_lan;      /* KillSwitchAllowLAN = on|off */
	struct sl_prefix4 routes[SL_MAX_ROUTES]; /* Routes = (IPv4 ones), default 0.0.0.0/0 */
	unsigned n_routes;
	struct sl_prefix6 routes6[SL_MAX_ROUTES]; /* Routes = (IPv6 ones) */
	unsigned n_routes6;
	bool routes_pushed;             /* the word `pushed` in Routes: install the gateway's PushRoutes */
	struct sl_prefix subnets[SL_MAX_SUBNETS]; /* [Interface] Subnets =: the client's own LAN(s), forwarded */
	unsigned n_subnets;             /* between the LAN and the tunnel */
	int subnets_line;
	struct sl_server_cfg servers[SL_MAX_SERVERS]; /* [Server] sections, in file order (at least one) */
	unsigned n_servers;
	unsigned keepalive;             /* Keepalive =, s */
	unsigned ping_interval;         /* PingInterval =, s */
};

/* Parses `path` into cfg (zeroed first) and loads the private key file. 0, or -EINVAL/-errno with
 * e->msg = "PATH:LINE: what is wrong". On error cfg holds nothing to free. */
int config_load(const char *path, struct sl_config *cfg, struct sl_err *e);
/* Same, from a string (for tests and fuzzing); `path` only names it in messages. Does not read the key file
 * when `load_key` is false. */
int config_parse(const char *text, size_t len, const char *path, bool load_key, struct sl_config *cfg,
		 struct sl_err *e);
void config_free(struct sl_config *cfg);

/* True when Routes is the full tunnel: 0.0.0.0/0 or ::/0 anywhere in it, for both families (DESIGN 10.2).
 * `pushed` alone is a split tunnel. */
bool config_full_tunnel(const struct sl_config *cfg);
/* True when a is one of the IPv6 pool's addresses of pfx (the first SL_POOL6_MAX of the prefix, not the
 * prefix itself): *off (if given) gets its offset in the pool. */
bool pool6_offset(const struct sl_prefix6 *pfx, const struct in6_addr *a, uint32_t *off);
/* True when the server's Endpoint host is a literal IPv4/IPv6 address: ss and len get it with the port.
 * False for a DNS name (the daemon resolves those itself, at every attempt: control/resolve.c). */
bool config_server_literal(const struct sl_server_cfg *srv, struct sockaddr_storage *ss, socklen_t *len);
/* "/etc/sluice/IFACE.conf" for an interface name. */
void config_default_path(const char *ifname, char *out, size_t n);
