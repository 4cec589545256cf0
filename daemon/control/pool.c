/* pool: address assignment and its crash-safe lease file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon/control/pool.h"
#include "daemon/log.h"

#define LEASE_FILE_MAX (16u << 20)

/* One pool per family. An IPv4 pool's numbers are the addresses (host order); an IPv6 pool's are the offsets
 * in its prefix (the last 16 bits at most: config.h), kept as in_addr like IPv4 ones (network order) so both
 * families share the bitmap, the lease index and the journal logic. */
static struct in6_addr addr6_of(const struct pool *p, struct in_addr a)
{
	struct in6_addr x = p->base6;
	uint32_t off = ntohl(a.s_addr);

	x.s6_addr[14] |= (uint8_t)(off >> 8);
	x.s6_addr[15] |= (uint8_t)off;
	return x;
}

static const char *pool_addr_str(const struct pool *p, struct in_addr a, char buf[INET6_ADDRSTRLEN])
{
	struct in6_addr x;

	if (p->family == AF_INET)
		return inet_ntop(AF_INET, &a, buf, INET6_ADDRSTRLEN);
	x = addr6_of(p, a);
	return inet_ntop(AF_INET6, &x, buf, INET6_ADDRSTRLEN);
}

/* The peer's address of this pool's family as a pool number; false when it has none. */
static bool peer_num(const struct pool *p, const struct gw_peer *peer, struct in_addr *a)
{
	uint32_t off;

	if (p->family == AF_INET) {
		*a = peer->addr;
		return peer->addr.s_addr != 0;
	}
	if (!peer->has_addr6 || !pool6_offset(&p->prefix6, &peer->addr6, &off))
		return false;
	a->s_addr = htonl(off);
	return true;
}

static bool peer_fixed(const struct pool *p, const struct gw_peer *peer)
{
	return p->family == AF_INET ? peer->fixed_addr : peer->fixed_addr6;
}

static void peer_give(const struct pool *p, struct gw_registry *r, struct gw_peer *peer, struct in_addr a)
{
	struct in6_addr x;

	if (p->family == AF_INET) {
		peer_set_addr(r, peer, a);
		return;
	}
	x = addr6_of(p, a);
	peer_set_addr6(r, peer, &x);
}

static int offset_of(const struct pool *p, struct in_addr a, uint32_t *off)
{
	uint32_t h = ntohl(a.s_addr);

	if (h - p->net >= p->size)
		return -1;
	*off = h - p->net;
	return 0;
}

enum { USED_FIXED = 1, USED_LEASE = 2 };

static void mark(struct pool *p, const struct gw_peer *peer)
{
	struct in_addr a;
	uint32_t off;

	if (peer_fixed(p, peer) && peer_num(p, peer, &a) && !offset_of(p, a, &off))
		p->used[off] = USED_FIXED;
}

/* The lease index: open addressing over the keys (random public keys, so their first bytes hash well). Slots
 * hold lease number + 1; 0 is empty. At most half full, so a probe is short: O(1) per lookup. */
static uint32_t key_hash(const uint8_t key[SL_KEY_LEN])
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h * 2654435761u;
}

static struct pool_lease *lease_find(struct pool *p, const uint8_t key[SL_KEY_LEN])
{
	if (!p->idx_cap)
		return NULL;
	for (uint32_t i = key_hash(key) & (p->idx_cap - 1);; i = (i + 1) & (p->idx_cap - 1)) {
		uint32_t slot = p->idx[i];
		if (!slot)
			return NULL;
		if (!memcmp(p->leases[slot - 1].key, key, SL_KEY_LEN))
			return &p->leases[slot - 1];
	}
}

