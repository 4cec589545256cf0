/* netpath: what the client's path to its server is made of, and the debounce that turns a burst of
 * rtnetlink events into one look at it (issue #24). Pure logic, no kernel: daemon/netwatch.c feeds the
 * events, client.c and gateway.c compare the results; tests/unit/test_netpath.c checks both.
 *
 *   event ... event ....... (quiet_ms without one) -> due: one re-evaluation
 *   a stream of events that never pauses is still looked at max_ms after its first one */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "netcfg/netcfg.h"

#define NETPATH_QUIET_MS 200u  /* a burst is over when no event came for this long */
#define NETPATH_MAX_MS 2000u   /* ... or at the latest this long after its first event */

struct debounce {
	unsigned quiet_ms, max_ms;
	uint64_t first_ms; /* the burst's first event (0: none pending) */
	uint64_t due_ms;   /* when it is looked at */
};

void debounce_init(struct debounce *d, unsigned quiet_ms, unsigned max_ms);
/* An event at now: returns when the burst it belongs to is due (arm the timer for that). */
uint64_t debounce_event(struct debounce *d, uint64_t now);
/* The timer fired at now: true once per burst (then nothing is pending); false when nothing is pending or it
 * is not due yet (a later event moved the due time: re-arm with d->due_ms). */
bool debounce_fire(struct debounce *d, uint64_t now);

/* The path to a server as the kernel routes our marked datagrams: interface, source, next hop and the
 * underlay MTU. Two paths that differ in any of these are a change of path. */
struct netpath {
	bool have;        /* a route exists */
	struct route_path r;
	unsigned underlay; /* MTU the path carries (route's, else the interface's) */
};

bool netpath_same(const struct netpath *a, const struct netpath *b);
/* "dev c0 src 198.18.2.2 via 198.18.2.1 mtu 1500" or "no route"; ifname may be NULL (index only). */
const char *netpath_str(const struct netpath *p, const char *ifname, char *buf, size_t n);
