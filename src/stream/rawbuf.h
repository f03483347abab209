/*
 * rawbuf.h - the raw events of one Kafka partition that `archive` has
 * read since its last commit, grouped by device, in offset order. String
 * values are copied into the buffer's arena (the Kafka message they came
 * from is released right after decoding). Memory grows with the batch;
 * the job commits a batch before it passes its size limit.
 *
 * Owned by the job thread; no locking.
 */
#ifndef IOT_STREAM_RAWBUF_H
#define IOT_STREAM_RAWBUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/strmap.h"
#include "event/codec.h"

struct raw_dev {
	int64_t *offset;
	uint64_t *present;
	struct ev_value *vals; /* n * nfields; strings: s.p is an arena offset */
	size_t n, alloc;
};

struct rawbuf {
	size_t nfields;
	struct strmap keys;
	struct raw_dev *dev;
	size_t ndev_alloc;
	struct buf arena;
	size_t rows;
};

void rawbuf_init(struct rawbuf *rb, size_t nfields);
void rawbuf_release(struct rawbuf *rb);
/* Drops the rows; keeps the devices (with n == 0) and their arrays. */
void rawbuf_clear(struct rawbuf *rb);
/* Drops the rows and the devices (a partition handed to another member). */
void rawbuf_reset(struct rawbuf *rb);
void rawbuf_add(struct rawbuf *rb, const struct event_schema *s,
		const struct event *ev, int64_t offset);
/* Bytes held (for the batch size limit). */
size_t rawbuf_bytes(const struct rawbuf *rb);
/* String value of row r, field f of device d. */
static inline const char *rawbuf_str(const struct rawbuf *rb, const struct ev_value *v)
{
	return (const char *)rb->arena.data + (uintptr_t)v->s.p;
}

#endif