static void idx_put(struct pool *p, uint32_t n)
{
	uint32_t i = key_hash(p->leases[n].key) & (p->idx_cap - 1);

	while (p->idx[i])
		i = (i + 1) & (p->idx_cap - 1);
	p->idx[i] = n + 1;
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
	if ((p->n_leases + 1) * 2 > p->idx_cap) {
		uint32_t cap = p->idx_cap ? p->idx_cap * 2 : 128;
		uint32_t *idx = calloc(cap, sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		free(p->idx);
		p->idx = idx;
		p->idx_cap = cap;
		for (uint32_t i = 0; i < p->n_leases; i++)
			idx_put(p, i);
	}
	memcpy(p->leases[p->n_leases].key, key, SL_KEY_LEN);
	p->leases[p->n_leases].addr = a;
	idx_put(p, (uint32_t)p->n_leases);
	p->n_leases++;
	return 0;
}

/* The index slot that holds lease l. */
static uint32_t idx_slot(const struct pool *p, const struct pool_lease *l)
{
	uint32_t n = (uint32_t)(l - p->leases) + 1, i = key_hash(l->key) & (p->idx_cap - 1);

	while (p->idx[i] != n)
		i = (i + 1) & (p->idx_cap - 1);
	return i;
}

/* Empties slot i of the index by backward shift (linear probing: every later entry of the run that could have
 * lived at i moves there), so no tombstones and every probe stays short. */
static void idx_del(struct pool *p, uint32_t i)
{
	uint32_t mask = p->idx_cap - 1;

	for (uint32_t j = i;;) {
		j = (j + 1) & mask;
		if (!p->idx[j])
			break;
		uint32_t home = key_hash(p->leases[p->idx[j] - 1].key) & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue; /* its home lies after the hole: it stays */
		p->idx[i] = p->idx[j];
		i = j;
	}
	p->idx[i] = 0;
}

/* Forgets lease l (its address is not freed here): the last lease moves into its place. O(1). */
static void lease_del(struct pool *p, struct pool_lease *l)
{
	struct pool_lease *last = &p->leases[p->n_leases - 1];

	idx_del(p, idx_slot(p, l));
	if (l != last) {
		p->idx[idx_slot(p, last)] = (uint32_t)(l - p->leases) + 1;
		*l = *last;
	}
	p->n_leases--;
}

static struct pool_lease *lease_at(struct pool *p, struct in_addr a)
{
	for (size_t i = 0; i < p->n_leases; i++) /* rare (a reload's fixed address): no index by address */
		if (p->leases[i].addr.s_addr == a.s_addr)
			return &p->leases[i];
	return NULL;
}

typedef int (*lease_fn)(void *arg, const uint8_t key[SL_KEY_LEN], const struct sl_ipaddr *a);

static int parse_leases(const char *text, size_t len, const char *path, int family, lease_fn fn, void *arg,
			struct sl_err *e)
{
	size_t pos = 0;
	int lineno = 0;

	while (pos < len) {
		char line[256], kb[SL_KEY_B64_LEN + 8], ab[INET6_ADDRSTRLEN + 2], extra[2];
		uint8_t key[SL_KEY_LEN];
		struct sl_ipaddr a = {.family = (sa_family_t)family};
		size_t end = pos;
		int ret;

		while (end < len && text[end] != '\n')
			end++;
		if (end == len)
			break; /* no newline: a torn append, never acknowledged, so never a lease */
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
		if (sscanf(line, "%51s %47s %1s", kb, ab, extra) != 2 || key_from_base64(kb, key) ||
		    inet_pton(family, ab, &a.v6) != 1)
			return sl_errf(e, -EINVAL, "%s:%d: expected '<public key> <%s address>'", path, lineno,
				       family == AF_INET ? "IPv4" : "IPv6");
		ret = fn(arg, key, &a);
		if (ret)
			return sl_errf(e, ret, "%s:%d: %s", path, lineno,
				       ret == -EEXIST ? "duplicate key or address" : strerror(-ret));
	}
	return 0;
}

struct v4_cb {
	int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a);
	void *arg;
};

static int v4_one(void *arg, const uint8_t key[SL_KEY_LEN], const struct sl_ipaddr *a)
{
	struct v4_cb *c = arg;
	return c->fn(c->arg, key, a->v4);
}

int pool_parse_leases(const char *text, size_t len, const char *path,
		      int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a), void *arg,
		      struct sl_err *e)
{
	struct v4_cb c = {fn, arg};
	return parse_leases(text, len, path, AF_INET, v4_one, &c, e);
}

