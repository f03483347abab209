/*
 * test_stream.c - the streaming engine's pure parts: window state (add,
 * late check, emission order, exact save/load), Hive path escaping and
 * window formatting, and the checkpoint protocol on a local store
 * (recovery of the last commit, a pending plan to replay, a conflicting
 * plan, a checkpoint of another job), held windows and merge plans.
 */
#include <inttypes.h>
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
#include "store/store.h"
#include "stream/ckpt.h"
#include "core/hive.h"
#include "stream/merge.h"
#include "stream/pqsink.h"
#include "stream/windows.h"

#define MIN (60 * 1000000LL)
/* 2025-01-01T00:00:00Z */
#define T0 1735689600000000LL

static void test_window_align(void **state)
{
	(void)state;
	assert_true(win_align(T0 + 59999999, MIN) == T0);
	assert_true(win_align(T0 + MIN, MIN) == T0 + MIN);
	assert_true(win_align(-1, MIN) == -MIN);
	assert_true(win_align(-MIN, MIN) == -MIN);
}

static void test_windows_emit_and_late(void **state)
{
	struct winstate ws;
	struct win_out_list out;
	double s1[2] = { 20.0, 10.0 }, s2[2] = { 30.0, 12.0 };
	(void)state;

	memset(&out, 0, sizeof(out));
	winstate_init(&ws, 2);
	winstate_add(&ws, "dev_b", 5, T0 + 10, MIN, s1);
	winstate_add(&ws, "dev_a", 5, T0 + MIN + 5, MIN, s1);
	winstate_add(&ws, "dev_a", 5, T0 + 20, MIN, s1);
	winstate_add(&ws, "dev_a", 5, T0 + 30, MIN, s2);
	assert_int_equal(ws.open, 3);
	assert_true(ws.max_event_us == T0 + MIN + 5);
	assert_false(winstate_is_late(&ws, T0, MIN));

	/* emit up to T0+MIN: the first window of each device, sorted by key */
	winstate_emit(&ws, T0 + MIN, MIN, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.items[0].key_len, 5);
	assert_memory_equal(out.items[0].key, "dev_a", 5);
	assert_int_equal(out.items[0].count, 2);
	assert_true(out.items[0].sums[0] == 50.0 && out.items[0].sums[1] == 22.0);
	assert_true(out.items[0].end_us == T0 + MIN);
	assert_memory_equal(out.items[1].key, "dev_b", 5);
	assert_int_equal(ws.open, 1);
	/* the emitted window is closed: its events are late now */
	assert_true(winstate_is_late(&ws, T0 + 59999999, MIN));
	assert_false(winstate_is_late(&ws, T0 + MIN, MIN));
	/* emission never goes backwards */
	winstate_emit(&ws, T0, MIN, &out);
	assert_true(ws.emitted_upto_us == T0 + MIN);
	assert_int_equal(out.n, 2);
	win_out_list_release(&out);
	winstate_release(&ws);
}

