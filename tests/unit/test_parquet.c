/*
 * test_parquet.c - unit tests of the Parquet codec's building blocks:
 * Thrift compact varints/zigzag and skipping, the RLE/bit-packed hybrid,
 * DELTA_BINARY_PACKED (the spec's worked examples), codecs, and value
 * formatting (shortest floats, ISO timestamps, INT96 including Spark's
 * overflowed year-290000 value). Round trips and hostile files are in
 * test_parquet_roundtrip.c.
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

#include "parquet/pq_int.h"

#include "core/banned.h"

static void test_thrift_varint_zigzag(void **state)
{
	(void)state;
	const int64_t vals[] = { 0, 1, -1, 63, -64, 64, 300, -300, INT32_MAX,
				 INT32_MIN, INT64_MAX, INT64_MIN };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct buf b = BUF_INIT;
		struct tc_writer w;
		tc_writer_init(&w, &b);
		tc_w_i64(&w, 1, vals[i]);
		tc_w_stop(&w);
		struct tc_reader t;
		int16_t last = 0, id;
		int type;
		tc_reader_init(&t, b.data, b.len);
		assert_true(tc_field(&t, &last, &id, &type));
		assert_int_equal(id, 1);
		assert_int_equal(type, TC_I64);
		assert_true(tc_i64(&t) == vals[i]);
		assert_false(tc_field(&t, &last, &id, &type));
		assert_false(t.failed);
		buf_release(&b);
	}
	/* zigzag encodings from the spec: 0->0, -1->1, 1->2, -2->3 */
	struct buf b = BUF_INIT;
	tc_put_uvarint(&b, 300);
	assert_int_equal(b.len, 2);
	assert_int_equal(b.data[0], 0xac);
	assert_int_equal(b.data[1], 0x02);
	buf_release(&b);
}

static void test_thrift_hostile(void **state)
{
	(void)state;
	/* an 11-byte varint */
	uint8_t longv[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
			    0x80, 0x80, 0x01 };
	struct tc_reader t;
	tc_reader_init(&t, longv, sizeof(longv));
	tc_uvarint(&t);
	assert_true(t.failed);
	/* i32 field holding a value beyond 32 bits */
	uint8_t big[] = { 0x80, 0x80, 0x80, 0x80, 0x20 };
	tc_reader_init(&t, big, sizeof(big));
	tc_i32(&t);
	assert_true(t.failed);
	/* binary longer than the data */
	uint8_t bin[] = { 0x10, 'a', 'b' };
	size_t len;
	tc_reader_init(&t, bin, sizeof(bin));
	assert_null(tc_binary(&t, &len));
	assert_true(t.failed);
	/* a list claiming a million elements in 3 bytes */
	uint8_t lst[] = { 0xf5, 0xc0, 0x84, 0x3d };
	int et;
	tc_reader_init(&t, lst, sizeof(lst));
	assert_int_equal(tc_list(&t, &et), 0);
	assert_true(t.failed);
	/* deep nesting of structs in a skipped field */
	uint8_t deep[200];
	for (size_t i = 0; i < sizeof(deep); i++)
		deep[i] = 0x1c; /* field +1, struct */
	tc_reader_init(&t, deep, sizeof(deep));
	tc_skip(&t, TC_STRUCT);
	assert_true(t.failed);
	/* the long-form header of the facts' example: field 20 = i32 1 */
	uint8_t lf[] = { 0x05, 0x28, 0x02, 0x00 };
	int16_t last = 0, id;
	int type;
	tc_reader_init(&t, lf, sizeof(lf));
	assert_true(tc_field(&t, &last, &id, &type));
	assert_int_equal(id, 20);
	assert_int_equal(tc_i32(&t), 1);
	assert_false(tc_field(&t, &last, &id, &type));
	assert_false(t.failed);
}

