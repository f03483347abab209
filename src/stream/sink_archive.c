/*
 * sink_archive.c - the archive job's sink (job_int.h): every valid event
 * as a row, one object per device and batch under device_id=<id>/.
 *
 * A partition keeps two raw buffers (rawbuf.h): `raw` takes the records
 * read since the last plan, `craw` holds the batch being committed; a
 * plan swaps them, so reading goes on while the round writes, and the
 * round's end clears the committed one for the next swap.
 *
 * Other layouts (--partition-by, s3.STREAMING_RAW_PARTITION_BY: date,
 * device_id,date, date,device_id): the round thread cuts the batch into
 * one object per directory, each a list of (device, row) references:
 * devices in key order (bytewise), each device's rows in offset order, so
 * a replay of the batch writes the same bytes. Without device_id in the
 * path it is the file's first column, as in the aggregate's layouts.
 */
#include "core/civil.h"
#include "core/hive.h"
#include "core/xalloc.h"
#include "stream/job_int.h"
#include "stream/pqsink.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* The objects of one batch in a layout other than device_id alone. */
struct raw_group {
	struct raw_ref *refs;
	size_t n, alloc;
};

struct raw_groups {
	struct raw_group *g;
	size_t n, alloc;
};

static bool archive_add(struct job *j, struct part *p, const struct event *ev, int64_t offset)
{
	rawbuf_add(&p->raw, j->o->schema, ev, offset);
	return true;
}

static size_t archive_bytes(const struct part *p)
{
	return rawbuf_bytes(&p->raw);
}

static void archive_plan(struct job *j, struct citem *c)
{
	struct part *p = c->p;
	struct rawbuf t = p->raw;

	(void)j;
	p->raw = p->craw; /* empty: cleared when its round ended */
	p->craw = t;
	c->raw = &p->craw;
	c->rows = c->raw->rows;
}

struct dev_key {
	const char *key;
	size_t len;
	uint32_t dev;
};

static int cmp_dev_key(const void *pa, const void *pb)
{
	const struct dev_key *a = pa, *b = pb;
	int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* The batch's rows cut by directory (see the top comment). */
static void write_grouped(struct job *j, struct citem *c, struct write_list *tl)
{
	const struct rawbuf *rb = c->raw;
	const struct hive_layout *l = &j->o->raw_layout;
	const struct event_schema *s = j->o->schema;
	struct raw_groups *gs = xcalloc(1, sizeof(*gs));
	struct strmap dirs;
	struct buf dir = BUF_INIT, uri = BUF_INIT;
	struct dev_key *order = xmalloc(st_mult(rb->keys.n ? rb->keys.n : 1, sizeof(*order)));
	size_t nd = 0;

	strmap_init(&dirs);
	for (size_t d = 0; d < rb->keys.n; d++)
		if (rb->dev[d].n) {
			order[nd].key = strmap_key(&rb->keys, d, &order[nd].len);
			order[nd++].dev = (uint32_t)d;
		}
	qsort(order, nd, sizeof(*order), cmp_dev_key);
	for (size_t k = 0; k < nd; k++) {
		const struct raw_dev *d = &rb->dev[order[k].dev];
		size_t klen = order[k].len, gi = 0;
		const char *key = order[k].key;
		int64_t day = 0;
		for (size_t r = 0; r < d->n; r++) {
			int64_t t = rawbuf_i64(d, rb->nfields, r, (size_t)s->time_field);
			int64_t dd = civil_floor_div(t, CIVIL_US_PER_DAY);
			struct raw_group *g;
			if (r == 0 || dd != day) {
				/* a device's rows change day rarely: one
				 * directory name per run of a day */
				day = dd;
				buf_reset(&dir);
				hive_path(&dir, l, key, klen, t);
				gi = strmap_intern(&dirs, dir.data, dir.len);
				if (gi == gs->n) {
					ALLOC_GROW(gs->g, gs->n + 1, gs->alloc);
					memset(&gs->g[gs->n++], 0, sizeof(*gs->g));
				}
			}
			g = &gs->g[gi];
			ALLOC_GROW(g->refs, g->n + 1, g->alloc);
			g->refs[g->n++] = (struct raw_ref){ order[k].dev, (uint32_t)r };
		}
	}
	for (size_t gi = 0; gi < gs->n; gi++) {
		size_t dlen;
		const char *dname = strmap_key(&dirs, gi, &dlen);
		buf_reset(&uri);
		pqsink_object_uri(&uri, j->o->output, dname, dlen, j->o->topic, c->p->id,
				  c->w.batch, c->w.run);
		write_list_add(tl, c, buf_str(&uri), gi, 0, 0);
	}
	c->groups = gs;
	strmap_release(&dirs);
	buf_release(&dir);
	buf_release(&uri);
	free(order);
}

static void archive_write(struct job *j, struct citem *c, struct write_list *tl)
{
	const struct rawbuf *rb = c->raw;
	struct buf uri = BUF_INIT, dir = BUF_INIT;
	const struct hive_layout *l = &j->o->raw_layout;

	if (l->n != 1 || l->cols[0] != HIVE_DEVICE_ID) {
		write_grouped(j, c, tl);
		return;
	}

	for (size_t d = 0; d < rb->keys.n; d++) {
		size_t klen;
		const char *key = strmap_key(&rb->keys, d, &klen);
		if (!rb->dev[d].n)
			continue; /* a device seen in an earlier batch only */
		buf_reset(&uri);
		buf_reset(&dir);
		buf_puts(&dir, "device_id=");
		hive_escape(&dir, key, klen);
		buf_putc(&dir, '/');
		pqsink_object_uri(&uri, j->o->output, (const char *)dir.data, dir.len, j->o->topic, c->p->id,
				  c->w.batch, c->w.run);
		write_list_add(tl, c, buf_str(&uri), d, 0, 0);
	}
	buf_release(&uri);
	buf_release(&dir);
}

static enum iot_err archive_write_object(struct job *j, struct store *st,
					 const struct write_task *t, uint64_t *bytes,
					 uint64_t *rows, struct iot_error *err)
{
	if (t->c->groups) {
		const struct raw_group *g = &t->c->groups->g[t->dev];
		*rows = g->n;
		return pqsink_write_raw_rows(st, t->uri, j->o->schema, t->c->raw, g->refs, g->n,
					     t->c->p->id,
					     !hive_layout_has(&j->o->raw_layout, HIVE_DEVICE_ID),
					     &j->o->pq, bytes, err);
	}
	*rows = t->c->raw->dev[t->dev].n;
	return pqsink_write_raw(st, t->uri, j->o->schema, t->c->raw, t->dev, t->c->p->id, false,
				&j->o->pq, bytes, err);
}

static void archive_release(struct job *j, struct citem *c)
{
	(void)j;
	if (c->raw)
		rawbuf_clear(c->raw);
	if (c->groups) {
		for (size_t i = 0; i < c->groups->n; i++)
			free(c->groups->g[i].refs);
		free(c->groups->g);
		free(c->groups);
		c->groups = NULL;
	}
}

static void archive_shape(const struct job *j, struct buf *out)
{
	buf_puts(out, "partition-by=");
	hive_layout_text(out, &j->o->raw_layout);
}

const struct sink_ops sink_archive = {
	.name = "archive",
	.shape = archive_shape,
	.layout_key = "s3.STREAMING_RAW_PARTITION_BY",
	.add = archive_add,
	.bytes = archive_bytes,
	.plan = archive_plan,
	.write = archive_write,
	.write_object = archive_write_object,
	.release = archive_release,
};
