/*
 * test_batch_paths.c - Hive partition paths (device_id=<v> with %XX
 * escapes, the null marker, hidden components), the shard hash, and the
 * CSV's fields: percentile column names, round-trip numbers, dates and
 * quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch/csv.h"
#include "batch/dataset.h"
#include "core/civil.h"
#include "core/hive.h"

static void value_is(const char *rel, const char *want)
{
	char *v = (char *)"unset";
	assert_true(hive_value(rel, "device_id", &v));
	if (want)
		assert_string_equal(v, want);
	else
		assert_null(v);
	free(v);
}

static void test_hive_value(void **state)
{
	char *v = NULL;
	(void)state;
	value_is("device_id=device_id_3/part-0.parquet", "device_id_3");
	value_is("x/device_id=a%2Fb%3Dc%25d%3A/y/f.parquet", "a/b=c%d:");
	value_is("device_id=bad%zz%4/f.parquet", "bad%zz%4");
	value_is("device_id=/f.parquet", "");
	value_is("device_id=__HIVE_DEFAULT_PARTITION__/f.parquet", NULL);
	value_is("device_id=a/device_id=b/f.parquet", "b");
	value_is("device_id=caf%C3%A9 1/f.parquet", "caf\xc3\xa9 1");
	assert_false(hive_value("device_id=x.parquet", "device_id", &v));
	assert_false(hive_value("devices=x/f.parquet", "device_id", &v));
	assert_false(hive_value("xdevice_id=x/f.parquet", "device_id", &v));
	{
		size_t len = 99;
		assert_true(hive_value_n("device_id=ab%00cd/f.parquet", "device_id", &v, &len));
		assert_int_equal(len, 5);
		assert_memory_equal(v, "ab\0cd", 6);
		free(v);
		assert_true(hive_value_n("device_id=__HIVE_DEFAULT_PARTITION__/f", "device_id", &v,
					 &len));
		assert_null(v);
		assert_int_equal(len, 0);
	}
}

static void test_hive_hidden(void **state)
{
	(void)state;
	assert_false(hive_hidden("device_id=a/part-0.parquet"));
	assert_true(hive_hidden("device_id=a/_SUCCESS"));
	assert_true(hive_hidden("_temporary/0/device_id=a/p.parquet"));
	assert_true(hive_hidden("device_id=a/.p.parquet.crc"));
	assert_true(hive_hidden(".hidden/device_id=a/p.parquet"));
	assert_false(hive_hidden("device_id=a_b/p_1.parquet"));
}

/* key -> device_id=<escaped>/ -> key, byte for byte (NUL included) */
static void round_trips(const char *key, size_t len)
{
	struct hive_layout l = { { HIVE_DEVICE_ID }, 1 };
	struct buf b = BUF_INIT;
	size_t n = 0;
	char *back;

	hive_path(&b, &l, key, len, 0);
	assert_null(memchr(b.data, '\0', b.len));
	assert_null(memchr(b.data + strlen("device_id="), '/', b.len - strlen("device_id=") - 1));
	back = hive_unescape((const char *)b.data + strlen("device_id="), b.len - strlen("device_id=") - 1, &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, key, len);
	free(back);
	buf_release(&b);
}

static void test_hive_key_ok(void **state)
{
	char k[300];
	(void)state;
	assert_true(hive_key_ok("device_id_1", 11));
	assert_true(hive_key_ok(".", 1));
	assert_true(hive_key_ok("..", 2));
	assert_false(hive_key_ok("", 0));
	assert_false(hive_key_ok("__HIVE_DEFAULT_PARTITION__", 26));
	/* "device_id=" + 245 plain bytes is the longest name a file system takes */
	memset(k, 'a', sizeof(k));
	assert_true(hive_key_ok(k, 245));
	assert_false(hive_key_ok(k, 246));
	assert_false(hive_key_ok(k, 256));
	/* '/' escapes to three bytes: 81 of them fit, 82 do not */
	memset(k, '/', sizeof(k));
	assert_true(hive_key_ok(k, 81));
	assert_false(hive_key_ok(k, 82));
	assert_false(hive_key_ok(k, 100));
	round_trips("a/b%c=d:\\", 9);
	round_trips("nul\0inside", 10);
	round_trips("%41%zz%", 7);
	round_trips(k, 81);
}

/* The directory names against snprintf of the broken-down time, over
 * the whole range of event times (years 1..9999): leap days, month ends,
 * before 1970, the last minute of 9999. */
static void test_hive_dates(void **state)
{
	const int64_t day = 86400000000LL;
	const int64_t lo = -62135596800LL * 1000000LL, hi = 253402300799LL * 1000000LL;
	int64_t t[] = { 0, -1, 951782400000000LL /* 2000-02-29 */, lo, hi, hi - 59000000,
			-86400000000LL, 1735689599999999LL };
	struct buf b = BUF_INIT;
	char want[64];
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]) + 4000; i++) {
		int64_t us = i < sizeof(t) / sizeof(t[0]) ? t[i]
				: lo + (int64_t)(i * 2654435761u % 3652059u) * day + (int64_t)i * 61000000LL;
		struct civil_time c;
		civil_from_micros(us, &c);
		buf_reset(&b);
		hive_date(&b, us);
		snprintf(want, sizeof(want), "%04lld-%02u-%02u", (long long)c.year, c.month, c.day);
		assert_string_equal(buf_str(&b), want);
		buf_reset(&b);
		hive_window_start(&b, us);
		snprintf(want, sizeof(want), "%04lld-%02u-%02u %02u_%02u", (long long)c.year, c.month,
			 c.day, c.hour, c.minute);
		assert_string_equal(buf_str(&b), want);
	}
	buf_reset(&b);
	hive_date(&b, 951782400000000LL);
	assert_string_equal(buf_str(&b), "2000-02-29");
	buf_reset(&b);
	hive_window_start(&b, hi);
	assert_string_equal(buf_str(&b), "9999-12-31 23_59");
	buf_reset(&b);
	hive_date(&b, lo);
	assert_string_equal(buf_str(&b), "0001-01-01");
	buf_release(&b);
}

