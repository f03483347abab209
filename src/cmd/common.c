/*
 * common.c - shared command set-up (common.h): the context main.c keeps
 * around a command, the shared option rows a command's flags ask for,
 * parsed once with the command's own, and the set-up they imply. Called
 * from main.c and src/cmd/ only, on the main thread before any worker
 * starts.
 */
#include "cmd/common.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "metrics/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* --log-format json: the error that ends a run is a JSON record too, so
 * that every line on stderr parses (log shippers). */
static bool json_errors;

enum iot_err common_setup(struct common_opts *co, const struct opt *opts,
			  struct iot_config *cfg, unsigned flags,
			  struct iot_error *err)
{
	bool producer = flags & NEED_PRODUCER;
	const char *pre = producer ? "producer" : "streaming";
	struct kv_list *props;
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
	if (!(flags & NEED_CONFIG))
		return IOT_OK;
	/* start from the defaults, whatever cfg held (config_init()ed or
	 * zeroed) */
	config_release(cfg);
	config_init(cfg);
	props = producer ? &cfg->producer.kafka : &cfg->streaming.kafka;
	if (config_load_files(cfg, co->config.items, co->config.n, err))
		return err->code;
	if (config_apply_env(cfg, err))
		return err->code;
	if (config_apply_options(cfg, opts, err))
		return err->code;
	if (co->bootstrap) {
		snprintf(name, sizeof(name), "%s.kafka.%s", pre,
			 producer ? "bootstrap_servers" : "KAFKA_BOOTSTRAP_SERVERS");
		if (config_set(cfg, name, co->bootstrap, "option --bootstrap-servers", err))
			return err->code;
	}
	if (co->topic) {
		snprintf(name, sizeof(name), "%s.kafka.%s", pre,
			 producer ? "topic" : "KAFKA_TOPIC_NAME");
		if (config_set(cfg, name, co->topic, "option --topic", err))
			return err->code;
	}
	for (size_t i = 0; i < co->kafka.n; i++)
		if (kv_list_add_pair(props, co->kafka.items[i], "--kafka", err))
			return err->code;
	console_config_capture(cfg);
	console_note("bootstrap", producer ? cfg->producer.bootstrap_servers
					   : cfg->streaming.bootstrap_servers);
	console_note("topic", producer ? cfg->producer.topic : cfg->streaming.topic);
	return IOT_OK;
}

void cmd_ctx_init(struct cmd_ctx *ctx, const char *name, unsigned flags,
		  const char *metrics_default)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->name = name;
	ctx->flags = flags;
	ctx->co.metrics_default = metrics_default;
	config_init(&ctx->cfg);
	snprintf(ctx->metrics_help, sizeof(ctx->metrics_help),
		 "serve /metrics and /healthz here (default %s; 0: a free port; off: none)",
		 metrics_default ? metrics_default : "off");
}

void cmd_ctx_release(struct cmd_ctx *ctx)
{
	metrics_server_stop(ctx->srv);
	ctx->srv = NULL;
	config_release(&ctx->cfg);
	common_release(&ctx->co);
	free(ctx->opts);
	ctx->opts = NULL;
}

/* The shared rows of `flags`, in --help order, into rows[]; returns how
 * many (at most 7). */
static size_t shared_rows(struct cmd_ctx *ctx, struct opt *rows)
{
	struct common_opts *co = &ctx->co;
	size_t n = 0;

	if (ctx->flags & NEED_CONFIG) {
		const struct opt r[] = {
			OPT_LIST('c', "config", &co->config, "FILE",
				 "config file (repeatable; default: the files in config/)"),
			OPT_STRING(0, "bootstrap-servers", &co->bootstrap, "LIST",
				   "Kafka bootstrap servers (host:port,...)"),
			OPT_STRING(0, "topic", &co->topic, "NAME", "Kafka topic"),
			OPT_LIST(0, "kafka", &co->kafka, "KEY=VALUE",
				 "any librdkafka property (repeatable)"),
		};
		for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
			rows[n++] = r[i];
	}
	if (ctx->flags & NEED_METRICS) {
		const struct opt r = OPT_STRING(0, "metrics-addr", &co->metrics_addr, "HOST:PORT",
						ctx->metrics_help);
		rows[n++] = r;
	}
	if (ctx->flags & NEED_LOG) {
		const struct opt r[] = {
			OPT_STRING(0, "log-level", &co->log_level, "LEVEL",
				   "error, warn, info or debug"),
			OPT_STRING(0, "log-format", &co->log_format, "FORMAT",
				   "text or json (one object per line)"),
		};
		for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
			rows[n++] = r[i];
	}
	return n;
}

int cmd_parse(struct cmd_ctx *ctx, int argc, char **argv, struct opt *opts,
	      const struct opt_usage *usage, int *npos)
{
	struct iot_error err = IOT_ERROR_INIT;
	size_t nshared, nown = 0;
	int n;

	while (opts[nown].type != OPT_T_END)
		nown++;
	free(ctx->opts);
	ctx->opts = xcalloc(7 + nown + 1, sizeof(*ctx->opts));
	nshared = shared_rows(ctx, ctx->opts);
	memcpy(ctx->opts + nshared, opts, (nown + 1) * sizeof(*opts));
	config_bind_options(ctx->opts);
	n = opt_parse(argc, argv, ctx->opts, usage, &err);
	/* the command reads its own rows: what was given, and the text of
	 * a setting */
	for (size_t i = 0; i < nown; i++) {
		opts[i].seen = ctx->opts[nshared + i].seen;
		opts[i].arg = ctx->opts[nshared + i].arg;
	}
	if (n == OPT_RC_HELP)
		return 0;
	if (n == OPT_RC_ERROR || (n > 0 && !npos)) {
		if (n > 0)
			iot_error_set(&err, IOT_ERR_USAGE, "unexpected argument '%s'", argv[0]);
		return common_usage_error(ctx->name, &err);
	}
	if (npos)
		*npos = n;
	if (common_setup(&ctx->co, ctx->opts, &ctx->cfg, ctx->flags, &err))
		return common_usage_error(ctx->name, &err);
	return -1;
}

int cmd_parse_args(struct cmd_ctx *ctx, int argc, char **argv, struct opt *opts,
		   const struct opt_usage *usage, int want, const char *what)
{
	int n = 0, status = cmd_parse(ctx, argc, argv, opts, usage, &n);

	if (status >= 0 || n == want)
		return status;
	fprintf(stderr, "iotpipe %s: expected %s\n", ctx->name, what);
	opt_print_help(stderr, ctx->opts, usage);
	return EXIT_USAGE;
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
