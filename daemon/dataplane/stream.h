/* stream: the data plane over a TCP connection (DESIGN §9 "UDP-hostile networks", 10.15), both modes.
 *
 *   control thread: a control connection proves a session inside TLS ("DATA <hex8>\n" -> "OK\n"), then the
 *                   same TCP connection leaves TLS and becomes a dp_stream: registered in ONE data worker's
 *                   epoll set (that worker alone reads it), published to the senders, reaped when dead
 *   reader worker:  read -> frames (frame.h) -> the same per-datagram receive path as UDP
 *   any sender:     sealed datagram -> length prefix -> one send under the stream's write lock
 *
 * Why no TLS around the frames: every datagram is already sealed and authenticated with the data keys (the
 * same bytes that cross UDP), so a second layer would only cost a second AEAD pass per packet and put an
 * SSL object, which is not thread-safe, into the data workers. An on-path attacker can break the byte
 * stream (as it can reset any TCP connection) but can neither read nor forge a datagram: the reader closes
 * the stream at the first bad length, and bad datagrams are dropped and counted as over UDP.
 *
 * No allocation per packet: the two buffers are part of the stream (made once per connection). The write
 * lock is per stream and contended only when two workers send to one peer at the same moment. A send that
 * the socket takes only in part keeps its rest (and what follows) in `out`, flushed by the reader worker on
 * EPOLLOUT; a full `out` drops the datagram (counted by the caller as queue_out), as a full UDP socket does. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/dataplane/frame.h"
#include "daemon/dataplane/qsbr.h"
#include "daemon/dataplane/udpio.h"
#include "daemon/loop.h"

#define SL_STREAM_IN_MAX (64u * 1024u)   /* received bytes not yet parsed: several whole frames */
#define SL_STREAM_OUT_MAX (256u * 1024u) /* sent bytes the socket has not taken yet */
#define SL_STREAM_READS 8u               /* reads per wake-up before yielding to the other fds */
#define SL_STREAM_EOF (-1)               /* end_err: closed by the peer */
#define SL_STREAM_FRAMING (-2)           /* end_err: a frame's length out of bounds */

struct dp_stream {
	struct loop_io io;        /* the TCP socket, in the reader worker's epoll set */
	struct qsbr_node retire;  /* freed (and closed) once no worker can hold it */
	struct dp_stream *next;   /* the owner's list (control thread) */
	int epfd;                 /* the reader worker's epoll set */
	unsigned worker;          /* … and its index */
	uint32_t session_id;      /* gateway: the session it proved */
	void *owner;              /* struct gw or struct cl */
	int notify_fd;            /* an eventfd of the owner's loop: the reader writes it when the stream ends */
	atomic_bool dead;         /* ended (EOF, error, broken framing): no more sends; its owner reaps it */
	atomic_int end_err;       /* why it ended, the first cause only: 0 (not yet, or dp_stream_end),
				   * SL_STREAM_EOF, SL_STREAM_FRAMING or a socket errno; dp_stream_why says it */
	atomic_flag wlock;        /* out, out_off, out_len, want_out */
	bool want_out;
	size_t out_off, out_len;
	size_t in_len;            /* reader only */
	uint64_t opened_ms;
	uint8_t in[SL_STREAM_IN_MAX];
	uint8_t out[SL_STREAM_OUT_MAX];
};

/* A stream for a connected TCP socket (made non-blocking, TCP_NODELAY); the caller registers it with
 * dp_stream_watch. NULL when out of memory. It owns fd from here on (dp_stream_free closes it). */
struct dp_stream *dp_stream_new(int fd, void *owner, uint32_t session_id);
/* Adds the stream to a worker's epoll set (EPOLLIN; fn handles its events). 0 or -errno. */
int dp_stream_watch(struct dp_stream *s, int epfd, unsigned worker, loop_io_fn fn);
/* The reader worker, when dp_stream_read or dp_stream_flush said the stream ended: marks it dead, stops
 * watching it (a closed socket would wake the worker for ever) and wakes the owner (notify_fd), who reaps it. */
void dp_stream_ended(struct dp_stream *s);
/* Takes it out of the epoll set: after this only a qsbr grace period separates it from dp_stream_free. */
void dp_stream_unwatch(struct dp_stream *s);
/* Marks it dead and wakes its reader (shutdown): for the owner, to end a stream it no longer wants. */
void dp_stream_end(struct dp_stream *s);
void dp_stream_free(struct dp_stream *s);

/* From any thread: queues one sealed datagram (SL_FRAME_MIN..SL_FRAME_MAX bytes). 0, or -1 when the
 * stream is dead or its buffer is full (the caller counts a queue_out drop). */
int dp_stream_send(struct dp_stream *s, const uint8_t *dgram, size_t len);
/* The reader worker, on EPOLLOUT: hands what `out` holds to the socket. 0, or -1 when the stream ended. */
int dp_stream_flush(struct dp_stream *s);
/* The reader worker, on EPOLLIN: reads what is waiting and calls fn(arg, datagram, len, NULL, 0) for each
 * whole frame (the datagram may be opened in place). Returns the number of frames, or -1 when the stream
 * ended: EOF, a socket error or a broken frame (then *why says which). */
int dp_stream_read(struct dp_stream *s, dp_rx_fn fn, void *arg, const char **why);
/* The reader worker's handler body for a stream's events: flushes on EPOLLOUT, reads on EPOLLIN/HUP/ERR
 * (dp_stream_read). Returns its frame count (0: nothing read), or -1 when the stream ended — then it has
 * called dp_stream_ended already. The caller flushes its TUN trains after any non-zero return. */
int dp_stream_service(struct dp_stream *s, uint32_t events, dp_rx_fn fn, void *arg);
/* Why the stream ended, for the owner's log line ("closed by the peer", "broken framing", strerror, or
 * "ended by us"). */
const char *dp_stream_why(const struct dp_stream *s);
