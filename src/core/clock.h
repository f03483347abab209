/*
 * clock.h - the two clocks iotpipe reads: a monotonic one for durations,
 * pacing and timeouts, and the wall clock (UTC microseconds) for event
 * times and latencies. Any thread.
 */
#ifndef IOT_CLOCK_H
#define IOT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds on the monotonic clock (never jumps; for intervals). */
static inline double clock_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic seconds t as an absolute timespec, for waits on a condition
 * variable set to CLOCK_MONOTONIC; rounded up, so a wait never ends
 * before t. */
static inline struct timespec clock_mono_timespec(double t)
{
	struct timespec ts;
	time_t sec = (time_t)t;
	double frac = (t - (double)sec) * 1e9;

	ts.tv_sec = sec;
	ts.tv_nsec = (long)frac + ((double)(long)frac < frac);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Microseconds since the Unix epoch, UTC. */
static inline int64_t clock_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
