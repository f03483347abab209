/*
 * job.c - the streaming engine (job.h; its parts: job_int.h): partitions,
 * rebalances, --once and the loop.
 *
 * The loop reads an array of records, hands it to the decoder thread
 * (decode_ahead.h) and handles the array read before it: each record goes
 * to its partition, is checked (invalid and late records to the
 * dead-letter topic, dlq.h) and added to the sink (job_int.h, struct
 * sink_ops). A trigger (time, batch size, a stop signal, a rebalance, or
 * with --once the data) starts a commit round (commit.c). Assignments
 * recover each partition from its checkpoint and check it against its
 * log (data loss); --once ends when the whole topic is committed, by
 * whichever instance.
 */
#include "core/clock.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/signals.h"
#include "core/xalloc.h"
#include "kafka/client.h"
#include "kafka/fetch_waker.h"
#include "kafka/lagwatch.h"
#include "metrics/metrics.h"
#include "stream/job_int.h"
#include "stream/pqsink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

/* --once: how often the checkpoint is read for the partitions this
 * instance does not own, while it waits for the other instances. */
#define ONCE_CHECK_S 1.0
/* how often the job thread tells the lag watch where it is (kafka/lagwatch.h) */
#define LAG_BEAT_S 0.5

void job_options_init(struct job_options *o)
{
	memset(o, 0, sizeof(*o));
	o->trigger_s = 60;
	o->window_us = 60 * 1000000LL;
	o->watermark_us = 60 * 1000000LL;
	o->idle_timeout_s = 60;
	o->horizon_us = JOB_HORIZON_DEFAULT_S * 1000000LL;
	o->max_batch_events = 700000;
	o->max_batch_bytes = 128u << 20;
	o->timeout_s = 30;
	o->layout.n = 2;
	o->layout.cols[0] = HIVE_DEVICE_ID;
	o->layout.cols[1] = HIVE_WINDOW_START;
	o->raw_layout.n = 1;
	o->raw_layout.cols[0] = HIVE_DEVICE_ID;
	pq_writer_options_init(&o->pq);
}

void job_fail(struct job *j, const struct iot_error *e)
{
	if (!j->failed) {
		j->fatal = *e;
		j->failed = true;
	}
}

/* ---- metrics ------------------------------------------------------- */

static void register_metrics(struct job *j)
{
	static const double batch_b[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
	static const double lat_b[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
	char l[64], lr[128];

	snprintf(l, sizeof(l), "job=\"%s\"", j->name);
	j->m.consumed = metrics_counter("iotpipe_events_consumed_total", "Records read from Kafka.", l);
	j->m.valid = metrics_counter("iotpipe_events_valid_total", "Records that decoded as valid events.", l);
	j->m.filtered = metrics_counter("iotpipe_events_filtered_total",
					"Valid events filtered out by the schema (e.g. status error or missing).", l);
	j->m.late = metrics_counter("iotpipe_events_late_total",
				    "Events whose window had already been emitted (dropped or dead-lettered).", l);
	j->m.written = metrics_counter("iotpipe_rows_written_total", "Rows written to output files.", l);
	j->m.batches = metrics_counter("iotpipe_batches_total", "Batches committed.", l);
	j->m.replays = metrics_counter("iotpipe_batches_replayed_total",
				       "Batches replayed from their plan after a restart.", l);
	j->m.batch_seconds = metrics_histogram("iotpipe_batch_duration_seconds",
					       "Time to commit a batch (plan, files, state, offsets).", l,
					       batch_b, sizeof(batch_b) / sizeof(batch_b[0]));
	j->m.latency = metrics_histogram("iotpipe_event_latency_seconds",
					 "Processing time minus event time, at commit.", l, lat_b,
					 sizeof(lat_b) / sizeof(lat_b[0]));
	j->m.watermark = metrics_gauge("iotpipe_watermark_seconds",
				       "Event-time watermark, seconds since the epoch.", l);
	j->m.windows = metrics_counter("iotpipe_windows_emitted_total", "Windows emitted.", l);
	j->m.files = metrics_counter("iotpipe_files_written_total", "Output objects written.", l);
	j->m.bytes = metrics_counter("iotpipe_bytes_written_total", "Output bytes written.", l);
	j->m.open_windows = metrics_gauge("iotpipe_open_windows", "Windows held open in state.", l);
	j->m.dlq = metrics_counter("iotpipe_dead_letter_total", "Records sent to the dead-letter topic.", l);
	j->m.dlq_dropped = metrics_counter("iotpipe_dead_letter_dropped_total",
					   "Records the dead-letter topic did not take (a lasting outage, "
					   "a record too large even truncated); logged.", l);
	j->m.wakeups = metrics_counter("iotpipe_kafka_fetch_wakeups_total",
				       "Requests sent to wake librdkafka's fetcher after its queue drained "
				       "(librdkafka < 2.1 only).", l);
	j->m.merged = metrics_counter("iotpipe_windows_merged_total",
				      "Window parts handed over by another partition and merged into "
				      "one row per device and window.", l);
	for (int p = 0; p < 2; p++) {
		snprintf(lr, sizeof(lr), "job=\"%s\",policy=\"%s\"", j->name,
			 p == JOB_DATA_LOSS_FAIL ? "fail" : "earliest");
		j->m.data_loss[p] = metrics_counter(
			"iotpipe_data_loss_total",
			"Partitions whose checkpoint offset was outside their log (topic recreated, "
			"retention, a new broker), by the policy applied.", lr);
	}
	j->m.split_keys = metrics_counter(
		"iotpipe_keys_split_total",
		"Keys seen on more than one partition (a second producer with another "
		"partitioner, or more partitions): each partition writes its own row "
		"for their windows.", l);
	for (int r = 1; r < EV_R__COUNT; r++) {
		snprintf(lr, sizeof(lr), "job=\"%s\",reason=\"%s\"", j->name,
			 ev_reason_name((enum ev_reason)r));
		j->m.invalid[r] = metrics_counter("iotpipe_events_invalid_total",
						  "Records rejected by the decoder, by reason.", lr);
	}
}

/* ---- partitions ---------------------------------------------------- */

static struct part *part_get(struct job *j, int32_t id)
{
	if (id < 0)
		return NULL;
	if ((size_t)id >= j->nparts) {
		size_t n = (size_t)id + 1;
		j->parts = xrealloc(j->parts, st_mult(n, sizeof(*j->parts)));
		for (size_t i = j->nparts; i < n; i++) {
			j->parts[i] = xcalloc(1, sizeof(**j->parts));
			j->parts[i]->id = (int32_t)i;
			rawbuf_init(&j->parts[i]->raw, j->o->schema->nfields);
			rawbuf_init(&j->parts[i]->craw, j->o->schema->nfields);
			winstate_init(&j->parts[i]->win, j->nsums);
			j->parts[i]->win.fields = j->sum_names;
		}
		j->nparts = n;
	}
	return j->parts[id];
}

static void part_drop(struct job *j, struct part *p)
{
	job_unbuffer(j, p);
	rawbuf_reset(&p->raw);
	rawbuf_reset(&p->craw);
	p->resync_batch = 0;
	p->loss_pending = false;
	p->ref_us = 0;
	winstate_clear(&p->win);
	merge_plan_release(&p->wal_mp);
	free(p->ckpt_base);
	p->ckpt_base = NULL;
	p->assigned = false;
	p->dirty = false;
	p->replay = false;
	p->log_replaced = false;
	p->verify.has = false;
}

void job_unbuffer(struct job *j, struct part *p)
{
	IOT_ASSERT(p->pending <= j->buffered);
	j->buffered -= p->pending;
	p->pending = 0;
}

/* The value of item `name` in a shape text ("" when absent), into out. */
static void shape_item(const char *shape, const char *name, char *out, size_t n)
{
	size_t len = strlen(name);

	*out = '\0';
	for (const char *p = shape; p && *p;) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l > len && !strncmp(p, name, len) && p[len] == '=') {
			snprintf(out, n, "%.*s", (int)(l - len - 1), p + len + 1);
			return;
		}
		p += l;
		p += *p == ' ';
	}
}

