/*
 * pq_page.c - the column reader: one column chunk of one row group, page by
 * page, into batches of values with null flags.
 *
 * Data flow: the whole chunk (its exact byte range, already checked to lie
 * inside the file) is read with one read_at (one ranged GET on S3). Pages
 * are then walked in order: a dictionary page (only first, only once) is
 * decompressed and decoded into an array of values; each data page (v1 or
 * v2) is decompressed, its definition levels become `valid` flags, and its
 * non-null values are decoded (PLAIN, dictionary indices, RLE booleans,
 * DELTA_*, BYTE_STREAM_SPLIT) straight into dense per-row arrays, then
 * spread over the null slots in place from the back. Batches are slices
 * of the current page: no copy.
 *
 * Invariants: every count and length from the file is checked before use
 * (page sizes against the chunk, levels against PQ_MAX_PAGE_VALUES and the
 * rows left in the row group, values against the bytes left, dictionary
 * indices against the dictionary size); the chunk must decode to exactly
 * the row group's row count. Errors name the file, row group and column.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"

#include "core/banned.h"

struct pq_column_reader {
	struct pq_reader *r;
	const struct pq_column *col;
	size_t rg, ci;
	int max_def;
	size_t width;          /* bytes per value in vals (0: pq_bytes) */
	uint8_t *chunk;
	size_t chunk_len, pos;
	int64_t rows_expected, rows_done;
	bool data_seen;
	/* dictionary */
	bool has_dict;
	size_t dict_n;
	uint8_t *dict_buf;
	uint8_t *dict_vals;         /* dict_n * width */
	struct pq_bytes *dict_bytes;
	/* current page */
	uint8_t *page;
	size_t page_cap;
	uint8_t *page2;             /* v2 values / scratch */
	size_t page2_cap;
	size_t n, at;               /* levels in page, consumed */
	uint8_t *valid;
	uint8_t *vals;
	struct pq_bytes *bytes;
	size_t cap;
	uint32_t *idx;
	size_t idx_cap;
	uint64_t *u64;
	size_t u64_cap, u64b_cap;
	uint64_t *u64b;
	uint8_t *heap;
};

