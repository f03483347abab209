/*
 * s3.h - the S3 client behind store.h's s3:// URIs (private to src/store/).
 *
 * One s3_client owns one libcurl easy handle, so its connection (and TLS
 * session) is reused from request to request; it is used by one thread at
 * a time. Each operation signs every attempt afresh (SigV4, sigv4.h),
 * retries transient failures with full-jitter backoff (retry.h) and counts
 * every attempt, error and retry in the metrics registry:
 *
 *	iotpipe_s3_requests_total{op}          every attempt
 *	iotpipe_s3_errors_total{op,code}       failed attempts (S3 code, HTTP
 *	                                       status or transport error)
 *	iotpipe_s3_retries_total{op}           attempts that were retries
 *	iotpipe_s3_request_duration_seconds{op}
 *	iotpipe_s3_bytes_sent_total, iotpipe_s3_bytes_received_total
 *
 *	struct s3_config cfg;
 *	if (s3_config_from_env(&cfg, &err)) ...       // AWS_* variables
 *	struct s3_client *c = s3_client_create(&cfg); // copies cfg
 *	s3_config_release(&cfg);
 *	s3_put_object(c, "bucket", "a/b=c/d e", data, len, 0, &err);
 *	s3_client_destroy(c);
 */
#ifndef IOT_STORE_S3_H
#define IOT_STORE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/retry.h"
#include "store/sigv4.h"
#include "store/store.h"

struct s3_config {
	char *endpoint;      /* "https://s3.us-east-1.amazonaws.com" or custom */
	char *region;
	char *access_key;    /* NULL: anonymous (unsigned) requests */
	char *secret_key;
	char *session_token; /* may be NULL */
	bool path_style;     /* true for custom endpoints */
	bool sign_payload;   /* hash bodies into the signature (else
				UNSIGNED-PAYLOAD); default: only over http */
	long connect_timeout_ms;
	long stall_timeout_s;  /* abort an attempt that moves fewer than
				  stall_min_bps bytes/s for this long */
	long stall_min_bps;    /* the low-speed floor (bytes/s) */
	long request_timeout_s; /* an attempt's deadline: this plus the time
				   its known bytes take at stall_min_bps */
	size_t part_size;      /* multipart part size (>= 5 MiB) */
	int upload_concurrency; /* parts of one upload in flight at once */
	int max_inflight;       /* requests in flight in the process, at most
				   (s3_limit.h); also the pool size callers
				   get from store_concurrency() */
	struct retry_policy retry;
	double outage_s;        /* past retry.max_attempts, a transient failure
				   is tried again (at least 1 s apart) until
				   this long after the request's first failure:
				   0 never, < 0 until it answers or a stop is
				   asked (store_set_outage_patience) */
};

/*
 * Fills cfg from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_REGION > AWS_DEFAULT_REGION > us-east-1,
 * AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL > ENDPOINT_URL > AWS's endpoint,
 * AWS_MAX_ATTEMPTS, and iotpipe's IOTPIPE_S3_PART_SIZE (bytes),
 * IOTPIPE_S3_RETRY_BASE_MS, IOTPIPE_S3_CONNECT_TIMEOUT_MS,
 * IOTPIPE_S3_STALL_TIMEOUT_S, IOTPIPE_S3_STALL_MIN_BPS,
 * IOTPIPE_S3_REQUEST_TIMEOUT_S, IOTPIPE_S3_OUTAGE_RETRY_S, IOTPIPE_S3_SIGN_PAYLOAD (0|1),
 * IOTPIPE_S3_UPLOAD_CONCURRENCY (parts in flight per upload, default 4),
 * IOTPIPE_S3_MAX_INFLIGHT (requests in flight in the process, default 128).
 * IOT_ERR_CONFIG when a value is malformed.
 */
enum iot_err s3_config_from_env(struct s3_config *cfg, struct iot_error *err);
void s3_config_release(struct s3_config *cfg);

struct s3_client;

