/* fleet_sync: the registry's records and one reconciliation pass (fleet_sync.h). Runs in the registry thread
 * (or at start-up, or in the `sluice registry` tool); never in the gateway's loop or data plane. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "daemon/registry/fleet_sync.h"

#define FLEET_SYNC_TRIES 8 /* lost lease races before giving up (another gateway leasing at the same time) */

void fleet_key_hex(const uint8_t key[SL_KEY_LEN], char out[2 * SL_KEY_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";
	for (unsigned i = 0; i < SL_KEY_LEN; i++) {
		out[2 * i] = hx[key[i] >> 4];
		out[2 * i + 1] = hx[key[i] & 15];
	}
	out[2 * SL_KEY_LEN] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int fleet_key_unhex(const char *s, uint8_t key[SL_KEY_LEN])
{
	if (strlen(s) != 2 * SL_KEY_LEN)
		return -EINVAL;
	for (unsigned i = 0; i < SL_KEY_LEN; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -EINVAL;
		key[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

void fleet_client_record(const uint8_t key[SL_KEY_LEN], const struct in_addr *addr, const struct in6_addr *addr6,
			 const uint8_t *psk, char *out, size_t n)
{
	char b64[SL_KEY_B64_LEN + 1], a[INET6_ADDRSTRLEN], p64[SL_KEY_B64_LEN + 1];
	int len;

	key_to_base64(key, b64);
	len = snprintf(out, n, "%s", b64);
	if (addr && len > 0 && (size_t)len < n)
		len += snprintf(out + len, n - (size_t)len, " %s", inet_ntop(AF_INET, addr, a, sizeof(a)));
	if (addr6 && len > 0 && (size_t)len < n)
		len += snprintf(out + len, n - (size_t)len, " %s", inet_ntop(AF_INET6, addr6, a, sizeof(a)));
	if (psk && len > 0 && (size_t)len < n) {
		key_to_base64(psk, p64);
		snprintf(out + len, n - (size_t)len, " psk=%s", p64);
		OPENSSL_cleanse(p64, sizeof(p64));
	}
}

/* One field of a client record: [start, start + len) copied into buf (NUL-terminated); -EINVAL when too long. */
static int rec_field(const char *start, size_t len, char *buf, size_t n)
{
	if (!len || len >= n)
		return -EINVAL;
	memcpy(buf, start, len);
	buf[len] = 0;
	return 0;
}

int fleet_client_parse(const char *rec, uint8_t key[SL_KEY_LEN], bool *has_addr, struct in_addr *addr,
		       bool *has_addr6, struct in6_addr *addr6, bool *has_psk, uint8_t psk[SL_KEY_LEN])
{
	char f[SL_KEY_B64_LEN + 8];
	uint8_t p[SL_KEY_LEN];
	bool got_psk = false;
	int field = 0, ret = 0;

	*has_addr = *has_addr6 = false;
	if (has_psk)
		*has_psk = false;
	/* fields separated by exactly one space: key, then an IPv4 and/or an IPv6 address and/or psk=, each at
	 * most once, psk= last */
	for (const char *s = rec;; field++) {
		const char *sp = strchr(s, ' ');
		size_t len = sp ? (size_t)(sp - s) : strlen(s);

		if (rec_field(s, len, f, sizeof(f))) {
			ret = -EINVAL;
			break;
		}
		if (field == 0) {
			if (len != SL_KEY_B64_LEN || key_from_base64(f, key))
				ret = -EINVAL;
		} else if (!strncmp(f, "psk=", 4)) {
			if (got_psk || strlen(f + 4) != SL_KEY_B64_LEN || key_from_base64(f + 4, p))
				ret = -EINVAL;
			got_psk = true;
		} else if (got_psk) {
			ret = -EINVAL;
		} else if (strchr(f, ':')) {
			if (*has_addr6 || inet_pton(AF_INET6, f, addr6) != 1)
				ret = -EINVAL;
			*has_addr6 = true;
		} else if (*has_addr || inet_pton(AF_INET, f, addr) != 1) {
			ret = -EINVAL;
		} else {
			*has_addr = true;
		}
		if (ret || !sp)
			break;
		s = sp + 1;
	}
	OPENSSL_cleanse(f, sizeof(f));
	if (!ret && got_psk && has_psk) {
		*has_psk = true;
		memcpy(psk, p, SL_KEY_LEN);
	}
	OPENSSL_cleanse(p, sizeof(p));
	return ret;
}

void fleet_pool_text(const struct sl_prefix4 *pool, const struct sl_prefix6 *pool6, char *out, size_t n)
{
	char a[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];
	int len = snprintf(out, n, "%s/%u", inet_ntop(AF_INET, &pool->addr, a, sizeof(a)), pool->len);

	/* a dual-stack fleet records both prefixes, as `Address =` lists them; an IPv4-only one stays as before */
	if (pool6 && pool6->len && len > 0 && (size_t)len < n)
		snprintf(out + len, n - (size_t)len, ", %s/%u", inet_ntop(AF_INET6, &pool6->addr, a6, sizeof(a6)),
			 pool6->len);
}

static uint32_t pool_mask(const struct sl_prefix4 *pool)
{
	return pool->len ? ~0u << (32 - pool->len) : 0;
}

bool fleet_addr_in_pool(const struct sl_prefix4 *pool, struct in_addr a)
{
	uint32_t m = pool_mask(pool), h = ntohl(a.s_addr), g = ntohl(pool->addr.s_addr);

	return (h & m) == (g & m) && (h & ~m) != 0 && (h & ~m) != ~m && h != g;
}

bool fleet_addr6_in_pool(const struct sl_prefix6 *pool6, const struct in6_addr *a)
{
	return pool6->len && pool6_offset(pool6, a, NULL) && memcmp(a, &pool6->addr, sizeof(*a));
}

bool fleet_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= SL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
			return false;
	return true;
}

/* One family's leases. Both families share the code through pool numbers: an IPv4 number is the address
 * (host order), an IPv6 one its offset in the prefix (config.h: the pool is the prefix's first SL_POOL6_MAX
 * addresses), as in control/pool.c. Keys: PREFIX/leases/... for IPv4, PREFIX/leases6/... for IPv6, the
 * addresses always in inet_ntop's canonical text so every gateway writes the same key. */
struct fam {
	int af;
	const char *dir; /* "leases" | "leases6" */
	const struct sl_prefix4 *p4;
	const struct sl_prefix6 *p6;
};

static void fam_v4(struct fam *f, const struct sl_prefix4 *p4)
{
	*f = (struct fam){AF_INET, "leases", p4, NULL};
}

static void fam_v6(struct fam *f, const struct sl_prefix6 *p6)
{
	*f = (struct fam){AF_INET6, "leases6", NULL, p6};
}

static struct in6_addr addr6_of(const struct sl_prefix6 *p6, uint32_t off)
{
	struct in6_addr x = p6->addr;

	for (unsigned b = p6->len; b < 128; b++)
		x.s6_addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	x.s6_addr[14] |= (uint8_t)(off >> 8);
	x.s6_addr[15] |= (uint8_t)off;
	return x;
}

static const char *num_text(const struct fam *f, uint32_t num, char out[INET6_ADDRSTRLEN])
{
	struct in_addr a = {htonl(num)};
	struct in6_addr x;

	if (f->af == AF_INET)
		return inet_ntop(AF_INET, &a, out, INET6_ADDRSTRLEN);
	x = addr6_of(f->p6, num);
	return inet_ntop(AF_INET6, &x, out, INET6_ADDRSTRLEN);
}

/* An address text of this family and pool as a number (0 when it is neither). */
static uint32_t text_num(const struct fam *f, const char *s)
{
	struct in_addr a;
	struct in6_addr x;
	uint32_t off;

	if (f->af == AF_INET)
		return inet_pton(AF_INET, s, &a) == 1 ? ntohl(a.s_addr) : 0;
	return inet_pton(AF_INET6, s, &x) == 1 && pool6_offset(f->p6, &x, &off) ? off : 0;
}

static bool num_in_pool(const struct fam *f, uint32_t num)
{
	struct in_addr a = {htonl(num)};
	struct in6_addr x;

	if (f->af == AF_INET)
		return fleet_addr_in_pool(f->p4, a);
	if (!num || num >= SL_POOL6_MAX || (f->p6->len > 112 && num >> (128 - f->p6->len)))
		return false;
	x = addr6_of(f->p6, num);
	return fleet_addr6_in_pool(f->p6, &x);
}

/* The client's fixed address of this family as a number: false when it has none; *num 0 when it is not in
 * the pool. */
static bool cfg_num(const struct fam *f, const struct sl_client_cfg *c, uint32_t *num)
{
	uint32_t off;

	if (f->af == AF_INET) {
		*num = c->has_addr ? ntohl(c->addr.s_addr) : 0;
		if (c->has_addr && !fleet_addr_in_pool(f->p4, c->addr))
			*num = 0;
		return c->has_addr;
	}
	*num = c->has_addr6 && fleet_addr6_in_pool(f->p6, &c->addr6) && pool6_offset(f->p6, &c->addr6, &off) ? off : 0;
	return c->has_addr6;
}

static void cfg_set(const struct fam *f, struct sl_client_cfg *c, uint32_t num)
{
	if (f->af == AF_INET) {
		c->addr.s_addr = htonl(num);
		c->has_addr = true;
	} else {
		c->addr6 = addr6_of(f->p6, num);
		c->has_addr6 = true;
	}
}

/* What one range of PREFIX/ says, indexed for the merge. */
struct lease {
	uint8_t key[SL_KEY_LEN];
	uint32_t addr; /* the pool number */
};

struct leases {
	struct lease *by_key; /* sorted by key */
	size_t n_by_key;
	struct lease *by_addr; /* sorted by address */
	size_t n_by_addr;
};

struct view {
	char pool[128];
	bool has_pool;
	struct leases l[2]; /* IPv4, IPv6 */
	struct sl_client_cfg *reg; /* registry clients, parsed */
	size_t n_reg;
};

static int cmp_key(const void *a, const void *b)
{
	return memcmp(((const struct lease *)a)->key, ((const struct lease *)b)->key, SL_KEY_LEN);
}

static int cmp_addr(const void *a, const void *b)
{
	uint32_t x = ((const struct lease *)a)->addr, y = ((const struct lease *)b)->addr;
	return x < y ? -1 : x > y;
}

static void view_free(struct view *v)
{
	for (unsigned i = 0; i < 2; i++) {
		free(v->l[i].by_key);
		free(v->l[i].by_addr);
	}
	free(v->reg);
	memset(v, 0, sizeof(*v));
}

static const struct lease *lease_of_key(const struct leases *v, const uint8_t key[SL_KEY_LEN])
{
	struct lease k;
	memcpy(k.key, key, SL_KEY_LEN);
	return v->n_by_key ? bsearch(&k, v->by_key, v->n_by_key, sizeof(k), cmp_key) : NULL;
}

static const struct lease *lease_of_addr(const struct leases *v, uint32_t addr)
{
	struct lease k = {.addr = addr};
	return v->n_by_addr ? bsearch(&k, v->by_addr, v->n_by_addr, sizeof(k), cmp_addr) : NULL;
}

/* One lease key of family f (k: the key's path, kv: its value) into l; false when it is not one. */
static bool load_lease(const struct fam *f, struct leases *l, const char *prefix, const char *k, const char *val)
{
	char p[FLEET_KEY_MAX];
	size_t lk = (size_t)snprintf(p, sizeof(p), "%s/%s/key/", prefix, f->dir);
	size_t la = (size_t)snprintf(p + lk + 1, sizeof(p) - lk - 1, "%s/%s/addr/", prefix, f->dir);
	const char *pk = p, *pa = p + lk + 1;

	if (!strncmp(k, pk, lk)) {
		struct lease *x = &l->by_key[l->n_by_key];
		if (fleet_key_unhex(k + lk, x->key) || !(x->addr = text_num(f, val)))
			return true; /* not ours to judge: a lease we cannot read is never handed out again either */
		l->n_by_key++;
		return true;
	}
	if (!strncmp(k, pa, la)) {
		struct lease *x = &l->by_addr[l->n_by_addr];
		if (!(x->addr = text_num(f, k + la)))
			return true;
		if (fleet_key_unhex(val, x->key))
			memset(x->key, 0xff, SL_KEY_LEN); /* held by something unreadable: still taken */
		l->n_by_addr++;
		return true;
	}
	return false;
}

/* cap: room for every key read plus a lease for every file client (the leases a sync creates) */
static int view_load(struct view *v, const struct etcd_kv *kv, size_t n, size_t cap, const char *prefix,
		     const struct fam fam[2], unsigned n_fam, struct fleet_sync_stats *st)
{
	char p_pool[FLEET_KEY_MAX], p_cl[FLEET_KEY_MAX];
	size_t l_cl;

	memset(v, 0, sizeof(*v));
	snprintf(p_pool, sizeof(p_pool), "%s/pool", prefix);
	l_cl = (size_t)snprintf(p_cl, sizeof(p_cl), "%s/clients/", prefix);
	for (unsigned i = 0; i < n_fam; i++) {
		v->l[i].by_key = calloc(cap + 1, sizeof(struct lease));
		v->l[i].by_addr = calloc(cap + 1, sizeof(struct lease));
		if (!v->l[i].by_key || !v->l[i].by_addr) {
			view_free(v);
			return -ENOMEM;
		}
	}
	v->reg = calloc(cap + 1, sizeof(*v->reg));
	if (!v->reg) {
		view_free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const char *k = kv[i].key, *val = kv[i].value;
		if (!strcmp(k, p_pool)) {
			snprintf(v->pool, sizeof(v->pool), "%s", val);
			v->has_pool = true;
		} else if (!strncmp(k, p_cl, l_cl)) {
			struct sl_client_cfg *c = &v->reg[v->n_reg];
			memset(c, 0, sizeof(*c));
			if (!fleet_name_ok(k + l_cl) || fleet_client_parse(val, c->pubkey, &c->has_addr, &c->addr,
									  &c->has_addr6, &c->addr6, &c->has_psk, c->psk)) {
				st->refused++;
				continue;
			}
			snprintf(c->name, sizeof(c->name), "%s", k + l_cl);
			c->line = 0;
			v->n_reg++;
		} else {
			for (unsigned f = 0; f < n_fam && !load_lease(&fam[f], &v->l[f], prefix, k, val); f++)
				;
		}
	}
	for (unsigned f = 0; f < n_fam; f++) {
		qsort(v->l[f].by_key, v->l[f].n_by_key, sizeof(struct lease), cmp_key);
		qsort(v->l[f].by_addr, v->l[f].n_by_addr, sizeof(struct lease), cmp_addr);
	}
	return 0;
}

static void key_path(char *out, size_t n, const struct fam *f, const char *prefix, const uint8_t key[SL_KEY_LEN])
{
	char hex[2 * SL_KEY_LEN + 1];
	fleet_key_hex(key, hex);
	snprintf(out, n, "%s/%s/key/%s", prefix, f->dir, hex);
}

static void addr_path(char *out, size_t n, const struct fam *f, const char *prefix, const char *addr_text)
{
	snprintf(out, n, "%s/%s/addr/%s", prefix, f->dir, addr_text);
}

/* One lease transaction: key -> addr and addr -> key, only if addr is free and key's lease is still `old`
 * (NULL: none); the addresses as text. 0 done, -EAGAIN lost a race (someone changed either key meanwhile),
 * else -errno. */
static int lease_txn_text(struct etcd *c, const struct fam *f, const char *prefix, const uint8_t key[SL_KEY_LEN],
			  const char *as, const char *olds, struct sl_err *e)
{
	char kp[FLEET_KEY_MAX], ap[FLEET_KEY_MAX], op_[FLEET_KEY_MAX], hex[2 * SL_KEY_LEN + 1];
	struct etcd_cmp cmp[2];
	struct etcd_op op[3];
	size_t n_op = 2;
	bool ok;
	int ret;

	fleet_key_hex(key, hex);
	key_path(kp, sizeof(kp), f, prefix, key);
	addr_path(ap, sizeof(ap), f, prefix, as);
	cmp[0] = (struct etcd_cmp){ETCD_CMP_ABSENT, ap, NULL};
	if (olds) {
		cmp[1] = (struct etcd_cmp){ETCD_CMP_VALUE_EQ, kp, olds};
		addr_path(op_, sizeof(op_), f, prefix, olds);
		op[2] = (struct etcd_op){ETCD_OP_DELETE, op_, NULL, 0};
		n_op = 3;
	} else {
		cmp[1] = (struct etcd_cmp){ETCD_CMP_ABSENT, kp, NULL};
	}
	op[0] = (struct etcd_op){ETCD_OP_PUT, kp, as, 0};
	op[1] = (struct etcd_op){ETCD_OP_PUT, ap, hex, 0};
	ret = etcd_txn(c, cmp, 2, op, n_op, &ok, e);
	if (ret)
		return ret;
	return ok ? 0 : -EAGAIN;
}

static int lease_txn(struct etcd *c, const struct fam *f, const char *prefix, const uint8_t key[SL_KEY_LEN],
		     uint32_t addr, uint32_t old, struct sl_err *e)
{
	char as[INET6_ADDRSTRLEN], olds[INET6_ADDRSTRLEN];

	num_text(f, addr, as);
	if (old)
		num_text(f, old, olds);
	return lease_txn_text(c, f, prefix, key, as, old ? olds : NULL, e);
}

/* Lowest free client address of the pool; 0 when the pool is full. */
static uint32_t lowest_free(const struct fam *f, const struct leases *v)
{
	uint32_t first, count;

	if (f->af == AF_INET) {
		uint32_t m = pool_mask(f->p4);
		first = ntohl(f->p4->addr.s_addr) & m;
		count = ~m + 1;
	} else {
		first = 0;
		count = f->p6->len > 112 ? 1u << (128 - f->p6->len) : SL_POOL6_MAX;
	}
	for (uint32_t off = 1; off + 1 < count + (f->af == AF_INET6); off++)
		if (num_in_pool(f, first + off) && !lease_of_addr(v, first + off))
			return first + off;
	return 0;
}

/* The pool record: created by the first gateway; every other one must name the same. */
static int check_pool(struct etcd *c, const char *prefix, const struct view *v, const struct sl_prefix4 *pool,
		      const struct sl_prefix6 *pool6, struct sl_err *e)
{
	char want[128], kp[FLEET_KEY_MAX];
	struct etcd_cmp cmp;
	struct etcd_op op;
	bool ok;
	int ret;

	fleet_pool_text(pool, pool6, want, sizeof(want));
	if (v->has_pool) {
		if (strcmp(v->pool, want))
			return sl_errf(e, -EINVAL,
				       "registry %s: the fleet's pool is Address = %s, this gateway has %s "
				       "(every gateway of a registry needs the same Address, both families)",
				       prefix, v->pool, want);
		return 0;
	}
	snprintf(kp, sizeof(kp), "%s/pool", prefix);
	cmp = (struct etcd_cmp){ETCD_CMP_ABSENT, kp, NULL};
	op = (struct etcd_op){ETCD_OP_PUT, kp, want, 0};
	ret = etcd_txn(c, &cmp, 1, &op, 1, &ok, e);
	if (ret)
		return ret;
	return ok ? 0 : -EAGAIN; /* another gateway recorded it first: read it again */
}

static int cmp_cfg_name(const void *a, const void *b)
{
	return strcmp((*(const struct sl_client_cfg *const *)a)->name, (*(const struct sl_client_cfg *const *)b)->name);
}

static int cmp_cfg_key(const void *a, const void *b)
{
	return memcmp((*(const struct sl_client_cfg *const *)a)->pubkey, (*(const struct sl_client_cfg *const *)b)->pubkey,
		      SL_KEY_LEN);
}

/* registry clients by key, then name: the first of a key is the one kept */
static int cmp_reg(const void *a, const void *b)
{
	const struct sl_client_cfg *x = a, *y = b;
	int c = memcmp(x->pubkey, y->pubkey, SL_KEY_LEN);
	return c ? c : strcmp(x->name, y->name);
}

/* The merged list: every file client; then the registry's, except names and keys the file already has, and
 * keys listed twice (the smallest name wins). O(n log n): a fleet has 10,000s of clients. */
static int merge(struct view *v, const struct sl_client_cfg *file, size_t n_file, struct sl_client_cfg **out,
		 size_t *n_out, struct fleet_sync_stats *st)
{
	struct sl_client_cfg *m = calloc(n_file + v->n_reg + 1, sizeof(*m));
	const struct sl_client_cfg **by_name = calloc(n_file + 1, sizeof(*by_name));
	const struct sl_client_cfg **by_key = calloc(n_file + 1, sizeof(*by_key));
	size_t n = 0;

	if (!m || !by_name || !by_key) {
		free(m);
		free(by_name);
		free(by_key);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_file; i++) {
		m[n++] = file[i];
		by_name[i] = by_key[i] = &file[i];
	}
	qsort(by_name, n_file, sizeof(*by_name), cmp_cfg_name);
	qsort(by_key, n_file, sizeof(*by_key), cmp_cfg_key);
	qsort(v->reg, v->n_reg, sizeof(*v->reg), cmp_reg);
	for (size_t i = 0; i < v->n_reg; i++) {
		const struct sl_client_cfg *r = &v->reg[i], *pr = r;

		if (n_file && (bsearch(&pr, by_name, n_file, sizeof(*by_name), cmp_cfg_name) ||
			       bsearch(&pr, by_key, n_file, sizeof(*by_key), cmp_cfg_key)))
			continue; /* the file's name or key: not a refusal */
		if (i && !memcmp(v->reg[i - 1].pubkey, r->pubkey, SL_KEY_LEN)) {
			st->refused++; /* a key registered under two names */
			continue;
		}
		m[n++] = *r;
		st->from_registry++;
	}
	free(by_name);
	free(by_key);
	*out = m;
	*n_out = n;
	return 0;
}

/* One family's lease of client cl. 0 done (cl has its address), 1 left out (counted), -EAGAIN a race was lost,
 * else -errno with e->msg. */
static int lease_one(struct etcd *c, const char *prefix, const char *path, const struct fam *f, struct leases *v,
		     struct sl_client_cfg *cl, bool from_file, bool strict, struct fleet_sync_stats *st,
		     struct sl_err *e)
{
	const struct lease *l = lease_of_key(v, cl->pubkey);
	char a[INET6_ADDRSTRLEN];
	uint32_t want;
	int ret;

	if (cfg_num(f, cl, &want)) {
		const struct lease *h;
		const void *fixed = f->af == AF_INET ? (const void *)&cl->addr : (const void *)&cl->addr6;

		inet_ntop(f->af, fixed, a, sizeof(a));
		if (!want) {
			if (from_file || strict)
				return sl_errf(e, -EINVAL, "client '%s': Address %s is not a client address of the pool",
					       cl->name, a);
			st->refused++;
			return 1;
		}
		h = lease_of_addr(v, want);
		if (h && memcmp(h->key, cl->pubkey, SL_KEY_LEN)) {
			char owner[2 * SL_KEY_LEN + 1];
			fleet_key_hex(h->key, owner);
			if (from_file && strict)
				return sl_errf(e, -EINVAL,
					       "%s:%d: [Client] '%s': Address %s is leased to another key in the "
					       "registry (%.16s...); remove that lease or that client first",
					       path, cl->line, cl->name, a, owner);
			st->refused++;
			return 1;
		}
		if (!h || !l || l->addr != want) {
			ret = lease_txn(c, f, prefix, cl->pubkey, want, l ? l->addr : 0, e);
			if (ret)
				return ret;
			st->leased++;
		}
		return 0;
	}
	if (l && num_in_pool(f, l->addr)) {
		cfg_set(f, cl, l->addr);
		return 0;
	}
	want = lowest_free(f, v);
	if (!want) {
		st->refused++;
		return 1; /* the pool is full: this client waits (logged by the caller) */
	}
	ret = lease_txn(c, f, prefix, cl->pubkey, want, l ? l->addr : 0, e);
	if (ret)
		return ret;
	st->leased++;
	cfg_set(f, cl, want);
	/* the view learns it, so the next client gets the next address */
	v->by_addr[v->n_by_addr] = (struct lease){.addr = want};
	memcpy(v->by_addr[v->n_by_addr].key, cl->pubkey, SL_KEY_LEN);
	v->n_by_addr++;
	qsort(v->by_addr, v->n_by_addr, sizeof(struct lease), cmp_addr);
	return 0;
}

/* Gives every client of the merged list its lease of every family. -EAGAIN: a race was lost, start over. */
static int lease_all(struct etcd *c, const char *prefix, const char *path, const struct fam fam[2], unsigned n_fam,
		     struct view *v, struct sl_client_cfg *m, size_t *n_m, size_t n_file, bool strict,
		     struct fleet_sync_stats *st, struct sl_err *e)
{
	size_t w = 0;

	for (size_t i = 0; i < *n_m; i++) {
		struct sl_client_cfg *cl = &m[i];
		int ret = 0;

		if (n_fam < 2)
			cl->has_addr6 = false; /* a registry record's IPv6 address, on an IPv4-only fleet */
		for (unsigned f = 0; f < n_fam && !ret; f++)
			ret = lease_one(c, prefix, path, &fam[f], &v->l[f], cl, i < n_file, strict, st, e);
		if (ret < 0)
			return ret;
		if (ret)
			continue;
		m[w++] = *cl;
	}
	*n_m = w;
	return 0;
}

int fleet_sync(struct etcd *c, const char *prefix, const struct sl_prefix4 *pool, const struct sl_prefix6 *pool6,
	       const char *file_path, const struct sl_client_cfg *file, size_t n_file, bool strict,
	       struct sl_client_cfg **out, size_t *n_out, int64_t *rev, struct fleet_sync_stats *st, struct sl_err *e)
{
	char root[FLEET_KEY_MAX], sessions[FLEET_KEY_MAX];
	struct fam fam[2];
	unsigned n_fam = 1;
	int ret = -EAGAIN;

	*out = NULL;
	*n_out = 0;
	fam_v4(&fam[0], pool);
	if (pool6 && pool6->len)
		fam_v6(&fam[n_fam++], pool6);
	snprintf(root, sizeof(root), "%s/", prefix);
	/* everything but the live sessions (fleet_sessions.h), which a reconciliation never needs: clients/,
	 * leases/, leases6/ and pool all sort before sessions/, so one range still reads them at one revision */
	snprintf(sessions, sizeof(sessions), "%s/sessions/", prefix);
	for (unsigned t = 0; t < FLEET_SYNC_TRIES && ret == -EAGAIN; t++) {
		struct etcd_kv *kv;
		struct view v;
		struct sl_client_cfg *m = NULL;
		size_t n, n_m = 0;

		memset(st, 0, sizeof(*st));
		ret = etcd_range(c, root, sessions, &kv, &n, rev, e);
		if (ret)
			return ret;
		/* the view needs a slot for every key plus every lease it makes: at most one per client */
		ret = view_load(&v, kv, n, n + n_file, prefix, fam, n_fam, st);
		etcd_kvs_free(kv, n);
		if (ret)
			return sl_errf(e, ret, "registry: out of memory");
		ret = check_pool(c, prefix, &v, pool, pool6, e);
		if (!ret)
			ret = merge(&v, file, n_file, &m, &n_m, st);
		if (!ret)
			ret = lease_all(c, prefix, file_path, fam, n_fam, &v, m, &n_m, n_file, strict, st, e);
		view_free(&v);
		if (ret) {
			free(m);
			continue;
		}
		*out = m;
		*n_out = n_m;
		return 0;
	}
	if (ret == -EAGAIN)
		sl_errf(e, -EAGAIN, "registry %s: leases kept changing under %d attempts; will try again", prefix,
			FLEET_SYNC_TRIES);
	return ret;
}

static const struct sl_client_cfg *by_name(const struct sl_client_cfg *l, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, name))
			return &l[i];
	return NULL;
}

static const struct sl_client_cfg *by_key(const struct sl_client_cfg *l, size_t n, const uint8_t key[SL_KEY_LEN])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(l[i].pubkey, key, SL_KEY_LEN))
			return &l[i];
	return NULL;
}

