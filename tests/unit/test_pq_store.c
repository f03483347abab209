/*
 * test_pq_store.c - Parquet files in the object store (parquet/pq_store.h)
 * on the local back-end: a file written through the store reads back
 * through it, by plain path and by file:// URI (named as given); a
 * writer destroyed without a close leaves no object; a missing object is
 * IOT_ERR_NOT_FOUND. The S3 side of the same adapters runs in
 * tests/integration (test_parquet_s3.py, test_percentile.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "core/xalloc.h"
#include "parquet/pq_store.h"

/* The files the tests write, below a fresh directory (removed at the end,
 * file by file: a leftover means a test wrote something it should not). */
static char root[] = "/tmp/iotpipe-pqstore-XXXXXX";
static const char *const written[] = { "d/x.parquet", "small.parquet", "d", "" };
static struct store *st;

static int make_root(void **state)
{
	(void)state;
	st = store_create();
	return mkdtemp(root) ? 0 : -1;
}

static int remove_root(void **state)
{
	int rc = 0;
	(void)state;
	store_destroy(st);
	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
		char *p = xasprintf("%s/%s", root, written[i]);
		if (remove(p) != 0) {
			fprintf(stderr, "could not remove %s\n", p);
			rc = -1;
		}
		free(p);
	}
	return rc;
}

static const struct pq_column cols[] = {
	{ .name = "n", .type = PQ_INT64 },
};

/* Writes rows 0..n-1 to uri; closes the writer when `close` is set. */
static void write_file(const char *uri, int64_t n, bool close)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_output *out;
	struct pq_writer *w;

	assert_int_equal(pq_store_output_open(st, uri, 0, &out, &err), IOT_OK);
	assert_int_equal(pq_writer_create(&w, out, cols, 1, NULL, &err), IOT_OK);
	for (int64_t i = 0; i < n; i++) {
		pq_writer_write_i64(w, 0, i);
		assert_int_equal(pq_writer_end_row(w), IOT_OK);
	}
	if (close)
		assert_int_equal(pq_writer_close(w, &err), IOT_OK);
	pq_writer_destroy(w);
}

static void read_back(const char *uri, const char *name, int64_t n)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_column_reader *cr;
	struct pq_reader *r;
	struct pq_batch b;
	int64_t next = 0;

	assert_int_equal(pq_store_reader_open(st, uri, &r, &err), IOT_OK);
	assert_string_equal(pq_reader_name(r), name);
	assert_int_equal(pq_reader_num_rows(r), n);
	assert_int_equal(pq_column_reader_create(&cr, r, 0, 0, &err), IOT_OK);
	while (pq_column_reader_next(cr, &b, 1000, &err) == IOT_OK && b.n)
		for (size_t i = 0; i < b.n; i++)
			assert_int_equal(b.i64[i], next++);
	assert_int_equal(next, n);
	pq_column_reader_destroy(cr);
	pq_reader_destroy(r);
}

static void test_round_trip(void **state)
{
	char *path = xasprintf("%s/d/x.parquet", root);
	char *uri = xasprintf("file://%s", path);
	struct iot_error err = IOT_ERROR_INIT;
	struct stat sb;
	struct pq_reader *r;
	(void)state;

	/* 100000 rows: a file larger than the 64 KiB tail read at once */
	write_file(uri, 100000, true);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 64 << 10);
	read_back(path, path, 100000);
	read_back(uri, uri, 100000);
	/* the size from a listing gives the same reader */
	assert_int_equal(pq_store_reader_open_sized(st, path, (uint64_t)sb.st_size, &r, &err),
			 IOT_OK);
	assert_int_equal(pq_reader_num_rows(r), 100000);
	pq_reader_destroy(r);

	/* a small file is inside its tail */
	free(path);
	path = xasprintf("%s/small.parquet", root);
	write_file(path, 3, true);
	read_back(path, path, 3);
	free(path);
	free(uri);
}

static void test_abandoned_and_missing(void **state)
{
	char *path = xasprintf("%s/gone.parquet", root);
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_reader *r;
	struct stat sb;
	(void)state;

	write_file(path, 10, false);
	assert_int_not_equal(stat(path, &sb), 0);
	assert_int_equal(pq_store_reader_open(st, path, &r, &err), IOT_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, path));
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_abandoned_and_missing),
	};
	return cmocka_run_group_tests(tests, make_root, remove_root);
}
