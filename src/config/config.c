/*
 * config.c - the settings table and the loaders of config.h.
 *
 * Each row of `settings[]` names a setting once: the file role and YAML
 * path it lives at, the environment variable that overrides it, its type,
 * where it is stored (offsetof into struct iot_config), its default and its
 * help. Loading a file walks the YAML mapping and looks every leaf up in
 * the table, so an unknown key is an error that lists the valid ones.
 * Values are checked where they are parsed, whatever their origin (file,
 * environment, flag): a number against the range in its row (core/range.h),
 * a topic name against Kafka's rules, other strings against the row's
 * check. A flag that sets a setting is an OPT_SETTING row of its command's
 * option table (core/opt.h): config_bind_options() gives the row the
 * setting's key, default and range for --help, and config_apply_options()
 * sets the values given through the same parse_value() as a file or the
 * environment, so the three paths cannot differ. Strings are owned by the
 * struct (freed in config_release).
 */
#include "config/config.h"
#include "core/xalloc.h"
#include "store/store.h"
#include "core/yamldoc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/range.h"
#include "core/hive.h"
#include "core/opt.h"
#include "event/schema.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/banned.h"

enum role { ROLE_PRODUCER, ROLE_STREAMING };
enum stype { S_STR, S_BOOL, S_LONG, S_DOUBLE, S_TOPIC };

struct setting {
	enum role role;
	const char *path; /* YAML path under the root key, e.g. "kafka.acks" */
	const char *env;  /* environment override, or NULL */
	enum stype type;
	size_t offset;
	const char *def;
	const char *help;
	struct num_range range; /* S_LONG, S_DOUBLE: the allowed values */
	bool optional;          /* S_TOPIC: "" means "none" */
	bool nonempty;          /* S_STR: "" is refused */
	/* S_STR: refuses a value, writing why (without the key); NULL: any */
	bool (*check)(const char *value, char *why, size_t n);
	const char *allowed;    /* S_STR with check: the allowed values, for the docs */
};

/* Kafka's own limit on topic names (kafka.common.internals.Topic) */
#define TOPIC_MAX 249

static bool check_partition_by(const char *value, char *why, size_t n);
static bool check_raw_partition_by(const char *value, char *why, size_t n);
static bool check_uri(const char *value, char *why, size_t n);
#define URI_ALLOWED "a local path, `file:` or `s3://bucket/...` URI"

#define P(f) offsetof(struct iot_config, producer.f)
#define S(f) offsetof(struct iot_config, streaming.f)

