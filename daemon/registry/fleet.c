/* fleet: the registry thread, its watch, and the hand-over to the control thread (fleet.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "daemon/atomic_file.h"
#include "daemon/keys.h"
#include "daemon/loop.h"
#include "daemon/log.h"
#include "daemon/registry/fleet.h"
#include "daemon/registry/fleet_cache.h"

#define FLEET_WATCH_LINE_MAX (1u << 20) /* one watch message; a larger one just means "read it all again" */

static void wake(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));
	(void)r; /* an eventfd only fails when its counter is full: it is readable then anyway */
}

static void drain(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
}

/* The last good list into StateDir; a failure only costs a start without etcd, so it is logged, not fatal. */
static void cache_write(struct fleet *f, const struct sl_client_cfg *list, size_t n, int64_t rev)
{
	struct strbuf b = {0};
	int ret;

	fleet_cache_format(list, n, f->pool_text, rev, &b);
	ret = b.oom ? -ENOMEM : file_write_atomic(f->cache_path, b.s, b.len, 0600);
	free(b.s);
	if (ret)
		log_warn("registry: cache %s: %s (a start without etcd will not find these clients)", f->cache_path,
			 strerror(-ret));
}

/* etcd unreachable at start: the last good read, with the file clients it confirms. */
static int cache_start(struct fleet *f, struct sl_client_cfg **list, size_t *n, const char *why_in, struct sl_err *e)
{
	char why[sizeof(e->msg)]; /* why_in is e->msg itself, which the messages below overwrite */
	struct sl_client_cfg *cache;
	struct sl_err ce = {{0}};
	size_t n_cache, len = 0;
	unsigned left_out;
	int64_t rev = 0;
	char *text = NULL;
	FILE *fp;
	int ret;

	snprintf(why, sizeof(why), "%s", why_in);
	fp = fopen(f->cache_path, "re");
	if (!fp)
		return sl_errf(e, -EIO, "%s, and no earlier read is cached (%s: %s)", why, f->cache_path,
			       strerror(errno));
	{
		char buf[4096];
		size_t r;
		struct strbuf b = {0};
		while ((r = fread(buf, 1, sizeof(buf), fp)) > 0 && !b.oom)
			if (!sb_reserve(&b, b.len + r + 1)) {
				memcpy(b.s + b.len, buf, r);
				b.len += r;
			}
		fclose(fp);
		if (b.oom) {
			free(b.s);
			return sl_errf(e, -ENOMEM, "registry: out of memory reading %s", f->cache_path);
		}
		text = b.s;
		len = b.len;
	}
	ret = fleet_cache_parse(text ? text : "", len, f->pool_text, &cache, &n_cache, &rev, &ce);
	free(text);
	if (ret)
		return sl_errf(e, ret, "%s, and the cache is unusable (%s: %s)", why, f->cache_path, ce.msg);
	ret = fleet_cache_merge(cache, n_cache, f->file, f->n_file, list, n, &left_out);
	free(cache);
	if (ret)
		return sl_errf(e, ret, "registry: out of memory");
	log_warn("%s: serving %zu clients from %s (revision %" PRId64 ") until etcd answers", why, *n,
		 f->cache_path, rev);
	if (left_out)
		log_warn("registry: %u file clients left out until etcd confirms their leases", left_out);
	f->from_cache = true;
	f->st.connected = false;
	f->st.revision = rev;
	f->st.clients = *n;
	snprintf(f->st.last_error, sizeof(f->st.last_error), "%s", why);
	return 0;
}

static struct sl_client_cfg *copy_clients(const struct sl_client_cfg *c, size_t n)
{
	struct sl_client_cfg *d = calloc(n + 1, sizeof(*d));
	if (d && n)
		memcpy(d, c, n * sizeof(*d));
	return d;
}

int fleet_init(struct fleet *f, const struct sl_config *cfg, struct sl_client_cfg **list, size_t *n,
	       struct sl_err *e)
{
	struct fleet_sync_stats st;
	struct etcd c;
	int64_t rev;
	int ret;

