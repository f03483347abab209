/*
 * s3_limit.c - the process-wide limit on S3 requests in flight (s3_limit.h).
 *
 * Why not a library: libcurl's multi interface caps connections
 * (CURLMOPT_MAX_TOTAL_CONNECTIONS) but knows nothing of S3's throttling
 * answers, and the AWS SDK for C++'s adaptive retry strategy would bring
 * the whole SDK; the rule here is a dozen lines.
 *
 * Threads: s3_limit_acquire/release may be called from any thread (the
 * streaming job's writers, the multipart part pool, the prefetcher); one
 * mutex guards the state, and waiters sleep on one condition variable,
 * woken when a slot comes back or the limit grows. The pure functions on
 * struct s3_limit take no lock.
 */
#include "store/s3_limit.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/metrics.h"

#include <pthread.h>

#include "core/banned.h"

void s3_limit_init(struct s3_limit *l, int max)
{
	l->max = max > 0 ? max : 1;
	l->cur = l->max;
	l->inflight = 0;
	l->last_decrease = -1;
	l->throttles = 0;
}

void s3_limit_set_max(struct s3_limit *l, int max)
{
	if (max > l->max) {
		l->cur += max - l->max;
		l->max = max;
	}
}

bool s3_limit_try_take(struct s3_limit *l)
{
	if (l->inflight >= l->cur)
		return false;
	l->inflight++;
	return true;
}

void s3_limit_put(struct s3_limit *l, bool throttled, double now)
{
	if (l->inflight > 0)
		l->inflight--;
	if (throttled) {
		l->throttles++;
		if (l->last_decrease < 0 ||
		    now - l->last_decrease >= S3_LIMIT_DECREASE_S) {
			l->cur = l->cur > 1 ? l->cur / 2 : 1;
			l->last_decrease = now;
		}
		return;
	}
	if (l->cur < l->max &&
	    (l->last_decrease < 0 || now - l->last_decrease >= S3_LIMIT_HOLD_S))
		l->cur++;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct s3_limit global = { 1, 1, 0, -1, 0 };
static bool configured;

static void publish(void)
{
	metric_set(metrics_gauge("iotpipe_s3_concurrency_limit",
				 "S3 requests allowed in flight now (lowered while S3 throttles).",
				 NULL),
		   (double)global.cur);
}

void s3_limit_configure(int max)
{
	pthread_mutex_lock(&mu);
	if (!configured) {
		s3_limit_init(&global, max);
		configured = true;
	} else {
		s3_limit_set_max(&global, max);
	}
	publish();
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

void s3_limit_acquire(void)
{
	pthread_mutex_lock(&mu);
	while (!s3_limit_try_take(&global))
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

void s3_limit_release(bool throttled)
{
	int before;

	pthread_mutex_lock(&mu);
	before = global.cur;
	s3_limit_put(&global, throttled, clock_mono_s());
	if (global.cur != before) {
		publish();
		if (global.cur < before)
			log_debug("s3", "S3 is throttling: %d requests in flight at most "
				 "for a while (was %d)", global.cur, before);
	}
	if (global.cur > before)
		pthread_cond_broadcast(&cv);
	else
		pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

int s3_limit_current(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = global.cur;
	pthread_mutex_unlock(&mu);
	return n;
}
