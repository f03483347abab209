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
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
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
 * the first value: libyaml keeps both pairs and each overwrote the last. */
static void test_schema_duplicate_keys_leak(void **state)
{
	struct iot_config cfg;
	struct event_schema *s;
	(void)state;

	s = load(&cfg, "event_schema:\n"
		       "  name: first\n"
		       "  version: \"1\"\n"
		       "  name: second\n"
		       "  version: \"2\"\n"
		       "  fields:\n"
		       "    - {name: a, type: datetime, name: t}\n");
	assert_string_equal(s->name, "second");
	assert_string_equal(s->version, "2");
	assert_int_equal(s->nfields, 1);
	assert_string_equal(s->fields[0].name, "t");
	assert_string_equal(s->fields[0].json_key, "\"t\": ");
	config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_duplicate_keys_leak),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
