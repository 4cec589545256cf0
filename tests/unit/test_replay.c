/* test_replay: the anti-replay window. In order, duplicates, out of order, far jumps (the ring must
 * forget what it reuses), the exact window edge, counter 0, counters near UINT64_MAX, shuffles
 * inside the window, and a long run of random operations compared with a plain reference model (a
 * set of seen counters). check never mutates. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/dataplane/replay.h"
#include "tests/unit/check.h"

#define FAR_JUMP 1000000u
#define IN_ORDER_N 10000u
#define MODEL_SPAN (1u << 24) /* counters the reference model covers */
#define MODEL_OPS 200000u
#define RING_BITS (REPLAY_BLOCKS * REPLAY_BLOCK_BITS)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* check, then update, the way the receive path does; also asserts check did not move anything. */
static bool accept(struct replay *r, uint64_t c)
{
	struct replay before = *r;
	bool ok = replay_check(r, c);

	CHECK(memcmp(&before, r, sizeof(before)) == 0);
	CHECK_EQ_INT(replay_update(r, c), ok);
	return ok;
}

static void test_in_order_and_duplicates(void)
{
	struct replay r;
	uint64_t c;
	size_t bad = 0;

	replay_init(&r);
	for (c = 0; c < IN_ORDER_N; c++) {
		bad += !accept(&r, c);
		bad += accept(&r, c); /* immediate duplicate */
	}
	CHECK_EQ_INT(bad, 0);
	/* Everything inside the window is a duplicate now; below it is too old. */
	for (c = 0; c < IN_ORDER_N; c++)
		bad += replay_check(&r, c);
	CHECK_EQ_INT(bad, 0);
	CHECK(replay_check(&r, IN_ORDER_N));
}

static void test_counter_zero(void)
{
	struct replay r;

	replay_init(&r);
	CHECK(replay_check(&r, 0));
	CHECK(accept(&r, 0));
	CHECK(!accept(&r, 0));
	CHECK(accept(&r, 1));
	CHECK(!accept(&r, 0));
	/* Counter 0 also arrives late, after later counters. */
	replay_init(&r);
	CHECK(accept(&r, 5));
	CHECK(accept(&r, 0));
	CHECK(!accept(&r, 0));
}

static void test_out_of_order(void)
{
	struct replay r;
	uint64_t c;
	size_t bad = 0;

	replay_init(&r);
	CHECK(accept(&r, 100));
	for (c = 99; c >= 50; c--)
		bad += !accept(&r, c);
	for (c = 50; c <= 100; c++)
		bad += accept(&r, c);
	CHECK_EQ_INT(bad, 0);
	/* Holes stay open. */
	CHECK(accept(&r, 10));
	CHECK(accept(&r, 101));
	CHECK(accept(&r, 49));
}

/* With highest accepted H, H - REPLAY_WINDOW is the oldest counter still accepted. */
static void check_edge(uint64_t high)
{
	struct replay r;

	replay_init(&r);
	CHECK(accept(&r, high));
	CHECK(!replay_check(&r, high - REPLAY_WINDOW - 1));
	CHECK(replay_check(&r, high - REPLAY_WINDOW));
	CHECK(!accept(&r, high - REPLAY_WINDOW - 1));
	CHECK(accept(&r, high - REPLAY_WINDOW));
	CHECK(!accept(&r, high - REPLAY_WINDOW));
	/* One step ahead moves the edge by one. */
	CHECK(accept(&r, high + 1));
	CHECK(!replay_check(&r, high - REPLAY_WINDOW));
	CHECK(replay_check(&r, high + 1 - REPLAY_WINDOW));
}

static void test_window_edge(void)
{
	uint64_t base = 3 * RING_BITS, off;

	CHECK(REPLAY_WINDOW >= 2048);
	/* The highest counter at every position inside its block. */
	for (off = 0; off < REPLAY_BLOCK_BITS; off++)
		check_edge(base + off);
	check_edge(REPLAY_WINDOW + 1); /* edge at counter 0 */
}

