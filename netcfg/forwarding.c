/* forwarding: the reference-counted record of the forwarding sysctls per network namespace (netcfg/forwarding.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/config.h"
#include "netcfg/forwarding.h"
#include "netcfg/netcfg.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define HOLDERS_MAX 256
#define RECORD_MAX (HOLDERS_MAX * 48 + 512)

struct holder {
	char ifname[IFNAMSIZ];
	pid_t pid;
	bool v4; /* holds IPv4 forwarding ("holder"); false: IPv6 only ("holder6", an IPv6-only gateway) */
};

struct record {
	bool exists;
	uint64_t cookie;
	bool has4;                   /* IPv4 forwarding raised: its original value */
	int orig;
	bool has6;                   /* IPv6 forwarding raised too: its original value */
	int orig6;
	char ra_ifname[IFNAMSIZ];    /* "": accept_ra of no egress changed */
	int ra_orig;
	size_t n;
	struct holder h[HOLDERS_MAX];
};

int forwarding_ns_here(struct forwarding_ns *ns, struct sl_err *e)
{
	struct stat st;
	socklen_t len = sizeof(ns->cookie);
	int fd;

	memset(ns, 0, sizeof(*ns));
	snprintf(ns->dir, sizeof(ns->dir), "%s", SL_RUN_DIR);
	snprintf(ns->sysctl, sizeof(ns->sysctl), "%s", SL_IP_FORWARD_SYSCTL);
	if (!access(SL_IP6_FORWARD_SYSCTL, F_OK)) { /* else a kernel without IPv6 */
		snprintf(ns->sysctl6, sizeof(ns->sysctl6), "%s", SL_IP6_FORWARD_SYSCTL);
		snprintf(ns->conf6, sizeof(ns->conf6), "%s", SL_IP6_CONF_DIR);
	}
	if (stat("/proc/self/ns/net", &st))
		return sl_errf(e, -errno, "stat /proc/self/ns/net: %s", strerror(errno));
	ns->ino = (uint64_t)st.st_ino;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &ns->cookie, &len) || len != sizeof(ns->cookie))
			ns->cookie = 0; /* before Linux 5.14: the inode alone names the namespace */
		close(fd);
	}
	return 0;
}

static void record_name(const struct forwarding_ns *ns, char *buf, size_t n, const char *suffix)
{
	snprintf(buf, n, "%s.%" PRIu64 "%s", SL_FORWARDING_RECORD, ns->ino, suffix);
}

void forwarding_record_path(const struct forwarding_ns *ns, char *buf, size_t n)
{
	char name[64];

	record_name(ns, name, sizeof(name), "");
	snprintf(buf, n, "%s/%s", ns->dir, name);
}

/* The directory, opened and exclusively locked (the lock goes with the fd). */
static int lock_dir(const struct forwarding_ns *ns, struct sl_err *e)
{
	int fd;

	if (mkdir(ns->dir, 0755) && errno != EEXIST)
		return sl_errf(e, -errno, "mkdir %s: %s", ns->dir, strerror(errno));
	fd = open(ns->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sl_errf(e, -errno, "open %s: %s", ns->dir, strerror(errno));
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			int err = errno;
			close(fd);
			return sl_errf(e, -err, "lock %s: %s", ns->dir, strerror(err));
		}
	}
	return fd;
}

