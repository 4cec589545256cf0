/* worker: data-plane threads (see worker.h). */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/dataplane/worker.h"
#include "daemon/log.h"

#define WORKER_STACK (256u * 1024u)

static atomic_bool faulted;

bool dp_workers_faulted(void)
{
	return atomic_load(&faulted);
}

unsigned dp_workers_wanted(void)
{
	const char *env = getenv("SLUICE_WORKERS");
	long n;

	if (env && *env) {
		char *end;
		n = strtol(env, &end, 10);
		if (*end || n < 1 || n > SL_MAX_WORKERS) {
			log_err("SLUICE_WORKERS=%s: not a number of data workers in 1..%d", env, SL_MAX_WORKERS);
			return 0;
		}
		return (unsigned)n;
	}
	{
		cpu_set_t set;
		n = sched_getaffinity(0, sizeof(set), &set) ? sysconf(_SC_NPROCESSORS_ONLN) : CPU_COUNT(&set);
	}
	return n < 1 ? 1u : n > SL_MAX_WORKERS ? SL_MAX_WORKERS : (unsigned)n;
}

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct epoll_event ev[4];
	char name[16];

	/* sluiced-w0, …: per-thread CPU and wake-ups in top -H, ps -L and /proc/PID/task/ (scripts/bench) */
	snprintf(name, sizeof(name), "sluiced-w%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		int n;

		qsbr_quiescent(w->q, w->idx); /* the only one: what epoll_wait returns may be retired after this */
		/* something due then: sleep no longer; nothing: idle is idle */
		n = epoll_wait(w->epfd, ev, 4, dp_due_timeout(w->due_ms, w->due_ms ? now_ms() : 0));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dp_worker_fatal(w, "epoll_wait", errno); /* cannot happen with a valid epoll set */
			break;
		}
		for (int i = 0; i < n && !w->fatal; i++) {
			struct loop_io *io = ev[i].data.ptr;
			if (io == &w->stop_io) {
				qsbr_gone(w->q, w->idx);
				return NULL;
			}
			io->fn(io, ev[i].events);
		}
		if (w->fatal)
			break;
		if (w->due_ms) {
			uint64_t now = now_ms();
			if (now >= w->due_ms)
				w->on_due(w, now);
		}
	}
	qsbr_gone(w->q, w->idx);
	return NULL;
}

void dp_worker_fatal(struct dp_worker *w, const char *what, int err)
{
	/* a worker that stopped alone would black-hole its flows: the whole daemon stops (exit status 1;
	 * systemd restarts it, and the start-up makes everything anew) */
	log_err("worker %u: %s: %s; stopping the daemon", w->idx, what, strerror(err));
	w->fatal = true;
	atomic_store(&faulted, true);
	kill(getpid(), SIGTERM);
}

/* The control thread wants this worker past a quiescent point (qsbr.h): reading the eventfd is all; the
 * point comes before the next epoll_wait. */
void dp_worker_on_nudge(struct loop_io *io, uint32_t events)
{
	eventfd_t v;

	(void)events;
	(void)eventfd_read(io->fd, &v); /* EAGAIN: read by an earlier wake-up already, as good */
}

static int watch(struct dp_worker *w, struct loop_io *io)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = io};

	if (io->fd < 0)
		return 0;
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->fd, &ev) ? -errno : 0;
}

struct dp_worker *dp_workers_new(unsigned n, void *owner, struct qsbr *q, loop_io_fn on_tun, loop_io_fn on_udp)
{
	struct dp_worker *w = aligned_alloc(64, (n + 1) * sizeof(*w));

	if (!w)
		return NULL;
	memset(w, 0, (n + 1) * sizeof(*w));
	for (unsigned i = 0; i <= n; i++) {
		w[i].idx = i;
		w[i].owner = owner;
		w[i].q = q;
		w[i].epfd = w[i].tun_io.fd = w[i].udp_io.fd = w[i].nudge_io.fd = -1;
		w[i].nudge_io.fn = dp_worker_on_nudge;
		w[i].tun_io.fn = on_tun;
		w[i].udp_io.fn = on_udp;
	}
	return w;
}

