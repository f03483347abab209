/*
 * test_parquet_roundtrip.c - the Parquet writer and reader against each
 * other, in memory: every writable type, REQUIRED and OPTIONAL, every
 * codec, dictionary on/off/fallback, v1 and v2 pages, many row groups and
 * pages, the empty file; statistics (sort order, NaN, -0/+0, long
 * strings); determinism; writer misuse; and hostile files (every
 * truncation, bad magic, huge lengths, random byte flips) which must give
 * an error naming the input, never a crash.
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

#include "parquet/pq.h"
#include "version.h"

#include "core/banned.h"

static const struct pq_column COLS[] = {
	{ .name = "b", .type = PQ_BOOLEAN, .optional = true },
	{ .name = "i32", .type = PQ_INT32 },
	{ .name = "i64", .type = PQ_INT64, .optional = true },
	{ .name = "f", .type = PQ_FLOAT, .optional = true },
	{ .name = "d", .type = PQ_DOUBLE },
	{ .name = "s", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING,
	  .optional = true },
	{ .name = "u", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING },
	{ .name = "ts", .type = PQ_INT64, .logical = PQ_LOGICAL_TIMESTAMP,
	  .unit = PQ_MICROS, .utc = true, .optional = true },
};
#define NCOLS (sizeof(COLS) / sizeof(COLS[0]))

static bool is_null(int64_t i, size_t col)
{
	return COLS[col].optional && (i * 7 + (int64_t)col) % 5 == 1;
}

static double dval(int64_t i)
{
	return i % 31 == 4 ? NAN : (double)(i - 500) / 3.0;
}

static void ustr(int64_t i, char *buf, size_t n)
{
	snprintf(buf, n, "u-%08lld-%lld", (long long)i, (long long)(i * i % 977));
}

static void write_rows(struct pq_writer *w, int64_t from, int64_t to, bool batch)
{
	char tmp[64];
	for (int64_t i = from; i < to; i++) {
		if (batch) {
			int32_t v32 = (int32_t)(i * 2654435761u);
			pq_writer_write_i32_batch(w, 1, &v32, NULL, 1);
		} else {
			pq_writer_write_i32(w, 1, (int32_t)(i * 2654435761u));
		}
		pq_writer_write_double(w, 4, dval(i));
		ustr(i, tmp, sizeof(tmp));
		pq_writer_write_bytes(w, 6, tmp, strlen(tmp));
		for (size_t c = 0; c < NCOLS; c++) {
			if (!COLS[c].optional)
				continue;
			if (is_null(i, c)) {
				pq_writer_write_null(w, c);
				continue;
			}
			switch (c) {
			case 0: pq_writer_write_bool(w, c, i % 3 == 0); break;
			case 2: pq_writer_write_i64(w, c, i * -1000003); break;
			case 3: pq_writer_write_float(w, c, (float)i * 0.25f); break;
			case 5:
				snprintf(tmp, sizeof(tmp), "k%d", (int)(i % 17));
				pq_writer_write_bytes(w, c, tmp, strlen(tmp));
				break;
			case 7:
				pq_writer_write_i64(w, c, 1700000000000000ll + i);
				break;
			}
		}
		assert_int_equal(pq_writer_end_row(w), IOT_OK);
	}
}

struct file {
	uint8_t *data;
	size_t len;
};

static struct file make_file(const struct pq_writer_options *o, int64_t rows)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_output *out = pq_output_mem_create();
	struct pq_writer *w;
	assert_int_equal(pq_writer_create(&w, out, COLS, NCOLS, o, &err), IOT_OK);
	pq_writer_add_kv(w, "k1", "v1");
	pq_writer_add_kv(w, "k2", NULL);
	write_rows(w, 0, rows, rows % 2);
	assert_int_equal(pq_writer_rows(w), rows);
	assert_true(pq_writer_estimated_size(w) >= pq_writer_bytes_written(w));
	if (pq_writer_close(w, &err) != IOT_OK)
		fail_msg("%s", err.msg);
	struct file f;
	const uint8_t *p = pq_output_mem_data(out, &f.len);
	f.data = malloc(f.len);
	memcpy(f.data, p, f.len);
	pq_writer_destroy(w);
	return f;
}

static void check_file(struct file f, int64_t rows, size_t expect_groups)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_reader *r;
	char tmp[64];
	struct pq_input *in = pq_input_mem_create(f.data, f.len, "mem.parquet");
	if (pq_reader_open(&r, in, &err) != IOT_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(pq_reader_num_rows(r), rows);
	assert_int_equal(pq_reader_num_columns(r), NCOLS);
	if (expect_groups)
		assert_int_equal(pq_reader_num_row_groups(r), expect_groups);
	assert_int_equal(pq_reader_num_kv(r), 2);
	assert_string_equal(pq_reader_created_by(r), "iotpipe version " IOTPIPE_VERSION);
	for (size_t c = 0; c < NCOLS; c++) {
		const struct pq_column *pc = pq_reader_column(r, c);
		assert_string_equal(pc->name, COLS[c].name);
		assert_int_equal(pc->type, COLS[c].type);
		assert_int_equal(pc->logical, COLS[c].logical);
		assert_int_equal(pc->optional, COLS[c].optional);
	}
	int64_t base = 0;
	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
		const struct pq_row_group_info *rg = pq_reader_row_group(r, g);
		for (size_t c = 0; c < NCOLS; c++) {
			struct pq_column_reader *cr;
			struct pq_batch b;
			int64_t i = base, nulls = 0;
			assert_int_equal(pq_column_reader_create(&cr, r, g, c, &err), IOT_OK);
			while (pq_column_reader_next(cr, &b, 333, &err) == IOT_OK && b.n) {
				for (size_t k = 0; k < b.n; k++, i++) {
					bool null = is_null(i, c);
					assert_int_equal(b.valid[k], !null);
					if (null) {
						nulls++;
						continue;
					}
					switch (c) {
					case 0: assert_int_equal(b.b[k], i % 3 == 0); break;
					case 1: assert_int_equal(b.i32[k], (int32_t)(i * 2654435761u)); break;
					case 2: assert_true(b.i64[k] == i * -1000003); break;
					case 3: assert_true(b.f32[k] == (float)i * 0.25f); break;
					case 4:
						if (isnan(dval(i)))
							assert_true(isnan(b.f64[k]));
						else
							assert_true(b.f64[k] == dval(i));
						break;
					case 5:
						snprintf(tmp, sizeof(tmp), "k%d", (int)(i % 17));
						assert_int_equal(b.bytes[k].len, strlen(tmp));
						assert_memory_equal(b.bytes[k].ptr, tmp, strlen(tmp));
						break;
					case 6:
						ustr(i, tmp, sizeof(tmp));
						assert_int_equal(b.bytes[k].len, strlen(tmp));
						assert_memory_equal(b.bytes[k].ptr, tmp, strlen(tmp));
						break;
					case 7: assert_true(b.i64[k] == 1700000000000000ll + i); break;
					}
				}
			}
			assert_int_equal(err.code, IOT_OK);
			assert_int_equal(i - base, rg->num_rows);
			assert_true(rg->columns[c].stats.has_null_count);
			assert_int_equal(rg->columns[c].stats.null_count, nulls);
			pq_column_reader_destroy(cr);
		}
		base += rg->num_rows;
	}
	assert_int_equal(base, rows);
	if (pq_reader_num_row_groups(r) > 0) {
		/* typed statistics of the timestamp and int columns */
		const struct pq_stats *st = &pq_reader_row_group(r, 0)->columns[7].stats;
		int64_t lo, hi;
		if (st->has_min_max) {
			assert_true(pq_stat_to_i64(pq_reader_column(r, 7), st->min, &lo));
			assert_true(pq_stat_to_i64(pq_reader_column(r, 7), st->max, &hi));
			assert_true(lo >= 1700000000000000ll && lo <= hi);
		}
	}
	pq_reader_destroy(r);
}

