/*
 * stream_cmd.h - the command-line front of the streaming jobs, shared by
 * `archive` and `aggregate` (src/cmd/archive.c, src/cmd/aggregate.c):
 * options, configuration, metrics endpoint, then job_run().
 */
#ifndef IOT_CMD_STREAM_CMD_H
#define IOT_CMD_STREAM_CMD_H

#include "stream/job.h"

int stream_cmd_main(enum job_kind kind, int argc, char **argv);

struct iot_config;
/*
 * The aggregate's output layout: `flag` (--partition-by, may be NULL) else
 * the config's window.AGGREGATE_PARTITION_BY; "none" is no directory.
 * An error names the flag or the key. Shared with `run`.
 */
enum iot_err stream_layout(const char *flag, const struct iot_config *cfg,
			   struct hive_layout *out, struct iot_error *err);

#endif
