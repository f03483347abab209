/*
 * stream_cmd.c - options and set-up of `archive` and `aggregate`
 * (stream_cmd.h). Precedence as everywhere: flag > environment > config
 * file > default; the output and checkpoint locations default to the
 * reference's STREAMING_*_S3_*_PATH settings. The flags that are settings
 * (--trigger, --window, ...) are OPT_SETTING rows: the settings table
 * checks them and gives --help their defaults and ranges, and
 * stream_job_options() turns the settings into job options, for these
 * commands and for `run` alike.
 */
#include "cmd/stream_cmd.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/signals.h"
#include "metrics/console.h"
#include "metrics/status.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

enum iot_err stream_job_options(struct job_options *jo, enum job_kind kind,
				const struct iot_config *cfg, struct iot_error *err)
{
	const struct streaming_config *sc = &cfg->streaming;
	char why[160];

	job_options_init(jo);
	jo->kind = kind;
	jo->bootstrap = sc->bootstrap_servers;
	jo->topic = sc->topic;
	jo->group = kind == JOB_ARCHIVE ? "iotpipe-archive" : "iotpipe-aggregate";
	jo->output = kind == JOB_ARCHIVE ? sc->raw_output : sc->aggregated_output;
	jo->checkpoint = kind == JOB_ARCHIVE ? sc->raw_checkpoint : sc->aggregated_checkpoint;
	jo->dead_letter_topic = sc->dead_letter_topic;
	jo->kafka = &sc->kafka;
	jo->schema = cfg->schema;
	/* every value was range-checked where it was set (config/config.c) */
	jo->trigger_s = sc->trigger_seconds;
	jo->window_us = (int64_t)llround(sc->window_seconds * 1e6);
	jo->watermark_us = (int64_t)llround(sc->watermark_seconds * 1e6);
	jo->idle_timeout_s = sc->idle_timeout_seconds;
	/* checked when it was set too; a struct that skipped the table is
	 * refused here rather than laid out wrong */
	if (kind == JOB_ARCHIVE &&
	    !config_raw_partition_layout(sc->raw_partition_by, &jo->raw_layout, why, sizeof(why)))
		return iot_error_set(err, IOT_ERR_CONFIG, "key 's3.STREAMING_RAW_PARTITION_BY': %s",
				     why);
	if (kind != JOB_ARCHIVE &&
	    !config_partition_layout(sc->aggregate_partition_by, &jo->layout, why, sizeof(why)))
		return iot_error_set(err, IOT_ERR_CONFIG, "key 'window.AGGREGATE_PARTITION_BY': %s",
				     why);
	return IOT_OK;
}

