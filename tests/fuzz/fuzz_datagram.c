/* fuzz_datagram: libFuzzer harness for the receive path of one datagram (wire_hdr_decode ->
 * replay_check -> dgram_open -> replay_update) and for the seal/open round trip.
 *
 * Input: first byte MODE_ROUNDTRIP: the rest is an inner packet (its first byte picks the type)
 * that is sealed with a fixed key and opened again; any difference aborts. Any other first byte:
 * the whole input is a received datagram. Seeds: tests/fuzz/corpus/datagram/ (a sealed DATA
 * datagram under the fixed key, a keepalive, garbage; round trips of IPv4 and IPv6 inner packets, one with
 * extension headers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/dataplane/aead.h"
#include "daemon/dataplane/replay.h"
#include "daemon/dataplane/wire.h"

/* 'R': an ASCII byte so a hand-written seed is easy; 'S' (a real datagram's first byte) stays a
 * datagram. */
#define MODE_ROUNDTRIP 'R'
#define FUZZ_SESSION 0x5eed0001u
#define TYPE_CHOICES 3u

/* The fixed test key: bytes 0x00..0x1f (the same as test_aead's datagram vector). */
static struct sl_aead seal_ctx, open_ctx;
static struct replay window;
static uint8_t buf[SLUICE_DGRAM_MAX];
static uint8_t inner[SLUICE_MTU_MAX];
static uint64_t tx_counter;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t key[SLUICE_KEY_LEN];
	size_t i;

	for (i = 0; i < SLUICE_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	if (aead_init(&seal_ctx, key, true) || aead_init(&open_ctx, key, false))
		abort();
	return 0;
}

static void receive(const uint8_t *data, size_t size)
{
	struct sl_hdr h;
	int n;

	if (wire_hdr_decode(data, size, &h))
		return;
	/* Decode accepted it, so it fits in buf (<= SLUICE_DGRAM_MAX). */
	if (size > sizeof(buf))
		abort();
	/* A fresh window per input keeps runs reproducible; check must pass for a brand-new window.
	 */
	replay_init(&window);
	if (!replay_check(&window, h.counter))
		return;
	memcpy(buf, data, size);
	n = dgram_open(&open_ctx, buf, size, &h);
	if (n < 0)
		return;
	if ((size_t)n != size - SLUICE_OVERHEAD)
		abort();
	if (!replay_update(&window, h.counter) || replay_check(&window, h.counter))
		abort();
}

static void roundtrip(const uint8_t *data, size_t size)
{
	static const uint8_t types[TYPE_CHOICES] = {SL_TYPE_DATA, SL_TYPE_CONTROL,
						    SL_TYPE_KEEPALIVE};
	uint8_t type;
	struct sl_hdr h;
	size_t len;
	int n;

	if (size == 0)
		return;
	type = types[data[0] % TYPE_CHOICES];
	data++;
	size--;
	len = type == SL_TYPE_KEEPALIVE ? 0 : size;
	if (len > SLUICE_MTU_MAX) {
		/* Refused before the buffer is touched. */
		if (dgram_seal(&seal_ctx, buf, len, type, FUZZ_SESSION, tx_counter) != -1)
			abort(); /* an oversized inner packet must be refused */
		return;
	}
	memcpy(inner, data, len);
	memcpy(buf + SLUICE_HDR_LEN, data, len);
	n = dgram_seal(&seal_ctx, buf, len, type, FUZZ_SESSION, tx_counter);
	if (n < 0 || (size_t)n != len + SLUICE_OVERHEAD)
		abort();
	if (wire_hdr_decode(buf, (size_t)n, &h) || h.type != type || h.session_id != FUZZ_SESSION ||
	    h.counter != tx_counter)
		abort();
	if (dgram_open(&open_ctx, buf, (size_t)n, &h) != (int)len ||
	    memcmp(buf + SLUICE_HDR_LEN, inner, len))
		abort();
	tx_counter++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] == MODE_ROUNDTRIP)
		roundtrip(data + 1, size - 1);
	else
		receive(data, size);
	return 0;
}
