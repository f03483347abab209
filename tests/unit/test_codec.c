/*
 * test_codec.c - the JSON event decoder and encoder against the reference
 * schema: every invalid case of docs/design.md §3, filtering, epoch and
 * ISO-8601 timestamps, escapes and unicode, numbers at the edges, garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "event/codec.h"
#include "event/generate.h"
#include "event/schema.h"

static struct iot_config cfg;
static struct ev_decoder *dec;
static struct event ev;
enum { F_TS, F_TEMP, F_DUR, F_STATUS };

static int setup(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	(void)state;
	config_init(&cfg);
	if (config_load_files(&cfg, (const char *const[]){ "config/event_schema.yml" }, 1, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	dec = ev_decoder_create(cfg.schema);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ev_decoder_destroy(dec);
	config_release(&cfg);
	return 0;
}

static struct ev_result dec_kv(const char *key, const char *json)
{
	return ev_decode(dec, key, key ? strlen(key) : 0, json, strlen(json), &ev);
}

static struct ev_result dec_s(const char *json)
{
	return dec_kv("device_id_1", json);
}

#define GOOD "\"temperature\": 24.37, \"event_duration\": 10.12, \"status\": \"ok\""

static void assert_invalid(const char *json, enum ev_reason want, int field)
{
	struct ev_result r = dec_s(json);
	if (r.status != EV_INVALID || r.reason != want || r.field != field)
		fail_msg("%s: got status %d reason %s field %d, want %s field %d",
			 json, r.status, ev_reason_name(r.reason), r.field,
			 ev_reason_name(want), field);
}

static void test_valid_epoch(void **state)
{
	struct ev_result r;
	(void)state;
	r = dec_s("{\"timestamp\": 1732525200.123, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 1732525200123000LL);
	assert_true(ev.v[F_TEMP].d == 24.37);
	assert_true(ev.v[F_DUR].d == 10.12);
	assert_int_equal(ev.v[F_STATUS].i, 0);
	assert_int_equal(ev.key_len, 11);
	/* microsecond precision survives (the reference rounded to ~2 min) */
	r = dec_s("{\"timestamp\": 1732525200.123457, " GOOD "}");
	assert_int_equal(ev.time_us, 1732525200123457LL);
	/* sub-microsecond digits round half away from zero */
	r = dec_s("{\"timestamp\": 1732525200.1234565, " GOOD "}");
	assert_int_equal(ev.time_us, 1732525200123457LL);
	r = dec_s("{\"timestamp\": 1732525200, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 1732525200000000LL);
	r = dec_s("{\"timestamp\": 1.7325252e9, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 1732525200000000LL);
	r = dec_s("{\"timestamp\": -1.5, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, -1500000LL);
}

static void test_valid_iso(void **state)
{
	struct {
		const char *ts;
		int64_t us;
	} cases[] = {
		{ "2024-11-25T09:00:00Z", 1732525200000000LL },
		{ "2024-11-25T09:00:00.123456Z", 1732525200123456LL },
		{ "2024-11-25 09:00:00", 1732525200000000LL },
		{ "2024-11-25T10:00:00+01:00", 1732525200000000LL },
		{ "2024-11-25T08:30:00-0030", 1732525200000000LL },
		{ "2024-11-25", 1732492800000000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000000LL },
		{ "1970-01-01T00:00:00.000001Z", 1 },
		{ "1969-12-31T23:59:59.999999Z", -1 },
		{ "2024-11-25T09:00:00.1234567Z", 1732525200123457LL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[256];
		struct ev_result r;
		snprintf(json, sizeof(json), "{\"timestamp\": \"%s\", " GOOD "}", cases[i].ts);
		r = dec_s(json);
		if (r.status != EV_VALID || ev.time_us != cases[i].us)
			fail_msg("%s: status %d time %lld want %lld", cases[i].ts, r.status,
				 (long long)ev.time_us, (long long)cases[i].us);
	}
}

static void test_bad_timestamps(void **state)
{
	const char *bad[] = { "\"2023-02-29T00:00:00Z\"", "\"2024-13-01\"",
			      "\"2024-11-25T24:00:00Z\"", "\"yesterday\"",
			      "\"2024-11-25T09:00:00Zjunk\"", "\"\"",
			      "1e300", "-1e20", "\"2024-11-25T09:00:00.Z\"",
			      /* mantissa * 10^(exp+6) wraps to exactly 0 mod 2^64:
			       * was taken as 0, 1970-01-01 */
			      "70368744177664e12", "-70368744177664e12",
			      /* the exponent's digits past the old cap of 100000 */
			      "1e1000010", "1.5e99999999999999999999" };
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json), "{\"timestamp\": %s, " GOOD "}", bad[i]);
		assert_invalid(json, EV_R_BAD_TIMESTAMP, F_TS);
	}
	assert_invalid("{\"timestamp\": true, " GOOD "}", EV_R_WRONG_TYPE, F_TS);
	assert_invalid("{\"timestamp\": {}, " GOOD "}", EV_R_WRONG_TYPE, F_TS);
}