static void test_windows_save_load_exact(void **state)
{
	struct winstate a, b;
	struct buf t1 = BUF_INIT, t2 = BUF_INIT;
	struct iot_error err = IOT_ERROR_INIT;
	double s[2] = { 0.1, 1.0 / 3.0 };
	(void)state;

	winstate_init(&a, 2);
	winstate_init(&b, 2);
	for (int i = 0; i < 100; i++)
		winstate_add(&a, i % 2 ? "x y=/%" : "dev\n1", 6, T0 + i * 1000000LL, MIN, s);
	{
		struct win_out_list none;
		memset(&none, 0, sizeof(none));
		winstate_emit(&a, T0 + MIN / 2, MIN, &none);
		win_out_list_release(&none);
	}
	winstate_save(&a, &t1);
	assert_int_equal(winstate_load(&b, (const char *)t1.data, t1.len, "t", &err), IOT_OK);
	winstate_save(&b, &t2);
	assert_int_equal(t1.len, t2.len);
	assert_memory_equal(t1.data, t2.data, t1.len);
	assert_true(b.max_event_us == a.max_event_us);
	assert_true(b.emitted_upto_us == a.emitted_upto_us);
	/* corrupt input is an error naming the file and line */
	assert_int_equal(winstate_load(&b, "max 1\nw 1 x\n", 12, "state-7", &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "state-7: line 2"));
	/* windows of a schema with another number of float fields cannot go
	 * on: a configuration error naming both counts, not "corrupt" */
	{
		struct winstate c;
		winstate_init(&c, 3);
		assert_int_equal(winstate_load(&c, (const char *)t1.data, t1.len, "state-8", &err),
				 IOT_ERR_CONFIG);
		assert_non_null(strstr(err.msg, "state-8: its open windows keep sums of 2 float "
						"fields, and the schema now has 3"));
		winstate_release(&c);
		winstate_init(&c, 1);
		assert_int_equal(winstate_load(&c, (const char *)t1.data, t1.len, "state-8", &err),
				 IOT_ERR_CONFIG);
		assert_non_null(strstr(err.msg, "sums of 2 float fields, and the schema now has 1"));
		/* without open windows a schema change is no matter */
		assert_int_equal(winstate_load(&c, "max 5\nemitted 3\n", 17, "state-8", &err),
				 IOT_OK);
		winstate_release(&c);
	}
	/* a state that names its fields is checked by name: the same count
	 * of other fields is refused too */
	{
		struct winstate c;
		buf_reset(&t2);
		a.fields = "temperature,event_duration";
		winstate_save(&a, &t2);
		assert_non_null(strstr((const char *)t2.data, "fields temperature,event_duration\n"));
		winstate_init(&c, 2);
		c.fields = "temperature,event_duration";
		assert_int_equal(winstate_load(&c, (const char *)t2.data, t2.len, "state-9", &err),
				 IOT_OK);
		assert_int_equal(c.open, a.open);
		c.fields = "temperature,humidity";
		assert_int_equal(winstate_load(&c, (const char *)t2.data, t2.len, "state-9", &err),
				 IOT_ERR_CONFIG);
		assert_non_null(strstr(err.msg, "state-9: its open windows keep sums of the float "
						"fields temperature,event_duration, and the schema now "
						"has temperature,humidity"));
		/* the same fields in another order: the sums follow their names */
		c.fields = "event_duration,temperature";
		assert_int_equal(winstate_load(&c, (const char *)t2.data, t2.len, "state-9", &err),
				 IOT_OK);
		assert_int_equal(c.open, a.open);
		assert_true(c.dev[0].n > 0 && a.dev[0].n > 0);
		assert_true(c.dev[0].w[0].sums[0] == a.dev[0].w[0].sums[1]);
		assert_true(c.dev[0].w[0].sums[1] == a.dev[0].w[0].sums[0]);
		assert_true(c.dev[0].w[0].sums[0] != c.dev[0].w[0].sums[1]);
		/* a name twice is not a reordering */
		c.fields = "temperature,temperature";
		assert_int_equal(winstate_load(&c, (const char *)t2.data, t2.len, "state-9", &err),
				 IOT_ERR_CONFIG);
		/* an older state, without the line: by count */
		assert_int_equal(winstate_load(&c, (const char *)t1.data, t1.len, "state-9", &err),
				 IOT_OK);
		winstate_release(&c);
	}
	buf_release(&t1);
	buf_release(&t2);
	winstate_release(&a);
	winstate_release(&b);
}

static void test_hive(void **state)
{
	struct buf b = BUF_INIT;
	struct hive_layout l;
	char why[200];
	(void)state;

	hive_escape(&b, "a/b=c%d:e f", 11);
	assert_string_equal(buf_str(&b), "a%2Fb%3Dc%25d%3Ae f");
	buf_reset(&b);
	hive_window_start(&b, T0 + 23 * 3600 * 1000000LL + 59 * MIN);
	assert_string_equal(buf_str(&b), "2025-01-01 23_59");
	buf_reset(&b);
	assert_int_equal(hive_layout_parse("device_id,window_start", 7, &l, why, sizeof(why)), 0);
	hive_path(&b, &l, "device_id_3", 11, T0);
	assert_string_equal(buf_str(&b), "device_id=device_id_3/window_start=2025-01-01 00_00/");
	/* the checkpoint's shape spells a layout as the setting does */
	buf_reset(&b);
	hive_layout_text(&b, &l);
	assert_string_equal(buf_str(&b), "device_id,window_start");
	assert_int_equal(hive_layout_parse("date,device_id", 7, &l, why, sizeof(why)), 0);
	buf_reset(&b);
	hive_layout_text(&b, &l);
	assert_string_equal(buf_str(&b), "date,device_id");
	assert_int_equal(hive_layout_parse("", 7, &l, why, sizeof(why)), 0);
	assert_int_equal(l.n, 0);
	buf_reset(&b);
	hive_layout_text(&b, &l);
	assert_string_equal(buf_str(&b), "none");
	assert_int_equal(hive_layout_parse("device_id,nonsense", 7, &l, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "nonsense"));
	assert_int_equal(hive_layout_parse("date,date", 7, &l, why, sizeof(why)), -1);
	buf_release(&b);
}

