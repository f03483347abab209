/*
 * console_status.c - GET /api/status: the health of the process, its
 * last warning or error, and the live numbers of the producer and the
 * jobs, read from the registry at request time (so they agree with a
 * /metrics scrape made at the same moment) and from the history (rates,
 * and the look back that health needs).
 *
 * Health is one of, worst first:
 *   stopping  a stop signal arrived; the jobs are committing and exiting
 *   stalled   a job has records to read (lag > 0) and read none in the
 *             last STALL_S seconds
 *   degraded  S3 requests or deliveries failed, or an error was logged,
 *             in the last RECENT_S seconds (the job retries: data is late,
 *             not lost; see docs/exactly-once.md)
 *   ok
 * with the reasons as sentences. The page adds "unreachable" itself when
 * the process does not answer.
 *
 * HTTP thread. Every read is a copy under a short lock (registry,
 * history, log), never a worker's lock.
 */
#include "metrics/console_int.h"
#include "core/log.h"
#include "core/signals.h"
#include "metrics/batchlog.h"
#include "metrics/jsonw.h"
#include "metrics/metrics.h"
#include "version.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/banned.h"

/* A job that read nothing for 30 s while records wait is stalled: three
 * times `run`'s trigger, and long enough that one slow commit (an S3
 * retry with backoff) does not flap the state. */
#define STALL_S 30
/* Errors within the last minute degrade the health: a minute is long
 * enough to be seen on a page polled every 2 s, short enough that the
 * state recovers soon after the cause went away. */
#define RECENT_S 60

