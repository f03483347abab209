/*
 * pool.h - fork-join parallelism for a batch's output objects. Writing
 * hundreds of small Parquet objects one after the other is bounded by
 * per-object latency (fsync on local disk, a PUT round trip on S3), so a
 * commit hands them to up to `nthreads` threads and waits for all. Each
 * thread gets its own context slot (e.g. its own store: a store is
 * single-threaded), picks tasks from a shared atomic counter, and the
 * first error wins.
 *
 *	enum iot_err fn(void *ctx, size_t task, void *slot, struct iot_error *err);
 *	rc = pool_run(ntasks, nthreads, slots, slot_size, fn, ctx, &err);
 *
 * With nthreads <= 1 or a single task everything runs on the caller.
 */
#ifndef IOT_STREAM_POOL_H
#define IOT_STREAM_POOL_H

#include <stddef.h>

#include "core/err.h"

typedef enum iot_err (*pool_fn)(void *ctx, size_t task, void *slot,
				struct iot_error *err);

enum iot_err pool_run(size_t ntasks, size_t nthreads, void *slots,
		      size_t slot_size, pool_fn fn, void *ctx,
		      struct iot_error *err);

#endif
