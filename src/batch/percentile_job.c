/*
 * percentile_job.c - the percentile batch job (percentile_job.h; the
 * reference's percentile_processor.py, semantics in docs/percentile.md).
 *
 * Flow: list the raw dataset and group its files by device (batch/dataset),
 * optionally keep one shard of the devices, then a pool of worker threads
 * (core/pool) takes devices one at a time and computes each device's
 * groups (batch/device) into a per-device result slot. The calling thread
 * draws the progress bar while it waits (when asked to), then writes the
 * CSV in device order (devices are sorted by id, groups by date) in one
 * atomic put: a local temporary file renamed into place, or one S3 object.
 * Memory is one device partition per thread plus the (small) results.
 * A dataset laid out by date= (`archive --partition-by date`) goes the
 * same way one date directory at a time, the device read from each row
 * (batch/device.h); its groups are sorted by device and date at the end,
 * and --shard filters rows instead of directories.
 *
 * On S3 the files are fetched ahead of the workers (store/prefetch.h):
 * each file up to PREFETCH_FILE_MAX in one GET, up to
 * IOTPIPE_S3_MAX_INFLIGHT of them in flight whatever the thread count is,
 * and at most PREFETCH_BUDGET bytes fetched and not yet read. Larger files
 * are read by their worker with ranged GETs (footer, then the column
 * chunks).
 */
#include "batch/percentile_job.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/csv.h"
#include "batch/dataset.h"
#include "batch/device.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xalloc.h"
#include "parquet/pq_store.h"
#include "store/prefetch.h"
#include "store/store.h"

#include "core/banned.h"

/* A file up to this size is fetched whole: one request instead of a HEAD
 * and three or more ranged GETs, and the footer plus the three columns
 * read are most of a small file anyway. */
#define PREFETCH_FILE_MAX ((uint64_t)16 << 20)
/* Bytes fetched ahead and not yet read: 128 in flight of the reference
 * layout's few-KB files need far less; large files go one at a time. */
#define PREFETCH_BUDGET ((size_t)64 << 20)

/* The rows of a date that one unit reads, at most (a by-date dataset,
 * dataset_split_dates): about 64 bytes each in memory, the rows and their
 * sorted copy. */
#define DATE_UNIT_ROWS ((uint64_t)4 << 20)
#define DATE_UNITS_MAX 4096

struct count_ctx {
	struct store **stores;
	const char **uris;
	uint64_t *sizes, *rows;
};

/* Footers are read, not trusted: a sum of their counts does not wrap. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* One file's rows, from its footer. */
static enum iot_err count_rows(void *opaque, size_t worker, size_t item,
			       struct iot_error *err)
{
	struct count_ctx *c = opaque;
	struct pq_reader *r;
	enum iot_err rc = pq_store_reader_open_sized(c->stores[worker], c->uris[item],
						     c->sizes[item], &r, err);

	if (rc)
		return rc;
	for (size_t g = 0; g < pq_reader_num_row_groups(r); g++) {
		int64_t n = pq_reader_row_group(r, g)->num_rows;
		c->rows[item] = add_sat(c->rows[item], n > 0 ? (uint64_t)n : 0);
	}
	pq_reader_destroy(r);
	return IOT_OK;
}

/*
 * A by-date dataset: reads the footers for each date's rows and splits
 * each date into units (dataset_split_dates), enough for every one of the
 * `threads` to have work when there are fewer dates than threads, and for
 * no unit to hold more than DATE_UNIT_ROWS rows. Each unit reads all of
 * its date's files and keeps its part of the devices.
 */
static enum iot_err split_dates(struct dataset *ds, size_t threads, struct iot_error *err)
{
	struct count_ctx cc = { xcalloc(threads, sizeof(*cc.stores)), NULL, NULL,
				xcalloc(ds->nfiles ? ds->nfiles : 1, sizeof(*cc.rows)) };
	uint32_t *parts = xcalloc(ds->ndevices ? ds->ndevices : 1, sizeof(*parts));
	size_t min = ds->ndevices && ds->ndevices < threads
			     ? (threads + ds->ndevices - 1) / ds->ndevices : 1;
	enum iot_err rc;