static void test_roundtrip_matrix(void **state)
{
	(void)state;
	const enum pq_codec codecs[] = { PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY,
					 PQ_CODEC_GZIP, PQ_CODEC_ZSTD,
					 PQ_CODEC_LZ4_RAW };
	for (size_t c = 0; c < 5; c++)
		for (int v2 = 0; v2 < 2; v2++)
			for (int dict = 0; dict < 2; dict++) {
				struct pq_writer_options o;
				pq_writer_options_init(&o);
				o.codec = codecs[c];
				o.page_v2 = v2;
				o.dictionary = dict;
				o.page_rows = 1000;
				o.row_group_rows = 2500;
				struct file f = make_file(&o, 6001);
				check_file(f, 6001, 3);
				free(f.data);
			}
}

static void test_dictionary_fallback_and_groups(void **state)
{
	(void)state;
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	o.dictionary_bytes = 2000; /* "u" overflows early, "s" never */
	o.row_group_rows = 10007;
	o.page_rows = 333;
	struct file f = make_file(&o, 30000);
	check_file(f, 30000, 3);
	free(f.data);
	/* one row, and many tiny row groups */
	pq_writer_options_init(&o);
	f = make_file(&o, 1);
	check_file(f, 1, 1);
	free(f.data);
	o.row_group_rows = 3;
	f = make_file(&o, 100);
	check_file(f, 100, 34);
	free(f.data);
}