static int parse(const char *text, const char *path, struct record *r, struct sl_err *e)
{
	bool have_v4_holder = false;
	int lineno = 0;

	for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
		char buf[96], key[32], a[32], extra[2];
		const char *end = strchr(line, '\n');
		unsigned long long v;
		int n;

		lineno++;
		if (!end)
			return sl_errf(e, -EINVAL, "%s:%d: no newline (not written by sluice)", path, lineno);
		if (*line == '#' || line == end)
			continue;
		if ((size_t)(end - line) >= sizeof(buf))
			goto bad;
		memcpy(buf, line, (size_t)(end - line));
		buf[end - line] = 0; /* one line: sscanf would read on past its newline */
		n = sscanf(buf, "%31s %31s %llu %1s", key, a, &v, extra);
		if (n == 2 && !strcmp(key, "netns-cookie") && sscanf(a, "%llu%1s", &v, extra) == 1) {
			r->cookie = v;
		} else if (n == 2 && !strcmp(key, "ip_forward") && sscanf(a, "%llu%1s", &v, extra) == 1 && v <= 2) {
			r->orig = (int)v;
			r->has4 = true;
		} else if (n == 2 && !strcmp(key, "ipv6_forward") && sscanf(a, "%llu%1s", &v, extra) == 1 && v <= 2) {
			r->orig6 = (int)v;
			r->has6 = true;
		} else if (n == 3 && !strcmp(key, "accept_ra") && strlen(a) < IFNAMSIZ && !strchr(a, '/') && v <= 2) {
			memcpy(r->ra_ifname, a, strlen(a) + 1);
			r->ra_orig = (int)v;
		} else if (n == 3 && (!strcmp(key, "holder") || !strcmp(key, "holder6")) && strlen(a) < IFNAMSIZ &&
			   !strchr(a, '/') && v > 0 && v <= INT32_MAX && r->n < HOLDERS_MAX) {
			for (size_t i = 0; i < r->n; i++)
				if (!strcmp(r->h[i].ifname, a))
					goto bad;
			memcpy(r->h[r->n].ifname, a, strlen(a) + 1);
			r->h[r->n].v4 = !strcmp(key, "holder");
			have_v4_holder |= r->h[r->n].v4;
			r->h[r->n++].pid = (pid_t)v;
		} else {
			goto bad;
		}
		continue;
	bad:
		return sl_errf(e, -EINVAL, "%s:%d: not a line of a sluice forwarding record", path, lineno);
	}
	if (have_v4_holder && !r->has4)
		return sl_errf(e, -EINVAL, "%s: no ip_forward line (the value to restore)", path);
	r->exists = true;
	return 0;
}

static int record_read(int dfd, const struct forwarding_ns *ns, struct record *r, struct sl_err *e)
{
	char name[64], path[256], *text;
	ssize_t n;
	size_t len = 0;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	record_name(ns, name, sizeof(name), "");
	forwarding_record_path(ns, path, sizeof(path));
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : sl_errf(e, -errno, "open %s: %s", path, strerror(errno));
	text = malloc(RECORD_MAX + 1);
	if (!text) {
		close(fd);
		return sl_errf(e, -ENOMEM, "out of memory");
	}
	while (len < RECORD_MAX && (n = read(fd, text + len, RECORD_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	text[len] = 0;
	if (len == RECORD_MAX)
		ret = sl_errf(e, -EFBIG, "%s: too long", path);
	else if (memchr(text, 0, len))
		ret = sl_errf(e, -EINVAL, "%s: NUL byte (not written by sluice)", path);
	else
		ret = parse(text, path, r, e);
	free(text);
	return ret;
}

/* The whole record to a temp file, made durable, renamed over the old one; the directory synced. */
static int record_write(int dfd, const struct forwarding_ns *ns, const struct record *r, struct sl_err *e)
{
	char name[64], tmp[80], path[256], *text = malloc(RECORD_MAX);
	size_t len = 0;
	int fd, err = 0;

	if (!text)
		return sl_errf(e, -ENOMEM, "out of memory");
	record_name(ns, name, sizeof(name), "");
	record_name(ns, tmp, sizeof(tmp), ".tmp");
	forwarding_record_path(ns, path, sizeof(path));
	len += (size_t)snprintf(text + len, RECORD_MAX - len,
				"# sluice: forwarding raised for the interfaces below (holder: IPv4, and IPv6 with an "
				"IPv6 pool; holder6: IPv6 only); each value restored when the last one that raised it "
				"stops\nnetns-cookie %" PRIu64 "\n",
				r->cookie);
	if (r->has4)
		len += (size_t)snprintf(text + len, RECORD_MAX - len, "ip_forward %d\n", r->orig);
	if (r->has6)
		len += (size_t)snprintf(text + len, RECORD_MAX - len, "ipv6_forward %d\n", r->orig6);
	if (r->ra_ifname[0])
		len += (size_t)snprintf(text + len, RECORD_MAX - len, "accept_ra %s %d\n", r->ra_ifname, r->ra_orig);
	for (size_t i = 0; i < r->n; i++)
		len += (size_t)snprintf(text + len, RECORD_MAX - len, "%s %s %d\n", r->h[i].v4 ? "holder" : "holder6",
					r->h[i].ifname, (int)r->h[i].pid);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		err = errno;
	} else {
		errno = 0; /* a short write sets none */
		if (write(fd, text, len) != (ssize_t)len || fsync(fd))
			err = errno ? errno : EIO;
		if (close(fd) && !err)
			err = errno;
		if (!err && renameat(dfd, tmp, dfd, name))
			err = errno;
		if (err)
			unlinkat(dfd, tmp, 0);
		else
			fsync(dfd);
	}
	free(text);
	return err ? sl_errf(e, -err, "write %s: %s", path, strerror(err)) : 0;
}

static int record_remove(int dfd, const struct forwarding_ns *ns, struct sl_err *e)
{
	char name[64], path[256];

	record_name(ns, name, sizeof(name), "");
	if (unlinkat(dfd, name, 0) && errno != ENOENT) {
		forwarding_record_path(ns, path, sizeof(path));
		return sl_errf(e, -errno, "remove %s: %s", path, strerror(errno));
	}
	fsync(dfd);
	return 0;
}

static bool stale(const struct forwarding_ns *ns, const struct record *r)
{
	return r->exists && r->cookie && ns->cookie && r->cookie != ns->cookie;
}

static struct holder *holder_of(struct record *r, const char *ifname)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->h[i].ifname, ifname))
			return &r->h[i];
	return NULL;
}

