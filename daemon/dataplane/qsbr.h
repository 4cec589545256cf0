/* qsbr: quiescent-state-based reclamation — how the control thread frees what data workers may still be
 * reading, without a lock or a reference count on the per-packet path.
 *
 * A worker is "online" while it handles events and "offline" while it sleeps in epoll_wait; each time it
 * comes online it records the current epoch. The control thread unlinks an object (readers that come later
 * cannot find it), then retires it: the epoch advances and the object waits in a FIFO until every worker is
 * offline or has come online since — nobody can hold it any more — and is then freed by qsbr_reclaim.
 * Cost to a worker: two stores and a fence per wake-up. Nothing waits: the control thread reclaims when it
 * next runs (every loop turn), and an idle daemon has nothing retired. */
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
#define QSBR_OFFLINE UINT64_MAX

struct qsbr_node {
	struct qsbr_node *next;
	uint64_t epoch;
	void (*free_fn)(struct qsbr_node *n);
};

struct qsbr {
	_Atomic uint64_t epoch;
	unsigned n; /* workers taking part */
	struct {
		_Atomic uint64_t seen; /* epoch when last online, or QSBR_OFFLINE */
		char pad[64 - sizeof(uint64_t)];
	} slot[SL_MAX_WORKERS] __attribute__((aligned(64)));
	struct qsbr_node *head, **tail; /* retired, oldest first */
	unsigned pending;
};

void qsbr_init(struct qsbr *q, unsigned workers);
/* Worker w: about to read shared objects (after epoll_wait). */
static inline void qsbr_online(struct qsbr *q, unsigned w)
{
	atomic_store_explicit(&q->slot[w].seen, atomic_load_explicit(&q->epoch, memory_order_acquire),
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}
/* Worker w: holds no shared object any more (before epoll_wait). */
static inline void qsbr_offline(struct qsbr *q, unsigned w)
{
	atomic_store_explicit(&q->slot[w].seen, QSBR_OFFLINE, memory_order_release);
}
/* Control thread: n was unlinked from everything a worker can reach; free_fn(n) runs once no worker can
 * hold it. */
void qsbr_retire(struct qsbr *q, struct qsbr_node *n, void (*free_fn)(struct qsbr_node *n));
/* Control thread: starts a new epoch and returns it (for qsbr_passed). */
uint64_t qsbr_advance(struct qsbr *q);
/* Control thread: has every worker been offline or come online since `epoch` began? */
bool qsbr_passed(struct qsbr *q, uint64_t epoch);
/* Control thread: frees what is safe to free now. Returns how many are still waiting. */
unsigned qsbr_reclaim(struct qsbr *q);
/* After the workers stopped (or with none): frees everything retired. */
void qsbr_drain(struct qsbr *q);
