/*
 * buf.h - a growable byte buffer (in the spirit of git's strbuf).
 *
 * Invariants: `data` is either NULL (len == cap == 0) or points to `cap`
 * allocated bytes of which the first `len` are used; when cap > len the
 * byte at data[len] is '\0', so a buffer holding text is always a valid C
 * string once anything was appended. Growth aborts on out-of-memory.
 * A buf is embedded (buf_init/buf_release), never shared between threads.
 */
#ifndef IOT_BUF_H
#define IOT_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
/* Ensures room for `extra` more bytes plus the terminating NUL. */
void buf_grow(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_putc(struct buf *b, uint8_t c);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Keeps the allocation, drops the content. */
void buf_reset(struct buf *b);
/* Returns the content as a C string ("" when empty). */
const char *buf_str(const struct buf *b);
/* Hands the allocation to the caller (NUL-terminated) and resets b. */
char *buf_detach(struct buf *b, size_t *len);

#endif