/*
 * A checkpoint written with another output shape (ckpt.h) cannot go on:
 * its batch in flight would be replayed under other object names while
 * the crashed round's objects stay, and the dataset would mix two layouts
 * (or window lengths). Refused, naming the setting; a checkpoint that
 * records no shape (written before shapes were) is taken as it is.
 */
static enum iot_err check_shape(const struct job *j, const struct part *p,
				const struct ckpt_recovered *r, struct iot_error *err)
{
	static const struct {
		const char *item, *key, *what; /* key NULL: the sink's layout_key */
	} items[] = {
		{ "partition-by", NULL, "layout" },
		{ "window", "window.WINDOW_SECONDS", "window length" },
	};
	char was[CKPT_SHAPE_MAX], now[CKPT_SHAPE_MAX];

	if (!r->shape[0] || !strcmp(r->shape, j->shape))
		return IOT_OK;
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		shape_item(r->shape, items[i].item, was, sizeof(was));
		shape_item(j->shape, items[i].item, now, sizeof(now));
		if (strcmp(was, now))
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "partition %d: the checkpoint %s was written with --%s %s "
					     "(key '%s'), this run has %s: one output keeps one %s, or a "
					     "replayed batch would be stored twice; run with %s, or give a "
					     "new --output and --checkpoint",
					     p->id, p->ckpt_base, items[i].item, was[0] ? was : "(none)",
					     items[i].key ? items[i].key : j->sink->layout_key,
					     now[0] ? now : "(none)", items[i].what, was[0] ? was : "(none)");
	}
	return iot_error_set(err, IOT_ERR_CONFIG,
			     "partition %d: the checkpoint %s was written with '%s', this run has "
			     "'%s'; run with those settings, or give a new --output and --checkpoint",
			     p->id, p->ckpt_base, r->shape, j->shape);
}

/*
 * A partition whose checkpoint lists neither plan nor commit starts from
 * nothing, unless its run marker (ckpt.h) says it committed before: then
 * the listing is wrong (it lags behind the writes, or an error was taken
 * for an empty answer), and starting over would store every record again
 * under a new run. The listing is asked again a few times (a lag of
 * seconds heals), then the job stops, naming the marker. *r is replaced
 * by what the last listing found.
 */
#define LISTING_RETRIES 4

static enum iot_err check_not_started(struct job *j, struct part *p, struct ckpt_recovered *r,
				      struct iot_error *err)
{
	uint64_t run = 0;
	bool marked = false;
	enum iot_err rc;
	double wait = 0.5;

	for (int tries = 0;; tries++) {
		if ((rc = ckpt_marked_run(j->st, p->ckpt_base, &marked, &run, err)) || !marked)
			return rc;
		if (tries == LISTING_RETRIES || signals_stop_requested())
			break;
		log_warn(j->name, "partition %d: the checkpoint %s lists no plan or commit, but "
				  "its run marker says it committed; listing again in %.1f s",
			 p->id, p->ckpt_base, wait);
		nanosleep(&(struct timespec){ (time_t)wait,
					      (long)((wait - (double)(time_t)wait) * 1e9) }, NULL);
		wait *= 2;
		ckpt_recovered_release(r);
		if ((rc = ckpt_recover(j->st, j->name, p->ckpt_base, r, err)))
			return rc;
		if (r->has_state || r->has_wal)
			return IOT_OK;
	}
	return iot_error_set(err, IOT_ERR_STATE,
			     "partition %d: the checkpoint %s lists no plan or commit, but its run "
			     "marker %srun says run %016" PRIx64 " committed there: the store's "
			     "listing does not show the checkpoint's files (a listing that lags "
			     "behind writes, or files deleted by hand). Not starting the partition "
			     "over, which would store its records twice; to start over on purpose, "
			     "delete the whole checkpoint location, or give a new one",
			     p->id, p->ckpt_base, p->ckpt_base, run);
}

/* Loads a partition's checkpoint; returns the offset to start from.
 * `pre`: the checkpoint already read (recover_all), else NULL. */
static enum iot_err part_recover_from(struct job *j, struct part *p, int64_t *start,
				      struct ckpt_recovered *pre, struct iot_error *err)
{
	struct ckpt_recovered r;
	enum iot_err rc;
	/* a replaced log found by verify_tail is the data-loss policy's
	 * to apply, on the assignment that follows (loss_pending) */
	bool replaced = p->log_replaced;

	part_drop(j, p);
	p->log_replaced = replaced;
	p->ckpt_base = ckpt_partition_uri(j->o->checkpoint, j->o->topic, p->id);
	if (pre) {
		r = *pre;
		memset(pre, 0, sizeof(*pre));
	} else if ((rc = ckpt_recover(j->st, j->name, p->ckpt_base, &r, err))) {
		return rc;
	}
	if (!r.has_state && !r.has_wal && (rc = check_not_started(j, p, &r, err))) {
		ckpt_recovered_release(&r);
		return rc;
	}
	if (check_shape(j, p, &r, err) ||
	    (j->sink->load && j->sink->load(j, p, &r, err))) {
		ckpt_recovered_release(&r);
		return err->code;
	}
	p->assigned = true;
	p->batch = r.batch;
	p->epoch = r.epoch;
	/* a checkpoint started from nothing starts a run of its own */
	p->run = r.run ? r.run : !r.has_state && !r.has_wal ? ckpt_new_run() : 0;
	p->run_marked = false;
	p->other_source = j->source && r.source[0] && strcmp(r.source, j->source) != 0;
	p->next_offset = r.has_state ? r.next_offset : -1;
	p->last_offset = -1;
	p->last_arrival = clock_mono_s();
	p->eof = false;
	p->tail = r.tail;
	p->verify = r.tail; /* part_check_log decides whether it is read again */
	p->log_gone = j->log_gone;
	if (r.has_wal) {
		p->replay = true;
		p->wal = r.wal;
		p->ref_us = r.wal.ref_us; /* the replay judges as the first run did */
		if (p->next_offset < 0)
			p->next_offset = r.wal.start;
		metric_inc(j->m.replays);
		log_info(j->name, "partition %d: replaying planned batch %" PRIu64
			 " (offsets %" PRId64 "..%" PRId64 ")",
			 p->id, r.wal.batch, r.wal.start, r.wal.end);
	}
	*start = p->next_offset;
	if (p->other_source)
		log_debug(j->name, "partition %d: checkpoint source '%s', now '%s'", p->id,
			  r.source, j->source);
	ckpt_recovered_release(&r);
	return IOT_OK;
}

static enum iot_err part_recover(struct job *j, struct part *p, int64_t *start,
				 struct iot_error *err)
{
	return part_recover_from(j, p, start, NULL, err);
}

/*
 * Reads the checkpoints of many partitions side by side (each is a
 * listing and one or two reads: on S3, round trips that would otherwise
 * follow each other at every assignment). rec[i] gets partition ids[i]'s,
 * ok[i] whether it was read; what failed is read again, one by one, by
 * part_recover. Only while no commit round runs (the writer stores).
 */
struct recover_ctx {
	struct job *j;
	const int32_t *ids;
	struct ckpt_recovered *rec;
	bool *ok;
};

static enum iot_err recover_one(void *ctx, size_t worker, size_t i, struct iot_error *err)
{
	struct recover_ctx *rc = ctx;
	char *base = ckpt_partition_uri(rc->j->o->checkpoint, rc->j->o->topic, rc->ids[i]);
	struct iot_error e2 = IOT_ERROR_INIT;

	(void)err;
	rc->ok[i] = ckpt_recover(rc->j->wst[worker], rc->j->name, base, &rc->rec[i], &e2) == IOT_OK;
	if (!rc->ok[i])
		ckpt_recovered_release(&rc->rec[i]);
	free(base);
	return IOT_OK; /* a failure is met again by part_recover, with its message */
}

