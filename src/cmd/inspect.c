/*
 * inspect.c - `iotpipe inspect FILE|URI`: a Parquet file's schema, row
 * groups (per column: codec, encodings, sizes, statistics), key/value
 * metadata and first rows, as text or as one JSON object (docs/design.md §9).
 *
 * Data flow: open a pq_reader over a local file or, for s3:// URIs, over
 * the store's ranged reads (a small pq_input adapter below); print the
 * metadata; then walk row groups and, for every column, its column reader
 * in lockstep until --head rows are printed. Only this file formats values:
 * timestamps (TIMESTAMP any unit, INT96) as ISO-8601 UTC with microseconds,
 * floats in their shortest round-trip form (NaN/Infinity as strings, since
 * JSON has no such numbers), DATE as YYYY-MM-DD, DECIMAL as a decimal
 * string, byte strings as text when valid UTF-8 and "0x<hex>" otherwise.
 * The reader under it is iotpipe's own (src/parquet/pq.h); this file only
 * formats and returns the exit status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/buf.h"
#include "core/opt.h"
#include "core/xalloc.h"
#include "parquet/pq_store.h"
#include "parquet/pq.h"
#include "store/store.h"

#include "core/banned.h"

/* ---- value formatting -------------------------------------------------- */

static bool valid_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* A JSON string; bytes of text that is not valid UTF-8 (names, metadata)
 * are escaped one by one as \u00XX so the output stays valid JSON. */
static void put_json_string(struct buf *b, const char *s, size_t n)
{
	bool utf8 = valid_utf8((const uint8_t *)s, n);
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c == '\r') {
			buf_puts(b, "\\r");
		} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
			buf_printf(b, "\\u%04x", c);
		} else {
			buf_putc(b, c);
		}
	}
	buf_putc(b, '"');
}

/* A text value: quoted in JSON, raw in text mode. */
static void put_text(struct buf *b, bool json, const char *s, size_t n)
{
	if (json)
		put_json_string(b, s, n);
	else
		buf_append(b, s, n);
}

static void put_hex(struct buf *b, bool json, const uint8_t *p, size_t n)
{
	struct buf h = BUF_INIT;
	buf_puts(&h, "0x");
	for (size_t i = 0; i < n; i++)
		buf_printf(&h, "%02x", p[i]);
	put_text(b, json, (const char *)h.data, h.len);
	buf_release(&h);
}

static void put_decimal(struct buf *b, bool json, __int128 v, int scale)
{
	char digits[64];
	int nd = 0;
	bool neg = v < 0;
	unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
	do {
		digits[nd++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u && nd < 60);
	while (nd <= scale && nd < 60)
		digits[nd++] = '0';
	char out[80];
	size_t o = 0;
	if (neg)
		out[o++] = '-';
	for (int i = nd - 1; i >= 0; i--) {
		out[o++] = digits[i];
		if (i == scale && scale > 0)
			out[o++] = '.';
	}
	put_text(b, json, out, o);
}

static void put_float_text(struct buf *b, bool json, double d, bool single)
{
	char tmp[40];
	if (single)
		pq_format_float((float)d, tmp, sizeof(tmp));
	else
		pq_format_double(d, tmp, sizeof(tmp));
	if (json && (tmp[0] == 'N' || tmp[0] == 'I' || tmp[1] == 'I'))
		put_json_string(b, tmp, strlen(tmp));
	else
		buf_puts(b, tmp);
}

static void put_micros(struct buf *b, bool json, int64_t us)
{
	char tmp[48];
	pq_format_micros(us, tmp, sizeof(tmp));
	put_text(b, json, tmp, strlen(tmp));
}

static void put_bytes_value(struct buf *b, bool json, const struct pq_column *c,
			    const uint8_t *p, size_t n)
{
	if (c->logical == PQ_LOGICAL_DECIMAL && n <= 16) {
		__int128 v = n && (p[0] & 0x80) ? -1 : 0;
		for (size_t i = 0; i < n; i++)
			v = (__int128)(((unsigned __int128)v << 8) | p[i]);
		put_decimal(b, json, v, c->scale);
		return;
	}
	if (c->logical == PQ_LOGICAL_FLOAT16 && n == 2) {
		put_float_text(b, json, pq_half_to_float((uint16_t)(p[0] | p[1] << 8)),
			       true);
		return;
	}
	if (c->logical == PQ_LOGICAL_UUID && n == 16) {
		char u[40];
		snprintf(u, sizeof(u),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			 "%02x%02x%02x%02x%02x%02x", p[0], p[1], p[2], p[3], p[4],
			 p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13],
			 p[14], p[15]);
		put_text(b, json, u, strlen(u));
		return;
	}
	if (c->type == PQ_BYTE_ARRAY && valid_utf8(p, n))
		put_text(b, json, (const char *)p, n);
	else
		put_hex(b, json, p, n);
}