/* Zero with any exponent is 1970-01-01; a huge exponent after a long run
 * of leading zeros is read whole: 0.<1,000,000 zeros>1796291974e1000010
 * is 1796291974 (it was 0: the exponent's digits stopped at 100000). */
static void test_timestamp_exponents(void **state)
{
	static const char head[] = "{\"timestamp\": 0.", tail[] = "1796291974e1000010, " GOOD "}";
	size_t zeros = 1000000, n = sizeof(head) - 1 + zeros + sizeof(tail);
	char *json = malloc(n);
	struct ev_result r;
	(void)state;
	r = dec_s("{\"timestamp\": 0e30, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 0);
	r = dec_s("{\"timestamp\": -0.0e-99999999999, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 0);
	assert_non_null(json);
	memcpy(json, head, sizeof(head) - 1);
	memset(json + sizeof(head) - 1, '0', zeros);
	memcpy(json + sizeof(head) - 1 + zeros, tail, sizeof(tail));
	r = dec_s(json);
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 1796291974000000LL);
	free(json);
}

static void test_invalid_cases(void **state)
{
	(void)state;
	/* missing, null, wrong type for each required field */
	assert_invalid("{" GOOD "}", EV_R_MISSING_FIELD, F_TS);
	assert_invalid("{\"timestamp\": 1, \"event_duration\": 1, \"status\": \"ok\"}",
		       EV_R_MISSING_FIELD, F_TEMP);
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"status\": \"ok\"}",
		       EV_R_MISSING_FIELD, F_DUR);
	assert_invalid("{\"timestamp\": null, " GOOD "}", EV_R_NULL_FIELD, F_TS);
	assert_invalid("{\"timestamp\": 1, \"temperature\": null, \"event_duration\": 1}",
		       EV_R_NULL_FIELD, F_TEMP);
	assert_invalid("{\"timestamp\": 1, \"temperature\": \"24.3\", \"event_duration\": 1}",
		       EV_R_WRONG_TYPE, F_TEMP);
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": [1]}",
		       EV_R_WRONG_TYPE, F_DUR);
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": \"fine\"}",
		       EV_R_BAD_ENUM, F_STATUS);
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": 3}",
		       EV_R_WRONG_TYPE, F_STATUS);
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1e999, \"event_duration\": 1}",
		       EV_R_OUT_OF_RANGE, F_TEMP);
	/* not an object */
	assert_invalid("[1, 2]", EV_R_NOT_OBJECT, -1);
	assert_invalid("\"text\"", EV_R_NOT_OBJECT, -1);
	assert_invalid("42", EV_R_NOT_OBJECT, -1);
	assert_invalid("null", EV_R_NOT_OBJECT, -1);
	/* not JSON */
	assert_invalid("", EV_R_NOT_JSON, -1);
	assert_invalid("   ", EV_R_NOT_JSON, -1);
	assert_invalid("{", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": 1,}", EV_R_NOT_JSON, -1);
	assert_invalid("{'timestamp': 1}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": 01, " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": 1., " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": .5, " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": +1, " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": NaN, " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": 1, " GOOD "} x", EV_R_NOT_JSON, -1);
	assert_invalid("{\"timestamp\": 1, " GOOD "}{}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"a\": \"tab\there\", \"timestamp\": 1, " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"a\": \"\\x\", \"timestamp\": 1, " GOOD "}", EV_R_NOT_JSON, -1);
	assert_invalid("{\"a\": tru, \"timestamp\": 1, " GOOD "}", EV_R_NOT_JSON, -1);
	/* a semantic error before a syntax error is still not_json */
	assert_invalid("{\"temperature\": \"x\", \"timestamp\": 1, ", EV_R_NOT_JSON, -1);
	/* the key */
	{
		struct ev_result r = dec_kv(NULL, "{\"timestamp\": 1, " GOOD "}");
		assert_int_equal(r.reason, EV_R_MISSING_KEY);
		r = dec_kv("", "{\"timestamp\": 1, " GOOD "}");
		assert_int_equal(r.reason, EV_R_MISSING_KEY);
		r = ev_decode(dec, "\xff\xfe", 2, "{\"timestamp\": 1, " GOOD "}",
			      strlen("{\"timestamp\": 1, " GOOD "}"), &ev);
		assert_int_equal(r.reason, EV_R_BAD_KEY);
	}
	/* keys that make no output directory (hive_key_ok): a record with one
	 * would fail its batch at every replay */
	{
		char k[EV_MAX_KEY_LEN];
		const char *v = "{\"timestamp\": 1, " GOOD "}";
		struct ev_result r;
		memset(k, 'k', sizeof(k));
		r = ev_decode(dec, k, sizeof(k), v, strlen(v), &ev);
		assert_int_equal(r.status, EV_INVALID);
		assert_int_equal(r.reason, EV_R_KEY_UNSAFE);
		memset(k, '/', 100);
		r = ev_decode(dec, k, 100, v, strlen(v), &ev);
		assert_int_equal(r.reason, EV_R_KEY_UNSAFE);
		r = dec_kv("__HIVE_DEFAULT_PARTITION__", v);
		assert_int_equal(r.reason, EV_R_KEY_UNSAFE);
		r = ev_decode(dec, k, 81, v, strlen(v), &ev);
		assert_int_equal(r.status, EV_VALID);
		assert_string_equal(ev_reason_name(EV_R_KEY_UNSAFE), "key_unsafe");
	}
}

