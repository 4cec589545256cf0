/* privs: least privilege after start-up. Once the TUN link, sockets and tables exist the daemon keeps only
 * CAP_NET_ADMIN (routes, rules, nftables, addresses — also for the teardown) and, for a Listen port below
 * 1024, CAP_NET_BIND_SERVICE; every other capability is dropped from the effective, permitted and bounding
 * sets, and no_new_privs is set. With `User =` (gateway) it also becomes that user (its group, no
 * supplementary groups), keeping the same capabilities. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "daemon/common/errmsg.h"

/* set_user: also switch to uid/gid. Errors name the step that failed. */
int privs_drop(bool keep_bind_service, bool set_user, uid_t uid, gid_t gid, struct sl_err *e);

/* For a daemon that runs as a user: a tiny root process that outlives it only to remove the control socket
 * at `path` (root's /run/sluice is not the user's to write). It ignores SIGTERM/SIGINT/SIGHUP, waits for the
 * daemon to exit (its end of a pipe closes — also on kill -9), removes the socket if it is still the one the
 * daemon made, and exits. Call before privs_drop. 0 or -errno. */
int privs_janitor(const char *path, struct sl_err *e);
