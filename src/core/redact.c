/*
 * redact.c - redact_urls() of redact.h: one pass over the text, copying it
 * and rewriting the userinfo part of every URL authority it meets. Pure
 * function over caller buffers; any thread.
 *
 * A password may hold any character; an unencoded '/', '?' or '#' in one
 * ends the authority early (as it does for a URL parser), so such a URL
 * is not recognised as carrying credentials. RFC 3986 requires those to be
 * percent-encoded.
 */
#include "core/redact.h"

#include <string.h>

#include "core/banned.h"

/* Where the authority ends: as the S3 endpoint parser reads it (up to the
 * first '/'), and at white space, which ends a URL inside a message. A
 * password with '?', '#' or quotes is a credential there, so it must be
 * one here too: redacting too much costs nothing. */
static int ends_authority(char c)
{
	return c == '\0' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Appends n bytes of s, keeping room for the NUL; returns false once full. */
static int put(char *dst, size_t cap, size_t *len, const char *s, size_t n)
{
	size_t room = cap - 1 - *len;

	if (n > room) {
		memcpy(dst + *len, s, room);
		*len += room;
		return 0;
	}
	memcpy(dst + *len, s, n);
	*len += n;
	return 1;
}

size_t redact_urls(char *dst, size_t cap, const char *src)
{
	size_t len = 0;
	const char *p = src;

	for (;;) {
		const char *sep = strstr(p, "://");
		const char *auth, *end, *at = NULL, *colon = NULL;

		if (!sep) {
			put(dst, cap, &len, p, strlen(p));
			break;
		}
		auth = sep + 3;
		if (!put(dst, cap, &len, p, (size_t)(auth - p)))
			break;
		for (end = auth; !ends_authority(*end); end++)
			if (*end == '@')
				at = end;
		if (at) {
			colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon && !put(dst, cap, &len, auth, (size_t)(colon - auth + 1)))
				break;
			if (!put(dst, cap, &len, "***", 3))
				break;
			auth = at;
		}
		p = auth;
	}
	dst[len] = '\0';
	return len;
}
