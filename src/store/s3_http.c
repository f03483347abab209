/*
 * s3_http.c - one signed, retried, counted HTTP exchange with S3
 * (s3_request_perform) and the client that owns the connection.
 *
 * Data flow for one request: the payload hash is computed once; then each
 * attempt builds the path ("/bucket/key" percent-encoded, or "/key" on a
 * virtual-hosted bucket), the sorted query, the headers with a fresh
 * x-amz-date, signs them (sigv4.c), and hands exactly those headers to
 * libcurl: Host is set explicitly so the signed and the sent value cannot
 * differ, "Expect:" is suppressed, bodies go through a read callback with
 * a known length (S3 refuses chunked uploads) and are rewound on every
 * retry. A 2xx body goes to the caller's buffer; any other body is kept
 * aside (at most 64 KiB) to read S3's <Error> Code and Message from.
 *
 * Nothing a server sends can hold a request or grow memory without end:
 * a 2xx body is taken up to a limit known before the attempt (what the
 * caller asked for or can take, S3_XML_MAX for XML; a Content-Length
 * over it fails at once), an error body up to 64 KiB, and more fails the
 * request (an error body cut short still reports its HTTP status). An
 * attempt below the low-speed floor (stall_min_bps) for stall_timeout_s,
 * or past its deadline (request_timeout_s plus its known bytes at the
 * floor, checked in the progress callback), is abandoned and retried as a
 * "Timeout", like a reset connection.
 *
 * One easy handle per client: libcurl keeps the connection open between
 * requests (curl_easy_reset keeps the connection cache), which matters for
 * many small objects and for TLS. A client is used by one thread at a time.
 * We never follow redirects: a 301/307 from S3 means a wrong region or
 * endpoint, and is reported as such.
 *
 * Every attempt holds a slot of the process-wide limit on requests in
 * flight (s3_limit.h) while it is on the wire, and reports whether S3
 * throttled it; the backoff sleep between attempts holds none.
 *
 * Signing uses this machine's clock plus a process-wide offset, 0 until
 * S3 answers 403 RequestTimeTooSkewed: then, as the AWS SDKs do, the
 * offset becomes the server's clock (its Date header, or ServerTime in
 * the error) minus ours, logged once, and the request goes again at once.
 *
 * A command that must end when its store makes no progress (--once)
 * bounds every request (store_set_progress_timeout): attempts, backoff
 * and the attempt in flight end when the request has been pending that
 * long, and from then on every request of the process fails at once.
 */
#include "core/clock.h"
#include "store/s3.h"
#include "store/s3_limit.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/xalloc.h"
#include "metrics/metrics.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

#define ERR_BODY_MAX (64 * 1024)