static enum iot_err cerr(struct pq_column_reader *cr, struct iot_error *err,
			 enum iot_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum iot_err cerr(struct pq_column_reader *cr, struct iot_error *err,
			 enum iot_err code, const char *fmt, ...)
{
	char what[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return iot_error_set(err, code, "%s: row group %zu column '%s': %s",
			     cr->r->in->name, cr->rg, cr->col->name, what);
}

static void grow(void **p, size_t *cap, size_t n, size_t elem)
{
	if (n > *cap) {
		size_t c = *cap * 2 > n ? *cap * 2 : n;
		free(*p);
		*p = xmalloc(st_mult(c, elem));
		*cap = c;
	}
}

enum iot_err pq_column_reader_create(struct pq_column_reader **crp,
				     struct pq_reader *r, size_t rg, size_t col,
				     struct iot_error *err)
{
	*crp = NULL;
	if (rg >= r->meta.nrgs || col >= r->ncols)
		return iot_error_set(err, IOT_ERR_STATE,
				     "%s: no row group %zu / column %zu",
				     r->in->name, rg, col);
	struct pq_column_reader *cr = xcalloc(1, sizeof(*cr));
	const struct pq_chunk_info *ci = &r->rgs[rg].columns[col];
	cr->r = r;
	cr->col = &r->cols[col];
	cr->rg = rg;
	cr->ci = col;
	cr->max_def = cr->col->optional ? 1 : 0;
	cr->rows_expected = r->rgs[rg].num_rows;
	switch (cr->col->type) {
	case PQ_BOOLEAN: cr->width = 1; break;
	case PQ_INT32: case PQ_FLOAT: cr->width = 4; break;
	case PQ_INT64: case PQ_DOUBLE: cr->width = 8; break;
	case PQ_INT96: cr->width = 12; break;
	default: cr->width = 0; break;
	}
	if (!pq_codec_supported(ci->codec)) {
		enum iot_err rc = cerr(cr, err, IOT_ERR_UNSUPPORTED,
				       "compression codec %s is not supported",
				       pq_codec_name(ci->codec));
		free(cr);
		return rc;
	}
	int64_t start = ci->dictionary_page_offset > 0 ? ci->dictionary_page_offset
						       : ci->data_page_offset;
	cr->chunk_len = cr->rows_expected > 0 ? (size_t)ci->total_compressed_size : 0;
	if (cr->chunk_len && r->old_mr_sizes) {
		/* PARQUET-816: old parquet-mr left the dictionary page header out
		 * of total_compressed_size; read up to 100 bytes more, as Arrow
		 * does, but never into the footer. */
		uint64_t end = (uint64_t)start + cr->chunk_len;
		uint64_t room = r->footer_start - end;
		cr->chunk_len += room < 100 ? (size_t)room : 100;
	}
	cr->chunk = xmalloc(cr->chunk_len ? cr->chunk_len : 1);
	enum iot_err rc = r->in->read_at(r->in, (uint64_t)start, cr->chunk_len,
					 cr->chunk, err);
	if (rc != IOT_OK) {
		pq_column_reader_destroy(cr);
		return rc;
	}
	*crp = cr;
	return IOT_OK;
}

void pq_column_reader_destroy(struct pq_column_reader *cr)
{
	if (!cr)
		return;
	free(cr->chunk);
	free(cr->dict_buf);
	free(cr->dict_vals);
	free(cr->dict_bytes);
	free(cr->page);
	free(cr->page2);
	free(cr->valid);
	free(cr->vals);
	free(cr->bytes);
	free(cr->idx);
	free(cr->u64);
	free(cr->u64b);
	free(cr->heap);
	free(cr);
}

/* ---- PLAIN ------------------------------------------------------------ */

/* Decodes n PLAIN values into vals/bytes at [0, n). *used = bytes taken. */
static bool plain(struct pq_column_reader *cr, const uint8_t *p, size_t len,
		  size_t n, uint8_t *vals, struct pq_bytes *bytes, size_t *used,
		  const char **why)
{
	switch (cr->col->type) {
	case PQ_BOOLEAN:
		if (len < (n + 7) / 8) {
			*why = "PLAIN booleans run past the page";
			return false;
		}
		for (size_t i = 0; i < n; i++)
			vals[i] = (p[i / 8] >> (i % 8)) & 1;
		*used = (n + 7) / 8;
		return true;
	case PQ_BYTE_ARRAY: {
		size_t off = 0;
		for (size_t i = 0; i < n; i++) {
			if (len - off < 4) {
				*why = "PLAIN byte array length runs past the page";
				return false;
			}
			uint32_t l = pq_le32(p + off);
			off += 4;
			if (l > len - off) {
				*why = "PLAIN byte array runs past the page";
				return false;
			}
			bytes[i].ptr = p + off;
			bytes[i].len = l;
			off += l;
		}
		*used = off;
		return true;
	}
	case PQ_FIXED_LEN_BYTE_ARRAY: {
		size_t w = (size_t)cr->col->type_length;
		if (n > len / w) {
			*why = "PLAIN values run past the page";
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			bytes[i].ptr = p + i * w;
			bytes[i].len = (uint32_t)w;
		}
		*used = n * w;
		return true;
	}
	default:
		if (n > len / cr->width) {
			*why = "PLAIN values run past the page";
			return false;
		}
		memcpy(vals, p, n * cr->width);
		*used = n * cr->width;
		return true;
	}
}

/* ---- dictionary page --------------------------------------------------- */

static enum iot_err load_dict(struct pq_column_reader *cr,
			      const struct pq_page_header *h, const uint8_t *body,
			      struct iot_error *err)
{
	const char *why = NULL;
	const struct pq_chunk_info *ci = &cr->r->rgs[cr->rg].columns[cr->ci];
	if (cr->has_dict)
		return cerr(cr, err, IOT_ERR_FORMAT, "more than one dictionary page");
	if (cr->data_seen)
		return cerr(cr, err, IOT_ERR_FORMAT,
			    "dictionary page after a data page");
	if (h->num_values < 0)
		return cerr(cr, err, IOT_ERR_FORMAT,
			    "dictionary page with %d entries", (int)h->num_values);
	if ((uint32_t)h->uncompressed_size > PQ_MAX_PAGE_BYTES)
		return cerr(cr, err, IOT_ERR_LIMIT,
			    "dictionary page of %d bytes is too large",
			    (int)h->uncompressed_size);
	size_t ulen = (size_t)h->uncompressed_size;
	size_t n = (size_t)h->num_values;
	size_t minsz = cr->col->type == PQ_BOOLEAN ? 0 :
		       cr->col->type == PQ_BYTE_ARRAY ? 4 :
		       cr->width ? cr->width : (size_t)cr->col->type_length;
	if (minsz && n > ulen / minsz)
		return cerr(cr, err, IOT_ERR_FORMAT,
			    "dictionary page declares %zu entries in %zu bytes",
			    n, ulen);
	if (cr->col->type == PQ_BOOLEAN && n > ulen * 8)
		return cerr(cr, err, IOT_ERR_FORMAT, "bad boolean dictionary");
	cr->dict_buf = xmalloc(ulen ? ulen : 1);
	if (!pq_decompress(ci->codec, body, (size_t)h->compressed_size,
			   cr->dict_buf, ulen, &why))
		return cerr(cr, err, IOT_ERR_FORMAT, "dictionary page: %s", why);
	if (cr->width)
		cr->dict_vals = xmalloc(n * cr->width + 1);
	else
		cr->dict_bytes = xmalloc((n + 1) * sizeof(struct pq_bytes));
	size_t used;
	if (!plain(cr, cr->dict_buf, ulen, n, cr->dict_vals, cr->dict_bytes,
		   &used, &why))
		return cerr(cr, err, IOT_ERR_FORMAT, "dictionary page: %s", why);
	cr->dict_n = n;
	cr->has_dict = true;
	return IOT_OK;
}

/* ---- data pages -------------------------------------------------------- */

static void ensure_page_arrays(struct pq_column_reader *cr, size_t n)
{
	if (n <= cr->cap)
		return;
	size_t c = cr->cap * 2 > n ? cr->cap * 2 : n;
	free(cr->valid);
	free(cr->vals);
	free(cr->bytes);
	cr->valid = xmalloc(c);
	cr->vals = cr->width ? xmalloc(st_mult(c, cr->width)) : NULL;
	cr->bytes = cr->width ? NULL : xmalloc(st_mult(c, sizeof(struct pq_bytes)));
	cr->cap = c;
}

static bool decode_dict_values(struct pq_column_reader *cr, const uint8_t *p,
			       size_t len, size_t nn, const char **why)
{
	if (!cr->has_dict) {
		*why = "dictionary-encoded page without a dictionary page";
		return false;
	}
	if (nn == 0)
		return true;
	if (len < 1) {
		*why = "dictionary indices missing";
		return false;
	}
	int bw = p[0];
	if (bw > 32) {
		*why = "dictionary index bit width above 32";
		return false;
	}
	grow((void **)&cr->idx, &cr->idx_cap, nn, sizeof(uint32_t));
	if (!pq_rle_decode_u32(p + 1, len - 1, bw, cr->idx, nn)) {
		*why = "corrupt dictionary indices";
		return false;
	}
	size_t dn = cr->dict_n;
	if (cr->width == 8) {
		const uint64_t *d = (const uint64_t *)(void *)cr->dict_vals;
		uint64_t *o = (uint64_t *)(void *)cr->vals;
		for (size_t i = 0; i < nn; i++) {
			uint32_t k = cr->idx[i];
			if (k >= dn)
				goto bad;
			o[i] = d[k];
		}
	} else if (cr->width == 4) {
		const uint32_t *d = (const uint32_t *)(void *)cr->dict_vals;
		uint32_t *o = (uint32_t *)(void *)cr->vals;
		for (size_t i = 0; i < nn; i++) {
			uint32_t k = cr->idx[i];
			if (k >= dn)
				goto bad;
			o[i] = d[k];
		}
	} else if (cr->width) {
		for (size_t i = 0; i < nn; i++) {
			uint32_t k = cr->idx[i];
			if (k >= dn)
				goto bad;
			memcpy(cr->vals + i * cr->width,
			       cr->dict_vals + (size_t)k * cr->width, cr->width);
		}
	} else {
		for (size_t i = 0; i < nn; i++) {
			uint32_t k = cr->idx[i];
			if (k >= dn)
				goto bad;
			cr->bytes[i] = cr->dict_bytes[k];
		}
	}
	return true;
bad:
	*why = "dictionary index out of range";
	return false;
}

static bool delta_ints(struct pq_column_reader *cr, const uint8_t *p,
		       size_t len, size_t nn, uint64_t **out, size_t *used,
		       const char **why)
{
	grow((void **)&cr->u64, &cr->u64_cap, nn ? nn : 1, sizeof(uint64_t));
	*out = cr->u64;
	return pq_delta_decode(p, len, nn, cr->width == 4 ? 32 : 64, cr->u64,
			       used, why);
}

static bool decode_delta_bytes(struct pq_column_reader *cr, const uint8_t *p,
			       size_t len, size_t nn, bool prefixed,
			       const char **why)
{
	size_t used, used2 = 0;
	uint64_t *pre = NULL, *suf;
	size_t off = 0;

	if (prefixed) {
		grow((void **)&cr->u64b, &cr->u64b_cap, nn ? nn : 1, sizeof(uint64_t));
		if (!pq_delta_decode(p, len, nn, 32, cr->u64b, &used2, why))
			return false;
		pre = cr->u64b;
		off = used2;
	}
	grow((void **)&cr->u64, &cr->u64_cap, nn ? nn : 1, sizeof(uint64_t));
	suf = cr->u64;
	if (!pq_delta_decode(p + off, len - off, nn, 32, suf, &used, why))
		return false;
	off += used;
	/* lengths are int32: check signs and the total against the data */
	size_t total_suf = 0, total = 0, prev = 0;
	for (size_t i = 0; i < nn; i++) {
		int32_t sl = (int32_t)(uint32_t)suf[i];
		if (sl < 0 || (size_t)sl > len - off - total_suf) {
			*why = "DELTA byte array length out of range";
			return false;
		}
		total_suf += (size_t)sl;
		if (prefixed) {
			int32_t pl = (int32_t)(uint32_t)pre[i];
			if (pl < 0 || (size_t)pl > prev) {
				*why = "DELTA_BYTE_ARRAY prefix longer than the "
				       "previous value";
				return false;
			}
			prev = (size_t)pl + (size_t)sl;
			total += prev;
			if (total > PQ_MAX_PAGE_HEAP) {
				*why = "DELTA_BYTE_ARRAY page expands beyond 256 MiB";
				return false;
			}
		}
	}
	const uint8_t *data = p + off;
	if (!prefixed) {
		size_t o = 0;
		for (size_t i = 0; i < nn; i++) {
			cr->bytes[i].ptr = data + o;
			cr->bytes[i].len = (uint32_t)suf[i];
			o += (uint32_t)suf[i];
		}
		return true;
	}
	free(cr->heap);
	cr->heap = xmalloc(total ? total : 1);
	size_t h = 0, o = 0;
	const uint8_t *last = NULL;
	for (size_t i = 0; i < nn; i++) {
		size_t pl = (uint32_t)pre[i], sl = (uint32_t)suf[i];
		if (pl)
			memcpy(cr->heap + h, last, pl);
		memcpy(cr->heap + h + pl, data + o, sl);
		o += sl;
		cr->bytes[i].ptr = cr->heap + h;
		cr->bytes[i].len = (uint32_t)(pl + sl);
		last = cr->heap + h;
		h += pl + sl;
	}
	if (cr->col->type == PQ_FIXED_LEN_BYTE_ARRAY)
		for (size_t i = 0; i < nn; i++)
			if (cr->bytes[i].len != (uint32_t)cr->col->type_length) {
				*why = "DELTA_BYTE_ARRAY value of the wrong length";
				return false;
			}
	return true;
}

static bool decode_values(struct pq_column_reader *cr, int enc,
			  const uint8_t *p, size_t len, size_t nn,
			  const char **why)
{
	size_t used;
	enum pq_type t = cr->col->type;
	switch (enc) {
	case PQ_ENC_PLAIN:
		return plain(cr, p, len, nn, cr->vals, cr->bytes, &used, why);
	case PQ_ENC_PLAIN_DICTIONARY:
	case PQ_ENC_RLE_DICTIONARY:
		return decode_dict_values(cr, p, len, nn, why);
	case PQ_ENC_RLE:
		if (t != PQ_BOOLEAN)
			break;
		if (len < 4 || pq_le32(p) > len - 4) {
			*why = "RLE boolean length prefix runs past the page";
			return false;
		}
		if (!pq_rle_decode_u8(p + 4, pq_le32(p), 1, cr->vals, nn)) {
			*why = "corrupt RLE booleans";
			return false;
		}
		return true;
	case PQ_ENC_DELTA_BINARY_PACKED: {
		uint64_t *v;
		if (t != PQ_INT32 && t != PQ_INT64)
			break;
		if (!delta_ints(cr, p, len, nn, &v, &used, why))
			return false;
		if (t == PQ_INT32) {
			int32_t *o = (int32_t *)(void *)cr->vals;
			for (size_t i = 0; i < nn; i++)
				o[i] = (int32_t)(uint32_t)v[i];
		} else {
			memcpy(cr->vals, v, nn * 8);
		}
		return true;
	}
	case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
		if (t != PQ_BYTE_ARRAY)
			break;
		return decode_delta_bytes(cr, p, len, nn, false, why);
	case PQ_ENC_DELTA_BYTE_ARRAY:
		if (t != PQ_BYTE_ARRAY && t != PQ_FIXED_LEN_BYTE_ARRAY)
			break;
		return decode_delta_bytes(cr, p, len, nn, true, why);
	case PQ_ENC_BYTE_STREAM_SPLIT: {
		size_t k = cr->width ? cr->width : (size_t)cr->col->type_length;
		if (t == PQ_BOOLEAN || t == PQ_BYTE_ARRAY || t == PQ_INT96)
			break;
		if (nn && (len / k < nn || len != nn * k)) {
			*why = "BYTE_STREAM_SPLIT data size is not width x count";
			return false;
		}
		uint8_t *dst;
		if (cr->width) {
			dst = cr->vals;
		} else {
			free(cr->heap);
			cr->heap = xmalloc(nn * k + 1);
			dst = cr->heap;
		}
		for (size_t i = 0; i < nn; i++)
			for (size_t j = 0; j < k; j++)
				dst[i * k + j] = p[j * nn + i];
		if (!cr->width)
			for (size_t i = 0; i < nn; i++) {
				cr->bytes[i].ptr = dst + i * k;
				cr->bytes[i].len = (uint32_t)k;
			}
		return true;
	}
	default:
		*why = NULL;
		return false;
	}
	*why = "encoding not valid for this column type";
	return false;
}

/* Spreads nn dense values over the n rows where valid[i] is 1. */
static void scatter(struct pq_column_reader *cr, size_t n, size_t nn)
{
	if (nn == n)
		return;
	size_t j = nn;
	if (cr->width) {
		size_t w = cr->width;
		for (size_t i = n; i-- > 0;) {
			if (cr->valid[i])
				memmove(cr->vals + i * w, cr->vals + --j * w, w);
			else
				memset(cr->vals + i * w, 0, w);
		}
	} else {
		for (size_t i = n; i-- > 0;) {
			if (cr->valid[i])
				cr->bytes[i] = cr->bytes[--j];
			else
				cr->bytes[i] = (struct pq_bytes){ NULL, 0 };
		}
	}
}

/* Legacy BIT_PACKED levels: MSB first, no length prefix. */
static bool bitpacked_levels(const uint8_t *p, size_t len, size_t n,
			     uint8_t *out, size_t *used)
{
	size_t need = (n + 7) / 8;
	if (len < need)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (p[i / 8] >> (7 - i % 8)) & 1;
	*used = need;
	return true;
}

static enum iot_err load_data(struct pq_column_reader *cr,
			      const struct pq_page_header *h, const uint8_t *body,
			      struct iot_error *err)
{
	const struct pq_chunk_info *ci = &cr->r->rgs[cr->rg].columns[cr->ci];
	const char *why = NULL;
	bool v2 = h->type == PQ_PAGE_DATA_V2;

	cr->data_seen = true;
	if (!h->has_sub)
		return cerr(cr, err, IOT_ERR_FORMAT, "data page without its header");
	if (h->num_values < 0 || (uint32_t)h->num_values > PQ_MAX_PAGE_VALUES)
		return cerr(cr, err, IOT_ERR_LIMIT,
			    "data page with %d values (limit %u)",
			    (int)h->num_values, PQ_MAX_PAGE_VALUES);
	size_t n = (size_t)h->num_values;
	if ((int64_t)n > cr->rows_expected - cr->rows_done)
		return cerr(cr, err, IOT_ERR_FORMAT,
			    "pages hold more than the row group's %lld rows",
			    (long long)cr->rows_expected);
	if ((uint32_t)h->uncompressed_size > PQ_MAX_PAGE_BYTES)
		return cerr(cr, err, IOT_ERR_LIMIT,
			    "data page of %d bytes is too large",
			    (int)h->uncompressed_size);
	size_t ulen = (size_t)h->uncompressed_size;
	size_t clen = (size_t)h->compressed_size;
	const uint8_t *p;
	size_t len;

	ensure_page_arrays(cr, n ? n : 1);
	size_t nn = n;
	if (!v2) {
		grow((void **)&cr->page, &cr->page_cap, ulen ? ulen : 1, 1);
		if (!pq_decompress(ci->codec, body, clen, cr->page, ulen, &why))
			return cerr(cr, err, IOT_ERR_FORMAT, "data page: %s", why);
		p = cr->page;
		len = ulen;
		if (cr->max_def) {
			size_t used;
			if (h->def_encoding == PQ_ENC_BIT_PACKED) {
				if (!bitpacked_levels(p, len, n, cr->valid, &used))
					return cerr(cr, err, IOT_ERR_FORMAT,
						    "truncated BIT_PACKED levels");
			} else {
				if (len < 4 || pq_le32(p) > len - 4)
					return cerr(cr, err, IOT_ERR_FORMAT,
						    "definition levels run past "
						    "the page");
				used = 4 + pq_le32(p);
				if (!pq_rle_decode_u8(p + 4, used - 4, 1, cr->valid, n))
					return cerr(cr, err, IOT_ERR_FORMAT,
						    "corrupt definition levels");
			}
			p += used;
			len -= used;
		}
	} else {
		if (h->def_len < 0 || h->rep_len < 0 ||
		    (size_t)h->def_len + (size_t)h->rep_len > clen ||
		    (size_t)h->def_len + (size_t)h->rep_len > ulen)
			return cerr(cr, err, IOT_ERR_FORMAT,
				    "v2 page level lengths exceed the page");
		size_t lv = (size_t)h->def_len + (size_t)h->rep_len;
		const uint8_t *defs = body + h->rep_len;
		if (cr->max_def &&
		    !pq_rle_decode_u8(defs, (size_t)h->def_len, 1, cr->valid, n))
			return cerr(cr, err, IOT_ERR_FORMAT,
				    "corrupt definition levels");
		size_t vlen = ulen - lv;
		grow((void **)&cr->page, &cr->page_cap, vlen ? vlen : 1, 1);
		if (h->is_compressed) {
			if (!pq_decompress(ci->codec, body + lv, clen - lv, cr->page,
					   vlen, &why))
				return cerr(cr, err, IOT_ERR_FORMAT,
					    "data page v2: %s", why);
		} else {
			if (clen - lv != vlen)
				return cerr(cr, err, IOT_ERR_FORMAT,
					    "uncompressed v2 page size mismatch");
			if (vlen)
				memcpy(cr->page, body + lv, vlen);
		}
		p = cr->page;
		len = vlen;
	}
	if (cr->max_def) {
		nn = 0;
		for (size_t i = 0; i < n; i++) {
			if (cr->valid[i] > 1)
				return cerr(cr, err, IOT_ERR_FORMAT,
					    "definition level above 1");
			nn += cr->valid[i];
		}
	} else {
		memset(cr->valid, 1, n);
	}
	if (!decode_values(cr, h->encoding, p, len, nn, &why)) {
		if (!why)
			return cerr(cr, err, IOT_ERR_UNSUPPORTED,
				    "encoding %s (%d) is not supported",
				    pq_encoding_name(h->encoding), h->encoding);
		return cerr(cr, err, IOT_ERR_FORMAT, "%s page: %s",
			    pq_encoding_name(h->encoding), why);
	}
	scatter(cr, n, nn);
	cr->n = n;
	cr->at = 0;
	cr->rows_done += (int64_t)n;
	return IOT_OK;
}

static enum iot_err next_page(struct pq_column_reader *cr, bool *end,
			      struct iot_error *err)
{
	for (;;) {
		if (cr->pos >= cr->chunk_len) {
			if (cr->rows_done != cr->rows_expected)
				return cerr(cr, err, IOT_ERR_FORMAT,
					    "chunk ends after %lld of %lld rows",
					    (long long)cr->rows_done,
					    (long long)cr->rows_expected);
			*end = true;
			return IOT_OK;
		}
		if (cr->rows_done == cr->rows_expected && cr->data_seen) {
			/* all rows read; anything after is padding we ignore */
			*end = true;
			return IOT_OK;
		}
		struct pq_page_header h;
		size_t hlen;
		const char *why;
		size_t at = cr->pos;
		if (!pq_page_header_parse(&h, cr->chunk + at, cr->chunk_len - at,
					  &hlen, &why))
			return cerr(cr, err, IOT_ERR_FORMAT,
				    "bad page header at chunk offset %zu: %s", at,
				    why);
		if ((size_t)h.compressed_size > cr->chunk_len - at - hlen)
			return cerr(cr, err, IOT_ERR_FORMAT,
				    "page at chunk offset %zu runs past the chunk",
				    at);
		const uint8_t *body = cr->chunk + at + hlen;
		cr->pos = at + hlen + (size_t)h.compressed_size;
		enum iot_err rc;
		switch (h.type) {
		case PQ_PAGE_DICT:
			if (!h.has_sub)
				return cerr(cr, err, IOT_ERR_FORMAT,
					    "dictionary page without its header");
			if ((rc = load_dict(cr, &h, body, err)) != IOT_OK)
				return rc;
			break;
		case PQ_PAGE_DATA:
		case PQ_PAGE_DATA_V2:
			if ((rc = load_data(cr, &h, body, err)) != IOT_OK)
				return rc;
			if (cr->n > 0) {
				*end = false;
				return IOT_OK;
			}
			break;
		default:
			break; /* index pages and unknown types are skipped */
		}
	}
}

enum iot_err pq_column_reader_next(struct pq_column_reader *cr,
				   struct pq_batch *b, size_t max,
				   struct iot_error *err)
{
	memset(b, 0, sizeof(*b));
	if (cr->at >= cr->n) {
		bool end = false;
		cr->n = cr->at = 0;
		enum iot_err rc = next_page(cr, &end, err);
		if (rc != IOT_OK || end)
			return rc;
	}
	size_t k = cr->n - cr->at;
	if (max && k > max)
		k = max;
	b->n = k;
	b->valid = cr->valid + cr->at;
	if (cr->width) {
		const uint8_t *v = cr->vals + cr->at * cr->width;
		switch (cr->col->type) {
		case PQ_BOOLEAN: b->b = v; break;
		case PQ_INT32: b->i32 = (const int32_t *)(const void *)v; break;
		case PQ_INT64: b->i64 = (const int64_t *)(const void *)v; break;
		case PQ_FLOAT: b->f32 = (const float *)(const void *)v; break;
		case PQ_DOUBLE: b->f64 = (const double *)(const void *)v; break;
		default: b->int96 = v; break;
		}
	} else {
		b->bytes = cr->bytes + cr->at;
	}
	cr->at += k;
	return IOT_OK;
}
