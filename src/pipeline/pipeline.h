/*
 * pipeline.h - the whole pipeline in one process, the engine behind
 * `iotpipe run` (src/cmd/run.c parses the options and calls it): the
 * simulated devices' producer (kafka/producer.h), `archive` and
 * `aggregate` (stream/job.h), each on a thread of its own, optionally
 * against an embedded broker (kafka/mock_broker.h) started here, with the
 * live status line (metrics/status.h).
 *
 *	struct pipeline_options o;
 *	pipeline_options_init(&o);
 *	stream_job_options(&o.archive, JOB_ARCHIVE, cfg, &err);   // + locations
 *	stream_job_options(&o.aggregate, JOB_AGGREGATE, cfg, &err);
 *	o.produce.bootstrap = ...; ...         // kafka/producer.h
 *	o.embedded = true; o.partitions = 4;   // or a real cluster
 *	rc = pipeline_run(&o, &err);   // until a stop signal (core/signals.h)
 *
 * Threads: the calling thread starts the others, waits for a stop request
 * (a signal, or any part failing, which stops the rest), then joins them.
 * The embedded broker is destroyed last, after the jobs have committed.
 */
#ifndef IOT_PIPELINE_H
#define IOT_PIPELINE_H

#include <stdbool.h>

#include "core/err.h"
#include "kafka/producer.h"
#include "stream/job.h"

struct pipeline_options {
	struct job_options archive;     /* kind JOB_ARCHIVE */
	struct job_options aggregate;   /* kind JOB_AGGREGATE */
	struct producer_options produce;
	bool no_producer;               /* only the streaming jobs */
	/* Start the embedded broker (in memory) with `partitions` partitions
	 * of the jobs' topic, and point the jobs and the producer at it
	 * instead of their `bootstrap`. Every start is a new, empty log: the
	 * jobs know (their `source` is this broker's incarnation) and go on
	 * from offset 0 in a new checkpoint epoch (stream/ckpt.h). */
	bool embedded;
	int partitions;
};

void pipeline_options_init(struct pipeline_options *o);

/*
 * Runs until a stop is requested (core/signals.h) or a part fails.
 * Returns IOT_OK when every part stopped cleanly; otherwise the error of
 * the first part that failed, prefixed with its name ("archive: ...",
 * "embedded broker: ..."; every failure is also logged as it happens).
 * o is modified (the embedded broker's address goes into it).
 */
enum iot_err pipeline_run(struct pipeline_options *o, struct iot_error *err);

#endif
