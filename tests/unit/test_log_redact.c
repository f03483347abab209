/*
 * test_log_redact.c - redact_urls() over URLs with and without
 * credentials, truncation and several URLs in one text; the logger's
 * rate limiter (lines let through per second, the count of suppressed
 * lines, the flush) with stderr redirected to a temporary file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/log.h"
#include "core/redact.h"

static void check(const char *in, const char *want)
{
	char out[256];

	assert_int_equal(redact_urls(out, sizeof(out), in), strlen(want));
	assert_string_equal(out, want);
}

static void test_redact(void **state)
{
	(void)state;
	check("http://127.0.0.1:9000", "http://127.0.0.1:9000");
	check("http://user:pass@host:9000/b?x=1", "http://user:***@host:9000/b?x=1");
	check("at https://tok@host/", "at https://***@host/");
	check("'ftp://u:p@h': bad", "'ftp://u:***@h': bad");
	check("a http://u:p:q@h b http://h/@x c s3://k:s@b/",
	      "a http://u:***@h b http://h/@x c s3://k:***@b/");
	check("user@example.org, no scheme", "user@example.org, no scheme");
	check("http://u:p@w@h/", "http://u:***@h/");
	/* what the S3 client takes for credentials (all up to the first
	 * '/') is redacted, whatever characters the password holds */
	check("http://u:pa?ss@h/x", "http://u:***@h/x");
	check("http://u:pa#ss@h", "http://u:***@h");
	check("'s3://AK:se<cr>\"et@h'", "'s3://AK:***@h'");
	check("", "");
	check("x://", "x://");
}

static void test_redact_truncates(void **state)
{
	char out[12];

	(void)state;
	redact_urls(out, sizeof(out), "http://u:longpassword@h");
	assert_string_equal(out, "http://u:**");
	redact_urls(out, 1, "abc");
	assert_string_equal(out, "");
}

static void test_error_messages_redacted(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	iot_error_set(&err, IOT_ERR_NET, "at %s", "http://a:secret@h:1");
	assert_string_equal(err.msg, "at http://a:***@h:1");
	iot_error_prefix(&err, "endpoint %s", "https://b:secret2@h");
	assert_string_equal(err.msg, "endpoint https://b:***@h: at http://a:***@h:1");
}

/* Runs fn with stderr going to a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/iotpipe-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *text = calloc(1, 65536);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && text);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, text, 65535);
	assert_true(n >= 0);
	close(fd);
	return text;
}

static size_t count(const char *text, const char *needle)
{
	size_t c = 0;
	for (const char *p = text; (p = strstr(p, needle)); p++)
		c++;
	return c;
}

static struct log_ratelimit rl = LOG_RATELIMIT_INIT(3);

static void flood(void)
{
	for (int i = 0; i < 100; i++)
		log_msg_limited(&rl, LOG_WARN, "t", "line %d", i);
	log_ratelimit_flush(&rl, "t");
	log_ratelimit_flush(&rl, "t"); /* nothing left: no line */
	log_msg_limited(&rl, LOG_DEBUG, "t", "below the level");
}

static void flood_json(void)
{
	log_set_json(true);
	log_msg(LOG_WARN, "t", "bad \xff\xc3\x28 ok \xc3\xa9 \n \x01 \"q\" http://u:pw@h/");
	log_set_json(false);
	log_msg(LOG_WARN, "t", "two\nlines\r");
}

static void test_ratelimit(void **state)
{
	char *text;

	(void)state;
	log_set_level(LOG_INFO);
	text = capture_stderr(flood);
	/* 100 lines within a second: 3 pass, one count of the 97 others */
	assert_int_equal(count(text, "line "), 3);
	assert_int_equal(count(text, "97 similar lines suppressed"), 1);
	assert_int_equal(count(text, "suppressed"), 1);
	assert_int_equal(count(text, "below the level"), 0);
	free(text);
}

static void test_one_line_valid_json(void **state)
{
	char *text;

	(void)state;
	text = capture_stderr(flood_json);
	assert_non_null(strstr(text, "\"msg\":\"bad \\ufffd\\ufffd( ok \xc3\xa9 \\u000a \\u0001 \\\"q\\\" http://u:***@h/\"}\n"));
	assert_non_null(strstr(text, "t: two lines \n"));
	assert_int_equal(count(text, "\n"), 2);
	assert_null(strstr(text, "pw"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_redact_truncates),
		cmocka_unit_test(test_error_messages_redacted),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_one_line_valid_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
