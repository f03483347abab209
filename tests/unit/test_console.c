/*
 * test_console.c - the web console's building blocks: the bounded history
 * (wraps at its capacity, drops and counts series beyond its limit, hands
 * a client only the samples it has not seen, stays within its memory
 * bound), the ring of recent batches, the JSON writer (every byte string
 * becomes valid JSON: quotes, control characters, invalid UTF-8, '<'),
 * the redaction of configuration values, the histogram quantile, the
 * health states (ok, stalled, degraded, the last error), and the API
 * documents rendered from a registry and a configuration holding hostile
 * values. JSON is checked with jsmn in strict mode (Debian's
 * libjsmn-dev), an independent tokenizer.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include "core/buf.h"
#include "config/config.h"
#include "core/log.h"
#include "metrics/batchlog.h"
#include "metrics/console.h"
#include "metrics/history.h"
#include "metrics/jsonw.h"
#include "metrics/metrics.h"

/* True when s is one valid JSON value (jsmn, strict). */
static bool json_ok(const char *s)
{
	jsmn_parser p;
	size_t cap = 1 << 16;
	jsmntok_t *t = malloc(cap * sizeof(*t));
	int n;

	jsmn_init(&p);
	n = jsmn_parse(&p, s, strlen(s), t, (unsigned)cap);
	free(t);
	return n > 0;
}

static char *str_of(struct buf *b)
{
	size_t len;
	buf_putc(b, '\0');
	return buf_detach(b, &len);
}

static void test_history_wraps_at_capacity(void **state)
{
	struct history *h = history_create(5, 4);
	double v[8];
	(void)state;

	for (int i = 1; i <= 12; i++) {
		struct history_value hv[] = { { "a", i }, { "b", i * 10.0 } };
		history_push(h, 1000 + i, hv, 2);
	}
	assert_int_equal(history_count(h), 5);
	assert_int_equal(history_seq(h), 12);
	assert_int_equal(history_tail(h, "a", v, 8), 5);
	for (int i = 0; i < 5; i++)
		assert_true(v[i] == 8 + i);
	assert_int_equal(history_tail(h, "nope", v, 8), 0);
	history_destroy(h);
}

static void test_history_since_and_nulls(void **state)
{
	struct history *h = history_create(10, 4);
	struct buf b = BUF_INIT;
	char *s;
	(void)state;

	for (int i = 1; i <= 4; i++) {
		struct history_value hv[] = { { "x", i == 2 ? NAN : i }, { "late", 7 } };
		history_push(h, 100 + i, hv, i < 3 ? 1 : 2);
	}
	history_render_json(h, 0, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"seq\":4"));
	assert_non_null(strstr(s, "\"x\":[1,null,3,4]"));
	/* a series that appears later is null before it */
	assert_non_null(strstr(s, "\"late\":[null,null,7,7]"));
	free(s);
	history_render_json(h, 3, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"t\":[104.000]"));
	assert_non_null(strstr(s, "\"x\":[4]"));
	free(s);
	/* nothing new: empty arrays, still valid */
	history_render_json(h, 4, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"t\":[]"));
	free(s);
	history_destroy(h);
}

static void test_history_bounded_series(void **state)
{
	struct history *h = history_create(900, 3);
	struct history_value hv[5];
	char names[5][16];
	struct buf b = BUF_INIT;
	char *s;
	(void)state;

	for (int i = 0; i < 5; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d", i);
		hv[i] = (struct history_value){ names[i], i };
	}
	for (int k = 0; k < 2000; k++)
		history_push(h, k, hv, 5);
	assert_true(history_memory_bytes(h) <= history_bound_bytes(h));
	/* 3 series of 900 doubles plus the times: the bound is that, plus
	 * bookkeeping */
	assert_true(history_bound_bytes(h) < 4 * 900 * sizeof(double) + 1024);
	history_render_json(h, 0, &b);
	s = str_of(&b);
	assert_non_null(strstr(s, "\"dropped\":4000"));
	assert_null(strstr(s, "\"s3\""));
	assert_true(json_ok(s));
	free(s);
	history_destroy(h);
	history_destroy(NULL);
}

