/* forwarding: net.ipv4.ip_forward (and, for a gateway with an IPv6 pool, net.ipv6.conf.all.forwarding plus
 * accept_ra = 2 on its egress where it was 1), shared by every sluice interface of a network namespace
 * (DESIGN §10.13). An IPv6-only gateway holds IPv6 forwarding alone: IPv4's is left as it is.
 *
 * Sysctls are per network namespace, /run is one for the whole host (a reboot resets both), so the record is
 * keyed by the namespace: SL_RUN_DIR/forwarding.NSINODE (the inode of /proc/self/ns/net), replaced whole
 * (write-temp + fsync + rename) and only under an exclusive flock of SL_RUN_DIR:
 *
 *   # sluice: forwarding raised for the interfaces below ...
 *   netns-cookie 8201          the namespace's SO_NETNS_COOKIE (never reused while the host runs)
 *   ip_forward 0               the value before the first sluice interface raised it (while one holds it)
 *   ipv6_forward 0             the same for IPv6, when an interface raised it too (forwarding_raise6)
 *   accept_ra eth0 1           the egress whose accept_ra was 1 and is 2 while IPv6 forwards
 *   holder gw0 1234            each interface that raised IPv4 forwarding, with its daemon's pid
 *   holder6 gw6 1235           an interface that holds IPv6 forwarding only (forwarding_hold, ipv4 false)
 *
 * The first raiser saves the original value; a crashed interface's next start finds itself in the list (its
 * pid is updated: no double count, the original kept); the last holder to stop restores the original and
 * removes the record; IPv4's original is restored as soon as no `holder` (of IPv4) is left. A record whose cookie is not this namespace's was left by a deleted namespace whose inode
 * number came round again: it is stale and replaced. The record is written before the sysctl, so a crash at
 * any point leaves the original value on disk. The IPv6 values are restored with IPv4's, when the last holder
 * (of either family) stops. Nothing here logs; 0 or -errno with e->msg. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "daemon/common/errmsg.h"

#define SL_FORWARDING_RECORD "forwarding"
#define SL_IP_FORWARD_SYSCTL "/proc/sys/net/ipv4/ip_forward"
#define SL_IP6_FORWARD_SYSCTL "/proc/sys/net/ipv6/conf/all/forwarding"
#define SL_IP6_CONF_DIR "/proc/sys/net/ipv6/conf"

/* Where a namespace's record and sysctl are (the unit tests point them at a temp dir and a plain file). */
struct forwarding_ns {
	char dir[128];
	char sysctl[128];
	char sysctl6[128]; /* "": no IPv6 */
	char conf6[128];   /* the directory of per-link IPv6 settings (accept_ra) */
	uint64_t ino;
	uint64_t cookie; /* 0: unknown (a kernel before 5.14), not compared */
};

/* The calling process's namespace: SL_RUN_DIR and the real sysctl. */
int forwarding_ns_here(struct forwarding_ns *ns, struct sl_err *e);
void forwarding_record_path(const struct forwarding_ns *ns, char *buf, size_t n);

/* ip_forward = 1 for interface `ifname`, daemon `pid`. Returns 1 when this set it (it was 0), 0 when it was on
 * already, -errno on failure — with the record as it was. */
int forwarding_raise(const struct forwarding_ns *ns, const char *ifname, pid_t pid, struct sl_err *e);
/* The same with ipv4 true; with ipv4 false ifname joins the record as a holder of IPv6 forwarding only
 * (forwarding_raise6 next) and ip_forward is not touched — restored, if a crashed run of ifname held it and no
 * other interface does. Returns 0 then, or -errno. */
int forwarding_hold(const struct forwarding_ns *ns, const char *ifname, pid_t pid, bool ipv4, struct sl_err *e);
/* IPv6 forwarding = 1 for ifname, which holds IPv4 forwarding already (forwarding_raise), and accept_ra = 2
 * on `egress` where it is 1. Returns 1 when this set forwarding, 0 when it was on, -errno (record as it was). */
int forwarding_raise6(const struct forwarding_ns *ns, const char *ifname, const char *egress, struct sl_err *e);
/* ifname (held by daemon `pid`; 0: by any) lets go. Returns 1 when it was the last holder and the original
 * value is back, 0 when nothing was to do (others still hold it; ifname never raised it or was released
 * already; a newer run of ifname holds it now), -errno when the original could not be written back — the
 * record then stays without holders, so the next raise keeps that original value and the next last holder
 * retries. */
int forwarding_release(const struct forwarding_ns *ns, const char *ifname, pid_t pid, struct sl_err *e);
