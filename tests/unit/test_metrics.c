/* test_metrics: the Prometheus endpoint. metrics_http_respond answers each kind of request head
 * (the body of a 200 is exactly metrics_text of the daemon's status, the text `sluice metrics`
 * prints); then the listener on a real loop over loopback: a scrape, an oversized head, a half-sent
 * head at EOF, slow clients filling every place (the oldest is evicted for a newcomer, a scrape
 * still goes through), and the deadline closing what is left. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/metrics.h"
#include "daemon/metrics_http.h"
#include "tests/unit/check.h"

static const char *status_text =
    "interface=gw0\nmode=server\ntun_rx_packets=7\nhandshakes_ok=2\nuptime=5\n"
    "peer=laptop\npeer_rx_bytes=1234\npeer_tx_packets=9\n";

static void dump_gw(void *arg, struct strbuf *out)
{
	sb_printf(out, "%s", (const char *)arg);
}

/* What `sluice metrics` prints for the same status. */
static char *expected_body(const char *status)
{
	struct strbuf kv = {0}, text = {0};
	struct st_iface st;

	sb_printf(&kv, "%s", status);
	if (st_parse(kv.s, &st))
		return NULL;
	metrics_text(&st, 1, &text);
	st_free(&st);
	sb_free(&kv);
	return text.s;
}

static int respond(const char *req, const char *status, struct strbuf *out)
{
	memset(out, 0, sizeof(*out));
	return metrics_http_respond(req, strlen(req), dump_gw, (void *)status, out);
}

static void test_respond(void)
{
	char *body = expected_body(status_text), want[128];
	struct strbuf out;
	const char *sep;

	CHECK(body != NULL);
	CHECK_STR_CONTAINS(body, "sluice_up{interface=\"gw0\"} 1\n");
	CHECK_STR_CONTAINS(body,
			   "sluice_peer_rx_bytes_total{interface=\"gw0\",peer=\"laptop\"} 1234\n");

	CHECK_EQ_INT(respond("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9586\r\nAccept: */*\r\n\r\n",
			     status_text, &out),
		     200);
	CHECK(!strncmp(out.s, "HTTP/1.1 200 OK\r\n", 17));
	CHECK_STR_CONTAINS(out.s, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
	CHECK_STR_CONTAINS(out.s, "\r\nConnection: close\r\n");
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", strlen(body));
	CHECK_STR_CONTAINS(out.s, want);
	sep = strstr(out.s, "\r\n\r\n");
	CHECK(sep && !strcmp(sep + 4, body)); /* the same text as `sluice metrics`, byte for byte */
	sb_free(&out);

	CHECK_EQ_INT(respond("HEAD /metrics HTTP/1.0\n\n", status_text, &out), 200);
	CHECK_STR_CONTAINS(out.s, want);
	sep = strstr(out.s, "\r\n\r\n");
	CHECK(sep && sep[4] == 0); /* headers only */
	sb_free(&out);

	CHECK_EQ_INT(respond("GET /metrics?name[]=x HTTP/1.1\r\n\r\n", status_text, &out), 200);
	sb_free(&out);
	CHECK_EQ_INT(
	    respond("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", status_text, &out), 405);
	CHECK_STR_CONTAINS(out.s, "\r\nAllow: GET, HEAD\r\n");
	sb_free(&out);
	CHECK_EQ_INT(respond("GET / HTTP/1.1\r\n\r\n", status_text, &out), 404);
	CHECK(!strncmp(out.s, "HTTP/1.1 404 Not Found\r\n", 24));
	sb_free(&out);
	CHECK_EQ_INT(respond("GET /metricsx HTTP/1.1\r\n\r\n", status_text, &out), 404);
	sb_free(&out);
	CHECK_EQ_INT(respond("GET /metrics HTTP/2.0\r\n\r\n", status_text, &out), 505);
	sb_free(&out);
	CHECK_EQ_INT(respond("GET /metrics\r\n\r\n", status_text, &out), 400);
	sb_free(&out);
	CHECK_EQ_INT(respond("GET  /metrics HTTP/1.1\r\n\r\n", status_text, &out), 400);
	sb_free(&out);
	CHECK_EQ_INT(respond("GET /metrics HTTP/1.1 x\r\n\r\n", status_text, &out), 400);
	sb_free(&out);
	CHECK_EQ_INT(respond("\r\n\r\n", status_text, &out), 400);
	sb_free(&out);
	memset(&out, 0, sizeof(out));
	CHECK_EQ_INT(metrics_http_respond("GET /me\0trics HTTP/1.1\r\n\r\n", 26, dump_gw,
					  (void *)status_text, &out),
		     400);
	sb_free(&out);
	/* a status that does not parse is the server's fault */
	CHECK_EQ_INT(respond("GET /metrics HTTP/1.1\r\n\r\n", "garbage\n", &out), 500);
	sb_free(&out);
	free(body);
}

/* ---- the listener on a loop */

static struct loop l;
static struct metrics_http mh;
static struct sockaddr_in srv;
static struct loop_timer tick; /* bounds each loop_once to 5 ms */

static void on_tick(struct loop_timer *t)
{
}

/* Runs the loop for up to ms, or until fd has something to read (or is closed) when fd >= 0. */
static void spin(int ms, int fd)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (fd >= 0 && poll(&p, 1, 0) == 1)
			return;
		loop_timer_set(&tick, now_ms() + 5);
		loop_once(&l);
	}
}

