/* nft_batch: one nftables transaction (netcfg/nft_batch.h). The queued libnftnl objects are turned
 * into netlink messages between a batch begin and a batch end, sent with ONE sendto, and every ACK
 * is drained: each object message carries NLM_F_ACK and its own sequence number, so an error is
 * mapped back to the object that caused it ("nftables: add rule to chain output of inet sluice_ks:
 * Operation not supported"). The kernel applies the whole batch or nothing. Also the table lookup,
 * and the small builders kill-switch/, nat/ and client-table/ share (tables, base chains, rule
 * expressions, the MSS clamp). Never logs or exits. */
#include "netcfg/nft_batch.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

/* libnftnl writes attributes without bounds checks: keep this much room free before building one
 * message (our largest rule is well under 1 KiB). */
#define NFT_MSG_RESERVE 16384
#define NFT_RECV_BUF 65536
/* The kernel answers a batch synchronously inside sendto; this only bounds a batch it dropped
 * silently. */
#define NFT_ACK_TIMEOUT_MS 5000
#define NFT_USERDATA_MAX 256
#define TCP_FLAGS_OFF 13 /* byte of the TCP header with CWR…FIN */
#define TCP_FLAG_SYN 0x02
#define TCPOPT_MAXSEG_KIND 2 /* kind 2, length 4, then the 16-bit MSS */
#define TCPOPT_MAXSEG_VALUE_OFF 2

struct nft_obj {
	uint16_t msg; /* NFT_MSG_NEWTABLE, _DELTABLE, _NEWCHAIN, _NEWRULE, _NEWSET, _NEWSETELEM or _DELSETELEM */
	bool acked;
	void *obj;
};

struct nft_batch {
	struct nft_obj *objs;
	size_t n, cap;
	int err; /* first failure while queueing or building (-ENOMEM); reported by the commit */
};

const char *nft_family_name(uint16_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_NETDEV:
		return "netdev";
	default:
		return "unknown";
	}
}

static void obj_free(uint16_t msg, void *obj)
{
	if (!obj)
		return;
	switch (msg) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		nftnl_table_free(obj);
		break;
	case NFT_MSG_NEWCHAIN:
		nftnl_chain_free(obj);
		break;
	case NFT_MSG_NEWRULE:
		nftnl_rule_free(obj);
		break;
	case NFT_MSG_NEWSET:
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
		nftnl_set_free(obj);
		break;
	}
}

struct nft_batch *nft_batch_new(void)
{
	return calloc(1, sizeof(struct nft_batch));
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		obj_free(b->objs[i].msg, b->objs[i].obj);
	free(b->objs);
	free(b);
}

/* Takes ownership of obj in every case; 0 or -ENOMEM (also remembered in the batch). */
static int batch_queue(struct nft_batch *b, uint16_t msg, void *obj)
{
	if (!b || !obj || b->err) {
		obj_free(msg, obj);
		if (b && !b->err)
			b->err = -ENOMEM;
		return -ENOMEM;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct nft_obj *o = realloc(b->objs, cap * sizeof(*o));
		if (!o) {
			obj_free(msg, obj);
			b->err = -ENOMEM;
			return -ENOMEM;
		}
		b->objs = o;
		b->cap = cap;
	}
	b->objs[b->n++] = (struct nft_obj){.msg = msg, .obj = obj};
	return 0;
}

void nft_batch_add_table(struct nft_batch *b, struct nftnl_table *t)
{
	batch_queue(b, NFT_MSG_NEWTABLE, t);
}

void nft_batch_del_table(struct nft_batch *b, struct nftnl_table *t)
{
	batch_queue(b, NFT_MSG_DELTABLE, t);
}

void nft_batch_add_chain(struct nft_batch *b, struct nftnl_chain *c)
{
	batch_queue(b, NFT_MSG_NEWCHAIN, c);
}

void nft_batch_add_rule(struct nft_batch *b, struct nftnl_rule *r)
{
	batch_queue(b, NFT_MSG_NEWRULE, r);
}

