/*
 * stream_cmd.c - options and set-up of `archive` and `aggregate`
 * (stream_cmd.h). Precedence as everywhere: flag > environment > config
 * file > default; the output and checkpoint locations default to the
 * reference's STREAMING_*_S3_*_PATH settings.
 */
#include "cmd/stream_cmd.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/signals.h"
#include "metrics/console.h"
#include "metrics/status.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

enum iot_err stream_layout(const char *flag, const struct iot_config *cfg,
			   struct hive_layout *out, struct iot_error *err)
{
	const char *spec = flag ? flag : cfg->streaming.aggregate_partition_by;
	char why[160];

	if (!strcmp(spec, "none"))
		spec = "";
	if (hive_layout_parse(spec, 1u << HIVE_DEVICE_ID | 1u << HIVE_WINDOW_START | 1u << HIVE_DATE,
			      out, why, sizeof(why)))
		return iot_error_set(err, IOT_ERR_CONFIG, "%s: %s",
				     flag ? "--partition-by" : "window.AGGREGATE_PARTITION_BY", why);
	return IOT_OK;
}

int stream_cmd_main(enum job_kind kind, int argc, char **argv)
{
	const char *name = kind == JOB_ARCHIVE ? "archive" : "aggregate";
	struct common_opts co = COMMON_OPTS_INIT(kind == JOB_ARCHIVE ? "127.0.0.1:9102"
								     : "127.0.0.1:9103");
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct metrics_server *srv = NULL;
	struct status *sl;
	enum iot_err rc;
	struct job_options jo;
	const char *output = NULL, *checkpoint = NULL, *group = NULL, *dlq = NULL;
	const char *partition_by = NULL, *codec = NULL, *starting = NULL, *on_loss = NULL;
	double trigger = 0, window = 0, watermark = 0, idle = 0, timeout = 30;
	double horizon = JOB_HORIZON_DEFAULT_S;
	long max_events = 700000;
	bool once = false;
	int status = EXIT_RUNTIME;
#define OPT_STREAM                                                             \
	OPT_GROUP("streaming"),                                                \
	OPT_STRING(0, "output", &output, "URI",                                \
		   "output dataset (default: from streaming_config)"),         \
	OPT_STRING(0, "checkpoint", &checkpoint, "URI",                        \
		   "checkpoint location (default: from streaming_config)"),    \
	OPT_STRING(0, "group", &group, "ID", "consumer group (default: iotpipe-<job>)"), \
	OPT_BOOL(0, "once", &once,                                             \
		 "process what the topic holds at start-up, commit, and exit"), \
	OPT_DOUBLE(0, "trigger", &trigger, "SECONDS",                          \
		   "commit at least this often (default 60; not with --once)", \
		   RANGE_ABOVE(0, RANGE_DAY_S)),                               \
	OPT_STRING(0, "dead-letter-topic", &dlq, "NAME",                       \
		   "send invalid and late records here, with the reason in a header"), \
	OPT_LONG(0, "max-batch-events", &max_events, "N",                      \
		 "commit before more events than this are buffered (default 700000)", \
		 RANGE(1, 1e9)),                                               \
	OPT_STRING(0, "starting-offsets", &starting, "earliest|latest",        \
		   "where a partition without checkpoint starts (default earliest)"), \
	OPT_STRING(0, "codec", &codec, "NAME",                                 \
		   "Parquet compression: snappy, zstd, gzip, none"),           \
	OPT_DOUBLE(0, "horizon", &horizon, "SECONDS",                          \
		   "events stamped further ahead of the processing time are invalid (default 300, 0: no limit)", \
		   RANGE(0, RANGE_YEAR_S)),                                    \
	OPT_STRING(0, "on-data-loss", &on_loss, "fail|earliest",               \
		   "a checkpoint offset outside its partition's log: stop (default), or go on from the log start"), \
	OPT_DOUBLE(0, "timeout", &timeout, "SECONDS",                          \
		   "how long to wait for Kafka at start, and with --once for progress (default 30)", \
		   RANGE_ABOVE(0, RANGE_DAY_S))
	struct opt opts[] = { OPT_COMMON(&co), OPT_STREAM, OPT_END() };
	struct opt agg_opts[] = {
		OPT_COMMON(&co),
		OPT_STREAM,
		OPT_GROUP("windows"),
		OPT_DOUBLE(0, "window", &window, "SECONDS", "tumbling window length (default 60)",
			   RANGE(1, RANGE_YEAR_S)),
		OPT_DOUBLE(0, "watermark", &watermark, "SECONDS", "watermark delay (default 60)",
			   RANGE(0, RANGE_YEAR_S)),
		OPT_DOUBLE(0, "idle-timeout", &idle, "SECONDS",
			   "a partition without events this long stops holding the watermark (0: off; not with --once)",
			   RANGE(0, RANGE_YEAR_S)),
		OPT_STRING(0, "partition-by", &partition_by, "COLS",
			   "output path columns: device_id,window_start (default), date, or none"),
		OPT_END(),
	};
#undef OPT_STREAM
	static const struct opt_usage archive_usage = {
		"iotpipe archive [options]",
		"Streams every valid event of the topic to Parquet, Hive-partitioned by\n"
		"device (device_id=<id>/), exactly once through the checkpoint location.",
	};
	static const struct opt_usage aggregate_usage = {
		"iotpipe aggregate [options]",
		"Aggregates events per device in 1-minute event-time windows with a\n"
		"watermark, and writes each window once, when the watermark passes it,\n"
		"to Parquet under device_id=<id>/window_start=<yyyy-MM-dd HH_mm>/.",
	};
	struct opt *table = kind == JOB_ARCHIVE ? opts : agg_opts;

	config_init(&cfg);
	status = common_start(name, argc, argv, table,
			      kind == JOB_ARCHIVE ? &archive_usage : &aggregate_usage, &co, &cfg,
			      COMMON_STREAMING);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	/* the flag goes through the settings table: the same topic-name rules */
	if ((dlq && config_set(&cfg, "streaming.kafka.DEAD_LETTER_TOPIC", dlq,
			       "--dead-letter-topic", &err)) ||
	    common_check_dead_letter(&cfg, table, &err)) {
		status = common_usage_error(name, &err);
		goto out;
	}
	job_options_init(&jo);
	jo.kind = kind;
	jo.bootstrap = cfg.streaming.bootstrap_servers;
	jo.topic = cfg.streaming.topic;
	jo.group = group ? group : kind == JOB_ARCHIVE ? "iotpipe-archive" : "iotpipe-aggregate";
	jo.output = output ? output
			   : kind == JOB_ARCHIVE ? cfg.streaming.raw_output
						 : cfg.streaming.aggregated_output;
	jo.checkpoint = checkpoint ? checkpoint
				   : kind == JOB_ARCHIVE ? cfg.streaming.raw_checkpoint
							 : cfg.streaming.aggregated_checkpoint;
	jo.dead_letter_topic = cfg.streaming.dead_letter_topic;
	jo.kafka = &cfg.streaming.kafka;
	jo.schema = cfg.schema;
	jo.once = once;
	/* flag > config; both were range-checked where they were parsed */
	jo.trigger_s = opt_was_given(table, "trigger") ? trigger : cfg.streaming.trigger_seconds;
	jo.window_us = (int64_t)llround(
		(opt_was_given(table, "window") ? window : cfg.streaming.window_seconds) * 1e6);
	jo.watermark_us = (int64_t)llround(
		(opt_was_given(table, "watermark") ? watermark : cfg.streaming.watermark_seconds) *
		1e6);
	jo.idle_timeout_s =
		opt_was_given(table, "idle-timeout") ? idle : cfg.streaming.idle_timeout_seconds;
	jo.timeout_s = timeout;
	jo.max_batch_events = (size_t)max_events;
	jo.horizon_us = (int64_t)llround(horizon * 1e6);
	if (starting && strcmp(starting, "earliest") && strcmp(starting, "latest")) {
		iot_error_set(&err, IOT_ERR_USAGE, "--starting-offsets '%s': expected earliest or latest",
			      starting);
		status = common_usage_error(name, &err);
		goto out;
	}
	jo.start_latest = starting && !strcmp(starting, "latest");
	if (on_loss && strcmp(on_loss, "fail") && strcmp(on_loss, "earliest")) {
		iot_error_set(&err, IOT_ERR_USAGE, "--on-data-loss '%s': expected fail or earliest",
			      on_loss);
		status = common_usage_error(name, &err);
		goto out;
	}
	jo.on_data_loss = on_loss && !strcmp(on_loss, "earliest") ? JOB_DATA_LOSS_EARLIEST
								   : JOB_DATA_LOSS_FAIL;
	if (codec && !pq_codec_parse(codec, &jo.pq.codec)) {
		iot_error_set(&err, IOT_ERR_USAGE, "--codec '%s': expected snappy, zstd, gzip or none",
			      codec);
		status = common_usage_error(name, &err);
		goto out;
	}
	if (stream_layout(partition_by, &cfg, &jo.layout, &err)) {
		status = common_usage_error(name, &err);
		goto out;
	}
	if (common_metrics_start(&co, &srv, &err)) {
		status = common_run_error(name, &err);
		goto out;
	}
	signals_install();
	log_info(name, "output %s, checkpoint %s", jo.output, jo.checkpoint);
	console_note(kind == JOB_ARCHIVE ? "archive.output" : "aggregate.output", jo.output);
	console_note(kind == JOB_ARCHIVE ? "archive.checkpoint" : "aggregate.checkpoint",
		     jo.checkpoint);
	sl = status_start(kind == JOB_ARCHIVE ? STATUS_ARCHIVE : STATUS_AGGREGATE);
	rc = job_run(&jo, &err);
	status_stop(sl);
	if (rc) {
		status = common_run_error(name, &err);
		goto out;
	}
	status = 0;
out:
	metrics_server_stop(srv);
	config_release(&cfg);
	common_release(&co);
	return status;
}