static void test_page_header_bytes(void **state)
{
	(void)state;
	/* facts §2.5: PageHeader v1 {DATA_PAGE, 40, 42, {10, PLAIN, RLE, RLE}} */
	const uint8_t want[] = { 0x15, 0x00, 0x15, 0x50, 0x15, 0x54, 0x2c, 0x15,
				 0x14, 0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x00,
				 0x00 };
	struct pq_page_header h = { 0 };
	h.type = PQ_PAGE_DATA;
	h.uncompressed_size = 40;
	h.compressed_size = 42;
	h.num_values = 10;
	h.encoding = PQ_ENC_PLAIN;
	struct buf b = BUF_INIT;
	pq_ser_page_header(&b, &h);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	struct pq_page_header r;
	size_t used;
	const char *why;
	assert_true(pq_page_header_parse(&r, b.data, b.len, &used, &why));
	assert_int_equal(used, b.len);
	assert_int_equal(r.num_values, 10);
	assert_int_equal(r.compressed_size, 42);
	/* facts §2.5: the v2 header with is_compressed=true */
	const uint8_t v2[] = { 0x15, 0x06, 0x15, 0x3c, 0x15, 0x38, 0x5c, 0x15,
			       0x14, 0x15, 0x08, 0x15, 0x14, 0x15, 0x10, 0x15,
			       0x06, 0x15, 0x00, 0x11, 0x00, 0x00 };
	assert_true(pq_page_header_parse(&r, v2, sizeof(v2), &used, &why));
	assert_int_equal(r.type, PQ_PAGE_DATA_V2);
	assert_int_equal(r.num_nulls, 4);
	assert_int_equal(r.def_len, 3);
	assert_int_equal(r.encoding, PQ_ENC_RLE_DICTIONARY);
	assert_true(r.is_compressed);
	/* truncated anywhere: an error, never a crash */
	for (size_t n = 0; n < sizeof(v2) - 1; n++)
		assert_false(pq_page_header_parse(&r, v2, n, &used, &why));
	buf_release(&b);
}

static void test_rle_spec_example(void **state)
{
	(void)state;
	/* Encodings.md: 0..7 at width 3, bit-packed = 10001000 11000110 11111010 */
	const uint8_t enc[] = { 0x03, 0x88, 0xc6, 0xfa };
	uint32_t out[8];
	assert_true(pq_rle_decode_u32(enc, sizeof(enc), 3, out, 8));
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(out[i], i);
	/* RLE run: 100 x 5 at width 3 */
	const uint8_t rle[] = { 0xc8, 0x01, 0x05 };
	uint32_t many[100];
	assert_true(pq_rle_decode_u32(rle, sizeof(rle), 3, many, 100));
	for (int i = 0; i < 100; i++)
		assert_int_equal(many[i], 5);
	/* asking for more values than the stream holds fails */
	uint32_t more[101];
	assert_false(pq_rle_decode_u32(rle, sizeof(rle), 3, more, 101));
	/* width 0: values are all 0, runs carry no bytes */
	const uint8_t w0[] = { 0x14 };
	uint32_t z[10];
	assert_true(pq_rle_decode_u32(w0, sizeof(w0), 0, z, 10));
	for (int i = 0; i < 10; i++)
		assert_int_equal(z[i], 0);
	/* width above 32 is refused */
	assert_false(pq_rle_decode_u32(enc, sizeof(enc), 33, out, 8));
	/* an RLE value wider than the bit width is refused */
	const uint8_t wide[] = { 0x02, 0x09 };
	assert_false(pq_rle_decode_u32(wide, sizeof(wide), 3, out, 1));
}

static void test_rle_roundtrip(void **state)
{
	(void)state;
	uint32_t vals[5000], back[5000];
	uint64_t seed = 12345;
	for (int bw = 0; bw <= 32; bw++) {
		uint64_t mask = bw == 32 ? 0xffffffffull : ((1ull << bw) - 1);
		for (size_t n = 1; n <= 5000; n = n * 3 + 1) {
			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				/* runs and noise mixed */
				vals[i] = (i / 13) % 3 == 0 ? (uint32_t)(i / 40 & mask)
							    : (uint32_t)((seed >> 29) & mask);
			}
			struct buf b = BUF_INIT;
			pq_rle_encode_u32(&b, vals, n, bw);
			memset(back, 0xee, sizeof(back));
			assert_true(pq_rle_decode_u32(b.data, b.len, bw, back, n));
			assert_memory_equal(vals, back, n * sizeof(uint32_t));
			/* every truncation fails or yields the same prefix */
			for (size_t cut = 0; cut < b.len && cut < 64; cut++)
				(void)pq_rle_decode_u32(b.data, cut, bw, back, n);
			buf_release(&b);
		}
	}
	uint8_t lv[777], lb[777];
	for (size_t i = 0; i < sizeof(lv); i++)
		lv[i] = (i % 5 == 2 || i > 700) ? 0 : 1;
	struct buf b = BUF_INIT;
	pq_rle_encode_u8(&b, lv, sizeof(lv), 1);
	assert_true(pq_rle_decode_u8(b.data, b.len, 1, lb, sizeof(lb)));
	assert_memory_equal(lv, lb, sizeof(lv));
	buf_release(&b);
}

