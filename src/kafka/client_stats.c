/*
 * client_stats.c - librdkafka client statistics into the metrics registry
 * (client_stats.h).
 *
 * Data flow: librdkafka builds a JSON document every
 * statistics.interval.ms and hands it to stats_cb on the thread that
 * serves the client's callbacks (the producer loop's rd_kafka_poll, the
 * streaming job's consumer queue). The callback tokenizes it with jsmn
 * (Debian's libjsmn-dev, header-only), picks the few numbers worth a
 * dashboard and sets gauges; the document is then freed by librdkafka.
 *
 * Which client a document belongs to: the stats callback receives the
 * client's opaque, which the producer and the jobs already use for their
 * own state. So the label rides on an interceptor instead: on_new (run
 * inside rd_kafka_new) records the pair {rk, label} in a small table,
 * on_destroy removes it, and the callback looks its rk up. The table is
 * guarded by a mutex; labels are interned for the life of the process
 * (a handful: one per command role).
 *
 * Outside data: the document comes from the library, but it is still
 * parsed defensively (token bounds, numbers through strtod on a bounded
 * copy); a document that does not parse updates nothing.
 */
#include "kafka/client_stats.h"
#include "core/xalloc.h"
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#include <jsmn.h>

#include "core/banned.h"

/* 5 s: fresh enough for a dashboard scraped every 5-15 s, cheap enough
 * (one document of a few KiB per client) to leave on in production. */
#define DEFAULT_INTERVAL_MS "5000"
#define MAX_LABELS 16
#define MAX_CLIENTS 32
#define IC_NAME "iotpipe.stats"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *labels[MAX_LABELS];
static size_t nlabels;
static struct {
	rd_kafka_t *rk;
	const char *label;
} clients[MAX_CLIENTS];

/* ---- the JSON walk ------------------------------------------------- */

struct doc {
	const char *js;
	const jsmntok_t *t;
	int n;
};

/* Index of the token after the subtree rooted at i (jsmn gives objects
 * `size` keys, each key one child, arrays `size` elements). */
static int skip(const struct doc *d, int i)
{
	int pending = 1;
	while (pending > 0 && i < d->n) {
		pending += d->t[i].size - 1;
		i++;
	}
	return i;
}

static int tok_eq(const struct doc *d, int i, const char *s)
{
	size_t len = strlen(s);
	return d->t[i].type == JSMN_STRING && (size_t)(d->t[i].end - d->t[i].start) == len &&
	       !memcmp(d->js + d->t[i].start, s, len);
}

/* Value token of `key` in the object at i, or -1. */
static int find(const struct doc *d, int obj, const char *key)
{
	int i;
	if (obj < 0 || obj >= d->n || d->t[obj].type != JSMN_OBJECT)
		return -1;
	i = obj + 1;
	for (int k = 0; k < d->t[obj].size && i + 1 < d->n; k++) {
		if (tok_eq(d, i, key))
			return i + 1;
		i = skip(d, i + 1);
	}
	return -1;
}

static int num(const struct doc *d, int i, double *out)
{
	char tmp[64], *end;
	size_t len;
	if (i < 0 || d->t[i].type != JSMN_PRIMITIVE)
		return -1;
	len = (size_t)(d->t[i].end - d->t[i].start);
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, d->js + d->t[i].start, len);
	tmp[len] = '\0';
	*out = strtod(tmp, &end);
	return *end ? -1 : 0;
}

static int field(const struct doc *d, int obj, const char *key, double *out)
{
	return num(d, find(d, obj, key), out);
}

/* Copies a string token, JSON-unescaped then label-escaped, into out.
 * Topic and broker names are plain ASCII in practice; a \uXXXX escape is
 * kept as written rather than decoded. */
