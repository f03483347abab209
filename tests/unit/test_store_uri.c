/*
 * test_store_uri.c - the pure parts of the storage layer: URI parsing,
 * the retry decisions and full-jitter bounds, S3 environment settings,
 * the XML answers (errors, ListObjectsV2 pages with url-encoded keys) and
 * the clock offset RequestTimeTooSkewed corrects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "store/retry.h"
#include "store/s3.h"
#include "store/store.h"

static void parse_ok(const char *uri, enum store_scheme scheme,
		     const char *bucket, const char *key)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_uri u;

	assert_int_equal(store_uri_parse(uri, &u, &err), IOT_OK);
	assert_int_equal(u.scheme, scheme);
	if (bucket)
		assert_string_equal(u.bucket, bucket);
	else
		assert_null(u.bucket);
	assert_string_equal(u.key, key);
	store_uri_release(&u);
}

static void test_uri_parse(void **state)
{
	(void)state;
	parse_ok("s3://b/k", STORE_SCHEME_S3, "b", "k");
	parse_ok("s3a://b/a/b=c/d e.parquet", STORE_SCHEME_S3, "b",
		 "a/b=c/d e.parquet");
	parse_ok("s3://bucket", STORE_SCHEME_S3, "bucket", "");
	parse_ok("s3://bucket/", STORE_SCHEME_S3, "bucket", "");
	parse_ok("s3://bucket/prefix/", STORE_SCHEME_S3, "bucket", "prefix/");
	parse_ok("file:///tmp/x", STORE_SCHEME_LOCAL, NULL, "/tmp/x");
	parse_ok("file://localhost/tmp/x", STORE_SCHEME_LOCAL, NULL, "/tmp/x");
	parse_ok("/abs/p", STORE_SCHEME_LOCAL, NULL, "/abs/p");
	parse_ok("rel/p", STORE_SCHEME_LOCAL, NULL, "rel/p");
	parse_ok("data/a://b", STORE_SCHEME_LOCAL, NULL, "data/a://b");
	/* RFC 8089's short form, as Hadoop and Spark print it */
	parse_ok("file:/tmp/x", STORE_SCHEME_LOCAL, NULL, "/tmp/x");
	/* a colon in a plain name is still a name */
	parse_ok("run:2025", STORE_SCHEME_LOCAL, NULL, "run:2025");
	parse_ok("data/a:/b", STORE_SCHEME_LOCAL, NULL, "data/a:/b");
}

static void test_uri_parse_errors(void **state)
{
	const char *bad[] = { "", "s3://", "s3:///key", "s3a://",
			      "file://rel/path", "http://host/x", "gs://b/k",
			      /* one slash: a scheme spelled wrong, which was
			       * taken for a relative directory "s3:" */
			      "s3:/bucket/key", "s3a:/b", "hdfs:/x", "file:rel/path" };
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iot_error err = IOT_ERROR_INIT;
		struct store_uri u;
		assert_int_equal(store_uri_parse(bad[i], &u, &err),
				 IOT_ERR_USAGE);
		assert_true(err.msg[0] != '\0');
	}
}

static void test_uri_format(void **state)
{
	struct store_uri u;
	char *s;
	(void)state;

	assert_int_equal(store_uri_parse("s3a://b/k/x", &u, NULL), IOT_OK);
	s = store_uri_format(&u);
	assert_string_equal(s, "s3://b/k/x");
	free(s);
	store_uri_release(&u);
}

static void test_retry_decisions(void **state)
{
	(void)state;
	assert_true(retry_http_retriable(500, ""));
	assert_true(retry_http_retriable(502, NULL));
	assert_true(retry_http_retriable(503, "SlowDown"));
	assert_true(retry_http_retriable(504, ""));
	assert_true(retry_http_retriable(408, ""));
	assert_true(retry_http_retriable(429, ""));
	assert_true(retry_http_retriable(400, "RequestTimeout"));
	assert_true(retry_http_retriable(400, "Throttling"));
	assert_false(retry_http_retriable(400, "InvalidArgument"));
	assert_false(retry_http_retriable(403, "SignatureDoesNotMatch"));
	assert_false(retry_http_retriable(403, "AccessDenied"));
	assert_false(retry_http_retriable(404, "NoSuchBucket"));
	assert_false(retry_http_retriable(412, "PreconditionFailed"));
	assert_false(retry_http_retriable(301, "PermanentRedirect"));
	assert_true(retry_curl_retriable(CURLE_COULDNT_CONNECT));
	assert_true(retry_curl_retriable(CURLE_RECV_ERROR));
	assert_true(retry_curl_retriable(CURLE_OPERATION_TIMEDOUT));
	assert_true(retry_curl_retriable(CURLE_GOT_NOTHING));
	assert_false(retry_curl_retriable(CURLE_URL_MALFORMAT));
	assert_false(retry_curl_retriable(CURLE_PEER_FAILED_VERIFICATION));
}

