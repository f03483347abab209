/*
 * worker.c - see worker.h. A mutex and one condition variable: the thread
 * sleeps until asked or stopped; waiters sleep until it is idle.
 */
#include "core/worker.h"
#include "core/xalloc.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/banned.h"

struct worker {
	void (*run)(void *arg);
	void *arg;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool asked, running, stop;
};

static void *worker_main(void *p)
{
	struct worker *w = p;

	pthread_setname_np(pthread_self(), "iot-worker"); /* for top -H and perf */
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->asked && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		w->asked = false;
		w->running = true;
		pthread_mutex_unlock(&w->mu);
		w->run(w->arg);
		pthread_mutex_lock(&w->mu);
		w->running = false;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct worker *worker_start(void (*run)(void *arg), void *arg)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->run = run;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->th, NULL, worker_main, w)) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return NULL;
	}
	return w;
}

void worker_request(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->asked = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool worker_busy(struct worker *w)
{
	bool busy;

	pthread_mutex_lock(&w->mu);
	busy = w->asked || w->running;
	pthread_mutex_unlock(&w->mu);
	return busy;
}

void worker_wait(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->asked || w->running)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void worker_stop(struct worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
