/* nl: one rtnetlink socket per netcfg, requests with ACKs, extended-ACK text. */
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "netcfg/nl.h"

int netcfg_open(struct netcfg *nc, struct sl_err *e)
{
	int one = 1;

	memset(nc, 0, sizeof(*nc));
	nc->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nc->nl)
		return sl_errf(e, -errno, "netlink: open: %s", strerror(errno));
	if (mnl_socket_bind(nc->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;
		mnl_socket_close(nc->nl);
		nc->nl = NULL;
		return sl_errf(e, -err, "netlink: bind: %s", strerror(err));
	}
	/* best effort: older kernels simply give no text */
	mnl_socket_setsockopt(nc->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nc->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	nc->portid = mnl_socket_get_portid(nc->nl);
	nc->seq = (uint32_t)time(NULL);
	return 0;
}

void netcfg_close(struct netcfg *nc)
{
	if (nc->nl)
		mnl_socket_close(nc->nl);
	nc->nl = NULL;
}

struct nlmsghdr *nl_msg(struct netcfg *nc, void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nc->seq;
	return nlh;
}

/* The text of an extended ACK, if the kernel sent one. */
static void extack_text(const struct nlmsghdr *nlh, char *ext, size_t extlen)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*err);
	const struct nlattr *attr;

	if (!ext || !extlen || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_get_payload_len(nlh) < off)
		return;
	mnl_attr_for_each_payload((const void *)((const char *)err + off), mnl_nlmsg_get_payload_len(nlh) - off)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
			snprintf(ext, extlen, "%s", mnl_attr_get_str(attr));
			return;
		}
	}
}

int nl_talk(struct netcfg *nc, struct nlmsghdr *nlh, mnl_cb_t cb, void *data, char *ext, size_t extlen)
{
	char buf[NL_BUF_SIZE];
	uint32_t seq = nlh->nlmsg_seq;

	if (ext && extlen)
		ext[0] = 0;
	if (mnl_socket_sendto(nc->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nc->nl, buf, sizeof(buf));
		const struct nlmsghdr *m = (const struct nlmsghdr *)buf;
		int rest;

		if (len < 0)
			return errno == ENOBUFS ? -ENOBUFS : -errno;
		rest = (int)len;
		for (; mnl_nlmsg_ok(m, rest); m = mnl_nlmsg_next(m, &rest)) {
			if (m->nlmsg_seq != seq || m->nlmsg_pid != nc->portid)
				continue; /* a late answer to an earlier request */
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *err = mnl_nlmsg_get_payload(m);
				if (err->error)
					extack_text(m, ext, extlen);
				return err->error;
			}
			if (m->nlmsg_type == NLMSG_DONE)
				return 0;
			if (cb && cb(m, data) < MNL_CB_OK)
				return -EPROTO;
		}
	}
}

const char *nl_why(int err, const char *ext, char *buf, size_t n)
{
	if (ext && ext[0])
		snprintf(buf, n, "%s (%s)", strerror(-err), ext);
	else
		snprintf(buf, n, "%s", strerror(-err));
	return buf;
}
