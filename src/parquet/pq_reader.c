/*
 * pq_reader.c - opening a Parquet file: footer, schema and row-group
 * metadata, validated before anyone uses them (facts §13).
 *
 * Data flow: read the 8-byte tail (footer length + magic) and the head
 * magic through the random-access input, then the footer, parse it
 * (pq_meta.c), and check it: a flat schema (nested groups, REPEATED leaves
 * and encryption are refused as unsupported), one chunk per leaf in every
 * row group with the leaf's physical type, every chunk's byte range inside
 * [4, footer start), row counts non-negative and adding up. Statistics are
 * exposed only when they are trustworthy for the column's sort order.
 * Pages are read later, per column chunk, by pq_page.c, which is how
 * projection works: columns nobody asks for are never read.
 *
 * Every error message starts with the input's name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"

#include "core/banned.h"

static enum iot_err fail(struct iot_error *err, enum iot_err code,
			 const char *name, const char *what)
{
	return iot_error_set(err, code, "%s: %s", name, what);
}

/* Maps LogicalType / ConvertedType annotations to our view of a column. */
static void map_logical(const struct pq_schema_elem *e, struct pq_column *c)
{
	c->logical = PQ_LOGICAL_NONE;
	switch (e->logical) {
	case 1: case 4: case 12: /* STRING, ENUM, JSON */
		if (c->type == PQ_BYTE_ARRAY)
			c->logical = PQ_LOGICAL_STRING;
		return;
	case 5: /* DECIMAL */
		c->logical = PQ_LOGICAL_DECIMAL;
		c->scale = e->l_scale;
		c->precision = e->l_precision;
		return;
	case 6:
		if (c->type == PQ_INT32)
			c->logical = PQ_LOGICAL_DATE;
		return;
	case 7: case 8: /* TIME, TIMESTAMP */
		if (e->unit < 1 || e->unit > 3)
			break; /* unknown unit: fall back to converted type */
		c->unit = (enum pq_time_unit)(e->unit - 1);
		c->utc = e->utc;
		if (e->logical == 8 && c->type == PQ_INT64)
			c->logical = PQ_LOGICAL_TIMESTAMP;
		else if (e->logical == 7 &&
			 (c->type == PQ_INT64 || (c->type == PQ_INT32 && e->unit == 1)))
			c->logical = PQ_LOGICAL_TIME;
		return;
	case 10: /* INTEGER */
		if ((c->type == PQ_INT32 || c->type == PQ_INT64) &&
		    (e->int_bits == 8 || e->int_bits == 16 || e->int_bits == 32 ||
		     e->int_bits == 64)) {
			c->logical = PQ_LOGICAL_INT;
			c->int_bits = e->int_bits;
			c->int_signed = e->int_signed;
		}
		return;
	case 14:
		if (c->type == PQ_FIXED_LEN_BYTE_ARRAY && c->type_length == 16)
			c->logical = PQ_LOGICAL_UUID;
		return;
	case 15:
		if (c->type == PQ_FIXED_LEN_BYTE_ARRAY && c->type_length == 2)
			c->logical = PQ_LOGICAL_FLOAT16;
		return;
	case 0:
		break;
	case 2: case 3: case 11: case 13: case 16: case 17: case 18: case 19:
		c->logical = PQ_LOGICAL_OTHER;
		return;
	default:
		break; /* unknown member: fall back to the converted type */
	}
	switch (e->converted) {
	case 0: case 4: case 19: /* UTF8, ENUM, JSON */
		if (c->type == PQ_BYTE_ARRAY)
			c->logical = PQ_LOGICAL_STRING;
		break;
	case 5:
		c->logical = PQ_LOGICAL_DECIMAL;
		c->scale = e->scale;
		c->precision = e->precision;
		break;
	case 6:
		if (c->type == PQ_INT32)
			c->logical = PQ_LOGICAL_DATE;
		break;
	case 7:
		if (c->type == PQ_INT32) {
			c->logical = PQ_LOGICAL_TIME;
			c->unit = PQ_MILLIS;
			c->utc = true;
		}
		break;
	case 8:
		if (c->type == PQ_INT64) {
			c->logical = PQ_LOGICAL_TIME;
			c->unit = PQ_MICROS;
			c->utc = true;
		}
		break;
	case 9: case 10:
		if (c->type == PQ_INT64) {
			c->logical = PQ_LOGICAL_TIMESTAMP;
			c->unit = e->converted == 9 ? PQ_MILLIS : PQ_MICROS;
			c->utc = true;
		}
		break;
	case 11: case 12: case 13: case 14: case 15: case 16: case 17: case 18:
		if (c->type == PQ_INT32 || c->type == PQ_INT64) {
			static const int bits[] = { 8, 16, 32, 64 };
			c->logical = PQ_LOGICAL_INT;
			c->int_signed = e->converted >= 15;
			c->int_bits = bits[(e->converted - 11) % 4];
		}
		break;
	default:
		break;
	}
	if (c->logical == PQ_LOGICAL_DECIMAL &&
	    (c->precision <= 0 || c->scale < 0 || c->scale > c->precision ||
	     c->type == PQ_BOOLEAN || c->type == PQ_FLOAT || c->type == PQ_DOUBLE ||
	     c->type == PQ_INT96))
		c->logical = PQ_LOGICAL_NONE;
}

