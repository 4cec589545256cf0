/* dns: the client's DNS on the host, behind one small interface (DESIGN §9 "DNS (client)", 10.3, 10.14).
 *
 *   dns_client_update  the wanted servers and domains (pushed, or the client's own `DNS =` list) go to the
 *                      first backend present; pushed servers (IPv4 and IPv6) are routed into the tunnel
 *                      first, also with
 *                      a split tunnel; a later snapshot changes only what differs (10.9)
 *   dns_client_revert  at exit: the backend's undo, then the record of it is removed
 *   dns_restore        at start, and from `sluice dns restore` (the unit's ExecStopPost): undoes whatever a
 *                      crashed run of this interface left, from the record in StateDir
 *
 * Backends, the first present: systemd-resolved over D-Bus (only when our own /etc/resolv.conf points at its
 * stub and it answers), `resolvconf -a tun.IFACE -m 0 -x`, else /etc/resolv.conf itself with a saved copy in
 * StateDir. Before a backend changes anything, StateDir/IFACE.dns records which one it is (write-temp +
 * fsync + rename), so that a crash at any point is undone by the next start. Each backend is one file:
 * resolved.c, resolvconf.c, file.c. Nothing here logs or exits: 0 or -errno, and e->msg says what failed. */
#pragma once
#include <net/if.h>
#include <stdbool.h>
#include "daemon/common/errmsg.h"
#include "daemon/config.h"
#include "daemon/control/proto.h"
#include "netcfg/netcfg.h"

enum dns_backend {
	DNS_BACKEND_NONE = 0,
	DNS_BACKEND_RESOLVED,
	DNS_BACKEND_RESOLVCONF,
	DNS_BACKEND_FILE,
};

struct dns_config {
	struct sl_ipaddr servers[SL_MAX_DNS];
	unsigned n_servers;
	char domains[SL_MAX_DOMAINS][SL_DOMAIN_MAX + 1];
	unsigned n_domains;
};

/* What one backend is given. */
struct dns_target {
	const char *ifname;
	int ifindex; /* 0 when the link is gone (a crashed run's) */
	const char *state_dir;
};

struct dns_backend_ops {
	const char *name; /* "resolved", "resolvconf", "file": in logs, `sluice show` and the record */
	int (*apply)(const struct dns_target *t, const struct dns_config *dc, struct sl_err *e);
	/* <0 error, 0 nothing of ours was there, 1 undone */
	int (*revert)(const struct dns_target *t, struct sl_err *e);
};

extern const struct dns_backend_ops dns_resolved_ops, dns_resolvconf_ops, dns_file_ops;

/* The client's DNS as it is applied. Zero it, then set cfg. */
struct dns_client {
	const struct sl_config *cfg;
	enum dns_backend backend; /* NONE until something was applied */
	struct dns_config cur;
	/* servers we routed into the tunnel: /32 or /128 routes (split tunnel) or rules (full tunnel); the link and
	 * rules_del take them at exit. During a change the old ones and the new ones: the old go only once the
	 * resolver points at the new */
	struct sl_ipaddr routed[2 * SL_MAX_DNS];
	unsigned n_routed;
};

/* From the client's `DNS =` and a session snapshot: what should be applied (n_servers 0: nothing). */
void dns_config_want(const struct sl_config *cfg, const struct proto_snapshot *s, struct dns_config *out);
/* 1 when something was (re)applied, 0 when nothing changed, or -errno. */
int dns_client_update(struct dns_client *d, struct netcfg *nc, int ifindex, const struct proto_snapshot *s,
		      struct sl_err *e);
int dns_client_revert(struct dns_client *d, struct sl_err *e);
/* 0 when nothing was left (or it was undone); *what (may be NULL) names the backend that was undone. */
int dns_restore(const char *state_dir, const char *ifname, const char **what, struct sl_err *e);

/* The backend this process would use now: SLUICE_DNS_BACKEND=resolved|resolvconf|file forces one (tests);
 * else resolved if /etc/resolv.conf points at its stub and it answers on D-Bus; else resolvconf if the
 * program is there and /etc/resolv.conf is the host's own (not a per-namespace bind mount of
 * /etc/netns/NS/resolv.conf); else the file. */
enum dns_backend dns_backend_pick(void);
const char *dns_backend_name(enum dns_backend b);

/* resolv.conf text: "nameserver X" per server, "search D..." when there are domains. Length or -ENOSPC. */
int dns_format_resolv_conf(const struct dns_config *dc, const char *header, char *buf, size_t n);
/* For status: "10.66.0.1,2620:fe::fe" and "corp.example,lab.example". */
void dns_config_servers_str(const struct dns_config *dc, char *buf, size_t n);
void dns_config_domains_str(const struct dns_config *dc, char *buf, size_t n);

/* resolved.c: the system bus answers for org.freedesktop.resolve1 (Peer.Ping). */
bool dns_resolved_answers(void);

/* Small file helper the backends share (writes go through daemon/atomic_file.h). */
int dns_read_file(const char *path, char **out, size_t *len);