	memset(f, 0, sizeof(*f));
	f->wake_fd = f->notify_fd = -1;
	f->url = &cfg->registry;
	f->pool = cfg->address;
	f->pool6 = cfg->address6;
	snprintf(f->path, sizeof(f->path), "%s", cfg->path);
	snprintf(f->ca_file, sizeof(f->ca_file), "%s", cfg->registry_ca_file);
	snprintf(f->cert_file, sizeof(f->cert_file), "%s", cfg->registry_cert_file);
	snprintf(f->key_file, sizeof(f->key_file), "%s", cfg->registry_key_file);
	if ((size_t)snprintf(f->cache_path, sizeof(f->cache_path), "%.*s/%s.registry", SL_PATH_MAX - IFNAMSIZ - 16,
			     cfg->state_dir, cfg->ifname) >= sizeof(f->cache_path))
		return sl_errf(e, -ENAMETOOLONG, "registry: StateDir too long for %s.registry", cfg->ifname);
	fleet_pool_text(&cfg->address, &cfg->address6, f->pool_text, sizeof(f->pool_text));
	pthread_mutex_init(&f->mu, NULL);
	f->file = copy_clients(cfg->clients, cfg->n_clients);
	f->n_file = cfg->n_clients;
	{
		uint8_t pub[SL_KEY_LEN];
		if (key_public(cfg->private_key, pub) || fleet_sessions_init(&f->sess, pub, cfg->ifname, e))
			return sl_errf(e, -EINVAL, "registry: cannot derive this gateway's public key");
	}
	f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!f->file || f->wake_fd < 0 || f->notify_fd < 0)
		return sl_errf(e, -ENOMEM, "registry: out of memory or file descriptors");
	ret = etcd_open(&c, f->url, f->ca_file, e);
	if (ret)
		return ret;
	if ((ret = etcd_client_cert(&c, f->cert_file, f->key_file, e))) {
		etcd_close(&c);
		return ret; /* a missing or readable key is a configuration error, never a "cannot reach etcd" */
	}
	ret = fleet_sync(&c, f->url->prefix, &f->pool, &f->pool6, f->path, f->file, f->n_file, true, list, n, &rev, &st, e);
	etcd_close(&c);
	if (ret == -EIO)
		return cache_start(f, list, n, e->msg, e);
	if (ret)
		return ret;
	cache_write(f, *list, *n, rev);
	f->cur = copy_clients(*list, *n); /* NULL (out of memory): the first event makes a full read */
	f->n_cur = *n;
	f->have_cur = f->cur != NULL;
	f->cur_refused = st.refused;
	f->st.connected = true;
	f->st.syncs = 1;
	f->st.revision = rev;
	f->st.clients = *n;
	f->st.leases_created = st.leased;
	f->st.refused = st.refused;
	log_info("registry %s%s: %zu clients (%u from the registry, %u leases created, %u refused), revision %" PRId64,
		 f->url->endpoint[0], f->url->prefix, *n, st.from_registry, st.leased, st.refused, rev);
	return 0;
}

/* The watch's stream: one JSON message per line. Messages with events are queued whole for the registry
 * thread to apply (one hand-over per message); a cancel (compaction among others), a message too long or
 * anything unreadable means "read the registry again" (`full`), which is always right. */
struct watch {
	char *buf;
	size_t len;
	bool full;
	struct etcd_watch_msg *q;
	size_t n_q;
	uint64_t reported; /* messages with events, and cancels */
};

static void watch_queue_free(struct watch *w)
{
	for (size_t i = 0; i < w->n_q; i++)
		etcd_watch_msg_free(&w->q[i]);
	free(w->q);
	w->q = NULL;
	w->n_q = 0;
}

