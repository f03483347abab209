/*
 * stream_cmd.h - the command-line front of the streaming jobs, shared by
 * `archive` and `aggregate` (src/cmd/archive.c, src/cmd/aggregate.c):
 * options, configuration, metrics endpoint, then job_run().
 */
#ifndef IOT_CMD_STREAM_CMD_H
#define IOT_CMD_STREAM_CMD_H

#include "stream/job.h"

int stream_cmd_main(enum job_kind kind, int argc, char **argv);

#endif
