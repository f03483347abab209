/*
 * schema.h - the event schema of config/event_schema.yml.
 *
 * The schema drives everything that knows an event's shape: the generator
 * (generate.h), the JSON encoder and the validating decoder (codec.h), and
 * the Parquet column layout of the streaming jobs. Adding a field to the
 * YAML needs no code change.
 *
 * A field has a type (datetime, float, int, string, enum), is required
 * unless `required: false`, and may filter events out: `filter_out` lists
 * enum or string values whose events are valid but not stored, and
 * `filter_out_missing: true` filters events where the field is absent or
 * null (the reference drops events whose status is error or missing).
 * The first datetime field is the event time. `generate` tells the
 * producer how to simulate the field.
 */
#ifndef IOT_EVENT_SCHEMA_H
#define IOT_EVENT_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/err.h"

/* Fields per event are tracked in a 64-bit presence mask. */
#define EV_MAX_FIELDS 64
#define EV_MAX_ENUM_VALUES 64

enum field_type {
	FIELD_DATETIME,
	FIELD_FLOAT,
	FIELD_INT,
	FIELD_STRING,
	FIELD_ENUM,
};

enum gen_dist {
	GEN_DEFAULT, /* per type: now, uniform [0,1), uniform ints, values */
	GEN_UNIFORM, /* a = min, b = max (max excluded for floats) */
	GEN_NORMAL,  /* a = mean, b = stddev */
};

struct schema_field {
	char *name;
	size_t name_len;
	char *json_key;       /* "\"name\": " as the encoder writes it */
	size_t json_key_len;
	enum field_type type;
	bool required;
	/* enum: the allowed values; string: values to filter (may be empty) */
	char **values;
	size_t *value_lens;
	size_t nvalues;
	char **filter_out;       /* values whose events are filtered */
	size_t nfilter_out;
	uint64_t filter_mask;    /* enum: bit i set = values[i] is filtered */
	bool filter_out_missing; /* absent or null: filtered, not invalid */
	struct {
		enum gen_dist dist;
		double a, b;
		int decimals; /* -1: as the type prints */
	} gen;
};

struct event_schema {
	char *name;
	char *version;
	char *key_name;   /* "device_id" */
	char *key_prefix; /* generated keys are <prefix><n>, "device_id_" */
	struct schema_field *fields;
	size_t nfields;
	int time_field;   /* index of the event-time field */
};

struct yamldoc;

/* Builds a schema from the `event_schema` mapping node; NULL on error. */
struct event_schema *event_schema_from_yaml(struct yamldoc *d, yaml_node_t *node,
					    struct iot_error *err);
void event_schema_destroy(struct event_schema *s);

#endif
