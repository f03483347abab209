/*
 * ckpt.h - the checkpoint of one Kafka partition of a streaming job, kept
 * under the job's checkpoint location (a URI, local or S3):
 *
 *	<checkpoint>/<topic>/partition=<p>/wal-<batch>     the plan of a batch
 *	<checkpoint>/<topic>/partition=<p>/state-<batch>   its commit
 *
 * A batch b of partition p covers the offsets [start, end). Before any of
 * its output is written, its plan (start, end and, for aggregate, the
 * time up to which windows are emitted) goes to wal-<b>, written only if
 * absent. After all its output is durable, state-<b> records the next
 * offset (= end) and the state after the batch (aggregate: the open
 * windows). Output objects are named after (topic, partition, batch), and
 * their content is a pure function of the plan and the previous state, so
 * a batch replayed after a crash rewrites the very same objects.
 *
 * Recovery (ckpt_recover): the newest state-<b> says where to resume; a
 * wal-<b+1> beside it is a batch that was planned and maybe half written:
 * it must be replayed exactly as planned before anything new.
 */
#ifndef IOT_STREAM_CKPT_H
#define IOT_STREAM_CKPT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

struct ckpt_wal {
	uint64_t batch;
	int64_t start, end;   /* offsets [start, end) */
	bool has_emit;
	int64_t emit_upto_us; /* aggregate: windows ending <= this are emitted */
	uint32_t epoch;       /* the checkpoint epoch the offsets belong to */
	int64_t ref_us;       /* processing time the batch's event times were
				 checked against (job.c, horizon); 0: none */
	uint64_t run;         /* the checkpoint's run (below); 0: none */
};

/*
 * Epochs and sources. The offsets in a checkpoint mean something only in
 * the partition log they were read from. `source` names that log's home
 * (the Kafka cluster id, or one incarnation of the embedded broker); a
 * checkpoint written against another source, or whose offset lies outside
 * the partition's log, has lost its log (job.c, data loss). When the job
 * goes on anyway (an explicit policy), the partition starts a new epoch:
 * offsets restart where the new log begins, batch numbers go on counting,
 * so no output object name is ever reused. A plan may start elsewhere
 * than the last commit's next offset only in a newer epoch.
 */
#define CKPT_SOURCE_MAX 128

/*
 * Runs. A partition's checkpoint started from nothing gets a random
 * 64-bit run id with its first plan; every later plan and state carries
 * it on, across epochs, and output objects are named after it as well as
 * after the batch (pqsink.h). So a new checkpoint location pointed at an
 * output that another one wrote (a checkpoint deleted or mistyped, two
 * jobs sharing an output) writes objects of its own beside the earlier
 * ones instead of replacing them, as Spark's file sink names its files
 * after a random id. A replay reads the run from its plan and rewrites
 * the very same names. Checkpoints written before runs existed carry
 * none (0) and keep the names without it.
 */
uint64_t ckpt_new_run(void);

/*
 * The run marker, <base>run: written with a partition's first commit of
 * each assignment (commit.c), read by GET, never by a listing. A listing
 * that shows neither plan nor commit while the marker is there is not a
 * checkpoint to start over from: the store's listing lags behind its
 * writes, or failed as if empty, or files were deleted by hand. Starting
 * over would read the partition again under a new run and store every
 * record twice (job.c, part_recover_from). A checkpoint written before
 * runs existed is marked too, with run 0. *marked is false when there is
 * no marker.
 */
enum iot_err ckpt_mark_run(struct store *st, const char *base, uint64_t run,
			   struct iot_error *err);
enum iot_err ckpt_marked_run(struct store *st, const char *base, bool *marked, uint64_t *run,
			     struct iot_error *err);

/*
 * The shape of a job's output: the settings that decide where its objects
 * go and what a row means ("partition-by=device_id,window_start
 * window=60", job.c job_shape). Every plan and commit records it, so that
 * a restart with other settings is refused instead of replaying a
 * half-written batch under other names (the crashed round's objects
 * would stay: rows stored twice) or mixing two layouts in one dataset.
 */
#define CKPT_SHAPE_MAX 256

/*
 * The last record a partition's committed batches read: its offset, Kafka
 * timestamp (-1: none) and key and value lengths. On assignment the job
 * reads that offset again and compares (job.c, verify_tail): a log
 * replaced under the same offsets (a topic deleted, recreated and written
 * past the checkpoint) holds another record there. A state without it
 * (older files, no record read yet) is not checked.
 */
