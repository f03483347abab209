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

/* Microseconds since the Unix epoch, UTC. */
static inline int64_t clock_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