static void test_batchlog_ring(void **state)
{
	struct batch_record out[BATCHLOG_CAPACITY + 5];
	size_t n;
	(void)state;

	batchlog_reset();
	for (int i = 0; i < BATCHLOG_CAPACITY + 7; i++)
		batchlog_push("a-very-long-job-name-indeed",
			      &(struct batch_record){ .partition = i % 4, .batch = (uint64_t)i,
						      .start = i * 10, .end = i * 10 + 10 });
	n = batchlog_copy(out, BATCHLOG_CAPACITY + 5);
	assert_int_equal(n, BATCHLOG_CAPACITY);
	assert_int_equal(out[0].batch, BATCHLOG_CAPACITY + 6); /* newest first */
	assert_int_equal(out[n - 1].batch, 7);
	assert_string_equal(out[0].job, "a-very-long-job"); /* cut, terminated */
	assert_true(out[0].time > 0);
	assert_int_equal(batchlog_total(), BATCHLOG_CAPACITY + 7);
	assert_int_equal(batchlog_copy(out, 2), 2);
	batchlog_reset();
	assert_int_equal(batchlog_copy(out, 2), 0);
}

static void test_jsonw_escapes_anything(void **state)
{
	struct buf b = BUF_INIT;
	char *s;
	const char weird[] = "q\"b\\s\n\t\x01\x7f<script>&\xff\xc3\x28 \xe2\x82\xac \xed\xa0\x80 ok";
	(void)state;

	buf_putc(&b, '[');
	jsonw_strn(&b, weird, sizeof(weird) - 1);
	buf_putc(&b, ',');
	jsonw_strn(&b, "nul\0inside", 10);
	buf_putc(&b, ',');
	jsonw_str(&b, NULL);
	buf_putc(&b, ',');
	jsonw_num(&b, NAN);
	buf_putc(&b, ',');
	jsonw_num(&b, INFINITY);
	buf_putc(&b, ',');
	jsonw_num(&b, 0.1);
	buf_putc(&b, ',');
	jsonw_num(&b, 12345678901.0);
	buf_putc(&b, ',');
	jsonw_num6(&b, 3.14159265358979);
	buf_putc(&b, ']');
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "q\\\"b\\\\s\\n\\t\\u0001\\u007f\\u003cscript\\u003e\\u0026"));
	/* 0xff and the bad 0xc3 0x28 pair: U+FFFD, then the '(' kept */
	assert_non_null(strstr(s, "\\ufffd\\ufffd("));
	assert_non_null(strstr(s, "\xe2\x82\xac")); /* valid UTF-8 passes */
	assert_non_null(strstr(s, "\\ufffd\\ufffd\\ufffd ok")); /* a surrogate is not */
	assert_non_null(strstr(s, "\"nul\\u0000inside\""));
	assert_non_null(strstr(s, ",null,null,null,0.1,12345678901,3.14159]"));
	free(s);
}

static void test_redact(void **state)
{
	char out[256];
	(void)state;

	assert_true(console_redact("streaming_config.librdkafka.sasl.password", "hunter2", out,
				   sizeof(out)));
	assert_string_equal(out, "***");
	assert_true(console_redact("x.ssl.key.password", "p", out, sizeof(out)));
	assert_true(console_redact("x.sasl.oauthbearer.client.secret", "p", out, sizeof(out)));
	assert_true(console_redact("x.sasl.jaas.config", "p", out, sizeof(out)));
	assert_false(console_redact("x.sasl.password", "", out, sizeof(out)));
	assert_true(console_redact("AWS_ENDPOINT_URL_S3", "http://user:pw@host:9000/", out,
				   sizeof(out)));
	assert_null(strstr(out, "pw"));
	assert_false(console_redact("producer_config.kafka.topic", "device_topic", out, sizeof(out)));
	assert_string_equal(out, "device_topic");
}

static void test_quantile(void **state)
{
	const double bounds[] = { 1, 2, 4 };
	uint64_t c[4] = { 0, 10, 0, 0 };
	(void)state;

	assert_true(isnan(console_quantile(0.5, bounds, 3, (uint64_t[4]){ 0 })));
	/* all in (1, 2]: linear within the bucket */
	assert_true(fabs(console_quantile(0.5, bounds, 3, c) - 1.5) < 1e-9);
	assert_true(fabs(console_quantile(1.0, bounds, 3, c) - 2.0) < 1e-9);
	/* in +Inf: the highest finite bound */
	c[1] = 0;
	c[3] = 5;
	assert_true(console_quantile(0.99, bounds, 3, c) == 4);
}

