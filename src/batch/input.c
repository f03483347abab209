/*
 * input.c - a struct pq_input over the object store (see input.h).
 *
 * The adapter owns its store_reader and a copy of the URI (the name the
 * Parquet reader puts in its error messages). Used by one thread.
 */
#include "batch/input.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#include "core/banned.h"

struct store_input {
	struct pq_input base;
	struct store_reader *sr;
	char *uri;
};

static enum iot_err si_read_at(struct pq_input *in, uint64_t off, size_t len,
			       void *dst, struct iot_error *err)
{
	struct store_input *s = (struct store_input *)in;
	return store_reader_read_at(s->sr, off, len, dst, err);
}

static void si_destroy(struct pq_input *in)
{
	struct store_input *s = (struct store_input *)in;
	if (!s)
		return;
	store_reader_destroy(s->sr);
	free(s->uri);
	free(s);
}

static bool is_s3(const char *uri)
{
	return !strncmp(uri, "s3://", 5) || !strncmp(uri, "s3a://", 6);
}

enum iot_err batch_input_open(struct store *st, const char *uri,
			      struct pq_input **in, struct iot_error *err)
{
	struct store_input *s;
	enum iot_err rc;

	if (!is_s3(uri))
		return pq_input_file_open(in, !strncmp(uri, "file://", 7) ? uri + 7 : uri,
					  err);
	s = xcalloc(1, sizeof(*s));
	s->uri = xstrdup(uri);
	rc = store_open_read(st, uri, &s->sr, err);
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

enum iot_err batch_reader_open(struct store *st, const char *uri,
			       struct pq_reader **r, struct iot_error *err)
{
	struct pq_input *in;
	enum iot_err rc = batch_input_open(st, uri, &in, err);

	if (rc != IOT_OK)
		return rc;
	return pq_reader_open(r, in, err);
}
