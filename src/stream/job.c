/*
 * job.c - the streaming engine (job.h).
 *
 * Threads: the state of the job is the job thread's, including in
 * librdkafka's rebalance callback (served inside rd_kafka_consume_batch_queue)
 * and the dead-letter producer's delivery reports (served by its
 * poll/flush). Three helpers take work off it: the decoder thread decodes
 * the next array of records while the job thread handles the previous one
 * (struct decoder), a commit round writes a batch's objects and state
 * (struct round), and the fetch waker keeps librdkafka fetching
 * (kafka/fetch_waker.h).
 *
 * Per partition (struct part) the job keeps the last committed batch and
 * offset, what it has read since (raw rows or open windows), and, after a
 * crash, the plan of a batch to replay. Data flows:
 *
 *	consume -> decode/validate/filter -> late check -> buffer per partition
 *	trigger -> watermark -> per partition: wal, objects, state, offset commit
 *
 * Invariants: a partition's buffer only ever holds offsets >= its
 * next_offset, in order; a replaying partition commits exactly its plan's
 * range before taking newer records; the watermark never goes backwards,
 * and neither does a partition's emitted-up-to time.
 */
#include "core/clock.h"
#include "stream/job.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/signals.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "event/codec.h"
#include "kafka/client.h"
#include "kafka/fetch_waker.h"
#include "kafka/stats.h"
#include "metrics/batchlog.h"
#include "metrics/metrics.h"
#include "store/store.h"
#include "stream/ckpt.h"
#include "stream/merge.h"
#include "stream/pqsink.h"
#include "stream/rawbuf.h"
#include "stream/windows.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/banned.h"

#define CONSUME_BATCH 1024
/* How many committed batches of a partition between clean-ups of its
 * checkpoint (each costs a listing, which is a request on S3). A
 * partition's checkpoint then holds at most GC_EVERY + 2 batches' plans
 * and states (a clean-up keeps the last two), whatever the partition
 * count. */
#define GC_EVERY 16
/* --once: how often the checkpoint is read for the partitions this
 * instance does not own, while it waits for the other instances. */
#define ONCE_CHECK_S 1.0
/* Output objects of a batch are written by up to store_concurrency()
 * threads (64 on S3, 8 locally): on S3 each costs a round trip, on local
 * disk an fsync, so latency (not CPU) bounds a commit of many small
 * objects, and only many requests in flight hide it. */

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
	int64_t once_target;    /* --once: end offset to reach; -1 none */
	bool eof;
	int64_t eof_offset;
	struct rawbuf raw;      /* archive: rows read since the last plan */
	struct rawbuf craw;     /* archive: rows of the batch being committed */
	struct winstate win;
	struct metric *m_lag;
	uint64_t resync_batch;  /* != 0: that batch was another instance's */
	uint32_t epoch;         /* checkpoint epoch of next_offset (ckpt.h) */
	bool other_source;      /* the checkpoint is of another log source */
	bool loss_pending;      /* a fetch found the position outside the log */
	uint64_t commits;       /* commit round thread: batches committed */
	int64_t ref_us;         /* the open batch's processing time (horizon);
				   0 until its first record */
};

struct citem;
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

/*
 * Decoding ahead: the job thread reads array k+1 from librdkafka and
 * handles array k while the decoder thread decodes k+1; decoding is about
 * half of the job thread's work per record. Records are still handled on
 * the job thread, one array after the other, in order, and whatever would
 * act between two arrays (a rebalance, a seek back to the checkpoint)
 * first handles the array read before it (drain_pending), so the job sees
 * the records exactly as without this.
 */
struct dbatch {
	rd_kafka_message_t *msgs[CONSUME_BATCH];
	struct ev_result res[CONSUME_BATCH];
	bool redo[CONSUME_BATCH]; /* a string was unescaped: decode again */
	struct event *ev;         /* CONSUME_BATCH of them */
	size_t n;
	bool decoded; /* decoder_wait returned for it */
};

struct decoder {
	struct worker *worker; /* NULL: decode on the job thread */
	struct ev_decoder *dec;
	struct dbatch *batch; /* the array being decoded */
};

struct job {
	const struct job_options *o;
	const char *name; /* "archive" | "aggregate" */
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	struct fetch_waker *waker;
	rd_kafka_t *dlq;
	struct store *st;
	struct store *cst;                /* the commit round's */
	struct store **wst; /* one per writer thread */
	size_t nwst;
	struct round round;
	struct ev_decoder *dec;
	struct decoder ahead;
	struct dbatch batch[2];
	struct dbatch *pending; /* read, decoded or being decoded, not handled */
	struct part **parts; /* stable: a commit round holds pointers */
	size_t nparts;
	size_t nsums;
	int sum_fields[EV_MAX_FIELDS];
	bool has_wm;
	int64_t wm_us;
	bool assigned_once;
	size_t buffered;       /* events in open batches */
	double now;            /* monotonic time of the current consumed batch */
	double last_flush;
	uint64_t dlq_failed;        /* dead letters dropped since the last commit */
	uint64_t dlq_dropped_total;
	bool failed;
	struct iot_error fatal;
	char *source;          /* identity of the partition logs, or NULL */
	/* --once: the topic's partitions and their end offsets at start */
	struct {
		int32_t n;
		int64_t *target, *lo;
		bool *done;        /* committed up to target, as the checkpoint shows */
		double deadline;   /* give up without progress by then */
		double next_check;
		int64_t progress;  /* sum of committed positions seen */
		double consumed;   /* records read when last looked */
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
};

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
	pq_writer_options_init(&o->pq);
}

static void fail(struct job *j, const struct iot_error *e)
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
		}
		j->nparts = n;
	}
	return j->parts[id];
}

static void part_drop(struct job *j, struct part *p)
{
	j->buffered -= p->pending <= j->buffered ? p->pending : j->buffered;
	p->pending = 0;
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
}

static void note_key(struct job *j, const struct part *p, const char *key, size_t len);

/* Loads a partition's checkpoint; returns the offset to start from. */
/* Loads a partition's checkpoint; returns the offset to start from.
 * `pre`: the checkpoint already read (recover_all), else NULL. */
static enum iot_err part_recover_from(struct job *j, struct part *p, int64_t *start,
				      struct ckpt_recovered *pre, struct iot_error *err)
{
	struct ckpt_recovered r;
	enum iot_err rc;

	part_drop(j, p);
	p->ckpt_base = ckpt_partition_uri(j->o->checkpoint, j->o->topic, p->id);
	if (pre) {
		r = *pre;
		memset(pre, 0, sizeof(*pre));
	} else if ((rc = ckpt_recover(j->st, j->name, p->ckpt_base, &r, err))) {
		return rc;
	}
	if (j->o->kind == JOB_AGGREGATE && r.has_state &&
	    winstate_load(&p->win, (const char *)r.payload.data, r.payload.len,
			  p->ckpt_base, err)) {
		ckpt_recovered_release(&r);
		return err->code;
	}
	for (size_t k = 0; k < p->win.keys.n; k++) {
		size_t klen;
		const char *key = strmap_key(&p->win.keys, k, &klen);
		note_key(j, p, key, klen);
	}
	p->assigned = true;
	p->batch = r.batch;
	p->epoch = r.epoch;
	p->other_source = j->source && r.source[0] && strcmp(r.source, j->source) != 0;
	p->next_offset = r.has_state ? r.next_offset : -1;
	p->last_offset = -1;
	p->last_arrival = clock_mono_s();
	p->eof = false;
	p->once_target = -1;
	if (r.has_wal && j->o->kind == JOB_AGGREGATE &&
	    merge_plan_load(&p->wal_mp, (const char *)r.wal_plan.data, r.wal_plan.len,
			    p->ckpt_base, err)) {
		ckpt_recovered_release(&r);
		return err->code;
	}
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

/* ---- dead letters -------------------------------------------------- */

/*
 * The dead-letter topic is at-least-once and never holds valid data back
 * (docs/exactly-once.md, "What is not exactly-once"): a record the topic
 * refuses as too large is sent again truncated, with a header saying so;
 * a record that cannot be delivered at all is dropped, counted in
 * iotpipe_dead_letter_dropped_total and logged; dlq_flush waits for every
 * dead letter's outcome before a commit, for a bounded time.
 */

/* How long a commit waits for the dead letters sent before it: above the
 * producer's message.timeout.ms default below, so that by default every
 * one is delivered or dropped before its batch commits. */
#define DLQ_FLUSH_MS (60 * 1000)
#define DLQ_MESSAGE_TIMEOUT "30000"

static const char *header_str(const rd_kafka_headers_t *h, const char *name,
			      char *buf, size_t cap)
{
	const void *v;
	size_t n;
	if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v)
		return "?";
	snprintf(buf, cap, "%.*s", (int)n, (const char *)v);
	return buf;
}

