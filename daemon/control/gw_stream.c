/* gw_stream: the gateway's TCP fallback streams (DESIGN §9 "UDP-hostile networks", 10.15) on the control
 * thread's side. A control connection that proved its session and asked for DATA becomes a stream: no
 * longer a control connection (it leaves the caps and the deadline of those), read by one data worker
 * (chosen by session id) and published in its session, which from then on sends over it. One stream per
 * session: a newer one replaces it. A stream is reaped here when its worker saw it end (EOF, error, broken
 * framing: the worker wakes us through stream_io), when its session is gone or when it was replaced; its
 * memory and socket go once no worker can hold it (qsbr). Logs the moves between UDP and TCP, once each. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/gateway.h"
#include "daemon/sockets.h"

static void stream_free_node(struct qsbr_node *n)
{
	dp_stream_free((struct dp_stream *)((char *)n - offsetof(struct dp_stream, retire)));
}

static void on_stream_ended(struct loop_io *io, uint32_t events)
{
	struct gw *g = (struct gw *)((char *)io - offsetof(struct gw, stream_io));
	eventfd_t v;

	eventfd_read(io->fd, &v);
	gw_streams_sweep(g, false);
}

int gw_streams_init(struct gw *g)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), ret;

	g->stream_io.fd = -1;
	if (fd < 0)
		return -errno;
	ret = loop_add(&g->loop, &g->stream_io, fd, EPOLLIN, on_stream_ended);
	if (ret)
		close(fd);
	return ret;
}

int gw_stream_attach(struct gw *g, int fd, struct gw_session *s)
{
	struct dp_stream *st = dp_stream_new(fd, g, s->id), *old;
	unsigned wi = s->id % g->n_w;
	int ret;

	if (!st) {
		close(fd);
		return -ENOMEM;
	}
	st->notify_fd = g->stream_io.fd;
	st->opened_ms = now_ms();
	ret = dp_stream_watch(st, g->w[wi].epfd, wi, gw_on_stream);
	if (ret) {
		dp_stream_free(st);
		return ret;
	}
	old = session_stream(s);
	__atomic_store_n(&s->stream, st, __ATOMIC_RELEASE);
	if (old)
		dp_stream_end(old); /* replaced: the next sweep reaps it */
	else
		s->peer->transport_switches++;
	st->next = g->streams;
	g->streams = st;
	g->n_streams++;
	if (!old)
		log_info("client '%s': session %08x data over TCP now (UDP does not get through)", s->peer->name, s->id);
	return 0;
}

void gw_streams_sweep(struct gw *g, bool all)
{
	struct dp_stream **pp = &g->streams, *st;

	while ((st = *pp)) {
		struct gw_session *s = all ? NULL : session_by_id(&g->reg, st->session_id);
		bool mine = s && session_stream(s) == st;

		if (!all && mine && !atomic_load(&st->dead)) {
			pp = &st->next;
			continue;
		}
		*pp = st->next;
		g->n_streams--;
		if (mine) {
			__atomic_store_n(&s->stream, NULL, __ATOMIC_RELEASE);
			s->peer->transport_switches++;
			log_info("client '%s': session %08x TCP data connection ended (%s); data over UDP again",
				 s->peer->name, s->id, dp_stream_why(st));
		}
		dp_stream_unwatch(st);
		if (all)
			dp_stream_free(st); /* the workers are stopped */
		else
			qsbr_retire(&g->reg.q, &st->retire, stream_free_node);
	}
	if (all && g->stream_io.fd >= 0) {
		loop_del(&g->loop, &g->stream_io);
		close(g->stream_io.fd);
		g->stream_io.fd = -1;
	}
}
