/*
 * console.h - the live web console on the metrics port: a page at GET /
 * (its assets embedded in the binary at build time from
 * src/metrics/console/) and the JSON API behind it, documented in
 * docs/observability.md:
 *
 *	GET /api/status            health, last error, totals, rates, lag
 *	GET /api/history?since=S   the last 15 minutes, one sample a second
 *	GET /api/batches           recent committed batches (batchlog.h)
 *	GET /api/config            the effective configuration, redacted
 *
 * Calling sequence:
 *	console_config_capture(&cfg);         // common_setup(), main thread
 *	console_note("archive.output", uri);  // what the command decided
 *	console_start();                      // metrics_server_start()
 *	... console_route() on the HTTP thread for every request ...
 *	console_stop();                       // metrics_server_stop()
 *
 * console_start() starts the sampler thread: once a second it reads the
 * metrics registry (never a worker's lock) into a bounded history
 * (history.h: 900 samples of at most CONSOLE_SERIES_MAX series). The
 * HTTP thread only copies from the history, the batch log and the
 * registry, each under its own short lock, so no request can hold up a
 * job, whatever the number of pages open.
 */
#ifndef IOT_METRICS_CONSOLE_H
#define IOT_METRICS_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct iot_config;
struct history;

/* 15 minutes at one sample a second. */
#define CONSOLE_SAMPLES 900
/* Series: a pipeline has about 40 (two jobs, four partitions, a few
 * invalid reasons); 96 leaves room for 16 partitions per job and every
 * reason, and bounds the history at about 700 KiB. */
#define CONSOLE_SERIES_MAX 96
#define CONSOLE_SAMPLE_S 1.0

/* Keeps a copy of the effective configuration for GET /api/config.
 * Values are redacted when rendered. Any thread; a later call replaces. */
void console_config_capture(const struct iot_config *cfg);
/* Sets one fact of the pipeline (keys: "bootstrap", "topic",
 * "archive.output", "archive.checkpoint", "aggregate.output",
 * "aggregate.checkpoint"); copied, shown in /api/status "pipeline" and in
 * the diagram, URLs redacted. Any thread. */
void console_note(const char *key, const char *value);

/* Starts (once) and stops the sampler thread. Any thread; stop accepts
 * no start. */
void console_start(void);
void console_stop(void);

/* A response: `body` points into the binary (is_static) or is malloc'd
 * and the caller frees it. */
struct console_reply {
	unsigned status;
	const char *type;
	char *body;
	size_t len;
	bool is_static;
	bool no_store; /* an API answer: Cache-Control: no-store */
};

/* Serves url (without query); `since` is the query's since= or NULL.
 * False when the url is not the console's. HTTP thread. */
bool console_route(const char *url, const char *since, struct console_reply *r);

/* The JSON documents (for console_route and tests). The status reads the
 * process' history (console_status_render: the history given, which may
 * be NULL). */
void console_render_status(struct buf *out);
void console_status_render(struct history *h, struct buf *out);
void console_render_config(struct buf *out);
void console_render_batches(struct buf *out);
/* Redacts one configuration value for display into out: "***" when the
 * key names a secret (password, secret, token, credentials, private
 * keys), else the value with URL credentials masked. True when changed. */
bool console_redact(const char *key, const char *value, char *out, size_t cap);

/* One sample into h from the registry now (the sampler's step; tests). */
void console_sample(struct history *h);
/* Estimated quantile q (0..1) of a histogram from per-bucket counts, the
 * last being +Inf, linearly within a bucket as Prometheus'
 * histogram_quantile() does; NaN without observations. */
double console_quantile(double q, const double *bounds, size_t nbounds,
			const uint64_t *counts);
/* Forgets the configuration, notes and sampler state (tests). */
void console_reset(void);

#endif
