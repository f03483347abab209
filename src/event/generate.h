/*
 * generate.h - simulated IoT devices: builds events as the schema's
 * `generate` rules say, and, for tests and demos, injects late, invalid and
 * duplicate records. Deterministic for a given seed (xoshiro256**), so a
 * run with --seed and --start-time is reproducible byte for byte.
 *
 * One generator per thread.
 *
 *	struct gen_options o = GEN_OPTIONS_INIT;
 *	o.seed = 42; o.devices = 10;
 *	struct generator *g = generator_create(schema, &o);
 *	struct gen_record r;
 *	generator_next(g, now_us, &r);  // r.key, r.value, r.kind
 *	generator_destroy(g);
 */
#ifndef IOT_EVENT_GENERATE_H
#define IOT_EVENT_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/schema.h"

enum gen_kind {
	GEN_VALID = 0,  /* a regular event (may still be filtered by status) */
	GEN_LATE,       /* a valid event whose time is in the past */
	GEN_INVALID,    /* one of the invalid shapes docs/design.md §3 lists */
	GEN_DUPLICATE,  /* the previous record sent again, byte for byte */
	GEN__KINDS
};

const char *gen_kind_name(enum gen_kind k);

struct gen_options {
	uint64_t seed;
	long devices;
	double late_fraction;
	double invalid_fraction;
	double duplicate_fraction;
	double late_min_s, late_max_s; /* how far back late events are */
};

#define GEN_OPTIONS_INIT { 0, 10, 0, 0, 0, 180, 600 }

struct gen_record {
	enum gen_kind kind;
	const char *key;   /* NULL for an invalid record without a key */
	size_t key_len;
	const char *value; /* JSON (or deliberately broken) bytes */
	size_t value_len;
	int64_t time_us;   /* event time written (valid and late records) */
	long device;       /* 1-based device number */
};

struct generator;

struct generator *generator_create(const struct event_schema *s,
				   const struct gen_options *o);
void generator_destroy(struct generator *g);

/*
 * Makes the next record with event time now_us (late ones earlier). The
 * record's bytes stay valid until the next call.
 */
void generator_next(struct generator *g, int64_t now_us, struct gen_record *r);

/* The PRNG, exposed for tests: uniform in [0, 1). */
double generator_uniform(struct generator *g);

#endif
