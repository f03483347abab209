/*
 * civil.c - calendar arithmetic on integer time (civil.h).
 *
 * Howard Hinnant's algorithms ("chrono-Compatible Low-Level Date
 * Algorithms"): the year is shifted to start on 1 March, so the leap day
 * is the last day of its year and a month's first day is a linear
 * function of the month ((153 * mp + 2) / 5); time is cut into 400-year
 * eras of exactly 146097 days, inside which only unsigned arithmetic on
 * small numbers is needed. The era is found with a floor division, which
 * is what makes negative years and days before 1970 come out right.
 * Pure functions, any thread.
 */
#include "core/civil.h"

#include <stdio.h>

#include "core/banned.h"

/* 1970-01-01 counted from 0000-03-01, the start of era 0. */
#define EPOCH_SHIFT 719468
#define DAYS_PER_ERA 146097

unsigned civil_days_in_month(int64_t y, unsigned m)
{
	static const unsigned dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && civil_is_leap(y) ? 29 : dm[m - 1];
}

int64_t civil_days_from_date(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = civil_floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);                              /* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;       /* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                  /* [0, 146096] */
	return era * DAYS_PER_ERA + (int64_t)doe - EPOCH_SHIFT;
}

void civil_date_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + EPOCH_SHIFT;
	int64_t era = civil_floor_div(z, DAYS_PER_ERA);
	unsigned doe = (unsigned)(z - era * DAYS_PER_ERA);                  /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);            /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                  /* [0, 11] */

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void civil_from_micros(int64_t us, struct civil_time *t)
{
	/* Truncating division and a correction, not civil_floor_div and a
	 * multiplication back: days * CIVIL_US_PER_DAY overflows at the
	 * bottom of the range (INT64_MIN is not a whole number of days). */
	int64_t secs = us / 1000000, days;
	int64_t frac = us % 1000000;
	int64_t sod;

	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_date_from_days(days, &t->year, &t->month, &t->day);
	t->hour = (unsigned)(sod / 3600);
	t->minute = (unsigned)(sod / 60 % 60);
	t->second = (unsigned)(sod % 60);
	t->micros = (unsigned)frac;
}

size_t civil_format_micros(int64_t us, char *out, size_t cap)
{
	struct civil_time t;
	int n;

	civil_from_micros(us, &t);
	n = snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ",
		     (long long)t.year, t.month, t.day, t.hour, t.minute, t.second,
		     t.micros);
	return n < 0 ? 0 : (size_t)n;
}
