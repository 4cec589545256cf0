/* wire: encode and check the 20-byte data-plane header of DESIGN §3, and the stable names of the
 * drop causes. Pure byte handling: no state, no allocation; every multi-byte field is big-endian,
 * read byte by byte so the buffer needs no alignment. */
#include "daemon/dataplane/wire.h"

/* Field offsets inside the header (DESIGN §3). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_TYPE = 5,
	OFF_FLAGS = 6,
	OFF_SESSION = 8,
	OFF_COUNTER = 12,
};

/* Stable snake_case names: they appear in `sluice show`, `dump` and the Prometheus metrics. */
/* clang-format off */
static const char *const drop_names[SL_DROP__COUNT] = {
	[SL_DROP_BAD_HEADER] = "bad_header",
	[SL_DROP_UNKNOWN_SESSION] = "unknown_session",
	[SL_DROP_REPLAY] = "replay",
	[SL_DROP_AUTH] = "auth",
	[SL_DROP_SPOOFED] = "spoofed",
	[SL_DROP_NO_ENDPOINT] = "no_endpoint",
	[SL_DROP_OVERSIZE] = "oversize",
	[SL_DROP_QUEUE_OUT] = "queue_out",
	[SL_DROP_QUEUE_IN] = "queue_in",
	[SL_DROP_BAD_INNER] = "bad_inner",
	[SL_DROP_CLIENT_TO_CLIENT] = "client_to_client",
	[SL_DROP_NO_IPV6] = "no_ipv6",
	[SL_DROP_NO_IPV4] = "no_ipv4",
};
/* clang-format on */

const char *wire_drop_name(enum sl_drop d)
{
	if ((unsigned)d >= SL_DROP__COUNT || !drop_names[d])
		return "unknown";
	return drop_names[d];
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

void wire_hdr_encode(uint8_t *buf, const struct sl_hdr *h)
{
	put_be32(buf + OFF_MAGIC, SLUICE_MAGIC);
	buf[OFF_VERSION] = SLUICE_WIRE_VERSION;
	buf[OFF_TYPE] = h->type;
	put_be16(buf + OFF_FLAGS, h->flags);
	put_be32(buf + OFF_SESSION, h->session_id);
	put_be64(buf + OFF_COUNTER, h->counter);
}

int wire_hdr_decode(const uint8_t *buf, size_t len, struct sl_hdr *h)
{
	uint8_t type;

	if (len < SLUICE_OVERHEAD || len > SLUICE_DGRAM_MAX)
		return -1;
	if (get_be32(buf + OFF_MAGIC) != SLUICE_MAGIC || buf[OFF_VERSION] != SLUICE_WIRE_VERSION)
		return -1;
	type = buf[OFF_TYPE];
	if (type != SL_TYPE_DATA && type != SL_TYPE_KEEPALIVE && type != SL_TYPE_CONTROL)
		return -1;
	if (get_be16(buf + OFF_FLAGS) != 0)
		return -1;
	if (type == SL_TYPE_KEEPALIVE && len != SLUICE_OVERHEAD)
		return -1;
	h->type = type;
	h->flags = 0;
	h->session_id = get_be32(buf + OFF_SESSION);
	h->counter = get_be64(buf + OFF_COUNTER);
	return 0;
}
