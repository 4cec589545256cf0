/* pool: address assignment and its crash-safe lease file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/control/pool.h"

#define LEASE_FILE_MAX (16u << 20)

static int offset_of(const struct pool *p, struct in_addr a, uint32_t *off)
{
	uint32_t h = ntohl(a.s_addr);

	if (h - p->net >= p->size)
		return -1;
	*off = h - p->net;
	return 0;
}

static void mark(struct pool *p, struct in_addr a)
{
	uint32_t off;

	if (!offset_of(p, a, &off))
		p->used[off] = 1;
}

static struct pool_lease *lease_find(struct pool *p, const uint8_t key[SL_KEY_LEN])
{
	for (size_t i = 0; i < p->n_leases; i++) /* at start-up and first auth of a client only */
		if (!memcmp(p->leases[i].key, key, SL_KEY_LEN))
			return &p->leases[i];
	return NULL;
}

static int lease_add(struct pool *p, const uint8_t key[SL_KEY_LEN], struct in_addr a)
{
	if (p->n_leases == p->cap_leases) {
		size_t cap = p->cap_leases ? p->cap_leases * 2 : 64;
		struct pool_lease *l = realloc(p->leases, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		p->leases = l;
		p->cap_leases = cap;
	}
	memcpy(p->leases[p->n_leases].key, key, SL_KEY_LEN);
	p->leases[p->n_leases].addr = a;
	p->n_leases++;
	return 0;
}

int pool_parse_leases(const char *text, size_t len, const char *path,
		      int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a), void *arg,
		      struct sl_err *e)
{
	size_t pos = 0;
	int lineno = 0;

	while (pos < len) {
		char line[256], kb[SL_KEY_B64_LEN + 8], ab[32], extra[2];
		uint8_t key[SL_KEY_LEN];
		struct in_addr a;
		size_t end = pos;
		int ret;

		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		if (end - pos >= sizeof(line))
			return sl_errf(e, -EINVAL, "%s:%d: line too long", path, lineno);
		if (memchr(text + pos, 0, end - pos))
			return sl_errf(e, -EINVAL, "%s:%d: NUL byte", path, lineno);
		memcpy(line, text + pos, end - pos);
		line[end - pos] = 0;
		pos = end + 1;
		if (line[0] == '#' || line[strspn(line, " \t\r")] == 0)
			continue;
		if (sscanf(line, "%51s %31s %1s", kb, ab, extra) != 2 || key_from_base64(kb, key) ||
		    inet_pton(AF_INET, ab, &a) != 1)
			return sl_errf(e, -EINVAL, "%s:%d: expected '<public key> <IPv4 address>'", path,
				       lineno);
		ret = fn(arg, key, a);
		if (ret)
			return sl_errf(e, ret, "%s:%d: %s", path, lineno,
				       ret == -EEXIST ? "duplicate key or address" : strerror(-ret));
	}
	return 0;
}

static int load_one(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a)
{
	struct pool *p = arg;
	uint32_t off;

	if (offset_of(p, a, &off) || off == 0 || off == p->size - 1 || p->net + off == p->gw)
		return -ERANGE; /* not in this pool: the prefix changed; refuse rather than guess */
	if (lease_find(p, key))
		return -EEXIST;
	for (size_t i = 0; i < p->n_leases; i++)
		if (p->leases[i].addr.s_addr == a.s_addr)
			return -EEXIST;
	return lease_add(p, key, a);
}

static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	struct stat st;
	char *buf = NULL;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size > (off_t)LEASE_FILE_MAX) {
		ret = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	*len = 0;
	while (*len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + *len, (size_t)st.st_size - *len);
		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		*len += (size_t)n;
	}
	buf[*len] = 0;
out:
	close(fd);
	if (ret)
		free(buf);
	else
		*out = buf;
	return ret;
}