/* "add rule to chain output of inet sluice_ks" */
static void obj_what(const struct nft_obj *o, char *out, size_t n)
{
	switch (o->msg) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		snprintf(out, n, "%s table %s %s", o->msg == NFT_MSG_NEWTABLE ? "add" : "delete",
			 nft_family_name(nftnl_table_get_u32(o->obj, NFTNL_TABLE_FAMILY)),
			 nftnl_table_get_str(o->obj, NFTNL_TABLE_NAME));
		break;
	case NFT_MSG_NEWCHAIN:
		snprintf(out, n, "add chain %s to %s %s",
			 nftnl_chain_get_str(o->obj, NFTNL_CHAIN_NAME),
			 nft_family_name(nftnl_chain_get_u32(o->obj, NFTNL_CHAIN_FAMILY)),
			 nftnl_chain_get_str(o->obj, NFTNL_CHAIN_TABLE));
		break;
	case NFT_MSG_NEWRULE:
		snprintf(out, n, "add rule to chain %s of %s %s",
			 nftnl_rule_get_str(o->obj, NFTNL_RULE_CHAIN),
			 nft_family_name(nftnl_rule_get_u32(o->obj, NFTNL_RULE_FAMILY)),
			 nftnl_rule_get_str(o->obj, NFTNL_RULE_TABLE));
		break;
	case NFT_MSG_NEWSET:
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
		snprintf(out, n, "%s set %s of %s %s",
			 o->msg == NFT_MSG_NEWSET	  ? "add"
			 : o->msg == NFT_MSG_NEWSETELEM ? "add elements to"
							  : "flush",
			 nftnl_set_get_str(o->obj, NFTNL_SET_NAME),
			 nft_family_name(nftnl_set_get_u32(o->obj, NFTNL_SET_FAMILY)),
			 nftnl_set_get_str(o->obj, NFTNL_SET_TABLE));
		break;
	default:
		snprintf(out, n, "message %u", o->msg);
	}
}

static void obj_build(char *buf, const struct nft_obj *o, uint32_t seq)
{
	struct nlmsghdr *nlh;

	switch (o->msg) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		nlh = nftnl_nlmsg_build_hdr(
		    buf, o->msg, nftnl_table_get_u32(o->obj, NFTNL_TABLE_FAMILY),
		    (o->msg == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0) | NLM_F_ACK, seq);
		nftnl_table_nlmsg_build_payload(nlh, o->obj);
		break;
	case NFT_MSG_NEWCHAIN:
		nlh = nftnl_nlmsg_build_hdr(buf, o->msg,
					    nftnl_chain_get_u32(o->obj, NFTNL_CHAIN_FAMILY),
					    NLM_F_CREATE | NLM_F_ACK, seq);
		nftnl_chain_nlmsg_build_payload(nlh, o->obj);
		break;
	case NFT_MSG_NEWRULE:
		nlh = nftnl_nlmsg_build_hdr(buf, o->msg,
					    nftnl_rule_get_u32(o->obj, NFTNL_RULE_FAMILY),
					    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, seq);
		nftnl_rule_nlmsg_build_payload(nlh, o->obj);
		break;
	case NFT_MSG_NEWSET:
		nlh = nftnl_nlmsg_build_hdr(buf, o->msg, nftnl_set_get_u32(o->obj, NFTNL_SET_FAMILY),
					    NLM_F_CREATE | NLM_F_ACK, seq);
		nftnl_set_nlmsg_build_payload(nlh, o->obj);
		break;
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM: /* without elements: every element (flush) */
		nlh = nftnl_nlmsg_build_hdr(buf, o->msg, nftnl_set_get_u32(o->obj, NFTNL_SET_FAMILY),
					    (o->msg == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0) | NLM_F_ACK, seq);
		nftnl_set_elems_nlmsg_build_payload(nlh, o->obj);
		break;
	}
}

static int nft_open(struct mnl_socket **out, struct sl_err *e)
{
	struct mnl_socket *nl;
	int one = 1, err;

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl) {
		err = errno;
		if (err == EPROTONOSUPPORT)
			return sl_errf(e, -EPROTONOSUPPORT,
				       "nftables: netfilter netlink is not available in this "
				       "kernel (nf_tables)");
		return sl_errf(e, -err, "nftables: netlink socket: %s", strerror(err));
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		mnl_socket_close(nl);
		return sl_errf(e, -err, "nftables: bind netlink socket: %s", strerror(err));
	}
	/* Best effort: the kernel's error text, and ACKs that do not echo our whole message back.
	 */
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	*out = nl;
	return 0;
}

/* One ACK or error: its errno (<= 0) and the kernel's extended-ACK message, if any. */
static int ack_parse(const struct nlmsghdr *nlh, char *ext, size_t n)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*err);
	const struct nlattr *attr;

	ext[0] = '\0';
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*err)))
		return -EBADMSG;
	if (err->error && (nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (NLMSG_HDRLEN + off <= nlh->nlmsg_len) {
			mnl_attr_for_each_payload((const void *)((const char *)err + off),
						  nlh->nlmsg_len - NLMSG_HDRLEN - off)
			{
				if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
				    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
					snprintf(ext, n, "%s", mnl_attr_get_str(attr));
			}
		}
	}
	return err->error > 0 ? -err->error : err->error;
}

