/*
 * test_settings.c - one setting, three ways in: a config file, an
 * environment variable and a command-line flag (an OPT_SETTING row of
 * core/opt.h) all go through the settings table of config/config.c, so a
 * value outside a row's range is refused the same way, naming the origin,
 * the key and the allowed range, whichever way it came. Also: the help
 * of such a flag shows the table's default and range, and
 * stream_job_options() (cmd/stream_cmd.h), the one function that turns
 * the settings into a streaming job's options for archive, aggregate and
 * run; and cmd_parse() (cmd/common.h), which adds the shared options a
 * command's flags ask for and applies the settings' flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cmd/common.h"
#include "cmd/stream_cmd.h"
#include "config/config.h"
#include "core/hive.h"
#include "core/opt.h"

static void expect_msg(const struct iot_error *err, const char *want)
{
	assert_int_equal(err->code, IOT_ERR_CONFIG);
	if (!strstr(err->msg, want))
		fail_msg("message '%s' lacks '%s'", err->msg, want);
}

/* --- the three paths --------------------------------------------------- */

static void test_range_from_file(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	config_init(&cfg);
	assert_int_not_equal(config_load_string(&cfg, "c.yml",
						"streaming_config:\n"
						"  window:\n"
						"    WINDOW_SECONDS: -60\n",
						&err),
			     IOT_OK);
	expect_msg(&err, "c.yml:3: key 'window.WINDOW_SECONDS': '-60' is out of range: "
			 "expected a number from 1 to 31536000");
	config_release(&cfg);
}

static void test_range_from_env(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	config_init(&cfg);
	setenv("NUM_EVENT_THRESHOLD", "-5", 1);
	assert_int_not_equal(config_apply_env(&cfg, &err), IOT_OK);
	unsetenv("NUM_EVENT_THRESHOLD");
	expect_msg(&err, "environment variable NUM_EVENT_THRESHOLD: key 's3.NUM_EVENT_THRESHOLD': "
			 "'-5' is out of range: expected an integer from 0 to 1000000000000");
	config_release(&cfg);
}

/* Parses argv with one OPT_SETTING row and applies it to cfg. */
static enum iot_err apply_flag(struct iot_config *cfg, const char *flag, const char *setting,
			       const char *value, struct iot_error *err)
{
	static const struct opt_usage usage = { "test", NULL };
	char *argv[] = { (char *)"test", (char *)flag, (char *)value, NULL };
	struct opt opts[] = {
		OPT_SETTING(0, flag + 2, setting, "X", "a setting"),
		OPT_END(),
	};

	config_bind_options(opts);
	assert_int_equal(opt_parse(3, argv, opts, &usage, err), 0);
	assert_int_equal(opts[0].seen, 1);
	return config_apply_options(cfg, opts, err);
}

static void test_range_from_flag(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	config_init(&cfg);
	assert_int_not_equal(apply_flag(&cfg, "--window", "streaming.window.WINDOW_SECONDS",
					"-60", &err),
			     IOT_OK);
	expect_msg(&err, "option --window: key 'window.WINDOW_SECONDS': '-60' is out of range: "
			 "expected a number from 1 to 31536000");
	/* the parser no longer checks it, the table does: not a number either */
	iot_error_clear(&err);
	assert_int_not_equal(apply_flag(&cfg, "--threshold", "streaming.s3.NUM_EVENT_THRESHOLD",
					"2.5", &err),
			     IOT_OK);
	expect_msg(&err, "option --threshold: key 's3.NUM_EVENT_THRESHOLD': '2.5' is not an integer");
	/* an open lower bound */
	iot_error_clear(&err);
	assert_int_not_equal(apply_flag(&cfg, "--trigger", "streaming.window.TRIGGER_SECONDS",
					"0", &err),
			     IOT_OK);
	expect_msg(&err, "option --trigger: key 'window.TRIGGER_SECONDS': '0' is out of range: "
			 "expected a number greater than 0 and at most 86400");
	config_release(&cfg);
}

