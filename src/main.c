/*
 * main.c - dispatch for the multi-call binary (after git.c's commands[]).
 *
 * `iotpipe <command> [options]` looks the command up in commands[], whose
 * row says what the command needs (common.h: NEED_LOG, NEED_CONFIG,
 * NEED_METRICS, ...) and its metrics endpoint's default address. main
 * keeps one struct cmd_ctx for the run: the command's cmd_parse() parses
 * the shared options those flags ask for once, with its own, and sets up
 * logging and the settings; main releases it all (metrics endpoint,
 * settings) after the command returns. Then it checks that everything
 * written to stdout reached it: a CSV or a listing cut short by a full
 * disk or a closed pipe is a failure (exit 1), not a silent success.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/common.h"
#include "kafka/client.h"
#include "version.h"
#ifdef IOTPIPE_MIMALLOC
#include <mimalloc.h>
#endif

#include "core/banned.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct cmd_ctx *ctx);
	unsigned flags;              /* NEED_*, CMD_HIDDEN (cmd/common.h) */
	const char *metrics_default; /* the endpoint when not given; "off": none */
	const char *summary;
};

#define STREAM_SETUP (NEED_LOG | NEED_CONFIG | NEED_METRICS)

static const struct cmd commands[] = {
	{ "produce", cmd_produce, STREAM_SETUP | NEED_PRODUCER, "127.0.0.1:9101",
	  "simulated IoT devices publish events to Kafka" },
	{ "archive", cmd_archive, STREAM_SETUP, "127.0.0.1:9102",
	  "stream raw events to Parquet, exactly once" },
	{ "aggregate", cmd_aggregate, STREAM_SETUP, "127.0.0.1:9103",
	  "stream 1-minute event-time window aggregates to Parquet" },
	{ "percentile", cmd_percentile, STREAM_SETUP, "off",
	  "batch: per device and day, p95 of event_duration after outlier removal -> CSV" },
	{ "validate", cmd_validate, STREAM_SETUP, "off",
	  "check the aggregate dataset's columns and types, print a sample" },
	{ "run", cmd_run, STREAM_SETUP, "127.0.0.1:9100",
	  "the whole pipeline in one process (broker, devices, jobs)" },
	{ "broker", cmd_broker, NEED_LOG | NEED_METRICS, "127.0.0.1:0",
	  "run the embedded development Kafka broker (in memory)" },
	{ "ls", cmd_ls, NEED_LOG, "off", "list objects under an s3:// prefix or a local directory" },
	{ "cp", cmd_cp, NEED_LOG, "off", "copy objects between local paths and S3, either way" },
	{ "mb", cmd_mb, NEED_LOG, "off", "create an S3 bucket (ok when it exists and is ours)" },
	{ "inspect", cmd_inspect, 0, "off",
	  "show a Parquet file's schema, row groups, statistics and rows" },
	{ "debug", cmd_debug, CMD_HIDDEN | NEED_LOG | NEED_CONFIG | NEED_METRICS, "off",
	  "internals for tests" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: iotpipe <command> [options]\n"
		   "       iotpipe --version | --help\n\n"
		   "IoT event streaming and processing pipeline.\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!(commands[i].flags & CMD_HIDDEN))
			fprintf(f, "    %-12s %s\n", commands[i].name,
				commands[i].summary);
	fprintf(f, "\nRun 'iotpipe <command> --help' for its options.\n");
}

static int finish_stdout(int status)
{
	/* the count of librdkafka lines the rate limit dropped last */
	kafka_log_flush();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "iotpipe: error writing to standard output: %s\n",
			strerror(errno));
		return status ? status : EXIT_RUNTIME;
	}
	return status;
}

int main(int argc, char **argv)
{
	/* A closed pipe is reported through write errors, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("iotpipe %s\n", IOTPIPE_VERSION);
#ifdef IOTPIPE_MIMALLOC
		/* mi_version(): 209 for 2.0.9 */
		printf("allocator: mimalloc %d.%d.%d\n", mi_version() / 100,
		       mi_version() / 10 % 10, mi_version() % 10);
#else
		printf("allocator: libc\n");
#endif
		return finish_stdout(0);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return finish_stdout(0);
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct cmd *c = &commands[i];
		struct cmd_ctx ctx;
		int status;

		if (strcmp(argv[1], c->name))
			continue;
		cmd_ctx_init(&ctx, c->name, c->flags, c->metrics_default);
		status = c->fn(argc - 1, argv + 1, &ctx);
		cmd_ctx_release(&ctx);
		return finish_stdout(status);
	}
	fprintf(stderr, "iotpipe: '%s' is not a command\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
