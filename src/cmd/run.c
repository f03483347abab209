/*
 * run.c - `iotpipe run`: the whole pipeline in one process (the
 * reference's "main job"): the embedded broker (unless bootstrap servers
 * are given by flag or environment), the simulated devices, `archive` and
 * `aggregate`, one metrics endpoint, output under ./data/ (unless output
 * locations are given by flag or environment), and a one-line live status
 * (metrics/status.h).
 *
 * Threads: the main thread starts everything, then waits for a stop
 * signal while the status thread (metrics/status.c) reports; the producer
 * and each job run on a thread of their own (src/kafka/producer.c, src/stream/job.c), and they all stop
 * through the same stop flag (core/signals.h). The embedded broker runs on
 * librdkafka's mock-cluster thread and is destroyed last, after the jobs
 * have committed.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "cmd/stream_cmd.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/xalloc.h"
#include "kafka/mock_broker.h"
#include "kafka/producer.h"
#include "metrics/console.h"
#include "metrics/metrics.h"
#include "metrics/status.h"
#include "stream/job.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

struct worker {
	pthread_t thread;
	const char *name;
	struct job_options job;
	struct producer_options prod;
	struct producer_result res;
	bool is_producer;
	enum iot_err rc;
	struct iot_error err;
	bool started;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (w->is_producer)
		w->rc = producer_run(&w->prod, &w->res, &w->err);
	else
		w->rc = job_run(&w->job, &w->err);
	if (w->rc) {
		log_error(w->name, "%s", w->err.msg);
		/* one part failing stops the whole pipeline */
		signals_request_stop();
	}
	return NULL;
}

static const char *given_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int cmd_run(int argc, char **argv, struct cmd_ctx *ctx)
{
	struct iot_config *cfg = &ctx->cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct mock_broker *mb = NULL;
	struct worker w[3];
	const char *data = "data", *raw_out = NULL, *agg_out = NULL;
	char *incarnation = NULL;
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
		OPT_LONG(0, "partitions", &partitions, "N", "partitions of the embedded broker's topic (default 4)",
			 RANGE(1, MOCK_BROKER_MAX_PARTITIONS)),
		/* not window.TRIGGER_SECONDS: run commits more often than a
		 * job's default so that a demo shows output within seconds;
		 * the same range as the setting's */
		OPT_DOUBLE(0, "trigger", &trigger, "SECONDS", "commit interval of the jobs (default 10)",
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

	memset(w, 0, sizeof(w));
	status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	if (common_check_dead_letter(cfg, ctx->opts, &err)) {
		status = common_usage_error("run", &err);
		goto out;
	}
	signals_install();

	/* Kafka: the given cluster, or the embedded broker */
	if (!ctx->co.bootstrap && !given_env("KAFKA_BOOTSTRAP_SERVERS")) {
		mb = mock_broker_create(1, (int)partitions, &err);
		if (!mb || mock_broker_create_topic(mb, cfg->streaming.topic, (int)partitions, &err)) {
			fprintf(stderr, "iotpipe run: embedded broker: %s\n", err.msg);
			goto out;
		}
		free(cfg->streaming.bootstrap_servers);
		cfg->streaming.bootstrap_servers = xstrdup(mock_broker_bootstrap(mb));
		log_info("run", "embedded broker at %s (in memory, for development and demos)",
			 cfg->streaming.bootstrap_servers);
		/* every start is a new, empty log: the checkpoints of earlier
		 * runs name another incarnation, and their partitions go on
		 * from offset 0 in a new epoch (stream/ckpt.h) */
		incarnation = xasprintf("embedded:%" PRId64 "-%ld", clock_wall_us(), (long)getpid());
	}
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

	for (int k = 0; k < 2; k++) {
		struct job_options *jo = &w[k].job;
		/* the same settings-to-options mapping as archive and aggregate */
		if (stream_job_options(jo, k == 0 ? JOB_ARCHIVE : JOB_AGGREGATE, cfg, &err)) {
			status = common_usage_error("run", &err);
			goto out;
		}
		w[k].name = k == 0 ? "archive" : "aggregate";
		jo->output = paths[k];
		jo->checkpoint = paths[k + 2];
		jo->trigger_s = trigger;
		if (incarnation) {
			jo->source = incarnation;
			jo->fresh_source = true;
			/* this process is the broker's only consumer */
			jo->static_assign = true;
			/* the embedded broker keeps about 5 MiB per partition:
			 * a job that falls that far behind goes on, counted */
			jo->on_data_loss = JOB_DATA_LOSS_EARLIEST;
		}
	}
	producer_options_init(&w[2].prod);
	w[2].is_producer = true;
	w[2].name = "produce";
	w[2].prod.bootstrap = cfg->streaming.bootstrap_servers;
	w[2].prod.topic = cfg->streaming.topic;
	w[2].prod.acks = cfg->producer.acks;
	w[2].prod.partitioner = cfg->producer.partitioner;
	w[2].prod.retries = cfg->producer.retries;
	w[2].prod.idempotent = cfg->producer.delivery_exactly_once;
	w[2].prod.kafka = &cfg->producer.kafka;
	w[2].prod.schema = cfg->schema;
	w[2].prod.gen.devices = cfg->producer.num_generators;
	w[2].prod.gen.seed = (uint64_t)time(NULL);
	w[2].prod.rate = opt_was_given(opts, "rate") ? rate
			 : cfg->producer.event_frequency > 0
				 ? (double)w[2].prod.gen.devices / cfg->producer.event_frequency
				 : 0;
	w[2].prod.quiet = true;

	log_info("run", "archive -> %s, aggregate -> %s (checkpoints %s, %s)", paths[0], paths[1],
		 paths[2], paths[3]);
	console_note("bootstrap", cfg->streaming.bootstrap_servers);
	console_note("archive.output", paths[0]);
	console_note("aggregate.output", paths[1]);
	console_note("archive.checkpoint", paths[2]);
	console_note("aggregate.checkpoint", paths[3]);
	for (int k = 0; k < 3; k++) {
		if (k == 2 && no_producer)
			continue;
		if (pthread_create(&w[k].thread, NULL, worker_main, &w[k]) == 0)
			w[k].started = true;
	}
	{
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		struct status *sl = status_start(STATUS_ARCHIVE | STATUS_AGGREGATE |
						 (no_producer ? 0 : STATUS_PRODUCE));
		while (!signals_stop_requested())
			nanosleep(&ts, NULL);
		status_stop(sl);
	}
	log_info("run", "stopping: the producer flushes, the jobs commit what they read");
	status = 0;
	for (int k = 0; k < 3; k++) {
		if (!w[k].started)
			continue;
		pthread_join(w[k].thread, NULL);
		if (w[k].rc) {
			fprintf(stderr, "iotpipe run: %s: %s\n", w[k].name, w[k].err.msg);
			status = EXIT_RUNTIME;
		}
	}
out:
	mock_broker_destroy(mb);
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	free(incarnation);
	return status;
}