static void test_far_jumps(void)
{
	/* clang-format off */
	static const uint64_t jumps[] = {
		1, REPLAY_BLOCK_BITS, RING_BITS / 2, RING_BITS - REPLAY_BLOCK_BITS, RING_BITS, RING_BITS + 1,
		RING_BITS + 65, 2 * RING_BITS, FAR_JUMP,
	};
	/* clang-format on */
	struct replay r;
	uint64_t c;
	size_t i, bad = 0;

	replay_init(&r);
	for (c = 0; c <= 100; c++)
		CHECK(accept(&r, c));
	CHECK(accept(&r, FAR_JUMP));
	CHECK(!accept(&r, 100));
	CHECK(!accept(&r, 50));
	CHECK(!accept(&r, FAR_JUMP - REPLAY_WINDOW - 1));
	CHECK(accept(&r, FAR_JUMP - REPLAY_WINDOW));
	CHECK(accept(&r, FAR_JUMP - 1));
	CHECK(!accept(&r, FAR_JUMP));

	/* Fill the whole ring, then jump by less than, exactly and more than the ring: no bit of
	 * the old counters may make a new counter look seen. */
	for (i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++) {
		const uint64_t high = RING_BITS - 1 + jumps[i];

		replay_init(&r);
		for (c = 0; c < RING_BITS; c++)
			CHECK(replay_update(&r, c));
		CHECK(accept(&r, high));
		for (c = high - REPLAY_WINDOW; c < high; c++)
			if (c >= RING_BITS)
				bad += !accept(&r, c);
			else
				bad += accept(&r, c);
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_large_counters(void)
{
	struct replay r;

	replay_init(&r);
	CHECK(accept(&r, (uint64_t)1 << 63));
	CHECK(accept(&r, ((uint64_t)1 << 63) - REPLAY_WINDOW));
	CHECK(!accept(&r, ((uint64_t)1 << 63) - REPLAY_WINDOW - 1));
	CHECK(!accept(&r, 0));
	CHECK(accept(&r, REPLAY_COUNTER_MAX - 1));
	CHECK(accept(&r, REPLAY_COUNTER_MAX));
	CHECK(!accept(&r, REPLAY_COUNTER_MAX));
	CHECK(accept(&r, REPLAY_COUNTER_MAX - 2));
	/* UINT64_MAX is never accepted (top would wrap to "nothing seen"). */
	CHECK(!replay_check(&r, UINT64_MAX));
	CHECK(!accept(&r, UINT64_MAX));
	CHECK(!accept(&r, REPLAY_COUNTER_MAX));
	CHECK(accept(&r, REPLAY_COUNTER_MAX - REPLAY_WINDOW));
	CHECK(!accept(&r, REPLAY_COUNTER_MAX - REPLAY_WINDOW - 1));

	/* First ever counter is UINT64_MAX: refused, and the window stays empty. */
	replay_init(&r);
	CHECK(!accept(&r, UINT64_MAX));
	CHECK(accept(&r, 0));
}

static void test_shuffle_in_window(void)
{
	static uint64_t order[2 * REPLAY_WINDOW];
	const uint64_t base = 123456;
	struct replay r;
	size_t i, n = 2 * REPLAY_WINDOW, accepted = 0;

	/* Each counter of [base, base + WINDOW] twice, shuffled; the highest comes first so all
	 * fit. */
	for (i = 0; i < n; i++)
		order[i] = base + 1 + i % REPLAY_WINDOW;
	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng() % (i + 1));
		uint64_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	replay_init(&r);
	CHECK(accept(&r, base + REPLAY_WINDOW));
	for (i = 0; i < n; i++)
		accepted += accept(&r, order[i]);
	/* base + WINDOW was already in; everything else exactly once. */
	CHECK_EQ_INT(accepted, REPLAY_WINDOW - 1);
	CHECK(accept(&r, base));
	CHECK(!accept(&r, base - 1));
}

/* Reference model: a set of seen counters (a byte per counter) and the highest. */
static bool model_accept(uint8_t *seen, bool *any, uint64_t *high, uint64_t c)
{
	if (seen[c])
		return false;
	if (*any && c<*high && * high - c> REPLAY_WINDOW)
		return false;
	seen[c] = 1;
	if (!*any || c > *high)
		*high = c;
	*any = true;
	return true;
}

static void test_against_model(void)
{
	uint8_t *seen = calloc(MODEL_SPAN, 1);
	uint64_t high = 0, c, i, mismatches = 0, accepted = 0;
	bool any = false;
	struct replay r;

	if (!seen) {
		CHECK(seen != NULL);
		return;
	}
	replay_init(&r);
	for (i = 0; i < MODEL_OPS; i++) {
		uint64_t roll = rng() % 100;

		/* Mostly near the front (reordering, duplicates, a bit beyond the window),
		 * sometimes a jump. */
		if (roll < 1)
			c = high + rng() % (2 * RING_BITS);
		else if (roll < 60)
			c = high + 1 + rng() % 8;
		else
			c = high > REPLAY_WINDOW + 64 ? high - rng() % (REPLAY_WINDOW + 64)
						      : rng() % (high + 1);
		if (c >= MODEL_SPAN)
			break;
		bool want = model_accept(seen, &any, &high, c);
		bool got = accept(&r, c);

		mismatches += want != got;
		accepted += got;
	}
	CHECK_EQ_INT(mismatches, 0);
	CHECK(accepted > MODEL_OPS / 4); /* the mix did exercise acceptance */
	CHECK(i > MODEL_OPS / 2);	 /* and did not stop early at the model's span */
	free(seen);
}

int main(void)
{
	test_in_order_and_duplicates();
	test_counter_zero();
	test_out_of_order();
	test_window_edge();
	test_far_jumps();
	test_large_counters();
	test_shuffle_in_window();
	test_against_model();
	return check_done("test_replay");
}
