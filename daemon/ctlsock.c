/* ctlsock: the daemon side and the client side of /run/sluice/IFACE.sock. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "daemon/config.h"
#include "daemon/ctlsock.h"

static int sock_path(const char *ifname, char *buf, size_t n)
{
	int len = snprintf(buf, n, "%s/%s.sock", SL_RUN_DIR, ifname);
	return len > 0 && (size_t)len < n ? 0 : -ENAMETOOLONG;
}

int ctlsock_parse_request(const char *req, size_t len)
{
	const char *nl = memchr(req, '\n', len);
	size_t n = nl ? (size_t)(nl - req) : len;

	return n == 3 && !memcmp(req, "get", 3) ? CTLSOCK_REQ_GET : -1;
}

void ctlsock_seal(struct strbuf *out)
{
	size_t len;

	if (out->oom) { /* a cut answer would look whole: say so instead */
		sb_free(out);
		sb_printf(out, "error=out of memory\n");
	}
	len = out->len;
	sb_printf(out, CTLSOCK_END_KEY "=%zu\n", len);
	if (out->oom)
		sb_free(out);
}

int ctlsock_unseal(char *text, size_t *len)
{
	static const char key[] = CTLSOCK_END_KEY "=";
	size_t n = *len, start;
	unsigned long long v = 0;

	if (!text || n < 2 || text[n - 1] != '\n')
		return -EBADMSG;
	for (start = n - 1; start > 0 && text[start - 1] != '\n'; start--)
		;
	if (n - 1 - start <= sizeof(key) - 1 || memcmp(text + start, key, sizeof(key) - 1))
		return -EBADMSG;
	for (size_t i = start + sizeof(key) - 1; i < n - 1; i++) {
		if (!isdigit((unsigned char)text[i]) || v > (SIZE_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (unsigned)(text[i] - '0');
	}
	if (v != start)
		return -EBADMSG;
	text[start] = 0;
	*len = start;
	return 0;
}

/* The next step's deadline: CTLSOCK_DEADLINE_MS from now, never past the connection's last moment. */
static void conn_step(struct ctlsock_conn *c)
{
	uint64_t d = now_ms() + CTLSOCK_DEADLINE_MS;

	c->deadline_ms = d < c->max_ms ? d : c->max_ms;
}

static void conn_close(struct ctlsock_conn *c)
{
	loop_del(c->cs->loop, &c->io);
	close(c->io.fd);
	sb_free(&c->out);
	c->in_use = false;
}

static void conn_write(struct ctlsock_conn *c)
{
	size_t before = c->out_off;

	while (c->out_off < c->out.len) {
		ssize_t n = send(c->io.fd, c->out.s + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				loop_mod(c->cs->loop, &c->io, EPOLLOUT);
				if (c->out_off > before)
					conn_step(c); /* the reader keeps reading: a big answer is not cut */
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
	struct ctlsock_conn *c = (struct ctlsock_conn *)io;

	if (c->out.s || c->out.oom) {
		conn_write(c);
		return;
	}
	for (;;) {
		ssize_t n = recv(io->fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 && c->req_len == 0) {
			conn_close(c);
			return;
		}
		if (n > 0)
			c->req_len += (size_t)n;
		c->req[c->req_len] = 0;
		if (n <= 0 || strchr(c->req, '\n') || c->req_len == sizeof(c->req) - 1)
			break;
	}
	if (ctlsock_parse_request(c->req, c->req_len) == CTLSOCK_REQ_GET) {
		if (sb_reserve(&c->out, c->cs->last_len + c->cs->last_len / 8 + 4096))
			sb_free(&c->out); /* only a hint: grown as needed after all */
		c->cs->dump(c->cs->arg, &c->out);
		c->cs->last_len = c->out.len;
	} else {
		sb_printf(&c->out, "error=unknown request\n");
	}
	ctlsock_seal(&c->out);
	if (!c->out.s) {
		conn_close(c);
		return;
	}
	conn_write(c);
}

static void sweep(struct loop_timer *t)
{
	struct ctlsock *cs = (struct ctlsock *)((char *)t - offsetof(struct ctlsock, sweep));
	uint64_t now = now_ms(), next = 0;

	for (int i = 0; i < CTLSOCK_MAX_CONNS; i++) {
		struct ctlsock_conn *c = &cs->conns[i];
		if (!c->in_use)
			continue;
		if (now >= c->deadline_ms)
			conn_close(c);
		else if (!next || c->deadline_ms < next)
			next = c->deadline_ms;
	}
	loop_timer_set(&cs->sweep, next);
}

static void on_accept(struct loop_io *io, uint32_t events)
{
	struct ctlsock *cs = (struct ctlsock *)((char *)io - offsetof(struct ctlsock, io));

	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctlsock_conn *c = NULL;

		if (fd < 0)
			return;
		for (int i = 0; i < CTLSOCK_MAX_CONNS && !c; i++)
			if (!cs->conns[i].in_use)
				c = &cs->conns[i];
		if (!c) {
			close(fd); /* at the cap: the caller retries */
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->cs = cs;
		c->in_use = true;
		c->max_ms = now_ms() + CTLSOCK_MAX_MS;
		conn_step(c);
		if (loop_add(cs->loop, &c->io, fd, EPOLLIN, conn_event)) {
			close(fd);
			c->in_use = false;
			continue;
		}
		if (!cs->sweep.due_ms || c->deadline_ms < cs->sweep.due_ms)
			loop_timer_set(&cs->sweep, c->deadline_ms);
	}
}

/* A socket file that accepts a connection belongs to a live daemon. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

int ctlsock_open(struct ctlsock *cs, struct loop *l, const char *ifname, ctlsock_dump_fn dump, void *arg,
		 struct sl_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int ret;

	memset(cs, 0, sizeof(*cs));
	cs->fd = -1;
	cs->loop = l;
	cs->dump = dump;
	cs->arg = arg;
	if (sock_path(ifname, cs->path, sizeof(cs->path)))
		return sl_errf(e, -ENAMETOOLONG, "control socket path for %s too long", ifname);
	if (mkdir(SL_RUN_DIR, 0755) && errno != EEXIST)
		return sl_errf(e, -errno, "mkdir %s: %s", SL_RUN_DIR, strerror(errno));
	if (socket_alive(cs->path))
		return sl_errf(e, -EADDRINUSE, "%s: another sluiced already runs interface %s", cs->path,
			       ifname);
	unlink(cs->path);
	cs->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->fd < 0)
		return sl_errf(e, -errno, "control socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cs->path);
	old = umask(077); /* mode 0600 from the start: no window where others could connect */
	ret = bind(cs->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret || listen(cs->fd, CTLSOCK_MAX_CONNS)) {
		ret = -errno;
		close(cs->fd);
		cs->fd = -1;
		return sl_errf(e, ret, "control socket %s: %s", cs->path, strerror(-ret));
	}
	loop_timer_init(l, &cs->sweep, sweep);
	ret = loop_add(l, &cs->io, cs->fd, EPOLLIN, on_accept);
	if (ret) {
		ctlsock_close(cs);
		return sl_errf(e, ret, "control socket %s: epoll: %s", cs->path, strerror(-ret));
	}
	return 0;
}

void ctlsock_close(struct ctlsock *cs)
{
	if (cs->fd < 0)
		return;
	for (int i = 0; i < CTLSOCK_MAX_CONNS; i++)
		if (cs->conns[i].in_use)
			conn_close(&cs->conns[i]);
	loop_timer_remove(cs->loop, &cs->sweep);
	loop_del(cs->loop, &cs->io);
	close(cs->fd);
	unlink(cs->path);
	cs->fd = -1;
}

int ctlsock_query(const char *ifname, const char *req, int timeout_ms, struct strbuf *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret = 0;
	char buf[65536];

	if (sock_path(ifname, sa.sun_path, sizeof(sa.sun_path)))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = (errno == ECONNREFUSED || errno == ENOENT) ? -ENOENT : -errno;
		goto out;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		int r = poll(&p, 1, timeout_ms);
		if (r == 0) {
			ret = -ETIMEDOUT;
			break;
		}
		if (r < 0) {
			ret = -errno;
			break;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		sb_append(out, buf, (size_t)n);
	}
	if (!ret && out->oom)
		ret = -ENOMEM;
	else if (!ret && !out->len)
		ret = -ENODATA;
	else if (!ret)
		ret = ctlsock_unseal(out->s, &out->len);
out:
	close(fd);
	return ret;
}
