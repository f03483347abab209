/*
 * job.h - the streaming engine behind `archive` and `aggregate`.
 *
 * One thread consumes the topic as a member of a consumer group, decodes
 * and validates each record (event/codec.h), and accumulates per Kafka
 * partition: raw rows by device (archive) or open event-time windows
 * (aggregate). A trigger (time, batch size, end of input with --once, a
 * rebalance, a stop signal) commits a batch for every partition with
 * something to commit, following the checkpoint protocol of ckpt.h:
 * plan (wal) -> output objects -> state -> Kafka offset commit. Output
 * is exactly once: a batch interrupted anywhere is replayed from its plan
 * and rewrites the same objects with the same bytes. See
 * docs/exactly-once.md for the design and its failure cases.
 *
 * Writing is synchronous on the job thread, so a slow sink slows
 * consumption (backpressure) and memory stays bounded by the batch limits.
 *
 *	struct job_options o;
 *	job_options_init(&o);
 *	o.kind = JOB_AGGREGATE; o.bootstrap = ...; o.topic = ...; ...
 *	rc = job_run(&o, &err);   // until a stop signal, or the end with --once
 */
#ifndef IOT_STREAM_JOB_H
#define IOT_STREAM_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "event/schema.h"
#include "parquet/pq.h"
#include "core/hive.h"

enum job_kind { JOB_ARCHIVE, JOB_AGGREGATE };

struct job_options {
	enum job_kind kind;
	const char *bootstrap;
	const char *topic;
	const char *group;
	const char *output;       /* URI of the dataset root */
	const char *checkpoint;   /* URI of the checkpoint location */
	const char *dead_letter_topic; /* NULL or "": off */
	const struct kv_list *kafka;   /* librdkafka pass-through */
	const struct event_schema *schema;
	bool once;                /* drain up to the end offsets at start, exit */
	double trigger_s;         /* commit at least this often */
	int64_t window_us;
	int64_t watermark_us;
	double idle_timeout_s;    /* 0: off */
	struct hive_layout layout;  /* aggregate output partitioning */
	size_t max_batch_events;  /* commit before buffering more events */
	size_t max_batch_bytes;   /* ... or more bytes (archive) */
	bool start_latest;        /* no checkpoint: start at the end, not the beginning */
	double timeout_s;         /* start-up: broker answer, first assignment */
	struct pq_writer_options pq;
};

void job_options_init(struct job_options *o);

/* Runs the job until stopped (signals.h) or, with once, until drained.
 * Returns IOT_OK after a clean stop; errors name what failed. */
enum iot_err job_run(const struct job_options *o, struct iot_error *err);

#endif