static const struct setting settings[] = {
	{ ROLE_PRODUCER, "kafka.bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", S_STR,
	  P(bootstrap_servers), "localhost:9092", "Kafka bootstrap servers (host:port list).",
	  .nonempty = true },
	{ ROLE_PRODUCER, "kafka.topic", "KAFKA_TOPIC_NAME", S_TOPIC, P(topic),
	  "device_topic", "Topic the devices publish to." },
	{ ROLE_PRODUCER, "kafka.delivery_exactly_once", NULL, S_BOOL,
	  P(delivery_exactly_once), "false",
	  "Use the idempotent producer (no duplicates or reordering from retries)." },
	{ ROLE_PRODUCER, "kafka.retries", NULL, S_LONG, P(retries), "5",
	  "How many times a failed send is retried.",
	  RANGE(0, 2147483647) /* librdkafka's message.send.max.retries */ },
	{ ROLE_PRODUCER, "kafka.acks", NULL, S_STR, P(acks), "all",
	  "Acknowledgements required: 0, 1 or all." },
	{ ROLE_PRODUCER, "kafka.partitioner", NULL, S_STR, P(partitioner), "murmur2_random",
	  "How keys map to partitions (librdkafka's `partitioner`). The default hashes keys "
	  "as the Java client and kafka-python do, so a topic shared with their producers "
	  "keeps each device on one partition." },
	{ ROLE_PRODUCER, "kafka.num_generators", NULL, S_LONG, P(num_generators),
	  "10", "Number of simulated devices (keys device_id_1..N).", RANGE(1, 1e7) },
	{ ROLE_PRODUCER, "kafka.event_frequency", NULL, S_DOUBLE,
	  P(event_frequency), "0.01",
	  "Seconds between two events of one device (rate = devices / frequency; 0: as fast as possible).",
	  RANGE(0, RANGE_DAY_S) },
	{ ROLE_STREAMING, "kafka.KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS",
	  S_STR, S(bootstrap_servers), "localhost:9092",
	  "Kafka bootstrap servers the streaming jobs read from.", .nonempty = true },
	{ ROLE_STREAMING, "kafka.KAFKA_TOPIC_NAME", "KAFKA_TOPIC_NAME", S_TOPIC,
	  S(topic), "device_topic", "Topic the streaming jobs read." },
	{ ROLE_STREAMING, "kafka.DEAD_LETTER_TOPIC", "DEAD_LETTER_TOPIC", S_TOPIC,
	  S(dead_letter_topic), "",
	  "Topic receiving invalid and late events with the reason in a header (empty: off; "
	  "not the input topic).",
	  .optional = true },
	{ ROLE_STREAMING, "s3.STREAMING_AGGREGATED_S3_OUTPUT_PATH",
	  "STREAMING_AGGREGATED_S3_OUTPUT_PATH", S_STR, S(aggregated_output),
	  "data/stream_output/", "Where `aggregate` writes its Parquet output (URI).",
	  .check = check_uri, .allowed = URI_ALLOWED },
	{ ROLE_STREAMING, "s3.STREAMING_AGGREGATED_S3_CHECKPOINT_PATH",
	  "STREAMING_AGGREGATED_S3_CHECKPOINT_PATH", S_STR, S(aggregated_checkpoint),
	  "data/stream_checkpoints/", "Checkpoint location of `aggregate` (URI).",
	  .check = check_uri, .allowed = URI_ALLOWED },
	{ ROLE_STREAMING, "s3.STREAMING_RAW_S3_OUTPUT_PATH",
	  "STREAMING_RAW_S3_OUTPUT_PATH", S_STR, S(raw_output),
	  "data/raw/stream_output/", "Where `archive` writes raw events (URI).",
	  .check = check_uri, .allowed = URI_ALLOWED },
	{ ROLE_STREAMING, "s3.STREAMING_RAW_PARTITION_BY", NULL, S_STR,
	  S(raw_partition_by), "device_id",
	  "Hive partition columns of the `archive` output, in path order (without device_id "
	  "in the path it is a column of the files).",
	  .check = check_raw_partition_by,
	  .allowed = "a list of device_id, date" },
	{ ROLE_STREAMING, "s3.STREAMING_RAW_S3_CHECKPOINT_PATH",
	  "STREAMING_RAW_S3_CHECKPOINT_PATH", S_STR, S(raw_checkpoint),
	  "data/raw/stream_checkpoints/", "Checkpoint location of `archive` (URI).",
	  .check = check_uri, .allowed = URI_ALLOWED },
	{ ROLE_STREAMING, "s3.PERCENTILE_VALIDATION_CSV_OUTPUT_PATH",
	  "PERCENTILE_VALIDATION_CSV_OUTPUT_PATH", S_STR, S(percentile_output),
	  "data/raw/percentile_output/", "Where `percentile` writes its CSV (URI).",
	  .check = check_uri, .allowed = URI_ALLOWED },
	{ ROLE_STREAMING, "s3.NUM_EVENT_THRESHOLD", "NUM_EVENT_THRESHOLD", S_LONG,
	  S(num_event_threshold), "200",
	  "`percentile` keeps device-days with strictly more events than this.", RANGE(0, 1e12) },
	{ ROLE_STREAMING, "window.WINDOW_SECONDS", NULL, S_DOUBLE,
	  S(window_seconds), "60", "Tumbling event-time window length.", RANGE(1, RANGE_YEAR_S) },
	{ ROLE_STREAMING, "window.WATERMARK_SECONDS", NULL, S_DOUBLE,
	  S(watermark_seconds), "60", "Watermark delay behind the event time.",
	  RANGE(0, RANGE_YEAR_S) },
	{ ROLE_STREAMING, "window.IDLE_TIMEOUT_SECONDS", NULL, S_DOUBLE,
	  S(idle_timeout_seconds), "60",
	  "After this long without events a partition stops holding the watermark (0: off).",
	  RANGE(0, RANGE_YEAR_S) },
	{ ROLE_STREAMING, "window.TRIGGER_SECONDS", NULL, S_DOUBLE,
	  S(trigger_seconds), "60", "Time trigger: how often output is committed.",
	  RANGE_ABOVE(0, RANGE_DAY_S) },
	{ ROLE_STREAMING, "window.AGGREGATE_PARTITION_BY", NULL, S_STR,
	  S(aggregate_partition_by), "device_id,window_start",
	  "Hive partition columns of the aggregate output, in path order.",
	  .check = check_partition_by,
	  .allowed = "`none`, or a list of device_id, window_start, date" },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* The aggregate's output layout (stream/job.h `layout`): "none" is no
 * directory at all. */
static bool check_partition_by(const char *value, char *why, size_t n)
{
	struct hive_layout l;
	return config_partition_layout(value, &l, why, n);
}

/* A location the jobs read or write: checked when read, so that a job
 * does not find it wrong only when it first writes there (percentile:
 * after reading the whole dataset). */
static bool check_uri(const char *value, char *why, size_t n)
{
	struct store_uri u;
	struct iot_error err = IOT_ERROR_INIT;

	if (store_uri_parse(value, &u, &err)) {
		snprintf(why, n, "%s", err.msg);
		return false;
	}
	store_uri_release(&u);
	return true;
}

static bool check_raw_partition_by(const char *value, char *why, size_t n)
{
	struct hive_layout l;
	return config_raw_partition_layout(value, &l, why, n);
}

/* The archive's: device_id, date or both, so that `percentile` finds
 * every device-day in one directory (never "none": one file per batch
 * would hold every device and day). */
bool config_raw_partition_layout(const char *spec, struct hive_layout *out,
				 char *why, size_t n)
{
	const unsigned allowed = 1u << HIVE_DEVICE_ID | 1u << HIVE_DATE;

	if (hive_layout_parse(spec, allowed, out, why, n))
		return false;
	if (out->n == 0) {
		snprintf(why, n, "expected device_id, date, or both");
		return false;
	}
	return true;
}

bool config_partition_layout(const char *spec, struct hive_layout *out,
			     char *why, size_t n)
{
	const unsigned allowed = 1u << HIVE_DEVICE_ID | 1u << HIVE_WINDOW_START | 1u << HIVE_DATE;

	if (!strcmp(spec, "none"))
		spec = "";
	return hive_layout_parse(spec, allowed, out, why, n) == 0;
}

static const char *role_root(enum role r)
{
	return r == ROLE_PRODUCER ? "producer_config" : "streaming_config";
}

static const char *role_prefix(enum role r)
{
	return r == ROLE_PRODUCER ? "producer" : "streaming";
}

static void *slot(struct iot_config *cfg, const struct setting *s)
{
	return (char *)cfg + s->offset;
}

/* Kafka's rule: 1..249 of [a-zA-Z0-9._-], and not "." or "..". */
static bool topic_name_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TOPIC_MAX || !strcmp(t, ".") || !strcmp(t, ".."))
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