/* Waits until the socket is readable; 0, -ETIMEDOUT or -errno. */
static int wait_readable(struct mnl_socket *nl)
{
	struct pollfd p = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
	int r;

	do
		r = poll(&p, 1, NFT_ACK_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

static int batch_error(struct nft_batch *b, uint32_t seq0, uint32_t seq, int err, const char *ext,
		       struct sl_err *e)
{
	char what[256];
	const struct nft_obj *o = NULL;
	const char *hint = "";

	if (err == -EPERM)
		return sl_errf(e, -EPERM, "nftables: %s (are you root?)", strerror(EPERM));
	if (seq > seq0 && seq - seq0 <= b->n)
		o = &b->objs[seq - seq0 - 1];
	if (!o && err == -EOPNOTSUPP) /* refused at the batch begin: no nf_tables subsystem */
		return sl_errf(e, -EPROTONOSUPPORT,
			       "nftables: nf_tables is not available in this kernel");
	if (o)
		obj_what(o, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "commit");
	if (o && err == -ENOENT && (o->msg == NFT_MSG_NEWRULE || o->msg == NFT_MSG_NEWCHAIN))
		hint = " (kernel lacks an nftables expression or chain type?)";
	return sl_errf(e, err, "nftables: %s: %s%s%s%s%s", what, strerror(-err), ext[0] ? " (" : "",
		       ext, ext[0] ? ")" : "", hint);
}

/* Reads every ACK of the batch sent with sequence numbers seq0 (begin), seq0+1… (objects), seq0+n+1
 * (end). */
static int batch_drain(struct nft_batch *b, struct mnl_socket *nl, uint32_t seq0, struct sl_err *e)
{
	char *buf = malloc(NFT_RECV_BUF);
	uint32_t portid = mnl_socket_get_portid(nl), err_seq = 0;
	size_t pending = b->n;
	int ret = -1, first_err = 0;
	char ext[256] = "", cur[256];

	if (!buf)
		return sl_errf(e, -ENOMEM, "nftables: out of memory");
	for (;;) {
		ssize_t r = recv(mnl_socket_get_fd(nl), buf, NFT_RECV_BUF, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int len;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!pending || first_err)
					break; /* everything the kernel had to say was queued before
						  sendto returned */
				ret = wait_readable(nl);
				if (ret == -ETIMEDOUT) {
					sl_errf(e, ret,
						"nftables: no acknowledgement from the kernel for "
						"%zu message(s)",
						pending);
					goto out;
				}
				if (ret < 0) {
					sl_errf(e, ret, "nftables: poll: %s", strerror(-ret));
					goto out;
				}
				continue;
			}
			ret = -errno;
			sl_errf(e, ret, "nftables: receive acknowledgements: %s", strerror(-ret));
			goto out;
		}
		len = (int)r;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			uint32_t seq = nlh->nlmsg_seq;
			int err;

			if (nlh->nlmsg_type != NLMSG_ERROR || !mnl_nlmsg_portid_ok(nlh, portid))
				continue;
			if (seq - seq0 > b->n + 1)
				continue; /* not ours (wrapped arithmetic makes older sequences
					     large too) */
			err = ack_parse(nlh, cur, sizeof(cur));
			if (seq > seq0 && seq - seq0 <= b->n && !b->objs[seq - seq0 - 1].acked) {
				b->objs[seq - seq0 - 1].acked = true;
				pending--;
			}
			if (err && !first_err) {
				first_err = err;
				err_seq = seq;
				snprintf(ext, sizeof(ext), "%s", cur);
			}
		}
	}
	if (first_err) {
		ret = batch_error(b, seq0, err_seq, first_err, ext, e);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Grows buf so that NFT_MSG_RESERVE bytes are free after len. */
static int buf_reserve(char **buf, size_t *cap, size_t len)
{
	if (*cap - len >= NFT_MSG_RESERVE)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 4 * NFT_MSG_RESERVE;
	while (ncap - len < NFT_MSG_RESERVE)
		ncap *= 2;
	char *n = realloc(*buf, ncap);
	if (!n)
		return -ENOMEM;
	memset(n + *cap, 0, ncap - *cap); /* alignment padding between messages is sent too */
	*buf = n;
	*cap = ncap;
	return 0;
}

int nft_batch_commit(struct nft_batch *b, struct sl_err *e)
{
	struct mnl_socket *nl = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	uint32_t seq0 = (uint32_t)time(NULL);
	int ret = -1;

	if (!b || b->err)
		return sl_errf(e, b ? b->err : -ENOMEM, "nftables: building the batch: %s",
			       strerror(b ? -b->err : ENOMEM));
	if (!b->n)
		return 0;
	for (size_t i = 0; i <= b->n + 1; i++) {
		struct nlmsghdr *nlh;

		if (buf_reserve(&buf, &cap, len) < 0) {
			ret = sl_errf(e, -ENOMEM, "nftables: out of memory");
			goto out;
		}
		if (i == 0)
			nlh = nftnl_batch_begin(buf + len, seq0);
		else if (i == b->n + 1)
			nlh = nftnl_batch_end(buf + len, seq0 + (uint32_t)i);
		else {
			obj_build(buf + len, &b->objs[i - 1], seq0 + (uint32_t)i);
			nlh = (struct nlmsghdr *)(buf + len);
		}
		if (nlh->nlmsg_len >
		    NFT_MSG_RESERVE) { /* cannot happen with our rules (< 1 KiB); never go on */
			ret = sl_errf(e, -EMSGSIZE, "nftables: message larger than %d bytes",
				      NFT_MSG_RESERVE);
			goto out;
		}
		len += NLMSG_ALIGN(nlh->nlmsg_len);
		if (i > 0 && i <= b->n)
			b->objs[i - 1].acked = false;
	}

	ret = nft_open(&nl, e);
	if (ret < 0)
		goto out;
	if (len > 65536) { /* a large batch may not fit the default send buffer */
		int sz = (int)len * 2;
		if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) <
		    0)
			setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (mnl_socket_sendto(nl, buf, len) < 0) {
		ret = -errno;
		sl_errf(e, ret, "nftables: send batch: %s", strerror(-ret));
		goto out;
	}
	ret = batch_drain(b, nl, seq0, e);
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return ret;
}

