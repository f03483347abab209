/*
 * pq_writer.c - the Parquet writer (flat schemas), following the writer
 * recipe of docs/parquet-facts.md §12.
 *
 * Data flow: values arrive one at a time (pq_writer_write_*) or as arrays
 * (the *_batch calls) and are appended to the current page of their
 * column: definition levels (OPTIONAL columns), PLAIN bytes, or dictionary
 * indices (BYTE_ARRAY with dictionary on). A page is encoded and compressed
 * as soon as it reaches page_rows or page_bytes and appended to the
 * column's chunk buffer. When the row group is full (row_group_rows or
 * row_group_bytes) every column's chunk is written to the output: the
 * dictionary page (the PLAIN dictionary, known only now) then the data
 * pages. The footer is written at close. Memory is therefore bounded by
 * one row group of compressed pages plus one page per column.
 *
 * Dictionary: strings are looked up in a per-chunk hash table
 * (pq_dict.c); when the dictionary would exceed dictionary_bytes the
 * current page is flushed and the rest of the chunk is written PLAIN (a
 * per-page decision, as pyarrow and parquet-java do). The encodings list
 * names exactly what was used.
 *
 * Statistics (min/max/null_count per chunk) follow each type's sort order:
 * NaN never enters min/max, a zero min is written as -0.0 and a zero max as
 * +0.0, strings compare as unsigned bytes and are omitted above 4096 bytes.
 * Deprecated min/max are also written for signed-order types, and
 * column_orders says TYPE_ORDER, so pyarrow, DuckDB and Spark use them.
 *
 * Invariants: one thread per writer; the first error sticks (w->err) and
 * turns every later call into a no-op; output is deterministic (no clocks,
 * no randomness, fixed created_by).
 */
#include <math.h>
#include <stdlib.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"
#include "version.h"

#include "core/banned.h"

#define STATS_MAX 4096

struct wcol {
	struct pq_column d;
	int max_def;
	/* current page */
	struct buf vals;
	uint8_t *defs;
	size_t adefs;
	uint32_t *idx;
	size_t nidx, aidx;
	uint8_t *bools;
	size_t nbools, abools;
	size_t page_rows, page_nonnull;
	/* dictionary */
	bool dict_mode, dict_used;
	struct pq_dict dict;
	/* chunk */
	struct buf chunk;
	int64_t chunk_values, chunk_nulls, chunk_unc;
	uint32_t enc_mask;
	size_t rg_values;
	/* statistics */
	bool has_minmax, stats_too_big;
	union { int32_t i32; int64_t i64; float f; double d; bool b; } mn, mx;
	struct buf smin, smax;
};

struct pq_writer {
	struct pq_output *out;
	struct pq_writer_options opt;
	struct wcol *cols;
	struct pq_column *descs;
	size_t ncols;
	uint64_t offset;
	uint64_t rows_total;
	size_t rg_rows;
	struct pq_w_rowgroup *rgs;
	size_t nrgs, argrs;
	struct pq_kv *kv;
	size_t nkv, akv;
	struct buf page, tmp, comp, hdr;
	struct iot_error err;
	bool closed;
};

void pq_writer_options_init(struct pq_writer_options *o)
{
	memset(o, 0, sizeof(*o));
	o->codec = PQ_CODEC_SNAPPY;
	o->row_group_rows = 1024 * 1024;
	o->row_group_bytes = 128u << 20;
	o->page_bytes = 1u << 20;
	o->page_rows = 20000;
	o->dictionary = true;
	o->dictionary_bytes = 1u << 20;
}

static bool failed(const struct pq_writer *w)
{
	return w->err.code != IOT_OK;
}

static void out_write(struct pq_writer *w, const void *p, size_t n)
{
	if (failed(w))
		return;
	if (w->out->write(w->out, p, n, &w->err) == IOT_OK)
		w->offset += n;
	else if (w->err.code == IOT_OK)
		iot_error_set(&w->err, IOT_ERR_IO, "parquet output: write failed");
}

/* ---- pages ------------------------------------------------------------ */

static void compress_into(struct pq_writer *w, const uint8_t *p, size_t n,
			  struct buf *dst)
{
	buf_reset(dst);
	if (!pq_compress(w->opt.codec, w->opt.compression_level, p, n, dst))
		iot_error_set(&w->err, IOT_ERR_LIMIT,
			      "parquet writer: %s compression of a %zu-byte page "
			      "failed", pq_codec_name(w->opt.codec), n);
}