struct v6_cb {
	int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], const struct in6_addr *a);
	void *arg;
};

static int v6_one(void *arg, const uint8_t key[SL_KEY_LEN], const struct sl_ipaddr *a)
{
	struct v6_cb *c = arg;
	return c->fn(c->arg, key, &a->v6);
}

int pool_parse_leases6(const char *text, size_t len, const char *path,
		       int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], const struct in6_addr *a), void *arg,
		       struct sl_err *e)
{
	struct v6_cb c = {fn, arg};
	return parse_leases(text, len, path, AF_INET6, v6_one, &c, e);
}

static int load_one(void *arg, const uint8_t key[SL_KEY_LEN], const struct sl_ipaddr *ia)
{
	struct pool *p = arg;
	struct in_addr a;
	uint32_t off;

	if (p->family == AF_INET) {
		a = ia->v4;
	} else {
		if (!pool6_offset(&p->prefix6, &ia->v6, &off))
			return -ERANGE;
		a.s_addr = htonl(off);
	}

	if (offset_of(p, a, &off) || off == 0 || (p->family == AF_INET && off == p->size - 1) ||
	    (p->gw_in && p->net + off == p->gw))
		return -ERANGE; /* not in this pool: the prefix changed; refuse rather than guess */
	struct pool_lease *old = lease_find(p, key);
	uint32_t old_off;

	if (old && old->addr.s_addr == a.s_addr)
		return 0; /* the same line again */
	if (p->used[off] == USED_LEASE)
		return -EEXIST; /* another client's address */
	/* a later line for the same client: its assignment changed (its old address became another client's
	 * fixed one, and it was given a new address). The latest line is what it has, so the old address is free
	 * again — also when the latest one is fixed in the config now, or that client would keep an address
	 * another one has been given since (a duplicate at the next start) */
	if (old) {
		if (!offset_of(p, old->addr, &old_off) && p->used[old_off] == USED_LEASE)
			p->used[old_off] = 0;
		if (p->used[off] == USED_FIXED) {
			lease_del(p, old);
			return 0;
		}
		old->addr = a;
		p->used[off] = USED_LEASE;
		return 0;
	}
	if (p->used[off] == USED_FIXED)
		return 0; /* the address is now fixed in the config: that client gets a new one */
	p->used[off] = USED_LEASE;
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

static void fsync_dir(const char *path)
{
	char dir[SL_PATH_MAX], *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = 0;
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Opens the journal for appending: cuts a torn last line (an append that a crash interrupted before its
 * newline; it was never acknowledged) and creates the file with its header when missing. */
static int journal_open(struct pool *p, size_t good_len, bool exists, struct sl_err *e)
{
	static const char hdr[] = "# sluice address assignments: <client public key> <tunnel address>\n";

	p->fd = open(p->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (p->fd < 0)
		return sl_errf(e, -errno, "state: open %s: %s", p->path, strerror(errno));
	if (exists) {
		struct stat st;
		if (fstat(p->fd, &st))
			return sl_errf(e, -errno, "state: %s: %s", p->path, strerror(errno));
		if ((size_t)st.st_size > good_len) {
			if (ftruncate(p->fd, (off_t)good_len) || fsync(p->fd))
				return sl_errf(e, -errno, "state: cut torn line of %s: %s", p->path, strerror(errno));
			log_warn("state: %s: cut %zu bytes of an unfinished last line (no newline: never acknowledged)",
				 p->path, (size_t)st.st_size - good_len);
		}
		p->good_len = good_len;
		return 0;
	}
	errno = 0; /* a short write sets none */
	if (write(p->fd, hdr, sizeof(hdr) - 1) != (ssize_t)sizeof(hdr) - 1 || fsync(p->fd))
		return sl_errf(e, -EIO, "state: write %s: %s", p->path, strerror(errno ? errno : EIO));
	fsync_dir(p->path);
	p->good_len = sizeof(hdr) - 1;
	return 0;
}

/* The longest journal line: "KEY ADDRESS\n" and its NUL. */
#define JOURNAL_LINE_MAX (SL_KEY_B64_LEN + INET6_ADDRSTRLEN + 4)

/* One lease's journal line into buf (JOURNAL_LINE_MAX bytes); its length. */
static size_t journal_line(const struct pool *p, const struct pool_lease *l, char *buf)
{
	char kb[SL_KEY_B64_LEN + 1], ab[INET6_ADDRSTRLEN];

	key_to_base64(l->key, kb);
	pool_addr_str(p, l->addr, ab);
	return (size_t)snprintf(buf, JOURNAL_LINE_MAX, "%s %s\n", kb, ab);
}

/* Appends whole lines at p->good_len (the end of the last acknowledged line), durable (fdatasync) before any
 * of their addresses is used. A failed or short write is cut back to p->good_len, so the file only ever holds
 * whole, acknowledged leases; a fragment an earlier cut could not remove is cut first, and while that fails
 * nothing is appended (a line glued to it would be unreadable at the next start). -EIO on any failure (e->msg
 * names the cause); *unknown when this write's lines may be on disk after all (they were written, and
 * cutting them off failed): the caller keeps their addresses from everyone until a restart reads the file. */
static int journal_write(struct pool *p, const char *text, size_t len, bool *unknown, struct sl_err *e)
{
	struct stat st;
	int err;

	*unknown = false;
	if (fstat(p->fd, &st))
		return sl_errf(e, -EIO, "state: %s: %s", p->path, strerror(errno));
	if ((size_t)st.st_size > p->good_len && (ftruncate(p->fd, (off_t)p->good_len) || fdatasync(p->fd)))
		return sl_errf(e, -EIO, "state: cut %zu bytes of an unfinished line off %s: %s; no lease is added "
			       "before that works", (size_t)st.st_size - p->good_len, p->path, strerror(errno));
	errno = 0; /* a short write sets none */
	if (write(p->fd, text, len) != (ssize_t)len || fdatasync(p->fd)) {
		err = errno ? errno : EIO;
		*unknown = ftruncate(p->fd, (off_t)p->good_len) || fdatasync(p->fd);
		return sl_errf(e, -EIO, "state: write %s: %s%s", p->path, strerror(err),
			       *unknown ? " (and cutting it off again failed)" : "");
	}
	p->good_len += len;
	return 0;
}

/* One lease = one appended line: O(1) per new client. */
static int journal_append(struct pool *p, const struct pool_lease *l, bool *unknown, struct sl_err *e)
{
	char line[JOURNAL_LINE_MAX];

	return journal_write(p, line, journal_line(p, l, line), unknown, e);
}

static int pool_load(struct pool *p, int family, const void *prefix, const char *state_dir, const char *ifname,
		     struct gw_registry *r, struct sl_err *e)
{
	char *text = NULL, *nl;
	size_t len = 0, good_len;
	uint32_t gw_off;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->family = family;
	if (family == AF_INET) {
		const struct sl_prefix4 *x = prefix;
		p->size = 1u << (32 - x->len);
		p->net = ntohl(x->addr.s_addr) & ~(p->size - 1);
		p->gw = ntohl(x->addr.s_addr);
		p->gw_in = true;
	} else {
		const struct sl_prefix6 *x = prefix;
		unsigned span = 128u - x->len;
		p->prefix6 = *x;
		p->size = span >= 16 ? SL_POOL6_MAX : 1u << span;
		p->base6 = x->addr;
		for (unsigned b = x->len; b < 128; b++) /* the prefix itself: host bits cleared */
			p->base6.s6_addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
		p->net = 0;
		p->gw_in = pool6_offset(x, &x->addr, &gw_off); /* the gateway's own address, if in the pool */
		p->gw = p->gw_in ? gw_off : 0;
	}
	p->used = calloc(p->size, 1);
	if (!p->used)
		return sl_errf(e, -ENOMEM, "pool: out of memory for %u addresses", p->size);
	p->used[0] = USED_FIXED; /* network (IPv6: the subnet-router anycast) */
	if (family == AF_INET)
		p->used[p->size - 1] = USED_FIXED; /* broadcast */
	if (p->gw_in)
		p->used[p->gw - p->net] = USED_FIXED;
	for (size_t i = 0; i < r->n_peers; i++)
		mark(p, r->peers[i]);
	if (mkdir(state_dir, 0700) && errno != EEXIST)
		return sl_errf(e, -errno, "state: mkdir %s: %s", state_dir, strerror(errno));
	snprintf(p->path, sizeof(p->path), "%s/%s.leases%s", state_dir, ifname, family == AF_INET6 ? "6" : "");
	ret = read_file(p->path, &text, &len);
	if (ret == -ENOENT)
		return journal_open(p, 0, false, e);
	if (ret)
		return sl_errf(e, ret, "state: read %s: %s", p->path, strerror(-ret));
	ret = parse_leases(text, len, p->path, family, load_one, p, e);
	nl = len ? memrchr(text, '\n', len) : NULL;
	good_len = nl ? (size_t)(nl - text) + 1 : 0;
	free(text);
	if (ret)
		return ret;
	for (size_t i = 0; i < r->n_peers; i++) {
		struct gw_peer *peer = r->peers[i];
		struct pool_lease *l = lease_find(p, peer->pubkey);
		if (!peer_fixed(p, peer) && l)
			peer_give(p, r, peer, l->addr);
	}
	return journal_open(p, good_len, true, e);
}

int pool_init(struct pool *p, const struct sl_prefix4 *prefix, const char *state_dir, const char *ifname,
	      struct gw_registry *r, struct sl_err *e)
{
	int ret = pool_load(p, AF_INET, prefix, state_dir, ifname, r, e);

	if (ret)
		pool_free(p); /* nothing half-made left behind */
	return ret;
}

int pool_init6(struct pool *p, const struct sl_prefix6 *prefix, const char *state_dir, const char *ifname,
	       struct gw_registry *r, struct sl_err *e)
{
	int ret = pool_load(p, AF_INET6, prefix, state_dir, ifname, r, e);

	if (ret)
		pool_free(p); /* nothing half-made left behind */
	return ret;
}

void pool_reserve_fixed(struct pool *p, const struct gw_peer *owner)
{
	struct pool_lease *l;
	struct in_addr a;
	uint32_t off;

	if (!p->used || !peer_num(p, owner, &a) || offset_of(p, a, &off))
		return;
	if (p->used[off] == USED_LEASE && (l = lease_at(p, a))) {
		char kb[SL_KEY_B64_LEN + 1], ab[INET6_ADDRSTRLEN];
		key_to_base64(l->key, kb);
		pool_addr_str(p, l->addr, ab);
		if (memcmp(l->key, owner->pubkey, SL_KEY_LEN))
			log_info("state: %s is now client '%s''s fixed address: the lease of client %s (no longer "
				 "configured) is dropped; it gets a new address if it comes back",
				 ab, owner->name, kb);
		lease_del(p, l);
	}
	p->used[off] = USED_FIXED;
}

bool pool_lease_addr(const struct pool *p, const uint8_t key[SL_KEY_LEN], struct in_addr *a)
{
	const struct pool_lease *l = p->used ? lease_find((struct pool *)p, key) : NULL;

	if (l)
		*a = l->addr;
	return l != NULL;
}

void pool_lease_give(const struct pool *p, struct gw_registry *r, struct gw_peer *peer)
{
	struct in_addr a;

	if (!peer_fixed(p, peer) && pool_lease_addr(p, peer->pubkey, &a))
		peer_give(p, r, peer, a);
}

void pool_free(struct pool *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->used);
	free(p->leases);
	free(p->idx);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

bool pool_needs_lease(struct pool *p, const struct gw_peer *peer)
{
	struct in_addr a;

	return p->used && !peer_num(p, peer, &a) && !(p->family == AF_INET6 && peer->has_addr6) &&
	       !lease_find(p, peer->pubkey);
}

int pool_assign_many(struct pool *p, struct gw_registry *r, struct gw_peer *const *peers, size_t n,
		     struct sl_err *e)
{
	size_t first = p->n_leases, len = 0, k;
	uint32_t off = p->hint;
	char *buf = NULL;
	bool unknown = false;
	int ret = 0;

	for (k = 0; k < n; k++) {
		struct in_addr a;
		if (!pool_needs_lease(p, peers[k]))
			continue; /* has its address, or a lease (also one made a moment ago for the same peer) */
		if (!buf && !(buf = malloc(JOURNAL_LINE_MAX * n))) {
			ret = sl_errf(e, -ENOMEM, "pool: out of memory");
			goto undo;
		}
		for (; off < p->size && p->used[off]; off++)
			;
		if (off >= p->size) {
			ret = sl_errf(e, -ENOSPC, "pool: no free address left for client '%s'%s", peers[k]->name,
				      p->family == AF_INET ? "" : " in the IPv6 pool");
			goto undo;
		}
		a.s_addr = htonl(p->net + off);
		if ((ret = lease_add(p, peers[k]->pubkey, a))) {
			ret = sl_errf(e, ret, "pool: out of memory");
			goto undo;
		}
		p->used[off++] = USED_LEASE; /* taken while the group is built (undone below on failure) */
		len += journal_line(p, &p->leases[p->n_leases - 1], buf + len);
	}
	if (!len)
		return 0;
	if ((ret = journal_write(p, buf, len, &unknown, e)))
		goto undo_written;
	free(buf);
	/* every line is durable: now the addresses may be handed out */
	for (k = first; k < p->n_leases; k++) {
		struct pool_lease *l = &p->leases[k];
		struct gw_peer *peer = peer_by_key(r, l->key);
		uint32_t o;
		if (!offset_of(p, l->addr, &o) && o + 1 > p->hint)
			p->hint = o + 1;
		if (peer)
			peer_give(p, r, peer, l->addr);
	}
	return 0;
undo_written:
	/* not acknowledged: not given out. Cut off again (or never written), their addresses are free again;
	 * but if the cut failed the lines may be on disk after all, so (as in pool_assign) their addresses stay
	 * taken, by nobody, until a restart reads the file */
	if (unknown)
		goto forget;
undo:
	/* nothing on disk: the group's addresses are free again */
	for (k = first; k < p->n_leases; k++) {
		uint32_t o;
		if (!offset_of(p, p->leases[k].addr, &o))
			p->used[o] = 0;
	}
forget:
	while (p->n_leases > first)
		lease_del(p, &p->leases[p->n_leases - 1]);
	free(buf);
	return ret;
}

int pool_assign(struct pool *p, struct gw_registry *r, struct gw_peer *peer, struct sl_err *e)
{
	struct pool_lease *l;
	struct in_addr a;
	uint32_t off;
	bool unknown;
	int ret;

	if (!p->used || peer_num(p, peer, &a) || (p->family == AF_INET6 && peer->has_addr6))
		return 0; /* no pool of this family, or it has its address */
	l = lease_find(p, peer->pubkey);
	if (l) {
		peer_give(p, r, peer, l->addr);
		return 0;
	}
	for (off = p->hint; off < p->size && p->used[off]; off++)
		;
	if (off >= p->size)
		return sl_errf(e, -ENOSPC, "pool: no free address left for client '%s'%s", peer->name,
			       p->family == AF_INET ? "" : " in the IPv6 pool");
	a.s_addr = htonl(p->net + off);
	ret = lease_add(p, peer->pubkey, a);
	if (ret)
		return sl_errf(e, ret, "pool: out of memory");
	ret = journal_append(p, &p->leases[p->n_leases - 1], &unknown, e);
	if (ret) {
		lease_del(p, &p->leases[p->n_leases - 1]); /* not acknowledged: not given out */
		/* cut off again (or never written), the address is free; if the cut failed the line may be on
		 * disk after all: nobody else gets it either (used[off] is 0 until here) */
		if (unknown)
			p->used[off] = USED_LEASE;
		return ret;
	}
	p->used[off] = USED_LEASE;
	p->hint = off + 1;
	peer_give(p, r, peer, a);
	return 0;
}
