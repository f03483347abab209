/*
 * redact.h - keeps credentials written inside URLs out of messages.
 *
 * An endpoint such as AWS_ENDPOINT_URL_S3=http://user:secret@host:9000 is
 * printed in errors ("... at http://host:9000"), config complaints and
 * logs. Every error (err.c) and every log line (log.c) goes through
 * redact_urls(), so no caller has to remember it; code that keeps a URL
 * for display may call it directly.
 */
#ifndef IOT_REDACT_H
#define IOT_REDACT_H

#include <stddef.h>

/*
 * Copies src to dst (cap bytes, cap > 0, always NUL-terminated, truncated
 * when it does not fit) with the userinfo of every "scheme://user:pass@host"
 * in the text replaced: "user:***@host", or "***@host" when there is no
 * ':' (a token as user name). The userinfo is what lies between "://" and
 * the last '@' before the end of the authority ('/', '?', '#', a quote,
 * '<', '>' or white space). dst and src must not overlap. Returns the
 * length written. Any thread.
 */
size_t redact_urls(char *dst, size_t cap, const char *src);

#endif