static void str_label(const struct doc *d, int i, char *out, size_t cap)
{
	char raw[256];
	const char *s = d->js + d->t[i].start, *e = d->js + d->t[i].end;
	size_t n = 0;

	while (s < e && n + 1 < sizeof(raw)) {
		char c = *s++;
		if (c == '\\' && s < e && *s != 'u') {
			c = *s++;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
		}
		raw[n++] = c;
	}
	raw[n] = '\0';
	metrics_label_escape(out, cap, raw);
}

/* ---- documents to gauges ------------------------------------------- */

static void set_gauge(const char *name, const char *help, const char *labels_, double v)
{
	metric_set(metrics_gauge(name, help, labels_), v);
}

static void brokers(const struct doc *d, int obj, const char *client)
{
	int i = obj + 1;
	for (int k = 0; k < d->t[obj].size && i + 1 < d->n; k++) {
		int b = i + 1, name = find(d, b, "name"), rtt = find(d, b, "rtt");
		int source = find(d, b, "source");
		double nodeid = -1, avg, p99;
		char bl[256], l[400];

		i = skip(d, b);
		/* bootstrap entries have no node id; "logical" ones (the group
		 * coordinator) duplicate a real broker's connection */
		if (name < 0 || d->t[name].type != JSMN_STRING || field(d, b, "nodeid", &nodeid) ||
		    nodeid < 0 || rtt < 0 || (source >= 0 && tok_eq(d, source, "logical")))
			continue;
		str_label(d, name, bl, sizeof(bl));
		snprintf(l, sizeof(l), "client=\"%s\",broker=\"%s\"", client, bl);
		/* librdkafka reports round-trip times in microseconds */
		if (!field(d, rtt, "avg", &avg))
			set_gauge("iotpipe_kafka_broker_rtt_avg_seconds",
				  "Average request round-trip time to the broker over the last statistics window.",
				  l, avg / 1e6);
		if (!field(d, rtt, "p99", &p99))
			set_gauge("iotpipe_kafka_broker_rtt_p99_seconds",
				  "99th percentile request round-trip time to the broker over the last statistics window.",
				  l, p99 / 1e6);
	}
}

static double topics(const struct doc *d, int obj, const char *client)
{
	double fetchq = 0;
	int i = obj + 1;
	for (int k = 0; k < d->t[obj].size && i + 1 < d->n; k++) {
		int tp = i + 1, parts = find(d, tp, "partitions");
		char tl[256];

		str_label(d, i, tl, sizeof(tl));
		i = skip(d, tp);
		if (parts < 0 || d->t[parts].type != JSMN_OBJECT)
			continue;
		for (int p = 0, j = parts + 1; p < d->t[parts].size && j + 1 < d->n; p++) {
			int po = j + 1;
			double id = -1, lag = -1, fq = 0;
			char l[400];

			j = skip(d, po);
			/* -1 is the internal "unassigned" partition */
			if (field(d, po, "partition", &id) || id < 0)
				continue;
			if (!field(d, po, "fetchq_cnt", &fq) && fq > 0)
				fetchq += fq;
			/* consumer_lag is -1 until the client knows both offsets */
			if (field(d, po, "consumer_lag", &lag) || lag < 0)
				continue;
			snprintf(l, sizeof(l), "client=\"%s\",topic=\"%s\",partition=\"%.0f\"", client,
				 tl, id);
			set_gauge("iotpipe_kafka_consumer_lag_records",
				  "Consumer lag per partition as librdkafka sees it (high watermark minus committed or consumed offset).",
				  l, lag);
		}
	}
	return fetchq;
}

