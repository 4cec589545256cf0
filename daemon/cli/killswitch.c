/* killswitch: placeholder until implemented. */
#include <stdio.h>
#include "daemon/cli/cli.h"
int killswitch_main(int argc, char **argv)
{
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
}
