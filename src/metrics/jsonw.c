/*
 * jsonw.c - the JSON writer of jsonw.h. Pure functions over a struct buf:
 * any thread, no state.
 *
 * UTF-8 is checked as RFC 3629 defines it (no overlong forms, no
 * surrogates, nothing above U+10FFFF); each byte that does not start a
 * valid sequence is replaced by U+FFFD and the scan goes on at the next
 * byte, so the output is always valid JSON and as close to the input as
 * it can be.
 */
#include "metrics/jsonw.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void jsonw_strn(struct buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	buf_putc(b, '"');
	while (i < n) {
		unsigned c = s[i];
		size_t len;
		switch (c) {
		case '"':
			buf_puts(b, "\\\"");
			i++;
			continue;
		case '\\':
			buf_puts(b, "\\\\");
			i++;
			continue;
		case '\n':
			buf_puts(b, "\\n");
			i++;
			continue;
		case '\r':
			buf_puts(b, "\\r");
			i++;
			continue;
		case '\t':
			buf_puts(b, "\\t");
			i++;
			continue;
		case '<':
		case '>':
		case '&':
			buf_printf(b, "\\u%04x", c);
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
			i++;
			continue;
		}
		len = utf8_len(s + i, n - i);
		if (!len) {
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		buf_append(b, s + i, len);
		i += len;
	}
	buf_putc(b, '"');
}

void jsonw_str(struct buf *b, const char *s)
{
	if (!s)
		buf_puts(b, "null");
	else
		jsonw_strn(b, s, strlen(s));
}

void jsonw_num(struct buf *b, double v)
{
	char t[40];

	if (!isfinite(v)) {
		buf_puts(b, "null");
		return;
	}
	if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
		buf_printf(b, "%.0f", v);
		return;
	}
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(t, sizeof(t), "%.*g", prec, v);
		if (strtod(t, NULL) == v)
			break;
	}
	buf_puts(b, t);
}

void jsonw_key(struct buf *b, const char *key)
{
	jsonw_str(b, key);
	buf_putc(b, ':');
}

void jsonw_num6(struct buf *b, double v)
{
	if (!isfinite(v))
		buf_puts(b, "null");
	else if (v == floor(v) && fabs(v) <= 9007199254740992.0)
		buf_printf(b, "%.0f", v);
	else
		buf_printf(b, "%.6g", v);
}
