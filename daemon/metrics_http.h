/* metrics_http: the optional Prometheus endpoint (`MetricsListen = 127.0.0.1:9586`): `GET /metrics`
 * answered with the text of `sluice metrics` (metrics.h), HTTP/1.x, one request per connection,
 * then closed.
 *
 * It lives on the control thread's loop, never on the data path, and can never block it: a
 * non-blocking listener and connections, a fixed table of METRICS_HTTP_MAX_CONNS connections (no
 * allocation but the reply), a request head of at most METRICS_HTTP_REQ_MAX bytes, and
 * METRICS_HTTP_DEADLINE_MS for the whole exchange, after which a connection is closed whatever its
 * state. When the table is full a new connection takes the place of the oldest one still sending
 * its request (a slow client never locks out a scraper, whose request comes in one segment and is
 * answered at once); if every place is busy answering, the newcomer is closed. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"
#include "daemon/common/strbuf.h"
#include "daemon/ctlsock.h"
#include "daemon/loop.h"

#define METRICS_HTTP_MAX_CONNS 8
#define METRICS_HTTP_REQ_MAX 2048
#define METRICS_HTTP_DEADLINE_MS 3000
#define METRICS_HTTP_GRACE_MS 100 /* a connection this young is evicted only when all are */
/* The kernel's queue of connections not yet accepted. What the daemon holds stays METRICS_HTTP_MAX_CONNS; a
 * queue that short, though, was full whenever a burst of reconnecting slow clients arrived while the control loop
 * was busy elsewhere, and a scraper's SYN was then dropped: one second to its retry (t_metrics, once in a CI run). */
#define METRICS_HTTP_BACKLOG 128

struct metrics_http;

struct metrics_http_conn {
	struct loop_io io;
	struct metrics_http *mh;
	uint64_t accepted_ms;
	uint64_t seq; /* order of acceptance: the oldest is evicted first */
	char req[METRICS_HTTP_REQ_MAX + 1];
	size_t req_len;
	struct strbuf out; /* the whole reply once the request is complete */
	size_t out_off;
	bool in_use;
};

struct metrics_http {
	struct loop *loop;
	struct loop_io io;
	ctlsock_dump_fn dump; /* the status the control socket serves, turned into metrics here */
	void *arg;
	struct metrics_http_conn conns[METRICS_HTTP_MAX_CONNS];
	struct loop_timer sweep;
	uint64_t accepted; /* connections accepted so far */
	bool open;
};

/* Binds and listens on addr (TCP). 0 or -errno with e->msg "metrics endpoint ADDR: what failed". */
int metrics_http_open(struct metrics_http *mh, struct loop *l, const struct sockaddr_storage *addr,
		      socklen_t addr_len, ctlsock_dump_fn dump, void *arg, struct sl_err *e);
/* Closes the listener and every connection; nothing on a zeroed (never opened) struct. */
void metrics_http_close(struct metrics_http *mh);

/* The answer to one request head (for tests and fuzzing): the status line, headers and body into
 * out. The body of a 200 comes from `dump`. Returns the HTTP status code. */
int metrics_http_respond(const char *req, size_t len, ctlsock_dump_fn dump, void *arg,
			 struct strbuf *out);
