/*
 * client_stats.h - librdkafka's statistics as Prometheus gauges.
 *
 * librdkafka emits a JSON document every statistics.interval.ms from the
 * thread that polls the client (rd_kafka_poll, or the consumer queue).
 * kafka_stats_attach() turns that on for a client under construction and
 * turns the document into series labelled client="<label>":
 *
 *   iotpipe_kafka_consumer_lag_records{client,topic,partition}
 *   iotpipe_kafka_broker_rtt_avg_seconds{client,broker}
 *   iotpipe_kafka_broker_rtt_p99_seconds{client,broker}
 *   iotpipe_kafka_queue_messages{client}        (msg_cnt: producer queue)
 *   iotpipe_kafka_reply_queue_ops{client}       (replyq: ops waiting for poll)
 *   iotpipe_kafka_fetch_queue_messages{client}  (consumers: fetched, not yet read)
 *   iotpipe_kafka_transmitted_bytes_total{client}
 *   iotpipe_kafka_received_bytes_total{client}
 *
 * Calling sequence, after every other property of `conf` is set (a
 * statistics.interval.ms given by the user is kept, otherwise 5000 ms):
 *
 *	kafka_stats_attach(conf, "archive");
 *	rk = rd_kafka_new(type, conf, ...);
 *
 * The client's opaque is left alone: the label travels through an on_new
 * interceptor that maps the new rd_kafka_t to it (and an on_destroy one
 * that forgets it), so the stats callback finds it from its rk argument.
 */
#ifndef IOT_KAFKA_CLIENT_STATS_H
#define IOT_KAFKA_CLIENT_STATS_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/* `client_label` is copied; any thread, before rd_kafka_new(conf). */
void kafka_stats_attach(rd_kafka_conf_t *conf, const char *client_label);

/*
 * Updates the gauges from one statistics document. Returns 0, or -1 when
 * the document is not a JSON object (nothing is updated). Exposed for
 * tests; any thread.
 */
int kafka_stats_update(const char *json, size_t len, const char *client_label);

#endif