static bool unsigned_order(const struct pq_column *c)
{
	return c->type == PQ_BYTE_ARRAY || c->type == PQ_FIXED_LEN_BYTE_ARRAY ||
	       (c->logical == PQ_LOGICAL_INT && !c->int_signed);
}

static size_t fixed_size(const struct pq_column *c)
{
	switch (c->type) {
	case PQ_BOOLEAN: return 1;
	case PQ_INT32: case PQ_FLOAT: return 4;
	case PQ_INT64: case PQ_DOUBLE: return 8;
	case PQ_INT96: return 12;
	case PQ_FIXED_LEN_BYTE_ARRAY: return (size_t)c->type_length;
	default: return 0;
	}
}

/* parquet-mr before 1.8.0 wrote wrong binary statistics (PARQUET-251). */
static bool old_parquet_mr(const char *created_by)
{
	int major, minor;
	if (!created_by)
		return false;
	if (sscanf(created_by, "parquet-mr version %d.%d", &major, &minor) != 2)
		return false;
	return major < 1 || (major == 1 && minor < 8);
}

/* parquet-mr before 1.2.9 (or without a version) under-counted chunks. */
static bool parquet_816(const char *created_by)
{
	int a = 0, b = 0, c = 0;
	if (!created_by || strncmp(created_by, "parquet-mr", 10))
		return false;
	if (sscanf(created_by, "parquet-mr version %d.%d.%d", &a, &b, &c) < 2)
		return true;
	return a < 1 || (a == 1 && (b < 2 || (b == 2 && c < 9)));
}

static void choose_stats(struct pq_reader *r, size_t col,
			 struct pq_chunk_meta *cm)
{
	const struct pq_column *c = &r->cols[col];
	struct pq_stats *s = &cm->info.stats;
	const uint8_t *mn = NULL, *mx = NULL;
	size_t mnl = 0, mxl = 0;
	int order = col < r->meta.ncolumn_orders ? r->meta.column_orders[col] : 1;

