/*
 * validate.c - `iotpipe validate`: checks the aggregate dataset
 * (docs/design.md §5 and §6; the reference's schema_validator.py) and
 * prints a sample of its rows.
 *
 * Every Parquet file under --input (hidden paths skipped, as in the
 * percentile job) is opened and its footer checked: device_id and
 * window_start come from the Hive path (`device_id=<id>/window_start=
 * <yyyy-MM-dd HH_mm>/`) or, for other partitionings, from a column of that
 * name; avg_temperature and avg_event_duration must be DOUBLE, num_events
 * INT64, window_start_time and window_end_time TIMESTAMP (or Spark's
 * INT96). Problems are collected per file and printed together, so one run
 * shows everything that is wrong; the exit status is 1 when there is any,
 * or when there is no file at all. Only footers and the sample's first row
 * group are read, one file at a time, on the main thread.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hive.h"
#include "parquet/pq_store.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "parquet/pq.h"
#include "store/store.h"

#include "core/banned.h"

#define SAMPLE_ROWS 10
#define MAX_REPORTED 20

enum want { W_DOUBLE, W_INT64, W_TIMESTAMP };

static const struct {
	const char *name;
	enum want want;
} expected[] = {
	{ "avg_temperature", W_DOUBLE },
	{ "avg_event_duration", W_DOUBLE },
	{ "num_events", W_INT64 },
	{ "window_start_time", W_TIMESTAMP },
	{ "window_end_time", W_TIMESTAMP },
};
#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

static const char *want_name(enum want w)
{
	return w == W_DOUBLE ? "DOUBLE" : w == W_INT64 ? "INT64" : "TIMESTAMP";
}

static bool type_ok(const struct pq_column *c, enum want w)
{
	switch (w) {
	case W_DOUBLE:
		return c->type == PQ_DOUBLE;
	case W_INT64:
		return c->type == PQ_INT64 && (c->logical == PQ_LOGICAL_NONE ||
					       (c->logical == PQ_LOGICAL_INT && c->int_bits == 64));
	default:
		return c->type == PQ_INT96 ||
		       (c->type == PQ_INT64 && c->logical == PQ_LOGICAL_TIMESTAMP);
	}
}

/* "2025-01-01 10_00" (Spark escapes ':' in partition values). */
static bool window_start_ok(const char *s)
{
	static const char pat[] = "dddd-dd-dd dd_dd";
	if (strlen(s) != sizeof(pat) - 1)
		return false;
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	return true;
}

struct sample {
	size_t n;
	char *cell[SAMPLE_ROWS][2 + NEXPECTED];
};

struct scan {
	const char *root_key;
	size_t root_len;
	char **uris;
	char **rels;
	size_t n, alloc;
};

static int on_entry(void *opaque, const struct store_entry *e)
{
	struct scan *s = opaque;
	const char *rel = e->key;
	size_t len = strlen(rel);
	if (!strncmp(rel, s->root_key, s->root_len))
		rel += s->root_len;
	while (*rel == '/')
		rel++;
	if (hive_hidden(rel) || len < 8 || strcmp(e->key + len - 8, ".parquet"))
		return 0;
	ALLOC_GROW(s->uris, s->n + 1, s->alloc);
	s->rels = xrealloc(s->rels, st_mult(s->alloc, sizeof(*s->rels)));
	s->uris[s->n] = xstrdup(e->uri);
	s->rels[s->n] = xstrdup(rel);
	s->n++;
	return 0;
}

static char *format_value(const struct pq_column *c, const struct pq_batch *b, size_t i)
{
	char tmp[64];
	if (!b->valid[i])
		return xstrdup("null");
	switch (c->type) {
	case PQ_DOUBLE:
		pq_format_double(b->f64[i], tmp, sizeof(tmp));
		break;
	case PQ_FLOAT:
		pq_format_float(b->f32[i], tmp, sizeof(tmp));
		break;
	case PQ_INT64:
		if (c->logical == PQ_LOGICAL_TIMESTAMP)
			pq_format_micros(pq_timestamp_to_micros(b->i64[i], c->unit), tmp, sizeof(tmp));
		else
			snprintf(tmp, sizeof(tmp), "%" PRId64, b->i64[i]);
		break;
	case PQ_INT32:
		snprintf(tmp, sizeof(tmp), "%" PRId32, b->i32[i]);
		break;
	case PQ_INT96:
		pq_format_micros(pq_int96_to_micros(b->int96 + 12 * i), tmp, sizeof(tmp));
		break;
	case PQ_BYTE_ARRAY:
		return xstrndup((const char *)b->bytes[i].ptr, b->bytes[i].len);
	default:
		snprintf(tmp, sizeof(tmp), "?");
	}
	return xstrdup(tmp);
}

