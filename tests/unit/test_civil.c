/*
 * test_civil.c - the calendar arithmetic of core/civil.h: known dates
 * (from Python's datetime for years 1..9999, from a day-by-day count for
 * negative years and the int64_t edges), a walk over every day from
 * -2000 to 2500 against a naive counter, round trips over the whole
 * int64_t microsecond range, leap years, and the printed form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/civil.h"

static const struct {
	int64_t y;
	unsigned m, d;
	int64_t days;
} known_days[] = {
	{ 1970, 1, 1, 0 },
	{ 1969, 12, 31, -1 },
	{ 2000, 3, 1, 11017 },
	{ 2024, 2, 29, 19782 },
	{ 1900, 3, 1, -25508 },
	{ 1600, 2, 29, -135081 },
	{ 1, 1, 1, -719162 },
	{ 9999, 12, 31, 2932896 },
	{ 0, 1, 1, -719528 },
	{ 0, 2, 29, -719469 },     /* year 0 (1 BC) is a leap year */
	{ -1, 12, 31, -719529 },
	{ -4, 2, 29, -720930 },
	{ -100, 3, 1, -755993 },
	{ -400, 2, 29, -865566 },
	{ -4713, 11, 24, -2440588 }, /* Julian day 0, as INT96 timestamps count */
};

static void test_known_days(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(known_days) / sizeof(known_days[0]); i++) {
		int64_t y;
		unsigned m, d;
		assert_int_equal(civil_days_from_date(known_days[i].y, known_days[i].m,
						      known_days[i].d),
				 known_days[i].days);
		civil_date_from_days(known_days[i].days, &y, &m, &d);
		assert_int_equal(y, known_days[i].y);
		assert_int_equal(m, known_days[i].m);
		assert_int_equal(d, known_days[i].d);
	}
}

/* Every day from -2000-01-01 to 2500-12-31, counted one at a time with
 * civil_days_in_month: both directions must agree with the count. */
static void test_day_by_day(void **state)
{
	int64_t n = civil_days_from_date(-2000, 1, 1);
	(void)state;
	for (int64_t y = -2000; y <= 2500; y++)
		for (unsigned m = 1; m <= 12; m++)
			for (unsigned d = 1; d <= civil_days_in_month(y, m); d++, n++) {
				int64_t yy;
				unsigned mm, dd;
				if (civil_days_from_date(y, m, d) != n)
					fail_msg("%lld-%u-%u: %lld, want %lld", (long long)y, m, d,
						 (long long)civil_days_from_date(y, m, d),
						 (long long)n);
				civil_date_from_days(n, &yy, &mm, &dd);
				if (yy != y || mm != m || dd != d)
					fail_msg("day %lld: %lld-%u-%u, want %lld-%u-%u",
						 (long long)n, (long long)yy, mm, dd,
						 (long long)y, m, d);
			}
	/* the walk started where -2000-01-01 is, and ends 4501 years on */
	assert_int_equal(n, civil_days_from_date(2501, 1, 1));
}

static void test_leap_years(void **state)
{
	static const struct { int64_t y; bool leap; } t[] = {
		{ 2024, true }, { 2023, false }, { 2000, true }, { 1900, false },
		{ 2100, false }, { 2400, true }, { 0, true }, { -4, true },
		{ -1, false }, { -100, false }, { -400, true }, { 1600, true },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(civil_is_leap(t[i].y), t[i].leap);
		assert_int_equal(civil_days_in_month(t[i].y, 2), t[i].leap ? 29 : 28);
	}
	/* a year's length is 365 plus its leap day, negative years included */
	for (int64_t y = -10000; y <= 10000; y++)
		assert_int_equal(civil_days_from_date(y + 1, 1, 1) - civil_days_from_date(y, 1, 1),
				 365 + civil_is_leap(y));
	/* 400 years are always 146097 days */
	for (int64_t y = -300000; y <= 300000; y += 997)
		assert_int_equal(civil_days_from_date(y + 400, 3, 1) - civil_days_from_date(y, 3, 1),
				 146097);
}

/* Every day number that an int64_t microsecond time can reach, sampled
 * with a prime step, and the edges themselves. */
static void test_round_trip_days(void **state)
{
	const int64_t lo = civil_floor_div(INT64_MIN, CIVIL_US_PER_DAY);
	const int64_t hi = civil_floor_div(INT64_MAX, CIVIL_US_PER_DAY);
	(void)state;
	for (int64_t n = lo; n <= hi; n += n < -1000 || n > 1000 ? 7919 : 1) {
		int64_t y;
		unsigned m, d;
		civil_date_from_days(n, &y, &m, &d);
		assert_true(m >= 1 && m <= 12);
		assert_true(d >= 1 && d <= civil_days_in_month(y, m));
		if (civil_days_from_date(y, m, d) != n)
			fail_msg("day %lld -> %lld-%u-%u -> %lld", (long long)n, (long long)y,
				 m, d, (long long)civil_days_from_date(y, m, d));
	}
	for (int64_t n = hi - 1000; n <= hi; n++) {
		int64_t y;
		unsigned m, d;
		civil_date_from_days(n, &y, &m, &d);
		assert_int_equal(civil_days_from_date(y, m, d), n);
	}
}

