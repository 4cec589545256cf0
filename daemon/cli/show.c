/* show: `sluice show [-r] IFACE` — for now the daemon's raw key=value status (-r); the formatted views
 * (human, -j, dump, metrics) build on the same query. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "daemon/cli/cli.h"
#include "daemon/ctlsock.h"

#define QUERY_TIMEOUT_MS 1000

static int query(const char *ifname, struct strbuf *out)
{
	int ret = ctlsock_query(ifname, "get", QUERY_TIMEOUT_MS, out);

	if (ret == -ENOENT)
		fprintf(stderr, "%s: no sluice interface '%s' (no daemon on %s/%s.sock)\n", SL_PROG, ifname,
			"/run/sluice", ifname);
	else if (ret == -ETIMEDOUT)
		fprintf(stderr, "%s: the daemon of '%s' did not answer within %d ms\n", SL_PROG, ifname,
			QUERY_TIMEOUT_MS);
	else if (ret)
		fprintf(stderr, "%s: %s: %s\n", SL_PROG, ifname, strerror(-ret));
	return ret;
}

int show_main(int argc, char **argv)
{
	struct strbuf out = {0};
	int opt;

	while ((opt = getopt(argc, argv, "rh")) != -1) {
		if (opt == 'h') {
			printf("Usage: %s show [-r] IFACE\n", SL_PROG);
			return 0;
		}
		if (opt != 'r')
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "Usage: %s show [-r] IFACE\n", SL_PROG);
		return 2;
	}
	if (query(argv[optind], &out)) {
		sb_free(&out);
		return 1;
	}
	fwrite(out.s ? out.s : "", 1, out.len, stdout);
	sb_free(&out);
	return 0;
}

int dump_main(int argc, char **argv)
{
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
}

int metrics_main(int argc, char **argv)
{
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
}