struct s3_client *s3_client_create(const struct s3_config *cfg);
void s3_client_destroy(struct s3_client *c);
const struct s3_config *s3_client_config(const struct s3_client *c);

/* The most a 2xx answer that is not an object's bytes may carry (a
 * ListObjectsV2 page, an UploadId, the answer to a PUT): a page of 1,000
 * keys of 1,024 bytes each is about 1.3 MiB, and S3 sends a few hundred
 * KB. A server that sends more is broken or hostile, not slow. */
#define S3_XML_MAX ((size_t)16 << 20)

/* One HTTP exchange, described by the operation and filled in with the
 * answer by s3_request_perform(). */
struct s3_request {
	const char *op;     /* metric label and error text: "put", "get", ... */
	const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
	const char *bucket; /* NULL for service-level requests */
	const char *key;    /* NULL or "" for bucket-level requests */
	const struct sigv4_param *query;
	size_t nquery;
	const struct sigv4_header *headers; /* extra signed headers */
	size_t nheaders;
	const void *body;   /* request body (rewound on every retry) */
	size_t body_len;
	/* Where a 2xx response body goes: into dst (at most dst_cap bytes)
	 * when dst is set, else appended to resp (when set; truncated back on
	 * a retry; at most resp_max bytes), else discarded (at most
	 * S3_XML_MAX bytes). An answer larger than that, or whose
	 * Content-Length says so, fails the request (not retried;
	 * IOT_ERR_LIMIT for an object read into resp, IOT_ERR_FORMAT
	 * otherwise) instead of growing memory. */
	void *dst;
	size_t dst_cap;
	struct buf *resp;
	size_t resp_max;
	/* The answer may trickle (CompleteMultipartUpload, which AWS keeps
	 * alive with whitespace for minutes): the low-speed floor is 1
	 * byte/s instead of stall_min_bps; the deadline still holds. */
	bool slow_answer;
	/* out */
	long status;
	size_t dst_len;
	uint64_t content_length;
	int64_t last_modified;
	uint64_t range_total; /* from Content-Range ".../TOTAL"; 0 if none */
	char etag[80];
};

/*
 * Performs req with signing, retries and metrics. Every attempt ends: one
 * that moves fewer than stall_min_bps bytes/s for stall_timeout_s, or that
 * outlives its deadline (request_timeout_s plus its known bytes - the
 * body sent, the Content-Length or dst_cap received - at stall_min_bps),
 * is abandoned as a retriable "Timeout". IOT_OK for a 2xx answer;
 * otherwise the error names the operation, s3://bucket/key, the HTTP
 * status and S3's code and message (IOT_ERR_NOT_FOUND for 404,
 * IOT_ERR_AUTH for 401/403, IOT_ERR_STATE for 409/412, IOT_ERR_NET for
 * transport failures and the rest; retriable when the last failure was).
 */
enum iot_err s3_request_perform(struct s3_client *c, struct s3_request *req,
				struct iot_error *err);

/* --- clock skew ------------------------------------------------------ */

/*
 * S3 refuses a request signed more than 15 minutes off its own clock (403
 * RequestTimeTooSkewed). As the AWS SDKs do, the client then takes the
 * server's clock from the answer, keeps the difference as a process-wide
 * offset added to this machine's clock when it signs (x-amz-date), and
 * sends the request again, at once. Only that answer changes the offset.
 */

/* The offset, seconds, signing adds to this machine's clock (0 until a
 * correction). Any thread. */
int64_t s3_clock_offset(void);
/* The server's clock at its answer, seconds since the epoch, from its
 * Date header (may be NULL), else the ServerTime of S3's <Error> in xml;
 * false when neither gives one. Pure. */
bool s3_server_time(const char *date, const char *xml, size_t len,
		    int64_t *out);