static void test_empty_file(void **state)
{
	(void)state;
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	struct file f = make_file(&o, 0);
	check_file(f, 0, 0);
	free(f.data);
}

static void test_deterministic(void **state)
{
	(void)state;
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	o.row_group_rows = 1000;
	struct file a = make_file(&o, 4000), b = make_file(&o, 4000);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	free(a.data);
	free(b.data);
}

/* The batch calls (fast path without nulls, slow path with) write the
 * same bytes as the row calls. */
static void test_batch_equals_rows(void **state)
{
	(void)state;
	const struct pq_column cols[] = {
		{ .name = "a", .type = PQ_INT64 },
		{ .name = "b", .type = PQ_DOUBLE, .optional = true },
		{ .name = "c", .type = PQ_INT32, .optional = true },
		{ .name = "d", .type = PQ_FLOAT },
		{ .name = "s", .type = PQ_BYTE_ARRAY, .optional = true },
	};
	enum { N = 25000 };
	static int64_t a[N];
	static double b[N];
	static int32_t c[N];
	static float d[N];
	static struct pq_bytes sv[N];
	static uint8_t valid[N];
	static const char *words[] = { "x", "yy", "" };
	for (int i = 0; i < N; i++) {
		a[i] = (int64_t)i * 7919 - 100000;
		b[i] = i % 13 == 0 ? NAN : i / 3.0;
		c[i] = i * 31;
		d[i] = (float)(i % 100) - 50.0f;
		sv[i].ptr = (const uint8_t *)words[i % 3];
		sv[i].len = (uint32_t)strlen(words[i % 3]);
		valid[i] = i % 4 != 1;
	}
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	o.page_rows = 1000;
	o.page_bytes = 3000;
	o.row_group_rows = 10000;
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_output *o1 = pq_output_mem_create(), *o2 = pq_output_mem_create();
	struct pq_writer *w1, *w2;
	assert_int_equal(pq_writer_create(&w1, o1, cols, 5, &o, &err), IOT_OK);
	assert_int_equal(pq_writer_create(&w2, o2, cols, 5, &o, &err), IOT_OK);
	for (int i = 0; i < N; i++) {
		pq_writer_write_i64(w1, 0, a[i]);
		if (valid[i])
			pq_writer_write_double(w1, 1, b[i]);
		else
			pq_writer_write_null(w1, 1);
		pq_writer_write_i32(w1, 2, c[i]);
		pq_writer_write_float(w1, 3, d[i]);
		if (valid[i])
			pq_writer_write_bytes(w1, 4, sv[i].ptr, sv[i].len);
		else
			pq_writer_write_null(w1, 4);
		assert_int_equal(pq_writer_end_row(w1), IOT_OK);
	}
	for (int i = 0; i < N; i += 2500) {
		pq_writer_write_i64_batch(w2, 0, a + i, NULL, 2500);
		pq_writer_write_double_batch(w2, 1, b + i, valid + i, 2500);
		pq_writer_write_i32_batch(w2, 2, c + i, NULL, 2500);
		pq_writer_write_float_batch(w2, 3, d + i, NULL, 2500);
		pq_writer_write_bytes_batch(w2, 4, sv + i, valid + i, 2500);
		assert_int_equal(pq_writer_end_rows(w2, 2500), IOT_OK);
	}
	assert_int_equal(pq_writer_close(w1, &err), IOT_OK);
	assert_int_equal(pq_writer_close(w2, &err), IOT_OK);
	size_t l1, l2;
	const uint8_t *p1 = pq_output_mem_data(o1, &l1);
	const uint8_t *p2 = pq_output_mem_data(o2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(p1, p2, l1);
	pq_writer_destroy(w1);
	pq_writer_destroy(w2);
}

static struct pq_reader *open_mem(struct file f)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_reader *r;
	struct pq_input *in = pq_input_mem_create(f.data, f.len, "mem.parquet");
	if (pq_reader_open(&r, in, &err) != IOT_OK)
		fail_msg("%s", err.msg);
	return r;
}