static enum iot_err parse_value(struct iot_config *cfg,
				const struct setting *s, const char *value,
				const char *origin, struct iot_error *err)
{
	char why[256];

	switch (s->type) {
	case S_TOPIC:
		if (!*value && !s->optional)
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s: key '%s': the topic name is empty",
					     origin, s->path);
		if (*value && !topic_name_ok(value))
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s: key '%s': '%.*s' is not a Kafka topic name "
					     "(1 to %d of a-z A-Z 0-9 . _ -)",
					     origin, s->path, 300, value, TOPIC_MAX);
		/* fall through */
	case S_STR: {
		char **p = slot(cfg, s);
		if (s->nonempty && !*value)
			return iot_error_set(err, IOT_ERR_CONFIG, "%s: key '%s': the value is empty",
					     origin, s->path);
		if (s->check && !s->check(value, why, sizeof(why)))
			return iot_error_set(err, IOT_ERR_CONFIG, "%s: key '%s': %s",
					     origin, s->path, why);
		free(*p);
		*p = xstrdup(value);
		return IOT_OK;
	}
	case S_BOOL: {
		bool *p = slot(cfg, s);
		if (!strcmp(value, "true") || !strcmp(value, "True") ||
		    !strcmp(value, "yes") || !strcmp(value, "1"))
			*p = true;
		else if (!strcmp(value, "false") || !strcmp(value, "False") ||
			 !strcmp(value, "no") || !strcmp(value, "0"))
			*p = false;
		else
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s: key '%s': expected true or false, got '%s'",
					     origin, s->path, value);
		return IOT_OK;
	}
	case S_LONG:
		if (!num_parse_long(value, &s->range, slot(cfg, s), why, sizeof(why)))
			return iot_error_set(err, IOT_ERR_CONFIG, "%s: key '%s': %s",
					     origin, s->path, why);
		return IOT_OK;
	case S_DOUBLE:
		if (!num_parse_double(value, &s->range, slot(cfg, s), why, sizeof(why)))
			return iot_error_set(err, IOT_ERR_CONFIG, "%s: key '%s': %s",
					     origin, s->path, why);
		return IOT_OK;
	}
	return IOT_OK;
}

