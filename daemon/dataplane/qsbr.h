/* qsbr: quiescent-state-based reclamation — how the control thread frees what data workers may still be
 * reading, without a lock or a reference count on the per-packet path.
 *
 * A worker passes a quiescent point each time it is about to sleep in epoll_wait (qsbr_quiescent): it holds
 * nothing from before, and records the epoch it read there. The control thread unlinks an object (lookups
 * that come later cannot find it; a stream is also taken out of its worker's epoll set first), then retires
 * it: the epoch advances to R and the object waits in a FIFO until every worker has recorded an epoch >= R
 * (or takes no part: not started, or ended — qsbr_gone), and is then freed by qsbr_reclaim.
 *
 * Why only that point, and not "asleep workers hold nothing": epoll_wait hands out pointers itself (a
 * stream's loop_io in data.ptr). A worker that went to sleep before the retire can return from epoll_wait
 * with the stream's event — queued before the control thread's EPOLL_CTL_DEL — and use it after the free;
 * recording the epoch when it wakes up would not help either (the event came before). A worker that recorded
 * an epoch >= R has read the control thread's epoch increment (acquire on the worker, the seq_cst
 * fetch_add on the control thread, which comes after the unlinking stores and after the EPOLL_CTL_DEL
 * returned): every lookup it makes later misses the object, and its next epoll_wait begins after the DEL,
 * so the kernel (the epoll set's lock) cannot return that fd any more; everything it did before the point
 * is ordered before its release store, which the control thread reads with acquire before it frees.
 * A stale epoch read by the worker only holds reclamation back, never lets it go early.
 *
 * A worker idle since before a retire would hold it back for ever, so the control thread nudges it: a
 * per-worker eventfd in its epoll set (qsbr_set_nudge; the handler only reads it) is written by
 * qsbr_reclaim (or by a qsbr_passed that says no) when that worker's recorded epoch is older than what
 * waits and no nudge of it is outstanding (the nudge records the epoch it was sent at, and the worker's
 * next point records at least that: the eventfd write and read order the two): one nudge per retire at
 * most, no busy loop, and with nothing retired nothing is written — idle stays idle.
 * Cost to a worker: one load and one store per wake-up, no fence. Nothing waits: the control thread reclaims
 * when it next runs (every loop turn). */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_MAX_WORKERS 8

/* Relaxed loads and stores of fields one thread writes while others read (times, flags): no tearing. */
#define SL_RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define SL_WR(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* A counter only its own thread writes, read by the control thread when it sums: a plain load, add and
 * store (no locked instruction), yet never a torn or undefined read. */
#define SL_ADD(x, v) SL_WR((x), SL_RD(x) + (v))
#define SL_SUB(x, v) SL_WR((x), SL_RD(x) - (v))
#define QSBR_GONE UINT64_MAX /* seen: takes no part (not started yet, or ended) */

struct qsbr_node {
	struct qsbr_node *next;
	uint64_t epoch;
	void (*free_fn)(struct qsbr_node *n);
};

struct qsbr {
	_Atomic uint64_t epoch;
	unsigned n; /* workers taking part */
	struct {
		_Atomic uint64_t seen; /* epoch at its last quiescent point, or QSBR_GONE */
		char pad[64 - sizeof(uint64_t)];
	} slot[SL_MAX_WORKERS] __attribute__((aligned(64)));
	/* control thread only: each worker's nudge eventfd (-1: none) and the epoch of its last nudge */
	struct {
		int fd;
		uint64_t at;
	} nudge[SL_MAX_WORKERS];
	uint64_t nudges; /* written in all (tests, diagnostics) */
	struct qsbr_node *head, **tail; /* retired, oldest first */
	uint64_t newest;                /* the epoch of the last one retired */
	unsigned pending;
};

void qsbr_init(struct qsbr *q, unsigned workers);
/* Control thread, before worker w runs: the eventfd in w's epoll set that a nudge writes (-1: none). */
void qsbr_set_nudge(struct qsbr *q, unsigned w, int fd);
/* Worker w: holds no shared object any more (before epoll_wait); what it reads from here on, it found after
 * this. */
static inline void qsbr_quiescent(struct qsbr *q, unsigned w)
{
	atomic_store_explicit(&q->slot[w].seen, atomic_load_explicit(&q->epoch, memory_order_acquire),
			      memory_order_release);
}
/* Worker w: ends, holding nothing: no longer waited for. */
static inline void qsbr_gone(struct qsbr *q, unsigned w)
{
	atomic_store_explicit(&q->slot[w].seen, QSBR_GONE, memory_order_release);
}
/* Control thread: n was unlinked from everything a worker can reach (hash tables, lists, epoll sets);
 * free_fn(n) runs once no worker can hold it. */
void qsbr_retire(struct qsbr *q, struct qsbr_node *n, void (*free_fn)(struct qsbr_node *n));
/* Control thread: starts a new epoch and returns it (for qsbr_passed). */
uint64_t qsbr_advance(struct qsbr *q);
/* Control thread: has every worker passed a quiescent point since `epoch` began? When not, nudges those
 * that have not (once). */
bool qsbr_passed(struct qsbr *q, uint64_t epoch);
/* Control thread: frees what is safe to free now and nudges the workers the rest waits for. Returns how many
 * are still waiting. */
unsigned qsbr_reclaim(struct qsbr *q);
/* After the workers stopped (or with none): frees everything retired. */
void qsbr_drain(struct qsbr *q);
