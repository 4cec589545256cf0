/* test_workers: what lets data workers run on all cores without a lock — with real threads.
 *   - qsbr: an object retired after a worker's last quiescent point (also one asleep in epoll_wait since
 *     before: epoll may hand it out) is not freed until that worker passes another; the control thread
 *     nudges such a worker through its eventfd once per retire (a real epoll_wait ends), never when nothing
 *     waits; workers not started or ended are not waited for; a drain frees the rest.
 *   - hash32 + qsbr under fire: reader threads look up keys while a writer inserts (the table doubles from
 *     16 to 8192 buckets meanwhile), deletes and retires; a key that is present is never missed, a node found
 *     is never one already freed (ASan would see it: this runs in the sanitizer build) and carries its key.
 *   - the transmit counter drawn from two threads at once: every value exactly once.
 *   - the endpoint sequence lock: readers never see half of one endpoint and half of another. */
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/common/hash32.h"
#include "daemon/control/session.h"
#include "daemon/loop.h"
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/worker.h"
#include "daemon/dataplane/qsbr.h"
#include "tests/unit/check.h"

#define READERS 2
#define PERMANENT 6000u  /* keys inserted while the readers run, never removed */
#define TRANSIENT 60000u /* keys inserted, removed and retired while the readers run */
#define LIVE_TRANSIENT 64u
#define ALIVE 0xa11fe5u

struct obj {
	struct h32_node n;
	struct qsbr_node r;
	uint32_t key, magic;
};

static int freed;

static void obj_free(struct qsbr_node *n)
{
	struct obj *o = (struct obj *)((char *)n - offsetof(struct obj, r));
	o->magic = 0;
	free(o);
	freed++;
}

/* How many nudges wait in an eventfd (0: none; reads it back to 0). */
static uint64_t nudges_in(int fd)
{
	eventfd_t v = 0;

	return eventfd_read(fd, &v) ? 0 : v;
}

static void test_qsbr_rules(void)
{
	struct qsbr q;
	struct obj *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int fd[2] = {eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};

	CHECK(fd[0] >= 0 && fd[1] >= 0 && ep >= 0);
	qsbr_init(&q, 2);
	qsbr_set_nudge(&q, 0, fd[0]);
	qsbr_set_nudge(&q, 1, fd[1]);
	freed = 0;
	/* workers not started yet take no part */
	qsbr_retire(&q, &a->r, obj_free);
	CHECK(qsbr_reclaim(&q) == 0 && freed == 1 && q.nudges == 0);
	/* both asleep since before a retire (the old rule freed it at once: "offline workers hold nothing") */
	qsbr_quiescent(&q, 0);
	qsbr_quiescent(&q, 1);
	a = calloc(1, sizeof(*a));
	qsbr_retire(&q, &a->r, obj_free);
	CHECK(freed == 1 && q.pending == 1);
	/* each nudged once: not again on later turns of the control loop while the same retire waits */
	CHECK(qsbr_reclaim(&q) == 1 && qsbr_reclaim(&q) == 1 && freed == 1);
	CHECK(nudges_in(fd[0]) == 1 && nudges_in(fd[1]) == 1 && q.nudges == 2);
	CHECK(qsbr_reclaim(&q) == 1 && nudges_in(fd[0]) == 0 && nudges_in(fd[1]) == 0);
	/* worker 0 woke up and went back to sleep: passed; worker 1 still holds it back */
	qsbr_quiescent(&q, 0);
	CHECK(qsbr_reclaim(&q) == 1 && freed == 1);
	qsbr_quiescent(&q, 1);
	CHECK(qsbr_reclaim(&q) == 0 && freed == 2);
	/* asleep since after a retire: that retire is no matter to them, no nudge */
	a = calloc(1, sizeof(*a));
	qsbr_retire(&q, &a->r, obj_free); /* nudges both (they slept since before it) … */
	CHECK(nudges_in(fd[0]) == 1 && nudges_in(fd[1]) == 1);
	qsbr_quiescent(&q, 0);
	qsbr_quiescent(&q, 1); /* … they went to sleep after it */
	CHECK(qsbr_reclaim(&q) == 0 && freed == 3);
	CHECK(nudges_in(fd[0]) == 0 && nudges_in(fd[1]) == 0);
	/* nothing retired: nothing written, however often the control thread looks */
	for (int i = 0; i < 10; i++)
		CHECK(qsbr_reclaim(&q) == 0);
	CHECK(nudges_in(fd[0]) == 0 && nudges_in(fd[1]) == 0 && q.nudges == 4);
	/* a second retire while the first waits: a worker nudged for the first and asleep since is nudged for
	 * the second too (once), one that has not passed the first yet is not nudged again */
	qsbr_quiescent(&q, 0);
	qsbr_quiescent(&q, 1);
	a = calloc(1, sizeof(*a));
	qsbr_retire(&q, &a->r, obj_free);
	CHECK(nudges_in(fd[0]) == 1 && nudges_in(fd[1]) == 1);
	qsbr_quiescent(&q, 0);
	qsbr_retire(&q, &b->r, obj_free);
	CHECK(freed == 3 && q.pending == 2);
	CHECK(nudges_in(fd[0]) == 1 && nudges_in(fd[1]) == 0);
	qsbr_quiescent(&q, 1);
	CHECK(qsbr_reclaim(&q) == 1 && freed == 4); /* a: both passed it; b: worker 0 not yet */
	qsbr_quiescent(&q, 0);
	CHECK(qsbr_reclaim(&q) == 0 && freed == 5);
	/* the nudge ends a real epoll_wait */
	ev.data.fd = fd[0];
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd[0], &ev) == 0);
	CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
	a = calloc(1, sizeof(*a));
	qsbr_retire(&q, &a->r, obj_free);
	CHECK(epoll_wait(ep, &ev, 1, 5000) == 1 && ev.data.fd == fd[0]);
	CHECK(nudges_in(fd[0]) == 1);
	/* an ended worker is no longer waited for */
	qsbr_gone(&q, 0);
	qsbr_gone(&q, 1);
	CHECK(qsbr_reclaim(&q) == 0 && freed == 6);
	a = calloc(1, sizeof(*a));
	qsbr_quiescent(&q, 0);
	qsbr_retire(&q, &a->r, obj_free);
	qsbr_drain(&q);
	CHECK(freed == 7);
	close(ep);
	close(fd[0]);
	close(fd[1]);
}

