/* test_ctlsock: a status answer is whole or an error, never silently short (issue #25).
 *   - the end line: a sealed answer unseals to exactly what was sealed; cut at any byte, or with a count
 *     that does not agree, it is refused; an answer that ran out of memory becomes an error, never a cut;
 *     the numbers the dumps append without printf.
 *   - the real socket (root: it lives in /run/sluice): an answer of 12 MB (a gateway with ~20,000 clients)
 *     arrives whole through the daemon's non-blocking writes; an unknown request gets an error answer. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/config.h"
#include "daemon/ctlsock.h"
#include "daemon/loop.h"
#include "tests/unit/check.h"

static void sealed(struct strbuf *b, const char *text)
{
	memset(b, 0, sizeof(*b));
	sb_printf(b, "%s", text);
	ctlsock_seal(b);
}

static void test_end_line(void)
{
	static const char text[] = "interface=gw0\nmode=server\nclients=1\npeer=a\npeer_session_id=1234abcd\n";
	struct strbuf b;
	size_t len;
	int refused = 0;

	char end[32];
	snprintf(end, sizeof(end), "\nend=%zu\n", strlen(text));
	sealed(&b, text);
	CHECK_STR_CONTAINS(b.s, end);
	len = b.len;
	CHECK(ctlsock_unseal(b.s, &len) == 0 && len == strlen(text) && !strcmp(b.s, text));
	sb_free(&b);

	/* cut anywhere: refused, text untouched */
	sealed(&b, text);
	for (size_t cut = 0; cut < b.len; cut++) {
		char *copy = malloc(cut + 1);
		memcpy(copy, b.s, cut);
		copy[cut] = 0;
		len = cut;
		refused += ctlsock_unseal(cut ? copy : NULL, &len) == -EBADMSG && len == cut;
		free(copy);
	}
	CHECK_EQ_INT(refused, (long long)b.len);
	sb_free(&b);

	/* a count that does not agree (a lost or doubled chunk), a bad or missing number, bytes after the end */
	static const char *const bad[] = {"a=1\nend=3\n",     "a=1\nend=5\n",  "a=1\nend=\n",  "a=1\nend=4x\n",
					  "a=1\nend=-4\n",    "a=1\nend=4\nb", "a=1\nen=4\n",  "a=1\nend=4",
					  "a=1\nend=+4\n",    "end=99999999999999999999999\n", "\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		len = strlen(buf);
		CHECK(ctlsock_unseal(buf, &len) == -EBADMSG);
	}
	char empty[] = "end=0\n";
	len = strlen(empty);
	CHECK(ctlsock_unseal(empty, &len) == 0 && len == 0 && empty[0] == 0);

	/* out of memory while the dump was built: an error answer, not the part that fitted */
	sealed(&b, text);
	b.oom = 1;
	ctlsock_seal(&b);
	len = b.len;
	CHECK(b.s && ctlsock_unseal(b.s, &len) == 0 && !strcmp(b.s, "error=out of memory\n"));
	sb_free(&b);
	/* and once out of memory, nothing more is added (no answer with a hole in the middle) */
	memset(&b, 0, sizeof(b));
	sb_printf(&b, "a=1\n");
	b.oom = 1;
	sb_printf(&b, "b=2\n");
	sb_append(&b, "c=3\n", 4);
	CHECK(b.len == 4 && !strcmp(b.s, "a=1\n"));
	sb_free(&b);
	/* the dumps' printf-free numbers */
	sb_kv_u64(&b, "peer_", "rx_bytes", 0);
	sb_kv_u64(&b, "", "x", UINT64_MAX);
	sb_kv_u64(&b, "peer_drop_", "auth", 1234567890);
	CHECK(b.s && !strcmp(b.s, "peer_rx_bytes=0\nx=18446744073709551615\npeer_drop_auth=1234567890\n"));
	sb_free(&b);
}

/* ---- the real socket: the daemon's side runs its loop in a thread, the client's side is ctlsock_query */

#define BIG_LINES 200000 /* ~12 MB: far more than a socket buffer, so many non-blocking writes */

struct server {
	struct loop loop;
	struct ctlsock cs;
	struct loop_io stop_io;
	atomic_bool stop;
};

static void big_dump(void *arg, struct strbuf *out)
{
	sb_printf(out, "interface=t\nmode=server\nclients=%d\n", BIG_LINES);
	for (int i = 0; i < BIG_LINES; i++)
		sb_printf(out, "peer=client%d\npeer_session_id=%08x\npeer_endpoint=198.18.%d.%d:%d\n", i,
			  (unsigned)i * 2654435761u, i >> 8 & 255, i & 255, 1024 + i % 60000);
}

static void on_stop(struct loop_io *io, uint32_t events)
{
	struct server *s = (struct server *)((char *)io - offsetof(struct server, stop_io));
	atomic_store(&s->stop, true);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stop))
		if (loop_once(&s->loop))
			break;
	return NULL;
}

static void test_socket(void)
{
	struct server s = {0};
	struct strbuf want = {0}, got = {0};
	struct sl_err e = {{0}};
	char ifname[32];
	pthread_t t;
	int efd;

	if (geteuid() != 0) {
		fprintf(stderr, "test_ctlsock: not root: the socket part is skipped (%s is root's)\n", SL_RUN_DIR);
		return;
	}
	snprintf(ifname, sizeof(ifname), "slut%d", (int)getpid());
	CHECK(loop_init(&s.loop) == 0);
	CHECK(ctlsock_open(&s.cs, &s.loop, ifname, big_dump, NULL, &e) == 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(efd >= 0 && loop_add(&s.loop, &s.stop_io, efd, EPOLLIN, on_stop) == 0);
	CHECK(pthread_create(&t, NULL, serve, &s) == 0);

	big_dump(NULL, &want);
	for (int round = 0; round < 3; round++) {
		CHECK_EQ_INT(ctlsock_query(ifname, "get", 5000, &got), 0);
		CHECK(got.len == want.len && !memcmp(got.s, want.s, want.len));
		sb_free(&got);
	}
	CHECK_EQ_INT(ctlsock_query(ifname, "bogus", 5000, &got), 0);
	CHECK(got.s && !strcmp(got.s, "error=unknown request\n"));
	sb_free(&got);

	CHECK(eventfd_write(efd, 1) == 0);
	pthread_join(t, NULL);
	loop_del(&s.loop, &s.stop_io);
	close(efd);
	ctlsock_close(&s.cs);
	loop_close(&s.loop);
	sb_free(&want);
}

int main(void)
{
	test_end_line();
	test_socket();
	return check_done("test_ctlsock");
}
