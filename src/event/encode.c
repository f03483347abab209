/*
 * encode.c - JSON encoding of events (codec.h), used by the producer.
 * Fixed-decimal floats and microsecond timestamps are written from
 * integers (no printf on the hot path), which is exact and several times
 * faster than "%.2f". Other doubles use the shortest round-trip form.
 */
#include "event/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* value * 10^-scale as text, e.g. (2437, 2) -> "24.37". */
static char *put_fixed(char *p, int64_t scaled, int scale)
{
	uint64_t u, ip, fp, div = 1;
	if (scaled < 0) {
		*p++ = '-';
		u = (uint64_t)0 - (uint64_t)scaled;
	} else {
		u = (uint64_t)scaled;
	}
	for (int i = 0; i < scale; i++)
		div *= 10;
	ip = u / div;
	fp = u % div;
	p = put_u64(p, ip);
	if (scale > 0) {
		*p++ = '.';
		for (int i = scale - 1; i >= 0; i--) {
			p[i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		p += scale;
	}
	return p;
}

size_t ev_format_double(double d, char *out, size_t cap)
{
	int n = 0;
	if (!isfinite(d))
		return (size_t)snprintf(out, cap, "null");
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(out, cap, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	return n < 0 ? 0 : (size_t)n;
}

/* Appends s as a JSON string; runs that need no escape go in one copy. */
static void put_json_string(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	buf_grow(out, n + 2);
	buf_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(out, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			buf_append(out, esc, 2);
		} else {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			buf_append(out, esc, 6);
		}
	}
	buf_append(out, s + run, n - run);
	buf_putc(out, '"');
}

void ev_encode(const struct event_schema *s, const struct event *ev,
	       struct buf *out)
{
	bool first = true;

	buf_putc(out, '{');
	for (size_t i = 0; i < s->nfields; i++) {
		const struct schema_field *f = &s->fields[i];
		const struct ev_value *v = &ev->v[i];
		char num[64], *p = num;

		if (!(ev->present >> i & 1))
			continue;
		if (!first)
			buf_append(out, ", ", 2);
		first = false;
		/* the member name, with its quotes, colon and space */
		buf_append(out, f->json_key, f->json_key_len);
		switch (f->type) {
		case FIELD_DATETIME:
			p = put_fixed(num, v->i, 6);
			buf_append(out, num, (size_t)(p - num));
			break;
		case FIELD_FLOAT: {
			double scale = 1;
			for (int k = 0; k < f->gen.decimals; k++)
				scale *= 10;
			/* fixed decimals while the scaled value is an exact
			 * integer for put_fixed (below 2^53; llround overflowed
			 * int64_t from 9.2e18, e.g. 1e12 at 9 decimals) */
			if (f->gen.decimals >= 0 && fabs(v->d * scale) < 0x1p53) {
				p = put_fixed(num, (int64_t)llround(v->d * scale),
					      f->gen.decimals);
				buf_append(out, num, (size_t)(p - num));
			} else {
				buf_append(out, num, ev_format_double(v->d, num, sizeof(num)));
			}
			break;
		}
		case FIELD_INT:
			if (v->i < 0) {
				*p++ = '-';
				p = put_u64(p, (uint64_t)0 - (uint64_t)v->i);
			} else {
				p = put_u64(p, (uint64_t)v->i);
			}
			buf_append(out, num, (size_t)(p - num));
			break;
		case FIELD_STRING:
			put_json_string(out, v->s.p, v->s.len);
			break;
		case FIELD_ENUM:
			put_json_string(out, f->values[v->i], f->value_lens[v->i]);
			break;
		}
	}
	buf_putc(out, '}');
}
