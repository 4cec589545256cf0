/* resolve: server names through c-ares in the event loop, with marked sockets (control/resolve.h).
 * c-ares tells which sockets to watch through its socket-state callback (each becomes a loop_io), and when to
 * come back through ares_timeout (the one loop_timer); the answer is kept and delivered by that timer, so the
 * caller's callback never runs inside c-ares or inside resolver_start. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "daemon/control/resolve.h"

#define RESOLVED_STUB "127.0.0.53"
#define RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"

static struct resolver *timer_owner(struct loop_timer *t)
{
	return (struct resolver *)((char *)t - offsetof(struct resolver, timer));
}

/* c-ares' next deadline, or at once when an answer waits. */
static void rearm(struct resolver *r)
{
	struct timeval tv, *tvp;

	if (r->answered) {
		loop_timer_set(&r->timer, now_ms());
		return;
	}
	if (!r->busy) {
		loop_timer_set(&r->timer, 0);
		return;
	}
	tvp = ares_timeout(r->ch, NULL, &tv);
	loop_timer_set(&r->timer, now_ms() + (tvp ? (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u + 1 : 1000u));
}

static void on_io(struct loop_io *io, uint32_t events)
{
	struct resolve_fd *f = (struct resolve_fd *)io;
	struct resolver *r = f->r;
	ares_socket_t fd = io->fd;

	ares_process_fd(r->ch, (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD,
			(events & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
	rearm(r);
}

static void on_timer(struct loop_timer *t)
{
	struct resolver *r = timer_owner(t);

	if (r->answered) {
		r->answered = false;
		r->busy = false;
		loop_timer_set(&r->timer, 0);
		r->cb(r->arg, r->err[0] ? NULL : &r->result, r->err[0] ? r->err : NULL);
		return;
	}
	if (r->busy)
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts, retries */
	rearm(r);
}

/* c-ares opened, changed or is about to close one of its sockets. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct resolve_fd *f = NULL, *free_slot = NULL;
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	for (int i = 0; i < RESOLVE_MAX_FDS; i++) {
		if (r->fds[i].used && r->fds[i].io.fd == fd)
			f = &r->fds[i];
		else if (!r->fds[i].used && !free_slot)
			free_slot = &r->fds[i];
	}
	if (!ev) {
		if (f) {
			loop_del(r->loop, &f->io);
			f->used = false;
			f->io.fd = -1;
		}
		return;
	}
	if (f) {
		loop_mod(r->loop, &f->io, ev);
		return;
	}
	if (free_slot && !loop_add(r->loop, &free_slot->io, fd, ev, on_io)) {
		free_slot->used = true;
		free_slot->r = r;
	}
	/* no slot (cannot happen with RESOLVE_MAX_FDS above what one lookup opens): the query times out */
}

/* Every query socket carries the fwmark: past our own routes and through the kill switch. Set in the configure
 * callback, which c-ares calls before it connects the socket: connect() picks the route and the source address,
 * so a mark set afterwards (the create callback) left the query with the tunnel's source address once the full
 * tunnel's rules were in place — and, after the host moved to another network, with no way out (issue #24). */
static int sock_configure(ares_socket_t fd, int type, void *data)
{
	struct resolver *r = data;

	(void)type;
	if (!r->mark) /* unmarked (tests) */
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_MARK, &r->mark, sizeof(r->mark)) ? -1 : 0;
}

static void answered(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct resolver *r = arg;

	(void)timeouts;
	if (r->cancelling || status == ARES_EDESTRUCTION) {
		if (res)
			ares_freeaddrinfo(res);
		return;
	}
	r->result.n = 0;
	r->err[0] = 0;
	if (status != ARES_SUCCESS) {
		snprintf(r->err, sizeof(r->err), "%s", ares_strerror(status));
	} else {
		for (struct ares_addrinfo_node *n = res ? res->nodes : NULL; n && r->result.n < SL_MAX_SERVER_ADDRS;
		     n = n->ai_next) {
			struct sockaddr_storage *ss = &r->result.a[r->result.n];
			memset(ss, 0, sizeof(*ss));
			if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in)) {
				memcpy(ss, n->ai_addr, sizeof(struct sockaddr_in));
				((struct sockaddr_in *)ss)->sin_port = htons(r->port);
			} else if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(struct sockaddr_in6)) {
				memcpy(ss, n->ai_addr, sizeof(struct sockaddr_in6));
				((struct sockaddr_in6 *)ss)->sin6_port = htons(r->port);
			} else {
				continue;
			}
			if (!addrs_contain(&r->result, ss)) /* one per address, not per socket type */
				r->result.n++;
		}
		if (!r->result.n)
			snprintf(r->err, sizeof(r->err), "no IPv4 or IPv6 address");
	}
	if (res)
		ares_freeaddrinfo(res);
	r->answered = true; /* delivered by the timer, outside c-ares */
}

