/*
 * job_int.h - the inside of the streaming engine (job.h), shared by its
 * files; nothing outside src/stream/job*.c, commit.c and sink_*.c uses it.
 *
 *	job.c             partitions, rebalances, --once and the loop
 *	commit.c          commit rounds: plans, writer tasks, states, offsets
 *	sink_archive.c    the archive's rows (rawbuf) and objects
 *	sink_aggregate.c  the aggregate's windows, and one row per device and
 *	                  window across partitions (hand-overs, merge.h)
 *	decode_ahead.c    the decoder thread;  dlq.c  the dead-letter producer
 *
 * Threads: the state of the job is the job thread's, including in
 * librdkafka's rebalance callback (served inside rd_kafka_consume_batch_queue)
 * and the dead-letter producer's delivery reports. A commit round runs on
 * its own thread with its items (struct round), the writer threads each
 * with their own store (j->wst), the decoder thread with its array.
 *
 * Per partition (struct part) the job keeps the last committed batch and
 * offset, what it has read since (the sink's rows or open windows), and,
 * after a crash, the plan of a batch to replay. Data flows:
 *
 *	consume -> decode/validate/filter -> sink add -> buffer per partition
 *	trigger -> watermark -> per partition: sink plan, wal, objects (sink
 *	write), state (sink save), offset commit
 *
 * Invariants (asserted where they are relied on): a partition's buffer
 * only ever holds offsets >= its next_offset, in order; the events a
 * partition counts as pending are part of the job's buffered total; a
 * replaying partition commits exactly its plan's range before taking
 * newer records; the watermark never goes backwards, and neither does a
 * partition's emitted-up-to time.
 */
#ifndef IOT_STREAM_JOB_INT_H
#define IOT_STREAM_JOB_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/strmap.h"
#include "event/codec.h"
#include "store/store.h"
#include "stream/ckpt.h"
#include "stream/decode_ahead.h"
#include "stream/dlq.h"
#include "stream/job.h"
#include "stream/merge.h"
#include "stream/rawbuf.h"
#include "stream/windows.h"

struct part {
	bool assigned;
	int32_t id;
	char *ckpt_base;
	uint64_t batch;         /* last committed batch, 0 = none */
	int64_t next_offset;    /* first offset of the open batch; -1 unknown */
	int64_t last_offset;    /* last offset read into the open batch; -1 none */
	bool dirty;             /* read records since the last commit */
	size_t pending;         /* events it added to j->buffered since then */
	bool replay;            /* must commit `wal` exactly before going on */
	struct ckpt_wal wal;
	struct merge_plan wal_mp; /* the replay's merge plan (merge.h) */
	double last_arrival;    /* monotonic seconds */
	bool eof;
	int64_t eof_offset;
	struct ckpt_tail tail;  /* the last record read (ckpt.h) */
	struct ckpt_tail verify; /* the checkpoint's tail, still to be read
				    again and compared (job.c, verify_tail) */
	bool log_replaced;      /* it was not the same record: data loss */
	uint64_t log_gone;      /* j->log_gone when it was last read */
	struct ckpt_tail found; /* what was there instead */
	struct rawbuf raw;      /* archive: rows read since the last plan */
	struct rawbuf craw;     /* archive: rows of the batch being committed */
	struct winstate win;    /* aggregate: open windows */
	struct metric *m_lag;
	uint64_t resync_batch;  /* != 0: that batch was another instance's */
	uint32_t epoch;         /* checkpoint epoch of next_offset (ckpt.h) */
	uint64_t run;           /* the checkpoint's run (ckpt.h); 0: none */
	bool run_marked;        /* its run marker was written since assignment */
	bool other_source;      /* the checkpoint is of another log source */
	bool loss_pending;      /* a fetch found the position outside the log */
	uint64_t commits;       /* commit round thread: batches committed */
	int64_t ref_us;         /* the open batch's processing time (horizon);
				   0 until its first record */
};

/* A hand-over object a batch writes (merge.h). */
struct handoff {
	int32_t part;
	uint64_t group;
	char *uri;
	struct buf text;
};

