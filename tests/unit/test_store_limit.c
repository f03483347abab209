/*
 * test_store_limit.c - the adaptive limit on S3 requests in flight
 * (store/s3_limit.h), with an explicit clock: slots are handed out up to
 * the limit, a throttling answer halves the limit once per second of
 * throttling, the limit holds for a while and then grows back one slot
 * per success up to the ceiling, and the process-wide wrapper blocks a
 * thread until a slot comes back.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/s3_limit.h"

static void test_slots_up_to_limit(void **state)
{
	struct s3_limit l;

	(void)state;
	s3_limit_init(&l, 3);
	assert_true(s3_limit_try_take(&l));
	assert_true(s3_limit_try_take(&l));
	assert_true(s3_limit_try_take(&l));
	assert_false(s3_limit_try_take(&l));
	s3_limit_put(&l, false, 0);
	assert_true(s3_limit_try_take(&l));
	assert_int_equal(l.inflight, 3);
}

static void test_throttle_halves_once_per_burst(void **state)
{
	struct s3_limit l;

	(void)state;
	s3_limit_init(&l, 64);
	for (int i = 0; i < 64; i++)
		assert_true(s3_limit_try_take(&l));
	/* a burst of 503s from everything in flight is one signal */
	for (int i = 0; i < 40; i++)
		s3_limit_put(&l, true, 10.0 + i * 0.01);
	assert_int_equal(l.cur, 32);
	assert_int_equal(l.throttles, 40);
	assert_int_equal(l.inflight, 24);
	/* 24 in flight under a limit of 32: 8 more, then none */
	for (int i = 0; i < 8; i++)
		assert_true(s3_limit_try_take(&l));
	assert_false(s3_limit_try_take(&l));
	/* throttling that lasts halves again a second later */
	s3_limit_put(&l, true, 11.0);
	assert_int_equal(l.cur, 16);
	for (int i = 0; i < 10; i++)
		s3_limit_put(&l, true, 12.0 + i * 0.5);
	assert_true(l.cur >= 1);
	s3_limit_init(&l, 2);
	for (int i = 0; i < 5; i++)
		s3_limit_put(&l, true, 100.0 + i * 2);
	assert_int_equal(l.cur, 1); /* never below one */
}

static void test_holds_then_grows_back(void **state)
{
	struct s3_limit l;

	(void)state;
	s3_limit_init(&l, 8);
	s3_limit_put(&l, true, 100.0);
	assert_int_equal(l.cur, 4);
	/* successes within the hold do not grow it */
	for (int i = 0; i < 20; i++)
		s3_limit_put(&l, false, 100.0 + S3_LIMIT_HOLD_S / 2);
	assert_int_equal(l.cur, 4);
	s3_limit_put(&l, false, 100.0 + S3_LIMIT_HOLD_S);
	assert_int_equal(l.cur, 5);
	for (int i = 0; i < 20; i++)
		s3_limit_put(&l, false, 200.0);
	assert_int_equal(l.cur, 8); /* up to the ceiling, not past it */
	s3_limit_set_max(&l, 12);
	assert_int_equal(l.max, 12);
	assert_int_equal(l.cur, 12);
	s3_limit_set_max(&l, 4); /* lowering the ceiling is not a thing */
	assert_int_equal(l.max, 12);
}

static int passed;

static void *taker(void *arg)
{
	(void)arg;
	s3_limit_acquire();
	__atomic_store_n(&passed, 1, __ATOMIC_SEQ_CST);
	s3_limit_release(false);
	return NULL;
}

static void test_global_blocks_until_release(void **state)
{
	pthread_t th;

	(void)state;
	s3_limit_configure(1);
	assert_true(s3_limit_current() >= 1);
	/* take every slot there is, whatever an earlier configure set */
	int n = s3_limit_current();
	for (int i = 0; i < n; i++)
		s3_limit_acquire();
	assert_int_equal(pthread_create(&th, NULL, taker, NULL), 0);
	usleep(100 * 1000);
	assert_int_equal(__atomic_load_n(&passed, __ATOMIC_SEQ_CST), 0);
	s3_limit_release(false);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(__atomic_load_n(&passed, __ATOMIC_SEQ_CST), 1);
	for (int i = 1; i < n; i++)
		s3_limit_release(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_up_to_limit),
		cmocka_unit_test(test_throttle_halves_once_per_burst),
		cmocka_unit_test(test_holds_then_grows_back),
		cmocka_unit_test(test_global_blocks_until_release),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
