/*
 * client.c - librdkafka configuration and the start-up topic check
 * (client.h). Runs on the calling thread; rd_kafka_metadata blocks for at
 * most the timeout given.
 */
#include "core/clock.h"
#include "kafka/client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

enum iot_err kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
			    const char *value, const char *origin,
			    struct iot_error *err)
{
	char why[512];
	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
		return iot_error_set(err, IOT_ERR_CONFIG, "%s: Kafka property '%s': %s",
				     origin, key, why);
	return IOT_OK;
}

rd_kafka_conf_t *kafka_conf_new(const char *bootstrap, const struct kv_list *props,
				struct iot_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (kafka_conf_set(conf, "bootstrap.servers", bootstrap, "bootstrap servers", err))
		goto fail;
	/* our own logging and errors carry the context; keep librdkafka quiet */
	if (kafka_conf_set(conf, "log_level", "3", "default", err))
		goto fail;
	for (size_t i = 0; props && i < props->n; i++)
		if (kafka_conf_set(conf, props->items[i].key, props->items[i].value,
				   props->items[i].origin, err))
			goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

enum iot_err kafka_wait_topic(rd_kafka_t *rk, const char *bootstrap,
			      const char *topic, int timeout_ms, int *partitions,
			      struct iot_error *err)
{
	double deadline = clock_mono_s() + timeout_ms / 1000.0;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
	bool answered = false;

	for (;;) {
		const struct rd_kafka_metadata *md = NULL;
		double left = deadline - clock_mono_s();
		int wait_ms = left > 0 ? (int)(left * 1000) : 0;
		rd_kafka_resp_err_t e;

		if (wait_ms < 100)
			wait_ms = 100;
		e = rd_kafka_metadata(rk, 0, rkt, &md, wait_ms);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			answered = true;
			if (md->topic_cnt == 1) {
				last = md->topics[0].err;
				if (!last && md->topics[0].partition_cnt > 0) {
					*partitions = md->topics[0].partition_cnt;
					rd_kafka_metadata_destroy(md);
					rd_kafka_topic_destroy(rkt);
					return IOT_OK;
				}
			}
			rd_kafka_metadata_destroy(md);
		} else {
			last = e;
		}
		if (clock_mono_s() >= deadline)
			break;
		/* a topic being auto-created needs a moment for its leader */
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	rd_kafka_topic_destroy(rkt);
	if (!answered)
		return iot_error_set(err, IOT_ERR_NET,
				     "cannot reach Kafka at '%s' within %.1f s: %s",
				     bootstrap, timeout_ms / 1000.0, rd_kafka_err2str(last));
	if (last == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
	    last == RD_KAFKA_RESP_ERR_NO_ERROR)
		return iot_error_set(err, IOT_ERR_NOT_FOUND,
				     "topic '%s' does not exist on '%s' and was not created (is topic auto-creation off? create it first)",
				     topic, bootstrap);
	return iot_error_set(err, IOT_ERR_NET, "topic '%s' on '%s' is not available: %s",
			     topic, bootstrap, rd_kafka_err2str(last));
}
