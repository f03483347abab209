/*
 * rawbuf.c - per-partition buffers of raw events (rawbuf.h).
 */
#include "stream/rawbuf.h"
#include "core/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

void rawbuf_init(struct rawbuf *rb, size_t nfields)
{
	memset(rb, 0, sizeof(*rb));
	rb->nfields = nfields;
	strmap_init(&rb->keys);
	buf_init(&rb->arena);
}

/* Keeps the devices and their arrays for the next batch (a device seen
 * once is usually seen again); only the rows go. */
void rawbuf_clear(struct rawbuf *rb)
{
	for (size_t i = 0; i < rb->keys.n; i++)
		rb->dev[i].n = 0;
	buf_reset(&rb->arena);
	rb->rows = 0;
}

static void rawbuf_free_devices(struct rawbuf *rb)
{
	for (size_t i = 0; i < rb->keys.n; i++) {
		free(rb->dev[i].offset);
		free(rb->dev[i].present);
		free(rb->dev[i].vals);
	}
	if (rb->dev)
		memset(rb->dev, 0, rb->ndev_alloc * sizeof(*rb->dev));
	strmap_clear(&rb->keys);
	buf_reset(&rb->arena);
	rb->rows = 0;
}

void rawbuf_reset(struct rawbuf *rb)
{
	rawbuf_free_devices(rb);
}

void rawbuf_release(struct rawbuf *rb)
{
	rawbuf_free_devices(rb);
	free(rb->dev);
	strmap_release(&rb->keys);
	buf_release(&rb->arena);
}

void rawbuf_add(struct rawbuf *rb, const struct event_schema *s,
		const struct event *ev, int64_t offset)
{
	size_t i = strmap_intern(&rb->keys, ev->key, ev->key_len);
	struct raw_dev *d;

	if (i >= rb->ndev_alloc) {
		size_t old = rb->ndev_alloc, a = old ? old * 2 : 64;
		while (a <= i)
			a *= 2;
		rb->dev = xrealloc(rb->dev, st_mult(a, sizeof(*rb->dev)));
		memset(rb->dev + old, 0, (a - old) * sizeof(*rb->dev));
		rb->ndev_alloc = a;
	}
	if (!rb->schema_known) {
		for (size_t f = 0; f < rb->nfields; f++)
			rb->has_optional |= !s->fields[f].required;
		rb->schema_known = true;
	}
	d = &rb->dev[i];
	if (d->n == d->alloc) {
		/* 1.5x: the arrays of a device settle at about its rows per batch */
		size_t a = d->alloc ? d->alloc + d->alloc / 2 : 16;
		d->offset = xrealloc(d->offset, st_mult(a, sizeof(*d->offset)));
		if (rb->has_optional)
			d->present = xrealloc(d->present, st_mult(a, sizeof(*d->present)));
		d->vals = xrealloc(d->vals, st_mult(st_mult(a, rb->nfields), sizeof(*d->vals)));
		d->alloc = a;
	}
	d->offset[d->n] = offset;
	if (d->present)
		d->present[d->n] = ev->present;
	{
		uint64_t *row = &d->vals[d->n * rb->nfields];
		for (size_t f = 0; f < rb->nfields; f++) {
			const struct ev_value *v = &ev->v[f];
			if (s->fields[f].type == FIELD_STRING) {
				uint64_t off = rb->arena.len;
				if (ev->present >> f & 1)
					buf_append(&rb->arena, v->s.p, v->s.len);
				row[f] = off << 32 | (ev->present >> f & 1 ? v->s.len : 0);
			} else {
				memcpy(&row[f], v, sizeof(row[f])); /* i or d: 8 bytes */
			}
		}
	}
	d->n++;
	rb->rows++;
}

size_t rawbuf_bytes(const struct rawbuf *rb)
{
	return rb->rows * ((rb->has_optional ? 16 : 8) + rb->nfields * sizeof(uint64_t)) +
	       rb->arena.len;
}
