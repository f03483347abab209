/*
 * client.h - librdkafka set-up shared by the producer, the consumers and
 * the embedded broker's users: configuration with pass-through properties
 * and errors that name the property and where it came from, and a
 * start-up check that the cluster answers and the topic exists, so that a
 * wrong address fails fast with a clear message instead of hanging.
 */
#ifndef IOT_KAFKA_CLIENT_H
#define IOT_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>

#include "core/config.h"
#include "core/err.h"

/*
 * New configuration with bootstrap.servers set and every property of
 * `props` applied in order (later wins). Returns NULL and a config error
 * ("--kafka linger.ms=abc: Invalid value ...") on a bad property.
 * The caller owns the result (rd_kafka_conf_destroy, or hand it to
 * rd_kafka_new which takes it over).
 */
rd_kafka_conf_t *kafka_conf_new(const char *bootstrap, const struct kv_list *props,
				struct iot_error *err);

enum iot_err kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
			    const char *value, const char *origin,
			    struct iot_error *err);

/*
 * Waits up to timeout_ms for the cluster to answer a metadata request for
 * `topic`, and for the topic to exist (a broker with auto-creation may
 * create it on that request). Sets *partitions. Errors name the bootstrap
 * servers and the topic.
 */
enum iot_err kafka_wait_topic(rd_kafka_t *rk, const char *bootstrap,
			      const char *topic, int timeout_ms, int *partitions,
			      struct iot_error *err);

#endif
