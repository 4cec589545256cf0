/* netwatch: the kernel's links, addresses and routes as they change (issue #24), through libnl-3's cache
 * manager: route/link, route/addr and (client) route/route caches kept current by rtnetlink notifications.
 * Its socket is one fd in the owner's event loop — no polling. An event only arms a debounce timer
 * (daemon/netpath.h); once a burst is over, the owner's `settled` callback looks at what it cares about, once
 * per burst: the client at the path to its server, the gateway at its egress link. Control thread only. */
#pragma once
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/loop.h"
#include "daemon/netpath.h"

struct nl_cache_mngr;
struct nl_cache;
struct nl_sock;
struct netwatch;

typedef void (*netwatch_fn)(struct netwatch *nw, void *arg);

#define NETWATCH_RCVBUF (1 << 20) /* the notification socket's receive buffer */
#define NETWATCH_ADDRS_MAX 512 /* a link's addresses as text, "ADDR/LEN,…" (sorted) */

struct netwatch {
	struct nl_cache_mngr *mngr;
	struct nl_sock *events_sk; /* the manager's notification socket (ours to free) */
	struct nl_sock *sync; /* refills the caches after the event socket overflowed */
	struct nl_cache *links, *addrs, *routes;
	struct loop *loop;
	struct loop_io io;
	struct loop_timer timer;
	struct debounce db;
	netwatch_fn settled;
	void *arg;
	uint64_t events; /* notifications seen (every one, before the debounce) */
	uint64_t checks; /* bursts handed to `settled` */
	uint64_t events_seen; /* events at the last look */
	bool overflowed; /* notifications were lost: the caches are refilled before the next look */
};

/* A link as the caches hold it now. */
struct netwatch_link {
	int ifindex; /* 0: no link of that name */
	bool up;      /* IFF_UP */
	bool running; /* IFF_RUNNING: carrier */
	unsigned mtu;
	char addrs[NETWATCH_ADDRS_MAX]; /* but link-local ones */
};

/* Caches filled, fd in `loop`. routes: follow the route table too (the client). 0 or -errno with e->msg. */
int netwatch_open(struct netwatch *nw, struct loop *loop, bool routes, netwatch_fn settled, void *arg,
		  struct sl_err *e);
/* Safe on a zeroed or partly opened netwatch. */
void netwatch_close(struct netwatch *nw);
/* The link named ifname (ifindex 0 when there is none). */
void netwatch_link(struct netwatch *nw, const char *ifname, struct netwatch_link *out);
