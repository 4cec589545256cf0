/* privs: least privilege after start-up. Once the TUN link, sockets and tables exist the daemon keeps only
 * CAP_NET_ADMIN (routes, rules, nftables, addresses — also for the teardown) and, for a Listen port below
 * 1024, CAP_NET_BIND_SERVICE; every other capability is dropped from the effective, permitted and bounding
 * sets, and no_new_privs is set. */
#pragma once
#include <stdbool.h>
#include "daemon/common/errmsg.h"

int privs_drop(bool keep_bind_service, struct sl_err *e);