int resolver_init(struct resolver *r, struct loop *loop, uint32_t mark, struct sl_err *e)
{
	struct ares_options o = {0};
	int ret;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->mark = mark;
	for (int i = 0; i < RESOLVE_MAX_FDS; i++)
		r->fds[i].io.fd = -1;
	loop_timer_init(loop, &r->timer, on_timer);
	ret = ares_library_init(ARES_LIB_INIT_ALL);
	if (ret != ARES_SUCCESS)
		return sl_errf(e, -ENOMEM, "resolver: %s", ares_strerror(ret));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	o.timeout = RESOLVE_TRY_TIMEOUT_MS;
	o.tries = RESOLVE_TRIES;
	o.lookups = (char *)"fb"; /* /etc/hosts, then DNS: like getaddrinfo */
	ret = ares_init_options(&r->ch, &o,
				ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
	if (ret != ARES_SUCCESS) {
		ares_library_cleanup();
		return sl_errf(e, -ENOMEM, "resolver: %s", ares_strerror(ret));
	}
	r->have_ch = true;
	ares_set_socket_configure_callback(r->ch, sock_configure, r);
	return 0;
}

void resolver_cancel(struct resolver *r)
{
	if (!r->have_ch || !r->busy)
		return;
	r->cancelling = true;
	ares_cancel(r->ch);
	r->cancelling = false;
	r->busy = false;
	r->answered = false;
	loop_timer_set(&r->timer, 0);
}

void resolver_close(struct resolver *r)
{
	if (!r->have_ch)
		return;
	r->cancelling = true;
	ares_destroy(r->ch); /* closes its sockets: sock_state takes them out of the loop first */
	r->have_ch = false;
	for (int i = 0; i < RESOLVE_MAX_FDS; i++)
		if (r->fds[i].used) {
			loop_del(r->loop, &r->fds[i].io);
			r->fds[i].used = false;
		}
	loop_timer_remove(r->loop, &r->timer);
	ares_library_cleanup();
}

int resolver_start(struct resolver *r, const char *host, uint16_t port, const char *servers, resolve_cb cb,
		   void *arg)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NOSORT};

	if (!r->have_ch)
		return -EINVAL;
	if (r->busy)
		return -EBUSY;
	if (servers && servers[0] && ares_set_servers_ports_csv(r->ch, servers) != ARES_SUCCESS)
		return -EINVAL;
	r->busy = true;
	r->answered = false;
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	ares_getaddrinfo(r->ch, host, NULL, &hints, answered, r); /* may answer at once (/etc/hosts) */
	rearm(r);
	return 0;
}

/* Appends "ADDR" (IPv4) or "[ADDR]:53" (IPv6) to csv; false when it is not a numeric address, or one with a
 * scope ("fe80::1%eth0": c-ares 1.18 refuses those in a server list; with none usable left, c-ares keeps the
 * servers it read itself at init). */
static bool csv_add(char *csv, size_t n, const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;
	size_t len = strlen(csv);

	if (inet_pton(AF_INET, addr, &a4) == 1)
		snprintf(csv + len, n - len, "%s%s", len ? "," : "", addr);
	else if (inet_pton(AF_INET6, addr, &a6) == 1)
		snprintf(csv + len, n - len, "%s[%s]:53", len ? "," : "", addr);
	else
		return false;
	return true;
}

static unsigned read_nameservers(const char *path, char *csv, size_t n, bool *stub)
{
	char line[512];
	unsigned count = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char key[32], addr[64];
		if (sscanf(line, " %31s %63s", key, addr) != 2 || strcmp(key, "nameserver"))
			continue;
		if (stub && !strcmp(addr, RESOLVED_STUB)) {
			*stub = true;
			continue;
		}
		count += csv_add(csv, n, addr);
	}
	fclose(f);
	return count;
}

unsigned resolv_conf_servers(const char *path, char *csv, size_t n)
{
	bool stub = false;
	unsigned count;

	csv[0] = 0;
	count = read_nameservers(path, csv, n, &stub);
	if (stub) /* resolved's upstream servers; the stub itself only if it has none listed */
		count += read_nameservers(RESOLVED_UPSTREAM, csv, n, NULL);
	if (stub && !count)
		count += csv_add(csv, n, RESOLVED_STUB);
	return count;
}
