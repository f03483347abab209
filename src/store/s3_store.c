/*
 * s3_store.c - the S3 back-end of store.h: adapts s3_client operations to
 * the back-end vtable, and implements the output stream (single PUT or
 * multipart upload) and the ranged reader.
 *
 * Output stream: bytes collect in a part buffer of cfg.part_size (8 MiB
 * by default, as boto3). While the object fits in one part nothing is
 * sent; close does one PUT. When the buffer fills, a multipart upload is
 * started and each full part is sent as it completes (so memory stays at
 * one part, whatever the object's size); a write of a whole part or more
 * into an empty buffer is sent straight from the caller's memory. Close
 * sends the last part and completes the upload; abort, or any failure,
 * aborts the upload so no parts are left billed on the bucket. S3 allows
 * 10,000 parts: the part size doubles every 1,000 parts, so an unknown
 * length stream can reach far beyond 10,000 x 8 MiB.
 *
 * Reader: HEAD at open for the size, then one ranged GET per read_at,
 * straight into the caller's buffer.
 *
 * Listing: the server's answer is outside data. A key that does not start
 * with the prefix asked for is a broken or hostile server, and callers
 * derive names from the part below the prefix: it fails the listing.
 */
#include "store/s3.h"
#include "store/s3_parts.h"
#include "store/store_int.h"
#include "core/log.h"
#include "core/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define S3_MAX_PARTS 10000

struct s3_backend {
	struct store_backend base;
	struct s3_client *client;
	char *bucket_ok; /* the last bucket create_bucket found ours, or NULL */
};

static struct s3_client *client_of(struct store_backend *be)
{
	return ((struct s3_backend *)be)->client;
}

/* --- output stream ---------------------------------------------------- */

struct s3_writer {
	struct s3_client *c;
	char *bucket, *key;
	unsigned flags;
	size_t part_size;
	char *buf;
	size_t len;
	char *upload_id;      /* NULL until the first part goes out */
	int nparts;           /* parts handed out so far */
	/* Sequential mode (upload_concurrency 1): */
	char (*etags)[80];
	int alloc;
	/* Parallel mode: */
	struct s3_part_pool *pool;
};

static void sw_free(struct s3_writer *w)
{
	s3_part_pool_destroy(w->pool);
	free(w->bucket);
	free(w->key);
	free(w->buf);
	free(w->upload_id);
	free(w->etags);
	free(w);
}

static void sw_abort(void *impl)
{
	struct s3_writer *w = impl;
	struct iot_error e = IOT_ERROR_INIT;

	/* Parts still in flight finish or fail first: an abort that raced
	 * them could be followed by a part that re-creates billed storage. */
	s3_part_pool_destroy(w->pool);
	w->pool = NULL;
	if (w->upload_id &&
	    s3_multipart_abort(w->c, w->bucket, w->key, w->upload_id, &e))
		log_warn("store", "%s (the incomplete upload stays until a "
			 "bucket lifecycle rule removes it)", e.msg);
	sw_free(w);
}

/* Sends p[0..n) as the next part. p is w->buf or the caller's memory. */
static enum iot_err sw_send_part(struct s3_writer *w, const void *p,
				 size_t n, struct iot_error *err)
{
	const struct s3_config *cfg = s3_client_config(w->c);
	enum iot_err rc;

	if (!w->upload_id &&
	    (rc = s3_multipart_create(w->c, w->bucket, w->key, &w->upload_id,
				      err)))
		return rc;
	if (w->nparts >= S3_MAX_PARTS)
		return iot_error_set(err, IOT_ERR_LIMIT,
				     "s3 put s3://%s/%s: more than %d parts",
				     w->bucket, w->key, S3_MAX_PARTS);
	if (cfg->upload_concurrency > 1) {
		char *data;

		if (!w->pool)
			w->pool = s3_part_pool_create(cfg, w->bucket, w->key,
						      w->upload_id,
						      cfg->upload_concurrency);
		/* The pool owns what it sends: hand over the part buffer
		 * (and start a fresh one), or copy the caller's bytes. */
		if (p == w->buf) {
			data = w->buf;
			w->buf = xmalloc(w->part_size);
		} else {
			data = xmalloc(n ? n : 1);
			memcpy(data, p, n);
		}
		rc = s3_part_pool_submit(w->pool, w->nparts + 1, data, n, err);
	} else {
		ALLOC_GROW(w->etags, w->nparts + 1, w->alloc);
		rc = s3_multipart_upload_part(w->c, w->bucket, w->key,
					      w->upload_id, w->nparts + 1, p, n,
					      w->etags[w->nparts], err);
	}
	if (rc)
		return rc;
	w->nparts++;
	/* Grow the part size every 1000 parts (see the top of the file). */
	if (w->nparts % 1000 == 0 && w->part_size < ((size_t)5 << 30) / 2) {
		w->part_size *= 2;
		w->buf = xrealloc(w->buf, w->part_size);
	}
	return IOT_OK;
}

