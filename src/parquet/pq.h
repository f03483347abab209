/*
 * pq.h - iotpipe's Parquet codec: a writer and a reader for flat schemas.
 *
 * The codec is written here, in C, because Debian ships no C Parquet
 * library (Apache Arrow, whose C++ parquet library pyarrow wraps, is not
 * packaged). This is the one place that says so; the pq_*.c files are its
 * parts, and docs/parquet.md lists what is read, written and refused.
 *
 * Byte streams are vtables, so the codec never knows where bytes go:
 *   - struct pq_output: sequential writes (a file descriptor, memory, or a
 *     store output stream: a local file or an S3 multipart upload, see
 *     pq_store.h). The first failure sticks: later writes are no-ops and
 *     close() reports it.
 *   - struct pq_input: random-access reads (a file, memory, or a store
 *     reader: a local file or S3 ranged GETs, see pq_store.h).
 *
 * Writer calling sequence (one thread per writer):
 *
 *	struct pq_column cols[] = {
 *		{ .name = "event_time", .type = PQ_INT64,
 *		  .logical = PQ_LOGICAL_TIMESTAMP, .unit = PQ_MICROS, .utc = true },
 *		{ .name = "status", .type = PQ_BYTE_ARRAY,
 *		  .logical = PQ_LOGICAL_STRING, .optional = true },
 *	};
 *	struct pq_writer_options o;
 *	pq_writer_options_init(&o);          // snappy, 1 Mi rows/group, 1 MiB pages
 *	struct pq_output *out = pq_output_fd_create(fd, "x.parquet");
 *	struct pq_writer *w;
 *	pq_writer_create(&w, out, cols, 2, &o, &err);   // w owns out from here
 *	pq_writer_add_kv(w, "source", "kafka");         // optional, any time before close
 *	for each row:
 *		pq_writer_write_i64(w, 0, ts);
 *		pq_writer_write_bytes(w, 1, s, len);   // or pq_writer_write_null(w, 1)
 *		pq_writer_end_row(w);
 *	// or, column-wise: pq_writer_write_i64_batch(w, 0, vals, valid, n) for
 *	// every column, then pq_writer_end_rows(w, n).
 *	pq_writer_close(w, &err);    // flushes, writes the footer, closes out
 *	pq_writer_destroy(w);        // always; frees out too
 *
 * The write/end_row calls return nothing on the hot path: an error (a
 * failed write, a value missing from a row) sticks in the writer and is
 * returned by pq_writer_end_row()'s next check, pq_writer_status() and
 * pq_writer_close(). Memory stays bounded by one row group: pages are
 * compressed as they fill, and a row group goes to the output when it
 * reaches row_group_rows or row_group_bytes. Output is deterministic: the
 * same calls give the same bytes.
 *
 * Reader calling sequence (a reader is used by one thread at a time):
 *
 *	struct pq_reader *r;
 *	pq_reader_open_file(&r, "x.parquet", &err);   // footer validated here
 *	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
 *		const struct pq_row_group_info *rg = pq_reader_row_group(r, g);
 *		// rg->columns[c].stats lets a caller skip the group
 *		struct pq_column_reader *cr;
 *		pq_column_reader_create(&cr, r, g, c, &err);  // projection: only c
 *		struct pq_batch b;
 *		while ((rc = pq_column_reader_next(cr, &b, 4096, &err)) == IOT_OK
 *		       && b.n > 0)
 *			use b.valid[i], b.i64[i] ... (valid until the next call)
 *		pq_column_reader_destroy(cr);
 *	}
 *	pq_reader_destroy(r);
 *
 * A column reader holds its whole column chunk (one read_at, i.e. one
 * ranged GET on S3) plus one decoded page. Distinct readers and writers may
 * be used on different threads at once; there is no global state.
 *
 * Every error names the file and what is wrong. Nested schemas, encryption,
 * external column files and the LZO and BROTLI codecs are refused with
 * IOT_ERR_UNSUPPORTED (docs/parquet.md lists what is read and refused).
 */
#ifndef IOT_PQ_H
#define IOT_PQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Physical types (values are the Parquet enum). */
enum pq_type {
	PQ_BOOLEAN = 0,
	PQ_INT32 = 1,
	PQ_INT64 = 2,
	PQ_INT96 = 3,
	PQ_FLOAT = 4,
	PQ_DOUBLE = 5,
	PQ_BYTE_ARRAY = 6,
	PQ_FIXED_LEN_BYTE_ARRAY = 7,
};

