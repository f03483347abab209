/*
 * civil.h - the proleptic Gregorian calendar on integer time, UTC: day
 * numbers to dates and back, microseconds since the Unix epoch to their
 * date and time of day, and the one ISO-8601 form we print.
 *
 * Every layer needs these: the Hive paths of the streaming jobs
 * (core/hive.c), the event decoder's ISO-8601 parser (event/timeparse.c),
 * the Parquet codec's timestamp printing (parquet/pq_value.c) and the
 * percentile job's dates (batch/). They live here, at the bottom, so that
 * none of those layers reaches sideways or up for them.
 *
 * Hand-written on purpose: gmtime() is banned (core/banned.h: it is not
 * thread-safe) and gmtime_r() works on time_t seconds, has no notion of
 * microseconds and is slower than the arithmetic. The conversions are
 * Howard Hinnant's days_from_civil / civil_from_days, exact over the whole
 * range used here (any int64_t microsecond time, i.e. years -292277 to
 * 294247, negative years included: year 0 is 1 BC) and needing no time
 * zone database.
 *
 * Calling sequence (pure functions, any thread):
 *
 *	int64_t day = civil_days_from_date(2024, 2, 29);    // 19782
 *	civil_date_from_days(day, &y, &m, &d);              // 2024-02-29
 *	struct civil_time t;
 *	civil_from_micros(us, &t);                          // t.year .. t.micros
 *	char s[CIVIL_ISO8601_LEN + 1];
 *	civil_format_micros(us, s, sizeof(s));  // "2024-02-29T12:00:00.000000Z"
 */
#ifndef IOT_CORE_CIVIL_H
#define IOT_CORE_CIVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIVIL_US_PER_DAY 86400000000LL

/* Floor division (rounds towards minus infinity, unlike C's '/'), so that
 * a time before the epoch falls in the day, second, ... that holds it.
 * b > 0. */
static inline int64_t civil_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Whether year y has a 29 February. */
static inline bool civil_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days of month m (1..12) of year y. */
unsigned civil_days_in_month(int64_t y, unsigned m);

/* Days since 1970-01-01 of the date y-m-d (m 1..12, d 1..31; the day is
 * not checked against the month: 02-30 is 03-01). */
int64_t civil_days_from_date(int64_t y, unsigned m, unsigned d);

/* The inverse: the date of day number `days` since 1970-01-01. */
void civil_date_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* A UTC date and time of day, broken down. */
struct civil_time {
	int64_t year;
	unsigned month, day;            /* 1..12, 1..31 */
	unsigned hour, minute, second;  /* 0..23, 0..59, 0..59 */
	unsigned micros;                /* 0..999999 */
};

/* Breaks down microseconds since the epoch (any int64_t). */
void civil_from_micros(int64_t us, struct civil_time *t);

/* The length of "2024-02-29T12:00:00.000000Z" (years 0..9999; a year
 * outside them prints more digits or a sign). */
#define CIVIL_ISO8601_LEN 27

/*
 * Writes "YYYY-MM-DDThh:mm:ss.ffffffZ" (UTC, always six fraction digits)
 * into out as snprintf does: truncated to cap - 1 bytes and terminated
 * when cap > 0. Returns the length of the whole form.
 */
size_t civil_format_micros(int64_t us, char *out, size_t cap);

#endif
