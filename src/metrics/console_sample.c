/*
 * console_sample.c - the console's sampler: once a second it reads the
 * metrics registry and pushes one sample into the history (history.h).
 *
 * Runs on the sampler thread (console.c starts it); only that thread
 * touches the state below, so it needs no lock of its own. It reads the
 * registry with metrics_sum() and metrics_visit(), which take the
 * registry's lock for a walk of the list and nothing else: the jobs,
 * which update their series with atomics, never wait for it.
 *
 * Series names, as /api/history and docs/observability.md give them
 * (<job> is archive or aggregate; rates are per second over the last
 * sample interval):
 *
 *	produce.produced_per_s, produce.errors_per_s
 *	<job>.consumed_per_s, <job>.written_per_s (rows: events or windows),
 *	<job>.filtered_per_s, <job>.late_per_s, <job>.dead_lettered_per_s,
 *	<job>.invalid_per_s.<reason>   (from the first invalid event on)
 *	<job>.batch_seconds            mean duration of the batches committed
 *	                               in the interval, held until the next
 *	<job>.latency_p50|p95|p99_s    end-to-end latency quantiles of the
 *	                               interval's observations, held likewise
 *	<job>.lag.<partition>          records not yet read
 *	<job>.files_total, <job>.bytes_total   output so far
 *	aggregate.watermark_delay_s    wall clock minus the watermark
 *	s3.errors_per_s                failed S3 attempts
 *	process.rss_bytes, process.cpu_percent (100 = one core)
 *
 * "Held": a batch commits every trigger interval (10 s in `run`), so the
 * one-second intervals between commits have no observation; the chart
 * shows the last batch's value until the next one instead of a gap.
 */
#include "metrics/console_int.h"
#include "metrics/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/banned.h"

/* Room for the values of one sample (more than CONSOLE_SERIES_MAX: the
 * history drops and counts what it cannot hold). */
#define MAX_VALUES 160

struct value {
	char name[HISTORY_NAME_MAX];
	double v;
};

struct sample {
	struct value vals[MAX_VALUES];
	size_t n;
};

/* The previous cumulative value of a counter, by series name. */
struct prev {
	char name[HISTORY_NAME_MAX];
	double v;
};

struct hist {
	size_t nbounds;
	double bounds[METRICS_MAX_BUCKETS];
	uint64_t counts[METRICS_MAX_BUCKETS + 1];
	double sum;
	bool found;
};

static struct {
	struct prev prev[MAX_VALUES];
	size_t nprev;
	double prev_t; /* wall clock of the previous sample; 0: none */
	/* per job: batch duration, then latency; the previous cumulative
	 * histogram and the value held */
	struct hist last[CONSOLE_JOBS][2];
	double held[CONSOLE_JOBS][4]; /* batch seconds, p50, p95, p99 */
	bool init;
} st;

void console_sample_reset(void)
{
	memset(&st, 0, sizeof(st));
}

static void put(struct sample *s, double v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void put(struct sample *s, double v, const char *fmt, ...)
{
	va_list ap;

	if (s->n == MAX_VALUES)
		return;
	va_start(ap, fmt);
	vsnprintf(s->vals[s->n].name, HISTORY_NAME_MAX, fmt, ap);
	va_end(ap);
	s->vals[s->n++].v = v;
}

/* The per-second rate of counter `name` since the previous sample; NaN
 * at the first sample and after a reset. */
static double rate(const char *name, double cur, double dt)
{
	for (size_t i = 0; i < st.nprev; i++) {
		if (strcmp(st.prev[i].name, name))
			continue;
		double r = dt > 0 && cur >= st.prev[i].v ? (cur - st.prev[i].v) / dt : NAN;
		st.prev[i].v = cur;
		return r;
	}
	if (st.nprev < MAX_VALUES) {
		snprintf(st.prev[st.nprev].name, HISTORY_NAME_MAX, "%s", name);
		st.prev[st.nprev++].v = cur;
	}
	return NAN;
}

static void put_rate(struct sample *s, double cur, double dt, const char *name)
{
	put(s, rate(name, cur, dt), "%s", name);
}

bool console_label(const char *labels, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	const char *p = labels;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=' && p[kl + 1] == '"') {
			const char *v = p + kl + 2;
			size_t n = 0;
			while (*v && *v != '"' && n + 1 < cap) {
				if (*v == '\\' && v[1])
					v++;
				out[n++] = *v++;
			}
			out[n] = '\0';
			return true;
		}
		/* next label: after the closing quote of this one's value */
		p = strchr(p, '"');
		if (!p)
			break;
		p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		if (*p)
			p++;
		if (*p == ',')
			p++;
	}
	return false;
}

