/*
 * pqsink.c - the streaming jobs' Parquet files (pqsink.h): the columns of
 * a raw or an aggregate file, filled from a partition's buffers (rawbuf.h,
 * windows.h), written through the store by parquet/pq_store.h, which also
 * aborts the object when the writer fails, so nothing partial appears.
 * Files carry key-value metadata naming the writer's role. Runs on the
 * job's writer threads, one file per call. Also the objects' names
 * (pqsink_object_uri), which a replay must repeat exactly.
 */
#include "stream/pqsink.h"
#include "core/hive.h"
#include "core/xalloc.h"
#include "parquet/pq_store.h"

#include <inttypes.h>

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static struct pq_column col(const char *name, enum pq_type t, enum pq_logical l,
			    bool optional)
{
	struct pq_column c;
	memset(&c, 0, sizeof(c));
	c.name = name;
	c.type = t;
	c.logical = l;
	c.optional = optional;
	if (l == PQ_LOGICAL_TIMESTAMP) {
		c.unit = PQ_MICROS;
		c.utc = true;
	}
	return c;
}

/* A writer of the columns to uri, its file tagged iotpipe.dataset. The
 * object is durable only after store_sync(): the job syncs once per batch
 * before it commits it (one syncfs instead of two fsyncs per object). */
static enum iot_err open_writer(struct store *st, const char *uri, const struct pq_column *cols,
				size_t ncols, const struct pq_writer_options *o,
				const char *dataset, struct pq_writer **w, struct iot_error *err)
{
	struct pq_output *out = NULL;

	if (pq_store_output_open(st, uri, STORE_PUT_DEFER_SYNC, &out, err) ||
	    pq_writer_create(w, out, cols, ncols, o, err))
		return err->code;
	pq_writer_add_kv(*w, "iotpipe.dataset", dataset);
	return IOT_OK;
}

/* A writer that failed: its error, named after the object, which the
 * destroyed writer's stream aborts (nothing partial appears). */
static enum iot_err abandon(struct pq_writer *w, const char *uri, struct iot_error *err)
{
	pq_writer_status(w, err);
	pq_writer_destroy(w);
	iot_error_prefix(err, "writing %s", uri);
	return err->code;
}

static enum iot_err finish(struct pq_writer *w, const char *uri,
			   uint64_t *size, struct iot_error *err)
{
	enum iot_err rc = pq_writer_close(w, err);
	if (!rc && size)
		*size = pq_writer_bytes_written(w);
	pq_writer_destroy(w);
	if (rc)
		iot_error_prefix(err, "writing %s", uri);
	return rc;
}

/* Row r of the rows written: refs[r] when there are refs, else row r of
 * device dev. */
static inline const struct raw_dev *raw_row(const struct rawbuf *rb, size_t dev,
					    const struct raw_ref *refs, size_t r, size_t *row)
{
	if (!refs) {
		*row = r;
		return &rb->dev[dev];
	}
	*row = refs[r].row;
	return &rb->dev[refs[r].dev];
}

