/* dns: the choice of backend, the record of what was applied (StateDir/IFACE.dns), the client's DNS state and
 * its routes into the tunnel. The backends themselves are resolved.c, resolvconf.c and file.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/atomic_file.h"
#include "dns/dns.h"

#define DNS_FILE_MAX (1u << 20)

static const struct dns_backend_ops *ops_of(enum dns_backend b)
{
	switch (b) {
	case DNS_BACKEND_RESOLVED:
		return &dns_resolved_ops;
	case DNS_BACKEND_RESOLVCONF:
		return &dns_resolvconf_ops;
	case DNS_BACKEND_FILE:
		return &dns_file_ops;
	default:
		return NULL;
	}
}

const char *dns_backend_name(enum dns_backend b)
{
	const struct dns_backend_ops *o = ops_of(b);
	return o ? o->name : "none";
}

static enum dns_backend backend_by_name(const char *s)
{
	for (enum dns_backend b = DNS_BACKEND_RESOLVED; b <= DNS_BACKEND_FILE; b++)
		if (!strcmp(s, ops_of(b)->name))
			return b;
	return DNS_BACKEND_NONE;
}

/* ---- files */

int dns_read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(DNS_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, DNS_FILE_MAX - got);
		if (n < 0) {
			int err = errno;
			close(fd);
			free(buf);
			return -err;
		}
		if (n == 0 || (got += (size_t)n) == DNS_FILE_MAX)
			break;
	}
	close(fd);
	buf[got] = 0;
	*out = buf;
	*len = got;
	return 0;
}

static void record_path(const char *state_dir, const char *ifname, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s.dns", state_dir, ifname);
}

static int record_write(const char *state_dir, const char *ifname, enum dns_backend b, struct sl_err *e)
{
	char path[PATH_MAX], text[64];
	int ret;

	if (mkdir(state_dir, 0700) && errno != EEXIST)
		return sl_errf(e, -errno, "dns: mkdir %s: %s", state_dir, strerror(errno));
	record_path(state_dir, ifname, path, sizeof(path));
	snprintf(text, sizeof(text), "backend=%s\n", dns_backend_name(b));
	ret = file_write_atomic(path, text, strlen(text), 0600);
	if (ret)
		return sl_errf(e, ret, "dns: write %s: %s", path, strerror(-ret));
	return 0;
}

/* ---- choice */

/* Our own /etc/resolv.conf (a namespace's bind mount included) names resolved's stub or is its file. */
static bool resolv_conf_is_resolved(void)
{
	char link[PATH_MAX], *text = NULL, *save = NULL;
	ssize_t n = readlink("/etc/resolv.conf", link, sizeof(link) - 1);
	size_t len;
	bool stub = false;

	if (n > 0) {
		link[n] = 0;
		if (strstr(link, "/run/systemd/resolve/"))
			return true;
	}
	if (dns_read_file("/etc/resolv.conf", &text, &len))
		return false;
	for (char *l = strtok_r(text, "\n", &save); l && !stub; l = strtok_r(NULL, "\n", &save)) {
		char ns[64];
		if (sscanf(l, " nameserver %63s", ns) == 1 && !strcmp(ns, "127.0.0.53"))
			stub = true;
	}
	free(text);
	return stub;
}

/* /etc/resolv.conf is a mount point: `ip netns exec` bound /etc/netns/NS/resolv.conf over it. A resolvconf
 * would manage the host's file instead, so that namespace's DNS is its own file. */
static bool resolv_conf_is_bind_mount(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && !strcmp(mnt, "/etc/resolv.conf"))
			found = true;
	}
	fclose(f);
	return found;
}

static bool program_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path || !*path)
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len && snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, prog) < (int)sizeof(buf) &&
		    !access(buf, X_OK))
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

enum dns_backend dns_backend_pick(void)
{
	const char *force = getenv("SLUICE_DNS_BACKEND");

	if (force && *force) {
		enum dns_backend b = backend_by_name(force);
		if (b)
			return b;
	}
	if (resolv_conf_is_resolved() && dns_resolved_answers())
		return DNS_BACKEND_RESOLVED;
	if (!resolv_conf_is_bind_mount() && program_in_path("resolvconf"))
		return DNS_BACKEND_RESOLVCONF;
	return DNS_BACKEND_FILE;
}

/* ---- text */

