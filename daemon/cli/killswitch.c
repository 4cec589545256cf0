/* killswitch: `sluice killswitch on|off|status [IFACE] [-c FILE]` — engages, releases or reports
 * the client kill switch (table inet sluice_ks) directly through nftables, so it works with the
 * daemon down. `on` reads the client config (no private key needed) for the tunnel name and the
 * servers: literal endpoints, and for names the last good addresses the daemon cached in StateDir (no DNS:
 * this runs at boot). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/cli/cli.h"
#include "daemon/addrcache.h"
#include "daemon/config.h"
#include "kill-switch/killswitch.h"
#include "netcfg/netcfg.h"

#define KS_CONFIG_MAX (1 << 20) /* a config file is a few hundred bytes; refuse anything absurd */
#define KS_EXIT_OFF 3

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s killswitch on|off|status [IFACE] [-c FILE] [--if-configured]\n"
		"  on      drop all traffic except loopback, the tunnel IFACE and the daemon's own "
		"packets to the\n"
		"          servers of FILE (default %s/IFACE.conf; IFACE defaults to the config's name):\n"
		"          numeric endpoints, and names at the last good addresses the daemon cached\n"
		"          in StateDir (nothing is resolved here)\n"
		"  off     remove the kill switch\n"
		"  status  print \"on (iface=... servers=ADDR:PORT,...)\" (exit 0) or \"off\" (exit %d)\n"
		"  --if-configured  with on: do nothing unless the config says KillSwitch = on (boot unit)\n",
		SL_PROG, SL_CONFIG_DIR, KS_EXIT_OFF);
}

/* Reads a whole file; 0 or -errno. */
static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int ret = -1;

	if (!f)
		return -errno;
	buf = malloc(KS_CONFIG_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	n = fread(buf, 1, KS_CONFIG_MAX + 1, f);
	if (ferror(f)) {
		ret = -EIO;
		goto out;
	}
	if (n > KS_CONFIG_MAX) {
		ret = -EFBIG;
		goto out;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

static void format_endpoint(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, n, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, n, "%s:%u", a, ntohs(s4->sin_port));
	}
}

