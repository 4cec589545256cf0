/* test_wire: the DESIGN §3 header byte for byte, encode/decode round trips, and every way decode
 * must refuse a datagram (short, oversized, wrong magic/version/type/flags, KEEPALIVE with
 * payload); stable drop names. */
#include <stdint.h>
#include <string.h>
#include "daemon/dataplane/wire.h"
#include "tests/unit/check.h"

#define MAGIC_LEN 4
#define OFF_VERSION 4
#define OFF_TYPE 5
#define OFF_FLAGS 6
#define FLAG_BITS 16
#define BITS_PER_BYTE 8

static uint8_t dgram[SLUICE_DGRAM_MAX + 1];

static void test_exact_layout(void)
{
	/* clang-format off */
	static const uint8_t expect[SLUICE_HDR_LEN] = {
		'S', 'L', 'U', '1',                             /* magic */
		1,                                              /* version */
		SL_TYPE_DATA,                                   /* type */
		0, 0,                                           /* flags */
		0x12, 0x34, 0x56, 0x78,                         /* session id, big-endian */
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* counter, big-endian */
	};
	/* clang-format on */
	const struct sl_hdr h = {
	    .type = SL_TYPE_DATA, .session_id = 0x12345678u, .counter = 0x0123456789abcdefull};
	uint8_t buf[SLUICE_HDR_LEN + 1];

	memset(buf, 0xee, sizeof(buf));
	wire_hdr_encode(buf, &h);
	CHECK(memcmp(buf, expect, SLUICE_HDR_LEN) == 0);
	CHECK_EQ_INT(buf[SLUICE_HDR_LEN], 0xee); /* writes exactly the header */
	CHECK_EQ_INT(SLUICE_MAGIC, 0x534C5531u);
	CHECK(memcmp(buf, "SLU1", MAGIC_LEN) == 0);
}

static void test_roundtrip(void)
{
	static const uint8_t types[] = {SL_TYPE_DATA, SL_TYPE_KEEPALIVE, SL_TYPE_CONTROL};
	static const uint32_t sessions[] = {0, 1, 0x80000000u, UINT32_MAX};
	static const uint64_t counters[] = {0, 1, 0xffffffffull, 0x100000000ull, UINT64_MAX};
	size_t t, s, c;

	for (t = 0; t < sizeof(types); t++)
		for (s = 0; s < sizeof(sessions) / sizeof(sessions[0]); s++)
			for (c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
				const struct sl_hdr in = {.type = types[t],
							  .session_id = sessions[s],
							  .counter = counters[c]};
				const size_t len =
				    SLUICE_OVERHEAD + (in.type == SL_TYPE_KEEPALIVE ? 0 : 100);
				struct sl_hdr out;

				memset(&out, 0xaa, sizeof(out));
				wire_hdr_encode(dgram, &in);
				CHECK_EQ_INT(wire_hdr_decode(dgram, len, &out), 0);
				CHECK_EQ_INT(out.type, in.type);
				CHECK_EQ_INT(out.flags, 0);
				CHECK(out.session_id == in.session_id);
				CHECK(out.counter == in.counter);
			}
}

static void encode_data(void)
{
	const struct sl_hdr h = {.type = SL_TYPE_DATA, .session_id = 7, .counter = 9};

	memset(dgram, 0, sizeof(dgram));
	wire_hdr_encode(dgram, &h);
}

static void test_lengths(void)
{
	struct sl_hdr h;
	size_t len;

	encode_data();
	/* Every length short of header + tag is refused, 0 included. */
	for (len = 0; len < SLUICE_OVERHEAD; len++)
		CHECK_EQ_INT(wire_hdr_decode(dgram, len, &h), -1);
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h),
		     0); /* DATA with an empty inner packet */
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD + SLUICE_MTU_DEFAULT, &h), 0);
	/* The largest datagram we build is accepted, one byte more is not. */
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_DGRAM_MAX, &h), 0);
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_DGRAM_MAX + 1, &h), -1);
	CHECK_EQ_INT(wire_hdr_decode(dgram, SIZE_MAX, &h), -1);
}

static void test_bad_fields(void)
{
	struct sl_hdr h;
	int i, v;

	/* Any single wrong magic byte. */
	for (i = 0; i < MAGIC_LEN; i++) {
		encode_data();
		dgram[i] ^= 0x20; /* 'S' -> 's' etc. */
		CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h), -1);
	}
	/* Every version but 1. */
	for (v = 0; v <= UINT8_MAX; v++) {
		encode_data();
		dgram[OFF_VERSION] = (uint8_t)v;
		CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h),
			     v == SLUICE_WIRE_VERSION ? 0 : -1);
	}
	/* Every type outside 1..3. */
	for (v = 0; v <= UINT8_MAX; v++) {
		encode_data();
		dgram[OFF_TYPE] = (uint8_t)v;
		CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h),
			     v >= SL_TYPE_DATA && v <= SL_TYPE_CONTROL ? 0 : -1);
	}
	/* Any flag bit, in either byte. */
	for (i = 0; i < FLAG_BITS; i++) {
		encode_data();
		dgram[OFF_FLAGS + i / BITS_PER_BYTE] = (uint8_t)(1u << (i % BITS_PER_BYTE));
		CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h), -1);
	}
	{
		const struct sl_hdr with_flags = {.type = SL_TYPE_DATA, .flags = 0x8000};

		wire_hdr_encode(dgram, &with_flags);
		CHECK_EQ_INT(dgram[OFF_FLAGS], 0x80);
		CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h), -1);
	}
}

static void test_keepalive(void)
{
	const struct sl_hdr ka = {.type = SL_TYPE_KEEPALIVE, .session_id = 3, .counter = 4};
	struct sl_hdr h;

	wire_hdr_encode(dgram, &ka);
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD, &h), 0);
	CHECK_EQ_INT(h.type, SL_TYPE_KEEPALIVE);
	/* A keepalive carries nothing: one payload byte is a bad header. */
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD + 1, &h), -1);
	CHECK_EQ_INT(wire_hdr_decode(dgram, SLUICE_OVERHEAD + SLUICE_MTU_DEFAULT, &h), -1);
}

static void test_drop_names(void)
{
	/* clang-format off */
	static const char *const expect[SL_DROP__COUNT] = {
		"bad_header", "unknown_session", "replay", "auth", "spoofed",
		"no_endpoint", "oversize", "queue_out", "queue_in", "bad_inner", "client_to_client", "no_ipv6",
		"no_ipv4",
	};
	/* clang-format on */
	int d;

	CHECK_EQ_INT(SL_DROP__COUNT, 13);
	for (d = 0; d < SL_DROP__COUNT; d++)
		CHECK(strcmp(wire_drop_name((enum sl_drop)d), expect[d]) == 0);
	CHECK(strcmp(wire_drop_name(SL_DROP__COUNT), "unknown") == 0);
	CHECK(strcmp(wire_drop_name((enum sl_drop) - 1), "unknown") == 0);
}

int main(void)
{
	test_exact_layout();
	test_roundtrip();
	test_lengths();
	test_bad_fields();
	test_keepalive();
	test_drop_names();
	return check_done("test_wire");
}