/* What a column's values mean (from LogicalType or the legacy ConvertedType). */
enum pq_logical {
	PQ_LOGICAL_NONE = 0,
	PQ_LOGICAL_STRING,    /* BYTE_ARRAY UTF-8 (also ENUM, JSON) */
	PQ_LOGICAL_TIMESTAMP, /* INT64 with .unit and .utc */
	PQ_LOGICAL_DATE,      /* INT32 days since 1970-01-01 */
	PQ_LOGICAL_TIME,      /* INT32 millis / INT64 micros|nanos of day */
	PQ_LOGICAL_DECIMAL,   /* .precision, .scale */
	PQ_LOGICAL_INT,       /* .int_bits, .int_signed */
	PQ_LOGICAL_FLOAT16,   /* FIXED_LEN_BYTE_ARRAY(2) */
	PQ_LOGICAL_UUID,      /* FIXED_LEN_BYTE_ARRAY(16) */
	PQ_LOGICAL_OTHER,     /* known to Parquet, shown as its physical type */
};

enum pq_time_unit { PQ_MILLIS = 0, PQ_MICROS = 1, PQ_NANOS = 2 };

/* Compression codecs (values are the Parquet enum). */
enum pq_codec {
	PQ_CODEC_UNCOMPRESSED = 0,
	PQ_CODEC_SNAPPY = 1,
	PQ_CODEC_GZIP = 2,
	PQ_CODEC_LZO = 3,
	PQ_CODEC_BROTLI = 4,
	PQ_CODEC_LZ4 = 5,
	PQ_CODEC_ZSTD = 6,
	PQ_CODEC_LZ4_RAW = 7,
};

/* One leaf column: the writer's schema input and the reader's schema output. */
struct pq_column {
	const char *name;
	enum pq_type type;
	enum pq_logical logical;
	enum pq_time_unit unit; /* TIMESTAMP, TIME */
	bool utc;               /* TIMESTAMP isAdjustedToUTC */
	bool optional;          /* OPTIONAL (nullable) rather than REQUIRED */
	int32_t type_length;    /* FIXED_LEN_BYTE_ARRAY width */
	int32_t precision, scale; /* DECIMAL */
	int int_bits;           /* INT: 8, 16, 32, 64 */
	bool int_signed;        /* INT */
};

/* A byte string that points into codec-owned memory. */
struct pq_bytes {
	const uint8_t *ptr;
	uint32_t len;
};

/* Names for display: "INT64", "SNAPPY", "RLE_DICTIONARY" (static strings). */
const char *pq_type_name(enum pq_type t);
const char *pq_codec_name(enum pq_codec c);
const char *pq_encoding_name(int encoding);
/* "TIMESTAMP(MICROS,UTC)", "STRING", "DECIMAL(10,2)", "" for none: into buf. */
void pq_logical_describe(const struct pq_column *c, char *buf, size_t len);
/* Parses "none|uncompressed|snappy|gzip|zstd|lz4_raw" (false if unknown). */
bool pq_codec_parse(const char *s, enum pq_codec *out);
/* True when this build can (de)compress the codec. */
bool pq_codec_supported(enum pq_codec c);

/* ---- byte streams ---------------------------------------------------- */

struct pq_output {
	/* Appends len bytes. Returns IOT_OK or an error (with err filled). */
	enum iot_err (*write)(struct pq_output *out, const void *data,
			      size_t len, struct iot_error *err);
	/* Makes the bytes durable/complete (fsync, upload completion). */
	enum iot_err (*close)(struct pq_output *out, struct iot_error *err);
	/* Frees the stream (without close: abandons it). */
	void (*destroy)(struct pq_output *out);
};

/* Writes to fd, which the stream neither fsyncs nor closes (the caller owns
 * it); name is for errors. */
struct pq_output *pq_output_fd_create(int fd, const char *name);
/* Collects bytes in memory; read them with pq_output_mem_data(). */
struct pq_output *pq_output_mem_create(void);
/* Content of a memory output (valid until destroy). */
const uint8_t *pq_output_mem_data(struct pq_output *out, size_t *len);

struct pq_input {
	/* Reads exactly len bytes at offset into dst. */
	enum iot_err (*read_at)(struct pq_input *in, uint64_t offset,
				size_t len, void *dst, struct iot_error *err);
	void (*destroy)(struct pq_input *in);
	uint64_t size;    /* total bytes */
	const char *name; /* for error messages (path or URI) */
};

enum iot_err pq_input_file_open(struct pq_input **in, const char *path,
				struct iot_error *err);
/* Reads from memory the caller keeps alive (not copied). */
struct pq_input *pq_input_mem_create(const void *data, size_t len,
				     const char *name);

