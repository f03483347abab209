/*
 * fuzz_parquet_reader.c - libFuzzer target for the Parquet reader.
 *
 * Each input is treated as a whole Parquet file in memory: open it (footer,
 * schema, row-group validation), walk the metadata the way `inspect` does
 * (names, logical types, statistics), then read every column of every row
 * group to the end, touching every value (INT96 and timestamps converted,
 * byte strings' bytes summed) so that out-of-bounds pointers are caught by
 * ASan. Errors are the expected outcome for most inputs; crashes, leaks,
 * hangs and UB are the findings. Run with `make fuzz` (mk/parquet.mk).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parquet/pq.h"

#include "core/banned.h"

static volatile uint64_t sink;

static void touch_batch(const struct pq_column *c, const struct pq_batch *b)
{
	uint64_t s = 0;
	for (size_t i = 0; i < b->n; i++) {
		s += b->valid[i];
		switch (c->type) {
		case PQ_BOOLEAN: s += b->b[i]; break;
		case PQ_INT32: s += (uint32_t)b->i32[i]; break;
		case PQ_INT64:
			s += (uint64_t)pq_timestamp_to_micros(b->i64[i], c->unit);
			break;
		case PQ_INT96: s += (uint64_t)pq_int96_to_micros(b->int96 + 12 * i); break;
		case PQ_FLOAT: s += (uint64_t)(b->f32[i] == b->f32[i]); break;
		case PQ_DOUBLE: s += (uint64_t)(b->f64[i] == b->f64[i]); break;
		default:
			for (uint32_t k = 0; k < b->bytes[i].len; k++)
				s += b->bytes[i].ptr[k];
		}
	}
	sink += s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_reader *r;
	char buf[64];
	struct pq_input *in = pq_input_mem_create(data, size, "fuzz");
	if (pq_reader_open(&r, in, &err) != IOT_OK)
		return 0;
	size_t nc = pq_reader_num_columns(r);
	for (size_t c = 0; c < nc; c++)
		pq_logical_describe(pq_reader_column(r, c), buf, sizeof(buf));
	for (size_t i = 0; i < pq_reader_num_kv(r); i++) {
		const char *k, *v;
		pq_reader_kv(r, i, &k, &v);
		sink += strlen(k) + (v ? strlen(v) : 0);
	}
	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
		const struct pq_row_group_info *rg = pq_reader_row_group(r, g);
		for (size_t c = 0; c < nc; c++) {
			const struct pq_chunk_info *ci = &rg->columns[c];
			for (size_t e = 0; e < ci->num_encodings; e++)
				sink += strlen(pq_encoding_name(ci->encodings[e]));
			if (ci->stats.has_min_max)
				for (uint32_t k = 0; k < ci->stats.min.len; k++)
					sink += ci->stats.min.ptr[k] + ci->stats.max.ptr[k % (ci->stats.max.len ? ci->stats.max.len : 1)];
			struct pq_column_reader *cr;
			if (pq_column_reader_create(&cr, r, g, c, &err) != IOT_OK)
				continue;
			struct pq_batch b;
			while (pq_column_reader_next(cr, &b, 1000, &err) == IOT_OK && b.n)
				touch_batch(pq_reader_column(r, c), &b);
			pq_column_reader_destroy(cr);
		}
	}
	pq_reader_destroy(r);
	return 0;
}
