/*
 * commit.c - commit rounds of the streaming engine (job_int.h): the plans
 * (wal), the writer tasks, the state records and the offsets.
 *
 * A round takes a batch from every partition with something to commit:
 * it plans each (ckpt_write_wal, on the job thread or side by side for the
 * batches that take no part in a hand-over), moves it out of its
 * partition (the sink's plan), then runs on its own thread while the job
 * thread reads on: every batch's objects (one writer pool for the whole
 * round, up to store_concurrency() threads: 128 on S3, 8 locally, since
 * latency and not CPU bounds a commit of many small objects), one
 * store_sync, then every batch's state side by side, each its own
 * partition's commit point. commit_wait collects it: the partitions
 * advance and their offsets go to Kafka. At most one round is in flight.
 */
#include "core/clock.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xalloc.h"
#include "metrics/batchlog.h"
#include "metrics/metrics.h"
#include "stream/job_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* How many committed batches of a partition between clean-ups of its
 * checkpoint (each costs a listing, which is a request on S3). A
 * partition's checkpoint then holds at most GC_EVERY + 2 batches' plans
 * and states (a clean-up keeps the last two), whatever the partition
 * count. */
#define GC_EVERY 16

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

void write_list_add(struct write_list *tl, struct citem *c, const char *uri, size_t dev,
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
	uint64_t bytes = 0, rows = 0;
	enum iot_err rc = j->sink->write_object(j, st, t, &bytes, &rows, err);

	if (!rc) {
		metric_inc(j->m.files);
		metric_add(j->m.bytes, bytes);
		metric_add(j->m.written, rows);
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

/* Writes one batch's state (its commit point) and cleans up behind it;
 * on a writer thread, with that thread's store. */
static enum iot_err commit_one(void *ctx, size_t worker, size_t i, struct iot_error *err)
{
	struct job *j = ctx;
	struct citem *c = &j->round.items[i];
	struct store *st = j->wst[worker];
	struct ckpt_origin o = { j->source, j->shape, &c->tail, c->w.run };
	enum iot_err rc = ckpt_write_state(st, j->name, c->p->ckpt_base, c->w.batch, c->w.end,
					   c->w.epoch, &o, &c->payload, err);

	if (rc)
		return rc;
	c->outcome = CI_OK;
	if (c->mark_run && (rc = ckpt_mark_run(st, c->p->ckpt_base, c->w.run, err)))
		return rc;
	if (j->sink->committed)
		j->sink->committed(j, st, c);
	/* per partition: one shared counter would clean up only the
	 * partitions whose commits happen to fall on its multiples */
	if (++c->p->commits % GC_EVERY == 0 && c->w.batch > 1)
		ckpt_gc(st, c->p->ckpt_base, c->w.batch - 1);
	return IOT_OK;
}

/*
 * A commit round runs on its own thread while the job thread reads on
 * (commit_all plans the batches and hands them over; commit_wait collects
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

	for (size_t i = 0; i < r->n && !rc; i++) {
		struct citem *c = &r->items[i];
		c->files = 0;
		for (size_t h = 0; h < c->nho && !rc; h++)
			if (!(rc = ckpt_check_size(c->ho[h].uri, c->ho[h].text.len, err)))
				rc = store_put(j->cst, c->ho[h].uri, c->ho[h].text.data,
					       c->ho[h].text.len, 0, err);
		j->sink->write(j, c, &tl);
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
enum iot_err commit_wait(struct job *j, struct iot_error *err)
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
				.end = c->w.end, .rows = c->rows,
				.files = c->files, .seconds = r->seconds, .replayed = c->replaying });
		if (j->sink->release)
			j->sink->release(j, c);
		citem_release(c);
		if (c->outcome == CI_OK) {
			p->batch = c->w.batch;
			p->run_marked |= c->mark_run;
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
		struct ckpt_origin o = { j->source, j->shape };
		merge_plan_save(&c->mp, &plan);
		rc = ckpt_write_wal(st, j->name, c->p->ckpt_base, &c->w, &o, &plan, stale, &other,
				    err);
	}
	buf_release(&plan);
	return rc;
}

static enum iot_err prepare(struct job *j, struct citem *c, struct iot_error *err)
{
	return j->sink->prepare ? j->sink->prepare(j, c, err) : IOT_OK;
}

/* Moves a planned batch out of its partition into the round's item: the
 * partition starts its next batch at once. */
static void plan_item(struct job *j, struct citem *c, bool replaying)
{
	struct part *p = c->p;

	c->outcome = CI_FAILED;
	c->replaying = replaying;
	c->tail = p->tail;
	c->mark_run = !p->run_marked;
	j->sink->plan(j, c);
	if (j->sink->save)
		j->sink->save(j, c);
	/* a batch takes exactly what was read since the last one */
	IOT_ASSERT(p->last_offset < 0 || p->last_offset < c->w.end);
	p->next_offset = c->w.end;
	p->last_offset = -1;
	p->dirty = false;
	p->replay = false;
	p->ref_us = 0;
	job_unbuffer(j, p);
}

/* round_main on a thread of its own, named for top -H and perf (not when it
 * runs on the job thread, which would keep the name for good) */
static void *round_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "iot-commit");
	return round_main(arg);
}

