/*
 * test_kafka_client.c - the one Kafka client constructor
 * (kafka/client.h): the user's properties reach the client over the
 * role's defaults, a property librdkafka documents for the other role
 * only is left out (a consumer property does not reach a producer, and
 * the other way round), and the configuration is freed when creation
 * fails, on a bad property as when rd_kafka_new refuses it (the
 * sanitizer build's leak check sees a leak). No broker is needed: the
 * clients point at a closed port and are destroyed at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "kafka/client.h"

#define NOWHERE "127.0.0.1:1"

static void conf_is(rd_kafka_t *rk, const char *key, const char *want)
{
	char v[256];
	size_t n = sizeof(v);
	assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(rk), key, v, &n), RD_KAFKA_CONF_OK);
	assert_string_equal(v, want);
}

/* librdkafka answers UNKNOWN for a string property never set */
static void conf_unset(rd_kafka_t *rk, const char *key)
{
	char v[256];
	size_t n = sizeof(v);
	assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(rk), key, v, &n), RD_KAFKA_CONF_UNKNOWN);
}

static void test_user_settings_over_defaults(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct kv_list user = { 0 };
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	(void)state;

	kv_list_add(&user, "linger.ms", "7", "--kafka");
	kv_list_add(&user, "client.id", "xyz", "--kafka");
	kv_list_add(&user, "group.id", "not-for-a-producer", "--kafka");
	conf = kafka_conf_new(NOWHERE, NULL, &err);
	assert_non_null(conf);
	assert_int_equal(kafka_conf_set(conf, "linger.ms", "20", "default", &err), IOT_OK);
	rk = kafka_client_new(RD_KAFKA_PRODUCER, conf, &user, NULL, "the test producer", &err);
	assert_non_null(rk);
	conf_is(rk, "linger.ms", "7");
	conf_is(rk, "client.id", "xyz");
	conf_unset(rk, "group.id");
	rd_kafka_destroy(rk);

	/* a consumer takes group.id and leaves the producer's linger.ms alone */
	conf = kafka_conf_new(NOWHERE, NULL, &err);
	assert_non_null(conf);
	rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, &user, NULL, "the test consumer", &err);
	assert_non_null(rk);
	conf_is(rk, "group.id", "not-for-a-producer");
	conf_is(rk, "client.id", "xyz");
	conf_is(rk, "linger.ms", "5");
	rd_kafka_destroy(rk);
	kv_list_release(&user);
}

static void test_failures_free_the_configuration(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct kv_list user = { 0 };
	rd_kafka_conf_t *conf;
	(void)state;

	/* a property librdkafka rejects */
	kv_list_add(&user, "linger.ms", "soon", "--kafka");
	conf = kafka_conf_new(NOWHERE, NULL, &err);
	assert_null(kafka_client_new(RD_KAFKA_PRODUCER, conf, &user, NULL, "the test producer", &err));
	assert_int_equal(err.code, IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "--kafka: Kafka property 'linger.ms'"));
	kv_list_release(&user);

	/* rd_kafka_new refuses the whole (idempotence needs acks=all) */
	memset(&user, 0, sizeof(user));
	kv_list_add(&user, "acks", "1", "--kafka");
	conf = kafka_conf_new(NOWHERE, NULL, &err);
	assert_int_equal(kafka_conf_set(conf, "enable.idempotence", "true", "default", &err), IOT_OK);
	assert_null(kafka_client_new(RD_KAFKA_PRODUCER, conf, &user, "test", "the test producer", &err));
	assert_int_equal(err.code, IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "cannot create the test producer: "));
	kv_list_release(&user);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_settings_over_defaults),
		cmocka_unit_test(test_failures_free_the_configuration),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