static void recover_all(struct job *j, const int32_t *ids, size_t n,
			struct ckpt_recovered *rec, bool *ok)
{
	struct recover_ctx rc = { j, ids, rec, ok };
	struct pool_spec ps = { n < j->nwst ? n : j->nwst, n, recover_one, &rc, NULL, 0, NULL };
	struct iot_error ignored = IOT_ERROR_INIT;

	if (n > 1 && !j->round.running)
		pool_run(&ps, &ignored);
}

/*
 * Another instance planned this batch first (it owned the partition while
 * this one stalled, or still does): the first plan wins. Drop what was
 * read since the last commit, reload the checkpoint (which now holds that
 * plan to replay, or its commit) and read again from there.
 */
/* Moves the partition's fetch position (an offset or RD_KAFKA_OFFSET_BEGINNING). */
static enum iot_err seek_partition(struct job *j, struct part *p, int64_t offset,
				   struct iot_error *err)
{
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *e;

	rd_kafka_topic_partition_list_add(tl, j->o->topic, p->id)->offset = offset;
	e = rd_kafka_seek_partitions(j->rk, tl, 10 * 1000);
	if (!e && tl->elems[0].err)
		e = rd_kafka_error_new(tl->elems[0].err, "%s", rd_kafka_err2str(tl->elems[0].err));
	rd_kafka_topic_partition_list_destroy(tl);
	if (e) {
		iot_error_set(err, IOT_ERR_NET, "partition %d: cannot seek to offset %" PRId64 ": %s",
			      p->id, offset, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return err->code;
	}
	return IOT_OK;
}

static enum iot_err resync(struct job *j, struct part *p, uint64_t batch,
			   struct iot_error *err)
{
	int64_t start = -1;

	log_warn(j->name, "partition %d: batch %" PRIu64 " was planned or committed by another"
		 " instance; dropping what was read and following the checkpoint", p->id, batch);
	if (part_recover(j, p, &start, err))
		return err->code;
	if (start < 0)
		return IOT_OK;
	return seek_partition(j, p, start, err);
}

/* ---- between arrays ---------------------------------------------- */

static void handle(struct job *j, struct dbatch *b, size_t i);

/* Handles the array read before the last one, if any (then frees it). */
static void drain_pending(struct job *j)
{
	struct dbatch *b = j->pending;

	if (!b)
		return;
	j->pending = NULL;
	decode_ahead_wait(&j->ahead, b);
	for (size_t i = 0; i < b->n; i++) {
		if (!j->failed)
			handle(j, b, i);
		rd_kafka_message_destroy(b->msgs[i]);
	}
	b->n = 0;
	metric_add(j->m.consumed, j->n_consumed);
	metric_add(j->m.valid, j->n_valid);
	j->n_consumed = j->n_valid = 0;
}

/* Partitions whose batch another instance planned: follow its plan. Called
 * between consumed message arrays, never while one is being handled. */
static enum iot_err resync_pending(struct job *j, struct iot_error *err)
{
	for (size_t i = 0; i < j->nparts; i++)
		if (j->parts[i]->resync_batch) {
			/* its records read before the seek are dropped by
			 * handle() while resync_batch is set */
			drain_pending(j);
			break;
		}
	for (size_t i = 0; i < j->nparts; i++) {
		struct part *p = j->parts[i];
		uint64_t b = p->resync_batch;
		if (!b)
			continue;
		p->resync_batch = 0;
		if (p->assigned && resync(j, p, b, err))
			return err->code;
	}
	return IOT_OK;
}

/* The watermark (windows.h), from the partitions owned here. */
void job_watermark(struct job *j)
{
	struct wm_part *v = xcalloc(j->nparts ? j->nparts : 1, sizeof(*v));
	size_t n = 0;

	/* --once emits only in its last round, when every partition is read
	 * to its target: all are at their end then */
	for (size_t i = 0; i < j->nparts; i++)
		if (j->parts[i]->assigned)
			v[n++] = (struct wm_part){ &j->parts[i]->win, j->parts[i]->last_arrival,
						   j->o->once || j->parts[i]->eof };
	if (watermark_advance(v, n, clock_mono_s(), j->o->once ? 0 : j->o->idle_timeout_s,
			      j->o->watermark_us, &j->has_wm, &j->wm_us))
		metric_set(j->m.watermark, (double)j->wm_us / 1e6);
	free(v);
}

/* The positions of the partitions owned here, to the lag watch; with
 * `ends`, also the log ends the fetcher saw, which set the lag gauges. */
static void publish_positions(struct job *j, bool ends)
{
	struct lagwatch_part *v = xcalloc(j->nparts ? j->nparts : 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < j->nparts; i++) {
		struct part *p = j->parts[i];
		int64_t lo, hi = -1;
		if (!p->assigned)
			continue;
		if (!p->m_lag) {
			char l[96];
			snprintf(l, sizeof(l), "job=\"%s\",partition=\"%d\"", j->name, (int)p->id);
			p->m_lag = metrics_gauge("iotpipe_consumer_lag_records",
						 "Records in the partition not yet read by the job.", l);
		}
		if (ends && rd_kafka_get_watermark_offsets(j->rk, j->o->topic, p->id, &lo, &hi))
			hi = -1;
		v[n++] = (struct lagwatch_part){
			p->id, p->last_offset >= 0 ? p->last_offset + 1 : p->next_offset, hi, p->m_lag };
	}
	lagwatch_publish(j->lagwatch, v, n);
	free(v);
	j->lag_beat = clock_mono_s();
}

void job_update_lag(struct job *j)
{
	size_t open = 0;
	for (size_t i = 0; i < j->nparts; i++)
		if (j->parts[i]->assigned)
			open += j->parts[i]->win.open;
	publish_positions(j, true);
	metric_set(j->m.open_windows, (double)open);
}

/*
 * --once cuts a partition's batch where its data says, not where a record
 * array happened to end: once it buffers max_batch_events / partitions
 * events (or, archive, max_batch_bytes / partitions of rows), which only
 * its own records decide. These batches emit no window: the
 * watermark between them would depend on how far the other partitions
 * were read; the run's last round emits with the watermark of all the
 * data (docs/exactly-once.md, "--once"). So the same topic gives the same
 * objects, whatever the store's or the network's speed.
 */
static bool once_cut_due(const struct job *j, struct part *p)
{
	size_t n = j->once.n > 0 ? (size_t)j->once.n : 1;
	int64_t records = j->o->max_batch_events / n;

	if (p->replay || p->next_offset < 0 || p->last_offset < 0)
		return false;
	if ((int64_t)p->pending >= (records > 0 ? records : 1))
		return true;
	return j->sink->bytes && j->sink->bytes(p) >= j->o->max_batch_bytes / n;
}

/* ---- data loss ----------------------------------------------------- */

/*
 * A checkpoint position means something only in the log it was read from.
 * It has lost its log when it was written against another source (another
 * cluster, an earlier incarnation of the embedded broker), or when it
 * lies outside the partition's [log start, log end]: the topic was
 * deleted and recreated, retention deleted records not yet read, or a
 * broker lost its log. Found when a partition is assigned (part_check_log)
 * and when a fetch runs outside the log (librdkafka's
 * __AUTO_OFFSET_RESET, since auto.offset.reset is "error"). Either the
 * job stops with one line naming the topic, the partition, the position,
 * the log's range and the way out, or, by explicit choice, the partition
 * goes on from the log start in a new checkpoint epoch (part_lose_log).
 */

static void describe_loss(struct buf *b, struct job *j, struct part *p, int64_t pos,
			  int64_t lo, int64_t hi)
{
	buf_printf(b, "topic '%s' partition %d: ", j->o->topic, (int)p->id);
	if (p->replay)
		buf_printf(b, "planned batch %" PRIu64 " (offsets %" PRId64 "..%" PRId64 ")",
			   p->wal.batch, p->wal.start, p->wal.end);
	else
		buf_printf(b, "checkpoint offset %" PRId64, pos);
	if (p->other_source)
		buf_printf(b, " was read from another log (the checkpoint names another Kafka "
			      "cluster or broker incarnation than '%s')", j->source);
	else if (p->log_replaced)
		buf_printf(b, " was read from another log: offset %" PRId64 " now holds another "
			      "record than the one the checkpoint read there (timestamp %" PRId64
			      ", key %" PRIu64 " and value %" PRIu64 " bytes; it read %" PRId64
			      ", %" PRIu64 " and %" PRIu64 "): the topic was deleted and recreated",
			   p->found.offset, p->found.ts_ms, p->found.klen, p->found.vlen,
			   p->tail.ts_ms, p->tail.klen, p->tail.vlen);
	else if (lo >= 0)
		buf_printf(b, " is outside the partition's log [%" PRId64 ", %" PRId64 "] (the topic "
			      "was recreated, retention deleted records, or the broker lost its log)",
			   lo, hi);
	else
		buf_puts(b, " is outside the partition's log");
}

/* The partition goes on from the start of its log in a new epoch: what
 * was read, or planned, in the old one is committed first. */
static enum iot_err part_lose_log(struct job *j, struct part *p, struct iot_error *err)
{
	if (p->replay) {
		/* commit the plan with the records it still had: a plan is
		 * never abandoned, its objects may be written already */
		if (commit_replay(j, p, err))
			return err->code;
	} else if (p->dirty && commit_all(j, true, err)) {
		return err->code;
	}
	p->epoch++;
	p->other_source = false;
	p->log_replaced = false;
	p->verify.has = false;
	p->tail.has = false; /* of the old log */
	p->loss_pending = false;
	p->next_offset = -1; /* the first record read starts the new epoch */
	p->last_offset = -1;
	return IOT_OK;
}

/* Applies the data-loss policy to p, whose position `pos` lost its log
 * ([lo, hi] when known, else -1). *resume: where the partition goes on
 * (-1: the log start). */
static enum iot_err data_loss(struct job *j, struct part *p, int64_t pos, int64_t lo,
			      int64_t hi, int64_t *resume, struct iot_error *err)
{
	struct buf b = BUF_INIT;
	enum job_data_loss policy = j->o->on_data_loss;

	metric_inc(j->m.data_loss[policy]);
	describe_loss(&b, j, p, pos, lo, hi);
	if (policy == JOB_DATA_LOSS_FAIL) {
		iot_error_set(err, IOT_ERR_STATE,
			      "%s; to go on from the log start give --on-data-loss earliest "
			      "(logged and counted), or a new --checkpoint location",
			      buf_str(&b));
		buf_release(&b);
		return err->code;
	}
	*resume = -1;
	if (p->replay && !p->other_source && lo > p->wal.start && p->wal.end <= hi) {
		/* retention deleted the head of a planned batch, whose objects
		 * may be written already: replay what is left of it under its
		 * own name (a new epoch would read the rest again into new
		 * objects, next to the old ones) */
		log_warn(j->name, "%s: replaying what is left of the plan, from offset %" PRId64
			 " (--on-data-loss earliest)", buf_str(&b), lo);
		buf_release(&b);
		p->next_offset = lo;
		*resume = lo;
		return IOT_OK;
	}
	if (p->other_source && j->o->fresh_source)
		log_info(j->name, "%s: the broker is new; going on from its log start in checkpoint "
			 "epoch %" PRIu32 " (batch numbers go on, earlier output stays)",
			 buf_str(&b), p->epoch + 1);
	else
		log_warn(j->name, "%s: going on from the log start in checkpoint epoch %" PRIu32
			 " (--on-data-loss earliest)", buf_str(&b), p->epoch + 1);
	buf_release(&b);
	return part_lose_log(j, p, err);
}

/*
 * On assignment, after part_recover: checks the recovered position
 * against the partition's log. *start becomes -1 when the partition goes
 * on from its log start. A broker that cannot say the log's range leaves
 * the check to the first fetch.
 */
static enum iot_err part_check_log(struct job *j, struct part *p, int64_t *start,
				   struct iot_error *err)
{
	int64_t lo = -1, hi = -1;
	rd_kafka_resp_err_t e;
	bool lost;
	struct ckpt_tail *t = &p->verify;