static void test_floor_div(void **state)
{
	(void)state;
	assert_int_equal(civil_floor_div(7, 2), 3);
	assert_int_equal(civil_floor_div(-7, 2), -4);
	assert_int_equal(civil_floor_div(-8, 2), -4);
	assert_int_equal(civil_floor_div(-1, CIVIL_US_PER_DAY), -1);
	assert_int_equal(civil_floor_div(0, CIVIL_US_PER_DAY), 0);
	assert_int_equal(civil_floor_div(INT64_MIN, 1000000), INT64_MIN / 1000000 - 1);
}

static const struct {
	int64_t us;
	const char *iso;
} known_times[] = {
	/* Python's datetime */
	{ -62135596800000000LL, "0001-01-01T00:00:00.000000Z" },
	{ 253402300799999999LL, "9999-12-31T23:59:59.999999Z" },
	{ 0LL, "1970-01-01T00:00:00.000000Z" },
	{ -1LL, "1969-12-31T23:59:59.999999Z" },
	{ 1LL, "1970-01-01T00:00:00.000001Z" },
	{ 951782400000000LL, "2000-02-29T00:00:00.000000Z" },
	{ -62130499200000000LL, "0001-03-01T00:00:00.000000Z" },
	{ 4107542400000000LL, "2100-03-01T00:00:00.000000Z" },
	{ -2208988800000000LL, "1900-01-01T00:00:00.000000Z" },
	{ 208352799285641643LL, "8572-06-08T17:34:45.641643Z" },
	{ 102117346370717684LL, "5205-12-20T17:32:50.717684Z" },
	{ 68516167673817178LL, "4141-03-11T04:47:53.817178Z" },
	{ -58761232350244707LL, "0107-12-07T03:27:29.755293Z" },
	{ 74980586696513718LL, "4346-01-15T20:44:56.513718Z" },
	{ -49348691848888025LL, "0406-03-15T14:02:31.111975Z" },
	{ -50391200913816290LL, "0373-03-02T12:11:26.183710Z" },
	{ 26616199652791652LL, "2813-06-07T20:47:32.791652Z" },
	/* the int64_t edges, counted day by day */
	{ INT64_MAX, "294247-01-10T04:00:54.775807Z" },
	{ INT64_MIN, "-290308-12-21T19:59:05.224192Z" },
};

static void test_micros(void **state)
{
	char s[64];
	(void)state;
	for (size_t i = 0; i < sizeof(known_times) / sizeof(known_times[0]); i++) {
		size_t n = civil_format_micros(known_times[i].us, s, sizeof(s));
		assert_string_equal(s, known_times[i].iso);
		assert_int_equal(n, strlen(known_times[i].iso));
	}

	struct civil_time t;
	civil_from_micros(-1, &t);
	assert_int_equal(t.year, 1969);
	assert_int_equal(t.month, 12);
	assert_int_equal(t.day, 31);
	assert_int_equal(t.hour, 23);
	assert_int_equal(t.minute, 59);
	assert_int_equal(t.second, 59);
	assert_int_equal(t.micros, 999999);

	/* the fields rebuild the time, over the whole range (from a day above
	 * the bottom: the rebuilding itself would overflow there) */
	for (int64_t us = INT64_MIN + CIVIL_US_PER_DAY; us < INT64_MAX - 7777777777777777LL;
	     us += 7777777777777777LL) {
		civil_from_micros(us, &t);
		int64_t back = civil_days_from_date(t.year, t.month, t.day) * CIVIL_US_PER_DAY +
			       ((int64_t)t.hour * 3600 + t.minute * 60 + t.second) * 1000000 +
			       t.micros;
		assert_int_equal(back, us);
	}

	/* snprintf's contract: truncated and terminated, full length returned */
	assert_int_equal(civil_format_micros(0, s, 11), CIVIL_ISO8601_LEN);
	assert_string_equal(s, "1970-01-01");
	assert_int_equal(civil_format_micros(0, NULL, 0), CIVIL_ISO8601_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_days),
		cmocka_unit_test(test_day_by_day),
		cmocka_unit_test(test_leap_years),
		cmocka_unit_test(test_round_trip_days),
		cmocka_unit_test(test_floor_div),
		cmocka_unit_test(test_micros),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
