/*
 * test_metrics.c - the metrics registry's exposition (HELP and TYPE once
 * per family, cumulative histogram buckets, escaped labels), metrics_sum
 * (reads without registering), librdkafka statistics documents turned into
 * gauges (kafka/client_stats.c: lag per partition, broker round-trip times in
 * seconds, queue depths, byte counters; bootstrap, logical and unassigned
 * entries skipped; a broken document changes nothing), and the status line
 * built from a sample (metrics/status.c), and the standard process_*
 * metrics under the names the Prometheus client libraries use
 * (metrics/process.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <cmocka.h>

#include "core/buf.h"
#include "kafka/client_stats.h"
#include "metrics/metrics.h"
#include "metrics/status.h"

static int setup(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

static char *render(void)
{
	struct buf b = BUF_INIT;
	size_t len;
	metrics_render(&b);
	return buf_detach(&b, &len);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_render_families_once(void **state)
{
	static const double bounds[] = { 0.1, 1 };
	struct metric *h;
	char *text;
	(void)state;

	metric_inc(metrics_counter("iotpipe_x_total", "X.", "job=\"a\""));
	metric_add(metrics_counter("iotpipe_x_total", "X.", "job=\"b\""), 5);
	metric_set(metrics_gauge("iotpipe_g", "G.", NULL), 2.5);
	h = metrics_histogram("iotpipe_h_seconds", "H.", "job=\"a\"", bounds, 2);
	metric_observe(h, 0.05);
	metric_observe(h, 0.5);
	metric_observe(h, 7);
	text = render();
	assert_int_equal(count(text, "# TYPE iotpipe_x_total counter\n"), 1);
	assert_int_equal(count(text, "# HELP iotpipe_x_total X.\n"), 1);
	assert_non_null(strstr(text, "iotpipe_x_total{job=\"a\"} 1\n"));
	assert_non_null(strstr(text, "iotpipe_x_total{job=\"b\"} 5\n"));
	assert_non_null(strstr(text, "iotpipe_g 2.5\n"));
	assert_non_null(strstr(text, "# TYPE iotpipe_h_seconds histogram\n"));
	assert_non_null(strstr(text, "iotpipe_h_seconds_bucket{job=\"a\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(text, "iotpipe_h_seconds_bucket{job=\"a\",le=\"1\"} 2\n"));
	assert_non_null(strstr(text, "iotpipe_h_seconds_bucket{job=\"a\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "iotpipe_h_seconds_count{job=\"a\"} 3\n"));
	free(text);
}

static void test_label_escape(void **state)
{
	char out[64];
	(void)state;
	metrics_label_escape(out, sizeof(out), "a\"b\\c\nd");
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	metrics_label_escape(out, 4, "abcdef");
	assert_string_equal(out, "ab");
}

static void test_sum_does_not_register(void **state)
{
	size_t found = 99;
	char *text;
	(void)state;

	assert_true(metrics_sum("iotpipe_nobody_total", NULL, &found) == 0.0);
	assert_int_equal(found, 0);
	metric_add(metrics_counter("iotpipe_c_total", "C.", "job=\"archive\",partition=\"0\""), 3);
	metric_add(metrics_counter("iotpipe_c_total", "C.", "job=\"archive\",partition=\"1\""), 4);
	metric_add(metrics_counter("iotpipe_c_total", "C.", "job=\"aggregate\",partition=\"0\""), 10);
	assert_true(metrics_sum("iotpipe_c_total", "job=\"archive\"", &found) == 7.0);
	assert_int_equal(found, 2);
	assert_true(metrics_sum("iotpipe_c_total", NULL, &found) == 17.0);
	assert_int_equal(found, 3);
	text = render();
	assert_null(strstr(text, "iotpipe_nobody_total"));
	free(text);
}

/* Trimmed from a real librdkafka 2.0 consumer document. */
static const char consumer_doc[] =
	"{\"name\":\"rdkafka#consumer-1\",\"client_id\":\"rdkafka\",\"type\":\"consumer\","
	"\"ts\":1,\"time\":2,\"replyq\":3,\"msg_cnt\":0,\"msg_size\":0,"
	"\"tx\":10,\"tx_bytes\":1234,\"rx\":11,\"rx_bytes\":56789,"
	"\"brokers\":{"
	"\"127.0.0.1:9092/bootstrap\":{\"name\":\"127.0.0.1:9092/bootstrap\",\"nodeid\":-1,"
	"\"source\":\"configured\",\"rtt\":{\"min\":0,\"avg\":0,\"p99\":0}},"
	"\"127.0.0.1:9092/1\":{\"name\":\"127.0.0.1:9092/1\",\"nodeid\":1,\"source\":\"learned\","
	"\"state\":\"UP\",\"int_latency\":{\"avg\":5},"
	"\"rtt\":{\"min\":100,\"max\":9000,\"avg\":2500,\"p50\":2000,\"p99\":8000,\"cnt\":12},"
	"\"toppars\":{\"t-0\":{\"topic\":\"t\",\"partition\":0}}},"
	"\"GroupCoordinator\":{\"name\":\"GroupCoordinator\",\"nodeid\":1,\"source\":\"logical\","
	"\"rtt\":{\"avg\":77,\"p99\":88}}},"
	"\"topics\":{\"t\\\"q\":{\"topic\":\"t\\\"q\",\"age\":5,\"partitions\":{"
	"\"0\":{\"partition\":0,\"fetchq_cnt\":7,\"consumer_lag\":42,\"hi_offset\":100},"
	"\"1\":{\"partition\":1,\"fetchq_cnt\":2,\"consumer_lag\":-1},"
	"\"-1\":{\"partition\":-1,\"fetchq_cnt\":0,\"consumer_lag\":-1}}}},"
	"\"cgrp\":{\"state\":\"up\",\"assignment_size\":2},\"eos\":[1,2,{\"x\":[]}]}";