/* Copies the table's user data to out: its comment when it is one (as nft stores it), else the raw
 * bytes. */
static int udata_comment_cb(const struct nftnl_udata *attr, void *data)
{
	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT)
		*(const struct nftnl_udata **)data = attr;
	return 0;
}

static void table_userdata(const struct nftnl_table *t, char *out, size_t n)
{
	const struct nftnl_udata *c = NULL;
	const char *ud;
	uint32_t len = 0;

	out[0] = '\0';
	if (!nftnl_table_is_set(t, NFTNL_TABLE_USERDATA))
		return;
	ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
	if (!ud)
		return;
	if (nftnl_udata_parse(ud, len, udata_comment_cb, &c) >= 0 && c) {
		ud = nftnl_udata_get(c);
		len = nftnl_udata_len(c);
	}
	if (len >= n)
		len = (uint32_t)n - 1;
	memcpy(out, ud, len);
	out[len] = '\0';
	out[strnlen(out, len)] = '\0'; /* a NUL-terminated comment ends at its NUL */
}

int nft_table_exists(uint16_t family, const char *name, char *userdata, size_t udlen,
		     struct sl_err *e)
{
	struct mnl_socket *nl = NULL;
	struct nftnl_table *t = NULL, *got = NULL;
	char *buf = NULL;
	uint32_t seq = (uint32_t)time(NULL), portid;
	struct nlmsghdr *nlh;
	bool done = false;
	int ret = -1, found = 0;