static void remove_tree(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_checkpoint_protocol(void **state)
{
	char dir[] = "/tmp/iotpipe-test-ckpt-XXXXXX";
	struct store *st = store_create();
	struct iot_error err = IOT_ERROR_INIT;
	struct ckpt_recovered r;
	struct ckpt_wal w = { 1, 0, 100, true, T0 }, other;
	struct buf payload = BUF_INIT;
	bool conflict;
	char *base;
	(void)state;

	assert_non_null(mkdtemp(dir));
	base = ckpt_partition_uri(dir, "topic", 3);
	/* nothing yet */
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_false(r.has_state);
	assert_false(r.has_wal);
	ckpt_recovered_release(&r);
	/* a plan without its commit: recovery must replay it */
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, NULL, NULL, &conflict, &other, &err), IOT_OK);
	assert_false(conflict);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_true(r.has_wal);
	assert_int_equal(r.wal.start, 0);
	assert_int_equal(r.wal.end, 100);
	assert_true(r.wal.emit_upto_us == T0);
	ckpt_recovered_release(&r);
	/* writing the same plan again is fine; a different one conflicts */
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, NULL, NULL, &conflict, &other, &err), IOT_OK);
	assert_false(conflict);
	w.end = 90;
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, NULL, NULL, &conflict, &other, &err), IOT_OK);
	assert_true(conflict);
	assert_int_equal(other.end, 100);
	/* commit it: recovery resumes after it, with the payload */
	buf_puts(&payload, "max -\nemitted -\n");
	assert_int_equal(ckpt_write_state(st, "aggregate", base, 1, 100, 0, NULL, &payload, &err), IOT_OK);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_true(r.has_state);
	assert_false(r.has_wal);
	assert_int_equal(r.batch, 1);
	assert_int_equal(r.next_offset, 100);
	assert_string_equal(buf_str(&r.payload), "max -\nemitted -\n");
	ckpt_recovered_release(&r);
	/* a second job pointed at the same location fails loudly */
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_ERR_STATE);
	assert_non_null(strstr(err.msg, "belongs to job 'aggregate'"));
	ckpt_recovered_release(&r);

	buf_release(&payload);
	free(base);
	store_destroy(st);
	remove_tree(dir);
}

/* The clean-up deletes every file of the batches before keep_from (each
 * once, on parallel workers) and keeps the rest: recovery still finds the
 * newest commit. */
static void test_checkpoint_gc(void **state)
{
	char dir[] = "/tmp/iotpipe-test-ckpt-XXXXXX";
	struct store *st = store_create();
	struct iot_error err = IOT_ERROR_INIT;
	struct ckpt_recovered r;
	struct buf payload = BUF_INIT;
	bool conflict;
	char *base;
	(void)state;

	assert_non_null(mkdtemp(dir));
	base = ckpt_partition_uri(dir, "topic", 1);
	for (uint64_t b = 1; b <= 20; b++) {
		struct ckpt_wal w = { b, (int64_t)(b - 1) * 10, (int64_t)b * 10, false, 0 }, other;
		assert_int_equal(ckpt_write_wal(st, "archive", base, &w, NULL, NULL, &conflict, &other,
						&err), IOT_OK);
		assert_int_equal(ckpt_write_state(st, "archive", base, b, (int64_t)b * 10, 0, NULL,
						  &payload, &err), IOT_OK);
	}
	ckpt_gc(st, base, 19);
	for (uint64_t b = 1; b <= 20; b++) {
		char *p = xasprintf("%sstate-%020" PRIu64, base, b);
		char *q = xasprintf("%swal-%020" PRIu64, base, b);
		assert_int_equal(access(p, F_OK) == 0, b >= 19);
		assert_int_equal(access(q, F_OK) == 0, b >= 19);
		free(p);
		free(q);
	}
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_int_equal(r.batch, 20);
	assert_int_equal(r.next_offset, 200);
	ckpt_recovered_release(&r);
	buf_release(&payload);
	free(base);
	store_destroy(st);
	remove_tree(dir);
}

