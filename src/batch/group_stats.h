/*
 * group_stats.h - the statistics of one (device, date) group: mean, sample
 * standard deviation, the 3-sigma outlier filter and percentile selection
 * (docs/design.md §6). Pure functions on caller-owned arrays, any thread.
 *
 * Calling sequence for one group of n values:
 *
 *	double mean, sd;
 *	stats_mean_sd(x, n, &mean, &sd);
 *	size_t k = stats_drop_outliers(x, n, mean, sd);   // x[0..k) kept
 *	stats_percentiles(x, k, ps, nps, STATS_NEAREST, out);
 *
 * Definitions (docs/percentile.md):
 *   mean  = (x0 + x1 + ... ) / n, summed left to right in double;
 *   sd    = sqrt(sum((xi - mean)^2) / (n - 1)), 0 when n < 2;
 *   when all values are equal: mean = that value, sd = 0 exactly (the
 *           rounded sum of 250 x 10.12 is not 2530);
 *   kept  = xi with mean - 3*sd < xi < mean + 3*sd (strict), or every xi
 *           when sd == 0 (no value deviates, so none is an outlier);
 *   nearest rank p: the value at 1-based rank ceil(p * n) of the sorted
 *           values, p * n in double, rank clamped to [1, n];
 *   linear p: numpy's default: h = (n - 1) * p, lo = floor(h),
 *           x[lo] + (x[lo+1] - x[lo]) * (h - lo), with numpy's
 *           b - (b - a) * (1 - t) form for t >= 0.5.
 * Selection is O(n) (quickselect), not a sort: the result is the same
 * element a sort would give, since equal values are interchangeable.
 */
#ifndef IOT_BATCH_STATS_H
#define IOT_BATCH_STATS_H

#include <stddef.h>

enum stats_method { STATS_NEAREST = 0, STATS_LINEAR };

void stats_mean_sd(const double *x, size_t n, double *mean, double *sd);

/* Moves the kept values (see above) to x[0..k), in no particular order;
 * returns k. */
size_t stats_drop_outliers(double *x, size_t n, double mean, double sd);

/* 1-based nearest rank of p among n values: ceil(p * n) in [1, n]. */
size_t stats_nearest_rank(size_t n, double p);

/* Rearranges x[0..n) so that x[k] is the k-th smallest (0-based), with
 * nothing larger before it and nothing smaller after it; returns x[k]. */
double stats_select(double *x, size_t n, size_t k);

/*
 * out[i] = the p[i] percentile of x[0..n) (n >= 1, each p in [0, 1]) by
 * method m. x is rearranged. np is small (the --percentiles list).
 */
void stats_percentiles(double *x, size_t n, const double *p, size_t np,
		       enum stats_method m, double *out);

#endif
