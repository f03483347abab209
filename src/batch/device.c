/*
 * device.c - one device partition, from Parquet files to percentiles.
 *
 * Data flow, all on the calling worker thread:
 *   1. every file of the device, in URI order: open (local pread or S3
 *      ranged GETs), check the two needed columns, then per row group read
 *      event_time, event_duration and the event's other columns (projection:
 *      the Kafka provenance columns are never read) into `rows`, one
 *      32-byte struct per row: time in microseconds, UTC day, duration, and
 *      a 64-bit hash of the other columns (for counting distinct events);
 *   2. a stable counting sort of the rows by day (row order within a day is
 *      file order, so sums are reproducible run to run);
 *   3. per day: skip it when it has no more rows than the threshold (the
 *      distinct count cannot exceed the row count), else count distinct
 *      events with an open-addressing set compared on (time, duration,
 *      other-columns hash), then mean, deviation, the 3-sigma filter and the
 *      percentiles (group_stats.h) over ALL the day's rows, duplicates
 *      included, as the reference does (docs/percentile.md).
 * The worker's buffers grow to the largest device seen and are reused.
 */
#include "batch/device.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/civil.h"
#include "core/log.h"
#include "core/strmap.h"
#include "core/xalloc.h"
#include "parquet/pq.h"
#include "parquet/pq_store.h"
#include "store/prefetch.h"

#include "core/banned.h"

#define BATCH_ROWS 8192
/* Counting sort over at most this many days (179 years); wider spreads
 * fall back to a comparison sort. */
#define MAX_DAY_RANGE 65536

struct row {
	int64_t t;      /* event_time in microseconds (UTC) */
	uint64_t other; /* hash of the other event columns (0: none) */
	double dur;     /* event_duration */
	int32_t day;    /* floor(t / 1 day) */
	uint32_t dev;   /* a by-date unit: the device's index among the unit's
			   (DEV_NULL: a null device_id); 0 otherwise; while
			   a row group is read, DEV_BAD or DEV_OTHER_SHARD
			   mark a row to drop */
};

#define DEV_NULL (UINT32_MAX - 3)
#define DEV_OTHER_SHARD (UINT32_MAX - 2)
#define DEV_BAD_OTHER_SHARD (UINT32_MAX - 1) /* DEV_BAD, of another shard or part */
#define DEV_BAD UINT32_MAX

struct device_worker {
	struct store *st;
	struct store_prefetch *pf; /* NULL: read every file through st */
	uint64_t pf_max;           /* larger files are not in pf */
	struct buf fbuf;           /* the prefetched file being read */
	struct row *rows, *sorted;
	size_t nrows, rows_alloc, sorted_alloc;
	double *x;
	size_t x_alloc;
	uint32_t *set;
	size_t set_alloc;
	size_t *count;
	size_t count_alloc;
	/* a by-date unit's devices: ids, and whether each is in the shard */
	struct strmap devs;
	bool *keep;
	size_t keep_alloc;
	int null_keep;  /* -1: not yet asked; else whether the null device is */
	uint32_t part_i, part_n; /* the unit's part of its date */
	const struct device_job *job;
};

struct device_worker *device_worker_create(struct store *st)
{
	struct device_worker *w = xcalloc(1, sizeof(*w));
	w->st = st;
	strmap_init(&w->devs);
	return w;
}

void device_worker_set_prefetch(struct device_worker *w, struct store_prefetch *pf,
				uint64_t max_size)
{
	w->pf = pf;
	w->pf_max = max_size;
}

void device_worker_destroy(struct device_worker *w)
{
	if (!w)
		return;
	buf_release(&w->fbuf);
	free(w->rows);
	free(w->sorted);
	free(w->x);
	free(w->set);
	free(w->count);
	strmap_release(&w->devs);
	free(w->keep);
	free(w);
}

void device_result_release(struct device_result *res)
{
	free(res->day);
	free(res->events);
	free(res->val);
	free(res->dev);
	for (size_t i = 0; i < res->ndevs; i++)
		free(res->devs[i]);
	free(res->devs);
	memset(res, 0, sizeof(*res));
}