static void test_statistics(void **state)
{
	(void)state;
	const struct pq_column cols[] = {
		{ .name = "d", .type = PQ_DOUBLE, .optional = true },
		{ .name = "f", .type = PQ_FLOAT },
		{ .name = "s", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING },
		{ .name = "big", .type = PQ_BYTE_ARRAY },
		{ .name = "i", .type = PQ_INT32, .optional = true },
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_writer *w;
	struct pq_output *out = pq_output_mem_create();
	assert_int_equal(pq_writer_create(&w, out, cols, 5, NULL, &err), IOT_OK);
	static char big[5000];
	memset(big, 'x', sizeof(big));
	const double ds[] = { NAN, 0.0, 3.5, -0.0, NAN };
	const char *ss[] = { "b", "ab", "\xc3\xa9", "a", "abc" };
	for (int i = 0; i < 5; i++) {
		pq_writer_write_double(w, 0, ds[i]);
		pq_writer_write_float(w, 1, i == 2 ? -0.0f : 0.0f);
		pq_writer_write_bytes(w, 2, ss[i], strlen(ss[i]));
		pq_writer_write_bytes(w, 3, big, i == 3 ? sizeof(big) : 3);
		pq_writer_write_null(w, 4);
		assert_int_equal(pq_writer_end_row(w), IOT_OK);
	}
	assert_int_equal(pq_writer_close(w, &err), IOT_OK);
	struct file f;
	f.data = (uint8_t *)pq_output_mem_data(out, &f.len);
	struct pq_reader *r = open_mem(f);
	const struct pq_chunk_info *ci = pq_reader_row_group(r, 0)->columns;
	double mn, mx;
	/* doubles: NaN excluded, min -0.0, max 3.5 */
	assert_true(ci[0].stats.has_min_max);
	memcpy(&mn, ci[0].stats.min.ptr, 8);
	memcpy(&mx, ci[0].stats.max.ptr, 8);
	assert_true(mn == 0 && signbit(mn));
	assert_true(mx == 3.5);
	assert_int_equal(ci[0].stats.null_count, 0);
	/* floats all zero: min -0, max +0 */
	float fmn, fmx;
	memcpy(&fmn, ci[1].stats.min.ptr, 4);
	memcpy(&fmx, ci[1].stats.max.ptr, 4);
	assert_true(fmn == 0 && signbit(fmn));
	assert_true(fmx == 0 && !signbit(fmx));
	double dm;
	int64_t im;
	assert_true(pq_stat_to_double(pq_reader_column(r, 0), ci[0].stats.max, &dm));
	assert_true(dm == 3.5);
	assert_false(pq_stat_to_i64(pq_reader_column(r, 0), ci[0].stats.max, &im));
	assert_false(pq_stat_to_double(pq_reader_column(r, 2), ci[2].stats.max, &dm));
	/* strings: unsigned byte order ("a" < "ab" < "abc" < "b" < "é") */
	assert_int_equal(ci[2].stats.min.len, 1);
	assert_memory_equal(ci[2].stats.min.ptr, "a", 1);
	assert_memory_equal(ci[2].stats.max.ptr, "\xc3\xa9", 2);
	/* a value above 4096 bytes: no min/max, null count still there */
	assert_false(ci[3].stats.has_min_max);
	assert_true(ci[3].stats.has_null_count);
	/* all null: no min/max, null_count 5 */
	assert_false(ci[4].stats.has_min_max);
	assert_int_equal(ci[4].stats.null_count, 5);
	pq_reader_destroy(r);
	pq_writer_destroy(w);
}

static void test_writer_misuse(void **state)
{
	(void)state;
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_writer *w;
	/* wrong type */
	assert_int_equal(pq_writer_create(&w, pq_output_mem_create(), COLS, NCOLS,
					  NULL, &err), IOT_OK);
	pq_writer_write_i64(w, 1, 5);
	assert_int_not_equal(pq_writer_end_row(w), IOT_OK);
	assert_int_not_equal(pq_writer_close(w, &err), IOT_OK);
	assert_non_null(strstr(err.msg, "i32"));
	pq_writer_destroy(w);
	/* null in a REQUIRED column */
	assert_int_equal(pq_writer_create(&w, pq_output_mem_create(), COLS, NCOLS,
					  NULL, &err), IOT_OK);
	pq_writer_write_null(w, 1);
	assert_int_not_equal(pq_writer_status(w, &err), IOT_OK);
	assert_non_null(strstr(err.msg, "REQUIRED"));
	pq_writer_destroy(w);
	/* a row missing a column */
	assert_int_equal(pq_writer_create(&w, pq_output_mem_create(), COLS, 2,
					  NULL, &err), IOT_OK);
	pq_writer_write_bool(w, 0, true);
	assert_int_not_equal(pq_writer_end_row(w), IOT_OK);
	assert_int_not_equal(pq_writer_status(w, &err), IOT_OK);
	assert_non_null(strstr(err.msg, "i32"));
	pq_writer_destroy(w);
	/* unsupported writer types and codecs */
	const struct pq_column i96 = { .name = "x", .type = PQ_INT96 };
	assert_int_equal(pq_writer_create(&w, pq_output_mem_create(), &i96, 1,
					  NULL, &err), IOT_ERR_UNSUPPORTED);
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	o.codec = PQ_CODEC_BROTLI;
	assert_int_equal(pq_writer_create(&w, pq_output_mem_create(), COLS, 1,
					  &o, &err), IOT_ERR_UNSUPPORTED);
	/* output failure sticks: writing to a closed descriptor */
	assert_int_equal(pq_writer_create(&w, pq_output_fd_create(-1, "bad-fd"),
					  COLS, 1, NULL, &err), IOT_ERR_IO);
	assert_non_null(strstr(err.msg, "bad-fd"));
	pq_writer_destroy(w);
}

/* ---- hostile input ----------------------------------------------------- */

static enum iot_err read_everything(const uint8_t *p, size_t n,
				    struct iot_error *err)
{
	struct pq_reader *r;
	struct pq_input *in = pq_input_mem_create(p, n, "hostile.parquet");
	enum iot_err rc = pq_reader_open(&r, in, err);
	if (rc != IOT_OK)
		return rc;
	for (size_t g = 0; g < pq_reader_num_row_groups(r) && rc == IOT_OK; g++)
		for (size_t c = 0; c < pq_reader_num_columns(r) && rc == IOT_OK; c++) {
			struct pq_column_reader *cr;
			struct pq_batch b;
			rc = pq_column_reader_create(&cr, r, g, c, err);
			if (rc != IOT_OK)
				break;
			while ((rc = pq_column_reader_next(cr, &b, 100, err)) == IOT_OK && b.n)
				;
			pq_column_reader_destroy(cr);
		}
	pq_reader_destroy(r);
	return rc;
}

static void test_hostile_truncated(void **state)
{
	(void)state;
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	o.row_group_rows = 40;
	o.page_rows = 15;
	struct file f = make_file(&o, 100);
	struct iot_error err = IOT_ERROR_INIT;
	assert_int_equal(read_everything(f.data, f.len, &err), IOT_OK);
	for (size_t n = 0; n < f.len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, f.data, n);
		iot_error_clear(&err);
		assert_int_not_equal(read_everything(cut, n, &err), IOT_OK);
		assert_non_null(strstr(err.msg, "hostile.parquet"));
		free(cut);
	}
	/* bad magic */
	f.data[0] = 'X';
	assert_int_equal(read_everything(f.data, f.len, &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "magic"));
	f.data[0] = 'P';
	memcpy(f.data + f.len - 4, "PARE", 4);
	assert_int_equal(read_everything(f.data, f.len, &err), IOT_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "encrypt"));
	memcpy(f.data + f.len - 4, "PAR1", 4);
	/* a huge footer length */
	uint32_t saved;
	memcpy(&saved, f.data + f.len - 8, 4);
	uint32_t huge = 0xfffffff0u;
	memcpy(f.data + f.len - 8, &huge, 4);
	assert_int_equal(read_everything(f.data, f.len, &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "footer length"));
	memcpy(f.data + f.len - 8, &saved, 4);
	free(f.data);
}

