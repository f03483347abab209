/*
 * group_stats.c - one (device, date) group's mean, sample deviation,
 * outlier filter and percentile selection.
 *
 * Everything runs on one group's values in place: the filter compacts the
 * kept values to the front, and the percentiles are found by quickselect
 * (median-of-three Hoare partitioning, insertion sort below 16 values)
 * rather than a full sort, because the job only ever needs two or three
 * order statistics per group. Several percentiles are selected in rank
 * order, each in the part of the array right of the previous one, so the
 * total stays close to one pass. No allocation except a tiny index for
 * more than 16 percentiles; any thread.
 */
#include "batch/group_stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/xalloc.h"

#include "core/banned.h"

void stats_mean_sd(const double *x, size_t n, double *mean, double *sd)
{
	double sum = 0, ss = 0, m, lo, hi;

	if (n == 0) {
		*mean = NAN;
		*sd = 0;
		return;
	}
	lo = hi = x[0];
	for (size_t i = 0; i < n; i++) {
		sum += x[i];
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
	}
	if (lo == hi) {
		/* all equal: exact, where the rounded sum would not be */
		*mean = lo;
		*sd = 0;
		return;
	}
	m = sum / (double)n;
	*mean = m;
	if (n < 2) {
		*sd = 0;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		double d = x[i] - m;
		ss += d * d;
	}
	*sd = sqrt(ss / (double)(n - 1));
}

size_t stats_drop_outliers(double *x, size_t n, double mean, double sd)
{
	double lo, hi;
	size_t k = 0;

	if (sd == 0)
		return n;
	lo = mean - 3 * sd;
	hi = mean + 3 * sd;
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		x[k] = v;
		k += (v > lo) & (v < hi);
	}
	return k;
}

size_t stats_nearest_rank(size_t n, double p)
{
	double r = ceil(p * (double)n);

	if (!(r >= 1))
		return 1;
	if (r >= (double)n)
		return n;
	return (size_t)r;
}

static void insertion_sort(double *x, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double v = x[i];
		size_t j = i;
		while (j > 0 && x[j - 1] > v) {
			x[j] = x[j - 1];
			j--;
		}
		x[j] = v;
	}
}

static inline void swap(double *a, double *b)
{
	double t = *a;
	*a = *b;
	*b = t;
}

double stats_select(double *x, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1; /* inclusive bounds holding rank k */

	IOT_ASSERT(k < n);
	while (hi - lo >= 16) {
		size_t mid = lo + (hi - lo) / 2, i, j;
		double pivot;

		/* median of three to x[mid], then Hoare partition */
		if (x[mid] < x[lo])
			swap(&x[mid], &x[lo]);
		if (x[hi] < x[lo])
			swap(&x[hi], &x[lo]);
		if (x[hi] < x[mid])
			swap(&x[hi], &x[mid]);
		pivot = x[mid];
		i = lo;
		j = hi;
		for (;;) {
			while (x[i] < pivot)
				i++;
			while (x[j] > pivot)
				j--;
			if (i >= j)
				break;
			swap(&x[i], &x[j]);
			i++;
			j--;
		}
		/* x[lo..j] <= pivot <= x[j+1..hi] */
		if (k <= j)
			hi = j;
		else
			lo = j + 1;
	}
	insertion_sort(x + lo, hi - lo + 1);
	return x[k];
}

/* numpy's _lerp: exact at both ends, monotone in t. */
static double lerp(double a, double b, double t)
{
	double d = b - a;
	return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

static double min_of(const double *x, size_t n)
{
	double m = x[0];
	for (size_t i = 1; i < n; i++)
		if (x[i] < m)
			m = x[i];
	return m;
}

void stats_percentiles(double *x, size_t n, const double *p, size_t np,
		       enum stats_method m, double *out)
{
	size_t order_small[16], *order = order_small;
	size_t done = 0; /* x[0..done) holds nothing above x[done..n) */

	IOT_ASSERT(n >= 1);
	if (np > 16)
		order = xmalloc(st_mult(np, sizeof(*order)));
	for (size_t i = 0; i < np; i++)
		order[i] = i;
	/* by increasing p (np is tiny: insertion sort) */
	for (size_t i = 1; i < np; i++)
		for (size_t j = i; j > 0 && p[order[j - 1]] > p[order[j]]; j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t oi = 0; oi < np; oi++) {
		size_t i = order[oi];
		if (m == STATS_NEAREST) {
			size_t k = stats_nearest_rank(n, p[i]) - 1;
			out[i] = stats_select(x + done, n - done, k - done);
			done = k;
		} else {
			double h = (double)(n - 1) * p[i], fl = floor(h);
			size_t k = (size_t)fl;
			double a, b;
			if (k >= n - 1) {
				k = n - 1;
				fl = (double)k;
			}
			a = stats_select(x + done, n - done, k - done);
			done = k;
			b = k + 1 < n ? min_of(x + k + 1, n - k - 1) : a;
			out[i] = lerp(a, b, h - fl);
		}
	}
	if (order != order_small)
		free(order);
}