static void put_le32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, 4);
}

static void flush_page(struct pq_writer *w, struct wcol *c)
{
	if (c->page_rows == 0 || failed(w))
		return;
	struct pq_page_header h;
	memset(&h, 0, sizeof(h));
	bool v2 = w->opt.page_v2;
	size_t levels_len = 0;

	if (c->page_rows > INT32_MAX) {
		iot_error_set(&w->err, IOT_ERR_LIMIT, "parquet writer: page too large");
		return;
	}
	buf_reset(&w->page);
	if (c->max_def) {
		buf_reset(&w->tmp);
		pq_rle_encode_u8(&w->tmp, c->defs, c->page_rows, 1);
		if (!v2)
			put_le32(&w->page, (uint32_t)w->tmp.len);
		buf_append(&w->page, w->tmp.data, w->tmp.len);
		levels_len = w->tmp.len;
	}
	size_t values_at = w->page.len;
	if (c->dict_mode && c->nidx) {
		int bw = pq_bit_width(c->dict.n - 1);
		buf_putc(&w->page, (uint8_t)bw);
		pq_rle_encode_u32(&w->page, c->idx, c->nidx, bw);
		h.encoding = PQ_ENC_RLE_DICTIONARY;
	} else if (c->d.type == PQ_BOOLEAN) {
		size_t nb = (c->nbools + 7) / 8;
		buf_grow(&w->page, nb);
		memset(w->page.data + w->page.len, 0, nb);
		for (size_t i = 0; i < c->nbools; i++)
			w->page.data[w->page.len + i / 8] |=
				(uint8_t)(c->bools[i] << (i % 8));
		w->page.len += nb;
		h.encoding = PQ_ENC_PLAIN;
	} else {
		buf_append(&w->page, c->vals.data, c->vals.len);
		h.encoding = PQ_ENC_PLAIN;
	}
	if (w->page.len > INT32_MAX) {
		iot_error_set(&w->err, IOT_ERR_LIMIT,
			      "parquet writer: column %s: page larger than 2 GiB",
			      c->d.name);
		return;
	}
	h.num_values = (int32_t)c->page_rows;
	h.uncompressed_size = (int32_t)w->page.len;
	const uint8_t *body;
	size_t body_len;
	if (!v2) {
		h.type = PQ_PAGE_DATA;
		compress_into(w, w->page.data, w->page.len, &w->comp);
		body = w->comp.data;
		body_len = w->comp.len;
	} else {
		h.type = PQ_PAGE_DATA_V2;
		h.num_nulls = (int32_t)(c->page_rows - c->page_nonnull);
		h.num_rows = (int32_t)c->page_rows;
		h.def_len = (int32_t)levels_len;
		h.rep_len = 0;
		h.is_compressed = w->opt.codec != PQ_CODEC_UNCOMPRESSED &&
				  w->page.len > values_at;
		buf_reset(&w->comp);
		buf_append(&w->comp, w->page.data, values_at);
		if (h.is_compressed) {
			buf_reset(&w->tmp);
			if (!pq_compress(w->opt.codec, w->opt.compression_level,
					 w->page.data + values_at,
					 w->page.len - values_at, &w->tmp))
				iot_error_set(&w->err, IOT_ERR_LIMIT,
					      "parquet writer: compression failed");
			buf_append(&w->comp, w->tmp.data, w->tmp.len);
		} else {
			buf_append(&w->comp, w->page.data + values_at,
				   w->page.len - values_at);
		}
		body = w->comp.data;
		body_len = w->comp.len;
	}
	if (failed(w))
		return;
	if (body_len > INT32_MAX) {
		iot_error_set(&w->err, IOT_ERR_LIMIT, "parquet writer: page too large");
		return;
	}
	h.compressed_size = (int32_t)body_len;
	size_t before = c->chunk.len;
	pq_ser_page_header(&c->chunk, &h);
	size_t hlen = c->chunk.len - before;
	buf_append(&c->chunk, body, body_len);
	c->chunk_unc += (int64_t)(hlen + w->page.len);
	c->enc_mask |= 1u << h.encoding;
	if (c->max_def || v2)
		c->enc_mask |= 1u << PQ_ENC_RLE;
	c->chunk_values += (int64_t)c->page_rows;
	c->chunk_nulls += (int64_t)(c->page_rows - c->page_nonnull);
	c->page_rows = c->page_nonnull = 0;
	c->nidx = c->nbools = 0;
	buf_reset(&c->vals);
}

