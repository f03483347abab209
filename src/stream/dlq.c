/*
 * dlq.c - the dead-letter producer of a streaming job (dlq.h).
 *
 * The dead-letter topic is at-least-once and never holds valid data back
 * (docs/exactly-once.md, "What is not exactly-once"): a record the topic
 * refuses as too large is sent again truncated, with a header saying so;
 * a record that cannot be delivered at all is dropped, counted in
 * iotpipe_dead_letter_dropped_total and logged; dlq_flush waits for every
 * dead letter's outcome before a commit, for a bounded time.
 */
#include "stream/dlq.h"
#include "core/log.h"
#include "event/codec.h"
#include "kafka/client.h"
#include "metrics/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"


/* How long a commit waits for the dead letters sent before it: above the
 * producer's message.timeout.ms default below, so that by default every
 * one is delivered or dropped before its batch commits. */
#define DLQ_FLUSH_MS (60 * 1000)
#define DLQ_MESSAGE_TIMEOUT "30000"

static const char *header_str(const rd_kafka_headers_t *h, const char *name,
			      char *buf, size_t cap)
{
	const void *v;
	size_t n;
	if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v)
		return "?";
	snprintf(buf, cap, "%.*s", (int)n, (const char *)v);
	return buf;
}

static void dlq_dropped(struct dlq *d, const rd_kafka_headers_t *h, rd_kafka_resp_err_t e)
{
	char part[32], off[32];
	d->failed++;
	d->dropped_total++;
	metric_inc(d->m_dropped);
	/* an outage drops every dead letter: the first few and then one in a
	 * thousand say so, the metric counts them all */
	if (d->dropped_total <= 5 || d->dropped_total % 1000 == 0)
		log_warn(d->job, "dead-letter record of partition %s offset %s dropped (%" PRIu64 " so far): %s",
			 header_str(h, "iotpipe.partition", part, sizeof(part)),
			 header_str(h, "iotpipe.offset", off, sizeof(off)),
			 d->dropped_total, rd_kafka_err2str(e));
}

/*
 * Makes a dead letter shorter for another try: a key longer than
 * EV_MAX_KEY_LEN bytes is cut to that first (the value whole: the key may
 * have been all that was too large), then the value to half its length,
 * with headers iotpipe.key_truncated and iotpipe.truncated holding the
 * original lengths. Halving needs no knowledge of the topic's limit (the topic's
 * max.message.bytes, the broker's, or our producer's message.max.bytes)
 * and reaches any of them in a few tries. False when nothing is left to
 * cut.
 */
static bool dlq_shrink(rd_kafka_headers_t *h, size_t *klen, size_t *vlen)
{
	char num[32];
	const void *v;
	size_t n;

	if (*klen > EV_MAX_KEY_LEN) {
		/* the key first, alone: it may be all that was too large */
		if (rd_kafka_header_get_last(h, "iotpipe.key_truncated", &v, &n)) {
			snprintf(num, sizeof(num), "%zu", *klen);
			rd_kafka_header_add(h, "iotpipe.key_truncated", -1, num, -1);
		}
		*klen = EV_MAX_KEY_LEN;
		return true;
	}
	if (*vlen == 0)
		return false;
	if (rd_kafka_header_get_last(h, "iotpipe.truncated", &v, &n)) {
		snprintf(num, sizeof(num), "%zu", *vlen);
		rd_kafka_header_add(h, "iotpipe.truncated", -1, num, -1);
	}
	*vlen /= 2;
	return true;
}

/*
 * Enqueues a dead letter (takes h over), shorter when the producer finds
 * it too large. In a delivery report (`in_report`) a full queue is not
 * waited for: polling there would serve reports inside a report.
 * Returns false when the record is dropped.
 */
static bool dlq_send(struct dlq *d, rd_kafka_headers_t *h, const void *key, size_t klen,
		     const void *val, size_t vlen, bool in_report)
{
	rd_kafka_resp_err_t e;

	for (;;) {
		e = rd_kafka_producev(d->rk, RD_KAFKA_V_TOPIC(d->topic),
				      RD_KAFKA_V_KEY(key, klen),
				      RD_KAFKA_V_VALUE((void *)val, vlen),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !in_report) {
			rd_kafka_poll(d->rk, 100);
			continue;
		}
		if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && dlq_shrink(h, &klen, &vlen))
			continue;
		break;
	}
	if (e) {
		dlq_dropped(d, h, e);
		rd_kafka_headers_destroy(h);
		return false;
	}
	return true;
}

/* Delivery reports, inside rd_kafka_poll/flush on the job thread. */
static void dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct dlq *d = opaque;
	rd_kafka_headers_t *sent = NULL, *h;
	size_t klen = m->key_len, vlen = m->len;
	(void)rk;

	if (!m->err)
		return;
	rd_kafka_message_headers(m, &sent);
	/* the topic's (or broker's) max.message.bytes is below ours */
	if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
		h = sent ? rd_kafka_headers_copy(sent) : rd_kafka_headers_new(2);
		if (dlq_shrink(h, &klen, &vlen)) {
			dlq_send(d, h, m->key, klen, m->payload, vlen, true);
			return;
		}
		rd_kafka_headers_destroy(h);
	}
	dlq_dropped(d, sent, m->err);
}

void dlq_send_record(struct dlq *d, const rd_kafka_message_t *m, const char *reason)
{
	rd_kafka_headers_t *h;
	char num[32];

	if (!d->rk)
		return;
	h = rd_kafka_headers_new(6);
	rd_kafka_header_add(h, "iotpipe.reason", -1, reason, -1);
	rd_kafka_header_add(h, "iotpipe.topic", -1, d->source_topic, -1);
	snprintf(num, sizeof(num), "%d", (int)m->partition);
	rd_kafka_header_add(h, "iotpipe.partition", -1, num, -1);
	snprintf(num, sizeof(num), "%" PRId64, m->offset);
	rd_kafka_header_add(h, "iotpipe.offset", -1, num, -1);
	if (dlq_send(d, h, m->key, m->key_len, m->payload, m->len, false))
		metric_inc(d->m_sent);
	rd_kafka_poll(d->rk, 0);
}