/* A partition that lost its log goes on in a new epoch: its plan may start
 * elsewhere than the last commit's next offset, but only in a newer
 * epoch; epoch and source survive the round trip. */
static void test_checkpoint_epochs(void **state)
{
	char dir[] = "/tmp/iotpipe-test-ckpt-XXXXXX";
	struct store *st = store_create();
	struct iot_error err = IOT_ERROR_INIT;
	struct ckpt_recovered r;
	struct ckpt_wal w = { 4, 0, 50, false, 0, 1 }, other;
	const struct ckpt_origin abc = { "kafka:abc", NULL }, xyz = { "kafka:xyz", NULL };
	bool conflict;
	char *base;
	(void)state;

	assert_non_null(mkdtemp(dir));
	base = ckpt_partition_uri(dir, "topic", 0);
	assert_int_equal(ckpt_write_state(st, "archive", base, 3, 5000, 0, &abc, NULL, &err),
			 IOT_OK);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_int_equal(r.epoch, 0);
	assert_string_equal(r.source, "kafka:abc");
	ckpt_recovered_release(&r);
	/* epoch 1 starts at the new log's offset 0: a valid plan */
	assert_int_equal(ckpt_write_wal(st, "archive", base, &w, &xyz, NULL, &conflict, &other, &err),
			 IOT_OK);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_true(r.has_wal);
	assert_int_equal(r.wal.epoch, 1);
	assert_int_equal(r.wal.start, 0);
	assert_int_equal(r.epoch, 0); /* the state's */
	ckpt_recovered_release(&r);
	/* the same jump within one epoch is a corrupt checkpoint */
	assert_int_equal(ckpt_write_state(st, "archive", base, 3, 5000, 1, &xyz, NULL, &err),
			 IOT_OK);
	assert_int_equal(ckpt_write_state(st, "archive", base, 4, 50, 1, &xyz, NULL, &err),
			 IOT_OK);
	w = (struct ckpt_wal){ 5, 10, 60, false, 0, 1 };
	assert_int_equal(ckpt_write_wal(st, "archive", base, &w, &xyz, NULL, &conflict, &other, &err),
			 IOT_OK);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "plans offsets from 10 but the last commit ends at 50"));
	ckpt_recovered_release(&r);
	/* and a plan of an older epoch than the commit before it as well */
	iot_error_clear(&err);
	assert_int_equal(ckpt_write_state(st, "archive", base, 5, 60, 2, NULL, NULL, &err), IOT_OK);
	w = (struct ckpt_wal){ 6, 60, 70, false, 0, 1 };
	assert_int_equal(ckpt_write_wal(st, "archive", base, &w, NULL, NULL, &conflict, &other, &err),
			 IOT_OK);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_ERR_FORMAT);
	ckpt_recovered_release(&r);

	free(base);
	store_destroy(st);
	remove_tree(dir);
}

/* The output shape goes with every record: a checkpoint without one reads
 * as "", a plan's is the newer, and two plans that differ only in shape
 * conflict (the second writer must not write its objects). */
