/*
 * store.c - the front of the storage layer: URI parsing, choosing the
 * back-end by scheme, and the generic halves of output streams and
 * readers (sticky errors, sizes, bounds checks).
 *
 * A store creates each back-end on first use: the local one always
 * succeeds; the S3 one reads the AWS environment then, so a job that only
 * writes local files never needs S3 settings. One thread at a time uses a
 * store and everything obtained from it.
 */
#include "store/store.h"
#include "store/store_int.h"
#include "core/xalloc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct store {
	struct store_backend *local;
	struct store_backend *s3;
};

/* --- URIs ------------------------------------------------------------- */

enum iot_err store_uri_parse(const char *uri, struct store_uri *out,
			     struct iot_error *err)
{
	const char *rest, *slash;

	memset(out, 0, sizeof(*out));
	if (!uri || !*uri)
		return iot_error_set(err, IOT_ERR_USAGE, "empty URI");
	if (!strncmp(uri, "s3://", 5) || !strncmp(uri, "s3a://", 6)) {
		rest = uri + (uri[2] == 'a' ? 6 : 5);
		slash = strchr(rest, '/');
		if (slash == rest || !*rest)
			return iot_error_set(err, IOT_ERR_USAGE,
					     "%s: no bucket name after s3://",
					     uri);
		out->scheme = STORE_SCHEME_S3;
		out->bucket = slash ? xstrndup(rest, (size_t)(slash - rest))
				    : xstrdup(rest);
		out->key = xstrdup(slash ? slash + 1 : "");
		return IOT_OK;
	}
	if (!strncmp(uri, "file://", 7)) {
		rest = uri + 7;
		if (!strncmp(rest, "localhost/", 10))
			rest += 9;
		if (*rest != '/')
			return iot_error_set(err, IOT_ERR_USAGE,
					     "%s: a file URI needs an absolute "
					     "path (file:///abs/path)", uri);
		out->scheme = STORE_SCHEME_LOCAL;
		out->key = xstrdup(rest);
		return IOT_OK;
	}
	/* file:/abs/path, RFC 8089's short form (Hadoop and Spark print
	 * it): before, it was taken for a relative directory "file:", and a
	 * checkpoint given so started from nothing */
	if (!strncmp(uri, "file:/", 6)) {
		out->scheme = STORE_SCHEME_LOCAL;
		out->key = xstrdup(uri + 5);
		return IOT_OK;
	}
	slash = strstr(uri, "://");
	if (slash && strcspn(uri, "/") > (size_t)(slash - uri))
		return iot_error_set(err, IOT_ERR_USAGE,
				     "%s: unsupported scheme (use s3://, "
				     "s3a://, file:// or a path)", uri);
	/* scheme:/... or scheme:rel (s3:/bucket, file:rel): a URI spelled
	 * wrong, not a directory whose name ends in ':' */
	slash = strchr(uri, ':');
	if (slash && slash > uri && strspn(uri, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") ==
					   (size_t)(slash - uri) &&
	    (slash[1] == '/' || !strncmp(uri, "file:", 5)))
		return iot_error_set(err, IOT_ERR_USAGE,
				     "%s: not a URI this store reads (use s3://bucket/key, "
				     "file:///abs/path, file:/abs/path or a path)", uri);
	out->scheme = STORE_SCHEME_LOCAL;
	out->key = xstrdup(uri);
	return IOT_OK;
}

void store_uri_release(struct store_uri *u)
{
	free(u->bucket);
	free(u->key);
	memset(u, 0, sizeof(*u));
}

char *store_uri_format(const struct store_uri *u)
{
	if (u->scheme == STORE_SCHEME_S3)
		return xasprintf("s3://%s/%s", u->bucket, u->key);
	return xstrdup(u->key);
}

/* --- the store -------------------------------------------------------- */

struct store *store_create(void)
{
	return xcalloc(1, sizeof(struct store));
}

void store_destroy(struct store *st)
{
	if (!st)
		return;
	if (st->local)
		st->local->ops->destroy(st->local);
	if (st->s3)
		st->s3->ops->destroy(st->s3);
	free(st);
}

/* Parses uri and finds its back-end; on success the caller releases u. */
static enum iot_err resolve(struct store *st, const char *uri,
			    struct store_uri *u, struct store_backend **be,
			    struct iot_error *err)
{
	enum iot_err rc = store_uri_parse(uri, u, err);

	if (rc)
		return rc;
	if (u->scheme == STORE_SCHEME_LOCAL) {
		if (!st->local)
			st->local = store_local_create();
		*be = st->local;
		return IOT_OK;
	}
	if (!st->s3 && (rc = store_s3_create(&st->s3, err))) {
		store_uri_release(u);
		return rc;
	}
	*be = st->s3;
	return IOT_OK;
}

size_t store_concurrency(struct store *st, const char *uri)
{
	struct store_uri u;
	struct store_backend *be;
	struct iot_error e = IOT_ERROR_INIT;
	size_t n = STORE_LOCAL_CONCURRENCY;

	if (resolve(st, uri, &u, &be, &e))
		return n;
	if (u.scheme == STORE_SCHEME_S3)
		n = store_s3_max_inflight(be);
	store_uri_release(&u);
	return n ? n : 1;
}

/* --- writing ---------------------------------------------------------- */

enum iot_err store_open_write(struct store *st, const char *uri,
			      unsigned flags, struct store_ostream **out,
			      struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	struct store_ostream *os;
	enum iot_err rc;

	*out = NULL;
	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	if (u.scheme == STORE_SCHEME_S3 && !*u.key) {
		store_uri_release(&u);
		return iot_error_set(err, IOT_ERR_USAGE,
				     "%s: no object key to write to", uri);
	}
	os = xcalloc(1, sizeof(*os));
	rc = be->ops->open_write(be, &u, flags, os, err);
	store_uri_release(&u);
	if (rc) {
		free(os);
		return rc;
	}
	*out = os;
	return IOT_OK;
}

enum iot_err store_ostream_write(struct store_ostream *os, const void *data,
				 size_t len)
{
	if (os->failed)
		return os->failed;
	if (!len)
		return IOT_OK;
	os->failed = os->ops->write(os->impl, data, len, &os->err);
	if (!os->failed)
		os->size += len;
	return os->failed;
}

enum iot_err store_ostream_close(struct store_ostream *os,
				 struct iot_error *err)
{
	enum iot_err rc;