static void put_int_value(struct buf *b, bool json, const struct pq_column *c,
			  int64_t v)
{
	char tmp[48];
	switch (c->logical) {
	case PQ_LOGICAL_TIMESTAMP:
		put_micros(b, json, pq_timestamp_to_micros(v, c->unit));
		return;
	case PQ_LOGICAL_DATE: {
		pq_format_micros(v * 86400000000ll, tmp, sizeof(tmp));
		char *t = strchr(tmp, 'T');
		put_text(b, json, tmp, t ? (size_t)(t - tmp) : strlen(tmp));
		return;
	}
	case PQ_LOGICAL_DECIMAL:
		put_decimal(b, json, v, c->scale);
		return;
	case PQ_LOGICAL_INT:
		if (!c->int_signed) {
			uint64_t u = c->type == PQ_INT32 ? (uint32_t)v : (uint64_t)v;
			buf_printf(b, "%" PRIu64, u);
			return;
		}
		break;
	default:
		break;
	}
	buf_printf(b, "%" PRId64, v);
}

/* Formats row i of a batch. */
static void put_value(struct buf *b, bool json, const struct pq_column *c,
		      const struct pq_batch *bt, size_t i)
{
	if (!bt->valid[i]) {
		buf_puts(b, json ? "null" : "NULL");
		return;
	}
	switch (c->type) {
	case PQ_BOOLEAN:
		buf_puts(b, bt->b[i] ? "true" : "false");
		break;
	case PQ_INT32:
		put_int_value(b, json, c, bt->i32[i]);
		break;
	case PQ_INT64:
		put_int_value(b, json, c, bt->i64[i]);
		break;
	case PQ_INT96:
		put_micros(b, json, pq_int96_to_micros(bt->int96 + 12 * i));
		break;
	case PQ_FLOAT:
		put_float_text(b, json, bt->f32[i], true);
		break;
	case PQ_DOUBLE:
		put_float_text(b, json, bt->f64[i], false);
		break;
	default:
		put_bytes_value(b, json, c, bt->bytes[i].ptr, bt->bytes[i].len);
	}
}

/* Formats a statistics value (PLAIN bytes without length prefix). */
static void put_stat(struct buf *b, bool json, const struct pq_column *c,
		     struct pq_bytes v)
{
	uint8_t one = 1;
	struct pq_batch bt;
	memset(&bt, 0, sizeof(bt));
	bt.n = 1;
	bt.valid = &one;
	int32_t i32;
	int64_t i64;
	float f;
	double d;
	switch (c->type) {
	case PQ_BOOLEAN:
		bt.b = v.ptr;
		break;
	case PQ_INT32:
		memcpy(&i32, v.ptr, 4);
		bt.i32 = &i32;
		break;
	case PQ_INT64:
		memcpy(&i64, v.ptr, 8);
		bt.i64 = &i64;
		break;
	case PQ_FLOAT:
		memcpy(&f, v.ptr, 4);
		bt.f32 = &f;
		break;
	case PQ_DOUBLE:
		memcpy(&d, v.ptr, 8);
		bt.f64 = &d;
		break;
	default:
		bt.bytes = &v;
		break;
	}
	put_value(b, json, c, &bt, 0);
}

/* ---- output ------------------------------------------------------------ */

static void flush_out(struct buf *b)
{
	if (b->len)
		fwrite(b->data, 1, b->len, stdout);
	buf_reset(b);
}

