/*
 * percentile.c - `iotpipe percentile`: per device and UTC date, the p95 of
 * event_duration after removing 3-sigma outliers, as CSV (docs/design.md §6;
 * the reference's percentile_processor.py; semantics in docs/percentile.md).
 *
 * This file parses the options and the settings (the input, output and
 * threshold default to the streaming settings), starts the metrics
 * endpoint and calls percentile_run(); the job itself is
 * src/batch/percentile_job.c.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/csv.h"
#include "batch/percentile_job.h"

#include "core/banned.h"

/* Parses "0.5,0.95,0.99": each in [0, 1], no duplicates. */
static bool parse_percentiles(const char *s, double *p, size_t *np, struct iot_error *err)
{
	const char *q = s;
	*np = 0;
	for (;;) {
		char *end;
		double v;
		errno = 0;
		v = strtod(q, &end);
		if (end == q || errno || !(v >= 0 && v <= 1) || (*end && *end != ',')) {
			iot_error_set(err, IOT_ERR_USAGE,
				      "--percentiles '%s': expected a comma-separated list of numbers in [0, 1], e.g. 0.5,0.95,0.99",
				      s);
			return false;
		}
		v += 0.0; /* -0 is 0 (and would name its column p-000) */
		for (size_t i = 0; i < *np; i++) {
			char a[64], b[64];
			if (p[i] == v) {
				iot_error_set(err, IOT_ERR_USAGE, "--percentiles '%s': %g is listed twice", s, v);
				return false;
			}
			/* the CSV names columns after 12 decimals of p */
			csv_percentile_name(p[i], a, sizeof(a));
			csv_percentile_name(v, b, sizeof(b));
			if (!strcmp(a, b)) {
				iot_error_set(err, IOT_ERR_USAGE,
					      "--percentiles '%s': %.16g and %.16g would both be column %s; "
					      "give percentiles that differ within 12 decimals",
					      s, p[i], v, a);
				return false;
			}
		}
		if (*np == PERCENTILE_MAX) {
			iot_error_set(err, IOT_ERR_USAGE, "--percentiles: at most %d values",
				      PERCENTILE_MAX);
			return false;
		}
		p[(*np)++] = v;
		if (!*end)
			return true;
		q = end + 1;
	}
}

static bool parse_shard(const char *s, uint64_t *i, uint64_t *n)
{
	char *end;
	unsigned long long a, b;
	if (!s[0] || s[0] == '-')
		return false;
	errno = 0;
	a = strtoull(s, &end, 10);
	if (errno || *end != '/' || end[1] == '-')
		return false;
	b = strtoull(end + 1, &end, 10);
	if (errno || *end || b == 0 || a >= b)
		return false;
	*i = a;
	*n = b;
	return true;
}

int cmd_percentile(int argc, char **argv, struct cmd_ctx *ctx)
{
	const struct iot_config *cfg = &ctx->cfg;
	struct iot_error err = IOT_ERROR_INIT;
	const char *input = NULL, *output = NULL, *percentiles = "0.95", *method = "nearest";
	const char *shard = NULL;
	long threads = 0;
	double p[PERCENTILE_MAX];
	size_t np = 0;
	struct percentile_options po = PERCENTILE_OPTIONS_INIT;
	int status = EXIT_RUNTIME;
	struct opt opts[] = {
		OPT_GROUP("percentile"),
		OPT_SETTING(0, "input", "streaming.s3.STREAMING_RAW_S3_OUTPUT_PATH", "URI",
			    "raw dataset: device_id=<id>/*.parquet"),
		OPT_SETTING(0, "output", "streaming.s3.PERCENTILE_VALIDATION_CSV_OUTPUT_PATH", "URI",
			    "CSV to write; a folder (ending in '/') gets percentile.csv"),
		OPT_SETTING(0, "threshold", "streaming.s3.NUM_EVENT_THRESHOLD", "N",
			    "keep device-days with more than N distinct events"),
		OPT_STRING(0, "percentiles", &percentiles, "LIST",
			   "percentiles to compute, e.g. 0.5,0.95,0.99 (default 0.95)"),
		OPT_STRING(0, "method", &method, "nearest|linear",
			   "nearest rank (default) or linear interpolation (numpy's default)"),
		OPT_LONG(0, "threads", &threads, "N", "worker threads (default: all cores)",
			 RANGE(1, 1024)),
		OPT_STRING(0, "shard", &shard, "I/N",
			   "process only the devices whose FNV-1a hash mod N is I (0 <= I < N)"),
		OPT_END(),
	};
	static const struct opt_usage usage = {
		"iotpipe percentile [options]",
		"Per device and UTC date: the number of distinct events, then for days with more "
		"than the threshold, the percentiles of event_duration after dropping rows beyond "
		"3 standard deviations. Writes a CSV sorted by device_id and date.",
	};
	status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	if (!parse_percentiles(percentiles, p, &np, &err)) {
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (strcmp(method, "nearest") && strcmp(method, "linear")) {
		iot_error_set(&err, IOT_ERR_USAGE, "--method '%s': expected nearest or linear", method);
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (shard && !parse_shard(shard, &po.shard_i, &po.shard_n)) {
		iot_error_set(&err, IOT_ERR_USAGE, "--shard '%s': expected I/N with 0 <= I < N", shard);
		status = common_usage_error("percentile", &err);
		goto out;
	}
	/* --input and --output went into the settings */
	input = cfg->streaming.raw_output;
	output = cfg->streaming.percentile_output;
	if (!input || !input[0] || !output || !output[0]) {
		iot_error_set(&err, IOT_ERR_CONFIG, "no %s location: give --%s or set %s",
			      !input || !input[0] ? "input" : "output",
			      !input || !input[0] ? "input" : "output",
			      !input || !input[0] ? "STREAMING_RAW_S3_OUTPUT_PATH"
						  : "PERCENTILE_VALIDATION_CSV_OUTPUT_PATH");
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (common_metrics_start(&ctx->co, &ctx->srv, &err)) {
		status = common_run_error("percentile", &err);
		goto out;
	}

	po.input = input;
	po.output = output;
	po.p = p;
	po.np = np;
	po.method = !strcmp(method, "linear") ? STATS_LINEAR : STATS_NEAREST;
	po.threshold = cfg->streaming.num_event_threshold; /* --threshold went there */
	po.threads = (size_t)threads;
	po.sharded = shard != NULL;
	po.progress = isatty(STDERR_FILENO) != 0;
	if (percentile_run(&po, &err)) {
		fprintf(stderr, "iotpipe percentile: %s\n", err.msg);
		goto out;
	}
	status = 0;
out:
	return status;
}