/* ---- statistics ------------------------------------------------------- */

/* Unsigned lexicographic order; a proper prefix sorts first. */
static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t m = an < bn ? an : bn;
	int r = m ? memcmp(a, b, m) : 0;
	if (r)
		return r;
	return an < bn ? -1 : an > bn;
}

static void stats_bytes(struct wcol *c, const uint8_t *p, size_t n)
{
	if (c->stats_too_big)
		return;
	if (n > STATS_MAX) {
		c->stats_too_big = true;
		return;
	}
	if (!c->has_minmax) {
		buf_reset(&c->smin);
		buf_reset(&c->smax);
		buf_append(&c->smin, p, n);
		buf_append(&c->smax, p, n);
		c->has_minmax = true;
		return;
	}
	if (cmp_bytes(p, n, c->smin.data, c->smin.len) < 0) {
		buf_reset(&c->smin);
		buf_append(&c->smin, p, n);
	}
	if (cmp_bytes(p, n, c->smax.data, c->smax.len) > 0) {
		buf_reset(&c->smax);
		buf_append(&c->smax, p, n);
	}
}

/* ---- value entry ------------------------------------------------------ */

static struct wcol *col_for_slow(struct pq_writer *w, size_t col,
				 enum pq_type t);

/* The per-value check, inline; errors are reported out of line. */
static inline struct wcol *col_for(struct pq_writer *w, size_t col,
				   enum pq_type t)
{
	if (__builtin_expect(w->err.code == IOT_OK && col < w->ncols &&
			     w->cols[col].d.type == t, 1))
		return &w->cols[col];
	return col_for_slow(w, col, t);
}

static struct wcol *col_for_slow(struct pq_writer *w, size_t col,
				 enum pq_type t)
{
	if (failed(w))
		return NULL;
	if (col >= w->ncols) {
		iot_error_set(&w->err, IOT_ERR_STATE,
			      "parquet writer: column %zu does not exist", col);
		return NULL;
	}
	struct wcol *c = &w->cols[col];
	if (c->d.type != t) {
		iot_error_set(&w->err, IOT_ERR_STATE,
			      "parquet writer: column %s is %s, not %s", c->d.name,
			      pq_type_name(c->d.type), pq_type_name(t));
		return NULL;
	}
	return c;
}

static inline void add_def(struct wcol *c, uint8_t d)
{
	if (c->max_def) {
		if (c->page_rows >= c->adefs) {
			c->adefs = c->adefs * 2 + 1024;
			c->defs = xrealloc(c->defs, c->adefs);
		}
		c->defs[c->page_rows] = d;
	}
	c->page_rows++;
	c->rg_values++;
}

static inline void after_value(struct pq_writer *w, struct wcol *c)
{
	if (c->page_rows >= w->opt.page_rows || c->vals.len >= w->opt.page_bytes)
		flush_page(w, c);
}

static inline void put_fixed(struct wcol *c, const void *p, size_t n)
{
	if (c->vals.cap - c->vals.len <= n)
		buf_grow(&c->vals, n < 4096 ? 4096 : n);
	memcpy(c->vals.data + c->vals.len, p, n);
	c->vals.len += n;
	c->page_nonnull++;
}

#define NEVER_NAN(x) ((void)(x), false)
#define IS_NAN(x) isnan(x)

/*
 * The four fixed-width writers differ only in their type and whether NaN
 * can occur (it never enters min/max). A value goes into the page as its
 * in-memory bytes, which is PLAIN on a little-endian host (pq_value.c
 * asserts one).
 */
#define SCALAR_WRITER(NAME, T, PT, FIELD, ISNAN)                             \
	void NAME(struct pq_writer *w, size_t col, T v)                      \
	{                                                                    \
		struct wcol *c = col_for(w, col, PT);                        \
		if (!c)                                                      \
			return;                                              \
		add_def(c, 1);                                               \
		put_fixed(c, &v, sizeof(v));                                 \
		if (!ISNAN(v)) {                                             \
			if (!c->has_minmax) {                                \
				c->mn.FIELD = c->mx.FIELD = v;               \
				c->has_minmax = true;                        \
			} else if (v < c->mn.FIELD) {                        \
				c->mn.FIELD = v;                             \
			} else if (v > c->mx.FIELD) {                        \
				c->mx.FIELD = v;                             \
			}                                                    \
		}                                                            \
		after_value(w, c);                                           \
	}

