/*
 * common.h - what main.c sets up for a command, by the flags of its row in
 * commands[] (as git's run_builtin() does with RUN_SETUP): the options
 * every command shares (docs/design.md §9), parsed once here, and what
 * they imply: logging, the settings (files, environment, flags), the
 * metrics endpoint.
 *
 * main.c owns a struct cmd_ctx per run: cmd_ctx_init() before the command,
 * cmd_ctx_release() after it (the metrics endpoint stops, the settings are
 * freed). The command declares only its own options and calls cmd_parse(),
 * which adds the shared rows its flags ask for, parses, and sets up:
 *
 *	int cmd_produce(int argc, char **argv, struct cmd_ctx *ctx)
 *	{
 *		struct opt opts[] = { OPT_GROUP("producing"), ..., OPT_END() };
 *		int status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
 *		if (status >= 0)
 *			return status;      // after --help, or an error it printed
 *		... ctx->cfg holds the settings; check what only it knows ...
 *		if (common_metrics_start(&ctx->co, &ctx->srv, &err)) ...
 *		... run ...
 *	}
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

/* What a command needs (the flags of its commands[] row). */
#define NEED_LOG      (1u << 0) /* --log-level, --log-format; applied */
#define NEED_CONFIG   (1u << 1) /* -c, --bootstrap-servers, --topic, --kafka;
				   the settings loaded into ctx->cfg */
#define NEED_METRICS  (1u << 2) /* --metrics-addr (common_metrics_start()) */
#define NEED_PRODUCER (1u << 3) /* with NEED_CONFIG: --bootstrap-servers and
				   --topic set the producer's settings, not
				   the streaming jobs' */
#define CMD_HIDDEN    (1u << 4) /* not listed by `iotpipe --help` */

struct cmd_ctx {
	const char *name;          /* "produce" */
	unsigned flags;            /* NEED_* */
	struct common_opts co;     /* the shared options' values */
	struct iot_config cfg;     /* NEED_CONFIG: loaded by cmd_parse() */
	struct metrics_server *srv; /* started by the command, stopped by release */
	struct opt *opts;          /* the table cmd_parse() parsed: shared rows
				      first, then the command's (owned) */
	char metrics_help[128];    /* --metrics-addr's help, with the default */
};

/* main.c, around every command. metrics_default: the command's endpoint
 * ("127.0.0.1:9101", "off"). */
void cmd_ctx_init(struct cmd_ctx *ctx, const char *name, unsigned flags,
		  const char *metrics_default);
void cmd_ctx_release(struct cmd_ctx *ctx);

/*
 * Parses argv[1..argc) with the shared options ctx->flags asks for and
 * the command's opts (whose `seen` and `arg` are filled in as if parsed
 * alone), then sets up: the log level and format (NEED_LOG), the settings
 * from files, environment and flags into ctx->cfg (NEED_CONFIG). --help
 * lists the shared options first. With npos NULL a positional argument is
 * an error; otherwise *npos is their number, moved to argv[0..*npos).
 * Returns -1 when the command should go on, otherwise the exit status to
 * return: 0 after --help, 2 after a usage or configuration error (already
 * printed, naming the flag, file or key).
 */
int cmd_parse(struct cmd_ctx *ctx, int argc, char **argv, struct opt *opts,
	      const struct opt_usage *usage, int *npos);

/* cmd_parse() for a command of `want` positional arguments (then in
 * argv[0..want)): another number is EXIT_USAGE after "expected <what>"
 * and the help on stderr. Returns as cmd_parse() does. */
int cmd_parse_args(struct cmd_ctx *ctx, int argc, char **argv, struct opt *opts,
		   const struct opt_usage *usage, int want, const char *what);

/*
 * The set-up of cmd_parse() after parsing, by flags: sets the log level
 * and format (NEED_LOG); loads config files, applies the environment, then
 * the flags (the OPT_SETTING rows of opts, which may be NULL, and
 * --bootstrap-servers, --topic) into cfg (NEED_CONFIG; cfg must be
 * config_init()ed or zeroed, and is reloaded here). On error *err names the file/key/flag (exit 2).
 * The --kafka properties are appended to the pass-through list of the
 * producer (NEED_PRODUCER) or of the streaming jobs.
 */
enum iot_err common_setup(struct common_opts *co, const struct opt *opts,
			  struct iot_config *cfg, unsigned flags,
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
