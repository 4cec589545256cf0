/* stream: datagrams over a TCP connection, read by one data worker, written by any (stream.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "daemon/dataplane/stream.h"

struct dp_stream *dp_stream_new(int fd, void *owner, uint32_t session_id)
{
	struct dp_stream *s = malloc(sizeof(*s));
	int on = 1, fl;

	if (!s)
		return NULL;
	memset(s, 0, offsetof(struct dp_stream, in)); /* the buffers need no clearing */
	s->io.fd = fd;
	s->epfd = -1;
	s->notify_fd = -1;
	s->owner = owner;
	s->session_id = session_id;
	atomic_init(&s->dead, false);
	atomic_init(&s->end_err, 0);
	atomic_flag_clear(&s->wlock);
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)); /* a datagram is due now, not with the next */
	return s;
}

int dp_stream_watch(struct dp_stream *s, int epfd, unsigned worker, loop_io_fn fn)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->io};

	s->io.fn = fn;
	s->io.events = EPOLLIN;
	s->worker = worker;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->io.fd, &ev))
		return -errno;
	s->epfd = epfd;
	return 0;
}

/* Safe twice and from the reader and the owner both: a second DEL fails with ENOENT, harmlessly. */
void dp_stream_unwatch(struct dp_stream *s)
{
	if (s->epfd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->io.fd, NULL);
}

void dp_stream_ended(struct dp_stream *s)
{
	atomic_store(&s->dead, true);
	dp_stream_unwatch(s);
	if (s->notify_fd >= 0)
		eventfd_write(s->notify_fd, 1);
}

static void lock(struct dp_stream *s)
{
	while (atomic_flag_test_and_set_explicit(&s->wlock, memory_order_acquire))
		;
}

static void unlock(struct dp_stream *s)
{
	atomic_flag_clear_explicit(&s->wlock, memory_order_release);
}

void dp_stream_end(struct dp_stream *s)
{
	atomic_store(&s->dead, true);
	shutdown(s->io.fd, SHUT_RDWR); /* the reader sees EOF; the peer sees the connection end */
}

void dp_stream_free(struct dp_stream *s)
{
	if (!s)
		return;
	dp_stream_unwatch(s);
	close(s->io.fd);
	free(s);
}

/* Under wlock: EPOLLOUT wanted or not (the reader's epoll set; epoll_ctl is safe from any thread). */
static void want_out(struct dp_stream *s, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = &s->io};

	if (s->want_out == on || s->epfd < 0)
		return;
	s->want_out = on;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->io.fd, &ev);
}

/* Under wlock: writes out[out_off..out_len). 0 (all or some taken), -1 the connection failed. */
/* The first cause wins: later ones are consequences of it. */
static void set_end(struct dp_stream *s, int why)
{
	int none = 0;

	atomic_compare_exchange_strong(&s->end_err, &none, why);
}

static int flush_locked(struct dp_stream *s)
{
	while (s->out_off < s->out_len) {
		ssize_t n = send(s->io.fd, s->out + s->out_off, s->out_len - s->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			set_end(s, errno);
			return -1;
		}
		s->out_off += (size_t)n;
	}
	s->out_off = s->out_len = 0;
	return 0;
}

int dp_stream_send(struct dp_stream *s, const uint8_t *dgram, size_t len)
{
	uint8_t hdr[SL_FRAME_HDR_LEN];
	size_t total = SL_FRAME_HDR_LEN + len, done = 0;
	int ret = 0;

	if (len < SL_FRAME_MIN || len > SL_FRAME_MAX || atomic_load_explicit(&s->dead, memory_order_relaxed))
		return -1;
	frame_hdr_encode(hdr, len);
	lock(s);
	if (s->out_len == s->out_off) { /* nothing waiting: straight to the socket */
		struct iovec iov[2] = {{hdr, SL_FRAME_HDR_LEN}, {(void *)dgram, len}};
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
		ssize_t n = sendmsg(s->io.fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			atomic_store(&s->dead, true);
			ret = -1;
			goto out;
		}
		done = n > 0 ? (size_t)n : 0;
		if (done == total)
			goto out;
		s->out_off = s->out_len = 0;
	} else if (s->out_len + total > SL_STREAM_OUT_MAX) {
		if (s->out_off) { /* make room at the end */
			memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
			s->out_len -= s->out_off;
			s->out_off = 0;
		}
		if (s->out_len + total > SL_STREAM_OUT_MAX) {
			ret = -1; /* full: dropped whole, so the framing stays intact */
			goto out;
		}
	}
	/* the rest of this frame (a partly sent one must be finished, whatever the buffer holds) */
	if (done < SL_FRAME_HDR_LEN) {
		memcpy(s->out + s->out_len, hdr + done, SL_FRAME_HDR_LEN - done);
		s->out_len += SL_FRAME_HDR_LEN - done;
		done = SL_FRAME_HDR_LEN;
	}
	memcpy(s->out + s->out_len, dgram + (done - SL_FRAME_HDR_LEN), total - done);
	s->out_len += total - done;
	want_out(s, true);
out:
	unlock(s);
	return ret;
}

int dp_stream_flush(struct dp_stream *s)
{
	int ret;

	lock(s);
	ret = flush_locked(s);
	if (ret)
		atomic_store(&s->dead, true);
	else if (s->out_off == s->out_len)
		want_out(s, false);
	unlock(s);
	return ret;
}

int dp_stream_read(struct dp_stream *s, dp_rx_fn fn, void *arg, const char **why)
{
	int frames = 0;

	for (unsigned r = 0; r < SL_STREAM_READS; r++) {
		ssize_t n = recv(s->io.fd, s->in + s->in_len, SL_STREAM_IN_MAX - s->in_len, MSG_DONTWAIT);
		size_t off = 0, dlen = 0;
		long f;

		if (n == 0) {
			*why = "closed by the peer";
			set_end(s, SL_STREAM_EOF);
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			set_end(s, errno);
			return -1;
		}
		s->in_len += (size_t)n;
		while ((f = frame_next(s->in + off, s->in_len - off, &dlen)) > 0) {
			fn(arg, s->in + off + SL_FRAME_HDR_LEN, dlen, NULL, 0);
			off += (size_t)f;
			frames++;
		}
		if (f < 0) {
			*why = "broken framing";
			set_end(s, SL_STREAM_FRAMING);
			return -1;
		}
		if (off) { /* the partial frame to the front: at most one frame, below SL_FRAME_MAX bytes */
			memmove(s->in, s->in + off, s->in_len - off);
			s->in_len -= off;
		}
	}
	return frames;
}

int dp_stream_service(struct dp_stream *s, uint32_t events, dp_rx_fn fn, void *arg)
{
	const char *why = NULL;
	int n;

	if ((events & EPOLLOUT) && dp_stream_flush(s)) {
		dp_stream_ended(s);
		return -1;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;
	n = dp_stream_read(s, fn, arg, &why);
	if (n < 0)
		dp_stream_ended(s); /* the owner reaps it and logs dp_stream_why */
	return n;
}

const char *dp_stream_why(const struct dp_stream *s)
{
	int e = atomic_load(&s->end_err);

	if (e == SL_STREAM_EOF)
		return "closed by the peer";
	if (e == SL_STREAM_FRAMING)
		return "broken framing";
	return e > 0 ? strerror(e) : "ended by us";
}