static size_t on_watch(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watch *w = arg;
	size_t n = size * nmemb;
	char *nl;

	if (w->len + n + 1 > FLEET_WATCH_LINE_MAX) {
		w->full = true;
		w->len = 0;
		return n;
	}
	char *nb = realloc(w->buf, w->len + n + 1);
	if (!nb) {
		w->full = true;
		return n;
	}
	w->buf = nb;
	memcpy(w->buf + w->len, data, n);
	w->len += n;
	w->buf[w->len] = 0;
	while ((nl = memchr(w->buf, '\n', w->len))) {
		size_t l = (size_t)(nl - w->buf);
		struct etcd_watch_msg msg;
		struct sl_err e = {{0}};

		if (l && !etcd_parse_watch_msg(w->buf, l, &msg, &e)) {
			struct etcd_watch_msg *q;
			if (msg.canceled || msg.compact_revision > 0) {
				w->full = true;
				w->reported++;
				etcd_watch_msg_free(&msg);
			} else if (msg.n_ev && !w->full && (q = realloc(w->q, (w->n_q + 1) * sizeof(*q)))) {
				w->q = q;
				w->q[w->n_q++] = msg;
				w->reported++;
			} else {
				if (msg.n_ev) {
					w->full = true; /* out of memory, or already reading again */
					w->reported++;
				}
				etcd_watch_msg_free(&msg);
			}
		} else if (l) {
			log_warn("registry: watch: %s; reading the registry again", e.msg);
			w->full = true;
		}
		memmove(w->buf, nl + 1, w->len - l - 1);
		w->len -= l + 1;
		w->buf[w->len] = 0;
	}
	return n;
}

enum watch_end {
	WATCH_STOP,    /* the gateway stops */
	WATCH_CHANGED, /* read the registry again */
	WATCH_BROKEN,  /* etcd went away: back off, then read again */
};

/* The control thread's newest session set, then the keepalive and the writes that are due (fleet_sessions.h).
 * Runs between the watch's reads: each request is bounded by the client's timeout. */
static void sessions_tick(struct fleet *f, struct etcd *c)
{
	struct sl_err e = {{0}};
	struct fleet_session *s = NULL;
	uint64_t lost = f->sess.leases_lost;
	size_t n = 0;
	bool got;
	int ret;

	pthread_mutex_lock(&f->mu);
	got = f->sess_offered;
	if (got) {
		s = f->sess_offer;
		n = f->n_sess_offer;
		f->sess_offer = NULL;
		f->n_sess_offer = 0;
		f->sess_offered = false;
	}
	pthread_mutex_unlock(&f->mu);
	if (got)
		fleet_sessions_want(&f->sess, s, n);
	ret = fleet_sessions_tick(&f->sess, c, f->url->prefix, now_ms(), &e);
	if (ret && f->sess.failures == 1)
		log_warn("%s (retrying every %u ms)", e.msg, FLEET_SESSION_RETRY_MS);
	if (f->sess.leases_lost != lost)
		log_warn("registry: the sessions' lease expired (etcd unreachable for %d s or more); writing them again",
			 FLEET_SESSION_TTL_S);
	pthread_mutex_lock(&f->mu);
	f->st.sessions = f->sess.n_pub;
	f->st.session_writes = f->sess.writes;
	f->st.session_failures = f->sess.failures;
	pthread_mutex_unlock(&f->mu);
}

/* One watch message's events applied to the thread's list and handed over as one new list. 0, or -errno
 * when only a full read can tell (the caller reads the registry again; nothing was handed over). */
