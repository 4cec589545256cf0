/* fuzz_frame: libFuzzer harness for the TCP fallback's framing (dataplane/frame.h): the input is a byte
 * stream as a peer sends it, fed to frame_next in pieces whose sizes the input's first byte picks (as a
 * socket hands them over). Every frame handed out must be whole, inside the bounds and where its prefix
 * says; a stream is cut into the same frames however it arrives; the parser never reads past what it got.
 * Seeds: tests/fuzz/corpus/frame/ (two keepalive-sized frames, a bad prefix). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/dataplane/frame.h"

#define MAX_FRAMES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Cuts data into frames, receiving `step` bytes at a time; records each frame's offset and length. Returns
 * the frame count; *broken when a bad prefix ended it. */
static unsigned cut(const uint8_t *data, size_t size, size_t step, size_t *offs, size_t *lens, int *broken)
{
	static uint8_t buf[SL_FRAME_HDR_LEN + SL_FRAME_MAX + 256];
	size_t have = 0, fed = 0, base = 0;
	unsigned n = 0;

	*broken = 0;
	while (fed < size || have) {
		size_t take = size - fed < step ? size - fed : step, off = 0, dlen = 0;
		long f;

		if (take > sizeof(buf) - have)
			take = sizeof(buf) - have;
		memcpy(buf + have, data + fed, take);
		have += take;
		fed += take;
		while ((f = frame_next(buf + off, have - off, &dlen)) > 0) {
			if ((size_t)f != SL_FRAME_HDR_LEN + dlen || dlen < SL_FRAME_MIN || dlen > SL_FRAME_MAX ||
			    off + (size_t)f > have)
				abort();
			if (memcmp(buf + off + SL_FRAME_HDR_LEN, data + base + off + SL_FRAME_HDR_LEN, dlen))
				abort(); /* the frame is the bytes its prefix names */
			if (n < MAX_FRAMES) {
				offs[n] = base + off;
				lens[n] = dlen;
			}
			n++;
			off += (size_t)f;
		}
		if (f < 0) {
			*broken = 1;
			return n;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		base += off;
		if (!take) /* all fed, a partial frame left: it waits for more */
			break;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static size_t o1[MAX_FRAMES], l1[MAX_FRAMES], o2[MAX_FRAMES], l2[MAX_FRAMES];
	unsigned n1, n2;
	int b1, b2;

	if (!size)
		return 0;
	n1 = cut(data + 1, size - 1, 1 + data[0], o1, l1, &b1);
	n2 = cut(data + 1, size - 1, size, o2, l2, &b2);
	if (n1 != n2 || b1 != b2)
		abort(); /* however the bytes arrive, the same frames */
	for (unsigned i = 0; i < n1 && i < MAX_FRAMES; i++)
		if (o1[i] != o2[i] || l1[i] != l2[i])
			abort();
	return 0;
}