/* Adds up to SAMPLE_ROWS - s->n rows of the file's first row group. */
static void take_sample(struct pq_reader *r, const char *dev, const char *ws,
			const long *idx, struct sample *s)
{
	size_t base = s->n, take;
	int64_t nrows;
	if (!pq_reader_num_row_groups(r))
		return;
	nrows = pq_reader_row_group(r, 0)->num_rows;
	take = SAMPLE_ROWS - base;
	if ((int64_t)take > nrows)
		take = (size_t)(nrows > 0 ? nrows : 0);
	for (size_t k = 0; k < NEXPECTED; k++) {
		struct pq_column_reader *cr = NULL;
		struct pq_batch b;
		struct iot_error err = IOT_ERROR_INIT;
		size_t got = 0;
		if (pq_column_reader_create(&cr, r, 0, (size_t)idx[k], &err) == IOT_OK) {
			while (got < take && pq_column_reader_next(cr, &b, take - got, &err) == IOT_OK &&
			       b.n > 0) {
				for (size_t i = 0; i < b.n; i++)
					s->cell[base + got + i][2 + k] =
						format_value(pq_reader_column(r, (size_t)idx[k]), &b, i);
				got += b.n;
			}
		}
		pq_column_reader_destroy(cr);
		for (; got < take; got++)
			s->cell[base + got][2 + k] = xstrdup("?");
	}
	for (size_t i = 0; i < take; i++) {
		s->cell[base + i][0] = xstrdup(dev ? dev : "null");
		s->cell[base + i][1] = xstrdup(ws ? ws : "null");
	}
	s->n += take;
}

static void print_sample(const struct sample *s)
{
	static const char *head[2 + NEXPECTED] = {
		"device_id", "window_start", "avg_temperature", "avg_event_duration",
		"num_events", "window_start_time", "window_end_time",
	};
	size_t w[2 + NEXPECTED];
	for (size_t k = 0; k < 2 + NEXPECTED; k++) {
		w[k] = strlen(head[k]);
		for (size_t i = 0; i < s->n; i++)
			if (strlen(s->cell[i][k]) > w[k])
				w[k] = strlen(s->cell[i][k]);
	}
	for (size_t k = 0; k < 2 + NEXPECTED; k++)
		printf("%s%-*s", k ? " | " : "", (int)w[k], head[k]);
	printf("\n");
	for (size_t k = 0; k < 2 + NEXPECTED; k++) {
		printf("%s", k ? "-+-" : "");
		for (size_t j = 0; j < w[k]; j++)
			putchar('-');
	}
	printf("\n");
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < 2 + NEXPECTED; k++)
			printf("%s%-*s", k ? " | " : "", (int)w[k], s->cell[i][k]);
		printf("\n");
	}
}

/* Checks one file; appends "; "-separated problems to p. */
static void check_file(struct store *st, const char *uri, const char *rel, struct buf *p,
		       struct sample *s, uint64_t *rows)
{
	struct pq_reader *r = NULL;
	struct iot_error err = IOT_ERROR_INIT;
	char *dev = NULL, *ws = NULL;
	bool has_dev = hive_value(rel, "device_id", &dev);
	bool has_ws = hive_value(rel, "window_start", &ws);
	long idx[NEXPECTED];
	bool all = true;

	if (pq_store_reader_open(st, uri, &r, &err) != IOT_OK) {
		buf_printf(p, "%scannot read it: %s", p->len ? "; " : "", err.msg);
		goto out;
	}
	if (!has_dev && pq_reader_find_column(r, "device_id") < 0)
		buf_printf(p, "%sdevice_id: no device_id=<id> directory in the path and no such column",
			   p->len ? "; " : "");
	if (!has_ws && pq_reader_find_column(r, "window_start") < 0)
		buf_printf(p, "%swindow_start: no window_start=<yyyy-MM-dd HH_mm> directory in the path and no such column",
			   p->len ? "; " : "");
	if (has_ws && ws && !window_start_ok(ws))
		buf_printf(p, "%swindow_start=%s: expected yyyy-MM-dd HH_mm", p->len ? "; " : "", ws);
	for (size_t k = 0; k < NEXPECTED; k++) {
		idx[k] = pq_reader_find_column(r, expected[k].name);
		if (idx[k] < 0) {
			buf_printf(p, "%s%s: missing (want %s)", p->len ? "; " : "", expected[k].name,
				   want_name(expected[k].want));
			all = false;
		} else if (!type_ok(pq_reader_column(r, (size_t)idx[k]), expected[k].want)) {
			const struct pq_column *c = pq_reader_column(r, (size_t)idx[k]);
			char lg[64];
			pq_logical_describe(c, lg, sizeof(lg));
			buf_printf(p, "%s%s: is %s%s%s%s, want %s", p->len ? "; " : "",
				   expected[k].name, pq_type_name(c->type), lg[0] ? " (" : "", lg,
				   lg[0] ? ")" : "", want_name(expected[k].want));
			all = false;
		}
	}
	*rows += (uint64_t)pq_reader_num_rows(r);
	if (all && !p->len && s->n < SAMPLE_ROWS)
		take_sample(r, dev, ws, idx, s);
out:
	pq_reader_destroy(r);
	free(dev);
	free(ws);
}

