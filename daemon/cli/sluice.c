/* sluice: the command table (wg.c style). Each entry is a subcommand file's xxx_main. */
#include <stdio.h>
#include <string.h>
#include "daemon/cli/cli.h"
#include "version.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *description;
} subcommands[] = {
	{"show", show_main, "Show the state of sluice interfaces (-j for JSON)"},
	{"dump", dump_main, "One tab-separated line per session, for scripts"},
	{"metrics", metrics_main, "Counters in Prometheus text format"},
	{"killswitch", killswitch_main, "Engage, release or report the client kill switch"},
	{"dns", dns_main, "Put back the DNS a client interface changed (after a crash; the unit's clean-up)"},
	{"registry", registry_main, "Add, remove or list a fleet's etcd registry clients; its live sessions"},
	{"genkey", genkey_main, "Generate a new private key and write it to stdout"},
	{"pubkey", pubkey_main, "Read a private key from stdin and write its public key to stdout"},
	{"genpsk", genpsk_main, "Generate a new pre-shared key (PresharedKeyFile) and write it to stdout"},
};

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: %s <cmd> [<args>]\n\nAvailable subcommands:\n", SL_PROG);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-11s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(f, "\nYou may pass `--help' to any of these subcommands to view usage.\n"
		   "Exit status: 0 success, 1 failure, 2 usage or configuration error, 3 kill switch off "
		   "(killswitch status).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		show_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		show_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
		printf("sluice %s\n", SLUICE_VERSION_STRING);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "%s: invalid subcommand `%s'\n", SL_PROG, argv[1]);
	show_usage(stderr);
	return 2;
}