static double gauge(const char *name, const char *labels)
{
	size_t found = 0;
	double v = metrics_sum(name, labels, &found);
	assert_int_equal(found, 1);
	return v;
}

static void test_stats_consumer(void **state)
{
	size_t found;
	(void)state;

	assert_int_equal(kafka_stats_update(consumer_doc, strlen(consumer_doc), "archive"), 0);
	assert_true(gauge("iotpipe_kafka_consumer_lag_records",
			  "client=\"archive\",topic=\"t\\\"q\",partition=\"0\"") == 42.0);
	/* unknown lag (-1) and the unassigned partition are not exported */
	metrics_sum("iotpipe_kafka_consumer_lag_records", NULL, &found);
	assert_int_equal(found, 1);
	assert_true(gauge("iotpipe_kafka_broker_rtt_avg_seconds",
			  "client=\"archive\",broker=\"127.0.0.1:9092/1\"") == 0.0025);
	assert_true(gauge("iotpipe_kafka_broker_rtt_p99_seconds", "client=\"archive\"") == 0.008);
	metrics_sum("iotpipe_kafka_broker_rtt_avg_seconds", NULL, &found);
	assert_int_equal(found, 1); /* no bootstrap, no GroupCoordinator */
	assert_true(gauge("iotpipe_kafka_reply_queue_ops", "client=\"archive\"") == 3.0);
	assert_true(gauge("iotpipe_kafka_fetch_queue_messages", "client=\"archive\"") == 9.0);
	assert_true(gauge("iotpipe_kafka_transmitted_bytes_total", "client=\"archive\"") == 1234.0);
	assert_true(gauge("iotpipe_kafka_received_bytes_total", "client=\"archive\"") == 56789.0);
}

static void test_stats_producer_and_garbage(void **state)
{
	static const char doc[] = "{\"type\":\"producer\",\"msg_cnt\":17,\"replyq\":0,"
				  "\"brokers\":{},\"topics\":{}}";
	static const char *const bad[] = { "", "[1,2]", "{\"msg_cnt\":", "nonsense", "{\"a\":\"\\" };
	size_t found;
	(void)state;

	assert_int_equal(kafka_stats_update(doc, strlen(doc), "produce"), 0);
	assert_true(gauge("iotpipe_kafka_queue_messages", "client=\"produce\"") == 17.0);
	metrics_sum("iotpipe_kafka_fetch_queue_messages", NULL, &found);
	assert_int_equal(found, 0); /* consumers only */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kafka_stats_update(bad[i], strlen(bad[i]), "x"), -1);
	metrics_sum("iotpipe_kafka_queue_messages", "client=\"x\"", &found);
	assert_int_equal(found, 0);
}