static void test_checkpoint_shape(void **state)
{
	char dir[] = "/tmp/iotpipe-test-ckpt-XXXXXX";
	struct store *st = store_create();
	struct iot_error err = IOT_ERROR_INIT;
	struct ckpt_recovered r;
	struct ckpt_wal w = { 2, 100, 200, true, 60000000, 0 }, other;
	const struct ckpt_origin by_dev = { NULL, "partition-by=device_id window=60" };
	const struct ckpt_origin by_date = { "kafka:x", "partition-by=date window=60" };
	bool conflict;
	char *base;
	(void)state;

	assert_non_null(mkdtemp(dir));
	base = ckpt_partition_uri(dir, "topic", 0);
	assert_int_equal(ckpt_write_state(st, "aggregate", base, 1, 100, 0, NULL, NULL, &err),
			 IOT_OK);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_string_equal(r.shape, "");
	ckpt_recovered_release(&r);
	assert_int_equal(ckpt_write_state(st, "aggregate", base, 1, 100, 0, &by_dev, NULL, &err),
			 IOT_OK);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_string_equal(r.shape, "partition-by=device_id window=60");
	ckpt_recovered_release(&r);
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, &by_dev, NULL, &conflict,
					&other, &err), IOT_OK);
	assert_false(conflict);
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, &by_dev, NULL, &conflict,
					&other, &err), IOT_OK);
	assert_false(conflict); /* a replay of the same plan */
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, &by_date, NULL, &conflict,
					&other, &err), IOT_OK);
	assert_true(conflict);
	assert_int_equal(ckpt_write_state(st, "aggregate", base, 2, 200, 0, &by_date, NULL, &err),
			 IOT_OK);
	w.batch = 3, w.start = 200, w.end = 300;
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, &by_dev, NULL, &conflict,
					&other, &err), IOT_OK);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_true(r.has_wal);
	assert_string_equal(r.shape, "partition-by=device_id window=60");
	assert_string_equal(r.source, "kafka:x");
	ckpt_recovered_release(&r);

	free(base);
	store_destroy(st);
	remove_tree(dir);
}

/* The run (ckpt.h) goes with plans and states, a plan's is the newer, two
 * plans that differ only in run conflict, and output names carry it; a
 * checkpoint without one keeps the names it had. */
static void test_checkpoint_run(void **state)
{
	char dir[] = "/tmp/iotpipe-test-ckpt-XXXXXX";
	struct store *st = store_create();
	struct iot_error err = IOT_ERROR_INIT;
	struct ckpt_recovered r;
	uint64_t run = ckpt_new_run(), other_run = ckpt_new_run();
	struct ckpt_wal w = { 1, 0, 100, false, 0, 0, 0, run }, other;
	struct ckpt_origin o = { NULL, "partition-by=device_id", NULL, run };
	struct buf name = BUF_INIT, text = BUF_INIT;
	char hex[17], *uri;
	bool conflict;
	char *base;
	(void)state;

	assert_true(run != 0 && other_run != 0 && run != other_run);
	assert_non_null(mkdtemp(dir));
	base = ckpt_partition_uri(dir, "topic", 0);
	/* nothing yet: no run */
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_int_equal(r.run, 0);
	ckpt_recovered_release(&r);
	/* a plan only (a crash before the first commit): the plan's run */
	assert_int_equal(ckpt_write_wal(st, "archive", base, &w, &o, NULL, &conflict, &other, &err),
			 IOT_OK);
	assert_false(conflict);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_true(r.has_wal && !r.has_state);
	assert_true(r.run == run && r.wal.run == run);
	ckpt_recovered_release(&r);
	/* the same plan under another run is another instance's */
	w.run = other_run;
	assert_int_equal(ckpt_write_wal(st, "archive", base, &w, &o, NULL, &conflict, &other, &err),
			 IOT_OK);
	assert_true(conflict);
	assert_true(other.run == run);
	/* the state carries it on */
	assert_int_equal(ckpt_write_state(st, "archive", base, 1, 100, 0, &o, NULL, &err), IOT_OK);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_true(r.has_state && !r.has_wal && r.run == run);
	ckpt_recovered_release(&r);
	/* a state without one (written before runs) reads as none */
	assert_int_equal(ckpt_write_state(st, "archive", base, 2, 200, 0, NULL, NULL, &err), IOT_OK);
	assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_OK);
	assert_int_equal(r.run, 0);
	ckpt_recovered_release(&r);
	/* a run that is not 16 lower-case hex digits, or zero, is corrupt */
	uri = xasprintf("%sstate-%020d", base, 3);
	for (size_t i = 0; i < 4; i++) {
		static const char *bad[] = { "0000000000000000", "abc", "ABCDEF0123456789",
					     "0123456789abcdefg" };
		buf_reset(&text);
		buf_printf(&text, "iotpipe-checkpoint 1\njob archive\nkind state\nbatch 3\nnext 300\n"
				  "run %s\n--\n", bad[i]);
		assert_int_equal(store_put(st, uri, text.data, text.len, 0, &err), IOT_OK);
		assert_int_equal(ckpt_recover(st, "archive", base, &r, &err), IOT_ERR_FORMAT);
		ckpt_recovered_release(&r);
		iot_error_clear(&err);
	}
	/* the run marker: absent, a run, run 0 (a checkpoint older than
	 * runs), corrupt */
	{
		bool marked = true;
		uint64_t got = 1;
		char *m = xasprintf("%srun", base);
		assert_int_equal(ckpt_marked_run(st, base, &marked, &got, &err), IOT_OK);
		assert_false(marked);
		assert_int_equal(got, 0);
		assert_int_equal(ckpt_mark_run(st, base, run, &err), IOT_OK);
		assert_int_equal(ckpt_marked_run(st, base, &marked, &got, &err), IOT_OK);
		assert_true(marked && got == run);
		assert_int_equal(ckpt_mark_run(st, base, 0, &err), IOT_OK);
		assert_int_equal(ckpt_marked_run(st, base, &marked, &got, &err), IOT_OK);
		assert_true(marked && got == 0);
		assert_int_equal(store_put(st, m, "iotpipe-run x\n", 14, 0, &err), IOT_OK);
		assert_int_equal(ckpt_marked_run(st, base, &marked, &got, &err), IOT_ERR_FORMAT);
		iot_error_clear(&err);
		free(m);
	}
	/* names */
	snprintf(hex, sizeof(hex), "%016" PRIx64, run);
	pqsink_file_name(&name, "t/x", 3, 12, 0);
	assert_string_equal(buf_str(&name), "part-t%2Fx-3-0000000012.parquet");
	buf_reset(&name);
	pqsink_file_name(&name, "t", 3, 12, 0x00ab);
	assert_string_equal(buf_str(&name), "part-t-3-0000000012-00000000000000ab.parquet");
	buf_reset(&name);
	pqsink_object_uri(&name, "s3://b/out", "device_id=d/", 12, "t", 0, 1, run);
	assert_true(!strncmp(buf_str(&name), "s3://b/out/device_id=d/part-t-0-0000000001-", 43));
	assert_non_null(strstr(buf_str(&name), hex));

	free(uri);
	buf_release(&name);
	buf_release(&text);
	free(base);
	store_destroy(st);
	remove_tree(dir);
}

