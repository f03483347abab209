/*
 * err.h - the one error type of iotpipe.
 *
 * Library code never exits and never prints an error itself: it fills a
 * caller-owned `struct iot_error` where the detail is known (file, key,
 * offset, URI) and returns a non-zero `iot_err` code. The decision what to
 * do (retry, report, exit with a status) is made at the top, in src/cmd/.
 *
 * Calling sequence:
 *
 *	struct iot_error err = IOT_ERROR_INIT;
 *	if (thing_do(&thing, &err) != IOT_OK) {
 *		fprintf(stderr, "iotpipe: %s\n", err.msg);
 *		return 1;
 *	}
 *
 * The message is one line and never contains a secret: callers that format
 * URIs or headers must leave credentials out.
 */
#ifndef IOT_ERR_H
#define IOT_ERR_H

#include <stdbool.h>

enum iot_err {
	IOT_OK = 0,
	IOT_ERR_USAGE,      /* bad command line */
	IOT_ERR_CONFIG,     /* bad configuration file or value */
	IOT_ERR_IO,         /* local file system */
	IOT_ERR_NET,        /* network, HTTP, Kafka transport */
	IOT_ERR_FORMAT,     /* malformed input data (Parquet, JSON, XML) */
	IOT_ERR_UNSUPPORTED,/* valid input we deliberately do not handle */
	IOT_ERR_NOT_FOUND,  /* object, key, file or topic missing */
	IOT_ERR_AUTH,       /* credentials refused */
	IOT_ERR_STATE,      /* operation not valid in the current state */
	IOT_ERR_LIMIT,      /* a size or count limit would be exceeded */
	IOT_ERR_INTERRUPTED,/* stopped by a signal */
	IOT_ERR__COUNT
};

#define IOT_ERROR_MSG_MAX 512

struct iot_error {
	enum iot_err code;
	bool retriable;
	char msg[IOT_ERROR_MSG_MAX];
};

#define IOT_ERROR_INIT { IOT_OK, false, { 0 } }

/*
 * Sets *err (when err is not NULL) and returns code, so that library code
 * can write `return iot_error_set(err, IOT_ERR_IO, "%s: %s", path, why);`.
 * The message is truncated to IOT_ERROR_MSG_MAX-1 bytes.
 */
enum iot_err iot_error_set(struct iot_error *err, enum iot_err code,
			   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context on the way up). */
void iot_error_prefix(struct iot_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void iot_error_clear(struct iot_error *err);

#endif