static int worker_start(struct dp_worker *w, int stopfd, struct sl_err *e)
{
	pthread_attr_t attr;
	int ret;

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return sl_errf(e, -errno, "worker %u: epoll: %s", w->idx, strerror(errno));
	w->stop_io.fd = stopfd;
	w->nudge_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->nudge_io.fd < 0)
		return sl_errf(e, -errno, "worker %u: eventfd: %s", w->idx, strerror(errno));
	if ((ret = watch(w, &w->tun_io)) || (ret = watch(w, &w->udp_io)) || (ret = watch(w, &w->stop_io)) ||
	    (ret = watch(w, &w->nudge_io)))
		return sl_errf(e, ret, "worker %u: epoll_ctl: %s", w->idx, strerror(-ret));
	qsbr_set_nudge(w->q, w->idx, w->nudge_io.fd);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	ret = pthread_create(&w->th, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (ret)
		return sl_errf(e, -ret, "worker %u: cannot start a thread: %s", w->idx, strerror(ret));
	w->started = true;
	return 0;
}

int dp_workers_start(struct dp_worker *w, unsigned n, int stopfd, struct sl_err *e)
{
	for (unsigned i = 0; i < n; i++) {
		int ret = worker_start(&w[i], stopfd, e);
		if (ret)
			return ret;
	}
	return 0;
}

void dp_workers_stop(struct dp_worker *w, unsigned n, int stopfd)
{
	if (stopfd >= 0 && eventfd_write(stopfd, 1))
		log_err("workers: cannot signal stop: %s", strerror(errno));
	for (unsigned i = 0; i < n; i++) {
		if (w[i].started)
			pthread_join(w[i].th, NULL);
		w[i].started = false;
	}
}

void dp_worker_free(struct dp_worker *w, bool own_udp)
{
	if (w->epfd > 0)
		close(w->epfd);
	if (own_udp && w->udp_io.fd >= 0)
		close(w->udp_io.fd);
	if (w->tun_io.fd >= 0)
		close(w->tun_io.fd);
	if (w->nudge_io.fd >= 0)
		close(w->nudge_io.fd); /* the worker has ended: qsbr_gone, never nudged again */
	w->epfd = w->udp_io.fd = w->tun_io.fd = w->nudge_io.fd = -1;
	dp_udp_free(&w->u);
	dp_tun_free(&w->t);
	free(w->tx);
	free(w->rx);
	w->tx = w->rx = NULL;
}

/* The readers below run on the control thread while workers count: relaxed loads (see SL_ADD). */
static void lat_add(struct dp_latency *to, const struct dp_latency *from)
{
	uint64_t fs = SL_RD(from->samples), n = to->samples + fs;

	if (n)
		to->avg_ns = (to->avg_ns * to->samples + SL_RD(from->avg_ns) * fs) / n;
	to->samples = n;
	for (int i = 0; i < DP_LAT_BUCKETS; i++)
		to->hist[i] += SL_RD(from->hist[i]);
}

void dp_stats_sum(const struct dp_worker *w, unsigned n, struct dp_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++) {
		const struct dp_stats *s = &w[i].st;
		out->tun_rx_packets += SL_RD(s->tun_rx_packets);
		out->tun_rx_bytes += SL_RD(s->tun_rx_bytes);
		out->tun_tx_packets += SL_RD(s->tun_tx_packets);
		out->tun_tx_bytes += SL_RD(s->tun_tx_bytes);
		out->tun_rx_packets6 += SL_RD(s->tun_rx_packets6);
		out->tun_tx_packets6 += SL_RD(s->tun_tx_packets6);
		out->udp_rx_datagrams += SL_RD(s->udp_rx_datagrams);
		out->udp_rx_bytes += SL_RD(s->udp_rx_bytes);
		out->udp_tx_datagrams += SL_RD(s->udp_tx_datagrams);
		out->udp_tx_bytes += SL_RD(s->udp_tx_bytes);
		out->tcp_rx_datagrams += SL_RD(s->tcp_rx_datagrams);
		out->tcp_tx_datagrams += SL_RD(s->tcp_tx_datagrams);
		for (int d = 0; d < SL_DROP__COUNT; d++)
			out->drops[d] += SL_RD(s->drops[d]);
		out->icmp_too_big += SL_RD(s->icmp_too_big);
		lat_add(&out->lat_tun_udp, &s->lat_tun_udp);
		lat_add(&out->lat_udp_tun, &s->lat_udp_tun);
	}
}

void dp_peer_sum(const struct dp_worker *w, unsigned n, struct dp_peer_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++)
		counters_add(out, &w[i].pc);
}