/* ---- writer ---------------------------------------------------------- */

struct pq_writer_options {
	enum pq_codec codec;       /* default SNAPPY */
	int compression_level;     /* 0 = codec default */
	size_t row_group_rows;     /* default 1 Mi rows */
	size_t row_group_bytes;    /* uncompressed buffered bytes; default 128 MiB */
	size_t page_bytes;         /* default 1 MiB (uncompressed values) */
	size_t page_rows;          /* default 20000 */
	bool dictionary;           /* dictionary-encode BYTE_ARRAY; default true */
	size_t dictionary_bytes;   /* fall back to PLAIN above; default 1 MiB */
	bool page_v2;              /* data page v2 (default false: v1) */
};

void pq_writer_options_init(struct pq_writer_options *o);

struct pq_writer;

/*
 * Creates a writer for cols[0..ncols) (copied) writing to out, which the
 * writer owns from now on; when creation fails, out is destroyed and *w is
 * NULL. Writes "PAR1". opt NULL: the defaults.
 */
enum iot_err pq_writer_create(struct pq_writer **w, struct pq_output *out,
			      const struct pq_column *cols, size_t ncols,
			      const struct pq_writer_options *opt,
			      struct iot_error *err);
/* Adds a key/value pair to the footer (copied; order kept). */
void pq_writer_add_kv(struct pq_writer *w, const char *key, const char *value);

/* One value of the current row for column col (must match its type). */
void pq_writer_write_bool(struct pq_writer *w, size_t col, bool v);
void pq_writer_write_i32(struct pq_writer *w, size_t col, int32_t v);
void pq_writer_write_i64(struct pq_writer *w, size_t col, int64_t v);
void pq_writer_write_float(struct pq_writer *w, size_t col, float v);
void pq_writer_write_double(struct pq_writer *w, size_t col, double v);
void pq_writer_write_bytes(struct pq_writer *w, size_t col, const void *p,
			   size_t len);
/* Null for an OPTIONAL column (an error for a REQUIRED one). */
void pq_writer_write_null(struct pq_writer *w, size_t col);
/* Ends the row; every column must have received exactly one value. */
enum iot_err pq_writer_end_row(struct pq_writer *w);

/* Column-wise: n values; valid[i]==0 marks a null (valid NULL: none). */
void pq_writer_write_bool_batch(struct pq_writer *w, size_t col,
				const uint8_t *v, const uint8_t *valid, size_t n);
void pq_writer_write_i32_batch(struct pq_writer *w, size_t col,
			       const int32_t *v, const uint8_t *valid, size_t n);
void pq_writer_write_i64_batch(struct pq_writer *w, size_t col,
			       const int64_t *v, const uint8_t *valid, size_t n);
void pq_writer_write_float_batch(struct pq_writer *w, size_t col,
				 const float *v, const uint8_t *valid, size_t n);
void pq_writer_write_double_batch(struct pq_writer *w, size_t col,
				  const double *v, const uint8_t *valid, size_t n);
void pq_writer_write_bytes_batch(struct pq_writer *w, size_t col,
				 const struct pq_bytes *v, const uint8_t *valid,
				 size_t n);
/* Ends n rows written column-wise (each column got n values). */
enum iot_err pq_writer_end_rows(struct pq_writer *w, size_t n);

/* Ends the current row group now (e.g. on a time trigger); no-op if empty. */
enum iot_err pq_writer_flush_row_group(struct pq_writer *w);
/* The sticky error so far (IOT_OK if none), copied into err. */
enum iot_err pq_writer_status(struct pq_writer *w, struct iot_error *err);
/* Rows ended so far, and bytes handed to the output so far. */
uint64_t pq_writer_rows(const struct pq_writer *w);
uint64_t pq_writer_bytes_written(const struct pq_writer *w);
/* Bytes written plus those buffered in the open row group (compressed
 * pages, uncompressed current pages, dictionaries): an estimate of the file
 * size if it were closed now, for size-based file rolling. */
uint64_t pq_writer_estimated_size(const struct pq_writer *w);
/* Flushes the last row group, writes the footer and closes the output. */
enum iot_err pq_writer_close(struct pq_writer *w, struct iot_error *err);
/* Frees everything (NULL ok). Without a close, the output is abandoned. */
void pq_writer_destroy(struct pq_writer *w);

/* ---- reader ---------------------------------------------------------- */