int stream_cmd_main(enum job_kind kind, int argc, char **argv, struct cmd_ctx *ctx)
{
	const char *name = ctx->name;
	const struct iot_config *cfg = &ctx->cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct status *sl;
	enum iot_err rc;
	struct job_options jo;
	const char *group = NULL;
	const char *codec = NULL, *starting = NULL, *on_loss = NULL;
	bool once = false;
	int status = EXIT_RUNTIME;
	/* the defaults of the options that are not settings: job.h's */
	struct job_options def;
	job_options_init(&def);
	double timeout = def.timeout_s;
	double horizon = (double)def.horizon_us / 1e6;
	long max_events = (long)def.max_batch_events;
/* out, ck: the settings of the kind's output and checkpoint locations */
#define OPT_STREAM(out, ck)                                                    \
	OPT_GROUP("streaming"),                                                \
	OPT_SETTING(0, "output", "streaming.s3." out, "URI", "output dataset"), \
	OPT_SETTING(0, "checkpoint", "streaming.s3." ck, "URI", "checkpoint location"), \
	OPT_STRING(0, "group", &group, "ID", "consumer group (default: iotpipe-<job>)"), \
	OPT_BOOL(0, "once", &once,                                             \
		 "process what the topic holds at start-up, commit, and exit"), \
	OPT_SETTING(0, "trigger", "streaming.window.TRIGGER_SECONDS", "SECONDS", \
		    "commit at least this often (not with --once)"),           \
	OPT_SETTING(0, "dead-letter-topic", "streaming.kafka.DEAD_LETTER_TOPIC", \
		    "NAME", "send invalid and late records here, with the reason in a header"), \
	OPT_LONG_D(0, "max-batch-events", &max_events, "N",                    \
		 "commit before more events than this are buffered",           \
		 RANGE(1, 1e9)),                                               \
	OPT_STRING(0, "starting-offsets", &starting, "earliest|latest",        \
		   "where a partition without checkpoint starts (default earliest)"), \
	OPT_STRING(0, "codec", &codec, "NAME",                                 \
		   "Parquet compression: snappy, zstd, gzip, none"),           \
	OPT_DOUBLE_D(0, "horizon", &horizon, "SECONDS",                        \
		   "events stamped further ahead of the processing time are invalid (0: no limit)", \
		   RANGE(0, RANGE_YEAR_S)),                                    \
	OPT_STRING(0, "on-data-loss", &on_loss, "fail|earliest",               \
		   "a checkpoint offset outside its partition's log: stop (default), or go on from the log start"), \
	OPT_DOUBLE_D(0, "timeout", &timeout, "SECONDS",                        \
		   "how long to wait for Kafka at start, and with --once for progress", \
		   RANGE_ABOVE(0, RANGE_DAY_S))
	struct opt opts[] = {
		OPT_STREAM("STREAMING_RAW_S3_OUTPUT_PATH", "STREAMING_RAW_S3_CHECKPOINT_PATH"),
		OPT_GROUP("layout"),
		OPT_SETTING(0, "partition-by", "streaming.s3.STREAMING_RAW_PARTITION_BY", "COLS",
			    "output path columns: device_id, date, or both (percentile reads each)"),
		OPT_END(),
	};
	struct opt agg_opts[] = {
		OPT_STREAM("STREAMING_AGGREGATED_S3_OUTPUT_PATH",
			   "STREAMING_AGGREGATED_S3_CHECKPOINT_PATH"),
		OPT_GROUP("windows"),
		OPT_SETTING(0, "window", "streaming.window.WINDOW_SECONDS", "SECONDS",
			    "tumbling window length"),
		OPT_SETTING(0, "watermark", "streaming.window.WATERMARK_SECONDS", "SECONDS",
			    "watermark delay"),
		OPT_SETTING(0, "idle-timeout", "streaming.window.IDLE_TIMEOUT_SECONDS", "SECONDS",
			    "a partition without events this long stops holding the watermark (0: off; not with --once)"),
		OPT_SETTING(0, "partition-by", "streaming.window.AGGREGATE_PARTITION_BY", "COLS",
			    "output path columns: some of device_id, window_start, date, or none"),
		OPT_END(),
	};
#undef OPT_STREAM
	static const struct opt_usage archive_usage = {
		"iotpipe archive [options]",
		"Streams every valid event of the topic to Parquet, Hive-partitioned by\n"
		"device (device_id=<id>/; --partition-by date: date=<yyyy-MM-dd>/ with\n"
		"device_id as a column), exactly once through the checkpoint location.",
	};
	static const struct opt_usage aggregate_usage = {
		"iotpipe aggregate [options]",
		"Aggregates events per device in 1-minute event-time windows with a\n"
		"watermark, and writes each window once, when the watermark passes it,\n"
		"to Parquet under device_id=<id>/window_start=<yyyy-MM-dd HH_mm>/.",
	};
	struct opt *table = kind == JOB_ARCHIVE ? opts : agg_opts;

	status = cmd_parse(ctx, argc, argv, table,
			   kind == JOB_ARCHIVE ? &archive_usage : &aggregate_usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	/* the flags of settings went through the settings table with the
	 * files and the environment (cmd_parse()) */
	if (common_check_dead_letter(cfg, ctx->opts, &err) ||
	    stream_job_options(&jo, kind, cfg, &err)) {
		status = common_usage_error(name, &err);
		goto out;
	}
	if (group)
		jo.group = group;
	jo.once = once;
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
	if (common_metrics_start(&ctx->co, &ctx->srv, &err)) {
		status = common_run_error(name, &err);
		goto out;
	}
	signals_install();
	/* a streaming job stalls through a store outage (SPEC); --once
	 * reports it, as any one-shot command, and a store request pending
	 * for --timeout is no progress: the run ends then, wherever the
	 * request was made (the job thread, a writer, an upload's part) */
	if (!once)
		store_set_outage_patience(-1);
	else
		store_set_progress_timeout(timeout, "--timeout");
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
	return status;
}
