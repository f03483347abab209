/*
 * client.h - librdkafka set-up shared by the producer, the consumers and
 * the dead-letter producer: one constructor that applies the user's
 * pass-through properties (`--kafka`, the `librdkafka:` mappings) the same
 * way to every client, errors that name the property and where it came
 * from, librdkafka's log lines through our logger, and a start-up check
 * that the cluster answers and the topic exists, so that a wrong address
 * fails fast with a clear message instead of hanging.
 *
 * Calling sequence (the role's defaults before the user's settings):
 *
 *	rd_kafka_conf_t *conf = kafka_conf_new(bootstrap, NULL, err);
 *	kafka_conf_set(conf, "linger.ms", "20", "default", err);  // role defaults
 *	rd_kafka_conf_set_dr_msg_cb(conf, ...);                   // callbacks, opaque
 *	rk = kafka_client_new(RD_KAFKA_PRODUCER, conf, user, "produce",
 *			      "the Kafka producer", err);            // conf is gone
 */
#ifndef IOT_KAFKA_CLIENT_H
#define IOT_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>

#include "config/config.h"
#include "core/err.h"

/*
 * New configuration with bootstrap.servers set and every property of
 * `props` applied in order (later wins). Returns NULL and a config error
 * ("--kafka linger.ms=abc: Invalid value ...") on a bad property.
 * The caller owns the result (rd_kafka_conf_destroy, or hand it to
 * kafka_client_new which takes it over). The clients pass NULL props and
 * give the user's settings to kafka_client_new, after their defaults.
 */
rd_kafka_conf_t *kafka_conf_new(const char *bootstrap, const struct kv_list *props,
				struct iot_error *err);

enum iot_err kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
			    const char *value, const char *origin,
			    struct iot_error *err);

/*
 * Creates a client of `type` from conf (bootstrap.servers, the role's
 * defaults, callbacks and opaque) and takes conf over in every case: it
 * is destroyed when this fails. On the way:
 *  - applies `user` (may be NULL) in order over the defaults, except the
 *    properties librdkafka documents for the other role only (a consumer
 *    property given for the streaming jobs does not reach their
 *    dead-letter producer; librdkafka would warn and ignore it anyway);
 *    skipping one is logged at debug level;
 *  - attaches statistics (client_stats.h) labelled stats_label, unless NULL;
 *  - routes librdkafka's log lines to log.h, component "kafka", at most
 *    10 a second over all clients, then one line saying how many were
 *    suppressed.
 * `what` names the client in errors ("the dead-letter producer").
 * Returns NULL and a config error on a bad property or when rd_kafka_new
 * fails. Any thread.
 */
rd_kafka_t *kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
			     const struct kv_list *user, const char *stats_label,
			     const char *what, struct iot_error *err);

/*
 * A configuration value `name` of a topic or a broker (type
 * RD_KAFKA_RESOURCE_TOPIC or _BROKER, `resource` its name or id), e.g. a
 * topic's "max.message.bytes", as a number, asked of the cluster through
 * rk (any client) within timeout_ms; -1 when it cannot be had (no such
 * topic yet, no permission, not a number, no controller among the brokers
 * as in the embedded broker: then at once). Blocks the calling thread.
 */
long kafka_config_long(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *resource,
		       const char *name, int timeout_ms);

/*
 * Waits up to timeout_ms for the cluster to answer a metadata request for
 * `topic`, and for the topic to exist (a broker with auto-creation may
 * create it on that request). Sets *partitions. Errors name the bootstrap
 * servers and the topic.
 */
enum iot_err kafka_wait_topic(rd_kafka_t *rk, const char *bootstrap,
			      const char *topic, int timeout_ms, int *partitions,
			      struct iot_error *err);

/* Logs how many librdkafka lines the rate limit dropped since the last
 * one let through (at exit, after the clients are destroyed). */
void kafka_log_flush(void);

/*
 * rd_kafka_destroy, given up after timeout_s: librdkafka 2.0 can wait
 * forever for its broker thread once a topic it read was deleted (its
 * issue #3007), and a job whose work is committed must still exit.
 * False when it gave up (the handle is left to the process's exit).
 */
bool kafka_destroy_bounded(rd_kafka_t *rk, double timeout_s);

/* A client-wide error handed to an error_cb, logged as librdkafka logs
 * the ones no callback takes (level error, through the same limiter). */
void kafka_log_error(const rd_kafka_t *rk, int err, const char *reason);

#endif