void config_init(struct iot_config *cfg)
{
	struct iot_error err = IOT_ERROR_INIT;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSETTINGS; i++) {
		/* a numeric row without a range is a bug in the table */
		if (settings[i].type == S_LONG || settings[i].type == S_DOUBLE)
			IOT_ASSERT(num_range_valid(&settings[i].range));
		if (parse_value(cfg, &settings[i], settings[i].def, "default",
				&err) != IOT_OK)
			iot_assert_fail(err.msg, __FILE__, __LINE__);
	}
}

void kv_list_add(struct kv_list *l, const char *key, const char *value,
		 const char *origin)
{
	/* a later value for the same key replaces the earlier one */
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->items[i].key, key)) {
			free(l->items[i].value);
			free(l->items[i].origin);
			l->items[i].value = xstrdup(value);
			l->items[i].origin = xstrdup(origin);
			return;
		}
	}
	ALLOC_GROW(l->items, l->n + 1, l->alloc);
	l->items[l->n].key = xstrdup(key);
	l->items[l->n].value = xstrdup(value);
	l->items[l->n].origin = xstrdup(origin);
	l->n++;
}

enum iot_err kv_list_add_pair(struct kv_list *l, const char *pair,
			      const char *origin, struct iot_error *err)
{
	const char *eq = strchr(pair, '=');
	char *key;

	if (!eq || eq == pair)
		return iot_error_set(err, IOT_ERR_USAGE,
				     "%s '%s': expected KEY=VALUE", origin, pair);
	key = xstrndup(pair, (size_t)(eq - pair));
	kv_list_add(l, key, eq + 1, origin);
	free(key);
	return IOT_OK;
}

void kv_list_release(struct kv_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
		free(l->items[i].origin);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void config_release(struct iot_config *cfg)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].type == S_STR || settings[i].type == S_TOPIC)
			free(*(char **)slot(cfg, &settings[i]));
	kv_list_release(&cfg->producer.kafka);
	kv_list_release(&cfg->streaming.kafka);
	event_schema_destroy(cfg->schema);
	free(cfg->files_loaded);
	memset(cfg, 0, sizeof(*cfg));
}

static void valid_keys(struct buf *b, enum role r)
{
	buf_puts(b, "name, version, librdkafka");
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].role == r)
			buf_printf(b, ", %s", settings[i].path);
}