static bool any_v4_holder(const struct record *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->h[i].v4)
			return true;
	return false;
}

/* No holder of IPv4 left: its original value back (the sysctl first: a crash keeps it on disk to retry). */
static int restore4_if_unheld(const struct forwarding_ns *ns, struct record *r, struct sl_err *e)
{
	int ret;

	if (!r->has4 || any_v4_holder(r))
		return 0;
	ret = sysctl_write_int(ns->sysctl, r->orig, e);
	if (!ret)
		r->has4 = false;
	return ret;
}

int forwarding_raise(const struct forwarding_ns *ns, const char *ifname, pid_t pid, struct sl_err *e)
{
	return forwarding_hold(ns, ifname, pid, true, e);
}

int forwarding_hold(const struct forwarding_ns *ns, const char *ifname, pid_t pid, bool ipv4, struct sl_err *e)
{
	struct record *r = malloc(2 * sizeof(*r)), *before = r + 1;
	struct holder *h;
	int dfd, cur = 1, ret;

	if (!r)
		return sl_errf(e, -ENOMEM, "out of memory");
	if (strlen(ifname) >= IFNAMSIZ) {
		free(r);
		return sl_errf(e, -EINVAL, "interface name '%s' too long", ifname);
	}
	dfd = lock_dir(ns, e);
	if (dfd < 0) {
		free(r);
		return dfd;
	}
	ret = record_read(dfd, ns, r, e);
	if (ret)
		goto out;
	if (stale(ns, r))
		r->exists = false; /* a deleted namespace's, whose inode number is ours now */
	*before = *r;
	if (ipv4 && (ret = sysctl_read_int(ns->sysctl, &cur, e)))
		goto out;
	if (!r->exists) {
		memset(r, 0, sizeof(*r));
		r->exists = true;
	}
	if (ipv4 && !r->has4) { /* the first IPv4 raiser: the original value */
		r->has4 = true;
		r->orig = cur;
	}
	r->cookie = ns->cookie;
	h = holder_of(r, ifname);
	if (!h) {
		if (r->n == HOLDERS_MAX) {
			ret = sl_errf(e, -ENOSPC, "%u interfaces hold forwarding already", HOLDERS_MAX);
			goto out;
		}
		h = &r->h[r->n++];
		snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
	}
	h->pid = pid; /* a crashed run of ifname found in the list: now this one */
	h->v4 = ipv4;
	if (!ipv4 && (ret = restore4_if_unheld(ns, r, e))) /* its crashed run held IPv4, now nobody does */
		goto out;
	ret = record_write(dfd, ns, r, e); /* before the sysctl: a crash never loses the original */
	if (ret || cur == 1)
		goto out;
	ret = sysctl_write_int(ns->sysctl, 1, e);
	if (ret) { /* as it was */
		struct sl_err ignored;
		if (before->exists)
			record_write(dfd, ns, before, &ignored);
		else
			record_remove(dfd, ns, &ignored);
		goto out;
	}
	ret = 1;
out:
	close(dfd);
	free(r);
	return ret;
}