	if (*start < 0 && !p->replay)
		return IOT_OK; /* no checkpoint */
	e = rd_kafka_query_watermark_offsets(j->rk, j->o->topic, p->id, &lo, &hi,
					     (int)(j->o->timeout_s * 1000));
	if (e) {
		lo = hi = -1;
		t->has = false; /* a tail before the log start would read as a loss */
		if (!p->other_source && !p->log_replaced) {
			log_warn(j->name, "partition %d: cannot read the log's range (%s): a position "
				 "outside it is found at the first fetch", p->id, rd_kafka_err2str(e));
			return IOT_OK;
		}
	}
	if (p->other_source || p->log_replaced)
		lost = true;
	else if (p->replay)
		lost = p->wal.start < lo || p->wal.end > hi;
	else
		lost = *start < lo || *start > hi;
	if (!lost) {
		/* read the checkpoint's last record again, to compare; one
		 * retention deleted, or a record at or after the position
		 * (older files), is not compared */
		if (t->has && t->offset >= lo && t->offset < *start)
			*start = t->offset;
		else
			t->has = false;
		return IOT_OK;
	}
	t->has = false;
	return data_loss(j, p, *start, lo, hi, start, err);
}

static void assign_partitions(struct job *j, rd_kafka_topic_partition_list_t *tl);

/*
 * Partitions whose fetch ran outside the log, or whose topic went away
 * and came back (handle()), between arrays.
 * librdkafka has stopped fetching them, and a seek is refused in that
 * state; so the job commits what it read (in every partition: it is all
 * real), then assigns its partitions again from their checkpoints, which
 * checks each against its log and applies the policy (part_check_log),
 * as a rebalance would. Records still queued from before are discarded
 * by librdkafka with the old assignment.
 */
static enum iot_err loss_pending(struct job *j, struct iot_error *err)
{
	rd_kafka_topic_partition_list_t *tl = NULL;
	rd_kafka_resp_err_t e;
	bool any = false;

	for (size_t i = 0; i < j->nparts; i++)
		any |= j->parts[i]->assigned && j->parts[i]->loss_pending;
	if (!any)
		return IOT_OK;
	drain_pending(j);
	if (commit_all(j, true, err))
		return err->code;
	e = rd_kafka_assignment(j->rk, &tl);
	if (e)
		return iot_error_set(err, IOT_ERR_NET, "cannot read the consumer's assignment: %s",
				     rd_kafka_err2str(e));
	assign_partitions(j, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	if (j->failed) {
		*err = j->fatal;
		return err->code;
	}
	return IOT_OK;
}

/* ---- consuming ----------------------------------------------------- */

/* Assigns tl's partitions, each from its checkpoint, checked against its
 * log (a rebalance, or a partition whose fetch ran outside its log). */
static void assign_partitions(struct job *j, rd_kafka_topic_partition_list_t *tl)
{
	struct iot_error err = IOT_ERROR_INIT;
	size_t n = tl->cnt > 0 ? (size_t)tl->cnt : 0;
	int32_t *ids = xcalloc(n ? n : 1, sizeof(*ids));
	struct ckpt_recovered *rec = xcalloc(n ? n : 1, sizeof(*rec));
	bool *ok = xcalloc(n ? n : 1, sizeof(*ok));

	for (size_t i = 0; i < n; i++)
		ids[i] = tl->elems[i].partition;
	recover_all(j, ids, n, rec, ok);
	for (int i = 0; i < tl->cnt; i++) {
		struct part *p = part_get(j, tl->elems[i].partition);
		int64_t start = -1;
		bool fresh;
		if (!j->failed && (part_recover_from(j, p, &start, ok[i] ? &rec[i] : NULL, &err) ||
				   part_check_log(j, p, &start, &err)))
			job_fail(j, &err);
		fresh = p->epoch == 0 && p->batch == 0 && !p->replay;
		tl->elems[i].offset = start >= 0 ? start
				      : fresh && j->o->start_latest ? RD_KAFKA_OFFSET_END
								: RD_KAFKA_OFFSET_BEGINNING;
		if (start >= 0)
			log_info(j->name, "assigned partition %d, resuming at offset %" PRId64,
				 p->id, start);
		else if (fresh)
			log_info(j->name, "assigned partition %d, no checkpoint: starting at the %s",
				 p->id, j->o->start_latest ? "end" : "beginning");
		else
			log_info(j->name, "assigned partition %d: starting at the log start "
				 "(checkpoint epoch %" PRIu32 ")", p->id, p->epoch);
	}
	for (size_t i = 0; i < n; i++)
		if (ok[i])
			ckpt_recovered_release(&rec[i]); /* not taken: the job failed first */
	free(ids);
	free(rec);
	free(ok);
	rd_kafka_assign(j->rk, tl);
	j->assigned_once = true;
}

/*
 * librdkafka's client-wide errors (on the job thread, while it reads). A
 * partition or topic the cluster no longer knows may be a topic deleted
 * and recreated under the running job, and librdkafka then fetches on at
 * its position in the new log: each partition's next record is taken as
 * the cue to assign it again from its checkpoint (handle), which reads the
 * checkpoint's last record again and compares (verify_tail).
 */
static void on_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
	struct job *j = opaque;

