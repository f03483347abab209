/*
 * err.c - formatting of the error type declared in err.h.
 * Any thread may call these; they only touch the caller's struct.
 * Every message passes through redact_urls(), so a credential inside a
 * URL (an endpoint given as http://user:pass@host) never reaches one.
 */
#include "core/err.h"
#include "core/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[IOT_ERR__COUNT] = {
	[IOT_OK] = "ok",
	[IOT_ERR_USAGE] = "usage",
	[IOT_ERR_CONFIG] = "config",
	[IOT_ERR_IO] = "io",
	[IOT_ERR_NET] = "network",
	[IOT_ERR_FORMAT] = "format",
	[IOT_ERR_UNSUPPORTED] = "unsupported",
	[IOT_ERR_NOT_FOUND] = "not found",
	[IOT_ERR_AUTH] = "auth",
	[IOT_ERR_STATE] = "state",
	[IOT_ERR_LIMIT] = "limit",
	[IOT_ERR_INTERRUPTED] = "interrupted",
};

const char *iot_err_name(enum iot_err code)
{
	if ((int)code < 0 || code >= IOT_ERR__COUNT)
		return "unknown";
	return names[code];
}

static enum iot_err vset(struct iot_error *err, enum iot_err code,
			 bool retriable, const char *fmt, va_list ap)
{
	char raw[IOT_ERROR_MSG_MAX];

	if (!err)
		return code;
	err->code = code;
	err->retriable = retriable;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	redact_urls(err->msg, sizeof(err->msg), raw);
	return code;
}

enum iot_err iot_error_set(struct iot_error *err, enum iot_err code,
			   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, false, fmt, ap);
	va_end(ap);
	return code;
}

enum iot_err iot_error_set_retriable(struct iot_error *err, enum iot_err code,
				     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, true, fmt, ap);
	va_end(ap);
	return code;
}

void iot_error_prefix(struct iot_error *err, const char *fmt, ...)
{
	char prefix[IOT_ERROR_MSG_MAX];
	char old[IOT_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	redact_urls(old, sizeof(old), prefix);
	memcpy(prefix, old, sizeof(prefix));
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}

void iot_error_clear(struct iot_error *err)
{
	if (!err)
		return;
	err->code = IOT_OK;
	err->retriable = false;
	err->msg[0] = '\0';
}
