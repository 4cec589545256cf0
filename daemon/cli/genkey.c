/* genkey: placeholder until implemented. */
#include <stdio.h>
#include "daemon/cli/cli.h"
int genkey_main(int argc, char **argv)
{
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
}
int pubkey_main(int argc, char **argv)
{
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
}