struct s3_client {
	struct s3_config cfg;
	CURL *curl;
	char *scheme;   /* "http" or "https" */
	char *host;     /* "127.0.0.1:9000" (what Host: carries) */
	char *userinfo; /* "user:pass@" from the endpoint, or "": goes to
			   libcurl in the URL only, never into Host:, the
			   signature or a message */
	uint64_t rng;
	char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct s3_client *s3_client_create(const struct s3_config *cfg)
{
	struct s3_client *c = xcalloc(1, sizeof(*c));
	const char *p, *h;
	size_t n;

	pthread_once(&curl_once, curl_init_once);
	c->cfg = *cfg;
	c->cfg.endpoint = xstrdup(cfg->endpoint);
	c->cfg.region = xstrdup(cfg->region);
	c->cfg.access_key = dup_or_null(cfg->access_key);
	c->cfg.secret_key = dup_or_null(cfg->secret_key);
	c->cfg.session_token = dup_or_null(cfg->session_token);

	p = strstr(c->cfg.endpoint, "://");
	IOT_ASSERT(p); /* checked by s3_config_from_env */
	c->scheme = xstrndup(c->cfg.endpoint, (size_t)(p - c->cfg.endpoint));
	h = p + 3;
	n = strcspn(h, "/");
	{
		const char *at = memrchr(h, '@', n);
		size_t u = at ? (size_t)(at - h) + 1 : 0;
		c->userinfo = xstrndup(h, u);
		c->host = xstrndup(h + u, n - u);
	}

	c->curl = curl_easy_init();
	IOT_ASSERT(c->curl);
	s3_limit_configure(c->cfg.max_inflight);
	c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
		 (uint64_t)(uintptr_t)c;
	if (!c->rng)
		c->rng = 1;
	return c;
}

void s3_client_destroy(struct s3_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	s3_config_release(&c->cfg);
	free(c->scheme);
	free(c->host);
	free(c->userinfo);
	free(c);
}

const struct s3_config *s3_client_config(const struct s3_client *c)
{
	return &c->cfg;
}

/* --- the progress bound (store_set_progress_timeout) ------------------ */

/*
 * Process-wide, any thread: the longest a request may stay pending (0:
 * no bound) and the setting that set it, for messages. The first request
 * that outlives it latches `gave_up` with its message: the command is
 * ending, so every request after it, and every one in flight, fails at
 * once instead of waiting out a bound of its own.
 */
static _Atomic double bound_s;
static atomic_bool gave_up;
static pthread_mutex_t bound_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *bound_what = "";         /* under bound_mu */
static char gave_up_msg[IOT_ERROR_MSG_MAX]; /* under bound_mu */

void store_set_progress_timeout(double seconds, const char *what)
{
	pthread_mutex_lock(&bound_mu);
	bound_what = what ? what : "";
	gave_up_msg[0] = '\0';
	atomic_store(&gave_up, false);
	atomic_store(&bound_s, seconds > 0 ? seconds : 0);
	pthread_mutex_unlock(&bound_mu);
}

/* --- clock skew (s3.h) ------------------------------------------------ */

static _Atomic int64_t clock_offset;
static pthread_mutex_t skew_mu = PTHREAD_MUTEX_INITIALIZER;

int64_t s3_clock_offset(void)
{
	return atomic_load(&clock_offset);
}

bool s3_clock_correct(int64_t signed_with, int64_t server, int64_t now,
		      bool *applied)
{
	int64_t want = server - now;
	bool again = true;

	*applied = false;
	pthread_mutex_lock(&skew_mu);
	if (atomic_load(&clock_offset) != signed_with)
		; /* corrected since that attempt was signed: sign again */
	else if (want >= signed_with - 1 && want <= signed_with + 1)
		again = false; /* the server agrees to its Date's second */
	else
		atomic_store(&clock_offset, want), *applied = true;
	pthread_mutex_unlock(&skew_mu);
	return again;
}

/* --- metrics --------------------------------------------------------- */

static struct metric *op_metric(const char *name, const char *help,
				const char *op)
{
	char labels[128];

	snprintf(labels, sizeof(labels), "op=\"%s\"", op);
	return metrics_counter(name, help, labels);
}

static void count_error(const char *op, const char *code)
{
	char esc[96], labels[160];

	metrics_label_escape(esc, sizeof(esc), code);
	snprintf(labels, sizeof(labels), "op=\"%s\",code=\"%s\"", op, esc);
	metric_inc(metrics_counter("iotpipe_s3_errors_total",
				   "Failed S3 request attempts by error code.",
				   labels));
}

static void observe_duration(const char *op, double seconds)
{
	/* 1 ms to 2 min: a small HEAD on loopback to a large part on a slow
	 * link. */
	static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
					 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
					 30, 60, 120 };
	char labels[128];

	snprintf(labels, sizeof(labels), "op=\"%s\"", op);
	metric_observe(metrics_histogram("iotpipe_s3_request_duration_seconds",
					 "Duration of S3 request attempts.",
					 labels, bounds,
					 sizeof(bounds) / sizeof(bounds[0])),
		       seconds);
}

/* --- one attempt ----------------------------------------------------- */

