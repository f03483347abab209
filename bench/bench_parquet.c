/*
 * bench_parquet.c - the Parquet codec's benchmark and test-data generator.
 *
 *   bench_parquet bench [--rows N] [--codec C] [--dir D]
 *	writes N rows (default 10M) of the raw-event schema
 *	(docs/design.md §4)
 *	to D/iotpipe_bench.parquet, then reads every column back, and prints
 *	rows/s and MB/s for both (one thread), from CPU time (wall time is
 *	printed too; on a shared machine CPU time is the steadier measure). bench/parquet_pyarrow.py does
 *	the same with pyarrow for comparison (bench/results/parquet.md).
 *
 *   bench_parquet gen OUT [--schema raw|all] [--rows N] [--codec C]
 *	[--no-dict] [--v2] [--rg-rows N] [--page-rows N] [--dict-bytes N]
 *	[--batch]
 *	writes deterministic data whose formula the integration tests
 *	(tests/integration/test_parquet_interop.py) recompute in Python, to
 *	check that pyarrow and DuckDB read exactly what we wrote.
 *
 * Row i of the data (all arithmetic exact in IEEE double, so C and Python
 * agree bit for bit):
 *   raw: event_time = 1732525200000000 + i*1000 + (i*7919 % 1000) (TIMESTAMP
 *   micros UTC), temperature = 20 + (i*37 % 1000)/100.0, event_duration =
 *   10 + ((i*53 % 801) - 400)/100.0, status = {ok,warning,error}[i%3],
 *   kafka_partition = i % 8, kafka_offset = i / 8.
 *   all: b = i%3==0 (null when i%5==2), i32 = (int32)(i*2654435761 mod
 *   2^32), i64 = i*1000003 - 5000000000 (null when i%5==2), f = (i%1000)*0.5
 *   (float), d = i/7.0 but NaN when i%97==5 and -0.0 when i%89==3,
 *   s_dict = "k<i%20>" (null when i%5==2), s_uniq = "value-<i>-<i*7 hex>",
 *   ts = 1700000000000000 + i*1000003 (null when i%7==3), e = "" (empty).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <unistd.h>

#include "parquet/pq.h"

#include "core/banned.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: steadier than wall time on a shared machine. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const STATUS[3] = { "ok", "warning", "error" };

static const struct pq_column RAW[] = {
	{ .name = "event_time", .type = PQ_INT64, .logical = PQ_LOGICAL_TIMESTAMP,
	  .unit = PQ_MICROS, .utc = true },
	{ .name = "temperature", .type = PQ_DOUBLE },
	{ .name = "event_duration", .type = PQ_DOUBLE },
	{ .name = "status", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING },
	{ .name = "kafka_partition", .type = PQ_INT32 },
	{ .name = "kafka_offset", .type = PQ_INT64 },
};

static const struct pq_column ALL[] = {
	{ .name = "b", .type = PQ_BOOLEAN, .optional = true },
	{ .name = "i32", .type = PQ_INT32 },
	{ .name = "i64", .type = PQ_INT64, .optional = true },
	{ .name = "f", .type = PQ_FLOAT },
	{ .name = "d", .type = PQ_DOUBLE },
	{ .name = "s_dict", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING,
	  .optional = true },
	{ .name = "s_uniq", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING },
	{ .name = "ts", .type = PQ_INT64, .logical = PQ_LOGICAL_TIMESTAMP,
	  .unit = PQ_MICROS, .utc = true, .optional = true },
	{ .name = "e", .type = PQ_BYTE_ARRAY, .logical = PQ_LOGICAL_STRING },
};

struct args {
	const char *out, *schema, *dir;
	long long rows;
	enum pq_codec codec;
	bool no_dict, v2, batch, bench;
	long long rg_rows, page_rows, dict_bytes;
};

static int die(const struct iot_error *err)
{
	fprintf(stderr, "bench_parquet: %s\n", err->msg);
	return 1;
}

static void raw_row(struct pq_writer *w, int64_t i)
{
	pq_writer_write_i64(w, 0, 1732525200000000ll + i * 1000 + (i * 7919 % 1000));
	pq_writer_write_double(w, 1, 20 + (double)(i * 37 % 1000) / 100.0);
	pq_writer_write_double(w, 2, 10 + (double)(i * 53 % 801 - 400) / 100.0);
	const char *s = STATUS[i % 3];
	pq_writer_write_bytes(w, 3, s, strlen(s));
	pq_writer_write_i32(w, 4, (int32_t)(i % 8));
	pq_writer_write_i64(w, 5, i / 8);
}

static void all_row(struct pq_writer *w, int64_t i)
{
	char tmp[64];
	if (i % 5 == 2) {
		pq_writer_write_null(w, 0);
		pq_writer_write_null(w, 2);
		pq_writer_write_null(w, 5);
	} else {
		pq_writer_write_bool(w, 0, i % 3 == 0);
		pq_writer_write_i64(w, 2, i * 1000003 - 5000000000ll);
		int n = snprintf(tmp, sizeof(tmp), "k%d", (int)(i % 20));
		pq_writer_write_bytes(w, 5, tmp, (size_t)n);
	}
	pq_writer_write_i32(w, 1, (int32_t)(uint32_t)((uint64_t)i * 2654435761u));
	pq_writer_write_float(w, 3, (float)(i % 1000) * 0.5f);
	double d = (double)i / 7.0;
	if (i % 97 == 5)
		d = NAN;
	else if (i % 89 == 3)
		d = -0.0;
	pq_writer_write_double(w, 4, d);
	int n = snprintf(tmp, sizeof(tmp), "value-%lld-%llx", (long long)i,
			 (long long)i * 7);
	pq_writer_write_bytes(w, 6, tmp, (size_t)n);
	if (i % 7 == 3)
		pq_writer_write_null(w, 7);
	else
		pq_writer_write_i64(w, 7, 1700000000000000ll + i * 1000003);
	pq_writer_write_bytes(w, 8, "", 0);
}

/* The raw schema column-wise, in batches of up to 4096 rows. */
static void raw_batch(struct pq_writer *w, int64_t first, size_t n)
{
	static int64_t ts[4096], off[4096];
	static double t[4096], du[4096];
	static int32_t part[4096];
	static struct pq_bytes st[4096];
	for (size_t k = 0; k < n; k++) {
		int64_t i = first + (int64_t)k;
		ts[k] = 1732525200000000ll + i * 1000 + (i * 7919 % 1000);
		t[k] = 20 + (double)(i * 37 % 1000) / 100.0;
		du[k] = 10 + (double)(i * 53 % 801 - 400) / 100.0;
		st[k].ptr = (const uint8_t *)STATUS[i % 3];
		st[k].len = (uint32_t)strlen(STATUS[i % 3]);
		part[k] = (int32_t)(i % 8);
		off[k] = i / 8;
	}
	pq_writer_write_i64_batch(w, 0, ts, NULL, n);
	pq_writer_write_double_batch(w, 1, t, NULL, n);
	pq_writer_write_double_batch(w, 2, du, NULL, n);
	pq_writer_write_bytes_batch(w, 3, st, NULL, n);
	pq_writer_write_i32_batch(w, 4, part, NULL, n);
	pq_writer_write_i64_batch(w, 5, off, NULL, n);
	pq_writer_end_rows(w, n);
}