static void test_config_rendered_redacted_and_escaped(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct buf b = BUF_INIT;
	char *s;
	(void)state;

	config_init(&cfg);
	kv_list_add(&cfg.streaming.kafka, "sasl.password", "s3cr3t-value", "--kafka");
	kv_list_add(&cfg.streaming.kafka, "client.id", "a\"b\\c\n<x>\x01\xff", "--kafka");
	assert_int_equal(config_set(&cfg, "streaming.kafka.KAFKA_BOOTSTRAP_SERVERS",
				    "broker:9092", "test", &err), IOT_OK);
	console_config_capture(&cfg);
	console_note("archive.output", "s3://bucket/raw/");
	console_note("archive.output", "s3://bucket/raw2/"); /* replaces */
	console_render_config(&b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_null(strstr(s, "s3cr3t"));
	assert_non_null(strstr(s, "\"streaming_config.librdkafka.sasl.password\",\"value\":\"***\""));
	assert_non_null(strstr(s, "broker:9092"));
	free(s);
	console_render_status(&b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"archive.output\":\"s3://bucket/raw2/\""));
	assert_non_null(strstr(s, "\"health\":{\"state\":\"ok\""));
	free(s);
	config_release(&cfg);
	console_reset();
}

static void test_sample_and_status_from_registry(void **state)
{
	struct history *h = history_create(CONSOLE_SAMPLES, CONSOLE_SERIES_MAX);
	struct metric *consumed, *bad, *lag, *lat;
	const double lb[] = { 0.1, 1, 10 };
	struct buf b = BUF_INIT;
	double v[4];
	char *s;
	(void)state;

	metrics_reset();
	consumed = metrics_counter("iotpipe_events_consumed_total", "c", "job=\"archive\"");
	bad = metrics_counter("iotpipe_events_invalid_total", "i",
			      "job=\"archive\",reason=\"not_json\"");
	metrics_counter("iotpipe_events_invalid_total", "i", "job=\"archive\",reason=\"bad_enum\"");
	lag = metrics_gauge("iotpipe_consumer_lag_records", "l", "job=\"archive\",partition=\"3\"");
	lat = metrics_histogram("iotpipe_event_latency_seconds", "l", "job=\"archive\"", lb, 3);
	console_sample(h);
	metric_add(consumed, 500);
	metric_add(bad, 5);
	metric_set(lag, 42);
	for (int i = 0; i < 100; i++)
		metric_observe(lat, 0.5);
	console_sample(h);
	assert_int_equal(history_tail(h, "archive.lag.3", v, 1), 1);
	assert_true(v[0] == 42);
	assert_int_equal(history_tail(h, "archive.consumed_per_s", v, 2), 2);
	assert_true(isnan(v[0]) && v[1] > 0);
	/* a reason gets a series once it occurs, not before */
	assert_int_equal(history_tail(h, "archive.invalid_per_s.bad_enum", v, 1), 0);
	assert_int_equal(history_tail(h, "archive.latency_p50_s", v, 1), 1);
	assert_true(v[0] > 0.1 && v[0] <= 1);
	/* no aggregate, no producer in this registry: no series for them */
	assert_int_equal(history_tail(h, "aggregate.consumed_per_s", v, 1), 0);
	assert_int_equal(history_tail(h, "produce.produced_per_s", v, 1), 0);
	history_render_json(h, 0, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"archive.invalid_per_s.not_json\":[null,"));
	free(s);
	console_render_status(&b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"jobs\":[{\"name\":\"archive\",\"consumed_total\":500"));
	assert_non_null(strstr(s, "\"lag\":[{\"partition\":3,\"records\":42}]"));
	assert_non_null(strstr(s, "\"producer\":null"));
	free(s);
	batchlog_push("archive", &(struct batch_record){ .partition = 1, .batch = 9, .rows = 3,
							  .seconds = 0.25, .replayed = true });
	console_render_batches(&b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"partition\":1,\"batch\":9"));
	assert_non_null(strstr(s, "\"replayed\":true"));
	free(s);
	history_destroy(h);
	batchlog_reset();
	console_reset();
	metrics_reset();
}

