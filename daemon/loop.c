/* loop: epoll + embedded timers + signalfd. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "daemon/loop.h"

#define LOOP_EVENTS_MAX 64

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

static void loop_on_signal(struct loop_io *io, uint32_t events)
{
	struct loop *l = (struct loop *)((char *)io - offsetof(struct loop, sig_io));
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			l->got_term = true;
			break;
		case SIGHUP:
			l->got_hup = true;
			break;
		case SIGUSR1:
			l->got_usr1 = true;
			break;
		}
	}
}

int loop_init(struct loop *l)
{
	sigset_t set;

	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (systemd LimitFSIZE=) reached by a state file's write: that write fails with EFBIG and
	 * takes its error path (the lease journal's: cut back, refused, logged), the daemon is not killed */
	signal(SIGXFSZ, SIG_IGN);
	l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0)
		return -errno;
	return loop_add(l, &l->sig_io, l->sigfd, EPOLLIN, loop_on_signal);
}

void loop_close(struct loop *l)
{
	if (l->sigfd > 0)
		close(l->sigfd);
	if (l->epfd > 0)
		close(l->epfd);
	l->sigfd = l->epfd = -1;
}

int loop_add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_fn fn)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	io->fd = fd;
	io->events = events;
	io->fn = fn;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (io->events == events)
		return 0;
	io->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) ? -errno : 0;
}

void loop_del(struct loop *l, struct loop_io *io)
{
	if (io->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void loop_timer_init(struct loop *l, struct loop_timer *t, loop_timer_fn fn)
{
	t->due_ms = 0;
	t->fn = fn;
	if (!t->linked) {
		t->next = l->timers;
		l->timers = t;
		t->linked = true;
	}
}

void loop_timer_set(struct loop_timer *t, uint64_t due_ms)
{
	t->due_ms = due_ms;
}

void loop_timer_remove(struct loop *l, struct loop_timer *t)
{
	for (struct loop_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			t->linked = false;
			return;
		}
	}
}

/* Fires every due timer (a callback may re-arm or disarm any timer) and returns the earliest remaining due
 * time, 0 if none. */
static uint64_t loop_run_timers(struct loop *l)
{
	uint64_t now = now_ms(), next = 0;
	bool fired;

	do {
		fired = false;
		for (struct loop_timer *t = l->timers; t; t = t->next) {
			if (t->due_ms && t->due_ms <= now) {
				t->due_ms = 0;
				t->fn(t);
				fired = true;
				break; /* the list may have changed: rescan */
			}
		}
	} while (fired);
	for (struct loop_timer *t = l->timers; t; t = t->next)
		if (t->due_ms && (!next || t->due_ms < next))
			next = t->due_ms;
	return next;
}

int loop_once(struct loop *l)
{
	struct epoll_event ev[LOOP_EVENTS_MAX];
	uint64_t next = loop_run_timers(l);
	int timeout = -1, n;

	if (next) {
		uint64_t now = now_ms();
		timeout = next > now ? (int)(next - now) : 0;
	}
	n = epoll_wait(l->epfd, ev, LOOP_EVENTS_MAX, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_io *io = ev[i].data.ptr;
		io->fn(io, ev[i].events);
	}
	return 0;
}
