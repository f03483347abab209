/*
 * test_mock_broker.c - the embedded broker (kafka/mock_broker.c) from the
 * outside: it starts, publishes a usable bootstrap list, creates topics
 * with the asked partition count, carries a message from a librdkafka
 * producer to a librdkafka consumer, and shuts down without leaks (the
 * sanitizer build checks that).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "kafka/mock_broker.h"

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char errstr[256];
	assert_int_equal(rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
}

static void test_create_and_bootstrap(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct mock_broker *mb;
	const char *bs;
	(void)state;

	mb = mock_broker_create(3, 4, &err);
	assert_non_null(mb);
	bs = mock_broker_bootstrap(mb);
	assert_non_null(bs);
	/* Three brokers on loopback: three HOST:PORT entries. */
	assert_non_null(strstr(bs, "127.0.0.1:"));
	assert_non_null(strchr(bs, ','));
	assert_ptr_not_equal(strchr(bs, ','), strrchr(bs, ','));
	assert_int_equal(mock_broker_count(mb), 3);
	mock_broker_destroy(mb);
	mock_broker_destroy(NULL);
}

static void test_bad_arguments(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	(void)state;

	assert_null(mock_broker_create(0, 4, &err));
	assert_int_equal(err.code, IOT_ERR_USAGE);
	assert_null(mock_broker_create(1, 0, &err));
	assert_int_equal(err.code, IOT_ERR_USAGE);
	assert_null(mock_broker_create(MOCK_BROKER_MAX_BROKERS + 1, 4, &err));
}

static int partition_count(const char *bootstrap, const char *topic)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	char errstr[256];
	int n = -1;

	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "allow.auto.create.topics", "false");
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (md->topic_cnt == 1 && !md->topics[0].err)
			n = md->topics[0].partition_cnt;
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return n;
}

static void test_create_topic(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct mock_broker *mb;
	(void)state;

	mb = mock_broker_create(1, 7, &err);
	assert_non_null(mb);
	assert_int_equal(mock_broker_create_topic(mb, "seven", 0, &err), IOT_OK);
	assert_int_equal(mock_broker_create_topic(mb, "two", 2, &err), IOT_OK);
	assert_int_equal(mock_broker_create_topic(mb, "two", 2, &err),
			 IOT_ERR_STATE);
	assert_int_equal(mock_broker_create_topic(mb, "bad name", 1, &err),
			 IOT_ERR_USAGE);
	assert_int_equal(mock_broker_create_topic(mb, "", 1, &err),
			 IOT_ERR_USAGE);
	assert_int_equal(partition_count(mock_broker_bootstrap(mb), "seven"), 7);
	assert_int_equal(partition_count(mock_broker_bootstrap(mb), "two"), 2);
	mock_broker_destroy(mb);
}

static void test_produce_consume(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct mock_broker *mb;
	rd_kafka_conf_t *conf;
	rd_kafka_t *prod, *cons;
	rd_kafka_topic_partition_list_t *topics;
	char errstr[256];
	bool got = false;
	time_t deadline;
	(void)state;

	mb = mock_broker_create(1, 4, &err);
	assert_non_null(mb);

	conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", mock_broker_bootstrap(mb));
	set(conf, "enable.idempotence", "true");
	prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(prod);
	assert_int_equal(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("t"),
					   RD_KAFKA_V_KEY("device_id_1", 11),
					   RD_KAFKA_V_VALUE("{\"x\":1}", 7),
					   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					   RD_KAFKA_V_END),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(rd_kafka_flush(prod, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(prod);

	/*
	 * Assign every partition rather than join a group: the mock delays a
	 * group's first rebalance by seconds, and groups are covered from
	 * other processes by tests/integration/test_broker.py.
	 */
	conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", mock_broker_bootstrap(mb));
	set(conf, "group.id", "test_mock_broker");
	set(conf, "enable.auto.commit", "false");
	set(conf, "fetch.wait.max.ms", "50");
	cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(cons);
	rd_kafka_poll_set_consumer(cons);
	topics = rd_kafka_topic_partition_list_new(MOCK_BROKER_AUTO_PARTITIONS);
	for (int p = 0; p < MOCK_BROKER_AUTO_PARTITIONS; p++)
		rd_kafka_topic_partition_list_add(topics, "t", p)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(cons, topics), 0);
	rd_kafka_topic_partition_list_destroy(topics);

	deadline = time(NULL) + 30;
	while (!got && time(NULL) < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 200);
		if (!m)
			continue;
		if (!m->err) {
			assert_int_equal(m->key_len, 11);
			assert_memory_equal(m->key, "device_id_1", 11);
			assert_int_equal(m->len, 7);
			assert_memory_equal(m->payload, "{\"x\":1}", 7);
			assert_int_equal(m->offset, 0);
			got = true;
		}
		rd_kafka_message_destroy(m);
	}
	assert_true(got);
	rd_kafka_consumer_close(cons);
	rd_kafka_destroy(cons);
	mock_broker_destroy(mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_bootstrap),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_create_topic),
		cmocka_unit_test(test_produce_consume),
	};
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