static void test_hostile_flips(void **state)
{
	(void)state;
	struct pq_writer_options o;
	pq_writer_options_init(&o);
	o.row_group_rows = 30;
	o.page_rows = 10;
	o.page_v2 = false;
	struct file f = make_file(&o, 70);
	uint8_t *m = malloc(f.len);
	uint64_t seed = 42;
	struct iot_error err = IOT_ERROR_INIT;
	for (int it = 0; it < 3000; it++) {
		memcpy(m, f.data, f.len);
		int flips = 1 + it % 4;
		for (int k = 0; k < flips; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			size_t pos = (size_t)(seed >> 33) % f.len;
			/* bias towards the footer and page headers */
			if (it % 2)
				pos = f.len - 1 - (pos % 400 < f.len ? pos % 400 : 0);
			m[pos] ^= (uint8_t)(1u << ((seed >> 20) & 7));
			if (it % 7 == 0)
				m[pos] = (uint8_t)(seed >> 40);
		}
		iot_error_clear(&err);
		if (read_everything(m, f.len, &err) != IOT_OK)
			assert_non_null(strstr(err.msg, "hostile.parquet"));
	}
	free(m);
	free(f.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_matrix),
		cmocka_unit_test(test_dictionary_fallback_and_groups),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_batch_equals_rows),
		cmocka_unit_test(test_statistics),
		cmocka_unit_test(test_writer_misuse),
		cmocka_unit_test(test_hostile_truncated),
		cmocka_unit_test(test_hostile_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