bool device_column_is_provenance(const char *name)
{
	return !strcmp(name, "kafka_partition") || !strcmp(name, "kafka_offset");
}

/* ---- hashing ------------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: every input bit affects every output bit */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ n;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h);
}

static inline uint64_t double_bits(double d)
{
	uint64_t u;
	d += 0.0; /* -0.0 and 0.0 are one value, as in Spark's grouping */
	memcpy(&u, &d, sizeof(u));
	return u;
}

/* ---- reading ------------------------------------------------------------ */

struct file_ctx {
	struct pq_reader *r;
	const char *uri;
	size_t g;      /* row group */
	size_t nrows;  /* rows in the group */
	struct row *base;
	struct device_worker *w;
};

/* Calls back per batch: checks the column yields exactly nrows values. */
typedef void (*batch_fn)(struct device_worker *w, struct row *rows, const struct pq_batch *b,
			 const struct pq_column *col, uint64_t salt);

static enum iot_err read_column(struct file_ctx *f, size_t c, batch_fn fn,
				uint64_t salt, struct iot_error *err)
{
	struct pq_column_reader *cr = NULL;
	const struct pq_column *col = pq_reader_column(f->r, c);
	struct pq_batch b;
	size_t done = 0;
	enum iot_err rc;

	if ((rc = pq_column_reader_create(&cr, f->r, f->g, c, err)) != IOT_OK)
		return rc;
	while ((rc = pq_column_reader_next(cr, &b, BATCH_ROWS, err)) == IOT_OK &&
	       b.n > 0) {
		if (b.n > f->nrows - done) {
			rc = iot_error_set(err, IOT_ERR_FORMAT,
					   "%s: row group %zu: column %s has more values than the group's %zu rows",
					   f->uri, f->g, col->name, f->nrows);
			break;
		}
		fn(f->w, f->base + done, &b, col, salt);
		done += b.n;
	}
	if (rc == IOT_OK && done != f->nrows)
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "%s: row group %zu: column %s has %zu values, the group %zu rows",
				   f->uri, f->g, col->name, done, f->nrows);
	pq_column_reader_destroy(cr);
	return rc;
}

static void put_time(struct device_worker *w, struct row *rows, const struct pq_batch *b,
		     const struct pq_column *col, uint64_t salt)
{
	(void)w;
	(void)salt;
	for (size_t i = 0; i < b->n; i++) {
		int64_t us;
		if (!b->valid[i]) {
			rows[i].dev = DEV_BAD;
			continue;
		}
		us = col->type == PQ_INT96 ? pq_int96_to_micros(b->int96 + 12 * i)
					   : pq_timestamp_to_micros(b->i64[i], col->unit);
		rows[i].t = us;
		rows[i].day = (int32_t)civil_floor_div(us, CIVIL_US_PER_DAY);
	}
}

static void put_duration(struct device_worker *w, struct row *rows, const struct pq_batch *b,
			 const struct pq_column *col, uint64_t salt)
{
	(void)w;
	(void)salt;
	for (size_t i = 0; i < b->n; i++) {
		double d = col->type == PQ_FLOAT ? (double)b->f32[i] : b->f64[i];
		rows[i].dur = d;
		if (!b->valid[i] || !isfinite(d))
			rows[i].dev = DEV_BAD;
	}
}

/* Whether device id (NULL: the null device) is in the job's shard and in
 * the unit's part of its date (dataset_split_dates): the part takes the
 * hash's next digit, so parts and shards are independent. */
static bool in_shard(const struct device_worker *w, const char *id)
{
	const struct device_job *job = w->job;
	uint64_t h = dataset_device_hash(id);

	if (job->shard_n && h % job->shard_n != job->shard_i)
		return false;
	return w->part_n <= 1 || (h / (job->shard_n ? job->shard_n : 1)) % w->part_n == w->part_i;
}

/* A by-date unit's device_id column: each row's device index (after the
 * checks above, which may have marked it DEV_BAD already: such a row is
 * counted as skipped by the unit that keeps its device, not by every
 * shard or part of its date). */
