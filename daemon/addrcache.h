/* addrcache: the last good addresses of a client's servers given by name, kept in StateDir/IFACE.servers so
 * that a start without DNS (boot, kill switch engaged, resolver down) still reaches a server (DESIGN §9).
 * "Good" means the name resolved to them and one of them then authenticated with the server's pinned key, so a
 * resolver that lies (a captive portal) never replaces them. Read by the daemon at start and by `sluice
 * killswitch on` (no daemon, no DNS).
 *
 * One line per server name: "HOST PORT ADDR [ADDR ...]\n" (addresses numeric, IPv4 or IPv6). The file is
 * written whole: temp file, fsync, rename, fsync of the directory — a crash leaves the old file or the new one.
 * A line counts only with its newline and when it parses, so a damaged file loses only what is damaged. */
#pragma once
#include <stddef.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"
#include "daemon/config.h"

/* The addresses of one server, port included, in the order to try them. */
struct sl_addrs {
	struct sockaddr_storage a[SL_MAX_SERVER_ADDRS];
	unsigned n;
};

/* "StateDir/IFACE.servers" */
void addrcache_path(const struct sl_config *cfg, char *out, size_t n);
/* Fills out[i] (cfg->n_servers entries, emptied first) for each server given by name whose host and port
 * have a whole, valid line; later lines for the same server win. Returns how many servers got addresses. */
unsigned addrcache_parse(const char *text, size_t len, const struct sl_config *cfg, struct sl_addrs *out);
/* The file's text for the servers given by name that have addresses; its length, or -ENOSPC. */
int addrcache_format(const struct sl_config *cfg, const struct sl_addrs *addrs, char *buf, size_t n);
/* addrcache_parse of the file; 0 when there is none yet (nothing loaded), -errno with e->msg otherwise. */
int addrcache_load(const struct sl_config *cfg, struct sl_addrs *out, struct sl_err *e);
/* Writes the file (StateDir made 0700 if missing). 0 or -errno with e->msg. */
int addrcache_save(const struct sl_config *cfg, const struct sl_addrs *addrs, struct sl_err *e);
/* True when a equals one of list's addresses (family, address and port). */
bool addrs_contain(const struct sl_addrs *list, const struct sockaddr_storage *a);
