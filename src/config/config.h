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
 * The table lives here, in src/config/, not in src/core/: it knows the
 * event schema and the streaming jobs' settings, and core knows neither.
 *
 * Calling sequence (src/cmd/ only):
 *
 *	struct iot_config cfg;
 *	config_init(&cfg);                       // defaults
 *	config_load_files(&cfg, files, n, &err); // n == 0: the files in config/
 *	config_apply_env(&cfg, &err);
 *	config_apply_options(&cfg, opts, &err); // flags: OPT_SETTING rows
 *	config_set(&cfg, "producer.kafka.bootstrap_servers", value,
 *		   "option --bootstrap-servers", &err); // or one by one
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
struct hive_layout;
struct opt;

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
	char *raw_partition_by;
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

/*
 * Flags that set settings (OPT_SETTING rows of core/opt.h).
 * config_bind_options() fills each such row's key, default and range from
 * the table, for --help; call it before opt_parse(). A row naming no
 * setting is a bug (assertion). config_apply_options() sets the value of
 * every row given on the command line through config_set(), with origin
 * "option --NAME": the same checks and messages as a file or the
 * environment. opts may be NULL (nothing to apply).
 */
void config_bind_options(struct opt *opts);
enum iot_err config_apply_options(struct iot_config *cfg, const struct opt *opts,
				  struct iot_error *err);

/*
 * The aggregate's output layout from a window.AGGREGATE_PARTITION_BY value
 * ("device_id,window_start", "date", "none": no directory). On failure
 * returns false and writes the reason, without the key, to why.
 */
bool config_partition_layout(const char *spec, struct hive_layout *out,
			     char *why, size_t n);

/* The archive's, from s3.STREAMING_RAW_PARTITION_BY: device_id, date or
 * both ("none" is refused). */
bool config_raw_partition_layout(const char *spec, struct hive_layout *out,
				 char *why, size_t n);

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