/* A held window is not emitted, survives save/load with its group, takes
 * merged parts, and goes with the next emission once its group ends. */
static void test_windows_held_groups(void **state)
{
	struct winstate a, b;
	struct buf t1 = BUF_INIT, t2 = BUF_INIT;
	struct iot_error err = IOT_ERROR_INIT;
	struct win_out_list l;
	struct win_await aw[2] = { { 2, 7 }, { 5, 9 } };
	double s[2] = { 1.5, 2.0 }, part[2] = { 10.0, 20.0 };
	(void)state;

	winstate_init(&a, 2);
	winstate_init(&b, 2);
	memset(&l, 0, sizeof(l));
	winstate_add(&a, "d1", 2, T0 + 1, MIN, s);
	winstate_add(&a, "d2", 2, T0 + 2, MIN, s);
	assert_true(winstate_hold(&a, "d1", 2, T0, 4));
	assert_false(winstate_hold(&a, "d9", 2, T0, 4));
	winstate_group_add(&a, 4, aw, 2);
	winstate_emit(&a, T0 + MIN, MIN, &l);
	assert_int_equal(l.n, 1); /* d2 only */
	assert_memory_equal(l.items[0].key, "d2", 2);
	win_out_list_release(&l);
	/* an event for the held window is late, as for an emitted one */
	assert_true(winstate_is_late(&a, T0 + 5, MIN));
	winstate_save(&a, &t1);
	assert_non_null(strstr(buf_str(&t1), "\ng 4 2:7 5:9\n"));
	assert_int_equal(winstate_load(&b, (const char *)t1.data, t1.len, "t", &err), IOT_OK);
	winstate_save(&b, &t2);
	assert_int_equal(t1.len, t2.len);
	assert_memory_equal(t1.data, t2.data, t1.len);
	assert_int_equal(b.ngroups, 1);
	/* a hand-over merges into the held window; ending the group frees it */
	winstate_merge(&b, "d1", 2, T0, 3, part, 4);
	winstate_merge(&b, "d3", 2, T0, 2, part, 4);
	assert_true(winstate_group_end(&b, 4));
	assert_false(winstate_group_end(&b, 4));
	winstate_emit(&b, T0 + MIN, MIN, &l);
	assert_int_equal(l.n, 2);
	assert_memory_equal(l.items[0].key, "d1", 2);
	assert_int_equal(l.items[0].count, 4);
	assert_true(l.items[0].sums[0] == 11.5 && l.items[0].sums[1] == 22.0);
	assert_int_equal(l.items[1].count, 2);
	win_out_list_release(&l);
	/* a held window whose group is not listed is corrupt */
	assert_int_equal(winstate_load(&b, "h 3 0 1 6431 0x1p+0 0x1p+0\n", 27, "state-9", &err),
			 IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "state-9"));
	buf_release(&t1);
	buf_release(&t2);
	winstate_release(&a);
	winstate_release(&b);
}

