/* fleet_sessions: the gateway's live sessions in etcd, written by the registry thread (fleet_sessions.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "daemon/registry/fleet_sessions.h"
#include "daemon/registry/fleet_sync.h"

int fleet_sessions_init(struct fleet_sessions *s, const uint8_t gw_pub[SL_KEY_LEN], const char *ifname,
			struct sl_err *e)
{
	char host[64];

	(void)e;
	memset(s, 0, sizeof(*s));
	fleet_key_hex(gw_pub, s->gw_hex);
	if (gethostname(host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = 0;
	for (char *p = host; *p; p++)
		if (*p == ' ' || *p == '=')
			*p = '_'; /* the record's separators */
	snprintf(s->gw_label, sizeof(s->gw_label), "%s/%s", host, ifname);
	return 0;
}

static int cmp_sess(const void *a, const void *b)
{
	return memcmp(((const struct fleet_session *)a)->key, ((const struct fleet_session *)b)->key, SL_KEY_LEN);
}

void fleet_sessions_want(struct fleet_sessions *s, struct fleet_session *want, size_t n)
{
	free(s->want);
	s->want = want;
	s->n_want = want ? n : 0;
	if (s->n_want)
		qsort(s->want, s->n_want, sizeof(*s->want), cmp_sess);
	s->dirty = true;
}

void fleet_session_record(const struct fleet_session *x, const char *gw_label, char *out, size_t n)
{
	char a[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];
	int len = snprintf(out, n, "name=%s gateway=%s address=%s", x->name, gw_label,
			   inet_ntop(AF_INET, &x->addr, a, sizeof(a)));

	if (x->has_addr6 && len > 0 && (size_t)len < n)
		len += snprintf(out + len, n - (size_t)len, " address6=%s", inet_ntop(AF_INET6, &x->addr6, a6, sizeof(a6)));
	if (len > 0 && (size_t)len < n)
		snprintf(out + len, n - (size_t)len, " since=%" PRId64, x->since);
}

