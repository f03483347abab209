/*
 * pool.c - worker threads over an index range (see pool.h).
 *
 * Each worker loops: take the next index (atomic fetch-add), run it, stop
 * when the range is exhausted or an error was recorded. The first error is
 * copied under a mutex; later ones are dropped. The calling thread waits on
 * a condition variable with a timeout, which doubles as the progress
 * ticker, then joins everything. With threads == 1 there is still one
 * worker thread, so run() always executes off the calling thread.
 */
#include "core/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"

#include "core/banned.h"

struct pool_state {
	const struct pool_spec *ps;
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t running;
	struct iot_error first;
};

struct worker_arg {
	struct pool_state *s;
	size_t id;
};

static void *worker_main(void *opaque)
{
	struct worker_arg *a = opaque;
	struct pool_state *s = a->s;
	const struct pool_spec *ps = s->ps;
	struct iot_error err = IOT_ERROR_INIT;

	pthread_setname_np(pthread_self(), "iot-pool"); /* for top -H and perf */
	while (!atomic_load(&s->failed)) {
		size_t i = atomic_fetch_add(&s->next, 1);
		enum iot_err rc;
		if (i >= ps->items)
			break;
		if (ps->should_stop && ps->should_stop())
			rc = iot_error_set(&err, IOT_ERR_INTERRUPTED, "interrupted");
		else
			rc = ps->run(ps->ctx, a->id, i, &err);
		if (rc != IOT_OK) {
			pthread_mutex_lock(&s->mu);
			if (!atomic_load(&s->failed)) {
				s->first = err;
				s->first.code = rc;
				atomic_store(&s->failed, 1);
			}
			pthread_mutex_unlock(&s->mu);
			break;
		}
	}
	pthread_mutex_lock(&s->mu);
	s->running--;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

enum iot_err pool_run(const struct pool_spec *ps, struct iot_error *err)
{
	struct pool_state s;
	pthread_t *th;
	struct worker_arg *args;
	size_t started = 0;
	pthread_condattr_t ca;

	memset(&s, 0, sizeof(s));
	s.ps = ps;
	atomic_init(&s.next, 0);
	atomic_init(&s.failed, 0);
	pthread_mutex_init(&s.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.cv, &ca);
	pthread_condattr_destroy(&ca);

	th = xcalloc(ps->threads ? ps->threads : 1, sizeof(*th));
	args = xcalloc(ps->threads ? ps->threads : 1, sizeof(*args));
	pthread_mutex_lock(&s.mu);
	for (size_t i = 0; i < ps->threads; i++) {
		args[i].s = &s;
		args[i].id = i;
		if (pthread_create(&th[i], NULL, worker_main, &args[i]) != 0)
			break;
		started++;
		s.running++;
	}
	if (started == 0) {
		pthread_mutex_unlock(&s.mu);
		iot_error_set(&s.first, IOT_ERR_LIMIT, "cannot start a worker thread: %s",
			      strerror(errno));
		atomic_store(&s.failed, 1);
		goto joined;
	}
	while (s.running > 0) {
		struct timespec ts;
		unsigned ms = ps->tick_ms ? ps->tick_ms : 200;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s.cv, &s.mu, &ts);
		if (ps->tick && s.running > 0) {
			pthread_mutex_unlock(&s.mu);
			ps->tick(ps->ctx, 0);
			pthread_mutex_lock(&s.mu);
		}
	}
	pthread_mutex_unlock(&s.mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
joined:
	if (ps->tick)
		ps->tick(ps->ctx, 1);
	free(th);
	free(args);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	if (atomic_load(&s.failed)) {
		if (err)
			*err = s.first;
		return s.first.code ? s.first.code : IOT_ERR_STATE;
	}
	return IOT_OK;
}