	if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
	    e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		j->log_gone++;
	kafka_log_error(rk, e, reason);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			 rd_kafka_topic_partition_list_t *tl, void *opaque)
{
	struct job *j = opaque;
	struct iot_error err = IOT_ERROR_INIT;

	/* the records read before the rebalance are handled before it */
	drain_pending(j);
	/* the round in flight may hold these partitions' batches */
	if (!j->failed && commit_wait(j, &err))
		job_fail(j, &err);
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		assign_partitions(j, tl);
	} else {
		/* give the partitions back with their work committed, unless
		 * they were lost (session timed out: they belong to another
		 * member already, which recovers from the checkpoint) */
		if (rd_kafka_assignment_lost(rk))
			log_warn(j->name, "partitions lost to another member: dropping what was read since the last commit");
		else if (!j->failed && commit_all(j, true, &err))
			job_fail(j, &err);
		for (int i = 0; i < tl->cnt; i++) {
			struct part *p = part_get(j, tl->elems[i].partition);
			part_drop(j, p);
			log_info(j->name, "revoked partition %d", (int)tl->elems[i].partition);
		}
		rd_kafka_assign(rk, NULL);
	}
}

/*
 * A partition read to its end (librdkafka's end-of-partition event at
 * end_offset, after every record before it was handled): when control
 * records (a transaction's commit or abort marker) or aborted records
 * close its log, the end is past the last record, and those offsets are
 * never delivered. The open batch is stretched to the end (an empty one
 * when nothing was read: from a checkpoint position, or from the log
 * start, which held only such offsets), so the checkpoint says the
 * partition is read to its end: --once compares that with the end offset
 * it had at start, and the lag is 0. A partition being replayed commits
 * its planned range first (commit_replay).
 */
static void read_to_end(struct job *j, struct part *p, int64_t end_offset)
{
	int64_t pos = p->last_offset >= 0 ? p->last_offset + 1 : p->next_offset;
	int64_t lo, hi;

	if (p->replay || p->resync_batch || p->loss_pending || end_offset <= pos)
		return;
	if (pos < 0) {
		/* nothing delivered since the log start: stretch only over
		 * offsets the log has (an empty partition commits nothing) */
		if (rd_kafka_get_watermark_offsets(j->rk, j->o->topic, p->id, &lo, &hi) != 0 ||
		    lo < 0 || end_offset <= lo)
			return;
		p->next_offset = end_offset;
	} else {
		p->last_offset = end_offset - 1;
	}
	p->dirty = true;
}

/*
 * The first records after an assignment whose checkpoint has a tail
 * (ckpt.h): the fetch starts at the tail's offset (part_check_log), and
 * the record there must be the one the checkpoint read. True when m is
 * taken here (the tail itself, or a stale record before it). Another
 * record there means the log was replaced under the same offsets: the
 * data-loss policy applies, between arrays (loss_pending). A record past
 * the tail's offset (the tail was a control record's neighbour, or was
 * compacted away) ends the check without a comparison.
 */
static bool verify_tail(struct part *p, const rd_kafka_message_t *m)
{
	struct ckpt_tail *t = &p->verify;
	int64_t ts;

	if (m->offset > t->offset) {
		t->has = false;
		return false;
	}
	if (m->offset < t->offset)
		return true;
	t->has = false;
	ts = rd_kafka_message_timestamp(m, NULL);
	if (ts == t->ts_ms && m->key_len == t->klen && m->len == t->vlen)
		return true; /* the same log: the record was committed before */
	p->found = (struct ckpt_tail){ true, m->offset, ts, m->key_len, m->len };
	p->log_replaced = true;
	p->loss_pending = true;
	return true;
}

static void handle(struct job *j, struct dbatch *b, size_t i)
{
	rd_kafka_message_t *m = b->msgs[i];
	struct event *ev = &b->ev[i];
	struct part *p = part_get(j, m->partition);
	struct iot_error err = IOT_ERROR_INIT;
	struct ev_result r;

	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && p && p->assigned) {
			p->eof = true;
			p->eof_offset = m->offset;
			if (p->verify.has && m->offset > p->verify.offset)
				p->verify.has = false; /* the tail was never delivered */
			if (p->replay && m->offset >= p->wal.end && commit_replay(j, p, &err))
				job_fail(j, &err);
			else if (!j->failed)
				read_to_end(j, p, m->offset);
		} else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && p && p->assigned) {
			/* the fetch position is outside the log (auto.offset.reset
			 * is "error"): the data-loss policy, between arrays */
			p->loss_pending = true;
		} else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			log_warn(j->name, "consumer: %s", rd_kafka_message_errstr(m));
		}
		return;
	}
	if (p && p->assigned && p->log_gone != j->log_gone) {
		/* the topic went away since this partition's last record
		 * (on_error): assigned again from its checkpoint, between
		 * arrays, before anything of a possibly new log is read */
		p->log_gone = j->log_gone;
		if (p->tail.has && !p->replay) {
			p->loss_pending = true;
			return;
		}
	}
	if (p && p->assigned && p->verify.has && !p->loss_pending && verify_tail(p, m))
		return;
	if (!p || !p->assigned || p->resync_batch || p->loss_pending ||
	    (p->next_offset >= 0 && m->offset < p->next_offset))
		return; /* stale: from before a seek or a revocation, or to be read again */
	if (p->replay && m->offset >= p->wal.end) {
		if (commit_replay(j, p, &err)) {
			job_fail(j, &err);
			return;
		}
	}
	if (p->next_offset < 0)
		p->next_offset = m->offset;
	j->n_consumed++;
	r = b->res[i];
	if (r.status == EV_VALID && j->o->horizon_us > 0) {
		/* an event time far in the future would hold the watermark
		 * there (aggregate: everything after it late) and is no
		 * device's real clock. Judged against the batch's own
		 * processing time, kept in its plan: a replay judges alike. */
		if (!p->ref_us)
			p->ref_us = clock_wall_us();
		if (ev->time_us > p->ref_us + j->o->horizon_us)
			r = (struct ev_result){ EV_INVALID, EV_R_FUTURE, -1 };
	}
	if (r.status == EV_INVALID) {
		char why[160];
		metric_inc(j->m.invalid[r.reason]);
		ev_result_describe(j->o->schema, r, why, sizeof(why));
		dlq_send_record(&j->dlq, m, why);
	} else if (r.status == EV_FILTERED) {
		j->n_valid++;
		metric_inc(j->m.filtered);
	} else {
		j->n_valid++;
		if (j->sink->add(j, p, ev, m->offset)) {
			j->buffered++;
			p->pending++;
		} else {
			metric_inc(j->m.late);
			dlq_send_record(&j->dlq, m, "late");
		}
	}
	p->last_offset = m->offset;
	p->tail = (struct ckpt_tail){ true, m->offset, rd_kafka_message_timestamp(m, NULL),
				      m->key_len, m->len };
	p->dirty = true;
	p->last_arrival = j->now;
	if (p->replay && m->offset >= p->wal.end - 1 && commit_replay(j, p, &err))
		job_fail(j, &err);
	else if (j->o->once && once_cut_due(j, p) && commit_cut(j, p, &err))
		job_fail(j, &err);
}

