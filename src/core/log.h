/*
 * log.h - leveled logging to stderr, and the always-on assertion.
 *
 * One line per message: "<time> <level> <component>: <text>", or a JSON
 * object per line with --log-format json. Any thread may log; a line is
 * written with one write(2) so lines from threads never interleave.
 * Messages must never contain secrets (credentials, signatures).
 */
#ifndef IOT_LOG_H
#define IOT_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parses "error|warn|info|debug"; returns false when unknown. */
bool log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Switches to one JSON object per line (for log shippers). */
void log_set_json(bool on);

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
