/* test_latency: the data plane's latency histogram — bucket bounds and the p95 it reports. */
#include <stdlib.h>
#include "daemon/dataplane/keystate.h"
#include "tests/unit/check.h"

int main(void)
{
	struct dp_latency l = {0};

	CHECK(dp_latency_quantile(&l, 0.95) == 0);
	/* 1..100000 ns, uniformly: p95 is 95000 within the histogram's 1/8 resolution */
	for (uint64_t v = 1; v <= 100000; v++)
		dp_latency_add(&l, v);
	uint64_t p95 = dp_latency_quantile(&l, 0.95);
	CHECK(p95 >= 95000 && p95 <= 95000 + 95000 / 8 + 1);
	uint64_t p50 = dp_latency_quantile(&l, 0.5);
	CHECK(p50 >= 50000 && p50 <= 50000 + 50000 / 8 + 1);
	CHECK(l.samples == 100000 && l.avg_ns > 90000); /* EWMA follows the latest samples */

	/* every single value lands in a bucket whose top is >= it and within 1/8 above it */
	for (uint64_t v = 1; v < (1ull << 36); v = v * 3 + 1) {
		struct dp_latency one = {0};
		dp_latency_add(&one, v);
		uint64_t q = dp_latency_quantile(&one, 0.5);
		CHECK(q >= v && q <= v + v / 8 + 1);
	}
	/* a very large sample is clamped, not out of bounds */
	dp_latency_add(&l, UINT64_MAX / 2);
	CHECK(dp_latency_quantile(&l, 0.999999) > 0);
	return check_done("test_latency");
}
