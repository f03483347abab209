/*
 * timeparse.h - event-time parsing and formatting in integer microseconds
 * since the Unix epoch, UTC. No floating point touches a timestamp: the
 * reference rounded event times through a 32-bit float; we keep every
 * microsecond. Pure functions, any thread.
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

/* Days since 1970-01-01 of a proleptic Gregorian civil date. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The inverse: civil date of a day number. */
void time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/*
 * Writes "2025-01-01T00:00:00.123456Z" (27 bytes + NUL) into out; cap >= 28.
 * Returns the length written.
 */
size_t time_format_iso8601(int64_t us, char *out, size_t cap);

/* floor division of microseconds to whole seconds (for negative times). */
static inline int64_t time_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

#endif
