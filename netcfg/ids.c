/* ids: the per-interface numbers of the kernel objects that are not per-link (DESIGN 9, 10.6): the fwmark of the
 * daemon's own sockets, the client's routing table and its block of rule priorities. They are a pure function of
 * the interface name, so `sluice killswitch on` (no daemon) and a restart after a crash find the same ones. */
#include <string.h>
#include "netcfg/netcfg.h"

/* FNV-1a, 32 bits: fixed for ever — changing it would orphan the state of a running or crashed daemon. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

void sl_ids_for(const char *ifname, struct sl_ids *ids)
{
	uint32_t h = fnv1a(ifname);
	uint32_t low = (h ^ (h >> 16)) & ~SL_MARK_MASK; /* fold the high half in: "sl0"/"sl1" differ in it too */

	ids->mark = SL_MARK_BASE | low;
	ids->table = SL_TABLE_BASE | low;
	ids->prio = SL_RULE_PRIO_MIN + (h % SL_RULE_PRIO_BLOCKS) * SL_RULE_PRIO_PER_IFACE;
}
