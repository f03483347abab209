/*
 * common.h - the options every command shares (docs/design.md §9) and the
 * set-up they imply: configuration files, environment, flag overrides,
 * logging, the metrics endpoint.
 *
 *	struct common_opts co = COMMON_OPTS_INIT(":9101");
 *	struct opt opts[] = { OPT_COMMON(&co), ..., OPT_END() };
 *	// binds the OPT_SETTING rows, parses argv, loads the settings:
 *	// files, environment, then the flags (common_setup())
 *	status = common_start("produce", argc, argv, opts, &usage, &co, &cfg,
 *			      COMMON_PRODUCER);
 *	if (status >= 0) ... return status (after --help, or an error)
 *	if (common_metrics_start(&co, &srv, &err)) ...
 *	...
 *	metrics_server_stop(srv);
 *	common_release(&co);
 */
#ifndef IOT_CMD_COMMON_H
#define IOT_CMD_COMMON_H

#include "config/config.h"
#include "core/opt.h"
#include "metrics/metrics.h"

struct common_opts {
	struct opt_list config;
	const char *bootstrap;
	const char *topic;
	struct opt_list kafka;
	const char *metrics_addr;    /* the flag, NULL when not given */
	const char *metrics_default; /* the command's default address */
	const char *log_level;
	const char *log_format;
};

#define COMMON_OPTS_INIT(default_metrics)                                     \
	{ { NULL, 0, 0 }, NULL, NULL, { NULL, 0, 0 }, NULL, default_metrics,  \
	  NULL, NULL }

#define OPT_COMMON(co)                                                        \
	OPT_LIST('c', "config", &(co)->config, "FILE",                        \
		 "config file (repeatable; default: the files in config/)"),  \
	OPT_STRING(0, "bootstrap-servers", &(co)->bootstrap, "LIST",          \
		   "Kafka bootstrap servers (host:port,...)"),                \
	OPT_STRING(0, "topic", &(co)->topic, "NAME", "Kafka topic"),          \
	OPT_LIST(0, "kafka", &(co)->kafka, "KEY=VALUE",                       \
		 "any librdkafka property (repeatable)"),                     \
	OPT_STRING(0, "metrics-addr", &(co)->metrics_addr, "HOST:PORT",       \
		   "serve /metrics and /healthz here (0: a free port; off: none)"), \
	OPT_STRING(0, "log-level", &(co)->log_level, "LEVEL",                 \
		   "error, warn, info or debug"),                             \
	OPT_STRING(0, "log-format", &(co)->log_format, "FORMAT",              \
		   "text or json (one object per line)")

enum common_role { COMMON_PRODUCER, COMMON_STREAMING };

/*
 * The start of a configured command without positional arguments: parses
 * argv with opts, then common_setup(). cfg must be config_init()ed (it is
 * reloaded here). Returns -1 when the command should go on, otherwise the
 * exit status to return: 0 after --help, 2 after a usage or configuration
 * error (already printed, naming the flag, file or key).
 */
int common_start(const char *cmd, int argc, char **argv, struct opt *opts,
		 const struct opt_usage *usage, struct common_opts *co,
		 struct iot_config *cfg, enum common_role role);

/*
 * Loads config files, applies the environment, then the flags (the
 * OPT_SETTING rows of opts, which may be NULL, and --bootstrap-servers,
 * --topic); sets the log level and format. On error *err names the
 * file/key/flag (exit 2). The --kafka properties are appended to the
 * role's pass-through list.
 */
enum iot_err common_setup(struct common_opts *co, const struct opt *opts,
			  struct iot_config *cfg, enum common_role role,
			  struct iot_error *err);

/*
 * Starts the metrics endpoint at --metrics-addr, else $IOTPIPE_METRICS_ADDR,
 * else the command's default; "off" disables it (*srv is NULL). Logs
 * "serving http://HOST:PORT/metrics" on stderr, with the port chosen
 * when 0 was asked for. A busy default port falls back to a free one
 * (with a warning); a busy address from the flag or the environment is
 * IOT_ERR_CONFIG naming it (exit 2 through common_run_error()).
 */
enum iot_err common_metrics_start(struct common_opts *co,
				  struct metrics_server **srv,
				  struct iot_error *err);

void common_release(struct common_opts *co);

/*
 * Refuses (IOT_ERR_CONFIG) a dead-letter topic equal to the input topic:
 * the job would read its own rejects back and send them again, forever.
 * The message names both settings as they were given (the flag when
 * `opts` shows it, else the config key and environment variable).
 */
enum iot_err common_check_dead_letter(const struct iot_config *cfg,
				      const struct opt *opts,
				      struct iot_error *err);

/* Prints "iotpipe <cmd>: <msg>" (with --log-format json: an error record,
 * component <cmd>) for a failed run and returns its exit status: 2 for a
 * usage or configuration error, 1 otherwise. */
int common_run_error(const char *cmd, const struct iot_error *err);

/* Prints "iotpipe <cmd>: <msg>" and the usage hint; returns 2. */
int common_usage_error(const char *cmd, const struct iot_error *err);

#endif
