/*
 * batchlog.h - the recent committed batches, for the web console's table
 * (as Spark's UI lists its micro-batches): a process-wide ring of the
 * last BATCHLOG_CAPACITY records, newest first when read.
 *
 * The streaming job pushes one record per partition batch at commit time
 * (stream/commit.c, commit_wait); the console's HTTP thread copies them out.
 * A push takes a mutex for the time of a struct copy, so the job thread
 * never waits on a reader for longer than a reader's memcpy.
 *
 *	batchlog_push("archive", &(struct batch_record){ .partition = 3, ... });
 *	n = batchlog_copy(out, BATCHLOG_CAPACITY);   // newest first
 */
#ifndef IOT_METRICS_BATCHLOG_H
#define IOT_METRICS_BATCHLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 200 rows: 15 minutes of two jobs on four partitions at the 10 s trigger
 * of `run` is 720, but a table longer than a screenful or two is not read;
 * the charts show the long view. About 25 KiB. */
#define BATCHLOG_CAPACITY 200

struct batch_record {
	char job[16];       /* "archive" | "aggregate" (cut to fit) */
	int32_t partition;
	uint64_t batch;     /* the partition's batch number (checkpoint) */
	int64_t start, end; /* offsets [start, end) */
	uint64_t rows;      /* rows written: events (archive), windows (aggregate) */
	uint64_t files;     /* output objects */
	double seconds;     /* the commit round's duration */
	bool replayed;      /* a plan replayed after a restart */
	double time;        /* commit time, seconds since the epoch */
};

/* Any thread. r->job is set from `job`; `time` is filled in when 0. */
void batchlog_push(const char *job, const struct batch_record *r);
/* Copies up to n records, newest first; returns how many. Any thread. */
size_t batchlog_copy(struct batch_record *out, size_t n);
/* Records pushed since start (including those no longer held). */
uint64_t batchlog_total(void);
/* Forgets every record (tests). */
void batchlog_reset(void);

#endif
