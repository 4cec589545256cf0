/* flood: hostile-input generator for the gateway's UDP port (tests only).
 *
 *   flood --target ADDR:PORT --kind KIND --seconds N [--rate PPS] [--session HEX] [--capture HEXFILE]
 *
 * Kinds (each aimed at one drop counter of the receiver, DESIGN §3):
 *   random      random bytes, random lengths 1..1500                       -> bad_header
 *   short       truncated headers, lengths 0..35                           -> bad_header
 *   badsession  valid header, random session id (never --session), random
 *               counter, random payload + tag                               -> unknown_session
 *   badtag      valid header with the live session id (--session), fresh
 *               (never used) counters, random payload + tag                 -> auth
 *   replay      the datagram in --capture (hex) re-sent over and over       -> replay
 *
 * Sends in sendmmsg batches, as fast as it can or paced at --rate datagrams/s, for N seconds (at most 30).
 * ADDR:PORT is IPv4 or [IPv6]:PORT. Refuses any target outside 127.0.0.0/8 and 198.18.0.0/15 (the tests' own
 * underlay), or for IPv6 outside ::1 and fd00::/8 (the tests' ULA underlays), and any but loopback unless it runs
 * in a namespace made by `ip netns add` (listed in /run/netns: target_here). Prints "sent N" (the datagrams the
 * kernel accepted) on exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/wire.h"
#include "tests/tools/target.h"

#define FLOOD_MAX_SECONDS 30
#define FLOOD_BATCH 32
#define FLOOD_MAX_LEN 1500
#define POOL_LEN (64 * 1024)

enum kind { K_RANDOM, K_SHORT, K_BADSESSION, K_BADTAG, K_REPLAY };

static const char *const kind_names[] = {"random", "short", "badsession", "badtag", "replay"};

static uint64_t rng_state;

static uint64_t rnd(void) /* xorshift64*: fast, good enough for garbage */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd_range(uint32_t lo, uint32_t hi) /* inclusive */
{
	return lo + (uint32_t)(rnd() % ((uint64_t)hi - lo + 1));
}