static enum iot_err sw_write(void *impl, const void *p, size_t n,
			     struct iot_error *err)
{
	struct s3_writer *w = impl;
	const char *c = p;
	enum iot_err rc;

	while (n) {
		size_t room;

		/* Straight from the caller's memory when more than a part
		 * remains (exactly one part may be the whole object). */
		if (!w->len && n > w->part_size) {
			if ((rc = sw_send_part(w, c, w->part_size, err)))
				return rc;
			c += w->part_size;
			n -= w->part_size;
			continue;
		}
		room = w->part_size - w->len;
		if (room > n)
			room = n;
		memcpy(w->buf + w->len, c, room);
		w->len += room;
		c += room;
		n -= room;
		/* Send a full part only when more data follows, so that an
		 * object of exactly one part still goes up in a single PUT. */
		if (w->len == w->part_size && n) {
			if ((rc = sw_send_part(w, w->buf, w->len, err)))
				return rc;
			w->len = 0;
		}
	}
	if (w->len == w->part_size && w->upload_id) {
		if ((rc = sw_send_part(w, w->buf, w->len, err)))
			return rc;
		w->len = 0;
	}
	return IOT_OK;
}

static enum iot_err sw_commit(void *impl, struct iot_error *err)
{
	struct s3_writer *w = impl;
	enum iot_err rc;

	if (!w->upload_id) {
		rc = s3_put_object(w->c, w->bucket, w->key, w->buf, w->len,
				   w->flags, err);
		sw_free(w);
		return rc;
	}
	if ((w->len || !w->nparts) &&
	    (rc = sw_send_part(w, w->buf, w->len, err)))
		goto fail;
	w->len = 0;
	if (w->pool && (rc = s3_part_pool_wait(w->pool, err)))
		goto fail;
	rc = s3_multipart_complete(w->c, w->bucket, w->key, w->upload_id,
				   w->pool ? s3_part_pool_etags(w->pool)
					   : w->etags,
				   w->nparts, w->flags, err);
	if (rc)
		goto fail;
	sw_free(w);
	return IOT_OK;
fail:
	sw_abort(w);
	return rc;
}

static const struct store_ostream_ops sw_ops = { sw_write, sw_commit,
						 sw_abort };

static enum iot_err s3b_open_write(struct store_backend *be,
				   const struct store_uri *u, unsigned flags,
				   struct store_ostream *os,
				   struct iot_error *err)
{
	struct s3_writer *w = xcalloc(1, sizeof(*w));

	(void)err;
	w->c = client_of(be);
	w->bucket = xstrdup(u->bucket);
	w->key = xstrdup(u->key);
	w->flags = flags;
	w->part_size = s3_client_config(w->c)->part_size;
	w->buf = xmalloc(w->part_size);
	os->ops = &sw_ops;
	os->impl = w;
	return IOT_OK;
}

/* --- reader ----------------------------------------------------------- */

struct s3_reader {
	struct s3_client *c;
	char *bucket, *key;
	uint64_t size;
};

static enum iot_err sr_read_at(void *impl, uint64_t off, size_t len,
			       void *dst, size_t *got, struct iot_error *err)
{
	struct s3_reader *r = impl;

	/* The whole object: a plain GET. Servers serve those faster than a
	 * Range (S3Proxy 3.0 takes about twice as long for bytes=0-END). */
	if (!off && len == r->size)
		return s3_get_object_into(r->c, r->bucket, r->key, dst, len,
					  got, err);
	return s3_get_object(r->c, r->bucket, r->key, off, len, dst, got, 0,
			     NULL, err);
}

static void sr_close(void *impl)
{
	struct s3_reader *r = impl;

	free(r->bucket);
	free(r->key);
	free(r);
}

static const struct store_reader_ops sr_ops = { sr_read_at, sr_close };

void store_s3_reader_init(struct store_backend *be, const struct store_uri *u,
			  uint64_t size, struct store_reader *r)
{
	struct s3_reader *sr = xcalloc(1, sizeof(*sr));

	sr->c = client_of(be);
	sr->bucket = xstrdup(u->bucket);
	sr->key = xstrdup(u->key);
	sr->size = size;
	r->ops = &sr_ops;
	r->impl = sr;
	r->size = size;
}