SCALAR_WRITER(pq_writer_write_i32, int32_t, PQ_INT32, i32, NEVER_NAN)
SCALAR_WRITER(pq_writer_write_i64, int64_t, PQ_INT64, i64, NEVER_NAN)
SCALAR_WRITER(pq_writer_write_float, float, PQ_FLOAT, f, IS_NAN)
SCALAR_WRITER(pq_writer_write_double, double, PQ_DOUBLE, d, IS_NAN)

void pq_writer_write_bool(struct pq_writer *w, size_t col, bool v)
{
	struct wcol *c = col_for(w, col, PQ_BOOLEAN);
	if (!c)
		return;
	add_def(c, 1);
	if (c->nbools >= c->abools) {
		c->abools = c->abools * 2 + 1024;
		c->bools = xrealloc(c->bools, c->abools);
	}
	c->bools[c->nbools++] = v ? 1 : 0;
	c->page_nonnull++;
	if (!c->has_minmax) {
		c->mn.b = c->mx.b = v;
		c->has_minmax = true;
	} else {
		c->mn.b = c->mn.b && v;
		c->mx.b = c->mx.b || v;
	}
	if (c->page_rows >= w->opt.page_rows || c->nbools / 8 >= w->opt.page_bytes)
		flush_page(w, c);
}

void pq_writer_write_bytes(struct pq_writer *w, size_t col, const void *p,
			   size_t len)
{
	struct wcol *c = col_for(w, col, PQ_BYTE_ARRAY);
	if (!c)
		return;
	if (len > INT32_MAX) {
		iot_error_set(&w->err, IOT_ERR_LIMIT,
			      "parquet writer: column %s: value of %zu bytes is "
			      "too large", c->d.name, len);
		return;
	}
	if (c->dict_mode) {
		bool added;
		uint32_t i = pq_dict_lookup(&c->dict, p, len, &added);
		if (added) {
			if (c->dict.data.len > w->opt.dictionary_bytes) {
				/* Too big: this page keeps its indices, the rest
				 * of the chunk is PLAIN. The entry stays (unused). */
				flush_page(w, c);
				c->dict_mode = false;
				goto plain;
			}
			stats_bytes(c, p, len);
		}
		add_def(c, 1);
		if (c->nidx >= c->aidx) {
			c->aidx = c->aidx * 2 + 1024;
			c->idx = xrealloc(c->idx, c->aidx * sizeof(*c->idx));
		}
		c->idx[c->nidx++] = i;
		c->page_nonnull++;
		c->dict_used = true;
		if (c->page_rows >= w->opt.page_rows ||
		    c->nidx * 2 >= w->opt.page_bytes)
			flush_page(w, c);
		return;
	}
plain:
	add_def(c, 1);
	uint32_t l32 = (uint32_t)len;
	buf_grow(&c->vals, len + 4);
	memcpy(c->vals.data + c->vals.len, &l32, 4);
	if (len)
		memcpy(c->vals.data + c->vals.len + 4, p, len);
	c->vals.len += len + 4;
	c->page_nonnull++;
	stats_bytes(c, p, len);
	after_value(w, c);
}

void pq_writer_write_null(struct pq_writer *w, size_t col)
{
	if (failed(w))
		return;
	if (col >= w->ncols) {
		iot_error_set(&w->err, IOT_ERR_STATE,
			      "parquet writer: column %zu does not exist", col);
		return;
	}
	struct wcol *c = &w->cols[col];
	if (!c->max_def) {
		iot_error_set(&w->err, IOT_ERR_STATE,
			      "parquet writer: null for REQUIRED column %s",
			      c->d.name);
		return;
	}
	add_def(c, 0);
	after_value(w, c);
}

/* A batch as one call per value; LINKAGE is empty for the public ones and
 * static for the fixed-width batches' fallback below. */
#define BATCH(LINKAGE, NAME, T, ONE)                                         \
	LINKAGE void NAME(struct pq_writer *w, size_t col, const T *v,       \
			  const uint8_t *valid, size_t n)                    \
	{                                                                    \
		for (size_t i = 0; i < n && !failed(w); i++) {               \
			if (valid && !valid[i])                              \
				pq_writer_write_null(w, col);                \
			else                                                 \
				ONE;                                         \
		}                                                            \
	}

