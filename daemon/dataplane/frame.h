/* frame: datagrams on a byte stream (the TCP fallback transport, DESIGN §9 "UDP-hostile networks", 10.15).
 * Each datagram of DESIGN §3 — sealed with the session's data keys, same header, counters and replay window
 * as over UDP — travels preceded by its length:
 *
 *   0 length (2, big-endian: SLUICE_HDR_LEN + SLUICE_TAG_LEN .. SLUICE_DGRAM_MAX) | 2 datagram
 *
 * A length outside those bounds cannot come from a peer that keeps the framing: the stream is closed (a
 * byte stream has no later point to resynchronise at). Pure functions: no I/O, no allocation. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "daemon/dataplane/wire.h"

#define SL_FRAME_HDR_LEN 2
#define SL_FRAME_MIN SLUICE_OVERHEAD     /* an empty KEEPALIVE */
#define SL_FRAME_MAX SLUICE_DGRAM_MAX    /* the largest datagram we build or accept */

/* Writes the length prefix of a datagram of dlen bytes (SL_FRAME_MIN..SL_FRAME_MAX) to hdr. */
void frame_hdr_encode(uint8_t hdr[SL_FRAME_HDR_LEN], size_t dlen);

/* Looks at the front of buf (len bytes received and not yet consumed). Returns the whole frame's size
 * (prefix + datagram, > 0) with *dlen the datagram's length when a complete frame is there; 0 when more
 * bytes are needed; -1 when the prefix is out of bounds (the stream is broken: close it). */
long frame_next(const uint8_t *buf, size_t len, size_t *dlen);