	t = nftnl_table_alloc();
	got = nftnl_table_alloc();
	buf = malloc(NFT_RECV_BUF);
	if (!t || !got || !buf || nftnl_table_set_str(t, NFTNL_TABLE_NAME, name) < 0) {
		ret = sl_errf(e, -ENOMEM, "nftables: out of memory");
		goto out;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	ret = nft_open(&nl, e);
	if (ret < 0)
		goto out;
	portid = mnl_socket_get_portid(nl);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family, NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		sl_errf(e, ret, "nftables: get table %s %s: %s", nft_family_name(family), name,
			strerror(-ret));
		goto out;
	}
	while (!done) {
		ssize_t r = recv(mnl_socket_get_fd(nl), buf, NFT_RECV_BUF, MSG_DONTWAIT);
		int len;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ret = wait_readable(nl);
				if (ret < 0) {
					sl_errf(e, ret, "nftables: get table %s %s: %s",
						nft_family_name(family), name, strerror(-ret));
					goto out;
				}
				continue;
			}
			ret = -errno;
			sl_errf(e, ret, "nftables: get table %s %s: %s", nft_family_name(family),
				name, strerror(-ret));
			goto out;
		}
		len = (int)r;
		for (const struct nlmsghdr *m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, len);
		     m = mnl_nlmsg_next(m, &len)) {
			char ext[256];
			int err;

			if (m->nlmsg_seq != seq || !mnl_nlmsg_portid_ok(m, portid))
				continue;
			if (m->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) {
				if (nftnl_table_nlmsg_parse(m, got) == 0)
					found = 1;
				continue;
			}
			if (m->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (m->nlmsg_type != NLMSG_ERROR)
				continue;
			done = true;
			err = ack_parse(m, ext, sizeof(ext));
			if (err == -ENOENT) {
				found = 0;
			} else if (err == -EPERM) {
				ret = sl_errf(e, -EPERM, "nftables: %s (are you root?)",
					      strerror(EPERM));
				goto out;
			} else if (err == -EINVAL || err == -EOPNOTSUPP) {
				/* nfnetlink refuses a well-formed request this way when nf_tables
				 * is missing */
				ret = sl_errf(
				    e, -EPROTONOSUPPORT,
				    "nftables: get table %s %s: %s (is nf_tables in the kernel?)",
				    nft_family_name(family), name, strerror(-err));
				goto out;
			} else if (err) {
				ret = sl_errf(e, err, "nftables: get table %s %s: %s%s%s%s",
					      nft_family_name(family), name, strerror(-err),
					      ext[0] ? " (" : "", ext, ext[0] ? ")" : "");
				goto out;
			}
			break;
		}
	}
	if (found && userdata && udlen)
		table_userdata(got, userdata, udlen);
	ret = found;
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	if (got)
		nftnl_table_free(got);
	if (t)
		nftnl_table_free(t);
	return ret;
}

/* ---- replace / delete ---- */

void nft_batch_replace_table(struct nft_batch *b, struct nftnl_table *t)
{
	if (!t) {
		batch_queue(b, NFT_MSG_NEWTABLE, NULL);
		return;
	}
	uint16_t family = (uint16_t)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);
	const char *name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);

	nft_batch_add_table(b, nft_table_new(family, name, NULL));
	nft_batch_del_table(b, nft_table_new(family, name, NULL));
	nft_batch_add_table(b, t);
}

int nft_table_delete(uint16_t family, const char *name, struct sl_err *e)
{
	struct nft_batch *b = nft_batch_new();
	int ret;

	nft_batch_del_table(b, nft_table_new(family, name, NULL));
	ret = nft_batch_commit(b, e);
	nft_batch_free(b);
	return ret == -ENOENT ? 0 : ret;
}

/* ---- sets ---- */

void nft_batch_add_set(struct nft_batch *b, struct nftnl_set *s)
{
	batch_queue(b, NFT_MSG_NEWSET, s);
}

void nft_batch_add_elems(struct nft_batch *b, struct nftnl_set *s)
{
	batch_queue(b, NFT_MSG_NEWSETELEM, s);
}

void nft_batch_flush_set(struct nft_batch *b, struct nftnl_set *s)
{
	batch_queue(b, NFT_MSG_DELSETELEM, s);
}

struct nftnl_set *nft_set_new(uint16_t family, const char *table, const char *name, uint32_t key_type,
			      uint32_t key_len, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 || nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	return s;
}

int nft_set_add_elem(struct nftnl_set *s, const void *key, uint32_t len)
{
	struct nftnl_set_elem *el;

	if (!s)
		return -ENOMEM;
	el = nftnl_set_elem_alloc();
	if (!el)
		return -ENOMEM;
	if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, len) < 0) {
		nftnl_set_elem_free(el);
		return -ENOMEM;
	}
	nftnl_set_elem_add(s, el);
	return 0;
}

/* The answers to one dump request: each NEWSETELEM message parsed into `got`. */
static int elems_recv(struct mnl_socket *nl, uint32_t seq, struct nftnl_set *got, const char *what,
		      struct sl_err *e)
{
	char *buf = malloc(NFT_RECV_BUF);
	uint32_t portid = mnl_socket_get_portid(nl);
	int ret = -1;