static enum iot_err load_section(struct iot_config *cfg, struct yamldoc *d,
				 yaml_node_t *map, enum role r,
				 const char *prefix, struct iot_error *err)
{
	yaml_node_t *k, *v;

	if (map->type != YAML_MAPPING_NODE)
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "%s:%d: '%s' must be a mapping", yamldoc_path(d),
				     yamldoc_line(map), *prefix ? prefix : role_root(r));
	for (size_t i = 0; yamldoc_map_at(d, map, i, &k, &v); i++) {
		const char *key = yamldoc_scalar(k);
		char path[256], origin[512];
		const struct setting *s = NULL;

		if (!key)
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s:%d: keys must be plain strings",
					     yamldoc_path(d), yamldoc_line(k));
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
		snprintf(origin, sizeof(origin), "%s:%d", yamldoc_path(d),
			 yamldoc_line(v));
		if (!*prefix && (!strcmp(key, "name") || !strcmp(key, "version")))
			continue;
		if (!*prefix && !strcmp(key, "librdkafka")) {
			struct kv_list *l = r == ROLE_PRODUCER ? &cfg->producer.kafka
							       : &cfg->streaming.kafka;
			yaml_node_t *pk, *pv;
			if (v->type != YAML_MAPPING_NODE)
				return iot_error_set(err, IOT_ERR_CONFIG,
						     "%s: key 'librdkafka': must be a mapping of librdkafka properties",
						     origin);
			for (size_t j = 0; yamldoc_map_at(d, v, j, &pk, &pv); j++) {
				if (!yamldoc_scalar(pk) || !yamldoc_scalar(pv))
					return iot_error_set(err, IOT_ERR_CONFIG,
							     "%s:%d: librdkafka properties must be scalars",
							     yamldoc_path(d), yamldoc_line(pk));
				snprintf(origin, sizeof(origin), "%s:%d",
					 yamldoc_path(d), yamldoc_line(pv));
				kv_list_add(l, yamldoc_scalar(pk), yamldoc_scalar(pv),
					    origin);
			}
			continue;
		}
		for (size_t j = 0; j < NSETTINGS; j++)
			if (settings[j].role == r && !strcmp(settings[j].path, path))
				s = &settings[j];
		if (s) {
			if (v->type != YAML_SCALAR_NODE)
				return iot_error_set(err, IOT_ERR_CONFIG,
						     "%s: key '%s': expected a single value",
						     origin, path);
			if (parse_value(cfg, s, yamldoc_scalar(v), origin, err))
				return err->code;
			continue;
		}
		/* an intermediate section ("kafka", "s3") of some setting? */
		{
			size_t plen = strlen(path);
			bool section = false;
			for (size_t j = 0; j < NSETTINGS; j++)
				if (settings[j].role == r &&
				    !strncmp(settings[j].path, path, plen) &&
				    settings[j].path[plen] == '.')
					section = true;
			if (section && v->type == YAML_MAPPING_NODE) {
				if (load_section(cfg, d, v, r, path, err))
					return err->code;
				continue;
			}
		}
		{
			struct buf b = BUF_INIT;
			valid_keys(&b, r);
			iot_error_set(err, IOT_ERR_CONFIG,
				      "%s:%d: unknown key '%s' in %s; valid keys: %s",
				      yamldoc_path(d), yamldoc_line(k), path,
				      role_root(r), buf_str(&b));
			buf_release(&b);
			return IOT_ERR_CONFIG;
		}
	}
	return IOT_OK;
}

static enum iot_err load_doc(struct iot_config *cfg, struct yamldoc *d,
			     struct iot_error *err)
{
	yaml_node_t *root = yamldoc_root(d), *k, *v;

	if (!root)
		return iot_error_set(err, IOT_ERR_CONFIG, "%s: empty config file",
				     yamldoc_path(d));
	if (root->type != YAML_MAPPING_NODE)
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "%s:%d: expected a mapping with one of the keys event_schema, producer_config, streaming_config",
				     yamldoc_path(d), yamldoc_line(root));
	for (size_t i = 0; yamldoc_map_at(d, root, i, &k, &v); i++) {
		const char *key = yamldoc_scalar(k);
		enum iot_err rc;

		if (key && !strcmp(key, "event_schema")) {
			struct event_schema *s = event_schema_from_yaml(d, v, err);
			if (!s)
				return err->code;
			event_schema_destroy(cfg->schema);
			cfg->schema = s;
			continue;
		}
		if (key && !strcmp(key, "producer_config"))
			rc = load_section(cfg, d, v, ROLE_PRODUCER, "", err);
		else if (key && !strcmp(key, "streaming_config"))
			rc = load_section(cfg, d, v, ROLE_STREAMING, "", err);
		else
			rc = iot_error_set(err, IOT_ERR_CONFIG,
					   "%s:%d: unknown top-level key '%s'; valid keys: event_schema, producer_config, streaming_config",
					   yamldoc_path(d), yamldoc_line(k),
					   key ? key : "?");
		if (rc)
			return rc;
	}
	return IOT_OK;
}

static void note_file(struct iot_config *cfg, const char *path)
{
	char *old = cfg->files_loaded;
	cfg->files_loaded = old ? xasprintf("%s, %s", old, path) : xstrdup(path);
	free(old);
}

static enum iot_err load_file(struct iot_config *cfg, const char *path,
			      struct iot_error *err)
{
	struct yamldoc *d = yamldoc_load(path, err);
	enum iot_err rc;

	if (!d)
		return err->code;
	rc = load_doc(cfg, d, err);
	yamldoc_destroy(d);
	if (rc == IOT_OK)
		note_file(cfg, path);
	return rc;
}