static void test_retry_full_jitter_bounds(void **state)
{
	struct retry_policy p = { 10, 100, 1000 };
	uint64_t rng = 42;
	unsigned max_seen[8] = { 0 };
	(void)state;

	for (int i = 0; i < 20000; i++)
		for (int a = 1; a <= 6; a++) {
			unsigned d = retry_delay_ms(&p, a, retry_rand(&rng));
			unsigned ceiling = 100u << (a - 1);
			if (ceiling > 1000)
				ceiling = 1000;
			assert_true(d <= ceiling);
			if (d > max_seen[a])
				max_seen[a] = d;
		}
	/* Full jitter reaches (nearly) the ceiling: 100, 200, 400, 800, cap. */
	assert_true(max_seen[1] >= 95);
	assert_true(max_seen[3] >= 380);
	assert_true(max_seen[5] >= 950);
	assert_int_equal(retry_delay_ms(&p, 1, 0), 0);
	/* Huge attempt numbers neither overflow nor pass the cap. */
	assert_true(retry_delay_ms(&p, 60, UINT64_MAX) <= 1000);
}

static void test_s3_config_env(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct s3_config c;
	(void)state;

	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("ENDPOINT_URL");
	unsetenv("AWS_REGION");
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	setenv("AWS_ACCESS_KEY_ID", "AK", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_string_equal(c.endpoint, "https://s3.eu-west-1.amazonaws.com");
	assert_false(c.path_style);
	assert_string_equal(c.region, "eu-west-1");
	s3_config_release(&c);

	setenv("AWS_REGION", "us-west-2", 1);
	setenv("ENDPOINT_URL", "http://localhost:4566/", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_string_equal(c.endpoint, "http://localhost:4566");
	assert_true(c.path_style);
	assert_string_equal(c.region, "us-west-2");
	s3_config_release(&c);

	setenv("AWS_ENDPOINT_URL", "http://a:1", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://b:2", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_string_equal(c.endpoint, "http://b:2");
	s3_config_release(&c);

	setenv("AWS_ENDPOINT_URL_S3", "b:2", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_ERR_CONFIG);
	s3_config_release(&c);
	unsetenv("AWS_ENDPOINT_URL_S3");
	setenv("AWS_MAX_ATTEMPTS", "zero", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "AWS_MAX_ATTEMPTS"));
	assert_null(strstr(err.msg, "SK"));
	s3_config_release(&c);
	unsetenv("AWS_MAX_ATTEMPTS");
}

/* The stall floor and the deadline: defaults, overrides, bad values. */
static void test_s3_config_stall_and_deadline(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct s3_config c;
	(void)state;

	unsetenv("IOTPIPE_S3_STALL_TIMEOUT_S");
	unsetenv("IOTPIPE_S3_STALL_MIN_BPS");
	unsetenv("IOTPIPE_S3_REQUEST_TIMEOUT_S");
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_int_equal(c.stall_timeout_s, 30);
	assert_int_equal(c.stall_min_bps, 1024);
	assert_int_equal(c.request_timeout_s, 600);
	s3_config_release(&c);

	setenv("IOTPIPE_S3_STALL_MIN_BPS", "4096", 1);
	setenv("IOTPIPE_S3_REQUEST_TIMEOUT_S", "5", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_int_equal(c.stall_min_bps, 4096);
	assert_int_equal(c.request_timeout_s, 5);
	s3_config_release(&c);

	setenv("IOTPIPE_S3_STALL_MIN_BPS", "0", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "IOTPIPE_S3_STALL_MIN_BPS=0"));
	s3_config_release(&c);
	unsetenv("IOTPIPE_S3_STALL_MIN_BPS");

	setenv("IOTPIPE_S3_REQUEST_TIMEOUT_S", "1h", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "IOTPIPE_S3_REQUEST_TIMEOUT_S=1h"));
	s3_config_release(&c);
	unsetenv("IOTPIPE_S3_REQUEST_TIMEOUT_S");

	/* outage patience: the command's default, the environment over it */
	unsetenv("IOTPIPE_S3_OUTAGE_RETRY_S");
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_true(c.outage_s == 0);
	s3_config_release(&c);
	store_set_outage_patience(-1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_true(c.outage_s < 0);
	s3_config_release(&c);
	setenv("IOTPIPE_S3_OUTAGE_RETRY_S", "0", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_true(c.outage_s == 0);
	s3_config_release(&c);
	setenv("IOTPIPE_S3_OUTAGE_RETRY_S", "120", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_OK);
	assert_true(c.outage_s == 120);
	s3_config_release(&c);
	setenv("IOTPIPE_S3_OUTAGE_RETRY_S", "-2", 1);
	assert_int_equal(s3_config_from_env(&c, &err), IOT_ERR_CONFIG);
	s3_config_release(&c);
	unsetenv("IOTPIPE_S3_OUTAGE_RETRY_S");
	store_set_outage_patience(0);
}

static void test_xml_error(void **state)
{
	const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
			"<Code>NoSuchKey</Code><Message>The resource you "
			"requested\ndoes not exist</Message><Resource>/b/k"
			"</Resource></Error>";
	char code[64], msg[128];
	(void)state;

	s3_xml_error(x, strlen(x), code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "NoSuchKey");
	assert_string_equal(msg, "The resource you requested does not exist");
	s3_xml_error("<html>oops", 10, code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "");
	s3_xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(msg, "");
}

struct seen {
	int n;
	char keys[4][128];
	uint64_t sizes[4];
};

static int on_key(void *opaque, const char *key, const struct store_stat *st)
{
	struct seen *s = opaque;
	if (s->n < 4) {
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
		s->sizes[s->n] = st->size;
	}
	s->n++;
	return 0;
}

static void test_xml_list_page(void **state)
{
	const char *x =
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><Prefix>a%3D1/</Prefix><EncodingType>url</EncodingType>"
		"<IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>tok/+=</NextContinuationToken>"
		"<Contents><Key>a%3D1/x+y%25.txt</Key><LastModified>"
		"2025-01-01T10:00:00.000Z</LastModified><ETag>&quot;abc&quot;"
		"</ETag><Size>12</Size></Contents>"
		"<Contents><Key>a%3D1/%C3%A9</Key><Size>3</Size></Contents>"
		"</ListBucketResult>";
	struct seen s = { 0 };
	bool truncated, stopped;
	char *next;
	(void)state;

	assert_int_equal(s3_xml_list_page(x, strlen(x), on_key, &s, &truncated,
					  &next, &stopped, NULL), IOT_OK);
	assert_true(truncated);
	assert_false(stopped);
	assert_string_equal(next, "tok/+=");
	free(next);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[0], "a=1/x y%.txt");
	assert_int_equal(s.sizes[0], 12);
	assert_string_equal(s.keys[1], "a=1/\xc3\xa9");
	assert_int_equal(s3_xml_list_page("<Error/>", 8, on_key, &s, &truncated,
					  &next, &stopped, NULL),
			 IOT_ERR_FORMAT);
	assert_int_equal(s3_xml_list_page("<Other/>", 8, on_key, &s, &truncated,
					  &next, &stopped, NULL),
			 IOT_ERR_FORMAT);
	assert_int_equal(s3_xml_list_page("<<<", 3, on_key, &s, &truncated,
					  &next, &stopped, NULL),
			 IOT_ERR_FORMAT);
}

/* A 200 answer carrying S3's <Error>: the error says S3's code and
 * message, not only that the answer was not a listing. */
static void test_xml_list_page_error_body(void **state)
{
	const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
			"<Code>AccessDenied</Code><Message>Access\nDenied</Message>"
			"</Error>";
	struct iot_error err = IOT_ERROR_INIT;
	struct seen s = { 0 };
	bool truncated, stopped;
	char *next;
	(void)state;

	assert_int_equal(s3_xml_list_page(x, strlen(x), on_key, &s, &truncated,
					  &next, &stopped, &err),
			 IOT_ERR_FORMAT);
	assert_string_equal(err.msg, "ListObjectsV2: the server answered 200 "
				     "with an error: AccessDenied: Access Denied");
	assert_int_equal(s.n, 0);
	assert_int_equal(s3_xml_list_page("<Error/>", 8, on_key, &s, &truncated,
					  &next, &stopped, &err),
			 IOT_ERR_FORMAT);
	assert_string_equal(err.msg, "ListObjectsV2: the server answered 200 "
				     "with an error: (no Code)");
}

static void test_xml_find(void **state)
{
	const char *x = "<InitiateMultipartUploadResult><Bucket>b</Bucket>"
			"<UploadId>VXBsb2FkSUQ=</UploadId>"
			"</InitiateMultipartUploadResult>";
	char *id;
	(void)state;

	id = s3_xml_find(x, strlen(x), "UploadId");
	assert_string_equal(id, "VXBsb2FkSUQ=");
	free(id);
	assert_null(s3_xml_find(x, strlen(x), "Nope"));
	assert_null(s3_xml_find("junk", 4, "UploadId"));
}

static void test_server_time(void **state)
{
	const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
			"<Code>RequestTimeTooSkewed</Code><Message>too large</Message>"
			"<RequestTime>20251203T163000Z</RequestTime>"
			"<ServerTime>2025-12-03T18:30:00Z</ServerTime>"
			"<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>";
	int64_t t = -1;
	(void)state;

	/* the Date header first, as the SDKs */
	assert_true(s3_server_time("Wed, 03 Dec 2025 18:31:00 GMT", x, strlen(x), &t));
	assert_int_equal(t, 1764786660);
	/* else S3's ServerTime (with or without milliseconds) */
	assert_true(s3_server_time(NULL, x, strlen(x), &t));
	assert_int_equal(t, 1764786600);
	assert_true(s3_server_time("garbage", x, strlen(x), &t));
	assert_int_equal(t, 1764786600);
	{
		const char *ms = "<Error><ServerTime>2025-12-03T18:30:00.123Z</ServerTime></Error>";
		assert_true(s3_server_time("", ms, strlen(ms), &t));
		assert_int_equal(t, 1764786600);
	}
	/* neither: nothing to correct by */
	t = 7;
	assert_false(s3_server_time(NULL, "<Error><Code>X</Code></Error>", 29, &t));
	assert_false(s3_server_time("", NULL, 0, &t));
	assert_false(s3_server_time(NULL, "<Error><ServerTime>soon</ServerTime></Error>", 44,
				    &t));
	assert_int_equal(t, 7);
}

static void test_clock_correct(void **state)
{
	const int64_t now = 1764780000;
	bool applied;
	(void)state;

	assert_int_equal(s3_clock_offset(), 0);
	/* the server is 2 h ahead: the offset becomes +7200, send again */
	assert_true(s3_clock_correct(0, now + 7200, now, &applied));
	assert_true(applied);
	assert_int_equal(s3_clock_offset(), 7200);
	/* another attempt signed with the old offset, refused meanwhile:
	 * corrected already, send again, no second correction (nor log) */
	assert_true(s3_clock_correct(0, now + 7201, now, &applied));
	assert_false(applied);
	assert_int_equal(s3_clock_offset(), 7200);
	/* refused though signed with the server's clock (to its Date's
	 * second): not the clock, nothing to correct, not sent again */
	assert_false(s3_clock_correct(7200, now + 7201, now, &applied));
	assert_false(applied);
	assert_false(s3_clock_correct(7200, now + 7199, now, &applied));
	assert_int_equal(s3_clock_offset(), 7200);
	/* the clock moved again (or the first answer was wrong): corrected
	 * again, either way */
	assert_true(s3_clock_correct(7200, now - 300, now, &applied));
	assert_true(applied);
	assert_int_equal(s3_clock_offset(), -300);
	assert_true(s3_clock_correct(-300, now, now, &applied));
	assert_int_equal(s3_clock_offset(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_uri_parse_errors),
		cmocka_unit_test(test_uri_format),
		cmocka_unit_test(test_retry_decisions),
		cmocka_unit_test(test_retry_full_jitter_bounds),
		cmocka_unit_test(test_s3_config_env),
		cmocka_unit_test(test_s3_config_stall_and_deadline),
		cmocka_unit_test(test_xml_error),
		cmocka_unit_test(test_xml_list_page),
		cmocka_unit_test(test_xml_list_page_error_body),
		cmocka_unit_test(test_xml_find),
		cmocka_unit_test(test_server_time),
		cmocka_unit_test(test_clock_correct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
