/*
 * decode_ahead.h - decoding the next array of records on a thread of its
 * own, while the job thread handles the previous one (stream/job.c).
 *
 * Decoding is about half of the job thread's work per record. The job
 * thread reads array k+1 from librdkafka, hands it to the decoder thread
 * and handles array k; records are still handled on the job thread, one
 * array after the other, in offset order. Each record is decoded once: a
 * string that held escapes is unescaped into the array's own scratch
 * (ev_decoder_move_scratch), which lives as long as the array.
 *
 *	struct decode_ahead d;
 *	decode_ahead_init(&d, schema, "archive");  // no thread: decodes inline
 *	struct dbatch *b = decode_ahead_array(&d, 0);
 *	b->n = rd_kafka_consume_batch_queue(q, 200, b->msgs, DBATCH_MAX);
 *	decode_ahead_start(&d, b);
 *	... decode_ahead_wait(&d, b); b->res[i], b->ev[i] ...
 *	decode_ahead_release(&d);
 */
#ifndef IOT_STREAM_DECODE_AHEAD_H
#define IOT_STREAM_DECODE_AHEAD_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "event/codec.h"

#define DBATCH_MAX 1024

/* One array of records read from librdkafka, and what they decode to. */
struct dbatch {
	rd_kafka_message_t *msgs[DBATCH_MAX];
	struct ev_result res[DBATCH_MAX];
	struct event *ev;     /* DBATCH_MAX of them */
	size_t n;
	bool decoded;         /* decode_ahead_wait returned for it */
	struct scratch_chunk *scratch; /* unescaped strings of its events */
};

struct decode_ahead {
	struct worker *worker; /* NULL: decode on the calling thread */
	struct ev_decoder *dec;
	struct dbatch arrays[2];
	struct dbatch *batch;  /* the array being decoded */
};

void decode_ahead_init(struct decode_ahead *d, const struct event_schema *schema,
		       const char *job_name);
/* One of the two arrays (i: 0 or 1). */
struct dbatch *decode_ahead_array(struct decode_ahead *d, int i);
/* Hands b to the decoder thread (or decodes it here without one). One
 * array at a time: the previous one was waited for. */
void decode_ahead_start(struct decode_ahead *d, struct dbatch *b);
/* Returns when b is decoded (at once when it was waited for already). */
void decode_ahead_wait(struct decode_ahead *d, struct dbatch *b);
void decode_ahead_release(struct decode_ahead *d);

#endif