struct visit_ctx {
	struct sample *s;
	const char *job;
	double dt;
	const char *family; /* for names */
	struct hist *h;
};

static void visit_invalid(void *opaque, const struct metric_view *v)
{
	struct visit_ctx *c = opaque;
	char job[32], reason[40], name[HISTORY_NAME_MAX];

	if (!console_label(v->labels, "job", job, sizeof(job)) || strcmp(job, c->job) ||
	    !console_label(v->labels, "reason", reason, sizeof(reason)))
		return;
	snprintf(name, sizeof(name), "%s.invalid_per_s.%s", c->job, reason);
	/* a reason gets a series from its first event on: most never occur */
	if (v->value > 0)
		put_rate(c->s, v->value, c->dt, name);
}

static void visit_lag(void *opaque, const struct metric_view *v)
{
	struct visit_ctx *c = opaque;
	char job[32], part[16];

	if (!console_label(v->labels, "job", job, sizeof(job)) || strcmp(job, c->job) ||
	    !console_label(v->labels, "partition", part, sizeof(part)))
		return;
	put(c->s, v->value, "%s.lag.%s", c->job, part);
}

static void visit_hist(void *opaque, const struct metric_view *v)
{
	struct visit_ctx *c = opaque;
	char job[32];

	if (!console_label(v->labels, "job", job, sizeof(job)) || strcmp(job, c->job))
		return;
	c->h->found = true;
	c->h->nbounds = v->nbounds;
	memcpy(c->h->bounds, v->bounds, v->nbounds * sizeof(double));
	for (size_t i = 0; i <= v->nbounds; i++)
		c->h->counts[i] += v->buckets[i];
	c->h->sum += v->sum;
}

double console_quantile(double q, const double *bounds, size_t nbounds,
			const uint64_t *counts)
{
	uint64_t total = 0, cum = 0;
	double rank;

	for (size_t i = 0; i <= nbounds; i++)
		total += counts[i];
	if (!total)
		return NAN;
	rank = q * (double)total;
	for (size_t i = 0; i <= nbounds; i++) {
		uint64_t c = counts[i];
		if (c && (double)(cum + c) >= rank) {
			double lo = i ? bounds[i - 1] : 0, hi;
			if (i == nbounds) /* +Inf: the highest finite bound */
				return nbounds ? bounds[nbounds - 1] : NAN;
			hi = bounds[i];
			if (i == 0 && hi <= 0)
				return hi;
			return lo + (hi - lo) * ((rank - (double)cum) / (double)c);
		}
		cum += c;
	}
	return nbounds ? bounds[nbounds - 1] : NAN;
}

/* The histogram of `family` for job k: the held values are updated from
 * what was observed since the previous sample. */
static void sample_hist(struct sample *s, int k, int which, const char *family)
{
	struct hist cur;
	struct hist *last = &st.last[k][which];
	struct visit_ctx c = { s, console_job_names[k], 0, family, &cur };
	uint64_t d[METRICS_MAX_BUCKETS + 1], n = 0;

	memset(&cur, 0, sizeof(cur));
	metrics_visit(family, visit_hist, &c);
	if (!cur.found)
		return;
	for (size_t i = 0; i <= cur.nbounds; i++) {
		uint64_t before = last->found && last->nbounds == cur.nbounds ? last->counts[i] : 0;
		d[i] = cur.counts[i] >= before ? cur.counts[i] - before : 0;
		n += d[i];
	}
	if (n) {
		if (which == 0) {
			double before = last->found ? last->sum : 0;
			st.held[k][0] = (cur.sum - before) / (double)n;
		} else {
			st.held[k][1] = console_quantile(0.50, cur.bounds, cur.nbounds, d);
			st.held[k][2] = console_quantile(0.95, cur.bounds, cur.nbounds, d);
			st.held[k][3] = console_quantile(0.99, cur.bounds, cur.nbounds, d);
		}
	}
	*last = cur;
	if (which == 0) {
		put(s, st.held[k][0], "%s.batch_seconds", c.job);
	} else {
		put(s, st.held[k][1], "%s.latency_p50_s", c.job);
		put(s, st.held[k][2], "%s.latency_p95_s", c.job);
		put(s, st.held[k][3], "%s.latency_p99_s", c.job);
	}
}

