/* ctlsock: the daemon's control socket /run/sluice/IFACE.sock (mode 0600, root). One request per connection:
 * the client writes one line ("get"), the daemon answers with its state as "key=value" lines and closes.
 * Served from the event loop without ever blocking it: non-blocking sockets, a per-connection deadline, a cap on
 * concurrent connections, replies built from counters the data plane already keeps.
 *
 * An answer is whole or an error, never silently short (issue #25): the daemon builds it completely, then adds
 * one last line "end=N", N the number of bytes before that line; the client accepts an answer only if it ends
 * with that line and the count agrees. A daemon out of memory answers "error=out of memory" instead of a cut
 * answer. A connection may take CTLSOCK_DEADLINE_MS between two steps (request, each write that moves the
 * answer on) and CTLSOCK_MAX_MS in all: a big answer to a reader that keeps reading is never cut. */
#pragma once
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/common/strbuf.h"
#include "daemon/loop.h"

#define CTLSOCK_MAX_CONNS 16
#define CTLSOCK_DEADLINE_MS 2000 /* without progress */
#define CTLSOCK_MAX_MS 30000     /* in all */
#define CTLSOCK_END_KEY "end"

typedef void (*ctlsock_dump_fn)(void *arg, struct strbuf *out);

struct ctlsock_conn {
	struct loop_io io;
	struct ctlsock *cs;
	uint64_t deadline_ms; /* the next step's; never past max_ms */
	uint64_t max_ms;
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
	size_t last_len; /* the previous answer's size: the next one is built in one buffer, not grown into */
};

/* Creates SL_RUN_DIR if needed and binds IFACE.sock (replacing a stale socket of a dead daemon; refusing if a
 * live daemon answers on it). */
int ctlsock_open(struct ctlsock *cs, struct loop *l, const char *ifname, ctlsock_dump_fn dump, void *arg,
		 struct sl_err *e);
void ctlsock_close(struct ctlsock *cs);

/* The one request there is: "get" (up to a newline or the end). CTLSOCK_REQ_GET or -1 for anything else. */
enum { CTLSOCK_REQ_GET = 1 };
int ctlsock_parse_request(const char *req, size_t len);

/* The daemon side of the end line: an answer that ran out of memory becomes "error=out of memory", then
 * "end=N" is added. Leaves `out` empty (s NULL) if even that cannot be allocated. */
void ctlsock_seal(struct strbuf *out);
/* The client side: 0 if text (len bytes) ends with the end line and its count agrees; the end line is then cut
 * off (*len shrinks, the text stays NUL-terminated). -EBADMSG otherwise, text untouched. */
int ctlsock_unseal(char *text, size_t *len);

/* The client side (sluice show): connects, sends `req`, reads the whole answer, waiting at most timeout_ms for
 * each part of it, and checks it is complete (ctlsock_unseal). 0 with the answer without its end line in `out`;
 * -ENOENT (no such interface), -ETIMEDOUT, -ENODATA (closed without a byte: the daemon is at its cap of
 * concurrent requests), -EBADMSG (cut short: no end line or a wrong count), -ENOMEM, or -errno. */
int ctlsock_query(const char *ifname, const char *req, int timeout_ms, struct strbuf *out);
