/*
 * retry.c - the retry decisions and full-jitter backoff of retry.h.
 *
 * Full jitter (not "equal jitter" or a fixed ladder) because many writers
 * hitting one throttled prefix must spread out, not retry in lock-step.
 * Stateless apart from the caller's PRNG state; any thread may call.
 */
#include "store/retry.h"

#include <curl/curl.h>
#include <string.h>

#include "core/banned.h"

bool retry_http_retriable(long status, const char *code)
{
	static const char *const codes[] = {
		"SlowDown", "InternalError", "RequestTimeout", "Throttling",
		"ThrottlingException", "RequestThrottled", "ServiceUnavailable",
		"RequestLimitExceeded", "BandwidthLimitExceeded",
	};

	if (status == 408 || status == 429 || status == 500 || status == 502 ||
	    status == 503 || status == 504)
		return true;
	if (code && *code)
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (!strcmp(code, codes[i]))
				return true;
	return false;
}

bool retry_curl_retriable(int curl_code)
{
	switch (curl_code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

unsigned retry_delay_ms(const struct retry_policy *p, int attempt,
			uint64_t rnd)
{
	uint64_t ceiling = p->base_ms;

	for (int i = 1; i < attempt && ceiling < p->cap_ms; i++)
		ceiling *= 2;
	if (ceiling > p->cap_ms)
		ceiling = p->cap_ms;
	return (unsigned)(rnd % (ceiling + 1));
}

uint64_t retry_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}
