/*
 * store.h - one interface for objects, addressed by URI, with a local-file
 * back-end and an S3 back-end behind it.
 *
 * URIs (docs/design.md §2):
 *	s3://bucket/key      S3 (AWS or any S3-compatible endpoint)
 *	s3a://bucket/key     the same as s3:// (Spark's spelling)
 *	file:///abs/path     a local file (no percent-decoding)
 *	/abs/path, rel/path  a local file
 *
 * A `struct store` holds the back-ends (one S3 client with one reused
 * connection, created on first use from the AWS environment variables). It
 * is used by ONE thread at a time; a thread that needs parallel transfers
 * creates one store per thread (creation is cheap, nothing connects before
 * the first request). Every function here may block on I/O.
 *
 * Errors: every function returns IOT_OK or an iot_err code and fills the
 * caller's `struct iot_error` with one line naming the operation, the URI
 * (bucket and key) and the cause (S3's error code and message, or errno).
 * `err->retriable` is set when trying again later may succeed (the S3
 * client has already retried with backoff by then). Credentials never
 * appear in messages or logs.
 *
 * Writing (atomic: a reader sees the whole object or nothing):
 *
 *	struct store *st = store_create();
 *	struct store_ostream *os;
 *	if (store_open_write(st, "s3://b/out/part-0.parquet", 0, &os, &err))
 *		goto fail;
 *	store_ostream_write(os, data, len);   // any number of times
 *	if (store_ostream_close(os, &err))    // commits; frees os either way
 *		goto fail;                    // (the first write error sticks
 *	                                      //  and is reported here)
 *	// or, to give up: store_ostream_abort(os);  (frees os, nothing appears)
 *	store_destroy(st);
 *
 * Local files are written to a temporary name in the destination's
 * directory (".<name>.iotpipe-tmp-<pid>-<n>": a leading '.' makes DuckDB,
 * Spark and Hive skip it), fsynced, renamed over the final name, and the
 * directory is fsynced. S3 objects smaller than the part size go up in
 * one PUT at close; larger ones become a multipart upload whose parts are
 * sent as the data arrives and which is aborted when the stream is aborted
 * or fails. Missing parent directories are created.
 *
 * Reading:
 *
 *	struct store_reader *r;
 *	store_open_read(st, uri, &r, &err);   // HEAD / stat: size known
 *	uint64_t n = store_reader_size(r);
 *	store_reader_read_at(r, n - 8, 8, footer, &err);   // ranged GET
 *	store_reader_destroy(r);
 *
 * or whole objects with store_get()/store_get_range() into a struct buf.
 * The reader borrows `st`: destroy readers and streams before the store.
 */
#ifndef IOT_STORE_H
#define IOT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum store_scheme { STORE_SCHEME_LOCAL = 1, STORE_SCHEME_S3 };

/* A parsed URI. Strings are owned by the struct (store_uri_release). */
struct store_uri {
	enum store_scheme scheme;
	char *bucket; /* S3 only; NULL for local */
	char *key;    /* S3: the key ("" for the bucket root); local: the path */
};

/* Parses `uri`. IOT_ERR_USAGE for "s3://" without a bucket, an empty path
 * or an unknown scheme ("http://..."). */
enum iot_err store_uri_parse(const char *uri, struct store_uri *out,
			     struct iot_error *err);
void store_uri_release(struct store_uri *u);
/* The canonical text form: "s3://bucket/key" or the local path. Caller frees. */
char *store_uri_format(const struct store_uri *u);

struct store;

/* Creates a store. Never fails: S3 settings are read on first S3 use. */
struct store *store_create(void);

/*
 * How long S3 requests ride out a lasting failure (5xx, throttling,
 * timeouts, refused connections) past their usual attempts, for the
 * stores created from now on: 0 (the default) not at all, < 0 until the
 * store answers or a stop is asked. The environment's
 * IOTPIPE_S3_OUTAGE_RETRY_S (seconds, -1: no limit) overrides it. The
 * streaming jobs set -1: an outage stalls them instead of ending them.
 */
void store_set_outage_patience(double seconds);
double store_outage_patience(void);
void store_destroy(struct store *st);

/*
 * Bounds every S3 request of the process from now on, for a command that
 * must end when its store makes no progress (archive and aggregate
 * --once set their --timeout): a request still pending `seconds` after it
 * started (its attempts, the waits between them and the one in flight;
 * not a wait for a slot of IOTPIPE_S3_MAX_INFLIGHT, which requests on the
 * wire hold) fails, the attempt in flight aborted, with an error naming
 * the request, the bound and `what` (the setting, e.g. "--timeout"; a
 * string that lives as long as the process). From then on every S3
 * request of the process, in flight or new, fails at once naming that
 * one: the command is ending, and the writes it abandons are a crash at
 * that moment to the checkpoint (docs/exactly-once.md). 0 (the default):
 * no bound but the attempts' own. Any thread.
 */
void store_set_progress_timeout(double seconds, const char *what);

/* Metadata of one object. */
struct store_stat {
	uint64_t size;
	int64_t mtime;   /* seconds since the epoch, UTC */
	char etag[80];   /* S3 ETag without quotes; "" for local files */
};

/* One listed object. Valid only during the callback. */
struct store_entry {
	const char *uri; /* full URI, usable with store_get() */
	const char *key; /* the S3 key or the local path */
	struct store_stat st;
};

/* Return non-zero to stop the listing early (store_list then returns
 * IOT_OK). */
typedef int (*store_list_fn)(void *opaque, const struct store_entry *e);