static void put_device(struct device_worker *w, struct row *rows, const struct pq_batch *b,
		       const struct pq_column *col, uint64_t salt)
{
	const uint8_t *last_p = NULL;
	uint32_t last_len = 0, last_dev = 0;

	(void)col;
	(void)salt;
	for (size_t i = 0; i < b->n; i++) {
		uint32_t dev;
		if (!b->valid[i]) {
			if (w->null_keep < 0)
				w->null_keep = in_shard(w, NULL);
			dev = w->null_keep ? DEV_NULL : DEV_OTHER_SHARD;
		} else if (b->bytes[i].ptr == last_p && b->bytes[i].len == last_len && last_p) {
			/* dictionary-encoded strings share pointers */
			dev = last_dev;
		} else {
			size_t n = w->devs.n, k = strmap_intern(&w->devs, b->bytes[i].ptr,
								 b->bytes[i].len);
			if (k == n) {
				char *id = xstrndup((const char *)b->bytes[i].ptr, b->bytes[i].len);
				ALLOC_GROW(w->keep, k + 1, w->keep_alloc);
				w->keep[k] = in_shard(w, id);
				free(id);
			}
			dev = w->keep[k] ? (uint32_t)k : DEV_OTHER_SHARD;
			last_p = b->bytes[i].ptr;
			last_len = b->bytes[i].len;
			last_dev = dev;
		}
		if (rows[i].dev == DEV_BAD)
			dev = dev == DEV_OTHER_SHARD ? DEV_BAD_OTHER_SHARD : DEV_BAD;
		rows[i].dev = dev;
	}
}

/* Adds each value's hash (salted by the column's name) to rows[i].other.
 * A null adds nothing, so a null and a missing column are the same. */
static void put_other(struct device_worker *w, struct row *rows, const struct pq_batch *b,
		      const struct pq_column *col, uint64_t salt)
{
	(void)w;
	const uint8_t *last_p = NULL;
	uint32_t last_len = 0;
	uint64_t last_h = 0;

	for (size_t i = 0; i < b->n; i++) {
		uint64_t h;
		if (!b->valid[i])
			continue;
		switch (col->type) {
		case PQ_BOOLEAN:
			h = b->b[i] + 1u;
			break;
		case PQ_INT32:
			h = (uint64_t)(int64_t)b->i32[i];
			break;
		case PQ_INT64:
			h = (uint64_t)b->i64[i];
			break;
		case PQ_FLOAT:
			h = double_bits((double)b->f32[i]);
			break;
		case PQ_DOUBLE:
			h = double_bits(b->f64[i]);
			break;
		case PQ_INT96:
			h = hash_bytes(b->int96 + 12 * i, 12);
			break;
		default:
			/* dictionary-encoded strings share pointers: cache */
			if (b->bytes[i].ptr != last_p || b->bytes[i].len != last_len) {
				last_p = b->bytes[i].ptr;
				last_len = b->bytes[i].len;
				last_h = hash_bytes(last_p, last_len);
			}
			h = last_h;
			break;
		}
		rows[i].other += mix64(h ^ salt);
	}
}

static bool time_type_ok(const struct pq_column *c)
{
	return c->type == PQ_INT96 ||
	       (c->type == PQ_INT64 && c->logical == PQ_LOGICAL_TIMESTAMP);
}

static void describe(const struct pq_column *c, char *buf, size_t len)
{
	char lg[64];
	pq_logical_describe(c, lg, sizeof(lg));
	snprintf(buf, len, "%s%s%s%s", pq_type_name(c->type), lg[0] ? " (" : "",
		 lg, lg[0] ? ")" : "");
}

/* A column the job reads, by name: one of that name only (another writer
 * may allow two; which one is meant is then anyone's guess). */
static long find_column(struct pq_reader *r, const char *uri, const char *name,
			struct iot_error *err)
{
	long c = pq_reader_find_column(r, name);

