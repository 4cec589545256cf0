/* wire: the data-plane datagram of DESIGN §3 (header layout, sizes, drop causes).
 *
 *  0 magic "SLU1" | 4 version | 5 type | 6 flags(2) | 8 session id (BE) | 12 counter (BE, 8) | 20 ciphertext | tag(16)
 *
 * Bytes 0..19 are the AEAD's additional data; nonce = 4 zero bytes || counter. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SLUICE_MAGIC 0x534C5531u /* "SLU1" */
#define SLUICE_WIRE_VERSION 1
#define SLUICE_HDR_LEN 20
#define SLUICE_TAG_LEN 16
#define SLUICE_OVERHEAD (SLUICE_HDR_LEN + SLUICE_TAG_LEN)
#define SLUICE_KEY_LEN 32
#define SLUICE_NONCE_LEN 12

/* What a datagram adds to an inner packet at most: our 36 bytes, UDP 8, an IPv6 header 40 (IPv4: 20). The
 * default tunnel MTU is the underlay's less this for either family, so a full-size packet never fragments,
 * and a client keeps its MTU when it fails over between an IPv4 and an IPv6 address of its server. */
#define SLUICE_UNDERLAY_OVERHEAD (SLUICE_OVERHEAD + 8 + 40)
/* The tunnel MTU when no underlay MTU can be read (no route to the endpoint yet): a 1500-byte underlay's. */
#define SLUICE_MTU_DEFAULT (1500 - SLUICE_UNDERLAY_OVERHEAD)
#define SLUICE_MTU_MIN 576
#define SLUICE_MTU_MIN6 1280 /* IPv6's minimum link MTU: the tunnel's floor while it carries IPv6 (DESIGN 10.8) */
#define SLUICE_MTU_MAX 9000
/* Largest datagram we ever build or accept: max inner packet + overhead. */
#define SLUICE_DGRAM_MAX (SLUICE_MTU_MAX + SLUICE_OVERHEAD)

enum sl_type {
	SL_TYPE_DATA = 1,
	SL_TYPE_KEEPALIVE = 2,
	SL_TYPE_CONTROL = 3,
};

struct sl_hdr {
	uint8_t type;
	uint16_t flags;
	uint32_t session_id;
	uint64_t counter;
};

/* Why a datagram or packet was dropped. Each has its own counter and a stable name (wire_drop_name). */
enum sl_drop {
	SL_DROP_BAD_HEADER,   /* short, wrong magic/version/type/flags */
	SL_DROP_UNKNOWN_SESSION,
	SL_DROP_REPLAY,       /* counter seen or left of the window */
	SL_DROP_AUTH,         /* AEAD tag did not verify */
	SL_DROP_SPOOFED,      /* inner source is not the session's address (server) */
	SL_DROP_NO_ENDPOINT,  /* no endpoint seen in the last 60 s (server) / no session (client) */
	SL_DROP_OVERSIZE,     /* inner packet larger than the MTU */
	SL_DROP_QUEUE_OUT,    /* UDP send would block / failed */
	SL_DROP_QUEUE_IN,     /* TUN write would block / failed */
	SL_DROP_BAD_INNER,    /* inner packet neither IPv4 nor IPv6, or malformed */
	SL_DROP_CLIENT_TO_CLIENT, /* (server) to another client's address or Subnets, with ClientToClient = off */
	SL_DROP_NO_IPV6,      /* IPv6 packet, the session has no IPv6 (client: captured by ::/0, never leaked) */
	SL_DROP_NO_IPV4,      /* IPv4 packet, the session has no IPv4: an IPv6-only gateway (client: captured by
			       * 0.0.0.0/0, never leaked) */
	SL_DROP__COUNT
};

const char *wire_drop_name(enum sl_drop d);

/* Writes the 20-byte header to buf. */
void wire_hdr_encode(uint8_t *buf, const struct sl_hdr *h);

/* Parses and checks a received datagram of `len` bytes: length (>= header + tag, <= SLUICE_DGRAM_MAX), magic,
 * version, known type, flags == 0, KEEPALIVE carries no payload. Returns 0, or -1 (count it as
 * SL_DROP_BAD_HEADER). */
int wire_hdr_decode(const uint8_t *buf, size_t len, struct sl_hdr *h);
