/*
 * config.h - iotpipe's configuration: the three YAML files of config/, the
 * environment variables of the reference, and command-line flags.
 *
 * Precedence: flag > environment > file > default. Every setting is a row
 * of one table (config.c) with its file role, YAML path, environment name,
 * type, default and help; the loader, the error messages ("unknown key ...
 * valid keys are ..."), and docs/configuration.md all come from that table
 * (`iotpipe debug config-doc` prints the reference).
 *
 * Calling sequence (src/cmd/ only):
 *
 *	struct iot_config cfg;
 *	config_init(&cfg);                       // defaults
 *	config_load_files(&cfg, files, n, &err); // n == 0: the files in config/
 *	config_apply_env(&cfg, &err);
 *	config_set(&cfg, "producer.kafka.bootstrap_servers", value,
 *		   "--bootstrap-servers", &err); // flags
 *	...
 *	config_release(&cfg);
 *
 * Errors name the file, line, key and reason, and are IOT_ERR_CONFIG (exit
 * status 2). Values never contain secrets (S3 credentials come only from
 * the AWS environment variables and are not part of this struct).
 */
#ifndef IOT_CONFIG_H
#define IOT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct event_schema;

/* A librdkafka property passed through (`--kafka k=v` or a file's map). */
struct kv {
	char *key;
	char *value;
	char *origin; /* "config/producer_config.yml:12" or "--kafka" */
};

struct kv_list {
	struct kv *items;
	size_t n, alloc;
};

struct producer_config {
	char *bootstrap_servers;
	char *topic;
	bool delivery_exactly_once;
	long retries;
	char *acks;
	char *partitioner;
	long num_generators;
	double event_frequency;
	struct kv_list kafka; /* librdkafka pass-through for the producer */
};

struct streaming_config {
	char *bootstrap_servers;
	char *topic;
	char *aggregated_output;
	char *aggregated_checkpoint;
	char *raw_output;
	char *raw_checkpoint;
	char *percentile_output;
	long num_event_threshold;
	double window_seconds;
	double watermark_seconds;
	double idle_timeout_seconds;
	double trigger_seconds;
	char *aggregate_partition_by;
	char *dead_letter_topic;
	struct kv_list kafka; /* librdkafka pass-through for consumers */
};

struct iot_config {
	struct event_schema *schema; /* owned */
	struct producer_config producer;
	struct streaming_config streaming;
	char *files_loaded;           /* for messages: "a.yml, b.yml" */
};

void config_init(struct iot_config *cfg);
void config_release(struct iot_config *cfg);

/*
 * Loads YAML files. Each file is recognised by its root key
 * (`event_schema`, `producer_config`, `streaming_config`). With n == 0,
 * loads those of the three files that exist in $IOTPIPE_CONFIG_DIR or
 * ./config/; missing default files are not an error (the built-in
 * defaults equal the reference's values), but a named file must exist.
 */
enum iot_err config_load_files(struct iot_config *cfg, const char *const *files,
			       size_t n, struct iot_error *err);
enum iot_err config_load_string(struct iot_config *cfg, const char *name,
				const char *yaml, struct iot_error *err);

/* Applies the reference's environment variables (KAFKA_BOOTSTRAP_SERVERS...). */
enum iot_err config_apply_env(struct iot_config *cfg, struct iot_error *err);

/*
 * Sets one setting by its full name ("producer.kafka.retries",
 * "streaming.s3.NUM_EVENT_THRESHOLD", ...), parsing `value` for its type.
 * `origin` names where the value came from for messages ("--retries").
 */
enum iot_err config_set(struct iot_config *cfg, const char *name,
			const char *value, const char *origin,
			struct iot_error *err);

/* Parses "key=value" into the list (for --kafka). */
enum iot_err kv_list_add_pair(struct kv_list *l, const char *pair,
			      const char *origin, struct iot_error *err);
void kv_list_add(struct kv_list *l, const char *key, const char *value,
		 const char *origin);
void kv_list_release(struct kv_list *l);

/*
 * Calls fn for every setting of the table with its full name
 * ("streaming_config.kafka.KAFKA_TOPIC_NAME") and its current value as
 * text, then for every librdkafka pass-through property
 * ("streaming_config.librdkafka.sasl.password"). Values are as stored:
 * a caller that shows them must redact them (the web console does).
 */
typedef void (*config_visit_fn)(void *opaque, const char *name, const char *value);
void config_visit(const struct iot_config *cfg, config_visit_fn fn, void *opaque);

/* Writes the configuration reference (Markdown) generated from the table. */
void config_write_reference(void *file);

/* The built-in reference schema, used when no event_schema.yml is found. */
extern const char config_default_schema_yaml[];

#endif