	for (size_t i = c < 0 ? SIZE_MAX : (size_t)c + 1; i < pq_reader_num_columns(r); i++)
		if (!strcmp(pq_reader_column(r, i)->name, name)) {
			iot_error_set(err, IOT_ERR_FORMAT,
				      "%s: two columns are named '%s' (columns %ld and %zu)", uri,
				      name, c + 1, i + 1);
			return -2;
		}
	return c;
}

static enum iot_err missing_column(struct pq_reader *r, const char *uri,
				   const char *name, struct iot_error *err)
{
	struct buf names = BUF_INIT;
	enum iot_err rc;

	for (size_t i = 0; i < pq_reader_num_columns(r); i++)
		buf_printf(&names, "%s%s", i ? ", " : "", pq_reader_column(r, i)->name);
	rc = iot_error_set(err, IOT_ERR_FORMAT,
			   "%s: no column '%s' (the file has: %s)", uri, name,
			   names.len ? buf_str(&names) : "no columns");
	buf_release(&names);
	return rc;
}

/* Opens file `index` of the dataset: from the prefetcher when there is
 * one and it holds the file (its bytes live in w->fbuf until the next
 * file), else through the store, which serves local files and S3 alike. */
static enum iot_err open_file(struct device_worker *w, size_t index,
			      const struct dataset_file *file, struct pq_reader **r,
			      struct iot_error *err)
{
	const char *uri = file->uri;
	enum iot_err rc;

	if (!w->pf || file->size > w->pf_max)
		return pq_store_reader_open_sized(w->st, uri, file->size, r, err);
	if ((rc = store_prefetch_take(w->pf, index, &w->fbuf, err)) != IOT_OK)
		return rc;
	return pq_reader_open(r, pq_input_mem_create(w->fbuf.data, w->fbuf.len, uri), err);
}

/* "yyyy-MM-dd" to a day number; false when s is not such a date. */
static bool parse_date(const char *s, int64_t *day)
{
	int64_t y = 0;
	unsigned m, d;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	for (int i = 0; i < 4; i++)
		y = y * 10 + (s[i] - '0');
	m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
	d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
	if (m < 1 || m > 12 || d < 1 || d > civil_days_in_month(y, m))
		return false;
	*day = civil_days_from_date(y, m, d);
	return true;
}

/* by_date: every kept row must be of the unit's day (`day`), so that no
 * device-day is split between two date directories. */
static enum iot_err read_file(struct device_worker *w, const struct device_job *job,
			      size_t index, const struct dataset_file *file, bool by_date,
			      int64_t day, bool *is_double, uint64_t *skipped,
			      struct iot_error *err)
{
	const char *uri = file->uri;
	struct file_ctx f = { NULL, uri, 0, 0, NULL, w };
	long ct, cd, cdev = -1;
	size_t *others = NULL, nothers = 0;
	uint64_t *salts = NULL;
	enum iot_err rc;
	char what[96];

