/*
 * timeparse.h - event-time parsing in integer microseconds since the Unix
 * epoch, UTC. No floating point touches a timestamp: the reference rounded
 * event times through a 32-bit float; we keep every microsecond. The
 * calendar arithmetic and the printed form are core/civil.h's. Pure
 * functions, any thread.
 */
#ifndef IOT_TIMEPARSE_H
#define IOT_TIMEPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Supported range: years 0001..9999. */
#define TIME_MIN_US (-62135596800LL * 1000000LL)
#define TIME_MAX_US (253402300799LL * 1000000LL + 999999LL)

/*
 * Parses ISO-8601: YYYY-MM-DD, optionally followed by T or a space,
 * hh:mm[:ss[.fraction]], optionally Z or an offset ±hh[:mm]. No zone means
 * UTC. Fractions beyond microseconds are rounded (half away from zero).
 */
bool time_parse_iso8601(const char *s, size_t len, int64_t *us);

#endif