static void dlq_dropped(struct job *j, const rd_kafka_headers_t *h, rd_kafka_resp_err_t e)
{
	char part[32], off[32];
	j->dlq_failed++;
	j->dlq_dropped_total++;
	metric_inc(j->m.dlq_dropped);
	/* an outage drops every dead letter: the first few and then one in a
	 * thousand say so, the metric counts them all */
	if (j->dlq_dropped_total <= 5 || j->dlq_dropped_total % 1000 == 0)
		log_warn(j->name, "dead-letter record of partition %s offset %s dropped (%" PRIu64 " so far): %s",
			 header_str(h, "iotpipe.partition", part, sizeof(part)),
			 header_str(h, "iotpipe.offset", off, sizeof(off)),
			 j->dlq_dropped_total, rd_kafka_err2str(e));
}

/*
 * Makes a dead letter shorter for another try: the key to at most
 * EV_MAX_KEY_LEN bytes, the value to half its length, with headers
 * iotpipe.truncated (and iotpipe.key_truncated) holding the original
 * lengths. Halving needs no knowledge of the topic's limit (the topic's
 * max.message.bytes, the broker's, or our producer's message.max.bytes)
 * and reaches any of them in a few tries. False when nothing is left to
 * cut.
 */
static bool dlq_shrink(rd_kafka_headers_t *h, size_t *klen, size_t *vlen)
{
	char num[32];
	const void *v;
	size_t n;

	if (*vlen == 0 && *klen <= EV_MAX_KEY_LEN)
		return false;
	if (rd_kafka_header_get_last(h, "iotpipe.truncated", &v, &n)) {
		snprintf(num, sizeof(num), "%zu", *vlen);
		rd_kafka_header_add(h, "iotpipe.truncated", -1, num, -1);
	}
	if (*klen > EV_MAX_KEY_LEN &&
	    rd_kafka_header_get_last(h, "iotpipe.key_truncated", &v, &n)) {
		snprintf(num, sizeof(num), "%zu", *klen);
		rd_kafka_header_add(h, "iotpipe.key_truncated", -1, num, -1);
	}
	if (*klen > EV_MAX_KEY_LEN)
		*klen = EV_MAX_KEY_LEN;
	*vlen /= 2;
	return true;
}

/*
 * Enqueues a dead letter (takes h over), shorter when the producer finds
 * it too large. In a delivery report (`in_report`) a full queue is not
 * waited for: polling there would serve reports inside a report.
 * Returns false when the record is dropped.
 */
static bool dlq_send(struct job *j, rd_kafka_headers_t *h, const void *key, size_t klen,
		     const void *val, size_t vlen, bool in_report)
{
	rd_kafka_resp_err_t e;

	for (;;) {
		e = rd_kafka_producev(j->dlq, RD_KAFKA_V_TOPIC(j->o->dead_letter_topic),
				      RD_KAFKA_V_KEY(key, klen),
				      RD_KAFKA_V_VALUE((void *)val, vlen),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !in_report) {
			rd_kafka_poll(j->dlq, 100);
			continue;
		}
		if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && dlq_shrink(h, &klen, &vlen))
			continue;
		break;
	}
	if (e) {
		dlq_dropped(j, h, e);
		rd_kafka_headers_destroy(h);
		return false;
	}
	return true;
}

/* Delivery reports, inside rd_kafka_poll/flush on the job thread. */
static void dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct job *j = opaque;
	rd_kafka_headers_t *sent = NULL, *h;
	size_t klen = m->key_len, vlen = m->len;
	(void)rk;

	if (!m->err)
		return;
	rd_kafka_message_headers(m, &sent);
	/* the topic's (or broker's) max.message.bytes is below ours */
	if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
		h = sent ? rd_kafka_headers_copy(sent) : rd_kafka_headers_new(2);
		if (dlq_shrink(h, &klen, &vlen)) {
			dlq_send(j, h, m->key, klen, m->payload, vlen, true);
			return;
		}
		rd_kafka_headers_destroy(h);
	}
	dlq_dropped(j, sent, m->err);
}

static void dead_letter(struct job *j, const rd_kafka_message_t *m, const char *reason)
{
	rd_kafka_headers_t *h;
	char num[32];

	if (!j->dlq)
		return;
	h = rd_kafka_headers_new(6);
	rd_kafka_header_add(h, "iotpipe.reason", -1, reason, -1);
	rd_kafka_header_add(h, "iotpipe.topic", -1, j->o->topic, -1);
	snprintf(num, sizeof(num), "%d", (int)m->partition);
	rd_kafka_header_add(h, "iotpipe.partition", -1, num, -1);
	snprintf(num, sizeof(num), "%" PRId64, m->offset);
	rd_kafka_header_add(h, "iotpipe.offset", -1, num, -1);
	if (dlq_send(j, h, m->key, m->key_len, m->payload, m->len, false))
		metric_inc(j->m.dlq);
	rd_kafka_poll(j->dlq, 0);
}

/*
 * Sizes the dead-letter producer's batches for the topic's
 * max.message.bytes (its default before the user's settings): the broker
 * refuses a whole batch that exceeds it, and would make every small dead
 * letter batched with a large one look too large. With batches and single
 * records bounded by the limit, the producer refuses a too-large record
 * at once (dlq_send truncates it) and every batch fits. A topic not
 * created yet gets the broker's message.max.bytes on first use. When
 * neither can be read, librdkafka's defaults stay and dlq_delivery's
 * halving copes (cutting small records batched with a large one too).
 */
static enum iot_err dlq_fit_topic(struct job *j, rd_kafka_conf_t *pc, struct iot_error *err)
{
	/* a record batch's header (61 bytes in format v2) and some slack */
	enum { BATCH_OVERHEAD = 128, LIBRDKAFKA_MIN = 1000 };
	int timeout_ms = (int)(j->o->timeout_s * 1000);
	long max = kafka_config_long(j->rk, RD_KAFKA_RESOURCE_TOPIC, j->o->dead_letter_topic,
				     "max.message.bytes", timeout_ms);
	char num[32];

	if (max < 0) {
		int32_t broker = rd_kafka_controllerid(j->rk, timeout_ms);
		snprintf(num, sizeof(num), "%d", (int)broker);
		if (broker >= 0)
			max = kafka_config_long(j->rk, RD_KAFKA_RESOURCE_BROKER, num,
						"message.max.bytes", timeout_ms);
	}
	if (max < 0) {
		log_debug(j->name, "dead-letter topic '%s': max.message.bytes unknown, librdkafka's defaults apply",
			  j->o->dead_letter_topic);
		return IOT_OK;
	}
	log_debug(j->name, "dead-letter topic '%s': records of up to %ld bytes", j->o->dead_letter_topic,
		  max);
	max -= BATCH_OVERHEAD;
	/* librdkafka takes 1000..1000000000; Kafka allows topics up to 2^31-1 */
	if (max > 1000000000L)
		max = 1000000000L;
	snprintf(num, sizeof(num), "%ld", max < LIBRDKAFKA_MIN ? (long)LIBRDKAFKA_MIN : max);
	if (kafka_conf_set(pc, "message.max.bytes", num, "default", err) ||
	    kafka_conf_set(pc, "batch.size", num, "default", err))
		return err->code;
	return IOT_OK;
}

/* At shutdown: what is still queued after a last wait is lost; say how much. */
static void dlq_close(struct job *j)
{
	int left;

	rd_kafka_flush(j->dlq, 30 * 1000);
	left = rd_kafka_outq_len(j->dlq);
	if (left > 0) {
		metric_add(j->m.dlq_dropped, (uint64_t)left);
		log_warn(j->name, "dead-letter topic '%s': %d records not delivered at shutdown",
			 j->o->dead_letter_topic, left);
	}
	rd_kafka_destroy(j->dlq);
	j->dlq = NULL;
}

/* ---- committing ---------------------------------------------------- */

static void data_uri(struct buf *b, const char *root)
{
	size_t n = strlen(root);
	buf_puts(b, root);
	if (n && root[n - 1] != '/')
		buf_putc(b, '/');
}

static void file_name(struct buf *b, const struct job *j, const struct part *p,
		      uint64_t batch)
{
	buf_puts(b, "part-");
	hive_escape(b, j->o->topic, strlen(j->o->topic));
	buf_printf(b, "-%d-%010" PRIu64 ".parquet", (int)p->id, batch);
}

/* A hand-over object a batch writes (merge.h). */
struct handoff {
	int32_t part;
	uint64_t group;
	char *uri;
	struct buf text;
};

/* One partition's batch in a commit round (see flush_all). */
struct citem {
	struct part *p;
	struct ckpt_wal w;
	bool replaying;
	struct rawbuf *raw;       /* archive: the batch's rows (p->craw) */
	struct win_out_list wl;   /* aggregate: the windows it emits */
	struct buf payload;       /* aggregate: the state after them */
	struct merge_plan mp;     /* aggregate: what it merges (merge.h) */
	struct winstate *took;    /* the hand-overs it ends with, one per
				     present `end` line, read before planning */
	size_t ntook;
	struct handoff *ho;       /* the hand-overs it writes */
	size_t nho;
	enum { CI_OK, CI_FAILED } outcome;
	size_t files;             /* objects written (the console's batch table) */
};

static void citem_release(struct citem *c)
{
	win_out_list_release(&c->wl);
	buf_release(&c->payload);
	merge_plan_release(&c->mp);
	for (size_t i = 0; i < c->ntook; i++)
		winstate_release(&c->took[i]);
	free(c->took);
	for (size_t i = 0; i < c->nho; i++) {
		free(c->ho[i].uri);
		buf_release(&c->ho[i].text);
	}
	free(c->ho);
	c->took = NULL;
	c->ho = NULL;
	c->ntook = c->nho = 0;
}

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

