/* fuzz_config: the configuration parser on arbitrary text; no crash, no leak, and what it accepts is sane. */
#include <stddef.h>
#include <stdint.h>
#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_config cfg;
	struct sl_err e;

	if (config_parse((const char *)data, size, "/etc/sluice/fuzz0.conf", false, &cfg, &e) == 0) {
		if (!cfg.ifname[0] || (cfg.mtu && (cfg.mtu < 576 || cfg.mtu > 9000)) ||
		    (cfg.mode == SL_MODE_CLIENT && ((!cfg.n_routes && !cfg.n_routes6 && !cfg.routes_pushed) || cfg.n_clients)) ||
		    (cfg.mode == SL_MODE_SERVER && (!cfg.address.len && !cfg.address6.len)) ||
		    (cfg.mode == SL_MODE_SERVER && cfg.address.len && (cfg.address.len < 8 || cfg.address.len > 30)))
			__builtin_trap();
		config_free(&cfg);
	}
	return 0;
}
