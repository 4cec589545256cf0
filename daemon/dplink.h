/* dplink: the data plane's part of start-up, the same in both modes — the two batches and the TUN link
 * (opened with the offloads the kernel has, IPv6 off on it). The caller adds its address / MTU and, on
 * failure, tears down as usual: everything made here is in the fields it passed. */
#pragma once
#include "daemon/common/errmsg.h"
#include "daemon/dataplane/batch.h"
#include "daemon/dataplane/tunio.h"
#include "daemon/loop.h"

/* Returns the link's ifindex, or -errno with e->msg set. */
int dp_link_open(const char *ifname, struct dp_batch **rx, struct dp_batch **tx, struct loop_io *tun_io,
		 struct dp_tun *t, struct sl_err *e);
