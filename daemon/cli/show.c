/* show: placeholder until implemented. */
#include <stdio.h>
#include "daemon/cli/cli.h"
int show_main(int argc, char **argv)
{
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
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
