/*
 * test_batch_stats.c - the percentile job's arithmetic: mean and sample
 * deviation, the strict 3-sigma filter (values exactly at 3 sigma are
 * dropped; zero deviation keeps everything), nearest rank as docs/design.md
 * §6 defines it, numpy's linear interpolation, and quickselect against a
 * full sort on random arrays with many ties.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch/group_stats.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static uint64_t rng_state = 42;
static uint64_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return rng_state >> 33;
}

static void test_mean_sd(void **state)
{
	double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 }, mean, sd;
	(void)state;
	stats_mean_sd(x, 8, &mean, &sd);
	assert_true(mean == 5.0);
	/* sum of squares 32, n - 1 = 7 */
	assert_true(sd == sqrt(32.0 / 7.0));
	stats_mean_sd(x, 1, &mean, &sd);
	assert_true(mean == 2.0 && sd == 0.0);
}

/* 17 x 10, b x (9, 11), then 7 and 13: mean 10, sd exactly 1, so 7 and 13
 * sit exactly at 3 sigma and the strict filter drops them. */
static void test_exactly_three_sigma_is_dropped(void **state)
{
	double x[300], mean, sd;
	size_t n = 0, k;
	(void)state;
	for (int i = 0; i < 17; i++)
		x[n++] = 10;
	for (int i = 0; i < 100; i++) {
		x[n++] = 9;
		x[n++] = 11;
	}
	x[n++] = 7;
	x[n++] = 13;
	stats_mean_sd(x, n, &mean, &sd);
	assert_true(mean == 10.0);
	assert_true(sd == 1.0);
	k = stats_drop_outliers(x, n, mean, sd);
	assert_int_equal(k, n - 2);
	for (size_t i = 0; i < k; i++)
		assert_true(x[i] > 7 && x[i] < 13);
}

static void test_outliers_both_sides(void **state)
{
	double x[1002], mean, sd;
	size_t k;
	(void)state;
	for (int i = 0; i < 1000; i++)
		x[i] = 10 + (i % 7) * 0.25;
	x[1000] = 1000;
	x[1001] = -1000;
	stats_mean_sd(x, 1002, &mean, &sd);
	k = stats_drop_outliers(x, 1002, mean, sd);
	assert_int_equal(k, 1000);
	for (size_t i = 0; i < k; i++)
		assert_true(x[i] >= 10 && x[i] <= 11.5);
}

static void test_zero_deviation_keeps_all(void **state)
{
	double x[250], mean, sd, out;
	const double p = 0.95;
	(void)state;
	for (int i = 0; i < 250; i++)
		x[i] = 10.12;
	/* the plain sum of 250 x 10.12 is not 2530: the all-equal case is
	 * detected, so the mean is exact and the deviation exactly 0 */
	stats_mean_sd(x, 250, &mean, &sd);
	assert_true(mean == 10.12);
	assert_true(sd == 0.0);
	assert_int_equal(stats_drop_outliers(x, 250, mean, sd), 250);
	stats_percentiles(x, 250, &p, 1, STATS_NEAREST, &out);
	assert_true(out == 10.12);
}

static void test_nearest_rank(void **state)
{
	(void)state;
	/* ceil(0.95 * n) with 0.95 * n in double */
	assert_int_equal(stats_nearest_rank(100, 0.95), 95);
	assert_int_equal(stats_nearest_rank(20, 0.95), 19);
	assert_int_equal(stats_nearest_rank(201, 0.95), 191); /* 190.95 */
	assert_int_equal(stats_nearest_rank(1, 0.95), 1);
	assert_int_equal(stats_nearest_rank(10, 0), 1);
	assert_int_equal(stats_nearest_rank(10, 1), 10);
	/* 0.07 * 100 = 7.000000000000001 in double: rank 8, not 7 */
	assert_true(0.07 * 100 > 7.0);
	assert_int_equal(stats_nearest_rank(100, 0.07), 8);
	assert_int_equal(stats_nearest_rank(200, 0.5), 100);
}

static void test_percentiles_match_sort(void **state)
{
	static double x[5000], y[5000], s[5000];
	const double ps[] = { 0.99, 0.5, 0.95, 0, 1, 0.25 };
	double out[6];
	(void)state;
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + rnd() % (round < 100 ? 40 : 5000);
		unsigned spread = 1 + (unsigned)(rnd() % 50); /* many ties */
		for (size_t i = 0; i < n; i++)
			x[i] = (double)(rnd() % spread) * 0.01 + 10;
		memcpy(s, x, n * sizeof(double));
		qsort(s, n, sizeof(double), cmp_double);
		memcpy(y, x, n * sizeof(double));
		stats_percentiles(y, n, ps, 6, STATS_NEAREST, out);
		for (int j = 0; j < 6; j++)
			assert_true(out[j] == s[stats_nearest_rank(n, ps[j]) - 1]);
		memcpy(y, x, n * sizeof(double));
		stats_percentiles(y, n, ps, 6, STATS_LINEAR, out);
		for (int j = 0; j < 6; j++) {
			double h = (double)(n - 1) * ps[j], fl = floor(h), t = h - fl;
			size_t lo = (size_t)fl, hi = lo + 1 < n ? lo + 1 : lo;
			double a = s[lo], b = s[hi], d = b - a;
			double want = t >= 0.5 ? b - d * (1 - t) : a + d * t;
			assert_true(out[j] == want);
		}
	}
}

static void test_select_sorted_and_reversed(void **state)
{
	static double x[1000];
	(void)state;
	for (size_t k = 0; k < 1000; k += 37) {
		for (int i = 0; i < 1000; i++)
			x[i] = i;
		assert_true(stats_select(x, 1000, k) == (double)k);
		for (int i = 0; i < 1000; i++)
			x[i] = 999 - i;
		assert_true(stats_select(x, 1000, k) == (double)k);
		for (int i = 0; i < 1000; i++)
			x[i] = 5;
		assert_true(stats_select(x, 1000, k) == 5.0);
	}
}

static void test_linear_known_values(void **state)
{
	/* numpy.quantile([1,2,3,4], [0.5, 0.95], method='linear') = 2.5, 3.85 */
	double x[] = { 4, 1, 3, 2 }, out[2];
	const double ps[] = { 0.5, 0.95 };
	(void)state;
	stats_percentiles(x, 4, ps, 2, STATS_LINEAR, out);
	assert_true(out[0] == 2.5);
	assert_true(out[1] == 4 - (4 - 3) * (1 - (3 * 0.95 - 2)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mean_sd),
		cmocka_unit_test(test_exactly_three_sigma_is_dropped),
		cmocka_unit_test(test_outliers_both_sides),
		cmocka_unit_test(test_zero_deviation_keeps_all),
		cmocka_unit_test(test_nearest_rank),
		cmocka_unit_test(test_percentiles_match_sort),
		cmocka_unit_test(test_select_sorted_and_reversed),
		cmocka_unit_test(test_linear_known_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
