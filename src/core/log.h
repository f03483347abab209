/*
 * log.h - leveled logging to stderr, and the always-on assertion.
 *
 * One line per message: "<time> <level> <component>: <text>", or a JSON
 * object per line with --log-format json. Any thread may log; a line is
 * written with one write(2) so lines from threads never interleave.
 * Messages must never contain secrets (credentials, signatures); as a
 * second line of defence every message goes through redact_urls(), and
 * line breaks inside a message are written as spaces (text) or escaped
 * (JSON), so one call is always one line.
 */
#ifndef IOT_LOG_H
#define IOT_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parses "error|warn|info|debug"; returns false when unknown. */
bool log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Switches to one JSON object per line (for log shippers). */
void log_set_json(bool on);

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void log_vmsg(enum log_level lvl, const char *component, const char *fmt,
	      va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * The last line logged at warn or error level (redacted, as written), for
 * the web console's "last error". False when there was none. The line is
 * kept whatever the output format; lines below the log level are not
 * logged and so not kept either. Any thread.
 */
struct log_problem {
	double time; /* seconds since the epoch */
	enum log_level level;
	char component[32];
	char text[512];
};
bool log_last_problem(struct log_problem *out);

/*
 * A rate limit for one source of lines whose volume someone else controls:
 * a library's log callback that any network client can trigger
 * (libmicrohttpd in metrics/http.c, librdkafka). At most `per_sec` lines
 * pass in each one-second window; the rest are dropped and counted, and
 * the first line let through afterwards is preceded by one
 * "<n> similar lines suppressed in the last <s> s" line of the same
 * component at warn level. Lines below the current log level are neither
 * written nor counted.
 *
 *	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10);
 *	...any thread...
 *	log_msg_limited(&rl, LOG_WARN, "metrics", "%s", text);
 *	...at shutdown...
 *	log_ratelimit_flush(&rl, "metrics");  // reports what is still counted
 *
 * Any thread may use one limiter (it holds a mutex, taken only around the
 * counting, never while writing).
 */
struct log_ratelimit {
	unsigned per_sec;
	pthread_mutex_t lock;
	double window_start; /* monotonic seconds; 0 before the first line */
	double quiet_since;  /* start of the window that began suppressing */
	unsigned used;       /* lines let through in the current window */
	uint64_t suppressed; /* lines dropped since the last report */
	enum log_level worst; /* the most severe of them: the report's level */
};

#define LOG_RATELIMIT_INIT(per_sec)                                           \
	{ (per_sec), PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, LOG_DEBUG }

void log_msg_limited(struct log_ratelimit *rl, enum log_level lvl,
		     const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vmsg_limited(struct log_ratelimit *rl, enum log_level lvl,
		      const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* Logs the count of lines still suppressed, if any, and resets it. */
void log_ratelimit_flush(struct log_ratelimit *rl, const char *component);

#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)

/* Invariant check that stays on in release builds. Never for outside data. */
#define IOT_ASSERT(cond)                                                     \
	do {                                                                 \
		if (!(cond))                                                 \
			iot_assert_fail(#cond, __FILE__, __LINE__);          \
	} while (0)

_Noreturn void iot_assert_fail(const char *expr, const char *file, int line);

#endif
