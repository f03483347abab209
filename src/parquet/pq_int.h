/*
 * pq_int.h - private interfaces between the files of src/parquet/.
 *
 *   pq_thrift.c   Thrift compact protocol: a bounded reader, a writer
 *   pq_meta.c     FileMetaData / PageHeader: parse (validated) and serialize
 *   pq_rle.c      RLE/bit-packed hybrid, bit packing, levels
 *   pq_delta.c    DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY
 *   pq_codec.c    page compression and decompression
 *   pq_io.c       file, fd and memory streams
 *   pq_writer.c   the writer;  pq_reader.c  footer and schema;
 *   pq_page.c     column reader (pages, encodings into batches)
 *   pq_value.c    names, timestamps, number formatting
 *
 * Nothing here is for use outside src/parquet/ (tests and fuzzers excepted).
 */
#ifndef IOT_PQ_INT_H
#define IOT_PQ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "parquet/pq.h"

/* Limits for untrusted input. Why these numbers: Arrow C++ uses the same
 * order of magnitude (100 MB strings, 1M-element containers); a page is an
 * i32 in the format; 1 GiB per page body is far above any writer's page. */
#define PQ_MAX_DEPTH 64
#define PQ_MAX_PAGE_BYTES (1u << 30)
#define PQ_MAX_LIST 10000000u

/* Parquet encodings. */
enum {
	PQ_ENC_PLAIN = 0,
	PQ_ENC_PLAIN_DICTIONARY = 2,
	PQ_ENC_RLE = 3,
	PQ_ENC_BIT_PACKED = 4,
	PQ_ENC_DELTA_BINARY_PACKED = 5,
	PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
	PQ_ENC_DELTA_BYTE_ARRAY = 7,
	PQ_ENC_RLE_DICTIONARY = 8,
	PQ_ENC_BYTE_STREAM_SPLIT = 9,
};

enum { PQ_PAGE_DATA = 0, PQ_PAGE_INDEX = 1, PQ_PAGE_DICT = 2, PQ_PAGE_DATA_V2 = 3 };

/* ---- thrift compact (pq_thrift.c) ------------------------------------ */

enum {
	TC_STOP = 0, TC_TRUE = 1, TC_FALSE = 2, TC_I8 = 3, TC_I16 = 4,
	TC_I32 = 5, TC_I64 = 6, TC_DOUBLE = 7, TC_BINARY = 8, TC_LIST = 9,
	TC_SET = 10, TC_MAP = 11, TC_STRUCT = 12, TC_UUID = 13,
};

/* Reader: p moves forward; on the first error `failed` is set, msg says why,
 * and every later call returns zeros, so parsers check once per struct. */
struct tc_reader {
	const uint8_t *p, *end;
	int depth;
	bool failed;
	const char *msg;
};

void tc_reader_init(struct tc_reader *t, const void *data, size_t len);
void tc_fail(struct tc_reader *t, const char *msg);
uint64_t tc_uvarint(struct tc_reader *t);
int64_t tc_i64(struct tc_reader *t);
int32_t tc_i32(struct tc_reader *t);
/* A binary/string: pointer into the input and its length (bounds-checked). */
const uint8_t *tc_binary(struct tc_reader *t, size_t *len);
/* Next field of the struct being read: false at STOP (or on failure).
 * *last is the previous field id of this struct (start with 0). */
bool tc_field(struct tc_reader *t, int16_t *last, int16_t *id, int *type);
/* List header: element type and size (size checked against bytes left). */
size_t tc_list(struct tc_reader *t, int *elem_type);
/* Reads a value of the given wire type and discards it. */
void tc_skip(struct tc_reader *t, int type);
/* The value of a bool field (its type nibble). */
static inline bool tc_bool_of(int type) { return type == TC_TRUE; }
/* Enters/leaves a nested struct (depth limit). */
bool tc_enter(struct tc_reader *t);
static inline void tc_leave(struct tc_reader *t) { t->depth--; }

/* Writer: appends to a buf; keeps the last field id per struct level. */
struct tc_writer {
	struct buf *b;
	int16_t last[PQ_MAX_DEPTH];
	int depth;
};

