/*
 * pq_store.h - Parquet files in the object store (store.h): the codec's
 * byte-stream vtables (struct pq_output, struct pq_input in pq.h) backed
 * by a store output stream and a store reader, so the same code writes
 * and reads local files and S3 objects. Which back-end serves a URI is the
 * store's decision (store_uri_parse), never the caller's; the codec itself
 * knows nothing of the store. The streaming jobs write through it
 * (src/stream/pqsink.c); percentile, validate and inspect read through it.
 *
 * Writing (the object appears whole, or not at all):
 *
 *	struct pq_output *out;
 *	if (pq_store_output_open(st, uri, STORE_PUT_DEFER_SYNC, &out, &err))
 *		goto fail;
 *	pq_writer_create(&w, out, cols, ncols, &o, &err); // w owns out from here
 *	... rows ...
 *	pq_writer_close(w, &err);   // the object appears (rename, PUT or
 *	pq_writer_destroy(w);       // completed upload); a writer destroyed
 *	                            // without a close leaves nothing behind
 *
 * `flags` are store_open_write()'s; with STORE_PUT_DEFER_SYNC the caller
 * store_sync()s the location before it relies on the object. A write
 * error of the store stream sticks and comes back from pq_writer_close.
 *
 * Reading:
 *
 *	struct pq_reader *r;
 *	if (pq_store_reader_open(st, uri, &r, &err))    // footer validated
 *		goto fail;
 *	... pq_reader_* ...
 *	pq_reader_destroy(r);
 *
 * or pq_store_reader_open_sized() when a listing gave the size (S3 sends
 * no HEAD then). The reader's name (pq_reader_name, and the start of its
 * error messages) is the URI as given: "s3a://b/k" stays "s3a://b/k".
 * The first read in the object's last 64 KiB fetches all of them, so the
 * footer, its length and the magic cost one request on S3.
 *
 * The store is borrowed and must outlive what is opened on it; like the
 * store, an input or output is used by one thread at a time.
 */
#ifndef IOT_PARQUET_PQ_STORE_H
#define IOT_PARQUET_PQ_STORE_H

#include <stdint.h>

#include "core/err.h"
#include "parquet/pq.h"
#include "store/store.h"

/* Opens uri for writing (store_open_write with flags). On success *out is
 * a stream for pq_writer_create; on failure *out is untouched. */
enum iot_err pq_store_output_open(struct store *st, const char *uri, unsigned flags,
				  struct pq_output **out, struct iot_error *err);

/* Opens a Parquet reader on uri (store_open_read: a stat or a HEAD). */
enum iot_err pq_store_reader_open(struct store *st, const char *uri,
				  struct pq_reader **r, struct iot_error *err);
/* The same with the object's size known from a listing
 * (store_open_read_sized): on S3 no HEAD, and the footer comes with one
 * ranged GET of the object's tail. */
enum iot_err pq_store_reader_open_sized(struct store *st, const char *uri, uint64_t size,
					struct pq_reader **r, struct iot_error *err);

#endif
