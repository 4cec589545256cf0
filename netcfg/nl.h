/* nl: the rtnetlink request/ACK plumbing shared by netcfg's files (internal). A request is built in a stack
 * buffer with NLM_F_REQUEST | NLM_F_ACK and the next sequence number; nl_talk sends it and runs the reply:
 * -errno on a kernel error, with the kernel's extended-ACK text (NETLINK_EXT_ACK) in `ext`. */
#pragma once
#include <libmnl/libmnl.h>
#include <stddef.h>
#include "netcfg/netcfg.h"

#define NL_BUF_SIZE 8192

/* Starts a message of `type` in buf (NL_BUF_SIZE bytes) with `flags` | NLM_F_REQUEST | NLM_F_ACK. */
struct nlmsghdr *nl_msg(struct netcfg *nc, void *buf, uint16_t type, uint16_t flags);
/* Sends and reads until the ACK / DONE of this request; `cb` (may be NULL) sees every data message.
 * Returns 0 or -errno; ext (may be NULL) gets the extended-ACK text or "". */
int nl_talk(struct netcfg *nc, struct nlmsghdr *nlh, mnl_cb_t cb, void *data, char *ext, size_t extlen);
/* "strerror (extack text)" for messages. */
const char *nl_why(int err, const char *ext, char *buf, size_t n);
