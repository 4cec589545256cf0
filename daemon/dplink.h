/* dplink: the data plane's part of start-up, the same in both modes — per worker the two batches and a queue
 * of the TUN link (opened with the offloads the kernel has; multi-queue when there is more than one worker;
 * IPv6 on it only when it carries IPv6: dual-stack gateways and all clients). The caller adds its address /
 * MTU and, on failure, tears down as usual: everything made
 * here is in the workers it passed. */
#pragma once
#include "daemon/common/errmsg.h"
#include "daemon/dataplane/worker.h"

/* Opens queues for w[0..n). Returns the link's ifindex, or -errno with e->msg set. */
int dp_link_open(const char *ifname, struct dp_worker *w, unsigned n, bool ipv6, struct sl_err *e);