static void test_shard_hash(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values */
	assert_true(dataset_device_hash("") == 0xcbf29ce484222325ULL);
	assert_true(dataset_device_hash("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(dataset_device_hash(NULL) == dataset_device_hash(""));
}

static void name_is(double p, const char *want)
{
	char name[96];
	csv_percentile_name(p, name, sizeof(name));
	assert_string_equal(name, want);
}

/* A date split into parts: every part lists all the date's files again,
 * with `first` indexes that stay consecutive, and releases cleanly. */
static void test_split_dates(void **state)
{
	struct dataset ds = { .by_date = true };
	uint32_t parts[2] = { 3, 1 };
	const char *dates[2] = { "2025-06-01", "2025-06-02" };
	const char **uris;
	uint64_t *sizes;

	(void)state;
	ds.devices = calloc(2, sizeof(*ds.devices));
	ds.ndevices = ds.alloc = 2;
	for (size_t d = 0; d < 2; d++) {
		struct dataset_device *dev = &ds.devices[d];
		dev->id = strdup(dates[d]);
		dev->nfiles = dev->alloc = 2;
		dev->files = calloc(2, sizeof(*dev->files));
		dev->first = ds.nfiles;
		for (size_t f = 0; f < 2; f++) {
			char uri[64];
			snprintf(uri, sizeof(uri), "date=%s/f%zu.parquet", dates[d], f);
			dev->files[f] = (struct dataset_file){ strdup(uri), 10 + f };
			dev->bytes += 10 + f;
		}
		ds.nfiles += 2;
		ds.bytes += dev->bytes;
	}
	dataset_split_dates(&ds, parts);
	assert_int_equal(ds.ndevices, 4);
	assert_int_equal(ds.nfiles, 8);
	for (uint32_t i = 0; i < 3; i++) {
		assert_string_equal(ds.devices[i].id, "2025-06-01");
		assert_int_equal(ds.devices[i].part_i, i);
		assert_int_equal(ds.devices[i].part_n, 3);
		assert_int_equal(ds.devices[i].first, 2 * i);
		assert_string_equal(ds.devices[i].files[1].uri, "date=2025-06-01/f1.parquet");
	}
	assert_string_equal(ds.devices[3].id, "2025-06-02");
	assert_int_equal(ds.devices[3].part_n, 1);
	dataset_files(&ds, &uris, &sizes);
	assert_string_equal(uris[4], "date=2025-06-01/f0.parquet");
	assert_string_equal(uris[7], "date=2025-06-02/f1.parquet");
	assert_int_equal(sizes[7], 11);
	free(uris);
	free(sizes);
	dataset_release(&ds); /* every part owns its copies: ASan sees no double free */
}

static void test_percentile_names(void **state)
{
	(void)state;
	name_is(0.95, "event_duration_p95");
	name_is(0.5, "event_duration_p50");
	name_is(0.99, "event_duration_p99");
	name_is(0.999, "event_duration_p99_9");
	name_is(0.05, "event_duration_p5");
	name_is(1, "event_duration_p100");
	name_is(0, "event_duration_p0");
	name_is(0.001, "event_duration_p0_1");
}

static void number_is(double d, int as_float, const char *want)
{
	struct buf b = BUF_INIT;
	csv_number(&b, d, as_float);
	assert_string_equal(buf_str(&b), want);
	buf_release(&b);
}

static void test_numbers_and_fields(void **state)
{
	struct buf b = BUF_INIT;
	(void)state;
	number_is(10.12, 0, "10.12");
	number_is(10.0, 0, "10.0");
	number_is(0.1 + 0.2, 0, "0.30000000000000004");
	number_is(-3.5, 0, "-3.5");
	number_is((double)10.12f, 1, "10.12");
	number_is((double)10.12f, 0, "10.119999885559082");
	csv_date(&b, 0);
	buf_putc(&b, ' ');
	csv_date(&b, 20088); /* 2024-12-31 */
	buf_putc(&b, ' ');
	csv_date(&b, -1);
	assert_string_equal(buf_str(&b), "1970-01-01 2024-12-31 1969-12-31");
	buf_reset(&b);
	csv_field(&b, "plain");
	buf_putc(&b, '|');
	csv_field(&b, "a,b");
	buf_putc(&b, '|');
	csv_field(&b, "say \"hi\"");
	buf_putc(&b, '|');
	csv_field(&b, NULL);
	assert_string_equal(buf_str(&b), "plain|\"a,b\"|\"say \"\"hi\"\"\"|");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hive_value),
		cmocka_unit_test(test_hive_hidden),
		cmocka_unit_test(test_hive_key_ok),
		cmocka_unit_test(test_hive_dates),
		cmocka_unit_test(test_shard_hash),
		cmocka_unit_test(test_split_dates),
		cmocka_unit_test(test_percentile_names),
		cmocka_unit_test(test_numbers_and_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
