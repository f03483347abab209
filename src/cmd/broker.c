/* broker.c - placeholder while the command is being written in this change. */
#include <stdio.h>
#include "cmd/cmd.h"
int cmd_broker(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "iotpipe broker: not built yet\n");
	return EXIT_RUNTIME;
}