/* Health from the history and the registry: stalled, degraded, the last
 * error. */
static void test_health(void **state)
{
	struct history *h = history_create(CONSOLE_SAMPLES, CONSOLE_SERIES_MAX);
	struct metric *lag;
	struct buf b = BUF_INIT;
	char *s;
	(void)state;

	metrics_reset();
	metrics_counter("iotpipe_events_consumed_total", "c", "job=\"aggregate\"");
	lag = metrics_gauge("iotpipe_consumer_lag_records", "l", "job=\"aggregate\",partition=\"0\"");
	for (int i = 0; i < 40; i++) {
		struct history_value hv[] = { { "aggregate.consumed_per_s", i < 5 ? 100 : 0 },
					      { "s3.errors_per_s", 0 } };
		history_push(h, 1000 + i, hv, 2);
	}
	/* read nothing for 35 s, but nothing waits either: ok */
	console_status_render(h, &b);
	s = str_of(&b);
	assert_non_null(strstr(s, "\"health\":{\"state\":\"ok\",\"reasons\":[]}"));
	free(s);
	/* records wait: stalled, with the job named */
	metric_set(lag, 12);
	console_status_render(h, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"state\":\"stalled\""));
	assert_non_null(strstr(s, "aggregate read nothing in 30 s with 12 records waiting"));
	free(s);
	/* S3 errors in the last minute: degraded, unless worse */
	metric_set(lag, 0);
	{
		struct history_value hv[] = { { "aggregate.consumed_per_s", 50 },
					      { "s3.errors_per_s", 3 } };
		history_push(h, 1041, hv, 2);
	}
	log_warn("store", "a warning with \"quotes\" and http://user:pw@host/");
	console_status_render(h, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	assert_non_null(strstr(s, "\"state\":\"degraded\""));
	assert_non_null(strstr(s, "S3 requests failed in the last minute (3)"));
	assert_non_null(strstr(s, "\"level\":\"warn\",\"component\":\"store\""));
	assert_non_null(strstr(s, "with \\\"quotes\\\""));
	assert_null(strstr(s, "pw@"));
	free(s);
	/* a logged error is a reason of its own */
	log_error("archive", "boom");
	console_status_render(h, &b);
	s = str_of(&b);
	assert_non_null(strstr(s, "an error was logged"));
	assert_non_null(strstr(s, "\"level\":\"error\",\"component\":\"archive\",\"message\":\"boom\""));
	free(s);
	/* no history at all (before the sampler's start): still a document */
	console_status_render(NULL, &b);
	s = str_of(&b);
	assert_true(json_ok(s));
	free(s);
	history_destroy(h);
	metrics_reset();
}

static void test_routes(void **state)
{
	struct console_reply r;
	(void)state;

	assert_true(console_route("/", NULL, &r));
	assert_int_equal(r.status, 200);
	assert_true(r.is_static);
	assert_non_null(strstr(r.type, "text/html"));
	assert_non_null(memmem(r.body, r.len, "app.js", 6));
	assert_true(console_route("/app.js", NULL, &r));
	assert_non_null(strstr(r.type, "javascript"));
	assert_true(console_route("/app.css", NULL, &r));
	assert_true(console_route("/favicon.ico", NULL, &r));
	assert_false(console_route("/nope", NULL, &r));
	assert_false(console_route("/api/nope", NULL, &r));
	assert_true(console_route("/api/history", "12x", &r));
	assert_int_equal(r.status, 400);
	free(r.body);
	assert_true(console_route("/api/history", "-1", &r));
	assert_int_equal(r.status, 400);
	free(r.body);
	assert_true(console_route("/api/history", NULL, &r));
	assert_int_equal(r.status, 200);
	assert_true(r.no_store);
	free(r.body);
	console_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_wraps_at_capacity),
		cmocka_unit_test(test_history_since_and_nulls),
		cmocka_unit_test(test_history_bounded_series),
		cmocka_unit_test(test_batchlog_ring),
		cmocka_unit_test(test_jsonw_escapes_anything),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_config_rendered_redacted_and_escaped),
		cmocka_unit_test(test_sample_and_status_from_registry),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