static int ks_on(const char *iface, const char *cfg_path, bool if_configured)
{
	struct sl_config *cfg = calloc(1, sizeof(*cfg)); /* large (paths): not on the stack */
	struct sockaddr_storage servers[SL_KS_MAX_SERVERS];
	struct sl_addrs cached[SL_MAX_SERVERS];
	struct ks_spec spec = {.servers = servers};
	char path[SL_PATH_MAX], ep[INET6_ADDRSTRLEN + 16];
	char *text = NULL;
	size_t len = 0;
	struct sl_err e = {{0}};
	bool parsed = false;
	int ret = 1, r;

	if (!cfg) {
		fprintf(stderr, "%s: killswitch: %s\n", SL_PROG, strerror(ENOMEM));
		return 1;
	}
	if (cfg_path)
		snprintf(path, sizeof(path), "%s", cfg_path);
	else
		config_default_path(iface, path, sizeof(path));
	r = read_file(path, &text, &len);
	if (r < 0) {
		fprintf(stderr, "%s: killswitch: %s: %s\n", SL_PROG, path, strerror(-r));
		ret = 2;
		goto out;
	}
	if (config_parse(text, len, path, false, cfg, &e) < 0) {
		fprintf(stderr, "%s: killswitch: %s\n", SL_PROG, e.msg);
		ret = 2;
		goto out;
	}
	parsed = true;
	if (cfg->mode != SL_MODE_CLIENT) {
		fprintf(stderr,
			"%s: killswitch: %s: not a client configuration (the kill switch is for "
			"clients)\n",
			SL_PROG, path);
		ret = 2;
		goto out;
	}
	if (if_configured && !cfg->killswitch) {
		printf("kill switch not configured for %s (KillSwitch = off): nothing to do\n", path);
		ret = 0;
		goto out;
	}
	snprintf(spec.tun_ifname, sizeof(spec.tun_ifname), "%s", iface ? iface : cfg->ifname);
	/* no name is resolved here: this runs at boot, before any network, and with the kill switch on DNS
	 * would not answer anyway. A name's last good addresses come from the daemon's cache in StateDir; the
	 * daemon adds what it resolves later */
	if (addrcache_load(cfg, cached, &e))
		fprintf(stderr, "%s: killswitch: %s\n", SL_PROG, e.msg);
	for (unsigned i = 0; i < cfg->n_servers && spec.n_servers < SL_KS_MAX_SERVERS; i++) {
		socklen_t sl;
		if (config_server_literal(&cfg->servers[i], &servers[spec.n_servers], &sl)) {
			spec.n_servers++;
			continue;
		}
		if (!cached[i].n)
			fprintf(stderr, "%s: killswitch: no address known yet for %s (the daemon adds it)\n", SL_PROG,
				cfg->servers[i].host);
		for (unsigned j = 0; j < cached[i].n && spec.n_servers < SL_KS_MAX_SERVERS; j++)
			servers[spec.n_servers++] = cached[i].a[j];
	}
	spec.allow_lan = cfg->killswitch_allow_lan;
	spec.subnets = cfg->subnets;
	spec.n_subnets = cfg->n_subnets;
	if (ks_check_owner(spec.tun_ifname, &e) < 0 || ks_apply(&spec, &e) < 0) {
		fprintf(stderr, "%s: killswitch: %s\n", SL_PROG, e.msg);
		goto out;
	}
	printf("kill switch on: allowing %s", spec.tun_ifname);
	for (size_t i = 0; i < spec.n_servers; i++) {
		format_endpoint(&servers[i], ep, sizeof(ep));
		printf("%s%s", i ? ", " : " and ", ep);
	}
	printf("%s\n", spec.allow_lan ? " (and the local network)" : "");
	ret = 0;
out:
	if (parsed)
		config_free(cfg);
	free(cfg);
	free(text);
	return ret;
}

int killswitch_main(int argc, char **argv)
{
	const char *action = NULL, *iface = NULL, *cfg_path = NULL;
	struct sl_err e = {{0}};
	char info[256];
	bool if_configured = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-c")) {
			if (++i == argc || cfg_path) {
				usage(stderr);
				return 2;
			}
			cfg_path = argv[i];
		} else if (!strcmp(argv[i], "--if-configured")) {
			if_configured = true;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "%s: killswitch: unknown option `%s'\n", SL_PROG, argv[i]);
			usage(stderr);
			return 2;
		} else if (!action) {
			action = argv[i];
		} else if (!iface) {
			iface = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (iface && (!iface[0] || strlen(iface) >= IFNAMSIZ || strchr(iface, '/'))) {
		fprintf(stderr, "%s: killswitch: invalid interface name `%s'\n", SL_PROG, iface);
		return 2;
	}
	if (!action) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(action, "on")) {
		if (!iface && !cfg_path) {
			fprintf(stderr, "%s: killswitch: on needs IFACE or -c FILE\n", SL_PROG);
			usage(stderr);
			return 2;
		}
		return ks_on(iface, cfg_path, if_configured);
	}
	if (!strcmp(action, "off")) {
		if (ks_remove(&e) < 0) {
			fprintf(stderr, "%s: killswitch: %s\n", SL_PROG, e.msg);
			return 1;
		}
		printf("kill switch off\n");
		return 0;
	}
	if (!strcmp(action, "status")) {
		r = ks_status(info, sizeof(info), &e);
		if (r < 0) {
			fprintf(stderr, "%s: killswitch: %s\n", SL_PROG, e.msg);
			return 1;
		}
		if (r == 0) {
			printf("off\n");
			return KS_EXIT_OFF;
		}
		printf("on (%s)\n", info);
		return 0;
	}
	fprintf(stderr, "%s: killswitch: unknown action `%s'\n", SL_PROG, action);
	usage(stderr);
	return 2;
}