static void test_delta_spec_examples(void **state)
{
	(void)state;
	/* 1,2,3,4,5: min delta 1, all widths 0 */
	const uint8_t ex1[] = { 0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00,
				0x00, 0x00 };
	uint64_t out[8];
	size_t used;
	const char *why;
	assert_true(pq_delta_decode(ex1, sizeof(ex1), 5, 64, out, &used, &why));
	for (int i = 0; i < 5; i++)
		assert_int_equal(out[i], i + 1);
	assert_int_equal(used, sizeof(ex1));
	/* 7,5,3,1,2,3,4,5: min delta -2, first miniblock width 2 */
	uint8_t ex2[9 + 8] = { 0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 0x02, 0x00,
			       0x00, 0x00, 0xc0, 0x3f };
	assert_true(pq_delta_decode(ex2, sizeof(ex2), 8, 32, out, &used, &why));
	const int64_t want[] = { 7, 5, 3, 1, 2, 3, 4, 5 };
	for (int i = 0; i < 8; i++)
		assert_int_equal((int64_t)out[i], want[i]);
	assert_int_equal(used, sizeof(ex2));
	/* the header's count must match the caller's */
	assert_false(pq_delta_decode(ex2, sizeof(ex2), 7, 32, out, &used, &why));
	/* width above the type's */
	ex2[6] = 33;
	assert_false(pq_delta_decode(ex2, sizeof(ex2), 8, 32, out, &used, &why));
	/* truncations */
	ex2[6] = 2;
	for (size_t n = 0; n < 11; n++)
		assert_false(pq_delta_decode(ex2, n, 8, 32, out, &used, &why));
	/* bad block size */
	const uint8_t bad[] = { 0x07, 0x04, 0x01, 0x00 };
	assert_false(pq_delta_decode(bad, sizeof(bad), 1, 32, out, &used, &why));
	size_t count;
	assert_true(pq_delta_count(ex1, sizeof(ex1), &count));
	assert_int_equal(count, 5);
}

static void test_codecs(void **state)
{
	(void)state;
	uint8_t src[10000], dst[10000];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i % 251 ^ (i / 100));
	const int codecs[] = { PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY,
			       PQ_CODEC_GZIP, PQ_CODEC_ZSTD, PQ_CODEC_LZ4_RAW };
	for (size_t c = 0; c < 5; c++) {
		struct buf b = BUF_INIT;
		const char *why;
		assert_true(pq_compress(codecs[c], 0, src, sizeof(src), &b));
		assert_true(pq_decompress(codecs[c], b.data, b.len, dst,
					  sizeof(dst), &why));
		assert_memory_equal(src, dst, sizeof(src));
		/* the wrong declared size is an error */
		assert_false(pq_decompress(codecs[c], b.data, b.len, dst,
					   sizeof(dst) - 1, &why));
		/* a truncated stream is an error */
		if (codecs[c] != PQ_CODEC_UNCOMPRESSED)
			assert_false(pq_decompress(codecs[c], b.data, b.len / 2,
						   dst, sizeof(dst), &why));
		buf_release(&b);
	}
	/* two gzip members back to back decode as one page */
	struct buf g = BUF_INIT;
	const char *why;
	assert_true(pq_compress(PQ_CODEC_GZIP, 0, src, 4000, &g));
	assert_true(pq_compress(PQ_CODEC_GZIP, 0, src + 4000, 6000, &g));
	assert_true(pq_decompress(PQ_CODEC_GZIP, g.data, g.len, dst, sizeof(dst),
				  &why));
	assert_memory_equal(src, dst, sizeof(src));
	buf_release(&g);
	/* an empty input never reaches a library */
	assert_true(pq_decompress(PQ_CODEC_SNAPPY, src, 0, dst, 0, &why));
	assert_false(pq_decompress(PQ_CODEC_SNAPPY, src, 0, dst, 5, &why));
	assert_false(pq_decompress(PQ_CODEC_BROTLI, src, 5, dst, 5, &why));
}

