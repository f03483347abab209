/*
 * test_config_fuzz.c - regressions found by fuzzing the config loader
 * (fuzz/fuzz_config.c), each named after what broke. Leaks fail under the
 * sanitizer build (make test-asan) and make memcheck; the plain build
 * checks the values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "event/codec.h"
#include "event/generate.h"
#include "event/schema.h"

static struct event_schema *load(struct iot_config *cfg, const char *yaml)
{
	struct iot_error err = IOT_ERROR_INIT;

	config_init(cfg);
	if (config_load_string(cfg, "test.yml", yaml, &err) != IOT_OK)
		fail_msg("%s", err.msg);
	assert_non_null(cfg->schema);
	return cfg->schema;
}

/* A duplicate name or version in event_schema (or name in a field) leaked
 * the first value: libyaml keeps both pairs and each overwrote the last.
 * Duplicate keys are now refused while parsing (test_config_strict.c);
 * the error path must not leak either. */
static void test_schema_duplicate_keys_leak(void **state)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	(void)state;

	config_init(&cfg);
	assert_int_equal(config_load_string(&cfg, "test.yml",
					    "event_schema:\n"
					    "  name: first\n"
					    "  version: \"1\"\n"
					    "  fields:\n"
					    "    - {name: a, type: datetime, name: t}\n",
					    &err),
			 IOT_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "test.yml:5: duplicate key 'name'"));
	config_release(&cfg);
}

static void expect_error(const char *yaml, const char *want)
{
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;

	config_init(&cfg);
	if (config_load_string(&cfg, "test.yml", yaml, &err) == IOT_OK)
		fail_msg("accepted: %s", yaml);
	assert_int_equal(err.code, IOT_ERR_CONFIG);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	config_release(&cfg);
}

/* An int field's generate bounds reached generate.c unchecked: min -1e300
 * was converted to int64_t (UB), min/max +-9e18 overflowed max - min + 1,
 * and a range without an integer made it divide by zero (SIGFPE in
 * `iotpipe produce`). */
static void test_schema_int_generate_range_ub(void **state)
{
	static const char head[] = "event_schema:\n  fields:\n"
				   "    - {name: t, type: datetime}\n";
	static const char *const bad[] = {
		"    - {name: n, type: int, generate: {min: -1e300, max: 1e300}}\n",
		"    - {name: n, type: int, generate: {min: -9e18, max: 9e18}}\n",
		"    - {name: n, type: int, generate: {min: 0.2, max: 0.8}}\n",
		"    - {name: n, type: int, generate: {distribution: normal, mean: 1e19, stddev: 1}}\n",
	};
	struct iot_config cfg;
	struct event_schema *s;
	char yaml[512];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "%s%s", head, bad[i]);
		expect_error(yaml, "int generation needs bounds within +-2^53");
	}
	/* the edges still load, and floats keep their wide ranges */
	snprintf(yaml, sizeof(yaml), "%s%s%s", head,
		 "    - {name: n, type: int, generate: {min: -9007199254740992, max: 9007199254740992}}\n",
		 "    - {name: x, type: float, generate: {min: -1e300, max: 1e300}}\n");
	s = load(&cfg, yaml);
	assert_int_equal(s->nfields, 3);
	assert_true(s->fields[1].gen.a == -0x1p53);
	config_release(&cfg);
	snprintf(yaml, sizeof(yaml), "%s%s", head,
		 "    - {name: n, type: int, generate: {min: 0.5, max: 1.5}}\n");
	s = load(&cfg, yaml);
	config_release(&cfg);
}

/* A long key prefix (or one with a control character) was accepted: the
 * producer then sent keys like <300 bytes>1, which the decoder rejects as
 * bad_key, so every simulated event was invalid. */
