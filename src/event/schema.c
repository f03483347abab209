/*
 * schema.c - builds struct event_schema from YAML (schema.h), rejecting
 * unknown keys and impossible combinations with the file, line and key.
 */
#include "event/schema.h"
#include "core/hive.h"
#include "event/codec.h"
#include "core/xalloc.h"
#include "core/yamldoc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const char *const type_names[] = {
	[FIELD_DATETIME] = "datetime", [FIELD_FLOAT] = "float",
	[FIELD_INT] = "int",	       [FIELD_STRING] = "string",
	[FIELD_ENUM] = "enum",
};

void event_schema_destroy(struct event_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfields; i++) {
		struct schema_field *f = &s->fields[i];
		free(f->name);
		free(f->json_key);
		for (size_t j = 0; j < f->nvalues; j++)
			free(f->values[j]);
		free(f->values);
		free(f->value_lens);
		for (size_t j = 0; j < f->nfilter_out; j++)
			free(f->filter_out[j]);
		free(f->filter_out);
	}
	free(s->fields);
	free(s->name);
	free(s->version);
	free(s->key_name);
	free(s->key_prefix);
	free(s);
}

#define FAIL(node, ...)                                                      \
	do {                                                                 \
		char m_[300];                                                \
		snprintf(m_, sizeof(m_), __VA_ARGS__);                       \
		iot_error_set(err, IOT_ERR_CONFIG, "%s:%d: %s",              \
			      yamldoc_path(d), yamldoc_line(node), m_);      \
		goto fail;                                                   \
	} while (0)

static bool scalar_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "True")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "False")) {
		*out = false;
		return true;
	}
	return false;
}

static bool scalar_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && isfinite(*out);
}

/* Reads a sequence of scalars into a fresh array. */
static bool read_list(struct yamldoc *d, yaml_node_t *seq, char ***out,
		      size_t *n)
{
	size_t len = yamldoc_seq_len(seq);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return false;
	*out = xcalloc(len ? len : 1, sizeof(char *));
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		const char *v = yamldoc_scalar(yamldoc_seq_at(d, seq, i));
		if (!v)
			return false;
		(*out)[(*n)++] = xstrdup(v);
	}
	return true;
}

static bool parse_gen(struct yamldoc *d, yaml_node_t *g, struct schema_field *f,
		      struct iot_error *err)
{
	yaml_node_t *k, *v;
	double min = NAN, max = NAN, mean = NAN, sd = NAN;
	const char *dist = NULL;

