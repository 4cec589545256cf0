/* qsbr: the control thread's side of reclamation (see qsbr.h). */
#include <stddef.h>
#include <sys/eventfd.h>
#include "daemon/dataplane/qsbr.h"

void qsbr_init(struct qsbr *q, unsigned workers)
{
	atomic_init(&q->epoch, 1);
	q->n = workers > SL_MAX_WORKERS ? SL_MAX_WORKERS : workers;
	for (unsigned i = 0; i < SL_MAX_WORKERS; i++) {
		atomic_init(&q->slot[i].seen, QSBR_GONE);
		q->nudge[i].fd = -1;
		q->nudge[i].at = 0;
	}
	q->nudges = 0;
	q->head = NULL;
	q->tail = &q->head;
	q->newest = 0;
	q->pending = 0;
}

void qsbr_set_nudge(struct qsbr *q, unsigned w, int fd)
{
	if (w < SL_MAX_WORKERS)
		q->nudge[w].fd = fd;
}

void qsbr_retire(struct qsbr *q, struct qsbr_node *n, void (*free_fn)(struct qsbr_node *n))
{
	n->next = NULL;
	n->free_fn = free_fn;
	/* seq_cst: ordered after the unlinking stores, before any later read of the workers' slots */
	n->epoch = q->newest = qsbr_advance(q);
	*q->tail = n;
	q->tail = &n->next;
	q->pending++;
	qsbr_reclaim(q);
}

uint64_t qsbr_advance(struct qsbr *q)
{
	return atomic_fetch_add(&q->epoch, 1) + 1; /* seq_cst: after the stores that made the change */
}

static uint64_t min_seen(struct qsbr *q)
{
	uint64_t min = QSBR_GONE;

	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < q->n; i++) {
		uint64_t s = atomic_load_explicit(&q->slot[i].seen, memory_order_acquire);
		if (s < min)
			min = s;
	}
	return min;
}

/* Wakes every worker whose last quiescent point is older than `target` and that has no nudge outstanding
 * (one sent after its last point: its next point records at least the epoch that nudge was sent at, then
 * it is nudged again if that is still too old). At most one nudge per worker per point it passes. */
static void nudge(struct qsbr *q, uint64_t target)
{
	uint64_t now = atomic_load_explicit(&q->epoch, memory_order_relaxed); /* ours: we alone advance it */

	for (unsigned i = 0; i < q->n; i++) {
		uint64_t s = atomic_load_explicit(&q->slot[i].seen, memory_order_acquire);
		if (s >= target || q->nudge[i].at > s || q->nudge[i].fd < 0)
			continue;
		/* it cannot fail (the worker reads the counter back to 0 long before it could overflow); if it
		 * did, the next reclaim tries again */
		if (eventfd_write(q->nudge[i].fd, 1) == 0) {
			q->nudge[i].at = now;
			q->nudges++;
		}
	}
}

bool qsbr_passed(struct qsbr *q, uint64_t epoch)
{
	if (min_seen(q) >= epoch)
		return true;
	nudge(q, epoch);
	return false;
}

unsigned qsbr_reclaim(struct qsbr *q)
{
	uint64_t min;

	if (!q->head)
		return 0;
	min = min_seen(q);
	while (q->head && q->head->epoch <= min) {
		struct qsbr_node *n = q->head;
		q->head = n->next;
		if (!q->head)
			q->tail = &q->head;
		q->pending--;
		n->free_fn(n);
	}
	if (q->head)
		nudge(q, q->newest);
	return q->pending;
}

void qsbr_drain(struct qsbr *q)
{
	q->n = 0;
	qsbr_reclaim(q);
}
