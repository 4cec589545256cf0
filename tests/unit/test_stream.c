/* test_stream: the TCP fallback's framing (dataplane/frame.h) — exact prefix bytes, every length bound,
 * frames split at every byte boundary, a broken prefix refused — and the stream I/O (dataplane/stream.h)
 * over a socket pair: frames come out whole and in order however the bytes arrive, a send the socket takes
 * only in part is finished by the flush, a full buffer drops whole frames only, EOF and a broken prefix end
 * the stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/dataplane/stream.h"
#include "tests/unit/check.h"

static void test_prefix(void)
{
	uint8_t hdr[SL_FRAME_HDR_LEN], buf[SL_FRAME_HDR_LEN + SL_FRAME_MAX] = {0};
	size_t dlen = 0;

	frame_hdr_encode(hdr, 0x1234);
	CHECK_EQ_INT(hdr[0], 0x12);
	CHECK_EQ_INT(hdr[1], 0x34);
	CHECK_EQ_INT(SL_FRAME_MIN, SLUICE_HDR_LEN + SLUICE_TAG_LEN);
	CHECK(SL_FRAME_MAX < 65536); /* fits the 2-byte prefix */

	/* nothing, one byte: need more */
	CHECK_EQ_INT(frame_next(buf, 0, &dlen), 0);
	CHECK_EQ_INT(frame_next(buf, 1, &dlen), 0);
	/* out of bounds: refused as soon as the prefix is there */
	frame_hdr_encode(buf, 0);
	CHECK_EQ_INT(frame_next(buf, 2, &dlen), -1);
	frame_hdr_encode(buf, SL_FRAME_MIN - 1);
	CHECK_EQ_INT(frame_next(buf, 2, &dlen), -1);
	frame_hdr_encode(buf, SL_FRAME_MAX + 1);
	CHECK_EQ_INT(frame_next(buf, 2, &dlen), -1);
	buf[0] = buf[1] = 0xff;
	CHECK_EQ_INT(frame_next(buf, sizeof(buf), &dlen), -1);
	/* the bounds themselves: whole only with every byte */
	frame_hdr_encode(buf, SL_FRAME_MIN);
	CHECK_EQ_INT(frame_next(buf, SL_FRAME_HDR_LEN + SL_FRAME_MIN - 1, &dlen), 0);
	CHECK_EQ_INT(frame_next(buf, SL_FRAME_HDR_LEN + SL_FRAME_MIN, &dlen), SL_FRAME_HDR_LEN + SL_FRAME_MIN);
	CHECK_EQ_INT(dlen, SL_FRAME_MIN);
	frame_hdr_encode(buf, SL_FRAME_MAX);
	CHECK_EQ_INT(frame_next(buf, sizeof(buf) - 1, &dlen), 0);
	CHECK_EQ_INT(frame_next(buf, sizeof(buf), &dlen), (long)sizeof(buf));
	CHECK_EQ_INT(dlen, SL_FRAME_MAX);
}

/* What the reader hands over: lengths and a checksum of the bytes, in order. */
struct got {
	unsigned n;
	size_t len[64];
	uint8_t first[64];
	int from_null;
};

static void collect(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t from_len)
{
	struct got *g = arg;

	if (g->n < 64) {
		g->len[g->n] = len;
		g->first[g->n] = buf[len - 1];
	}
	g->n++;
	if (!from && !from_len)
		g->from_null++;
}

static void fill(uint8_t *d, size_t len, uint8_t tag)
{
	memset(d, 0xa5, len);
	d[len - 1] = tag;
}

/* Frames written a byte at a time by hand: the reader returns each only when whole. */
static void test_split_reads(void)
{
	int sv[2];
	struct dp_stream *r;
	struct got g = {0};
	uint8_t wire[3 * (SL_FRAME_HDR_LEN + 100)];
	size_t off = 0;
	const char *why = NULL;
	int total = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	r = dp_stream_new(sv[0], NULL, 7);
	CHECK(r != NULL);
	for (int i = 0; i < 3; i++) {
		size_t len = SL_FRAME_MIN + 30 + (size_t)i * 17;
		frame_hdr_encode(wire + off, len);
		fill(wire + off + SL_FRAME_HDR_LEN, len, (uint8_t)(i + 1));
		off += SL_FRAME_HDR_LEN + len;
	}
	for (size_t i = 0; i < off; i++) {
		int n;
		CHECK(write(sv[1], wire + i, 1) == 1);
		n = dp_stream_read(r, collect, &g, &why);
		CHECK(n >= 0);
		total += n > 0 ? n : 0;
	}
	CHECK_EQ_INT(total, 3);
	CHECK_EQ_INT(g.n, 3);
	CHECK_EQ_INT(g.from_null, 3);
	for (unsigned i = 0; i < 3 && i < g.n; i++) {
		CHECK_EQ_INT(g.len[i], SL_FRAME_MIN + 30 + i * 17);
		CHECK_EQ_INT(g.first[i], i + 1);
	}
	/* a broken prefix after good frames ends the stream */
	CHECK(write(sv[1], "\xff\xff", 2) == 2);
	CHECK_EQ_INT(dp_stream_read(r, collect, &g, &why), -1);
	CHECK(why && strcmp(why, "broken framing") == 0);
	CHECK(strcmp(dp_stream_why(r), "broken framing") == 0); /* what the owner logs */
	close(sv[1]);
	dp_stream_free(r);
}