struct pq_stats {
	bool has_null_count;
	int64_t null_count;
	bool has_distinct_count;
	int64_t distinct_count;
	bool has_min_max;      /* min and max below are usable for skipping */
	struct pq_bytes min;   /* PLAIN value without length prefix */
	struct pq_bytes max;
};

struct pq_chunk_info {
	enum pq_codec codec;
	const int32_t *encodings; /* Parquet Encoding values */
	size_t num_encodings;
	int64_t num_values;
	int64_t total_compressed_size;
	int64_t total_uncompressed_size;
	int64_t data_page_offset;
	int64_t dictionary_page_offset; /* 0: none */
	struct pq_stats stats;
};

struct pq_row_group_info {
	int64_t num_rows;
	int64_t total_byte_size;
	int64_t total_compressed_size; /* sum of the chunks' */
	const struct pq_chunk_info *columns; /* one per leaf column */
};

struct pq_reader;

/* Opens a reader over in (owned by the reader from now on, also on error). */
enum iot_err pq_reader_open(struct pq_reader **r, struct pq_input *in,
			    struct iot_error *err);
enum iot_err pq_reader_open_file(struct pq_reader **r, const char *path,
				 struct iot_error *err);
void pq_reader_destroy(struct pq_reader *r);

const char *pq_reader_name(const struct pq_reader *r);
size_t pq_reader_num_columns(const struct pq_reader *r);
const struct pq_column *pq_reader_column(const struct pq_reader *r, size_t i);
/* Index of the column called name, or -1. */
long pq_reader_find_column(const struct pq_reader *r, const char *name);
int64_t pq_reader_num_rows(const struct pq_reader *r);
size_t pq_reader_num_row_groups(const struct pq_reader *r);
const struct pq_row_group_info *pq_reader_row_group(const struct pq_reader *r,
						    size_t i);
int32_t pq_reader_version(const struct pq_reader *r);
const char *pq_reader_created_by(const struct pq_reader *r); /* NULL if absent */
size_t pq_reader_num_kv(const struct pq_reader *r);
/* Key and value (value NULL when absent) of pair i. */
void pq_reader_kv(const struct pq_reader *r, size_t i, const char **key,
		  const char **value);

/*
 * A batch of consecutive rows of one column. valid[i] is 1 for a value and
 * 0 for a null; the value arrays have one slot per row (null slots hold 0).
 * Which array is set follows the physical type: b (BOOLEAN, 0/1), i32,
 * i64, f32, f64, bytes (BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY), int96 (12
 * raw bytes per row). Everything is owned by the column reader and valid
 * until its next call.
 */
struct pq_batch {
	size_t n;
	const uint8_t *valid;
	const uint8_t *b;
	const int32_t *i32;
	const int64_t *i64;
	const float *f32;
	const double *f64;
	const struct pq_bytes *bytes;
	const uint8_t *int96;
};

struct pq_column_reader;

enum iot_err pq_column_reader_create(struct pq_column_reader **cr,
				     struct pq_reader *r, size_t row_group,
				     size_t column, struct iot_error *err);
/* Next batch of at most max rows; b->n == 0 at the end of the chunk. */
enum iot_err pq_column_reader_next(struct pq_column_reader *cr,
				   struct pq_batch *b, size_t max,
				   struct iot_error *err);
void pq_column_reader_destroy(struct pq_column_reader *cr);

/* ---- values ---------------------------------------------------------- */

/* INT96 (Spark/Impala) to microseconds since the epoch (wrapping math). */
int64_t pq_int96_to_micros(const uint8_t v[12]);
/* A TIMESTAMP value in unit to microseconds (floor division for nanos). */
int64_t pq_timestamp_to_micros(int64_t v, enum pq_time_unit unit);
/* "2025-01-01T00:00:00.123456Z" (needs 32 bytes); returns buf. */
char *pq_format_micros(int64_t micros, char *buf, size_t len);
/* Shortest decimal form of d that strtod() reads back exactly. */
void pq_format_double(double d, char *buf, size_t len);
void pq_format_float(float f, char *buf, size_t len);
/*
 * Statistics values (struct pq_stats min/max) as numbers, for row-group
 * skipping: INT32/INT64 (TIMESTAMP columns converted to microseconds) as
 * int64; FLOAT/DOUBLE/INT32/INT64 as double. False when the column's type
 * does not fit or the value has the wrong size.
 */
bool pq_stat_to_i64(const struct pq_column *c, struct pq_bytes v, int64_t *out);
bool pq_stat_to_double(const struct pq_column *c, struct pq_bytes v,
		       double *out);
/* IEEE half to float. */
float pq_half_to_float(uint16_t h);

#endif
