/*
 * test_config_strict.c - hostile and mistaken configuration: what the YAML
 * loader (core/yamldoc.c) refuses while parsing (duplicate keys, a second
 * document, aliases, non-scalar keys, excessive nesting, quickly), and the
 * values the settings table (config/config.c) and the option parser
 * (core/opt.c) refuse through the ranges of core/range.h: negative, zero
 * where zero means nothing, not a number, out of range, each named with the
 * key or flag and the allowed range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/opt.h"
#include "core/range.h"
#include "core/yamldoc.h"

static void expect_config_error(const char *yaml, const char *want)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	config_init(&cfg);
	if (config_load_string(&cfg, "c.yml", yaml, &err) == IOT_OK)
		fail_msg("accepted: %s", yaml);
	assert_int_equal(err.code, IOT_ERR_CONFIG);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	config_release(&cfg);
}

static void expect_config_ok(const char *yaml)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	config_init(&cfg);
	if (config_load_string(&cfg, "c.yml", yaml, &err) != IOT_OK)
		fail_msg("refused: %s: %s", yaml, err.msg);
	config_release(&cfg);
}

/* libyaml keeps both pairs of a repeated key; the loaders took the last
 * one, so a file could say two things and mean one of them silently. */
static void test_duplicate_keys_refused(void **state)
{
	(void)state;
	expect_config_error("streaming_config:\n"
			    "  kafka:\n"
			    "    KAFKA_TOPIC_NAME: a\n"
			    "    KAFKA_TOPIC_NAME: b\n",
			    "c.yml:4: duplicate key 'KAFKA_TOPIC_NAME' (first at line 3)");
	expect_config_error("streaming_config: {kafka: {}, kafka: {}}\n",
			    "c.yml:1: duplicate key 'kafka' (first at line 1)");
	expect_config_error("streaming_config:\n  window: {}\n"
			    "streaming_config:\n  kafka: {}\n",
			    "c.yml:3: duplicate key 'streaming_config'");
	/* the same key in two mappings is fine */
	expect_config_ok("streaming_config:\n  librdkafka: {debug: all}\n"
			 "producer_config:\n  librdkafka: {debug: all}\n");
}

/* Only the first document was read; the rest of the file was ignored. */
static void test_second_document_refused(void **state)
{
	(void)state;
	expect_config_error("streaming_config:\n  kafka: {KAFKA_TOPIC_NAME: a}\n"
			    "---\nproducer_config: {}\n",
			    "c.yml:3: a second YAML document");
	expect_config_error("---\nstreaming_config: {}\n...\n---\n",
			    "c.yml:4: a second YAML document");
	expect_config_ok("---\nstreaming_config: {}\n...\n");
}

/* Aliases made cyclic (self-alias) and exponential ("billion laughs")
 * trees possible; config files have no use for them. */
static void test_aliases_refused(void **state)
{
	(void)state;
	expect_config_error("streaming_config: &a\n  kafka: *a\n",
			    "c.yml:2: YAML alias '*a': aliases are not allowed");
	expect_config_error("x: &t device_topic\n"
			    "streaming_config:\n  kafka: {KAFKA_TOPIC_NAME: *t}\n",
			    "c.yml:3: YAML alias '*t'");
	expect_config_error("a: &a [x, x]\nb: &b [*a, *a]\n", "c.yml:2: YAML alias '*a'");
	expect_config_error("base: &b {KAFKA_TOPIC_NAME: t}\n"
			    "streaming_config:\n  kafka:\n    <<: *b\n",
			    "c.yml:4: YAML alias '*b'");
}

static void test_complex_keys_refused(void **state)
{
	(void)state;
	expect_config_error("streaming_config:\n  ? [a, b]\n  : 1\n",
			    "c.yml:2: a mapping key must be a plain string, not a sequence");
	expect_config_error("{a: 1}: 2\n", "a mapping key must be a plain string, not a mapping");
}

