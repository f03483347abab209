/*
 * cmd.h - the subcommands of the iotpipe binary (after git's builtin.h).
 *
 * To add a command: write src/cmd/<name>.c with `int cmd_<name>(int argc,
 * char **argv)`, declare it here, and add a row to `commands[]` in
 * src/main.c. argv[0] is the command's name. The function parses its own
 * options from a struct opt table (core/opt.h) and returns the exit status:
 * 0 success, 1 runtime failure, 2 usage or configuration error. Only
 * src/cmd/ and main.c may exit the process; library code returns errors.
 */
#ifndef IOT_CMD_H
#define IOT_CMD_H

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_produce(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_mb(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_percentile(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_archive(int argc, char **argv);
int cmd_aggregate(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif
