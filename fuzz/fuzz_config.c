/*
 * fuzz_config.c - libFuzzer target for the configuration loader
 * (config.c, yamldoc.c, and event/schema.c which it calls).
 *
 * Each input is the text of one YAML config file. It is written to a
 * temporary file and loaded with config_load_files(), the path every
 * command takes for `-c FILE`, so libyaml's file reader, the settings
 * table, the librdkafka pass-through and the event-schema builder all see
 * it. Errors are the expected outcome for most inputs; their message is
 * read to the end. When the file loads, what it configured is used the way
 * the commands use it:
 *  - a string, two integer and a number setting are overridden by name
 *    (config_set), as flags do;
 *  - the schema drives the device simulator (valid, late, duplicate and
 *    invalid records) and the decoder reads every record back. A record
 *    the simulator calls valid, late or duplicate must not decode as
 *    INVALID (the producer would publish events its own jobs reject);
 *    that property aborts, as a finding, and so does a decoded value
 *    outside the field's uniform `generate` range.
 * Crashes, leaks, hangs and UB are the findings. Run with
 * `make fuzz-config` (mk/fuzz.mk).
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "event/codec.h"
#include "event/generate.h"
#include "event/schema.h"

#include "core/banned.h"

static char path[64];
static volatile uint64_t sink;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/* one file per process, written for every input and removed after
	 * loading (a crash leaves it behind; the input is in the artifact) */
	snprintf(path, sizeof(path), "%.32s/fuzz_config.%ld.yml",
		 dir && *dir ? dir : "/tmp", (long)getpid());
	return 0;
}

/*
 * A simulated value lies where its field's `generate` rule says: uniform
 * ints in [ceil(min), floor(max)], uniform floats in [min, max] give or
 * take the rounding to `decimals`. False means a finding.
 */
static bool in_range(const struct schema_field *f, const struct ev_value *v)
{
	double slack = f->gen.decimals >= 0 ? pow(10, -f->gen.decimals) : 0;

	if (f->gen.dist != GEN_UNIFORM)
		return true;
	if (f->type == FIELD_INT)
		return v->i >= (int64_t)ceil(f->gen.a) &&
		       v->i <= (int64_t)floor(f->gen.b);
	if (f->type == FIELD_FLOAT)
		return v->d >= f->gen.a - slack * (1 + fabs(f->gen.a) * 1e-15) &&
		       v->d <= f->gen.b + slack * (1 + fabs(f->gen.b) * 1e-15);
	return true;
}

static void exercise_schema(const struct event_schema *s)
{
	struct gen_options o = GEN_OPTIONS_INIT;
	struct ev_decoder *dec = ev_decoder_create(s);
	struct generator *g;
	struct gen_record rec;
	struct event ev;
	char why[256];

	o.seed = 7;
	o.devices = 3;
	o.invalid_fraction = 0.3;
	o.late_fraction = 0.2;
	o.duplicate_fraction = 0.2;
	g = generator_create(s, &o);
	for (int i = 0; i < 24; i++) {
		struct ev_result r;
		generator_next(g, 1732525200000000LL + i * 10000LL, &rec);
		r = ev_decode(dec, rec.key, rec.key_len, rec.value,
			      rec.value_len, &ev);
		sink += ev_result_describe(s, r, why, sizeof(why));
		if (rec.kind != GEN_INVALID && r.status == EV_INVALID) {
			fprintf(stderr,
				"fuzz_config: a simulated %s record does not decode (%s): key %.*s value %.*s\n",
				gen_kind_name(rec.kind), why, (int)rec.key_len,
				rec.key ? rec.key : "", (int)rec.value_len, rec.value);
			abort();
		}
		for (size_t k = 0; r.status != EV_INVALID && k < s->nfields; k++) {
			if (!(ev.present >> k & 1) || in_range(&s->fields[k], &ev.v[k]))
				continue;
			fprintf(stderr,
				"fuzz_config: field '%s' was generated outside its generate range: %.*s\n",
				s->fields[k].name, (int)rec.value_len, rec.value);
			abort();
		}
	}
	generator_destroy(g);
	ev_decoder_destroy(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"producer.kafka.retries", "producer.kafka.acks",
		"streaming.s3.NUM_EVENT_THRESHOLD", "streaming.window.WINDOW_SECONDS",
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct iot_config cfg;
	const char *files[1] = { path };
	enum iot_err rc;
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
		perror(path);
		abort();
	}
	config_init(&cfg);
	rc = config_load_files(&cfg, files, 1, &err);
	unlink(path);
	if (rc != IOT_OK) {
		sink += strlen(err.msg);
	} else {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (config_set(&cfg, names[i], "12", "--fuzz", &err) != IOT_OK)
				abort(); /* every name is in the table */
		for (size_t i = 0; i < cfg.producer.kafka.n; i++)
			sink += strlen(cfg.producer.kafka.items[i].key) +
				strlen(cfg.producer.kafka.items[i].value);
		for (size_t i = 0; i < cfg.streaming.kafka.n; i++)
			sink += strlen(cfg.streaming.kafka.items[i].origin);
		sink += strlen(cfg.files_loaded) + strlen(cfg.producer.topic);
		exercise_schema(cfg.schema);
	}
	config_release(&cfg);
	return 0;
}
