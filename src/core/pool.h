/*
 * pool.h - a fixed set of worker threads over a list of independent items
 * (the percentile job's devices, a streaming batch's output objects).
 *
 * Items are handed out in index order from one atomic counter, so a slow
 * item never holds others back and no queue is needed. The first error
 * stops the hand-out (items already running finish) and is returned.
 * While the workers run, the calling thread calls `tick` every
 * `tick_ms` milliseconds (for a progress bar) and once more at the end.
 *
 *	struct pool_spec ps = { .threads = n, .items = ndev, .run = fn, .ctx = c };
 *	rc = pool_run(&ps, &err);
 *
 * run(ctx, worker, item, err) is called on worker threads; `worker` in
 * [0, threads) lets it use per-thread state (a store, buffers) without locks.
 */
#ifndef IOT_CORE_POOL_H
#define IOT_CORE_POOL_H

#include <stddef.h>

#include "core/err.h"

struct pool_spec {
	size_t threads;
	size_t items;
	enum iot_err (*run)(void *ctx, size_t worker, size_t item,
			    struct iot_error *err);
	void *ctx;
	void (*tick)(void *ctx, int final); /* optional; calling thread */
	unsigned tick_ms;
	/* optional: polled between items; non-zero stops with
	 * IOT_ERR_INTERRUPTED (a signal) */
	int (*should_stop)(void);
};

enum iot_err pool_run(const struct pool_spec *ps, struct iot_error *err);

#endif
