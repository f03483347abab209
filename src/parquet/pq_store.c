/*
 * pq_store.c - the Parquet codec's byte streams over the object store
 * (pq_store.h): one adapter each way, and nothing else. Which columns a
 * file has is the caller's business (src/stream/pqsink.c for the
 * streaming jobs); whether a URI is a local file or an S3 object is the
 * store's.
 *
 * Output: struct store_pq_output forwards writes to a store output stream,
 * whose first error sticks; the adapter names the URI in the message and
 * hands the store's own error back at close. Destroying the adapter
 * without a close aborts the stream, so a failed writer leaves nothing
 * partial behind.
 *
 * Input: struct store_pq_input owns its store_reader and a copy of the URI
 * as the caller spelled it (the name the Parquet reader puts in its error
 * messages, and the one inspect prints). The reader
 * starts with three small reads at the end of the file (the footer length,
 * then the footer) and one at the start (the magic); on S3 each would be a
 * round trip. The first read in the last TAIL_BYTES fetches all of them at
 * once and later reads inside it are served from memory: the footer of a
 * file written by iotpipe (a few KB) is almost always inside, and a small
 * file is entirely.
 *
 * Each adapter is used by one thread at a time, as its store is.
 */
#include "parquet/pq_store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#include "core/banned.h"

/* ---- output ------------------------------------------------------------ */

struct store_pq_output {
	struct pq_output base;
	struct store_ostream *os;
	char *uri;
};

static enum iot_err so_write(struct pq_output *out, const void *data, size_t len,
			     struct iot_error *err)
{
	struct store_pq_output *o = (struct store_pq_output *)out;
	enum iot_err rc = store_ostream_write(o->os, data, len);
	if (rc)
		return iot_error_set(err, rc, "%s: write failed", o->uri);
	return IOT_OK;
}

static enum iot_err so_close(struct pq_output *out, struct iot_error *err)
{
	struct store_pq_output *o = (struct store_pq_output *)out;
	struct store_ostream *os = o->os;
	o->os = NULL;
	return store_ostream_close(os, err);
}

static void so_destroy(struct pq_output *out)
{
	struct store_pq_output *o = (struct store_pq_output *)out;
	store_ostream_abort(o->os); /* no-op after a close */
	free(o->uri);
	free(o);
}

enum iot_err pq_store_output_open(struct store *st, const char *uri, unsigned flags,
				  struct pq_output **out, struct iot_error *err)
{
	struct store_pq_output *o;
	struct store_ostream *os;

	if (store_open_write(st, uri, flags, &os, err))
		return err->code;
	o = xcalloc(1, sizeof(*o));
	o->base.write = so_write;
	o->base.close = so_close;
	o->base.destroy = so_destroy;
	o->os = os;
	o->uri = xstrdup(uri);
	*out = &o->base;
	return IOT_OK;
}

/* ---- input ------------------------------------------------------------- */

/* 64 KiB: the footer of a file of a few row groups and a dozen columns,
 * and a round trip costs as much as ~100 KB at S3's per-request speed. */
#define TAIL_BYTES ((size_t)64 << 10)

struct store_pq_input {
	struct pq_input base;
	struct store_reader *sr;
	char *uri;
	uint8_t *tail;     /* the object's last min(size, TAIL_BYTES) bytes,
			      once a read falls there */
};

static enum iot_err si_read_at(struct pq_input *in, uint64_t off, size_t len,
			       void *dst, struct iot_error *err)
{
	struct store_pq_input *s = (struct store_pq_input *)in;
	uint64_t size = in->size;
	size_t tl = size < TAIL_BYTES ? (size_t)size : TAIL_BYTES;
	bool in_tail = off >= size - tl && off <= size && len <= size - off;
	enum iot_err rc;

	if (in_tail && len && !s->tail) {
		s->tail = xmalloc(tl);
		if ((rc = store_reader_read_at(s->sr, size - tl, tl, s->tail, err)) != IOT_OK) {
			free(s->tail);
			s->tail = NULL;
			return rc;
		}
	}
	if (in_tail && s->tail) {
		memcpy(dst, s->tail + (off - (size - tl)), len);
		return IOT_OK;
	}
	return store_reader_read_at(s->sr, off, len, dst, err);
}

static void si_destroy(struct pq_input *in)
{
	struct store_pq_input *s = (struct store_pq_input *)in;
	if (!s)
		return;
	store_reader_destroy(s->sr);
	free(s->tail);
	free(s->uri);
	free(s);
}

/* size: known from a listing, or UINT64_MAX to ask the store */
static enum iot_err input_open(struct store *st, const char *uri, uint64_t size,
			       struct pq_input **in, struct iot_error *err)
{
	struct store_pq_input *s;
	enum iot_err rc;

	s = xcalloc(1, sizeof(*s));
	s->uri = xstrdup(uri);
	rc = size == UINT64_MAX ? store_open_read(st, uri, &s->sr, err)
				: store_open_read_sized(st, uri, size, &s->sr, err);
	if (rc != IOT_OK) {
		free(s->uri);
		free(s);
		return rc;
	}
	s->base.read_at = si_read_at;
	s->base.destroy = si_destroy;
	s->base.size = store_reader_size(s->sr);
	s->base.name = s->uri;
	*in = &s->base;
	return IOT_OK;
}

enum iot_err pq_store_reader_open(struct store *st, const char *uri,
				  struct pq_reader **r, struct iot_error *err)
{
	return pq_store_reader_open_sized(st, uri, UINT64_MAX, r, err);
}

enum iot_err pq_store_reader_open_sized(struct store *st, const char *uri, uint64_t size,
					struct pq_reader **r, struct iot_error *err)
{
	struct pq_input *in;
	enum iot_err rc = input_open(st, uri, size, &in, err);

	if (rc != IOT_OK)
		return rc;
	return pq_reader_open(r, in, err);
}
