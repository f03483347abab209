/*
 * history.c - the bounded time series store of history.h.
 *
 * One ring of sample times and, per series, a ring of values of the same
 * capacity, indexed alike: slot `head` is written next, the `count`
 * samples before it (modulo capacity) are held. A series' ring is
 * allocated when the series first appears and filled with NaN (no value);
 * each push writes one slot of every series, NaN where the sample has no
 * value for it, so the rings always line up with the times.
 *
 * Series are found by a linear search over their names. With the few
 * dozen series a pipeline has, and one push a second, that costs
 * microseconds; a hash would cost more code than it saves.
 *
 * Readers copy what they need under the mutex and format afterwards, so
 * the writer (the console's sampler thread) waits at most for a memcpy.
 */
#include "metrics/history.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "metrics/jsonw.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct series {
	char name[HISTORY_NAME_MAX];
	double *v; /* capacity values */
};

struct history {
	pthread_mutex_t lock;
	size_t cap, max_series, nseries;
	double *t;
	size_t head, count;
	uint64_t seq;
	uint64_t dropped;
	struct series *series;
};

struct history *history_create(size_t capacity, size_t max_series)
{
	struct history *h = xcalloc(1, sizeof(*h));

	IOT_ASSERT(capacity >= 1 && max_series >= 1);
	pthread_mutex_init(&h->lock, NULL);
	h->cap = capacity;
	h->max_series = max_series;
	h->t = xcalloc(capacity, sizeof(*h->t));
	h->series = xcalloc(max_series, sizeof(*h->series));
	return h;
}

void history_destroy(struct history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nseries; i++)
		free(h->series[i].v);
	free(h->series);
	free(h->t);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Called with the lock held. NULL when the series is new and there is no
 * room for it. */
static struct series *find_or_add(struct history *h, const char *name)
{
	struct series *s;

	for (size_t i = 0; i < h->nseries; i++)
		if (!strncmp(h->series[i].name, name, HISTORY_NAME_MAX - 1))
			return &h->series[i];
	if (h->nseries == h->max_series)
		return NULL;
	s = &h->series[h->nseries++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->v = xmalloc(st_mult(h->cap, sizeof(*s->v)));
	for (size_t i = 0; i < h->cap; i++)
		s->v[i] = NAN;
	return s;
}

void history_push(struct history *h, double t, const struct history_value *v, size_t n)
{
	pthread_mutex_lock(&h->lock);
	h->t[h->head] = t;
	for (size_t i = 0; i < h->nseries; i++)
		h->series[i].v[h->head] = NAN;
	for (size_t i = 0; i < n; i++) {
		struct series *s = find_or_add(h, v[i].name);
		if (s)
			s->v[h->head] = v[i].value;
		else
			h->dropped++;
	}
	h->head = (h->head + 1) % h->cap;
	if (h->count < h->cap)
		h->count++;
	h->seq++;
	pthread_mutex_unlock(&h->lock);
}

/* Index of the k-th held sample, oldest first (lock held). */
static size_t slot(const struct history *h, size_t k)
{
	return (h->head + h->cap - h->count + k) % h->cap;
}

void history_render_json(struct history *h, uint64_t since, struct buf *out)
{
	size_t k, first, ns, bytes, bound;
	uint64_t seq, dropped;
	double *vals;
	char (*names)[HISTORY_NAME_MAX];

	pthread_mutex_lock(&h->lock);
	seq = h->seq;
	k = since >= seq ? 0 : seq - since < h->count ? (size_t)(seq - since) : h->count;
	first = h->count - k;
	ns = h->nseries;
	dropped = h->dropped;
	vals = xcalloc(st_mult(ns + 1, k ? k : 1), sizeof(*vals));
	names = xcalloc(ns ? ns : 1, sizeof(*names));
	for (size_t i = 0; i < k; i++)
		vals[i] = h->t[slot(h, first + i)];
	for (size_t s = 0; s < ns; s++) {
		memcpy(names[s], h->series[s].name, HISTORY_NAME_MAX);
		for (size_t i = 0; i < k; i++)
			vals[(s + 1) * k + i] = h->series[s].v[slot(h, first + i)];
	}
	pthread_mutex_unlock(&h->lock);
	bytes = history_memory_bytes(h);
	bound = history_bound_bytes(h);

	buf_printf(out, "{\"seq\":%llu,\"capacity\":%zu,\"series_max\":%zu,"
			"\"memory_bytes\":%zu,\"bound_bytes\":%zu,\"dropped\":%llu,\"t\":[",
		   (unsigned long long)seq, h->cap, h->max_series, bytes, bound,
		   (unsigned long long)dropped);
	for (size_t i = 0; i < k; i++) {
		if (i)
			buf_putc(out, ',');
		/* milliseconds are enough for a chart's time axis */
		buf_printf(out, "%.3f", vals[i]);
	}
	buf_puts(out, "],\"series\":{");
	for (size_t s = 0; s < ns; s++) {
		if (s)
			buf_putc(out, ',');
		jsonw_key(out, names[s]);
		buf_putc(out, '[');
		for (size_t i = 0; i < k; i++) {
			if (i)
				buf_putc(out, ',');
			jsonw_num6(out, vals[(s + 1) * k + i]);
		}
		buf_putc(out, ']');
	}
	buf_puts(out, "}}");
	free(names);
	free(vals);
}

size_t history_count(struct history *h)
{
	size_t n;
	pthread_mutex_lock(&h->lock);
	n = h->count;
	pthread_mutex_unlock(&h->lock);
	return n;
}

uint64_t history_seq(struct history *h)
{
	uint64_t n;
	pthread_mutex_lock(&h->lock);
	n = h->seq;
	pthread_mutex_unlock(&h->lock);
	return n;
}

size_t history_tail(struct history *h, const char *name, double *out, size_t n)
{
	size_t k = 0;

	pthread_mutex_lock(&h->lock);
	for (size_t s = 0; s < h->nseries; s++) {
		if (strncmp(h->series[s].name, name, HISTORY_NAME_MAX - 1))
			continue;
		k = n < h->count ? n : h->count;
		for (size_t i = 0; i < k; i++)
			out[i] = h->series[s].v[slot(h, h->count - k + i)];
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return k;
}

size_t history_memory_bytes(struct history *h)
{
	size_t n;
	pthread_mutex_lock(&h->lock);
	n = h->nseries;
	pthread_mutex_unlock(&h->lock);
	return sizeof(*h) + h->cap * sizeof(double) + h->max_series * sizeof(struct series) +
	       n * h->cap * sizeof(double);
}

size_t history_bound_bytes(const struct history *h)
{
	return sizeof(*h) + h->cap * sizeof(double) +
	       h->max_series * (sizeof(struct series) + h->cap * sizeof(double));
}
