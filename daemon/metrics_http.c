/* metrics_http: a tiny HTTP/1.x server for GET /metrics on the control thread's loop (see
 * metrics_http.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/metrics.h"
#include "daemon/metrics_http.h"
#include "daemon/sockets.h"

static const char *reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

static int reply(struct strbuf *out, int code, const char *type, const char *body, size_t len,
		 bool head_only)
{
	sb_printf(out,
		  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: "
		  "no-store\r\n"
		  "Connection: close\r\n%s\r\n",
		  code, reason(code), type, len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head_only && len)
		sb_printf(out, "%.*s", (int)len, body);
	return code;
}

static int reply_error(struct strbuf *out, int code)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason(code));

	return reply(out, code, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* The end of the request head (an empty line), or NULL while it has not arrived. */
static const char *head_end(const char *req, size_t len)
{
	const char *crlf = memmem(req, len, "\r\n\r\n", 4), *lf = memmem(req, len, "\n\n", 2);

	return crlf && (!lf || crlf < lf) ? crlf : lf;
}

/* The request line "METHOD SP TARGET SP HTTP/1.x": exactly two single spaces, nothing else below
 * 0x21. */
static bool split_request_line(char *line, char **method, char **target, char **version)
{
	char *sp1, *sp2;

	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x21 && *p != ' ')
			return false;
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || !sp2[1] || strchr(sp2 + 1, ' '))
		return false;
	*sp1 = *sp2 = 0;
	*method = line;
	*target = sp1 + 1;
	*version = sp2 + 1;
	return true;
}

int metrics_http_respond(const char *req, size_t len, ctlsock_dump_fn dump, void *arg,
			 struct strbuf *out)
{
	char line[256], *method, *target, *version;
	const char *eol = memchr(req, '\n', len);
	size_t ll = eol ? (size_t)(eol - req) : len;
	struct strbuf status = {0}, text = {0};
	struct st_iface st;
	bool head_only;
	int code;

	if (ll && req[ll - 1] == '\r')
		ll--;
	if (!eol || ll >= sizeof(line) || memchr(req, 0, ll))
		return reply_error(out, 400);
	memcpy(line, req, ll);
	line[ll] = 0;
	if (!split_request_line(line, &method, &target, &version))
		return reply_error(out, 400);
	if (strncmp(version, "HTTP/", 5))
		return reply_error(out, 400);
	if (strncmp(version, "HTTP/1.", 7) || !version[7] || version[8])
		return reply_error(out, 505);
	head_only = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head_only)
		return reply_error(out, 405);
	if (strcmp(target, "/metrics") && strncmp(target, "/metrics?", 9))
		return reply_error(out, 404);

	dump(arg, &status);
	if (status.oom || !status.s || st_parse(status.s, &st)) {
		sb_free(&status);
		return reply_error(out, 500);
	}
	metrics_text(&st, 1, &text);
	st_free(&st);
	sb_free(&status);
	if (text.oom || !text.s)
		code = reply_error(out, 500);
	else
		code = reply(out, 200, METRICS_CONTENT_TYPE, text.s, text.len, head_only);
	sb_free(&text);
	return code;
}

static void conn_close(struct metrics_http_conn *c)
{
	loop_del(c->mh->loop, &c->io);
	close(c->io.fd);
	sb_free(&c->out);
	c->in_use = false;
}

static void conn_write(struct metrics_http_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n =
		    send(c->io.fd, c->out.s + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				loop_mod(c->mh->loop, &c->io, EPOLLOUT);
				return;
			}
			break;
		}
		c->out_off += (size_t)n;
	}
	conn_close(c);
}

static void conn_event(struct loop_io *io, uint32_t events)
{
	struct metrics_http_conn *c = (struct metrics_http_conn *)io;
	bool eof = false;

	if (c->out.s || c->out.oom) {
		conn_write(c);
		return;
	}
	while (c->req_len < METRICS_HTTP_REQ_MAX) {
		ssize_t n = recv(io->fd, c->req + c->req_len, METRICS_HTTP_REQ_MAX - c->req_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			eof = true;
			break;
		}
		c->req_len += (size_t)n;
	}
	if (head_end(c->req, c->req_len))
		metrics_http_respond(c->req, c->req_len, c->mh->dump, c->mh->arg, &c->out);
	else if (c->req_len == METRICS_HTTP_REQ_MAX)
		reply_error(&c->out, 431);
	else if (eof && c->req_len)
		reply_error(&c->out, 400);
	else if (!eof)
		return; /* more to come, within the deadline */
	if (!c->out.s) {
		conn_close(c);
		return;
	}
	conn_write(c);
}

