/*
 * console_int.h - what the console's files share (console.c,
 * console_sample.c, console_status.c); not for other subsystems.
 */
#ifndef IOT_METRICS_CONSOLE_INT_H
#define IOT_METRICS_CONSOLE_INT_H

#include <stddef.h>

#include "metrics/console.h"
#include "metrics/history.h"

/* The two streaming jobs, in the order the API lists them. */
#define CONSOLE_JOBS 2
extern const char *const console_job_names[CONSOLE_JOBS];

/* The process' history, NULL before console_start(). Set once; never
 * freed while the server may serve (console_stop() stops the server's
 * users first). */
struct history *console_history(void);

/* Label value of `key` in a pre-rendered label list (`job="a",p="3"`)
 * into out; false when absent. */
bool console_label(const char *labels, const char *key, char *out, size_t cap);

/* The notes (console_note) as a JSON object, redacted, into out. */
void console_render_notes(struct buf *out);
/* Forgets the sampler's previous values (console_reset). */
void console_sample_reset(void);
/* The command line's subcommand ("run", "archive", ...), or "". */
const char *console_command(void);

#endif