static void test_schema_key_prefix_unusable(void **state)
{
	char yaml[1024], prefix[300];
	struct iot_config cfg;
	struct event_schema *s;
	(void)state;

	memset(prefix, 'p', sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = '\0';
	snprintf(yaml, sizeof(yaml), "event_schema:\n  key: {prefix: %s}\n"
		 "  fields: [{name: t, type: datetime}]\n", prefix);
	expect_error(yaml, "the key prefix is longer than 236 bytes");
	expect_error("event_schema:\n  key: {prefix: \"dev\\tice_\"}\n"
		     "  fields: [{name: t, type: datetime}]\n",
		     "the key prefix has a control character");
	/* the default prefix comes from the key name, checked the same way */
	snprintf(yaml, sizeof(yaml), "event_schema:\n  key: {name: %s}\n"
		 "  fields: [{name: t, type: datetime}]\n", prefix);
	expect_error(yaml, "the key prefix is longer than 236 bytes");
	/* keys must also make an output directory: device_id=<escaped key>
	 * within 255 bytes, with up to 10 digits of device number */
	prefix[236] = '\0';
	snprintf(yaml, sizeof(yaml), "event_schema:\n  key: {prefix: %s}\n"
		 "  fields: [{name: t, type: datetime}]\n", prefix);
	expect_error(yaml, "the key prefix makes keys too long for an output directory");
	prefix[235] = '\0';
	snprintf(yaml, sizeof(yaml), "event_schema:\n  key: {prefix: %s}\n"
		 "  fields: [{name: t, type: datetime}]\n", prefix);
	s = load(&cfg, yaml);
	assert_int_equal(strlen(s->key_prefix), 235);
	config_release(&cfg);
	/* found by fuzz_config: 80 '=' pass the length check but escape to
	 * 240 bytes (%3D each); every generated key was key_unsafe */
	memset(prefix, '=', 80);
	prefix[80] = '\0';
	snprintf(yaml, sizeof(yaml), "event_schema:\n  key: {prefix: \"%s\"}\n"
		 "  fields: [{name: t, type: datetime}]\n", prefix);
	expect_error(yaml, "the key prefix makes keys too long for an output directory");
}

/* A float whose scaled value passed 2^63 (min 1e12, max 2e12, decimals 9)
 * went through llround() out of range: the simulator rounded it and the
 * encoder printed it as -9223372036.854775808. */
static void test_generate_float_decimals_overflow(void **state)
{
	struct iot_config cfg;
	struct event_schema *s;
	struct gen_options o = GEN_OPTIONS_INIT;
	struct generator *g;
	struct ev_decoder *dec;
	struct gen_record rec;
	struct event ev;
	char text[1024];
	(void)state;

	s = load(&cfg, "event_schema:\n  fields:\n"
		       "    - {name: t, type: datetime}\n"
		       "    - {name: x, type: float, generate: {min: 1e12, max: 2e12, decimals: 9}}\n"
		       "    - {name: y, type: float, generate: {min: -1e300, max: -1e299, decimals: 2}}\n"
		       "    - {name: z, type: float, generate: {min: 20, max: 30, decimals: 2}}\n");
	g = generator_create(s, &o);
	dec = ev_decoder_create(s);
	for (int i = 0; i < 100; i++) {
		struct ev_result r;
		generator_next(g, 1732525200000000LL, &rec);
		r = ev_decode(dec, rec.key, rec.key_len, rec.value, rec.value_len, &ev);
		assert_int_equal(r.status, EV_VALID);
		if (!(ev.v[1].d >= 1e12 && ev.v[1].d < 2e12) ||
		    !(ev.v[2].d >= -1e300 && ev.v[2].d < -1e299) ||
		    !(ev.v[3].d >= 20 && ev.v[3].d < 30))
			fail_msg("out of the generate range: %.*s", (int)rec.value_len, rec.value);
		/* small values keep their fixed decimals: "z": 2d.dd} */
		assert_true(rec.value_len > 12 && rec.value_len < sizeof(text));
		memcpy(text, rec.value, rec.value_len);
		text[rec.value_len] = '\0';
		if (!strstr(text, "\"z\": 2") || text[rec.value_len - 4] != '.')
			fail_msg("z not printed with 2 decimals: %s", text);
	}
	ev_decoder_destroy(dec);
	generator_destroy(g);
	config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_duplicate_keys_leak),
		cmocka_unit_test(test_schema_int_generate_range_ub),
		cmocka_unit_test(test_schema_key_prefix_unusable),
		cmocka_unit_test(test_generate_float_decimals_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
