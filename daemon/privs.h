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

/* For a daemon that runs as a user: a tiny root process that outlives it only to undo what root's /run/sluice
 * and /proc/sys hold for it, which the user may not write. It ignores SIGTERM/SIGINT/SIGHUP, keeps nothing of
 * the daemon's but stderr, waits for the daemon to exit (its end of a pipe closes — also on kill -9), removes
 * the control socket at `path` if it is still the one the daemon made, calls `at_exit(arg)` (may be NULL:
 * e.g. the forwarding record, netcfg/forwarding.h), and exits. Call before privs_drop, with no other thread
 * running. 0 or -errno. */
int privs_janitor(const char *path, void (*at_exit)(void *arg), void *arg, struct sl_err *e);
