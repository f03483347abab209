/*
 * pqsink.h - writes the streaming jobs' Parquet files through the store
 * (store.h, by way of parquet/pq_store.h), so the same code writes to
 * local disk or to S3, and the object appears atomically when the writer
 * closes.
 *
 * Column layouts (docs/design.md §4 and §5):
 *   raw:       [device_id] event_time TIMESTAMP(MICROS,UTC), every other
 *              schema field (float DOUBLE, int INT64, string/enum STRING,
 *              datetime TIMESTAMP), kafka_partition INT32, kafka_offset INT64
 *   aggregate: [device_id] window_start_time, window_end_time TIMESTAMP,
 *              avg_<float field> DOUBLE ..., num_events INT64
 * device_id is a column only when it is not in the Hive path.
 *
 * Objects are written with STORE_PUT_DEFER_SYNC: they appear complete
 * (temporary name, then rename) but the caller must store_sync() the
 * output location before it records them as committed.
 */
#ifndef IOT_STREAM_PQSINK_H
#define IOT_STREAM_PQSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/schema.h"
#include "parquet/pq.h"
#include "store/store.h"
#include "stream/rawbuf.h"
#include "stream/windows.h"

/*
 * Writes rows [0, d->n) of one device of a raw buffer to uri. On success
 * *size (may be NULL) is the size of the object written.
 */
enum iot_err pqsink_write_raw(struct store *st, const char *uri,
			      const struct event_schema *s,
			      const struct rawbuf *rb, size_t dev,
			      int32_t partition, bool with_device,
			      const struct pq_writer_options *o,
			      uint64_t *size, struct iot_error *err);

/* Writes the rows refs[0..n) of a raw buffer to uri, in that order (the
 * archive's layouts without device_id in the path: with_device then). */
enum iot_err pqsink_write_raw_rows(struct store *st, const char *uri,
				   const struct event_schema *s,
				   const struct rawbuf *rb, const struct raw_ref *refs,
				   size_t n, int32_t partition, bool with_device,
				   const struct pq_writer_options *o,
				   uint64_t *size, struct iot_error *err);

/* Writes windows items[0..n) to uri; *size as above. */
enum iot_err pqsink_write_windows(struct store *st, const char *uri,
				  const struct event_schema *s,
				  const struct win_out *items, size_t n,
				  bool with_device,
				  const struct pq_writer_options *o,
				  uint64_t *size, struct iot_error *err);

/*
 * Output naming. Every object of a batch is named after the topic, the
 * partition, the batch and the checkpoint's run (ckpt.h):
 * part-<topic>-<partition>-<batch>-<run>.parquet, the topic escaped as a
 * Hive value, the batch on 10 digits, the run on 16 hex digits (left out
 * when the checkpoint has none: part-<topic>-<partition>-<batch>.parquet).
 * A replay writes the same names, so it replaces what a crash left half
 * done; another checkpoint never does. pqsink_object_uri appends root, a
 * '/', the Hive directory `dir` (may be empty; ends with '/') and that
 * name to b.
 */
void pqsink_file_name(struct buf *b, const char *topic, int32_t partition, uint64_t batch,
		      uint64_t run);
void pqsink_object_uri(struct buf *b, const char *root, const char *dir, size_t dir_len,
		       const char *topic, int32_t partition, uint64_t batch, uint64_t run);

#endif
