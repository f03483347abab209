/*
 * producer.c - the producer loop of producer.h.
 *
 * One thread generates, encodes and enqueues; librdkafka's threads do the
 * I/O; delivery reports run inside rd_kafka_poll on the calling thread, so
 * the counters need no locks beyond the metrics' atomics.
 *
 * Pacing: record i is due at t0 + i / rate on a monotonic clock, so the
 * rate does not drift; with rate 0 records go out as fast as the client
 * takes them. Event times are the wall clock, or a simulated clock
 * (start + i * step) for reproducible runs.
 *
 * A fatal error of the idempotent producer (librdkafka 2.0.2 raises one
 * for an out-of-order sequence after a partition leader changes, fixed
 * upstream in 2.3) would stop the run with every queued record purged.
 * Instead the producer is replaced by a new one (a new producer id) and
 * the records Kafka certainly did not store (delivery status
 * NOT_PERSISTED) are sent again, in their order; records that may have
 * been stored are counted as failed, never sent twice. At most
 * MAX_RESTARTS times a run.
 */
#include "core/clock.h"
#include "kafka/producer.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "core/signals.h"
#include "event/codec.h"
#include "kafka/client.h"
#include "metrics/metrics.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/banned.h"

#define MAX_ERROR_KINDS 8
#define MAX_RESTARTS 10
/* The last event time the decoders accept: 9999-12-31T23:59:59Z. */
#define SIM_TIME_MAX_US 253402300799e6

/* A record to send again after a fatal error (a copy: the delivery
 * report's memory is librdkafka's). */
struct resend {
	char *key, *value;
	size_t key_len, value_len;
	enum gen_kind kind;
};

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
	struct metric *m_restarts;
	struct resend *resend;  /* records a failed producer did not store */
	size_t nresend, resend_alloc;
};

static char *copy_bytes(const void *p, size_t n)
{
	char *c = xmalloc(n ? n : 1);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Runs inside rd_kafka_poll/flush on the producing thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct produce_stats *st = opaque;
	enum gen_kind kind = (enum gen_kind)(uintptr_t)m->_private;

	/* once the producer is in a fatal state, what it did not store is sent
	 * again by its successor (restart_producer): records it never sent,
	 * and those the broker refused as out of sequence. librdkafka calls
	 * the latter POSSIBLY_PERSISTED, but the broker answers
	 * OUT_OF_ORDER_SEQUENCE_NUMBER only for a batch whose sequence is
	 * ahead of what its log holds: had an earlier attempt of the batch
	 * been stored, the answer would be DUPLICATE_SEQUENCE_NUMBER */
	if (m->err && rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR &&
	    (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED ||
	     m->err == RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER)) {
		struct resend *r;
		ALLOC_GROW(st->resend, st->nresend + 1, st->resend_alloc);
		r = &st->resend[st->nresend++];
		r->key = m->key_len ? copy_bytes(m->key, m->key_len) : NULL;
		r->key_len = m->key_len;
		r->value = copy_bytes(m->payload, m->len);
		r->value_len = m->len;
		r->kind = kind;
		return;
	}
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
	st->m_restarts = metrics_counter("iotpipe_producer_restarts_total",
					 "Producers replaced after a fatal error of the idempotent "
					 "producer (their unstored records sent again).", NULL);
}

