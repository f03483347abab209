/*
 * producer.h - the simulated devices' producer loop, shared by
 * `iotpipe produce` and `iotpipe run` (which runs it on a thread of its
 * own beside the streaming jobs).
 *
 * Follows librdkafka's producer example: rd_kafka_producev with a copy of
 * each record, a delivery-report callback counting every outcome,
 * rd_kafka_poll to serve it, poll-and-retry on a full local queue, and
 * rd_kafka_flush at the end. It stops after `count` records, after
 * `duration` seconds, or when a stop is requested (signals.h).
 *
 *	struct producer_options o;
 *	producer_options_init(&o);  o.bootstrap = ...; o.schema = ...;
 *	struct producer_result res;
 *	rc = producer_run(&o, &res, &err);
 *	// rc != IOT_OK: could not start, or records were not delivered
 *	// (res says how many), err names the topic, servers and errors
 */
#ifndef IOT_KAFKA_PRODUCER_H
#define IOT_KAFKA_PRODUCER_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "event/generate.h"
#include "event/schema.h"

struct producer_options {
	const char *bootstrap;
	const char *topic;
	const char *acks;
	const char *partitioner; /* librdkafka's `partitioner` */
	long retries;
	bool idempotent;
	const struct kv_list *kafka;  /* pass-through, applied last */
	const struct event_schema *schema;
	struct gen_options gen;
	long count;          /* -1: unbounded */
	double rate;         /* records per second in total; 0: unpaced */
	double duration;     /* seconds; 0: unbounded */
	bool simulated_time; /* event times from start_us + i * step */
	int64_t start_us;
	double time_step;
	double timeout;      /* start-up check, seconds */
	double flush_timeout;
	bool quiet;          /* no periodic progress lines */
};

struct producer_result {
	uint64_t sent[GEN__KINDS];
	uint64_t delivered[GEN__KINDS];
	uint64_t total_sent, total_delivered, failed;
	double seconds;
};

void producer_options_init(struct producer_options *o);
enum iot_err producer_run(const struct producer_options *o,
			  struct producer_result *res, struct iot_error *err);

#endif