	s->has_min_max = false;
	if (c->type == PQ_INT96 || order != 1)
		return;
	if (cm->has_min_value && cm->has_max_value) {
		mn = cm->min_value;
		mnl = cm->min_value_len;
		mx = cm->max_value;
		mxl = cm->max_value_len;
	} else if (cm->has_min_old && cm->has_max_old && !unsigned_order(c)) {
		mn = cm->min_old;
		mnl = cm->min_old_len;
		mx = cm->max_old;
		mxl = cm->max_old_len;
	} else {
		return;
	}
	if (unsigned_order(c) && old_parquet_mr(r->meta.created_by))
		return;
	size_t fs = fixed_size(c);
	if (fs && (mnl != fs || mxl != fs))
		return;
	if (c->type == PQ_FLOAT) {
		float a, b;
		memcpy(&a, mn, 4);
		memcpy(&b, mx, 4);
		if (isnan(a) || isnan(b))
			return;
	} else if (c->type == PQ_DOUBLE) {
		double a, b;
		memcpy(&a, mn, 8);
		memcpy(&b, mx, 8);
		if (isnan(a) || isnan(b))
			return;
	}
	s->has_min_max = true;
	s->min.ptr = mn;
	s->min.len = (uint32_t)mnl;
	s->max.ptr = mx;
	s->max.len = (uint32_t)mxl;
}

static enum iot_err check_schema(struct pq_reader *r, struct iot_error *err)
{
	const char *name = r->in->name;
	struct pq_file_meta *m = &r->meta;
	if (m->nschema < 1 || m->schema[0].num_children < 0)
		return fail(err, IOT_ERR_FORMAT, name,
			    "schema has no root element");
	for (size_t i = 1; i < m->nschema; i++) {
		const struct pq_schema_elem *e = &m->schema[i];
		if (e->num_children > 0 || e->type < 0)
			return iot_error_set(err, IOT_ERR_UNSUPPORTED,
					     "%s: column '%s' is a group: nested "
					     "schemas are not supported",
					     name, e->name);
		if (e->repetition == 2)
			return iot_error_set(err, IOT_ERR_UNSUPPORTED,
					     "%s: column '%s' is REPEATED: nested "
					     "schemas are not supported",
					     name, e->name);
		if (e->type > PQ_FIXED_LEN_BYTE_ARRAY)
			return iot_error_set(err, IOT_ERR_FORMAT,
					     "%s: column '%s' has invalid physical "
					     "type %d", name, e->name, e->type);
		if (e->type == PQ_FIXED_LEN_BYTE_ARRAY &&
		    (e->type_length <= 0 || e->type_length > (1 << 20)))
			return iot_error_set(err, IOT_ERR_FORMAT,
					     "%s: column '%s' has invalid "
					     "type_length %d", name, e->name,
					     (int)e->type_length);
		if (e->repetition > 2)
			return iot_error_set(err, IOT_ERR_FORMAT,
					     "%s: column '%s' has invalid "
					     "repetition %d", name, e->name,
					     e->repetition);
	}
	if ((size_t)m->schema[0].num_children != m->nschema - 1)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "%s: schema root declares %d children but "
				     "%zu elements follow", name,
				     (int)m->schema[0].num_children,
				     m->nschema - 1);
	r->ncols = m->nschema - 1;
	r->cols = xcalloc(r->ncols ? r->ncols : 1, sizeof(*r->cols));
	for (size_t i = 0; i < r->ncols; i++) {
		const struct pq_schema_elem *e = &m->schema[i + 1];
		struct pq_column *c = &r->cols[i];
		c->name = e->name;
		c->type = (enum pq_type)e->type;
		c->optional = e->repetition == 1;
		c->type_length = e->type_length;
		map_logical(e, c);
	}
	return IOT_OK;
}

static enum iot_err check_row_groups(struct pq_reader *r, struct iot_error *err)
{
	const char *name = r->in->name;
	struct pq_file_meta *m = &r->meta;
	int64_t total = 0;

