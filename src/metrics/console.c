/*
 * console.c - the web console's routes, its assets, the configuration it
 * shows, and the sampler thread's life (console.h).
 *
 * The page's files (src/metrics/console/: index.html, app.js, app.css,
 * favicon.svg) are compiled into the binary by cmake/embed.cmake as the
 * console_assets[] table, so the console needs no file, CDN or network:
 * everything it loads comes from the same address, which the
 * Content-Security-Policy `default-src 'self'` (set by http.c on every
 * console response) enforces in the browser.
 *
 * The configuration is copied at set-up (console_config_capture, main
 * thread) into a list of strings under `cfg_lock`; requests copy it out
 * and redact while rendering. The sampler thread wakes every
 * CONSOLE_SAMPLE_S on a monotonic condition variable, so console_stop()
 * ends it at once.
 */
#include "metrics/console_int.h"
#include "config/config.h"
#include "core/redact.h"
#include "core/xalloc.h"
#include "metrics/batchlog.h"
#include "metrics/jsonw.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

/* Generated at build time from src/metrics/console/ (cmake/embed.cmake). */
struct console_asset {
	const char *name;
	const unsigned char *data;
	size_t len;
};
extern const struct console_asset console_assets[];
extern const size_t console_nassets;

const char *const console_job_names[CONSOLE_JOBS] = { "archive", "aggregate" };

struct kvs {
	char **k, **v;
	size_t n, alloc;
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvs cfg, notes;
static char command[32];

static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t life_cond;
static pthread_t sampler;
static bool running, stopping;
static struct history *hist;


static void kvs_set(struct kvs *l, const char *k, const char *v, bool replace)
{
	if (replace)
		for (size_t i = 0; i < l->n; i++)
			if (!strcmp(l->k[i], k)) {
				free(l->v[i]);
				l->v[i] = xstrdup(v ? v : "");
				return;
			}
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 32;
		l->k = xrealloc(l->k, st_mult(l->alloc, sizeof(*l->k)));
		l->v = xrealloc(l->v, st_mult(l->alloc, sizeof(*l->v)));
	}
	l->k[l->n] = xstrdup(k);
	l->v[l->n++] = xstrdup(v ? v : "");
}

static void kvs_release(struct kvs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->k[i]);
		free(l->v[i]);
	}
	free(l->k);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void capture_one(void *opaque, const char *name, const char *value)
{
	kvs_set(opaque, name, value, false);
}

void console_config_capture(const struct iot_config *c)
{
	struct kvs fresh = { 0 };

	config_visit(c, capture_one, &fresh);
	pthread_mutex_lock(&cfg_lock);
	kvs_release(&cfg);
	cfg = fresh;
	pthread_mutex_unlock(&cfg_lock);
}

void console_note(const char *key, const char *value)
{
	pthread_mutex_lock(&cfg_lock);
	kvs_set(&notes, key, value, true);
	pthread_mutex_unlock(&cfg_lock);
}

/* Case-insensitive substring. */
static bool has_word(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (; *s; s++)
		if (!strncasecmp(s, w, n))
			return true;
	return false;
}

bool console_redact(const char *key, const char *value, char *out, size_t cap)
{
	/* librdkafka's secrets (sasl.password, ssl.key.password,
	 * ssl.keystore.password, sasl.oauthbearer.client.secret,
	 * sasl.jaas.config, ssl.key.pem, ssl_engine_callback_data...) and
	 * whatever a future setting calls a secret */
	static const char *const secret[] = { "password", "secret", "token", "credential",
					      "jaas", "private", "key.pem", "ssl.key",
					      "keystore", "certificate.pem", "passphrase" };

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (has_word(key, secret[i])) {
			snprintf(out, cap, "%s", *value ? "***" : "");
			return *value != '\0';
		}
	redact_urls(out, cap, value);
	return strcmp(out, value) != 0;
}

