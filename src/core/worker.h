/*
 * worker.h - one background thread that runs one function on request, one
 * run at a time: the streaming job's decoder (a batch decoded while the
 * job handles the previous one) and the Kafka fetch waker.
 *
 *	struct worker *w = worker_start(fn, arg);   NULL: no thread, run fn inline
 *	worker_request(w);   ... worker_wait(w);    fn(arg) ran once, its writes visible
 *	worker_stop(w);
 *
 * Requests made while one is still pending coalesce into one run. Memory
 * written before worker_request is visible to the run; what the run wrote
 * is visible after worker_wait (both go through the worker's mutex).
 */
#ifndef IOT_CORE_WORKER_H
#define IOT_CORE_WORKER_H

#include <stdbool.h>

struct worker;

/* NULL when the thread cannot be started. */
struct worker *worker_start(void (*run)(void *arg), void *arg);

/* Asks for a run of the function (coalesces with a pending request). */
void worker_request(struct worker *w);

/* True while a run is asked for or running. */
bool worker_busy(struct worker *w);

/* Returns once no run is asked for or running. */
void worker_wait(struct worker *w);

/* Waits for a run in progress (a pending one is dropped) and joins the
 * thread. NULL is fine. */
void worker_stop(struct worker *w);

#endif
