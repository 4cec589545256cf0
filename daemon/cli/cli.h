/* cli: the `sluice` tool's subcommands. Each is its own file with one `xxx_main(argc, argv)` that returns the
 * process exit status; argv[0] is the subcommand name. Only these functions print. */
#pragma once

#define SL_PROG "sluice"

int genkey_main(int argc, char **argv);
int pubkey_main(int argc, char **argv);
int genpsk_main(int argc, char **argv);
int show_main(int argc, char **argv);
int dump_main(int argc, char **argv);
int metrics_main(int argc, char **argv);
int killswitch_main(int argc, char **argv);
int dns_main(int argc, char **argv);
int registry_main(int argc, char **argv);