enum iot_err config_load_string(struct iot_config *cfg, const char *name,
				const char *yaml, struct iot_error *err)
{
	struct yamldoc *d = yamldoc_load_string(name, yaml, strlen(yaml), err);
	enum iot_err rc;

	if (!d)
		return err->code;
	rc = load_doc(cfg, d, err);
	yamldoc_destroy(d);
	return rc;
}

enum iot_err config_load_files(struct iot_config *cfg, const char *const *files,
			       size_t n, struct iot_error *err)
{
	static const char *const defaults[] = { "event_schema.yml",
						"producer_config.yml",
						"streaming_config.yml" };

	if (n) {
		for (size_t i = 0; i < n; i++)
			if (load_file(cfg, files[i], err))
				return err->code;
	} else {
		const char *dir = getenv("IOTPIPE_CONFIG_DIR");
		if (!dir || !*dir)
			dir = "config";
		for (size_t i = 0; i < 3; i++) {
			char *p = xasprintf("%s/%s", dir, defaults[i]);
			enum iot_err rc = IOT_OK;
			if (access(p, F_OK) == 0)
				rc = load_file(cfg, p, err);
			free(p);
			if (rc)
				return rc;
		}
	}
	if (!cfg->schema) {
		struct yamldoc *d = yamldoc_load_string(
			"built-in event schema", config_default_schema_yaml,
			strlen(config_default_schema_yaml), err);
		if (!d)
			return err->code;
		cfg->schema = event_schema_from_yaml(
			d, yamldoc_map_get(d, yamldoc_root(d), "event_schema"), err);
		yamldoc_destroy(d);
		if (!cfg->schema)
			return err->code;
	}
	return IOT_OK;
}

enum iot_err config_apply_env(struct iot_config *cfg, struct iot_error *err)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v;
		char origin[96];
		if (!settings[i].env)
			continue;
		v = getenv(settings[i].env);
		if (!v || !*v)
			continue;
		snprintf(origin, sizeof(origin), "environment variable %s",
			 settings[i].env);
		if (parse_value(cfg, &settings[i], v, origin, err))
			return err->code;
	}
	return IOT_OK;
}

/* The row of a full name ("streaming.window.WINDOW_SECONDS"), or NULL. */
static const struct setting *find_setting(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *pre = role_prefix(s->role);
		size_t pl = strlen(pre);
		if (!strncmp(name, pre, pl) && name[pl] == '.' &&
		    !strcmp(name + pl + 1, s->path))
			return s;
	}
	return NULL;
}

enum iot_err config_set(struct iot_config *cfg, const char *name,
			const char *value, const char *origin,
			struct iot_error *err)
{
	const struct setting *s = find_setting(name);

	if (!s)
		return iot_error_set(err, IOT_ERR_CONFIG, "%s: unknown setting '%s'",
				     origin, name);
	return parse_value(cfg, s, value, origin, err);
}

void config_bind_options(struct opt *opts)
{
	for (struct opt *o = opts; o->type != OPT_T_END; o++) {
		const struct setting *s;
		if (o->type != OPT_T_SETTING)
			continue;
		s = find_setting(o->setting);
		/* a flag naming no setting is a bug in the command's table */
		IOT_ASSERT(s != NULL);
		o->key = s->path;
		o->def = s->def;
		if (s->type == S_LONG || s->type == S_DOUBLE)
			o->range = s->range;
	}
}

enum iot_err config_apply_options(struct iot_config *cfg, const struct opt *opts,
				  struct iot_error *err)
{
	for (const struct opt *o = opts; o && o->type != OPT_T_END; o++) {
		char origin[96];
		if (o->type != OPT_T_SETTING || !o->seen)
			continue;
		snprintf(origin, sizeof(origin), "option --%s", o->long_name);
		if (config_set(cfg, o->setting, o->arg, origin, err))
			return err->code;
	}
	return IOT_OK;
}

