/*
 * test_worker.c - core/worker.h: a request runs the function once on the
 * worker thread and worker_wait makes its writes visible; requests made
 * while one is pending coalesce; worker_busy follows a run; worker_stop
 * lets a run in progress finish.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <cmocka.h>

#include "core/worker.h"

struct ctx {
	pthread_mutex_t gate; /* held by the test to keep a run from finishing */
	int runs;
	atomic_int started;
	int input, output;
	pthread_t ran_on;
};

static void run(void *arg)
{
	struct ctx *c = arg;
	atomic_fetch_add(&c->started, 1);
	pthread_mutex_lock(&c->gate);
	pthread_mutex_unlock(&c->gate);
	c->runs++;
	c->output = c->input * 2;
	c->ran_on = pthread_self();
}

static void test_request_wait(void **state)
{
	struct ctx c = { .gate = PTHREAD_MUTEX_INITIALIZER };
	struct worker *w = worker_start(run, &c);
	(void)state;

	assert_non_null(w);
	assert_false(worker_busy(w));
	for (int i = 1; i <= 100; i++) {
		c.input = i;
		worker_request(w);
		worker_wait(w);
		assert_int_equal(c.output, 2 * i);
		assert_int_equal(c.runs, i);
	}
	assert_false(pthread_equal(c.ran_on, pthread_self()));
	worker_stop(w);
}

static void test_coalesce_busy_stop(void **state)
{
	struct ctx c = { .gate = PTHREAD_MUTEX_INITIALIZER };
	struct worker *w = worker_start(run, &c);
	struct timespec ms = { 0, 1000000 };
	(void)state;

	pthread_mutex_lock(&c.gate);
	worker_request(w);
	assert_true(worker_busy(w));
	while (atomic_load(&c.started) < 1)
		nanosleep(&ms, NULL);
	/* the first run is held at the gate; these three pend as one */
	worker_request(w);
	worker_request(w);
	worker_request(w);
	for (int i = 0; i < 20; i++)
		nanosleep(&ms, NULL);
	assert_true(worker_busy(w));
	pthread_mutex_unlock(&c.gate);
	worker_wait(w);
	assert_false(worker_busy(w));
	assert_int_equal(c.runs, 2);

	/* stop with a run in progress: it finishes, then the thread ends */
	pthread_mutex_lock(&c.gate);
	worker_request(w);
	while (atomic_load(&c.started) < 3)
		nanosleep(&ms, NULL);
	pthread_mutex_unlock(&c.gate);
	worker_stop(w);
	assert_int_equal(c.runs, 3);
	worker_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_wait),
		cmocka_unit_test(test_coalesce_busy_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
