/*
 * s3_config.c - S3 settings from the environment, by the AWS SDKs'
 * conventions (and the reference's ENDPOINT_URL), so the same variables
 * that drive the aws CLI and boto3 drive iotpipe.
 *
 * Read once per s3_client, on the thread that creates it. Nothing here is
 * ever logged: the secret key and session token go straight into the
 * config and from there only into HMAC and one request header.
 */
#include "store/s3.h"
#include "core/xalloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static enum iot_err env_long(const char *name, long min, long max, long *out,
			     struct iot_error *err)
{
	const char *v = env(name);
	char *end;
	long n;

	if (!v)
		return IOT_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "environment %s=%s: expected an integer "
				     "from %ld to %ld", name, v, min, max);
	*out = n;
	return IOT_OK;
}

/*
 * How long a lasting S3 failure is ridden out: a command's default, the
 * environment's IOTPIPE_S3_OUTAGE_RETRY_S over it. The streaming jobs
 * stall through an outage (SPEC: a lasting outage stalls the job instead
 * of dropping data), so they wait without limit; a one-shot command
 * (percentile, cp, --once) reports it after the attempts of the retry
 * policy.
 */
static _Atomic double outage_patience;

void store_set_outage_patience(double seconds)
{
	atomic_store(&outage_patience, seconds);
}

double store_outage_patience(void)
{
	return atomic_load(&outage_patience);
}

enum iot_err s3_config_from_env(struct s3_config *cfg, struct iot_error *err)
{
	const char *region, *endpoint;
	long attempts = 5, base = 200, connect = 10000, stall = 30;
	long min_bps = 1024, deadline = 600, outage = -2;
	long part = 8L << 20, sign = -1, conc = 4, inflight = 128;
	size_t n;

	memset(cfg, 0, sizeof(*cfg));
	if (env_long("AWS_MAX_ATTEMPTS", 1, 100, &attempts, err) ||
	    env_long("IOTPIPE_S3_RETRY_BASE_MS", 0, 60000, &base, err) ||
	    env_long("IOTPIPE_S3_CONNECT_TIMEOUT_MS", 1, 600000, &connect,
		     err) ||
	    env_long("IOTPIPE_S3_STALL_TIMEOUT_S", 1, 3600, &stall, err) ||
	    env_long("IOTPIPE_S3_STALL_MIN_BPS", 1, 1L << 30, &min_bps, err) ||
	    env_long("IOTPIPE_S3_REQUEST_TIMEOUT_S", 1, 86400, &deadline,
		     err) ||
	    env_long("IOTPIPE_S3_PART_SIZE", 5L << 20, 5L << 30, &part, err) ||
	    env_long("IOTPIPE_S3_SIGN_PAYLOAD", 0, 1, &sign, err) ||
	    env_long("IOTPIPE_S3_UPLOAD_CONCURRENCY", 1, 64, &conc, err) ||
	    env_long("IOTPIPE_S3_MAX_INFLIGHT", 1, 1024, &inflight, err) ||
	    env_long("IOTPIPE_S3_OUTAGE_RETRY_S", -1, 86400 * 365L, &outage, err))
		return err ? err->code : IOT_ERR_CONFIG;

	region = env("AWS_REGION");
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region)
		region = "us-east-1";
	endpoint = env("AWS_ENDPOINT_URL_S3");
	if (!endpoint)
		endpoint = env("AWS_ENDPOINT_URL");
	if (!endpoint)
		endpoint = env("ENDPOINT_URL");
	if (endpoint) {
		if (strncmp(endpoint, "http://", 7) &&
		    strncmp(endpoint, "https://", 8))
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "S3 endpoint '%s': expected "
					     "http:// or https://", endpoint);
		cfg->endpoint = xstrdup(endpoint);
		n = strlen(cfg->endpoint);
		while (n > 0 && cfg->endpoint[n - 1] == '/')
			cfg->endpoint[--n] = '\0';
		cfg->path_style = true;
	} else {
		cfg->endpoint = xasprintf("https://s3.%s.amazonaws.com", region);
		cfg->path_style = false;
	}
	cfg->region = xstrdup(region);
	/* As the AWS SDKs: over TLS the body's integrity is TLS's job and
	 * hashing it would cost a pass over every byte; over plain http the
	 * signature is the only integrity check, so the body is hashed. */
	cfg->sign_payload = sign >= 0 ? sign == 1
				      : strncmp(cfg->endpoint, "https://", 8) != 0;
	if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
		cfg->access_key = xstrdup(env("AWS_ACCESS_KEY_ID"));
		cfg->secret_key = xstrdup(env("AWS_SECRET_ACCESS_KEY"));
		if (env("AWS_SESSION_TOKEN"))
			cfg->session_token = xstrdup(env("AWS_SESSION_TOKEN"));
	}
	cfg->connect_timeout_ms = connect;
	cfg->stall_timeout_s = stall;
	/* 1 KiB/s: a healthy transfer to S3 moves megabytes a second, and
	 * one waiting for S3's first byte moves none, which any floor
	 * catches; the floor is for a server that trickles. At 1 byte/s (the
	 * old floor) a server sending one byte a second held a request open
	 * for hours. */
	cfg->stall_min_bps = min_bps;
	/* 600 s: the backstop for what the floor cannot see (an answer of
	 * unknown length that keeps above it, a server that alternates
	 * bursts and silences), longer than any healthy S3 answer, including
	 * a CompleteMultipartUpload that AWS says can take minutes. Each
	 * attempt also gets the time its known bytes take at the floor, so a
	 * large part on a slow link is not cut short. */
	cfg->request_timeout_s = deadline;
	cfg->part_size = (size_t)part;
	/* 4 parts in flight: enough to hide one request's latency and the
	 * server's per-part work, and 40 MiB per stream at most. */
	cfg->upload_concurrency = (int)conc;
	/* 128 in flight: what must be in flight is the rate times the
	 * latency. A backfill (--once) writes a round's small objects as
	 * fast as two cores encode them, about 2,000/s; at S3's 40-60 ms
	 * per small request that is 80-120 requests (64 held the archive's
	 * 40 ms run to 0.7x of its 0 ms speed, bench/results/s3latency.md).
	 * 128 at 40 ms is 3,200 requests/s, under S3's 3,500 PUTs/s per
	 * prefix, and a 503 halves it (s3_limit.h). Each costs one
	 * connection and one thread's stack, not memory per queued
	 * request. */
	cfg->max_inflight = (int)inflight;
	cfg->retry.max_attempts = (int)attempts;
	cfg->retry.base_ms = (unsigned)base;
	cfg->retry.cap_ms = 20000;
	cfg->outage_s = outage == -2 ? store_outage_patience() : (double)outage;
	return IOT_OK;
}

static void free_secret(char *s)
{
	if (s) {
		volatile char *p = s;
		while (*p)
			*p++ = 0;
		free(s);
	}
}

void s3_config_release(struct s3_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key);
	free_secret(cfg->secret_key);
	free_secret(cfg->session_token);
	memset(cfg, 0, sizeof(*cfg));
}
