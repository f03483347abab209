/*
 * test_store_prefetch.c - objects fetched ahead (store/prefetch.h), on
 * local files so no server is needed: every object arrives whole and
 * intact with a budget far smaller than the dataset (memory stays
 * bounded, an object larger than the budget still comes, alone), two
 * consumers taking interleaved halves never wait on each other forever,
 * dropped objects are never fetched or are freed, a missing object's take
 * reports the store's error, and destroy with objects never taken leaks
 * nothing (the sanitizer build checks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/xalloc.h"
#include "store/prefetch.h"
#include "store/store.h"

#define N 200

static char root[64];
static char *uris[N];
static uint64_t sizes[N];

static void content(size_t i, struct buf *b)
{
	buf_reset(b);
	/* 1 to 700 bytes; object 7 is larger than the budgets below */
	for (size_t k = 0; k < (i == 7 ? 5000 : 1 + (i * 37) % 700); k++)
		buf_putc(b, (char)('a' + (i + k) % 26));
}

static int setup(void **state)
{
	struct store *st = store_create();
	struct buf b = BUF_INIT;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/iotpipe-prefetch-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	for (size_t i = 0; i < N; i++) {
		uris[i] = xasprintf("%s/o%03zu", root, i);
		content(i, &b);
		sizes[i] = b.len;
		if (i != 13 && store_put(st, uris[i], b.data, b.len, 0, &err))
			return -1; /* object 13 is missing on purpose */
	}
	buf_release(&b);
	store_destroy(st);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);

	(void)state;
	for (size_t i = 0; i < N; i++)
		free(uris[i]);
	if (system(cmd) != 0)
		return -1;
	free(cmd);
	return 0;
}

static void check(size_t i, const struct buf *got)
{
	struct buf want = BUF_INIT;

	content(i, &want);
	assert_int_equal(got->len, want.len);
	assert_memory_equal(got->data, want.data, want.len);
	buf_release(&want);
}

static void test_in_order_small_budget(void **state)
{
	struct store_prefetch_spec s = { (const char *const *)uris, sizes, N, 8, 2000 };
	struct store_prefetch *pf = store_prefetch_create(&s);
	struct buf b = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < N; i++) {
		struct iot_error err = IOT_ERROR_INIT;
		enum iot_err rc = store_prefetch_take(pf, i, &b, &err);
		if (i == 13) {
			assert_int_equal(rc, IOT_ERR_NOT_FOUND);
			assert_non_null(strstr(err.msg, "o013"));
			continue;
		}
		assert_int_equal(rc, IOT_OK);
		check(i, &b);
	}
	buf_release(&b);
	store_prefetch_destroy(pf);
}

struct consumer {
	struct store_prefetch *pf;
	size_t parity;
	int ok;
};

/* Takes "device" runs of 5 objects, every other run, drops each run's
 * last object unread (as a device that failed midway). */
static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct buf b = BUF_INIT;

	for (size_t run = c->parity; run * 5 < N; run += 2) {
		for (size_t i = run * 5; i < run * 5 + 4; i++) {
			struct iot_error err = IOT_ERROR_INIT;
			if (store_prefetch_take(c->pf, i, &b, &err) == IOT_OK)
				c->ok++;
		}
		store_prefetch_drop(c->pf, run * 5, 5);
	}
	buf_release(&b);
	return NULL;
}

static void test_two_consumers_and_drops(void **state)
{
	struct store_prefetch_spec s = { (const char *const *)uris, sizes, N, 16, 1500 };
	struct store_prefetch *pf = store_prefetch_create(&s);
	struct consumer a = { pf, 0, 0 }, b = { pf, 1, 0 };
	pthread_t ta, tb;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, consume, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, consume, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* 160 taken, one of them the missing object */
	assert_int_equal(a.ok + b.ok, 159);
	store_prefetch_destroy(pf);
}

static void test_destroy_untaken(void **state)
{
	struct store_prefetch_spec s = { (const char *const *)uris, sizes, N, 4, 1 << 20 };
	struct store_prefetch *pf = store_prefetch_create(&s);
	struct buf b = BUF_INIT;
	struct iot_error err = IOT_ERROR_INIT;

	(void)state;
	store_prefetch_drop(pf, 50, 100);
	assert_int_equal(store_prefetch_take(pf, 1, &b, &err), IOT_OK);
	check(1, &b);
	assert_int_equal(store_prefetch_take(pf, 160, &b, &err), IOT_OK);
	check(160, &b);
	buf_release(&b);
	usleep(20 * 1000);
	store_prefetch_destroy(pf); /* the rest fetched or not: freed */
	store_prefetch_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_small_budget),
		cmocka_unit_test(test_two_consumers_and_drops),
		cmocka_unit_test(test_destroy_untaken),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