/*
 * Applies a RequestTimeTooSkewed answer: `server` is the server's clock
 * (s3_server_time), `now` this machine's when it came, `signed_with` the
 * offset the refused attempt was signed with. The offset becomes
 * server - now, unless it changed since that attempt was signed (another
 * request corrected it first: kept). True when an attempt signed now
 * differs from the refused one (send it again); false when the server's
 * clock agrees with it to the second (the refusal is not this machine's
 * clock). *applied: whether this call set the offset (the caller logs
 * it, once per correction). Any thread.
 */
bool s3_clock_correct(int64_t signed_with, int64_t server, int64_t now,
		      bool *applied);

/* --- operations (s3_ops.c) ------------------------------------------- */

enum iot_err s3_put_object(struct s3_client *c, const char *bucket,
			   const char *key, const void *data, size_t len,
			   unsigned flags, struct iot_error *err);
/* GET of [offset, offset+len) into dst; *got = bytes received.
 * len == 0 with dst == NULL: from offset to the end, appended to out, at
 * most max bytes (more: IOT_ERR_LIMIT). */
enum iot_err s3_get_object(struct s3_client *c, const char *bucket,
			   const char *key, uint64_t offset, size_t len,
			   void *dst, size_t *got, size_t max, struct buf *out,
			   struct iot_error *err);
/* A plain GET (no Range) of the whole object into dst; more than cap
 * bytes is IOT_ERR_FORMAT. */
enum iot_err s3_get_object_into(struct s3_client *c, const char *bucket,
				const char *key, void *dst, size_t cap,
				size_t *got, struct iot_error *err);
enum iot_err s3_head_object(struct s3_client *c, const char *bucket,
			    const char *key, struct store_stat *out,
			    struct iot_error *err);
enum iot_err s3_delete_object(struct s3_client *c, const char *bucket,
			      const char *key, struct iot_error *err);
enum iot_err s3_create_bucket(struct s3_client *c, const char *bucket,
			      struct iot_error *err);
/* Calls fn for every key under prefix (all ListObjectsV2 pages). */
typedef int (*s3_list_fn)(void *opaque, const char *key,
			  const struct store_stat *st);
enum iot_err s3_list_objects(struct s3_client *c, const char *bucket,
			     const char *prefix, s3_list_fn fn, void *opaque,
			     struct iot_error *err);

/* Multipart upload. upload_id is caller-owned (free()). */
enum iot_err s3_multipart_create(struct s3_client *c, const char *bucket,
				 const char *key, char **upload_id,
				 struct iot_error *err);
/* etag_out receives the part's ETag (80 bytes). */
enum iot_err s3_multipart_upload_part(struct s3_client *c, const char *bucket,
				      const char *key, const char *upload_id,
				      int part_number, const void *data,
				      size_t len, char *etag_out,
				      struct iot_error *err);
/* etags[i] is the ETag of part i+1. */
enum iot_err s3_multipart_complete(struct s3_client *c, const char *bucket,
				   const char *key, const char *upload_id,
				   char (*etags)[80], int nparts,
				   unsigned flags, struct iot_error *err);
enum iot_err s3_multipart_abort(struct s3_client *c, const char *bucket,
				const char *key, const char *upload_id,
				struct iot_error *err);

/* --- XML answers (s3_xml.c) ------------------------------------------ */

/* Code and Message of an <Error> document; "" when absent/unparseable. */
void s3_xml_error(const char *xml, size_t len, char *code, size_t code_cap,
		  char *msg, size_t msg_cap);
/* One ListObjectsV2 page: calls fn per <Contents>; *truncated and *next
 * (caller frees; NULL when absent) for the following page. Keys are
 * URL-decoded when the answer says EncodingType url. Returns
 * IOT_ERR_FORMAT for malformed XML; a non-zero fn result stops early
 * (reported through *stopped). */
enum iot_err s3_xml_list_page(const char *xml, size_t len, s3_list_fn fn,
			      void *opaque, bool *truncated, char **next,
			      bool *stopped, struct iot_error *err);
/* The text of the first element named `name` anywhere in the document
 * (e.g. "UploadId"); caller frees; NULL when absent or malformed. */
char *s3_xml_find(const char *xml, size_t len, const char *name);

#endif