	if (os->failed) {
		rc = os->failed;
		if (err)
			*err = os->err;
		os->ops->abort(os->impl);
	} else {
		rc = os->ops->commit(os->impl, err);
	}
	free(os);
	return rc;
}

void store_ostream_abort(struct store_ostream *os)
{
	if (!os)
		return;
	os->ops->abort(os->impl);
	free(os);
}

uint64_t store_ostream_size(const struct store_ostream *os)
{
	return os->size;
}

enum iot_err store_put(struct store *st, const char *uri, const void *data,
		       size_t len, unsigned flags, struct iot_error *err)
{
	struct store_ostream *os;
	enum iot_err rc = store_open_write(st, uri, flags, &os, err);

	if (rc)
		return rc;
	store_ostream_write(os, data, len);
	return store_ostream_close(os, err);
}

/* --- reading ---------------------------------------------------------- */

static enum iot_err get(struct store *st, const char *uri, uint64_t offset,
			size_t len, size_t max, struct buf *out,
			struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	enum iot_err rc;

	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	rc = be->ops->get_range(be, &u, offset, len, max, out, err);
	store_uri_release(&u);
	return rc;
}

enum iot_err store_get_range(struct store *st, const char *uri,
			     uint64_t offset, size_t len, struct buf *out,
			     struct iot_error *err)
{
	return len ? get(st, uri, offset, len, 0, out, err) : IOT_OK;
}

enum iot_err store_get(struct store *st, const char *uri, size_t max,
		       struct buf *out, struct iot_error *err)
{
	return get(st, uri, 0, 0, max, out, err);
}

enum iot_err store_head(struct store *st, const char *uri,
			struct store_stat *out, struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	enum iot_err rc;

	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	rc = be->ops->head(be, &u, out, err);
	store_uri_release(&u);
	return rc;
}

enum iot_err store_open_read(struct store *st, const char *uri,
			     struct store_reader **out, struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	struct store_reader *r;
	enum iot_err rc;

	*out = NULL;
	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	r = xcalloc(1, sizeof(*r));
	rc = be->ops->open_read(be, &u, r, err);
	store_uri_release(&u);
	if (rc) {
		free(r);
		return rc;
	}
	r->uri = xstrdup(uri);
	*out = r;
	return IOT_OK;
}

enum iot_err store_open_read_sized(struct store *st, const char *uri,
				   uint64_t size, struct store_reader **out,
				   struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	struct store_reader *r;
	enum iot_err rc;

	*out = NULL;
	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	if (u.scheme != STORE_SCHEME_S3) { /* a stat costs no round trip */
		store_uri_release(&u);
		return store_open_read(st, uri, out, err);
	}
	r = xcalloc(1, sizeof(*r));
	store_s3_reader_init(be, &u, size, r);
	store_uri_release(&u);
	r->uri = xstrdup(uri);
	*out = r;
	return IOT_OK;
}

uint64_t store_reader_size(const struct store_reader *r)
{
	return r->size;
}

enum iot_err store_reader_read_at(struct store_reader *r, uint64_t offset,
				  size_t len, void *dst, struct iot_error *err)
{
	size_t got = 0;
	enum iot_err rc;

	if (offset > r->size || len > r->size - offset)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "%s: read of %zu bytes at offset %" PRIu64
				     " is past the end (size %" PRIu64 ")",
				     r->uri, len, offset, r->size);
	if (!len)
		return IOT_OK;
	rc = r->ops->read_at(r->impl, offset, len, dst, &got, err);
	if (!rc && got != len)
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "%s: short read at offset %" PRIu64
				   " (%zu of %zu bytes): the object changed "
				   "or was truncated", r->uri, offset, got, len);
	return rc;
}

void store_reader_destroy(struct store_reader *r)
{
	if (!r)
		return;
	r->ops->close(r->impl);
	free(r->uri);
	free(r);
}

/* --- the rest ----------------------------------------------------------- */

enum iot_err store_list(struct store *st, const char *uri, store_list_fn fn,
			void *opaque, struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	enum iot_err rc;

	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	rc = be->ops->list(be, &u, fn, opaque, err);
	store_uri_release(&u);
	return rc;
}

enum iot_err store_delete(struct store *st, const char *uri,
			  struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	enum iot_err rc;

	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	rc = be->ops->remove(be, &u, err);
	store_uri_release(&u);
	return rc;
}

enum iot_err store_sync(struct store *st, const char *uri, struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	enum iot_err rc;

	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	rc = be->ops->sync ? be->ops->sync(be, &u, err) : IOT_OK;
	store_uri_release(&u);
	return rc;
}

enum iot_err store_create_bucket(struct store *st, const char *uri,
				 struct iot_error *err)
{
	struct store_uri u;
	struct store_backend *be;
	enum iot_err rc;

	if ((rc = resolve(st, uri, &u, &be, err)))
		return rc;
	rc = be->ops->create_bucket(be, &u, err);
	store_uri_release(&u);
	return rc;
}