static char *nested(size_t depth, const char *open, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close);
	char *s = malloc(depth * (lo + lc) + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	for (size_t i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100,000 levels of "[" took libyaml 20-36 s to build before the loader
 * refused the file; the depth limit is checked while parsing. */
static void test_deep_nesting_refused_quickly(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct yamldoc *d;
	char *s;
	double t0;
	(void)state;

	s = nested(YAMLDOC_MAX_DEPTH, "[", "]");
	d = yamldoc_load_string("n.yml", s, strlen(s), &err);
	if (!d)
		fail_msg("%d levels refused: %s", YAMLDOC_MAX_DEPTH, err.msg);
	yamldoc_destroy(d);
	free(s);

	s = nested(YAMLDOC_MAX_DEPTH + 1, "{a: ", "}");
	assert_null(yamldoc_load_string("n.yml", s, strlen(s), &err));
	assert_non_null(strstr(err.msg, "n.yml:1: nested deeper than 64 levels"));
	free(s);

	s = nested(100000, "[", "]");
	t0 = now_s();
	assert_null(yamldoc_load_string("n.yml", s, strlen(s), &err));
	assert_true(now_s() - t0 < 1.0);
	assert_non_null(strstr(err.msg, "nested deeper than"));
	free(s);
}

static void test_empty_stream_still_empty_file(void **state)
{
	(void)state;
	expect_config_error("", "c.yml: empty config file");
	expect_config_error("# nothing\n", "c.yml: empty config file");
}

/* The settings' ranges: each bad value names the key and the range. */
static void test_config_values_out_of_range(void **state)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "streaming_config: {window: {WINDOW_SECONDS: -60}}",
		  "key 'window.WINDOW_SECONDS': '-60' is out of range: expected a number from 1 to 31536000" },
		{ "streaming_config: {window: {WINDOW_SECONDS: 0}}", "from 1 to 31536000" },
		{ "streaming_config: {window: {WINDOW_SECONDS: 1e400}}", "'1e400' is out of range" },
		{ "streaming_config: {window: {WINDOW_SECONDS: .inf}}", "'.inf' is not a number" },
		{ "streaming_config: {window: {WATERMARK_SECONDS: -5}}",
		  "key 'window.WATERMARK_SECONDS': '-5' is out of range: expected a number from 0 to 31536000" },
		{ "streaming_config: {window: {IDLE_TIMEOUT_SECONDS: -1}}",
		  "key 'window.IDLE_TIMEOUT_SECONDS': '-1' is out of range" },
		{ "streaming_config: {window: {TRIGGER_SECONDS: 0}}",
		  "key 'window.TRIGGER_SECONDS': '0' is out of range: expected a number greater than 0 and at most 86400" },
		{ "streaming_config: {window: {TRIGGER_SECONDS: soon}}",
		  "key 'window.TRIGGER_SECONDS': 'soon' is not a number" },
		{ "streaming_config: {s3: {NUM_EVENT_THRESHOLD: -5}}",
		  "key 's3.NUM_EVENT_THRESHOLD': '-5' is out of range: expected an integer from 0 to 1000000000000" },
		{ "streaming_config: {s3: {NUM_EVENT_THRESHOLD: 2.5}}", "'2.5' is not an integer" },
		{ "producer_config: {kafka: {num_generators: 0}}",
		  "key 'kafka.num_generators': '0' is out of range: expected an integer from 1 to 10000000" },
		{ "producer_config: {kafka: {retries: -1}}", "key 'kafka.retries': '-1' is out of range" },
		{ "producer_config: {kafka: {event_frequency: -0.5}}",
		  "key 'kafka.event_frequency': '-0.5' is out of range" },
		/* locations are checked when read, not at their first use */
		{ "streaming_config: {s3: {STREAMING_RAW_S3_OUTPUT_PATH: 'http://x/y/'}}",
		  "key 's3.STREAMING_RAW_S3_OUTPUT_PATH': http://x/y/: unsupported scheme" },
		{ "streaming_config: {s3: {PERCENTILE_VALIDATION_CSV_OUTPUT_PATH: 's3:///y/'}}",
		  "key 's3.PERCENTILE_VALIDATION_CSV_OUTPUT_PATH': s3:///y/: no bucket name" },
		{ "streaming_config: {s3: {STREAMING_AGGREGATED_S3_CHECKPOINT_PATH: 'file:rel'}}",
		  "key 's3.STREAMING_AGGREGATED_S3_CHECKPOINT_PATH'" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_config_error(cases[i].yaml, cases[i].want);
	expect_config_ok("streaming_config: {window: {WINDOW_SECONDS: 1, WATERMARK_SECONDS: 0, "
			 "IDLE_TIMEOUT_SECONDS: 0, TRIGGER_SECONDS: 0.5}}");
}

/* An empty topic was a runtime error (exit 1) at the first Kafka call. */
static void test_topic_names(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	char longname[300];
	(void)state;

	expect_config_error("streaming_config: {kafka: {KAFKA_TOPIC_NAME: \"\"}}",
			    "c.yml:1: key 'kafka.KAFKA_TOPIC_NAME': the topic name is empty");
	expect_config_error("producer_config: {kafka: {topic: ''}}",
			    "key 'kafka.topic': the topic name is empty");
	expect_config_error("producer_config: {kafka: {topic: 'a b'}}",
			    "'a b' is not a Kafka topic name");
	expect_config_error("streaming_config: {kafka: {DEAD_LETTER_TOPIC: ..}}",
			    "'..' is not a Kafka topic name");
	memset(longname, 'a', 250);
	longname[250] = '\0';
	config_init(&cfg);
	assert_int_equal(config_set(&cfg, "streaming.kafka.KAFKA_TOPIC_NAME", longname, "--topic",
				    &err),
			 IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "--topic: key 'kafka.KAFKA_TOPIC_NAME'"));
	longname[249] = '\0';
	assert_int_equal(config_set(&cfg, "streaming.kafka.KAFKA_TOPIC_NAME", longname, "--topic",
				    &err),
			 IOT_OK);
	assert_int_equal(config_set(&cfg, "streaming.kafka.KAFKA_TOPIC_NAME", "", "--topic", &err),
			 IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "--topic: key 'kafka.KAFKA_TOPIC_NAME': the topic name is empty"));
	config_release(&cfg);
	/* the dead-letter topic may be empty: that means "off" */
	expect_config_ok("streaming_config: {kafka: {DEAD_LETTER_TOPIC: \"\"}}");
}