static void add_task(struct write_list *tl, struct citem *c, const char *uri, size_t dev,
		     size_t first, size_t n)
{
	ALLOC_GROW(tl->v, tl->n + 1, tl->alloc);
	tl->v[tl->n++] = (struct write_task){ c, xstrdup(uri), dev, first, n };
	c->files++;
}

struct write_ctx {
	struct job *j;
	struct write_task *tasks;
};

/* Runs on a writer thread; `worker` picks that thread's own store. */
static enum iot_err write_one(void *ctx, size_t worker, size_t i, struct iot_error *err)
{
	struct write_ctx *wc = ctx;
	struct job *j = wc->j;
	struct store *st = j->wst[worker];
	const struct write_task *t = &wc->tasks[i];
	bool with_device = !hive_layout_has(&j->o->layout, HIVE_DEVICE_ID);
	uint64_t bytes = 0;
	enum iot_err rc;

	if (j->o->kind == JOB_ARCHIVE)
		rc = pqsink_write_raw(st, t->uri, j->o->schema, t->c->raw, t->dev, t->c->p->id,
				      false, &j->o->pq, &bytes, err);
	else
		rc = pqsink_write_windows(st, t->uri, j->o->schema, t->c->wl.items + t->first,
					  t->n, with_device, &j->o->pq, &bytes, err);
	if (!rc) {
		metric_inc(j->m.files);
		metric_add(j->m.bytes, bytes);
		metric_add(j->m.written, j->o->kind == JOB_ARCHIVE ? t->c->raw->dev[t->dev].n : t->n);
	}
	return rc;
}

static void write_list_release(struct write_list *tl, bool written)
{
	for (size_t i = 0; i < tl->n; i++) {
		if (!written)
			tl->v[i].c->files = 0;
		free(tl->v[i].uri);
	}
	free(tl->v);
	memset(tl, 0, sizeof(*tl));
}

static enum iot_err write_all(struct job *j, struct write_list *tl, struct iot_error *err)
{
	struct write_ctx wc = { j, tl->v };
	struct pool_spec ps = { tl->n < j->nwst ? tl->n : j->nwst, tl->n, write_one, &wc,
				NULL, 0, NULL };
	enum iot_err rc = tl->n ? pool_run(&ps, err) : IOT_OK;

	write_list_release(tl, rc == IOT_OK);
	return rc;
}

static void write_raw(struct job *j, struct citem *c, struct write_list *tl)
{
	const struct rawbuf *rb = c->raw;
	struct buf uri = BUF_INIT;

	for (size_t d = 0; d < rb->keys.n; d++) {
		size_t klen;
		const char *key = strmap_key(&rb->keys, d, &klen);
		if (!rb->dev[d].n)
			continue; /* a device seen in an earlier batch only */
		buf_reset(&uri);
		data_uri(&uri, j->o->output);
		buf_puts(&uri, "device_id=");
		hive_escape(&uri, key, klen);
		buf_putc(&uri, '/');
		file_name(&uri, j, c->p, c->w.batch);
		add_task(tl, c, buf_str(&uri), d, 0, 0);
	}
	buf_release(&uri);
}

struct path_ix {
	char *path;
	size_t i;
};

static int cmp_path_ix(const void *a, const void *b)
{
	const struct path_ix *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * Orders the windows by output directory, stably (within a directory they
 * stay sorted by key and start), so that every object is one run: sorted
 * by (key, start) alone, a layout whose directory does not follow the
 * device (date, window_start) would revisit a directory, and the second
 * run would overwrite the first under the same file name.
 */
static void sort_by_path(const struct job *j, struct win_out_list *l)
{
	struct buf b = BUF_INIT;
	struct path_ix *ix;
	struct win_out *tmp;

	if (l->n < 2)
		return;
	ix = xcalloc(l->n, sizeof(*ix));
	for (size_t i = 0; i < l->n; i++) {
		buf_reset(&b);
		hive_path(&b, &j->o->layout, l->items[i].key, l->items[i].key_len,
			  l->items[i].start_us);
		ix[i].path = xstrdup(buf_str(&b));
		ix[i].i = i;
	}
	qsort(ix, l->n, sizeof(*ix), cmp_path_ix);
	tmp = xcalloc(l->n, sizeof(*tmp));
	for (size_t i = 0; i < l->n; i++) {
		tmp[i] = l->items[ix[i].i];
		free(ix[i].path);
	}
	memcpy(l->items, tmp, l->n * sizeof(*tmp));
	free(tmp);
	free(ix);
	buf_release(&b);
}

static void write_windows(struct job *j, struct citem *c, struct write_list *tl)
{
	struct win_out_list *l = &c->wl;
	struct buf uri = BUF_INIT, dir = BUF_INIT, prev = BUF_INIT;
	size_t first = 0;
	int64_t now = clock_wall_us();

	/* windows are sorted by path, then (key, start): a run is one object */
	sort_by_path(j, l);
	for (size_t i = 0; i <= l->n; i++) {
		buf_reset(&dir);
		if (i < l->n)
			hive_path(&dir, &j->o->layout, l->items[i].key, l->items[i].key_len,
				  l->items[i].start_us);
		if (i > first && (i == l->n || dir.len != prev.len ||
				  memcmp(dir.data, prev.data, dir.len))) {
			buf_reset(&uri);
			data_uri(&uri, j->o->output);
			buf_append(&uri, prev.data, prev.len);
			file_name(&uri, j, c->p, c->w.batch);
			add_task(tl, c, buf_str(&uri), 0, first, i - first);
			first = i;
		}
		if (i < l->n) {
			if (i == first) {
				buf_reset(&prev);
				buf_append(&prev, dir.data, dir.len);
			}
			metric_observe(j->m.latency, (double)(now - l->items[i].end_us) / 1e6);
		}
	}
	buf_release(&uri);
	buf_release(&dir);
	buf_release(&prev);
}

/* ---- one row per device and window (merge.h) ------------------------ */

static bool win_due(const struct win *w, int64_t upto, int64_t size)
{
	return !w->held && w->start_us + size <= upto;
}

/*
 * For each group of p whose awaited batches have all committed, an `end`
 * line per awaited batch saying whether its hand-over is there. A batch
 * counts as committed when its partition's checkpoint says so: this
 * instance's own view for a partition it owns, else a listing.
 */
static enum iot_err merge_find_ends(struct job *j, struct part *p, struct merge_plan *mp,
				    struct iot_error *err)
{
	for (size_t g = 0; g < p->win.ngroups; g++) {
		const struct win_group *grp = &p->win.groups[g];
		bool all = true;
		for (size_t k = 0; k < grp->n && all; k++) {
			int32_t q = grp->aw[k].part;
			uint64_t latest = 0;
			bool has = false;
			if ((size_t)q < j->nparts && j->parts[q]->assigned) {
				latest = j->parts[q]->batch;
			} else {
				char *base = ckpt_partition_uri(j->o->checkpoint, j->o->topic, q);
				enum iot_err rc = ckpt_latest(j->st, base, &has, &latest, err);
				free(base);
				if (rc)
					return rc;
			}
			all = latest >= grp->aw[k].batch;
		}
		if (!all)
			continue;
		for (size_t k = 0; k < grp->n; k++) {
			char *uri = merge_handoff_uri(p->ckpt_base, grp->id, grp->aw[k].part,
						      grp->aw[k].batch);
			struct store_stat stt;
			enum iot_err rc = store_head(j->st, uri, &stt, err);
			free(uri);
			if (rc && rc != IOT_ERR_NOT_FOUND)
				return rc;
			if (rc)
				iot_error_clear(err);
			merge_plan_end(mp, grp->id, grp->aw[k].part, grp->aw[k].batch, rc == IOT_OK);
		}
	}
	return IOT_OK;
}

/* The group of another partition owned here that holds (key, start) and
 * waits for batch `batch` of partition `q`; 0 when none. */
static uint64_t merge_waiting(const struct job *j, int32_t q, uint64_t batch, const char *key,
			      size_t klen, int64_t start, int32_t *home)
{
	for (size_t h = 0; h < j->nparts; h++) {
		const struct part *p = j->parts[h];
		uint64_t g;
		if (!p->assigned || p->id == q)
			continue;
		if (p->replay && p->wal_mp.nhold) {
			/* its plan is not applied yet: read it there */
			const struct merge_plan *m = &p->wal_mp;
			bool waits = false;
			for (size_t k = 0; k < m->nawait; k++)
				waits |= m->await[k].part == q && m->await[k].batch == batch;
			for (size_t k = 0; waits && k < m->nhold; k++)
				if (m->hold[k].start_us == start && m->hold[k].key_len == klen &&
				    !memcmp(merge_key(m, &m->hold[k]), key, klen)) {
					*home = p->id;
					return p->wal.batch;
				}
		}
		if (!p->win.ngroups || !(g = winstate_held_by(&p->win, key, klen, start)))
			continue;
		for (size_t i = 0; i < p->win.ngroups; i++) {
			const struct win_group *grp = &p->win.groups[i];
			if (grp->id != g)
				continue;
			for (size_t k = 0; k < grp->n; k++)
				if (grp->aw[k].part == q && grp->aw[k].batch == batch) {
					*home = p->id;
					return g;
				}
		}
	}
	return 0;
}

/*
 * The round's shared windows: a window due in several of the round's
 * partitions is held by the lowest of them and given to it by the others
 * (items are in partition order). A window that a group of an earlier
 * round holds and waits for this very batch for (its plan was written,
 * then the process died before this partition's) is given to that group.
 */
static void merge_share(struct job *j, struct citem *items, size_t n)
{
	struct strmap seen;
	struct buf k = BUF_INIT;
	size_t *first = NULL, *count = NULL, alloc = 0;
	bool *held = NULL;

	strmap_init(&seen);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			struct citem *c = &items[i];
			struct winstate *ws = &c->p->win;
			if (!c->w.has_emit)
				continue;
			for (size_t d = 0; d < ws->keys.n; d++) {
				size_t klen;
				const char *key = strmap_key(&ws->keys, d, &klen);
				for (size_t w = 0; w < ws->dev[d].n; w++) {
					const struct win *win = &ws->dev[d].w[w];
					size_t ix;
					if (!win_due(win, c->w.emit_upto_us, j->o->window_us))
						continue;
					buf_reset(&k);
					buf_append(&k, &win->start_us, sizeof(win->start_us));
					buf_append(&k, key, klen);
					if (pass == 0) {
						size_t before = seen.n;
						ix = strmap_intern(&seen, k.data, k.len);
						if (ix >= alloc) {
							size_t a = alloc ? alloc * 2 : 256;
							while (a <= ix)
								a *= 2;
							first = xrealloc(first, st_mult(a, sizeof(*first)));
							count = xrealloc(count, st_mult(a, sizeof(*count)));
							held = xrealloc(held, st_mult(a, sizeof(*held)));
							alloc = a;
						}
						if (seen.n > before) {
							first[ix] = i;
							count[ix] = 1;
							held[ix] = false;
						} else {
							count[ix]++;
						}
						continue;
					}
					ix = (size_t)strmap_find(&seen, k.data, k.len);
					if (count[ix] < 2) {
						int32_t home;
						uint64_t g = merge_waiting(j, c->p->id, c->w.batch, key,
									   klen, win->start_us, &home);
						if (g)
							merge_plan_give(&c->mp, key, klen, win->start_us,
									home, g);
						continue;
					}
					if (first[ix] == i)
						continue;
					{
						struct citem *h = &items[first[ix]];
						merge_plan_give(&c->mp, key, klen, win->start_us, h->p->id,
								h->w.batch);
						c->mp.give[c->mp.ngive - 1].fresh = true;
						if (!held[ix])
							merge_plan_hold(&h->mp, key, klen, win->start_us);
						held[ix] = true;
						merge_plan_await(&h->mp, c->p->id, c->w.batch);
					}
				}
			}
		}
	}
	buf_release(&k);
	strmap_release(&seen);
	free(first);
	free(count);
	free(held);
}

