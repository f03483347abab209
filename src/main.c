/*
 * main.c - dispatch for the multi-call binary (after git.c's commands[]).
 *
 * `iotpipe <command> [options]` looks the command up in commands[], runs
 * it, then checks that everything written to stdout reached it: a CSV or a
 * listing cut short by a full disk or a closed pipe is a failure (exit 1),
 * not a silent success.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kafka/client.h"
#include "version.h"

#include "core/banned.h"

enum { CMD_HIDDEN = 1 };

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned flags;
	const char *summary;
};

static const struct cmd commands[] = {
	{ "produce", cmd_produce, 0, "simulated IoT devices publish events to Kafka" },
	{ "archive", cmd_archive, 0, "stream raw events to Parquet, exactly once" },
	{ "aggregate", cmd_aggregate, 0, "stream 1-minute event-time window aggregates to Parquet" },
	{ "percentile", cmd_percentile, 0, "batch: per device and day, p95 of event_duration after outlier removal -> CSV" },
	{ "validate", cmd_validate, 0, "check the aggregate dataset's columns and types, print a sample" },
	{ "run", cmd_run, 0, "the whole pipeline in one process (broker, devices, jobs)" },
	{ "broker", cmd_broker, 0, "run the embedded development Kafka broker (in memory)" },
	{ "ls", cmd_ls, 0, "list objects under an s3:// prefix or a local directory" },
	{ "cp", cmd_cp, 0, "copy objects between local paths and S3, either way" },
	{ "mb", cmd_mb, 0, "create an S3 bucket (ok when it exists and is ours)" },
	{ "inspect", cmd_inspect, 0, "show a Parquet file's schema, row groups, statistics and rows" },
	{ "debug", cmd_debug, CMD_HIDDEN, "internals for tests" },
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
		return finish_stdout(0);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return finish_stdout(0);
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return finish_stdout(commands[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "iotpipe: '%s' is not a command\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