static enum iot_err s3b_open_read(struct store_backend *be,
				  const struct store_uri *u,
				  struct store_reader *r, struct iot_error *err)
{
	struct store_stat st;
	enum iot_err rc = s3_head_object(client_of(be), u->bucket, u->key, &st,
					 err);

	if (rc)
		return rc;
	store_s3_reader_init(be, u, st.size, r);
	return IOT_OK;
}

/* --- the rest --------------------------------------------------------- */

static enum iot_err s3b_get_range(struct store_backend *be,
				  const struct store_uri *u, uint64_t off,
				  size_t len, size_t max, struct buf *out,
				  struct iot_error *err)
{
	size_t got;
	enum iot_err rc;

	if (!len)
		return s3_get_object(client_of(be), u->bucket, u->key, off, 0,
				     NULL, NULL, max, out, err);
	buf_grow(out, len);
	rc = s3_get_object(client_of(be), u->bucket, u->key, off, len,
			   out->data + out->len, &got, 0, NULL, err);
	if (!rc) {
		out->len += got;
		out->data[out->len] = '\0';
	}
	return rc;
}

static enum iot_err s3b_head(struct store_backend *be,
			     const struct store_uri *u, struct store_stat *out,
			     struct iot_error *err)
{
	return s3_head_object(client_of(be), u->bucket, u->key, out, err);
}

struct list_ctx {
	const char *bucket;
	const char *prefix;
	store_list_fn fn;
	void *opaque;
	struct buf uri;
	struct iot_error *err;
	enum iot_err rc;
};

static int list_one(void *opaque, const char *key, const struct store_stat *st)
{
	struct list_ctx *l = opaque;
	struct store_entry e;

	if (strncmp(key, l->prefix, strlen(l->prefix))) {
		l->rc = iot_error_set(l->err, IOT_ERR_FORMAT,
				      "s3 list s3://%s/%s: the server listed key '%.300s', "
				      "which is not under the prefix",
				      l->bucket, l->prefix, key);
		return 1;
	}
	buf_reset(&l->uri);
	buf_printf(&l->uri, "s3://%s/%s", l->bucket, key);
	e.uri = buf_str(&l->uri);
	e.key = key;
	e.st = *st;
	return l->fn(l->opaque, &e);
}

static enum iot_err s3b_list(struct store_backend *be,
			     const struct store_uri *u, store_list_fn fn,
			     void *opaque, struct iot_error *err)
{
	struct list_ctx l = { u->bucket, u->key, fn, opaque, BUF_INIT, err, IOT_OK };
	enum iot_err rc = s3_list_objects(client_of(be), u->bucket, u->key,
					  list_one, &l, err);

	buf_release(&l.uri);
	return rc ? rc : l.rc;
}

static enum iot_err s3b_remove(struct store_backend *be,
			       const struct store_uri *u,
			       struct iot_error *err)
{
	return s3_delete_object(client_of(be), u->bucket, u->key, err);
}

/* A job asks for its output's bucket and then its checkpoint's, mostly
 * the same one: the second ask would be one more round trip at start. */
static enum iot_err s3b_create_bucket(struct store_backend *be,
				      const struct store_uri *u,
				      struct iot_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	enum iot_err rc;

	if (b->bucket_ok && !strcmp(b->bucket_ok, u->bucket))
		return IOT_OK;
	rc = s3_create_bucket(b->client, u->bucket, err);
	if (!rc) {
		free(b->bucket_ok);
		b->bucket_ok = xstrdup(u->bucket);
	}
	return rc;
}

static void s3b_destroy(struct store_backend *be)
{
	s3_client_destroy(client_of(be));
	free(((struct s3_backend *)be)->bucket_ok);
	free(be);
}

static const struct store_backend_ops s3_backend_ops = {
	s3b_open_write, s3b_open_read, s3b_get_range, s3b_head,
	s3b_list, s3b_remove, s3b_create_bucket, s3b_destroy,
};

size_t store_s3_max_inflight(struct store_backend *be)
{
	return (size_t)s3_client_config(client_of(be))->max_inflight;
}

enum iot_err store_s3_create(struct store_backend **out, struct iot_error *err)
{
	struct s3_config cfg;
	struct s3_backend *b;
	enum iot_err rc = s3_config_from_env(&cfg, err);

	if (rc) {
		s3_config_release(&cfg);
		return rc;
	}
	b = xcalloc(1, sizeof(*b));
	b->base.ops = &s3_backend_ops;
	b->client = s3_client_create(&cfg);
	s3_config_release(&cfg);
	*out = &b->base;
	return IOT_OK;
}