	dataset_files(ds, &cc.uris, &cc.sizes);
	for (size_t i = 0; i < threads; i++)
		cc.stores[i] = store_create();
	{
		struct pool_spec ps = { threads < ds->nfiles ? threads : ds->nfiles, ds->nfiles,
					count_rows, &cc, NULL, 0, NULL };
		rc = pool_run(&ps, err);
	}
	for (size_t d = 0; d < ds->ndevices && !rc; d++) {
		const struct dataset_device *dev = &ds->devices[d];
		uint64_t rows = 0, k;
		for (size_t f = 0; f < dev->nfiles; f++)
			rows = add_sat(rows, cc.rows[dev->first + f]);
		k = (rows + DATE_UNIT_ROWS - 1) / DATE_UNIT_ROWS;
		k = k < min ? min : k;
		parts[d] = (uint32_t)(k > DATE_UNITS_MAX ? DATE_UNITS_MAX : k);
		if (parts[d] > 1)
			log_debug("percentile", "date %s: %" PRIu64 " rows, read in %u parts",
				  dev->id ? dev->id : "?", rows, parts[d]);
	}
	if (!rc)
		dataset_split_dates(ds, parts);
	for (size_t i = 0; i < threads; i++)
		store_destroy(cc.stores[i]);
	free(cc.stores);
	free(cc.uris);
	free(cc.sizes);
	free(cc.rows);
	free(parts);
	return rc;
}

struct run_ctx {
	struct dataset *ds;
	struct device_job job;
	struct store **stores;         /* one per worker */
	struct device_worker **workers; /* one per worker */
	struct device_result *results; /* one per device */
	_Atomic uint64_t rows_read;
	atomic_size_t devices_done;
	bool progress;
	const char *units;             /* what the bar counts */
	double t0;
};

static enum iot_err run_device(void *opaque, size_t worker, size_t item,
			       struct iot_error *err)
{
	struct run_ctx *c = opaque;
	enum iot_err rc = device_process(c->workers[worker], &c->job,
					 &c->ds->devices[item], &c->results[item], err);
	atomic_fetch_add(&c->devices_done, 1);
	return rc;
}

static void tick(void *opaque, int final)
{
	struct run_ctx *c = opaque;
	size_t done = atomic_load(&c->devices_done), total = c->ds->ndevices;
	double rows = (double)atomic_load(&c->rows_read);
	char bar[31];
	size_t fill = total ? done * 30 / total : 30;

	if (!c->progress)
		return;
	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu %s, %.1fM rows, %.1f s%s", bar, done, total,
		c->units, rows / 1e6, clock_mono_s() - c->t0,
		final ? "\n" : "");
	fflush(stderr);
}

static bool is_local_dir(const char *uri)
{
	struct store_uri u;
	struct iot_error e = IOT_ERROR_INIT;
	struct stat st;
	bool dir = false;
	if (store_uri_parse(uri, &u, &e) != IOT_OK)
		return false;
	dir = u.scheme == STORE_SCHEME_LOCAL && stat(u.key, &st) == 0 && S_ISDIR(st.st_mode);
	store_uri_release(&u);
	return dir;
}

/* A folder (ends with '/' or is a local directory) gets a file name:
 * percentile.csv, or percentile-<i>-of-<n>.csv for a shard. */
static char *output_uri(const char *out, bool sharded, uint64_t si, uint64_t sn)
{
	size_t len = strlen(out);
	bool folder = (len && out[len - 1] == '/') || is_local_dir(out);
	const char *sep = len && out[len - 1] == '/' ? "" : "/";

	if (!folder)
		return xstrdup(out);
	if (sharded)
		return xasprintf("%s%spercentile-%" PRIu64 "-of-%" PRIu64 ".csv", out, sep, si, sn);
	return xasprintf("%s%spercentile.csv", out, sep);
}

static void csv_row(struct buf *b, const char *id, int64_t day, const double *v, size_t np,
		    bool as_float)
{
	csv_field(b, id);
	buf_putc(b, ',');
	csv_date(b, day);
	for (size_t i = 0; i < np; i++) {
		buf_putc(b, ',');
		csv_number(b, v[i], as_float);
	}
	buf_putc(b, '\n');
}