static void test_format(void **state)
{
	(void)state;
	char b[64];
	pq_format_double(0.1, b, sizeof(b));
	assert_string_equal(b, "0.1");
	pq_format_double(0.30000000000000004, b, sizeof(b));
	assert_string_equal(b, "0.30000000000000004");
	pq_format_double(1.0 / 3, b, sizeof(b));
	assert_true(strtod(b, NULL) == 1.0 / 3);
	pq_format_double(-0.0, b, sizeof(b));
	assert_string_equal(b, "-0.0");
	pq_format_double(NAN, b, sizeof(b));
	assert_string_equal(b, "NaN");
	pq_format_double(-INFINITY, b, sizeof(b));
	assert_string_equal(b, "-Infinity");
	pq_format_double(1e300, b, sizeof(b));
	assert_string_equal(b, "1e+300");
	pq_format_float(0.1f, b, sizeof(b));
	assert_string_equal(b, "0.1");
	pq_format_float(16777217.0f, b, sizeof(b));
	assert_true(strtof(b, NULL) == 16777217.0f);

	pq_format_micros(0, b, sizeof(b));
	assert_string_equal(b, "1970-01-01T00:00:00.000000Z");
	pq_format_micros(1735689600123456ll, b, sizeof(b));
	assert_string_equal(b, "2025-01-01T00:00:00.123456Z");
	pq_format_micros(-1, b, sizeof(b));
	assert_string_equal(b, "1969-12-31T23:59:59.999999Z");
	pq_format_micros(951782400000000ll, b, sizeof(b)); /* leap day */
	assert_string_equal(b, "2000-02-29T00:00:00.000000Z");
	pq_format_micros(253402300799999999ll, b, sizeof(b));
	assert_string_equal(b, "9999-12-31T23:59:59.999999Z");

	assert_int_equal(pq_timestamp_to_micros(1500, PQ_MILLIS), 1500000);
	assert_int_equal(pq_timestamp_to_micros(-1500, PQ_NANOS), -2);
	assert_int_equal(pq_timestamp_to_micros(1999, PQ_NANOS), 1);

	/* INT96: Julian day 2440588 = epoch; Spark's overflowed year 290000 */
	uint8_t v[12];
	int64_t nanos = 3600ll * 1000000000;
	int32_t jdn = 2440589;
	memcpy(v, &nanos, 8);
	memcpy(v + 8, &jdn, 4);
	assert_int_equal(pq_int96_to_micros(v), (86400ll + 3600) * 1000000);
	nanos = -32509551616000ll;
	jdn = -105862232;
	memcpy(v, &nanos, 8);
	memcpy(v + 8, &jdn, 4);
	assert_true(pq_int96_to_micros(v) == 9089380393200000000ll);

	assert_true(pq_half_to_float(0x3c00) == 1.0f);
	assert_true(pq_half_to_float(0xc000) == -2.0f);
	assert_true(isnan(pq_half_to_float(0x7e00)));
	assert_true(pq_half_to_float(0x0001) == ldexpf(1, -24));

	enum pq_codec c;
	assert_true(pq_codec_parse("ZSTD", &c) && c == PQ_CODEC_ZSTD);
	assert_false(pq_codec_parse("lzo", &c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thrift_varint_zigzag),
		cmocka_unit_test(test_thrift_hostile),
		cmocka_unit_test(test_page_header_bytes),
		cmocka_unit_test(test_rle_spec_example),
		cmocka_unit_test(test_rle_roundtrip),
		cmocka_unit_test(test_delta_spec_examples),
		cmocka_unit_test(test_codecs),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