static struct h32 tab;
static struct qsbr tq;
static atomic_uint published;  /* permanent keys 1..published are in the table */
static atomic_bool stop;
static atomic_ulong misses, bad, found_transient, lookups;

static void *reader(void *arg)
{
	unsigned w = (unsigned)(uintptr_t)arg;
	uint64_t x = 0x9e3779b97f4a7c15ull * (w + 1);

	while (!atomic_load(&stop)) {
		qsbr_quiescent(&tq, w); /* holds nothing from the last round */
		for (int i = 0; i < 200; i++) {
			unsigned have = atomic_load(&published);
			struct h32_node *n;
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (have) {
				uint32_t k = 1 + (uint32_t)(x % have);
				n = h32_get(&tab, k);
				if (!n)
					atomic_fetch_add(&misses, 1);
				else if (h32_entry(n, struct obj, n)->magic != ALIVE || n->key != k)
					atomic_fetch_add(&bad, 1);
			}
			n = h32_get(&tab, 1000000u + (uint32_t)(x >> 40) % TRANSIENT);
			if (n) {
				struct obj *o = h32_entry(n, struct obj, n);
				if (o->magic != ALIVE || o->key != n->key)
					atomic_fetch_add(&bad, 1);
				atomic_fetch_add(&found_transient, 1);
			}
			atomic_fetch_add(&lookups, 1);
		}
	}
	qsbr_gone(&tq, w);
	return NULL;
}

static struct obj *obj_new(uint32_t key)
{
	struct obj *o = calloc(1, sizeof(*o));
	o->key = key;
	o->magic = ALIVE;
	return o;
}

static void test_concurrent_table(void)
{
	pthread_t th[READERS];
	static struct obj *live[LIVE_TRANSIENT];
	unsigned perm = 0;

	qsbr_init(&tq, READERS);
	CHECK(h32_init(&tab, 16, &tq) == 0);
	freed = 0;
	for (unsigned i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)i);
	for (uint32_t i = 0; i < TRANSIENT; i++) {
		struct obj *o = obj_new(1000000u + i), **slot = &live[i % LIVE_TRANSIENT];
		if (*slot) {
			h32_del(&tab, &(*slot)->n);
			qsbr_retire(&tq, &(*slot)->r, obj_free);
		}
		h32_put(&tab, &o->n, o->key);
		*slot = o;
		if (i % 10 == 0 && perm < PERMANENT) { /* the permanent keys arrive along the way: grows */
			struct obj *p = obj_new(++perm);
			h32_put(&tab, &p->n, p->key);
			atomic_store(&published, perm);
		}
		qsbr_reclaim(&tq);
	}
	/* on a busy machine the readers may not have run at all yet: let them (the live transients stay), up to
	 * 10 s, so the checks below see lookups that really raced the writer, not an empty run */
	for (uint64_t t0 = now_ms(); now_ms() - t0 < 10000 && !atomic_load(&found_transient);)
		sched_yield();
	atomic_store(&stop, true);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "test_workers: %lu lookups, %lu transient hits, %d freed, %u buckets\n",
		(unsigned long)atomic_load(&lookups), (unsigned long)atomic_load(&found_transient), freed,
		tab.t->mask + 1);
	/* it grew under the readers: at least twice, the second time only after every reader had passed a quiescent
	 * point (how often depends on how the readers were scheduled: 4096 and more on an idle machine) */
	CHECK(tab.t->mask + 1 >= 64);
	CHECK_EQ_INT(atomic_load(&misses), 0);
	CHECK_EQ_INT(atomic_load(&bad), 0);
	CHECK(atomic_load(&lookups) > 0 && atomic_load(&found_transient) > 0);
	CHECK_EQ_INT(qsbr_reclaim(&tq), 0); /* the readers ended: nothing can be held */
	CHECK_EQ_INT(freed, TRANSIENT - LIVE_TRANSIENT);
	/* everything left is reachable: unlink and free it the plain way */
	for (unsigned i = 0; i < LIVE_TRANSIENT; i++) {
		CHECK(h32_get(&tab, live[i]->key) == &live[i]->n);
		h32_del(&tab, &live[i]->n);
		free(live[i]);
	}
	for (uint32_t k = 1; k <= perm; k++) {
		struct h32_node *n = h32_get(&tab, k);
		CHECK(n != NULL);
		if (n) {
			h32_del(&tab, n);
			free(h32_entry(n, struct obj, n));
		}
	}
	CHECK(tab.n == 0);
	h32_free(&tab);
}

