/*
 * percentile.c - `iotpipe percentile`: per device and UTC date, the p95 of
 * event_duration after removing 3-sigma outliers, as CSV (docs/design.md §6;
 * the reference's percentile_processor.py; semantics in docs/percentile.md).
 *
 * Flow: list the raw dataset and group its files by device (batch/dataset),
 * optionally keep one shard of the devices, then a pool of worker threads
 * (batch/pool) takes devices one at a time and computes each device's
 * groups (batch/device) into a per-device result slot. The main thread
 * draws the progress bar on a terminal while it waits, then writes the
 * CSV in device order (devices are sorted by id, groups by date) in one
 * atomic put: a local temporary file renamed into place, or one S3 object.
 * Memory is one device partition per thread plus the (small) results.
 *
 * On S3 the files are fetched ahead of the workers (store/prefetch.h):
 * each file up to PREFETCH_FILE_MAX in one GET, up to
 * IOTPIPE_S3_MAX_INFLIGHT of them in flight whatever --threads is, and
 * at most PREFETCH_BUDGET bytes fetched and not yet read. Larger files are
 * read by their worker with ranged GETs (footer, then the column chunks).
 */
#include "core/clock.h"
#include "cmd/cmd.h"
#include "cmd/common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/csv.h"
#include "batch/dataset.h"
#include "batch/device.h"
#include "core/pool.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "store/prefetch.h"
#include "store/store.h"

#include "core/banned.h"

#define MAX_PERCENTILES 32

/* A file up to this size is fetched whole: one request instead of a HEAD
 * and three or more ranged GETs, and the footer plus the three columns
 * read are most of a small file anyway. */
#define PREFETCH_FILE_MAX ((uint64_t)16 << 20)
/* Bytes fetched ahead and not yet read: 64 in flight of the reference
 * layout's few-KB files need far less; large files go one at a time. */
#define PREFETCH_BUDGET ((size_t)64 << 20)

struct run_ctx {
	struct dataset *ds;
	struct device_job job;
	struct store **stores;         /* one per worker */
	struct device_worker **workers; /* one per worker */
	struct device_result *results; /* one per device */
	_Atomic uint64_t rows_read;
	atomic_size_t devices_done;
	bool progress;
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
	fprintf(stderr, "\r[%s] %zu/%zu devices, %.1fM rows, %.1f s%s", bar, done, total,
		rows / 1e6, clock_mono_s() - c->t0, final ? "\n" : "");
	fflush(stderr);
}

/* Parses "0.5,0.95,0.99": each in [0, 1], no duplicates. */
static bool parse_percentiles(const char *s, double *p, size_t *np, struct iot_error *err)
{
	const char *q = s;
	*np = 0;
	for (;;) {
		char *end;
		double v;
		errno = 0;
		v = strtod(q, &end);
		if (end == q || errno || !(v >= 0 && v <= 1) || (*end && *end != ',')) {
			iot_error_set(err, IOT_ERR_USAGE,
				      "--percentiles '%s': expected a comma-separated list of numbers in [0, 1], e.g. 0.5,0.95,0.99",
				      s);
			return false;
		}
		for (size_t i = 0; i < *np; i++)
			if (p[i] == v) {
				iot_error_set(err, IOT_ERR_USAGE, "--percentiles '%s': %g is listed twice", s, v);
				return false;
			}
		if (*np == MAX_PERCENTILES) {
			iot_error_set(err, IOT_ERR_USAGE, "--percentiles: at most %d values",
				      MAX_PERCENTILES);
			return false;
		}
		p[(*np)++] = v;
		if (!*end)
			return true;
		q = end + 1;
	}
}