static void put_metadata_json(struct buf *b, struct pq_reader *r)
{
	size_t nc = pq_reader_num_columns(r);
	char lt[64];
	buf_puts(b, "{\"file\":");
	put_json_string(b, pq_reader_name(r), strlen(pq_reader_name(r)));
	buf_puts(b, ",\"created_by\":");
	if (pq_reader_created_by(r))
		put_json_string(b, pq_reader_created_by(r),
				strlen(pq_reader_created_by(r)));
	else
		buf_puts(b, "null");
	buf_printf(b, ",\"version\":%d,\"num_rows\":%" PRId64 ",\"schema\":[",
		   (int)pq_reader_version(r), pq_reader_num_rows(r));
	for (size_t i = 0; i < nc; i++) {
		const struct pq_column *c = pq_reader_column(r, i);
		pq_logical_describe(c, lt, sizeof(lt));
		buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		put_json_string(b, c->name, strlen(c->name));
		buf_printf(b, ",\"type\":\"%s\",\"logical_type\":",
			   pq_type_name(c->type));
		if (lt[0])
			put_json_string(b, lt, strlen(lt));
		else
			buf_puts(b, "null");
		buf_printf(b, ",\"repetition\":\"%s\"}",
			   c->optional ? "OPTIONAL" : "REQUIRED");
	}
	buf_puts(b, "],\"row_groups\":[");
	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
		const struct pq_row_group_info *rg = pq_reader_row_group(r, g);
		buf_printf(b, "%s{\"num_rows\":%" PRId64 ",\"total_byte_size\":%" PRId64
			   ",\"total_compressed_size\":%" PRId64 ",\"columns\":[",
			   g ? "," : "", rg->num_rows, rg->total_byte_size,
			   rg->total_compressed_size);
		for (size_t i = 0; i < nc; i++) {
			const struct pq_column *c = pq_reader_column(r, i);
			const struct pq_chunk_info *ci = &rg->columns[i];
			buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
			put_json_string(b, c->name, strlen(c->name));
			buf_printf(b, ",\"codec\":\"%s\",\"encodings\":[",
				   pq_codec_name(ci->codec));
			for (size_t e = 0; e < ci->num_encodings; e++)
				buf_printf(b, "%s\"%s\"", e ? "," : "",
					   pq_encoding_name(ci->encodings[e]));
			buf_printf(b, "],\"num_values\":%" PRId64
				   ",\"total_compressed_size\":%" PRId64
				   ",\"total_uncompressed_size\":%" PRId64
				   ",\"data_page_offset\":%" PRId64,
				   ci->num_values, ci->total_compressed_size,
				   ci->total_uncompressed_size,
				   ci->data_page_offset);
			if (ci->dictionary_page_offset > 0)
				buf_printf(b, ",\"dictionary_page_offset\":%" PRId64,
					   ci->dictionary_page_offset);
			buf_puts(b, ",\"statistics\":{");
			const struct pq_stats *s = &ci->stats;
			bool comma = false;
			if (s->has_null_count) {
				buf_printf(b, "\"null_count\":%" PRId64, s->null_count);
				comma = true;
			}
			if (s->has_distinct_count) {
				buf_printf(b, "%s\"distinct_count\":%" PRId64,
					   comma ? "," : "", s->distinct_count);
				comma = true;
			}
			if (s->has_min_max) {
				buf_printf(b, "%s\"min\":", comma ? "," : "");
				put_stat(b, true, c, s->min);
				buf_puts(b, ",\"max\":");
				put_stat(b, true, c, s->max);
			}
			buf_puts(b, "}}");
		}
		buf_puts(b, "]}");
	}
	buf_puts(b, "],\"key_value_metadata\":{");
	for (size_t i = 0; i < pq_reader_num_kv(r); i++) {
		const char *k, *v;
		pq_reader_kv(r, i, &k, &v);
		if (i)
			buf_putc(b, ',');
		put_json_string(b, k, strlen(k));
		buf_putc(b, ':');
		if (v)
			put_json_string(b, v, strlen(v));
		else
			buf_puts(b, "null");
	}
	buf_puts(b, "}");
}

