/*
 * pool.c - fork-join task runner (pool.h). Threads are created per call:
 * a commit writes objects that each cost milliseconds, so a thread start
 * (tens of microseconds) is noise, and no idle threads linger between
 * batches.
 */
#include "stream/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "core/banned.h"

#define POOL_MAX_THREADS 64

struct pool {
	size_t ntasks;
	atomic_size_t next;
	atomic_bool failed;
	pool_fn fn;
	void *ctx;
	pthread_mutex_t lock;
	struct iot_error err;
};

struct pool_thread {
	struct pool *p;
	void *slot;
	pthread_t tid;
};

static void *pool_main(void *arg)
{
	struct pool_thread *t = arg;
	struct pool *p = t->p;

	while (!atomic_load(&p->failed)) {
		size_t i = atomic_fetch_add(&p->next, 1);
		struct iot_error e = IOT_ERROR_INIT;
		if (i >= p->ntasks)
			break;
		if (p->fn(p->ctx, i, t->slot, &e)) {
			pthread_mutex_lock(&p->lock);
			if (!atomic_load(&p->failed)) {
				p->err = e;
				atomic_store(&p->failed, true);
			}
			pthread_mutex_unlock(&p->lock);
		}
	}
	return NULL;
}

enum iot_err pool_run(size_t ntasks, size_t nthreads, void *slots,
		      size_t slot_size, pool_fn fn, void *ctx,
		      struct iot_error *err)
{
	struct pool p;
	struct pool_thread th[POOL_MAX_THREADS];
	size_t started = 0;

	memset(&p, 0, sizeof(p));
	p.ntasks = ntasks;
	p.fn = fn;
	p.ctx = ctx;
	pthread_mutex_init(&p.lock, NULL);
	if (nthreads > POOL_MAX_THREADS)
		nthreads = POOL_MAX_THREADS;
	if (nthreads > ntasks)
		nthreads = ntasks;
	for (size_t i = 1; i < nthreads; i++) {
		th[i].p = &p;
		th[i].slot = (char *)slots + i * slot_size;
		if (pthread_create(&th[i].tid, NULL, pool_main, &th[i]) != 0)
			break;
		started = i;
	}
	/* the caller is worker 0 */
	th[0].p = &p;
	th[0].slot = slots;
	pool_main(&th[0]);
	for (size_t i = 1; i <= started; i++)
		pthread_join(th[i].tid, NULL);
	pthread_mutex_destroy(&p.lock);
	if (atomic_load(&p.failed)) {
		*err = p.err;
		return err->code;
	}
	return IOT_OK;
}