/* The merge plan's text round-trips exactly, keys with any byte; the wal
 * carries it, and a different plan for the same batch conflicts. */
static void test_merge_plan(void **state)
{
	char dir[] = "/tmp/iotpipe-test-merge-XXXXXX";
	struct merge_plan m = { 0 }, n = { 0 };
	struct buf t1 = BUF_INIT, t2 = BUF_INIT;
	struct iot_error err = IOT_ERROR_INIT;
	struct store *st = store_create();
	struct ckpt_wal w = { 1, 10, 20, true, T0 }, other;
	struct ckpt_recovered r;
	bool conflict;
	char *base, *uri;
	(void)state;

	merge_plan_hold(&m, "a b\n\x01", 5, T0);
	merge_plan_await(&m, 3, 8);
	merge_plan_await(&m, 3, 8);
	merge_plan_await(&m, 1, 2);
	merge_plan_give(&m, "k", 1, -MIN, 0, 4);
	merge_plan_end(&m, 2, 5, 6, true);
	merge_plan_end(&m, 2, 6, 6, false);
	assert_int_equal(m.nawait, 2);
	merge_plan_save(&m, &t1);
	assert_int_equal(merge_plan_load(&n, (const char *)t1.data, t1.len, "wal-3", &err), IOT_OK);
	merge_plan_save(&n, &t2);
	assert_int_equal(t1.len, t2.len);
	assert_memory_equal(t1.data, t2.data, t1.len);
	assert_int_equal(n.nhold, 1);
	assert_int_equal(n.hold[0].key_len, 5);
	assert_memory_equal(merge_key(&n, &n.hold[0]), "a b\n\x01", 5);
	assert_true(n.end[0].present && !n.end[1].present);
	assert_int_equal(merge_plan_load(&n, "give 1 0 5 6b\n", 14, "wal-4", &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "wal-4: line 1"));
	assert_int_equal(merge_plan_load(&n, "hold 5 6\n", 9, "wal-5", &err), IOT_ERR_FORMAT);
	/* a plan without merge lines: its text is empty, not allocated */
	assert_int_equal(merge_plan_load(&n, NULL, 0, "wal-6", &err), IOT_OK);
	assert_int_equal(n.nhold, 0);

	assert_non_null(mkdtemp(dir));
	base = ckpt_partition_uri(dir, "topic", 0);
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, NULL, &t1, &conflict, &other, &err),
			 IOT_OK);
	assert_false(conflict);
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, NULL, &t1, &conflict, &other, &err),
			 IOT_OK);
	assert_false(conflict);
	assert_int_equal(ckpt_write_wal(st, "aggregate", base, &w, NULL, NULL, &conflict, &other, &err),
			 IOT_OK);
	assert_true(conflict);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_true(r.has_wal);
	assert_int_equal(r.wal_plan.len, t1.len);
	assert_memory_equal(r.wal_plan.data, t1.data, t1.len);
	ckpt_recovered_release(&r);
	/* hand-over objects do not disturb the checkpoint's listing */
	uri = merge_handoff_uri(base, 3, 1, 2);
	assert_non_null(strstr(uri, "/partition=0/handoff-"));
	assert_int_equal(store_put(st, uri, "w 0 1 6b 0x1p+0\n", 16, 0, &err), IOT_OK);
	assert_int_equal(ckpt_recover(st, "aggregate", base, &r, &err), IOT_OK);
	assert_true(r.has_wal);
	assert_int_equal(r.wal.batch, 1);
	ckpt_recovered_release(&r);
	free(uri);
	free(base);
	store_destroy(st);
	remove_tree(dir);
	merge_plan_release(&m);
	merge_plan_release(&n);
	buf_release(&t1);
	buf_release(&t2);
}