	if (!buf)
		return sl_errf(e, -ENOMEM, "nftables: out of memory");
	for (;;) {
		ssize_t r = recv(mnl_socket_get_fd(nl), buf, NFT_RECV_BUF, MSG_DONTWAIT);
		int len;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ret = wait_readable(nl);
				if (ret < 0) {
					sl_errf(e, ret, "nftables: %s: %s", what, strerror(-ret));
					goto out;
				}
				continue;
			}
			ret = -errno;
			sl_errf(e, ret, "nftables: %s: %s", what, strerror(-ret));
			goto out;
		}
		len = (int)r;
		for (const struct nlmsghdr *m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, len);
		     m = mnl_nlmsg_next(m, &len)) {
			char ext[256];
			int err;

			if (m->nlmsg_seq != seq || !mnl_nlmsg_portid_ok(m, portid))
				continue;
			if (m->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)) {
				nftnl_set_elems_nlmsg_parse(m, got);
				continue;
			}
			if (m->nlmsg_type == NLMSG_DONE) {
				ret = 0;
				goto out;
			}
			if (m->nlmsg_type != NLMSG_ERROR)
				continue;
			err = ack_parse(m, ext, sizeof(ext));
			if (err == -ENOENT) {
				ret = -ENOENT; /* no such table or set: not an error to report */
				goto out;
			}
			if (err) {
				ret = sl_errf(e, err, "nftables: %s: %s%s%s%s", what,
					      err == -EPERM ? "are you root?" : strerror(-err), ext[0] ? " (" : "",
					      ext, ext[0] ? ")" : "");
				goto out;
			}
			ret = 0; /* the ACK after the dump */
			goto out;
		}
	}
out:
	free(buf);
	return ret;
}

int nft_set_list_elems(uint16_t family, const char *table, const char *set,
		       void (*cb)(const void *key, uint32_t len, void *arg), void *arg, struct sl_err *e)
{
	struct nftnl_set *req = nftnl_set_alloc(), *got = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it = NULL;
	struct mnl_socket *nl = NULL;
	uint32_t seq = (uint32_t)time(NULL);
	char buf[MNL_SOCKET_BUFFER_SIZE], what[160];
	struct nlmsghdr *nlh;
	int ret, n = 0;

	snprintf(what, sizeof(what), "list set %s of %s %s", set, nft_family_name(family), table);
	if (!req || !got || nftnl_set_set_str(req, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(req, NFTNL_SET_NAME, set) < 0) {
		ret = sl_errf(e, -ENOMEM, "nftables: out of memory");
		goto out;
	}
	nftnl_set_set_u32(req, NFTNL_SET_FAMILY, family);
	ret = nft_open(&nl, e);
	if (ret < 0)
		goto out;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP | NLM_F_ACK, seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, req);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = sl_errf(e, -errno, "nftables: %s: %s", what, strerror(errno));
		goto out;
	}
	ret = elems_recv(nl, seq, got, what, e);
	if (ret < 0)
		goto out;
	it = nftnl_set_elems_iter_create(got);
	for (struct nftnl_set_elem *el = it ? nftnl_set_elems_iter_next(it) : NULL; el;
	     el = nftnl_set_elems_iter_next(it)) {
		uint32_t len = 0;
		const void *key = nftnl_set_elem_get(el, NFTNL_SET_ELEM_KEY, &len);
		if (key && cb)
			cb(key, len, arg);
		n++;
	}
	ret = n;
out:
	if (it)
		nftnl_set_elems_iter_destroy(it);
	if (nl)
		mnl_socket_close(nl);
	if (req)
		nftnl_set_free(req);
	if (got)
		nftnl_set_free(got);
	return ret;
}

/* ---- builders ---- */

struct nftnl_table *nft_table_new(uint16_t family, const char *name, const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud = NULL;

	if (!t)
		return NULL;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, name) < 0)
		goto fail;
	if (comment) {
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAX);
		if (!ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, comment) ||
		    nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
					 nftnl_udata_buf_len(ud)) < 0)
			goto fail;
		nftnl_udata_buf_free(ud);
	}
	return t;
fail:
	if (ud)
		nftnl_udata_buf_free(ud);
	nftnl_table_free(t);
	return NULL;
}

struct nftnl_chain *nft_base_chain_new(uint16_t family, const char *table, const char *name,
				       const char *type, uint32_t hook, int32_t prio,
				       uint32_t policy)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return NULL;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, policy);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0) {
		nftnl_chain_free(c);
		return NULL;
	}
	return c;
}

struct nftnl_rule *nft_batch_new_rule(struct nft_batch *b, uint16_t family, const char *table,
				      const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (r) {
		nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
		if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
		    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0) {
			nftnl_rule_free(r);
			r = NULL;
		}
	}
	/* the batch owns it from here (and frees it at once on failure) */
	return batch_queue(b, NFT_MSG_NEWRULE, r) == 0 ? r : NULL;
}

/* Allocates expression `name` unless the batch already failed; NULL (error remembered) otherwise.
 */
