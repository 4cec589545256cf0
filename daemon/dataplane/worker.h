/* worker: the data plane's threads. One worker per core (SLUICE_WORKERS overrides, 1..SL_MAX_WORKERS), each
 * with its own TUN queue (IFF_MULTI_QUEUE: the kernel sends a flow to the queue that last wrote its other
 * direction, else by its hash — so a flow stays on one worker and is never reordered; a client's flows all
 * follow the worker that receives its datagrams, see README "Performance"), its own batches, offload state
 * and counters, and its own epoll set; on the gateway also its own UDP socket (SO_REUSEPORT: the kernel keeps
 * one client address:port on one socket). The control thread (TLS, timers, control socket, netlink) never runs packets: a worker's
 * time slice is forwarding only. Workers sleep in epoll_wait when idle and pass a quiescent point of
 * reclamation (qsbr.h) before each sleep; the control thread may end a sleep that holds reclamation back
 * (each worker's nudge eventfd). Counters are per worker and summed when read. */
#pragma once
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include "daemon/common/errmsg.h"
#include "daemon/dataplane/batch.h"
#include "daemon/dataplane/icmp.h"
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/qsbr.h"
#include "daemon/dataplane/tunio.h"
#include "daemon/dataplane/udpio.h"
#include "daemon/loop.h"

#define DP_OWED_MAX 1024u /* passive keepalives a worker may have pending (gw_path.c); more: the oldest decided */

struct dp_worker {
	unsigned idx; /* its counter slot in every session (cipher contexts: a per-thread cache, keystate.h) */
	void *owner;  /* struct gw or struct cl */
	struct qsbr *q;
	struct loop_io tun_io, udp_io, stop_io; /* fd -1: not watched by this worker */
	struct loop_io nudge_io;                /* an eventfd the control thread writes to end a sleep (qsbr.h) */
	int epfd;
	struct dp_tun t;
	struct dp_udp u;
	struct dp_batch *rx, *tx;
	struct dp_stats st;
	struct dp_peer_counters pc; /* client: this worker's share of the session's counters */
	uint8_t ka_buf[SLUICE_OVERHEAD + 8];
	/* gateway (gw_path.c): during one UDP wake-up, keepalives sealed into tx[0..n_ka) and sent in one sendmmsg;
	 * sessions owed a passive keepalive, by id and when, oldest first: decided when due (see due_ms) */
	unsigned n_ka;
	unsigned owed_head, owed_n;
	struct dp_owed {
		uint32_t id;
		uint64_t ms;
	} owed[DP_OWED_MAX];
	/* 0: nothing due; else the worker's epoll_wait returns by then (a timeout, no timer fd) and on_due runs */
	uint64_t due_ms;
	void (*on_due)(struct dp_worker *w, uint64_t now);
	uint8_t icmp_buf[DP_VNET_HDR_LEN + DP_ICMP_MAX]; /* "fragmentation needed" answers (icmp.h) */
	uint64_t icmp_window_ms;                          /* their rate: start of the window … */
	unsigned icmp_in_window;                          /* … and the answers sent in it */
	pthread_t th;
	bool started;
	bool fatal; /* dp_worker_fatal was called: the thread ends */
} __attribute__((aligned(64)));

/* The worker's epoll_wait timeout in ms for due_ms at now: -1 (none) when nothing is due, 0 when it is due
 * already, else the wait until then, at most INT_MAX (never early: now_ms truncates, epoll rounds up). */
static inline int dp_due_timeout(uint64_t due_ms, uint64_t now)
{
	if (!due_ms)
		return -1;
	if (now >= due_ms)
		return 0;
	return due_ms - now > INT_MAX ? INT_MAX : (int)(due_ms - now);
}

/* How many workers to run: SLUICE_WORKERS if set (1..SL_MAX_WORKERS), else the CPUs we may run on. 0 (and
 * a logged error) when SLUICE_WORKERS is not such a number. */
unsigned dp_workers_wanted(void);
/* From worker w's thread: an error it cannot go on from (`what` failed with err). Logs it, ends the thread
 * after the current handler and stops the daemon (SIGTERM; it then exits with status 1). */
void dp_worker_fatal(struct dp_worker *w, const char *what, int err);
/* A worker called dp_worker_fatal: the daemon exits non-zero. */
bool dp_workers_faulted(void);
/* n workers and the control thread's slot after them (n + 1 in all), set up with no fd yet, their handlers
 * and reclamation domain; free() it. NULL when out of memory. */
struct dp_worker *dp_workers_new(unsigned n, void *owner, struct qsbr *q, loop_io_fn on_tun, loop_io_fn on_udp);
/* A worker's nudge eventfd has been written: reads it (the wake-up is the point). */
void dp_worker_on_nudge(struct loop_io *io, uint32_t events);
/* Starts the n workers' threads, each watching its tun_io / udp_io (those with fd >= 0) and stopfd. On
 * failure those started keep running until dp_workers_stop. */
int dp_workers_start(struct dp_worker *w, unsigned n, int stopfd, struct sl_err *e);
/* Tells every started worker to stop (stopfd is an eventfd they all watch) and joins them. */
void dp_workers_stop(struct dp_worker *w, unsigned n, int stopfd);
/* Frees a worker's buffers and closes its TUN queue (and its UDP socket if `own_udp`). */
void dp_worker_free(struct dp_worker *w, bool own_udp);
/* Sums the interface counters / the session counters of n slots. */
void dp_stats_sum(const struct dp_worker *w, unsigned n, struct dp_stats *out);
void dp_peer_sum(const struct dp_worker *w, unsigned n, struct dp_peer_counters *out);