/*
 * Sizes the dead-letter producer's batches for the topic's
 * max.message.bytes (its default before the user's settings): the broker
 * refuses a whole batch that exceeds it, and would make every small dead
 * letter batched with a large one look too large. With batches and single
 * records bounded by the limit, the producer refuses a too-large record
 * at once (dlq_send truncates it) and every batch fits. A topic not
 * created yet gets the broker's message.max.bytes on first use. When
 * neither can be read, librdkafka's defaults stay and dlq_delivery's
 * halving copes (cutting small records batched with a large one too).
 */
static enum iot_err dlq_fit_topic(struct dlq *d, rd_kafka_t *rk, int timeout_ms, rd_kafka_conf_t *pc,
				  struct iot_error *err)
{
	/* a record batch's header (61 bytes in format v2) and some slack */
	enum { BATCH_OVERHEAD = 128, LIBRDKAFKA_MIN = 1000 };
	long max = kafka_config_long(rk, RD_KAFKA_RESOURCE_TOPIC, d->topic,
				     "max.message.bytes", timeout_ms);
	char num[32];

	if (max < 0) {
		/* known from the metadata the consumer read; none in the
		 * embedded broker, which answers no DescribeConfigs */
		int32_t broker = rd_kafka_controllerid(rk, 0);
		snprintf(num, sizeof(num), "%d", (int)broker);
		if (broker >= 0)
			max = kafka_config_long(rk, RD_KAFKA_RESOURCE_BROKER, num,
						"message.max.bytes", timeout_ms);
	}
	if (max < 0) {
		log_debug(d->job, "dead-letter topic '%s': max.message.bytes unknown, librdkafka's defaults apply",
			  d->topic);
		return IOT_OK;
	}
	log_debug(d->job, "dead-letter topic '%s': records of up to %ld bytes", d->topic,
		  max);
	max -= BATCH_OVERHEAD;
	/* librdkafka takes 1000..1000000000; Kafka allows topics up to 2^31-1 */
	if (max > 1000000000L)
		max = 1000000000L;
	snprintf(num, sizeof(num), "%ld", max < LIBRDKAFKA_MIN ? (long)LIBRDKAFKA_MIN : max);
	if (kafka_conf_set(pc, "message.max.bytes", num, "default", err) ||
	    kafka_conf_set(pc, "batch.size", num, "default", err))
		return err->code;
	return IOT_OK;
}

enum iot_err dlq_open(struct dlq *d, const char *bootstrap, const char *topic,
		      const char *source_topic, const struct kv_list *kafka, rd_kafka_t *consumer,
		      double timeout_s, const char *job, struct metric *sent, struct metric *dropped,
		      struct iot_error *err)
{
	rd_kafka_conf_t *pc;

	memset(d, 0, sizeof(*d));
	d->topic = topic;
	d->source_topic = source_topic;
	d->job = job;
	d->m_sent = sent;
	d->m_dropped = dropped;
	if (!topic || !*topic)
		return IOT_OK;
	if (!(pc = kafka_conf_new(bootstrap, NULL, err)))
		return err->code;
	if (kafka_conf_set(pc, "enable.idempotence", "true", "default", err) ||
	    kafka_conf_set(pc, "linger.ms", "20", "default", err) ||
	    /* a dead letter is delivered or dropped before dlq_flush gives up */
	    kafka_conf_set(pc, "message.timeout.ms", DLQ_MESSAGE_TIMEOUT, "default", err) ||
	    dlq_fit_topic(d, consumer, (int)(timeout_s * 1000), pc, err)) {
		rd_kafka_conf_destroy(pc);
		return err->code;
	}
	rd_kafka_conf_set_dr_msg_cb(pc, dlq_delivery);
	rd_kafka_conf_set_opaque(pc, d);
	d->rk = kafka_client_new(RD_KAFKA_PRODUCER, pc, kafka, NULL, "the dead-letter producer", err);
	return d->rk ? IOT_OK : err->code;
}

/* At shutdown: what is still queued after a last wait is lost; say how much. */
void dlq_close(struct dlq *d)
{
	int left;

	if (!d->rk)
		return;
	rd_kafka_flush(d->rk, 30 * 1000);
	left = rd_kafka_outq_len(d->rk);
	if (left > 0) {
		metric_add(d->m_dropped, (uint64_t)left);
		log_warn(d->job, "dead-letter topic '%s': %d records not delivered at shutdown",
			 d->topic, left);
	}
	rd_kafka_destroy(d->rk);
	d->rk = NULL;
}

/*
 * Before a commit: waits (at most DLQ_FLUSH_MS) until every dead letter
 * sent so far is delivered or dropped. Never fails: valid data commits
 * whatever the dead-letter topic does. Records still queued after the
 * wait (a message.timeout.ms raised above it) stay queued: delivered
 * later, or dropped and counted when librdkafka gives up on them.
 */
void dlq_flush(struct dlq *d)
{
	int queued;

	if (!d->rk)
		return;
	rd_kafka_flush(d->rk, DLQ_FLUSH_MS);
	queued = rd_kafka_outq_len(d->rk);
	if (queued > 0 || d->failed)
		log_warn(d->job, "dead-letter topic '%s': %" PRIu64 " records dropped since the last commit, %d still queued after %d s; committing the valid data",
			 d->topic, d->failed, queued, DLQ_FLUSH_MS / 1000);
	d->failed = 0;
}