/* Reads the hand-overs a planned batch ends with (its `end ... 1`
 * lines), before its windows change: a missing or corrupt one fails the
 * batch, which then replays. */
static enum iot_err merge_read(struct job *j, struct citem *c, struct iot_error *err)
{
	struct buf b = BUF_INIT;
	enum iot_err rc = IOT_OK;

	c->took = xcalloc(c->mp.nend ? c->mp.nend : 1, sizeof(*c->took));
	for (size_t i = 0; i < c->mp.nend && !rc; i++) {
		const struct merge_end *e = &c->mp.end[i];
		char *uri;
		if (!e->present)
			continue;
		uri = merge_handoff_uri(c->p->ckpt_base, e->group, e->part, e->batch);
		buf_reset(&b);
		winstate_init(&c->took[c->ntook], j->nsums);
		c->ntook++;
		rc = store_get(j->st, uri, &b, err);
		if (rc == IOT_ERR_NOT_FOUND)
			rc = iot_error_set(err, IOT_ERR_STATE,
					   "%s: hand-over planned by batch %" PRIu64 " of partition %d "
					   "is missing", uri, c->w.batch, (int)c->p->id);
		if (!rc)
			rc = winstate_load(&c->took[c->ntook - 1], (const char *)b.data, b.len, uri,
					   err);
		free(uri);
	}
	buf_release(&b);
	return rc;
}

/* Before the batch emits: the groups it ends take their hand-overs and
 * let their windows go; the windows it holds start its own group. */
static void merge_before_emit(struct job *j, struct citem *c)
{
	struct winstate *ws = &c->p->win;
	size_t t = 0;

	for (size_t i = 0; i < c->mp.nend; i++) {
		const struct merge_end *e = &c->mp.end[i];
		struct winstate *h;
		if (!e->present)
			continue;
		h = &c->took[t++];
		for (size_t d = 0; d < h->keys.n; d++) {
			size_t klen;
			const char *key = strmap_key(&h->keys, d, &klen);
			for (size_t w = 0; w < h->dev[d].n; w++)
				winstate_merge(ws, key, klen, h->dev[d].w[w].start_us,
					       h->dev[d].w[w].count, h->dev[d].w[w].sums, e->group);
			metric_add(j->m.merged, h->dev[d].n);
		}
	}
	for (size_t i = 0; i < c->mp.nend; i++)
		winstate_group_end(ws, c->mp.end[i].group);
	for (size_t i = 0; i < c->mp.nhold; i++)
		winstate_hold(ws, merge_key(&c->mp, &c->mp.hold[i]), c->mp.hold[i].key_len,
			      c->mp.hold[i].start_us, c->w.batch);
	if (c->mp.nhold)
		winstate_group_add(ws, c->w.batch, c->mp.await, c->mp.nawait);
}

static int cmp_win_key(const char *k1, size_t l1, int64_t s1, const struct win_out *o)
{
	size_t n = l1 < o->key_len ? l1 : o->key_len;
	int c = memcmp(k1, o->key, n);
	if (c)
		return c;
	if (l1 != o->key_len)
		return l1 < o->key_len ? -1 : 1;
	return s1 < o->start_us ? -1 : s1 > o->start_us;
}

/* After it emits: the windows it gives away leave its rows for the
 * hand-over objects (one per home group). */
