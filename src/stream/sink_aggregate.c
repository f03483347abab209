/*
 * sink_aggregate.c - the aggregate job's sink (job_int.h): valid events
 * into event-time windows per partition (windows.h), emitted up to the
 * watermark as one row per device and window, in objects named by the
 * output layout (hive.h).
 *
 * One row per device and window across partitions (merge.h): a window due
 * in several partitions of a round is held by the lowest of them and
 * handed over by the others (share, plan); the holder's group ends when
 * every batch it awaits has committed (due), taking the hand-overs it
 * finds (prepare), which are deleted once it committed (committed).
 */
#include "core/clock.h"
#include "core/hive.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "metrics/metrics.h"
#include "stream/job_int.h"
#include "stream/pqsink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static bool aggregate_add(struct job *j, struct part *p, const struct event *ev, int64_t offset)
{
	double sums[EV_MAX_FIELDS];
	size_t nkeys = p->win.keys.n;

	(void)offset;
	if (winstate_is_late(&p->win, ev->time_us, j->o->window_us))
		return false;
	for (size_t k = 0; k < j->nsums; k++)
		sums[k] = ev->v[j->sum_fields[k]].d;
	winstate_add(&p->win, ev->key, ev->key_len, ev->time_us, j->o->window_us, sums);
	if (p->win.keys.n != nkeys)
		sink_note_key(j, p, ev->key, ev->key_len);
	return true;
}

static enum iot_err aggregate_load(struct job *j, struct part *p, const struct ckpt_recovered *r,
				   struct iot_error *err)
{
	if (r->has_state && winstate_load(&p->win, (const char *)r->payload.data, r->payload.len,
					   p->ckpt_base, err))
		return err->code;
	for (size_t k = 0; k < p->win.keys.n; k++) {
		size_t klen;
		const char *key = strmap_key(&p->win.keys, k, &klen);
		sink_note_key(j, p, key, klen);
	}
	if (r->has_wal && merge_plan_load(&p->wal_mp, (const char *)r->wal_plan.data,
					  r->wal_plan.len, p->ckpt_base, err))
		return err->code;
	return IOT_OK;
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
	/* the directory follows the device (its first column), or there is
	 * none: the (key, start) order already makes every directory one run
	 * (escaping keeps distinct keys apart; a key's windows rise in time) */
	if (!j->o->layout.n || j->o->layout.cols[0] == HIVE_DEVICE_ID)
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

static void aggregate_write(struct job *j, struct citem *c, struct write_list *tl)
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
			pqsink_object_uri(&uri, j->o->output, (const char *)prev.data, prev.len, j->o->topic,
					  c->p->id, c->w.batch, c->w.run);
			write_list_add(tl, c, buf_str(&uri), 0, first, i - first);
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

/* A window due in this item only goes to the earlier group that waits for it, if any. */
static void give_waiting(const struct job *j, struct citem *c, const char *key, size_t klen,
			 int64_t start)
{
	int32_t home;
	uint64_t g = merge_waiting(j, c->p->id, c->w.batch, key, klen, start, &home);

	if (g)
		merge_plan_give(&c->mp, key, klen, start, home, g);
}

/*
 * The round's shared windows: a window due in several of the round's
 * partitions is held by the lowest of them and given to it by the others
 * (items are in partition order). A window that a group of an earlier
 * round holds and waits for this very batch for (its plan was written,
 * then the process died before this partition's) is given to that group.
 */
static void aggregate_share(struct job *j, struct citem *items, size_t n)
{
	struct strmap seen, devs;
	struct buf k = BUF_INIT;
	size_t *first = NULL, *count = NULL, alloc = 0, *dcount = NULL, dalloc = 0;
	size_t **dix = xcalloc(n ? n : 1, sizeof(*dix));
	bool *held = NULL;

	/*
	 * Devices first: a device with due windows in one item only (the
	 * usual case, a keyed producer) has no window due elsewhere, so its
	 * windows skip the window map, which with 100,000 devices would take
	 * every due window's key twice per round.
	 */
	strmap_init(&devs);
	for (size_t i = 0; i < n; i++) {
		struct winstate *ws = &items[i].p->win;
		if (!items[i].w.has_emit)
			continue;
		dix[i] = xcalloc(ws->keys.n ? ws->keys.n : 1, sizeof(**dix));
		for (size_t d = 0; d < ws->keys.n; d++) {
			size_t klen, ix, before = devs.n;
			const char *key = strmap_key(&ws->keys, d, &klen);
			bool due = false;
			for (size_t w = 0; w < ws->dev[d].n && !due; w++)
				due = win_due(&ws->dev[d].w[w], items[i].w.emit_upto_us, j->o->window_us);
			if (!due)
				continue;
			ix = strmap_intern(&devs, key, klen);
			ALLOC_GROW(dcount, ix + 1, dalloc);
			dcount[ix] = devs.n > before ? 1 : dcount[ix] + 1;
			dix[i][d] = ix + 1;
		}
	}

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
				bool alone;
				if (!dix[i][d])
					continue; /* nothing due */
				alone = dcount[dix[i][d] - 1] < 2;
				if (alone && pass == 0)
					continue;
				for (size_t w = 0; w < ws->dev[d].n; w++) {
					const struct win *win = &ws->dev[d].w[w];
					size_t ix;
					if (!win_due(win, c->w.emit_upto_us, j->o->window_us))
						continue;
					if (alone) {
						give_waiting(j, c, key, klen, win->start_us);
						continue;
					}
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
						give_waiting(j, c, key, klen, win->start_us);
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
	strmap_release(&devs);
	for (size_t i = 0; i < n; i++)
		free(dix[i]);
	free(dix);
	free(dcount);
	free(first);
	free(count);
	free(held);
}

/* Reads the hand-overs a planned batch ends with (its `end ... 1`
 * lines), before its windows change: a missing or corrupt one fails the
 * batch, which then replays. */
static enum iot_err aggregate_prepare(struct job *j, struct citem *c, struct iot_error *err)
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
		c->took[c->ntook].fields = j->sum_names;
		c->ntook++;
		rc = store_get(j->st, uri, CKPT_FILE_MAX, &b, err);
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
static void aggregate_committed(struct job *j, struct store *st, const struct citem *c)
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

static bool has_windows_upto(const struct part *p, int64_t upto, int64_t size)
{
	for (size_t d = 0; d < p->win.keys.n; d++)
		for (size_t k = 0; k < p->win.dev[d].n; k++)
			if (win_due(&p->win.dev[d].w[k], upto, size))
				return true;
	return false;
}


/* ---- keys on several partitions (aggregate) --------------------------- */

/*
 * A device's windows are kept per partition, so a key whose events come
 * through two partitions (a second producer with another partitioner, a
 * partition count change) would be written as two partial rows per
 * window. Keys are checked when a partition's state sees them first
 * (rarely, not per event); a split key is counted and logged once.
 */
void sink_note_key(struct job *j, const struct part *p, const char *key, size_t len)
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

/* Windows held for another partition's hand-over (merge.h), in the
 * partitions this instance owns. */
size_t sink_groups_held(const struct job *j)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nparts; i++)
		if (j->parts[i]->assigned)
			n += j->parts[i]->win.ngroups;
	return n;
}