static enum iot_err write_raw(struct store *st, const char *uri,
			      const struct event_schema *s,
			      const struct rawbuf *rb, size_t dev,
			      const struct raw_ref *refs, size_t n,
			      int32_t partition, bool with_device,
			      const struct pq_writer_options *o,
			      uint64_t *size, struct iot_error *err)
{
	size_t nf = s->nfields, ncols = 0;
	struct pq_column *cols = xcalloc(nf + 4, sizeof(*cols));
	struct pq_writer *w;
	uint8_t *valid = xmalloc(n ? n : 1);
	int64_t *i64 = xmalloc((n ? n : 1) * sizeof(int64_t));
	double *f64 = xmalloc((n ? n : 1) * sizeof(double));
	struct pq_bytes *bytes = xmalloc((n ? n : 1) * sizeof(struct pq_bytes));
	enum iot_err rc;
	size_t c = 0, rr;
	const struct raw_dev *d;

	if (with_device)
		cols[ncols++] = col("device_id", PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, false);
	cols[ncols++] = col("event_time", PQ_INT64, PQ_LOGICAL_TIMESTAMP, false);
	for (size_t f = 0; f < nf; f++) {
		const struct schema_field *sf = &s->fields[f];
		if ((int)f == s->time_field)
			continue;
		switch (sf->type) {
		case FIELD_FLOAT:
			cols[ncols++] = col(sf->name, PQ_DOUBLE, PQ_LOGICAL_NONE, !sf->required);
			break;
		case FIELD_INT:
			cols[ncols++] = col(sf->name, PQ_INT64, PQ_LOGICAL_NONE, !sf->required);
			break;
		case FIELD_DATETIME:
			cols[ncols++] = col(sf->name, PQ_INT64, PQ_LOGICAL_TIMESTAMP, !sf->required);
			break;
		case FIELD_STRING:
		case FIELD_ENUM:
			cols[ncols++] = col(sf->name, PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, !sf->required);
			break;
		}
	}
	cols[ncols++] = col("kafka_partition", PQ_INT32, PQ_LOGICAL_NONE, false);
	cols[ncols++] = col("kafka_offset", PQ_INT64, PQ_LOGICAL_NONE, false);

	if ((rc = open_writer(st, uri, cols, ncols, o, "raw", &w, err)))
		goto done;

	if (with_device) {
		for (size_t r = 0; r < n; r++) {
			size_t key_len;
			const char *key = strmap_key(&rb->keys, refs ? refs[r].dev : dev, &key_len);
			bytes[r] = (struct pq_bytes){ (const uint8_t *)key, (uint32_t)key_len };
		}
		pq_writer_write_bytes_batch(w, c++, bytes, NULL, n);
	}
	for (size_t r = 0; r < n; r++) {
		d = raw_row(rb, dev, refs, r, &rr);
		i64[r] = rawbuf_i64(d, nf, rr, (size_t)s->time_field);
	}
	pq_writer_write_i64_batch(w, c++, i64, NULL, n);
	for (size_t f = 0; f < nf; f++) {
		const struct schema_field *sf = &s->fields[f];
		const uint8_t *vp = sf->required ? NULL : valid;
		if ((int)f == s->time_field)
			continue;
		for (size_t r = 0; r < n; r++) {
			d = raw_row(rb, dev, refs, r, &rr);
			valid[r] = d->present ? (uint8_t)(d->present[rr] >> f & 1) : 1;
		}
		switch (sf->type) {
		case FIELD_FLOAT:
			for (size_t r = 0; r < n; r++) {
				d = raw_row(rb, dev, refs, r, &rr);
				f64[r] = valid[r] ? rawbuf_double(d, nf, rr, f) : 0;
			}
			pq_writer_write_double_batch(w, c++, f64, vp, n);
			break;
		case FIELD_INT:
		case FIELD_DATETIME:
			for (size_t r = 0; r < n; r++) {
				d = raw_row(rb, dev, refs, r, &rr);
				i64[r] = valid[r] ? rawbuf_i64(d, nf, rr, f) : 0;
			}
			pq_writer_write_i64_batch(w, c++, i64, vp, n);
			break;
		case FIELD_STRING:
			for (size_t r = 0; r < n; r++) {
				uint32_t len;
				const char *sp;
				d = raw_row(rb, dev, refs, r, &rr);
				sp = rawbuf_str(rb, d, rr, f, &len);
				bytes[r] = valid[r] ? (struct pq_bytes){ (const uint8_t *)sp, len }
						    : (struct pq_bytes){ NULL, 0 };
			}
			pq_writer_write_bytes_batch(w, c++, bytes, vp, n);
			break;
		case FIELD_ENUM:
			for (size_t r = 0; r < n; r++) {
				int64_t e;
				d = raw_row(rb, dev, refs, r, &rr);
				e = rawbuf_i64(d, nf, rr, f);
				bytes[r] = valid[r] ? (struct pq_bytes){
					(const uint8_t *)sf->values[e], (uint32_t)sf->value_lens[e] }
						    : (struct pq_bytes){ NULL, 0 };
			}
			pq_writer_write_bytes_batch(w, c++, bytes, vp, n);
			break;
		}
	}
	{
		int32_t *i32 = xmalloc((n ? n : 1) * sizeof(int32_t));
		for (size_t r = 0; r < n; r++)
			i32[r] = partition;
		pq_writer_write_i32_batch(w, c++, i32, NULL, n);
		free(i32);
	}
	if (refs) {
		for (size_t r = 0; r < n; r++)
			i64[r] = rb->dev[refs[r].dev].offset[refs[r].row];
		pq_writer_write_i64_batch(w, c++, i64, NULL, n);
	} else {
		pq_writer_write_i64_batch(w, c++, rb->dev[dev].offset, NULL, n);
	}
	rc = pq_writer_end_rows(w, n) ? abandon(w, uri, err) : finish(w, uri, size, err);
done:
	free(cols);
	free(valid);
	free(i64);
	free(f64);
	free(bytes);
	return rc;
}