static void merge_after_emit(struct job *j, struct citem *c)
{
	struct win_out_list *l = &c->wl;
	bool *gone;
	size_t keep = 0;

	if (!c->mp.ngive)
		return;
	gone = xcalloc(l->n ? l->n : 1, sizeof(*gone));
	for (size_t i = 0; i < c->mp.ngive; i++) {
		const struct merge_win *g = &c->mp.give[i];
		const char *key = merge_key(&c->mp, g);
		size_t lo = 0, hi = l->n, h;
		while (lo < hi) { /* the list is sorted by (key, start) */
			size_t mid = lo + (hi - lo) / 2;
			if (cmp_win_key(key, g->key_len, g->start_us, &l->items[mid]) > 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == l->n || cmp_win_key(key, g->key_len, g->start_us, &l->items[lo]))
			continue; /* not due here after all: it stays a row of its own */
		for (h = 0; h < c->nho; h++)
			if (c->ho[h].part == g->part && c->ho[h].group == g->group)
				break;
		if (h == c->nho) {
			char *base = ckpt_partition_uri(j->o->checkpoint, j->o->topic, g->part);
			c->ho = xrealloc(c->ho, st_mult(c->nho + 1, sizeof(*c->ho)));
			c->ho[h].part = g->part;
			c->ho[h].group = g->group;
			c->ho[h].uri = merge_handoff_uri(base, g->group, c->p->id, c->w.batch);
			buf_init(&c->ho[h].text);
			c->nho++;
			free(base);
		}
		merge_handoff_add(&c->ho[h].text, &l->items[lo], j->nsums);
		gone[lo] = true;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (gone[i])
			free((void *)l->items[i].sums);
		else
			l->items[keep++] = l->items[i];
	}
	l->n = keep;
	free(gone);
}

/* After the batch that ended them committed: its hand-overs go (best
 * effort; one left by a crash here is never read again). */
static void merge_gc(struct job *j, struct store *st, const struct citem *c)
{
	for (size_t i = 0; i < c->mp.nend; i++) {
		const struct merge_end *e = &c->mp.end[i];
		struct iot_error e2 = IOT_ERROR_INIT;
		char *uri;
		if (!e->present)
			continue;
		uri = merge_handoff_uri(c->p->ckpt_base, e->group, e->part, e->batch);
		if (store_delete(st, uri, &e2))
			log_debug(j->name, "hand-over clean-up: %s", e2.msg);
		free(uri);
	}
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

/* Writes one batch's state (its commit point) and cleans up behind it;
 * on a writer thread, with that thread's store. */
static enum iot_err commit_one(void *ctx, size_t worker, size_t i, struct iot_error *err)
{
	struct job *j = ctx;
	struct citem *c = &j->round.items[i];
	struct store *st = j->wst[worker];
	enum iot_err rc = ckpt_write_state(st, j->name, c->p->ckpt_base, c->w.batch, c->w.end,
					   c->w.epoch, j->source, &c->payload, err);

	if (rc)
		return rc;
	c->outcome = CI_OK;
	merge_gc(j, st, c);
	/* per partition: one shared counter would clean up only the
	 * partitions whose commits happen to fall on its multiples */
	if (++c->p->commits % GC_EVERY == 0 && c->w.batch > 1)
		ckpt_gc(st, c->p->ckpt_base, c->w.batch - 1);
	return IOT_OK;
}

/*
 * A commit round runs on its own thread while the job thread reads on
 * (flush_all plans the batches and hands them over; round_wait collects
 * them): every item's objects, one store_sync for all of them, then every
 * item's state record, the commit point. Only this thread touches the items and j->cst while it
 * runs; the job thread waits for it before it plans again, recovers,
 * drops a partition or exits.
 */
static void *round_main(void *arg)
{
	struct job *j = arg;
	struct round *r = &j->round;
	struct iot_error *err = &r->err;
	double t0 = clock_mono_s(), t_write, t_sync;
	struct write_list tl = { 0 };
	enum iot_err rc = IOT_OK;

	pthread_setname_np(pthread_self(), "iot-commit"); /* for top -H and perf */
	for (size_t i = 0; i < r->n && !rc; i++) {
		struct citem *c = &r->items[i];
		c->files = 0;
		for (size_t h = 0; h < c->nho && !rc; h++)
			rc = store_put(j->cst, c->ho[h].uri, c->ho[h].text.data, c->ho[h].text.len, 0,
				       err);
		if (j->o->kind == JOB_ARCHIVE)
			write_raw(j, c, &tl);
		else
			write_windows(j, c, &tl);
	}
	if (!rc)
		rc = write_all(j, &tl, err);
	else
		write_list_release(&tl, false);
	t_write = clock_mono_s();
	if (!rc)
		rc = store_sync(j->cst, j->o->output, err);
	t_sync = clock_mono_s();
	if (!rc && r->n) {
		/* each state is its own partition's commit point: written side
		 * by side, the objects of every batch being durable already */
		struct pool_spec ps = { r->n < j->nwst ? r->n : j->nwst, r->n, commit_one, j,
					NULL, 0, NULL };
		rc = pool_run(&ps, err);
	}
	r->failed = rc != IOT_OK;
	r->seconds = clock_mono_s() - t0;
	log_debug(j->name, "commit round of %zu batches: objects %.3f s, sync %.3f s, states %.3f s",
		  r->n, t_write - t0, t_sync - t_write, clock_mono_s() - t_sync);
	atomic_store(&r->done, true);
	return NULL;
}

/*
 * Waits for the round in flight, if any, and applies its outcome: the
 * committed batches advance their partition and their offsets go to
 * Kafka (best effort; the checkpoint is the truth, the group offset
 * serves lag tooling).
 */
static enum iot_err round_wait(struct job *j, struct iot_error *err)
{
	struct round *r = &j->round;
	rd_kafka_topic_partition_list_t *tl = NULL;

	if (!r->running)
		return IOT_OK;
	if (r->threaded)
		pthread_join(r->th, NULL);
	r->running = false;
	for (size_t i = 0; i < r->n; i++) {
		struct citem *c = &r->items[i];
		struct part *p = c->p;
		if (c->outcome == CI_OK) /* the web console's table of recent batches */
			batchlog_push(j->name, &(struct batch_record){
				.partition = p->id, .batch = c->w.batch, .start = c->w.start,
				.end = c->w.end, .rows = c->raw ? c->raw->rows : c->wl.n,
				.files = c->files, .seconds = r->seconds, .replayed = c->replaying });
		if (c->raw)
			rawbuf_clear(c->raw);
		citem_release(c);
		if (c->outcome == CI_OK) {
			p->batch = c->w.batch;
			metric_inc(j->m.batches);
			metric_observe(j->m.batch_seconds, r->seconds);
			log_debug(j->name, "partition %d: batch %" PRIu64 " committed (offsets %" PRId64
				  "..%" PRId64 ")", p->id, c->w.batch, c->w.start, c->w.end);
			if (c->w.end > 0) {
				if (!tl)
					tl = rd_kafka_topic_partition_list_new((int)r->n);
				rd_kafka_topic_partition_list_add(tl, j->o->topic, p->id)->offset = c->w.end;
			}
		}
	}
	if (tl) {
		rd_kafka_commit(j->rk, tl, 1);
		rd_kafka_topic_partition_list_destroy(tl);
	}
	free(r->items);
	r->items = NULL;
	r->n = 0;
	if (r->failed) {
		*err = r->err;
		return err->code;
	}
	return IOT_OK;
}

/* ---- decoding ahead (struct decoder) ---------------------------------- */

static void decode_batch(struct ev_decoder *dec, struct dbatch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const rd_kafka_message_t *m = b->msgs[i];
		if (m->err)
			continue;
		b->res[i] = ev_decode(dec, m->key, m->key_len, m->payload, m->len, &b->ev[i]);
		b->redo[i] = b->res[i].status == EV_VALID && ev_decoder_used_scratch(dec);
	}
}

static void decoder_run(void *arg)
{
	struct decoder *d = arg;
	decode_batch(d->dec, d->batch);
}

static void decoder_init(struct job *j)
{
	struct decoder *d = &j->ahead;

	for (int i = 0; i < 2; i++)
		j->batch[i].ev = xcalloc(CONSUME_BATCH, sizeof(struct event));
	d->dec = ev_decoder_create(j->o->schema);
	d->worker = worker_start(decoder_run, d);
	if (!d->worker)
		log_warn(j->name, "cannot start the decoder thread: decoding on the job thread");
}

/* Hands b to the decoder thread (or decodes it here without one). One
 * array at a time: the previous one was waited for. */
static void decoder_start(struct job *j, struct dbatch *b)
{
	struct decoder *d = &j->ahead;

	b->decoded = false;
	d->batch = b;
	if (d->worker)
		worker_request(d->worker);
	else
		decode_batch(d->dec, b);
}

static void decoder_wait(struct job *j, struct dbatch *b)
{
	if (b->decoded)
		return;
	b->decoded = true;
	if (j->ahead.worker)
		worker_wait(j->ahead.worker);
}

static void decoder_stop(struct job *j)
{
	worker_stop(j->ahead.worker);
	ev_decoder_destroy(j->ahead.dec);
	for (int i = 0; i < 2; i++)
		free(j->batch[i].ev);
}

static void handle(struct job *j, struct dbatch *b, size_t i);

/* Handles the array read before the last one, if any (then frees it). */
static void drain_pending(struct job *j)
{
	struct dbatch *b = j->pending;

	if (!b)
		return;
	j->pending = NULL;
	decoder_wait(j, b);
	for (size_t i = 0; i < b->n; i++) {
		if (!j->failed)
			handle(j, b, i);
		rd_kafka_message_destroy(b->msgs[i]);
	}
	b->n = 0;
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

/*
 * Before a commit: waits (at most DLQ_FLUSH_MS) until every dead letter
 * sent so far is delivered or dropped. Never fails: valid data commits
 * whatever the dead-letter topic does. Records still queued after the
 * wait (a message.timeout.ms raised above it) stay queued: delivered
 * later, or dropped and counted when librdkafka gives up on them.
 */
static enum iot_err dlq_flush(struct job *j, struct iot_error *err)
{
	int queued;

	(void)err;
	if (!j->dlq)
		return IOT_OK;
	rd_kafka_flush(j->dlq, DLQ_FLUSH_MS);
	queued = rd_kafka_outq_len(j->dlq);
	if (queued > 0 || j->dlq_failed)
		log_warn(j->name, "dead-letter topic '%s': %" PRIu64 " records dropped since the last commit, %d still queued after %d s; committing the valid data",
			 j->o->dead_letter_topic, j->dlq_failed, queued, DLQ_FLUSH_MS / 1000);
	j->dlq_failed = 0;
	return IOT_OK;
}

/*
 * Writes the plan of c's batch (wal), on the job thread: once it is
 * durable, what the job decides about the records read after the batch
 * (late or not, against the windows the plan emits) holds after any
 * crash, since a restart replays the plan. Fencing first: a stalled
 * instance must not reuse a committed batch number (its objects would
 * replace the committed ones). *stale: another instance planned or
 * committed this batch.
 */
static enum iot_err plan_wal(struct job *j, struct store *st, struct citem *c, bool *stale,
			     struct iot_error *err)
{
	bool has = false;
	uint64_t latest = 0;
	struct ckpt_wal other;
	struct buf plan = BUF_INIT;
	enum iot_err rc;

	*stale = false;
	rc = ckpt_latest(st, c->p->ckpt_base, &has, &latest, err);
	if (!rc && has && latest >= c->w.batch)
		*stale = true;
	else if (!rc)
	{
		merge_plan_save(&c->mp, &plan);
		rc = ckpt_write_wal(st, j->name, c->p->ckpt_base, &c->w, j->source, &plan,
				    stale, &other, err);
	}
	buf_release(&plan);
	return rc;
}

/* Moves a planned batch out of its partition into the round's item: the
 * partition starts its next batch at once. */
static void plan_item(struct job *j, struct citem *c, bool replaying)
{
	struct part *p = c->p;

	c->outcome = CI_FAILED;
	c->replaying = replaying;
	if (j->o->kind == JOB_ARCHIVE) {
		struct rawbuf t = p->raw;
		p->raw = p->craw; /* empty: cleared when its round ended */
		p->craw = t;
		c->raw = &p->craw;
	} else {
		merge_before_emit(j, c);
		if (c->w.has_emit)
			winstate_emit(&p->win, c->w.emit_upto_us, j->o->window_us, &c->wl);
		merge_after_emit(j, c);
		metric_add(j->m.windows, c->wl.n);
		winstate_save(&p->win, &c->payload);
	}
	p->next_offset = c->w.end;
	p->last_offset = -1;
	p->dirty = false;
	p->replay = false;
	p->ref_us = 0;
	j->buffered -= p->pending <= j->buffered ? p->pending : j->buffered;
	p->pending = 0;
}

static enum iot_err round_start(struct job *j, bool wait, struct iot_error *err)
{
	struct round *r = &j->round;
	int e;

	r->failed = false;
	r->err = (struct iot_error)IOT_ERROR_INIT;
	atomic_store(&r->done, false);
	e = wait ? -1 : pthread_create(&r->th, NULL, round_main, j);
	r->threaded = e == 0;
	if (!r->threaded) /* asked to wait, or no thread to be had: run it here */
		round_main(j);
	r->running = true;
	return wait ? round_wait(j, err) : IOT_OK;
}

/*
 * The watermark: the smallest latest event time of the partitions that
 * are not idle, less the delay. Streaming, a partition is idle after
 * idle_timeout_s without records, and when all are, the watermark moves
 * on with processing time. --once uses no clock (docs/exactly-once.md):
 * no partition is ever idle, so the watermark is the smallest latest
 * event time less the delay, and the same topic and flags close the same
 * windows however fast the store commits.
 */
static void update_watermark(struct job *j)
{
	double now = clock_mono_s();
	bool any_active = false, any = false;
	int64_t min_active = 0, max_all = 0;
	double last_any = 0;

	for (size_t i = 0; i < j->nparts; i++) {
		struct part *p = j->parts[i];
		bool idle;
		if (!p->assigned || !p->win.has_max)
			continue;
		if (!any || p->win.max_event_us > max_all)
			max_all = p->win.max_event_us;
		if (!any || p->last_arrival > last_any)
			last_any = p->last_arrival;
		any = true;
		idle = !j->o->once && j->o->idle_timeout_s > 0 &&
		       now - p->last_arrival >= j->o->idle_timeout_s;
		if (!idle && (!any_active || p->win.max_event_us < min_active)) {
			min_active = p->win.max_event_us;
			any_active = true;
		}
	}
	if (!any)
		return;
	{
		int64_t cand;
		if (any_active)
			cand = min_active - j->o->watermark_us;
		else /* everything idle: advance with processing time */
			cand = max_all - j->o->watermark_us + (int64_t)((now - last_any) * 1e6);
		if (!j->has_wm || cand > j->wm_us) {
			j->wm_us = cand;
			j->has_wm = true;
		}
	}
	metric_set(j->m.watermark, (double)j->wm_us / 1e6);
}

static bool has_windows_upto(const struct part *p, int64_t upto, int64_t size)
{
	for (size_t d = 0; d < p->win.keys.n; d++)
		for (size_t k = 0; k < p->win.dev[d].n; k++)
			if (win_due(&p->win.dev[d].w[k], upto, size))
				return true;
	return false;
}

static void update_lag(struct job *j)
{
	size_t open = 0;
	for (size_t i = 0; i < j->nparts; i++) {
		struct part *p = j->parts[i];
		int64_t lo, hi;
		if (!p->assigned)
			continue;
		open += p->win.open;
		if (!p->m_lag) {
			char l[96];
			snprintf(l, sizeof(l), "job=\"%s\",partition=\"%d\"", j->name, (int)p->id);
			p->m_lag = metrics_gauge("iotpipe_consumer_lag_records",
						 "Records in the partition not yet read by the job.", l);
		}
		if (rd_kafka_get_watermark_offsets(j->rk, j->o->topic, p->id, &lo, &hi) == 0 &&
		    hi >= 0) {
			int64_t pos = p->last_offset >= 0 ? p->last_offset + 1 : p->next_offset;
			metric_set(p->m_lag, pos >= 0 && hi > pos ? (double)(hi - pos) : 0);
		}
	}
	metric_set(j->m.open_windows, (double)open);
}

/* Plans written ahead, side by side, for the batches of a round that take
 * no part in a hand-over (the others go in partition order, merge.h). */
enum pre_plan { PRE_NONE, PRE_OK, PRE_STALE, PRE_FAILED };

struct pre_ctx {
	struct job *j;
	struct citem *items;
	const size_t *idx;
	enum pre_plan *pre;
};

static enum iot_err pre_plan_one(void *ctx, size_t worker, size_t i, struct iot_error *err)
{
	struct pre_ctx *pc = ctx;
	size_t k = pc->idx[i];
	bool stale = false;
	enum iot_err rc = plan_wal(pc->j, pc->j->wst[worker], &pc->items[k], &stale, err);

	pc->pre[k] = rc ? PRE_FAILED : stale ? PRE_STALE : PRE_OK;
	return rc;
}

static enum iot_err pre_plan(struct job *j, struct citem *items, size_t n, enum pre_plan *pre,
			     struct iot_error *err)
{
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx)), m = 0;
	struct pre_ctx pc = { j, items, idx, pre };
	enum iot_err rc = IOT_OK;

	for (size_t i = 0; i < n; i++)
		if (merge_plan_empty(&items[i].mp) && !items[i].mp.nawait)
			idx[m++] = i;
	if (m > 1) {
		struct pool_spec ps = { m < j->nwst ? m : j->nwst, m, pre_plan_one, &pc,
					NULL, 0, NULL };
		rc = pool_run(&ps, err);
	}
	free(idx);
	return rc;
}