static void test_env_values_checked(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	(void)state;

	config_init(&cfg);
	setenv("NUM_EVENT_THRESHOLD", "-5", 1);
	assert_int_equal(config_apply_env(&cfg, &err), IOT_ERR_CONFIG);
	unsetenv("NUM_EVENT_THRESHOLD");
	assert_non_null(strstr(err.msg, "environment variable NUM_EVENT_THRESHOLD: key "
					"'s3.NUM_EVENT_THRESHOLD': '-5' is out of range"));
	config_release(&cfg);
}

/* --- the option table ---------------------------------------------- */

static int parse(struct opt *opts, const char *flag, const char *value,
		 struct iot_error *err)
{
	char *argv[] = { "cmd", (char *)flag, (char *)value, NULL };
	return opt_parse(3, argv, opts, &(struct opt_usage){ "cmd", NULL }, err);
}

static void test_option_ranges(void **state)
{
	long n = 7;
	double secs = 7;
	struct opt opts[] = {
		OPT_LONG(0, "partitions", &n, "N", "h", RANGE(1, 1024)),
		OPT_DOUBLE(0, "trigger", &secs, "SECONDS", "h", RANGE_ABOVE(0, 86400)),
		OPT_END(),
	};
	static const struct {
		const char *flag, *value, *want;
	} bad[] = {
		{ "--partitions", "-1", "option --partitions: '-1' is out of range: expected an integer from 1 to 1024" },
		{ "--partitions", "0", "'0' is out of range" },
		{ "--partitions", "1025", "'1025' is out of range" },
		{ "--partitions", "99999999999999999999", "is out of range" },
		{ "--partitions", "four", "option --partitions: 'four' is not an integer: expected an integer from 1 to 1024" },
		{ "--partitions", "", "'' is not an integer" },
		{ "--partitions", "4x", "'4x' is not an integer" },
		{ "--partitions", "4.0", "'4.0' is not an integer" },
		{ "--trigger", "-1", "option --trigger: '-1' is out of range: expected a number greater than 0 and at most 86400" },
		{ "--trigger", "0", "'0' is out of range" },
		{ "--trigger", "-0", "'-0' is out of range" },
		{ "--trigger", "1e400", "'1e400' is out of range" },
		{ "--trigger", "inf", "'inf' is out of range" },
		{ "--trigger", "nan", "'nan' is not a number" },
		{ "--trigger", "soon", "'soon' is not a number" },
	};
	struct iot_error err = IOT_ERROR_INIT;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(opts, bad[i].flag, bad[i].value, &err), OPT_RC_ERROR);
		assert_int_equal(err.code, IOT_ERR_USAGE);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("%s %s: message '%s' lacks '%s'", bad[i].flag, bad[i].value,
				 err.msg, bad[i].want);
	}
	/* nothing was stored by a refused value */
	assert_int_equal(n, 7);
	assert_true(secs == 7);
	assert_int_equal(parse(opts, "--partitions", "1024", &err), 0);
	assert_int_equal(n, 1024);
	assert_int_equal(parse(opts, "--trigger", "1e-3", &err), 0);
	assert_true(secs == 1e-3);
	assert_true(opt_was_given(opts, "trigger"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duplicate_keys_refused),
		cmocka_unit_test(test_second_document_refused),
		cmocka_unit_test(test_aliases_refused),
		cmocka_unit_test(test_complex_keys_refused),
		cmocka_unit_test(test_deep_nesting_refused_quickly),
		cmocka_unit_test(test_empty_stream_still_empty_file),
		cmocka_unit_test(test_config_values_out_of_range),
		cmocka_unit_test(test_topic_names),
		cmocka_unit_test(test_env_values_checked),
		cmocka_unit_test(test_option_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