/* ---- --once --------------------------------------------------------- */

/*
 * --once covers the whole topic: every partition it had at start, up to
 * the end offset it had then (its target), committed as the checkpoint
 * shows, whichever instance of the group committed it. This instance reads
 * what it is assigned up to the targets and commits; then it reads the
 * checkpoint every ONCE_CHECK_S while other members, or this one after a
 * rebalance, commit the rest. Rebalances, revocations and dead members
 * (gone from the group after session.timeout.ms) are waited out; after
 * --timeout without progress it gives up, naming what is left.
 */
static enum iot_err once_init(struct job *j, int partitions, struct iot_error *err)
{
	int64_t total = 0;

	j->once.n = partitions;
	j->once.target = xcalloc((size_t)partitions, sizeof(*j->once.target));
	j->once.lo = xcalloc((size_t)partitions, sizeof(*j->once.lo));
	j->once.done = xcalloc((size_t)partitions, sizeof(*j->once.done));
	for (int32_t i = 0; i < partitions; i++) {
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
			j->rk, j->o->topic, i, &j->once.lo[i], &j->once.target[i],
			(int)(j->o->timeout_s * 1000));
		if (e)
			return iot_error_set(err, IOT_ERR_NET,
					     "--once: cannot read the end offset of partition %d of '%s': %s",
					     (int)i, j->o->topic, rd_kafka_err2str(e));
		total += j->once.target[i] - j->once.lo[i];
	}
	j->once.consumed = -1;
	j->once.progress = -1;
	j->once.deadline = clock_mono_s() + j->o->timeout_s;
	log_info(j->name, "--once: %d partitions of '%s' up to their end offsets now (%" PRId64
		 " records in the log)", partitions, j->o->topic, total);
	return IOT_OK;
}

/* True when every partition this instance owns was read up to its target
 * (partitions added since the start are not part of the run). */
static bool once_read_all(struct job *j)
{
	for (size_t i = 0; i < j->nparts; i++) {
		struct part *p = j->parts[i];
		int64_t pos, target;
		if (!p->assigned || p->id >= j->once.n)
			continue;
		target = j->once.target[p->id];
		if (p->next_offset < 0 && target == j->once.lo[p->id])
			continue; /* nothing to read */
		pos = p->last_offset >= 0 ? p->last_offset + 1 : p->next_offset;
		if (p->replay || p->loss_pending || pos < target)
			if (!(p->eof && p->eof_offset >= target && !p->replay))
				return false;
	}
	return true;
}

/*
 * Reads the checkpoint of every partition not yet seen committed up to its
 * target; *all when none is left. What is left goes to *left, for the
 * error message. Progress (any committed position moving) pushes the
 * deadline back.
 */
static enum iot_err once_committed(struct job *j, bool *all, struct buf *left,
				   struct iot_error *err)
{
	int64_t progress = 0;
	size_t n = j->once.n > 0 ? (size_t)j->once.n : 0, m = 0;
	int32_t *ids = xcalloc(n ? n : 1, sizeof(*ids));
	struct ckpt_recovered *rec = xcalloc(n ? n : 1, sizeof(*rec));
	bool *ok = xcalloc(n ? n : 1, sizeof(*ok));
	enum iot_err rc = IOT_OK;

	*all = true;
	buf_reset(left);
	for (int32_t i = 0; i < j->once.n; i++) {
		struct part *p = (size_t)i < j->nparts ? j->parts[i] : NULL;
		if (!j->once.done[i] && j->once.target[i] == j->once.lo[i])
			j->once.done[i] = true; /* an empty partition: nothing to commit */
		/* owned here and committed up to the target by a round that
		 * ended (a failed round fails the job), or so recovered: the
		 * checkpoint says what p does, and reading it back would cost a
		 * listing and a read, one after the other, on S3 */
		if (!j->once.done[i] && p && p->assigned && !j->round.running && p->batch &&
		    !p->dirty && !p->replay && !p->resync_batch && !p->loss_pending &&
		    !p->other_source && p->next_offset >= j->once.target[i])
			j->once.done[i] = true;
		if (!j->once.done[i])
			ids[m++] = i;
	}
	recover_all(j, ids, m, rec, ok); /* side by side; what failed is read below */
	m = 0;
	for (int32_t i = 0; i < j->once.n && !rc; i++) {
		struct ckpt_recovered r;
		bool mine = (size_t)i < j->nparts && j->parts[i]->assigned;

		if (j->once.done[i]) {
			progress += j->once.target[i];
			continue;
		}
		if (ok[m]) {
			r = rec[m];
			memset(&rec[m], 0, sizeof(rec[m]));
		} else {
			char *base = ckpt_partition_uri(j->o->checkpoint, j->o->topic, i);
			rc = ckpt_recover(j->st, j->name, base, &r, err);
			free(base);
			if (rc)
				break;
		}
		m++;
		if (r.has_state && r.next_offset >= j->once.target[i] &&
		    !(j->source && r.source[0] && strcmp(r.source, j->source)))
			j->once.done[i] = true;
		progress += r.has_state ? r.next_offset : 0;
		if (!j->once.done[i]) {
			*all = false;
			buf_printf(left, "%s%d (", left->len ? ", " : "", (int)i);
			if (r.has_state)
				buf_printf(left, "committed up to %" PRId64, r.next_offset);
			else
				buf_puts(left, "nothing committed");
			buf_printf(left, " of %" PRId64 "%s)", j->once.target[i],
				   mine ? ", assigned here" : "");
		}
		ckpt_recovered_release(&r);
	}
	for (size_t k = 0; k < n; k++)
		ckpt_recovered_release(&rec[k]);
	free(ids);
	free(rec);
	free(ok);
	if (rc)
		return rc;
	if (progress != j->once.progress) {
		j->once.progress = progress;
		j->once.deadline = clock_mono_s() + j->o->timeout_s;
	}
	return IOT_OK;
}

/* --once, between arrays: 1 when the whole topic is committed, 0 to go
 * on, -1 on failure (err set). */
static int once_step(struct job *j, struct iot_error *err)
{
	double now = clock_mono_s(), consumed = metric_value(j->m.consumed);
	double batches = metric_value(j->m.batches);
	struct buf left = BUF_INIT;
	bool all = false;
	int ret = 0;

	if (consumed != j->once.consumed) {
		/* reading is progress; what was read is committed below */
		j->once.consumed = consumed;
		j->once.deadline = now + j->o->timeout_s;
		j->once.flushed = false;
	}
	if (batches != j->once.batches || j->round.running) {
		/* so is committing (a slow store holds the reading up) */
		j->once.batches = batches;
		j->once.deadline = now + j->o->timeout_s;
	}
	/* partitions not read to their targets: waited for while records
	 * come, else the run ends as below (a topic deleted under it, a
	 * partition whose leader never answers) */
	if (!once_read_all(j) && now < j->once.deadline)
		return 0;
	if (!once_read_all(j)) {
		(void)once_committed(j, &all, &left, err);
		iot_error_clear(err);
		iot_error_set(err, IOT_ERR_STATE,
			      "--once: topic '%s' is not read up to the end offsets it had at start, "
			      "and nothing was read for %.0f s; partitions left: %s; run again to "
			      "finish", j->o->topic, j->o->timeout_s, buf_str(&left));
		buf_release(&left);
		return -1;
	}
	if (!j->once.flushed) {
		drain_pending(j);
		if (commit_all(j, true, err))
			return -1;
		/* windows held in that round for its other partitions' parts
		 * end in the next one */
		if (sink_groups_held(j) && commit_all(j, true, err))
			return -1;
		j->once.flushed = true;
		j->once.next_check = 0;
	}
	if (now < j->once.next_check)
		return 0;
	j->once.next_check = now + ONCE_CHECK_S;
	/* held for parts that other instances commit */
	if (sink_groups_held(j) && commit_all(j, true, err))
		return -1;
	if (once_committed(j, &all, &left, err)) {
		ret = -1;
	} else if (all && !sink_groups_held(j)) {
		ret = 1;
	} else if (now >= j->once.deadline) {
		if (!j->assigned_once)
			buf_printf(&left, " (no partition was ever assigned to this instance of "
				   "group '%s')", j->o->group);
		if (all)
			buf_printf(&left, "none, but %zu groups of windows are held for parts that "
				   "other partitions have not committed", sink_groups_held(j));
		iot_error_set(err, IOT_ERR_STATE,
			      "--once: topic '%s' is not committed up to the end offsets it had at "
			      "start, and nothing progressed for %.0f s; partitions left: %s; run "
			      "again to finish", j->o->topic, j->o->timeout_s, buf_str(&left));
		ret = -1;
	}
	buf_release(&left);
	return ret;
}