/*
 * Plans a batch for every partition with something to commit and starts
 * their commit round; with `wait`, returns when it is done. A round still
 * in flight is waited for first: at most one runs, which bounds memory
 * (the rows being committed plus those read since) and slows reading
 * when writing is the slower side.
 */
static enum iot_err flush_all(struct job *j, bool wait, struct iot_error *err)
{
	struct round *r = &j->round;
	enum iot_err rc = IOT_OK;
	enum pre_plan *pre;
	bool *planned;
	size_t n = 0;

	if (round_wait(j, err))
		return err->code;
	if (j->o->kind == JOB_AGGREGATE)
		update_watermark(j);
	r->items = xcalloc(j->nparts ? j->nparts : 1, sizeof(*r->items));
	for (size_t i = 0; i < j->nparts && !rc; i++) {
		struct part *p = j->parts[i];
		struct merge_plan mp = { 0 };
		int64_t end, emit = 0;
		bool has_emit = false;
		if (!p->assigned || p->replay || p->resync_batch || p->next_offset < 0)
			continue;
		end = p->last_offset >= 0 ? p->last_offset + 1 : p->next_offset;
		if (j->o->kind == JOB_AGGREGATE && j->has_wm) {
			has_emit = true;
			emit = p->win.has_emitted && p->win.emitted_upto_us > j->wm_us
				       ? p->win.emitted_upto_us
				       : j->wm_us;
		}
		if (p->win.ngroups && (rc = merge_find_ends(j, p, &mp, err)))
			break;
		if (!p->dirty && !(has_emit && has_windows_upto(p, emit, j->o->window_us)) &&
		    !mp.nend) {
			merge_plan_release(&mp);
			continue;
		}
		r->items[n].p = p;
		r->items[n].mp = mp;
		r->items[n].w = (struct ckpt_wal){ p->batch + 1, p->next_offset, end, has_emit, emit,
						   p->epoch, p->ref_us };
		n++;
	}
	if (n && !rc)
		rc = dlq_flush(j, err);
	if (n && !rc && j->o->kind == JOB_AGGREGATE)
		merge_share(j, r->items, n);
	planned = xcalloc(j->nparts ? j->nparts : 1, sizeof(*planned));
	pre = xcalloc(n ? n : 1, sizeof(*pre));
	if (n && !rc)
		rc = pre_plan(j, r->items, n, pre, err);
	for (size_t i = 0; i < n; i++) {
		struct citem *c = &r->items[i];
		bool stale = pre[i] == PRE_STALE;
		size_t keep = 0;
		/* a plan written before a failure still commits */
		if (rc && pre[i] != PRE_OK && pre[i] != PRE_STALE) {
			citem_release(c);
			continue;
		}
		/* give only to homes whose plan stands (they come first) */
		for (size_t g = 0; g < c->mp.ngive; g++)
			if (!c->mp.give[g].fresh || planned[c->mp.give[g].part])
				c->mp.give[keep++] = c->mp.give[g];
		c->mp.ngive = keep;
		if (pre[i] == PRE_NONE && (rc = plan_wal(j, j->st, c, &stale, err))) {
			citem_release(c);
			continue;
		}
		if (stale) {
			/* follow the other plan (resync_pending), between arrays */
			c->p->resync_batch = c->w.batch;
			citem_release(c);
			continue;
		}
		{
			struct iot_error merr = IOT_ERROR_INIT;
			if (merge_read(j, c, &merr)) {
				/* planned: a restart replays it */
				if (!rc) {
					*err = merr;
					rc = merr.code;
				}
				citem_release(c);
				continue;
			}
		}
		planned[c->p->id] = true;
		if (r->n != i) {
			r->items[r->n] = *c;
			memset(c, 0, sizeof(*c));
		}
		plan_item(j, &r->items[r->n++], false);
	}
	free(planned);
	free(pre);
	if (rc && r->n) {
		/* the batches planned before the failure still commit */
		struct iot_error ignored = IOT_ERROR_INIT;
		round_start(j, true, &ignored);
	} else if (r->n) {
		rc = round_start(j, wait, err);
	} else {
		free(r->items);
		r->items = NULL;
		r->n = 0;
	}
	j->last_flush = clock_mono_s();
	update_lag(j);
	return rc;
}