	if (g->type != YAML_MAPPING_NODE)
		FAIL(g, "field '%s': 'generate' must be a mapping", f->name);
	for (size_t i = 0; yamldoc_map_at(d, g, i, &k, &v); i++) {
		const char *key = yamldoc_scalar(k), *val = yamldoc_scalar(v);
		double x;
		if (!key || !val)
			FAIL(k, "field '%s': 'generate' takes scalar keys and values", f->name);
		if (!strcmp(key, "distribution")) {
			dist = val;
			continue;
		}
		if (!scalar_double(val, &x))
			FAIL(v, "field '%s': generate.%s: expected a number, got '%s'",
			     f->name, key, val);
		if (!strcmp(key, "min"))
			min = x;
		else if (!strcmp(key, "max"))
			max = x;
		else if (!strcmp(key, "mean"))
			mean = x;
		else if (!strcmp(key, "stddev"))
			sd = x;
		else if (!strcmp(key, "decimals")) {
			if (x < 0 || x > 9 || x != floor(x))
				FAIL(v, "field '%s': generate.decimals must be 0..9", f->name);
			f->gen.decimals = (int)x;
		} else
			FAIL(k, "field '%s': unknown key 'generate.%s'; valid keys: distribution, min, max, mean, stddev, decimals",
			     f->name, key);
	}
	if (!dist || !strcmp(dist, "uniform")) {
		if (dist || !isnan(min) || !isnan(max)) {
			if (isnan(min) || isnan(max) || !(min <= max))
				FAIL(g, "field '%s': uniform generation needs min <= max", f->name);
			f->gen.dist = GEN_UNIFORM;
			f->gen.a = min;
			f->gen.b = max;
		}
	} else if (!strcmp(dist, "normal")) {
		if (isnan(mean) || isnan(sd) || sd < 0)
			FAIL(g, "field '%s': normal generation needs mean and stddev >= 0", f->name);
		f->gen.dist = GEN_NORMAL;
		f->gen.a = mean;
		f->gen.b = sd;
	} else {
		FAIL(g, "field '%s': unknown distribution '%s'; valid: uniform, normal",
		     f->name, dist);
	}
	/*
	 * generate.c draws an int as ceil(min) + u64 % (floor(max) -
	 * ceil(min) + 1), or llround(mean + stddev * N(0,1)): bounds beyond
	 * 2^53 (where doubles stop being exact integers) overflow int64_t, and
	 * a range holding no integer (min 0.2, max 0.8) divides by zero.
	 */
	if (f->type == FIELD_INT && f->gen.dist != GEN_DEFAULT &&
	    !(fabs(f->gen.a) <= 0x1p53 && fabs(f->gen.b) <= 0x1p53 &&
	      (f->gen.dist != GEN_UNIFORM || ceil(f->gen.a) <= floor(f->gen.b))))
		FAIL(g, "field '%s': int generation needs bounds within +-2^53 and an integer between min and max",
		     f->name);
	return true;
fail:
	return false;
}

static bool parse_field(struct yamldoc *d, yaml_node_t *node,
			struct schema_field *f, struct iot_error *err)
{
	yaml_node_t *k, *v;
	const char *type = NULL;
	yaml_node_t *values = NULL, *filter = NULL, *gen = NULL;