	r->rgs = xcalloc(m->nrgs ? m->nrgs : 1, sizeof(*r->rgs));
	for (size_t g = 0; g < m->nrgs; g++) {
		struct pq_rg_meta *rg = &m->rgs[g];
		if (rg->nchunks != r->ncols)
			return iot_error_set(err, IOT_ERR_FORMAT,
					     "%s: row group %zu has %zu column "
					     "chunks for %zu columns", name, g,
					     rg->nchunks, r->ncols);
		if (rg->info.num_rows < 0 ||
		    __builtin_add_overflow(total, rg->info.num_rows, &total))
			return iot_error_set(err, IOT_ERR_FORMAT,
					     "%s: row group %zu has an invalid "
					     "row count", name, g);
		struct pq_chunk_info *infos =
			xcalloc(r->ncols ? r->ncols : 1, sizeof(*infos));
		int64_t comp = 0;
		for (size_t c = 0; c < r->ncols; c++) {
			struct pq_chunk_meta *cm = &rg->chunks[c];
			struct pq_chunk_info *ci = &cm->info;
			const char *cn = r->cols[c].name;
			if (cm->has_crypto) {
				free(infos);
				return iot_error_set(err, IOT_ERR_UNSUPPORTED,
						     "%s: column '%s' is encrypted: "
						     "encryption is not supported",
						     name, cn);
			}
			if (cm->has_file_path) {
				free(infos);
				return iot_error_set(err, IOT_ERR_UNSUPPORTED,
						     "%s: column '%s' lives in an "
						     "external file (file_path): "
						     "not supported", name, cn);
			}
			if (cm->type != (int)r->cols[c].type) {
				free(infos);
				return iot_error_set(err, IOT_ERR_FORMAT,
						     "%s: row group %zu column '%s' "
						     "has type %d, schema says %s",
						     name, g, cn, cm->type,
						     pq_type_name(r->cols[c].type));
			}
			int64_t start = ci->data_page_offset;
			if (cm->has_dict_offset && ci->dictionary_page_offset > 0 &&
			    ci->dictionary_page_offset < start)
				start = ci->dictionary_page_offset;
			else
				ci->dictionary_page_offset = 0;
			int64_t end;
			/* a 0-row group's chunks are never read (pyarrow writes
			 * data_page_offset 0 there) */
			if (rg->info.num_rows > 0 &&
			    (ci->num_values < 0 || ci->total_compressed_size < 0 ||
			    start < 4 ||
			    __builtin_add_overflow(start, ci->total_compressed_size,
						   &end) ||
			    (uint64_t)end > r->footer_start)) {
				free(infos);
				return iot_error_set(err, IOT_ERR_FORMAT,
						     "%s: row group %zu column '%s': "
						     "chunk [%lld, +%lld) lies outside "
						     "the data area [4, %llu)", name, g,
						     cn, (long long)start,
						     (long long)ci->total_compressed_size,
						     (unsigned long long)r->footer_start);
			}
			ci->encodings = cm->encodings;
			choose_stats(r, c, cm);
			comp += ci->total_compressed_size;
			infos[c] = *ci;
		}
		r->rgs[g] = rg->info;
		r->rgs[g].total_compressed_size = comp;
		r->rgs[g].columns = infos;
	}
	if (total != m->num_rows)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "%s: row groups hold %lld rows but the footer "
				     "says %lld", name, (long long)total,
				     (long long)m->num_rows);
	return IOT_OK;
}

enum iot_err pq_reader_open(struct pq_reader **rp, struct pq_input *in,
			    struct iot_error *err)
{
	uint8_t tail[8], head[4];
	uint8_t *footer = NULL;
	const char *why = NULL;
	enum iot_err rc;
	struct pq_reader *r = xcalloc(1, sizeof(*r));
	const char *name = in->name;

