/*
 * metrics.c - the registry behind metrics.h.
 *
 * Series live in a singly linked list in registration order, grouped at
 * render time by family name so each family's HELP and TYPE lines appear
 * once. Registration and rendering hold `reg_lock`; updates never do:
 * counters are atomic u64, gauges and sums are atomic u64 holding a
 * double's bits (updated with compare-and-swap). The list only grows, so a
 * handle returned to a worker stays valid while the renderer walks it.
 */
#include "metrics/metrics.h"
#include "core/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* M_FCOUNTER: a counter whose value is a double set by a collector. */
enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM, M_FCOUNTER };

struct metric {
	struct metric *next;
	enum mtype type;
	char *name;
	char *help;
	char *labels; /* may be NULL */
	_Atomic uint64_t value;     /* counter count, or gauge double bits */
	/* histogram */
	size_t nbounds;
	double bounds[METRICS_MAX_BUCKETS];
	_Atomic uint64_t buckets[METRICS_MAX_BUCKETS + 1];
	_Atomic uint64_t sum_bits;
	_Atomic uint64_t count;
};

struct collector {
	metrics_collector_fn fn;
	void *opaque;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *head, *tail;
static struct collector collectors[16];
static size_t ncollectors;

static uint64_t dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static int streq_null(const char *a, const char *b)
{
	if (!a || !b)
		return a == b || (!a && !*b) || (!b && !*a);
	return !strcmp(a, b);
}

static struct metric *reg(enum mtype type, const char *name, const char *help,
			  const char *labels)
{
	struct metric *m;

	pthread_mutex_lock(&reg_lock);
	for (m = head; m; m = m->next)
		if (!strcmp(m->name, name) && streq_null(m->labels, labels))
			break;
	if (!m) {
		m = xcalloc(1, sizeof(*m));
		m->type = type;
		m->name = xstrdup(name);
		m->help = xstrdup(help);
		m->labels = labels && *labels ? xstrdup(labels) : NULL;
		if (type == M_GAUGE || type == M_FCOUNTER)
			atomic_store(&m->value, dbits(0.0));
		atomic_store(&m->sum_bits, dbits(0.0));
		if (tail)
			tail->next = m;
		else
			head = m;
		tail = m;
	}
	pthread_mutex_unlock(&reg_lock);
	return m;
}

struct metric *metrics_counter(const char *name, const char *help,
			       const char *labels)
{
	return reg(M_COUNTER, name, help, labels);
}

struct metric *metrics_gauge(const char *name, const char *help,
			     const char *labels)
{
	return reg(M_GAUGE, name, help, labels);
}

struct metric *metrics_counter_float(const char *name, const char *help,
				     const char *labels)
{
	return reg(M_FCOUNTER, name, help, labels);
}

struct metric *metrics_histogram(const char *name, const char *help,
				 const char *labels, const double *bounds,
				 size_t nbounds)
{
	struct metric *m = reg(M_HISTOGRAM, name, help, labels);

	if (nbounds > METRICS_MAX_BUCKETS)
		nbounds = METRICS_MAX_BUCKETS;
	pthread_mutex_lock(&reg_lock);
	if (!m->nbounds) {
		memcpy(m->bounds, bounds, nbounds * sizeof(*bounds));
		m->nbounds = nbounds;
	}
	pthread_mutex_unlock(&reg_lock);
	return m;
}

void metric_inc(struct metric *m)
{
	atomic_fetch_add_explicit(&m->value, 1, memory_order_relaxed);
}

void metric_add(struct metric *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

static void atomic_add_double(_Atomic uint64_t *slot, double v)
{
	uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
		slot, &old, dbits(bitsd(old) + v), memory_order_relaxed,
		memory_order_relaxed))
		;
}

void metric_set(struct metric *m, double v)
{
	atomic_store_explicit(&m->value, dbits(v), memory_order_relaxed);
}

