/*
 * stream_cmd.h - the command-line front of the streaming jobs, shared by
 * `archive` and `aggregate` (src/cmd/archive.c, src/cmd/aggregate.c):
 * options, configuration, metrics endpoint, then job_run().
 *
 *	status = stream_cmd_main(JOB_AGGREGATE, argc, argv, ctx);
 */
#ifndef IOT_CMD_STREAM_CMD_H
#define IOT_CMD_STREAM_CMD_H

#include "stream/job.h"

struct cmd_ctx;
int stream_cmd_main(enum job_kind kind, int argc, char **argv, struct cmd_ctx *ctx);

struct iot_config;
/*
 * The streaming settings as a job's options, the one place that maps them
 * (`archive`, `aggregate` and `run` all call it): Kafka, topic,
 * pass-through properties, schema, the kind's output and checkpoint
 * locations (STREAMING_RAW_* or STREAMING_AGGREGATED_*), the dead-letter
 * topic, trigger, window, watermark, idle timeout, the aggregate's layout
 * (window.AGGREGATE_PARTITION_BY) and the group iotpipe-<kind>; the rest
 * is job_options_init()'s. The caller then applies what only it knows
 * (flags that are not settings, run's embedded broker). jo points into cfg,
 * which must outlive it. An error (IOT_ERR_CONFIG) names the key.
 */
enum iot_err stream_job_options(struct job_options *jo, enum job_kind kind,
				const struct iot_config *cfg, struct iot_error *err);

#endif
