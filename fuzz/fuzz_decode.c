/*
 * fuzz_decode.c - libFuzzer target for the JSON event decoder (codec.h).
 *
 * Each input is one Kafka record value. It is decoded three ways:
 *  1. with the reference schema (the built-in one config/event_schema.yml
 *     repeats) and the key "device_id_1", as the streaming jobs do;
 *  2. with a wider schema that has every field type (int, string with
 *     filter_out, an optional float, a second datetime) so that paths the
 *     reference schema never takes are reached;
 *  3. with the input as the Kafka key and a fixed valid value, for the key
 *     checks (length, UTF-8, control characters).
 * Every decoded string's bytes are read, so a slice pointing outside the
 * payload or the scratch buffer is caught by ASan.
 *
 * And one property is checked (it aborts on violation, a finding): for
 * the wide schema, whose floats print in shortest round-trip form, a
 * VALID or FILTERED event encoded again with ev_encode decodes to the same
 * status and the same values.
 *
 * Schemas are built once through the real config loader
 * (config_load_string). Run with `make fuzz-decode` (mk/fuzz.mk).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "config/config.h"
#include "event/codec.h"
#include "event/schema.h"

#include "core/banned.h"

static const char wide_schema_yaml[] =
	"event_schema:\n"
	"  name: fuzz_event\n"
	"  key: {name: device_id, type: string}\n"
	"  fields:\n"
	"    - {name: timestamp, type: datetime}\n"
	"    - {name: temperature, type: float}\n"
	"    - {name: count, type: int, required: false}\n"
	"    - {name: site, type: string, required: false, filter_out: [\"drop\", \"\"]}\n"
	"    - {name: status, type: enum, values: [ok, warning, error, \"\\u00e9t\\u00e9\"],\n"
	"       required: false, filter_out: [error], filter_out_missing: true}\n"
	"    - {name: seen, type: datetime, required: false}\n"
	"    - {name: ratio, type: float, required: false}\n";

static struct iot_config ref_cfg, wide_cfg;
static struct ev_decoder *ref_dec, *wide_dec, *check_dec;
static struct buf enc = BUF_INIT;
static volatile uint64_t sink;

static void load(struct iot_config *cfg, const char *name, const char *yaml)
{
	struct iot_error err = IOT_ERROR_INIT;

	config_init(cfg);
	if (config_load_string(cfg, name, yaml, &err) != IOT_OK || !cfg->schema) {
		fprintf(stderr, "fuzz_decode: %s: %s\n", name, err.msg);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	load(&ref_cfg, "built-in event schema", config_default_schema_yaml);
	load(&wide_cfg, "wide fuzz schema", wide_schema_yaml);
	ref_dec = ev_decoder_create(ref_cfg.schema);
	wide_dec = ev_decoder_create(wide_cfg.schema);
	check_dec = ev_decoder_create(wide_cfg.schema);
	return 0;
}

/* Reads every value the decoder handed out. */
static void touch(const struct event_schema *s, const struct event *ev,
		  struct ev_result r)
{
	char why[128];
	uint64_t acc = (uint64_t)ev->time_us;

	sink += ev_result_describe(s, r, why, sizeof(why));
	for (size_t i = 0; i < ev->key_len; i++)
		acc += (uint8_t)ev->key[i];
	for (size_t i = 0; i < s->nfields; i++) {
		if (!(ev->present >> i & 1))
			continue;
		if (s->fields[i].type == FIELD_STRING)
			for (uint32_t k = 0; k < ev->v[i].s.len; k++)
				acc += (uint8_t)ev->v[i].s.p[k];
		else
			acc += (uint64_t)ev->v[i].i;
	}
	sink += acc;
}

static bool same_value(const struct schema_field *f, const struct ev_value *a,
		       const struct ev_value *b)
{
	switch (f->type) {
	case FIELD_FLOAT:
		/* bitwise, so that -0.0 must come back as -0.0 */
		return !memcmp(&a->d, &b->d, sizeof(a->d));
	case FIELD_STRING:
		return a->s.len == b->s.len && !memcmp(a->s.p, b->s.p, a->s.len);
	default:
		return a->i == b->i;
	}
}

/* encode(decode(x)) must decode to the same event. */
static void check_roundtrip(const struct event *ev, struct ev_result r)
{
	const struct event_schema *s = wide_cfg.schema;
	struct event back;
	struct ev_result r2;

	buf_reset(&enc);
	ev_encode(s, ev, &enc);
	r2 = ev_decode(check_dec, ev->key, ev->key_len, buf_str(&enc), enc.len,
		       &back);
	if (r2.status != r.status || r2.field != r.field ||
	    back.present != ev->present || back.time_us != ev->time_us)
		goto bad;
	for (size_t i = 0; i < s->nfields; i++)
		if ((ev->present >> i & 1) &&
		    !same_value(&s->fields[i], &ev->v[i], &back.v[i]))
			goto bad;
	return;
bad:
	fprintf(stderr,
		"fuzz_decode: round trip changed the event: status %d->%d field %d->%d present %llx->%llx\nre-encoded: %s\n",
		r.status, r2.status, r.field, r2.field,
		(unsigned long long)ev->present, (unsigned long long)back.present,
		buf_str(&enc));
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "device_id_1";
	static const char good[] =
		"{\"timestamp\": 1732525200.5, \"temperature\": 21.5, \"status\": \"ok\"}";
	struct event ev;
	struct ev_result r;

	r = ev_decode(ref_dec, key, sizeof(key) - 1, data, size, &ev);
	touch(ref_cfg.schema, &ev, r);

	r = ev_decode(wide_dec, key, sizeof(key) - 1, data, size, &ev);
	touch(wide_cfg.schema, &ev, r);
	if (r.status != EV_INVALID)
		check_roundtrip(&ev, r);

	r = ev_decode(ref_dec, data, size, good, sizeof(good) - 1, &ev);
	touch(ref_cfg.schema, &ev, r);
	return 0;
}
