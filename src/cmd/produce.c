/* produce.c - placeholder while the command is being written in this change. */
#include <stdio.h>
#include "cmd/cmd.h"
int cmd_produce(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "iotpipe produce: not built yet\n");
	return EXIT_RUNTIME;
}
