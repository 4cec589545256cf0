/* fuzz_addrcache: the client's server address cache parser (StateDir/IFACE.servers) on arbitrary text; no
 * crash, and what it accepts is sane: addresses only for servers given by name, with their port, at most
 * SL_MAX_SERVER_ADDRS each, and the formatted result parses back to the same. */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "daemon/addrcache.h"

static const char conf[] = "[Interface]\nMode = client\nPrivateKeyFile = /x\n"
			   "[Server]\nEndpoint = vpn.example.net:51900\nPublicKey = 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
			   "[Server]\nEndpoint = 192.0.2.1:51900\nPublicKey = 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
			   "[Server]\nEndpoint = b:1\nPublicKey = 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n";

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
					     : ((const struct sockaddr_in6 *)a)->sin6_port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_config cfg;
	static int ready;
	struct sl_addrs out[SL_MAX_SERVERS], back[SL_MAX_SERVERS];
	static char buf[65536];
	struct sl_err e;
	int len;

	if (!ready) {
		if (config_parse(conf, sizeof(conf) - 1, "/etc/sluice/f0.conf", false, &cfg, &e))
			__builtin_trap();
		ready = 1;
	}
	addrcache_parse((const char *)data, size, &cfg, out);
	if (out[1].n) /* a literal server is never cached */
		__builtin_trap();
	for (unsigned i = 0; i < cfg.n_servers; i++) {
		if (out[i].n > SL_MAX_SERVER_ADDRS)
			__builtin_trap();
		for (unsigned j = 0; j < out[i].n; j++)
			if ((out[i].a[j].ss_family != AF_INET && out[i].a[j].ss_family != AF_INET6) ||
			    port_of(&out[i].a[j]) != cfg.servers[i].port)
				__builtin_trap();
	}
	len = addrcache_format(&cfg, out, buf, sizeof(buf));
	if (len < 0)
		__builtin_trap();
	addrcache_parse(buf, (size_t)len, &cfg, back);
	for (unsigned i = 0; i < cfg.n_servers; i++) {
		if (back[i].n != out[i].n)
			__builtin_trap();
		for (unsigned j = 0; j < out[i].n; j++)
			if (!addrs_contain(&back[i], &out[i].a[j]))
				__builtin_trap();
	}
	return 0;
}
