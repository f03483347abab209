/*
 * xalloc.c - aborting allocators and checked arithmetic (see xalloc.h).
 * Thread-safe: they only call the C library's allocator.
 */
#include "core/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static void die_oom(size_t n)
{
	fprintf(stderr, "iotpipe: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die_oom(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		die_oom(nmemb * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die_oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(st_add(len, 1));
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap, ap2;
	int n;
	char *p;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		fprintf(stderr, "iotpipe: bad format string\n");
		abort();
	}
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

size_t st_mult(size_t a, size_t b)
{
	size_t r;
	if (!iot_size_mul(a, b, &r)) {
		fprintf(stderr, "iotpipe: size overflow: %zu * %zu\n", a, b);
		abort();
	}
	return r;
}

size_t st_add(size_t a, size_t b)
{
	size_t r;
	if (!iot_size_add(a, b, &r)) {
		fprintf(stderr, "iotpipe: size overflow: %zu + %zu\n", a, b);
		abort();
	}
	return r;
}
