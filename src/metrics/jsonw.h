/*
 * jsonw.h - writing JSON into a struct buf, for the console's API
 * (console.c). Only what the API needs: strings, numbers, and the
 * punctuation done by the caller.
 *
 * Strings come from anywhere (configuration values, log lines, object
 * names), so jsonw_str() writes valid JSON whatever the bytes are:
 * control characters, quotes and backslashes are escaped, a byte that is
 * not part of valid UTF-8 becomes U+FFFD, and '<', '>', '&' are written
 * as \u003c, \u003e, \u0026 so that no string can close a <script> or be
 * sniffed as HTML by a browser. Numbers that JSON cannot hold (NaN,
 * infinities) are written as null.
 */
#ifndef IOT_METRICS_JSONW_H
#define IOT_METRICS_JSONW_H

#include <stddef.h>

#include "core/buf.h"

/* Appends s (NUL-terminated; NULL writes null) as a JSON string. */
void jsonw_str(struct buf *b, const char *s);
/* Appends n bytes of s, which may hold NUL bytes, as a JSON string. */
void jsonw_strn(struct buf *b, const char *s, size_t n);
/* Appends v: integers exactly (up to 2^53), others with up to 17
 * significant digits (the shortest that reads back), NaN and infinities
 * as null. */
void jsonw_num(struct buf *b, double v);
/* The same with at most 6 significant digits for non-integers: chart
 * data, where the 17 digits of a rate are noise that costs bytes. */
void jsonw_num6(struct buf *b, double v);
/* Appends "key": (escaped). */
void jsonw_key(struct buf *b, const char *key);

#endif