static void put_metadata_text(struct buf *b, struct pq_reader *r)
{
	size_t nc = pq_reader_num_columns(r);
	char lt[64];
	buf_printf(b, "file: %s\ncreated_by: %s\nversion: %d\nnum_rows: %" PRId64
		   "\nrow_groups: %zu\n\nschema:\n", pq_reader_name(r),
		   pq_reader_created_by(r) ? pq_reader_created_by(r) : "(none)",
		   (int)pq_reader_version(r), pq_reader_num_rows(r),
		   pq_reader_num_row_groups(r));
	for (size_t i = 0; i < nc; i++) {
		const struct pq_column *c = pq_reader_column(r, i);
		pq_logical_describe(c, lt, sizeof(lt));
		buf_printf(b, "  %-24s %-20s %-24s %s\n", c->name,
			   pq_type_name(c->type), lt[0] ? lt : "-",
			   c->optional ? "OPTIONAL" : "REQUIRED");
	}
	if (pq_reader_num_kv(r)) {
		buf_puts(b, "\nkey_value_metadata:\n");
		for (size_t i = 0; i < pq_reader_num_kv(r); i++) {
			const char *k, *v;
			pq_reader_kv(r, i, &k, &v);
			size_t vl = v ? strlen(v) : 0;
			buf_printf(b, "  %s = %.*s%s\n", k, vl > 200 ? 200 : (int)vl,
				   v ? v : "(null)", vl > 200 ? "..." : "");
		}
	}
	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
		const struct pq_row_group_info *rg = pq_reader_row_group(r, g);
		buf_printf(b, "\nrow group %zu: %" PRId64 " rows, %" PRId64
			   " bytes uncompressed, %" PRId64 " compressed\n", g,
			   rg->num_rows, rg->total_byte_size,
			   rg->total_compressed_size);
		for (size_t i = 0; i < nc; i++) {
			const struct pq_column *c = pq_reader_column(r, i);
			const struct pq_chunk_info *ci = &rg->columns[i];
			buf_printf(b, "  %s: %s [", c->name, pq_codec_name(ci->codec));
			for (size_t e = 0; e < ci->num_encodings; e++)
				buf_printf(b, "%s%s", e ? "," : "",
					   pq_encoding_name(ci->encodings[e]));
			buf_printf(b, "] values %" PRId64 ", %" PRId64
				   " -> %" PRId64 " bytes", ci->num_values,
				   ci->total_uncompressed_size,
				   ci->total_compressed_size);
			if (ci->stats.has_null_count)
				buf_printf(b, ", nulls %" PRId64, ci->stats.null_count);
			if (ci->stats.has_min_max) {
				buf_puts(b, ", min ");
				put_stat(b, false, c, ci->stats.min);
				buf_puts(b, ", max ");
				put_stat(b, false, c, ci->stats.max);
			}
			buf_putc(b, '\n');
		}
	}
}

struct colstate {
	struct pq_column_reader *cr;
	struct pq_batch bt;
	size_t at;
};