static int connect_srv(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&srv, sizeof(srv)))
		return -1;
	spin(20, -1); /* accepted */
	return fd;
}

/* Reads until EOF (the server closes after one answer); returns the bytes read, -1 on error or
 * timeout. */
static ssize_t read_all(int fd, char *buf, size_t n, int ms)
{
	size_t got = 0;
	uint64_t end = now_ms() + (uint64_t)ms;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (now_ms() < end) {
		ssize_t r = recv(fd, buf + got, n - 1 - got, 0);
		if (r == 0) {
			buf[got] = 0;
			return (ssize_t)got;
		}
		if (r < 0 && errno != EAGAIN) {
			buf[got] = 0;
			return errno == ECONNRESET ? (ssize_t)got : -1;
		}
		if (r > 0)
			got += (size_t)r;
		spin(10, fd);
	}
	return -1;
}

static bool scrape_ok(void)
{
	static char buf[16384];
	int fd = connect_srv();
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	bool ok;

	if (fd < 0 || send(fd, req, strlen(req), 0) != (ssize_t)strlen(req))
		return false;
	ok = read_all(fd, buf, sizeof(buf), 2000) > 0 && !strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) &&
	     strstr(buf, "sluice_handshakes_ok_total{interface=\"gw0\"} 2\n");
	close(fd);
	return ok;
}

static int in_use(void)
{
	int n = 0;

	for (int i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
		n += mh.conns[i].in_use;
	return n;
}

static void test_listener(void)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len = sizeof(srv);
	struct sl_err e = {{0}};
	int slow[METRICS_HTTP_MAX_CONNS + 3], fd;
	char buf[4096], big[METRICS_HTTP_REQ_MAX + 100];

	CHECK(loop_init(&l) == 0);
	loop_timer_init(&l, &tick, on_tick);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(metrics_http_open(&mh, &l, &ss, sizeof(*sin), dump_gw, (void *)status_text, &e) == 0);
	CHECK(getsockname(mh.io.fd, (struct sockaddr *)&srv, &len) == 0);

	/* one scrape, answered and closed */
	CHECK(scrape_ok());
	spin(20, -1);
	CHECK_EQ_INT(in_use(), 0);

	/* a head larger than the bound: 431, closed */
	fd = connect_srv();
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	CHECK(send(fd, big, sizeof(big), 0) > 0);
	CHECK(read_all(fd, buf, sizeof(buf), 2000) > 0);
	CHECK(!strncmp(buf, "HTTP/1.1 431 ", 13));
	close(fd);

	/* half a head, then EOF: 400 */
	fd = connect_srv();
	CHECK(send(fd, "GET /metr", 9, 0) == 9);
	shutdown(fd, SHUT_WR);
	CHECK(read_all(fd, buf, sizeof(buf), 2000) > 0);
	CHECK(!strncmp(buf, "HTTP/1.1 400 ", 13));
	close(fd);

	/* slow clients: more than the cap, each a few bytes of a head; the table never grows past
	 * the cap, the oldest are evicted (they read EOF at once), and a scrape still goes through
	 */
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++) {
		slow[i] = connect_srv();
		CHECK(slow[i] >= 0 && send(slow[i], "GET /", 5, 0) == 5);
		spin(5, -1);
		CHECK(in_use() <= METRICS_HTTP_MAX_CONNS);
	}
	CHECK_EQ_INT(in_use(), METRICS_HTTP_MAX_CONNS);
	CHECK(read_all(slow[0], buf, sizeof(buf), 500) ==
	      0); /* evicted: closed without an answer */
	CHECK(scrape_ok());
	spin(METRICS_HTTP_DEADLINE_MS + 500, -1); /* the deadline closes them all */
	CHECK_EQ_INT(in_use(), 0);
	CHECK(read_all(slow[sizeof(slow) / sizeof(slow[0]) - 1], buf, sizeof(buf), 500) == 0);
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		close(slow[i]);

	/* a scraper whose whole request waits unread when a burst fills the table: answered, not evicted */
	{
		const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
		int scraper = connect_srv();
		CHECK(scraper >= 0);
		for (int i = 0; i < METRICS_HTTP_MAX_CONNS - 1; i++) {
			slow[i] = connect_srv();
			CHECK(slow[i] >= 0 && send(slow[i], "G", 1, 0) == 1);
		}
		/* a burst first (the loop does not run: the listener is the first ready), then the request */
		for (int i = METRICS_HTTP_MAX_CONNS - 1; i < (int)(sizeof(slow) / sizeof(slow[0])); i++) {
			slow[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			CHECK(connect(slow[i], (struct sockaddr *)&srv, sizeof(srv)) == 0);
		}
		CHECK(send(scraper, req, strlen(req), 0) == (ssize_t)strlen(req));
		CHECK(read_all(scraper, buf, sizeof(buf), 2000) > 0);
		CHECK(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
		close(scraper);
		CHECK(in_use() <= METRICS_HTTP_MAX_CONNS);
	}
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		close(slow[i]);

	metrics_http_close(&mh);
	CHECK(!mh.open);
	loop_timer_remove(&l, &tick);
	loop_close(&l);
}

int main(void)
{
	test_respond();
	test_listener();
	return check_done("test_metrics");
}
