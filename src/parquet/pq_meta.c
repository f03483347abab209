/*
 * pq_meta.c - Parquet's Thrift structures: FileMetaData and PageHeader.
 *
 * Parsing turns the untrusted footer bytes into plain C structs
 * (struct pq_file_meta) through the bounded Thrift reader of pq_thrift.c.
 * Rules, from docs/parquet-facts.md: unknown fields are skipped by wire
 * type; a known field arriving with an unexpected wire type is skipped too
 * (Dremio files reuse ids), and then the required-field check decides;
 * required fields we need must be present; list sizes never exceed the
 * bytes left. All allocations are therefore bounded by a small multiple of
 * the footer size. Semantic validation (schema shape, offsets inside the
 * file) is the reader's job (pq_reader.c).
 *
 * Serialization writes exactly the fields the writer recipe (facts §12)
 * lists, in increasing field-id order, with the declared Thrift widths.
 */
#include <stdlib.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"

#include "core/banned.h"

/* ---- parsing ---------------------------------------------------------- */

static char *dup_binary(struct tc_reader *t)
{
	size_t n;
	const uint8_t *p = tc_binary(t, &n);
	return p ? xstrndup((const char *)p, n) : xstrdup("");
}

static uint8_t *dup_bytes(struct tc_reader *t, size_t *len)
{
	const uint8_t *p = tc_binary(t, len);
	uint8_t *d = xmalloc(*len ? *len : 1);
	if (p && *len)
		memcpy(d, p, *len);
	return d;
}

/* Reads an empty-struct union member or a struct we skip entirely. */
static int parse_union_id(struct tc_reader *t)
{
	int16_t last = 0, id;
	int ft, member = 0;
	if (!tc_enter(t))
		return 0;
	while (tc_field(t, &last, &id, &ft)) {
		if (ft == TC_STRUCT && !member)
			member = id;
		tc_skip(t, ft);
	}
	tc_leave(t);
	return member;
}

static void parse_time_like(struct tc_reader *t, struct pq_schema_elem *e)
{
	int16_t last = 0, id;
	int ft;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (id == 1 && (ft == TC_TRUE || ft == TC_FALSE))
			e->utc = tc_bool_of(ft);
		else if (id == 2 && ft == TC_STRUCT)
			e->unit = parse_union_id(t);
		else
			tc_skip(t, ft);
	}
	tc_leave(t);
}