int cmd_validate(int argc, char **argv, struct cmd_ctx *ctx)
{
	const struct iot_config *cfg = &ctx->cfg;
	struct iot_error err = IOT_ERROR_INIT;
	const char *input = NULL;
	struct store *st = NULL;
	struct store_uri u = { 0 };
	struct scan sc = { 0 };
	struct sample sample = { 0 };
	char *key = NULL;
	size_t bad = 0;
	uint64_t rows = 0;
	int status = EXIT_RUNTIME;
	struct opt opts[] = {
		OPT_GROUP("validate"),
		OPT_SETTING(0, "input", "streaming.s3.STREAMING_AGGREGATED_S3_OUTPUT_PATH", "URI",
			    "aggregate dataset"),
		OPT_END(),
	};
	static const struct opt_usage usage = {
		"iotpipe validate [options]",
		"Checks the aggregate dataset's columns and types, prints a sample of rows, and "
		"exits 1 listing what is missing or mistyped.",
	};

	status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	input = cfg->streaming.aggregated_output; /* --input went there */
	if (!input || !input[0] || store_uri_parse(input, &u, &err)) {
		if (!err.msg[0])
			iot_error_set(&err, IOT_ERR_CONFIG,
				      "no input: give --input or set STREAMING_AGGREGATED_S3_OUTPUT_PATH");
		status = common_usage_error("validate", &err);
		goto out;
	}
	key = u.key[0] && u.key[strlen(u.key) - 1] != '/' ? xasprintf("%s/", u.key) : xstrdup(u.key);
	sc.root_key = key;
	sc.root_len = strlen(key);
	st = store_create();
	{
		char *list_uri = u.scheme == STORE_SCHEME_S3 ? xasprintf("s3://%s/%s", u.bucket, key)
							     : xstrdup(u.key);
		enum iot_err rc = store_list(st, list_uri, on_entry, &sc, &err);
		free(list_uri);
		if (rc) {
			fprintf(stderr, "iotpipe validate: %s\n", err.msg);
			goto out;
		}
	}
	if (sc.n == 0) {
		fprintf(stderr, "iotpipe validate: no Parquet files under %s: nothing to validate\n",
			input);
		goto out;
	}
	for (size_t i = 0; i < sc.n; i++) {
		struct buf problems = BUF_INIT;
		check_file(st, sc.uris[i], sc.rels[i], &problems, &sample, &rows);
		if (problems.len) {
			if (bad < MAX_REPORTED)
				fprintf(stderr, "iotpipe validate: %s: %s\n", sc.uris[i],
					buf_str(&problems));
			bad++;
		}
		buf_release(&problems);
	}
	if (bad) {
		if (bad > MAX_REPORTED)
			fprintf(stderr, "iotpipe validate: ... and %zu more files with problems\n",
				bad - MAX_REPORTED);
		fprintf(stderr, "iotpipe validate: %zu of %zu files under %s do not match the "
			"aggregate schema (device_id, window_start from the path; avg_temperature DOUBLE, "
			"avg_event_duration DOUBLE, num_events INT64, window_start_time and "
			"window_end_time TIMESTAMP)\n", bad, sc.n, input);
	}
	if (sample.n)
		print_sample(&sample);
	if (!bad) {
		printf("schema valid: %zu files, %" PRIu64 " rows under %s\n", sc.n, rows, input);
		status = 0;
	}
out:
	for (size_t i = 0; i < sample.n; i++)
		for (size_t k = 0; k < 2 + NEXPECTED; k++)
			free(sample.cell[i][k]);
	for (size_t i = 0; i < sc.n; i++) {
		free(sc.uris[i]);
		free(sc.rels[i]);
	}
	free(sc.uris);
	free(sc.rels);
	free(key);
	store_uri_release(&u);
	store_destroy(st);
	return status;
}