void config_write_reference(void *fp)
{
	FILE *f = fp;
	static const char *const kinds[] = { "string", "bool", "integer", "number",
					     "topic name" };

	fprintf(f, "# Configuration reference\n\n"
		   "Generated by `iotpipe debug config-doc` from the settings table in\n"
		   "`src/config/config.c`; do not edit by hand.\n\n"
		   "Precedence: command-line flag > environment variable > file > default.\n"
		   "Any librdkafka property can be set under a `librdkafka:` mapping in\n"
		   "`producer_config` or `streaming_config`, or with `--kafka KEY=VALUE`.\n"
		   "An environment variable set to the empty string counts as not set.\n\n"
		   "Every value is checked when it is read, from a file, the environment or\n"
		   "a flag: a number outside its allowed values, an empty or malformed topic\n"
		   "name, a duplicate key, a second YAML document, an alias or nesting\n"
		   "deeper than %d levels is a configuration error (exit status 2) naming\n"
		   "the file and line, variable or flag.\n", YAMLDOC_MAX_DEPTH);
	for (int r = ROLE_PRODUCER; r <= ROLE_STREAMING; r++) {
		fprintf(f, "\n## `%s` (config/%s.yml)\n\n", role_root((enum role)r),
			role_root((enum role)r));
		fprintf(f, "| key | type | default | allowed | environment | meaning |\n"
			   "|---|---|---|---|---|---|\n");
		for (size_t i = 0; i < NSETTINGS; i++) {
			const struct setting *s = &settings[i];
			char allowed[128] = "";
			if ((int)s->role != r)
				continue;
			if (s->type == S_LONG || s->type == S_DOUBLE)
				num_range_describe(&s->range, allowed, sizeof(allowed));
			else if (s->type == S_TOPIC)
				snprintf(allowed, sizeof(allowed), "%s1 to %d of a-z A-Z 0-9 . _ -",
					 s->optional ? "empty, or " : "", TOPIC_MAX);
			else if (s->nonempty)
				snprintf(allowed, sizeof(allowed), "not empty");
			else if (s->allowed)
				snprintf(allowed, sizeof(allowed), "%s", s->allowed);
			else if (s->type == S_BOOL)
				snprintf(allowed, sizeof(allowed), "true or false (also yes/no, 1/0)");
			fprintf(f, "| `%s` | %s | `%s` | %s | %s%s%s | %s |\n", s->path,
				kinds[s->type], s->def, allowed, s->env ? "`" : "",
				s->env ? s->env : "", s->env ? "`" : "", s->help);
		}
	}
	fprintf(f, "\n## `event_schema` (config/event_schema.yml)\n\n"
		   "See docs/event-schema.md.\n");
}

/* The reference schema (config/event_schema.yml holds the same). */
const char config_default_schema_yaml[] =
	"event_schema:\n"
	"  name: device_event\n"
	"  version: 1.0\n"
	"  key:\n"
	"    name: device_id\n"
	"    type: string\n"
	"  fields:\n"
	"    - name: timestamp\n"
	"      type: datetime\n"
	"      format: iso8601\n"
	"    - name: temperature\n"
	"      type: float\n"
	"      generate: {distribution: uniform, min: 20.0, max: 30.0, decimals: 2}\n"
	"    - name: event_duration\n"
	"      type: float\n"
	"      generate: {distribution: normal, mean: 10.0, stddev: 2.0, decimals: 2}\n"
	"    - name: status\n"
	"      type: enum\n"
	"      values: [\"ok\", \"warning\", \"error\"]\n"
	"      required: false\n"
	"      filter_out: [\"error\"]\n"
	"      filter_out_missing: true\n";

void config_visit(const struct iot_config *cfg, config_visit_fn fn, void *opaque)
{
	char v[64];

	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const void *p = (const char *)cfg + s->offset;
		char name[128];
		const char *value = v;
		snprintf(name, sizeof(name), "%s.%s", role_root(s->role), s->path);
		switch (s->type) {
		case S_STR:
		case S_TOPIC:
			value = *(char *const *)p ? *(char *const *)p : "";
			break;
		case S_BOOL:
			value = *(const bool *)p ? "true" : "false";
			break;
		case S_LONG:
			snprintf(v, sizeof(v), "%ld", *(const long *)p);
			break;
		case S_DOUBLE:
			snprintf(v, sizeof(v), "%g", *(const double *)p);
			break;
		}
		fn(opaque, name, value);
	}
	for (int r = ROLE_PRODUCER; r <= ROLE_STREAMING; r++) {
		const struct kv_list *l = r == ROLE_PRODUCER ? &cfg->producer.kafka
							     : &cfg->streaming.kafka;
		for (size_t i = 0; i < l->n; i++) {
			char name[300];
			snprintf(name, sizeof(name), "%s.librdkafka.%s", role_root((enum role)r),
				 l->items[i].key);
			fn(opaque, name, l->items[i].value);
		}
	}
}
