/*
 * s3_limit.h - how many S3 requests the process keeps in flight, and how
 * that number shrinks while S3 throttles (private to src/store/).
 *
 * Every attempt of every S3 request in the process takes a slot before it
 * is sent and gives it back with its outcome (s3_http.c). The ceiling is
 * IOTPIPE_S3_MAX_INFLIGHT; the current limit starts there. A throttling
 * answer (503 SlowDown, 429, Throttling*) halves the limit, at most once
 * per S3_LIMIT_DECREASE_S (one burst of 503s from 64 requests in flight
 * is one signal, not 64), and holds it for S3_LIMIT_HOLD_S; after that
 * each success adds one slot back, up to the ceiling. This is the AIMD of
 * TCP applied to requests, in the spirit of the AWS SDKs' "adaptive"
 * retry mode (which meters a send rate with a token bucket; a concurrency
 * limit does the same for a pool of blocking requests, and needs no
 * clock on the fast path).
 *
 * struct s3_limit is the pure state machine (unit-tested with an explicit
 * clock, no locking); s3_limit_acquire()/s3_limit_release() wrap the one
 * process-wide instance with a mutex and a condition variable and may be
 * called from any thread.
 *
 *	s3_limit_configure(cfg->max_inflight);        // raises the ceiling
 *	s3_limit_acquire();                           // may block
 *	... one HTTP attempt ...
 *	s3_limit_release(throttled);
 */
#ifndef IOT_STORE_S3_LIMIT_H
#define IOT_STORE_S3_LIMIT_H

#include <stdbool.h>

/* One halving per second of throttling: roughly once per round of the
 * requests in flight at S3's 20-100 ms latency plus the backoff. */
#define S3_LIMIT_DECREASE_S 1.0
/* Throttling comes in bursts of seconds (S3 scales a prefix's partition
 * in minutes): grow back only after this long without a throttle. */
#define S3_LIMIT_HOLD_S 5.0

struct s3_limit {
	int max;         /* ceiling, >= 1 */
	int cur;         /* current limit, 1..max */
	int inflight;    /* slots taken */
	double last_decrease; /* monotonic seconds; < 0: never */
	unsigned throttles;   /* throttling answers seen */
};

void s3_limit_init(struct s3_limit *l, int max);
/* Raises the ceiling (and the current limit with it) to max, if higher. */
void s3_limit_set_max(struct s3_limit *l, int max);
/* Takes a slot when one is free. */
bool s3_limit_try_take(struct s3_limit *l);
/* Gives a slot back with the attempt's outcome, at monotonic time now. */
void s3_limit_put(struct s3_limit *l, bool throttled, double now);

/* The process-wide instance (any thread). */
void s3_limit_configure(int max);
void s3_limit_acquire(void);
void s3_limit_release(bool throttled);
/* Snapshot of the current limit (for tests and metrics). */
int s3_limit_current(void);

#endif