struct xfer {
	struct s3_client *c;
	struct s3_request *req;
	size_t body_off;
	size_t resp_base;   /* req->resp->len before the attempt */
	size_t limit;       /* most bytes of a 2xx body taken */
	size_t got;         /* bytes of the 2xx body so far */
	struct buf errbody;
	bool overflow;      /* the 2xx body passed limit: aborted */
	bool err_cut;       /* the error body passed ERR_BODY_MAX: aborted */
	bool late;          /* the attempt passed its deadline: aborted */
	bool cut;           /* the progress bound passed: aborted */
	double give_up_at;  /* when the request's progress bound passes
			       (clock_mono_s); 0: none */
	double t0;          /* when the attempt started (clock_mono_s) */
	double deadline;    /* seconds after t0, when late was set */
	int64_t signed_offset; /* the clock offset the attempt was signed with */
	char date[64];      /* the answer's Date header, "" when none */
	char host[320];     /* the host the attempt went to, for messages */
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	size_t want = size * nmemb, left = x->req->body_len - x->body_off;

	if (want > left)
		want = left;
	if (want)
		memcpy(dst, (const char *)x->req->body + x->body_off, want);
	x->body_off += want;
	return want;
}

/* libcurl rewinds the body itself when a reused connection turns out to be
 * dead before the answer (its own resend), so it must be seekable. */
static int seek_cb(void *opaque, curl_off_t offset, int origin)
{
	struct xfer *x = opaque;

	if (origin != SEEK_SET || offset < 0 ||
	    (size_t)offset > x->req->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->body_off = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	struct s3_request *req = x->req;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		/* Enough for S3's <Error>; a longer body is not one, and is
		 * not read to its end (it may have none). */
		if (n > ERR_BODY_MAX - x->errbody.len) {
			x->err_cut = true;
			return 0; /* aborts the transfer */
		}
		buf_append(&x->errbody, p, n);
		return n;
	}
	/* A Content-Length over the limit fails at the first bytes, not
	 * after the limit's worth of them. */
	if (n > x->limit - x->got || req->content_length > x->limit) {
		x->overflow = true;
		return 0; /* aborts the transfer */
	}
	x->got += n;
	if (req->dst) {
		memcpy((char *)req->dst + req->dst_len, p, n);
		req->dst_len += n;
	} else if (req->resp) {
		buf_append(req->resp, p, n);
	}
	return n;
}

/* The attempt's deadline: request_timeout_s, plus its known bytes (the
 * body sent, and the Content-Length or the caller's buffer received) at
 * the low-speed floor, so that a large transfer on a slow but healthy
 * link is never cut short. libcurl calls this about once a second, also
 * while nothing moves. */
static int progress_cb(void *opaque, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = opaque;
	const struct s3_config *cfg = &x->c->cfg;
	double down = x->req->dst ? (double)x->req->dst_cap : 0;
	double limit;

	(void)dlnow;
	(void)ulnow;
	if (x->give_up_at &&
	    (atomic_load(&gave_up) || clock_mono_s() >= x->give_up_at)) {
		x->cut = true;
		return 1; /* aborts the transfer */
	}
	if (cfg->request_timeout_s <= 0)
		return 0; /* a configuration built without one */
	if (dltotal > 0 && (double)dltotal > down)
		down = (double)dltotal;
	if (ultotal < 0)
		ultotal = 0;
	limit = (double)cfg->request_timeout_s +
		((double)ultotal + down) /
			(double)(cfg->stall_min_bps > 0 ? cfg->stall_min_bps : 1);
	if (clock_mono_s() - x->t0 <= limit)
		return 0;
	x->late = true;
	x->deadline = limit;
	return 1; /* aborts the transfer */
}