void metric_observe(struct metric *m, double v)
{
	size_t i;

	for (i = 0; i < m->nbounds; i++)
		if (v <= m->bounds[i])
			break;
	atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
	atomic_add_double(&m->sum_bits, v);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

double metric_value(const struct metric *m)
{
	uint64_t v = atomic_load_explicit(&((struct metric *)m)->value,
					  memory_order_relaxed);
	if (m->type == M_GAUGE || m->type == M_FCOUNTER)
		return bitsd(v);
	if (m->type == M_HISTOGRAM)
		return (double)atomic_load(&((struct metric *)m)->count);
	return (double)v;
}

double metrics_sum(const char *name, const char *match, size_t *found)
{
	double sum = 0;
	size_t n = 0;

	pthread_mutex_lock(&reg_lock);
	for (struct metric *m = head; m; m = m->next) {
		if (strcmp(m->name, name))
			continue;
		if (match && *match && !(m->labels && strstr(m->labels, match)))
			continue;
		sum += metric_value(m);
		n++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (found)
		*found = n;
	return sum;
}

void metrics_add_collector(metrics_collector_fn fn, void *opaque)
{
	pthread_mutex_lock(&reg_lock);
	if (ncollectors < sizeof(collectors) / sizeof(collectors[0]))
		collectors[ncollectors++] = (struct collector){ fn, opaque };
	pthread_mutex_unlock(&reg_lock);
}

static void fmt_double(char *out, size_t cap, double v)
{
	if (isnan(v))
		snprintf(out, cap, "NaN");
	else if (isinf(v))
		snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, cap, "%.0f", v);
	else {
		/* the shortest of 15..17 digits that reads back exactly: bucket
		 * bounds print as le="0.1", not le="0.10000000000000001" */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(out, cap, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
}

static void series(struct buf *out, const char *name, const char *suffix,
		   const char *labels, const char *extra, const char *value)
{
	int has = (labels && *labels) || (extra && *extra);

	buf_printf(out, "%s%s", name, suffix);
	if (has) {
		buf_putc(out, '{');
		if (labels && *labels)
			buf_puts(out, labels);
		if (extra && *extra) {
			if (labels && *labels)
				buf_putc(out, ',');
			buf_puts(out, extra);
		}
		buf_putc(out, '}');
	}
	buf_printf(out, " %s\n", value);
}

static void render_one(struct buf *out, struct metric *m)
{
	char v[64], le[80];

	switch (m->type) {
	case M_COUNTER:
		snprintf(v, sizeof(v), "%llu",
			 (unsigned long long)atomic_load(&m->value));
		series(out, m->name, "", m->labels, NULL, v);
		break;
	case M_GAUGE:
	case M_FCOUNTER:
		fmt_double(v, sizeof(v), bitsd(atomic_load(&m->value)));
		series(out, m->name, "", m->labels, NULL, v);
		break;
	case M_HISTOGRAM: {
		uint64_t cum = 0;
		for (size_t i = 0; i <= m->nbounds; i++) {
			char b[64];
			cum += atomic_load(&m->buckets[i]);
			if (i < m->nbounds)
				fmt_double(b, sizeof(b), m->bounds[i]);
			else
				snprintf(b, sizeof(b), "+Inf");
			snprintf(le, sizeof(le), "le=\"%s\"", b);
			snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
			series(out, m->name, "_bucket", m->labels, le, v);
		}
		fmt_double(v, sizeof(v), bitsd(atomic_load(&m->sum_bits)));
		series(out, m->name, "_sum", m->labels, NULL, v);
		/* _count equals the +Inf bucket by definition */
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
		series(out, m->name, "_count", m->labels, NULL, v);
		break;
	}
	}
}

static const char *type_name(enum mtype t)
{
	return t == M_COUNTER || t == M_FCOUNTER ? "counter"
	       : t == M_GAUGE				? "gauge"
							: "histogram";
}

void metrics_collect(void)
{
	struct collector cs[16];
	size_t nc;

	pthread_mutex_lock(&reg_lock);
	nc = ncollectors;
	memcpy(cs, collectors, nc * sizeof(cs[0]));
	pthread_mutex_unlock(&reg_lock);
	for (size_t i = 0; i < nc; i++)
		cs[i].fn(cs[i].opaque);
}

void metrics_visit(const char *name, metrics_visit_fn fn, void *opaque)
{
	pthread_mutex_lock(&reg_lock);
	for (struct metric *m = head; m; m = m->next) {
		struct metric_view v;
		if (strcmp(m->name, name))
			continue;
		memset(&v, 0, sizeof(v));
		v.labels = m->labels ? m->labels : "";
		v.value = metric_value(m);
		if (m->type == M_HISTOGRAM) {
			v.nbounds = m->nbounds;
			v.bounds = m->bounds;
			for (size_t i = 0; i <= m->nbounds; i++)
				v.buckets[i] = atomic_load(&m->buckets[i]);
			v.sum = bitsd(atomic_load(&m->sum_bits));
		}
		fn(opaque, &v);
	}
	pthread_mutex_unlock(&reg_lock);
}

/* Prometheus base name of a family (counters are exposed with _total). */
void metrics_render(struct buf *out)
{
	struct metric *m, *f;

	metrics_collect();
	pthread_mutex_lock(&reg_lock);
	for (m = head; m; m = m->next) {
		/* render each family once, at its first series */
		for (f = head; f != m; f = f->next)
			if (!strcmp(f->name, m->name))
				break;
		if (f != m)
			continue;
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name,
			   m->help, m->name, type_name(m->type));
		for (f = m; f; f = f->next)
			if (!strcmp(f->name, m->name))
				render_one(out, f);
	}
	pthread_mutex_unlock(&reg_lock);
}

void metrics_label_escape(char *out, size_t cap, const char *value)
{
	size_t n = 0;

	if (!cap)
		return;
	for (; *value && n + 2 < cap; value++) {
		if (*value == '\\' || *value == '"') {
			out[n++] = '\\';
			out[n++] = *value;
		} else if (*value == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *value;
		}
	}
	out[n] = '\0';
}

void metrics_reset(void)
{
	struct metric *m, *next;

	pthread_mutex_lock(&reg_lock);
	for (m = head; m; m = next) {
		next = m->next;
		free(m->name);
		free(m->help);
		free(m->labels);
		free(m);
	}
	head = tail = NULL;
	ncollectors = 0;
	pthread_mutex_unlock(&reg_lock);
}
