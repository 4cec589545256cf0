/* loop: the event loop — "run due timers, epoll until the next deadline, handle signals" (fastd style).
 * An fd is a `struct loop_io` embedded in its owner; a timer is a `struct loop_timer` embedded in its owner
 * (no allocation). Signals arrive through a signalfd and only set flags for the owner to act on. Idle is idle:
 * with nothing due the thread sleeps in epoll_wait. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_io;
struct loop_timer;

typedef void (*loop_io_fn)(struct loop_io *io, uint32_t events);
typedef void (*loop_timer_fn)(struct loop_timer *t);

struct loop_io {
	int fd;
	uint32_t events;
	loop_io_fn fn;
};

struct loop_timer {
	uint64_t due_ms; /* 0: not armed */
	loop_timer_fn fn;
	struct loop_timer *next; /* in the loop's list of timers */
	bool linked;
};

#define LOOP_MAX_TIMERS_HINT 16

struct loop {
	int epfd;
	int sigfd;
	struct loop_io sig_io;
	struct loop_timer *timers; /* few (per daemon, not per session): scanned for the earliest */
	volatile bool stop;
	bool got_term, got_hup, got_usr1;
};

/* Monotonic milliseconds and wall-clock seconds. */
uint64_t now_ms(void);
uint64_t wall_s(void);

/* Milliseconds from `then` to `now`, 0 if `then` is later. Every time another thread stamped (a data worker's
 * last_seen_ms, ep_seen_ms, last_tx_ms…) may be a millisecond ahead of the `now` this thread read a moment
 * ago: a plain `now - then` would wrap to about 2^64 ms, and a session just heard from would look silent for
 * ever (issue #25: the reaper ended live sessions). */
static inline uint64_t ms_since(uint64_t then, uint64_t now)
{
	return now > then ? now - then : 0;
}

/* Creates the epoll set and a signalfd for SIGTERM, SIGINT, SIGHUP, SIGUSR1 (blocked for the thread). */
int loop_init(struct loop *l);
void loop_close(struct loop *l);

int loop_add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_fn fn);
int loop_mod(struct loop *l, struct loop_io *io, uint32_t events);
void loop_del(struct loop *l, struct loop_io *io);

void loop_timer_init(struct loop *l, struct loop_timer *t, loop_timer_fn fn);
void loop_timer_set(struct loop_timer *t, uint64_t due_ms); /* absolute monotonic ms; 0 disarms */
void loop_timer_remove(struct loop *l, struct loop_timer *t);

/* Runs one iteration: due timers, then epoll_wait until the next deadline (or -1), dispatch. Signals set
 * got_term/got_hup/got_usr1. Returns -errno on an epoll failure other than EINTR. */
int loop_once(struct loop *l);