int kafka_stats_update(const char *json, size_t len, const char *client_label)
{
	jsmn_parser p;
	jsmntok_t *t;
	struct doc d;
	int n, sub;
	double v, fetchq = 0;
	char client[128], l[160];

	jsmn_init(&p);
	n = jsmn_parse(&p, json, len, NULL, 0);
	if (n < 1)
		return -1;
	t = xmalloc(st_mult((size_t)n, sizeof(*t)));
	jsmn_init(&p);
	if (jsmn_parse(&p, json, len, t, (unsigned)n) != n || t[0].type != JSMN_OBJECT) {
		free(t);
		return -1;
	}
	d = (struct doc){ json, t, n };
	metrics_label_escape(client, sizeof(client), client_label);
	snprintf(l, sizeof(l), "client=\"%s\"", client);

	if (!field(&d, 0, "msg_cnt", &v))
		set_gauge("iotpipe_kafka_queue_messages",
			  "Messages in the client's producer queues (librdkafka msg_cnt).", l, v);
	if (!field(&d, 0, "replyq", &v))
		set_gauge("iotpipe_kafka_reply_queue_ops",
			  "Operations (callbacks, events) waiting for the application to poll (librdkafka replyq).",
			  l, v);
	if (!field(&d, 0, "tx_bytes", &v))
		metric_set(metrics_counter_float("iotpipe_kafka_transmitted_bytes_total",
						 "Bytes sent to Kafka brokers.", l), v);
	if (!field(&d, 0, "rx_bytes", &v))
		metric_set(metrics_counter_float("iotpipe_kafka_received_bytes_total",
						 "Bytes received from Kafka brokers.", l), v);
	if ((sub = find(&d, 0, "brokers")) >= 0 && t[sub].type == JSMN_OBJECT)
		brokers(&d, sub, client);
	if ((sub = find(&d, 0, "topics")) >= 0 && t[sub].type == JSMN_OBJECT)
		fetchq = topics(&d, sub, client);
	if ((sub = find(&d, 0, "type")) >= 0 && tok_eq(&d, sub, "consumer"))
		set_gauge("iotpipe_kafka_fetch_queue_messages",
			  "Messages fetched from Kafka and not yet read by the job.", l, fetchq);
	free(t);
	return 0;
}

/* ---- wiring -------------------------------------------------------- */

/* librdkafka's thread that serves the client's callbacks. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	const char *label = NULL;
	(void)opaque; /* the client's own: not ours to read */

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].rk == rk)
			label = clients[i].label;
	pthread_mutex_unlock(&lock);
	if (label)
		kafka_stats_update(json, len, label);
	return 0; /* librdkafka frees json */
}

static rd_kafka_resp_err_t on_destroy(rd_kafka_t *rk, void *ic_opaque)
{
	(void)ic_opaque;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].rk == rk)
			clients[i].rk = NULL;
	pthread_mutex_unlock(&lock);
	return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Inside rd_kafka_new, on the thread creating the client. */
static rd_kafka_resp_err_t on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf, void *ic_opaque,
				  char *errstr, size_t errstr_size)
{
	(void)conf;
	(void)errstr;
	(void)errstr_size;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		if (!clients[i].rk) {
			clients[i].rk = rk;
			clients[i].label = ic_opaque;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	/* a full table only costs this client its statistics */
	rd_kafka_interceptor_add_on_destroy(rk, IC_NAME, on_destroy, NULL);
	return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static const char *intern(const char *label)
{
	const char *out = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nlabels && !out; i++)
		if (!strcmp(labels[i], label))
			out = labels[i];
	if (!out && nlabels < MAX_LABELS)
		out = labels[nlabels++] = xstrdup(label);
	pthread_mutex_unlock(&lock);
	return out;
}

void kafka_stats_attach(rd_kafka_conf_t *conf, const char *client_label)
{
	const char *label = intern(client_label);
	char cur[32], errstr[256];
	size_t cur_len = sizeof(cur);

	if (!label)
		return;
	if (rd_kafka_conf_get(conf, "statistics.interval.ms", cur, &cur_len) != RD_KAFKA_CONF_OK ||
	    !strcmp(cur, "0"))
		rd_kafka_conf_set(conf, "statistics.interval.ms", DEFAULT_INTERVAL_MS, errstr,
				  sizeof(errstr));
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	rd_kafka_conf_interceptor_add_on_new(conf, IC_NAME, on_new, (void *)label);
}
