/*
 * job.h - the streaming engine behind `archive` and `aggregate`.
 *
 * The job thread consumes the topic as a member of a consumer group and
 * handles each record, decoded and validated (event/codec.h) by a decoder
 * thread one array of records ahead, in offset order; it accumulates per
 * Kafka partition: raw rows by device (archive) or open event-time windows
 * (aggregate). A trigger (time, batch size, end of input with --once, a
 * rebalance, a stop signal) commits a batch for every partition with
 * something to commit, following the checkpoint protocol of ckpt.h:
 * plan (wal) -> output objects -> state -> Kafka offset commit. Output
 * is exactly once: a batch interrupted anywhere is replayed from its plan
 * and rewrites the same objects with the same bytes. See
 * docs/exactly-once.md for the design and its failure cases.
 *
 * Writing is not on the job thread: the job thread writes each plan, then
 * a commit round runs on its own thread (a pool of writer threads for the
 * output objects, as many as the store keeps requests in flight, then
 * the state records) while the job thread reads on;
 * when the round is collected, the job thread advances the partitions and
 * commits their offsets to Kafka. At most one round is in flight, so a
 * slow sink slows consumption (backpressure) and memory stays bounded by
 * the batch limits.
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

#include "config/config.h"
#include "core/err.h"
#include "event/schema.h"
#include "parquet/pq.h"
#include "core/hive.h"

enum job_kind { JOB_ARCHIVE, JOB_AGGREGATE };

/*
 * The default horizon: an event stamped more than 5 minutes ahead of the
 * processing time is invalid (reason future_timestamp). A device clock a
 * few seconds or minutes fast stays valid; one event from a broken clock
 * (year 3000) can no longer drag a partition's watermark there and make
 * every later event late. Events from the past, a backfill included, are
 * never affected.
 */
#define JOB_HORIZON_DEFAULT_S 300

/* What a partition whose checkpoint lost its log does (see ckpt.h,
 * epochs): stop the job (the default, as Spark's failOnDataLoss), or go
 * on from the start of the partition's log in a new checkpoint epoch. */
enum job_data_loss { JOB_DATA_LOSS_FAIL, JOB_DATA_LOSS_EARLIEST };

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
	int64_t horizon_us;       /* event times further ahead of processing
				     time are invalid; 0: no limit */
	struct hive_layout layout;  /* aggregate output partitioning */
	struct hive_layout raw_layout; /* archive output partitioning */
	size_t max_batch_events;  /* commit before buffering more events */
	size_t max_batch_bytes;   /* ... or more bytes (archive) */
	bool start_latest;        /* no checkpoint: start at the end, not the beginning */
	double timeout_s;         /* start-up: broker answer, first assignment;
				     --once: longest wait without progress */
	enum job_data_loss on_data_loss;
	/* The identity of the partition logs (ckpt.h "source"): NULL for
	 * the Kafka cluster's id. `fresh_source`: the source is known to be
	 * new (run's embedded broker), so a checkpoint of another source is
	 * expected and logged as information, not as a warning. */
	const char *source;
	bool fresh_source;
	/* Take every partition of the topic directly instead of joining the
	 * consumer group (no rebalances, no second instance): for run's
	 * embedded broker, whose group join waits 3 s before it assigns. */
	bool static_assign;
	struct pq_writer_options pq;
};

void job_options_init(struct job_options *o);

/* Runs the job until stopped (signals.h) or, with once, until drained.
 * Returns IOT_OK after a clean stop; errors name what failed. */
enum iot_err job_run(const struct job_options *o, struct iot_error *err);

#endif