/* Copies a list under the lock (the caller renders it afterwards). */
static struct kvs kvs_copy(const struct kvs *l)
{
	struct kvs c = { 0 };
	pthread_mutex_lock(&cfg_lock);
	for (size_t i = 0; i < l->n; i++)
		kvs_set(&c, l->k[i], l->v[i], false);
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

void console_render_config(struct buf *out)
{
	struct kvs c = kvs_copy(&cfg);
	static const char *const env[] = { "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",
					   "AWS_ENDPOINT_URL", "ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
					   "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN" };
	size_t cap = 8192;
	char *v = xmalloc(cap);

	buf_puts(out, "{\"settings\":[");
	for (size_t i = 0; i < c.n; i++) {
		bool red = console_redact(c.k[i], c.v[i], v, cap);
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"key\":");
		jsonw_str(out, c.k[i]);
		buf_puts(out, ",\"value\":");
		jsonw_str(out, v);
		buf_printf(out, ",\"redacted\":%s}", red ? "true" : "false");
	}
	/* S3 comes from the AWS environment; an access key id is not a
	 * secret, but with the secret it is a credential: both are shown
	 * as set or not */
	buf_puts(out, "],\"environment\":[");
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		const char *e = getenv(env[i]);
		bool red;
		if (!strcmp(env[i], "AWS_ACCESS_KEY_ID") && e && *e)
			snprintf(v, cap, "***"), red = true;
		else
			red = console_redact(env[i], e ? e : "", v, cap);
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"key\":");
		jsonw_str(out, env[i]);
		buf_puts(out, ",\"value\":");
		jsonw_str(out, e ? v : NULL);
		buf_printf(out, ",\"redacted\":%s}", red ? "true" : "false");
	}
	buf_puts(out, "]}");
	free(v);
	kvs_release(&c);
}

void console_render_notes(struct buf *out)
{
	struct kvs c = kvs_copy(&notes);
	char v[4096];

	buf_putc(out, '{');
	for (size_t i = 0; i < c.n; i++) {
		console_redact(c.k[i], c.v[i], v, sizeof(v));
		if (i)
			buf_putc(out, ',');
		jsonw_key(out, c.k[i]);
		jsonw_str(out, v);
	}
	buf_putc(out, '}');
	kvs_release(&c);
}

void console_render_batches(struct buf *out)
{
	struct batch_record *r = xcalloc(BATCHLOG_CAPACITY, sizeof(*r));
	size_t n = batchlog_copy(r, BATCHLOG_CAPACITY);

	buf_printf(out, "{\"capacity\":%d,\"total\":%llu,\"batches\":[", BATCHLOG_CAPACITY,
		   (unsigned long long)batchlog_total());
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"job\":");
		jsonw_str(out, r[i].job);
		buf_printf(out, ",\"partition\":%d,\"batch\":%llu,\"start_offset\":%lld,"
				"\"end_offset\":%lld,\"rows\":%llu,\"files\":%llu,\"seconds\":",
			   (int)r[i].partition, (unsigned long long)r[i].batch,
			   (long long)r[i].start, (long long)r[i].end,
			   (unsigned long long)r[i].rows, (unsigned long long)r[i].files);
		jsonw_num6(out, r[i].seconds);
		buf_printf(out, ",\"replayed\":%s,\"time\":%.3f}", r[i].replayed ? "true" : "false",
			   r[i].time);
	}
	buf_puts(out, "]}");
	free(r);
}

const char *console_command(void)
{
	return command;
}