/* write-temp + fsync + rename + fsync(dir): the file is either the old or the new one, never half. */
static int pool_save(struct pool *p, struct sl_err *e)
{
	char tmp[SL_PATH_MAX + 8], dir[SL_PATH_MAX], *slash;
	FILE *f;
	int fd, ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", p->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sl_errf(e, -errno, "state: create %s: %s", tmp, strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return sl_errf(e, -ENOMEM, "state: %s: out of memory", tmp);
	}
	fprintf(f, "# sluice address assignments: <client public key> <tunnel address>\n");
	for (size_t i = 0; i < p->n_leases; i++) {
		char kb[SL_KEY_B64_LEN + 1], ab[INET_ADDRSTRLEN];
		key_to_base64(p->leases[i].key, kb);
		inet_ntop(AF_INET, &p->leases[i].addr, ab, sizeof(ab));
		fprintf(f, "%s %s\n", kb, ab);
	}
	if (fflush(f) || fsync(fd))
		ret = sl_errf(e, -errno, "state: write %s: %s", tmp, strerror(errno));
	if (fclose(f) && !ret)
		ret = sl_errf(e, -errno, "state: write %s: %s", tmp, strerror(errno));
	if (!ret && rename(tmp, p->path))
		ret = sl_errf(e, -errno, "state: rename %s to %s: %s", tmp, p->path, strerror(errno));
	if (ret) {
		unlink(tmp);
		return ret;
	}
	snprintf(dir, sizeof(dir), "%s", p->path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	return 0;
}

int pool_init(struct pool *p, const struct sl_prefix4 *prefix, const char *state_dir, const char *ifname,
	      struct gw_registry *r, struct sl_err *e)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	p->size = 1u << (32 - prefix->len);
	p->net = ntohl(prefix->addr.s_addr) & ~(p->size - 1);
	p->gw = ntohl(prefix->addr.s_addr);
	p->used = calloc(p->size, 1);
	if (!p->used)
		return sl_errf(e, -ENOMEM, "pool: out of memory for %u addresses", p->size);
	p->used[0] = p->used[p->size - 1] = 1; /* network and broadcast */
	p->used[p->gw - p->net] = 1;
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i]->fixed_addr)
			mark(p, r->peers[i]->addr);
	if (mkdir(state_dir, 0700) && errno != EEXIST)
		return sl_errf(e, -errno, "state: mkdir %s: %s", state_dir, strerror(errno));
	snprintf(p->path, sizeof(p->path), "%s/%s.leases", state_dir, ifname);
	ret = read_file(p->path, &text, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return sl_errf(e, ret, "state: read %s: %s", p->path, strerror(-ret));
	ret = pool_parse_leases(text, len, p->path, load_one, p, e);
	free(text);
	if (ret)
		return ret;
	for (size_t i = 0; i < p->n_leases; i++)
		mark(p, p->leases[i].addr);
	for (size_t i = 0; i < r->n_peers; i++) {
		struct gw_peer *peer = r->peers[i];
		struct pool_lease *l = lease_find(p, peer->pubkey);
		if (!peer->fixed_addr && l)
			peer_set_addr(r, peer, l->addr);
	}
	return 0;
}

void pool_reserve(struct pool *p, struct in_addr a)
{
	mark(p, a);
}

void pool_free(struct pool *p)
{
	free(p->used);
	free(p->leases);
	memset(p, 0, sizeof(*p));
}

int pool_assign(struct pool *p, struct gw_registry *r, struct gw_peer *peer, struct sl_err *e)
{
	struct pool_lease *l;
	struct in_addr a;
	uint32_t off;
	int ret;

	if (peer->addr.s_addr)
		return 0;
	l = lease_find(p, peer->pubkey);
	if (l) {
		peer_set_addr(r, peer, l->addr);
		return 0;
	}
	for (off = p->hint; off < p->size && p->used[off]; off++)
		;
	if (off >= p->size)
		return sl_errf(e, -ENOSPC, "pool: no free address left for client '%s'", peer->name);
	a.s_addr = htonl(p->net + off);
	ret = lease_add(p, peer->pubkey, a);
	if (ret)
		return sl_errf(e, ret, "pool: out of memory");
	ret = pool_save(p, e);
	if (ret) {
		p->n_leases--; /* not persisted: not given out */
		return ret;
	}
	p->used[off] = 1;
	p->hint = off + 1;
	peer_set_addr(r, peer, a);
	return 0;
}
