/* fleet_cache: the last merged client list a gateway read from its registry, kept in StateDir/IFACE.registry
 * (written whole: atomic_file.h) so that a gateway that starts while etcd is unreachable still serves what it
 * can confirm: the clients and leases of that last read (DESIGN §9 "Fleet": "refuses only what it cannot
 * confirm"). Text, one client a line:
 *     # sluice registry cache: POOL REVISION
 *     NAME PUBKEY ADDRESS[ ADDRESS6][ psk=PSK]
 * (ADDRESS6: the IPv6 lease of a dual-stack pool; the header's POOL names both prefixes then.)
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "daemon/common/strbuf.h"
#include "daemon/config.h"

/* The file's text for list (every entry has_addr). */
void fleet_cache_format(const struct sl_client_cfg *list, size_t n, const char *pool, int64_t rev, struct strbuf *out);
/* Parses text into *list (malloc'd) / *n; -EINVAL when malformed or recorded for another pool (e->msg). */
int fleet_cache_parse(const char *text, size_t len, const char *pool, struct sl_client_cfg **list, size_t *n,
		      int64_t *rev, struct sl_err *e);
/* The cached list merged with the file's clients: a file client is kept when the cache confirms its key (with
 * the cached address, which must equal a fixed Address); the file's names win; cached clients under a file
 * name with another key are dropped. *left_out counts the file clients that cannot be confirmed. */
int fleet_cache_merge(const struct sl_client_cfg *cache, size_t n_cache, const struct sl_client_cfg *file,
		      size_t n_file, struct sl_client_cfg **out, size_t *n_out, unsigned *left_out);
