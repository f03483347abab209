/*
 * signals.c - the stop flag of signals.h. Async-signal-safe: the handler
 * touches only a sig_atomic_t and, on the second signal, calls _exit.
 */
#include "core/signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/banned.h"

static volatile sig_atomic_t stop_count;

static void on_signal(int sig)
{
	(void)sig;
	if (stop_count++ > 0) {
		static const char msg[] = "iotpipe: second signal, exiting now\n";
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing to do */
		}
		_exit(130);
	}
}

void signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool signals_stop_requested(void) { return stop_count > 0; }

void signals_request_stop(void)
{
	if (!stop_count)
		stop_count = 1;
}
