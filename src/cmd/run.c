/*
 * run.c - `iotpipe run`: the whole pipeline in one process (the
 * reference's "main job"): the embedded broker (unless bootstrap servers
 * are given by flag or environment), the simulated devices, `archive` and
 * `aggregate`, one metrics endpoint, output under ./data/ (unless output
 * locations are given by flag or environment), and a one-line live status.
 *
 * This file parses the options and maps the settings: the jobs' options
 * come from stream_job_options() as for `archive` and `aggregate`, then
 * the locations and the trigger that are run's own. The engine (threads,
 * embedded broker, status line) is src/pipeline/pipeline.c.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "cmd/stream_cmd.h"
#include "core/signals.h"
#include "core/xalloc.h"
#include "kafka/mock_broker.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

static const char *given_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int cmd_run(int argc, char **argv, struct cmd_ctx *ctx)
{
	const struct iot_config *cfg = &ctx->cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct pipeline_options po;
	const char *data = "data", *raw_out = NULL, *agg_out = NULL;
	char *paths[4] = { NULL, NULL, NULL, NULL };
	double rate = 0, trigger = 10;
	long partitions = 4;
	bool no_producer = false;
	int status = EXIT_RUNTIME;
	struct opt opts[] = {
		OPT_GROUP("pipeline"),
		OPT_STRING(0, "data-dir", &data, "DIR",
			   "where output and checkpoints go when no locations are given (default ./data)"),
		OPT_STRING(0, "raw-output", &raw_out, "URI", "archive output (default DIR/raw)"),
		OPT_STRING(0, "aggregate-output", &agg_out, "URI",
			   "aggregate output (default DIR/aggregate)"),
		OPT_DOUBLE(0, "rate", &rate, "EVENTS_PER_S",
			   "simulated devices' total rate (default: devices / event_frequency)",
			   RANGE(0, 1e9)),
		OPT_SETTING(0, "devices", "producer.kafka.num_generators", "N", "simulated devices"),
		OPT_BOOL(0, "no-producer", &no_producer, "run only the streaming jobs"),
		OPT_LONG_D(0, "partitions", &partitions, "N", "partitions of the embedded broker's topic",
			 RANGE(1, MOCK_BROKER_MAX_PARTITIONS)),
		/* not window.TRIGGER_SECONDS: run commits more often than a
		 * job's default so that a demo shows output within seconds;
		 * the same range as the setting's */
		OPT_DOUBLE_D(0, "trigger", &trigger, "SECONDS", "commit interval of the jobs",
			   RANGE_ABOVE(0, RANGE_DAY_S)),
		OPT_SETTING(0, "idle-timeout", "streaming.window.IDLE_TIMEOUT_SECONDS", "SECONDS",
			    "aggregate idle timeout"),
		OPT_END(),
	};
	static const struct opt_usage usage = {
		"iotpipe run [options]",
		"The whole pipeline in one process: embedded broker (unless bootstrap servers\n"
		"are given), simulated devices, archive and aggregate, until Ctrl-C.",
	};

	status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	pipeline_options_init(&po);
	/* the same settings-to-options mapping as archive and aggregate */
	if (common_check_dead_letter(cfg, ctx->opts, &err) ||
	    stream_job_options(&po.archive, JOB_ARCHIVE, cfg, &err) ||
	    stream_job_options(&po.aggregate, JOB_AGGREGATE, cfg, &err)) {
		status = common_usage_error("run", &err);
		goto out;
	}
	signals_install();

	/* Kafka: the given cluster, or the embedded broker */
	po.embedded = !ctx->co.bootstrap && !given_env("KAFKA_BOOTSTRAP_SERVERS");
	po.partitions = (int)partitions;
	/* locations: given by flag or environment, else under --data-dir */
	paths[0] = raw_out ? xstrdup(raw_out)
		   : given_env("STREAMING_RAW_S3_OUTPUT_PATH") ? xstrdup(cfg->streaming.raw_output)
							       : NULL;
	paths[1] = agg_out ? xstrdup(agg_out)
		   : given_env("STREAMING_AGGREGATED_S3_OUTPUT_PATH") ? xstrdup(cfg->streaming.aggregated_output)
								      : NULL;
	paths[2] = given_env("STREAMING_RAW_S3_CHECKPOINT_PATH") ? xstrdup(cfg->streaming.raw_checkpoint) : NULL;
	paths[3] = given_env("STREAMING_AGGREGATED_S3_CHECKPOINT_PATH")
			   ? xstrdup(cfg->streaming.aggregated_checkpoint)
			   : NULL;
	{
		static const char *const sub[4] = { "raw", "aggregate", "checkpoints/raw",
						    "checkpoints/aggregate" };
		for (int i = 0; i < 4; i++) {
			if (paths[i])
				continue;
			paths[i] = xasprintf("%s/%s", data, sub[i]);
		}
	}
	if (common_metrics_start(&ctx->co, &ctx->srv, &err)) {
		status = common_run_error("run", &err);
		goto out;
	}
	store_set_outage_patience(-1); /* its jobs stall through an outage */
	po.archive.output = paths[0];
	po.aggregate.output = paths[1];
	po.archive.checkpoint = paths[2];
	po.aggregate.checkpoint = paths[3];
	po.archive.trigger_s = trigger;
	po.aggregate.trigger_s = trigger;

	po.no_producer = no_producer;
	po.produce.bootstrap = cfg->streaming.bootstrap_servers;
	po.produce.topic = cfg->streaming.topic;
	po.produce.acks = cfg->producer.acks;
	po.produce.partitioner = cfg->producer.partitioner;
	po.produce.retries = cfg->producer.retries;
	po.produce.idempotent = cfg->producer.delivery_exactly_once;
	po.produce.kafka = &cfg->producer.kafka;
	po.produce.schema = cfg->schema;
	po.produce.gen.devices = cfg->producer.num_generators; /* --devices went there */
	po.produce.gen.seed = (uint64_t)time(NULL);
	po.produce.rate = opt_was_given(opts, "rate") ? rate
			  : cfg->producer.event_frequency > 0
				  ? (double)po.produce.gen.devices / cfg->producer.event_frequency
				  : 0;
	po.produce.quiet = true;

	if (pipeline_run(&po, &err)) {
		fprintf(stderr, "iotpipe run: %s\n", err.msg);
		goto out;
	}
	status = 0;
out:
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	return status;
}