int fleet_event_prepare(const char *prefix, bool del, const char *key, const char *value,
			const struct sl_client_cfg *file, size_t n_file, const struct sl_client_cfg *list, size_t n,
			unsigned refused, struct sl_client_cfg *c)
{
	char p_cl[FLEET_KEY_MAX];
	size_t l_cl = (size_t)snprintf(p_cl, sizeof(p_cl), "%s/clients/", prefix);
	const char *name = key + l_cl;
	const struct sl_client_cfg *old, *other;

	memset(c, 0, sizeof(*c));
	if (strncmp(key, p_cl, l_cl) || !fleet_name_ok(name))
		return -EINVAL;
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (by_name(file, n_file, name))
		return FLEET_EV_SKIP; /* the file's name: its client stays as the file says */
	old = by_name(list, n, name);
	if (del)
		return refused ? -EINVAL : FLEET_EV_DELETE; /* a key it held might let a left-out client in */
	if (fleet_client_parse(value, c->pubkey, &c->has_addr, &c->addr, &c->has_addr6, &c->addr6, &c->has_psk,
			       c->psk))
		return -EINVAL;
	c->line = 0;
	if (by_key(file, n_file, c->pubkey))
		return FLEET_EV_DELETE; /* the file's key: the file wins, a registry entry of this name goes */
	other = by_key(list, n, c->pubkey);
	if (other && other != old)
		return -EINVAL; /* a key under two names: the full read decides which one stays */
	if (refused && old && memcmp(old->pubkey, c->pubkey, SL_KEY_LEN))
		return -EINVAL;
	return FLEET_EV_PUT;
}

