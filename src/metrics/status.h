/*
 * status.h - the live status of a long-running command, read from the
 * metrics registry: a one-line display redrawn every second on a terminal,
 * and a plain log line (component "status", so --log-format json applies)
 * every IOTPIPE_STATUS_INTERVAL seconds (default 10) otherwise.
 *
 *	struct status *s = status_start(STATUS_ARCHIVE);
 *	... run the job ...
 *	status_stop(s);      (prints the last line; NULL is fine)
 *
 * The parts say which sections the line has:
 *   produce:   records acknowledged, their rate, delivery errors
 *   archive:   consume rate, consumer lag, files and bytes written
 *   aggregate: consume rate, lag, watermark and its delay behind the
 *              wall clock, late events, windows and files written
 * The status runs on a thread of its own and only reads the registry, so
 * it needs nothing from the threads doing the work.
 */
#ifndef IOT_METRICS_STATUS_H
#define IOT_METRICS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

enum {
	STATUS_PRODUCE = 1u << 0,
	STATUS_ARCHIVE = 1u << 1,
	STATUS_AGGREGATE = 1u << 2,
};

struct status;

/* Starts the status thread (stderr a TTY: a redrawn line, else log lines).
 * Returns NULL when the thread cannot start (the command goes on). */
struct status *status_start(unsigned parts);
/* Stops the thread, prints a final line and ends a TTY line. Accepts NULL. */
void status_stop(struct status *s);

/*
 * The sample behind one line, and the line itself (for tests): `prev`
 * is the sample `dt` seconds earlier (rates are differences over dt).
 */
struct status_sample {
	double produced, delivery_errors;
	double consumed[2];          /* archive, aggregate */
	double lag[2];
	double files[2], bytes[2];
	double watermark, late, windows;
	double now;                  /* wall clock, seconds since the epoch */
};
void status_sample_read(struct status_sample *s);
void status_format(char *out, size_t cap, unsigned parts, const struct status_sample *cur,
		   const struct status_sample *prev, double dt);

#endif
