/*
 * sink_archive.c - the archive job's sink (job_int.h): every valid event
 * as a row, one object per device and batch under device_id=<id>/.
 *
 * A partition keeps two raw buffers (rawbuf.h): `raw` takes the records
 * read since the last plan, `craw` holds the batch being committed; a
 * plan swaps them, so reading goes on while the round writes, and the
 * round's end clears the committed one for the next swap.
 */
#include "core/hive.h"
#include "stream/job_int.h"
#include "stream/pqsink.h"

#include "core/banned.h"

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

static void archive_write(struct job *j, struct citem *c, struct write_list *tl)
{
	const struct rawbuf *rb = c->raw;
	struct buf uri = BUF_INIT, dir = BUF_INIT;

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
				  c->w.batch);
		write_list_add(tl, c, buf_str(&uri), d, 0, 0);
	}
	buf_release(&uri);
	buf_release(&dir);
}

static enum iot_err archive_write_object(struct job *j, struct store *st,
					 const struct write_task *t, uint64_t *bytes,
					 uint64_t *rows, struct iot_error *err)
{
	*rows = t->c->raw->dev[t->dev].n;
	return pqsink_write_raw(st, t->uri, j->o->schema, t->c->raw, t->dev, t->c->p->id, false,
				&j->o->pq, bytes, err);
}

static void archive_release(struct job *j, struct citem *c)
{
	(void)j;
	if (c->raw)
		rawbuf_clear(c->raw);
}

const struct sink_ops sink_archive = {
	.name = "archive",
	.add = archive_add,
	.bytes = archive_bytes,
	.plan = archive_plan,
	.write = archive_write,
	.write_object = archive_write_object,
	.release = archive_release,
};