static void arm_sweep(struct metrics_http *mh)
{
	uint64_t next = 0;

	for (int i = 0; i < METRICS_HTTP_MAX_CONNS; i++) {
		const struct metrics_http_conn *c = &mh->conns[i];
		uint64_t due = c->accepted_ms + METRICS_HTTP_DEADLINE_MS;
		if (c->in_use && (!next || due < next))
			next = due;
	}
	loop_timer_set(&mh->sweep, next);
}

static void sweep(struct loop_timer *t)
{
	struct metrics_http *mh =
	    (struct metrics_http *)((char *)t - offsetof(struct metrics_http, sweep));
	uint64_t now = now_ms();

	for (int i = 0; i < METRICS_HTTP_MAX_CONNS; i++) {
		struct metrics_http_conn *c = &mh->conns[i];
		if (c->in_use && now >= c->accepted_ms + METRICS_HTTP_DEADLINE_MS)
			conn_close(c);
	}
	arm_sweep(mh);
}

/* A free place, else the oldest connection still sending its request (closed for the newcomer), else NULL.
 * Connections past METRICS_HTTP_GRACE_MS go first, so a scraper just accepted, whose request is on its way,
 * is not pushed out by the next burst; and what the one chosen has already sent is read first: a complete
 * request is answered, never evicted. */
static struct metrics_http_conn *conn_slot(struct metrics_http *mh)
{
	uint64_t now = now_ms();

	for (int tries = 0; tries <= METRICS_HTTP_MAX_CONNS; tries++) {
		struct metrics_http_conn *oldest = NULL;
		bool oldest_in_grace = true;

		for (int i = 0; i < METRICS_HTTP_MAX_CONNS; i++) {
			struct metrics_http_conn *c = &mh->conns[i];
			bool in_grace = now < c->accepted_ms + METRICS_HTTP_GRACE_MS;
			if (!c->in_use)
				return c;
			if (c->out.s || c->out.oom)
				continue;
			if (!oldest || (oldest_in_grace && !in_grace) ||
			    (oldest_in_grace == in_grace && c->seq < oldest->seq)) {
				oldest = c;
				oldest_in_grace = in_grace;
			}
		}
		if (!oldest)
			return NULL;
		conn_event(&oldest->io, EPOLLIN);
		if (oldest->in_use && !oldest->out.s && !oldest->out.oom) {
			conn_close(oldest);
			return oldest;
		}
	}
	return NULL;
}

static void on_accept(struct loop_io *io, uint32_t events)
{
	struct metrics_http *mh =
	    (struct metrics_http *)((char *)io - offsetof(struct metrics_http, io));

	/* a burst is taken a table's worth at a time, so the requests of those already in are read in between */
	for (int n = 0; n < METRICS_HTTP_MAX_CONNS; n++) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct metrics_http_conn *c;

		if (fd < 0)
			break;
		c = conn_slot(mh);
		if (!c) {
			close(fd); /* every place is busy answering: the scraper retries */
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->mh = mh;
		c->accepted_ms = now_ms();
		c->seq = ++mh->accepted;
		c->in_use = true;
		if (loop_add(mh->loop, &c->io, fd, EPOLLIN, conn_event)) {
			close(fd);
			c->in_use = false;
		}
	}
	arm_sweep(mh);
}

int metrics_http_open(struct metrics_http *mh, struct loop *l, const struct sockaddr_storage *addr,
		      socklen_t addr_len, ctlsock_dump_fn dump, void *arg, struct sl_err *e)
{
	char a[64];
	int one = 1, fd, ret;

	memset(mh, 0, sizeof(*mh));
	mh->loop = l;
	mh->dump = dump;
	mh->arg = arg;
	sock_addr_str(addr, a, sizeof(a));
	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sl_errf(e, -errno, "metrics endpoint %s: socket: %s", a, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, addr_len) ||
	    listen(fd, METRICS_HTTP_BACKLOG)) {
		ret = -errno;
		close(fd);
		return sl_errf(e, ret, "metrics endpoint %s: %s", a, strerror(-ret));
	}
	loop_timer_init(l, &mh->sweep, sweep);
	ret = loop_add(l, &mh->io, fd, EPOLLIN, on_accept);
	if (ret) {
		loop_timer_remove(l, &mh->sweep);
		close(fd);
		return sl_errf(e, ret, "metrics endpoint %s: epoll: %s", a, strerror(-ret));
	}
	mh->open = true;
	return 0;
}

void metrics_http_close(struct metrics_http *mh)
{
	if (!mh->open)
		return;
	for (int i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
		if (mh->conns[i].in_use)
			conn_close(&mh->conns[i]);
	loop_timer_remove(mh->loop, &mh->sweep);
	loop_del(mh->loop, &mh->io);
	close(mh->io.fd);
	mh->open = false;
}