static bool header_is(const char *line, size_t n, const char *name,
		      const char **value)
{
	size_t l = strlen(name);

	if (n <= l || strncasecmp(line, name, l) || line[l] != ':')
		return false;
	*value = line + l + 1;
	while (**value == ' ' || **value == '\t')
		(*value)++;
	return true;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	struct s3_request *req = x->req;
	size_t total = size * nmemb, n = total, vlen;
	char line[512];
	const char *v;

	if (n >= sizeof(line))
		return total; /* no header we read is that long */
	memcpy(line, p, n);
	line[n] = '\0';
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		line[--n] = '\0';
	if (header_is(line, n, "etag", &v)) {
		if (*v == '"')
			v++;
		vlen = strcspn(v, "\"");
		if (vlen >= sizeof(req->etag))
			vlen = sizeof(req->etag) - 1;
		memcpy(req->etag, v, vlen);
		req->etag[vlen] = '\0';
	} else if (header_is(line, n, "content-length", &v)) {
		req->content_length = strtoull(v, NULL, 10);
	} else if (header_is(line, n, "last-modified", &v)) {
		time_t t = curl_getdate(v, NULL);
		req->last_modified = t > 0 ? (int64_t)t : 0;
	} else if (header_is(line, n, "date", &v)) {
		snprintf(x->date, sizeof(x->date), "%s", v);
	} else if (header_is(line, n, "content-range", &v)) {
		const char *slash = strchr(v, '/');
		if (slash && slash[1] != '*')
			req->range_total = strtoull(slash + 1, NULL, 10);
	}
	return total;
}

static bool dns_bucket(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			return false;
	return true;
}

/* This machine's clock plus the offset S3 taught us (s3_clock_correct). */
static void amz_now(char out[17], int64_t offset)
{
	time_t now = time(NULL) + (time_t)offset;
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name,
				     const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(l, line);

	free(line);
	IOT_ASSERT(n);
	return n;
}

/* Sets up the handle for one attempt; returns the header list to free. */
static struct curl_slist *prepare(struct xfer *x, const char *payload_hash,
				  const char *query, struct buf *url)
{
	struct s3_client *c = x->c;
	struct s3_request *req = x->req;
	const char *key = req->key ? req->key : "";
	struct buf path = BUF_INIT, host = BUF_INIT, auth = BUF_INIT;
	struct sigv4_header *h;
	struct curl_slist *list = NULL;
	char date[17];
	size_t nh = 0;
	bool vhost = req->bucket && !c->cfg.path_style && dns_bucket(req->bucket);

	if (vhost)
		buf_printf(&host, "%s.%s", req->bucket, c->host);
	else
		buf_puts(&host, c->host);
	buf_putc(&path, '/');
	if (req->bucket && !vhost) {
		sigv4_uri_encode(&path, req->bucket, strlen(req->bucket), false);
		if (*key)
			buf_putc(&path, '/');
	}
	sigv4_uri_encode(&path, key, strlen(key), true);

	snprintf(x->host, sizeof(x->host), "%s", buf_str(&host));
	x->signed_offset = s3_clock_offset();
	amz_now(date, x->signed_offset);
	h = xcalloc(req->nheaders + 4, sizeof(*h));
	h[nh++] = (struct sigv4_header){ "host", buf_str(&host) };
	h[nh++] = (struct sigv4_header){ "x-amz-date", date };
	h[nh++] = (struct sigv4_header){ "x-amz-content-sha256", payload_hash };
	if (c->cfg.session_token)
		h[nh++] = (struct sigv4_header){ "x-amz-security-token",
						 c->cfg.session_token };
	for (size_t i = 0; i < req->nheaders; i++)
		h[nh++] = req->headers[i];
	for (size_t i = 0; i < nh; i++)
		list = add_header(list, h[i].name, h[i].value);
	if (c->cfg.access_key) {
		struct sigv4_input in = {
			.method = req->method,
			.canonical_uri = buf_str(&path),
			.canonical_query = query,
			.headers = h,
			.nheaders = nh,
			.payload_hash = payload_hash,
			.amz_date = date,
			.region = c->cfg.region,
			.service = "s3",
			.access_key = c->cfg.access_key,
			.secret_key = c->cfg.secret_key,
		};
		sigv4_authorization(&auth, &in, NULL);
		list = add_header(list, "Authorization", buf_str(&auth));
	}
	list = curl_slist_append(list, "Expect:");
	list = curl_slist_append(list, "Content-Type:");
	list = curl_slist_append(list, "Accept:");

	buf_reset(url);
	buf_printf(url, "%s://%s%s%s%s%s", c->scheme, c->userinfo, buf_str(&host),
		   buf_str(&path), *query ? "?" : "", query);

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, buf_str(url));
	/* Send the path as signed: without this, curl folds "a/../b" into
	 * "b", fetching another object than the key names (and breaking the
	 * signature, which covers the unfolded path). */
	curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 c->cfg.connect_timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT,
			 req->slow_answer || c->cfg.stall_min_bps < 1
				 ? 1L
				 : c->cfg.stall_min_bps);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, c->cfg.stall_timeout_s);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, x);
	/* Large buffers: fewer callbacks and syscalls on multi-MB bodies. */
	/* BUFFERSIZE: libcurl default 16 KiB (512 KiB measured 2x slower on loopback) */
	/* UPLOAD_BUFFERSIZE: default too */
	if (!strcmp(req->method, "HEAD")) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(req->method, "PUT") || !strcmp(req->method, "POST")) {
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, x);
		curl_easy_setopt(c->curl, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(c->curl, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)req->body_len);
		if (strcmp(req->method, "PUT"))
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
					 req->method);
	} else if (strcmp(req->method, "GET")) {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, req->method);
	}

	free(h);
	buf_release(&path);
	buf_release(&host);
	if (auth.data)
		memset(auth.data, 0, auth.len);
	buf_release(&auth);
	return list;
}

