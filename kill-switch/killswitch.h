/* kill-switch: the client's nftables lockdown, table `inet sluice_ks` (DESIGN §6, §9 "Kill switch, complete").
 *
 * Policy drop on input, output and forward. Accepted: loopback; the TUN link both ways; the daemon's own
 * underlay packets (a mark in sluice's range, netcfg.h SL_MARK_BASE/MASK, AND an address . port of the named sets `servers4` / `servers6`: the
 * control and data port of every address of every configured server) and their replies by conntrack state;
 * the daemon's own marked DNS queries (port 53, any address: it resolves server names itself) and their
 * replies; IPv6 neighbour/router discovery (ICMPv6 133-136, hop limit 255) and the DHCP / DHCPv6 client on
 * every link; optionally (allow_lan) the underlay LAN. Other IPv6 only through the tunnel; everybody else's
 * DNS only through the tunnel. Built or replaced in ONE batch (delete + add), removed only by ks_remove; the
 * running daemon replaces the sets' elements (ks_set_servers) when a server name resolves to new addresses.
 * The table's user data records "iface=IFACE" so status works without the daemon. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"
#include "daemon/lists.h"

#define SL_KS_TABLE "sluice_ks"
#define SL_KS_MAX_SERVERS 128 /* addresses in the server sets (16 servers x 8 addresses) */

struct ks_spec {
	char tun_ifname[IFNAMSIZ];
	/* address + port of every known address of every server (IPv4, IPv6 or IPv4-mapped); may be none yet
	 * (a name neither cached nor resolved: the daemon adds it) */
	const struct sockaddr_storage *servers;
	size_t n_servers;
	bool allow_lan;
	const struct sl_prefix *subnets; /* [Interface] Subnets: forwarded between that LAN and the tunnel only */
	size_t n_subnets;
};

/* Builds (or atomically replaces) the table. */
int ks_apply(const struct ks_spec *spec, struct sl_err *e);
/* Replaces the elements of the server sets in one transaction. -ENOENT when the table is not there (the
 * kill switch is off), -EBUSY when it is another interface's. */
int ks_set_servers(const char *tun_ifname, const struct sockaddr_storage *servers, size_t n, struct sl_err *e);
/* Only one client interface owns the kill switch (DESIGN 9): 0 when the table is off or already TUN_IFNAME's (a
 * crashed run of the same interface, or a table of an older version that names no owner), -EBUSY naming the
 * owner when another interface holds it, -errno when it cannot be read. */
int ks_check_owner(const char *tun_ifname, struct sl_err *e);
/* The LAN prefixes allow_lan opens right now, "NET/LEN,…" (empty: none): a running client compares it with what
 * it applied and re-applies when the host's networks changed (issue #24). 0 or -errno with e->msg. */
int ks_lan_describe(const char *tun_ifname, char *out, size_t n, struct sl_err *e);
/* ks_apply, only while the table is on and tun_ifname's (one batch, like ks_apply): -ENOENT when it is off,
 * -EBUSY when another interface's. */
int ks_reapply(const struct ks_spec *spec, struct sl_err *e);
/* Deletes the table; 0 if it was not there. */
int ks_remove(struct sl_err *e);
/* 1 when on (and info, if given, gets "iface=IFACE servers=ADDR:PORT,…" — "servers=none" while no address is
 * known), 0 when off, -errno on failure. */
int ks_status(char *info, size_t n, struct sl_err *e);
