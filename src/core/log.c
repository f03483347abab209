/*
 * log.c - the logger of log.h. The level is an atomic so that any thread
 * may read it without a lock; each line is formatted into a stack buffer,
 * redacted (redact.h), made one line, and written with a single write(2)
 * call. In JSON mode bytes that are not valid UTF-8 become U+FFFD, so a
 * message carrying a client's bytes still yields an object that parses.
 *
 * The rate limiter (struct log_ratelimit) counts lines per one-second
 * window under its own mutex and writes outside it, so a flood from one
 * source costs its threads a lock and a clock read per dropped line.
 */
#include "core/log.h"
#include "core/clock.h"
#include "core/redact.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	cp = s[0] & (0x3fu >> (n - 1));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static size_t json_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	while (*s && n + 7 < cap) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
			s++;
		} else if (c < 0x80) {
			dst[n++] = (char)c;
			s++;
		} else {
			size_t l = utf8_len((const unsigned char *)s);
			if (!l) {
				memcpy(dst + n, "\\ufffd", 6);
				n += 6;
				s++;
			} else {
				memcpy(dst + n, s, l);
				n += l;
				s += l;
			}
		}
	}
	dst[n] = '\0';
	return n;
}

/* The last warning or error, for the console (log_last_problem). */
static pthread_mutex_t problem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_problem problem;
static bool has_problem;

static void note_problem(enum log_level lvl, const char *component, const char *text,
			 const struct timeval *tv)
{
	pthread_mutex_lock(&problem_lock);
	problem.time = (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
	problem.level = lvl;
	snprintf(problem.component, sizeof(problem.component), "%s", component);
	snprintf(problem.text, sizeof(problem.text), "%s", text);
	has_problem = true;
	pthread_mutex_unlock(&problem_lock);
}

bool log_last_problem(struct log_problem *out)
{
	bool has;

	pthread_mutex_lock(&problem_lock);
	has = has_problem;
	if (has)
		*out = problem;
	pthread_mutex_unlock(&problem_lock);
	return has;
}

void log_vmsg(enum log_level lvl, const char *component, const char *fmt,
	      va_list ap)
{
	char raw[2048], text[2048], line[4608], ts[40];
	struct timeval tv;
	struct tm tm;
	int n;

	if ((int)lvl > atomic_load(&cur_level))
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	redact_urls(text, sizeof(text), raw);

	gettimeofday(&tv, NULL);
	if (lvl <= LOG_WARN)
		note_problem(lvl, component, text, &tv);
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
		for (char *p = text; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
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

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, component, fmt, ap);
	va_end(ap);
}

/* At the level of the most severe line suppressed, so that a level that
 * lets those lines through lets their count through too. */
static void report_suppressed(enum log_level lvl, const char *component, uint64_t count,
			      double seconds)
{
	log_msg(lvl, component,
		"%llu similar lines suppressed in the last %.0f s (rate limit)",
		(unsigned long long)count, seconds < 1 ? 1 : seconds);
}

void log_vmsg_limited(struct log_ratelimit *rl, enum log_level lvl,
		      const char *component, const char *fmt, va_list ap)
{
	double now, quiet_since = 0;
	uint64_t report = 0;
	enum log_level worst = LOG_DEBUG;
	bool pass;

	if ((int)lvl > atomic_load(&cur_level))
		return;
	now = clock_mono_s();
	pthread_mutex_lock(&rl->lock);
	if (rl->window_start == 0 || now - rl->window_start >= 1.0) {
		rl->window_start = now;
		rl->used = 0;
	}
	pass = rl->used < rl->per_sec;
	if (pass) {
		rl->used++;
		report = rl->suppressed;
		quiet_since = rl->quiet_since;
		worst = rl->worst;
		rl->suppressed = 0;
		rl->worst = LOG_DEBUG;
	} else {
		if (rl->suppressed++ == 0)
			rl->quiet_since = rl->window_start;
		if (lvl < rl->worst)
			rl->worst = lvl;
	}
	pthread_mutex_unlock(&rl->lock);
	if (!pass)
		return;
	if (report)
		report_suppressed(worst, component, report, now - quiet_since);
	log_vmsg(lvl, component, fmt, ap);
}

void log_msg_limited(struct log_ratelimit *rl, enum log_level lvl,
		     const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg_limited(rl, lvl, component, fmt, ap);
	va_end(ap);
}

void log_ratelimit_flush(struct log_ratelimit *rl, const char *component)
{
	double now = clock_mono_s(), quiet_since;
	uint64_t report;
	enum log_level worst;

	pthread_mutex_lock(&rl->lock);
	report = rl->suppressed;
	quiet_since = rl->quiet_since;
	worst = rl->worst;
	rl->suppressed = 0;
	rl->worst = LOG_DEBUG;
	pthread_mutex_unlock(&rl->lock);
	if (report)
		report_suppressed(worst, component, report, now - quiet_since);
}

_Noreturn void iot_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "iotpipe: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}