/* A group of a by-date dataset, for sorting by (device_id, date). */
struct out_row {
	const char *id; /* NULL: the null device, first */
	int64_t day;
	const double *val;
	bool as_float;
};

static int cmp_out_row(const void *pa, const void *pb)
{
	const struct out_row *a = pa, *b = pb;
	int c;
	if (!a->id || !b->id)
		c = (a->id != NULL) - (b->id != NULL);
	else
		c = strcmp(a->id, b->id);
	if (c)
		return c;
	return (a->day > b->day) - (a->day < b->day);
}

/* By date, the groups of one device are spread over the date units:
 * gathered and sorted. A device-day lies in one date directory, so no two
 * rows have the same key. */
static void write_csv_by_date(struct buf *b, const struct run_ctx *c, size_t np)
{
	size_t n = 0, k = 0;
	struct out_row *rows;

	for (size_t d = 0; d < c->ds->ndevices; d++)
		n += c->results[d].ngroups;
	rows = xmalloc(st_mult(n ? n : 1, sizeof(*rows)));
	for (size_t d = 0; d < c->ds->ndevices; d++) {
		const struct device_result *r = &c->results[d];
		for (size_t g = 0; g < r->ngroups; g++)
			rows[k++] = (struct out_row){
				r->dev[g] < r->ndevs ? r->devs[r->dev[g]] : NULL, r->day[g],
				r->val + g * np, r->as_float && c->job.method == STATS_NEAREST };
	}
	qsort(rows, n, sizeof(*rows), cmp_out_row);
	for (size_t i = 0; i < n; i++)
		csv_row(b, rows[i].id, rows[i].day, rows[i].val, np, rows[i].as_float);
	free(rows);
}

static void write_csv(struct buf *b, const struct run_ctx *c, const double *p, size_t np)
{
	buf_puts(b, "device_id,date");
	for (size_t i = 0; i < np; i++) {
		char name[96];
		csv_percentile_name(p[i], name, sizeof(name));
		buf_printf(b, ",%s", name);
	}
	buf_putc(b, '\n');
	if (c->ds->by_date) {
		write_csv_by_date(b, c, np);
		return;
	}
	for (size_t d = 0; d < c->ds->ndevices; d++) {
		const struct device_result *r = &c->results[d];
		bool as_float = r->as_float && c->job.method == STATS_NEAREST;
		for (size_t g = 0; g < r->ngroups; g++)
			csv_row(b, c->ds->devices[d].id, r->day[g], r->val + g * np, np, as_float);
	}
}

enum iot_err percentile_run(const struct percentile_options *o, struct iot_error *err)
{
	struct dataset ds;
	struct run_ctx c;
	struct store_prefetch *pf = NULL;
	const char **pf_uris = NULL;
	uint64_t *pf_sizes = NULL;
	struct store *st = NULL;
	struct buf csv = BUF_INIT;
	char *out_uri = NULL;
	uint64_t groups = 0, rows = 0, skipped = 0;
	size_t nthreads = 0, listed = 0; /* devices or dates, before parts */
	enum iot_err rc = IOT_OK;
	const char *input = o->input;
	const double *p = o->p;
	size_t np = o->np;
	char shard[64] = "";

