/*
 * hive.c - Hive partition paths (hive.h): building them for the streaming
 * jobs' output, and parsing them out of object paths for the batch jobs
 * (walking the '/'-separated components without copying them, allocating
 * only the decoded value the caller keeps). Pure functions, any thread.
 */
#include "core/hive.h"
#include "core/civil.h"
#include "core/hex.h"
#include "core/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const char *const col_names[HIVE__COUNT] = { "device_id", "window_start",
						    "date" };

/* NUL is a control character here, escaped like the others. */
static int needs_escape(unsigned char c)
{
	if (c < 0x20 || c == 0x7f)
		return 1;
	switch (c) { /* a jump table, not a strchr per byte: every key passes here */
	case '"': case '#': case '%': case '\'': case '*': case '/': case ':': case '=':
	case '?': case '\\': case '[': case ']': case '^': case '{':
		return 1;
	default:
		return 0;
	}
}

#define HIVE_NULL "__HIVE_DEFAULT_PARTITION__"

void hive_escape(struct buf *out, const char *value, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (needs_escape(c)) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			buf_append(out, e, 3);
		} else {
			buf_putc(out, c);
		}
	}
}

bool hive_key_ok(const char *key, size_t len)
{
	size_t n = strlen(col_names[HIVE_DEVICE_ID]) + 1; /* "device_id=" */

	if (!len)
		return false;
	if (len == strlen(HIVE_NULL) && !memcmp(key, HIVE_NULL, len))
		return false;
	/* an escape takes 3 bytes: a short key fits whatever it holds
	 * (every record's key passes here) */
	if (len <= (HIVE_MAX_COMPONENT - n) / 3)
		return true;
	for (size_t i = 0; i < len && n <= HIVE_MAX_COMPONENT; i++)
		n += needs_escape((unsigned char)key[i]) ? 3 : 1;
	return n <= HIVE_MAX_COMPONENT;
}

/* "yyyy-MM-dd" of t into p (10 bytes; a year of 0..9999), or false. The
 * output layouts name one directory per window or day: printf cost more
 * than the rest of the name. */
static bool put_date(char *p, const struct civil_time *t)
{
	if (t->year < 0 || t->year > 9999)
		return false;
	p[0] = (char)('0' + t->year / 1000);
	p[1] = (char)('0' + t->year / 100 % 10);
	p[2] = (char)('0' + t->year / 10 % 10);
	p[3] = (char)('0' + t->year % 10);
	p[4] = '-';
	p[5] = (char)('0' + t->month / 10);
	p[6] = (char)('0' + t->month % 10);
	p[7] = '-';
	p[8] = (char)('0' + t->day / 10);
	p[9] = (char)('0' + t->day % 10);
	return true;
}

void hive_window_start(struct buf *out, int64_t us)
{
	struct civil_time t;
	char s[16];

	civil_from_micros(us, &t);
	if (!put_date(s, &t)) {
		buf_printf(out, "%04lld-%02u-%02u %02u_%02u", (long long)t.year, t.month, t.day,
			   t.hour, t.minute);
		return;
	}
	s[10] = ' ';
	s[11] = (char)('0' + t.hour / 10);
	s[12] = (char)('0' + t.hour % 10);
	s[13] = '_';
	s[14] = (char)('0' + t.minute / 10);
	s[15] = (char)('0' + t.minute % 10);
	buf_append(out, s, 16);
}

void hive_date(struct buf *out, int64_t us)
{
	struct civil_time t;
	char s[10];

	civil_from_micros(us, &t);
	if (!put_date(s, &t)) {
		buf_printf(out, "%04lld-%02u-%02u", (long long)t.year, t.month, t.day);
		return;
	}
	buf_append(out, s, 10);
}

int hive_layout_parse(const char *spec, unsigned allowed, struct hive_layout *out,
		      char *why, size_t whylen)
{
	const char *p = spec;

	out->n = 0;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int found = -1;
		for (int c = 0; c < HIVE__COUNT; c++)
			if (strlen(col_names[c]) == len && !strncmp(col_names[c], p, len) &&
			    (allowed >> c & 1))
				found = c;
		if (found < 0 || out->n >= HIVE_MAX_COLS || hive_layout_has(out, found)) {
			snprintf(why, whylen,
				 "partition column '%.*s' is not one of (or repeats) the allowed: %s%s%s",
				 (int)len, p, allowed & 1 ? "device_id " : "",
				 allowed & 2 ? "window_start " : "", allowed & 4 ? "date" : "");
			return -1;
		}
		out->cols[out->n++] = (enum hive_col)found;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

int hive_layout_has(const struct hive_layout *l, enum hive_col c)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->cols[i] == c)
			return 1;
	return 0;
}

void hive_layout_text(struct buf *out, const struct hive_layout *l)
{
	if (!l->n)
		buf_puts(out, "none");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			buf_putc(out, ',');
		buf_puts(out, col_names[l->cols[i]]);
	}
}

void hive_path(struct buf *out, const struct hive_layout *l, const char *key,
	       size_t key_len, int64_t time_us)
{
	for (size_t i = 0; i < l->n; i++) {
		buf_puts(out, col_names[l->cols[i]]);
		buf_putc(out, '=');
		switch (l->cols[i]) {
		case HIVE_DEVICE_ID:
			hive_escape(out, key, key_len);
			break;
		case HIVE_WINDOW_START:
			hive_window_start(out, time_us);
			break;
		case HIVE_DATE:
			hive_date(out, time_us);
			break;
		case HIVE__COUNT:
			break;
		}
		buf_putc(out, '/');
	}
}

/* ---- reading paths ---- */

char *hive_unescape(const char *s, size_t len, size_t *out_len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len &&
		    (hi = hex_digit(s[i + 1])) >= 0 &&
		    (lo = hex_digit(s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return out;
}

bool hive_value(const char *rel, const char *name, char **value)
{
	size_t len;
	return hive_value_n(rel, name, value, &len);
}

bool hive_value_n(const char *rel, const char *name, char **value, size_t *len)
{
	size_t nlen = strlen(name);
	const char *best = NULL;
	size_t best_len = 0;
	const char *p = rel;

	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash)
			break; /* the last component is the file name */
		if ((size_t)(slash - p) > nlen && !strncmp(p, name, nlen) &&
		    p[nlen] == '=') {
			best = p + nlen + 1;
			best_len = (size_t)(slash - best);
		}
		p = slash + 1;
	}
	*len = 0;
	if (!best)
		return false;
	if (best_len == strlen(HIVE_NULL) && !strncmp(best, HIVE_NULL, best_len))
		*value = NULL;
	else
		*value = hive_unescape(best, best_len, len);
	return true;
}

bool hive_hidden(const char *rel)
{
	const char *p = rel;

	for (;;) {
		if (*p == '.' || *p == '_' || *p == '/' || *p == '\0')
			return true;
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
}