/*
 * Room for a fetch response's framing beside its records: per partition of
 * the request a header of about 50 bytes (plus a transactional topic's
 * aborted-transaction list), so 1 MiB covers thousands of partitions.
 */
#define FETCH_FRAMING_BYTES (1L << 20)

/*
 * The consumer, with the job's defaults before the user's settings;
 * recv_max > 0 sets receive.message.max.bytes (receive_size_needed).
 */
static rd_kafka_t *consumer_create(struct job *j, long recv_max, struct iot_error *err)
{
	const struct job_options *o = j->o;
	rd_kafka_conf_t *conf = kafka_conf_new(o->bootstrap, NULL, err);
	char num[32];

	if (!conf)
		return NULL;
	snprintf(num, sizeof(num), "%ld", recv_max);
	if (kafka_conf_set(conf, "group.id", o->group, "--group", err) ||
	    kafka_conf_set(conf, "enable.auto.commit", "false", "default", err) ||
	    kafka_conf_set(conf, "enable.auto.offset.store", "false", "default", err) ||
	    kafka_conf_set(conf, "enable.partition.eof", "true", "default", err) ||
	    /* every assignment carries its offset: a fetch outside the log
	     * is data loss (an error message, see "data loss"), never a
	     * silent jump */
	    kafka_conf_set(conf, "auto.offset.reset", "error", "default", err) ||
	    kafka_conf_set(conf, "session.timeout.ms", "10000", "default", err) ||
	    /* librdkafka 2.0 stops fetching while the consumer queue holds
	     * queued.min.messages and looks again only about once a second;
	     * the fetch waker (kafka/fetch_waker.h) wakes it as soon as the
	     * queue is half empty, so a small prefetch suffices */
	    kafka_conf_set(conf, "queued.min.messages", "50000", "default", err) ||
	    kafka_conf_set(conf, "queued.max.messages.kbytes", "32768", "default", err) ||
	    kafka_conf_set(conf, "fetch.wait.max.ms", "100", "default", err) ||
	    (recv_max > 0 &&
	     kafka_conf_set(conf, "receive.message.max.bytes", num, "default", err))) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_opaque(conf, j);
	return kafka_client_new(RD_KAFKA_CONSUMER, conf, o->kafka, j->name,
				"the Kafka consumer", err);
}

static long conf_long(rd_kafka_t *rk, const char *name)
{
	char v[32];
	size_t n = sizeof(v);

	if (rd_kafka_conf_get(rd_kafka_conf(rk), name, v, &n) != RD_KAFKA_CONF_OK)
		return -1;
	return strtol(v, NULL, 10);
}

/*
 * The receive.message.max.bytes the consumer needs for the topic, or 0
 * when it has enough. The broker answers a fetch with at most
 * fetch.max.bytes of records, except that a record batch larger than that
 * comes whole (KIP-74): any batch up to the topic's max.message.bytes.
 * librdkafka refuses a response larger than receive.message.max.bytes
 * (100 MB) and drops the connection, then fetches the same offset again,
 * forever: one record the topic accepted would stop the partition and,
 * as every fetch carries all partitions led by that broker, the others
 * with it. So a topic that takes records near or above 100 MB gets a
 * consumer that takes them; a limit the user set is kept, with a
 * warning. When the topic's limit cannot be read (no permission, a
 * broker without DescribeConfigs), librdkafka's default stays.
 */
static long receive_size_needed(struct job *j)
{
	const struct job_options *o = j->o;
	long topic_max = kafka_config_long(j->rk, RD_KAFKA_RESOURCE_TOPIC, o->topic,
					   "max.message.bytes", (int)(o->timeout_s * 1000));
	long have = conf_long(j->rk, "receive.message.max.bytes");
	long fetch_max = conf_long(j->rk, "fetch.max.bytes");
	long need;

	if (topic_max < 0 || have < 0)
		return 0;
	need = (topic_max > fetch_max ? topic_max : fetch_max) + FETCH_FRAMING_BYTES;
	if (need > INT32_MAX)
		need = INT32_MAX; /* librdkafka's largest */
	if (need <= have)
		return 0;
	for (size_t i = 0; o->kafka && i < o->kafka->n; i++)
		if (!strcmp(o->kafka->items[i].key, "receive.message.max.bytes")) {
			log_warn(j->name,
				 "topic '%s' takes records of up to %ld bytes, more than %s "
				 "receive.message.max.bytes=%ld allows a fetch: a record that "
				 "large would stop the consumer",
				 o->topic, topic_max, o->kafka->items[i].origin, have);
			return 0;
		}
	return need;
}

static enum iot_err setup_kafka(struct job *j, struct iot_error *err)
{
	const struct job_options *o = j->o;
	rd_kafka_topic_partition_list_t *sub;
	int partitions = 0;
	long recv_max;

	if (!(j->rk = consumer_create(j, 0, err)))
		return err->code;
	if (kafka_wait_topic(j->rk, o->bootstrap, o->topic, (int)(o->timeout_s * 1000),
			     &partitions, err))
		return err->code;
	if ((recv_max = receive_size_needed(j)) > 0) {
		/* a consumer's settings are fixed once it exists; this one has
		 * not joined the group or fetched yet */
		log_info(j->name, "topic '%s' takes large records: fetch responses of up to %ld "
			 "bytes (receive.message.max.bytes)", o->topic, recv_max);
		(void)kafka_destroy_bounded(j->rk, 10);
		if (!(j->rk = consumer_create(j, recv_max, err)))
			return err->code;
		if (kafka_wait_topic(j->rk, o->bootstrap, o->topic, (int)(o->timeout_s * 1000),
				     &partitions, err))
			return err->code;
	}
	if (o->source) {
		j->source = xstrdup(o->source);
	} else {
		char *id = rd_kafka_clusterid(j->rk, (int)(o->timeout_s * 1000));
		if (id) {
			j->source = xasprintf("kafka:%s", id);
			rd_kafka_mem_free(j->rk, id);
		}
	}
	if (o->once && once_init(j, partitions, err))
		return err->code;
	rd_kafka_poll_set_consumer(j->rk);
	j->queue = rd_kafka_queue_get_consumer(j->rk);
	j->waker = fetch_waker_start(j->rk, j->queue, j->m.wakeups);
	j->lagwatch = lagwatch_start(j->rk, o->topic);
	sub = rd_kafka_topic_partition_list_new(partitions > 0 ? partitions : 1);
	if (o->static_assign) {
		log_info(j->name, "consuming '%s' (%d partitions) at %s, every partition", o->topic,
			 partitions, o->bootstrap);
		for (int32_t i = 0; i < partitions; i++)
			rd_kafka_topic_partition_list_add(sub, o->topic, i);
		assign_partitions(j, sub);
		rd_kafka_topic_partition_list_destroy(sub);
		if (j->failed) {
			*err = j->fatal;
			return err->code;
		}
	} else {
		rd_kafka_topic_partition_list_add(sub, o->topic, RD_KAFKA_PARTITION_UA);
		if (rd_kafka_subscribe(j->rk, sub)) {
			rd_kafka_topic_partition_list_destroy(sub);
			return iot_error_set(err, IOT_ERR_NET, "cannot subscribe to topic '%s'",
					     o->topic);
		}
		rd_kafka_topic_partition_list_destroy(sub);
		log_info(j->name, "consuming '%s' (%d partitions) at %s as group '%s'", o->topic,
			 partitions, o->bootstrap, o->group);
	}