BATCH(, pq_writer_write_bool_batch, uint8_t, pq_writer_write_bool(w, col, v[i] != 0))
BATCH(static, batch_slow_float, float, pq_writer_write_float(w, col, v[i]))
BATCH(static, batch_slow_double, double, pq_writer_write_double(w, col, v[i]))
BATCH(static, batch_slow_i32, int32_t, pq_writer_write_i32(w, col, v[i]))
BATCH(static, batch_slow_i64, int64_t, pq_writer_write_i64(w, col, v[i]))

/*
 * Fixed-width batches without nulls (the common case of batch jobs): whole
 * slices go into the page with one memcpy, cut where the page fills, and
 * min/max run over the slice. NaN never enters float statistics.
 */
#define FIXED_BATCH(NAME, T, PT, FIELD, ISNAN, SLOW)                         \
	void NAME(struct pq_writer *w, size_t col, const T *v,               \
		  const uint8_t *valid, size_t n)                            \
	{                                                                    \
		struct wcol *c = col_for(w, col, PT);                        \
		if (!c)                                                      \
			return;                                              \
		if (valid) {                                                 \
			SLOW(w, col, v, valid, n);                           \
			return;                                              \
		}                                                            \
		while (n && !failed(w)) {                                    \
			size_t room = w->opt.page_rows - c->page_rows;       \
			size_t broom = c->vals.len < w->opt.page_bytes ?     \
				(w->opt.page_bytes - c->vals.len + sizeof(T) - 1) / sizeof(T) : 1; \
			size_t k = n < room ? n : room;                      \
			if (k > broom)                                       \
				k = broom;                                   \
			if (c->max_def) {                                    \
				if (c->page_rows + k > c->adefs) {           \
					c->adefs = (c->page_rows + k) * 2;   \
					c->defs = xrealloc(c->defs, c->adefs); \
				}                                            \
				memset(c->defs + c->page_rows, 1, k);        \
			}                                                    \
			buf_grow(&c->vals, k * sizeof(T));                   \
			memcpy(c->vals.data + c->vals.len, v, k * sizeof(T)); \
			c->vals.len += k * sizeof(T);                        \
			c->page_rows += k;                                   \
			c->page_nonnull += k;                                \
			c->rg_values += k;                                   \
			T mn = c->mn.FIELD, mx = c->mx.FIELD;                \
			bool has = c->has_minmax;                            \
			for (size_t i = 0; i < k; i++) {                     \
				T x = v[i];                                  \
				if (ISNAN(x))                                \
					continue;                            \
				if (!has) {                                  \
					mn = mx = x;                         \
					has = true;                          \
				}                                            \
				mn = x < mn ? x : mn;                        \
				mx = x > mx ? x : mx;                        \
			}                                                    \
			c->mn.FIELD = mn;                                    \
			c->mx.FIELD = mx;                                    \
			c->has_minmax = has;                                 \
			v += k;                                              \
			n -= k;                                              \
			after_value(w, c);                                   \
		}                                                            \
	}

FIXED_BATCH(pq_writer_write_i32_batch, int32_t, PQ_INT32, i32, NEVER_NAN, batch_slow_i32)
FIXED_BATCH(pq_writer_write_i64_batch, int64_t, PQ_INT64, i64, NEVER_NAN, batch_slow_i64)
FIXED_BATCH(pq_writer_write_float_batch, float, PQ_FLOAT, f, IS_NAN, batch_slow_float)
FIXED_BATCH(pq_writer_write_double_batch, double, PQ_DOUBLE, d, IS_NAN, batch_slow_double)
BATCH(, pq_writer_write_bytes_batch, struct pq_bytes,
      pq_writer_write_bytes(w, col, v[i].ptr, v[i].len))

/* ---- chunks and row groups ------------------------------------------- */

static uint8_t *dup_mem(const void *p, size_t n)
{
	uint8_t *d = xmalloc(n ? n : 1);
	if (n)
		memcpy(d, p, n);
	return d;
}

static void minmax_out(struct pq_w_chunk *k, const void *mn, size_t mn_len,
		       const void *mx, size_t mx_len)
{
	k->min = dup_mem(mn, mn_len);
	k->max = dup_mem(mx, mx_len);
	k->min_len = mn_len;
	k->max_len = mx_len;
}

/* A chunk's min/max in their PLAIN form, zeros signed as the sort order
 * wants (a min of zero is -0.0, a max +0.0). */