int fleet_session_parse(const char *rec, struct fleet_session *x, char *gw_label, size_t label_n)
{
	char buf[512], *save = NULL;
	bool name = false, gw = false, addr = false, since = false;

	memset(x, 0, sizeof(*x));
	if (strlen(rec) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", rec);
	for (char *f = strtok_r(buf, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
		char *v = strchr(f, '=');
		if (!v)
			return -EINVAL;
		*v++ = 0;
		if (!strcmp(f, "name") && !name && fleet_name_ok(v)) {
			snprintf(x->name, sizeof(x->name), "%s", v);
			name = true;
		} else if (!strcmp(f, "gateway") && !gw && *v) {
			snprintf(gw_label, label_n, "%s", v);
			gw = true;
		} else if (!strcmp(f, "address") && !addr && inet_pton(AF_INET, v, &x->addr) == 1) {
			addr = true;
		} else if (!strcmp(f, "address6") && !x->has_addr6 && inet_pton(AF_INET6, v, &x->addr6) == 1) {
			x->has_addr6 = true;
		} else if (!strcmp(f, "since") && !since) {
			char *end;
			x->since = strtoll(v, &end, 10);
			if (*end || end == v)
				return -EINVAL;
			since = true;
		} else {
			return -EINVAL;
		}
	}
	return name && gw && addr && since ? 0 : -EINVAL;
}

static bool same(const struct fleet_session *a, const struct fleet_session *b)
{
	return !strcmp(a->name, b->name) && a->addr.s_addr == b->addr.s_addr && a->has_addr6 == b->has_addr6 &&
	       (!a->has_addr6 || !memcmp(&a->addr6, &b->addr6, sizeof(a->addr6)));
}

/* Room for one operation's key and value in a batch. */
struct op_text {
	char key[FLEET_KEY_MAX];
	char val[320];
};

static int send_batch(struct etcd *c, struct etcd_op *op, size_t n, struct sl_err *e)
{
	bool ok;
	int ret = n ? etcd_txn(c, NULL, 0, op, n, &ok, e) : 0;

	return ret ? ret : (n && !ok ? sl_errf(e, -EIO, "registry: sessions: a transaction without compares failed") : 0);
}

/* Writes want - pub (puts of new or changed sessions, deletes of ended ones), FLEET_SESSION_BATCH at a time;
 * then pub = want. */
static int flush(struct fleet_sessions *s, struct etcd *c, const char *prefix, struct sl_err *e)
{
	struct etcd_op *op = calloc(FLEET_SESSION_BATCH, sizeof(*op));
	struct op_text *t = calloc(FLEET_SESSION_BATCH, sizeof(*t));
	struct fleet_session *next = calloc(s->n_want + 1, sizeof(*next));
	int64_t now = (int64_t)time(NULL);
	size_t i = 0, j = 0, n = 0;
	int ret = 0;

	if (!op || !t || !next) {
		ret = sl_errf(e, -ENOMEM, "registry: sessions: out of memory");
		goto out;
	}
	while (!ret && (i < s->n_want || j < s->n_pub)) {
		int d = i == s->n_want ? 1 : j == s->n_pub ? -1 : cmp_sess(&s->want[i], &s->pub[j]);
		char hex[2 * SL_KEY_LEN + 1];
		const struct fleet_session *x;
		bool put;

		if (d == 0) { /* on both: rewritten only when it changed; since is kept */
			next[i] = s->want[i];
			next[i].since = s->pub[j].since;
			put = !same(&s->want[i], &s->pub[j]);
			x = &next[i];
			i++, j++;
			if (!put)
				continue;
		} else if (d < 0) { /* new */
			next[i] = s->want[i];
			next[i].since = now;
			x = &next[i];
			put = true;
			i++;
		} else { /* ended */
			x = &s->pub[j++];
			put = false;
		}
		fleet_key_hex(x->key, hex);
		snprintf(t[n].key, sizeof(t[n].key), "%s/sessions/%s/%s", prefix, s->gw_hex, hex);
		if (put) {
			fleet_session_record(x, s->gw_label, t[n].val, sizeof(t[n].val));
			op[n] = (struct etcd_op){ETCD_OP_PUT, t[n].key, t[n].val, s->lease};
		} else {
			op[n] = (struct etcd_op){ETCD_OP_DELETE, t[n].key, NULL, 0};
		}
		if (++n == FLEET_SESSION_BATCH) {
			ret = send_batch(c, op, n, e);
			s->writes += ret ? 0 : n;
			n = 0;
		}
	}
	if (!ret) {
		ret = send_batch(c, op, n, e);
		s->writes += ret ? 0 : n;
	}
	if (!ret) {
		free(s->pub);
		s->pub = next;
		s->n_pub = s->n_want;
		next = NULL;
	}
out:
	free(op);
	free(t);
	free(next);
	return ret;
}

static void lease_lost(struct fleet_sessions *s)
{
	/* its keys went with it: everything is written again under a new lease */
	s->lease = 0;
	free(s->pub);
	s->pub = NULL;
	s->n_pub = 0;
	s->dirty = true;
}

int fleet_sessions_tick(struct fleet_sessions *s, struct etcd *c, const char *prefix, uint64_t now,
			struct sl_err *e)
{
	int64_t ttl;
	int ret;

	if (now < s->retry_ms)
		return 0;
	if (s->lease && now >= s->keepalive_due_ms) {
		ret = etcd_lease_keepalive(c, s->lease, &ttl, e);
		if (ret)
			goto fail;
		s->keepalive_due_ms = now + FLEET_SESSION_KEEPALIVE_MS;
		if (ttl <= 0) {
			s->leases_lost++;
			lease_lost(s);
		}
	}
	if (!s->dirty)
		return 0;
	if (!s->lease && s->n_want) {
		if ((ret = etcd_lease_grant(c, FLEET_SESSION_TTL_S, &s->lease, e)))
			goto fail;
		s->keepalive_due_ms = now + FLEET_SESSION_KEEPALIVE_MS;
	}
	ret = flush(s, c, prefix, e);
	if (ret && strstr(e->msg, "lease not found")) {
		lease_lost(s);
		goto fail;
	}
	if (ret)
		goto fail;
	s->dirty = false;
	return 0;
fail:
	s->failures++;
	s->dirty = true;
	s->retry_ms = now + FLEET_SESSION_RETRY_MS;
	return ret;
}

int fleet_sessions_revoke(struct fleet_sessions *s, struct etcd *c, struct sl_err *e)
{
	int ret = s->lease ? etcd_lease_revoke(c, s->lease, e) : 0;

	s->lease = 0;
	return ret;
}

void fleet_sessions_free(struct fleet_sessions *s)
{
	free(s->pub);
	free(s->want);
	memset(s, 0, sizeof(*s));
}