int dns_format_resolv_conf(const struct dns_config *dc, const char *header, char *buf, size_t n)
{
	size_t len = 0;
	int r;

#define ADD(...)                                                                                                     \
	do {                                                                                                         \
		r = snprintf(buf + len, n - len, __VA_ARGS__);                                                       \
		if (r < 0 || (size_t)r >= n - len)                                                                   \
			return -ENOSPC;                                                                              \
		len += (size_t)r;                                                                                    \
	} while (0)
	if (header)
		ADD("%s", header);
	for (unsigned i = 0; i < dc->n_servers; i++) {
		char ip[INET6_ADDRSTRLEN];
		ADD("nameserver %s\n", sl_ipaddr_str(&dc->servers[i], ip, sizeof(ip)));
	}
	for (unsigned i = 0; i < dc->n_domains; i++)
		ADD("%s%s", i ? " " : "search ", dc->domains[i]);
	if (dc->n_domains)
		ADD("\n");
#undef ADD
	return (int)len;
}

void dns_config_servers_str(const struct dns_config *dc, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < dc->n_servers && len < n; i++) {
		char ip[INET6_ADDRSTRLEN];
		int r = snprintf(buf + len, n - len, "%s%s", i ? "," : "", sl_ipaddr_str(&dc->servers[i], ip, sizeof(ip)));
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

void dns_config_domains_str(const struct dns_config *dc, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < dc->n_domains && len < n; i++) {
		int r = snprintf(buf + len, n - len, "%s%s", i ? "," : "", dc->domains[i]);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

/* ---- the client */

void dns_config_want(const struct sl_config *cfg, const struct proto_snapshot *s, struct dns_config *out)
{
	memset(out, 0, sizeof(*out));
	if (cfg->dns_mode == SL_DNS_OFF)
		return;
	if (cfg->dns_mode == SL_DNS_LIST) {
		memcpy(out->servers, cfg->dns, sizeof(out->servers));
		out->n_servers = cfg->n_dns;
	} else if (s) {
		memcpy(out->servers, s->dns, sizeof(out->servers));
		out->n_servers = s->n_dns;
	}
	if (s && out->n_servers) {
		memcpy(out->domains, s->domains, sizeof(out->domains));
		out->n_domains = s->n_domains;
	}
}

static bool config_eq(const struct dns_config *a, const struct dns_config *b)
{
	if (a->n_servers != b->n_servers || a->n_domains != b->n_domains)
		return false;
	for (unsigned i = 0; i < a->n_servers; i++)
		if (!sl_ipaddr_eq(&a->servers[i], &b->servers[i]))
			return false;
	for (unsigned i = 0; i < a->n_domains; i++)
		if (strcmp(a->domains[i], b->domains[i]))
			return false;
	return true;
}

/* Every server into the tunnel, whatever Routes and the LAN say, IPv4 and IPv6 alike (issue #17). Split
 * tunnel: a /32 or /128 in the client's table, which the interface's tunnel rule (netcfg.h) makes every unmarked
 * packet consult before the main table. Full tunnel: the table's 0.0.0.0/0 and ::/0 cover it, but the suppress
 * rule lets a LAN route of the main table win; a rule "to SERVER lookup TABLE" ahead of it does not. An IPv6
 * server of a gateway that offers no IPv6 is dropped in the tunnel (no_ipv6), never asked outside it. What is
 * no longer wanted is removed. */
static int route_one(struct netcfg *nc, const struct sl_ids *ids, int ifindex, bool full, const struct sl_ipaddr *a,
		     bool add, struct sl_err *e)
{
	if (a->family == AF_INET6) {
		if (full)
			return add ? rule_add_dns6(nc, ids, &a->v6, e) : rule_del_dns6(nc, ids, &a->v6, e);
		return add ? route_add6(nc, ifindex, &a->v6, 128, ids->table, e)
			   : route_del6(nc, ifindex, &a->v6, 128, ids->table, e);
	}
	if (full)
		return add ? rule_add_dns4(nc, ids, a->v4, e) : rule_del_dns4(nc, ids, a->v4, e);
	return add ? route_add4(nc, ifindex, a->v4, 32, ids->table, e)
		   : route_del4(nc, ifindex, a->v4, 32, ids->table, e);
}

static bool routed_has(const struct sl_ipaddr *list, unsigned n, const struct sl_ipaddr *a)
{
	for (unsigned i = 0; i < n; i++)
		if (sl_ipaddr_eq(&list[i], a))
			return true;
	return false;
}

/* Removes the routes of servers neither `want` nor `also` (NULL: none) has: after the resolver points at its
 * new servers (or back at the host's own). */
static void route_prune(struct dns_client *d, struct netcfg *nc, int ifindex, const struct dns_config *want,
			const struct dns_config *also)
{
	bool full = config_full_tunnel(d->cfg);
	struct sl_ids ids;
	unsigned kept = 0;

	sl_ids_for(d->cfg->ifname, &ids);
	for (unsigned i = 0; i < d->n_routed; i++) {
		if (routed_has(want->servers, want->n_servers, &d->routed[i]) ||
		    (also && routed_has(also->servers, also->n_servers, &d->routed[i]))) {
			d->routed[kept++] = d->routed[i];
		} else {
			struct sl_err ignore;
			route_one(nc, &ids, ifindex, full, &d->routed[i], false, &ignore);
		}
	}
	d->n_routed = kept;
}

/* Routes into the tunnel the servers of `want` that are not yet; the old ones stay (pruned by route_prune once
 * the resolver has left them), so no query to either goes out through the underlay in between. */
static int route_servers(struct dns_client *d, struct netcfg *nc, int ifindex, const struct dns_config *want,
			 struct sl_err *e)
{
	bool full = config_full_tunnel(d->cfg);
	struct sl_ids ids;

	/* what the resolver points at stays routed; a change that failed earlier (never applied) goes now */
	route_prune(d, nc, ifindex, want, &d->cur);
	sl_ids_for(d->cfg->ifname, &ids);
	for (unsigned j = 0; j < want->n_servers; j++) {
		int ret;

		if (routed_has(d->routed, d->n_routed, &want->servers[j]))
			continue;
		ret = route_one(nc, &ids, ifindex, full, &want->servers[j], true, e);
		if (ret == -EEXIST) /* the same prefix is in Routes: the route is there, and not ours to remove */
			continue;
		if (ret)
			return ret;
		d->routed[d->n_routed++] = want->servers[j]; /* room: those of d->cur and of want only */
	}
	return 0;
}

int dns_client_update(struct dns_client *d, struct netcfg *nc, int ifindex, const struct proto_snapshot *s,
		      struct sl_err *e)
{
	struct dns_config want;
	struct dns_target t = {.ifname = d->cfg->ifname, .ifindex = ifindex, .state_dir = d->cfg->state_dir};
	enum dns_backend b;
	int ret;

	dns_config_want(d->cfg, s, &want);
	if (d->backend && config_eq(&want, &d->cur)) {
		route_prune(d, nc, ifindex, &want, NULL); /* routes of a change that failed and was taken back */
		return 0;
	}
	if (!want.n_servers) { /* the gateway stopped pushing any: the host's own resolvers first, then unroute */
		ret = dns_client_revert(d, e);
		route_prune(d, nc, ifindex, &want, NULL);
		memset(&d->cur, 0, sizeof(d->cur));
		return ret;
	}
	/* the new servers into the tunnel, the resolver to them, and only then the old servers' routes out: a
	 * failure on the way keeps the old routes (a query to an old server still goes through the tunnel) */
	ret = route_servers(d, nc, ifindex, &want, e);
	if (ret)
		return ret;
	b = d->backend ? d->backend : dns_backend_pick();
	ret = record_write(t.state_dir, t.ifname, b, e);
	if (ret)
		return ret;
	d->backend = b; /* recorded: from here on a failure is undone by revert or the next start */
	ret = ops_of(b)->apply(&t, &want, e);
	if (ret)
		return ret;
	route_prune(d, nc, ifindex, &want, NULL);
	d->cur = want;
	return 1;
}

int dns_client_revert(struct dns_client *d, struct sl_err *e)
{
	const char *what;

	if (!d->backend)
		return 0;
	d->backend = DNS_BACKEND_NONE;
	return dns_restore(d->cfg->state_dir, d->cfg->ifname, &what, e);
}

int dns_restore(const char *state_dir, const char *ifname, const char **what, struct sl_err *e)
{
	char path[PATH_MAX], *text = NULL, name[32] = "";
	struct dns_target t = {.ifname = ifname, .ifindex = link_index(ifname), .state_dir = state_dir};
	enum dns_backend b = DNS_BACKEND_NONE;
	size_t len;
	int ret;

	if (what)
		*what = NULL;
	if (t.ifindex < 0)
		t.ifindex = 0;
	record_path(state_dir, ifname, path, sizeof(path));
	ret = dns_read_file(path, &text, &len);
	if (ret && ret != -ENOENT)
		return sl_errf(e, ret, "dns: read %s: %s", path, strerror(-ret));
	if (!ret) {
		if (sscanf(text, "backend=%31s", name) == 1)
			b = backend_by_name(name);
		free(text);
	}
	/* the file backend's saved copy alone (a crash between saving it and writing the record, or a copy of
	 * an older version under /run/sluice) is restored too: its revert is a no-op without one */
	if (!b)
		b = DNS_BACKEND_FILE;
	ret = ops_of(b)->revert(&t, e);
	if (ret < 0)
		return ret;
	if ((unlink(path) == 0 || ret > 0) && what)
		*what = dns_backend_name(b);
	return 0;
}