static void stats_out(struct wcol *c, struct pq_w_chunk *k)
{
	k->has_minmax = c->has_minmax && !c->stats_too_big;
	k->signed_order = c->d.type != PQ_BYTE_ARRAY;
	if (!k->has_minmax)
		return;
	switch (c->d.type) {
	case PQ_BOOLEAN: {
		uint8_t mn = c->mn.b, mx = c->mx.b;
		minmax_out(k, &mn, 1, &mx, 1);
		break;
	}
	case PQ_INT32:
		minmax_out(k, &c->mn.i32, 4, &c->mx.i32, 4);
		break;
	case PQ_INT64:
		minmax_out(k, &c->mn.i64, 8, &c->mx.i64, 8);
		break;
	case PQ_FLOAT: {
		float mn = c->mn.f == 0 ? -0.0f : c->mn.f;
		float mx = c->mx.f == 0 ? 0.0f : c->mx.f;
		minmax_out(k, &mn, 4, &mx, 4);
		break;
	}
	case PQ_DOUBLE: {
		double mn = c->mn.d == 0 ? -0.0 : c->mn.d;
		double mx = c->mx.d == 0 ? 0.0 : c->mx.d;
		minmax_out(k, &mn, 8, &mx, 8);
		break;
	}
	default:
		minmax_out(k, c->smin.data, c->smin.len, c->smax.data, c->smax.len);
		break;
	}
}

static void write_chunk(struct pq_writer *w, struct wcol *c,
			struct pq_w_chunk *k)
{
	flush_page(w, c);
	memset(k, 0, sizeof(*k));
	k->type = c->d.type;
	k->name = c->d.name;
	k->codec = w->opt.codec;
	k->dict_page_offset = -1;
	int64_t total_comp = 0, total_unc = c->chunk_unc;
	if (c->dict_used && c->dict.n > 0) {
		struct pq_page_header h;
		memset(&h, 0, sizeof(h));
		h.type = PQ_PAGE_DICT;
		h.num_values = (int32_t)c->dict.n;
		h.uncompressed_size = (int32_t)c->dict.data.len;
		compress_into(w, c->dict.data.data, c->dict.data.len, &w->comp);
		h.compressed_size = (int32_t)w->comp.len;
		buf_reset(&w->hdr);
		pq_ser_page_header(&w->hdr, &h);
		k->dict_page_offset = (int64_t)w->offset;
		out_write(w, w->hdr.data, w->hdr.len);
		out_write(w, w->comp.data, w->comp.len);
		total_comp += (int64_t)(w->hdr.len + w->comp.len);
		total_unc += (int64_t)(w->hdr.len + c->dict.data.len);
		c->enc_mask |= 1u << PQ_ENC_PLAIN;
	}
	k->data_page_offset = (int64_t)w->offset;
	out_write(w, c->chunk.data, c->chunk.len);
	total_comp += (int64_t)c->chunk.len;
	k->encodings_mask = c->enc_mask | (1u << PQ_ENC_RLE);
	k->num_values = c->chunk_values;
	k->total_uncompressed = total_unc;
	k->total_compressed = total_comp;
	k->null_count = c->chunk_nulls;
	stats_out(c, k);

	/* reset for the next chunk */
	buf_reset(&c->chunk);
	c->chunk_values = c->chunk_nulls = c->chunk_unc = 0;
	c->enc_mask = 0;
	c->rg_values = 0;
	c->has_minmax = c->stats_too_big = false;
	pq_dict_reset(&c->dict);
	c->dict_mode = w->opt.dictionary && c->d.type == PQ_BYTE_ARRAY;
	c->dict_used = false;
}

enum iot_err pq_writer_flush_row_group(struct pq_writer *w)
{
	if (failed(w) || w->rg_rows == 0)
		return w->err.code;
	ALLOC_GROW(w->rgs, w->nrgs + 1, w->argrs);
	struct pq_w_rowgroup *rg = &w->rgs[w->nrgs];
	memset(rg, 0, sizeof(*rg));
	rg->chunks = xcalloc(w->ncols, sizeof(*rg->chunks));
	rg->file_offset = (int64_t)w->offset;
	rg->num_rows = (int64_t)w->rg_rows;
	for (size_t i = 0; i < w->ncols; i++) {
		write_chunk(w, &w->cols[i], &rg->chunks[i]);
		rg->total_byte_size += rg->chunks[i].total_uncompressed;
		rg->total_compressed += rg->chunks[i].total_compressed;
	}
	w->nrgs++;
	w->rg_rows = 0;
	return w->err.code;
}

