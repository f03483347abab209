/*
 * device.h - the percentile job for ONE device partition: read its files
 * (only the needed columns), group the rows by UTC date, and compute each
 * kept group's percentiles (docs/design.md §6, docs/percentile.md). A
 * dataset laid out by date= gives date partitions instead, whose rows are
 * grouped by (device_id column, UTC date).
 *
 * Memory is one device's rows (32 bytes each) plus per-group scratch, held
 * in a struct device_worker that a thread reuses for every device it gets,
 * so the job's footprint is bounded by the largest device partition times
 * the number of threads, not by the dataset.
 *
 *	struct device_worker *w = device_worker_create(st);  // st: this thread's store
 *	for each device assigned to this thread:
 *		struct device_result res;
 *		if (device_process(w, &job, dev, &res, &err)) ... // err names the file
 *		... res.day[g], res.val[g * job.np + i] ...
 *		device_result_release(&res);
 *	device_worker_destroy(w);
 */
#ifndef IOT_BATCH_DEVICE_H
#define IOT_BATCH_DEVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/dataset.h"
#include "batch/group_stats.h"
#include "core/err.h"
#include "store/store.h"

/* What to compute; shared read-only by every worker. */
struct device_job {
	const double *p;         /* percentiles in [0, 1], output order */
	size_t np;
	enum stats_method method;
	long threshold;          /* keep groups with num_events > threshold */
	_Atomic uint64_t *rows_read; /* progress counter (may be NULL) */
	/* the units are date= directories (struct dataset's by_date): the
	 * device is each row's device_id, and rows of devices outside the
	 * shard (dataset_device_hash(id) % shard_n != shard_i; shard_n 0:
	 * no shard) are passed over */
	bool by_date;
	uint64_t shard_i, shard_n;
};

/* One device's output: ngroups kept groups in increasing day order. */
struct device_result {
	size_t ngroups;
	int64_t *day;      /* days since 1970-01-01 (UTC) */
	int64_t *events;   /* num_events (distinct) per group */
	double *val;       /* ngroups * np percentiles */
	bool as_float;     /* every file stored event_duration as FLOAT: print
			      the values as floats (10.12, not 10.119999885) */
	uint64_t rows;     /* rows read */
	uint64_t skipped;  /* rows without event_time or with a null/NaN duration */
	/* by_date: group g is device devs[dev[g]] (dev[g] >= ndevs: the null
	 * device); groups come by device index, then day */
	uint32_t *dev;
	char **devs;
	size_t ndevs;
};

struct device_worker;

/* st is borrowed (one store per thread) and used for s3:// files. */
struct device_worker *device_worker_create(struct store *st);
/* Optional: take the s3:// files of up to max_size bytes from pf (indexed
 * as dataset_files(); larger ones the caller dropped from pf) instead of
 * reading them through st; pf is borrowed and shared by the workers. */
struct store_prefetch;
void device_worker_set_prefetch(struct device_worker *w, struct store_prefetch *pf,
				uint64_t max_size);
void device_worker_destroy(struct device_worker *w);

enum iot_err device_process(struct device_worker *w, const struct device_job *job,
			    const struct dataset_device *dev,
			    struct device_result *res, struct iot_error *err);

void device_result_release(struct device_result *res);

/* Columns that never take part in "distinct event": the Kafka provenance
 * columns (a duplicate send is the same event at another offset). */
bool device_column_is_provenance(const char *name);

#endif