static void test_filtering(void **state)
{
	struct ev_result r;
	(void)state;
	r = dec_s("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": \"error\"}");
	assert_int_equal(r.status, EV_FILTERED);
	assert_int_equal(r.field, F_STATUS);
	r = dec_s("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1}");
	assert_int_equal(r.status, EV_FILTERED);
	r = dec_s("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": null}");
	assert_int_equal(r.status, EV_FILTERED);
	r = dec_s("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": \"warning\"}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.v[F_STATUS].i, 1);
}

static void test_escapes_unicode_extra(void **state)
{
	struct ev_result r;
	(void)state;
	/* escaped key and value, unknown fields of every JSON type ignored */
	r = dec_s("{\"extra\": {\"a\": [1, 2.5e-3, true, false, null, \"\\u00e9\\ud83d\\ude00\"]},"
		  " \"tim\\u0065stamp\": 1, \"temperature\": -0.0, \"event_duration\": 1E2,"
		  " \"status\": \"\\u006fk\", \"note\": \"caf\xc3\xa9 \\\"q\\\" \\\\ \\/\"}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 1000000);
	assert_true(ev.v[F_DUR].d == 100.0);
	assert_int_equal(ev.v[F_STATUS].i, 0);
	/* lone surrogate in an enum value */
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": \"\\ud800\"}",
		       EV_R_BAD_UTF8, F_STATUS);
	/* raw invalid UTF-8 in an enum value */
	assert_invalid("{\"timestamp\": 1, \"temperature\": 1, \"event_duration\": 1, \"status\": \"o\xc0\"}",
		       EV_R_BAD_UTF8, F_STATUS);
	/* duplicate keys: the last one wins, as in most JSON parsers */
	r = dec_s("{\"timestamp\": \"bad\", \"timestamp\": 2, " GOOD "}");
	assert_int_equal(r.status, EV_VALID);
	assert_int_equal(ev.time_us, 2000000);
	/* deep nesting in an ignored field is bounded, not a stack overflow */
	{
		char deep[400];
		memset(deep, '[', 200);
		memset(deep + 200, ']', 200);
		char json[600];
		snprintf(json, sizeof(json), "{\"x\": %.*s, \"timestamp\": 1, " GOOD "}", 400, deep);
		assert_invalid(json, EV_R_NOT_JSON, -1);
		snprintf(json, sizeof(json), "{\"x\": %.*s%.*s, \"timestamp\": 1, " GOOD "}",
			 20, deep, 20, deep + 200);
		assert_int_equal(dec_s(json).status, EV_VALID);
	}
}

static void test_numbers(void **state)
{
	struct {
		const char *text;
		double want;
	} cases[] = {
		{ "0", 0.0 }, { "-0", -0.0 }, { "24.37", 24.37 }, { "1e-7", 1e-7 },
		{ "123456789012345678901234567890", 123456789012345678901234567890.0 },
		{ "0.1000000000000000055511151231257827", 0.1 },
		{ "2.2250738585072014e-308", 2.2250738585072014e-308 },
		{ "1.7976931348623157e308", 1.7976931348623157e308 },
		{ "9007199254740993", 9007199254740993.0 },
		{ "4.9e-324", 4.9e-324 },
		{ "0.000001", 0.000001 },
		{ "100.00", 100.0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json),
			 "{\"timestamp\": 1, \"temperature\": %s, \"event_duration\": 1, \"status\": \"ok\"}",
			 cases[i].text);
		assert_int_equal(dec_s(json).status, EV_VALID);
		if (memcmp(&ev.v[F_TEMP].d, &cases[i].want, sizeof(double)))
			fail_msg("%s decoded as %.17g", cases[i].text, ev.v[F_TEMP].d);
	}
}