static size_t buffered_bytes(const struct pq_writer *w)
{
	size_t n = 0;
	for (size_t i = 0; i < w->ncols; i++)
		n += w->cols[i].chunk.len + w->cols[i].vals.len +
		     w->cols[i].dict.data.len;
	return n;
}

static enum iot_err rows_ended(struct pq_writer *w, size_t n)
{
	if (failed(w))
		return w->err.code;
	size_t want = w->rg_rows + n;
	for (size_t i = 0; i < w->ncols; i++) {
		struct wcol *c = &w->cols[i];
		if (c->rg_values != want) {
			return iot_error_set(&w->err, IOT_ERR_STATE,
					     "parquet writer: column %s has %zu "
					     "values for %zu rows",
					     c->d.name, c->rg_values, want);
		}
	}
	w->rg_rows = want;
	w->rows_total += n;
	if (w->rg_rows >= w->opt.row_group_rows)
		return pq_writer_flush_row_group(w);
	/* the byte estimate walks the columns: every 4096 rows is enough */
	if ((n > 1 || (w->rows_total & 4095) == 0) &&
	    buffered_bytes(w) >= w->opt.row_group_bytes)
		return pq_writer_flush_row_group(w);
	return IOT_OK;
}

enum iot_err pq_writer_end_row(struct pq_writer *w)
{
	return rows_ended(w, 1);
}

enum iot_err pq_writer_end_rows(struct pq_writer *w, size_t n)
{
	return rows_ended(w, n);
}

/* ---- lifecycle -------------------------------------------------------- */

static bool column_ok(const struct pq_column *c, struct iot_error *err)
{
	if (!c->name || !*c->name) {
		iot_error_set(err, IOT_ERR_CONFIG, "parquet writer: a column has no name");
		return false;
	}
	switch (c->type) {
	case PQ_BOOLEAN:
	case PQ_INT32:
	case PQ_INT64:
	case PQ_FLOAT:
	case PQ_DOUBLE:
	case PQ_BYTE_ARRAY:
		break;
	default:
		iot_error_set(err, IOT_ERR_UNSUPPORTED,
			      "parquet writer: column %s: type %s cannot be written",
			      c->name, pq_type_name(c->type));
		return false;
	}
	bool ok = c->logical == PQ_LOGICAL_NONE ||
		  (c->logical == PQ_LOGICAL_STRING && c->type == PQ_BYTE_ARRAY) ||
		  (c->logical == PQ_LOGICAL_TIMESTAMP && c->type == PQ_INT64 &&
		   c->unit <= PQ_NANOS) ||
		  (c->logical == PQ_LOGICAL_DATE && c->type == PQ_INT32);
	if (!ok)
		iot_error_set(err, IOT_ERR_UNSUPPORTED,
			      "parquet writer: column %s: this logical type "
			      "cannot be written for %s", c->name,
			      pq_type_name(c->type));
	return ok;
}

enum iot_err pq_writer_create(struct pq_writer **wp, struct pq_output *out,
			      const struct pq_column *cols, size_t ncols,
			      const struct pq_writer_options *opt,
			      struct iot_error *err)
{
	*wp = NULL;
	if (ncols == 0 || ncols > INT32_MAX) {
		out->destroy(out);
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "parquet writer: schema has no columns");
	}
	for (size_t i = 0; i < ncols; i++) {
		if (!column_ok(&cols[i], err)) {
			out->destroy(out);
			return err ? err->code : IOT_ERR_CONFIG;
		}
	}
	struct pq_writer *w = xcalloc(1, sizeof(*w));
	w->out = out;
	if (opt)
		w->opt = *opt;
	else
		pq_writer_options_init(&w->opt);
	if (!w->opt.row_group_rows)
		w->opt.row_group_rows = 1024 * 1024;
	if (!w->opt.row_group_bytes)
		w->opt.row_group_bytes = 128u << 20;
	if (!w->opt.page_rows || w->opt.page_rows > INT32_MAX / 2)
		w->opt.page_rows = 20000;
	if (!w->opt.page_bytes || w->opt.page_bytes > (256u << 20))
		w->opt.page_bytes = 1u << 20;
	if (!w->opt.dictionary_bytes || w->opt.dictionary_bytes > (256u << 20))
		w->opt.dictionary_bytes = 1u << 20;
	if (!pq_codec_supported(w->opt.codec) || w->opt.codec == PQ_CODEC_LZ4) {
		enum pq_codec bad = w->opt.codec;
		free(w);
		out->destroy(out);
		return iot_error_set(err, IOT_ERR_UNSUPPORTED,
				     "parquet writer: codec %s cannot be written",
				     pq_codec_name(bad));
	}
	w->ncols = ncols;
	w->cols = xcalloc(ncols, sizeof(*w->cols));
	w->descs = xcalloc(ncols, sizeof(*w->descs));
	for (size_t i = 0; i < ncols; i++) {
		struct wcol *c = &w->cols[i];
		c->d = cols[i];
		c->d.name = xstrdup(cols[i].name);
		w->descs[i] = c->d;
		c->max_def = c->d.optional ? 1 : 0;
		c->dict_mode = w->opt.dictionary && c->d.type == PQ_BYTE_ARRAY;
	}
	out_write(w, "PAR1", 4);
	if (failed(w)) {
		enum iot_err rc = w->err.code;
		if (err)
			*err = w->err;
		pq_writer_destroy(w);
		return rc;
	}
	*wp = w;
	return IOT_OK;
}