int fleet_list_put(struct sl_client_cfg **list, size_t *n, const struct sl_client_cfg *c)
{
	struct sl_client_cfg *l;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i].name, c->name)) {
			(*list)[i] = *c;
			return 0;
		}
	l = realloc(*list, (*n + 2) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	l[(*n)++] = *c;
	*list = l;
	return 0;
}

bool fleet_list_del(struct sl_client_cfg *list, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(list[i].name, name)) {
			OPENSSL_cleanse(list[i].psk, sizeof(list[i].psk));
			memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(*list));
			(*n)--;
			return true;
		}
	return false;
}

/* One family's lease for one client: the view holds the addresses of `list` (minus cl's own name), the
 * client's lease and its fixed address's holder as etcd has them now; a lost race reads them again. */
static int lease_client_fam(struct etcd *c, const char *prefix, const struct fam *f,
			    const struct sl_client_cfg *list, size_t n, struct sl_client_cfg *cl,
			    struct fleet_sync_stats *st, struct sl_err *e)
{
	struct leases v = {0};
	struct lease *known = calloc(n + FLEET_SYNC_TRIES + 1, sizeof(struct lease));
	size_t nk = 0;
	int ret = -EAGAIN;

	v.by_key = calloc(2, sizeof(struct lease));
	v.by_addr = calloc(n + FLEET_SYNC_TRIES + 4, sizeof(struct lease));
	if (!known || !v.by_key || !v.by_addr) {
		free(known);
		free(v.by_key);
		free(v.by_addr);
		return sl_errf(e, -ENOMEM, "registry: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t num;
		if (strcmp(list[i].name, cl->name) && cfg_num(f, &list[i], &num) && num) {
			known[nk] = (struct lease){.addr = num};
			memcpy(known[nk++].key, list[i].pubkey, SL_KEY_LEN);
		}
	}
	for (unsigned t = 0; t < FLEET_SYNC_TRIES && ret == -EAGAIN; t++) {
		char kp[FLEET_KEY_MAX], ap[FLEET_KEY_MAX], as[INET6_ADDRSTRLEN], *val = NULL;
		uint32_t want;
		bool fixed = cfg_num(f, cl, &want);

		memcpy(v.by_addr, known, nk * sizeof(struct lease));
		v.n_by_addr = nk;
		v.n_by_key = 0;
		key_path(kp, sizeof(kp), f, prefix, cl->pubkey);
		ret = etcd_get(c, kp, &val, e);
		if (ret)
			break;
		if (val && (v.by_key[0].addr = text_num(f, val))) {
			memcpy(v.by_key[0].key, cl->pubkey, SL_KEY_LEN);
			v.n_by_key = 1;
		}
		free(val);
		val = NULL;
		if (fixed && want) {
			addr_path(ap, sizeof(ap), f, prefix, num_text(f, want, as));
			ret = etcd_get(c, ap, &val, e);
			if (ret)
				break;
			if (val) {
				struct lease *x = &v.by_addr[v.n_by_addr++];
				x->addr = want;
				if (fleet_key_unhex(val, x->key))
					memset(x->key, 0xff, SL_KEY_LEN);
			}
			free(val);
		}
		qsort(v.by_addr, v.n_by_addr, sizeof(struct lease), cmp_addr);
		ret = lease_one(c, prefix, "registry", f, &v, cl, false, false, st, e);
		if (ret == -EAGAIN && !fixed) {
			/* the address tried is another key's (a removed client's lease, or one just written elsewhere):
			 * skipped from now on; our own lease, if another gateway wrote it meanwhile, is read next */
			uint32_t cand = lowest_free(f, &v);
			if (cand) {
				known[nk] = (struct lease){.addr = cand};
				memset(known[nk++].key, 0xff, SL_KEY_LEN);
			}
		}
	}
	free(known);
	free(v.by_key);
	free(v.by_addr);
	return ret;
}

int fleet_lease_client(struct etcd *c, const char *prefix, const struct sl_prefix4 *pool,
		       const struct sl_prefix6 *pool6, const struct sl_client_cfg *list, size_t n,
		       struct sl_client_cfg *cl, struct fleet_sync_stats *st, struct sl_err *e)
{
	struct fam fam[2];
	unsigned n_fam = 1;
	int ret = 0;