static enum iot_err aggregate_due(struct job *j, struct part *p, bool has_emit, int64_t upto,
				  struct merge_plan *mp, bool *due, struct iot_error *err)
{
	if (p->win.ngroups && merge_find_ends(j, p, mp, err))
		return err->code;
	*due = *due || (has_emit && has_windows_upto(p, upto, j->o->window_us)) || mp->nend;
	return IOT_OK;
}

static void aggregate_plan(struct job *j, struct citem *c)
{
	struct part *p = c->p;

	merge_before_emit(j, c);
	if (c->w.has_emit)
		winstate_emit(&p->win, c->w.emit_upto_us, j->o->window_us, &c->wl);
	merge_after_emit(j, c);
	metric_add(j->m.windows, c->wl.n);
	c->rows = c->wl.n;
}

static void aggregate_save(struct job *j, struct citem *c)
{
	(void)j;
	winstate_save(&c->p->win, &c->payload);
}

static enum iot_err aggregate_write_object(struct job *j, struct store *st,
					   const struct write_task *t, uint64_t *bytes,
					   uint64_t *rows, struct iot_error *err)
{
	bool with_device = !hive_layout_has(&j->o->layout, HIVE_DEVICE_ID);

	*rows = t->n;
	return pqsink_write_windows(st, t->uri, j->o->schema, t->c->wl.items + t->first, t->n,
				    with_device, &j->o->pq, bytes, err);
}

/* The window's length decides the rows (and the window_start names): a
 * state of one-minute windows cannot go on as five-minute ones. */
static void aggregate_shape(const struct job *j, struct buf *out)
{
	int64_t us = j->o->window_us;

	buf_puts(out, "partition-by=");
	hive_layout_text(out, &j->o->layout);
	buf_printf(out, " window=%" PRId64, us / 1000000);
	if (us % 1000000) {
		char frac[8];
		int n = snprintf(frac, sizeof(frac), "%06" PRId64, us % 1000000);
		while (n > 0 && frac[n - 1] == '0')
			frac[--n] = '\0';
		buf_printf(out, ".%s", frac);
	}
}

const struct sink_ops sink_aggregate = {
	.name = "aggregate",
	.shape = aggregate_shape,
	.layout_key = "window.AGGREGATE_PARTITION_BY",
	.add = aggregate_add,
	.load = aggregate_load,
	.due = aggregate_due,
	.share = aggregate_share,
	.prepare = aggregate_prepare,
	.plan = aggregate_plan,
	.save = aggregate_save,
	.write = aggregate_write,
	.write_object = aggregate_write_object,
	.committed = aggregate_committed,
};
