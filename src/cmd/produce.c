/*
 * produce.c - `iotpipe produce`: simulated IoT devices publish events to
 * Kafka (the reference's event_producer.py). This file parses the options
 * and the configuration; the producer loop itself is src/kafka/producer.c,
 * shared with `iotpipe run`.
 *
 * Exit status: 0 when every record was delivered, 1 when any was not (the
 * count and the errors are printed), 2 for usage/config errors.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/signals.h"
#include "event/generate.h"
#include "event/timeparse.h"
#include "kafka/producer.h"
#include "metrics/metrics.h"
#include "metrics/status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/banned.h"

static uint64_t time_seed(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static bool parse_time_arg(const char *s, int64_t *us)
{
	char *end;
	double d;
	if (time_parse_iso8601(s, strlen(s), us))
		return true;
	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || fabs(d) > 253402300799.0)
		return false;
	*us = (int64_t)llround(d * 1e6);
	return true;
}

int cmd_produce(int argc, char **argv, struct cmd_ctx *ctx)
{
	const struct iot_config *cfg = &ctx->cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct status *sl;
	enum iot_err rc;
	struct producer_options po;
	struct producer_result res;
	struct gen_options go = GEN_OPTIONS_INIT;
	long count = -1, seed = 0;
	double rate = 0, duration = 0, late_by = 180, time_step = 0, timeout = 10;
	double flush_timeout = 30;
	bool exactly_once = false;
	const char *start_time = NULL;
	int64_t sim_time = 0;
	int status = EXIT_RUNTIME;
	struct opt opts[] = {
		OPT_GROUP("producing"),
		OPT_LONG('n', "count", &count, "N", "send N records, then stop (default: until stopped)",
			 RANGE(0, 1e12)),
		OPT_DOUBLE(0, "rate", &rate, "EVENTS_PER_S",
			   "records per second in total (0: as fast as possible; default: devices / event_frequency)",
			   RANGE(0, 1e9)),
		OPT_DOUBLE(0, "duration", &duration, "SECONDS", "stop after this long (0: no limit)",
			   RANGE(0, RANGE_YEAR_S)),
		OPT_SETTING(0, "devices", "producer.kafka.num_generators", "N", "simulated devices"),
		/* 2^53 - 1: the largest seed every JSON-speaking tool reads back exactly */
		OPT_LONG(0, "seed", &seed, "N", "random seed, for reproducible runs",
			 RANGE(0, 9007199254740991.0)),
		OPT_SETTING(0, "acks", "producer.kafka.acks", "0|1|all", "acknowledgements"),
		OPT_BOOL(0, "exactly-once", &exactly_once, "use the idempotent producer (delivery_exactly_once)"),
		OPT_STRING(0, "start-time", &start_time, "TIME",
			   "simulated event time of the first record (ISO-8601 or epoch seconds)"),
		OPT_DOUBLE(0, "time-step", &time_step, "SECONDS",
			   "simulated time between records (default: 1 / rate, or 0.001)",
			   RANGE(0, RANGE_DAY_S)),
		OPT_DOUBLE_D(0, "timeout", &timeout, "SECONDS", "how long to wait for Kafka at start",
			   RANGE_ABOVE(0, RANGE_DAY_S)),
		OPT_DOUBLE_D(0, "flush-timeout", &flush_timeout, "SECONDS",
			   "how long to wait for outstanding deliveries at exit",
			   RANGE(0, RANGE_DAY_S)),
		OPT_GROUP("test and demo injection"),
		OPT_DOUBLE(0, "late-fraction", &go.late_fraction, "F", "fraction of late events",
			   RANGE(0, 1)),
		OPT_DOUBLE_D(0, "late-by", &late_by, "SECONDS",
			   "late events are between this and twice this far behind",
			   RANGE_ABOVE(0, RANGE_YEAR_S)),
		OPT_DOUBLE(0, "invalid-fraction", &go.invalid_fraction, "F",
			   "fraction of invalid records (bad JSON, wrong types, missing fields, no key, ...)",
			   RANGE(0, 1)),
		OPT_DOUBLE(0, "duplicate-fraction", &go.duplicate_fraction, "F",
			   "fraction of records that repeat the previous event", RANGE(0, 1)),
		OPT_END(),
	};
	static const struct opt_usage usage = {
		"iotpipe produce [options]",
		"Simulated IoT devices publish JSON events to Kafka, keyed device_id_<n>.",
	};

	producer_options_init(&po);
	status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	if (go.late_fraction + go.invalid_fraction + go.duplicate_fraction > 1) {
		iot_error_set(&err, IOT_ERR_USAGE,
			      "--late-fraction, --invalid-fraction and --duplicate-fraction must sum to at most 1");
		status = common_usage_error("produce", &err);
		goto out;
	}
	/* --devices and --acks were set through the settings table */
	go.devices = cfg->producer.num_generators;
	go.seed = opt_was_given(opts, "seed") ? (uint64_t)seed : time_seed();
	go.late_min_s = late_by;
	go.late_max_s = 2 * late_by;
	if (!opt_was_given(opts, "rate")) {
		rate = cfg->producer.event_frequency > 0
			       ? (double)go.devices / cfg->producer.event_frequency
			       : 0;
	}
	if (start_time) {
		if (!parse_time_arg(start_time, &sim_time)) {
			iot_error_set(&err, IOT_ERR_USAGE,
				      "--start-time '%s': expected ISO-8601 or epoch seconds", start_time);
			status = common_usage_error("produce", &err);
			goto out;
		}
		if (!opt_was_given(opts, "time-step"))
			time_step = rate > 0 ? 1.0 / rate : 0.001;
	}

	po.bootstrap = cfg->producer.bootstrap_servers;
	po.topic = cfg->producer.topic;
	po.acks = cfg->producer.acks;
	po.partitioner = cfg->producer.partitioner;
	po.retries = cfg->producer.retries;
	po.idempotent = exactly_once || cfg->producer.delivery_exactly_once;
	po.kafka = &cfg->producer.kafka;
	po.schema = cfg->schema;
	po.gen = go;
	po.count = count;
	po.rate = rate;
	po.duration = duration;
	po.simulated_time = start_time != NULL;
	po.start_us = sim_time;
	po.time_step = time_step;
	po.timeout = timeout;
	po.flush_timeout = flush_timeout;
	if (common_metrics_start(&ctx->co, &ctx->srv, &err)) {
		status = common_run_error("produce", &err);
		goto out;
	}
	signals_install();
	po.quiet = true; /* the status line reports progress */
	sl = status_start(STATUS_PRODUCE);
	rc = producer_run(&po, &res, &err);
	status_stop(sl);
	if (rc) {
		status = common_run_error("produce", &err);
		goto out;
	}
	status = 0;
out:
	return status;
}
