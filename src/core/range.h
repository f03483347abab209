/*
 * range.h - the allowed range of a numeric setting, declared once next to
 * the setting (an option row in opt.h, a settings row in config.c) and
 * checked where the text is parsed. A value outside its range is refused
 * there, with the range in the message, instead of being mistaken for a
 * "not given" sentinel or reaching a conversion it would overflow.
 *
 *	static const struct num_range window = RANGE(1, RANGE_YEAR_S);
 *	double v;
 *	char why[128];
 *	if (!num_parse_double("-60", &window, &v, why, sizeof(why)))
 *		...; // why: "'-60' is out of range: expected a number from 1 to 31536000"
 *
 * Bounds are doubles: every bound we use is an integer below 2^53, so
 * integer settings compare exactly.
 */
#ifndef IOT_RANGE_H
#define IOT_RANGE_H

#include <stdbool.h>
#include <stddef.h>

struct num_range {
	double min, max;
	bool min_open; /* min itself is excluded: "greater than 0" */
};

/* min <= v <= max */
#define RANGE(lo, hi)          { (lo), (hi), false }
/* min < v <= max */
#define RANGE_ABOVE(lo, hi)    { (lo), (hi), true }

/* Upper bounds shared by several settings, in seconds. A year is longer
 * than any window or delay a streaming job has a use for, and small
 * enough that microseconds of it fit an int64_t with room to spare. */
#define RANGE_YEAR_S 31536000.0
#define RANGE_DAY_S  86400.0

/* True when r is a usable range (a numeric row that forgot its range has
 * min == max == 0 and fails this). */
bool num_range_valid(const struct num_range *r);

bool num_range_contains(const struct num_range *r, double v);

/* "from 1 to 1024", or "greater than 0 and at most 86400". */
void num_range_describe(const struct num_range *r, char *out, size_t n);

/*
 * Parse `text` strictly (the whole text, base 10 for integers; no
 * "10x", no empty text, no inf or nan) and check the range. On failure
 * returns false and writes the reason without the setting's name, e.g.
 * "'abc' is not an integer: expected an integer from 1 to 1024".
 */
bool num_parse_long(const char *text, const struct num_range *r, long *out,
		    char *why, size_t n);
bool num_parse_double(const char *text, const struct num_range *r,
		      double *out, char *why, size_t n);

#endif
