/*
 * client.c - librdkafka configuration, the one client constructor and
 * the start-up topic check (client.h). Runs on the calling thread;
 * rd_kafka_metadata blocks for at most the timeout given.
 *
 * Which role a property belongs to: librdkafka has no call for it, but
 * documents it in the table rd_kafka_conf_properties_show() prints (the
 * "C/P" column: C consumer, P producer, * both). That table is read once
 * into `scopes` (the first constructor call, any thread: pthread_once),
 * so a property a newer librdkafka adds is classified without a list of
 * ours to keep up to date; a name it does not list is applied and left to
 * librdkafka to reject.
 *
 * librdkafka's log lines arrive on its own threads (log.queue is off);
 * on_log hands them to log.h, which writes whole lines from any thread.
 * A broker that is down makes every client log each reconnect, so lines
 * pass through one limiter for the process (`limit`, under a mutex).
 */
#include "core/clock.h"
#include "kafka/client.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "kafka/client_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

enum iot_err kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
			    const char *value, const char *origin,
			    struct iot_error *err)
{
	char why[512];
	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
		return iot_error_set(err, IOT_ERR_CONFIG, "%s: Kafka property '%s': %s",
				     origin, key, why);
	return IOT_OK;
}

rd_kafka_conf_t *kafka_conf_new(const char *bootstrap, const struct kv_list *props,
				struct iot_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (kafka_conf_set(conf, "bootstrap.servers", bootstrap, "bootstrap servers", err))
		goto fail;
	/* our own logging and errors carry the context; keep librdkafka quiet */
	if (kafka_conf_set(conf, "log_level", "3", "default", err))
		goto fail;
	for (size_t i = 0; props && i < props->n; i++)
		if (kafka_conf_set(conf, props->items[i].key, props->items[i].value,
				   props->items[i].origin, err))
			goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* ---- which role a property is for ---- */

struct scope {
	char *name;
	char role; /* 'C', 'P' or '*' */
};

static struct scope *scopes;
static size_t nscopes;
static pthread_once_t scopes_once = PTHREAD_ONCE_INIT;

/* Reads the rows "name | C/P | range | ..." of librdkafka's table. */
static void scopes_load(void)
{
	char *text = NULL, *line, *next;
	size_t len = 0, alloc = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return; /* no table: every property is applied */
	rd_kafka_conf_properties_show(f);
	fclose(f);
	for (line = text; line && *line; line = next) {
		char *bar1, *bar2, *end;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		bar1 = strchr(line, '|');
		bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
		if (!bar2 || line[0] == '-' || line[0] == ' ' || line[0] == '#')
			continue;
		end = bar1;
		while (end > line && end[-1] == ' ')
			end--;
		for (bar1++; *bar1 == ' '; bar1++)
			;
		if (end == line || (*bar1 != 'C' && *bar1 != 'P' && *bar1 != '*') ||
		    !strncmp(line, "Property", 8))
			continue;
		if (nscopes == alloc) {
			alloc = alloc ? 2 * alloc : 256;
			scopes = xrealloc(scopes, st_mult(alloc, sizeof(*scopes)));
		}
		/* "C/P" in the column means both, like '*' */
		scopes[nscopes].name = xstrndup(line, (size_t)(end - line));
		scopes[nscopes++].role = bar1[1] == '/' ? '*' : *bar1;
	}
	free(text);
}

/* True when librdkafka documents `key` for the other role only. */
static bool other_role(rd_kafka_type_t type, const char *key)
{
	pthread_once(&scopes_once, scopes_load);
	for (size_t i = 0; i < nscopes; i++)
		if (!strcmp(scopes[i].name, key))
			return scopes[i].role == (type == RD_KAFKA_PRODUCER ? 'C' : 'P');
	return false;
}

/* ---- librdkafka's log lines ---- */

/* At most LOG_BURST lines a second: enough for the few lines of a broker
 * going away, few enough that a reconnect loop of many clients cannot
 * flood the log (or a log shipper). */
#define LOG_BURST 10

static struct log_ratelimit kafka_log_rl = LOG_RATELIMIT_INIT(LOG_BURST);

/* syslog levels: 0-3 emergency..error, 4 warning, 5-6 notice, info, 7 debug */
static enum log_level level_of(int syslog_level)
{
	if (syslog_level <= 3)
		return LOG_ERROR;
	if (syslog_level == 4)
		return LOG_WARN;
	return syslog_level <= 6 ? LOG_INFO : LOG_DEBUG;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	log_msg_limited(&kafka_log_rl, level_of(level), "kafka", "%s: %s: %s",
			rk ? rd_kafka_name(rk) : "librdkafka", fac, buf);
}

void kafka_log_error(const rd_kafka_t *rk, int err, const char *reason)
{
	log_msg_limited(&kafka_log_rl, LOG_ERROR, "kafka", "%s: ERROR: %s (%s)",
			rk ? rd_kafka_name(rk) : "librdkafka", reason,
			rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

struct destroyer {
	rd_kafka_t *rk;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, abandoned;
};

static void *destroy_main(void *arg)
{
	struct destroyer *d = arg;
	bool abandoned;

	rd_kafka_destroy(d->rk);
	pthread_mutex_lock(&d->mu);
	d->done = true;
	abandoned = d->abandoned;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (abandoned) { /* the waiter gave up and left it to this thread */
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		free(d);
	}
	return NULL;
}

bool kafka_destroy_bounded(rd_kafka_t *rk, double timeout_s)
{
	struct destroyer *d = xcalloc(1, sizeof(*d));
	struct timespec until;
	pthread_attr_t attr;
	pthread_t t;
	bool done;

	d->rk = rk;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, destroy_main, d) != 0) {
		pthread_attr_destroy(&attr);
		rd_kafka_destroy(rk);
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		free(d);
		return true;
	}
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)timeout_s;
	pthread_mutex_lock(&d->mu);
	while (!d->done &&
	       pthread_cond_timedwait(&d->cv, &d->mu, &until) != ETIMEDOUT)
		;
	done = d->done;
	d->abandoned = !done;
	pthread_mutex_unlock(&d->mu);
	if (done) {
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		free(d);
	} else {
		log_warn("kafka", "%s: librdkafka did not shut down within %.0f s (it can wait "
			 "forever once a topic it read was deleted); exiting without it",
			 rd_kafka_name(rk), timeout_s);
	}
	return done;
}

