/*
 * csv.c - formatting the percentile CSV's fields (see csv.h).
 *
 * Numbers go through the Parquet codec's shortest round-trip formatter
 * (pq_format_double/pq_format_float: the fewest %g digits that strtod
 * reads back exactly) and get ".0" when that form has no '.' or exponent.
 * Percentile names are built from the decimal text of p, not from p*100
 * in floating point (0.95 * 100 is 95.00000000000001).
 */
#include "batch/csv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/civil.h"
#include "parquet/pq.h"

#include "core/banned.h"

void csv_percentile_name(double p, char *out, size_t len)
{
	char txt[64], ip[64], rest[64];
	char *dot, *frac;
	size_t fl, il = 0;

	snprintf(txt, sizeof(txt), "%.12f", p);
	/* drop trailing zeros of the fraction */
	for (size_t n = strlen(txt); n > 0 && txt[n - 1] == '0'; n--)
		txt[n - 1] = '\0';
	dot = strchr(txt, '.');
	frac = dot ? dot + 1 : txt + strlen(txt);
	if (dot)
		*dot = '\0';
	/* percent = integer part, then two fraction digits (zero-padded) */
	fl = strlen(frac);
	for (const char *q = txt; *q && il + 1 < sizeof(ip); q++)
		ip[il++] = *q;
	for (size_t i = 0; i < 2 && il + 1 < sizeof(ip); i++)
		ip[il++] = i < fl ? frac[i] : '0';
	ip[il] = '\0';
	snprintf(rest, sizeof(rest), "%s", fl > 2 ? frac + 2 : "");
	{
		const char *ipn = ip;
		while (ipn[0] == '0' && ipn[1])
			ipn++;
		snprintf(out, len, "event_duration_p%s%s%s", ipn, rest[0] ? "_" : "", rest);
	}
}

void csv_field(struct buf *b, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		buf_puts(b, s);
		return;
	}
	buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_putc(b, '"');
		buf_putc(b, (uint8_t)*s);
	}
	buf_putc(b, '"');
}

void csv_number(struct buf *b, double d, bool as_float)
{
	char num[64];

	if (as_float)
		pq_format_float((float)d, num, sizeof(num));
	else
		pq_format_double(d, num, sizeof(num));
	buf_puts(b, num);
	if (!strpbrk(num, ".eEnNI"))
		buf_puts(b, ".0");
}

void csv_date(struct buf *b, int64_t day)
{
	int64_t y;
	unsigned m, d;

	civil_date_from_days(day, &y, &m, &d);
	buf_printf(b, "%04" PRId64 "-%02u-%02u", y, m, d);
}