/* A string setting with a check is refused the same three ways. */
static void test_partition_by_checked_three_ways(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	config_init(&cfg);
	assert_int_not_equal(config_load_string(&cfg, "c.yml",
						"streaming_config:\n"
						"  window:\n"
						"    AGGREGATE_PARTITION_BY: hour\n",
						&err),
			     IOT_OK);
	expect_msg(&err, "c.yml:3: key 'window.AGGREGATE_PARTITION_BY': partition column 'hour'");
	iot_error_clear(&err);
	assert_int_not_equal(apply_flag(&cfg, "--partition-by",
					"streaming.window.AGGREGATE_PARTITION_BY", "hour", &err),
			     IOT_OK);
	expect_msg(&err, "option --partition-by: key 'window.AGGREGATE_PARTITION_BY': "
			 "partition column 'hour'");
	iot_error_clear(&err);
	assert_int_equal(apply_flag(&cfg, "--partition-by",
				    "streaming.window.AGGREGATE_PARTITION_BY", "none", &err),
			 IOT_OK);
	assert_string_equal(cfg.streaming.aggregate_partition_by, "none");
	config_release(&cfg);
}

/* flag > environment > file > default, all through the one setter */
static void test_precedence(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	config_init(&cfg);
	assert_true(cfg.streaming.num_event_threshold == 200);
	assert_int_equal(config_load_string(&cfg, "c.yml",
					    "streaming_config:\n"
					    "  s3:\n"
					    "    NUM_EVENT_THRESHOLD: 10\n",
					    &err),
			 IOT_OK);
	assert_true(cfg.streaming.num_event_threshold == 10);
	setenv("NUM_EVENT_THRESHOLD", "20", 1);
	assert_int_equal(config_apply_env(&cfg, &err), IOT_OK);
	unsetenv("NUM_EVENT_THRESHOLD");
	assert_true(cfg.streaming.num_event_threshold == 20);
	assert_int_equal(apply_flag(&cfg, "--threshold", "streaming.s3.NUM_EVENT_THRESHOLD", "30",
				    &err),
			 IOT_OK);
	assert_true(cfg.streaming.num_event_threshold == 30);
	config_release(&cfg);
}

/* A flag that is not given leaves the setting alone. */
static void test_flag_not_given(void **state)
{
	static const struct opt_usage usage = { "test", NULL };
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	char *argv[] = { (char *)"test", NULL };
	struct opt opts[] = {
		OPT_SETTING(0, "window", "streaming.window.WINDOW_SECONDS", "SECONDS", "w"),
		OPT_END(),
	};

	(void)state;
	config_init(&cfg);
	cfg.streaming.window_seconds = 120;
	config_bind_options(opts);
	assert_int_equal(opt_parse(1, argv, opts, &usage, &err), 0);
	assert_int_equal(config_apply_options(&cfg, opts, &err), IOT_OK);
	assert_true(cfg.streaming.window_seconds == 120);
	assert_int_equal(config_apply_options(&cfg, NULL, &err), IOT_OK);
	config_release(&cfg);
}