static int apply_msg(struct fleet *f, struct etcd *c, const struct etcd_watch_msg *m)
{
	struct sl_client_cfg *file = NULL, *list = NULL, *give = NULL;
	struct fleet_sync_stats st = {0};
	struct sl_err e = {{0}};
	size_t n_file = 0, n = 0;
	bool file_changed;
	int ret = 0;

	if (!f->have_cur)
		return -EAGAIN;
	pthread_mutex_lock(&f->mu);
	file_changed = f->file_changed;
	if (!file_changed) {
		file = copy_clients(f->file, f->n_file);
		n_file = f->n_file;
	}
	pthread_mutex_unlock(&f->mu);
	if (file_changed)
		return -EAGAIN; /* a reload: the full read merges the new file */
	list = copy_clients(f->cur, f->n_cur);
	n = f->n_cur;
	if (!file || !list)
		ret = -ENOMEM;
	for (size_t i = 0; i < m->n_ev && !ret; i++) {
		const struct etcd_event *ev = &m->ev[i];
		struct sl_client_cfg cl;
		int k = fleet_event_prepare(f->url->prefix, ev->del, ev->key, ev->value, file, n_file, list, n,
					    f->cur_refused, &cl);

		if (k == FLEET_EV_PUT) {
			ret = fleet_lease_client(c, f->url->prefix, &f->pool, &f->pool6, list, n, &cl, &st, &e);
			if (ret > 0)
				ret = -ENOSPC; /* left out: the full read counts and logs it */
			else if (ret)
				log_warn("registry: %s: %s; reading the registry again", ev->key, e.msg);
			else
				ret = fleet_list_put(&list, &n, &cl);
		} else if (k == FLEET_EV_DELETE) {
			fleet_list_del(list, &n, cl.name);
		} else if (k < 0) {
			ret = k;
		}
		if (ret)
			log_info("registry: the change of %s is not applied alone (%s); reading the registry again",
				 ev->key, strerror(-ret));
		OPENSSL_cleanse(&cl, sizeof(cl));
	}
	free(file);
	if (!ret && !(give = copy_clients(list, n)))
		ret = -ENOMEM;
	if (ret) {
		free(list);
		return ret;
	}
	cache_write(f, list, n, m->rev);
	free(f->cur);
	f->cur = list;
	f->n_cur = n;
	pthread_mutex_lock(&f->mu);
	f->st.incremental += m->n_ev;
	if (m->rev > 0)
		f->st.revision = m->rev;
	f->st.clients = n;
	f->st.leases_created += st.leased;
	free(f->ready);
	f->ready = give;
	f->n_ready = n;
	pthread_mutex_unlock(&f->mu);
	wake(f->notify_fd);
	return 0;
}

/* Watches PREFIX/clients/ from rev + 1 on the endpoint that answered last, until something happens. */
static enum watch_end watch_once(struct fleet *f, struct etcd *c, int64_t rev)
{
	char key[FLEET_KEY_MAX], end[FLEET_KEY_MAX], url[ETCD_ENDPOINT_MAX + 32], base[ETCD_ENDPOINT_MAX + 16];
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	struct watch w = {0};
	enum watch_end out = WATCH_BROKEN;
	CURLM *m = curl_multi_init();
	CURL *h = curl_easy_init();
	char *body;
	int running = 1;

	snprintf(key, sizeof(key), "%s/clients/", f->url->prefix);
	etcd_prefix_end(key, end, sizeof(end));
	body = etcd_req_watch(key, end, rev + 1);
	if (!m || !h || !hdr || !body)
		goto out;
	etcd_base_url(c, c->cur, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/v3/watch", base);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_watch);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ETCD_TIMEOUT_MS);
	etcd_setopt_common(c, h);
	/* a silent peer (etcd frozen, a partition): TCP keepalives find out, the loop below then reads again */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 2L);
	curl_multi_add_handle(m, h);
	while (running) {
		struct curl_waitfd wf = {.fd = f->wake_fd, .events = CURL_WAIT_POLLIN};
		int nfds = 0;

		sessions_tick(f, c);
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		for (size_t i = 0; i < w.n_q && !w.full; i++)
			if (apply_msg(f, c, &w.q[i]))
				w.full = true;
		watch_queue_free(&w);
		if (w.reported) {
			pthread_mutex_lock(&f->mu);
			f->st.watch_events += w.reported;
			pthread_mutex_unlock(&f->mu);
			w.reported = 0;
		}
		if (w.full) {
			out = WATCH_CHANGED;
			break;
		}
		if (!running)
			break;
		if (curl_multi_poll(m, &wf, 1, 500, &nfds) != CURLM_OK)
			break;
		if (wf.revents) {
			bool file_changed;
			drain(f->wake_fd);
			if (atomic_load(&f->stop)) {
				out = WATCH_STOP;
				break;
			}
			pthread_mutex_lock(&f->mu);
			file_changed = f->file_changed;
			pthread_mutex_unlock(&f->mu);
			if (file_changed) {
				out = WATCH_CHANGED; /* new file clients: read again */
				break;
			}
			/* else new sessions: written at the top of the loop */
		}
	}
	if (atomic_load(&f->stop))
		out = WATCH_STOP;
	pthread_mutex_lock(&f->mu);
	f->st.watch_events += w.reported;
	pthread_mutex_unlock(&f->mu);
	curl_multi_remove_handle(m, h);
out:
	if (h)
		curl_easy_cleanup(h);
	if (m)
		curl_multi_cleanup(m);
	curl_slist_free_all(hdr);
	free(body);
	free(w.buf);
	watch_queue_free(&w);
	return out;
}

