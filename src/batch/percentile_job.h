/*
 * percentile_job.h - the batch job behind `iotpipe percentile`: per device
 * and UTC date, the number of distinct events, then for days with more
 * than the threshold the percentiles of event_duration after removing
 * 3-sigma outliers, written as one CSV (docs/design.md §6,
 * docs/percentile.md). The twin of job_run() in stream/job.h: the command
 * (src/cmd/percentile.c) parses options and settings into a struct
 * percentile_options and calls percentile_run(); this module does the rest
 * and never exits.
 *
 *	struct percentile_options o = PERCENTILE_OPTIONS_INIT;
 *	o.input = "s3://bucket/raw/"; o.output = "out/"; o.p = p; o.np = 1;
 *	o.threshold = 200;
 *	rc = percentile_run(&o, &err);   // on success the CSV is in place
 *
 * Threads: the caller's thread lists the dataset and writes the CSV;
 * o.threads worker threads (core/pool.h) compute devices in between.
 */
#ifndef IOT_BATCH_PERCENTILE_JOB_H
#define IOT_BATCH_PERCENTILE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/group_stats.h"
#include "core/err.h"

/* The most percentiles one run computes (CSV columns after the key). */
#define PERCENTILE_MAX 32

struct percentile_options {
	const char *input;       /* the raw dataset: device_id=<id>/<file>.parquet */
	const char *output;      /* the CSV; a folder (ends in '/' or is a local
				    directory) gets percentile.csv, or
				    percentile-<i>-of-<n>.csv for a shard */
	const double *p;         /* percentiles in [0, 1], in column order */
	size_t np;               /* 1..PERCENTILE_MAX */
	enum stats_method method;
	long threshold;          /* keep device-days with more distinct events */
	size_t threads;          /* worker threads; 0: one per online core */
	bool sharded;            /* keep only the devices of shard_i of shard_n */
	uint64_t shard_i, shard_n;
	bool progress;           /* draw a progress bar on stderr */
};

#define PERCENTILE_OPTIONS_INIT                                                 \
	{ NULL, NULL, NULL, 0, STATS_NEAREST, 0, 0, false, 0, 1, false }

/*
 * Runs the job to the end. The options and what they point to are only
 * read, and must live until it returns. Errors name the URI or file at
 * fault; an input with no Parquet file is IOT_ERR_NOT_FOUND. Nothing is
 * written unless every device was computed.
 */
enum iot_err percentile_run(const struct percentile_options *o, struct iot_error *err);

#endif