static void usage(void)
{
	fprintf(stderr, "usage: flood --target ADDR:PORT --kind random|short|badsession|badtag|replay "
			"--seconds N [--rate PPS] [--session HEX] [--capture HEXFILE]\n");
	exit(2);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads the hex of one datagram (whitespace ignored). Returns its length, or -1. */
static int read_capture(const char *path, uint8_t *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c, hi = -1;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF) {
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		v = hexval(c);
		if (v < 0 || (hi < 0 && n >= cap)) {
			fclose(f);
			return -1;
		}
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	fclose(f);
	return hi < 0 && n > 0 ? (int)n : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, NULL, 't'}, {"kind", required_argument, NULL, 'k'},
		{"seconds", required_argument, NULL, 's'}, {"rate", required_argument, NULL, 'r'},
		{"session", required_argument, NULL, 'S'}, {"capture", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	static uint8_t pool[POOL_LEN + FLOOD_MAX_LEN];
	static uint8_t bufs[FLOOD_BATCH][FLOOD_MAX_LEN];
	struct mmsghdr msgs[FLOOD_BATCH];
	struct iovec iov[FLOOD_BATCH];
	struct sockaddr_storage sa;
	socklen_t sa_len = 0;
	const char *target = NULL, *capture = NULL;
	int kind = -1, seconds = -1, fd, opt;
	uint64_t rate = 0, sent = 0, counter, t0, deadline, last_send;
	uint32_t session = 0;
	bool have_session = false, have_target = false;
	uint8_t replay_buf[FLOOD_MAX_LEN];
	int replay_len = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			target = optarg;
			have_target = true;
			break;
		case 'k':
			for (int i = 0; i < (int)(sizeof(kind_names) / sizeof(kind_names[0])); i++)
				if (!strcmp(optarg, kind_names[i]))
					kind = i;
			if (kind < 0)
				usage();
			break;
		case 's':
			errno = 0;
			seconds = (int)strtol(optarg, &end, 10);
			if (errno || *end || seconds < 1)
				usage();
			break;
		case 'r':
			errno = 0;
			rate = strtoull(optarg, &end, 10);
			if (errno || *end)
				usage();
			break;
		case 'S': {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 16);
			if (errno || *end || v > UINT32_MAX)
				usage();
			session = (uint32_t)v;
			have_session = true;
			break;
		}
		case 'c':
			capture = optarg;
			break;
		default:
			usage();
		}
	}
	if (!have_target || kind < 0 || seconds < 0 || optind != argc)
		usage();
	if (seconds > FLOOD_MAX_SECONDS) {
		fprintf(stderr, "flood: --seconds %d: at most %d\n", seconds, FLOOD_MAX_SECONDS);
		return 2;
	}
	switch (parse_target_any(target, &sa, &sa_len)) {
	case 0:
		break;
	case -2:
		fprintf(stderr, "flood: refusing target %s: only 127.0.0.0/8, 198.18.0.0/15, ::1 and fd00::/8\n", target);
		return 2;
	default:
		fprintf(stderr, "flood: bad target '%s' (IPv4:PORT or [IPv6]:PORT)\n", target);
		return 2;
	}
	if (!target_here(&sa, "/run/netns")) {
		fprintf(stderr, "flood: refusing %s from a network namespace no test made (not in /run/netns): "
				"run it with ip netns exec in the test's namespace\n", target);
		return 2;
	}
	if (kind == K_BADTAG && !have_session) {
		fprintf(stderr, "flood: badtag needs --session\n");
		return 2;
	}
	if (kind == K_REPLAY) {
		if (!capture) {
			fprintf(stderr, "flood: replay needs --capture\n");
			return 2;
		}
		replay_len = read_capture(capture, replay_buf, sizeof(replay_buf));
		if (replay_len < 0) {
			fprintf(stderr, "flood: cannot read a datagram from %s\n", capture);
			return 2;
		}
	}

	if (getrandom(&rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state))
		rng_state = now_ns() ^ (uint64_t)getpid() << 32;
	rng_state |= 1;
	for (size_t i = 0; i < sizeof(pool); i += 8) {
		uint64_t v = rnd();
		size_t n = sizeof(pool) - i < 8 ? sizeof(pool) - i : 8;

		memcpy(pool + i, &v, n);
	}
	/* badtag: counters far ahead of anything the live sender will reach in a test, each used once, so the
	 * window lets them through to the AEAD (which must refuse them) */
	counter = (1ull << 48) + (rnd() & 0xFFFFFFFFull);

	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) { /* not connected: an ICMP error from the target never cuts a batch short */
		perror("flood: socket");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < FLOOD_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &sa;
		msgs[i].msg_hdr.msg_namelen = sa_len;
	}

	t0 = now_ns();
	last_send = t0;
	deadline = t0 + (uint64_t)seconds * 1000000000ull;
	for (;;) {
		uint64_t now = now_ns();
		unsigned batch = FLOOD_BATCH;
		int r;

		if (now >= deadline)
			break;
		if (rate) {
			/* paced: wait until a whole batch is due (or 10 ms passed since the last one), so a flood
			 * costs one wake-up per batch, not per datagram */
			uint64_t due = (now - t0) * rate / 1000000000ull, at = 0;

			if (due <= sent)
				at = t0 + (sent + 1) * 1000000000ull / rate;
			else if (due - sent < FLOOD_BATCH && now - last_send < 10000000ull)
				at = t0 + (sent + FLOOD_BATCH) * 1000000000ull / rate;
			if (at) {
				struct timespec ts;

				if (due > sent && at > last_send + 10000000ull)
					at = last_send + 10000000ull;
				if (at > deadline)
					at = deadline;
				if (at <= now)
					at = now + 100000; /* never spin */
				ts.tv_sec = (time_t)((at - now) / 1000000000ull);
				ts.tv_nsec = (long)((at - now) % 1000000000ull);
				nanosleep(&ts, NULL);
				continue;
			}
			if (due - sent < batch)
				batch = (unsigned)(due - sent);
		}
		for (unsigned i = 0; i < batch; i++) {
			uint8_t *b = bufs[i];
			size_t len = 0;
			struct sl_hdr h;

			switch (kind) {
			case K_RANDOM:
				len = rnd_range(1, FLOOD_MAX_LEN);
				memcpy(b, pool + rnd() % POOL_LEN, len);
				b[0] ^= (uint8_t)rnd();
				if (len >= 4 && !memcmp(b, "SLU1", 4))
					b[0] = 'X'; /* never a valid magic: this kind is bad_header only */
				break;
			case K_SHORT:
				len = rnd_range(0, SLUICE_OVERHEAD - 1);
				memcpy(b, pool + rnd() % POOL_LEN, len);
				if (len >= SLUICE_HDR_LEN) { /* a plausible header, truncated before the tag */
					h = (struct sl_hdr){.type = SL_TYPE_DATA, .session_id = (uint32_t)rnd(),
							    .counter = rnd()};
					wire_hdr_encode(b, &h);
				} else if (len >= 4) {
					memcpy(b, "SLU1", 4);
				}
				break;
			case K_BADSESSION:
			case K_BADTAG:
				len = rnd_range(SLUICE_OVERHEAD, FLOOD_MAX_LEN);
				memcpy(b + SLUICE_HDR_LEN, pool + rnd() % POOL_LEN, len - SLUICE_HDR_LEN);
				h = (struct sl_hdr){.type = SL_TYPE_DATA};
				if (kind == K_BADTAG) {
					h.session_id = session;
					h.counter = counter++;
				} else {
					do
						h.session_id = (uint32_t)rnd();
					while (have_session && h.session_id == session);
					h.counter = rnd() >> 1;
				}
				wire_hdr_encode(b, &h);
				break;
			case K_REPLAY:
				len = (size_t)replay_len;
				memcpy(b, replay_buf, len);
				break;
			}
			iov[i].iov_len = len;
		}
		r = sendmmsg(fd, msgs, batch, 0);
		if (r < 0) {
			if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED)
				continue;
			perror("flood: sendmmsg");
			break;
		}
		sent += (uint64_t)r;
		last_send = now;
	}
	close(fd);
	fprintf(stderr, "flood: %s %.1f s\n", kind_names[kind], (double)(now_ns() - t0) / 1e9);
	printf("sent %" PRIu64 "\n", sent);
	return 0;
}