static int write_file(const struct args *a, const char *path)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_output *out;
	struct pq_writer *w;
	struct pq_writer_options o;
	bool raw = !strcmp(a->schema, "raw");

	pq_writer_options_init(&o);
	o.codec = a->codec;
	o.dictionary = !a->no_dict;
	o.page_v2 = a->v2;
	if (a->rg_rows > 0)
		o.row_group_rows = (size_t)a->rg_rows;
	if (a->page_rows > 0)
		o.page_rows = (size_t)a->page_rows;
	if (a->dict_bytes > 0)
		o.dictionary_bytes = (size_t)a->dict_bytes;
	/* the writer's output is a plain fd; only `gen` fsyncs it at the end:
	 * `bench` is like pyarrow's write_table, which does not, and an fsync
	 * would time the disk, not the codec */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	out = pq_output_fd_create(fd, path);
	if (pq_writer_create(&w, out, raw ? RAW : ALL,
			     raw ? sizeof(RAW) / sizeof(RAW[0])
				 : sizeof(ALL) / sizeof(ALL[0]), &o, &err) != IOT_OK)
		return die(&err);
	pq_writer_add_kv(w, "generator", "bench_parquet");
	pq_writer_add_kv(w, "schema", a->schema);
	if (raw && a->batch) {
		for (int64_t i = 0; i < a->rows; i += 4096) {
			size_t n = a->rows - i < 4096 ? (size_t)(a->rows - i) : 4096;
			raw_batch(w, i, n);
		}
	} else {
		for (int64_t i = 0; i < a->rows; i++) {
			if (raw)
				raw_row(w, i);
			else
				all_row(w, i);
			pq_writer_end_row(w);
		}
	}
	if (pq_writer_close(w, &err) != IOT_OK) {
		pq_writer_destroy(w);
		return die(&err);
	}
	pq_writer_destroy(w);
	if ((!a->bench && fsync(fd) != 0) || close(fd) != 0) {
		perror(path);
		return 1;
	}
	return 0;
}

/* The value computation of the timed write loops alone (no writer), so the
 * report can say how much of the write time is the benchmark's own data
 * generation, which pyarrow's side does before its clock starts. */
volatile uint64_t bench_sink;

static double gen_only_cpu(long long rows)
{
	uint64_t s = 0;
	double c0 = cpu_now();
	for (int64_t i = 0; i < rows; i++) {
		s += (uint64_t)(1732525200000000ll + i * 1000 + (i * 7919 % 1000));
		s += (uint64_t)(20 + (double)(i * 37 % 1000) / 100.0);
		s += (uint64_t)(10 + (double)(i * 53 % 801 - 400) / 100.0);
		s += strlen(STATUS[i % 3]);
		s += (uint64_t)(i % 8) + (uint64_t)(i / 8);
	}
	bench_sink = s;
	return cpu_now() - c0;
}