void kafka_log_flush(void)
{
	log_ratelimit_flush(&kafka_log_rl, "kafka");
}

rd_kafka_t *kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
			     const struct kv_list *user, const char *stats_label,
			     const char *what, struct iot_error *err)
{
	char errstr[512];
	rd_kafka_t *rk;

	for (size_t i = 0; user && i < user->n; i++) {
		const struct kv *p = &user->items[i];
		if (other_role(type, p->key)) {
			log_debug("kafka", "%s: '%s' is a %s property, not applied to %s",
				  p->origin, p->key,
				  type == RD_KAFKA_PRODUCER ? "consumer" : "producer", what);
			continue;
		}
		if (kafka_conf_set(conf, p->key, p->value, p->origin, err)) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if (stats_label)
		kafka_stats_attach(conf, stats_label);
	rd_kafka_conf_set_log_cb(conf, on_log);
	/* rd_kafka_new owns conf only when it succeeds */
	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		iot_error_set(err, IOT_ERR_CONFIG, "cannot create %s: %s", what, errstr);
	}
	return rk;
}

/* ---- topic and broker configuration ---- */

/*
 * librdkafka sends DescribeConfigs to the controller and waits the whole
 * timeout for it. librdkafka's mock cluster (the embedded broker) names a
 * controller that is none of its brokers (0, its brokers count from 1), so
 * the wait would always run out: true only when the controller the
 * metadata names is one of the brokers it lists.
 */
