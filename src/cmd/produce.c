/*
 * produce.c - `iotpipe produce`: simulated IoT devices publish events to
 * Kafka (the reference's event_producer.py).
 *
 * Follows librdkafka's own producer example: rd_kafka_producev with a copy
 * of the record, a delivery-report callback that counts every outcome,
 * rd_kafka_poll to serve callbacks, a poll-and-retry when the local queue
 * is full, and rd_kafka_flush on exit. One thread generates, encodes and
 * enqueues; librdkafka's threads do the I/O; delivery reports run inside
 * rd_kafka_poll on this thread, so the counters need no locks beyond the
 * metrics' atomics.
 *
 * Pacing: events go out at --rate per second in total (default: devices /
 * event_frequency, the reference's 10 / 0.01 = 1000/s), scheduled against
 * a monotonic clock so the rate does not drift; --rate 0 is as fast as
 * possible. Event times are the wall clock, or a simulated clock from
 * --start-time advancing --time-step per event (reproducible runs).
 *
 * Exit status: 0 when every record was delivered, 1 when any was not
 * (the count and the errors are printed), 2 for usage/config errors.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/signals.h"
#include "event/generate.h"
#include "event/schema.h"
#include "event/timeparse.h"
#include "kafka/client.h"
#include "metrics/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/banned.h"

#define MAX_ERROR_KINDS 8

struct produce_stats {
	uint64_t sent[GEN__KINDS];
	uint64_t delivered[GEN__KINDS];
	uint64_t failed;
	struct {
		rd_kafka_resp_err_t code;
		uint64_t n;
	} errors[MAX_ERROR_KINDS];
	struct metric *m_sent[GEN__KINDS];
	struct metric *m_delivered[GEN__KINDS];
	struct metric *m_latency;
	struct metric *m_queue;
};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Runs inside rd_kafka_poll/flush on the producing thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct produce_stats *st = opaque;
	enum gen_kind kind = (enum gen_kind)(uintptr_t)m->_private;
	(void)rk;

	if (m->err) {
		char label[128];
		size_t i;
		st->failed++;
		for (i = 0; i < MAX_ERROR_KINDS; i++) {
			if (st->errors[i].n == 0 || st->errors[i].code == m->err) {
				st->errors[i].code = m->err;
				st->errors[i].n++;
				break;
			}
		}
		snprintf(label, sizeof(label), "error=\"%s\"", rd_kafka_err2name(m->err));
		metric_inc(metrics_counter("iotpipe_delivery_errors_total",
					   "Records Kafka did not acknowledge, by error.",
					   label));
		if (st->failed <= 5 || st->failed % 10000 == 0)
			log_warn("produce", "delivery failed (%" PRIu64 " so far): %s",
				 st->failed, rd_kafka_err2str(m->err));
		return;
	}
	st->delivered[kind]++;
	metric_inc(st->m_delivered[kind]);
	metric_observe(st->m_latency, (double)rd_kafka_message_latency(m) / 1e6);
}

static void register_metrics(struct produce_stats *st)
{
	static const double lat[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	for (int k = 0; k < GEN__KINDS; k++) {
		char label[64];
		snprintf(label, sizeof(label), "kind=\"%s\"", gen_kind_name((enum gen_kind)k));
		st->m_sent[k] = metrics_counter("iotpipe_events_sent_total",
						"Records handed to the Kafka client, by kind.",
						label);
		st->m_delivered[k] = metrics_counter(
			"iotpipe_events_produced_total",
			"Records acknowledged by Kafka, by kind.", label);
	}
	st->m_latency = metrics_histogram(
		"iotpipe_produce_delivery_latency_seconds",
		"Time from enqueueing a record to its acknowledgement.", NULL, lat,
		sizeof(lat) / sizeof(lat[0]));
	st->m_queue = metrics_gauge("iotpipe_producer_queue_messages",
				    "Records waiting in the client for delivery.", NULL);
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

static void sleep_until(double t)
{
	double d = t - mono_s();
	if (d > 0.0005) {
		struct timespec ts = { (time_t)d, (long)((d - floor(d)) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

int cmd_produce(int argc, char **argv)
{
	struct common_opts co = COMMON_OPTS_INIT("127.0.0.1:9101");
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct metrics_server *srv = NULL;
	struct produce_stats st;
	struct gen_options go = GEN_OPTIONS_INIT;
	struct generator *gen = NULL;
	rd_kafka_t *rk = NULL;
	rd_kafka_conf_t *conf;
	long count = -1, devices = 0, seed = -1;
	double rate = -1, duration = 0, late_by = 180, time_step = 0, timeout = 10;
	double flush_timeout = 30;
	bool exactly_once = false;
	const char *acks = NULL, *start_time = NULL;
	int64_t sim_time = 0;
	int partitions = 0, status = EXIT_RUNTIME;
	uint64_t total_sent = 0, total_delivered = 0;
	char errstr[512], num[32];
	double t0, next_report;
	struct opt opts[] = {
		OPT_COMMON(&co),
		OPT_GROUP("producing"),
		OPT_LONG('n', "count", &count, "N", "send N records, then stop (default: until stopped)"),
		OPT_DOUBLE(0, "rate", &rate, "EVENTS_PER_S",
			   "records per second in total (0: as fast as possible; default: devices / event_frequency)"),
		OPT_DOUBLE(0, "duration", &duration, "SECONDS", "stop after this long"),
		OPT_LONG(0, "devices", &devices, "N", "simulated devices (default: num_generators)"),
		OPT_LONG(0, "seed", &seed, "N", "random seed, for reproducible runs"),
		OPT_STRING(0, "acks", &acks, "0|1|all", "acknowledgements (default: from config)"),
		OPT_BOOL(0, "exactly-once", &exactly_once, "use the idempotent producer (delivery_exactly_once)"),
		OPT_STRING(0, "start-time", &start_time, "TIME",
			   "simulated event time of the first record (ISO-8601 or epoch seconds)"),
		OPT_DOUBLE(0, "time-step", &time_step, "SECONDS",
			   "simulated time between records (default: 1 / rate, or 0.001)"),
		OPT_DOUBLE(0, "timeout", &timeout, "SECONDS", "how long to wait for Kafka at start (default 10)"),
		OPT_DOUBLE(0, "flush-timeout", &flush_timeout, "SECONDS",
			   "how long to wait for outstanding deliveries at exit (default 30)"),
		OPT_GROUP("test and demo injection"),
		OPT_DOUBLE(0, "late-fraction", &go.late_fraction, "F", "fraction of late events"),
		OPT_DOUBLE(0, "late-by", &late_by, "SECONDS",
			   "late events are between this and twice this far behind (default 180)"),
		OPT_DOUBLE(0, "invalid-fraction", &go.invalid_fraction, "F",
			   "fraction of invalid records (bad JSON, wrong types, missing fields, no key, ...)"),
		OPT_DOUBLE(0, "duplicate-fraction", &go.duplicate_fraction, "F",
			   "fraction of records that repeat the previous event"),
		OPT_END(),
	};
	static const struct opt_usage usage = {
		"iotpipe produce [options]",
		"Simulated IoT devices publish JSON events to Kafka, keyed device_id_<n>.",
	};
	int npos = opt_parse(argc, argv, opts, &usage, &err);

	memset(&st, 0, sizeof(st));
	config_init(&cfg);
	if (npos == OPT_RC_HELP) {
		status = 0;
		goto out;
	}
	if (npos == OPT_RC_ERROR || npos > 0) {
		if (npos > 0)
			iot_error_set(&err, IOT_ERR_USAGE, "unexpected argument '%s'", argv[0]);
		status = common_usage_error("produce", &err);
		goto out;
	}
	config_release(&cfg);
	if (common_setup(&co, &cfg, COMMON_PRODUCER, &err)) {
		status = common_usage_error("produce", &err);
		goto out;
	}
	if (go.late_fraction < 0 || go.invalid_fraction < 0 || go.duplicate_fraction < 0 ||
	    go.late_fraction + go.invalid_fraction + go.duplicate_fraction > 1) {
		iot_error_set(&err, IOT_ERR_USAGE,
			      "--late-fraction, --invalid-fraction and --duplicate-fraction must be >= 0 and sum to at most 1");
		status = common_usage_error("produce", &err);
		goto out;
	}
	if (opt_was_given(opts, "devices") ? devices < 1 : cfg.producer.num_generators < 1) {
		iot_error_set(&err, IOT_ERR_CONFIG, "the number of devices must be at least 1");
		status = common_usage_error("produce", &err);
		goto out;
	}
	go.devices = opt_was_given(opts, "devices") ? devices : cfg.producer.num_generators;
	go.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)wall_us();
	go.late_min_s = late_by;
	go.late_max_s = 2 * late_by;
	if (!opt_was_given(opts, "rate")) {
		if (cfg.producer.event_frequency < 0) {
			iot_error_set(&err, IOT_ERR_CONFIG,
				      "producer_config.kafka.event_frequency must be >= 0");
			status = common_usage_error("produce", &err);
			goto out;
		}
		rate = cfg.producer.event_frequency > 0
			       ? (double)go.devices / cfg.producer.event_frequency
			       : 0;
	}
	if (rate < 0 || duration < 0 || time_step < 0 || timeout <= 0) {
		iot_error_set(&err, IOT_ERR_USAGE, "--rate, --duration, --time-step must be >= 0 and --timeout > 0");
		status = common_usage_error("produce", &err);
		goto out;
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

	conf = kafka_conf_new(cfg.producer.bootstrap_servers, NULL, &err);
	if (!conf) {
		status = common_usage_error("produce", &err);
		goto out;
	}
	snprintf(num, sizeof(num), "%ld", cfg.producer.retries);
	if (kafka_conf_set(conf, "acks", acks ? acks : cfg.producer.acks,
			   acks ? "--acks" : "producer_config.kafka.acks", &err) ||
	    kafka_conf_set(conf, "retries", num, "producer_config.kafka.retries", &err) ||
	    kafka_conf_set(conf, "enable.idempotence",
			   exactly_once || cfg.producer.delivery_exactly_once ? "true" : "false",
			   "producer_config.kafka.delivery_exactly_once", &err) ||
	    /* batching: librdkafka's INTRODUCTION.md advises linger well above 5 ms */
	    kafka_conf_set(conf, "linger.ms", "20", "default", &err) ||
	    kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", "default", &err)) {
		rd_kafka_conf_destroy(conf);
		status = common_usage_error("produce", &err);
		goto out;
	}
	for (size_t i = 0; i < cfg.producer.kafka.n; i++) {
		struct kv *p = &cfg.producer.kafka.items[i];
		if (kafka_conf_set(conf, p->key, p->value, p->origin, &err)) {
			rd_kafka_conf_destroy(conf);
			status = common_usage_error("produce", &err);
			goto out;
		}
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &st);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		iot_error_set(&err, IOT_ERR_CONFIG, "cannot create the Kafka producer: %s", errstr);
		status = common_usage_error("produce", &err);
		goto out;
	}
	register_metrics(&st);
	if (common_metrics_start(&co, &srv, &err)) {
		fprintf(stderr, "iotpipe produce: %s\n", err.msg);
		goto out;
	}
	signals_install();
	if (kafka_wait_topic(rk, cfg.producer.bootstrap_servers, cfg.producer.topic,
			     (int)(timeout * 1000), &partitions, &err)) {
		fprintf(stderr, "iotpipe produce: %s\n", err.msg);
		goto out;
	}
	log_info("produce", "producing to topic '%s' (%d partitions) at %s: %ld devices, %s",
		 cfg.producer.topic, partitions, cfg.producer.bootstrap_servers, go.devices,
		 rate > 0 ? "paced" : "as fast as possible");

	gen = generator_create(cfg.schema, &go);
	t0 = mono_s();
	next_report = t0 + 10;
	for (uint64_t i = 0;; i++) {
		struct gen_record r;
		rd_kafka_resp_err_t e;

		if (signals_stop_requested() || (count >= 0 && i >= (uint64_t)count))
			break;
		if (rate > 0)
			sleep_until(t0 + (double)i / rate);
		if ((i & 63) == 0) {
			double now = mono_s();
			if (duration > 0 && now - t0 >= duration)
				break;
			if (now >= next_report) {
				uint64_t s = 0, d = 0;
				for (int k = 0; k < GEN__KINDS; k++)
					s += st.sent[k], d += st.delivered[k];
				log_info("produce", "sent %" PRIu64 ", delivered %" PRIu64
					 ", failed %" PRIu64 ", %.0f/s",
					 s, d, st.failed, (double)s / (now - t0));
				next_report = now + 10;
			}
		}
		generator_next(gen, start_time ? sim_time + (int64_t)llround((double)i * time_step * 1e6)
					       : wall_us(),
			       &r);
		for (;;) {
			e = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(cfg.producer.topic),
				RD_KAFKA_V_KEY((void *)r.key, r.key_len),
				RD_KAFKA_V_VALUE((void *)r.value, r.value_len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_OPAQUE((void *)(uintptr_t)r.kind), RD_KAFKA_V_END);
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			/* the local queue is full: serve delivery reports, retry */
			rd_kafka_poll(rk, 50);
			if (signals_stop_requested())
				break;
		}
		if (e) {
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			fprintf(stderr, "iotpipe produce: cannot enqueue a record: %s\n",
				rd_kafka_err2str(e));
			break;
		}
		st.sent[r.kind]++;
		metric_inc(st.m_sent[r.kind]);
		if ((i & 255) == 0) {
			rd_kafka_poll(rk, 0);
			metric_set(st.m_queue, rd_kafka_outq_len(rk));
		}
	}

	/* flush what is queued; a second signal exits at once */
	{
		rd_kafka_resp_err_t fe = rd_kafka_flush(rk, (int)(flush_timeout * 1000));
		double secs = mono_s() - t0;
		int left = rd_kafka_outq_len(rk);
		for (int k = 0; k < GEN__KINDS; k++)
			total_sent += st.sent[k], total_delivered += st.delivered[k];
		log_info("produce",
			 "sent %" PRIu64 " records (valid %" PRIu64 ", late %" PRIu64 ", invalid %" PRIu64
			 ", duplicate %" PRIu64 ") in %.2f s (%.0f/s); delivered %" PRIu64 ", failed %" PRIu64,
			 total_sent, st.sent[GEN_VALID], st.sent[GEN_LATE], st.sent[GEN_INVALID],
			 st.sent[GEN_DUPLICATE], secs, secs > 0 ? (double)total_sent / secs : 0.0,
			 total_delivered, st.failed);
		if (fe || left > 0 || st.failed || total_delivered != total_sent) {
			fprintf(stderr, "iotpipe produce: %" PRIu64 " of %" PRIu64
				" records were not delivered to topic '%s' at '%s'",
				total_sent - total_delivered, total_sent, cfg.producer.topic,
				cfg.producer.bootstrap_servers);
			for (int i = 0; i < MAX_ERROR_KINDS && st.errors[i].n; i++)
				fprintf(stderr, "%s %s x%" PRIu64, i ? "," : ":",
					rd_kafka_err2str(st.errors[i].code), st.errors[i].n);
			if (left > 0)
				fprintf(stderr, "%s %d still queued after %.0f s", st.failed ? "," : ":",
					left, flush_timeout);
			fprintf(stderr, "\n");
			status = EXIT_RUNTIME;
		} else {
			status = 0;
		}
	}
out:
	generator_destroy(gen);
	if (rk)
		rd_kafka_destroy(rk);
	metrics_server_stop(srv);
	config_release(&cfg);
	common_release(&co);
	return status;
}