/* The watermark: the slowest active partition less the delay; idle
 * partitions do not hold it; one without events holds it until it is at
 * its end or idle; all idle, it moves on with processing time; without a
 * clock (--once) nothing is idle; it never goes backwards. */
static void test_watermark(void **state)
{
	struct winstate a, b, none;
	struct wm_part v[3];
	bool has = false;
	int64_t wm = 0;
	const int64_t S = 1000000;
	(void)state;

	winstate_init(&a, 0);
	winstate_init(&b, 0);
	winstate_init(&none, 0);
	a.has_max = b.has_max = true;
	a.max_event_us = 100 * S;
	b.max_event_us = 50 * S;
	v[0] = (struct wm_part){ &a, 10.0, false };
	v[1] = (struct wm_part){ &b, 1.0, false };
	v[2] = (struct wm_part){ &none, 0.0, false };
	assert_false(watermark_advance(v + 2, 1, 12.0, 60, 5 * S, &has, &wm));
	assert_false(has);
	/* a partition without an event, neither at its end nor idle, holds
	 * it: its unread records may belong to the windows a and b would
	 * close. Idle (12 s, timeout 10) or at its end, it does not count. */
	assert_false(watermark_advance(v, 3, 12.0, 60, 5 * S, &has, &wm));
	assert_false(has);
	assert_true(watermark_advance(v, 3, 12.0, 10, 5 * S, &has, &wm));
	assert_int_equal(wm, 95 * S); /* b idle too */
	has = false;
	v[2].at_end = true;
	/* both active: the slower one */
	assert_true(watermark_advance(v, 3, 12.0, 60, 5 * S, &has, &wm));
	assert_true(has);
	assert_int_equal(wm, 45 * S);
	/* b idle (11 s without records, timeout 10): a alone */
	assert_true(watermark_advance(v, 3, 12.0, 10, 5 * S, &has, &wm));
	assert_int_equal(wm, 95 * S);
	/* b active again cannot move it back */
	assert_true(watermark_advance(v, 3, 12.0, 60, 5 * S, &has, &wm));
	assert_int_equal(wm, 95 * S);
	/* all idle: the latest event time, plus the time since the last record */
	assert_true(watermark_advance(v, 3, 30.0, 10, 5 * S, &has, &wm));
	assert_int_equal(wm, 115 * S);
	/* no clock (--once): never idle, whatever the time */
	has = false;
	assert_true(watermark_advance(v, 3, 1e9, 0, 5 * S, &has, &wm));
	assert_int_equal(wm, 45 * S);
	/* held where it is, not moved back, by a partition without events
	 * that is not at its end */
	v[2].at_end = false;
	a.max_event_us = b.max_event_us = 200 * S;
	assert_true(watermark_advance(v, 3, 1e9, 0, 5 * S, &has, &wm));
	assert_int_equal(wm, 45 * S);
	v[2].at_end = true;
	assert_true(watermark_advance(v, 3, 1e9, 0, 5 * S, &has, &wm));
	assert_int_equal(wm, 195 * S);
	winstate_release(&a);
	winstate_release(&b);
	winstate_release(&none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_align),
		cmocka_unit_test(test_watermark),
		cmocka_unit_test(test_windows_emit_and_late),
		cmocka_unit_test(test_windows_save_load_exact),
		cmocka_unit_test(test_windows_held_groups),
		cmocka_unit_test(test_merge_plan),
		cmocka_unit_test(test_hive),
		cmocka_unit_test(test_checkpoint_protocol),
		cmocka_unit_test(test_checkpoint_epochs),
		cmocka_unit_test(test_checkpoint_shape),
		cmocka_unit_test(test_checkpoint_run),
		cmocka_unit_test(test_checkpoint_gc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