static void test_status_format(void **state)
{
	struct status_sample prev, cur;
	char line[512];
	(void)state;

	memset(&prev, 0, sizeof(prev));
	memset(&cur, 0, sizeof(cur));
	cur.produced = 25000;
	cur.delivery_errors = 2;
	cur.consumed[0] = 1000;
	cur.consumed[1] = 500;
	cur.lag[0] = 12;
	cur.lag[1] = 3;
	cur.files[0] = 4;
	cur.bytes[0] = 2.5e6;
	cur.files[1] = 6;
	cur.watermark = 1735689600; /* 2025-01-01T00:00:00Z */
	cur.now = 1735689630;
	cur.late = 7;
	cur.windows = 9;
	status_format(line, sizeof(line), STATUS_PRODUCE | STATUS_ARCHIVE | STATUS_AGGREGATE, &cur,
		      &prev, 10);
	assert_string_equal(line,
			    "produced 25.0k (2500/s), errors 2 | archive 100/s, lag 12, files 4, 2.5MB"
			    " | aggregate 50/s, lag 3, watermark 00:00:00Z (-30s), late 7, windows 9, files 6");
	status_format(line, sizeof(line), STATUS_AGGREGATE, &prev, &prev, 1);
	assert_string_equal(line, "aggregate 0/s, lag 0, watermark -, late 0, windows 0, files 0");
	/* more than a day away: the date too; ahead of now: +Ns */
	cur.now = 1735689600 - 45;
	status_format(line, sizeof(line), STATUS_AGGREGATE, &cur, &prev, 10);
	assert_non_null(strstr(line, "watermark 00:00:00Z (+45s),"));
	cur.now = 1735689600 + 2 * 86400;
	status_format(line, sizeof(line), STATUS_AGGREGATE, &cur, &prev, 10);
	assert_non_null(strstr(line, "watermark 2025-01-01T00:00:00Z (-172800s),"));
	/* past year 9999 (no date to print) */
	cur.watermark = 1e300; /* beyond time_t too */
	status_format(line, sizeof(line), STATUS_AGGREGATE, &cur, &prev, 10);
	assert_non_null(strstr(line, "watermark after 9999 (+"));
	/* a short buffer is cut, never overrun */
	status_format(line, 16, STATUS_PRODUCE | STATUS_ARCHIVE, &cur, &prev, 1);
	assert_int_equal(strlen(line), 15);
}

static void test_status_reads_registry(void **state)
{
	struct status_sample s;
	(void)state;

	metric_add(metrics_counter("iotpipe_events_produced_total", "P.", "kind=\"valid\""), 5);
	metric_add(metrics_counter("iotpipe_events_produced_total", "P.", "kind=\"late\""), 2);
	metric_set(metrics_gauge("iotpipe_consumer_lag_records", "L.", "job=\"aggregate\",partition=\"0\""), 4);
	metric_set(metrics_gauge("iotpipe_consumer_lag_records", "L.", "job=\"aggregate\",partition=\"1\""), 6);
	metric_set(metrics_gauge("iotpipe_consumer_lag_records", "L.", "job=\"archive\",partition=\"1\""), 100);
	status_sample_read(&s);
	assert_true(s.produced == 7.0);
	assert_true(s.lag[1] == 10.0);
	assert_true(s.lag[0] == 100.0);
	assert_true(s.now > 1.7e9);
}

/* The value of the unlabelled sample `name` in text; fails if absent. */
static double sample(const char *text, const char *name)
{
	char needle[128];
	const char *p;
	snprintf(needle, sizeof(needle), "\n%s ", name);
	p = strstr(text, needle);
	assert_non_null(p);
	return strtod(p + strlen(needle), NULL);
}

static void test_process_standard_names(void **state)
{
	struct rlimit rl;
	char *text;
	double now = (double)time(NULL);
	(void)state;

	metrics_register_process();
	text = render();
	assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
	assert_non_null(strstr(text, "# TYPE process_start_time_seconds gauge\n"));
	assert_true(sample(text, "process_cpu_seconds_total") > 0);
	assert_true(sample(text, "process_resident_memory_bytes") > 1 << 20);
	assert_true(sample(text, "process_virtual_memory_bytes") >=
		    sample(text, "process_resident_memory_bytes"));
	assert_true(sample(text, "iotpipe_process_max_resident_memory_bytes") >=
		    sample(text, "process_resident_memory_bytes"));
	assert_true(sample(text, "process_open_fds") >= 3); /* stdio */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(sample(text, "process_max_fds") == (double)rl.rlim_cur);
	/* this test binary started moments ago (a slow sanitizer start-up
	 * included); a start time read wrongly is off by years or by the
	 * uptime */
	assert_true(sample(text, "process_start_time_seconds") <= now + 1);
	assert_true(sample(text, "process_start_time_seconds") > now - 120);
	/* one name per value: no prefixed copies of the standard set */
	assert_null(strstr(text, "iotpipe_process_cpu_seconds_total"));
	assert_null(strstr(text, "iotpipe_process_resident_memory_bytes"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_render_families_once, setup),
		cmocka_unit_test_setup(test_label_escape, setup),
		cmocka_unit_test_setup(test_sum_does_not_register, setup),
		cmocka_unit_test_setup(test_stats_consumer, setup),
		cmocka_unit_test_setup(test_stats_producer_and_garbage, setup),
		cmocka_unit_test_setup(test_status_format, setup),
		cmocka_unit_test_setup(test_status_reads_registry, setup),
		cmocka_unit_test_setup(test_process_standard_names, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
