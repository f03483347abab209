/*
 * test_store_s3.c - store.h against a real S3-compatible server, at the
 * API level: put/get/head, ranged reads through the random-access reader,
 * delete, put-if-absent, a multipart stream that is aborted (nothing
 * appears), a streamed multipart upload written in odd-sized pieces, the
 * byte-sink adapter, a listing by prefix, a reader of known size (no
 * HEAD), objects fetched ahead by the prefetcher, and store_concurrency().
 *
 * Needs a server, so it skips unless IOTPIPE_TEST_S3_BUCKET names an
 * existing bucket (with the AWS_* variables pointing at the server);
 * tests/integration/test_store_s3.py runs it that way against S3Proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/xalloc.h"
#include "store/prefetch.h"
#include "store/store.h"

static const char *bucket;
static struct store *st;

/* NULL without a server, so a skipped test allocates nothing. */
static char *uri(const char *key)
{
	if (!bucket)
		return NULL;
	return xasprintf("s3://%s/%s", bucket, key);
}

static int setup(void **state)
{
	(void)state;
	st = store_create();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	store_destroy(st);
	return 0;
}

#define NEED_SERVER()                                                        \
	do {                                                                 \
		if (!bucket)                                                 \
			skip();                                              \
	} while (0)

static void test_put_get_head_delete(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct buf b = BUF_INIT;
	struct store_stat s;
	char *u = uri("api/device_id=device_id_3/window_start=2025-01-01 10_00/"
		      "a+b%c (1) \xc3\xa9.txt");
	(void)state;
	NEED_SERVER();

	assert_int_equal(store_put(st, u, "hello s3", 8, 0, &err), IOT_OK);
	assert_int_equal(store_head(st, u, &s, &err), IOT_OK);
	assert_int_equal(s.size, 8);
	assert_true(strlen(s.etag) == 32);
	assert_int_equal(store_get(st, u, 1 << 20, &b, &err), IOT_OK);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "hello s3", 8);
	buf_reset(&b);
	/* a whole read takes at most what its caller says */
	assert_int_equal(store_get(st, u, 8, &b, &err), IOT_OK);
	assert_int_equal(b.len, 8);
	buf_reset(&b);
	assert_int_equal(store_get(st, u, 7, &b, &err), IOT_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "the object is larger than 7 bytes, the most its reader "
				       "takes"));
	buf_reset(&b);
	assert_int_equal(store_get_range(st, u, 6, 2, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "s3");
	assert_int_equal(store_delete(st, u, &err), IOT_OK);
	assert_int_equal(store_head(st, u, &s, &err), IOT_ERR_NOT_FOUND);
	assert_int_equal(store_get(st, u, 1 << 20, &b, &err), IOT_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "NoSuchKey"));
	assert_non_null(strstr(err.msg, bucket));
	/* Deleting a missing key is not an error (S3 semantics). */
	assert_int_equal(store_delete(st, u, &err), IOT_OK);
	buf_release(&b);
	free(u);
}

static void test_reader_ranges(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_reader *r;
	char data[1000], out[100];
	char *u = uri("api/reader.bin");
	(void)state;
	NEED_SERVER();

	for (int i = 0; i < 1000; i++)
		data[i] = (char)(i * 7);
	assert_int_equal(store_put(st, u, data, sizeof(data), 0, &err), IOT_OK);
	assert_int_equal(store_open_read(st, u, &r, &err), IOT_OK);
	assert_int_equal(store_reader_size(r), 1000);
	assert_int_equal(store_reader_read_at(r, 992, 8, out, &err), IOT_OK);
	assert_memory_equal(out, data + 992, 8);
	assert_int_equal(store_reader_read_at(r, 0, 100, out, &err), IOT_OK);
	assert_memory_equal(out, data, 100);
	assert_int_equal(store_reader_read_at(r, 995, 8, out, &err),
			 IOT_ERR_FORMAT);
	store_reader_destroy(r);
	free(u);
}

static void test_reader_sized(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_reader *r;
	char data[300], out[16];
	char *u = uri("api/sized.bin"), *missing = uri("api/no-such-object");
	(void)state;
	NEED_SERVER();

	for (int i = 0; i < 300; i++)
		data[i] = (char)(i * 3);
	assert_int_equal(store_put(st, u, data, sizeof(data), 0, &err), IOT_OK);
	assert_int_equal(store_open_read_sized(st, u, 300, &r, &err), IOT_OK);
	assert_int_equal(store_reader_size(r), 300);
	assert_int_equal(store_reader_read_at(r, 290, 10, out, &err), IOT_OK);
	assert_memory_equal(out, data + 290, 10);
	store_reader_destroy(r);
	/* no HEAD: a missing object shows at the first read */
	assert_int_equal(store_open_read_sized(st, missing, 10, &r, &err), IOT_OK);
	assert_int_equal(store_reader_read_at(r, 0, 10, out, &err), IOT_ERR_NOT_FOUND);
	store_reader_destroy(r);
	assert_true(store_concurrency(st, u) >= 1);
	free(u);
	free(missing);
}

