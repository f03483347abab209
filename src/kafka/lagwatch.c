/*
 * lagwatch.c - see lagwatch.h.
 */
#include "core/clock.h"
#include "core/xalloc.h"
#include "kafka/lagwatch.h"
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* the job has published nothing for this long: it is held up */
#define HELD_S 3.0
/* how often the watch looks, and asks the broker while the job is held */
#define EVERY_S 2.0
/* the broker's answers, for all partitions together, per look */
#define ASK_BUDGET_S 1.0

struct lagwatch {
	rd_kafka_t *rk;
	char *topic;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	/* under lock: what the job published last, and when */
	struct lagwatch_part *parts;
	size_t n, cap;
	uint64_t gen;
	double published;
};

static void set_gauge(const struct lagwatch_part *p, int64_t end)
{
	if (end >= 0 && p->pos >= 0)
		metric_set(p->gauge, end > p->pos ? (double)(end - p->pos) : 0);
}

/* Asks the broker for the log ends of a copy of the published partitions
 * (without the lock: each answer may take a while), then sets the gauges
 * unless the job published again meanwhile. */
static void look(struct lagwatch *w, struct lagwatch_part *copy, size_t n, uint64_t gen)
{
	int64_t *end = xcalloc(n ? n : 1, sizeof(*end));
	double until = clock_mono_s() + ASK_BUDGET_S;

	for (size_t i = 0; i < n; i++) {
		double left = until - clock_mono_s();
		int64_t lo;
		end[i] = -1;
		if (left < 0.01 ||
		    rd_kafka_query_watermark_offsets(w->rk, w->topic, copy[i].id, &lo, &end[i],
						     (int)(left * 1000)) != RD_KAFKA_RESP_ERR_NO_ERROR)
			end[i] = -1;
	}
	pthread_mutex_lock(&w->lock);
	if (w->gen == gen && !w->stop)
		for (size_t i = 0; i < n; i++)
			set_gauge(&copy[i], end[i]);
	pthread_mutex_unlock(&w->lock);
	free(end);
}

static void *run(void *arg)
{
	struct lagwatch *w = arg;
	struct lagwatch_part *copy = NULL;
	size_t cap = 0;

	pthread_setname_np(pthread_self(), "iot-lagwatch");
	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec ts = clock_mono_timespec(clock_mono_s() + EVERY_S);
		size_t n;
		uint64_t gen;
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		if (w->stop || !w->n || clock_mono_s() - w->published < HELD_S)
			continue;
		if (cap < w->n) {
			cap = w->n;
			copy = xrealloc(copy, cap * sizeof(*copy));
		}
		n = w->n;
		gen = w->gen;
		memcpy(copy, w->parts, n * sizeof(*copy));
		pthread_mutex_unlock(&w->lock);
		look(w, copy, n, gen);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	free(copy);
	return NULL;
}

struct lagwatch *lagwatch_start(rd_kafka_t *rk, const char *topic)
{
	struct lagwatch *w = xcalloc(1, sizeof(*w));
	pthread_condattr_t ca;

	w->rk = rk;
	w->topic = xstrdup(topic);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->published = clock_mono_s();
	if (pthread_create(&w->th, NULL, run, w) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w->topic);
		free(w);
		return NULL;
	}
	return w;
}

void lagwatch_publish(struct lagwatch *w, const struct lagwatch_part *parts, size_t n)
{
	if (!w) {
		for (size_t i = 0; i < n; i++)
			set_gauge(&parts[i], parts[i].end);
		return;
	}
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n; i++)
		set_gauge(&parts[i], parts[i].end);
	if (w->cap < n) {
		w->cap = n;
		w->parts = xrealloc(w->parts, n * sizeof(*w->parts));
	}
	if (n)
		memcpy(w->parts, parts, n * sizeof(*parts));
	w->n = n;
	w->gen++;
	w->published = clock_mono_s();
	pthread_mutex_unlock(&w->lock);
}

void lagwatch_stop(struct lagwatch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->parts);
	free(w->topic);
	free(w);
}