	IOT_ASSERT(o->np >= 1 && o->np <= PERCENTILE_MAX);
	memset(&ds, 0, sizeof(ds));
	memset(&c, 0, sizeof(c));
	if (o->sharded)
		snprintf(shard, sizeof(shard), ", shard %" PRIu64 "/%" PRIu64, o->shard_i,
			 o->shard_n);
	c.t0 = clock_mono_s();
	st = store_create();
	if ((rc = dataset_scan(st, input, &ds, err)))
		goto out;
	if (ds.nfiles == 0) {
		rc = iot_error_set(err, IOT_ERR_NOT_FOUND,
				   "no Parquet files under %s (expected device_id=<id>/<file>.parquet"
				   " or date=<yyyy-MM-dd>/<file>.parquet)",
				   input);
		goto out;
	}
	if (o->sharded)
		dataset_keep_shard(&ds, o->shard_i, o->shard_n);
	out_uri = output_uri(o->output, o->sharded, o->shard_i, o->shard_n);
	nthreads = o->threads > 0 ? o->threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads < 1)
		nthreads = 1;
	listed = ds.ndevices;
	{
		size_t files = ds.nfiles;
		double mb = (double)ds.bytes / 1e6;
		char parts[48] = "";
		if (ds.by_date && (rc = split_dates(&ds, nthreads, err)))
			goto out;
		if (ds.ndevices != listed)
			snprintf(parts, sizeof(parts), " (read in %zu parts)", ds.ndevices);
		if (nthreads > ds.ndevices)
			nthreads = ds.ndevices ? ds.ndevices : 1;
		log_info("percentile", "%zu %s%s, %zu files, %.1f MB under %s; %zu threads%s",
			 listed, ds.by_date ? "dates" : "devices", parts, files, mb, input,
			 nthreads, shard);
	}

	c.ds = &ds;
	c.job.p = p;
	c.job.np = np;
	c.job.method = o->method;
	c.job.threshold = o->threshold;
	c.job.rows_read = &c.rows_read;
	c.job.by_date = ds.by_date;
	if (ds.by_date && o->sharded) {
		c.job.shard_i = o->shard_i;
		c.job.shard_n = o->shard_n;
	}
	c.progress = o->progress;
	c.units = !ds.by_date ? "devices" : ds.ndevices > listed ? "date parts" : "dates";
	c.results = xcalloc(ds.ndevices ? ds.ndevices : 1, sizeof(*c.results));
	c.stores = xcalloc(nthreads, sizeof(*c.stores));
	c.workers = xcalloc(nthreads, sizeof(*c.workers));
	for (size_t i = 0; i < nthreads; i++) {
		c.stores[i] = store_create();
		c.workers[i] = device_worker_create(c.stores[i]);
	}
	if (!strncmp(input, "s3", 2)) {
		struct store_prefetch_spec ps = { NULL, NULL, ds.nfiles,
						  store_concurrency(st, input), PREFETCH_BUDGET };
		dataset_files(&ds, &pf_uris, &pf_sizes);
		ps.uris = pf_uris;
		ps.sizes = pf_sizes;
		pf = store_prefetch_create(&ps);
		for (size_t i = 0; i < ds.nfiles; i++)
			if (pf_sizes[i] > PREFETCH_FILE_MAX)
				store_prefetch_drop(pf, i, 1);
		for (size_t i = 0; i < nthreads; i++)
			device_worker_set_prefetch(c.workers[i], pf, PREFETCH_FILE_MAX);
	}
	{
		struct pool_spec ps = { nthreads, ds.ndevices, run_device, &c, tick, 200, NULL };
		if ((rc = pool_run(&ps, err)))
			goto out;
	}
	for (size_t d = 0; d < ds.ndevices; d++) {
		groups += c.results[d].ngroups;
		rows += c.results[d].rows;
		skipped += c.results[d].skipped;
	}
	if (skipped)
		log_warn("percentile", "%" PRIu64 " rows had no event_time or a null, NaN or "
			 "infinite event_duration and were skipped", skipped);
	write_csv(&csv, &c, p, np);
	if ((rc = store_put(st, out_uri, csv.data, csv.len, 0, err)))
		goto out;
	log_info("percentile", "%" PRIu64 " rows, %" PRIu64 " device-days kept; wrote %s in %.2f s",
		 rows, groups, out_uri, clock_mono_s() - c.t0);
out:
	store_prefetch_destroy(pf);
	free(pf_uris);
	free(pf_sizes);
	if (c.results)
		for (size_t d = 0; d < ds.ndevices; d++)
			device_result_release(&c.results[d]);
	free(c.results);
	if (c.workers)
		for (size_t i = 0; i < nthreads; i++) {
			device_worker_destroy(c.workers[i]);
			store_destroy(c.stores[i]);
		}
	free(c.workers);
	free(c.stores);
	dataset_release(&ds);
	store_destroy(st);
	buf_release(&csv);
	free(out_uri);
	return rc;
}
