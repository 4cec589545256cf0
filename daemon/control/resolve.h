/* resolve: the client's own lookups of server names (DESIGN 10.5), asynchronous in the event loop through
 * c-ares, A and AAAA. Every query socket carries the daemon's fwmark (set in c-ares' socket callback), so the
 * query bypasses the tunnel's routes and passes the kill switch, which lets only marked port-53 traffic out;
 * the servers asked are the underlay's resolvers recorded before sluice applied its own DNS. One lookup at a
 * time; its answer is delivered from the loop (never from inside resolver_start). */
#pragma once
#include <ares.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/addrcache.h"
#include "daemon/common/errmsg.h"
#include "daemon/loop.h"

#define RESOLVE_MAX_FDS 8         /* sockets c-ares has open at once (UDP + TCP per server asked) */
#define RESOLVE_CSV_MAX 512       /* the resolvers asked, as c-ares' "ADDR[:PORT],…" */
#define RESOLVE_TRY_TIMEOUT_MS 1500
#define RESOLVE_TRIES 2

/* addrs: the name's addresses with `port` (NULL on failure); err: why it failed (NULL on success). */
typedef void (*resolve_cb)(void *arg, const struct sl_addrs *addrs, const char *err);

struct resolver;

struct resolve_fd {
	struct loop_io io;
	struct resolver *r;
	bool used;
};

struct resolver {
	ares_channel ch;
	bool have_ch;
	struct loop *loop;
	struct loop_timer timer; /* c-ares' next timeout; due at once when an answer waits to be delivered */
	struct resolve_fd fds[RESOLVE_MAX_FDS];
	uint32_t mark;
	bool busy;      /* a lookup is under way */
	bool answered;  /* its answer waits in result/err for the timer to deliver it */
	bool cancelling;
	uint16_t port;
	struct sl_addrs result;
	char err[128];
	resolve_cb cb;
	void *arg;
};

/* One c-ares channel driven by `loop`, its sockets marked with `mark`. 0 or -errno with e->msg. */
int resolver_init(struct resolver *r, struct loop *loop, uint32_t mark, struct sl_err *e);
void resolver_close(struct resolver *r);
/* Starts looking up `host`; cb gets its addresses with `port`. `servers` (c-ares CSV, may be NULL or empty:
 * then the system's resolv.conf as read at init) are the resolvers asked. -EBUSY while a lookup is under way,
 * -EINVAL for servers c-ares refuses. */
int resolver_start(struct resolver *r, const char *host, uint16_t port, const char *servers, resolve_cb cb,
		   void *arg);
/* Abandons the lookup under way: its callback never comes. */
void resolver_cancel(struct resolver *r);

/* The nameservers of a resolv.conf-style file as c-ares CSV in csv (empty when none). systemd-resolved's
 * stub (127.0.0.53) forwards with sockets of its own, which a kill switch would stop, so for it the upstream
 * servers it uses are read from /run/systemd/resolve/resolv.conf instead. Returns how many. */
unsigned resolv_conf_servers(const char *path, char *csv, size_t n);