static void test_garbage_never_crashes(void **state)
{
	uint64_t x = 12345;
	uint8_t b[64];
	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(i % 64);
		for (size_t j = 0; j < n; j++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			b[j] = (uint8_t)(x >> 56);
		}
		struct ev_result r = ev_decode(dec, "k", 1, b, n, &ev);
		assert_int_not_equal(r.status, EV_VALID);
		assert_true(r.reason != EV_R_NONE);
	}
}

static void test_roundtrip_generator(void **state)
{
	struct gen_options o = GEN_OPTIONS_INIT;
	struct generator *g;
	int counts[GEN__KINDS] = { 0 }, invalid_seen = 0;
	(void)state;
	o.seed = 7;
	o.devices = 5;
	o.invalid_fraction = 0.1;
	o.late_fraction = 0.1;
	o.duplicate_fraction = 0.1;
	g = generator_create(cfg.schema, &o);
	for (int i = 0; i < 20000; i++) {
		struct gen_record r;
		struct ev_result res;
		generator_next(g, 1732525200000000LL + i * 1000LL, &r);
		counts[r.kind]++;
		res = ev_decode(dec, r.key, r.key_len, r.value, r.value_len, &ev);
		if (r.kind == GEN_INVALID) {
			assert_int_equal(res.status, EV_INVALID);
			invalid_seen |= 1 << res.reason;
			continue;
		}
		assert_int_not_equal(res.status, EV_INVALID);
		assert_int_equal(ev.time_us, r.time_us);
		assert_true(ev.v[F_TEMP].d >= 20.0 && ev.v[F_TEMP].d < 30.0);
		assert_true(r.kind != GEN_LATE || r.time_us < 1732525200000000LL + i * 1000LL - 179000000LL);
	}
	for (int k = 0; k < GEN__KINDS; k++)
		assert_true(counts[k] > 1500);
	/* every invalid shape maps to its own reason */
	for (int reason = EV_R_NOT_JSON; reason <= EV_R_BAD_TIMESTAMP; reason++)
		if (reason != EV_R_BAD_KEY && reason != EV_R_KEY_UNSAFE)
			assert_true(invalid_seen & (1 << reason));
	generator_destroy(g);
}