static enum iot_err round_start(struct job *j, bool wait, struct iot_error *err)
{
	struct round *r = &j->round;
	int e;

	r->failed = false;
	r->err = (struct iot_error)IOT_ERROR_INIT;
	atomic_store(&r->done, false);
	e = wait ? -1 : pthread_create(&r->th, NULL, round_thread, j);
	r->threaded = e == 0;
	if (!r->threaded) /* asked to wait, or no thread to be had: run it here */
		round_main(j);
	r->running = true;
	return wait ? commit_wait(j, err) : IOT_OK;
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
enum iot_err commit_all(struct job *j, bool wait, struct iot_error *err)
{
	struct round *r = &j->round;
	enum iot_err rc = IOT_OK;
	enum pre_plan *pre;
	bool *planned;
	size_t n = 0;

	if (commit_wait(j, err))
		return err->code;
	job_watermark(j);
	r->items = xcalloc(j->nparts ? j->nparts : 1, sizeof(*r->items));
	for (size_t i = 0; i < j->nparts && !rc; i++) {
		struct part *p = j->parts[i];
		struct merge_plan mp = { 0 };
		int64_t end, emit = 0;
		bool has_emit = false, due;
		if (!p->assigned || p->replay || p->resync_batch || p->next_offset < 0)
			continue;
		end = p->last_offset >= 0 ? p->last_offset + 1 : p->next_offset;
		if (j->has_wm) {
			/* emitted-up-to never goes backwards */
			has_emit = true;
			emit = p->win.has_emitted && p->win.emitted_upto_us > j->wm_us
				       ? p->win.emitted_upto_us
				       : j->wm_us;
		}
		due = p->dirty;
		if (j->sink->due && (rc = j->sink->due(j, p, has_emit, emit, &mp, &due, err)))
			break;
		if (!due) {
			merge_plan_release(&mp);
			continue;
		}
		r->items[n].p = p;
		r->items[n].mp = mp;
		r->items[n].w = (struct ckpt_wal){ p->batch + 1, p->next_offset, end, has_emit, emit,
						   p->epoch, p->ref_us, p->run };
		n++;
	}
	if (n && !rc)
		dlq_flush(&j->dlq);
	if (n && !rc && j->sink->share)
		j->sink->share(j, r->items, n);
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
			if (prepare(j, c, &merr)) {
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
	job_update_lag(j);
	return rc;
}

/* A replaying partition reached the end of its plan: commit exactly it. */
enum iot_err commit_replay(struct job *j, struct part *p, struct iot_error *err)
{
	struct round *r = &j->round;

	if (commit_wait(j, err))
		return err->code;
	dlq_flush(&j->dlq); /* every dead letter's outcome is known first */
	r->items = xcalloc(1, sizeof(*r->items));
	r->n = 1;
	r->items[0].p = p;
	r->items[0].w = p->wal;
	r->items[0].mp = p->wal_mp;
	memset(&p->wal_mp, 0, sizeof(p->wal_mp));
	if (prepare(j, &r->items[0], err)) {
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


/* --once: p's batch alone, with no window (job.c, once_cut_due). */
enum iot_err commit_cut(struct job *j, struct part *p, struct iot_error *err)
{
	struct round *r = &j->round;
	struct citem *c;
	bool stale = false;

	if (commit_wait(j, err))
		return err->code;
	dlq_flush(&j->dlq); /* every dead letter's outcome is known first */
	r->items = xcalloc(1, sizeof(*r->items));
	c = &r->items[0];
	c->p = p;
	c->w = (struct ckpt_wal){ p->batch + 1, p->next_offset, p->last_offset + 1, false, 0,
				  p->epoch, p->ref_us, p->run };
	if (plan_wal(j, j->st, c, &stale, err) || stale || prepare(j, c, err)) {
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

