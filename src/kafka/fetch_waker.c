/*
 * fetch_waker.c - see fetch_waker.h. Written here because the fix in
 * librdkafka (fetch.queue.backoff.ms, 2.1) is newer than Debian 12's 2.0.2.
 *
 * Why a ListOffsets request wakes the fetcher: a request made from an
 * application thread reaches the leader's broker thread as an operation
 * on its queue, which ends that thread's wait; the thread then runs its
 * fetch decision for every partition again, finds the consumer queue below
 * queued.min.messages and fetches. The request itself is answered by the
 * broker from its index (a few hundred bytes). The waker asks only after
 * the queue was seen nearly full (so a consumer that keeps up sends
 * nothing), at most once per MIN_INTERVAL_S, never with a request in
 * flight. The queue is watched by count: with records over ~650 bytes the
 * queued.max.messages.kbytes limit (set to 32 MB by the jobs) is reached
 * first, and the fetcher pauses as librdkafka alone would have it.
 */
#include "core/clock.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "kafka/fetch_waker.h"
#include "metrics/metrics.h"

#include <stdlib.h>

#include "core/banned.h"

#define MIN_INTERVAL_S 0.005
#define REQUEST_TIMEOUT_MS 2000

struct fetch_waker {
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	size_t high; /* the queue held this many: the fetcher may have stopped */
	size_t low;  /* then wake it when the queue holds fewer than this */
	struct worker *worker; /* sends the request */
	struct metric *kicks;
	/* the consumer thread's */
	bool armed;
	double last; /* when the last wake-up was asked for */
};

static void kick(void *arg)
{
	struct fetch_waker *w = arg;
	rd_kafka_topic_partition_list_t *parts = NULL;

	if (rd_kafka_assignment(w->rk, &parts) || !parts)
		return;
	if (parts->cnt > 0) {
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = RD_KAFKA_OFFSET_END; /* "latest" */
		/* the answer does not matter: sending the request is the point */
		(void)rd_kafka_offsets_for_times(w->rk, parts, REQUEST_TIMEOUT_MS);
		if (w->kicks)
			metric_inc(w->kicks);
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

struct fetch_waker *fetch_waker_start(rd_kafka_t *rk, rd_kafka_queue_t *queue,
				      struct metric *kicks)
{
	struct fetch_waker *w;
	char buf[32];
	size_t len = sizeof(buf);
	long min_msgs;

	if (rd_kafka_version() >= 0x02010000)
		return NULL;
	if (rd_kafka_conf_get(rd_kafka_conf(rk), "queued.min.messages", buf, &len) !=
	    RD_KAFKA_CONF_OK)
		return NULL;
	min_msgs = strtol(buf, NULL, 10);
	if (min_msgs < 2)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->rk = rk;
	w->queue = queue;
	w->kicks = kicks;
	w->high = (size_t)(min_msgs - min_msgs / 10);
	w->low = (size_t)min_msgs / 2;
	w->worker = worker_start(kick, w);
	if (!w->worker) {
		free(w);
		return NULL;
	}
	return w;
}

void fetch_waker_check(struct fetch_waker *w)
{
	size_t len;
	double t;

	if (!w)
		return;
	len = rd_kafka_queue_length(w->queue);
	if (len >= w->high)
		w->armed = true;
	if (!w->armed || len >= w->low)
		return;
	t = clock_mono_s();
	if (t - w->last < MIN_INTERVAL_S || worker_busy(w->worker))
		return;
	w->last = t;
	w->armed = false;
	worker_request(w->worker);
}

void fetch_waker_stop(struct fetch_waker *w)
{
	if (!w)
		return;
	worker_stop(w->worker);
	free(w);
}