static void sleep_until(double t)
{
	double d = t - clock_mono_s();
	if (d > 0.0005) {
		struct timespec ts = { (time_t)d, (long)((d - floor(d)) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

void producer_options_init(struct producer_options *o)
{
	struct gen_options g = GEN_OPTIONS_INIT;
	memset(o, 0, sizeof(*o));
	o->acks = "all";
	o->partitioner = "murmur2_random";
	o->retries = 5;
	o->gen = g;
	o->count = -1;
	o->timeout = 10;
	o->flush_timeout = 30;
}

static enum iot_err make_producer(const struct producer_options *o,
				  struct produce_stats *st, rd_kafka_t **out,
				  struct iot_error *err)
{
	rd_kafka_conf_t *conf = kafka_conf_new(o->bootstrap, NULL, err);
	char num[32];

	if (!conf)
		return err->code;
	snprintf(num, sizeof(num), "%ld", o->retries);
	if (kafka_conf_set(conf, "acks", o->acks, "acks", err) ||
	    kafka_conf_set(conf, "partitioner", o->partitioner, "partitioner", err) ||
	    kafka_conf_set(conf, "retries", num, "retries", err) ||
	    kafka_conf_set(conf, "enable.idempotence", o->idempotent ? "true" : "false",
			   "delivery_exactly_once", err) ||
	    /* batching: librdkafka's INTRODUCTION.md advises linger well above 5 ms */
	    kafka_conf_set(conf, "linger.ms", "20", "default", err) ||
	    kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", "default", err)) {
		rd_kafka_conf_destroy(conf);
		return err->code;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, st);
	*out = kafka_client_new(RD_KAFKA_PRODUCER, conf, o->kafka, "produce",
				"the Kafka producer", err);
	return *out ? IOT_OK : err->code;
}

static rd_kafka_resp_err_t send_one(rd_kafka_t *rk, const char *topic, const void *key,
				    size_t key_len, const void *value, size_t value_len,
				    enum gen_kind kind)
{
	rd_kafka_resp_err_t e;

	for (;;) {
		e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
				      RD_KAFKA_V_KEY((void *)key, key_len),
				      RD_KAFKA_V_VALUE((void *)value, value_len),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)kind), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return e;
		/* the local queue is full: serve delivery reports, retry */
		rd_kafka_poll(rk, 50);
		if (signals_stop_requested())
			return e;
	}
}

/*
 * After a fatal error: collects the delivery reports of everything the
 * old producer held (the unstored records land in st->resend), replaces
 * it, and sends those records again in their order.
 */
static enum iot_err restart_producer(const struct producer_options *o, struct produce_stats *st,
				     rd_kafka_t **rk, int *restarts, struct iot_error *err)
{
	char why[512];
	rd_kafka_resp_err_t fe = rd_kafka_fatal_error(*rk, why, sizeof(why));
	enum iot_err rc;

	if (++*restarts > MAX_RESTARTS)
		return iot_error_set(err, IOT_ERR_NET, "the Kafka producer failed %d times: %s",
				     MAX_RESTARTS, rd_kafka_err2str(fe));
	rd_kafka_purge(*rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
	rd_kafka_flush(*rk, 10 * 1000);
	{
		/* still in flight: no delivery report will come; maybe stored */
		int left = rd_kafka_outq_len(*rk);
		if (left > 0) {
			st->failed += (uint64_t)left;
			log_warn("produce", "%d records in flight when the producer failed: "
				 "counted as not delivered", left);
		}
	}
	rd_kafka_destroy(*rk);
	*rk = NULL;
	log_warn("produce", "fatal producer error (%s): a new producer sends again the %zu "
		 "records Kafka did not store", why, st->nresend);
	metric_inc(st->m_restarts);
	if ((rc = make_producer(o, st, rk, err)))
		return rc;
	{
		/* taken out of st: a delivery report served while sending
		 * (a full queue polls) may append to st->resend */
		struct resend *v = st->resend;
		size_t n = st->nresend;
		rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

		st->resend = NULL;
		st->nresend = st->resend_alloc = 0;
		for (size_t i = 0; i < n; i++) {
			if (!e) {
				e = send_one(*rk, o->topic, v[i].key, v[i].key_len, v[i].value,
					     v[i].value_len, v[i].kind);
				if (e) {
					/* the rest are lost to this run: counted, reported */
					st->failed += n - i;
					rc = iot_error_set(err, IOT_ERR_NET,
							   "cannot send a record again: %s",
							   rd_kafka_err2str(e));
				}
			}
			free(v[i].key);
			free(v[i].value);
		}
		free(v);
	}
	return rc;
}

enum iot_err producer_run(const struct producer_options *o,
			  struct producer_result *res, struct iot_error *err)
{
	struct produce_stats st;
	struct generator *gen = NULL;
	rd_kafka_t *rk = NULL;
	int partitions = 0;
	double t0, next_report;
	int restarts = 0;
	enum iot_err rc;

	memset(&st, 0, sizeof(st));
	memset(res, 0, sizeof(*res));
	register_metrics(&st);
	if ((rc = make_producer(o, &st, &rk, err)))
		return rc;
	if ((rc = kafka_wait_topic(rk, o->bootstrap, o->topic, (int)(o->timeout * 1000),
				   &partitions, err)))
		goto out;
	log_info("produce", "producing to topic '%s' (%d partitions) at %s: %ld devices, %s",
		 o->topic, partitions, o->bootstrap, o->gen.devices,
		 o->rate > 0 ? "paced" : "as fast as possible");

	gen = generator_create(o->schema, &o->gen);
	t0 = clock_mono_s();
	next_report = t0 + 10;
	for (uint64_t i = 0;; i++) {
		struct gen_record r;
		rd_kafka_resp_err_t e;

		if (signals_stop_requested() || (o->count >= 0 && i >= (uint64_t)o->count))
			break;
		if (o->rate > 0)
			sleep_until(t0 + (double)i / o->rate);
		if ((i & 63) == 0) {
			double now = clock_mono_s();
			if (o->duration > 0 && now - t0 >= o->duration)
				break;
			if (now >= next_report && !o->quiet) {
				uint64_t s = 0, d = 0;
				for (int k = 0; k < GEN__KINDS; k++)
					s += st.sent[k], d += st.delivered[k];
				log_info("produce", "sent %" PRIu64 ", delivered %" PRIu64
					 ", failed %" PRIu64 ", %.0f/s",
					 s, d, st.failed, (double)s / (now - t0));
				next_report = now + 10;
			}
		}
		if (o->simulated_time &&
		    (double)o->start_us + (double)i * o->time_step * 1e6 > SIM_TIME_MAX_US) {
			/* llround would overflow long before int64_t does */
			rc = iot_error_set(err, IOT_ERR_USAGE,
					   "the simulated clock (--start-time + N x --time-step) passed "
					   "9999-12-31 after %" PRIu64 " records", i);
			break;
		}
		generator_next(gen, o->simulated_time
				       ? o->start_us + (int64_t)llround((double)i * o->time_step * 1e6)
				       : clock_wall_us(),
			       &r);
		e = send_one(rk, o->topic, r.key, r.key_len, r.value, r.value_len, r.kind);
		if (e == RD_KAFKA_RESP_ERR__FATAL) {
			if ((rc = restart_producer(o, &st, &rk, &restarts, err)))
				goto out;
			e = send_one(rk, o->topic, r.key, r.key_len, r.value, r.value_len, r.kind);
		}
		if (e) {
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				log_error("produce", "cannot enqueue a record: %s", rd_kafka_err2str(e));
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
		rd_kafka_resp_err_t fe = rd_kafka_flush(rk, (int)(o->flush_timeout * 1000));
		int left;
		/* a fatal error while flushing: what was not stored goes again */
		while (rd_kafka_fatal_error(rk, NULL, 0) && !signals_stop_requested()) {
			if ((rc = restart_producer(o, &st, &rk, &restarts, err)))
				goto out;
			fe = rd_kafka_flush(rk, (int)(o->flush_timeout * 1000));
		}
		left = rd_kafka_outq_len(rk);
		res->seconds = clock_mono_s() - t0;
		for (int k = 0; k < GEN__KINDS; k++) {
			res->sent[k] = st.sent[k];
			res->delivered[k] = st.delivered[k];
			res->total_sent += st.sent[k];
			res->total_delivered += st.delivered[k];
		}
		res->failed = st.failed;
		log_info("produce",
			 "sent %" PRIu64 " records (valid %" PRIu64 ", late %" PRIu64 ", invalid %" PRIu64
			 ", duplicate %" PRIu64 ") in %.2f s (%.0f/s); delivered %" PRIu64 ", failed %" PRIu64,
			 res->total_sent, st.sent[GEN_VALID], st.sent[GEN_LATE], st.sent[GEN_INVALID],
			 st.sent[GEN_DUPLICATE], res->seconds,
			 res->seconds > 0 ? (double)res->total_sent / res->seconds : 0.0,
			 res->total_delivered, st.failed);
		if (fe || left > 0 || st.failed || res->total_delivered != res->total_sent) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "%" PRIu64 " of %" PRIu64 " records were not delivered to topic '%s' at '%s'",
				   res->total_sent - res->total_delivered, res->total_sent, o->topic,
				   o->bootstrap);
			for (int i = 0; i < MAX_ERROR_KINDS && st.errors[i].n; i++)
				buf_printf(&b, "%s %s x%" PRIu64, i ? "," : ":",
					   rd_kafka_err2str(st.errors[i].code), st.errors[i].n);
			if (left > 0)
				buf_printf(&b, "%s %d still queued after %.0f s", st.failed ? "," : ":",
					   left, o->flush_timeout);
			rc = iot_error_set(err, IOT_ERR_NET, "%s", buf_str(&b));
			buf_release(&b);
		}
	}
out:
	generator_destroy(gen);
	if (rk)
		rd_kafka_destroy(rk);
	/* a run that stopped before sending these again: not delivered */
	st.failed += st.nresend;
	for (size_t i = 0; i < st.nresend; i++) {
		free(st.resend[i].key);
		free(st.resend[i].value);
	}
	free(st.resend);
	return rc;
}
