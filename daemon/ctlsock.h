/* ctlsock: the daemon's control socket /run/sluice/IFACE.sock (mode 0600, root). One request per connection:
 * the client writes one line ("get"), the daemon answers with its state as "key=value" lines and closes.
 * Served from the event loop without ever blocking it: non-blocking sockets, a per-connection deadline, a cap on
 * concurrent connections, replies built from counters the data plane already keeps. */
#pragma once
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/common/strbuf.h"
#include "daemon/loop.h"

#define CTLSOCK_MAX_CONNS 16
#define CTLSOCK_DEADLINE_MS 2000

typedef void (*ctlsock_dump_fn)(void *arg, struct strbuf *out);

struct ctlsock_conn {
	struct loop_io io;
	struct ctlsock *cs;
	uint64_t deadline_ms;
	char req[64];
	size_t req_len;
	struct strbuf out;
	size_t out_off;
	bool in_use;
};

struct ctlsock {
	struct loop *loop;
	struct loop_io io;
	int fd;
	char path[108];
	ctlsock_dump_fn dump;
	void *arg;
	struct ctlsock_conn conns[CTLSOCK_MAX_CONNS];
	struct loop_timer sweep;
};

/* Creates SL_RUN_DIR if needed and binds IFACE.sock (replacing a stale socket of a dead daemon; refusing if a
 * live daemon answers on it). */
int ctlsock_open(struct ctlsock *cs, struct loop *l, const char *ifname, ctlsock_dump_fn dump, void *arg,
		 struct sl_err *e);
void ctlsock_close(struct ctlsock *cs);

/* The one request there is: "get" (up to a newline or the end). CTLSOCK_REQ_GET or -1 for anything else. */
enum { CTLSOCK_REQ_GET = 1 };
int ctlsock_parse_request(const char *req, size_t len);

/* The client side (sluice show): connects, sends `req`, reads the whole answer within timeout_ms.
 * 0, -ENOENT (no such interface), -ETIMEDOUT, or -errno. */
int ctlsock_query(const char *ifname, const char *req, int timeout_ms, struct strbuf *out);
