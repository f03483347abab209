/*
 * metrics.h - the process-wide metrics registry and its Prometheus text
 * exposition.
 *
 * Series are registered once (at start-up, or lazily the first time a
 * label value is seen) and return a stable handle; updates on the hot path
 * are lock-free atomics, so any thread may update any series. Rendering
 * (the HTTP thread) takes only the registry lock that registration takes,
 * never a worker's lock. Handles stay valid until metrics_reset() (tests)
 * or process exit.
 *
 * Naming follows Prometheus conventions: `iotpipe_` prefix, base units,
 * `_total` for counters, `_seconds`/`_bytes` suffixes. The one exception
 * is the standard process_* set (process.c), unprefixed as every client
 * library exports it. `labels` is a
 * pre-rendered label list without braces, e.g. `reason="bad_json"`, or
 * NULL; label values must be escaped by the caller (metrics_label_escape).
 *
 *	static struct metric *sent;
 *	sent = metrics_counter("iotpipe_events_produced_total",
 *			       "Events delivered to Kafka.", NULL);
 *	metric_inc(sent);
 */
#ifndef IOT_METRICS_H
#define IOT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct metric;

/* Registers or finds a series. Same name+labels returns the same handle. */
struct metric *metrics_counter(const char *name, const char *help,
			       const char *labels);
struct metric *metrics_gauge(const char *name, const char *help,
			     const char *labels);
/* A counter with a fractional value that a collector sets (CPU seconds). */
struct metric *metrics_counter_float(const char *name, const char *help,
				     const char *labels);
/*
 * `bounds` are the upper bounds of the buckets in increasing order (the
 * +Inf bucket is implicit); at most METRICS_MAX_BUCKETS. Copied.
 */
#define METRICS_MAX_BUCKETS 24
struct metric *metrics_histogram(const char *name, const char *help,
				 const char *labels, const double *bounds,
				 size_t nbounds);

void metric_inc(struct metric *m);
void metric_add(struct metric *m, uint64_t n);      /* counters */
void metric_set(struct metric *m, double v);        /* gauges, float counters */
void metric_observe(struct metric *m, double v);    /* histograms */
/* Current value of a counter or gauge (for status lines and tests). */
double metric_value(const struct metric *m);

/*
 * Sum of the values of every series of family `name` whose label list
 * contains `match` as a substring (NULL or "" matches all), without
 * registering anything: a family nobody registered sums to 0 and *found
 * (may be NULL) is set to the number of series that matched. Histograms
 * contribute their observation count. Any thread; takes the registry lock
 * (status lines, tests).
 */
double metrics_sum(const char *name, const char *match, size_t *found);

/*
 * A collector runs at render time on the rendering thread and may set
 * gauges (process CPU and memory, librdkafka statistics snapshots).
 */
typedef void (*metrics_collector_fn)(void *opaque);
void metrics_add_collector(metrics_collector_fn fn, void *opaque);

/* Runs the collectors now (metrics_render does; the console's sampler
 * too, so process CPU and memory are fresh between scrapes). */
void metrics_collect(void);

/*
 * One series as metrics_visit() shows it: its label list ("" for none),
 * its value (histograms: the observation count) and, for histograms, the
 * bucket bounds and the per-bucket (not cumulative) counts, the last one
 * being +Inf, and the sum. `labels` and `bounds` are valid only during
 * the call.
 */
struct metric_view {
	const char *labels;
	double value;
	size_t nbounds;
	const double *bounds;
	uint64_t buckets[METRICS_MAX_BUCKETS + 1];
	double sum;
};
typedef void (*metrics_visit_fn)(void *opaque, const struct metric_view *v);
/*
 * Calls fn for every series of family `name`, in registration order,
 * under the registry lock: fn must not call into the registry (copy what
 * it needs and return). Registers nothing. Any thread.
 */
void metrics_visit(const char *name, metrics_visit_fn fn, void *opaque);

/* Appends the whole registry in Prometheus text format 0.0.4 to out. */
void metrics_render(struct buf *out);

/* Escapes a label value (\\, \", \n) into out, NUL-terminated. */
void metrics_label_escape(char *out, size_t cap, const char *value);

/* Drops every series (tests only; no handle may be used afterwards). */
void metrics_reset(void);

/*
 * The HTTP endpoint: GET /metrics and GET /healthz on addr "HOST:PORT"
 * ("0" or "HOST:0" picks a free port). Runs its own thread
 * (libmicrohttpd). The bound port is returned through *port.
 *
 * When the port is taken by another process: with fallback (the address
 * is the command's default, nobody asked for it) a warning is logged and a
 * free port on the same host is used instead; without it (the user gave
 * the address) the result is IOT_ERR_CONFIG naming the address, as for a
 * host that is not local or a port below 1024 without privilege.
 *
 * The server limits itself: connections in total and per client address
 * from the open-file limit, where a newcomer is admitted by closing a
 * connection that has not sent a complete request; request headers due
 * within seconds, idle connections closed after a few; see http.c. Its
 * messages go to the logger, rate-limited.
 */
struct metrics_server;
enum iot_err metrics_server_start(const char *addr, bool fallback,
				  struct metrics_server **out, int *port,
				  struct iot_error *err);
void metrics_server_stop(struct metrics_server *srv);

/*
 * Registers the standard process metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds) and the
 * peak RSS, read at render time. Call once, from the main thread, before
 * the server starts.
 */
void metrics_register_process(void);

#endif
