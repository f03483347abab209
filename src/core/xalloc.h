/*
 * xalloc.h - allocation that aborts on out-of-memory, and checked size
 * arithmetic.
 *
 * Out-of-memory is not a recoverable condition for iotpipe: the allocators
 * here print one line and abort. Sizes that come from outside (file
 * headers, network payloads) must go through iot_size_mul()/iot_size_add()
 * before they reach an allocator: those return false on overflow instead of
 * wrapping. The st_mult()/st_add() forms abort on overflow and are for sizes
 * the program itself computed.
 */
#ifndef IOT_XALLOC_H
#define IOT_XALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a freshly allocated string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline bool iot_size_mul(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static inline bool iot_size_add(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

size_t st_mult(size_t a, size_t b);
size_t st_add(size_t a, size_t b);

/* Grows *arr (of *alloc elements of size elem) to hold at least n. */
#define ALLOC_GROW(arr, n, alloc)                                              \
	do {                                                                   \
		if ((size_t)(n) > (size_t)(alloc)) {                           \
			size_t alloc_new_ = (size_t)(alloc) * 2 + 16;          \
			if (alloc_new_ < (size_t)(n))                          \
				alloc_new_ = (size_t)(n);                      \
			(arr) = xrealloc((arr),                                \
					 st_mult(alloc_new_, sizeof(*(arr)))); \
			(alloc) = alloc_new_;                                  \
		}                                                              \
	} while (0)

#endif
