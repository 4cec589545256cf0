/* kill-switch: the client's nftables lockdown, table `inet sluice_ks` (DESIGN §6).
 *
 * Policy drop on input, output and forward. Accepted: loopback; the TUN link both ways; the daemon's own
 * underlay packets (meta mark == fwmark AND the endpoint address and port, TCP control + UDP data) and their
 * replies by conntrack state; IPv6 neighbour/router discovery (ICMPv6 133-136, hop limit 255) and the DHCP /
 * DHCPv6 client on every link; optionally (allow_lan) the underlay LAN. Other IPv6 only through the tunnel;
 * DNS only through the tunnel. Built or replaced in ONE batch (delete + add), removed only by ks_remove.
 * The table's user data records "iface=IFACE endpoint=ADDR:PORT" so status works without the daemon. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"

#define SL_KS_TABLE "sluice_ks"

struct ks_spec {
	char tun_ifname[IFNAMSIZ];
	struct sockaddr_storage endpoint; /* server address + port (IPv4 or IPv6) */
	uint32_t fwmark;                  /* SL_FWMARK */
	bool allow_lan;
};

/* Builds (or atomically replaces) the table. */
int ks_apply(const struct ks_spec *spec, struct sl_err *e);
/* Deletes the table; 0 if it was not there. */
int ks_remove(struct sl_err *e);
/* 1 when on (and info, if given, gets the recorded "iface=… endpoint=…"), 0 when off, -errno on failure. */
int ks_status(char *info, size_t n, struct sl_err *e);
