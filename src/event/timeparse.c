/*
 * timeparse.c - ISO-8601 parsing on integer microseconds (timeparse.h):
 * the date, time and offset are read digit by digit and checked field by
 * field (a 30 February is refused, not rolled over), then turned into
 * microseconds with the calendar arithmetic of core/civil.h. Hand-written
 * because strptime() reads no fractions of a second, and its struct tm
 * would still need timegm() and a second pass for the offset. Pure
 * functions, any thread.
 */
#include "event/timeparse.h"

#include "core/civil.h"

#include "core/banned.h"

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

bool time_parse_iso8601(const char *s, size_t len, int64_t *us)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac_us = 0, offset_s = 0, days, total;
	size_t i = 10;

	if (len < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
	    !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > civil_days_in_month(y, mo))
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
	days = civil_days_from_date(y, mo, d);
	total = (days * 86400 + h * 3600 + mi * 60 + sec - offset_s) * 1000000 +
		frac_us;
	if (total < TIME_MIN_US || total > TIME_MAX_US)
		return false;
	*us = total;
	return true;
}