static bool controller_known(rd_kafka_t *rk, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	int32_t id = rd_kafka_controllerid(rk, timeout_ms);
	bool found = false;

	if (id < 0 || rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	for (int i = 0; i < md->broker_cnt && !found; i++)
		found = md->brokers[i].id == id;
	rd_kafka_metadata_destroy(md);
	return found;
}

long kafka_config_long(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *resource,
		       const char *name, int timeout_ms)
{
	rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, resource);
	rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;
	char errstr[256];
	long value = -1;

	if (!controller_known(rk, timeout_ms))
		goto out;
	rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, errstr, sizeof(errstr));
	rd_kafka_DescribeConfigs(rk, &res, 1, opt, q);
	ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
	if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT &&
	    !rd_kafka_event_error(ev)) {
		const rd_kafka_DescribeConfigs_result_t *r = rd_kafka_event_DescribeConfigs_result(ev);
		size_t nres = 0, n = 0;
		const rd_kafka_ConfigResource_t **rs =
			rd_kafka_DescribeConfigs_result_resources(r, &nres);
		const rd_kafka_ConfigEntry_t **es =
			nres == 1 && !rd_kafka_ConfigResource_error(rs[0])
				? rd_kafka_ConfigResource_configs(rs[0], &n)
				: NULL;
		for (size_t i = 0; i < n; i++) {
			const char *v = rd_kafka_ConfigEntry_value(es[i]);
			char *end;
			long x;
			if (strcmp(rd_kafka_ConfigEntry_name(es[i]), name) || !v)
				continue;
			x = strtol(v, &end, 10);
			if (end != v && !*end && x >= 0)
				value = x;
		}
	}
	if (ev)
		rd_kafka_event_destroy(ev);
out:
	rd_kafka_queue_destroy(q);
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_ConfigResource_destroy(res);
	return value;
}

/* ---- the start-up check ---- */

enum iot_err kafka_wait_topic(rd_kafka_t *rk, const char *bootstrap,
			      const char *topic, int timeout_ms, int *partitions,
			      struct iot_error *err)
{
	double deadline = clock_mono_s() + timeout_ms / 1000.0;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
	bool answered = false;

	for (;;) {
		const struct rd_kafka_metadata *md = NULL;
		double left = deadline - clock_mono_s();
		int wait_ms = left > 0 ? (int)(left * 1000) : 0;
		rd_kafka_resp_err_t e;

		if (wait_ms < 100)
			wait_ms = 100;
		e = rd_kafka_metadata(rk, 0, rkt, &md, wait_ms);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			answered = true;
			if (md->topic_cnt == 1) {
				last = md->topics[0].err;
				if (!last && md->topics[0].partition_cnt > 0) {
					*partitions = md->topics[0].partition_cnt;
					rd_kafka_metadata_destroy(md);
					rd_kafka_topic_destroy(rkt);
					return IOT_OK;
				}
			}
			rd_kafka_metadata_destroy(md);
		} else {
			last = e;
		}
		if (clock_mono_s() >= deadline)
			break;
		/* a topic being auto-created needs a moment for its leader */
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	rd_kafka_topic_destroy(rkt);
	if (!answered)
		return iot_error_set(err, IOT_ERR_NET,
				     "cannot reach Kafka at '%s' within %.1f s: %s",
				     bootstrap, timeout_ms / 1000.0, rd_kafka_err2str(last));
	if (last == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
	    last == RD_KAFKA_RESP_ERR_NO_ERROR)
		return iot_error_set(err, IOT_ERR_NOT_FOUND,
				     "topic '%s' does not exist on '%s' and was not created (is topic auto-creation off? create it first)",
				     topic, bootstrap);
	return iot_error_set(err, IOT_ERR_NET, "topic '%s' on '%s' is not available: %s",
			     topic, bootstrap, rd_kafka_err2str(last));
}