/* Flags for store_open_write() and store_put(). */
enum {
	/* Fail with IOT_ERR_STATE when the object already exists. Local:
	 * atomic (link(2) of the temporary file). S3: sends
	 * "If-None-Match: *", which AWS honours since 2024; servers that
	 * ignore it overwrite. */
	STORE_PUT_IF_ABSENT = 1u << 0,
	/* Local: skip the per-object fsync of the file and its directory; the
	 * caller makes a batch of objects durable at once with store_sync()
	 * before it relies on them (the object is still complete when it
	 * appears: written to a temporary name and renamed). S3: no effect
	 * (a completed PUT is durable). */
	STORE_PUT_DEFER_SYNC = 1u << 1,
};

/* --- writing ---------------------------------------------------------- */

struct store_ostream;

enum iot_err store_open_write(struct store *st, const char *uri,
			      unsigned flags, struct store_ostream **out,
			      struct iot_error *err);
/* Appends. After a failure every later call returns the same error code;
 * the message is kept for store_ostream_close(). */
enum iot_err store_ostream_write(struct store_ostream *os, const void *data,
				 size_t len);
/* Makes the object appear (rename / single PUT / complete multipart) and
 * frees `os`, also on failure (a failed close leaves nothing behind). */
enum iot_err store_ostream_close(struct store_ostream *os,
				 struct iot_error *err);
/* Discards everything written and frees `os`. Accepts NULL. */
void store_ostream_abort(struct store_ostream *os);
/* Bytes accepted so far. */
uint64_t store_ostream_size(const struct store_ostream *os);

/* Writes a whole object from memory (open_write + write + close). */
enum iot_err store_put(struct store *st, const char *uri, const void *data,
		       size_t len, unsigned flags, struct iot_error *err);

/* --- reading ---------------------------------------------------------- */

/* Reads a whole object of at most `max` bytes, appending it to `out`: its
 * size is not known before the read, so the caller says the largest it
 * can take, and an object (or a server's answer) larger than that fails
 * with IOT_ERR_LIMIT naming the URI and `max`, whatever it sends, instead
 * of growing memory. */
enum iot_err store_get(struct store *st, const char *uri, size_t max,
		       struct buf *out, struct iot_error *err);
/* Reads bytes [offset, offset+len) (fewer at the end of the object),
 * appending to `out`; len 0 reads nothing. */
enum iot_err store_get_range(struct store *st, const char *uri,
			     uint64_t offset, size_t len, struct buf *out,
			     struct iot_error *err);
/* IOT_ERR_NOT_FOUND when the object does not exist. */
enum iot_err store_head(struct store *st, const char *uri,
			struct store_stat *out, struct iot_error *err);

struct store_reader;

enum iot_err store_open_read(struct store *st, const char *uri,
			     struct store_reader **out, struct iot_error *err);
/* The same when the size is known (from a listing): S3 sends no HEAD,
 * so a Parquet footer costs one request instead of two. A size that is
 * wrong shows as a short read (IOT_ERR_FORMAT) or a 416. */
enum iot_err store_open_read_sized(struct store *st, const char *uri,
				   uint64_t size, struct store_reader **out,
				   struct iot_error *err);
uint64_t store_reader_size(const struct store_reader *r);
/* Reads exactly `len` bytes at `offset` into dst; IOT_ERR_FORMAT when the
 * range goes past the end of the object (a truncated file). */
enum iot_err store_reader_read_at(struct store_reader *r, uint64_t offset,
				  size_t len, void *dst, struct iot_error *err);
void store_reader_destroy(struct store_reader *r);

/* --- concurrency ------------------------------------------------------ */

/*
 * How many requests a caller should keep in flight against uri's back-end
 * when it has many independent objects to move (a batch's output objects,
 * a dataset's files, a cp of a prefix): S3: IOTPIPE_S3_MAX_INFLIGHT (128;
 * a request's cost is latency, so many hide it, and the process-wide
 * limit behind it lowers the effective number while S3 throttles);
 * local: STORE_LOCAL_CONCURRENCY (an fsync is the cost, and more than a
 * few in parallel gain nothing on one disk). The caller creates that many
 * stores (one per thread, see the top of this file). An S3 configuration
 * error gives the local number; the first request reports the error.
 */
#define STORE_LOCAL_CONCURRENCY 8
size_t store_concurrency(struct store *st, const char *uri);

/* --- listing and the rest --------------------------------------------- */

/*
 * Lists every object under `uri`, recursively. S3: every key that starts
 * with the URI's key (ListObjectsV2, all pages), in key order. Local: when
 * the path is a directory, every file below it; otherwise the files of its
 * parent directory whose names start with its last component. Our own
 * temporary files are skipped. Local entries come in sorted path order.
 */
enum iot_err store_list(struct store *st, const char *uri, store_list_fn fn,
			void *opaque, struct iot_error *err);
/*
 * Makes every object written with STORE_PUT_DEFER_SYNC under `uri` durable:
 * local: syncfs(2) of the file system holding the path (one call for a
 * whole batch of files, instead of two fsyncs per file); S3: nothing to do.
 */
enum iot_err store_sync(struct store *st, const char *uri, struct iot_error *err);

/* Deletes an object. Deleting a missing object succeeds (as on S3). */
enum iot_err store_delete(struct store *st, const char *uri,
			  struct iot_error *err);
/* Creates the bucket of an s3:// URI (OK when it exists and is ours), or
 * the directory of a local path (mkdir -p). S3: the bucket this store
 * last created or found ours is not asked for again (a job whose output
 * and checkpoint share a bucket sends one request, not two). */
enum iot_err store_create_bucket(struct store *st, const char *uri,
				 struct iot_error *err);

#endif
