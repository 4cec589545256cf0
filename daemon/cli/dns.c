/* sluice dns restore: puts back what a client interface's DNS backend changed, from the record sluiced keeps in
 * StateDir — the unit's ExecStopPost after a failed run, or by hand. Refused while sluiced runs that interface
 * (it owns its DNS then). The config (default /etc/sluice/IFACE.conf) gives the interface name and StateDir;
 * no private key is read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/cli/cli.h"
#include "daemon/config.h"
#include "daemon/ctlsock.h"
#include "dns/dns.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s dns restore [IFACE] [-c FILE]\n"
		   "  restore  undo the DNS changes of a client interface that is not running (systemd-resolved,\n"
		   "           resolvconf or /etc/resolv.conf), e.g. after a crash; nothing to undo is not an error\n"
		   "  -c FILE  the client's configuration (default /etc/sluice/IFACE.conf): interface name, StateDir\n",
		SL_PROG);
}

int dns_main(int argc, char **argv)
{
	const char *action = NULL, *iface = NULL, *cfg_path = NULL, *what;
	char path[SL_PATH_MAX], *text = NULL;
	struct sl_config *cfg;
	struct sl_err e = {{0}};
	struct strbuf sb = {0};
	size_t len;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			cfg_path = argv[++i];
		} else if (argv[i][0] == '-' || (action && iface)) {
			usage(stderr);
			return 2;
		} else if (!action) {
			action = argv[i];
		} else {
			iface = argv[i];
		}
	}
	if (!action || strcmp(action, "restore") || (!iface && !cfg_path)) {
		usage(stderr);
		return 2;
	}
	if (!cfg_path) {
		config_default_path(iface, path, sizeof(path));
		cfg_path = path;
	}
	cfg = calloc(1, sizeof(*cfg)); /* large (paths): not on the stack */
	if (!cfg)
		return 1;
	ret = dns_read_file(cfg_path, &text, &len);
	if (ret == -ENOENT && iface) { /* no config any more: the default StateDir */
		snprintf(cfg->ifname, sizeof(cfg->ifname), "%s", iface);
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", SL_STATE_DIR_DEFAULT);
	} else if (ret) {
		fprintf(stderr, "%s: dns: %s: %s\n", SL_PROG, cfg_path, strerror(-ret));
		free(cfg);
		return 1;
	} else {
		ret = config_parse(text, len, cfg_path, false, cfg, &e);
		free(text);
		if (ret) {
			fprintf(stderr, "%s: dns: %s\n", SL_PROG, e.msg);
			free(cfg);
			return 2;
		}
		if (iface && strcmp(iface, cfg->ifname)) {
			fprintf(stderr, "%s: dns: %s names interface %s, not %s\n", SL_PROG, cfg_path, cfg->ifname, iface);
			config_free(cfg);
			free(cfg);
			return 2;
		}
	}
	/* anything but "nobody there" means a daemon may hold the interface: an older one (no end line, -EBADMSG),
	 * a busy one (-ETIMEDOUT, -ENODATA) as much as one that answers */
	if (ctlsock_query(cfg->ifname, "get", 1000, &sb) != -ENOENT) {
		fprintf(stderr, "%s: dns: sluiced is running %s and owns its DNS; stop it first\n", SL_PROG, cfg->ifname);
		ret = 1;
	} else if (dns_restore(cfg->state_dir, cfg->ifname, &what, &e)) {
		fprintf(stderr, "%s: %s\n", SL_PROG, e.msg);
		ret = 1;
	} else {
		if (what)
			printf("%s: DNS restored (%s)\n", cfg->ifname, what);
		else
			printf("%s: no DNS change to undo\n", cfg->ifname);
		ret = 0;
	}
	sb_free(&sb);
	config_free(cfg);
	free(cfg);
	return ret;
}
