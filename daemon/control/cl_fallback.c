/* cl_fallback: the client's TCP fallback (DESIGN §9 "UDP-hostile networks", 10.4, 10.15). UDP comes first,
 * with no extra round trip: nothing here runs on a network where UDP works. When a fresh session's first
 * two keepalives go unanswered although its AUTH just went through over TCP, UDP is what is blocked: the
 * supervisor asks the session's server for DATA on a new control connection, which then carries the
 * datagrams (dataplane/stream.h), read by worker 0, written by every worker. While on TCP a keepalive goes
 * over UDP every SL_UDP_PROBE_MS; the first answer that comes back over UDP drops the stream and the data is
 * on UDP again (the gateway follows when the stream ends). A stream that ends (reset, closed, broken) is a
 * failed path like any other: the supervisor re-authenticates. Logs each move once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/client.h"
#include "daemon/sockets.h"

static void stream_free_node(struct qsbr_node *n)
{
	dp_stream_free((struct dp_stream *)((char *)n - offsetof(struct dp_stream, retire)));
}

bool cl_stream_drop(struct cl *c, const char *why)
{
	struct dp_stream *st = atomic_exchange_explicit(&c->stream, NULL, memory_order_acq_rel);

	if (!st)
		return false;
	c->transport_switches++;
	loop_timer_remove(&c->loop, &c->udp_probe_timer);
	dp_stream_end(st); /* the gateway sees it end and sends over UDP again */
	dp_stream_unwatch(st);
	qsbr_retire(&c->q, &st->retire, stream_free_node);
	if (why)
		log_info("data over UDP again (%s)", why);
	return true;
}

/* While on TCP: UDP answered since the last probe — back to it; else another probe. */
static void on_udp_probe(struct loop_timer *t)
{
	struct cl *c = (struct cl *)((char *)t - offsetof(struct cl, udp_probe_timer));
	uint64_t now = now_ms();

	if (!cl_on_tcp(c))
		return;
	if (c->udp_probe_ms && SL_RD(c->udp_rx_ms) >= c->udp_probe_ms) {
		cl_stream_drop(c, "UDP answers");
		return;
	}
	cl_send_keepalive(c, now, true);
	c->udp_probe_ms = now;
	loop_timer_set(t, now + SL_UDP_PROBE_MS);
}

/* Worker 0 saw the stream end. */
static void on_stream_ended(struct loop_io *io, uint32_t events)
{
	struct cl *c = (struct cl *)((char *)io - offsetof(struct cl, stream_io));
	struct dp_stream *st = atomic_load(&c->stream);
	eventfd_t v;
	char why[96];

	eventfd_read(io->fd, &v);
	if (!st || !atomic_load(&st->dead))
		return; /* one we dropped ourselves */
	snprintf(why, sizeof(why), "TCP data connection ended: %s", dp_stream_why(st));
	cl_stream_drop(c, NULL);
	sup_path_down(c, why);
}

int cl_fallback_init(struct cl *c)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), ret;

	loop_timer_init(&c->loop, &c->udp_probe_timer, on_udp_probe);
	if (fd < 0)
		return -errno;
	ret = loop_add(&c->loop, &c->stream_io, fd, EPOLLIN, on_stream_ended);
	if (ret) {
		close(fd);
		return ret;
	}
	return 0;
}

void cl_fallback_close(struct cl *c)
{
	struct dp_stream *st = atomic_exchange(&c->stream, NULL);

	if (st)
		dp_stream_free(st); /* the workers are stopped */
	if (c->stream_io.fd >= 0) {
		loop_del(&c->loop, &c->stream_io);
		close(c->stream_io.fd);
		c->stream_io.fd = -1;
	}
}

bool cl_fallback_start(struct cl *c)
{
	struct cl_snap *cur = atomic_load(&c->cur);

	if (!cur || !c->path_up || cl_on_tcp(c) || SL_RD(c->udp_rx_ms) >= cur->created_ms)
		return false;
	log_warn("session %08x: no answer over UDP since it was authenticated; moving the data to TCP",
		 cur->s.session_id);
	sup_data(c);
	return true;
}

void cl_stream_attach(struct cl *c, int fd)
{
	struct cl_snap *cur = atomic_load(&c->cur);
	struct dp_stream *st = dp_stream_new(fd, c, cur ? cur->s.session_id : 0);
	int ret;

	if (!st) {
		close(fd);
		sup_path_down(c, "TCP data connection: out of memory");
		return;
	}
	st->notify_fd = c->stream_io.fd;
	st->opened_ms = now_ms();
	ret = dp_stream_watch(st, c->w[0].epfd, 0, cl_on_stream);
	if (ret) {
		log_err("TCP data connection: epoll: %s", strerror(-ret));
		dp_stream_free(st);
		sup_path_down(c, "TCP data connection failed");
		return;
	}
	atomic_store_explicit(&c->stream, st, memory_order_release);
	c->transport_switches++;
	c->udp_probe_ms = 0;
	log_info("session %08x: data over TCP now; probing UDP every %u s", st->session_id, SL_UDP_PROBE_MS / 1000);
	loop_timer_set(&c->udp_probe_timer, now_ms() + SL_UDP_PROBE_MS);
	cl_send_keepalive(c, now_ms(), false); /* the stream's first datagram: the path proves itself at once */
}