	*rp = NULL;
	r->in = in;
	if (in->size < 12) {
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "%s: not a Parquet file (%llu bytes, too small)",
				   name, (unsigned long long)in->size);
		goto fail;
	}
	if ((rc = in->read_at(in, in->size - 8, 8, tail, err)) != IOT_OK ||
	    (rc = in->read_at(in, 0, 4, head, err)) != IOT_OK)
		goto fail;
	if (!memcmp(tail + 4, "PARE", 4)) {
		rc = fail(err, IOT_ERR_UNSUPPORTED, name,
			  "encrypted Parquet file (PARE footer): encryption is "
			  "not supported");
		goto fail;
	}
	if (memcmp(tail + 4, "PAR1", 4) || memcmp(head, "PAR1", 4)) {
		rc = fail(err, IOT_ERR_FORMAT, name,
			  "not a Parquet file (PAR1 magic missing at start or end)");
		goto fail;
	}
	uint32_t flen = pq_le32(tail);
	if (flen == 0 || flen > in->size - 12) {
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "%s: footer length %u does not fit a %llu-byte "
				   "file", name, flen,
				   (unsigned long long)in->size);
		goto fail;
	}
	r->footer_start = in->size - 8 - flen;
	footer = xmalloc(flen);
	if ((rc = in->read_at(in, r->footer_start, flen, footer, err)) != IOT_OK)
		goto fail;
	if (!pq_meta_parse(&r->meta, footer, flen, &why)) {
		rc = iot_error_set(err, IOT_ERR_FORMAT, "%s: corrupt footer: %s",
				   name, why);
		goto fail;
	}
	free(footer);
	footer = NULL;
	if (r->meta.has_encryption) {
		rc = fail(err, IOT_ERR_UNSUPPORTED, name,
			  "encrypted Parquet file: encryption is not supported");
		goto fail;
	}
	r->old_mr_sizes = parquet_816(r->meta.created_by);
	if ((rc = check_schema(r, err)) != IOT_OK ||
	    (rc = check_row_groups(r, err)) != IOT_OK)
		goto fail;
	*rp = r;
	return IOT_OK;
fail:
	free(footer);
	pq_reader_destroy(r);
	return rc;
}

enum iot_err pq_reader_open_file(struct pq_reader **r, const char *path,
				 struct iot_error *err)
{
	struct pq_input *in;
	enum iot_err rc = pq_input_file_open(&in, path, err);
	*r = NULL;
	if (rc != IOT_OK)
		return rc;
	return pq_reader_open(r, in, err);
}

void pq_reader_destroy(struct pq_reader *r)
{
	if (!r)
		return;
	if (r->rgs)
		for (size_t g = 0; g < r->meta.nrgs; g++)
			free((void *)r->rgs[g].columns);
	free(r->rgs);
	free(r->cols);
	pq_meta_release(&r->meta);
	if (r->in)
		r->in->destroy(r->in);
	free(r);
}

const char *pq_reader_name(const struct pq_reader *r)
{
	return r->in->name;
}

size_t pq_reader_num_columns(const struct pq_reader *r)
{
	return r->ncols;
}

const struct pq_column *pq_reader_column(const struct pq_reader *r, size_t i)
{
	return i < r->ncols ? &r->cols[i] : NULL;
}

long pq_reader_find_column(const struct pq_reader *r, const char *name)
{
	for (size_t i = 0; i < r->ncols; i++)
		if (!strcmp(r->cols[i].name, name))
			return (long)i;
	return -1;
}

int64_t pq_reader_num_rows(const struct pq_reader *r)
{
	return r->meta.num_rows;
}

size_t pq_reader_num_row_groups(const struct pq_reader *r)
{
	return r->meta.nrgs;
}

const struct pq_row_group_info *pq_reader_row_group(const struct pq_reader *r,
						    size_t i)
{
	return i < r->meta.nrgs ? &r->rgs[i] : NULL;
}

int32_t pq_reader_version(const struct pq_reader *r)
{
	return r->meta.version;
}

const char *pq_reader_created_by(const struct pq_reader *r)
{
	return r->meta.created_by;
}

size_t pq_reader_num_kv(const struct pq_reader *r)
{
	return r->meta.nkv;
}

void pq_reader_kv(const struct pq_reader *r, size_t i, const char **key,
		  const char **value)
{
	*key = r->meta.kv[i].key;
	*value = r->meta.kv[i].value;
}
