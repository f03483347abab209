/*
 * dlq.h - a streaming job's dead-letter producer: the records the job
 * rejects (invalid, late) go to a Kafka topic with headers saying why and
 * where they came from (iotpipe.reason, iotpipe.topic, iotpipe.partition,
 * iotpipe.offset). Served on the job thread: delivery reports run inside
 * dlq_send_record's poll and dlq_flush.
 *
 *	struct dlq d;
 *	dlq_open(&d, bootstrap, "dead", "events", kafka_props, consumer, 30,
 *		 "archive", m_sent, m_dropped, &err);   // topic NULL or "": off
 *	dlq_send_record(&d, msg, "missing_field: temperature");
 *	dlq_flush(&d);   // before a commit: every dead letter's outcome is known
 *	dlq_close(&d);
 */
#ifndef IOT_STREAM_DLQ_H
#define IOT_STREAM_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"

struct metric;

struct dlq {
	rd_kafka_t *rk;           /* NULL: no dead-letter topic */
	const char *topic;        /* the dead-letter topic */
	const char *source_topic; /* the job's topic (a header) */
	const char *job;          /* for the log */
	uint64_t failed;          /* dropped since the last flush */
	uint64_t dropped_total;
	struct metric *m_sent, *m_dropped;
};

/* `consumer` reads the topic's (or broker's) size limit, within
 * timeout_s; the producer is sized to it. */
enum iot_err dlq_open(struct dlq *d, const char *bootstrap, const char *topic,
		      const char *source_topic, const struct kv_list *kafka, rd_kafka_t *consumer,
		      double timeout_s, const char *job, struct metric *sent, struct metric *dropped,
		      struct iot_error *err);
/* Sends m with the reason (counted in m_sent); no-op without a topic. */
void dlq_send_record(struct dlq *d, const rd_kafka_message_t *m, const char *reason);
void dlq_flush(struct dlq *d);
/* Waits a last time for what is queued; what is left is counted dropped. */
void dlq_close(struct dlq *d);

#endif
