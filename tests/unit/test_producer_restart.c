/*
 * test_producer_restart.c - the producer loop (kafka/producer.c) survives
 * a fatal error of the idempotent producer. librdkafka 2.0.2 raises one
 * when a broker answers a produce request with OUT_OF_ORDER_SEQUENCE_NUMBER
 * (seen on a real three-node cluster after a leader change); the embedded
 * broker answers that on demand. Every record must then be in the topic
 * exactly once: the records the failed producer did not store are sent
 * again by a new one, none twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "event/schema.h"
#include "kafka/mock_broker.h"
#include "kafka/producer.h"
#include "metrics/metrics.h"

#define N 3000

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char errstr[256];
	assert_int_equal(rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
}

/* Every record of partition 0 of `topic`, as "key value" strings. */
static size_t read_all(const char *bootstrap, const char *topic, char **out, size_t cap)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tl;
	rd_kafka_t *c;
	char errstr[256];
	size_t n = 0;
	time_t deadline = time(NULL) + 30;

	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "group.id", "test_producer_restart");
	set(conf, "enable.auto.commit", "false");
	set(conf, "enable.partition.eof", "true");
	set(conf, "fetch.wait.max.ms", "50");
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(c);
	rd_kafka_poll_set_consumer(c);
	tl = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tl, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(c, tl), 0);
	rd_kafka_topic_partition_list_destroy(tl);
	while (time(NULL) < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
		bool eof;
		if (!m)
			continue;
		eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
		if (!m->err && n < cap) {
			char *s = malloc(m->key_len + m->len + 2);
			memcpy(s, m->key, m->key_len);
			s[m->key_len] = ' ';
			memcpy(s + m->key_len + 1, m->payload, m->len);
			s[m->key_len + 1 + m->len] = '\0';
			out[n++] = s;
		}
		rd_kafka_message_destroy(m);
		if (eof)
			break;
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_fatal_error_restarts_the_producer(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct iot_config cfg;
	struct producer_options o;
	struct producer_result res;
	struct mock_broker *mb;
	char **got = calloc(N + 10, sizeof(*got));
	size_t n;
	(void)state;

	config_init(&cfg);
	assert_int_equal(config_load_files(&cfg, NULL, 0, &err), IOT_OK);
	mb = mock_broker_create(1, 1, &err);
	assert_non_null(mb);
	assert_int_equal(mock_broker_create_topic(mb, "t", 1, &err), IOT_OK);
	/* the first produce requests fail as after a leader change */
	mock_broker_fail_requests(mb, 0, 2, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);

	producer_options_init(&o);
	o.bootstrap = mock_broker_bootstrap(mb);
	o.topic = "t";
	o.idempotent = true;
	o.schema = cfg.schema;
	o.count = N;
	o.gen.devices = 7;
	o.simulated_time = true;
	o.start_us = 1735689600000000LL;
	o.time_step = 0.01;
	o.quiet = true;
	assert_int_equal(producer_run(&o, &res, &err), IOT_OK);
	assert_int_equal(res.total_sent, N);
	assert_int_equal(res.total_delivered, N);
	assert_int_equal(res.failed, 0);
	assert_true(metric_value(metrics_counter("iotpipe_producer_restarts_total", "", NULL)) >= 1);

	/* in the topic: N records, none twice */
	n = read_all(mock_broker_bootstrap(mb), "t", got, N + 10);
	assert_int_equal(n, N);
	qsort(got, n, sizeof(*got), cmp_str);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(got[i - 1], got[i]) != 0);
	for (size_t i = 0; i < n; i++)
		free(got[i]);
	free(got);
	mock_broker_destroy(mb);
	config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fatal_error_restarts_the_producer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