	fam_v4(&fam[0], pool);
	if (pool6 && pool6->len)
		fam_v6(&fam[n_fam++], pool6);
	else
		cl->has_addr6 = false; /* a record's IPv6 address, on an IPv4-only fleet */
	for (unsigned i = 0; i < n_fam && !ret; i++)
		ret = lease_client_fam(c, prefix, &fam[i], list, n, cl, st, e);
	return ret;
}

int fleet_lease_fixed(struct etcd *c, const char *prefix, const uint8_t key[SL_KEY_LEN], int af, const void *addr,
		      char owner_hex[2 * SL_KEY_LEN + 1], struct sl_err *e)
{
	char kp[FLEET_KEY_MAX], ap[FLEET_KEY_MAX], as[INET6_ADDRSTRLEN], hex[2 * SL_KEY_LEN + 1];
	struct fam f = {af, af == AF_INET ? "leases" : "leases6", NULL, NULL};
	int ret = -EAGAIN;

	inet_ntop(af, addr, as, sizeof(as));
	fleet_key_hex(key, hex);
	key_path(kp, sizeof(kp), &f, prefix, key);
	addr_path(ap, sizeof(ap), &f, prefix, as);
	for (unsigned t = 0; t < FLEET_SYNC_TRIES && ret == -EAGAIN; t++) {
		char *holder = NULL, *old = NULL;

		ret = etcd_get(c, ap, &holder, e);
		if (!ret)
			ret = etcd_get(c, kp, &old, e);
		if (ret) {
			free(holder);
			free(old);
			return ret;
		}
		if (holder && strcmp(holder, hex)) {
			snprintf(owner_hex, 2 * SL_KEY_LEN + 1, "%s", holder);
			free(holder);
			free(old);
			return -EEXIST;
		}
		if (holder && old && !strcmp(old, as))
			ret = 0; /* already so */
		else
			ret = lease_txn_text(c, &f, prefix, key, as, old, e);
		free(holder);
		free(old);
	}
	return ret;
}
