/*
 * input.c - a struct pq_input over the object store (see input.h).
 *
 * The adapter owns its store_reader and a copy of the URI (the name the
 * Parquet reader puts in its error messages). Used by one thread.
 *
 * The Parquet reader starts with three small reads at the end of the file
 * (the footer length, then the footer) and one at the start (the magic);
 * on S3 each would be a round trip. The first read in the last TAIL_BYTES
 * fetches all of them at once and later reads inside it are served from
 * memory: the footer of a file written by iotpipe (a few KB) is almost
 * always inside, and a small file is entirely.
 */
#include "batch/input.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#include "core/banned.h"

/* 64 KiB: the footer of a file of a few row groups and a dozen columns,
 * and a round trip costs as much as ~100 KB at S3's per-request speed. */
#define TAIL_BYTES ((size_t)64 << 10)

struct store_input {
	struct pq_input base;
	struct store_reader *sr;
	char *uri;
	uint8_t *tail;     /* the object's last min(size, TAIL_BYTES) bytes,
			      once a read falls there */
};

static enum iot_err si_read_at(struct pq_input *in, uint64_t off, size_t len,
			       void *dst, struct iot_error *err)
{
	struct store_input *s = (struct store_input *)in;
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
	struct store_input *s = (struct store_input *)in;
	if (!s)
		return;
	store_reader_destroy(s->sr);
	free(s->tail);
	free(s->uri);
	free(s);
}

static bool is_s3(const char *uri)
{
	return !strncmp(uri, "s3://", 5) || !strncmp(uri, "s3a://", 6);
}

/* size: known from a listing (no HEAD), or UINT64_MAX to ask */
static enum iot_err input_open(struct store *st, const char *uri, uint64_t size,
			       struct pq_input **in, struct iot_error *err)
{
	struct store_input *s;
	enum iot_err rc;

	if (!is_s3(uri))
		return pq_input_file_open(in, !strncmp(uri, "file://", 7) ? uri + 7 : uri,
					  err);
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

enum iot_err batch_input_open(struct store *st, const char *uri,
			      struct pq_input **in, struct iot_error *err)
{
	return input_open(st, uri, UINT64_MAX, in, err);
}

enum iot_err batch_reader_open(struct store *st, const char *uri,
			       struct pq_reader **r, struct iot_error *err)
{
	return batch_reader_open_sized(st, uri, UINT64_MAX, r, err);
}

enum iot_err batch_reader_open_sized(struct store *st, const char *uri, uint64_t size,
				     struct pq_reader **r, struct iot_error *err)
{
	struct pq_input *in;
	enum iot_err rc = input_open(st, uri, size, &in, err);

	if (rc != IOT_OK)
		return rc;
	return pq_reader_open(r, in, err);
}