	f->required = true;
	f->gen.decimals = -1;
	if (node->type != YAML_MAPPING_NODE)
		FAIL(node, "each field must be a mapping with name and type");
	for (size_t i = 0; yamldoc_map_at(d, node, i, &k, &v); i++) {
		const char *key = yamldoc_scalar(k), *val = yamldoc_scalar(v);
		if (!key)
			FAIL(k, "field keys must be strings");
		if (!strcmp(key, "name") && val) {
			/* libyaml keeps duplicate keys: the last one wins */
			free(f->name);
			f->name = xstrdup(val);
		}
		else if (!strcmp(key, "type") && val)
			type = val;
		else if (!strcmp(key, "format") && val)
			; /* informational: the decoder accepts epoch and ISO-8601 */
		else if (!strcmp(key, "values"))
			values = v;
		else if (!strcmp(key, "filter_out"))
			filter = v;
		else if (!strcmp(key, "required") && val) {
			if (!scalar_bool(val, &f->required))
				FAIL(v, "key 'required': expected true or false, got '%s'", val);
		} else if (!strcmp(key, "filter_out_missing") && val) {
			if (!scalar_bool(val, &f->filter_out_missing))
				FAIL(v, "key 'filter_out_missing': expected true or false, got '%s'", val);
		} else if (!strcmp(key, "generate"))
			gen = v;
		else
			FAIL(k, "unknown field key '%s'; valid keys: name, type, format, values, required, filter_out, filter_out_missing, generate",
			     key);
	}
	if (!f->name || !*f->name)
		FAIL(node, "a field has no name");
	f->name_len = strlen(f->name);
	for (const char *c = f->name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
			FAIL(node, "field name '%s' has a quote, backslash or control character", f->name);
	f->json_key = xasprintf("\"%s\": ", f->name);
	f->json_key_len = strlen(f->json_key);
	if (!type)
		FAIL(node, "field '%s' has no type", f->name);
	{
		size_t t, nt = sizeof(type_names) / sizeof(type_names[0]);
		for (t = 0; t < nt; t++)
			if (!strcmp(type, type_names[t]))
				break;
		f->type = (enum field_type)t;
		type = t < nt ? NULL : type;
	}
	if (type)
		FAIL(node, "field '%s': unknown type '%s'; valid types: datetime, float, int, string, enum",
		     f->name, type);
	if (f->type == FIELD_ENUM) {
		if (!values || !read_list(d, values, &f->values, &f->nvalues) ||
		    !f->nvalues)
			FAIL(node, "field '%s': an enum needs a non-empty list 'values'", f->name);
		if (f->nvalues > EV_MAX_ENUM_VALUES)
			FAIL(values, "field '%s': at most %d enum values", f->name,
			     EV_MAX_ENUM_VALUES);
		f->value_lens = xcalloc(f->nvalues, sizeof(size_t));
		for (size_t i = 0; i < f->nvalues; i++)
			f->value_lens[i] = strlen(f->values[i]);
	} else if (values) {
		FAIL(values, "field '%s': 'values' is only for enum fields", f->name);
	}
	if (filter) {
		if (!read_list(d, filter, &f->filter_out, &f->nfilter_out))
			FAIL(filter, "field '%s': 'filter_out' must be a list of values", f->name);
		if (f->type != FIELD_ENUM && f->type != FIELD_STRING)
			FAIL(filter, "field '%s': 'filter_out' is for enum and string fields", f->name);
		for (size_t i = 0; i < f->nfilter_out && f->type == FIELD_ENUM; i++) {
			size_t j;
			for (j = 0; j < f->nvalues; j++)
				if (!strcmp(f->values[j], f->filter_out[i]))
					break;
			if (j == f->nvalues)
				FAIL(filter, "field '%s': filter_out value '%s' is not one of its values",
				     f->name, f->filter_out[i]);
			f->filter_mask |= (uint64_t)1 << j;
		}
	}
	if (f->filter_out_missing && f->required)
		FAIL(node, "field '%s': filter_out_missing needs 'required: false'", f->name);
	if (gen && !parse_gen(d, gen, f, err))
		return false;
	return true;
fail:
	return false;
}

/*
 * Column names the jobs write beside the schema's fields (stream/pqsink.c:
 * the key as device_id, the provenance of each row) or that readers take
 * from the Hive directories (core/hive.c): a field of the same name would
 * give a file two columns of one name, which Spark refuses and DuckDB
 * renames. event_time is checked apart: it is the event-time field's own
 * column.
 */
static const char *const reserved[] = { "device_id", "kafka_partition", "kafka_offset",
					"date", "window_start" };

struct event_schema *event_schema_from_yaml(struct yamldoc *d, yaml_node_t *node,
					    struct iot_error *err)
{
	struct event_schema *s = xcalloc(1, sizeof(*s));
	yaml_node_t *k, *v, *fields = NULL;