static void test_prefetch(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	char *uris[20];
	uint64_t sizes[20];
	struct buf b = BUF_INIT;
	struct store_prefetch *pf;
	(void)state;
	NEED_SERVER();

	for (int i = 0; i < 20; i++) {
		char key[64], body[64];
		snprintf(key, sizeof(key), "api/pf/%02d", i);
		snprintf(body, sizeof(body), "object %d", i);
		uris[i] = uri(key);
		sizes[i] = strlen(body);
		assert_int_equal(store_put(st, uris[i], body, sizes[i], 0, &err), IOT_OK);
	}
	{
		struct store_prefetch_spec s = { (const char *const *)uris, sizes, 20, 8, 40 };
		pf = store_prefetch_create(&s);
	}
	store_prefetch_drop(pf, 5, 5);
	for (int i = 0; i < 20; i++) {
		char want[64];
		if (i >= 5 && i < 10)
			continue;
		snprintf(want, sizeof(want), "object %d", i);
		assert_int_equal(store_prefetch_take(pf, (size_t)i, &b, &err), IOT_OK);
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(b.data, want, b.len);
	}
	store_prefetch_destroy(pf);
	buf_release(&b);
	for (int i = 0; i < 20; i++)
		free(uris[i]);
}

static void test_put_if_absent(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct buf b = BUF_INIT;
	char *u = uri("api/once.txt");
	enum iot_err rc;
	(void)state;
	NEED_SERVER();

	assert_int_equal(store_delete(st, u, &err), IOT_OK); /* reruns */
	assert_int_equal(store_put(st, u, "one", 3, STORE_PUT_IF_ABSENT, &err),
			 IOT_OK);
	rc = store_put(st, u, "two", 3, STORE_PUT_IF_ABSENT, &err);
	/* AWS and S3Proxy 3 answer 412 PreconditionFailed. */
	assert_int_equal(rc, IOT_ERR_STATE);
	assert_non_null(strstr(err.msg, "412"));
	assert_int_equal(store_get(st, u, 1 << 20, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "one");
	buf_release(&b);
	free(u);
}

static void test_multipart_stream_and_abort(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_ostream *os;
	struct store_reader *r;
	struct store_stat s;
	size_t total = (size_t)21 << 20; /* 3 parts of 8 MiB, last short */
	size_t piece = 12345, off = 0;
	char *data, *back, *u, *v;
	(void)state;
	NEED_SERVER();
	data = xmalloc(total);
	back = xmalloc(total);
	u = uri("api/multi.bin");
	v = uri("api/aborted.bin");

	for (size_t i = 0; i < total; i++)
		data[i] = (char)(i * 31 + (i >> 13));
	assert_int_equal(store_open_write(st, u, 0, &os, &err), IOT_OK);
	while (off < total) {
		size_t n = total - off < piece ? total - off : piece;
		assert_int_equal(store_ostream_write(os, data + off, n), IOT_OK);
		off += n;
		piece = piece * 3 % 9000000 + 1; /* odd sizes, some > a part */
	}
	assert_int_equal(store_ostream_close(os, &err), IOT_OK);
	assert_int_equal(store_head(st, u, &s, &err), IOT_OK);
	assert_int_equal(s.size, total);
	assert_non_null(strchr(s.etag, '-')); /* a multipart ETag */
	assert_int_equal(store_open_read(st, u, &r, &err), IOT_OK);
	assert_int_equal(store_reader_read_at(r, 0, total, back, &err), IOT_OK);
	assert_memory_equal(back, data, total);
	store_reader_destroy(r);

	/* Abort after two parts went out: the object never appears. */
	assert_int_equal(store_open_write(st, v, 0, &os, &err), IOT_OK);
	assert_int_equal(store_ostream_write(os, data, total), IOT_OK);
	store_ostream_abort(os);
	assert_int_equal(store_head(st, v, &s, &err), IOT_ERR_NOT_FOUND);
	free(data);
	free(back);
	free(u);
	free(v);
}

static int count(void *opaque, const struct store_entry *e)
{
	(*(int *)opaque)++;
	assert_non_null(strstr(e->uri, "s3://"));
	return 0;
}

static void test_list_prefix(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	int n = 0;
	char *p = uri("list/");
	(void)state;
	NEED_SERVER();

	for (int i = 0; i < 5; i++) {
		char key[64], *u;
		snprintf(key, sizeof(key), "list/%s/%d", i % 2 ? "a" : "b=c d", i);
		u = uri(key);
		assert_int_equal(store_put(st, u, "x", 1, 0, &err), IOT_OK);
		free(u);
	}
	assert_int_equal(store_list(st, p, count, &n, &err), IOT_OK);
	assert_int_equal(n, 5);
	free(p);
	p = uri("list/b=c d/");
	n = 0;
	assert_int_equal(store_list(st, p, count, &n, &err), IOT_OK);
	assert_int_equal(n, 3);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_head_delete),
		cmocka_unit_test(test_reader_ranges),
		cmocka_unit_test(test_reader_sized),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_put_if_absent),
		cmocka_unit_test(test_multipart_stream_and_abort),
		cmocka_unit_test(test_list_prefix),
	};
	bucket = getenv("IOTPIPE_TEST_S3_BUCKET");
	if (bucket && !*bucket)
		bucket = NULL;
	return cmocka_run_group_tests(tests, setup, teardown);
}
