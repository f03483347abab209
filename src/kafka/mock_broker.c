/*
 * mock_broker.c - the embedded development broker of mock_broker.h.
 *
 * librdkafka's mock cluster needs a client instance to live in: we create a
 * producer handle that never produces (the "host"), and
 * rd_kafka_mock_cluster_new() starts the brokers on it. Each mock broker
 * listens on 127.0.0.1 on a port the system picks; all of them are served
 * by one thread that librdkafka starts and owns, which parses requests from
 * other processes (kcat, iotpipe produce, kafka-python) and answers from
 * in-memory partition logs. Nothing here runs on that thread except the log
 * callback, which forwards librdkafka's log lines to core/log.
 *
 * Invariants: `cluster` is non-NULL from a successful create until destroy;
 * the cluster is destroyed before its host handle (the mock refers to it);
 * `bootstrap` is our own copy, so it stays valid whatever the mock does.
 */
#include "kafka/mock_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"

#include "core/banned.h"

struct mock_broker {
	rd_kafka_t *host;
	rd_kafka_mock_cluster_t *cluster;
	char *bootstrap;
	int nbrokers;
	int partitions;
};

/* The broker's lines are about its clients (a connection refused, a bad
 * request): any client can cause them, so at most ten a second. */
static struct log_ratelimit broker_log_rl = LOG_RATELIMIT_INIT(10);

/* librdkafka logs with syslog levels (0 emerg .. 7 debug). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	enum log_level lvl = level <= 3 ? LOG_ERROR
			   : level == 4 ? LOG_WARN
			   : level <= 6 ? LOG_INFO
					: LOG_DEBUG;
	(void)rk;
	/* The host handle has no bootstrap.servers on purpose (it only hosts
	 * the cluster); librdkafka's warning about that is noise. */
	if (!strcmp(fac, "CONFWARN") && strstr(buf, "bootstrap.servers"))
		lvl = LOG_DEBUG;
	log_msg_limited(&broker_log_rl, lvl, "broker", "%s: %s", fac, buf);
}

static enum iot_err conf_set(rd_kafka_conf_t *conf, const char *k,
			     const char *v, struct iot_error *err)
{
	char errstr[256];

	if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		return iot_error_set(err, IOT_ERR_STATE,
				     "embedded broker: setting %s=%s: %s", k, v,
				     errstr);
	return IOT_OK;
}

struct mock_broker *mock_broker_create(int nbrokers, int partitions,
				       struct iot_error *err)
{
	struct mock_broker *mb = NULL;
	rd_kafka_conf_t *conf;
	char errstr[256];

	if (nbrokers < 1 || nbrokers > MOCK_BROKER_MAX_BROKERS) {
		iot_error_set(err, IOT_ERR_USAGE,
			      "embedded broker: broker count %d is out of range 1..%d",
			      nbrokers, MOCK_BROKER_MAX_BROKERS);
		return NULL;
	}
	if (partitions < 1 || partitions > MOCK_BROKER_MAX_PARTITIONS) {
		iot_error_set(err, IOT_ERR_USAGE,
			      "embedded broker: partition count %d is out of range 1..%d",
			      partitions, MOCK_BROKER_MAX_PARTITIONS);
		return NULL;
	}

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, log_cb);
	if (conf_set(conf, "client.id", "iotpipe-embedded-broker", err) ||
	    (log_get_level() >= LOG_DEBUG &&
	     conf_set(conf, "debug", "mock", err))) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}

	mb = xcalloc(1, sizeof(*mb));
	mb->nbrokers = nbrokers;
	mb->partitions = partitions;
	/* On success rd_kafka_new() owns conf; on failure we still do. */
	mb->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!mb->host) {
		rd_kafka_conf_destroy(conf);
		iot_error_set(err, IOT_ERR_STATE,
			      "embedded broker: cannot create librdkafka handle: %s",
			      errstr);
		goto fail;
	}
	mb->cluster = rd_kafka_mock_cluster_new(mb->host, nbrokers);
	if (!mb->cluster) {
		iot_error_set(err, IOT_ERR_NET,
			      "embedded broker: cannot start %d mock broker(s) on 127.0.0.1",
			      nbrokers);
		goto fail;
	}
	mb->bootstrap = xstrdup(rd_kafka_mock_cluster_bootstraps(mb->cluster));
	log_debug("broker", "mock cluster of %d broker(s) at %s", nbrokers,
		  mb->bootstrap);
	return mb;

fail:
	mock_broker_destroy(mb);
	return NULL;
}

const char *mock_broker_bootstrap(const struct mock_broker *mb)
{
	return mb->bootstrap;
}

int mock_broker_count(const struct mock_broker *mb)
{
	return mb->nbrokers;
}

/* Kafka's own rule: 1..249 characters of [a-zA-Z0-9._-]. */
static bool topic_name_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 249)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

enum iot_err mock_broker_create_topic(struct mock_broker *mb, const char *topic,
				      int partitions, struct iot_error *err)
{
	rd_kafka_resp_err_t rc;
	int replicas = mb->nbrokers < 3 ? mb->nbrokers : 3;

	if (!topic_name_valid(topic))
		return iot_error_set(err, IOT_ERR_USAGE,
				     "topic '%s': a name is 1 to 249 characters of a-z A-Z 0-9 . _ -",
				     topic);
	if (partitions == 0)
		partitions = mb->partitions;
	if (partitions < 1 || partitions > MOCK_BROKER_MAX_PARTITIONS)
		return iot_error_set(err, IOT_ERR_USAGE,
				     "topic '%s': partition count %d is out of range 1..%d",
				     topic, partitions, MOCK_BROKER_MAX_PARTITIONS);
	rc = rd_kafka_mock_topic_create(mb->cluster, topic, partitions, replicas);
	if (rc == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
		return iot_error_set(err, IOT_ERR_STATE,
				     "topic '%s' already exists", topic);
	if (rc)
		return iot_error_set(err, IOT_ERR_STATE,
				     "topic '%s': cannot create: %s", topic,
				     rd_kafka_err2str(rc));
	log_debug("broker", "created topic %s with %d partition(s)", topic,
		  partitions);
	return IOT_OK;
}

void mock_broker_destroy(struct mock_broker *mb)
{
	if (!mb)
		return;
	if (mb->cluster)
		rd_kafka_mock_cluster_destroy(mb->cluster);
	if (mb->host)
		rd_kafka_destroy(mb->host);
	free(mb->bootstrap);
	free(mb);
	log_ratelimit_flush(&broker_log_rl, "broker");
}

void mock_broker_fail_requests(struct mock_broker *mb, int api_key, size_t n, int code)
{
	rd_kafka_resp_err_t *errs = xcalloc(n ? n : 1, sizeof(*errs));

	for (size_t i = 0; i < n; i++)
		errs[i] = (rd_kafka_resp_err_t)code;
	rd_kafka_mock_push_request_errors_array(mb->cluster, (int16_t)api_key, n, errs);
	free(errs);
}
