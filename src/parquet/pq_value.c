/*
 * pq_value.c - names of Parquet enums, and value conversions shared by the
 * reader's users: INT96 and TIMESTAMP units to microseconds, ISO-8601
 * formatting (core/civil.h: plain arithmetic, thread-safe), and the shortest
 * decimal form of a float or double that reads back to the same bits.
 *
 * INT96 arithmetic wraps on purpose (facts §4.3): Spark's own overflowing
 * computation for year 290000 is undone exactly that way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "parquet/pq_int.h"

#include "core/civil.h"

#include "core/banned.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the Parquet codec assumes a little-endian host");

const char *pq_type_name(enum pq_type t)
{
	static const char *const n[] = { "BOOLEAN", "INT32", "INT64", "INT96",
					 "FLOAT", "DOUBLE", "BYTE_ARRAY",
					 "FIXED_LEN_BYTE_ARRAY" };
	return (unsigned)t < 8 ? n[t] : "UNKNOWN";
}

const char *pq_codec_name(enum pq_codec c)
{
	static const char *const n[] = { "UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
					 "BROTLI", "LZ4", "ZSTD", "LZ4_RAW" };
	return (unsigned)c < 8 ? n[c] : "UNKNOWN";
}

const char *pq_encoding_name(int e)
{
	static const char *const n[] = {
		"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
		"DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY",
		"DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT", "ALP",
	};
	return e >= 0 && e < 11 ? n[e] : "UNKNOWN";
}

bool pq_codec_parse(const char *s, enum pq_codec *out)
{
	static const struct { const char *name; enum pq_codec c; } t[] = {
		{ "none", PQ_CODEC_UNCOMPRESSED },
		{ "uncompressed", PQ_CODEC_UNCOMPRESSED },
		{ "snappy", PQ_CODEC_SNAPPY },
		{ "gzip", PQ_CODEC_GZIP },
		{ "zstd", PQ_CODEC_ZSTD },
		{ "lz4_raw", PQ_CODEC_LZ4_RAW },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcasecmp(s, t[i].name)) {
			*out = t[i].c;
			return true;
		}
	return false;
}

void pq_logical_describe(const struct pq_column *c, char *buf, size_t len)
{
	static const char *const units[] = { "MILLIS", "MICROS", "NANOS" };
	const char *u = (unsigned)c->unit < 3 ? units[c->unit] : "?";
	switch (c->logical) {
	case PQ_LOGICAL_STRING:
		snprintf(buf, len, "STRING");
		break;
	case PQ_LOGICAL_TIMESTAMP:
		snprintf(buf, len, "TIMESTAMP(%s,%s)", u,
			 c->utc ? "UTC" : "LOCAL");
		break;
	case PQ_LOGICAL_TIME:
		snprintf(buf, len, "TIME(%s,%s)", u, c->utc ? "UTC" : "LOCAL");
		break;
	case PQ_LOGICAL_DATE:
		snprintf(buf, len, "DATE");
		break;
	case PQ_LOGICAL_DECIMAL:
		snprintf(buf, len, "DECIMAL(%d,%d)", (int)c->precision,
			 (int)c->scale);
		break;
	case PQ_LOGICAL_INT:
		snprintf(buf, len, "INT(%d,%s)", c->int_bits,
			 c->int_signed ? "SIGNED" : "UNSIGNED");
		break;
	case PQ_LOGICAL_FLOAT16:
		snprintf(buf, len, "FLOAT16");
		break;
	case PQ_LOGICAL_UUID:
		snprintf(buf, len, "UUID");
		break;
	case PQ_LOGICAL_OTHER:
		snprintf(buf, len, "OTHER");
		break;
	default:
		if (len)
			buf[0] = 0;
	}
}

int64_t pq_int96_to_micros(const uint8_t v[12])
{
	uint64_t nanos = pq_le64(v);
	uint32_t jdn = pq_le32(v + 8);
	/* wrapping: (jdn - 2440588) * 86400e6 + nanos / 1000 */
	uint64_t days = (uint64_t)(int64_t)(int32_t)jdn - 2440588u;
	int64_t ns = (int64_t)nanos;
	int64_t us = ns / 1000 - (ns % 1000 < 0 ? 1 : 0);
	return (int64_t)(days * 86400000000ull + (uint64_t)us);
}

int64_t pq_timestamp_to_micros(int64_t v, enum pq_time_unit unit)
{
	switch (unit) {
	case PQ_MILLIS:
		if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000)
			return v < 0 ? INT64_MIN : INT64_MAX;
		return v * 1000;
	case PQ_NANOS:
		return civil_floor_div(v, 1000);
	default:
		return v;
	}
}

char *pq_format_micros(int64_t micros, char *buf, size_t len)
{
	civil_format_micros(micros, buf, len);
	return buf;
}

void pq_format_double(double d, char *buf, size_t len)
{
	if (isnan(d)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, len, d < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (d == 0 && signbit(d)) {
		/* "-0" would read back as the integer 0 in most JSON parsers */
		snprintf(buf, len, "-0.0");
		return;
	}
	/* %.15g is the shortest form whenever one of <= 15 digits exists
	 * (%g drops trailing zeros); otherwise 16 or 17 digits are needed. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

void pq_format_float(float f, char *buf, size_t len)
{
	if (isnan(f) || isinf(f) || (f == 0 && signbit(f))) {
		pq_format_double(f, buf, len);
		return;
	}
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, len, "%.*g", prec, (double)f);
		if (strtof(buf, NULL) == f)
			return;
	}
}

float pq_half_to_float(uint16_t h)
{
	int e = (h >> 10) & 0x1f;
	int m = h & 0x3ff;
	float v;
	if (e == 0)
		v = ldexpf((float)m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexpf((float)(m | 0x400), e - 25);
	return (h & 0x8000) ? -v : v;
}

bool pq_stat_to_i64(const struct pq_column *c, struct pq_bytes v, int64_t *out)
{
	if (c->type == PQ_INT32 && v.len == 4) {
		int32_t x = (int32_t)pq_le32(v.ptr);
		*out = c->logical == PQ_LOGICAL_INT && !c->int_signed
			       ? (int64_t)(uint32_t)x : x;
		return true;
	}
	if (c->type == PQ_INT64 && v.len == 8) {
		int64_t x = (int64_t)pq_le64(v.ptr);
		if (c->logical == PQ_LOGICAL_INT && !c->int_signed && x < 0)
			return false; /* above INT64_MAX as unsigned */
		*out = c->logical == PQ_LOGICAL_TIMESTAMP
			       ? pq_timestamp_to_micros(x, c->unit) : x;
		return true;
	}
	return false;
}

bool pq_stat_to_double(const struct pq_column *c, struct pq_bytes v,
		       double *out)
{
	int64_t i;
	if (c->type == PQ_FLOAT && v.len == 4) {
		float f;
		memcpy(&f, v.ptr, 4);
		*out = f;
		return true;
	}
	if (c->type == PQ_DOUBLE && v.len == 8) {
		memcpy(out, v.ptr, 8);
		return true;
	}
	if (pq_stat_to_i64(c, v, &i)) {
		*out = (double)i;
		return true;
	}
	return false;
}
