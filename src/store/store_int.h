/*
 * store_int.h - the back-end vtable behind store.h (private to src/store/).
 *
 * store.c parses the URI, picks the back-end by scheme and calls through
 * `struct store_backend_ops`; a back-end never sees another scheme's URI.
 * Output streams and readers carry their own small vtables so that the
 * caller (the Parquet writer, cp) never knows where the bytes go. Like the
 * store itself, everything here is used by one thread at a time.
 */
#ifndef IOT_STORE_INT_H
#define IOT_STORE_INT_H

#include "store/store.h"

struct store_ostream_ops {
	/* Appends; on failure fills err (the stream keeps it, sticky). */
	enum iot_err (*write)(void *impl, const void *p, size_t n,
			      struct iot_error *err);
	/* Publishes the object and frees impl, also on failure. */
	enum iot_err (*commit)(void *impl, struct iot_error *err);
	/* Discards and frees impl. */
	void (*abort)(void *impl);
};

struct store_ostream {
	const struct store_ostream_ops *ops;
	void *impl;
	uint64_t size;
	enum iot_err failed;   /* sticky first error */
	struct iot_error err;
};

struct store_reader_ops {
	enum iot_err (*read_at)(void *impl, uint64_t off, size_t len, void *dst,
				size_t *got, struct iot_error *err);
	void (*close)(void *impl);
};

struct store_reader {
	const struct store_reader_ops *ops;
	void *impl;
	uint64_t size;
	char *uri; /* for error messages */
};

struct store_backend;

struct store_backend_ops {
	enum iot_err (*open_write)(struct store_backend *be,
				   const struct store_uri *u, unsigned flags,
				   struct store_ostream *os,
				   struct iot_error *err);
	/* Opens for read_at; sets r->ops, r->impl and r->size. */
	enum iot_err (*open_read)(struct store_backend *be,
				  const struct store_uri *u,
				  struct store_reader *r, struct iot_error *err);
	/* Bytes [off, off+len), or with len == 0 from off to the end, at
	 * most max of them (more: IOT_ERR_LIMIT). Appends to out. */
	enum iot_err (*get_range)(struct store_backend *be,
				  const struct store_uri *u, uint64_t off,
				  size_t len, size_t max, struct buf *out,
				  struct iot_error *err);
	enum iot_err (*head)(struct store_backend *be, const struct store_uri *u,
			     struct store_stat *out, struct iot_error *err);
	enum iot_err (*list)(struct store_backend *be, const struct store_uri *u,
			     store_list_fn fn, void *opaque,
			     struct iot_error *err);
	enum iot_err (*remove)(struct store_backend *be,
			       const struct store_uri *u, struct iot_error *err);
	enum iot_err (*create_bucket)(struct store_backend *be,
				      const struct store_uri *u,
				      struct iot_error *err);
	void (*destroy)(struct store_backend *be);
	/* Optional (NULL: nothing to do): makes deferred writes durable. */
	enum iot_err (*sync)(struct store_backend *be, const struct store_uri *u,
			     struct iot_error *err);
};

struct store_backend {
	const struct store_backend_ops *ops;
};

/* local.c */
struct store_backend *store_local_create(void);
/* s3_store.c: reads the environment; IOT_ERR_CONFIG when it is wrong. */
enum iot_err store_s3_create(struct store_backend **out, struct iot_error *err);
/* s3_store.c: a reader of an object of known size (no HEAD). */
void store_s3_reader_init(struct store_backend *be, const struct store_uri *u,
			  uint64_t size, struct store_reader *r);
/* s3_store.c: the configured IOTPIPE_S3_MAX_INFLIGHT of an S3 back-end. */
size_t store_s3_max_inflight(struct store_backend *be);

/* The temporary-file marker of local writes (local.c, listing skips it). */
#define STORE_TMP_MARK ".iotpipe-tmp-"

#endif