	if ((rc = open_file(w, index, file, &f.r, err)) != IOT_OK)
		return rc;
	if ((ct = find_column(f.r, uri, "event_time", err)) == -2 ||
	    (cd = find_column(f.r, uri, "event_duration", err)) == -2) {
		rc = err->code;
		goto out;
	}
	if (ct < 0 || cd < 0) {
		rc = missing_column(f.r, uri, ct < 0 ? "event_time" : "event_duration", err);
		goto out;
	}
	if (!time_type_ok(pq_reader_column(f.r, (size_t)ct))) {
		describe(pq_reader_column(f.r, (size_t)ct), what, sizeof(what));
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "%s: column 'event_time' is %s, expected a TIMESTAMP (INT64) or INT96",
				   uri, what);
		goto out;
	}
	{
		const struct pq_column *c = pq_reader_column(f.r, (size_t)cd);
		if ((c->type != PQ_DOUBLE && c->type != PQ_FLOAT) ||
		    (c->logical != PQ_LOGICAL_NONE)) {
			describe(c, what, sizeof(what));
			rc = iot_error_set(err, IOT_ERR_FORMAT,
					   "%s: column 'event_duration' is %s, expected DOUBLE or FLOAT",
					   uri, what);
			goto out;
		}
		if (c->type == PQ_DOUBLE)
			*is_double = true;
	}
	if (by_date) {
		const struct pq_column *c;
		if ((cdev = find_column(f.r, uri, "device_id", err)) < 0) {
			rc = cdev == -2 ? err->code : missing_column(f.r, uri, "device_id", err);
			goto out;
		}
		c = pq_reader_column(f.r, (size_t)cdev);
		if (c->type != PQ_BYTE_ARRAY) {
			describe(c, what, sizeof(what));
			rc = iot_error_set(err, IOT_ERR_FORMAT,
					   "%s: column 'device_id' is %s, expected a STRING (BYTE_ARRAY)"
					   " (the dataset is laid out by date=, so the device is read"
					   " from this column)", uri, what);
			goto out;
		}
	}
	others = xmalloc(st_mult(pq_reader_num_columns(f.r) + 1, sizeof(*others)));
	salts = xmalloc(st_mult(pq_reader_num_columns(f.r) + 1, sizeof(*salts)));
	for (size_t i = 0; i < pq_reader_num_columns(f.r); i++) {
		const char *name = pq_reader_column(f.r, i)->name;
		if ((long)i == ct || (long)i == cd || device_column_is_provenance(name) ||
		    !strcmp(name, "device_id"))
			continue;
		salts[nothers] = hash_bytes((const uint8_t *)name, strlen(name));
		others[nothers++] = i;
	}
	for (f.g = 0; f.g < pq_reader_num_row_groups(f.r); f.g++) {
		int64_t n = pq_reader_row_group(f.r, f.g)->num_rows;
		size_t need, k = 0;

		if (n < 0 || (uint64_t)n > UINT32_MAX) {
			rc = iot_error_set(err, IOT_ERR_FORMAT, "%s: row group %zu has %lld rows",
					   uri, f.g, (long long)n);
			goto out;
		}
		f.nrows = (size_t)n;
		need = st_add(w->nrows, f.nrows);
		ALLOC_GROW(w->rows, need, w->rows_alloc);
		f.base = w->rows + w->nrows;
		for (size_t i = 0; i < f.nrows; i++) {
			f.base[i].other = 0;
			f.base[i].dev = 0;
		}
		if ((rc = read_column(&f, (size_t)ct, put_time, 0, err)) != IOT_OK ||
		    (rc = read_column(&f, (size_t)cd, put_duration, 0, err)) != IOT_OK)
			goto out;
		if (cdev >= 0 && (rc = read_column(&f, (size_t)cdev, put_device, 0, err)) != IOT_OK)
			goto out;
		for (size_t o = 0; o < nothers; o++)
			if ((rc = read_column(&f, others[o], put_other, salts[o], err)) != IOT_OK)
				goto out;
		for (size_t i = 0; i < f.nrows; i++) {
			uint32_t dev = f.base[i].dev;
			if (by_date && dev != DEV_BAD && dev != DEV_BAD_OTHER_SHARD &&
			    f.base[i].day != day) {
				char got[16], want[16];
				civil_format_micros(f.base[i].t, got, sizeof(got));
				civil_format_micros(day * CIVIL_US_PER_DAY, want, sizeof(want));
				rc = iot_error_set(err, IOT_ERR_FORMAT,
						   "%s: row group %zu has an event_time on %.10s in a "
						   "date=%.10s directory (date= must be the UTC date of "
						   "event_time, or a device-day would be split)",
						   uri, f.g, got, want);
				goto out;
			}
			f.base[k] = f.base[i];
			k += dev < DEV_OTHER_SHARD;
			*skipped += dev == DEV_BAD;
		}
		w->nrows += k;
		if (job->rows_read)
			atomic_fetch_add_explicit(job->rows_read, f.nrows, memory_order_relaxed);
	}
out:
	free(others);
	free(salts);
	pq_reader_destroy(f.r);
	return rc;
}

/* ---- grouping ----------------------------------------------------------- */

struct day_idx {
	int32_t day;
	uint32_t idx;
};

