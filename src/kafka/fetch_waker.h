/*
 * fetch_waker.h - keeps librdkafka 2.0's fetcher going for a consumer that
 * reads slower than the broker delivers.
 *
 * librdkafka before 2.1 stops fetching a partition while the consumer queue
 * holds queued.min.messages (or queued.max.messages.kbytes), and its broker
 * thread looks at the queue again only when something wakes it, or after
 * a hard-coded second (2.1 made this fetch.queue.backoff.ms). A consumer
 * that drains a full queue in less than a second then sits idle for the
 * rest of it. The waker sends the partition leaders a small request
 * (ListOffsets, through rd_kafka_offsets_for_times, on its own thread)
 * when the consumer queue has fallen below half of queued.min.messages:
 * queueing that request wakes the broker thread, which then sees room in
 * the queue and fetches at once. On librdkafka 2.1 and later it does
 * nothing: fetch.queue.backoff.ms is the real fix there.
 */
#ifndef IOT_KAFKA_FETCH_WAKER_H
#define IOT_KAFKA_FETCH_WAKER_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

struct metric;
struct fetch_waker;

/*
 * Starts the waker for consumer `rk` reading `queue` (its consumer queue);
 * `kicks` (may be NULL) counts the wake-ups sent. Returns NULL, and the
 * consumer then works as librdkafka does on its own, when librdkafka does
 * not need it (2.1 or later) or a thread cannot start.
 */
struct fetch_waker *fetch_waker_start(rd_kafka_t *rk, rd_kafka_queue_t *queue,
				      struct metric *kicks);

/* Called by the consuming thread after each read; cheap (one lock). */
void fetch_waker_check(struct fetch_waker *w);

void fetch_waker_stop(struct fetch_waker *w);

#endif