void tc_writer_init(struct tc_writer *w, struct buf *b);
void tc_put_uvarint(struct buf *b, uint64_t v);
void tc_w_i32(struct tc_writer *w, int16_t id, int32_t v);
void tc_w_i64(struct tc_writer *w, int16_t id, int64_t v);
void tc_w_i16(struct tc_writer *w, int16_t id, int16_t v);
void tc_w_i8(struct tc_writer *w, int16_t id, int8_t v);
void tc_w_bool(struct tc_writer *w, int16_t id, bool v);
void tc_w_binary(struct tc_writer *w, int16_t id, const void *p, size_t n);
void tc_w_string(struct tc_writer *w, int16_t id, const char *s);
/* Struct field: begin (header + push), end (stop byte + pop). */
void tc_w_struct_begin(struct tc_writer *w, int16_t id);
void tc_w_struct_end(struct tc_writer *w);
/* List field header; then elements (structs: tc_w_elem_begin/end). */
void tc_w_list(struct tc_writer *w, int16_t id, int elem_type, size_t n);
void tc_w_elem_begin(struct tc_writer *w);
void tc_w_elem_end(struct tc_writer *w);
/* Ends the top-level struct (stop byte). */
void tc_w_stop(struct tc_writer *w);

/* ---- metadata (pq_meta.c) -------------------------------------------- */

struct pq_schema_elem {
	char *name;
	int type;            /* -1: none (group) */
	int32_t type_length;
	int repetition;      /* -1: none; 0 REQUIRED, 1 OPTIONAL, 2 REPEATED */
	int32_t num_children;/* -1: none */
	int converted;       /* -1: none */
	int32_t scale, precision;
	/* LogicalType union: member id (0 none) and its payload. */
	int logical;
	int unit;            /* TimeUnit member 1..3 */
	bool utc;
	int int_bits;
	bool int_signed;
	int32_t l_scale, l_precision;
};

struct pq_chunk_meta {
	struct pq_chunk_info info;   /* public view (pointers into below) */
	int type;
	int32_t *encodings;
	char *path;                  /* path_in_schema joined with '.' */
	bool has_file_path, has_crypto;
	bool has_dict_offset;
	/* statistics: raw fields */
	uint8_t *min_value, *max_value, *min_old, *max_old;
	size_t min_value_len, max_value_len, min_old_len, max_old_len;
	bool has_min_value, has_max_value, has_min_old, has_max_old;
};

struct pq_rg_meta {
	struct pq_row_group_info info;
	struct pq_chunk_meta *chunks;
	size_t nchunks;
};

struct pq_kv {
	char *key;
	char *value; /* NULL: absent */
};

struct pq_file_meta {
	int32_t version;
	struct pq_schema_elem *schema;
	size_t nschema;
	int64_t num_rows;
	struct pq_rg_meta *rgs;
	size_t nrgs;
	struct pq_kv *kv;
	size_t nkv;
	char *created_by;
	int *column_orders; /* member ids, ncolumn_orders of them */
	size_t ncolumn_orders;
	bool has_encryption;
};

/* Parses a serialized FileMetaData. On error returns false with *why. */
bool pq_meta_parse(struct pq_file_meta *m, const uint8_t *p, size_t len,
		   const char **why);
void pq_meta_release(struct pq_file_meta *m);

struct pq_page_header {
	int type;
	int32_t uncompressed_size, compressed_size;
	bool has_crc;
	int32_t crc;
	int32_t num_values;
	int encoding;
	int def_encoding, rep_encoding;   /* v1 */
	int32_t num_nulls, num_rows;      /* v2 */
	int32_t def_len, rep_len;         /* v2 */
	bool is_compressed;               /* v2, default true */
	bool has_sub;                     /* sub-header of the right type seen */
};

/* Parses a page header at p (at most len bytes); *used = header size. */
bool pq_page_header_parse(struct pq_page_header *h, const uint8_t *p,
			  size_t len, size_t *used, const char **why);

/* Serialization for the writer. */
struct pq_w_chunk {
	int type;
	uint32_t encodings_mask;   /* bit per Encoding */
	const char *name;
	int codec;
	int64_t num_values, total_uncompressed, total_compressed;
	int64_t data_page_offset, dict_page_offset; /* dict: -1 none */
	int64_t null_count;
	bool has_minmax, signed_order;
	const uint8_t *min, *max;
	size_t min_len, max_len;
};

struct pq_w_rowgroup {
	struct pq_w_chunk *chunks; /* one per column */
	int64_t num_rows, total_byte_size, total_compressed, file_offset;
};