	if (dlq_open(&j->dlq, o->bootstrap, o->dead_letter_topic, o->topic, o->kafka, j->rk,
		     o->timeout_s, j->name, j->m.dlq, j->m.dlq_dropped, err))
		return err->code;
	return IOT_OK;
}

enum iot_err job_run(const struct job_options *o, struct iot_error *err)
{
	struct job j;
	enum iot_err rc = IOT_OK;

	memset(&j, 0, sizeof(j));
	j.o = o;
	j.sink = o->kind == JOB_ARCHIVE ? &sink_archive : &sink_aggregate;
	j.name = j.sink->name;
	{
		/* names %-escaped outside [A-Za-z0-9_], so that any name keeps
		 * to one word of the state's text */
		struct buf b = BUF_INIT;
		for (size_t f = 0; f < o->schema->nfields; f++) {
			const char *n = o->schema->fields[f].name;
			if (o->schema->fields[f].type != FIELD_FLOAT)
				continue;
			if (j.nsums)
				buf_putc(&b, ',');
			for (; *n; n++) {
				unsigned char ch = (unsigned char)*n;
				if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				    (ch >= '0' && ch <= '9') || ch == '_')
					buf_putc(&b, (char)ch);
				else
					buf_printf(&b, "%%%02X", ch);
			}
			j.sum_fields[j.nsums++] = (int)f;
		}
		j.sum_names = buf_detach(&b, NULL);
	}
	j.st = store_create();
	j.cst = store_create();
	j.nwst = store_concurrency(j.st, o->output);
	j.wst = xcalloc(j.nwst, sizeof(*j.wst));
	for (size_t i = 0; i < j.nwst; i++)
		j.wst[i] = store_create();
	strmap_init(&j.key_part);
	decode_ahead_init(&j.ahead, o->schema, j.name);
	{
		struct buf b = BUF_INIT;
		j.sink->shape(&j, &b);
		j.shape = buf_detach(&b, NULL);
	}
	register_metrics(&j);
	{
		/* every output object is named after the topic: a name that
		 * cannot be a file name would fail every batch */
		struct buf b = BUF_INIT;
		pqsink_file_name(&b, o->topic, INT32_MAX, UINT64_MAX, UINT64_MAX);
		if (b.len > 255)
			rc = iot_error_set(err, IOT_ERR_CONFIG,
					   "topic '%s' is too long to name output objects: "
					   "'part-<topic>-<partition>-<batch>-<run>.parquet' would take %zu "
					   "bytes, more than the 255 of a file name", o->topic, b.len);
		buf_release(&b);
		if (rc)
			goto out;
	}
	if ((rc = store_create_bucket(j.st, o->output, err)) ||
	    (rc = store_create_bucket(j.st, o->checkpoint, err)))
		goto out;
	if ((rc = setup_kafka(&j, err)))
		goto out;
	j.last_flush = clock_mono_s();

	while (!j.failed) {
		struct dbatch *b = decode_ahead_array(&j.ahead, j.pending == decode_ahead_array(&j.ahead, 0));
		ssize_t n;
		double now;

		if (signals_stop_requested())
			break;
		/* with an array waiting to be handled, take only what is there */
		n = rd_kafka_consume_batch_queue(j.queue, j.pending ? 0 : 200, b->msgs,
						 DBATCH_MAX);
		fetch_waker_check(j.waker);
		j.now = clock_mono_s(); /* one clock read per array, not per record */
		if (j.now - j.lag_beat >= LAG_BEAT_S) /* the job is not held up */
			publish_positions(&j, false);
		b->n = n > 0 ? (size_t)n : 0;
		if (b->n) {
			/* a rebalance served by the read above handled the
			 * previous array already; else it is handled now,
			 * while the decoder thread decodes this one */
			struct dbatch *prev = j.pending;
			if (prev)
				decode_ahead_wait(&j.ahead, prev);
			decode_ahead_start(&j.ahead, b);
			if (prev) {
				j.pending = prev;
				drain_pending(&j);
			}
			j.pending = b;
		} else {
			drain_pending(&j);
		}
		if (!j.failed && j.round.running && atomic_load(&j.round.done) &&
		    commit_wait(&j, err))
			job_fail(&j, err);
		if (!j.failed && (resync_pending(&j, err) || loss_pending(&j, err)))
			job_fail(&j, err);
		if (j.failed)
			break;
		now = clock_mono_s();
		/* --once cuts batches by data only, in handle (once_cut_due) */
		if (o->once) {
			;
		} else if (j.buffered >= o->max_batch_events || now - j.last_flush >= o->trigger_s) {
			if (commit_all(&j, false, err))
				job_fail(&j, err);
		} else if (j.sink->bytes) {
			size_t bytes = 0;
			for (size_t i = 0; i < j.nparts; i++)
				bytes += j.sink->bytes(j.parts[i]);
			if (bytes >= o->max_batch_bytes && commit_all(&j, false, err))
				job_fail(&j, err);
		}
		if (o->once && !j.failed) {
			int done = once_step(&j, err);
			if (done < 0)
				job_fail(&j, err);
			if (done)
				break;
		}
	}
	if (!j.failed && signals_stop_requested()) {
		/* finish the batch in flight: commit what was read */
		log_info(j.name, "stopping: committing what was read");
		drain_pending(&j);
		if (!j.failed && commit_all(&j, true, err))
			job_fail(&j, err);
	}
	if (j.failed) {
		*err = j.fatal;
		rc = err->code;
	}
out:
	{
		struct iot_error ignored = IOT_ERROR_INIT;
		if (commit_wait(&j, j.failed || rc ? &ignored : err) && !rc)
			rc = err->code;
	}
	if (j.pending) {
		/* failed: the records are read again after a restart */
		decode_ahead_wait(&j.ahead, j.pending);
		for (size_t i = 0; i < j.pending->n; i++)
			rd_kafka_message_destroy(j.pending->msgs[i]);
		j.pending = NULL;
	}
	decode_ahead_release(&j.ahead);
	if (j.rk) {
		fetch_waker_stop(j.waker);
		log_debug(j.name, "fetch wake-ups sent: %.0f", metric_value(j.m.wakeups));
		rd_kafka_consumer_close(j.rk); /* may commit: a revocation */
		lagwatch_stop(j.lagwatch);
		j.lagwatch = NULL;
		if (j.queue)
			rd_kafka_queue_destroy(j.queue);
		/* everything is committed by now: a librdkafka that cannot
		 * shut down does not keep the job from exiting */
		(void)kafka_destroy_bounded(j.rk, 10);
	}
	dlq_close(&j.dlq);
	for (size_t i = 0; i < j.nparts; i++) {
		part_drop(&j, j.parts[i]);
		rawbuf_release(&j.parts[i]->raw);
		rawbuf_release(&j.parts[i]->craw);
		winstate_release(&j.parts[i]->win);
		free(j.parts[i]);
	}
	free(j.parts);
	free(j.once.target);
	free(j.once.lo);
	free(j.once.done);
	strmap_release(&j.key_part);
	free(j.key_first);
	free(j.source);
	free(j.shape);
	free(j.sum_names);
	store_destroy(j.st);
	store_destroy(j.cst);
	for (size_t i = 0; i < j.nwst; i++)
		store_destroy(j.wst[i]);
	free(j.wst);
	return rc;
}
