/*
 * retry.h - when and how long to wait before trying an S3 request again
 * (private to src/store/). Pure functions, so the policy is unit-tested
 * without a server; any thread may call them.
 *
 * The policy is the AWS SDKs' "standard" mode (botocore
 * retries/standard.py): retry transport failures (refused, reset, timed
 * out), HTTP 500/502/503/504, 408 and 429, and the error codes SlowDown,
 * InternalError, RequestTimeout, Throttling*; never other 4xx (a bad
 * signature stays bad). The delay before attempt n+1 is "full jitter":
 * uniform in [0, min(cap, base * 2^(n-1))].
 */
#ifndef IOT_STORE_RETRY_H
#define IOT_STORE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct retry_policy {
	int max_attempts;   /* total attempts, >= 1 */
	unsigned base_ms;   /* first delay's upper bound */
	unsigned cap_ms;    /* no delay exceeds this */
};

/* 5 attempts, 200 ms base, 20 s cap: a lasting failure is reported after
 * at most 0.2+0.4+0.8+1.6 = 3 s of waiting (plus the attempts' own
 * timeouts), and a 503 burst of a few seconds is ridden out. The
 * streaming jobs go on retrying past them (s3.h outage_s). */
#define RETRY_POLICY_DEFAULT { 5, 200, 20000 }

/* True when an HTTP answer with this status and S3 error code (may be
 * NULL or "") should be tried again. */
bool retry_http_retriable(long status, const char *code);
/* True when a libcurl result code is a transient transport failure. */
bool retry_curl_retriable(int curl_code);
/* Delay in ms before the next attempt after `attempt` (1-based) failed;
 * `rnd` is a uniformly random 64-bit number. */
unsigned retry_delay_ms(const struct retry_policy *p, int attempt,
			uint64_t rnd);
/* A small, fast PRNG (xorshift64*) for the jitter; *state must be != 0. */
uint64_t retry_rand(uint64_t *state);

#endif
