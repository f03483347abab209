/*
 * history.h - a bounded, in-memory time series store: the last `capacity`
 * samples of up to `max_series` named series, for the web console's
 * charts (console.c samples the registry into it once a second).
 *
 *	struct history *h = history_create(900, 96);
 *	struct history_value v[] = { { "produced_per_s", 812.5 }, ... };
 *	history_push(h, now, v, n);          // one sample: a time and values
 *	history_render_json(h, since, &out); // samples newer than `since`
 *	history_destroy(h);
 *
 * Memory is bounded by construction: the times take capacity doubles, each
 * series capacity doubles, allocated when it first appears, and a series
 * beyond max_series is not created (its values are counted as dropped).
 * history_bound_bytes() is that bound, history_memory_bytes() what is
 * allocated now. A series absent from a sample holds null there, as it
 * does before it first appeared.
 *
 * Threads: one writer (history_push) and any number of readers; each call
 * takes the history's mutex for the time of a copy, never while it
 * formats or allocates a response.
 */
#ifndef IOT_METRICS_HISTORY_H
#define IOT_METRICS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Series names are at most this long (longer ones are cut). */
#define HISTORY_NAME_MAX 64

struct history_value {
	const char *name;
	double value; /* NaN: no value in this sample (null) */
};

struct history;

/* capacity >= 1 samples, max_series >= 1. */
struct history *history_create(size_t capacity, size_t max_series);
void history_destroy(struct history *h); /* accepts NULL */

/* Appends a sample taken at `t` (seconds since the epoch); the oldest
 * one goes when the history is full. */
void history_push(struct history *h, double t, const struct history_value *v, size_t n);

/*
 * Appends to out one JSON object with the samples whose sequence number
 * is above `since` (0: all held):
 *   {"seq":S,"capacity":C,"series_max":M,"memory_bytes":B,"bound_bytes":X,
 *    "dropped":D,"t":[...],"series":{"name":[...],...}}
 * `seq` is the number of the newest sample (samples are numbered from 1);
 * a client passes it back as `since` to get only newer ones. Every
 * series' array is as long as "t", null where it had no value.
 */
void history_render_json(struct history *h, uint64_t since, struct buf *out);

/* Samples held, and the newest one's sequence number. */
size_t history_count(struct history *h);
uint64_t history_seq(struct history *h);
/*
 * The newest `n` values of series `name`, oldest first, into out (NaN
 * where none); returns how many samples there were (<= n). 0 when the
 * series does not exist.
 */
size_t history_tail(struct history *h, const char *name, double *out, size_t n);

size_t history_memory_bytes(struct history *h);
size_t history_bound_bytes(const struct history *h);

#endif