/* A replaying partition reached the end of its plan: commit exactly it. */
static enum iot_err flush_replay(struct job *j, struct part *p, struct iot_error *err)
{
	struct round *r = &j->round;

	if (round_wait(j, err) || dlq_flush(j, err))
		return err->code;
	r->items = xcalloc(1, sizeof(*r->items));
	r->n = 1;
	r->items[0].p = p;
	r->items[0].w = p->wal;
	r->items[0].mp = p->wal_mp;
	memset(&p->wal_mp, 0, sizeof(p->wal_mp));
	if (merge_read(j, &r->items[0], err)) {
		citem_release(&r->items[0]);
		free(r->items);
		r->items = NULL;
		r->n = 0;
		return err->code;
	}
	plan_item(j, &r->items[0], true);
	if (round_start(j, true, err))
		return err->code;
	log_info(j->name, "partition %d: batch %" PRIu64 " replayed", p->id, p->wal.batch);
	return IOT_OK;
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
	return j->o->kind == JOB_ARCHIVE && rawbuf_bytes(&p->raw) >= j->o->max_batch_bytes / n;
}

static enum iot_err once_cut(struct job *j, struct part *p, struct iot_error *err)
{
	struct round *r = &j->round;
	struct citem *c;
	bool stale = false;

	if (round_wait(j, err) || dlq_flush(j, err))
		return err->code;
	r->items = xcalloc(1, sizeof(*r->items));
	c = &r->items[0];
	c->p = p;
	c->w = (struct ckpt_wal){ p->batch + 1, p->next_offset, p->last_offset + 1, false, 0,
				  p->epoch, p->ref_us };
	if (plan_wal(j, j->st, c, &stale, err) || stale || merge_read(j, c, err)) {
		if (stale) /* follow the other plan (resync_pending), between arrays */
			p->resync_batch = c->w.batch;
		citem_release(c);
		free(r->items);
		r->items = NULL;
		return stale ? IOT_OK : err->code;
	}
	r->n = 1;
	plan_item(j, c, false);
	return round_start(j, true, err);
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
		if (flush_replay(j, p, err))
			return err->code;
	} else if (p->dirty && flush_all(j, true, err)) {
		return err->code;
	}
	p->epoch++;
	p->other_source = false;
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

	if (*start < 0 && !p->replay)
		return IOT_OK; /* no checkpoint */
	e = rd_kafka_query_watermark_offsets(j->rk, j->o->topic, p->id, &lo, &hi,
					     (int)(j->o->timeout_s * 1000));
	if (e) {
		lo = hi = -1;
		if (!p->other_source) {
			log_warn(j->name, "partition %d: cannot read the log's range (%s): a position "
				 "outside it is found at the first fetch", p->id, rd_kafka_err2str(e));
			return IOT_OK;
		}
	}
	if (p->other_source)
		lost = true;
	else if (p->replay)
		lost = p->wal.start < lo || p->wal.end > hi;
	else
		lost = *start < lo || *start > hi;
	if (!lost)
		return IOT_OK;
	return data_loss(j, p, *start, lo, hi, start, err);
}

static void assign_partitions(struct job *j, rd_kafka_topic_partition_list_t *tl);

/*
 * Partitions whose fetch ran outside the log (handle()), between arrays.
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
	if (flush_all(j, true, err))
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

/* ---- keys on several partitions (aggregate) --------------------------- */

/*
 * A device's windows are kept per partition, so a key whose events come
 * through two partitions (a second producer with another partitioner, a
 * partition count change) would be written as two partial rows per
 * window. Keys are checked when a partition's state sees them first
 * (rarely, not per event); a split key is counted and logged once.
 */
static void note_key(struct job *j, const struct part *p, const char *key, size_t len)
{
	size_t i = strmap_intern(&j->key_part, key, len);

	if (i >= j->key_first_alloc) {
		size_t old = j->key_first_alloc;
		ALLOC_GROW(j->key_first, i + 1, j->key_first_alloc);
		for (size_t k = old; k < j->key_first_alloc; k++)
			j->key_first[k] = -1;
	}
	if (j->key_first[i] < 0) {
		j->key_first[i] = p->id;
		return;
	}
	if (j->key_first[i] == p->id || j->key_first[i] == INT32_MAX)
		return;
	metric_inc(j->m.split_keys);
	if (metric_value(j->m.split_keys) == 1) {
		struct buf b = BUF_INIT; /* escaped: a key is anyone's bytes */
		hive_escape(&b, key, len > 64 ? 64 : len);
		log_warn(j->name, "key '%s' arrives on partitions %d and %d (another producer's "
			 "partitioner, or a partition count change): its windows are merged into "
			 "one row where this instance commits both partitions in one round, and may "
			 "be split into one row per partition otherwise; further keys are counted "
			 "in iotpipe_keys_split_total (docs/exactly-once.md)",
			 buf_str(&b), (int)j->key_first[i], (int)p->id);
		buf_release(&b);
	}
	j->key_first[i] = INT32_MAX; /* counted */
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
			fail(j, &err);
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

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			 rd_kafka_topic_partition_list_t *tl, void *opaque)
{
	struct job *j = opaque;
	struct iot_error err = IOT_ERROR_INIT;

	/* the records read before the rebalance are handled before it */
	drain_pending(j);
	/* the round in flight may hold these partitions' batches */
	if (!j->failed && round_wait(j, &err))
		fail(j, &err);
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		assign_partitions(j, tl);
	} else {
		/* give the partitions back with their work committed, unless
		 * they were lost (session timed out: they belong to another
		 * member already, which recovers from the checkpoint) */
		if (rd_kafka_assignment_lost(rk))
			log_warn(j->name, "partitions lost to another member: dropping what was read since the last commit");
		else if (!j->failed && flush_all(j, true, &err))
			fail(j, &err);
		for (int i = 0; i < tl->cnt; i++) {
			struct part *p = part_get(j, tl->elems[i].partition);
			part_drop(j, p);
			log_info(j->name, "revoked partition %d", (int)tl->elems[i].partition);
		}
		rd_kafka_assign(rk, NULL);
	}
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
			if (p->replay && m->offset >= p->wal.end && flush_replay(j, p, &err))
				fail(j, &err);
		} else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && p && p->assigned) {
			/* the fetch position is outside the log (auto.offset.reset
			 * is "error"): the data-loss policy, between arrays */
			p->loss_pending = true;
		} else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			log_warn(j->name, "consumer: %s", rd_kafka_message_errstr(m));
		}
		return;
	}
	if (!p || !p->assigned || p->resync_batch || p->loss_pending ||
	    (p->next_offset >= 0 && m->offset < p->next_offset))
		return; /* stale: from before a seek or a revocation, or to be read again */
	if (p->replay && m->offset >= p->wal.end) {
		if (flush_replay(j, p, &err)) {
			fail(j, &err);
			return;
		}
	}
	if (p->next_offset < 0)
		p->next_offset = m->offset;
	metric_inc(j->m.consumed);
	r = b->redo[i] ? ev_decode(j->dec, m->key, m->key_len, m->payload, m->len, ev) : b->res[i];
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
		dead_letter(j, m, why);
	} else if (r.status == EV_FILTERED) {
		metric_inc(j->m.valid);
		metric_inc(j->m.filtered);
	} else {
		metric_inc(j->m.valid);
		if (j->o->kind == JOB_ARCHIVE) {
			rawbuf_add(&p->raw, j->o->schema, ev, m->offset);
			j->buffered++;
			p->pending++;
		} else if (winstate_is_late(&p->win, ev->time_us, j->o->window_us)) {
			metric_inc(j->m.late);
			dead_letter(j, m, "late");
		} else {
			double sums[EV_MAX_FIELDS];
			size_t nkeys = p->win.keys.n;
			for (size_t k = 0; k < j->nsums; k++)
				sums[k] = ev->v[j->sum_fields[k]].d;
			winstate_add(&p->win, ev->key, ev->key_len, ev->time_us,
				     j->o->window_us, sums);
			if (p->win.keys.n != nkeys)
				note_key(j, p, ev->key, ev->key_len);
			j->buffered++;
			p->pending++;
		}
	}
	p->last_offset = m->offset;
	p->dirty = true;
	p->last_arrival = j->now;
	if (p->replay && m->offset >= p->wal.end - 1 && flush_replay(j, p, &err))
		fail(j, &err);
	else if (j->o->once && once_cut_due(j, p) && once_cut(j, p, &err))
		fail(j, &err);
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