#define DRAWS 100000u
static struct keystate ks;
static uint64_t drawn[2][DRAWS];

static void *drawer(void *arg)
{
	uint64_t *out = arg;
	for (unsigned i = 0; i < DRAWS; i++)
		out[i] = keystate_next(&ks);
	return NULL;
}

static void test_counter(void)
{
	static uint8_t seen[2 * DRAWS];
	pthread_t a, b;
	unsigned dup = 0, out = 0;

	memset(&ks, 0, sizeof(ks));
	pthread_create(&a, NULL, drawer, drawn[0]);
	pthread_create(&b, NULL, drawer, drawn[1]);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	for (int t = 0; t < 2; t++) {
		for (unsigned i = 0; i < DRAWS; i++) {
			uint64_t v = drawn[t][i];
			if (v >= 2 * DRAWS)
				out++;
			else if (seen[v]++)
				dup++;
		}
	}
	CHECK_EQ_INT(dup, 0);
	CHECK_EQ_INT(out, 0);
	CHECK(keystate_sent(&ks) == 2 * DRAWS);
}

static struct gw_session *ses;
static struct sockaddr_storage ep_a, ep_b;

static void *ep_reader(void *arg)
{
	unsigned long *torn = arg;
	struct sockaddr_storage got;

	while (!atomic_load(&stop)) {
		socklen_t len = session_ep_read(ses, &got);
		if (!(len == sizeof(struct sockaddr_in6) && !memcmp(&got, &ep_a, len)) &&
		    !(len == sizeof(struct sockaddr_in) && !memcmp(&got, &ep_b, len)))
			(*torn)++;
	}
	return NULL;
}

static void test_endpoint(void)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ep_a;
	struct sockaddr_in *b4 = (struct sockaddr_in *)&ep_b;
	unsigned long torn = 0;
	pthread_t th;

	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(1111);
	memset(&a6->sin6_addr, 0xaa, sizeof(a6->sin6_addr));
	b4->sin_family = AF_INET;
	b4->sin_port = htons(2222);
	b4->sin_addr.s_addr = htonl(0xc6120002u);
	ses = calloc(1, sizeof(*ses));
	atomic_flag_clear(&ses->rx_lock);
	session_ep_write(ses, &ep_a, sizeof(struct sockaddr_in6));
	atomic_store(&stop, false);
	pthread_create(&th, NULL, ep_reader, &torn);
	for (unsigned i = 0; i < 200000; i++) {
		session_rx_lock(ses);
		if (i & 1)
			session_ep_write(ses, &ep_a, sizeof(struct sockaddr_in6));
		else
			session_ep_write(ses, &ep_b, sizeof(struct sockaddr_in));
		session_rx_unlock(ses);
	}
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	CHECK_EQ_INT(torn, 0);
	free(ses);
}

static void test_due_timeout(void)
{
	CHECK_EQ_INT(dp_due_timeout(0, 0), -1); /* nothing owed: epoll_wait sleeps until an event */
	CHECK_EQ_INT(dp_due_timeout(0, 123456), -1);
	CHECK_EQ_INT(dp_due_timeout(1000, 1000), 0); /* due now or past: no wait, on_due runs */
	CHECK_EQ_INT(dp_due_timeout(1000, 5000), 0);
	CHECK_EQ_INT(dp_due_timeout(1100, 1000), 100);
	CHECK_EQ_INT(dp_due_timeout(1001, 1000), 1);
	CHECK_EQ_INT(dp_due_timeout(UINT64_MAX, 1), INT_MAX); /* far: clamped, not wrapped negative */
	CHECK_EQ_INT(dp_due_timeout(1000 + (uint64_t)INT_MAX + 1, 1000), INT_MAX);
}

int main(void)
{
	test_due_timeout();
	test_qsbr_rules();
	test_concurrent_table();
	test_counter();
	test_endpoint();
	return check_done("test_workers");
}