void pq_ser_page_header(struct buf *b, const struct pq_page_header *h);
void pq_ser_footer(struct buf *b, const struct pq_column *cols, size_t ncols,
		   const struct pq_w_rowgroup *rgs, size_t nrgs,
		   int64_t num_rows, const struct pq_kv *kv, size_t nkv,
		   const char *created_by);

/* ---- reader state shared by pq_reader.c and pq_page.c ---------------- */

/* Levels per page we accept: bounds what one page may make us allocate
 * (about 13 bytes per level). Writers cut pages far smaller (20,000 rows
 * parquet-java, 1 MiB pyarrow); DuckDB's one page per 122,880-row chunk
 * is well inside. */
#define PQ_MAX_PAGE_VALUES (1u << 24)
/* Bytes a DELTA_BYTE_ARRAY page may expand to. */
#define PQ_MAX_PAGE_HEAP (256u << 20)

struct pq_reader {
	struct pq_input *in;
	struct pq_file_meta meta;
	struct pq_column *cols;
	size_t ncols;
	struct pq_row_group_info *rgs;
	uint64_t footer_start;
	bool old_mr_sizes; /* created_by parquet-mr < 1.2.9 (PARQUET-816) */
};

/* ---- the writer's dictionary (pq_dict.c) ---------------------------- */

/* Distinct BYTE_ARRAY values of a column chunk, in the order first seen;
 * zero-initialised is empty. data holds the PLAIN dictionary page body. */
struct pq_dict {
	uint32_t *slots; /* entry index + 1, 0 = empty */
	size_t mask;
	struct buf data; /* PLAIN: u32 length + bytes per entry */
	uint32_t *off, *len;
	uint32_t *tags; /* high hash bits: most mismatches cost no compare */
	size_t n, alloc;
};

/* Index of p[0..n) in d; adds it (and sets *added) if absent. Offsets and
 * lengths are u32: the writer stops adding once d->data passes
 * dictionary_bytes (at most 256 MiB). */
uint32_t pq_dict_lookup(struct pq_dict *d, const uint8_t *p, size_t n,
			bool *added);
/* Empties d for the next chunk and keeps its memory. */
void pq_dict_reset(struct pq_dict *d);
void pq_dict_release(struct pq_dict *d);

/* ---- RLE / bit packing (pq_rle.c) ------------------------------------ */

static inline int pq_bit_width(uint64_t max)
{
	return max ? 64 - __builtin_clzll(max) : 0;
}

/* Decodes n values of width bw (0..32) from an RLE/bit-packed hybrid
 * stream into out. Returns false on malformed/short input. */
bool pq_rle_decode_u32(const uint8_t *p, size_t len, int bw, uint32_t *out,
		       size_t n);
bool pq_rle_decode_u8(const uint8_t *p, size_t len, int bw, uint8_t *out,
		      size_t n);
/* Unpacks n (multiple of 8) values of width bw from LSB-first packed bits. */
void pq_unpack32(const uint8_t *in, int bw, uint32_t *out, size_t n);
void pq_unpack64(const uint8_t *in, int bw, uint64_t *out, size_t n);

/* Encoder: appends the hybrid encoding of vals[0..n) at width bw. */
void pq_rle_encode_u32(struct buf *b, const uint32_t *vals, size_t n, int bw);
void pq_rle_encode_u8(struct buf *b, const uint8_t *vals, size_t n, int bw);

/* ---- delta (pq_delta.c) ---------------------------------------------- */

/* Decodes a DELTA_BINARY_PACKED stream of exactly n values (as uint64,
 * wrapping), width limit bits (32 or 64). *used = bytes consumed. */
bool pq_delta_decode(const uint8_t *p, size_t len, size_t n, int bits,
		     uint64_t *out, size_t *used, const char **why);
/* The value count a DELTA_BINARY_PACKED header declares. */
bool pq_delta_count(const uint8_t *p, size_t len, size_t *count);

/* ---- codecs (pq_codec.c) --------------------------------------------- */

/* Appends the compressed form of src to dst. */
bool pq_compress(int codec, int level, const uint8_t *src, size_t n,
		 struct buf *dst);
/* Decompresses exactly dst_len bytes; false with *why on any mismatch. */
bool pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst,
		   size_t dst_len, const char **why);

/* ---- little endian ---------------------------------------------------- */

static inline uint32_t pq_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v; /* little-endian hosts only (checked in pq_value.c) */
}

static inline uint64_t pq_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

#endif
