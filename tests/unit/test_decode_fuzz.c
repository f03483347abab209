/*
 * test_decode_fuzz.c - regressions found by fuzzing the JSON event decoder
 * (fuzz/fuzz_decode.c), each named after what broke.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "event/codec.h"
#include "event/schema.h"
#include "event/timeparse.h"

static struct ev_result decode(const char *json, struct event *ev)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct ev_decoder *dec;
	struct ev_result r;

	config_init(&cfg);
	if (config_load_string(&cfg, "built-in", config_default_schema_yaml, &err))
		fail_msg("%s", err.msg);
	dec = ev_decoder_create(cfg.schema);
	r = ev_decode(dec, "device_id_1", 11, json, strlen(json), ev);
	ev_decoder_destroy(dec);
	config_release(&cfg);
	return r;
}

/*
 * An epoch timestamp with more than 19 significant digits took the
 * inexact path, which skipped the year 1..9999 range check: year -6000
 * was VALID, while the same time written with fewer digits was
 * bad_timestamp (found by the fuzzer's encode/decode round trip).
 */
static void test_epoch_inexact_out_of_range(void **state)
{
	struct event ev;
	struct ev_result r;
	(void)state;

	r = decode("{\"timestamp\": -253402300799.00000000001, \"temperature\": 1, "
		   "\"event_duration\": 2, \"status\": \"ok\"}", &ev);
	assert_int_equal(r.status, EV_INVALID);
	assert_int_equal(r.reason, EV_R_BAD_TIMESTAMP);
	r = decode("{\"timestamp\": -253402300799, \"temperature\": 1, "
		   "\"event_duration\": 2, \"status\": \"ok\"}", &ev);
	assert_int_equal(r.reason, EV_R_BAD_TIMESTAMP);
	/* inside the range, the inexact path still converts */
	r = decode("{\"timestamp\": 1732525200.00000000001, \"temperature\": 1, "
		   "\"event_duration\": 2, \"status\": \"ok\"}", &ev);
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 1732525200000000LL);
	r = decode("{\"timestamp\": 253402300000.00000000001, \"temperature\": 1, "
		   "\"event_duration\": 2, \"status\": \"ok\"}", &ev);
	assert_int_equal(r.status, EV_VALID);
	assert_true(ev.time_us <= TIME_MAX_US);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_inexact_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
