/* qsbr: the control thread's side of reclamation (see qsbr.h). */
#include <stddef.h>
#include "daemon/dataplane/qsbr.h"

void qsbr_init(struct qsbr *q, unsigned workers)
{
	atomic_init(&q->epoch, 1);
	q->n = workers > SL_MAX_WORKERS ? SL_MAX_WORKERS : workers;
	for (unsigned i = 0; i < SL_MAX_WORKERS; i++)
		atomic_init(&q->slot[i].seen, QSBR_OFFLINE);
	q->head = NULL;
	q->tail = &q->head;
	q->pending = 0;
}

void qsbr_retire(struct qsbr *q, struct qsbr_node *n, void (*free_fn)(struct qsbr_node *n))
{
	n->next = NULL;
	n->free_fn = free_fn;
	/* seq_cst: ordered after the unlinking stores, before any later read of the workers' slots */
	n->epoch = qsbr_advance(q);
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
	uint64_t min = QSBR_OFFLINE;

	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < q->n; i++) {
		uint64_t s = atomic_load_explicit(&q->slot[i].seen, memory_order_acquire);
		if (s < min)
			min = s;
	}
	return min;
}

bool qsbr_passed(struct qsbr *q, uint64_t epoch)
{
	return min_seen(q) >= epoch;
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
	return q->pending;
}

void qsbr_drain(struct qsbr *q)
{
	q->n = 0;
	qsbr_reclaim(q);
}
