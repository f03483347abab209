/*
 * input.h - opening a dataset file as a Parquet input, wherever it lives.
 *
 * Local paths are read with pread (pq_input_file_open); s3:// objects
 * through the store's ranged GETs, so the Parquet reader fetches the
 * footer (with the object's tail, one request) and then one range per
 * projected column chunk, never the whole object. The store is borrowed: one per thread (store.h), and it must
 * outlive the input.
 */
#ifndef IOT_BATCH_INPUT_H
#define IOT_BATCH_INPUT_H

#include "core/err.h"
#include "parquet/pq.h"
#include "store/store.h"

/* Opens uri for reading; the input's name (for errors) is the uri. */
enum iot_err batch_input_open(struct store *st, const char *uri,
			      struct pq_input **in, struct iot_error *err);

/* Opens a Parquet reader on uri (footer validated). */
enum iot_err batch_reader_open(struct store *st, const char *uri,
			       struct pq_reader **r, struct iot_error *err);
/* The same with the object's size known from a listing: on S3 no HEAD,
 * and the footer comes with one ranged GET of the object's tail. */
enum iot_err batch_reader_open_sized(struct store *st, const char *uri, uint64_t size,
				     struct pq_reader **r, struct iot_error *err);

#endif
