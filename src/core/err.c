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

#include "core/banned.h"

static enum iot_err vset(struct iot_error *err, enum iot_err code,
			 const char *fmt, va_list ap)
{
	char raw[IOT_ERROR_MSG_MAX];

	if (!err)
		return code;
	err->code = code;
	err->retriable = false;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	redact_urls(err->msg, sizeof(err->msg), raw);
	return code;
}

enum iot_err iot_error_set(struct iot_error *err, enum iot_err code,
			   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
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