struct ckpt_tail {
	bool has;
	int64_t offset, ts_ms;
	uint64_t klen, vlen;
};

struct ckpt_recovered {
	bool has_state;
	uint64_t batch;        /* last committed batch (0: none) */
	int64_t next_offset;   /* where to resume (-1: none committed) */
	struct buf payload;    /* the job's state text after the header */
	bool has_wal;          /* a planned batch batch+1 to replay */
	struct ckpt_wal wal;
	struct buf wal_plan;   /* the plan's merge plan text (merge.h) */
	uint32_t epoch;        /* of the state, else of the plan; 0 for none */
	char source[CKPT_SOURCE_MAX]; /* "" when the files name none */
	char shape[CKPT_SHAPE_MAX];   /* of the plan, else of the state; ""
					 when not recorded (older files) */
	struct ckpt_tail tail;        /* of the state */
	uint64_t run;                 /* of the plan, else of the state; 0:
					 none recorded */
};

/*
 * The most bytes a checkpoint file holds, and so the most a read of one
 * takes: a file's size is not known before it is read, and a broken or
 * hostile store must not make the job grow without end.
 *
 * CKPT_RUN_MAX   the run marker, "iotpipe-run <16 hex digits>\n".
 * CKPT_FILE_MAX  a plan, a state or a hand-over: a header of a few
 *                hundred bytes (a job name, numbers, a source and a shape
 *                of bounded length) and the job's text: none for the
 *                archive; for the aggregate its open windows (state), the
 *                windows a batch holds, gives and ends (plan) or gives to
 *                one home (hand-over), about 100 bytes each. 256 MiB is
 *                some 2.5 million windows open in one partition, which
 *                the job holds in memory and rewrites at every commit:
 *                far past a partition's share of any fleet we know of.
 *                A larger file is refused when it is written (the commit
 *                fails, naming the limit), not left for a restart that
 *                could not read it.
 * A plan or state that ckpt_recover lists is read as at most its listed
 * size (within CKPT_FILE_MAX): a store that sends more is refused at once.
 */
#define CKPT_RUN_MAX (sizeof("iotpipe-run 0123456789abcdef\n") - 1)
#define CKPT_FILE_MAX ((size_t)256 << 20)

/* IOT_ERR_LIMIT, naming uri, when a checkpoint file of len bytes would be
 * larger than CKPT_FILE_MAX. */
enum iot_err ckpt_check_size(const char *uri, size_t len, struct iot_error *err);

/* Base URI of a partition's checkpoint ("<ckpt>/<topic>/partition=<p>/"). */
char *ckpt_partition_uri(const char *checkpoint, const char *topic, int32_t p);

enum iot_err ckpt_recover(struct store *st, const char *job, const char *base,
			  struct ckpt_recovered *out, struct iot_error *err);
void ckpt_recovered_release(struct ckpt_recovered *r);

/*
 * The newest committed batch (*has false when none): a writer whose own
 * idea of the last batch is older has been overtaken by another instance.
 */
enum iot_err ckpt_latest(struct store *st, const char *base, bool *has,
			 uint64_t *batch, struct iot_error *err);

/* Where a record comes from: `source`, `shape` and `tail` may be NULL. */
struct ckpt_origin {
	const char *source;
	const char *shape;
	const struct ckpt_tail *tail; /* states only */
	uint64_t run;                 /* states only (a plan has its own) */
};

/*
 * Writes wal-<w->batch> unless it exists. When another writer got there
 * first, *existing receives its plan and *conflict is set (the caller
 * must follow that plan instead of its own). `plan` (may be NULL) is the
 * job's text after the header (merge.h); it and the shape are part of
 * what must match.
 */
enum iot_err ckpt_write_wal(struct store *st, const char *job, const char *base,
			    const struct ckpt_wal *w, const struct ckpt_origin *o,
			    const struct buf *plan, bool *conflict, struct ckpt_wal *existing,
			    struct iot_error *err);

/* Writes state-<batch> (overwrites an identical replayed one). */
enum iot_err ckpt_write_state(struct store *st, const char *job, const char *base,
			      uint64_t batch, int64_t next_offset, uint32_t epoch,
			      const struct ckpt_origin *o, const struct buf *payload,
			      struct iot_error *err);

/* Deletes wal and state files of batches older than keep_from (best effort). */
void ckpt_gc(struct store *st, const char *base, uint64_t keep_from);

#endif