static void test_generator_deterministic(void **state)
{
	struct gen_options o = GEN_OPTIONS_INIT;
	struct generator *a, *b;
	(void)state;
	o.seed = 99;
	o.invalid_fraction = 0.2;
	a = generator_create(cfg.schema, &o);
	b = generator_create(cfg.schema, &o);
	for (int i = 0; i < 1000; i++) {
		struct gen_record ra, rb;
		generator_next(a, i, &ra);
		generator_next(b, i, &rb);
		assert_int_equal(ra.value_len, rb.value_len);
		assert_memory_equal(ra.value, rb.value, ra.value_len);
	}
	generator_destroy(a);
	generator_destroy(b);
}

static void test_encode_format(void **state)
{
	struct buf b = BUF_INIT;
	(void)state;
	dec_s("{\"timestamp\": 1732525200.5, \"temperature\": 24.3, \"event_duration\": -0.05, \"status\": \"warning\"}");
	ev_encode(cfg.schema, &ev, &b);
	assert_string_equal(buf_str(&b),
			    "{\"timestamp\": 1732525200.500000, \"temperature\": 24.30, "
			    "\"event_duration\": -0.05, \"status\": \"warning\"}");
	buf_release(&b);
}

/* A string value with escapes is unescaped into the decoder's scratch;
 * moved out, it outlives the next decode (the decoder thread keeps a
 * whole array of events). */
static void test_move_scratch(void **state)
{
	static const char yml[] =
		"event_schema:\n  name: e\n  version: 1\n  key: {name: device_id, type: string}\n"
		"  fields:\n    - name: timestamp\n      type: datetime\n"
		"    - name: site\n      type: string\n    - name: zone\n      type: string\n";
	char path[] = "/tmp/test_codec_XXXXXX";
	int fd = mkstemp(path);
	struct iot_config c2;
	struct iot_error err = IOT_ERROR_INIT;
	struct ev_decoder *d2;
	struct event a, b;
	char dst[64];
	const char *j1 = "{\"timestamp\": 1, \"site\": \"s\\u0069te-\\u00e9\", \"zone\": \"plain\"}";
	const char *j2 = "{\"timestamp\": 2, \"site\": \"\\u0041\\u0042\\u0043\\u0044\\u0045\\u0046\", \"zone\": \"z\"}";
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yml, sizeof(yml) - 1), (ssize_t)(sizeof(yml) - 1));
	close(fd);
	config_init(&c2);
	assert_int_equal(config_load_files(&c2, (const char *const[]){ path }, 1, &err), IOT_OK);
	unlink(path);
	d2 = ev_decoder_create(c2.schema);
	assert_int_equal(ev_decode(d2, "k", 1, j1, strlen(j1), &a).status, EV_VALID);
	assert_int_equal(ev_decoder_scratch_len(d2), strlen("site-\xc3\xa9"));
	assert_true(ev_decoder_scratch_len(d2) <= sizeof(dst));
	ev_decoder_move_scratch(d2, &a, dst);
	assert_int_equal(ev_decode(d2, "k", 1, j2, strlen(j2), &b).status, EV_VALID);
	/* a's escaped string now lives in dst, its plain one in the payload */
	assert_int_equal(a.v[1].s.len, strlen("site-\xc3\xa9"));
	assert_memory_equal(a.v[1].s.p, "site-\xc3\xa9", a.v[1].s.len);
	assert_ptr_equal(a.v[1].s.p, dst);
	assert_memory_equal(a.v[2].s.p, "plain", 5);
	assert_true(a.v[2].s.p > j1 && a.v[2].s.p < j1 + strlen(j1));
	assert_memory_equal(b.v[1].s.p, "ABCDEF", 6);
	/* no escapes: nothing to move */
	assert_int_equal(ev_decode(d2, "k", 1, "{\"timestamp\": 3, \"site\": \"x\", \"zone\": \"y\"}",
				   strlen("{\"timestamp\": 3, \"site\": \"x\", \"zone\": \"y\"}"), &b).status,
			 EV_VALID);
	assert_int_equal(ev_decoder_scratch_len(d2), 0);
	ev_decoder_destroy(d2);
	config_release(&c2);
}