/* Sleeps ms, or less when the gateway stops or the file's clients change (new session sets do not cut it
 * short: they wait for etcd like everything else); false when the gateway stops. */
static bool backoff_wait(struct fleet *f, unsigned ms)
{
	uint64_t end = now_ms() + ms, t;

	while (!atomic_load(&f->stop) && (t = now_ms()) < end) {
		struct pollfd p = {.fd = f->wake_fd, .events = POLLIN};
		bool file_changed;

		if (poll(&p, 1, (int)(end - t)) > 0)
			drain(f->wake_fd);
		pthread_mutex_lock(&f->mu);
		file_changed = f->file_changed;
		pthread_mutex_unlock(&f->mu);
		if (file_changed)
			break;
	}
	return !atomic_load(&f->stop);
}

/* One read of the registry; publishes the list. 0, or -errno after recording the failure. */
static int resync(struct fleet *f, struct etcd *c, int64_t *rev)
{
	struct sl_client_cfg *file, *list;
	struct fleet_sync_stats st;
	struct sl_err e = {{0}};
	size_t n_file, n;
	bool was_connected;
	int ret;

	pthread_mutex_lock(&f->mu);
	file = copy_clients(f->file, f->n_file);
	n_file = f->n_file;
	f->file_changed = false;
	pthread_mutex_unlock(&f->mu);
	if (!file)
		return -ENOMEM;
	ret = fleet_sync(c, f->url->prefix, &f->pool, &f->pool6, f->path, file, n_file, false, &list, &n, rev, &st, &e);
	free(file);
	if (!ret) {
		cache_write(f, list, n, *rev); /* before it is handed over: the file I/O holds no lock */
		free(f->cur); /* the thread's own copy, which the watch's events edit */
		f->cur = copy_clients(list, n);
		f->n_cur = n;
		f->have_cur = f->cur != NULL;
		f->cur_refused = st.refused;
	}
	pthread_mutex_lock(&f->mu);
	was_connected = f->st.connected;
	if (ret) {
		f->st.sync_failures++;
		f->st.connected = ret != -EIO;
		snprintf(f->st.last_error, sizeof(f->st.last_error), "%s", e.msg);
	} else {
		f->st.connected = true;
		f->st.syncs++;
		f->st.revision = *rev;
		f->st.clients = n;
		f->st.leases_created += st.leased;
		f->st.refused = st.refused;
		free(f->ready);
		f->ready = list;
		f->n_ready = n;
	}
	pthread_mutex_unlock(&f->mu);
	if (ret && was_connected)
		log_err("%s (serving the %s clients known; retrying with backoff)", e.msg, "registry's");
	else if (!ret && !was_connected)
		log_info("registry %s%s: reachable again, revision %" PRId64, f->url->endpoint[c->cur], f->url->prefix,
			 *rev);
	if (!ret) {
		if (st.refused)
			log_warn("registry: %u client records left out (bad record, address taken, full pool or a "
				 "name or key the file already has)", st.refused);
		wake(f->notify_fd);
	}
	return ret;
}

