/*
 * range.c - strict number parsing with a range check (range.h), shared by
 * the option parser (opt.c) and the settings loader (config.c) so that a
 * flag and the config key it overrides refuse the same values with the
 * same words. Pure functions; any thread.
 */
#include "core/range.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/banned.h"

bool num_range_valid(const struct num_range *r)
{
	return isfinite(r->min) && isfinite(r->max) && r->min < r->max;
}

bool num_range_contains(const struct num_range *r, double v)
{
	if (r->min_open ? !(v > r->min) : !(v >= r->min))
		return false;
	return v <= r->max;
}

/* Integral bounds print in full ("9007199254740991", not "9.007e+15"),
 * others in the shortest form that reads back the same for short decimals. */
static void fmt_bound(double v, char *out, size_t n)
{
	if (v == floor(v) && fabs(v) <= 9007199254740992.0)
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "%.15g", v);
}

void num_range_describe(const struct num_range *r, char *out, size_t n)
{
	char lo[32], hi[32];

	fmt_bound(r->min, lo, sizeof(lo));
	fmt_bound(r->max, hi, sizeof(hi));
	if (r->min_open)
		snprintf(out, n, "greater than %s and at most %s", lo, hi);
	else
		snprintf(out, n, "from %s to %s", lo, hi);
}

static bool refuse(const char *text, const struct num_range *r, bool syntax,
		   bool integer, char *why, size_t n)
{
	char range[96];

	num_range_describe(r, range, sizeof(range));
	snprintf(why, n, "'%s' is %s: expected %s %s", text,
		 syntax ? (integer ? "not an integer" : "not a number") : "out of range",
		 integer ? "an integer" : "a number", range);
	return false;
}

bool num_parse_long(const char *text, const struct num_range *r, long *out,
		    char *why, size_t n)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end)
		return refuse(text, r, true, true, why, n);
	/* ERANGE: far outside any range we declare */
	if (errno || !num_range_contains(r, (double)v))
		return refuse(text, r, false, true, why, n);
	*out = v;
	return true;
}

bool num_parse_double(const char *text, const struct num_range *r,
		      double *out, char *why, size_t n)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || *end || isnan(v))
		return refuse(text, r, true, false, why, n);
	/* ERANGE is overflow (+-HUGE_VAL, outside every range) or underflow
	 * (a denormal or 0, which the range check judges correctly). */
	if ((errno && fabs(v) > 1) || !num_range_contains(r, v))
		return refuse(text, r, false, false, why, n);
	*out = v;
	return true;
}