static void sample_job(struct sample *s, int k, double dt, double now)
{
	const char *job = console_job_names[k];
	char match[48], name[HISTORY_NAME_MAX];
	struct visit_ctx c = { s, job, dt, NULL, NULL };
	size_t found = 0;
	static const struct {
		const char *family, *series;
	} rates[] = {
		{ "iotpipe_events_consumed_total", "consumed_per_s" },
		{ "iotpipe_rows_written_total", "written_per_s" },
		{ "iotpipe_events_filtered_total", "filtered_per_s" },
		{ "iotpipe_events_late_total", "late_per_s" },
		{ "iotpipe_dead_letter_total", "dead_lettered_per_s" },
	};

	snprintf(match, sizeof(match), "job=\"%s\"", job);
	metrics_sum("iotpipe_events_consumed_total", match, &found);
	if (!found)
		return; /* this process does not run the job */
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		snprintf(name, sizeof(name), "%s.%s", job, rates[i].series);
		put_rate(s, metrics_sum(rates[i].family, match, NULL), dt, name);
	}
	metrics_visit("iotpipe_events_invalid_total", visit_invalid, &c);
	sample_hist(s, k, 0, "iotpipe_batch_duration_seconds");
	sample_hist(s, k, 1, "iotpipe_event_latency_seconds");
	metrics_visit("iotpipe_consumer_lag_records", visit_lag, &c);
	put(s, metrics_sum("iotpipe_files_written_total", match, NULL), "%s.files_total", job);
	put(s, metrics_sum("iotpipe_bytes_written_total", match, NULL), "%s.bytes_total", job);
	if (k == 1) {
		double wm = metrics_sum("iotpipe_watermark_seconds", match, NULL);
		put(s, wm > 0 ? now - wm : NAN, "aggregate.watermark_delay_s");
	}
}

void console_sample(struct history *h)
{
	struct sample *s = calloc(1, sizeof(*s));
	struct history_value hv[MAX_VALUES];
	struct timeval tv;
	double now, dt;
	size_t found = 0;

	if (!s)
		return; /* a sample less; the next second tries again */
	if (!st.init) {
		for (int k = 0; k < CONSOLE_JOBS; k++)
			for (int i = 0; i < 4; i++)
				st.held[k][i] = NAN;
		st.init = true;
	}
	metrics_collect(); /* process CPU and memory, as a scrape would */
	gettimeofday(&tv, NULL);
	now = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	dt = st.prev_t > 0 ? now - st.prev_t : 0;
	st.prev_t = now;

	metrics_sum("iotpipe_events_produced_total", NULL, &found);
	if (found) {
		put_rate(s, metrics_sum("iotpipe_events_produced_total", NULL, NULL), dt,
			 "produce.produced_per_s");
		put_rate(s, metrics_sum("iotpipe_delivery_errors_total", NULL, NULL), dt,
			 "produce.errors_per_s");
	}
	for (int k = 0; k < CONSOLE_JOBS; k++)
		sample_job(s, k, dt, now);
	metrics_sum("iotpipe_s3_requests_total", NULL, &found);
	if (found)
		put_rate(s, metrics_sum("iotpipe_s3_errors_total", NULL, NULL), dt,
			 "s3.errors_per_s");
	put(s, metrics_sum("process_resident_memory_bytes", NULL, NULL), "process.rss_bytes");
	{
		double r = rate("process.cpu_seconds", metrics_sum("process_cpu_seconds_total", NULL,
								   NULL), dt);
		put(s, isnan(r) ? NAN : r * 100, "process.cpu_percent");
	}
	for (size_t i = 0; i < s->n; i++)
		hv[i] = (struct history_value){ s->vals[i].name, s->vals[i].v };
	history_push(h, now, hv, s->n);
	free(s);
}
