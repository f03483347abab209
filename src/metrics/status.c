/*
 * status.c - the live status line of status.h.
 *
 * One thread per command samples the registry (metrics_sum: no series is
 * registered by reading, so a produce-only process never shows job
 * families) and formats the sections the command asked for. On a TTY it
 * redraws "\r\033[K<line>" on stderr once a second; otherwise it logs the
 * line every interval through log_info, so text and JSON log formats both
 * get it as an ordinary record. Rates are differences between two samples
 * divided by the seconds between them.
 *
 * The thread sleeps on a condition variable so status_stop() returns at
 * once instead of waiting out the interval. The final line gives the rates
 * over the whole run, and is left out of the log when no record moved (a
 * command that failed to start).
 */
#include "core/clock.h"
#include "metrics/status.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "metrics/metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

/* Plain log lines every 10 s: often enough to follow a job in a log file,
 * rare enough not to drown its other lines. */
#define DEFAULT_LOG_INTERVAL 10.0

struct status {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool tty;
	double interval;
	unsigned parts;
	struct status_sample first, prev;
	double first_t, prev_t;
};

void status_sample_read(struct status_sample *s)
{
	static const char *const jobs[2] = { "job=\"archive\"", "job=\"aggregate\"" };
	struct timeval tv;

	memset(s, 0, sizeof(*s));
	s->produced = metrics_sum("iotpipe_events_produced_total", NULL, NULL);
	s->delivery_errors = metrics_sum("iotpipe_delivery_errors_total", NULL, NULL);
	for (int k = 0; k < 2; k++) {
		s->consumed[k] = metrics_sum("iotpipe_events_consumed_total", jobs[k], NULL);
		s->lag[k] = metrics_sum("iotpipe_consumer_lag_records", jobs[k], NULL);
		s->files[k] = metrics_sum("iotpipe_files_written_total", jobs[k], NULL);
		s->bytes[k] = metrics_sum("iotpipe_bytes_written_total", jobs[k], NULL);
	}
	s->watermark = metrics_sum("iotpipe_watermark_seconds", jobs[1], NULL);
	s->late = metrics_sum("iotpipe_events_late_total", jobs[1], NULL);
	s->windows = metrics_sum("iotpipe_windows_emitted_total", jobs[1], NULL);
	gettimeofday(&tv, NULL);
	s->now = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double rate(double cur, double prev, double dt)
{
	return dt > 0 && cur >= prev ? (cur - prev) / dt : 0;
}

/* 1234567 -> "1.2M"; keeps the line short at high counts. */
static void human(char *out, size_t cap, double v, const char *unit)
{
	if (v >= 1e9)
		snprintf(out, cap, "%.1fG%s", v / 1e9, unit);
	else if (v >= 1e6)
		snprintf(out, cap, "%.1fM%s", v / 1e6, unit);
	else if (v >= 1e4)
		snprintf(out, cap, "%.1fk%s", v / 1e3, unit);
	else
		snprintf(out, cap, "%.0f%s", v, unit);
}

void status_format(char *out, size_t cap, unsigned parts, const struct status_sample *cur,
		   const struct status_sample *prev, double dt)
{
	size_t n = 0;
	char a[32], b[32];

#define ADD(...)                                                                    \
	do {                                                                        \
		if (n < cap)                                                        \
			n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__);       \
	} while (0)
	if (cap)
		out[0] = '\0';
	if (parts & STATUS_PRODUCE) {
		human(a, sizeof(a), cur->produced, "");
		ADD("produced %s (%.0f/s), errors %.0f", a,
		    rate(cur->produced, prev->produced, dt), cur->delivery_errors);
	}
	if (parts & STATUS_ARCHIVE) {
		human(a, sizeof(a), cur->files[0], "");
		human(b, sizeof(b), cur->bytes[0], "B");
		ADD("%sarchive %.0f/s, lag %.0f, files %s, %s", n ? " | " : "",
		    rate(cur->consumed[0], prev->consumed[0], dt), cur->lag[0], a, b);
	}
	if (parts & STATUS_AGGREGATE) {
		char wm[48] = "-";
		if (cur->watermark > 0) {
			/* the time of day when within a day of now, else the
			 * date too (none past gmtime's range); behind now (-Ns)
			 * or, for event times from clocks ahead, in front (+Ns) */
			double behind = cur->now - cur->watermark;
			char day[16] = "";
			/* cast only below year 10000: a double past time_t's
			 * range does not convert */
			bool dated = cur->watermark < 253402300800.0;
			time_t t = dated ? (time_t)cur->watermark : 0;
			struct tm tm;
			if (dated && gmtime_r(&t, &tm)) {
				if (fabs(behind) >= 86400)
					snprintf(day, sizeof(day), "%04d-%02d-%02dT", tm.tm_year + 1900,
						 tm.tm_mon + 1, tm.tm_mday);
				snprintf(wm, sizeof(wm), "%s%02d:%02d:%02dZ (%c%.0fs)", day, tm.tm_hour,
					 tm.tm_min, tm.tm_sec, behind >= 0 ? '-' : '+', fabs(behind));
			} else {
				snprintf(wm, sizeof(wm), "after 9999 (+%.0fs)", fabs(behind));
			}
		}
		human(a, sizeof(a), cur->files[1], "");
		ADD("%saggregate %.0f/s, lag %.0f, watermark %s, late %.0f, windows %.0f, files %s",
		    n ? " | " : "", rate(cur->consumed[1], prev->consumed[1], dt), cur->lag[1], wm,
		    cur->late, cur->windows, a);
	}
#undef ADD
}

/* True when the command moved no record at all (e.g. it failed to start):
 * then a final line would only be noise before the error. */
static bool idle_since_start(const struct status *s, const struct status_sample *cur)
{
	return cur->produced == s->first.produced && cur->consumed[0] == s->first.consumed[0] &&
	       cur->consumed[1] == s->first.consumed[1];
}

static void emit(struct status *s, bool final)
{
	struct status_sample cur;
	char line[512];
	double t = clock_mono_s();

	status_sample_read(&cur);
	if (final && !s->tty && idle_since_start(s, &cur))
		return;
	if (final) {
		/* rates over the whole run: the last interval is often empty */
		int k = snprintf(line, sizeof(line), "total %.1f s: ", t - s->first_t);
		status_format(line + k, sizeof(line) - (size_t)k, s->parts, &cur, &s->first,
			      t - s->first_t);
	} else {
		status_format(line, sizeof(line), s->parts, &cur, &s->prev, t - s->prev_t);
	}
	if (s->tty)
		fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
	else
		log_info("status", "%s", line);
	fflush(stderr);
	s->prev = cur;
	s->prev_t = t;
}

static void *status_main(void *arg)
{
	struct status *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct timespec until;
		double when = s->interval;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)when;
		until.tv_nsec += (long)((when - (double)(time_t)when) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
			;
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->lock);
		emit(s, false);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct status *status_start(unsigned parts)
{
	struct status *s = xcalloc(1, sizeof(*s));
	const char *env = getenv("IOTPIPE_STATUS_INTERVAL");

	s->parts = parts;
	s->tty = isatty(STDERR_FILENO);
	s->interval = s->tty ? 1.0 : DEFAULT_LOG_INTERVAL;
	if (env && *env) {
		char *end;
		double v = strtod(env, &end);
		if (!*end && v >= 0.1 && v <= 86400)
			s->interval = v;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	status_sample_read(&s->first);
	s->prev = s->first;
	s->prev_t = s->first_t = clock_mono_s();
	if (pthread_create(&s->thread, NULL, status_main, s)) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

void status_stop(struct status *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	emit(s, true);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