static void *fleet_main(void *arg)
{
	struct fleet *f = arg;
	unsigned backoff = 0;
	struct etcd c;
	int64_t rev;
	struct sl_err e = {{0}};

	if (etcd_open(&c, f->url, f->ca_file, &e) || etcd_client_cert(&c, f->cert_file, f->key_file, &e)) {
		log_err("%s: the registry is not watched", e.msg);
		return NULL;
	}
	pthread_mutex_lock(&f->mu);
	rev = f->st.revision;
	pthread_mutex_unlock(&f->mu);
	/* started from the cache: read the registry (with backoff) before anything is watched */
	while (f->from_cache && !atomic_load(&f->stop) && resync(f, &c, &rev)) {
		backoff = backoff ? (backoff * 2 > FLEET_BACKOFF_MAX_MS ? FLEET_BACKOFF_MAX_MS : backoff * 2)
				  : FLEET_BACKOFF_MIN_MS;
		if (!backoff_wait(f, backoff - (unsigned)(random() % (backoff / 4 + 1))))
			break;
	}
	backoff = 0;
	while (!atomic_load(&f->stop)) {
		enum watch_end we = watch_once(f, &c, rev);

		if (we == WATCH_STOP)
			break;
		if (we == WATCH_BROKEN) {
			/* etcd went away or the endpoint refused: try the next one after a pause */
			c.cur = (c.cur + 1) % f->url->n_endpoints;
			backoff = FLEET_BACKOFF_MIN_MS;
			if (!backoff_wait(f, backoff))
				break;
		}
		while (!atomic_load(&f->stop) && resync(f, &c, &rev)) {
			backoff = backoff ? (backoff * 2 > FLEET_BACKOFF_MAX_MS ? FLEET_BACKOFF_MAX_MS : backoff * 2)
					  : FLEET_BACKOFF_MIN_MS;
			/* jitter: gateways of one fleet do not all come back in the same millisecond */
			if (!backoff_wait(f, backoff - (unsigned)(random() % (backoff / 4 + 1))))
				break;
		}
		backoff = 0;
	}
	/* a clean stop: the sessions go with their lease at once, within a short bound */
	c.timeout_ms = 500;
	if (fleet_sessions_revoke(&f->sess, &c, &e))
		log_warn("registry: sessions: %s (they vanish from etcd within %d s)", e.msg, FLEET_SESSION_TTL_S);
	etcd_close(&c);
	return NULL;
}

int fleet_start(struct fleet *f, struct sl_err *e)
{
	int ret = pthread_create(&f->th, NULL, fleet_main, f);

	if (ret)
		return sl_errf(e, -ret, "registry: thread: %s", strerror(ret));
	f->th_started = true;
	return 0;
}

bool fleet_take(struct fleet *f, struct sl_client_cfg **list, size_t *n)
{
	bool got;

	drain(f->notify_fd);
	pthread_mutex_lock(&f->mu);
	got = f->ready != NULL;
	*list = f->ready;
	*n = f->n_ready;
	f->ready = NULL;
	f->n_ready = 0;
	pthread_mutex_unlock(&f->mu);
	return got;
}

int fleet_set_file_clients(struct fleet *f, const struct sl_client_cfg *c, size_t n)
{
	struct sl_client_cfg *d = copy_clients(c, n);

	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&f->mu);
	free(f->file);
	f->file = d;
	f->n_file = n;
	f->file_changed = true;
	pthread_mutex_unlock(&f->mu);
	wake(f->wake_fd);
	return 0;
}

void fleet_status(struct fleet *f, struct fleet_status *out)
{
	pthread_mutex_lock(&f->mu);
	*out = f->st;
	pthread_mutex_unlock(&f->mu);
}

void fleet_offer_sessions(struct fleet *f, struct fleet_session *s, size_t n)
{
	pthread_mutex_lock(&f->mu);
	free(f->sess_offer); /* not taken yet: the newer set replaces it */
	f->sess_offer = s;
	f->n_sess_offer = n;
	f->sess_offered = true;
	pthread_mutex_unlock(&f->mu);
	wake(f->wake_fd);
}

void fleet_close(struct fleet *f)
{
	if (!f->url)
		return; /* never set up */
	if (f->th_started) {
		atomic_store(&f->stop, true);
		wake(f->wake_fd);
		pthread_join(f->th, NULL);
		f->th_started = false;
	}
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	if (f->notify_fd >= 0)
		close(f->notify_fd);
	free(f->file);
	free(f->ready);
	free(f->cur);
	free(f->sess_offer);
	fleet_sessions_free(&f->sess);
	pthread_mutex_destroy(&f->mu);
	f->url = NULL;
}
