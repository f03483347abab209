/*
 * common.c - shared command set-up (common.h). Called from src/cmd/ only,
 * on the main thread before any worker starts.
 */
#include "cmd/common.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "metrics/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* --log-format json: the error that ends a run is a JSON record too, so
 * that every line on stderr parses (log shippers). */
static bool json_errors;

enum iot_err common_setup(struct common_opts *co, const struct opt *opts,
			  struct iot_config *cfg, enum common_role role,
			  struct iot_error *err)
{
	const char *pre = role == COMMON_PRODUCER ? "producer" : "streaming";
	struct kv_list *props = role == COMMON_PRODUCER ? &cfg->producer.kafka
							: &cfg->streaming.kafka;
	char name[96];

	if (co->log_level) {
		enum log_level lvl;
		if (!log_level_parse(co->log_level, &lvl))
			return iot_error_set(err, IOT_ERR_USAGE,
					     "--log-level '%s': expected error, warn, info or debug",
					     co->log_level);
		log_set_level(lvl);
	}
	if (co->log_format) {
		if (!strcmp(co->log_format, "json")) {
			json_errors = true;
			log_set_json(true);
		} else if (strcmp(co->log_format, "text"))
			return iot_error_set(err, IOT_ERR_USAGE,
					     "--log-format '%s': expected text or json",
					     co->log_format);
	}
	config_init(cfg);
	if (config_load_files(cfg, co->config.items, co->config.n, err))
		return err->code;
	if (config_apply_env(cfg, err))
		return err->code;
	if (config_apply_options(cfg, opts, err))
		return err->code;
	if (co->bootstrap) {
		snprintf(name, sizeof(name), "%s.kafka.%s", pre,
			 role == COMMON_PRODUCER ? "bootstrap_servers" : "KAFKA_BOOTSTRAP_SERVERS");
		if (config_set(cfg, name, co->bootstrap, "option --bootstrap-servers", err))
			return err->code;
	}
	if (co->topic) {
		snprintf(name, sizeof(name), "%s.kafka.%s", pre,
			 role == COMMON_PRODUCER ? "topic" : "KAFKA_TOPIC_NAME");
		if (config_set(cfg, name, co->topic, "option --topic", err))
			return err->code;
	}
	for (size_t i = 0; i < co->kafka.n; i++)
		if (kv_list_add_pair(props, co->kafka.items[i], "--kafka", err))
			return err->code;
	console_config_capture(cfg);
	console_note("bootstrap", role == COMMON_PRODUCER ? cfg->producer.bootstrap_servers
							  : cfg->streaming.bootstrap_servers);
	console_note("topic", role == COMMON_PRODUCER ? cfg->producer.topic : cfg->streaming.topic);
	return IOT_OK;
}

int common_start(const char *cmd, int argc, char **argv, struct opt *opts,
		 const struct opt_usage *usage, struct common_opts *co,
		 struct iot_config *cfg, enum common_role role)
{
	struct iot_error err = IOT_ERROR_INIT;
	int n;

	config_bind_options(opts);
	n = opt_parse(argc, argv, opts, usage, &err);

	if (n == OPT_RC_HELP)
		return 0;
	if (n == OPT_RC_ERROR || n > 0) {
		if (n > 0)
			iot_error_set(&err, IOT_ERR_USAGE, "unexpected argument '%s'", argv[0]);
		return common_usage_error(cmd, &err);
	}
	config_release(cfg);
	if (common_setup(co, opts, cfg, role, &err))
		return common_usage_error(cmd, &err);
	return -1;
}

enum iot_err common_metrics_start(struct common_opts *co,
				  struct metrics_server **srv,
				  struct iot_error *err)
{
	const char *addr = co->metrics_addr, *source = "--metrics-addr";
	const char *env = getenv("IOTPIPE_METRICS_ADDR");
	char host[64] = "127.0.0.1";
	int port = 0;

	*srv = NULL;
	if (!addr) {
		addr = env && *env ? env : NULL;
		source = "IOTPIPE_METRICS_ADDR";
	}
	if (!addr) {
		addr = co->metrics_default;
		source = NULL;
	}
	if (!addr || !strcmp(addr, "off"))
		return IOT_OK;
	metrics_register_process();
	/* the default port may be taken by a second job on the host: fall
	 * back to a free one; an address the user chose is theirs to fix */
	if (metrics_server_start(addr, source == NULL, srv, &port, err)) {
		if (source)
			iot_error_prefix(err, "%s", source);
		return err->code;
	}
	{
		const char *colon = strrchr(addr, ':');
		if (colon && colon != addr && (size_t)(colon - addr) < sizeof(host)) {
			memcpy(host, addr, (size_t)(colon - addr));
			host[colon - addr] = '\0';
		}
	}
	log_info("metrics", "serving http://%s:%d/metrics", host, port);
	return IOT_OK;
}

void common_release(struct common_opts *co)
{
	opt_list_release(&co->config);
	opt_list_release(&co->kafka);
}

enum iot_err common_check_dead_letter(const struct iot_config *cfg,
				      const struct opt *opts,
				      struct iot_error *err)
{
	const char *dlq = cfg->streaming.dead_letter_topic;

	if (!dlq || !*dlq || strcmp(dlq, cfg->streaming.topic))
		return IOT_OK;
	return iot_error_set(err, IOT_ERR_CONFIG,
			     "dead-letter topic '%s' (%s) is the input topic (%s): the job "
			     "would read its own rejects back forever; choose another topic",
			     dlq,
			     opt_was_given(opts, "dead-letter-topic")
				     ? "--dead-letter-topic"
				     : "streaming_config kafka.DEAD_LETTER_TOPIC or DEAD_LETTER_TOPIC",
			     opt_was_given(opts, "topic")
				     ? "--topic"
				     : "streaming_config kafka.KAFKA_TOPIC_NAME or KAFKA_TOPIC_NAME");
}

int common_run_error(const char *cmd, const struct iot_error *err)
{
	if (json_errors)
		log_error(cmd, "%s", err->msg);
	else
		fprintf(stderr, "iotpipe %s: %s\n", cmd, err->msg);
	return err->code == IOT_ERR_CONFIG || err->code == IOT_ERR_USAGE ? EXIT_USAGE
									  : EXIT_RUNTIME;
}

int common_usage_error(const char *cmd, const struct iot_error *err)
{
	fprintf(stderr, "iotpipe %s: %s\n", cmd, err->msg);
	if (err->code == IOT_ERR_USAGE)
		fprintf(stderr, "Run 'iotpipe %s --help' for usage.\n", cmd);
	return EXIT_USAGE;
}
