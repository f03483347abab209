/*
 * csv.h - the percentile job's CSV: header names and value formatting.
 *
 * Format (RFC 4180): a header `device_id,date,event_duration_p95[,...]`,
 * one row per kept group, '\n' line ends, a field quoted only when it
 * holds a comma, a quote, CR or LF (quotes doubled), as Python's csv
 * module and Spark's writer do. Dates are YYYY-MM-DD. Numbers are the
 * shortest decimal that reads back to the same double (10.12, never
 * 10.119999999999999), with ".0" on whole numbers (10.0), like Python's
 * repr() and Java's Double.toString(); values of a FLOAT column are the
 * shortest form of the float (10.12, not 10.119999885559082).
 * Pure functions, any thread.
 */
#ifndef IOT_BATCH_CSV_H
#define IOT_BATCH_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* "event_duration_p95" for 0.95, "_p50" for 0.5, "_p99_9" for 0.999,
 * "_p100" for 1: the percent with '_' for a decimal point. */
void csv_percentile_name(double p, char *out, size_t len);

/* Appends s as one CSV field (quoted when needed). NULL: an empty field. */
void csv_field(struct buf *b, const char *s);

/* Appends the number (see above); as_float: d holds a float's value. */
void csv_number(struct buf *b, double d, bool as_float);

/* Appends YYYY-MM-DD of a day number (days since 1970-01-01). */
void csv_date(struct buf *b, int64_t day);

#endif