/* The subcommand from /proc/self/cmdline (argv[1]), for the page's title. */
static void read_command(void)
{
	char b[256];
	FILE *f = fopen("/proc/self/cmdline", "r");
	size_t n = f ? fread(b, 1, sizeof(b) - 1, f) : 0;
	const char *a1;

	if (f)
		fclose(f);
	b[n] = '\0';
	a1 = memchr(b, '\0', n);
	command[0] = '\0';
	if (a1 && a1 + 1 < b + n)
		snprintf(command, sizeof(command), "%s", a1 + 1);
	for (char *p = command; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			*p = '?';
}

struct history *console_history(void)
{
	struct history *h;
	pthread_mutex_lock(&life_lock);
	h = hist;
	pthread_mutex_unlock(&life_lock);
	return h;
}

static void *sampler_main(void *arg)
{
	struct timespec until;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &until);
	pthread_mutex_lock(&life_lock);
	while (!stopping) {
		pthread_mutex_unlock(&life_lock);
		console_sample(hist);
		pthread_mutex_lock(&life_lock);
		/* a fixed cadence: the next tick is one interval after the
		 * last one, not after the sample's end */
		until.tv_sec += (time_t)CONSOLE_SAMPLE_S;
		while (!stopping && pthread_cond_timedwait(&life_cond, &life_lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&life_lock);
	return NULL;
}

void console_start(void)
{
	pthread_condattr_t ca;

	pthread_mutex_lock(&life_lock);
	if (running) {
		pthread_mutex_unlock(&life_lock);
		return;
	}
	read_command();
	if (!hist)
		hist = history_create(CONSOLE_SAMPLES, CONSOLE_SERIES_MAX);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&life_cond, &ca);
	pthread_condattr_destroy(&ca);
	stopping = false;
	/* without the thread the page still serves, with empty charts */
	running = pthread_create(&sampler, NULL, sampler_main, NULL) == 0;
	if (!running)
		pthread_cond_destroy(&life_cond);
	pthread_mutex_unlock(&life_lock);
}

void console_stop(void)
{
	pthread_mutex_lock(&life_lock);
	if (!running) {
		pthread_mutex_unlock(&life_lock);
		return;
	}
	stopping = true;
	pthread_cond_signal(&life_cond);
	pthread_mutex_unlock(&life_lock);
	pthread_join(sampler, NULL);
	pthread_mutex_lock(&life_lock);
	running = false;
	pthread_cond_destroy(&life_cond);
	/* the history stays: the server that reads it is stopped after us
	 * in some commands, and it is bounded; console_reset() frees it */
	pthread_mutex_unlock(&life_lock);
}

void console_reset(void)
{
	console_stop();
	pthread_mutex_lock(&life_lock);
	history_destroy(hist);
	hist = NULL;
	pthread_mutex_unlock(&life_lock);
	pthread_mutex_lock(&cfg_lock);
	kvs_release(&cfg);
	kvs_release(&notes);
	pthread_mutex_unlock(&cfg_lock);
	console_sample_reset();
}

static const char *mime(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	return "application/octet-stream";
}

static bool asset(const char *name, struct console_reply *r)
{
	for (size_t i = 0; i < console_nassets; i++) {
		if (strcmp(console_assets[i].name, name))
			continue;
		r->status = 200;
		r->type = mime(name);
		r->body = (char *)console_assets[i].data;
		r->len = console_assets[i].len;
		r->is_static = true;
		return true;
	}
	return false;
}

bool console_route(const char *url, const char *since, struct console_reply *r)
{
	struct buf b = BUF_INIT;

	memset(r, 0, sizeof(*r));
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return asset("index.html", r);
	if (!strcmp(url, "/favicon.ico"))
		return asset("favicon.svg", r);
	if (url[0] == '/' && strncmp(url, "/api/", 5) && asset(url + 1, r))
		return true;
	if (!strcmp(url, "/api/status")) {
		console_render_status(&b);
	} else if (!strcmp(url, "/api/history")) {
		struct history *h = console_history();
		unsigned long long s = 0;
		if (since && *since) {
			char *end;
			errno = 0;
			s = strtoull(since, &end, 10);
			if (*end || errno || since[0] == '-') {
				buf_puts(&b, "{\"error\":\"since: expected a sample number\"}\n");
				r->status = 400;
			}
		}
		if (!r->status) {
			if (h)
				history_render_json(h, s, &b);
			else
				buf_puts(&b, "{\"seq\":0,\"t\":[],\"series\":{}}");
		}
	} else if (!strcmp(url, "/api/batches")) {
		console_render_batches(&b);
	} else if (!strcmp(url, "/api/config")) {
		console_render_config(&b);
	} else {
		return false;
	}
	if (!r->status) {
		buf_putc(&b, '\n');
		r->status = 200;
	}
	r->type = "application/json";
	r->no_store = true;
	r->body = buf_detach(&b, &r->len);
	return true;
}