static bool parse_shard(const char *s, uint64_t *i, uint64_t *n)
{
	char *end;
	unsigned long long a, b;
	if (!s[0] || s[0] == '-')
		return false;
	errno = 0;
	a = strtoull(s, &end, 10);
	if (errno || *end != '/' || end[1] == '-')
		return false;
	b = strtoull(end + 1, &end, 10);
	if (errno || *end || b == 0 || a >= b)
		return false;
	*i = a;
	*n = b;
	return true;
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

static void write_csv(struct buf *b, const struct run_ctx *c, const double *p, size_t np)
{
	buf_puts(b, "device_id,date");
	for (size_t i = 0; i < np; i++) {
		char name[96];
		csv_percentile_name(p[i], name, sizeof(name));
		buf_printf(b, ",%s", name);
	}
	buf_putc(b, '\n');
	for (size_t d = 0; d < c->ds->ndevices; d++) {
		const struct device_result *r = &c->results[d];
		bool as_float = r->as_float && c->job.method == STATS_NEAREST;
		for (size_t g = 0; g < r->ngroups; g++) {
			csv_field(b, c->ds->devices[d].id);
			buf_putc(b, ',');
			csv_date(b, r->day[g]);
			for (size_t i = 0; i < np; i++) {
				buf_putc(b, ',');
				csv_number(b, r->val[g * np + i], as_float);
			}
			buf_putc(b, '\n');
		}
	}
}

int cmd_percentile(int argc, char **argv)
{
	struct common_opts co = COMMON_OPTS_INIT("off");
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct metrics_server *srv = NULL;
	const char *input = NULL, *output = NULL, *percentiles = "0.95", *method = "nearest";
	const char *shard = NULL;
	long threads = 0;
	double p[MAX_PERCENTILES];
	size_t np = 0, nthreads = 0;
	uint64_t shard_i = 0, shard_n = 1;
	struct dataset ds;
	struct run_ctx c;
	struct store_prefetch *pf = NULL;
	const char **pf_uris = NULL;
	uint64_t *pf_sizes = NULL;
	struct store *st = NULL;
	struct buf csv = BUF_INIT;
	char *out_uri = NULL;
	uint64_t groups = 0, rows = 0, skipped = 0;
	int status = EXIT_RUNTIME;
	struct opt opts[] = {
		OPT_COMMON(&co),
		OPT_GROUP("percentile"),
		OPT_STRING(0, "input", &input, "URI",
			   "raw dataset: device_id=<id>/*.parquet (default: streaming STREAMING_RAW_S3_OUTPUT_PATH)"),
		OPT_STRING(0, "output", &output, "URI",
			   "CSV to write; a folder (ending in '/') gets percentile.csv "
			   "(default: PERCENTILE_VALIDATION_CSV_OUTPUT_PATH)"),
		OPT_SETTING(0, "threshold", "streaming.s3.NUM_EVENT_THRESHOLD", "N",
			    "keep device-days with more than N distinct events"),
		OPT_STRING(0, "percentiles", &percentiles, "LIST",
			   "percentiles to compute, e.g. 0.5,0.95,0.99 (default 0.95)"),
		OPT_STRING(0, "method", &method, "nearest|linear",
			   "nearest rank (default) or linear interpolation (numpy's default)"),
		OPT_LONG(0, "threads", &threads, "N", "worker threads (default: all cores)",
			 RANGE(1, 1024)),
		OPT_STRING(0, "shard", &shard, "I/N",
			   "process only the devices whose FNV-1a hash mod N is I (0 <= I < N)"),
		OPT_END(),
	};
	static const struct opt_usage usage = {
		"iotpipe percentile [options]",
		"Per device and UTC date: the number of distinct events, then for days with more "
		"than the threshold, the percentiles of event_duration after dropping rows beyond "
		"3 standard deviations. Writes a CSV sorted by device_id and date.",
	};
	memset(&ds, 0, sizeof(ds));
	memset(&c, 0, sizeof(c));
	config_init(&cfg);
	status = common_start("percentile", argc, argv, opts, &usage, &co, &cfg, COMMON_STREAMING);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	if (!parse_percentiles(percentiles, p, &np, &err)) {
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (strcmp(method, "nearest") && strcmp(method, "linear")) {
		iot_error_set(&err, IOT_ERR_USAGE, "--method '%s': expected nearest or linear", method);
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (shard && !parse_shard(shard, &shard_i, &shard_n)) {
		iot_error_set(&err, IOT_ERR_USAGE, "--shard '%s': expected I/N with 0 <= I < N", shard);
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (!input)
		input = cfg.streaming.raw_output;
	if (!output)
		output = cfg.streaming.percentile_output;
	if (!input || !input[0] || !output || !output[0]) {
		iot_error_set(&err, IOT_ERR_CONFIG, "no %s location: give --%s or set %s",
			      !input || !input[0] ? "input" : "output",
			      !input || !input[0] ? "input" : "output",
			      !input || !input[0] ? "STREAMING_RAW_S3_OUTPUT_PATH"
						  : "PERCENTILE_VALIDATION_CSV_OUTPUT_PATH");
		status = common_usage_error("percentile", &err);
		goto out;
	}
	if (common_metrics_start(&co, &srv, &err)) {
		status = common_run_error("percentile", &err);
		goto out;
	}

	c.t0 = clock_mono_s();
	st = store_create();
	if (dataset_scan(st, input, &ds, &err)) {
		fprintf(stderr, "iotpipe percentile: %s\n", err.msg);
		goto out;
	}
	if (ds.nfiles == 0) {
		fprintf(stderr, "iotpipe percentile: no Parquet files under %s "
			"(expected device_id=<id>/<file>.parquet)\n", input);
		goto out;
	}
	if (shard)
		dataset_keep_shard(&ds, shard_i, shard_n);
	out_uri = output_uri(output, shard != NULL, shard_i, shard_n);
	nthreads = threads > 0 ? (size_t)threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > ds.ndevices)
		nthreads = ds.ndevices ? ds.ndevices : 1;
	log_info("percentile", "%zu devices, %zu files, %.1f MB under %s; %zu threads%s%s",
		 ds.ndevices, ds.nfiles, (double)ds.bytes / 1e6, input, nthreads,
		 shard ? ", shard " : "", shard ? shard : "");

	c.ds = &ds;
	c.job.p = p;
	c.job.np = np;
	c.job.method = !strcmp(method, "linear") ? STATS_LINEAR : STATS_NEAREST;
	c.job.threshold = cfg.streaming.num_event_threshold; /* --threshold went there */
	c.job.rows_read = &c.rows_read;
	c.progress = isatty(STDERR_FILENO) != 0;
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
		if (pool_run(&ps, &err)) {
			fprintf(stderr, "iotpipe percentile: %s\n", err.msg);
			goto out;
		}
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
	if (store_put(st, out_uri, csv.data, csv.len, 0, &err)) {
		fprintf(stderr, "iotpipe percentile: %s\n", err.msg);
		goto out;
	}
	log_info("percentile", "%" PRIu64 " rows, %" PRIu64 " device-days kept; wrote %s in %.2f s",
		 rows, groups, out_uri, clock_mono_s() - c.t0);
	status = 0;
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
	metrics_server_stop(srv);
	config_release(&cfg);
	common_release(&co);
	return status;
}
