/* frame: the length prefix of datagrams on the TCP fallback stream (frame.h). */
#include "daemon/dataplane/frame.h"

void frame_hdr_encode(uint8_t hdr[SL_FRAME_HDR_LEN], size_t dlen)
{
	hdr[0] = (uint8_t)(dlen >> 8);
	hdr[1] = (uint8_t)dlen;
}

long frame_next(const uint8_t *buf, size_t len, size_t *dlen)
{
	size_t n;

	if (len < SL_FRAME_HDR_LEN)
		return 0;
	n = (size_t)buf[0] << 8 | buf[1];
	if (n < SL_FRAME_MIN || n > SL_FRAME_MAX)
		return -1;
	if (len < SL_FRAME_HDR_LEN + n)
		return 0;
	*dlen = n;
	return (long)(SL_FRAME_HDR_LEN + n);
}