void pq_writer_add_kv(struct pq_writer *w, const char *key, const char *value)
{
	ALLOC_GROW(w->kv, w->nkv + 1, w->akv);
	w->kv[w->nkv].key = xstrdup(key);
	w->kv[w->nkv].value = value ? xstrdup(value) : NULL;
	w->nkv++;
}

enum iot_err pq_writer_status(struct pq_writer *w, struct iot_error *err)
{
	if (failed(w) && err)
		*err = w->err;
	return w->err.code;
}

uint64_t pq_writer_rows(const struct pq_writer *w)
{
	return w->rows_total;
}

uint64_t pq_writer_bytes_written(const struct pq_writer *w)
{
	return w->offset;
}

uint64_t pq_writer_estimated_size(const struct pq_writer *w)
{
	return w->offset + buffered_bytes(w);
}

enum iot_err pq_writer_close(struct pq_writer *w, struct iot_error *err)
{
	if (w->closed) {
		if (!failed(w))
			iot_error_set(&w->err, IOT_ERR_STATE,
				      "parquet writer: closed twice");
	} else {
		w->closed = true;
		for (size_t i = 0; i < w->ncols && !failed(w); i++) {
			struct wcol *c = &w->cols[i];
			if (c->rg_values != w->rg_rows)
				iot_error_set(&w->err, IOT_ERR_STATE,
					      "parquet writer: column %s has "
					      "values of an unfinished row",
					      c->d.name);
		}
		pq_writer_flush_row_group(w);
		if (!failed(w)) {
			struct buf foot = BUF_INIT;
			char *created = xasprintf("iotpipe version %s",
						  IOTPIPE_VERSION);
			pq_ser_footer(&foot, w->descs, w->ncols, w->rgs, w->nrgs,
				      (int64_t)w->rows_total, w->kv, w->nkv,
				      created);
			free(created);
			uint32_t flen = (uint32_t)foot.len;
			out_write(w, foot.data, foot.len);
			out_write(w, &flen, 4);
			out_write(w, "PAR1", 4);
			buf_release(&foot);
		}
		if (!failed(w))
			w->out->close(w->out, &w->err);
	}
	if (failed(w) && err)
		*err = w->err;
	return w->err.code;
}

void pq_writer_destroy(struct pq_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ncols; i++) {
		struct wcol *c = &w->cols[i];
		free((char *)c->d.name);
		buf_release(&c->vals);
		free(c->defs);
		free(c->idx);
		free(c->bools);
		pq_dict_release(&c->dict);
		buf_release(&c->chunk);
		buf_release(&c->smin);
		buf_release(&c->smax);
	}
	for (size_t g = 0; g < w->nrgs; g++) {
		for (size_t i = 0; i < w->ncols; i++) {
			free((void *)w->rgs[g].chunks[i].min);
			free((void *)w->rgs[g].chunks[i].max);
		}
		free(w->rgs[g].chunks);
	}
	free(w->rgs);
	for (size_t i = 0; i < w->nkv; i++) {
		free(w->kv[i].key);
		free(w->kv[i].value);
	}
	free(w->kv);
	free(w->cols);
	free(w->descs);
	buf_release(&w->page);
	buf_release(&w->tmp);
	buf_release(&w->comp);
	buf_release(&w->hdr);
	if (w->out)
		w->out->destroy(w->out);
	free(w);
}
