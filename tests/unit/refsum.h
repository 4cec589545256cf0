/* refsum: the unit tests' reference Internet checksum (RFC 1071, written the plain way) and a big-endian 16-bit
 * read, against which the daemon's own checksum and packet builders are checked. */
#pragma once
#include <stddef.h>
#include <stdint.h>

static inline uint16_t ref_sum(const uint8_t *p, size_t n, uint32_t s) /* folded, not inverted */
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static inline uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