static struct nftnl_expr *expr_new(struct nft_batch *b, struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *x;

	if (!b || b->err || !r)
		return NULL;
	x = nftnl_expr_alloc(name);
	if (!x)
		b->err = -ENOMEM;
	return x;
}

/* Appends x to r, or frees it and fails the batch when setting its data failed. */
static void expr_add(struct nft_batch *b, struct nftnl_rule *r, struct nftnl_expr *x, bool ok)
{
	if (!x)
		return;
	if (!ok) {
		nftnl_expr_free(x);
		b->err = -ENOMEM;
		return;
	}
	nftnl_rule_add_expr(r, x);
}

static void rule_meta(struct nft_batch *b, struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *x = expr_new(b, r, "meta");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(x, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	expr_add(b, r, x, true);
}

static void rule_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t op, const void *data,
		     uint32_t len)
{
	struct nftnl_expr *x = expr_new(b, r, "cmp");
	bool ok = true;

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_OP, op);
		ok = nftnl_expr_set(x, NFTNL_EXPR_CMP_DATA, data, len) == 0;
	}
	expr_add(b, r, x, ok);
}

/* reg1 = (reg1 & mask) ^ 0 over len bytes */
static void rule_bitwise(struct nft_batch *b, struct nftnl_rule *r, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *x = expr_new(b, r, "bitwise");
	bool ok = true;

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_LEN, len);
		ok = nftnl_expr_set(x, NFTNL_EXPR_BITWISE_MASK, mask, len) == 0 &&
		     nftnl_expr_set(x, NFTNL_EXPR_BITWISE_XOR, zero, len) == 0;
	}
	expr_add(b, r, x, ok);
}

void nft_rule_meta_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, const void *data,
		       uint32_t len)
{
	rule_meta(b, r, key);
	rule_cmp(b, r, NFT_CMP_EQ, data, len);
}

void nft_rule_meta_masked_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, const void *mask,
			      const void *data, uint32_t len)
{
	rule_meta(b, r, key);
	rule_bitwise(b, r, mask, len);
	rule_cmp(b, r, NFT_CMP_EQ, data, len);
}

void nft_rule_ifname(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, const char *ifname)
{
	char name[IFNAMSIZ] = {
	    0}; /* the kernel compares the whole zero-padded name: an exact match */

	strncpy(name, ifname, sizeof(name) - 1);
	nft_rule_meta_cmp(b, r, key, name, sizeof(name));
}

/* reg1 = payload[base + offset .. + len) */
static void rule_payload(struct nft_batch *b, struct nftnl_rule *r, uint32_t base, uint32_t offset,
			 uint32_t len)
{
	struct nftnl_expr *x = expr_new(b, r, "payload");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	expr_add(b, r, x, true);
}

/* A length the register expressions cannot take fails the batch (-EINVAL) instead. */
static bool len_ok(struct nft_batch *b, uint32_t len)
{
	if (len && len <= 16)
		return true;
	if (b && !b->err)
		b->err = -EINVAL;
	return false;
}

void nft_rule_payload_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t base, uint32_t offset,
			  const void *data, uint32_t len, uint32_t prefix_bits)
{
	uint8_t mask[16] = {0}, val[16] = {0};

	if (!len_ok(b, len) || prefix_bits > len * 8) {
		if (b && !b->err)
			b->err = -EINVAL;
		return;
	}
	rule_payload(b, r, base, offset, len);
	memcpy(val, data, len);
	if (prefix_bits < len * 8) {
		for (uint32_t i = 0; i < prefix_bits; i++)
			mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		for (uint32_t i = 0; i < len; i++)
			val[i] &= mask[i];
		rule_bitwise(b, r, mask, len);
	}
	rule_cmp(b, r, NFT_CMP_EQ, val, len);
}

void nft_rule_addr_prefix(struct nft_batch *b, struct nftnl_rule *r, int family, bool source, const void *addr,
			  uint32_t prefix_bits)
{
	const uint8_t fam = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

	nft_rule_meta_cmp(b, r, NFT_META_NFPROTO, &fam, sizeof(fam));
	if (fam == NFPROTO_IPV6)
		nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, source ? 8 : 24, addr, 16, prefix_bits);
	else
		nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, source ? 12 : 16, addr, 4, prefix_bits);
}

void nft_rule_payload_range(struct nft_batch *b, struct nftnl_rule *r, uint32_t base,
			    uint32_t offset, const void *from, const void *to, uint32_t len)
{
	struct nftnl_expr *x;
	bool ok = true;

	if (!len_ok(b, len))
		return;
	rule_payload(b, r, base, offset, len);
	x = expr_new(b, r, "range");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
		ok = nftnl_expr_set(x, NFTNL_EXPR_RANGE_FROM_DATA, from, len) == 0 &&
		     nftnl_expr_set(x, NFTNL_EXPR_RANGE_TO_DATA, to, len) == 0;
	}
	expr_add(b, r, x, ok);
}