	s->time_field = -1;
	if (!node || node->type != YAML_MAPPING_NODE)
		FAIL(node, "'event_schema' must be a mapping");
	for (size_t i = 0; yamldoc_map_at(d, node, i, &k, &v); i++) {
		const char *key = yamldoc_scalar(k), *val = yamldoc_scalar(v);
		if (!key)
			FAIL(k, "keys must be strings");
		if (!strcmp(key, "name") && val) {
			/* libyaml keeps duplicate keys: the last one wins */
			free(s->name);
			s->name = xstrdup(val);
		} else if (!strcmp(key, "version") && val) {
			free(s->version);
			s->version = xstrdup(val);
		}
		else if (!strcmp(key, "fields"))
			fields = v;
		else if (!strcmp(key, "key")) {
			yaml_node_t *kk, *kv;
			if (v->type != YAML_MAPPING_NODE)
				FAIL(v, "'key' must be a mapping with name and type");
			for (size_t j = 0; yamldoc_map_at(d, v, j, &kk, &kv); j++) {
				const char *n = yamldoc_scalar(kk), *x = yamldoc_scalar(kv);
				if (!n || !x)
					FAIL(kk, "'key' takes scalar values");
				if (!strcmp(n, "name")) {
					free(s->key_name);
					s->key_name = xstrdup(x);
				} else if (!strcmp(n, "type")) {
					if (strcmp(x, "string"))
						FAIL(kv, "key type must be string, got '%s'", x);
				} else if (!strcmp(n, "prefix")) {
					free(s->key_prefix);
					s->key_prefix = xstrdup(x);
				} else
					FAIL(kk, "unknown key 'key.%s'; valid keys: name, type, prefix", n);
			}
		} else
			FAIL(k, "unknown key '%s' in event_schema; valid keys: name, version, key, fields",
			     key);
	}
	if (!s->key_name)
		s->key_name = xstrdup("device_id");
	if (!s->key_prefix)
		s->key_prefix = xasprintf("%s_", s->key_name);
	/* the producer's keys are <prefix><device number>: they must pass the
	 * decoder's key checks (codec.h), or the jobs reject every event */
	if (strlen(s->key_prefix) > EV_MAX_KEY_LEN - 20)
		FAIL(node, "the key prefix is longer than %d bytes", EV_MAX_KEY_LEN - 20);
	for (const char *c = s->key_prefix; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			FAIL(node, "the key prefix has a control character");
	{
		/* ... and make a valid output directory (hive_key_ok), with
		 * the longest device number the producer can use */
		char *longest = xasprintf("%s%ld", s->key_prefix, (long)INT32_MAX);
		bool ok = hive_key_ok(longest, strlen(longest));
		free(longest);
		if (!ok)
			FAIL(node, "the key prefix makes keys too long for an output directory "
				   "(device_id=<key> must fit 255 bytes once escaped)");
	}
	if (!fields || fields->type != YAML_SEQUENCE_NODE || !yamldoc_seq_len(fields))
		FAIL(fields ? fields : node, "event_schema needs a non-empty list 'fields'");
	/* nfields counts what `fields` holds (event_schema_destroy) */
	if (yamldoc_seq_len(fields) > EV_MAX_FIELDS)
		FAIL(fields, "at most %d fields, got %zu", EV_MAX_FIELDS, yamldoc_seq_len(fields));
	s->nfields = yamldoc_seq_len(fields);
	s->fields = xcalloc(s->nfields, sizeof(*s->fields));
	for (size_t i = 0; i < s->nfields; i++) {
		yaml_node_t *fn = yamldoc_seq_at(d, fields, i);
		if (!parse_field(d, fn, &s->fields[i], err))
			goto fail;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->fields[j].name, s->fields[i].name))
				FAIL(fn, "field '%s' is declared twice", s->fields[i].name);
		for (size_t j = 0; j < sizeof(reserved) / sizeof(reserved[0]); j++)
			if (!strcmp(s->fields[i].name, reserved[j]))
				FAIL(fn, "field name '%s' is taken by a column the jobs add to "
					 "their output (%s); rename the field", reserved[j],
				     "device_id, event_time, kafka_partition, kafka_offset, and the "
				     "Hive columns date and window_start");
		if (s->time_field < 0 && s->fields[i].type == FIELD_DATETIME)
			s->time_field = (int)i;
	}
	if (s->time_field < 0)
		FAIL(fields, "event_schema needs a datetime field (the event time)");
	/* the event time is stored as event_time: no other field may be */
	for (size_t i = 0; i < s->nfields; i++)
		if ((int)i != s->time_field && !strcmp(s->fields[i].name, "event_time"))
			FAIL(yamldoc_seq_at(d, fields, i),
			     "field name 'event_time' is taken: the event-time field '%s' is "
			     "stored under that name; rename the field",
			     s->fields[s->time_field].name);
	if (!s->fields[s->time_field].required)
		FAIL(fields, "the event-time field '%s' must be required",
		     s->fields[s->time_field].name);
	return s;
fail:
	event_schema_destroy(s);
	return NULL;
}