/* One partition's batch in a commit round (commit.c). */
struct citem {
	struct part *p;
	struct ckpt_wal w;
	bool replaying;
	struct rawbuf *raw;       /* archive: the batch's rows (p->craw) */
	struct raw_groups *groups; /* archive, a layout other than device_id:
				      the rows of each object (sink_archive.c) */
	struct win_out_list wl;   /* aggregate: the windows it emits */
	struct buf payload;       /* the state after the batch (sink save) */
	struct merge_plan mp;     /* aggregate: what it merges (merge.h) */
	struct ckpt_tail tail;    /* the partition's last record read */
	bool mark_run;            /* writes the run marker after its state */
	struct winstate *took;    /* the hand-overs it ends with, one per
				     present `end` line, read before planning */
	size_t ntook;
	struct handoff *ho;       /* the hand-overs it writes */
	size_t nho;
	enum { CI_OK, CI_FAILED } outcome;
	size_t rows;              /* rows it writes (the console's batch table) */
	size_t files;             /* objects written (the same) */
};

/* One output object of a round, for the writer threads. */
struct write_task {
	struct citem *c;     /* the batch it belongs to */
	char *uri;
	size_t dev;          /* archive: device index in the raw buffer */
	size_t first, n;     /* aggregate: items[first, first+n) */
};

/* Every object of a commit round: one pool writes them all, so a round
 * of many partitions with few objects each still keeps the writers busy. */
struct write_list {
	struct write_task *v;
	size_t n, alloc;
};

void write_list_add(struct write_list *tl, struct citem *c, const char *uri, size_t dev,
		    size_t first, size_t n);

struct job;

/*
 * What a job kind does with its data (after fluent-bit's output plugin
 * callbacks): the engine reads, plans, commits and recovers; the sink
 * buffers events, turns a partition's buffer into a batch and the batch
 * into objects and a state. Optional callbacks are NULL.
 */
struct sink_ops {
	const char *name; /* "archive" | "aggregate": metrics label, logs */
	/* the shape of its output (ckpt.h): "partition-by=<layout>" and
	 * what else decides its objects' names and rows; its --partition-by
	 * setting, for messages */
	void (*shape)(const struct job *j, struct buf *out);
	const char *layout_key;
	/* a valid event of p at `offset`: buffer it (true), or it is late
	 * (false: dead-lettered and counted by the caller) */
	bool (*add)(struct job *j, struct part *p, const struct event *ev, int64_t offset);
	/* bytes buffered in p, for max_batch_bytes (NULL: not bounded so) */
	size_t (*bytes)(const struct part *p);
	/* recovery: p's state from its checkpoint (NULL: none kept) */
	enum iot_err (*load)(struct job *j, struct part *p, const struct ckpt_recovered *r,
			     struct iot_error *err);
	/* choosing a round's batches: whether p has windows to emit up to
	 * `upto` or hand-overs to take (*mp: its `end` lines) besides what
	 * it read */
	enum iot_err (*due)(struct job *j, struct part *p, bool has_emit, int64_t upto,
			    struct merge_plan *mp, bool *due, struct iot_error *err);
	/* the round's items, in partition order, before their plans */
	void (*share)(struct job *j, struct citem *items, size_t n);
	/* after c's plan is durable, before it takes effect: read what it
	 * needs from the store (a failure fails the batch, which replays) */
	enum iot_err (*prepare)(struct job *j, struct citem *c, struct iot_error *err);
	/* moves p's batch into c: the partition starts its next batch */
	void (*plan)(struct job *j, struct citem *c);
	/* c's state record after the batch (NULL: none, empty payload) */
	void (*save)(struct job *j, struct citem *c);
	/* commit round thread: c's objects into the round's task list */
	void (*write)(struct job *j, struct citem *c, struct write_list *tl);
	/* writer thread: one object, with that thread's store */
	enum iot_err (*write_object)(struct job *j, struct store *st, const struct write_task *t,
				     uint64_t *bytes, uint64_t *rows, struct iot_error *err);
	/* commit round thread, after c's state is written (best effort) */
	void (*committed)(struct job *j, struct store *st, const struct citem *c);
	/* job thread, when the round is collected */
	void (*release)(struct job *j, struct citem *c);
};

