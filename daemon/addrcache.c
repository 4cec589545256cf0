/* addrcache: StateDir/IFACE.servers, the last good addresses of the servers given by name (addrcache.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/atomic_file.h"
#include "daemon/addrcache.h"

#define ADDRCACHE_MAX (64u << 10) /* 16 names with 8 addresses each need ~10 KiB */
#define ADDRCACHE_LINE_MAX 1024

void addrcache_path(const struct sl_config *cfg, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.servers", cfg->state_dir, cfg->ifname);
}

static bool is_name(const struct sl_server_cfg *srv)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return !config_server_literal(srv, &ss, &len);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

bool addrs_contain(const struct sl_addrs *list, const struct sockaddr_storage *a)
{
	for (unsigned i = 0; i < list->n; i++)
		if (same_addr(&list->a[i], a))
			return true;
	return false;
}

/* One numeric address with the port; 0 or -1. */
static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

/* "HOST PORT ADDR [ADDR ...]" into host, port and addrs; 0 or -1 (the whole line is then ignored). */
static int parse_line(char *line, char **host, uint16_t *port, struct sl_addrs *addrs)
{
	char *save = NULL, *tok, *end;
	unsigned long p;

	*host = strtok_r(line, " \t", &save);
	tok = strtok_r(NULL, " \t", &save);
	if (!*host || !tok)
		return -1;
	errno = 0;
	p = strtoul(tok, &end, 10);
	if (*end || errno || p == 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	addrs->n = 0;
	while ((tok = strtok_r(NULL, " \t", &save))) {
		if (addrs->n == SL_MAX_SERVER_ADDRS || parse_addr(tok, *port, &addrs->a[addrs->n]))
			return -1;
		addrs->n++;
	}
	return addrs->n ? 0 : -1;
}

unsigned addrcache_parse(const char *text, size_t len, const struct sl_config *cfg, struct sl_addrs *out)
{
	size_t pos = 0;
	unsigned got = 0;

	for (unsigned i = 0; i < cfg->n_servers; i++)
		out[i].n = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		char line[ADDRCACHE_LINE_MAX], *host;
		struct sl_addrs addrs;
		uint16_t port;
		size_t l;

		if (!nl)
			break; /* a torn last line: not a line */
		l = (size_t)(nl - (text + pos));
		if (l < sizeof(line) && !memchr(text + pos, 0, l)) {
			memcpy(line, text + pos, l);
			line[l] = 0;
			if (line[0] != '#' && !parse_line(line, &host, &port, &addrs)) {
				for (unsigned i = 0; i < cfg->n_servers; i++) {
					const struct sl_server_cfg *srv = &cfg->servers[i];
					if (srv->port == port && !strcasecmp(srv->host, host) && is_name(srv))
						out[i] = addrs;
				}
			}
		}
		pos += l + 1;
	}
	for (unsigned i = 0; i < cfg->n_servers; i++)
		got += out[i].n > 0;
	return got;
}

int addrcache_format(const struct sl_config *cfg, const struct sl_addrs *addrs, char *buf, size_t n)
{
	size_t len = 0;
	int w;

	w = snprintf(buf, n, "# sluice: the last good addresses of %s's servers (written by sluiced)\n",
		     cfg->ifname);
	if (w < 0 || (size_t)w >= n)
		return -ENOSPC;
	len = (size_t)w;
	for (unsigned i = 0; i < cfg->n_servers; i++) {
		const struct sl_server_cfg *srv = &cfg->servers[i];
		if (!is_name(srv) || !addrs[i].n)
			continue;
		w = snprintf(buf + len, n - len, "%s %u", srv->host, srv->port);
		if (w < 0 || (size_t)w >= n - len)
			return -ENOSPC;
		len += (size_t)w;
		for (unsigned j = 0; j < addrs[i].n; j++) {
			const struct sockaddr_storage *a = &addrs[i].a[j];
			char txt[INET6_ADDRSTRLEN];
			if (!inet_ntop(a->ss_family,
				       a->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
							       : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr,
				       txt, sizeof(txt)))
				continue;
			w = snprintf(buf + len, n - len, " %s", txt);
			if (w < 0 || (size_t)w >= n - len)
				return -ENOSPC;
			len += (size_t)w;
		}
		if (len + 1 >= n)
			return -ENOSPC;
		buf[len++] = '\n';
		buf[len] = 0;
	}
	return (int)len;
}

int addrcache_load(const struct sl_config *cfg, struct sl_addrs *out, struct sl_err *e)
{
	char path[SL_PATH_MAX + 64], *buf;
	size_t got = 0;
	int fd;

	for (unsigned i = 0; i < cfg->n_servers; i++)
		out[i].n = 0;
	addrcache_path(cfg, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return sl_errf(e, -errno, "server address cache %s: %s", path, strerror(errno));
	}
	buf = malloc(ADDRCACHE_MAX);
	if (!buf) {
		close(fd);
		return sl_errf(e, -ENOMEM, "server address cache: out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, ADDRCACHE_MAX - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			close(fd);
			free(buf);
			return sl_errf(e, -err, "server address cache %s: %s", path, strerror(err));
		}
		if (r == 0 || (got += (size_t)r) == ADDRCACHE_MAX)
			break;
	}
	close(fd);
	addrcache_parse(buf, got, cfg, out);
	free(buf);
	return 0;
}

int addrcache_save(const struct sl_config *cfg, const struct sl_addrs *addrs, struct sl_err *e)
{
	char path[SL_PATH_MAX + 64], *buf = malloc(ADDRCACHE_MAX);
	int len, ret;

	if (!buf)
		return sl_errf(e, -ENOMEM, "server address cache: out of memory");
	addrcache_path(cfg, path, sizeof(path));
	len = addrcache_format(cfg, addrs, buf, ADDRCACHE_MAX);
	if (len < 0) {
		ret = sl_errf(e, len, "server address cache %s: too large", path);
		goto out;
	}
	if (mkdir(cfg->state_dir, 0700) && errno != EEXIST) {
		ret = sl_errf(e, -errno, "server address cache: mkdir %s: %s", cfg->state_dir, strerror(errno));
		goto out;
	}
	ret = file_write_atomic(path, buf, (size_t)len, 0600);
	if (ret) {
		ret = sl_errf(e, ret, "server address cache %s: %s", path, strerror(-ret));
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}
