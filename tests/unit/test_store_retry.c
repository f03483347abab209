/*
 * test_store_retry.c - the S3 client's retry loop end to end without a
 * server: requests to a closed loopback port are retried exactly
 * max_attempts times, every attempt, retry and error is counted in the
 * metrics registry, the error names the operation, bucket and key, says
 * how many attempts were made, is marked retriable, and carries no secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/xalloc.h"
#include "metrics/metrics.h"
#include "store/s3.h"

/* A loopback port that nothing listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static double counter(const char *name, const char *labels)
{
	return metric_value(metrics_counter(name, "", labels));
}

static void test_attempts_counted_and_bounded(void **state)
{
	struct s3_config cfg = { 0 };
	struct iot_error err = IOT_ERROR_INIT;
	struct s3_client *c;
	struct timespec t0, t1;
	double secs;
	(void)state;

	cfg.endpoint = xasprintf("http://127.0.0.1:%d", closed_port());
	cfg.region = xstrdup("us-east-1");
	cfg.access_key = xstrdup("AKIDEXAMPLE");
	cfg.secret_key = xstrdup("very secret/key=");
	cfg.path_style = true;
	cfg.sign_payload = true;
	cfg.connect_timeout_ms = 2000;
	cfg.stall_timeout_s = 2;
	cfg.part_size = 8 << 20;
	cfg.upload_concurrency = 1;
	cfg.retry = (struct retry_policy){ 3, 20, 100 };
	c = s3_client_create(&cfg);
	s3_config_release(&cfg);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(s3_put_object(c, "bkt", "a b/c=d.txt", "xyz", 3, 0,
				       &err), IOT_ERR_NET);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 5); /* two waits of at most 20 and 40 ms */

	assert_true(err.retriable);
	assert_non_null(strstr(err.msg, "s3 put s3://bkt/a b/c=d.txt"));
	assert_non_null(strstr(err.msg, "after 3 attempts"));
	assert_null(strstr(err.msg, "very secret"));
	assert_true(counter("iotpipe_s3_requests_total", "op=\"put\"") == 3);
	assert_true(counter("iotpipe_s3_retries_total", "op=\"put\"") == 2);
	assert_true(counter("iotpipe_s3_errors_total",
			    "op=\"put\",code=\"ConnectionRefused\"") == 3);
	s3_client_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attempts_counted_and_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