/* Prints up to `head` rows (-1: all). */
static enum iot_err put_rows(struct buf *b, struct pq_reader *r, bool json,
			     long long head, struct iot_error *err)
{
	size_t nc = pq_reader_num_columns(r);
	long long printed = 0;
	enum iot_err rc = IOT_OK;
	struct colstate *cs = xcalloc(nc ? nc : 1, sizeof(*cs));

	if (!json) {
		buf_printf(b, "\nrows (%s):\n", head < 0 ? "all" : "first");
		for (size_t i = 0; i < nc; i++)
			buf_printf(b, "%s%s", i ? "\t" : "",
				   pq_reader_column(r, i)->name);
		buf_putc(b, '\n');
	}
	/* No columns, no values: nothing to show (and a footer may claim any
	 * number of such rows). */
	for (size_t g = 0; nc && g < pq_reader_num_row_groups(r) &&
			   (head < 0 || printed < head); g++) {
		int64_t rows = pq_reader_row_group(r, g)->num_rows;
		for (size_t i = 0; i < nc; i++) {
			memset(&cs[i], 0, sizeof(cs[i]));
			if ((rc = pq_column_reader_create(&cs[i].cr, r, g, i, err)))
				goto out;
		}
		for (int64_t row = 0; row < rows && (head < 0 || printed < head);
		     row++) {
			if (json)
				buf_puts(b, printed ? ",{" : "{");
			for (size_t i = 0; i < nc; i++) {
				struct colstate *s = &cs[i];
				const struct pq_column *c = pq_reader_column(r, i);
				if (s->at >= s->bt.n) {
					if ((rc = pq_column_reader_next(s->cr, &s->bt,
									4096, err)))
						goto out;
					s->at = 0;
					if (s->bt.n == 0) {
						rc = iot_error_set(err, IOT_ERR_FORMAT,
								   "%s: column '%s' ends early",
								   pq_reader_name(r), c->name);
						goto out;
					}
				}
				if (json) {
					if (i)
						buf_putc(b, ',');
					put_json_string(b, c->name, strlen(c->name));
					buf_putc(b, ':');
				} else if (i) {
					buf_putc(b, '\t');
				}
				put_value(b, json, c, &s->bt, s->at++);
			}
			buf_puts(b, json ? "}" : "\n");
			printed++;
			if (b->len > (1u << 16))
				flush_out(b);
		}
		for (size_t i = 0; i < nc; i++) {
			pq_column_reader_destroy(cs[i].cr);
			cs[i].cr = NULL;
		}
	}
out:
	for (size_t i = 0; i < nc; i++)
		pq_column_reader_destroy(cs[i].cr);
	free(cs);
	return rc;
}

int cmd_inspect(int argc, char **argv, struct cmd_ctx *ctx)
{
	const char *head_s = NULL;
	bool json = false;
	struct iot_error err = IOT_ERROR_INIT;
	struct opt opts[] = {
		OPT_STRING(0, "head", &head_s, "N",
			   "rows to show (default 10; 'all' for every row)"),
		OPT_BOOL(0, "json", &json, "print one JSON object instead of text"),
		OPT_END(),
	};
	struct opt_usage usage = {
		"iotpipe inspect [options] FILE|URI",
		"Shows a Parquet file's schema, row groups (encodings, codec, "
		"sizes, statistics), key/value metadata and first rows. "
		"FILE may be a local path or an s3:// URI.",
	};
	int n = 0, status = cmd_parse(ctx, argc, argv, opts, &usage, &n);
	if (status >= 0)
		return status;
	if (n != 1) {
		fprintf(stderr, "iotpipe inspect: expected one FILE or URI "
				"(see --help)\n");
		return EXIT_USAGE;
	}
	long long head = 10;
	if (head_s) {
		char *end;
		if (!strcmp(head_s, "all")) {
			head = -1;
		} else {
			errno = 0;
			head = strtoll(head_s, &end, 10);
			if (errno || *end || end == head_s || head < 0) {
				fprintf(stderr, "iotpipe inspect: --head: '%s' is "
						"not a row count or 'all'\n", head_s);
				return EXIT_USAGE;
			}
		}
	}

	/* a local file or an S3 object, as the store decides (pq_store.h) */
	struct store *st = store_create();
	struct pq_reader *r = NULL;
	struct buf b = BUF_INIT;
	status = 0;
	if (pq_store_reader_open(st, argv[0], &r, &err) != IOT_OK) {
		fprintf(stderr, "iotpipe inspect: %s\n", err.msg);
		store_destroy(st);
		return EXIT_RUNTIME;
	}
	if (json)
		put_metadata_json(&b, r);
	else
		put_metadata_text(&b, r);
	if (json)
		buf_puts(&b, ",\"rows\":[");
	flush_out(&b);
	if (put_rows(&b, r, json, head, &err) != IOT_OK) {
		flush_out(&b);
		fflush(stdout);
		fprintf(stderr, "iotpipe inspect: %s\n", err.msg);
		status = EXIT_RUNTIME;
	} else {
		if (json)
			buf_puts(&b, "]}\n");
		flush_out(&b);
	}
	buf_release(&b);
	pq_reader_destroy(r);
	store_destroy(st);
	return status;
}
