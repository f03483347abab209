/*
 * cmd.h - the subcommands of the iotpipe binary (after git's builtin.h).
 *
 * To add a command: write src/cmd/<name>.c with `int cmd_<name>(int argc,
 * char **argv, struct cmd_ctx *ctx)`, declare it here, and add a row to
 * `commands[]` in src/main.c with what it needs (cmd/common.h: NEED_LOG,
 * NEED_CONFIG, NEED_METRICS) and its metrics endpoint's default. argv[0]
 * is the command's name. The function declares its own options as a
 * struct opt table (core/opt.h) and calls cmd_parse(), which adds the
 * shared options, parses, and sets up what the flags say; ctx->cfg then
 * holds the settings. It returns the exit status: 0 success, 1 runtime
 * failure, 2 usage or configuration error. main releases ctx afterwards.
 * Only src/cmd/ and main.c may exit the process; library code returns
 * errors. The engine of a command lives below src/cmd/ (stream/job.h,
 * batch/percentile_job.h, ...): the command parses and calls it.
 */
#ifndef IOT_CMD_H
#define IOT_CMD_H

struct cmd_ctx;

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_produce(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_broker(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_debug(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_ls(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_cp(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_mb(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_inspect(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_percentile(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_validate(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_archive(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_aggregate(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_run(int argc, char **argv, struct cmd_ctx *ctx);

#endif