static const char *curl_code_name(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: return "ConnectionRefused";
	case CURLE_COULDNT_RESOLVE_HOST: return "NameResolution";
	case CURLE_OPERATION_TIMEDOUT: return "Timeout";
	case CURLE_SEND_ERROR: return "SendError";
	case CURLE_RECV_ERROR: return "ConnectionReset";
	case CURLE_GOT_NOTHING: return "EmptyReply";
	case CURLE_PARTIAL_FILE: return "PartialBody";
	default: return "Transport";
	}
}

static enum iot_err http_code_err(long status)
{
	if (status == 404)
		return IOT_ERR_NOT_FOUND;
	if (status == 401 || status == 403)
		return IOT_ERR_AUTH;
	if (status == 409 || status == 412)
		return IOT_ERR_STATE;
	return IOT_ERR_NET;
}

static const char *status_code_name(long status)
{
	switch (status) {
	case 301: return "PermanentRedirect";
	case 307: return "TemporaryRedirect";
	case 400: return "BadRequest";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 412: return "PreconditionFailed";
	case 500: return "InternalError";
	case 503: return "ServiceUnavailable";
	default: return "HTTPError";
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void what(struct buf *w, const struct s3_request *req)
{
	buf_printf(w, "s3 %s s3://%s", req->op, req->bucket ? req->bucket : "");
	if (req->key && *req->key) {
		buf_printf(w, "/%s", req->key);
		return;
	}
	/* A listing names its prefix. */
	for (size_t i = 0; i < req->nquery; i++)
		if (!strcmp(req->query[i].name, "prefix") && req->query[i].value)
			buf_printf(w, "/%s", req->query[i].value);
}

/*
 * Whether a transient failure of attempt `attempt` (its error in *e) is
 * tried again: within the retry policy's attempts, then while the
 * client's outage patience lasts (s3.h outage_s), unless a stop was
 * asked. While it rides out an outage it says so, a few lines a second
 * at most however many requests wait.
 */
static struct log_ratelimit outage_rl = LOG_RATELIMIT_INIT(2);

static bool again(struct s3_client *c, int attempt, double *first_fail,
		  const struct iot_error *e)
{
	double now = clock_mono_s();

	if (*first_fail == 0)
		*first_fail = now;
	if (attempt < c->cfg.retry.max_attempts)
		return true;
	if (c->cfg.outage_s == 0 || signals_stop_requested() ||
	    (c->cfg.outage_s > 0 && now - *first_fail >= c->cfg.outage_s))
		return false;
	metric_inc(metrics_counter("iotpipe_s3_outage_retries_total",
				   "S3 attempts made past the retry policy's, "
				   "riding out a lasting failure.", NULL));
	log_msg_limited(&outage_rl, LOG_WARN, "s3",
			"%s (attempt %d, failing for %.0f s): retrying until the "
			"store answers (IOTPIPE_S3_OUTAGE_RETRY_S)",
			e->msg, attempt, now - *first_fail);
	return true;
}

/*
 * A 403 RequestTimeTooSkewed: corrects the clock offset from the
 * server's clock in the answer (s3_clock_correct), saying so once per
 * correction. True when the request is to be signed and sent again.
 */
static bool skewed(const struct s3_client *c, const struct xfer *x,
		   const struct buf *w)
{
	int64_t server, now = (int64_t)time(NULL), off;
	bool applied, again;

	if (!s3_server_time(x->date, (const char *)x->errbody.data,
			    x->errbody.len, &server))
		return false; /* nothing to correct by */
	again = s3_clock_correct(x->signed_offset, server, now, &applied);
	off = server - now;
	if (applied)
		log_warn("s3", "%s: RequestTimeTooSkewed: this machine's clock "
			 "is %" PRId64 " s %s the clock of %s://%s; requests "
			 "are signed with an offset of %+" PRId64 " s from now "
			 "on", buf_str(w), off < 0 ? -off : off,
			 off < 0 ? "ahead of" : "behind", c->scheme, x->host,
			 off);
	return again;
}

/*
 * The request is past its progress bound, or another request was: the
 * error for *e (which holds the last attempt's failure, if any). The
 * first request past its own bound latches its message for the others.
 */
static enum iot_err give_up(const struct s3_client *c, const struct xfer *x,
			    const struct buf *w, struct iot_error *e)
{
	char last[IOT_ERROR_MSG_MAX] = "";
	size_t wl = w->len;
	enum iot_err rc;

	/* the last attempt's cause, without the request's name again */
	if (e->code != IOT_OK)
		snprintf(last, sizeof(last), "%s",
			 !strncmp(e->msg, buf_str(w), wl) && e->msg[wl] == ':'
				 ? e->msg + wl + 2 : e->msg);
	pthread_mutex_lock(&bound_mu);
	if (atomic_load(&gave_up)) {
		rc = iot_error_set(e, IOT_ERR_NET, "%s: abandoned: %s",
				   buf_str(w), gave_up_msg);
	} else {
		rc = iot_error_set(e, IOT_ERR_NET,
				   "%s: no answer within %g s (%s) at %s://%s%s%s",
				   buf_str(w), atomic_load(&bound_s), bound_what,
				   c->scheme, x->host,
				   *last ? "; the last attempt: " : "", last);
		snprintf(gave_up_msg, sizeof(gave_up_msg), "%s", e->msg);
		atomic_store(&gave_up, true);
	}
	pthread_mutex_unlock(&bound_mu);
	return rc;
}

enum iot_err s3_request_perform(struct s3_client *c, struct s3_request *req,
				struct iot_error *err)
{
	struct xfer x = { .c = c, .req = req };
	struct buf query = BUF_INIT, url = BUF_INIT, w = BUF_INIT;
	char payload_hash[65];
	/* Each failed attempt's error goes here, and to *err only when the
	 * request finally fails: a caller that keeps *err as a sticky status
	 * (the Parquet writer does) must not see a failure that a retry
	 * fixed. */
	struct iot_error e = IOT_ERROR_INIT;
	enum iot_err rc = IOT_OK;
	bool retriable = false, resign = false;
	int attempt;
	double first_fail = 0;

	if (req->body_len && !c->cfg.sign_payload)
		memcpy(payload_hash, SIGV4_UNSIGNED_PAYLOAD,
		       sizeof(SIGV4_UNSIGNED_PAYLOAD));
	else if (req->body_len)
		sigv4_sha256_hex(req->body, req->body_len, payload_hash);
	else
		memcpy(payload_hash, SIGV4_EMPTY_SHA256, 65);
	sigv4_canonical_query(&query, req->query, req->nquery);
	x.resp_base = req->resp ? req->resp->len : 0;
	if (atomic_load(&bound_s) > 0)
		x.give_up_at = clock_mono_s() + atomic_load(&bound_s);
	x.limit = req->dst    ? req->dst_cap
		  : req->resp ? req->resp_max
			      : S3_XML_MAX;
	what(&w, req);

	/* every path through the body ends in `continue` (again()) or
	 * `goto out` */
	for (attempt = 1;; attempt++) {
		struct curl_slist *list;
		CURLcode cc;
		double t0, tw;
		char code[128] = "", msg[256] = "";

		if (attempt > 1) {
			/* signed anew with a corrected clock: at once */
			unsigned d = resign ? 0
					    : retry_delay_ms(&c->cfg.retry,
							     attempt - 1,
							     retry_rand(&c->rng));
			metric_inc(op_metric("iotpipe_s3_retries_total",
					     "S3 request attempts that were retries.",
					     req->op));
			/* riding out an outage: not faster than once a second */
			if (attempt > c->cfg.retry.max_attempts && d < 1000)
				d = 1000;
			if (x.give_up_at) { /* not past the progress bound */
				double left = x.give_up_at - clock_mono_s();
				if ((double)d > left * 1000)
					d = left > 0 ? (unsigned)(left * 1000)
						     : 0;
			}
			sleep_ms(d);
		}
		if (x.give_up_at &&
		    (atomic_load(&gave_up) || clock_mono_s() >= x.give_up_at)) {
			rc = give_up(c, &x, &w, &e);
			retriable = false;
			attempt--; /* this one was not made */
			goto out;
		}
		metric_inc(op_metric("iotpipe_s3_requests_total",
				     "S3 request attempts.", req->op));
		x.body_off = 0;
		x.got = 0;
		x.overflow = false;
		x.err_cut = false;
		x.late = false;
		x.cut = false;
		x.date[0] = '\0';
		resign = false;
		buf_reset(&x.errbody);
		if (req->resp) {
			req->resp->len = x.resp_base;
			if (req->resp->data)
				req->resp->data[x.resp_base] = '\0';
		}
		req->dst_len = 0;
		req->status = 0;
		req->etag[0] = '\0';
		req->content_length = 0;
		req->last_modified = 0;
		req->range_total = 0;
		c->curl_err[0] = '\0';

		list = prepare(&x, payload_hash, buf_str(&query), &url);
		t0 = clock_mono_s();
		x.t0 = t0;
		/* a slot of the process-wide limit for the attempt only: the
		 * backoff sleep above holds none */
		tw = clock_mono_s();
		s3_limit_acquire();
		if (x.give_up_at) {
			/* a wait for a slot is not the store's: the requests
			 * holding the slots are on the wire, bound themselves */
			double left;
			x.give_up_at += clock_mono_s() - tw;
			left = atomic_load(&gave_up)
				       ? 0
				       : x.give_up_at - clock_mono_s();
			curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
					 left > 0.001 ? (long)(left * 1000) + 1
						      : 1L);
		}
		cc = curl_easy_perform(c->curl);
		{
			long st = 0;
			if (cc == CURLE_OK || x.err_cut)
				curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &st);
			s3_limit_release(st == 503 || st == 429);
		}
		observe_duration(req->op, clock_mono_s() - t0);
		curl_slist_free_all(list);
		{
			curl_off_t up = 0, down = 0;
			curl_easy_getinfo(c->curl, CURLINFO_SIZE_UPLOAD_T, &up);
			curl_easy_getinfo(c->curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
			metric_add(metrics_counter("iotpipe_s3_bytes_sent_total",
						   "Request body bytes sent to S3.",
						   NULL), (uint64_t)up);
			metric_add(metrics_counter("iotpipe_s3_bytes_received_total",
						   "Response body bytes received from S3.",
						   NULL), (uint64_t)down);
		}

		/* An error body cut short still has its status: below. */
		if (cc != CURLE_OK && !x.err_cut) {
			if (x.overflow) {
				count_error(req->op, "ResponseTooLarge");
				retriable = false;
				if (req->dst)
					rc = iot_error_set(&e, IOT_ERR_FORMAT,
							   "%s: the answer is larger than "
							   "the %zu bytes asked for (the "
							   "object changed, or the server "
							   "sent more than it has)",
							   buf_str(&w), req->dst_cap);
				else if (!strcmp(req->op, "get"))
					rc = iot_error_set(
						&e, IOT_ERR_LIMIT,
						"%s: the object is larger than %zu "
						"bytes, the most its reader takes "
						"(the object changed, is not the "
						"one expected, or a broken server "
						"sent more than it has)",
						buf_str(&w), x.limit);
				else
					rc = iot_error_set(&e, IOT_ERR_FORMAT,
							   "%s: the answer is larger than "
							   "%zu bytes, more than any S3 "
							   "answer of its kind (a broken "
							   "server?)", buf_str(&w), x.limit);
				goto out;
			}
			if (x.cut ||
			    (x.give_up_at && cc == CURLE_OPERATION_TIMEDOUT &&
			     (atomic_load(&gave_up) ||
			      clock_mono_s() >= x.give_up_at))) {
				count_error(req->op, "Timeout");
				rc = give_up(c, &x, &w, &e);
				retriable = false;
				goto out;
			}
			if (x.late) {
				count_error(req->op, "Timeout");
				retriable = true;
				log_debug("s3", "%s: attempt %d: past its %.0f s "
					  "deadline", buf_str(&w), attempt,
					  x.deadline);
				rc = iot_error_set(&e, IOT_ERR_NET,
						   "%s: no complete answer within the "
						   "attempt's deadline of %.0f s "
						   "(IOTPIPE_S3_REQUEST_TIMEOUT_S) at "
						   "%s://%s", buf_str(&w), x.deadline,
						   c->scheme, x.host);
				if (again(c, attempt, &first_fail, &e))
					continue;
				goto out;
			}
			count_error(req->op, curl_code_name(cc));
			retriable = retry_curl_retriable(cc);
			log_debug("s3", "%s: attempt %d: %s", buf_str(&w),
				  attempt, curl_easy_strerror(cc));
			rc = iot_error_set(&e, IOT_ERR_NET,
					   "%s: %s (%s) at %s://%s", buf_str(&w),
					   curl_easy_strerror(cc),
					   c->curl_err[0] ? c->curl_err : "-",
					   c->scheme, x.host);
			if (retriable && again(c, attempt, &first_fail, &e))
				continue;
			goto out;
		}
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &req->status);
		if (req->status >= 200 && req->status <= 299) {
			rc = IOT_OK;
			retriable = false;
			goto out;
		}
		s3_xml_error((const char *)x.errbody.data, x.errbody.len, code,
			     sizeof(code), msg, sizeof(msg));
		if (!*code)
			snprintf(code, sizeof(code), "%s",
				 status_code_name(req->status));
		count_error(req->op, code);
		retriable = retry_http_retriable(req->status, code);
		log_debug("s3", "%s: attempt %d: HTTP %ld %s", buf_str(&w),
			  attempt, req->status, code);
		rc = iot_error_set(&e, http_code_err(req->status),
				   "%s: HTTP %ld %s%s%s", buf_str(&w),
				   req->status, code, *msg ? ": " : "", msg);
		if (req->status == 403 &&
		    !strcmp(code, "RequestTimeTooSkewed") &&
		    skewed(c, &x, &w) &&
		    attempt < c->cfg.retry.max_attempts) {
			resign = true;
			continue;
		}
		if (retriable && again(c, attempt, &first_fail, &e))
			continue;
		goto out;
	}
out:
	if (rc != IOT_OK) {
		if (err) {
			*err = e;
			err->retriable = retriable;
			if (attempt > 1) {
				size_t l = strlen(err->msg);
				snprintf(err->msg + l, sizeof(err->msg) - l,
					 " (after %d attempts)", attempt);
			}
		}
	}
	buf_release(&x.errbody);
	buf_release(&query);
	buf_release(&url);
	buf_release(&w);
	return rc;
}