/* Windows held for another partition's hand-over (merge.h), in the
 * partitions this instance owns. */
static size_t merge_pending(const struct job *j)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nparts; i++)
		if (j->parts[i]->assigned)
			n += j->parts[i]->win.ngroups;
	return n;
}

/* --once, between arrays: 1 when the whole topic is committed, 0 to go
 * on, -1 on failure (err set). */
static int once_step(struct job *j, struct iot_error *err)
{
	double now = clock_mono_s(), consumed = metric_value(j->m.consumed);
	struct buf left = BUF_INIT;
	bool all = false;
	int ret = 0;

	if (consumed != j->once.consumed) {
		/* reading is progress; what was read is committed below */
		j->once.consumed = consumed;
		j->once.deadline = now + j->o->timeout_s;
		j->once.flushed = false;
	}
	if (!once_read_all(j))
		return 0;
	if (!j->once.flushed) {
		drain_pending(j);
		if (flush_all(j, true, err))
			return -1;
		/* windows held in that round for its other partitions' parts
		 * end in the next one */
		if (merge_pending(j) && flush_all(j, true, err))
			return -1;
		j->once.flushed = true;
		j->once.next_check = 0;
	}
	if (now < j->once.next_check)
		return 0;
	j->once.next_check = now + ONCE_CHECK_S;
	/* held for parts that other instances commit */
	if (merge_pending(j) && flush_all(j, true, err))
		return -1;
	if (once_committed(j, &all, &left, err)) {
		ret = -1;
	} else if (all && !merge_pending(j)) {
		ret = 1;
	} else if (now >= j->once.deadline) {
		if (!j->assigned_once)
			buf_printf(&left, " (no partition was ever assigned to this instance of "
				   "group '%s')", j->o->group);
		if (all)
			buf_printf(&left, "none, but %zu groups of windows are held for parts that "
				   "other partitions have not committed", merge_pending(j));
		iot_error_set(err, IOT_ERR_STATE,
			      "--once: topic '%s' is not committed up to the end offsets it had at "
			      "start, and nothing progressed for %.0f s; partitions left: %s; run "
			      "again to finish", j->o->topic, j->o->timeout_s, buf_str(&left));
		ret = -1;
	}
	buf_release(&left);
	return ret;
}

static enum iot_err setup_kafka(struct job *j, struct iot_error *err)
{
	const struct job_options *o = j->o;
	rd_kafka_conf_t *conf = kafka_conf_new(o->bootstrap, NULL, err);
	rd_kafka_topic_partition_list_t *sub;
	int partitions = 0;

	if (!conf)
		return err->code;
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
	    kafka_conf_set(conf, "fetch.wait.max.ms", "100", "default", err))
		goto fail;
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_opaque(conf, j);
	j->rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, o->kafka, j->name,
				 "the Kafka consumer", err);
	if (!j->rk)
		return err->code;
	if (kafka_wait_topic(j->rk, o->bootstrap, o->topic, (int)(o->timeout_s * 1000),
			     &partitions, err))
		return err->code;
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

	if (o->dead_letter_topic && *o->dead_letter_topic) {
		rd_kafka_conf_t *pc = kafka_conf_new(o->bootstrap, NULL, err);
		if (!pc)
			return err->code;
		if (kafka_conf_set(pc, "enable.idempotence", "true", "default", err) ||
		    kafka_conf_set(pc, "linger.ms", "20", "default", err) ||
		    /* a dead letter is delivered or dropped before dlq_flush gives up */
		    kafka_conf_set(pc, "message.timeout.ms", DLQ_MESSAGE_TIMEOUT, "default", err) ||
		    dlq_fit_topic(j, pc, err)) {
			rd_kafka_conf_destroy(pc);
			return err->code;
		}
		rd_kafka_conf_set_dr_msg_cb(pc, dlq_delivery);
		rd_kafka_conf_set_opaque(pc, j);
		j->dlq = kafka_client_new(RD_KAFKA_PRODUCER, pc, o->kafka, NULL,
					  "the dead-letter producer", err);
		if (!j->dlq)
			return err->code;
	}
	return IOT_OK;
fail:
	rd_kafka_conf_destroy(conf);
	return err->code;
}

enum iot_err job_run(const struct job_options *o, struct iot_error *err)
{
	struct job j;
	enum iot_err rc = IOT_OK;

	memset(&j, 0, sizeof(j));
	j.o = o;
	j.name = o->kind == JOB_ARCHIVE ? "archive" : "aggregate";
	for (size_t f = 0; f < o->schema->nfields; f++)
		if (o->schema->fields[f].type == FIELD_FLOAT)
			j.sum_fields[j.nsums++] = (int)f;
	j.st = store_create();
	j.cst = store_create();
	j.nwst = store_concurrency(j.st, o->output);
	j.wst = xcalloc(j.nwst, sizeof(*j.wst));
	for (size_t i = 0; i < j.nwst; i++)
		j.wst[i] = store_create();
	j.dec = ev_decoder_create(o->schema);
	strmap_init(&j.key_part);
	decoder_init(&j);
	register_metrics(&j);
	{
		/* every output object is named after the topic: a name that
		 * cannot be a file name would fail every batch */
		struct buf b = BUF_INIT;
		struct part probe = { .id = INT32_MAX };
		file_name(&b, &j, &probe, UINT64_MAX);
		if (b.len > 255)
			rc = iot_error_set(err, IOT_ERR_CONFIG,
					   "topic '%s' is too long to name output objects: "
					   "'part-<topic>-<partition>-<batch>.parquet' would take %zu "
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
		struct dbatch *b = j.pending == &j.batch[0] ? &j.batch[1] : &j.batch[0];
		ssize_t n;
		double now;

		if (signals_stop_requested())
			break;
		/* with an array waiting to be handled, take only what is there */
		n = rd_kafka_consume_batch_queue(j.queue, j.pending ? 0 : 200, b->msgs,
						 CONSUME_BATCH);
		fetch_waker_check(j.waker);
		j.now = clock_mono_s(); /* one clock read per array, not per record */
		b->n = n > 0 ? (size_t)n : 0;
		if (b->n) {
			/* a rebalance served by the read above handled the
			 * previous array already; else it is handled now,
			 * while the decoder thread decodes this one */
			struct dbatch *prev = j.pending;
			if (prev)
				decoder_wait(&j, prev);
			decoder_start(&j, b);
			if (prev) {
				j.pending = prev;
				drain_pending(&j);
			}
			j.pending = b;
		} else {
			drain_pending(&j);
		}
		if (!j.failed && j.round.running && atomic_load(&j.round.done) &&
		    round_wait(&j, err))
			fail(&j, err);
		if (!j.failed && (resync_pending(&j, err) || loss_pending(&j, err)))
			fail(&j, err);
		if (j.failed)
			break;
		now = clock_mono_s();
		/* --once cuts batches by data only, in handle (once_cut) */
		if (o->once) {
			;
		} else if (j.buffered >= o->max_batch_events || now - j.last_flush >= o->trigger_s) {
			if (flush_all(&j, false, err))
				fail(&j, err);
		} else if (o->kind == JOB_ARCHIVE) {
			size_t bytes = 0;
			for (size_t i = 0; i < j.nparts; i++)
				bytes += rawbuf_bytes(&j.parts[i]->raw);
			if (bytes >= o->max_batch_bytes && flush_all(&j, false, err))
				fail(&j, err);
		}
		if (o->once && !j.failed) {
			int done = once_step(&j, err);
			if (done < 0)
				fail(&j, err);
			if (done)
				break;
		}
	}
	if (!j.failed && signals_stop_requested()) {
		/* finish the batch in flight: commit what was read */
		log_info(j.name, "stopping: committing what was read");
		drain_pending(&j);
		if (!j.failed && flush_all(&j, true, err))
			fail(&j, err);
	}
	if (j.failed) {
		*err = j.fatal;
		rc = err->code;
	}
out:
	{
		struct iot_error ignored = IOT_ERROR_INIT;
		if (round_wait(&j, j.failed || rc ? &ignored : err) && !rc)
			rc = err->code;
	}
	if (j.pending) {
		/* failed: the records are read again after a restart */
		decoder_wait(&j, j.pending);
		for (size_t i = 0; i < j.pending->n; i++)
			rd_kafka_message_destroy(j.pending->msgs[i]);
		j.pending = NULL;
	}
	decoder_stop(&j);
	if (j.rk) {
		fetch_waker_stop(j.waker);
		log_debug(j.name, "fetch wake-ups sent: %.0f", metric_value(j.m.wakeups));
		rd_kafka_consumer_close(j.rk);
		if (j.queue)
			rd_kafka_queue_destroy(j.queue);
		rd_kafka_destroy(j.rk);
	}
	if (j.dlq)
		dlq_close(&j);
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
	ev_decoder_destroy(j.dec);
	store_destroy(j.st);
	store_destroy(j.cst);
	for (size_t i = 0; i < j.nwst; i++)
		store_destroy(j.wst[i]);
	free(j.wst);
	return rc;
}