void nft_rule_payload_any_bit(struct nft_batch *b, struct nftnl_rule *r, uint32_t base,
			      uint32_t offset, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];

	if (!len_ok(b, len))
		return;
	rule_payload(b, r, base, offset, len);
	rule_bitwise(b, r, mask, len);
	rule_cmp(b, r, NFT_CMP_NEQ, zero, len);
}

void nft_rule_tcpopt_set(struct nft_batch *b, struct nftnl_rule *r, uint8_t kind, uint32_t offset,
			 const void *data, uint32_t len)
{
	struct nftnl_expr *x;
	bool ok = true;

	if (!len_ok(b, len))
		return;
	x = expr_new(b, r, "immediate"); /* reg1 = data */
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		ok = nftnl_expr_set(x, NFTNL_EXPR_IMM_DATA, data, len) == 0;
	}
	expr_add(b, r, x, ok);
	x = expr_new(b, r, "exthdr");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_EXTHDR_SREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
		nftnl_expr_set_u8(x, NFTNL_EXPR_EXTHDR_TYPE, kind);
		nftnl_expr_set_u32(x, NFTNL_EXPR_EXTHDR_OFFSET, offset);
		nftnl_expr_set_u32(x, NFTNL_EXPR_EXTHDR_LEN, len);
	}
	expr_add(b, r, x, true);
}

void nft_rule_tcp_mss_clamp(struct nft_batch *b, struct nftnl_rule *r, uint16_t mss)
{
	const uint8_t tcp = IPPROTO_TCP, syn = TCP_FLAG_SYN;
	const uint16_t be = htons(mss);

	nft_rule_meta_cmp(b, r, NFT_META_L4PROTO, &tcp, sizeof(tcp));
	nft_rule_payload_any_bit(b, r, NFT_PAYLOAD_TRANSPORT_HEADER, TCP_FLAGS_OFF, &syn, 1);
	nft_rule_tcpopt_set(b, r, TCPOPT_MAXSEG_KIND, TCPOPT_MAXSEG_VALUE_OFF, &be, sizeof(be));
}

void nft_rule_ct_state(struct nft_batch *b, struct nftnl_rule *r, uint32_t mask)
{
	struct nftnl_expr *x = expr_new(b, r, "ct");
	uint32_t zero = 0;

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	expr_add(b, r, x, true);
	rule_bitwise(b, r, &mask, sizeof(mask));
	rule_cmp(b, r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

void nft_rule_ct_cmp(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, uint8_t dir,
		     const void *data, uint32_t len)
{
	struct nftnl_expr *x = expr_new(b, r, "ct");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u8(x, NFTNL_EXPR_CT_DIR, dir);
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	expr_add(b, r, x, true);
	rule_cmp(b, r, NFT_CMP_EQ, data, len);
}

void nft_rule_verdict(struct nft_batch *b, struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *x = expr_new(b, r, "immediate");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	}
	expr_add(b, r, x, true);
}

void nft_rule_masq(struct nft_batch *b, struct nftnl_rule *r)
{
	expr_add(b, r, expr_new(b, r, "masq"), true);
}

/* ---- set lookups: values loaded into 32-bit registers side by side (a concatenation), then looked up */

void nft_rule_load_payload(struct nft_batch *b, struct nftnl_rule *r, uint32_t base, uint32_t offset,
			   uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *x = expr_new(b, r, "payload");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, dreg);
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	expr_add(b, r, x, true);
}

void nft_rule_load_ct(struct nft_batch *b, struct nftnl_rule *r, uint32_t key, uint8_t dir, uint32_t dreg)
{
	struct nftnl_expr *x = expr_new(b, r, "ct");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u8(x, NFTNL_EXPR_CT_DIR, dir);
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, dreg);
	}
	expr_add(b, r, x, true);
}

void nft_rule_lookup(struct nft_batch *b, struct nftnl_rule *r, uint32_t sreg, const char *set, uint32_t set_id)
{
	struct nftnl_expr *x = expr_new(b, r, "lookup");
	bool ok = true;

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SREG, sreg);
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
		ok = nftnl_expr_set_str(x, NFTNL_EXPR_LOOKUP_SET, set) == 0;
	}
	expr_add(b, r, x, ok);
}
