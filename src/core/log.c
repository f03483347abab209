/*
 * log.c - the logger of log.h. The level is an atomic so that any thread
 * may read it without a lock; each line is formatted into a stack buffer
 * and written with a single write(2) call.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int cur_level = LOG_INFO;
static atomic_bool json_mode = false;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

bool log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return true;
		}
	}
	if (!strcmp(s, "warning")) {
		*out = LOG_WARN;
		return true;
	}
	return false;
}

void log_set_level(enum log_level lvl) { atomic_store(&cur_level, (int)lvl); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&cur_level); }
void log_set_json(bool on) { atomic_store(&json_mode, on); }

static size_t json_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
		} else {
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
	return n;
}

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
{
	char text[2048], line[4608], ts[40];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)lvl > atomic_load(&cur_level))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	if (atomic_load(&json_mode)) {
		char esc[4100];
		json_escape(esc, sizeof(esc), text);
		n = snprintf(line, sizeof(line),
			     "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n",
			     ts, level_names[lvl], component, esc);
	} else {
		n = snprintf(line, sizeof(line), "%s %-5s %s: %s\n", ts,
			     level_names[lvl], component, text);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

_Noreturn void iot_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "iotpipe: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}
