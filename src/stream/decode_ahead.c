/*
 * decode_ahead.c - the decoder thread of a streaming job (decode_ahead.h).
 *
 * An array's scratch is a list of chunks, never moved once written (the
 * events point into them), kept from one array to the next: the first
 * chunk is reused, larger ones (a record with a long escaped string) are
 * freed when the array is decoded again.
 */
#include "stream/decode_ahead.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xalloc.h"

#include <string.h>

#include "core/banned.h"

#define SCRATCH_CHUNK (64 * 1024)

struct scratch_chunk {
	struct scratch_chunk *next;
	size_t len, cap;
	unsigned char data[];
};

/* Room for n bytes in b's scratch. */
static void *scratch_alloc(struct dbatch *b, size_t n)
{
	struct scratch_chunk *c = b->scratch;

	if (!c || c->cap - c->len < n) {
		size_t cap = n > SCRATCH_CHUNK ? n : SCRATCH_CHUNK;
		c = xmalloc(st_add(sizeof(*c), cap));
		c->len = 0;
		c->cap = cap;
		c->next = b->scratch;
		b->scratch = c;
	}
	c->len += n;
	return c->data + c->len - n;
}

/* Empties b's scratch, keeping one chunk of the usual size. */
static void scratch_reset(struct dbatch *b)
{
	struct scratch_chunk *keep = NULL;

	while (b->scratch) {
		struct scratch_chunk *c = b->scratch;
		b->scratch = c->next;
		if (!keep && c->cap == SCRATCH_CHUNK) {
			keep = c;
			continue;
		}
		free(c);
	}
	if (keep) {
		keep->len = 0;
		keep->next = NULL;
	}
	b->scratch = keep;
}

static void decode_array(struct ev_decoder *dec, struct dbatch *b)
{
	scratch_reset(b);
	for (size_t i = 0; i < b->n; i++) {
		const rd_kafka_message_t *m = b->msgs[i];
		size_t used;
		if (m->err)
			continue;
		b->res[i] = ev_decode(dec, m->key, m->key_len, m->payload, m->len, &b->ev[i]);
		if (b->res[i].status != EV_VALID || !(used = ev_decoder_scratch_len(dec)))
			continue;
		ev_decoder_move_scratch(dec, &b->ev[i], scratch_alloc(b, used));
	}
}

static void decoder_run(void *arg)
{
	struct decode_ahead *d = arg;
	decode_array(d->dec, d->batch);
}

void decode_ahead_init(struct decode_ahead *d, const struct event_schema *schema,
		       const char *job_name)
{
	memset(d, 0, sizeof(*d));
	for (int i = 0; i < 2; i++)
		d->arrays[i].ev = xcalloc(DBATCH_MAX, sizeof(struct event));
	d->dec = ev_decoder_create(schema);
	d->worker = worker_start(decoder_run, d);
	if (!d->worker)
		log_warn(job_name, "cannot start the decoder thread: decoding on the job thread");
}

struct dbatch *decode_ahead_array(struct decode_ahead *d, int i)
{
	return &d->arrays[i];
}

void decode_ahead_start(struct decode_ahead *d, struct dbatch *b)
{
	b->decoded = false;
	d->batch = b;
	if (d->worker)
		worker_request(d->worker);
	else
		decode_array(d->dec, b);
}

void decode_ahead_wait(struct decode_ahead *d, struct dbatch *b)
{
	if (b->decoded)
		return;
	b->decoded = true;
	if (d->worker)
		worker_wait(d->worker);
}

void decode_ahead_release(struct decode_ahead *d)
{
	worker_stop(d->worker);
	ev_decoder_destroy(d->dec);
	for (int i = 0; i < 2; i++) {
		free(d->arrays[i].ev);
		d->arrays[i].ev = NULL;
		d->arrays[i].n = 0;
		scratch_reset(&d->arrays[i]);
		free(d->arrays[i].scratch);
		d->arrays[i].scratch = NULL;
	}
}
