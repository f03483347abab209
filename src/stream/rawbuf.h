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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/strmap.h"
#include "event/codec.h"

/* Row r, field f is vals[r * nfields + f], 8 bytes: an int64 or a double's
 * bits, or for a string its arena offset (high 32 bits) and length (low
 * 32): half the size of a struct ev_value, which matters because a batch
 * being committed and the next one being read are both held. */
struct raw_dev {
	int64_t *offset;
	uint64_t *present;      /* NULL when every field is required */
	uint64_t *vals;
	size_t n, alloc;
};

/* One row of a raw buffer: device index and row within that device. */
struct raw_ref {
	uint32_t dev, row;
};

struct rawbuf {
	size_t nfields;
	struct strmap keys;
	struct raw_dev *dev;
	size_t ndev_alloc;
	struct buf arena;
	size_t rows;
	bool schema_known, has_optional;
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
static inline int64_t rawbuf_i64(const struct raw_dev *d, size_t nf, size_t r, size_t f)
{
	return (int64_t)d->vals[r * nf + f];
}

static inline double rawbuf_double(const struct raw_dev *d, size_t nf, size_t r, size_t f)
{
	double x;
	memcpy(&x, &d->vals[r * nf + f], sizeof(x));
	return x;
}

/* String value of row r, field f of device d; *len gets its length. */
static inline const char *rawbuf_str(const struct rawbuf *rb, const struct raw_dev *d,
				     size_t r, size_t f, uint32_t *len)
{
	uint64_t v = d->vals[r * rb->nfields + f];
	*len = (uint32_t)v;
	return (const char *)rb->arena.data + (v >> 32);
}

#endif