/* --help shows the table's default, key and range: written once. */
static void test_help_from_table(void **state)
{
	static const struct opt_usage usage = { "test", NULL };
	struct opt opts[] = {
		OPT_SETTING(0, "window", "streaming.window.WINDOW_SECONDS", "SECONDS",
			    "tumbling window length"),
		OPT_SETTING(0, "dead-letter-topic", "streaming.kafka.DEAD_LETTER_TOPIC", "NAME",
			    "rejects"),
		OPT_END(),
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	config_bind_options(opts);
	assert_true(opts[0].range.min == 1 && opts[0].range.max == 31536000.0);
	assert_string_equal(opts[0].def, "60");
	assert_string_equal(opts[0].key, "window.WINDOW_SECONDS");
	opt_print_help(f, opts, &usage);
	fclose(f);
	if (!strstr(text, "tumbling window length; default 60 (window.WINDOW_SECONDS) "
			  "[from 1 to 31536000]\n"))
		fail_msg("help: %s", text);
	/* a string setting: no range; an empty default reads "none" */
	if (!strstr(text, "rejects; default none (kafka.DEAD_LETTER_TOPIC)\n"))
		fail_msg("help: %s", text);
	free(text);
}

/* An option that is not a setting shows its variable's value as the
 * default, so the value is written once, where the variable is set. */
static void test_help_default_from_variable(void **state)
{
	static const struct opt_usage usage = { "test", NULL };
	long n = 700000;
	double t = 2.5, plain = 7;
	struct opt opts[] = {
		OPT_LONG_D(0, "max", &n, "N", "at most", RANGE(1, 1e9)),
		OPT_DOUBLE_D(0, "timeout", &t, "SECONDS", "wait", RANGE(0, 10)),
		OPT_DOUBLE(0, "plain", &plain, "X", "no default shown", RANGE(0, 10)),
		OPT_END(),
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	opt_print_help(f, opts, &usage);
	fclose(f);
	if (!strstr(text, "at most; default 700000 [from 1 to 1000000000]\n") ||
	    !strstr(text, "wait; default 2.5 [from 0 to 10]\n") ||
	    !strstr(text, "no default shown [from 0 to 10]\n"))
		fail_msg("help: %s", text);
	free(text);
}

/* --- the one settings-to-job-options function --------------------------- */

static void test_job_options_defaults(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct job_options jo;

	(void)state;
	config_init(&cfg);
	assert_int_equal(stream_job_options(&jo, JOB_ARCHIVE, &cfg, &err), IOT_OK);
	assert_int_equal(jo.kind, JOB_ARCHIVE);
	assert_string_equal(jo.group, "iotpipe-archive");
	assert_ptr_equal(jo.output, cfg.streaming.raw_output);
	assert_ptr_equal(jo.checkpoint, cfg.streaming.raw_checkpoint);
	assert_ptr_equal(jo.bootstrap, cfg.streaming.bootstrap_servers);
	assert_ptr_equal(jo.topic, cfg.streaming.topic);
	assert_ptr_equal(jo.kafka, &cfg.streaming.kafka);
	assert_true(jo.trigger_s == 60);
	assert_true(jo.window_us == 60000000);
	assert_true(jo.watermark_us == 60000000);
	assert_true(jo.idle_timeout_s == 60);
	/* what the function does not map stays job_options_init()'s */
	assert_false(jo.once);
	assert_true(jo.horizon_us == (int64_t)JOB_HORIZON_DEFAULT_S * 1000000);

	assert_int_equal(stream_job_options(&jo, JOB_AGGREGATE, &cfg, &err), IOT_OK);
	assert_string_equal(jo.group, "iotpipe-aggregate");
	assert_ptr_equal(jo.output, cfg.streaming.aggregated_output);
	assert_ptr_equal(jo.checkpoint, cfg.streaming.aggregated_checkpoint);
	assert_int_equal(jo.layout.n, 2);
	assert_int_equal(jo.layout.cols[0], HIVE_DEVICE_ID);
	assert_int_equal(jo.layout.cols[1], HIVE_WINDOW_START);
	config_release(&cfg);
}

/* The settings `run` ignored before it shared this function: the layout
 * and the window values come from the same settings as aggregate's. */
static void test_job_options_follow_settings(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct job_options jo;

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_load_string(&cfg, "c.yml",
					    "streaming_config:\n"
					    "  kafka:\n"
					    "    DEAD_LETTER_TOPIC: rejects\n"
					    "  window:\n"
					    "    WINDOW_SECONDS: 300\n"
					    "    WATERMARK_SECONDS: 0.5\n"
					    "    IDLE_TIMEOUT_SECONDS: 0\n"
					    "    TRIGGER_SECONDS: 2.5\n"
					    "    AGGREGATE_PARTITION_BY: date\n",
					    &err),
			 IOT_OK);
	assert_int_equal(apply_flag(&cfg, "--window", "streaming.window.WINDOW_SECONDS", "120",
				    &err),
			 IOT_OK);
	assert_int_equal(stream_job_options(&jo, JOB_AGGREGATE, &cfg, &err), IOT_OK);
	assert_true(jo.window_us == 120000000);
	assert_true(jo.watermark_us == 500000);
	assert_true(jo.idle_timeout_s == 0);
	assert_true(jo.trigger_s == 2.5);
	assert_string_equal(jo.dead_letter_topic, "rejects");
	assert_int_equal(jo.layout.n, 1);
	assert_int_equal(jo.layout.cols[0], HIVE_DATE);

	assert_int_equal(apply_flag(&cfg, "--partition-by",
				    "streaming.window.AGGREGATE_PARTITION_BY", "none", &err),
			 IOT_OK);
	assert_int_equal(stream_job_options(&jo, JOB_AGGREGATE, &cfg, &err), IOT_OK);
	assert_int_equal(jo.layout.n, 0);
	config_release(&cfg);
}

/* A struct changed behind the table's back is refused, naming the key. */
static void test_job_options_bad_layout(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct job_options jo;

	(void)state;
	config_init(&cfg);
	free(cfg.streaming.aggregate_partition_by);
	cfg.streaming.aggregate_partition_by = strdup("hour");
	assert_int_not_equal(stream_job_options(&jo, JOB_AGGREGATE, &cfg, &err), IOT_OK);
	expect_msg(&err, "key 'window.AGGREGATE_PARTITION_BY': partition column 'hour'");
	config_release(&cfg);
}

/* --- cmd_parse(): shared rows by flags, settings applied -------------------- */

static void test_cmd_parse_applies_settings(void **state)
{
	static const struct opt_usage usage = { "iotpipe x", NULL };
	struct cmd_ctx ctx;
	long n = 0;
	char *argv[] = { (char *)"x", (char *)"--window", (char *)"120", (char *)"--topic",
			 (char *)"events", (char *)"--count", (char *)"7", NULL };
	struct opt opts[] = {
		OPT_SETTING(0, "window", "streaming.window.WINDOW_SECONDS", "SECONDS", "w"),
		OPT_LONG(0, "count", &n, "N", "n", RANGE(0, 10)),
		OPT_END(),
	};

	(void)state;
	/* the built-in defaults, not the reference files of ./config */
	setenv("IOTPIPE_CONFIG_DIR", "/nonexistent", 1);
	cmd_ctx_init(&ctx, "x", NEED_CONFIG | NEED_LOG, "off");
	assert_int_equal(cmd_parse(&ctx, 7, argv, opts, &usage, NULL), -1);
	assert_true(ctx.cfg.streaming.window_seconds == 120);
	assert_string_equal(ctx.cfg.streaming.topic, "events");
	assert_true(n == 7);
	/* the command's own rows tell what was given */
	assert_true(opt_was_given(opts, "window") && opt_was_given(opts, "count"));
	/* the shared rows come first in the parsed table */
	assert_string_equal(ctx.opts[0].long_name, "config");
	assert_true(opt_was_given(ctx.opts, "topic"));
	assert_null(opt_find(ctx.opts, "metrics-addr")); /* no NEED_METRICS */
	cmd_ctx_release(&ctx);
	unsetenv("IOTPIPE_CONFIG_DIR");
}

static void test_cmd_parse_refuses_out_of_range_flag(void **state)
{
	static const struct opt_usage usage = { "iotpipe x", NULL };
	struct cmd_ctx ctx;
	char *argv[] = { (char *)"x", (char *)"--window=-60", NULL };
	char *argv2[] = { (char *)"x", (char *)"--config", (char *)"f.yml", NULL };
	struct opt opts[] = {
		OPT_SETTING(0, "window", "streaming.window.WINDOW_SECONDS", "SECONDS", "w"),
		OPT_END(),
	};

	(void)state;
	setenv("IOTPIPE_CONFIG_DIR", "/nonexistent", 1);
	cmd_ctx_init(&ctx, "x", NEED_CONFIG, "off");
	assert_int_equal(cmd_parse(&ctx, 2, argv, opts, &usage, NULL), 2);
	cmd_ctx_release(&ctx);
	/* a command without NEED_CONFIG has no --config */
	cmd_ctx_init(&ctx, "x", NEED_LOG, "off");
	assert_int_equal(cmd_parse(&ctx, 3, argv2, opts, &usage, NULL), 2);
	cmd_ctx_release(&ctx);
	unsetenv("IOTPIPE_CONFIG_DIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_from_file),
		cmocka_unit_test(test_range_from_env),
		cmocka_unit_test(test_range_from_flag),
		cmocka_unit_test(test_partition_by_checked_three_ways),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_flag_not_given),
		cmocka_unit_test(test_help_from_table),
		cmocka_unit_test(test_help_default_from_variable),
		cmocka_unit_test(test_job_options_defaults),
		cmocka_unit_test(test_job_options_follow_settings),
		cmocka_unit_test(test_job_options_bad_layout),
		cmocka_unit_test(test_cmd_parse_applies_settings),
		cmocka_unit_test(test_cmd_parse_refuses_out_of_range_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
