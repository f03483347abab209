/*
 * hive.c - parsing Hive partition directories out of object paths.
 *
 * The dataset scanner hands us a path relative to the dataset root; we
 * walk its '/'-separated components without copying them, and allocate
 * only the decoded value that the caller keeps. No state, any thread.
 */
#include "core/hex.h"
#include "batch/hive.h"

#include <string.h>

#include "core/xalloc.h"

#include "core/banned.h"

#define HIVE_NULL "__HIVE_DEFAULT_PARTITION__"

char *hive_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len &&
		    (hi = hex_digit(s[i + 1])) >= 0 &&
		    (lo = hex_digit(s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

bool hive_value(const char *rel, const char *name, char **value)
{
	size_t nlen = strlen(name);
	const char *best = NULL;
	size_t best_len = 0;
	const char *p = rel;

	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash)
			break; /* the last component is the file name */
		if ((size_t)(slash - p) > nlen && !strncmp(p, name, nlen) &&
		    p[nlen] == '=') {
			best = p + nlen + 1;
			best_len = (size_t)(slash - best);
		}
		p = slash + 1;
	}
	if (!best)
		return false;
	if (best_len == strlen(HIVE_NULL) && !strncmp(best, HIVE_NULL, best_len))
		*value = NULL;
	else
		*value = hive_unescape(best, best_len);
	return true;
}

bool hive_hidden(const char *rel)
{
	const char *p = rel;

	for (;;) {
		if (*p == '.' || *p == '_' || *p == '/' || *p == '\0')
			return true;
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
}
