/*
 * signals.h - SIGINT/SIGTERM handling for long-running commands. The
 * handler only sets a flag; loops poll signals_stop_requested() and finish
 * or abandon their batch safely. A second signal while stopping exits at
 * once (status 130), for a user who does not want to wait for a flush.
 */
#ifndef IOT_SIGNALS_H
#define IOT_SIGNALS_H

#include <stdbool.h>

void signals_install(void);
bool signals_stop_requested(void);
/* Asks the loops to stop as a signal would (e.g. --duration elapsed). */
void signals_request_stop(void);

#endif