static double now_s(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The newest value of a series, NaN when none. */
static double latest(struct history *h, const char *name)
{
	double v = NAN;
	return h && history_tail(h, name, &v, 1) ? v : NAN;
}

/* Sum over the last n samples (NaN ignored); *samples: how many there
 * were with a value. */
static double recent_sum(struct history *h, const char *name, size_t n, size_t *samples)
{
	double v[RECENT_S > STALL_S ? RECENT_S : STALL_S], sum = 0;
	size_t k = h ? history_tail(h, name, v, n) : 0;

	*samples = 0;
	for (size_t i = 0; i < k; i++)
		if (!isnan(v[i])) {
			sum += v[i];
			++*samples;
		}
	return sum;
}

struct lag_ctx {
	struct buf *out;
	const char *job;
	double total;
	int n;
};

static void visit_lag(void *opaque, const struct metric_view *v)
{
	struct lag_ctx *c = opaque;
	char job[32], part[16];

	if (!console_label(v->labels, "job", job, sizeof(job)) || strcmp(job, c->job) ||
	    !console_label(v->labels, "partition", part, sizeof(part)))
		return;
	if (c->n++)
		buf_putc(c->out, ',');
	buf_puts(c->out, "{\"partition\":");
	jsonw_num(c->out, strtod(part, NULL));
	buf_puts(c->out, ",\"records\":");
	jsonw_num(c->out, v->value);
	buf_putc(c->out, '}');
	c->total += v->value;
}

static void num_field(struct buf *out, const char *key, double v)
{
	buf_putc(out, ',');
	jsonw_key(out, key);
	jsonw_num(out, v);
}

/* One job's object; false (nothing written) when the process does not
 * run it. *lag: its total lag. */
static bool render_job(struct buf *out, struct history *h, int k, double now, double *lag)
{
	const char *job = console_job_names[k];
	char match[48], name[HISTORY_NAME_MAX];
	size_t found = 0;
	struct lag_ctx lc = { out, job, 0, 0 };
	static const struct {
		const char *key, *family;
	} totals[] = {
		{ "consumed_total", "iotpipe_events_consumed_total" },
		{ "valid_total", "iotpipe_events_valid_total" },
		{ "invalid_total", "iotpipe_events_invalid_total" },
		{ "filtered_total", "iotpipe_events_filtered_total" },
		{ "late_total", "iotpipe_events_late_total" },
		{ "dead_lettered_total", "iotpipe_dead_letter_total" },
		{ "rows_written_total", "iotpipe_rows_written_total" },
		{ "files_total", "iotpipe_files_written_total" },
		{ "bytes_total", "iotpipe_bytes_written_total" },
		{ "batches_total", "iotpipe_batches_total" },
		{ "replayed_total", "iotpipe_batches_replayed_total" },
		{ "windows_total", "iotpipe_windows_emitted_total" },
		{ "open_windows", "iotpipe_open_windows" },
	};

	snprintf(match, sizeof(match), "job=\"%s\"", job);
	metrics_sum("iotpipe_events_consumed_total", match, &found);
	if (!found)
		return false;
	buf_puts(out, "{\"name\":");
	jsonw_str(out, job);
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		num_field(out, totals[i].key, metrics_sum(totals[i].family, match, NULL));
	snprintf(name, sizeof(name), "%s.consumed_per_s", job);
	num_field(out, "consumed_per_s", latest(h, name));
	snprintf(name, sizeof(name), "%s.written_per_s", job);
	num_field(out, "written_per_s", latest(h, name));
	snprintf(name, sizeof(name), "%s.batch_seconds", job);
	num_field(out, "batch_seconds", latest(h, name));
	snprintf(name, sizeof(name), "%s.latency_p95_s", job);
	num_field(out, "latency_p95_s", latest(h, name));
	if (k == 1) {
		double wm = metrics_sum("iotpipe_watermark_seconds", match, NULL);
		num_field(out, "watermark", wm > 0 ? wm : NAN);
		num_field(out, "watermark_delay_s", wm > 0 ? now - wm : NAN);
	}
	buf_puts(out, ",\"lag\":[");
	metrics_visit("iotpipe_consumer_lag_records", visit_lag, &lc);
	buf_putc(out, ']');
	num_field(out, "lag_total", lc.total);
	buf_putc(out, '}');
	*lag = lc.total;
	return true;
}

/* Appends a reason (a JSON string) to the list being built in r. */
static void reason(struct buf *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct buf *r, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (r->len)
		buf_putc(r, ',');
	jsonw_str(r, text);
}

void console_render_status(struct buf *out)
{
	console_status_render(console_history(), out);
}

void console_status_render(struct history *h, struct buf *out)
{
	struct buf jobs = BUF_INIT, reasons = BUF_INIT;
	struct log_problem p;
	double now = now_s(), lag[CONSOLE_JOBS] = { 0, 0 };
	bool has_job[CONSOLE_JOBS] = { false, false };
	const char *state = "ok";
	size_t found = 0, n = 0, samples;
	double errs;

	for (int k = 0; k < CONSOLE_JOBS; k++) {
		size_t before = jobs.len;
		if (jobs.len)
			buf_putc(&jobs, ',');
		has_job[k] = render_job(&jobs, h, k, now, &lag[k]);
		if (!has_job[k])
			jobs.len = before;
	}

	/* health, the worst state found wins */
	errs = recent_sum(h, "s3.errors_per_s", RECENT_S, &samples);
	if (errs > 0) {
		state = "degraded";
		reason(&reasons, "S3 requests failed in the last minute (%.0f); the jobs retry", errs);
	}
	errs = recent_sum(h, "produce.errors_per_s", RECENT_S, &samples);
	if (errs > 0) {
		state = "degraded";
		reason(&reasons, "deliveries to Kafka failed in the last minute (%.0f)", errs);
	}
	if (log_last_problem(&p) && p.level == LOG_ERROR && now - p.time < RECENT_S) {
		state = "degraded";
		reason(&reasons, "an error was logged %.0f s ago", now - p.time);
	}
	for (int k = 0; k < CONSOLE_JOBS; k++) {
		char name[HISTORY_NAME_MAX];
		double read;
		if (!has_job[k])
			continue;
		snprintf(name, sizeof(name), "%s.consumed_per_s", console_job_names[k]);
		read = recent_sum(h, name, STALL_S, &samples);
		if (samples >= STALL_S && read == 0 && lag[k] > 0) {
			state = "stalled";
			reason(&reasons, "%s read nothing in %d s with %.0f records waiting",
			       console_job_names[k], STALL_S, lag[k]);
		}
	}
	if (signals_stop_requested()) {
		state = "stopping";
		reason(&reasons, "stopping: the jobs commit what they read, then exit");
	}

	buf_puts(out, "{\"command\":");
	jsonw_str(out, console_command());
	buf_printf(out, ",\"version\":\"%s\",\"pid\":%ld", IOTPIPE_VERSION, (long)getpid());
	num_field(out, "now", now);
	num_field(out, "start_time", metrics_sum("process_start_time_seconds", NULL, NULL));
	buf_puts(out, ",\"health\":{\"state\":");
	jsonw_str(out, state);
	buf_puts(out, ",\"reasons\":[");
	buf_append(out, reasons.data, reasons.len);
	buf_puts(out, "]},\"last_error\":");
	if (log_last_problem(&p)) {
		buf_puts(out, "{\"time\":");
		jsonw_num(out, p.time);
		buf_puts(out, ",\"level\":");
		jsonw_str(out, p.level == LOG_ERROR ? "error" : "warn");
		buf_puts(out, ",\"component\":");
		jsonw_str(out, p.component);
		buf_puts(out, ",\"message\":");
		jsonw_str(out, p.text);
		buf_putc(out, '}');
	} else {
		buf_puts(out, "null");
	}
	buf_puts(out, ",\"pipeline\":");
	console_render_notes(out);
	buf_puts(out, ",\"producer\":");
	metrics_sum("iotpipe_events_produced_total", NULL, &found);
	if (found) {
		buf_puts(out, "{\"produced_total\":");
		jsonw_num(out, metrics_sum("iotpipe_events_produced_total", NULL, NULL));
		num_field(out, "sent_total", metrics_sum("iotpipe_events_sent_total", NULL, NULL));
		num_field(out, "delivery_errors_total",
			  metrics_sum("iotpipe_delivery_errors_total", NULL, NULL));
		num_field(out, "produced_per_s", latest(h, "produce.produced_per_s"));
		buf_putc(out, '}');
	} else {
		buf_puts(out, "null");
	}
	buf_puts(out, ",\"jobs\":[");
	buf_append(out, jobs.data, jobs.len);
	buf_puts(out, "],\"process\":{\"rss_bytes\":");
	jsonw_num(out, metrics_sum("process_resident_memory_bytes", NULL, NULL));
	num_field(out, "cpu_seconds_total", metrics_sum("process_cpu_seconds_total", NULL, NULL));
	num_field(out, "cpu_percent", latest(h, "process.cpu_percent"));
	num_field(out, "open_fds", metrics_sum("process_open_fds", NULL, NULL));
	buf_puts(out, "},\"s3\":{\"requests_total\":");
	jsonw_num(out, metrics_sum("iotpipe_s3_requests_total", NULL, NULL));
	num_field(out, "errors_total", metrics_sum("iotpipe_s3_errors_total", NULL, NULL));
	buf_puts(out, "},\"history\":{\"samples\":");
	n = h ? history_count(h) : 0;
	jsonw_num(out, (double)n);
	buf_printf(out, ",\"capacity\":%d,\"interval_s\":%g", CONSOLE_SAMPLES, CONSOLE_SAMPLE_S);
	num_field(out, "memory_bytes", h ? (double)history_memory_bytes(h) : 0);
	num_field(out, "bound_bytes", h ? (double)history_bound_bytes(h) : 0);
	buf_puts(out, "},\"batches_total\":");
	jsonw_num(out, (double)batchlog_total());
	buf_putc(out, '}');
	buf_release(&jobs);
	buf_release(&reasons);
}
