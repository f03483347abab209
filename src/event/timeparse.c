/*
 * timeparse.c - ISO-8601 parsing and formatting on integer microseconds
 * (timeparse.h). Calendar arithmetic uses Howard Hinnant's days-from-civil
 * algorithms, which are exact for the proleptic Gregorian calendar and
 * need no time zone database and no gmtime().
 */
#include "event/timeparse.h"

#include <stdio.h>

#include "core/banned.h"

int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

bool time_parse_iso8601(const char *s, size_t len, int64_t *us)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac_us = 0, offset_s = 0, days, total;
	size_t i = 10;

	if (len < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
	    !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return false;
	if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
		i++;
		if (len < i + 5 || s[i + 2] != ':' || !digits(s + i, 2, &h) ||
		    !digits(s + i + 3, 2, &mi))
			return false;
		i += 5;
		if (i < len && s[i] == ':') {
			if (len < i + 3 || !digits(s + i + 1, 2, &sec))
				return false;
			i += 3;
			if (i < len && (s[i] == '.' || s[i] == ',')) {
				int nd = 0;
				int64_t scale = 100000;
				bool round_up = false;
				i++;
				while (i < len && s[i] >= '0' && s[i] <= '9') {
					if (nd < 6)
						frac_us += (s[i] - '0') * scale, scale /= 10;
					else if (nd == 6)
						round_up = s[i] >= '5';
					nd++;
					i++;
				}
				if (!nd)
					return false;
				frac_us += round_up;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return false;
	}
	if (i < len) {
		if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			unsigned oh, om = 0;
			int sign = s[i] == '-' ? -1 : 1;
			i++;
			if (len < i + 2 || !digits(s + i, 2, &oh))
				return false;
			i += 2;
			if (i < len && s[i] == ':')
				i++;
			if (i < len) {
				if (len < i + 2 || !digits(s + i, 2, &om))
					return false;
				i += 2;
			}
			if (oh > 23 || om > 59 || i != len)
				return false;
			offset_s = sign * (int64_t)(oh * 3600 + om * 60);
		} else {
			return false;
		}
	}
	days = time_days_from_civil(y, mo, d);
	total = (days * 86400 + h * 3600 + mi * 60 + sec - offset_s) * 1000000 +
		frac_us;
	if (total < TIME_MIN_US || total > TIME_MAX_US)
		return false;
	*us = total;
	return true;
}

size_t time_format_iso8601(int64_t t, char *out, size_t cap)
{
	int64_t secs = time_floor_div(t, 1000000);
	int64_t frac = t - secs * 1000000;
	int64_t days = time_floor_div(secs, 86400);
	int64_t sod = secs - days * 86400;
	int64_t y;
	unsigned m, d;
	int n;

	time_civil_from_days(days, &y, &m, &d);
	n = snprintf(out, cap, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ",
		     (long long)y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
		     (int)(sod % 60), (long long)frac);
	return n < 0 ? 0 : (size_t)n;
}