/* Sender and reader through a small socket buffer: partial sends finished by flushes, whole frames only. */
static void test_send_flush(void)
{
	int sv[2], small = 4096;
	struct dp_stream *w, *r;
	struct got g = {0};
	uint8_t d[SL_FRAME_MAX];
	const char *why = NULL;
	unsigned sent = 0, dropped = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	w = dp_stream_new(sv[0], NULL, 1);
	r = dp_stream_new(sv[1], NULL, 1);
	CHECK(w && r);
	/* more than the socket and the buffer take: the rest is dropped whole */
	for (unsigned i = 0; i < 64; i++) {
		fill(d, SL_FRAME_MAX, (uint8_t)i);
		if (dp_stream_send(w, d, SL_FRAME_MAX) == 0)
			sent++;
		else
			dropped++;
	}
	CHECK(sent > 0);
	CHECK(dropped > 0);
	CHECK(w->out_len > w->out_off); /* the socket did not take it all */
	/* out of bounds is refused before anything is written */
	CHECK_EQ_INT(dp_stream_send(w, d, SL_FRAME_MIN - 1), -1);
	CHECK_EQ_INT(dp_stream_send(w, d, SL_FRAME_MAX + 1), -1);
	for (int round = 0; round < 10000 && g.n < sent; round++) {
		CHECK(dp_stream_flush(w) == 0);
		CHECK(dp_stream_read(r, collect, &g, &why) >= 0);
	}
	CHECK_EQ_INT(g.n, sent);
	for (unsigned i = 0; i < g.n && i < 64; i++) {
		CHECK_EQ_INT(g.len[i], SL_FRAME_MAX);
		CHECK_EQ_INT(g.first[i], i); /* in order, none lost before the first drop */
	}
	CHECK_EQ_INT(w->out_len, 0);
	/* EOF ends the reader's stream; a dead stream refuses sends */
	dp_stream_end(w);
	CHECK_EQ_INT(dp_stream_send(w, d, SL_FRAME_MIN), -1);
	CHECK_EQ_INT(dp_stream_read(r, collect, &g, &why), -1);
	CHECK(why && strcmp(why, "closed by the peer") == 0);
	CHECK(strcmp(dp_stream_why(r), "closed by the peer") == 0);
	CHECK(strcmp(dp_stream_why(w), "ended by us") == 0);
	dp_stream_free(w);
	dp_stream_free(r);
}

/* dp_stream_service, the workers' handler body: reads on EPOLLIN, nothing without an event it handles, and on
 * the end marks the stream dead (the owner is woken) and keeps the first cause for dp_stream_why. */
static void test_service(void)
{
	int sv[2], nfd = eventfd(0, EFD_NONBLOCK);
	struct dp_stream *r;
	struct got g = {0};
	uint8_t wire[SL_FRAME_HDR_LEN + SL_FRAME_MIN];
	eventfd_t v = 0;

	CHECK(nfd >= 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	r = dp_stream_new(sv[0], NULL, 3);
	CHECK(r != NULL);
	if (!r)
		return;
	r->notify_fd = nfd;
	frame_hdr_encode(wire, SL_FRAME_MIN);
	fill(wire + SL_FRAME_HDR_LEN, SL_FRAME_MIN, 9);
	CHECK(write(sv[1], wire, sizeof(wire)) == (ssize_t)sizeof(wire));
	CHECK_EQ_INT(dp_stream_service(r, 0, collect, &g), 0); /* no event of its own: nothing read */
	CHECK_EQ_INT(g.n, 0);
	CHECK_EQ_INT(dp_stream_service(r, EPOLLIN, collect, &g), 1);
	CHECK_EQ_INT(g.n, 1);
	CHECK(!atomic_load(&r->dead));
	close(sv[1]);
	CHECK_EQ_INT(dp_stream_service(r, EPOLLIN | EPOLLHUP, collect, &g), -1);
	CHECK(atomic_load(&r->dead));
	CHECK(eventfd_read(nfd, &v) == 0 && v == 1); /* the owner was woken */
	CHECK(strcmp(dp_stream_why(r), "closed by the peer") == 0);
	dp_stream_free(r);
	close(nfd);
}

int main(void)
{
	test_prefix();
	test_split_reads();
	test_send_flush();
	test_service();
	return check_done("test_stream");
}
