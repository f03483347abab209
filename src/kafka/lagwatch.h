/*
 * lagwatch.h - the consumer lag gauges while the job thread is held up.
 *
 * The job thread sets each partition's lag gauge after every commit round
 * (stream/job.c, job_update_lag), from the log end its fetcher last saw. A
 * store outage can hold that thread as long as the outage lasts (s3_http.c
 * retries until the store answers): it reads nothing, its fetcher stops
 * once librdkafka's queue is full, and the gauges would keep the values of
 * the last round while the log grows, hiding the outage from an alert on
 * lag. The watch runs on a thread of its own: once the job has published
 * nothing for a few seconds, it asks the broker for each partition's log
 * end and sets the gauge from the position the job published last.
 *
 *	struct lagwatch *w = lagwatch_start(rk, topic);   NULL: no thread
 *	lagwatch_publish(w, parts, n);   job thread: sets the gauges
 *	lagwatch_stop(w);                before rk is destroyed; NULL is fine
 */
#ifndef IOT_KAFKA_LAGWATCH_H
#define IOT_KAFKA_LAGWATCH_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

struct metric;

struct lagwatch_part {
	int32_t id;
	int64_t pos;          /* the next offset the job will read */
	int64_t end;          /* the log end the fetcher saw; < 0: unknown */
	struct metric *gauge;
};

struct lagwatch;

struct lagwatch *lagwatch_start(rd_kafka_t *rk, const char *topic);

/* The partitions the job owns now: sets each gauge to end - pos (0 when
 * the job is at or past the end; left as is when end is unknown), and
 * hands them to the watch. w may be NULL. */
void lagwatch_publish(struct lagwatch *w, const struct lagwatch_part *parts, size_t n);

void lagwatch_stop(struct lagwatch *w);

#endif