/* Loads a schema document; returns the error's code, its message in msg. */
static enum iot_err load_schema(const char *yml, char *msg, size_t cap)
{
	char path[] = "/tmp/test_codec_XXXXXX";
	int fd = mkstemp(path);
	struct iot_config c2;
	struct iot_error err = IOT_ERROR_INIT;
	enum iot_err rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yml, strlen(yml)), (ssize_t)strlen(yml));
	close(fd);
	config_init(&c2);
	rc = config_load_files(&c2, (const char *const[]){ path }, 1, &err);
	unlink(path);
	snprintf(msg, cap, "%s", rc ? err.msg : "");
	config_release(&c2);
	return rc;
}

/* Too many fields is an error naming the limit (it used to crash while
 * cleaning up), and a field may not take the name of a column the jobs
 * write beside the fields. */
static void test_schema_limits_and_reserved_names(void **state)
{
	static const char head[] =
		"event_schema:\n  name: e\n  version: 1\n  key: {name: device_id, type: string}\n"
		"  fields:\n    - name: timestamp\n      type: datetime\n";
	struct buf y = BUF_INIT;
	char msg[512];
	(void)state;

	buf_puts(&y, head);
	for (int i = 0; i < 64; i++)
		buf_printf(&y, "    - name: f%d\n      type: int\n", i);
	assert_int_equal(load_schema(buf_str(&y), msg, sizeof(msg)), IOT_ERR_CONFIG);
	assert_non_null(strstr(msg, "at most 64 fields, got 65"));
	for (size_t i = 0; i < 6; i++) {
		static const char *names[] = { "device_id", "kafka_partition", "kafka_offset",
					       "date", "window_start", "event_time" };
		buf_reset(&y);
		buf_printf(&y, "%s    - name: %s\n      type: int\n", head, names[i]);
		assert_int_equal(load_schema(buf_str(&y), msg, sizeof(msg)), IOT_ERR_CONFIG);
		assert_non_null(strstr(msg, names[i]));
		assert_non_null(strstr(msg, "rename the field"));
	}
	/* the event-time field itself may be called event_time */
	buf_reset(&y);
	buf_puts(&y, "event_schema:\n  name: e\n  version: 1\n  key: {name: device_id, type: string}\n"
		     "  fields:\n    - name: event_time\n      type: datetime\n"
		     "    - name: t\n      type: float\n");
	assert_int_equal(load_schema(buf_str(&y), msg, sizeof(msg)), IOT_OK);
	buf_release(&y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_epoch),
		cmocka_unit_test(test_schema_limits_and_reserved_names),
		cmocka_unit_test(test_valid_iso),
		cmocka_unit_test(test_bad_timestamps),
		cmocka_unit_test(test_timestamp_exponents),
		cmocka_unit_test(test_invalid_cases),
		cmocka_unit_test(test_filtering),
		cmocka_unit_test(test_escapes_unicode_extra),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_garbage_never_crashes),
		cmocka_unit_test(test_roundtrip_generator),
		cmocka_unit_test(test_generator_deterministic),
		cmocka_unit_test(test_encode_format),
		cmocka_unit_test(test_move_scratch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