/* Reads every column of every row group; returns a checksum so the work
 * cannot be optimised away. */
static int read_file(const char *path, uint64_t *sum, int64_t *rows)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct pq_reader *r;
	uint64_t s = 0;
	if (pq_reader_open_file(&r, path, &err) != IOT_OK)
		return die(&err);
	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
		for (size_t c = 0; c < pq_reader_num_columns(r); c++) {
			struct pq_column_reader *cr;
			struct pq_batch b;
			if (pq_column_reader_create(&cr, r, g, c, &err) != IOT_OK)
				return die(&err);
			while (pq_column_reader_next(cr, &b, 65536, &err) == IOT_OK &&
			       b.n > 0) {
				if (b.i64)
					s += (uint64_t)b.i64[b.n - 1];
				else if (b.f64)
					s += (uint64_t)b.f64[b.n - 1];
				else if (b.i32)
					s += (uint32_t)b.i32[b.n - 1];
				else if (b.bytes)
					s += b.bytes[b.n - 1].len;
				s += b.n;
			}
			if (err.code != IOT_OK)
				return die(&err);
			pq_column_reader_destroy(cr);
		}
	}
	*rows = pq_reader_num_rows(r);
	pq_reader_destroy(r);
	*sum = s;
	return 0;
}

static long long file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long long n = ftell(f);
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct args a = { .schema = "raw", .dir = "/tmp", .rows = -1,
			  .codec = PQ_CODEC_SNAPPY };
	if (argc < 2) {
		fprintf(stderr, "usage: bench_parquet bench|gen [OUT] [options]\n");
		return 2;
	}
	const char *mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--rows") && v) {
			a.rows = atoll(v);
			i++;
		} else if (!strcmp(o, "--codec") && v) {
			if (!pq_codec_parse(v, &a.codec)) {
				fprintf(stderr, "bench_parquet: unknown codec %s\n", v);
				return 2;
			}
			i++;
		} else if (!strcmp(o, "--schema") && v) {
			a.schema = v;
			i++;
		} else if (!strcmp(o, "--dir") && v) {
			a.dir = v;
			i++;
		} else if (!strcmp(o, "--rg-rows") && v) {
			a.rg_rows = atoll(v);
			i++;
		} else if (!strcmp(o, "--page-rows") && v) {
			a.page_rows = atoll(v);
			i++;
		} else if (!strcmp(o, "--dict-bytes") && v) {
			a.dict_bytes = atoll(v);
			i++;
		} else if (!strcmp(o, "--no-dict")) {
			a.no_dict = true;
		} else if (!strcmp(o, "--v2")) {
			a.v2 = true;
		} else if (!strcmp(o, "--batch")) {
			a.batch = true;
		} else if (o[0] != '-' && !a.out) {
			a.out = o;
		} else {
			fprintf(stderr, "bench_parquet: bad argument %s\n", o);
			return 2;
		}
	}
	if (!strcmp(mode, "gen")) {
		if (!a.out) {
			fprintf(stderr, "bench_parquet gen: OUT missing\n");
			return 2;
		}
		if (a.rows < 0)
			a.rows = 1000;
		return write_file(&a, a.out);
	}
	if (strcmp(mode, "bench")) {
		fprintf(stderr, "bench_parquet: unknown mode %s\n", mode);
		return 2;
	}
	if (a.rows < 0)
		a.rows = 10000000;
	a.bench = true;
	char path[4096];
	snprintf(path, sizeof(path), "%s/iotpipe_bench.parquet", a.dir);
	/* raw in-memory size of the data: 8+8+8+4+4+8 bytes + the string */
	double raw_mb = (double)a.rows * (8 + 8 + 8 + 4 + 8) / 1e6;
	for (int batch = 0; batch < 2; batch++) {
		a.batch = batch;
		double t0 = now(), c0 = cpu_now();
		if (write_file(&a, path))
			return 1;
		double tw = now() - t0, cw = cpu_now() - c0;
		uint64_t sum;
		int64_t rows;
		t0 = now();
		c0 = cpu_now();
		if (read_file(path, &sum, &rows))
			return 1;
		double tr = now() - t0, cr = cpu_now() - c0;
		printf("iotpipe %-9s codec=%s rows=%lld file=%.1f MB  write %.3f s "
		       "wall, %.3f s cpu (%.2f Mrows/s, %.0f MB/s)  read %.3f s wall, "
		       "%.3f s cpu (%.2f Mrows/s, %.0f MB/s) [check %llu]\n",
		       batch ? "batch-api" : "row-api", pq_codec_name(a.codec),
		       (long long)rows, (double)file_size(path) / 1e6, tw, cw,
		       (double)a.rows / cw / 1e6, raw_mb / cw, tr, cr,
		       (double)a.rows / cr / 1e6, raw_mb / cr,
		       (unsigned long long)sum);
	}
	printf("iotpipe data generation alone (inside the write times above): "
	       "%.3f s cpu\n", gen_only_cpu(a.rows));
	remove(path);
	return 0;
}