static void parse_logical(struct tc_reader *t, struct pq_schema_elem *e)
{
	int16_t last = 0, id, l2;
	int ft, f2;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (ft != TC_STRUCT) {
			tc_skip(t, ft);
			continue;
		}
		e->logical = id;
		switch (id) {
		case 5: /* DECIMAL */
			if (!tc_enter(t))
				return;
			l2 = 0;
			while (tc_field(t, &l2, &id, &f2)) {
				if (id == 1 && f2 == TC_I32)
					e->l_scale = tc_i32(t);
				else if (id == 2 && f2 == TC_I32)
					e->l_precision = tc_i32(t);
				else
					tc_skip(t, f2);
			}
			tc_leave(t);
			break;
		case 7: /* TIME */
		case 8: /* TIMESTAMP */
			parse_time_like(t, e);
			break;
		case 10: /* INTEGER */
			if (!tc_enter(t))
				return;
			l2 = 0;
			while (tc_field(t, &l2, &id, &f2)) {
				if (id == 1 && f2 == TC_I8) {
					if (t->p >= t->end) {
						tc_fail(t, "truncated IntType");
						break;
					}
					e->int_bits = (int8_t)*t->p++;
				} else if (id == 2 && (f2 == TC_TRUE || f2 == TC_FALSE)) {
					e->int_signed = tc_bool_of(f2);
				} else {
					tc_skip(t, f2);
				}
			}
			tc_leave(t);
			break;
		default:
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
}

static void parse_schema_elem(struct tc_reader *t, struct pq_schema_elem *e)
{
	int16_t last = 0, id;
	int ft;
	bool has_name = false;

	e->type = -1;
	e->repetition = -1;
	e->num_children = -1;
	e->converted = -1;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (ft == TC_I32 && id >= 1 && id <= 8 && id != 4) {
			int32_t v = tc_i32(t);
			switch (id) {
			case 1: e->type = v; break;
			case 2: e->type_length = v; break;
			case 3: e->repetition = v; break;
			case 5: e->num_children = v; break;
			case 6: e->converted = v; break;
			case 7: e->scale = v; break;
			case 8: e->precision = v; break;
			}
		} else if (id == 4 && ft == TC_BINARY && !has_name) {
			e->name = dup_binary(t);
			has_name = true;
		} else if (id == 10 && ft == TC_STRUCT) {
			parse_logical(t, e);
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
	if (!has_name && !t->failed)
		tc_fail(t, "SchemaElement without a name");
	if (!e->name)
		e->name = xstrdup("");
}

static void parse_stats(struct tc_reader *t, struct pq_chunk_meta *c)
{
	int16_t last = 0, id;
	int ft;
	struct pq_stats *s = &c->info.stats;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (ft == TC_BINARY && id >= 1 && id <= 6 && id != 3 && id != 4) {
			size_t n;
			uint8_t *d = dup_bytes(t, &n);
			uint8_t **slot;
			size_t *lenp;
			bool *has;
			switch (id) {
			case 1: slot = &c->max_old; lenp = &c->max_old_len; has = &c->has_max_old; break;
			case 2: slot = &c->min_old; lenp = &c->min_old_len; has = &c->has_min_old; break;
			case 5: slot = &c->max_value; lenp = &c->max_value_len; has = &c->has_max_value; break;
			default: slot = &c->min_value; lenp = &c->min_value_len; has = &c->has_min_value; break;
			}
			free(*slot);
			*slot = d;
			*lenp = n;
			*has = true;
		} else if (id == 3 && ft == TC_I64) {
			s->null_count = tc_i64(t);
			s->has_null_count = true;
		} else if (id == 4 && ft == TC_I64) {
			s->distinct_count = tc_i64(t);
			s->has_distinct_count = true;
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
}

enum {
	CM_TYPE = 1 << 0, CM_CODEC = 1 << 1, CM_NUMV = 1 << 2,
	CM_TUNC = 1 << 3, CM_TCOMP = 1 << 4, CM_DPO = 1 << 5,
};

static void parse_column_meta(struct tc_reader *t, struct pq_chunk_meta *c)
{
	int16_t last = 0, id;
	int ft, et;
	unsigned seen = 0;
	struct pq_chunk_info *ci = &c->info;

	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (id == 1 && ft == TC_I32) {
			c->type = tc_i32(t);
			seen |= CM_TYPE;
		} else if (id == 2 && ft == TC_LIST) {
			size_t n = tc_list(t, &et);
			if (et != TC_I32) {
				for (size_t i = 0; i < n; i++)
					tc_skip(t, et);
				continue;
			}
			free(c->encodings);
			c->encodings = xcalloc(n ? n : 1, sizeof(int32_t));
			for (size_t i = 0; i < n; i++)
				c->encodings[i] = tc_i32(t);
			ci->num_encodings = n;
		} else if (id == 3 && ft == TC_LIST) {
			size_t n = tc_list(t, &et);
			struct buf path = BUF_INIT;
			for (size_t i = 0; i < n && !t->failed; i++) {
				if (et != TC_BINARY) {
					tc_skip(t, et);
					continue;
				}
				size_t len;
				const uint8_t *p = tc_binary(t, &len);
				if (i)
					buf_putc(&path, '.');
				if (p)
					buf_append(&path, p, len);
			}
			free(c->path);
			c->path = buf_detach(&path, NULL);
		} else if (id == 4 && ft == TC_I32) {
			ci->codec = tc_i32(t);
			seen |= CM_CODEC;
		} else if (id == 5 && ft == TC_I64) {
			ci->num_values = tc_i64(t);
			seen |= CM_NUMV;
		} else if (id == 6 && ft == TC_I64) {
			ci->total_uncompressed_size = tc_i64(t);
			seen |= CM_TUNC;
		} else if (id == 7 && ft == TC_I64) {
			ci->total_compressed_size = tc_i64(t);
			seen |= CM_TCOMP;
		} else if (id == 9 && ft == TC_I64) {
			ci->data_page_offset = tc_i64(t);
			seen |= CM_DPO;
		} else if (id == 11 && ft == TC_I64) {
			ci->dictionary_page_offset = tc_i64(t);
			c->has_dict_offset = true;
		} else if (id == 12 && ft == TC_STRUCT) {
			parse_stats(t, c);
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
	if (!t->failed && seen != (CM_TYPE | CM_CODEC | CM_NUMV | CM_TUNC |
				   CM_TCOMP | CM_DPO))
		tc_fail(t, "ColumnMetaData lacks a required field");
}

static void parse_column_chunk(struct tc_reader *t, struct pq_chunk_meta *c,
			       bool *has_meta)
{
	int16_t last = 0, id;
	int ft;
	c->type = -1;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (id == 1 && ft == TC_BINARY) {
			c->has_file_path = true;
			tc_skip(t, ft);
		} else if (id == 3 && ft == TC_STRUCT) {
			parse_column_meta(t, c);
			*has_meta = true;
		} else if ((id == 8 || id == 9) && !t->failed) {
			c->has_crypto = true;
			tc_skip(t, ft);
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
}

static void parse_row_group(struct tc_reader *t, struct pq_rg_meta *g)
{
	int16_t last = 0, id;
	int ft, et;
	bool has_cols = false, has_rows = false, has_size = false;
	if (!tc_enter(t))
		return;
	g->info.total_compressed_size = -1;
	while (tc_field(t, &last, &id, &ft)) {
		if (id == 1 && ft == TC_LIST && !has_cols) {
			size_t n = tc_list(t, &et);
			if (et != TC_STRUCT) {
				for (size_t i = 0; i < n; i++)
					tc_skip(t, et);
				continue;
			}
			g->chunks = xcalloc(n ? n : 1, sizeof(*g->chunks));
			g->nchunks = n;
			for (size_t i = 0; i < n && !t->failed; i++) {
				bool has_meta = false;
				parse_column_chunk(t, &g->chunks[i], &has_meta);
				if (!has_meta && !t->failed)
					tc_fail(t, "ColumnChunk without meta_data");
			}
			has_cols = true;
		} else if (id == 2 && ft == TC_I64) {
			g->info.total_byte_size = tc_i64(t);
			has_size = true;
		} else if (id == 3 && ft == TC_I64) {
			g->info.num_rows = tc_i64(t);
			has_rows = true;
		} else if (id == 6 && ft == TC_I64) {
			g->info.total_compressed_size = tc_i64(t);
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
	(void)has_size; /* informational only; some writers get it wrong */
	if (!t->failed && (!has_cols || !has_rows))
		tc_fail(t, "RowGroup lacks columns or num_rows");
}

static void parse_kv(struct tc_reader *t, struct pq_kv *kv)
{
	int16_t last = 0, id;
	int ft;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (id == 1 && ft == TC_BINARY && !kv->key)
			kv->key = dup_binary(t);
		else if (id == 2 && ft == TC_BINARY && !kv->value)
			kv->value = dup_binary(t);
		else
			tc_skip(t, ft);
	}
	tc_leave(t);
	if (!kv->key)
		kv->key = xstrdup("");
}

enum { FM_VERSION = 1, FM_SCHEMA = 2, FM_ROWS = 4, FM_RGS = 8 };

bool pq_meta_parse(struct pq_file_meta *m, const uint8_t *p, size_t len,
		   const char **why)
{
	struct tc_reader t;
	int16_t last = 0, id;
	int ft, et;
	unsigned seen = 0;

	memset(m, 0, sizeof(*m));
	tc_reader_init(&t, p, len);
	while (tc_field(&t, &last, &id, &ft)) {
		if (id == 1 && ft == TC_I32) {
			m->version = tc_i32(&t);
			seen |= FM_VERSION;
		} else if (id == 2 && ft == TC_LIST && !(seen & FM_SCHEMA)) {
			size_t n = tc_list(&t, &et);
			if (et != TC_STRUCT) {
				tc_fail(&t, "schema is not a list of structs");
				break;
			}
			m->schema = xcalloc(n ? n : 1, sizeof(*m->schema));
			m->nschema = n;
			for (size_t i = 0; i < n && !t.failed; i++)
				parse_schema_elem(&t, &m->schema[i]);
			seen |= FM_SCHEMA;
		} else if (id == 3 && ft == TC_I64) {
			m->num_rows = tc_i64(&t);
			seen |= FM_ROWS;
		} else if (id == 4 && ft == TC_LIST && !(seen & FM_RGS)) {
			size_t n = tc_list(&t, &et);
			if (et != TC_STRUCT) {
				tc_fail(&t, "row_groups is not a list of structs");
				break;
			}
			m->rgs = xcalloc(n ? n : 1, sizeof(*m->rgs));
			m->nrgs = n;
			for (size_t i = 0; i < n && !t.failed; i++)
				parse_row_group(&t, &m->rgs[i]);
			seen |= FM_RGS;
		} else if (id == 5 && ft == TC_LIST && !m->kv) {
			size_t n = tc_list(&t, &et);
			if (et != TC_STRUCT) {
				for (size_t i = 0; i < n; i++)
					tc_skip(&t, et);
				continue;
			}
			m->kv = xcalloc(n ? n : 1, sizeof(*m->kv));
			m->nkv = n;
			for (size_t i = 0; i < n && !t.failed; i++)
				parse_kv(&t, &m->kv[i]);
		} else if (id == 6 && ft == TC_BINARY && !m->created_by) {
			m->created_by = dup_binary(&t);
		} else if (id == 7 && ft == TC_LIST && !m->column_orders) {
			size_t n = tc_list(&t, &et);
			if (et != TC_STRUCT) {
				for (size_t i = 0; i < n; i++)
					tc_skip(&t, et);
				continue;
			}
			m->column_orders = xcalloc(n ? n : 1, sizeof(int));
			m->ncolumn_orders = n;
			for (size_t i = 0; i < n && !t.failed; i++)
				m->column_orders[i] = parse_union_id(&t);
		} else if (id == 8) {
			m->has_encryption = true;
			tc_skip(&t, ft);
		} else {
			tc_skip(&t, ft);
		}
	}
	if (t.failed) {
		*why = t.msg;
		return false;
	}
	if (seen != (FM_VERSION | FM_SCHEMA | FM_ROWS | FM_RGS)) {
		*why = "FileMetaData lacks a required field (version, schema, "
		       "num_rows or row_groups)";
		return false;
	}
	return true;
}

void pq_meta_release(struct pq_file_meta *m)
{
	for (size_t i = 0; i < m->nschema; i++)
		free(m->schema[i].name);
	free(m->schema);
	for (size_t g = 0; g < m->nrgs; g++) {
		for (size_t c = 0; c < m->rgs[g].nchunks; c++) {
			struct pq_chunk_meta *cm = &m->rgs[g].chunks[c];
			free(cm->encodings);
			free(cm->path);
			free(cm->min_value);
			free(cm->max_value);
			free(cm->min_old);
			free(cm->max_old);
		}
		free(m->rgs[g].chunks);
	}
	free(m->rgs);
	for (size_t i = 0; i < m->nkv; i++) {
		free(m->kv[i].key);
		free(m->kv[i].value);
	}
	free(m->kv);
	free(m->created_by);
	free(m->column_orders);
	memset(m, 0, sizeof(*m));
}

static void parse_data_header(struct tc_reader *t, struct pq_page_header *h,
			      bool v2)
{
	int16_t last = 0, id;
	int ft;
	unsigned seen = 0;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (ft == TC_I32 && id >= 1 && id <= (v2 ? 6 : 4)) {
			int32_t v = tc_i32(t);
			seen |= 1u << id;
			if (!v2) {
				switch (id) {
				case 1: h->num_values = v; break;
				case 2: h->encoding = v; break;
				case 3: h->def_encoding = v; break;
				case 4: h->rep_encoding = v; break;
				}
			} else {
				switch (id) {
				case 1: h->num_values = v; break;
				case 2: h->num_nulls = v; break;
				case 3: h->num_rows = v; break;
				case 4: h->encoding = v; break;
				case 5: h->def_len = v; break;
				case 6: h->rep_len = v; break;
				}
			}
		} else if (v2 && id == 7 && (ft == TC_TRUE || ft == TC_FALSE)) {
			h->is_compressed = tc_bool_of(ft);
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
	/* num_values and encoding are what we rely on; v2 also the lengths. */
	unsigned need = v2 ? (1u << 1 | 1u << 4 | 1u << 5 | 1u << 6)
			   : (1u << 1 | 1u << 2);
	if (!t->failed && (seen & need) != need)
		tc_fail(t, "data page header lacks a required field");
}

static void parse_dict_header(struct tc_reader *t, struct pq_page_header *h)
{
	int16_t last = 0, id;
	int ft;
	bool has_n = false;
	if (!tc_enter(t))
		return;
	while (tc_field(t, &last, &id, &ft)) {
		if (id == 1 && ft == TC_I32) {
			h->num_values = tc_i32(t);
			has_n = true;
		} else if (id == 2 && ft == TC_I32) {
			h->encoding = tc_i32(t);
		} else {
			tc_skip(t, ft);
		}
	}
	tc_leave(t);
	if (!t->failed && !has_n)
		tc_fail(t, "dictionary page header lacks num_values");
}

bool pq_page_header_parse(struct pq_page_header *h, const uint8_t *p,
			  size_t len, size_t *used, const char **why)
{
	struct tc_reader t;
	int16_t last = 0, id;
	int ft;
	unsigned seen = 0;

	memset(h, 0, sizeof(*h));
	h->type = -1;
	h->is_compressed = true;
	tc_reader_init(&t, p, len);
	while (tc_field(&t, &last, &id, &ft)) {
		if (ft == TC_I32 && id >= 1 && id <= 4) {
			int32_t v = tc_i32(&t);
			seen |= 1u << id;
			switch (id) {
			case 1: h->type = v; break;
			case 2: h->uncompressed_size = v; break;
			case 3: h->compressed_size = v; break;
			case 4: h->crc = v; h->has_crc = true; break;
			}
		} else if (id == 5 && ft == TC_STRUCT && h->type == PQ_PAGE_DATA) {
			parse_data_header(&t, h, false);
			h->has_sub = true;
		} else if (id == 7 && ft == TC_STRUCT && h->type == PQ_PAGE_DICT) {
			parse_dict_header(&t, h);
			h->has_sub = true;
		} else if (id == 8 && ft == TC_STRUCT &&
			   h->type == PQ_PAGE_DATA_V2) {
			parse_data_header(&t, h, true);
			h->has_sub = true;
		} else {
			tc_skip(&t, ft);
		}
	}
	if (t.failed) {
		*why = t.msg;
		return false;
	}
	if ((seen & 0xe) != 0xe) {
		*why = "page header lacks type or sizes";
		return false;
	}
	if (h->uncompressed_size < 0 || h->compressed_size < 0) {
		*why = "page header has a negative size";
		return false;
	}
	*used = (size_t)(t.p - p);
	return true;
}

/* ---- serialization ---------------------------------------------------- */

void pq_ser_page_header(struct buf *b, const struct pq_page_header *h)
{
	struct tc_writer w;
	tc_writer_init(&w, b);
	tc_w_i32(&w, 1, h->type);
	tc_w_i32(&w, 2, h->uncompressed_size);
	tc_w_i32(&w, 3, h->compressed_size);
	if (h->type == PQ_PAGE_DATA) {
		tc_w_struct_begin(&w, 5);
		tc_w_i32(&w, 1, h->num_values);
		tc_w_i32(&w, 2, h->encoding);
		tc_w_i32(&w, 3, PQ_ENC_RLE);
		tc_w_i32(&w, 4, PQ_ENC_RLE);
		tc_w_struct_end(&w);
	} else if (h->type == PQ_PAGE_DICT) {
		tc_w_struct_begin(&w, 7);
		tc_w_i32(&w, 1, h->num_values);
		tc_w_i32(&w, 2, PQ_ENC_PLAIN);
		tc_w_struct_end(&w);
	} else {
		tc_w_struct_begin(&w, 8);
		tc_w_i32(&w, 1, h->num_values);
		tc_w_i32(&w, 2, h->num_nulls);
		tc_w_i32(&w, 3, h->num_rows);
		tc_w_i32(&w, 4, h->encoding);
		tc_w_i32(&w, 5, h->def_len);
		tc_w_i32(&w, 6, h->rep_len);
		tc_w_bool(&w, 7, h->is_compressed);
		tc_w_struct_end(&w);
	}
	tc_w_stop(&w);
}

static void ser_logical(struct tc_writer *w, const struct pq_column *c)
{
	switch (c->logical) {
	case PQ_LOGICAL_STRING:
		tc_w_i32(w, 6, 0); /* UTF8 */
		tc_w_struct_begin(w, 10);
		tc_w_struct_begin(w, 1);
		tc_w_struct_end(w);
		tc_w_struct_end(w);
		break;
	case PQ_LOGICAL_DATE:
		tc_w_i32(w, 6, 6);
		tc_w_struct_begin(w, 10);
		tc_w_struct_begin(w, 6);
		tc_w_struct_end(w);
		tc_w_struct_end(w);
		break;
	case PQ_LOGICAL_TIMESTAMP:
		if (c->unit != PQ_NANOS)
			tc_w_i32(w, 6, c->unit == PQ_MILLIS ? 9 : 10);
		tc_w_struct_begin(w, 10);
		tc_w_struct_begin(w, 8);
		tc_w_bool(w, 1, c->utc);
		tc_w_struct_begin(w, 2);
		tc_w_struct_begin(w, (int16_t)(c->unit + 1));
		tc_w_struct_end(w);
		tc_w_struct_end(w);
		tc_w_struct_end(w);
		tc_w_struct_end(w);
		break;
	default:
		break;
	}
}

static void ser_schema(struct tc_writer *w, const struct pq_column *cols,
		       size_t ncols)
{
	tc_w_list(w, 2, TC_STRUCT, ncols + 1);
	tc_w_elem_begin(w);
	tc_w_string(w, 4, "schema");
	tc_w_i32(w, 5, (int32_t)ncols);
	tc_w_elem_end(w);
	for (size_t i = 0; i < ncols; i++) {
		const struct pq_column *c = &cols[i];
		tc_w_elem_begin(w);
		tc_w_i32(w, 1, c->type);
		if (c->type == PQ_FIXED_LEN_BYTE_ARRAY)
			tc_w_i32(w, 2, c->type_length);
		tc_w_i32(w, 3, c->optional ? 1 : 0);
		tc_w_string(w, 4, c->name);
		ser_logical(w, c);
		tc_w_elem_end(w);
	}
}

static void ser_chunk(struct tc_writer *w, const struct pq_w_chunk *c)
{
	tc_w_elem_begin(w);
	tc_w_i64(w, 2, 0); /* file_offset: deprecated, 0 per the 2026 spec */
	tc_w_struct_begin(w, 3);
	tc_w_i32(w, 1, c->type);
	size_t nenc = (size_t)__builtin_popcount(c->encodings_mask);
	tc_w_list(w, 2, TC_I32, nenc);
	for (int e = 0; e < 32; e++)
		if (c->encodings_mask & (1u << e))
			tc_put_uvarint(w->b, (uint64_t)e << 1);
	tc_w_list(w, 3, TC_BINARY, 1);
	tc_put_uvarint(w->b, strlen(c->name));
	buf_puts(w->b, c->name);
	tc_w_i32(w, 4, c->codec);
	tc_w_i64(w, 5, c->num_values);
	tc_w_i64(w, 6, c->total_uncompressed);
	tc_w_i64(w, 7, c->total_compressed);
	tc_w_i64(w, 9, c->data_page_offset);
	if (c->dict_page_offset >= 0)
		tc_w_i64(w, 11, c->dict_page_offset);
	tc_w_struct_begin(w, 12);
	if (c->has_minmax && c->signed_order) {
		tc_w_binary(w, 1, c->max, c->max_len);
		tc_w_binary(w, 2, c->min, c->min_len);
	}
	tc_w_i64(w, 3, c->null_count);
	if (c->has_minmax) {
		tc_w_binary(w, 5, c->max, c->max_len);
		tc_w_binary(w, 6, c->min, c->min_len);
	}
	tc_w_struct_end(w);
	tc_w_struct_end(w);
	tc_w_elem_end(w);
}

void pq_ser_footer(struct buf *b, const struct pq_column *cols, size_t ncols,
		   const struct pq_w_rowgroup *rgs, size_t nrgs,
		   int64_t num_rows, const struct pq_kv *kv, size_t nkv,
		   const char *created_by)
{
	struct tc_writer w;
	tc_writer_init(&w, b);
	tc_w_i32(&w, 1, 1);
	ser_schema(&w, cols, ncols);
	tc_w_i64(&w, 3, num_rows);
	tc_w_list(&w, 4, TC_STRUCT, nrgs);
	for (size_t g = 0; g < nrgs; g++) {
		const struct pq_w_rowgroup *rg = &rgs[g];
		tc_w_elem_begin(&w);
		tc_w_list(&w, 1, TC_STRUCT, ncols);
		for (size_t c = 0; c < ncols; c++)
			ser_chunk(&w, &rg->chunks[c]);
		tc_w_i64(&w, 2, rg->total_byte_size);
		tc_w_i64(&w, 3, rg->num_rows);
		tc_w_i64(&w, 5, rg->file_offset);
		tc_w_i64(&w, 6, rg->total_compressed);
		if (g <= INT16_MAX) /* ordinal is an i16: omit beyond */
			tc_w_i16(&w, 7, (int16_t)g);
		tc_w_elem_end(&w);
	}
	if (nkv) {
		tc_w_list(&w, 5, TC_STRUCT, nkv);
		for (size_t i = 0; i < nkv; i++) {
			tc_w_elem_begin(&w);
			tc_w_string(&w, 1, kv[i].key);
			if (kv[i].value)
				tc_w_string(&w, 2, kv[i].value);
			tc_w_elem_end(&w);
		}
	}
	tc_w_string(&w, 6, created_by);
	tc_w_list(&w, 7, TC_STRUCT, ncols);
	for (size_t c = 0; c < ncols; c++) {
		tc_w_elem_begin(&w);
		tc_w_struct_begin(&w, 1); /* TYPE_ORDER */
		tc_w_struct_end(&w);
		tc_w_elem_end(&w);
	}
	tc_w_stop(&w);
}