int forwarding_release(const struct forwarding_ns *ns, const char *ifname, pid_t pid, struct sl_err *e)
{
	struct record *r = malloc(sizeof(*r));
	struct holder *h;
	int dfd, ret;

	if (!r)
		return sl_errf(e, -ENOMEM, "out of memory");
	dfd = lock_dir(ns, e);
	if (dfd < 0) {
		free(r);
		return dfd;
	}
	ret = record_read(dfd, ns, r, e);
	if (ret || !r->exists || stale(ns, r))
		goto out;
	h = holder_of(r, ifname);
	if (!h || (pid && h->pid != pid))
		goto out; /* never raised, released already, or a newer run of ifname holds it */
	*h = r->h[--r->n];
	if (r->n) { /* others hold on; IPv4 back if none of them holds it */
		struct sl_err ignored;
		ret = restore4_if_unheld(ns, r, e);
		if (ret)
			record_write(dfd, ns, r, &ignored); /* the original kept for the next one to retry */
		else
			ret = record_write(dfd, ns, r, e);
		goto out;
	}
	ret = restore4_if_unheld(ns, r, e);
	if (!ret && r->has6 && ns->sysctl6[0]) {
		ret = sysctl_write_int(ns->sysctl6, r->orig6, e);
		if (!ret)
			r->has6 = false;
	}
	if (!ret && r->ra_ifname[0] && ns->conf6[0]) {
		char ra[192];
		snprintf(ra, sizeof(ra), "%s/%s/accept_ra", ns->conf6, r->ra_ifname);
		ret = sysctl_write_int(ra, r->ra_orig, e);
		if (ret == -ENOENT) /* the egress is gone, and its setting with it */
			ret = 0;
		if (!ret)
			r->ra_ifname[0] = 0;
	}
	if (ret) {
		struct sl_err ignored;
		record_write(dfd, ns, r, &ignored); /* no holders, the originals kept for the next one */
		goto out;
	}
	ret = record_remove(dfd, ns, e);
	if (!ret)
		ret = 1;
out:
	close(dfd);
	free(r);
	return ret;
}

int forwarding_raise6(const struct forwarding_ns *ns, const char *ifname, const char *egress, struct sl_err *e)
{
	struct record *r = malloc(2 * sizeof(*r)), *before = r + 1;
	char ra[192];
	int dfd, cur, ra_cur = -1, ret;

	if (!r)
		return sl_errf(e, -ENOMEM, "out of memory");
	if (!ns->sysctl6[0]) {
		free(r);
		return sl_errf(e, -EAFNOSUPPORT, "no IPv6 in this kernel (no %s)", SL_IP6_FORWARD_SYSCTL);
	}
	dfd = lock_dir(ns, e);
	if (dfd < 0) {
		free(r);
		return dfd;
	}
	ret = record_read(dfd, ns, r, e);
	if (ret)
		goto out;
	if (!r->exists || stale(ns, r) || !holder_of(r, ifname)) {
		ret = sl_errf(e, -ENOENT, "%s holds no forwarding: forwarding_hold first", ifname);
		goto out;
	}
	*before = *r;
	ret = sysctl_read_int(ns->sysctl6, &cur, e);
	if (ret)
		goto out;
	if (!r->has6) { /* the first IPv6 raiser: the original value */
		r->has6 = true;
		r->orig6 = cur;
	}
	/* forwarding on makes the kernel ignore router advertisements on a link whose accept_ra is 1: the egress's
	 * default route would expire; 2 keeps it (DESIGN 10.13) */
	snprintf(ra, sizeof(ra), "%s/%s/accept_ra", ns->conf6, egress);
	if (egress[0] && !r->ra_ifname[0] && !sysctl_read_int(ra, &ra_cur, e) && ra_cur == 1) {
		snprintf(r->ra_ifname, sizeof(r->ra_ifname), "%s", egress);
		r->ra_orig = 1;
	}
	ret = record_write(dfd, ns, r, e); /* before the sysctls: a crash never loses the originals */
	if (ret)
		goto out;
	if (ra_cur == 1 && !strcmp(r->ra_ifname, egress))
		ret = sysctl_write_int(ra, 2, e);
	if (!ret && cur != 1)
		ret = sysctl_write_int(ns->sysctl6, 1, e);
	if (ret) { /* as it was */
		struct sl_err ignored;
		if (ra_cur == 1 && !before->ra_ifname[0])
			sysctl_write_int(ra, 1, &ignored);
		record_write(dfd, ns, before, &ignored);
		goto out;
	}
	ret = cur != 1;
out:
	close(dfd);
	free(r);
	return ret;
}