extern const struct sink_ops sink_archive;
extern const struct sink_ops sink_aggregate;

/* The commit round in flight (at most one). */
struct round {
	struct citem *items;
	size_t n;
	pthread_t th;
	bool threaded, running, failed;
	atomic_bool done;
	struct iot_error err;
	double seconds;
};

struct job {
	const struct job_options *o;
	const struct sink_ops *sink;
	const char *name; /* sink->name */
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	uint64_t log_gone;  /* errors saying a partition or the topic is gone
			       (job.c, on_error) */
	struct fetch_waker *waker;
	struct lagwatch *lagwatch; /* the lag gauges while the job is held up */
	double lag_beat;           /* when the job last published its positions */
	struct dlq dlq;
	struct store *st;
	struct store *cst;                /* the commit round's */
	struct store **wst; /* one per writer thread */
	size_t nwst;
	struct round round;
	struct decode_ahead ahead;
	struct dbatch *pending; /* read, decoded or being decoded, not handled */
	struct part **parts; /* stable: a commit round holds pointers */
	size_t nparts;
	size_t nsums;
	int sum_fields[EV_MAX_FIELDS];
	char *sum_names; /* their names, for the window state (windows.h) */
	bool has_wm;
	int64_t wm_us;
	bool assigned_once;
	size_t buffered;       /* events in open batches */
	double now;            /* monotonic time of the current consumed batch */
	double last_flush;
	bool failed;
	struct iot_error fatal;
	char *source;          /* identity of the partition logs, or NULL */
	char *shape;           /* of the output (ckpt.h), from the options */
	/* --once: the topic's partitions and their end offsets at start */
	struct {
		int32_t n;
		int64_t *target, *lo;
		bool *done;        /* committed up to target, as the checkpoint shows */
		double deadline;   /* give up without progress by then */
		double next_check;
		int64_t progress;  /* sum of committed positions seen */
		double consumed;   /* records read when last looked */
		double batches;    /* batches committed when last looked */
		bool flushed;      /* what was read since then is committed */
	} once;
	/* aggregate: the partition each key was first seen on */
	struct strmap key_part;
	int32_t *key_first;
	size_t key_first_alloc;
	struct {
		struct metric *consumed, *valid, *filtered, *late, *written;
		struct metric *batches, *batch_seconds, *latency, *watermark;
		struct metric *windows, *files, *bytes, *open_windows, *dlq, *dlq_dropped;
		struct metric *invalid[EV_R__COUNT];
		struct metric *replays, *wakeups;
		struct metric *data_loss[2], *split_keys, *merged;
	} m;
	/* the array's consumed and valid records, added to m.consumed and
	 * m.valid once per array (an atomic add per record cost more) */
	uint64_t n_consumed, n_valid;
};

/* job.c */
void job_fail(struct job *j, const struct iot_error *e);
/* The watermark from the partitions owned here (windows.h); before a
 * round plans its batches. */
void job_watermark(struct job *j);
/* The lag and open-window gauges, after a round is planned. */
void job_update_lag(struct job *j);
/* Takes p's pending events off the job's buffered total (p's batch was
 * planned, or dropped). */
void job_unbuffer(struct job *j, struct part *p);

/* commit.c: a round plans a batch for every partition with something to
 * commit; with `wait` it returns when the round is done. */
enum iot_err commit_all(struct job *j, bool wait, struct iot_error *err);
/* A replaying partition reached the end of its plan: commit exactly it. */
enum iot_err commit_replay(struct job *j, struct part *p, struct iot_error *err);
/* --once: commits p's batch alone, emitting no window (job.c, once_cut_due). */
enum iot_err commit_cut(struct job *j, struct part *p, struct iot_error *err);
/* Waits for the round in flight, if any, and applies its outcome. */
enum iot_err commit_wait(struct job *j, struct iot_error *err);

/* sink_aggregate.c */
/* A key that p's windows see for the first time: counted when it is on
 * another partition too (iotpipe_keys_split_total). */
void sink_note_key(struct job *j, const struct part *p, const char *key, size_t len);
/* Groups of windows held for hand-overs, in the partitions owned here. */
size_t sink_groups_held(const struct job *j);

#endif