enum iot_err pqsink_write_raw(struct store *st, const char *uri,
			      const struct event_schema *s,
			      const struct rawbuf *rb, size_t dev,
			      int32_t partition, bool with_device,
			      const struct pq_writer_options *o,
			      uint64_t *size, struct iot_error *err)
{
	return write_raw(st, uri, s, rb, dev, NULL, rb->dev[dev].n, partition, with_device, o,
			 size, err);
}

enum iot_err pqsink_write_raw_rows(struct store *st, const char *uri,
				   const struct event_schema *s,
				   const struct rawbuf *rb, const struct raw_ref *refs,
				   size_t n, int32_t partition, bool with_device,
				   const struct pq_writer_options *o,
				   uint64_t *size, struct iot_error *err)
{
	return write_raw(st, uri, s, rb, 0, refs, n, partition, with_device, o, size, err);
}

enum iot_err pqsink_write_windows(struct store *st, const char *uri,
				  const struct event_schema *s,
				  const struct win_out *items, size_t n,
				  bool with_device,
				  const struct pq_writer_options *o,
				  uint64_t *size, struct iot_error *err)
{
	struct pq_column cols[EV_MAX_FIELDS + 5];
	char *names[EV_MAX_FIELDS];
	size_t ncols = 0, nsums = 0;
	struct pq_writer *w;
	enum iot_err rc;

	if (with_device)
		cols[ncols++] = col("device_id", PQ_BYTE_ARRAY, PQ_LOGICAL_STRING, false);
	cols[ncols++] = col("window_start_time", PQ_INT64, PQ_LOGICAL_TIMESTAMP, false);
	cols[ncols++] = col("window_end_time", PQ_INT64, PQ_LOGICAL_TIMESTAMP, false);
	for (size_t f = 0; f < s->nfields; f++) {
		if (s->fields[f].type != FIELD_FLOAT)
			continue;
		names[nsums] = xasprintf("avg_%s", s->fields[f].name);
		cols[ncols++] = col(names[nsums], PQ_DOUBLE, PQ_LOGICAL_NONE, false);
		nsums++;
	}
	cols[ncols++] = col("num_events", PQ_INT64, PQ_LOGICAL_NONE, false);

	if ((rc = open_writer(st, uri, cols, ncols, o, "aggregate", &w, err)))
		goto done;
	for (size_t i = 0; i < n; i++) {
		size_t c = 0;
		const struct win_out *x = &items[i];
		if (with_device)
			pq_writer_write_bytes(w, c++, x->key, x->key_len);
		pq_writer_write_i64(w, c++, x->start_us);
		pq_writer_write_i64(w, c++, x->end_us);
		for (size_t k = 0; k < nsums; k++)
			pq_writer_write_double(w, c++, x->sums[k] / (double)x->count);
		pq_writer_write_i64(w, c++, x->count);
		if (pq_writer_end_row(w)) {
			rc = abandon(w, uri, err);
			goto done;
		}
	}
	rc = finish(w, uri, size, err);
done:
	for (size_t k = 0; k < nsums; k++)
		free(names[k]);
	return rc;
}

void pqsink_file_name(struct buf *b, const char *topic, int32_t partition, uint64_t batch,
		      uint64_t run)
{
	buf_puts(b, "part-");
	hive_escape(b, topic, strlen(topic));
	buf_printf(b, "-%d-%010" PRIu64, (int)partition, batch);
	if (run)
		buf_printf(b, "-%016" PRIx64, run);
	buf_puts(b, ".parquet");
}

void pqsink_object_uri(struct buf *b, const char *root, const char *dir, size_t dir_len,
		       const char *topic, int32_t partition, uint64_t batch, uint64_t run)
{
	size_t n = strlen(root);

	buf_puts(b, root);
	if (n && root[n - 1] != '/')
		buf_putc(b, '/');
	buf_append(b, dir, dir_len);
	pqsink_file_name(b, topic, partition, batch, run);
}