static int cmp_day_idx(const void *pa, const void *pb)
{
	const struct day_idx *a = pa, *b = pb;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Stable sort of w->rows by day into w->sorted. */
static void sort_by_day(struct device_worker *w)
{
	size_t n = w->nrows;
	int32_t lo = INT32_MAX, hi = INT32_MIN;

	ALLOC_GROW(w->sorted, n, w->sorted_alloc);
	for (size_t i = 0; i < n; i++) {
		if (w->rows[i].day < lo)
			lo = w->rows[i].day;
		if (w->rows[i].day > hi)
			hi = w->rows[i].day;
	}
	if (n == 0)
		return;
	if ((int64_t)hi - lo < MAX_DAY_RANGE) {
		size_t range = (size_t)((int64_t)hi - lo + 1), pos = 0;
		ALLOC_GROW(w->count, range, w->count_alloc);
		memset(w->count, 0, range * sizeof(*w->count));
		for (size_t i = 0; i < n; i++)
			w->count[w->rows[i].day - lo]++;
		for (size_t d = 0; d < range; d++) {
			size_t c = w->count[d];
			w->count[d] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			w->sorted[w->count[w->rows[i].day - lo]++] = w->rows[i];
	} else {
		struct day_idx *di = xmalloc(st_mult(n, sizeof(*di)));
		for (size_t i = 0; i < n; i++) {
			di[i].day = w->rows[i].day;
			di[i].idx = (uint32_t)i;
		}
		qsort(di, n, sizeof(*di), cmp_day_idx);
		for (size_t i = 0; i < n; i++)
			w->sorted[i] = w->rows[di[i].idx];
		free(di);
	}
}

/* A by-date unit: stable sort of w->sorted (by day) by device, so the
 * rows come by (device, day); the null device last. */
static void sort_by_dev(struct device_worker *w, size_t ndev)
{
	size_t n = w->nrows, pos = 0;
	struct row *t;
	size_t ta;

	ALLOC_GROW(w->count, ndev + 1, w->count_alloc);
	memset(w->count, 0, (ndev + 1) * sizeof(*w->count));
	for (size_t i = 0; i < n; i++)
		w->count[w->sorted[i].dev == DEV_NULL ? ndev : w->sorted[i].dev]++;
	for (size_t d = 0; d <= ndev; d++) {
		size_t c = w->count[d];
		w->count[d] = pos;
		pos += c;
	}
	ALLOC_GROW(w->rows, n, w->rows_alloc);
	for (size_t i = 0; i < n; i++)
		w->rows[w->count[w->sorted[i].dev == DEV_NULL ? ndev : w->sorted[i].dev]++] =
			w->sorted[i];
	t = w->rows;
	w->rows = w->sorted;
	w->sorted = t;
	ta = w->rows_alloc;
	w->rows_alloc = w->sorted_alloc;
	w->sorted_alloc = ta;
}

static inline uint64_t row_hash(const struct row *r)
{
	return mix64((uint64_t)r->t ^ mix64(double_bits(r->dur) ^ mix64(r->other)));
}

static size_t count_distinct(struct device_worker *w, const struct row *rows, size_t n)
{
	size_t cap = 16, mask, distinct = 0;

	while (cap < 2 * n)
		cap *= 2;
	ALLOC_GROW(w->set, cap, w->set_alloc);
	memset(w->set, 0, cap * sizeof(*w->set));
	mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		size_t pos = (size_t)row_hash(r) & mask;
		for (;;) {
			uint32_t e = w->set[pos];
			if (!e) {
				w->set[pos] = (uint32_t)(i + 1);
				distinct++;
				break;
			}
			if (rows[e - 1].t == r->t && rows[e - 1].dur == r->dur &&
			    rows[e - 1].other == r->other)
				break;
			pos = (pos + 1) & mask;
		}
	}
	return distinct;
}

static void emit(struct device_result *res, size_t np, int32_t day, uint32_t dev,
		 size_t events, const double *vals, size_t *alloc)
{
	if (res->ngroups + 1 > *alloc) {
		*alloc = *alloc * 2 + 16;
		res->day = xrealloc(res->day, st_mult(*alloc, sizeof(*res->day)));
		res->dev = xrealloc(res->dev, st_mult(*alloc, sizeof(*res->dev)));
		res->events = xrealloc(res->events, st_mult(*alloc, sizeof(*res->events)));
		res->val = xrealloc(res->val, st_mult(st_mult(*alloc, np), sizeof(double)));
	}
	res->day[res->ngroups] = day;
	res->dev[res->ngroups] = dev;
	res->events[res->ngroups] = (int64_t)events;
	memcpy(res->val + res->ngroups * np, vals, np * sizeof(double));
	res->ngroups++;
}

enum iot_err device_process(struct device_worker *w, const struct device_job *job,
			    const struct dataset_device *dev,
			    struct device_result *res, struct iot_error *err)
{
	bool is_double = false, by_date = job->by_date;
	int64_t day = 0;
	size_t alloc = 0, s = 0;
	double vals_small[8], *vals = vals_small;
	enum iot_err rc = IOT_OK;

	memset(res, 0, sizeof(*res));
	w->nrows = 0;
	w->job = job;
	w->null_keep = -1;
	w->part_i = dev->part_i;
	w->part_n = dev->part_n;
	strmap_clear(&w->devs);
	if (by_date && !parse_date(dev->id, &day))
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "%s: the directory date=%s is not a yyyy-MM-dd date",
				   dev->nfiles ? dev->files[0].uri : "?", dev->id ? dev->id : "");
	for (size_t f = 0; f < dev->nfiles && !rc; f++)
		rc = read_file(w, job, dev->first + f, &dev->files[f], by_date, day, &is_double,
			       &res->skipped, err);
	if (w->pf) /* what this device did not take (after an error) */
		store_prefetch_drop(w->pf, dev->first, dev->nfiles);
	buf_release(&w->fbuf);
	if (rc)
		return rc;
	res->rows = w->nrows + res->skipped;
	res->as_float = dev->nfiles > 0 && !is_double;
	if (w->nrows > UINT32_MAX - 1)
		return iot_error_set(err, IOT_ERR_LIMIT,
				     "%s %s: %zu rows, more than this job handles per %s",
				     by_date ? "date" : "device", dev->id ? dev->id : "(null)",
				     w->nrows, by_date ? "date" : "device");
	sort_by_day(w);
	if (by_date) {
		sort_by_dev(w, w->devs.n);
		res->ndevs = w->devs.n;
		res->devs = xcalloc(res->ndevs ? res->ndevs : 1, sizeof(*res->devs));
		for (size_t d = 0; d < res->ndevs; d++) {
			size_t len;
			const char *k = strmap_key(&w->devs, d, &len);
			res->devs[d] = xstrndup(k, len);
		}
	}
	if (job->np > 8)
		vals = xmalloc(st_mult(job->np, sizeof(double)));
	while (s < w->nrows) {
		size_t e = s, n, distinct, k;
		double mean, sd;

		while (e < w->nrows && w->sorted[e].day == w->sorted[s].day &&
		       w->sorted[e].dev == w->sorted[s].dev)
			e++;
		n = e - s;
		if (job->threshold >= 0 && n <= (size_t)job->threshold)
			goto next; /* at most n distinct events */
		distinct = count_distinct(w, w->sorted + s, n);
		if (job->threshold >= 0 && distinct <= (size_t)job->threshold)
			goto next;
		ALLOC_GROW(w->x, n, w->x_alloc);
		for (size_t i = 0; i < n; i++)
			w->x[i] = w->sorted[s + i].dur;
		stats_mean_sd(w->x, n, &mean, &sd);
		k = stats_drop_outliers(w->x, n, mean, sd);
		if (k == 0)
			goto next;
		stats_percentiles(w->x, k, job->p, job->np, job->method, vals);
		emit(res, job->np, w->sorted[s].day, w->sorted[s].dev, distinct, vals, &alloc);
next:
		s = e;
	}
	if (vals != vals_small)
		free(vals);
	return rc;
}
