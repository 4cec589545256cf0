/* reload: the new client list onto the registry and the pool (daemon/control/reload.h). */
#include <arpa/inet.h>
#include <string.h>
#include "daemon/control/reload.h"
#include "daemon/log.h"

static const char *ip_str(struct in_addr a, char buf[INET_ADDRSTRLEN])
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

bool prefixes_equal(const struct sl_prefix *a, unsigned na, const struct sl_prefix *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (a[i].len != b[i].len || !sl_ipaddr_eq(&a[i].a, &b[i].a))
			return false;
	return true;
}

static bool address_changed(const struct gw_peer *p, const struct sl_client_cfg *c)
{
	return p->fixed_addr != c->has_addr || (c->has_addr && p->addr.s_addr != c->addr.s_addr);
}

/* A registered client other than `self` that holds c's fixed address (NULL: it is free to take). */
static struct gw_peer *holder(const struct gw_registry *r, const struct sl_client_cfg *c, const struct gw_peer *self)
{
	struct gw_peer *q = peer_by_addr(r, c->addr.s_addr);

	return q != self ? q : NULL;
}

/* Registers c as a new peer with its address: fixed (reserved, a removed client's lease on it dropped) or its
 * lease from before, if it has one (else the pool gives it one when it authenticates). */
static struct gw_peer *add(struct gw_registry *r, struct pool *pool, const struct sl_client_cfg *c)
{
	struct gw_peer *p = registry_add_peer(r, c);
	struct in_addr a;

	if (!p) {
		log_err("reload: out of memory adding client '%s'", c->name);
		return NULL;
	}
	if (p->fixed_addr)
		pool_reserve_fixed(pool, p);
	else if (pool_lease_addr(pool, p->pubkey, &a))
		peer_set_addr(r, p, a);
	return p;
}

/* A kept client's Address changed: a new peer replaces it (the data workers may still read the old one, whose
 * address must not change under them). Its old fixed address stays reserved until a restart. */
static void readdress(struct gw_registry *r, struct pool *pool, struct gw_peer *p, const struct sl_client_cfg *c,
		      struct reload_stats *st)
{
	char was[INET_ADDRSTRLEN] = "none", now[INET_ADDRSTRLEN] = "none";
	struct gw_peer *q;

	if (p->addr.s_addr)
		ip_str(p->addr, was);
	if (c->has_addr && (q = holder(r, c, p))) {
		log_err("reload: client '%s': Address %s is client '%s''s; it keeps %s until a restart", c->name,
			ip_str(c->addr, now), q->name, was);
		st->refused++;
		return;
	}
	registry_remove_peer(r, p);
	p = add(r, pool, c);
	if (!p)
		return;
	if (p->addr.s_addr)
		ip_str(p->addr, now);
	log_info("reload: client '%s': address %s -> %s%s; its sessions end", p->name, was, now,
		 p->fixed_addr ? " (fixed)" : p->addr.s_addr ? " (its lease)" : " (from the pool at its next handshake)");
	st->readdressed++;
}

void clients_reload(struct gw_registry *r, struct pool *pool, const struct sl_client_cfg *cl, size_t n,
		    struct reload_stats *st)
{
	char a[INET_ADDRSTRLEN];

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < r->n_peers; i++)
		r->peers[i]->listed = false;
	for (size_t j = 0; j < n; j++) {
		struct gw_peer *p = peer_by_key(r, cl[j].pubkey);
		if (p)
			p->listed = true;
	}
	for (size_t i = r->n_peers; i-- > 0;) {
		struct gw_peer *p = r->peers[i];
		if (!p->listed) {
			log_info("reload: client '%s' removed; its sessions end", p->name);
			registry_remove_peer(r, p);
			st->removed++;
		}
	}
	/* new dynamic clients take their leases back; kept clients their new names, and those leaving a fixed
	 * address their leases too */
	for (size_t j = 0; j < n; j++) {
		struct gw_peer *p = peer_by_key(r, cl[j].pubkey);
		if (!p && !cl[j].has_addr && add(r, pool, &cl[j])) {
			log_info("reload: client '%s' added", cl[j].name);
			st->added++;
		} else if (p && p->listed) {
			snprintf(p->name, sizeof(p->name), "%s", cl[j].name);
			if (p->has_psk != cl[j].has_psk || memcmp(p->psk, cl[j].psk, SL_KEY_LEN))
				log_info("reload: client '%s': pre-shared key %s; its next session uses it", p->name,
					 !cl[j].has_psk ? "removed" : p->has_psk ? "changed" : "added");
			peer_set_psk(p, &cl[j]);
			if (!prefixes_equal(p->subnets, p->n_subnets, cl[j].subnets, cl[j].n_subnets)) {
				/* routed to it and accepted from it once the caller publishes the table; the
				 * client learns of it at its next PING (DESIGN 10.9) */
				memcpy(p->subnets, cl[j].subnets, sizeof(p->subnets));
				p->n_subnets = cl[j].n_subnets;
				p->repush = true;
				log_info("reload: client '%s': Subnets changed", p->name);
			}
			if (!cl[j].has_addr && p->fixed_addr)
				readdress(r, pool, p, &cl[j], st);
		}
	}
	/* kept clients taking a new fixed address: until no more can move (one may wait for another to leave
	 * its address); what is left is refused */
	for (bool moved = true; moved;) {
		moved = false;
		for (size_t j = 0; j < n; j++) {
			struct gw_peer *p = peer_by_key(r, cl[j].pubkey);
			if (p && p->listed && cl[j].has_addr && address_changed(p, &cl[j]) && !holder(r, &cl[j], p)) {
				readdress(r, pool, p, &cl[j], st);
				moved = true;
			}
		}
	}
	for (size_t j = 0; j < n; j++) {
		struct gw_peer *p = peer_by_key(r, cl[j].pubkey);
		if (p && p->listed && cl[j].has_addr && address_changed(p, &cl[j]))
			readdress(r, pool, p, &cl[j], st); /* refused: names the holder */
	}
	/* new fixed clients */
	for (size_t j = 0; j < n; j++) {
		struct gw_peer *q;
		if (!cl[j].has_addr || peer_by_key(r, cl[j].pubkey))
			continue;
		if ((q = holder(r, &cl[j], NULL))) {
			log_err("reload: client '%s': Address %s is client '%s''s; not added", cl[j].name,
				ip_str(cl[j].addr, a), q->name);
			st->refused++;
			continue;
		}
		if (add(r, pool, &cl[j])) {
			log_info("reload: client '%s' added", cl[j].name);
			st->added++;
		}
	}
}
